/* The accountant at the extremes: properties of epsilon over a wide grid of noise, sampling
 * rate, steps and delta (never NaN, monotone, never a small finite value for tiny noise), RDP
 * orders past the default grid and truthful calibration, the PLD memory cap, refused
 * impossible events and ledgers, overflow-checked step counts, and a training that refuses or
 * stops instead of recording epsilon = 0. */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"
#include "accountant/pld_pmf_internal.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- property grid ------------------------------------------------------------------------- */

#define MAX_AXIS 20

typedef struct grid {
    const double *sigmas, *qs, *deltas;
    const long long *steps;
    size_t n_sigma, n_q, n_steps, n_delta;
    accountant_options options;
    /* Rounding-level slack of the monotonicity checks: relative, plus absolute per step (the
     * RDP series resolves log A to ~1e-16 absolute, so a step's RDP to ~1e-15 at order 1.1,
     * which a billion steps multiply), plus absolute (the PLD's epsilon is pessimistic to
     * within its grid step d, docs/maths.md 3.3). */
    double relative_slack, per_step_slack, absolute_slack;
} grid;

/* epsilon, or NAN with *failed set when the accountant refused (PLD over its cap). */
static double grid_epsilon(const grid *g, int extra, double q, double sigma, long long steps,
                           double delta, int *failed)
{
    accountant_event events[2] = {{1.0, 8.0, 2, "private-bn", ACCOUNTANT_SAMPLER_POISSON}, {q, sigma, steps, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON}};
    double epsilon = NAN;
    dpkit_error err;
    *failed = 0;
    if (accountant_epsilon(extra ? events : events + 1, extra ? 2 : 1, delta, &g->options,
                           &epsilon, NULL, &err) != 0) {
        /* The only refusal allowed on valid events: the PLD's memory cap, said clearly. */
        cr_expect(g->options.kind == ACCOUNTANT_PLD && strstr(err.message, "grid points") &&
                      strstr(err.message, "--accountant rdp"),
                  "q=%g sigma=%g steps=%lld delta=%g extra=%d: %s", q, sigma, steps, delta, extra,
                  err.message);
        *failed = 1;
        return NAN;
    }
    cr_expect(!isnan(epsilon) && epsilon >= 0.0, "q=%g sigma=%g steps=%lld delta=%g extra=%d: %g",
              q, sigma, steps, delta, extra, epsilon);
    return epsilon;
}

/* a <= b up to the slack at `steps` steps (both may be +inf). */
static int at_most(const grid *g, double a, double b, long long steps)
{
    return a <= b || a <= b * (1.0 + g->relative_slack) + g->absolute_slack +
                              g->per_step_slack * (double)steps;
}

