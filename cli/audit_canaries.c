/* dpkit audit-canaries: the Secret Sharer experiment. Inserts random-secret canaries into a
 * slice of a text corpus, trains character language models with and without DP-SGD, and
 * measures the canaries' exposure and extraction and Carlini-style training-data extraction;
 * writes canaries.json, report.json and exposure.png into the run directory. */
#include "cli/cli.h"
#include "dp/run_config.h"

#include "audit/audit.h"
#include "common/config.h"
#include "common/json.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/textfile.h"
#include "datasets/datasets.h"
#include "common/paths.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND "audit-canaries"
#define MAX_CANARIES 26
#define MAX_RUNS 8
/* Stream of the sampling prompts: a caller's id (above RNG_STREAM_TEST), apart from the
 * references drawn from RNG_STREAM_AUDIT. */
#define PROMPT_STREAM (RNG_STREAM_AUDIT + 1000)

static const config_field run_item_schema[] = {
    {"label", CONFIG_STRING, NULL, "name of the model in the report (e.g. no-dp, eps8)", NULL, NULL},
    {"private", CONFIG_BOOL, "true", "false: plain SGD (no clipping, no noise)", NULL, NULL},
    {"epsilon", CONFIG_DOUBLE, "0", "target epsilon (calibrates the noise); 0: use noise_multiplier", NULL, NULL},
    {"noise_multiplier", CONFIG_DOUBLE, "0", "sigma when epsilon is 0", NULL, NULL},
    {"epochs", CONFIG_INT, "0", "epochs of this model; 0: training.epochs", NULL, NULL},
    {"lr", CONFIG_DOUBLE, "0", "learning rate of this model; 0: training.optimizer.lr", NULL, NULL},
    {0}};

static const config_field schema[] = {
    {"kind", CONFIG_ENUM, NULL, "audit kind", "canaries", NULL},
    {"name", CONFIG_STRING, "audit-canaries", "name of the experiment", NULL, NULL},
    {"seed", CONFIG_INT, "0", "seed of the public randomness: canaries, initialisation, references, prompts, sampling of text (>= 0)", NULL, NULL},
    {"privacy.reproducible_noise", CONFIG_BOOL, "false", "true: the batches and the DP noise are keyed from the seed too (the experiment repeats exactly); false: a secret key from the OS", NULL, NULL},
    {"data.corpus", CONFIG_STRING, "sotu", "sotu, a directory of *.txt files or a text file", NULL, NULL},
    {"data.offset", CONFIG_INT, "0", "first byte of the training slice in the concatenated corpus", NULL, NULL},
    {"data.bytes", CONFIG_INT, "1048576", "bytes of training text (before the canaries)", NULL, NULL},
    {"data.holdout_bytes", CONFIG_INT, "65536", "bytes after the slice: held-out loss and sampling prompts", NULL, NULL},
    {"model.context", CONFIG_INT, "10", "k: characters of context of each window", NULL, NULL},
    {"model.hidden", CONFIG_INT, "128", "tanh units between the one-hot input and the output", NULL, NULL},
    {"canaries.template", CONFIG_STRING, "the pin of {id} is ", "text before the secret; {id}: a letter per canary", NULL, NULL},
    {"canaries.alphabet", CONFIG_STRING, "0123456789", "characters of the secret", NULL, NULL},
    {"canaries.length", CONFIG_INT, "6", "characters of the secret", NULL, NULL},
    {"canaries.insertions", CONFIG_STRING, "0 1 2 4 8 16 32", "insertion counts (0: a control canary, never inserted)", NULL, NULL},
    {"canaries.repeats", CONFIG_INT, "1", "canaries per insertion count", NULL, NULL},
    {"privacy.delta", CONFIG_DOUBLE, "1e-7", "delta of the private models (below 1 / windows)", NULL, NULL},
    {"privacy.max_grad_norm", CONFIG_DOUBLE, "1", "clip norm C of each window's gradient", NULL, NULL},
    {"privacy.accountant", CONFIG_ENUM, "rdp", "privacy accountant", "rdp|pld", NULL},
    {"training.epochs", CONFIG_INT, "2", "epochs (floor(N/B) steps each)", NULL, NULL},
    {"training.batch_size", CONFIG_INT, "1024", "expected batch size B (Poisson rate B/N)", NULL, NULL},
    {"training.physical_batch", CONFIG_INT, "512", "windows per forward/backward pass", NULL, NULL},
    {"training.optimizer.kind", CONFIG_ENUM, "adam", "optimizer", "sgd|adam", NULL},
    {"training.optimizer.lr", CONFIG_DOUBLE, "0.002", "learning rate", NULL, NULL},
    {"training.optimizer.momentum", CONFIG_DOUBLE, "0", "SGD momentum", NULL, NULL},
    {"runs", CONFIG_LIST, "[{label: no-dp, private: false}, {label: eps8, private: true, epsilon: 8}]", "models to train and audit", NULL, run_item_schema},
    {"audit.references", CONFIG_INT, "10000", "random secrets scored for interpolation and extrapolation", NULL, NULL},
    {"audit.enumerate_max", CONFIG_INT, "10000000", "exact rank by enumeration when |R| is at most this", NULL, NULL},
    {"audit.extraction_k", CONFIG_INT, "10", "candidates of the extraction search", NULL, NULL},
    {"audit.extraction_batch", CONFIG_INT, "64", "prefixes per model call in the search", NULL, NULL},
    {"audit.max_nodes", CONFIG_INT, "4194304", "tree nodes the search may store", NULL, NULL},
    {"extraction.samples", CONFIG_INT, "1000", "continuations sampled per model", NULL, NULL},
    {"extraction.length", CONFIG_INT, "64", "characters per continuation", NULL, NULL},
    {"extraction.temperature", CONFIG_DOUBLE, "1", "sampling temperature", NULL, NULL},
    {"extraction.top_k", CONFIG_INT, "40", "sample among the k most likely characters; 0: all", NULL, NULL},
    {"extraction.min_match", CONFIG_INT, "32", "L: a sample is memorised if it holds >= L verbatim training characters", NULL, NULL},
    {"extraction.max_occurrences", CONFIG_INT, "1", "a memorised sample is rare when a verbatim L-gram occurs at most this often in training", NULL, NULL},
    {"extraction.top", CONFIG_INT, "100", "k of precision at k", NULL, NULL},
    {"output.dir", CONFIG_STRING, "", "run directory (default runs/<name>)", NULL, NULL},
    {0}};

