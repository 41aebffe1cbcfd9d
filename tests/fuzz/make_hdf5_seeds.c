/* Writes the HDF5 seed files of the fuzz corpus of the user dataset loader (docs/datasets.md):
 * DIR/images-hwc.h5 (uint8 (N, H, W, C) images, class_count and class_names attributes) and
 * DIR/embeddings.h5 (float (N, D) rows, no attributes). Built and run by tests/fuzz/make-corpus. */
#include "common/h5io.h"

#include <stdint.h>
#include <stdio.h>

static int write_set(const char *path, int embeddings)
{
    h5io_file *f;
    dpkit_error err;
    uint8_t pixels[4 * 3 * 3 * 2];
    float rows[4 * 5];
    int32_t labels[4] = {0, 1, 2, 1};
    for (size_t i = 0; i < sizeof pixels; i++)
        pixels[i] = (uint8_t)(i * 37);
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        rows[i] = (float)i * 0.25f - 2.0f;
    size_t image_dims[4] = {4, 3, 3, 2}, row_dims[2] = {4, 5}, label_dims[1] = {4};
    const char *splits[2] = {"/train", "/test"};
    if (h5io_create(path, &f, &err))
        goto fail;
    for (int s = 0; s < 2; s++) {
        char x[64], y[64];
        snprintf(x, sizeof x, "%s/x", splits[s]);
        snprintf(y, sizeof y, "%s/y", splits[s]);
        int status = embeddings
                         ? h5io_write_array(f, x, H5IO_FLOAT32, 2, row_dims, rows, &err)
                         : h5io_write_array(f, x, H5IO_UINT8, 4, image_dims, pixels, &err);
        if (status || h5io_write_array(f, y, H5IO_INT32, 1, label_dims, labels, &err))
            goto fail_open;
    }
    if (!embeddings && (h5io_write_attr_int64(f, "/", "class_count", 3, &err) ||
                        h5io_write_attr_string(f, "/", "class_names", "cat,dog,bird", &err)))
        goto fail_open;
    if (h5io_commit(f, &err))
        goto fail;
    return 0;
fail_open:
    h5io_abort(f);
fail:
    fprintf(stderr, "%s: %s\n", path, err.message);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_hdf5_seeds DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/images-hwc.h5", argv[1]);
    if (write_set(path, 0))
        return 1;
    snprintf(path, sizeof path, "%s/embeddings.h5", argv[1]);
    return write_set(path, 1);
}
