/* DP-SGD layers: finite-difference gradient checks for every layer kind, per-example norms and
 * clipped sums of CNNs against opacus (clip_ref.h5 cases cnn_small and cnn_groupnorm) in both
 * norm modes, Gram-form against materialised norms on random conv shapes, clipping bounds,
 * presets, and a tiny CNN learning end to end through `dpkit train`. */
#include "dp/dp.h"

#include "common/h5io.h"
#include "common/log.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet_logs(void)
{
    log_set_level(DPKIT_LOG_ERROR);
}

TestSuite(dp_layers, .init = quiet_logs);

/* ---- finite differences ---------------------------------------------------------------- */

/* A single-layer model around one spec (class_count = the layer's output size), its workspace,
 * random parameters, inputs x (n examples) and output weights r: the test function is
 * L = sum r . layer(x), so dL/d(out) = r. */
typedef struct probe {
    dp_model model;
    dp_workspace ws;
    size_t n, in_size, out_size;
    float *x, *r;
} probe;

static void probe_create(probe *p, dp_layer_spec spec, dp_shape input, size_t n, uint64_t seed,
                         int force_ghost)
{
    dpkit_error err;
    memset(p, 0, sizeof *p);
    dp_model shape_only;
    /* the output size is learnt from a throw-away model with a dense head */
    dp_layer_spec two[2] = {spec, {.kind = DP_LAYER_LINEAR, .units = 2}};
    cr_assert_eq(dp_model_create(input, 2, two, 2, &shape_only, &err), 0, "%s", err.message);
    size_t out_size = dp_shape_size(shape_only.layers[0].output);
    dp_model_free(&shape_only);
    cr_assert_eq(dp_model_create(input, out_size, &spec, 1, &p->model, &err), 0, "%s",
                 err.message);
    if (force_ghost >= 0)
        p->model.layers[0].ghost_norms = force_ghost;
    cr_assert_eq(dp_workspace_create(&p->model, n, &p->ws, &err), 0, "%s", err.message);
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_TEST);
    dp_model_init(&p->model, &r, 0);
    for (size_t j = 0; j < p->model.param_count; j++) /* biases too, and not too small */
        p->model.params[j] += (float)(0.3 * rng_gaussian(&r));
    p->n = n;
    p->in_size = dp_shape_size(input);
    p->out_size = out_size;
    p->x = malloc(n * p->in_size * sizeof *p->x);
    p->r = malloc(n * out_size * sizeof *p->r);
    for (size_t j = 0; j < n * p->in_size; j++)
        p->x[j] = spec.kind == DP_LAYER_EMBEDDING ? (float)rng_below(&r, spec.vocab)
                                                  : (float)rng_gaussian(&r);
    if (spec.kind == DP_LAYER_RELU) /* keep steps of 1e-2 off the kink at 0 */
        for (size_t j = 0; j < n * p->in_size; j++)
            if (fabsf(p->x[j]) < 0.05f)
                p->x[j] += p->x[j] < 0 ? -0.05f : 0.05f;
    if (spec.kind == DP_LAYER_MAXPOOL) {
        /* distinct values 0.05 apart: steps of 1e-2 never change a window's maximum */
        for (size_t j = 0; j < n * p->in_size; j++)
            p->x[j] = 0.05f * (float)j;
        for (size_t j = n * p->in_size; j-- > 1;) {
            size_t k = rng_below(&r, j + 1);
            float t = p->x[j];
            p->x[j] = p->x[k], p->x[k] = t;
        }
    }
    for (size_t j = 0; j < n * out_size; j++)
        p->r[j] = (float)rng_gaussian(&r);
}

static void probe_free(probe *p)
{
    dp_workspace_free(&p->ws);
    dp_model_free(&p->model);
    free(p->x);
    free(p->r);
}

static dp_scratch probe_scratch(const probe *p, int kept_valid)
{
    return (dp_scratch){.data = p->ws.scratch, .threads = p->ws.threads, .kept = p->ws.kept[0],
                        .kept_valid = kept_valid, .factors = p->ws.factors};
}

/* sum r . layer(x) over the first m examples, in double */
static double probe_loss(probe *p, size_t m)
{
    const dp_layer *layer = &p->model.layers[0];
    dp_scratch s = probe_scratch(p, 0);
    dp_layer_ops_of(layer->kind)->forward(layer, p->model.params, p->x, p->ws.activations[1], m,
                                          &s);
    double total = 0;
    for (size_t j = 0; j < m * p->out_size; j++)
        total += (double)p->r[j] * p->ws.activations[1][j];
    return total;
}

/* Float32 central differences with step h = 1e-2 against the analytic gradient. Error budget:
 * truncation h^2/6 |L'''| (about 2e-5 for these unit-scale layers) plus rounding
 * 2^-24 |L| / h summed over the outputs (about 1e-4): the bound below is 2e-3 of the
 * gradient's scale plus 1e-3 absolute. */
