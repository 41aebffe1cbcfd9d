/* PLD accountant for compositions of Poisson-subsampled Gaussian mechanisms (docs/maths.md 3):
 * one exact tabulation of each event's delta curve serving both directions of add/remove
 * adjacency, connect-the-dots pessimistic and hull-based optimistic discretisations, FFT
 * self-composition of each event, composition of the events, read-off. */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"
#include "accountant/pld_pmf_internal.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Noise mass beyond the truncation points: log 2 + log Phi(x_lo / sigma) = -50 (3.3). */
#define PLD_LOG_MASS_TRUNCATION (-50.0)
/* Tail mass dropped (charged to infinity) by each composition (3.5). */
#define PLD_TAIL_MASS 1e-15
/* The ADD direction is first computed on a grid this many times coarser (3.6), and its delta
 * charged for rounding: a base (FFT rounding of the read-off) plus a bound per step (the
 * tabulated values' rounding, which can dent the convexity the screen relies on). */
#define PLD_SCREEN_STRIDE 10
/* Above this grid step the coarse grid is too loose to prove anything (measured, 3.6). */
#define PLD_SCREEN_MAX_STEP 1.0001e-4
#define PLD_SCREEN_SLACK_BASE 1e-11
#define PLD_SCREEN_SLACK_STEP 1e-15

typedef enum { PLD_REMOVE, PLD_ADD } pld_direction;

/* One event's curves on the REMOVE grid k = k_lo..k_lo+n-1 (loss k d): delta and the Q-mass of
 * the losses >= k d, for REMOVE at k d and for ADD at -k d (the ADD grid is the mirror image,
 * docs/maths.md 3.3). */
typedef struct pld_table {
    long long k_lo;
    size_t n;
    int symmetric; /* q = 1: the ADD arrays are not filled, both directions are REMOVE */
    double *delta_remove, *mass_remove, *delta_add, *mass_add;
} pld_table;

static void table_free(pld_table *t)
{
    free(t->delta_remove);
    t->delta_remove = t->mass_remove = t->delta_add = t->mass_add = NULL;
}

/* Phi(y) and 1 - Phi(y), the smaller one by erfc and the other as its complement, so that both
 * are accurate to an ulp of the larger (3.3). */
static void normal_cdf_pair(double y, double *below, double *above)
{
    double small = 0.5 * erfc(fabs(y) * M_SQRT1_2);
    *below = y < 0.0 ? small : 1.0 - small;
    *above = y < 0.0 ? 1.0 - small : small;
}

/* Privacy loss of the REMOVE direction at noise outcome x (3.2); decreasing in x. The ADD loss
 * at x is minus this at -x. */
static double remove_loss(double q, double sigma, double x)
{
    double l = (-0.5 - x) / (sigma * sigma);
    if (q == 1.0)
        return l;
    double a = log1p(-q), b = log(q) + l; /* log(e^a + e^b) */
    return fmax(a, b) + log1p(exp(-fabs(a - b)));
}

/* x clipped to [0, 1], NaN to 0 as fmin(fmax(x, 0), 1) does; inline (fmin and fmax are
 * library calls at -O2). */
static inline double clamp01(double x)
{
    return !(x > 0.0) ? 0.0 : x > 1.0 ? 1.0 : x;
}

/* Exact delta and Q-mass above of both directions at each grid point (3.2, 3.3): REMOVE at
 * loss k d and ADD at -k d share the threshold x and the two normal CDFs. */
