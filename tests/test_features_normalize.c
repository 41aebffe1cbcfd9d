/* Feature normalisation: group norm against its formula, private-bn statistics exact without
 * noise, the clipping bound, the noise scale (statistical test at a fixed seed), the ledger
 * events, and bad inputs. */
#include "features/features.h"

#include "accountant/accountant.h"
#include "common/log.h"
#include "common/rng.h"

#include <criterion/criterion.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Noise-free releases warn that they are not private; the tests make them on purpose. */
static void quiet_logs(void)
{
    log_set_level(DPKIT_LOG_ERROR);
}

TestSuite(features_normalize, .init = quiet_logs);

/* x[k] = offset(channel) + scale(channel) * uniform(-1, 1), so channels differ in location and
 * spread. */
static float *make_features(size_t count, size_t channels, size_t spatial, double scale,
                            uint64_t seed)
{
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_TEST);
    float *x = malloc(count * channels * spatial * sizeof *x);
    for (size_t e = 0; e < count; e++)
        for (size_t c = 0; c < channels; c++)
            for (size_t s = 0; s < spatial; s++)
                x[(e * channels + c) * spatial + s] =
                    (float)(scale * ((double)c - 1.5 + (1.0 + 0.5 * (double)c) *
                                                           (2.0 * rng_uniform(&r) - 1.0)));
    return x;
}

Test(features_normalize, group_norm_standardises_each_group)
{
    const size_t count = 5, channels = 12, spatial = 7;
    const size_t group_counts[] = {1, 3, 4, 12};
    for (size_t t = 0; t < 4; t++) {
        size_t groups = group_counts[t], length = channels / groups * spatial;
        float *x = make_features(count, channels, spatial, 3.0, 10 + t);
        float *y = malloc(count * channels * spatial * sizeof *y);
        memcpy(y, x, count * channels * spatial * sizeof *y);
        dpkit_error err;
        cr_assert_eq(features_group_norm(y, count, channels, spatial, groups, 1e-5, &err), 0, "%s",
                     err.message);
        for (size_t k = 0; k < count * groups; k++) {
            /* The direct formula in double, as torch.nn.GroupNorm(G, C, affine=False). */
            double mean = 0, var = 0, out_mean = 0, out_var = 0;
            for (size_t i = 0; i < length; i++)
                mean += x[k * length + i];
            mean /= (double)length;
            for (size_t i = 0; i < length; i++)
                var += (x[k * length + i] - mean) * (x[k * length + i] - mean);
            var /= (double)length;
            for (size_t i = 0; i < length; i++) {
                double expected = (x[k * length + i] - mean) / sqrt(var + 1e-5);
                double got = y[k * length + i];
                /* One float32 rounding of the result: half an ulp, 6e-8 relative. */
                cr_assert_leq(fabs(got - expected), 1.2e-7 * fmax(1.0, fabs(expected)),
                              "G = %zu group %zu: %.9g vs %.9g", groups, k, got, expected);
                out_mean += got;
            }
            out_mean /= (double)length;
            for (size_t i = 0; i < length; i++)
                out_var += (y[k * length + i] - out_mean) * (y[k * length + i] - out_mean);
            out_var /= (double)length;
            cr_assert_leq(fabs(out_mean), 1e-6, "group mean %g", out_mean);
            /* Biased variance var / (var + eps), with var >= 0.1 here. */
            cr_assert_leq(fabs(out_var - 1.0), 2e-4, "group variance %g", out_var);
        }
        free(x);
        free(y);
    }
}

Test(features_normalize, group_norm_rejects_indivisible_groups)
{
    float x[2 * 10 * 3] = {0};
    dpkit_error err;
    cr_assert_eq(features_group_norm(x, 2, 10, 3, 3, 1e-5, &err), -1);
    cr_assert(strstr(err.message, "10 channels") && strstr(err.message, "3 groups"), "%s",
              err.message);
    cr_assert_eq(features_group_norm(x, 2, 10, 3, 0, 1e-5, &err), -1);
    cr_assert_eq(features_group_norm(x, 2, 10, 3, 5, 0.0, &err), -1);
    cr_assert(strstr(err.message, "epsilon"), "%s", err.message);
    cr_assert_eq(features_group_norm(x, 2, 0, 3, 1, 1e-5, &err), -1);
    cr_assert_eq(features_group_norm(NULL, 2, 10, 3, 5, 1e-5, &err), -1);

    features_normalize_config config;
    features_normalize_config_default(&config);
    config.kind = FEATURES_NORMALIZE_GROUP_NORM;
    config.groups = 4;
    features_normalizer normalizer;
    cr_assert_eq(features_normalizer_fit(&normalizer, &config, x, 2, 10, 3, NULL, NULL, &err), -1);
    cr_assert(strstr(err.message, "normalize.groups = 4"), "%s", err.message);
    features_normalizer_free(&normalizer);
}

