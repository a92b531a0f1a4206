/* test_dit.c - the DiT against the official Wan code (../shared/wan-goldens/dit_*.safetensors,
 * tiny config dim 64, 2 heads, 2 layers, window all), every intermediate; the temporal window
 * against a dense masked reference; determinism across thread counts.
 * Tolerance 1e-4 abs + 1e-4 rel: fp32 throughout, but sums run in a different order than
 * PyTorch's (WAN.md reports ~2e-7 relative for a spec port; we allow headroom for GEMM blocking). */
#include <stdlib.h>
#include "test.h"
#include "vidgen/dit.h"
#include "vidgen/safetensors.h"
#include "vidgen/rng.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static const float *tf(const vg_st_file *f, const char *name) {
    const vg_tensor *t = vg_st_get(f, name);
    return t && t->dtype == VG_DTYPE_F32 ? t->data : NULL;
}

VG_TEST(dit_matches_wan_golden) {
    char pw[512], pio[512];
    snprintf(pw, sizeof(pw), "%s/wan-goldens/dit_weights.safetensors", vg_test_shared());
    snprintf(pio, sizeof(pio), "%s/wan-goldens/dit_io.safetensors", vg_test_shared());
    vg_st_file *fw = NULL, *fio = NULL;
    CHECK_OK(vg_st_open(&fw, pw));
    CHECK_OK(vg_st_open(&fio, pio));
    vg_dit_config cfg;
    vg_dit_config_wan13b(&cfg);
    const char *js = vg_st_metadata(fw, "config");
    CHECK(js);
    CHECK_OK(vg_dit_config_from_json(&cfg, js, pw));
    CHECK(cfg.dim == 64 && cfg.heads == 2 && cfg.layers == 2 && cfg.text_len == 8 && cfg.text_dim == 32);
    vg_dit m;
    CHECK_OK(vg_dit_load(&m, &cfg, fw, NULL));
    CHECK_OK(vg_st_check_all_used(fw));
    const float *x = tf(fio, "in.x"), *ctx5 = tf(fio, "in.context");
    const vg_tensor *tt = vg_st_get(fio, "in.t");
    CHECK(x && ctx5 && tt && tt->dtype == VG_DTYPE_I64);
    float t = (float)((const int64_t *)tt->data)[0];
    float ctx[8 * 32] = {0};
    memcpy(ctx, ctx5, sizeof(float) * 5 * 32); /* zero padding to text_len, as Wan */
    int64_t F = 3, H = 4, W = 6, L = 18, D = 64;
    vg_dit_acts *a;
    CHECK_OK(vg_dit_acts_new(&a, &cfg, 1, F, H, W, false));
    float out[16 * 3 * 4 * 6], sin[256], te[64], tp[384], txt[8 * 64], pe[18 * 64], head[18 * 64];
    float sa[2][18 * 64], ca[2][18 * 64], ff[2][18 * 64], bo[2][18 * 64];
    float *psa[2] = {sa[0], sa[1]}, *pca[2] = {ca[0], ca[1]}, *pff[2] = {ff[0], ff[1]}, *pbo[2] = {bo[0], bo[1]};
    vg_dit_debug dbg = {sin, te, tp, txt, pe, head, psa, pca, pff, pbo};
    CHECK_OK(vg_dit_forward(&m, a, out, x, &t, ctx, 1, F, H, W, -1, 0, &dbg));
    const double at = 1e-4, rt = 1e-4;
    CHECK_CLOSE("sinusoid", sin, tf(fio, "dbg.sinusoid"), 256, 1e-6, 1e-6);
    CHECK_CLOSE("time_embedding", te, tf(fio, "dbg.time_embedding"), D, at, rt);
    CHECK_CLOSE("time_projection", tp, tf(fio, "dbg.time_projection"), 6 * D, at, rt);
    CHECK_CLOSE("text_embedding", txt, tf(fio, "dbg.text_embedding"), 8 * D, at, rt);
    /* dbg.patch_embedding is [1, 64, 3, 2, 3] (channels first): compare transposed */
    const float *gpe = tf(fio, "dbg.patch_embedding");
    float pe_t[18 * 64];
    for (int64_t l = 0; l < L; l++) for (int64_t d = 0; d < D; d++) pe_t[l * D + d] = gpe[d * L + l];
    CHECK_CLOSE("patch_embedding", pe, pe_t, L * D, at, rt);
    char nm[64];
    for (int i = 0; i < 2; i++) {
        snprintf(nm, sizeof(nm), "dbg.block%d.self_attn", i); CHECK_CLOSE(nm, sa[i], tf(fio, nm), L * D, at, rt);
        snprintf(nm, sizeof(nm), "dbg.block%d.cross_attn", i); CHECK_CLOSE(nm, ca[i], tf(fio, nm), L * D, at, rt);
        snprintf(nm, sizeof(nm), "dbg.block%d.ffn", i); CHECK_CLOSE(nm, ff[i], tf(fio, nm), L * D, at, rt);
        snprintf(nm, sizeof(nm), "dbg.block%d", i); CHECK_CLOSE(nm, bo[i], tf(fio, nm), L * D, at, rt);
    }
    CHECK_CLOSE("head", head, tf(fio, "dbg.head"), L * D, at, rt);
    CHECK_CLOSE("out.y", out, tf(fio, "out.y"), 16 * F * H * W, at, rt);
    vg_dit_acts_free(a);
    vg_dit_free(&m);
    vg_st_close(fw);
    vg_st_close(fio);
}

