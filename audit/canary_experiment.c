/* The Secret Sharer experiment (docs/audit.md): prepares the training text with its canaries,
 * trains each character language model with the dp/ engine (dp_calibrate_noise,
 * dp_train_epochs, a held-out evaluation after every epoch), then scores every canary (exposure,
 * extraction) and samples continuations for Carlini-style training-data extraction. */
#include "audit/audit_internal.h"

#include "common/log.h"
#include "common/progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stream of the sampling prompts: a caller's id (above RNG_STREAM_TEST), apart from the
 * references drawn from RNG_STREAM_AUDIT. */
#define PROMPT_STREAM (RNG_STREAM_AUDIT + 1000)

/* What the experiment holds while it runs, besides the result. */
typedef struct experiment {
    const audit_canary_experiment_settings *s;
    audit_canary_experiment_result *r;
    int32_t alphabet_ids[256];
    int32_t prefix_ids[AUDIT_CANARY_EXPERIMENT_MAX_CANARIES][AUDIT_CANARY_MAX_TEXT + 1];
    size_t prefix_count[AUDIT_CANARY_EXPERIMENT_MAX_CANARIES];
} experiment;

void audit_canary_experiment_result_free(audit_canary_experiment_result *r)
{
    for (size_t m = 0; m < AUDIT_CANARY_EXPERIMENT_MAX_RUNS; m++) {
        for (size_t c = 0; c < AUDIT_CANARY_EXPERIMENT_MAX_CANARIES; c++) {
            free(r->models[m].canaries[c].candidates);
            free(r->models[m].canaries[c].candidate_bits);
        }
        free(r->models[m].samples);
        free(r->models[m].sample_stats);
    }
    free(r->positions);
    datasets_tokens_free(&r->tokens);
    memset(r, 0, sizeof *r);
}

double audit_canary_experiment_exposure(const audit_canary_experiment_result *r,
                                        const audit_canary_outcome *c)
{
    return r->enumerated ? c->exposure_exact : c->exposure_interpolated;
}

static const int32_t *train_ids(const experiment *x, size_t *count)
{
    *count = x->r->tokens.document_starts[1];
    return x->r->tokens.ids;
}

static const int32_t *holdout_ids(const experiment *x, size_t *count)
{
    *count = x->r->tokens.document_starts[2] - x->r->tokens.document_starts[1];
    return x->r->tokens.ids + x->r->tokens.document_starts[1];
}

/* ---- data: slice, canaries, tokens ---- */

/* Draws the canaries and inserts them into the slice; *train (malloc'd) is the training text. */
static int insert_canaries(experiment *x, const dataset_text *corpus, uint8_t **train,
                           dpkit_error *err)
{
    const audit_canary_experiment_settings *s = x->s;
    rng r;
    rng_init_seed(&r, (uint64_t)s->seed, RNG_STREAM_CANARY);
    if (audit_canaries_generate(s->template_text, s->alphabet, s->length, s->insertions,
                                s->canary_count, &r, x->r->canaries, err))
        return -1;
    size_t total = 0;
    for (size_t j = 0; j < s->canary_count; j++)
        total += s->insertions[j];
    x->r->positions = malloc((total ? total : 1) * sizeof *x->r->positions);
    if (!x->r->positions)
        return error_set(err, "canaries: out of memory");
    return audit_canaries_insert(corpus->bytes + s->offset, s->bytes, x->r->canaries,
                                 s->canary_count, &r, train, &x->r->train_bytes,
                                 x->r->positions, err);
}

/* One text of two documents (training slice with canaries, then the holdout), tokenized
 * together so that both use one vocabulary. */
