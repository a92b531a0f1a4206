/* dist.h - vidgen across processes (MPI). `make MPI=1` builds against MPI (-DVG_MPI,
 * src/dist/dist_mpi.c); plain `make` compiles the one-rank versions of the same calls
 * (src/dist/dist_stub.c), so callers never #ifdef. Only the main thread calls these, never
 * from inside an OpenMP region (MPI_THREAD_FUNNELED). Every call except rank/size/active is
 * collective or point-to-point and must be reached by the ranks concerned in the same order;
 * no call aborts: failures come back as vg_status with the error recorded by vg_fail. */
#ifndef VIDGEN_DIST_H
#define VIDGEN_DIST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vidgen/status.h"

/* MPI_Init_thread(FUNNELED); also fine without mpirun (one rank). Call once from main. */
vg_status vg_dist_init(int *argc, char ***argv);
void vg_dist_finalize(void);
int vg_dist_rank(void);
int vg_dist_size(void);
bool vg_dist_mpi_build(void); /* true in the MPI build */

/* Collectives over all ranks (no-ops / identity on one rank). */
vg_status vg_dist_bcast(void *buf, size_t bytes, int root);
vg_status vg_dist_barrier(void);
/* max of v over the ranks, returned on every rank (agreement on errors and stop requests) */
int64_t vg_dist_max_i64(int64_t v);
/* Point to point (blocking), any size (sent in pieces of at most 1 GiB). */
vg_status vg_dist_send(const void *buf, size_t bytes, int to, int tag);
vg_status vg_dist_recv(void *buf, size_t bytes, int from, int tag);
/* Rank 0 gets every rank's bytes: *all = concatenation in rank order (malloc'd, NUL-terminated
 * as a convenience), lens[r] (malloc'd, size entries) each rank's length. Other ranks get
 * *all = NULL, *lens = NULL. */
vg_status vg_dist_gather_bytes(const void *mine, size_t n, char **all, size_t **lens);

/* A shared job counter: each call of next returns a distinct value 0, 1, 2, ... across all
 * ranks (an MPI_Fetch_and_op on a window at rank 0: no rank needs to be waiting). open and
 * close are collective. */
typedef struct vg_dist_counter vg_dist_counter;
vg_status vg_dist_counter_open(vg_dist_counter **c);
int64_t vg_dist_counter_next(vg_dist_counter *c);  /* -1 on an MPI error */
void vg_dist_counter_close(vg_dist_counter *c);

#endif
