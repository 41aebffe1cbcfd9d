/* dpkit audit: empirical privacy audits of a DP-SGD classifier trained from a base training
 * config: membership inference (loss threshold, LiRA), one-run and multi-run epsilon lower
 * bounds. Writes report.json and the plots, prints a table, and fails loudly when the lower
 * bound refutes the accountant's epsilon. */
#include "cli/cli.h"
#include "dp/run_config.h"

#include "audit/audit.h"
#include "common/json.h"
#include "common/log.h"
#include "common/textfile.h"
#include "common/paths.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND "audit"
#define MAX_TRAINING_SETS 64

static const config_field audit_schema[] = {
    {"name", CONFIG_STRING, "audit", "name of the audit (default output directory runs/audits/<name>)", NULL, NULL},
    {"kind", CONFIG_ENUM, NULL, "what to run", "membership|one-run|multi-run", NULL},
    {"training.config", CONFIG_STRING, NULL, "base training config (as for dpkit train)", NULL, NULL},
    {"training.set", CONFIG_STRING, "", "overrides of the training config: key=value separated by spaces", NULL, NULL},
    {"privacy.epsilon", CONFIG_DOUBLE, "0", "target epsilon of the audited training (sigma calibrated); 0: the training config's", NULL, NULL},
    {"privacy.enabled", CONFIG_BOOL, "true", "false: audit the non-private baseline", NULL, NULL},
    {"privacy.reproducible_noise", CONFIG_BOOL, "false", "true: the audited trainings key their noise and batches from the seed (the audit repeats exactly; sets it in the training config); false: as the training config says (default: secret OS keys, as in a release)", NULL, NULL},
    {"confidence", CONFIG_DOUBLE, "0.95", "confidence of the lower bound", NULL, NULL},
    {"membership.shadows", CONFIG_INT, "16", "membership: shadow models (each on a random half)", NULL, NULL},
    {"membership.global_variance", CONFIG_BOOL, "false", "membership: one LiRA std for all examples", NULL, NULL},
    {"canary.kind", CONFIG_ENUM, "gradient", "one-run, multi-run: white-box gradient or black-box input canaries", "gradient|input", NULL},
    {"canary.placement", CONFIG_ENUM, "pilot", "gradient canaries: on the parameters that moved least in a pilot training without noise (one more training), or random", "pilot|random", NULL},
    {"canary.count", CONFIG_INT, "1000", "one-run: canaries m (each included with probability 1/2)", NULL, NULL},
    {"runs", CONFIG_INT, "32", "multi-run: trainings with the canary and as many without", NULL, NULL},
    {"inject_fault", CONFIG_ENUM, "none", "none, or no-noise: train without noise while the accountant is told the calibrated sigma (checks the audit itself)", "none|no-noise", NULL},
    {"output.dir", CONFIG_STRING, "", "audit directory (default runs/audits/<name>)", NULL, NULL},
    {0}};

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
           "                    score = -loss)\n"
           "  kind: multi-run   `runs` trainings with one canary and `runs` without; Clopper-Pearson\n"
           "                    bounds on FPR and FNR\n"
           "  kind: canaries    the Secret Sharer experiment on a character language model: canary\n"
           "                    exposure, extraction and training-data extraction (its own keys:\n"
           "                    dpkit audit-canaries --help)\n"
           "Every audit reports the empirical lower bound eps_lb (at `confidence`, for the\n"
           "accountant's delta) beside the accountant's epsilon of the same training, in\n"
           "OUTPUT/report.json and on stdout. eps_lb above epsilon means the training is not as\n"
           "private as claimed: the audit says so and exits with status 3.\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a key of the audit config (repeatable), e.g.\n"
           "                    --set privacy.epsilon=2 or --set privacy.enabled=false\n"
           "  --output DIR      audit directory (default output.dir, or runs/audits/<name>)\n"
           "  --print-config    print the audit config keys and exit\n"
           "  -q, --quiet       only errors (and the result table)\n"
           "  -v, --verbose     more detail\n"
           "  -h, --help        show this help\n"
           "\n"
           "example:\n"
           "  dpkit audit configs/audit-one-run.yaml --set privacy.epsilon=1\n");
}

typedef struct audit_job {
    const char *config_path;
    cli_config_args config;
} audit_job;

