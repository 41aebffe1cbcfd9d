/* Feature extractors (raw pixels, scattering transform, HOG) applied to chunks of a dataset
 * split, after scaling pixels to [0, 1] and the optional ImageNet per-channel standardisation. */
#include "features/features.h"

#include "common/memory.h"
#include "scatter/scatter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double features_imagenet_mean[3] = {0.485, 0.456, 0.406};
const double features_imagenet_std[3] = {0.229, 0.224, 0.225};

struct features_extractor {
    features_extractor_config config;
    int imagenet; /* resolved image_norm */
    size_t channels, height, width, max_chunk;
    size_t out_channels, out_height, out_width;
    scatter_plan *plan;
    float *pixels; /* max_chunk preprocessed images */
};

void features_extractor_config_default(features_extractor_config *config)
{
    memset(config, 0, sizeof *config);
    config->kind = FEATURES_SCATTER;
    config->image_norm = FEATURES_IMAGE_NORM_AUTO;
    config->scatter_J = 2;
    config->scatter_L = 8;
    config->scatter_max_order = 2;
    features_hog_params_default(&config->hog);
}

static const char *const kind_names[] = {"raw", "scatter", "hog"};
static const char *const norm_names[] = {"auto", "none", "imagenet"};

int features_extractor_kind_parse(const char *text, features_extractor_kind *kind, dpkit_error *err)
{
    for (int k = 0; k < 3; k++)
        if (strcmp(text, kind_names[k]) == 0) {
            *kind = (features_extractor_kind)k;
            return 0;
        }
    return error_set(err, "extractor '%s': expected raw, scatter or hog", text);
}

const char *features_extractor_kind_name(features_extractor_kind kind)
{
    return (unsigned)kind < 3 ? kind_names[kind] : "?";
}

int features_image_norm_parse(const char *text, features_image_norm *norm, dpkit_error *err)
{
    for (int k = 0; k < 3; k++)
        if (strcmp(text, norm_names[k]) == 0) {
            *norm = (features_image_norm)k;
            return 0;
        }
    return error_set(err, "image_norm '%s': expected auto, none or imagenet", text);
}

int features_image_norm_is_imagenet(const features_extractor_config *config, size_t channels)
{
    if (config->image_norm == FEATURES_IMAGE_NORM_AUTO)
        return channels == 3;
    return config->image_norm == FEATURES_IMAGE_NORM_IMAGENET;
}

