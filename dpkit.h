/* dpkit.h: the public interface of libdpkit, in the spirit of liblinear's linear.h: train a
 * differentially private classifier from a config file, load a trained model with its
 * normaliser and privacy ledger, predict, and account for privacy. Every exported symbol starts
 * with dpkit_; everything else in the library is hidden. Functions that can fail return 0 (or a
 * pointer) on success and -1 (or NULL) on failure with a message in *err naming the file, field
 * or value and what was expected. A guide with a complete example: docs/library.md. */
#ifndef DPKIT_H
#define DPKIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DPKIT_API __attribute__((visibility("default")))
#else
#define DPKIT_API
#endif

#define DPKIT_ERROR_MESSAGE_SIZE 1024

typedef struct dpkit_error {
    char message[DPKIT_ERROR_MESSAGE_SIZE];
} dpkit_error;

/* "0.1.0" */
DPKIT_API const char *dpkit_version(void);

/* ---------------------------------------------------------------------------------------------
 * Accounting (docs/maths.md 2 and 3). accountant: "rdp" or "pld" (NULL: "rdp").
 * ------------------------------------------------------------------------------------------ */

/* epsilon after `steps` steps of the Poisson-subsampled Gaussian mechanism with the given noise
 * multiplier and sampling rate, at delta. Fails closed: +inf, never a smaller number, when the
 * computation cannot be trusted. */
DPKIT_API int dpkit_epsilon(double noise_multiplier, double sample_rate, long long steps,
                            double delta, const char *accountant, double *epsilon,
                            dpkit_error *err);
/* The PLD accountant's optimistic and pessimistic epsilon of the same schedule at
 * discretization 1e-4 (docs/maths.md 3.3): lower <= true epsilon <= upper, and upper is what
 * dpkit_epsilon(..., "pld", ...) returns. */
DPKIT_API int dpkit_epsilon_interval(double noise_multiplier, double sample_rate, long long steps,
                                     double delta, double *lower, double *upper, dpkit_error *err);
/* The smallest noise multiplier that keeps `steps` steps at `sample_rate` within epsilon. */
DPKIT_API int dpkit_calibrate(double epsilon, double delta, double sample_rate, long long steps,
                              const char *accountant, double *noise_multiplier, dpkit_error *err);

/* ---------------------------------------------------------------------------------------------
 * Training from a config file (docs/config.md, docs/train.md).
 * ------------------------------------------------------------------------------------------ */

/* overrides: `key=value` assignments as with `dpkit train --set` (may be NULL when count is 0).
 * Checks every value of the config; nothing is trained or written. */
DPKIT_API int dpkit_check_config(const char *config_path, const char *const *overrides,
                                 size_t override_count, dpkit_error *err);

typedef struct dpkit_train_result {
    char model_path[4096];  /* the run directory's model.h5 */
    double epsilon, delta;  /* spent, from the run's ledger with the config's accountant */
    double test_accuracy;   /* on the dataset's test split */
    long long steps;        /* DP-SGD steps run */
    int reproducible_noise; /* 1: the noise was keyed from the seed (not private) */
} dpkit_train_result;

/* Trains the config as `dpkit train CONFIG --set ...` does, writing config.yaml, metrics.jsonl,
 * checkpoint.h5 (secret: it holds the noise key), model.h5 and summary.json to the run
 * directory. A directory that already holds a run (model.h5 or checkpoint.h5) is refused, so
 * that no model is replaced by mistake. result may be NULL. */
DPKIT_API int dpkit_train(const char *config_path, const char *const *overrides,
                          size_t override_count, dpkit_train_result *result, dpkit_error *err);
/* dpkit_train with flags: DPKIT_TRAIN_OVERWRITE replaces the run the directory holds, as
 * `dpkit train --overwrite` does. */
enum { DPKIT_TRAIN_OVERWRITE = 1 };
DPKIT_API int dpkit_train_flags(const char *config_path, const char *const *overrides,
                                size_t override_count, int flags, dpkit_train_result *result,
                                dpkit_error *err);

/* ---------------------------------------------------------------------------------------------
 * Trained models (model.h5, docs/formats.md).
 * ------------------------------------------------------------------------------------------ */

typedef struct dpkit_model dpkit_model;

