/* The ranks of an MPI job (docs/mpi.md): who this process is, and the few collective calls the
 * data-parallel training and the distributed sweeps need. The library itself holds no MPI: the
 * dpkit program, started by mpirun, installs the MPI backend (mpi/parallel_mpi.c, built with
 * DPKIT_MPI); without one there is one rank and every call is a copy or nothing. */
#ifndef DPKIT_COMMON_PARALLEL_H
#define DPKIT_COMMON_PARALLEL_H

#include "common/error.h"

#include <stddef.h>

/* What a backend provides over all the job's ranks (MPI_COMM_WORLD). */
typedef struct parallel_backend {
    int rank, size;
    /* in-place element-wise sum of n floats (is_double 0) or doubles, same result everywhere */
    int (*sum)(void *values, size_t n, int is_double, dpkit_error *err);
    /* root's n bytes to every rank */
    int (*broadcast)(void *bytes, size_t n, int root, dpkit_error *err);
    /* the smallest of the ranks' values */
    int (*minimum)(int value, int *smallest, dpkit_error *err);
} parallel_backend;

/* Installs the backend (NULL: one rank again); the backend must outlive its use. */
void parallel_use(const parallel_backend *backend);

/* The job's ranks, whatever the mode below. */
int parallel_world_rank(void);
int parallel_world_size(void);

/* The ranks one training spans: one, unless the training driver asked for all of them
 * (parallel_set_spanning(1), `dpkit train`) and no sweep gives each rank trainings of its own
 * (parallel_set_alone(1), `dpkit curve` and `dpkit audit`). The calls below act on these ranks.
 * Both setters return the previous setting. */
int parallel_rank(void);
int parallel_size(void);
int parallel_set_spanning(int spanning);
int parallel_set_alone(int alone);

/* Element-wise sums over the ranks, in place; every rank gets the same result. */
int parallel_sum_float(float *values, size_t n, dpkit_error *err);
int parallel_sum_double(double *values, size_t n, dpkit_error *err);
/* Rank 0's bytes to every rank. */
int parallel_broadcast(void *bytes, size_t n, dpkit_error *err);
/* Agreement on failure: 0 when status is 0 on every rank; otherwise -1, and a rank whose own
 * status was 0 gets an error naming the first rank that failed (its message is that rank's). */
int parallel_agree(int status, dpkit_error *err);
/* The same over the world's ranks (a sweep's, whatever the mode). */
int parallel_agree_world(int status, dpkit_error *err);

/* Sweeps: item i of `count` belongs to rank i % world size. */
int parallel_owns(size_t item);
/* The owner's n bytes of `item` (rank item % world size) to every rank of the world. */
int parallel_broadcast_item(void *bytes, size_t n, size_t item, dpkit_error *err);
/* After each rank filled the items it owns, every rank gets all of them (item_size bytes each,
 * contiguous); the world's ranks, whatever parallel_set_alone says. */
int parallel_share_items(void *items, size_t item_size, size_t count, dpkit_error *err);

#endif
