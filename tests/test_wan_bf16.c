/* test_wan_bf16.c - the bf16 mode of the Wan DiT forward (vg_wan_params.bf16, `vidgen --bf16`):
 * products with F16 weights under vg_gemm_bf16(true) equal the _ref product of the bf16-rounded
 * operands (and stay within 2^-7 sum|a w| of the f16 product); a Wan-shaped DiT forward with f16
 * weights in bf16 mode stays within a stated relative L2 of the f32 mode, really takes the bf16
 * paths, and gives the same bits at 1 and 2 threads; `vidgen --bf16` end to end on a tiny random set. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include <cjson/cJSON.h>
#include "vidgen/dit.h"
#include "vidgen/io.h"
#include "vidgen/wan.h"
#include "vidgen/gemm.h"
#include "vidgen/rng.h"
#include "vidgen/tensor.h"
#ifdef _OPENMP
#include <omp.h>
#endif


static float bf16r(float x) { return vg_bf16_to_f32(vg_f32_to_bf16(x)); }

VG_TEST(wan_bf16_f16_weight_products) {
    if (!vg_gemm_bf16_available()) { printf("  skip: no AVX512_BF16 on this CPU\n"); return; }
    static const int64_t shapes[][3] = {{1, 1, 1}, {37, 45, 33}, {64, 96, 160}, {15, 33, 1537}};
    for (int si = 0; si < 4; si++) {
        const int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        float *a = vg_test_randn(M * K, 1 + si, 1), *wf = vg_test_randn(N * K, 20 + si, 0.05f), *bias = vg_test_randn(N, 40 + si, 1);
        uint16_t *w16 = malloc(sizeof(uint16_t) * N * K);
        float *ar = malloc(sizeof(float) * M * K), *wr = malloc(sizeof(float) * N * K), *aa = malloc(sizeof(float) * M * K),
              *wa = malloc(sizeof(float) * N * K);
        float *ref = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N), *f16p = malloc(sizeof(float) * M * N),
              *sabs = malloc(sizeof(float) * M * N);
        for (int64_t i = 0; i < N * K; i++) {
            w16[i] = vg_f32_to_f16(wf[i]);
            wr[i] = bf16r(vg_f16_to_f32(w16[i]));
            wa[i] = fabsf(vg_f16_to_f32(w16[i]));
        }
        for (int64_t i = 0; i < M * K; i++) { ar[i] = bf16r(a[i]); aa[i] = fabsf(a[i]); }
        vg_matmul_nt(f16p, a, w16, VG_DTYPE_F16, bias, M, N, K, false); /* mode off: the f16 (f32) path */
        bool was = vg_gemm_bf16(true);
        vg_matmul_nt(got, a, w16, VG_DTYPE_F16, bias, M, N, K, false);
        vg_gemm_bf16(was);
        vg_matmul_nt_ref(ref, ar, wr, VG_DTYPE_F32, bias, M, N, K, false);
        vg_matmul_nt_ref(sabs, aa, wa, VG_DTYPE_F32, NULL, M, N, K, false);
        char what[96];
        snprintf(what, sizeof(what), "f16 weights, bf16 mode, M=%lld N=%lld K=%lld", (long long)M, (long long)N, (long long)K);
        bool ok = vg_test_close(__FILE__, __LINE__, what, got, ref, M * N, 1e-5 * sqrt((double)K), 1e-4);
        bool differs = false;
        for (int64_t i = 0; ok && i < M * N; i++) {
            if (got[i] != f16p[i]) differs = true;
            if (!(fabs((double)got[i] - f16p[i]) <= ldexp((double)sabs[i], -7) + 1e-5 * sqrt((double)K))) {
                vg_test_failf(__FILE__, __LINE__, "%s [%lld]: %.8g vs f16 path %.8g, bound 2^-7 * %.6g", what, (long long)i,
                              got[i], f16p[i], sabs[i]);
                ok = false;
            }
        }
        if (ok && M * N * K > 1000 && !differs) { vg_test_failf(__FILE__, __LINE__, "%s: equals the f16 path: bf16 not taken", what); ok = false; }
        free(a); free(wf); free(bias); free(w16); free(ar); free(wr); free(aa); free(wa); free(ref); free(got); free(f16p); free(sabs);
        if (!ok) return;
    }
}

