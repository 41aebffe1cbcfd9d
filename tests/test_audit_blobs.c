/* The small private trainings of the audit tests (tests/test_audit_blobs.h). */
#include "tests/test_audit_blobs.h"

#include <string.h>

void test_audit_blobs(float *x, int32_t *y, size_t n, size_t dim, size_t unused)
{
    rng r;
    rng_init_seed(&r, 5, RNG_STREAM_TEST);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 2);
        for (size_t k = 0; k < dim; k++)
            x[i * dim + k] = k < unused ? 0.0f : (float)(rng_gaussian(&r) + (y[i] ? 1.0 : -1.0));
    }
}

audit_trainer test_audit_crafted_trainer(size_t n, size_t dim, double clip_norm, double sigma,
                                         double lr, uint64_t seed)
{
    audit_trainer t = test_audit_trainer(n, dim);
    t.normalize.kind = FEATURES_NORMALIZE_NONE;
    t.train.clip_norm = clip_norm;
    t.train.noise_multiplier = sigma;
    t.train.accountant.kind = ACCOUNTANT_RDP;
    t.optimizer.lr = lr;
    t.optimizer.momentum = 0;
    t.seed = seed;
    t.reproducible_noise = 1;
    return t;
}

audit_trainer test_audit_trainer(size_t n, size_t dim)
{
    audit_trainer t;
    memset(&t, 0, sizeof t);
    t.input = (dp_shape){dim, 1, 1};
    t.class_count = 2;
    features_normalize_config_default(&t.normalize);
    t.train.private_mode = 1;
    t.train.batch_size = n;
    t.train.delta = 1e-5;
    accountant_options_default(&t.train.accountant);
    t.train.accountant.kind = ACCOUNTANT_PLD;
    dp_optimizer_config_default(&t.optimizer);
    return t;
}
