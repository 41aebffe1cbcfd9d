/* Accountant tests: RDP and PLD against TF Privacy / dp_accounting / prv_accountant reference
 * values, conversions, calibration (including the published noise multipliers of Tramer &
 * Boneh), properties, the privacy ledger (HDF5 and JSON) and the epsilon/calibrate commands. */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"
#include "common/rng.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reference CSVs ---------------------------------------------------------------------- */

#define MAX_COLUMNS 24
#define MAX_ROWS 512

typedef struct csv_table {
    char names[MAX_COLUMNS][32];
    int columns;
    int rows;
    double values[MAX_ROWS][MAX_COLUMNS]; /* NaN for empty or non-numeric cells */
    char labels[MAX_ROWS][80];            /* the "label" column, if any */
} csv_table;

static csv_table *csv_load(const char *relative)
{
    char *text = test_read_file(test_data_path(relative), NULL);
    cr_assert_not_null(text, "missing reference file %s", test_data_path(relative));
    csv_table *t = calloc(1, sizeof *t);
    char *save_line = NULL;
    int label_column = -1, header = 1;
    for (char *line = strtok_r(text, "\n", &save_line); line;
         line = strtok_r(NULL, "\n", &save_line)) {
        int column = 0;
        for (char *cell = line; cell && column < MAX_COLUMNS; column++) {
            char *comma = strchr(cell, ',');
            if (comma)
                *comma = '\0';
            if (header) {
                snprintf(t->names[column], sizeof t->names[column], "%s", cell);
                if (strcmp(cell, "label") == 0)
                    label_column = column;
            } else {
                char *end;
                double v = strtod(cell, &end);
                t->values[t->rows][column] = (end == cell || *end) ? NAN : v;
                if (column == label_column)
                    snprintf(t->labels[t->rows], sizeof t->labels[0], "%s", cell);
            }
            cell = comma ? comma + 1 : NULL;
        }
        if (header) {
            t->columns = column;
            header = 0;
            continue;
        }
        t->rows++;
        cr_assert_lt(t->rows, MAX_ROWS);
    }
    free(text);
    return t;
}

static int csv_column(const csv_table *t, const char *name)
{
    for (int c = 0; c < t->columns; c++)
        if (strcmp(t->names[c], name) == 0)
            return c;
    cr_assert_fail("reference CSV has no column %s", name);
    return -1;
}

static double relative_error(double value, double reference)
{
    return fabs(value - reference) / fabs(reference);
}

/* ---- RDP ----------------------------------------------------------------------------------- */

Test(accountant, rdp_orders_match_tf_privacy)
{
    csv_table *t = csv_load("accountant/rdp_orders.csv");
    int cq = csv_column(t, "q"), cs = csv_column(t, "sigma"), ca = csv_column(t, "order"),
        cr = csv_column(t, "rdp");
    cr_assert_eq(t->rows, 375);
    int checked = 0;
    for (int r = 0; r < t->rows; r++) {
        double q = t->values[r][cq], sigma = t->values[r][cs], alpha = t->values[r][ca];
        double reference = t->values[r][cr];
        if (!(reference > 1e-12))
            continue;
        double tolerance = 1e-9;
        /* The one row where the reference itself is not accurate to 1e-9: log A = 7.9e-7 is
         * accumulated from alternating terms with TF's log(expm1(a - b)) + b, which loses
         * ulp(25) = 3.6e-15 per subtraction; a binary128 evaluation of the same truncated
         * series differs from the reference by 1.1e-8 and from dpkit by 6e-9. */
        if (q == 0.001 && sigma == 0.6 && alpha == 1.1)
            tolerance = 1e-8;
        double value = accountant_rdp_subsampled_gaussian(q, sigma, alpha);
        cr_expect_leq(relative_error(value, reference), tolerance,
                      "q=%g sigma=%g order=%g: %.17g, reference %.17g", q, sigma, alpha, value,
                      reference);
        checked++;
    }
    cr_expect_gt(checked, 370);
    free(t);
}

Test(accountant, rdp_special_cases)
{
    cr_expect_eq(accountant_rdp_subsampled_gaussian(0.0, 1.0, 2.5), 0.0);
    cr_expect(isinf(accountant_rdp_subsampled_gaussian(0.01, 0.0, 2.5)));
    cr_expect(isinf(accountant_rdp_subsampled_gaussian(1.0, 0.0, 3.0)));
    cr_expect(isinf(accountant_rdp_subsampled_gaussian(0.01, 1.0, INFINITY)));
    cr_expect_float_eq(accountant_rdp_subsampled_gaussian(1.0, 2.0, 7.5), 7.5 / 8.0, 1e-15);
    cr_expect(isnan(accountant_rdp_subsampled_gaussian(1.5, 1.0, 2.0)));
    cr_expect(isnan(accountant_rdp_subsampled_gaussian(0.5, -1.0, 2.0)));
    cr_expect(isnan(accountant_rdp_subsampled_gaussian(0.5, 1.0, 1.0)));
    /* docs/maths.md 2.10: log A for q = 0.01, sigma = 1.1 at integer orders. */
    const double orders[] = {2, 10, 32};
    const double log_a[] = {1.2851008160514807e-4, 0.007268239557198529, 262.5519094439537};
    for (int i = 0; i < 3; i++) {
        double value = accountant_rdp_subsampled_gaussian(0.01, 1.1, orders[i]) * (orders[i] - 1);
        cr_expect_leq(relative_error(value, log_a[i]), 1e-12, "order %g: %.17g", orders[i],
                      value);
    }
}

Test(accountant, default_grid_is_opacus)
{
    const double *orders;
    size_t n = accountant_rdp_default_orders(&orders);
    cr_assert_eq(n, 151);
    cr_expect_eq(orders[0], 1.1);
    cr_expect_eq(orders[98], 10.9);
    cr_expect_eq(orders[99], 12.0);
    cr_expect_eq(orders[150], 63.0);
    for (size_t k = 0; k < n; k++)
        cr_expect_neq(orders[k], 11.0);
}

/* Stable and sane over q in [1e-6, 1] and sigma in [0.3, 100]: finite, non-negative,
 * non-decreasing in the order and in q. Log-space evaluation resolves log A to about 1e-16
 * absolute, so RDP values below ~1e-13 are rounding-level: monotonicity is checked up to that. */
Test(accountant, rdp_stable_over_parameter_range)
{
    const double qs[] = {1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 0.3, 0.6, 0.9, 0.999, 1.0};
    const double sigmas[] = {0.3, 0.5, 0.8, 1.0, 2.0, 5.0, 20.0, 100.0};
    const double *orders;
    size_t n = accountant_rdp_default_orders(&orders);
    for (size_t s = 0; s < sizeof sigmas / sizeof *sigmas; s++) {
        double previous_q[151] = {0};
        for (size_t iq = 0; iq < sizeof qs / sizeof *qs; iq++) {
            double previous = 0.0;
            for (size_t k = 0; k < n; k++) {
                double r = accountant_rdp_subsampled_gaussian(qs[iq], sigmas[s], orders[k]);
                cr_assert(r >= 0.0 && r < INFINITY, "q=%g sigma=%g order=%g: %g", qs[iq],
                          sigmas[s], orders[k], r);
                cr_expect_geq(r, previous * (1 - 1e-9) - 1e-13, "not monotone in order: q=%g sigma=%g "
                              "order=%g: %g < %g", qs[iq], sigmas[s], orders[k], r, previous);
                cr_expect_geq(r, previous_q[k] * (1 - 1e-9) - 1e-13, "not monotone in q: q=%g sigma=%g "
                              "order=%g", qs[iq], sigmas[s], orders[k]);
                previous = r;
                previous_q[k] = r;
            }
        }
    }
}

