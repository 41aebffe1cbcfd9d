/* Pieces of run directories shared by train and eval: the fitted normaliser in HDF5 files,
 * private (0600) and durable (fsync) HDF5 writes, and creating the run directory. */
#include "cli/run_config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int run_h5_create_private(const char *path, h5io_file **out, dpkit_error *err)
{
    *out = NULL;
    h5io_file *f = calloc(1, sizeof *f);
    if (!f)
        return error_set(err, "%s: out of memory", path);
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path) {
        free(f);
        return error_set(err, "%s: path too long", path);
    }
    snprintf(f->temp_path, sizeof f->temp_path, "%s.tmp.%ld", path, (long)getpid());
    unlink(f->temp_path); /* a leftover of an earlier process with this pid */
    /* The mode is set at creation: the key is never readable by others, not even briefly.
     * HDF5 then truncates the existing file, which keeps its mode. */
    int fd = open(f->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        error_set(err, "%s: cannot create: %s", f->temp_path, strerror(errno));
        free(f);
        return -1;
    }
    close(fd);
    f->id = H5Fcreate(f->temp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f->id < 0) {
        error_set(err, "%s: cannot create HDF5 file", f->temp_path);
        unlink(f->temp_path);
        free(f);
        return -1;
    }
    *out = f;
    return 0;
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int status = fsync(fd);
    close(fd);
    return status;
}

int run_h5_commit_synced(h5io_file *f, dpkit_error *err)
{
    int status = 0;
    char directory[4096];
    snprintf(directory, sizeof directory, "%s", f->path);
    if (H5Fclose(f->id) < 0)
        status = error_set(err, "%s: failed to close HDF5 file", f->temp_path);
    else if (fsync_path(f->temp_path, O_RDONLY) != 0)
        status = error_set(err, "%s: cannot flush to disk: %s", f->temp_path, strerror(errno));
    else if (rename(f->temp_path, f->path) != 0)
        status = error_set(err, "%s: cannot rename %s into place: %s", f->path, f->temp_path,
                           strerror(errno));
    else if (fsync_path(dirname(directory), O_RDONLY | O_DIRECTORY) != 0)
        status = error_set(err, "%s: cannot flush its directory: %s", f->path, strerror(errno));
    if (status != 0)
        unlink(f->temp_path);
    free(f);
    return status;
}

int run_normalizer_save(const features_normalizer *n, h5io_file *file, const char *group,
                        dpkit_error *err)
{
    if (h5io_ensure_group(file, group, err) ||
        h5io_write_attr_string(file, group, "kind", features_normalize_kind_name(n->config.kind), err) ||
        h5io_write_attr_int64(file, group, "groups", (long long)n->config.groups, err) ||
        h5io_write_attr_int64(file, group, "channels", (long long)n->channels, err) ||
        h5io_write_attr_int64(file, group, "spatial", (long long)n->spatial, err) ||
        h5io_write_attr_double(file, group, "epsilon", n->config.epsilon, err) ||
        h5io_write_attr_double(file, group, "noise_multiplier", n->config.noise_multiplier, err) ||
        h5io_write_attr_double(file, group, "clip", n->config.clip_threshold, err))
        return -1;
    if (n->config.kind != FEATURES_NORMALIZE_PRIVATE_BN)
        return 0;
    char path[512];
    size_t count = n->statistics.channels;
    snprintf(path, sizeof path, "%s/mean", group);
    if (h5io_write_array(file, path, H5IO_FLOAT64, 1, &count, n->statistics.mean, err))
        return -1;
    snprintf(path, sizeof path, "%s/variance", group);
    return h5io_write_array(file, path, H5IO_FLOAT64, 1, &count, n->statistics.variance, err);
}

int run_normalizer_load(features_normalizer *n, h5io_file *file, const char *group,
                        dpkit_error *err)
{
    memset(n, 0, sizeof *n);
    features_normalize_config_default(&n->config);
    char *kind = NULL;
    long long groups, channels, spatial;
    int status = h5io_read_attr_string(file, group, "kind", &kind, err);
    if (!status)
        status = features_normalize_kind_parse(kind, &n->config.kind, err);
    free(kind);
    if (status || h5io_read_attr_int64(file, group, "groups", &groups, err) ||
        h5io_read_attr_int64(file, group, "channels", &channels, err) ||
        h5io_read_attr_int64(file, group, "spatial", &spatial, err) ||
        h5io_read_attr_double(file, group, "epsilon", &n->config.epsilon, err))
        return error_prefix(err, "%s: normaliser", file->path);
    if (groups < 1 || channels < 1 || spatial < 1)
        return error_set(err, "%s: %s: groups, channels and spatial must be >= 1", file->path, group);
    n->config.groups = (size_t)groups;
    n->channels = (size_t)channels;
    n->spatial = (size_t)spatial;
    if (n->config.kind != FEATURES_NORMALIZE_PRIVATE_BN)
        return 0;
    const char *names[2] = {"mean", "variance"};
    double **targets[2] = {&n->statistics.mean, &n->statistics.variance};
    for (int k = 0; k < 2; k++) {
        char path[512];
        int rank;
        size_t dims[H5IO_MAX_RANK];
        snprintf(path, sizeof path, "%s/%s", group, names[k]);
        if (h5io_read_array(file, path, H5IO_FLOAT64, &rank, dims, (void **)targets[k], err)) {
            features_normalizer_free(n);
            return -1;
        }
        if (rank != 1 || dims[0] != n->channels) {
            features_normalizer_free(n);
            return error_set(err, "%s: %s must hold %lld values", file->path, path, channels);
        }
    }
    n->statistics.channels = n->channels;
    return 0;
}

int run_make_directory(const char *path, dpkit_error *err)
{
    char buffer[4096];
    if (snprintf(buffer, sizeof buffer, "%s", path) >= (int)sizeof buffer)
        return error_set(err, "directory name too long: %s", path);
    for (char *p = buffer + 1;; p++) {
        char saved = *p;
        if (saved == '/' || saved == '\0') {
            *p = '\0';
            if (mkdir(buffer, 0777) != 0 && errno != EEXIST)
                return error_set(err, "cannot create directory %s: %s", buffer, strerror(errno));
            *p = saved;
        }
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return error_set(err, "%s is not a directory", path);
    return 0;
}
