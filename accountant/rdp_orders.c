/* RDP orders past the default grid: where the best order of the default (opacus) grid is its
 * largest, 63, the bound is still falling there and is loose -- at epsilon 0.1 the optimum sits
 * near order 125 to 230, and on 1.1 .. 63 only the KL branch of the conversion gets below 0.1,
 * at a noise multiplier 2000 times too large (106122 against 55). This walks a ladder of
 * integer orders up to ACCOUNTANT_RDP_MAX_ORDER and refines between the best rung's neighbours
 * with fractional orders. Every order gives a valid bound (docs/maths.md 2.7), so the minimum
 * over more orders is still one, and never above the default grid's. */
#include "accountant/accountant_internal.h"

#include <math.h>

/* Rungs grow by about 10%: at the optimum epsilon(alpha) is flat to second order (epsilon ~
 * a alpha + b / alpha), so a rung misses it by under 0.5% before the refinement. */
#define LADDER_RATIO 1.1
#define LADDER_MAX 64
/* Golden-section steps between the neighbours of the best rung: the bracket shrinks to
 * 0.618^16 < 1e-3 of its width. */
#define REFINE_STEPS 16

/* The integer orders of the ladder, from the first above the default grid's top to the
 * largest order dpkit tries; returns their number. */
static size_t ladder(double *orders)
{
    const double *grid;
    size_t n = accountant_rdp_default_orders(&grid);
    double top = grid[n - 1], rung = top;
    size_t count = 0;
    while (count + 1 < LADDER_MAX) {
        rung = fmax(round(rung * LADDER_RATIO), rung + 1.0);
        if (rung >= ACCOUNTANT_RDP_MAX_ORDER)
            break;
        orders[count++] = rung;
    }
    orders[count++] = ACCOUNTANT_RDP_MAX_ORDER;
    return count;
}

typedef struct order_objective {
    const accountant_event *events;
    size_t event_count;
    double target;      /* delta (for epsilon) or epsilon (for delta) */
    int want_delta;
    accountant_conversion conversion;
    double best, best_order;
    dpkit_error *err;
} order_objective;

/* The bound at one order (epsilon, or delta); keeps the best. -1 on error. */
static int evaluate(order_objective *o, double alpha, double *value)
{
    double rdp;
    if (accountant_rdp_curve_bounded(o->events, o->event_count, &alpha, 1, &rdp, o->err) != 0)
        return -1;
    int status = o->want_delta
                     ? accountant_rdp_to_delta(&alpha, &rdp, 1, o->target, o->conversion, value,
                                               o->err)
                     : accountant_rdp_to_epsilon(&alpha, &rdp, 1, o->target, o->conversion, value,
                                                 NULL, o->err);
    if (status != 0)
        return -1;
    if (*value < o->best) {
        o->best = *value;
        o->best_order = alpha;
    }
    return 0;
}

/* Golden-section search for the smallest bound on [low, high] (the bound is unimodal in the
 * order for the subsampled Gaussian; were it not, the minimum found is still a valid bound). */
static int refine(order_objective *o, double low, double high)
{
    const double shrink = 0.5 * (sqrt(5.0) - 1.0);
    double a = high - shrink * (high - low), b = low + shrink * (high - low);
    double fa, fb;
    if (evaluate(o, a, &fa) != 0 || evaluate(o, b, &fb) != 0)
        return -1;
    for (int step = 0; step < REFINE_STEPS; step++) {
        if (fa <= fb) {
            high = b;
            b = a;
            fb = fa;
            a = high - shrink * (high - low);
            if (evaluate(o, a, &fa) != 0)
                return -1;
        } else {
            low = a;
            a = b;
            fa = fb;
            b = low + shrink * (high - low);
            if (evaluate(o, b, &fb) != 0)
                return -1;
        }
    }
    return 0;
}

static int extend(order_objective *o, const double *orders, const double *rdp, size_t count)
{
    /* The default grid first, exactly as before (the reference values are on it). */
    double value;
    int status = o->want_delta
                     ? accountant_rdp_to_delta(orders, rdp, count, o->target, o->conversion,
                                               &value, o->err)
                     : accountant_rdp_to_epsilon(orders, rdp, count, o->target, o->conversion,
                                                 &value, &o->best_order, o->err);
    if (status != 0)
        return -1;
    o->best = value;
    if (o->want_delta) {
        /* The order attaining delta, for the test below. */
        o->best_order = NAN;
        for (size_t k = 0; k < count; k++) {
            double d;
            if (accountant_rdp_to_delta(&orders[k], &rdp[k], 1, o->target, o->conversion, &d,
                                        o->err) != 0)
                return -1;
            if (d == value) {
                o->best_order = orders[k];
                break;
            }
        }
    }
    if (!(o->best_order == orders[count - 1]) || !(o->best > 0.0) || isinf(o->best))
        return 0;
    /* points[0] is the default grid's top, then the rungs; walk up while the bound falls. */
    double points[LADDER_MAX + 1];
    points[0] = orders[count - 1];
    size_t point_count = 1 + ladder(points + 1);
    double last_value = o->best;
    for (size_t j = 1; j < point_count; j++) {
        if (evaluate(o, points[j], &value) != 0)
            return -1;
        if (value > last_value) {
            /* Past the optimum: it lies between the neighbours of points[j - 1]. */
            return refine(o, points[j >= 2 ? j - 2 : 0], points[j]);
        }
        last_value = value;
    }
    /* Still falling at the largest order: the caller reports the order as the edge. */
    return 0;
}

int accountant_rdp_epsilon_extended(const accountant_event *events, size_t event_count,
                                    const double *orders, const double *rdp, size_t order_count,
                                    double delta, accountant_conversion conversion,
                                    double *epsilon, double *order, dpkit_error *err)
{
    order_objective o = {events, event_count, delta, 0, conversion, INFINITY, NAN, err};
    if (extend(&o, orders, rdp, order_count) != 0)
        return -1;
    *epsilon = o.best;
    if (order)
        *order = o.best_order;
    return 0;
}

int accountant_rdp_delta_extended(const accountant_event *events, size_t event_count,
                                  const double *orders, const double *rdp, size_t order_count,
                                  double epsilon, accountant_conversion conversion, double *delta,
                                  dpkit_error *err)
{
    order_objective o = {events, event_count, epsilon, 1, conversion, INFINITY, NAN, err};
    if (extend(&o, orders, rdp, order_count) != 0)
        return -1;
    *delta = o.best;
    return 0;
}

int accountant_rdp_order_at_edge(double order)
{
    const double *grid;
    accountant_rdp_default_orders(&grid);
    return order == grid[0] || order >= ACCOUNTANT_RDP_MAX_ORDER;
}
