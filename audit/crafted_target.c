/* The crafted target and worst-case initial parameters of the black-box last-iterate audit
 * (after Annamalai & De Cristofaro 2024; docs/maths.md 6f) for a linear softmax model: the
 * target lights the input coordinates that every training example leaves at zero, and the
 * initial weights make it a confident member of the wrong class, so that its clipped gradient
 * keeps one direction throughout training. */
#include "audit/audit_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int audit_crafted_target(const audit_trainer *t, const dp_data *train, float *x, int32_t *label,
                         float *init, size_t param_count, dpkit_error *err)
{
    size_t D = dp_shape_size(t->input), K = t->class_count;
    if (t->layers && !(t->layer_count == 1 && t->layers[0].kind == DP_LAYER_LINEAR))
        return error_set(err, "canary.kind: crafted needs a linear model (model.kind: linear)");
    if (K < 2 || param_count != K * D + K)
        return error_set(err, "canary.kind: crafted: %zu parameters, expected a linear model "
                         "with %zu x %zu weights and %zu biases", param_count, K, D, K);
    if (t->normalize.kind != FEATURES_NORMALIZE_NONE)
        return error_set(err, "canary.kind: crafted needs features.normalize.kind: none (the "
                         "target's coordinates must stay those no example uses)");
    /* the target: 1 on every coordinate that is 0 in all training rows (for raw MNIST pixels,
     * the always-black border), so no example's gradient touches its weights */
    size_t support = 0;
    for (size_t d = 0; d < D; d++) {
        int unused = 1;
        for (size_t i = 0; unused && i < train->count; i++)
            unused = train->x[i * D + d] == 0;
        x[d] = unused ? 1.0f : 0.0f;
        support += (size_t)unused;
    }
    if (support == 0)
        return error_set(err, "canary.kind: crafted: every input coordinate is used by some "
                         "training example, so the target cannot have coordinates of its own");
    double norm2 = (double)support; /* ||x||^2 */
    *label = 0;
    /* initial logits on the target: gap above the label's for class 1 and every other class at
     * 0, wide enough that no trajectory closes it (docs/maths.md 6f): 50 plus 20 times the
     * largest drift of the margin over the training (signal plus 10 standard deviations of
     * noise), each step moving it by at most lr C sqrt(2) ||x|| / (B (1 - momentum)). */
    double lr = t->optimizer.lr, C = t->train.clip_norm, B = (double)t->train.batch_size;
    double momentum = t->optimizer.momentum < 1 ? t->optimizer.momentum : 0;
    double steps = (double)t->train.epochs * (double)dp_steps_per_epoch(train->count + 1,
                                                                          t->train.batch_size);
    double sigma = t->train.noise_multiplier > 0 ? t->train.noise_multiplier : 10;
    double step = lr * C * M_SQRT2 * sqrt(norm2) / (B * (1 - momentum));
    double gap = 50 + 20 * (steps + 10 * sqrt(steps) * sigma) * step;
    memset(init, 0, param_count * sizeof *init);
    for (size_t d = 0; d < D; d++) /* class 1's weights: gap along the target */
        init[1 * D + d] = (float)(gap * x[d] / norm2);
    return 0;
}
