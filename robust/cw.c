/* The Carlini & Wagner L2 attack (IEEE S&P 2017, docs/maths.md 12.5): x' = l + (u - l)
 * (tanh(w) + 1) / 2 keeps the box; Adam on w minimises ||x' - x||^2 + c max(Z_y - max_{j != y}
 * Z_j + kappa, 0); a binary search per input finds the smallest c that succeeds, and the
 * closest successful x' over the whole search is kept. */
#include "robust/robust.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void robust_cw_config_default(robust_cw_config *c)
{
    *c = (robust_cw_config){.initial_c = 1e-3, .search_steps = 9, .steps = 1000,
                            .learning_rate = 0.01, .confidence = 0, .lower = 0, .upper = 1};
}

int robust_cw_check(const robust_cw_config *c, dpkit_error *err)
{
    if (!(isfinite(c->initial_c) && c->initial_c > 0))
        return error_set(err, "cw.initial_c: %g, expected a finite value > 0", c->initial_c);
    if (c->search_steps < 1 || c->steps < 1)
        return error_set(err, "cw.search_steps and cw.steps: %d and %d, expected >= 1",
                         c->search_steps, c->steps);
    if (!(isfinite(c->learning_rate) && c->learning_rate > 0))
        return error_set(err, "cw.learning_rate: %g, expected a finite value > 0",
                         c->learning_rate);
    if (!(isfinite(c->confidence) && c->confidence >= 0))
        return error_set(err, "cw.confidence: %g, expected a finite value >= 0", c->confidence);
    if (!(isfinite(c->lower) && isfinite(c->upper) && c->lower < c->upper))
        return error_set(err, "cw input range [%g, %g]: expected finite lower < upper", c->lower,
                         c->upper);
    return 0;
}

typedef struct cw_batch {
    size_t m, D, K;
    double *w, *am, *av;     /* (m, D): tanh-space variables and Adam's moments */
    float *xp, *z, *gz, *gx; /* x' (m, D), logits, their gradient, input gradient */
    double *c, *lo, *hi, *best; /* per input; best = smallest squared L2 so far */
    uint8_t *won;            /* succeeded in this search step */
} cw_batch;

/* margin Z_y - max_{j != y} Z_j and that j */
static double margin(const float *z, size_t K, int32_t y, size_t *other)
{
    size_t o = y == 0 ? 1 : 0;
    for (size_t k = 0; k < K; k++)
        if ((int32_t)k != y && z[k] > z[o])
            o = k;
    *other = o;
    return (double)z[y] - z[o];
}

static int search_step(const dp_classifier *cl, const robust_cw_config *c, cw_batch *b,
                       const float *x, const int32_t *y, float *x_adv, dpkit_error *err)
{
    size_t m = b->m, D = b->D, K = b->K;
    double range = c->upper - c->lower;
    for (size_t k = 0; k < m * D; k++) {
        double s = 2 * ((double)x[k] - c->lower) / range - 1;
        s = fmax(fmin(s, 1 - 1e-6), -1 + 1e-6);
        b->w[k] = atanh(s);
        b->am[k] = b->av[k] = 0;
    }
    memset(b->won, 0, m);
    const double beta1 = 0.9, beta2 = 0.999;
    for (int t = 1; t <= c->steps + 1; t++) {
        for (size_t k = 0; k < m * D; k++)
            b->xp[k] = (float)(c->lower + range * (tanh(b->w[k]) + 1) / 2);
        if (cl->logits(cl->user, b->xp, m, b->z, err))
            return -1;
        memset(b->gz, 0, m * K * sizeof *b->gz);
        for (size_t i = 0; i < m; i++) {
            size_t other;
            double gap = margin(b->z + i * K, K, y[i], &other), l2 = 0;
            for (size_t j = 0; j < D; j++)
                l2 += ((double)b->xp[i * D + j] - x[i * D + j]) *
                      ((double)b->xp[i * D + j] - x[i * D + j]);
            if (gap + c->confidence <= 0 && l2 < b->best[i]) {
                b->best[i] = l2;
                memcpy(x_adv + i * D, b->xp + i * D, D * sizeof *x_adv);
            }
            if (gap + c->confidence <= 0)
                b->won[i] = 1;
            if (gap + c->confidence > 0) {
                b->gz[i * K + (size_t)y[i]] = (float)b->c[i];
                b->gz[i * K + other] = (float)-b->c[i];
            }
        }
        if (t == c->steps + 1) /* the last point is judged, not moved */
            break;
        if (cl->input_gradient(cl->user, b->xp, m, b->gz, b->gx, err))
            return -1;
        double lr = c->learning_rate * sqrt(1 - pow(beta2, t)) / (1 - pow(beta1, t));
        for (size_t k = 0; k < m * D; k++) {
            double th = tanh(b->w[k]);
            double g = (b->gx[k] + 2 * ((double)b->xp[k] - x[k])) * range * (1 - th * th) / 2;
            b->am[k] = beta1 * b->am[k] + (1 - beta1) * g;
            b->av[k] = beta2 * b->av[k] + (1 - beta2) * g * g;
            b->w[k] -= lr * b->am[k] / (sqrt(b->av[k]) + 1e-8);
        }
    }
    /* the binary search on c (as in the paper's code) */
    for (size_t i = 0; i < m; i++) {
        if (b->won[i]) {
            b->hi[i] = fmin(b->hi[i], b->c[i]);
            b->c[i] = (b->lo[i] + b->hi[i]) / 2;
        } else {
            b->lo[i] = fmax(b->lo[i], b->c[i]);
            b->c[i] = b->hi[i] < 1e10 ? (b->lo[i] + b->hi[i]) / 2 : b->c[i] * 10;
        }
    }
    return 0;
}

