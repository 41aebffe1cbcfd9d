/* Declarations shared by the accountant's source files (not part of the public API): input
 * validation, the RDP curve of a composition, and the PLD accountant's entry points. */
#ifndef DPKIT_ACCOUNTANT_INTERNAL_H
#define DPKIT_ACCOUNTANT_INTERNAL_H

#include "accountant/accountant.h"

#include <math.h>

/* Checks q in [0, 1], sigma >= 0 and finite, count >= 0 for every event. */
int accountant_check_events(const accountant_event *events, size_t event_count, dpkit_error *err);
/* The checks of accountant_check_events on one event's fields, the message naming the ledger
 * field ("noise_multiplier = nan, expected ..."), for the ledger loaders. */
int accountant_event_check_fields(double sampling_rate, double noise_multiplier, long long count,
                                  dpkit_error *err);
/* Random allocation (random_allocation.c, docs/maths.md 2.12). The steps per epoch t of an
 * event at rate q = 1/t; -1 unless 1/q is a whole number in 1..1e12. */
int accountant_random_allocation_steps(double sampling_rate, long long *steps);
/* Epochs charged for `count` steps: ceil(count / t). */
long long accountant_random_allocation_epochs(long long count, long long steps_per_epoch);
/* Checks the sampler of every event, t = 1/q of the random-allocation ones, and that only the
 * last random-allocation event ends inside an epoch (a message naming the event otherwise). */
int accountant_check_random_allocation(const accountant_event *events, size_t event_count,
                                       dpkit_error *err);
/* add[k]: an upper bound on the add direction's Renyi divergence of one epoch (t >= 2 steps,
 * noise multiplier sigma, 0 < sigma < inf) at orders[k] > 1 (random_allocation_add.c); +inf
 * where the bound cannot be formed. -1 when out of memory. */
int accountant_random_allocation_add(long long t, double sigma, const double *orders,
                                     size_t order_count, double *add);
/* remove[k]: an upper bound on the remove direction's Renyi divergence of one epoch (t >= 2,
 * 0 < sigma < inf) at orders[k] > 1, exact at integer orders up to ACCOUNTANT_RDP_MAX_ORDER
 * (random_allocation_remove.c); +inf above it. -1 when out of memory. */
int accountant_random_allocation_remove(long long t, double sigma, const double *orders,
                                        size_t order_count, double *remove);
/* rdp[k]: the RDP bound of one epoch at orders[k] (random_allocation.c; both directions). */
int accountant_random_allocation_curve(long long t, double sigma, const double *orders,
                                       size_t order_count, double *rdp);

/* 1 if some event with q > 0 and count > 0 has sigma = 0 (no privacy at all). */
int accountant_events_nonprivate(const accountant_event *events, size_t event_count);

/* PLD accountant (pld.c): epsilon at delta, delta at epsilon, maximised over the add and remove
 * directions (docs/maths.md section 3). Events must already be validated and private. */
int accountant_pld_epsilon(const accountant_event *events, size_t event_count, double delta,
                           double discretization, double *epsilon, dpkit_error *err);
int accountant_pld_delta(const accountant_event *events, size_t event_count, double epsilon,
                         double discretization, double *delta, dpkit_error *err);
/* The pessimistic epsilon at delta = `argument` (want_epsilon 1) or delta at epsilon = `argument`
 * (0); `screen` 1 computes the ADD direction on a coarse grid first and skips its fine grid when
 * that proves REMOVE the larger (docs/maths.md 3.6; the same value up to rounding), 0 always
 * computes both on the fine grid. */
int accountant_pld_value(const accountant_event *events, size_t event_count, double argument,
                         double discretization, int want_epsilon, int screen, double *result,
                         dpkit_error *err);
/* Both connect-the-dots estimates of epsilon at delta (docs/maths.md 3.3): optimistic <= the
 * true epsilon <= pessimistic (what accountant_pld_epsilon returns), up to the truncated tails
 * and rounding. */
int accountant_pld_epsilon_bounds(const accountant_event *events, size_t event_count,
                                  double delta, double discretization, double *optimistic,
                                  double *pessimistic, dpkit_error *err);

/* epsilon (delta) of an RDP curve given on the default grid, extended past its top when the
 * optimum is there (rdp_orders.c); `events` are those of the curve, validated. */
int accountant_rdp_epsilon_extended(const accountant_event *events, size_t event_count,
                                    const double *orders, const double *rdp, size_t order_count,
                                    double delta, accountant_conversion conversion,
                                    double *epsilon, double *order, dpkit_error *err);
int accountant_rdp_delta_extended(const accountant_event *events, size_t event_count,
                                  const double *orders, const double *rdp, size_t order_count,
                                  double epsilon, accountant_conversion conversion, double *delta,
                                  dpkit_error *err);
