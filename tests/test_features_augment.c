/* Augmented copies of images (features/augment.c, docs/maths.md 4.17): copy 0 is the image,
 * copies are deterministic in the seed, and every copy is a translation by at most the shift
 * (of its mirror image for an odd copy when flips are asked) with zero fill, and with a
 * rotation the bilinear turn, as defined. */
#include "features/features.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { COUNT = 200, H = 5, W = 6 };

/* COUNT two-channel H x W uint8 images whose pixels are all distinct and nonzero within an
 * image, so that exactly one (flip, dy, dx) of a nonzero-shift set gives a copy. */
static dataset_split make_split(uint8_t *pixels, int32_t *labels)
{
    for (size_t i = 0; i < COUNT; i++) {
        labels[i] = (int32_t)(i % 3);
        for (size_t k = 0; k < 2 * H * W; k++)
            pixels[i * 2 * H * W + k] = (uint8_t)(1 + (k + i) % (2 * H * W));
    }
    return (dataset_split){.count = COUNT, .channels = 2, .height = H, .width = W,
                           .dtype = DATASET_UINT8, .images = pixels, .labels = labels};
}

/* value of the definition: flipped(y - dy, x - dx), 0 outside */
static uint8_t defined(const uint8_t *image, int flip, long dy, long dx, long y, long x)
{
    long sy = y - dy, sx = x - dx;
    if (sy < 0 || sy >= H || sx < 0 || sx >= W)
        return 0;
    return image[sy * W + (flip ? W - 1 - sx : sx)];
}

/* The (flip, dy, dx) within the shift that copy `out` of image `in` (2 channels) is, or -1. */
static int match(const uint8_t *in, const uint8_t *out, int shift, int *flip, long *dy,
                 long *dx)
{
    int found = 0;
    for (int f = 0; f < 2; f++)
        for (long a = -shift; a <= shift; a++)
            for (long b = -shift; b <= shift; b++) {
                int same = 1;
                for (long c = 0; c < 2 && same; c++)
                    for (long y = 0; y < H && same; y++)
                        for (long x = 0; x < W && same; x++)
                            same = out[c * H * W + y * W + x] ==
                                   defined(in + c * H * W, f, a, b, y, x);
                if (same)
                    *flip = f, *dy = a, *dx = b, found++;
            }
    return found == 1 ? 0 : -1;
}

Test(features_augment, copies_are_the_defined_shifts_and_flips)
{
    static uint8_t pixels[COUNT * 2 * H * W];
    static int32_t labels[COUNT];
    dataset_split in = make_split(pixels, labels);
    dpkit_error err;
    static long shifts[3][COUNT][2]; /* each image's (dy, dx) in copies 1 and 2 without flips */
    for (int flip_on = 0; flip_on < 2; flip_on++) {
        features_augment_config a = {.multiplicity = 3, .shift = 2, .flip = flip_on};
        dataset_split out;
        cr_assert_eq(features_augment_split(&in, &a, 5, 0, &out, &err), 0, "%s", err.message);
        cr_assert_eq(memcmp(out.images, pixels, sizeof pixels), 0, "copy 0 is not the original");
        cr_assert_eq(out.labels, labels);
        free(out.images);
        for (size_t copy = 1; copy < 3; copy++) {
            cr_assert_eq(features_augment_split(&in, &a, 5, copy, &out, &err), 0, "%s",
                         err.message);
            cr_assert_eq(out.count, COUNT);
            cr_assert_eq(out.channels * out.height * out.width, 2 * H * W);
            int seen[2][5][5] = {{{0}}}, flips = 0;
            for (size_t i = 0; i < COUNT; i++) {
                int f = 0;
                long dy = 0, dx = 0;
                const uint8_t *o = (const uint8_t *)out.images + i * 2 * H * W;
                cr_assert_eq(match(pixels + i * 2 * H * W, o, 2, &f, &dy, &dx), 0,
                             "copy %zu of image %zu is no single shift of it", copy, i);
                seen[f][dy + 2][dx + 2]++;
                flips += f;
                /* flips leave the shifts as they are without them */
                if (!flip_on)
                    shifts[copy][i][0] = dy, shifts[copy][i][1] = dx;
                else
                    cr_assert(shifts[copy][i][0] == dy && shifts[copy][i][1] == dx,
                              "copy %zu of image %zu: the flip moved its shift", copy, i);
            }
            /* flips only when asked, then every image of an odd copy and none of an even
             * one; 200 draws reach every one of the 25 shifts */
            cr_assert_eq(flips, flip_on && copy % 2 == 1 ? COUNT : 0, "copy %zu: %d flips",
                         copy, flips);
            for (int dy = 0; dy < 5; dy++)
                for (int dx = 0; dx < 5; dx++)
                    cr_assert(seen[0][dy][dx] + seen[1][dy][dx] > 0, "shift (%d, %d) never drawn",
                              dy - 2, dx - 2);
            free(out.images);
        }
    }
}

