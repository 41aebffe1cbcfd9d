/* End-to-end runs of dpkit features, train and eval on the small synthetic dataset: outputs of
 * a run, exact resume, evaluation, and clear errors for bad configs. */
#include "common/h5io.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *config_text =
    "name: tiny\n"
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

static char dir[1024], config_path[1200];

static void setup_run(void)
{
    snprintf(dir, sizeof dir, "%s", test_temp_dir());
    snprintf(config_path, sizeof config_path, "%s/tiny.yaml", dir);
    cr_assert_eq(test_write_file(config_path, config_text, strlen(config_text)), 0);
    char cache[1200];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("DPKIT_CACHE", cache, 1);
}

TestSuite(cli_train, .init = setup_run);

static int run(char **out, const char *format, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *format, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, format);
    vsnprintf(args, sizeof args, format, ap);
    va_end(ap);
    return test_run_dpkit(args, out);
}

static float *read_params(const char *path, size_t *count)
{
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    int rank;
    size_t dims[H5IO_MAX_RANK];
    float *p;
    cr_assert_eq(h5io_read_array(f, "/model/params", H5IO_FLOAT32, &rank, dims, (void **)&p, &err), 0);
    *count = dims[0];
    h5io_close(f);
    return p;
}

Test(cli_train, help_of_features_train_eval)
{
    const char *commands[] = {"features", "train", "eval"};
    for (int i = 0; i < 3; i++) {
        char *out;
        cr_assert_eq(run(&out, "%s --help", commands[i]), 0);
        cr_assert(strstr(out, "usage: dpkit") != NULL, "%s", out);
        free(out);
    }
}

Test(cli_train, features_are_cached_on_the_second_call)
{
    char *out;
    cr_assert_eq(run(&out, "features %s", config_path), 0, "%s", out);
    cr_assert(strstr(out, "computed") != NULL, "%s", out);
    free(out);
    cr_assert_eq(run(&out, "features %s", config_path), 0, "%s", out);
    cr_assert(strstr(out, "train   1000 x 9x7x7") != NULL, "%s", out);
    cr_assert(strstr(out, "cached") != NULL && strstr(out, "computed") == NULL, "%s", out);
    free(out);
}

Test(cli_train, train_writes_the_run_and_eval_reads_it)
{
    char *out;
    cr_assert_eq(run(&out, "-q train %s --output %s/run", config_path, dir), 0, "%s", out);
    cr_assert(strstr(out, "test accuracy") != NULL, "%s", out);
    free(out);
    const char *files[] = {"model.h5", "checkpoint.h5", "metrics.jsonl", "summary.json", "config.yaml"};
    for (int i = 0; i < 5; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/run/%s", dir, files[i]);
        size_t size;
        char *text = test_read_file(path, &size);
        cr_assert_not_null(text, "%s missing", path);
        if (i == 2) {
            int lines = 0;
            for (size_t k = 0; k < size; k++)
                lines += text[k] == '\n';
            cr_assert_eq(lines, 3, "%s", text);
            cr_assert(strstr(text, "\"epoch\":3") != NULL, "%s", text);
        }
        if (i == 3) {
            cr_assert(strstr(text, "\"epsilon\": 4") != NULL || strstr(text, "\"epsilon\": 3.9") != NULL,
                      "%s", text);
        }
        free(text);
    }
    cr_assert_eq(run(&out, "eval %s/run/model.h5", dir), 0, "%s", out);
    cr_assert(strstr(out, "synthetic test: accuracy 0.") != NULL || strstr(out, "accuracy 1.0000") != NULL,
              "%s", out);
    free(out);
    cr_assert_eq(run(&out, "eval %s/run/model.h5 --split train", dir), 0, "%s", out);
    cr_assert(strstr(out, "1000 examples") != NULL, "%s", out);
    free(out);
    cr_assert_eq(run(&out, "eval %s/run/missing.h5", dir), 1);
    cr_assert(strstr(out, "missing.h5") != NULL, "%s", out);
    free(out);
}

Test(cli_train, interrupted_and_resumed_run_equals_an_uninterrupted_one)
{
    char *out;
    cr_assert_eq(run(&out, "-q train %s --output %s/full", config_path, dir), 0, "%s", out);
    free(out);
    cr_assert_eq(run(&out, "-q train %s --output %s/parts --max-epochs 1", config_path, dir), 0,
                 "%s", out);
    free(out);
    char path[2048];
    snprintf(path, sizeof path, "%s/parts/model.h5", dir);
    cr_assert_null(test_read_file(path, NULL), "no model before the run ends");
    cr_assert_eq(run(&out, "-q train %s --output %s/parts --resume --max-epochs 1", config_path,
                     dir), 0, "%s", out);
    free(out);
    cr_assert_eq(run(&out, "-q train %s --output %s/parts --resume", config_path, dir), 0, "%s",
                 out);
    free(out);
    size_t n1, n2;
    snprintf(path, sizeof path, "%s/full/model.h5", dir);
    float *a = read_params(path, &n1);
    snprintf(path, sizeof path, "%s/parts/model.h5", dir);
    float *b = read_params(path, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(a, b, n1 * sizeof *a), 0);
    free(a), free(b);
    char *m1, *m2;
    snprintf(path, sizeof path, "%s/full/metrics.jsonl", dir);
    m1 = test_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/parts/metrics.jsonl", dir);
    m2 = test_read_file(path, NULL);
    /* same epochs, steps and epsilon (seconds differ) */
    cr_assert_eq(strncmp(m1, m2, strstr(m1, "\"seconds\"") - m1), 0, "%s\n%s", m1, m2);
    free(m1), free(m2);
    /* a changed config is refused on resume */
    cr_assert_eq(run(&out, "-q train %s --output %s/parts --resume --set training.optimizer.lr=3",
                     config_path, dir), 1);
    cr_assert(strstr(out, "config differs") != NULL, "%s", out);
    free(out);
}

Test(cli_train, bad_configs_name_the_key)
{
    struct {
        const char *set, *message;
    } cases[] = {
        {"--set privacy.epsilon=-1", "privacy.epsilon"},
        {"--set training.batch_size=0", "training.batch_size"},
        {"--set training.batch_size=5000", "training.batch_size"},
        {"--set training.epochs=two", "training.epochs"},
        {"--set privacy.accountant=moments", "privacy.accountant"},
        {"--set model.kind=cnn", "model.layers"},
        {"--set features.normalize.groups=5 --set features.normalize.kind=group-norm", "groups"},
        {"--set privacy.epsilon=0", "privacy.noise_multiplier"},
        {"--set data.dataset=nosuchset", "nosuchset"},
        {"--set nosuch.key=1", "nosuch.key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        int status = run(&out, "-q train %s --output %s/bad %s", config_path, dir, cases[i].set);
        cr_assert(status == 1 || status == 2, "%s: exit %d", cases[i].set, status);
        cr_assert(strstr(out, cases[i].message) != NULL, "%s: %s", cases[i].set, out);
        free(out);
    }
}
