/* dpkit robustness end to end on a small raw-pixel model of the synthetic set: PGD and C&W
 * reports, per-input HDF5 and figures, and clear errors for bad configs. */
#include "common/h5io.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[1024], config_path[1200], robustness_path[1300];

/* One private model on raw pixels, trained once per test; its noise keyed from the seed, so that
 * the accuracies checked below do not depend on a secret draw (20 images, one epoch). */
static void setup(void)
{
    const char *d = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(d);
    snprintf(dir, sizeof dir, "%s", d);
    char *out = NULL;
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --set features.extractor=raw "
                                       "--set features.normalize.kind=none "
                                       "--set features.image_norm=none --set training.epochs=1 "
                                       "--set privacy.reproducible_noise=true --output %s/run", config_path, dir), 0, "%s", out);
    free(out);
    char text[3000];
    snprintf(text, sizeof text,
             "kind: robustness\nname: tiny\n"
             "models:\n  - {label: linear, model: %s/run/model.h5}\n"
             "attack: {epsilons: \"0 0.1\", steps: 5, step: 0.05, figure_epsilon: 0.1}\n"
             "cw: {steps: 30, search_steps: 2, learning_rate: 0.05, initial_c: 1}\n"
             "data: {count: 20, batch: 8}\n"
             "smoothing: {count: 3, n: 200, n0: 20}\n"
             "output: {dir: %s/robustness}\n", dir, dir);
    snprintf(robustness_path, sizeof robustness_path, "%s/robustness.yaml", dir);
    cr_assert_eq(test_write_file(robustness_path, text, strlen(text)), 0);
}

TestSuite(cli_robustness, .init = setup);

static double number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    cr_assert_not_null(p, "no %s in %s", key, text);
    return strtod(p + strlen(key), NULL);
}

Test(cli_robustness, pgd_and_cw_reports)
{
    char *out = NULL, path[1400];
    cr_assert_eq(test_run_dpkitf(&out, "-q robustness %s", robustness_path), 0, "%s", out);
    free(out);
    const char *files[] = {"report.json", "robustness.h5", "robust.png", "robust.gp",
                           "privacy.png", "privacy.gp"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/robustness/%s", dir, files[i]);
        cr_assert_eq(stat(path, &st), 0, "missing %s", path);
    }
    snprintf(path, sizeof path, "%s/robustness/report.json", dir);
    char *report = test_read_file(path, NULL);
    cr_assert_not_null(report);
    double clean = number_after(report, "\"clean_accuracy\": ");
    double at0 = number_after(report, "\"epsilon\": 0.0,\n          \"accuracy\": ");
    double at1 = number_after(report, "\"epsilon\": 0.1,\n          \"accuracy\": ");
    cr_assert_eq(clean, at0, "radius 0 must leave the clean accuracy (%g, %g)", clean, at0);
    cr_assert(at1 <= clean && clean > 0.5, "clean %g, at 0.1 %g", clean, at1);
    cr_assert(strstr(report, "\"dp_epsilon\": 4.0"), "%s", report);
    free(report);
    h5io_file *f;
    dpkit_error err;
    snprintf(path, sizeof path, "%s/robustness/robustness.h5", dir);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    int rank;
    size_t dims[H5IO_MAX_RANK];
    cr_assert_eq(h5io_array_shape(f, "/model0/robust", &rank, dims, &err), 0, "%s", err.message);
    cr_assert(rank == 2 && dims[0] == 2 && dims[1] == 20);
    cr_assert_eq(h5io_array_shape(f, "/model0/certified_radius", &rank, dims, &err), 0);
    cr_assert_eq(dims[0], 3);
    h5io_close(f);

    /* C&W: one run gives every radius */
    cr_assert_eq(test_run_dpkitf(&out, "-q robustness %s --set attack.kind=cw "
                                       "--set smoothing.count=0", robustness_path), 0, "%s", out);
    free(out);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_array_shape(f, "/model0/cw_l2", &rank, dims, &err), 0, "%s", err.message);
    cr_assert_eq(dims[0], 20);
    h5io_close(f);
}

Test(cli_robustness, bad_configs)
{
    char *out = NULL;
    cr_assert_neq(test_run_dpkitf(&out, "robustness %s --set attack.figure_epsilon=0.2",
                                  robustness_path), 0);
    cr_assert(strstr(out, "attack.figure_epsilon") && strstr(out, "one of attack.epsilons"),
              "%s", out);
    free(out);
    cr_assert_neq(test_run_dpkitf(&out, "robustness %s --set attack.epsilons=0,x",
                                  robustness_path), 0);
    cr_assert(strstr(out, "attack.epsilons") && strstr(out, "not a list of numbers"), "%s", out);
    free(out);
    cr_assert_neq(test_run_dpkitf(&out, "robustness %s --set models[0].model=%s/none.h5",
                                  robustness_path, dir), 0);
    cr_assert(strstr(out, "linear") && strstr(out, "none.h5"), "%s", out);
    free(out);
    /* a robustness config given to train is recognised */
    cr_assert_neq(test_run_dpkitf(&out, "train %s", robustness_path), 0);
    cr_assert(strstr(out, "dpkit robustness"), "%s", out);
    free(out);
    /* a training config given to robustness too */
    cr_assert_neq(test_run_dpkitf(&out, "robustness %s", config_path), 0);
    cr_assert(strstr(out, "dpkit train"), "%s", out);
    free(out);
}
