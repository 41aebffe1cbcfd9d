/* Maps a layer kind to its implementation; NULL for kinds not built into this version. */
#include "dp/layers.h"

const dp_layer_ops *dp_layer_ops_of(dp_layer_kind kind)
{
    switch (kind) {
    case DP_LAYER_LINEAR:
        return &dp_layer_linear_ops;
    case DP_LAYER_TANH:
        return &dp_layer_tanh_ops;
    case DP_LAYER_RELU:
        return &dp_layer_relu_ops;
    default:
        return NULL;
    }
}
