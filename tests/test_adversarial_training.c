/* Adversarial training end to end (training.adversarial.*): with a radius of 0 it is plain
 * training (to float rounding: a linear model then sums its batch as a layered model does, in
 * another order), with a radius it trains on other inputs, and it refuses inputs that are not
 * pixels in [0, 1]. */
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
    char config_path[1200], model[3][1300];
    const char *dir = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(dir);
    const char *extra[3] = {"", "--set training.adversarial.norm=linf "
                                "--set training.adversarial.epsilon=0 "
                                "--set training.adversarial.steps=1 "
                                "--set training.adversarial.random_start=false",
                            "--set training.adversarial.norm=linf "
                            "--set training.adversarial.epsilon=0.1 "
                            "--set training.adversarial.step=0.05 --set training.adversarial.steps=3"};
    for (int k = 0; k < 3; k++) {
        char *out = NULL;
        cr_assert_eq(test_run_dpkitf(&out, "-q train %s " RAW " %s --output %s/run%d", config_path,
                                     extra[k], dir, k), 0, "%s", out);
        free(out);
        snprintf(model[k], sizeof model[k], "%s/run%d/model.h5", dir, k);
    }
    size_t n0, n1, n2;
    float *p0 = test_read_params(model[0], &n0), *p1 = test_read_params(model[1], &n1),
          *p2 = test_read_params(model[2], &n2);
    cr_assert(n0 == n1 && n0 == n2);
    double scale = 0, d1 = 0, d2 = 0;
    for (size_t i = 0; i < n0; i++) {
        scale = fmax(scale, fabs(p0[i]));
        d1 = fmax(d1, fabs(p0[i] - p1[i]));
        d2 = fmax(d2, fabs(p0[i] - p2[i]));
    }
    cr_assert(d1 <= 1e-4 * scale, "radius 0 changed the training by %g (scale %g)", d1, scale);
    cr_assert(d2 > 1e-2 * scale, "a radius of 0.1 changed the training by %g only", d2);
    free(p0), free(p1), free(p2);
}

Test(adversarial_training, refuses_inputs_that_are_not_pixels)
{
    char config_path[1200];
    const char *dir = test_run_dir(test_tiny_config, config_path, sizeof config_path);
    cr_assert_not_null(dir);
    char *out = NULL;
    /* the tiny config trains on ScatterNet features */
    cr_assert_neq(test_run_dpkitf(&out, "-q train %s --set training.adversarial.norm=l2 "
                                        "--output %s/run", config_path, dir), 0);
    cr_assert(strstr(out, "training.adversarial.norm") && strstr(out, "pixels in [0, 1]"), "%s",
              out);
    free(out);
}
