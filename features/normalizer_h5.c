/* The fitted normaliser in HDF5 files (models and checkpoints; layout in docs/formats.md):
 * kind, groups, epsilon and, for private-bn, the released per-channel mean and variance. */
#include "features/features.h"
#include "common/h5io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int features_normalizer_save_h5(const features_normalizer *n, h5io_file *file, const char *group,
                                dpkit_error *err)
{
    if (h5io_ensure_group(file, group, err) ||
        h5io_write_attr_string(file, group, "kind", features_normalize_kind_name(n->config.kind), err) ||
        h5io_write_attr_int64(file, group, "groups", (long long)n->config.groups, err) ||
        h5io_write_attr_int64(file, group, "channels", (long long)n->channels, err) ||
        h5io_write_attr_int64(file, group, "spatial", (long long)n->spatial, err) ||
        h5io_write_attr_double(file, group, "epsilon", n->config.epsilon, err) ||
        h5io_write_attr_double(file, group, "noise_multiplier", n->config.noise_multiplier, err) ||
        h5io_write_attr_double(file, group, "clip", n->config.clip_threshold, err))
        return -1;
    if (n->config.kind != FEATURES_NORMALIZE_PRIVATE_BN)
        return 0;
    char path[512];
    size_t count = n->statistics.channels;
    snprintf(path, sizeof path, "%s/mean", group);
    if (h5io_write_array(file, path, H5IO_FLOAT64, 1, &count, n->statistics.mean, err))
        return -1;
    snprintf(path, sizeof path, "%s/variance", group);
    return h5io_write_array(file, path, H5IO_FLOAT64, 1, &count, n->statistics.variance, err);
}

int features_normalizer_load_h5(features_normalizer *n, h5io_file *file, const char *group,
                                dpkit_error *err)
{
    memset(n, 0, sizeof *n);
    features_normalize_config_default(&n->config);
    char *kind = NULL;
    long long groups, channels, spatial;
    int status = h5io_read_attr_string(file, group, "kind", &kind, err);
    if (!status)
        status = features_normalize_kind_parse(kind, &n->config.kind, err);
    free(kind);
    if (status || h5io_read_attr_int64(file, group, "groups", &groups, err) ||
        h5io_read_attr_int64(file, group, "channels", &channels, err) ||
        h5io_read_attr_int64(file, group, "spatial", &spatial, err) ||
        h5io_read_attr_double(file, group, "epsilon", &n->config.epsilon, err))
        return error_prefix(err, "%s: normaliser", file->path);
    if (groups < 1 || channels < 1 || spatial < 1)
        return error_set(err, "%s: %s: groups, channels and spatial must be >= 1", file->path, group);
    n->config.groups = (size_t)groups;
    n->channels = (size_t)channels;
    n->spatial = (size_t)spatial;
    if (n->config.kind != FEATURES_NORMALIZE_PRIVATE_BN)
        return 0;
    const char *names[2] = {"mean", "variance"};
    double **targets[2] = {&n->statistics.mean, &n->statistics.variance};
    for (int k = 0; k < 2; k++) {
        char path[512];
        int rank;
        size_t dims[H5IO_MAX_RANK];
        snprintf(path, sizeof path, "%s/%s", group, names[k]);
        if (h5io_read_array(file, path, H5IO_FLOAT64, &rank, dims, (void **)targets[k], err)) {
            features_normalizer_free(n);
            return -1;
        }
        if (rank != 1 || dims[0] != n->channels) {
            features_normalizer_free(n);
            return error_set(err, "%s: %s must hold %lld values", file->path, path, channels);
        }
        for (size_t c = 0; c < n->channels; c++) {
            double v = (*targets[k])[c];
            if (!isfinite(v) || (k == 1 && v < 0)) {
                features_normalizer_free(n);
                return error_set(err, "%s: %s value %g at index %zu: expected a finite%s number",
                                 file->path, path, v, c, k == 1 ? " non-negative" : "");
            }
        }
    }
    n->statistics.channels = n->channels;
    return 0;
}
