/* Adversarial training end to end (training.adversarial.*): with a radius of 0 it is plain
 * training (to float rounding: a linear model then sums its batch as a layered model does, in
 * another order), with a radius it trains on other inputs unless its warm-up still holds the
 * radius near 0; training with noise on the inputs
 * (training.input_noise) too, which refuses inputs that are not pixels in [0, 1] (adversarial
 * training of models on features: tests/test_adversarial_features.c). */
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
    char config_path[1200], model[5][1300];
    const char *dir = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(dir);
    const char *extra[5] = {"", "--set training.adversarial.norm=linf "
                                "--set training.adversarial.epsilon=0 "
                                "--set training.adversarial.steps=1 "
                                "--set training.adversarial.random_start=false",
                            "--set training.adversarial.norm=linf "
                            "--set training.adversarial.epsilon=0.1 "
                            "--set training.adversarial.step=0.05 --set training.adversarial.steps=3",
                            "--set training.input_noise=0.3",
                            "--set training.adversarial.norm=linf "
                            "--set training.adversarial.epsilon=0.1 "
                            "--set training.adversarial.step=0.05 --set training.adversarial.steps=3 "
                            "--set training.adversarial.ramp_steps=100000000"};
    for (int k = 0; k < 5; k++) {
        char *out = NULL;
        cr_assert_eq(test_run_dpkitf(&out, "-q train %s " RAW " %s --output %s/run%d", config_path,
                                     extra[k], dir, k), 0, "%s", out);
        free(out);
        snprintf(model[k], sizeof model[k], "%s/run%d/model.h5", dir, k);
    }
    size_t n[5];
    float *p[5];
    for (int k = 0; k < 5; k++)
        p[k] = test_read_params(model[k], &n[k]);
    cr_assert(n[0] == n[1] && n[0] == n[2] && n[0] == n[3] && n[0] == n[4]);
    double scale = 0, d[5] = {0};
    for (size_t i = 0; i < n[0]; i++) {
        scale = fmax(scale, fabs(p[0][i]));
        for (int k = 1; k < 5; k++)
            d[k] = fmax(d[k], fabs(p[0][i] - p[k][i]));
    }
    cr_assert(d[1] <= 1e-4 * scale, "radius 0 changed the training by %g (scale %g)", d[1], scale);
    cr_assert(d[2] > 1e-2 * scale, "a radius of 0.1 changed the training by %g only", d[2]);
    cr_assert(d[3] > 1e-2 * scale, "input noise 0.3 changed the training by %g only", d[3]);
    /* a ramp of 10^8 steps keeps the radius near 0 for the run's 10 steps */
    cr_assert(d[4] <= 1e-4 * scale, "the ramp did not start near 0 (%g, scale %g)", d[4], scale);
    for (int k = 0; k < 5; k++)
        free(p[k]);
}

Test(adversarial_training, input_noise_refuses_inputs_that_are_not_pixels)
{
    char config_path[1200];
    const char *dir = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(dir);
    char *out = NULL;
    /* the tiny config trains on ScatterNet features */
    cr_assert_neq(test_run_dpkitf(&out, "-q train %s --set training.input_noise=0.25 "
                                        "--output %s/run", config_path, dir), 0);
    cr_assert(strstr(out, "training.input_noise") && strstr(out, "pixels in [0, 1]"), "%s", out);
    free(out);
}
