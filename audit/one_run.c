/* One-run privacy audit (Steinke, Nasr, Jagielski 2023): p-value of v correct guesses out of r
 * under (eps, delta)-DP and the resulting epsilon lower bound, as ML Privacy Meter computes
 * them (docs/maths.md 6b). */
#include "audit/audit_internal.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

double audit_one_run_p_value(uint64_t m, uint64_t r, uint64_t v, double epsilon, double delta)
{
    if (!(v <= r && r <= m && m <= UINT_MAX && epsilon >= 0.0 && delta >= 0.0 && delta <= 1.0))
        return NAN;
    double q = 1.0 / (1.0 + exp(-epsilon)); /* accuracy of eps-randomised response */
    unsigned ur = (unsigned)r, uv = (unsigned)v;
    /* beta = P[Binomial(r, q) >= v]; GSL's Q(k) is P[X > k], by incomplete beta (accurate in
     * the tail for large r and q near 1). */
    double beta = v == 0 ? 1.0 : gsl_cdf_binomial_Q(uv - 1, q, ur);
    double p = beta;
    if (delta > 0.0) {
        /* alpha = max_i (1/i) P[v - i <= Binomial(r, q) < v]. */
        double alpha = 0.0, sum = 0.0;
        for (unsigned i = 1; i <= uv; i++) {
            sum += gsl_ran_binomial_pdf(uv - i, q, ur);
            if (sum > i * alpha)
                alpha = sum / i;
        }
        p = beta + alpha * delta * 2.0 * (double)m;
    }
    return p < 1.0 ? p : 1.0;
}

int audit_one_run_epsilon(uint64_t m, uint64_t r, uint64_t v, double delta, double p,
                          double *epsilon, dpkit_error *err)
{
    if (!(v <= r && r <= m))
        return error_set(err, "one-run audit: m = %llu canaries, r = %llu guesses, v = %llu "
                         "correct; expected v <= r <= m", (unsigned long long)m,
                         (unsigned long long)r, (unsigned long long)v);
    if (m > UINT_MAX)
        return error_set(err, "one-run audit: m = %llu canaries, at most %u supported",
                         (unsigned long long)m, UINT_MAX);
    if (!(delta >= 0.0 && delta <= 1.0))
        return error_set(err, "one-run audit: delta %g, expected 0 <= delta <= 1", delta);
    if (!(p > 0.0 && p < 1.0))
        return error_set(err, "one-run audit: p %g, expected 0 < p < 1 (0.05 = 95%% confidence)",
                         p);
    /* The p-value grows with eps: bracket the crossing by unit steps, then bisect. */
    double lo = 0.0, hi = 1.0;
    while (audit_one_run_p_value(m, r, v, hi, delta) < p)
        hi += 1.0;
    for (int i = 0; i < 30 && hi - lo > 1e-5; i++) {
        double mid = 0.5 * (lo + hi);
        if (audit_one_run_p_value(m, r, v, mid, delta) < p)
            lo = mid;
        else
            hi = mid;
    }
    *epsilon = lo;
    return 0;
}

/* Canary indices in ascending score order (ties by index). */
static int sort_order(const double *scores, size_t m, size_t *order, dpkit_error *err)
{
    for (size_t i = 0; i < m; i++)
        if (isnan(scores[i]))
            return error_set(err, "one-run audit: score of canary %zu is NaN", i);
    audit_rank_ascending(scores, m, order);
    return 0;
}

/* included bits in ascending score order (ties by index). */
static int sort_inclusion(const double *scores, const uint8_t *included, size_t m,
                          uint8_t *sorted, dpkit_error *err)
{
    for (size_t i = 0; i < m; i++)
        if (included[i] > 1)
            return error_set(err, "one-run audit: inclusion bit of canary %zu is %u, expected "
                             "0 or 1", i, included[i]);
    size_t *order = malloc((m ? m : 1) * sizeof *order);
    if (!order)
        return error_set(err, "one-run audit: out of memory for %zu canaries", m);
    int status = sort_order(scores, m, order, err);
    for (size_t i = 0; status == 0 && i < m; i++)
        sorted[i] = included[order[i]];
    free(order);
    return status;
}

