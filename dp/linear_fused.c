/* Few-class linear softmax kernels on a block of rows read in place (dp/linear_rows.c drives
 * them): the logits and ||x_i||^2 of every row of the block in one pass over its columns, then,
 * from the same rows still in cache, the coefficient-weighted sum of the rows added to the K x D
 * weight gradient (docs/maths.md 4.4: the per-example gradient is the outer product
 * delta_i [x_i, 1]^T). Both passes walk the columns in tiles, so that a tile of W or of the
 * gradient stays in L2 while every row of the block goes past it. The running sums are GNU C
 * vectors that the compiler keeps in registers; SIMD_CLONES builds each kernel for AVX-512,
 * AVX2 and the baseline, and CPUs with AVX-512F take the 512-bit kernels of
 * dp/linear_fused_avx512.c instead. */
#include "dp/layers_internal.h"

#include <string.h>

/* TILE columns: 10 classes x 2048 floats of W (80 KB) stay in L2 while the block goes past
 * (512 and 1024 columns measured slower: more partial sums and shorter streams; 4096 and
 * 16384 no faster). Logits: two rows share each load of W and GROUP classes each load of a
 * row, 2 x 5 running sums in 10 vector registers; the rows' squared norms, in double, are a
 * short pass of their own over the pair's tile (then in L1/L2). Accumulation: GROUP classes of
 * VEC gradient columns stay in registers while every row of the block is added (one load of
 * the row and GROUP broadcast coefficients per row). */
enum { FUSED_TILE = 2048, FUSED_GROUP = DP_LINEAR_FUSED_GROUP, FUSED_VEC = 8 };
enum { FUSED_ROWS_MAX = 64 }; /* rows per accumulation call (larger blocks go in parts) */

/* The helpers are inlined into each clone, so that they too are built for its vector width. */
#define FUSED_INLINE inline __attribute__((always_inline))

/* FUSED_VEC floats that the compiler keeps in one register of each clone's width (GNU C vector
 * extension: AVX-512 and AVX2 clones use ymm registers, the baseline two xmm). Memory is read
 * and written through fused_vec_at: any alignment, and it may alias the float arrays. Macros,
 * not functions: a vector argument or result of a function built for the baseline would
 * change the ABI between clones. */
typedef float fused_vec __attribute__((vector_size(FUSED_VEC * sizeof(float))));
typedef float fused_vec_at __attribute__((vector_size(FUSED_VEC * sizeof(float)), aligned(4),
                                          may_alias));
#define FUSED_LOAD(p) (*(const fused_vec_at *)(p))
#define FUSED_STORE(p, v) (*(fused_vec_at *)(p) = (v))
#define FUSED_BROADCAST(a) ((fused_vec){(a), (a), (a), (a), (a), (a), (a), (a)})
_Static_assert(FUSED_VEC == 8, "FUSED_BROADCAST lists FUSED_VEC lanes");

/* out[g] = x0 . w[g], out[FUSED_GROUP + g] = x1 . w[g] over len columns. */
static FUSED_INLINE void fused_dots(const float *x0, const float *x1,
                                    const float *const w[FUSED_GROUP], size_t len,
                                    float out[2 * FUSED_GROUP])
{
    const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3], *w4 = w[4];
    fused_vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0};
    fused_vec b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0}, b4 = {0};
    size_t j = 0;
    for (; j + FUSED_VEC <= len; j += FUSED_VEC) {
        fused_vec u = FUSED_LOAD(x0 + j), v = FUSED_LOAD(x1 + j), w;
        w = FUSED_LOAD(w0 + j), a0 += u * w, b0 += v * w;
        w = FUSED_LOAD(w1 + j), a1 += u * w, b1 += v * w;
        w = FUSED_LOAD(w2 + j), a2 += u * w, b2 += v * w;
        w = FUSED_LOAD(w3 + j), a3 += u * w, b3 += v * w;
        w = FUSED_LOAD(w4 + j), a4 += u * w, b4 += v * w;
    }
    fused_vec sums[2 * FUSED_GROUP] = {a0, a1, a2, a3, a4, b0, b1, b2, b3, b4};
    for (int k = 0; k < 2 * FUSED_GROUP; k++) {
        out[k] = 0;
        for (int l = 0; l < FUSED_VEC; l++)
            out[k] += sums[k][l];
    }
    for (; j < len; j++) /* the last len % FUSED_VEC columns */
        for (int g = 0; g < FUSED_GROUP; g++)
            out[g] += x0[j] * w[g][j], out[FUSED_GROUP + g] += x1[j] * w[g][j];
}

