/* test_ops.c - elementwise/row kernels against PyTorch vectors (tests/ref/ops.bin, written by
 * tests/ref/gen_ops.py) and every _bwd against central finite differences.
 * Tolerances: forward 1e-5 abs + 1e-4 rel (f32, different summation order than torch);
 * grads 1e-4 abs + 1e-3 rel (backward formulas reorder sums over the row). */
#include <stdlib.h>
#include "ref.h"
#include "test.h"
#include "vidgen/gemm.h"
#include "vidgen/ops.h"
#include "vidgen/rng.h"

#define N 7
#define D 33
static const char *REF = "tests/ref/ops.bin";

static float *zeros(int64_t n) { return calloc((size_t)n, sizeof(float)); }

VG_TEST(ops_layernorm_vs_torch) {
    vg_ref *r = vg_ref_load(REF); CHECK(r);
    const float *x = vg_ref_get(r, "layernorm_affine.in0", NULL), *w = vg_ref_get(r, "layernorm_affine.p0", NULL),
                *b = vg_ref_get(r, "layernorm_affine.p1", NULL), *rr = vg_ref_get(r, "layernorm_affine.r", NULL);
    CHECK(x && w && b && rr);
    float y[N * D], mean[N], rstd[N], *dx = zeros(N * D), *dw = zeros(D), *db = zeros(D);
    vg_layernorm(y, mean, rstd, x, w, b, N, D, 1e-6f);
    CHECK_CLOSE("ln out", y, vg_ref_get(r, "layernorm_affine.out", NULL), N * D, 1e-5, 1e-4);
    vg_layernorm_bwd(dx, dw, db, rr, x, w, mean, rstd, N, D);
    CHECK_CLOSE("ln dx", dx, vg_ref_get(r, "layernorm_affine.din0", NULL), N * D, 1e-4, 1e-3);
    CHECK_CLOSE("ln dw", dw, vg_ref_get(r, "layernorm_affine.dp0", NULL), D, 1e-4, 1e-3);
    CHECK_CLOSE("ln db", db, vg_ref_get(r, "layernorm_affine.dp1", NULL), D, 1e-4, 1e-3);
    /* no affine */
    const float *x2 = vg_ref_get(r, "layernorm.in0", NULL), *r2 = vg_ref_get(r, "layernorm.r", NULL);
    float *dx2 = zeros(N * D);
    vg_layernorm(y, mean, rstd, x2, NULL, NULL, N, D, 1e-6f);
    CHECK_CLOSE("ln0 out", y, vg_ref_get(r, "layernorm.out", NULL), N * D, 1e-5, 1e-4);
    vg_layernorm_bwd(dx2, NULL, NULL, r2, x2, NULL, mean, rstd, N, D);
    CHECK_CLOSE("ln0 dx", dx2, vg_ref_get(r, "layernorm.din0", NULL), N * D, 1e-4, 1e-3);
    free(dx); free(dw); free(db); free(dx2); vg_ref_free(r);
}

VG_TEST(ops_rmsnorm_vs_torch) {
    vg_ref *r = vg_ref_load(REF); CHECK(r);
    const float *x = vg_ref_get(r, "rmsnorm.in0", NULL), *w = vg_ref_get(r, "rmsnorm.p0", NULL), *rr = vg_ref_get(r, "rmsnorm.r", NULL);
    float y[N * D], rstd[N], *dx = zeros(N * D), *dw = zeros(D);
    vg_rmsnorm(y, rstd, x, w, N, D, 1e-6f);
    CHECK_CLOSE("rms out", y, vg_ref_get(r, "rmsnorm.out", NULL), N * D, 1e-5, 1e-4);
    vg_rmsnorm_bwd(dx, dw, rr, x, w, rstd, N, D);
    CHECK_CLOSE("rms dx", dx, vg_ref_get(r, "rmsnorm.din0", NULL), N * D, 1e-4, 1e-3);
    CHECK_CLOSE("rms dw", dw, vg_ref_get(r, "rmsnorm.dp0", NULL), D, 1e-4, 1e-3);
    free(dx); free(dw); vg_ref_free(r);
}

