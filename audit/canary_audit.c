/* Epsilon lower bounds for DP-SGD training from canaries (docs/maths.md 6a, 6b): the one-run audit
 * (m canaries in one training) and the multi-run audit (one canary, many trainings), with
 * white-box gradient canaries or black-box mislabelled input canaries. */
#include "audit/audit_internal.h"

#include "common/log.h"
#include "common/memory.h"
#include "common/parallel.h"
#include "common/progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t audit_one_run_guess_counts(size_t m, size_t *counts)
{
    /* r = m / 2^k guesses for k = 4..0 (distinct, at least 2). */
    size_t G = 0;
    for (int k = AUDIT_ONE_RUN_GUESS_COUNTS - 1; k >= 0; k--) {
        size_t r = m >> k;
        if (r >= 2 && (G == 0 || counts[G - 1] != r))
            counts[G++] = r;
    }
    return G;
}

int audit_one_run_bound_compute(const double *scores, const uint8_t *included, size_t m,
                                double delta, double p, audit_one_run_bound *bound,
                                dpkit_error *err)
{
    memset(bound, 0, sizeof *bound);
    if (m < 2)
        return error_set(err, "one-run audit: %zu canaries, expected at least 2", m);
    /* the p-value of each candidate is taken at p / G so that the best of the G candidates is
     * still a 1 - p bound (union bound over the candidates). */
    size_t counts[AUDIT_ONE_RUN_GUESS_COUNTS];
    size_t G = audit_one_run_guess_counts(m, counts);
    for (size_t g = 0; g < G; g++) {
        size_t members = (counts[g] + 1) / 2, nonmembers = counts[g] - members;
        uint64_t r, v;
        double eps;
        if (audit_one_run_guesses(scores, included, m, members, nonmembers, &r, &v, err) ||
            audit_one_run_epsilon(m, r, v, delta, p / (double)G, &eps, err))
            return -1;
        if (g == 0 || eps > bound->epsilon) {
            bound->epsilon = eps;
            bound->guesses = r;
            bound->correct = v;
        }
    }
    bound->grid_epsilon = NAN;
    if (m > 10000)
        return 0;
    audit_one_run_result grid;
    if (audit_one_run_best(scores, included, m, delta, p, &grid, err))
        return -1;
    bound->grid_epsilon = grid.epsilon;
    return 0;
}

void audit_canary_result_free(audit_canary_result *result)
{
    free(result->signal_score);
    free(result->signal_truth);
    result->signal_score = NULL;
    result->signal_truth = NULL;
    result->signal_count = 0;
}

