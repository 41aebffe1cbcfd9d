/* The MPI backend of common/parallel.h, for programs (the dpkit program, bench/mpi-model): kept
 * out of libdpkit so that the library, its static link and the Python package need no MPI. */
#ifndef DPKIT_MPI_PARALLEL_MPI_H
#define DPKIT_MPI_PARALLEL_MPI_H

#include "common/error.h"

/* Under an MPI launcher (mpirun): MPI_Init and the backend installed (parallel_use). A plain
 * start stays one process without MPI. Built without DPKIT_MPI, fails when started as one of
 * several ranks (K copies of one run would write the same files). */
int parallel_mpi_init(dpkit_error *err);
/* MPI_Finalize if parallel_mpi_init started MPI. */
void parallel_mpi_finish(void);

#endif