static int tokenize(experiment *x, const dataset_text *corpus, const uint8_t *train,
                    dpkit_error *err)
{
    const audit_canary_experiment_settings *s = x->s;
    size_t n = x->r->train_bytes;
    uint8_t *both = malloc(n + s->holdout_bytes + 1);
    if (!both)
        return error_set(err, "data: out of memory");
    memcpy(both, train, n);
    memcpy(both + n, corpus->bytes + s->offset + s->bytes, s->holdout_bytes);
    both[n + s->holdout_bytes] = 0;
    char *names[2] = {"train", "holdout"};
    size_t starts[3] = {0, n, n + s->holdout_bytes};
    dataset_text text = {.document_count = 2, .document_names = names,
                         .document_starts = starts, .bytes = both,
                         .byte_count = n + s->holdout_bytes};
    int status = datasets_text_tokenize(&text, DATASET_TEXT_BYTES, &x->r->tokens, err);
    free(both);
    return status ? error_prefix(err, "data") : 0;
}

/* The vocabulary ids of the alphabet and of each canary's context. */
static int encode_canaries(experiment *x, dpkit_error *err)
{
    const audit_canary_experiment_settings *s = x->s;
    const dataset_vocabulary *v = &x->r->tokens.vocabulary;
    size_t n;
    if (datasets_vocabulary_encode(v, s->alphabet, x->alphabet_ids, &n, err))
        return error_prefix(err, "canaries.alphabet");
    for (size_t j = 0; j < s->canary_count; j++) {
        /* The canary follows a newline: the model's context for its first characters. */
        char line[AUDIT_CANARY_MAX_TEXT + 2];
        snprintf(line, sizeof line, "\n%s", x->r->canaries[j].prefix);
        if (datasets_vocabulary_encode(v, line, x->prefix_ids[j], &x->prefix_count[j], err))
            return error_prefix(err, "canaries.template");
        if (x->prefix_count[j] < s->context)
            return error_set(err, "canaries.template: \"\\n%s\" has %zu characters, expected at "
                                  "least model.context = %zu", x->r->canaries[j].prefix,
                             x->prefix_count[j], s->context);
    }
    return 0;
}

static int prepare_data(experiment *x, dpkit_error *err)
{
    const audit_canary_experiment_settings *s = x->s;
    if (strcmp(s->corpus, "sotu") == 0 && datasets_fetch("sotu", err))
        return error_prefix(err, "data.corpus");
    dataset_text corpus;
    if (datasets_text_load(s->corpus, &corpus, err))
        return error_prefix(err, "data.corpus");
    uint8_t *train = NULL;
    int status = 0;
    size_t need = s->offset + s->bytes + s->holdout_bytes;
    if (need > corpus.byte_count)
        status = error_set(err, "data: offset %zu + bytes %zu + holdout_bytes %zu = %zu, but the "
                                "corpus %s has %zu bytes", s->offset, s->bytes, s->holdout_bytes,
                           need, s->corpus, corpus.byte_count);
    if (!status)
        status = insert_canaries(x, &corpus, &train, err);
    if (!status)
        status = tokenize(x, &corpus, train, err);
    free(train);
    datasets_text_free(&corpus);
    if (status || encode_canaries(x, err))
        return -1;
    x->r->log2_space = (double)s->length * log2((double)strlen(s->alphabet));
    x->r->enumerated = x->r->log2_space <= log2((double)s->enumerate_max) + 1e-9;
    log_info("corpus %s: %zu training bytes (%zu of canaries), %zu held out, vocabulary %zu",
             s->corpus, x->r->train_bytes, x->r->train_bytes - s->bytes, s->holdout_bytes,
             x->r->tokens.vocabulary.size);
    if (!s->output_dir)
        return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/canaries.json", s->output_dir);
    return audit_canary_experiment_write_canaries(s, x->r, path, err);
}

/* ---- training ---- */

/* After each epoch: the held-out loss and accuracy, logged with the epoch's training loss. */
typedef struct epoch_log {
    const experiment *x;
    size_t run;
    audit_char_lm *lm;
    int epochs;
} epoch_log;

