/* HDF5 array/attribute helpers with atomic writes (see h5io.h). */
#include "common/h5io.h"

#include "common/durable.h"
#include "common/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void silence_hdf5(void)
{
    /* HDF5 prints its error stack by default; dpkit reports errors through dpkit_error. */
    static int done = 0;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

size_t h5io_type_size(h5io_type type)
{
    switch (type) {
    case H5IO_FLOAT32: return 4;
    case H5IO_FLOAT64: return 8;
    case H5IO_UINT8: return 1;
    case H5IO_INT32: return 4;
    case H5IO_INT64: return 8;
    }
    return 0;
}

hid_t h5io_native_type(h5io_type type)
{
    switch (type) {
    case H5IO_FLOAT32: return H5T_NATIVE_FLOAT;
    case H5IO_FLOAT64: return H5T_NATIVE_DOUBLE;
    case H5IO_UINT8: return H5T_NATIVE_UINT8;
    case H5IO_INT32: return H5T_NATIVE_INT32;
    case H5IO_INT64: return H5T_NATIVE_INT64;
    }
    return H5T_NATIVE_FLOAT;
}

void h5io_close_each(const hid_t *ids, size_t count)
{
    /* H5Idec_ref closes any kind of identifier once its last reference goes */
    for (size_t i = 0; i < count; i++)
        if (ids[i] >= 0)
            H5Idec_ref(ids[i]);
}

static h5io_file *file_new(const char *path, dpkit_error *err)
{
    if (strlen(path) >= sizeof((h5io_file *)0)->path) {
        error_set(err, "%s: path too long", path);
        return NULL;
    }
    h5io_file *f = calloc(1, sizeof *f);
    if (!f) {
        error_set(err, "%s: out of memory", path);
        return NULL;
    }
    snprintf(f->path, sizeof f->path, "%s", path);
    f->id = H5I_INVALID_HID;
    return f;
}

/* private: the temporary file is created with mode 0600 before HDF5 writes anything into it
 * (HDF5 then truncates the file, which keeps its mode), so a secret is never readable by others,
 * not even briefly. */
static int create(const char *path, int private_mode, h5io_file **out, dpkit_error *err)
{
    silence_hdf5();
    *out = NULL;
    h5io_file *f = file_new(path, err);
    if (!f)
        return -1;
    snprintf(f->temp_path, sizeof f->temp_path, "%s.tmp.%ld", path, (long)getpid());
    if (private_mode) {
        unlink(f->temp_path); /* a leftover of an earlier process with this pid */
        int fd = open(f->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            error_set(err, "%s: cannot create: %s", f->temp_path, strerror(errno));
            free(f);
            return -1;
        }
        close(fd);
    }
    f->id = H5Fcreate(f->temp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f->id < 0) {
        error_set(err, "%s: cannot create HDF5 file (is the directory writable?)", f->temp_path);
        if (private_mode)
            unlink(f->temp_path);
        free(f);
        return -1;
    }
    *out = f;
    return 0;
}

int h5io_create(const char *path, h5io_file **out, dpkit_error *err)
{
    return create(path, 0, out, err);
}

int h5io_create_private(const char *path, h5io_file **out, dpkit_error *err)
{
    return create(path, 1, out, err);
}

int h5io_commit(h5io_file *f, dpkit_error *err)
{
    int status = 0;
    /* HDF5 does not fsync: the closed file is flushed through a descriptor of our own. */
    if (H5Fclose(f->id) < 0) {
        status = error_set(err, "%s: failed to close HDF5 file", f->temp_path);
        unlink(f->temp_path);
    } else {
        status = durable_replace(f->temp_path, f->path, err);
    }
    free(f);
    return status;
}

void h5io_abort(h5io_file *f)
{
    if (!f)
        return;
    if (f->id >= 0)
        H5Fclose(f->id);
    if (f->temp_path[0])
        unlink(f->temp_path);
    free(f);
}

int h5io_finish(h5io_file *f, int status, dpkit_error *err)
{
    if (status) {
        h5io_abort(f);
        return -1;
    }
    return h5io_commit(f, err);
}

int h5io_open_read(const char *path, h5io_file **out, dpkit_error *err)
{
    silence_hdf5();
    *out = NULL;
    if (access(path, R_OK) != 0)
        return error_set(err, "%s: no such file or not readable", path);
    if (H5Fis_hdf5(path) <= 0)
        return error_set(err, "%s: not an HDF5 file", path);
    h5io_file *f = file_new(path, err);
    if (!f)
        return -1;
    f->id = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->id < 0) {
        free(f);
        return error_set(err, "%s: cannot open HDF5 file (corrupt or truncated?)", path);
    }
    *out = f;
    return 0;
}

