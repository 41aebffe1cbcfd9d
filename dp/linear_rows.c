/* DP-SGD step gradient of a model that is one linear softmax layer, read straight from the
 * training matrix by row index: the batch is never copied, each sampled row is read from memory
 * once, and the few-class kernels of dp/linear_fused.c compute a block's logits, norms and
 * gradient sum while the block is in cache (docs/maths.md 4.4-4.5 with the outer-product norm
 * of the linear layer). */
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
    size_t blocks = (n + ROWS_BLOCK - 1) / ROWS_BLOCK, stride = ws->rows_stride;
    size_t bad_label = SIZE_MAX; /* smallest position in the batch with a bad label */
    int threads_used = 1;
    double loss = 0;
    size_t correct = 0, clipped = 0;
    /* no more threads than blocks: a small batch pays no fork (the same sums either way) */
    int team = blocks < (size_t)ws->rows_threads ? (int)blocks : ws->rows_threads;
#pragma omp parallel num_threads(team) reduction(+ : loss, correct, clipped)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#pragma omp single
        threads_used = omp_get_num_threads();
#endif
        float *acc = ws->rows_scratch + (size_t)t * stride;
        float *weight_copy = acc + weight_copy_offset(K, D), *delta = weight_copy + K * Dp;
        memset(acc, 0, (K * Dp + K) * sizeof *acc);
        for (size_t c = 0; c < K; c++)
            memcpy(weight_copy + c * Dp, weight + c * D, D * sizeof *weight);
#pragma omp for schedule(static)
        for (size_t k = 0; k < blocks; k++) {
            size_t first = k * ROWS_BLOCK, m = n - first < ROWS_BLOCK ? n - first : ROWS_BLOCK;
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
                rows[i] = data->x + row * D;
                x2[i] = 0;
                memcpy(delta + i * K, bias, K * sizeof *delta);
            }
            if (skip)
                continue;
            dp_linear_fused_logits(rows, m, weight_copy, Dp, D, K, delta,
                                   clip_norm > 0 ? x2 : NULL);
            for (size_t i = 0; i < m; i++) {
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
            dp_linear_fused_accumulate(rows, m, delta, D, K, acc, Dp);
            for (size_t c = 0; c < K; c++) {
                double s = 0;
                for (size_t i = 0; i < m; i++)
                    s += delta[i * K + c];
                acc[K * Dp + c] += (float)s;
            }
        }
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
    stats->loss_sum += loss;
    stats->correct += correct;
    stats->clipped += clipped;
    return 0;
}
