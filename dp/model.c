/* Models as a list of layers: construction, initialisation, workspaces, forward passes, the
 * clipped gradient sum (docs/maths.md 4.4-4.5) and evaluation. */
#include "dp/dp.h"
#include "dp/layers_internal.h"
#include "common/memory.h"

#include <omp.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

size_t dp_shape_size(dp_shape shape)
{
    return shape.channels * shape.height * shape.width;
}

static const char *const kind_names[DP_LAYER_KIND_COUNT] = {
    "linear", "conv2d", "tanh", "relu", "maxpool", "avgpool", "group-norm", "flatten",
    "embedding"};

const char *dp_layer_kind_name(dp_layer_kind kind)
{
    return (unsigned)kind < DP_LAYER_KIND_COUNT ? kind_names[kind] : "?";
}

int dp_layer_kind_parse(const char *text, dp_layer_kind *kind, dpkit_error *err)
{
    for (int k = 0; k < DP_LAYER_KIND_COUNT; k++)
        if (strcmp(text, kind_names[k]) == 0) {
            *kind = (dp_layer_kind)k;
            return 0;
        }
    return error_set(err, "layer kind '%s': expected one of linear, conv2d, tanh, relu, maxpool, "
                          "avgpool, group-norm, flatten, embedding", text);
}

/* Bounds on what a model may declare (a model file is input like any other): 2^31 parameters
 * (8 GiB of float32) and 2^31 values per example in any layer's input or output. Real models
 * are far below both; sizes beyond them are a corrupt or hostile file, refused before anything
 * of that size is allocated. */
#define DP_MAX_PARAMS ((size_t)1 << 31)
#define DP_MAX_VALUES ((size_t)1 << 31)

/* a * b into *out unless it overflows or passes limit (then 0 is returned). */
static int bounded_product(size_t a, size_t b, size_t limit, size_t *out)
{
    size_t p;
    if (__builtin_mul_overflow(a, b, &p) || p > limit)
        return 0;
    *out = p;
    return 1;
}

/* channels * height * width of a shape, 0 when it passes DP_MAX_VALUES. */
static size_t bounded_shape_size(dp_shape s)
{
    size_t hw, all;
    if (!bounded_product(s.height, s.width, DP_MAX_VALUES, &hw) ||
        !bounded_product(s.channels, hw, DP_MAX_VALUES, &all))
        return 0;
    return all;
}

