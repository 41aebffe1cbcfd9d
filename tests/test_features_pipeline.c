/* Feature extractors on real images (raw and scatter equal the scatter module's output of the
 * preprocessed pixels) and the HDF5 feature cache (hit, miss on any parameter change, corrupt
 * or mismatched files rebuilt). */
#include "features/features.h"

#include "common/log.h"
#include "scatter/scatter.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet_logs(void)
{
    log_set_level(DPKIT_LOG_ERROR);
}

TestSuite(features_pipeline, .init = quiet_logs);

/* The first `count` images of a split as a split of its own. */
static dataset_split head(const dataset_split *split, size_t count)
{
    dataset_split h = *split;
    h.count = count;
    return h;
}

Test(features_pipeline, raw_and_scatter_of_mnist_images_match_the_scatter_module)
{
    dataset data;
    dpkit_error err;
    cr_assert_eq(dataset_load("mnist", &data, &err), 0, "%s", err.message);
    const size_t n = 6, pixels = 28 * 28;
    dataset_split split = head(&data.train, n);
    features_extractor_config config;
    features_extractor_config_default(&config);

    config.kind = FEATURES_RAW;
    features_extractor *ex;
    cr_assert_eq(features_extractor_create(&config, 1, 28, 28, n, &ex, &err), 0, "%s", err.message);
    float *raw = malloc(n * pixels * sizeof *raw);
    cr_assert_eq(features_extractor_run(ex, &split, 0, n, raw, &err), 0, "%s", err.message);
    const uint8_t *u = data.train.images;
    for (size_t j = 0; j < n * pixels; j++)
        cr_assert_eq(raw[j], (float)(u[j] / 255.0));
    features_extractor_free(ex);

    config.kind = FEATURES_SCATTER;
    cr_assert_eq(features_extractor_create(&config, 1, 28, 28, n, &ex, &err), 0, "%s", err.message);
    size_t c, h, w;
    features_extractor_shape(ex, &c, &h, &w);
    cr_assert_eq(c, 81);
    cr_assert_eq(h, 7);
    cr_assert_eq(w, 7);
    float *got = malloc(n * 81 * 49 * sizeof *got), *want = malloc(n * 81 * 49 * sizeof *want);
    cr_assert_eq(features_extractor_run(ex, &split, 0, n, got, &err), 0, "%s", err.message);
    features_extractor_free(ex);
    scatter_plan *plan;
    cr_assert_eq(scatter_plan_create(2, 8, 2, 28, 28, NULL, &plan, &err), 0);
    cr_assert_eq(scatter_execute(plan, n, raw, want, &err), 0);
    scatter_plan_free(plan);
    cr_assert_eq(memcmp(got, want, n * 81 * 49 * sizeof *got), 0);
    free(raw), free(got), free(want);
    dataset_free(&data);
}

Test(features_pipeline, cifar_images_are_standardised_per_channel_then_scattered)
{
    if (!test_dataset_dir("cifar10"))
        cr_skip_test("CIFAR-10 not fetched");
    dataset data;
    dpkit_error err;
    cr_assert_eq(dataset_load("cifar10", &data, &err), 0, "%s", err.message);
    const size_t n = 3, plane = 32 * 32;
    dataset_split split = head(&data.test, n);
    features_extractor_config config;
    features_extractor_config_default(&config);
    config.kind = FEATURES_RAW;
    features_extractor *ex;
    cr_assert_eq(features_extractor_create(&config, 3, 32, 32, n, &ex, &err), 0);
    float *raw = malloc(n * 3 * plane * sizeof *raw);
    cr_assert_eq(features_extractor_run(ex, &split, 0, n, raw, &err), 0);
    features_extractor_free(ex);
    const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
    const uint8_t *u = data.test.images;
    for (size_t i = 0; i < n; i++)
        for (size_t ch = 0; ch < 3; ch++)
            for (size_t k = 0; k < plane; k++) {
                size_t j = (i * 3 + ch) * plane + k;
                cr_assert_float_eq(raw[j], (u[j] / 255.0 - mean[ch]) / std[ch], 1e-6);
            }
    config.kind = FEATURES_SCATTER;
    cr_assert_eq(features_extractor_create(&config, 3, 32, 32, n, &ex, &err), 0);
    size_t c, h, w;
    features_extractor_shape(ex, &c, &h, &w);
    cr_assert_eq(c * h * w, 243 * 64); /* 15,552 features per image */
    float *got = malloc(n * 243 * 64 * sizeof *got), *want = malloc(n * 243 * 64 * sizeof *want);
    cr_assert_eq(features_extractor_run(ex, &split, 0, n, got, &err), 0);
    features_extractor_free(ex);
    scatter_plan *plan;
    cr_assert_eq(scatter_plan_create(2, 8, 2, 32, 32, NULL, &plan, &err), 0);
    cr_assert_eq(scatter_execute(plan, n * 3, raw, want, &err), 0);
    scatter_plan_free(plan);
    cr_assert_eq(memcmp(got, want, n * 243 * 64 * sizeof *got), 0);
    free(raw), free(got), free(want);
    dataset_free(&data);
}