#define FD_STEP 1e-2f
static void expect_close(const float *analytic, const double *numeric, size_t count,
                         const char *what)
{
    double scale = 0;
    for (size_t j = 0; j < count; j++)
        scale = fmax(scale, fabs(numeric[j]));
    for (size_t j = 0; j < count; j++)
        cr_assert_leq(fabs(analytic[j] - numeric[j]), 2e-3 * scale + 1e-3,
                      "%s[%zu]: analytic %g, finite difference %g", what, j, analytic[j],
                      numeric[j]);
}

static void check_layer_gradients(dp_layer_spec spec, dp_shape input, const char *name)
{
    probe p;
    probe_create(&p, spec, input, 3, 17, -1);
    const dp_layer *layer = &p.model.layers[0];
    const dp_layer_ops *ops = dp_layer_ops_of(layer->kind);
    probe_loss(&p, p.n);
    float *out = malloc(p.n * p.out_size * sizeof *out);
    memcpy(out, p.ws.activations[1], p.n * p.out_size * sizeof *out);
    char what[96];

    if (ops->backward_input) {
        size_t count = p.n * p.in_size;
        float *grad_in = calloc(count, sizeof *grad_in);
        double *numeric = calloc(count, sizeof *numeric);
        dp_scratch s = probe_scratch(&p, 0);
        ops->backward_input(layer, p.model.params, p.x, out, p.r, grad_in, p.n, &s);
        for (size_t j = 0; j < count; j++) {
            float keep = p.x[j];
            p.x[j] = keep + FD_STEP;
            double up = probe_loss(&p, p.n);
            p.x[j] = keep - FD_STEP;
            double down = probe_loss(&p, p.n);
            p.x[j] = keep;
            numeric[j] = (up - down) / (2.0 * FD_STEP);
        }
        snprintf(what, sizeof what, "%s input gradient", name);
        expect_close(grad_in, numeric, count, what);
        free(grad_in);
        free(numeric);
    }
    size_t P = p.model.param_count;
    if (P) {
        float *grad = calloc(P, sizeof *grad);
        double *numeric = calloc(P, sizeof *numeric);
        dp_scratch s = probe_scratch(&p, 0);
        ops->add_param_gradient(layer, p.x, p.r, p.n, grad, &s);
        for (size_t j = 0; j < P; j++) {
            float keep = p.model.params[j];
            p.model.params[j] = keep + FD_STEP;
            double up = probe_loss(&p, p.n);
            p.model.params[j] = keep - FD_STEP;
            double down = probe_loss(&p, p.n);
            p.model.params[j] = keep;
            numeric[j] = (up - down) / (2.0 * FD_STEP);
        }
        snprintf(what, sizeof what, "%s parameter gradient", name);
        expect_close(grad, numeric, P, what);

        /* per-example squared norms = squared norms of single-example gradients */
        double norms[3] = {0};
        ops->add_squared_norms(layer, p.x, p.r, p.n, norms, &s);
        for (size_t i = 0; i < p.n; i++) {
            memset(grad, 0, P * sizeof *grad);
            dp_scratch one = probe_scratch(&p, 0);
            ops->add_param_gradient(layer, p.x + i * p.in_size, p.r + i * p.out_size, 1, grad,
                                    &one);
            double sq = 0;
            for (size_t j = 0; j < P; j++)
                sq += (double)grad[j] * grad[j];
            cr_assert_float_eq(norms[i], sq, 1e-5 * sq, "%s example %zu: norm^2 %g, gradient's %g",
                               name, i, norms[i], sq);
        }
        free(grad);
        free(numeric);
    }
    free(out);
    probe_free(&p);
}

Test(dp_layers, finite_differences_of_every_layer)
{
    dp_shape image = {3, 7, 6};
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_LINEAR, .units = 5}, image, "linear");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_CONV2D, .units = 4, .kernel = 3,
                                          .stride = 2, .padding = 1}, image, "conv2d 3/2/1");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_CONV2D, .units = 2, .kernel = 2,
                                          .stride = 1, .padding = 0}, image, "conv2d 2/1/0");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_TANH}, image, "tanh");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_RELU}, image, "relu");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_MAXPOOL, .kernel = 2, .stride = 1},
                          image, "maxpool 2/1");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_MAXPOOL, .kernel = 3}, image,
                          "maxpool 3/3");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_AVGPOOL, .kernel = 2}, image,
                          "avgpool 2/2");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_AVGPOOL, .kernel = 3, .stride = 2},
                          image, "avgpool 3/2");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_GROUP_NORM, .groups = 3}, image,
                          "group-norm");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_FLATTEN}, image, "flatten");
    check_layer_gradients((dp_layer_spec){.kind = DP_LAYER_EMBEDDING, .units = 4, .vocab = 5},
                          (dp_shape){9, 1, 1}, "embedding");
}

