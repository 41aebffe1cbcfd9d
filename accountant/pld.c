/* PLD accountant for compositions of Poisson-subsampled Gaussian mechanisms (docs/maths.md 3):
 * connect-the-dots pessimistic discretisation of each direction of add/remove adjacency, FFT
 * self-composition of each event, composition of the events, read-off. */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"
#include "accountant/pld_pmf_internal.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>

/* Noise mass beyond the truncation points: log 2 + log Phi(x_lo / sigma) = -50 (3.3). */
#define PLD_LOG_MASS_TRUNCATION (-50.0)
/* Tail mass dropped (charged to infinity) by each composition (3.5). */
#define PLD_TAIL_MASS 1e-15

typedef enum { PLD_REMOVE, PLD_ADD } pld_direction;

/* One event's mechanism: q, sigma, and which neighbouring direction. */
typedef struct pld_mechanism {
    double q, sigma;
    pld_direction direction;
} pld_mechanism;

static double normal_cdf(double x)
{
    return 0.5 * erfc(-x * M_SQRT1_2);
}

/* Privacy loss at noise outcome x (3.2); both are decreasing in x. */
static double mechanism_loss(const pld_mechanism *m, double x)
{
    double var = m->sigma * m->sigma;
    if (m->direction == PLD_REMOVE) {
        double l = (-0.5 - x) / var;
        if (m->q == 1.0)
            return l;
        double a = log1p(-m->q), b = log(m->q) + l; /* log(e^a + e^b) */
        return fmax(a, b) + log1p(exp(-fabs(a - b)));
    }
    double l = (x - 0.5) / var;
    if (m->q == 1.0)
        return -l;
    double a = log1p(-m->q), b = log(m->q) + l;
    return -(fmax(a, b) + log1p(exp(-fabs(a - b))));
}

/* Exact hockey-stick divergence of the mechanism at epsilon (3.2). */
static double mechanism_delta(const pld_mechanism *m, double epsilon)
{
    double q = m->q, sigma = m->sigma, var = sigma * sigma;
    if (m->direction == PLD_REMOVE) {
        if (q < 1.0 && epsilon <= log1p(-q))
            return -expm1(epsilon);
        /* loss >= epsilon iff x <= x_eps */
        double x = -0.5 - var * log1p(expm1(epsilon) / q);
        double lower = normal_cdf(x / sigma);
        double upper = (1.0 - q) * lower + q * normal_cdf((x + 1.0) / sigma);
        return fmin(fmax(upper - exp(epsilon) * lower, 0.0), 1.0);
    }
    if (q < 1.0 && epsilon >= -log1p(-q))
        return 0.0;
    double x = 0.5 + var * log1p(expm1(-epsilon) / q);
    double upper = normal_cdf(x / sigma);
    double lower = (1.0 - q) * upper + q * normal_cdf((x - 1.0) / sigma);
    return fmin(fmax(upper - exp(epsilon) * lower, 0.0), 1.0);
}

/* Connect-the-dots discretisation (Doroshenko et al. 2022; 3.3): a PMF on the grid whose
 * delta(eps) equals the true one at every grid point and lies above it in between. */
static int discretize(const pld_mechanism *m, double d, pld_pmf *pmf, dpkit_error *err)
{
    double x_tail = m->sigma * gsl_cdf_ugaussian_Pinv(0.5 * exp(PLD_LOG_MASS_TRUNCATION));
    double x_lo = x_tail, x_hi = -x_tail;
    if (m->direction == PLD_REMOVE)
        x_lo -= 1.0;
    else
        x_hi += 1.0;
    /* The grid spans the loss range, about (1/2 + 9.75 sigma) / sigma^2 / d points (3.3): it
     * grows as 1/(sigma^2 d), e.g. 6e7 points for sigma = 0.01 at d = 1e-4. Counted in double
     * and checked against the cap before any conversion to an integer or allocation. */
    double top = ceil(mechanism_loss(m, x_lo) / d), bottom = floor(mechanism_loss(m, x_hi) / d);
    double points = top - bottom + 1.0;
    if (!(points <= (double)ACCOUNTANT_PLD_MAX_POINTS))
        return error_set(err, "PLD: noise multiplier %g needs %.3g loss grid points at "
                              "discretization %g, more than the %zu (%zu MiB per array) the PLD "
                              "accountant allows; use the RDP accountant (--accountant rdp) or a "
                              "coarser discretization", m->sigma, points, d,
                         ACCOUNTANT_PLD_MAX_POINTS, ACCOUNTANT_PLD_MAX_POINTS * 8 >> 20);
    long long k_lo = (long long)bottom;
    size_t n = (size_t)points;
    double *delta = malloc(n * sizeof *delta);
    if (!delta || pld_pmf_alloc(pmf, n, err) != 0) {
        free(delta);
        return error_set(err, "PLD: out of memory for %zu grid points", n);
    }
    for (size_t i = 0; i < n; i++) {
        delta[i] = mechanism_delta(m, (double)(k_lo + (long long)i) * d);
        if (i > 0 && delta[i] > delta[i - 1])
            delta[i] = delta[i - 1]; /* rounding; the true curve is non-increasing */
    }
    pmf->offset = k_lo;
    pmf->infinity_mass = delta[n - 1];
    if (n == 1) {
        pmf->p[0] = 1.0 - delta[0];
    } else {
        double g1 = expm1(d), h = expm1(-d), g = exp(d);
        pmf->p[0] = 1.0 - delta[0] + (delta[1] - delta[0]) / g1;
        for (size_t i = 1; i + 1 < n; i++)
            pmf->p[i] = ((delta[i + 1] - delta[i]) - g * (delta[i] - delta[i - 1])) / g1;
        pmf->p[n - 1] = (delta[n - 1] - delta[n - 2]) / h;
        for (size_t i = 0; i < n; i++)
            pmf->p[i] = fmax(pmf->p[i], 0.0);
    }
    free(delta);
    return 0;
}

