/* bench_wanstep.c - `vidgen_bench wanstep`: where one Wan2.1-T2V-1.3B DiT forward spends its time
 * at 832x480, 33 frames (latent 9 x 60 x 104, 14,040 tokens), f16 weights (random, the real shapes,
 * made in memory), 2 threads, in the two precision modes side by side:
 *   f32:  products with f16 weights converted to f32 when packed, f32 attention (the default);
 *   bf16: vg_gemm_bf16(true): f16 weights and activations rounded to bf16, vdpbf16ps products with
 *         f32 sums; bf16 attention (QK^T and P.V with vdpbf16ps, f32 online softmax).
 * A whole forward has 30 blocks; this runs one block (plus the embeddings and the head) through
 * vg_dit_forward and times its parts alone (the block's products at their shapes, self- and
 * cross-attention), so a forward is about 30 x the block. VG_BENCH_WANSTEP_FRAMES (latent frames,
 * default 9) shrinks the clip; the figures then no longer are 832x480x33's.
 * Times are CPU seconds of the process (all threads) / 2: what the 2 threads take on 2 cores of
 * their own. The machine is shared (load 10 at times), and wall time then says more about the
 * neighbours than about the kernels; the wall time of the forward is recorded too. */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include "bench.h"
#include "vidgen/attn.h"
#include "vidgen/dit.h"
#include "vidgen/gemm.h"
#include "vidgen/rng.h"

typedef struct { float *buf; uint16_t **f16; int n, cap; } f16_ctx;

/* Matrices (2-D, and the 5-D patch embedding) to F16 copies, as the Wan loader keeps an fp16
 * checkpoint's; vectors and the [1,6,D] / [1,2,D] modulations stay f32, as the forward reads them. */
static void to_f16(void *ctx_, const char *name, int ndim, const int64_t *shape, vg_w *w) {
    f16_ctx *c = ctx_;
    (void)name;
    if ((ndim != 2 && ndim != 5) || w->t != VG_DTYPE_F32 || c->n >= c->cap) return;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)n);
    if (!h) return;
    const float *f = w->d;
    for (int64_t i = 0; i < n; i++) h[i] = vg_f32_to_f16(f[i]);
    w->d = h;
    w->t = VG_DTYPE_F16;
    c->f16[c->n++] = h;
}

typedef struct {
    const vg_dit *m;
    vg_dit_acts *a;
    float *out, *x, *t, *ctx;
    int64_t F, H, W;
    int window;
} fwd_ctx;

static void run_fwd(void *p) {
    fwd_ctx *c = p;
    if (vg_dit_forward(c->m, c->a, c->out, c->x, c->t, c->ctx, 1, c->F, c->H, c->W, c->window, 0, NULL))
        fprintf(stderr, "wanstep: %s\n", vg_last_error());
}

typedef struct { float *c; const float *a; const void *w; int64_t M, N, K; } mm_ctx;
static void run_mm(void *p) {
    mm_ctx *c = p;
    vg_matmul_nt(c->c, c->a, c->w, VG_DTYPE_F16, NULL, c->M, c->N, c->K, false);
}

typedef struct { float *o; const float *q, *k, *v; vg_attn_shape s; } at_ctx;
static void run_at(void *p) {
    at_ctx *c = p;
    vg_attn(c->o, NULL, c->q, c->k, c->v, &c->s);
}

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* CPU seconds / 2 of one call */
static double cpu_time(void (*fn)(void *), void *ctx) {
    double c0 = cpu_now();
    fn(ctx);
    return (cpu_now() - c0) / 2;
}