/* Both norm modes of the conv layer, forced, on the same layer. */
static void conv_norms_both_ways(dp_layer_spec spec, dp_shape input, size_t n, uint64_t seed)
{
    probe ghost, plain;
    probe_create(&ghost, spec, input, n, seed, 1);
    probe_create(&plain, spec, input, n, seed, 0);
    double *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b);
    dp_scratch sg = probe_scratch(&ghost, 0), sp = probe_scratch(&plain, 0);
    const dp_layer_ops *ops = dp_layer_ops_of(DP_LAYER_CONV2D);
    ops->add_squared_norms(&ghost.model.layers[0], ghost.x, ghost.r, n, a, &sg);
    ops->add_squared_norms(&plain.model.layers[0], plain.x, plain.r, n, b, &sp);
    for (size_t i = 0; i < n; i++)
        /* float32 Gram entries summed in double against a float32 GEMM: 1e-4 relative */
        cr_assert_float_eq(a[i], b[i], 1e-4 * b[i], "cin %zu %zux%zu k %zu s %zu p %zu out %zu, "
                           "example %zu: Gram %g, materialised %g", input.channels, input.height,
                           input.width, spec.kernel, spec.stride, spec.padding, spec.units, i,
                           a[i], b[i]);
    free(a);
    free(b);
    probe_free(&ghost);
    probe_free(&plain);
}

Test(dp_layers, gram_and_materialised_norms_agree_on_random_shapes)
{
    rng r;
    rng_init_seed(&r, 99, RNG_STREAM_TEST);
    for (int trial = 0; trial < 40; trial++) {
        size_t k = 1 + rng_below(&r, 4), p = rng_below(&r, k);
        dp_shape in = {1 + rng_below(&r, 5), k + rng_below(&r, 9), k + rng_below(&r, 9)};
        dp_layer_spec spec = {.kind = DP_LAYER_CONV2D, .units = 1 + rng_below(&r, 6),
                              .kernel = k, .stride = 1 + rng_below(&r, 3), .padding = p};
        conv_norms_both_ways(spec, in, 1 + rng_below(&r, 6), 1000 + (uint64_t)trial);
    }
}

/* The cost model sends large outputs with few channels to materialisation and small outputs
 * with many channels to the Gram form. */
Test(dp_layers, cost_model_picks_per_layer)
{
    dp_layer_spec specs[DP_PRESET_MAX_LAYERS];
    size_t count;
    dpkit_error err;
    dp_model m;
    cr_assert_eq(dp_model_preset("mnist-cnn", specs, &count, &err), 0);
    cr_assert_eq(dp_model_create((dp_shape){1, 28, 28}, 10, specs, count, &m, &err), 0, "%s",
                 err.message);
    /* conv1: T = 169, K = 64, 16 out: 173k vs 1.2M; conv2: T = 25, K = 256, 32 out: 205k vs 94k */
    cr_assert_eq(m.layers[0].ghost_norms, 0);
    cr_assert_eq(m.layers[3].ghost_norms, 1);
    cr_assert_eq(m.param_count, 26010);
    dp_model_free(&m);
}

/* ---- opacus reference (clip_ref.h5) ----------------------------------------------------- */

static double *read_f64(h5io_file *f, const char *group, const char *name, size_t expected)
{
    char path[256];
    snprintf(path, sizeof path, "/%s/%s", group, name);
    int rank;
    size_t dims[H5IO_MAX_RANK], count = 1;
    double *data = NULL;
    dpkit_error err;
    cr_assert_eq(h5io_read_array(f, path, H5IO_FLOAT64, &rank, dims, (void **)&data, &err), 0,
                 "%s", err.message);
    for (int r = 0; r < rank; r++)
        count *= dims[r];
    cr_assert_eq(count, expected, "%s: %zu values, expected %zu", path, count, expected);
    return data;
}

/* Parameter tensors in the order of dp's flat vector (conv weight, bias, fc weight, bias). */
static const char *const tensors[] = {"conv.weight", "conv.bias", "fc.weight", "fc.bias"};
static const size_t tensor_sizes[] = {36, 4, 640, 10};

static void check_sum(h5io_file *f, const char *group, const char *which, const float *grad)
{
    size_t offset = 0;
    for (int t = 0; t < 4; t++) {
        char name[96];
        snprintf(name, sizeof name, "%s/%s", which, tensors[t]);
        double *ref = read_f64(f, group, name, tensor_sizes[t]);
        double e = test_relative_error(grad + offset, ref, tensor_sizes[t]);
        cr_assert_lt(e, 1e-4, "%s %s: relative error %g", group, name, e);
        offset += tensor_sizes[t];
        free(ref);
    }
}

