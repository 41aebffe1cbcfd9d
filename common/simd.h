/* Hot loops compiled once per vector width: SIMD_CLONES before a function makes gcc emit an
 * AVX-512, an AVX2 and a baseline version and pick the widest the CPU runs at load time (an
 * ifunc); other compilers and targets get the baseline only. The loops inside should be plain
 * arrays with `#pragma omp simd` where the compiler cannot prove independence. */
#ifndef DPKIT_COMMON_SIMD_H
#define DPKIT_COMMON_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SIMD_CLONES
#endif

#endif
