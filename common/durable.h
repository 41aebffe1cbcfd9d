/* Durable atomic replacement of files: the new contents are forced to disk before the rename,
 * and the directory entry after it, so that after a crash the target is either the old file or
 * the complete new one (POSIX rename alone only orders the names, not the data). */
#ifndef DPKIT_COMMON_DURABLE_H
#define DPKIT_COMMON_DURABLE_H

#include "common/error.h"

/* fsync of a closed file, opened again read-only (works for files written by libraries such
 * as HDF5 or FFTW whose descriptors are not ours). */
int durable_sync_file(const char *path, dpkit_error *err);
/* fsync of the directory that holds path ("." when path has no '/'). */
int durable_sync_parent(const char *path, dpkit_error *err);
/* fsync temp_path, rename it over path, fsync path's directory. On failure temp_path is
 * removed and the old target, if any, is left as it was. */
int durable_replace(const char *temp_path, const char *path, dpkit_error *err);

#endif
