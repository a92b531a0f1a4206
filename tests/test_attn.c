/* test_attn.c - fused attention (vg_attn, vg_attn_bwd) against the plain _ref kernels on
 * awkward shapes at every forced ISA level, thread-count determinism, the _ref backward
 * against central finite differences in double, and PyTorch vectors (tests/ref/attn.bin,
 * written by tests/ref/gen_attn.py). Layout q/k/v/out [L, H*hd], lse [H, Lq];
 * F frames, S tokens per frame, hd head dim. */
#include <stdlib.h>
#include "test.h"
#include "ref.h"
#include "vidgen/attn.h"
#include "vidgen/gemm.h"
#include "vidgen/rng.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* Fast vs _ref: 1e-5 abs + 1e-4 rel. The fast path sums in f32 (up to 129 keys x 128 dims)
 * in tile order with an online-softmax rescale and a ~2 ulp polynomial exp; _ref sums in
 * double. Values here are O(1), so f32 rounding stays near 1e-6. */
#define ATOL 1e-5
#define RTOL 1e-4


typedef struct { int64_t Lq, Lk, S; int window; const char *what; } attn_case;

static const attn_case CASES[] = {
    {1, 1, 1, -1, "full 1"},       {7, 7, 1, -1, "full 7"},       {33, 33, 1, -1, "full 33"},
    {129, 129, 1, -1, "full 129"}, {7, 33, 1, -1, "cross 7x33"},  {129, 1, 1, -1, "cross 129x1"},
    {33, 129, 1, -1, "cross 33x129"}, {1, 7, 1, -1, "cross 1x7"},
    {6, 6, 6, 0, "F1 S6 w0"},      {6, 6, 6, 1, "F1 S6 w1"},      {6, 6, 6, -1, "F1 S6 all"},
    {102, 102, 6, 0, "F17 S6 w0"}, {102, 102, 6, 1, "F17 S6 w1"}, {102, 102, 6, 2, "F17 S6 w2"},
    {102, 102, 6, -1, "F17 S6 all"},
};

/* One shape: _ref forward/backward once, then fast forward/backward at levels 3, 2, 1. */
static bool check_case(const attn_case *c, int H, int hd, uint64_t seed) {
    vg_attn_shape s = {c->Lq, c->Lk, H, hd, c->S, c->window, 1.0f / sqrtf((float)hd)};
    int64_t D = (int64_t)H * hd, nq = c->Lq * D, nk = c->Lk * D;
    float *q = vg_test_randn(nq, seed, 1), *k = vg_test_randn(nk, seed + 1, 1), *v = vg_test_randn(nk, seed + 2, 1);
    float *dout = vg_test_randn(nq, seed + 3, 1);
    float *o_r = malloc(sizeof(float) * nq), *l_r = malloc(sizeof(float) * H * c->Lq);
    float *o = malloc(sizeof(float) * nq), *l = malloc(sizeof(float) * H * c->Lq);
    float *gq_r = malloc(sizeof(float) * nq), *gk_r = malloc(sizeof(float) * nk), *gv_r = malloc(sizeof(float) * nk);
    float *gq = malloc(sizeof(float) * nq), *gk = malloc(sizeof(float) * nk), *gv = malloc(sizeof(float) * nk);
    bool ok = true;
    char what[160];
    vg_attn_ref(o_r, l_r, q, k, v, &s);
    vg_attn_bwd_ref(gq_r, gk_r, gv_r, dout, o_r, l_r, q, k, v, &s);
    for (int level = 3; level >= 1 && ok; level--) {
        vg_cpu_force_level(level);
        memset(o, 0xff, sizeof(float) * nq); /* NaN: every output must be written */
        memset(gk, 0xff, sizeof(float) * nk);
        vg_attn(o, l, q, k, v, &s);
        vg_attn_bwd(gq, gk, gv, dout, o_r, l_r, q, k, v, &s);
#define CMP(name, a, b, n) snprintf(what, sizeof(what), "%s H%d hd%d level %d: %s", c->what, H, hd, level, name); \
        ok = ok && vg_test_close(__FILE__, __LINE__, what, a, b, n, ATOL, RTOL)
        CMP("out", o, o_r, nq);
        CMP("lse", l, l_r, H * c->Lq);
        CMP("dq", gq, gq_r, nq);
        CMP("dk", gk, gk_r, nk);
        CMP("dv", gv, gv_r, nk);
#undef CMP
    }
    vg_cpu_force_level(0);
    free(q); free(k); free(v); free(dout); free(o_r); free(l_r); free(o); free(l);
    free(gq_r); free(gk_r); free(gv_r); free(gq); free(gk); free(gv);
    return ok;
}

