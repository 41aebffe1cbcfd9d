/* The ranks of a job and their collectives (common/parallel.h), through the installed backend;
 * one rank without one. */
#include "common/parallel.h"

#include <limits.h>

static const parallel_backend *world; /* NULL: one rank */
static int spanning_mode;             /* the training driver trains on all ranks */
static int alone_mode;                /* a sweep's trainings: each rank trains alone */

void parallel_use(const parallel_backend *backend) { world = backend; }

int parallel_world_rank(void) { return world ? world->rank : 0; }
int parallel_world_size(void) { return world ? world->size : 1; }

int parallel_rank(void) { return spanning_mode && !alone_mode ? parallel_world_rank() : 0; }
int parallel_size(void) { return spanning_mode && !alone_mode ? parallel_world_size() : 1; }

int parallel_set_spanning(int spanning)
{
    int before = spanning_mode;
    spanning_mode = spanning != 0;
    return before;
}

int parallel_set_alone(int alone)
{
    int before = alone_mode;
    alone_mode = alone != 0;
    return before;
}

int parallel_sum_float(float *values, size_t n, dpkit_error *err)
{
    return parallel_size() > 1 ? world->sum(values, n, 0, err) : 0;
}

int parallel_sum_double(double *values, size_t n, dpkit_error *err)
{
    return parallel_size() > 1 ? world->sum(values, n, 1, err) : 0;
}

int parallel_broadcast(void *bytes, size_t n, dpkit_error *err)
{
    return parallel_size() > 1 ? world->broadcast(bytes, n, 0, err) : 0;
}

/* Over `ranks` ranks: the training's or the world's (the same ranks; a training that spans
 * fewer than all spans one, and then agrees with itself). */
static int agree_over(int status, int ranks, int rank, dpkit_error *err)
{
    if (ranks < 2)
        return status ? -1 : 0;
    int first;
    if (world->minimum(status ? rank : INT_MAX, &first, err))
        return -1;
    if (first == INT_MAX)
        return 0;
    if (!status)
        error_set(err, "rank %d of %d failed (its message is above)", first, ranks);
    return -1;
}

int parallel_agree(int status, dpkit_error *err)
{
    return agree_over(status, parallel_size(), parallel_rank(), err);
}

int parallel_agree_world(int status, dpkit_error *err)
{
    return agree_over(status, parallel_world_size(), parallel_world_rank(), err);
}

int parallel_owns(size_t item)
{
    return item % (size_t)parallel_world_size() == (size_t)parallel_world_rank();
}

int parallel_broadcast_item(void *bytes, size_t n, size_t item, dpkit_error *err)
{
    size_t size = (size_t)parallel_world_size();
    return size > 1 ? world->broadcast(bytes, n, (int)(item % size), err) : 0;
}

int parallel_share_items(void *items, size_t item_size, size_t count, dpkit_error *err)
{
    for (size_t i = 0; parallel_world_size() > 1 && i < count; i++)
        if (parallel_broadcast_item((char *)items + i * item_size, item_size, i, err))
            return -1;
    return 0;
}