/* Loads a model.h5 with its normaliser, feature extractor settings and privacy ledger; every
 * value is checked (finite parameters, consistent shapes). Free with dpkit_model_free. */
DPKIT_API dpkit_model *dpkit_model_load(const char *path, dpkit_error *err);
DPKIT_API void dpkit_model_free(dpkit_model *model);

/* Classes, and the length of one feature vector (the input predict takes). */
DPKIT_API size_t dpkit_model_class_count(const dpkit_model *model);
DPKIT_API size_t dpkit_model_feature_count(const dpkit_model *model);
/* Image shape the model's feature extractor takes (channels, height, width). */
DPKIT_API void dpkit_model_image_shape(const dpkit_model *model, size_t *channels, size_t *height,
                                       size_t *width);

enum { DPKIT_LOGITS = 0, DPKIT_PROBABILITIES = 1 };

/* out (count, class_count) = the model's logits or softmax probabilities for `count` feature
 * vectors (count, feature_count), before normalisation: the model's normaliser is applied. A
 * model trained with model.mirror_average refuses (its logits need the mirror images). */
DPKIT_API int dpkit_model_predict(const dpkit_model *model, const float *features, size_t count,
                                  int output, float *out, dpkit_error *err);
/* The same from images (count, channels, height, width), pixel values in [0, 1]: the model's
 * feature extractor (ScatterNet, HOG or raw pixels) runs first; with model.mirror_average the
 * logits are the mean of the model's at each image and at its left-right mirror. */
DPKIT_API int dpkit_model_predict_images(const dpkit_model *model, const float *images,
                                         size_t count, int output, float *out, dpkit_error *err);

/* epsilon at delta of the model's privacy ledger with the given accountant ("rdp", "pld"). */
DPKIT_API int dpkit_model_epsilon(const dpkit_model *model, double delta, const char *accountant,
                                  double *epsilon, dpkit_error *err);
/* 1 when the model's noise was keyed from its public seed (privacy.reproducible_noise). */
DPKIT_API int dpkit_model_reproducible_noise(const dpkit_model *model);

typedef struct dpkit_eval_result {
    size_t count, class_count; /* examples evaluated, classes of the model */
    double accuracy;           /* fraction of examples whose largest logit is their label */
    double mean_loss;          /* mean cross-entropy (natural log) */
    /* With per_example, in the split's order (else NULL); freed by dpkit_eval_result_free. */
    int *labels, *predictions; /* (count); a prediction is the first largest logit */
    float *losses;             /* (count) cross-entropy of each example */
    float *logits;             /* (count, class_count) */
} dpkit_eval_result;

/* Accuracy and mean cross-entropy of the model on a split ("test" or "train"; NULL: "test") of
 * a dataset (NULL: the one it was trained on; else "mnist", "fashion-mnist", "cifar10" or
 * "hdf5:PATH" with the same image shape and classes), through the model's feature extractor
 * (features cached as `dpkit features` does) and normaliser, as `dpkit eval` computes them.
 * per_example 1 also fills the per-example arrays. */
DPKIT_API int dpkit_model_evaluate(const dpkit_model *model, const char *dataset,
                                   const char *split, int per_example, dpkit_eval_result *result,
                                   dpkit_error *err);
/* Frees the per-example arrays (safe on a result of a failed call) and zeroes the result. */
DPKIT_API void dpkit_eval_result_free(dpkit_eval_result *result);

/* ---------------------------------------------------------------------------------------------
 * Privacy ledgers: a list of Poisson-subsampled Gaussian events accounted together.
 * ------------------------------------------------------------------------------------------ */

typedef struct dpkit_ledger dpkit_ledger;

/* An empty ledger (NULL when out of memory). Free with dpkit_ledger_free. */
DPKIT_API dpkit_ledger *dpkit_ledger_create(void);
DPKIT_API void dpkit_ledger_free(dpkit_ledger *ledger);
/* Records `count` runs of the Gaussian mechanism with noise multiplier `noise_multiplier` on a
 * Poisson sample of rate `sample_rate` (1: the whole dataset); label (may be NULL: "dp-sgd")
 * names what consumed privacy, at most 31 bytes. Equal consecutive events are merged. */