static int parse_args(int argc, char **argv, audit_job *job)
{
    static const struct option options[] = {
        {"set", required_argument, NULL, 's'},  {"output", required_argument, NULL, 'o'},
        {"print-config", no_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
        {"quiet", no_argument, NULL, 'q'},      {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0}};
    memset(job, 0, sizeof *job);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "hqv", options, NULL)) != -1) {
        if (cli_common_option(c))
            continue;
        int shared = cli_config_option(COMMAND, c, optarg, audit_schema, print_help,
                                       &job->config);
        if (shared < 0)
            return cli_usage_error(COMMAND, "unknown option");
        if (shared > 0)
            return shared;
    }
    if (optind != argc - 1)
        return cli_usage_error(COMMAND, "expected one AUDIT config file");
    job->config_path = argv[optind];
    return 0;
}

typedef struct audit_run {
    config *cfg;
    char kind[16], name[128], dir[2048];
    double confidence;
    run_config rc;
    run_features rf;
    audit_trainer trainer;
    char *training_sets;
} audit_run;

static void audit_run_free(audit_run *a)
{
    run_features_free(&a->rf);
    run_config_free(&a->rc);
    config_free(a->cfg);
    free(a->training_sets);
}

/* The training config with the audit's overrides (training.set, then privacy.*). */
static int load_training(audit_run *a, dpkit_error *err)
{
    const char *sets[MAX_TRAINING_SETS + 4];
    size_t n = 0;
    a->training_sets = strdup(config_get_string(a->cfg, "training.set"));
    if (!a->training_sets)
        return error_set(err, "out of memory");
    for (char *tok = strtok(a->training_sets, " \t"); tok; tok = strtok(NULL, " \t")) {
        if (n == MAX_TRAINING_SETS)
            return error_set(err, "training.set: more than %d overrides", MAX_TRAINING_SETS);
        sets[n++] = tok;
    }
    char epsilon[64];
    double target = config_get_double(a->cfg, "privacy.epsilon");
    if (!(target >= 0 && target <= 1e6))
        return error_set(err, "privacy.epsilon: %g, expected 0..1e6", target);
    if (target > 0) {
        snprintf(epsilon, sizeof epsilon, "privacy.epsilon=%.17g", target);
        sets[n++] = epsilon;
        sets[n++] = "privacy.noise_multiplier=0";
    }
    if (!config_get_bool(a->cfg, "privacy.enabled"))
        sets[n++] = "privacy.enabled=false";
    if (config_get_bool(a->cfg, "privacy.reproducible_noise"))
        sets[n++] = "privacy.reproducible_noise=true";
    const char *path = config_get_string(a->cfg, "training.config");
    if (run_config_load(path, sets, n, &a->rc, err))
        return error_prefix(err, "training.config");
    return 0;
}

static int setup(audit_run *a, const audit_job *job, dpkit_error *err)
{
    if (config_load_with_overrides(job->config_path, audit_schema, job->config.sets, job->config.set_count,
                                   &a->cfg, err))
        return -1;
    snprintf(a->kind, sizeof a->kind, "%s", config_get_string(a->cfg, "kind"));
    snprintf(a->name, sizeof a->name, "%s", config_get_string(a->cfg, "name"));
    const char *dir = job->config.output ? job->config.output : config_get_string(a->cfg, "output.dir");
    if (strlen(dir) + 1 > sizeof a->dir)
        return error_set(err, "output.dir: longer than %zu characters", sizeof a->dir - 1);
    if (dir[0])
        snprintf(a->dir, sizeof a->dir, "%s", dir);
    else
        snprintf(a->dir, sizeof a->dir, "runs/audits/%s", a->name);
    a->confidence = config_get_double(a->cfg, "confidence");
    if (!(a->confidence > 0 && a->confidence < 1))
        return error_set(err, "%s: confidence: %g, expected 0 < confidence < 1",
                         job->config_path, a->confidence);
    if (load_training(a, err))
        return error_prefix(err, "%s", job->config_path);
    if (paths_make_directory(a->dir, err) || run_features_load(&a->rc, 0, &a->rf, err))
        return -1;
    features_set *tr = &a->rf.train;
    audit_trainer *t = &a->trainer;
    memset(t, 0, sizeof *t);
    t->input = (dp_shape){tr->channels, tr->height, tr->width};
    t->class_count = (size_t)a->rf.data.class_count;
    t->layers = a->rc.layers;
    t->layer_count = a->rc.layer_count;
    t->zero_init = a->rc.zero_init;
    t->normalize = a->rc.normalize;
    t->train = a->rc.train;
    t->optimizer = a->rc.optimizer;
    t->seed = (uint64_t)a->rc.seed;
    t->reproducible_noise = a->rc.reproducible_noise;
    t->fault = strcmp(config_get_string(a->cfg, "inject_fault"), "no-noise") == 0
                   ? AUDIT_FAULT_NO_NOISE : AUDIT_FAULT_NONE;
    if (t->train.batch_size > tr->count)
        return error_set(err, "training.batch_size: %zu, expected at most the %zu training "
                         "examples", t->train.batch_size, tr->count);
    return 0;
}