static void check_cnn_case(const char *group, int with_group_norm, int force_ghost)
{
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_open_read(test_data_path("clip/clip_ref.h5"), &f, &err), 0, "%s",
                 err.message);
    dp_layer_spec specs[6];
    size_t L = 0;
    specs[L++] = (dp_layer_spec){.kind = DP_LAYER_CONV2D, .units = 4, .kernel = 3, .stride = 1,
                                 .padding = 1};
    if (with_group_norm)
        specs[L++] = (dp_layer_spec){.kind = DP_LAYER_GROUP_NORM, .groups = 2};
    specs[L++] = (dp_layer_spec){.kind = DP_LAYER_TANH};
    specs[L++] = (dp_layer_spec){.kind = DP_LAYER_MAXPOOL, .kernel = 2, .stride = 2};
    specs[L++] = (dp_layer_spec){.kind = DP_LAYER_FLATTEN};
    specs[L++] = (dp_layer_spec){.kind = DP_LAYER_LINEAR, .units = 10};
    dp_model model;
    cr_assert_eq(dp_model_create((dp_shape){1, 8, 8}, 10, specs, L, &model, &err), 0, "%s",
                 err.message);
    cr_assert_eq(model.param_count, 690);
    model.layers[0].ghost_norms = force_ghost;
    size_t offset = 0;
    for (int t = 0; t < 4; t++) {
        char name[64];
        snprintf(name, sizeof name, "params/%s", tensors[t]);
        double *p = read_f64(f, group, name, tensor_sizes[t]);
        for (size_t j = 0; j < tensor_sizes[t]; j++)
            model.params[offset + j] = (float)p[j];
        offset += tensor_sizes[t];
        free(p);
    }
    const size_t n = 16;
    double *X = read_f64(f, group, "X", n * 64), *Y = read_f64(f, group, "y", n);
    double *norms_ref = read_f64(f, group, "per_example_norms", n);
    double *loss_ref = read_f64(f, group, "per_example_loss", n);
    float x[16 * 64];
    int32_t y[16];
    double loss_total = 0;
    for (size_t j = 0; j < n * 64; j++)
        x[j] = (float)X[j];
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)Y[i];
        loss_total += loss_ref[i];
    }
    char attr_path[64];
    snprintf(attr_path, sizeof attr_path, "/%s", group);
    double clip, clip_alt;
    long long n_clipped, n_clipped_alt;
    cr_assert_eq(h5io_read_attr_double(f, attr_path, "max_grad_norm", &clip, &err), 0);
    cr_assert_eq(h5io_read_attr_double(f, attr_path, "max_grad_norm_alt", &clip_alt, &err), 0);
    cr_assert_eq(h5io_read_attr_int64(f, attr_path, "n_clipped", &n_clipped, &err), 0);
    cr_assert_eq(h5io_read_attr_int64(f, attr_path, "n_clipped_alt", &n_clipped_alt, &err), 0);

    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(&model, n, &ws, &err), 0, "%s", err.message);
    float grad[690];
    double norms[16];
    const char *mode = force_ghost ? "Gram" : "materialised";
    struct {
        double clip;
        const char *which;
        long long clipped;
    } cases[] = {{clip, "clipped_sum", n_clipped},
                 {clip_alt, "clipped_sum_alt", n_clipped_alt},
                 {0.0, "grad_sum", 0}};
    for (int c = 0; c < 3; c++) {
        memset(grad, 0, sizeof grad);
        dp_batch_stats stats = {0};
        cr_assert_eq(dp_model_clipped_gradient(&model, &ws, x, y, n, cases[c].clip, grad, norms,
                                               &stats, &err), 0, "%s", err.message);
        for (size_t i = 0; i < n; i++)
            cr_assert_lt(fabs(norms[i] - norms_ref[i]) / norms_ref[i], 1e-4,
                         "%s (%s) norm %zu: %g vs %g", group, mode, i, norms[i], norms_ref[i]);
        cr_assert_lt(fabs(stats.loss_sum - loss_total) / loss_total, 1e-5);
        cr_assert_eq((long long)stats.clipped, cases[c].clipped, "%s %s", group, cases[c].which);
        check_sum(f, group, cases[c].which, grad);
    }
    /* and without asking for the norms (the unclipped batch gradient path) */
    memset(grad, 0, sizeof grad);
    dp_batch_stats stats = {0};
    cr_assert_eq(dp_model_clipped_gradient(&model, &ws, x, y, n, 0.0, grad, NULL, &stats, &err),
                 0);
    check_sum(f, group, "grad_sum", grad);

    dp_workspace_free(&ws);
    dp_model_free(&model);
    free(X), free(Y), free(norms_ref), free(loss_ref);
    h5io_close(f);
}

Test(dp_layers, cnn_norms_and_clipped_sums_match_opacus)
{
    check_cnn_case("cnn_small", 0, 0);
    check_cnn_case("cnn_small", 0, 1);
}

Test(dp_layers, cnn_with_group_norm_matches_opacus)
{
    check_cnn_case("cnn_groupnorm", 1, 0);
    check_cnn_case("cnn_groupnorm", 1, 1);
}

/* ---- properties of the whole model ----------------------------------------------------- */

