/* Augmentation multiplicity for layered models (dp_model_clipped_gradient_copies,
 * docs/maths.md 4.17): the clipped sum of the examples' mean copy gradients against the
 * definition built in double from each copy's own gradient, per-example norms and counts, the
 * linear model on this path against its row path (dp/linear_rows.c), and refusals. */
#include "dp/dp.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* conv 4 3x3 pad 1, tanh, maxpool 2/2, conv 5 3x3 pad 1, tanh, flatten, linear 12, tanh,
 * linear K on 2x6x6 inputs: every kind of parameterised layer of the image models. */
static void small_cnn(dp_model *model, size_t K, uint64_t seed)
{
    dpkit_error err;
    dp_layer_spec specs[] = {
        {.kind = DP_LAYER_CONV2D, .units = 4, .kernel = 3, .stride = 1, .padding = 1},
        {.kind = DP_LAYER_TANH},
        {.kind = DP_LAYER_MAXPOOL, .kernel = 2, .stride = 2},
        {.kind = DP_LAYER_CONV2D, .units = 5, .kernel = 3, .stride = 1, .padding = 1},
        {.kind = DP_LAYER_TANH},
        {.kind = DP_LAYER_FLATTEN},
        {.kind = DP_LAYER_LINEAR, .units = 12},
        {.kind = DP_LAYER_TANH},
        {.kind = DP_LAYER_LINEAR, .units = K}};
    cr_assert_eq(dp_model_create((dp_shape){2, 6, 6}, K, specs, 9, model, &err), 0, "%s",
                 err.message);
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_TEST);
    dp_model_init(model, &r, 0);
}

/* n examples of `copies` adjacent rows of D floats: each copy a perturbation of its example's
 * copy 0 of relative size 0.5, examples of different scales; labels shared by the copies. */
static void make_rows(size_t n, size_t copies, size_t D, size_t K, uint64_t seed, float *x,
                      int32_t *y)
{
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_TEST);
    for (size_t i = 0; i < n; i++) {
        double s = 0.3 * (1 + (double)(i % 5));
        int32_t label = (int32_t)rng_below(&r, K);
        for (size_t j = 0; j < D; j++) {
            double v = s * rng_gaussian(&r);
            for (size_t c = 0; c < copies; c++) {
                x[(i * copies + c) * D + j] = (float)(c ? v + 0.5 * s * rng_gaussian(&r) : v);
                y[i * copies + c] = label;
            }
        }
    }
}

/* The definition in double: g_i = (1/K) sum_k (copy k's unclipped gradient, dp_model's path
 * for one row), its norm into norms[i], min(1, C / ||g_i||) g_i (C <= 0: g_i) added to want.
 * Returns the number clipped. */
static size_t definition(const dp_model *model, dp_workspace *ws, const float *x,
                         const int32_t *y, size_t n, size_t copies, double clip, double *want,
                         double *norms)
{
    dpkit_error err;
    size_t P = model->param_count, D = dp_shape_size(model->input), clipped = 0;
    float *one = malloc(P * sizeof *one);
    double *g = malloc(P * sizeof *g);
    memset(want, 0, P * sizeof *want);
    for (size_t i = 0; i < n; i++) {
        memset(g, 0, P * sizeof *g);
        for (size_t c = 0; c < copies; c++) {
            size_t row = i * copies + c;
            dp_batch_stats stats = {0};
            memset(one, 0, P * sizeof *one);
            cr_assert_eq(dp_model_clipped_gradient(model, ws, x + row * D, y + row, 1, 0.0, one,
                                                   NULL, &stats, &err),
                         0, "%s", err.message);
            for (size_t j = 0; j < P; j++)
                g[j] += one[j] / (double)copies;
        }
        double s = 0;
        for (size_t j = 0; j < P; j++)
            s += g[j] * g[j];
        norms[i] = sqrt(s);
        double factor = clip > 0 && norms[i] > clip ? clip / norms[i] : 1.0;
        clipped += factor < 1;
        for (size_t j = 0; j < P; j++)
            want[j] += factor * g[j];
    }
    free(one), free(g);
    return clipped;
}

/* 2, 3 and 8 copies (chunks of 64 rows hold 32, 21 and 8 examples; 150 / 50 / 20 examples span
 * several chunks and groups), a clip between the examples' norms and none: the sum equals the
 * definition to 1e-5 relative, the norms to 1e-5, the clipped count exactly; loss and
 * accuracy are copy 0's. */
