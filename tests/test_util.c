/* Test helpers (see test_util.h). */
#include "tests/test_util.h"

#include "common/h5io.h"
#include "dp/dp.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *test_data_path(const char *relative)
{
    static char path[4][4096];
    static int slot = 0;
    const char *root = getenv("DPKIT_TESTDATA");
    if (!root)
        root = "tests/data";
    slot = (slot + 1) % 4;
    snprintf(path[slot], sizeof path[slot], "%s/%s", root, relative);
    return path[slot];
}

const char *test_dpkit_bin(void)
{
    const char *bin = getenv("DPKIT_BIN");
    return bin ? bin : "build/dpkit";
}

const char *test_temp_dir(void)
{
    static char dir[4096];
    const char *root = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/dpkit-test-XXXXXX", root && *root ? root : "/tmp");
    if (!mkdtemp(dir))
        return "/tmp";
    return dir;
}

void test_train_and_compare(const char *config_path, const char *dir, const char *args,
                            const char *const *extra, int count, double *scale, double *diff)
{
    size_t n[8];
    float *p[8];
    cr_assert(count >= 1 && count <= 8);
    for (int k = 0; k < count; k++) {
        char *out = NULL, model[1300];
        cr_assert_eq(test_run_dpkitf(&out, "-q train %s %s %s --output %s/run%d", config_path,
                                     args, extra[k], dir, k), 0, "%s", out);
        free(out);
        snprintf(model, sizeof model, "%s/run%d/model.h5", dir, k);
        p[k] = test_read_params(model, &n[k]);
        cr_assert_eq(n[k], n[0]);
    }
    *scale = 0;
    for (int k = 0; k < count; k++)
        diff[k] = 0;
    for (size_t i = 0; i < n[0]; i++) {
        *scale = fmax(*scale, fabs(p[0][i]));
        for (int k = 1; k < count; k++)
            diff[k] = fmax(diff[k], fabs(p[0][i] - p[k][i]));
    }
    for (int k = 0; k < count; k++)
        free(p[k]);
}

char *test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buffer = malloc((size_t)n + 1);
    size_t got = fread(buffer, 1, (size_t)n, f);
    fclose(f);
    buffer[got] = '\0';
    if (size)
        *size = got;
    return buffer;
}

int test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t written = fwrite(data, 1, size, f);
    fclose(f);
    return written == size ? 0 : -1;
}

/* `PREFIX dpkit ARGS` through the shell, output captured. */
static int run_prefixed(const char *prefix, const char *args, char **output)
{
    char out_path[4096];
    const char *root = getenv("TMPDIR");
    snprintf(out_path, sizeof out_path, "%s/dpkit-test-out-XXXXXX", root && *root ? root : "/tmp");
    int fd = mkstemp(out_path);
    if (fd < 0)
        return -1;
    close(fd);
    size_t n = strlen(prefix) + strlen(args) + strlen(test_dpkit_bin()) + strlen(out_path) + 32;
    char *command = malloc(n);
    snprintf(command, n, "%s%s %s >%s 2>&1 </dev/null", prefix, test_dpkit_bin(), args,
             out_path);
    int status = system(command);
    free(command);
    if (output)
        *output = test_read_file(out_path, NULL);
    unlink(out_path);
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

int test_run_dpkit(const char *args, char **output)
{
    return run_prefixed("", args, output);
}

/* DPKIT_MPI: the Makefile built dpkit with its MPI backend. */
int test_mpi_available(void)
{
#ifdef DPKIT_MPI
    return system("command -v mpirun >/dev/null 2>&1") == 0;
#else
    return 0;
#endif
}

int test_run_dpkit_ranks(int ranks, char **output, const char *format, ...)
{
    char args[8192], prefix[256];
    va_list ap;
    va_start(ap, format);
    vsnprintf(args, sizeof args, format, ap);
    va_end(ap);
    /* The environment (DPKIT_CACHE, TMPDIR) reaches the local ranks; two ranks on two cores
     * take one thread each. */
    /* Under AddressSanitizer, OpenMPI's components (loaded and unloaded by the MPI library)
     * leave allocations LeakSanitizer reports in frames it cannot name; the ranks run without
     * the leak check, dpkit's own code being leak-checked by the one-process tests. */
    snprintf(prefix, sizeof prefix,
             "ASAN_OPTIONS=detect_leaks=0 OMP_NUM_THREADS=1 mpirun -np %d --oversubscribe %s",
             ranks, geteuid() == 0 ? "--allow-run-as-root " : "");
    return run_prefixed(prefix, args, output);
}

const char *test_dataset_dir(const char *name)
{
    static char path[4096];
    const char *root = getenv("DPKIT_DATA");
    snprintf(path, sizeof path, "%s/%s", root ? root : "data", name);
    struct stat st;
    return stat(path, &st) == 0 ? path : NULL;
}

int test_run_dpkitf(char **output, const char *format, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, format);
    vsnprintf(args, sizeof args, format, ap);
    va_end(ap);
    return test_run_dpkit(args, output);
}

const char test_tiny_config[] = "name: tiny\n"
                                "seed: 7\n"
                                "data: {dataset: synthetic}\n"
                                "features:\n"
                                "  extractor: scatter\n"
                                "  scatter: {J: 2, L: 4, max_order: 1}\n"
                                "  normalize: {kind: private-bn, noise_multiplier: 8, clip: 1.0}\n"
                                "model: {kind: linear}\n"
                                "privacy: {epsilon: 4.0, delta: 1e-5, max_grad_norm: 1.0}\n"
                                "training:\n"
                                "  epochs: 3\n"
                                "  batch_size: 100\n"
                                "  physical_batch: 64\n"
                                "  optimizer: {kind: sgd, lr: 2, momentum: 0.9}\n";

const char *test_run_dir(const char *config_text, char *config_path, size_t size)
{
    const char *dir = test_temp_dir();
    char cache[4200];
    snprintf(config_path, size, "%s/tiny.yaml", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("DPKIT_CACHE", cache, 1);
    return test_write_file(config_path, config_text, strlen(config_text)) == 0 ? dir : NULL;
}

double test_relative_error(const float *a, const double *b, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return diff / scale;
}

float *test_read_params(const char *path, size_t *count)
{
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    int rank;
    size_t dims[H5IO_MAX_RANK];
    float *p;
    cr_assert_eq(h5io_read_array(f, "/model/params", H5IO_FLOAT32, &rank, dims, (void **)&p,
                                 &err), 0, "%s: %s", path, err.message);
    *count = dims[0];
    h5io_close(f);
    return p;
}

void test_train_state_init(dp_train_state *state, uint64_t seed)
{
    memset(state, 0, sizeof *state);
    rng_init_seed(&state->sampler, seed, RNG_STREAM_SAMPLING);
    rng_init_seed(&state->noise, seed, RNG_STREAM_NOISE);
    accountant_ledger_init(&state->ledger);
}

void test_train_state_free(dp_train_state *state)
{
    dp_optimizer_free(&state->optimizer);
    accountant_ledger_free(&state->ledger);
}