/* Each example's clipped gradient (a batch of one) has norm min(norm_i, C) <= C, and the batch
 * clipped sum is the sum of them; with both conv modes in one model. */
Test(dp_layers, clipped_per_example_gradients_never_exceed_the_clip_norm)
{
    dpkit_error err;
    dp_layer_spec specs[] = {
        {.kind = DP_LAYER_CONV2D, .units = 8, .kernel = 3, .stride = 1, .padding = 1},
        {.kind = DP_LAYER_RELU},
        {.kind = DP_LAYER_AVGPOOL, .kernel = 2},
        {.kind = DP_LAYER_CONV2D, .units = 8, .kernel = 3, .stride = 2},
        {.kind = DP_LAYER_GROUP_NORM, .groups = 4},
        {.kind = DP_LAYER_TANH},
        {.kind = DP_LAYER_FLATTEN},
        {.kind = DP_LAYER_LINEAR, .units = 5}};
    dp_model model;
    cr_assert_eq(dp_model_create((dp_shape){2, 10, 10}, 5, specs, 8, &model, &err), 0, "%s",
                 err.message);
    cr_assert_eq(model.layers[0].ghost_norms, 0, "conv1 materialises");
    cr_assert_eq(model.layers[3].ghost_norms, 1, "conv2 takes the Gram form");
    rng r;
    rng_init_seed(&r, 8, RNG_STREAM_TEST);
    dp_model_init(&model, &r, 0);
    const size_t n = 24, D = 200, P = model.param_count;
    float *x = malloc(n * D * sizeof *x);
    int32_t y[24];
    for (size_t j = 0; j < n * D; j++)
        x[j] = (float)(2 * rng_gaussian(&r));
    for (size_t i = 0; i < n; i++)
        y[i] = (int32_t)rng_below(&r, 5);
    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(&model, n, &ws, &err), 0);
    float *sum = calloc(P, sizeof *sum), *one = calloc(P, sizeof *one), *total = calloc(P, sizeof *total);
    double norms[24], median_like = 0;
    dp_batch_stats stats = {0};
    cr_assert_eq(dp_model_clipped_gradient(&model, &ws, x, y, n, 0.0, sum, norms, &stats, &err), 0);
    for (size_t i = 0; i < n; i++)
        median_like += norms[i] / n;
    double C = 0.7 * median_like; /* some examples clipped, some not */
    memset(sum, 0, P * sizeof *sum);
    stats = (dp_batch_stats){0};
    cr_assert_eq(dp_model_clipped_gradient(&model, &ws, x, y, n, C, sum, NULL, &stats, &err), 0);
    cr_assert_gt(stats.clipped, 0);
    cr_assert_lt(stats.clipped, n);
    for (size_t i = 0; i < n; i++) {
        memset(one, 0, P * sizeof *one);
        dp_batch_stats s = {0};
        cr_assert_eq(dp_model_clipped_gradient(&model, &ws, x + i * D, y + i, 1, C, one, NULL,
                                               &s, &err), 0);
        double sq = 0;
        for (size_t j = 0; j < P; j++) {
            sq += (double)one[j] * one[j];
            total[j] += one[j];
        }
        cr_assert_leq(sqrt(sq), C * (1 + 1e-5), "example %zu: %g > C = %g", i, sqrt(sq), C);
        cr_assert_float_eq(sqrt(sq), fmin(norms[i], C), 1e-4 * fmin(norms[i], C));
    }
    double scale = 0;
    for (size_t j = 0; j < P; j++)
        scale = fmax(scale, fabs(total[j]));
    for (size_t j = 0; j < P; j++)
        cr_assert_leq(fabs(sum[j] - total[j]), 1e-5 * scale);
    free(sum), free(one), free(total), free(x);
    dp_workspace_free(&ws);
    dp_model_free(&model);
}

/* Element-wise layers run in their input's arrays unless a value they overwrite is read again
 * (dp/model.c, shares_input): the output of a relu or a group norm, which their backward
 * passes read, even through a flatten that shares it. */
Test(dp_layers, in_place_layers_share_only_arrays_nobody_reads_again)
{
    dpkit_error err;
    dp_layer_spec specs[] = {
        {.kind = DP_LAYER_CONV2D, .units = 4, .kernel = 3, .padding = 1},
        {.kind = DP_LAYER_TANH},       /* 1: shares the conv's output */
        {.kind = DP_LAYER_GROUP_NORM, .groups = 2},
        {.kind = DP_LAYER_TANH},       /* 3: not over the group norm's output */
        {.kind = DP_LAYER_RELU},       /* 4: not over the tanh's */
        {.kind = DP_LAYER_FLATTEN},    /* 5: shares (changes no value) */
        {.kind = DP_LAYER_TANH},       /* 6: not over the relu's, even through the flatten */
        {.kind = DP_LAYER_LINEAR, .units = 3},
        {.kind = DP_LAYER_FLATTEN}};   /* 8: shares the linear's output */
    const int shared[] = {0, 1, 0, 0, 0, 1, 0, 0, 1};
    dp_model model;
    cr_assert_eq(dp_model_create((dp_shape){1, 4, 4}, 3, specs, 9, &model, &err), 0, "%s",
                 err.message);
    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(&model, 5, &ws, &err), 0, "%s", err.message);
    for (size_t l = 0; l < 9; l++) {
        cr_assert_eq(ws.activations[l + 1] == ws.activations[l], shared[l], "layer %zu", l);
        cr_assert_eq(ws.gradients[l + 1] == ws.gradients[l], shared[l], "layer %zu", l);
    }
    dp_workspace_free(&ws);
    dp_model_free(&model);
}

