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
 * directory. result may be NULL. */
DPKIT_API int dpkit_train(const char *config_path, const char *const *overrides,
                          size_t override_count, dpkit_train_result *result, dpkit_error *err);

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
 * vectors (count, feature_count), before normalisation: the model's normaliser is applied. */
DPKIT_API int dpkit_model_predict(const dpkit_model *model, const float *features, size_t count,
                                  int output, float *out, dpkit_error *err);
/* The same from images (count, channels, height, width), pixel values in [0, 1]: the model's
 * feature extractor (ScatterNet, HOG or raw pixels) runs first. */
DPKIT_API int dpkit_model_predict_images(const dpkit_model *model, const float *images,
                                         size_t count, int output, float *out, dpkit_error *err);

/* epsilon at delta of the model's privacy ledger with the given accountant ("rdp", "pld"). */
DPKIT_API int dpkit_model_epsilon(const dpkit_model *model, double delta, const char *accountant,
                                  double *epsilon, dpkit_error *err);
/* 1 when the model's noise was keyed from its public seed (privacy.reproducible_noise). */
DPKIT_API int dpkit_model_reproducible_noise(const dpkit_model *model);

#ifdef __cplusplus
}
#endif

#endif