static int tabulate(double q, double sigma, double d, long long align, pld_table *t,
                    dpkit_error *err)
{
    memset(t, 0, sizeof *t);
    t->symmetric = q == 1.0;
    double x_tail = sigma * gsl_cdf_ugaussian_Pinv(0.5 * exp(PLD_LOG_MASS_TRUNCATION));
    /* The grid spans the loss range, about (1/2 + 9.75 sigma) / sigma^2 / d points (3.3): it
     * grows as 1/(sigma^2 d), e.g. 6e7 points for sigma = 0.01 at d = 1e-4. Counted in double
     * and checked against the cap before any conversion to an integer or allocation. */
    double top = ceil(remove_loss(q, sigma, x_tail - 1.0) / d);
    double bottom = floor(remove_loss(q, sigma, -x_tail) / d);
    /* Both ends on multiples of `align`, so that every align-th point of either direction is
     * a point of the coarse grid align d (3.6); the added points carry their true values. */
    top = ceil(top / (double)align) * (double)align;
    bottom = floor(bottom / (double)align) * (double)align;
    double points = top - bottom + 1.0;
    if (!(points <= (double)ACCOUNTANT_PLD_MAX_POINTS))
        return error_set(err, "PLD: noise multiplier %g needs %.3g loss grid points at "
                              "discretization %g, more than the %zu (%zu MiB per array) the PLD "
                              "accountant allows; use the RDP accountant (--accountant rdp) or a "
                              "coarser discretization", sigma, points, d,
                         ACCOUNTANT_PLD_MAX_POINTS, ACCOUNTANT_PLD_MAX_POINTS * 8 >> 20);
    size_t n = (size_t)points;
    t->k_lo = (long long)bottom;
    t->n = n;
    t->delta_remove = malloc((t->symmetric ? 2 : 4) * n * sizeof *t->delta_remove);
    if (!t->delta_remove)
        return error_set(err, "PLD: out of memory for %zu grid points", n);
    t->mass_remove = t->delta_remove + n;
    t->delta_add = t->symmetric ? NULL : t->mass_remove + n;
    t->mass_add = t->symmetric ? NULL : t->delta_add + n;
    double var = sigma * sigma;
    /* e^eps as e^{block start} e^{j d}: one exp per GROWTH_BLOCK points, within 2 ulp */
    enum { GROWTH_BLOCK = 64 };
    double growth_step[GROWTH_BLOCK], growth_base = 1.0;
    for (int j = 0; j < GROWTH_BLOCK; j++)
        growth_step[j] = exp(j * d);
    double no_remove_above = q < 1.0 ? log1p(-q) : -INFINITY; /* every REMOVE loss is above */
    for (size_t i = 0; i < n; i++) {
        double eps = (double)(t->k_lo + (long long)i) * d;
        if (i % GROWTH_BLOCK == 0)
            growth_base = exp(eps);
        double growth = growth_base * growth_step[i % GROWTH_BLOCK];
        double dr, mr, da, ma;
        if (eps <= no_remove_above) {
            /* every REMOVE loss is >= eps; no ADD loss is >= -eps */
            dr = -expm1(eps);
            mr = 1.0;
            da = ma = 0.0;
        } else {
            /* REMOVE loss >= eps iff x <= x_eps; ADD loss >= -eps iff x >= -x_eps. Past
             * eps = 1/2, e^eps - 1 loses at most a bit to the subtraction. */
            double growth_m1 = eps > 0.5 ? growth - 1.0 : expm1(eps);
            double x = -0.5 - var * log1p(growth_m1 / q);
            double a_lo, a_hi, b_lo, b_hi;
            normal_cdf_pair(x / sigma, &a_lo, &a_hi);
            normal_cdf_pair((x + 1.0) / sigma, &b_lo, &b_hi);
            mr = a_lo;
            dr = (1.0 - q) * a_lo + q * b_lo - growth * mr;
            ma = (1.0 - q) * a_hi + q * b_hi;
            da = a_hi - ma / growth;
        }
        t->delta_remove[i] = clamp01(dr);
        t->mass_remove[i] = mr;
        if (!t->symmetric) {
            t->delta_add[i] = clamp01(da);
            t->mass_add[i] = ma;
        }
    }
    return 0;
}

/* Lower convex hull of the points (u_i, v_i), u_i = e^{(i - n/2) d} increasing: the values at
 * the points off the hull are lowered onto it (3.3, optimistic). The shared factor of u cancels
 * in the orientation test; long double keeps e^{n d / 2} finite for any grid the cap allows. */
static int lower_hull(double *v, size_t n, double d, dpkit_error *err)
{
    size_t *hull = malloc(n * sizeof *hull);
    if (!hull)
        return error_set(err, "PLD: out of memory for %zu grid points", n);
    long double half = (long double)(n / 2);
#define HULL_U(i) expl(((long double)(i) - half) * (long double)d)
    size_t top = 0;
    for (size_t i = 0; i < n; i++) {
        while (top >= 2) {
            size_t a = hull[top - 2], b = hull[top - 1];
            long double ua = HULL_U(a), ub = HULL_U(b), uc = HULL_U(i);
            long double cross = (ub - ua) * ((long double)v[i] - v[a]) -
                                ((long double)v[b] - v[a]) * (uc - ua);
            if (cross > 0.0L)
                break;
            top--;
        }
        hull[top++] = i;
    }
    for (size_t h = 0; h + 1 < top; h++) {
        size_t a = hull[h], b = hull[h + 1];
        long double ua = HULL_U(a), ub = HULL_U(b);
        for (size_t i = a + 1; i < b; i++) {
            long double w = (HULL_U(i) - ua) / (ub - ua);
            v[i] = fmin(v[i], (double)((1.0L - w) * v[a] + w * v[b]));
        }
    }
#undef HULL_U
    free(hull);
    return 0;
}

