/* dpkit audit: empirical privacy audits of a DP-SGD classifier trained from a base training
 * config: membership inference (loss threshold, LiRA), one-run and multi-run epsilon lower
 * bounds. Writes report.json and the plots, prints a table, and fails loudly when the lower
 * bound refutes the accountant's epsilon. */
#include "cli/cli.h"
#include "dp/run_config.h"

#include "audit/audit.h"
#include "common/log.h"
#include "common/parallel.h"
#include "common/paths.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND "audit"

static void print_help(void)
{
    printf("usage: dpkit audit AUDIT.yaml [--set key=value]... [--output DIR] [options]\n"
           "\n"
           "Audits DP-SGD training of the base training config (training.config) by training the\n"
           "models itself with the same engine and features (from the cache):\n"
           "  kind: membership  shadow models on random halves of the training data, a target model\n"
           "                    on another random half; loss-threshold attack, LiRA offline (OUT\n"
           "                    shadows) and online (IN and OUT): ROC AUC, TPR at FPR 0.1%% and 1%%,\n"
           "                    log-log ROC plot (roc.png)\n"
           "  kind: one-run     m canaries, each included with probability 1/2, one training\n"
           "                    (Steinke, Nasr & Jagielski 2023); canary.kind gradient (white-box:\n"
           "                    Dirac gradient of norm C added whenever the canary is sampled, score =\n"
           "                    total update along it) or input (black-box: mislabelled examples,\n"
           "                    score = -loss); histograms of the included and excluded canaries'\n"
           "                    scores with the guesses' cut-offs (scores.png)\n"
           "  kind: multi-run   `runs` trainings with one canary and `runs` without; Clopper-Pearson\n"
           "                    bounds on FPR and FNR; histograms of the two sides' scores with the\n"
           "                    threshold (scores.png)\n"
           "  kind: canaries    the Secret Sharer experiment on a character language model: canary\n"
           "                    exposure, extraction and training-data extraction (its own keys:\n"
           "                    dpkit audit-canaries --help)\n"
           "Every audit reports the empirical lower bound eps_lb (at `confidence`, for the\n"
           "accountant's delta) beside the accountant's epsilon of the same training, in\n"
           "OUTPUT/report.json and on stdout. eps_lb above epsilon means the training is not as\n"
           "private as claimed: the audit says so and exits with status 3. Each figure NAME.png comes\n"
           "with NAME.pdf and NAME.svg (skipped, with a warning, when gnuplot lacks the terminal) and\n"
           "the script NAME.gp and data NAME.data*.tsv that draw them again ('gnuplot NAME.gp').\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a key of the audit config (repeatable), e.g.\n"
           "                    --set privacy.epsilon=2 or --set privacy.enabled=false\n"
           "  --output DIR      audit directory (default output.dir, or runs/audits/<name>)\n"
           CLI_CONFIG_OPTIONS_HELP
           "\n"
           "example:\n"
           "  dpkit audit configs/audit-one-run.yaml --set privacy.epsilon=1\n");
}

static void print_head(const audit_classifier_job *a, const audit_classifier_result *r)
{
    const audit_verdict *v = &r->verdict;
    printf("%-28s %s\n", "training", a->info.training_config);
    printf("%-28s %s\n", "noise key", rng_noise_key_description(a->training.reproducible_noise));
    if (a->training.train.private_mode)
        printf("%-28s %.4g (delta %g, sigma %.4g, %lld steps)\n", "accountant epsilon",
               v->epsilon, v->delta, r->noise_multiplier, r->steps);
    else
        printf("%-28s inf (non-private, %lld steps)\n", "accountant epsilon", r->steps);
    printf("%-28s %.4g (%g%% confidence)\n", "epsilon lower bound", v->epsilon_lb,
           100 * a->settings.membership.confidence);
    if (isfinite(v->epsilon) && v->epsilon > 0)
        printf("%-28s %.3f\n", "eps_lb / epsilon", v->epsilon_lb / v->epsilon);
    printf("%-28s %.4f\n", "test accuracy", r->test_accuracy);
}

static const char *const attack_names[] = {"loss", "LiRA offline", "LiRA online"};

/* Writes the figure (membership: the ROC plot roc.png; one-run, multi-run: the score histograms
 * scores.png), the signals (signals.h5) and report.json into the audit directory, with their
 * paths on stdout. */
