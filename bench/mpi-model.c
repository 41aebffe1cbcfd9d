/* Benchmark and model of data-parallel DP-SGD on K nodes (docs/mpi.md, docs/maths.md 4.12):
 * measures, on one rank here (its OpenMP threads), the rate of the clipped sum of a linear model
 * (bytes of features per second), of the secure Gaussian noise and of the Poisson sampler, and,
 * under mpirun, the time of the step's MPI_Allreduce; then models a step on 8-64 nodes that each
 * run one such rank: compute (B rows split over K), sampler (N/K decisions), noise (P/K values a
 * rank), and a ring allreduce of 4P bytes over an assumed network.
 * Usage: [mpirun -np 2] build/bench/mpi-model */
#include "common/parallel.h"
#include "common/progress.h"
#include "dp/dp.h"
#include "mpi/parallel_mpi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DIMENSION = 243 * 8 * 8, CLASSES = 10, ROWS = 4096 };

/* Best of `repeats` timings of f. */
#define BEST_OF(repeats, seconds, body)                                                          \
    do {                                                                                         \
        seconds = INFINITY;                                                                      \
        for (int r_ = 0; r_ < (repeats); r_++) {                                                 \
            double start_ = progress_now();                                                      \
            body;                                                                                \
            double t_ = progress_now() - start_;                                                 \
            seconds = t_ < seconds ? t_ : seconds;                                               \
        }                                                                                        \
    } while (0)

static void fail(const dpkit_error *err)
{
    fprintf(stderr, "mpi-model: %s\n", err->message);
    exit(1);
}

/* Feature bytes per second of the clipped sum of a linear model (CIFAR-10 ScatterNet shape). */
static double clipped_sum_rate(void)
{
    dpkit_error err;
    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = CLASSES};
    dp_model model;
    dp_workspace ws;
    if (dp_model_create((dp_shape){DIMENSION, 1, 1}, CLASSES, &spec, 1, &model, &err) ||
        dp_workspace_create(&model, 512, &ws, &err))
        fail(&err);
    float *x = malloc((size_t)ROWS * DIMENSION * sizeof *x), *grad = calloc(model.param_count, 4);
    int32_t *y = malloc(ROWS * sizeof *y);
    size_t *indices = malloc(ROWS * sizeof *indices);
    rng r;
    rng_init_seed(&r, 1, RNG_STREAM_TEST);
    for (size_t i = 0; i < (size_t)ROWS * DIMENSION; i++)
        x[i] = (float)rng_uniform(&r) - 0.5f;
    for (size_t i = 0; i < ROWS; i++)
        y[i] = (int32_t)(i % CLASSES), indices[i] = i;
    dp_model_init(&model, &r, 0);
    dp_data data = {.x = x, .y = y, .count = ROWS};
    dp_batch_stats stats = {0};
    double seconds;
    BEST_OF(3, seconds, {
        if (dp_linear_rows_clipped_gradient(&model, &ws, &data, indices, ROWS, 0.1, grad, &stats,
                                            &err))
            fail(&err);
    });
    free(x), free(grad), free(y), free(indices);
    dp_workspace_free(&ws);
    dp_model_free(&model);
    return (double)ROWS * DIMENSION * 4 / seconds;
}

static double noise_rate(void)
{
    size_t n = (size_t)1 << 22;
    float *v = calloc(n, sizeof *v);
    rng r;
    rng_init_seed(&r, 2, RNG_STREAM_NOISE);
    double seconds;
    BEST_OF(3, seconds, rng_add_gaussian_secure(&r, v, n, 1.0));
    free(v);
    return (double)n / seconds;
}

static double sampler_rate(void)
{
    size_t n = (size_t)1 << 24;
    size_t *indices = malloc(n * sizeof *indices);
    rng r;
    rng_init_seed(&r, 3, RNG_STREAM_SAMPLING);
    double seconds;
    BEST_OF(3, seconds, dp_poisson_sample_shard(&r, 2 * n, n / 2, n, 0.01, indices));
    free(indices);
    return (double)n / seconds;
}

