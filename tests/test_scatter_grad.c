/* Gradient of the scattering transform with respect to the image: its forward equals the plan's
 * transform, and its gradient matches central finite differences (relative 1e-3). */
#include "common/rng.h"
#include "scatter/scatter.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

typedef struct grad_case {
    int J, L, order;
    size_t H, W;
} grad_case;

static void random_image(rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rng_uniform(r);
}

/* <g, S(x)> in double from the double-precision forward. */
static double inner(scatter_grad *g, const float *x, const float *weights, double *out, size_t K)
{
    scatter_grad_forward(g, x, out);
    double s = 0;
    for (size_t i = 0; i < K; i++)
        s += (double)weights[i] * out[i];
    return s;
}

static void check_case(grad_case c)
{
    dpkit_error err;
    scatter_options o = scatter_default_options();
    o.threads = 1;
    o.planning = SCATTER_PLAN_ESTIMATE;
    scatter_plan *plan = NULL;
    cr_assert_eq(scatter_plan_create(c.J, c.L, c.order, c.H, c.W, &o, &plan, &err), 0, "%s",
                 err.message);
    scatter_grad *g = NULL;
    cr_assert_eq(scatter_grad_create(plan, &g, &err), 0, "%s", err.message);
    size_t n = c.H * c.W;
    size_t K = scatter_plan_channels(plan) * scatter_plan_output_height(plan) *
               scatter_plan_output_width(plan);
    float *x = malloc(n * sizeof *x), *xp = malloc(n * sizeof *xp), *d = malloc(n * sizeof *d);
    float *gi = malloc(n * sizeof *gi), *w = malloc(K * sizeof *w);
    float *ref = malloc(K * sizeof *ref), *xm = malloc(n * sizeof *xm);
    double *out = malloc(K * sizeof *out);
    rng r;
    rng_init_seed(&r, 11, RNG_STREAM_TEST);
    random_image(&r, x, n);
    for (size_t i = 0; i < K; i++)
        w[i] = (float)(2 * rng_uniform(&r) - 1);
    for (size_t i = 0; i < n; i++)
        d[i] = (float)(2 * rng_uniform(&r) - 1);

    /* the forward is the plan's transform */
    cr_assert_eq(scatter_execute(plan, 1, x, ref, &err), 0, "%s", err.message);
    scatter_grad_forward(g, x, out);
    double scale = 0, worst = 0;
    for (size_t i = 0; i < K; i++) { /* float32 plan against double: rounding only */
        scale = fmax(scale, fabs(ref[i]));
        worst = fmax(worst, fabs(ref[i] - out[i]));
    }
    cr_assert(worst <= 1e-5 * scale, "forward differs by %g (scale %g)", worst, scale);

    /* directional derivative along d, and single pixels */
    scatter_grad_forward(g, x, out);
    scatter_grad_backward(g, w, gi);
    /* the analytic side uses the steps the float images really take */
    const double h = 1e-3;
    double analytic = 0;
    for (size_t i = 0; i < n; i++) {
        xp[i] = x[i] + (float)h * d[i];
        xm[i] = x[i] - (float)h * d[i];
        analytic += (double)gi[i] * ((double)xp[i] - xm[i]) / (2 * h);
    }
    double up = inner(g, xp, w, out, K);
    double down = inner(g, xm, w, out, K);
    double numeric = (up - down) / (2 * h);
    cr_assert(fabs(numeric - analytic) <= 1e-3 * fabs(numeric), "direction: %g vs %g", analytic,
              numeric);
    size_t pixels[3] = {0, n / 2 + 3, n - 1};
    for (int p = 0; p < 3; p++) {
        size_t i = pixels[p];
        for (size_t j = 0; j < n; j++)
            xp[j] = x[j];
        xp[i] = x[i] + (float)h;
        up = inner(g, xp, w, out, K);
        double step = (double)xp[i];
        xp[i] = x[i] - (float)h;
        down = inner(g, xp, w, out, K);
        numeric = (up - down) / (step - xp[i]);
        double tol = 1e-3 * fmax(fabs(numeric), 1e-3 * fabs(analytic) / sqrt((double)n));
        cr_assert(fabs(numeric - gi[i]) <= tol, "pixel %zu: %g vs %g", i, (double)gi[i],
                  numeric);
    }
    free(x), free(xp), free(d), free(gi), free(w), free(ref), free(out), free(xm);
    scatter_grad_free(g);
    scatter_plan_free(plan);
}

Test(scatter_grad, mnist_shape_order2)
{
    check_case((grad_case){.J = 2, .L = 8, .order = 2, .H = 28, .W = 28});
}

Test(scatter_grad, non_square_order1)
{
    check_case((grad_case){.J = 1, .L = 4, .order = 1, .H = 10, .W = 14});
}

Test(scatter_grad, three_scales)
{
    check_case((grad_case){.J = 3, .L = 3, .order = 2, .H = 16, .W = 24});
}

Test(scatter_grad, null_plan_is_an_error)
{
    dpkit_error err;
    scatter_grad *g = (scatter_grad *)1;
    cr_assert_neq(scatter_grad_create(NULL, &g, &err), 0);
    cr_assert_null(g);
}