static void print_help(void)
{
    printf("usage: dpkit audit-canaries CONFIG.yaml [--set key=value]... [options]\n"
           "\n"
           "The Secret Sharer audit of a character language model (one-hot window of k characters,\n"
           "linear -> tanh -> linear). Draws canaries \"<template><secret>\" with random secrets,\n"
           "inserts each a configured number of times into a slice of the corpus, trains every model\n"
           "of `runs` (DP-SGD or plain SGD; the privacy unit is one window), and reports for each\n"
           "canary its exposure (exact rank by enumerating the secret space, interpolated against\n"
           "random references, skew-normal extrapolation) and whether the best-first search extracts\n"
           "it; then samples continuations of held-out prompts and reports how many contain verbatim\n"
           "training text (precision of the perplexity and zlib rankings). Writes canaries.json,\n"
           "config.yaml, report.json and exposure.png to the run directory and a table to stdout.\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a config key (repeatable)\n"
           "  --output DIR      run directory (default output.dir, or runs/<name>)\n"
           "  --print-config    print every config key with its default and exit\n"
           "  -q, --quiet       only errors\n"
           "  -v, --verbose     more detail\n"
           "  -h, --help        show this help\n"
           "\n"
           "example:\n"
           "  dpkit audit-canaries configs/audit-sotu-canaries.yaml\n");
}

typedef struct settings {
    config *cfg;
    long long seed;
    int reproducible_noise;
    size_t offset, bytes, holdout_bytes, context, hidden, length, repeats;
    size_t insertions[MAX_CANARIES], canary_count;
    const char *template_text, *alphabet;
    double delta, clip;
    accountant_options accountant;
    size_t epochs, batch_size, physical_batch;
    dp_optimizer_config optimizer;
    size_t run_count;
    struct {
        const char *label;
        int private_mode;
        double epsilon, sigma, lr;
        size_t epochs;
    } runs[MAX_RUNS];
    size_t references, enumerate_max, extraction_k, extraction_batch, max_nodes;
    size_t samples, sample_length, top_k, min_match, max_occurrences, top;
    double temperature;
    char output_dir[2048];
} settings;

static int get_count(const config *cfg, const char *key, long low, long high, size_t *out,
                     dpkit_error *err)
{
    long v = config_get_int(cfg, key);
    if (v < low || v > high)
        return error_set(err, "%s: %ld, expected %ld..%ld", key, v, low, high);
    *out = (size_t)v;
    return 0;
}