static void check_grid(const grid *g)
{
    size_t ns = g->n_sigma, nq = g->n_q, nt = g->n_steps, nd = g->n_delta;
    cr_assert(ns <= MAX_AXIS && nq <= MAX_AXIS && nt <= MAX_AXIS && nd <= MAX_AXIS);
    size_t total = 2 * nq * nt * nd * ns;
    double *eps = malloc(total * sizeof *eps);
    cr_assert_not_null(eps);
#define AT(x, iq, it, id, is) eps[((((x) * nq + (iq)) * nt + (it)) * nd + (id)) * ns + (is)]
    size_t evaluated = 0;
    for (int x = 0; x < 2; x++)
        for (size_t iq = 0; iq < nq; iq++)
            for (size_t it = 0; it < nt; it++)
                for (size_t id = 0; id < nd; id++)
                    for (size_t is = 0; is < ns; is++) {
                        int failed;
                        AT(x, iq, it, id, is) = grid_epsilon(g, x, g->qs[iq], g->sigmas[is],
                                                             g->steps[it], g->deltas[id], &failed);
                        evaluated += !failed;
                    }
    cr_expect_gt(evaluated, total / 2, "only %zu of %zu points evaluated", evaluated, total);
    size_t reference = ns;
    for (size_t is = 0; is < ns; is++)
        if (g->sigmas[is] == 1e-3)
            reference = is;
    cr_assert_lt(reference, ns, "the grid must hold sigma = 1e-3");
    for (int x = 0; x < 2; x++)
        for (size_t iq = 0; iq < nq; iq++)
            for (size_t it = 0; it < nt; it++)
                for (size_t id = 0; id < nd; id++)
                    for (size_t is = 0; is < ns; is++) {
                        double e = AT(x, iq, it, id, is);
                        double q = g->qs[iq], s = g->sigmas[is], d = g->deltas[id];
                        long long t = g->steps[it];
                        if (isnan(e))
                            continue;
                        /* Less noise never costs less privacy. */
                        if (is + 1 < ns && !isnan(AT(x, iq, it, id, is + 1)))
                            cr_expect(at_most(g, AT(x, iq, it, id, is + 1), e, t),
                                      "sigma: q=%g sigma=%g->%g steps=%lld delta=%g x=%d: %.12g "
                                      "-> %.12g", q, s, g->sigmas[is + 1], t, d, x, e,
                                      AT(x, iq, it, id, is + 1));
                        if (iq + 1 < nq && !isnan(AT(x, iq + 1, it, id, is)))
                            cr_expect(at_most(g, e, AT(x, iq + 1, it, id, is), t),
                                      "q: q=%g->%g sigma=%g steps=%lld delta=%g x=%d: %.12g -> "
                                      "%.12g", q, g->qs[iq + 1], s, t, d, x, e,
                                      AT(x, iq + 1, it, id, is));
                        if (it + 1 < nt && !isnan(AT(x, iq, it + 1, id, is)))
                            cr_expect(at_most(g, e, AT(x, iq, it + 1, id, is), g->steps[it + 1]),
                                      "steps: q=%g sigma=%g steps=%lld->%lld delta=%g x=%d: "
                                      "%.12g -> %.12g", q, s, t, g->steps[it + 1], d, x, e,
                                      AT(x, iq, it + 1, id, is));
                        /* Tiny noise: +inf or at least what sigma = 1e-3 spends, never a small
                         * finite number (the old fmax(NaN, 0) = 0). */
                        double at_reference = AT(x, iq, it, id, reference);
                        if (s < 1e-3 && !isnan(at_reference))
                            cr_expect(isinf(e) || e >= at_reference,
                                      "tiny sigma: q=%g sigma=%g steps=%lld delta=%g x=%d: %.12g "
                                      "below %.12g at sigma 1e-3", q, s, t, d, x, e, at_reference);
                    }
#undef AT
    free(eps);
}

static const double rdp_sigmas[] = {1e-320, 1e-300, 1e-200, 1e-154, 1e-153, 1e-100, 1e-10,
                                    1e-4,   1e-3,   0.01,   0.3,    1.0,    3.0,    30.0,
                                    1e3,    1e6};
static const double rdp_qs[] = {1e-12, 1e-6, 1e-3, 0.05, 0.5, 1.0};
static const long long rdp_steps[] = {1, 1000, 1000000000LL};
static const double rdp_deltas[] = {1e-300, 1e-5, 0.5};

static void rdp_grid(accountant_conversion conversion)
{
    grid g = {rdp_sigmas, rdp_qs, rdp_deltas, rdp_steps,
              sizeof rdp_sigmas / sizeof *rdp_sigmas, sizeof rdp_qs / sizeof *rdp_qs,
              sizeof rdp_steps / sizeof *rdp_steps, sizeof rdp_deltas / sizeof *rdp_deltas,
              {0}, 1e-9, 1e-15, 0.0};
    accountant_options_default(&g.options);
    g.options.conversion = conversion;
    check_grid(&g);
}

Test(accountant_extremes, rdp_improved_over_extreme_grid)
{
    rdp_grid(ACCOUNTANT_CONVERSION_IMPROVED);
}

Test(accountant_extremes, rdp_classic_over_extreme_grid)
{
    rdp_grid(ACCOUNTANT_CONVERSION_CLASSIC);
}

Test(accountant_extremes, pld_over_extreme_grid)
{
    static const double sigmas[] = {1e-320, 1e-300, 1e-150, 1e-3, 2.0, 5.0, 1e3, 1e6};
    static const double qs[] = {1e-12, 0.01, 1.0};
    static const long long steps[] = {1, 100, 1000000000LL};
    static const double deltas[] = {1e-300, 1e-5, 0.5};
    grid g = {sigmas, qs, deltas, steps, 8, 3, 3, 3, {0}, 1e-9, 1e-15, 0.0};
    accountant_options_default(&g.options);
    g.options.kind = ACCOUNTANT_PLD;
    g.absolute_slack = g.options.pld_discretization;
    check_grid(&g);
}

