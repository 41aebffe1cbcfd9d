/* The scattering transform of an HDF5 image array into another HDF5 file (what `dpkit scatter`
 * runs): the input is checked (float, rank 3 or 4, not empty, every declared image stored in the
 * file, finite pixels) and transformed in chunks, so memory stays bounded; the output is written
 * atomically in Kymatio's layout. */
#include "scatter/scatter.h"

#include "common/h5io.h"
#include "common/log.h"
#include "common/progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES ((size_t)64 << 20)

/* Opens the input dataset and checks it is a float (N, H, W) or (N, C, H, W) array. */
static hid_t open_input(h5io_file *in, const scatter_file_job *jb, int *rank, hsize_t dims[4],
                        dpkit_error *err)
{
    if (!h5io_exists(in, jb->in_dataset)) {
        error_set(err, "%s: no dataset %s", jb->in_file, jb->in_dataset);
        return H5I_INVALID_HID;
    }
    hid_t dset = H5Dopen2(in->id, jb->in_dataset, H5P_DEFAULT);
    if (dset < 0) {
        error_set(err, "%s: %s is not a dataset", jb->in_file, jb->in_dataset);
        return H5I_INVALID_HID;
    }
    hid_t type = H5Dget_type(dset);
    int is_float = H5Tget_class(type) == H5T_FLOAT;
    size_t type_size = H5Tget_size(type);
    H5Tclose(type);
    hid_t space = H5Dget_space(dset);
    int r = H5Sget_simple_extent_ndims(space);
    if (r >= 3 && r <= 4)
        H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    if (!is_float || (type_size != 4 && type_size != 8)) {
        error_set(err, "%s: dataset %s must be float32 or float64", jb->in_file, jb->in_dataset);
    } else if (r != 3 && r != 4) {
        error_set(err, "%s: dataset %s has rank %d, expected 3 (N, H, W) or 4 (N, C, H, W)",
                  jb->in_file, jb->in_dataset, r);
    } else if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0 || (r == 4 && dims[3] == 0)) {
        error_set(err, "%s: dataset %s is empty (a dimension of its shape is 0): expected at "
                  "least one image of at least one pixel", jb->in_file, jb->in_dataset);
    } else if (h5io_check_storage(in, dset, jb->in_dataset, err) == 0) {
        /* the declared image count is backed by data in the file, so nothing of the size
         * of a forged header is allocated or written */
        *rank = r;
        return dset;
    }
    H5Dclose(dset);
    return H5I_INVALID_HID;
}

/* Selects images [first, first + count) along axis 0 of a dataset space. */
static hid_t select_images(hid_t dset, int rank, const hsize_t *dims, hsize_t first,
                           hsize_t count)
{
    hsize_t start[5] = {first, 0, 0, 0, 0}, size[5];
    for (int i = 0; i < rank; i++)
        size[i] = dims[i];
    size[0] = count;
    hid_t space = H5Dget_space(dset);
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, size, NULL);
    return space;
}

