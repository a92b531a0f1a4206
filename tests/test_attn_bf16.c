/* test_attn_bf16.c - attention with bf16 products (vg_attn_bf16, src/ops/attn_bf16.c):
 * the AVX512_BF16 kernel equals its plain twin vg_attn_bf16_ref bit for bit (same arithmetic,
 * same order, same exp polynomial) on full, windowed and cross-attention shapes (odd key counts
 * and partial tiles included); both stay within a derived bound of the exact f32/double
 * vg_attn_ref; 1 and 2 threads give the same bits; vg_attn follows the vg_gemm_bf16 knob.
 * Layout q/k/v/out [L, H*hd], lse [H, Lq]; F frames, S tokens per frame, hd head dim. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "vidgen/attn.h"
#include "vidgen/gemm.h"
#include "vidgen/rng.h"
#ifdef _OPENMP
#include <omp.h>
#endif


typedef struct { int64_t Lq, Lk, S; int window; int H, hd; float qmul; const char *what; } bcase;

static const bcase CASES[] = {
    {1, 1, 1, -1, 1, 32, 1, "full 1"},          {33, 33, 1, -1, 2, 64, 1, "full 33"},
    {129, 129, 1, -1, 1, 128, 1, "full 129"},   {200, 200, 1, -1, 3, 128, 2, "full 200 sharp"},
    {7, 77, 1, -1, 2, 128, 1, "cross 7x77"},    {150, 512, 1, -1, 2, 128, 1, "cross 150x512"},
    {129, 1, 1, -1, 1, 32, 1, "cross 129x1"},   {102, 102, 6, 0, 2, 32, 1, "F17 S6 w0"},
    {102, 102, 6, 1, 1, 64, 1, "F17 S6 w1"},    {185, 185, 37, 1, 2, 128, 1, "F5 S37 w1"},
    {296, 296, 37, 2, 1, 128, 1, "F8 S37 w2"},
};

/* Bound vs exact attention per query i (see attn.h): d = 2^-8 * 1.01 * scale * max_j sum_c |q_c k_jc|
 * (q, k rounded to bf16: relative 2^-9 each, f32 sums), then |out - exact| <= max|v| (2^-9 + 4d + 2^-7)
 * (v rounded: 2^-9; each weight exp(s_j) off by a factor within exp(+-d)(1 +- 2^-9)) + 1e-5. */
static bool within_bound(const bcase *c, const float *got, const float *exact, const float *q, const float *k,
                         const float *v, float scale, double *rel_l2) {
    vg_attn_shape s = {c->Lq, c->Lk, c->H, c->hd, c->S, c->window, scale};
    const int64_t D = (int64_t)c->H * c->hd;
    double vmax = 0, num = 0, den = 0;
    for (int64_t i = 0; i < c->Lk * D; i++) vmax = fmax(vmax, fabs(v[i]));
    for (int h = 0; h < c->H; h++)
        for (int64_t i = 0; i < c->Lq; i++) {
            int64_t k0 = 0, k1 = c->Lk;
            if (c->window >= 0) {
                int64_t f = i / c->S, F = c->Lk / c->S;
                k0 = (f - c->window < 0 ? 0 : f - c->window) * c->S;
                k1 = ((f + c->window >= F ? F - 1 : f + c->window) + 1) * c->S;
            }
            double dmax = 0;
            for (int64_t j = k0; j < k1; j++) {
                double a = 0;
                for (int x = 0; x < c->hd; x++) a += fabs((double)q[i * D + h * c->hd + x] * k[j * D + h * c->hd + x]);
                dmax = fmax(dmax, a);
            }
            double d = ldexp(1.01 * scale * dmax, -8), bound = vmax * (ldexp(1, -9) + 4 * d + ldexp(1, -7)) + 1e-5;
            for (int x = 0; x < c->hd; x++) {
                int64_t e = i * D + h * c->hd + x;
                double err = fabs((double)got[e] - exact[e]);
                num += err * err;
                den += (double)exact[e] * exact[e];
                if (!(err <= bound)) {
                    vg_test_failf(__FILE__, __LINE__, "%s: out[%lld] %.8g vs exact %.8g, bound %.3g", c->what,
                                  (long long)e, got[e], exact[e], bound);
                    return false;
                }
            }
        }
    *rel_l2 = sqrt(num / (den > 0 ? den : 1));
    (void)s;
    return true;
}

