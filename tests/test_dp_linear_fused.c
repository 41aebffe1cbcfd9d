/* The few-class linear softmax kernels (dp/linear_fused.c) against their definitions in double
 * precision for every block size, and the DP-SGD step built on them (dp/linear_rows.c) against
 * the generic layer path (dp/layer_linear.c's per-example norms and clipped sums) on random
 * problems whose width spans several column tiles and ends off the vector width. */
#include "dp/layers_internal.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef void (*fused_logits_fn)(const float *const *, size_t, const float *, size_t, size_t,
                                size_t, float *, double *);
typedef void (*fused_accumulate_fn)(const float *const *, size_t, const float *, size_t, size_t,
                                    float *, size_t);

/* Logits, squared norms and coefficient-weighted row sums of m rows, m = 1, 1 + m_step, ... up
 * to 37, and 70 (odd and even counts, partial row groups, more rows than one accumulation call
 * takes), rows of D floats, W and the gradient S floats a row, against double-precision sums;
 * the S - D floats between rows are left alone. */
static void check_kernels(fused_logits_fn logits_of, fused_accumulate_fn accumulate, size_t D,
                          size_t m_step)
{
    const size_t S = D + 11, K = 7, rows_total = 37;
    rng r;
    rng_init_seed(&r, 21, RNG_STREAM_TEST);
    float *x = malloc(rows_total * D * sizeof *x), *w = malloc(K * S * sizeof *w);
    float *grad = malloc(K * S * sizeof *grad);
    double *want = malloc(K * S * sizeof *want);
    for (size_t j = 0; j < rows_total * D; j++)
        x[j] = (float)rng_gaussian(&r);
    for (size_t j = 0; j < K * S; j++)
        w[j] = j % S < D ? (float)(0.1 * rng_gaussian(&r)) : NAN; /* the gap is never read */
    for (size_t m = 1; m <= 70; m = m == rows_total ? 70 : m + m_step) {
        const float *rows[70];
        float logits[70 * 7], coef[70 * 7];
        double squared[70], want_logits[70 * 7], want_squared[70];
        for (size_t i = 0; i < m; i++) {
            rows[i] = x + ((i * 5) % rows_total) * D; /* out of order, some twice */
            squared[i] = 0;
            for (size_t c = 0; c < K; c++) {
                logits[i * K + c] = (float)c;
                coef[i * K + c] = (float)rng_gaussian(&r);
            }
        }
        for (size_t i = 0; i < m; i++) {
            want_squared[i] = 0;
            for (size_t j = 0; j < D; j++)
                want_squared[i] += (double)rows[i][j] * rows[i][j];
            for (size_t c = 0; c < K; c++) {
                double s = (double)c;
                for (size_t j = 0; j < D; j++)
                    s += (double)rows[i][j] * w[c * S + j];
                want_logits[i * K + c] = s;
            }
        }
        for (size_t c = 0; c < K; c++)
            for (size_t j = 0; j < S; j++) {
                double s = 1.0; /* added to what the gradient held */
                for (size_t i = 0; j < D && i < m; i++)
                    s += (double)coef[i * K + c] * rows[i][j];
                want[c * S + j] = s;
                grad[c * S + j] = 1.0f;
            }
        logits_of(rows, m, w, S, D, K, logits, squared);
        accumulate(rows, m, coef, D, K, grad, S);
        cr_assert_lt(test_relative_error(logits, want_logits, m * K), 1e-5, "%zu rows", m);
        for (size_t i = 0; i < m; i++)
            /* summed in double: the clip factor's rounding margin relies on it */
            cr_assert_float_eq(squared[i], want_squared[i], 1e-12 * want_squared[i], "row %zu", i);
        cr_assert_lt(test_relative_error(grad, want, K * S), 1e-5, "%zu rows", m);
    }
    /* without squared norms the logits are the same */
    const float *one[1] = {x};
    float z[7] = {0};
    logits_of(one, 1, w, S, D, K, z, NULL);
    for (size_t c = 0; c < K; c++) {
        double s = 0;
        for (size_t j = 0; j < D; j++)
            s += (double)x[j] * w[c * S + j];
        cr_assert_float_eq(z[c], s, 1e-5 * fmax(fabs(s), 1.0));
    }
    free(x), free(w), free(grad), free(want);
}