Test(dp_layers, presets_build_on_their_inputs)
{
    struct {
        const char *name;
        dp_shape input;
        size_t params;
    } cases[] = {{"mnist-cnn", {1, 28, 28}, 26010},
                 {"cifar10-cnn", {3, 32, 32}, 550570},
                 {"scatter-cnn-mnist", {81, 7, 7}, 33066},
                 {"scatter-cnn-cifar10", {243, 8, 8}, 187210}};
    for (int c = 0; c < 4; c++) {
        dp_layer_spec specs[DP_PRESET_MAX_LAYERS];
        size_t count;
        dpkit_error err;
        cr_assert_eq(dp_model_preset(cases[c].name, specs, &count, &err), 0, "%s", err.message);
        dp_model m;
        cr_assert_eq(dp_model_create(cases[c].input, 10, specs, count, &m, &err), 0, "%s: %s",
                     cases[c].name, err.message);
        cr_assert_eq(m.param_count, cases[c].params, "%s: %zu parameters", cases[c].name,
                     m.param_count);
        dp_model_free(&m);
    }
    dp_layer_spec specs[DP_PRESET_MAX_LAYERS];
    size_t count;
    dpkit_error err;
    cr_assert_neq(dp_model_preset("resnet", specs, &count, &err), 0);
    cr_assert(strstr(err.message, "mnist-cnn") != NULL, "%s", err.message);
}

Test(dp_layers, embedding_refuses_bad_token_ids_and_other_positions)
{
    dpkit_error err;
    dp_layer_spec specs[] = {{.kind = DP_LAYER_EMBEDDING, .units = 3, .vocab = 4},
                             {.kind = DP_LAYER_LINEAR, .units = 2}};
    dp_model m;
    cr_assert_eq(dp_model_create((dp_shape){5, 1, 1}, 2, specs, 2, &m, &err), 0, "%s",
                 err.message);
    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(&m, 2, &ws, &err), 0);
    float x[10] = {0, 1, 2, 3, 0, 1, 2, 4, 0, 0}; /* 4 is outside the vocabulary */
    int32_t y[2] = {0, 1};
    float grad[12 + 32] = {0};
    dp_batch_stats stats = {0};
    cr_assert_neq(dp_model_clipped_gradient(&m, &ws, x, y, 2, 1.0, grad, NULL, &stats, &err), 0);
    cr_assert(strstr(err.message, "token id") != NULL, "%s", err.message);
    x[7] = 1.5f;
    cr_assert_neq(dp_model_clipped_gradient(&m, &ws, x, y, 2, 1.0, grad, NULL, &stats, &err), 0);
    x[7] = 3;
    cr_assert_eq(dp_model_clipped_gradient(&m, &ws, x, y, 2, 1.0, grad, NULL, &stats, &err), 0,
                 "%s", err.message);
    dp_workspace_free(&ws);
    dp_model_free(&m);
    dp_layer_spec late[] = {{.kind = DP_LAYER_LINEAR, .units = 5},
                            {.kind = DP_LAYER_EMBEDDING, .units = 2, .vocab = 4}};
    cr_assert_neq(dp_model_create((dp_shape){5, 1, 1}, 10, late, 2, &m, &err), 0);
    cr_assert(strstr(err.message, "first layer") != NULL, "%s", err.message);
}

/* ---- end to end ----------------------------------------------------------------------- */

static const char *cnn_config =
    "name: tiny-cnn\n"
    "seed: 3\n"
    "data: {dataset: synthetic}\n"
    "features: {extractor: raw}\n"
    "model:\n"
    "  kind: cnn\n"
    "  layers:\n"
    "    - {kind: conv2d, units: 6, kernel: 5, stride: 2, padding: 1}\n"
    "    - {kind: tanh}\n"
    "    - {kind: maxpool, kernel: 2}\n"
    "    - {kind: conv2d, units: 8, kernel: 3, padding: 1}\n"
    "    - {kind: tanh}\n"
    "    - {kind: flatten}\n"
    "    - {kind: linear, units: 10}\n"
    "privacy: {epsilon: 8.0, delta: 1e-5, max_grad_norm: 1.0}\n"
    "training:\n"
    "  epochs: 6\n"
    "  batch_size: 100\n"
    "  physical_batch: 64\n"
    "  optimizer: {kind: sgd, lr: 1, momentum: 0.9}\n";