/* The private-bn statistics without noise, written out directly: clip each example's
 * per-channel mean vector and mean-of-squares vector to norm T, average over examples. */
static void clipped_statistics(const float *x, size_t count, size_t channels, size_t spatial,
                               double threshold, double *mean, double *variance)
{
    double *m = calloc(channels, sizeof *m), *q = calloc(channels, sizeof *q);
    double *sum_m = calloc(channels, sizeof *m), *sum_q = calloc(channels, sizeof *q);
    for (size_t e = 0; e < count; e++) {
        double norm_m = 0, norm_q = 0;
        for (size_t c = 0; c < channels; c++) {
            m[c] = q[c] = 0;
            for (size_t s = 0; s < spatial; s++) {
                double v = x[(e * channels + c) * spatial + s];
                m[c] += v / (double)spatial;
                q[c] += v * v / (double)spatial;
            }
            norm_m += m[c] * m[c];
            norm_q += q[c] * q[c];
        }
        double scale_m = fmin(1.0, threshold / sqrt(norm_m));
        double scale_q = fmin(1.0, threshold / sqrt(norm_q));
        for (size_t c = 0; c < channels; c++) {
            sum_m[c] += scale_m * m[c];
            sum_q[c] += scale_q * q[c];
        }
    }
    for (size_t c = 0; c < channels; c++) {
        mean[c] = sum_m[c] / (double)count;
        variance[c] = fmax(sum_q[c] / (double)count - mean[c] * mean[c], 0.0);
    }
    free(m);
    free(q);
    free(sum_m);
    free(sum_q);
}

static void release(const float *x, size_t count, size_t channels, size_t spatial,
                    double threshold, double sigma, rng *noise, accountant_ledger *ledger,
                    features_bn_statistics *stats)
{
    dpkit_error err;
    cr_assert_eq(features_private_bn_statistics(x, count, channels, spatial, threshold, sigma,
                                                noise, ledger, stats, &err),
                 0, "%s", err.message);
    cr_assert_eq(stats->channels, channels);
}

Test(features_normalize, private_bn_without_noise_is_the_clipped_statistics)
{
    /* 600 examples: more than one partial-sum chunk. Thresholds from "clips every example"
     * to "clips none". */
    const size_t count = 600, channels = 6, spatial = 5;
    float *x = make_features(count, channels, spatial, 1.0, 20);
    const double thresholds[] = {0.5, 3.0, 10.0, 1e6};
    double mean[6], variance[6];
    for (size_t t = 0; t < 4; t++) {
        accountant_ledger ledger;
        accountant_ledger_init(&ledger);
        rng noise;
        rng_init_seed(&noise, 1, RNG_STREAM_NORM_NOISE);
        features_bn_statistics stats;
        release(x, count, channels, spatial, thresholds[t], 0.0, &noise, &ledger, &stats);
        clipped_statistics(x, count, channels, spatial, thresholds[t], mean, variance);
        for (size_t c = 0; c < channels; c++) {
            cr_assert_leq(fabs(stats.mean[c] - mean[c]), 1e-12 * fmax(1, fabs(mean[c])),
                          "T = %g channel %zu mean %.17g vs %.17g", thresholds[t], c,
                          stats.mean[c], mean[c]);
            cr_assert_leq(fabs(stats.variance[c] - variance[c]), 1e-12 * fmax(1, variance[c]),
                          "T = %g channel %zu variance %.17g vs %.17g", thresholds[t], c,
                          stats.variance[c], variance[c]);
            cr_assert_geq(stats.variance[c], 0.0);
        }
        features_bn_statistics_free(&stats);
        accountant_ledger_free(&ledger);
    }
    free(x);
}

