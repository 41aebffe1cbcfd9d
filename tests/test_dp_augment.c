/* Augmentation multiplicity in the linear model's clipped sum (dp/linear_rows.c, docs/maths.md
 * 4.17): the sum over examples of the clipped average of their copies' gradients against the
 * definition built in double, one copy against the path without copies, and the bound C on
 * every example's contribution. */
#include "dp/dp.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A linear model of K classes on D inputs, random weights and bias, and `copies` matrices of
 * count rows (copy 0 is x), each copy a perturbation of x of relative size `spread`, rows of
 * different scales (different norms), labels random. */
typedef struct problem {
    size_t D, K, count, copies;
    dp_model model;
    dp_workspace ws;
    float *x[DP_AUGMENT_MAX_COPIES];
    int32_t *y;
} problem;

static void problem_make(problem *p, size_t D, size_t K, size_t count, size_t copies,
                         double spread, double scale, uint64_t seed)
{
    dpkit_error err;
    *p = (problem){.D = D, .K = K, .count = count, .copies = copies};
    dp_layer_spec spec = {.kind = DP_LAYER_LINEAR, .units = K};
    cr_assert_eq(dp_model_create((dp_shape){D, 1, 1}, K, &spec, 1, &p->model, &err), 0);
    cr_assert_eq(dp_workspace_create(&p->model, 64, &p->ws, &err), 0, "%s", err.message);
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_TEST);
    for (size_t j = 0; j < p->model.param_count; j++)
        p->model.params[j] = (float)(0.3 * rng_gaussian(&r));
    p->y = malloc(count * sizeof *p->y);
    for (size_t c = 0; c < copies; c++)
        p->x[c] = malloc(count * D * sizeof(float));
    for (size_t i = 0; i < count; i++) {
        double s = scale * (1 + (double)(i % 7));
        p->y[i] = (int32_t)rng_below(&r, K);
        for (size_t j = 0; j < D; j++) {
            double v = s * rng_gaussian(&r);
            p->x[0][i * D + j] = (float)v;
            for (size_t c = 1; c < copies; c++)
                p->x[c][i * D + j] = (float)(v + spread * s * rng_gaussian(&r));
        }
    }
}

static void problem_free(problem *p)
{
    for (size_t c = 0; c < p->copies; c++)
        free(p->x[c]);
    free(p->y);
    dp_workspace_free(&p->ws);
    dp_model_free(&p->model);
}

/* The row path's clipped sum of the examples `indices` (n of them) into grad (zeroed first). */
static void row_sum(problem *p, const size_t *indices, size_t n, double clip, float *grad,
                    dp_batch_stats *stats)
{
    dpkit_error err;
    dp_data data = {.x = p->x[0], .y = p->y, .count = p->count, .copies = p->copies,
                    .copy_x = (const float *const *)(p->x + 1)};
    memset(grad, 0, p->model.param_count * sizeof *grad);
    cr_assert_eq(dp_linear_rows_clipped_gradient(&p->model, &p->ws, &data, indices, n, clip,
                                                 grad, stats, &err),
                 0, "%s", err.message);
}

/* The definition in double: g_i = (1/K) sum_k e_ik [x_ik, 1]^T built explicitly, its norm, the
 * clip factor min(1, C / ||g_i||) (none for C <= 0), added to want (P doubles, weights then bias).
 * Returns the number clipped. */
