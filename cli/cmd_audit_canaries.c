/* dpkit audit-canaries: the Secret Sharer experiment (audit_canary_experiment, audit/). Reads
 * the config into the experiment's settings, runs it, writes config.yaml, report.json and
 * exposure.png into the run directory (the experiment writes canaries.json) and prints a table. */
#include "cli/cli.h"
#include "dp/run_config.h"

#include "audit/audit.h"
#include "common/config.h"
#include "common/log.h"
#include "common/paths.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND "audit-canaries"
#define MAX_CANARIES AUDIT_CANARY_EXPERIMENT_MAX_CANARIES
#define MAX_RUNS AUDIT_CANARY_EXPERIMENT_MAX_RUNS

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

/* The config and the settings read from it (strings point into the config). */
typedef struct job {
    config *cfg;
    audit_canary_experiment_settings s;
    char output_dir[2048];
} job;

static int get_count(const config *cfg, const char *key, long low, long high, size_t *out,
                     dpkit_error *err)
{
    long v = config_get_int(cfg, key);
    if (v < low || v > high)
        return error_set(err, "%s: %ld, expected %ld..%ld", key, v, low, high);
    *out = (size_t)v;
    return 0;
}

static int read_settings(job *j, dpkit_error *err)
{
    config *c = j->cfg;
    audit_canary_experiment_settings *s = &j->s;
    size_t epochs = 0;
    s->name = config_get_string(c, "name");
    s->corpus = config_get_string(c, "data.corpus");
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
        get_count(c, "training.epochs", 1, 10000, &epochs, err) ||
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
        s->runs[i].epochs = e ? (size_t)e : epochs;
        s->runs[i].lr = lr > 0 ? lr : s->optimizer.lr;
        if (s->runs[i].private_mode && !(s->runs[i].epsilon > 0) && !(s->runs[i].sigma > 0))
            return error_set(err, "runs[%zu] (%s): private, expected epsilon > 0 or "
                                  "noise_multiplier > 0", i, s->runs[i].label);
        if (!s->runs[i].label[0])
            return error_set(err, "runs[%zu].label: empty", i);
    }
    const char *dir = config_get_string(c, "output.dir");
    if (dir[0])
        snprintf(j->output_dir, sizeof j->output_dir, "%s", dir);
    else
        snprintf(j->output_dir, sizeof j->output_dir, "runs/%s", s->name);
    s->output_dir = j->output_dir;
    return 0;
}

static void print_table(const audit_canary_experiment_settings *s,
                        const audit_canary_experiment_result *x)
{
    printf("Secret Sharer audit: %zu training bytes, |R| = 2^%.2f, exposure in bits (%s)\n",
           x->train_bytes, x->log2_space, x->enumerated ? "exact rank" : "interpolated");
    printf("noise key: %s\n", rng_noise_key_description(s->reproducible_noise));
    printf("%-6s", "r");
    for (size_t run = 0; run < s->run_count; run++)
        printf("  %-22s", s->runs[run].label);
    printf("\n");
    for (size_t j = 0; j < s->canary_count; j++) {
        printf("%-6zu", s->insertions[j]);
        for (size_t run = 0; run < s->run_count; run++) {
            const audit_canary_outcome *c = &x->models[run].canaries[j];
            char cell[64];
            snprintf(cell, sizeof cell, "%6.2f (%5.2f/%5.2f)%s",
                     audit_canary_experiment_exposure(x, c), c->exposure_interpolated,
                     c->exposure_extrapolated,
                     c->extraction.true_rank == 1 ? " X" : "");
            printf("  %-22s", cell);
        }
        printf("\n");
    }
    printf("cells: exposure (interpolated/extrapolated); X = extracted first by the search\n");
    for (size_t run = 0; run < s->run_count; run++) {
        const audit_canary_model *res = &x->models[run];
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

/* The run directory and config.yaml first, then the experiment (which writes canaries.json
 * as soon as the canaries are drawn), report.json, the table and the plot. */
static int run_experiment(const job *j, audit_canary_experiment_result *r, dpkit_error *err)
{
    if (paths_make_directory(j->output_dir, err))
        return error_prefix(err, "output.dir");
    char path[4200];
    snprintf(path, sizeof path, "%s/config.yaml", j->output_dir);
    if (config_write_file(j->cfg, path, err) || audit_canary_experiment(&j->s, r, err))
        return -1;
    snprintf(path, sizeof path, "%s/report.json", j->output_dir);
    if (audit_canary_experiment_write_report(&j->s, r, path, err))
        return -1;
    print_table(&j->s, r);
    snprintf(path, sizeof path, "%s/exposure.png", j->output_dir);
    if (audit_canary_experiment_plot(&j->s, r, path, err))
        log_warn("exposure.png not written: %s", err->message);
    printf("report: %s/report.json\n", j->output_dir);
    return 0;
}

int cli_audit_canaries(int argc, char **argv)
{
    static const struct option extra[] = {{"output", required_argument, NULL, 'o'},
                                          {NULL, 0, NULL, 0}};
    cli_config_args args;
    int parsed = cli_parse_config_command(COMMAND, argc, argv, extra, schema, print_help, &args,
                                          NULL, NULL);
    if (parsed)
        return parsed == 1 ? 0 : parsed;
    const char *path = args.config_path;
    job *x = calloc(1, sizeof *x);
    audit_canary_experiment_result *r = calloc(1, sizeof *r);
    if (!x || !r) {
        free(x);
        free(r);
        fprintf(stderr, "dpkit %s: error: out of memory\n", COMMAND);
        return 1;
    }
    dpkit_error err;
    int status = 0;
    if (config_load_with_overrides(path, schema, args.sets, args.set_count, &x->cfg, &err) ||
        read_settings(x, &err)) {
        if (x->cfg)
            error_prefix(&err, "%s", path);
        status = -1;
    }
    if (!status && args.output)
        snprintf(x->output_dir, sizeof x->output_dir, "%s", args.output);
    if (!status)
        status = run_experiment(x, r, &err);
    if (status)
        cli_fail(COMMAND, &err);
    audit_canary_experiment_result_free(r);
    config_free(x->cfg);
    free(r);
    free(x);
    return status ? 1 : 0;
}
