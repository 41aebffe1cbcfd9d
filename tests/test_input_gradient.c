/* Input gradients of dp models (dp_model_input_gradient) and of models on ScatterNet features
 * seen from the pixels (dp_feature_chain) against central finite differences, for every
 * layer kind that takes real inputs and every normalisation: directional derivatives and
 * single inputs. */
#include "common/rng.h"
#include "dp/feature_chain.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 2

static void make_model(dp_shape input, size_t classes, const dp_layer_spec *specs, size_t count,
                       dp_model *m)
{
    dpkit_error err;
    cr_assert_eq(dp_model_create(input, classes, specs, count, m, &err), 0, "%s", err.message);
    rng r;
    rng_init_seed(&r, 21, RNG_STREAM_TEST);
    dp_model_init(m, &r, 0);
}

/* <w, logits(x)> summed in double. */
static double inner(const dp_classifier *c, const float *x, const float *w, float *z)
{
    dpkit_error err;
    cr_assert_eq(c->logits(c->user, x, BATCH, z, &err), 0, "%s", err.message);
    double s = 0;
    for (size_t i = 0; i < BATCH * c->class_count; i++)
        s += (double)w[i] * z[i];
    return s;
}

static void check_classifier(const dp_classifier *c)
{
    dpkit_error err;
    size_t D = c->input_size, n = BATCH * D, K = BATCH * c->class_count;
    float *x = malloc(n * sizeof *x), *xp = malloc(n * sizeof *xp), *xm = malloc(n * sizeof *xm);
    float *g = malloc(n * sizeof *g), *w = malloc(K * sizeof *w), *z = malloc(K * sizeof *z);
    rng r;
    rng_init_seed(&r, 22, RNG_STREAM_TEST);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rng_uniform(&r);
    for (size_t i = 0; i < K; i++)
        w[i] = (float)(2 * rng_uniform(&r) - 1);
    cr_assert_eq(c->input_gradient(c->user, x, BATCH, w, g, &err), 0, "%s", err.message);

    /* Along the gradient itself, scaled to a largest step of h: the derivative is then as
     * large as it can be (no cancellation against float32 rounding of the logits), and the
     * step small enough that few ReLU or max-pool kinks are crossed. */
    const double h = 3e-4;
    double gmax = 0;
    for (size_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(g[i]));
    cr_assert(gmax > 0, "zero input gradient");
    double analytic = 0;
    for (size_t i = 0; i < n; i++) {
        float d = (float)(g[i] / gmax);
        xp[i] = x[i] + (float)h * d;
        xm[i] = x[i] - (float)h * d;
        analytic += (double)g[i] * ((double)xp[i] - xm[i]);
    }
    double numeric = inner(c, xp, w, z) - inner(c, xm, w, z);
    cr_assert(fabs(numeric - analytic) <= 1e-3 * fabs(numeric), "direction: %.7g vs %.7g",
              analytic, numeric);
    /* single inputs, the one with the largest gradient in each example: a single input moves
     * the loss so little that float32 rounding of the activations limits the quotient to
     * about 0.5% (step 1e-3: 0.13663 against 0.13754; step 1e-2: 0.13895, crossing kinks), so
     * these check sign, place and size at 1e-2, and the direction above checks 1e-3. */
    for (size_t e = 0; e < BATCH; e++) {
        size_t i = e * D;
        for (size_t j = e * D; j < (e + 1) * D; j++)
            if (fabs(g[j]) > fabs(g[i]))
                i = j;
        for (size_t j = 0; j < n; j++)
            xp[j] = xm[j] = x[j];
        xp[i] = x[i] + 1e-3f;
        xm[i] = x[i] - 1e-3f;
        numeric = (inner(c, xp, w, z) - inner(c, xm, w, z)) / ((double)xp[i] - xm[i]);
        cr_assert(fabs(numeric - g[i]) <= 1e-2 * fabs(numeric), "input %zu: %.7g vs %.7g", i,
                  (double)g[i], numeric);
    }
    free(x), free(xp), free(xm), free(g), free(w), free(z);
}