Test(dp_layers, tiny_cnn_learns_through_dpkit_train)
{
    char config_path[1200], args[4096], cache[1200];
    const char *dir = test_temp_dir();
    snprintf(config_path, sizeof config_path, "%s/tiny-cnn.yaml", dir);
    cr_assert_eq(test_write_file(config_path, cnn_config, strlen(cnn_config)), 0);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("DPKIT_CACHE", cache, 1);
    snprintf(args, sizeof args, "-q train %s --output %s/run", config_path, dir);
    char *out = NULL;
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    free(out);
    char path[2048];
    snprintf(path, sizeof path, "%s/run/summary.json", dir);
    char *summary = test_read_file(path, NULL);
    cr_assert_not_null(summary);
    const char *at = strstr(summary, "\"test_accuracy\":");
    cr_assert_not_null(at, "%s", summary);
    double accuracy = strtod(at + strlen("\"test_accuracy\":"), NULL);
    /* 10 classes (chance 0.1); the class patterns are easy once the model trains */
    cr_assert_gt(accuracy, 0.6, "test accuracy %g\n%s", accuracy, summary);
    free(summary);
    snprintf(args, sizeof args, "eval %s/run/model.h5", dir);
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    free(out);
}

/* Model files keep conv, pool, group-norm, flatten and embedding layers (and the norm modes,
 * which are derived from the shapes). */
Test(dp_layers, model_file_round_trip_of_every_kind)
{
    dpkit_error err;
    dp_layer_spec specs[] = {
        {.kind = DP_LAYER_CONV2D, .units = 3, .kernel = 3, .stride = 2, .padding = 1},
        {.kind = DP_LAYER_GROUP_NORM, .groups = 3},
        {.kind = DP_LAYER_RELU},
        {.kind = DP_LAYER_AVGPOOL, .kernel = 2, .stride = 1},
        {.kind = DP_LAYER_MAXPOOL, .kernel = 2},
        {.kind = DP_LAYER_FLATTEN},
        {.kind = DP_LAYER_LINEAR, .units = 4}};
    dp_model a, b;
    cr_assert_eq(dp_model_create((dp_shape){2, 9, 9}, 4, specs, 7, &a, &err), 0, "%s",
                 err.message);
    rng r;
    rng_init_seed(&r, 2, RNG_STREAM_INIT);
    dp_model_init(&a, &r, 0);
    char path[512];
    snprintf(path, sizeof path, "%s/cnn.h5", test_temp_dir());
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(dp_model_save_h5(&a, f, "/model", &err), 0, "%s", err.message);
    cr_assert_eq(h5io_commit(f, &err), 0);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    cr_assert_eq(dp_model_load_h5(&b, f, "/model", &err), 0, "%s", err.message);
    int rank;
    size_t dims[H5IO_MAX_RANK];
    cr_assert_eq(h5io_array_shape(f, "/model/0.conv2d.weight", &rank, dims, &err), 0);
    cr_assert_eq(rank, 4);
    cr_assert(dims[0] == 3 && dims[1] == 2 && dims[2] == 3 && dims[3] == 3);
    h5io_close(f);
    cr_assert_eq(b.layer_count, a.layer_count);
    for (size_t l = 0; l < a.layer_count; l++) {
        cr_assert_eq(b.layers[l].kind, a.layers[l].kind);
        cr_assert_eq(b.layers[l].kernel, a.layers[l].kernel);
        cr_assert_eq(b.layers[l].stride, a.layers[l].stride);
        cr_assert_eq(b.layers[l].ghost_norms, a.layers[l].ghost_norms);
    }
    cr_assert_eq(memcmp(a.params, b.params, a.param_count * sizeof(float)), 0);
    dp_model_free(&a);
    dp_model_free(&b);

    dp_layer_spec text[] = {{.kind = DP_LAYER_EMBEDDING, .units = 3, .vocab = 7},
                            {.kind = DP_LAYER_FLATTEN},
                            {.kind = DP_LAYER_LINEAR, .units = 7}};
    cr_assert_eq(dp_model_create((dp_shape){4, 1, 1}, 7, text, 3, &a, &err), 0, "%s",
                 err.message);
    dp_model_init(&a, &r, 0);
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(dp_model_save_h5(&a, f, "/model", &err), 0, "%s", err.message);
    cr_assert_eq(h5io_commit(f, &err), 0);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    cr_assert_eq(dp_model_load_h5(&b, f, "/model", &err), 0, "%s", err.message);
    cr_assert_eq(h5io_array_shape(f, "/model/0.embedding.weight", &rank, dims, &err), 0);
    cr_assert(rank == 2 && dims[0] == 7 && dims[1] == 3);
    h5io_close(f);
    cr_assert_eq(b.layers[0].vocab, 7);
    cr_assert_eq(memcmp(a.params, b.params, a.param_count * sizeof(float)), 0);
    dp_model_free(&a);
    dp_model_free(&b);
}

