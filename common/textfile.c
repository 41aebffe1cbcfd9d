/* Atomic text file writes (see textfile.h). */
#include "common/textfile.h"

#include "common/durable.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int textfile_write_atomic(const char *path, const char *data, size_t size, dpkit_error *err)
{
    char temp_path[4096];
    if (snprintf(temp_path, sizeof temp_path, "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof temp_path)
        return error_set(err, "%s: path too long", path);
    FILE *f = fopen(temp_path, "wb");
    if (!f)
        return error_set(err, "%s: cannot create: %s", temp_path, strerror(errno));
    int ok = fwrite(data, 1, size, f) == size;
    ok = fflush(f) == 0 && ok;
    int saved_errno = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        unlink(temp_path);
        return error_set(err, "%s: cannot write: %s", temp_path, strerror(saved_errno));
    }
    return durable_replace(temp_path, path, err);
}