static int write_report(const audit_classifier_job *a, const audit_classifier_settings *s,
                        const audit_classifier_result *r, dpkit_error *err)
{
    int membership = s->kind == AUDIT_MEMBERSHIP, multi = s->kind == AUDIT_MULTI_RUN;
    int per_run = multi && s->canary.canary != AUDIT_CANARY_DIRAC; /* Dirac: per canary */
    const audit_membership_result *m = &r->membership;
    char path[2200], figure[2200], signals[2200];
    snprintf(path, sizeof path, "%s/report.json", a->dir);
    snprintf(figure, sizeof figure, "%s/%s", a->dir, membership ? "roc.png" : "scores.png");
    snprintf(signals, sizeof signals, "%s/signals.h5", a->dir);
    audit_roc curves[] = {m->loss.roc, m->offline.roc, m->online.roc};
    if (membership ? audit_plot_roc(figure, curves, attack_names, 3, a->info.name, err)
                   : audit_canary_plot_scores(&r->canary, per_run, a->info.name,
                                              s->canary.confidence, figure, err))
        return -1;
    printf("%-28s %s\n", membership ? "ROC plot" : "score plot", figure);
    if (membership ? audit_membership_write_signals(m, signals, err)
                   : audit_canary_write_signals(&r->canary, per_run, signals, err))
        return -1;
    printf("%-28s %s\n", "per-example signals", signals);
    if (membership ? audit_membership_write_report(path, &a->info, &r->verdict, &s->membership,
                                                   m, figure, signals, err)
                   : audit_canary_write_report(path, &a->info, &r->verdict, &s->canary, multi,
                                               &r->canary, figure, signals, err))
        return -1;
    printf("%-28s %s\n", "report", path);
    return 0;
}

static void print_membership(const audit_classifier_job *a, const audit_membership_options *o,
                             const audit_classifier_result *res)
{
    const audit_membership_result *r = &res->membership;
    printf("audit membership: %s (%zu shadow models, %zu examples, %zu members)\n", a->info.name,
           o->shadows, r->examples, r->members);
    print_head(a, res);
    printf("\n%-14s %8s %10s %10s\n", "attack", "AUC", "TPR@0.1%", "TPR@1%");
    const audit_attack_metrics *m[] = {&r->loss, &r->offline, &r->online};
    for (int i = 0; i < 3; i++)
        printf("%-14s %8.4f %10.4f %10.4f\n", attack_names[i], m[i]->auc, m[i]->tpr_at_fpr_0_1,
               m[i]->tpr_at_fpr_1);
}

static void print_dirac(const audit_classifier_job *a, const audit_canary_options *o, int multi,
                        const audit_classifier_result *res)
{
    const audit_canary_result *r = &res->canary;
    printf("audit %s: %s (%zu Dirac canaries%s, observed at every step, q = %.4g)\n",
           multi ? "multi-run" : "one-run", a->info.name, o->canaries,
           multi ? " in each run" : "", r->sampling_rate);
    if (multi)
        printf("%-28s %zu\n", "runs", o->runs);
    print_head(a, res);
    const audit_gdp_estimate_result *g = &r->gdp;
    printf("%-28s %.4f [%.4f, %.4f] (accountant: %.4f)\n", "mu-GDP estimate", g->mu, g->mu_lower,
           g->mu_upper, r->mu_claimed);
    printf("%-28s %.4g [%.4g, %.4g]\n", "epsilon of the estimate", g->epsilon, g->epsilon_lower,
           g->epsilon_upper);
    if (multi)
        printf("%-28s %.4g (FPR %llu/%llu, FNR %llu/%llu)\n", "canary-count bound",
               r->epsilon_lb_counts, (unsigned long long)r->false_positives,
               (unsigned long long)r->evaluated_without, (unsigned long long)r->false_negatives,
               (unsigned long long)r->evaluated_with);
    else {
        const char *name[2] = {"Steinke et al.'s bound", "f-DP bound (mu-GDP)"};
        double lb[2] = {r->bound.epsilon, r->fdp.epsilon}, ideal[2] = {r->ideal.epsilon,
                                                                     r->fdp_ideal.epsilon};
        for (int b = 0; b < 2; b++)
            printf("%-28s %.4g (ideal attacker %.4g, measured / ideal %.3f)%s\n", name[b], lb[b],
                   ideal[b], ideal[b] > 0 ? lb[b] / ideal[b] : NAN,
                   b == o->fdp_bound ? ": eps_lb" : "");
    }
}