/* *s0 += ||x0||^2, *s1 += ||x1||^2 over len columns, in double like the generic path's norms
 * (dp/layer_linear.c): the squares of floats are exact in double and their sum loses nothing
 * that matters, so the clip factor's margin for rounding (dp_clip_factor) still holds. A float
 * sum of thousands of squares could be off by more than that margin. */
static FUSED_INLINE void fused_squares(const float *restrict x0, const float *restrict x1,
                                       size_t len, double *s0, double *s1)
{
    double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
    for (size_t j = 0; j < len; j++)
        a += (double)x0[j] * x0[j], b += (double)x1[j] * x1[j];
    *s0 += a, *s1 += b;
}

/* The accumulation's group kernel (layers_internal.h): g[c][j] += sum_i a[i K + c] rows[i][j]
 * for c < FUSED_GROUP over len columns. */
SIMD_CLONES
static void fused_accumulate_group(const float *const *rows, size_t m, const float *a, size_t K,
                                   float *const *g, size_t len)
{
    float *g0 = g[0], *g1 = g[1], *g2 = g[2], *g3 = g[3], *g4 = g[4];
    size_t j = 0;
    for (; j + FUSED_VEC <= len; j += FUSED_VEC) {
        fused_vec s0 = FUSED_LOAD(g0 + j), s1 = FUSED_LOAD(g1 + j), s2 = FUSED_LOAD(g2 + j);
        fused_vec s3 = FUSED_LOAD(g3 + j), s4 = FUSED_LOAD(g4 + j);
        for (size_t i = 0; i < m; i++) {
            fused_vec x = FUSED_LOAD(rows[i] + j);
            const float *c = a + i * K;
            s0 += FUSED_BROADCAST(c[0]) * x, s1 += FUSED_BROADCAST(c[1]) * x;
            s2 += FUSED_BROADCAST(c[2]) * x, s3 += FUSED_BROADCAST(c[3]) * x;
            s4 += FUSED_BROADCAST(c[4]) * x;
        }
        FUSED_STORE(g0 + j, s0), FUSED_STORE(g1 + j, s1), FUSED_STORE(g2 + j, s2);
        FUSED_STORE(g3 + j, s3), FUSED_STORE(g4 + j, s4);
    }
    for (; j < len; j++) /* the last len % FUSED_VEC columns */
        for (size_t i = 0; i < m; i++)
            for (int k = 0; k < FUSED_GROUP; k++)
                g[k][j] += a[i * K + k] * rows[i][j];
}

