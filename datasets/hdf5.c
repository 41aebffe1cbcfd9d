/* User data in HDF5: /train/x, /train/y, /test/x, /test/y (format in docs/datasets.md), so
 * users can bring their own images or pre-computed embeddings. */
#include "datasets/datasets_internal.h"

#include "common/h5io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDF5_MAX_CLASSES 100000
#define HDF5_MAX_SIDE 65536

/* The HDF5 class of the stored element type: H5T_INTEGER, H5T_FLOAT, ... */
static H5T_class_t stored_class(h5io_file *f, const char *path, int *is_unsigned_byte)
{
    *is_unsigned_byte = 0;
    hid_t dset = H5Dopen2(f->id, path, H5P_DEFAULT);
    if (dset < 0)
        return H5T_NO_CLASS;
    hid_t type = H5Dget_type(dset);
    H5T_class_t type_class = H5Tget_class(type);
    if (type_class == H5T_INTEGER && H5Tget_size(type) == 1 && H5Tget_sign(type) == H5T_SGN_NONE)
        *is_unsigned_byte = 1;
    H5Tclose(type);
    H5Dclose(dset);
    return type_class;
}

/* HWC (channels last, as numpy stores images) -> CHW, the layout of dataset_split. */
static void to_channels_first(const uint8_t *from, uint8_t *to, size_t count, size_t pixels,
                              size_t channels, size_t element)
{
    for (size_t i = 0; i < count; i++) {
        const uint8_t *src = from + i * pixels * channels * element;
        uint8_t *dst = to + i * pixels * channels * element;
        for (size_t p = 0; p < pixels; p++)
            for (size_t c = 0; c < channels; c++)
                memcpy(dst + (c * pixels + p) * element, src + (p * channels + c) * element,
                       element);
    }
}

static int load_split(h5io_file *f, const char *split_name, dataset_split *out,
                      int32_t *max_label, dpkit_error *err)
{
    char x_path[64], y_path[64];
    snprintf(x_path, sizeof x_path, "/%s/x", split_name);
    snprintf(y_path, sizeof y_path, "/%s/y", split_name);
    if (!h5io_exists(f, x_path) || !h5io_exists(f, y_path))
        return error_set(err, "%s: %s or %s is missing: expected /train/x, /train/y, /test/x "
                              "and /test/y",
                         f->path, x_path, y_path);
    int is_byte;
    H5T_class_t x_class = stored_class(f, x_path, &is_byte);
    if (x_class != H5T_FLOAT && !is_byte)
        return error_set(err, "%s: %s has an unsupported element type: expected uint8 or float",
                         f->path, x_path);
    int y_byte;
    if (stored_class(f, y_path, &y_byte) != H5T_INTEGER)
        return error_set(err, "%s: %s must hold integer labels", f->path, y_path);

    int rank;
    size_t dims[H5IO_MAX_RANK];
    if (h5io_array_shape(f, x_path, &rank, dims, err) != 0)
        return -1;
    if (rank < 2 || rank > 4)
        return error_set(err, "%s: %s has rank %d: expected (N, D), (N, H, W) or (N, H, W, C)",
                         f->path, x_path, rank);
    for (int i = 1; i < rank; i++)
        if (dims[i] == 0 || dims[i] > HDF5_MAX_SIDE)
            return error_set(err, "%s: %s has absurd dimension %zu (axis %d): expected 1..%d",
                             f->path, x_path, dims[i], i, HDF5_MAX_SIDE);
    size_t count = dims[0];
    /* Embeddings (N, D) become D channels of a 1 x 1 image. */
    size_t channels = rank == 2 ? dims[1] : rank == 4 ? dims[3] : 1;
    size_t height = rank == 2 ? 1 : dims[1];
    size_t width = rank == 2 ? 1 : dims[2];
    size_t element = is_byte ? 1 : sizeof(float);
    size_t per_example = channels * height * width;
    if (per_example > DATASETS_MAX_FILE_BYTES / element ||
        (count && count > DATASETS_MAX_FILE_BYTES / element / per_example))
        return error_set(err, "%s: %s is absurdly large (%zu examples of %zu values)", f->path,
                         x_path, count, per_example);

    int y_rank;
    size_t y_dims[H5IO_MAX_RANK];
    if (h5io_array_shape(f, y_path, &y_rank, y_dims, err) != 0)
        return -1;
    if (y_rank != 1 || y_dims[0] != count)
        return error_set(err, "%s: %s has %zu labels (rank %d) but %s has %zu examples: expected "
                              "one label per example",
                         f->path, y_path, y_rank == 1 ? y_dims[0] : 0, y_rank, x_path, count);

    void *x;
    if (h5io_read_array(f, x_path, is_byte ? H5IO_UINT8 : H5IO_FLOAT32, &rank, dims, &x, err) !=
        0)
        return -1;
    int32_t *y;
    if (h5io_read_array(f, y_path, H5IO_INT32, &y_rank, y_dims, (void **)&y, err) != 0) {
        free(x);
        return -1;
    }
    out->count = count;
    out->channels = channels;
    out->height = height;
    out->width = width;
    out->dtype = is_byte ? DATASET_UINT8 : DATASET_FLOAT32;
    out->labels = y;
    if (rank == 4 && channels > 1) {
        out->images = malloc(count * per_example * element);
        if (!out->images) {
            free(x);
            return error_set(err, "%s: out of memory for %s", f->path, x_path);
        }
        to_channels_first(x, out->images, count, height * width, channels, element);
        free(x);
    } else {
        out->images = x;
    }
    if (!is_byte) {
        const float *values = out->images;
        for (size_t i = 0; i < count * per_example; i++)
            if (!isfinite(values[i]))
                return error_set(err, "%s: %s holds a non-finite value (%g) at element %zu",
                                 f->path, x_path, (double)values[i], i);
    }
    for (size_t i = 0; i < count; i++) {
        if (y[i] < 0 || y[i] >= HDF5_MAX_CLASSES)
            return error_set(err, "%s: label %d of example %zu in %s is out of range: expected "
                                  "0..%d",
                             f->path, y[i], i, y_path, HDF5_MAX_CLASSES - 1);
        if (y[i] > *max_label)
            *max_label = y[i];
    }
    return 0;
}