/* ---- the two summations of the RDP series (rdp.c, rdp_series.c) ----------------------------- */

/* Random (q, sigma, alpha) over the supported range: q log-uniform in [1e-6, 0.999], sigma
 * log-uniform in [0.3, 100], alpha fractional in (1, 64) or, one time in four, an integer in
 * [2, 256]. */
static void random_rdp_parameters(rng *r, double *q, double *sigma, double *alpha)
{
    *q = exp(log(1e-6) + (log(0.999) - log(1e-6)) * rng_uniform(r));
    *sigma = exp(log(0.3) + (log(100.0) - log(0.3)) * rng_uniform(r));
    if (rng_below(r, 4) == 0)
        *alpha = (double)(2 + rng_below(r, 255));
    else
        *alpha = 1.0 + 63.0 * rng_uniform(r);
    if (floor(*alpha) == *alpha && *alpha < 2.0)
        *alpha = 1.5;
}

/* log A for fractional alpha evaluated independently in long double (docs/maths.md 2.4): each
 * term from lgammal's log|binom(alpha, i)| and sign and from erfcl, in log space, then summed
 * in linear space with the leading term apart; the stopping rule of rdp.c. It takes the inputs
 * that dpkit rounds as TF Privacy does: log q, log(1-q), z0 and the log of the leading erfc
 * factor (log 2 + log Phi(.) - log 2 is off by up to ulp(log 2) there, which matters for a tiny
 * log A). *condition gets the rounding that a double evaluation cannot avoid, in units of
 * 2^-52: that of alpha log(1-q), and for each term its relative weight times the size of its
 * log-space exponent and the length of its coefficient recurrence. NaN where long double does
 * not reach (erfcl underflow). */
static long double log_a_fractional_long(double q, double sigma, double alpha,
                                         double log_lead_erfc, long double *condition)
{
    long double log_q = log(q), log_1mq = log(1.0 - q);
    long double z0 = sigma * sigma * log(1.0 / q - 1.0) + 0.5, scale = M_SQRT2 * sigma;
    long double two_var = 2.0L * sigma * sigma, a = alpha;
    int sign_alpha;
    long double lgamma_alpha = lgammal_r(a + 1.0L, &sign_alpha);
    long double log_lead = a * log_1mq + log_lead_erfc;
    long double threshold = expl(-30.0L), rest = 0.0L, previous0 = 0.0L, previous1 = 0.0L;
    long double weighted = 0.0L;
    for (int i = 0; i < 10000; i++) {
        long double di = i, j = a - di;
        int sign_i, sign_j;
        long double lgamma_i = lgammal_r(di + 1.0L, &sign_i);
        long double lgamma_j = lgammal_r(j + 1.0L, &sign_j);
        long double log_coef = lgamma_alpha - lgamma_i - lgamma_j;
        int sign = sign_alpha * sign_i * sign_j;
        long double e0 = erfcl((di - z0) / scale), e1 = erfcl((z0 - j) / scale);
        if (!(e0 > 0.0L && e1 > 0.0L))
            return NAN;
        long double x0 = di * (log_q - log_1mq) + (di * di - di) / two_var + logl(e0 / 2.0L);
        long double x1 = j * (log_q - log_1mq) + (j * j - j) / two_var + logl(e1 / 2.0L);
        long double t0 = expl(log_coef + a * log_1mq + x0);
        long double t1 = expl(log_coef + a * log_1mq + x1);
        if (i > 0)
            rest += sign * t0;
        rest += sign * t1;
        weighted += t0 * (fabsl(x0) + di) + t1 * (fabsl(x1) + di);
        if (i > 0 && t0 < previous0 && t1 < previous1 && fmaxl(t0, t1) < threshold) {
            long double total = expl(log_lead) + rest;
            *condition = fabsl(a * log_1mq) + weighted / total;
            return log_lead + log1pl(rest / expl(log_lead));
        }
        previous0 = t0;
        previous1 = t1;
    }
    return NAN;
}

/* Where the linear-space sum is used, it is the series it claims to be: it agrees with the
 * long-double evaluation above (the binomial coefficients by recurrence vs by lgamma) to 1e-12
 * relative, plus 8 times the rounding a double evaluation cannot avoid. */
Test(accountant, rdp_linear_sum_matches_long_double_series)
{
    rng r;
    rng_init_seed(&r, 20261201, RNG_STREAM_TEST);
    int compared = 0;
    for (int k = 0; k < 4000; k++) {
        double q, sigma, alpha;
        random_rdp_parameters(&r, &q, &sigma, &alpha);
        if (floor(alpha) == alpha)
            continue;
        accountant_rdp_series series;
        accountant_rdp_series_init(&series, q, sigma);
        double log_a;
        if (accountant_rdp_log_a_linear(&series, alpha, &log_a) != 0)
            continue;
        long double condition = 0.0L;
        double log_lead_erfc = accountant_rdp_log_e0(&series, 0);
        long double reference =
            log_a_fractional_long(q, sigma, alpha, log_lead_erfc, &condition);
        if (isnan(reference))
            continue;
        long double tolerance = 1e-12L * fabsl(reference) + 8.0L * 0x1p-52L * condition;
        cr_expect_leq(fabsl(log_a - reference), tolerance,
                      "q=%.17g sigma=%.17g alpha=%.17g: %.17g, long double %.17Lg "
                      "(tolerance %.3Lg)", q, sigma, alpha, log_a, reference, tolerance);
        compared++;
    }
    cr_expect_gt(compared, 1000);
}

/* The linear-space sum is used only where it stays within the 1e-9 of TF Privacy's
 * log-space sum that dpkit promises (it aims at 5e-10), integer and fractional orders. */
Test(accountant, rdp_linear_sum_agrees_with_log_space_sum)
{
    rng r;
    rng_init_seed(&r, 7, RNG_STREAM_TEST);
    int accepted = 0;
    for (int k = 0; k < 6000; k++) {
        double q, sigma, alpha;
        random_rdp_parameters(&r, &q, &sigma, &alpha);
        accountant_rdp_series series;
        accountant_rdp_series_init(&series, q, sigma);
        double linear;
        if (accountant_rdp_log_a_linear(&series, alpha, &linear) != 0)
            continue;
        double logspace = accountant_rdp_log_a_logspace(&series, alpha);
        cr_expect_leq(fabs(linear - logspace), 1e-9 * fabs(logspace),
                      "q=%.17g sigma=%.17g alpha=%.17g: linear %.17g, log space %.17g", q,
                      sigma, alpha, linear, logspace);
        accepted++;
    }
    cr_expect_gt(accepted, 2000);
}

/* For typical DP-SGD parameters nearly every order of the default grid takes the linear sum
 * (the speed of bench/accounting depends on it), and sharing the per-(q, sigma) tables across
 * orders and events does not change a single bit. */
