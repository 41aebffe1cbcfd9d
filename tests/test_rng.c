/* RNG: reproducibility by (seed, stream, position), stream independence, and the distribution
 * of uniforms and Gaussians. Statistical tests use a fixed seed; each has a stated false-alarm
 * rate (the probability a correct generator fails it at a random seed). */
#include "common/rng.h"

#include <criterion/criterion.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

Test(rng, same_seed_and_stream_reproduce)
{
    rng a, b;
    rng_init_seed(&a, 42, RNG_STREAM_NOISE);
    rng_init_seed(&b, 42, RNG_STREAM_NOISE);
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(rng_uint64(&a), rng_uint64(&b));
}

Test(rng, different_streams_and_seeds_differ)
{
    rng a, b, c;
    rng_init_seed(&a, 42, 1);
    rng_init_seed(&b, 42, 2);
    rng_init_seed(&c, 43, 1);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_uint64(&a);
        same_ab += x == rng_uint64(&b);
        same_ac += x == rng_uint64(&c);
    }
    cr_assert_eq(same_ab, 0);
    cr_assert_eq(same_ac, 0);
}

Test(rng, seek_reproduces_any_position)
{
    rng a;
    rng_init_seed(&a, 7, 3);
    double skipped[5000];
    for (int i = 0; i < 5000; i++)
        skipped[i] = rng_uniform(&a);
    uint64_t position = rng_tell(&a);
    double expected[100];
    for (int i = 0; i < 100; i++)
        expected[i] = rng_gaussian_secure(&a);
    rng b;
    rng_init_seed(&b, 7, 3);
    rng_seek(&b, position);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(rng_gaussian_secure(&b), expected[i]);
    /* Seeking back to an unaligned earlier position works too. */
    rng_seek(&b, 8 * 1234);
    cr_assert_eq(rng_uniform(&b), skipped[1234]);
}

Test(rng, uniform_has_53_bits_in_unit_interval)
{
    rng r;
    rng_init_seed(&r, 1, RNG_STREAM_TEST);
    for (int i = 0; i < 100000; i++) {
        double u = rng_uniform(&r);
        cr_assert(u >= 0.0 && u < 1.0);
        double scaled = u * 0x1.0p53;
        cr_assert_eq(scaled, floor(scaled));
    }
}

Test(rng, uniform_chi_square)
{
    /* 100 bins, 10^6 draws; fails a correct generator with probability 1e-4. */
    enum { BINS = 100, N = 1000000 };
    rng r;
    rng_init_seed(&r, 2024, RNG_STREAM_TEST);
    static long counts[BINS];
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < N; i++)
        counts[(int)(rng_uniform(&r) * BINS)]++;
    double chi2 = 0, expected = (double)N / BINS;
    for (int b = 0; b < BINS; b++)
        chi2 += (counts[b] - expected) * (counts[b] - expected) / expected;
    double p = gsl_cdf_chisq_Q(chi2, BINS - 1);
    cr_assert(p > 1e-4, "chi-square %.2f p=%.3g", chi2, p);
}

Test(rng, below_is_unbiased_and_in_range)
{
    rng r;
    rng_init_seed(&r, 5, RNG_STREAM_TEST);
    long counts[3] = {0, 0, 0};
    for (int i = 0; i < 300000; i++) {
        uint64_t x = rng_below(&r, 3);
        cr_assert(x < 3);
        counts[x]++;
    }
    for (int k = 0; k < 3; k++) /* 6 standard deviations: false alarm < 1e-8 */
        cr_assert(fabs(counts[k] - 100000.0) < 6 * sqrt(300000 * (1.0 / 3) * (2.0 / 3)));
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void check_standard_normal(double (*draw)(rng *), uint64_t seed)
{
    enum { N = 200000 };
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_TEST);
    double *z = malloc(N * sizeof *z);
    double sum = 0, sum2 = 0, sum4 = 0;
    for (int i = 0; i < N; i++) {
        z[i] = draw(&r);
        sum += z[i];
        sum2 += z[i] * z[i];
        sum4 += z[i] * z[i] * z[i] * z[i];
    }
    double mean = sum / N, var = sum2 / N - mean * mean, kurt = sum4 / N;
    /* Moments within 6 standard errors (false alarm < 1e-8 each). */
    cr_assert(fabs(mean) < 6 / sqrt(N), "mean %g", mean);
    cr_assert(fabs(var - 1) < 6 * sqrt(2.0 / N), "variance %g", var);
    cr_assert(fabs(kurt - 3) < 6 * sqrt(96.0 / N), "fourth moment %g", kurt);
    /* Kolmogorov-Smirnov against Phi: critical value 1.95/sqrt(N) = false alarm 0.1%. */
    qsort(z, N, sizeof *z, compare_doubles);
    double d = 0;
    for (int i = 0; i < N; i++) {
        double f = gsl_cdf_ugaussian_P(z[i]);
        d = fmax(d, fmax(fabs(f - (double)i / N), fabs(f - (double)(i + 1) / N)));
    }
    cr_assert(d < 1.95 / sqrt(N), "KS distance %g", d);
    free(z);
}

Test(rng, gaussian_is_standard_normal) { check_standard_normal(rng_gaussian, 11); }
Test(rng, secure_gaussian_is_standard_normal) { check_standard_normal(rng_gaussian_secure, 12); }

/* The secure value of 32 keystream bytes with its own log, sin and cos (common/rng_gaussian.c)
 * against the same Box-Muller sums with libm's, to 8 ulp at the largest value (|z| < 9): a
 * wrong quadrant, reduction or constant would be off by far more. The extreme words included:
 * u1 = 2^-53 and 1, and u1 = 1/2 with angles at the quadrant boundaries. */
