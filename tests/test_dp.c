/* DP-SGD engine: per-example norms and clipped sums against opacus (clip_ref.h5, linear case),
 * noise scale, Poisson sampling and empty batches, the ledger, optimizers, budget refusal,
 * exact resume from a checkpoint, and learning on synthetic data. */
#include "dp/dp.h"

#include "common/h5io.h"
#include "common/log.h"
#include "datasets/datasets.h"
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

TestSuite(dp, .init = quiet_logs);

static double *read_f64(h5io_file *f, const char *path, size_t *count)
{
    int rank;
    size_t dims[H5IO_MAX_RANK];
    double *data = NULL;
    dpkit_error err;
    cr_assert_eq(h5io_read_array(f, path, H5IO_FLOAT64, &rank, dims, (void **)&data, &err), 0,
                 "%s", err.message);
    *count = 1;
    for (int r = 0; r < rank; r++)
        *count *= dims[r];
    return data;
}

static void check_clipped(h5io_file *f, dp_model *model, dp_workspace *ws, const float *x,
                          const int32_t *y, size_t n, double clip, const char *group)
{
    size_t P = model->param_count, count;
    float *grad = calloc(P, sizeof *grad);
    dp_batch_stats stats = {0};
    dpkit_error err;
    cr_assert_eq(dp_model_clipped_gradient(model, ws, x, y, n, clip, grad, NULL, &stats, &err),
                 0, "%s", err.message);
    char path[128];
    snprintf(path, sizeof path, "/linear_softmax/%s/fc.weight", group);
    double *w = read_f64(f, path, &count);
    cr_assert_eq(count, P - 10);
    snprintf(path, sizeof path, "/linear_softmax/%s/fc.bias", group);
    double *b = read_f64(f, path, &count);
    /* 1e-5: float32 accumulation over 32 examples of 20 features against float64 */
    cr_assert_lt(test_relative_error(grad, w, P - 10), 1e-5, "%s weight", group);
    cr_assert_lt(test_relative_error(grad + P - 10, b, 10), 1e-5, "%s bias", group);
    /* The in-place row path of single linear models gives the same sums, rows in any order. */
    size_t indices[64];
    for (size_t i = 0; i < n; i++)
        indices[i] = n - 1 - i;
    dp_data data = {.x = x, .y = y, .count = n};
    dp_batch_stats row_stats = {0};
    memset(grad, 0, P * sizeof *grad);
    cr_assert_eq(dp_linear_rows_clipped_gradient(model, ws, &data, indices, n, clip, grad,
                                                 &row_stats, &err), 0, "%s", err.message);
    cr_assert_lt(test_relative_error(grad, w, P - 10), 1e-5, "%s weight (rows)", group);
    cr_assert_lt(test_relative_error(grad + P - 10, b, 10), 1e-5, "%s bias (rows)", group);
    cr_assert_eq(row_stats.clipped, stats.clipped);
    cr_assert_eq(row_stats.correct, stats.correct);
    /* Both paths take float32 logits from sgemm, but over different row blocks and orders,
     * which BLAS kernels may round differently (1.7e-8 relative seen with AVX-512 kernels):
     * agreement to float32 precision, 1e-6 relative, is what can be asked. */
    cr_assert_float_eq(row_stats.loss_sum, stats.loss_sum, 1e-6 * stats.loss_sum);
    free(w);
    free(b);
    free(grad);
}

