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
#include "vidgen/attn.h"
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

/* Many messages at once (MPI_Isend / MPI_Irecv of every entry, then MPI_Waitall): each entry
 * sends (send) or receives `bytes` to / from world rank `peer`; entries between the same two
 * ranks with the same tag match in the order posted. No entry may name this rank. */
typedef struct { void *buf; size_t bytes; int peer; bool send; } vg_dist_msg;
vg_status vg_dist_exchange(vg_dist_msg *msgs, int n, int tag);

/* A shared job counter: each call of next returns a distinct value 0, 1, 2, ... across all
 * ranks (an MPI_Fetch_and_op on a window at rank 0: no rank needs to be waiting). open and
 * close are collective. */
typedef struct vg_dist_counter vg_dist_counter;
vg_status vg_dist_counter_open(vg_dist_counter **c);
int64_t vg_dist_counter_next(vg_dist_counter *c);  /* -1 on an MPI error */
void vg_dist_counter_close(vg_dist_counter *c);

/* ---- one clip across ranks (src/dist/dist_clip.c) ----------------------------------------
 * With CFG and an even rank count the cond branch runs on ranks [0, P/2) and the uncond on
 * [P/2, P) (one swap of the model output per step); within a branch group the F frames are cut
 * into contiguous blocks, block g = [g F / G, (g+1) F / G) for group size G (empty when F < G).
 * Each rank runs the DiT on its block only; self-attention gets the K and V of the frames its
 * block needs from the ranks that hold them (vg_dist_attn: the +-K frames beside the block with
 * a temporal window K, every frame of the group with full attention). The key buffer is laid
 * out in global frame order and the attention tiles start at frame starts, so every query sees
 * its keys in the single-process order: the clip is the same bits at any rank count. */
typedef struct {
    int P;              /* ranks in the run */
    int groups;         /* 2: CFG branches on two halves of the ranks, else 1 */
    int branch;         /* this rank's branch (0 cond, 1 uncond) when groups == 2 */
    int gsize, gi, base;/* ranks in this rank's group, its index there, the group's first world rank */
    int partner;        /* world rank with the same block in the other group, -1 if none */
    int64_t F, f0, f1;  /* frames in the clip, this rank's block [f0, f1) */
} vg_dist_split;
/* The split of F frames over all ranks (on = false or one rank: the whole clip here). */
void vg_dist_split_plan(vg_dist_split *s, int64_t F, bool cfg_branches, bool on);
/* Block [*f0, *f1) of group index g. */
void vg_dist_split_block(const vg_dist_split *s, int g, int64_t *f0, int64_t *f1);
/* Swap with the partner: send mine (n floats), receive theirs (groups == 2 only). */
vg_status vg_dist_split_swap(const vg_dist_split *s, const float *mine, float *theirs, int64_t n);
/* x [C][F][HW]: every rank of the group gets every block (each sends its own to the others). */
vg_status vg_dist_split_allgather(const vg_dist_split *s, float *x, int64_t C, int64_t HW);

/* Self-attention of this rank's frame block (the hook vg_dit_acts_set_sa takes): S tokens per
 * frame, D = heads * head dim, window as given to the forward (< 0 all). With a window: the
 * K/V of the frames beside the block. Full attention: Ulysses (q, k, v all-to-all over heads,
 * attention for heads / G heads, the output back) when G divides the heads and F >= G, else
 * every K/V of the group gathered. Buffers are made here, before the first step, so no rank
 * fails mid-run. */
typedef struct vg_dist_attn vg_dist_attn;
vg_status vg_dist_attn_new(vg_dist_attn **a, const vg_dist_split *s, int64_t S, int64_t D, int heads, int window);
void vg_dist_attn_free(vg_dist_attn *a);
/* q, k, v, out [(f1-f0) S][D] of one sample; sh: the forward's shape (heads, head dim, scale). */
vg_status vg_dist_attn_run(void *a, float *out, const float *q, const float *k, const float *v,
                           const vg_attn_shape *sh, int window);

/* What this process sent for split clips since the start: K/V halo (or gather) bytes and the
 * number of self-attention calls that sent them, CFG swap bytes, final gather bytes. */
typedef struct { uint64_t attn_bytes, attn_calls, swap_bytes, swaps, gather_bytes; } vg_dist_clip_stats;
void vg_dist_clip_stats_get(vg_dist_clip_stats *out);

#endif