static int after_epoch(void *user, const dp_epoch_metrics *m, dpkit_error *err)
{
    epoch_log *e = user;
    audit_canary_model *res = &e->x->r->models[e->run];
    size_t hn;
    const int32_t *h = holdout_ids(e->x, &hn);
    if (audit_char_lm_evaluate(e->lm, h, hn, &res->holdout_bits, &res->holdout_accuracy, err))
        return -1;
    res->train_loss_bits = m->train_loss / log(2.0);
    log_info("%s epoch %d/%d: train %.3f bits/char, held out %.3f bits/char (accuracy %.3f), "
             "epsilon %.4g, %.0f s", e->x->s->runs[e->run].label, m->epoch, e->epochs,
             res->train_loss_bits, res->holdout_bits, res->holdout_accuracy, m->epsilon,
             m->seconds);
    return 0;
}

/* dp_calibrate_noise names the key privacy.epsilon; here the target is the run's own. */
static int calibrate(dp_train_config *t, size_t count, size_t run, dpkit_error *err)
{
    if (!dp_calibrate_noise(t, count, NULL, err))
        return 0;
    static const char key[] = "privacy.epsilon: ";
    if (err && strncmp(err->message, key, sizeof key - 1) == 0)
        memmove(err->message, err->message + sizeof key - 1,
                strlen(err->message + sizeof key - 1) + 1);
    return error_prefix(err, "runs[%zu].epsilon", run);
}

static int train_model(experiment *x, size_t run, audit_char_lm *lm, dpkit_error *err)
{
    const audit_canary_experiment_settings *s = x->s;
    const audit_canary_experiment_run *spec = &s->runs[run];
    audit_canary_model *res = &x->r->models[run];
    size_t n;
    const int32_t *ids = train_ids(x, &n);
    audit_char_windows windows = {ids, n, s->context, x->r->tokens.vocabulary.size};
    dp_data train = audit_char_windows_data(&windows);
    dp_train_config t = {0};
    t.private_mode = spec->private_mode;
    t.clip_norm = s->clip;
    /* a target epsilon wins over a given sigma: calibrate */
    t.noise_multiplier = spec->private_mode && spec->epsilon > 0 ? 0 : spec->sigma;
    t.batch_size = s->batch_size;
    t.physical_batch = s->physical_batch;
    t.epochs = (int)spec->epochs;
    t.delta = s->delta;
    t.accountant = s->accountant;
    t.target_epsilon = spec->private_mode ? spec->epsilon : 0;
    if (t.batch_size > train.count)
        return error_set(err, "training.batch_size: %zu, expected at most the %zu windows",
                         t.batch_size, train.count);
    if (calibrate(&t, train.count, run, err))
        return -1;
    double q = (double)t.batch_size / (double)train.count;
    long long steps = (long long)t.epochs * dp_steps_per_epoch(train.count, t.batch_size);
    dp_train_state state = {0};
    dp_optimizer_config o = s->optimizer;
    o.lr = spec->lr;
    accountant_ledger_init(&state.ledger);
    int status = -1;
    if (dp_optimizer_create(&o, lm->model.param_count, &state.optimizer, err))
        goto done;
    rng init;
    rng_init_seed(&init, (uint64_t)s->seed, RNG_STREAM_INIT);
    dp_model_init(&lm->model, &init, 0);
    /* The batches and the noise are secret unless the settings ask for reproducible noise. */
    uint8_t key[RNG_KEY_BYTES];
    rng_private_key(s->reproducible_noise, (uint64_t)s->seed, key);
    rng_init(&state.sampler, key, RNG_STREAM_SAMPLING);
    rng_init(&state.noise, key, RNG_STREAM_NOISE);
    if (t.private_mode)
        log_info("%s: DP-SGD, sigma %.4g, q %.3g, %lld steps, C %g", spec->label,
                 t.noise_multiplier, q, steps, t.clip_norm);
    else
        log_info("%s: plain SGD without privacy, %lld steps", spec->label, steps);
    epoch_log hook = {x, run, lm, t.epochs};
    dp_epoch_metrics last = {0};
    if (dp_train_epochs(&lm->model, &lm->ws, &t, &state, &train, NULL, 0, after_epoch, &hook,
                        &last, NULL, err))
        goto done;
    res->epsilon = t.private_mode ? state.epsilon : INFINITY;
    res->sigma = t.private_mode ? t.noise_multiplier : 0;
    res->steps = state.step;
    res->train_seconds = state.seconds;
    status = 0;
done:
    dp_optimizer_free(&state.optimizer);
    accountant_ledger_free(&state.ledger);
    return status;
}