Test(rng, secure_gaussian_matches_libm_box_muller)
{
    enum { N = 300000 };
    rng r;
    rng_init_seed(&r, 13, RNG_STREAM_TEST);
    for (int i = 0; i < N + 5; i++) {
        uint8_t b[32];
        rng_bytes(&r, b, sizeof b);
        if (i >= N) { /* all ones, all zeros, then u1 = 1/2 at 1/4, 1/2 and 3/4 turn */
            memset(b, i == N ? 0xff : 0, sizeof b);
            if (i > N + 1)
                b[15] = b[31] = (uint8_t)(0x40 * (i - N - 1)), b[7] = b[23] = 0x80;
        }
        double want = 0;
        for (int pair = 0; pair < 2; pair++) {
            uint64_t w[2] = {0, 0};
            for (int k = 0; k < 2; k++)
                for (int j = 0; j < 8; j++)
                    w[k] |= (uint64_t)b[16 * pair + 8 * k + j] << (8 * j);
            double u1 = 1.0 - (double)(w[0] >> 11) * 0x1.0p-53;
            double u2 = (double)(w[1] >> 11) * 0x1.0p-53;
            double radius = sqrt(-2.0 * log(u1)), angle = 2.0 * M_PI * u2;
            want += radius * cos(angle) + radius * sin(angle);
        }
        want /= 2.0;
        double got = rng_gaussian_secure_of(b);
        cr_assert(fabs(got - want) <= 8 * 0x1.0p-49, "draw %d: %.17g vs %.17g", i, got, want);
    }
}

Test(rng, fill_gaussian_scales_by_std)
{
    enum { N = 100000 };
    rng r;
    rng_init_seed(&r, 3, RNG_STREAM_TEST);
    float *x = malloc(N * sizeof *x);
    rng_fill_gaussian_secure(&r, x, N, 0.25);
    double sum2 = 0;
    for (int i = 0; i < N; i++)
        sum2 += (double)x[i] * x[i];
    double std = sqrt(sum2 / N);
    cr_assert(fabs(std - 0.25) < 0.25 * 6 * sqrt(0.5 / N), "std %g", std);
    free(x);
}

/* The parallel in-place fill gives the values of sequential calls, added, and leaves the
 * generator where the sequential calls would. */
Test(rng, add_gaussian_secure_equals_sequential_draws)
{
    enum { N = 20011 };
    rng a, b;
    rng_init_seed(&a, 4, RNG_STREAM_NOISE);
    rng_init_seed(&b, 4, RNG_STREAM_NOISE);
    (void)rng_uniform(&a), (void)rng_uniform(&b); /* start off a block boundary */
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++)
        x[i] = (float)i;
    rng_add_gaussian_secure(&a, x, N, 0.5);
    for (int i = 0; i < N; i++) {
        float expected = (float)i + (float)(0.5 * rng_gaussian_secure(&b));
        cr_assert_eq(x[i], expected, "value %d: %.9g vs %.9g", i, x[i], expected);
    }
    cr_assert_eq(rng_tell(&a), rng_tell(&b));
    cr_assert_eq(rng_uint64(&a), rng_uint64(&b));
    free(x);
}

Test(rng, shuffle_is_a_permutation)
{
    size_t idx[1000];
    for (size_t i = 0; i < 1000; i++)
        idx[i] = i;
    rng r;
    rng_init_seed(&r, 9, RNG_STREAM_TEST);
    rng_shuffle_indices(&r, idx, 1000);
    int seen[1000] = {0}, moved = 0;
    for (size_t i = 0; i < 1000; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(seen[i], 1);
    cr_assert(moved > 900);
}

Test(rng, os_keys_differ)
{
    uint8_t a[RNG_KEY_BYTES], b[RNG_KEY_BYTES];
    rng_key_from_os(a);
    rng_key_from_os(b);
    cr_assert(memcmp(a, b, RNG_KEY_BYTES) != 0);
}

/* The private streams take an OS key unless reproducibility is asked for; the public ones are
 * never treated as secret. */
Test(rng, private_keys_are_secret_unless_reproducible)
{
    cr_assert(rng_stream_is_private(RNG_STREAM_SAMPLING));
    cr_assert(rng_stream_is_private(RNG_STREAM_NOISE));
    cr_assert(rng_stream_is_private(RNG_STREAM_NORM_NOISE));
    cr_assert(!rng_stream_is_private(RNG_STREAM_INIT));
    cr_assert(!rng_stream_is_private(RNG_STREAM_CANARY));
    cr_assert(!rng_stream_is_private(RNG_STREAM_AUDIT));
    uint8_t a[RNG_KEY_BYTES], b[RNG_KEY_BYTES], seeded[RNG_KEY_BYTES];
    rng_key_from_seed(0, seeded);
    rng_private_key(0, 0, a);
    rng_private_key(0, 0, b);
    cr_assert(memcmp(a, b, RNG_KEY_BYTES) != 0, "two secret keys of seed 0 must differ");
    cr_assert(memcmp(a, seeded, RNG_KEY_BYTES) != 0, "a secret key is not the seed's key");
    rng_private_key(1, 0, a);
    cr_assert_eq(memcmp(a, seeded, RNG_KEY_BYTES), 0);
    cr_assert_str_eq(rng_noise_key_description(0), "secret (OS entropy)");
    cr_assert(strstr(rng_noise_key_description(1), "not private") != NULL);
}
