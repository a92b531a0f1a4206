/* bench_attn.c - fused attention speed (`./build/vidgen_bench attn`).
 * Windowed self-attention (S=64 tokens per frame, H=4, hd=32, window 2) at 8..64 frames:
 * GFLOP/s and time per call, against "time at 8 frames x F/8" (ratio ~1 = linear in frames);
 * full attention over the same tokens for comparison (quadratic); a Wan2.1-like head
 * (hd=128, H=12, L=4096, full) forward. Backward FLOPs counted as 2.5 x forward (FA-2). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"
#include "vidgen/attn.h"
#include "vidgen/rng.h"

typedef struct {
    vg_attn_shape s;
    float *q, *k, *v, *out, *lse, *dout, *dq, *dk, *dv;
} attn_ctx;

static void run_fwd(void *p) {
    attn_ctx *c = p;
    vg_attn(c->out, c->lse, c->q, c->k, c->v, &c->s);
}

static void run_bwd(void *p) {
    attn_ctx *c = p;
    vg_attn_bwd(c->dq, c->dk, c->dv, c->dout, c->out, c->lse, c->q, c->k, c->v, &c->s);
}

static float *normal(int64_t n, uint64_t stream) {
    float *a = malloc(sizeof(float) * (size_t)n);
    if (a) vg_philox_fill_normal(a, n, 7, stream);
    return a;
}

/* Best-of times of forward (and backward when bwd) of shape s; 0 when out of memory. */
static int measure(vg_attn_shape s, int bwd, double *t_fwd, double *t_bwd) {
    int64_t n = s.Lq * s.H * s.hd;
    attn_ctx c = {s, normal(n, 1), normal(n, 2), normal(n, 3), malloc(sizeof(float) * n),
                  malloc(sizeof(float) * s.H * s.Lq), normal(n, 4), NULL, NULL, NULL};
    int ok = c.q && c.k && c.v && c.out && c.lse && c.dout;
    if (ok && bwd) {
        c.dq = malloc(sizeof(float) * n); c.dk = malloc(sizeof(float) * n); c.dv = malloc(sizeof(float) * n);
        ok = c.dq && c.dk && c.dv;
    }
    if (ok) {
        double fl = vg_attn_flops(&s);
        /* best of many short runs: the machine is shared, so one slow run says little */
        int reps = fl > 5e10 ? 2 : fl > 3e8 ? (int)(3e10 / fl) + 2 : 100;
        run_fwd(&c); /* warm-up; also gives out/lse for the backward */
        *t_fwd = bench_time(run_fwd, &c, reps);
        if (bwd) *t_bwd = bench_time(run_bwd, &c, reps);
    }
    free(c.q); free(c.k); free(c.v); free(c.out); free(c.lse); free(c.dout);
    free(c.dq); free(c.dk); free(c.dv);
    return ok;
}

void bench_attn(void) {
    char name[128];
    const int S = 64, H = 4, hd = 32, win = 2;
    double tf8 = 0, tb8 = 0;
    for (int F = 8; F <= 64; F *= 2) {
        vg_attn_shape s = {(int64_t)F * S, (int64_t)F * S, H, hd, S, win, 1.0f / sqrtf((float)hd)};
        double tf = 0, tb = 0, fl = vg_attn_flops(&s);
        if (!measure(s, 1, &tf, &tb)) { printf("attn: out of memory\n"); return; }
        if (F == 8) { tf8 = tf; tb8 = tb; }
        snprintf(name, sizeof(name), "attn window2 S64 H4 hd32 F=%d fwd", F);
        bench_record(name, fl / tf * 1e-9, "GFLOP/s", NULL, 0);
        snprintf(name, sizeof(name), "attn window2 S64 H4 hd32 F=%d fwd time", F);
        bench_record(name, tf * 1e3, "ms", "time at 8 frames x F/8", tf8 * 1e3 * F / 8);
        snprintf(name, sizeof(name), "attn window2 S64 H4 hd32 F=%d bwd", F);
        bench_record(name, 2.5 * fl / tb * 1e-9, "GFLOP/s", NULL, 0);
        snprintf(name, sizeof(name), "attn window2 S64 H4 hd32 F=%d bwd time", F);
        bench_record(name, tb * 1e3, "ms", "time at 8 frames x F/8", tb8 * 1e3 * F / 8);
        snprintf(name, sizeof(name), "attn window2 S64 H4 hd32 F=%d fwd per frame", F);
        bench_record(name, tf / F * 1e6, "us", NULL, 0);

        vg_attn_shape full = s;
        full.window = -1;
        double tff = 0, tfb = 0, ffl = vg_attn_flops(&full);
        if (!measure(full, F <= 32, &tff, &tfb)) { printf("attn: out of memory\n"); return; }
        snprintf(name, sizeof(name), "attn full S64 H4 hd32 F=%d fwd", F);
        bench_record(name, ffl / tff * 1e-9, "GFLOP/s", NULL, 0);
        snprintf(name, sizeof(name), "attn full S64 H4 hd32 F=%d fwd time", F);
        bench_record(name, tff * 1e3, "ms", "windowed time, same F", tf * 1e3);
        if (F <= 32) {
            snprintf(name, sizeof(name), "attn full S64 H4 hd32 F=%d bwd", F);
            bench_record(name, 2.5 * ffl / tfb * 1e-9, "GFLOP/s", NULL, 0);
        }
    }
    vg_attn_shape wan = {4096, 4096, 12, 128, 1, -1, 1.0f / sqrtf(128.0f)};
    double tw = 0, tdummy = 0;
    if (!measure(wan, 0, &tw, &tdummy)) { printf("attn: out of memory\n"); return; }
    bench_record("attn Wan-like full L4096 H12 hd128 fwd", vg_attn_flops(&wan) / tw * 1e-9, "GFLOP/s", NULL, 0);
    bench_record("attn Wan-like full L4096 H12 hd128 fwd time", tw * 1e3, "ms", NULL, 0);
}
