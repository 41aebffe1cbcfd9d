/* The crafted target and worst-case initial parameters of the black-box last-iterate audit
 * (after Annamalai & De Cristofaro 2024; docs/maths.md 6f) for a linear softmax model: the
 * target lights the input coordinates that every training example leaves at zero, and the
 * initial weights make it a confident member of the wrong class, so that its clipped gradient
 * keeps one direction throughout training. With a mirrored training set (6g) every other row is
 * the target labelled 1, and the initial weights leave only classes 0 and 1 in play, so that
 * every clipped gradient is +-C along one direction and a row that a fixed-size batch displaces
 * shows as much as the target itself. */
#include "audit/audit_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int audit_crafted_target(const audit_trainer *t, const dp_data *train, int mirror, float *x,
                         int32_t *label, float *init, size_t param_count, dpkit_error *err)
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
    /* How far a logit gap on the target can move (docs/maths.md 6f): each clipped gradient
     * along the target moves it by at most lr C sqrt(2) sqrt(||x||^2 + 1) / (B (1 - momentum)),
     * the rows that touch the target's coordinates (the target; mirrored: all of them) at most
     * once per step each, plus 10 standard deviations of the noise. */
    double lr = t->optimizer.lr, C = t->train.clip_norm, B = (double)t->train.batch_size;
    double momentum = t->optimizer.momentum < 1 ? t->optimizer.momentum : 0;
    size_t rows = t->train.rate_count ? t->train.rate_count : train->count;
    double steps = (double)t->train.epochs * (double)dp_steps_per_epoch(rows, t->train.batch_size);
    double sigma = t->train.noise_multiplier > 0 ? t->train.noise_multiplier : 10;
    double step = lr * C * M_SQRT2 * sqrt(norm2 + 1) / (B * (1 - momentum));
    double touching = mirror ? (double)train->count + 1 : 1;
    double drift = (steps * touching + 10 * sqrt(steps) * sigma) * step;
    double gap = 50 + 20 * drift;
    memset(init, 0, param_count * sizeof *init);
    if (!mirror) {
        for (size_t d = 0; d < D; d++) /* class 1's weights: gap along the target */
            init[1 * D + d] = (float)(gap * x[d] / norm2);
        return 0;
    }
    /* Mirrored: classes 0 and 1 start level and every other class gap below, so the target's
     * clipped gradient is C (e_1 - e_0) (x, 1) / |.| and each copy's its negative, as long as
     * both gradients stay longer than C: sqrt(2) p ||(x, 1)|| >= C with p >= 1 / (1 + e^drift)
     * the smaller of the two classes' probabilities. */
    double p = 1 / (1 + exp(drift));
    if (!(drift <= 1) || M_SQRT2 * p * sqrt(norm2 + 1) < C)
        return error_set(err, "canary.fill: mirror: the target's margin may move by %.3g over "
                         "the training (expected at most 1, with gradients longer than C = %g); "
                         "lower training.optimizer.lr", drift, C);
    for (size_t k = 2; k < K; k++)
        for (size_t d = 0; d < D; d++)
            init[k * D + d] = (float)(-gap * x[d] / norm2);
    return 0;
}