VG_TEST(attn_bf16_matches_ref_bitwise_and_exact_within_bound) {
    double worst = 0;
    for (size_t ci = 0; ci < sizeof(CASES) / sizeof(CASES[0]); ci++) {
        const bcase *c = &CASES[ci];
        vg_attn_shape s = {c->Lq, c->Lk, c->H, c->hd, c->S, c->window, 1.0f / sqrtf((float)c->hd)};
        const int64_t D = (int64_t)c->H * c->hd, nq = c->Lq * D, nk = c->Lk * D;
        float *q = vg_test_randn(nq, 10 + ci, c->qmul), *k = vg_test_randn(nk, 40 + ci, 1), *v = vg_test_randn(nk, 70 + ci, 1);
        float *o_r = malloc(sizeof(float) * nq), *l_r = malloc(sizeof(float) * c->H * c->Lq);
        float *o = malloc(sizeof(float) * nq), *l = malloc(sizeof(float) * c->H * c->Lq);
        float *ex = malloc(sizeof(float) * nq);
        vg_attn_bf16_ref(o_r, l_r, q, k, v, &s);
        vg_attn_ref(ex, NULL, q, k, v, &s);
        double rel = 0;
        bool ok = within_bound(c, o_r, ex, q, k, v, s.scale, &rel);
        if (ok && rel > worst) worst = rel;
        if (ok && vg_attn_bf16_available(&s)) {
            memset(o, 0xff, sizeof(float) * nq); /* NaN: every output must be written */
            vg_attn_bf16(o, l, q, k, v, &s);
            for (int64_t i = 0; i < nq && ok; i++)
                if (memcmp(&o[i], &o_r[i], 4)) {
                    vg_test_failf(__FILE__, __LINE__, "%s: fast out[%lld] %.9g vs _ref %.9g", c->what, (long long)i, o[i], o_r[i]);
                    ok = false;
                }
            for (int64_t i = 0; i < c->H * c->Lq && ok; i++)
                if (memcmp(&l[i], &l_r[i], 4)) {
                    vg_test_failf(__FILE__, __LINE__, "%s: fast lse[%lld] %.9g vs _ref %.9g", c->what, (long long)i, l[i], l_r[i]);
                    ok = false;
                }
        }
        free(q); free(k); free(v); free(o_r); free(l_r); free(o); free(l); free(ex);
        if (!ok) return;
    }
    printf("  worst relative L2 error vs exact attention: %.3g\n", worst);
    CHECKF(worst < 1e-2, "relative L2 %.3g: far above bf16's ~3e-3", worst);
    if (!vg_attn_bf16_available(&(vg_attn_shape){1, 1, 1, 32, 1, -1, 1})) printf("  (no AVX512_BF16: fast kernel not run)\n");
}

VG_TEST(attn_bf16_threads_and_knob) {
    const bcase c = {360, 360, 40, 1, 3, 128, 1, "F9 S40 w1"};
    vg_attn_shape s = {c.Lq, c.Lk, c.H, c.hd, c.S, c.window, 0.09f};
    const int64_t n = c.Lq * c.H * c.hd;
    float *q = vg_test_randn(n, 1, 1), *k = vg_test_randn(n, 2, 1), *v = vg_test_randn(n, 3, 1);
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n), *f = malloc(sizeof(float) * n);
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    vg_attn_bf16(a, NULL, q, k, v, &s);
    omp_set_num_threads(2);
    vg_attn_bf16(b, NULL, q, k, v, &s);
    omp_set_num_threads(saved);
    bool same = !memcmp(a, b, sizeof(float) * n);
#else
    bool same = true;
#endif
    /* the knob: vg_attn is f32 by default and bf16 while vg_gemm_bf16(true) */
    vg_attn(f, NULL, q, k, v, &s);
    vg_attn_f32(b, NULL, q, k, v, &s);
    bool f32_default = !memcmp(f, b, sizeof(float) * n);
    bool was = vg_gemm_bf16(true);
    vg_attn(f, NULL, q, k, v, &s);
    vg_gemm_bf16(was);
    vg_attn_bf16(b, NULL, q, k, v, &s);
    bool knob = !memcmp(f, b, sizeof(float) * n);
    bool differs = memcmp(a, b, sizeof(float) * n) == 0; /* a is bf16 too: equal */
    vg_attn_f32(b, NULL, q, k, v, &s);
    bool bf16_not_f32 = !vg_attn_bf16_available(&s) || memcmp(a, b, sizeof(float) * n) != 0;
    free(q); free(k); free(v); free(a); free(b); free(f);
    CHECKF(same, "bf16 attention: 1 and 2 threads differ");
    CHECKF(f32_default, "vg_attn is not f32 while vg_gemm_bf16 is off");
    CHECKF(knob, "vg_attn does not follow vg_gemm_bf16(true)");
    CHECKF(differs && bf16_not_f32, "bf16 path not taken (results equal f32's)");
}