VG_TEST(ops_activations_vs_torch) {
    vg_ref *r = vg_ref_load(REF); CHECK(r);
    float y[N * D], *dx = zeros(N * D);
    const float *x = vg_ref_get(r, "gelu_tanh.in0", NULL);
    vg_gelu_tanh(y, x, N * D);
    CHECK_CLOSE("gelu", y, vg_ref_get(r, "gelu_tanh.out", NULL), N * D, 1e-5, 1e-4);
    vg_gelu_tanh_bwd(dx, vg_ref_get(r, "gelu_tanh.r", NULL), x, N * D);
    CHECK_CLOSE("gelu dx", dx, vg_ref_get(r, "gelu_tanh.din0", NULL), N * D, 1e-5, 1e-4);
    memset(dx, 0, sizeof(float) * N * D);
    x = vg_ref_get(r, "silu.in0", NULL);
    vg_silu(y, x, N * D);
    CHECK_CLOSE("silu", y, vg_ref_get(r, "silu.out", NULL), N * D, 1e-5, 1e-4);
    vg_silu_bwd(dx, vg_ref_get(r, "silu.r", NULL), x, N * D);
    CHECK_CLOSE("silu dx", dx, vg_ref_get(r, "silu.din0", NULL), N * D, 1e-5, 1e-4);
    vg_softmax(y, vg_ref_get(r, "softmax.in0", NULL), N, D);
    CHECK_CLOSE("softmax", y, vg_ref_get(r, "softmax.out", NULL), N * D, 1e-6, 1e-4);
    free(dx); vg_ref_free(r);
}

VG_TEST(ops_modulate_vs_torch) {
    vg_ref *r = vg_ref_load(REF); CHECK(r);
    const float *x = vg_ref_get(r, "modulate.in0", NULL), *sh = vg_ref_get(r, "modulate.p0", NULL),
                *sc = vg_ref_get(r, "modulate.p1", NULL), *rr = vg_ref_get(r, "modulate.r", NULL);
    float y[N * D], *dx = zeros(N * D), *dsh = zeros(D), *dsc = zeros(D);
    vg_modulate(y, x, sh, sc, N, D);
    CHECK_CLOSE("mod out", y, vg_ref_get(r, "modulate.out", NULL), N * D, 1e-5, 1e-5);
    vg_modulate_bwd(dx, dsh, dsc, rr, x, sc, N, D);
    CHECK_CLOSE("mod dx", dx, vg_ref_get(r, "modulate.din0", NULL), N * D, 1e-5, 1e-4);
    CHECK_CLOSE("mod dshift", dsh, vg_ref_get(r, "modulate.dp0", NULL), D, 1e-5, 1e-4);
    CHECK_CLOSE("mod dscale", dsc, vg_ref_get(r, "modulate.dp1", NULL), D, 1e-5, 1e-4);
    free(dx); free(dsh); free(dsc); vg_ref_free(r);
}

VG_TEST(ops_rope3d_vs_torch) {
    vg_ref *r = vg_ref_load(REF); CHECK(r);
    int64_t n;
    const float *x = vg_ref_get(r, "rope3d.in0", &n);
    CHECK(x && n == 24 * 64);
    float *y = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    memcpy(y, x, sizeof(float) * n);
    vg_rope3d(y, 3, 2, 4, 2, 32, 10000.0, 0);
    CHECK_CLOSE("rope out", y, vg_ref_get(r, "rope3d.out", NULL), n, 1e-5, 1e-5);
    memcpy(g, vg_ref_get(r, "rope3d.r", NULL), sizeof(float) * n);
    vg_rope3d_bwd(g, 3, 2, 4, 2, 32, 10000.0, 0);
    CHECK_CLOSE("rope dx", g, vg_ref_get(r, "rope3d.din0", NULL), n, 1e-5, 1e-5);
    /* f_offset shifts the temporal angle: frames 1..2 with offset 1 equal frames 1..2 of the full grid */
    memcpy(y, x + 8 * 64, sizeof(float) * 16 * 64);
    vg_rope3d(y, 2, 2, 4, 2, 32, 10000.0, 1);
    CHECK_CLOSE("rope offset", y, vg_ref_get(r, "rope3d.out", NULL) + 8 * 64, 16 * 64, 1e-5, 1e-5);
    free(y); free(g); vg_ref_free(r);
}

