/* Flatten (C, H, W) -> (C*H*W, 1, 1): the values keep their row-major order (PyTorch's
 * nn.Flatten), so forward and backward are copies, or nothing in place. */
#include "dp/layers_internal.h"

#include <string.h>

static void flatten_forward(const dp_layer *layer, const float *params, const float *in,
                            float *out, size_t n, const dp_scratch *scratch)
{
    (void)params, (void)scratch;
    if (out != in)
        memcpy(out, in, n * dp_shape_size(layer->input) * sizeof *out);
}

static void flatten_backward_input(const dp_layer *layer, const float *params, const float *in,
                                   const float *out, const float *grad_out, float *grad_in,
                                   size_t n, const dp_scratch *scratch)
{
    (void)params, (void)in, (void)out, (void)scratch;
    if (grad_in != grad_out)
        memcpy(grad_in, grad_out, n * dp_shape_size(layer->input) * sizeof *grad_in);
}

const dp_layer_ops dp_layer_flatten_ops = {.name = "flatten", .forward = flatten_forward,
                                           .backward_input = flatten_backward_input,
                                           .in_place = 1};
