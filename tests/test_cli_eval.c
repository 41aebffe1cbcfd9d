/* dpkit eval's outputs for other tools: the --json object, the --per-example HDF5 file (its
 * arrays agree with each other and with the reported accuracy, and with dpkit_model_evaluate),
 * and the paths it refuses to write. */
#include "common/h5io.h"
#include "datasets/datasets.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static char dir[1024], model[1200], data[1200];

/* The synthetic images with every third label moved to the next class, as an hdf5:PATH
 * dataset: the model, which learnt the true labels, scores about 2/3 on it, so the accuracy
 * checks below compare something other than 1. */
static void write_relabelled_synthetic(const char *path)
{
    dataset d;
    dpkit_error err;
    cr_assert_eq(dataset_load("synthetic", &d, &err), 0, "%s", err.message);
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0, "%s", err.message);
    dataset_split *splits[2] = {&d.train, &d.test};
    const char *names[2] = {"train", "test"};
    for (int s = 0; s < 2; s++) {
        dataset_split *sp = splits[s];
        cr_assert_eq(sp->dtype, DATASET_UINT8);
        for (size_t i = 0; i < sp->count; i += 3)
            sp->labels[i] = (sp->labels[i] + 1) % d.class_count;
        size_t dims[3] = {sp->count, sp->height, sp->width};
        char name[32];
        snprintf(name, sizeof name, "/%s/x", names[s]);
        cr_assert_eq(h5io_write_array(f, name, H5IO_UINT8, 3, dims, sp->images, &err), 0);
        snprintf(name, sizeof name, "/%s/y", names[s]);
        cr_assert_eq(h5io_write_array(f, name, H5IO_INT32, 1, dims, sp->labels, &err), 0);
    }
    cr_assert_eq(h5io_write_attr_int64(f, "/", "class_count", d.class_count, &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0, "%s", err.message);
    dataset_free(&d);
}

static void setup(void)
{
    char config[1200];
    const char *d = test_run_dir(test_tiny_config, config, sizeof config);
    cr_assert_not_null(d);
    snprintf(dir, sizeof dir, "%s", d);
    snprintf(model, sizeof model, "%s/run/model.h5", dir);
    snprintf(data, sizeof data, "%s/relabelled.h5", dir);
    char *out;
    /* one epoch, reproducible so that every test sees the same model */
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/run --set name=tiny-eval "
                                       "--set training.epochs=1 --set privacy.reproducible_noise=true",
                                 config, dir), 0, "%s", out);
    free(out);
    write_relabelled_synthetic(data);
}

TestSuite(cli_eval, .init = setup, .timeout = 120);

/* stdout alone (logs go to stderr, here made verbose), as a tool reading it sees it. */
static char *eval_json(const char *extra)
{
    char command[8192], path[1200];
    snprintf(path, sizeof path, "%s/eval.json", dir);
    snprintf(command, sizeof command, "%s -v eval %s --json %s >%s 2>/dev/null", test_dpkit_bin(),
             model, extra, path);
    cr_assert_eq(system(command), 0, "%s failed", command);
    size_t size;
    char *text = test_read_file(path, &size);
    cr_assert_not_null(text);
    cr_assert(size > 2 && text[0] == '{' && strcmp(text + size - 2, "}\n") == 0,
              "not one JSON object: %s", text);
    cr_assert_eq(strchr(text, '\n'), text + size - 1, "more than one line: %s", text);
    return text;
}

static double json_number(const char *text, const char *key)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":", key);
    const char *at = strstr(text, needle);
    cr_assert_not_null(at, "no %s in %s", key, text);
    char *end;
    double value = strtod(at + strlen(needle), &end);
    cr_assert(end > at + strlen(needle) && (*end == ',' || *end == '}'), "%s: %s", key, text);
    return value;
}

static void expect_in(const char *text, const char *needle)
{
    cr_assert_not_null(strstr(text, needle), "expected '%s' in: %s", needle, text);
}

