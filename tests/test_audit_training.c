/* Audit orchestration below the CLI: LiRA keep matrices, the corrected one-run bound, and
 * training of audit models (reproducible per model number, the no-noise fault keeps the
 * accountant's claim). */
#include "audit/audit.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

Test(audit_training, keep_matrix_puts_every_example_in_half_of_the_models)
{
    size_t models[] = {16, 5, 2};
    for (int c = 0; c < 3; c++) {
        size_t M = models[c], N = 300;
        uint8_t *keep = malloc(M * N);
        rng r;
        rng_init_seed(&r, 1, RNG_STREAM_AUDIT);
        dpkit_error err;
        cr_assert_eq(audit_lira_keep_matrix(&r, M, N, keep, &err), 0);
        size_t row0 = 0;
        for (size_t j = 0; j < N; j++) {
            size_t in = 0;
            for (size_t i = 0; i < M; i++)
                in += keep[i * N + j];
            cr_assert_eq(in, (M + 1) / 2, "example %zu is IN for %zu of %zu models", j, in, M);
            row0 += keep[j];
        }
        /* model 0 holds about half of the examples (binomial sd ~ 8.7 for N = 300) */
        cr_assert(row0 > N / 2 - 60 && row0 < N / 2 + 60, "model 0 keeps %zu of %zu", row0, N);
        free(keep);
    }
}

Test(audit_training, one_run_bound_is_the_best_bonferroni_candidate)
{
    enum { M = 100 };
    double scores[M];
    uint8_t included[M];
    for (int i = 0; i < M; i++) {
        included[i] = (uint8_t)(i % 2);
        scores[i] = included[i] ? 1000.0 + i : (double)i; /* perfectly separated */
    }
    audit_one_run_bound b;
    dpkit_error err;
    cr_assert_eq(audit_one_run_bound_compute(scores, included, M, 1e-5, 0.05, &b, &err), 0);
    /* candidates r = 6, 12, 25, 50, 100, all guesses right: the largest r wins at p = 0.05/5 */
    double expected;
    cr_assert_eq(audit_one_run_epsilon(M, 100, 100, 1e-5, 0.01, &expected, &err), 0);
    cr_assert_eq(b.guesses, 100, "best of %llu guesses, %llu correct, eps %g vs %g", (unsigned long long)b.guesses, (unsigned long long)b.correct, b.epsilon, expected);
    cr_assert_eq(b.correct, 100);
    cr_assert_float_eq(b.epsilon, expected, 1e-12);
    audit_one_run_result grid;
    cr_assert_eq(audit_one_run_best(scores, included, M, 1e-5, 0.05, &grid, &err), 0);
    cr_assert_float_eq(b.grid_epsilon, grid.epsilon, 1e-12);
    cr_assert_gt(b.grid_epsilon, b.epsilon, "the uncorrected maximum is the optimistic one");

    /* Scores unrelated to inclusion: nothing is refuted. */
    for (int i = 0; i < M; i++)
        scores[i] = (double)((i * 37) % M);
    cr_assert_eq(audit_one_run_bound_compute(scores, included, M, 1e-5, 0.05, &b, &err), 0);
    cr_assert_lt(b.epsilon, 0.5);
    cr_assert_eq(audit_one_run_bound_compute(scores, included, 1, 1e-5, 0.05, &b, &err), -1);
}

/* Two Gaussian blobs in 8 dimensions. */
static void blobs(float *x, int32_t *y, size_t n)
{
    rng r;
    rng_init_seed(&r, 5, RNG_STREAM_TEST);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 2);
        for (size_t k = 0; k < 8; k++)
            x[i * 8 + k] = (float)(rng_gaussian(&r) + (y[i] ? 1.0 : -1.0));
    }
}

