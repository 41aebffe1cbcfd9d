/* Benchmark of DP-SGD steps on the four CNN presets: examples/s private (per-example norms,
 * clipping, noise) and non-private (plain SGD, same sampling), their ratio, the share of the
 * step spent in BLAS (sgemm, ssyrk, sgemv), measured by wrapping the BLAS calls at link time
 * (-Wl,--wrap, see the Makefile), and the step's matrix arithmetic against the machine's
 * measured sgemm peak (bench/machine_limits.c). Inputs are random with each preset's shape (the
 * cost does not depend on the values). "result" lines are for scripts/bench-against.
 * usage: bench/train-cnn [--steps S] [--preset NAME] [--physical-batch P] [--private-only]
 *        [--threads T]
 * (--private-only: for profiling the private step alone) */
#include "bench/machine_limits.h"
#include "common/progress.h"
#include "common/rng.h"
#include "dp/dp.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- BLAS time: wall-clock equivalent (calls inside OpenMP regions count 1/threads) -------- */

static double blas_seconds;

static void add_blas_time(double seconds)
{
    double share = omp_in_parallel() ? seconds / omp_get_num_threads() : seconds;
#pragma omp atomic
    blas_seconds += share;
}

/* Declares __real_NAME and defines __wrap_NAME, which times the real call. */
#define TIMED_BLAS(name, parameters, arguments)                                                 \
    void __real_##name parameters;                                                              \
    void __wrap_##name parameters;                                                              \
    void __wrap_##name parameters                                                               \
    {                                                                                           \
        double start = omp_get_wtime();                                                         \
        __real_##name arguments;                                                                \
        add_blas_time(omp_get_wtime() - start);                                                 \
    }

