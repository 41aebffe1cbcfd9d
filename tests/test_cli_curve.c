/* End-to-end run of dpkit curve on the synthetic dataset: CSV, table and PNG, and a re-run
 * that skips finished points. */
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *base_config =
    "name: tiny\n"
    "data: {dataset: synthetic}\n"
    "features: {extractor: scatter, scatter: {J: 2, L: 4, max_order: 1},\n"
    "           normalize: {kind: group-norm, groups: 3}}\n"
    "privacy: {epsilon: 4.0, max_grad_norm: 1.0}\n"
    "training: {epochs: 2, batch_size: 100, physical_batch: 64,\n"
    "           optimizer: {kind: sgd, lr: 2, momentum: 0.9}}\n";

Test(cli_curve, sweep_writes_csv_table_png_and_resumes)
{
    const char *dir = test_temp_dir();
    char path[1024], args[4096], cache[1024];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("DPKIT_CACHE", cache, 1);
    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    cr_assert_eq(test_write_file(path, base_config, strlen(base_config)), 0);
    char curve[2048];
    snprintf(curve, sizeof curve,
             "name: tiny-curve\n"
             "runs:\n"
             "  - {label: linear, config: %s/tiny.yaml, paper: 90}\n"
             "  - {label: slow, config: %s/tiny.yaml, set: \"training.optimizer.lr=0.5\",\n"
             "     seeds: \"1\"}\n"
             "epsilons: \"1, 4\"\n"
             "seeds: \"0 1\"\n"
             "output: {dir: %s/out}\n",
             dir, dir, dir);
    snprintf(path, sizeof path, "%s/curve.yaml", dir);
    cr_assert_eq(test_write_file(path, curve, strlen(curve)), 0);
    char *out;
    snprintf(args, sizeof args, "curve %s --jobs 2", path);
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    free(out);

    snprintf(path, sizeof path, "%s/out/curve.csv", dir);
    char *csv = test_read_file(path, NULL);
    cr_assert_not_null(csv);
    int rows = 0;
    for (char *c = csv; *c; c++)
        rows += *c == '\n';
    /* linear: 2 epsilons x 2 seeds; slow: 2 epsilons x its own single seed */
    cr_assert_eq(rows, 1 + 2 * 2 + 2, "%s", csv);
    cr_assert(strstr(csv, "synthetic,\"slow\",4,1e-05,1,") != NULL, "%s", csv);
    cr_assert(strstr(csv, "synthetic,\"slow\",4,1e-05,0,") == NULL, "%s", csv);
    free(csv);
    snprintf(path, sizeof path, "%s/out/curve.md", dir);
    char *table = test_read_file(path, NULL);
    cr_assert_not_null(table);
    cr_assert(strstr(table, "| linear |") && strstr(table, "| slow |") &&
              strstr(table, "eps = 4") && strstr(table, " 90.0 |"), "%s", table);
    /* two seeds: mean +- sd; one seed: the value alone */
    const char *linear_row = strstr(table, "| linear |"), *slow_row = strstr(table, "| slow |");
    const char *spread = linear_row ? strstr(linear_row, " +- ") : NULL;
    cr_assert(spread && spread < strchr(linear_row, '\n'), "%s", table);
    cr_assert_not_null(slow_row, "%s", table);
    cr_assert(strstr(slow_row, " +- ") == NULL, "%s", table);
    free(table);
    snprintf(path, sizeof path, "%s/out/curve.png", dir);
    size_t size;
    unsigned char *png = (unsigned char *)test_read_file(path, &size);
    cr_assert_not_null(png);
    cr_assert_gt(size, 1000);
    cr_assert_eq(memcmp(png, "\x89PNG\r\n\x1a\n", 8), 0);
    free(png);

    /* Re-run: every point is found finished and nothing is trained again. */
    snprintf(path, sizeof path, "%s/out/points/linear/eps1-seed0/model.h5", dir);
    char *before = test_read_file(path, &size);
    snprintf(args, sizeof args, "-v curve %s/curve.yaml", dir);
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    cr_assert(strstr(out, "6 points, 6 already done") != NULL, "%s", out);
    free(out);
    size_t size2;
    char *after = test_read_file(path, &size2);
    cr_assert_eq(size, size2);
    cr_assert_eq(memcmp(before, after, size), 0);
    free(before), free(after);

    /* a point that lost its summary is trained again, the others are kept */
    snprintf(path, sizeof path, "%s/out/points/slow/eps4-seed1/summary.json", dir);
    cr_assert_eq(remove(path), 0);
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    cr_assert(strstr(out, "6 points, 5 already done") != NULL, "%s", out);
    free(out);
}