static audit_trainer small_trainer(void)
{
    audit_trainer t;
    memset(&t, 0, sizeof t);
    t.input = (dp_shape){8, 1, 1};
    t.class_count = 2;
    t.zero_init = 1;
    features_normalize_config_default(&t.normalize);
    t.train.private_mode = 1;
    t.train.clip_norm = 1;
    t.train.batch_size = 20;
    t.train.physical_batch = 32;
    t.train.epochs = 5;
    t.train.target_epsilon = 2;
    t.train.delta = 1e-5;
    accountant_options_default(&t.train.accountant);
    dp_optimizer_config_default(&t.optimizer);
    t.optimizer.lr = 0.5;
    t.seed = 9;
    t.reproducible_noise = 1; /* the test compares exact parameters */
    return t;
}

static void train(const audit_trainer *t, uint64_t index, audit_trained *m)
{
    enum { N = 200 };
    float x[N * 8];
    int32_t y[N];
    blobs(x, y, N);
    dpkit_error err;
    cr_assert_eq(audit_train_model(t, x, y, N, NULL, index, m, &err), 0, "%s", err.message);
}

Test(audit_training, models_are_reproducible_per_index_and_the_fault_keeps_the_claim)
{
    audit_trainer t = small_trainer();
    audit_trained a, b, c, broken;
    train(&t, 0, &a);
    train(&t, 0, &b);
    train(&t, 1, &c);
    cr_assert_eq(a.steps, 50);
    cr_assert_float_eq(a.epsilon, 2.0, 1e-3, "calibrated to the target: %g", a.epsilon);
    cr_assert_leq(a.epsilon, 2.0);
    cr_assert_gt(a.noise_multiplier, 0.3);
    size_t P = a.model.param_count;
    cr_assert_eq(memcmp(a.model.params, b.model.params, P * sizeof(float)), 0);
    cr_assert_neq(memcmp(a.model.params, c.model.params, P * sizeof(float)), 0,
                  "model 1 has its own sampling and noise");
    for (size_t k = 0; k < P; k++)
        cr_assert_eq(a.initial_params[k], 0.0f, "zero init");

    t.fault = AUDIT_FAULT_NO_NOISE;
    train(&t, 0, &broken);
    cr_assert_eq(broken.epsilon, a.epsilon, "the accountant is told the same sigma");
    cr_assert_eq(broken.noise_multiplier, a.noise_multiplier);
    cr_assert_neq(memcmp(a.model.params, broken.model.params, P * sizeof(float)), 0);

    /* Without noise, training is a deterministic function of the batches: rerunning gives the
     * same parameters, and the accuracy on the blobs is high. */
    float x[400 * 8];
    int32_t y[400];
    blobs(x, y, 400);
    double accuracy;
    dpkit_error err;
    cr_assert_eq(audit_trained_accuracy(&broken, x, y, 400, &accuracy, &err), 0);
    cr_assert_gt(accuracy, 0.85);
    float logits[2 * 400];
    cr_assert_eq(audit_trained_logits(&broken, x, 400, logits, &err), 0);
    size_t correct = 0;
    for (size_t i = 0; i < 400; i++)
        correct += (logits[2 * i + 1] > logits[2 * i]) == (y[i] == 1);
    cr_assert_float_eq((double)correct / 400, accuracy, 1e-12);
    audit_trained_free(&a);
    audit_trained_free(&b);
    audit_trained_free(&c);
    audit_trained_free(&broken);
}

/* Without reproducible noise an audit model's sampling and noise are secret: the same model
 * number trained twice differs, while its public initialisation stays the seed's. */
Test(audit_training, noise_is_secret_unless_the_audit_asks_for_reproducible_noise)
{
    audit_trainer t = small_trainer();
    t.reproducible_noise = 0;
    t.zero_init = 0;
    audit_trained a, b;
    train(&t, 0, &a);
    train(&t, 0, &b);
    size_t P = a.model.param_count;
    cr_assert_eq(memcmp(a.initial_params, b.initial_params, P * sizeof(float)), 0,
                 "initialisation comes from the seed");
    cr_assert_neq(memcmp(a.model.params, b.model.params, P * sizeof(float)), 0,
                  "secret noise and batches differ between trainings");
    audit_trained_free(&a);
    audit_trained_free(&b);
}
