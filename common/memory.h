/* Allocation of large arrays (images, feature matrices): aligned to 2 MiB and marked for
 * transparent huge pages, because first-touch page faults otherwise dominate the time to fill
 * a freshly allocated array of hundreds of megabytes. Free with free(). */
#ifndef DPKIT_COMMON_MEMORY_H
#define DPKIT_COMMON_MEMORY_H

#include <stddef.h>

void *memory_alloc_large(size_t size);

#endif
