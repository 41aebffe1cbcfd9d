/* The low-pass of a real signal computed in space: phi is separable, so the subsampled and
 * unpadded low-pass output is two small matrix products, out = R U C^T (docs/maths.md 1.12).
 * Made once per resolution at plan time; used where the signal's spectrum would otherwise be
 * computed for the low-pass alone (the order-2 paths). */
#include "scatter/plan_internal.h"

#include "common/memory.h"
#include "common/simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rank-1 factors of phi at one level, phi[k,l] = c[k] d[l]: the first column and the first row
 * scaled by phi[0,0]. Fails when phi is not separable to float32 rounding. */
static int separate(const float *phi, size_t m, size_t n, double *c, double *d)
{
    double corner = phi[0], largest = 0, worst = 0;
    for (size_t k = 0; k < m; k++)
        c[k] = phi[k * n];
    for (size_t l = 0; l < n; l++)
        d[l] = phi[l] / corner;
    for (size_t k = 0; k < m; k++)
        for (size_t l = 0; l < n; l++) {
            largest = fmax(largest, fabs(phi[k * n + l]));
            worst = fmax(worst, fabs(phi[k * n + l] - c[k] * d[l]));
        }
    return corner > 0 && worst <= 1e-6 * largest ? 0 : -1;
}

/* Rows of the subsample-and-unpad operator on one axis of size `size`: row a is the circular
 * kernel h = IDFT(spectrum) read backwards from sample step (a + 1), i.e.
 * out[a * stride + p] = h[(step (a+1) - p) mod size] for p < size. spectrum is even, so h is
 * the cosine sum. Entries for a >= count (padding rows) are zero; h is size scratch doubles. */
static void axis_operator(const double *spectrum, size_t size, size_t step, size_t count,
                          size_t rows, double *h, float *out)
{
    for (size_t p = 0; p < size; p++) {
        double s = 0;
        for (size_t k = 0; k < size; k++)
            s += spectrum[k] * cos(2 * M_PI * (double)((k * p) % size) / (double)size);
        h[p] = s / (double)size;
    }
    memset(out, 0, rows * size * sizeof *out);
    for (size_t a = 0; a < count; a++)
        for (size_t p = 0; p < size; p++)
            out[a * size + p] = (float)h[(step * (a + 1) + size - p) % size];
}

size_t scatter_space_low_width(size_t out_cols)
{
    return (out_cols + 7) / 8 * 8;
}

int scatter_space_low_create(const float *phi, size_t m, size_t n, size_t step, size_t out_rows,
                             size_t out_cols, scatter_space_low *low, dpkit_error *err)
{
    low->m = m;
    low->n = n;
    low->out_rows = out_rows;
    low->out_cols = out_cols;
    low->padded_cols = scatter_space_low_width(out_cols);
    double *c = calloc(m, sizeof *c), *d = calloc(n, sizeof *d);
    double *h = malloc((m > n ? m : n) * sizeof *h);
    float *col_rows = malloc(low->padded_cols * n * sizeof *col_rows);
    low->rows = malloc(out_rows * m * sizeof *low->rows);
    low->cols = malloc(n * low->padded_cols * sizeof *low->cols);
    int status = -1;
    if (!c || !d || !h || !col_rows || !low->rows || !low->cols) {
        error_set(err, "scatter plan: out of memory");
        goto done;
    }
    if (separate(phi, m, n, c, d)) {
        error_set(err, "scatter plan: the %zu x %zu low-pass filter is not separable", m, n);
        goto done;
    }
    axis_operator(c, m, step, out_rows, out_rows, h, low->rows);
    /* Columns are applied as U C^T: stored transposed (n x padded_cols) for unit-stride rows. */
    axis_operator(d, n, step, out_cols, low->padded_cols, h, col_rows);
    for (size_t q = 0; q < n; q++)
        for (size_t b = 0; b < low->padded_cols; b++)
            low->cols[q * low->padded_cols + b] = col_rows[b * n + q];
    status = 0;
done:
    MEMORY_FREE_ALL(c, d, h, col_rows);
    return status;
}

void scatter_space_low_free(scatter_space_low *low)
{
    free(low->rows);
    free(low->cols);
    low->rows = low->cols = NULL;
}

/* Eight floats as one value: GCC/Clang vector extensions, one AVX register or two SSE ones, so
 * that the accumulators below stay in registers. */
typedef float space_vec8 __attribute__((vector_size(32)));

/* dst[i * dst_stride + 0..7] = sum over k < count of a[i * a_stride + k] b[k * b_stride + 0..7]
 * for i < 4 (four rows: independent accumulators, so the multiply-adds overlap) or i < 1. */
static inline void rows4_times8(const float *restrict a, size_t a_stride, size_t count,
                                const float *restrict b, size_t b_stride, float *restrict dst,
                                size_t dst_stride)
{
    space_vec8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    for (size_t k = 0; k < count; k++) {
        space_vec8 bk;
        memcpy(&bk, b + k * b_stride, sizeof bk);
        s0 += a[k] * bk;
        s1 += a[a_stride + k] * bk;
        s2 += a[2 * a_stride + k] * bk;
        s3 += a[3 * a_stride + k] * bk;
    }
    memcpy(dst, &s0, sizeof s0);
    memcpy(dst + dst_stride, &s1, sizeof s1);
    memcpy(dst + 2 * dst_stride, &s2, sizeof s2);
    memcpy(dst + 3 * dst_stride, &s3, sizeof s3);
}

static inline void row1_times8(const float *restrict a, size_t count, const float *restrict b,
                               size_t b_stride, float *restrict dst)
{
    space_vec8 s = {0};
    for (size_t k = 0; k < count; k++) {
        space_vec8 bk;
        memcpy(&bk, b + k * b_stride, sizeof bk);
        s += a[k] * bk;
    }
    memcpy(dst, &s, sizeof s);
}

/* dst (rows x w, row stride w) = a (rows x count, row stride a_stride) times b (count x w, row
 * stride w); w is a multiple of 8. */
static inline void product8(const float *restrict a, size_t a_stride, size_t rows, size_t count,
                            const float *restrict b, size_t w, float *restrict dst)
{
    for (size_t c = 0; c < w; c += 8) {
        size_t i = 0;
        for (; i + 4 <= rows; i += 4)
            rows4_times8(a + i * a_stride, a_stride, count, b + c, w, dst + i * w + c, w);
        for (; i < rows; i++)
            row1_times8(a + i * a_stride, count, b + c, w, dst + i * w + c);
    }
}

/* tmp holds (m + out_rows) x padded_cols floats: the column pass, then the output rows. */
SIMD_CLONES
static void space_low_apply(const scatter_space_low *low, const float *restrict u,
                            float *restrict tmp, float *restrict out)
{
    size_t m = low->m, w = low->padded_cols;
    float *restrict rows = tmp + m * w;
    product8(u, low->n, m, low->n, low->cols, w, tmp);
    product8(low->rows, m, low->out_rows, m, tmp, w, rows);
    for (size_t a = 0; a < low->out_rows; a++)
        memcpy(out + a * low->out_cols, rows + a * w, low->out_cols * sizeof *out);
}

/* Not cloned itself: see scatter_fold_product (scatter/spectral_ops.c). */
void scatter_space_low_apply(const scatter_space_low *low, const float *u, float *tmp, float *out)
{
    space_low_apply(low, u, tmp, out);
}
