/* Character language model for canary audits: one-hot windows of k characters into
 * linear -> tanh -> linear (dp/), log-probabilities for scoring, a secret space over the model
 * for exposure and extraction (docs/maths.md 5), evaluation and sampling. */
#include "audit/audit_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int audit_char_lm_create(size_t context, size_t vocabulary, size_t hidden, size_t max_batch,
                         audit_char_lm *lm, dpkit_error *err)
{
    memset(lm, 0, sizeof *lm);
    if (context < 1 || vocabulary < 2 || hidden < 1 || max_batch < 1)
        return error_set(err, "char model: context %zu, vocabulary %zu, hidden %zu, batch %zu; "
                              "expected >= 1, >= 2, >= 1, >= 1",
                         context, vocabulary, hidden, max_batch);
    lm->context = context;
    lm->vocabulary = vocabulary;
    lm->hidden = hidden;
    dp_layer_spec specs[] = {{.kind = DP_LAYER_LINEAR, .units = hidden},
                             {.kind = DP_LAYER_TANH},
                             {.kind = DP_LAYER_LINEAR, .units = vocabulary}};
    dp_shape input = {context * vocabulary, 1, 1};
    if (dp_model_create(input, vocabulary, specs, 3, &lm->model, err))
        return error_prefix(err, "char model");
    if (dp_workspace_create(&lm->model, max_batch, &lm->ws, err)) {
        audit_char_lm_free(lm);
        return error_prefix(err, "char model");
    }
    return 0;
}

void audit_char_lm_free(audit_char_lm *lm)
{
    dp_workspace_free(&lm->ws);
    dp_model_free(&lm->model);
    memset(lm, 0, sizeof *lm);
}

void audit_char_lm_encode(size_t context, size_t vocabulary, const int32_t *ids, float *out)
{
    memset(out, 0, context * vocabulary * sizeof *out);
    for (size_t j = 0; j < context; j++)
        out[j * vocabulary + (size_t)ids[j]] = 1.0f;
}

static void window_row(const void *user, size_t index, float *out)
{
    const audit_char_windows *w = user;
    audit_char_lm_encode(w->context, w->vocabulary, w->ids + index, out);
}

dp_data audit_char_windows_data(const audit_char_windows *windows)
{
    size_t n = windows->count > windows->context ? windows->count - windows->context : 0;
    return (dp_data){.x = NULL,
                     .y = windows->ids + windows->context,
                     .count = n,
                     .row = window_row,
                     .row_user = windows};
}

/* Logits of one context in double precision, in a fixed order of operations, so that a row's
 * values never depend on the other rows of a batch (audit_next_log_prob_fn requires it; float
 * GEMMs change their summation order with the batch size). The first layer of a one-hot input
 * is the sum of k weight columns, so this is also far cheaper than the dense product.
 * hidden: lm->hidden doubles of scratch. */
static void row_logits(const audit_char_lm *lm, const int32_t *context, double *hidden,
                       double *logits)
{
    size_t k = lm->context, V = lm->vocabulary, H = lm->hidden, D = k * V;
    const dp_layer *l1 = &lm->model.layers[0], *l2 = &lm->model.layers[2];
    const float *w1 = lm->model.params + l1->param_offset, *b1 = w1 + H * D;
    const float *w2 = lm->model.params + l2->param_offset, *b2 = w2 + V * H;
    for (size_t j = 0; j < H; j++) {
        double sum = b1[j];
        for (size_t t = 0; t < k; t++)
            sum += w1[j * D + t * V + (size_t)context[t]];
        hidden[j] = tanh(sum);
    }
    for (size_t s = 0; s < V; s++) {
        double sum = b2[s];
        const float *w = w2 + s * H;
        for (size_t j = 0; j < H; j++)
            sum += (double)w[j] * hidden[j];
        logits[s] = sum;
    }
}

/* In place: logits -> natural-log probabilities. */
static void log_softmax(double *z, size_t V)
{
    double m = z[0], total = 0;
    for (size_t s = 1; s < V; s++)
        m = fmax(m, z[s]);
    for (size_t s = 0; s < V; s++)
        total += exp(z[s] - m);
    double log_total = log(total) + m;
    for (size_t s = 0; s < V; s++)
        z[s] = fmin(z[s] - log_total, 0.0);
}

static int check_ids(const audit_char_lm *lm, const int32_t *ids, size_t n, dpkit_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= lm->vocabulary)
            return error_set(err, "char model: id %d at position %zu, expected 0..%zu", ids[i],
                             i, lm->vocabulary - 1);
    return 0;
}

int audit_char_lm_log_probs(audit_char_lm *lm, const int32_t *contexts, size_t n,
                            double *log_prob, dpkit_error *err)
{
    size_t k = lm->context, V = lm->vocabulary;
    if (check_ids(lm, contexts, n * k, err))
        return -1;
    int failed = 0;
#pragma omp parallel
    {
        double *hidden = malloc(lm->hidden * sizeof *hidden);
        if (!hidden) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (size_t i = 0; i < n; i++) {
            if (!hidden)
                continue;
            row_logits(lm, contexts + i * k, hidden, log_prob + i * V);
            log_softmax(log_prob + i * V, V);
        }
        free(hidden);
    }
    return failed ? error_set(err, "char model: out of memory") : 0;
}

