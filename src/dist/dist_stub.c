/* dist_stub.c - one-rank versions of include/vidgen/dist.h for the plain (MPI-free) build. */
#include "vidgen/dist.h"
#ifndef VG_MPI
#include <stdlib.h>
#include <string.h>

struct vg_dist_counter { int64_t next; };

vg_status vg_dist_init(int *argc, char ***argv) { (void)argc; (void)argv; return VG_OK; }
void vg_dist_finalize(void) {}
int vg_dist_rank(void) { return 0; }
int vg_dist_size(void) { return 1; }
bool vg_dist_mpi_build(void) { return false; }
vg_status vg_dist_bcast(void *buf, size_t bytes, int root) { (void)buf; (void)bytes; (void)root; return VG_OK; }
vg_status vg_dist_barrier(void) { return VG_OK; }
int64_t vg_dist_max_i64(int64_t v) { return v; }
vg_status vg_dist_send(const void *buf, size_t bytes, int to, int tag) {
    (void)buf; (void)bytes; (void)tag;
    return vg_fail(VG_ERR_ARG, "vg_dist_send: no rank %d in a one-rank run", to);
}
vg_status vg_dist_recv(void *buf, size_t bytes, int from, int tag) {
    (void)buf; (void)bytes; (void)tag;
    return vg_fail(VG_ERR_ARG, "vg_dist_recv: no rank %d in a one-rank run", from);
}
vg_status vg_dist_exchange(vg_dist_msg *msgs, int n, int tag) {
    (void)tag;
    for (int i = 0; i < n; i++)
        if (msgs[i].bytes) return vg_fail(VG_ERR_ARG, "vg_dist_exchange: no rank %d in a one-rank run", msgs[i].peer);
    return VG_OK;
}
vg_status vg_dist_gather_bytes(const void *mine, size_t n, char **all, size_t **lens) {
    *all = malloc(n + 1);
    *lens = malloc(sizeof(size_t));
    if (!*all || !*lens) { free(*all); free(*lens); *all = NULL; *lens = NULL; return vg_fail(VG_ERR_OOM, "out of memory"); }
    if (n) memcpy(*all, mine, n);
    (*all)[n] = 0;
    (*lens)[0] = n;
    return VG_OK;
}
vg_status vg_dist_counter_open(vg_dist_counter **c) {
    *c = calloc(1, sizeof(**c));
    return *c ? VG_OK : vg_fail(VG_ERR_OOM, "out of memory");
}
int64_t vg_dist_counter_next(vg_dist_counter *c) { return c->next++; }
void vg_dist_counter_close(vg_dist_counter *c) { free(c); }
#else
typedef int vg_dist_stub_unused;
#endif
