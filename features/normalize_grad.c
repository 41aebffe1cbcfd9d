/* The gradient through the feature normalisation (docs/maths.md 12.3): from the gradient with
 * respect to the normalised features to the gradient with respect to the features before it. */
#include "features/features.h"

#include "common/moments.h"

#include <math.h>

/* Group norm: y = (x - mu) s with s = 1 / sqrt(var + eps) over a group of n values, so
 * dx = s (dy - mean(dy) - y mean(dy y)). */
static void group_norm_backward(const float *x, float *g, size_t n, double epsilon)
{
    double mean, s, mean_g = 0, mean_gy = 0;
    moments_mean_inv_std(x, n, epsilon, &mean, &s);
    for (size_t i = 0; i < n; i++) {
        mean_g += g[i];
        mean_gy += (double)g[i] * ((double)x[i] - mean) * s;
    }
    mean_g /= (double)n;
    mean_gy /= (double)n;
    for (size_t i = 0; i < n; i++)
        g[i] = (float)(s * ((double)g[i] - mean_g - ((double)x[i] - mean) * s * mean_gy));
}

int features_normalizer_backward(const features_normalizer *nz, const float *features,
                                 float *grad, size_t count, dpkit_error *err)
{
    size_t C = nz->channels, S = nz->spatial;
    switch (nz->config.kind) {
    case FEATURES_NORMALIZE_NONE:
        return 0;
    case FEATURES_NORMALIZE_GROUP_NORM: {
        size_t G = nz->config.groups;
        if (G < 1 || C % G != 0)
            return error_set(err, "group-norm: %zu channels cannot be split into %zu groups", C,
                             G);
        size_t length = C / G * S;
        for (size_t k = 0; k < count * G; k++)
            group_norm_backward(features + k * length, grad + k * length, length,
                                nz->config.epsilon);
        return 0;
    }
    case FEATURES_NORMALIZE_PRIVATE_BN:
        for (size_t i = 0; i < count; i++)
            for (size_t c = 0; c < C; c++) {
                double v = nz->statistics.variance[c];
                double s = v > 0 ? 1.0 / sqrt(v + nz->config.epsilon) : 0.0;
                for (size_t j = 0; j < S; j++)
                    grad[(i * C + c) * S + j] = (float)(s * grad[(i * C + c) * S + j]);
            }
        return 0;
    }
    return error_set(err, "normaliser: unknown kind %d", (int)nz->config.kind);
}
