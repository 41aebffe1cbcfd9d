/* Durable atomic replacement of files (see durable.h). */
#include "common/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int sync_path(const char *path, int flags, dpkit_error *err)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, "%s: cannot open to flush it to disk: %s", path, strerror(errno));
    int status = 0;
    /* Some file systems refuse fsync on a directory (EINVAL): nothing more can be done there. */
    if (fsync(fd) != 0 && !((flags & O_DIRECTORY) && (errno == EINVAL || errno == EBADF)))
        status = error_set(err, "%s: cannot flush to disk: %s", path, strerror(errno));
    close(fd);
    return status;
}

int durable_sync_file(const char *path, dpkit_error *err)
{
    return sync_path(path, O_RDONLY, err);
}

int durable_sync_parent(const char *path, dpkit_error *err)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) >= sizeof dir)
        return error_set(err, "%s: path too long", path);
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return sync_path(dir, O_RDONLY | O_DIRECTORY, err);
}

int durable_replace(const char *temp_path, const char *path, dpkit_error *err)
{
    if (durable_sync_file(temp_path, err)) {
        unlink(temp_path);
        return -1;
    }
    if (rename(temp_path, path) != 0) {
        int saved = errno;
        unlink(temp_path);
        return error_set(err, "%s: cannot rename %s into place: %s", path, temp_path,
                         strerror(saved));
    }
    return durable_sync_parent(path, err);
}