Test(dp, linear_norms_and_clipped_sums_match_opacus)
{
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_open_read(test_data_path("clip/clip_ref.h5"), &f, &err), 0, "%s",
                 err.message);
    size_t n, count;
    double *X = read_f64(f, "/linear_softmax/X", &n);
    double *Y = read_f64(f, "/linear_softmax/y", &n);
    double *W = read_f64(f, "/linear_softmax/params/fc.weight", &count);
    double *B = read_f64(f, "/linear_softmax/params/fc.bias", &count);
    double *norms_ref = read_f64(f, "/linear_softmax/per_example_norms", &n);
    double *loss_ref = read_f64(f, "/linear_softmax/per_example_loss", &n);
    double clip, clip_alt;
    cr_assert_eq(h5io_read_attr_double(f, "/linear_softmax", "max_grad_norm", &clip, &err), 0);
    cr_assert_eq(h5io_read_attr_double(f, "/linear_softmax", "max_grad_norm_alt", &clip_alt, &err), 0);
    cr_assert_eq(n, 32);

    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = 10};
    dp_model model;
    cr_assert_eq(dp_model_create((dp_shape){20, 1, 1}, 10, &spec, 1, &model, &err), 0, "%s",
                 err.message);
    cr_assert_eq(model.param_count, 210);
    for (size_t j = 0; j < 200; j++)
        model.params[j] = (float)W[j];
    for (size_t k = 0; k < 10; k++)
        model.params[200 + k] = (float)B[k];
    float x[32 * 20];
    int32_t y[32];
    for (size_t j = 0; j < 32 * 20; j++)
        x[j] = (float)X[j];
    double loss_total = 0;
    for (size_t i = 0; i < 32; i++) {
        y[i] = (int32_t)Y[i];
        loss_total += loss_ref[i];
    }
    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(&model, 32, &ws, &err), 0);

    float grad[210] = {0};
    double norms[32];
    dp_batch_stats stats = {0};
    cr_assert_eq(dp_model_clipped_gradient(&model, &ws, x, y, 32, clip, grad, norms, &stats,
                                           &err), 0, "%s", err.message);
    for (size_t i = 0; i < 32; i++)
        cr_assert_lt(fabs(norms[i] - norms_ref[i]) / norms_ref[i], 1e-5, "norm %zu: %g vs %g", i,
                     norms[i], norms_ref[i]);
    cr_assert_lt(fabs(stats.loss_sum - loss_total) / loss_total, 1e-5);
    long long n_clipped;
    cr_assert_eq(h5io_read_attr_int64(f, "/linear_softmax", "n_clipped", &n_clipped, &err), 0);
    cr_assert_eq((long long)stats.clipped, n_clipped);
    check_clipped(f, &model, &ws, x, y, 32, clip, "clipped_sum");
    check_clipped(f, &model, &ws, x, y, 32, clip_alt, "clipped_sum_alt");
    check_clipped(f, &model, &ws, x, y, 32, 0.0, "grad_sum");

    dp_workspace_free(&ws);
    dp_model_free(&model);
    free(X), free(Y), free(W), free(B), free(norms_ref), free(loss_ref);
    h5io_close(f);
}

/* Batches split into physical sub-batches give the same clipped sum as one pass. */
Test(dp, physical_batches_are_transparent)
{
    dpkit_error err;
    dp_layer_spec specs[] = {{.kind = DP_LAYER_LINEAR, .units = 16},
                             {.kind = DP_LAYER_TANH},
                             {.kind = DP_LAYER_LINEAR, .units = 4}};
    dp_model model;
    cr_assert_eq(dp_model_create((dp_shape){12, 1, 1}, 4, specs, 3, &model, &err), 0, "%s",
                 err.message);
    rng r;
    rng_init_seed(&r, 5, RNG_STREAM_TEST);
    dp_model_init(&model, &r, 0);
    const size_t n = 50;
    float x[50 * 12];
    int32_t y[50];
    for (size_t j = 0; j < n * 12; j++)
        x[j] = (float)(3 * rng_gaussian(&r));
    for (size_t i = 0; i < n; i++)
        y[i] = (int32_t)rng_below(&r, 4);
    dp_workspace whole, part;
    cr_assert_eq(dp_workspace_create(&model, n, &whole, &err), 0);
    cr_assert_eq(dp_workspace_create(&model, 7, &part, &err), 0);
    float *g1 = calloc(model.param_count, sizeof(float)), *g2 = calloc(model.param_count, sizeof(float));
    dp_batch_stats s1 = {0}, s2 = {0};
    double norms[50];
    cr_assert_eq(dp_model_clipped_gradient(&model, &whole, x, y, n, 0.3, g1, norms, &s1, &err), 0);
    for (size_t first = 0; first < n; first += 7) {
        size_t m = n - first < 7 ? n - first : 7;
        cr_assert_eq(dp_model_clipped_gradient(&model, &part, x + first * 12, y + first, m, 0.3,
                                               g2, NULL, &s2, &err), 0);
    }
    for (size_t j = 0; j < model.param_count; j++)
        cr_assert_float_eq(g1[j], g2[j], 1e-5);
    cr_assert_eq(s1.clipped, s2.clipped);
    cr_assert_gt(s1.clipped, 0);
    /* Property: each clipped per-example gradient has norm <= C. Batches of one example give
     * exactly its clipped gradient. */
    for (size_t i = 0; i < n; i++) {
        memset(g2, 0, model.param_count * sizeof(float));
        dp_batch_stats s = {0};
        cr_assert_eq(dp_model_clipped_gradient(&model, &part, x + i * 12, y + i, 1, 0.3, g2,
                                               NULL, &s, &err), 0);
        double sq = 0;
        for (size_t j = 0; j < model.param_count; j++)
            sq += (double)g2[j] * g2[j];
        cr_assert_leq(sqrt(sq), 0.3 * (1 + 1e-5));
        cr_assert_float_eq(sqrt(sq), fmin(norms[i], 0.3), 1e-4 * fmax(norms[i], 1e-3));
    }
    free(g1), free(g2);
    dp_workspace_free(&whole);
    dp_workspace_free(&part);
    dp_model_free(&model);
}

