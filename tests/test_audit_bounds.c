/* Audit: epsilon lower bounds. Clopper-Pearson ends checked through the binomial CDF they
 * invert, the worked example of docs/maths.md 6a, and the one-run audit against ML Privacy Meter's
 * values (docs/maths.md 6b) and closed forms. */
#include "audit/audit_stats.h"

#include <criterion/criterion.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <string.h>

Test(audit, clopper_pearson_ends_invert_binomial_tails)
{
    uint64_t cases[][2] = {{0, 10}, {1, 10}, {5, 10}, {10, 10}, {50, 1000}, {900, 1000},
                           {3, 7}, {1, 1}, {0, 1}, {4999, 10000},
                           {10001, 10012}, {11, 10012}}; /* the last two: bisection fallback */
    double alpha = 0.05;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t c = cases[i][0], t = cases[i][1];
        double lo, hi;
        dpkit_error err;
        cr_assert_eq(audit_clopper_pearson(c, t, alpha, &lo, &hi, &err), 0, "%s", err.message);
        cr_assert(lo < hi);
        /* P[X >= c | lo] = alpha/2 and P[X <= c | hi] = alpha/2. */
        if (c == 0)
            cr_assert_eq(lo, 0.0);
        else
            cr_assert_float_eq(gsl_cdf_binomial_Q((unsigned)c - 1, lo, (unsigned)t), alpha / 2,
                               1e-9, "c=%llu t=%llu", (unsigned long long)c,
                               (unsigned long long)t);
        if (c == t)
            cr_assert_eq(hi, 1.0);
        else
            cr_assert_float_eq(gsl_cdf_binomial_P((unsigned)c, hi, (unsigned)t), alpha / 2, 1e-9);
    }
    /* Hand-checked closed forms: c = 0 gives hi = 1 - (alpha/2)^(1/T); c = T gives
     * lo = (alpha/2)^(1/T). */
    double lo, hi;
    cr_assert_eq(audit_clopper_pearson(0, 20, 0.05, &lo, &hi, NULL), 0);
    cr_assert_float_eq(hi, 1 - pow(0.025, 1.0 / 20), 1e-13);
    cr_assert_eq(audit_clopper_pearson(20, 20, 0.05, &lo, &hi, NULL), 0);
    cr_assert_float_eq(lo, pow(0.025, 1.0 / 20), 1e-13);
}

/* docs/maths.md 6a worked example: 1000 runs each; 900 poisoned above the threshold (100 false
 * negatives), 50 clean above (false positives). */
Test(audit, epsilon_from_counts_matches_worked_example)
{
    double lo, hi, eps;
    dpkit_error err;
    cr_assert_eq(audit_clopper_pearson(900, 1000, 0.05, &lo, &hi, &err), 0);
    cr_assert_float_eq(lo, 0.8797121, 5e-8);
    cr_assert_eq(audit_clopper_pearson(50, 1000, 0.05, &lo, &hi, &err), 0);
    cr_assert_float_eq(hi, 0.0653905, 5e-8);
    cr_assert_eq(audit_epsilon_from_counts(50, 1000, 100, 1000, 0.0, 1, 0.05, &eps, &err), 0);
    cr_assert_float_eq(eps, 2.599218, 5e-7);
    cr_assert_eq(audit_epsilon_from_counts(50, 1000, 100, 1000, 1e-5, 1, 0.05, &eps, &err), 0);
    cr_assert_float_eq(eps, 2.599206, 5e-7);
    /* Swapping the error kinds gives the same bound (the complementary test). */
    double swapped;
    cr_assert_eq(audit_epsilon_from_counts(100, 1000, 50, 1000, 1e-5, 1, 0.05, &swapped, &err), 0);
    cr_assert_float_eq(swapped, eps, 1e-12);
}

