/* Feature pipeline: handcrafted feature extractors (HOG here; raw and scattering beside it),
 * normalisation of feature tensors (group norm, private batch-norm statistics), and the HDF5
 * feature cache. Sections below, one per part; maths in docs/maths.md (HOG: section 8). */
#ifndef DPKIT_FEATURES_FEATURES_H
#define DPKIT_FEATURES_FEATURES_H

#include "accountant/accountant.h"
#include "common/error.h"
#include "common/rng.h"
#include "datasets/datasets.h"

#include <stddef.h>

/* ---------------------------------------------------------------------------------------------
 * HOG: histograms of oriented gradients, bit for bit scikit-image 0.19.3 skimage.feature.hog
 * (feature_vector=True, transform_sqrt=False) as specified in docs/maths.md section 8.
 * ------------------------------------------------------------------------------------------ */

typedef enum {
    FEATURES_HOG_L1,      /* v / (sum |v| + eps) */
    FEATURES_HOG_L1_SQRT, /* sqrt(v / (sum |v| + eps)) */
    FEATURES_HOG_L2,      /* v / sqrt(sum v^2 + eps^2) */
    FEATURES_HOG_L2_HYS   /* L2, clip at 0.2, L2 again (skimage's default) */
} features_hog_block_norm;

typedef struct features_hog_params {
    int orientations;                /* bins over [0, 180) degrees; default 9 */
    int cell_rows, cell_cols;        /* pixels_per_cell; default 8 x 8 */
    int block_rows, block_cols;      /* cells_per_block; default 3 x 3 */
    features_hog_block_norm block_norm; /* default L2-Hys */
} features_hog_params;

/* skimage's defaults: 9 orientations, 8x8-pixel cells, 3x3-cell blocks, L2-Hys. */
void features_hog_params_default(features_hog_params *params);
/* "L1", "L1-sqrt", "L2", "L2-Hys" (skimage's spellings); -1 naming the value otherwise. */
int features_hog_block_norm_parse(const char *text, features_hog_block_norm *norm,
                                  dpkit_error *err);
const char *features_hog_block_norm_name(features_hog_block_norm norm);

/* Checks the parameters against an image size and returns the feature length
 * n_blocks_r * n_blocks_c * block_rows * block_cols * orientations (docs/maths.md 8.1).
 * An image too small for one block is an error (skimage 0.19.3 returns an empty vector). */
int features_hog_output_size(const features_hog_params *params, size_t height, size_t width,
                             size_t *size, dpkit_error *err);

/* HOG of `count` images (count, channels, height, width) row-major into out (count, size),
 * OpenMP across images. float32 pixels are widened exactly to double, so the result is
 * skimage's hog() of the float64 array holding the same values, rounded to float32.
 * channels = 1: greyscale, exactly docs/maths.md 8. channels > 1 (e.g. CIFAR-10 RGB): skimage's
 * channel_axis rule, which docs/maths.md 8 does not cover: at every pixel the gradient (g_r, g_c)
 * of the channel with the largest magnitude hypot(g_r, g_c) is used (the first such channel on
 * ties), then the greyscale algorithm continues; no averaging over channels. */
int features_hog(const features_hog_params *params, const float *images, size_t count,
                 size_t channels, size_t height, size_t width, float *out, dpkit_error *err);
/* Same for float64 images (e.g. the reference inputs); output float32. */
int features_hog_f64(const features_hog_params *params, const double *images, size_t count,
                     size_t channels, size_t height, size_t width, float *out, dpkit_error *err);
/* Same with float64 output: equal to skimage's float64 output bit for bit (docs/maths.md 8.9). */
int features_hog_f64_exact(const features_hog_params *params, const double *images,
                           size_t count, size_t channels, size_t height, size_t width,
                           double *out, dpkit_error *err);