VG_TEST(attn_fast_matches_ref_awkward_shapes) {
    static const int HDS[] = {16, 32, 64, 128};
    int n = 0;
    for (size_t ci = 0; ci < sizeof(CASES) / sizeof(CASES[0]); ci++)
        for (int hi = 0; hi < 4; hi++, n++)
            if (!check_case(&CASES[ci], 1 + n % 3, HDS[hi], 100 + 10 * (uint64_t)n)) return;
}

VG_TEST(attn_odd_head_dim_and_no_lse) {
    /* hd 24 (AVX2 only, scalar under AVX-512 rules) and hd 20 (plain C only); lse NULL. */
    attn_case c = {40, 40, 8, 1, "F5 S8 w1"};
    CHECK(check_case(&c, 2, 24, 7));
    CHECK(check_case(&c, 1, 20, 8));
    vg_attn_shape s = {70, 70, 2, 32, 1, -1, 0.2f};
    float *q = vg_test_randn(70 * 64, 1, 1), *k = vg_test_randn(70 * 64, 2, 1), *v = vg_test_randn(70 * 64, 3, 1);
    float *a = malloc(sizeof(float) * 70 * 64), *b = malloc(sizeof(float) * 70 * 64);
    vg_attn_ref(a, NULL, q, k, v, &s);
    vg_attn(b, NULL, q, k, v, &s);
    bool ok = vg_test_close(__FILE__, __LINE__, "no lse", b, a, 70 * 64, ATOL, RTOL);
    free(q); free(k); free(v); free(a); free(b);
    CHECK(ok);
}

VG_TEST(attn_bitwise_same_for_1_and_2_threads) {
#ifdef _OPENMP
    static const attn_case cs[] = {{300, 300, 1, -1, "full 300"}, {360, 360, 40, 1, "F9 S40 w1"}, {90, 200, 1, -1, "cross"}};
    int saved = omp_get_max_threads();
    for (int ci = 0; ci < 3; ci++) {
        const attn_case *c = &cs[ci];
        vg_attn_shape s = {c->Lq, c->Lk, 3, 64, c->S, c->window, 0.125f};
        int64_t nq = c->Lq * 192, nk = c->Lk * 192;
        float *q = vg_test_randn(nq, 11, 1), *k = vg_test_randn(nk, 12, 1), *v = vg_test_randn(nk, 13, 1), *dout = vg_test_randn(nq, 14, 1);
        float *o[2], *l[2], *g[2][3];
        for (int t = 0; t < 2; t++) {
            omp_set_num_threads(t + 1);
            o[t] = malloc(sizeof(float) * nq); l[t] = malloc(sizeof(float) * 3 * c->Lq);
            g[t][0] = malloc(sizeof(float) * nq); g[t][1] = malloc(sizeof(float) * nk); g[t][2] = malloc(sizeof(float) * nk);
            vg_attn(o[t], l[t], q, k, v, &s);
            vg_attn_bwd(g[t][0], g[t][1], g[t][2], dout, o[t], l[t], q, k, v, &s);
        }
        omp_set_num_threads(saved);
        bool same = !memcmp(o[0], o[1], sizeof(float) * nq) && !memcmp(l[0], l[1], sizeof(float) * 3 * c->Lq) &&
                    !memcmp(g[0][0], g[1][0], sizeof(float) * nq) && !memcmp(g[0][1], g[1][1], sizeof(float) * nk) &&
                    !memcmp(g[0][2], g[1][2], sizeof(float) * nk);
        free(q); free(k); free(v); free(dout);
        for (int t = 0; t < 2; t++) { free(o[t]); free(l[t]); for (int j = 0; j < 3; j++) free(g[t][j]); }
        CHECKF(same, "%s: 1 and 2 threads differ", c->what);
    }
#endif
}

