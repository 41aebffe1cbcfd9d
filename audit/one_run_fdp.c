/* One-run audit of f-DP (after Mahloujifar, Melis & Chaudhuri 2025; docs/maths.md 6e): the
 * largest probability of v or more correct guesses out of exactly k that a mu-GDP mechanism
 * allows, and the largest mu (and its epsilon at delta) that v correct guesses reject. */
#include "audit/audit_internal.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Whether some distribution of the correct-guess count W with P[W >= v] = tail meets every
 * constraint of docs/maths.md 6e under mu-GDP. The tail sits at v and the rest is placed
 * greedily, level j - 1 as little as constraint j needs, from j = v down (the least total
 * mass; 6e); feasible when that total is at most 1. */
static int tail_feasible(double m, double k, size_t v, double mu, double tail)
{
    double correct = (double)v * tail, wrong = (k - (double)v) * tail, total = tail;
    for (size_t j = v; j >= 1; j--) {
        double t = correct / m; /* the test's power on a canary drawn uniformly */
        if (t >= 1)
            return 0;
        /* 1 - G_mu(y) >= t  <=>  y >= G_mu^{-1}(1 - t) = Phi(Phi^{-1}(t) - mu) (G_mu symmetric) */
        double need = t > 0 ? m * gsl_cdf_ugaussian_P(gsl_cdf_ugaussian_Pinv(t) - mu) : 0;
        double x = (need - wrong) / (k - (double)j + 1);
        if (!(x > 0))
            return 1; /* this constraint and every one below it hold with nothing more */
        total += x;
        if (total > 1)
            return 0;
        correct += (double)(j - 1) * x;
        wrong += (k - (double)j + 1) * x;
    }
    return 1;
}

double audit_fdp_gaussian_tail(size_t m, size_t k, size_t v, double mu)
{
    if (!(v <= k && k <= m && m > 0 && mu >= 0))
        return NAN;
    if (v == 0 || isinf(mu))
        return 1;
    double lo = 0, hi = 1;
    if (tail_feasible((double)m, (double)k, v, mu, 1))
        return 1;
    for (int i = 0; i < 60 && hi - lo > 1e-12 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (tail_feasible((double)m, (double)k, v, mu, mid))
            lo = mid;
        else
            hi = mid;
    }
    return hi; /* an upper end: never below the supremum */
}

int audit_one_run_fdp_mu(size_t m, size_t k, size_t v, double p, double *mu, dpkit_error *err)
{
    if (!(v <= k && k <= m && m > 0))
        return error_set(err, "f-DP one-run audit: m = %zu canaries, k = %zu guesses, v = %zu "
                         "correct; expected v <= k <= m, m > 0", m, k, v);
    if (!(p > 0 && p < 1))
        return error_set(err, "f-DP one-run audit: p %g, expected 0 < p < 1 (0.05 = 95%% "
                         "confidence)", p);
    /* mu is rejected when a tail of p is infeasible, which holds for all mu below the crossing
     * (the constraints loosen as mu grows). */
    double lo = 0, hi = 1;
    if (tail_feasible((double)m, (double)k, v, 0, p)) {
        *mu = 0;
        return 0;
    }
    while (!tail_feasible((double)m, (double)k, v, hi, p)) {
        lo = hi;
        hi *= 2;
        if (hi > 64) { /* every guess right with many guesses: nothing bounds mu usefully */
            *mu = lo;
            return 0;
        }
    }
    for (int i = 0; i < 50 && hi - lo > 1e-6; i++) {
        double mid = 0.5 * (lo + hi);
        if (tail_feasible((double)m, (double)k, v, mid, p))
            hi = mid;
        else
            lo = mid;
    }
    *mu = lo;
    return 0;
}

int audit_one_run_fdp_best_of(size_t m, const size_t *counts, const uint64_t *correct,
                              size_t count_n, double delta, double p,
                              audit_one_run_fdp_bound *bound, dpkit_error *err)
{
    memset(bound, 0, sizeof *bound);
    if (count_n == 0)
        return error_set(err, "f-DP one-run audit: no guess counts");
    for (size_t g = 0; g < count_n; g++) {
        if (counts[g] < 1 || counts[g] > m)
            return error_set(err, "f-DP one-run audit: %zu guesses of %zu canaries, expected "
                             "1 to %zu", counts[g], m, m);
        double mu;
        /* each count at p / count_n (Bonferroni): the best of them is a 1 - p bound */
        if (audit_one_run_fdp_mu(m, counts[g], (size_t)correct[g], p / (double)count_n, &mu,
                                 err))
            return -1;
        if (g == 0 || mu > bound->mu) {
            bound->mu = mu;
            bound->guesses = counts[g];
            bound->correct = correct[g];
        }
    }
    return audit_gdp_epsilon(bound->mu, delta, &bound->epsilon, err);
}

int audit_one_run_fdp_bound_compute(const double *scores, const uint8_t *included, size_t m,
                                    const size_t *counts, size_t count_n, double delta, double p,
                                    audit_one_run_fdp_bound *bound, dpkit_error *err)
{
    memset(bound, 0, sizeof *bound);
    uint64_t *correct = malloc((count_n ? count_n : 1) * sizeof *correct);
    if (!correct)
        return error_set(err, "f-DP one-run audit: out of memory");
    int status = 0;
    for (size_t g = 0; status == 0 && g < count_n; g++) {
        size_t members = (counts[g] + 1) / 2, nonmembers = counts[g] - members;
        uint64_t r;
        status = audit_one_run_guesses(scores, included, m, members, nonmembers, &r,
                                       &correct[g], err);
    }
    if (status == 0)
        status = audit_one_run_fdp_best_of(m, counts, correct, count_n, delta, p, bound, err);
    free(correct);
    return status;
}