/* The row path of a linear model equals the generic path over many blocks and threads, and
 * refuses bad labels and layered models. */
Test(dp, linear_rows_equal_the_generic_clipped_sum)
{
    dpkit_error err;
    const size_t D = 300, K = 7, count = 500, n = 333;
    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = K};
    dp_model model;
    cr_assert_eq(dp_model_create((dp_shape){D, 1, 1}, K, &spec, 1, &model, &err), 0);
    rng r;
    rng_init_seed(&r, 8, RNG_STREAM_TEST);
    dp_model_init(&model, &r, 0);
    float *x = malloc(count * D * sizeof *x), *batch = malloc(n * D * sizeof *batch);
    int32_t *y = malloc(count * sizeof *y), *batch_y = malloc(n * sizeof *batch_y);
    size_t *indices = malloc(n * sizeof *indices);
    for (size_t j = 0; j < count * D; j++)
        x[j] = (float)(0.2 * rng_gaussian(&r));
    for (size_t i = 0; i < count; i++)
        y[i] = (int32_t)rng_below(&r, K);
    for (size_t i = 0; i < n; i++) {
        indices[i] = (size_t)rng_below(&r, count); /* repeats allowed */
        memcpy(batch + i * D, x + indices[i] * D, D * sizeof *batch);
        batch_y[i] = y[indices[i]];
    }
    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(&model, n, &ws, &err), 0);
    cr_assert_not_null(ws.rows_scratch);
    dp_data data = {.x = x, .y = y, .count = count};
    /* clip between the norms of two examples (some are clipped, none sits on the edge); then
     * no clipping */
    double *norms = malloc(n * sizeof *norms);
    float *g0 = calloc(model.param_count, sizeof(float));
    dp_batch_stats s0 = {0};
    cr_assert_eq(dp_model_clipped_gradient(&model, &ws, batch, batch_y, n, 0.0, g0, norms, &s0,
                                           &err), 0);
    double clips[] = {0.5 * (norms[0] + norms[1]), 0.0};
    free(norms), free(g0);
    for (int c = 0; c < 2; c++) {
        float *g1 = calloc(model.param_count, sizeof(float));
        float *g2 = calloc(model.param_count, sizeof(float));
        dp_batch_stats s1 = {0}, s2 = {0};
        cr_assert_eq(dp_model_clipped_gradient(&model, &ws, batch, batch_y, n, clips[c], g1,
                                               NULL, &s1, &err), 0, "%s", err.message);
        cr_assert_eq(dp_linear_rows_clipped_gradient(&model, &ws, &data, indices, n, clips[c],
                                                     g2, &s2, &err), 0, "%s", err.message);
        double scale = 0;
        for (size_t j = 0; j < model.param_count; j++)
            scale = fmax(scale, fabs(g1[j]));
        for (size_t j = 0; j < model.param_count; j++)
            cr_assert_leq(fabs(g1[j] - g2[j]), 1e-5 * scale, "clip %g, parameter %zu: %g vs %g",
                          clips[c], j, g1[j], g2[j]);
        cr_assert_eq(s1.clipped, s2.clipped);
        cr_assert_eq(s1.correct, s2.correct);
        if (c == 0)
            cr_assert(s1.clipped > 0 && s1.clipped < n, "%zu clipped", s1.clipped);
        free(g1), free(g2);
    }
    /* An empty batch adds nothing; a bad label is an error naming the example. */
    float *g = calloc(model.param_count, sizeof(float));
    dp_batch_stats s = {0};
    cr_assert_eq(dp_linear_rows_clipped_gradient(&model, &ws, &data, indices, 0, 0.5, g, &s,
                                                 &err), 0);
    for (size_t j = 0; j < model.param_count; j++)
        cr_assert_eq(g[j], 0.0f);
    y[indices[100]] = (int32_t)K;
    cr_assert_eq(dp_linear_rows_clipped_gradient(&model, &ws, &data, indices, n, 0.5, g, &s,
                                                 &err), -1);
    cr_assert(strstr(err.message, "outside 0..6"), "%s", err.message);
    free(g);
    dp_workspace_free(&ws);
    dp_model_free(&model);
    /* Layered models keep the generic path. */
    dp_layer_spec specs[] = {{.kind = DP_LAYER_LINEAR, .units = 5},
                             {.kind = DP_LAYER_TANH},
                             {.kind = DP_LAYER_LINEAR, .units = K}};
    cr_assert_eq(dp_model_create((dp_shape){D, 1, 1}, K, specs, 3, &model, &err), 0);
    cr_assert_eq(dp_workspace_create(&model, 8, &ws, &err), 0);
    cr_assert_null(ws.rows_scratch);
    cr_assert_eq(dp_linear_rows_clipped_gradient(&model, &ws, &data, indices, 4, 0.5, NULL, &s,
                                                 &err), -1);
    dp_workspace_free(&ws);
    dp_model_free(&model);
    free(x), free(batch), free(y), free(batch_y), free(indices);
}

