/* Large-array allocation with transparent huge pages (see memory.h). */
#include "common/memory.h"

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