int audit_char_lm_evaluate(audit_char_lm *lm, const int32_t *ids, size_t count,
                           double *bits_per_char, double *accuracy, dpkit_error *err)
{
    size_t k = lm->context, V = lm->vocabulary;
    if (count <= k)
        return error_set(err, "char model: %zu characters to evaluate, expected more than the "
                              "context of %zu", count, k);
    if (check_ids(lm, ids, count, err))
        return -1;
    size_t windows = count - k, correct = 0;
    /* the windows in CHAR_LM_PARTS fixed parts, each part's sum apart, the parts added in order:
     * a reduction clause would add the threads' sums in the order they finish, and the result
     * would change from run to run (and with the thread count) */
    enum { CHAR_LM_PARTS = 64 };
    double part_nats[CHAR_LM_PARTS] = {0};
    int failed = 0;
#pragma omp parallel reduction(+ : correct)
    {
        double *hidden = malloc(lm->hidden * sizeof *hidden);
        double *z = malloc(V * sizeof *z);
        if (!hidden || !z) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (size_t part = 0; part < CHAR_LM_PARTS; part++)
            for (size_t i = windows * part / CHAR_LM_PARTS;
                 hidden && z && i < windows * (part + 1) / CHAR_LM_PARTS; i++) {
                row_logits(lm, ids + i, hidden, z);
                size_t best = 0, y = (size_t)ids[i + k];
                for (size_t s = 1; s < V; s++)
                    if (z[s] > z[best])
                        best = s;
                correct += best == y;
                log_softmax(z, V);
                part_nats[part] += -z[y];
            }
        free(hidden);
        free(z);
    }
    double nats = 0;
    for (size_t part = 0; part < CHAR_LM_PARTS; part++)
        nats += part_nats[part];
    if (failed)
        return error_set(err, "char model: out of memory");
    *bits_per_char = audit_nats_to_bits(nats / (double)windows);
    *accuracy = (double)correct / (double)windows;
    return 0;
}

/* The secret space callback: context of each prefix = the last k ids of
 * prefix + alphabet_ids[filling]. */
static int space_next(void *user, const int32_t *prefixes, size_t count, size_t length,
                      double *log_prob, dpkit_error *err)
{
    audit_char_lm_space *cs = user;
    audit_char_lm *lm = cs->lm;
    size_t k = lm->context, V = lm->vocabulary, a = cs->alphabet_size, B = lm->ws.max_batch;
    for (size_t first = 0; first < count; first += B) {
        size_t m = count - first < B ? count - first : B;
        for (size_t i = 0; i < m; i++) {
            const int32_t *p = prefixes + (first + i) * length;
            int32_t *c = cs->contexts + i * k;
            for (size_t j = 0; j < k; j++) {
                /* position in the full sequence prefix + filling, counted back from its end */
                size_t back = k - j; /* 1 = last symbol */
                if (back <= length) {
                    int32_t s = p[length - back];
                    if (s < 0 || (size_t)s >= a)
                        return error_set(err, "char model space: symbol %d, expected 0..%zu", s,
                                         a - 1);
                    c[j] = cs->alphabet_ids[s];
                } else {
                    c[j] = cs->prefix[cs->prefix_count - (back - length)];
                }
            }
        }
        if (audit_char_lm_log_probs(lm, cs->contexts, m, cs->log_prob, err))
            return -1;
        for (size_t i = 0; i < m; i++)
            for (size_t s = 0; s < a; s++)
                log_prob[(first + i) * a + s] = cs->log_prob[i * V + (size_t)cs->alphabet_ids[s]];
    }
    return 0;
}

int audit_char_lm_space_init(audit_char_lm_space *cs, audit_char_lm *lm, const int32_t *prefix,
                             size_t prefix_count, const int32_t *alphabet_ids,
                             size_t alphabet_size, size_t length, audit_secret_space *space,
                             dpkit_error *err)
{
    *cs = (audit_char_lm_space){.lm = lm,
                                .prefix = prefix,
                                .prefix_count = prefix_count,
                                .alphabet_ids = alphabet_ids,
                                .alphabet_size = alphabet_size,
                                .length = length};
    if (prefix_count < lm->context)
        return error_set(err, "canary prefix: %zu characters, expected at least the model's "
                              "context of %zu", prefix_count, lm->context);
    if (check_ids(lm, prefix, prefix_count, err) || check_ids(lm, alphabet_ids, alphabet_size, err))
        return error_prefix(err, "canary space");
    cs->contexts = malloc(lm->ws.max_batch * lm->context * sizeof *cs->contexts);
    cs->log_prob = malloc(lm->ws.max_batch * lm->vocabulary * sizeof *cs->log_prob);
    if (!cs->contexts || !cs->log_prob) {
        audit_char_lm_space_free(cs);
        return error_set(err, "canary space: out of memory");
    }
    *space = (audit_secret_space){.alphabet_size = alphabet_size,
                                  .length = length,
                                  .next_log_prob = space_next,
                                  .user = cs};
    return 0;
}

