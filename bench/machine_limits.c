/* Read-bandwidth and sgemm-peak probes for the benches (bench/machine_limits.h): each the best
 * of a few repetitions, so a busy machine lowers them less than it lowers a single run. */
#include "bench/machine_limits.h"
#include "common/progress.h"
#include "common/simd.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

enum { READ_FLOATS = 1 << 27, /* 512 MiB */ SGEMM_N = 2048, REPEATS = 3 };

/* Sum of x[0..count), 64 independent lanes so that the adds never wait on each other. */
SIMD_CLONES
static float lane_sum(const float *x, size_t count)
{
    float lanes[64] = {0};
    size_t j = 0;
    for (; j + 64 <= count; j += 64)
#pragma omp simd
        for (size_t k = 0; k < 64; k++)
            lanes[k] += x[j + k];
    float total = 0;
    for (; j < count; j++)
        total += x[j];
    for (size_t k = 0; k < 64; k++)
        total += lanes[k];
    return total;
}

static double read_gbs(int threads)
{
    float *x = aligned_alloc(64, (size_t)READ_FLOATS * sizeof *x);
    if (!x) {
        fprintf(stderr, "machine limits: out of memory for the read probe\n");
        exit(1);
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (size_t j = 0; j < READ_FLOATS; j++) /* each thread touches the slice it will read */
        x[j] = (float)(j & 7);
    double best = 0, sink = 0;
    for (int r = 0; r < REPEATS; r++) {
        double start = progress_now(), total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            size_t t = (size_t)omp_get_thread_num(), n = (size_t)omp_get_num_threads();
            size_t first = READ_FLOATS / n * t;
            size_t end = t + 1 == n ? READ_FLOATS : READ_FLOATS / n * (t + 1);
            total += lane_sum(x + first, end - first);
        }
        double gbs = (double)READ_FLOATS * sizeof *x / 1e9 / (progress_now() - start);
        best = gbs > best ? gbs : best;
        sink += total;
    }
    free(x);
    return sink < 0 ? -best : best; /* the sums are non-negative: keeps them computed */
}

static double sgemm_gflops(int threads)
{
    size_t n = SGEMM_N;
    float *a = malloc(3 * n * n * sizeof *a);
    if (!a) {
        fprintf(stderr, "machine limits: out of memory for the sgemm probe\n");
        exit(1);
    }
    for (size_t j = 0; j < 3 * n * n; j++)
        a[j] = (float)((j * 2654435761u) % 1000) / 1000.0f;
    int previous = openblas_get_num_threads();
    openblas_set_num_threads(threads);
    double best = 0;
    for (int r = 0; r < REPEATS; r++) {
        double start = progress_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a,
                    (int)n, a + n * n, (int)n, 0.0f, a + 2 * n * n, (int)n);
        double gflops = 2.0 * (double)n * n * n / 1e9 / (progress_now() - start);
        best = gflops > best ? gflops : best;
    }
    openblas_set_num_threads(previous);
    free(a);
    return best;
}

void machine_limits_measure(machine_limits *limits)
{
    limits->threads = omp_get_max_threads();
    limits->read_gbs = read_gbs(limits->threads);
    limits->sgemm_gflops = sgemm_gflops(limits->threads);
    printf("machine limits (%d threads, best of %d): read %.1f GB/s (vectorized sum over %d MiB), "
           "sgemm %.1f GFLOP/s (OpenBLAS, %dx%d)\n",
           limits->threads, REPEATS, limits->read_gbs, (int)((size_t)READ_FLOATS * 4 >> 20),
           limits->sgemm_gflops, SGEMM_N, SGEMM_N);
    fflush(stdout);
}
