/* Benchmark: seconds per epoch of DP-SGD on CIFAR-10 ScatterNet + linear (50,000 x 15,552
 * float32 features, 10 classes, B = 8192), private and non-private, measured side by side in
 * one run, against the machine's measured limits (bench/machine_limits.c): the epoch's bound is
 * max(one read of the sampled rows at the read bandwidth, its 4 K D flops per row at the sgemm
 * peak). The features are random (the work does not depend on their values). Targets:
 * private/non-private <= 1.2; private epoch <= 1.6x the bound. The epochs' CPU time (all
 * threads) is printed too: on a shared machine it is the work done, where wall time also counts
 * the waits for a core. "result" lines are for scripts/bench-against.
 * Usage: build/bench/train-linear [epochs] [examples] [physical batch] */
#include "bench/machine_limits.h"
#include "common/log.h"
#include "common/memory.h"
#include "common/progress.h"
#include "dp/dp.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { DIMENSION = 243 * 8 * 8, CLASSES = 10 };

/* CPU seconds of all the process's threads: on a shared machine the work done, where wall
 * time also counts the waits for a core. */
static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The best epoch's seconds and *cpu its CPU seconds; *seen = the rows it sampled. */
static double epoch_seconds(int private_mode, int epochs, size_t physical, const dp_data *train,
                            size_t *seen, double *cpu)
{
    dpkit_error err;
    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = CLASSES};
    dp_model model;
    dp_workspace ws;
    dp_train_state state;
    memset(&state, 0, sizeof state);
    dp_train_config c = {.private_mode = private_mode, .clip_norm = 0.1, .noise_multiplier = 1.5,
                         .batch_size = 8192, .physical_batch = physical, .epochs = epochs,
                         .delta = 1e-5};
    accountant_options_default(&c.accountant);
    dp_optimizer_config o;
    dp_optimizer_config_default(&o);
    o.lr = 4;
    o.momentum = 0.9;
    if (dp_model_create((dp_shape){DIMENSION, 1, 1}, CLASSES, &spec, 1, &model, &err) ||
        dp_workspace_create(&model, c.physical_batch, &ws, &err) ||
        dp_optimizer_create(&o, model.param_count, &state.optimizer, &err)) {
        fprintf(stderr, "train-linear: %s\n", err.message);
        exit(1);
    }
    rng_init_seed(&state.sampler, 1, RNG_STREAM_SAMPLING);
    rng_init_seed(&state.noise, 1, RNG_STREAM_NOISE);
    accountant_ledger_init(&state.ledger);
    double best = INFINITY;
    for (int e = 0; e < epochs; e++) {
        dp_epoch_metrics m;
        double start = progress_now(), cpu_start = cpu_seconds();
        if (dp_train_epoch(&model, &ws, &c, &state, train, NULL, &m, &err)) {
            fprintf(stderr, "train-linear: %s\n", err.message);
            exit(1);
        }
        double seconds = progress_now() - start;
        if (seconds < best) {
            best = seconds;
            *seen = m.seen;
            *cpu = cpu_seconds() - cpu_start;
        }
    }
    accountant_ledger_free(&state.ledger);
    dp_optimizer_free(&state.optimizer);
    dp_workspace_free(&ws);
    dp_model_free(&model);
    return best;
}

/* One epoch's Gaussian noise alone (a draw per parameter per step, as dp_train_epoch's):
 * wall seconds, and CPU seconds in *cpu. */