void audit_char_lm_space_free(audit_char_lm_space *cs)
{
    free(cs->contexts);
    free(cs->log_prob);
    memset(cs, 0, sizeof *cs);
}

/* Draws from the tempered, top-k truncated distribution of one row of logits z (V values). */
static int32_t draw(const double *z, size_t V, double temperature, size_t top_k, double u,
                    double *weights, size_t *order)
{
    for (size_t s = 0; s < V; s++)
        order[s] = s;
    size_t keep = top_k && top_k < V ? top_k : V;
    /* partial selection sort: the `keep` largest logits first (ties by id) */
    for (size_t i = 0; i < keep && keep < V; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < V; j++)
            if (z[order[j]] > z[order[best]] ||
                (z[order[j]] == z[order[best]] && order[j] < order[best]))
                best = j;
        size_t t = order[i];
        order[i] = order[best];
        order[best] = t;
    }
    double m = -INFINITY, total = 0;
    for (size_t i = 0; i < keep; i++)
        m = fmax(m, z[order[i]] / temperature);
    for (size_t i = 0; i < keep; i++)
        total += weights[i] = exp(z[order[i]] / temperature - m);
    double target = u * total, running = 0;
    for (size_t i = 0; i < keep; i++) {
        running += weights[i];
        if (target < running)
            return (int32_t)order[i];
    }
    return (int32_t)order[keep - 1];
}

int audit_char_lm_sample(audit_char_lm *lm, const int32_t *prompts, size_t n, size_t length,
                         double temperature, size_t top_k, rng *r, int32_t *out,
                         double *log_perplexity, dpkit_error *err)
{
    size_t k = lm->context, V = lm->vocabulary;
    if (!(temperature > 0) || !isfinite(temperature))
        return error_set(err, "sampling: temperature %g, expected > 0", temperature);
    if (check_ids(lm, prompts, n * k, err))
        return error_prefix(err, "sampling prompts");
    int32_t *context = malloc(k * sizeof *context);
    double *weights = malloc(V * sizeof *weights);
    size_t *order = malloc(V * sizeof *order);
    double *z = malloc(V * sizeof *z);
    double *lp = malloc(V * sizeof *lp);
    double *hidden = malloc(lm->hidden * sizeof *hidden);
    if (!context || !weights || !order || !z || !lp || !hidden) {
        free(context), free(weights), free(order), free(z), free(lp), free(hidden);
        return error_set(err, "sampling: out of memory");
    }
    /* One sample after another, one uniform per character: reproducible from r alone. */
    for (size_t i = 0; i < n; i++) {
        memcpy(context, prompts + i * k, k * sizeof *context);
        double bits = 0;
        for (size_t t = 0; t < length; t++) {
            row_logits(lm, context, hidden, z);
            int32_t s = draw(z, V, temperature, top_k, rng_uniform(r), weights, order);
            out[i * length + t] = s;
            memcpy(lp, z, V * sizeof *lp);
            log_softmax(lp, V);
            bits += audit_nats_to_bits(-lp[s]);
            memmove(context, context + 1, (k - 1) * sizeof *context);
            context[k - 1] = s;
        }
        if (log_perplexity)
            log_perplexity[i] = bits;
    }
    free(context), free(weights), free(order), free(z), free(lp), free(hidden);
    return 0;
}

int audit_char_lm_space_log_perplexities(audit_char_lm_space *cs, const int32_t *secrets,
                                         size_t n, double *out, dpkit_error *err)
{
    size_t l = cs->length, a = cs->alphabet_size, B = cs->lm->ws.max_batch;
    for (size_t i = 0; i < n * l; i++)
        if (secrets[i] < 0 || (size_t)secrets[i] >= a)
            return error_set(err, "secret %zu: symbol %d, expected 0..%zu", i / l, secrets[i],
                             a - 1);
    double *cost = calloc(B, sizeof *cost);
    int32_t *prefixes = malloc(B * l * sizeof *prefixes);
    double *lp = malloc(B * a * sizeof *lp);
    int status = 0;
    if (!cost || !prefixes || !lp) {
        status = error_set(err, "scoring secrets: out of memory");
        goto done;
    }
    for (size_t first = 0; first < n && status == 0; first += B) {
        size_t m = n - first < B ? n - first : B;
        memset(cost, 0, m * sizeof *cost);
        for (size_t d = 0; d < l; d++) {
            for (size_t i = 0; i < m; i++)
                memcpy(prefixes + i * d, secrets + (first + i) * l, d * sizeof *prefixes);
            if (space_next(cs, prefixes, m, d, lp, err)) {
                status = -1;
                break;
            }
            /* same order of operations as audit_secret_log_perplexity: nats summed, then bits */
            for (size_t i = 0; i < m; i++)
                cost[i] = cost[i] + -lp[i * a + (size_t)secrets[(first + i) * l + d]];
        }
        for (size_t i = 0; i < m && status == 0; i++)
            out[first + i] = audit_nats_to_bits(cost[i]);
    }
done:
    free(cost);
    free(prefixes);
    free(lp);
    return status;
}
