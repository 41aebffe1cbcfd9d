/* End-to-end runs of dpkit features, train and eval on the small synthetic dataset: outputs of
 * a run, exact resume (reproducible and secret-keyed), the secrecy of the noise key, evaluation,
 * and clear errors for bad configs. */
#include "common/h5io.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[1024], config_path[1200];

static void setup_run(void)
{
    const char *d = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(d);
    snprintf(dir, sizeof dir, "%s", d);
}

TestSuite(cli_train, .init = setup_run);

Test(cli_train, help_of_features_train_eval)
{
    const char *commands[] = {"features", "train", "eval"};
    for (int i = 0; i < 3; i++) {
        char *out;
        cr_assert_eq(test_run_dpkitf(&out, "%s --help", commands[i]), 0);
        cr_assert(strstr(out, "usage: dpkit") != NULL, "%s", out);
        free(out);
    }
}

Test(cli_train, features_are_cached_on_the_second_call)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "features %s", config_path), 0, "%s", out);
    cr_assert(strstr(out, "computed") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "features %s", config_path), 0, "%s", out);
    cr_assert(strstr(out, "train   1000 x 9x7x7") != NULL, "%s", out);
    cr_assert(strstr(out, "cached") != NULL && strstr(out, "computed") == NULL, "%s", out);
    free(out);
}

Test(cli_train, train_writes_the_run_and_eval_reads_it)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/run", config_path, dir), 0, "%s", out);
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
    cr_assert_eq(test_run_dpkitf(&out, "eval %s/run/model.h5", dir), 0, "%s", out);
    cr_assert(strstr(out, "synthetic test: accuracy 0.") != NULL || strstr(out, "accuracy 1.0000") != NULL,
              "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "eval %s/run/model.h5 --split train", dir), 0, "%s", out);
    cr_assert(strstr(out, "1000 examples") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "eval %s/run/missing.h5", dir), 1);
    cr_assert(strstr(out, "missing.h5") != NULL, "%s", out);
    free(out);
}

/* With reproducible noise an uninterrupted run and an interrupted one share their keys, so the
 * resumed run must end with the same bits. */
#define REPRODUCIBLE "--set privacy.reproducible_noise=true"

Test(cli_train, interrupted_and_resumed_run_equals_an_uninterrupted_one)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/full " REPRODUCIBLE, config_path, dir), 0,
                 "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/parts --max-epochs 1 " REPRODUCIBLE,
                     config_path, dir), 0, "%s", out);
    free(out);
    char path[2048];
    snprintf(path, sizeof path, "%s/parts/model.h5", dir);
    cr_assert_null(test_read_file(path, NULL), "no model before the run ends");
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/parts --resume --max-epochs 1 " REPRODUCIBLE,
                     config_path, dir), 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/parts --resume " REPRODUCIBLE, config_path,
                     dir), 0, "%s", out);
    free(out);
    size_t n1, n2;
    snprintf(path, sizeof path, "%s/full/model.h5", dir);
    float *a = test_read_params(path, &n1);
    snprintf(path, sizeof path, "%s/parts/model.h5", dir);
    float *b = test_read_params(path, &n2);
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
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/parts --resume --set training.optimizer.lr=3 "
                     REPRODUCIBLE, config_path, dir), 1);
    cr_assert(strstr(out, "config differs") != NULL, "%s", out);
    free(out);
    /* so is switching between secret and reproducible noise */
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/parts --resume", config_path, dir), 1);
    cr_assert(strstr(out, "config differs") != NULL, "%s", out);
    free(out);
}

/* With a moving average of the iterates, the released model is the average (not the last
 * iterate), and a run interrupted and resumed ends with the same average as an uninterrupted one:
 * the checkpoint carries it. */
#define AVERAGE "--set training.average_decay=0.9 " REPRODUCIBLE