Test(accountant, rdp_default_grid_takes_linear_sum)
{
    const double *orders;
    size_t n = accountant_rdp_default_orders(&orders);
    accountant_rdp_series series;
    accountant_rdp_series_init(&series, 0.01, 1.1);
    size_t linear = 0;
    for (size_t k = 0; k < n; k++) {
        double log_a;
        linear += accountant_rdp_log_a_linear(&series, orders[k], &log_a) == 0;
    }
    cr_expect_geq(linear, 140, "%zu of %zu orders", linear, n);
    accountant_event event = {0.01, 1.1, 1, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    double curve[151];
    dpkit_error err;
    cr_assert_eq(accountant_rdp_curve(&event, 1, orders, n, curve, &err), 0, "%s", err.message);
    for (size_t k = 0; k < n; k++)
        cr_expect_eq(curve[k], accountant_rdp_subsampled_gaussian(0.01, 1.1, orders[k]),
                     "order %g", orders[k]);
    /* Consecutive events with the same (q, sigma) share one series. */
    accountant_event events[3] = {{0.01, 1.1, 3, "a", ACCOUNTANT_SAMPLER_POISSON}, {0.01, 1.1, 4, "b", ACCOUNTANT_SAMPLER_POISSON}, {0.02, 1.1, 5, "c", ACCOUNTANT_SAMPLER_POISSON}};
    double composed[151];
    cr_assert_eq(accountant_rdp_curve(events, 3, orders, n, composed, &err), 0, "%s",
                 err.message);
    for (size_t k = 0; k < n; k++) {
        double expected = 7.0 * curve[k] +
                          5.0 * accountant_rdp_subsampled_gaussian(0.02, 1.1, orders[k]);
        cr_expect_leq(fabs(composed[k] - expected), 1e-15 * expected, "order %g", orders[k]);
    }
}

/* ---- epsilon against the references ---------------------------------------------------------- */

static accountant_options options_of(accountant_kind kind, accountant_conversion conversion)
{
    accountant_options o;
    accountant_options_default(&o);
    o.kind = kind;
    o.conversion = conversion;
    return o;
}

static double epsilon_of(const accountant_event *events, size_t count, double delta,
                         accountant_kind kind, accountant_conversion conversion, double *order)
{
    accountant_options o = options_of(kind, conversion);
    double epsilon = NAN;
    dpkit_error err;
    cr_assert_eq(accountant_epsilon(events, count, delta, &o, &epsilon, order, &err), 0, "%s",
                 err.message);
    return epsilon;
}

Test(accountant, epsilon_rdp_matches_references)
{
    csv_table *t = csv_load("accountant/epsilon.csv");
    int cq = csv_column(t, "q"), cs = csv_column(t, "sigma"), ct = csv_column(t, "steps"),
        cd = csv_column(t, "delta"), ce = csv_column(t, "eps_rdp"),
        co = csv_column(t, "best_order"), cc = csv_column(t, "eps_rdp_classic"),
        coc = csv_column(t, "best_order_classic"), cbn = csv_column(t, "eps_rdp_bn"),
        cbnc = csv_column(t, "eps_rdp_bn_classic");
    cr_assert_eq(t->rows, 31);
    for (int r = 0; r < t->rows; r++) {
        const double *v = t->values[r];
        accountant_event events[2] = {{v[cq], v[cs], (long long)v[ct], "dp-sgd", ACCOUNTANT_SAMPLER_POISSON},
                                      {1.0, 8.0, 2, "private-bn", ACCOUNTANT_SAMPLER_POISSON}};
        double order;
        double e = epsilon_of(events, 1, v[cd], ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_IMPROVED,
                              &order);
        cr_expect_leq(relative_error(e, v[ce]), 1e-6, "%s: improved %.12g, reference %.12g",
                      t->labels[r], e, v[ce]);
        cr_expect_eq(order, v[co], "%s: order %g, reference %g", t->labels[r], order, v[co]);
        e = epsilon_of(events, 1, v[cd], ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_CLASSIC, &order);
        cr_expect_leq(relative_error(e, v[cc]), 1e-6, "%s: classic %.12g, reference %.12g",
                      t->labels[r], e, v[cc]);
        cr_expect_eq(order, v[coc], "%s: classic order %g, reference %g", t->labels[r], order,
                     v[coc]);
        if (!isnan(v[cbn])) {
            e = epsilon_of(events, 2, v[cd], ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_IMPROVED, NULL);
            cr_expect_leq(relative_error(e, v[cbn]), 1e-6, "%s: with BN %.12g, reference %.12g",
                          t->labels[r], e, v[cbn]);
            e = epsilon_of(events, 2, v[cd], ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_CLASSIC, NULL);
            cr_expect_leq(relative_error(e, v[cbnc]), 1e-6, "%s: with BN classic %.12g, "
                          "reference %.12g", t->labels[r], e, v[cbnc]);
        }
    }
    free(t);
}

Test(accountant, epsilon_pld_matches_references, .timeout = 120)
{
    csv_table *t = csv_load("accountant/epsilon.csv");
    int cq = csv_column(t, "q"), cs = csv_column(t, "sigma"), ct = csv_column(t, "steps"),
        cd = csv_column(t, "delta"), cp = csv_column(t, "eps_pld"),
        clo = csv_column(t, "eps_prv_lo"), chi = csv_column(t, "eps_prv_hi"),
        ce = csv_column(t, "eps_rdp");
    for (int r = 0; r < t->rows; r++) {
        const double *v = t->values[r];
        accountant_event event = {v[cq], v[cs], (long long)v[ct], "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
        double order;
        double e = epsilon_of(&event, 1, v[cd], ACCOUNTANT_PLD, ACCOUNTANT_CONVERSION_IMPROVED,
                              &order);
        cr_expect(isnan(order));
        cr_expect_leq(relative_error(e, v[cp]), 0.01, "%s: PLD %.10g, dp_accounting %.10g",
                      t->labels[r], e, v[cp]);
        if (!isnan(v[clo]))
            cr_expect(e >= v[clo] && e <= v[chi], "%s: PLD %.10g outside PRV [%.10g, %.10g]",
                      t->labels[r], e, v[clo], v[chi]);
        cr_expect_lt(e, v[ce], "%s: PLD %.10g not below RDP %.10g", t->labels[r], e, v[ce]);
    }
    free(t);
}

/* The optimistic and pessimistic PLD estimates (docs/maths.md 3.3) around dp_accounting's
 * pessimistic connect-the-dots value. dp_accounting and dpkit compute the same pessimistic
 * estimate in different orders of rounding (and dpkit builds c releases at q = 1 as one exact
 * Gaussian where dp_accounting composes c discretised ones): they agree to 1e-7 relative, which
 * is the slack the upper end gets; the lower end gets none. */
Test(accountant, pld_interval_brackets_references, .timeout = 120)
{
    csv_table *t = csv_load("accountant/epsilon.csv");
    int cq = csv_column(t, "q"), cs = csv_column(t, "sigma"), ct = csv_column(t, "steps"),
        cd = csv_column(t, "delta"), cp = csv_column(t, "eps_pld");
    accountant_options o = options_of(ACCOUNTANT_PLD, ACCOUNTANT_CONVERSION_IMPROVED);
    for (int r = 0; r < t->rows; r++) {
        const double *v = t->values[r];
        accountant_event event = {v[cq], v[cs], (long long)v[ct], "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
        double lower, upper, reported;
        dpkit_error err;
        cr_assert_eq(accountant_epsilon_interval(&event, 1, v[cd], &o, &lower, &upper, &err), 0,
                     "%s: %s", t->labels[r], err.message);
        cr_assert_eq(accountant_epsilon(&event, 1, v[cd], &o, &reported, NULL, &err), 0);
        cr_expect_eq(upper, reported, "%s: upper end %.12g, reported epsilon %.12g",
                     t->labels[r], upper, reported);
        cr_expect(lower <= v[cp] && v[cp] <= upper * (1.0 + 1e-7),
                  "%s: dp_accounting %.12g outside [%.12g, %.12g]", t->labels[r], v[cp], lower,
                  upper);
        cr_expect(lower < upper && upper - lower < 2e-3 * upper,
                  "%s: interval [%.12g, %.12g] empty or wider than 0.2%%", t->labels[r], lower,
                  upper);
    }
    free(t);
}

/* 100 releases at q = 1, sigma = 10: one Gaussian with sigma = 1, whose epsilon at 1e-5 is
 * 4.377178095681 (the analytic hockey stick, Phi(1/2 - eps) - e^eps Phi(-1/2 - eps) = delta,
 * solved by bisection in double precision with erfc):
 * the interval holds it. */
Test(accountant, pld_interval_holds_gaussian_truth)
{
    accountant_event event = {1.0, 10.0, 100, "full-batch", ACCOUNTANT_SAMPLER_POISSON};
    accountant_options o = options_of(ACCOUNTANT_PLD, ACCOUNTANT_CONVERSION_IMPROVED);
    double lower, upper;
    dpkit_error err;
    cr_assert_eq(accountant_epsilon_interval(&event, 1, 1e-5, &o, &lower, &upper, &err), 0);
    cr_expect(lower <= 4.377178095681 && 4.377178095681 <= upper, "[%.12g, %.12g]", lower,
              upper);
    o.kind = ACCOUNTANT_RDP;
    cr_expect_eq(accountant_epsilon_interval(&event, 1, 1e-5, &o, &lower, &upper, &err), -1);
    cr_expect(strstr(err.message, "PLD") != NULL, "%s", err.message);
}

Test(accountant, pld_delta_inverts_epsilon)
{
    accountant_event event = {0.02, 1.3, 2000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    accountant_options o = options_of(ACCOUNTANT_PLD, ACCOUNTANT_CONVERSION_IMPROVED);
    double epsilon, delta;
    dpkit_error err;
    cr_assert_eq(accountant_epsilon(&event, 1, 1e-5, &o, &epsilon, NULL, &err), 0);
    cr_assert_eq(accountant_delta(&event, 1, epsilon, &o, &delta, &err), 0);
    cr_expect_leq(relative_error(delta, 1e-5), 1e-6, "delta %.10g", delta);
    /* RDP's delta at the RDP epsilon is at most the target delta. */
    o.kind = ACCOUNTANT_RDP;
    for (int c = 0; c < 2; c++) {
        o.conversion = c ? ACCOUNTANT_CONVERSION_CLASSIC : ACCOUNTANT_CONVERSION_IMPROVED;
        cr_assert_eq(accountant_epsilon(&event, 1, 1e-5, &o, &epsilon, NULL, &err), 0);
        cr_assert_eq(accountant_delta(&event, 1, epsilon, &o, &delta, &err), 0);
        cr_expect_leq(relative_error(delta, 1e-5), 1e-6, "conversion %d: delta %.10g", c, delta);
    }
}

/* The screen (docs/maths.md 3.6) returns what both fine directions give: where REMOVE is the
 * larger it skips fine ADD, and where ADD is the larger (delta at epsilon near 0 here) it falls
 * back; several events, near-symmetric q and a small delta included. */
Test(accountant, pld_screen_gives_the_fine_value, .timeout = 60)
{
    const struct {
        accountant_event events[2];
        size_t count;
        double argument;
        int want_epsilon;
    } cases[] = {
        {{{0.01, 1.1, 10000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON}}, 1, 1e-5, 1},
        {{{0.01, 1.1, 10000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON}}, 1, 1e-10, 1},
        {{{0.01, 1.1, 10000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON}}, 1, 1e-5, 0}, /* ADD is the larger */
        {{{0.01, 1.1, 10000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON}}, 1, 3.0, 0},
        {{{0.9999, 1.0, 10, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON}}, 1, 1e-5, 1},
        {{{0.3, 0.8, 1000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON}}, 1, 1e-5, 1},
        {{{1.0, 2.0, 2, "private-bn", ACCOUNTANT_SAMPLER_POISSON}, {0.02, 1.3, 2000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON}}, 2, 1e-5, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        double fine, screened;
        dpkit_error err;
        cr_assert_eq(accountant_pld_value(cases[c].events, cases[c].count, cases[c].argument,
                                          1e-4, cases[c].want_epsilon, 0, &fine, &err),
                     0, "%s", err.message);
        cr_assert_eq(accountant_pld_value(cases[c].events, cases[c].count, cases[c].argument,
                                          1e-4, cases[c].want_epsilon, 1, &screened, &err),
                     0, "%s", err.message);
        cr_expect_leq(relative_error(screened, fine), 1e-12, "case %zu: screened %.15g, fine %.15g",
                      c, screened, fine);
    }
}

Test(accountant, pld_gaussian_is_exact)
{
    /* Two releases with sigma = 2 are one Gaussian with sigma = sqrt(2): the analytic delta at
     * epsilon is Phi(-eps s + 1/(2s)) - e^eps Phi(-eps s - 1/(2s)) with s = sigma_eff. */
    accountant_event event = {1.0, 2.0, 2, "private-bn", ACCOUNTANT_SAMPLER_POISSON};
    accountant_options o = options_of(ACCOUNTANT_PLD, ACCOUNTANT_CONVERSION_IMPROVED);
    double s = sqrt(2.0), eps = 1.5, delta;
    double exact = 0.5 * erfc((eps * s - 0.5 / s) / sqrt(2.0)) -
                   exp(eps) * 0.5 * erfc((eps * s + 0.5 / s) / sqrt(2.0));
    dpkit_error err;
    cr_assert_eq(accountant_delta(&event, 1, eps, &o, &delta, &err), 0);
    cr_expect_leq(relative_error(delta, exact), 1e-6, "delta %.12g, exact %.12g", delta, exact);
}

/* ---- properties -------------------------------------------------------------------------- */

Test(accountant, epsilon_monotone)
{
    for (int kind = 0; kind < 2; kind++) {
        accountant_kind k = kind ? ACCOUNTANT_PLD : ACCOUNTANT_RDP;
        accountant_event base = {0.02, 1.2, 500, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
        double e0 = epsilon_of(&base, 1, 1e-5, k, ACCOUNTANT_CONVERSION_IMPROVED, NULL);
        accountant_event more_steps = base, more_q = base, less_noise = base;
        more_steps.count = 600;
        more_q.sampling_rate = 0.025;
        less_noise.noise_multiplier = 1.1;
        cr_expect_gt(epsilon_of(&more_steps, 1, 1e-5, k, ACCOUNTANT_CONVERSION_IMPROVED, NULL), e0);
        cr_expect_gt(epsilon_of(&more_q, 1, 1e-5, k, ACCOUNTANT_CONVERSION_IMPROVED, NULL), e0);
        cr_expect_gt(epsilon_of(&less_noise, 1, 1e-5, k, ACCOUNTANT_CONVERSION_IMPROVED, NULL), e0);
    }
    /* RDP on a finer sweep. */
    double previous = 0.0;
    for (long long steps = 1; steps <= 100000; steps *= 3) {
        accountant_event e = {0.01, 1.0, steps, "", ACCOUNTANT_SAMPLER_POISSON};
        double eps = epsilon_of(&e, 1, 1e-5, ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_IMPROVED, NULL);
        cr_expect_gt(eps, previous, "steps %lld", steps);
        previous = eps;
    }
    previous = INFINITY;
    for (double sigma = 0.4; sigma < 50; sigma *= 1.3) {
        accountant_event e = {0.01, sigma, 1000, "", ACCOUNTANT_SAMPLER_POISSON};
        double eps = epsilon_of(&e, 1, 1e-5, ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_CLASSIC, NULL);
        cr_expect_lt(eps, previous, "sigma %g", sigma);
        previous = eps;
    }
}

Test(accountant, zero_noise_is_infinite_and_empty_is_zero)
{
    accountant_event event = {0.01, 0.0, 10, "", ACCOUNTANT_SAMPLER_POISSON};
    double order;
    cr_expect(isinf(epsilon_of(&event, 1, 1e-5, ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_IMPROVED,
                               &order)));
    cr_expect(isinf(epsilon_of(&event, 1, 1e-5, ACCOUNTANT_PLD, ACCOUNTANT_CONVERSION_IMPROVED,
                               NULL)));
    cr_expect_eq(epsilon_of(NULL, 0, 1e-5, ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_IMPROVED, NULL),
                 0.0);
    cr_expect_eq(epsilon_of(NULL, 0, 1e-5, ACCOUNTANT_PLD, ACCOUNTANT_CONVERSION_IMPROVED, NULL),
                 0.0);
    event.count = 0; /* no steps: no privacy spent */
    cr_expect_eq(epsilon_of(&event, 1, 1e-5, ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_CLASSIC, NULL),
                 0.0);
}

Test(accountant, pld_is_tighter_than_rdp)
{
    /* About 8% less epsilon for typical DP-SGD. */
    accountant_event event = {256.0 / 60000.0, 1.1, 14062, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    double rdp = epsilon_of(&event, 1, 1e-5, ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_IMPROVED, NULL);
    double pld = epsilon_of(&event, 1, 1e-5, ACCOUNTANT_PLD, ACCOUNTANT_CONVERSION_IMPROVED, NULL);
    cr_expect(pld < 0.95 * rdp && pld > 0.85 * rdp, "rdp %g pld %g", rdp, pld);
}

Test(accountant, bad_input)
{
    accountant_options o;
    accountant_options_default(&o);
    double epsilon, delta, sigma;
    long long steps;
    dpkit_error err;
    accountant_event good = {0.01, 1.0, 10, "", ACCOUNTANT_SAMPLER_POISSON};
    accountant_event bad_q = {1.5, 1.0, 10, "", ACCOUNTANT_SAMPLER_POISSON}, bad_sigma = {0.01, -1.0, 10, "", ACCOUNTANT_SAMPLER_POISSON},
                     bad_count = {0.01, 1.0, -3, "", ACCOUNTANT_SAMPLER_POISSON}, nan_sigma = {0.01, NAN, 10, "", ACCOUNTANT_SAMPLER_POISSON};
    cr_expect_eq(accountant_epsilon(&bad_q, 1, 1e-5, &o, &epsilon, NULL, &err), -1);
    cr_expect(strstr(err.message, "sampling rate") != NULL, "%s", err.message);
    cr_expect_eq(accountant_epsilon(&bad_sigma, 1, 1e-5, &o, &epsilon, NULL, &err), -1);
    cr_expect(strstr(err.message, "noise multiplier") != NULL, "%s", err.message);
    cr_expect_eq(accountant_epsilon(&nan_sigma, 1, 1e-5, &o, &epsilon, NULL, &err), -1);
    cr_expect_eq(accountant_epsilon(&bad_count, 1, 1e-5, &o, &epsilon, NULL, &err), -1);
    cr_expect(strstr(err.message, "count") != NULL, "%s", err.message);
    cr_expect_eq(accountant_epsilon(&good, 1, 0.0, &o, &epsilon, NULL, &err), -1);
    cr_expect(strstr(err.message, "delta") != NULL, "%s", err.message);
    cr_expect_eq(accountant_epsilon(&good, 1, 1.0, &o, &epsilon, NULL, &err), -1);
    cr_expect_eq(accountant_delta(&good, 1, -1.0, &o, &delta, &err), -1);
    cr_expect_eq(accountant_calibrate_noise(-1.0, 1e-5, 0.01, 100, NULL, 0, &o, &sigma, &err), -1);
    cr_expect_eq(accountant_calibrate_noise(1.0, 1e-5, 0.0, 100, NULL, 0, &o, &sigma, &err), -1);
    cr_expect_eq(accountant_calibrate_noise(1.0, 1e-5, 0.01, -5, NULL, 0, &o, &sigma, &err), -1);
    cr_expect_eq(accountant_max_steps(1.0, 1e-5, 0.01, -1.0, NULL, 0, &o, &steps, &err), -1);
    o.kind = ACCOUNTANT_PLD;
    o.pld_discretization = 0.0;
    cr_expect_eq(accountant_epsilon(&good, 1, 1e-5, &o, &epsilon, NULL, &err), -1);
    cr_expect(strstr(err.message, "discretization") != NULL, "%s", err.message);
    accountant_kind kind;
    accountant_conversion conversion;
    cr_expect_eq(accountant_kind_parse("moments", &kind, &err), -1);
    cr_expect(strstr(err.message, "moments") != NULL);
    cr_expect_eq(accountant_conversion_parse("tight", &conversion, &err), -1);
    cr_expect_eq(accountant_kind_parse("pld", &kind, &err), 0);
    cr_expect_eq(kind, ACCOUNTANT_PLD);
    cr_expect_eq(accountant_conversion_parse("classic", &conversion, &err), 0);
    cr_expect_eq(conversion, ACCOUNTANT_CONVERSION_CLASSIC);
}

/* ---- calibration ---------------------------------------------------------------------------- */

static void check_calibration(double target, double q, long long steps,
                              const accountant_event *prior, size_t prior_count,
                              accountant_kind kind, accountant_conversion conversion)
{
    accountant_options o = options_of(kind, conversion);
    double sigma;
    dpkit_error err;
    cr_assert_eq(accountant_calibrate_noise(target, 1e-5, q, steps, prior, prior_count, &o,
                                            &sigma, &err), 0, "%s", err.message);
    accountant_event events[8];
    if (prior_count)
        memcpy(events, prior, prior_count * sizeof *prior);
    events[prior_count] = (accountant_event){q, sigma, steps, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    double at = epsilon_of(events, prior_count + 1, 1e-5, kind, conversion, NULL);
    cr_expect_leq(at, target, "calibrated sigma %.9g spends %.9g > %g", sigma, at, target);
    events[prior_count].noise_multiplier = sigma * (1.0 - 1e-5);
    double below = epsilon_of(events, prior_count + 1, 1e-5, kind, conversion, NULL);
    cr_expect_gt(below, target, "sigma %.9g is not the smallest: %.9g at 1e-5 less noise",
                 sigma, below);
}

Test(accountant, calibration_round_trips)
{
    accountant_event bn = {1.0, 8.0, 2, "private-bn", ACCOUNTANT_SAMPLER_POISSON};
    check_calibration(3.0, 0.01, 5000, NULL, 0, ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_IMPROVED);
    check_calibration(1.0, 0.05, 300, &bn, 1, ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_CLASSIC);
    check_calibration(8.0, 1.0, 10, NULL, 0, ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_IMPROVED);
    check_calibration(0.5, 0.001, 200, NULL, 0, ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_IMPROVED);
    check_calibration(2.0, 0.05, 100, &bn, 1, ACCOUNTANT_PLD, ACCOUNTANT_CONVERSION_IMPROVED);
}

Test(accountant, pld_calibration_needs_less_noise)
{
    /* The same budget with the tight accountant: roughly 15% less noise. */
    accountant_options rdp = options_of(ACCOUNTANT_RDP, ACCOUNTANT_CONVERSION_IMPROVED);
    accountant_options pld = options_of(ACCOUNTANT_PLD, ACCOUNTANT_CONVERSION_IMPROVED);
    double sigma_rdp, sigma_pld;
    dpkit_error err;
    cr_assert_eq(accountant_calibrate_noise(3.0, 1e-5, 0.0682666, 560, NULL, 0, &rdp, &sigma_rdp,
                                            &err), 0);
    cr_assert_eq(accountant_calibrate_noise(3.0, 1e-5, 0.0682666, 560, NULL, 0, &pld, &sigma_pld,
                                            &err), 0);
    cr_expect(sigma_pld < 0.95 * sigma_rdp && sigma_pld > 0.75 * sigma_rdp, "rdp %g pld %g",
              sigma_rdp, sigma_pld);
}

Test(accountant, calibration_prior_over_budget)
{
    accountant_event bn = {1.0, 0.5, 2, "private-bn", ACCOUNTANT_SAMPLER_POISSON};
    accountant_options o;
    accountant_options_default(&o);
    double sigma;
    dpkit_error err;
    cr_expect_eq(accountant_calibrate_noise(1.0, 1e-5, 0.01, 100, &bn, 1, &o, &sigma, &err), -1);
    cr_expect(strstr(err.message, "prior") != NULL, "%s", err.message);
}

Test(accountant, max_steps_is_the_largest)
{
    accountant_event bn = {1.0, 8.0, 2, "private-bn", ACCOUNTANT_SAMPLER_POISSON};
    for (int kind = 0; kind < 2; kind++) {
        accountant_kind k = kind ? ACCOUNTANT_PLD : ACCOUNTANT_RDP;
        accountant_options o = options_of(k, ACCOUNTANT_CONVERSION_IMPROVED);
        long long steps;
        dpkit_error err;
        cr_assert_eq(accountant_max_steps(2.0, 1e-5, 0.05, 2.0, &bn, 1, &o, &steps, &err), 0,
                     "%s", err.message);
        accountant_event events[2] = {bn, {0.05, 2.0, steps, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON}};
        cr_expect_leq(epsilon_of(events, 2, 1e-5, k, ACCOUNTANT_CONVERSION_IMPROVED, NULL), 2.0);
        events[1].count = steps + 1;
        cr_expect_gt(epsilon_of(events, 2, 1e-5, k, ACCOUNTANT_CONVERSION_IMPROVED, NULL), 2.0);
        cr_expect_gt(steps, 100);
    }
    accountant_options o;
    accountant_options_default(&o);
    long long steps = -1;
    dpkit_error err;
    cr_expect_eq(accountant_max_steps(2.0, 1e-5, 0.05, 0.0, NULL, 0, &o, &steps, &err), 0);
    cr_expect_eq(steps, 0);
}

/* ---- the paper's noise multipliers through the CLI --------------------------------------- */

Test(accountant, tramer_boneh_noise_multipliers)
{
    static const struct {
        double sigma;
        int batch, dataset, epochs;
        const char *extra;
    } paper[] = {
        {3.04, 4096, 60000, 40, "--extra-gaussian 8:2"}, /* MNIST ScatterNet+linear, DP-BN */
        {4.05, 8192, 60000, 40, ""},                      /* Fashion-MNIST ScatterNet+linear */
        {5.67, 8192, 50000, 60, "--extra-gaussian 8:2"}, /* CIFAR-10 ScatterNet+linear, DP-BN */
        {1.23, 512, 60000, 40, ""},                       /* MNIST CNN */
        {2.15, 2048, 60000, 40, ""},                      /* Fashion-MNIST CNN */
        {1.54, 1024, 50000, 30, ""},                      /* CIFAR-10 CNN */
    };
    for (size_t i = 0; i < sizeof paper / sizeof *paper; i++) {
        char args[512], *out;
        snprintf(args, sizeof args,
                 "calibrate --epsilon 3 --delta 1e-5 --batch-size %d --dataset-size %d "
                 "--epochs %d --conversion classic --json %s",
                 paper[i].batch, paper[i].dataset, paper[i].epochs, paper[i].extra);
        cr_assert_eq(test_run_dpkit(args, &out), 0, "%s: %s", args, out);
        const char *field = strstr(out, "\"noise_multiplier\": ");
        cr_assert_not_null(field, "%s", out);
        double sigma = strtod(field + strlen("\"noise_multiplier\": "), NULL);
        cr_expect_leq(fabs(sigma - paper[i].sigma), 0.02, "%s: %.4f, paper %.2f", args, sigma,
                      paper[i].sigma);
        free(out);
    }
}

/* ---- ledger -------------------------------------------------------------------------------- */

static void fill_ledger(accountant_ledger *ledger)
{
    dpkit_error err;
    accountant_ledger_init(ledger);
    cr_assert_eq(accountant_ledger_record(ledger, 1.0, 8.0, 1, "private-bn", &err), 0);
    cr_assert_eq(accountant_ledger_record(ledger, 1.0, 8.0, 1, "private-bn", &err), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(accountant_ledger_record(ledger, 0.0682666, 3.04, 1, "dp-sgd", &err), 0);
    cr_assert_eq(accountant_ledger_record(ledger, 0.0682666, 3.04, 0, "dp-sgd", &err), 0);
    cr_assert_eq(accountant_ledger_record(ledger, 0.0682666, 3.5, 20, "dp-sgd \"tuned\"", &err),
                 0);
}

static void expect_same_ledger(const accountant_ledger *a, const accountant_ledger *b)
{
    cr_assert_eq(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        cr_expect_eq(a->events[i].sampling_rate, b->events[i].sampling_rate);
        cr_expect_eq(a->events[i].noise_multiplier, b->events[i].noise_multiplier);
        cr_expect_eq(a->events[i].count, b->events[i].count);
        cr_expect_str_eq(a->events[i].label, b->events[i].label);
    }
}

Test(accountant, ledger_run_length_and_epsilon)
{
    accountant_ledger ledger, copy;
    fill_ledger(&ledger);
    cr_assert_eq(ledger.count, 3);
    cr_expect_eq(ledger.events[0].count, 2);
    cr_expect_eq(ledger.events[1].count, 100);
    cr_expect_eq(ledger.events[2].count, 20);
    dpkit_error err;
    cr_assert_eq(accountant_ledger_copy(&ledger, &copy, &err), 0);
    expect_same_ledger(&ledger, &copy);
    accountant_options o;
    accountant_options_default(&o);
    double from_ledger, direct, order;
    cr_assert_eq(accountant_ledger_epsilon(&copy, 1e-5, &o, &from_ledger, &order, &err), 0);
    accountant_event events[3] = {{1.0, 8.0, 2, "", ACCOUNTANT_SAMPLER_POISSON}, {0.0682666, 3.04, 100, "", ACCOUNTANT_SAMPLER_POISSON},
                                  {0.0682666, 3.5, 20, "", ACCOUNTANT_SAMPLER_POISSON}};
    cr_assert_eq(accountant_epsilon(events, 3, 1e-5, &o, &direct, NULL, &err), 0);
    cr_expect_eq(from_ledger, direct);
    cr_expect_eq(accountant_ledger_record(&copy, 2.0, 1.0, 1, "x", &err), -1);
    cr_expect_eq(accountant_ledger_record(&copy, 0.1, 1.0, 1,
                                          "a label that is far too long for the ledger", &err), -1);
    cr_expect(strstr(err.message, "longer") != NULL, "%s", err.message);
    cr_expect_eq(accountant_ledger_record(&copy, 0.1, 1.0, 1, "tab\there", &err), -1);
    cr_expect_eq(copy.count, 3);
    accountant_ledger_free(&ledger);
    accountant_ledger_free(&copy);
}

Test(accountant, ledger_hdf5_round_trip)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ledger.h5", test_temp_dir());
    accountant_ledger ledger, loaded, empty, loaded_empty;
    fill_ledger(&ledger);
    accountant_ledger_init(&empty);
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0, "%s", err.message);
    cr_assert_eq(accountant_ledger_save_h5(&empty, f, "/privacy/ledger", &err), 0, "%s",
                 err.message);
    /* Saving again replaces the group (checkpoints rewrite it). */
    cr_assert_eq(accountant_ledger_save_h5(&ledger, f, "/privacy/ledger", &err), 0, "%s",
                 err.message);
    cr_assert_eq(accountant_ledger_save_h5(&empty, f, "/empty", &err), 0, "%s", err.message);
    cr_assert_eq(h5io_commit(f, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    cr_assert_eq(accountant_ledger_load_h5(&loaded, f, "/privacy/ledger", &err), 0, "%s",
                 err.message);
    expect_same_ledger(&ledger, &loaded);
    cr_assert_eq(accountant_ledger_load_h5(&loaded_empty, f, "/empty", &err), 0, "%s",
                 err.message);
    cr_expect_eq(loaded_empty.count, 0);
    accountant_ledger missing;
    cr_expect_eq(accountant_ledger_load_h5(&missing, f, "/nothing", &err), -1);
    cr_expect(strstr(err.message, "/nothing") != NULL, "%s", err.message);
    h5io_close(f);
    accountant_ledger_free(&ledger);
    accountant_ledger_free(&loaded);
    accountant_ledger_free(&loaded_empty);
}

Test(accountant, ledger_hdf5_bad_content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.h5", test_temp_dir());
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    double rates[2] = {0.1, 7.0}, sigmas[2] = {1.0, 1.0}, short_sigmas[1] = {1.0};
    long long counts[2] = {5, 5};
    size_t two[1] = {2}, one[1] = {1};
    cr_assert_eq(h5io_write_array(f, "/a/sampling_rate", H5IO_FLOAT64, 1, two, rates, &err), 0);
    cr_assert_eq(h5io_write_array(f, "/a/noise_multiplier", H5IO_FLOAT64, 1, two, sigmas, &err),
                 0);
    cr_assert_eq(h5io_write_array(f, "/a/count", H5IO_INT64, 1, two, counts, &err), 0);
    cr_assert_eq(h5io_write_array(f, "/b/sampling_rate", H5IO_FLOAT64, 1, two, rates, &err), 0);
    cr_assert_eq(h5io_write_array(f, "/b/noise_multiplier", H5IO_FLOAT64, 1, one, short_sigmas,
                                  &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    accountant_ledger ledger;
    cr_expect_eq(accountant_ledger_load_h5(&ledger, f, "/a", &err), -1);
    cr_expect(strstr(err.message, "label") != NULL, "%s", err.message);
    cr_expect_eq(ledger.count, 0);
    cr_expect_eq(accountant_ledger_load_h5(&ledger, f, "/b", &err), -1);
    cr_expect(strstr(err.message, "noise_multiplier") != NULL, "%s", err.message);
    h5io_close(f);
}

Test(accountant, ledger_json_round_trip)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ledger.json", test_temp_dir());
    accountant_ledger ledger, loaded;
    fill_ledger(&ledger);
    dpkit_error err;
    cr_assert_eq(accountant_ledger_save_json(&ledger, path, &err), 0, "%s", err.message);
    cr_assert_eq(accountant_ledger_load_json(&loaded, path, &err), 0, "%s", err.message);
    expect_same_ledger(&ledger, &loaded);
    accountant_ledger_free(&loaded);
    accountant_ledger_free(&ledger);
    accountant_ledger_init(&ledger);
    cr_assert_eq(accountant_ledger_save_json(&ledger, path, &err), 0, "%s", err.message);
    cr_assert_eq(accountant_ledger_load_json(&loaded, path, &err), 0, "%s", err.message);
    cr_expect_eq(loaded.count, 0);
}

Test(accountant, ledger_json_bad_files)
{
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"", "events"},
        {"[1, 2]", "events"},
        {"{\"events\": 3}", "events"},
        {"{\"events\": [", "not valid JSON"},
        {"{\"events\": [7]}", "event 0 must be an object"},
        {"{\"events\": [{\"sampling_rate\": 0.1, \"noise_multiplier\": 1}]}", "required"},
        {"{\"events\": [{\"sampling_rate\": \"x\", \"noise_multiplier\": 1, \"count\": 1}]}",
         "sampling_rate must be a number"},
        {"{\"events\": [{\"sampling_rate\": 0.1, \"noise_multiplier\": 1, \"count\": 1.5}]}",
         "count must be an integer"},
        {"{\"events\": [{\"sampling_rate\": 1.1, \"noise_multiplier\": 1, \"count\": 1}]}",
         "sampling rate"},
        {"{\"events\": [{\"sampling_rate\": 0.1, \"noise_multiplier\": 1, \"count\": 1, "
         "\"sigma\": 2}]}", "unknown key 'sigma'"},
        {"{\"events\": [{\"sampling_rate\": 0.1, \"noise_multiplier\": -1, \"count\": 1}]}",
         "noise multiplier"},
    };
    const char *dir = test_temp_dir();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/bad%zu.json", dir, i);
        cr_assert_eq(test_write_file(path, cases[i].text, strlen(cases[i].text)), 0);
        accountant_ledger ledger;
        dpkit_error err;
        cr_expect_eq(accountant_ledger_load_json(&ledger, path, &err), -1, "case %zu", i);
        cr_expect(strstr(err.message, cases[i].expect) != NULL, "case %zu: %s", i, err.message);
        cr_expect_eq(ledger.count, 0);
    }
    accountant_ledger ledger;
    dpkit_error err;
    cr_expect_eq(accountant_ledger_load_json(&ledger, "/nonexistent/ledger.json", &err), -1);
}

/* ---- CLI ------------------------------------------------------------------------------------- */

Test(accountant, cli_epsilon_text_and_json)
{
    char *out;
    cr_assert_eq(test_run_dpkit("epsilon --sampling-rate 0.01 --noise-multiplier 1.1 --steps "
                                "10000 --delta 1e-5", &out), 0, "%s", out);
    cr_expect(strstr(out, "epsilon = 5.631992") != NULL, "%s", out);
    cr_expect(strstr(out, "order 4.7") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("epsilon --batch-size 512 --dataset-size 60000 --epochs 40 "
                                "--noise-multiplier 1.23 --delta 1e-5 --conversion classic --json",
                                &out), 0, "%s", out);
    cr_expect(strstr(out, "{\"epsilon\": 2.99231569") != NULL, "%s", out);
    cr_expect(strstr(out, "\"order\": 8.8") != NULL, "%s", out);
    cr_expect(strstr(out, "\"accountant\": \"rdp\"") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("epsilon --sampling-rate 0.0682666666666666 --noise-multiplier "
                                "3.04 --steps 560 --delta 1e-5 --extra-gaussian 8:2 --accountant "
                                "pld --json", &out), 0, "%s", out);
    cr_expect(strstr(out, "\"order\": null") != NULL, "%s", out);
    cr_expect(strstr(out, "\"accountant\": \"pld\"") != NULL, "%s", out);
    free(out);
    /* The PLD interval: in JSON its upper end is the epsilon, in text a second line. */
    cr_assert_eq(test_run_dpkit("epsilon --sampling-rate 0.01 --noise-multiplier 1.1 --steps "
                                "10000 --delta 1e-5 --accountant pld --json", &out), 0, "%s", out);
    double reported, lower, upper;
    const char *at = strstr(out, "\"epsilon_interval\": [");
    cr_assert(at && sscanf(out, "{\"epsilon\": %lf", &reported) == 1 &&
                  sscanf(at, "\"epsilon_interval\": [%lf, %lf]", &lower, &upper) == 2, "%s", out);
    cr_expect(upper == reported && lower < upper && lower > 5.19, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("epsilon --sampling-rate 0.01 --noise-multiplier 1.1 --steps "
                                "10000 --delta 1e-5 --accountant pld", &out), 0, "%s", out);
    cr_expect(strstr(out, "PLD interval: [5.1924") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("epsilon --sampling-rate 0.1 --noise-multiplier 0 --steps 1 "
                                "--delta 1e-5 --json", &out), 0, "%s", out);
    cr_expect(strstr(out, "{\"epsilon\": null") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("epsilon --help", &out), 0);
    cr_expect(strstr(out, "floor(N/B)") != NULL, "%s", out);
    cr_expect(strstr(out, "example") != NULL, "%s", out);
    free(out);
}

Test(accountant, cli_calibrate)
{
    char *out;
    cr_assert_eq(test_run_dpkit("calibrate --epsilon 3 --delta 1e-5 --sampling-rate 0.01 "
                                "--steps 5000", &out), 0, "%s", out);
    cr_expect(strstr(out, "noise multiplier = ") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("calibrate --help", &out), 0);
    cr_expect(strstr(out, "--extra-gaussian") != NULL, "%s", out);
    free(out);
    cr_expect_eq(test_run_dpkit("help calibrate", NULL), 0);
}

Test(accountant, cli_bad_input)
{
    static const struct {
        const char *args, *expect;
    } cases[] = {
        {"epsilon --sampling-rate 1.5 --noise-multiplier 1 --steps 10 --delta 1e-5",
         "--sampling-rate"},
        {"epsilon --sampling-rate 0 --noise-multiplier 1 --steps 10 --delta 1e-5",
         "--sampling-rate"},
        {"epsilon --sampling-rate abc --noise-multiplier 1 --steps 10 --delta 1e-5",
         "--sampling-rate"},
        {"epsilon --sampling-rate 0.1 --noise-multiplier -1 --steps 10 --delta 1e-5",
         "--noise-multiplier"},
        {"epsilon --sampling-rate 0.1 --noise-multiplier 1 --steps 10 --delta 1", "--delta"},
        {"epsilon --sampling-rate 0.1 --noise-multiplier 1 --steps 10 --delta 0", "--delta"},
        {"epsilon --sampling-rate 0.1 --noise-multiplier 1 --steps -3 --delta 1e-5", "--steps"},
        {"epsilon --sampling-rate 0.1 --noise-multiplier 1 --steps 2.5 --delta 1e-5", "--steps"},
        {"epsilon --sampling-rate 0.1 --noise-multiplier 1 --steps 10", "--delta"},
        {"epsilon --sampling-rate 0.1 --steps 10 --delta 1e-5", "--noise-multiplier"},
        {"epsilon --sampling-rate 0.1 --batch-size 10 --noise-multiplier 1 --delta 1e-5",
         "not both"},
        {"epsilon --batch-size 100 --dataset-size 50 --epochs 2 --noise-multiplier 1 --delta 1e-5",
         "--batch-size"},
        {"epsilon --sampling-rate 0.1 --noise-multiplier 1 --steps 10 --delta 1e-5 "
         "--accountant moments", "--accountant"},
        {"epsilon --sampling-rate 0.1 --noise-multiplier 1 --steps 10 --delta 1e-5 "
         "--conversion tight", "--conversion"},
        {"epsilon --sampling-rate 0.1 --noise-multiplier 1 --steps 10 --delta 1e-5 "
         "--extra-gaussian 8", "--extra-gaussian"},
        {"epsilon --sampling-rate 0.1 --noise-multiplier 1 --steps 10 --delta 1e-5 --bogus",
         "--bogus"},
        {"calibrate --delta 1e-5 --sampling-rate 0.1 --steps 10", "--epsilon"},
        {"calibrate --epsilon -1 --delta 1e-5 --sampling-rate 0.1 --steps 10", "--epsilon"},
        {"calibrate --epsilon 1 --delta 1e-5 --sampling-rate 0.1 --steps 0", "--steps"},
        {"calibrate --epsilon 1 --delta 2 --sampling-rate 0.1 --steps 10", "--delta"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out;
        cr_expect_eq(test_run_dpkit(cases[i].args, &out), 2, "%s: %s", cases[i].args, out);
        cr_expect(strstr(out, cases[i].expect) != NULL, "%s: %s", cases[i].args, out);
        free(out);
    }
    char *out;
    /* A budget the prior releases alone exceed is a runtime failure (exit 1). */
    cr_expect_eq(test_run_dpkit("calibrate --epsilon 0.1 --delta 1e-5 --sampling-rate 0.1 "
                                "--steps 10 --extra-gaussian 0.5:2", &out), 1, "%s", out);
    free(out);
}