Test(audit, epsilon_bounds_properties)
{
    double eps, eps2, eps_group;
    dpkit_error err;
    /* A useless test (error rates 1/2) refutes nothing. */
    cr_assert_eq(audit_epsilon_from_counts(500, 1000, 500, 1000, 0.0, 1, 0.05, &eps, &err), 0);
    cr_assert_eq(eps, 0.0);
    /* More runs, same rates: a tighter (larger) bound. */
    cr_assert_eq(audit_epsilon_from_counts(5, 100, 10, 100, 0.0, 1, 0.05, &eps, &err), 0);
    cr_assert_eq(audit_epsilon_from_counts(50, 1000, 100, 1000, 0.0, 1, 0.05, &eps2, &err), 0);
    cr_assert_gt(eps2, eps);
    /* Group privacy with delta = 0 divides by the group size; with delta > 0 it is the root of
     * the group inequality. */
    cr_assert_eq(audit_epsilon_from_counts(50, 1000, 100, 1000, 0.0, 4, 0.05, &eps_group, &err), 0);
    cr_assert_float_eq(eps_group, eps2 / 4, 1e-12);
    cr_assert_eq(audit_epsilon_from_counts(50, 1000, 100, 1000, 1e-3, 4, 0.05, &eps_group, &err), 0);
    double lo, fpr, fnr;
    audit_clopper_pearson(50, 1000, 0.05, &lo, &fpr, NULL);
    audit_clopper_pearson(900, 1000, 0.05, &fnr, &lo, NULL);
    fnr = 1 - fnr; /* upper bound on the miss rate = 1 - lower bound on the hit rate */
    double g = 4, e = eps_group;
    /* The binding inequality is the one with the miss rate outside the exponential. */
    cr_assert_float_eq(fnr + exp(g * e) * fpr + g * exp((g - 1) * e) * 1e-3, 1.0, 1e-9);

    /* Threshold sweep: separable scores give the same bound as the perfect counts. */
    double with[20], without[20], threshold, best;
    for (int i = 0; i < 20; i++) {
        with[i] = 10 + i;
        without[i] = i - 10;
    }
    cr_assert_eq(audit_epsilon_from_scores(with, 20, without, 20, 0.0, 1, 0.05, &best,
                                           &threshold, &err), 0);
    cr_assert_eq(audit_epsilon_from_counts(0, 20, 0, 20, 0.0, 1, 0.05, &eps, &err), 0);
    cr_assert_float_eq(best, eps, 1e-12);
    cr_assert(threshold >= -1 && threshold < 10, "threshold %g", threshold);
}

Test(audit, epsilon_bounds_reject_bad_input)
{
    double lo, hi, eps;
    dpkit_error err;
    cr_assert_eq(audit_clopper_pearson(3, 0, 0.05, &lo, &hi, &err), -1);
    cr_assert(strstr(err.message, "0 trials"), "%s", err.message);
    cr_assert_eq(audit_clopper_pearson(11, 10, 0.05, &lo, &hi, &err), -1);
    cr_assert_eq(audit_clopper_pearson(1, 10, 1.5, &lo, &hi, &err), -1);
    cr_assert(strstr(err.message, "alpha"), "%s", err.message);
    cr_assert_eq(audit_epsilon_from_counts(1, 10, 1, 10, -1, 1, 0.05, &eps, &err), -1);
    cr_assert(strstr(err.message, "delta"), "%s", err.message);
    cr_assert_eq(audit_epsilon_from_counts(1, 10, 1, 10, 0, 0, 0.05, &eps, &err), -1);
    cr_assert_eq(audit_epsilon_from_counts(1, 10, 11, 10, 0, 1, 0.05, &eps, &err), -1);
    cr_assert(strstr(err.message, "with the canary"), "%s", err.message);
    double s[2] = {1, NAN};
    cr_assert_eq(audit_epsilon_from_scores(s, 2, s, 1, 0, 1, 0.05, &eps, NULL, &err), -1);
    cr_assert(strstr(err.message, "NaN"), "%s", err.message);
    cr_assert_eq(audit_epsilon_from_scores(s, 0, s, 1, 0, 1, 0.05, &eps, NULL, &err), -1);
}

/* docs/maths.md 6b table: independent re-implementation == ML Privacy Meter. The bisection yields
 * dyadic numbers, so equality is exact unless a p-value lands within rounding of p. */
