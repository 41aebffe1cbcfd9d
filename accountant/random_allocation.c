/* RDP of random allocation ("balls in bins", k = 1): per epoch of t steps, the exact Renyi
 * divergence of the remove direction at integer orders, the larger of it and the add
 * direction's bound (random_allocation_add.c), capped by the Gaussian's; and the checks of
 * random-allocation events (docs/maths.md 2.12). */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* Largest steps per epoch accepted (1/q must be an exact integer in double precision). */
#define RANDOM_ALLOCATION_MAX_STEPS 1000000000000LL

int accountant_random_allocation_steps(double sampling_rate, long long *steps)
{
    if (!(sampling_rate > 0.0 && sampling_rate <= 1.0))
        return -1;
    double t = nearbyint(1.0 / sampling_rate);
    if (!(t >= 1.0 && t <= (double)RANDOM_ALLOCATION_MAX_STEPS) ||
        fabs(t * sampling_rate - 1.0) > 1e-12)
        return -1;
    *steps = (long long)t;
    return 0;
}

long long accountant_random_allocation_epochs(long long count, long long steps_per_epoch)
{
    /* A cut-short last epoch is charged in full: its steps are a prefix of a whole epoch's
     * outputs, a post-processing of them (docs/maths.md 2.12). */
    return count / steps_per_epoch + (count % steps_per_epoch != 0);
}

int accountant_check_random_allocation(const accountant_event *events, size_t event_count,
                                       dpkit_error *err)
{
    size_t partial = event_count; /* the last event that ends inside an epoch */
    for (size_t i = 0; i < event_count; i++) {
        const accountant_event *e = &events[i];
        if (e->sampler == ACCOUNTANT_SAMPLER_POISSON)
            continue;
        if (e->sampler != ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION)
            return error_set(err, "privacy event %zu: unknown sampler %d (expected poisson or "
                                  "random-allocation)", i, (int)e->sampler);
        long long t;
        if (accountant_random_allocation_steps(e->sampling_rate, &t) != 0)
            return error_set(err, "privacy event %zu: random allocation at sampling rate %.17g, "
                                  "expected 1/t for a whole number of steps per epoch t in "
                                  "1..%lld", i, e->sampling_rate, RANDOM_ALLOCATION_MAX_STEPS);
        /* An epoch split across two events would be accounted as two epochs of which each
         * example joins both, which does not bound one epoch that it joins once. */
        if (partial < i)
            return error_set(err, "privacy event %zu: random-allocation steps after event %zu "
                                  "ended inside an epoch (%lld steps of epochs of %lld); only "
                                  "the last random-allocation event may end inside an epoch",
                             i, partial, events[partial].count,
                             (long long)nearbyint(1.0 / events[partial].sampling_rate));
        if (e->count % t != 0)
            partial = i;
    }
    return 0;
}

/* log(exp(a) + exp(b)). */
static double log_add(double a, double b)
{
    if (a == -INFINITY)
        return b;
    if (b == -INFINITY)
        return a;
    double hi = fmax(a, b), lo = fmin(a, b);
    return hi + log1p(exp(lo - hi));
}

/* Remove direction at integer order a, 2 <= a <= t + 1 (docs/maths.md 2.12):
 * log E_Q[M^a] with M = (1/t) sum_i Y_i, Y_i iid lognormal, E[Y^k] = exp(k(k-1)/(2 sigma^2)),
 * = log a! + log g_a where g = f^t, f_k = E[Y^k] / (k! t^k), by the recurrence for the power of
 * a series, whose terms are all positive for n <= t + 1. Returns the divergence (over a - 1)
 * plus an allowance for rounding; +inf if it cannot be formed. */
static double remove_direction(long long t, double sigma, int a)
{
    double inv_two_var = 1.0 / (2.0 * sigma * sigma), log_t = log((double)t);
    double *log_f = malloc(2 * ((size_t)a + 1) * sizeof *log_f);
    if (!log_f)
        return INFINITY;
    double *log_g = log_f + a + 1;
    double largest = 0.0; /* largest magnitude of a logarithm summed */
    for (int k = 0; k <= a; k++) {
        log_f[k] = (double)k * (k - 1) * inv_two_var - lgamma(k + 1.0) - k * log_t;
        largest = fmax(largest, fabs(log_f[k]));
    }
    log_g[0] = 0.0;
    for (int n = 1; n <= a; n++) {
        double sum = -INFINITY;
        for (int k = 1; k <= n; k++) {
            double weight = (double)(t + 1) * k - n; /* >= 0 since n <= t + 1 */
            if (weight > 0.0)
                sum = log_add(sum, log(weight) + log_f[k] + log_g[n - k]);
        }
        log_g[n] = sum - log((double)n);
        largest = fmax(largest, fabs(log_g[n]));
    }
    double log_moment = lgamma(a + 1.0) + log_g[a];
    free(log_f);
    if (!isfinite(log_moment))
        return INFINITY;
    /* Each log_add and term is exact to a few ulps of the largest logarithm involved; the
     * recurrence nests a deep and a wide: a generous bound on what rounding can take away. */
    double rounding = 16.0 * a * (a + 1.0) * DBL_EPSILON * (1.0 + largest + lgamma(a + 1.0));
    return fmax(log_moment + rounding, 0.0) / (a - 1.0);
}

int accountant_random_allocation_curve(long long t, double sigma, const double *orders,
                                       size_t order_count, double *rdp)
{
    int tiny = accountant_sigma_negligible(sigma), infinite = isinf(sigma);
    if (!tiny && !infinite && t > 1 &&
        accountant_random_allocation_add(t, sigma, orders, order_count, rdp) != 0)
        return -1;
    double var = sigma * sigma;
    for (size_t k = 0; k < order_count; k++) {
        double alpha = orders[k];
        if (tiny || isinf(alpha)) {
            rdp[k] = INFINITY;
            continue;
        }
        if (infinite) {
            rdp[k] = 0.0;
            continue;
        }
        /* One epoch releases each example once, through one Gaussian: never more than its RDP
         * (joint quasi-convexity of the Renyi divergence over the choice of the step). */
        double gaussian = alpha / (2.0 * var);
        if (t == 1) {
            rdp[k] = gaussian;
            continue;
        }
        /* Remove direction: the Renyi divergence grows with the order, so a fractional order
         * takes the value at the next integer; orders past t + 1 are not computed (+inf). */
        double ceiling = ceil(alpha), remove = INFINITY;
        if (ceiling <= (double)t + 1.0 && ceiling <= ACCOUNTANT_RDP_MAX_ORDER)
            remove = remove_direction(t, sigma, (int)ceiling);
        rdp[k] = fmin(fmax(rdp[k], remove), gaussian);
    }
    return 0;
}

double accountant_rdp_random_allocation_epoch(long long t, double sigma, double alpha)
{
    double rdp;
    if (!(alpha > 1.0) || t < 1 || !(sigma >= 0.0))
        return NAN;
    if (accountant_random_allocation_curve(t, sigma, &alpha, 1, &rdp) != 0)
        return INFINITY;
    return rdp;
}
