/* dpkit under mpirun -np 2 (docs/mpi.md). Data-parallel training: two ranks give one process's
 * model (within 1e-6, docs/maths.md 4.12), ledger and epsilon, for the linear model and a CNN,
 * with Poisson sampling and random allocation; a run resumes on another number of ranks; a
 * feature matrix twice the per-rank cap trains on two ranks. Sweeps: dpkit curve and dpkit
 * audit (membership, multi-run) share their trainings
 * between the ranks and write what one process writes, bit for bit but for the timings (each
 * training runs on one rank; reproducible noise, one thread everywhere); a one-run audit refuses
 * them. Skipped when dpkit was built without MPI or mpirun is missing. */
#include "common/h5io.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[1024], config_path[1200];

static void setup_run(void)
{
    if (!test_mpi_available())
        cr_skip_test("dpkit built without MPI, or no mpirun");
    const char *d = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(d);
    snprintf(dir, sizeof dir, "%s", d);
    /* Partial sums are added per thread: the same thread count gives the same bits. */
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OMP_WAIT_POLICY", "passive", 1);
}

TestSuite(mpi, .init = setup_run, .timeout = 120);


/* A one-dimensional array of `type` from an HDF5 file; *count its length. */
static void *read_vector(const char *path, const char *name, h5io_type type, size_t *count)
{
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    int rank;
    size_t dims[H5IO_MAX_RANK];
    void *values;
    cr_assert_eq(h5io_read_array(f, name, type, &rank, dims, &values, &err), 0, "%s: %s", path,
                 err.message);
    cr_assert_eq(rank, 1, "%s %s", path, name);
    *count = dims[0];
    h5io_close(f);
    return values;
}

static double epsilon_of(const char *path)
{
    h5io_file *f;
    dpkit_error err;
    double epsilon;
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_read_attr_double(f, "/", "epsilon", &epsilon, &err), 0, "%s", err.message);
    h5io_close(f);
    return epsilon;
}

/* The model.h5 of two runs (directories under DIR): parameters within 1e-6 of the largest (the
 * ranks add their partial sums in another order than one process adds the examples,
 * docs/maths.md 4.12), the same ledger and the same epsilon. */
static void assert_same_model(const char *one_run, const char *other_run)
{
    char one[1200], other[1200];
    snprintf(one, sizeof one, "%s/%s/model.h5", dir, one_run);
    snprintf(other, sizeof other, "%s/%s/model.h5", dir, other_run);
    size_t n, m;
    float *a = read_vector(one, "/model/params", H5IO_FLOAT32, &n);
    float *b = read_vector(other, "/model/params", H5IO_FLOAT32, &m);
    cr_assert_eq(n, m);
    double largest = 0, diff = 0;
    for (size_t i = 0; i < n; i++) {
        largest = fmax(largest, fabs(a[i]));
        diff = fmax(diff, fabs((double)a[i] - b[i]));
    }
    cr_assert(largest > 0 && diff <= 1e-6 * largest, "%s and %s: parameters differ by %g of %g",
              one, other, diff, largest);
    free(a), free(b);
    const char *columns[] = {"/ledger/sampling_rate", "/ledger/noise_multiplier"};
    for (int c = 0; c < 2; c++) {
        double *x = read_vector(one, columns[c], H5IO_FLOAT64, &n);
        double *y = read_vector(other, columns[c], H5IO_FLOAT64, &m);
        cr_assert_eq(n, m, "%s", columns[c]);
        cr_assert_eq(memcmp(x, y, n * sizeof *x), 0, "%s differs", columns[c]);
        free(x), free(y);
    }
    long long *x = read_vector(one, "/ledger/count", H5IO_INT64, &n);
    long long *y = read_vector(other, "/ledger/count", H5IO_INT64, &m);
    cr_assert(n == m && memcmp(x, y, n * sizeof *x) == 0, "ledger counts differ");
    free(x), free(y);
    cr_assert_eq(epsilon_of(one), epsilon_of(other));
}

