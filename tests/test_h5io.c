/* HDF5 helpers: round trips of every type and rank, attributes, atomic writes, bad files. */
#include "common/h5io.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void round_trip(h5io_type type, int rank)
{
    size_t dims[H5IO_MAX_RANK];
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        dims[i] = (size_t)(2 + i);
        count *= dims[i];
    }
    size_t elem = h5io_type_size(type);
    unsigned char *data = malloc(count * elem);
    for (size_t i = 0; i < count; i++) {
        switch (type) {
        case H5IO_FLOAT32: ((float *)data)[i] = (float)i * 0.5f - 3; break;
        case H5IO_FLOAT64: ((double *)data)[i] = (double)i * 0.25 - 1e-300; break;
        case H5IO_UINT8: ((uint8_t *)data)[i] = (uint8_t)(i * 7); break;
        case H5IO_INT32: ((int32_t *)data)[i] = (int32_t)i * -1000; break;
        case H5IO_INT64: ((int64_t *)data)[i] = (int64_t)i << 40; break;
        }
    }
    char path[512];
    snprintf(path, sizeof path, "%s/a.h5", test_temp_dir());
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_write_array(f, "/group/sub/x", type, rank, dims, data, &err), 0, "%s",
                 err.message);
    cr_assert_eq(h5io_commit(f, &err), 0, "%s", err.message);

    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    int got_rank;
    size_t got_dims[H5IO_MAX_RANK];
    void *got;
    cr_assert_eq(h5io_read_array(f, "/group/sub/x", type, &got_rank, got_dims, &got, &err), 0,
                 "%s", err.message);
    cr_assert_eq(got_rank, rank);
    for (int i = 0; i < rank; i++)
        cr_assert_eq(got_dims[i], dims[i]);
    cr_assert_eq(memcmp(got, data, count * elem), 0);
    free(got);
    h5io_close(f);
    free(data);
    unlink(path);
}

Test(h5io, round_trip_every_type_and_rank)
{
    h5io_type types[] = {H5IO_FLOAT32, H5IO_FLOAT64, H5IO_UINT8, H5IO_INT32, H5IO_INT64};
    for (int t = 0; t < 5; t++)
        for (int rank = 0; rank <= 5; rank++)
            round_trip(types[t], rank);
}