/* Optimistic curve (3.3): below the true delta everywhere and a valid delta curve. Point k
 * takes the tangent of the true curve at point k - 1, delta_{k-1} + s_{k-1}(u_k - u_{k-1}) in
 * u = e^eps with slope s = -(Q-mass above): the chord of segment k then lies below the tangent
 * at its left end, itself below the convex true curve, and every value stays above 1 - u (a
 * Q-mass of at most 1). The last point is 0 (no mass at infinity) and the lower hull makes the
 * curve convex (lowering points only lowers chords). */
static int optimistic_curve(const double *delta, const double *mass, long long k_lo, size_t n,
                            double d, double *v, dpkit_error *err)
{
    if ((double)(n / 2) * d > 11000.0) {
        /* u = e^{(i - n/2) d} would overflow even a long double in the hull: the curve of no
         * privacy loss at all, max(1 - u, 0), is below the true one, a valid if trivial
         * lower bound (epsilon 0). */
        for (size_t i = 0; i < n; i++)
            v[i] = fmax(-expm1((double)(k_lo + (long long)i) * d), 0.0);
        return 0;
    }
    double g1 = expm1(d), previous = delta[0];
    v[0] = delta[0];
    for (size_t i = 1; i < n; i++) {
        double step = mass[i - 1] > 0.0
                          ? exp((double)(k_lo + (long long)i - 1) * d + log(mass[i - 1])) * g1
                          : 0.0;
        double tangent = previous - step;
        previous = delta[i];
        v[i] = fmax(tangent, 0.0);
    }
    v[n - 1] = 0.0;
    return lower_hull(v, n, d, err);
}

/* PMF on the grid from a delta curve given at the grid points (3.3 step 3). */
static int pmf_from_curve(const double *curve, long long k_lo, size_t n, double d,
                          double infinity_mass, pld_pmf *pmf, dpkit_error *err)
{
    if (pld_pmf_alloc(pmf, n, err) != 0)
        return -1;
    pmf->offset = k_lo;
    pmf->infinity_mass = infinity_mass;
    if (n == 1) {
        pmf->p[0] = 1.0 - curve[0];
        return 0;
    }
    double g1 = expm1(d), h = expm1(-d), g = exp(d);
    pmf->p[0] = 1.0 - curve[0] + (curve[1] - curve[0]) / g1;
    for (size_t i = 1; i + 1 < n; i++)
        pmf->p[i] = ((curve[i + 1] - curve[i]) - g * (curve[i] - curve[i - 1])) / g1;
    pmf->p[n - 1] = (curve[n - 1] - curve[n - 2]) / h;
    for (size_t i = 0; i < n; i++)
        if (!(pmf->p[i] > 0.0))
            pmf->p[i] = 0.0;
    return 0;
}

/* One composed PLD to build: its bound, its direction, and its grid step as a multiple of the
 * table's (a stride > 1 only for the pessimistic estimate, 3.6). */
typedef struct pld_target {
    pld_bound bound;
    pld_direction direction;
    long long stride;
} pld_target;

