/* The feature-collision attack (Shafahi et al. 2018; Tramer, Carlini, Brendel & Madry 2020,
 * docs/maths.md 12.4): a perturbation of x within the set whose features come as close as
 * they can to those of a target input, by projected descent on (1/2)||phi(x') - phi(t)||^2. */
#include "robust/robust.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int robust_collision(const dp_classifier *features, const dp_pgd_config *c,
                     const float *x, const float *targets, size_t n, float *x_adv,
                     double *distance, dpkit_error *err)
{
    if (dp_pgd_check(c, err))
        return -1;
    size_t D = features->input_size, F = features->class_count, B = features->max_batch;
    float *ft = malloc(B * F * sizeof *ft), *fz = malloc(B * F * sizeof *fz);
    float *gx = malloc(B * D * sizeof *gx);
    int rc = 0;
    if (!ft || !fz || !gx) {
        rc = error_set(err, "collision: out of memory for a batch of %zu inputs", B);
        goto done;
    }
    rng r;
    rng_init_seed(&r, c->seed, RNG_STREAM_ROBUST);
    for (size_t first = 0; first < n && rc == 0; first += B) {
        size_t m = n - first < B ? n - first : B;
        const float *x0 = x + first * D;
        float *xa = x_adv + first * D;
        rc = features->logits(features->user, targets + first * D, m, ft, err);
        dp_pgd_start(c, &r, x0, xa, m, D);
        for (int t = 0; t <= c->steps && rc == 0; t++) {
            rc = features->logits(features->user, xa, m, fz, err);
            for (size_t k = 0; rc == 0 && k < m * F; k++)
                fz[k] -= ft[k]; /* the gradient of the loss with respect to the features */
            if (rc || t == c->steps)
                break;
            rc = features->input_gradient(features->user, xa, m, fz, gx, err);
            for (size_t i = 0; rc == 0 && i < m; i++) {
                for (size_t j = 0; j < D; j++)
                    gx[i * D + j] = -gx[i * D + j]; /* descent */
                dp_pgd_step(c, gx + i * D, xa + i * D, D);
                dp_pgd_project(c, x0 + i * D, xa + i * D, D);
            }
        }
        for (size_t i = 0; rc == 0 && distance && i < m; i++) {
            double s = 0;
            for (size_t k = 0; k < F; k++)
                s += (double)fz[i * F + k] * fz[i * F + k];
            distance[first + i] = sqrt(s);
        }
    }
done:
    free(ft);
    free(fz);
    free(gx);
    return rc;
}