/* ---------------------------------------------------------------------------------------------
 * Normalisation of a float32 feature tensor (count, channels, spatial) row-major, where
 * spatial = height * width (a flat (count, D) matrix is channels = D, spatial = 1).
 *   none:       features used as they are.
 *   group-norm: per example, like torch.nn.GroupNorm(groups, channels, affine=False); it looks
 *               at one example at a time, so it costs no privacy.
 *   private-bn: per-channel mean and variance over the training set released with the Gaussian
 *               mechanism (Tramer & Boneh 2021), then applied to train and test features; two
 *               releases (mean, mean of squares), both recorded in the privacy ledger.
 * See docs/features.md.
 * ------------------------------------------------------------------------------------------ */

typedef enum {
    FEATURES_NORMALIZE_NONE,
    FEATURES_NORMALIZE_GROUP_NORM,
    FEATURES_NORMALIZE_PRIVATE_BN
} features_normalize_kind;

#define FEATURES_NORMALIZE_EPSILON 1e-5

typedef struct features_normalize_config {
    features_normalize_kind kind; /* default none */
    size_t groups;                /* group-norm: number of groups G (divides channels); default 27 */
    double noise_multiplier;      /* private-bn: sigma_bn; default 8 */
    /* private-bn: L2 bound on each example's per-channel mean vector and on its per-channel
     * mean-of-squares vector. Part of the configuration, never derived from the data. Default 1. */
    double clip_threshold;
    double epsilon;               /* added to the variance; default 1e-5 */
} features_normalize_config;

void features_normalize_config_default(features_normalize_config *config);
/* "none", "group-norm", "private-bn"; -1 naming the value otherwise. */
int features_normalize_kind_parse(const char *text, features_normalize_kind *kind,
                                  dpkit_error *err);
const char *features_normalize_kind_name(features_normalize_kind kind);

/* Group norm in place: per example, channel groups of channels/groups consecutive channels, each
 * standardised over its channels and spatial positions (biased variance, + epsilon). */
int features_group_norm(float *features, size_t count, size_t channels, size_t spatial,
                        size_t groups, double epsilon, dpkit_error *err);

/* Per-channel statistics released by private-bn. */
typedef struct features_bn_statistics {
    size_t channels;
    double *mean;     /* channels values */
    double *variance; /* channels values, >= 0 */
} features_bn_statistics;

/* Releases the per-channel mean and variance of the training features with differential
 * privacy: each example's per-channel mean vector and per-channel mean-of-squares vector are
 * clipped to L2 norm clip_threshold, summed, perturbed with N(0, (noise_multiplier *
 * clip_threshold)^2) per coordinate (secure Gaussian from `noise`, which must be on stream
 * RNG_STREAM_NORM_NOISE) and divided by count (public); variance = max(E[x^2] - mean^2, 0).
 * Records two events (q = 1, noise_multiplier) in `ledger` ("private-bn-mean",
 * "private-bn-meansq"). `stats` is allocated here; free with features_bn_statistics_free. */
int features_private_bn_statistics(const float *features, size_t count, size_t channels,
                                   size_t spatial, double clip_threshold,
                                   double noise_multiplier, rng *noise,
                                   accountant_ledger *ledger, features_bn_statistics *stats,
                                   dpkit_error *err);
/* In place: x = (x - mean[c]) / sqrt(variance[c] + epsilon), and x = 0 for a channel whose
 * variance is 0. */
int features_bn_apply(const features_bn_statistics *stats, float *features, size_t count,
                      size_t channels, size_t spatial, double epsilon, dpkit_error *err);
void features_bn_statistics_free(features_bn_statistics *stats);

/* The whole step for a run: fit on the training features (private-bn releases its statistics
 * and records them in the ledger; the others need nothing), then apply to any split. */
typedef struct features_normalizer {
    features_normalize_config config;
    size_t channels, spatial;
    features_bn_statistics statistics; /* private-bn only */
} features_normalizer;

int features_normalizer_fit(features_normalizer *normalizer,
                            const features_normalize_config *config, const float *train,
                            size_t count, size_t channels, size_t spatial, rng *noise,
                            accountant_ledger *ledger, dpkit_error *err);
