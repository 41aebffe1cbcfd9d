/* HDF5 helpers: named arrays of float32/float64/uint8/int32/int64 of any rank, string and numeric
 * attributes, groups created on demand. Files for writing are created under a temporary name
 * and renamed over the target only by h5io_commit, so a crash never leaves a half-written file.
 * Everything written is plain HDF5 (h5py reads it). */
#ifndef DPKIT_COMMON_H5IO_H
#define DPKIT_COMMON_H5IO_H

#include "common/error.h"

#include <hdf5.h>
#include <stddef.h>

#define H5IO_MAX_RANK 8

typedef enum { H5IO_FLOAT32, H5IO_FLOAT64, H5IO_UINT8, H5IO_INT32, H5IO_INT64 } h5io_type;

typedef struct h5io_file {
    hid_t id;
    char path[4096];      /* final path */
    char temp_path[4200]; /* where it is written until commit; empty when opened for reading */
} h5io_file;

size_t h5io_type_size(h5io_type type);

/* Creates path + ".tmp.<pid>" for writing. */
int h5io_create(const char *path, h5io_file **out, dpkit_error *err);
/* The same for a file that holds a secret (a checkpoint's stream key): mode 0600 from the start. */
int h5io_create_private(const char *path, h5io_file **out, dpkit_error *err);
/* Closes and renames the temporary file over the target (atomic on POSIX); frees f. */
int h5io_commit(h5io_file *f, dpkit_error *err);
/* Closes and deletes the temporary file; frees f. Safe on NULL. */
void h5io_abort(h5io_file *f);
/* Ends writing f: h5io_commit when status is 0 (what was written succeeded), h5io_abort and -1
 * otherwise. */
int h5io_finish(h5io_file *f, int status, dpkit_error *err);

int h5io_open_read(const char *path, h5io_file **out, dpkit_error *err);
/* Closes a file opened for reading (or aborts one opened for writing); safe on NULL. */
void h5io_close(h5io_file *f);

/* 1 if an object (group or dataset) exists at path, else 0. */
int h5io_exists(h5io_file *f, const char *path);
/* Creates the group at path and its parents if missing. */
int h5io_ensure_group(h5io_file *f, const char *path, dpkit_error *err);

/* Writes a dataset at path (parents created); dims has rank entries. */
int h5io_write_array(h5io_file *f, const char *path, h5io_type type, int rank, const size_t *dims,
                     const void *data, dpkit_error *err);
/* Reads a whole dataset converted to `type`; *data is malloc'd (free it), dims filled. */
int h5io_read_array(h5io_file *f, const char *path, h5io_type type, int *rank,
                    size_t dims[H5IO_MAX_RANK], void **data, dpkit_error *err);
/* Checks that the file really holds the data of the open dataset `dset` (named `path`) before
 * anything of its declared size is allocated: a contiguous dataset must have all its bytes
 * allocated inside the file, a chunked one every chunk written. A dataset whose extent is only
 * declared (it would read as fill values, however large) is refused, naming file and dataset. */
int h5io_check_storage(h5io_file *f, hid_t dset, const char *path, dpkit_error *err);
/* Opens the dataset at path (close it with H5Dclose); a negative id, with an error naming the
 * file and the dataset, when it is missing or not a dataset. */
hid_t h5io_open_dataset(h5io_file *f, const char *path, dpkit_error *err);
/* Shape only. */
int h5io_array_shape(h5io_file *f, const char *path, int *rank, size_t dims[H5IO_MAX_RANK],
                     dpkit_error *err);

/* Attributes on the object at obj_path ("/" for the file). */
int h5io_write_attr_string(h5io_file *f, const char *obj_path, const char *name, const char *value,
                           dpkit_error *err);
int h5io_write_attr_double(h5io_file *f, const char *obj_path, const char *name, double value,
                           dpkit_error *err);
int h5io_write_attr_int64(h5io_file *f, const char *obj_path, const char *name, long long value,
                          dpkit_error *err);
int h5io_has_attr(h5io_file *f, const char *obj_path, const char *name);
/* *value is malloc'd. */
int h5io_read_attr_string(h5io_file *f, const char *obj_path, const char *name, char **value,
                          dpkit_error *err);
int h5io_read_attr_double(h5io_file *f, const char *obj_path, const char *name, double *value,
                          dpkit_error *err);
int h5io_read_attr_int64(h5io_file *f, const char *obj_path, const char *name, long long *value,
                         dpkit_error *err);

/* The HDF5 native type id for a h5io_type (for callers using the HDF5 API directly, e.g. for
 * chunked writes). */
hid_t h5io_native_type(h5io_type type);

/* Closes each listed HDF5 identifier (dataset, dataspace, datatype, attribute, property list,
 * object) that is valid, i.e. >= 0, skipping the others: H5IO_CLOSE_ALL(dset, space, type) at
 * the end of a function whose early failures left some of them unopened. */
void h5io_close_each(const hid_t *ids, size_t count);
#define H5IO_CLOSE_ALL(...)                                                                    \
    h5io_close_each((const hid_t[]){__VA_ARGS__}, sizeof((hid_t[]){__VA_ARGS__}) / sizeof(hid_t))

#endif