/* accountant_rdp_curve plus, per step of each subsampled event, a bound on the series'
 * rounding (log A to ~1e-16 absolute, more at large orders, over alpha - 1): for tiny q the
 * computed RDP is rounding noise, exactly 0 at some orders, and the KL branch of the conversion
 * would then read epsilon = 0 at any delta (docs/maths.md 2.7). Elsewhere negligible (1e-9 of
 * epsilon after 1e5 steps). What epsilon, delta and calibration use. */
int accountant_rdp_curve_bounded(const accountant_event *events, size_t event_count,
                                 const double *orders, size_t order_count, double *rdp,
                                 dpkit_error *err);
/* 1 if sigma is so small that sigma^2 is not a normal double: no privacy worth computing,
 * epsilon = +inf (docs/maths.md 2.5). */
int accountant_sigma_negligible(double sigma);

/* log(e^a + e^b) (docs/maths.md 2.2). */
static inline double accountant_log_add(double a, double b)
{
    double hi = a > b ? a : b;
    double lo = a > b ? b : a;
    if (lo == -INFINITY)
        return hi;
    return hi + log1p(exp(lo - hi));
}

/* RDP series (rdp.c, rdp_series.c; docs/maths.md 2.2-2.4). */

/* log erfc(x) written as TF Privacy does, log 2 + log Phi(-sqrt(2) x). */
double accountant_log_erfc(double x);
/* Quantities of the series that depend on (q, sigma) only, shared by every order (docs/maths.md
 * 2.4): constants; a table of the erfc factors of the terms of A0, which do not depend on
 * alpha; a memo of those of A1, which depend on j = alpha - i only (orders a whole number apart
 * share them). Filled on first use with exactly what a direct evaluation gives. */
#define ACCOUNTANT_RDP_TABLE 256
#define ACCOUNTANT_RDP_MEMO 1024 /* a power of two */
typedef struct accountant_rdp_memo_entry {
    double j;
    double log_e1; /* -log 2 + log erfc((z0 - j) / scale) */
    double b1;     /* the linear-space factor built on it (rdp_series.c) */
} accountant_rdp_memo_entry;

typedef struct accountant_rdp_series {
    double q, sigma;
    double log_q, log_1mq;  /* log q, log(1-q) */
    double two_var;         /* 2 sigma^2 */
    double z0, scale;       /* sigma^2 log(1/q - 1) + 1/2 and sqrt(2) sigma */
    double log_rho, rho;    /* log q - log(1-q) and its exponential */
    double growth;          /* e^{1/sigma^2} */
    size_t log_e0_count;    /* entries of log_e0 and b0 computed so far */
    double log_e0[ACCOUNTANT_RDP_TABLE]; /* -log 2 + log erfc((i - z0) / scale) */
    double b0[ACCOUNTANT_RDP_TABLE];     /* the linear-space factor built on it */
    size_t memo_count;
    unsigned char memo_used[ACCOUNTANT_RDP_MEMO];
    accountant_rdp_memo_entry memo[ACCOUNTANT_RDP_MEMO];
} accountant_rdp_series;

/* For 0 < q < 1 and 0 < sigma < inf. */
void accountant_rdp_series_init(accountant_rdp_series *s, double q, double sigma);
/* The erfc factors of term i of A0 and of the term of A1 with j = alpha - i, in log space. */
double accountant_rdp_log_e0(accountant_rdp_series *s, size_t i);
double accountant_rdp_log_e1(accountant_rdp_series *s, double j);
/* The step from binom(alpha, i-1) to binom(alpha, i), i >= 1 (docs/maths.md 2.4): returns
 * |alpha - i + 1| / i and flips *sign where that ratio is negative. Both series use exactly
 * these operations, so that their coefficients round alike. */
static inline double accountant_rdp_binomial_step(double alpha, double di, double *sign)
{
    double factor = (alpha - (di - 1.0)) / di;
    if (factor < 0.0)
        *sign = -*sign;
    return fabs(factor);
}

/* log A_alpha summed term by term in log space in TF Privacy's order of operations (rdp.c);
 * alpha > 1 finite; +inf if a fractional series does not settle. */
double accountant_rdp_log_a_logspace(accountant_rdp_series *series, double alpha);
/* log A_alpha summed in linear space (rdp_series.c); -1 where that sum may differ from the
 * log-space one by more than 5e-10 relative, or cannot be formed (cancellation, underflow,
 * overflow, more than ACCOUNTANT_RDP_TABLE terms): the caller then uses the log-space one. */
int accountant_rdp_log_a_linear(accountant_rdp_series *s, double alpha, double *log_a);

#endif
