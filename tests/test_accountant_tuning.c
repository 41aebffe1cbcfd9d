/* The privacy cost of hyperparameter tuning (Papernot & Steinke 2022, docs/maths.md 2.11): the
 * expected number of runs, the tuned RDP curve against the closed form for a Gaussian, the tuned
 * epsilon above the single run's, the ledger record through JSON and HDF5, and refusals. */
#include "accountant/accountant.h"
#include "common/h5io.h"
#include "common/rng.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

Test(accountant_tuning, expected_runs)
{
    /* eta = 1: geometric, P(K = k) = gamma (1 - gamma)^(k-1), mean 1/gamma. */
    cr_expect_float_eq(accountant_tuning_expected_runs(1.0, 0.1), 10.0, 1e-12);
    /* eta = 0: logarithmic, mean (1/gamma - 1) / log(1/gamma). */
    cr_expect_float_eq(accountant_tuning_expected_runs(0.0, 0.5), 1.0 / log(2.0), 1e-12);
    /* The general form tends to the logarithmic one as eta -> 0. */
    double near = accountant_tuning_expected_runs(1e-7, 0.5);
    cr_expect(fabs(near - 1.0 / log(2.0)) < 1e-6, "%.12g", near);
    /* eta = 2, gamma = 0.5: 2 (1/2) / (1/2 (1 - 1/4)) = 8/3. */
    cr_expect_float_eq(accountant_tuning_expected_runs(2.0, 0.5), 8.0 / 3.0, 1e-12);
}

/* 100 releases at q = 1, sigma = 10 are one Gaussian with sigma 1: RDP alpha / 2 at every order.
 * For eta = 1, Theorem 2's minimum over lambda_hat of (lambda_hat - 1)/sigma^2 + 2 log(1/gamma) /
 * lambda_hat is at lambda_hat = sigma sqrt(2 log(1/gamma)); the grid's minimum is at or just
 * above the continuous one. */
Test(accountant_tuning, gaussian_closed_form)
{
    accountant_event event = {1.0, 10.0, 100, "full-batch", ACCOUNTANT_SAMPLER_POISSON};
    const double *orders;
    size_t n = accountant_rdp_default_orders(&orders);
    double rdp[256], tuned[256];
    dpkit_error err;
    cr_assert_eq(accountant_rdp_curve(&event, 1, orders, n, rdp, &err), 0);
    double gamma = 0.05;
    cr_assert_eq(accountant_tuning_rdp(orders, rdp, n, 1.0, gamma, tuned, &err), 0);
    double l = log(1.0 / gamma), star = sqrt(2.0 * l);
    double continuous = (star - 1.0) + 2.0 * l / star;
    for (size_t i = 0; i < n; i++) {
        cr_expect_float_eq(rdp[i], orders[i] / 2.0, 1e-9 * orders[i]);
        double extra = tuned[i] - rdp[i] - l / (orders[i] - 1.0);
        cr_expect(extra >= continuous - 1e-12 && extra <= continuous + 0.01,
                  "order %g: %.12g against %.12g", orders[i], extra, continuous);
    }
}

