/* dist_clip.c - one clip across ranks (include/vidgen/dist.h): the split plan (CFG branch groups,
 * contiguous frame blocks), the per-layer K/V exchange of self-attention, the CFG swap and the
 * final gather. Built in both builds; in the plain build (one rank) nothing is ever sent.
 * Legend: F frames, S tokens per frame, D model dim, K temporal window, G ranks per group. */
#include <stdlib.h>
#include <string.h>
#include "vidgen/attn.h"
#include "vidgen/dist.h"

static vg_dist_clip_stats g_stats;

void vg_dist_clip_stats_get(vg_dist_clip_stats *out) { *out = g_stats; }

void vg_dist_split_plan(vg_dist_split *s, int64_t F, bool cfg_branches, bool on) {
    const int P = on ? vg_dist_size() : 1, r = on ? vg_dist_rank() : 0;
    *s = (vg_dist_split){.P = P, .groups = 1, .gsize = P, .gi = r, .partner = -1, .F = F};
    if (cfg_branches && P >= 2 && P % 2 == 0) {
        s->groups = 2;
        s->gsize = P / 2;
        s->branch = r / s->gsize;
        s->gi = r % s->gsize;
        s->base = s->branch * s->gsize;
        s->partner = (1 - s->branch) * s->gsize + s->gi;
    }
    vg_dist_split_block(s, s->gi, &s->f0, &s->f1);
}

void vg_dist_split_block(const vg_dist_split *s, int g, int64_t *f0, int64_t *f1) {
    *f0 = (int64_t)g * s->F / s->gsize;
    *f1 = (int64_t)(g + 1) * s->F / s->gsize;
}

vg_status vg_dist_split_swap(const vg_dist_split *s, const float *mine, float *theirs, int64_t n) {
    if (s->groups != 2 || n <= 0) return VG_OK;
    vg_dist_msg m[2] = {{(void *)mine, sizeof(float) * (size_t)n, s->partner, true},
                        {theirs, sizeof(float) * (size_t)n, s->partner, false}};
    g_stats.swap_bytes += m[0].bytes;
    g_stats.swaps++;
    return vg_dist_exchange(m, 2, 7201);
}

vg_status vg_dist_split_allgather(const vg_dist_split *s, float *x, int64_t C, int64_t HW) {
    if (s->gsize < 2) return VG_OK;
    vg_dist_msg *m = malloc(sizeof(vg_dist_msg) * (size_t)(2 * C * s->gsize));
    if (!m) return vg_fail(VG_ERR_OOM, "frame gather: out of memory");
    int n = 0;
    for (int g = 0; g < s->gsize; g++) {
        if (g == s->gi) continue;
        int64_t a, b;
        vg_dist_split_block(s, g, &a, &b);
        for (int64_t c = 0; c < C; c++) {
            if (s->f1 > s->f0) {
                m[n++] = (vg_dist_msg){x + (c * s->F + s->f0) * HW, sizeof(float) * (size_t)((s->f1 - s->f0) * HW), s->base + g, true};
                g_stats.gather_bytes += m[n - 1].bytes;
            }
            if (b > a) m[n++] = (vg_dist_msg){x + (c * s->F + a) * HW, sizeof(float) * (size_t)((b - a) * HW), s->base + g, false};
        }
    }
    vg_status st = vg_dist_exchange(m, n, 7202);
    free(m);
    return st;
}

/* ---- self-attention of a frame block ---------------------------------------------------- */

struct vg_dist_attn {
    vg_dist_split s;
    int64_t S, D;
    int K;                 /* effective window over the whole clip, -1 = all frames */
    int64_t h0, h1;        /* the frames whose keys this block's queries see */
    float *qx, *kx, *vx, *ox; /* [(h1-h0) S][D]; qx's halo rows stay 0 (their output is dropped) */
    int Hh;                /* > 0: full attention by Ulysses, Hh heads per rank of the group */
    float *qh, *kh, *vh, *oh; /* Ulysses: [F S][Hh hd], every token of this rank's heads */
    float *sb, *rb;        /* Ulysses: q, k, v of this block packed per destination; outputs back */
    vg_dist_msg *m;
};

/* the frames [*h0, *h1) that the queries of frames [f0, f1) see */
static void halo(const vg_dist_attn *a, int64_t f0, int64_t f1, int64_t *h0, int64_t *h1) {
    if (a->K < 0) { *h0 = 0; *h1 = a->s.F; return; }
    *h0 = f0 - a->K < 0 ? 0 : f0 - a->K;
    *h1 = f1 + a->K > a->s.F ? a->s.F : f1 + a->K;
}

