/* RDP of the Poisson-subsampled Gaussian mechanism (docs/maths.md 2.1-2.6): the log-space series
 * for integer and fractional orders (the reference path; rdp_series.c has the fast one), the
 * default order grid and the RDP curve of a composition. */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"

#include <gsl/gsl_sf_erf.h>
#include <math.h>
#include <stdlib.h>

/* Terms below e^-30 are negligible once the series has passed its peak (docs/maths.md 2.4). */
#define RDP_TERM_THRESHOLD (-30.0)
/* A fractional series still not converged after this many terms gives +infinity for the order
 * (it then never attains epsilon), as dp_accounting does (docs/maths.md 2.9). */
#define RDP_MAX_TERMS 100000
/* log A_alpha below this is not rounding of a value >= 0 but a failed series (log A is the sum
 * of terms of size alpha |log(1-q)| at most, rounded to ~1e-16 relative each). */
#define RDP_NEGATIVE_LOG_A (-1e-9)
/* Per-step bound on the rounding of a series-computed RDP, at orders far from 1 (measured
 * errors reach 2e-17 at order 1024 and 2.4e-16 at 1.1 for q = 1e-12). */
#define RDP_ROUNDING_FLOOR 1e-14

/* log(e^a - e^b) for a >= b; NaN when a < b (the signed series lost its precision). */
static double log_sub(double a, double b)
{
    if (a < b)
        return NAN;
    if (b == -INFINITY)
        return a;
    if (a == b)
        return -INFINITY;
    double difference = expm1(a - b);
    if (isinf(difference))
        return a;
    return log(difference) + b;
}

/* log Phi(y), accurate in both tails. */
static double log_normal_cdf(double y)
{
    if (y > 0.0)
        return log1p(-0.5 * erfc(y * M_SQRT1_2));
    double x = -y * M_SQRT1_2;
    if (x < 25.0)
        return log(0.5 * erfc(x));
    return -M_LN2 + gsl_sf_log_erfc(x);
}

/* log erfc(x) written as TF Privacy does, log 2 + log Phi(-sqrt(2) x), so that the dominant
 * terms round the same way (docs/maths.md 2.2). */
double accountant_log_erfc(double x)
{
    return M_LN2 + log_normal_cdf(-x * M_SQRT2);
}

/* log A_alpha for integer alpha (docs/maths.md 2.3). log(1-q) rather than log1p(-q), and the
 * same order of floating-point operations as the reference, because for small q the RDP is the
 * tiny difference of terms near 1 and its last digits depend on these roundings. */
static double log_a_integer(double q, double sigma, double alpha)
{
    double log_q = log(q), log_1mq = log(1.0 - q);
    double two_var = 2.0 * (sigma * sigma);
    long long n = (long long)alpha;
    double log_a = -INFINITY, log_coef = 0.0;
    for (long long i = 0; i <= n; i++) {
        double di = (double)i;
        if (i > 0)
            log_coef += log((alpha - (di - 1.0)) / di);
        double term = log_coef + di * log_q + (alpha - di) * log_1mq;
        log_a = accountant_log_add(log_a, term + (di * di - di) / two_var);
    }
    return log_a;
}

/* log A_alpha for fractional alpha: the two half-line integrals expanded as generalised
 * binomial series with signed terms (docs/maths.md 2.4). Unlike TF Privacy v0.8.0 it stops only
 * once the terms are decreasing as well as below e^-30 (the fix of docs/maths.md 2.9, without
 * dp_accounting's switch to absolute values, which over-estimates); +inf if the series does not
 * settle or loses its precision. Every operation is TF's, in TF's order: where terms are
 * subtracted, log(expm1(a - b)) + b is off by up to ulp(a - b), which for a tiny RDP is far
 * above 1e-9 of it, and only the same roundings give the same value. */