static double noise_seconds(size_t count, double *cpu)
{
    size_t P = (size_t)CLASSES * DIMENSION + CLASSES;
    float *g = calloc(P, sizeof *g);
    if (!g) {
        fprintf(stderr, "train-linear: out of memory for the noise\n");
        exit(1);
    }
    rng noise;
    rng_init_seed(&noise, 1, RNG_STREAM_NOISE);
    double start = progress_now(), cpu_start = cpu_seconds();
    for (long long s = 0; s < dp_steps_per_epoch(count, 8192); s++)
        dp_add_noise(&noise, g, P, 1.5, 0.1);
    *cpu = cpu_seconds() - cpu_start;
    double seconds = progress_now() - start;
    free(g);
    return seconds;
}

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 3;
    size_t count = argc > 2 ? (size_t)atol(argv[2]) : 50000;
    size_t physical = argc > 3 ? (size_t)atol(argv[3]) : 512;
    if (epochs < 1 || count < 8192 || physical < 1) {
        fprintf(stderr, "usage: train-linear [epochs >= 1] [examples >= 8192] [physical batch >= 1]\n");
        return 2;
    }
    log_set_level(DPKIT_LOG_WARN);
    size_t n = count * DIMENSION;
    float *x = memory_alloc_large(n * sizeof *x); /* as the feature cache's (features/cache.c) */
    int32_t *y = malloc(count * sizeof *y);
    if (!x || !y) {
        fprintf(stderr, "train-linear: out of memory for %zu x %d floats\n", count, DIMENSION);
        return 1;
    }
#pragma omp parallel
    {
        rng r;
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        rng_init_seed(&r, 100 + (uint64_t)t, RNG_STREAM_TEST);
#pragma omp for schedule(static)
        for (size_t j = 0; j < n; j++)
            x[j] = (float)(0.05 * (rng_uniform(&r) - 0.5));
    }
    for (size_t i = 0; i < count; i++)
        y[i] = (int32_t)(i % CLASSES);
    dp_data train = {.x = x, .y = y, .count = count};
    machine_limits limits;
    machine_limits_measure(&limits);
    /* Alternate the two modes so that both see the same machine state. */
    size_t seen, seen_plain, seen_again;
    double private_cpu, plain_cpu, again_cpu;
    double private_time = epoch_seconds(1, epochs, physical, &train, &seen, &private_cpu);
    double plain_time = epoch_seconds(0, epochs, physical, &train, &seen_plain, &plain_cpu);
    double private_again = epoch_seconds(1, epochs, physical, &train, &seen_again, &again_cpu);
    if (private_again < private_time) {
        private_time = private_again;
        seen = seen_again;
        private_cpu = again_cpu;
    }
    double noise_cpu, noise_time = noise_seconds(count, &noise_cpu);
    /* one read of each sampled row; logits and gradient sums: 2 K D flops each per row */
    double bytes = (double)seen * DIMENSION * sizeof(float);
    double flops = 4.0 * CLASSES * DIMENSION * (double)seen;
    double read_s = bytes / 1e9 / limits.read_gbs, flop_s = flops / 1e9 / limits.sgemm_gflops;
    double bound = read_s > flop_s ? read_s : flop_s;
    printf("features: %zu x %d float32 (%.2f GB), batch 8192, physical batch %zu, %lld steps per "
           "epoch\n", count, DIMENSION, (double)n * 4 / 1e9, physical, dp_steps_per_epoch(count, 8192));
    printf("read the sampled rows once: %.3f s  (%.2f GB at %.1f GB/s)\n", read_s, bytes / 1e9,
           limits.read_gbs);
    printf("their flops at sgemm peak:  %.3f s  (%.1f GFLOP at %.1f GFLOP/s)\n", flop_s,
           flops / 1e9, limits.sgemm_gflops);
    printf("epoch, private (DP-SGD):    %.3f s\n", private_time);
    printf("epoch, non-private:         %.3f s\n", plain_time);
    printf("CPU time of those epochs:   %.3f s private, %.3f s non-private (all threads)\n",
           private_cpu, plain_cpu);
    printf("an epoch's noise alone:     %.3f s, %.3f s CPU\n", noise_time, noise_cpu);
    printf("private / non-private:      %.3f  (target <= 1.2)\n", private_time / plain_time);
    printf("private epoch / bound:      %.3f  (target <= 1.6)\n", private_time / bound);
    printf("result linear.private_epoch_per_s %.4f\nresult linear.nonprivate_epoch_per_s %.4f\n",
           1 / private_time, 1 / plain_time);
    printf("result linear.private_epoch_per_cpu_s %.4f\n", 1 / private_cpu);
    free(x);
    free(y);
    return 0;
}