int audit_one_run_guess_labels(const double *scores, size_t m, size_t member_guesses,
                               size_t nonmember_guesses, int32_t *guess, dpkit_error *err)
{
    if (member_guesses > m || nonmember_guesses > m - member_guesses)
        return error_set(err, "one-run audit: %zu member and %zu non-member guesses for %zu "
                         "canaries, expected at most %zu in all", member_guesses,
                         nonmember_guesses, m, m);
    size_t *order = malloc((m ? m : 1) * sizeof *order);
    if (!order)
        return error_set(err, "one-run audit: out of memory for %zu canaries", m);
    int status = sort_order(scores, m, order, err);
    for (size_t i = 0; status == 0 && i < m; i++)
        guess[order[i]] = i < nonmember_guesses ? -1 : i >= m - member_guesses ? 1 : 0;
    free(order);
    return status;
}

int audit_one_run_guesses(const double *scores, const uint8_t *included, size_t m,
                          size_t member_guesses, size_t nonmember_guesses, uint64_t *guesses,
                          uint64_t *correct, dpkit_error *err)
{
    if (member_guesses > m || nonmember_guesses > m - member_guesses)
        return error_set(err, "one-run audit: %zu member and %zu non-member guesses for %zu "
                         "canaries, expected at most %zu in all", member_guesses,
                         nonmember_guesses, m, m);
    uint8_t *sorted = malloc(m ? m : 1);
    if (!sorted)
        return error_set(err, "one-run audit: out of memory");
    if (sort_inclusion(scores, included, m, sorted, err)) {
        free(sorted);
        return -1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < nonmember_guesses; i++)
        v += sorted[i] == 0;
    for (size_t i = m - member_guesses; i < m; i++)
        v += sorted[i] == 1;
    free(sorted);
    *guesses = member_guesses + nonmember_guesses;
    *correct = v;
    return 0;
}

int audit_one_run_best(const double *scores, const uint8_t *included, size_t m, double delta,
                       double p, audit_one_run_result *best, dpkit_error *err)
{
    if (m == 0)
        return error_set(err, "one-run audit: no canaries");
    uint8_t *sorted = malloc(m);
    uint64_t *members_before = malloc((m + 1) * sizeof *members_before);
    if (!sorted || !members_before) {
        free(sorted);
        free(members_before);
        return error_set(err, "one-run audit: out of memory");
    }
    int status = sort_inclusion(scores, included, m, sorted, err);
    members_before[0] = 0;
    for (size_t i = 0; status == 0 && i < m; i++)
        members_before[i + 1] = members_before[i] + sorted[i];
    audit_one_run_result result = {0};
    size_t step = (size_t)floor(sqrt((double)m));
    for (size_t k_pos = 0; status == 0 && k_pos < m; k_pos += step) {
        for (size_t k_neg = 0; status == 0 && k_neg < k_pos; k_neg += step) {
            /* non-member guesses: sorted [0, k_neg); member guesses: [k_pos, m). */
            uint64_t r = k_neg + (m - k_pos);
            uint64_t v = (k_neg - members_before[k_neg]) + (members_before[m] - members_before[k_pos]);
            double eps;
            status = audit_one_run_epsilon(m, r, v, delta, p, &eps, err);
            if (status == 0 && (eps > result.epsilon || result.guesses == 0)) {
                result.epsilon = eps;
                result.member_guesses = m - k_pos;
                result.nonmember_guesses = k_neg;
                result.guesses = r;
                result.correct = v;
            }
        }
    }
    free(sorted);
    free(members_before);
    if (status)
        return -1;
    *best = result;
    return 0;
}
