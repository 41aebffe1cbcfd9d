/* Audits with Dirac gradient canaries on coordinates of their own, observed at every iterate
 * (Nasr et al. 2023; docs/maths.md 6d): each canary adds C to a coordinate that no example's
 * gradient touches, so its noised value at step t is C [sampled] + sigma C Z_t. One run gives
 * the one-run bound (6b) beside the ideal attacker's; several give the mu-GDP estimate and a
 * Clopper-Pearson bound over the canaries (6a). */
#include "audit/audit_internal.h"

#include "common/log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Observations kept in memory at once (steps x canaries doubles: 400 MB). */
#define MAX_OBSERVATIONS 5e7

/* log(1 - q + q e^a) without overflow. */
static double log_mixture(double q, double a)
{
    if (q >= 1)
        return a;
    double x = log1p(-q), y = log(q) + a;
    double hi = x > y ? x : y, lo = x > y ? y : x;
    return hi + log1p(exp(lo - hi));
}

typedef struct dirac_scores {
    double *sum; /* per canary: the sum of its observations (units of C) */
    double *llr; /* per canary: the log likelihood ratio, Poisson rate q, claimed sigma */
} dirac_scores;

/* One training with m Dirac canaries; writes the m scores of each kind at offset `first`. */
static int dirac_run(const audit_trainer *t, const dp_data *train, const dp_data *test, size_t m,
                     const uint8_t *included, uint64_t model_index, dirac_scores *scores,
                     size_t first, audit_canary_result *result, double *accuracy,
                     dpkit_error *err)
{
    size_t N = train->count, D = dp_shape_size(t->input);
    long long T = (long long)t->train.epochs * dp_steps_per_epoch(N, t->train.batch_size);
    if ((double)T * (double)m > MAX_OBSERVATIONS)
        return error_set(err, "canary.count: %zu Dirac canaries x %lld steps = %.3g observations, "
                         "at most %.3g (memory)", m, T, (double)T * (double)m, MAX_OBSERVATIONS);
    double *observed = calloc((size_t)T * m, sizeof *observed);
    float *x = malloc(N * D * sizeof *x);
    if (!observed || !x) {
        free(observed);
        free(x);
        return error_set(err, "audit: out of memory for %lld x %zu observations", T, m);
    }
    memcpy(x, train->x, N * D * sizeof *x); /* normalised in place by the training */
    dp_gradient_canaries canaries = {.count = m, .directions = NULL, .included = included,
                                     .observed = observed, .observed_steps = T};
    audit_trained model;
    int status = audit_train_model(t, x, train->y, N, &canaries, model_index, &model, err);
    free(x);
    if (status) {
        free(observed);
        return -1;
    }
    double q = (double)t->train.batch_size / (double)N, sigma = model.noise_multiplier;
    long long steps = model.steps < T ? model.steps : T;
    for (size_t j = 0; j < m; j++) {
        double sum = 0, llr = 0;
        for (long long s = 0; s < steps; s++) {
            double v = observed[(size_t)s * m + j];
            sum += v;
            /* per step: log of the density ratio of (1-q) N(0, sigma^2) + q N(1, sigma^2)
             * against N(0, sigma^2) at v (docs/maths.md 6d) */
            llr += sigma > 0 ? log_mixture(q, (v - 0.5) / (sigma * sigma)) : v;
        }
        scores->sum[first + j] = sum;
        scores->llr[first + j] = llr;
    }
    free(observed);
    status = audit_trained_accuracy(&model, test->x, test->y, test->count, accuracy, err);
    result->train_seconds += model.seconds;
    result->epsilon = model.epsilon;
    result->noise_multiplier = model.noise_multiplier;
    result->steps = model.steps;
    result->sampling_rate = q;
    log_info("model %llu: %zu Dirac canaries observed over %lld steps, sigma %.4g, epsilon %.4g, "
             "%.1f s", (unsigned long long)model_index + 1, m, model.steps,
             model.noise_multiplier, model.epsilon, model.seconds);
    audit_trained_free(&model);
    return status;
}

/* Splits scores by inclusion: with[] the included canaries' scores, without[] the others'. */
static void split(const double *score, const uint8_t *included, size_t n, double *with,
                  size_t *n_with, double *without, size_t *n_without)
{
    *n_with = *n_without = 0;
    for (size_t i = 0; i < n; i++) {
        if (included[i])
            with[(*n_with)++] = score[i];
        else
            without[(*n_without)++] = score[i];
    }
}

/* Clopper-Pearson bound over the canaries: threshold on the canaries of index below m/2 in
 * every run, false positives and negatives on the others (6a: choosing the threshold on the
 * counted trials would void the confidence). */