Test(h5io, converts_types_on_read)
{
    char path[512];
    snprintf(path, sizeof path, "%s/c.h5", test_temp_dir());
    dpkit_error err;
    h5io_file *f;
    uint8_t bytes[4] = {0, 1, 128, 255};
    size_t dims[1] = {4};
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(h5io_write_array(f, "x", H5IO_UINT8, 1, dims, bytes, &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    int rank;
    size_t got_dims[H5IO_MAX_RANK];
    float *x;
    cr_assert_eq(h5io_read_array(f, "x", H5IO_FLOAT32, &rank, got_dims, (void **)&x, &err), 0);
    cr_assert_eq(x[2], 128.0f);
    cr_assert_eq(x[3], 255.0f);
    free(x);
    h5io_close(f);
}

Test(h5io, attributes_round_trip)
{
    char path[512];
    snprintf(path, sizeof path, "%s/attr.h5", test_temp_dir());
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(h5io_ensure_group(f, "/a/b", &err), 0);
    cr_assert_eq(h5io_write_attr_string(f, "/a/b", "name", "scatter J=2 ε", &err), 0);
    cr_assert_eq(h5io_write_attr_double(f, "/", "epsilon", 2.5, &err), 0);
    cr_assert_eq(h5io_write_attr_int64(f, "/a", "steps", 1LL << 40, &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0);

    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    char *s;
    double d;
    long long n;
    cr_assert_eq(h5io_read_attr_string(f, "/a/b", "name", &s, &err), 0);
    cr_assert_str_eq(s, "scatter J=2 ε");
    free(s);
    cr_assert_eq(h5io_read_attr_double(f, "/", "epsilon", &d, &err), 0);
    cr_assert_eq(d, 2.5);
    cr_assert_eq(h5io_read_attr_int64(f, "/a", "steps", &n, &err), 0);
    cr_assert_eq(n, 1LL << 40);
    cr_assert(h5io_has_attr(f, "/a", "steps"));
    cr_assert(!h5io_has_attr(f, "/a", "nothing"));
    cr_assert_neq(h5io_read_attr_double(f, "/a", "missing", &d, &err), 0);
    cr_assert(strstr(err.message, "missing") != NULL);
    cr_assert_neq(h5io_read_attr_double(f, "/a/b", "name", &d, &err), 0);
    h5io_close(f);
}

/* The one-element dataset "v" of the file at path. */
static double stored_value(const char *path)
{
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    int rank;
    size_t dims[H5IO_MAX_RANK];
    double *v;
    cr_assert_eq(h5io_read_array(f, "v", H5IO_FLOAT64, &rank, dims, (void **)&v, &err), 0, "%s",
                 err.message);
    double value = *v;
    free(v);
    h5io_close(f);
    return value;
}

Test(h5io, failed_write_leaves_old_file_intact)
{
    char path[512];
    snprintf(path, sizeof path, "%s/keep.h5", test_temp_dir());
    dpkit_error err;
    h5io_file *f;
    double old_value = 1.0, new_value = 2.0;
    size_t dims[1] = {1};
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(h5io_write_array(f, "v", H5IO_FLOAT64, 1, dims, &old_value, &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0);

    /* A second writer that fails half-way (here: aborts) must not touch the old file. */
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(h5io_write_array(f, "v", H5IO_FLOAT64, 1, dims, &new_value, &err), 0);
    char temp_path[sizeof f->temp_path];
    strcpy(temp_path, f->temp_path);
    h5io_abort(f);
    cr_assert_neq(access(temp_path, F_OK), 0, "temporary file left behind");
    cr_assert_eq(stored_value(path), 1.0);

    /* h5io_finish aborts a writer whose writes failed and commits one whose writes succeeded */
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(h5io_write_array(f, "v", H5IO_FLOAT64, 1, dims, &new_value, &err), 0);
    strcpy(temp_path, f->temp_path);
    cr_assert_eq(h5io_finish(f, 1, &err), -1, "a failed write is not committed");
    cr_assert_neq(access(temp_path, F_OK), 0, "temporary file left behind");
    cr_assert_eq(stored_value(path), 1.0);
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    int status = h5io_write_array(f, "v", H5IO_FLOAT64, 1, dims, &new_value, &err);
    cr_assert_eq(h5io_finish(f, status, &err), 0, "%s", err.message);
    cr_assert_eq(stored_value(path), 2.0);
}

Test(h5io, bad_files_give_clear_errors)
{
    dpkit_error err;
    h5io_file *f;
    cr_assert_neq(h5io_open_read("/nonexistent/x.h5", &f, &err), 0);
    cr_assert(strstr(err.message, "/nonexistent/x.h5") != NULL);

    char path[512];
    snprintf(path, sizeof path, "%s/junk.h5", test_temp_dir());
    cr_assert_eq(test_write_file(path, "not hdf5 at all", 15), 0);
    cr_assert_neq(h5io_open_read(path, &f, &err), 0);
    cr_assert(strstr(err.message, "not an HDF5 file") != NULL, "%s", err.message);

    cr_assert_neq(h5io_create("/nonexistent-dir/y.h5", &f, &err), 0);
    cr_assert(strstr(err.message, "nonexistent-dir") != NULL);
}

Test(h5io, truncated_file_is_rejected)
{
    char path[512];
    snprintf(path, sizeof path, "%s/t.h5", test_temp_dir());
    dpkit_error err;
    h5io_file *f;
    float big[4096];
    memset(big, 0, sizeof big);
    size_t dims[1] = {4096};
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(h5io_write_array(f, "x", H5IO_FLOAT32, 1, dims, big, &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0);
    cr_assert_eq(truncate(path, 3000), 0);
    int status = h5io_open_read(path, &f, &err);
    if (status == 0) {
        int rank;
        size_t got[H5IO_MAX_RANK];
        void *data;
        status = h5io_read_array(f, "x", H5IO_FLOAT32, &rank, got, &data, &err);
        h5io_close(f);
    }
    cr_assert_neq(status, 0);
}

Test(h5io, missing_dataset_names_path)
{
    char path[512];
    snprintf(path, sizeof path, "%s/m.h5", test_temp_dir());
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    int rank;
    size_t dims[H5IO_MAX_RANK];
    void *data;
    cr_assert_neq(h5io_read_array(f, "/train/x", H5IO_FLOAT32, &rank, dims, &data, &err), 0);
    cr_assert(strstr(err.message, "/train/x") != NULL);
    h5io_close(f);
}

/* h5io_open_dataset says whether the dataset is missing or is a group, naming both. */
Test(h5io, open_dataset_names_file_and_path)
{
    char path[512];
    snprintf(path, sizeof path, "%s/open.h5", test_temp_dir());
    dpkit_error err;
    h5io_file *f;
    double one = 1.0;
    size_t dims[1] = {1};
    cr_assert_eq(h5io_create(path, &f, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_write_array(f, "/g/v", H5IO_FLOAT64, 1, dims, &one, &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0, "%s", err.message);
    hid_t dset = h5io_open_dataset(f, "/g/v", &err);
    cr_assert_geq(dset, 0, "%s", err.message);
    H5Dclose(dset);
    cr_assert_lt(h5io_open_dataset(f, "/g/w", &err), 0);
    cr_assert(strstr(err.message, path) && strstr(err.message, "dataset /g/w is missing"), "%s",
              err.message);
    cr_assert_lt(h5io_open_dataset(f, "/g", &err), 0);
    cr_assert(strstr(err.message, "/g is not a dataset"), "%s", err.message);
    h5io_close(f);
}