void h5io_close(h5io_file *f)
{
    if (!f)
        return;
    if (f->temp_path[0]) {
        h5io_abort(f);
        return;
    }
    if (f->id >= 0)
        H5Fclose(f->id);
    free(f);
}

int h5io_exists(h5io_file *f, const char *path)
{
    if (strcmp(path, "/") == 0)
        return 1;
    /* H5Lexists needs every intermediate link to exist, so walk the path. */
    char partial[1024];
    size_t n = strlen(path);
    if (n >= sizeof partial)
        return 0;
    for (size_t i = 1; i <= n; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            memcpy(partial, path, i);
            partial[i] = '\0';
            if (H5Lexists(f->id, partial, H5P_DEFAULT) <= 0)
                return 0;
        }
    }
    return 1;
}

int h5io_ensure_group(h5io_file *f, const char *path, dpkit_error *err)
{
    char partial[1024];
    size_t n = strlen(path);
    if (n >= sizeof partial)
        return error_set(err, "%s: HDF5 path too long: %s", f->path, path);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        memcpy(partial, path, i);
        partial[i] = '\0';
        if (partial[0] == '\0' || strcmp(partial, "/") == 0)
            continue;
        if (H5Lexists(f->id, partial, H5P_DEFAULT) > 0)
            continue;
        hid_t g = H5Gcreate2(f->id, partial, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0)
            return error_set(err, "%s: cannot create group %s", f->path, partial);
        H5Gclose(g);
    }
    return 0;
}

static int ensure_parent(h5io_file *f, const char *path, dpkit_error *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return 0;
    char parent[1024];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof parent)
        return error_set(err, "%s: HDF5 path too long: %s", f->path, path);
    memcpy(parent, path, n);
    parent[n] = '\0';
    return h5io_ensure_group(f, parent, err);
}

