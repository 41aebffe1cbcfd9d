/* The one-run bound an ideal attacker reaches against a mu-GDP mechanism with the same canary
 * count (docs/maths.md 6d): the bound of audit_one_run_bound_compute on the expected guesses
 * of Gaussian scores, N(mu, 1) for included canaries and N(0, 1) for excluded ones. */
#include "audit/audit_internal.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
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

int audit_one_run_ideal_gaussian(size_t m, double mu, double delta, double p,
                                 audit_one_run_bound *bound, dpkit_error *err)
{
    memset(bound, 0, sizeof *bound);
    bound->grid_epsilon = NAN;
    if (m < 2)
        return error_set(err, "one-run ideal bound: %zu canaries, expected at least 2", m);
    if (!(mu >= 0) || isinf(mu))
        return error_set(err, "one-run ideal bound: mu %g, expected a finite mu >= 0", mu);
    size_t counts[AUDIT_ONE_RUN_GUESS_COUNTS];
    size_t G = audit_one_run_guess_counts(m, counts);
    for (size_t g = 0; g < G; g++) {
        size_t members = (counts[g] + 1) / 2, nonmembers = counts[g] - members;
        double right = top_precision((double)members / (double)m, mu) * (double)members +
                       (nonmembers ? top_precision((double)nonmembers / (double)m, mu) *
                                         (double)nonmembers : 0);
        uint64_t v = (uint64_t)floor(right + 0.5);
        if (v > counts[g])
            v = counts[g];
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
