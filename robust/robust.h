/* Adversarial robustness of dpkit's models (docs/maths.md 12): the Carlini & Wagner and
 * feature-collision attacks, randomized-smoothing certificates (PGD, the dp_classifier view of a
 * model and models seen from their pixels are in dp/: adversarial training needs them). */
#ifndef DPKIT_ROBUST_ROBUST_H
#define DPKIT_ROBUST_ROBUST_H

#include "common/error.h"
#include "dp/dp.h"
#include "dp/feature_chain.h"
#include "features/features.h"

#include <stddef.h>
#include <stdint.h>

/* ---- feature collision (docs/maths.md 12.4) ---- */

/* x_adv (n, D): x moved within the set of `config` (its norm, epsilon, step, steps, range,
 * random start) so that the outputs of `features` (a feature map seen as a classifier whose
 * class_count outputs are the features) come close to those of targets (n, D): projected
 * descent on (1/2)||phi(x') - phi(t)||^2. distance[i] = ||phi(x_adv[i]) - phi(t[i])||_2 (may
 * be NULL). */
int robust_collision(const dp_classifier *features, const dp_pgd_config *config,
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
int robust_cw(const dp_classifier *classifier, const robust_cw_config *config,
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
int robust_certify(const dp_classifier *classifier, const robust_smoothing_config *config,
                   const float *x, int32_t *prediction, double *radius, dpkit_error *err);

/* PREDICT of Cohen et al.: the smoothed classifier's class at x from n noisy copies, or -1
 * (abstain) when a two-sided binomial test cannot tell the two most frequent classes apart at
 * level alpha. A class it returns is wrong with probability at most alpha. */
int robust_smoothed_predict(const dp_classifier *classifier,
                            const robust_smoothing_config *config, const float *x,
                            int32_t *prediction, dpkit_error *err);

#endif
