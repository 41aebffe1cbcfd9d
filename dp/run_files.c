/* Private (0600) and durable (fsync) HDF5 writes of run files. */
#include "dp/run_config.h"

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
