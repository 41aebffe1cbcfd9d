/* Augmented copies of a split's images for augmentation multiplicity (docs/maths.md 4.17):
 * a left-right flip of every odd copy and a small translation with zero fill per image, drawn
 * from a public stream of the seed. */
#include "features/features.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void features_augment_describe(const features_augment_config *config, uint64_t seed,
                               size_t copy, char *text, size_t size)
{
    /* "flip=odd", not "flip=1": earlier builds flipped at random, and the other name keeps
     * the cached features of those copies from being taken for these */
    snprintf(text, size, "shift=%d;flip=%s;seed=%" PRIu64 ";copy=%zu", config->shift,
             config->flip ? "odd" : "0", seed, copy);
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
        for (size_t c = 0; c < in->channels; c++) {
            const unsigned char *p = src + (i * item + c * plane) * pixel;
            unsigned char *o = images + (i * item + c * plane) * pixel;
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