int features_normalizer_apply(const features_normalizer *normalizer, float *features,
                              size_t count, size_t channels, size_t spatial, dpkit_error *err);
void features_normalizer_free(features_normalizer *normalizer);
/* grad (count, channels, spatial), the gradient with respect to the normalised features, in
 * place into the gradient with respect to `features`, the same examples before normalisation
 * (features/normalize_grad.c; for attacks). */
int features_normalizer_backward(const features_normalizer *normalizer, const float *features,
                                 float *grad, size_t count, dpkit_error *err);

/* The fitted normaliser under `group` of a model or checkpoint file (features/normalizer_h5.c).
 * Loading checks every value (finite statistics, positive sizes) and names file and field. */
struct h5io_file;
int features_normalizer_save_h5(const features_normalizer *normalizer, struct h5io_file *file,
                                const char *group, dpkit_error *err);
int features_normalizer_load_h5(features_normalizer *normalizer, struct h5io_file *file,
                                const char *group, dpkit_error *err);

/* ---------------------------------------------------------------------------------------------
 * Extractors: images of a dataset split -> float32 feature tensor (N, C', H', W'), flat
 * features as (N, D, 1, 1). Pixels are first scaled to [0, 1] (uint8 / 255; float images are
 * used as they are), then, with image_norm imagenet, standardised per channel with the ImageNet
 * mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) as Tramer & Boneh do for CIFAR-10.
 *   raw:     the preprocessed pixels;
 *   scatter: the scattering transform of each channel (scatter module, Kymatio layout), giving
 *            C * K channels of H/2^J x W/2^J (CIFAR-10 J=2 L=8: 243 x 8 x 8; MNIST 81 x 7 x 7);
 *   hog:     HOG descriptors (N, D).
 * ------------------------------------------------------------------------------------------ */

typedef enum { FEATURES_RAW, FEATURES_SCATTER, FEATURES_HOG } features_extractor_kind;
typedef enum { FEATURES_IMAGE_NORM_AUTO, FEATURES_IMAGE_NORM_NONE, FEATURES_IMAGE_NORM_IMAGENET } features_image_norm;

typedef struct features_extractor_config {
    features_extractor_kind kind;
    features_image_norm image_norm; /* auto: imagenet for 3-channel images, none otherwise */
    int scatter_J, scatter_L, scatter_max_order; /* default 2, 8, 2 */
    features_hog_params hog;
} features_extractor_config;

void features_extractor_config_default(features_extractor_config *config);
int features_extractor_kind_parse(const char *text, features_extractor_kind *kind, dpkit_error *err);
const char *features_extractor_kind_name(features_extractor_kind kind);
int features_image_norm_parse(const char *text, features_image_norm *norm, dpkit_error *err);
/* 1 when images of `channels` channels are standardised with the ImageNet statistics
 * (features_imagenet_mean, features_imagenet_std, per channel) before extraction. */
int features_image_norm_is_imagenet(const features_extractor_config *config, size_t channels);
extern const double features_imagenet_mean[3], features_imagenet_std[3];
/* The parameters as one canonical text ("extractor=scatter;J=2;L=8;max_order=2;image_norm=imagenet"),
 * with auto resolved for the given channel count; used as the cache key. */
int features_extractor_describe(const features_extractor_config *config, size_t channels,
                                char *text, size_t size);

/* An extractor set up for images of one shape (holds the scattering plan and buffers). */
typedef struct features_extractor features_extractor;
int features_extractor_create(const features_extractor_config *config, size_t channels,
                              size_t height, size_t width, size_t max_chunk,
                              features_extractor **out, dpkit_error *err);
void features_extractor_free(features_extractor *ex);
/* Output shape per example. */
void features_extractor_shape(const features_extractor *ex, size_t *channels, size_t *height,
                              size_t *width);
/* Features of images [first, first + count) of the split (count <= max_chunk) into out. */
int features_extractor_run(features_extractor *ex, const dataset_split *split, size_t first,
                           size_t count, float *out, dpkit_error *err);