static int read_settings(settings *s, dpkit_error *err)
{
    config *c = s->cfg;
    s->seed = config_get_int(c, "seed");
    if (s->seed < 0)
        return error_set(err, "seed: %lld, expected 0..9223372036854775807", s->seed);
    s->reproducible_noise = config_get_bool(c, "privacy.reproducible_noise");
    if (get_count(c, "data.offset", 0, 1L << 40, &s->offset, err) ||
        get_count(c, "data.bytes", 64, 1L << 32, &s->bytes, err) ||
        get_count(c, "data.holdout_bytes", 64, 1L << 32, &s->holdout_bytes, err) ||
        get_count(c, "model.context", 1, 256, &s->context, err) ||
        get_count(c, "model.hidden", 1, 65536, &s->hidden, err) ||
        get_count(c, "canaries.length", 1, AUDIT_CANARY_MAX_LENGTH, &s->length, err) ||
        get_count(c, "canaries.repeats", 1, MAX_CANARIES, &s->repeats, err) ||
        get_count(c, "training.epochs", 1, 10000, &s->epochs, err) ||
        get_count(c, "training.batch_size", 1, 1L << 30, &s->batch_size, err) ||
        get_count(c, "training.physical_batch", 1, 1L << 16, &s->physical_batch, err) ||
        get_count(c, "audit.references", 3, 100000000, &s->references, err) ||
        get_count(c, "audit.enumerate_max", 0, (long)AUDIT_ENUMERATION_MAX, &s->enumerate_max, err) ||
        get_count(c, "audit.extraction_k", 1, 100000, &s->extraction_k, err) ||
        get_count(c, "audit.extraction_batch", 1, 65536, &s->extraction_batch, err) ||
        get_count(c, "audit.max_nodes", 1024, 1L << 31, &s->max_nodes, err) ||
        get_count(c, "extraction.samples", 1, 10000000, &s->samples, err) ||
        get_count(c, "extraction.length", 1, 100000, &s->sample_length, err) ||
        get_count(c, "extraction.top_k", 0, 1L << 20, &s->top_k, err) ||
        get_count(c, "extraction.min_match", 1, 100000, &s->min_match, err) ||
        get_count(c, "extraction.max_occurrences", 1, 1L << 30, &s->max_occurrences, err) ||
        get_count(c, "extraction.top", 1, 10000000, &s->top, err))
        return -1;
    s->template_text = config_get_string(c, "canaries.template");
    s->alphabet = config_get_string(c, "canaries.alphabet");
    /* insertion counts: integers separated by spaces or commas */
    const char *p = config_get_string(c, "canaries.insertions");
    size_t kinds = 0, values[MAX_CANARIES];
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > 1000000 || (*end && *end != ' ' && *end != ','))
            return error_set(err, "canaries.insertions: \"%s\", expected counts 0..1000000 "
                                  "separated by spaces or commas",
                             config_get_string(c, "canaries.insertions"));
        if (kinds == MAX_CANARIES)
            return error_set(err, "canaries.insertions: more than %d counts", MAX_CANARIES);
        values[kinds++] = (size_t)v;
        p = end;
    }
    if (kinds == 0)
        return error_set(err, "canaries.insertions: empty, expected at least one count");
    if (kinds * s->repeats > MAX_CANARIES)
        return error_set(err, "canaries: %zu counts x %zu repeats, expected at most %d canaries",
                         kinds, s->repeats, MAX_CANARIES);
    s->canary_count = 0;
    for (size_t i = 0; i < kinds; i++)
        for (size_t r = 0; r < s->repeats; r++)
            s->insertions[s->canary_count++] = values[i];
    s->delta = config_get_double(c, "privacy.delta");
    s->clip = config_get_double(c, "privacy.max_grad_norm");
    if (!(s->delta > 0 && s->delta < 1))
        return error_set(err, "privacy.delta: %g, expected 0 < delta < 1", s->delta);
    if (!(s->clip > 0))
        return error_set(err, "privacy.max_grad_norm: %g, expected > 0", s->clip);
    accountant_options_default(&s->accountant);
    if (accountant_kind_parse(config_get_string(c, "privacy.accountant"), &s->accountant.kind, err))
        return -1;
    dp_optimizer_config_default(&s->optimizer);
    if (dp_optimizer_kind_parse(config_get_string(c, "training.optimizer.kind"), &s->optimizer.kind,
                                err))
        return -1;
    s->optimizer.lr = config_get_double(c, "training.optimizer.lr");
    s->optimizer.momentum = config_get_double(c, "training.optimizer.momentum");
    if (!(s->optimizer.lr > 0) || !(s->optimizer.momentum >= 0 && s->optimizer.momentum < 1))
        return error_set(err, "training.optimizer: lr %g and momentum %g, expected lr > 0 and "
                              "momentum in [0, 1)", s->optimizer.lr, s->optimizer.momentum);
    s->temperature = config_get_double(c, "extraction.temperature");
    if (!(s->temperature > 0))
        return error_set(err, "extraction.temperature: %g, expected > 0", s->temperature);
    s->run_count = config_list_length(c, "runs");
    if (s->run_count < 1 || s->run_count > MAX_RUNS)
        return error_set(err, "runs: %zu models, expected 1..%d", s->run_count, MAX_RUNS);
    for (size_t i = 0; i < s->run_count; i++) {
        const config *item = config_list_item(c, "runs", i);
        s->runs[i].label = config_get_string(item, "label");
        s->runs[i].private_mode = config_get_bool(item, "private");
        s->runs[i].epsilon = config_get_double(item, "epsilon");
        s->runs[i].sigma = config_get_double(item, "noise_multiplier");
        long e = config_get_int(item, "epochs");
        double lr = config_get_double(item, "lr");
        if (e < 0 || e > 10000 || !(lr >= 0))
            return error_set(err, "runs[%zu]: epochs %ld and lr %g, expected 0..10000 and >= 0",
                             i, e, lr);
        s->runs[i].epochs = e ? (size_t)e : s->epochs;
        s->runs[i].lr = lr > 0 ? lr : s->optimizer.lr;
        if (s->runs[i].private_mode && !(s->runs[i].epsilon > 0) && !(s->runs[i].sigma > 0))
            return error_set(err, "runs[%zu] (%s): private, expected epsilon > 0 or "
                                  "noise_multiplier > 0", i, s->runs[i].label);
        if (!s->runs[i].label[0])
            return error_set(err, "runs[%zu].label: empty", i);
    }
    const char *dir = config_get_string(c, "output.dir");
    if (dir[0])
        snprintf(s->output_dir, sizeof s->output_dir, "%s", dir);
    else
        snprintf(s->output_dir, sizeof s->output_dir, "runs/%s", config_get_string(c, "name"));
    return 0;
}

/* ---- per-model results ---- */

typedef struct canary_result {
    double log_perplexity;    /* bits */
    uint64_t rank;            /* exact, 0 when not enumerated */
    double exposure_exact, exposure_interpolated, exposure_extrapolated;
    audit_search_stats enumeration;
    audit_extraction_result extraction;
    int32_t *candidates;      /* extraction_k x length */
    double *candidate_bits;
} canary_result;

typedef struct extraction_sample {
    double bits_per_char;
    size_t zlib_bytes;
    double zlib_score;
    size_t matches;
    long long first_match;
    size_t rarest;            /* fewest training occurrences of a matching gram */
} extraction_sample;

typedef struct model_result {
    double epsilon, sigma, train_seconds, audit_seconds, holdout_bits, holdout_accuracy;
    long long steps;
    double train_loss_bits;
    canary_result canaries[MAX_CANARIES];
    audit_skewnorm fit[MAX_CANARIES];
    int32_t *samples;         /* samples x sample_length */
    extraction_sample *sample_stats;
    double precision_perplexity, precision_zlib, hit_rate;
    double rare_precision_perplexity, rare_precision_zlib, rare_rate;
    size_t hits, rare_hits;
} model_result;

typedef struct experiment {
    settings s;
    dataset_text corpus;
    dataset_tokens tokens;    /* document 0: training text with canaries; 1: holdout */
    audit_canary canaries[MAX_CANARIES];
    size_t *positions;
    size_t train_bytes;       /* with canaries */
    int32_t alphabet_ids[256];
    int32_t prefix_ids[MAX_CANARIES][AUDIT_CANARY_MAX_TEXT + 1];
    size_t prefix_count[MAX_CANARIES];
    double log2_space;
    int enumerate;
    model_result results[MAX_RUNS];
    double seconds;
} experiment;

