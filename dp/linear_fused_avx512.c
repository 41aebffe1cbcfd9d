/* The few-class linear softmax kernels of dp/linear_fused.c in 512-bit registers, for CPUs with
 * AVX-512F (picked at run time by dp_linear_fused_logits/_accumulate): the same sums, blocked
 * for 32 zmm registers. Logits: four rows share each load of W and five classes each load of a
 * row (20 running sums); the rows' squared norms, in double, come from the same loads of the
 * first class group. Accumulation: five classes of four vectors of gradient columns stay in
 * registers while every row of the block is added. Column tails are masked loads and stores. */
#include "dp/layers_internal.h"

#ifdef DP_LINEAR_FUSED_AVX512
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define AVX512_INLINE AVX512 inline __attribute__((always_inline))
/* The loops over rows, classes and vectors are unrolled, so that their sums stay in registers. */
#define Z_UNROLL _Pragma("GCC unroll 8")

/* ROWS rows share each load of W, GROUP classes each load of a row. The logits walk rows in
 * pieces of up to LOGITS_TILE columns (5 classes of W, 320 KB, stay in L2): each row read from
 * memory is one long stream that the hardware prefetcher follows (pieces of 2048 columns
 * measured a fifth slower, a row group's four short streams restarting every 8 KB). The
 * accumulation runs in dp/linear_fused.c's driver (its column tiles, the classes past K). */
enum { Z_LOGITS_TILE = 16384, Z_ROWS = 4, Z_GROUP = DP_LINEAR_FUSED_GROUP, Z_VEC = 16, Z_SPAN = 4 };

int dp_linear_fused_has_avx512(void)
{
    return __builtin_cpu_supports("avx512f");
}

/* acc += the squares of v's 16 floats, as 8 + 8 doubles (exact products, docs/maths.md 4.4). */
static AVX512_INLINE __m512d z_add_squares(__m512d acc, __m512 v)
{
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    return _mm512_fmadd_pd(hi, hi, _mm512_fmadd_pd(lo, lo, acc));
}

/* One step of z_dots: the columns of `mask` from j on (all 16 but in the last step). */
static AVX512_INLINE void z_dots_step(const float *const x[Z_ROWS],
                                      const float *const w[Z_GROUP], size_t j, __mmask16 mask,
                                      __m512 s[Z_ROWS][Z_GROUP], __m512d q[Z_ROWS], int squares)
{
    __m512 v[Z_ROWS];
    Z_UNROLL
    for (int r = 0; r < Z_ROWS; r++) {
        v[r] = _mm512_maskz_loadu_ps(mask, x[r] + j);
        if (squares)
            q[r] = z_add_squares(q[r], v[r]);
    }
    Z_UNROLL
    for (int g = 0; g < Z_GROUP; g++) {
        __m512 c = _mm512_maskz_loadu_ps(mask, w[g] + j);
        Z_UNROLL
        for (int r = 0; r < Z_ROWS; r++)
            s[r][g] = _mm512_fmadd_ps(v[r], c, s[r][g]);
    }
}

/* out[r GROUP + g] = x[r] . w[g] over len columns; with sq, sq[r] += ||x[r]||^2 in double. */
static AVX512_INLINE void z_dots(const float *const x[Z_ROWS], const float *const w[Z_GROUP],
                                 size_t len, float out[Z_ROWS * Z_GROUP], double *sq)
{
    __m512 s[Z_ROWS][Z_GROUP];
    __m512d q[Z_ROWS];
    Z_UNROLL
    for (int r = 0; r < Z_ROWS; r++) {
        q[r] = _mm512_setzero_pd();
        Z_UNROLL
        for (int g = 0; g < Z_GROUP; g++)
            s[r][g] = _mm512_setzero_ps();
    }
    size_t j = 0;
    for (; j + Z_VEC <= len; j += Z_VEC)
        z_dots_step(x, w, j, (__mmask16)0xFFFF, s, q, sq != NULL);
    if (j < len)
        z_dots_step(x, w, j, (__mmask16)((1u << (len - j)) - 1), s, q, sq != NULL);
    Z_UNROLL
    for (int r = 0; r < Z_ROWS; r++) {
        if (sq)
            sq[r] += _mm512_reduce_add_pd(q[r]);
        Z_UNROLL
        for (int g = 0; g < Z_GROUP; g++)
            out[r * Z_GROUP + g] = _mm512_reduce_add_ps(s[r][g]);
    }
}