int features_extractor_describe(const features_extractor_config *config, size_t channels,
                                char *text, size_t size)
{
    const char *norm = features_image_norm_is_imagenet(config, channels) ? "imagenet" : "none";
    const features_hog_params *h = &config->hog;
    int n;
    switch (config->kind) {
    case FEATURES_SCATTER:
        n = snprintf(text, size, "extractor=scatter;J=%d;L=%d;max_order=%d;image_norm=%s",
                     config->scatter_J, config->scatter_L, config->scatter_max_order, norm);
        break;
    case FEATURES_HOG:
        n = snprintf(text, size,
                     "extractor=hog;orientations=%d;cell=%dx%d;block=%dx%d;block_norm=%s;"
                     "image_norm=%s",
                     h->orientations, h->cell_rows, h->cell_cols, h->block_rows, h->block_cols,
                     features_hog_block_norm_name(h->block_norm), norm);
        break;
    default:
        n = snprintf(text, size, "extractor=raw;image_norm=%s", norm);
    }
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int features_extractor_create(const features_extractor_config *config, size_t channels,
                              size_t height, size_t width, size_t max_chunk,
                              features_extractor **out, dpkit_error *err)
{
    *out = NULL;
    if (channels < 1 || height < 1 || width < 1 || max_chunk < 1)
        return error_set(err, "features: empty image shape %zux%zux%zu", channels, height, width);
    features_extractor *ex = calloc(1, sizeof *ex);
    if (!ex)
        return error_set(err, "features: out of memory");
    ex->config = *config;
    ex->imagenet = features_image_norm_is_imagenet(config, channels);
    if (ex->imagenet && channels != 3) {
        free(ex);
        return error_set(err, "features.image_norm: imagenet needs 3-channel images, these have "
                              "%zu", channels);
    }
    ex->channels = channels;
    ex->height = height;
    ex->width = width;
    ex->max_chunk = max_chunk;
    int status = 0;
    switch (config->kind) {
    case FEATURES_RAW:
        ex->out_channels = channels, ex->out_height = height, ex->out_width = width;
        break;
    case FEATURES_SCATTER:
        status = scatter_plan_create(config->scatter_J, config->scatter_L,
                                     config->scatter_max_order, height, width, NULL, &ex->plan,
                                     err);
        if (!status) {
            ex->out_channels = channels * scatter_plan_channels(ex->plan);
            ex->out_height = scatter_plan_output_height(ex->plan);
            ex->out_width = scatter_plan_output_width(ex->plan);
        }
        break;
    case FEATURES_HOG:
        status = features_hog_output_size(&config->hog, height, width, &ex->out_channels, err);
        ex->out_height = ex->out_width = 1;
        break;
    default:
        status = error_set(err, "features: unknown extractor %d", (int)config->kind);
    }
    if (!status && config->kind != FEATURES_RAW) {
        ex->pixels = malloc(max_chunk * channels * height * width * sizeof *ex->pixels);
        if (!ex->pixels)
            status = error_set(err, "features: out of memory for %zu images", max_chunk);
    }
    if (status) {
        features_extractor_free(ex);
        return error_prefix(err, "features (%s)", kind_names[config->kind]);
    }
    *out = ex;
    return 0;
}

void features_extractor_free(features_extractor *ex)
{
    if (!ex)
        return;
    scatter_plan_free(ex->plan);
    MEMORY_FREE_ALL(ex->pixels, ex);
}

void features_extractor_shape(const features_extractor *ex, size_t *channels, size_t *height,
                              size_t *width)
{
    *channels = ex->out_channels;
    *height = ex->out_height;
    *width = ex->out_width;
}

/* Pixels of images [first, first + count) scaled to [0, 1] (and standardised) into out. */
static void preprocess(const features_extractor *ex, const dataset_split *split, size_t first,
                       size_t count, float *out)
{
    size_t plane = ex->height * ex->width, item = ex->channels * plane;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) {
        for (size_t c = 0; c < ex->channels; c++) {
            size_t base = (first + i) * item + c * plane;
            float *o = out + i * item + c * plane;
            double mean = ex->imagenet ? features_imagenet_mean[c] : 0.0;
            double inv_std = ex->imagenet ? 1.0 / features_imagenet_std[c] : 1.0;
            if (split->dtype == DATASET_UINT8) {
                const uint8_t *p = (const uint8_t *)split->images + base;
                for (size_t k = 0; k < plane; k++)
                    o[k] = (float)(((double)p[k] / 255.0 - mean) * inv_std);
            } else {
                const float *p = (const float *)split->images + base;
                for (size_t k = 0; k < plane; k++)
                    o[k] = (float)(((double)p[k] - mean) * inv_std);
            }
        }
    }
}

int features_extractor_run(features_extractor *ex, const dataset_split *split, size_t first,
                           size_t count, float *out, dpkit_error *err)
{
    if (split->channels != ex->channels || split->height != ex->height ||
        split->width != ex->width)
        return error_set(err, "features: images are %zux%zux%zu, the extractor was set up for "
                              "%zux%zux%zu", split->channels, split->height, split->width,
                         ex->channels, ex->height, ex->width);
    if (count > ex->max_chunk || first + count > split->count)
        return error_set(err, "features: chunk [%zu, %zu) outside the split or too large",
                         first, first + count);
    switch (ex->config.kind) {
    case FEATURES_RAW:
        preprocess(ex, split, first, count, out);
        return 0;
    case FEATURES_SCATTER:
        preprocess(ex, split, first, count, ex->pixels);
        /* (N, C, H, W) is N*C single-channel images; the output (N*C, K, H', W') is then
         * (N, C*K, H', W') with channel c's K coefficients together, as Kymatio's (N, C, K, ..). */
        return scatter_execute(ex->plan, count * ex->channels, ex->pixels, out, err);
    case FEATURES_HOG:
        preprocess(ex, split, first, count, ex->pixels);
        return features_hog(&ex->config.hog, ex->pixels, count, ex->channels, ex->height,
                            ex->width, out, err);
    }
    return error_set(err, "features: unknown extractor");
}