DPKIT_API int dpkit_ledger_record(dpkit_ledger *ledger, double sample_rate,
                                  double noise_multiplier, long long count, const char *label,
                                  dpkit_error *err);
/* Distinct (run-length encoded) events recorded. */
DPKIT_API size_t dpkit_ledger_event_count(const dpkit_ledger *ledger);
/* epsilon at delta of all events recorded so far (an empty ledger spends 0). */
DPKIT_API int dpkit_ledger_epsilon(const dpkit_ledger *ledger, double delta,
                                   const char *accountant, double *epsilon, dpkit_error *err);

/* ---------------------------------------------------------------------------------------------
 * The 2D scattering transform, Kymatio 0.3's Scattering2D (docs/scatter.md), float32.
 * ------------------------------------------------------------------------------------------ */

typedef struct dpkit_scattering dpkit_scattering;

enum { DPKIT_PLAN_ESTIMATE = 0, DPKIT_PLAN_MEASURE = 1, DPKIT_PLAN_PATIENT = 2 };

/* A plan for height x width images: J >= 1, L >= 1, max_order 1 or 2, 2^J <= height and width;
 * threads 0 = all OpenMP threads; planning one of DPKIT_PLAN_*. Free with
 * dpkit_scattering_free. */
DPKIT_API dpkit_scattering *dpkit_scattering_create(int J, int L, int max_order, size_t height,
                                                    size_t width, int threads, int planning,
                                                    dpkit_error *err);
DPKIT_API void dpkit_scattering_free(dpkit_scattering *scattering);
/* K = 1 + J L (+ L^2 J (J-1) / 2 for max_order 2), and the output size height/2^J x width/2^J. */
DPKIT_API void dpkit_scattering_output_shape(const dpkit_scattering *scattering,
                                             size_t *channels, size_t *height, size_t *width);
/* out (count, K, height/2^J, width/2^J) = the transform of images (count, height, width),
 * Kymatio's channel order. A plan must not be executed by two callers at the same time. */
DPKIT_API int dpkit_scattering_execute(dpkit_scattering *scattering, size_t count,
                                       const float *images, float *out, dpkit_error *err);
/* What channel k is: order 0, 1 or 2 and (j1, theta1, j2, theta2); unused entries are -1. */
DPKIT_API int dpkit_scattering_channel(const dpkit_scattering *scattering, size_t k, int *order,
                                       int *j1, int *theta1, int *j2, int *theta2,
                                       dpkit_error *err);

/* ---------------------------------------------------------------------------------------------
 * Audit statistics (docs/audit.md, docs/maths.md 5 and 6). Inclusion and keep flags are 0/1
 * bytes; scores are larger for "member".
 * ------------------------------------------------------------------------------------------ */

/* Rank-based exposure (tensorflow_privacy v0.8.0): exposure[i] = log2(reference_count) -
 * log2(1 + #{reference <= perplexities[i]}). */
DPKIT_API int dpkit_exposure_interpolation(const double *perplexities, size_t count,
                                           const double *reference, size_t reference_count,
                                           double *exposure, dpkit_error *err);
/* exposure[i] = -log2 F(perplexities[i]), F the skew-normal fitted to the reference;
 * fit (may be NULL) receives its (shape, loc, scale). */
DPKIT_API int dpkit_exposure_extrapolation(const double *perplexities, size_t count,
                                           const double *reference, size_t reference_count,
                                           double *exposure, double *fit, dpkit_error *err);

/* Two-sided Clopper-Pearson interval at level alpha for successes out of trials. */
DPKIT_API int dpkit_clopper_pearson(unsigned long long successes, unsigned long long trials,
                                    double alpha, double *lower, double *upper,
                                    dpkit_error *err);
/* Epsilon lower bound of a membership test from false positive / negative counts over runs
 * without / with group_size canaries, at confidence 1 - alpha (docs/maths.md 6a). */
DPKIT_API int dpkit_epsilon_lower_bound(unsigned long long false_positives,
                                        unsigned long long runs_without,
                                        unsigned long long false_negatives,
                                        unsigned long long runs_with, double delta,
                                        unsigned group_size, double alpha, double *epsilon,
                                        dpkit_error *err);
