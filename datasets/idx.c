/* IDX files (MNIST, Fashion-MNIST; raw or gzip): a big-endian header (0, 0, type, rank, then
 * rank 32-bit sizes) followed by the array. Only unsigned-byte arrays are accepted. */
#include "datasets/datasets_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDX_TYPE_UBYTE 0x08
/* Far beyond any real image set; larger sizes mean a corrupt or hostile header. */
#define IDX_MAX_SIDE 4096u
#define IDX_MAX_COUNT 100000000u

static uint32_t big_endian_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the header of an IDX file of the expected rank into dims. */
static int read_idx_header(datasets_reader *r, const char *path, int expected_rank,
                           uint32_t dims[3], dpkit_error *err)
{
    uint8_t header[4 + 4 * 3];
    if (datasets_reader_read(r, header, 4, "the IDX magic number", err) != 0)
        return -1;
    if (header[0] != 0 || header[1] != 0 || header[2] != IDX_TYPE_UBYTE ||
        header[3] != expected_rank)
        return error_set(err,
                         "%s: wrong magic number 0x%02x%02x%02x%02x: expected 0x000008%02x (IDX "
                         "unsigned bytes, rank %d)",
                         path, header[0], header[1], header[2], header[3], expected_rank,
                         expected_rank);
    if (datasets_reader_read(r, header + 4, 4 * (size_t)expected_rank, "the IDX dimensions",
                             err) != 0)
        return -1;
    for (int i = 0; i < expected_rank; i++)
        dims[i] = big_endian_u32(header + 4 + 4 * i);
    if (dims[0] == 0 || dims[0] > IDX_MAX_COUNT)
        return error_set(err, "%s: absurd item count %u (expected 1..%u)", path, dims[0],
                         IDX_MAX_COUNT);
    for (int i = 1; i < expected_rank; i++)
        if (dims[i] == 0 || dims[i] > IDX_MAX_SIDE)
            return error_set(err, "%s: absurd image dimension %u (expected 1..%u)", path,
                             dims[i], IDX_MAX_SIDE);
    return 0;
}

int datasets_load_idx(const char *images_path, const char *labels_path, int class_count,
                      dataset_split *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    datasets_reader *images = NULL, *labels = NULL;
    uint8_t *label_bytes = NULL, *pixel_bytes = NULL;
    uint32_t image_dims[3], label_dims[3];

    if (datasets_reader_open(images_path, &images, err) != 0 ||
        read_idx_header(images, images_path, 3, image_dims, err) != 0)
        goto fail;
    if (datasets_reader_open(labels_path, &labels, err) != 0 ||
        read_idx_header(labels, labels_path, 1, label_dims, err) != 0)
        goto fail;
    if (image_dims[0] != label_dims[0]) {
        error_set(err, "%s has %u images but %s has %u labels: expected the same count",
                  images_path, image_dims[0], labels_path, label_dims[0]);
        goto fail;
    }
    size_t count = image_dims[0];
    size_t pixels = (size_t)image_dims[1] * image_dims[2];
    if (count * pixels > DATASETS_MAX_FILE_BYTES) {
        error_set(err, "%s: absurd size %zu x %u x %u", images_path, count, image_dims[1],
                  image_dims[2]);
        goto fail;
    }
    /* Buffers are sized by what the files really hold, not by what their headers claim. */
    if (datasets_reader_read_new(labels, count, "the labels", &label_bytes, err) != 0 ||
        datasets_reader_expect_end(labels, err) != 0 ||
        datasets_reader_read_new(images, count * pixels, "the pixels", &pixel_bytes, err) != 0)
        goto fail;
    out->images = pixel_bytes;
    if (datasets_reader_expect_end(images, err) != 0)
        goto fail;
    out->labels = malloc(count * sizeof *out->labels);
    if (!out->labels) {
        error_set(err, "out of memory for %zu labels", count);
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        if (label_bytes[i] >= class_count) {
            error_set(err, "%s: label %u of item %zu is out of range: expected 0..%d",
                      labels_path, label_bytes[i], i, class_count - 1);
            goto fail;
        }
        out->labels[i] = label_bytes[i];
    }
    free(label_bytes);
    datasets_reader_close(images);
    datasets_reader_close(labels);
    datasets_split_set_uint8(out, count, 1, image_dims[1], image_dims[2]);
    return 0;
fail:
    free(label_bytes);
    datasets_split_free(out);
    datasets_reader_close(images);
    datasets_reader_close(labels);
    return -1;
}

int datasets_load_mnist_like(const char *name, const char *directory, dataset *out,
                             dpkit_error *err)
{
    static const char *const fashion_names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                "Bag",         "Ankle boot"};
    const char *const *names = strcmp(name, "fashion-mnist") == 0 ? fashion_names : NULL;
    char images[4200], labels[4200];
    if (datasets_set_class_names(out, 10, names, err) != 0)
        return -1;
    const char *splits[2] = {"train", "t10k"};
    dataset_split *targets[2] = {&out->train, &out->test};
    for (int s = 0; s < 2; s++) {
        if (datasets_path(images, sizeof images, err, "%s/%s-images-idx3-ubyte", directory,
                          splits[s]) != 0 ||
            datasets_path(labels, sizeof labels, err, "%s/%s-labels-idx1-ubyte", directory,
                          splits[s]) != 0 ||
            datasets_load_idx(images, labels, 10, targets[s], err) != 0)
            return -1;
    }
    return 0;
}
