/* Model-independent statistics of the privacy audits: canary exposure (rank interpolation,
 * skew-normal extrapolation, exact rank by enumerating a secret space through a model callback),
 * Clopper-Pearson and many-run epsilon lower bounds, the one-run bound, LiRA statistics and ROC
 * metrics. Nothing here trains a model. Maths: docs/maths.md sections 5 and 6; docs/audit.md
 * says what each function returns. */
#ifndef DPKIT_AUDIT_AUDIT_STATS_H
#define DPKIT_AUDIT_AUDIT_STATS_H

#include "common/error.h"
#include "common/rng.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------
 * Exposure (docs/maths.md 5). Perplexities are any numbers whose order ranks candidates (lower =
 * more likely), e.g. log-perplexities in bits. Exposure = log2|R| - log2(rank).
 * ------------------------------------------------------------------------------------------ */

/* Rank-based exposure as tensorflow_privacy v0.8.0 computes it: rank(p) = 1 + #{q in reference :
 * q <= p}, exposure = log2(reference_count) - log2(rank). exposure[i] belongs to
 * perplexities[i] (input order; the Python library returns each key's list sorted by ascending
 * perplexity instead). NaN inputs are errors. */
int audit_exposure_interpolation(const double *perplexities, size_t count,
                                 const double *reference, size_t reference_count,
                                 double *exposure, dpkit_error *err);

/* Skew-normal distribution: density (2/scale) phi((x-loc)/scale) Phi(shape (x-loc)/scale). */
typedef struct audit_skewnorm {
    double shape;
    double loc;
    double scale;
} audit_skewnorm;

double audit_skewnorm_log_pdf(const audit_skewnorm *d, double x);
/* CDF by adaptive quadrature of the density (no cancellation in either tail). */
double audit_skewnorm_cdf(const audit_skewnorm *d, double x);
/* -sum_i log pdf(x_i). */
double audit_skewnorm_neg_log_likelihood(const audit_skewnorm *d, const double *x, size_t n);
/* Maximum-likelihood fit (method-of-moments start, GSL BFGS on (shape, loc, log scale)).
 * Needs n >= 3 finite values that are not all equal. */
int audit_skewnorm_fit(const double *x, size_t n, audit_skewnorm *fit, dpkit_error *err);

/* exposure[i] = -log2 F(perplexities[i]) with F the skew-normal fitted to the reference
 * perplexities (input order). *fit (may be NULL) receives the fitted parameters. exposure is
 * +inf where F underflows to 0. */
