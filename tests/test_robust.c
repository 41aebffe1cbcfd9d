/* Attacks and certificates (robust/): PGD reaches the analytic optimum of a linear model, stays
 * in its set and is deterministic; randomized smoothing certifies no more than the true
 * distance to a linear decision boundary, and nearly all of it; bad configurations. */
#include "common/rng.h"
#include "robust/robust.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define D 6

/* Two classes, logits z = W x + b with W = (w0; w1). */
static void linear_model(dp_model *m, dp_workspace *ws, size_t batch, const float w[2][D],
                         const float b[2])
{
    dpkit_error err;
    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = 2};
    cr_assert_eq(dp_model_create((dp_shape){D, 1, 1}, 2, &spec, 1, m, &err), 0, "%s", err.message);
    memcpy(m->params, w, 2 * D * sizeof(float));
    memcpy(m->params + 2 * D, b, 2 * sizeof(float));
    cr_assert_eq(dp_workspace_create(m, batch, ws, &err), 0, "%s", err.message);
}

static const float W[2][D] = {{0.5f, -1.0f, 0.25f, 2.0f, 0.0f, -0.75f},
                              {-0.5f, 1.5f, 0.25f, -1.0f, 1.0f, 0.5f}};
static const float BIAS[2] = {0.3f, -0.1f};
static const float X0[D] = {0.2f, -0.4f, 1.0f, 0.1f, 0.0f, 0.3f};

static dp_pgd_config pgd(dp_attack_norm norm, double eps, int steps)
{
    return (dp_pgd_config){.norm = norm, .epsilon = eps, .step = eps / 4, .steps = steps,
                               .lower = -10, .upper = 10, .seed = 1};
}

/* For a linear model the cross-entropy rises along v = w_other - w_label everywhere, so PGD
 * ends at x0 + eps sign(v) (L-inf) or x0 + eps v / ||v|| (L2). */
Test(dp_pgd, reaches_the_linear_optimum)
{
    dp_model m;
    dp_workspace ws;
    linear_model(&m, &ws, 4, W, BIAS);
    dp_model_classifier rm = {&m, &ws};
    dp_classifier c;
    dp_classifier_of_model(&rm, &c);
    int32_t y = 0;
    float adv[D];
    uint8_t fooled;
    dpkit_error err;
    double v[D], norm = 0;
    for (int j = 0; j < D; j++) {
        v[j] = (double)W[1][j] - W[0][j];
        norm += v[j] * v[j];
    }
    norm = sqrt(norm);
    dp_pgd_config linf = pgd(DP_ATTACK_LINF, 0.3, 10);
    cr_assert_eq(dp_pgd(&c, &linf, X0, &y, 1, adv, &fooled, &err), 0, "%s", err.message);
    for (int j = 0; j < D; j++)
        cr_assert_float_eq(adv[j], X0[j] + 0.3 * ((v[j] > 0) - (v[j] < 0)), 1e-6, "linf %d", j);
    dp_pgd_config l2 = pgd(DP_ATTACK_L2, 0.5, 10);
    cr_assert_eq(dp_pgd(&c, &l2, X0, &y, 1, adv, &fooled, &err), 0, "%s", err.message);
    for (int j = 0; j < D; j++)
        cr_assert_float_eq(adv[j], X0[j] + 0.5 * v[j] / norm, 1e-5, "l2 %d", j);
    /* fooled exactly when the attacked margin is negative */
    double margin = BIAS[0] - BIAS[1];
    for (int j = 0; j < D; j++)
        margin += ((double)W[0][j] - W[1][j]) * adv[j];
    cr_assert_eq(fooled, margin < 0);
    dp_workspace_free(&ws);
    dp_model_free(&m);
}