static void check_model(const dp_model *m)
{
    dpkit_error err;
    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(m, BATCH, &ws, &err), 0, "%s", err.message);
    dp_model_classifier rm = {m, &ws};
    dp_classifier c;
    dp_classifier_of_model(&rm, &c);
    check_classifier(&c);
    dp_workspace_free(&ws);
}


Test(input_gradient, linear)
{
    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = 5};
    dp_model m;
    make_model((dp_shape){20, 1, 1}, 5, &spec, 1, &m);
    check_model(&m);
    dp_model_free(&m);
}

#define CONV(out, k, s, p) {.kind = DP_LAYER_CONV2D, .units = (out), .kernel = (k), .stride = (s), .padding = (p)}
#define FLAT_LINEAR {.kind = DP_LAYER_FLATTEN}, {.kind = DP_LAYER_LINEAR, .units = 5}

static void check_stack(const dp_layer_spec *specs, size_t count)
{
    dp_model m;
    make_model((dp_shape){2, 12, 12}, 5, specs, count, &m);
    check_model(&m);
    dp_model_free(&m);
}

Test(input_gradient, conv_padded)
{
    dp_layer_spec specs[] = {CONV(4, 3, 1, 1), FLAT_LINEAR};
    check_stack(specs, 3);
}

Test(input_gradient, conv_strided)
{
    dp_layer_spec specs[] = {CONV(3, 4, 2, 0), {.kind = DP_LAYER_TANH}, FLAT_LINEAR};
    check_stack(specs, 4);
}

Test(input_gradient, group_norm)
{
    dp_layer_spec specs[] = {{.kind = DP_LAYER_GROUP_NORM, .groups = 1}, FLAT_LINEAR};
    check_stack(specs, 3);
}

Test(input_gradient, relu_avgpool)
{
    dp_layer_spec specs[] = {{.kind = DP_LAYER_RELU}, {.kind = DP_LAYER_AVGPOOL, .kernel = 2, .stride = 2},
                             FLAT_LINEAR};
    check_stack(specs, 4);
}

Test(input_gradient, maxpool)
{
    dp_layer_spec specs[] = {{.kind = DP_LAYER_MAXPOOL, .kernel = 2, .stride = 1}, FLAT_LINEAR};
    check_stack(specs, 3);
}

Test(input_gradient, every_layer_kind)
{
    dp_layer_spec specs[] = {CONV(4, 3, 1, 1),
                             {.kind = DP_LAYER_GROUP_NORM, .groups = 2},
                             {.kind = DP_LAYER_RELU},
                             {.kind = DP_LAYER_AVGPOOL, .kernel = 2, .stride = 2},
                             CONV(6, 3, 2, 0),
                             {.kind = DP_LAYER_TANH},
                             {.kind = DP_LAYER_MAXPOOL, .kernel = 2, .stride = 1},
                             FLAT_LINEAR};
    check_stack(specs, sizeof specs / sizeof specs[0]);
}

Test(input_gradient, mnist_cnn_preset)
{
    dp_layer_spec specs[DP_PRESET_MAX_LAYERS];
    size_t count;
    dpkit_error err;
    cr_assert_eq(dp_model_preset("mnist-cnn", specs, &count, &err), 0, "%s", err.message);
    dp_model m;
    make_model((dp_shape){1, 28, 28}, 10, specs, count, &m);
    check_model(&m);
    dp_model_free(&m);
}

Test(input_gradient, embedding_has_none)
{
    dp_layer_spec specs[] = {{.kind = DP_LAYER_EMBEDDING, .units = 3, .vocab = 4},
                             {.kind = DP_LAYER_FLATTEN},
                             {.kind = DP_LAYER_LINEAR, .units = 5}};
    dp_model m;
    make_model((dp_shape){2, 1, 1}, 5, specs, 3, &m);
    dpkit_error err;
    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(&m, 1, &ws, &err), 0, "%s", err.message);
    float x[2] = {1, 2}, w[5] = {0}, g[2];
    dp_model_forward(&m, &ws, x, 1);
    cr_assert_neq(dp_model_input_gradient(&m, &ws, x, 1, w, g, &err), 0);
    cr_assert(strstr(err.message, "embedding"), "%s", err.message);
    dp_workspace_free(&ws);
    dp_model_free(&m);
}

