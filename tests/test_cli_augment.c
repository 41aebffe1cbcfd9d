/* `dpkit train` with augmentation multiplicity (training.augment_*, docs/maths.md 4.17) on the
 * tiny synthetic run: it trains, its copies' features come from the cache the second time, it
 * is reproducible and differs from the run without copies, and bad values are refused with the
 * key and what is expected. */
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[1024], config_path[1200];

static void setup_run(void)
{
    const char *d = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(d);
    snprintf(dir, sizeof dir, "%s", d);
}

TestSuite(cli_augment, .init = setup_run);

Test(cli_augment, trains_with_copies_from_the_cache)
{
    const char *set = "--set privacy.reproducible_noise=true --set training.augment_multiplicity=3";
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "train %s %s --output %s/first", config_path, set, dir), 0,
                 "%s", out);
    cr_assert(strstr(out, "augmented copy 1 (shift=2;flip=0;seed=7;copy=1): features computed") !=
                  NULL, "%s", out);
    cr_assert(strstr(out, "augmented copy 2 (shift=2;flip=0;seed=7;copy=2): features computed") !=
                  NULL, "%s", out);
    cr_assert(strstr(out, "test accuracy") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "train %s %s --output %s/second", config_path, set, dir), 0,
                 "%s", out);
    cr_assert(strstr(out, "augmented copy 2 (shift=2;flip=0;seed=7;copy=2): features from the "
                          "cache") != NULL, "%s", out);
    free(out);
    char first[1300], second[1300];
    snprintf(first, sizeof first, "%s/first/model.h5", dir);
    snprintf(second, sizeof second, "%s/second/model.h5", dir);
    size_t n1, n2;
    float *p1 = test_read_params(first, &n1), *p2 = test_read_params(second, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(p1, p2, n1 * sizeof *p1), 0, "the cached copies trained another model");
    free(p1), free(p2);
}

/* Multiplicity 1 is the run without the keys, bit for bit; 2 copies (or a flip) train
 * another model. */
Test(cli_augment, one_copy_is_the_plain_run_and_two_differ)
{
    const char *extra[] = {"", "--set training.augment_multiplicity=1 --set training.augment_shift=3",
                           "--set training.augment_multiplicity=2",
                           "--set training.augment_multiplicity=2 --set training.augment_flip=true"};
    double scale, diff[4];
    test_train_and_compare(config_path, dir, "--set privacy.reproducible_noise=true", extra, 4,
                           &scale, diff);
    cr_assert(scale > 0);
    cr_assert_eq(diff[1], 0.0, "multiplicity 1 changed the model by %g", diff[1]);
    cr_assert_gt(diff[2], 1e-3 * scale, "2 copies: %g of %g", diff[2], scale);
    cr_assert_gt(diff[3], 1e-3 * scale, "flip: %g of %g", diff[3], scale);
}

/* A layered model (a small CNN on the ScatterNet features, dp_model_clipped_gradient_copies)
 * trains with copies too: multiplicity 1 is the plain run bit for bit, 2 copies train another
 * model. */
Test(cli_augment, a_cnn_trains_with_copies)
{
    char cnn_path[1300];
    snprintf(cnn_path, sizeof cnn_path, "%s/tiny-cnn.yaml", dir);
    char *text = strdup(test_tiny_config);
    const char *linear = "model: {kind: linear}\n";
    char *at = strstr(text, linear);
    cr_assert_not_null(at);
    *at = '\0';
    char config[4096];
    snprintf(config, sizeof config,
             "%smodel: {kind: cnn, layers: [{kind: conv2d, units: 4, kernel: 3, padding: 1}, "
             "{kind: tanh}, {kind: flatten}, {kind: linear, units: 10}]}\n%s",
             text, at + strlen(linear));
    free(text);
    cr_assert_eq(test_write_file(cnn_path, config, strlen(config)), 0);
    const char *extra[] = {"", "--set training.augment_multiplicity=1",
                           "--set training.augment_multiplicity=2 --set training.augment_flip=true"};
    double scale, diff[3];
    test_train_and_compare(cnn_path, dir, "--set privacy.reproducible_noise=true", extra, 3,
                           &scale, diff);
    cr_assert(scale > 0);
    cr_assert_eq(diff[1], 0.0, "multiplicity 1 changed the model by %g", diff[1]);
    cr_assert_gt(diff[2], 1e-3 * scale, "2 copies: %g of %g", diff[2], scale);
}

Test(cli_augment, bad_values_name_the_key_and_the_range)
{
    struct {
        const char *set, *message;
    } cases[] = {
        {"--set training.augment_multiplicity=0", "training.augment_multiplicity: 0, expected 1..16"},
        {"--set training.augment_multiplicity=17", "training.augment_multiplicity: 17, expected 1..16"},
        {"--set training.augment_shift=9", "training.augment_shift: 9, expected 0..8"},
        {"--set training.augment_shift=-1", "training.augment_shift: -1, expected 0..8"},
        {"--set training.augment_flip=maybe", "training.augment_flip"},
        {"--set training.augment_multiplicity=2 --set training.augment_shift=0",
         "training.augment_multiplicity: 2 with training.augment_shift 0, "
         "training.augment_rotate 0 and training.augment_flip false"},
        {"--set training.augment_rotate=181", "training.augment_rotate: 181, expected 0..180"},
        {"--set training.augment_multiplicity=2 --set features.extractor=hog",
         "training.augment_multiplicity: 2 with features.extractor hog, expected 1"},
        {"--set training.augment_multiplicity=2 --set features.extractor=raw --set "
         "features.normalize.kind=none --set training.input_noise=0.1",
         "training.augment_multiplicity: 2 with adversarial training or input noise, expected 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        int status = test_run_dpkitf(&out, "-q train %s --output %s/bad %s", config_path, dir,
                                     cases[i].set);
        cr_assert(status == 1 || status == 2, "%s: exit %d", cases[i].set, status);
        cr_assert(strstr(out, cases[i].message) != NULL, "%s: %s", cases[i].set, out);
        free(out);
    }
}