/* ---- canary audit ---- */

static int audit_canary_of(experiment *x, size_t run, size_t j, audit_char_lm *lm,
                           const int32_t *references, double *reference_bits, dpkit_error *err)
{
    const audit_canary_experiment_settings *s = x->s;
    audit_canary_outcome *c = &x->r->models[run].canaries[j];
    audit_char_lm_space cs;
    audit_secret_space space;
    if (audit_char_lm_space_init(&cs, lm, x->prefix_ids[j], x->prefix_count[j], x->alphabet_ids,
                                 strlen(s->alphabet), s->length, &space, err))
        return -1;
    int status = -1;
    const int32_t *secret = x->r->canaries[j].symbols;
    if (audit_char_lm_space_log_perplexities(&cs, secret, 1, &c->log_perplexity, err) ||
        audit_char_lm_space_log_perplexities(&cs, references, s->references, reference_bits, err) ||
        audit_exposure_interpolation(&c->log_perplexity, 1, reference_bits, s->references,
                                     &c->exposure_interpolated, err) ||
        audit_exposure_extrapolation(&c->log_perplexity, 1, reference_bits, s->references,
                                     &c->exposure_extrapolated, &x->r->models[run].fit[j], err))
        goto done;
    c->exposure_exact = NAN;
    if (x->r->enumerated && audit_exposure_exact(&space, secret, 1, &c->rank,
                                                 &c->exposure_exact, &c->enumeration, err))
        goto done;
    c->candidates = malloc(s->extraction_k * s->length * sizeof *c->candidates);
    c->candidate_bits = malloc(s->extraction_k * sizeof *c->candidate_bits);
    if (!c->candidates || !c->candidate_bits) {
        error_set(err, "extraction: out of memory");
        goto done;
    }
    audit_extraction_options opt = {s->extraction_k, s->extraction_batch, s->max_nodes};
    if (audit_extract(&space, &opt, secret, c->candidates, c->candidate_bits, &c->extraction, err))
        goto done;
    status = 0;
done:
    audit_char_lm_space_free(&cs);
    if (status)
        error_prefix(err, "canary %zu (%s%s)", j, x->r->canaries[j].prefix,
                     x->r->canaries[j].secret);
    return status;
}

static int audit_canaries_of(experiment *x, size_t run, audit_char_lm *lm, dpkit_error *err)
{
    const audit_canary_experiment_settings *s = x->s;
    size_t a = strlen(s->alphabet);
    int32_t *references = malloc(s->references * s->length * sizeof *references);
    double *bits = malloc(s->references * sizeof *bits);
    int status = 0;
    if (!references || !bits)
        status = error_set(err, "audit.references: out of memory for %zu", s->references);
    /* The same references for every model and canary: uniform draws from R. */
    rng r;
    rng_init_seed(&r, (uint64_t)s->seed, RNG_STREAM_AUDIT);
    for (size_t i = 0; status == 0 && i < s->references * s->length; i++)
        references[i] = (int32_t)rng_below(&r, a);
    for (size_t j = 0; status == 0 && j < s->canary_count; j++) {
        status = audit_canary_of(x, run, j, lm, references, bits, err);
        const audit_canary_outcome *c = &x->r->models[run].canaries[j];
        if (!status)
            log_info("%s canary %zu (r = %zu): %.2f bits, exposure %.2f exact, %.2f "
                     "interpolated, %.2f extrapolated; search rank %zu", s->runs[run].label, j,
                     s->insertions[j], c->log_perplexity, c->exposure_exact,
                     c->exposure_interpolated, c->exposure_extrapolated, c->extraction.true_rank);
    }
    free(references);
    free(bits);
    return status;
}