Test(dp, noise_has_standard_deviation_sigma_times_clip)
{
    const size_t n = 400000;
    float *g = calloc(n, sizeof *g);
    rng noise;
    rng_init_seed(&noise, 11, RNG_STREAM_NOISE);
    dp_add_noise(&noise, g, n, 2.0, 0.5);
    double sum = 0, sq = 0;
    for (size_t j = 0; j < n; j++) {
        sum += g[j];
        sq += (double)g[j] * g[j];
    }
    double mean = sum / n, sd = sqrt(sq / n - mean * mean);
    /* std of the sample std is about 1/sqrt(2n) = 0.0011 here; 5 of them: false alarm ~6e-7 */
    cr_assert_lt(fabs(sd - 1.0), 5 / sqrt(2.0 * n), "std %g", sd);
    cr_assert_lt(fabs(mean), 5 / sqrt((double)n), "mean %g", mean);
    /* sigma = 0 adds nothing */
    memset(g, 0, n * sizeof *g);
    dp_add_noise(&noise, g, n, 0.0, 0.5);
    for (size_t j = 0; j < n; j++)
        cr_assert_eq(g[j], 0.0f);
    free(g);
}

Test(dp, poisson_sampling_rate_and_order)
{
    rng s;
    rng_init_seed(&s, 3, RNG_STREAM_SAMPLING);
    const size_t N = 100000;
    size_t *idx = malloc(N * sizeof *idx), total = 0;
    const int steps = 40;
    for (int t = 0; t < steps; t++) {
        size_t n = dp_poisson_sample(&s, N, 0.01, idx);
        for (size_t i = 1; i < n; i++)
            cr_assert_lt(idx[i - 1], idx[i]);
        total += n;
    }
    /* mean 1000 per step, binomial sd sqrt(990) per step: 5 sd of the average */
    double mean = (double)total / steps;
    cr_assert_lt(fabs(mean - 1000.0), 5 * sqrt(990.0 / steps), "mean batch %g", mean);
    free(idx);
}

