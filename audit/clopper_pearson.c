/* Epsilon lower bounds from many training runs: Clopper-Pearson intervals on the error rates of
 * a membership test and the (eps, delta)-DP hypothesis-testing inequalities (docs/maths.md 6a). */
#include "audit/audit_internal.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>

/* The x with P[Beta(a, b) <= x] = p (or P[> x] = p when upper) by bisection on the CDF, for
 * the extreme shapes (thousands of trials with almost all successes) where GSL's quantile
 * iteration gives up; the CDF itself is accurate there. */
static double beta_quantile_by_bisection(double p, double a, double b, int upper)
{
    double lo = 0.0, hi = 1.0;
    for (int i = 0; i < 200 && hi - lo > 1e-17; i++) {
        double mid = 0.5 * (lo + hi);
        double tail = upper ? gsl_cdf_beta_Q(mid, a, b) : gsl_cdf_beta_P(mid, a, b);
        if (upper ? tail > p : tail < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

int audit_clopper_pearson(uint64_t successes, uint64_t trials, double alpha, double *lower,
                          double *upper, dpkit_error *err)
{
    if (trials == 0)
        return error_set(err, "Clopper-Pearson: 0 trials, expected at least 1");
    if (successes > trials)
        return error_set(err, "Clopper-Pearson: %llu successes out of %llu trials",
                         (unsigned long long)successes, (unsigned long long)trials);
    if (!(alpha > 0.0 && alpha < 1.0))
        return error_set(err, "Clopper-Pearson: alpha %g, expected 0 < alpha < 1", alpha);
    double c = (double)successes, t = (double)trials;
    gsl_error_handler_t *previous = audit_gsl_quiet();
    double lo = successes == 0 ? 0.0 : gsl_cdf_beta_Pinv(alpha / 2, c, t - c + 1);
    /* Qinv(alpha/2) rather than Pinv(1 - alpha/2): no rounding of 1 - alpha/2. */
    double hi = successes == trials ? 1.0 : gsl_cdf_beta_Qinv(alpha / 2, c + 1, t - c);
    if (!(lo >= 0.0 && lo <= 1.0))
        lo = beta_quantile_by_bisection(alpha / 2, c, t - c + 1, 0);
    if (!(hi >= 0.0 && hi <= 1.0))
        hi = beta_quantile_by_bisection(alpha / 2, c + 1, t - c, 1);
    audit_gsl_restore(previous);
    if (!(lo >= 0.0 && lo <= 1.0) || !(hi >= 0.0 && hi <= 1.0))
        return error_set(err, "Clopper-Pearson: beta quantile failed for %llu of %llu at "
                         "alpha %g", (unsigned long long)successes,
                         (unsigned long long)trials, alpha);
    *lower = lo;
    *upper = hi;
    return 0;
}

/* x + e^{g eps} y + g e^{(g-1) eps} delta - 1: negative where eps is refuted. */
static double slack(double eps, double x, double y, double delta, double g)
{
    return x + exp(g * eps) * y + g * exp((g - 1.0) * eps) * delta - 1.0;
}

/* Largest eps refuted by x + e^{g eps} y >= 1 - g e^{(g-1) eps} delta (x, y: error-rate upper
 * bounds of the two kinds; group privacy for g inserted points). The left side minus the right
 * grows with eps, so the refuted set is [0, root). */
static double refuted_epsilon(double x, double y, double delta, unsigned g)
{
    if (g == 1) {
        double room = 1.0 - delta - x;
        return room > y ? log(room / y) : 0.0;
    }
    double gd = (double)g;
    if (slack(0.0, x, y, delta, gd) >= 0.0)
        return 0.0;
    double lo = 0.0, hi = 1.0;
    while (slack(hi, x, y, delta, gd) < 0.0 && hi < 1e6)
        hi *= 2.0;
    for (int i = 0; i < 200 && hi - lo > 1e-15 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (slack(mid, x, y, delta, gd) < 0.0)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int audit_epsilon_from_counts(uint64_t false_positives, uint64_t runs_without,
                              uint64_t false_negatives, uint64_t runs_with, double delta,
                              unsigned group_size, double alpha, double *epsilon,
                              dpkit_error *err)
{
    if (!(delta >= 0.0 && delta < 1.0))
        return error_set(err, "epsilon lower bound: delta %g, expected 0 <= delta < 1", delta);
    if (group_size == 0)
        return error_set(err, "epsilon lower bound: group size 0, expected >= 1");
    double lo, fpr, fnr;
    if (audit_clopper_pearson(false_positives, runs_without, alpha, &lo, &fpr, err))
        return error_prefix(err, "epsilon lower bound: runs without the canary");
    if (audit_clopper_pearson(false_negatives, runs_with, alpha, &lo, &fnr, err))
        return error_prefix(err, "epsilon lower bound: runs with the canary");
    /* Both inequalities hold for every test; the complementary test swaps the error kinds. */
    double a = refuted_epsilon(fpr, fnr, delta, group_size);
    double b = refuted_epsilon(fnr, fpr, delta, group_size);
    *epsilon = a > b ? a : b;
    return 0;
}

int audit_epsilon_from_scores(const double *scores_with, size_t runs_with,
                              const double *scores_without, size_t runs_without, double delta,
                              unsigned group_size, double alpha, double *epsilon,
                              double *threshold, dpkit_error *err)
{
    if (runs_with == 0 || runs_without == 0)
        return error_set(err, "epsilon lower bound: %zu runs with and %zu without the canary, "
                         "expected at least 1 each", runs_with, runs_without);
    size_t n = runs_with + runs_without;
    double *with = malloc(runs_with * sizeof *with), *without = malloc(runs_without * sizeof *without);
    double *all = malloc(n * sizeof *all);
    if (!with || !without || !all) {
        free(with);
        free(without);
        free(all);
        return error_set(err, "epsilon lower bound: out of memory for %zu scores", n);
    }
    int status = 0;
    for (size_t i = 0; i < n && status == 0; i++) {
        double s = i < runs_with ? scores_with[i] : scores_without[i - runs_with];
        if (isnan(s))
            status = error_set(err, "epsilon lower bound: score %zu of the runs %s the canary "
                               "is NaN", i < runs_with ? i : i - runs_with,
                               i < runs_with ? "with" : "without");
        all[i] = s;
        if (i < runs_with)
            with[i] = s;
        else
            without[i - runs_with] = s;
    }
    double best = 0.0, best_threshold = INFINITY;
    if (status == 0) {
        qsort(with, runs_with, sizeof *with, audit_compare_double);
        qsort(without, runs_without, sizeof *without, audit_compare_double);
        qsort(all, n, sizeof *all, audit_compare_double);
        size_t at_most_with = 0, at_most_without = 0;
        for (size_t i = 0; i < n && status == 0; i++) {
            if (i > 0 && all[i] == all[i - 1])
                continue;
            double t = all[i];
            while (at_most_with < runs_with && with[at_most_with] <= t)
                at_most_with++;
            while (at_most_without < runs_without && without[at_most_without] <= t)
                at_most_without++;
            /* "member" = score > t: misses are the runs with the canary at or below t. */
            double eps;
            status = audit_epsilon_from_counts(runs_without - at_most_without, runs_without,
                                               at_most_with, runs_with, delta, group_size,
                                               alpha, &eps, err);
            if (status == 0 && eps > best) {
                best = eps;
                best_threshold = t;
            }
        }
    }
    free(with);
    free(without);
    free(all);
    if (status)
        return -1;
    *epsilon = best;
    if (threshold)
        *threshold = best_threshold;
    return 0;
}
