/* RDP of random allocation ("balls in bins", k = 1): per epoch of t steps, the larger of the
 * remove direction (random_allocation_remove.c) and the add direction's bound
 * (random_allocation_add.c), capped by the Gaussian's; and the checks of random-allocation
 * events (docs/maths.md 2.12). */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"

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

int accountant_random_allocation_curve(long long t, double sigma, const double *orders,
                                       size_t order_count, double *rdp)
{
    int tiny = accountant_sigma_negligible(sigma), infinite = isinf(sigma);
    int private_epoch = !tiny && !infinite && t > 1;
    double *remove = malloc((order_count ? order_count : 1) * sizeof *remove);
    if (!remove)
        return -1;
    if (private_epoch &&
        (accountant_random_allocation_remove(t, sigma, orders, order_count, remove) != 0 ||
         accountant_random_allocation_add(t, sigma, orders, order_count, rdp) != 0)) {
        free(remove);
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
        /* fmax would drop a NaN: a bound that broke down counts as +inf (fail closed). */
        double add = isnan(rdp[k]) ? INFINITY : rdp[k];
        double removed = isnan(remove[k]) ? INFINITY : remove[k];
        rdp[k] = fmin(fmax(add, removed), gaussian);
    }
    free(remove);
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
