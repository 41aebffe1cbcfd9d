/* The feature-collision attack (Shafahi et al. 2018; Tramer, Carlini, Brendel & Madry 2020,
 * docs/maths.md 12.4): a perturbation of x within the set whose features come as close as
 * they can to those of a target input, by projected descent on (1/2)||phi(x') - phi(t)||^2. */
#include "robust/robust.h"

#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

typedef struct collision {
    const dp_classifier *features;
    const float *targets;
    float *target_features; /* (max_batch, F) of the current batch */
    size_t first;           /* the batch target_features holds; SIZE_MAX: none yet */
    double *distance;
} collision;

/* The gradient phi(x') - phi(t) of (1/2)||phi(x') - phi(t)||^2; at the last iterate, the
 * distances. */
static int distance_loss(void *user, size_t first, size_t m, const float *z, float *grad,
                         dpkit_error *err)
{
    collision *c = user;
    size_t D = c->features->input_size, F = c->features->class_count;
    if (c->first != first) {
        if (c->features->logits(c->features->user, c->targets + first * D, m,
                                c->target_features, err))
            return -1;
        c->first = first;
    }
    for (size_t i = 0; i < m; i++) {
        double s = 0;
        for (size_t k = 0; k < F; k++) {
            double d = (double)z[i * F + k] - c->target_features[i * F + k];
            if (grad)
                grad[i * F + k] = (float)d;
            s += d * d;
        }
        if (!grad && c->distance)
            c->distance[first + i] = sqrt(s);
    }
    return 0;
}

int robust_collision(const dp_classifier *features, const dp_pgd_config *config,
                     const float *x, const float *targets, size_t n, float *x_adv,
                     double *distance, dpkit_error *err)
{
    collision c = {features, targets, NULL, SIZE_MAX, distance};
    c.target_features = malloc(features->max_batch * features->class_count *
                               sizeof *c.target_features);
    if (!c.target_features)
        return error_set(err, "collision: out of memory for a batch of %zu inputs",
                         features->max_batch);
    int rc = dp_attack_run(features, config, x, n, distance_loss, &c, 0, x_adv, err);
    free(c.target_features);
    return rc;
}
