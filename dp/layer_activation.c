/* Element-wise activations (tanh, relu): no parameters; the backward pass uses the stored
 * output (tanh' = 1 - y^2, relu' = [y > 0]). tanh itself is dp_tanh_array (vectorized). Both
 * passes may run in place (out == in, grad_in == grad_out). */
#include "dp/layers_internal.h"

#include <omp.h>

static void tanh_forward(const dp_layer *layer, const float *params, const float *in, float *out,
                         size_t n, const dp_scratch *scratch)
{
    (void)params, (void)scratch;
    size_t total = n * dp_shape_size(layer->input);
#pragma omp parallel if (total >= DP_PARALLEL_MIN_VALUES)
    {
        size_t threads = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
        size_t first = total * t / threads, end = total * (t + 1) / threads;
        dp_tanh_array(in + first, out + first, end - first);
    }
}

static void relu_forward(const dp_layer *layer, const float *params, const float *in, float *out,
                         size_t n, const dp_scratch *scratch)
{
    (void)params, (void)scratch;
    size_t total = n * dp_shape_size(layer->input);
#pragma omp parallel for schedule(static) if (total >= DP_PARALLEL_MIN_VALUES)
    for (size_t j = 0; j < total; j++)
        out[j] = in[j] > 0 ? in[j] : 0.0f;
}

/* Both activations: grad_in = grad_out * f'(x), f' from the stored output y (see the top). */
static void backward_input(const dp_layer *layer, const float *params, const float *in,
                           const float *out, const float *grad_out, float *grad_in, size_t n,
                           const dp_scratch *scratch)
{
    (void)params, (void)in, (void)scratch;
    size_t total = n * dp_shape_size(layer->input);
    int parallel = total >= DP_PARALLEL_MIN_VALUES;
    if (layer->kind == DP_LAYER_RELU) {
#pragma omp parallel for schedule(static) if (parallel)
        for (size_t j = 0; j < total; j++)
            grad_in[j] = out[j] > 0 ? grad_out[j] : 0.0f;
        return;
    }
#pragma omp parallel for schedule(static) if (parallel)
    for (size_t j = 0; j < total; j++)
        grad_in[j] = grad_out[j] * (1.0f - out[j] * out[j]);
}

const dp_layer_ops dp_layer_tanh_ops = {.name = "tanh", .forward = tanh_forward,
                                        .backward_input = backward_input, .in_place = 1,
                                        .reads_output = 1};
const dp_layer_ops dp_layer_relu_ops = {.name = "relu", .forward = relu_forward,
                                        .backward_input = backward_input, .in_place = 1,
                                        .reads_output = 1};
