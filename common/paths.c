/* Default data and cache directories (see paths.h; documented in docs/datasets.md). */
#include "common/paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int paths_in_checkout(void)
{
    return access("Makefile", F_OK) == 0 && access("dp/dp.h", F_OK) == 0;
}

/* env if set and non-empty; the checkout's folder; else $xdg_env/dpkit or $HOME/home_suffix/dpkit. */
static const char *resolve(char *buffer, size_t size, const char *env, const char *local,
                           const char *xdg_env, const char *home_suffix)
{
    const char *dir = getenv(env);
    if (dir && *dir)
        return dir;
    if (paths_in_checkout())
        return local;
    const char *xdg = getenv(xdg_env);
    if (xdg && *xdg == '/') /* the XDG spec ignores relative values */
        snprintf(buffer, size, "%s/dpkit", xdg);
    else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return local;
        snprintf(buffer, size, "%s/%s/dpkit", home, home_suffix);
    }
    return buffer;
}

const char *paths_data_dir(void)
{
    static char buffer[4096];
    return resolve(buffer, sizeof buffer, "DPKIT_DATA", "data", "XDG_DATA_HOME", ".local/share");
}

const char *paths_cache_dir(void)
{
    static char buffer[4096];
    return resolve(buffer, sizeof buffer, "DPKIT_CACHE", "cache", "XDG_CACHE_HOME", ".cache");
}

int paths_make_directory(const char *path, dpkit_error *err)
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
