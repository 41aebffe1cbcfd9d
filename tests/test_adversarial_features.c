/* Adversarial training of models on features (docs/maths.md 12.6): the inputs a step trains on
 * are the features of the PGD images, computed independently here; with a radius of 0 it is
 * plain training; with DP its ledger is DP-SGD's alone (HOG features are refused:
 * tests/test_adversarial_training.c). */
#include "tests/test_util.h"

#include "common/log.h"
#include "dp/feature_chain.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* N examples in physical batches of BATCH (PGD runs batch by batch in both computations) */
static void quiet_logs(void)
{
    log_set_level(DPKIT_LOG_ERROR);
}

TestSuite(adversarial_features, .init = quiet_logs);

enum { N = 24, BATCH = 10, SIDE = 16, CLASSES = 3 };

/* A private-bn normaliser of F channels of S positions with fixed released statistics. */
static void make_normalizer(features_normalizer *nz, size_t F, size_t S)
{
    memset(nz, 0, sizeof *nz);
    nz->channels = F;
    nz->spatial = S;
    features_normalize_config_default(&nz->config);
    nz->config.kind = FEATURES_NORMALIZE_PRIVATE_BN;
    nz->statistics.channels = F;
    nz->statistics.mean = calloc(F, sizeof(double));
    nz->statistics.variance = calloc(F, sizeof(double));
    for (size_t c = 0; c < F; c++) {
        nz->statistics.mean[c] = 0.01 * (double)c;
        nz->statistics.variance[c] = 0.002 * (double)(c + 1);
    }
}

static void make_linear(dp_shape input, dp_model *m)
{
    dpkit_error err;
    dp_layer_spec linear = {.kind = DP_LAYER_LINEAR, .units = CLASSES};
    cr_assert_eq(dp_model_create(input, CLASSES, &linear, 1, m, &err), 0, "%s", err.message);
    rng init;
    rng_init_seed(&init, 3, RNG_STREAM_INIT);
    dp_model_init(m, &init, 0);
}

/* One DP-SGD step (q = 1: every example) on `train`; returns the parameters. */
static float *one_step(dp_model *m, const dp_train_config *c, const dp_data *train)
{
    dpkit_error err;
    dp_workspace ws;
    dp_train_state state;
    test_train_state_init(&state, 5);
    dp_optimizer_config o;
    dp_optimizer_config_default(&o);
    o.lr = 0.5;
    cr_assert_eq(dp_workspace_create(m, c->physical_batch, &ws, &err), 0, "%s", err.message);
    cr_assert_eq(dp_optimizer_create(&o, m->param_count, &state.optimizer, &err), 0);
    dp_epoch_metrics metrics;
    cr_assert_eq(dp_train_epoch(m, &ws, c, &state, train, NULL, &metrics, &err), 0, "%s",
                 err.message);
    cr_assert_eq(state.step, 1);
    float *p = malloc(m->param_count * sizeof *p);
    memcpy(p, m->params, m->param_count * sizeof *p);
    test_train_state_free(&state);
    dp_workspace_free(&ws);
    return p;
}