static void experiment_free(experiment *x)
{
    for (size_t r = 0; r < MAX_RUNS; r++) {
        for (size_t c = 0; c < MAX_CANARIES; c++) {
            free(x->results[r].canaries[c].candidates);
            free(x->results[r].canaries[c].candidate_bits);
        }
        free(x->results[r].samples);
        free(x->results[r].sample_stats);
    }
    free(x->positions);
    datasets_tokens_free(&x->tokens);
    datasets_text_free(&x->corpus);
    config_free(x->s.cfg);
}

static const int32_t *train_ids(const experiment *x, size_t *count)
{
    *count = x->tokens.document_starts[1];
    return x->tokens.ids;
}

static const int32_t *holdout_ids(const experiment *x, size_t *count)
{
    *count = x->tokens.document_starts[2] - x->tokens.document_starts[1];
    return x->tokens.ids + x->tokens.document_starts[1];
}

/* ---- data: slice, canaries, tokens ---- */

static int write_canaries(const experiment *x, dpkit_error *err)
{
    json_writer w;
    if (json_writer_init_string(&w, 2))
        return error_set(err, "canaries.json: out of memory");
    json_begin_object(&w);
    json_field_string(&w, "alphabet", x->s.alphabet);
    json_field_int(&w, "length", (long long)x->s.length);
    json_field_int(&w, "seed", x->s.seed);
    json_field_int(&w, "rng_stream", RNG_STREAM_CANARY);
    json_key(&w, "canaries");
    json_begin_array(&w);
    for (size_t j = 0, slot = 0; j < x->s.canary_count; j++) {
        const audit_canary *c = &x->canaries[j];
        json_begin_object(&w);
        json_field_string(&w, "prefix", c->prefix);
        json_field_string(&w, "secret", c->secret);
        json_field_int(&w, "insertions", (long long)c->insertions);
        json_key(&w, "byte_offsets");
        json_begin_array(&w);
        for (size_t t = 0; t < c->insertions; t++)
            json_int(&w, (long long)x->positions[slot++]);
        json_end_array(&w);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    int status = json_writer_finish(&w, err);
    char path[4200];
    snprintf(path, sizeof path, "%s/canaries.json", x->s.output_dir);
    if (!status)
        status = textfile_write_atomic(path, json_writer_string(&w), strlen(json_writer_string(&w)), err);
    json_writer_free(&w);
    return status;
}

static int prepare_data(experiment *x, dpkit_error *err)
{
    settings *s = &x->s;
    const char *corpus = config_get_string(s->cfg, "data.corpus");
    if (strcmp(corpus, "sotu") == 0 && datasets_fetch("sotu", err))
        return error_prefix(err, "data.corpus");
    if (datasets_text_load(corpus, &x->corpus, err))
        return error_prefix(err, "data.corpus");
    size_t need = s->offset + s->bytes + s->holdout_bytes;
    if (need > x->corpus.byte_count)
        return error_set(err, "data: offset %zu + bytes %zu + holdout_bytes %zu = %zu, but the "
                              "corpus %s has %zu bytes", s->offset, s->bytes, s->holdout_bytes,
                         need, corpus, x->corpus.byte_count);
    rng r;
    rng_init_seed(&r, (uint64_t)s->seed, RNG_STREAM_CANARY);
    if (audit_canaries_generate(s->template_text, s->alphabet, s->length, s->insertions,
                                s->canary_count, &r, x->canaries, err))
        return -1;
    size_t total = 0;
    for (size_t j = 0; j < s->canary_count; j++)
        total += s->insertions[j];
    x->positions = malloc((total ? total : 1) * sizeof *x->positions);
    uint8_t *train = NULL;
    if (!x->positions)
        return error_set(err, "canaries: out of memory");
    if (audit_canaries_insert(x->corpus.bytes + s->offset, s->bytes, x->canaries,
                              s->canary_count, &r, &train, &x->train_bytes, x->positions, err))
        return -1;
    /* One text of two documents (training slice with canaries, then the holdout), tokenized
     * together so that both use one vocabulary. */
    uint8_t *both = malloc(x->train_bytes + s->holdout_bytes + 1);
    if (!both) {
        free(train);
        return error_set(err, "data: out of memory");
    }
    memcpy(both, train, x->train_bytes);
    memcpy(both + x->train_bytes, x->corpus.bytes + s->offset + s->bytes, s->holdout_bytes);
    both[x->train_bytes + s->holdout_bytes] = 0;
    free(train);
    char *names[2] = {"train", "holdout"};
    size_t starts[3] = {0, x->train_bytes, x->train_bytes + s->holdout_bytes};
    dataset_text text = {.document_count = 2, .document_names = names,
                         .document_starts = starts, .bytes = both,
                         .byte_count = x->train_bytes + s->holdout_bytes};
    int status = datasets_text_tokenize(&text, DATASET_TEXT_BYTES, &x->tokens, err);
    free(both);
    if (status)
        return error_prefix(err, "data");
    size_t a = strlen(s->alphabet), n;
    if (datasets_vocabulary_encode(&x->tokens.vocabulary, s->alphabet, x->alphabet_ids, &n, err))
        return error_prefix(err, "canaries.alphabet");
    for (size_t j = 0; j < s->canary_count; j++) {
        /* The canary follows a newline: the model's context for its first characters. */
        char line[AUDIT_CANARY_MAX_TEXT + 2];
        snprintf(line, sizeof line, "\n%s", x->canaries[j].prefix);
        if (datasets_vocabulary_encode(&x->tokens.vocabulary, line, x->prefix_ids[j],
                                       &x->prefix_count[j], err))
            return error_prefix(err, "canaries.template");
        if (x->prefix_count[j] < s->context)
            return error_set(err, "canaries.template: \"\\n%s\" has %zu characters, expected at "
                                  "least model.context = %zu", x->canaries[j].prefix,
                             x->prefix_count[j], s->context);
    }
    x->log2_space = (double)s->length * log2((double)a);
    x->enumerate = x->log2_space <= log2((double)s->enumerate_max) + 1e-9;
    log_info("corpus %s: %zu training bytes (%zu of canaries), %zu held out, vocabulary %zu",
             corpus, x->train_bytes, x->train_bytes - s->bytes, s->holdout_bytes,
             x->tokens.vocabulary.size);
    return write_canaries(x, err);
}

/* ---- training ---- */

static int train_model(experiment *x, size_t run, audit_char_lm *lm, dpkit_error *err)
{
    settings *s = &x->s;
    model_result *res = &x->results[run];
    size_t n;
    const int32_t *ids = train_ids(x, &n);
    audit_char_windows windows = {ids, n, s->context, x->tokens.vocabulary.size};
    dp_data train = audit_char_windows_data(&windows);
    dp_data none = {0};
    dp_train_config t = {0};
    t.private_mode = s->runs[run].private_mode;
    t.clip_norm = s->clip;
    t.noise_multiplier = s->runs[run].sigma;
    t.batch_size = s->batch_size;
    t.physical_batch = s->physical_batch;
    t.epochs = (int)s->runs[run].epochs;
    t.delta = s->delta;
    t.accountant = s->accountant;
    t.target_epsilon = s->runs[run].private_mode ? s->runs[run].epsilon : 0;
    if (t.batch_size > train.count)
        return error_set(err, "training.batch_size: %zu, expected at most the %zu windows",
                         t.batch_size, train.count);
    double q = (double)t.batch_size / (double)train.count;
    long long steps = (long long)t.epochs * dp_steps_per_epoch(train.count, t.batch_size);
    if (t.private_mode && t.target_epsilon > 0 &&
        accountant_calibrate_noise(t.target_epsilon, t.delta, q, steps, NULL, 0, &t.accountant,
                                   &t.noise_multiplier, err))
        return error_prefix(err, "runs[%zu].epsilon", run);
    dp_train_state state = {0};
    dp_optimizer_config o = s->optimizer;
    o.lr = s->runs[run].lr;
    accountant_ledger_init(&state.ledger);
    int status = -1;
    if (dp_optimizer_create(&o, lm->model.param_count, &state.optimizer, err))
        goto done;
    rng init;
    rng_init_seed(&init, (uint64_t)s->seed, RNG_STREAM_INIT);
    dp_model_init(&lm->model, &init, 0);
    /* The batches and the noise are secret unless the config asks for reproducible noise. */
    uint8_t key[RNG_KEY_BYTES];
    rng_private_key(s->reproducible_noise, (uint64_t)s->seed, key);
    rng_init(&state.sampler, key, RNG_STREAM_SAMPLING);
    rng_init(&state.noise, key, RNG_STREAM_NOISE);
    if (t.private_mode)
        log_info("%s: DP-SGD, sigma %.4g, q %.3g, %lld steps, C %g", s->runs[run].label,
                 t.noise_multiplier, q, steps, t.clip_norm);
    else
        log_info("%s: plain SGD without privacy, %lld steps", s->runs[run].label, steps);
    dp_epoch_metrics m = {0};
    while ((size_t)state.epoch < (size_t)t.epochs && !state.budget_exhausted) {
        if (dp_train_epoch(&lm->model, &lm->ws, &t, &state, &train, &none, &m, err))
            goto done;
        size_t hn;
        const int32_t *h = holdout_ids(x, &hn);
        if (audit_char_lm_evaluate(lm, h, hn, &res->holdout_bits, &res->holdout_accuracy, err))
            goto done;
        res->train_loss_bits = m.train_loss / log(2.0);
        log_info("%s epoch %d/%d: train %.3f bits/char, held out %.3f bits/char (accuracy "
                 "%.3f), epsilon %.4g, %.0f s", s->runs[run].label, m.epoch, t.epochs,
                 res->train_loss_bits, res->holdout_bits, res->holdout_accuracy,
                 t.private_mode ? m.epsilon : INFINITY, m.seconds);
    }
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
    settings *s = &x->s;
    canary_result *c = &x->results[run].canaries[j];
    audit_char_lm_space cs;
    audit_secret_space space;
    size_t a = strlen(s->alphabet);
    if (audit_char_lm_space_init(&cs, lm, x->prefix_ids[j], x->prefix_count[j], x->alphabet_ids,
                                 a, s->length, &space, err))
        return -1;
    int status = -1;
    const int32_t *secret = x->canaries[j].symbols;
    if (audit_char_lm_space_log_perplexities(&cs, secret, 1, &c->log_perplexity, err) ||
        audit_char_lm_space_log_perplexities(&cs, references, s->references, reference_bits, err) ||
        audit_exposure_interpolation(&c->log_perplexity, 1, reference_bits, s->references,
                                     &c->exposure_interpolated, err) ||
        audit_exposure_extrapolation(&c->log_perplexity, 1, reference_bits, s->references,
                                     &c->exposure_extrapolated, &x->results[run].fit[j], err))
        goto done;
    c->exposure_exact = NAN;
    if (x->enumerate && audit_exposure_exact(&space, secret, 1, &c->rank, &c->exposure_exact,
                                             &c->enumeration, err))
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
        error_prefix(err, "canary %zu (%s%s)", j, x->canaries[j].prefix, x->canaries[j].secret);
    return status;
}

static int audit_canaries_of(experiment *x, size_t run, audit_char_lm *lm, dpkit_error *err)
{
    settings *s = &x->s;
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
        const canary_result *c = &x->results[run].canaries[j];
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

static int sample_extraction(experiment *x, size_t run, audit_char_lm *lm,
                             const audit_ngram_index *index, dpkit_error *err)
{
    settings *s = &x->s;
    model_result *res = &x->results[run];
    size_t k = s->context, hn, L = s->sample_length;
    const int32_t *h = holdout_ids(x, &hn);
    if (hn <= k)
        return error_set(err, "data.holdout_bytes: too short for prompts of %zu characters", k);
    int32_t *prompts = malloc(s->samples * k * sizeof *prompts);
    double *bits = malloc(s->samples * sizeof *bits);
    double *ppl = malloc(s->samples * sizeof *ppl);
    double *zs = malloc(s->samples * sizeof *zs);
    uint8_t *hits = calloc(s->samples, 1), *rare = calloc(s->samples, 1);
    char *text = malloc(4 * L + 1);
    res->samples = malloc(s->samples * L * sizeof *res->samples);
    res->sample_stats = calloc(s->samples, sizeof *res->sample_stats);
    int status = -1;
    if (!prompts || !bits || !ppl || !zs || !hits || !rare || !text || !res->samples ||
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
                             res->samples, bits, err))
        goto done;
    res->hits = 0;
    for (size_t i = 0; i < s->samples; i++) {
        extraction_sample *e = &res->sample_stats[i];
        const int32_t *seq = res->samples + i * L;
        if (datasets_vocabulary_decode(&x->tokens.vocabulary, seq, L, text, 4 * L + 1, err) ||
            audit_zlib_bytes((const uint8_t *)text, strlen(text), &e->zlib_bytes, err))
            goto done;
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
    free(text);
    return status;
}

/* ---- report ---- */

static void json_secret(json_writer *w, const experiment *x, const int32_t *symbols)
{
    char text[AUDIT_CANARY_MAX_LENGTH + 1];
    for (size_t d = 0; d < x->s.length; d++)
        text[d] = x->s.alphabet[symbols[d]];
    text[x->s.length] = 0;
    json_string(w, text);
}

static void json_sample(json_writer *w, const experiment *x, const model_result *res, size_t i)
{
    size_t L = x->s.sample_length;
    char *text = malloc(4 * L + 1);
    dpkit_error ignored;
    json_begin_object(w);
    if (text && !datasets_vocabulary_decode(&x->tokens.vocabulary, res->samples + i * L, L, text,
                                            4 * L + 1, &ignored))
        json_field_string(w, "text", text);
    const extraction_sample *e = &res->sample_stats[i];
    json_field_double(w, "bits_per_char", e->bits_per_char);
    json_field_int(w, "zlib_bytes", (long long)e->zlib_bytes);
    json_field_double(w, "zlib_score", e->zlib_score);
    json_field_int(w, "verbatim_grams", (long long)e->matches);
    json_field_int(w, "first_verbatim_offset", e->first_match);
    json_field_int(w, "rarest_training_occurrences", (long long)e->rarest);
    json_end_object(w);
    free(text);
}

static void json_top_samples(json_writer *w, const experiment *x, const model_result *res,
                             int by_zlib, size_t top)
{
    size_t n = x->s.samples;
    double *scores = malloc(n * sizeof *scores);
    size_t *order = malloc(n * sizeof *order);
    json_begin_array(w);
    if (scores && order) {
        for (size_t i = 0; i < n; i++)
            scores[i] = by_zlib ? res->sample_stats[i].zlib_score : res->sample_stats[i].bits_per_char;
        audit_rank_ascending(scores, n, order);
        for (size_t i = 0; i < top && i < n; i++)
            json_sample(w, x, res, order[i]);
    }
    json_end_array(w);
    free(scores);
    free(order);
}

static int write_report(const experiment *x, dpkit_error *err)
{
    const settings *s = &x->s;
    json_writer w;
    if (json_writer_init_string(&w, 2))
        return error_set(err, "report.json: out of memory");
    json_begin_object(&w);
    json_field_string(&w, "kind", "canaries");
    json_field_string(&w, "name", config_get_string(s->cfg, "name"));
    json_field_string(&w, "corpus", config_get_string(s->cfg, "data.corpus"));
    json_field_int(&w, "train_bytes", (long long)x->train_bytes);
    json_field_int(&w, "canary_bytes", (long long)(x->train_bytes - s->bytes));
    json_field_int(&w, "holdout_bytes", (long long)s->holdout_bytes);
    json_field_int(&w, "vocabulary", (long long)x->tokens.vocabulary.size);
    json_field_int(&w, "context", (long long)s->context);
    json_field_int(&w, "hidden", (long long)s->hidden);
    json_field_string(&w, "privacy_unit", "one window (context of k characters and the next one)");
    json_field_double(&w, "log2_space", x->log2_space);
    json_field_bool(&w, "enumerated", x->enumerate);
    json_field_double(&w, "seconds", x->seconds);
    json_field_bool(&w, "reproducible_noise", s->reproducible_noise);
    json_field_string(&w, "noise_key", rng_noise_key_description(s->reproducible_noise));
    json_key(&w, "canaries");
    json_begin_array(&w);
    for (size_t j = 0; j < s->canary_count; j++) {
        json_begin_object(&w);
        json_field_string(&w, "prefix", x->canaries[j].prefix);
        json_field_string(&w, "secret", x->canaries[j].secret);
        json_field_int(&w, "insertions", (long long)x->canaries[j].insertions);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_key(&w, "models");
    json_begin_array(&w);
    for (size_t run = 0; run < s->run_count; run++) {
        const model_result *res = &x->results[run];
        json_begin_object(&w);
        json_field_string(&w, "label", s->runs[run].label);
        json_field_bool(&w, "private", s->runs[run].private_mode);
        json_field_double(&w, "epsilon", res->epsilon);
        json_field_double(&w, "delta", s->runs[run].private_mode ? s->delta : NAN);
        json_field_double(&w, "noise_multiplier", res->sigma);
        json_field_int(&w, "epochs", (long long)s->runs[run].epochs);
        json_field_int(&w, "steps", res->steps);
        json_field_double(&w, "train_bits_per_char", res->train_loss_bits);
        json_field_double(&w, "holdout_bits_per_char", res->holdout_bits);
        json_field_double(&w, "holdout_accuracy", res->holdout_accuracy);
        json_field_double(&w, "train_seconds", res->train_seconds);
        json_field_double(&w, "audit_seconds", res->audit_seconds);
        json_key(&w, "canaries");
        json_begin_array(&w);
        for (size_t j = 0; j < s->canary_count; j++) {
            const canary_result *c = &res->canaries[j];
            json_begin_object(&w);
            json_field_int(&w, "insertions", (long long)s->insertions[j]);
            json_field_double(&w, "log_perplexity_bits", c->log_perplexity);
            if (x->enumerate) {
                json_field_int(&w, "rank", (long long)c->rank);
                json_field_double(&w, "exposure_exact", c->exposure_exact);
                json_field_int(&w, "enumeration_nodes", (long long)c->enumeration.nodes_expanded);
                json_field_double(&w, "enumeration_seconds", c->enumeration.seconds);
            }
            json_field_double(&w, "exposure_interpolated", c->exposure_interpolated);
            json_field_double(&w, "exposure_extrapolated", c->exposure_extrapolated);
            json_key(&w, "skewnorm_fit");
            json_begin_object(&w);
            json_field_double(&w, "shape", res->fit[j].shape);
            json_field_double(&w, "loc", res->fit[j].loc);
            json_field_double(&w, "scale", res->fit[j].scale);
            json_end_object(&w);
            json_key(&w, "extraction");
            json_begin_object(&w);
            json_field_bool(&w, "extracted", c->extraction.true_rank == 1);
            json_field_int(&w, "rank_among_candidates", (long long)c->extraction.true_rank);
            json_field_int(&w, "nodes_expanded", (long long)c->extraction.stats.nodes_expanded);
            json_field_int(&w, "model_calls", (long long)c->extraction.stats.model_calls);
            json_field_double(&w, "seconds", c->extraction.stats.seconds);
            json_field_bool(&w, "truncated", c->extraction.truncated);
            json_key(&w, "candidates");
            json_begin_array(&w);
            for (size_t i = 0; i < c->extraction.found; i++) {
                json_begin_object(&w);
                json_key(&w, "secret");
                json_secret(&w, x, c->candidates + i * s->length);
                json_field_double(&w, "log_perplexity_bits", c->candidate_bits[i]);
                json_end_object(&w);
            }
            json_end_array(&w);
            json_end_object(&w);
            json_end_object(&w);
        }
        json_end_array(&w);
        json_key(&w, "data_extraction");
        json_begin_object(&w);
        json_field_int(&w, "samples", (long long)s->samples);
        json_field_int(&w, "sample_length", (long long)s->sample_length);
        json_field_double(&w, "temperature", s->temperature);
        json_field_int(&w, "top_k", (long long)s->top_k);
        json_field_int(&w, "min_match", (long long)s->min_match);
        json_field_int(&w, "memorised_samples", (long long)res->hits);
        json_field_double(&w, "memorised_fraction", res->hit_rate);
        json_field_int(&w, "precision_k", (long long)s->top);
        json_field_double(&w, "precision_perplexity", res->precision_perplexity);
        json_field_double(&w, "precision_zlib", res->precision_zlib);
        json_field_int(&w, "max_occurrences", (long long)s->max_occurrences);
        json_field_int(&w, "rare_memorised_samples", (long long)res->rare_hits);
        json_field_double(&w, "rare_memorised_fraction", res->rare_rate);
        json_field_double(&w, "rare_precision_perplexity", res->rare_precision_perplexity);
        json_field_double(&w, "rare_precision_zlib", res->rare_precision_zlib);
        json_key(&w, "top_by_perplexity");
        json_top_samples(&w, x, res, 0, 10);
        json_key(&w, "top_by_zlib");
        json_top_samples(&w, x, res, 1, 10);
        json_end_object(&w);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    int status = json_writer_finish(&w, err);
    char path[4200];
    snprintf(path, sizeof path, "%s/report.json", s->output_dir);
    if (!status)
        status = textfile_write_atomic(path, json_writer_string(&w), strlen(json_writer_string(&w)), err);
    json_writer_free(&w);
    return status;
}

/* The exposure a canary is reported with: exact when enumerated, else interpolated. */
static double canary_exposure(const experiment *x, const canary_result *c)
{
    return x->enumerate ? c->exposure_exact : c->exposure_interpolated;
}

static void print_table(const experiment *x)
{
    const settings *s = &x->s;
    printf("Secret Sharer audit: %zu training bytes, |R| = 2^%.2f, exposure in bits (%s)\n",
           x->train_bytes, x->log2_space, x->enumerate ? "exact rank" : "interpolated");
    printf("noise key: %s\n", rng_noise_key_description(s->reproducible_noise));
    printf("%-6s", "r");
    for (size_t run = 0; run < s->run_count; run++)
        printf("  %-22s", s->runs[run].label);
    printf("\n");
    for (size_t j = 0; j < s->canary_count; j++) {
        printf("%-6zu", s->insertions[j]);
        for (size_t run = 0; run < s->run_count; run++) {
            const canary_result *c = &x->results[run].canaries[j];
            char cell[64];
            snprintf(cell, sizeof cell, "%6.2f (%5.2f/%5.2f)%s", canary_exposure(x, c),
                     c->exposure_interpolated, c->exposure_extrapolated,
                     c->extraction.true_rank == 1 ? " X" : "");
            printf("  %-22s", cell);
        }
        printf("\n");
    }
    printf("cells: exposure (interpolated/extrapolated); X = extracted first by the search\n");
    for (size_t run = 0; run < s->run_count; run++) {
        const model_result *res = &x->results[run];
        char privacy[96];
        if (isinf(res->epsilon))
            snprintf(privacy, sizeof privacy, "no DP");
        else
            snprintf(privacy, sizeof privacy, "epsilon %.3g, delta %g per window, sigma %.4g",
                     res->epsilon, s->delta, res->sigma);
        printf("%s (%s): held out %.3f bits/char, train %.0f s, audit %.0f s\n"
               "  samples with >= %zu verbatim training chars: %zu/%zu, precision@%zu %.2f "
               "(perplexity) %.2f (zlib); of a string seen <= %zu times: %zu, precision@%zu "
               "%.2f / %.2f\n",
               s->runs[run].label, privacy, res->holdout_bits, res->train_seconds,
               res->audit_seconds, s->min_match, res->hits, s->samples, s->top,
               res->precision_perplexity, res->precision_zlib, s->max_occurrences,
               res->rare_hits, s->top, res->rare_precision_perplexity,
               res->rare_precision_zlib);
    }
}

static int write_plot(const experiment *x, dpkit_error *err)
{
    const settings *s = &x->s;
    /* one point per distinct insertion count > 0 (mean over repeats) */
    double counts[MAX_CANARIES], epsilons[MAX_RUNS], exposure[MAX_RUNS * MAX_CANARIES];
    size_t m = 0;
    for (size_t j = 0; j < s->canary_count; j += s->repeats)
        if (s->insertions[j] > 0)
            counts[m++] = (double)s->insertions[j];
    if (m == 0)
        return 0;
    for (size_t run = 0; run < s->run_count; run++) {
        epsilons[run] = x->results[run].epsilon;
        for (size_t i = 0, j = 0; j < s->canary_count; j += s->repeats) {
            if (s->insertions[j] == 0)
                continue;
            double sum = 0;
            for (size_t t = 0; t < s->repeats; t++)
                sum += canary_exposure(x, &x->results[run].canaries[j + t]);
            exposure[run * m + i++] = sum / (double)s->repeats;
        }
    }
    char path[4200], title[128];
    snprintf(path, sizeof path, "%s/exposure.png", s->output_dir);
    snprintf(title, sizeof title, "Canary exposure (log2 |R| = %.1f)", x->log2_space);
    return audit_plot_exposure(path, counts, m, epsilons, s->run_count, exposure, title, err);
}

static int run_experiment(experiment *x, dpkit_error *err)
{
    double start = progress_now();
    if (paths_make_directory(x->s.output_dir, err))
        return error_prefix(err, "output.dir");
    char path[4200];
    snprintf(path, sizeof path, "%s/config.yaml", x->s.output_dir);
    if (config_write_file(x->s.cfg, path, err) || prepare_data(x, err))
        return -1;
    size_t n;
    const int32_t *ids = train_ids(x, &n);
    audit_ngram_index index;
    if (audit_ngram_index_build(ids, n, x->s.min_match, &index, err))
        return error_prefix(err, "extraction.min_match");
    int status = 0;
    for (size_t run = 0; status == 0 && run < x->s.run_count; run++) {
        audit_char_lm lm;
        if (audit_char_lm_create(x->s.context, x->tokens.vocabulary.size, x->s.hidden,
                                 x->s.physical_batch, &lm, err)) {
            status = -1;
            break;
        }
        status = train_model(x, run, &lm, err);
        double audit_start = progress_now();
        if (!status)
            status = audit_canaries_of(x, run, &lm, err);
        if (!status)
            status = sample_extraction(x, run, &lm, &index, err);
        x->results[run].audit_seconds = progress_now() - audit_start;
        audit_char_lm_free(&lm);
        if (status)
            error_prefix(err, "runs[%zu] (%s)", run, x->s.runs[run].label);
    }
    audit_ngram_index_free(&index);
    if (status)
        return -1;
    x->seconds = progress_now() - start;
    if (write_report(x, err))
        return -1;
    print_table(x);
    if (write_plot(x, err)) {
        log_warn("exposure.png not written: %s", err->message);
    }
    printf("report: %s/report.json\n", x->s.output_dir);
    return 0;
}

int cli_audit_canaries(int argc, char **argv)
{
    static const struct option options[] = {
        {"set", required_argument, NULL, 's'},   {"output", required_argument, NULL, 'o'},
        {"print-config", no_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
        {"quiet", no_argument, NULL, 'q'},       {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0}};
    cli_config_args args = {0};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "hqv", options, NULL)) != -1) {
        if (cli_common_option(c))
            continue;
        int shared = cli_config_option(COMMAND, c, optarg, schema, print_help, &args);
        if (shared < 0)
            return cli_usage_error(COMMAND, "unknown option");
        if (shared > 0)
            return shared == 1 ? 0 : shared;
    }
    if (optind != argc - 1)
        return cli_usage_error(COMMAND, "expected one CONFIG file");
    const char *path = argv[optind];
    experiment *x = calloc(1, sizeof *x);
    if (!x) {
        fprintf(stderr, "dpkit %s: error: out of memory\n", COMMAND);
        return 1;
    }
    dpkit_error err;
    int status = 0;
    if (config_load_with_overrides(path, schema, args.sets, args.set_count, &x->s.cfg, &err) ||
        read_settings(&x->s, &err)) {
        if (x->s.cfg)
            error_prefix(&err, "%s", path);
        status = -1;
    }
    if (!status && args.output)
        snprintf(x->s.output_dir, sizeof x->s.output_dir, "%s", args.output);
    if (!status)
        status = run_experiment(x, &err);
    if (status)
        cli_fail(COMMAND, &err);
    experiment_free(x);
    free(x);
    return status ? 1 : 0;
}