Test(features_normalize, clipping_bounds_each_example_contribution)
{
    /* Small features (|x| <= 0.1, never clipped at T = 1) plus one huge example: without noise
     * the huge example moves each clipped sum by exactly T / sqrt(C) per channel (it points
     * along the diagonal), never more than T in norm. */
    const size_t count = 50, channels = 3, spatial = 4;
    const double T = 1.0;
    float *x = make_features(count + 1, channels, spatial, 0.02, 30);
    for (size_t k = 0; k < channels * spatial; k++)
        x[count * channels * spatial + k] = 1000.0f;
    accountant_ledger ledger;
    accountant_ledger_init(&ledger);
    rng noise;
    rng_init_seed(&noise, 2, RNG_STREAM_NORM_NOISE);
    features_bn_statistics without, with;
    release(x, count, channels, spatial, T, 0.0, &noise, &ledger, &without);
    release(x, count + 1, channels, spatial, T, 0.0, &noise, &ledger, &with);
    double moved_mean = 0, moved_square = 0;
    for (size_t c = 0; c < channels; c++) {
        /* sums recovered from the statistics (no variance is clamped here) */
        double sum0 = without.mean[c] * count, sum1 = with.mean[c] * (count + 1);
        double sq0 = (without.variance[c] + without.mean[c] * without.mean[c]) * count;
        double sq1 = (with.variance[c] + with.mean[c] * with.mean[c]) * (count + 1);
        cr_assert_gt(without.variance[c], 0.0);
        cr_assert_gt(with.variance[c], 0.0);
        cr_assert_leq(fabs(sum1 - sum0 - T / sqrt(3.0)), 1e-9);
        cr_assert_leq(fabs(sq1 - sq0 - T / sqrt(3.0)), 1e-9);
        moved_mean += (sum1 - sum0) * (sum1 - sum0);
        moved_square += (sq1 - sq0) * (sq1 - sq0);
    }
    cr_assert_leq(sqrt(moved_mean), T * (1 + 1e-9));
    cr_assert_leq(sqrt(moved_square), T * (1 + 1e-9));
    features_bn_statistics_free(&without);
    features_bn_statistics_free(&with);
    accountant_ledger_free(&ledger);
    free(x);
}

Test(features_normalize, noise_has_the_stated_scale)
{
    /* R releases on fixed data; each released mean (and mean of squares) minus its noiseless
     * value is N(0, (sigma T / N)^2), all independent. The sum of squares of the n = R * C
     * standardised deviations is chi-square with n degrees of freedom; the test fails outside
     * its central 1 - 1e-6 interval, and the sample mean outside |z| < 5.3 (two-sided 1.2e-7):
     * a correct implementation fails at a random seed with probability about 1.1e-6. */
    const size_t count = 1000, channels = 4, spatial = 3, repeats = 400;
    const double T = 5.0, sigma = 2.0, std = sigma * T / (double)count;
    float *x = make_features(count, channels, spatial, 0.5, 40);
    accountant_ledger ledger;
    accountant_ledger_init(&ledger);
    rng noise;
    rng_init_seed(&noise, 12345, RNG_STREAM_NORM_NOISE);
    features_bn_statistics exact;
    release(x, count, channels, spatial, T, 0.0, &noise, &ledger, &exact);
    double exact_square[4];
    for (size_t c = 0; c < channels; c++) {
        cr_assert_gt(exact.variance[c], 0.01); /* far from the clamp at 0 */
        exact_square[c] = exact.variance[c] + exact.mean[c] * exact.mean[c];
    }
    const size_t n = repeats * channels;
    double squares[2] = {0, 0}, sums[2] = {0, 0};
    for (size_t r = 0; r < repeats; r++) {
        features_bn_statistics noisy;
        release(x, count, channels, spatial, T, sigma, &noise, &ledger, &noisy);
        for (size_t c = 0; c < channels; c++) {
            double d_mean = (noisy.mean[c] - exact.mean[c]) / std;
            double d_square =
                (noisy.variance[c] + noisy.mean[c] * noisy.mean[c] - exact_square[c]) / std;
            cr_assert_gt(noisy.variance[c], 0.0);
            sums[0] += d_mean;
            sums[1] += d_square;
            squares[0] += d_mean * d_mean;
            squares[1] += d_square * d_square;
        }
        features_bn_statistics_free(&noisy);
    }
    double low = gsl_cdf_chisq_Pinv(0.5e-6, (double)n), high = gsl_cdf_chisq_Qinv(0.5e-6, (double)n);
    for (int v = 0; v < 2; v++) {
        const char *name = v == 0 ? "mean" : "mean of squares";
        cr_assert(squares[v] > low && squares[v] < high,
                  "%s: sum of squared standardised noise %.1f outside [%.1f, %.1f] (n = %zu)",
                  name, squares[v], low, high, n);
        double z = sums[v] / sqrt((double)n);
        cr_assert_leq(fabs(z), 5.3, "%s: noise mean z = %.2f", name, z);
    }
    features_bn_statistics_free(&exact);
    accountant_ledger_free(&ledger);
    free(x);
}