Test(audit, one_run_epsilon_matches_ml_privacy_meter)
{
    struct { uint64_t m, r, v; double delta, eps; } cases[] = {
        {1000, 100, 90, 0, 1.6308212280273438},   {1000, 100, 90, 1e-5, 1.6261367797851562},
        {1000, 1000, 600, 0, 0.29746246337890625}, {10000, 500, 500, 1e-5, 4.833507537841797},
        {100, 10, 10, 0, 1.0518722534179688},      {1000, 100, 50, 0, 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double eps;
        dpkit_error err;
        cr_assert_eq(audit_one_run_epsilon(cases[i].m, cases[i].r, cases[i].v, cases[i].delta,
                                           0.05, &eps, &err), 0, "%s", err.message);
        cr_assert_eq(eps, cases[i].eps, "case %zu: %.17g vs %.17g", i, eps, cases[i].eps);
    }
}

Test(audit, one_run_p_value_closed_forms)
{
    /* r = v = 10, delta = 0: p = q^10, so the bound is logit(0.05^(1/10)) (to the 1e-5
     * bisection width, from below). */
    double eps;
    cr_assert_eq(audit_one_run_epsilon(100, 10, 10, 0, 0.05, &eps, NULL), 0);
    double q = pow(0.05, 0.1), exact = log(q / (1 - q));
    cr_assert(eps <= exact && exact - eps <= 1e-5, "%.10g vs %.10g", eps, exact);
    /* r = v = 1: beta = q, alpha = P[X = 0] = 1 - q, p = q + (1 - q) 2 m delta. */
    double e = 0.7, qq = 1 / (1 + exp(-e));
    cr_assert_float_eq(audit_one_run_p_value(3, 1, 1, e, 0.01), qq + (1 - qq) * 2 * 3 * 0.01, 1e-14);
    cr_assert_float_eq(audit_one_run_p_value(3, 1, 1, e, 0.0), qq, 1e-15);
    /* r = 2, v = 1: beta = 1 - (1-q)^2; alpha = max(P[X=0]) = (1-q)^2. */
    cr_assert_float_eq(audit_one_run_p_value(5, 2, 1, e, 1e-3),
                       1 - pow(1 - qq, 2) + pow(1 - qq, 2) * 2 * 5 * 1e-3, 1e-14);
    cr_assert_eq(audit_one_run_p_value(5, 2, 0, e, 0), 1.0);
    cr_assert(isnan(audit_one_run_p_value(5, 2, 3, e, 0)));
}

Test(audit, one_run_guesses_and_grid)
{
    /* 100 canaries: the 50 included ones score higher than every excluded one. */
    enum { M = 100 };
    double scores[M];
    uint8_t included[M];
    for (int i = 0; i < M; i++) {
        included[i] = (uint8_t)(i % 2);
        scores[i] = included[i] ? 100.0 + i : -(double)i;
    }
    uint64_t r, v;
    dpkit_error err;
    cr_assert_eq(audit_one_run_guesses(scores, included, M, 30, 20, &r, &v, &err), 0);
    cr_assert_eq(r, 50);
    cr_assert_eq(v, 50);
    cr_assert_eq(audit_one_run_guesses(scores, included, M, 60, 40, &r, &v, &err), 0);
    cr_assert_eq(r, 100);
    cr_assert_eq(v, 90); /* 10 of the member guesses fall on excluded canaries */
    /* Grid step 10: the largest all-correct guess set leaves a gap of 10, r = v = 90. */
    audit_one_run_result best;
    cr_assert_eq(audit_one_run_best(scores, included, M, 0.0, 0.05, &best, &err), 0);
    double expected;
    cr_assert_eq(audit_one_run_epsilon(M, 90, 90, 0.0, 0.05, &expected, &err), 0);
    cr_assert_eq(best.epsilon, expected);
    cr_assert_eq(best.guesses, 90);
    cr_assert_eq(best.correct, 90);
    cr_assert_eq(best.member_guesses + best.nonmember_guesses, 90);
    /* Scores unrelated to inclusion give a small bound. */
    for (int i = 0; i < M; i++)
        scores[i] = (double)((i * 37) % M);
    cr_assert_eq(audit_one_run_best(scores, included, M, 0.0, 0.05, &best, &err), 0);
    cr_assert_lt(best.epsilon, expected / 2);

    cr_assert_eq(audit_one_run_guesses(scores, included, M, 60, 50, &r, &v, &err), -1);
    cr_assert(strstr(err.message, "guesses"), "%s", err.message);
    included[3] = 2;
    cr_assert_eq(audit_one_run_best(scores, included, M, 0.0, 0.05, &best, &err), -1);
    cr_assert(strstr(err.message, "canary 3"), "%s", err.message);
    double eps;
    cr_assert_eq(audit_one_run_epsilon(10, 5, 6, 0, 0.05, &eps, &err), -1);
    cr_assert(strstr(err.message, "v <= r <= m"), "%s", err.message);
    cr_assert_eq(audit_one_run_epsilon(10, 5, 3, 0, 1.0, &eps, &err), -1);
    cr_assert_eq(audit_one_run_epsilon(10, 5, 3, 2.0, 0.05, &eps, &err), -1);
}
