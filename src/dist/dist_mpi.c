/* dist_mpi.c - include/vidgen/dist.h on MPI (built with `make MPI=1`, -DVG_MPI). One world
 * communicator; only the main thread calls MPI (MPI_THREAD_FUNNELED). Errors come back as
 * vg_status (MPI_ERRORS_RETURN), never MPI_Abort. Counts are int in MPI 3.1: large buffers go
 * in pieces of at most 1 GiB. */
#include "vidgen/dist.h"
#ifdef VG_MPI
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static int g_rank = 0, g_size = 1, g_inited = 0;
#define PIECE ((size_t)1 << 30)

static vg_status mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return vg_fail(VG_ERR_IO, "MPI %s failed on rank %d: %s", what, g_rank, msg);
}

vg_status vg_dist_init(int *argc, char ***argv) {
    int flag = 0;
    MPI_Initialized(&flag);
    if (flag) return VG_OK;
    int provided = 0;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return vg_fail(VG_ERR_IO, "MPI_Init_thread failed (%d)", rc);
    g_inited = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (provided < MPI_THREAD_FUNNELED)
        return vg_fail(VG_ERR_UNSUPPORTED, "this MPI gives thread level %d, vidgen needs MPI_THREAD_FUNNELED", provided);
    return VG_OK;
}

void vg_dist_finalize(void) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (g_inited && !fin) MPI_Finalize();
}

int vg_dist_rank(void) { return g_rank; }
int vg_dist_size(void) { return g_size; }
bool vg_dist_mpi_build(void) { return true; }