VG_TEST(ops_patchify_roundtrip) {
    int64_t C = 3, F = 2, H = 6, W = 10;
    int64_t n = C * F * H * W;
    float *x = malloc(sizeof(float) * n), *t = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)i;
    for (int chl = 0; chl < 2; chl++) {
        vg_patchify(t, x, C, F, H, W, 2, 2, chl);
        /* token 0 (f=0,hi=0,wi=0): feature of c=1,q=1,r=0 is x[1][0][1][0] */
        int64_t fi = chl ? (1 * 2 + 0) * C + 1 : (1 * 2 + 1) * 2 + 0;
        CHECK(t[fi] == x[((1 * F + 0) * H + 1) * W + 0]);
        /* token of (f=1,hi=2,wi=3) is index (1*3+2)*5+3 */
        int64_t l = (1 * 3 + 2) * 5 + 3;
        CHECK(t[l * 12 + 0] == x[((0 * F + 1) * H + 4) * W + 6]);
        vg_unpatchify(y, t, C, F, H, W, 2, 2, chl);
        CHECK(memcmp(x, y, sizeof(float) * n) == 0);
    }
    free(x); free(t); free(y);
}

/* Finite-difference check of layernorm/rmsnorm/gelu bwd on fresh random data (eps 1e-3, double loss). */
typedef void (*fwd_fn)(float *y, const float *x, const float *w, int64_t n, int64_t d);
static void ln_f(float *y, const float *x, const float *w, int64_t n, int64_t d) { vg_layernorm(y, NULL, NULL, x, w, w + d, n, d, 1e-6f); }
static void rms_f(float *y, const float *x, const float *w, int64_t n, int64_t d) { vg_rmsnorm(y, NULL, x, w, n, d, 1e-6f); }

static double lossf(fwd_fn f, const float *x, const float *w, const float *r, int64_t n, int64_t d) {
    float *y = malloc(sizeof(float) * n * d);
    f(y, x, w, n, d);
    double L = 0;
    for (int64_t i = 0; i < n * d; i++) L += (double)r[i] * y[i];
    free(y);
    return L;
}

VG_TEST(ops_norm_bwd_finite_differences) {
    int64_t n = 5, d = 17;
    vg_rng g; vg_rng_seed(&g, 3);
    float x[5 * 17], w[34], r[5 * 17];
    for (int i = 0; i < n * d; i++) { x[i] = (float)vg_rng_normal(&g); r[i] = (float)vg_rng_normal(&g); }
    for (int i = 0; i < 2 * d; i++) w[i] = (float)vg_rng_normal(&g);
    for (int which = 0; which < 2; which++) {
        fwd_fn f = which ? rms_f : ln_f;
        float y[5 * 17], mean[5], rstd[5], dx[5 * 17] = {0}, dw[34] = {0};
        if (which) { vg_rmsnorm(y, rstd, x, w, n, d, 1e-6f); vg_rmsnorm_bwd(dx, dw, r, x, w, rstd, n, d); }
        else { vg_layernorm(y, mean, rstd, x, w, w + d, n, d, 1e-6f); vg_layernorm_bwd(dx, dw, dw + d, r, x, w, mean, rstd, n, d); }
        for (int i = 0; i < n * d; i += 3) {
            float s = x[i]; double e = 1e-3;
            x[i] = s + (float)e; double lp = lossf(f, x, w, r, n, d);
            x[i] = s - (float)e; double lm = lossf(f, x, w, r, n, d);
            x[i] = s;
            double fd = (lp - lm) / (2 * e);
            CHECKF(fabs(fd - dx[i]) <= 1e-2 * fabs(fd) + 2e-3, "%s dx[%d]: fd %g vs %g", which ? "rms" : "ln", i, fd, dx[i]);
        }
        for (int j = 0; j < (which ? d : 2 * d); j += 2) {
            float s = w[j]; double e = 1e-3;
            w[j] = s + (float)e; double lp = lossf(f, x, w, r, n, d);
            w[j] = s - (float)e; double lm = lossf(f, x, w, r, n, d);
            w[j] = s;
            double fd = (lp - lm) / (2 * e);
            CHECKF(fabs(fd - dw[j]) <= 1e-2 * fabs(fd) + 2e-3, "%s dw[%d]: fd %g vs %g", which ? "rms" : "ln", j, fd, dw[j]);
        }
    }
}

