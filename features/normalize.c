/* Normalisation of feature tensors (count, channels, spatial): per-example group norm, and
 * per-channel batch-norm statistics released with differential privacy (private-bn). */
#include "features/features.h"

#include "common/log.h"
#include "common/memory.h"
#include "common/moments.h"
#include "common/parallel.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Examples per partial sum in private-bn: partial sums are combined in a fixed order, so the
 * statistics do not depend on the number of threads. */
#define BN_CHUNK 256

void features_normalize_config_default(features_normalize_config *config)
{
    config->kind = FEATURES_NORMALIZE_NONE;
    config->groups = 27;
    config->noise_multiplier = 8.0;
    config->clip_threshold = 1.0;
    config->epsilon = FEATURES_NORMALIZE_EPSILON;
}

static const char *const kind_names[] = {"none", "group-norm", "private-bn"};

int features_normalize_kind_parse(const char *text, features_normalize_kind *kind,
                                  dpkit_error *err)
{
    for (int i = 0; i < 3; i++) {
        if (text && strcmp(text, kind_names[i]) == 0) {
            *kind = (features_normalize_kind)i;
            return 0;
        }
    }
    return error_set(err, "normalize kind '%s': expected none, group-norm or private-bn",
                     text ? text : "(null)");
}

const char *features_normalize_kind_name(features_normalize_kind kind)
{
    return (unsigned)kind < 3 ? kind_names[kind] : "unknown";
}

static int check_shape(const char *what, const float *features, size_t count, size_t channels,
                       size_t spatial, dpkit_error *err)
{
    if (channels < 1 || spatial < 1)
        return error_set(err, "%s: feature shape (%zu, %zu, %zu): expected channels and spatial "
                         "size at least 1", what, count, channels, spatial);
    if (channels > SIZE_MAX / spatial || (count > 0 && channels * spatial > SIZE_MAX / count))
        return error_set(err, "%s: feature shape (%zu, %zu, %zu): too large", what, count,
                         channels, spatial);
    if (count > 0 && !features)
        return error_set(err, "%s: NULL feature array for %zu examples", what, count);
    return 0;
}

static int check_epsilon(const char *what, double epsilon, dpkit_error *err)
{
    if (!(epsilon > 0.0) || !isfinite(epsilon))
        return error_set(err, "%s: epsilon = %g: expected a positive finite number", what,
                         epsilon);
    return 0;
}

int features_group_norm(float *features, size_t count, size_t channels, size_t spatial,
                        size_t groups, double epsilon, dpkit_error *err)
{
    if (check_shape("group-norm", features, count, channels, spatial, err) < 0 ||
        check_epsilon("group-norm", epsilon, err) < 0)
        return -1;
    if (groups < 1 || channels % groups != 0)
        return error_set(err, "group-norm: %zu channels cannot be split into %zu groups: the "
                         "number of groups must divide the number of channels", channels, groups);
    size_t group_length = channels / groups * spatial; /* a group is contiguous */
    size_t total = count * groups;
#pragma omp parallel for schedule(static) if (total * group_length > 65536)
    for (size_t k = 0; k < total; k++) {
        float *x = features + k * group_length;
        double mean, scale;
        moments_mean_inv_std(x, group_length, epsilon, &mean, &scale);
        for (size_t i = 0; i < group_length; i++)
            x[i] = (float)(((double)x[i] - mean) * scale);
    }
    return 0;
}

void features_bn_statistics_free(features_bn_statistics *stats)
{
    if (!stats)
        return;
    MEMORY_FREE_ALL(stats->mean, stats->variance);
    stats->mean = stats->variance = NULL;
    stats->channels = 0;
}

/* Scales v (length n) to L2 norm at most threshold. */
static void clip_to_norm(double *v, size_t n, double threshold)
{
    double squares = 0.0;
    for (size_t i = 0; i < n; i++)
        squares += v[i] * v[i];
    double norm = sqrt(squares);
    if (norm > threshold) {
        double scale = threshold / norm;
        for (size_t i = 0; i < n; i++)
            v[i] *= scale;
    }
}

