/* Steps shared by the attacks of robust/ (pgd.c, collision.c): the projection onto the
 * perturbation set, one ascent step, the random start (docs/maths.md 12.1). */
#ifndef DPKIT_ROBUST_INTERNAL_H
#define DPKIT_ROBUST_INTERNAL_H

#include "common/rng.h"
#include "robust/robust.h"

/* x (D) back into the ball of radius epsilon around x0, then into [lower, upper]. */
void robust_project(const robust_pgd_config *config, const float *x0, float *x, size_t D);
/* x += step sign(g) (L-inf) or step g / ||g||_2 (L2; no move where g = 0). */
void robust_step(const robust_pgd_config *config, const float *g, float *x, size_t D);
/* x: a uniform point of the cube (L-inf) or of the ball (L2: a Gaussian direction at radius
 * epsilon U^(1/D)) around x0, not yet projected. */
void robust_random_start(const robust_pgd_config *config, rng *r, const float *x0, float *x,
                         size_t D);

#endif
