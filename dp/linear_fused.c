/* Few-class linear softmax kernels on a block of rows read in place (dp/linear_rows.c drives
 * them): the logits and ||x_i||^2 of every row of the block in one pass over its columns, then,
 * from the same rows still in cache, the coefficient-weighted sum of the rows added to the K x D
 * weight gradient (docs/maths.md 4.4: the per-example gradient is the outer product
 * delta_i [x_i, 1]^T). Both passes walk the columns in tiles, so that a tile of W or of the
 * gradient stays in L1/L2 while every row of the block goes past it. The loops are plain arrays
 * that the compiler vectorizes; SIMD_CLONES builds them for AVX-512, AVX2 and the baseline. */
#include "dp/layers_internal.h"

/* TILE columns: 10 classes x 2048 floats of W (80 KB) stay in L2 while the block goes past
 * (1024 or 512 columns, in L1, measured slower: more partial sums and shorter streams).
 * PAIR rows share each load of W; GROUP classes share each load of a row (2 x 5 running sums
 * fill 10 of the 16 AVX2 registers). FAN rows are added into one load and store of the gradient. */
/* The helpers are inlined into each clone, so that they too are built for its vector width. */
#ifdef __GNUC__
#define FUSED_INLINE inline __attribute__((always_inline))
#else
#define FUSED_INLINE inline
#endif

enum { FUSED_TILE = 2048, FUSED_GROUP = 5, FUSED_FAN = 8 };

/* out[g] = x0 . w[g], out[FUSED_GROUP + g] = x1 . w[g] over len columns. */
static FUSED_INLINE void fused_dots(const float *restrict x0, const float *restrict x1,
                                    const float *const w[FUSED_GROUP], size_t len,
                                    float out[2 * FUSED_GROUP])
{
    const float *restrict w0 = w[0], *restrict w1 = w[1], *restrict w2 = w[2];
    const float *restrict w3 = w[3], *restrict w4 = w[4];
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3, a4, b0, b1, b2, b3, b4)
    for (size_t j = 0; j < len; j++) {
        float u = x0[j], v = x1[j];
        a0 += u * w0[j], b0 += v * w0[j];
        a1 += u * w1[j], b1 += v * w1[j];
        a2 += u * w2[j], b2 += v * w2[j];
        a3 += u * w3[j], b3 += v * w3[j];
        a4 += u * w4[j], b4 += v * w4[j];
    }
    out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3, out[4] = a4;
    out[5] = b0, out[6] = b1, out[7] = b2, out[8] = b3, out[9] = b4;
}

/* *s0 = ||x0||^2, *s1 = ||x1||^2 over len columns. */
static FUSED_INLINE void fused_squares(const float *restrict x0, const float *restrict x1,
                                       size_t len, float *s0, float *s1)
{
    float a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
    for (size_t j = 0; j < len; j++)
        a += x0[j] * x0[j], b += x1[j] * x1[j];
    *s0 = a, *s1 = b;
}

/* g[j] += sum_f a[f] x[f][j] over len columns. */
static FUSED_INLINE void fused_axpy(float *restrict g, const float *const x[FUSED_FAN],
                                    const float a[FUSED_FAN], size_t len)
{
    const float *restrict x0 = x[0], *restrict x1 = x[1], *restrict x2 = x[2];
    const float *restrict x3 = x[3], *restrict x4 = x[4], *restrict x5 = x[5];
    const float *restrict x6 = x[6], *restrict x7 = x[7];
    float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7];
#pragma omp simd
    for (size_t j = 0; j < len; j++)
        g[j] += a0 * x0[j] + a1 * x1[j] + a2 * x2[j] + a3 * x3[j] + a4 * x4[j] + a5 * x5[j] +
                a6 * x6[j] + a7 * x7[j];
}

SIMD_CLONES
void dp_linear_fused_logits(const float *const *rows, size_t m, const float *weight, size_t D,
                            size_t K, float *logits, double *squared)
{
    for (size_t t = 0; t < D; t += FUSED_TILE) {
        size_t len = D - t < FUSED_TILE ? D - t : FUSED_TILE;
        for (size_t i = 0; i < m; i += 2) {
            /* an odd last row is paired with itself; its second results are dropped */
            size_t i1 = i + 1 < m ? i + 1 : i;
            const float *x0 = rows[i] + t, *x1 = rows[i1] + t;
            if (squared) {
                float s0, s1;
                fused_squares(x0, x1, len, &s0, &s1);
                squared[i] += s0;
                if (i1 != i)
                    squared[i1] += s1;
            }
            for (size_t c = 0; c < K; c += FUSED_GROUP) {
                const float *w[FUSED_GROUP];
                float out[2 * FUSED_GROUP];
                for (size_t g = 0; g < FUSED_GROUP; g++) /* past K: class K-1 again, dropped */
                    w[g] = weight + (c + g < K ? c + g : K - 1) * D + t;
                fused_dots(x0, x1, w, len, out);
                for (size_t g = 0; g < FUSED_GROUP && c + g < K; g++) {
                    logits[i * K + c + g] += out[g];
                    if (i1 != i)
                        logits[i1 * K + c + g] += out[FUSED_GROUP + g];
                }
            }
        }
    }
}

SIMD_CLONES
void dp_linear_fused_accumulate(const float *const *rows, size_t m, const float *coef, size_t D,
                                size_t K, float *grad)
{
    for (size_t t = 0; t < D; t += FUSED_TILE) {
        size_t len = D - t < FUSED_TILE ? D - t : FUSED_TILE;
        for (size_t i = 0; i < m; i += FUSED_FAN) {
            const float *x[FUSED_FAN];
            for (size_t f = 0; f < FUSED_FAN; f++) /* past m: the last row again, weight 0 */
                x[f] = rows[i + f < m ? i + f : m - 1] + t;
            for (size_t c = 0; c < K; c++) {
                float a[FUSED_FAN];
                for (size_t f = 0; f < FUSED_FAN; f++)
                    a[f] = i + f < m ? coef[(i + f) * K + c] : 0.0f;
                fused_axpy(grad + c * D + t, x, a, len);
            }
        }
    }
}
