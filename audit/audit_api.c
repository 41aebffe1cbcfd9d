/* Audit statistics in the public interface (dpkit.h): thin wrappers over audit/audit.h for
 * bindings (Python's dpkit.audit) that bring their own scores, ranks and counts. */
#include "audit/audit.h"

#include <stdint.h>

DPKIT_API int dpkit_exposure_interpolation(const double *perplexities, size_t count,
                                           const double *reference, size_t reference_count,
                                           double *exposure, dpkit_error *err)
{
    return audit_exposure_interpolation(perplexities, count, reference, reference_count,
                                        exposure, err);
}

DPKIT_API int dpkit_exposure_extrapolation(const double *perplexities, size_t count,
                                           const double *reference, size_t reference_count,
                                           double *exposure, double *fit, dpkit_error *err)
{
    audit_skewnorm f;
    if (audit_exposure_extrapolation(perplexities, count, reference, reference_count, exposure,
                                     &f, err))
        return -1;
    if (fit) {
        fit[0] = f.shape;
        fit[1] = f.loc;
        fit[2] = f.scale;
    }
    return 0;
}

DPKIT_API int dpkit_clopper_pearson(unsigned long long successes, unsigned long long trials,
                                    double alpha, double *lower, double *upper, dpkit_error *err)
{
    return audit_clopper_pearson(successes, trials, alpha, lower, upper, err);
}

DPKIT_API int dpkit_epsilon_lower_bound(unsigned long long false_positives,
                                        unsigned long long runs_without,
                                        unsigned long long false_negatives,
                                        unsigned long long runs_with, double delta,
                                        unsigned group_size, double alpha, double *epsilon,
                                        dpkit_error *err)
{
    return audit_epsilon_from_counts(false_positives, runs_without, false_negatives, runs_with,
                                     delta, group_size, alpha, epsilon, err);
}

DPKIT_API int dpkit_epsilon_lower_bound_scores(const double *scores_with, size_t runs_with,
                                               const double *scores_without,
                                               size_t runs_without, double delta,
                                               unsigned group_size, double alpha,
                                               double *epsilon, double *threshold,
                                               dpkit_error *err)
{
    return audit_epsilon_from_scores(scores_with, runs_with, scores_without, runs_without, delta,
                                     group_size, alpha, epsilon, threshold, err);
}

DPKIT_API int dpkit_one_run_epsilon(unsigned long long m, unsigned long long guesses,
                                    unsigned long long correct, double delta, double p,
                                    double *epsilon, dpkit_error *err)
{
    return audit_one_run_epsilon(m, guesses, correct, delta, p, epsilon, err);
}

DPKIT_API int dpkit_one_run_bound(const double *scores, const unsigned char *included, size_t m,
                                  double delta, double p, double *epsilon,
                                  unsigned long long *guesses, unsigned long long *correct,
                                  double *grid_epsilon, dpkit_error *err)
{
    audit_one_run_bound b;
    if (audit_one_run_bound_compute(scores, included, m, delta, p, &b, err))
        return -1;
    *epsilon = b.epsilon;
    if (guesses)
        *guesses = b.guesses;
    if (correct)
        *correct = b.correct;
    if (grid_epsilon)
        *grid_epsilon = b.grid_epsilon;
    return 0;
}

DPKIT_API int dpkit_lira_logit_confidence(const float *logits, size_t n, size_t classes,
                                          const int *labels, double *phi, dpkit_error *err)
{
    return audit_lira_logit_confidence(logits, n, classes, (const int32_t *)labels, phi, err);
}

DPKIT_API int dpkit_lira(const double *shadow_scores, const unsigned char *keep, size_t models,
                         size_t examples, size_t queries, int global_variance,
                         const double *target_scores, double *online, double *offline,
                         dpkit_error *err)
{
    audit_lira_gaussians fit;
    if (audit_lira_fit(shadow_scores, keep, models, examples, queries, global_variance, &fit,
                       err))
        return -1;
    int status = 0;
    if (online)
        status = audit_lira_online(&fit, target_scores, online, err);
    if (!status && offline)
        status = audit_lira_offline(&fit, target_scores, AUDIT_LIRA_ONE_SIDED, offline, err);
    audit_lira_gaussians_free(&fit);
    return status ? -1 : 0;
}

DPKIT_API int dpkit_roc(const double *scores, const unsigned char *labels, size_t n, double *auc,
                        double *tpr_at_fpr_0_1, double *tpr_at_fpr_1, dpkit_error *err)
{
    audit_roc roc;
    if (audit_roc_compute(scores, labels, n, &roc, err))
        return -1;
    *auc = roc.auc;
    if (tpr_at_fpr_0_1)
        *tpr_at_fpr_0_1 = audit_roc_tpr_at_fpr(&roc, 0.001);
    if (tpr_at_fpr_1)
        *tpr_at_fpr_1 = audit_roc_tpr_at_fpr(&roc, 0.01);
    audit_roc_free(&roc);
    return 0;
}

DPKIT_API int dpkit_gdp_epsilon(double mu, double delta, double *epsilon, dpkit_error *err)
{
    return audit_gdp_epsilon(mu, delta, epsilon, err);
}

DPKIT_API int dpkit_gdp_mu(double epsilon, double delta, double *mu, dpkit_error *err)
{
    return audit_gdp_mu(epsilon, delta, mu, err);
}

DPKIT_API int dpkit_gdp_estimate(const double *with, size_t n_with, const double *without,
                                 size_t n_without, double delta, double confidence,
                                 double *mu_out, double *epsilon_out, dpkit_error *err)
{
    audit_gdp_estimate_result e;
    if (audit_gdp_estimate(with, n_with, without, n_without, delta, confidence, &e, err))
        return -1;
    mu_out[0] = e.mu, mu_out[1] = e.mu_lower, mu_out[2] = e.mu_upper;
    epsilon_out[0] = e.epsilon, epsilon_out[1] = e.epsilon_lower, epsilon_out[2] = e.epsilon_upper;
    return 0;
}

DPKIT_API int dpkit_one_run_ideal(size_t m, double mu, double delta, double p, double *epsilon,
                                  dpkit_error *err)
{
    audit_one_run_bound b;
    if (audit_one_run_ideal_gaussian(m, mu, delta, p, &b, err))
        return -1;
    *epsilon = b.epsilon;
    return 0;
}

DPKIT_API int dpkit_one_run_fdp_bound(const double *scores, const unsigned char *included,
                                      size_t m, double mu_claimed, double delta, double p,
                                      double *epsilon, double *ideal_epsilon,
                                      unsigned long long *guesses, unsigned long long *correct,
                                      dpkit_error *err)
{
    size_t k;
    audit_one_run_fdp_bound b, ideal;
    if (audit_one_run_fdp_best_count(m, mu_claimed, delta, p, &k, err) ||
        audit_one_run_fdp_bound_compute(scores, included, m, &k, 1, delta, p, &b, err) ||
        audit_one_run_fdp_ideal(m, &k, 1, mu_claimed, delta, p, &ideal, err))
        return -1;
    *epsilon = b.epsilon;
    if (ideal_epsilon)
        *ideal_epsilon = ideal.epsilon;
    if (guesses)
        *guesses = b.guesses;
    if (correct)
        *correct = b.correct;
    return 0;
}