#ifdef DP_LINEAR_FUSED_AVX512
static void accumulate_avx512(const float *const *rows, size_t m, const float *coef, size_t D,
                              size_t K, float *grad, size_t stride)
{
    dp_linear_fused_accumulate_with(dp_linear_fused_accumulate_group_avx512, rows, m, coef, D, K,
                                    grad, stride);
}
#endif

/* Both sets of kernels: the portable ones and, where the CPU has AVX-512F, the 512-bit ones;
 * rows over 3 column tiles with a ragged end, and (fewer row counts) rows longer than the
 * 512-bit logits' 16,384-column pieces. */
Test(dp_linear_fused, kernels_equal_their_definitions)
{
    const size_t narrow = 2 * 2048 + 37, wide = 16384 + 2048 + 37;
    check_kernels(dp_linear_fused_logits_portable, dp_linear_fused_accumulate_portable, narrow, 1);
    check_kernels(dp_linear_fused_logits_portable, dp_linear_fused_accumulate_portable, wide, 18);
#ifdef DP_LINEAR_FUSED_AVX512
    if (dp_linear_fused_has_avx512()) {
        check_kernels(dp_linear_fused_logits_avx512, accumulate_avx512, narrow, 1);
        check_kernels(dp_linear_fused_logits_avx512, accumulate_avx512, wide, 18);
    }
#endif
}

/* One DP-SGD step's clipped sum over sampled rows (repeats allowed), clip threshold between the
 * examples' norms or none, 10 and 7 classes: the row path equals the generic path to 1e-5
 * relative, weights and bias, with the same loss, correct count and clipped count. */
Test(dp_linear_fused, step_equals_the_generic_layer_path)
{
    dpkit_error err;
    const size_t D = 2 * 2048 + 37, count = 300, n = 203;
    const size_t class_counts[] = {10, 7};
    for (int k = 0; k < 2; k++) {
        size_t K = class_counts[k];
        dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = K};
        dp_model model;
        cr_assert_eq(dp_model_create((dp_shape){D, 1, 1}, K, &spec, 1, &model, &err), 0);
        size_t P = model.param_count;
        rng r;
        rng_init_seed(&r, 30 + (uint64_t)k, RNG_STREAM_TEST);
        dp_model_init(&model, &r, 0);
        for (size_t c = 0; c < K; c++) /* a bias, so that its gradient is not the only term */
            model.params[K * D + c] = (float)(0.3 * rng_gaussian(&r));
        float *x = malloc(count * D * sizeof *x), *batch = malloc(n * D * sizeof *batch);
        int32_t *y = malloc(count * sizeof *y), *batch_y = malloc(n * sizeof *batch_y);
        size_t *indices = malloc(n * sizeof *indices);
        for (size_t i = 0; i < count; i++) { /* rows of different scales: different norms */
            double scale = 0.02 * (1 + (double)(i % 9));
            for (size_t j = 0; j < D; j++)
                x[i * D + j] = (float)(scale * rng_gaussian(&r));
            y[i] = (int32_t)rng_below(&r, K);
        }
        for (size_t i = 0; i < n; i++) {
            indices[i] = (size_t)rng_below(&r, count);
            memcpy(batch + i * D, x + indices[i] * D, D * sizeof *batch);
            batch_y[i] = y[indices[i]];
        }
        dp_workspace ws;
        cr_assert_eq(dp_workspace_create(&model, n, &ws, &err), 0, "%s", err.message);
        double *norms = malloc(n * sizeof *norms), *want = malloc(P * sizeof *want);
        float *g = calloc(P, sizeof *g);
        dp_batch_stats s0 = {0};
        cr_assert_eq(dp_model_clipped_gradient(&model, &ws, batch, batch_y, n, 0.0, g, norms, &s0,
                                               &err), 0, "%s", err.message);
        double clips[] = {0.5 * (norms[0] + norms[1]), 0.0};
        for (int c = 0; c < 2; c++) {
            dp_batch_stats generic = {0}, fused = {0};
            memset(g, 0, P * sizeof *g);
            cr_assert_eq(dp_model_clipped_gradient(&model, &ws, batch, batch_y, n, clips[c], g,
                                                   NULL, &generic, &err), 0, "%s", err.message);
            for (size_t j = 0; j < P; j++)
                want[j] = g[j];
            memset(g, 0, P * sizeof *g);
            dp_data data = {.x = x, .y = y, .count = count};
            cr_assert_eq(dp_linear_rows_clipped_gradient(&model, &ws, &data, indices, n, clips[c],
                                                         g, &fused, &err), 0, "%s", err.message);
            cr_assert_lt(test_relative_error(g, want, K * D), 1e-5, "K %zu, clip %g, weights",
                         K, clips[c]);
            cr_assert_lt(test_relative_error(g + K * D, want + K * D, K), 1e-5,
                         "K %zu, clip %g, bias", K, clips[c]);
            cr_assert_eq(fused.clipped, generic.clipped);
            cr_assert_eq(fused.correct, generic.correct);
            cr_assert_float_eq(fused.loss_sum, generic.loss_sum, 1e-6 * generic.loss_sum);
            if (c == 0)
                cr_assert(generic.clipped > 0 && generic.clipped < n, "%zu clipped",
                          generic.clipped);
        }
        free(norms), free(want), free(g);
        dp_workspace_free(&ws);
        dp_model_free(&model);
        free(x), free(batch), free(y), free(batch_y), free(indices);
    }
}

