/* Shared by the fuzz harnesses: writing the fuzz input to a file in a per-process temporary
 * directory (the loaders take paths), quiet logging, a check that no HDF5 object was left
 * open by a loader (a leaked handle on an error path), and a limit on dpkit's allocations.
 *
 * Why the allocation limit is here and not libFuzzer's -malloc_limit_mb: the HDF5 library
 * itself (not instrumented, not dpkit's code) allocates what a corrupt file's metadata declares,
 * which would stop every run. The harnesses are linked with -Wl,--wrap for the allocation
 * functions, which redirects the calls made by dpkit's objects (and the harness) to the
 * __wrap_ functions below but not those made inside the shared HDF5 library; HDF5's requests
 * above 2 GiB get NULL (max_allocation_size_mb, allocator_may_return_null), which it reports as
 * an error. */
#ifndef DPKIT_TESTS_FUZZ_COMMON_H
#define DPKIT_TESTS_FUZZ_COMMON_H

#include "common/log.h"

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A loader must check a size read from a file against the file before allocating it. */
#define FUZZ_MAX_ALLOCATION ((size_t)2 << 30)

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
int __real_posix_memalign(void **p, size_t alignment, size_t size);

static void fuzz_check_size(const char *function, size_t count, size_t size)
{
    if (size && count > FUZZ_MAX_ALLOCATION / size) {
        fprintf(stderr, "fuzz: dpkit asked %s for %zu x %zu bytes (limit %zu)\n", function, count,
                size, FUZZ_MAX_ALLOCATION);
        abort();
    }
}

void *__wrap_malloc(size_t size)
{
    fuzz_check_size("malloc", 1, size);
    return __real_malloc(size);
}

void *__wrap_calloc(size_t count, size_t size)
{
    fuzz_check_size("calloc", count, size);
    return __real_calloc(count, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    fuzz_check_size("realloc", 1, size);
    return __real_realloc(p, size);
}

int __wrap_posix_memalign(void **p, size_t alignment, size_t size)
{
    fuzz_check_size("posix_memalign", 1, size);
    return __real_posix_memalign(p, alignment, size);
}

const char *__asan_default_options(void)
{
    /* dpkit's requests above the limit stop at __wrap_*; HDF5's get NULL. */
    return "allocator_may_return_null=1:max_allocation_size_mb=2048";
}

/* The HDF5 library leaks a little on some of its error paths for corrupt files; a handle that
 * dpkit leaves open is caught by fuzz_check_hdf5_closed instead. */
const char *__lsan_default_suppressions(void)
{
    return "leak:libhdf5\n";
}

static char fuzz_dir[4096];

/* Once per process: a fresh directory under $TMPDIR, removed at exit. */
static inline void fuzz_remove_dir(void)
{
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", fuzz_dir);
    if (system(command) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

static inline void fuzz_setup(void)
{
    if (fuzz_dir[0])
        return;
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/dpkit-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fuzz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_remove_dir);
    log_set_level(DPKIT_LOG_ERROR);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* Writes bytes to fuzz_dir/name and puts the path in path (4200 bytes). */
static inline void fuzz_write(const char *name, const uint8_t *data, size_t size, char *path)
{
    fuzz_setup();
    snprintf(path, 4200, "%s/%s", fuzz_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* Every HDF5 file, group, dataset, type, space and attribute a loader opened must be closed
 * again, also when it fails. */
static inline void fuzz_check_hdf5_closed(const char *what)
{
    ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_ids != 0) {
        fprintf(stderr, "fuzz: %s left %zd HDF5 objects open\n", what, open_ids);
        abort();
    }
}

#endif