VG_TEST(dit_missing_tensor_named) {
    char pw[512];
    snprintf(pw, sizeof(pw), "%s/wan-goldens/dit_weights.safetensors", vg_test_shared());
    vg_st_file *fw = NULL;
    CHECK_OK(vg_st_open(&fw, pw));
    vg_dit_config cfg;
    vg_dit_config_wan13b(&cfg);
    CHECK_OK(vg_dit_config_from_json(&cfg, vg_st_metadata(fw, "config"), pw));
    cfg.ffn_dim = 96; /* wrong: file has 128 */
    vg_dit m;
    vg_status st = vg_dit_load(&m, &cfg, fw, NULL);
    CHECK(st != VG_OK);
    CHECKF(strstr(vg_last_error(), "blocks.0.ffn.0.weight") && strstr(vg_last_error(), "[96,64]") &&
           strstr(vg_last_error(), "[128,64]"), "message: %s", vg_last_error());
    vg_dit_config_from_json(&cfg, vg_st_metadata(fw, "config"), pw);
    cfg.layers = 3;
    st = vg_dit_load(&m, &cfg, fw, NULL);
    CHECKF(st != VG_OK && strstr(vg_last_error(), "blocks.2."), "message: %s", vg_last_error());
    vg_st_close(fw);
}

/* ---- backward: central finite differences on a tiny random model (B=2, window 1) ---- */
static vg_dit_config tiny_cfg(void) {
    vg_dit_config c = {.in_dim = 3, .out_dim = 3, .patch = {1, 2, 2}, .dim = 16, .ffn_dim = 32, .heads = 2,
                       .layers = 2, .freq_dim = 16, .text_len = 4, .text_dim = 8, .eps = 1e-6f,
                       .rope_theta = 10000.0, .window = 1, .predict_x0 = true};
    return c;
}

static void rand_fill(float *p, int64_t n, uint64_t seed, float sc) {
    for (int64_t i = 0; i < n; i++) p[i] = sc * vg_philox_normal(seed, 99, (uint64_t)i);
}

typedef struct { vg_dit *m; vg_dit_acts *a; float *out, *x, *t, *ctx, *r; int64_t nout; const float *tf; } fd_ctx;
static double fd_loss(fd_ctx *f) {
    if (f->tf) vg_dit_forward_tf(f->m, f->a, f->out, f->x, f->tf, f->ctx, 2, 3, 4, 4, 1, 0, NULL);
    else vg_dit_forward(f->m, f->a, f->out, f->x, f->t, f->ctx, 2, 3, 4, 4, 1, 0, NULL);
    double L = 0;
    for (int64_t i = 0; i < f->nout; i++) L += (double)f->r[i] * f->out[i];
    return L;
}

static void backward_fd(bool pos2d, const float *tf, bool pool);
VG_TEST(dit_backward_finite_differences) { backward_fd(false, NULL, false); }
/* a timestep per frame (a clean frame among noisy ones): each frame's modulation rows */
VG_TEST(dit_backward_finite_differences_per_frame_t) {
    const float tf[6] = {0.0f, 300.0f, 850.0f, 120.0f, 999.0f, 40.0f};
    backward_fd(false, tf, false);
}
/* the pooled text path into the time embedding (text_pool) and the text positions (text_pos),
 * with per-frame timesteps */
VG_TEST(dit_backward_finite_differences_text_pool) {
    const float tf[6] = {0.0f, 300.0f, 850.0f, 120.0f, 999.0f, 40.0f};
    backward_fd(false, tf, true);
}
/* the same with the fixed 2D position added after the patch embedding (a constant: the
 * backward pass is unchanged, and must still match) */