VG_TEST(ops_act_bwd_finite_differences) {
    float x[64], dg[64] = {0}, ds[64] = {0}, one[64], yp, ym;
    for (int i = 0; i < 64; i++) { x[i] = -4.0f + i * 0.127f; one[i] = 1.0f; }
    vg_gelu_tanh_bwd(dg, one, x, 64);
    vg_silu_bwd(ds, one, x, 64);
    for (int i = 0; i < 64; i++) {
        float a = x[i] + 1e-3f, b = x[i] - 1e-3f;
        vg_gelu_tanh(&yp, &a, 1); vg_gelu_tanh(&ym, &b, 1);
        CHECKF(fabs((yp - ym) / (a - b) - dg[i]) < 2e-3, "gelu' at %g", x[i]);
        vg_silu(&yp, &a, 1); vg_silu(&ym, &b, 1);
        CHECKF(fabs((yp - ym) / (a - b) - ds[i]) < 2e-3, "silu' at %g", x[i]);
    }
}

/* ---- fast kernels against their plain _ref twins on awkward shapes, 1 and 2 threads ---- */
#ifdef _OPENMP
#include <omp.h>
#endif
static void fill(float *p, int64_t n, uint64_t seed) { for (int64_t i = 0; i < n; i++) p[i] = 1.5f * vg_philox_normal(seed, 3, (uint64_t)i) + 0.2f; }

VG_TEST(ops_fast_vs_ref_awkward_shapes) {
    const int64_t Ns[] = {1, 7, 33, 129}, Ds[] = {1, 7, 33, 129};
    for (int a = 0; a < 4; a++)
        for (int bb = 0; bb < 4; bb++) {
            int64_t n = Ns[a], d = Ds[bb], nd = n * d;
            float *x = malloc(sizeof(float) * nd), *g = malloc(sizeof(float) * nd), *w = malloc(sizeof(float) * d * 3);
            float *y1 = malloc(sizeof(float) * nd), *y2 = malloc(sizeof(float) * nd), *m1 = malloc(sizeof(float) * n), *m2 = malloc(sizeof(float) * n);
            float *r1 = malloc(sizeof(float) * n), *r2 = malloc(sizeof(float) * n);
            float *dx1 = calloc((size_t)nd, sizeof(float)), *dx2 = calloc((size_t)nd, sizeof(float));
            float *dw1 = calloc((size_t)d * 2, sizeof(float)), *dw2 = calloc((size_t)d * 2, sizeof(float));
            fill(x, nd, (uint64_t)(a * 4 + bb)); fill(g, nd, 99); fill(w, 3 * d, 7);
            char what[64];
            snprintf(what, sizeof(what), "layernorm %lldx%lld", (long long)n, (long long)d);
            vg_layernorm(y1, m1, r1, x, w, w + d, n, d, 1e-6f); vg_layernorm_ref(y2, m2, r2, x, w, w + d, n, d, 1e-6f);
            CHECK_CLOSE(what, y1, y2, nd, 1e-5, 1e-4);
            vg_layernorm_bwd(dx1, dw1, dw1 + d, g, x, w, m1, r1, n, d); vg_layernorm_bwd_ref(dx2, dw2, dw2 + d, g, x, w, m2, r2, n, d);
            CHECK_CLOSE(what, dx1, dx2, nd, 1e-4, 1e-3);
            CHECK_CLOSE(what, dw1, dw2, 2 * d, 1e-4, 1e-3);
            memset(dx1, 0, sizeof(float) * nd); memset(dx2, 0, sizeof(float) * nd);
            memset(dw1, 0, sizeof(float) * d); memset(dw2, 0, sizeof(float) * d);
            snprintf(what, sizeof(what), "rmsnorm %lldx%lld", (long long)n, (long long)d);
            vg_rmsnorm(y1, r1, x, w, n, d, 1e-6f); vg_rmsnorm_ref(y2, r2, x, w, n, d, 1e-6f);
            CHECK_CLOSE(what, y1, y2, nd, 1e-5, 1e-4);
            vg_rmsnorm_bwd(dx1, dw1, g, x, w, r1, n, d); vg_rmsnorm_bwd_ref(dx2, dw2, g, x, w, r2, n, d);
            CHECK_CLOSE(what, dx1, dx2, nd, 1e-4, 1e-3);
            CHECK_CLOSE(what, dw1, dw2, d, 1e-4, 1e-3);
            vg_gelu_tanh(y1, x, nd); vg_gelu_tanh_ref(y2, x, nd); CHECK_CLOSE("gelu", y1, y2, nd, 1e-6, 1e-5);
            vg_silu(y1, x, nd); vg_silu_ref(y2, x, nd); CHECK_CLOSE("silu", y1, y2, nd, 1e-6, 1e-5);
            vg_softmax(y1, x, n, d); vg_softmax_ref(y2, x, n, d); CHECK_CLOSE("softmax", y1, y2, nd, 1e-7, 1e-5);
            vg_modulate(y1, x, w, w + d, n, d); vg_modulate_ref(y2, x, w, w + d, n, d); CHECK_CLOSE("modulate", y1, y2, nd, 0, 0);
            free(x); free(g); free(w); free(y1); free(y2); free(m1); free(m2); free(r1); free(r2);
            free(dx1); free(dx2); free(dw1); free(dw2);
        }
    /* RoPE: F=1 and F=17 grids, odd grids, hd 16/32/128 */
    const int hds[] = {16, 32, 128};
    for (int k = 0; k < 3; k++)
        for (int64_t F = 1; F <= 17; F += 16) {
            int64_t Hg = 3, Wg = 5, H = 2, n = F * Hg * Wg * H * hds[k];
            float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
            fill(a, n, 5); memcpy(b, a, sizeof(float) * n);
            vg_rope3d(a, F, Hg, Wg, (int)H, hds[k], 10000.0, 2); vg_rope3d_ref(b, F, Hg, Wg, (int)H, hds[k], 10000.0, 2);
            CHECK_CLOSE("rope3d", a, b, n, 1e-5, 1e-5);
            free(a); free(b);
        }
}

