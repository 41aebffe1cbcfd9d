/* Large-array allocation with transparent huge pages, growing arrays, freeing lists of
 * arrays (see memory.h). */
#include "common/memory.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

void *memory_alloc_large(size_t size)
{
    const size_t huge_page = (size_t)2 << 20;
    if (size < huge_page)
        return malloc(size ? size : 1);
    void *p = NULL;
    if (posix_memalign(&p, huge_page, size) != 0)
        return NULL;
    madvise(p, size, MADV_HUGEPAGE); /* a hint: failure only costs speed */
    return p;
}

int memory_grow(void **array, size_t *capacity, size_t count, size_t element_size,
                size_t initial)
{
    if (count < *capacity)
        return 0;
    size_t grown = *capacity ? 2 * *capacity : initial;
    if (grown < *capacity || grown > SIZE_MAX / element_size)
        return -1;
    void *bigger = realloc(*array, grown * element_size);
    if (!bigger)
        return -1;
    *array = bigger;
    *capacity = grown;
    return 0;
}

void memory_free_strings(char **strings, size_t count)
{
    for (size_t i = 0; strings && i < count; i++)
        free(strings[i]);
    free(strings);
}

void memory_release_each(void (*release)(void *), void *const *pointers, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (pointers[i])
            release(pointers[i]);
}
