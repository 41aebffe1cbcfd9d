/* Adversarial training end to end (training.adversarial.*): with a radius of 0 it is plain
 * training (to float rounding: a linear model then sums its batch as a layered model does, in
 * another order), with a radius it trains on other inputs unless its warm-up still holds the
 * radius near 0; training with noise on the inputs
 * (training.input_noise) too, which refuses inputs that are not pixels in [0, 1]; adversarial
 * training refuses HOG features (models on ScatterNet features:
 * tests/test_adversarial_features.c). */
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Linear on raw synthetic pixels, reproducible noise; extra --set arguments appended. */
#define RAW "--set features.extractor=raw --set features.normalize.kind=none " \
            "--set features.image_norm=none --set privacy.reproducible_noise=true " \
            "--set training.epochs=1"

Test(adversarial_training, radius_zero_is_plain_training_and_a_radius_is_not)
{
    char config_path[1200];
    const char *dir = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(dir);
    const char *extra[5] = {"", TEST_ADVERSARIAL_RADIUS_0, TEST_ADVERSARIAL_RADIUS_01,
                            "--set training.input_noise=0.3",
                            TEST_ADVERSARIAL_RADIUS_01
                            " --set training.adversarial.ramp_steps=100000000"};
    double scale, d[5];
    test_train_and_compare(config_path, dir, RAW, extra, 5, &scale, d);
    cr_assert(d[1] <= 1e-4 * scale, "radius 0 changed the training by %g (scale %g)", d[1], scale);
    cr_assert(d[2] > 1e-2 * scale, "a radius of 0.1 changed the training by %g only", d[2]);
    cr_assert(d[3] > 1e-2 * scale, "input noise 0.3 changed the training by %g only", d[3]);
    /* a ramp of 10^8 steps keeps the radius near 0 for the run's 10 steps */
    cr_assert(d[4] <= 1e-4 * scale, "the ramp did not start near 0 (%g, scale %g)", d[4], scale);
}

Test(adversarial_training, refuses_inputs_it_cannot_perturb)
{
    char config_path[1200];
    const char *dir = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(dir);
    char *out = NULL;
    cr_assert_neq(test_run_dpkitf(&out, "-q train %s --set features.extractor=hog "
                                        "--set training.adversarial.norm=l2 --output %s/run",
                                  config_path, dir), 0);
    cr_assert(strstr(out, "training.adversarial.norm") && strstr(out, "HOG"), "%s", out);
    free(out);
    /* the tiny config trains on ScatterNet features */
    cr_assert_neq(test_run_dpkitf(&out, "-q train %s --set training.input_noise=0.25 "
                                        "--output %s/run", config_path, dir), 0);
    cr_assert(strstr(out, "training.input_noise") && strstr(out, "pixels in [0, 1]"), "%s", out);
    free(out);
}
