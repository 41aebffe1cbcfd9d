/* The gradient of a function of the logits with respect to the model's input (attacks,
 * certificates): the backward pass of dp_model_clipped_gradient without the parameters, carried
 * through the first layer as well. */
#include "dp/layers_internal.h"

#include <string.h>

int dp_model_input_gradient(const dp_model *model, dp_workspace *ws, const float *x, size_t n,
                            const float *grad_logits, float *grad_x, dpkit_error *err)
{
    if (n > ws->max_batch)
        return error_set(err, "batch of %zu examples, workspace holds %zu", n, ws->max_batch);
    if (model->layers[0].kind == DP_LAYER_EMBEDDING)
        return error_set(err, "input gradient: a model starting with an embedding takes token ids, "
                              "which have no gradient");
    size_t L = model->layer_count;
    memcpy(ws->gradients[L], grad_logits, n * model->class_count * sizeof *grad_logits);
    for (size_t l = L; l-- > 0;) {
        const dp_layer *layer = &model->layers[l];
        /* what the forward kept (max pooling: where its maxima were), as in training */
        dp_scratch scratch = {.data = ws->scratch, .threads = ws->threads, .kept = ws->kept[l],
                              .factors = ws->factors};
        dp_layer_ops_of(layer->kind)->backward_input(
            layer, model->params + layer->param_offset, l == 0 ? x : ws->activations[l],
            ws->activations[l + 1], ws->gradients[l + 1], l == 0 ? grad_x : ws->gradients[l], n,
            &scratch);
    }
    return 0;
}