Test(cli_eval, json_has_every_field)
{
    char *text = eval_json("");
    char field[1400];
    snprintf(field, sizeof field, "\"model\":\"%s\"", model);
    expect_in(text, field);
    expect_in(text, "\"dataset\":\"synthetic\"");
    expect_in(text, "\"split\":\"test\"");
    expect_in(text, "\"examples\":200,");
    expect_in(text, "\"reproducible_noise\":true");
    expect_in(text, "\"noise_key\":\"derived from seed");
    expect_in(text, "\"per_example\":null");
    expect_in(text, "\"dpkit_version\":\"0.1.0\"");
    double accuracy = json_number(text, "accuracy"), loss = json_number(text, "mean_loss");
    cr_assert(accuracy >= 0 && accuracy <= 1, "%s", text);
    cr_assert(loss >= 0 && isfinite(loss), "%s", text);
    free(text);
    text = eval_json("--split train");
    expect_in(text, "\"split\":\"train\"");
    expect_in(text, "\"examples\":1000,");
    free(text);
    /* the text lines are unchanged without --json */
    cr_assert_eq(test_run_dpkitf(&text, "eval %s", model), 0, "%s", text);
    expect_in(text, "noise key: derived from seed");
    expect_in(text, "synthetic test: accuracy ");
    cr_assert_null(strstr(text, "{"), "%s", text);
    free(text);
}

static void *read_array(h5io_file *f, const char *name, h5io_type type, int rank,
                        const size_t *dims)
{
    int r;
    size_t d[H5IO_MAX_RANK];
    void *values;
    dpkit_error err;
    cr_assert_eq(h5io_read_array(f, name, type, &r, d, &values, &err), 0, "%s", err.message);
    cr_assert_eq(r, rank, "%s: rank %d", name, r);
    for (int k = 0; k < rank; k++)
        cr_assert_eq(d[k], dims[k], "%s: dimension %d is %zu, expected %zu", name, k, d[k], dims[k]);
    return values;
}

static char *read_attr(h5io_file *f, const char *name)
{
    char *value;
    dpkit_error err;
    cr_assert_eq(h5io_read_attr_string(f, "/", name, &value, &err), 0, "%s", err.message);
    return value;
}

Test(cli_eval, per_example_file_agrees_with_the_reported_accuracy)
{
    char extra[2600], path[1200];
    snprintf(path, sizeof path, "%s/per-example.h5", dir);
    snprintf(extra, sizeof extra, "--data hdf5:%s --per-example %s", data, path);
    char *text = eval_json(extra);
    char field[1400];
    snprintf(field, sizeof field, "\"per_example\":\"%s\"", path);
    expect_in(text, field);
    double accuracy = json_number(text, "accuracy"), loss = json_number(text, "mean_loss");
    size_t n = (size_t)json_number(text, "examples"), K = 10;
    free(text);
    cr_assert_eq(n, 200u);
    cr_assert(accuracy > 0.5 && accuracy < 0.8, "relabelled data, accuracy %g", accuracy);

    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    size_t dims[2] = {n, K};
    long long *index = read_array(f, "/index", H5IO_INT64, 1, dims);
    int32_t *label = read_array(f, "/label", H5IO_INT32, 1, dims);
    int32_t *prediction = read_array(f, "/prediction", H5IO_INT32, 1, dims);
    float *losses = read_array(f, "/loss", H5IO_FLOAT32, 1, dims);
    float *logits = read_array(f, "/logits", H5IO_FLOAT32, 2, dims);
    const char *attrs[4][2] = {{"format", "dpkit-eval-1"}, {"model", model}, {"split", "test"},
                               {"dataset", NULL}};
    char dataset_name[1300];
    snprintf(dataset_name, sizeof dataset_name, "hdf5:%s", data);
    attrs[3][1] = dataset_name;
    for (int k = 0; k < 4; k++) {
        char *value = read_attr(f, attrs[k][0]);
        cr_assert_str_eq(value, attrs[k][1], "attribute %s", attrs[k][0]);
        free(value);
    }
    h5io_close(f);

    size_t correct = 0;
    double loss_sum = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(index[i], (long long)i);
        cr_assert_eq(label[i], (int32_t)((i + (i % 3 == 0)) % K), "example %zu", i);
        size_t best = 0;
        for (size_t c = 1; c < K; c++)
            best = logits[i * K + c] > logits[i * K + best] ? c : best;
        cr_assert_eq(prediction[i], (int32_t)best, "example %zu", i);
        /* the cross-entropy of the stored logits */
        double sum = 0;
        for (size_t c = 0; c < K; c++)
            sum += exp((double)logits[i * K + c] - logits[i * K + best]);
        double expected = log(sum) + logits[i * K + best] - logits[i * K + label[i]];
        cr_assert(fabs(losses[i] - expected) <= 1e-5 * (1 + expected), "example %zu: loss %g, "
                  "expected %g", i, losses[i], expected);
        correct += prediction[i] == label[i];
        loss_sum += losses[i];
    }
    cr_assert_eq((double)correct / (double)n, accuracy);
    cr_assert(fabs(loss_sum / (double)n - loss) <= 1e-6 * (1 + loss), "%g vs %g",
              loss_sum / (double)n, loss);

    /* the public call gives the same arrays */
    dpkit_model *m = dpkit_model_load(model, &err);
    cr_assert_not_null(m, "%s", err.message);
    dpkit_eval_result r;
    cr_assert_eq(dpkit_model_evaluate(m, dataset_name, "test", 1, &r, &err), 0, "%s",
                 err.message);
    cr_assert_eq(r.count, n);
    cr_assert_eq(r.class_count, K);
    cr_assert_eq(r.accuracy, accuracy);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(r.labels[i], label[i]);
        cr_assert_eq(r.predictions[i], prediction[i]);
        for (size_t c = 0; c < K; c++)
            cr_assert(fabsf(r.logits[i * K + c] - logits[i * K + c]) <= 1e-5f,
                      "example %zu class %zu", i, c);
    }
    dpkit_eval_result_free(&r);
    cr_assert_null(r.logits);
    /* without per_example only the summary */
    cr_assert_eq(dpkit_model_evaluate(m, NULL, NULL, 0, &r, &err), 0, "%s", err.message);
    cr_assert_eq(r.count, 200u);
    cr_assert(r.labels == NULL && r.logits == NULL);
    dpkit_eval_result_free(&r);
    cr_assert_neq(dpkit_model_evaluate(m, NULL, "valid", 0, &r, &err), 0);
    expect_in(err.message, "split: 'valid', expected test or train");
    dpkit_model_free(m);
    free(index), free(label), free(prediction), free(losses), free(logits);
}