Test(cli_curve, bad_curve_configs_are_rejected)
{
    const char *dir = test_temp_dir();
    char path[1024], args[2048];
    const char *cases[][2] = {
        {"name: x\nepsilons: \"1, two\"\nruns: [{label: a, config: b.yaml}]\n", "epsilons"},
        {"name: x\nruns: []\n", "runs"},
        {"name: x\nseeds: \"0 1.5\"\nruns: [{label: a, config: b.yaml}]\n", "seeds"},
        {"name: x\nruns: [{label: a}]\n", "config"},
        {"name: x\nruns: [{label: a, config: b.yaml, seeds: \"-1\"}]\n", "seeds"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "%s/bad%zu.yaml", dir, i);
        cr_assert_eq(test_write_file(path, cases[i][0], strlen(cases[i][0])), 0);
        snprintf(args, sizeof args, "curve %s", path);
        char *out;
        int status = test_run_dpkit(args, &out);
        cr_assert(status == 1 || status == 2, "case %zu: exit %d", i, status);
        cr_assert(strstr(out, cases[i][1]) != NULL, "case %zu: %s", i, out);
        free(out);
    }
}

/* Errors name where the value came from: the curve file's line, or the --set override, also
 * for an override of a line that reaches its trainings. */
Test(cli_curve, errors_name_the_file_line_or_the_override)
{
    const char *dir = test_temp_dir();
    char path[1024], curve[2048], args[4096], expected[1200];
    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    cr_assert_eq(test_write_file(path, base_config, strlen(base_config)), 0);
    snprintf(curve, sizeof curve,
             "name: bad\n"
             "runs:\n"
             "  - {label: a, config: %s/tiny.yaml, set: \"training.epochs=0\"}\n"
             "epsilons: \"1\"\n"
             "seeds: \"0\"\n"
             "delta: 2\n"
             "output: {dir: %s/bad}\n",
             dir, dir);
    snprintf(path, sizeof path, "%s/curve.yaml", dir);
    cr_assert_eq(test_write_file(path, curve, strlen(curve)), 0);
    char *out;
    snprintf(args, sizeof args, "curve %s", path);
    cr_assert_eq(test_run_dpkit(args, &out), 1, "%s", out);
    snprintf(expected, sizeof expected, "%s:6: delta: 2, expected 0..1", path);
    cr_assert(strstr(out, expected) != NULL, "%s", out);
    free(out);
    snprintf(args, sizeof args, "curve %s --set delta=1e-5 --set seeds=-1", path);
    cr_assert_eq(test_run_dpkit(args, &out), 1, "%s", out);
    cr_assert(strstr(out, "--set seeds=-1: seeds: -1, expected integers >= 0") != NULL, "%s", out);
    free(out);
    /* the line's override fails in the point's training, and is named as an override */
    snprintf(args, sizeof args, "curve %s --set delta=1e-5", path);
    cr_assert_eq(test_run_dpkit(args, &out), 1, "%s", out);
    snprintf(expected, sizeof expected, "training point %s/bad/points/a/eps1-seed0 failed: "
                                        "--set training.epochs=0: training.epochs: 0, expected "
                                        "1..100000", dir);
    cr_assert(strstr(out, expected) != NULL, "%s", out);
    free(out);
}
