/* model.mirror_average (docs/maths.md 4.18) on the tiny synthetic run: it only post-processes
 * (the same parameters as without it), its logits are the mean of the model's at each image and
 * at its left-right mirror wherever they are computed (the training's test accuracy, dpkit eval,
 * dpkit_model_evaluate, dpkit_model_predict_images), and what takes the model's own logits
 * refuses such a model. */
#include "datasets/datasets.h"
#include "dpkit.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[1024], config[1200], plain[1300], mirrored[1300];

/* Two one-epoch runs with reproducible noise, without and with the key. */
static void setup(void)
{
    const char *d = test_run_dir(test_tiny_config, config, sizeof config);
    cr_assert_not_null(d);
    snprintf(dir, sizeof dir, "%s", d);
    const char *names[2] = {"plain", "mirrored"};
    const char *sets[2] = {"", "--set model.mirror_average=true"};
    for (int k = 0; k < 2; k++) {
        char *out;
        cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/%s --set training.epochs=1 "
                                           "--set privacy.reproducible_noise=true %s",
                                     config, dir, names[k], sets[k]), 0, "%s", out);
        free(out);
    }
    snprintf(plain, sizeof plain, "%s/plain/model.h5", dir);
    snprintf(mirrored, sizeof mirrored, "%s/mirrored/model.h5", dir);
}

TestSuite(mirror_average, .init = setup);

static double number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    cr_assert_not_null(p, "no %s in %s", key, text);
    return strtod(p + strlen(key), NULL);
}

/* `dpkit eval --json` of a model with extra options: its output (free it). */
static char *eval_json(const char *model, const char *options)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "-q eval %s --json %s", model, options), 0, "%s", out);
    return out;
}

Test(mirror_average, only_post_processes_and_every_evaluation_agrees)
{
    size_t n1, n2;
    float *p1 = test_read_params(plain, &n1), *p2 = test_read_params(mirrored, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(p1, p2, n1 * sizeof *p1), 0, "the key changed the training");
    free(p1), free(p2);

    char summary_path[1300];
    snprintf(summary_path, sizeof summary_path, "%s/mirrored/summary.json", dir);
    char *summary = test_read_file(summary_path, NULL);
    cr_assert_not_null(summary);
    double trained = number_after(summary, "\"test_accuracy\":");
    free(summary);
    char *own = eval_json(mirrored, ""), *forced = eval_json(plain, "--mirror-average"),
         *single = eval_json(plain, "");
    cr_assert(strstr(own, "\"mirror_average\":true") != NULL, "%s", own);
    cr_assert(strstr(single, "\"mirror_average\":false") != NULL, "%s", single);
    /* the training's final test accuracy is the mirror-averaged one, as dpkit eval's */
    cr_assert_eq(number_after(own, "\"accuracy\":"), trained, "%s", own);
    cr_assert_eq(number_after(forced, "\"accuracy\":"), trained, "%s", forced);
    cr_assert_eq(number_after(own, "\"mean_loss\":"), number_after(forced, "\"mean_loss\":"));
    /* and another classifier than the single view's */
    cr_assert_neq(number_after(own, "\"mean_loss\":"), number_after(single, "\"mean_loss\":"),
                  "%s", single);
    free(own), free(forced), free(single);
}