static double tuned_epsilon(double eta, double gamma)
{
    accountant_event event = {0.01, 1.1, 10000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    double eps;
    dpkit_error err;
    cr_assert_eq(accountant_tuning_epsilon(&event, 1, eta, gamma, 1e-5, NULL, &eps, NULL, &err), 0,
                 "%s", err.message);
    return eps;
}

Test(accountant_tuning, costs_more_with_more_runs)
{
    accountant_event event = {0.01, 1.1, 10000, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    double single;
    dpkit_error err;
    cr_assert_eq(accountant_epsilon(&event, 1, 1e-5, NULL, &single, NULL, &err), 0);
    double ten = tuned_epsilon(1.0, 0.1), hundred = tuned_epsilon(1.0, 0.01);
    cr_expect(single < ten && ten < hundred, "%g %g %g", single, ten, hundred);
    /* Nothing released: no privacy spent however many runs. */
    accountant_event none = {0.01, 1.1, 0, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    double eps = -1.0;
    cr_assert_eq(accountant_tuning_epsilon(&none, 1, 1.0, 0.1, 1e-5, NULL, &eps, NULL, &err), 0);
    cr_expect_eq(eps, 0.0);
}

Test(accountant_tuning, refusals)
{
    accountant_event event = {0.01, 1.1, 100, "dp-sgd", ACCOUNTANT_SAMPLER_POISSON};
    accountant_options pld;
    accountant_options_default(&pld);
    pld.kind = ACCOUNTANT_PLD;
    double eps;
    dpkit_error err;
    cr_expect_eq(accountant_tuning_epsilon(&event, 1, 1.0, 0.1, 1e-5, &pld, &eps, NULL, &err), -1);
    cr_expect(strstr(err.message, "RDP") != NULL, "%s", err.message);
    cr_expect_eq(accountant_tuning_check(-1.0, 0.5, &err), -1);
    cr_expect(strstr(err.message, "eta = -1") != NULL, "%s", err.message);
    cr_expect_eq(accountant_tuning_check(1.0, 1.0, &err), -1);
    cr_expect(strstr(err.message, "gamma = 1") != NULL, "%s", err.message);
    accountant_ledger ledger;
    accountant_ledger_init(&ledger);
    cr_expect_eq(accountant_ledger_set_tuning(&ledger, 1.0, 0.1, &err), 0);
    cr_expect_eq(accountant_ledger_set_tuning(&ledger, 1.0, 0.1, &err), -1);
    cr_expect(strstr(err.message, "already") != NULL, "%s", err.message);
    accountant_ledger_free(&ledger);
}

/* Writes `text` to NAME in the scratch directory; *path receives its path. */
static void temp_json(const char *name, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", test_temp_dir(), name);
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0, "%s", path);
}

/* A ledger with a tuning record keeps it through JSON and HDF5, and its epsilon is the tuned one. */
Test(accountant_tuning, ledger_round_trip)
{
    accountant_ledger ledger, json, h5;
    accountant_ledger_init(&ledger);
    dpkit_error err;
    cr_assert_eq(accountant_ledger_record(&ledger, 0.01, 1.1, 10000, "dp-sgd", &err), 0);
    cr_assert_eq(accountant_ledger_set_tuning(&ledger, 0.5, 0.2, &err), 0);
    double expected = tuned_epsilon(0.5, 0.2), eps;
    cr_assert_eq(accountant_ledger_epsilon(&ledger, 1e-5, NULL, &eps, NULL, &err), 0);
    cr_expect_eq(eps, expected);

    char path[1200];
    snprintf(path, sizeof path, "%s/tuned.json", test_temp_dir());
    cr_assert_eq(accountant_ledger_save_json(&ledger, path, &err), 0, "%s", err.message);
    cr_assert_eq(accountant_ledger_load_json(&json, path, &err), 0, "%s", err.message);
    cr_expect(json.tuning.enabled && json.tuning.eta == 0.5 && json.tuning.gamma == 0.2);
    cr_assert_eq(accountant_ledger_epsilon(&json, 1e-5, NULL, &eps, NULL, &err), 0);
    cr_expect_eq(eps, expected);

    snprintf(path, sizeof path, "%s/tuned.h5", test_temp_dir());
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(accountant_ledger_save_h5(&ledger, f, "/ledger", &err), 0, "%s", err.message);
    cr_assert_eq(h5io_commit(f, &err), 0);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    cr_assert_eq(accountant_ledger_load_h5(&h5, f, "/ledger", &err), 0, "%s", err.message);
    h5io_close(f);
    cr_expect(h5.tuning.enabled && h5.tuning.eta == 0.5 && h5.tuning.gamma == 0.2);

    /* A JSON tuning record with a bad field is refused, naming it. */
    temp_json("bad.json", "{\"events\": [], \"tuning\": {\"distribution\": \"poisson\", "
                          "\"eta\": 1, \"gamma\": 0.5}}\n", path, sizeof path);
    accountant_ledger bad;
    cr_expect_eq(accountant_ledger_load_json(&bad, path, &err), -1);
    cr_expect(strstr(err.message, "distribution = poisson") != NULL, "%s", err.message);
    accountant_ledger_free(&ledger);
    accountant_ledger_free(&json);
    accountant_ledger_free(&h5);
}

Test(accountant_tuning, cli_ledger)
{
    char path[1200];
    temp_json("cli-tuned.json",
              "{\"events\": [{\"sampling_rate\": 0.01, \"noise_multiplier\": 1.1, \"count\": "
              "10000, \"label\": \"dp-sgd\"}], \"tuning\": {\"distribution\": "
              "\"truncated-negative-binomial\", \"eta\": 1, \"gamma\": 0.1}}\n",
              path, sizeof path);
    char *text;
    cr_assert_eq(test_run_dpkitf(&text, "epsilon --ledger %s --delta 1e-5", path), 0, "%s", text);
    char expected[64];
    snprintf(expected, sizeof expected, "epsilon = %.6f", tuned_epsilon(1.0, 0.1));
    cr_expect(strstr(text, expected) != NULL && strstr(text, "E[K] = 10") != NULL, "%s", text);
    free(text);
    cr_expect_eq(test_run_dpkitf(&text, "epsilon --ledger %s --delta 1e-5 --accountant pld",
                                 path), 1);
    cr_expect(strstr(text, "RDP") != NULL, "%s", text);
    free(text);
}

/* The inverse CDF: u below P[K = 1] gives 1, just above it 2; the mean of many draws is E[K]
 * (geometric, mean 10, sd 9.5: the mean of 20000 draws has sd 0.07, the tolerance is 0.5). */
Test(accountant_tuning, draw_runs)
{
    double p1 = 0.1; /* eta = 1, gamma = 0.1: P[K = 1] = gamma */
    cr_expect_eq(accountant_tuning_draw_runs(1.0, 0.1, 0.0), 1);
    cr_expect_eq(accountant_tuning_draw_runs(1.0, 0.1, p1 * 0.999), 1);
    cr_expect_eq(accountant_tuning_draw_runs(1.0, 0.1, p1 * 1.001), 2);
    rng r;
    rng_init_seed(&r, 7, 0);
    double eta[3] = {1.0, 0.0, 2.0}, gamma[3] = {0.1, 0.3, 0.2};
    for (int c = 0; c < 3; c++) {
        double sum = 0.0;
        for (int i = 0; i < 20000; i++)
            sum += (double)accountant_tuning_draw_runs(eta[c], gamma[c], rng_uniform(&r));
        double mean = accountant_tuning_expected_runs(eta[c], gamma[c]);
        cr_expect(fabs(sum / 20000.0 - mean) < 0.05 * mean, "eta %g gamma %g: mean %g, E[K] %g",
                  eta[c], gamma[c], sum / 20000.0, mean);
    }
}

Test(accountant_tuning, cli_tune)
{
    char path[1200], tuned[1300], *text;
    temp_json("one-run.json",
              "{\"events\": [{\"sampling_rate\": 0.01, \"noise_multiplier\": 1.1, \"count\": "
              "10000, \"label\": \"dp-sgd\"}]}\n", path, sizeof path);
    snprintf(tuned, sizeof tuned, "%s/tuned-out.json", test_temp_dir());
    cr_assert_eq(test_run_dpkitf(&text, "tune --eta 1 --gamma 0.1 --ledger %s --output %s "
                                 "--delta 1e-5", path, tuned), 0, "%s", text);
    char expected[64];
    snprintf(expected, sizeof expected, "epsilon = %.6f", tuned_epsilon(1.0, 0.1));
    cr_expect(strstr(text, expected) != NULL, "%s", text);
    free(text);
    cr_assert_eq(test_run_dpkitf(&text, "epsilon --ledger %s --delta 1e-5", tuned), 0, "%s", text);
    cr_expect(strstr(text, expected) != NULL, "%s", text);
    free(text);
    cr_assert_eq(test_run_dpkit("tune --eta 1 --gamma 0.1 --draw", &text), 0, "%s", text);
    long long k = 0;
    cr_expect(sscanf(text, "K = %lld runs", &k) == 1 && k >= 1, "%s", text);
    free(text);
    cr_expect_eq(test_run_dpkit("tune --eta 1 --gamma 1 --draw", &text), 1);
    cr_expect(strstr(text, "gamma = 1") != NULL, "%s", text);
    free(text);
    cr_expect_eq(test_run_dpkitf(&text, "tune --eta 1 --gamma 0.1 --draw --ledger %s", path), 2);
    free(text);
    cr_expect_eq(test_run_dpkitf(&text, "tune --eta 1 --gamma 0.1 --ledger %s --output x.h5",
                                 path), 2);
    cr_expect(strstr(text, "TUNED.json") != NULL, "%s", text);
    free(text);
}
