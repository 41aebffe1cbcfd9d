/* Gaussian DP for audits: the exact (eps, delta) curve of mu-GDP against an independent
 * computation, its inverses, the mu estimate and its interval on Gaussian samples, and the
 * ideal attacker's one-run bound. */
#include "audit/audit.h"

#include <criterion/criterion.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* delta(eps) as the largest gap TPR - e^eps FPR of threshold tests on N(mu,1) vs N(0,1),
 * maximised over the threshold on a fine grid: an independent route to the same curve. */
static double delta_by_tests(double mu, double eps)
{
    double best = 0;
    for (double t = -10; t <= 10 + mu; t += 1e-4) {
        double gap = gsl_cdf_ugaussian_Q(t - mu) - exp(eps) * gsl_cdf_ugaussian_Q(t);
        if (gap > best)
            best = gap;
    }
    return best;
}

Test(audit_gdp, the_curve_is_the_best_threshold_test)
{
    cr_assert_float_eq(audit_gdp_delta(1, 0), 2 * gsl_cdf_ugaussian_P(0.5) - 1, 1e-15);
    double cases[][2] = {{0.5, 0.3}, {1, 1}, {2, 3}, {3, 6}};
    for (int i = 0; i < 4; i++) {
        double d = audit_gdp_delta(cases[i][0], cases[i][1]);
        cr_assert_float_eq(d, delta_by_tests(cases[i][0], cases[i][1]), 1e-8, "mu %g eps %g: %g",
                           cases[i][0], cases[i][1], d);
    }
    cr_assert_eq(audit_gdp_delta(0, 1), 0);
    cr_assert(isnan(audit_gdp_delta(-1, 1)));
    /* far tail: finite and positive, no overflow of e^eps */
    double far = audit_gdp_delta(2, 40); /* Phi(-19) - e^40 Phi(-21): about 1e-80 */
    cr_assert(far > 1e-82 && far < 1e-78, "%g", far);
}

Test(audit_gdp, epsilon_and_mu_invert_each_other)
{
    dpkit_error err;
    double mus[] = {0.1, 0.8, 2.0, 4.5};
    for (int i = 0; i < 4; i++) {
        double eps, mu;
        cr_assert_eq(audit_gdp_epsilon(mus[i], 1e-5, &eps, &err), 0, "%s", err.message);
        cr_assert_float_eq(audit_gdp_delta(mus[i], eps), 1e-5, 1e-12);
        cr_assert_eq(audit_gdp_mu(eps, 1e-5, &mu, &err), 0, "%s", err.message);
        cr_assert_float_eq(mu, mus[i], 1e-9 * mus[i] + 1e-12, "%g vs %g", mu, mus[i]);
    }
    double eps;
    cr_assert_eq(audit_gdp_epsilon(0.01, 0.5, &eps, &err), 0);
    cr_assert_eq(eps, 0, "delta(0) is below delta: eps 0");
    cr_assert_eq(audit_gdp_epsilon(INFINITY, 1e-5, &eps, &err), 0);
    cr_assert(isinf(eps));
    cr_assert_eq(audit_gdp_epsilon(1, 0, &eps, &err), -1);
    cr_assert(strstr(err.message, "delta"), "%s", err.message);
    cr_assert_eq(audit_gdp_mu(-1, 1e-5, &eps, &err), -1);
}

static void gaussian(rng *r, double mean, double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = mean + 3.0 * rng_gaussian(r) + 10.0; /* common shift and scale do not matter */
}

Test(audit_gdp, the_estimate_covers_mu_on_gaussian_scores)
{
    enum { N = 4000, REPEATS = 40 };
    double *with = malloc(N * sizeof *with), *without = malloc(N * sizeof *without);
    rng r;
    rng_init_seed(&r, 3, RNG_STREAM_TEST);
    dpkit_error err;
    double mu = 2.0, eps_true;
    cr_assert_eq(audit_gdp_epsilon(mu, 1e-5, &eps_true, &err), 0);
    int covered = 0, above = 0;
    for (int k = 0; k < REPEATS; k++) {
        gaussian(&r, 3.0 * mu, with, N);
        gaussian(&r, 0, without, N);
        audit_gdp_estimate_result e;
        cr_assert_eq(audit_gdp_estimate(with, N, without, N, 1e-5, 0.95, &e, &err), 0, "%s",
                     err.message);
        cr_assert_float_eq(e.sd, 3.0, 0.15);
        /* half-width 1.96 sqrt(2/N + mu^2/(4N)) = 0.069 */
        cr_assert_float_eq(e.mu_upper - e.mu_lower, 2 * 1.959964 * sqrt(2.0 / N + e.mu * e.mu / (2.0 * (2 * N - 2))), 1e-9);
        covered += e.mu_lower <= mu && mu <= e.mu_upper;
        above += e.epsilon_lower > eps_true;
        cr_assert(e.epsilon_lower <= e.epsilon && e.epsilon <= e.epsilon_upper);
    }
    /* 95% intervals: the expected misses are 2 of 40; 8 or more has probability < 0.1% */
    cr_assert_geq(covered, REPEATS - 7, "%d of %d intervals cover mu", covered, REPEATS);
    cr_assert_leq(above, 4, "eps_lb above the true eps %d times", above);

    /* no noise: zero spread, separated means */
    for (int i = 0; i < N; i++)
        with[i] = 1, without[i] = 0;
    audit_gdp_estimate_result e;
    cr_assert_eq(audit_gdp_estimate(with, N, without, N, 1e-5, 0.95, &e, &err), 0);
    cr_assert(isinf(e.epsilon_lower) && isinf(e.mu));
    with[7] = NAN;
    cr_assert_eq(audit_gdp_estimate(with, N, without, N, 1e-5, 0.95, &e, &err), -1);
    cr_assert(strstr(err.message, "score 7 with"), "%s", err.message);
    cr_assert_eq(audit_gdp_estimate(with, 1, without, N, 1e-5, 0.95, &e, &err), -1);
    free(with);
    free(without);
}

Test(audit_gdp, the_ideal_one_run_bound_grows_with_canaries_and_stays_below_epsilon)
{
    dpkit_error err;
    double mu;
    cr_assert_eq(audit_gdp_mu(4, 1e-5, &mu, &err), 0);
    audit_one_run_bound small, large, none;
    cr_assert_eq(audit_one_run_ideal_gaussian(1000, mu, 1e-5, 0.05, &small, &err), 0, "%s",
                 err.message);
    cr_assert_eq(audit_one_run_ideal_gaussian(100000, mu, 1e-5, 0.05, &large, &err), 0);
    cr_assert_eq(audit_one_run_ideal_gaussian(1000, 0, 1e-5, 0.05, &none, &err), 0);
    cr_assert(small.epsilon > 0.5 && small.epsilon < large.epsilon && large.epsilon < 4,
              "m = 1000: %g, m = 100000: %g", small.epsilon, large.epsilon);
    cr_assert_lt(none.epsilon, 0.2, "mu = 0: %g", none.epsilon);
    cr_assert_leq(large.correct, large.guesses);
    cr_assert_eq(audit_one_run_ideal_gaussian(1, mu, 1e-5, 0.05, &none, &err), -1);
}