Test(dp_augment_layers, clipped_mean_of_copies_equals_its_definition)
{
    const size_t copies[] = {2, 3, 8}, counts[] = {150, 50, 20}, K = 4;
    for (size_t a = 0; a < 3; a++) {
        dpkit_error err;
        dp_model model;
        dp_workspace ws;
        small_cnn(&model, K, 10 + a);
        size_t n = counts[a], rows = n * copies[a], D = dp_shape_size(model.input);
        size_t P = model.param_count;
        cr_assert_eq(dp_workspace_create(&model, rows, &ws, &err), 0, "%s", err.message);
        float *x = malloc(rows * D * sizeof *x), *grad = malloc(P * sizeof *grad);
        int32_t *y = malloc(rows * sizeof *y);
        double *want = malloc(P * sizeof *want), *want_norms = malloc(n * sizeof *want_norms);
        double *norms = malloc(n * sizeof *norms), *sorted = malloc(n * sizeof *sorted);
        make_rows(n, copies[a], D, K, 20 + a, x, y);
        definition(&model, &ws, x, y, n, copies[a], 0.0, want, want_norms);
        memcpy(sorted, want_norms, n * sizeof *sorted);
        for (size_t i = 1; i < n; i++) /* insertion sort: n is small */
            for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                double t = sorted[j];
                sorted[j] = sorted[j - 1], sorted[j - 1] = t;
            }
        double clips[] = {0.5 * (sorted[n / 2 - 1] + sorted[n / 2]), 0.0};
        for (int c = 0; c < 2; c++) {
            dp_batch_stats stats = {0};
            memset(grad, 0, P * sizeof *grad);
            cr_assert_eq(dp_model_clipped_gradient_copies(&model, &ws, x, y, n, copies[a],
                                                          clips[c], grad, norms, &stats, &err),
                         0, "%s", err.message);
            size_t clipped = definition(&model, &ws, x, y, n, copies[a], clips[c], want,
                                        want_norms);
            cr_assert_lt(test_relative_error(grad, want, P), 1e-5, "%zu copies, clip %g",
                         copies[a], clips[c]);
            for (size_t i = 0; i < n; i++)
                cr_assert_float_eq(norms[i], want_norms[i], 1e-5 * want_norms[i],
                                   "%zu copies, example %zu: %.9g, want %.9g", copies[a], i,
                                   norms[i], want_norms[i]);
            cr_assert_eq(stats.clipped, clipped, "%zu copies: %zu clipped, want %zu", copies[a],
                         stats.clipped, clipped);
            if (c == 0)
                cr_assert(clipped > 0 && clipped < n, "%zu clipped", clipped);
            /* the loss and accuracy of the originals alone */
            float *x0 = malloc(n * D * sizeof *x0);
            int32_t *y0 = malloc(n * sizeof *y0);
            for (size_t i = 0; i < n; i++) {
                memcpy(x0 + i * D, x + i * copies[a] * D, D * sizeof *x0);
                y0[i] = y[i * copies[a]];
            }
            dp_batch_stats plain = {0};
            memset(grad, 0, P * sizeof *grad);
            cr_assert_eq(dp_model_clipped_gradient(&model, &ws, x0, y0, n, 0.0, grad, NULL,
                                                   &plain, &err),
                         0, "%s", err.message);
            cr_assert_eq(stats.correct, plain.correct);
            cr_assert_float_eq(stats.loss_sum, plain.loss_sum, 1e-9 * plain.loss_sum);
            free(x0), free(y0);
        }
        free(x), free(grad), free(y), free(want), free(want_norms), free(norms), free(sorted);
        dp_workspace_free(&ws);
        dp_model_free(&model);
    }
}

/* A single linear layer on this path and on its row path (dp/linear_rows.c, which forms the
 * norm from Gram matrices instead): the same clipped sum to 1e-5 relative and the same count. */
