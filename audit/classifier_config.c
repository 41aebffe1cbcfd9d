/* The classifier audits' config (kind membership, one-run or multi-run): its schema, bounds
 * included and the privacy and output keys from the shared fragments of dp/run_config.c, and
 * the job read from it: the audited training config and the audit's settings (docs/audit.md). */
#include "audit/audit.h"
#include "common/config.h"

#include <stdio.h>
#include <string.h>

const config_field audit_classifier_schema[] = {
    {"name", CONFIG_STRING, "audit", "name of the audit (default output directory runs/audits/<name>)", NULL, NULL},
    {"kind", CONFIG_ENUM, NULL, "what to run", "membership|one-run|multi-run", NULL},
    {"training.config", CONFIG_STRING, NULL, "base training config (as for dpkit train)", NULL, NULL},
    {"training.set", CONFIG_STRING, "", "overrides of the training config: key=value separated by spaces", NULL, NULL},
    {"privacy.epsilon|privacy.enabled|privacy.reproducible_noise", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_privacy},
    {"privacy.epsilon", CONFIG_DEFAULT, "0", "target epsilon of the audited training (sigma calibrated); 0: the training config's", NULL, NULL},
    {"privacy.enabled", CONFIG_DEFAULT, "true", "false: audit the non-private baseline", NULL, NULL},
    {"privacy.reproducible_noise", CONFIG_DEFAULT, "false", "true: the audited trainings key their noise and batches from the seed (the audit repeats exactly; sets it in the training config); false: as the training config says (default: secret OS keys, as in a release)", NULL, NULL},
    {"confidence", CONFIG_DOUBLE, "0.95", "confidence of the lower bound (0 < confidence < 1)", "0..1", NULL},
    {"membership.shadows", CONFIG_INT, "16", "membership: shadow models (each on a random half)", "2..4096", NULL},
    {"membership.global_variance", CONFIG_BOOL, "false", "membership: one LiRA std for all examples", NULL, NULL},
    {"canary.kind", CONFIG_ENUM, "gradient", "one-run, multi-run: white-box gradient canaries on model parameters, black-box input canaries, white-box dirac canaries on coordinates of their own observed at every step (multi-run: canary.count of them in each of the runs), or (multi-run, linear model) a black-box crafted target trained from worst-case initial parameters, scored on the last iterate (docs/maths.md 6f)", "gradient|input|dirac|crafted", NULL},
    {"canary.examples", CONFIG_INT, "0", "crafted target: training examples kept, the first ones of the training set (0: all)", "0..100000000", NULL},
    {"canary.fill", CONFIG_ENUM, "data", "crafted target: train on the first canary.examples training examples (data), or on as many copies of the target labelled 1, the rows a fixed-size batch displaces (mirror, docs/maths.md 6g)", "data|mirror", NULL},
    {"canary.placement", CONFIG_ENUM, "pilot", "gradient canaries: on the parameters that moved least in a pilot training without noise (one more training), or random", "pilot|random", NULL},
    {"canary.count", CONFIG_INT, "1000", "one-run: canaries m (each included with probability 1/2)", "2..16777216", NULL},
    {"canary.bound", CONFIG_ENUM, "steinke", "one-run with dirac canaries: eps_lb from Steinke et al.'s bound on the guesses (best of five guess counts), or from the f-DP bound against mu-GDP (docs/maths.md 6e; guess count chosen against the claimed mu)", "steinke|fdp", NULL},
    {"runs", CONFIG_INT, "32", "multi-run: trainings with the canary and as many without (at least 2); with dirac canaries, trainings (each with canary.count canaries)", "1..100000", NULL},
    {"inject_fault", CONFIG_ENUM, "none", "a deliberately broken training to check the audit itself, the accountant still told the calibrated sigma and Poisson sampling: no-noise, half-noise (sigma/2), noise-without-c (std sigma, not sigma C), no-clipping, shuffled-batches (fixed-size batches of a shuffle per epoch)", "none|no-noise|half-noise|noise-without-c|no-clipping|shuffled-batches", NULL},
    {"*", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_output},
    {"output.dir", CONFIG_DEFAULT, "", "audit directory (default runs/audits/<name>)", NULL, NULL},
    {0}};

const char *audit_canary_kind_name(audit_canary_kind kind)
{
    static const char *const names[] = {"gradient", "input", "dirac", "crafted"};
    return kind <= AUDIT_CANARY_CRAFTED ? names[kind] : "?";
}