/* L = sum_i r_i * out_i in double, with the window applied as a mask |f_q - f_k| <= window. */
static double loss_d(const double *q, const double *k, const double *v, const float *r,
                     const vg_attn_shape *s) {
    int64_t D = (int64_t)s->H * s->hd;
    double L = 0, *p = malloc(sizeof(double) * (size_t)s->Lk);
    for (int h = 0; h < s->H; h++)
        for (int64_t i = 0; i < s->Lq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < s->Lk; j++) {
                if (s->window >= 0 && llabs(i / s->S - j / s->S) > s->window) { p[j] = -INFINITY; continue; }
                double d = 0;
                for (int c = 0; c < s->hd; c++) d += q[i * D + h * s->hd + c] * k[j * D + h * s->hd + c];
                p[j] = d * s->scale;
                if (p[j] > mx) mx = p[j];
            }
            for (int64_t j = 0; j < s->Lk; j++) { p[j] = exp(p[j] - mx); sum += p[j]; }
            for (int c = 0; c < s->hd; c++) {
                double o = 0;
                for (int64_t j = 0; j < s->Lk; j++) o += p[j] * v[j * D + h * s->hd + c];
                L += r[i * D + h * s->hd + c] * o / sum;
            }
        }
    free(p);
    return L;
}

/* _ref backward vs central differences (eps 1e-3, double): 25 random entries each of q, k, v.
 * Pass: |a - n| <= 1e-2 * max(|n|, 1e-2) (truncation error ~eps^2 is far below). */
static bool fd_case(vg_attn_shape s, uint64_t seed) {
    int64_t D = (int64_t)s.H * s.hd, nq = s.Lq * D, nk = s.Lk * D;
    float *in[3] = {vg_test_randn(nq, seed, 1), vg_test_randn(nk, seed + 1, 1), vg_test_randn(nk, seed + 2, 1)};
    float *r = vg_test_randn(nq, seed + 3, 1), *o = malloc(sizeof(float) * nq), *l = malloc(sizeof(float) * s.H * s.Lq);
    float *g[3] = {malloc(sizeof(float) * nq), malloc(sizeof(float) * nk), malloc(sizeof(float) * nk)};
    double *d[3];
    int64_t n[3] = {nq, nk, nk};
    for (int t = 0; t < 3; t++) {
        d[t] = malloc(sizeof(double) * n[t]);
        for (int64_t i = 0; i < n[t]; i++) d[t][i] = in[t][i];
    }
    vg_attn_ref(o, l, in[0], in[1], in[2], &s);
    vg_attn_bwd_ref(g[0], g[1], g[2], r, o, l, in[0], in[1], in[2], &s);
    bool ok = true;
    vg_rng rng;
    vg_rng_seed(&rng, seed);
    const double eps = 1e-3;
    for (int t = 0; t < 3 && ok; t++)
        for (int it = 0; it < 25 && ok; it++) {
            int64_t i = vg_rng_int(&rng, (int)n[t]);
            double x = d[t][i];
            d[t][i] = x + eps;
            double lp = loss_d(d[0], d[1], d[2], r, &s);
            d[t][i] = x - eps;
            double lm = loss_d(d[0], d[1], d[2], r, &s);
            d[t][i] = x;
            double num = (lp - lm) / (2 * eps), a = g[t][i];
            if (!(fabs(a - num) <= 1e-2 * fmax(fabs(num), 1e-2))) {
                vg_test_failf(__FILE__, __LINE__, "d%c[%lld]: analytic %.6g vs numeric %.6g (Lq %lld Lk %lld w %d)",
                              "qkv"[t], (long long)i, a, num, (long long)s.Lq, (long long)s.Lk, s.window);
                ok = false;
            }
        }
    for (int t = 0; t < 3; t++) { free(in[t]); free(g[t]); free(d[t]); }
    free(r); free(o); free(l);
    return ok;
}