/* Synthetic linearly separable-ish data flattened to (count, D). */
typedef struct toy {
    dataset set;
    float *train_x, *test_x;
    dp_data train, test;
    size_t D;
} toy;

static void make_toy(toy *t, size_t train_count)
{
    dpkit_error err;
    cr_assert_eq(datasets_make_synthetic(train_count, 300, 4, 1, 6, 6, 9, &t->set, &err), 0,
                 "%s", err.message);
    t->D = 36;
    t->train_x = malloc(train_count * t->D * sizeof(float));
    t->test_x = malloc(300 * t->D * sizeof(float));
    const uint8_t *a = t->set.train.images, *b = t->set.test.images;
    for (size_t j = 0; j < train_count * t->D; j++)
        t->train_x[j] = a[j] / 255.0f;
    for (size_t j = 0; j < 300 * t->D; j++)
        t->test_x[j] = b[j] / 255.0f;
    t->train = (dp_data){.x = t->train_x, .y = t->set.train.labels, .count = train_count};
    t->test = (dp_data){.x = t->test_x, .y = t->set.test.labels, .count = 300};
}

static void free_toy(toy *t)
{
    free(t->train_x);
    free(t->test_x);
    dataset_free(&t->set);
}

typedef struct run {
    dp_model model;
    dp_workspace ws;
    dp_train_state state;
} run;

static void start_run(run *r, const dp_train_config *c, uint64_t seed, size_t D)
{
    dpkit_error err;
    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = 4};
    cr_assert_eq(dp_model_create((dp_shape){D, 1, 1}, 4, &spec, 1, &r->model, &err), 0);
    cr_assert_eq(dp_workspace_create(&r->model, c->physical_batch, &r->ws, &err), 0);
    memset(&r->state, 0, sizeof r->state);
    rng_init_seed(&r->state.sampler, seed, RNG_STREAM_SAMPLING);
    rng_init_seed(&r->state.noise, seed, RNG_STREAM_NOISE);
    accountant_ledger_init(&r->state.ledger);
    dp_optimizer_config o;
    dp_optimizer_config_default(&o);
    o.lr = 2.0;
    o.momentum = 0.9;
    cr_assert_eq(dp_optimizer_create(&o, r->model.param_count, &r->state.optimizer, &err), 0);
}

static void end_run(run *r)
{
    dp_optimizer_free(&r->state.optimizer);
    accountant_ledger_free(&r->state.ledger);
    dp_workspace_free(&r->ws);
    dp_model_free(&r->model);
}

static dp_train_config toy_config(void)
{
    dp_train_config c = {.private_mode = 1, .clip_norm = 1.0, .noise_multiplier = 1.0,
                         .batch_size = 100, .physical_batch = 64, .epochs = 1, .delta = 1e-5};
    accountant_options_default(&c.accountant);
    return c;
}

Test(dp, training_learns_and_the_ledger_sees_every_step)
{
    toy t;
    make_toy(&t, 2000);
    dp_train_config c = toy_config();
    run r;
    start_run(&r, &c, 1, t.D);
    dp_epoch_metrics m;
    dpkit_error err;
    for (int e = 0; e < 5; e++)
        cr_assert_eq(dp_train_epoch(&r.model, &r.ws, &c, &r.state, &t.train, &t.test, &m, &err),
                     0, "%s", err.message);
    cr_assert_gt(m.test_accuracy, 0.9, "test accuracy %g", m.test_accuracy);
    cr_assert_eq(r.state.step, 5 * 20);
    cr_assert_eq(r.state.ledger.count, 1);
    cr_assert_eq(r.state.ledger.events[0].count, 100);
    cr_assert_float_eq(r.state.ledger.events[0].sampling_rate, 0.05, 1e-15);
    cr_assert_float_eq(r.state.ledger.events[0].noise_multiplier, 1.0, 0);
    double eps;
    accountant_event e = {0.05, 1.0, 100, "x", ACCOUNTANT_SAMPLER_POISSON};
    cr_assert_eq(accountant_epsilon(&e, 1, 1e-5, &c.accountant, &eps, NULL, &err), 0);
    cr_assert_float_eq(m.epsilon, eps, 1e-12);
    end_run(&r);
    free_toy(&t);
}