/* The file the output would replace, byte for byte as before. */
static void expect_unchanged(const char *path, const char *before, size_t size)
{
    size_t now;
    char *after = test_read_file(path, &now);
    cr_assert_not_null(after, "%s is gone", path);
    cr_assert(now == size && memcmp(after, before, size) == 0, "%s was changed", path);
    free(after);
}

Test(cli_eval, per_example_refuses_the_model_the_data_and_unwritable_paths)
{
    size_t model_size, data_size;
    char *model_bytes = test_read_file(model, &model_size);
    char *data_bytes = test_read_file(data, &data_size);
    cr_assert(model_bytes && data_bytes);
    char *out;
    /* the model itself, by its own name and by another one */
    cr_assert_eq(test_run_dpkitf(&out, "eval %s --per-example %s", model, model), 1, "%s", out);
    expect_in(out, "is the model file");
    expect_in(out, "it would replace the model");
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "eval %s --json --per-example %s/run/../run/./model.h5", model, dir), 1,
                 "%s", out);
    expect_in(out, "is the model file");
    cr_assert_null(strstr(out, "{"), "%s", out);
    free(out);
    expect_unchanged(model, model_bytes, model_size);
    /* the dataset it reads */
    cr_assert_eq(test_run_dpkitf(&out, "eval %s --data hdf5:%s --per-example %s", model, data, data), 1,
                 "%s", out);
    expect_in(out, "is the dataset file");
    free(out);
    expect_unchanged(data, data_bytes, data_size);
    /* a folder that does not exist, and a path that is a folder */
    cr_assert_eq(test_run_dpkitf(&out, "eval %s --per-example %s/missing/out.h5", model, dir), 1, "%s", out);
    expect_in(out, "/missing/out.h5");
    expect_in(out, "cannot create");
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "eval %s --per-example %s/run", model, dir), 1, "%s", out);
    expect_in(out, "cannot rename");
    free(out);
    /* nothing left behind in the run folder, the model intact */
    char listing[1400];
    snprintf(listing, sizeof listing, "ls %s/run | grep -q tmp", dir);
    cr_assert_neq(system(listing), 0, "a temporary file was left in %s/run", dir);
    expect_unchanged(model, model_bytes, model_size);
    free(model_bytes);
    free(data_bytes);
    /* usage errors */
    cr_assert_eq(test_run_dpkitf(&out, "eval %s --per-example", model), 2, "%s", out);
    free(out);
}