/* A config's model section: presets, mlp restrictions, and layers that do not fit. */
Test(dp_layers, model_configs_give_clear_errors)
{
    const char *dir = test_temp_dir();
    struct {
        const char *model;
        const char *message;
    } cases[] = {
        {"{kind: cnn, preset: lenet}", "expected one of mnist-cnn"},
        {"{kind: cnn, preset: mnist-cnn, layers: [{kind: tanh}]}", "keep one"},
        {"{kind: linear, preset: mnist-cnn}", "model.kind is linear"},
        {"{kind: mlp, preset: mnist-cnn}", "needs model.kind cnn"},
        {"{kind: mlp, layers: [{kind: conv2d, units: 2, kernel: 3}, {kind: linear, units: 10}]}",
         "not allowed in an mlp"},
        {"{kind: cnn, layers: [{kind: conv2d, units: 2, kernel: 40}, {kind: linear, units: 10}]}",
         "larger than the padded input"},
        {"{kind: cnn, layers: [{kind: linear, units: 10}, {kind: embedding, units: 2, vocab: 3}]}",
         "first layer"},
    };
    char cache[1200];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("DPKIT_CACHE", cache, 1);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[1024], path[1200], args[4096];
        snprintf(text, sizeof text,
                 "data: {dataset: synthetic}\nfeatures: {extractor: raw}\nmodel: %s\n"
                 "privacy: {enabled: false}\ntraining: {epochs: 1, batch_size: 100}\n",
                 cases[c].model);
        snprintf(path, sizeof path, "%s/bad%zu.yaml", dir, c);
        cr_assert_eq(test_write_file(path, text, strlen(text)), 0);
        snprintf(args, sizeof args, "-q train %s --output %s/bad%zu", path, dir, c);
        char *out = NULL;
        cr_assert_eq(test_run_dpkit(args, &out), 1, "%s: %s", cases[c].model, out);
        cr_assert(strstr(out, cases[c].message) != NULL, "%s: expected '%s' in: %s",
                  cases[c].model, cases[c].message, out);
        free(out);
    }
}

/* The preset on the paper's MNIST input shape trains and evaluates (synthetic 1x28x28). */
Test(dp_layers, mnist_cnn_preset_trains_through_dpkit_train)
{
    const char *dir = test_temp_dir();
    char path[1200], args[4096], cache[1200];
    const char *text = "name: preset\nseed: 1\ndata: {dataset: synthetic}\n"
                       "features: {extractor: raw}\nmodel: {kind: cnn, preset: mnist-cnn}\n"
                       "privacy: {epsilon: 8.0, delta: 1e-5, max_grad_norm: 1.0}\n"
                       "training: {epochs: 2, batch_size: 200, physical_batch: 128,\n"
                       "           optimizer: {kind: sgd, lr: 1, momentum: 0.9}}\n";
    snprintf(path, sizeof path, "%s/preset.yaml", dir);
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("DPKIT_CACHE", cache, 1);
    snprintf(args, sizeof args, "train %s --output %s/run", path, dir);
    char *out = NULL;
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    free(out);
    snprintf(args, sizeof args, "eval %s/run/model.h5", dir);
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    cr_assert(strstr(out, "accuracy") != NULL, "%s", out);
    free(out);
}

/* model.kind mlp: dense layers over the flattened features, trained through the CLI. */
Test(dp_layers, mlp_from_a_layer_list_trains)
{
    const char *dir = test_temp_dir();
    char path[1200], args[4096], cache[1200];
    const char *text = "name: mlp\nseed: 2\ndata: {dataset: synthetic}\n"
                       "features: {extractor: raw}\n"
                       "model:\n  kind: mlp\n  layers:\n    - {kind: flatten}\n"
                       "    - {kind: linear, units: 32}\n    - {kind: relu}\n"
                       "    - {kind: linear, units: 10}\n"
                       "privacy: {epsilon: 8.0, delta: 1e-5, max_grad_norm: 1.0}\n"
                       "training: {epochs: 4, batch_size: 100, physical_batch: 64,\n"
                       "           optimizer: {kind: sgd, lr: 1, momentum: 0.9}}\n";
    snprintf(path, sizeof path, "%s/mlp.yaml", dir);
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("DPKIT_CACHE", cache, 1);
    snprintf(args, sizeof args, "-q train %s --output %s/run", path, dir);
    char *out = NULL;
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/run/summary.json", dir);
    char *summary = test_read_file(path, NULL);
    cr_assert_not_null(summary);
    const char *at = strstr(summary, "\"test_accuracy\":");
    cr_assert_not_null(at, "%s", summary);
    double accuracy = strtod(at + strlen("\"test_accuracy\":"), NULL);
    cr_assert_gt(accuracy, 0.6, "test accuracy %g\n%s", accuracy, summary);
    free(summary);
}