Test(dp_pgd, stays_in_its_set_and_is_deterministic)
{
    dp_layer_spec specs[] = {{.kind = DP_LAYER_CONV2D, .units = 3, .kernel = 3, .stride = 1},
                             {.kind = DP_LAYER_TANH},
                             {.kind = DP_LAYER_FLATTEN},
                             {.kind = DP_LAYER_LINEAR, .units = 4}};
    dp_model m;
    dpkit_error err;
    cr_assert_eq(dp_model_create((dp_shape){1, 8, 8}, 4, specs, 4, &m, &err), 0, "%s",
                 err.message);
    rng r;
    rng_init_seed(&r, 3, RNG_STREAM_TEST);
    dp_model_init(&m, &r, 0);
    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(&m, 3, &ws, &err), 0, "%s", err.message);
    dp_model_classifier rm = {&m, &ws};
    dp_classifier c;
    dp_classifier_of_model(&rm, &c);
    enum { N = 7, P = 64 };
    float x[N * P], a[N * P], b[N * P];
    int32_t y[N];
    for (int i = 0; i < N * P; i++)
        x[i] = (float)rng_uniform(&r);
    for (int i = 0; i < N; i++)
        y[i] = i % 4;
    for (int norm = 0; norm < 2; norm++) {
        dp_pgd_config cfg = {.norm = norm ? DP_ATTACK_L2 : DP_ATTACK_LINF,
                                 .epsilon = norm ? 1.0 : 0.1, .step = 0.05, .steps = 5,
                                 .random_start = 1, .lower = 0, .upper = 1, .seed = 9};
        cr_assert_eq(dp_pgd(&c, &cfg, x, y, N, a, NULL, &err), 0, "%s", err.message);
        cr_assert_eq(dp_pgd(&c, &cfg, x, y, N, b, NULL, &err), 0, "%s", err.message);
        cr_assert_eq(memcmp(a, b, sizeof a), 0, "same seed, different result");
        for (int i = 0; i < N; i++) {
            double sq = 0, mx = 0;
            for (int j = 0; j < P; j++) {
                double d = (double)a[i * P + j] - x[i * P + j];
                sq += d * d;
                mx = fmax(mx, fabs(d));
                cr_assert(a[i * P + j] >= 0 && a[i * P + j] <= 1);
            }
            cr_assert(norm ? sqrt(sq) <= 1.0 + 1e-6 : mx <= 0.1 + 1e-6, "outside the ball");
        }
        cfg.seed = 10;
        cr_assert_eq(dp_pgd(&c, &cfg, x, y, N, b, NULL, &err), 0, "%s", err.message);
        cr_assert_neq(memcmp(a, b, sizeof a), 0, "another seed, same random start");
    }
    dp_pgd_config none = {.norm = DP_ATTACK_LINF, .epsilon = 0.1, .step = 0.05,
                              .steps = 0, .lower = 0, .upper = 1};
    cr_assert_eq(dp_pgd(&c, &none, x, y, N, a, NULL, &err), 0, "%s", err.message);
    cr_assert_eq(memcmp(a, x, sizeof a), 0, "no steps, no random start: the input");
    dp_workspace_free(&ws);
    dp_model_free(&m);
}

Test(dp_pgd, bad_configuration)
{
    dpkit_error err;
    dp_pgd_config c = pgd(DP_ATTACK_LINF, 0.3, 10);
    c.epsilon = NAN;
    cr_assert_neq(dp_pgd_check(&c, &err), 0);
    cr_assert(strstr(err.message, "attack.epsilon"), "%s", err.message);
    c = pgd(DP_ATTACK_LINF, 0.3, 10);
    c.step = 0;
    cr_assert_neq(dp_pgd_check(&c, &err), 0);
    cr_assert(strstr(err.message, "attack.step"), "%s", err.message);
    c = pgd(DP_ATTACK_LINF, 0.3, 10);
    c.lower = 1, c.upper = 0;
    cr_assert_neq(dp_pgd_check(&c, &err), 0);
}

/* The smoothed version of a linear two-class classifier is the classifier itself, and the
 * class keeps probability Phi(d / sigma) under the noise, d the distance to the boundary: a
 * certificate may not exceed d, and with 20,000 samples comes within 15% of it. */
