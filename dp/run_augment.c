/* The training features of augmented copies of the images for augmentation multiplicity
 * (docs/maths.md 4.17): each copy's images through the run's extractor, from the feature
 * cache, then the normaliser fitted on the original features. */
#include "dp/run_config.h"

#include "common/log.h"
#include "common/parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy c's features: the dataset seen as one whose training images are the copy's, named
 * after the original and the copy's settings, so that its cache file is its own (and the
 * cache's checksum of the images guards it as it guards the original's). */
static int copy_features(const run_config *rc, const run_features *rf, size_t c, int force,
                         features_set *out, dpkit_error *err)
{
    dataset copy = rf->data;
    char settings[256];
    features_augment_describe(&rc->augment, (uint64_t)rc->seed, c, settings, sizeof settings);
    int w = snprintf(copy.name, sizeof copy.name, "%s+augment:%s", rf->data.name, settings);
    if (w < 0 || (size_t)w >= sizeof copy.name)
        return error_set(err, "training.augment_multiplicity: dataset name too long: %s",
                         rf->data.name);
    if (features_augment_split(&rf->data.train, &rc->augment, (uint64_t)rc->seed, c,
                               &copy.train, err))
        return -1;
    features_cache_info info;
    int status = features_cached_rows(&rc->extractor, &copy, "train", force, rf->train_first,
                                      rf->train.count, 0, out, &info, err);
    free(copy.train.images);
    if (status)
        return error_prefix(err, "training.augment_multiplicity: copy %zu", c);
    log_info("augmented copy %zu (%s): features %s in %.1f s", c, settings,
             info.hit ? "from the cache" : "computed", info.seconds);
    return 0;
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
        if (copy_features(rc, rf, c, force, f, err))
            return -1;
        if (f->count != tr->count || f->channels != tr->channels || f->height != tr->height ||
            f->width != tr->width)
            return error_set(err, "training.augment_multiplicity: copy %zu has %zu x %zu x %zu "
                                  "x %zu features, the original %zu x %zu x %zu x %zu", c,
                             f->count, f->channels, f->height, f->width, tr->count,
                             tr->channels, tr->height, tr->width);
        if (features_normalizer_apply(normalizer, f->values, f->count, f->channels,
                                      f->height * f->width, err))
            return error_prefix(err, "training.augment_multiplicity: copy %zu", c);
    }
    return 0;
}