static long positive(const config *cfg, const char *key, long low, long high, dpkit_error *err,
                     int *bad)
{
    long v = config_get_int(cfg, key);
    if (v < low || v > high) {
        error_set(err, "%s: %ld, expected %ld..%ld", key, v, low, high);
        *bad = 1;
    }
    return v;
}

/* The common head of report.json and of the table. */
typedef struct verdict {
    double epsilon, epsilon_lb, delta, confidence;
    int violated;
} verdict;

static void report_head(json_writer *w, const audit_run *a, const verdict *v, double sigma,
                        long long steps, double accuracy, double seconds)
{
    json_field_string(w, "name", a->name);
    json_field_string(w, "kind", a->kind);
    json_field_string(w, "training_config", config_get_string(a->cfg, "training.config"));
    json_field_string(w, "dataset", a->rc.dataset);
    json_field_bool(w, "private", a->rc.train.private_mode);
    json_field_string(w, "inject_fault", config_get_string(a->cfg, "inject_fault"));
    json_field_bool(w, "reproducible_noise", a->rc.reproducible_noise);
    json_field_string(w, "noise_key", rng_noise_key_description(a->rc.reproducible_noise));
    json_field_double(w, "epsilon", v->epsilon);
    json_field_double(w, "delta", v->delta);
    json_field_double(w, "epsilon_lb", v->epsilon_lb);
    json_field_double(w, "confidence", a->confidence);
    json_field_double(w, "epsilon_lb_over_epsilon", isfinite(v->epsilon) && v->epsilon > 0
                                                        ? v->epsilon_lb / v->epsilon : NAN);
    json_field_bool(w, "dp_violation", v->violated);
    json_field_double(w, "noise_multiplier", sigma);
    json_field_int(w, "steps", steps);
    json_field_double(w, "test_accuracy", accuracy);
    json_field_double(w, "train_seconds", seconds);
}

static void print_head(const audit_run *a, const verdict *v, double sigma, long long steps,
                       double accuracy)
{
    printf("%-28s %s\n", "training", config_get_string(a->cfg, "training.config"));
    printf("%-28s %s\n", "noise key", rng_noise_key_description(a->rc.reproducible_noise));
    if (a->rc.train.private_mode)
        printf("%-28s %.4g (delta %g, sigma %.4g, %lld steps)\n", "accountant epsilon",
               v->epsilon, v->delta, sigma, steps);
    else
        printf("%-28s inf (non-private, %lld steps)\n", "accountant epsilon", steps);
    printf("%-28s %.4g (%g%% confidence)\n", "epsilon lower bound", v->epsilon_lb,
           100 * a->confidence);
    if (isfinite(v->epsilon) && v->epsilon > 0)
        printf("%-28s %.3f\n", "eps_lb / epsilon", v->epsilon_lb / v->epsilon);
    printf("%-28s %.4f\n", "test accuracy", accuracy);
}

static void attack_json(json_writer *w, const char *key, const audit_attack_metrics *m)
{
    json_key(w, key);
    json_begin_object(w);
    json_field_double(w, "auc", m->auc);
    json_field_double(w, "tpr_at_fpr_0_1pct", m->tpr_at_fpr_0_1);
    json_field_double(w, "tpr_at_fpr_1pct", m->tpr_at_fpr_1);
    json_field_double(w, "balanced_accuracy", m->balanced_accuracy);
    json_end_object(w);
}