static int transform_all(const scatter_file_job *jb, h5io_file *in, hid_t in_set, int rank,
                         const hsize_t *dims, h5io_file *out, scatter_plan *plan,
                         dpkit_error *err)
{
    size_t channels = rank == 4 ? (size_t)dims[1] : 1;
    size_t H = (size_t)dims[rank - 2], W = (size_t)dims[rank - 1];
    size_t K = scatter_plan_channels(plan), oh = scatter_plan_output_height(plan),
           ow = scatter_plan_output_width(plan);
    size_t in_item = channels * H * W, out_item = channels * K * oh * ow;
    size_t chunk = jb->chunk > 0 ? (size_t)jb->chunk
                                 : CHUNK_BYTES / (4 * (in_item + out_item));
    if (chunk < 1)
        chunk = 1;
    if (chunk > (size_t)dims[0])
        chunk = dims[0] > 0 ? (size_t)dims[0] : 1;

    hsize_t out_dims[5];
    int out_rank = rank + 1;
    for (int i = 0; i < rank - 2; i++)
        out_dims[i] = dims[i];
    out_dims[rank - 2] = K;
    out_dims[rank - 1] = oh;
    out_dims[rank] = ow;
    const char *slash = strrchr(jb->out_dataset, '/');
    if (slash && slash != jb->out_dataset) {
        char parent[1024];
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - jb->out_dataset), jb->out_dataset);
        if (h5io_ensure_group(out, parent, err))
            return -1;
    }
    hid_t out_space = H5Screate_simple(out_rank, out_dims, NULL);
    hid_t out_set = H5Dcreate2(out->id, jb->out_dataset, H5T_IEEE_F32LE, out_space, H5P_DEFAULT,
                               H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(out_space);
    if (out_set < 0)
        return error_set(err, "%s: cannot create dataset %s", jb->out_file, jb->out_dataset);

    struct {
        float *input, *output;
    } b = {malloc(chunk * in_item * sizeof(float)), malloc(chunk * out_item * sizeof(float))};
    int status = 0;
    if (!b.input || !b.output) {
        status = error_set(err, "out of memory for a chunk of %zu images", chunk);
        goto done;
    }
    progress bar;
    progress_start(&bar, "scatter", (size_t)dims[0], "images");
    for (size_t first = 0; first < (size_t)dims[0]; first += chunk) {
        size_t count = (size_t)dims[0] - first < chunk ? (size_t)dims[0] - first : chunk;
        hid_t file_space = select_images(in_set, rank, dims, first, count);
        hsize_t mem_count = count * in_item;
        hid_t mem_space = H5Screate_simple(1, &mem_count, NULL);
        herr_t got = H5Dread(in_set, H5T_NATIVE_FLOAT, mem_space, file_space, H5P_DEFAULT,
                             b.input);
        H5Sclose(mem_space);
        H5Sclose(file_space);
        if (got < 0) {
            status = error_set(err, "%s: cannot read images %zu..%zu of %s", in->path, first,
                               first + count - 1, jb->in_dataset);
            goto done;
        }
        for (size_t j = 0; j < count * in_item; j++)
            if (!isfinite(b.input[j])) {
                status = error_set(err, "%s: dataset %s: value %g at image %zu, element %zu "
                                   "(flat index %zu) is not finite: expected finite pixels",
                                   in->path, jb->in_dataset, (double)b.input[j],
                                   first + j / in_item, j % in_item, first * in_item + j);
                goto done;
            }
        if (scatter_execute(plan, count * channels, b.input, b.output, err)) {
            status = -1;
            goto done;
        }
        file_space = select_images(out_set, out_rank, out_dims, first, count);
        mem_count = count * out_item;
        mem_space = H5Screate_simple(1, &mem_count, NULL);
        herr_t put = H5Dwrite(out_set, H5T_NATIVE_FLOAT, mem_space, file_space, H5P_DEFAULT,
                              b.output);
        H5Sclose(mem_space);
        H5Sclose(file_space);
        if (put < 0) {
            status = error_set(err, "%s: cannot write dataset %s (disk full?)", jb->out_file,
                               jb->out_dataset);
            goto done;
        }
        progress_update(&bar, first + count);
    }
    progress_finish(&bar);
done:
    H5Dclose(out_set);
    free(b.input);
    free(b.output);
    return status;
}

int scatter_file(const scatter_file_job *jb, dpkit_error *err)
{
    h5io_file *in = NULL, *out = NULL;
    scatter_plan *plan = NULL;
    hid_t in_set = H5I_INVALID_HID;
    int rank = 0, status = -1;
    hsize_t dims[4] = {0};
    if (h5io_open_read(jb->in_file, &in, err))
        goto done;
    in_set = open_input(in, jb, &rank, dims, err);
    if (in_set < 0)
        goto done;
    if (jb->wisdom) {
        dpkit_error ignored;
        if (scatter_wisdom_import(jb->wisdom, &ignored) == 0)
            log_debug("read FFTW wisdom from %s", jb->wisdom);
    }
    scatter_options o = scatter_default_options();
    o.threads = jb->threads;
    o.planning = jb->planning;
    if (scatter_plan_create(jb->J, jb->L, jb->max_order, (size_t)dims[rank - 2],
                            (size_t)dims[rank - 1], &o, &plan, err)) {
        error_prefix(err, "%s:%s", jb->in_file, jb->in_dataset);
        goto done;
    }
    if (jb->wisdom && scatter_wisdom_export(jb->wisdom, err))
        goto done;
    char shape[96];
    if (rank == 4)
        snprintf(shape, sizeof shape, "%llu x %llu", (unsigned long long)dims[0],
                 (unsigned long long)dims[1]);
    else
        snprintf(shape, sizeof shape, "%llu", (unsigned long long)dims[0]);
    log_info("scatter: %s images of %zu x %zu -> %zu channels of %zu x %zu (J=%d, L=%d, "
             "max_order=%d)", shape, (size_t)dims[rank - 2], (size_t)dims[rank - 1],
             scatter_plan_channels(plan),
             scatter_plan_output_height(plan), scatter_plan_output_width(plan), jb->J, jb->L,
             jb->max_order);
    if (h5io_create(jb->out_file, &out, err))
        goto done;
    if (transform_all(jb, in, in_set, rank, dims, out, plan, err))
        goto done;
    if (h5io_write_attr_int64(out, jb->out_dataset, "J", jb->J, err) ||
        h5io_write_attr_int64(out, jb->out_dataset, "L", jb->L, err) ||
        h5io_write_attr_int64(out, jb->out_dataset, "max_order", jb->max_order, err))
        goto done;
    H5Dclose(in_set);
    in_set = H5I_INVALID_HID;
    h5io_close(in);
    in = NULL;
    status = h5io_commit(out, err);
    out = NULL;
done:
    if (in_set >= 0)
        H5Dclose(in_set);
    h5io_close(in);
    h5io_abort(out);
    scatter_plan_free(plan);
    return status;
}

