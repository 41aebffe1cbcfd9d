/* Models on features seen from their pixels (dp/feature_chain.c), and the adversarial inputs of
 * a model on features that training draws from them (dp/adversarial_features.c; docs/maths.md
 * 12.3, 12.6). Both live in dp/ because the training loop needs them. */
#ifndef DPKIT_DP_FEATURE_CHAIN_H
#define DPKIT_DP_FEATURE_CHAIN_H

#include "common/error.h"
#include "dp/dp.h"
#include "features/features.h"

#include <stddef.h>

/* A model on its features seen from the pixels (channels, height, width) in [0, 1]: the
 * extractor's image standardisation and scattering (none for raw pixels; HOG is refused), the
 * fitted normaliser and the model, with gradients through all of them. With model NULL the
 * classifier is the feature map itself (its outputs are the normalised features, for
 * robust_collision). Images of a batch are spread over the OpenMP threads; the chain points at
 * normalizer and model, which must outlive it (the model's parameters may change between
 * calls: each call reads them afresh). */
typedef struct dp_feature_chain dp_feature_chain;
int dp_feature_chain_create(const features_extractor_config *extractor, size_t channels,
                            size_t height, size_t width, const features_normalizer *normalizer,
                            const dp_model *model, size_t max_batch, dp_feature_chain **out,
                            dp_classifier *classifier, dpkit_error *err);
/* features (n, model input size): the normalised features of the images x (n, channels, H, W),
 * n at most the chain's max_batch. */
int dp_feature_chain_features(dp_feature_chain *chain, const float *x, size_t n,
                              float *features, dpkit_error *err);
void dp_feature_chain_free(dp_feature_chain *chain);

/* Image `row` of a split as pixels in [0, 1] (channels, height, width) into out. */
void dp_image_pixels(const dataset_split *split, size_t row, float *out);

/* For adversarial training of a model on features: training row i (shard-local) is image
 * first + i of `images`; the hook it fills makes each sampled row's model input from the PGD
 * example of that image against the current `model` through the chain (extractor, normalizer:
 * the ones the model's training features were made with). All of them must outlive it. */
typedef struct dp_adversarial_features dp_adversarial_features;
int dp_adversarial_features_create(const features_extractor_config *extractor,
                                   const dataset_split *images, size_t first,
                                   const features_normalizer *normalizer, const dp_model *model,
                                   size_t max_batch, dp_adversarial_features **out,
                                   dp_adversarial_inputs *hook, dpkit_error *err);
void dp_adversarial_features_free(dp_adversarial_features *af);

#endif
