/* dpkit audit-canaries: the Secret Sharer experiment (audit_canary_experiment, audit/). Reads
 * the config into the experiment's settings, runs it, writes config.yaml, report.json and
 * exposure.png into the run directory (the experiment writes canaries.json) and prints a table. */
#include "cli/cli.h"
#include "dp/run_config.h"

#include "audit/audit.h"
#include "common/config.h"
#include "common/log.h"
#include "common/paths.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND "audit-canaries"

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
           "config.yaml, report.json and the figure exposure.png (every canary's exposure against its\n"
           "insertion count, a line per model through the means, the log2 |R| ceiling; with\n"
           "exposure.pdf, exposure.svg and the script exposure.gp and its data beside it) to the run\n"
           "directory and a table to stdout.\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a config key (repeatable)\n"
           "  --output DIR      run directory (default output.dir, or runs/<name>)\n"
           CLI_CONFIG_OPTIONS_HELP
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
    int parsed = cli_parse_config_command(COMMAND, argc, argv, extra,
                                          audit_canary_experiment_schema, print_help, &args,
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
    if (config_load_with_overrides(path, audit_canary_experiment_schema, args.sets,
                                   args.set_count, &x->cfg, &err))
        status = run_config_explain_kind(path, RUN_CONFIG_KIND_AUDIT, &err);
    else if (audit_canary_experiment_settings_read(x->cfg, &x->s, x->output_dir,
                                                   sizeof x->output_dir, &err))
        status = error_prefix(&err, "%s", path);
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