/* First `count` entries of a random permutation of 0..n-1. */
static size_t *random_subset(rng *r, size_t n, size_t count, dpkit_error *err)
{
    size_t *p = malloc(n * sizeof *p);
    if (!p) {
        error_set(err, "audit: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = i;
    for (size_t i = 0; i < count; i++) { /* partial Fisher-Yates */
        size_t j = i + (size_t)rng_below(r, n - i);
        size_t tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
    return p;
}

/* The canary pool of an audit: Dirac gradient directions or mislabelled training rows. */
typedef struct canary_pool {
    audit_canary_kind kind;
    size_t count;
    size_t *coordinate;    /* gradient: parameter index of canary i */
    float *directions;     /* gradient: count x P */
    float magnitude;       /* gradient: C */
    size_t *row;           /* input: training row of canary i */
    int32_t *label;        /* input: the wrong label */
    uint8_t *is_canary;    /* input: per training row */
    float *target;         /* crafted: the target's input */
    int32_t target_label;  /* crafted */
    float *init;           /* crafted: the worst-case initial parameters */
    int mirror;            /* crafted: the training rows are copies of the target, label 1 (6g) */
} canary_pool;

static void pool_free(canary_pool *c)
{
    MEMORY_FREE_ALL(c->coordinate, c->directions, c->row, c->label, c->is_canary, c->target,
                    c->init);
    memset(c, 0, sizeof *c);
}

/* Parameter count of the trainer's model (built once, empty). */
static int parameter_count(const audit_trainer *t, size_t *P, dpkit_error *err)
{
    dp_model model;
    dp_layer_spec linear = {.kind = DP_LAYER_LINEAR, .units = t->class_count};
    if (dp_model_create(t->input, t->class_count, t->layers ? t->layers : &linear,
                        t->layers ? t->layer_count : 1, &model, err))
        return -1;
    *P = model.param_count;
    dp_model_free(&model);
    return 0;
}

/* Model number of the pilot training (far from the audited runs' numbers). */
#define PILOT_MODEL_INDEX (UINT64_C(1) << 40)

/* The `count` parameters that moved least in a pilot training without noise and without
 * canaries: there the data's own updates hide a canary's least. The pilot depends on the data
 * only, never on the inclusion bits, so the one-run and multi-run guarantees are unchanged. */
static int pilot_coordinates(const audit_trainer *t, const dp_data *train, size_t count,
                             size_t *coordinate, dpkit_error *err)
{
    size_t D = dp_shape_size(t->input), N = train->count;
    float *x = malloc(N * D * sizeof *x);
    if (!x)
        return error_set(err, "pilot training: out of memory for %zu x %zu features", N, D);
    memcpy(x, train->x, N * D * sizeof *x);
    audit_trainer quiet = *t;
    quiet.fault = AUDIT_FAULT_NO_NOISE;
    audit_trained m;
    int status = audit_train_model(&quiet, x, train->y, N, NULL, PILOT_MODEL_INDEX, &m, err);
    free(x);
    if (status)
        return error_prefix(err, "pilot training");
    size_t P = m.model.param_count;
    double *drift = malloc(P * sizeof *drift);
    size_t *order = malloc(P * sizeof *order);
    if (!drift || !order) {
        MEMORY_FREE_ALL(drift, order);
        audit_trained_free(&m);
        return error_set(err, "pilot training: out of memory");
    }
    for (size_t k = 0; k < P; k++)
        drift[k] = fabs((double)m.model.params[k] - (double)m.initial_params[k]);
    log_info("pilot training (no noise, no canaries): %lld steps, %.1f s", m.steps, m.seconds);
    audit_trained_free(&m);
    audit_rank_ascending(drift, P, order);
    memcpy(coordinate, order, count * sizeof *coordinate);
    MEMORY_FREE_ALL(drift, order);
    return 0;
}

static int pool_create(const audit_trainer *t, const dp_data *train,
                       const audit_canary_options *options, size_t count, rng *choices,
                       canary_pool *c, dpkit_error *err)
{
    audit_canary_kind kind = options->canary;
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->count = count;
    c->mirror = kind == AUDIT_CANARY_CRAFTED && options->mirror;
    if (kind == AUDIT_CANARY_GRADIENT) {
        size_t P;
        if (parameter_count(t, &P, err))
            return -1;
        if (count > P)
            return error_set(err, "canaries: %zu gradient canaries, the model has only %zu "
                             "parameters (one coordinate each)", count, P);
        /* Dirac canaries C e_k on distinct coordinates: their updates never mix. */
        c->magnitude = (float)(t->train.clip_norm > 0 ? t->train.clip_norm : 1.0);
        c->coordinate = random_subset(choices, P, count, err);
        c->directions = calloc(count * P, sizeof *c->directions);
        if (!c->coordinate || !c->directions)
            return error_set(err, "canaries: out of memory for %zu x %zu directions", count, P);
        if (options->placement == AUDIT_CANARY_PILOT) {
            if (pilot_coordinates(t, train, count, c->coordinate, err))
                return -1;
            /* which canary gets which of the chosen coordinates stays random */
            for (size_t i = count; i > 1; i--) {
                size_t j = (size_t)rng_below(choices, i), tmp = c->coordinate[i - 1];
                c->coordinate[i - 1] = c->coordinate[j];
                c->coordinate[j] = tmp;
            }
        }
        for (size_t i = 0; i < count; i++)
            c->directions[i * P + c->coordinate[i]] = c->magnitude;
        return 0;
    }
    if (kind == AUDIT_CANARY_CRAFTED) {
        size_t P;
        if (parameter_count(t, &P, err))
            return -1;
        c->target = malloc(dp_shape_size(t->input) * sizeof *c->target);
        c->init = malloc(P * sizeof *c->init);
        if (!c->target || !c->init)
            return error_set(err, "canaries: out of memory for %zu parameters", P);
        return audit_crafted_target(t, train, c->mirror, c->target, &c->target_label, c->init,
                                    P, err);
    }
    if (count >= train->count)
        return error_set(err, "canaries: %zu input canaries, expected fewer than the %zu "
                         "training examples", count, train->count);
    c->row = random_subset(choices, train->count, count, err);
    c->label = malloc(count * sizeof *c->label);
    c->is_canary = calloc(train->count, 1);
    if (!c->row || !c->label || !c->is_canary)
        return error_set(err, "canaries: out of memory");
    for (size_t i = 0; i < count; i++) {
        int32_t y = train->y[c->row[i]];
        c->label[i] = (int32_t)((y + 1 + (int32_t)rng_below(choices, t->class_count - 1)) %
                                (int32_t)t->class_count);
        c->is_canary[c->row[i]] = 1;
    }
    return 0;
}

/* The start of both audits: an empty result, the options of the one-run or the multi-run
 * audit checked, the stream of the audit's own choices (canaries, inclusion bits) and the
 * canaries drawn from it (options->canaries of them, or one for the multi-run audit). */
static int begin_audit(const audit_trainer *t, const dp_data *train,
                       const audit_canary_options *o, int one_run, audit_canary_result *result,
                       rng *choices, canary_pool *pool, dpkit_error *err)
{
    memset(pool, 0, sizeof *pool);
    memset(result, 0, sizeof *result);
    if (one_run && o->canaries < 2)
        return error_set(err, "canaries: %zu, expected at least 2", o->canaries);
    if (one_run && o->canary == AUDIT_CANARY_CRAFTED)
        return error_set(err, "canary.kind: crafted is a multi-run audit (kind: multi-run)");
    if (!one_run && o->runs < 2)
        return error_set(err, "runs: %zu, expected at least 2 (half choose the threshold)",
                         o->runs);
    if (!(o->confidence > 0 && o->confidence < 1))
        return error_set(err, "confidence: %g, expected 0 < confidence < 1", o->confidence);
    if (t->class_count < 2 && o->canary == AUDIT_CANARY_INPUT)
        return error_set(err, "canary: input canaries need at least 2 classes");
    rng_init_seed(choices, t->seed, RNG_STREAM_AUDIT);
    if (pool_create(t, train, o, one_run ? o->canaries : 1, choices, pool, err)) {
        pool_free(pool);
        return -1;
    }
    return 0;
}

/* The training rows of one run: every non-canary row (a mirrored target: as many copies of the
 * target labelled 1, docs/maths.md 6g), then the included input canaries with their wrong
 * labels (gradient canaries leave the rows alone). */
static size_t training_rows(const dp_data *train, size_t D, const canary_pool *c,
                            const uint8_t *included, float *x, int32_t *y)
{
    size_t n = 0;
    for (size_t j = 0; j < train->count; j++) {
        if (c->is_canary && c->is_canary[j])
            continue;
        memcpy(x + n * D, c->mirror ? c->target : train->x + j * D, D * sizeof *x);
        y[n++] = c->mirror ? 1 : train->y[j];
    }
    if (c->kind == AUDIT_CANARY_INPUT)
        for (size_t i = 0; i < c->count; i++)
            if (included[i]) {
                memcpy(x + n * D, train->x + c->row[i] * D, D * sizeof *x);
                y[n++] = c->label[i];
            }
    if (c->kind == AUDIT_CANARY_CRAFTED && included[0]) {
        memcpy(x + n * D, c->target, D * sizeof *x);
        y[n++] = c->target_label;
    }
    return n;
}

/* Scores (higher = member) of the canaries after training: the total parameter update along a
 * gradient canary's direction (descent moves against it), or -loss of an input canary. */
static int canary_scores(const canary_pool *c, const dp_data *train, size_t D,
                         const audit_trained *m, double *scores, dpkit_error *err)
{
    if (c->kind == AUDIT_CANARY_GRADIENT) {
        for (size_t i = 0; i < c->count; i++) {
            size_t k = c->coordinate[i];
            scores[i] = ((double)m->initial_params[k] - (double)m->model.params[k]) / c->magnitude;
        }
        return 0;
    }
    size_t K = m->model.class_count;
    float *x = malloc(c->count * D * sizeof *x), *logits = malloc(c->count * K * sizeof *logits);
    int status = x && logits ? 0 : error_set(err, "canaries: out of memory");
    for (size_t i = 0; status == 0 && i < c->count; i++)
        memcpy(x + i * D, c->target ? c->target : train->x + c->row[i] * D, D * sizeof *x);
    if (status == 0)
        status = audit_trained_logits(m, x, c->count, logits, err) ||
                 audit_loss_attack_score(logits, c->count, K,
                                         c->target ? &c->target_label : c->label, scores, err);
    free(x);
    free(logits);
    return status ? -1 : 0;
}

/* Trains one model and scores its canaries; models (NULL: a single training) counts the
 * audit's trainings for the time left in the log line. */
static int train_run(const audit_trainer *t, const dp_data *train, const dp_data *test,
                     const canary_pool *c, const uint8_t *included, uint64_t model_index,
                     progress *models, double *scores, audit_canary_result *result,
                     double *accuracy, dpkit_error *err)
{
    size_t D = dp_shape_size(t->input);
    size_t capacity = train->count + (c->kind == AUDIT_CANARY_GRADIENT ? 0 : c->count);
    float *x = malloc(capacity * D * sizeof *x);
    int32_t *y = malloc(capacity * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return error_set(err, "audit: out of memory for %zu x %zu features", capacity, D);
    }
    size_t n = training_rows(train, D, c, included, x, y);
    dp_gradient_canaries gradient = {.count = c->count, .directions = c->directions,
                                     .included = included};
    audit_trained m;
    int status = audit_train_model(t, x, y, n, c->kind == AUDIT_CANARY_GRADIENT ? &gradient : NULL,
                                   model_index, &m, err);
    free(x);
    free(y);
    if (status)
        return -1;
    status = canary_scores(c, train, D, &m, scores, err) ||
             audit_trained_accuracy(&m, test->x, test->y, test->count, accuracy, err);
    result->train_seconds += m.seconds;
    if (!(result->epsilon >= m.epsilon)) /* the largest over runs (input canaries change N) */
        result->epsilon = m.epsilon;
    result->noise_multiplier = m.noise_multiplier;
    result->steps = m.steps;
    char eta[128] = "";
    if (models) {
        char left[96];
        progress_count(models, models->done + 1);
        progress_describe(models, left, sizeof left);
        snprintf(eta, sizeof eta, "; audit: %zu/%zu models, %s", models->done, models->total,
                 left);
    }
    log_info("model %llu: %zu examples, %lld steps, sigma %.4g, epsilon %.4g, %.1f s%s",
             (unsigned long long)model_index + 1, n, m.steps, m.noise_multiplier, m.epsilon,
             m.seconds, eta);
    audit_trained_free(&m);
    return status ? -1 : 0;
}

int audit_one_run(const audit_trainer *trainer, const dp_data *train, const dp_data *test,
                  const audit_canary_options *options, audit_canary_result *result,
                  dpkit_error *err)
{
    rng choices;
    canary_pool pool;
    if (begin_audit(trainer, train, options, 1, result, &choices, &pool, err))
        return -1;
    size_t m = options->canaries;
    uint8_t *included = malloc(m);
    double *scores = malloc(m * sizeof *scores);
    audit_roc roc = {0};
    int status = -1;
    if (!included || !scores) {
        error_set(err, "audit: out of memory for %zu canaries", m);
        goto done;
    }
    for (size_t i = 0; i < m; i++)
        result->included += included[i] = rng_uniform(&choices) < 0.5;
    result->delta = trainer->train.private_mode ? trainer->train.delta : 0;
    if (train_run(trainer, train, test, &pool, included, 0, NULL, scores, result,
                  &result->test_accuracy, err) ||
        audit_one_run_bound_compute(scores, included, m, result->delta, 1 - options->confidence,
                                    &result->bound, err))
        goto done;
    result->epsilon_lb = result->bound.epsilon;
    result->auc = NAN;
    if (result->included > 0 && result->included < m) {
        if (audit_roc_compute(scores, included, m, &roc, err))
            goto done;
        result->auc = roc.auc;
    }
    result->signal_count = m;
    result->signal_score = scores;
    result->signal_truth = included;
    scores = NULL;
    included = NULL;
    status = 0;
done:
    pool_free(&pool);
    audit_roc_free(&roc);
    MEMORY_FREE_ALL(included, scores);
    return status;
}

int audit_multi_run(const audit_trainer *trainer, const dp_data *train, const dp_data *test,
                    const audit_canary_options *options, audit_canary_result *result,
                    dpkit_error *err)
{
    rng choices;
    canary_pool pool;
    if (begin_audit(trainer, train, options, 0, result, &choices, &pool, err))
        return -1;
    size_t R = options->runs;
    double *with = malloc(R * sizeof *with), *without = malloc(R * sizeof *without);
    audit_roc roc = {0};
    int status = -1;
    if (!with || !without) {
        error_set(err, "audit: out of memory for %zu runs", R);
        goto done;
    }
    audit_trainer crafted = *trainer; /* a crafted target's runs start from its worst case */
    crafted.initial_params = pool.init;
    if (options->canary == AUDIT_CANARY_CRAFTED) /* both runs of a pair sample at B / N (6g) */
        crafted.train.rate_count = train->count;
    trainer = &crafted;
    result->delta = trainer->train.private_mode ? trainer->train.delta : 0;
    double accuracy_sum = 0;
    progress models;
    progress_start(&models, "audit", 2 * R, "models");
    /* Under mpirun, rank r % K trains the pair of runs r (docs/mpi.md); each pair's numbers are
     * then shared, and every rank combines them as one process does. */
    typedef struct {
        double with, without, accuracy, seconds, epsilon, sigma, steps;
    } run_pair;
    run_pair *pairs = calloc(R, sizeof *pairs);
    int failed = !pairs;
    if (failed)
        error_set(err, "audit: out of memory for %zu runs", R);
    for (size_t r = 0; r < R && !failed; r++) {
        if (!parallel_owns(r))
            continue;
        const uint8_t in = 1, out = 0;
        double a_in = 0, a_out = 0;
        audit_canary_result part = {0};
        failed = train_run(trainer, train, test, &pool, &in, 2 * r, &models, &pairs[r].with,
                           &part, &a_in, err) ||
                 train_run(trainer, train, test, &pool, &out, 2 * r + 1, &models,
                           &pairs[r].without, &part, &a_out, err);
        pairs[r] = (run_pair){pairs[r].with, pairs[r].without, a_in + a_out, part.train_seconds,
                              part.epsilon, part.noise_multiplier, (double)part.steps};
    }
    if (parallel_agree_world(failed, err) ||
        parallel_share_items(pairs, sizeof *pairs, R, err)) {
        free(pairs);
        goto done;
    }
    for (size_t r = 0; r < R; r++) {
        with[r] = pairs[r].with, without[r] = pairs[r].without;
        accuracy_sum += pairs[r].accuracy;
        result->train_seconds += pairs[r].seconds;
        if (!(result->epsilon >= pairs[r].epsilon)) /* the largest over runs */
            result->epsilon = pairs[r].epsilon;
        result->noise_multiplier = pairs[r].sigma;
        result->steps = (long long)pairs[r].steps;
    }
    free(pairs);
    result->test_accuracy = accuracy_sum / (double)(2 * R);
    /* Choosing the threshold on the runs that give the counts would void the confidence. */
    size_t h = R / 2, rest = R - h;
    double picked = NAN, eps;
    if (audit_epsilon_from_scores(with, h, without, h, result->delta, 1, 1 - options->confidence,
                                  &eps, &picked, err))
        goto done;
    if (!isfinite(picked)) { /* nothing refuted on the first half: the midpoint of the means */
        double a = 0, b = 0;
        for (size_t r = 0; r < h; r++)
            a += with[r] / (double)h, b += without[r] / (double)h;
        picked = (a + b) / 2;
    }
    result->threshold = picked;
    for (size_t r = h; r < R; r++) {
        result->false_positives += without[r] > picked;
        result->false_negatives += !(with[r] > picked);
    }
    result->evaluated_with = result->evaluated_without = rest;
    /* a crafted target: the counts and the mu-GDP estimate each at half the level (6f) */
    int target = options->canary == AUDIT_CANARY_CRAFTED;
    double alpha = (1 - options->confidence) / (target ? 2 : 1);
    if (audit_epsilon_from_counts(result->false_positives, rest, result->false_negatives, rest,
                                  result->delta, 1, alpha, &result->epsilon_lb, err))
        goto done;
    if (target && result->delta > 0) {
        result->epsilon_lb_counts = result->epsilon_lb;
        result->sampling_rate = (double)trainer->train.batch_size / (double)train->count;
        if (audit_gdp_estimate(with, R, without, R, result->delta, 1 - alpha, &result->gdp,
                               err) ||
            audit_gdp_mu(result->epsilon, result->delta, &result->mu_claimed, err))
            goto done;
        if (result->gdp.epsilon_lower > result->epsilon_lb)
            result->epsilon_lb = result->gdp.epsilon_lower;
    }
    double *all = malloc(2 * R * sizeof *all);
    uint8_t *labels = malloc(2 * R);
    if (!all || !labels) {
        free(all);
        free(labels);
        error_set(err, "audit: out of memory");
        goto done;
    }
    for (size_t r = 0; r < R; r++) {
        all[r] = with[r], labels[r] = 1;
        all[R + r] = without[r], labels[R + r] = 0;
    }
    status = audit_roc_compute(all, labels, 2 * R, &roc, err);
    result->auc = status ? NAN : roc.auc;
    result->signal_count = 2 * R;
    result->signal_score = all;
    result->signal_truth = labels;
done:
    pool_free(&pool);
    audit_roc_free(&roc);
    MEMORY_FREE_ALL(with, without);
    return status;
}
