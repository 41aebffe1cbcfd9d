/* Where dpkit keeps its datasets and feature caches when the user does not say: inside a dpkit
 * checkout its data/ and cache/ folders (as the README's commands expect), elsewhere the XDG
 * base directories, so that an installed dpkit finds the same files from any directory. */
#ifndef DPKIT_COMMON_PATHS_H
#define DPKIT_COMMON_PATHS_H

#include "common/error.h"

/* $DPKIT_DATA; else data/ when the current directory is a dpkit checkout; else
 * $XDG_DATA_HOME/dpkit (default ~/.local/share/dpkit). */
const char *paths_data_dir(void);
/* $DPKIT_CACHE; else cache/ in a checkout; else $XDG_CACHE_HOME/dpkit (default ~/.cache/dpkit). */
const char *paths_cache_dir(void);
/* 1 when the current directory holds a dpkit checkout (its Makefile and dp/dp.h). */
int paths_in_checkout(void);
/* mkdir -p: creates path and its missing parents; an existing directory is fine. */
int paths_make_directory(const char *path, dpkit_error *err);

#endif
