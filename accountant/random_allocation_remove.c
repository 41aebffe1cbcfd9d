/* Remove direction of one epoch of random allocation (docs/maths.md 2.12): the exact moments
 * E_Q[M^a] at integer orders, and at fractional orders the smaller of the chord between the
 * integers around it and a bound that truncates each step's likelihood ratio. */
#include "accountant/accountant_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fractional orders up to this get the truncation bound; above it the chord (the integer
 * orders there are exact, and the order search keeps the best of all). */
#define FRACTION_MAX_ORDER 64.0
/* Truncation levels tried (one truncated series power each, shared by the orders). */
#define FRACTION_LEVELS 64

/* log of the coefficients 0..degree of the product of two series given by their logarithms
 * (all coefficients positive, so no cancellation), into out (which may not alias a or b). */
static void log_series_product(const double *a, const double *b, int degree, double *out)
{
    for (int n = 0; n <= degree; n++) {
        double sum = -INFINITY;
        for (int i = 0; i <= n; i++)
            sum = accountant_log_add(sum, a[i] + b[n - i]);
        out[n] = sum;
    }
}

/* log E[M^a] for integer 0 <= a <= degree, M = (1/t) sum of `terms` iid X with E[X^k] = mu_k:
 * log a! + log g_a with g = f^terms, f_k = mu_k / (k! t^k) given as log_f[0..degree] (f_0 = 1).
 * For degree <= terms + 1 by the recurrence for the power of a series, all of whose terms are
 * then positive; otherwise by repeated squaring of the truncated series (positive products).
 * Each value has an allowance for rounding added. Returns -1 when out of memory. */
static int log_moments(const double *log_f, long long terms, int degree, double *log_moment)
{
    size_t n_coef = (size_t)degree + 1;
    double *log_g = malloc(3 * n_coef * sizeof *log_g);
    if (!log_g)
        return -1;
    double *scratch = log_g + n_coef, *base = scratch + n_coef;
    double largest = 0.0; /* the largest magnitude of a logarithm summed */
    for (int k = 0; k <= degree; k++)
        largest = fmax(largest, fabs(log_f[k]));
    double depth; /* how many sums deep the result is */
    if ((long long)degree <= terms + 1) {
        log_g[0] = 0.0;
        for (int n = 1; n <= degree; n++) {
            double sum = -INFINITY;
            for (int k = 1; k <= n; k++) {
                double weight = (double)(terms + 1) * k - n; /* >= 0 since n <= terms + 1 */
                if (weight > 0.0)
                    sum = accountant_log_add(sum, log(weight) + log_f[k] + log_g[n - k]);
            }
            log_g[n] = sum - log((double)n);
            largest = fmax(largest, fabs(log_g[n]));
        }
        depth = 2.0 * degree;
    } else {
        for (int k = 0; k <= degree; k++) {
            log_g[k] = k == 0 ? 0.0 : -INFINITY;
            base[k] = log_f[k];
        }
        depth = 0.0;
        for (long long power = terms; power > 0; power >>= 1) {
            if (power & 1) {
                log_series_product(log_g, base, degree, scratch);
                memcpy(log_g, scratch, n_coef * sizeof *log_g);
                depth += degree + 1.0;
            }
            if (power > 1) {
                log_series_product(base, base, degree, scratch);
                memcpy(base, scratch, n_coef * sizeof *base);
                depth += degree + 1.0;
            }
            for (int k = 0; k <= degree; k++) {
                if (isfinite(log_g[k]))
                    largest = fmax(largest, fabs(log_g[k]));
                if (isfinite(base[k]))
                    largest = fmax(largest, fabs(base[k]));
            }
        }
    }
    for (int a = 0; a <= degree; a++) {
        /* Each log_add and term is exact to a few ulps of the largest logarithm involved. */
        double rounding = 8.0 * (depth + a + 2.0) * DBL_EPSILON *
                          (1.0 + largest + lgamma(a + 1.0));
        log_moment[a] = lgamma(a + 1.0) + log_g[a] + rounding;
    }
    log_moment[0] = 0.0;
    free(log_g);
    return 0;
}

/* log f_k = log E[Y^k] - log k! - k log t, k = 0..degree, for the step's likelihood ratio
 * Y = exp(sqrt(v) G - v/2), E[Y^k] = exp(k(k-1)v/2). */
static void lognormal_series(double v, long long t, int degree, double *log_f)
{
    for (int k = 0; k <= degree; k++)
        log_f[k] = (double)k * (k - 1) * v / 2.0 - lgamma(k + 1.0) - k * log((double)t);
}

/* An upper bound on log P(G > x), G standard normal: erfc where it is representable, the
 * Mills ratio bound phi(x)/x past it. */
static double log_normal_tail(double x)
{
    if (x < 30.0)
        return log(0.5 * erfc(x / M_SQRT2));
    return -0.5 * x * x - log(x) - 0.5 * log(2.0 * M_PI);
}

/* log E[Y^m ; G > g] and log E[Y^m ; G <= g] for real m, Y = exp(sqrt(v) G - v/2). */
static double log_moment_above(double m, double v, double g)
{
    return m * (m - 1.0) * v / 2.0 + log_normal_tail(g - m * sqrt(v));
}

static double log_moment_below(double m, double v, double g)
{
    return m * (m - 1.0) * v / 2.0 + log_normal_tail(m * sqrt(v) - g);
}

/* log C(n, k) - k log t */
static double log_term_weight(int n, int k, double log_t)
{
    return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) - k * log_t;
}

