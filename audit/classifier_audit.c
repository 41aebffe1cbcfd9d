/* A classifier audit as one call: the audited training config (the base config with the audit's
 * overrides), its features and trainer, then membership inference or the one-run / multi-run
 * canary audit, and the verdict (the lower bound against the accountant's epsilon). */
#include "audit/audit_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRAINING_SETS 64

int audit_training_load(const char *path, const audit_training_overrides *o, run_config *out,
                        dpkit_error *err)
{
    const char *sets[MAX_TRAINING_SETS + 4];
    size_t n = 0;
    char *text = strdup(o->sets ? o->sets : "");
    if (!text)
        return error_set(err, "out of memory");
    int status = 0;
    char *save = NULL;
    for (char *tok = strtok_r(text, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (n == MAX_TRAINING_SETS) {
            status = error_set(err, "training.set: more than %d overrides", MAX_TRAINING_SETS);
            break;
        }
        sets[n++] = tok;
    }
    char epsilon[64];
    if (!status && !(o->epsilon >= 0 && o->epsilon <= 1e6))
        status = error_set(err, "privacy.epsilon: %g, expected 0..1e6", o->epsilon);
    if (!status && o->epsilon > 0) {
        snprintf(epsilon, sizeof epsilon, "privacy.epsilon=%.17g", o->epsilon);
        sets[n++] = epsilon;
        sets[n++] = "privacy.noise_multiplier=0"; /* recalibrated to the target */
    }
    if (o->disable_privacy)
        sets[n++] = "privacy.enabled=false";
    if (o->reproducible_noise)
        sets[n++] = "privacy.reproducible_noise=true";
    if (!status && run_config_load(path, sets, n, out, err))
        status = error_prefix(err, "training.config");
    else if (!status && out->mirror_average) {
        status = error_set(err, "training.config: %s: model.mirror_average true, expected false "
                                "(an audit scores the model's own logits)", path);
        run_config_free(out);
    }
    free(text);
    return status;
}

/* A feature split as the engine's training data. */
static dp_data split_data(const features_set *set)
{
    return (dp_data){.x = set->values, .y = set->labels, .count = set->count};
}

void audit_classifier_result_free(audit_classifier_result *r)
{
    audit_membership_result_free(&r->membership);
    audit_canary_result_free(&r->canary);
    memset(r, 0, sizeof *r);
}

static int run_kind(const audit_classifier_settings *s, const run_features *rf,
                    const audit_trainer *trainer, audit_classifier_result *out,
                    dpkit_error *err)
{
    dp_data train = split_data(&rf->train), test = split_data(&rf->test);
    if (s->canary.canary == AUDIT_CANARY_CRAFTED && s->canary.examples > 0 &&
        s->canary.examples < train.count)
        train.count = s->canary.examples; /* the first ones: a public choice */
    const run_config *rc = s->training;
    if (s->kind == AUDIT_MEMBERSHIP) {
        audit_membership_result *r = &out->membership;
        if (audit_membership(trainer, &train, &test, &s->membership, r, err))
            return -1;
        out->verdict = audit_verdict_of(r->epsilon, rc->train.private_mode ? rc->train.delta : 0,
                                        r->epsilon_lb, s->membership.confidence);
        out->noise_multiplier = r->noise_multiplier;
        out->steps = r->steps;
        out->test_accuracy = r->test_accuracy;
        out->train_seconds = r->train_seconds;
        return 0;
    }
    audit_canary_result *r = &out->canary;
    int multi = s->kind == AUDIT_MULTI_RUN;
    if (s->canary.canary == AUDIT_CANARY_DIRAC
            ? audit_dirac(trainer, &train, &test, &s->canary, multi, r, err)
            : (multi ? audit_multi_run : audit_one_run)(trainer, &train, &test, &s->canary, r,
                                                        err))
        return -1;
    out->verdict = audit_verdict_of(r->epsilon, r->delta, r->epsilon_lb, s->canary.confidence);
    out->noise_multiplier = r->noise_multiplier;
    out->steps = r->steps;
    out->test_accuracy = r->test_accuracy;
    out->train_seconds = r->train_seconds;
    return 0;
}

int audit_classifier(const audit_classifier_settings *s, audit_classifier_result *out,
                     dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    run_features rf;
    memset(&rf, 0, sizeof rf);
    audit_trainer trainer;
    int status = run_features_load(s->training, 0, &rf, err);
    if (!status)
        status = audit_trainer_from_run(s->training, &rf, s->fault, &trainer, err);
    if (!status)
        status = run_kind(s, &rf, &trainer, out, err);
    run_features_free(&rf);
    return status;
}