/* Class names from the optional comma-separated root attribute class_names. */
static int read_class_names(h5io_file *f, dataset *out, int class_count, dpkit_error *err)
{
    if (!h5io_has_attr(f, "/", "class_names"))
        return datasets_set_class_names(out, class_count, NULL, err);
    char *text;
    if (h5io_read_attr_string(f, "/", "class_names", &text, err) != 0)
        return -1;
    const char **names = calloc((size_t)class_count, sizeof *names);
    if (!names) {
        free(text);
        return error_set(err, "out of memory");
    }
    int found = 0;
    for (char *save = NULL, *name = strtok_r(text, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        if (found < class_count)
            names[found] = name;
        found++;
    }
    int status = 0;
    if (found != class_count)
        status = error_set(err, "%s: attribute class_names has %d names: expected %d (one per "
                                "class, separated by commas)",
                           f->path, found, class_count);
    else
        status = datasets_set_class_names(out, class_count, names, err);
    free(names);
    free(text);
    return status;
}

int datasets_load_hdf5(const char *path, dataset *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    h5io_file *f;
    if (h5io_open_read(path, &f, err) != 0)
        return -1;
    int32_t max_label = -1;
    int status = -1;
    if (load_split(f, "train", &out->train, &max_label, err) != 0 ||
        load_split(f, "test", &out->test, &max_label, err) != 0)
        goto done;
    if (out->train.channels != out->test.channels || out->train.height != out->test.height ||
        out->train.width != out->test.width || out->train.dtype != out->test.dtype) {
        error_set(err, "%s: train examples are %zu x %zu x %zu but test examples are %zu x %zu x "
                       "%zu (or their types differ): expected the same shape and type",
                  path, out->train.channels, out->train.height, out->train.width,
                  out->test.channels, out->test.height, out->test.width);
        goto done;
    }
    int class_count = max_label + 1;
    if (h5io_has_attr(f, "/", "class_count")) {
        long long declared;
        if (h5io_read_attr_int64(f, "/", "class_count", &declared, err) != 0)
            goto done;
        if (declared < 1 || declared > HDF5_MAX_CLASSES || declared <= max_label) {
            error_set(err, "%s: attribute class_count = %lld but the largest label is %d: "
                           "expected a count above every label (and at most %d)",
                      path, declared, max_label, HDF5_MAX_CLASSES);
            goto done;
        }
        class_count = (int)declared;
    }
    if (class_count < 1) {
        error_set(err, "%s: no examples, so no classes", path);
        goto done;
    }
    if (read_class_names(f, out, class_count, err) != 0)
        goto done;
    status = 0;
done:
    h5io_close(f);
    if (status != 0)
        dataset_free(out);
    return status;
}