/* The bound at fractional orders alpha = n + theta <= FRACTION_MAX_ORDER (docs/maths.md 2.12):
 * with a level c = exp(sqrt(v) g - v/2), split on whether some step's Y_j exceeds c:
 *   E[M^alpha] <= E[M_c^n]^(1-theta) E[M_c^(n+1)]^theta + t^(1-theta) E[M^n Y_1^theta; Y_1 > c]
 *                 + theta t^(2-theta) E[M^n M' Y_1^(theta-1); Y_1 > c],
 * M_c the mean of the Y_j cut at c, M' the other t - 1 steps' sum over t (log_rest), least
 * over a grid of g. log_moment[k] holds the chord at orders[k] and is lowered where the bound
 * is smaller. Returns -1 when out of memory. */
static int fraction_bounds(long long t, double v, const double *orders, size_t order_count,
                           const double *log_rest, double *log_moment)
{
    int degree = 0;
    for (size_t k = 0; k < order_count; k++)
        if (orders[k] <= FRACTION_MAX_ORDER && orders[k] != floor(orders[k]))
            degree = (int)fmax(degree, ceil(orders[k]));
    if (degree == 0)
        return 0;
    double *log_f = malloc(2 * ((size_t)degree + 1) * sizeof *log_f);
    if (!log_f)
        return -1;
    double *log_cut = log_f + degree + 1, log_t = log((double)t), root = sqrt(v);
    /* Under the weight Y^m the step's normal sits at m sqrt(v): the levels cover 0 .. past the
     * highest power's. */
    double g_top = degree * root + 8.0;
    for (int level = 0; level < FRACTION_LEVELS; level++) {
        double g = g_top * level / (FRACTION_LEVELS - 1.0), log_c = root * g - v / 2.0;
        for (int k = 0; k <= degree; k++) /* E[min(Y, c)^k] = E[Y^k; Y <= c] + c^k P(Y > c) */
            log_f[k] = accountant_log_add(log_moment_below(k, v, g),
                                          k * log_c + log_normal_tail(g)) -
                       lgamma(k + 1.0) - k * log_t;
        log_f[0] = 0.0;
        if (log_moments(log_f, t, degree, log_cut) != 0) {
            free(log_f);
            return -1;
        }
        for (size_t i = 0; i < order_count; i++) {
            double alpha = orders[i];
            int n = (int)floor(alpha);
            double theta = alpha - n;
            if (!(alpha <= FRACTION_MAX_ORDER) || theta == 0.0)
                continue;
            double tail = -INFINITY, tangent = -INFINITY;
            for (int k = 0; k <= n; k++) {
                double w = log_term_weight(n, k, log_t);
                tail = accountant_log_add(tail, w + log_moment_above(k + theta, v, g) +
                                                    log_rest[n - k]);
                tangent = accountant_log_add(tangent, w + log_moment_above(k + theta - 1.0, v, g) +
                                                          log_rest[n - k + 1]);
            }
            double bound = accountant_log_add(
                (1.0 - theta) * log_cut[n] + theta * log_cut[n + 1],
                accountant_log_add((1.0 - theta) * log_t + tail,
                                   (2.0 - theta) * log_t + log(theta) + tangent));
            /* erfc, exp, log and lgamma are each good to a few ulps; the sums are positive. */
            bound += 64.0 * (n + 4.0) * DBL_EPSILON * (1.0 + fabs(bound) + n * (log_t + n * v));
            if (bound < log_moment[i])
                log_moment[i] = bound;
        }
    }
    free(log_f);
    return 0;
}

int accountant_random_allocation_remove(long long t, double sigma, const double *orders,
                                        size_t order_count, double *remove)
{
    int degree = 1;
    for (size_t k = 0; k < order_count; k++)
        if (orders[k] <= ACCOUNTANT_RDP_MAX_ORDER)
            degree = (int)fmax(degree, ceil(orders[k]));
    size_t n_coef = (size_t)degree + 1;
    double *log_all = malloc((3 * n_coef + order_count) * sizeof *log_all);
    if (!log_all)
        return -1;
    double *log_rest = log_all + n_coef, *log_f = log_rest + n_coef, *log_moment = log_f + n_coef;
    double v = 1.0 / (sigma * sigma);
    lognormal_series(v, t, degree, log_f);
    int status = log_moments(log_f, t, degree, log_all) != 0 ||
                 log_moments(log_f, t - 1, degree, log_rest) != 0;
    log_all[1] = 0.0; /* E[M] = 1 exactly */
    for (size_t k = 0; k < order_count && !status; k++) {
        /* K(alpha) = log E[M^alpha] is convex in alpha (Hoelder): below the chord between the
         * exact integers around it. */
        double alpha = orders[k], low = floor(alpha), theta = alpha - low;
        int n = (int)low;
        log_moment[k] = !(alpha <= ACCOUNTANT_RDP_MAX_ORDER) ? INFINITY
                        : theta > 0.0 ? (1.0 - theta) * log_all[n] + theta * log_all[n + 1]
                                      : log_all[n];
    }
    if (!status)
        status = fraction_bounds(t, v, orders, order_count, log_rest, log_moment);
    for (size_t k = 0; k < order_count && !status; k++)
        remove[k] = isnan(log_moment[k]) ? INFINITY
                                         : fmax(log_moment[k], 0.0) / (orders[k] - 1.0);
    free(log_all);
    return status ? -1 : 0;
}