/* A rate so small that most batches are empty: steps still run, add noise, move the
 * parameters and are recorded (docs/maths.md 4.3). */
Test(dp, empty_batches_are_steps)
{
    toy t;
    make_toy(&t, 200);
    dp_train_config c = toy_config();
    c.batch_size = 1; /* q = 1/200, 200 steps per epoch */
    run r;
    start_run(&r, &c, 2, t.D);
    size_t idx[200], empty = 0;
    rng probe = r.state.sampler;
    for (int s = 0; s < 200; s++)
        empty += dp_poisson_sample(&probe, 200, 1.0 / 200, idx) == 0;
    cr_assert_gt(empty, 50);
    dp_epoch_metrics m;
    dpkit_error err;
    cr_assert_eq(dp_train_epoch(&r.model, &r.ws, &c, &r.state, &t.train, NULL, &m, &err), 0);
    cr_assert_eq(m.steps, 200);
    cr_assert_eq(r.state.ledger.events[0].count, 200);
    size_t moved = 0;
    for (size_t j = 0; j < r.model.param_count; j++)
        moved += r.model.params[j] != 0.0f;
    cr_assert_eq(moved, r.model.param_count);
    end_run(&r);
    free_toy(&t);
}

Test(dp, budget_is_never_exceeded)
{
    toy t;
    make_toy(&t, 1000);
    dp_train_config c = toy_config();
    c.target_epsilon = 1.0;
    run r;
    start_run(&r, &c, 3, t.D);
    dp_epoch_metrics m;
    dpkit_error err;
    long long allowed;
    cr_assert_eq(accountant_max_steps(1.0, 1e-5, 0.1, 1.0, NULL, 0, &c.accountant, &allowed, &err), 0);
    for (int e = 0; e < 20 && !r.state.budget_exhausted; e++)
        cr_assert_eq(dp_train_epoch(&r.model, &r.ws, &c, &r.state, &t.train, NULL, &m, &err), 0);
    cr_assert(r.state.budget_exhausted);
    cr_assert_eq(r.state.step, allowed);
    cr_assert_leq(r.state.epsilon, 1.0);
    end_run(&r);
    free_toy(&t);
}