/* ---- Carlini-style sampling ---- */

/* Scores the sampled continuations: perplexity, zlib ratio, verbatim training grams. */
static int score_samples(experiment *x, audit_canary_model *res, const double *bits,
                         const audit_ngram_index *index, uint8_t *hits, uint8_t *rare,
                         double *ppl, double *zs, dpkit_error *err)
{
    const audit_canary_experiment_settings *s = x->s;
    size_t L = s->sample_length;
    char *text = malloc(4 * L + 1);
    if (!text)
        return error_set(err, "extraction: out of memory for %zu samples", s->samples);
    res->hits = 0;
    for (size_t i = 0; i < s->samples; i++) {
        audit_canary_sample *e = &res->sample_stats[i];
        const int32_t *seq = res->samples + i * L;
        if (datasets_vocabulary_decode(&x->r->tokens.vocabulary, seq, L, text, 4 * L + 1, err) ||
            audit_zlib_bytes((const uint8_t *)text, strlen(text), &e->zlib_bytes, err)) {
            free(text);
            return -1;
        }
        e->bits_per_char = bits[i] / (double)L;
        /* Carlini et al. 2021: log-perplexity over zlib entropy (bytes); low = suspicious */
        e->zlib_score = e->bits_per_char / (double)e->zlib_bytes;
        e->matches = audit_ngram_index_matches(index, seq, L, &e->first_match, &e->rarest);
        hits[i] = e->matches > 0;
        rare[i] = hits[i] && e->rarest <= s->max_occurrences;
        res->hits += hits[i];
        res->rare_hits += rare[i];
        ppl[i] = e->bits_per_char;
        zs[i] = e->zlib_score;
    }
    free(text);
    return 0;
}

static int sample_extraction(experiment *x, size_t run, audit_char_lm *lm,
                             const audit_ngram_index *index, dpkit_error *err)
{
    const audit_canary_experiment_settings *s = x->s;
    audit_canary_model *res = &x->r->models[run];
    size_t k = s->context, hn, L = s->sample_length;
    const int32_t *h = holdout_ids(x, &hn);
    if (hn <= k)
        return error_set(err, "data.holdout_bytes: too short for prompts of %zu characters", k);
    int32_t *prompts = malloc(s->samples * k * sizeof *prompts);
    double *bits = malloc(s->samples * sizeof *bits);
    double *ppl = malloc(s->samples * sizeof *ppl);
    double *zs = malloc(s->samples * sizeof *zs);
    uint8_t *hits = calloc(s->samples, 1), *rare = calloc(s->samples, 1);
    res->samples = malloc(s->samples * L * sizeof *res->samples);
    res->sample_stats = calloc(s->samples, sizeof *res->sample_stats);
    int status = -1;
    if (!prompts || !bits || !ppl || !zs || !hits || !rare || !res->samples ||
        !res->sample_stats) {
        error_set(err, "extraction: out of memory for %zu samples", s->samples);
        goto done;
    }
    /* Prompts: random held-out windows (the same for every model). */
    rng r;
    rng_init_seed(&r, (uint64_t)s->seed, PROMPT_STREAM);
    for (size_t i = 0; i < s->samples; i++)
        memcpy(prompts + i * k, h + rng_below(&r, hn - k + 1), k * sizeof *prompts);
    rng sampler;
    rng_init_seed(&sampler, (uint64_t)s->seed, RNG_STREAM_SAMPLER);
    if (audit_char_lm_sample(lm, prompts, s->samples, L, s->temperature, s->top_k, &sampler,
                             res->samples, bits, err) ||
        score_samples(x, res, bits, index, hits, rare, ppl, zs, err))
        goto done;
    res->precision_perplexity = audit_precision_at_k(ppl, hits, s->samples, s->top);
    res->precision_zlib = audit_precision_at_k(zs, hits, s->samples, s->top);
    res->hit_rate = (double)res->hits / (double)s->samples;
    res->rare_precision_perplexity = audit_precision_at_k(ppl, rare, s->samples, s->top);
    res->rare_precision_zlib = audit_precision_at_k(zs, rare, s->samples, s->top);
    res->rare_rate = (double)res->rare_hits / (double)s->samples;
    if (res->precision_perplexity < 0 || res->precision_zlib < 0 ||
        res->rare_precision_perplexity < 0 || res->rare_precision_zlib < 0) {
        error_set(err, "extraction: out of memory ranking samples");
        goto done;
    }
    log_info("%s: %zu of %zu samples hold >= %zu verbatim training characters (%zu of them "
             "seen <= %zu times); precision at %zu: %.2f by perplexity, %.2f by zlib ratio",
             s->runs[run].label, res->hits, s->samples, s->min_match, res->rare_hits,
             s->max_occurrences, s->top, res->precision_perplexity, res->precision_zlib);
    status = 0;
done:
    free(prompts);
    free(bits);
    free(ppl);
    free(zs);
    free(hits);
    free(rare);
    return status;
}