vg_status vg_dist_bcast(void *buf, size_t bytes, int root) {
    if (g_size == 1) return VG_OK;
    for (size_t o = 0; o < bytes; o += PIECE) {
        size_t n = bytes - o < PIECE ? bytes - o : PIECE;
        int rc = MPI_Bcast((char *)buf + o, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Bcast");
    }
    return VG_OK;
}

vg_status vg_dist_barrier(void) {
    if (g_size == 1) return VG_OK;
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? VG_OK : mpi_fail(rc, "MPI_Barrier");
}

int64_t vg_dist_max_i64(int64_t v) {
    if (g_size == 1) return v;
    int64_t out = v;
    /* on an MPI error the local value stands: the caller's own failure still counts */
    if (MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) return v > 0 ? v : 1;
    return out;
}

vg_status vg_dist_send(const void *buf, size_t bytes, int to, int tag) {
    for (size_t o = 0; o < bytes || o == 0; o += PIECE) {
        size_t n = bytes - o < PIECE ? bytes - o : PIECE;
        int rc = MPI_Send((const char *)buf + o, (int)n, MPI_BYTE, to, tag, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Send");
        if (!bytes) break;
    }
    return VG_OK;
}

vg_status vg_dist_recv(void *buf, size_t bytes, int from, int tag) {
    for (size_t o = 0; o < bytes || o == 0; o += PIECE) {
        size_t n = bytes - o < PIECE ? bytes - o : PIECE;
        int rc = MPI_Recv((char *)buf + o, (int)n, MPI_BYTE, from, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Recv");
        if (!bytes) break;
    }
    return VG_OK;
}

/* every message in pieces of at most 1 GiB, all posted, then one MPI_Waitall */
vg_status vg_dist_exchange(vg_dist_msg *msgs, int n, int tag) {
    int nreq = 0;
    for (int i = 0; i < n; i++) nreq += msgs[i].bytes ? (int)((msgs[i].bytes + PIECE - 1) / PIECE) : 0;
    if (!nreq) return VG_OK;
    MPI_Request *rq = malloc(sizeof(MPI_Request) * (size_t)nreq);
    if (!rq) return vg_fail(VG_ERR_OOM, "MPI exchange: out of memory for %d requests", nreq);
    int k = 0, rc = MPI_SUCCESS;
    for (int i = 0; i < n && rc == MPI_SUCCESS; i++) {
        if (msgs[i].peer == g_rank || msgs[i].peer < 0 || msgs[i].peer >= g_size) {
            rc = MPI_ERR_RANK;
            break;
        }
        for (size_t o = 0; o < msgs[i].bytes && rc == MPI_SUCCESS; o += PIECE) {
            size_t b = msgs[i].bytes - o < PIECE ? msgs[i].bytes - o : PIECE;
            char *p = (char *)msgs[i].buf + o;
            rc = msgs[i].send ? MPI_Isend(p, (int)b, MPI_BYTE, msgs[i].peer, tag, MPI_COMM_WORLD, &rq[k])
                              : MPI_Irecv(p, (int)b, MPI_BYTE, msgs[i].peer, tag, MPI_COMM_WORLD, &rq[k]);
            if (rc == MPI_SUCCESS) k++;
        }
    }
    int rw = k ? MPI_Waitall(k, rq, MPI_STATUSES_IGNORE) : MPI_SUCCESS; /* what was posted completes */
    free(rq);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Isend/MPI_Irecv");
    return rw == MPI_SUCCESS ? VG_OK : mpi_fail(rw, "MPI_Waitall");
}

/* lengths by MPI_Gather, then each rank's bytes by point-to-point (any size) */
vg_status vg_dist_gather_bytes(const void *mine, size_t n, char **all, size_t **lens) {
    *all = NULL;
    *lens = NULL;
    uint64_t mylen = n, *l = NULL;
    if (g_rank == 0 && !(l = malloc(sizeof(uint64_t) * (size_t)g_size))) return vg_fail(VG_ERR_OOM, "out of memory");
    int rc = MPI_Gather(&mylen, 1, MPI_UINT64_T, l, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) { free(l); return mpi_fail(rc, "MPI_Gather"); }
    if (g_rank != 0) return vg_dist_send(mine, n, 0, 7101);
    size_t tot = 0;
    for (int r = 0; r < g_size; r++) tot += l[r];
    char *buf = malloc(tot + 1);
    size_t *ls = malloc(sizeof(size_t) * (size_t)g_size);
    vg_status st = buf && ls ? VG_OK : vg_fail(VG_ERR_OOM, "out of memory");
    size_t o = 0;
    for (int r = 0; r < g_size; r++) { /* receive from every rank even after a failure: none may hang */
        if (ls) ls[r] = l[r];
        if (r == 0) { if (buf && n) memcpy(buf, mine, n); }
        else if (buf) { vg_status s2 = vg_dist_recv(buf + o, l[r], r, 7101); if (!st) st = s2; }
        else { char *tmp = malloc(l[r] ? l[r] : 1); if (tmp) vg_dist_recv(tmp, l[r], r, 7101); free(tmp); }
        o += l[r];
    }
    free(l);
    if (st) { free(buf); free(ls); return st; }
    buf[tot] = 0;
    *all = buf;
    *lens = ls;
    return VG_OK;
}

struct vg_dist_counter { MPI_Win win; int64_t *base; int64_t local; };

vg_status vg_dist_counter_open(vg_dist_counter **c) {
    *c = calloc(1, sizeof(**c));
    if (!*c) return vg_fail(VG_ERR_OOM, "out of memory");
    if (g_size == 1) return VG_OK;
    MPI_Aint sz = g_rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0;
    int rc = MPI_Win_allocate(sz, sizeof(int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &(*c)->base, &(*c)->win);
    if (rc != MPI_SUCCESS) { free(*c); *c = NULL; return mpi_fail(rc, "MPI_Win_allocate"); }
    MPI_Win_set_errhandler((*c)->win, MPI_ERRORS_RETURN);
    if (g_rank == 0) *(*c)->base = 0;
    MPI_Barrier(MPI_COMM_WORLD); /* the counter is 0 before anyone takes from it */
    MPI_Win_lock_all(0, (*c)->win);
    return VG_OK;
}

int64_t vg_dist_counter_next(vg_dist_counter *c) {
    if (g_size == 1) return c->local++;
    int64_t one = 1, got = -1;
    if (MPI_Fetch_and_op(&one, &got, MPI_INT64_T, 0, 0, MPI_SUM, c->win) != MPI_SUCCESS) return -1;
    if (MPI_Win_flush(0, c->win) != MPI_SUCCESS) return -1;
    return got;
}

void vg_dist_counter_close(vg_dist_counter *c) {
    if (!c) return;
    if (g_size > 1) {
        MPI_Win_unlock_all(c->win);
        MPI_Win_free(&c->win); /* collective: waits for every rank */
    }
    free(c);
}
#else
typedef int vg_dist_mpi_unused;
#endif