/* The same seed and copy give the same images; another seed or copy others. Float images
 * follow the same definition (zero fill). */
Test(features_augment, deterministic_in_the_seed_and_copy)
{
    static uint8_t pixels[COUNT * 2 * H * W];
    static int32_t labels[COUNT];
    dataset_split in = make_split(pixels, labels);
    dpkit_error err;
    features_augment_config a = {.multiplicity = 4, .shift = 1, .flip = 1};
    dataset_split first, again, other_seed, other_copy;
    cr_assert_eq(features_augment_split(&in, &a, 11, 2, &first, &err), 0);
    cr_assert_eq(features_augment_split(&in, &a, 11, 2, &again, &err), 0);
    cr_assert_eq(features_augment_split(&in, &a, 12, 2, &other_seed, &err), 0);
    cr_assert_eq(features_augment_split(&in, &a, 11, 3, &other_copy, &err), 0);
    cr_assert_eq(memcmp(first.images, again.images, sizeof pixels), 0);
    cr_assert_neq(memcmp(first.images, other_seed.images, sizeof pixels), 0);
    cr_assert_neq(memcmp(first.images, other_copy.images, sizeof pixels), 0);

    static float values[COUNT * 2 * H * W];
    for (size_t k = 0; k < sizeof values / sizeof *values; k++)
        values[k] = (float)pixels[k] / 255.0f;
    dataset_split in_float = in, out_float;
    in_float.dtype = DATASET_FLOAT32;
    in_float.images = values;
    cr_assert_eq(features_augment_split(&in_float, &a, 11, 2, &out_float, &err), 0);
    const uint8_t *u = first.images;
    const float *f = out_float.images;
    for (size_t k = 0; k < sizeof values / sizeof *values; k++)
        cr_assert_eq(f[k], (float)u[k] / 255.0f, "value %zu", k);
    free(first.images), free(again.images), free(other_seed.images), free(other_copy.images);
    free(out_float.images);
}

Test(features_augment, bad_arguments_are_refused)
{
    static uint8_t pixels[COUNT * 2 * H * W];
    static int32_t labels[COUNT];
    dataset_split in = make_split(pixels, labels), out;
    dpkit_error err;
    features_augment_config a = {.multiplicity = 2, .shift = 1, .flip = 0};
    cr_assert_eq(features_augment_split(&in, &a, 1, 2, &out, &err), -1);
    cr_assert(strstr(err.message, "copy 2, expected 0..1") != NULL, "%s", err.message);
    a.shift = -1;
    cr_assert_eq(features_augment_split(&in, &a, 1, 1, &out, &err), -1);
    cr_assert(strstr(err.message, "shift -1") != NULL, "%s", err.message);
    a.shift = 1, a.rotate = 200;
    cr_assert_eq(features_augment_split(&in, &a, 1, 1, &out, &err), -1);
    cr_assert(strstr(err.message, "rotation 200 degrees, expected 0..180") != NULL, "%s",
              err.message);
}

/* The definition of a rotated copy, written apart: for image i of copy c the stream of
 * (seed, c) gives dy, dx, one unused draw and then the angle; a pixel of the copy is the
 * bilinear value, at the point turned back about the centre, of the (flipped) image shifted by
 * (dy, dx), with zeros outside. */
