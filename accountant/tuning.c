/* The privacy cost of hyperparameter tuning with a random number of runs (Papernot & Steinke,
 * ICLR 2022, Theorem 2; docs/maths.md 2.11): the RDP curve of the best of K runs, K drawn from a
 * truncated negative binomial distribution, from the RDP curve of one run. */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"

#include <math.h>

int accountant_tuning_check(double eta, double gamma, dpkit_error *err)
{
    if (!(eta > -1.0) || isinf(eta))
        return error_set(err, "tuning eta = %g, expected a finite number > -1 (1: geometric, "
                              "0: logarithmic number of runs)", eta);
    if (!(gamma > 0.0 && gamma < 1.0))
        return error_set(err, "tuning gamma = %g, expected a number in (0, 1)", gamma);
    return 0;
}

double accountant_tuning_expected_runs(double eta, double gamma)
{
    /* E[K] of the truncated negative binomial D_{eta,gamma} (docs/maths.md 2.11). */
    if (eta == 0.0)
        return (1.0 / gamma - 1.0) / log(1.0 / gamma);
    return eta * (1.0 - gamma) / (gamma * -expm1(eta * log(gamma)));
}

long long accountant_tuning_draw_runs(double eta, double gamma, double uniform)
{
    /* Inverse CDF of D_{eta,gamma}: P[K = 1] = eta (1-gamma) / (gamma^-eta - 1) (eta = 0:
     * (1-gamma) / log(1/gamma)), P[K = k+1] / P[K = k] = (1-gamma)(k + eta)/(k + 1). */
    double p = eta == 0.0 ? (1.0 - gamma) / log(1.0 / gamma)
                          : eta * (1.0 - gamma) / expm1(-eta * log(gamma));
    double cdf = p;
    long long k = 1;
    while (uniform >= cdf && p > 0.0 && k < ACCOUNTANT_TUNING_MAX_RUNS) {
        p *= (1.0 - gamma) * ((double)k + eta) / ((double)k + 1.0);
        cdf += p;
        k++;
    }
    return k;
}

int accountant_tuning_rdp(const double *orders, const double *rdp, size_t order_count,
                          double eta, double gamma, double *tuned, dpkit_error *err)
{
    if (accountant_tuning_check(eta, gamma, err) != 0)
        return -1;
    /* Theorem 2: (lambda, eps)-RDP and (lambda_hat, eps_hat)-RDP of one run give
     * eps' = eps + (1 + eta)(1 - 1/lambda_hat) eps_hat + (1 + eta) log(1/gamma)/lambda_hat
     *        + log E[K] / (lambda - 1)
     * for the best of K runs; the term in lambda_hat is minimised over the orders of the grid
     * (every order >= 1, as the theorem asks). */
    double best = INFINITY;
    for (size_t j = 0; j < order_count; j++) {
        double lh = orders[j];
        double term = (1.0 + eta) * ((1.0 - 1.0 / lh) * rdp[j] + log(1.0 / gamma) / lh);
        if (term < best)
            best = term;
    }
    double log_runs = log(accountant_tuning_expected_runs(eta, gamma));
    for (size_t i = 0; i < order_count; i++)
        tuned[i] = rdp[i] + best + log_runs / (orders[i] - 1.0);
    return 0;
}

int accountant_tuning_epsilon(const accountant_event *events, size_t event_count, double eta,
                              double gamma, double delta, const accountant_options *options,
                              double *epsilon, double *order, dpkit_error *err)
{
    if (options && options->kind == ACCOUNTANT_PLD)
        return error_set(err, "the ledger records hyperparameter tuning (best of a random number "
                              "of runs), whose cost is bounded in RDP only (Papernot & Steinke "
                              "2022): use the RDP accountant (--accountant rdp)");
    /* Validation and the exact cases (no privacy: inf; nothing released: 0) as without tuning. */
    if (accountant_epsilon(NULL, 0, delta, options, epsilon, order, err) != 0 ||
        accountant_check_events(events, event_count, err) != 0 ||
        accountant_tuning_check(eta, gamma, err) != 0)
        return -1;
    if (accountant_events_nonprivate(events, event_count)) {
        *epsilon = INFINITY;
        return 0;
    }
    int released = 0;
    for (size_t i = 0; i < event_count; i++)
        released |= events[i].count > 0 && events[i].sampling_rate > 0.0;
    if (!released)
        return 0; /* K runs that release nothing: epsilon 0, as set above */
    const double *orders;
    size_t n = accountant_rdp_default_orders(&orders);
    double rdp[256], tuned[256];
    if (n > 256 || accountant_rdp_curve_bounded(events, event_count, orders, n, rdp, err) != 0 ||
        accountant_tuning_rdp(orders, rdp, n, eta, gamma, tuned, err) != 0)
        return -1;
    return accountant_rdp_to_epsilon(orders, tuned, n, delta,
                                     options ? options->conversion
                                             : ACCOUNTANT_CONVERSION_IMPROVED,
                                     epsilon, order, err);
}
