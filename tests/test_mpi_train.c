/* Data-parallel training under mpirun (docs/mpi.md): two ranks give one process's model, ledger
 * and epsilon (linear and CNN); a run resumes on another number of ranks; a feature matrix twice
 * the per-rank cap trains on two ranks. Skipped when dpkit was built without MPI or mpirun is
 * missing. */
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
}

TestSuite(mpi_train, .init = setup_run, .timeout = 120);

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

/* Parameters within 1e-6 of the largest (the ranks add their partial sums in another order than
 * one process adds the examples, docs/maths.md 4.12), the same ledger and the same epsilon. */
static void assert_same_model(const char *one, const char *other)
{
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

Test(mpi_train, two_ranks_and_a_resume_on_one_match_one_process)
{
    char *out;
    const char *sets = "--set privacy.reproducible_noise=true";
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s %s --output %s/one", config_path, sets, dir),
                 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit_ranks(2, &out, "-q train %s %s --output %s/two", config_path, sets,
                                      dir), 0, "%s", out);
    free(out);
    /* Started on two ranks, finished on one: the checkpoint holds no per-rank state. */
    cr_assert_eq(test_run_dpkit_ranks(2, &out, "-q train %s %s --output %s/resumed --max-epochs 1",
                                      config_path, sets, dir), 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s %s --output %s/resumed --resume", config_path,
                                 sets, dir), 0, "%s", out);
    free(out);
    char one[1200], two[1200], resumed[1200];
    snprintf(one, sizeof one, "%s/one/model.h5", dir);
    snprintf(two, sizeof two, "%s/two/model.h5", dir);
    snprintf(resumed, sizeof resumed, "%s/resumed/model.h5", dir);
    assert_same_model(one, two);
    assert_same_model(one, resumed);
}

Test(mpi_train, a_feature_matrix_twice_the_rank_cap_trains_on_two_ranks)
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

Test(mpi_train, a_cnn_on_two_ranks_matches_one_process)
{
    char *out;
    const char *sets = "--set privacy.reproducible_noise=true --set training.epochs=1 "
                       "--set model.kind=cnn --set model.preset=scatter-cnn-mnist";
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s %s --output %s/one", config_path, sets, dir),
                 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit_ranks(2, &out, "-q train %s %s --output %s/two", config_path, sets,
                                      dir), 0, "%s", out);
    free(out);
    char one[1200], two[1200];
    snprintf(one, sizeof one, "%s/one/model.h5", dir);
    snprintf(two, sizeof two, "%s/two/model.h5", dir);
    assert_same_model(one, two);
}