/* Output shape and parameter count of one layer on a given input shape. */
static int plan_layer(const dp_layer_spec *spec, dp_shape in, size_t index, dp_layer *layer,
                      dpkit_error *err)
{
    memset(layer, 0, sizeof *layer);
    layer->kind = spec->kind;
    layer->input = in;
    layer->output = in;
    layer->units = spec->units;
    layer->kernel = spec->kernel;
    layer->stride = spec->stride ? spec->stride : 1;
    layer->padding = spec->padding;
    layer->groups = spec->groups;
    layer->vocab = spec->vocab;
    size_t in_size = dp_shape_size(in);
    switch (spec->kind) {
    case DP_LAYER_LINEAR:
        if (spec->units < 1)
            return error_set(err, "layer %zu (linear): units must be >= 1", index);
        layer->output = (dp_shape){spec->units, 1, 1};
        if (!bounded_product(spec->units, in_size + 1, DP_MAX_PARAMS, &layer->param_count))
            return error_set(err, "layer %zu (linear): %zu units on %zu inputs need more than "
                                  "%zu parameters", index, spec->units, in_size, DP_MAX_PARAMS);
        return 0;
    case DP_LAYER_CONV2D: {
        size_t k = spec->kernel, s = layer->stride, p = spec->padding, kk, fan_in;
        if (spec->units < 1 || k < 1)
            return error_set(err, "layer %zu (conv2d): units and kernel must be >= 1", index);
        if (!bounded_product(k, k, DP_MAX_PARAMS, &kk) ||
            !bounded_product(in.channels, kk, DP_MAX_PARAMS, &fan_in) ||
            !bounded_product(spec->units, fan_in + 1, DP_MAX_PARAMS, &layer->param_count) ||
            p > DP_MAX_VALUES)
            return error_set(err, "layer %zu (conv2d): %zu units of %zu x %zu x %zu (padding %zu) "
                                  "need more than %zu parameters", index, spec->units, in.channels,
                             k, k, p, DP_MAX_PARAMS);
        if (in.height + 2 * p < k || in.width + 2 * p < k)
            return error_set(err, "layer %zu (conv2d): kernel %zu larger than the padded input "
                                  "%zux%zu", index, k, in.height + 2 * p, in.width + 2 * p);
        layer->output = (dp_shape){spec->units, (in.height + 2 * p - k) / s + 1,
                                   (in.width + 2 * p - k) / s + 1};
        layer->ghost_norms = dp_conv2d_prefers_ghost(layer);
        return 0;
    }
    case DP_LAYER_MAXPOOL:
    case DP_LAYER_AVGPOOL: {
        size_t k = spec->kernel;
        if (k < 1 || in.height < k || in.width < k)
            return error_set(err, "layer %zu (%s): kernel %zu does not fit the input %zux%zu",
                             index, kind_names[spec->kind], k, in.height, in.width);
        layer->stride = spec->stride ? spec->stride : k;
        layer->output = (dp_shape){in.channels, (in.height - k) / layer->stride + 1,
                                   (in.width - k) / layer->stride + 1};
        return 0;
    }
    case DP_LAYER_GROUP_NORM:
        if (spec->groups < 1 || in.channels % spec->groups != 0)
            return error_set(err, "layer %zu (group-norm): groups %zu must divide the %zu "
                                  "channels", index, spec->groups, in.channels);
        return 0;
    case DP_LAYER_FLATTEN:
        layer->output = (dp_shape){in_size, 1, 1};
        return 0;
    case DP_LAYER_EMBEDDING:
        if (index != 0)
            return error_set(err, "layer %zu (embedding): only the first layer can take token ids",
                             index);
        if (spec->units < 1 || spec->vocab < 1 || spec->vocab > (1u << 24))
            return error_set(err, "layer %zu (embedding): units must be >= 1 and vocab 1..2^24 "
                                  "(got %zu, %zu)", index, spec->units, spec->vocab);
        layer->output = (dp_shape){in_size, 1, spec->units};
        if (!bounded_product(spec->vocab, spec->units, DP_MAX_PARAMS, &layer->param_count))
            return error_set(err, "layer %zu (embedding): %zu x %zu needs more than %zu "
                                  "parameters", index, spec->vocab, spec->units, DP_MAX_PARAMS);
        return 0;
    case DP_LAYER_TANH:
    case DP_LAYER_RELU:
        return 0;
    default:
        return error_set(err, "layer %zu: unknown kind %d", index, (int)spec->kind);
    }
}

/* 2^26 float parameters (256 MiB), far beyond the models of docs/maths.md. */
#define DP_MODEL_MAX_PARAMS ((size_t)1 << 26)

int dp_model_create(dp_shape input, size_t class_count, const dp_layer_spec *specs,
                    size_t spec_count, dp_model *model, dpkit_error *err)
{
    memset(model, 0, sizeof *model);
    if (spec_count == 0)
        return error_set(err, "model: at least one layer is needed");
    if (class_count < 2)
        return error_set(err, "model: %zu classes, expected at least 2", class_count);
    if (input.channels < 1 || input.height < 1 || input.width < 1 || !bounded_shape_size(input))
        return error_set(err, "model: input shape %zu x %zu x %zu, expected positive sizes with at "
                              "most %zu values", input.channels, input.height, input.width,
                         DP_MAX_VALUES);
    model->input = input;
    model->class_count = class_count;
    model->layers = calloc(spec_count, sizeof *model->layers);
    if (!model->layers)
        return error_set(err, "model: out of memory");
    model->layer_count = spec_count;
    dp_shape shape = input;
    for (size_t l = 0; l < spec_count; l++) {
        if (!dp_layer_ops_of(specs[l].kind)) {
            dp_model_free(model);
            return error_set(err, "layer %zu: kind %s is not available", l,
                             dp_layer_kind_name(specs[l].kind));
        }
        if (plan_layer(&specs[l], shape, l, &model->layers[l], err)) {
            dp_model_free(model);
            return -1;
        }
        /* A corrupt model file can describe any layer sizes; refuse before allocating. */
        if (model->layers[l].param_count > DP_MODEL_MAX_PARAMS - model->param_count) {
            dp_model_free(model);
            return error_set(err, "layer %zu: the model would have more than %zu parameters", l,
                             DP_MODEL_MAX_PARAMS);
        }
        model->layers[l].param_offset = model->param_count;
        shape = model->layers[l].output;
        if (model->layers[l].param_count > DP_MAX_PARAMS - model->param_count ||
            !bounded_shape_size(shape)) {
            dp_model_free(model);
            return error_set(err, "layer %zu (%s): the model would have more than %zu parameters "
                                  "or an output of more than %zu values (%zu x %zu x %zu)",
                             l, dp_layer_kind_name(specs[l].kind), DP_MAX_PARAMS, DP_MAX_VALUES,
                             shape.channels, shape.height, shape.width);
        }
        model->param_count += model->layers[l].param_count;
    }
    if (dp_shape_size(shape) != class_count) {
        size_t got = dp_shape_size(shape);
        dp_model_free(model);
        return error_set(err, "model: the last layer outputs %zu values, expected %zu (one per "
                              "class)", got, class_count);
    }
    model->params = calloc(model->param_count ? model->param_count : 1, sizeof(float));
    if (!model->params) {
        dp_model_free(model);
        return error_set(err, "model: out of memory for %zu parameters", model->param_count);
    }
    return 0;
}

