/* The one-run bounds an ideal attacker reaches against a mu-GDP mechanism with the same canary
 * count (docs/maths.md 6d, 6e): Steinke et al.'s bound (audit_one_run_bound_compute) and the
 * f-DP bound on the expected guesses of Gaussian scores, N(mu, 1) for included canaries and
 * N(0, 1) for excluded ones. */
#include "audit/audit_internal.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* P[score > t] for a canary included with probability 1/2. */
static double upper_tail(double t, double mu)
{
    return 0.5 * gsl_cdf_ugaussian_Q(t - mu) + 0.5 * gsl_cdf_ugaussian_Q(t);
}

/* Expected precision of "member" on the top fraction f of the scores. By the symmetry
 * score -> mu - score, "non-member" on the bottom fraction f has the same precision. */
static double top_precision(double f, double mu)
{
    double lo = -40, hi = 40 + mu;
    for (int i = 0; i < 200 && hi - lo > 1e-12; i++) {
        double mid = 0.5 * (lo + hi);
        if (upper_tail(mid, mu) > f)
            lo = mid;
        else
            hi = mid;
    }
    double t = 0.5 * (lo + hi), tail = upper_tail(t, mu);
    return tail > 0 ? 0.5 * gsl_cdf_ugaussian_Q(t - mu) / tail : 1;
}

/* Expected correct guesses (rounded) of `count` guesses, half "member" on the top scores and
 * half "non-member" on the bottom ones. */
static uint64_t expected_correct(size_t m, size_t count, double mu)
{
    size_t members = (count + 1) / 2, nonmembers = count - members;
    double right = top_precision((double)members / (double)m, mu) * (double)members +
                   (nonmembers ? top_precision((double)nonmembers / (double)m, mu) *
                                     (double)nonmembers : 0);
    uint64_t v = (uint64_t)floor(right + 0.5);
    return v < count ? v : count;
}

static int check_ideal(size_t m, double mu, dpkit_error *err)
{
    if (m < 2)
        return error_set(err, "one-run ideal bound: %zu canaries, expected at least 2", m);
    if (!(mu >= 0) || isinf(mu))
        return error_set(err, "one-run ideal bound: mu %g, expected a finite mu >= 0", mu);
    return 0;
}

int audit_one_run_ideal_gaussian(size_t m, double mu, double delta, double p,
                                 audit_one_run_bound *bound, dpkit_error *err)
{
    memset(bound, 0, sizeof *bound);
    bound->grid_epsilon = NAN;
    if (check_ideal(m, mu, err))
        return -1;
    size_t counts[AUDIT_ONE_RUN_GUESS_COUNTS];
    size_t G = audit_one_run_guess_counts(m, counts);
    for (size_t g = 0; g < G; g++) {
        uint64_t v = expected_correct(m, counts[g], mu);
        double eps;
        if (audit_one_run_epsilon(m, counts[g], v, delta, p / (double)G, &eps, err))
            return -1;
        if (g == 0 || eps > bound->epsilon) {
            bound->epsilon = eps;
            bound->guesses = counts[g];
            bound->correct = v;
        }
    }
    return 0;
}

int audit_one_run_fdp_ideal(size_t m, const size_t *counts, size_t count_n, double mu,
                            double delta, double p, audit_one_run_fdp_bound *bound,
                            dpkit_error *err)
{
    memset(bound, 0, sizeof *bound);
    if (check_ideal(m, mu, err))
        return -1;
    uint64_t *correct = malloc((count_n ? count_n : 1) * sizeof *correct);
    if (!correct)
        return error_set(err, "f-DP one-run ideal bound: out of memory");
    for (size_t g = 0; g < count_n; g++)
        correct[g] = counts[g] <= m ? expected_correct(m, counts[g], mu) : 0;
    int status = audit_one_run_fdp_best_of(m, counts, correct, count_n, delta, p, bound, err);
    free(correct);
    return status;
}

int audit_one_run_fdp_best_count(size_t m, double mu, double delta, double p, size_t *count,
                                 dpkit_error *err)
{
    /* guess counts m / 2^(i/4): a data-free choice (the claimed mu only), so no correction */
    audit_one_run_fdp_bound best = {0}, b;
    *count = 0;
    for (int i = 0; i <= 60; i++) {
        size_t c = (size_t)floor((double)m * pow(2, -i / 4.0));
        if (c < 2)
            break;
        if (audit_one_run_fdp_ideal(m, &c, 1, mu, delta, p, &b, err))
            return -1;
        if (*count == 0 || b.mu > best.mu)
            best = b, *count = c;
    }
    return 0;
}