vg_status vg_dist_attn_new(vg_dist_attn **out, const vg_dist_split *s, int64_t S, int64_t D, int heads, int window) {
    vg_dist_attn *a = calloc(1, sizeof(*a));
    if (!a) return vg_fail(VG_ERR_OOM, "split attention: out of memory");
    a->s = *s; a->S = S; a->D = D;
    /* as the forward's eff_window, but over the whole clip */
    a->K = (window < 0 || window >= s->F - 1) ? -1 : window;
    /* full attention: Ulysses when the heads divide over the group and every rank has frames */
    if (a->K < 0 && s->gsize > 1 && heads % s->gsize == 0 && s->F >= s->gsize) {
        a->Hh = heads / s->gsize;
        const size_t all = sizeof(float) * (size_t)(s->F * S) * (size_t)(D / s->gsize), mine = sizeof(float) * (size_t)((s->f1 - s->f0) * S * D);
        a->qh = malloc(all); a->kh = malloc(all); a->vh = malloc(all); a->oh = malloc(all);
        a->sb = malloc(3 * mine + 1); a->rb = malloc(mine + 1);
        a->m = malloc(sizeof(vg_dist_msg) * (size_t)(6 * s->gsize)); /* q, k, v each way per rank */
        if (!a->qh || !a->kh || !a->vh || !a->oh || !a->sb || !a->rb || !a->m) {
            vg_dist_attn_free(a);
            return vg_fail(VG_ERR_OOM, "split attention: out of memory for %lld tokens", (long long)(s->F * S));
        }
        *out = a;
        return VG_OK;
    }
    halo(a, s->f0, s->f1, &a->h0, &a->h1);
    size_t rows = (size_t)((a->h1 - a->h0) * S), bytes = sizeof(float) * rows * (size_t)D;
    a->kx = malloc(bytes ? bytes : 1);
    a->vx = malloc(bytes ? bytes : 1);
    if (a->K >= 0) { a->qx = calloc(1, bytes ? bytes : 1); a->ox = malloc(bytes ? bytes : 1); }
    a->m = malloc(sizeof(vg_dist_msg) * (size_t)(4 * s->gsize));
    if (!a->kx || !a->vx || !a->m || (a->K >= 0 && (!a->qx || !a->ox))) {
        vg_dist_attn_free(a);
        return vg_fail(VG_ERR_OOM, "split attention: out of memory for %zu key rows", rows);
    }
    *out = a;
    return VG_OK;
}

void vg_dist_attn_free(vg_dist_attn *a) {
    if (!a) return;
    free(a->qx); free(a->kx); free(a->vx); free(a->ox); free(a->m);
    free(a->qh); free(a->kh); free(a->vh); free(a->oh); free(a->sb); free(a->rb);
    free(a);
}

/* frames [f0, f1) of a [frames][S][D] buffer whose first frame is `first` */
static void *rows_of(const float *buf, int64_t first, int64_t f0, int64_t S, int64_t D) {
    return (void *)(buf + (f0 - first) * S * D);
}

/* Full attention by Ulysses (DeepSpeed-Ulysses, arXiv 2309.14509): every rank sends each other
 * rank the q, k, v columns of that rank's heads for its own tokens, runs attention for its Hh
 * heads over all tokens (keys in global order, tiles from key 0, as on one process), and sends
 * each rank the output rows of that rank's tokens back. Per rank and call about
 * 4 (F S / G) D (G-1)/G values cross, against 2 (G-1) (F S / G) D for gathering every K/V. */
static vg_status ulysses(vg_dist_attn *a, float *out, const float *q, const float *k, const float *v, const vg_attn_shape *sh) {
    const vg_dist_split *s = &a->s;
    const int64_t S = a->S, D = a->D, rows = (s->f1 - s->f0) * S, Wh = (int64_t)a->Hh * sh->hd;
    const size_t rb = sizeof(float) * (size_t)Wh;
    const float *src[3] = {q, k, v};
    float *dst[3] = {a->qh, a->kh, a->vh};
    /* this block's rows of head group g, packed: sb [g][q k v][rows][Wh]; own group straight in */
    for (int g = 0; g < s->gsize; g++)
        for (int t = 0; t < 3; t++) {
            float *pk = g == s->gi ? dst[t] + s->f0 * S * Wh : a->sb + ((int64_t)(g * 3 + t) * rows) * Wh;
            for (int64_t r = 0; r < rows; r++) memcpy(pk + r * Wh, src[t] + r * D + g * Wh, rb);
        }
    int n = 0;
    for (int g = 0; g < s->gsize; g++) {
        if (g == s->gi) continue;
        int64_t b0, b1;
        vg_dist_split_block(s, g, &b0, &b1);
        for (int t = 0; t < 3; t++) {
            a->m[n++] = (vg_dist_msg){a->sb + ((int64_t)(g * 3 + t) * rows) * Wh, (size_t)rows * rb, s->base + g, true};
            a->m[n++] = (vg_dist_msg){dst[t] + b0 * S * Wh, (size_t)((b1 - b0) * S) * rb, s->base + g, false};
            g_stats.attn_bytes += (uint64_t)rows * rb;
        }
    }
    vg_status st = vg_dist_exchange(a->m, n, 7204);
    if (st) return st;
    vg_attn_shape x = {.Lq = s->F * S, .Lk = s->F * S, .H = a->Hh, .hd = sh->hd, .S = S, .window = -1, .scale = sh->scale};
    vg_attn(a->oh, NULL, a->qh, a->kh, a->vh, &x);
    n = 0;
    for (int g = 0; g < s->gsize; g++) {
        if (g == s->gi) continue;
        int64_t b0, b1;
        vg_dist_split_block(s, g, &b0, &b1);
        a->m[n++] = (vg_dist_msg){a->oh + b0 * S * Wh, (size_t)((b1 - b0) * S) * rb, s->base + g, true};
        a->m[n++] = (vg_dist_msg){a->rb + (int64_t)g * rows * Wh, (size_t)rows * rb, s->base + g, false};
        g_stats.attn_bytes += (uint64_t)((b1 - b0) * S) * rb;
    }
    if ((st = vg_dist_exchange(a->m, n, 7205))) return st;
    for (int g = 0; g < s->gsize; g++) {
        const float *o = g == s->gi ? a->oh + s->f0 * S * Wh : a->rb + (int64_t)g * rows * Wh;
        for (int64_t r = 0; r < rows; r++) memcpy(out + r * D + g * Wh, o + r * Wh, rb);
    }
    return VG_OK;
}