/* A Wan-shaped DiT (2 blocks, dim 128, 2 heads of 64, text 16 x 64) with F16 matrices (2-D and the
 * 5-D patch embedding, as the Wan loader keeps them; the modulations stay f32). */
typedef struct { uint16_t *h[64]; int n; } f16s;
static void to_f16(void *ctx_, const char *name, int ndim, const int64_t *shape, vg_w *w) {
    f16s *c = ctx_;
    (void)name;
    if ((ndim != 2 && ndim != 5) || w->t != VG_DTYPE_F32 || c->n >= 64) return;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)n);
    const float *f = w->d;
    for (int64_t i = 0; i < n; i++) h[i] = vg_f32_to_f16(f[i]);
    w->d = h;
    w->t = VG_DTYPE_F16;
    c->h[c->n++] = h;
}

VG_TEST(wan_bf16_dit_forward_close_to_f32_and_thread_stable) {
    if (!vg_gemm_bf16_available()) { printf("  skip: no AVX512_BF16 on this CPU\n"); return; }
    vg_dit_config cfg;
    vg_dit_config_wan13b(&cfg);
    cfg.dim = 128; cfg.ffn_dim = 256; cfg.heads = 2; cfg.layers = 2; cfg.text_len = 16; cfg.text_dim = 64;
    vg_dit m;
    CHECK_OK(vg_dit_alloc_f32(&m, &cfg));
    vg_dit_init_random(&m, 5);
    /* the zero-initialised head would hide everything: give it random weights */
    vg_philox_fill_normal((float *)m.w.head_w.d, (int64_t)cfg.out_dim * 4 * cfg.dim, 9, 1);
    for (int64_t i = 0; i < (int64_t)cfg.out_dim * 4 * cfg.dim; i++) ((float *)m.w.head_w.d)[i] *= 0.05f;
    f16s fc = {{0}, 0};
    vg_dit_visit(&m.cfg, &m.w, to_f16, &fc);
    const int64_t F = 3, H = 8, W = 12, n = (int64_t)cfg.in_dim * F * H * W;
    float *x = vg_test_randn(n, 3, 1), *ctx = vg_test_randn(cfg.text_len * cfg.text_dim, 4, 1), t = 750.0f;
    float *o32 = malloc(sizeof(float) * n), *o1 = malloc(sizeof(float) * n), *o2 = malloc(sizeof(float) * n);
    vg_dit_acts *a = NULL;
    CHECK_OK(vg_dit_acts_new(&a, &cfg, 1, F, H, W, false));
    CHECK_OK(vg_dit_forward(&m, a, o32, x, &t, ctx, 1, F, H, W, -1, 0, NULL));
    bool was = vg_gemm_bf16(true);
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    vg_status s1 = vg_dit_forward(&m, a, o1, x, &t, ctx, 1, F, H, W, -1, 0, NULL);
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    vg_status s2 = vg_dit_forward(&m, a, o2, x, &t, ctx, 1, F, H, W, -1, 0, NULL);
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
    vg_gemm_bf16(was);
    int64_t bad32 = 0, bad1 = 0, bad2 = 0;
    for (int64_t i = 0; i < n; i++) { bad32 += !isfinite(o32[i]); bad1 += !isfinite(o1[i]); bad2 += !isfinite(o2[i]); }
    if (bad32 || bad1 || bad2) printf("  non-finite outputs: f32 %lld, bf16 1 thr %lld, 2 thr %lld of %lld\n", (long long)bad32, (long long)bad1, (long long)bad2, (long long)n);
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) { num += ((double)o1[i] - o32[i]) * ((double)o1[i] - o32[i]); den += (double)o32[i] * o32[i]; }
    double rel = sqrt(num / den);
    bool same = !memcmp(o1, o2, sizeof(float) * n);
    printf("  bf16 vs f32 mode, 2-block Wan-shaped DiT with f16 weights: relative L2 %.3g\n", rel);
    vg_dit_acts_free(a);
    for (int i = 0; i < fc.n; i++) free(fc.h[i]);
    vg_dit_free(&m);
    free(x); free(ctx); free(o32); free(o1); free(o2);
    CHECK(s1 == VG_OK && s2 == VG_OK);
    CHECKF(same, "bf16 mode: 1 and 2 threads differ");
    /* bf16 keeps 8 significant bits: ~2^-9 per rounding, a few roundings deep per block */
    CHECKF(rel > 1e-5 && rel < 3e-2, "relative L2 %.3g vs f32 mode: outside (1e-5, 3e-2)", rel);
}