/* Trains CONFIG with `sets` in one process (DIR/one) and on two ranks (DIR/two), and compares. */
static void train_one_and_two(const char *sets)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s %s --output %s/one", config_path, sets, dir),
                 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit_ranks(2, &out, "-q train %s %s --output %s/two", config_path, sets,
                                      dir), 0, "%s", out);
    free(out);
    assert_same_model("one", "two");
}

Test(mpi, two_ranks_and_a_resume_on_one_match_one_process)
{
    const char *sets = "--set privacy.reproducible_noise=true";
    train_one_and_two(sets);
    /* Started on two ranks, finished on one: the checkpoint holds no per-rank state. */
    char *out;
    cr_assert_eq(test_run_dpkit_ranks(2, &out, "-q train %s %s --output %s/resumed --max-epochs 1",
                                      config_path, sets, dir), 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s %s --output %s/resumed --resume", config_path,
                                 sets, dir), 0, "%s", out);
    free(out);
    assert_same_model("one", "resumed");
}

/* Random allocation (docs/maths.md 2.12): every rank draws the whole allocation and trains on
 * its shard of each step, so two ranks give one process's model and ledger. */
Test(mpi, random_allocation_on_two_ranks_matches_one_process)
{
    train_one_and_two("--set privacy.reproducible_noise=true "
                      "--set training.sampler=random-allocation");
}

Test(mpi, a_feature_matrix_twice_the_rank_cap_trains_on_two_ranks)
{
    /* The synthetic set's 1000 training rows of 9x7x7 ScatterNet features are 1,764,000 bytes;
     * the cap is half of that: 882,000 bytes, 0.8411407 MiB (rounded up). */
    setenv("DPKIT_RANK_MEMORY_MB", "0.84114075", 1);
    char *out;
    cr_assert_neq(test_run_dpkitf(&out, "-q train %s --output %s/alone", config_path, dir), 0,
                  "%s", out);
    cr_assert(strstr(out, "DPKIT_RANK_MEMORY_MB") && strstr(out, "one rank may hold"), "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit_ranks(2, &out, "-q train %s --output %s/shared", config_path, dir),
                 0, "%s", out);
    free(out);
    unsetenv("DPKIT_RANK_MEMORY_MB");
    char model[1200];
    struct stat st;
    snprintf(model, sizeof model, "%s/shared/model.h5", dir);
    cr_assert_eq(stat(model, &st), 0, "no %s", model);
}

Test(mpi, a_cnn_on_two_ranks_matches_one_process)
{
    train_one_and_two("--set privacy.reproducible_noise=true --set training.epochs=1 "
                      "--set model.kind=cnn --set model.preset=scatter-cnn-mnist");
}

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
    char one[1300], two[1300];
    snprintf(one, sizeof one, format, dir, "one");
    snprintf(two, sizeof two, format, dir, "two");
    size_t n, m;
    double *a = read_vector(one, name, H5IO_FLOAT64, &n);
    double *b = read_vector(two, name, H5IO_FLOAT64, &m);
    cr_assert(n == m && memcmp(a, b, n * sizeof *a) == 0,
              "%s differs between one process and two ranks", name);
    free(a), free(b);
}

Test(mpi, curve_on_two_ranks_writes_what_one_process_writes)
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
Test(mpi, audits_on_two_ranks_write_what_one_process_writes)
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

/* A one-run audit trains one model: two ranks would only repeat it, and are refused. */
Test(mpi, a_one_run_audit_refuses_two_ranks)
{
    char text[4096];
    snprintf(text, sizeof text, "kind: one-run\ntraining: {config: %s}\n", config_path);
    write_text("one-run.yaml", text);
    char *out;
    cr_assert_neq(test_run_dpkit_ranks(2, &out, "-q audit %s/one-run.yaml --output %s/one", dir,
                                       dir), 0, "%s", out);
    cr_assert(strstr(out, "one-run trains one model: run it without mpirun"), "%s", out);
    free(out);
}
