/* Membership-inference statistics: logit-scaled confidence, loss score, and LiRA's per-example
 * Gaussian fits with its online and offline tests (Carlini et al. 2022; docs/maths.md 6c). */
#include "audit/audit_internal.h"
#include "common/memory.h"

#include <gsl/gsl_sf_erf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOG_SQRT_2PI 0.91893853320467274178

static int check_rows(const char *what, size_t n, size_t classes, const int32_t *labels,
                      dpkit_error *err)
{
    if (classes < 2)
        return error_set(err, "%s: %zu classes, expected at least 2", what, classes);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= classes)
            return error_set(err, "%s: label of example %zu is %d, expected 0..%zu", what, i,
                             (int)labels[i], classes - 1);
    return 0;
}

/* log sum_{c != skip} exp(row[c]) in double, shifted by the maximum (skip = classes: none). */
static double log_sum_exp(const float *row, size_t classes, size_t skip)
{
    double max = -INFINITY, sum = 0.0;
    for (size_t c = 0; c < classes; c++)
        if (c != skip && row[c] > max)
            max = row[c];
    if (max == -INFINITY)
        return -INFINITY;
    for (size_t c = 0; c < classes; c++)
        if (c != skip)
            sum += exp((double)row[c] - max);
    return max + log(sum);
}

int audit_lira_logit_confidence(const float *logits, size_t n, size_t classes,
                                const int32_t *labels, double *phi, dpkit_error *err)
{
    if (check_rows("logit confidence", n, classes, labels, err))
        return -1;
    /* log(p/(1-p)) = logit_y - log sum_{y' != y} exp(logit_y'): no 1 - p cancellation and no
     * softmax underflow (the reference code adds 1e-45 to both probabilities instead, which
     * caps |phi| near 103.6). */
    for (size_t i = 0; i < n; i++) {
        const float *row = logits + i * classes;
        size_t y = (size_t)labels[i];
        phi[i] = (double)row[y] - log_sum_exp(row, classes, y);
        if (isnan(phi[i]))
            return error_set(err, "logit confidence: example %zu has NaN or conflicting "
                             "infinite logits", i);
    }
    return 0;
}

int audit_loss_attack_score(const float *logits, size_t n, size_t classes, const int32_t *labels,
                            double *score, dpkit_error *err)
{
    if (check_rows("loss attack", n, classes, labels, err))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const float *row = logits + i * classes;
        score[i] = (double)row[labels[i]] - log_sum_exp(row, classes, classes);
        if (isnan(score[i]))
            return error_set(err, "loss attack: example %zu has NaN logits", i);
    }
    return 0;
}

void audit_lira_gaussians_free(audit_lira_gaussians *fit)
{
    if (!fit)
        return;
    MEMORY_FREE_ALL(fit->mean_in, fit->std_in, fit->mean_out, fit->std_out);
    memset(fit, 0, sizeof *fit);
}

/* numpy median (mean of the two middle values for even n) and population std (ddof 0). */
static void median_and_std(double *values, size_t n, double *median, double *std)
{
    qsort(values, n, sizeof *values, audit_compare_double);
    *median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    double mean = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += values[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (values[i] - mean) * (values[i] - mean);
    *std = sqrt(ss / (double)n);
}

/* Gathers, for example j and query a, the scores of the first `limit` models whose keep bit is
 * `in`; returns how many. */
static size_t gather(const double *scores, const uint8_t *keep, size_t models, size_t examples,
                     size_t queries, size_t j, size_t a, int in, size_t limit, double *out)
{
    size_t count = 0;
    for (size_t i = 0; i < models && count < limit; i++)
        if ((keep[i * examples + j] != 0) == in)
            out[count++] = scores[(i * examples + j) * queries + a];
    return count;
}

/* Population std of all gathered IN (or OUT) scores over every example and query. */
static double global_std(const double *scores, const uint8_t *keep, size_t models,
                         size_t examples, size_t queries, int in, size_t limit, double *buffer)
{
    double sum = 0.0, ss = 0.0;
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        double mean = total ? sum / (double)total : 0.0;
        for (size_t j = 0; j < examples; j++)
            for (size_t a = 0; a < queries; a++) {
                size_t c = gather(scores, keep, models, examples, queries, j, a, in, limit, buffer);
                for (size_t k = 0; k < c; k++) {
                    if (pass == 0) {
                        sum += buffer[k];
                        total++;
                    } else {
                        ss += (buffer[k] - mean) * (buffer[k] - mean);
                    }
                }
            }
    }
    return total ? sqrt(ss / (double)total) : NAN;
}

