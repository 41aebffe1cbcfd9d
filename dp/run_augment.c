/* The features of augmented copies of the images: the training copies of augmentation
 * multiplicity (docs/maths.md 4.17) and the mirror images of model.mirror_average (4.18), each
 * copy's images through the run's extractor, from the feature cache, then the normaliser fitted
 * on the original features. */
#include "dp/run_config.h"

#include "common/log.h"
#include "common/parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy c (of `augment`) of the split's images: its features, the dataset seen as one whose
 * images are the copy's, named after the original and the copy's settings, so that its cache
 * file is its own (and the cache's checksum of the images guards it as it guards the
 * original's). Rows first..first+count-1. */
static int copy_features(const run_config *rc, const dataset *data, const char *split,
                         const features_augment_config *augment, size_t c, size_t first,
                         size_t count, int force, const char *what, features_set *out,
                         dpkit_error *err)
{
    dataset copy = *data;
    char settings[256];
    /* without a shift or rotation the seed draws nothing that is used: one cache file for
     * every seed */
    uint64_t seed = augment->shift || augment->rotate > 0 ? (uint64_t)rc->seed : 0;
    features_augment_describe(augment, seed, c, settings, sizeof settings);
    int w = snprintf(copy.name, sizeof copy.name, "%s+augment:%s", data->name, settings);
    if (w < 0 || (size_t)w >= sizeof copy.name)
        return error_set(err, "dataset name too long: %s", data->name);
    int is_test = strcmp(split, "test") == 0;
    dataset_split *images = is_test ? &copy.test : &copy.train;
    if (features_augment_split(is_test ? &data->test : &data->train, augment, seed, c, images,
                               err))
        return -1;
    features_cache_info info;
    int status = features_cached_rows(&rc->extractor, &copy, split, force, first, count, 0, out,
                                      &info, err);
    free(images->images);
    if (status)
        return -1;
    log_info("%s (%s): features %s in %.1f s", what, settings,
             info.hit ? "from the cache" : "computed", info.seconds);
    return 0;
}

/* The copy's features must have the original's shape; then the original's normaliser. */
static int normalize_copy(const features_set *original, const features_normalizer *normalizer,
                          features_set *f, dpkit_error *err)
{
    if (f->count != original->count || f->channels != original->channels ||
        f->height != original->height || f->width != original->width)
        return error_set(err, "%zu x %zu x %zu x %zu features, the original %zu x %zu x %zu x "
                              "%zu", f->count, f->channels, f->height, f->width,
                         original->count, original->channels, original->height,
                         original->width);
    return features_normalizer_apply(normalizer, f->values, f->count, f->channels,
                                     f->height * f->width, err);
}

int run_augment_features(const run_config *rc, const run_features *rf,
                         const features_normalizer *normalizer, int force, features_set *copies,
                         dpkit_error *err)
{
    if (parallel_size() > 1)
        return error_set(err, "training.augment_multiplicity: %zu on %d ranks, expected 1 "
                              "under mpirun (the copies are built by one process)",
                         rc->augment.multiplicity, parallel_size());
    const features_set *tr = &rf->train;
    for (size_t c = 1; c < rc->augment.multiplicity; c++) {
        features_set *f = &copies[c - 1];
        char what[64];
        snprintf(what, sizeof what, "augmented copy %zu", c);
        if (copy_features(rc, &rf->data, "train", &rc->augment, c, rf->train_first, tr->count,
                          force, what, f, err) ||
            normalize_copy(tr, normalizer, f, err))
            return error_prefix(err, "training.augment_multiplicity: copy %zu", c);
    }
    return 0;
}

int run_mirror_features(const run_config *rc, const dataset *data, const char *split,
                        const features_set *original, const features_normalizer *normalizer,
                        int force, features_set *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    if (parallel_size() > 1)
        return error_set(err, "model.mirror_average: true on %d ranks, expected false under "
                              "mpirun (the mirror images are built by one process)",
                         parallel_size());
    /* copy 1 of two, flipped and not shifted: exactly the mirror image (docs/maths.md 4.17) */
    const features_augment_config mirror = {.multiplicity = 2, .shift = 0, .flip = 1};
    char what[64];
    snprintf(what, sizeof what, "mirror images of the %s split", split);
    if (copy_features(rc, data, split, &mirror, 1, 0, original->count, force, what, out, err) ||
        normalize_copy(original, normalizer, out, err)) {
        features_set_free(out);
        return error_prefix(err, "model.mirror_average: %s split", split);
    }
    return 0;
}