Test(mirror_average, logits_are_the_mean_at_the_image_and_its_mirror)
{
    dataset d;
    dpkit_error err;
    cr_assert_eq(dataset_load("synthetic", &d, &err), 0, "%s", err.message);
    const dataset_split *t = &d.test;
    cr_assert_eq(t->dtype, DATASET_UINT8);
    size_t n = t->count, C = t->channels, H = t->height, W = t->width, pixels = C * H * W;
    float *x = malloc(n * pixels * sizeof *x), *flipped = malloc(n * pixels * sizeof *flipped);
    const uint8_t *u = t->images;
    for (size_t i = 0; i < n * C; i++) /* image i, channel c: one plane */
        for (size_t y = 0; y < H; y++)
            for (size_t col = 0; col < W; col++) {
                x[(i * H + y) * W + col] = (float)u[(i * H + y) * W + col] / 255.0f;
                flipped[(i * H + y) * W + col] = (float)u[(i * H + y) * W + W - 1 - col] / 255.0f;
            }
    dpkit_model *single = dpkit_model_load(plain, &err), *mean = dpkit_model_load(mirrored, &err);
    cr_assert(single && mean, "%s", err.message);
    size_t K = dpkit_model_class_count(single);
    float *z = malloc(n * K * sizeof *z), *zm = malloc(n * K * sizeof *zm),
          *za = malloc(n * K * sizeof *za), *pa = malloc(n * K * sizeof *pa);
    cr_assert_eq(dpkit_model_predict_images(single, x, n, DPKIT_LOGITS, z, &err), 0, "%s",
                 err.message);
    cr_assert_eq(dpkit_model_predict_images(single, flipped, n, DPKIT_LOGITS, zm, &err), 0);
    cr_assert_eq(dpkit_model_predict_images(mean, x, n, DPKIT_LOGITS, za, &err), 0, "%s",
                 err.message);
    cr_assert_eq(dpkit_model_predict_images(mean, x, n, DPKIT_PROBABILITIES, pa, &err), 0);
    dpkit_eval_result r;
    cr_assert_eq(dpkit_model_evaluate(mean, NULL, "test", 1, &r, &err), 0, "%s", err.message);
    cr_assert_eq(r.count, n);
    size_t differs = 0;
    for (size_t i = 0; i < n; i++) {
        double sum = 0;
        for (size_t c = 0; c < K; c++) {
            float expected = 0.5f * (z[i * K + c] + zm[i * K + c]);
            cr_assert(fabsf(za[i * K + c] - expected) <= 1e-6f * (1 + fabsf(expected)),
                      "example %zu class %zu: %g, expected %g", i, c, za[i * K + c], expected);
            /* the evaluation's features come from the cache of the uint8 images */
            cr_assert(fabsf(r.logits[i * K + c] - expected) <= 1e-4f * (1 + fabsf(expected)),
                      "evaluate: example %zu class %zu: %g, expected %g", i, c,
                      r.logits[i * K + c], expected);
            differs += fabsf(zm[i * K + c] - z[i * K + c]) > 1e-3f;
            sum += pa[i * K + c];
        }
        /* probabilities: the softmax of the mean logits */
        cr_assert(fabs(sum - 1) < 1e-5, "example %zu: probabilities sum to %g", i, sum);
    }
    cr_assert_gt(differs, n, "the mirror images gave the images' logits");
    dpkit_eval_result_free(&r);
    /* features show no mirror: refused rather than the single view's logits */
    float features[1] = {0};
    cr_assert_neq(dpkit_model_predict(mean, features, 1, DPKIT_LOGITS, z, &err), 0);
    cr_assert(strstr(err.message, "model.mirror_average") != NULL, "%s", err.message);
    dpkit_model_free(single), dpkit_model_free(mean);
    free(x), free(flipped), free(z), free(zm), free(za), free(pa);
    dataset_free(&d);
}

Test(mirror_average, refused_where_the_models_own_logits_are_taken)
{
    char path[1300], text[4096], *out;
    snprintf(path, sizeof path, "%s/robustness.yaml", dir);
    snprintf(text, sizeof text,
             "kind: robustness\nname: tiny\n"
             "models:\n  - {label: linear, model: %s}\n"
             "attack: {epsilons: \"0 0.1\", steps: 5, step: 0.05, figure_epsilon: 0.1}\n"
             "data: {count: 20, batch: 8}\n"
             "output: {dir: %s/robustness}\n", mirrored, dir);
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0);
    int status = test_run_dpkitf(&out, "-q robustness %s", path);
    cr_assert_neq(status, 0, "%s", out);
    cr_assert(strstr(out, "model.mirror_average") != NULL, "%s", out);
    free(out);

    snprintf(path, sizeof path, "%s/audit.yaml", dir);
    snprintf(text, sizeof text,
             "kind: membership\nname: tiny-audit\n"
             "training: {config: %s, set: \"model.mirror_average=true\"}\n"
             "output: {dir: %s/audit}\n", config, dir);
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0);
    status = test_run_dpkitf(&out, "-q audit %s", path);
    cr_assert_neq(status, 0, "%s", out);
    cr_assert(strstr(out, "model.mirror_average true, expected false") != NULL, "%s", out);
    free(out);
}
