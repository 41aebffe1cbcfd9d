/* MPI ranks and collectives for the data-parallel training and the sweeps (common/parallel.h);
 * one rank when built without MPI (no DPKIT_MPI) or when MPI was never initialised. */
#include "common/parallel.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef DPKIT_MPI
#include <mpi.h>
#endif

static int spanning_mode; /* the training driver trains on all ranks */
static int alone_mode;    /* a sweep's trainings: each rank trains alone */

#ifdef DPKIT_MPI
static int started; /* parallel_init called MPI_Init */

/* MPI is usable: initialised (by parallel_init or by the program using the library) and not
 * finalised. */
static int mpi_active(void)
{
    int init = 0, done = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&done);
    return init && !done;
}
#endif

int parallel_init(dpkit_error *err)
{
    /* Only under a launcher (OpenMPI's mpirun, PMI or PMIx ones): a plain start stays one
     * process and never pays for MPI's start-up (OpenMPI's singleton start spawns a daemon). */
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (!size)
        size = getenv("PMI_SIZE");
#ifdef DPKIT_MPI
    if ((size || getenv("PMIX_RANK")) && !mpi_active() && MPI_Init(NULL, NULL) == MPI_SUCCESS)
        started = 1;
    (void)err;
    return 0;
#else
    /* K copies of one run would write the same files. */
    if (size && atoi(size) > 1)
        return error_set(err, "started by mpirun with %s ranks, but this dpkit was built "
                              "without MPI: rebuild it with libopenmpi-dev installed "
                              "(docs/mpi.md), or run one process", size);
    return 0;
#endif
}

void parallel_finish(void)
{
#ifdef DPKIT_MPI
    if (started && mpi_active())
        MPI_Finalize();
    started = 0;
#endif
}

int parallel_world_rank(void)
{
#ifdef DPKIT_MPI
    int rank = 0;
    if (mpi_active())
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
#else
    return 0;
#endif
}

int parallel_world_size(void)
{
#ifdef DPKIT_MPI
    int size = 1;
    if (mpi_active())
        MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
#else
    return 1;
#endif
}

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

#ifdef DPKIT_MPI
/* MPI counts are ints: large arrays go in pieces of at most 2^28 elements. */
#define PIECE ((size_t)1 << 28)

static int sum_in_place(void *values, size_t n, size_t element, MPI_Datatype type,
                        const char *what, dpkit_error *err)
{
    for (size_t first = 0; first < n; first += PIECE) {
        size_t m = n - first < PIECE ? n - first : PIECE;
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)values + first * element, (int)m, type, MPI_SUM,
                          MPI_COMM_WORLD) != MPI_SUCCESS)
            return error_set(err, "MPI: the sum of %zu %s values over %d ranks failed", n, what,
                             parallel_size());
    }
    return 0;
}

static int broadcast_from(void *bytes, size_t n, int root, dpkit_error *err)
{
    for (size_t first = 0; first < n; first += PIECE) {
        size_t m = n - first < PIECE ? n - first : PIECE;
        if (MPI_Bcast((char *)bytes + first, (int)m, MPI_BYTE, root, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return error_set(err, "MPI: broadcasting %zu bytes from rank %d failed", n, root);
    }
    return 0;
}
#endif

int parallel_sum_float(float *values, size_t n, dpkit_error *err)
{
#ifdef DPKIT_MPI
    if (parallel_size() > 1)
        return sum_in_place(values, n, sizeof *values, MPI_FLOAT, "float", err);
#endif
    (void)values, (void)n, (void)err;
    return 0;
}

int parallel_sum_double(double *values, size_t n, dpkit_error *err)
{
#ifdef DPKIT_MPI
    if (parallel_size() > 1)
        return sum_in_place(values, n, sizeof *values, MPI_DOUBLE, "double", err);
#endif
    (void)values, (void)n, (void)err;
    return 0;
}

int parallel_broadcast(void *bytes, size_t n, dpkit_error *err)
{
#ifdef DPKIT_MPI
    if (parallel_size() > 1)
        return broadcast_from(bytes, n, 0, err);
#endif
    (void)bytes, (void)n, (void)err;
    return 0;
}

/* Over `ranks` ranks: the training's or the world's (the same communicator; a training that
 * spans fewer than all ranks spans one, and then agrees with itself). */
static int agree_over(int status, int ranks, int rank, dpkit_error *err)
{
#ifdef DPKIT_MPI
    if (ranks > 1) {
        int mine = status ? rank : INT_MAX, first = INT_MAX;
        if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
            return error_set(err, "MPI: the ranks could not agree on success");
        if (first == INT_MAX)
            return 0;
        if (!status)
            error_set(err, "rank %d of %d failed (its message is above)", first, ranks);
        return -1;
    }
#endif
    (void)ranks, (void)rank, (void)err;
    return status ? -1 : 0;
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
#ifdef DPKIT_MPI
    size_t size = (size_t)parallel_world_size();
    if (size > 1)
        return broadcast_from(bytes, n, (int)(item % size), err);
#endif
    (void)bytes, (void)n, (void)item, (void)err;
    return 0;
}

int parallel_share_items(void *items, size_t item_size, size_t count, dpkit_error *err)
{
    for (size_t i = 0; parallel_world_size() > 1 && i < count; i++)
        if (parallel_broadcast_item((char *)items + i * item_size, item_size, i, err))
            return -1;
    return 0;
}