/* The best such bound over every threshold of the scores; threshold may be NULL. */
DPKIT_API int dpkit_epsilon_lower_bound_scores(const double *scores_with, size_t runs_with,
                                               const double *scores_without,
                                               size_t runs_without, double delta,
                                               unsigned group_size, double alpha,
                                               double *epsilon, double *threshold,
                                               dpkit_error *err);

/* One-run audit (docs/maths.md 6b): the largest epsilon refuted at p by `correct` correct
 * guesses out of `guesses` on m canaries. */
DPKIT_API int dpkit_one_run_epsilon(unsigned long long m, unsigned long long guesses,
                                    unsigned long long correct, double delta, double p,
                                    double *epsilon, dpkit_error *err);
/* The sound one-run bound from the scores and inclusion flags of m canaries (guess counts
 * m/16 .. m, Bonferroni-corrected); guesses, correct and grid_epsilon (ML Privacy Meter's
 * uncorrected grid maximum) may be NULL. */
DPKIT_API int dpkit_one_run_bound(const double *scores, const unsigned char *included, size_t m,
                                  double delta, double p, double *epsilon,
                                  unsigned long long *guesses, unsigned long long *correct,
                                  double *grid_epsilon, dpkit_error *err);

/* mu-GDP (docs/maths.md 6d): the epsilon of mu at delta (exact curve), and the mu of (epsilon,
 * delta). */
DPKIT_API int dpkit_gdp_epsilon(double mu, double delta, double *epsilon, dpkit_error *err);
DPKIT_API int dpkit_gdp_mu(double epsilon, double delta, double *mu, dpkit_error *err);
/* mu-GDP estimated from canary-aligned scores with (n_with) and without (n_without) the canary:
 * mu_out[3] = {mu, lower, upper} at two-sided `confidence`, epsilon_out[3] their epsilons at
 * delta (epsilon_out[1] is the audit's eps_lb; an estimate resting on Gaussian scores). */
DPKIT_API int dpkit_gdp_estimate(const double *with, size_t n_with, const double *without,
                                 size_t n_without, double delta, double confidence,
                                 double *mu_out, double *epsilon_out, dpkit_error *err);
/* The one-run bound an ideal attacker reaches with m canaries against mu-GDP (same guess counts
 * and correction as dpkit_one_run_bound). */
DPKIT_API int dpkit_one_run_ideal(size_t m, double mu, double delta, double p, double *epsilon,
                                  dpkit_error *err);
/* The one-run f-DP bound against mu-GDP (docs/maths.md 6e) from the scores and inclusion flags
 * of m canaries: the guess count whose ideal bound against mu_claimed (the mu of the claimed
 * epsilon) is largest, the epsilon at delta of the largest mu its correct guesses refute at p,
 * and the ideal attacker's for the same canaries and guesses. ideal_epsilon, guesses and
 * correct may be NULL. */
DPKIT_API int dpkit_one_run_fdp_bound(const double *scores, const unsigned char *included,
                                      size_t m, double mu_claimed, double delta, double p,
                                      double *epsilon, double *ideal_epsilon,
                                      unsigned long long *guesses, unsigned long long *correct,
                                      dpkit_error *err);

/* LiRA's logit-scaled confidence phi = log(p / (1 - p)) of the true class, logits (n, classes). */
DPKIT_API int dpkit_lira_logit_confidence(const float *logits, size_t n, size_t classes,
                                          const int *labels, double *phi, dpkit_error *err);
/* LiRA statistics (docs/maths.md 6c) of a target's scores (examples, queries) from shadow scores
 * (models, examples, queries) and keep flags (models, examples); larger = member. online
 * needs every example IN for some shadow model; offline (OUT models only, one-sided) needs
 * every example OUT for some. Either output may be NULL. */
DPKIT_API int dpkit_lira(const double *shadow_scores, const unsigned char *keep, size_t models,
                         size_t examples, size_t queries, int global_variance,
                         const double *target_scores, double *online, double *offline,
                         dpkit_error *err);
/* ROC of scores against labels (1 = member): AUC, and TPR at FPR < 0.1% and < 1%. */
DPKIT_API int dpkit_roc(const double *scores, const unsigned char *labels, size_t n,
                        double *auc, double *tpr_at_fpr_0_1, double *tpr_at_fpr_1,
                        dpkit_error *err);

#ifdef __cplusplus
}
#endif

#endif
