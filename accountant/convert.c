/* Conversion of an RDP curve to (epsilon, delta) (docs/maths.md 2.7): the improved conversion of
 * Balle et al. / Canonne-Kamath-Steinke as TF Privacy v0.8.0 computes it, and Mironov's classic
 * one. */
#include "accountant/accountant.h"

#include <math.h>

static int check_curve(const double *orders, const double *rdp, size_t order_count,
                       dpkit_error *err)
{
    if (order_count == 0)
        return error_set(err, "RDP conversion: the order grid is empty");
    for (size_t k = 0; k < order_count; k++) {
        if (!(orders[k] > 1.0))
            return error_set(err, "RDP conversion: order %g must be greater than 1", orders[k]);
        if (!(rdp[k] >= 0.0))
            return error_set(err, "RDP conversion: RDP %g at order %g must be non-negative",
                             rdp[k], orders[k]);
    }
    return 0;
}

/* epsilon at one order. */
static double order_epsilon(double alpha, double r, double delta, accountant_conversion conversion)
{
    if (conversion == ACCOUNTANT_CONVERSION_CLASSIC)
        return r - log(delta) / (alpha - 1.0);
    /* KL bound: delta <= sqrt(1 - e^-KL) already holds at epsilon = 0. */
    if (delta * delta + expm1(-r) >= 0.0)
        return 0.0;
    /* Orders this close to 1 make the improved bound numerically useless (TF Privacy). */
    if (alpha <= 1.01)
        return INFINITY;
    return r + log1p(-1.0 / alpha) - log(delta * alpha) / (alpha - 1.0);
}

int accountant_rdp_to_epsilon(const double *orders, const double *rdp, size_t order_count,
                              double delta, accountant_conversion conversion, double *epsilon,
                              double *order, dpkit_error *err)
{
    if (!(delta > 0.0 && delta < 1.0))
        return error_set(err, "RDP conversion: delta %g must be in (0, 1)", delta);
    if (check_curve(orders, rdp, order_count, err) != 0)
        return -1;
    double best = INFINITY, best_order = NAN;
    for (size_t k = 0; k < order_count; k++) {
        double e = order_epsilon(orders[k], rdp[k], delta, conversion);
        if (e < best) {
            best = e;
            best_order = orders[k];
        }
    }
    *epsilon = fmax(best, 0.0);
    if (order)
        *order = best_order;
    return 0;
}

int accountant_rdp_to_delta(const double *orders, const double *rdp, size_t order_count,
                            double epsilon, accountant_conversion conversion, double *delta,
                            dpkit_error *err)
{
    if (!(epsilon >= 0.0))
        return error_set(err, "RDP conversion: epsilon %g must be non-negative", epsilon);
    if (check_curve(orders, rdp, order_count, err) != 0)
        return -1;
    double best = 0.0; /* log delta; delta never exceeds 1 */
    for (size_t k = 0; k < order_count; k++) {
        double alpha = orders[k], r = rdp[k], log_delta;
        if (conversion == ACCOUNTANT_CONVERSION_CLASSIC) {
            log_delta = (alpha - 1.0) * (r - epsilon);
        } else {
            log_delta = 0.5 * log1p(-exp(-r));
            if (alpha > 1.01) {
                double bound = (alpha - 1.0) * (r - epsilon + log1p(-1.0 / alpha)) - log(alpha);
                log_delta = fmin(log_delta, bound);
            }
        }
        if (log_delta < best)
            best = log_delta;
    }
    *delta = exp(best);
    return 0;
}