void dp_model_free(dp_model *model)
{
    free(model->layers);
    free(model->params);
    memset(model, 0, sizeof *model);
}

void dp_model_init(dp_model *model, rng *r, int zero_last)
{
    size_t last = model->layer_count;
    for (size_t l = 0; l < model->layer_count; l++)
        if (model->layers[l].param_count)
            last = l;
    for (size_t l = 0; l < model->layer_count; l++) {
        const dp_layer *layer = &model->layers[l];
        float *p = model->params + layer->param_offset;
        if (!layer->param_count)
            continue;
        if (zero_last && l == last) {
            memset(p, 0, layer->param_count * sizeof *p);
            continue;
        }
        if (layer->kind == DP_LAYER_EMBEDDING) { /* torch.nn.Embedding: N(0, 1) */
            for (size_t j = 0; j < layer->param_count; j++)
                p[j] = (float)rng_gaussian(r);
            continue;
        }
        /* fan_in = weights per output unit; torch's kaiming_uniform(a=sqrt(5)) and its bias
         * rule both come to U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
        size_t fan_in = (layer->param_count - layer->units) / layer->units;
        double bound = 1.0 / sqrt((double)fan_in);
        for (size_t j = 0; j < layer->param_count; j++)
            p[j] = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
    }
}

/* The linear fast path (dp/linear_rows.c) applies to exactly one linear softmax layer. */
int dp_model_is_single_linear(const dp_model *model)
{
    return model->layer_count == 1 && model->layers[0].kind == DP_LAYER_LINEAR;
}

int dp_model_describe(const dp_model *model, char *text, size_t size)
{
    size_t used = 0;
    text[0] = '\0';
    for (size_t l = 0; l < model->layer_count && used < size; l++) {
        const dp_layer *layer = &model->layers[l];
        int n = snprintf(text + used, size - used, "%s%s %zux%zux%zu -> %zux%zux%zu, %zu parameters",
                         l ? "\n" : "", kind_names[layer->kind], layer->input.channels,
                         layer->input.height, layer->input.width, layer->output.channels,
                         layer->output.height, layer->output.width, layer->param_count);
        if (n < 0)
            return -1;
        used += (size_t)n;
    }
    return 0;
}

/* Layer l computes in place over its input's arrays (dp_workspace) when its kind allows it and
 * no value it overwrites is read again: a flatten changes no value; an activation must not
 * follow, in the layers writing into the same arrays, one whose backward pass reads its own
 * output. The first layer's input is the caller's. */
static int shares_input(const dp_model *model, size_t l)
{
    if (l == 0 || !dp_layer_ops_of(model->layers[l].kind)->in_place)
        return 0;
    if (model->layers[l].kind == DP_LAYER_FLATTEN)
        return 1;
    for (size_t k = l; k-- > 0;) {
        if (dp_layer_ops_of(model->layers[k].kind)->reads_output)
            return 0;
        if (!shares_input(model, k))
            break;
    }
    return 1;
}

/* The next `floats` of the block `base` (NULL: only counted), each array on a 64-byte line. */
static float *take_floats(float *base, size_t *used, size_t floats)
{
    float *p = base ? base + *used : NULL;
    *used += (floats + 15) / 16 * 16;
    return p;
}

/* Points the workspace's arrays into `base` (NULL: only counts); returns the floats they take. */
static size_t place_arrays(const dp_model *model, dp_workspace *ws, float *base)
{
    size_t used = 0;
    for (size_t l = 0; l < model->layer_count; l++) {
        const dp_layer *layer = &model->layers[l];
        const dp_layer_ops *ops = dp_layer_ops_of(layer->kind);
        if (shares_input(model, l)) {
            ws->activations[l + 1] = ws->activations[l];
            ws->gradients[l + 1] = ws->gradients[l];
        } else {
            /* activations[0] is the caller's input, and the first layer's input gradient is
             * never computed: only later arrays are placed */
            size_t floats = ws->max_batch * dp_shape_size(layer->output);
            ws->activations[l + 1] = take_floats(base, &used, floats);
            ws->gradients[l + 1] = take_floats(base, &used, floats);
        }
        size_t kept = ops->kept_floats ? ops->kept_floats(layer) : 0;
        ws->kept[l] = kept ? take_floats(base, &used, ws->max_batch * kept) : NULL;
        size_t need = ops->scratch_floats ? ops->scratch_floats(layer) : 0;
        if (need * ws->threads > ws->scratch_size)
            ws->scratch_size = need * ws->threads;
    }
    ws->scratch = ws->scratch_size ? take_floats(base, &used, ws->scratch_size) : NULL;
    return used;
}

int dp_workspace_create(const dp_model *model, size_t max_batch, dp_workspace *ws,
                        dpkit_error *err)
{
    memset(ws, 0, sizeof *ws);
    if (max_batch < 1)
        max_batch = 1;
    size_t L = model->layer_count;
    ws->max_batch = max_batch;
    ws->layer_count = L;
    ws->activations = calloc(L + 1, sizeof *ws->activations);
    ws->gradients = calloc(L + 1, sizeof *ws->gradients);
    ws->kept = calloc(L, sizeof *ws->kept);
    ws->squared_norms = malloc(max_batch * sizeof *ws->squared_norms);
    ws->factors = malloc(max_batch * sizeof *ws->factors);
    /* one scratch slice per OpenMP thread; layers run with at most this many threads */
    ws->threads = (size_t)omp_get_max_threads();
    int ok = ws->activations && ws->gradients && ws->kept && ws->squared_norms && ws->factors;
    if (ok) {
        size_t floats = place_arrays(model, ws, NULL);
        ws->block = memory_alloc_large((floats ? floats : 1) * sizeof(float));
        ok = ws->block != NULL;
        if (ok)
            place_arrays(model, ws, ws->block);
    }
    if (ok && dp_model_is_single_linear(model)) {
        /* per-thread blocks and gradient sums of dp_linear_rows_clipped_gradient */
#ifdef _OPENMP
        ws->rows_threads = omp_get_max_threads();
#else
        ws->rows_threads = 1;
#endif
        ws->rows_stride = dp_linear_rows_floats_per_thread(model);
        ws->rows_scratch = aligned_alloc(64, (size_t)ws->rows_threads * ws->rows_stride *
                                                 sizeof(float));
        ok = ws->rows_scratch != NULL;
    }
    if (!ok) {
        dp_workspace_free(ws);
        return error_set(err, "workspace for batches of %zu: out of memory", max_batch);
    }
    return 0;
}

void dp_workspace_free(dp_workspace *ws)
{
    MEMORY_FREE_ALL(ws->block, ws->kept, ws->activations, ws->gradients, ws->rows_scratch,
                    ws->squared_norms, ws->factors);
    memset(ws, 0, sizeof *ws);
}

/* The scratch a layer sees in one call. */
static dp_scratch layer_scratch(const dp_workspace *ws, size_t l, int training, int kept_valid)
{
    return (dp_scratch){.data = ws->scratch, .threads = ws->threads, .kept = ws->kept[l],
                        .training = training && ws->kept[l],
                        .kept_valid = kept_valid && ws->kept[l], .factors = ws->factors};
}

/* training: layers also store what their per-example norms will need (dp_scratch). */
static void forward_pass(const dp_model *model, dp_workspace *ws, const float *x, size_t n,
                         int training)
{
    const float *in = x;
    for (size_t l = 0; l < model->layer_count; l++) {
        const dp_layer *layer = &model->layers[l];
        dp_scratch scratch = layer_scratch(ws, l, training, 0);
        dp_layer_ops_of(layer->kind)->forward(layer, model->params + layer->param_offset, in,
                                              ws->activations[l + 1], n, &scratch);
        in = ws->activations[l + 1];
    }
}

int dp_softmax_cross_entropy_row(const float *z, int32_t label, size_t K, float *grad,
                                 double *loss)
{
    size_t best = 0;
    for (size_t k = 1; k < K; k++)
        if (z[k] > z[best])
            best = k;
    double m = z[best], total = 0;
    for (size_t k = 0; k < K; k++)
        total += exp((double)z[k] - m);
    double log_total = log(total);
    *loss += log_total + m - (double)z[label];
    if (grad) /* may alias z: z is not read after this */
        for (size_t k = 0; k < K; k++)
            grad[k] = (float)(exp((double)z[k] - m - log_total) - (k == (size_t)label));
    return best == (size_t)label;
}

void dp_model_forward(const dp_model *model, dp_workspace *ws, const float *x, size_t n)
{
    int blas = dp_blas_serial_begin(); /* as in dp_model_clipped_gradient */
    forward_pass(model, ws, x, n, 0);
    dp_blas_serial_end(blas);
}

int dp_model_check_input(const dp_model *model, const float *x, size_t n, dpkit_error *err)
{
    const dp_layer *first = &model->layers[0];
    if (first->kind != DP_LAYER_EMBEDDING)
        return 0;
    size_t total = n * dp_shape_size(first->input);
    for (size_t j = 0; j < total; j++)
        if (!(x[j] >= 0 && x[j] < (float)first->vocab && x[j] == (float)(size_t)x[j]))
            return error_set(err, "embedding input: value %g at example %zu position %zu is not "
                                  "a token id in 0..%zu", (double)x[j],
                             j / dp_shape_size(first->input), j % dp_shape_size(first->input),
                             first->vocab - 1);
    return 0;
}

/* Softmax cross-entropy per row of logits (n, K): adds the losses, counts correct argmaxes, and
 * writes dL_i/dlogits = softmax - onehot into grad (may be NULL). */
static void softmax_cross_entropy(const float *logits, const int32_t *y, size_t n, size_t K,
                                  float *grad, double *loss_sum, size_t *correct)
{
    double loss = 0;
    size_t right = 0;
#pragma omp parallel for reduction(+ : loss, right) schedule(static) \
    if (n * K >= DP_PARALLEL_MIN_VALUES)
    for (size_t i = 0; i < n; i++)
        right += (size_t)dp_softmax_cross_entropy_row(logits + i * K, y[i], K,
                                                      grad ? grad + i * K : NULL, &loss);
    *loss_sum += loss;
    *correct += right;
}

float dp_clip_factor(double norm, double clip_norm)
{
    if (!(norm > clip_norm))
        return 1.0f;
    /* C / norm rounded to float32 may land above it, and every entry of the clipped gradient
     * is then a float32 product (f g_j, or x_j (f d_c) for outer-product layers: two roundings
     * of at most 2^-24 relative each), so f norm = C could still give a clipped norm up to
     * (1 + 2^-24)^2 C. Nudging f down until f norm <= C (1 - 4 * 2^-24) leaves room for both
     * roundings and for the double-precision error of the norm itself; it changes f by a few
     * float32 ulps, far below the 1e-5 agreement with opacus. */
    const double bound = clip_norm * (1.0 - 4.0 * 0x1.0p-24);
    float f = (float)(clip_norm / norm);
    while (f > 0.0f && (double)f * norm > bound)
        f = nextafterf(f, 0.0f);
    return f;
}

static int check_labels(const int32_t *y, size_t n, size_t K, dpkit_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (y[i] < 0 || (size_t)y[i] >= K)
            return error_set(err, "label %d of example %zu outside 0..%zu", (int)y[i], i, K - 1);
    return 0;
}

int dp_model_clipped_gradient(const dp_model *model, dp_workspace *ws, const float *x,
                              const int32_t *y, size_t n, double clip_norm, float *grad,
                              double *norms, dp_batch_stats *stats, dpkit_error *err)
{
    if (n > ws->max_batch)
        return error_set(err, "batch of %zu examples, workspace holds %zu", n, ws->max_batch);
    if (n == 0)
        return 0;
    if (check_labels(y, n, model->class_count, err) || dp_model_check_input(model, x, n, err))
        return -1;
    size_t L = model->layer_count;
    int have_norms = clip_norm > 0 || norms;
    /* OpenBLAS single-threaded for the whole step: the layers split their work over OpenMP
     * threads, and idle OpenBLAS threads spinning between their calls would take the cores */
    int blas = dp_blas_serial_begin();
    forward_pass(model, ws, x, n, have_norms);
    softmax_cross_entropy(ws->activations[L], y, n, model->class_count, ws->gradients[L],
                          &stats->loss_sum, &stats->correct);
    for (size_t l = L; l-- > 1;) {
        const dp_layer *layer = &model->layers[l];
        dp_scratch scratch = layer_scratch(ws, l, 0, 0);
        dp_layer_ops_of(layer->kind)->backward_input(layer, model->params + layer->param_offset,
                                                     ws->activations[l], ws->activations[l + 1],
                                                     ws->gradients[l + 1], ws->gradients[l], n,
                                                     &scratch);
    }
    const float *inputs0 = x;
#define LAYER_INPUT(l) ((l) == 0 ? inputs0 : ws->activations[l])
    if (have_norms) {
        memset(ws->squared_norms, 0, n * sizeof *ws->squared_norms);
        for (size_t l = 0; l < L; l++) {
            const dp_layer *layer = &model->layers[l];
            dp_scratch scratch = layer_scratch(ws, l, 0, 1);
            if (layer->param_count)
                dp_layer_ops_of(layer->kind)->add_squared_norms(
                    layer, LAYER_INPUT(l), ws->gradients[l + 1], n, ws->squared_norms,
                    &scratch);
        }
        for (size_t i = 0; i < n; i++)
            ws->factors[i] = 1.0f;
    }
    if (clip_norm > 0) {
        /* factor_i = min(1, C / norm_i) (docs/maths.md 4.5, exact rule), applied to the output
         * gradient of every parameterised layer: sum_i f_i g_i is then the batch gradient.
         * Layers that weigh their per-example terms by the factors themselves (convolutions)
         * are skipped: one pass less over their large output gradients. */
        size_t clipped = 0;
        for (size_t i = 0; i < n; i++) {
            double norm = sqrt(ws->squared_norms[i]);
            ws->factors[i] = dp_clip_factor(norm, clip_norm);
            clipped += norm > clip_norm;
        }
        stats->clipped += clipped;
        for (size_t l = 0; l < L; l++) {
            const dp_layer *layer = &model->layers[l];
            if (!layer->param_count || dp_layer_ops_of(layer->kind)->applies_factors)
                continue;
            size_t width = dp_shape_size(layer->output);
            float *g = ws->gradients[l + 1];
#pragma omp parallel for schedule(static) if (n * width >= DP_PARALLEL_MIN_VALUES)
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < width; j++)
                    g[i * width + j] *= ws->factors[i];
        }
    }
    if (norms)
        for (size_t i = 0; i < n; i++)
            norms[i] = sqrt(ws->squared_norms[i]);
    for (size_t l = 0; l < L; l++) {
        const dp_layer *layer = &model->layers[l];
        dp_scratch scratch = layer_scratch(ws, l, 0, have_norms);
        if (layer->param_count)
            dp_layer_ops_of(layer->kind)->add_param_gradient(layer, LAYER_INPUT(l),
                                                             ws->gradients[l + 1], n,
                                                             grad + layer->param_offset,
                                                             &scratch);
    }
#undef LAYER_INPUT
    dp_blas_serial_end(blas);
    return 0;
}

int dp_model_evaluate(const dp_model *model, dp_workspace *ws, const float *x, const int32_t *y,
                      size_t count, double *accuracy, double *mean_loss, dpkit_error *err)
{
    size_t D = dp_shape_size(model->input), correct = 0;
    double loss = 0;
    if (check_labels(y, count, model->class_count, err) ||
        dp_model_check_input(model, x, count, err))
        return -1;
    for (size_t first = 0; first < count; first += ws->max_batch) {
        size_t n = count - first < ws->max_batch ? count - first : ws->max_batch;
        dp_model_forward(model, ws, x + first * D, n);
        softmax_cross_entropy(ws->activations[model->layer_count], y + first, n,
                              model->class_count, NULL, &loss, &correct);
    }
    *accuracy = count ? (double)correct / (double)count : 0;
    *mean_loss = count ? loss / (double)count : 0;
    return 0;
}
