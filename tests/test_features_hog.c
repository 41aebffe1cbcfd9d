/* HOG features: every case of the scikit-image reference (testdata/hog/hog_ref.h5) bit for bit,
 * the traps of docs/maths.md 8.4 on hand-built images, properties of the block norms, channels,
 * batching, and bad parameters. */
#include "features/features.h"

#include "common/h5io.h"
#include "common/rng.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void random_images(double *images, size_t n, uint64_t seed)
{
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_TEST);
    for (size_t k = 0; k < n; k++)
        images[k] = rng_uniform(&r);
}

static void read_pair_attr(h5io_file *f, const char *group, const char *name, int *a, int *b)
{
    long long v[2];
    hid_t attr = H5Aopen_by_name(f->id, group, name, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(attr >= 0, "%s: no attribute %s", group, name);
    cr_assert(H5Aread(attr, H5T_NATIVE_LLONG, v) >= 0);
    H5Aclose(attr);
    *a = (int)v[0];
    *b = (int)v[1];
}

static void check_reference_case(h5io_file *f, const char *group)
{
    dpkit_error err;
    features_hog_params p;
    long long orientations;
    char *norm_name = NULL;
    cr_assert_eq(h5io_read_attr_int64(f, group, "orientations", &orientations, &err), 0, "%s",
                 err.message);
    p.orientations = (int)orientations;
    read_pair_attr(f, group, "pixels_per_cell", &p.cell_rows, &p.cell_cols);
    read_pair_attr(f, group, "cells_per_block", &p.block_rows, &p.block_cols);
    cr_assert_eq(h5io_read_attr_string(f, group, "block_norm", &norm_name, &err), 0);
    cr_assert_eq(features_hog_block_norm_parse(norm_name, &p.block_norm, &err), 0, "%s",
                 err.message);
    free(norm_name);

    char path[256];
    int rank;
    size_t in_dims[H5IO_MAX_RANK], out_dims[H5IO_MAX_RANK];
    double *input = NULL, *expected = NULL;
    snprintf(path, sizeof path, "%s/input", group);
    cr_assert_eq(h5io_read_array(f, path, H5IO_FLOAT64, &rank, in_dims, (void **)&input, &err), 0);
    cr_assert_eq(rank, 3);
    snprintf(path, sizeof path, "%s/output", group);
    cr_assert_eq(h5io_read_array(f, path, H5IO_FLOAT64, &rank, out_dims, (void **)&expected, &err),
                 0);
    cr_assert_eq(rank, 2);
    size_t count = in_dims[0], size = 0;
    cr_assert_eq(out_dims[0], count);
    cr_assert_eq(features_hog_output_size(&p, in_dims[1], in_dims[2], &size, &err), 0, "%s",
                 err.message);
    cr_assert_eq(size, out_dims[1], "%s: feature length %zu, reference %zu", group, size,
                 out_dims[1]);

    /* docs/maths.md 8.9: an implementation of 8.1-8.7 reproduces hog() bit for bit on these cases
     * (max abs difference 0.0), so the tolerance is zero: exact equality in double, and the
     * float32 output is the reference rounded to float32. */
    double *exact = malloc(count * size * sizeof *exact);
    float *single = malloc(count * size * sizeof *single);
    cr_assert_eq(features_hog_f64_exact(&p, input, count, 1, in_dims[1], in_dims[2], exact, &err),
                 0, "%s", err.message);
    cr_assert_eq(features_hog_f64(&p, input, count, 1, in_dims[1], in_dims[2], single, &err), 0);
    size_t mismatches = 0, first = 0;
    for (size_t k = 0; k < count * size; k++) {
        if (exact[k] != expected[k] || single[k] != (float)expected[k]) {
            if (mismatches++ == 0)
                first = k;
        }
    }
    cr_assert_eq(mismatches, 0, "%s: %zu of %zu values differ, first at %zu: %.17g vs %.17g",
                 group, mismatches, count * size, first, exact[first], expected[first]);
    free(exact);
    free(single);
    free(input);
    free(expected);
}

Test(features_hog, matches_scikit_image_reference_exactly)
{
    dpkit_error err;
    h5io_file *f = NULL;
    const char *path = test_data_path("hog/hog_ref.h5");
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    H5G_info_t info;
    cr_assert(H5Gget_info(f->id, &info) >= 0);
    cr_assert_geq(info.nlinks, 2, "expected at least two reference cases");
    for (hsize_t i = 0; i < info.nlinks; i++) {
        char name[128];
        cr_assert(H5Lget_name_by_idx(f->id, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                     H5P_DEFAULT) > 0);
        check_reference_case(f, name);
    }
    h5io_close(f);
}

/* A 3x3 image, one 3x3 cell, one block, L1: only the centre pixel has a gradient. */
static void one_cell_hog(const double image[9], int orientations, double *out)
{
    features_hog_params p = {orientations, 3, 3, 1, 1, FEATURES_HOG_L1};
    dpkit_error err;
    cr_assert_eq(features_hog_f64_exact(&p, image, 1, 1, 3, 3, out, &err), 0, "%s", err.message);
}

Test(features_hog, orientation_180_is_dropped)
{
    /* Centre: g_r = 0.3 - (0.1 + 0.2) = -5.55e-17, g_c = 1, so o = 180.0 exactly, which lies in
     * no bin (docs/maths.md 8.3, 8.4); every other pixel has zero gradient. */
    double image[9] = {0, 0.1 + 0.2, 0, 0, 0, 1, 0, 0.3, 0};
    double out[9];
    one_cell_hog(image, 9, out);
    for (int i = 0; i < 9; i++)
        cr_assert_eq(out[i], 0.0, "bin %d = %g: the o = 180 pixel must not vote", i, out[i]);
    /* Control: with g_r = 0 exactly the pixel votes into bin 0. */
    image[7] = 0.1 + 0.2;
    one_cell_hog(image, 9, out);
    float mean = 1.0f / 9.0f;
    cr_assert_eq(out[0], (double)mean / ((double)mean + 1e-5));
    for (int i = 1; i < 9; i++)
        cr_assert_eq(out[i], 0.0);
}

Test(features_hog, exact_45_degrees_goes_to_upper_bin)
{
    /* Centre: g_r = g_c = 1, o = 45.0 = B_2 for 8 orientations: bin 2, not bin 1. */
    double image[9] = {0, 0, 0, 0, 0, 1, 0, 1, 0};
    double out[8];
    one_cell_hog(image, 8, out);
    for (int i = 0; i < 8; i++) {
        if (i == 2)
            cr_assert_gt(out[i], 0.99);
        else
            cr_assert_eq(out[i], 0.0, "bin %d = %g", i, out[i]);
    }
}

/* Norms of every block of one image's feature vector. */
static void check_blocks(const float *feature, size_t blocks, size_t K,
                         features_hog_block_norm norm)
{
    for (size_t b = 0; b < blocks; b++) {
        double l1 = 0, l2 = 0;
        for (size_t k = 0; k < K; k++) {
            double v = feature[b * K + k];
            cr_assert(v >= 0.0, "block %zu value %zu = %g is negative", b, k, v);
            l1 += v;
            l2 += v * v;
        }
        /* Float32 rounding of K values moves these sums by at most ~K * 6e-8. */
        double slack = 1e-6 * (double)K;
        switch (norm) {
        case FEATURES_HOG_L1:
            cr_assert_leq(l1, 1.0 + slack, "L1 block sum %.9g > 1", l1);
            break;
        case FEATURES_HOG_L1_SQRT:
            cr_assert_leq(l2, 1.0 + slack, "L1-sqrt block squares sum %.9g > 1", l2);
            break;
        case FEATURES_HOG_L2:
            cr_assert_leq(sqrt(l2), 1.0 + slack, "L2 block norm %.9g > 1", sqrt(l2));
            break;
        case FEATURES_HOG_L2_HYS:
            cr_assert_leq(sqrt(l2), 1.0 + slack, "L2-Hys block norm %.9g > 1", sqrt(l2));
            /* Random images have many non-zero bins per block, so the renormalised block is a
             * unit vector up to eps. */
            cr_assert_geq(sqrt(l2), 0.99, "L2-Hys block norm %.9g", sqrt(l2));
            break;
        }
    }
}

Test(features_hog, block_norms_are_bounded_and_non_negative)
{
    const size_t count = 3, height = 37, width = 29;
    double *images = malloc(count * height * width * sizeof *images);
    random_images(images, count * height * width, 1);
    for (int norm = FEATURES_HOG_L1; norm <= FEATURES_HOG_L2_HYS; norm++) {
        features_hog_params p = {7, 5, 3, 2, 3, (features_hog_block_norm)norm};
        size_t size;
        dpkit_error err;
        cr_assert_eq(features_hog_output_size(&p, height, width, &size, &err), 0);
        float *out = malloc(count * size * sizeof *out);
        cr_assert_eq(features_hog_f64(&p, images, count, 1, height, width, out, &err), 0);
        size_t K = 2 * 3 * 7;
        for (size_t e = 0; e < count; e++)
            check_blocks(out + e * size, size / K, K, (features_hog_block_norm)norm);
        free(out);
    }
    free(images);
}

Test(features_hog, output_size_formula)
{
    struct {
        int n, cr, cc, br, bc;
        size_t h, w;
    } cases[] = {{9, 8, 8, 3, 3, 64, 70}, {8, 4, 4, 1, 1, 28, 28}, {9, 7, 7, 2, 2, 28, 28},
                 {7, 5, 3, 2, 3, 37, 29}, {338, 6, 4, 1, 1, 30, 26}, {1, 1, 1, 1, 1, 1, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        features_hog_params p = {cases[i].n, cases[i].cr, cases[i].cc, cases[i].br, cases[i].bc,
                                 FEATURES_HOG_L2_HYS};
        size_t blocks_r = cases[i].h / (size_t)cases[i].cr - (size_t)cases[i].br + 1;
        size_t blocks_c = cases[i].w / (size_t)cases[i].cc - (size_t)cases[i].bc + 1;
        size_t expected = blocks_r * blocks_c * (size_t)(cases[i].br * cases[i].bc * cases[i].n);
        size_t size = 0;
        dpkit_error err;
        cr_assert_eq(features_hog_output_size(&p, cases[i].h, cases[i].w, &size, &err), 0, "%s",
                     err.message);
        cr_assert_eq(size, expected, "case %zu: %zu, expected %zu", i, size, expected);
    }
    /* MNIST with 7x7 cells and 2x2 blocks: 3x3 blocks of 2x2 cells of 9 bins. */
    features_hog_params p = {9, 7, 7, 2, 2, FEATURES_HOG_L2_HYS};
    size_t size;
    cr_assert_eq(features_hog_output_size(&p, 28, 28, &size, NULL), 0);
    cr_assert_eq(size, 324);
}

Test(features_hog, constant_image_gives_zeros)
{
    double image[20 * 20];
    for (int k = 0; k < 400; k++)
        image[k] = 0.5;
    features_hog_params p = {9, 4, 4, 2, 2, FEATURES_HOG_L2_HYS};
    float out[4 * 4 * 2 * 2 * 9];
    dpkit_error err;
    cr_assert_eq(features_hog_f64(&p, image, 1, 1, 20, 20, out, &err), 0);
    for (size_t k = 0; k < sizeof out / sizeof out[0]; k++)
        cr_assert_eq(out[k], 0.0f);
}

Test(features_hog, batch_equals_single_images_and_float32_widens_exactly)
{
    const size_t count = 9, height = 30, width = 26, pixels = height * width;
    features_hog_params p = {8, 4, 4, 2, 2, FEATURES_HOG_L2_HYS};
    double *images = malloc(count * pixels * sizeof *images);
    float *images32 = malloc(count * pixels * sizeof *images32);
    random_images(images, count * pixels, 2);
    for (size_t k = 0; k < count * pixels; k++) {
        images32[k] = (float)(round(images[k] * 255.0) / 255.0);
        images[k] = images32[k]; /* the same values in double */
    }
    size_t size;
    dpkit_error err;
    cr_assert_eq(features_hog_output_size(&p, height, width, &size, &err), 0);
    float *batch = malloc(count * size * sizeof *batch);
    float *from32 = malloc(count * size * sizeof *from32);
    float *single = malloc(size * sizeof *single);
    cr_assert_eq(features_hog_f64(&p, images, count, 1, height, width, batch, &err), 0);
    cr_assert_eq(features_hog(&p, images32, count, 1, height, width, from32, &err), 0);
    cr_assert_eq(memcmp(batch, from32, count * size * sizeof *batch), 0);
    for (size_t e = 0; e < count; e++) {
        cr_assert_eq(features_hog_f64(&p, images + e * pixels, 1, 1, height, width, single, &err),
                     0);
        cr_assert_eq(memcmp(single, batch + e * size, size * sizeof *single), 0, "image %zu", e);
    }
    free(images);
    free(images32);
    free(batch);
    free(from32);
    free(single);
}

Test(features_hog, channels_use_the_strongest_gradient)
{
    const size_t height = 24, width = 20, pixels = height * width;
    features_hog_params p = {9, 4, 4, 2, 2, FEATURES_HOG_L1};
    double grey[24 * 20], doubled[24 * 20], rgb[3 * 24 * 20];
    random_images(grey, pixels, 3);
    size_t size;
    dpkit_error err;
    cr_assert_eq(features_hog_output_size(&p, height, width, &size, &err), 0);
    double *expected = malloc(size * sizeof *expected);
    double *got = malloc(size * sizeof *got);

    /* Three equal channels: every pixel ties, the first channel wins: greyscale HOG. */
    for (int c = 0; c < 3; c++)
        memcpy(rgb + (size_t)c * pixels, grey, sizeof grey);
    cr_assert_eq(features_hog_f64_exact(&p, grey, 1, 1, height, width, expected, &err), 0);
    cr_assert_eq(features_hog_f64_exact(&p, rgb, 1, 3, height, width, got, &err), 0);
    cr_assert_eq(memcmp(expected, got, size * sizeof *got), 0);

    /* Green = 2 x grey (exact in double) has the larger gradient wherever there is one. */
    for (size_t k = 0; k < pixels; k++)
        doubled[k] = 2.0 * grey[k];
    memcpy(rgb + pixels, doubled, sizeof doubled);
    cr_assert_eq(features_hog_f64_exact(&p, doubled, 1, 1, height, width, expected, &err), 0);
    cr_assert_eq(features_hog_f64_exact(&p, rgb, 1, 3, height, width, got, &err), 0);
    cr_assert_eq(memcmp(expected, got, size * sizeof *got), 0);
    free(expected);
    free(got);
}

Test(features_hog, rejects_image_smaller_than_a_block)
{
    features_hog_params p;
    features_hog_params_default(&p); /* 3x3 blocks of 8x8 cells: at least 24x24 pixels */
    dpkit_error err;
    size_t size;
    float out[1];
    double image[20 * 20] = {0};
    cr_assert_eq(features_hog_output_size(&p, 20, 20, &size, &err), -1);
    cr_assert(strstr(err.message, "smaller than one block"), "%s", err.message);
    cr_assert(strstr(err.message, "24 x 24"), "%s", err.message);
    cr_assert_eq(features_hog_f64(&p, image, 1, 1, 20, 20, out, &err), -1);
    cr_assert_eq(features_hog_output_size(&p, 24, 23, &size, &err), -1);
    cr_assert_eq(features_hog_output_size(&p, 24, 24, &size, &err), 0);
    cr_assert_eq(size, 81);
    cr_assert_eq(features_hog_output_size(&p, 0, 0, &size, &err), -1);
}

Test(features_hog, rejects_bad_parameters)
{
    dpkit_error err;
    size_t size;
    double image[28 * 28] = {0};
    float out[1024];
    features_hog_params p;

    features_hog_params_default(&p);
    p.cell_rows = 0;
    cr_assert_eq(features_hog_output_size(&p, 28, 28, &size, &err), -1);
    cr_assert(strstr(err.message, "pixels_per_cell = 0 x 8"), "%s", err.message);
    cr_assert_eq(features_hog_f64(&p, image, 1, 1, 28, 28, out, &err), -1);

    features_hog_params_default(&p);
    p.cell_cols = -3;
    cr_assert_eq(features_hog_output_size(&p, 28, 28, &size, &err), -1);

    features_hog_params_default(&p);
    p.orientations = 0;
    cr_assert_eq(features_hog_output_size(&p, 28, 28, &size, &err), -1);
    cr_assert(strstr(err.message, "orientations = 0"), "%s", err.message);

    features_hog_params_default(&p);
    p.block_cols = 0;
    cr_assert_eq(features_hog_output_size(&p, 28, 28, &size, &err), -1);
    cr_assert(strstr(err.message, "cells_per_block"), "%s", err.message);

    features_hog_params_default(&p);
    p.block_norm = (features_hog_block_norm)7;
    cr_assert_eq(features_hog_output_size(&p, 28, 28, &size, &err), -1);

    features_hog_params_default(&p);
    cr_assert_eq(features_hog_f64(&p, image, 1, 0, 28, 28, out, &err), -1);
    cr_assert(strstr(err.message, "0 channels"), "%s", err.message);
    cr_assert_eq(features_hog_f64(&p, NULL, 1, 1, 28, 28, out, &err), -1);

    features_hog_block_norm norm;
    cr_assert_eq(features_hog_block_norm_parse("L2Hys", &norm, &err), -1);
    cr_assert(strstr(err.message, "'L2Hys'"), "%s", err.message);
    cr_assert_eq(features_hog_block_norm_parse("L1-sqrt", &norm, &err), 0);
    cr_assert_eq(norm, FEATURES_HOG_L1_SQRT);
    cr_assert_str_eq(features_hog_block_norm_name(FEATURES_HOG_L2_HYS), "L2-Hys");
}
