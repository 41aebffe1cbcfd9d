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
    ws->param_stride = (model->param_count + 15) / 16 * 16;
    ws->group_grads = take_floats(base, &used, ws->groups * ws->param_stride);
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
    /* a few groups per thread: one slowed by another process's load then takes fewer */
    ws->groups = 4 * ws->threads;
    ws->group_stats = calloc(ws->groups, sizeof *ws->group_stats);
    int ok = ws->activations && ws->gradients && ws->kept && ws->squared_norms && ws->factors &&
             ws->group_stats;
    if (ok) {
        size_t floats = place_arrays(model, ws, NULL);
        ws->block = memory_alloc_large((floats ? floats : 1) * sizeof(float));
        ok = ws->block != NULL;
        if (ok) {
            /* the page faults of a first touch, serialised in the kernel whatever the thread
             * count, are taken here rather than in the first training step */
            memset(ws->block, 0, (floats ? floats : 1) * sizeof(float));
            place_arrays(model, ws, ws->block);
        }
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
                    ws->squared_norms, ws->factors, ws->group_stats);
    memset(ws, 0, sizeof *ws);
}
