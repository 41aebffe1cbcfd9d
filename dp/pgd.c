/* Projected gradient descent on the cross-entropy (Madry et al. 2018, docs/maths.md 12.1):
 * steps along the sign of the input gradient (L-inf) or along the gradient scaled to unit L2
 * norm (L2), each followed by the projection onto the ball around the input and the input
 * range. The result is the last iterate, as in the usual implementations. */
#include "dp/dp.h"

#include "common/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int dp_pgd_check(const dp_pgd_config *c, dpkit_error *err)
{
    if (!(isfinite(c->epsilon) && c->epsilon >= 0))
        return error_set(err, "attack.epsilon: %g, expected a finite value >= 0", c->epsilon);
    if (!(isfinite(c->step) && c->step > 0))
        return error_set(err, "attack.step: %g, expected a finite value > 0", c->step);
    if (c->steps < 0)
        return error_set(err, "attack.steps: %d, expected >= 0", c->steps);
    if (!(isfinite(c->lower) && isfinite(c->upper) && c->lower < c->upper))
        return error_set(err, "attack input range [%g, %g]: expected finite lower < upper",
                         c->lower, c->upper);
    if (c->norm != DP_ATTACK_LINF && c->norm != DP_ATTACK_L2)
        return error_set(err, "attack.norm: expected linf or l2");
    return 0;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void dp_pgd_project(const dp_pgd_config *c, const float *x0, float *x, size_t D)
{
    if (c->norm == DP_ATTACK_L2) {
        double norm = 0;
        for (size_t j = 0; j < D; j++)
            norm += ((double)x[j] - x0[j]) * ((double)x[j] - x0[j]);
        norm = sqrt(norm);
        if (norm > c->epsilon) {
            double s = c->epsilon / norm;
            for (size_t j = 0; j < D; j++)
                x[j] = (float)(x0[j] + s * ((double)x[j] - x0[j]));
        }
    } else {
        for (size_t j = 0; j < D; j++)
            x[j] = (float)clamp(x[j], x0[j] - c->epsilon, x0[j] + c->epsilon);
    }
    for (size_t j = 0; j < D; j++)
        x[j] = (float)clamp(x[j], c->lower, c->upper);
}

/* A uniform point of the cube (L-inf) or of the ball (L2: a Gaussian direction at radius
 * epsilon U^(1/D)) around x0, not yet projected. */
static void random_start(const dp_pgd_config *c, rng *r, const float *x0, float *x, size_t D)
{
    if (c->norm == DP_ATTACK_L2) {
        double norm = 0;
        for (size_t j = 0; j < D; j++) {
            double g = rng_gaussian(r);
            x[j] = (float)g;
            norm += g * g;
        }
        double radius = c->epsilon * pow(rng_uniform(r), 1.0 / (double)D);
        double s = norm > 0 ? radius / sqrt(norm) : 0;
        for (size_t j = 0; j < D; j++)
            x[j] = (float)(x0[j] + s * x[j]);
    } else {
        for (size_t j = 0; j < D; j++)
            x[j] = (float)(x0[j] + c->epsilon * (2 * rng_uniform(r) - 1));
    }
}

void dp_pgd_start(const dp_pgd_config *c, rng *r, const float *x0, float *x, size_t n, size_t D)
{
    for (size_t i = 0; i < n; i++) {
        if (c->random_start)
            random_start(c, r, x0 + i * D, x + i * D, D);
        else
            memcpy(x + i * D, x0 + i * D, D * sizeof *x);
        dp_pgd_project(c, x0 + i * D, x + i * D, D);
    }
}

size_t dp_argmax(const float *z, size_t K)
{
    size_t best = 0;
    for (size_t k = 1; k < K; k++)
        if (z[k] > z[best])
            best = k;
    return best;
}

/* grad = softmax(z) - onehot(y) per row (NULL: none); 1 in wrong[i] when the argmax is not
 * y[i] (NULL: none). */
static void cross_entropy_gradient(const float *z, const int32_t *y, size_t n, size_t K,
                                   float *grad, uint8_t *wrong)
{
    double loss = 0;
    for (size_t i = 0; i < n; i++) {
        int right = dp_softmax_cross_entropy_row(z + i * K, y[i], K, grad ? grad + i * K : NULL,
                                                 &loss);
        if (wrong)
            wrong[i] = !right;
    }
}

void dp_pgd_step(const dp_pgd_config *c, const float *g, float *x, size_t D)
{
    if (c->norm == DP_ATTACK_L2) {
        double norm = 0;
        for (size_t j = 0; j < D; j++)
            norm += (double)g[j] * g[j];
        if (norm > 0)
            for (size_t j = 0; j < D; j++)
                x[j] = (float)(x[j] + c->step * g[j] / sqrt(norm));
    } else {
        for (size_t j = 0; j < D; j++)
            x[j] = (float)(x[j] + c->step * ((g[j] > 0) - (g[j] < 0)));
    }
}

int dp_attack_run(const dp_classifier *cl, const dp_pgd_config *c, const float *x, size_t n,
                  dp_attack_loss loss, void *user, int ascent, float *x_adv, dpkit_error *err)
{
    if (dp_pgd_check(c, err))
        return -1;
    size_t D = cl->input_size, K = cl->class_count, B = cl->max_batch;
    float *z = malloc(B * K * sizeof *z), *gz = malloc(B * K * sizeof *gz);
    float *gx = malloc(B * D * sizeof *gx);
    int rc = 0;
    if (!z || !gz || !gx) {
        rc = error_set(err, "attack: out of memory for a batch of %zu inputs", B);
        goto done;
    }
    rng r;
    rng_init_seed(&r, c->seed, RNG_STREAM_ROBUST);
    for (size_t first = 0; first < n && rc == 0; first += B) {
        size_t m = n - first < B ? n - first : B;
        const float *x0 = x + first * D;
        float *xa = x_adv + first * D;
        dp_pgd_start(c, &r, x0, xa, m, D);
        for (int t = 0; t <= c->steps && rc == 0; t++) {
            int last = t == c->steps; /* judged, not moved */
            rc = cl->logits(cl->user, xa, m, z, err) ||
                 loss(user, first, m, z, last ? NULL : gz, err);
            if (rc || last)
                break;
            rc = cl->input_gradient(cl->user, xa, m, gz, gx, err);
            for (size_t k = 0; rc == 0 && !ascent && k < m * D; k++)
                gx[k] = -gx[k];
            for (size_t i = 0; rc == 0 && i < m; i++) {
                dp_pgd_step(c, gx + i * D, xa + i * D, D);
                dp_pgd_project(c, x0 + i * D, xa + i * D, D);
            }
        }
    }
done:
    free(z);
    free(gz);
    free(gx);
    return rc ? -1 : 0;
}

typedef struct pgd_labels {
    const int32_t *y;
    size_t K;
    int margin;
    uint8_t *fooled;
} pgd_labels;

/* The loss's gradient while attacking: the cross-entropy's softmax(z) - onehot(y), or the
 * margin's e_j - e_y (j the best other class; docs/maths.md 12.1), which does not vanish when
 * the softmax saturates; at the last iterate, whether each input is misclassified. */
static int attack_loss(void *user, size_t first, size_t m, const float *z, float *grad,
                       dpkit_error *err)
{
    (void)err;
    const pgd_labels *l = user;
    if (!grad || !l->margin) {
        if (grad || l->fooled)
            cross_entropy_gradient(z, l->y + first, m, l->K, grad,
                                   grad ? NULL : l->fooled + first);
        return 0;
    }
    for (size_t i = 0; i < m; i++) {
        const float *zi = z + i * l->K;
        size_t y = (size_t)l->y[first + i], j = y == 0 ? 1 : 0;
        for (size_t k = 0; k < l->K; k++)
            if (k != y && zi[k] > zi[j])
                j = k;
        memset(grad + i * l->K, 0, l->K * sizeof *grad);
        grad[i * l->K + j] = 1.0f;
        grad[i * l->K + y] = -1.0f;
    }
    return 0;
}

int dp_pgd(const dp_classifier *cl, const dp_pgd_config *c, const float *x, const int32_t *y,
           size_t n, float *x_adv, uint8_t *fooled, dpkit_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (y[i] < 0 || (size_t)y[i] >= cl->class_count)
            return error_set(err, "label %d of input %zu outside 0..%zu", (int)y[i], i,
                             cl->class_count - 1);
    pgd_labels l = {y, cl->class_count, c->margin_loss, fooled};
    return dp_attack_run(cl, c, x, n, attack_loss, &l, 1, x_adv, err);
}
