/* Skew-normal density, CDF and maximum-likelihood fit (the extrapolation model of the Secret
 * Sharer exposure, docs/maths.md 5). */
#include "audit/audit_internal.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_sf_erf.h>
#include <math.h>

#define LOG_SQRT_2PI 0.91893853320467274178

/* log Phi(t) without underflow or cancellation in either tail. */
static double log_normal_cdf(double t)
{
    return gsl_sf_log_erfc(-t / M_SQRT2) - M_LN2;
}

double audit_skewnorm_log_pdf(const audit_skewnorm *d, double x)
{
    double z = (x - d->loc) / d->scale;
    return M_LN2 - log(d->scale) - 0.5 * z * z - LOG_SQRT_2PI + log_normal_cdf(d->shape * z);
}

double audit_skewnorm_neg_log_likelihood(const audit_skewnorm *d, const double *x, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum -= audit_skewnorm_log_pdf(d, x[i]);
    return sum;
}

/* Standardised density 2 phi(t) Phi(a t). */
static double standard_density(double t, void *shape)
{
    double a = *(const double *)shape;
    return exp(M_LN2 - 0.5 * t * t - LOG_SQRT_2PI + log_normal_cdf(a * t));
}

/* F = Phi(z) - 2 T(z, a) with Owen's T cancels badly in the tail that matters for exposure;
 * integrating the positive density keeps full relative accuracy there. Left of 0 integrate
 * (-inf, z]; right of it 1 - [z, inf), whose mass is then below one half. */
double audit_skewnorm_cdf(const audit_skewnorm *d, double x)
{
    double z = (x - d->loc) / d->scale;
    if (isnan(z))
        return NAN;
    if (d->shape == 0.0)
        return gsl_cdf_ugaussian_P(z);
    if (isinf(z))
        return z > 0 ? 1.0 : 0.0;
    gsl_integration_workspace *w = gsl_integration_workspace_alloc(200);
    if (!w)
        return NAN;
    double a = d->shape, result = 0.0, abserr = 0.0;
    gsl_function f = {standard_density, &a};
    gsl_error_handler_t *previous = audit_gsl_quiet();
    if (z <= 0.0)
        gsl_integration_qagil(&f, z, 0.0, 1e-12, 200, w, &result, &abserr);
    else {
        gsl_integration_qagiu(&f, z, 0.0, 1e-12, 200, w, &result, &abserr);
        result = 1.0 - result;
    }
    audit_gsl_restore(previous);
    gsl_integration_workspace_free(w);
    if (result < 0.0)
        result = 0.0;
    if (result > 1.0)
        result = 1.0;
    return result;
}

/* ---- maximum likelihood ------------------------------------------------------------------ */

typedef struct fit_data {
    const double *x;
    size_t n;
} fit_data;

static audit_skewnorm from_vector(const gsl_vector *v)
{
    audit_skewnorm d = {gsl_vector_get(v, 0), gsl_vector_get(v, 1), exp(gsl_vector_get(v, 2))};
    return d;
}

/* Mean negative log-likelihood over (shape, loc, log scale) and its gradient:
 * with z = (x - loc)/scale and w = phi(a z)/Phi(a z),
 * d/da = -mean(w z), d/dloc = -mean(z - a w)/scale, d/dlog scale = -mean(z^2 - a w z - 1). */
static void nll_and_gradient(const gsl_vector *v, void *params, double *f, gsl_vector *g)
{
    const fit_data *data = params;
    audit_skewnorm d = from_vector(v);
    double a = d.shape, s = d.scale;
    double sum = 0.0, ga = 0.0, gl = 0.0, gs = 0.0;
    for (size_t i = 0; i < data->n; i++) {
        double z = (data->x[i] - d.loc) / s;
        double log_cdf = log_normal_cdf(a * z);
        sum -= M_LN2 - log(s) - 0.5 * z * z - LOG_SQRT_2PI + log_cdf;
        if (g) {
            double w = exp(-0.5 * a * a * z * z - LOG_SQRT_2PI - log_cdf);
            ga -= w * z;
            gl -= (z - a * w) / s;
            gs -= z * z - a * w * z - 1.0;
        }
    }
    double n = (double)data->n;
    if (f)
        *f = sum / n;
    if (g) {
        gsl_vector_set(g, 0, ga / n);
        gsl_vector_set(g, 1, gl / n);
        gsl_vector_set(g, 2, gs / n);
    }
}