static double reference_pixel(const double *image, int flip, long dy, long dx, double angle,
                              long y, long x)
{
    double cy = (H - 1) / 2.0, cx = (W - 1) / 2.0;
    double u = y - dy - cy, v = x - dx - cx;
    double py = cy + cos(angle) * u - sin(angle) * v, px = cx + sin(angle) * u + cos(angle) * v;
    double value = 0;
    for (long r = (long)floor(py); r <= (long)floor(py) + 1; r++)
        for (long q = (long)floor(px); q <= (long)floor(px) + 1; q++) {
            double w = fmax(0, 1 - fabs(py - r)) * fmax(0, 1 - fabs(px - q));
            if (r >= 0 && r < H && q >= 0 && q < W)
                value += w * image[r * W + (flip ? W - 1 - q : q)];
        }
    return value;
}

Test(features_augment, rotated_copies_are_the_defined_bilinear_turns)
{
    static uint8_t pixels[COUNT * 2 * H * W];
    static int32_t labels[COUNT];
    dataset_split in = make_split(pixels, labels);
    static float values[COUNT * 2 * H * W];
    for (size_t k = 0; k < sizeof values / sizeof *values; k++)
        values[k] = (float)pixels[k] / 255.0f;
    dataset_split in_float = in;
    in_float.dtype = DATASET_FLOAT32;
    in_float.images = values;
    dpkit_error err;
    features_augment_config a = {.multiplicity = 4, .shift = 1, .flip = 1, .rotate = 15};
    double largest = 0;
    for (size_t copy = 1; copy < 4; copy++) {
        dataset_split out, out_float;
        cr_assert_eq(features_augment_split(&in, &a, 9, copy, &out, &err), 0, "%s", err.message);
        cr_assert_eq(features_augment_split(&in_float, &a, 9, copy, &out_float, &err), 0);
        rng r;
        rng_init_seed(&r, 9 * 0x9E3779B97F4A7C15ull + copy, RNG_STREAM_AUGMENT);
        for (size_t i = 0; i < COUNT; i++) {
            long dy = (long)rng_below(&r, 3) - 1, dx = (long)rng_below(&r, 3) - 1;
            rng_below(&r, 2);
            double angle = (2 * rng_uniform(&r) - 1) * 15 * M_PI / 180;
            largest = fmax(largest, fabs(angle));
            for (size_t c = 0; c < 2; c++) {
                double image[H * W];
                for (size_t k = 0; k < H * W; k++)
                    image[k] = pixels[(i * 2 + c) * H * W + k];
                for (long y = 0; y < H; y++)
                    for (long x = 0; x < W; x++) {
                        size_t k = (i * 2 + c) * H * W + (size_t)(y * W + x);
                        double want = reference_pixel(image, copy % 2, dy, dx, angle, y, x);
                        cr_assert(fabs(((uint8_t *)out.images)[k] - want) <= 0.5 + 1e-9,
                                  "copy %zu image %zu (%ld, %ld): %d, expected %g", copy, i, y,
                                  x, ((uint8_t *)out.images)[k], want);
                        cr_assert(fabs(((float *)out_float.images)[k] - want / 255) <= 1e-5,
                                  "float copy %zu image %zu (%ld, %ld)", copy, i, y, x);
                    }
            }
        }
        free(out.images), free(out_float.images);
    }
    /* 600 angles uniform in [-15, 15] degrees reach near the bound */
    cr_assert_gt(largest, 14.0 * M_PI / 180);
    /* without a rotation the draws are those of before: the same shifts (tested above) */
    features_augment_config plain = {.multiplicity = 4, .shift = 1, .flip = 1};
    char with[128], without[128];
    features_augment_describe(&a, 9, 1, with, sizeof with);
    features_augment_describe(&plain, 9, 1, without, sizeof without);
    cr_assert_str_eq(with, "shift=1;flip=odd;seed=9;copy=1;rotate=15");
    cr_assert_str_eq(without, "shift=1;flip=odd;seed=9;copy=1");
}