/* `vidgen --bf16` on a tiny random Wan set (DiT dim 64: 2 heads of 32, so the bf16 attention runs
 * too): it runs, records "bf16": true, changes the frames a little (the f32 run is the default),
 * and gives the same frames at 1 and 2 threads. */
VG_TEST(wan_bf16_cli_flag) {
    if (!vg_gemm_bf16_available()) { printf("  skip: no AVX512_BF16 on this CPU\n"); return; }
    const char *b = getenv("VIDGEN_BIN") && *getenv("VIDGEN_BIN") ? getenv("VIDGEN_BIN") : "build/vidgen";
    const char *d = vg_test_tmpdir();
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/wan_bf16_set", d);
    vg_wan_random_opts o;
    vg_wan_random_opts_default(&o);
    o.dit.dim = 64; o.dit.ffn_dim = 96; o.dit.heads = 2; o.dit.layers = 2; o.dit.text_dim = 32;
    o.t5 = (vg_t5_config){.vocab = 64, .dim = 32, .dim_attn = 32, .ffn = 48, .heads = 4, .layers = 2, .buckets = 32,
                          .max_dist = 128, .shared_pos = false, .eps = 1e-6f};
    o.vae.dim = 8;
    o.seed = 7;
    CHECK_OK(vg_wan_write_random(dir, &o));
#define G "-p 'a red ball on the cat' --frames 5 -W 32 -H 16 --steps 2 --seed 3 -q"
    CHECK(vg_test_sh(NULL, "%s --model %s " G " -t 1 --out %s/f32", b, dir, d) == 0);
    CHECK(vg_test_sh(NULL, "%s --model %s " G " -t 1 --bf16 --out %s/bf1", b, dir, d) == 0);
    CHECK(vg_test_sh(NULL, "%s --model %s " G " -t 2 --bf16 --out %s/bf2", b, dir, d) == 0);
#undef G
    for (int f = 1; f <= 5; f++) CHECKF(vg_test_same_pixels(d, "bf1", "bf2", f), "--bf16 frame %d differs at 1 and 2 threads", f);
    char p[700], *txt = NULL;
    snprintf(p, sizeof(p), "%s/bf1/vidgen.json", d);
    CHECK_OK(vg_file_read(p, &txt, NULL));
    cJSON *js = cJSON_Parse(txt);
    bool rec = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(js, "bf16"));
    cJSON_Delete(js);
    free(txt);
    CHECKF(rec, "%s lacks \"bf16\":true", p);
    snprintf(p, sizeof(p), "%s/f32/vidgen.json", d);
    CHECK_OK(vg_file_read(p, &txt, NULL));
    js = cJSON_Parse(txt);
    bool none = js && !cJSON_GetObjectItemCaseSensitive(js, "bf16");
    cJSON_Delete(js);
    free(txt);
    CHECKF(none, "%s: the default run says bf16", p);
    /* a 2-block random DiT: the frames move by a few levels at most, and not all stay equal */
    int64_t diff = 0, maxd = 0;
    for (int f = 1; f <= 5; f++) {
        uint8_t *x, *y;
        int w, h, w2, h2;
        snprintf(p, sizeof(p), "%s/f32/frame_%04d.png", d, f);
        CHECK_OK(vg_png_read(p, &x, &w, &h));
        snprintf(p, sizeof(p), "%s/bf1/frame_%04d.png", d, f);
        CHECK_OK(vg_png_read(p, &y, &w2, &h2));
        for (int64_t i = 0; i < (int64_t)w * h * 3; i++) {
            int64_t e = x[i] > y[i] ? x[i] - y[i] : y[i] - x[i];
            diff += e != 0;
            if (e > maxd) maxd = e;
        }
        free(x); free(y);
    }
    printf("  --bf16 vs f32: %lld of %d pixel values differ, by at most %lld\n", (long long)diff, 5 * 32 * 16 * 3, (long long)maxd);
    CHECKF(diff > 0, "--bf16 frames equal the f32 ones: the flag changed nothing");
    CHECKF(maxd <= 16, "--bf16 moved a pixel value by %lld (> 16)", (long long)maxd);
}