static int counts_bound(const double *llr, const uint8_t *included, size_t runs, size_t m,
                        double delta, double alpha, audit_canary_result *result,
                        dpkit_error *err)
{
    size_t n = runs * m;
    double *with = malloc(n * sizeof *with), *without = malloc(n * sizeof *without);
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    uint8_t *ia = malloc(n), *ib = malloc(n);
    int status = with && without && a && b && ia && ib
                     ? 0 : error_set(err, "audit: out of memory for %zu canaries", n);
    size_t na = 0, nb = 0;
    for (size_t i = 0; status == 0 && i < n; i++) {
        if (i % m < m / 2)
            a[na] = llr[i], ia[na++] = included[i];
        else
            b[nb] = llr[i], ib[nb++] = included[i];
    }
    size_t w, wo;
    double threshold = INFINITY, eps;
    if (status == 0) {
        split(a, ia, na, with, &w, without, &wo);
        if (w == 0 || wo == 0)
            status = error_set(err, "Dirac audit: the first half of the canaries has %zu "
                               "included and %zu excluded, expected some of each", w, wo);
    }
    if (status == 0)
        status = audit_epsilon_from_scores(with, w, without, wo, delta, 1, alpha, &eps,
                                           &threshold, err);
    if (status == 0) {
        if (!isfinite(threshold))
            threshold = 0; /* nothing refuted on the first half */
        result->threshold = threshold;
        result->false_positives = result->false_negatives = 0;
        result->evaluated_with = result->evaluated_without = 0;
        for (size_t i = 0; i < nb; i++) {
            if (ib[i]) {
                result->evaluated_with++;
                result->false_negatives += !(b[i] > threshold);
            } else {
                result->evaluated_without++;
                result->false_positives += b[i] > threshold;
            }
        }
        if (result->evaluated_with == 0 || result->evaluated_without == 0)
            status = error_set(err, "Dirac audit: the second half of the canaries has %llu "
                               "included and %llu excluded, expected some of each",
                               (unsigned long long)result->evaluated_with,
                               (unsigned long long)result->evaluated_without);
    }
    if (status == 0)
        status = audit_epsilon_from_counts(result->false_positives, result->evaluated_without,
                                           result->false_negatives, result->evaluated_with,
                                           delta, 1, alpha, &result->epsilon_lb_counts, err);
    free(with);
    free(without);
    free(a);
    free(b);
    free(ia);
    free(ib);
    return status;
}

int audit_dirac(const audit_trainer *trainer, const dp_data *train, const dp_data *test,
                const audit_canary_options *options, int multi, audit_canary_result *result,
                dpkit_error *err)
{
    memset(result, 0, sizeof *result);
    size_t m = options->canaries, runs = multi ? options->runs : 1, n = runs * m;
    if (!(options->confidence > 0 && options->confidence < 1))
        return error_set(err, "confidence: %g, expected 0 < confidence < 1", options->confidence);
    if (m < 4)
        return error_set(err, "canary.count: %zu Dirac canaries, expected at least 4", m);
    if (!trainer->train.private_mode)
        return error_set(err, "canary.kind: dirac audits DP-SGD's noise and needs a private "
                         "training (privacy.enabled: true)");
    rng choices;
    rng_init_seed(&choices, trainer->seed, RNG_STREAM_AUDIT);
    dirac_scores scores = {malloc(n * sizeof(double)), malloc(n * sizeof(double))};
    uint8_t *included = malloc(n);
    double *with = malloc(n * sizeof *with), *without = malloc(n * sizeof *without);
    int status = scores.sum && scores.llr && included && with && without
                     ? 0 : error_set(err, "audit: out of memory for %zu canaries", n);
    double accuracy_sum = 0, alpha = 1 - options->confidence;
    result->delta = trainer->train.delta;
    for (size_t r = 0; status == 0 && r < runs; r++) {
        for (size_t j = 0; j < m; j++)
            result->included += included[r * m + j] = rng_uniform(&choices) < 0.5;
        double accuracy;
        status = dirac_run(trainer, train, test, m, included + r * m, r, &scores, r * m, result,
                           &accuracy, err);
        accuracy_sum += accuracy;
    }
    size_t w = 0, wo = 0;
    if (status == 0) {
        result->test_accuracy = accuracy_sum / (double)runs;
        split(scores.sum, included, n, with, &w, without, &wo);
        if (w < 2 || wo < 2)
            status = error_set(err, "Dirac audit: %zu canaries included and %zu excluded, "
                               "expected at least 2 of each (more canaries)", w, wo);
    }
    /* multi-run: two bounds, each at half the level, so that the larger holds at 1 - alpha */
    if (status == 0)
        status = audit_gdp_estimate(with, w, without, wo, result->delta,
                                    multi ? 1 - alpha / 2 : options->confidence, &result->gdp,
                                    err) ||
                 audit_gdp_mu(result->epsilon, result->delta, &result->mu_claimed, err);
    if (status == 0 && multi) {
        status = counts_bound(scores.llr, included, runs, m, result->delta, alpha / 2, result,
                              err);
        double g = result->gdp.epsilon_lower;
        result->epsilon_lb = g > result->epsilon_lb_counts ? g : result->epsilon_lb_counts;
    } else if (status == 0) {
        size_t k;
        status = audit_one_run_bound_compute(scores.sum, included, m, result->delta, alpha,
                                             &result->bound, err) ||
                 audit_one_run_ideal_gaussian(m, result->mu_claimed, result->delta, alpha,
                                              &result->ideal, err) ||
                 audit_one_run_fdp_best_count(m, result->mu_claimed, result->delta, alpha, &k,
                                              err) ||
                 audit_one_run_fdp_bound_compute(scores.sum, included, m, &k, 1, result->delta,
                                                 alpha, &result->fdp, err) ||
                 audit_one_run_fdp_ideal(m, &k, 1, result->mu_claimed, result->delta, alpha,
                                         &result->fdp_ideal, err);
        result->epsilon_lb = options->fdp_bound ? result->fdp.epsilon : result->bound.epsilon;
    }
    audit_roc roc = {0};
    result->auc = NAN;
    if (status == 0 && audit_roc_compute(scores.sum, included, n, &roc, err) == 0)
        result->auc = roc.auc;
    audit_roc_free(&roc);
    if (status == 0) {
        result->signal_count = n;
        result->signal_score = scores.sum;
        result->signal_truth = included;
        scores.sum = NULL;
        included = NULL;
    }
    free(scores.sum);
    free(scores.llr);
    free(included);
    free(with);
    free(without);
    return status;
}
