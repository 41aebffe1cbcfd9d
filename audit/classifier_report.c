/* report.json of the classifier audits (membership, one-run, multi-run): the common head (the
 * audited training, the accountant's epsilon beside the lower bound) and each kind's counts. */
#include "audit/audit_internal.h"

#include "common/json.h"

#include <math.h>

audit_verdict audit_verdict_of(double epsilon, double delta, double epsilon_lb, double confidence)
{
    return (audit_verdict){.epsilon = epsilon, .delta = delta, .epsilon_lb = epsilon_lb,
                           .confidence = confidence, .violated = epsilon_lb > epsilon};
}

static void report_head(json_writer *w, const audit_report_info *info, const audit_verdict *v,
                        double sigma, long long steps, double accuracy, double seconds)
{
    json_field_string(w, "name", info->name);
    json_field_string(w, "kind", info->kind);
    json_field_string(w, "training_config", info->training_config);
    json_field_string(w, "dataset", info->dataset);
    json_field_bool(w, "private", info->private_mode);
    json_field_string(w, "inject_fault", info->inject_fault);
    json_field_bool(w, "reproducible_noise", info->reproducible_noise);
    json_field_string(w, "noise_key", rng_noise_key_description(info->reproducible_noise));
    json_field_double(w, "epsilon", v->epsilon);
    json_field_double(w, "delta", v->delta);
    json_field_double(w, "epsilon_lb", v->epsilon_lb);
    json_field_double(w, "confidence", v->confidence);
    json_field_double(w, "epsilon_lb_over_epsilon", isfinite(v->epsilon) && v->epsilon > 0
                                                        ? v->epsilon_lb / v->epsilon : NAN);
    json_field_bool(w, "dp_violation", v->violated);
    json_field_double(w, "noise_multiplier", sigma);
    json_field_int(w, "steps", steps);
    json_field_double(w, "test_accuracy", accuracy);
    json_field_double(w, "train_seconds", seconds);
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

int audit_membership_write_report(const char *path, const audit_report_info *info,
                                  const audit_verdict *v, const audit_membership_options *o,
                                  const audit_membership_result *r, const char *figure,
                                  const char *signals, dpkit_error *err)
{
    json_writer w;
    if (json_document_begin(&w, "report", err))
        return -1;
    report_head(&w, info, v, r->noise_multiplier, r->steps, r->test_accuracy, r->train_seconds);
    json_field_int(&w, "shadows", (long long)o->shadows);
    json_field_bool(&w, "global_variance", o->global_variance);
    json_field_int(&w, "examples", (long long)r->examples);
    json_field_int(&w, "members", (long long)r->members);
    json_field_string(&w, "epsilon_lb_attack", "LiRA online, one-run bound over all examples");
    json_field_int(&w, "epsilon_lb_guesses", (long long)r->bound.guesses);
    json_field_int(&w, "epsilon_lb_correct", (long long)r->bound.correct);
    attack_json(&w, "loss", &r->loss);
    attack_json(&w, "lira_offline", &r->offline);
    attack_json(&w, "lira_online", &r->online);
    json_field_string(&w, "roc_plot", figure);
    json_field_string(&w, "signals", signals);
    return json_document_write(&w, path, err);
}

/* The threshold and the held-out counts behind a Clopper-Pearson bound. */
static void counts_json(json_writer *w, const audit_canary_result *r)
{
    json_field_double(w, "threshold", r->threshold);
    json_field_int(w, "evaluated_with", (long long)r->evaluated_with);
    json_field_int(w, "false_negatives", (long long)r->false_negatives);
    json_field_int(w, "evaluated_without", (long long)r->evaluated_without);
    json_field_int(w, "false_positives", (long long)r->false_positives);
}

/* The Dirac audits' statistics: the mu-GDP estimate from the summed observations with its
 * interval, the mu of the accountant's epsilon, and each kind's second bound. */
static void dirac_json(json_writer *w, const audit_canary_options *o, int multi,
                       const audit_canary_result *r)
{
    const audit_gdp_estimate_result *g = &r->gdp;
    json_field_double(w, "sampling_rate", r->sampling_rate);
    json_key(w, "gdp");
    json_begin_object(w);
    json_field_double(w, "mu", g->mu);
    json_field_double(w, "mu_lower", g->mu_lower);
    json_field_double(w, "mu_upper", g->mu_upper);
    json_field_double(w, "confidence", multi ? 1 - (1 - o->confidence) / 2 : o->confidence);
    json_field_double(w, "epsilon", g->epsilon);
    json_field_double(w, "epsilon_lower", g->epsilon_lower);
    json_field_double(w, "epsilon_upper", g->epsilon_upper);
    json_field_double(w, "mean_with", g->mean_with);
    json_field_double(w, "mean_without", g->mean_without);
    json_field_double(w, "sd_with", g->sd_with);
    json_field_double(w, "sd_without", g->sd_without);
    json_field_double(w, "mu_claimed", r->mu_claimed);
    json_end_object(w);
    if (multi) {
        json_field_double(w, "epsilon_lb_counts", r->epsilon_lb_counts);
        counts_json(w, r);
    } else {
        /* the ideal attacker's bound of the bound that gives eps_lb */
        double ideal = o->fdp_bound ? r->fdp_ideal.epsilon : r->ideal.epsilon;
        json_field_string(w, "bound", o->fdp_bound ? "fdp" : "steinke");
        json_field_double(w, "epsilon_lb_ideal", ideal);
        json_field_double(w, "epsilon_lb_over_ideal", ideal > 0 ? r->epsilon_lb / ideal : NAN);
        json_field_int(w, "ideal_guesses", (long long)r->ideal.guesses);
        json_field_int(w, "ideal_correct", (long long)r->ideal.correct);
        json_key(w, "fdp");
        json_begin_object(w);
        json_field_double(w, "mu_lb", r->fdp.mu);
        json_field_double(w, "epsilon_lb", r->fdp.epsilon);
        json_field_int(w, "guesses", (long long)r->fdp.guesses);
        json_field_int(w, "correct", (long long)r->fdp.correct);
        json_field_double(w, "ideal_mu_lb", r->fdp_ideal.mu);
        json_field_double(w, "ideal_epsilon_lb", r->fdp_ideal.epsilon);
        json_field_int(w, "ideal_correct", (long long)r->fdp_ideal.correct);
        json_end_object(w);
    }
}

int audit_canary_write_report(const char *path, const audit_report_info *info,
                              const audit_verdict *v, const audit_canary_options *o, int multi,
                              const audit_canary_result *r, const char *figure,
                              const char *signals, dpkit_error *err)
{
    json_writer w;
    if (json_document_begin(&w, "report", err))
        return -1;
    report_head(&w, info, v, r->noise_multiplier, r->steps, r->test_accuracy, r->train_seconds);
    json_field_string(&w, "canary", audit_canary_kind_name(o->canary));
    if (o->canary == AUDIT_CANARY_CRAFTED)
        json_field_string(&w, "canary_fill", o->mirror ? "mirror" : "data");
    /* a crafted target's runs give the same mu-GDP estimate and counts as Dirac canaries */
    if (o->canary == AUDIT_CANARY_DIRAC || (multi && o->canary == AUDIT_CANARY_CRAFTED))
        dirac_json(&w, o, multi, r);
    if (o->canary == AUDIT_CANARY_GRADIENT)
        json_field_string(&w, "canary_placement",
                          o->placement == AUDIT_CANARY_RANDOM ? "random" : "pilot");
    json_field_double(&w, "canary_auc", r->auc);
    if (multi && o->canary == AUDIT_CANARY_DIRAC) {
        json_field_int(&w, "runs", (long long)o->runs);
        json_field_int(&w, "canaries", (long long)o->canaries);
    } else if (multi) {
        json_field_int(&w, "runs", (long long)o->runs);
        if (o->canary != AUDIT_CANARY_CRAFTED)
            counts_json(&w, r);
    } else {
        json_field_int(&w, "canaries", (long long)o->canaries);
        json_field_int(&w, "included", (long long)r->included);
        json_field_int(&w, "guesses", (long long)r->bound.guesses);
        json_field_int(&w, "correct", (long long)r->bound.correct);
        json_field_double(&w, "epsilon_lb_grid_uncorrected", r->bound.grid_epsilon);
    }
    json_field_string(&w, "scores_plot", figure);
    json_field_string(&w, "signals", signals);
    return json_document_write(&w, path, err);
}