VG_TEST(ops_bit_identical_across_threads) {
#ifdef _OPENMP
    int64_t n = 129, d = 130, nd = n * d;
    float *x = malloc(sizeof(float) * nd), *g = malloc(sizeof(float) * nd), *w = malloc(sizeof(float) * 2 * d);
    float *out[2], *dx[2], *dw[2], m[2][129], r[2][129];
    fill(x, nd, 1); fill(g, nd, 2); fill(w, 2 * d, 3);
    int nt = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        out[t] = malloc(sizeof(float) * nd); dx[t] = calloc((size_t)nd, sizeof(float)); dw[t] = calloc((size_t)2 * d, sizeof(float));
        vg_layernorm(out[t], m[t], r[t], x, w, w + d, n, d, 1e-6f);
        vg_layernorm_bwd(dx[t], dw[t], dw[t] + d, g, x, w, m[t], r[t], n, d);
        vg_rmsnorm_bwd(dx[t], dw[t], g, x, w, r[t], n, d);
        vg_modulate_bwd(dx[t], dw[t], dw[t] + d, g, x, w, n, d);
    }
    omp_set_num_threads(nt);
    CHECK(memcmp(out[0], out[1], sizeof(float) * nd) == 0);
    CHECK(memcmp(dx[0], dx[1], sizeof(float) * nd) == 0);
    CHECK(memcmp(dw[0], dw[1], sizeof(float) * 2 * d) == 0);
    for (int t = 0; t < 2; t++) { free(out[t]); free(dx[t]); free(dw[t]); }
    free(x); free(g); free(w);
#endif
}

/* ---- matmul and patchify against PyTorch (F.linear with grads; Conv3d with kernel = stride) ---- */