/* ---------------------------------------------------------------------------------------------
 * Augmented copies of a split's images, for augmentation multiplicity (features/augment.c,
 * docs/maths.md 4.17). Copy c (1..multiplicity-1) of image i is the image flipped left-right
 * (when flip is set and c is odd), turned about its centre by an angle uniform in
 * [-rotate, rotate] degrees (bilinear, when rotate > 0) and then translated by (dy, dx), each
 * uniform in -shift..shift: out(y, x) = turned(y - dy, x - dx), 0 where that falls outside.
 * The draws come from the public stream RNG_STREAM_AUGMENT of (seed, c), image by image in
 * order: a function of the seed alone, never of the data. Copy 0 is the image itself.
 * ------------------------------------------------------------------------------------------ */

typedef struct features_augment_config {
    size_t multiplicity; /* copies per example, the original included; 1: none */
    int shift;           /* largest translation in pixels along each axis */
    int flip;            /* 1: every odd copy is flipped left-right */
    double rotate;       /* largest rotation in degrees (0: none) */
} features_augment_config;

/* Copy `copy` (0..multiplicity-1) of the images of `in` into out: out->images is allocated
 * (free it), out->labels points at in->labels, the shape and dtype are in's. */
int features_augment_split(const dataset_split *in, const features_augment_config *config,
                           uint64_t seed, size_t copy, dataset_split *out, dpkit_error *err);
/* "shift=2;flip=0;seed=7;copy=1" ("flip=odd" with flips, ";rotate=10" appended with a
 * rotation): the copy's part of its features' cache key. */
void features_augment_describe(const features_augment_config *config, uint64_t seed,
                               size_t copy, char *text, size_t size);

/* ---------------------------------------------------------------------------------------------
 * Feature cache: one HDF5 file per (dataset, split, extractor parameters) in the cache
 * directory ($DPKIT_CACHE, else "cache"), layout in docs/formats.md. A file is used only when
 * its key, dataset checksum (BLAKE2b of the split's images and labels), dpkit version, shape
 * and content checksum all match; otherwise it is rebuilt. Written in chunks, atomically.
 * ------------------------------------------------------------------------------------------ */

typedef struct features_set {
    size_t count, channels, height, width;
    float *values;    /* (count, channels, height, width) */
    int32_t *labels;  /* count */
} features_set;

void features_set_free(features_set *set);
/* Example size channels * height * width. */
size_t features_set_dimension(const features_set *set);

/* $DPKIT_CACHE, cache/ in a checkout, else $XDG_CACHE_HOME/dpkit (common/paths.h). */
const char *features_cache_dir(void);

typedef struct features_cache_info {
    char path[4096];
    int hit;         /* 1: loaded from the cache; 0: computed now */
    double seconds;  /* spent in this call */
    size_t file_bytes;
} features_cache_info;

/* Features of one split (split_name "train" or "test") of `data`, from the cache or computed
 * and cached. force: recompute even when a valid file exists. */
int features_cached(const features_extractor_config *config, const dataset *data,
                    const char *split_name, int force, features_set *out,
                    features_cache_info *info, dpkit_error *err);
/* The same for the examples first..first+count-1 only (count is cut at the split's end): one
 * rank's shard in a data-parallel training (docs/mpi.md). The whole file is still read and
 * checked, a slab at a time, but only these rows are held; max_bytes > 0 refuses, before
 * reading, a shard of more bytes. out->count is the shard's size. force < 0: never build, fail
 * when there is no valid file (the ranks that read what rank 0 built). */
int features_cached_rows(const features_extractor_config *config, const dataset *data,
                         const char *split_name, int force, size_t first, size_t count,
                         size_t max_bytes, features_set *out, features_cache_info *info,
                         dpkit_error *err);
/* The path of the cache file of a split (whether or not it exists). */
int features_cache_file(const features_extractor_config *config, const dataset *data,
                        const char *split_name, char *path, size_t size, dpkit_error *err);

#endif