Test(cli_train, averaged_iterates_are_released_and_survive_a_resume)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/last " REPRODUCIBLE, config_path,
                                 dir), 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/avg " AVERAGE, config_path, dir),
                 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/avg-parts --max-epochs 1 " AVERAGE,
                                 config_path, dir), 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/avg-parts --resume " AVERAGE,
                                 config_path, dir), 0, "%s", out);
    free(out);
    size_t n1, n2, n3;
    char path[2048];
    snprintf(path, sizeof path, "%s/last/model.h5", dir);
    float *last = test_read_params(path, &n1);
    snprintf(path, sizeof path, "%s/avg/model.h5", dir);
    float *avg = test_read_params(path, &n2);
    snprintf(path, sizeof path, "%s/avg-parts/model.h5", dir);
    float *parts = test_read_params(path, &n3);
    cr_assert(n1 == n2 && n2 == n3);
    cr_assert_neq(memcmp(last, avg, n1 * sizeof *last), 0, "the last iterate was released");
    cr_assert_eq(memcmp(avg, parts, n1 * sizeof *avg), 0, "the resumed average differs");
    free(last), free(avg), free(parts);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/bad --set training.average_decay=1",
                                 config_path, dir), 1, "%s", out);
    cr_assert(strstr(out, "--set training.average_decay=1: training.average_decay: must be below "
                          "1") != NULL, "%s", out);
    free(out);
}

static char *read_string_attr(const char *path, const char *name)
{
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    char *value = NULL;
    cr_assert_eq(h5io_read_attr_string(f, "/", name, &value, &err), 0, "%s: %s", path, err.message);
    h5io_close(f);
    return value;
}

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The default keys the noise and the batches from the OS: retraining from a released model's
 * own config and the same data must not reproduce it. Reproducible noise does, and says so. */
Test(cli_train, noise_is_secret_by_default_and_reproducible_only_on_request)
{
    const char *names[4] = {"secret1", "secret2", "seeded1", "seeded2"};
    float *params[4];
    size_t counts[4];
    for (int i = 0; i < 4; i++) {
        char *out, path[2048];
        cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/%s --set training.epochs=1 %s",
                         config_path, dir, names[i], i < 2 ? "" : REPRODUCIBLE), 0, "%s", out);
        const char *warning = "privacy.reproducible_noise is true";
        /* printed at the start and at the end, even under -q */
        cr_assert_eq(count_of(out, warning), i < 2 ? 0u : 2u, "%s", out);
        free(out);
        snprintf(path, sizeof path, "%s/%s/model.h5", dir, names[i]);
        params[i] = test_read_params(path, &counts[i]);
        char *key = read_string_attr(path, "noise_key");
        cr_assert_str_eq(key, i < 2 ? "secret (OS entropy)"
                                    : "derived from seed - not private against anyone "
                                      "holding the config");
        free(key);
        snprintf(path, sizeof path, "%s/%s/summary.json", dir, names[i]);
        char *summary = test_read_file(path, NULL);
        cr_assert(strstr(summary, i < 2 ? "\"reproducible_noise\": false"
                                        : "\"reproducible_noise\": true"), "%s", summary);
        cr_assert(strstr(summary, i < 2 ? "\"noise_key\": \"secret" : "\"noise_key\": \"derived"),
                  "%s", summary);
        free(summary);
        char *eval;
        cr_assert_eq(test_run_dpkitf(&eval, "eval %s/%s/model.h5", dir, names[i]), 0, "%s", eval);
        cr_assert(strstr(eval, i < 2 ? "noise key: secret" : "noise key: derived from seed"),
                  "%s", eval);
        free(eval);
    }
    cr_assert_eq(counts[0], counts[1]);
    cr_assert_neq(memcmp(params[0], params[1], counts[0] * sizeof(float)), 0,
                  "two secret-keyed trainings must differ");
    cr_assert_eq(counts[2], counts[3]);
    cr_assert_eq(memcmp(params[2], params[3], counts[2] * sizeof(float)), 0,
                 "reproducible noise must give the same bits");
    for (int i = 0; i < 4; i++)
        free(params[i]);
}

static uint8_t *read_key(const char *path)
{
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    int rank;
    size_t dims[H5IO_MAX_RANK];
    uint8_t *key;
    cr_assert_eq(h5io_read_array(f, "/state/rng/key", H5IO_UINT8, &rank, dims, (void **)&key,
                                 &err), 0, "%s", err.message);
    cr_assert(rank == 1 && dims[0] == 32);
    h5io_close(f);
    return key;
}

/* The checkpoint holds the key (so a resume continues the same secret streams) and is created
 * readable by its owner only; model.h5 holds no copy of it, anywhere in the file. */