vg_status vg_dist_attn_run(void *ctx, float *out, const float *q, const float *k, const float *v,
                           const vg_attn_shape *sh, int window) {
    vg_dist_attn *a = ctx;
    const vg_dist_split *s = &a->s;
    const int64_t S = a->S, D = a->D, nb = s->f1 - s->f0, fb = sizeof(float) * S * D;
    (void)window; /* fixed when the buffers were made */
    if (nb <= 0) return VG_OK;
    if (a->Hh > 0) {
        g_stats.attn_calls++;
        return ulysses(a, out, q, k, v, sh);
    }
    /* own K and V into the key buffer at their global frame position */
    memcpy(rows_of(a->kx, a->h0, s->f0, S, D), k, (size_t)(nb * fb));
    memcpy(rows_of(a->vx, a->h0, s->f0, S, D), v, (size_t)(nb * fb));
    int n = 0;
    for (int g = 0; g < s->gsize; g++) {
        if (g == s->gi) continue;
        int64_t b0, b1, g0, g1, lo, hi;
        vg_dist_split_block(s, g, &b0, &b1);
        if (b1 <= b0) continue;
        /* theirs that I see */
        lo = b0 > a->h0 ? b0 : a->h0; hi = b1 < a->h1 ? b1 : a->h1;
        if (hi > lo) {
            a->m[n++] = (vg_dist_msg){rows_of(a->kx, a->h0, lo, S, D), (size_t)((hi - lo) * fb), s->base + g, false};
            a->m[n++] = (vg_dist_msg){rows_of(a->vx, a->h0, lo, S, D), (size_t)((hi - lo) * fb), s->base + g, false};
        }
        /* mine that they see */
        halo(a, b0, b1, &g0, &g1);
        lo = s->f0 > g0 ? s->f0 : g0; hi = s->f1 < g1 ? s->f1 : g1;
        if (hi > lo) {
            a->m[n++] = (vg_dist_msg){rows_of(k, s->f0, lo, S, D), (size_t)((hi - lo) * fb), s->base + g, true};
            a->m[n++] = (vg_dist_msg){rows_of(v, s->f0, lo, S, D), (size_t)((hi - lo) * fb), s->base + g, true};
            g_stats.attn_bytes += 2 * (uint64_t)((hi - lo) * fb);
        }
    }
    g_stats.attn_calls++;
    vg_status st = vg_dist_exchange(a->m, n, 7203);
    if (st) return st;
    const int64_t nk = (a->h1 - a->h0) * S;
    if (a->K < 0) { /* every key, own queries only: tiles over all keys from key 0, as on one rank */
        vg_attn_shape x = {.Lq = nb * S, .Lk = nk, .H = sh->H, .hd = sh->hd, .S = S, .window = -1, .scale = sh->scale};
        vg_attn(out, NULL, q, a->kx, a->vx, &x);
        return VG_OK;
    }
    /* window: queries and keys of frames [h0, h1) (the halo queries are zeros and their output is
     * dropped); each own query's key range and its key tiles start at the same global frames */
    memcpy(rows_of(a->qx, a->h0, s->f0, S, D), q, (size_t)(nb * fb));
    vg_attn_shape x = {.Lq = nk, .Lk = nk, .H = sh->H, .hd = sh->hd, .S = S, .window = a->K, .scale = sh->scale};
    vg_attn(a->ox, NULL, a->qx, a->kx, a->vx, &x);
    memcpy(out, rows_of(a->ox, a->h0, s->f0, S, D), (size_t)(nb * fb));
    return VG_OK;
}
