/* MPI_COMM_WORLD as the backend of common/parallel.h (built with DPKIT_MPI); without MPI only
 * the refusal of a multi-rank launch. */
#include "mpi/parallel_mpi.h"

#include "common/parallel.h"

#include <stdlib.h>

#ifdef DPKIT_MPI
#include <mpi.h>

static parallel_backend backend;
static int started;

/* MPI counts are ints: large arrays go in pieces of at most 2^28 elements. */
#define PIECE ((size_t)1 << 28)

static int sum(void *values, size_t n, int is_double, dpkit_error *err)
{
    size_t element = is_double ? sizeof(double) : sizeof(float);
    for (size_t first = 0; first < n; first += PIECE) {
        size_t m = n - first < PIECE ? n - first : PIECE;
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)values + first * element, (int)m,
                          is_double ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return error_set(err, "MPI: the sum of %zu values over %d ranks failed", n,
                             backend.size);
    }
    return 0;
}

static int broadcast(void *bytes, size_t n, int root, dpkit_error *err)
{
    for (size_t first = 0; first < n; first += PIECE) {
        size_t m = n - first < PIECE ? n - first : PIECE;
        if (MPI_Bcast((char *)bytes + first, (int)m, MPI_BYTE, root, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return error_set(err, "MPI: broadcasting %zu bytes from rank %d failed", n, root);
    }
    return 0;
}

static int minimum(int value, int *smallest, dpkit_error *err)
{
    if (MPI_Allreduce(&value, smallest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return error_set(err, "MPI: the ranks could not agree on success");
    return 0;
}
#endif

int parallel_mpi_init(dpkit_error *err)
{
    /* Only under a launcher (OpenMPI's mpirun, PMI or PMIx ones): a plain start never pays for
     * MPI's start-up (OpenMPI's singleton start spawns a daemon). */
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (!size)
        size = getenv("PMI_SIZE");
#ifdef DPKIT_MPI
    if (!size && !getenv("PMIX_RANK"))
        return 0;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return error_set(err, "MPI_Init failed under the MPI launcher");
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &backend.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &backend.size);
    backend.sum = sum, backend.broadcast = broadcast, backend.minimum = minimum;
    parallel_use(&backend);
    return 0;
#else
    if (size && atoi(size) > 1)
        return error_set(err, "started by mpirun with %s ranks, but this dpkit was built "
                              "without MPI: rebuild it with libopenmpi-dev installed "
                              "(docs/mpi.md), or run one process", size);
    return 0;
#endif
}

void parallel_mpi_finish(void)
{
#ifdef DPKIT_MPI
    if (started) {
        parallel_use(NULL);
        MPI_Finalize();
        started = 0;
    }
#endif
}