VG_TEST(ops_linear_and_patchify_vs_torch) {
    vg_ref *r = vg_ref_load(REF); CHECK(r);
    const float *x = vg_ref_get(r, "linear.in0", NULL), *W = vg_ref_get(r, "linear.p0", NULL),
                *b = vg_ref_get(r, "linear.p1", NULL), *g = vg_ref_get(r, "linear.r", NULL);
    CHECK(x && W && b && g);
    float y[7 * 5], dx[7 * 33], dW[5 * 33] = {0};
    vg_matmul_nt(y, x, W, VG_DTYPE_F32, b, 7, 5, 33, false);
    CHECK_CLOSE("linear out", y, vg_ref_get(r, "linear.out", NULL), 35, 1e-5, 1e-4);
    vg_matmul_nn(dx, g, W, 7, 5, 33, false);
    CHECK_CLOSE("linear dx", dx, vg_ref_get(r, "linear.din0", NULL), 7 * 33, 1e-5, 1e-4);
    vg_matmul_tn(dW, g, x, 7, 5, 33);
    CHECK_CLOSE("linear dW", dW, vg_ref_get(r, "linear.dp0", NULL), 5 * 33, 1e-5, 1e-4);
    int64_t n;
    const float *clip = vg_ref_get(r, "patchify.in", &n);
    CHECK(clip && n == 3 * 2 * 6 * 10);
    float tok[360], back[360], conv[30 * 4];
    vg_patchify(tok, clip, 3, 2, 6, 10, 2, 2, 0);
    CHECK_CLOSE("patchify (c,q,r)", tok, vg_ref_get(r, "patchify.cqr", NULL), 360, 0, 0);
    vg_matmul_nt(conv, tok, vg_ref_get(r, "patchify.conv_w", NULL), VG_DTYPE_F32, NULL, 30, 4, 12, false);
    CHECK_CLOSE("patch embedding = conv3d", conv, vg_ref_get(r, "patchify.conv_out", NULL), 120, 1e-5, 1e-4);
    vg_patchify(tok, clip, 3, 2, 6, 10, 2, 2, 1);
    CHECK_CLOSE("patchify (q,r,c)", tok, vg_ref_get(r, "patchify.qrc", NULL), 360, 0, 0);
    vg_unpatchify(back, vg_ref_get(r, "patchify.qrc", NULL), 3, 2, 6, 10, 2, 2, 1);
    CHECK_CLOSE("unpatchify", back, clip, 360, 0, 0);
    vg_ref_free(r);
}

/* GELU's branch-free tanh (act.c) over a wide range and at the edges, against the double
 * reference: |err| <= 2e-7 (1 + |x|) for the forward, 1e-6 (1 + |x|) for the derivative;
 * gelu(inf) = inf and NaN stays NaN (gelu(-inf) is -inf * 0 = NaN, as with libm's tanhf). */
VG_TEST(ops_gelu_fast_tanh_range) {
    const int NG = 48001;
    float *x = malloc(sizeof(float) * NG), *y = malloc(sizeof(float) * NG), *r = malloc(sizeof(float) * NG);
    float *d = calloc(NG, sizeof(float)), *one = malloc(sizeof(float) * NG);
    CHECK(x && y && r && d && one);
    for (int i = 0; i < NG; i++) { x[i] = -12.0f + 24.0f * (float)i / (NG - 1); one[i] = 1.0f; }
    x[0] = 1e-30f; x[1] = -3e-39f; x[2] = 60.0f; x[3] = -60.0f; x[4] = 1e20f; x[5] = -1e20f;
    vg_gelu_tanh(y, x, NG);
    vg_gelu_tanh_ref(r, x, NG);
    vg_gelu_tanh_bwd(d, one, x, NG);
    double worst = 0, worst_d = 0;
    for (int i = 0; i < NG; i++) {
        double e = fabs((double)y[i] - r[i]) / (1.0 + fabs(x[i]));
        if (e > worst) worst = e;
        double v = x[i], c = sqrt(2.0 / M_PI), u = c * (v + 0.044715 * v * v * v), t = tanh(u);
        double dref = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
        if (fabs(v) < 1e6) {
            double ed = fabs(d[i] - dref) / (1.0 + fabs(v));
            if (ed > worst_d) worst_d = ed;
        }
    }
    printf("    gelu fast tanh: worst |err|/(1+|x|) %.2e forward, %.2e derivative\n", worst, worst_d);
    CHECKF(worst <= 2e-7, "forward error %.3g", worst);
    CHECKF(worst_d <= 1e-6, "derivative error %.3g", worst_d);
    float sp[2] = {INFINITY, NAN}, so[2];
    vg_gelu_tanh(so, sp, 2);
    CHECKF(so[0] == INFINITY && isnan(so[1]), "gelu(inf, nan) = %g %g", so[0], so[1]);
    free(x); free(y); free(r); free(d); free(one);
}

/* vg_colsum_grad (the bias / norm-weight / gate / modulation gradient sums) against its plain
 * twin, on awkward shapes, every combination of optional terms, at 1 and 2 threads: the same
 * operations in the same order, so equal to the bit. */