Test(features_normalize, release_records_two_gaussian_events)
{
    const size_t count = 20, channels = 3, spatial = 2;
    float *x = make_features(count, channels, spatial, 1.0, 50);
    accountant_ledger ledger;
    accountant_ledger_init(&ledger);
    rng noise;
    rng_init_seed(&noise, 3, RNG_STREAM_NORM_NOISE);
    features_normalize_config config;
    features_normalize_config_default(&config);
    config.kind = FEATURES_NORMALIZE_PRIVATE_BN;
    config.noise_multiplier = 6.5;
    config.clip_threshold = 2.0;
    features_normalizer normalizer;
    dpkit_error err;
    cr_assert_eq(features_normalizer_fit(&normalizer, &config, x, count, channels, spatial, &noise,
                                         &ledger, &err),
                 0, "%s", err.message);
    cr_assert_eq(ledger.count, 2, "expected 2 ledger events, got %zu", ledger.count);
    long long releases = 0;
    for (size_t i = 0; i < ledger.count; i++) {
        cr_assert_eq(ledger.events[i].sampling_rate, 1.0);
        cr_assert_eq(ledger.events[i].noise_multiplier, 6.5);
        cr_assert(strncmp(ledger.events[i].label, "private-bn", 10) == 0, "%s",
                  ledger.events[i].label);
        releases += ledger.events[i].count;
    }
    cr_assert_eq(releases, 2);
    cr_assert_str_neq(ledger.events[0].label, ledger.events[1].label);
    /* Applying spends nothing more. */
    cr_assert_eq(features_normalizer_apply(&normalizer, x, count, channels, spatial, &err), 0);
    cr_assert_eq(ledger.count, 2);
    features_normalizer_free(&normalizer);

    /* group-norm and none record nothing. */
    config.kind = FEATURES_NORMALIZE_GROUP_NORM;
    config.groups = 3;
    cr_assert_eq(features_normalizer_fit(&normalizer, &config, x, count, channels, spatial, &noise,
                                         &ledger, &err),
                 0);
    features_normalizer_free(&normalizer);
    config.kind = FEATURES_NORMALIZE_NONE;
    cr_assert_eq(features_normalizer_fit(&normalizer, &config, x, count, channels, spatial, &noise,
                                         &ledger, &err),
                 0);
    features_normalizer_free(&normalizer);
    cr_assert_eq(ledger.count, 2);
    accountant_ledger_free(&ledger);
    free(x);
}