/* ---- tiny noise, directly --------------------------------------------------------------- */

Test(accountant_extremes, underflowing_noise_is_infinite)
{
    const double sigmas[] = {1e-320, 1e-300, 1e-160, 1.4e-154};
    for (size_t i = 0; i < 4; i++) {
        cr_expect(isinf(accountant_rdp_subsampled_gaussian(0.01, sigmas[i], 2.0)), "%g",
                  sigmas[i]);
        cr_expect(isinf(accountant_rdp_subsampled_gaussian(0.01, sigmas[i], 2.5)), "%g",
                  sigmas[i]);
        for (int kind = 0; kind < 2; kind++) {
            accountant_options o;
            accountant_options_default(&o);
            o.kind = kind ? ACCOUNTANT_PLD : ACCOUNTANT_RDP;
            accountant_event event = {0.01, sigmas[i], 1000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
            double epsilon = 0.0, delta = 0.0;
            dpkit_error err;
            cr_assert_eq(accountant_epsilon(&event, 1, 1e-5, &o, &epsilon, NULL, &err), 0, "%s",
                         err.message);
            cr_expect(isinf(epsilon), "sigma %g kind %d: %g", sigmas[i], kind, epsilon);
            cr_assert_eq(accountant_delta(&event, 1, 1.0, &o, &delta, &err), 0, "%s",
                         err.message);
            cr_expect_eq(delta, 1.0, "sigma %g kind %d: delta %g", sigmas[i], kind, delta);
        }
    }
    /* The budget guard: not one step fits, and calibration never picks such a sigma. */
    long long steps = -1;
    dpkit_error err;
    cr_assert_eq(accountant_max_steps(3.0, 1e-5, 0.01, 1e-300, NULL, 0, NULL, &steps, &err), 0,
                 "%s", err.message);
    cr_expect_eq(steps, 0);
    accountant_event prior = {1.0, 1e-300, 2, "private-bn", ACCOUNTANT_SAMPLER_POISSON};
    cr_expect_eq(accountant_max_steps(3.0, 1e-5, 0.01, 1.0, &prior, 1, NULL, &steps, &err), 0);
    cr_expect_eq(steps, 0);
    double sigma;
    cr_expect_eq(accountant_calibrate_noise(3.0, 1e-5, 0.01, 100, &prior, 1, NULL, &sigma, &err),
                 -1);
    cr_expect(strstr(err.message, "prior") != NULL, "%s", err.message);
}

Test(accountant_extremes, impossible_events_are_refused)
{
    const accountant_event bad[] = {
        {NAN, 1.0, 10, "", ACCOUNTANT_SAMPLER_POISSON},  {-0.1, 1.0, 10, "", ACCOUNTANT_SAMPLER_POISSON}, {1.0000001, 1.0, 10, "", ACCOUNTANT_SAMPLER_POISSON},
        {0.1, NAN, 10, "", ACCOUNTANT_SAMPLER_POISSON},  {0.1, -1e-300, 10, "", ACCOUNTANT_SAMPLER_POISSON}, {0.1, INFINITY, 10, "", ACCOUNTANT_SAMPLER_POISSON},
        {0.1, 1.0, -1, "", ACCOUNTANT_SAMPLER_POISSON},
    };
    const char *expect[] = {"sampling rate", "sampling rate", "sampling rate", "noise multiplier",
                            "noise multiplier", "noise multiplier", "count"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (int kind = 0; kind < 2; kind++) {
            accountant_options o;
            accountant_options_default(&o);
            o.kind = kind ? ACCOUNTANT_PLD : ACCOUNTANT_RDP;
            double value = -7.0;
            dpkit_error err;
            cr_expect_eq(accountant_epsilon(&bad[i], 1, 1e-5, &o, &value, NULL, &err), -1,
                         "case %zu", i);
            cr_expect(strstr(err.message, expect[i]) != NULL, "case %zu: %s", i, err.message);
            cr_expect_eq(accountant_delta(&bad[i], 1, 1.0, &o, &value, &err), -1, "case %zu", i);
        }
        accountant_ledger ledger;
        accountant_ledger_init(&ledger);
        dpkit_error err;
        cr_expect_eq(accountant_ledger_record(&ledger, bad[i].sampling_rate,
                                              bad[i].noise_multiplier, bad[i].count, "x", &err),
                     -1, "case %zu", i);
        cr_expect_eq(ledger.count, 0);
        accountant_ledger_free(&ledger);
    }
}

/* ---- ledgers with impossible values ------------------------------------------------------- */

/* Writes a one-event ledger group with the given values and labels. */
static void write_ledger_group(h5io_file *f, const char *group, double rate, double sigma,
                               long long count)
{
    accountant_ledger ledger;
    accountant_ledger_init(&ledger);
    dpkit_error err;
    cr_assert_eq(accountant_ledger_record(&ledger, 0.5, 1.0, 1, "dp-sgd", &err), 0);
    cr_assert_eq(accountant_ledger_save_h5(&ledger, f, group, &err), 0, "%s", err.message);
    accountant_ledger_free(&ledger);
    /* Then overwrite the columns with the values under test. */
    char path[256];
    size_t one[1] = {1};
    snprintf(path, sizeof path, "%s/sampling_rate", group);
    H5Ldelete(f->id, path, H5P_DEFAULT);
    cr_assert_eq(h5io_write_array(f, path, H5IO_FLOAT64, 1, one, &rate, &err), 0);
    snprintf(path, sizeof path, "%s/noise_multiplier", group);
    H5Ldelete(f->id, path, H5P_DEFAULT);
    cr_assert_eq(h5io_write_array(f, path, H5IO_FLOAT64, 1, one, &sigma, &err), 0);
    snprintf(path, sizeof path, "%s/count", group);
    H5Ldelete(f->id, path, H5P_DEFAULT);
    cr_assert_eq(h5io_write_array(f, path, H5IO_INT64, 1, one, &count, &err), 0);
}

Test(accountant_extremes, ledger_with_impossible_values_is_refused)
{
    char path[512];
    snprintf(path, sizeof path, "%s/impossible.h5", test_temp_dir());
    static const struct {
        double rate, sigma;
        long long count;
        const char *field;
    } cases[] = {
        {0.1, NAN, 3, "noise_multiplier"}, {0.1, -2.0, 3, "noise_multiplier"},
        {0.1, INFINITY, 3, "noise_multiplier"}, {NAN, 1.0, 3, "sampling_rate"},
        {1.5, 1.0, 3, "sampling_rate"},   {0.1, 1.0, -4, "count"},
    };
    size_t n = sizeof cases / sizeof *cases;
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_create(path, &f, &err), 0, "%s", err.message);
    for (size_t i = 0; i < n; i++) {
        char group[64];
        snprintf(group, sizeof group, "/case%zu", i);
        write_ledger_group(f, group, cases[i].rate, cases[i].sigma, cases[i].count);
    }
    cr_assert_eq(h5io_commit(f, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    for (size_t i = 0; i < n; i++) {
        char group[64];
        snprintf(group, sizeof group, "/case%zu", i);
        accountant_ledger ledger;
        cr_expect_eq(accountant_ledger_load_h5(&ledger, f, group, &err), -1, "case %zu", i);
        cr_expect(strstr(err.message, path) && strstr(err.message, group) &&
                      strstr(err.message, cases[i].field),
                  "case %zu: %s", i, err.message);
        cr_expect_eq(ledger.count, 0);
    }
    h5io_close(f);
    /* The JSON ledger names the key too. */
    snprintf(path, sizeof path, "%s/impossible.json", test_temp_dir());
    const char *text = "{\"events\": [{\"sampling_rate\": 0.1, \"noise_multiplier\": -1e-300, "
                       "\"count\": 1}]}";
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0);
    accountant_ledger ledger;
    cr_expect_eq(accountant_ledger_load_json(&ledger, path, &err), -1);
    cr_expect(strstr(err.message, path) && strstr(err.message, "noise_multiplier"), "%s",
              err.message);
}

/* ---- RDP orders and calibration --------------------------------------------------------- */

/* Tramer & Boneh's MNIST schedule (B = 4096, N = 60000, 40 epochs) at epsilon 0.1. */
#define SCHEDULE_Q (4096.0 / 60000.0)
#define SCHEDULE_STEPS 560LL

Test(accountant_extremes, calibration_at_small_epsilon_is_truthful)
{
    accountant_options rdp, pld;
    accountant_options_default(&rdp);
    accountant_options_default(&pld);
    pld.kind = ACCOUNTANT_PLD;
    double sigma_rdp, sigma_pld;
    dpkit_error err;
    cr_assert_eq(accountant_calibrate_noise(0.1, 1e-5, SCHEDULE_Q, SCHEDULE_STEPS, NULL, 0, &rdp,
                                            &sigma_rdp, &err), 0, "%s", err.message);
    cr_assert_eq(accountant_calibrate_noise(0.1, 1e-5, SCHEDULE_Q, SCHEDULE_STEPS, NULL, 0, &pld,
                                            &sigma_pld, &err), 0, "%s", err.message);
    /* Orders up to 63 alone gave 106122 (only the KL branch got below 0.1); PLD gives 49.8. */
    cr_expect(sigma_rdp >= sigma_pld && sigma_rdp <= 1.25 * sigma_pld, "RDP %g, PLD %g",
              sigma_rdp, sigma_pld);
    /* The bound at the answer is attained past the default grid, and meets the target. */
    accountant_event event = {SCHEDULE_Q, sigma_rdp, SCHEDULE_STEPS, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    double epsilon, order;
    cr_assert_eq(accountant_epsilon(&event, 1, 1e-5, &rdp, &epsilon, &order, &err), 0);
    cr_expect_leq(epsilon, 0.1);
    cr_expect(order > 63.0 && order < ACCOUNTANT_RDP_MAX_ORDER, "order %g", order);
    cr_expect(!accountant_rdp_order_at_edge(order));
    /* Every order is a valid bound: the extended search only ever lowers the default grid's. */
    const double *orders;
    size_t n = accountant_rdp_default_orders(&orders);
    double curve[256], on_default;
    cr_assert_eq(accountant_rdp_curve(&event, 1, orders, n, curve, &err), 0);
    cr_assert_eq(accountant_rdp_to_epsilon(orders, curve, n, 1e-5, rdp.conversion, &on_default,
                                           NULL, &err), 0);
    cr_expect_lt(epsilon, on_default);
    /* And the delta at that epsilon agrees with the extended epsilon. */
    double delta;
    cr_assert_eq(accountant_delta(&event, 1, epsilon, &rdp, &delta, &err), 0);
    cr_expect_leq(delta, 1e-5 * (1 + 1e-6), "delta %g", delta);
    /* Where even order 1024 is not enough, the RDP calibration refuses and says what to use. */
    cr_expect_eq(accountant_calibrate_noise(0.003, 1e-5, SCHEDULE_Q, SCHEDULE_STEPS, NULL, 0, &rdp,
                                            &sigma_rdp, &err), -1);
    cr_expect(strstr(err.message, "--accountant pld") != NULL, "%s", err.message);
}

/* ---- PLD memory and overflow ------------------------------------------------------------ */

Test(accountant_extremes, pld_memory_is_capped)
{
    accountant_options o;
    accountant_options_default(&o);
    o.kind = ACCOUNTANT_PLD;
    dpkit_error err;
    double epsilon;
    /* 6e7 points for one step at sigma = 0.01 (the old code went on to a 167 GB FFT). */
    accountant_event small = {0.01, 0.01, 1000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    cr_expect_eq(accountant_epsilon(&small, 1, 1e-5, &o, &epsilon, NULL, &err), -1);
    cr_expect(strstr(err.message, "noise multiplier 0.01") && strstr(err.message, "grid points") &&
                  strstr(err.message, "discretization") && strstr(err.message, "--accountant rdp"),
              "%s", err.message);
    /* A fine single step, composed 1e12 times: the Chernoff window is over the cap. */
    accountant_event many = {0.01, 1.0, 1000000000000LL, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    cr_expect_eq(accountant_epsilon(&many, 1, 1e-5, &o, &epsilon, NULL, &err), -1);
    cr_expect(strstr(err.message, "grid points") && strstr(err.message, "noise multiplier 1"),
              "%s", err.message);
}

Test(accountant_extremes, pld_offset_product_is_checked)
{
    pld_pmf in, out;
    dpkit_error err;
    cr_assert_eq(pld_pmf_alloc(&in, 2, &err), 0);
    in.p[0] = in.p[1] = 0.5;
    in.offset = -(1LL << 50);
    cr_expect_eq(pld_pmf_self_compose(&in, 1LL << 20, 1e-15, PLD_PESSIMISTIC, &out, &err), -1);
    cr_expect(strstr(err.message, "overflows") != NULL, "%s", err.message);
    pld_pmf_free(&in);
}

/* ---- CLI ------------------------------------------------------------------------------------ */

Test(accountant_extremes, cli_tiny_noise_is_infinite)
{
    const char *sigmas[] = {"1e-300", "1e-200", "1e-154"};
    for (size_t i = 0; i < 3; i++) {
        char args[256], *out;
        snprintf(args, sizeof args, "epsilon --noise-multiplier %s --sampling-rate 0.01 --steps "
                                    "1000 --delta 1e-5", sigmas[i]);
        cr_expect_eq(test_run_dpkit(args, &out), 0, "%s", out);
        cr_expect(strstr(out, "epsilon = inf") != NULL, "%s: %s", sigmas[i], out);
        free(out);
        snprintf(args, sizeof args, "epsilon --noise-multiplier %s --sampling-rate 0.01 --steps "
                                    "1000 --delta 1e-5 --json", sigmas[i]);
        cr_expect_eq(test_run_dpkit(args, &out), 0, "%s", out);
        cr_expect(strstr(out, "{\"epsilon\": null") != NULL, "%s: %s", sigmas[i], out);
        free(out);
    }
    char *out;
    /* A subnormal is refused as a number out of range. */
    cr_expect_eq(test_run_dpkit("epsilon --noise-multiplier 1e-320 --sampling-rate 0.01 --steps "
                                "1000 --delta 1e-5", &out), 2, "%s", out);
    cr_expect(strstr(out, "--noise-multiplier") != NULL, "%s", out);
    free(out);
    cr_expect_eq(test_run_dpkit("epsilon --noise-multiplier 0.01 --sampling-rate 0.01 --steps "
                                "1000 --delta 1e-5 --accountant pld", &out), 1, "%s", out);
    cr_expect(strstr(out, "grid points") && strstr(out, "--accountant rdp"), "%s", out);
    free(out);
    /* Past order 63: epsilon 0.1 at the calibrated noise, not the KL branch's 106122. */
    cr_expect_eq(test_run_dpkit("calibrate --epsilon 0.1 --delta 1e-5 --batch-size 4096 "
                                "--dataset-size 60000 --epochs 40 --json", &out), 0, "%s", out);
    double sigma = 0.0;
    const char *at = out ? strstr(out, "\"noise_multiplier\": ") : NULL;
    cr_assert_not_null(at, "%s", out);
    sigma = strtod(at + strlen("\"noise_multiplier\": "), NULL);
    cr_expect(sigma > 49.0 && sigma < 1.25 * 49.8, "sigma %g", sigma);
    free(out);
    cr_expect_eq(test_run_dpkit("calibrate --epsilon 0.003 --delta 1e-5 --batch-size 4096 "
                                "--dataset-size 60000 --epochs 40", &out), 1, "%s", out);
    cr_expect(strstr(out, "--accountant pld") != NULL, "%s", out);
    free(out);
    /* The grid's largest order is said to be an edge. */
    cr_expect_eq(test_run_dpkit("epsilon --noise-multiplier 2000 --delta 1e-5 --batch-size 4096 "
                                "--dataset-size 60000 --epochs 40", &out), 0, "%s", out);
    cr_expect(strstr(out, "order 1024") && strstr(out, "note:"), "%s", out);
    free(out);
}

Test(accountant_extremes, cli_step_product_overflow)
{
    static const char *cases[] = {
        "epsilon --dataset-size 9223372036854775807 --batch-size 1 --epochs 2 "
        "--noise-multiplier 1 --delta 1e-5",
        "calibrate --epsilon 1 --dataset-size 9223372036854775807 --batch-size 1 --epochs 2 "
        "--delta 1e-5",
        "epsilon --dataset-size 4611686018427387904 --batch-size 2 --epochs 5 "
        "--noise-multiplier 1 --delta 1e-5",
    };
    for (size_t i = 0; i < 3; i++) {
        char *out;
        cr_expect_eq(test_run_dpkit(cases[i], &out), 2, "%s: %s", cases[i], out);
        cr_expect(strstr(out, "overflows") && strstr(out, "--dataset-size") &&
                      strstr(out, "--epochs") && !strstr(out, "must be >= 0"),
                  "%s: %s", cases[i], out);
        free(out);
    }
    /* The largest product that fits is accepted. */
    char *out;
    cr_expect_eq(test_run_dpkit("epsilon --dataset-size 9223372036854775807 --batch-size "
                                "9223372036854775807 --epochs 9223372036854775807 "
                                "--noise-multiplier 1e6 --delta 1e-5", &out), 0, "%s", out);
    free(out);
}

/* ---- training --------------------------------------------------------------------------- */

static const char *tiny_setup(char *config, size_t size)
{
    const char *dir = test_run_dir(test_tiny_config, config, size);
    cr_assert_not_null(dir);
    return dir;
}

Test(accountant_extremes, train_refuses_underflowing_noise)
{
    char config[1200], args[4096], *out;
    const char *dir = tiny_setup(config, sizeof config);
    const char *sets[] = {"--set privacy.noise_multiplier=1e-300",
                          "--set privacy.noise_multiplier=1e-300 --set privacy.epsilon=0"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "-q train %s --output %s/run%d --set training.epochs=2 %s",
                 config, dir, i, sets[i]);
        cr_expect_eq(test_run_dpkit(args, &out), 1, "%s", out);
        cr_expect(strstr(out, "privacy.noise_multiplier") && strstr(out, "epsilon = inf"), "%s",
                  out);
        free(out);
        char model[1200];
        snprintf(model, sizeof model, "%s/run%d/model.h5", dir, i);
        cr_expect_null(test_read_file(model, NULL), "%s was written", model);
    }
}

/* Overwrites the first value of a 1-D dataset of an existing HDF5 file in place. */
static void poke_double(const char *file, const char *dataset, double value)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0, "%s", file);
    hid_t set = H5Dopen2(f, dataset, H5P_DEFAULT);
    cr_assert_geq(set, 0, "%s", dataset);
    hid_t space = H5Dget_space(set);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    cr_assert(n >= 1 && n <= 64, "%s has %lld values", dataset, (long long)n);
    double values[64];
    cr_assert_geq(H5Dread(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0);
    values[0] = value;
    cr_assert_geq(H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0);
    H5Dclose(set);
    H5Fclose(f);
}

Test(accountant_extremes, resume_with_impossible_ledger)
{
    char config[1200], args[4096], checkpoint[1200], *out;
    const char *dir = tiny_setup(config, sizeof config);
    snprintf(args, sizeof args, "-q train %s --output %s/run --set training.epochs=2 --max-epochs 1",
             config, dir);
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    free(out);
    snprintf(checkpoint, sizeof checkpoint, "%s/run/checkpoint.h5", dir);
    /* The ledger's first event is a private-bn release (q = 1). */
    poke_double(checkpoint, "/state/ledger/noise_multiplier", NAN);
    snprintf(args, sizeof args, "-q train %s --output %s/run --set training.epochs=2 --resume", config, dir);
    cr_expect_eq(test_run_dpkit(args, &out), 1, "%s", out);
    cr_expect(strstr(out, checkpoint) && strstr(out, "noise_multiplier"), "%s", out);
    free(out);
    /* A private-bn release with noise 1e-300: accounted as epsilon = inf, so the budget guard
     * stops the run before any step, and epsilon is never recorded as 0. */
    poke_double(checkpoint, "/state/ledger/noise_multiplier", 1e-300);
    cr_expect_eq(test_run_dpkit(args, &out), 0, "%s", out);
    free(out);
    char summary[1200];
    snprintf(summary, sizeof summary, "%s/run/summary.json", dir);
    char *text = test_read_file(summary, NULL);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "\"budget_exhausted\": true") != NULL, "%s", text);
    cr_expect(strstr(text, "\"epsilon\": 0") == NULL && strstr(text, "\"epsilon\": 4") == NULL,
              "%s", text);
    free(text);
}
