/* The table of layer implementations (one dp/layer_<kind>.c file per family). */
#ifndef DPKIT_DP_LAYERS_H
#define DPKIT_DP_LAYERS_H

#include "dp/dp.h"

extern const dp_layer_ops dp_layer_linear_ops;
extern const dp_layer_ops dp_layer_tanh_ops;
extern const dp_layer_ops dp_layer_relu_ops;

#endif