VG_TEST(dit_backward_finite_differences_pos2d) { backward_fd(true, NULL, false); }

static void backward_fd(bool pos2d, const float *tf, bool pool) {
    vg_dit_config cfg = tiny_cfg();
    cfg.pos2d = pos2d;
    cfg.text_pool = pool;
    cfg.text_pos = pool;
    vg_dit m, g;
    CHECK_OK(vg_dit_alloc_f32(&m, &cfg));
    CHECK_OK(vg_dit_alloc_f32(&g, &cfg));
    rand_fill(m.owned, m.n_owned, 5, 0.3f); /* everything random (incl. the head, zero in Wan's init) */
    int64_t nx = 2 * 3 * 3 * 4 * 4, nctx = 2 * 4 * 8;
    float x[288], t[2] = {300.0f, 850.0f}, ctx[64], out[288], r[288], dctx[64];
    rand_fill(x, nx, 6, 1.0f); rand_fill(ctx, nctx, 7, 1.0f); rand_fill(r, nx, 8, 1.0f);
    vg_dit_acts *a;
    CHECK_OK(vg_dit_acts_new(&a, &cfg, 2, 3, 4, 4, true));
    fd_ctx f = {&m, a, out, x, t, ctx, r, nx, tf};
    fd_loss(&f);
    CHECK_OK(vg_dit_backward(&m, a, &g, dctx, r));
    int checked = 0, bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < m.n_owned; i += 7) {
        float s = m.owned[i];
        const double e = 1e-2;
        m.owned[i] = s + (float)e; double lp = fd_loss(&f);
        m.owned[i] = s - (float)e; double lm = fd_loss(&f);
        m.owned[i] = s;
        /* f32 forward: the loss carries ~1e-5 rounding noise, so FD has ~5e-4 absolute noise at e=1e-2 */
        double fd = (lp - lm) / (2 * e), an = g.owned[i], err = fabs(fd - an) / (fabs(fd) + fabs(an) + 1e-2);
        if (err > worst) worst = err;
        if (fabs(fd - an) > 2e-2 * (fabs(fd) + fabs(an)) + 1e-3) { if (bad < 5) printf("    param %lld: fd %.6g analytic %.6g\n", (long long)i, fd, an); bad++; }
        checked++;
    }
    CHECKF(bad == 0, "%d of %d parameter grads off (worst rel err %.3g)", bad, checked, worst);
    for (int64_t i = 0; i < nctx; i += 3) {
        float s = ctx[i];
        const double e = 1e-2;
        ctx[i] = s + (float)e; double lp = fd_loss(&f);
        ctx[i] = s - (float)e; double lm = fd_loss(&f);
        ctx[i] = s;
        double fd = (lp - lm) / (2 * e);
        CHECKF(fabs(fd - dctx[i]) <= 2e-2 * (fabs(fd) + fabs(dctx[i])) + 1e-3, "dctx[%lld]: fd %g vs %g", (long long)i, fd, dctx[i]);
    }
    vg_dit_acts_free(a);
    vg_dit_free(&m); vg_dit_free(&g);
}

/* The window: with window 0 (flipbook) a frame's output must not depend on other frames.
 * With window 1 and 2 layers the receptive field is +-2 frames: frame 0 must not depend on
 * frame 3, frame 1 must; with window 2 (receptive +-4) frame 0 must. */
VG_TEST(dit_temporal_window_locality) {
    vg_dit_config cfg = tiny_cfg();
    vg_dit m;
    CHECK_OK(vg_dit_alloc_f32(&m, &cfg));
    rand_fill(m.owned, m.n_owned, 11, 0.3f);
    enum { NF = 5 };
    float x[3 * NF * 16], x2[3 * NF * 16], o1[3 * NF * 16], o2[3 * NF * 16], t = 500.0f, ctx[32];
    rand_fill(x, 3 * NF * 16, 12, 1.0f); rand_fill(ctx, 32, 13, 1.0f);
    memcpy(x2, x, sizeof(x));
    for (int c = 0; c < 3; c++) for (int p = 0; p < 16; p++) x2[(c * NF + 3) * 16 + p] += 1.0f; /* change frame 3 */
    vg_dit_acts *a;
    CHECK_OK(vg_dit_acts_new(&a, &cfg, 1, NF, 4, 4, false));
    for (int win = 0; win <= 2; win++) {
        vg_dit_forward(&m, a, o1, x, &t, ctx, 1, NF, 4, 4, win, 0, NULL);
        vg_dit_forward(&m, a, o2, x2, &t, ctx, 1, NF, 4, 4, win, 0, NULL);
        double d0 = 0, d1 = 0;
        for (int c = 0; c < 3; c++) for (int p = 0; p < 16; p++) {
            d0 += fabs(o1[(c * NF + 0) * 16 + p] - o2[(c * NF + 0) * 16 + p]);
            d1 += fabs(o1[(c * NF + 1) * 16 + p] - o2[(c * NF + 1) * 16 + p]);
        }
        if (win == 0) CHECKF(d0 == 0 && d1 == 0, "window 0: frames 0/1 changed by %g %g", d0, d1);
        if (win == 1) CHECKF(d0 == 0 && d1 > 1e-4, "window 1: frame0 %g (want 0) frame1 %g (want >0)", d0, d1);
        if (win == 2) CHECKF(d0 > 1e-4, "window 2: frame 0 must see frame 3 through 2 layers (%g)", d0);
    }
    vg_dit_acts_free(a);
    vg_dit_free(&m);
}