#define K_ OPENBLAS_CONST
TIMED_BLAS(cblas_sgemm,
           (K_ enum CBLAS_ORDER order, K_ enum CBLAS_TRANSPOSE ta, K_ enum CBLAS_TRANSPOSE tb,
            K_ blasint m, K_ blasint n, K_ blasint k, K_ float alpha, K_ float *a, K_ blasint lda,
            K_ float *b, K_ blasint ldb, K_ float beta, float *c, K_ blasint ldc),
           (order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
TIMED_BLAS(cblas_ssyrk,
           (K_ enum CBLAS_ORDER order, K_ enum CBLAS_UPLO uplo, K_ enum CBLAS_TRANSPOSE trans,
            K_ blasint n, K_ blasint k, K_ float alpha, K_ float *a, K_ blasint lda, K_ float beta,
            float *c, K_ blasint ldc),
           (order, uplo, trans, n, k, alpha, a, lda, beta, c, ldc))
TIMED_BLAS(cblas_sgemv,
           (K_ enum CBLAS_ORDER order, K_ enum CBLAS_TRANSPOSE trans, K_ blasint m, K_ blasint n,
            K_ float alpha, K_ float *a, K_ blasint lda, K_ float *x, K_ blasint incx,
            K_ float beta, float *y, K_ blasint incy),
           (order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy))
#undef K_

/* ---- arithmetic of a step ----------------------------------------------------------------- */

/* Floating-point operations of the matrix products of one example's step (2 per multiply-add):
 * forward, input gradients (all layers but the first), parameter gradients and, private, the
 * per-example norms (materialised: the per-example GEMM; Gram form: two T x T SYRKs). */
static double example_flops(const dp_model *model, int private_mode)
{
    double total = 0;
    for (size_t l = 0; l < model->layer_count; l++) {
        const dp_layer *layer = &model->layers[l];
        double product, norms;
        if (layer->kind == DP_LAYER_CONV2D) {
            double T = (double)(layer->output.height * layer->output.width);
            double K = (double)(layer->input.channels * layer->kernel * layer->kernel);
            double cout = (double)layer->units;
            product = 2 * cout * K * T;
            norms = layer->ghost_norms ? T * (T + 1) * (K + cout) : product;
        } else if (layer->kind == DP_LAYER_LINEAR) {
            double D = (double)dp_shape_size(layer->input);
            product = 2 * (double)layer->units * D;
            norms = 2 * (D + (double)layer->units);
        } else {
            continue;
        }
        total += product * (l > 0 ? 3 : 2) + (private_mode ? norms : 0);
    }
    return total;
}

/* ---- workloads ---------------------------------------------------------------------------- */

typedef struct workload {
    const char *preset;
    dp_shape input;
    size_t batch_size; /* the paper's expected batch size B */
} workload;

static const workload workloads[] = {
    {"mnist-cnn", {1, 28, 28}, 512},
    {"cifar10-cnn", {3, 32, 32}, 1024},
    {"scatter-cnn-mnist", {81, 7, 7}, 1024},
    {"scatter-cnn-cifar10", {243, 8, 8}, 8192},
};

typedef struct measure {
    double examples_per_second, examples_per_cpu_second, blas_share, flops_per_example;
} measure;

/* CPU seconds of the whole process (all threads): on a shared machine this moves less than
 * wall time with the other jobs' load. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fail(const dpkit_error *err)
{
    fprintf(stderr, "bench/train-cnn: %s\n", err->message);
    exit(1);
}

/* `steps` DP-SGD (private) or SGD steps with expected batch B over N = steps * B examples
 * (one epoch of floor(N/B) = steps steps). */
static measure run(const workload *w, int private_mode, int steps, size_t physical)
{
    dpkit_error err;
    dp_layer_spec specs[DP_PRESET_MAX_LAYERS];
    size_t count;
    dp_model model;
    dp_workspace ws;
    if (dp_model_preset(w->preset, specs, &count, &err) ||
        dp_model_create(w->input, 10, specs, count, &model, &err) ||
        dp_workspace_create(&model, physical, &ws, &err))
        fail(&err);
    rng r;
    rng_init_seed(&r, 1, RNG_STREAM_INIT);
    dp_model_init(&model, &r, 0);
    size_t N = (size_t)steps * w->batch_size, D = dp_shape_size(w->input);
    float *x = malloc(N * D * sizeof *x);
    int32_t *y = malloc(N * sizeof *y);
    if (!x || !y) {
        fprintf(stderr, "bench/train-cnn: out of memory for %zu x %zu inputs\n", N, D);
        exit(1);
    }
    /* 1024 random examples, repeated (drawing them all would dominate a profile) */
    size_t distinct = N < 1024 ? N : 1024;
    for (size_t j = 0; j < distinct * D; j++)
        x[j] = (float)(2 * rng_uniform(&r) - 1);
    for (size_t i = distinct; i < N; i++)
        memcpy(x + i * D, x + (i % distinct) * D, D * sizeof *x);
    for (size_t i = 0; i < N; i++)
        y[i] = (int32_t)rng_below(&r, 10);

    dp_train_config c = {.private_mode = private_mode, .clip_norm = 0.1, .noise_multiplier = 1.0,
                         .batch_size = w->batch_size, .physical_batch = physical, .epochs = 1,
                         .delta = 1e-5};
    accountant_options_default(&c.accountant);
    dp_train_state state;
    memset(&state, 0, sizeof state);
    rng_init_seed(&state.sampler, 2, RNG_STREAM_SAMPLING);
    rng_init_seed(&state.noise, 3, RNG_STREAM_NOISE);
    accountant_ledger_init(&state.ledger);
    dp_optimizer_config o;
    dp_optimizer_config_default(&o);
    o.lr = 0.5;
    o.momentum = 0.9;
    if (dp_optimizer_create(&o, model.param_count, &state.optimizer, &err))
        fail(&err);
    dp_data train = {.x = x, .y = y, .count = N};
    dp_epoch_metrics m;
    blas_seconds = 0;
    double start = progress_now(), cpu_start = cpu_now();
    if (dp_train_epoch(&model, &ws, &c, &state, &train, NULL, &m, &err))
        fail(&err);
    double seconds = progress_now() - start, cpu = cpu_now() - cpu_start;
    measure result = {(double)m.seen / seconds, (double)m.seen / cpu, blas_seconds / seconds,
                      example_flops(&model, private_mode)};
    dp_optimizer_free(&state.optimizer);
    accountant_ledger_free(&state.ledger);
    dp_workspace_free(&ws);
    dp_model_free(&model);
    free(x);
    free(y);
    return result;
}

int main(int argc, char **argv)
{
    int steps = 4;
    size_t physical = 512;
    const char *only = NULL;
    int private_only = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--steps") == 0 && a + 1 < argc)
            steps = atoi(argv[++a]);
        else if (strcmp(argv[a], "--preset") == 0 && a + 1 < argc)
            only = argv[++a];
        else if (strcmp(argv[a], "--private-only") == 0)
            private_only = 1;
        else if (strcmp(argv[a], "--physical-batch") == 0 && a + 1 < argc)
            physical = (size_t)atoi(argv[++a]);
        else if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc && atoi(argv[a + 1]) >= 1)
            omp_set_num_threads(atoi(argv[++a]));
        else {
            fprintf(stderr, "usage: bench/train-cnn [--steps S] [--preset NAME] "
                            "[--physical-batch P] [--private-only] [--threads T >= 1]\n");
            return 2;
        }
    }
    if (steps < 1 || physical < 1) {
        fprintf(stderr, "bench/train-cnn: --steps and --physical-batch must be >= 1\n");
        return 2;
    }
    machine_limits limits;
    machine_limits_measure(&limits);
    printf("%d OpenMP threads, %d OpenBLAS threads, %d steps per measurement, physical batch "
           "%zu\n\n", omp_get_max_threads(), openblas_get_num_threads(), steps, physical);
    printf("| preset | input | B | params | private ex/s | non-private ex/s | ratio | private "
           "ex/CPU-s | non-private ex/CPU-s | CPU ratio | BLAS share private | BLAS share "
           "non-private | private GFLOP/s | of sgemm peak | non-private GFLOP/s | of sgemm peak "
           "|\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t w = 0; w < sizeof workloads / sizeof workloads[0]; w++) {
        const workload *wl = &workloads[w];
        if (only && strcmp(only, wl->preset) != 0)
            continue;
        dp_layer_spec specs[DP_PRESET_MAX_LAYERS];
        size_t count;
        dp_model model;
        dpkit_error err;
        if (dp_model_preset(wl->preset, specs, &count, &err) ||
            dp_model_create(wl->input, 10, specs, count, &model, &err))
            fail(&err);
        size_t params = model.param_count;
        dp_model_free(&model);
        measure priv = run(wl, 1, steps, physical);
        measure plain = private_only ? priv : run(wl, 0, steps, physical);
        double priv_gflops = priv.examples_per_second * priv.flops_per_example / 1e9;
        double plain_gflops = plain.examples_per_second * plain.flops_per_example / 1e9;
        printf("| %s | %zux%zux%zu | %zu | %zu | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f | "
               "%.0f%% | %.0f%% | %.1f | %.1f%% | %.1f | %.1f%% |\n",
               wl->preset, wl->input.channels, wl->input.height, wl->input.width,
               wl->batch_size, params, priv.examples_per_second, plain.examples_per_second,
               plain.examples_per_second / priv.examples_per_second,
               priv.examples_per_cpu_second, plain.examples_per_cpu_second,
               plain.examples_per_cpu_second / priv.examples_per_cpu_second,
               100 * priv.blas_share, 100 * plain.blas_share, priv_gflops,
               100 * priv_gflops / limits.sgemm_gflops, plain_gflops,
               100 * plain_gflops / limits.sgemm_gflops);
        printf("result %s.private_ex_s %.1f\nresult %s.nonprivate_ex_s %.1f\n", wl->preset,
               priv.examples_per_second, wl->preset, plain.examples_per_second);
        printf("result %s.private_ex_cpu_s %.1f\nresult %s.nonprivate_ex_cpu_s %.1f\n",
               wl->preset, priv.examples_per_cpu_second, wl->preset,
               plain.examples_per_cpu_second);
        fflush(stdout);
    }
    return 0;
}