/* Seconds of the step's sum of P floats over the ranks (NAN on one rank). */
static double allreduce_seconds(size_t P)
{
    if (parallel_size() < 2)
        return NAN;
    float *g = calloc(P, sizeof *g);
    dpkit_error err;
    double seconds;
    BEST_OF(10, seconds, {
        if (parallel_sum_float(g, P, &err))
            fail(&err);
    });
    free(g);
    return seconds;
}

typedef struct workload {
    const char *name;
    double N, D, P, B;
} workload;

typedef struct network {
    const char *name;
    double latency, bytes_per_second;
} network;

int main(void)
{
    dpkit_error err;
    if (parallel_mpi_init(&err))
        fail(&err);
    parallel_set_spanning(1);
    int root = parallel_rank() == 0;
    double rows = clipped_sum_rate(), noise = noise_rate(), sampler = sampler_rate();
    const size_t sizes[] = {155530, 1000000, 10000000};
    double reduce[3];
    for (int i = 0; i < 3; i++)
        reduce[i] = allreduce_seconds(sizes[i]);
    if (root) {
        printf("one rank here: clipped sum %.2f GB/s of features, noise %.1f M values/s, sampler "
               "%.1f M decisions/s\n", rows / 1e9, noise / 1e6, sampler / 1e6);
        for (int i = 0; i < 3 && parallel_size() > 1; i++)
            printf("MPI_Allreduce of %zu floats over %d ranks here: %.3f ms (%.2f GB/s)\n",
                   sizes[i], parallel_size(), 1e3 * reduce[i], 4.0 * sizes[i] / reduce[i] / 1e9);
    }
    /* A ScatterNet + linear model: CIFAR-10 (as bench/train-linear) and ImageNet at 64x64 pixels
     * (J = 2: 243 channels of 16x16; 1000 classes; a 318 GB feature matrix). */
    const workload loads[] = {{"cifar10-scatter-linear", 50000, 15552, 155530, 8192},
                              {"imagenet64-scatter-linear", 1281167, 62208, 62209000, 32768}};
    const network nets[] = {{"100 Gb/s InfiniBand", 2e-6, 12.5e9}, {"10 Gb/s Ethernet", 30e-6, 1.25e9}};
    const int nodes[] = {1, 8, 16, 32, 64};
    /* Seconds of each part of a step on K nodes: compute, sampler, noise, communication. */
#define STEP_PARTS(l, net, K)                                                                    \
    double compute = (l)->B * (l)->D * 4 / (K) / rows, draw = (l)->N / (K) / sampler;          \
    double add = (l)->P / (K) / noise;                                                          \
    /* ring: 2 (K - 1) messages, 2 (K - 1) / K of the 4P bytes through each link */            \
    double comm = (K) > 1 ? 2 * ((K) - 1) * (net)->latency +                                    \
                                2 * ((K) - 1) / (K) * 4 * (l)->P / (net)->bytes_per_second      \
                          : 0;
    for (size_t w = 0; root && w < 2; w++)
        for (size_t k = 0; k < 2; k++) {
            const workload *l = &loads[w];
            printf("\n%s (N %.0f, D %.0f, P %.0f, B %.0f; %.1f MB a step), %s:\n", l->name, l->N,
                   l->D, l->P, l->B, 4 * l->P / 1e6, nets[k].name);
            printf("%6s %12s %12s %12s %12s %12s %s\n", "nodes", "compute ms", "sampler ms",
                   "noise ms", "allreduce ms", "step ms", "communication");
            for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
                double K = nodes[i];
                STEP_PARTS(l, &nets[k], K);
                double step = compute + draw + add + comm;
                printf("%6d %12.2f %12.2f %12.2f %12.2f %12.2f %s\n", nodes[i], 1e3 * compute,
                       1e3 * draw, 1e3 * add, 1e3 * comm, 1e3 * step,
                       comm > compute + draw + add ? "dominates" : "");
            }
            double over_compute = 0, over_rest = 0;
            for (double K = 2; K < 1e5 && !over_rest; K++) {
                STEP_PARTS(l, &nets[k], K);
                if (!over_compute && comm > compute)
                    over_compute = K;
                if (comm > compute + draw + add)
                    over_rest = K;
            }
            printf("communication exceeds the compute from %.0f nodes, the rest of the step from "
                   "%.0f\n", over_compute, over_rest);
        }
    parallel_mpi_finish();
    return 0;
}