void bench_wanstep(void) {
    bench_note_load("wanstep");
    bench_set_threads(2);
    const char *fe = getenv("VG_BENCH_WANSTEP_FRAMES");
    int64_t F = fe && atoi(fe) > 0 ? atoi(fe) : 9, H = 60, W = 104;
    vg_dit_config cfg;
    vg_dit_config_wan13b(&cfg);
    cfg.layers = 1;
    vg_dit m;
    if (vg_dit_alloc_f32(&m, &cfg)) { printf("wanstep: %s\n", vg_last_error()); return; }
    vg_dit_init_random(&m, 3);
    uint16_t *f16[64];
    f16_ctx fc = {NULL, f16, 0, 64};
    vg_dit_visit(&m.cfg, &m.w, to_f16, &fc);
    const int64_t L = F * (H / 2) * (W / 2), D = cfg.dim, FF = cfg.ffn_dim, T = cfg.text_len;
    vg_dit_acts *a = NULL;
    int64_t nx = (int64_t)cfg.in_dim * F * H * W;
    float *x = malloc(sizeof(float) * nx), *out = malloc(sizeof(float) * nx);
    float *ctx = malloc(sizeof(float) * T * cfg.text_dim), t = 937.5f;
    /* scratch for the parts: activations A [L, FF], product C [L, FF], q k v o [L, D] */
    float *A = malloc(sizeof(float) * L * FF), *C = malloc(sizeof(float) * L * FF);
    float *q = malloc(sizeof(float) * L * D), *k = malloc(sizeof(float) * L * D), *v = malloc(sizeof(float) * L * D),
          *o = malloc(sizeof(float) * L * D);
    if (!x || !out || !ctx || !A || !C || !q || !k || !v || !o || vg_dit_acts_new(&a, &cfg, 1, F, H, W, false)) {
        printf("wanstep: out of memory\n");
        goto done;
    }
    vg_philox_fill_normal(x, nx, 1, 1);
    vg_philox_fill_normal(ctx, T * cfg.text_dim, 1, 2);
    vg_philox_fill_normal(A, L * FF, 1, 3);
    vg_philox_fill_normal(q, L * D, 1, 4);
    vg_philox_fill_normal(k, L * D, 1, 5);
    vg_philox_fill_normal(v, L * D, 1, 6);
    printf("wanstep: Wan-1.3B, 1 block of 30, latent %lldx%lldx%lld (%lld tokens), f16 weights, 2 threads\n",
           (long long)F, (long long)H, (long long)W, (long long)L);
    const vg_dit_block *b = &m.w.blk[0];
    vg_dit_config c30 = cfg;
    c30.layers = 30;
    double lin_fl = 2.0 * L * D * (6.0 * D + 2.0 * FF), fwd_fl = vg_dit_flops(&c30, F, H, W, -1);
    vg_attn_shape sa = {L, L, cfg.heads, (int)(D / cfg.heads), 1, -1, 1.0f / sqrtf((float)(D / cfg.heads))};
    vg_attn_shape ca = {L, T, cfg.heads, (int)(D / cfg.heads), 1, -1, sa.scale};
    double fwd_t[2] = {0, 0};
    char name[160];
    for (int mode = 0; mode < 2; mode++) {
        const char *mn = mode ? "bf16" : "f32";
        if (mode && !vg_gemm_bf16_available()) { printf("wanstep: no AVX512_BF16 here: bf16 mode skipped\n"); break; }
        bool was = vg_gemm_bf16(mode == 1);
        mm_ctx mq = {C, A, b->sa_q_w.d, L, D, D}, mf0 = {C, A, b->ffn0_w.d, L, FF, D}, mf2 = {C, A, b->ffn2_w.d, L, D, FF};
        double tq = cpu_time(run_mm, &mq), tf0 = cpu_time(run_mm, &mf0), tf2 = cpu_time(run_mm, &mf2);
        double tlin = 6 * tq + tf0 + tf2; /* q k v o, cross q o: six [L,D]x[D,D] products */
        at_ctx as = {o, q, k, v, sa}, ac = {o, q, k, v, ca};
        double tsa = cpu_time(run_at, &as), tca = cpu_time(run_at, &ac);
        fwd_ctx fw = {&m, a, out, x, &t, ctx, F, H, W, -1};
        double w0 = bench_now(), tf = cpu_time(run_fwd, &fw), tw = bench_now() - w0;
        fwd_t[mode] = tf;
        double twin = 0;
        if (mode) { /* --temporal-window 2: each latent frame attends to +-2 frames (39 of 81 frame pairs at 9) */
            fw.window = 2;
            twin = cpu_time(run_fwd, &fw);
        }
        vg_gemm_bf16(was);
        snprintf(name, sizeof(name), "wanstep %s: block linear products (8, f16 weights)", mn);
        bench_record(name, tlin, "cpu s/2", NULL, 0);
        snprintf(name, sizeof(name), "wanstep %s: block linear products", mn);
        bench_record(name, lin_fl / tlin * 1e-9, "GFLOP/s", NULL, 0);
        snprintf(name, sizeof(name), "wanstep %s: self-attention L%lld H12 hd128", mn, (long long)L);
        bench_record(name, tsa, "cpu s/2", NULL, 0);
        snprintf(name, sizeof(name), "wanstep %s: self-attention", mn);
        bench_record(name, vg_attn_flops(&sa) / tsa * 1e-9, "GFLOP/s", NULL, 0);
        snprintf(name, sizeof(name), "wanstep %s: cross-attention (512 text keys)", mn);
        bench_record(name, tca, "cpu s/2", NULL, 0);
        snprintf(name, sizeof(name), "wanstep %s: vg_dit_forward, 1 block + embeddings + head", mn);
        bench_record(name, tf, "cpu s/2", NULL, 0);
        snprintf(name, sizeof(name), "wanstep %s: vg_dit_forward wall time (shared machine)", mn);
        bench_record(name, tw, "s", NULL, 0);
        snprintf(name, sizeof(name), "wanstep %s: rest of the block (norms, RoPE, GELU, gates, text k/v)", mn);
        bench_record(name, tf - tlin - tsa - tca, "cpu s/2", NULL, 0);
        snprintf(name, sizeof(name), "wanstep %s: one 30-block forward, projected (30 x block)", mn);
        bench_record(name, 30 * tf, "cpu s/2", mode ? "f32 mode" : NULL, fwd_t[0] * 30);
        snprintf(name, sizeof(name), "wanstep %s: projected forward", mn);
        bench_record(name, fwd_fl / (30 * tf) * 1e-9, "GFLOP/s", NULL, 0);
        if (mode) {
            bench_record("wanstep bf16 --temporal-window 2: one 30-block forward, projected", 30 * twin, "cpu s/2",
                         "bf16, all frames", 30 * tf);
        }
    }
done:
    vg_dit_acts_free(a);
    free(x); free(out); free(ctx); free(A); free(C); free(q); free(k); free(v); free(o);
    for (int i = 0; i < fc.n; i++) free(f16[i]);
    vg_dit_free(&m);
}