/* With more threads than cores, threads finish in a different order on every call; the loss,
 * correct and clipped counts and the clipped sums of both training paths, and the evaluation's
 * mean loss (8,000 rows: enough for its loss to run in parallel), must not depend on it:
 * 7 threads, 20 calls each, every call bit-identical to the first. */
Test(dp_linear_fused, many_threads_give_the_same_bits_on_every_call)
{
    omp_set_num_threads(7);
    dpkit_error err;
    const size_t D = 8, K = 10, n = 8000;
    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = K};
    dp_model model;
    cr_assert_eq(dp_model_create((dp_shape){D, 1, 1}, K, &spec, 1, &model, &err), 0);
    size_t P = model.param_count;
    rng r;
    rng_init_seed(&r, 33, RNG_STREAM_TEST);
    dp_model_init(&model, &r, 0);
    float *x = malloc(n * D * sizeof *x);
    int32_t *y = malloc(n * sizeof *y);
    size_t *indices = malloc(n * sizeof *indices);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < D; j++)
            x[i * D + j] = (float)rng_gaussian(&r);
        y[i] = (int32_t)rng_below(&r, K);
        indices[i] = i;
    }
    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(&model, n, &ws, &err), 0, "%s", err.message);
    dp_data data = {.x = x, .y = y, .count = n};
    float *first = malloc(2 * P * sizeof *first), *g = malloc(P * sizeof *g);
    dp_batch_stats first_stats[2];
    double first_loss = 0;
    for (int call = 0; call < 20; call++) {
        double accuracy, mean_loss;
        cr_assert_eq(dp_model_evaluate(&model, &ws, x, NULL, y, n, &accuracy, &mean_loss, &err), 0,
                     "%s", err.message);
        if (call == 0)
            first_loss = mean_loss;
        cr_assert_eq(memcmp(&mean_loss, &first_loss, sizeof mean_loss), 0,
                     "evaluation, call %d: loss %.17g, first %.17g", call, mean_loss, first_loss);
        for (int path = 0; path < 2; path++) {
            dp_batch_stats s = {0};
            memset(g, 0, P * sizeof *g);
            int status = path == 0
                             ? dp_model_clipped_gradient(&model, &ws, x, y, n, 1.0, g, NULL, &s, &err)
                             : dp_linear_rows_clipped_gradient(&model, &ws, &data, indices, n, 1.0,
                                                               g, &s, &err);
            cr_assert_eq(status, 0, "%s", err.message);
            if (call == 0) {
                memcpy(first + path * P, g, P * sizeof *g);
                first_stats[path] = s;
                continue;
            }
            cr_assert_eq(memcmp(&s.loss_sum, &first_stats[path].loss_sum, sizeof s.loss_sum), 0,
                         "path %d, call %d: loss %.17g, first %.17g", path, call, s.loss_sum,
                         first_stats[path].loss_sum);
            cr_assert_eq(s.correct, first_stats[path].correct);
            cr_assert_eq(s.clipped, first_stats[path].clipped);
            cr_assert_eq(memcmp(g, first + path * P, P * sizeof *g), 0, "path %d, call %d", path,
                         call);
        }
    }
    free(first), free(g), free(x), free(y), free(indices);
    dp_workspace_free(&ws);
    dp_model_free(&model);
}