AVX512
void dp_linear_fused_logits_avx512(const float *const *rows, size_t m, const float *weight,
                                   size_t stride, size_t D, size_t K, float *logits,
                                   double *squared)
{
    for (size_t t = 0; t < D; t += Z_LOGITS_TILE) {
        size_t len = D - t < Z_LOGITS_TILE ? D - t : Z_LOGITS_TILE;
        for (size_t i = 0; i < m; i += Z_ROWS) {
            /* a last group of fewer rows repeats its last row; those results are dropped */
            const float *x[Z_ROWS];
            size_t here = m - i < Z_ROWS ? m - i : Z_ROWS;
            for (size_t r = 0; r < Z_ROWS; r++)
                x[r] = rows[i + (r < here ? r : here - 1)] + t;
            for (size_t c = 0; c < K; c += Z_GROUP) {
                const float *w[Z_GROUP];
                float out[Z_ROWS * Z_GROUP];
                double sq[Z_ROWS] = {0};
                for (size_t g = 0; g < Z_GROUP; g++) /* past K: class K-1 again, dropped */
                    w[g] = weight + (c + g < K ? c + g : K - 1) * stride + t;
                if (c == 0 && squared)
                    z_dots(x, w, len, out, sq);
                else
                    z_dots(x, w, len, out, NULL);
                for (size_t r = 0; r < here; r++) {
                    if (c == 0 && squared)
                        squared[i + r] += sq[r];
                    for (size_t g = 0; g < Z_GROUP && c + g < K; g++)
                        logits[(i + r) * K + c + g] += out[r * Z_GROUP + g];
                }
            }
        }
    }
}

/* The accumulation's group kernel (layers_internal.h), SPAN vectors of columns at a time. */
AVX512
void dp_linear_fused_accumulate_group_avx512(const float *const *x, size_t m, const float *a,
                                             size_t K, float *const *g, size_t len)
{
    size_t j = 0;
    for (; j + Z_SPAN * Z_VEC <= len; j += Z_SPAN * Z_VEC) {
        __m512 s[Z_GROUP][Z_SPAN];
        Z_UNROLL
        for (int c = 0; c < Z_GROUP; c++)
            Z_UNROLL
            for (int v = 0; v < Z_SPAN; v++)
                s[c][v] = _mm512_loadu_ps(g[c] + j + v * Z_VEC);
        for (size_t i = 0; i < m; i++) {
            __m512 u[Z_SPAN];
            Z_UNROLL
            for (int v = 0; v < Z_SPAN; v++)
                u[v] = _mm512_loadu_ps(x[i] + j + v * Z_VEC);
            Z_UNROLL
            for (int c = 0; c < Z_GROUP; c++) {
                __m512 b = _mm512_set1_ps(a[i * K + c]);
                Z_UNROLL
                for (int v = 0; v < Z_SPAN; v++)
                    s[c][v] = _mm512_fmadd_ps(b, u[v], s[c][v]);
            }
        }
        Z_UNROLL
        for (int c = 0; c < Z_GROUP; c++)
            Z_UNROLL
            for (int v = 0; v < Z_SPAN; v++)
                _mm512_storeu_ps(g[c] + j + v * Z_VEC, s[c][v]);
    }
    for (; j < len; j += Z_VEC) { /* the last len % (SPAN VEC) columns, a vector at a time */
        __mmask16 mask = j + Z_VEC <= len ? (__mmask16)0xFFFF : (__mmask16)((1u << (len - j)) - 1);
        __m512 s[Z_GROUP];
        Z_UNROLL
        for (int c = 0; c < Z_GROUP; c++)
            s[c] = _mm512_maskz_loadu_ps(mask, g[c] + j);
        for (size_t i = 0; i < m; i++) {
            __m512 u = _mm512_maskz_loadu_ps(mask, x[i] + j);
            Z_UNROLL
            for (int c = 0; c < Z_GROUP; c++)
                s[c] = _mm512_fmadd_ps(_mm512_set1_ps(a[i * K + c]), u, s[c]);
        }
        Z_UNROLL
        for (int c = 0; c < Z_GROUP; c++)
            _mm512_mask_storeu_ps(g[c] + j, mask, s[c]);
    }
}

#endif
