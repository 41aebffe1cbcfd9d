/* Audit: exposure against tensorflow_privacy v0.8.0 reference outputs (interpolation exactly,
 * skew-normal extrapolation to 1e-3 relative), and the skew-normal pieces. */
#include "audit/audit_stats.h"
#include "common/config.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference file is JSON, read with the project's YAML/JSON tree parser. */
typedef config_node json_value;

static json_value *load_reference(void)
{
    config_node *doc = NULL;
    dpkit_error err;
    int status = config_parse_file(test_data_path("exposure/exposure_ref.json"), &doc, &err);
    cr_assert_eq(status, 0, "%s", err.message);
    cr_assert_not_null(doc, "exposure_ref.json is empty");
    return doc;
}

static const json_value *json_get(const json_value *object, const char *key)
{
    for (size_t i = 0; object && object->kind == CONFIG_NODE_MAP && i < object->count; i++)
        if (strcmp(object->children[i]->key, key) == 0)
            return object->children[i];
    return NULL;
}

static double json_number(const json_value *node)
{
    double value = NAN;
    dpkit_error err;
    cr_assert_eq(config_node_double(node, &value, &err), 0, "%s", err.message);
    return value;
}

/* A malloc'd copy of a numeric array. */
static double *json_numbers(const json_value *array, size_t *count)
{
    cr_assert(array && array->kind == CONFIG_NODE_SEQUENCE);
    double *values = malloc((array->count ? array->count : 1) * sizeof *values);
    for (size_t i = 0; i < array->count; i++)
        values[i] = json_number(array->children[i]);
    *count = array->count;
    return values;
}

/* Interpolation exposure is log2(n_ref) - log2(rank): allow a few ulps of log2(n_ref), the
 * magnitude of the operands (numpy's log2 and libm's may differ in the last bit). */
Test(audit, exposure_interpolation_matches_tf_privacy)
{
    json_value *doc = load_reference();
    const json_value *cases = json_get(doc, "interpolation");
    cr_assert(cases && cases->count == 3);
    size_t checked = 0;
    double worst = 0.0;
    for (size_t c = 0; c < cases->count; c++) {
        const json_value *tc = cases->children[c];
        size_t n_ref;
        double *ref = json_numbers(json_get(tc, "perplexities_reference"), &n_ref);
        cr_assert_not_null(ref);
        const json_value *ppl = json_get(tc, "perplexities");
        const json_value *expected = json_get(tc, "exposure_input_order");
        const json_value *sorted_expected = json_get(tc, "exposure");
        double tolerance = 4 * DBL_EPSILON * log2((double)n_ref);
        for (size_t k = 0; k < ppl->count; k++) {
            size_t n, n_exp, n_sorted;
            double *p = json_numbers(ppl->children[k], &n);
            double *e = json_numbers(json_get(expected, ppl->children[k]->key), &n_exp);
            double *s = json_numbers(json_get(sorted_expected, ppl->children[k]->key), &n_sorted);
            cr_assert(p && e && s && n == n_exp && n == n_sorted);
            double got[16];
            cr_assert(n <= 16);
            dpkit_error err;
            cr_assert_eq(audit_exposure_interpolation(p, n, ref, n_ref, got, &err), 0, "%s",
                         err.message);
            for (size_t i = 0; i < n; i++) {
                double d = fabs(got[i] - e[i]);
                worst = fmax(worst, d);
                cr_assert(d <= tolerance, "%s key %s canary %zu: %.17g vs %.17g",
                          json_get(tc, "name")->value, ppl->children[k]->key, i, got[i], e[i]);
                checked++;
            }
            /* The library's own order: ascending perplexity, i.e. descending exposure. */
            for (size_t i = 0; i + 1 < n; i++)
                cr_assert(s[i] >= s[i + 1]);
            free(p);
            free(e);
            free(s);
        }
        free(ref);
    }
    cr_assert_eq(checked, 3 + 3 + 4 + 4 + 3 + 1 + 30);
    fprintf(stderr, "exposure interpolation: %zu values, max abs diff %.3g\n", checked, worst);
    config_node_free(doc);
}

Test(audit, exposure_interpolation_upstream_example)
{
    double ref[16], exposure[4];
    for (int i = 0; i < 16; i++)
        ref[i] = i + 1;
    double canaries[4] = {3.5, 0.0, 0.1, 20.0};
    dpkit_error err;
    cr_assert_eq(audit_exposure_interpolation(canaries, 4, ref, 16, exposure, &err), 0);
    cr_assert_eq(exposure[0], 2.0);
    cr_assert_eq(exposure[1], 4.0);
    cr_assert_eq(exposure[2], 4.0);
    cr_assert_eq(exposure[3], 4.0 - log2(17.0));
}

Test(audit, exposure_rejects_bad_input)
{
    double ref[3] = {1, 2, 3}, canary = NAN, out;
    dpkit_error err;
    cr_assert_eq(audit_exposure_interpolation(&canary, 1, ref, 3, &out, &err), -1);
    cr_assert(strstr(err.message, "NaN"), "%s", err.message);
    cr_assert_eq(audit_exposure_interpolation(ref, 1, ref, 0, &out, &err), -1);
    cr_assert(strstr(err.message, "reference"), "%s", err.message);
    double same[4] = {2, 2, 2, 2};
    audit_skewnorm fit;
    cr_assert_eq(audit_skewnorm_fit(same, 4, &fit, &err), -1);
    cr_assert(strstr(err.message, "equal"), "%s", err.message);
    cr_assert_eq(audit_skewnorm_fit(same, 2, &fit, &err), -1);
    double inf_ref[3] = {1, INFINITY, 2};
    cr_assert_eq(audit_exposure_extrapolation(ref, 1, inf_ref, 3, &out, NULL, &err), -1);
    cr_assert(strstr(err.message, "finite"), "%s", err.message);
}

