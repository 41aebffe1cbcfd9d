/* Gaussian differential privacy for audits (docs/maths.md 6d): the exact (epsilon, delta) curve
 * of mu-GDP, its inverse, the mu-GDP estimate with a confidence interval from two samples of
 * canary-aligned scores, and the one-run bound an ideal attacker reaches against mu-GDP. */
#include "audit/audit_internal.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sf_erf.h>
#include <math.h>
#include <string.h>

/* log Phi(x), accurate far into the lower tail (log erfc does not underflow). */
static double log_phi(double x)
{
    if (x > -5)
        return log(gsl_cdf_ugaussian_P(x));
    return gsl_sf_log_erfc(-x / M_SQRT2) - M_LN2;
}

double audit_gdp_delta(double mu, double epsilon)
{
    if (!(mu >= 0) || isnan(epsilon))
        return NAN;
    if (mu == 0)
        return 0;
    if (isinf(mu))
        return 1;
    /* docs/maths.md 6d: delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2); the
     * second term in log space so that large eps neither overflows nor cancels to nonsense. */
    double a = log_phi(-epsilon / mu + mu / 2), b = epsilon + log_phi(-epsilon / mu - mu / 2);
    double d = exp(a) - exp(b);
    return d > 0 ? d : 0;
}

int audit_gdp_epsilon(double mu, double delta, double *epsilon, dpkit_error *err)
{
    if (!(mu >= 0))
        return error_set(err, "GDP: mu %g, expected mu >= 0", mu);
    if (!(delta > 0 && delta < 1))
        return error_set(err, "GDP: delta %g, expected 0 < delta < 1", delta);
    if (isinf(mu)) {
        *epsilon = INFINITY;
        return 0;
    }
    if (audit_gdp_delta(mu, 0) <= delta) {
        *epsilon = 0;
        return 0;
    }
    /* delta(eps) decreases in eps: bracket, then bisect to relative 1e-12. */
    double lo = 0, hi = 1;
    while (audit_gdp_delta(mu, hi) > delta) {
        lo = hi;
        hi *= 2;
        if (hi > 1e6) { /* beyond any budget: lo still holds as a lower value */
            *epsilon = lo;
            return 0;
        }
    }
    for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (audit_gdp_delta(mu, mid) > delta)
            lo = mid;
        else
            hi = mid;
    }
    *epsilon = hi; /* the smallest eps known to hold */
    return 0;
}

int audit_gdp_mu(double epsilon, double delta, double *mu, dpkit_error *err)
{
    if (!(epsilon >= 0) || isinf(epsilon))
        return error_set(err, "GDP: epsilon %g, expected a finite epsilon >= 0", epsilon);
    if (!(delta > 0 && delta < 1))
        return error_set(err, "GDP: delta %g, expected 0 < delta < 1", delta);
    /* delta(eps) grows with mu: the mu at which it reaches delta. */
    double lo = 0, hi = 1;
    while (audit_gdp_delta(hi, epsilon) < delta) {
        lo = hi;
        hi *= 2;
        if (hi > 1e6)
            return error_set(err, "GDP: no mu below 1e6 reaches epsilon %g at delta %g",
                             epsilon, delta);
    }
    for (int i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (audit_gdp_delta(mid, epsilon) < delta)
            lo = mid;
        else
            hi = mid;
    }
    *mu = lo;
    return 0;
}

static int mean_var(const double *x, size_t n, const char *what, double *mean, double *ss,
                    dpkit_error *err)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return error_set(err, "GDP estimate: score %zu %s the canary is %g, expected a "
                             "finite number", i, what, x[i]);
        m += (x[i] - m) / (double)(i + 1);
    }
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    *mean = m;
    *ss = s;
    return 0;
}

int audit_gdp_estimate(const double *with, size_t n_with, const double *without,
                       size_t n_without, double delta, double confidence,
                       audit_gdp_estimate_result *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    if (n_with < 2 || n_without < 2)
        return error_set(err, "GDP estimate: %zu scores with and %zu without the canary, "
                         "expected at least 2 of each", n_with, n_without);
    if (!(confidence > 0 && confidence < 1))
        return error_set(err, "GDP estimate: confidence %g, expected 0 < confidence < 1",
                         confidence);
    double m1, m0, s1, s0;
    if (mean_var(with, n_with, "with", &m1, &s1, err) ||
        mean_var(without, n_without, "without", &m0, &s0, err))
        return -1;
    double n1 = (double)n_with, n0 = (double)n_without, dof = n1 + n0 - 2;
    double sd = sqrt((s1 + s0) / dof);
    out->mean_with = m1;
    out->mean_without = m0;
    out->sd = sd;
    out->sd_with = sqrt(s1 / (n1 - 1));
    out->sd_without = sqrt(s0 / (n0 - 1));
    if (!(sd > 0)) { /* no spread at all (no noise): separated means are perfectly told apart */
        double v = m1 > m0 ? INFINITY : 0;
        out->mu = out->mu_lower = out->mu_upper = v;
        out->epsilon = out->epsilon_lower = out->epsilon_upper = v;
        return 0;
    }
    /* docs/maths.md 6d: mu = (mean_with - mean_without) / pooled sd, with the large-sample
     * variance 1/n1 + 1/n0 + mu^2 / (2 (n1 + n0 - 2)) of a standardised mean difference. */
    double mu = (m1 - m0) / sd;
    double se = sqrt(1 / n1 + 1 / n0 + mu * mu / (2 * dof));
    double z = gsl_cdf_ugaussian_Pinv(0.5 + confidence / 2);
    out->mu = mu;
    out->mu_lower = mu - z * se > 0 ? mu - z * se : 0;
    out->mu_upper = mu + z * se > 0 ? mu + z * se : 0;
    double pm = mu > 0 ? mu : 0;
    if (audit_gdp_epsilon(pm, delta, &out->epsilon, err) ||
        audit_gdp_epsilon(out->mu_lower, delta, &out->epsilon_lower, err) ||
        audit_gdp_epsilon(out->mu_upper, delta, &out->epsilon_upper, err))
        return -1;
    return 0;
}