static int read_settings(audit_classifier_job *job, dpkit_error *err)
{
    const config *c = job->cfg;
    const char *kind = config_get_string(c, "kind");
    double confidence = config_get_double(c, "confidence");
    if (!(confidence > 0 && confidence < 1))
        return error_set(err, "confidence: %g, expected 0 < confidence < 1", confidence);
    job->settings = (audit_classifier_settings){
        .kind = strcmp(kind, "membership") == 0  ? AUDIT_MEMBERSHIP
                : strcmp(kind, "multi-run") == 0 ? AUDIT_MULTI_RUN : AUDIT_ONE_RUN,
        .training = &job->training,
        .fault = AUDIT_FAULT_NONE,
        .membership = {.shadows = (size_t)config_get_int(c, "membership.shadows"),
                       .global_variance = config_get_bool(c, "membership.global_variance"),
                       .confidence = confidence},
        .canary = {.canary = AUDIT_CANARY_GRADIENT,
                   .placement = strcmp(config_get_string(c, "canary.placement"), "random") == 0
                                    ? AUDIT_CANARY_RANDOM : AUDIT_CANARY_PILOT,
                   .canaries = (size_t)config_get_int(c, "canary.count"),
                   .runs = (size_t)config_get_int(c, "runs"),
                   .confidence = confidence,
                   .fdp_bound = strcmp(config_get_string(c, "canary.bound"), "fdp") == 0,
                   .examples = (size_t)config_get_int(c, "canary.examples"),
                   .mirror = strcmp(config_get_string(c, "canary.fill"), "mirror") == 0}};
    const char *canary = config_get_string(c, "canary.kind");
    for (int k = AUDIT_CANARY_GRADIENT; k <= AUDIT_CANARY_CRAFTED; k++)
        if (strcmp(canary, audit_canary_kind_name((audit_canary_kind)k)) == 0)
            job->settings.canary.canary = (audit_canary_kind)k;
    const audit_canary_options *o = &job->settings.canary;
    if (o->fdp_bound && (o->canary != AUDIT_CANARY_DIRAC || job->settings.kind != AUDIT_ONE_RUN))
        return error_set(err, "canary.bound: fdp is the one-run audit's bound with Dirac "
                         "canaries; expected kind: one-run and canary.kind: dirac (got %s, %s)",
                         config_get_string(c, "kind"), canary);
    if (o->mirror && (o->canary != AUDIT_CANARY_CRAFTED || o->examples == 0))
        return error_set(err, "canary.fill: mirror needs canary.kind: crafted and canary.examples "
                         "> 0 (got %s, %zu)", canary, o->examples);
    if (audit_fault_parse(config_get_string(c, "inject_fault"), &job->settings.fault))
        return error_set(err, "inject_fault: %s, expected none, no-noise, half-noise, "
                         "noise-without-c, no-clipping or shuffled-batches",
                         config_get_string(c, "inject_fault"));
    return 0;
}

int audit_classifier_job_load(const char *path, const char *const *sets, size_t set_count,
                              const char *output_dir, audit_classifier_job *job,
                              dpkit_error *err)
{
    memset(job, 0, sizeof *job);
    if (config_load_with_overrides(path, audit_classifier_schema, sets, set_count, &job->cfg,
                                   err))
        return run_config_explain_kind(path, RUN_CONFIG_KIND_AUDIT, err);
    const config *c = job->cfg;
    const char *name = config_get_string(c, "name");
    const char *dir = output_dir ? output_dir : config_get_string(c, "output.dir");
    int n = dir[0] ? snprintf(job->dir, sizeof job->dir, "%s", dir)
                   : snprintf(job->dir, sizeof job->dir, "runs/audits/%s", name);
    if (n < 0 || (size_t)n >= sizeof job->dir)
        return error_set(err, "%s: output.dir: longer than %zu characters", path,
                         sizeof job->dir - 1);
    if (read_settings(job, err))
        return error_prefix(err, "%s", path);
    audit_training_overrides o = {config_get_string(c, "training.set"),
                                  config_get_double(c, "privacy.epsilon"),
                                  !config_get_bool(c, "privacy.enabled"),
                                  config_get_bool(c, "privacy.reproducible_noise")};
    if (audit_training_load(config_get_string(c, "training.config"), &o, &job->training, err))
        return error_prefix(err, "%s", path);
    job->info = (audit_report_info){name, config_get_string(c, "kind"),
                                    config_get_string(c, "training.config"),
                                    job->training.dataset, config_get_string(c, "inject_fault"),
                                    job->training.train.private_mode,
                                    job->training.reproducible_noise};
    return 0;
}

void audit_classifier_job_free(audit_classifier_job *job)
{
    run_config_free(&job->training);
    config_free(job->cfg);
    memset(job, 0, sizeof *job);
}