Test(adversarial_features, a_step_trains_on_the_features_of_the_pgd_images)
{
    dpkit_error err;
    dataset data;
    cr_assert_eq(datasets_make_synthetic(N, 4, CLASSES, 1, SIDE, SIDE, 11, &data, &err), 0, "%s",
                 err.message);
    features_extractor_config ex;
    features_extractor_config_default(&ex);
    ex.scatter_J = 2;
    ex.scatter_L = 4;
    ex.scatter_max_order = 1;
    size_t K = 1 + 2 * 4, S = (SIDE / 4) * (SIDE / 4), F = K * S, D = SIDE * SIDE;
    features_normalizer nz;
    make_normalizer(&nz, K, S);
    dp_model trained, plain;
    make_linear((dp_shape){K, SIDE / 4, SIDE / 4}, &trained);
    make_linear((dp_shape){K, SIDE / 4, SIDE / 4}, &plain);

    /* independently: PGD on the images through the chain, at the initial model (the one
     * step's model), then the features of the PGD images */
    dp_pgd_config pgd = {.norm = DP_ATTACK_LINF, .epsilon = 0.1, .step = 0.04, .steps = 3,
                         .lower = 0, .upper = 1};
    dp_feature_chain *chain;
    dp_classifier cl;
    cr_assert_eq(dp_feature_chain_create(&ex, 1, SIDE, SIDE, &nz, &plain, BATCH, &chain, &cl,
                                         &err), 0, "%s", err.message);
    float *x = malloc(N * D * sizeof *x), *x_adv = malloc(N * D * sizeof *x_adv);
    float *clean = malloc(N * F * sizeof *clean), *adv = malloc(N * F * sizeof *adv);
    for (size_t i = 0; i < N; i++)
        dp_image_pixels(&data.train, i, x + i * D);
    cr_assert_eq(dp_pgd(&cl, &pgd, x, data.train.labels, N, x_adv, NULL, &err), 0, "%s",
                 err.message);
    for (size_t i = 0; i < N; i += BATCH) {
        size_t m = N - i < BATCH ? N - i : BATCH;
        cr_assert_eq(dp_feature_chain_features(chain, x + i * D, m, clean + i * F, &err), 0);
        cr_assert_eq(dp_feature_chain_features(chain, x_adv + i * D, m, adv + i * F, &err), 0);
    }
    double moved = 0;
    for (size_t k = 0; k < N * F; k++)
        moved = fmax(moved, fabs(adv[k] - clean[k]));
    cr_assert_gt(moved, 1e-2, "PGD did not move the features (%g)", moved);

    /* the training loop with the hook: PGD on the images of the sampled rows (q = 1: all, in
     * order), noise, clipping */
    dp_train_config c = {.private_mode = 1, .clip_norm = 0.5, .noise_multiplier = 1.0,
                         .batch_size = N, .physical_batch = BATCH, .epochs = 1, .delta = 1e-5,
                         .adversarial = &pgd};
    accountant_options_default(&c.accountant);
    dp_adversarial_features *af;
    dp_adversarial_inputs hook;
    cr_assert_eq(dp_adversarial_features_create(&ex, &data.train, 0, &nz, &trained,
                                                c.physical_batch, &af, &hook, &err),
                 0, "%s", err.message);
    c.adversarial_inputs = &hook;
    float *cached = malloc(N * F * sizeof *cached); /* what the cached features would be */
    memcpy(cached, clean, N * F * sizeof *cached);
    dp_data train = {.x = cached, .y = data.train.labels, .count = N};
    float *a = one_step(&trained, &c, &train);

    /* plain training on the PGD images' features gives the same step */
    dp_train_config p = c;
    p.adversarial = NULL;
    p.adversarial_inputs = NULL;
    dp_data on_adv = {.x = adv, .y = data.train.labels, .count = N};
    float *b = one_step(&plain, &p, &on_adv);
    dp_data on_clean = {.x = clean, .y = data.train.labels, .count = N};
    dp_model other;
    make_linear((dp_shape){K, SIDE / 4, SIDE / 4}, &other);
    float *d = one_step(&other, &p, &on_clean);
    double scale = 0, same = 0, differs = 0;
    for (size_t j = 0; j < trained.param_count; j++) {
        scale = fmax(scale, fabs(b[j]));
        same = fmax(same, fabs(a[j] - b[j]));
        differs = fmax(differs, fabs(a[j] - d[j]));
    }
    cr_assert(same <= 1e-4 * scale, "the step differs from one on the PGD features by %g (%g)",
              same, scale);
    cr_assert(differs > 1e-3 * scale, "the step is that of the clean features (%g)", differs);
    free(a), free(b), free(d), free(x), free(x_adv), free(clean), free(adv), free(cached);
    dp_adversarial_features_free(af);
    dp_feature_chain_free(chain);
    dp_model_free(&trained), dp_model_free(&plain), dp_model_free(&other);
    features_normalizer_free(&nz);
    dataset_free(&data);
}

static accountant_ledger read_ledger(const char *path)
{
    dpkit_error err;
    h5io_file *f;
    accountant_ledger l;
    accountant_ledger_init(&l);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    cr_assert_eq(accountant_ledger_load_h5(&l, f, "/ledger", &err), 0, "%s", err.message);
    h5io_close(f);
    return l;
}

/* ScatterNet + private-bn + linear, DP, reproducible noise, one epoch. */
#define TINY "--set privacy.reproducible_noise=true --set training.epochs=1"

Test(adversarial_features, radius_zero_is_plain_training_and_the_ledger_is_dp_sgds)
{
    char config_path[1200];
    const char *dir = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(dir);
    const char *extra[3] = {"", TEST_ADVERSARIAL_RADIUS_0, TEST_ADVERSARIAL_RADIUS_01};
    double scale, d[3];
    test_train_and_compare(config_path, dir, TINY, extra, 3, &scale, d);
    char model[3][1300];
    for (int k = 0; k < 3; k += 2)
        snprintf(model[k], sizeof model[k], "%s/run%d/model.h5", dir, k);
    /* the features of the unperturbed images through the chain equal the cached ones to float
     * rounding, and the chain normalises with the run's private-bn statistics */
    cr_assert(d[1] <= 1e-4 * scale, "radius 0 changed the training by %g (scale %g)", d[1], scale);
    cr_assert(d[2] > 1e-2 * scale, "a radius of 0.1 changed the training by %g only", d[2]);
    accountant_ledger plain = read_ledger(model[0]), adversarial = read_ledger(model[2]);
    cr_assert_eq(plain.count, adversarial.count);
    cr_assert_geq(plain.count, 2, "private-bn and DP-SGD");
    for (size_t e = 0; e < plain.count; e++) {
        const accountant_event *x = &plain.events[e], *y = &adversarial.events[e];
        cr_assert(x->sampling_rate == y->sampling_rate && x->noise_multiplier == y->noise_multiplier &&
                      x->count == y->count && strcmp(x->label, y->label) == 0,
                  "ledger event %zu differs: %s %g %g %lld / %s %g %g %lld", e, x->label,
                  x->sampling_rate, x->noise_multiplier, x->count, y->label, y->sampling_rate,
                  y->noise_multiplier, y->count);
    }
    accountant_ledger_free(&plain);
    accountant_ledger_free(&adversarial);
}
