/* Adversarial robustness of dpkit's models (docs/maths.md 12): attacks that search a set of
 * perturbations for an input the model misclassifies, and randomized-smoothing certificates.
 * A model is seen through robust_classifier: the logits of a batch and the gradient of a
 * function of the logits with respect to the inputs. */
#ifndef DPKIT_ROBUST_ROBUST_H
#define DPKIT_ROBUST_ROBUST_H

#include "common/error.h"
#include "dp/dp.h"
#include "features/features.h"

#include <stddef.h>
#include <stdint.h>

typedef struct robust_classifier {
    size_t input_size, class_count;
    size_t max_batch; /* largest n the two calls take */
    /* logits (n, class_count) of the inputs x (n, input_size) */
    int (*logits)(void *user, const float *x, size_t n, float *logits, dpkit_error *err);
    /* grad_x (n, input_size) = (d logits / d x)^T grad_logits (n, class_count) at x */
    int (*input_gradient)(void *user, const float *x, size_t n, const float *grad_logits,
                          float *grad_x, dpkit_error *err);
    void *user;
} robust_classifier;

/* A dp model on its own input (pixels for a CNN, features for a linear model on features).
 * The classifier points at `model` (which must outlive it); ws->max_batch is its batch limit. */
typedef struct robust_model {
    const dp_model *model;
    dp_workspace *ws;
} robust_model;
void robust_classifier_of_model(robust_model *model, robust_classifier *out);

/* A model on its features seen from the pixels (channels, height, width) in [0, 1]: the
 * extractor's image standardisation and scattering (none for raw pixels; HOG is refused), the
 * fitted normaliser and the model,
 * with gradients through all of them (robust/feature_chain.c). With model NULL the classifier
 * is the feature map itself (its outputs are the normalised features, for robust_collision).
 * Single-threaded; the chain points at normalizer and model, which must outlive it. */
typedef struct robust_feature_chain robust_feature_chain;
int robust_feature_chain_create(const features_extractor_config *extractor, size_t channels,
                                size_t height, size_t width,
                                const features_normalizer *normalizer, const dp_model *model,
                                size_t max_batch, robust_feature_chain **out,
                                robust_classifier *classifier, dpkit_error *err);
void robust_feature_chain_free(robust_feature_chain *chain);

/* ---- projected gradient descent (Madry et al. 2018; docs/maths.md 12.1) ---- */

typedef enum { ROBUST_NORM_LINF, ROBUST_NORM_L2 } robust_norm;

typedef struct robust_pgd_config {
    robust_norm norm;
    double epsilon;       /* radius of the perturbation set {||delta|| <= epsilon} */
    double step;          /* step size alpha */
    int steps;            /* iterations (>= 0) */
    int random_start;     /* 1: start at a uniform point of the ball (L-inf: of the cube) */
    double lower, upper;  /* valid input range, e.g. pixels 0 and 1 */
    uint64_t seed;        /* of the random start; the attack is deterministic given it */
} robust_pgd_config;

/* Checks a configuration (finite, epsilon >= 0, step > 0, steps >= 0, lower < upper). */
int robust_pgd_check(const robust_pgd_config *config, dpkit_error *err);

/* x_adv (n, D): the last PGD iterate from x (n, D), which ascends the cross-entropy of the
 * labels y within the perturbation set and the input range; fooled[i] = 1 when the model
 * misclassifies x_adv[i] (fooled may be NULL). Batches of the classifier's max_batch. */
int robust_pgd(const robust_classifier *classifier, const robust_pgd_config *config,
               const float *x, const int32_t *y, size_t n, float *x_adv, uint8_t *fooled,
               dpkit_error *err);

/* ---- feature collision (docs/maths.md 12.4) ---- */

/* x_adv (n, D): x moved within the set of `config` (its norm, epsilon, step, steps, range,
 * random start) so that the outputs of `features` (a feature map seen as a classifier whose
 * class_count outputs are the features) come close to those of targets (n, D): projected
 * descent on (1/2)||phi(x') - phi(t)||^2. distance[i] = ||phi(x_adv[i]) - phi(t[i])||_2 (may
 * be NULL). */
int robust_collision(const robust_classifier *features, const robust_pgd_config *config,
                     const float *x, const float *targets, size_t n, float *x_adv,
                     double *distance, dpkit_error *err);

/* ---- Carlini & Wagner L2 (docs/maths.md 12.5) ---- */

typedef struct robust_cw_config {
    double initial_c;     /* first constant c (default 1e-3) */
    int search_steps;     /* binary-search steps on c (default 9) */
    int steps;            /* Adam steps per search step (default 1000) */
    double learning_rate; /* Adam (default 0.01) */
    double confidence;    /* kappa: the margin asked for (default 0) */
    double lower, upper;  /* the box (default 0, 1) */
} robust_cw_config;

void robust_cw_config_default(robust_cw_config *config);
int robust_cw_check(const robust_cw_config *config, dpkit_error *err);

/* x_adv (n, D): the closest misclassified point (margin at least kappa) found for each input,
 * or the input itself when none was; l2[i] its L2 distance, +inf when none (may be NULL). */
int robust_cw(const robust_classifier *classifier, const robust_cw_config *config,
              const float *x, const int32_t *y, size_t n, float *x_adv, double *l2,
              dpkit_error *err);

/* ---- randomized smoothing (Cohen, Rosenfeld & Kolter 2019; docs/maths.md 12.2) ---- */

typedef struct robust_smoothing_config {
    double sigma;   /* standard deviation of the Gaussian noise on the input */
    size_t n0;      /* samples that select the class (default 100) */
    size_t n;       /* samples that estimate its probability (default 100000) */
    double alpha;   /* failure probability of the certificate (default 0.001) */
    uint64_t seed;  /* of the noise; certificates are deterministic given it */
} robust_smoothing_config;

void robust_smoothing_config_default(robust_smoothing_config *config);
int robust_smoothing_check(const robust_smoothing_config *config, dpkit_error *err);

/* CERTIFY of Cohen et al. for one input x (D): the smoothed classifier's class, or -1 when it
 * abstains, and the L2 radius sigma Phi^-1(p_A) within which, with probability at least
 * 1 - alpha over the noise, it does not change (0 when abstaining); p_A is the one-sided
 * Clopper-Pearson lower bound on the class' probability under noise. */
int robust_certify(const robust_classifier *classifier, const robust_smoothing_config *config,
                   const float *x, int32_t *prediction, double *radius, dpkit_error *err);

#endif
