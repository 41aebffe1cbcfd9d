/* The table of layer implementations (one dp/layer_<kind>.c file per family). */
#ifndef DPKIT_DP_LAYERS_H
#define DPKIT_DP_LAYERS_H

#include "dp/dp.h"

extern const dp_layer_ops dp_layer_linear_ops;
extern const dp_layer_ops dp_layer_tanh_ops;
extern const dp_layer_ops dp_layer_relu_ops;

/* Softmax cross-entropy of one row of logits z (K): adds the loss, writes softmax - onehot into
 * grad (may be z itself, or NULL); 1 when the argmax is the label. */
int dp_softmax_cross_entropy_row(const float *z, int32_t label, size_t K, float *grad,
                                 double *loss);

/* Floats of dp_workspace.rows_scratch per thread for a single linear layer model. */
size_t dp_linear_rows_floats_per_thread(const dp_model *model);

#endif