/* The single-step PMF of a target from an event's table; ADD reverses the grid. */
static int single_pmf(const pld_table *t, pld_target target, double d, pld_pmf *pmf,
                      dpkit_error *err)
{
    pld_direction direction = target.direction;
    pld_bound bound = target.bound;
    size_t n = t->n;
    int add = direction == PLD_ADD && !t->symmetric;
    long long k_lo = add ? -(t->k_lo + (long long)n - 1) : t->k_lo;
    double *curve = malloc(2 * n * sizeof *curve);
    if (!curve)
        return error_set(err, "PLD: out of memory for %zu grid points", n);
    double *mass = curve + n;
    for (size_t i = 0; i < n; i++) {
        curve[i] = add ? t->delta_add[n - 1 - i] : t->delta_remove[i];
        mass[i] = add ? t->mass_add[n - 1 - i] : t->mass_remove[i];
    }
    int status;
    if (bound == PLD_PESSIMISTIC) {
        /* Connect-the-dots: the true values; an increase (rounding) becomes the running
         * minimum, the true curve being non-increasing. */
        for (size_t i = 1; i < n; i++)
            if (curve[i] > curve[i - 1])
                curve[i] = curve[i - 1];
        if (target.stride > 1) {
            /* Every stride-th point on the coarse grid stride d: the table's ends are
             * multiples of the stride, so both ends are kept (3.6). */
            size_t m = (size_t)target.stride;
            n = (n - 1) / m + 1;
            for (size_t j = 1; j < n; j++)
                curve[j] = curve[j * m];
            k_lo /= target.stride;
            d *= (double)target.stride;
        }
        status = pmf_from_curve(curve, k_lo, n, d, curve[n - 1], pmf, err);
    } else {
        status = optimistic_curve(curve, mass, k_lo, n, d, curve, err);
        if (status == 0)
            status = pmf_from_curve(curve, k_lo, n, d, 0.0, pmf, err);
    }
    free(curve);
    return status;
}

