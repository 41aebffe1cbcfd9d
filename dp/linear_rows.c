/* DP-SGD step gradient of a model that is one linear softmax layer, read straight from the
 * training matrix by row index: the batch is never copied, each sampled row is read from memory
 * once, and the few-class kernels of dp/linear_fused.c compute a block's logits, norms and
 * gradient sum while the block is in cache (docs/maths.md 4.4-4.5 with the outer-product norm
 * of the linear layer; with augmentation multiplicity, the K copies of an example are adjacent
 * rows of a block and are clipped together, docs/maths.md 4.17). */
#include "dp/dp.h"
#include "dp/layers_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Rows per block: read from memory by the logits pass, read again from cache by the
 * accumulation pass (16 x 15,552 floats = 1 MB for CIFAR-10 ScatterNet: L2 and L3), while each
 * column tile of W and of the gradient is loaded once per block. 8 to 16 rows measured best,
 * 24 and 32 4-6% slower, 64 30% slower (the accumulation's reads of the block leave L3). */
enum { ROWS_BLOCK = 16 };
_Static_assert((int)DP_AUGMENT_MAX_COPIES <= (int)ROWS_BLOCK, "a block holds every copy of an example");

/* Each thread's region of ws->rows_scratch (64-byte aligned, a multiple of 16 floats): its
 * gradient sum (K rows of `padded` floats, then the K bias sums), its copy of W (K rows of
 * `padded` floats) and a block's logits. Rows padded to 16 floats start on cache lines, where
 * the kernels' vector loads are fastest (the model's parameters are not aligned). */
static size_t padded_width(size_t D)
{
    return (D + 15) / 16 * 16;
}

static size_t weight_copy_offset(size_t K, size_t D)
{
    return K * padded_width(D) + (K + 15) / 16 * 16;
}

size_t dp_linear_rows_floats_per_thread(const dp_model *model)
{
    size_t D = dp_shape_size(model->input), K = model->class_count;
    return weight_copy_offset(K, D) + K * padded_width(D) + (ROWS_BLOCK * K + 15) / 16 * 16;
}

/* A row of copy c of the training matrix (copy 0: data->x). */
static const float *copy_rows(const dp_data *data, size_t c)
{
    return c == 0 ? data->x : data->copy_x[c - 1];
}

/* x . y in double (exact products, like the squared norms of the fused kernels). */
static double dot_double(const float *x, const float *y, size_t D)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t j = 0; j < D; j++)
        s += (double)x[j] * y[j];
    return s;
}

/* Augmentation multiplicity (docs/maths.md 4.17): the `copies` rows of one example (x2 their
 * squared norms, delta their softmax errors, in place) give the example's gradient
 * g = (1/copies) sum_k delta_k [x_k, 1]^T, of squared norm
 * (1/copies^2) sum_{k,l} (x_k . x_l + 1)(delta_k . delta_l); every delta_k is scaled by
 * min(1, C / ||g||) / copies (C <= 0: by 1 / copies, no clipping), so that the accumulation
 * adds the clipped g. Returns 1 when clipped. */
static int clip_copies(const float *const *rows, const double *x2, size_t copies, size_t D,
                       size_t K, double clip_norm, float *delta)
{
    double squared = 0;
    for (size_t k = 0; clip_norm > 0 && k < copies; k++)
        for (size_t l = k; l < copies; l++) {
            double xx = l == k ? x2[k] : dot_double(rows[k], rows[l], D), ee = 0;
            for (size_t c = 0; c < K; c++)
                ee += (double)delta[k * K + c] * delta[l * K + c];
            squared += (l == k ? 1.0 : 2.0) * (xx + 1.0) * ee;
        }
    /* ||sum_k delta_k [x_k, 1]^T|| = copies ||g||: the clip factor of that sum is the
     * product of 1 / copies and min(1, C / ||g||), with dp_clip_factor's margin for the
     * roundings of the scaled rows */
    double sum_norm = sqrt(squared);
    int clipped = clip_norm > 0 && sum_norm / (double)copies > clip_norm;
    float factor = clipped ? dp_clip_factor(sum_norm, clip_norm) : (float)(1.0 / (double)copies);
    for (size_t j = 0; j < copies * K; j++)
        delta[j] *= factor;
    return clipped;
}