static double log_a_fractional(accountant_rdp_series *s, double alpha)
{
    double log_q = s->log_q, log_1mq = s->log_1mq;
    double two_var = s->two_var;
    double log_a0 = -INFINITY, log_a1 = -INFINITY;
    double previous0 = -INFINITY, previous1 = -INFINITY;
    double log_coef = 0.0;
    double sign = 1.0;
    for (long i = 0; i < RDP_MAX_TERMS; i++) {
        double di = (double)i;
        if (i > 0) /* binom(alpha, i) = binom(alpha, i-1) * (alpha - i + 1) / i */
            log_coef += log(accountant_rdp_binomial_step(alpha, di, &sign));
        double j = alpha - di;
        double log_t0 = log_coef + di * log_q + j * log_1mq;
        double log_t1 = log_coef + j * log_q + di * log_1mq;
        double log_e0 = accountant_rdp_log_e0(s, (size_t)i);
        double log_e1 = accountant_rdp_log_e1(s, j);
        double log_s0 = log_t0 + (di * di - di) / two_var + log_e0;
        double log_s1 = log_t1 + (j * j - j) / two_var + log_e1;
        if (sign > 0.0) {
            log_a0 = accountant_log_add(log_a0, log_s0);
            log_a1 = accountant_log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        if (isnan(log_a0) || isnan(log_a1))
            return INFINITY;
        int decreasing = i > 0 && log_s0 < previous0 && log_s1 < previous1;
        if (decreasing && fmax(log_s0, log_s1) < RDP_TERM_THRESHOLD)
            return accountant_log_add(log_a0, log_a1);
        previous0 = log_s0;
        previous1 = log_s1;
    }
    return INFINITY;
}

double accountant_rdp_log_a_logspace(accountant_rdp_series *series, double alpha)
{
    return floor(alpha) == alpha ? log_a_integer(series->q, series->sigma, alpha)
                                 : log_a_fractional(series, alpha);
}

/* The cases that need no series (docs/maths.md 2.5, in dp_accounting's order); 1 if *rdp is
 * set. */
static int rdp_without_series(double q, double sigma, double alpha, double *rdp)
{
    if (!(q >= 0.0 && q <= 1.0) || !(sigma >= 0.0) || !(alpha > 1.0))
        *rdp = NAN;
    else if (q == 0.0)
        *rdp = 0.0;
    else if (sigma == 0.0 || isinf(alpha))
        *rdp = INFINITY;
    /* sigma^2 below the normal range (sigma < 1.5e-154): the series' 1/(2 sigma^2) and the
     * erfc arguments lose all precision or overflow, and the true RDP exceeds alpha 1e307 / 2
     * minus a few hundred, so +inf is both safe and as informative (docs/maths.md 2.5). */
    else if (accountant_sigma_negligible(sigma))
        *rdp = INFINITY;
    else if (isinf(sigma))
        *rdp = 0.0;
    else if (q == 1.0)
        *rdp = alpha / (2.0 * (sigma * sigma));
    else
        return 0;
    return 1;
}

/* RDP at one order from the series of (q, sigma): the linear-space sum where it is
 * trustworthy, else the log-space one. */
static double rdp_from_series(accountant_rdp_series *series, double alpha)
{
    double log_a;
    if (accountant_rdp_log_a_linear(series, alpha, &log_a) != 0)
        log_a = accountant_rdp_log_a_logspace(series, alpha);
    /* Fail closed: a NaN (inf - inf, 0/0 in a term) or a clearly negative log A (A_alpha >= 1
     * exactly, docs/maths.md 2.1) means the series broke down, and the only bound left is +inf;
     * fmax(NaN, 0) would have said 0, and epsilon 0 with it. */
    /* Subsampling never costs more than the Gaussian itself, alpha / (2 sigma^2) (the Renyi
     * divergence of the mixture is at most that of its component, by convexity of x^alpha;
     * docs/maths.md 2.1, 2.5): where the series breaks down (or, for tiny sigma, loses more to
     * rounding than that), that bound is still valid and keeps epsilon monotone in q. */
    double gaussian = alpha / series->two_var;
    if (isnan(log_a) || log_a < RDP_NEGATIVE_LOG_A)
        return gaussian;
    /* A tiny negative value is rounding. */
    return fmin(fmax(log_a / (alpha - 1.0), 0.0), gaussian);
}

double accountant_rdp_subsampled_gaussian(double sampling_rate, double noise_multiplier,
                                          double order)
{
    double rdp;
    if (rdp_without_series(sampling_rate, noise_multiplier, order, &rdp))
        return rdp;
    accountant_rdp_series series;
    accountant_rdp_series_init(&series, sampling_rate, noise_multiplier);
    return rdp_from_series(&series, order);
}

size_t accountant_rdp_default_orders(const double **orders)
{
    enum { FRACTIONAL = 99, INTEGER = 52 };
    static double grid[FRACTIONAL + INTEGER];
    static int ready = 0;
    if (!ready) {
        /* Written to identical values by concurrent first callers, so no lock is needed. */
        for (int x = 1; x <= FRACTIONAL; x++)
            grid[x - 1] = 1.0 + x / 10.0;
        for (int k = 0; k < INTEGER; k++)
            grid[FRACTIONAL + k] = 12.0 + k;
        ready = 1;
    }
    *orders = grid;
    return FRACTIONAL + INTEGER;
}

int accountant_rdp_curve(const accountant_event *events, size_t event_count, const double *orders,
                         size_t order_count, double *rdp, dpkit_error *err)
{
    if (accountant_check_events(events, event_count, err) != 0)
        return -1;
    for (size_t k = 0; k < order_count; k++) {
        if (!(orders[k] > 1.0))
            return error_set(err, "RDP order %zu is %g; orders must be greater than 1", k,
                             orders[k]);
        rdp[k] = 0.0;
    }
    /* One series per (q, sigma), its tables shared by all orders, and by the next events while
     * they have the same (q, sigma). */
    accountant_rdp_series series;
    int series_ready = 0;
    for (size_t e = 0; e < event_count; e++) {
        const accountant_event *event = &events[e];
        if (event->count == 0 || event->sampling_rate == 0.0)
            continue;
        double q = event->sampling_rate, sigma = event->noise_multiplier;
        if (event->sampler == ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION) {
            /* Per epoch, not per step (docs/maths.md 2.12); t checked above. */
            long long t = 1;
            accountant_random_allocation_steps(q, &t);
            double epochs = (double)accountant_random_allocation_epochs(event->count, t);
            double *epoch = malloc(order_count * sizeof *epoch);
            if (!epoch ||
                accountant_random_allocation_curve(t, sigma, orders, order_count, epoch) != 0) {
                free(epoch);
                return error_set(err, "privacy event %zu: out of memory", e);
            }
            for (size_t k = 0; k < order_count; k++)
                rdp[k] += epochs * epoch[k];
            free(epoch);
            continue;
        }
        if (series_ready && (series.q != q || series.sigma != sigma))
            series_ready = 0;
        for (size_t k = 0; k < order_count; k++) {
            double one;
            if (!rdp_without_series(q, sigma, orders[k], &one)) {
                if (!series_ready)
                    accountant_rdp_series_init(&series, q, sigma);
                series_ready = 1;
                one = rdp_from_series(&series, orders[k]);
            }
            rdp[k] += one * (double)event->count;
        }
    }
    return 0;
}

int accountant_rdp_curve_bounded(const accountant_event *events, size_t event_count,
                                 const double *orders, size_t order_count, double *rdp,
                                 dpkit_error *err)
{
    if (accountant_rdp_curve(events, event_count, orders, order_count, rdp, err) != 0)
        return -1;
    /* Steps whose RDP comes from the series (0 < q < 1), each charged RDP_ROUNDING_FLOOR. */
    double steps = 0.0;
    for (size_t e = 0; e < event_count; e++)
        if (events[e].count > 0 && events[e].sampling_rate > 0.0 &&
            events[e].sampling_rate < 1.0)
            steps += (double)events[e].count;
    for (size_t k = 0; steps > 0.0 && k < order_count; k++)
        rdp[k] += steps * RDP_ROUNDING_FLOOR * (1.0 + 1.0 / (orders[k] - 1.0));
    return 0;
}
