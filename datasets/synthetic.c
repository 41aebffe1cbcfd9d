/* Synthetic class-conditional images for tests: each class has a smooth random mean pattern
 * (random values on a coarse 4 x 4 grid per channel, blown up to the image size) and an example
 * is its class pattern plus Gaussian pixel noise, so both raw-pixel and scattering classifiers
 * can learn it. */
#include "datasets/datasets_internal.h"

#include "common/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNTHETIC_GRID 4
#define SYNTHETIC_NOISE_STD 32.0

static int fill_split(dataset_split *split, size_t count, int class_count, size_t channels,
                      size_t height, size_t width, const float *means, rng *r, dpkit_error *err)
{
    size_t pixels = channels * height * width;
    datasets_split_set_uint8(split, count, channels, height, width);
    split->images = malloc(count > 0 ? count * pixels : 1);
    split->labels = malloc(count > 0 ? count * sizeof *split->labels : 1);
    if (!split->images || !split->labels)
        return error_set(err, "out of memory for %zu synthetic images", count);
    uint8_t *images = split->images;
    for (size_t i = 0; i < count; i++) {
        /* Round-robin labels keep the classes balanced. */
        int label = (int)(i % (size_t)class_count);
        split->labels[i] = label;
        const float *mean = means + (size_t)label * pixels;
        for (size_t p = 0; p < pixels; p++) {
            double value = mean[p] + SYNTHETIC_NOISE_STD * rng_gaussian(r);
            value = value < 0 ? 0 : value > 255 ? 255 : value;
            images[i * pixels + p] = (uint8_t)lround(value);
        }
    }
    return 0;
}

int datasets_make_synthetic(size_t train_count, size_t test_count, int class_count,
                            size_t channels, size_t height, size_t width, uint64_t seed,
                            dataset *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    if (class_count < 2 || class_count > 1000)
        return error_set(err, "synthetic data: class_count %d: expected 2..1000", class_count);
    if (channels < 1 || channels > 64 || height < 1 || height > 1024 || width < 1 ||
        width > 1024)
        return error_set(err,
                         "synthetic data: image shape %zu x %zu x %zu: expected 1..64 channels "
                         "and sides 1..1024",
                         channels, height, width);
    if (train_count > 10000000 || test_count > 10000000)
        return error_set(err, "synthetic data: %zu train / %zu test examples: at most 10000000",
                         train_count, test_count);
    snprintf(out->name, sizeof out->name, "synthetic");
    size_t pixels = channels * height * width;
    float *means = malloc((size_t)class_count * pixels * sizeof *means);
    if (!means)
        return error_set(err, "out of memory for synthetic class patterns");
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_SYNTHETIC);
    for (int k = 0; k < class_count; k++) {
        for (size_t c = 0; c < channels; c++) {
            float grid[SYNTHETIC_GRID][SYNTHETIC_GRID];
            for (int gy = 0; gy < SYNTHETIC_GRID; gy++)
                for (int gx = 0; gx < SYNTHETIC_GRID; gx++)
                    grid[gy][gx] = (float)(40.0 + 175.0 * rng_uniform(&r));
            float *plane = means + ((size_t)k * channels + c) * height * width;
            for (size_t y = 0; y < height; y++)
                for (size_t x = 0; x < width; x++)
                    plane[y * width + x] =
                        grid[y * SYNTHETIC_GRID / height][x * SYNTHETIC_GRID / width];
        }
    }
    int status = 0;
    if (datasets_set_class_names(out, class_count, NULL, err) != 0 ||
        fill_split(&out->train, train_count, class_count, channels, height, width, means, &r,
                   err) != 0 ||
        fill_split(&out->test, test_count, class_count, channels, height, width, means, &r,
                   err) != 0)
        status = -1;
    free(means);
    if (status != 0)
        dataset_free(out);
    return status;
}
