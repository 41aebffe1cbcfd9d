/* The machine's limits, measured by the bench itself before its work: the read bandwidth of a
 * vectorized sum over a buffer far larger than the caches, and the sgemm peak of OpenBLAS on a
 * large square product, both with the bench's threads. Benches print their work against them. */
#ifndef DPKIT_BENCH_MACHINE_LIMITS_H
#define DPKIT_BENCH_MACHINE_LIMITS_H

typedef struct machine_limits {
    int threads;         /* OpenMP threads of the probes (and of the bench) */
    double read_gbs;     /* GB/s (1e9 bytes) reading float32 */
    double sgemm_gflops; /* GFLOP/s of float32 matrix products, BLAS with `threads` threads */
} machine_limits;

/* Measures both (about a second); prints one line saying what was measured. */
void machine_limits_measure(machine_limits *limits);

#endif