/* Clipped sums over examples [begin, end): per-channel means into sums[0..C), per-channel means
 * of squares into sums[C..2C); 0, or the first example with a non-finite value + 1. */
static size_t clipped_sums(const float *features, size_t begin, size_t end, size_t channels,
                           size_t spatial, double threshold, double *example, double *sums)
{
    memset(sums, 0, 2 * channels * sizeof *sums);
    double *means = example, *mean_squares = example + channels;
    for (size_t e = begin; e < end; e++) {
        const float *x = features + e * channels * spatial;
        for (size_t c = 0; c < channels; c++) {
            double sum = 0.0, squares = 0.0;
            for (size_t s = 0; s < spatial; s++) {
                double v = x[c * spatial + s];
                sum += v;
                squares += v * v;
            }
            means[c] = sum / (double)spatial;
            mean_squares[c] = squares / (double)spatial;
            if (!isfinite(means[c]) || !isfinite(mean_squares[c]))
                return e + 1;
        }
        /* Each of the two releases gets its own bound: one example moves each sum by at most
         * `threshold` in L2 norm, the sensitivity the Gaussian noise is scaled to. */
        clip_to_norm(means, channels, threshold);
        clip_to_norm(mean_squares, channels, threshold);
        for (size_t i = 0; i < 2 * channels; i++)
            sums[i] += example[i];
    }
    return 0;
}