int dp_linear_rows_clipped_gradient(const dp_model *model, dp_workspace *ws,
                                    const dp_data *data, const size_t *indices, size_t n,
                                    double clip_norm, float *grad, dp_batch_stats *stats,
                                    dpkit_error *err)
{
    if (!dp_model_is_single_linear(model) || !ws->rows_scratch)
        return error_set(err, "linear rows: the model is not one linear layer, or the workspace "
                              "was made for another model");
    if (n == 0)
        return 0;
    size_t D = dp_shape_size(model->input), K = model->class_count, P = model->param_count;
    size_t Dp = padded_width(D);
    const float *weight = model->params, *bias = model->params + K * D;
    /* a block holds the copies of ROWS_BLOCK / copies examples, one after the other */
    size_t copies = data->copies > 1 ? data->copies : 1, per_block = ROWS_BLOCK / copies;
    if (copies > DP_AUGMENT_MAX_COPIES || (copies > 1 && !data->copy_x))
        return error_set(err, "linear rows: %zu copies of each example, expected 1..%d with "
                              "their rows", copies, DP_AUGMENT_MAX_COPIES);
    size_t blocks = (n + per_block - 1) / per_block, stride = ws->rows_stride;
    size_t bad_label = SIZE_MAX; /* smallest position in the batch with a bad label */
    int threads_used = 1;
    size_t correct = 0, clipped = 0;
    /* no more threads than blocks: a small batch pays no fork (the same sums either way) */
    int team = blocks < (size_t)ws->rows_threads ? (int)blocks : ws->rows_threads;
    /* each thread's loss apart, added in thread order below: a reduction clause would add
     * them in the order the threads finish, and the loss would change from run to run */
    double thread_loss[team];
#pragma omp parallel num_threads(team) reduction(+ : correct, clipped)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#pragma omp single
        threads_used = omp_get_num_threads();
#endif
        double loss = 0;
        float *acc = ws->rows_scratch + (size_t)t * stride;
        float *weight_copy = acc + weight_copy_offset(K, D), *delta = weight_copy + K * Dp;
        memset(acc, 0, (K * Dp + K) * sizeof *acc);
        for (size_t c = 0; c < K; c++)
            memcpy(weight_copy + c * Dp, weight + c * D, D * sizeof *weight);
#pragma omp for schedule(static)
        for (size_t k = 0; k < blocks; k++) {
            size_t first = k * per_block, m = n - first < per_block ? n - first : per_block;
            size_t m_rows = m * copies;
            const float *rows[ROWS_BLOCK];
            double x2[ROWS_BLOCK];
            int32_t y[ROWS_BLOCK];
            int skip = 0;
            for (size_t i = 0; i < m; i++) {
                size_t row = indices[first + i];
                y[i] = data->y[row];
                if (y[i] < 0 || (size_t)y[i] >= K) {
#pragma omp critical /* unnamed: a named one would be an exported symbol */
                    if (first + i < bad_label)
                        bad_label = first + i;
                    skip = 1;
                }
                for (size_t c = 0; c < copies; c++) {
                    size_t r = i * copies + c;
                    rows[r] = copy_rows(data, c) + row * D;
                    x2[r] = 0;
                    memcpy(delta + r * K, bias, K * sizeof *delta);
                }
            }
            if (skip)
                continue;
            dp_linear_fused_logits(rows, m_rows, weight_copy, Dp, D, K, delta,
                                   clip_norm > 0 ? x2 : NULL);
            for (size_t i = 0; copies > 1 && i < m; i++) {
                /* the loss and accuracy of the original (copy 0) alone */
                float *d = delta + i * copies * K;
                double ignored = 0;
                correct += dp_softmax_cross_entropy_row(d, y[i], K, d, &loss);
                for (size_t c = 1; c < copies; c++)
                    dp_softmax_cross_entropy_row(d + c * K, y[i], K, d + c * K, &ignored);
                clipped += clip_copies(rows + i * copies, x2 + i * copies, copies, D, K,
                                       clip_norm, d);
            }
            for (size_t i = 0; copies == 1 && i < m; i++) {
                float *d = delta + i * K;
                correct += dp_softmax_cross_entropy_row(d, y[i], K, d, &loss);
                if (clip_norm > 0) {
                    /* norm_i = ||[x_i, 1]|| ||p_i - y_i|| (the outer product's norm) */
                    double d2 = 0;
                    for (size_t c = 0; c < K; c++)
                        d2 += (double)d[c] * d[c];
                    double norm = sqrt((x2[i] + 1.0) * d2);
                    if (norm > clip_norm) {
                        float factor = dp_clip_factor(norm, clip_norm);
                        for (size_t c = 0; c < K; c++)
                            d[c] *= factor;
                        clipped++;
                    }
                }
            }
            /* dW += delta^T x_block, db += column sums of delta */
            dp_linear_fused_accumulate(rows, m_rows, delta, D, K, acc, Dp);
            for (size_t c = 0; c < K; c++) {
                double s = 0;
                for (size_t i = 0; i < m_rows; i++)
                    s += delta[i * K + c];
                acc[K * Dp + c] += (float)s;
            }
        }
        thread_loss[t] = loss;
    }
    if (bad_label != SIZE_MAX) {
        size_t row = indices[bad_label];
        return error_set(err, "label %d of example %zu outside 0..%zu", (int)data->y[row], row,
                         K - 1);
    }
    /* Threads' sums added in thread order: the result does not depend on scheduling. */
    const float *scratch = ws->rows_scratch;
#pragma omp parallel for schedule(static) num_threads(ws->rows_threads) if (P >= 65536)
    for (size_t j = 0; j < P; j++) {
        size_t at = j < K * D ? j / D * Dp + j % D : K * Dp + (j - K * D);
        float s = grad[j];
        for (int t = 0; t < threads_used; t++)
            s += scratch[(size_t)t * stride + at];
        grad[j] = s;
    }
    double loss = 0;
    for (int t = 0; t < threads_used; t++)
        loss += thread_loss[t];
    stats->loss_sum += loss;
    stats->correct += correct;
    stats->clipped += clipped;
    return 0;
}