Test(features_normalize, normalizer_applies_statistics_to_any_split)
{
    const size_t count = 300, channels = 4, spatial = 6;
    float *train = make_features(count, channels, spatial, 1.0, 60);
    float *test = make_features(7, channels, spatial, 1.0, 61);
    float *test_copy = malloc(7 * channels * spatial * sizeof *test_copy);
    memcpy(test_copy, test, 7 * channels * spatial * sizeof *test_copy);
    accountant_ledger ledger;
    accountant_ledger_init(&ledger);
    rng noise;
    rng_init_seed(&noise, 4, RNG_STREAM_NORM_NOISE);
    features_normalize_config config;
    features_normalize_config_default(&config);
    config.kind = FEATURES_NORMALIZE_PRIVATE_BN;
    config.noise_multiplier = 0.0;
    config.clip_threshold = 1e9; /* no clipping, no noise: ordinary batch-norm statistics */
    features_normalizer normalizer;
    dpkit_error err;
    cr_assert_eq(features_normalizer_fit(&normalizer, &config, train, count, channels, spatial,
                                         &noise, &ledger, &err),
                 0, "%s", err.message);
    cr_assert_eq(features_normalizer_apply(&normalizer, train, count, channels, spatial, &err), 0);
    for (size_t c = 0; c < channels; c++) {
        double mean = 0, square = 0;
        for (size_t e = 0; e < count; e++)
            for (size_t s = 0; s < spatial; s++) {
                double v = train[(e * channels + c) * spatial + s];
                mean += v;
                square += v * v;
            }
        mean /= (double)(count * spatial);
        square /= (double)(count * spatial);
        cr_assert_leq(fabs(mean), 1e-6, "channel %zu mean %g", c, mean);
        cr_assert_leq(fabs(square - mean * mean - 1.0), 1e-4, "channel %zu variance", c);
    }
    cr_assert_eq(features_normalizer_apply(&normalizer, test, 7, channels, spatial, &err), 0);
    for (size_t c = 0; c < channels; c++) {
        double scale = 1.0 / sqrt(normalizer.statistics.variance[c] + 1e-5);
        for (size_t e = 0; e < 7; e++)
            for (size_t s = 0; s < spatial; s++) {
                size_t k = (e * channels + c) * spatial + s;
                double expected = (test_copy[k] - normalizer.statistics.mean[c]) * scale;
                cr_assert_leq(fabs(test[k] - expected), 1.2e-7 * fmax(1, fabs(expected)));
            }
    }
    /* Features of another shape are refused. */
    cr_assert_eq(features_normalizer_apply(&normalizer, test, 7, channels, spatial + 1, &err), -1);
    cr_assert(strstr(err.message, "fitted on features of 4 channels"), "%s", err.message);
    features_normalizer_free(&normalizer);

    /* none leaves features untouched. */
    config.kind = FEATURES_NORMALIZE_NONE;
    cr_assert_eq(features_normalizer_fit(&normalizer, &config, train, count, channels, spatial,
                                         NULL, NULL, &err),
                 0);
    memcpy(test, test_copy, 7 * channels * spatial * sizeof *test);
    cr_assert_eq(features_normalizer_apply(&normalizer, test, 7, channels, spatial, &err), 0);
    cr_assert_eq(memcmp(test, test_copy, 7 * channels * spatial * sizeof *test), 0);
    features_normalizer_free(&normalizer);
    accountant_ledger_free(&ledger);
    free(train);
    free(test);
    free(test_copy);
}

/* Noise can push a channel's mean of squares below its squared mean; the released variance is
 * then 0 and the channel is set to 0 instead of being scaled by 1/sqrt(epsilon). */
Test(features_normalize, zero_released_variance_drops_the_channel)
{
    const size_t count = 5, channels = 3, spatial = 4;
    float *x = make_features(count, channels, spatial, 1.0, 80);
    float *copy = malloc(count * channels * spatial * sizeof *copy);
    memcpy(copy, x, count * channels * spatial * sizeof *copy);
    double mean[3] = {0.5, -1.0, 2.0}, variance[3] = {4.0, 0.0, 0.25};
    features_bn_statistics stats = {.channels = channels, .mean = mean, .variance = variance};
    dpkit_error err;
    cr_assert_eq(features_bn_apply(&stats, x, count, channels, spatial, 1e-5, &err), 0, "%s",
                 err.message);
    for (size_t e = 0; e < count; e++)
        for (size_t c = 0; c < channels; c++)
            for (size_t s = 0; s < spatial; s++) {
                size_t k = (e * channels + c) * spatial + s;
                double expected =
                    variance[c] > 0 ? (copy[k] - mean[c]) / sqrt(variance[c] + 1e-5) : 0.0;
                cr_assert_leq(fabs(x[k] - expected), 1e-6 * fmax(1, fabs(expected)),
                              "example %zu channel %zu: %g, expected %g", e, c, x[k], expected);
            }
    /* With strong noise on few examples some released variances are 0: those channels come out
     * as 0, the others not. */
    accountant_ledger ledger;
    accountant_ledger_init(&ledger);
    rng noise;
    rng_init_seed(&noise, 9, RNG_STREAM_NORM_NOISE);
    const size_t wide = 64;
    float *y = make_features(count, wide, spatial, 0.01, 81);
    features_bn_statistics released;
    cr_assert_eq(features_private_bn_statistics(y, count, wide, spatial, 1.0, 8.0, &noise,
                                                &ledger, &released, &err), 0, "%s", err.message);
    cr_assert_eq(features_bn_apply(&released, y, count, wide, spatial, 1e-5, &err), 0);
    size_t zero = 0, nonzero = 0;
    for (size_t c = 0; c < wide; c++) {
        int all_zero = 1;
        for (size_t e = 0; e < count; e++)
            for (size_t s = 0; s < spatial; s++)
                all_zero &= y[(e * wide + c) * spatial + s] == 0.0f;
        cr_assert_eq(all_zero, released.variance[c] == 0, "channel %zu", c);
        zero += released.variance[c] == 0;
        nonzero += released.variance[c] > 0;
    }
    cr_assert(zero > 0 && nonzero > 0, "%zu channels dropped, %zu kept", zero, nonzero);
    features_bn_statistics_free(&released);
    accountant_ledger_free(&ledger);
    free(x);
    free(y);
    free(copy);
}