Test(dp_augment_layers, linear_model_agrees_with_the_row_path)
{
    dpkit_error err;
    const size_t D = 45, K = 10, n = 60, copies = 4;
    dp_model model;
    dp_workspace ws;
    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = K};
    cr_assert_eq(dp_model_create((dp_shape){D, 1, 1}, K, &spec, 1, &model, &err), 0);
    cr_assert_eq(dp_workspace_create(&model, n * copies, &ws, &err), 0, "%s", err.message);
    rng r;
    rng_init_seed(&r, 5, RNG_STREAM_TEST);
    for (size_t j = 0; j < model.param_count; j++)
        model.params[j] = (float)(0.3 * rng_gaussian(&r));
    float *x = malloc(n * copies * D * sizeof *x);
    int32_t *y = malloc(n * copies * sizeof *y);
    make_rows(n, copies, D, K, 6, x, y);
    /* the row path reads copy c of example i from its own matrix */
    float *mats[DP_AUGMENT_MAX_COPIES];
    int32_t labels[60];
    size_t indices[60];
    for (size_t c = 0; c < copies; c++) {
        mats[c] = malloc(n * D * sizeof(float));
        for (size_t i = 0; i < n; i++)
            memcpy(mats[c] + i * D, x + (i * copies + c) * D, D * sizeof(float));
    }
    for (size_t i = 0; i < n; i++)
        labels[i] = y[i * copies], indices[i] = i;
    dp_data data = {.x = mats[0], .y = labels, .count = n, .copies = copies,
                    .copy_x = (const float *const *)(mats + 1)};
    size_t P = model.param_count;
    float *rows_grad = calloc(P, sizeof *rows_grad), *grad = calloc(P, sizeof *grad);
    double *want = malloc(P * sizeof *want);
    dp_batch_stats s_rows = {0}, s_copies = {0};
    cr_assert_eq(dp_linear_rows_clipped_gradient(&model, &ws, &data, indices, n, 4.0, rows_grad,
                                                 &s_rows, &err),
                 0, "%s", err.message);
    cr_assert_eq(dp_model_clipped_gradient_copies(&model, &ws, x, y, n, copies, 4.0, grad, NULL,
                                                  &s_copies, &err),
                 0, "%s", err.message);
    for (size_t j = 0; j < P; j++)
        want[j] = rows_grad[j];
    cr_assert_lt(test_relative_error(grad, want, P), 1e-5);
    cr_assert_eq(s_copies.clipped, s_rows.clipped);
    cr_assert(s_rows.clipped > 0 && s_rows.clipped < n, "%zu clipped", s_rows.clipped);
    cr_assert_eq(s_copies.correct, s_rows.correct);
    for (size_t c = 0; c < copies; c++)
        free(mats[c]);
    free(x), free(y), free(rows_grad), free(grad), free(want);
    dp_workspace_free(&ws);
    dp_model_free(&model);
}

/* Copies of one example with different labels, copy counts outside 1..16 and more rows than
 * the workspace holds are refused with messages that say so. */
Test(dp_augment_layers, bad_copies_are_refused)
{
    dpkit_error err;
    dp_model model;
    dp_workspace ws;
    small_cnn(&model, 3, 1);
    size_t D = dp_shape_size(model.input), P = model.param_count;
    cr_assert_eq(dp_workspace_create(&model, 8, &ws, &err), 0, "%s", err.message);
    float *x = calloc(8 * D, sizeof *x), *grad = calloc(P, sizeof *grad);
    int32_t y[8] = {0, 0, 1, 2, 0, 0, 0, 0};
    dp_batch_stats stats = {0};
    cr_assert_eq(dp_model_clipped_gradient_copies(&model, &ws, x, y, 4, 2, 1.0, grad, NULL,
                                                  &stats, &err), -1);
    cr_assert(strstr(err.message, "copy 1 of example 1 has label 2") != NULL, "%s", err.message);
    cr_assert_eq(dp_model_clipped_gradient_copies(&model, &ws, x, y, 1, 0, 1.0, grad, NULL,
                                                  &stats, &err), -1);
    cr_assert(strstr(err.message, "0 copies of each example, expected 1..16") != NULL, "%s",
              err.message);
    cr_assert_eq(dp_model_clipped_gradient_copies(&model, &ws, x, y, 1, 17, 1.0, grad, NULL,
                                                  &stats, &err), -1);
    cr_assert(strstr(err.message, "expected 1..16") != NULL, "%s", err.message);
    cr_assert_eq(dp_model_clipped_gradient_copies(&model, &ws, x, y, 3, 3, 1.0, grad, NULL,
                                                  &stats, &err), -1);
    cr_assert(strstr(err.message, "batch of 9 rows (3 examples x 3 copies), workspace holds 8")
                  != NULL, "%s", err.message);
    free(x), free(grad);
    dp_workspace_free(&ws);
    dp_model_free(&model);
}