/* Per-frame timesteps: the same t everywhere is exactly the per-sample forward; a frame's t
 * reaches only that frame's tokens (window 1, 2 layers: frame 3's t changes frame 1, not 0);
 * with window 0 each frame equals a one-frame clip run at its own t. */
VG_TEST(dit_per_frame_timestep) {
    vg_dit_config cfg = tiny_cfg();
    vg_dit m;
    CHECK_OK(vg_dit_alloc_f32(&m, &cfg));
    rand_fill(m.owned, m.n_owned, 21, 0.3f);
    enum { NF = 5, N = 3 * NF * 16 };
    float x[N], o1[N], o2[N], ctx[32], t = 500.0f, tf[NF], o1f[48], x1f[48];
    rand_fill(x, N, 22, 1.0f); rand_fill(ctx, 32, 23, 1.0f);
    vg_dit_acts *a, *a1;
    CHECK_OK(vg_dit_acts_new(&a, &cfg, 1, NF, 4, 4, false));
    CHECK_OK(vg_dit_acts_new(&a1, &cfg, 1, 1, 4, 4, false));
    for (int f = 0; f < NF; f++) tf[f] = t;
    CHECK_OK(vg_dit_forward(&m, a, o1, x, &t, ctx, 1, NF, 4, 4, 1, 0, NULL));
    CHECK_OK(vg_dit_forward_tf(&m, a, o2, x, tf, ctx, 1, NF, 4, 4, 1, 0, NULL));
    CHECK(memcmp(o1, o2, sizeof(o1)) == 0);
    tf[3] = 0.0f;
    CHECK_OK(vg_dit_forward_tf(&m, a, o2, x, tf, ctx, 1, NF, 4, 4, 1, 0, NULL));
    double d[NF] = {0};
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < NF; f++)
            for (int p = 0; p < 16; p++) d[f] += fabs(o1[(c * NF + f) * 16 + p] - o2[(c * NF + f) * 16 + p]);
    CHECKF(d[0] == 0 && d[1] > 1e-4 && d[3] > 1e-4, "frame 3 at t=0 changed frames 0/1/3 by %g %g %g", d[0], d[1], d[3]);
    const float ts[NF] = {0.0f, 250.0f, 500.0f, 750.0f, 1000.0f};
    CHECK_OK(vg_dit_forward_tf(&m, a, o2, x, ts, ctx, 1, NF, 4, 4, 0, 0, NULL));
    double worst = 0;
    for (int f = 0; f < NF; f++) {
        for (int c = 0; c < 3; c++) memcpy(x1f + c * 16, x + (c * NF + f) * 16, sizeof(float) * 16);
        CHECK_OK(vg_dit_forward(&m, a1, o1f, x1f, &ts[f], ctx, 1, 1, 4, 4, 0, 0, NULL));
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 16; p++) {
                double e = fabs(o1f[c * 16 + p] - o2[(c * NF + f) * 16 + p]);
                if (e > worst) worst = e;
            }
    }
    CHECKF(worst < 1e-5, "window 0, frame at its own t vs a one-frame clip: max |diff| %g", worst);
    vg_dit_acts_free(a); vg_dit_acts_free(a1);
    vg_dit_free(&m);
}