/* ---- the experiment ---- */

static int run_model(experiment *x, size_t run, const audit_ngram_index *index,
                     dpkit_error *err)
{
    const audit_canary_experiment_settings *s = x->s;
    audit_char_lm lm;
    if (audit_char_lm_create(s->context, x->r->tokens.vocabulary.size, s->hidden,
                             s->physical_batch, &lm, err))
        return error_prefix(err, "runs[%zu] (%s)", run, s->runs[run].label);
    int status = train_model(x, run, &lm, err);
    double audit_start = progress_now();
    if (!status)
        status = audit_canaries_of(x, run, &lm, err);
    if (!status)
        status = sample_extraction(x, run, &lm, index, err);
    x->r->models[run].audit_seconds = progress_now() - audit_start;
    audit_char_lm_free(&lm);
    if (status)
        error_prefix(err, "runs[%zu] (%s)", run, s->runs[run].label);
    return status;
}

int audit_canary_experiment(const audit_canary_experiment_settings *settings,
                            audit_canary_experiment_result *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    double start = progress_now();
    if (settings->canary_count < 1 ||
        settings->canary_count > AUDIT_CANARY_EXPERIMENT_MAX_CANARIES ||
        settings->run_count < 1 || settings->run_count > AUDIT_CANARY_EXPERIMENT_MAX_RUNS ||
        settings->repeats < 1 || settings->canary_count % settings->repeats)
        return error_set(err, "canary experiment: %zu canaries (%zu repeats) and %zu runs, "
                              "expected 1..%d canaries, a multiple of the repeats, and 1..%d runs",
                         settings->canary_count, settings->repeats, settings->run_count,
                         AUDIT_CANARY_EXPERIMENT_MAX_CANARIES, AUDIT_CANARY_EXPERIMENT_MAX_RUNS);
    experiment *x = calloc(1, sizeof *x);
    if (!x)
        return error_set(err, "canary experiment: out of memory");
    x->s = settings;
    x->r = out;
    int status = prepare_data(x, err);
    size_t n;
    const int32_t *ids = status ? NULL : train_ids(x, &n);
    audit_ngram_index index;
    if (!status && audit_ngram_index_build(ids, n, settings->min_match, &index, err))
        status = error_prefix(err, "extraction.min_match");
    else if (!status) {
        progress runs; /* the audit's time left, after each model (trained and audited) */
        progress_start(&runs, "audit", settings->run_count, "runs");
        for (size_t run = 0; status == 0 && run < settings->run_count; run++) {
            status = run_model(x, run, &index, err);
            char eta[96];
            progress_count(&runs, run + 1);
            progress_describe(&runs, eta, sizeof eta);
            if (!status)
                log_info("%s done; audit: %zu/%zu runs, %s", settings->runs[run].label, run + 1,
                         settings->run_count, eta);
        }
        audit_ngram_index_free(&index);
    }
    free(x);
    out->seconds = progress_now() - start;
    return status;
}