static void batch_free(cw_batch *b)
{
    free(b->w), free(b->am), free(b->av), free(b->xp), free(b->z), free(b->gz), free(b->gx);
    free(b->c), free(b->lo), free(b->hi), free(b->best), free(b->won);
}

int robust_cw(const dp_classifier *cl, const robust_cw_config *c, const float *x,
              const int32_t *y, size_t n, float *x_adv, double *l2, dpkit_error *err)
{
    if (robust_cw_check(c, err))
        return -1;
    size_t D = cl->input_size, K = cl->class_count, B = cl->max_batch;
    if (K < 2)
        return error_set(err, "cw: the model has %zu class, expected at least 2", K);
    for (size_t i = 0; i < n; i++)
        if (y[i] < 0 || (size_t)y[i] >= K)
            return error_set(err, "label %d of input %zu outside 0..%zu", (int)y[i], i, K - 1);
    cw_batch b = {.D = D, .K = K};
    b.w = malloc(B * D * sizeof *b.w), b.am = malloc(B * D * sizeof *b.am);
    b.av = malloc(B * D * sizeof *b.av), b.xp = malloc(B * D * sizeof *b.xp);
    b.z = malloc(B * K * sizeof *b.z), b.gz = malloc(B * K * sizeof *b.gz);
    b.gx = malloc(B * D * sizeof *b.gx), b.c = malloc(B * sizeof *b.c);
    b.lo = malloc(B * sizeof *b.lo), b.hi = malloc(B * sizeof *b.hi);
    b.best = malloc(B * sizeof *b.best), b.won = malloc(B);
    int rc = 0;
    if (!b.w || !b.am || !b.av || !b.xp || !b.z || !b.gz || !b.gx || !b.c || !b.lo || !b.hi ||
        !b.best || !b.won)
        rc = error_set(err, "cw: out of memory for a batch of %zu inputs", B);
    for (size_t first = 0; first < n && rc == 0; first += B) {
        b.m = n - first < B ? n - first : B;
        memcpy(x_adv + first * D, x + first * D, b.m * D * sizeof *x_adv);
        for (size_t i = 0; i < b.m; i++) {
            b.c[i] = c->initial_c;
            b.lo[i] = 0;
            b.hi[i] = 1e10;
            b.best[i] = INFINITY;
        }
        for (int s = 0; s < c->search_steps && rc == 0; s++)
            rc = search_step(cl, c, &b, x + first * D, y + first, x_adv + first * D, err);
        for (size_t i = 0; rc == 0 && l2 && i < b.m; i++)
            l2[first + i] = sqrt(b.best[i]);
    }
    batch_free(&b);
    return rc;
}