Test(robust_smoothing, certifies_at_most_the_distance_to_a_linear_boundary)
{
    dp_model m;
    dp_workspace ws;
    linear_model(&m, &ws, 256, W, BIAS);
    dp_model_classifier rm = {&m, &ws};
    dp_classifier c;
    dp_classifier_of_model(&rm, &c);
    robust_smoothing_config cfg;
    robust_smoothing_config_default(&cfg);
    cfg.sigma = 0.5;
    cfg.n = 20000;
    double u[D], un = 0, margin = BIAS[0] - BIAS[1];
    for (int j = 0; j < D; j++) {
        u[j] = (double)W[0][j] - W[1][j];
        un += u[j] * u[j];
        margin += u[j] * X0[j];
    }
    un = sqrt(un);
    dpkit_error err;
    for (int k = 0; k < 3; k++) {
        /* move X0 along u so that its distance to the boundary is 0.2, 0.5 and 0.9 */
        double target = (k == 0 ? 0.2 : k == 1 ? 0.5 : 0.9), shift = (target - margin / un) / un;
        float x[D];
        for (int j = 0; j < D; j++)
            x[j] = (float)(X0[j] + shift * u[j]);
        int32_t label;
        double radius;
        cr_assert_eq(robust_certify(&c, &cfg, x, &label, &radius, &err), 0, "%s", err.message);
        cr_assert_eq(label, 0);
        cr_assert(radius <= target && radius >= 0.85 * target, "distance %g, radius %g", target,
                  radius);
    }
    /* on the boundary it abstains */
    float x[D];
    double shift = -margin / un / un;
    for (int j = 0; j < D; j++)
        x[j] = (float)(X0[j] + shift * u[j]);
    int32_t label;
    double radius;
    cr_assert_eq(robust_certify(&c, &cfg, x, &label, &radius, &err), 0, "%s", err.message);
    cr_assert_eq(label, -1);
    cr_assert_eq(radius, 0);
    cfg.alpha = 0.7;
    cr_assert_neq(robust_certify(&c, &cfg, x, &label, &radius, &err), 0);
    cr_assert(strstr(err.message, "smoothing.alpha"), "%s", err.message);
    dp_workspace_free(&ws);
    dp_model_free(&m);
}

/* The smallest L2 perturbation that flips a linear two-class model is the projection onto its
 * boundary, at distance margin / ||w0 - w1||: C&W cannot beat it and should come close. */
Test(robust_cw, finds_the_distance_to_a_linear_boundary)
{
    dp_model m;
    dp_workspace ws;
    linear_model(&m, &ws, 2, W, BIAS);
    dp_model_classifier rm = {&m, &ws};
    dp_classifier c;
    dp_classifier_of_model(&rm, &c);
    double u[D], un = 0, margin = BIAS[0] - BIAS[1];
    for (int j = 0; j < D; j++) {
        u[j] = (double)W[0][j] - W[1][j];
        un += u[j] * u[j];
        margin += u[j] * X0[j];
    }
    un = sqrt(un);
    cr_assert(margin > 0, "X0 must be classified 0");
    robust_cw_config cfg;
    robust_cw_config_default(&cfg);
    cfg.lower = -10, cfg.upper = 10;
    cfg.steps = 300;
    cfg.learning_rate = 0.01;
    int32_t y[2] = {0, 1};
    float x[2 * D], adv[2 * D];
    double l2[2];
    memcpy(x, X0, sizeof X0);
    memcpy(x + D, X0, sizeof X0); /* labelled 1: already misclassified, distance 0 */
    dpkit_error err;
    cr_assert_eq(robust_cw(&c, &cfg, x, y, 2, adv, l2, &err), 0, "%s", err.message);
    double d = margin / un;
    cr_assert(l2[0] >= d * (1 - 1e-4) && l2[0] <= 1.05 * d, "distance %g, C&W %g", d, l2[0]);
    double after = BIAS[0] - BIAS[1];
    for (int j = 0; j < D; j++)
        after += u[j] * adv[j];
    cr_assert(after <= 0, "the result is not misclassified (margin %g)", after);
    cr_assert(l2[1] < 1e-3, "an already misclassified input moved by %g", l2[1]);
    cfg.steps = 0;
    cr_assert_neq(robust_cw(&c, &cfg, x, y, 2, adv, l2, &err), 0);
    cr_assert(strstr(err.message, "cw.search_steps and cw.steps"), "%s", err.message);
    dp_workspace_free(&ws);
    dp_model_free(&m);
}