Test(cli_train, the_key_is_in_the_private_checkpoint_and_never_in_the_model)
{
    char *out, path[2048];
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/run --set training.epochs=1", config_path, dir),
                 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/run/checkpoint.h5", dir);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "checkpoint mode %o", (unsigned)(st.st_mode & 0777));
    uint8_t *key = read_key(path);
    int zero = 1;
    for (int i = 0; i < 32; i++)
        zero &= key[i] == 0;
    cr_assert(!zero);
    snprintf(path, sizeof path, "%s/run/model.h5", dir);
    size_t size;
    char *model = test_read_file(path, &size);
    cr_assert_not_null(model);
    cr_assert_null(memmem(model, size, key, 32), "model.h5 contains the stream key");
    free(model);
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    cr_assert(!h5io_exists(f, "/state") && !h5io_exists(f, "/rng") &&
              !h5io_exists(f, "/model/rng"));
    h5io_close(f);
    free(key);
}

/* A secret-keyed run stopped after a checkpoint and resumed continues its own streams: a copy of
 * the run directory resumed in two steps ends with the same bits as the original resumed in one,
 * with the key of the first invocation, and the same epsilon as a reproducible uninterrupted
 * run. */
Test(cli_train, resumed_secret_run_continues_the_same_secret_streams)
{
    char *out, path[2048], command[4096];
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/a --max-epochs 1", config_path, dir), 0, "%s",
                 out);
    free(out);
    snprintf(path, sizeof path, "%s/a/checkpoint.h5", dir);
    uint8_t *first = read_key(path);
    snprintf(command, sizeof command, "cp -rp %s/a %s/b", dir, dir);
    cr_assert_eq(system(command), 0);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/a --resume", config_path, dir), 0, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/b --resume --max-epochs 1", config_path, dir),
                 0, "%s", out);
    free(out);
    uint8_t *second = read_key(path);
    cr_assert_eq(memcmp(first, second, 32), 0, "the resumed run keeps its key");
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/b --resume", config_path, dir), 0, "%s", out);
    free(out);
    size_t n1, n2;
    snprintf(path, sizeof path, "%s/a/model.h5", dir);
    float *a = test_read_params(path, &n1);
    snprintf(path, sizeof path, "%s/b/model.h5", dir);
    float *b = test_read_params(path, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(a, b, n1 * sizeof *a), 0);
    free(a), free(b), free(first), free(second);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/full " REPRODUCIBLE, config_path, dir), 0,
                 "%s", out);
    free(out);
    char *s1, *s2;
    snprintf(path, sizeof path, "%s/a/summary.json", dir);
    s1 = test_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/full/summary.json", dir);
    s2 = test_read_file(path, NULL);
    const char *e1 = strstr(s1, "\"epsilon\""), *e2 = strstr(s2, "\"epsilon\"");
    cr_assert(e1 && e2);
    cr_assert_eq(strncmp(e1, e2, strcspn(e1, ",")), 0, "%s\n%s", s1, s2);
    free(s1), free(s2);
}

/* A training that takes no step (the budget is spent by the private-bn release before the first
 * one) fails and leaves no model that could pass for a result. */
Test(cli_train, a_training_without_steps_fails_without_a_model)
{
    char *out, path[2048];
    int status = test_run_dpkitf(&out, "-q train %s --output %s/none --set privacy.noise_multiplier=0.5 "
                           "--set privacy.epsilon=0.05", config_path, dir);
    cr_assert_eq(status, 1, "%s", out);
    cr_assert(strstr(out, "no training step") != NULL, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/none/model.h5", dir);
    cr_assert_null(test_read_file(path, NULL));
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
        {"--set seed=-2", "seed: -2, expected 0..9223372036854775807"},
        {"--set seed=-1", "seed: -1, expected 0..9223372036854775807"},
        {"--set privacy.reproducible_noise=maybe", "privacy.reproducible_noise"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        int status = test_run_dpkitf(&out, "-q train %s --output %s/bad %s", config_path, dir, cases[i].set);
        cr_assert(status == 1 || status == 2, "%s: exit %d", cases[i].set, status);
        cr_assert(strstr(out, cases[i].message) != NULL, "%s: %s", cases[i].set, out);
        free(out);
    }
}