Test(features_pipeline, hog_features_have_the_documented_length)
{
    dataset data;
    dpkit_error err;
    cr_assert_eq(datasets_make_synthetic(5, 5, 3, 1, 28, 28, 1, &data, &err), 0);
    features_extractor_config config;
    features_extractor_config_default(&config);
    config.kind = FEATURES_HOG;
    config.hog.cell_rows = config.hog.cell_cols = 7;
    config.hog.block_rows = config.hog.block_cols = 2;
    features_extractor *ex;
    cr_assert_eq(features_extractor_create(&config, 1, 28, 28, 5, &ex, &err), 0, "%s", err.message);
    size_t c, h, w;
    features_extractor_shape(ex, &c, &h, &w);
    cr_assert_eq(c, 324);
    cr_assert_eq(h * w, 1);
    features_extractor_free(ex);
    config.image_norm = FEATURES_IMAGE_NORM_IMAGENET; /* needs RGB */
    cr_assert_neq(features_extractor_create(&config, 1, 28, 28, 5, &ex, &err), 0);
    cr_assert(strstr(err.message, "3-channel"), "%s", err.message);
    dataset_free(&data);
}

static char cache_dir[1024];

static void use_fresh_cache(void)
{
    snprintf(cache_dir, sizeof cache_dir, "%s/cache", test_temp_dir());
    setenv("DPKIT_CACHE", cache_dir, 1);
}

static void cached(const features_extractor_config *config, const dataset *data, int force,
                   int expect_hit, features_set *out, features_cache_info *info)
{
    dpkit_error err;
    cr_assert_eq(features_cached(config, data, "train", force, out, info, &err), 0, "%s",
                 err.message);
    cr_assert_eq(info->hit, expect_hit, "%s: hit %d, expected %d", info->path, info->hit,
                 expect_hit);
}

/* Byte offset of the contiguous /features array in a cache file, from HDF5 itself, so the
 * corruption below lands inside the values whatever the file's layout. */
static size_t feature_array_offset(const char *path)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(file, 0);
    hid_t dset = H5Dopen2(file, "/features", H5P_DEFAULT);
    cr_assert_geq(dset, 0);
    haddr_t offset = H5Dget_offset(dset);
    H5Dclose(dset);
    H5Fclose(file);
    cr_assert_neq(offset, HADDR_UNDEF, "/features in %s is not contiguous", path);
    return (size_t)offset;
}

Test(features_pipeline, cache_is_hit_missed_and_rebuilt_when_it_should_be)
{
    use_fresh_cache();
    dataset data, other;
    dpkit_error err;
    cr_assert_eq(datasets_make_synthetic(40, 10, 3, 1, 16, 16, 1, &data, &err), 0);
    features_extractor_config config;
    features_extractor_config_default(&config);
    features_set a, b;
    features_cache_info info, info2;
    cached(&config, &data, 0, 0, &a, &info);
    cr_assert_eq(a.count, 40);
    cr_assert_eq(a.channels, 81);
    cr_assert_eq(a.height, 4);
    cached(&config, &data, 0, 1, &b, &info2);
    cr_assert_str_eq(info.path, info2.path);
    cr_assert_eq(memcmp(a.values, b.values, a.count * features_set_dimension(&a) * 4), 0);
    cr_assert_eq(memcmp(a.labels, data.train.labels, 40 * sizeof(int32_t)), 0);
    features_set_free(&b);
    cached(&config, &data, 1, 0, &b, &info2); /* --force */
    features_set_free(&b);

    /* any parameter change is a different entry */
    features_extractor_config changed = config;
    changed.scatter_L = 4;
    cached(&changed, &data, 0, 0, &b, &info2);
    cr_assert_str_neq(info.path, info2.path);
    features_set_free(&b);
    changed = config;
    changed.scatter_max_order = 1;
    cached(&changed, &data, 0, 0, &b, &info2);
    features_set_free(&b);

    /* same name, different images: the dataset checksum no longer matches, rebuilt */
    cr_assert_eq(datasets_make_synthetic(40, 10, 3, 1, 16, 16, 2, &other, &err), 0);
    cached(&config, &other, 0, 0, &b, &info2);
    cr_assert_str_eq(info.path, info2.path);
    features_set_free(&b);
    cached(&config, &data, 0, 0, &b, &info2); /* back to the first images: rebuilt again */
    features_set_free(&b);

    /* a flipped byte in the feature values: the content checksum catches it */
    size_t size;
    char *bytes = test_read_file(info.path, &size);
    cr_assert_not_null(bytes);
    size_t offset = feature_array_offset(info.path) + 4 * 1000; /* a byte of example 0 */
    cr_assert_lt(offset, size);
    bytes[offset] ^= 0x40;
    cr_assert_eq(test_write_file(info.path, bytes, size), 0);
    cached(&config, &data, 0, 0, &b, &info2);
    cr_assert_eq(memcmp(a.values, b.values, a.count * features_set_dimension(&a) * 4), 0);
    features_set_free(&b);
    /* a truncated file is rebuilt too */
    cr_assert_eq(test_write_file(info.path, bytes, size / 2), 0);
    cached(&config, &data, 0, 0, &b, &info2);
    cr_assert_eq(memcmp(a.values, b.values, a.count * features_set_dimension(&a) * 4), 0);
    features_set_free(&b);
    free(bytes);
    features_set_free(&a);
    dataset_free(&data);
    dataset_free(&other);
}