VG_TEST(ops_colsum_grad_matches_ref) {
    const int64_t shapes[][2] = {{1, 1}, {7, 33}, {129, 65}, {300, 130}, {2048, 128}};
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        int64_t n = shapes[s][0], d = shapes[s][1];
        float *g = malloc(sizeof(float) * n * d), *x = malloc(sizeof(float) * n * d), *m = malloc(sizeof(float) * n),
              *r = malloc(sizeof(float) * n), out[4][130], ref[2][130];
        vg_philox_fill_normal(g, n * d, 31, (uint64_t)s);
        vg_philox_fill_normal(x, n * d, 32, (uint64_t)s);
        vg_philox_fill_normal(m, n, 33, (uint64_t)s);
        vg_philox_fill_normal(r, n, 34, (uint64_t)s);
        for (int opt = 0; opt < 4; opt++) {
            const float *sub = opt & 1 ? m : NULL, *sc = opt & 2 ? r : NULL;
            for (int k = 0; k < 2; k++) for (int64_t j = 0; j < d; j++) ref[k][j] = 0.25f * (float)j;
            vg_colsum_grad_ref(ref[0], ref[1], g, x, sub, sc, n, d);
            for (int t = 0; t < 2; t++) {
#ifdef _OPENMP
                int saved = omp_get_max_threads();
                omp_set_num_threads(t + 1);
#endif
                for (int k = 0; k < 2; k++) for (int64_t j = 0; j < d; j++) out[2 * t + k][j] = 0.25f * (float)j;
                vg_colsum_grad(out[2 * t], out[2 * t + 1], g, x, sub, sc, n, d);
#ifdef _OPENMP
                omp_set_num_threads(saved);
#endif
                CHECKF(!memcmp(out[2 * t], ref[0], sizeof(float) * d) && !memcmp(out[2 * t + 1], ref[1], sizeof(float) * d),
                       "%lldx%lld opt %d, %d thread(s): differs from the reference", (long long)n, (long long)d, opt, t + 1);
            }
        }
        free(g); free(x); free(m); free(r);
    }
}

/* The 8-lane GELU (act.c, level >= 2) gives the same bits as the scalar code (level 1), forward
 * and backward, on a length that leaves a scalar tail in a block, with edge values included. */
VG_TEST(ops_gelu_avx2_equals_scalar) {
    vg_cpu_force_level(0);
    if (vg_cpu_level() < 2) { printf("    skipped: no AVX2\n"); return; }
    const int n = 3 * 4096 + 13;
    float *x = malloc(sizeof(float) * n), *dout = malloc(sizeof(float) * n);
    float *y[2], *dx[2];
    for (int l = 0; l < 2; l++) { y[l] = malloc(sizeof(float) * n); dx[l] = malloc(sizeof(float) * n); }
    vg_rng rg;
    vg_rng_seed(&rg, 77);
    for (int i = 0; i < n; i++) {
        x[i] = (float)(16.0 * vg_rng_uniform(&rg) - 8.0) * (i % 97 == 0 ? 10.0f : 1.0f);
        dout[i] = (float)(2.0 * vg_rng_uniform(&rg) - 1.0);
    }
    x[0] = 0.0f; x[1] = -0.0f; x[2] = 60.0f; x[3] = -60.0f; x[4] = 1e-30f; x[5] = -3e-39f; x[6] = NAN; x[7] = INFINITY;
    for (int l = 0; l < 2; l++) {
        vg_cpu_force_level(l ? 2 : 1);
        for (int i = 0; i < n; i++) dx[l][i] = 0.25f;
        vg_gelu_tanh(y[l], x, n);
        vg_gelu_tanh_bwd(dx[l], dout, x, n);
    }
    vg_cpu_force_level(0);
    int bad = 0, first = -1;
    for (int i = 0; i < n; i++)
        if (memcmp(&y[0][i], &y[1][i], 4) || memcmp(&dx[0][i], &dx[1][i], 4)) { bad++; if (first < 0) first = i; }
    CHECKF(bad == 0, "%d of %d differ; first at %d (x %g): y %.9g vs %.9g, dx %.9g vs %.9g", bad, n, first,
           first >= 0 ? x[first] : 0.0, first >= 0 ? y[0][first] : 0.0, first >= 0 ? y[1][first] : 0.0,
           first >= 0 ? dx[0][first] : 0.0, first >= 0 ? dx[1][first] : 0.0);
    free(x); free(dout);
    for (int l = 0; l < 2; l++) { free(y[l]); free(dx[l]); }
}
