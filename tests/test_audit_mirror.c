/* The last-iterate audit against a mirrored training set (docs/maths.md 6g): the crafted target
 * among copies of itself under the other label. Poisson sampling is not flagged; fixed-size
 * batches of a shuffle, accounted as Poisson sampling, are (the target displaces a copy, which
 * doubles its signal); a learning rate that would let the margin drift is refused. */
#include "audit/audit.h"
#include "tests/test_audit_blobs.h"

#include <criterion/criterion.h>
#include <string.h>

enum { FILL = 20, DIM = 8, UNUSED = 2 };

/* q = 2/20, 25 epochs of 10 steps, C = 0.5, sigma 1.5 (RDP, faster than PLD here), noise keyed
 * from the seed so that the test repeats. */
static audit_trainer trainer(void)
{
    audit_trainer t = test_audit_crafted_trainer(FILL, DIM, 0.5, 1.5, 2e-4, 29);
    t.train.batch_size = 2;
    t.train.physical_batch = 8;
    t.train.epochs = 25;
    return t;
}

static int run(const audit_trainer *t, size_t runs, audit_canary_result *r, dpkit_error *err)
{
    static float x[FILL * DIM];
    static int32_t y[FILL];
    test_audit_blobs(x, y, FILL, DIM, UNUSED);
    dp_data train = {.x = x, .y = y, .count = FILL}, test = {.x = x, .y = y, .count = 0};
    audit_canary_options o = {.canary = AUDIT_CANARY_CRAFTED, .canaries = 1, .runs = runs,
                              .confidence = 0.95, .examples = FILL, .mirror = 1};
    return audit_multi_run(t, &train, &test, &o, r, err);
}

Test(audit_mirror, poisson_sampling_is_not_flagged, .timeout = 120)
{
    audit_trainer t = trainer();
    audit_canary_result r;
    dpkit_error err;
    cr_assert_eq(run(&t, 150, &r, &err), 0, "%s", err.message);
    cr_assert_float_eq(r.sampling_rate, 0.1, 1e-12);
    cr_assert_leq(r.epsilon_lb, r.epsilon, "eps_lb %g > eps %g (mu %g [%g, %g])", r.epsilon_lb,
                  r.epsilon, r.gdp.mu, r.gdp.mu_lower, r.gdp.mu_upper);
    cr_assert_lt(r.gdp.mu, r.mu_claimed, "mu %g, accountant %g", r.gdp.mu, r.mu_claimed);
    audit_canary_result_free(&r);
}

Test(audit_mirror, shuffled_fixed_size_batches_are_a_violation, .timeout = 120)
{
    audit_trainer t = trainer();
    t.fault = AUDIT_FAULT_SHUFFLED;
    audit_canary_result r;
    dpkit_error err;
    cr_assert_eq(run(&t, 150, &r, &err), 0, "%s", err.message);
    /* 6g: mu = 2 E (N / (N + 1)) / (sigma sqrt(E K)) = 2.01 against the accountant's ~1.2 */
    cr_assert_gt(r.epsilon_lb, r.epsilon, "eps_lb %g, eps %g (mu %g [%g, %g], accountant %g)",
                 r.epsilon_lb, r.epsilon, r.gdp.mu, r.gdp.mu_lower, r.gdp.mu_upper,
                 r.mu_claimed);
    audit_canary_result_free(&r);
}

Test(audit_mirror, a_drifting_margin_is_refused)
{
    audit_trainer t = trainer();
    t.optimizer.lr = 0.1;
    audit_canary_result r;
    dpkit_error err;
    cr_assert_eq(run(&t, 4, &r, &err), -1);
    cr_assert(strstr(err.message, "canary.fill: mirror") && strstr(err.message, "lower"), "%s",
              err.message);
    audit_canary_result_free(&r);
}