/* Folds `composed` into the running total *total (taken over on the first call). */
static int fold(pld_pmf *total, int *have_total, pld_pmf *composed, pld_bound bound,
                dpkit_error *err)
{
    if (!*have_total) {
        pld_pmf_truncate(composed, PLD_TAIL_MASS, bound);
        *total = *composed;
        *have_total = 1;
        return 0;
    }
    pld_pmf next;
    int status = pld_pmf_compose(total, composed, PLD_TAIL_MASS, bound, &next, err);
    pld_pmf_free(composed);
    if (status != 0)
        return -1;
    pld_pmf_free(total);
    *total = next;
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

/* The composed PLD of each target: each event is tabulated once (ends aligned to the screen's
 * stride whether it runs or not, so that every path sees the same fine grid) and its single-step PMFs self-composed and folded into the totals (3.5). */
static int compose_all(const accountant_event *events, size_t event_count, double d,
                       const pld_target *targets, int target_count, pld_pmf *total,
                       dpkit_error *err)
{
    int have[4] = {0, 0, 0, 0}, status = 0;
    for (size_t e = 0; e < event_count && status == 0; e++) {
        const accountant_event *event = &events[e];
        if (event->count == 0 || event->sampling_rate == 0.0)
            continue;
        double q = event->sampling_rate, sigma = event->noise_multiplier;
        long long times = event->count;
        if (q == 1.0) {
            /* c Gaussian releases are one Gaussian with sigma / sqrt(c), exactly (3.2). */
            sigma /= sqrt((double)times);
            times = 1;
        }
        pld_table table;
        status = tabulate(q, sigma, d, PLD_SCREEN_STRIDE, &table, err);
        for (int k = 0; k < target_count && status == 0; k++) {
            pld_pmf single, composed;
            status = single_pmf(&table, targets[k], d, &single, err);
            if (status != 0)
                break;
            status = pld_pmf_self_compose(&single, times, PLD_TAIL_MASS, targets[k].bound,
                                          &composed, err);
            pld_pmf_free(&single);
            if (status == 0)
                status = fold(&total[k], &have[k], &composed, targets[k].bound, err);
        }
        table_free(&table);
        if (status != 0)
            error_prefix(err, "event %zu (q = %g, noise multiplier %g, %lld steps)", e,
                         event->sampling_rate, event->noise_multiplier, event->count);
    }
    for (int k = 0; k < target_count && status == 0; k++)
        if (!have[k]) {
            /* No event spends privacy: the identity PLD, loss 0 with mass 1. */
            if (pld_pmf_alloc(&total[k], 1, err) != 0)
                status = -1;
            else
                total[k].p[0] = 1.0;
            have[k] = status == 0;
        }
    if (status != 0)
        for (int k = 0; k < target_count; k++)
            if (have[k])
                pld_pmf_free(&total[k]);
    return status;
}

/* The pessimistic value of one composed PLD: epsilon at `argument` (= delta) or delta at
 * `argument` (= epsilon), on the grid d. */
static double read_off(const pld_pmf *pmf, double d, double argument, int want_epsilon)
{
    return want_epsilon ? pld_pmf_epsilon(pmf, d, argument) : pld_pmf_delta(pmf, d, argument);
}

/* Pessimistic epsilon (or delta) of REMOVE on the fine grid, with ADD screened on the coarse
 * grid PLD_SCREEN_STRIDE d (3.6): 1 and *result set when the coarse ADD curve proves that the
 * fine ADD value is not larger, so the maximum over the directions is REMOVE's; 0 when the
 * screen is inconclusive (the caller computes fine ADD). */
static int screened(const accountant_event *events, size_t event_count, double d, double argument,
                    int want_epsilon, double *result, dpkit_error *err)
{
    const pld_target targets[2] = {{PLD_PESSIMISTIC, PLD_REMOVE, 1},
                                   {PLD_PESSIMISTIC, PLD_ADD, PLD_SCREEN_STRIDE}};
    pld_pmf total[2];
    if (compose_all(events, event_count, d, targets, 2, total, err) != 0)
        return -1;
    double remove = read_off(&total[0], d, argument, want_epsilon);
    double epsilon = want_epsilon ? remove : argument, delta = want_epsilon ? argument : remove;
    double steps = 0.0;
    for (size_t e = 0; e < event_count; e++)
        steps += (double)events[e].count;
    double add = pld_pmf_delta(&total[1], d * PLD_SCREEN_STRIDE, epsilon) +
                 PLD_SCREEN_SLACK_BASE + PLD_SCREEN_SLACK_STEP * steps;
    pld_pmf_free(&total[0]);
    pld_pmf_free(&total[1]);
    if (isinf(remove) || add <= delta) {
        *result = remove;
        return 1;
    }
    return 0;
}

/* Builds the PLDs of both directions (one when symmetric) and reads off epsilon at `argument`
 * (or delta) from each: result[0] the pessimistic value, result[1] (when `bounds` is 2) the
 * optimistic one, each the maximum over the directions. */
static int evaluate(const accountant_event *events, size_t event_count, double d, double argument,
                    int want_epsilon, int bounds, int screen, double *result, dpkit_error *err)
{
    int directions = symmetric(events, event_count) ? 1 : 2;
    if (bounds == 1 && directions == 2 && screen && d <= PLD_SCREEN_MAX_STEP) {
        int status = screened(events, event_count, d, argument, want_epsilon, result, err);
        if (status != 0)
            return status < 0 ? -1 : 0;
    }
    pld_target targets[4] = {{PLD_PESSIMISTIC, PLD_REMOVE, 1}};
    int count = 0;
    for (int b = 0; b < bounds; b++)
        for (int k = 0; k < directions; k++)
            targets[count++] = (pld_target){(pld_bound)b, k == 0 ? PLD_REMOVE : PLD_ADD, 1};
    pld_pmf total[4];
    if (compose_all(events, event_count, d, targets, count, total, err) != 0)
        return -1;
    for (int b = 0; b < bounds; b++) {
        double worst = 0.0;
        for (int k = 0; k < directions; k++) {
            pld_pmf *pmf = &total[b * directions + k];
            worst = fmax(worst, read_off(pmf, d, argument, want_epsilon));
            pld_pmf_free(pmf);
        }
        result[b] = worst;
    }
    return 0;
}

int accountant_pld_value(const accountant_event *events, size_t event_count, double argument,
                        double discretization, int want_epsilon, int screen, double *result,
                        dpkit_error *err)
{
    return evaluate(events, event_count, discretization, argument, want_epsilon, 1, screen,
                    result, err);
}

int accountant_pld_epsilon(const accountant_event *events, size_t event_count, double delta,
                           double discretization, double *epsilon, dpkit_error *err)
{
    return accountant_pld_value(events, event_count, delta, discretization, 1, 1, epsilon, err);
}

int accountant_pld_delta(const accountant_event *events, size_t event_count, double epsilon,
                         double discretization, double *delta, dpkit_error *err)
{
    return accountant_pld_value(events, event_count, epsilon, discretization, 0, 1, delta, err);
}

int accountant_pld_epsilon_bounds(const accountant_event *events, size_t event_count,
                                  double delta, double discretization, double *optimistic,
                                  double *pessimistic, dpkit_error *err)
{
    double result[2];
    if (evaluate(events, event_count, discretization, delta, 1, 2, 0, result, err) != 0)
        return -1;
    *pessimistic = result[0];
    *optimistic = fmin(result[1], result[0]);
    return 0;
}