static size_t definition_sum(const problem *p, const size_t *indices, size_t n, double clip,
                             double *want)
{
    size_t D = p->D, K = p->K, P = p->model.param_count, clipped = 0;
    const float *w = p->model.params, *b = p->model.params + K * D;
    double *g = malloc(P * sizeof *g), z[16];
    memset(want, 0, P * sizeof *want);
    for (size_t t = 0; t < n; t++) {
        size_t i = indices[t];
        memset(g, 0, P * sizeof *g);
        for (size_t c = 0; c < p->copies; c++) {
            const float *x = p->x[c] + i * D;
            double top = -INFINITY, total = 0;
            for (size_t k = 0; k < K; k++) {
                z[k] = b[k];
                for (size_t j = 0; j < D; j++)
                    z[k] += (double)w[k * D + j] * x[j];
                top = fmax(top, z[k]);
            }
            for (size_t k = 0; k < K; k++)
                total += exp(z[k] - top);
            for (size_t k = 0; k < K; k++) {
                double e = exp(z[k] - top) / total - (k == (size_t)p->y[i]);
                for (size_t j = 0; j < D; j++)
                    g[k * D + j] += e * x[j] / (double)p->copies;
                g[K * D + k] += e / (double)p->copies;
            }
        }
        double norm = 0;
        for (size_t j = 0; j < P; j++)
            norm += g[j] * g[j];
        norm = sqrt(norm);
        double factor = clip > 0 && norm > clip ? clip / norm : 1.0;
        clipped += factor < 1;
        for (size_t j = 0; j < P; j++)
            want[j] += factor * g[j];
    }
    free(g);
    return clipped;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 2, 3, 4 and 16 copies (blocks of 8, 5, 4 and 1 examples), 10 and 3 classes, an input width
 * off the vector widths, rows sampled with repeats, a clip threshold that clips some examples
 * and none: the row path equals the definition to 1e-5 relative (float sums of hundreds of
 * terms against double). */
Test(dp_augment, clipped_average_of_copies_equals_its_definition)
{
    const size_t copies[] = {2, 3, 4, 16}, classes[] = {10, 3}, count = 40, n = 29;
    for (size_t a = 0; a < 4; a++)
        for (size_t k = 0; k < 2; k++) {
            problem p;
            problem_make(&p, 37, classes[k], count, copies[a], 0.5, 0.05, 40 + a * 2 + k);
            size_t P = p.model.param_count, indices[29];
            rng r;
            rng_init_seed(&r, 7 + a, RNG_STREAM_TEST);
            for (size_t t = 0; t < n; t++)
                indices[t] = (size_t)rng_below(&r, count);
            double *want = malloc(P * sizeof *want);
            float *grad = malloc(P * sizeof *grad);
            /* near the median norm of the unclipped gradients: about half are clipped */
            double norms[29], one[1024];
            for (size_t t = 0; t < n; t++) {
                definition_sum(&p, indices + t, 1, 0.0, one);
                double s = 0;
                for (size_t j = 0; j < P; j++)
                    s += one[j] * one[j];
                norms[t] = sqrt(s);
            }
            qsort(norms, n, sizeof *norms, compare_doubles);
            size_t mid = n / 2;
            while (mid + 1 < n && !(norms[mid] > norms[mid - 1]))
                mid++;
            double clip = 0.5 * (norms[mid - 1] + norms[mid]); /* between two examples' norms */
            double clips[] = {clip, 0.0};
            for (int c = 0; c < 2; c++) {
                dp_batch_stats stats = {0};
                row_sum(&p, indices, n, clips[c], grad, &stats);
                size_t clipped = definition_sum(&p, indices, n, clips[c], want);
                cr_assert_lt(test_relative_error(grad, want, P), 1e-5,
                             "%zu copies, %zu classes, clip %g", copies[a], classes[k], clips[c]);
                cr_assert_eq(stats.clipped, clipped, "%zu copies: %zu clipped, want %zu",
                             copies[a], stats.clipped, clipped);
                if (c == 0)
                    cr_assert(clipped > 0 && clipped < n, "%zu clipped", clipped);
            }
            free(want), free(grad);
            problem_free(&p);
        }
}

/* One copy (copies = 1, copy_x set or not) is the path without copies, bit for bit; K copies
 * that are all the original give the one-copy sum (the average of K equal gradients). */
Test(dp_augment, one_copy_is_the_path_without_copies)
{
    dpkit_error err;
    problem p;
    problem_make(&p, 2 * 2048 + 37, 10, 50, 4, 0.0, 0.02, 61);
    size_t P = p.model.param_count, indices[45];
    for (size_t t = 0; t < 45; t++)
        indices[t] = (t * 7) % 50;
    float *plain = malloc(P * sizeof *plain), *one = malloc(P * sizeof *one);
    float *four = malloc(P * sizeof *four);
    double clip = 0.5;
    dp_batch_stats s_plain = {0}, s_one = {0}, s_four = {0};
    dp_data data = {.x = p.x[0], .y = p.y, .count = p.count};
    memset(plain, 0, P * sizeof *plain);
    cr_assert_eq(dp_linear_rows_clipped_gradient(&p.model, &p.ws, &data, indices, 45, clip, plain,
                                                 &s_plain, &err), 0, "%s", err.message);
    p.copies = 1;
    row_sum(&p, indices, 45, clip, one, &s_one);
    cr_assert_eq(memcmp(plain, one, P * sizeof *one), 0, "copies = 1 differs from none");
    cr_assert_eq(s_one.loss_sum, s_plain.loss_sum);
    cr_assert_eq(s_one.clipped, s_plain.clipped);
    cr_assert(s_plain.clipped > 0, "nothing clipped at %g", clip);
    p.copies = 4; /* spread 0: every copy is x */
    row_sum(&p, indices, 45, clip, four, &s_four);
    double *want = malloc(P * sizeof *want);
    for (size_t j = 0; j < P; j++)
        want[j] = plain[j];
    cr_assert_lt(test_relative_error(four, want, P), 1e-5);
    cr_assert_eq(s_four.clipped, s_plain.clipped);
    cr_assert_eq(s_four.correct, s_plain.correct);
    cr_assert_float_eq(s_four.loss_sum, s_plain.loss_sum, 1e-6 * s_plain.loss_sum);
    free(plain), free(one), free(four), free(want);
    problem_free(&p);
}

/* Every example alone, with gradients far above C (large rows, copies far apart): its
 * contribution's norm is at most C, up to float rounding (1e-6 relative), and close to C
 * (it was clipped, not lost). */
Test(dp_augment, each_example_adds_at_most_the_clip_norm)
{
    const size_t copies[] = {2, 5, 8};
    for (size_t a = 0; a < 3; a++) {
        problem p;
        problem_make(&p, 300, 10, 30, copies[a], 2.0, 1.0, 80 + a);
        size_t P = p.model.param_count;
        for (size_t j = 0; j < P; j++) /* logits of order 1: no softmax error near 0 */
            p.model.params[j] *= 0.01f;
        float *grad = malloc(P * sizeof *grad);
        const double clip = 0.1;
        for (size_t i = 0; i < p.count; i++) {
            dp_batch_stats stats = {0};
            row_sum(&p, &i, 1, clip, grad, &stats);
            double s = 0;
            for (size_t j = 0; j < P; j++)
                s += (double)grad[j] * grad[j];
            cr_assert_leq(sqrt(s), clip * (1 + 1e-6), "%zu copies, example %zu: norm %.9g",
                          copies[a], i, sqrt(s));
            cr_assert_geq(sqrt(s), clip * 0.999, "%zu copies, example %zu: norm %.9g",
                          copies[a], i, sqrt(s));
            cr_assert_eq(stats.clipped, 1);
        }
        free(grad);
        problem_free(&p);
    }
}

/* copies beyond DP_AUGMENT_MAX_COPIES, or copies without their rows, are refused. */
Test(dp_augment, bad_copy_counts_are_refused)
{
    dpkit_error err;
    problem p;
    problem_make(&p, 20, 3, 5, 2, 0.1, 0.1, 90);
    size_t index = 0;
    float grad[64];
    dp_batch_stats stats = {0};
    dp_data data = {.x = p.x[0], .y = p.y, .count = p.count, .copies = 2};
    cr_assert_eq(dp_linear_rows_clipped_gradient(&p.model, &p.ws, &data, &index, 1, 1.0, grad,
                                                 &stats, &err), -1);
    cr_assert(strstr(err.message, "expected 1..16") != NULL, "%s", err.message);
    data.copies = DP_AUGMENT_MAX_COPIES + 1;
    data.copy_x = (const float *const *)(p.x + 1);
    cr_assert_eq(dp_linear_rows_clipped_gradient(&p.model, &p.ws, &data, &index, 1, 1.0, grad,
                                                 &stats, &err), -1);
    cr_assert(strstr(err.message, "17 copies") != NULL, "%s", err.message);
    problem_free(&p);
}
