/* End-to-end run of dpkit curve on the synthetic dataset: CSV, table and figure, a re-run that
 * skips finished points, and the figure drawn again from a CSV without training. */
#include "tests/test_util.h"
#include "tests/test_util_figure.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
             "     seeds: \"1\", epsilons: \"4\"}\n"
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
    /* linear: 2 epsilons x 2 seeds; slow: its own epsilon x its own seed */
    cr_assert_eq(rows, 1 + 2 * 2 + 1, "%s", csv);
    cr_assert(strstr(csv, "synthetic,\"slow\",4,1e-05,1,") != NULL, "%s", csv);
    cr_assert(strstr(csv, "synthetic,\"slow\",4,1e-05,0,") == NULL, "%s", csv);
    cr_assert(strstr(csv, "synthetic,\"slow\",1,") == NULL, "%s", csv);
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
    cr_assert(strncmp(slow_row, "| slow | - | ", 13) == 0, "%s", table); /* no point at eps 1 */
    free(table);
    snprintf(path, sizeof path, "%s/out/curve.png", dir);
    test_check_figure(path);
    /* the key says what the error bars are; the line of one seed has none */
    snprintf(path, sizeof path, "%s/out/curve.gp", dir);
    char *script = test_read_file(path, NULL);
    cr_assert_not_null(script);
    cr_assert(strstr(script, "linear (mean ± sample sd over 2 seeds)") &&
              strstr(script, "slow (1 seed)") && strstr(script, "δ = 1e-05, RDP accountant"),
              "%s", script);
    const char *slow = strstr(script, "'curve.data2.tsv'");
    cr_assert(slow && strncmp(slow, "'curve.data2.tsv' using 1:2 with linespoints", 44) == 0,
              "%s", script);
    free(script);
    size_t size;

    /* Re-run: every point is found finished and nothing is trained again. */
    snprintf(path, sizeof path, "%s/out/points/linear/eps1-seed0/model.h5", dir);
    char *before = test_read_file(path, &size);
    snprintf(args, sizeof args, "-v curve %s/curve.yaml", dir);
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    cr_assert(strstr(out, "5 points, 5 already done") != NULL, "%s", out);
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
    cr_assert(strstr(out, "5 points, 4 already done") != NULL, "%s", out);
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
        {"name: x\nepsilons: \"1 4\"\nruns: [{label: a, config: b.yaml, epsilons: \"2\"}]\n",
         "runs[0].epsilons: 2, expected one of the curve's epsilons"},
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

/* --plot-only draws the figure from a CSV and trains nothing: the curve's training config does
 * not even exist here (the figure then names no accountant). */
Test(cli_curve, plot_only_redraws_from_the_csv)
{
    const char *dir = test_temp_dir();
    char path[1024], args[4096], curve[1024];
    snprintf(curve, sizeof curve,
             "name: redrawn\n"
             "runs:\n"
             "  - {label: A, config: %s/missing.yaml, paper: 91}\n"
             "  - {label: B, config: %s/missing.yaml, paper: 91, seeds: \"0\"}\n"
             "epsilons: \"1 2\"\n"
             "seeds: \"0 1\"\n"
             "output: {dir: %s/out}\n",
             dir, dir, dir);
    snprintf(path, sizeof path, "%s/curve.yaml", dir);
    cr_assert_eq(test_write_file(path, curve, strlen(curve)), 0);
    const char *csv = "dataset,model,epsilon,delta,seed,sigma,epochs,test_accuracy,seconds,"
                      "epsilon_spent\n"
                      "synthetic,\"A\",1,1e-05,0,3.1,2,0.8000,1.0,1\n"
                      "synthetic,\"A\",1,1e-05,1,3.1,2,0.8200,1.0,1\n"
                      "synthetic,\"A\",2,1e-05,0,1.9,2,0.9000,1.0,2\n"
                      "synthetic,\"A\",2,1e-05,1,1.9,2,0.9100,1.0,2\n"
                      "synthetic,\"B\",1,1e-05,0,3.1,2,0.7000,1.0,1\n"
                      "synthetic,\"B\",2,1e-05,0,1.9,2,0.8500,1.0,2\n";
    snprintf(path, sizeof path, "%s/results", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/results/tiny.csv", dir);
    cr_assert_eq(test_write_file(path, csv, strlen(csv)), 0);
    char *out;
    snprintf(args, sizeof args, "curve %s/curve.yaml --plot-only --csv %s", dir, path);
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/results/tiny.png", dir);
    test_check_figure(path);
    snprintf(path, sizeof path, "%s/out", dir);
    cr_assert_neq(access(path, F_OK), 0, "nothing trained, no curve directory");
    /* mean and sd of A at epsilon 1 over its two seeds; B alone */
    snprintf(path, sizeof path, "%s/results/tiny.data0.tsv", dir);
    char *a = test_read_file(path, NULL);
    cr_assert(a && strstr(a, "\n1\t81\t1.41421356237309") && strstr(a, "\t2\n"), "%s", a);
    free(a);
    /* the two paper markers at the same point are drawn apart */
    snprintf(path, sizeof path, "%s/results/tiny.gp", dir);
    char *script = test_read_file(path, NULL);
    cr_assert(script && strstr(script, "drawn side by side"), "%s", script);
    free(script);

    /* the default CSV is OUTPUT/curve.csv; a row of another curve is named by file and line */
    snprintf(args, sizeof args, "curve %s/curve.yaml --plot-only", dir);
    cr_assert_eq(test_run_dpkit(args, &out), 1, "%s", out);
    cr_assert(strstr(out, "out/curve.csv: cannot open") != NULL, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/out", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/out/curve.csv", dir);
    const char *other = "dataset,model,epsilon,delta,seed,sigma,epochs,test_accuracy,seconds,"
                        "epsilon_spent\nsynthetic,\"C\",1,1e-05,0,3.1,2,0.8,1.0,1\n";
    cr_assert_eq(test_write_file(path, other, strlen(other)), 0);
    cr_assert_eq(test_run_dpkit(args, &out), 1, "%s", out);
    cr_assert(strstr(out, "out/curve.csv:2: model 'C', epsilon 1, seed 0 is not a point") != NULL,
              "%s", out);
    free(out);
    snprintf(args, sizeof args, "curve %s/curve.yaml --csv x.csv", dir);
    cr_assert_eq(test_run_dpkit(args, &out), 2, "%s", out);
    free(out);
}