/* The CDF evaluated at scipy's own fitted parameters must reproduce scipy's CDF values. */
Test(audit, skewnorm_cdf_matches_scipy)
{
    json_value *doc = load_reference();
    const json_value *cases = json_get(doc, "extrapolation");
    cr_assert(cases && cases->count == 3);
    for (size_t c = 0; c < cases->count; c++) {
        const json_value *tc = cases->children[c];
        const json_value *fit = json_get(tc, "skewnorm_fit");
        audit_skewnorm d = {json_number(json_get(fit, "a")), json_number(json_get(fit, "loc")),
                            json_number(json_get(fit, "scale"))};
        const json_value *ppl = json_get(tc, "perplexities"), *cdf = json_get(tc, "cdf");
        for (size_t k = 0; k < ppl->count; k++) {
            size_t n, m;
            double *p = json_numbers(ppl->children[k], &n);
            double *f = json_numbers(json_get(cdf, ppl->children[k]->key), &m);
            cr_assert(p && f && n == m);
            for (size_t i = 0; i < n; i++) {
                double got = audit_skewnorm_cdf(&d, p[i]);
                cr_assert(fabs(got - f[i]) <= 1e-9 * f[i], "%s: cdf(%g) = %.15g, scipy %.15g",
                          json_get(tc, "name")->value, p[i], got, f[i]);
            }
            free(p);
            free(f);
        }
        /* And the likelihood at scipy's parameters is scipy's. */
        size_t n_ref;
        double *ref = json_numbers(json_get(tc, "perplexities_reference"), &n_ref);
        double nll = audit_skewnorm_neg_log_likelihood(&d, ref, n_ref);
        double expected = json_number(json_get(tc, "neg_log_likelihood"));
        cr_assert(fabs(nll - expected) <= 1e-9 * fabs(expected), "nll %.15g vs %.15g", nll,
                  expected);
        free(ref);
    }
    config_node_free(doc);
}

/* Our MLE must be at least as likely as scipy's Nelder-Mead result (which stops at xtol = ftol =
 * 1e-4), its parameters close to scipy's, and exposures within 1e-3 relative. */
Test(audit, exposure_extrapolation_matches_tf_privacy)
{
    json_value *doc = load_reference();
    const json_value *cases = json_get(doc, "extrapolation");
    for (size_t c = 0; c < cases->count; c++) {
        const json_value *tc = cases->children[c];
        const char *name = json_get(tc, "name")->value;
        size_t n_ref;
        double *ref = json_numbers(json_get(tc, "perplexities_reference"), &n_ref);
        const json_value *ppl = json_get(tc, "perplexities"), *exp_ref = json_get(tc, "exposure");
        const json_value *sfit = json_get(tc, "skewnorm_fit");
        double scipy_nll = json_number(json_get(tc, "neg_log_likelihood"));
        double worst = 0.0;
        audit_skewnorm fit;
        for (size_t k = 0; k < ppl->count; k++) {
            size_t n, m;
            double *p = json_numbers(ppl->children[k], &n);
            double *e = json_numbers(json_get(exp_ref, ppl->children[k]->key), &m);
            double got[8];
            dpkit_error err;
            cr_assert_eq(audit_exposure_extrapolation(p, n, ref, n_ref, got, &fit, &err), 0,
                         "%s: %s", name, err.message);
            for (size_t i = 0; i < n; i++) {
                double rel = fabs(got[i] - e[i]) / fabs(e[i]);
                worst = fmax(worst, rel);
                cr_assert(rel <= 1e-3, "%s key %s: exposure(%g) = %.10g, reference %.10g", name,
                          ppl->children[k]->key, p[i], got[i], e[i]);
            }
            free(p);
            free(e);
        }
        double nll = audit_skewnorm_neg_log_likelihood(&fit, ref, n_ref);
        cr_assert(nll <= scipy_nll + 1e-6 * fabs(scipy_nll), "%s: nll %.12g > scipy %.12g", name,
                  nll, scipy_nll);
        double sa = json_number(json_get(sfit, "a")), sl = json_number(json_get(sfit, "loc")),
               ss = json_number(json_get(sfit, "scale"));
        fprintf(stderr,
                "%s: shape %.6g (scipy %.6g) loc %.6g (%.6g) scale %.6g (%.6g) nll %.10g (%.10g) "
                "max rel exposure diff %.2g\n",
                name, fit.shape, sa, fit.loc, sl, fit.scale, ss, nll, scipy_nll, worst);
        cr_assert(fabs(fit.shape - sa) <= 0.02 * fmax(1.0, fabs(sa)), "%s shape", name);
        cr_assert(fabs(fit.scale - ss) <= 1e-2 * ss, "%s scale", name);
        cr_assert(fabs(fit.loc - sl) <= 1e-2 * ss, "%s loc", name);
        free(ref);
    }
    config_node_free(doc);
}