int audit_exposure_extrapolation(const double *perplexities, size_t count,
                                 const double *reference, size_t reference_count,
                                 double *exposure, audit_skewnorm *fit, dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * Secret spaces: secrets are `length` symbols in 0..alphabet_size-1 filled into a format whose
 * fixed context is known to the model callback.
 * ------------------------------------------------------------------------------------------ */

/* The model: for each of `count` prefixes (row-major count x length symbols; length may be 0,
 * meaning the empty filling), write the natural-log probabilities of the next symbol,
 * log_prob[i * alphabet_size + s] <= 0 (-inf allowed). A row's values must not depend on the
 * other rows of the batch. Returns 0, or -1 with err filled. */
typedef int (*audit_next_log_prob_fn)(void *user, const int32_t *prefixes, size_t count,
                                      size_t length, double *log_prob, dpkit_error *err);

typedef struct audit_secret_space {
    size_t alphabet_size;              /* >= 2 */
    size_t length;                     /* >= 1 symbols per secret */
    audit_next_log_prob_fn next_log_prob;
    void *user;
} audit_secret_space;

/* Work done by a search or enumeration. */
typedef struct audit_search_stats {
    uint64_t nodes_expanded; /* prefixes whose next-symbol distribution the model computed */
    uint64_t model_calls;    /* callback invocations (batches) */
    double seconds;          /* wall clock */
} audit_search_stats;

/* Largest secret space the enumerations accept (|R| = alphabet_size^length). */
#define AUDIT_ENUMERATION_MAX 10000000ULL

/* Log-perplexity in bits, sum_i -log2 Pr(s_i | s_<i), of one secret (one model call per symbol). */
int audit_secret_log_perplexity(const audit_secret_space *space, const int32_t *secret,
                                double *log_perplexity, dpkit_error *err);

/* Log-perplexities (bits) of every member of the space, out[index] with index = the secret read
 * as a base-alphabet_size number (first symbol most significant). Traverses the prefix tree
 * depth first, one model evaluation per internal node (children of a node in one batch).
 * |R| <= AUDIT_ENUMERATION_MAX. stats may be NULL. */
int audit_secret_space_log_perplexities(const audit_secret_space *space, double *out,
                                        audit_search_stats *stats, dpkit_error *err);

/* Exact rank and exposure of each of `secret_count` secrets (row-major secret_count x length):
 * rank = 1 + #{other members r' : Px(r') <= Px(secret)}, exposure = log2|R| - log2(rank), with
 * Px(secret) from audit_secret_log_perplexity. Subtrees whose prefix already costs more than
 * every secret are skipped (costs only grow along a path). |R| <= AUDIT_ENUMERATION_MAX.
 * rank, exposure and stats may be NULL. */
int audit_exposure_exact(const audit_secret_space *space, const int32_t *secrets,
                         size_t secret_count, uint64_t *rank, double *exposure,
                         audit_search_stats *stats, dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * Epsilon lower bounds from many runs (docs/maths.md 6a).
 * ------------------------------------------------------------------------------------------ */

/* Two-sided Clopper-Pearson interval at level alpha (e.g. 0.05 = 95%) for `successes` out of
 * `trials` (trials >= 1): lower = BetaInv(alpha/2; c, T-c+1) (0 if c = 0), upper =
 * BetaInv(1-alpha/2; c+1, T-c) (1 if c = T). */
int audit_clopper_pearson(uint64_t successes, uint64_t trials, double alpha, double *lower,
                          double *upper, dpkit_error *err);

/* Empirical epsilon lower bound of a membership test run `runs_without` times on models trained
 * without the canaries (false_positives of them said "member") and `runs_with` times with
 * group_size canaries inserted (false_negatives said "non-member"). With FPR, FNR the
 * Clopper-Pearson upper bounds at level alpha: the largest eps refuted by
 * FPR + e^{g eps} FNR >= 1 - g e^{(g-1) eps} delta or the same with FPR and FNR swapped
 * (g = group_size >= 1); 0 if nothing is refuted. */
int audit_epsilon_from_counts(uint64_t false_positives, uint64_t runs_without,
                              uint64_t false_negatives, uint64_t runs_with, double delta,
                              unsigned group_size, double alpha, double *epsilon,
                              dpkit_error *err);

/* Tries every distinct score as threshold ("member" = score > threshold) and returns the best
 * bound of audit_epsilon_from_counts, and its threshold (may be NULL). Choosing the threshold
 * on the same runs voids the nominal confidence: choose it on separate runs for a real claim. */
int audit_epsilon_from_scores(const double *scores_with, size_t runs_with,
                              const double *scores_without, size_t runs_without, double delta,
                              unsigned group_size, double alpha, double *epsilon,
                              double *threshold, dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * One-run audit (Steinke, Nasr, Jagielski 2023; docs/maths.md 6b). m canaries, r guesses, v correct.
 * ------------------------------------------------------------------------------------------ */

/* min(1, beta + alpha * 2 m delta): the probability of >= v correct guesses out of r under
 * (eps, delta)-DP. Arguments must satisfy v <= r <= m, eps >= 0, 0 <= delta <= 1 (else NaN). */
double audit_one_run_p_value(uint64_t m, uint64_t r, uint64_t v, double epsilon, double delta);

/* Largest eps with p_value(eps) < p (p = 0.05 for 95% confidence), found as ML Privacy Meter
 * does: step the upper end by 1, then <= 30 bisections stopping at width 1e-5. */
int audit_one_run_epsilon(uint64_t m, uint64_t r, uint64_t v, double delta, double p,
                          double *epsilon, dpkit_error *err);

/* Abstaining guesser: "member" for the member_guesses highest scores, "non-member" for the
 * nonmember_guesses lowest (ties broken by index); *guesses = r and *correct = v against the
 * inclusion bits (0/1). member_guesses + nonmember_guesses <= m. */
int audit_one_run_guesses(const double *scores, const uint8_t *included, size_t m,
                          size_t member_guesses, size_t nonmember_guesses, uint64_t *guesses,
                          uint64_t *correct, dpkit_error *err);

typedef struct audit_one_run_result {
    double epsilon;
    size_t member_guesses;
    size_t nonmember_guesses;
    uint64_t guesses;
    uint64_t correct;
} audit_one_run_result;

/* Best bound over ML Privacy Meter's grid (step s = floor(sqrt(m)); member guesses m - k_pos,
 * non-member guesses k_neg for k_pos in {0, s, ...} < m, k_neg in {0, s, ...} < k_pos). The
 * maximum over the grid is not corrected for multiple testing. */
int audit_one_run_best(const double *scores, const uint8_t *included, size_t m, double delta,
                       double p, audit_one_run_result *best, dpkit_error *err);

/* A sound one-run bound: guess counts r in {m/16, m/8, m/4, m/2, m} (half of them "member" on
 * the top scores, half "non-member" on the bottom), each at p/5 (Bonferroni), the best of them
 * reported; a 1 - p confidence bound for the maximum. `grid_epsilon` is ML Privacy Meter's grid
 * maximum at p (not corrected for the choice, for comparison; NaN above 10000 canaries, where
 * its m/2 grid points cost too much). */
typedef struct audit_one_run_bound {
    double epsilon;
    uint64_t guesses, correct;
    double grid_epsilon;
} audit_one_run_bound;

int audit_one_run_bound_compute(const double *scores, const uint8_t *included, size_t m,
                                double delta, double p, audit_one_run_bound *bound,
                                dpkit_error *err);
/* The guesses behind audit_one_run_guesses: guess[i] = 1 for the member_guesses highest
 * scores, -1 for the nonmember_guesses lowest, 0 (abstain) otherwise; ties by index. */
int audit_one_run_guess_labels(const double *scores, size_t m, size_t member_guesses,
                               size_t nonmember_guesses, int32_t *guess, dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * Gaussian differential privacy (docs/maths.md 6d). A mechanism is mu-GDP when telling it apart
 * on neighbouring inputs is no easier than telling N(0, 1) from N(mu, 1).
 * ------------------------------------------------------------------------------------------ */

/* The exact privacy curve of mu-GDP: delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2)
 * (mu >= 0; NaN otherwise). */
double audit_gdp_delta(double mu, double epsilon);
/* The smallest eps with delta(eps) <= delta (0 < delta < 1); +inf for mu = +inf. */
int audit_gdp_epsilon(double mu, double delta, double *epsilon, dpkit_error *err);
/* The mu whose curve passes through (epsilon, delta): the inverse of audit_gdp_epsilon. */
int audit_gdp_mu(double epsilon, double delta, double *mu, dpkit_error *err);

/* mu-GDP estimated from canary-aligned scores: n_with scores of canaries present (or runs with
 * the canary), n_without of canaries absent. mu = (mean_with - mean_without) / pooled sd, its
 * two-sided normal interval at `confidence`, and each converted to epsilon at delta. Exact
 * when the scores are Gaussian with a common variance (a Dirac canary's summed noisy gradient
 * under full-batch DP-SGD); otherwise an estimate, not a bound. epsilon_lower is the audit's
 * eps_lb. Zero spread with separated means (no noise) gives mu = +inf. */
typedef struct audit_gdp_estimate_result {
    double mean_with, mean_without, sd_with, sd_without, sd; /* sd: pooled */
    double mu, mu_lower, mu_upper;
    double epsilon, epsilon_lower, epsilon_upper;
} audit_gdp_estimate_result;

int audit_gdp_estimate(const double *with, size_t n_with, const double *without,
                       size_t n_without, double delta, double confidence,
                       audit_gdp_estimate_result *out, dpkit_error *err);

/* The one-run bound (audit_one_run_bound_compute, same guess counts and Bonferroni level) that
 * an ideal attacker reaches with m canaries against a mu-GDP mechanism: the expected correct
 * guesses (rounded) of top/bottom guessing on N(mu, 1) against N(0, 1) scores, each canary
 * included with probability 1/2. grid_epsilon is NaN. */
int audit_one_run_ideal_gaussian(size_t m, double mu, double delta, double p,
                                 audit_one_run_bound *bound, dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * One-run audit of f-DP (after Mahloujifar, Melis & Chaudhuri 2025; docs/maths.md 6e): m canaries
 * each included with probability 1/2, exactly k guesses, v correct, tested against mu-GDP.
 * ------------------------------------------------------------------------------------------ */

/* The largest P[v or more correct] that a mu-GDP mechanism allows (an upper end to 1e-12
 * relative); NaN unless v <= k <= m, m > 0, mu >= 0. */
double audit_fdp_gaussian_tail(size_t m, size_t k, size_t v, double mu);
/* The largest mu that v correct guesses out of k reject at level p (0.05 for 95%), to 1e-6. */
int audit_one_run_fdp_mu(size_t m, size_t k, size_t v, double p, double *mu, dpkit_error *err);

typedef struct audit_one_run_fdp_bound {
    double mu;      /* mu-GDP lower bound */
    double epsilon; /* its epsilon at the run's delta */
    uint64_t guesses, correct;
} audit_one_run_fdp_bound;

/* The f-DP bound of the abstaining guesser (audit_one_run_guesses, half the guesses "member" on
 * the top scores) for each of count_n guess counts at p / count_n (Bonferroni), the best one. */
int audit_one_run_fdp_bound_compute(const double *scores, const uint8_t *included, size_t m,
                                    const size_t *counts, size_t count_n, double delta, double p,
                                    audit_one_run_fdp_bound *bound, dpkit_error *err);
/* The same bound on the expected correct guesses of the ideal attacker against mu-GDP
 * (N(mu, 1) against N(0, 1) scores). */
int audit_one_run_fdp_ideal(size_t m, const size_t *counts, size_t count_n, double mu,
                            double delta, double p, audit_one_run_fdp_bound *bound,
                            dpkit_error *err);
/* The guess count among m / 2^(i/4) whose ideal bound against mu is largest: chosen from the
 * claimed mu alone, before any score is seen, so it needs no correction. */
int audit_one_run_fdp_best_count(size_t m, double mu, double delta, double p, size_t *count,
                                 dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * Membership inference scores (docs/maths.md 6c). Logits are float32 rows (n x classes).
 * ------------------------------------------------------------------------------------------ */

/* phi[i] = log(p/(1-p)) of the true class = logit_y - logsumexp_{y' != y} logit_y' (classes >= 2). */
int audit_lira_logit_confidence(const float *logits, size_t n, size_t classes,
                                const int32_t *labels, double *phi, dpkit_error *err);

/* Loss-threshold attack score: -cross_entropy(logits, label) (higher = member). */
int audit_loss_attack_score(const float *logits, size_t n, size_t classes, const int32_t *labels,
                            double *score, dpkit_error *err);

/* Per-example Gaussian fits of shadow-model scores, each of shape examples x queries. */
typedef struct audit_lira_gaussians {
    size_t examples;
    size_t queries;         /* augmentations per example */
    int has_in;             /* every example is IN for >= 1 shadow model (online possible) */
    int global_variance;
    double *mean_in, *std_in, *mean_out, *std_out;
} audit_lira_gaussians;

/* scores: models x examples x queries (phi of each shadow model), keep: models x examples (0/1).
 * Per example and query, over the first n_in IN models (n_in = least IN count of any example;
 * OUT likewise): mean = median, std = population std. global_variance: one std over all IN
 * scores (and one over all OUT scores) instead, for few shadow models. Every example needs
 * >= 1 OUT model. Free with audit_lira_gaussians_free. */
int audit_lira_fit(const double *scores, const uint8_t *keep, size_t models, size_t examples,
                   size_t queries, int global_variance, audit_lira_gaussians *fit,
                   dpkit_error *err);
void audit_lira_gaussians_free(audit_lira_gaussians *fit);

/* Online statistic per example (larger = member): mean over queries of
 * log N(phi; mu_in, s_in) - log N(phi; mu_out, s_out) (std + 1e-30; with global variance the IN
 * std serves both, as the reference code does). target: examples x queries. */
int audit_lira_online(const audit_lira_gaussians *fit, const double *target, double *statistic,
                      dpkit_error *err);

typedef enum {
    AUDIT_LIRA_ONE_SIDED,  /* paper: Lambda = Pr[Z <= phi]; reported as mean -log(1 - Lambda) */
    AUDIT_LIRA_LOG_DENSITY /* reference code: mean -log N(phi; mu_out, s_out) (two-sided) */
} audit_lira_offline_kind;

/* Offline statistic per example (OUT models only; larger = member). */
int audit_lira_offline(const audit_lira_gaussians *fit, const double *target,
                       audit_lira_offline_kind kind, double *statistic, dpkit_error *err);

/* LiRA keep matrix (docs/maths.md 6c step 1): keep[i * examples + j] = 1 iff example j's rank among
 * `models` uniforms is below models/2, so each example is IN for exactly floor((models+1)/2)
 * models (models/2 when even). Draws from r (stream RNG_STREAM_AUDIT). */
int audit_lira_keep_matrix(rng *r, size_t models, size_t examples, uint8_t *keep,
                           dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * ROC metrics (as sklearn roc_curve without dropping collinear points).
 * ------------------------------------------------------------------------------------------ */

typedef struct audit_roc {
    size_t points;          /* (0,0) first, then one per distinct score, descending */
    double *fpr, *tpr;
    double *thresholds;     /* thresholds[0] = +inf; "member" = score >= threshold */
    double auc;             /* trapezoid rule */
    double balanced_accuracy; /* max over points of 1 - (FPR + FNR)/2 */
} audit_roc;

/* scores (larger = member) and labels (1 = member) of n examples; both classes present. */
int audit_roc_compute(const double *scores, const uint8_t *labels, size_t n, audit_roc *roc,
                      dpkit_error *err);
void audit_roc_free(audit_roc *roc);
/* TPR of the last ROC point with FPR strictly below max_fpr (e.g. 0.001, 0.01); 0 if none. */
double audit_roc_tpr_at_fpr(const audit_roc *roc, double max_fpr);

#endif
