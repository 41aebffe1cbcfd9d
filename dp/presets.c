/* The architectures of Tramer & Boneh (ICLR 2021), as in their code (models.py): tanh
 * activations throughout; end-to-end CNNs on pixels and the smaller CNNs on ScatterNet
 * features (whose input normalisation is features.normalize, not a layer here). */
#include "dp/dp.h"

#include <string.h>

#define CONV(out, k, s, p) {.kind = DP_LAYER_CONV2D, .units = (out), .kernel = (k), .stride = (s), .padding = (p)}
#define TANH {.kind = DP_LAYER_TANH}
#define MAXPOOL(k, s) {.kind = DP_LAYER_MAXPOOL, .kernel = (k), .stride = (s)}
#define FLATTEN {.kind = DP_LAYER_FLATTEN}
#define LINEAR(out) {.kind = DP_LAYER_LINEAR, .units = (out)}

/* 1x28x28: conv 16 8x8/2 pad 2 -> 16x13x13, pool 2/1 -> 12x12, conv 32 4x4/2 -> 32x5x5,
 * pool 2/1 -> 4x4, 512 -> 32 -> 10 */
static const dp_layer_spec mnist_cnn[] = {
    CONV(16, 8, 2, 2), TANH, MAXPOOL(2, 1), CONV(32, 4, 2, 0), TANH, MAXPOOL(2, 1),
    FLATTEN, LINEAR(32), TANH, LINEAR(10)};

/* 3x32x32: three blocks of two 3x3 convs (pad 1) and a 2x2 pool; 128x4x4 = 2048 -> 128 -> 10 */
static const dp_layer_spec cifar10_cnn[] = {
    CONV(32, 3, 1, 1), TANH, CONV(32, 3, 1, 1), TANH, MAXPOOL(2, 2),
    CONV(64, 3, 1, 1), TANH, CONV(64, 3, 1, 1), TANH, MAXPOOL(2, 2),
    CONV(128, 3, 1, 1), TANH, CONV(128, 3, 1, 1), TANH, MAXPOOL(2, 2),
    FLATTEN, LINEAR(128), TANH, LINEAR(10)};

/* 81x7x7: conv 16 3x3/2 pad 1 -> 16x4x4, conv 32 3x3 pad 1 -> 32x4x4, 512 -> 32 -> 10 */
static const dp_layer_spec scatter_cnn_mnist[] = {
    CONV(16, 3, 2, 1), TANH, CONV(32, 3, 1, 1), TANH, FLATTEN, LINEAR(32), TANH, LINEAR(10)};

/* 243x8x8: conv 64 3x3 pad 1, pool 2/2 -> 64x4x4, conv 64 3x3 pad 1, 1024 -> 10 */
static const dp_layer_spec scatter_cnn_cifar10[] = {
    CONV(64, 3, 1, 1), TANH, MAXPOOL(2, 2), CONV(64, 3, 1, 1), TANH, FLATTEN, LINEAR(10)};

typedef struct preset {
    const char *name;
    const dp_layer_spec *specs;
    size_t count;
} preset;

#define PRESET(name, list) {name, list, sizeof list / sizeof list[0]}
static const preset presets[] = {
    PRESET("mnist-cnn", mnist_cnn),
    PRESET("cifar10-cnn", cifar10_cnn),
    PRESET("scatter-cnn-mnist", scatter_cnn_mnist),
    PRESET("scatter-cnn-cifar10", scatter_cnn_cifar10),
};

const char *const dp_model_preset_names[] = {"mnist-cnn", "cifar10-cnn", "scatter-cnn-mnist",
                                             "scatter-cnn-cifar10", NULL};

int dp_model_preset(const char *name, dp_layer_spec *specs, size_t *count, dpkit_error *err)
{
    for (size_t p = 0; p < sizeof presets / sizeof presets[0]; p++)
        if (strcmp(presets[p].name, name) == 0) {
            memcpy(specs, presets[p].specs, presets[p].count * sizeof *specs);
            *count = presets[p].count;
            return 0;
        }
    return error_set(err, "model preset '%s': expected one of mnist-cnn, cifar10-cnn, "
                          "scatter-cnn-mnist, scatter-cnn-cifar10", name);
}
