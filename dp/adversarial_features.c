/* The adversarial inputs of a model on features (docs/maths.md 12.6): each sampled training
 * row's image goes through PGD against the current model, seen from its pixels through the
 * feature chain, and the features of the PGD image become that row's input to its clipped
 * gradient. */
#include "dp/feature_chain.h"

#include "common/memory.h"

#include <stdlib.h>

struct dp_adversarial_features {
    const dataset_split *images;
    size_t first;          /* training row i is image first + i */
    dp_feature_chain *chain;
    dp_classifier classifier; /* the model from the pixels */
    size_t max_batch, pixels, features;
    float *x, *x_adv;      /* (max_batch, pixels) */
};

static int make_inputs(void *user, const dp_pgd_config *config, const size_t *rows,
                       const int32_t *y, size_t n, float *inputs, dpkit_error *err)
{
    dp_adversarial_features *af = user;
    for (size_t first = 0; first < n; first += af->max_batch) {
        size_t m = n - first < af->max_batch ? n - first : af->max_batch;
        for (size_t i = 0; i < m; i++)
            dp_image_pixels(af->images, af->first + rows[first + i], af->x + i * af->pixels);
        if (dp_pgd(&af->classifier, config, af->x, y + first, m, af->x_adv, NULL, err) ||
            dp_feature_chain_features(af->chain, af->x_adv, m, inputs + first * af->features,
                                      err))
            return -1;
    }
    return 0;
}

void dp_adversarial_features_free(dp_adversarial_features *af)
{
    if (!af)
        return;
    dp_feature_chain_free(af->chain);
    MEMORY_FREE_ALL(af->x, af->x_adv, af);
}

int dp_adversarial_features_create(const features_extractor_config *extractor,
                                   const dataset_split *images, size_t first,
                                   const features_normalizer *normalizer, const dp_model *model,
                                   size_t max_batch, dp_adversarial_features **out,
                                   dp_adversarial_inputs *hook, dpkit_error *err)
{
    *out = NULL;
    dp_adversarial_features *af = calloc(1, sizeof *af);
    if (!af)
        return error_set(err, "adversarial training: out of memory");
    af->images = images;
    af->first = first;
    af->max_batch = max_batch > 0 ? max_batch : 1;
    af->pixels = images->channels * images->height * images->width;
    af->features = dp_shape_size(model->input);
    if (dp_feature_chain_create(extractor, images->channels, images->height, images->width,
                                normalizer, model, af->max_batch, &af->chain, &af->classifier,
                                err)) {
        dp_adversarial_features_free(af);
        return error_prefix(err, "training.adversarial.norm");
    }
    af->x = malloc(af->max_batch * af->pixels * sizeof *af->x);
    af->x_adv = malloc(af->max_batch * af->pixels * sizeof *af->x_adv);
    if (!af->x || !af->x_adv) {
        dp_adversarial_features_free(af);
        return error_set(err, "adversarial training: out of memory for %zu images", max_batch);
    }
    *hook = (dp_adversarial_inputs){make_inputs, af};
    *out = af;
    return 0;
}