/* The PLD of all events in one direction. */
static int compose_direction(const accountant_event *events, size_t event_count,
                             pld_direction direction, double d, pld_pmf *total, dpkit_error *err)
{
    int status = 0, have_total = 0;
    for (size_t e = 0; e < event_count; e++) {
        const accountant_event *event = &events[e];
        if (event->count == 0 || event->sampling_rate == 0.0)
            continue;
        pld_mechanism m = {event->sampling_rate, event->noise_multiplier, direction};
        long long times = event->count;
        if (m.q == 1.0) {
            /* c Gaussian releases are one Gaussian with sigma / sqrt(c), exactly (3.2). */
            m.sigma /= sqrt((double)times);
            m.direction = PLD_REMOVE; /* both directions coincide */
            times = 1;
        }
        pld_pmf single, composed, next;
        status = discretize(&m, d, &single, err);
        if (status != 0) {
            error_prefix(err, "event %zu (q = %g, %lld steps)", e, event->sampling_rate,
                         event->count);
            break;
        }
        status = pld_pmf_self_compose(&single, times, PLD_TAIL_MASS, &composed, err);
        pld_pmf_free(&single);
        if (status != 0) {
            error_prefix(err, "event %zu (q = %g, noise multiplier %g, %lld steps)", e,
                         event->sampling_rate, event->noise_multiplier, event->count);
            break;
        }
        if (!have_total) {
            pld_pmf_truncate(&composed, PLD_TAIL_MASS);
            *total = composed;
            have_total = 1;
            continue;
        }
        status = pld_pmf_compose(total, &composed, PLD_TAIL_MASS, &next, err);
        pld_pmf_free(&composed);
        if (status != 0) {
            error_prefix(err, "event %zu (q = %g, noise multiplier %g, %lld steps)", e,
                         event->sampling_rate, event->noise_multiplier, event->count);
            break;
        }
        pld_pmf_free(total);
        *total = next;
    }
    if (status != 0) {
        if (have_total)
            pld_pmf_free(total);
        return -1;
    }
    if (!have_total) {
        /* No event spends privacy: the identity PLD, loss 0 with mass 1. */
        if (pld_pmf_alloc(total, 1, err) != 0)
            return -1;
        total->p[0] = 1.0;
    }
    return 0;
}

/* 1 if every event is a full-batch release (the two directions then coincide). */
static int symmetric(const accountant_event *events, size_t event_count)
{
    for (size_t e = 0; e < event_count; e++)
        if (events[e].count > 0 && events[e].sampling_rate > 0.0 && events[e].sampling_rate < 1.0)
            return 0;
    return 1;
}

/* Builds the PLD of both directions (one when symmetric) and reads off `value` from each. */
static int evaluate(const accountant_event *events, size_t event_count, double d, double argument,
                    int want_epsilon, double *result, dpkit_error *err)
{
    int directions = symmetric(events, event_count) ? 1 : 2;
    double worst = 0.0;
    for (int k = 0; k < directions; k++) {
        pld_pmf total;
        if (compose_direction(events, event_count, k == 0 ? PLD_REMOVE : PLD_ADD, d, &total,
                              err) != 0)
            return -1;
        double value = want_epsilon ? pld_pmf_epsilon(&total, d, argument)
                                    : pld_pmf_delta(&total, d, argument);
        worst = fmax(worst, value);
        pld_pmf_free(&total);
    }
    *result = worst;
    return 0;
}

int accountant_pld_epsilon(const accountant_event *events, size_t event_count, double delta,
                           double discretization, double *epsilon, dpkit_error *err)
{
    return evaluate(events, event_count, discretization, delta, 1, epsilon, err);
}

int accountant_pld_delta(const accountant_event *events, size_t event_count, double epsilon,
                         double discretization, double *delta, dpkit_error *err)
{
    return evaluate(events, event_count, discretization, epsilon, 0, delta, err);
}
