/* Array allocation. Large arrays (images, feature matrices) are aligned to 2 MiB and marked for
 * transparent huge pages, because first-touch page faults otherwise dominate the time to fill
 * a freshly allocated array of hundreds of megabytes; free them with free(). Growing arrays
 * double their capacity. A struct that owns several arrays frees them in one call. */
#ifndef DPKIT_COMMON_MEMORY_H
#define DPKIT_COMMON_MEMORY_H

#include <stddef.h>

void *memory_alloc_large(size_t size);

/* Makes room for one more element in a growing array: when count == *capacity, doubles the
 * capacity (first to `initial`) with realloc. Returns 0, or -1 with the array unchanged when
 * memory runs out or the size would overflow. */
int memory_grow(void **array, size_t *capacity, size_t count, size_t element_size,
                size_t initial);

/* Frees count strings and then the array that holds them (NULL: nothing to free). */
void memory_free_strings(char **strings, size_t count);

/* Calls release (free, fftwf_free...) on each of the count pointers; NULL ones are skipped. */
void memory_release_each(void (*release)(void *), void *const *pointers, size_t count);

/* MEMORY_RELEASE_ALL(fftwf_free, ws->x, ws->y) releases each pointer listed with `release`;
 * MEMORY_FREE_ALL(s->a, s->b) frees each with free(). */
#define MEMORY_RELEASE_ALL(release, ...)                                                       \
    memory_release_each((release), (void *const[]){__VA_ARGS__},                              \
                        sizeof((void *const[]){__VA_ARGS__}) / sizeof(void *))
#define MEMORY_FREE_ALL(...) MEMORY_RELEASE_ALL(free, __VA_ARGS__)

#endif