int audit_lira_fit(const double *scores, const uint8_t *keep, size_t models, size_t examples,
                   size_t queries, int global_variance, audit_lira_gaussians *fit,
                   dpkit_error *err)
{
    memset(fit, 0, sizeof *fit);
    if (models == 0 || examples == 0 || queries == 0)
        return error_set(err, "LiRA fit: %zu models x %zu examples x %zu queries, expected all "
                         ">= 1", models, examples, queries);
    size_t n_in = models, n_out = models;
    for (size_t j = 0; j < examples; j++) {
        size_t in = 0;
        for (size_t i = 0; i < models; i++) {
            uint8_t k = keep[i * examples + j];
            if (k > 1)
                return error_set(err, "LiRA fit: keep[%zu][%zu] is %u, expected 0 or 1", i, j, k);
            in += k;
            for (size_t a = 0; a < queries; a++)
                if (!isfinite(scores[(i * examples + j) * queries + a]))
                    return error_set(err, "LiRA fit: score of model %zu, example %zu, query %zu "
                                     "is %g, expected a finite number", i, j, a,
                                     scores[(i * examples + j) * queries + a]);
        }
        if (models - in == 0)
            return error_set(err, "LiRA fit: example %zu is IN for all %zu shadow models, "
                             "expected at least one OUT model", j, models);
        n_in = in < n_in ? in : n_in;
        n_out = models - in < n_out ? models - in : n_out;
    }
    size_t cells = examples * queries;
    fit->examples = examples;
    fit->queries = queries;
    fit->has_in = n_in > 0;
    fit->global_variance = global_variance != 0;
    fit->mean_in = malloc(cells * sizeof(double));
    fit->std_in = malloc(cells * sizeof(double));
    fit->mean_out = malloc(cells * sizeof(double));
    fit->std_out = malloc(cells * sizeof(double));
    double *buffer = malloc(models * sizeof *buffer);
    if (!fit->mean_in || !fit->std_in || !fit->mean_out || !fit->std_out || !buffer) {
        free(buffer);
        audit_lira_gaussians_free(fit);
        return error_set(err, "LiRA fit: out of memory for %zu examples", examples);
    }
    /* Every example uses the same number of IN (and OUT) models: the first n_in / n_out. */
    for (size_t j = 0; j < examples; j++)
        for (size_t a = 0; a < queries; a++) {
            size_t cell = j * queries + a;
            fit->mean_in[cell] = fit->std_in[cell] = NAN;
            if (fit->has_in) {
                size_t c = gather(scores, keep, models, examples, queries, j, a, 1, n_in, buffer);
                median_and_std(buffer, c, &fit->mean_in[cell], &fit->std_in[cell]);
            }
            size_t c = gather(scores, keep, models, examples, queries, j, a, 0, n_out, buffer);
            median_and_std(buffer, c, &fit->mean_out[cell], &fit->std_out[cell]);
        }
    if (fit->global_variance) {
        double in = fit->has_in ? global_std(scores, keep, models, examples, queries, 1, n_in,
                                             buffer) : NAN;
        double out = global_std(scores, keep, models, examples, queries, 0, n_out, buffer);
        for (size_t cell = 0; cell < cells; cell++) {
            fit->std_in[cell] = in;
            fit->std_out[cell] = out;
        }
    }
    free(buffer);
    return 0;
}

static double normal_log_pdf(double x, double mean, double std)
{
    double z = (x - mean) / std;
    return -0.5 * z * z - log(std) - LOG_SQRT_2PI;
}

static int check_target(const audit_lira_gaussians *fit, const double *target, dpkit_error *err)
{
    if (!fit || !fit->mean_out)
        return error_set(err, "LiRA: no fitted Gaussians");
    for (size_t cell = 0; cell < fit->examples * fit->queries; cell++)
        if (isnan(target[cell]))
            return error_set(err, "LiRA: target score of example %zu, query %zu is NaN",
                             cell / fit->queries, cell % fit->queries);
    return 0;
}

int audit_lira_online(const audit_lira_gaussians *fit, const double *target, double *statistic,
                      dpkit_error *err)
{
    if (check_target(fit, target, err))
        return -1;
    if (!fit->has_in)
        return error_set(err, "LiRA online: some example is IN for no shadow model; use the "
                         "offline test or more shadow models");
    for (size_t j = 0; j < fit->examples; j++) {
        double sum = 0.0;
        for (size_t a = 0; a < fit->queries; a++) {
            size_t cell = j * fit->queries + a;
            /* With global variance the reference code uses the IN std for both fits. */
            double s_in = fit->std_in[cell] + 1e-30;
            double s_out = (fit->global_variance ? fit->std_in[cell] : fit->std_out[cell]) + 1e-30;
            sum += normal_log_pdf(target[cell], fit->mean_in[cell], s_in) -
                   normal_log_pdf(target[cell], fit->mean_out[cell], s_out);
        }
        statistic[j] = sum / (double)fit->queries;
    }
    return 0;
}

int audit_lira_offline(const audit_lira_gaussians *fit, const double *target,
                       audit_lira_offline_kind kind, double *statistic, dpkit_error *err)
{
    if (check_target(fit, target, err))
        return -1;
    if (kind != AUDIT_LIRA_ONE_SIDED && kind != AUDIT_LIRA_LOG_DENSITY)
        return error_set(err, "LiRA offline: unknown test kind %d", (int)kind);
    for (size_t j = 0; j < fit->examples; j++) {
        double sum = 0.0;
        for (size_t a = 0; a < fit->queries; a++) {
            size_t cell = j * fit->queries + a;
            double s = fit->std_out[cell] + 1e-30, mu = fit->mean_out[cell];
            if (kind == AUDIT_LIRA_ONE_SIDED) {
                /* Lambda = Pr[Z <= phi]; -log(1 - Lambda) = -log Q(z) keeps its order and never
                 * saturates at 1 for clear members. */
                double z = (target[cell] - mu) / s;
                sum += M_LN2 - gsl_sf_log_erfc(z / M_SQRT2);
            } else {
                sum -= normal_log_pdf(target[cell], mu, s);
            }
        }
        statistic[j] = sum / (double)fit->queries;
    }
    return 0;
}