int features_private_bn_statistics(const float *features, size_t count, size_t channels,
                                   size_t spatial, double clip_threshold,
                                   double noise_multiplier, rng *noise,
                                   accountant_ledger *ledger, features_bn_statistics *stats,
                                   dpkit_error *err)
{
    memset(stats, 0, sizeof *stats);
    if (check_shape("private-bn", features, count, channels, spatial, err) < 0)
        return -1;
    if (count < 1)
        return error_set(err, "private-bn: no training examples: expected at least 1");
    /* The threshold must not come from the data: Tramer & Boneh's code set it from the median
     * norm of the per-example statistics, a data-dependent choice that is itself not private. */
    if (!(clip_threshold > 0.0) || !isfinite(clip_threshold))
        return error_set(err, "private-bn: clip_threshold = %g: expected a positive finite "
                         "number fixed in the configuration", clip_threshold);
    if (!(noise_multiplier >= 0.0) || !isfinite(noise_multiplier))
        return error_set(err, "private-bn: noise_multiplier = %g: expected a finite number >= 0",
                         noise_multiplier);
    if (!noise || noise->stream != RNG_STREAM_NORM_NOISE)
        return error_set(err, "private-bn: the noise generator must be on stream "
                         "RNG_STREAM_NORM_NOISE (%d), got %lld", RNG_STREAM_NORM_NOISE,
                         noise ? (long long)noise->stream : -1LL);
    if (!ledger)
        return error_set(err, "private-bn: no privacy ledger to record the release in");

    size_t chunks = (count + BN_CHUNK - 1) / BN_CHUNK;
    double *partial = calloc(chunks * 2 * channels, sizeof *partial);
    double *sums = calloc(2 * channels + 2, sizeof *sums); /* + examples, failed ranks */
    stats->mean = malloc(channels * sizeof *stats->mean);
    stats->variance = malloc(channels * sizeof *stats->variance);
    if (!partial || !sums || !stats->mean || !stats->variance) {
        free(partial);
        free(sums);
        features_bn_statistics_free(stats);
        return error_set(err, "private-bn: out of memory for %zu channels", channels);
    }
    stats->channels = channels;

    size_t bad_example = 0; /* first non-finite example + 1 */
    int out_of_memory = 0;
#pragma omp parallel
    {
        double *example = malloc(2 * channels * sizeof *example);
        if (!example) {
#pragma omp atomic write
            out_of_memory = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t k = 0; k < chunks; k++) {
            if (!example)
                continue;
            size_t end = (k + 1) * BN_CHUNK < count ? (k + 1) * BN_CHUNK : count;
            size_t bad = clipped_sums(features, k * BN_CHUNK, end, channels, spatial,
                                      clip_threshold, example, partial + k * 2 * channels);
            if (bad) {
#pragma omp critical /* unnamed: a named one would be an exported symbol */
                if (bad_example == 0 || bad < bad_example)
                    bad_example = bad;
            }
        }
        free(example);
    }
    int status = 0;
    if (out_of_memory)
        status = error_set(err, "private-bn: out of memory for %zu channels", channels);
    else if (bad_example)
        status = error_set(err, "private-bn: example %zu has a non-finite feature value: "
                           "expected finite features", bad_example - 1);
    for (size_t k = 0; status == 0 && k < chunks; k++)
        for (size_t i = 0; i < 2 * channels; i++)
            sums[i] += partial[k * 2 * channels + i];
    free(partial);
    /* A data-parallel training's ranks each hold a shard of the rows: the release is of the
     * sums over all of them (docs/maths.md 4.12), with the failures, so all ranks stop together;
     * each rank then draws the same noise from the same stream. */
    sums[2 * channels] = (double)count;
    sums[2 * channels + 1] = status < 0;
    dpkit_error reduce;
    if (parallel_sum_double(sums, 2 * channels + 2, &reduce) && status == 0)
        status = -1, *err = reduce;
    if (status == 0 && sums[2 * channels + 1] > 0)
        status = error_set(err, "private-bn: another rank failed (its message is above)");
    count = (size_t)sums[2 * channels];
    if (status < 0) {
        free(sums);
        features_bn_statistics_free(stats);
        return -1;
    }

    /* Gaussian mechanism on each clipped sum (sensitivity clip_threshold); secure sampling so
     * the low bits of the noisy sums do not reveal the sums (docs/maths.md 4.8). The number of
     * examples is treated as public, as DP-SGD's expected batch size is. */
    double std = noise_multiplier * clip_threshold;
    for (size_t i = 0; i < 2 * channels; i++)
        sums[i] += std * rng_gaussian_secure(noise);
    size_t dropped = 0;
    for (size_t c = 0; c < channels; c++) {
        double mean = sums[c] / (double)count;
        double mean_square = sums[channels + c] / (double)count;
        stats->mean[c] = mean;
        stats->variance[c] = fmax(mean_square - mean * mean, 0.0);
        dropped += stats->variance[c] == 0;
    }
    free(sums);
    /* Post-processing of the released values: costs no privacy. */
    if (dropped)
        log_info("private-bn: %zu of %zu channels have a released variance of 0 and are set to 0 "
                 "(noise std %.3g on each mean of squares)", dropped, channels,
                 std / (double)count);

    if (accountant_ledger_record(ledger, 1.0, noise_multiplier, 1, "private-bn-mean", err) < 0 ||
        accountant_ledger_record(ledger, 1.0, noise_multiplier, 1, "private-bn-meansq", err) < 0) {
        features_bn_statistics_free(stats);
        return error_prefix(err, "private-bn: recording the release in the privacy ledger");
    }
    if (noise_multiplier == 0.0)
        log_warn("private-bn: noise_multiplier = 0: the normalisation statistics are not "
                 "private (epsilon is infinite)");
    return 0;
}

