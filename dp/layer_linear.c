/* Dense layer y = x W^T + b, W (units, D) row-major then b (units): the per-example gradient is
 * the outer product delta_i [x_i, 1]^T, so its squared norm is (||x_i||^2 + 1) ||delta_i||^2 and
 * sums of per-example gradients are single GEMMs (docs/maths.md 4.4-4.5; DESIGN "DP-SGD
 * must-haves"). */
#include "dp/layers_internal.h"

#include <cblas.h>
#include <omp.h>

/* This thread's share [*first, *end) of count items, in multiples of `align`. */
static void thread_share(size_t count, size_t align, size_t *first, size_t *end)
{
    size_t threads = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
    size_t blocks = (count + align - 1) / align;
    *first = blocks * t / threads * align;
    *end = blocks * (t + 1) / threads * align;
    if (*end > count)
        *end = count;
    if (*first > *end)
        *first = *end;
}

static void linear_forward(const dp_layer *layer, const float *params, const float *in,
                           float *out, size_t n, const dp_scratch *scratch)
{
    (void)scratch;
    size_t D = dp_shape_size(layer->input), K = layer->units;
    const float *weight = params, *bias = params + K * D;
    /* rows split over the threads, single-threaded BLAS in each (no oversubscription) */
    int blas = dp_blas_serial_begin();
#pragma omp parallel
    {
        size_t first, end;
        thread_share(n, 16, &first, &end);
        for (size_t i = first; i < end; i++)
            for (size_t k = 0; k < K; k++)
                out[i * K + k] = bias[k];
        if (end > first)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(end - first), (int)K,
                        (int)D, 1.0f, in + first * D, (int)D, weight, (int)D, 1.0f,
                        out + first * K, (int)K);
    }
    dp_blas_serial_end(blas);
}

static void linear_backward_input(const dp_layer *layer, const float *params, const float *in,
                                  const float *out, const float *grad_out, float *grad_in,
                                  size_t n, const dp_scratch *scratch)
{
    (void)in, (void)out, (void)scratch;
    size_t D = dp_shape_size(layer->input), K = layer->units;
    int blas = dp_blas_serial_begin();
#pragma omp parallel
    {
        size_t first, end;
        thread_share(n, 16, &first, &end);
        if (end > first)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(end - first), (int)D,
                        (int)K, 1.0f, grad_out + first * K, (int)K, params, (int)D, 0.0f,
                        grad_in + first * D, (int)D);
    }
    dp_blas_serial_end(blas);
}

static void linear_add_squared_norms(const dp_layer *layer, const float *in,
                                     const float *grad_out, size_t n, double *squared_norms,
                                     const dp_scratch *scratch)
{
    (void)scratch;
    size_t D = dp_shape_size(layer->input), K = layer->units;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double x2 = 1.0, d2 = 0.0; /* the 1 is the bias's input */
        const float *x = in + i * D, *d = grad_out + i * K;
        for (size_t j = 0; j < D; j++)
            x2 += (double)x[j] * x[j];
        for (size_t k = 0; k < K; k++)
            d2 += (double)d[k] * d[k];
        squared_norms[i] += x2 * d2;
    }
}

static void linear_add_param_gradient(const dp_layer *layer, const float *in,
                                      const float *grad_out, size_t n, float *grad,
                                      const dp_scratch *scratch)
{
    (void)scratch;
    size_t D = dp_shape_size(layer->input), K = layer->units;
    /* dW += delta^T x (K x D), the D columns split over the threads; db += column sums of
     * delta */
    int blas = dp_blas_serial_begin();
#pragma omp parallel
    {
        size_t first, end;
        thread_share(D, 16, &first, &end);
        if (end > first)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)(end - first),
                        (int)n, 1.0f, grad_out, (int)K, in + first, (int)D, 1.0f, grad + first,
                        (int)D);
    }
    dp_blas_serial_end(blas);
    float *bias = grad + K * D;
    for (size_t k = 0; k < K; k++) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += grad_out[i * K + k];
        bias[k] += (float)s;
    }
}

const dp_layer_ops dp_layer_linear_ops = {
    .name = "linear",
    .forward = linear_forward,
    .backward_input = linear_backward_input,
    .add_squared_norms = linear_add_squared_norms,
    .add_param_gradient = linear_add_param_gradient,
    .scratch_floats = NULL,
};