Test(dp, resume_from_checkpoint_gives_the_same_model)
{
    toy t;
    make_toy(&t, 1000);
    dp_train_config c = toy_config();
    dp_epoch_metrics m;
    dpkit_error err;
    run a, b;
    start_run(&a, &c, 4, t.D);
    for (int e = 0; e < 3; e++)
        cr_assert_eq(dp_train_epoch(&a.model, &a.ws, &c, &a.state, &t.train, NULL, &m, &err), 0);

    start_run(&b, &c, 4, t.D);
    cr_assert_eq(dp_train_epoch(&b.model, &b.ws, &c, &b.state, &t.train, NULL, &m, &err), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/checkpoint.h5", test_temp_dir());
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(dp_train_state_save(&b.model, &b.state, f, "/state", &err), 0, "%s", err.message);
    cr_assert_eq(h5io_commit(f, &err), 0);
    end_run(&b);

    run c2;
    start_run(&c2, &c, 4, t.D); /* fresh process: same seed, positions from the file */
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    cr_assert_eq(dp_train_state_load(&c2.model, &c2.state, f, "/state", &err), 0, "%s",
                 err.message);
    h5io_close(f);
    cr_assert_eq(c2.state.epoch, 1);
    for (int e = 1; e < 3; e++)
        cr_assert_eq(dp_train_epoch(&c2.model, &c2.ws, &c, &c2.state, &t.train, NULL, &m, &err), 0);
    cr_assert_eq(memcmp(a.model.params, c2.model.params, a.model.param_count * sizeof(float)), 0);
    cr_assert_eq(c2.state.ledger.events[0].count, a.state.ledger.events[0].count);
    cr_assert_eq(c2.state.step, a.state.step);
    end_run(&a);
    end_run(&c2);
    free_toy(&t);
}

Test(dp, sgd_momentum_nesterov_and_adam_follow_pytorch)
{
    dpkit_error err;
    dp_optimizer_config c;
    dp_optimizer_config_default(&c);
    c.lr = 0.5;
    c.momentum = 0.9;
    dp_optimizer o;
    cr_assert_eq(dp_optimizer_create(&c, 1, &o, &err), 0);
    float p = 1.0f, g1 = 1.0f, g2 = 2.0f;
    dp_optimizer_step(&o, &p, &g1); /* buf = 1, p = 0.5 */
    dp_optimizer_step(&o, &p, &g2); /* buf = 0.9 + 2 = 2.9, p = 0.5 - 1.45 */
    cr_assert_float_eq(p, -0.95f, 1e-6);
    dp_optimizer_free(&o);

    c.nesterov = 1;
    cr_assert_eq(dp_optimizer_create(&c, 1, &o, &err), 0);
    p = 1.0f;
    dp_optimizer_step(&o, &p, &g1); /* buf = 1, g = 1 + 0.9 = 1.9, p = 1 - 0.95 */
    cr_assert_float_eq(p, 0.05f, 1e-6);
    dp_optimizer_free(&o);

    c.kind = DP_OPTIMIZER_ADAM;
    c.lr = 0.1;
    cr_assert_eq(dp_optimizer_create(&c, 1, &o, &err), 0);
    p = 1.0f;
    dp_optimizer_step(&o, &p, &g2); /* first Adam step moves by lr * sign(g) (up to eps) */
    cr_assert_float_eq(p, 0.9f, 1e-6);
    dp_optimizer_step(&o, &p, &g1);
    /* m = 0.9*0.2 + 0.1 = 0.28 -> /0.19; v = 0.999*0.004 + 0.001 = 0.004996 -> /0.001999 */
    double expected = 0.9 - 0.1 * (0.28 / 0.19) / (sqrt(0.004996 / 0.001999) + 1e-8);
    cr_assert_float_eq(p, expected, 1e-5);
    dp_optimizer_free(&o);
}

/* The moving average of the iterates (docs/maths.md 4.16), against the recurrence in double;
 * swapping twice restores both arrays; a decay of 1 is refused. */
Test(dp, average_of_iterates_follows_its_warmed_up_recurrence)
{
    dpkit_error err;
    dp_optimizer_config c;
    dp_optimizer_config_default(&c);
    c.lr = 0.5;
    c.momentum = 0.9;
    c.average_decay = 0.6;
    dp_optimizer o;
    cr_assert_eq(dp_optimizer_create(&c, 2, &o, &err), 0, "%s", err.message);
    float p[2] = {1.0f, -2.0f};
    double average[2] = {0, 0};
    const float grads[4][2] = {{1, 0.5f}, {2, -1}, {-0.5f, 3}, {0.25f, 0.25f}};
    for (int t = 1; t <= 4; t++) {
        dp_optimizer_step(&o, p, grads[t - 1]);
        /* beta_t = min(0.6, (1 + t) / (10 + t)): 3/12, 4/13 then 0.6 from t = 4 on (5/14 < 0.6) */
        double beta = t == 1 ? 0 : fmin(0.6, (1.0 + t) / (10.0 + t));
        for (int j = 0; j < 2; j++) {
            average[j] = beta * average[j] + (1 - beta) * p[j];
            cr_assert_float_eq(o.average[j], average[j], 1e-6, "step %d: %g, expected %g", t,
                               o.average[j], average[j]);
        }
    }
    float before[2] = {p[0], p[1]};
    dp_optimizer_swap_average(&o, p);
    cr_assert_float_eq(p[0], average[0], 1e-6);
    cr_assert_float_eq(o.average[1], before[1], 0);
    dp_optimizer_swap_average(&o, p);
    cr_assert(p[0] == before[0] && p[1] == before[1]);
    dp_optimizer_free(&o);
    c.average_decay = 1;
    cr_assert_eq(dp_optimizer_create(&c, 2, &o, &err), -1);
    cr_assert(strstr(err.message, "average decay 1") != NULL, "%s", err.message);
}

Test(dp, model_file_round_trip_and_bad_models)
{
    dpkit_error err;
    dp_layer_spec specs[] = {{.kind = DP_LAYER_LINEAR, .units = 8},
                             {.kind = DP_LAYER_RELU},
                             {.kind = DP_LAYER_LINEAR, .units = 3}};
    dp_model a, b;
    cr_assert_eq(dp_model_create((dp_shape){2, 3, 3}, 3, specs, 3, &a, &err), 0);
    rng r;
    rng_init_seed(&r, 1, RNG_STREAM_INIT);
    dp_model_init(&a, &r, 1);
    char path[512];
    snprintf(path, sizeof path, "%s/model.h5", test_temp_dir());
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(dp_model_save_h5(&a, f, "/model", &err), 0, "%s", err.message);
    cr_assert_eq(h5io_commit(f, &err), 0);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    cr_assert_eq(dp_model_load_h5(&b, f, "/model", &err), 0, "%s", err.message);
    int rank;
    size_t dims[H5IO_MAX_RANK];
    cr_assert_eq(h5io_array_shape(f, "/model/0.linear.weight", &rank, dims, &err), 0);
    cr_assert_eq(rank, 2);
    cr_assert_eq(dims[0], 8);
    cr_assert_eq(dims[1], 18);
    h5io_close(f);
    cr_assert_eq(b.param_count, a.param_count);
    cr_assert_eq(memcmp(a.params, b.params, a.param_count * sizeof(float)), 0);
    dp_model_free(&b);
    dp_model_free(&a);

    /* last layer must produce one value per class; group norm groups must divide channels */
    dp_layer_spec wrong = {.kind = DP_LAYER_LINEAR, .units = 4};
    cr_assert_neq(dp_model_create((dp_shape){5, 1, 1}, 3, &wrong, 1, &a, &err), 0);
    cr_assert(strstr(err.message, "expected 3") != NULL, "%s", err.message);
}

/* Dirac canaries on coordinates of their own (audits): without noise and with full batches an
 * included canary is observed as exactly 1 (in units of C) at every step and an excluded one as
 * 0; the shuffled-batches fault puts each included canary in exactly one step per epoch. */
Test(dp, own_coordinate_canaries_are_observed_at_every_step)
{
    toy t;
    make_toy(&t, 200);
    dp_train_config c = toy_config();
    c.noise_multiplier = 0;
    c.clip_norm = 3;
    enum { M = 6, EPOCHS = 2 };
    uint8_t included[M] = {1, 0, 1, 0, 1, 1};
    for (int shuffled = 0; shuffled < 2; shuffled++) {
        c.batch_size = shuffled ? 20 : 200; /* shuffled: 10 steps per epoch */
        c.fault = shuffled ? DP_FAULT_SHUFFLED_BATCHES : DP_FAULT_NONE;
        long long T = EPOCHS * dp_steps_per_epoch(200, c.batch_size);
        double *observed = calloc((size_t)T * M, sizeof *observed);
        dp_gradient_canaries canaries = {.count = M, .included = included, .observed = observed,
                                         .observed_steps = T};
        c.canaries = &canaries;
        run r;
        start_run(&r, &c, 3, t.D);
        dp_epoch_metrics m;
        dpkit_error err;
        for (int e = 0; e < EPOCHS; e++)
            cr_assert_eq(dp_train_epoch(&r.model, &r.ws, &c, &r.state, &t.train, NULL, &m, &err),
                         0, "%s", err.message);
        cr_assert_eq(r.state.step, T);
        long long per_epoch = T / EPOCHS;
        for (size_t j = 0; j < M; j++)
            for (int e = 0; e < EPOCHS; e++) {
                double sum = 0;
                for (long long s = e * per_epoch; s < (e + 1) * per_epoch; s++) {
                    double v = observed[s * M + (long long)j];
                    cr_assert(v == 0 || v == 1, "canary %zu step %lld: %g", j, s, v);
                    cr_assert(shuffled || v == included[j], "full batch: every step");
                    sum += v;
                }
                if (shuffled)
                    cr_assert_eq(sum, included[j], "canary %zu: %g steps in epoch %d", j, sum, e);
            }
        end_run(&r);
        free(observed);
    }
    free_toy(&t);
}
