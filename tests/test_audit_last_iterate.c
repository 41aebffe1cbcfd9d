/* The black-box last-iterate audit with a crafted target (docs/maths.md 6f) on a small private
 * training (two Gaussian blobs with two input coordinates no example uses): a correct training
 * is estimated near its mu and not flagged, a training without noise is, and a target with no
 * coordinate of its own is refused. */
#include "audit/audit.h"
#include "tests/test_audit_blobs.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 200, DIM = 8, UNUSED = 2 };

/* Full batches, 10 steps, C = 1, sigma 1.5811 (PLD: epsilon 10 at delta 1e-5 for q = 1; the
 * RDP accountant, faster, says 10.7), noise keyed from the seed so that the test repeats. */
static audit_trainer trainer(void)
{
    audit_trainer t = test_audit_crafted_trainer(N, DIM, 1, 1.5811, 0.5, 13);
    t.train.physical_batch = 256;
    t.train.epochs = 10;
    return t;
}

static int run(const audit_trainer *t, size_t unused, size_t runs, audit_canary_result *r,
               dpkit_error *err)
{
    static float x[N * DIM];
    static int32_t y[N];
    test_audit_blobs(x, y, N, DIM, unused);
    dp_data train = {.x = x, .y = y, .count = N}, test = {.x = x, .y = y, .count = 0};
    audit_canary_options o = {.canary = AUDIT_CANARY_CRAFTED, .canaries = 1, .runs = runs,
                              .confidence = 0.95};
    return audit_multi_run(t, &train, &test, &o, r, err);
}

Test(audit_last_iterate, a_correct_training_is_estimated_near_its_mu_and_not_flagged)
{
    audit_trainer t = trainer();
    audit_canary_result r;
    dpkit_error err;
    cr_assert_eq(run(&t, UNUSED, 30, &r, &err), 0, "%s", err.message);
    cr_assert(r.epsilon > 10 && r.epsilon < 11, "epsilon %g", r.epsilon);
    /* the last iterate's score is Gaussian with the accountant's mu (6f): the estimate's 97.5%
     * interval covers it, and eps_lb stays below epsilon */
    cr_assert(r.gdp.mu_lower <= r.mu_claimed && r.mu_claimed <= r.gdp.mu_upper,
              "mu %g [%g, %g], accountant %g", r.gdp.mu, r.gdp.mu_lower, r.gdp.mu_upper,
              r.mu_claimed);
    cr_assert_gt(r.gdp.mu_lower, 0.5, "the target is seen: mu %g [%g, %g]", r.gdp.mu,
                 r.gdp.mu_lower, r.gdp.mu_upper);
    cr_assert_leq(r.epsilon_lb, r.epsilon, "eps_lb %g > eps %g", r.epsilon_lb, r.epsilon);
    cr_assert_eq(r.signal_count, 60);
    audit_canary_result_free(&r);
}

Test(audit_last_iterate, no_noise_is_a_violation)
{
    audit_trainer t = trainer();
    t.fault = AUDIT_FAULT_NO_NOISE;
    audit_canary_result r;
    dpkit_error err;
    cr_assert_eq(run(&t, UNUSED, 8, &r, &err), 0, "%s", err.message);
    cr_assert_gt(r.epsilon_lb, r.epsilon, "eps_lb %g, eps %g", r.epsilon_lb, r.epsilon);
    audit_canary_result_free(&r);
}

Test(audit_last_iterate, a_target_needs_coordinates_of_its_own)
{
    audit_trainer t = trainer();
    audit_canary_result r;
    dpkit_error err;
    cr_assert_eq(run(&t, 0, 4, &r, &err), -1);
    cr_assert(strstr(err.message, "every input coordinate is used"), "%s", err.message);
    audit_canary_result_free(&r);
    t.normalize.kind = FEATURES_NORMALIZE_GROUP_NORM;
    cr_assert_eq(run(&t, UNUSED, 4, &r, &err), -1);
    cr_assert(strstr(err.message, "features.normalize.kind: none"), "%s", err.message);
    audit_canary_result_free(&r);
}
