/* dpkit epsilon --ledger: the ledger a run saved (model.h5, checkpoint.h5, a JSON ledger)
 * accounted again agrees with the epsilon the run reported, with either accountant; delta comes
 * from the run's config unless given; bad files and option mixes are refused clearly. */
#include "common/h5io.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static char dir[1024];

static void setup_dir(void)
{
    char path[1200];
    const char *d = test_run_dir(test_tiny_config, path, sizeof path);
    cr_assert_not_null(d);
    snprintf(dir, sizeof dir, "%s", d);
}

TestSuite(cli_epsilon_ledger, .init = setup_dir);

/* The number after "KEY": in a JSON text (NAN when absent). */
static double json_number(const char *text, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(text, pattern);
    return at ? strtod(at + strlen(pattern), NULL) : NAN;
}

/* Trains the tiny config with the given accountant into DIR/NAME; returns summary.json's epsilon. */
static double train(const char *name, const char *accountant)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s/tiny.yaml --output %s/%s --set privacy.accountant=%s",
                     dir, dir, name, accountant),
                 0, "%s", out);
    free(out);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/summary.json", dir, name);
    char *summary = test_read_file(path, NULL);
    cr_assert_not_null(summary, "%s missing", path);
    double epsilon = json_number(summary, "epsilon");
    free(summary);
    cr_assert(epsilon > 0 && epsilon <= 4.0 + 1e-9, "summary epsilon %g", epsilon);
    return epsilon;
}

static void expect_close(double got, double expected, const char *what)
{
    cr_assert(fabs(got - expected) <= 1e-9 * expected, "%s: %.17g, the run reported %.17g", what,
              got, expected);
}

Test(cli_epsilon_ledger, model_and_checkpoint_agree_with_the_run_for_both_accountants)
{
    const char *accountants[] = {"rdp", "pld"};
    for (int i = 0; i < 2; i++) {
        double reported = train(accountants[i], accountants[i]);
        const char *files[] = {"model.h5", "checkpoint.h5"};
        for (int k = 0; k < 2; k++) {
            char *out;
            cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s/%s/%s --accountant %s --json", dir,
                             accountants[i], files[k], accountants[i]),
                         0, "%s", out);
            expect_close(json_number(out, "epsilon"), reported, out);
            expect_close(json_number(out, "recorded_epsilon"), reported, out);
            cr_assert_eq(json_number(out, "delta"), 1e-5, "%s", out);
            cr_assert(strstr(out, "\"delta_from\":\"config\"") != NULL, "%s", out);
            cr_assert(strstr(out, k ? "\"source\":\"checkpoint\"" : "\"source\":\"model\""),
                      "%s", out);
            cr_assert(strstr(out, "\"label\":\"dp-sgd\"") && strstr(out, "private-bn"), "%s",
                      out);
            free(out);
        }
    }
}

Test(cli_epsilon_ledger, text_output_and_other_deltas_and_accountants)
{
    double reported = train("run", "rdp");
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s/run/model.h5", dir), 0, "%s", out);
    char expected[128];
    snprintf(expected, sizeof expected, "epsilon = %.6f at delta = 1e-05 (RDP order ", reported);
    cr_assert(strncmp(out, expected, strlen(expected)) == 0, "expected '%s' in:\n%s", expected,
              out);
    cr_assert(strstr(out, "RDP accountant, improved conversion; the ledger of ") != NULL, "%s",
              out);
    cr_assert(strstr(out, "30 x dp-sgd (q = 0.1, noise multiplier ") != NULL, "%s", out);
    cr_assert(strstr(out, "delta from its config") != NULL, "%s", out);
    cr_assert(strstr(out, "the run reported epsilon = ") != NULL, "%s", out);
    free(out);
    /* a larger delta spends less; PLD is tighter than RDP on the same events */
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s/run/model.h5 --delta 1e-3 --json", dir), 0, "%s",
                 out);
    double looser = json_number(out, "epsilon");
    cr_assert(looser < reported, "%s", out);
    cr_assert(strstr(out, "\"delta_from\":\"option\"") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s/run/model.h5 --accountant pld --json", dir), 0,
                 "%s", out);
    double pld = json_number(out, "epsilon");
    cr_assert(pld > 0 && pld < reported, "%s", out);
    free(out);
}

/* A JSON ledger equals the schedule it records; it has no config, so --delta is required. */
Test(cli_epsilon_ledger, json_ledger_needs_a_delta)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/ledger.json", dir);
    const char *text = "{\"format\": \"dpkit privacy ledger\", \"version\": 1, \"events\": [\n"
                       "  {\"sampling_rate\": 0.01, \"noise_multiplier\": 1.1, \"count\": 10000,"
                       " \"label\": \"dp-sgd\"}]}\n";
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0);
    char *out, *schedule;
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s --delta 1e-5 --json", path), 0, "%s", out);
    cr_assert_eq(test_run_dpkitf(&schedule, "epsilon --sampling-rate 0.01 --noise-multiplier 1.1 --steps "
                                "10000 --delta 1e-5 --json"),
                 0, "%s", schedule);
    cr_assert_eq(json_number(out, "epsilon"), json_number(schedule, "epsilon"), "%s\n%s", out,
                 schedule);
    cr_assert(strstr(out, "\"recorded_epsilon\":null") != NULL, "%s", out);
    free(out);
    free(schedule);
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s", path), 2, "%s", out);
    cr_assert(strstr(out, "missing --delta") != NULL, "%s", out);
    free(out);
}

Test(cli_epsilon_ledger, bad_files_and_option_mixes_are_refused)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s/missing.h5", dir), 1, "%s", out);
    cr_assert(strstr(out, "missing.h5: no such file") != NULL, "%s", out);
    free(out);
    /* an HDF5 file without a ledger */
    char path[1200];
    snprintf(path, sizeof path, "%s/empty.h5", dir);
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_create(path, &f, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_write_attr_string(f, "/", "config", "privacy: {delta: 1e-5}\n", &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0, "%s", err.message);
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s", path), 1, "%s", out);
    cr_assert(strstr(out, "empty.h5: no privacy ledger: expected the group /ledger") != NULL,
              "%s", out);
    free(out);
    /* a JSON file that is not a ledger */
    snprintf(path, sizeof path, "%s/other.json", dir);
    cr_assert_eq(test_write_file(path, "{\"epsilon\": 1}\n", 15), 0);
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s --delta 1e-5", path), 1, "%s", out);
    cr_assert(strstr(out, "other.json") != NULL && strstr(out, "events") != NULL, "%s", out);
    free(out);
    /* the schedule options describe events of their own */
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s --steps 10", path), 2, "%s", out);
    cr_assert(strstr(out, "--ledger takes the privacy events from") != NULL &&
                  strstr(out, "cannot be combined with --steps") != NULL,
              "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s --noise-multiplier 1 --sampling-rate 0.1 "
                           "--extra-gaussian 8:2", path),
                 2, "%s", out);
    cr_assert(strstr(out, "--noise-multiplier, --sampling-rate, --extra-gaussian") != NULL, "%s",
              out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --ledger %s --delta 1.5", path), 2, "%s", out);
    cr_assert(strstr(out, "--delta must be in (0, 1)") != NULL, "%s", out);
    free(out);
    /* calibrate takes no ledger */
    cr_assert_eq(test_run_dpkitf(&out, "calibrate --ledger %s --epsilon 1 --delta 1e-5", path), 2, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "epsilon --help"), 0, "%s", out);
    cr_assert(strstr(out, "--ledger FILE") != NULL, "%s", out);
    free(out);
}
