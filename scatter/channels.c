/* Geometry of the scattering transform: Kymatio's padded size and its output channel order
 * (docs/maths.md 1.2 and 1.8). */
#include "scatter/scatter.h"

size_t scatter_padded_size(size_t size, int J)
{
    size_t step = (size_t)1 << J;
    return step * (size / step + 2);
}

size_t scatter_channel_count(int J, int L, int max_order)
{
    size_t j = (size_t)J, l = (size_t)L;
    size_t k = 1 + j * l;
    if (max_order >= 2)
        k += l * l * j * (j - 1) / 2;
    return k;
}

int scatter_channel_info(int J, int L, int max_order, size_t k, int *order, int *j1, int *t1,
                         int *j2, int *t2, dpkit_error *err)
{
    size_t count = scatter_channel_count(J, L, max_order);
    if (J < 1 || L < 1 || max_order < 1 || max_order > 2 || k >= count)
        return error_set(err, "scatter channel %zu: out of range for J = %d, L = %d, max_order = %d "
                         "(%zu channels)", k, J, L, max_order, count);
    *order = 0;
    *j1 = *t1 = *j2 = *t2 = -1;
    if (k == 0)
        return 0;
    size_t first = (size_t)J * (size_t)L;
    if (k <= first) {
        *order = 1;
        *j1 = (int)((k - 1) / (size_t)L);
        *t1 = (int)((k - 1) % (size_t)L);
        return 0;
    }
    /* Order 2 in loop order: n1 = (j1, t1) major, then every n2 = (j2, t2) with j2 > j1. */
    size_t index = 1 + first;
    for (int a = 0; a < J; a++)
        for (int b = 0; b < L; b++) {
            size_t block = (size_t)(J - 1 - a) * (size_t)L;
            if (k < index + block) {
                size_t within = k - index;
                *order = 2;
                *j1 = a;
                *t1 = b;
                *j2 = a + 1 + (int)(within / (size_t)L);
                *t2 = (int)(within % (size_t)L);
                return 0;
            }
            index += block;
        }
    return error_set(err, "scatter channel %zu: internal inconsistency", k);
}
