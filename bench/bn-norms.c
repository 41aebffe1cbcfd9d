/* Measures what a private-bn clip threshold does to a dataset's scattering features: quantiles
 * of the per-example norms of the per-channel mean and mean-of-squares vectors, the share of
 * examples each threshold clips, and the per-channel variances against the release's noise.
 * Not private (it reads the training features directly): for choosing and documenting fixed
 * thresholds only. Usage: build/bench/bn-norms [dataset] [noise_multiplier] [thresholds...] */
#include "common/log.h"
#include "datasets/datasets.h"
#include "features/features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_quantiles(const char *name, double *v, size_t n)
{
    static const double q[] = {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99};
    qsort(v, n, sizeof *v, compare);
    printf("%-26s min %.3g", name, v[0]);
    for (size_t i = 0; i < sizeof q / sizeof *q; i++)
        printf("  q%02.0f %.3g", 100 * q[i], v[(size_t)(q[i] * (double)(n - 1))]);
    printf("  max %.3g\n", v[n - 1]);
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "cifar10";
    double sigma = argc > 2 ? atof(argv[2]) : 8.0;
    log_set_level(DPKIT_LOG_WARN);
    dpkit_error err;
    dataset data;
    features_extractor_config config;
    features_extractor_config_default(&config); /* scatter J=2 L=8, ImageNet norm for RGB */
    features_set set;
    features_cache_info info;
    if (datasets_fetch(name, &err) || dataset_load(name, &data, &err) ||
        features_cached(&config, &data, "train", 0, &set, &info, &err)) {
        fprintf(stderr, "bn-norms: %s\n", err.message);
        return 1;
    }
    size_t N = set.count, C = set.channels, S = set.height * set.width;
    double *mean_norm = malloc(N * sizeof(double)), *square_norm = malloc(N * sizeof(double));
    double *mean = calloc(C, sizeof(double)), *square = calloc(C, sizeof(double));
    for (size_t e = 0; e < N; e++) {
        const float *x = set.values + e * C * S;
        double a = 0, b = 0;
        for (size_t c = 0; c < C; c++) {
            double s = 0, q = 0;
            for (size_t p = 0; p < S; p++) {
                s += x[c * S + p];
                q += (double)x[c * S + p] * x[c * S + p];
            }
            s /= (double)S, q /= (double)S;
            a += s * s, b += q * q;
            mean[c] += s, square[c] += q;
        }
        mean_norm[e] = sqrt(a), square_norm[e] = sqrt(b);
    }
    printf("%s train: %zu examples, %zu channels of %zu positions\n", name, N, C, S);
    int first = 3;
    double defaults[] = {0.1, 0.3, 1, 3, 10};
    size_t count = argc > first ? (size_t)(argc - first) : 5;
    for (size_t t = 0; t < count; t++) {
        double T = argc > first ? atof(argv[first + t]) : defaults[t];
        size_t a = 0, b = 0;
        for (size_t e = 0; e < N; e++)
            a += mean_norm[e] > T, b += square_norm[e] > T;
        printf("T = %-5g clips %5.1f%% of mean vectors, %5.1f%% of mean-of-squares vectors; "
               "noise std on each released value %.3g\n", T, 100.0 * a / N, 100.0 * b / N,
               sigma * T / N);
    }
    print_quantiles("norm of mean vector", mean_norm, N);
    print_quantiles("norm of mean-of-squares", square_norm, N);
    double *variance = malloc(C * sizeof(double));
    for (size_t c = 0; c < C; c++)
        variance[c] = square[c] / N - (mean[c] / N) * (mean[c] / N);
    print_quantiles("channel variance", variance, C);
    for (size_t c = 0; c < C; c++)
        variance[c] = square[c] / N;
    print_quantiles("channel mean of squares", variance, C);
    free(mean_norm), free(square_norm), free(mean), free(square), free(variance);
    features_set_free(&set);
    dataset_free(&data);
    return 0;
}