static void print_canaries(const audit_classifier_job *a, const audit_canary_options *o, int multi,
                           const audit_classifier_result *res)
{
    const audit_canary_result *r = &res->canary;
    const char *kind = audit_canary_kind_name(o->canary);
    if (o->canary == AUDIT_CANARY_DIRAC) {
        print_dirac(a, o, multi, res);
        return;
    }
    if (multi)
        printf("audit multi-run: %s (%s canary, %zu runs with and %zu without)\n", a->info.name, kind,
               o->runs, o->runs);
    else
        printf("audit one-run: %s (%s canaries, m = %zu, %zu included)\n", a->info.name, kind,
               o->canaries, r->included);
    print_head(a, res);
    if (o->canary == AUDIT_CANARY_CRAFTED)
        printf("%-28s %.4f [%.4f, %.4f] (accountant: %.4f), epsilon %.4g [%.4g, %.4g]\n",
               "mu-GDP estimate", r->gdp.mu, r->gdp.mu_lower, r->gdp.mu_upper, r->mu_claimed,
               r->gdp.epsilon, r->gdp.epsilon_lower, r->gdp.epsilon_upper);
    if (multi)
        printf("%-28s FPR %llu/%llu, FNR %llu/%llu (threshold from the other half)\n",
               "held-out counts", (unsigned long long)r->false_positives,
               (unsigned long long)r->evaluated_without, (unsigned long long)r->false_negatives,
               (unsigned long long)r->evaluated_with);
    else
        printf("%-28s %llu of %llu correct (grid maximum, uncorrected: %.4g)\n", "guesses",
               (unsigned long long)r->bound.correct, (unsigned long long)r->bound.guesses,
               r->bound.grid_epsilon);
    printf("%-28s %.4f\n", "canary score AUC", r->auc);
}

/* 1 when the config (or a --set kind=... override) says kind: canaries, which has a schema
 * of its own (cli/cmd_audit_canaries.c). An unreadable file is left to the normal path to report. */
static int is_canary_audit(const cli_config_args *job)
{
    for (size_t i = job->set_count; i-- > 0;) /* the last override wins */
        if (strncmp(job->sets[i], "kind=", 5) == 0)
            return strcmp(job->sets[i] + 5, "canaries") == 0;
    config_node *root = NULL;
    dpkit_error ignored;
    if (config_parse_file(job->config_path, &root, &ignored) != 0 || !root)
        return 0;
    const config_node *kind = config_node_find(root, "kind");
    int canaries = kind && kind->value && strcmp(kind->value, "canaries") == 0;
    config_node_free(root);
    return canaries;
}

int cli_audit(int argc, char **argv)
{
    static const struct option extra[] = {{"output", required_argument, NULL, 'o'},
                                          {NULL, 0, NULL, 0}};
    cli_config_args job;
    int parsed = cli_parse_config_command(COMMAND, argc, argv, extra, audit_classifier_schema, print_help,
                                          &job, NULL, NULL);
    if (parsed)
        return parsed == 1 ? 0 : parsed;
    /* Under mpirun the ranks share the trainings of a membership or multi-run audit, and rank 0
     * alone prints and writes (docs/mpi.md). */
    int ranks = parallel_world_size(), root = parallel_world_rank() == 0;
    if (ranks > 1 && is_canary_audit(&job))
        return cli_usage_error(COMMAND, "a canaries audit trains one model: run it without "
                                        "mpirun (%d ranks)", ranks);
    if (is_canary_audit(&job))
        return cli_audit_canaries(argc, argv);
    audit_classifier_job a;
    dpkit_error err;
    audit_classifier_result r = {0};
    const audit_classifier_settings *s = &a.settings;
    int status = audit_classifier_job_load(job.config_path, job.sets, job.set_count, job.output,
                                           &a, &err);
    if (status == 0 && ranks > 1 && s->kind == AUDIT_ONE_RUN)
        status = error_set(&err, "kind: one-run trains one model: run it without mpirun (%d "
                                 "ranks)", ranks);
    status = status || parallel_agree_world(root && paths_make_directory(a.dir, &err), &err) ||
             audit_classifier(s, &r, &err);
    if (status == 0 && !root) {
        audit_classifier_result_free(&r);
        audit_classifier_job_free(&a);
        return 0;
    }
    if (status == 0 && s->kind == AUDIT_MEMBERSHIP)
        print_membership(&a, &s->membership, &r);
    else if (status == 0)
        print_canaries(&a, &s->canary, s->kind == AUDIT_MULTI_RUN, &r);
    if (status == 0) {
        printf("%-28s %.1f s\n", "training time", r.train_seconds);
        status = write_report(&a, s, &r, &err);
    }
    audit_verdict v = r.verdict;
    audit_classifier_result_free(&r);
    audit_classifier_job_free(&a);
    if (status)
        return cli_fail(COMMAND, &err);
    if (v.violated) {
        fprintf(stderr,
                "\n"
                "dpkit audit: ERROR: DIFFERENTIAL PRIVACY VIOLATED\n"
                "dpkit audit: ERROR: the empirical lower bound eps_lb = %.4g (%g%% confidence) is\n"
                "dpkit audit: ERROR: above the accountant's epsilon = %.4g at delta = %g: this\n"
                "dpkit audit: ERROR: training is NOT as private as dpkit claims.\n\n",
                v.epsilon_lb, 100 * v.confidence, v.epsilon, v.delta);
        return 3;
    }
    return 0;
}