static double nll_f(const gsl_vector *v, void *params)
{
    double f;
    nll_and_gradient(v, params, &f, NULL);
    return isfinite(f) ? f : GSL_POSINF;
}

static void nll_df(const gsl_vector *v, void *params, gsl_vector *g)
{
    nll_and_gradient(v, params, NULL, g);
}

static void nll_fdf(const gsl_vector *v, void *params, double *f, gsl_vector *g)
{
    nll_and_gradient(v, params, f, g);
}

/* Method-of-moments start (as scipy >= 1.9): sample skewness g1 -> delta -> (a, scale, loc).
 * A |g1| beyond the attainable ~0.9953 is clipped just inside it. */
static void moment_start(const double *x, size_t n, audit_skewnorm *d)
{
    double mean = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    double m2 = 0.0, m3 = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = x[i] - mean;
        m2 += e * e;
        m3 += e * e * e;
    }
    m2 /= (double)n;
    m3 /= (double)n;
    double g1 = m3 / pow(m2, 1.5);
    double max_skew = 0.5 * (4.0 - M_PI) * pow(2.0 / (M_PI - 2.0), 1.5);
    if (fabs(g1) > 0.99 * max_skew)
        g1 = copysign(0.99 * max_skew, g1);
    /* (4-pi)/2 b^3/(1-b^2)^(3/2) = |g1| with b = delta sqrt(2/pi): c = b/sqrt(1-b^2). */
    double c = cbrt(2.0 * fabs(g1) / (4.0 - M_PI));
    double b = c / sqrt(1.0 + c * c);
    double delta = copysign(b * sqrt(M_PI / 2.0), g1);
    d->shape = delta / sqrt(1.0 - delta * delta);
    d->scale = sqrt(m2 / (1.0 - 2.0 * delta * delta / M_PI));
    d->loc = mean - d->scale * delta * sqrt(2.0 / M_PI);
}

int audit_skewnorm_fit(const double *x, size_t n, audit_skewnorm *fit, dpkit_error *err)
{
    if (n < 3)
        return error_set(err, "skew-normal fit: %zu values, expected at least 3", n);
    int all_equal = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return error_set(err, "skew-normal fit: value %zu is %g, expected a finite number",
                             i, x[i]);
        all_equal &= x[i] == x[0];
    }
    if (all_equal)
        return error_set(err, "skew-normal fit: all %zu values equal %g, no spread to fit", n,
                         x[0]);
    audit_skewnorm start;
    moment_start(x, n, &start);
    fit_data data = {x, n};
    gsl_multimin_function_fdf function = {nll_f, nll_df, nll_fdf, 3, &data};
    gsl_vector *v = gsl_vector_alloc(3);
    gsl_multimin_fdfminimizer *m =
        gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, 3);
    if (!v || !m) {
        gsl_vector_free(v);
        gsl_multimin_fdfminimizer_free(m);
        return error_set(err, "skew-normal fit: out of memory");
    }
    gsl_vector_set(v, 0, start.shape);
    gsl_vector_set(v, 1, start.loc);
    gsl_vector_set(v, 2, log(start.scale));
    gsl_error_handler_t *previous = audit_gsl_quiet();
    int status = gsl_multimin_fdfminimizer_set(m, &function, v, 0.01, 0.1);
    for (int iteration = 0; status == GSL_SUCCESS && iteration < 2000; iteration++) {
        status = gsl_multimin_fdfminimizer_iterate(m);
        if (status == GSL_SUCCESS &&
            gsl_multimin_test_gradient(gsl_multimin_fdfminimizer_gradient(m), 1e-10) == GSL_SUCCESS)
            break;
    }
    audit_gsl_restore(previous);
    /* GSL_ENOPROG means the line search could not improve further: at the optimum to machine
     * precision. Anything else leaves a gradient we check below. */
    audit_skewnorm best = from_vector(gsl_multimin_fdfminimizer_x(m));
    double gradient_norm = gsl_blas_dnrm2(gsl_multimin_fdfminimizer_gradient(m));
    gsl_multimin_fdfminimizer_free(m);
    gsl_vector_free(v);
    if (!isfinite(best.shape) || !isfinite(best.loc) || !(best.scale > 0) ||
        !isfinite(best.scale) || !(gradient_norm < 1e-5))
        return error_set(err, "skew-normal fit: optimiser did not converge (shape %g, loc %g, "
                         "scale %g, gradient norm %g)", best.shape, best.loc, best.scale,
                         gradient_norm);
    *fit = best;
    return 0;
}