Test(features_normalize, private_bn_rejects_bad_input)
{
    const size_t count = 10, channels = 2, spatial = 3;
    float *x = make_features(count, channels, spatial, 1.0, 70);
    accountant_ledger ledger;
    accountant_ledger_init(&ledger);
    rng noise, wrong_stream;
    rng_init_seed(&noise, 5, RNG_STREAM_NORM_NOISE);
    rng_init_seed(&wrong_stream, 5, RNG_STREAM_NOISE);
    features_bn_statistics stats;
    dpkit_error err;

    cr_assert_eq(features_private_bn_statistics(x, count, channels, spatial, 0.0, 1.0, &noise,
                                                &ledger, &stats, &err), -1);
    cr_assert(strstr(err.message, "clip_threshold = 0"), "%s", err.message);
    cr_assert_eq(features_private_bn_statistics(x, count, channels, spatial, INFINITY, 1.0,
                                                &noise, &ledger, &stats, &err), -1);
    cr_assert_eq(features_private_bn_statistics(x, count, channels, spatial, 1.0, -1.0, &noise,
                                                &ledger, &stats, &err), -1);
    cr_assert(strstr(err.message, "noise_multiplier = -1"), "%s", err.message);
    cr_assert_eq(features_private_bn_statistics(x, count, channels, spatial, 1.0, NAN, &noise,
                                                &ledger, &stats, &err), -1);
    cr_assert_eq(features_private_bn_statistics(x, count, channels, spatial, 1.0, 1.0,
                                                &wrong_stream, &ledger, &stats, &err), -1);
    cr_assert(strstr(err.message, "RNG_STREAM_NORM_NOISE"), "%s", err.message);
    cr_assert_eq(features_private_bn_statistics(x, count, channels, spatial, 1.0, 1.0, NULL,
                                                &ledger, &stats, &err), -1);
    cr_assert_eq(features_private_bn_statistics(x, count, channels, spatial, 1.0, 1.0, &noise,
                                                NULL, &stats, &err), -1);
    cr_assert(strstr(err.message, "ledger"), "%s", err.message);
    cr_assert_eq(features_private_bn_statistics(x, 0, channels, spatial, 1.0, 1.0, &noise,
                                                &ledger, &stats, &err), -1);
    cr_assert(strstr(err.message, "no training examples"), "%s", err.message);
    x[(7 * channels + 1) * spatial + 2] = NAN;
    cr_assert_eq(features_private_bn_statistics(x, count, channels, spatial, 1.0, 1.0, &noise,
                                                &ledger, &stats, &err), -1);
    cr_assert(strstr(err.message, "example 7"), "%s", err.message);
    cr_assert_null(stats.mean);
    /* Nothing was released, so nothing was recorded. */
    cr_assert_eq(ledger.count, 0);

    /* Statistics of the wrong width. */
    x[(7 * channels + 1) * spatial + 2] = 0.0f;
    cr_assert_eq(features_private_bn_statistics(x, count, channels, spatial, 1.0, 1.0, &noise,
                                                &ledger, &stats, &err), 0);
    cr_assert_eq(features_bn_apply(&stats, x, count, channels + 1, 1, 1e-5, &err), -1);
    cr_assert(strstr(err.message, "2 channels"), "%s", err.message);
    features_bn_statistics_free(&stats);

    features_normalize_kind kind;
    cr_assert_eq(features_normalize_kind_parse("batch-norm", &kind, &err), -1);
    cr_assert(strstr(err.message, "'batch-norm'"), "%s", err.message);
    cr_assert_eq(features_normalize_kind_parse("private-bn", &kind, &err), 0);
    cr_assert_eq(kind, FEATURES_NORMALIZE_PRIVATE_BN);
    cr_assert_str_eq(features_normalize_kind_name(FEATURES_NORMALIZE_GROUP_NORM), "group-norm");
    accountant_ledger_free(&ledger);
    free(x);
}