/* A model on its features seen from the pixels: scattering, normalisation, model (specs
 * NULL: no model, the feature map itself; J = 0: raw pixels, no scattering). */
static void check_chain(size_t C, size_t H, size_t W, int J, int L, features_normalize_kind kind,
                        const dp_layer_spec *specs, size_t count)
{
    dpkit_error err;
    features_extractor_config ex;
    features_extractor_config_default(&ex);
    ex.scatter_J = J;
    ex.scatter_L = L;
    if (J == 0) /* raw pixels */
        ex.kind = FEATURES_RAW;
    size_t K = 1 + (size_t)(J * L) + (size_t)(L * L * J * (J - 1) / 2);
    size_t F = C * K, S = (H >> J) * (W >> J);
    features_normalizer nz = {.channels = F, .spatial = S};
    features_normalize_config_default(&nz.config);
    nz.config.kind = kind;
    nz.config.groups = J == 0 ? C : C * 3;
    if (kind == FEATURES_NORMALIZE_PRIVATE_BN) {
        nz.statistics.channels = F;
        nz.statistics.mean = calloc(F, sizeof(double));
        nz.statistics.variance = calloc(F, sizeof(double));
        for (size_t c = 0; c < F; c++) {
            nz.statistics.mean[c] = 0.01 * (double)c;
            nz.statistics.variance[c] = c == 1 ? 0.0 : 0.002 * (double)(c + 1); /* one dropped */
        }
    }
    dp_model m;
    if (specs)
        make_model((dp_shape){F, H >> J, W >> J}, 5, specs, count, &m);
    dp_feature_chain *chain;
    dp_classifier c;
    cr_assert_eq(dp_feature_chain_create(&ex, C, H, W, &nz, specs ? &m : NULL, BATCH, &chain,
                                             &c, &err), 0, "%s", err.message);
    check_classifier(&c);
    dp_feature_chain_free(chain);
    if (specs)
        dp_model_free(&m);
    features_normalizer_free(&nz);
}

Test(input_gradient, scatter_group_norm_linear)
{
    dp_layer_spec specs[] = {FLAT_LINEAR};
    check_chain(1, 28, 28, 2, 8, FEATURES_NORMALIZE_GROUP_NORM, specs, 2);
}

Test(input_gradient, scatter_imagenet_private_bn_cnn)
{
    dp_layer_spec specs[] = {CONV(4, 3, 1, 1), {.kind = DP_LAYER_TANH}, FLAT_LINEAR};
    check_chain(3, 16, 12, 2, 4, FEATURES_NORMALIZE_PRIVATE_BN, specs, 4);
}

Test(input_gradient, scatter_unnormalised)
{
    dp_layer_spec specs[] = {FLAT_LINEAR};
    check_chain(1, 8, 8, 1, 3, FEATURES_NORMALIZE_NONE, specs, 2);
}

Test(input_gradient, raw_imagenet_group_norm_cnn)
{
    dp_layer_spec specs[] = {CONV(4, 3, 2, 1), {.kind = DP_LAYER_RELU}, FLAT_LINEAR};
    check_chain(3, 10, 10, 0, 0, FEATURES_NORMALIZE_GROUP_NORM, specs, 4);
}

Test(input_gradient, scatter_feature_map)
{
    check_chain(1, 8, 12, 1, 5, FEATURES_NORMALIZE_GROUP_NORM, NULL, 0);
}

Test(input_gradient, feature_chain_rejects_a_mismatched_model)
{
    dpkit_error err;
    features_extractor_config ex;
    features_extractor_config_default(&ex);
    features_normalizer nz = {.channels = 81, .spatial = 49};
    features_normalize_config_default(&nz.config);
    dp_layer_spec specs[] = {FLAT_LINEAR};
    dp_model m;
    make_model((dp_shape){80, 7, 7}, 5, specs, 2, &m);
    dp_feature_chain *chain;
    dp_classifier c;
    cr_assert_neq(dp_feature_chain_create(&ex, 1, 28, 28, &nz, &m, 2, &chain, &c, &err), 0);
    cr_assert(strstr(err.message, "the model takes 3920 inputs"), "%s", err.message);
    dp_model_free(&m);
}
