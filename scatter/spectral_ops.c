/* The element-wise steps of the scattering traversal: filter product with Fourier-domain
 * subsampling (compiled once per vector width, common/simd.h), and the complex modulus
 * (docs/maths.md 1.6, 1.7). */
#include "scatter/plan_internal.h"

#include "common/simd.h"

#ifdef __SSE2__
#include <immintrin.h>
#endif
#include <math.h>
#include <string.h>

/* Product with a real filter followed by Sub_k, the Fourier-domain subsampling of
 * docs/maths.md 1.6: out[u,v] = sum over the k x k aliases of in .* w (the 1/k^2 is inside w).
 * in and w are m x n (w stores each value twice, matching re/im); out has m/k rows of
 * out_cols <= n/k complex values (out_cols < n/k gives the first columns only). */
SIMD_CLONES
static void fold_product(const float *restrict in, const float *restrict w, size_t m, size_t n,
                         size_t k, size_t out_cols, float *restrict out)
{
    size_t mo = m / k, no = n / k, width = 2 * out_cols;
    if (k == 1 && out_cols == n) {
#pragma omp simd
        for (size_t x = 0; x < 2 * m * n; x++)
            out[x] = in[x] * w[x];
        return;
    }
    if (k == 2) {
        /* The common case (one octave down): the four aliases in one pass. */
        for (size_t u = 0; u < mo; u++) {
            float *restrict o = out + u * width;
            const float *a0 = in + 2 * u * n, *a1 = a0 + 2 * no, *a2 = a0 + 2 * mo * n,
                        *a3 = a2 + 2 * no;
            const float *b0 = w + 2 * u * n, *b1 = b0 + 2 * no, *b2 = b0 + 2 * mo * n,
                        *b3 = b2 + 2 * no;
#pragma omp simd
            for (size_t x = 0; x < width; x++)
                o[x] = (a0[x] * b0[x] + a1[x] * b1[x]) + (a2[x] * b2[x] + a3[x] * b3[x]);
        }
        return;
    }
    memset(out, 0, mo * width * sizeof *out);
    for (size_t i = 0; i < k; i++)
        for (size_t u = 0; u < mo; u++) {
            float *o = out + u * width;
            size_t row = (i * mo + u) * n;
            for (size_t l = 0; l < k; l++) {
                const float *a = in + 2 * (row + l * no);
                const float *b = w + 2 * (row + l * no);
#pragma omp simd
                for (size_t x = 0; x < width; x++)
                    o[x] += a[x] * b[x];
            }
        }
}

/* The clones are static: exported ones would leave libdpkit.so's namespace (their ifunc
 * resolvers ignore -fvisibility=hidden). */
void scatter_fold_product(const float *in, const float *w, size_t m, size_t n, size_t k,
                          size_t out_cols, float *out)
{
    fold_product(in, w, m, n, k, out_cols, out);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SPECTRAL_OPS_AVX2 1
/* Eight moduli per step. Within each 128-bit lane the shuffles give real parts in the order
 * 0 1 4 5 | 2 3 6 7; the 64-bit permute puts them back in order. Returns how many were done. */
__attribute__((target("avx2"))) static size_t modulus_avx2(const float *restrict f,
                                                           size_t count, float *restrict u)
{
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 a = _mm256_loadu_ps(f + 2 * i), b = _mm256_loadu_ps(f + 2 * i + 8);
        __m256 re = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        __m256 im = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
        __m256 r = _mm256_sqrt_ps(_mm256_add_ps(_mm256_mul_ps(re, re), _mm256_mul_ps(im, im)));
        r = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(r), _MM_SHUFFLE(3, 1, 2, 0)));
        _mm256_storeu_ps(u + i, r);
    }
    return i;
}
#endif

/* |z| elementwise. sqrtf itself does not vectorise (it may set errno, and gcc 12 does not take
 * -fno-math-errno per function), hence the AVX2 and SSE paths. Every path computes the same
 * correctly rounded sqrt of the same sum, so the results do not depend on the path. */
void scatter_modulus(const fftwf_complex *restrict z, size_t count, float *restrict u)
{
    const float *f = (const float *)z;
    size_t i = 0;
#ifdef SPECTRAL_OPS_AVX2
    if (__builtin_cpu_supports("avx2"))
        i = modulus_avx2(f, count, u);
#endif
#ifdef __SSE2__
    for (; i + 4 <= count; i += 4) {
        __m128 a = _mm_loadu_ps(f + 2 * i), b = _mm_loadu_ps(f + 2 * i + 4);
        __m128 re = _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        __m128 im = _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
        __m128 sq = _mm_add_ps(_mm_mul_ps(re, re), _mm_mul_ps(im, im));
        _mm_storeu_ps(u + i, _mm_sqrt_ps(sq));
    }
#endif
    for (; i < count; i++)
        u[i] = sqrtf(f[2 * i] * f[2 * i] + f[2 * i + 1] * f[2 * i + 1]);
}