int h5io_write_array(h5io_file *f, const char *path, h5io_type type, int rank, const size_t *dims,
                     const void *data, dpkit_error *err)
{
    if (rank < 0 || rank > H5IO_MAX_RANK)
        return error_set(err, "%s: dataset %s: rank %d outside 0..%d", f->path, path, rank,
                         H5IO_MAX_RANK);
    if (ensure_parent(f, path, err) != 0)
        return -1;
    hsize_t h_dims[H5IO_MAX_RANK];
    for (int i = 0; i < rank; i++)
        h_dims[i] = dims[i];
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, h_dims, NULL);
    if (H5Lexists(f->id, path, H5P_DEFAULT) > 0)
        H5Ldelete(f->id, path, H5P_DEFAULT);
    hid_t dset = H5Dcreate2(f->id, path, h5io_native_type(type), space, H5P_DEFAULT, H5P_DEFAULT,
                            H5P_DEFAULT);
    int status = 0;
    if (dset < 0)
        status = error_set(err, "%s: cannot create dataset %s", f->path, path);
    else if (H5Dwrite(dset, h5io_native_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        status = error_set(err, "%s: cannot write dataset %s (disk full?)", f->path, path);
    H5IO_CLOSE_ALL(dset, space);
    return status;
}

/* The dataset (dataset != 0) or any object at path, or H5I_INVALID_HID with an error saying
 * whether it is missing or cannot be opened as such. */
static hid_t open_existing(h5io_file *f, const char *path, int dataset, dpkit_error *err)
{
    if (!h5io_exists(f, path)) {
        error_set(err, "%s: %s %s is missing", f->path, dataset ? "dataset" : "object", path);
        return H5I_INVALID_HID;
    }
    hid_t id = dataset ? H5Dopen2(f->id, path, H5P_DEFAULT) : H5Oopen(f->id, path, H5P_DEFAULT);
    if (id < 0 && dataset)
        error_set(err, "%s: %s is not a dataset", f->path, path);
    else if (id < 0)
        error_set(err, "%s: cannot open object %s", f->path, path);
    return id;
}

hid_t h5io_open_dataset(h5io_file *f, const char *path, dpkit_error *err)
{
    return open_existing(f, path, 1, err);
}

int h5io_array_shape(h5io_file *f, const char *path, int *rank, size_t dims[H5IO_MAX_RANK],
                     dpkit_error *err)
{
    hid_t dset = h5io_open_dataset(f, path, err);
    if (dset < 0)
        return -1;
    hid_t space = H5Dget_space(dset);
    int r = H5Sget_simple_extent_ndims(space);
    int status = 0;
    if (r < 0 || r > H5IO_MAX_RANK) {
        status = error_set(err, "%s: dataset %s has rank %d, expected at most %d", f->path, path, r,
                           H5IO_MAX_RANK);
    } else {
        hsize_t h_dims[H5IO_MAX_RANK];
        H5Sget_simple_extent_dims(space, h_dims, NULL);
        for (int i = 0; i < r; i++)
            dims[i] = (size_t)h_dims[i];
        *rank = r;
    }
    H5Sclose(space);
    H5Dclose(dset);
    return status;
}

int h5io_check_storage(h5io_file *f, hid_t dset, const char *path, dpkit_error *err)
{
    hid_t space = H5Dget_space(dset), type = H5Dget_type(dset), plist = H5Dget_create_plist(dset);
    int status = 0;
    if (space < 0 || type < 0 || plist < 0) {
        status = error_set(err, "%s: cannot read the layout of dataset %s", f->path, path);
        goto done;
    }
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
    if (rank < 0 || rank > H5S_MAX_RANK) {
        status = error_set(err, "%s: dataset %s has an unreadable shape", f->path, path);
        goto done;
    }
    H5Sget_simple_extent_dims(space, dims, NULL);
    size_t type_size = H5Tget_size(type);
    hsize_t points = 1, bytes, file_size = 0;
    for (int i = 0; i < rank; i++)
        if (__builtin_mul_overflow(points, dims[i], &points))
            points = UINT64_MAX;
    if (points == 0)
        goto done;
    if (__builtin_mul_overflow(points, (hsize_t)type_size, &bytes))
        bytes = UINT64_MAX;
    H5Fget_filesize(f->id, &file_size);
    if (H5Pget_external_count(plist) > 0) {
        status = error_set(err, "%s: dataset %s keeps its data in external files: expected the "
                           "data inside the file", f->path, path);
        goto done;
    }
    switch (H5Pget_layout(plist)) {
    case H5D_COMPACT: /* the data is in the object header: present if the header is */
        break;
    case H5D_CONTIGUOUS: {
        hsize_t stored = H5Dget_storage_size(dset);
        haddr_t offset = H5Dget_offset(dset);
        if (stored < bytes || offset == HADDR_UNDEF || offset > file_size ||
            bytes > file_size - offset)
            status = error_set(err, "%s: dataset %s declares %llu values (%llu bytes) but the "
                               "file holds %llu bytes of them: expected the whole array in the "
                               "file (%llu bytes)", f->path, path, (unsigned long long)points,
                               (unsigned long long)bytes,
                               (unsigned long long)(offset == HADDR_UNDEF ? 0 : stored),
                               (unsigned long long)file_size);
        break;
    }
    case H5D_CHUNKED: {
        hsize_t expected = 1, allocated = 0;
        if (H5Pget_chunk(plist, rank, chunk) != rank) {
            status = error_set(err, "%s: dataset %s has unreadable chunk sizes", f->path, path);
            break;
        }
        for (int i = 0; i < rank; i++) {
            hsize_t per_axis = chunk[i] ? (dims[i] + chunk[i] - 1) / chunk[i] : 0;
            if (__builtin_mul_overflow(expected, per_axis, &expected))
                expected = UINT64_MAX;
        }
        if (H5Dget_num_chunks(dset, H5S_ALL, &allocated) < 0 || allocated < expected)
            status = error_set(err, "%s: dataset %s declares %llu values in %llu chunks but the "
                               "file (%llu bytes) holds %llu of those chunks: expected every "
                               "chunk written", f->path, path, (unsigned long long)points,
                               (unsigned long long)expected, (unsigned long long)file_size,
                               (unsigned long long)allocated);
        break;
    }
    default:
        status = error_set(err, "%s: dataset %s has an unsupported storage layout", f->path, path);
    }
done:
    H5IO_CLOSE_ALL(plist, type, space);
    return status;
}

int h5io_read_array(h5io_file *f, const char *path, h5io_type type, int *rank,
                    size_t dims[H5IO_MAX_RANK], void **data, dpkit_error *err)
{
    *data = NULL;
    if (h5io_array_shape(f, path, rank, dims, err) != 0)
        return -1;
    size_t count = 1;
    for (int i = 0; i < *rank; i++) {
        if (dims[i] != 0 && count > ((size_t)1 << 40) / dims[i])
            return error_set(err, "%s: dataset %s is absurdly large", f->path, path);
        count *= dims[i];
    }
    hid_t dset = H5Dopen2(f->id, path, H5P_DEFAULT);
    if (dset < 0)
        return error_set(err, "%s: %s is not a dataset", f->path, path);
    /* A corrupt file can declare a numeric element of gigabytes, which HDF5's conversion would
     * allocate and fill; every number h5io reads is at most 8 bytes. */
    hid_t stored = H5Dget_type(dset);
    size_t stored_size = stored < 0 ? 0 : H5Tget_size(stored);
    if (stored >= 0)
        H5Tclose(stored);
    if (stored_size == 0 || stored_size > 16) {
        H5Dclose(dset);
        return error_set(err, "%s: dataset %s has elements of %zu bytes: expected a number of "
                              "1..16 bytes", f->path, path, stored_size);
    }
    if (h5io_check_storage(f, dset, path, err) != 0) {
        H5Dclose(dset);
        return -1;
    }
    void *buffer = memory_alloc_large(count ? count * h5io_type_size(type) : 1);
    if (!buffer) {
        H5Dclose(dset);
        return error_set(err, "%s: out of memory reading %s (%zu elements)", f->path, path, count);
    }
    herr_t status = count ? H5Dread(dset, h5io_native_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                    buffer)
                          : 0;
    H5Dclose(dset);
    if (status < 0) {
        free(buffer);
        return error_set(err, "%s: cannot read dataset %s as %s (corrupt, or not numeric?)", f->path,
                         path, type == H5IO_FLOAT32 ? "float32" : "a number");
    }
    *data = buffer;
    return 0;
}

static int write_attr(h5io_file *f, const char *obj_path, const char *name, hid_t type,
                      const void *value, dpkit_error *err)
{
    hid_t obj = open_existing(f, obj_path, 0, err);
    if (obj < 0)
        return -1;
    if (H5Aexists(obj, name) > 0)
        H5Adelete(obj, name);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int status = 0;
    if (attr < 0 || H5Awrite(attr, type, value) < 0)
        status = error_set(err, "%s: cannot write attribute %s on %s", f->path, name, obj_path);
    H5IO_CLOSE_ALL(attr, space, obj);
    return status;
}

int h5io_write_attr_string(h5io_file *f, const char *obj_path, const char *name, const char *value,
                           dpkit_error *err)
{
    /* Variable-length UTF-8 strings: h5py returns them as str. */
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    int status = write_attr(f, obj_path, name, type, &value, err);
    H5Tclose(type);
    return status;
}

int h5io_write_attr_double(h5io_file *f, const char *obj_path, const char *name, double value,
                           dpkit_error *err)
{
    return write_attr(f, obj_path, name, H5T_NATIVE_DOUBLE, &value, err);
}

int h5io_write_attr_int64(h5io_file *f, const char *obj_path, const char *name, long long value,
                          dpkit_error *err)
{
    int64_t v = value;
    return write_attr(f, obj_path, name, H5T_NATIVE_INT64, &v, err);
}

int h5io_has_attr(h5io_file *f, const char *obj_path, const char *name)
{
    if (!h5io_exists(f, obj_path))
        return 0;
    return H5Aexists_by_name(f->id, obj_path, name, H5P_DEFAULT) > 0;
}

static hid_t open_attr(h5io_file *f, const char *obj_path, const char *name, dpkit_error *err)
{
    if (!h5io_has_attr(f, obj_path, name)) {
        error_set(err, "%s: attribute %s missing on %s", f->path, name, obj_path);
        return H5I_INVALID_HID;
    }
    return H5Aopen_by_name(f->id, obj_path, name, H5P_DEFAULT, H5P_DEFAULT);
}

int h5io_read_attr_string(h5io_file *f, const char *obj_path, const char *name, char **value,
                          dpkit_error *err)
{
    *value = NULL;
    hid_t attr = open_attr(f, obj_path, name, err);
    if (attr < 0)
        return -1;
    hid_t file_type = H5Aget_type(attr);
    int status = 0;
    if (H5Tget_class(file_type) != H5T_STRING) {
        status = error_set(err, "%s: attribute %s on %s is not a string", f->path, name, obj_path);
    } else if (H5Tis_variable_str(file_type) > 0) {
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(file_type)); /* HDF5 will not convert ASCII <-> UTF-8 */
        char *s = NULL;
        if (H5Aread(attr, mem, &s) < 0 || !s) {
            status = error_set(err, "%s: cannot read attribute %s on %s", f->path, name, obj_path);
        } else {
            *value = strdup(s);
            H5free_memory(s);
        }
        H5Tclose(mem);
    } else {
        size_t size = H5Tget_size(file_type);
        char *s = calloc(size + 1, 1);
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, size + 1);
        H5Tset_cset(mem, H5Tget_cset(file_type));
        if (!s || H5Aread(attr, mem, s) < 0) {
            free(s);
            status = error_set(err, "%s: cannot read attribute %s on %s", f->path, name, obj_path);
        } else {
            *value = s;
        }
        H5Tclose(mem);
    }
    H5Tclose(file_type);
    H5Aclose(attr);
    return status;
}

static int read_numeric_attr(h5io_file *f, const char *obj_path, const char *name, hid_t mem_type,
                             void *value, dpkit_error *err)
{
    hid_t attr = open_attr(f, obj_path, name, err);
    if (attr < 0)
        return -1;
    hid_t space = H5Aget_space(attr);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    int status = 0;
    if (n != 1)
        status = error_set(err, "%s: attribute %s on %s has %lld values, expected 1", f->path, name,
                           obj_path, (long long)n);
    else if (H5Aread(attr, mem_type, value) < 0)
        status = error_set(err, "%s: attribute %s on %s is not numeric", f->path, name, obj_path);
    H5Aclose(attr);
    return status;
}

int h5io_read_attr_double(h5io_file *f, const char *obj_path, const char *name, double *value,
                          dpkit_error *err)
{
    return read_numeric_attr(f, obj_path, name, H5T_NATIVE_DOUBLE, value, err);
}

int h5io_read_attr_int64(h5io_file *f, const char *obj_path, const char *name, long long *value,
                         dpkit_error *err)
{
    int64_t v = 0;
    int status = read_numeric_attr(f, obj_path, name, H5T_NATIVE_INT64, &v, err);
    *value = v;
    return status;
}
