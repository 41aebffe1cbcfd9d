/* Maps a layer kind to its implementation, and the helpers the layers share. */
#include "dp/layers_internal.h"

#include <cblas.h>
#include <omp.h>

const dp_layer_ops *dp_layer_ops_of(dp_layer_kind kind)
{
    switch (kind) {
    case DP_LAYER_LINEAR:
        return &dp_layer_linear_ops;
    case DP_LAYER_CONV2D:
        return &dp_layer_conv2d_ops;
    case DP_LAYER_TANH:
        return &dp_layer_tanh_ops;
    case DP_LAYER_RELU:
        return &dp_layer_relu_ops;
    case DP_LAYER_MAXPOOL:
        return &dp_layer_maxpool_ops;
    case DP_LAYER_AVGPOOL:
        return &dp_layer_avgpool_ops;
    case DP_LAYER_GROUP_NORM:
        return &dp_layer_group_norm_ops;
    case DP_LAYER_FLATTEN:
        return &dp_layer_flatten_ops;
    case DP_LAYER_EMBEDDING:
        return &dp_layer_embedding_ops;
    default:
        return NULL;
    }
}

int dp_blas_serial_begin(void)
{
    if (omp_in_parallel()) /* the outermost caller has set it */
        return -1;
    int previous = openblas_get_num_threads();
    if (omp_get_max_threads() > 1)
        openblas_set_num_threads(1);
    return previous;
}

void dp_blas_serial_end(int previous)
{
    if (previous >= 0)
        openblas_set_num_threads(previous);
}

float *dp_scratch_slice(const dp_scratch *scratch, size_t floats)
{
    return scratch->data + (size_t)omp_get_thread_num() * floats;
}