VG_TEST(attn_bwd_ref_matches_finite_differences) {
    CHECK(fd_case((vg_attn_shape){12, 12, 2, 16, 4, 1, 0.25f}, 31));  /* F3 S4 window 1 */
    CHECK(fd_case((vg_attn_shape){12, 12, 1, 16, 4, 0, 0.25f}, 41));  /* flipbook */
    CHECK(fd_case((vg_attn_shape){5, 7, 2, 16, 1, -1, 0.3f}, 51));    /* cross-attention */
}

/* PyTorch float64 results rounded to f32; our kernels see the same f32 inputs. */
static void torch_case(vg_ref *r, const char *name) {
    char key[64];
#define GET(field, var) const float *var; int64_t n_##var; \
    snprintf(key, sizeof(key), "%s.%s", name, field); var = vg_ref_get(r, key, &n_##var); CHECKF(var, "missing %s", key)
    GET("shape", sh); GET("q", q); GET("k", k); GET("v", v); GET("out", out); GET("lse", lse);
    GET("dout", dout); GET("dq", dq); GET("dk", dk); GET("dv", dv);
#undef GET
    CHECK(n_sh == 7);
    vg_attn_shape s = {(int64_t)sh[0], (int64_t)sh[1], (int)sh[2], (int)sh[3], (int64_t)sh[4], (int)sh[5], sh[6]};
    int64_t D = (int64_t)s.H * s.hd;
    CHECK(n_q == s.Lq * D && n_k == s.Lk * D && n_v == n_k && n_out == n_q && n_lse == s.H * s.Lq &&
          n_dout == n_q && n_dq == n_q && n_dk == n_k && n_dv == n_k);
    float *o = malloc(sizeof(float) * n_q), *l = malloc(sizeof(float) * n_lse);
    float *g[3] = {malloc(sizeof(float) * n_q), malloc(sizeof(float) * n_k), malloc(sizeof(float) * n_k)};
    bool ok = true;
    for (int fast = 0; fast < 2 && ok; fast++) {
        (fast ? vg_attn : vg_attn_ref)(o, l, q, k, v, &s);
        (fast ? vg_attn_bwd : vg_attn_bwd_ref)(g[0], g[1], g[2], dout, o, l, q, k, v, &s);
        snprintf(key, sizeof(key), "%s %s", name, fast ? "fast" : "ref");
        ok = vg_test_close(__FILE__, __LINE__, key, o, out, n_q, ATOL, RTOL) &&
             vg_test_close(__FILE__, __LINE__, key, l, lse, n_lse, ATOL, RTOL) &&
             vg_test_close(__FILE__, __LINE__, key, g[0], dq, n_q, ATOL, RTOL) &&
             vg_test_close(__FILE__, __LINE__, key, g[1], dk, n_k, ATOL, RTOL) &&
             vg_test_close(__FILE__, __LINE__, key, g[2], dv, n_k, ATOL, RTOL);
    }
    free(o); free(l); free(g[0]); free(g[1]); free(g[2]);
}

VG_TEST(attn_matches_pytorch_window_and_cross) {
    vg_ref *r = vg_ref_load("tests/ref/attn.bin");
    CHECK(r);
    torch_case(r, "win");
    torch_case(r, "cross");
    vg_ref_free(r);
}