int features_bn_apply(const features_bn_statistics *stats, float *features, size_t count,
                      size_t channels, size_t spatial, double epsilon, dpkit_error *err)
{
    if (check_shape("private-bn", features, count, channels, spatial, err) < 0 ||
        check_epsilon("private-bn", epsilon, err) < 0)
        return -1;
    if (!stats || !stats->mean || !stats->variance)
        return error_set(err, "private-bn: no statistics to apply");
    if (stats->channels != channels)
        return error_set(err, "private-bn: statistics of %zu channels applied to features of "
                         "%zu channels", stats->channels, channels);
#pragma omp parallel for schedule(static) if (count * channels * spatial > 65536)
    for (size_t e = 0; e < count; e++) {
        float *x = features + e * channels * spatial;
        for (size_t c = 0; c < channels; c++) {
            double mean = stats->mean[c];
            /* A released variance of 0 (the noisy mean of squares fell below the squared mean)
             * says nothing about the channel's scale: 1/sqrt(epsilon) would blow the channel up
             * by a data-independent factor (316 for epsilon = 1e-5) and let it dominate every
             * example's norm, hence its clipped gradient. Such a channel is set to 0, as
             * Tramer & Boneh's standardize() does. Exact statistics give 0 only for a constant
             * channel, where x - mean is 0 on the training set anyway. */
            double scale = stats->variance[c] > 0 ? 1.0 / sqrt(stats->variance[c] + epsilon) : 0;
            for (size_t s = 0; s < spatial; s++)
                x[c * spatial + s] = (float)(((double)x[c * spatial + s] - mean) * scale);
        }
    }
    return 0;
}

int features_normalizer_fit(features_normalizer *normalizer,
                            const features_normalize_config *config, const float *train,
                            size_t count, size_t channels, size_t spatial, rng *noise,
                            accountant_ledger *ledger, dpkit_error *err)
{
    memset(normalizer, 0, sizeof *normalizer);
    if (!config)
        return error_set(err, "normalize: no configuration given");
    if (check_shape("normalize", train, count, channels, spatial, err) < 0 ||
        check_epsilon("normalize", config->epsilon, err) < 0)
        return -1;
    normalizer->config = *config;
    normalizer->channels = channels;
    normalizer->spatial = spatial;
    switch (config->kind) {
    case FEATURES_NORMALIZE_NONE:
        return 0;
    case FEATURES_NORMALIZE_GROUP_NORM:
        if (config->groups < 1 || channels % config->groups != 0)
            return error_set(err, "normalize.groups = %zu: must divide the number of feature "
                             "channels (%zu)", config->groups, channels);
        return 0;
    case FEATURES_NORMALIZE_PRIVATE_BN:
        return features_private_bn_statistics(train, count, channels, spatial,
                                              config->clip_threshold, config->noise_multiplier,
                                              noise, ledger, &normalizer->statistics, err);
    }
    return error_set(err, "normalize kind %d: expected none, group-norm or private-bn",
                     (int)config->kind);
}

int features_normalizer_apply(const features_normalizer *normalizer, float *features,
                              size_t count, size_t channels, size_t spatial, dpkit_error *err)
{
    if (channels != normalizer->channels || spatial != normalizer->spatial)
        return error_set(err, "normalize: fitted on features of %zu channels x %zu positions, "
                         "applied to %zu x %zu", normalizer->channels, normalizer->spatial,
                         channels, spatial);
    switch (normalizer->config.kind) {
    case FEATURES_NORMALIZE_NONE:
        return check_shape("normalize", features, count, channels, spatial, err);
    case FEATURES_NORMALIZE_GROUP_NORM:
        return features_group_norm(features, count, channels, spatial, normalizer->config.groups,
                                   normalizer->config.epsilon, err);
    case FEATURES_NORMALIZE_PRIVATE_BN:
        return features_bn_apply(&normalizer->statistics, features, count, channels, spatial,
                                 normalizer->config.epsilon, err);
    }
    return error_set(err, "normalize kind %d: expected none, group-norm or private-bn",
                     (int)normalizer->config.kind);
}

void features_normalizer_free(features_normalizer *normalizer)
{
    if (normalizer)
        features_bn_statistics_free(&normalizer->statistics);
}