SIMD_CLONES
static void fused_logits_run(const float *const *rows, size_t m, const float *weight,
                             size_t stride, size_t D, size_t K, float *logits, double *squared)
{
    for (size_t t = 0; t < D; t += FUSED_TILE) {
        size_t len = D - t < FUSED_TILE ? D - t : FUSED_TILE;
        for (size_t i = 0; i < m; i += 2) {
            /* an odd last row is paired with itself; its second results are dropped */
            size_t i1 = i + 1 < m ? i + 1 : i;
            const float *x0 = rows[i] + t, *x1 = rows[i1] + t;
            if (squared) {
                double s0 = 0, s1 = 0;
                fused_squares(x0, x1, len, &s0, &s1);
                squared[i] += s0;
                if (i1 != i)
                    squared[i1] += s1;
            }
            for (size_t c = 0; c < K; c += FUSED_GROUP) {
                const float *w[FUSED_GROUP];
                float out[2 * FUSED_GROUP];
                for (size_t g = 0; g < FUSED_GROUP; g++) /* past K: class K-1 again, dropped */
                    w[g] = weight + (c + g < K ? c + g : K - 1) * stride + t;
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

void dp_linear_fused_accumulate_with(dp_linear_fused_group_fn group, const float *const *rows,
                                     size_t m, const float *coef, size_t D, size_t K,
                                     float *grad, size_t stride)
{
    float spare[FUSED_TILE]; /* the sums of classes past K, not kept */
    float padded[FUSED_GROUP * FUSED_ROWS_MAX]; /* a last group's coefficients, 0 past K */
    if (K % FUSED_GROUP)
        memset(spare, 0, sizeof spare);
    for (size_t t = 0; t < D; t += FUSED_TILE) {
        size_t len = D - t < FUSED_TILE ? D - t : FUSED_TILE;
        const float *x[FUSED_ROWS_MAX];
        for (size_t first = 0; first < m; first += FUSED_ROWS_MAX) {
            size_t rows_here = m - first < FUSED_ROWS_MAX ? m - first : FUSED_ROWS_MAX;
            for (size_t i = 0; i < rows_here; i++)
                x[i] = rows[first + i] + t;
            for (size_t c = 0; c < K; c += FUSED_GROUP) {
                float *g[FUSED_GROUP];
                const float *a = coef + first * K + c;
                size_t a_stride = K;
                for (size_t k = 0; k < FUSED_GROUP; k++)
                    g[k] = c + k < K ? grad + (c + k) * stride + t : spare;
                if (c + FUSED_GROUP > K) {
                    for (size_t i = 0; i < rows_here; i++)
                        for (size_t k = 0; k < FUSED_GROUP; k++)
                            padded[i * FUSED_GROUP + k] = c + k < K ? a[i * K + k] : 0.0f;
                    a = padded, a_stride = FUSED_GROUP;
                }
                group(x, rows_here, a, a_stride, g, len);
            }
        }
    }
}

/* Not cloned themselves: a cloned function's resolver would be exported from libdpkit.so. */
void dp_linear_fused_logits_portable(const float *const *rows, size_t m, const float *weight,
                                     size_t stride, size_t D, size_t K, float *logits,
                                     double *squared)
{
    fused_logits_run(rows, m, weight, stride, D, K, logits, squared);
}

/* The group kernel's clone is picked once per call of it (a few per block of rows). */
void dp_linear_fused_accumulate_portable(const float *const *rows, size_t m, const float *coef,
                                         size_t D, size_t K, float *grad, size_t stride)
{
    dp_linear_fused_accumulate_with(fused_accumulate_group, rows, m, coef, D, K, grad, stride);
}

/* The 512-bit kernels (dp/linear_fused_avx512.c) where the CPU has them. */
void dp_linear_fused_logits(const float *const *rows, size_t m, const float *weight,
                            size_t stride, size_t D, size_t K, float *logits, double *squared)
{
#ifdef DP_LINEAR_FUSED_AVX512
    if (dp_linear_fused_has_avx512()) {
        dp_linear_fused_logits_avx512(rows, m, weight, stride, D, K, logits, squared);
        return;
    }
#endif
    fused_logits_run(rows, m, weight, stride, D, K, logits, squared);
}

void dp_linear_fused_accumulate(const float *const *rows, size_t m, const float *coef,
                                size_t D, size_t K, float *grad, size_t stride)
{
    dp_linear_fused_group_fn group = fused_accumulate_group;
#ifdef DP_LINEAR_FUSED_AVX512
    if (dp_linear_fused_has_avx512())
        group = dp_linear_fused_accumulate_group_avx512;
#endif
    dp_linear_fused_accumulate_with(group, rows, m, coef, D, K, grad, stride);
}
