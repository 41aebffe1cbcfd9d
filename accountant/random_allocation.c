/* RDP of random allocation ("balls in bins", k = 1): per epoch of t steps, the exact Renyi
 * divergence of the remove direction at integer orders, the larger of it and the add
 * direction's bound (random_allocation_add.c), capped by the Gaussian's; and the checks of
 * random-allocation events (docs/maths.md 2.12). */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Remove direction (docs/maths.md 2.12): K(a) = log E_Q[M^a] for integer 0 <= a <= degree,
 * M = (1/t) sum_i Y_i, Y_i iid lognormal with E[Y^k] = exp(k(k-1)/(2 sigma^2)):
 * K(a) = log a! + log g_a with g = f^t, f_k = E[Y^k] / (k! t^k). For degree <= t + 1 by the
 * recurrence for the power of a series, all of whose terms are then positive; otherwise by
 * repeated squaring of the truncated series (positive products). Each K(a) has an allowance
 * for rounding added. Returns -1 when out of memory. */
static int remove_log_moments(long long t, double sigma, int degree, double *log_moment)
{
    double inv_two_var = 1.0 / (2.0 * sigma * sigma), log_t = log((double)t);
    size_t n_coef = (size_t)degree + 1;
    double *log_f = malloc(4 * n_coef * sizeof *log_f);
    if (!log_f)
        return -1;
    double *log_g = log_f + n_coef, *scratch = log_g + n_coef, *base = scratch + n_coef;
    double largest = 0.0; /* the largest magnitude of a logarithm summed */
    for (int k = 0; k <= degree; k++) {
        log_f[k] = (double)k * (k - 1) * inv_two_var - lgamma(k + 1.0) - k * log_t;
        largest = fmax(largest, fabs(log_f[k]));
    }
    double depth; /* how many sums deep the result is */
    if ((long long)degree <= t + 1) {
        log_g[0] = 0.0;
        for (int n = 1; n <= degree; n++) {
            double sum = -INFINITY;
            for (int k = 1; k <= n; k++) {
                double weight = (double)(t + 1) * k - n; /* >= 0 since n <= t + 1 */
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
        for (long long power = t; power > 0; power >>= 1) {
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
    log_moment[0] = log_moment[1] = 0.0; /* E[M^0] = E[M] = 1 exactly */
    free(log_f);
    return 0;
}

int accountant_random_allocation_curve(long long t, double sigma, const double *orders,
                                       size_t order_count, double *rdp)
{
    int tiny = accountant_sigma_negligible(sigma), infinite = isinf(sigma);
    int private_epoch = !tiny && !infinite && t > 1;
    /* The remove direction's moments up to the largest finite order (integers around it). */
    int degree = 1;
    for (size_t k = 0; k < order_count; k++)
        if (orders[k] <= ACCOUNTANT_RDP_MAX_ORDER)
            degree = (int)fmax(degree, ceil(orders[k]));
    double *log_moment = malloc(((size_t)degree + 1) * sizeof *log_moment);
    if (!log_moment)
        return -1;
    if (private_epoch && (remove_log_moments(t, sigma, degree, log_moment) != 0 ||
                          accountant_random_allocation_add(t, sigma, orders, order_count,
                                                           rdp) != 0)) {
        free(log_moment);
        return -1;
    }
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
        if (!private_epoch) {
            rdp[k] = gaussian;
            continue;
        }
        /* Remove direction: K(alpha) = log E_Q[M^alpha] is convex in alpha (Hoelder), so
         * below the chord between the integers around a fractional order. */
        double remove = INFINITY;
        if (alpha <= ACCOUNTANT_RDP_MAX_ORDER) {
            double low = floor(alpha), theta = alpha - low;
            int n = (int)low;
            double k_alpha = theta > 0.0 ? (1.0 - theta) * log_moment[n] + theta * log_moment[n + 1]
                                         : log_moment[n];
            remove = isnan(k_alpha) ? INFINITY : fmax(k_alpha, 0.0) / (alpha - 1.0);
        }
        /* fmax would drop a NaN: a bound that broke down counts as +inf (fail closed). */
        double add = isnan(rdp[k]) ? INFINITY : rdp[k];
        rdp[k] = fmin(fmax(add, remove), gaussian);
    }
    free(log_moment);
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
