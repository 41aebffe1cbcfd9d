/* Augmented copies of a split's images for augmentation multiplicity (docs/maths.md 4.17):
 * a left-right flip of every odd copy, a small rotation and a small translation with zero fill
 * per image, drawn from a public stream of the seed. */
#include "features/features.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void features_augment_describe(const features_augment_config *config, uint64_t seed,
                               size_t copy, char *text, size_t size)
{
    /* "flip=odd", not "flip=1": earlier builds flipped at random, and the other name keeps
     * the cached features of those copies from being taken for these */
    int n = snprintf(text, size, "shift=%d;flip=%s;seed=%" PRIu64 ";copy=%zu", config->shift,
                     config->flip ? "odd" : "0", seed, copy);
    if (config->rotate > 0 && n >= 0 && (size_t)n < size) /* absent without: the keys before */
        snprintf(text + n, size - (size_t)n, ";rotate=%.17g", config->rotate);
}

/* Pixel k of a plane of uint8 (pixel 1) or float values, as a double. */
static double pixel_at(const unsigned char *plane, size_t k, size_t pixel)
{
    if (pixel == 1)
        return plane[k];
    float v;
    memcpy(&v, plane + k * sizeof v, sizeof v);
    return v;
}

/* One H x W plane of a rotated copy (docs/maths.md 4.17): out(y, x) = g(y - dy, x - dx) with
 * g the (flipped) image turned by `angle` radians about its centre, sampled bilinearly between
 * its pixels, zero outside it; uint8 values rounded to the nearest. */
static void rotate_plane(const unsigned char *in, unsigned char *out, size_t H, size_t W,
                         size_t pixel, int flip, long dy, long dx, double angle)
{
    double cy = 0.5 * (double)(H - 1), cx = 0.5 * (double)(W - 1);
    double c = cos(angle), s = sin(angle);
    for (size_t y = 0; y < H; y++)
        for (size_t x = 0; x < W; x++) {
            /* the point of the turned image that lands here, turned back */
            double a = (double)y - (double)dy - cy, b = (double)x - (double)dx - cx;
            double sy = cy + c * a - s * b, sx = cx + s * a + c * b;
            double y0 = floor(sy), x0 = floor(sx), fy = sy - y0, fx = sx - x0, v = 0;
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) {
                    double py = y0 + i, px = x0 + j;
                    double w = (i ? fy : 1 - fy) * (j ? fx : 1 - fx);
                    if (w == 0 || py < 0 || py > (double)(H - 1) || px < 0 || px > (double)(W - 1))
                        continue;
                    size_t col = (size_t)px;
                    if (flip)
                        col = W - 1 - col;
                    v += w * pixel_at(in, (size_t)py * W + col, pixel);
                }
            size_t k = y * W + x;
            if (pixel == 1) {
                long r = lround(v);
                out[k] = (unsigned char)(r < 0 ? 0 : r > 255 ? 255 : r);
            } else {
                float f = (float)v;
                memcpy(out + k * sizeof f, &f, sizeof f);
            }
        }
}

int features_augment_split(const dataset_split *in, const features_augment_config *config,
                           uint64_t seed, size_t copy, dataset_split *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    if (copy >= config->multiplicity)
        return error_set(err, "augmentation: copy %zu, expected 0..%zu", copy,
                         config->multiplicity - 1);
    if (config->shift < 0)
        return error_set(err, "augmentation: shift %d, expected >= 0", config->shift);
    if (!(config->rotate >= 0 && config->rotate <= 180))
        return error_set(err, "augmentation: rotation %g degrees, expected 0..180",
                         config->rotate);
    size_t H = in->height, W = in->width, plane = H * W, item = in->channels * plane;
    size_t pixel = in->dtype == DATASET_UINT8 ? 1 : sizeof(float);
    size_t values = in->count * item;
    unsigned char *images = calloc(values ? values : 1, pixel);
    if (!images)
        return error_set(err, "augmentation: out of memory for %zu images", in->count);
    *out = *in;
    out->images = images;
    if (copy == 0) {
        memcpy(images, in->images, values * pixel);
        return 0;
    }
    rng r;
    rng_init_seed(&r, seed * 0x9E3779B97F4A7C15ull + copy, RNG_STREAM_AUGMENT);
    uint64_t span = 2 * (uint64_t)config->shift + 1;
    const unsigned char *src = in->images;
    /* every odd copy flipped, so that with an even count of copies half of them are mirror
     * images: with 2 copies and no shift, exactly the image and its mirror (4.17) */
    int flip = config->flip && copy % 2 == 1;
    for (size_t i = 0; i < in->count; i++) {
        long dy = (long)rng_below(&r, span) - config->shift;
        long dx = (long)rng_below(&r, span) - config->shift;
        (void)rng_below(&r, 2); /* once a random flip; still drawn so the shifts stay those
                                 * measured in docs/RESULTS.md */
        /* drawn only with a rotation, so that the draws without one are those of before */
        double angle = config->rotate > 0
                           ? (2 * rng_uniform(&r) - 1) * config->rotate * (M_PI / 180)
                           : 0;
        for (size_t c = 0; c < in->channels; c++) {
            const unsigned char *p = src + (i * item + c * plane) * pixel;
            unsigned char *o = images + (i * item + c * plane) * pixel;
            if (angle != 0) {
                rotate_plane(p, o, H, W, pixel, flip, dy, dx, angle);
                continue;
            }
            for (long y = 0; y < (long)H; y++) {
                long sy = y - dy;
                if (sy < 0 || sy >= (long)H)
                    continue; /* a row from outside the image: zeros */
                for (long x = 0; x < (long)W; x++) {
                    long sx = x - dx;
                    if (sx < 0 || sx >= (long)W)
                        continue;
                    if (flip)
                        sx = (long)W - 1 - sx;
                    memcpy(o + ((size_t)y * W + (size_t)x) * pixel,
                           p + ((size_t)sy * W + (size_t)sx) * pixel, pixel);
                }
            }
        }
    }
    return 0;
}
