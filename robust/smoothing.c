/* Randomized smoothing (Cohen, Rosenfeld & Kolter 2019, docs/maths.md 12.2): the smoothed
 * classifier g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c), certified by CERTIFY: n0 noisy
 * copies select the class, n fresh ones bound its probability from below. */
#include "robust/robust.h"

#include "audit/audit_stats.h"
#include "common/rng.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void robust_smoothing_config_default(robust_smoothing_config *c)
{
    *c = (robust_smoothing_config){.sigma = 0.25, .n0 = 100, .n = 100000, .alpha = 0.001,
                                   .seed = 0};
}

int robust_smoothing_check(const robust_smoothing_config *c, dpkit_error *err)
{
    if (!(isfinite(c->sigma) && c->sigma > 0))
        return error_set(err, "smoothing.sigma: %g, expected a finite value > 0", c->sigma);
    if (c->n0 < 1 || c->n < 1)
        return error_set(err, "smoothing.n0 and smoothing.n: %zu and %zu, expected >= 1", c->n0,
                         c->n);
    if (!(c->alpha > 0 && c->alpha < 0.5))
        return error_set(err, "smoothing.alpha: %g, expected a value in (0, 0.5)", c->alpha);
    return 0;
}

/* counts[c] += how many of `samples` noisy copies of x the classifier assigns to c. */
static int count_classes(const dp_classifier *cl, const float *x, double sigma,
                         size_t samples, rng *r, float *batch, float *z, uint64_t *counts,
                         dpkit_error *err)
{
    size_t D = cl->input_size, K = cl->class_count;
    for (size_t done = 0; done < samples;) {
        size_t m = samples - done < cl->max_batch ? samples - done : cl->max_batch;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < D; j++)
                batch[i * D + j] = (float)(x[j] + sigma * rng_gaussian(r));
        if (cl->logits(cl->user, batch, m, z, err))
            return -1;
        for (size_t i = 0; i < m; i++)
            counts[dp_argmax(z + i * K, K)]++;
        done += m;
    }
    return 0;
}

static size_t most_frequent(const uint64_t *counts, size_t K)
{
    size_t best = 0;
    for (size_t k = 1; k < K; k++)
        if (counts[k] > counts[best])
            best = k;
    return best;
}

int robust_certify(const dp_classifier *cl, const robust_smoothing_config *c, const float *x,
                   int32_t *prediction, double *radius, dpkit_error *err)
{
    *prediction = -1;
    *radius = 0;
    if (robust_smoothing_check(c, err))
        return -1;
    size_t D = cl->input_size, K = cl->class_count;
    float *batch = malloc(cl->max_batch * D * sizeof *batch);
    float *z = malloc(cl->max_batch * K * sizeof *z);
    uint64_t *counts = calloc(K, sizeof *counts);
    int rc = -1;
    if (!batch || !z || !counts) {
        error_set(err, "smoothing: out of memory for a batch of %zu inputs", cl->max_batch);
        goto done;
    }
    rng r;
    rng_init_seed(&r, c->seed, RNG_STREAM_ROBUST);
    if (count_classes(cl, x, c->sigma, c->n0, &r, batch, z, counts, err))
        goto done;
    size_t guess = most_frequent(counts, K);
    memset(counts, 0, K * sizeof *counts);
    if (count_classes(cl, x, c->sigma, c->n, &r, batch, z, counts, err))
        goto done;
    /* one-sided lower bound at level alpha: the lower end of the two-sided 2 alpha interval */
    double lower, upper;
    if (audit_clopper_pearson(counts[guess], c->n, 2 * c->alpha, &lower, &upper, err))
        goto done;
    if (lower > 0.5) {
        *prediction = (int32_t)guess;
        *radius = c->sigma * gsl_cdf_ugaussian_Pinv(lower);
    }
    rc = 0;
done:
    free(batch);
    free(z);
    free(counts);
    return rc;
}