static int write_report(const audit_run *a, json_writer *w, dpkit_error *err)
{
    json_end_object(w);
    int status = json_writer_finish(w, err);
    char path[2200];
    snprintf(path, sizeof path, "%s/report.json", a->dir);
    const char *text = json_writer_string(w);
    if (!status)
        status = textfile_write_atomic(path, text, strlen(text), err);
    json_writer_free(w);
    if (!status)
        printf("%-28s %s\n", "report", path);
    return status;
}

/* A feature split as the engine's training data. */
static dp_data split_data(const features_set *set)
{
    return (dp_data){.x = set->values, .y = set->labels, .count = set->count};
}

static int run_membership(audit_run *a, verdict *v, dpkit_error *err)
{
    int bad = 0;
    audit_membership_options o = {
        .shadows = (size_t)positive(a->cfg, "membership.shadows", 2, 4096, err, &bad),
        .global_variance = config_get_bool(a->cfg, "membership.global_variance"),
        .confidence = a->confidence};
    if (bad)
        return -1;
    dp_data train = split_data(&a->rf.train), test = split_data(&a->rf.test);
    audit_membership_result r;
    if (audit_membership(&a->trainer, &train, &test, &o, &r, err))
        return -1;
    v->epsilon = r.epsilon;
    v->delta = a->rc.train.private_mode ? a->rc.train.delta : 0;
    v->epsilon_lb = r.epsilon_lb;
    v->violated = v->epsilon_lb > v->epsilon;
    json_writer w;
    int status = json_writer_init_string(&w, 2) ? error_set(err, "report: out of memory") : 0;
    char png[2200];
    snprintf(png, sizeof png, "%s/roc.png", a->dir);
    if (status == 0) {
        json_begin_object(&w);
        report_head(&w, a, v, r.noise_multiplier, r.steps, r.test_accuracy, r.train_seconds);
        json_field_int(&w, "shadows", (long long)o.shadows);
        json_field_bool(&w, "global_variance", o.global_variance);
        json_field_int(&w, "examples", (long long)r.examples);
        json_field_int(&w, "members", (long long)r.members);
        json_field_string(&w, "epsilon_lb_attack", "LiRA online, one-run bound over all examples");
        json_field_int(&w, "epsilon_lb_guesses", (long long)r.bound.guesses);
        json_field_int(&w, "epsilon_lb_correct", (long long)r.bound.correct);
        attack_json(&w, "loss", &r.loss);
        attack_json(&w, "lira_offline", &r.offline);
        attack_json(&w, "lira_online", &r.online);
        json_field_string(&w, "roc_plot", png);
        printf("audit membership: %s (%zu shadow models, %zu examples, %zu members)\n", a->name,
               o.shadows, r.examples, r.members);
        print_head(a, v, r.noise_multiplier, r.steps, r.test_accuracy);
        printf("\n%-14s %8s %10s %10s\n", "attack", "AUC", "TPR@0.1%", "TPR@1%");
        const char *names[] = {"loss", "LiRA offline", "LiRA online"};
        const audit_attack_metrics *m[] = {&r.loss, &r.offline, &r.online};
        for (int i = 0; i < 3; i++)
            printf("%-14s %8.4f %10.4f %10.4f\n", names[i], m[i]->auc, m[i]->tpr_at_fpr_0_1,
                   m[i]->tpr_at_fpr_1);
        printf("%-28s %.1f s\n", "training time", r.train_seconds);
        audit_roc curves[] = {r.loss.roc, r.offline.roc, r.online.roc};
        status = audit_plot_roc(png, curves, names, 3, a->name, err);
        if (status == 0)
            printf("%-28s %s\n", "ROC plot", png);
        status = status ? (json_writer_free(&w), -1) : write_report(a, &w, err);
    }
    audit_membership_result_free(&r);
    return status;
}

