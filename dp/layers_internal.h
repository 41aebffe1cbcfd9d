/* The table of layer implementations (one dp/layer_<kind>.c file per family), and helpers they
 * share. */
#ifndef DPKIT_DP_LAYERS_INTERNAL_H
#define DPKIT_DP_LAYERS_INTERNAL_H

#include "common/simd.h"
#include "dp/dp.h"

extern const dp_layer_ops dp_layer_linear_ops;
extern const dp_layer_ops dp_layer_tanh_ops;
extern const dp_layer_ops dp_layer_relu_ops;
extern const dp_layer_ops dp_layer_conv2d_ops;
extern const dp_layer_ops dp_layer_maxpool_ops;
extern const dp_layer_ops dp_layer_avgpool_ops;
extern const dp_layer_ops dp_layer_group_norm_ops;
extern const dp_layer_ops dp_layer_flatten_ops;
extern const dp_layer_ops dp_layer_embedding_ops;

/* OpenBLAS runs single-threaded inside OpenMP regions over examples (DESIGN: never
 * oversubscribe): dp_blas_serial_begin returns the previous thread count for
 * dp_blas_serial_end. */
int dp_blas_serial_begin(void);
void dp_blas_serial_end(int previous);

/* Element-wise loops over fewer values than this run on one thread: a fork and join of the
 * team costs more, and far more when another process holds a core (the join waits for a
 * descheduled thread). */
#define DP_PARALLEL_MIN_VALUES 65536

/* This thread's slice of a layer's scratch (`floats` per thread). */
float *dp_scratch_slice(const dp_scratch *scratch, size_t floats);

/* Conv cost model (dp/layer_conv2d.c): 1 when the Gram form is cheaper for this shape. */
int dp_conv2d_prefers_ghost(const dp_layer *layer);

/* The clip factor min(1, C / norm) in float32, rounded down far enough that the clipped
 * per-example gradient, as float32 products of it, has norm <= C (dp/model.c). */
float dp_clip_factor(double norm, double clip_norm);

/* y[j] = tanh(x[j]) for j < count, vectorized (dp/layer_tanh_kernel.c; y may be x). */
void dp_tanh_array(const float *x, float *y, size_t count);

/* Floats of dp_workspace.rows_scratch per thread for a single linear layer model. */
size_t dp_linear_rows_floats_per_thread(const dp_model *model);

/* Few-class linear softmax kernels on m rows of D floats read in place (dp/linear_fused.c); W
 * and the gradient are K rows of D floats, `stride` floats apart (64-byte aligned rows load
 * fastest): logits[i K + c] += x_i . W_c and, unless squared is NULL,
 * squared[i] += ||x_i||^2; then grad[c stride + j] += sum_i coef[i K + c] x_i[j]. */
void dp_linear_fused_logits(const float *const *rows, size_t m, const float *weight,
                            size_t stride, size_t D, size_t K, float *logits, double *squared);
void dp_linear_fused_accumulate(const float *const *rows, size_t m, const float *coef,
                                size_t D, size_t K, float *grad, size_t stride);
/* The same kernels in GNU C vectors of 8 floats for any CPU (_portable) and, on x86-64 with
 * gcc, in 512-bit registers (dp/linear_fused_avx512.c; only where dp_linear_fused_has_avx512()
 * returns 1); the two above pick the second where they can. The accumulation's kernels share
 * one driver: a group kernel adds g[c][j] += sum_i a[i a_stride + c] x[i][j] for the
 * DP_LINEAR_FUSED_GROUP classes c of g over len columns of m rows x. */
enum { DP_LINEAR_FUSED_GROUP = 5 };
typedef void (*dp_linear_fused_group_fn)(const float *const *x, size_t m, const float *a,
                                         size_t a_stride, float *const *g, size_t len);
void dp_linear_fused_accumulate_with(dp_linear_fused_group_fn group, const float *const *rows,
                                     size_t m, const float *coef, size_t D, size_t K,
                                     float *grad, size_t stride);
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DP_LINEAR_FUSED_AVX512 1
int dp_linear_fused_has_avx512(void);
void dp_linear_fused_logits_avx512(const float *const *rows, size_t m, const float *weight,
                                   size_t stride, size_t D, size_t K, float *logits,
                                   double *squared);
void dp_linear_fused_accumulate_group_avx512(const float *const *x, size_t m, const float *a,
                                             size_t a_stride, float *const *g, size_t len);
#endif
void dp_linear_fused_logits_portable(const float *const *rows, size_t m, const float *weight,
                                     size_t stride, size_t D, size_t K, float *logits,
                                     double *squared);
void dp_linear_fused_accumulate_portable(const float *const *rows, size_t m, const float *coef,
                                         size_t D, size_t K, float *grad, size_t stride);

#endif
