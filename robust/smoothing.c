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

/* Buffers and the noise of one certificate or prediction. */
typedef struct sampler {
    float *batch, *z;
    uint64_t *counts;
    rng r;
} sampler;

static void sampler_close(sampler *s)
{
    free(s->batch);
    free(s->z);
    free(s->counts);
}

static int sampler_open(const dp_classifier *cl, const robust_smoothing_config *c, sampler *s,
                        dpkit_error *err)
{
    if (robust_smoothing_check(c, err))
        return -1;
    s->batch = malloc(cl->max_batch * cl->input_size * sizeof *s->batch);
    s->z = malloc(cl->max_batch * cl->class_count * sizeof *s->z);
    s->counts = calloc(cl->class_count, sizeof *s->counts);
    if (!s->batch || !s->z || !s->counts) {
        sampler_close(s);
        return error_set(err, "smoothing: out of memory for a batch of %zu inputs",
                         cl->max_batch);
    }
    rng_init_seed(&s->r, c->seed, RNG_STREAM_ROBUST);
    return 0;
}

/* s->counts = the classes of `samples` noisy copies of x. */
static int sample(const dp_classifier *cl, const robust_smoothing_config *c, sampler *s,
                  const float *x, size_t samples, dpkit_error *err)
{
    memset(s->counts, 0, cl->class_count * sizeof *s->counts);
    return count_classes(cl, x, c->sigma, samples, &s->r, s->batch, s->z, s->counts, err);
}

int robust_certify(const dp_classifier *cl, const robust_smoothing_config *c, const float *x,
                   int32_t *prediction, double *radius, dpkit_error *err)
{
    *prediction = -1;
    *radius = 0;
    sampler s;
    if (sampler_open(cl, c, &s, err))
        return -1;
    int rc = -1;
    if (sample(cl, c, &s, x, c->n0, err))
        goto done;
    size_t guess = most_frequent(s.counts, cl->class_count);
    if (sample(cl, c, &s, x, c->n, err))
        goto done;
    /* one-sided lower bound at level alpha: the lower end of the two-sided 2 alpha interval */
    double lower, upper;
    if (audit_clopper_pearson(s.counts[guess], c->n, 2 * c->alpha, &lower, &upper, err))
        goto done;
    if (lower > 0.5) {
        *prediction = (int32_t)guess;
        *radius = c->sigma * gsl_cdf_ugaussian_Pinv(lower);
    }
    rc = 0;
done:
    sampler_close(&s);
    return rc;
}

int robust_smoothed_predict(const dp_classifier *cl, const robust_smoothing_config *c,
                            const float *x, int32_t *prediction, dpkit_error *err)
{
    *prediction = -1;
    sampler s;
    if (sampler_open(cl, c, &s, err))
        return -1;
    int rc = sample(cl, c, &s, x, c->n, err);
    if (rc == 0) {
        size_t K = cl->class_count, a = most_frequent(s.counts, K), b = a == 0 ? 1 : 0;
        for (size_t k = 0; k < K; k++)
            if (k != a && s.counts[k] > s.counts[b])
                b = k;
        uint64_t na = s.counts[a], total = na + s.counts[b];
        /* two-sided binomial test of na of total at 1/2 (na >= total / 2) */
        double p = na == 0 ? 1 : 2 * gsl_cdf_binomial_Q((unsigned)(na - 1), 0.5, (unsigned)total);
        if (p <= c->alpha)
            *prediction = (int32_t)a;
    }
    sampler_close(&s);
    return rc;
}