static int run_canaries(audit_run *a, int multi, verdict *v, dpkit_error *err)
{
    int bad = 0;
    audit_canary_options o = {
        .canary = strcmp(config_get_string(a->cfg, "canary.kind"), "input") == 0
                      ? AUDIT_CANARY_INPUT : AUDIT_CANARY_GRADIENT,
        .placement = strcmp(config_get_string(a->cfg, "canary.placement"), "random") == 0
                         ? AUDIT_CANARY_RANDOM : AUDIT_CANARY_PILOT,
        .canaries = (size_t)positive(a->cfg, "canary.count", 2, 1 << 24, err, &bad),
        .runs = (size_t)positive(a->cfg, "runs", 2, 100000, err, &bad),
        .confidence = a->confidence};
    if (bad)
        return -1;
    dp_data train = split_data(&a->rf.train), test = split_data(&a->rf.test);
    audit_canary_result r;
    if ((multi ? audit_multi_run : audit_one_run)(&a->trainer, &train, &test, &o, &r, err))
        return -1;
    v->epsilon = r.epsilon;
    v->delta = r.delta;
    v->epsilon_lb = r.epsilon_lb;
    v->violated = v->epsilon_lb > v->epsilon;
    const char *kind = o.canary == AUDIT_CANARY_INPUT ? "input" : "gradient";
    json_writer w;
    if (json_writer_init_string(&w, 2))
        return error_set(err, "report: out of memory");
    json_begin_object(&w);
    report_head(&w, a, v, r.noise_multiplier, r.steps, r.test_accuracy, r.train_seconds);
    json_field_string(&w, "canary", kind);
    if (o.canary == AUDIT_CANARY_GRADIENT)
        json_field_string(&w, "canary_placement",
                          o.placement == AUDIT_CANARY_RANDOM ? "random" : "pilot");
    json_field_double(&w, "canary_auc", r.auc);
    if (multi) {
        json_field_int(&w, "runs", (long long)o.runs);
        json_field_double(&w, "threshold", r.threshold);
        json_field_int(&w, "evaluated_with", (long long)r.evaluated_with);
        json_field_int(&w, "false_negatives", (long long)r.false_negatives);
        json_field_int(&w, "evaluated_without", (long long)r.evaluated_without);
        json_field_int(&w, "false_positives", (long long)r.false_positives);
        printf("audit multi-run: %s (%s canary, %zu runs with and %zu without)\n", a->name, kind,
               o.runs, o.runs);
    } else {
        json_field_int(&w, "canaries", (long long)o.canaries);
        json_field_int(&w, "included", (long long)r.included);
        json_field_int(&w, "guesses", (long long)r.bound.guesses);
        json_field_int(&w, "correct", (long long)r.bound.correct);
        json_field_double(&w, "epsilon_lb_grid_uncorrected", r.bound.grid_epsilon);
        printf("audit one-run: %s (%s canaries, m = %zu, %zu included)\n", a->name, kind,
               o.canaries, r.included);
    }
    print_head(a, v, r.noise_multiplier, r.steps, r.test_accuracy);
    if (multi)
        printf("%-28s FPR %llu/%llu, FNR %llu/%llu (threshold from the other half)\n",
               "held-out counts", (unsigned long long)r.false_positives,
               (unsigned long long)r.evaluated_without, (unsigned long long)r.false_negatives,
               (unsigned long long)r.evaluated_with);
    else
        printf("%-28s %llu of %llu correct (grid maximum, uncorrected: %.4g)\n", "guesses",
               (unsigned long long)r.bound.correct, (unsigned long long)r.bound.guesses,
               r.bound.grid_epsilon);
    printf("%-28s %.4f\n", "canary score AUC", r.auc);
    printf("%-28s %.1f s\n", "training time", r.train_seconds);
    return write_report(a, &w, err);
}

/* 1 when the config (or a --set kind=... override) says kind: canaries, which has a schema
 * of its own (cli/audit_canaries.c). An unreadable file is left to the normal path to report. */
static int is_canary_audit(const audit_job *job)
{
    for (size_t i = job->config.set_count; i-- > 0;) /* the last override wins */
        if (strncmp(job->config.sets[i], "kind=", 5) == 0)
            return strcmp(job->config.sets[i] + 5, "canaries") == 0;
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
    audit_job job;
    int parsed = parse_args(argc, argv, &job);
    if (parsed)
        return parsed == 1 ? 0 : parsed;
    if (is_canary_audit(&job))
        return cli_audit_canaries(argc, argv);
    audit_run a;
    memset(&a, 0, sizeof a);
    dpkit_error err;
    verdict v = {0};
    int status = setup(&a, &job, &err);
    v.confidence = a.confidence;
    if (status == 0) {
        if (strcmp(a.kind, "membership") == 0)
            status = run_membership(&a, &v, &err);
        else
            status = run_canaries(&a, strcmp(a.kind, "multi-run") == 0, &v, &err);
    }
    audit_run_free(&a);
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
