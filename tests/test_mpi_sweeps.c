/* Distributed sweeps under mpirun -np 2 (docs/mpi.md): dpkit curve and dpkit audit (membership,
 * multi-run) share their trainings between the ranks and write what one process writes. Each
 * training runs on one rank, so with reproducible noise and one thread everywhere the results
 * are bit-identical; only the timings differ. Skipped without MPI. */
#include "common/h5io.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[1024], config_path[1200];

static void setup_run(void)
{
    if (!test_mpi_available())
        cr_skip_test("dpkit built without MPI, or no mpirun");
    const char *d = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(d);
    snprintf(dir, sizeof dir, "%s", d);
    /* The clipped sums are added per thread: the same thread count gives the same bits. */
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OMP_WAIT_POLICY", "passive", 1);
}

TestSuite(mpi_sweeps, .init = setup_run, .timeout = 120);

static void write_text(const char *name, const char *text)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0, "%s", path);
}

static char *read_text(const char *format, const char *run)
{
    char path[1300];
    snprintf(path, sizeof path, format, dir, run);
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "no %s", path);
    return text;
}

/* Text with every line that holds one of the `skip` words dropped, and in CSV lines (skip_field
 * > 0) field number skip_field removed. */
static char *without(char *text, const char *const *skip, int skip_field)
{
    char *out = malloc(strlen(text) + 1), *o = out;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int drop = 0;
        for (const char *const *s = skip; *s; s++)
            drop |= strstr(line, *s) != NULL;
        if (drop)
            continue;
        int field = 1;
        for (char *c = line; *c; c++) {
            if (*c == ',')
                field++;
            if (field != skip_field || skip_field == 0)
                *o++ = *c;
        }
        *o++ = '\n';
    }
    *o = '\0';
    free(text);
    return out;
}

static void assert_same_vector(const char *format, const char *name)
{
    double *v[2];
    size_t n[2];
    const char *runs[] = {"one", "two"};
    for (int i = 0; i < 2; i++) {
        char path[1300];
        snprintf(path, sizeof path, format, dir, runs[i]);
        h5io_file *f;
        dpkit_error err;
        int rank;
        size_t dims[H5IO_MAX_RANK];
        cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
        cr_assert_eq(h5io_read_array(f, name, H5IO_FLOAT64, &rank, dims, (void **)&v[i], &err),
                     0, "%s %s: %s", path, name, err.message);
        n[i] = dims[0];
        h5io_close(f);
    }
    cr_assert(n[0] == n[1] && memcmp(v[0], v[1], n[0] * sizeof *v[0]) == 0,
              "%s differs between one process and two ranks", name);
    free(v[0]), free(v[1]);
}

Test(mpi_sweeps, curve_on_two_ranks_writes_what_one_process_writes)
{
    char text[4096];
    snprintf(text, sizeof text,
             "name: c\nruns:\n"
             "  - {label: linear, config: %s, set: \"privacy.reproducible_noise=true "
             "training.epochs=1\"}\n"
             "epsilons: \"1, 4\"\nseeds: \"0 1 2\"\noutput: {dir: %s/one}\n", config_path, dir);
    write_text("curve.yaml", text);
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "-q curve %s/curve.yaml", dir), 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit_ranks(2, &out, "-q curve %s/curve.yaml --set output.dir=%s/two",
                                      dir, dir), 0, "%s", out);
    const char *report = strstr(out, "c: 6 points;"); /* printed by rank 0 alone */
    cr_assert(report && !strstr(report + 1, "c: 6 points;"), "%s", out);
    free(out);
    const char *none[] = {NULL};
    char *a = without(read_text("%s/%s/curve.csv", "one"), none, 9); /* 9: seconds */
    char *b = without(read_text("%s/%s/curve.csv", "two"), none, 9);
    cr_assert_str_eq(a, b);
    size_t lines = 0;
    for (const char *c = a; *c; c++)
        lines += *c == '\n';
    cr_assert_eq(lines, 1 + 2 * 3, "%s", a); /* the header, 2 epsilons x 3 seeds */
    free(a), free(b);
    a = read_text("%s/%s/curve.md", "one");
    b = read_text("%s/%s/curve.md", "two");
    cr_assert_str_eq(a, b);
    free(a), free(b);
}

/* A membership audit (3 shadows and the target: 4 models) and a multi-run audit (3 pairs of
 * runs): the reports but for timings and paths, and the per-example signals. */
Test(mpi_sweeps, audits_on_two_ranks_write_what_one_process_writes)
{
    char text[4096];
    const char *kinds[][2] = {{"mi", "kind: membership\nmembership: {shadows: 3}\n"},
                              {"mr", "kind: multi-run\ncanary: {kind: gradient}\nruns: 3\n"}};
    for (int k = 0; k < 2; k++) {
        snprintf(text, sizeof text,
                 "%straining: {config: %s, set: \"training.epochs=1 "
                 "privacy.reproducible_noise=true\"}\n", kinds[k][1], config_path);
        char name[16];
        snprintf(name, sizeof name, "%s.yaml", kinds[k][0]);
        write_text(name, text);
        char *out;
        cr_assert_eq(test_run_dpkitf(&out, "-q audit %s/%s --output %s/one", dir, name, dir), 0,
                     "%s", out);
        free(out);
        cr_assert_eq(test_run_dpkit_ranks(2, &out, "-q audit %s/%s --output %s/two", dir, name,
                                          dir), 0, "%s", out);
        free(out);
        const char *skip[] = {"seconds", "signals", "_plot", NULL};
        char *a = without(read_text("%s/%s/report.json", "one"), skip, 0);
        char *b = without(read_text("%s/%s/report.json", "two"), skip, 0);
        cr_assert_str_eq(a, b);
        free(a), free(b);
        assert_same_vector("%s/%s/signals.h5", k == 0 ? "/score_lira_online" : "/score");
    }
}