VG_TEST(dit_bit_identical_across_threads) {
#ifdef _OPENMP
    vg_dit_config cfg = tiny_cfg();
    cfg.dim = 64; cfg.heads = 4; cfg.ffn_dim = 128;
    vg_dit m;
    CHECK_OK(vg_dit_alloc_f32(&m, &cfg));
    rand_fill(m.owned, m.n_owned, 21, 0.2f);
    int64_t F = 5, H = 8, W = 8, n = 3 * F * H * W;
    float *x = malloc(sizeof(float) * n), *o1 = malloc(sizeof(float) * n), *o2 = malloc(sizeof(float) * n), t = 700, ctx[32];
    rand_fill(x, n, 22, 1.0f); rand_fill(ctx, 32, 23, 1.0f);
    vg_dit_acts *a;
    CHECK_OK(vg_dit_acts_new(&a, &cfg, 1, F, H, W, false));
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    vg_dit_forward(&m, a, o1, x, &t, ctx, 1, F, H, W, 1, 0, NULL);
    omp_set_num_threads(2);
    vg_dit_forward(&m, a, o2, x, &t, ctx, 1, F, H, W, 1, 0, NULL);
    omp_set_num_threads(nt);
    CHECK(memcmp(o1, o2, sizeof(float) * n) == 0);
    free(x); free(o1); free(o2);
    vg_dit_acts_free(a);
    vg_dit_free(&m);
#endif
}

/* "pos_embed": "sincos2d": the patch embedding output gains sin/cos of the token's row in
 * channels [0, D/2) and of its column in [D/2, D) (values checked at every token against the
 * formula); the config key parses, and a bad value is refused. */
VG_TEST(dit_pos2d_embedding) {
    vg_dit_config cfg = tiny_cfg();
    vg_dit m;
    CHECK_OK(vg_dit_alloc_f32(&m, &cfg));
    rand_fill(m.owned, m.n_owned, 21, 0.3f);
    const int64_t F = 2, H = 4, W = 6, D = cfg.dim, Hg = H / cfg.patch[1], Wg = W / cfg.patch[2], L = F * Hg * Wg;
    float x[3 * 2 * 4 * 6], t = 400.0f, ctx[32], out[3 * 2 * 4 * 6];
    rand_fill(x, 3 * F * H * W, 22, 1.0f); rand_fill(ctx, 32, 23, 1.0f);
    float *e0 = malloc(sizeof(float) * L * D), *e1 = malloc(sizeof(float) * L * D);
    vg_dit_acts *a;
    CHECK_OK(vg_dit_acts_new(&a, &cfg, 1, F, H, W, false));
    vg_dit_debug dbg = {0};
    dbg.patch_embedding = e0;
    CHECK_OK(vg_dit_forward(&m, a, out, x, &t, ctx, 1, F, H, W, 1, 0, &dbg));
    m.cfg.pos2d = true;
    dbg.patch_embedding = e1;
    CHECK_OK(vg_dit_forward(&m, a, out, x, &t, ctx, 1, F, H, W, 1, 0, &dbg));
    double worst = 0;
    for (int64_t l = 0; l < L; l++) {
        int64_t row = (l / Wg) % Hg, col = l % Wg, q = D / 4;
        for (int64_t i = 0; i < q; i++) {
            double w = pow(10000.0, -(double)i / q);
            double ex[4] = {sin(row * w), cos(row * w), sin(col * w), cos(col * w)};
            for (int k = 0; k < 4; k++) {
                double d = fabs((double)e1[l * D + k * q + i] - e0[l * D + k * q + i] - ex[k]);
                if (d > worst) worst = d;
            }
        }
    }
    vg_dit_acts_free(a);
    vg_dit_free(&m);
    free(e0); free(e1);
    CHECKF(worst < 1e-5, "added position differs from the formula by %.3g", worst);
    vg_dit_config c2;
    CHECK_OK(vg_dit_config_from_json(&c2, "{\"dim\": 16, \"ffn_dim\": 32, \"num_heads\": 2, \"num_layers\": 1, \"freq_dim\": 8, "
                                          "\"in_dim\": 3, \"out_dim\": 3, \"text_len\": 4, \"text_dim\": 8, \"patch_size\": [1, 2, 2], \"pos_embed\": \"sincos2d\"}", "test"));
    CHECK(c2.pos2d);
    CHECK(vg_dit_config_from_json(&c2, "{\"dim\": 16, \"ffn_dim\": 32, \"num_heads\": 2, \"num_layers\": 1, \"freq_dim\": 8, "
                                       "\"in_dim\": 3, \"out_dim\": 3, \"text_len\": 4, \"text_dim\": 8, \"patch_size\": [1, 2, 2], \"pos_embed\": \"learned\"}", "test") == VG_ERR_FORMAT);
}