/* With the identity as feature map, the closest point of the set to the target is the
 * projection of the target: exact in L2, within a step in L-inf. */
Test(robust_collision, reaches_the_projection_of_the_target)
{
    dp_model m;
    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = D};
    dpkit_error err;
    cr_assert_eq(dp_model_create((dp_shape){D, 1, 1}, D, &spec, 1, &m, &err), 0, "%s",
                 err.message);
    memset(m.params, 0, m.param_count * sizeof(float));
    for (int j = 0; j < D; j++)
        m.params[j * D + j] = 1;
    dp_workspace ws;
    cr_assert_eq(dp_workspace_create(&m, 1, &ws, &err), 0, "%s", err.message);
    dp_model_classifier rm = {&m, &ws};
    dp_classifier c;
    dp_classifier_of_model(&rm, &c);
    const float target[D] = {1.0f, 0.5f, -0.2f, 0.3f, 0.9f, -1.0f};
    float adv[D];
    double dist, tn = 0;
    for (int j = 0; j < D; j++)
        tn += ((double)target[j] - X0[j]) * ((double)target[j] - X0[j]);
    tn = sqrt(tn);
    dp_pgd_config l2 = {.norm = DP_ATTACK_L2, .epsilon = 0.5, .step = 0.05, .steps = 100,
                            .lower = -10, .upper = 10};
    cr_assert_eq(robust_collision(&c, &l2, X0, target, 1, adv, &dist, &err), 0, "%s",
                 err.message);
    for (int j = 0; j < D; j++)
        cr_assert_float_eq(adv[j], X0[j] + 0.5 * (target[j] - X0[j]) / tn, 1e-5, "l2 %d", j);
    cr_assert_float_eq(dist, tn - 0.5, 1e-5);
    dp_pgd_config linf = {.norm = DP_ATTACK_LINF, .epsilon = 0.3, .step = 0.01,
                              .steps = 100, .lower = -10, .upper = 10};
    cr_assert_eq(robust_collision(&c, &linf, X0, target, 1, adv, &dist, &err), 0, "%s",
                 err.message);
    for (int j = 0; j < D; j++) {
        double want = fmin(fmax(target[j], X0[j] - 0.3), X0[j] + 0.3);
        cr_assert(fabs(adv[j] - want) <= 0.01 + 1e-6, "linf %d: %g, want %g", j, adv[j], want);
    }
    dp_workspace_free(&ws);
    dp_model_free(&m);
}

/* A saturated model (logit gap ~ 10^3): the cross-entropy's gradient underflows to 0 and PGD
 * does not move (gradient masking); the margin loss crosses the boundary within the same set. */
Test(dp_pgd, margin_loss_gets_through_a_saturated_softmax)
{
    float w[2][D], b[2];
    for (int j = 0; j < D; j++)
        w[0][j] = 1000 * W[0][j], w[1][j] = 1000 * W[1][j];
    b[0] = 1000 * BIAS[0], b[1] = 1000 * BIAS[1];
    dp_model m;
    dp_workspace ws;
    linear_model(&m, &ws, 1, w, b);
    dp_model_classifier rm = {&m, &ws};
    dp_classifier c;
    dp_classifier_of_model(&rm, &c);
    int32_t y = 0;
    float adv[D];
    uint8_t fooled;
    dpkit_error err;
    dp_pgd_config cfg = pgd(DP_ATTACK_LINF, 2.0, 20);
    cr_assert_eq(dp_pgd(&c, &cfg, X0, &y, 1, adv, &fooled, &err), 0, "%s", err.message);
    cr_assert_eq(fooled, 0, "the cross-entropy should stall here");
    cr_assert_eq(memcmp(adv, X0, sizeof adv), 0, "a zero gradient moved the input");
    cfg.margin_loss = 1;
    cr_assert_eq(dp_pgd(&c, &cfg, X0, &y, 1, adv, &fooled, &err), 0, "%s", err.message);
    cr_assert_eq(fooled, 1, "the margin loss did not cross the boundary");
    dp_workspace_free(&ws);
    dp_model_free(&m);
}
