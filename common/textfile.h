/* Atomic writes of text files (YAML, JSON, CSV): written to a temporary name beside the target,
 * flushed and renamed, so a crash never leaves a half-written file. */
#ifndef DPKIT_COMMON_TEXTFILE_H
#define DPKIT_COMMON_TEXTFILE_H

#include "common/error.h"

#include <stddef.h>

int textfile_write_atomic(const char *path, const char *data, size_t size, dpkit_error *err);

#endif
