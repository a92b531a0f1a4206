/* test_taehv.c - TAEHV against the goldens of the official taehv.py (shared/taehv-goldens,
 * LISTING.txt: taew2_1 layout, random F16 weights, f32 CPU PyTorch): decode of in.latent in both
 * schedules (out.frames, out.frames_sequential), encode of in.video (out.latent); parallel and
 * sequential bit-identical, 1 and 2 threads bit-identical; a TGrow weight with extra rows keeps the
 * last ones (patch_tgrow_layers); a taew2_2 (48 ch, patch 2) network; loader errors; the memory
 * estimate. Tolerance 1e-4 relative + 1e-5 absolute: only PyTorch's summation order differs
 * (K <= 4608-term sums over ~20 layers); the measured max errors are printed. */
#include "test.h"
#include "vidgen/gguf.h"
#include "vidgen/safetensors.h"
#include "vidgen/status.h"
#include "vidgen/taehv.h"
#include "vidgen/wan.h"
#include "vidgen/wan_vae.h"
#include "vidgen/io.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static char g_w[512], g_io[512];

static bool have_goldens(void) {
    snprintf(g_w, sizeof(g_w), "%s/taehv-goldens/taehv_weights.safetensors", vg_test_shared());
    snprintf(g_io, sizeof(g_io), "%s/taehv-goldens/taehv_io.safetensors", vg_test_shared());
    FILE *f = fopen(g_io, "rb"), *g = fopen(g_w, "rb");
    bool ok = f && g;
    if (f) fclose(f);
    if (g) fclose(g);
    if (!ok) printf("    skip: %s not found\n", g_io);
    return ok;
}

/* NTCHW [1, T, C, H, W] golden -> [C, T, H, W] */
static float *to_cthw(const vg_st_file *f, const char *name, int64_t T, int64_t C, int64_t HW) {
    const vg_tensor *t = vg_st_get(f, name);
    if (!t || t->dtype != VG_DTYPE_F32 || t->ndim != 5 || vg_tensor_numel(t) != T * C * HW) return NULL;
    const float *s = t->data;
    float *o = malloc(sizeof(float) * (size_t)(T * C * HW));
    for (int64_t a = 0; a < T; a++)
        for (int64_t c = 0; c < C; c++) memcpy(o + (c * T + a) * HW, s + (a * C + c) * HW, sizeof(float) * (size_t)HW);
    return o;
}

static void report(const char *what, const float *a, const float *b, int64_t n) {
    double ma = 0, mr = 0, se = 0, sr = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]), r = d / (fabs((double)b[i]) + 1e-6);
        if (d > ma) ma = d;
        if (fabs(b[i]) > 1e-2 && r > mr) mr = r;
        se += d * d;
        sr += (double)b[i] * b[i];
    }
    printf("    %s: max abs err %.3g, max rel err (|ref| > 1e-2) %.3g, ||err||/||ref|| %.3g\n", what, ma, mr, sqrt(se / (sr + 1e-30)));
}

#define ZN (16 * 3 * 8 * 8)
#define FN (3 * 9 * 64 * 64)
#define VN (3 * 8 * 64 * 64)
#define LN (16 * 2 * 8 * 8)

VG_TEST(taehv_decode_matches_golden) {
    if (!have_goldens()) return;
    vg_taehv *m = NULL;
    vg_st_file *io = NULL;
    CHECK_OK(vg_taehv_open(&m, g_w));
    CHECK_OK(vg_st_open(&io, g_io));
    const vg_taehv_info *in = vg_taehv_info_of(m);
    CHECK(in->latent_channels == 16 && in->patch == 1 && in->has_encoder && in->has_decoder);
    int64_t F, H, W;
    vg_taehv_video_dims(m, 3, 8, 8, &F, &H, &W);
    CHECK(F == 9 && H == 64 && W == 64);
    float *z = to_cthw(io, "in.latent", 3, 16, 64), *ref = to_cthw(io, "out.frames", 9, 3, 4096),
          *refs = to_cthw(io, "out.frames_sequential", 9, 3, 4096);
    CHECK(z && ref && refs);
    float *par = malloc(sizeof(float) * FN), *sq = malloc(sizeof(float) * FN);
    CHECK_OK(vg_taehv_decode(m, par, z, 3, 8, 8, true));
    CHECK_OK(vg_taehv_decode(m, sq, z, 3, 8, 8, false));
    report("decode parallel vs out.frames", par, ref, FN);
    report("decode sequential vs out.frames_sequential", sq, refs, FN);
    CHECK_CLOSE("decode parallel", par, ref, FN, 1e-5, 1e-4);
    CHECK_CLOSE("decode sequential", sq, refs, FN, 1e-5, 1e-4);
    CHECKF(!memcmp(par, sq, sizeof(float) * FN), "parallel and sequential decodes differ");
    /* the frames are not trivially clamped: a real spread of values */
    int mid = 0;
    for (int64_t i = 0; i < FN; i++) mid += par[i] > 0.05f && par[i] < 0.95f;
    CHECKF(mid > FN / 10, "only %d of %d values inside (0.05, 0.95)", mid, FN);
    free(z); free(ref); free(refs); free(par); free(sq);
    vg_st_close(io);
    vg_taehv_free(m);
}

VG_TEST(taehv_encode_matches_golden) {
    if (!have_goldens()) return;
    vg_taehv *m = NULL;
    vg_st_file *io = NULL;
    CHECK_OK(vg_taehv_open(&m, g_w));
    CHECK_OK(vg_st_open(&io, g_io));
    int64_t T, h, w;
    vg_taehv_latent_dims(m, 8, 64, 64, &T, &h, &w);
    CHECK(T == 2 && h == 8 && w == 8);
    float *v = to_cthw(io, "in.video", 8, 3, 4096), *ref = to_cthw(io, "out.latent", 2, 16, 64);
    CHECK(v && ref);
    float *par = malloc(sizeof(float) * LN), *sq = malloc(sizeof(float) * LN);
    CHECK_OK(vg_taehv_encode(m, par, v, 8, 64, 64, true));
    CHECK_OK(vg_taehv_encode(m, sq, v, 8, 64, 64, false));
    report("encode parallel vs out.latent", par, ref, LN);
    CHECK_CLOSE("encode parallel", par, ref, LN, 1e-5, 1e-4);
    CHECKF(!memcmp(par, sq, sizeof(float) * LN), "parallel and sequential encodes differ");
    /* 7 frames: padded with the last frame to 8, so the same latents as 8 frames whose last
     * frame repeats frame 6 */
    float *v7 = malloc(sizeof(float) * VN);
    memcpy(v7, v, sizeof(float) * VN);
    for (int c = 0; c < 3; c++) memcpy(v7 + (c * 8 + 7) * 4096, v7 + (c * 8 + 6) * 4096, sizeof(float) * 4096);
    float *a7 = malloc(sizeof(float) * LN), *b7 = malloc(sizeof(float) * LN), *v7c = malloc(sizeof(float) * 3 * 7 * 4096);
    for (int c = 0; c < 3; c++) memcpy(v7c + c * 7 * 4096, v + c * 8 * 4096, sizeof(float) * 7 * 4096);
    CHECK_OK(vg_taehv_encode(m, a7, v7c, 7, 64, 64, true));
    CHECK_OK(vg_taehv_encode(m, b7, v7, 8, 64, 64, true));
    CHECKF(!memcmp(a7, b7, sizeof(float) * LN), "7-frame encode is not the padded 8-frame encode");
    free(v); free(ref); free(par); free(sq); free(v7); free(a7); free(b7); free(v7c);
    vg_st_close(io);
    vg_taehv_free(m);
}

VG_TEST(taehv_threads_bit_identical) {
#ifdef _OPENMP
    if (!have_goldens()) return;
    vg_taehv *m = NULL;
    vg_st_file *io = NULL;
    CHECK_OK(vg_taehv_open(&m, g_w));
    CHECK_OK(vg_st_open(&io, g_io));
    float *z = to_cthw(io, "in.latent", 3, 16, 64);
    CHECK(z);
    float *a = malloc(sizeof(float) * FN), *b = malloc(sizeof(float) * FN);
    int old = omp_get_max_threads();
    omp_set_num_threads(1);
    vg_status s1 = vg_taehv_decode(m, a, z, 3, 8, 8, true);
    omp_set_num_threads(2);
    vg_status s2 = vg_taehv_decode(m, b, z, 3, 8, 8, true);
    omp_set_num_threads(old);
    CHECK(s1 == VG_OK && s2 == VG_OK);
    CHECKF(!memcmp(a, b, sizeof(float) * FN), "1 and 2 threads differ");
    free(z); free(a); free(b);
    vg_st_close(io);
    vg_taehv_free(m);
#else
    printf("    skip: no OpenMP\n");
#endif
}

/* copy of the golden weights with one tensor replaced (rows x cols f32 data) or dropped (data NULL,
 * rows 0), or one extra tensor added (extra) */
static bool rewrite(const char *dst, const char *name, int nd, const int64_t *sh, const float *data, const char *extra) {
    vg_st_file *f = NULL;
    if (vg_st_open(&f, g_w)) return false;
    vg_st_writer *w = vg_st_writer_new();
    bool ok = w != NULL;
    for (int64_t i = 0; ok && i < vg_st_count(f); i++) {
        const char *n = vg_st_name(f, i);
        const vg_tensor *t = vg_st_at(f, i);
        if (name && !strcmp(n, name)) {
            if (data) ok = vg_st_writer_add_f32(w, n, VG_DTYPE_F32, nd, sh, data) == VG_OK;
            continue;
        }
        ok = vg_st_writer_add(w, n, t->dtype, t->ndim, t->shape, t->data) == VG_OK;
    }
    if (ok && extra) {
        int64_t one = 1;
        float z = 0;
        ok = vg_st_writer_add_f32(w, extra, VG_DTYPE_F32, 1, &one, &z) == VG_OK;
    }
    ok = ok && vg_st_writer_save(w, dst) == VG_OK;
    vg_st_writer_free(w);
    vg_st_close(f);
    return ok;
}

VG_TEST(taehv_tgrow_extra_rows_keep_last) {
    if (!have_goldens()) return;
    vg_st_file *f = NULL, *io = NULL;
    CHECK_OK(vg_st_open(&f, g_w));
    const vg_tensor *t = vg_st_get(f, "decoder.7.conv.weight");
    CHECK(t && t->shape[0] == 256 && t->shape[1] == 256);
    /* [512, 256, 1, 1]: rows 0..255 garbage, rows 256..511 the real weight */
    float *big = malloc(sizeof(float) * 512 * 256);
    for (int i = 0; i < 256 * 256; i++) big[i] = (float)((i * 7919) % 13) - 6.0f;
    vg_to_f32(big + 256 * 256, t->data, t->dtype, 256 * 256);
    char p[600];
    snprintf(p, sizeof(p), "%s/taehv_tgrow512.safetensors", vg_test_tmpdir());
    int64_t sh[4] = {512, 256, 1, 1};
    CHECK(rewrite(p, "decoder.7.conv.weight", 4, sh, big, NULL));
    vg_st_close(f);
    free(big);
    vg_taehv *m = NULL, *m0 = NULL;
    CHECK_OK(vg_taehv_open(&m, p));
    CHECK_OK(vg_taehv_open(&m0, g_w));
    CHECK_OK(vg_st_open(&io, g_io));
    float *z = to_cthw(io, "in.latent", 3, 16, 64), *a = malloc(sizeof(float) * FN), *b = malloc(sizeof(float) * FN);
    CHECK(z);
    CHECK_OK(vg_taehv_decode(m, a, z, 3, 8, 8, true));
    CHECK_OK(vg_taehv_decode(m0, b, z, 3, 8, 8, true));
    CHECKF(!memcmp(a, b, sizeof(float) * FN), "a 512-row TGrow weight did not keep its last 256 rows");
    free(z); free(a); free(b);
    vg_st_close(io);
    vg_taehv_free(m);
    vg_taehv_free(m0);
}

VG_TEST(taehv_loader_errors_name_file_and_tensor) {
    if (!have_goldens()) return;
    char p[600];
    vg_taehv *m = NULL;
    snprintf(p, sizeof(p), "%s/taehv_bad.safetensors", vg_test_tmpdir());
    /* wrong shape */
    int64_t sh[4] = {128, 128, 3, 3};
    float *d = calloc(128 * 128 * 9, sizeof(float));
    bool ok = rewrite(p, "decoder.9.conv.0.weight", 4, sh, d, NULL);
    free(d);
    CHECK(ok);
    vg_status st = vg_taehv_open(&m, p);
    CHECKF(st == VG_ERR_SHAPE && strstr(vg_last_error(), "taehv_bad.safetensors") && strstr(vg_last_error(), "'decoder.9.conv.0.weight'") &&
               strstr(vg_last_error(), "shape [128,128,3,3], expected [128,256,3,3]"),
           "wrong shape: %d %s", (int)st, vg_last_error());
    /* missing */
    CHECK(rewrite(p, "encoder.12.conv.weight", 0, NULL, NULL, NULL));
    st = vg_taehv_open(&m, p);
    CHECKF(st == VG_ERR_FORMAT && strstr(vg_last_error(), "missing tensor 'encoder.12.conv.weight'"), "missing: %d %s", (int)st, vg_last_error());
    /* unknown */
    CHECK(rewrite(p, NULL, 0, NULL, NULL, "decoder.23.weight"));
    st = vg_taehv_open(&m, p);
    CHECKF(st == VG_ERR_FORMAT && strstr(vg_last_error(), "unexpected tensor 'decoder.23.weight'"), "unknown: %d %s", (int)st, vg_last_error());
    /* not a TAEHV: a Wan VAE state dict */
    snprintf(p, sizeof(p), "%s/taehv_wanvae.safetensors", vg_test_tmpdir());
    vg_wan_vae_config vc;
    vg_wan_vae_config_default(&vc);
    vc.dim = 8;
    CHECK_OK(vg_wan_vae_write_random(p, &vc, VG_DTYPE_F16, 1));
    st = vg_taehv_open(&m, p);
    CHECKF(st == VG_ERR_FORMAT && strstr(vg_last_error(), "not a TAEHV"), "wan vae: %d %s", (int)st, vg_last_error());
    CHECK(m == NULL);
}

static vg_status count_frames(void *user, int64_t t, const float *rgb, int64_t H, int64_t W) {
    int64_t *n = user;
    (void)rgb; (void)H; (void)W;
    if (t != *n) return vg_fail(VG_ERR_ARG, "frame %lld out of order", (long long)t);
    (*n)++;
    return VG_OK;
}

VG_TEST(taehv_w2_2_patch2_random) {
    char p[600];
    snprintf(p, sizeof(p), "%s/taew2_2_random.safetensors", vg_test_tmpdir());
    CHECK_OK(vg_taehv_write_random(p, 48, 2, VG_DTYPE_F16, 5, 1.4f));
    vg_taehv *m = NULL;
    CHECK_OK(vg_taehv_open(&m, p));
    const vg_taehv_info *in = vg_taehv_info_of(m);
    CHECK(in->latent_channels == 48 && in->patch == 2 && in->space_scale == 16);
    int64_t F, H, W, T = 2, h = 2, w = 3;
    vg_taehv_video_dims(m, T, h, w, &F, &H, &W);
    CHECK(F == 5 && H == 32 && W == 48);
    int64_t zn = 48 * T * h * w, fn = 3 * F * H * W;
    float *z = malloc(sizeof(float) * (size_t)zn), *a = malloc(sizeof(float) * (size_t)fn), *b = malloc(sizeof(float) * (size_t)fn);
    for (int64_t i = 0; i < zn; i++) z[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
    CHECK_OK(vg_taehv_decode(m, a, z, T, h, w, true));
    CHECK_OK(vg_taehv_decode(m, b, z, T, h, w, false));
    CHECKF(!memcmp(a, b, sizeof(float) * (size_t)fn), "taew2_2 parallel and sequential differ");
    int64_t got = 0;
    CHECK_OK(vg_taehv_decode_stream(m, z, T, h, w, count_frames, &got));
    CHECK(got == F);
    /* encode back: 5 frames -> 2 latents of 48 x 2 x 3 */
    float *z2 = malloc(sizeof(float) * (size_t)zn), *z3 = malloc(sizeof(float) * (size_t)zn);
    CHECK_OK(vg_taehv_encode(m, z2, a, F, H, W, true));
    CHECK_OK(vg_taehv_encode(m, z3, a, F, H, W, false));
    CHECKF(!memcmp(z2, z3, sizeof(float) * (size_t)zn), "taew2_2 encodes differ");
    CHECK(vg_taehv_encode(m, z2, a, F, H + 8, W, true) == VG_ERR_ARG);
    free(z); free(a); free(b); free(z2); free(z3);
    vg_taehv_free(m);
}

VG_TEST(taehv_memory_estimate) {
    char p[600];
    snprintf(p, sizeof(p), "%s/taew2_1_random.safetensors", vg_test_tmpdir());
    CHECK_OK(vg_taehv_write_random(p, 16, 1, VG_DTYPE_F16, 3, 1.4f));
    vg_taehv *m = NULL;
    CHECK_OK(vg_taehv_open(&m, p));
    size_t s5 = vg_taehv_decode_bytes(m, 5, 60, 104, false), s21 = vg_taehv_decode_bytes(m, 21, 60, 104, false);
    size_t p5 = vg_taehv_decode_bytes(m, 5, 60, 104, true), p21 = vg_taehv_decode_bytes(m, 21, 60, 104, true);
    printf("    decode 832x480: sequential %.0f MiB (any length), parallel 17 frames %.0f MiB, 81 frames %.0f MiB\n",
           s21 / 1048576.0, p5 / 1048576.0, p21 / 1048576.0);
    CHECK(s5 == s21 && s21 > 0);
    CHECK(p21 > 3 * p5 && p5 > s5);
    CHECK(s21 < (size_t)1 << 30);
    CHECK(vg_taehv_decode_bytes(m, 0, 60, 104, false) == 0);
    vg_taehv_free(m);
}

static const char *bin(void) {
    const char *b = getenv("VIDGEN_BIN");
    return b && *b ? b : "build/vidgen";
}

/* `vidgen module tae-decode|tae-encode` on the goldens: the OUT tensors (NTCHW, as taehv.py)
 * against the golden outputs, and a bad input named in the error */
VG_TEST(taehv_module_cli_goldens) {
    if (!have_goldens()) return;
    char o[600], *log = NULL;
    const char *kinds[3] = {"tae-decode", "tae-decode --sequential", "tae-encode"};
    const char *outs[3] = {"out.frames", "out.frames", "out.latent"}, *refs[3] = {"out.frames", "out.frames_sequential", "out.latent"};
    const int64_t ns[3] = {FN, FN, LN};
    for (int k = 0; k < 3; k++) {
        snprintf(o, sizeof(o), "%s/taehv_module_%d.safetensors", vg_test_tmpdir(), k);
        int rc = vg_test_sh(&log, "%s module %s --weights %s --input %s --output %s -t 2", bin(), kinds[k], g_w, g_io, o);
        CHECKF(rc == 0, "module %s: rc %d: %s", kinds[k], rc, log);
        free(log);
        vg_st_file *f = NULL, *g = NULL;
        CHECK_OK(vg_st_open(&f, o));
        CHECK_OK(vg_st_open(&g, g_io));
        const vg_tensor *a = vg_st_get(f, outs[k]), *b = vg_st_get(g, refs[k]);
        CHECKF(a && b && a->ndim == 5 && !memcmp(a->shape, b->shape, sizeof(int64_t) * 5), "%s: %s missing or mis-shaped", kinds[k], outs[k]);
        CHECK_CLOSE(kinds[k], a->data, b->data, ns[k], 1e-5, 1e-4);
        vg_st_close(f);
        vg_st_close(g);
    }
    /* the weights given as input: no in.latent */
    int rc = vg_test_sh(&log, "%s module tae-decode --weights %s --input %s --output %s", bin(), g_w, g_w, o);
    CHECKF(rc == 1 && strstr(log, "vidgen: error:") && strstr(log, "in.latent"), "rc %d: %s", rc, log);
    free(log);
}

/* `vidgen --tae`: the Wan pipeline on tiny random Wan files (no VAE file at all) decodes with a
 * random taew2_1-size TAEHV: 5 PNG frames of 32x16, the same at 1 and 2 threads, vidgen.json
 * names the TAEHV file, --dry-run prints the TAEHV memory, a taew2_2 (48-channel) file is refused
 * with that reason, and --tae alone takes the Wan path and asks for the Wan files. */
VG_TEST(taehv_wan_pipeline_tae_flag) {
    char d[600], t1[700], t2[700], *o = NULL;
    snprintf(d, sizeof(d), "%s/wan_tae", vg_test_tmpdir());
    vg_wan_random_opts w;
    vg_wan_random_opts_default(&w);
    w.dit.dim = 32; w.dit.ffn_dim = 64; w.dit.heads = 2; w.dit.layers = 2; w.dit.text_dim = 32;
    w.t5 = (vg_t5_config){.vocab = 64, .dim = 32, .dim_attn = 32, .ffn = 48, .heads = 4, .layers = 2, .buckets = 32,
                          .max_dist = 128, .shared_pos = false, .eps = 1e-6f};
    w.skip_vae = true;
    w.seed = 5;
    CHECK_OK(vg_wan_write_random(d, &w));
    snprintf(t1, sizeof(t1), "%s/taew2_1.safetensors", d);
    snprintf(t2, sizeof(t2), "%s/taew2_2.safetensors", d);
    CHECK_OK(vg_taehv_write_random(t1, 16, 1, VG_DTYPE_F16, 9, 1.4f));
    CHECK_OK(vg_taehv_write_random(t2, 48, 2, VG_DTYPE_F16, 9, 1.4f));
#define TAE_FILES "--diffusion-model %s/wan2.1_t2v_1.3B_fp16.safetensors --text-encoder %s/umt5_xxl_fp16.safetensors"
#define TAE_GEN "-p 'a red ball' --frames 5 -W 32 -H 16 --steps 2 --seed 3 -q"
    int rc = vg_test_sh(&o, "%s " TAE_FILES " --tae %s " TAE_GEN " -t 1 --out %s/o1", bin(), d, d, t1, d);
    CHECKF(rc == 0, "rc %d: %s", rc, o);
    free(o);
    rc = vg_test_sh(&o, "%s " TAE_FILES " --tae %s " TAE_GEN " -t 2 --out %s/o2", bin(), d, d, t1, d);
    CHECKF(rc == 0, "rc %d: %s", rc, o);
    free(o);
    int distinct = 0;
    for (int f = 1; f <= 5; f++) {
        char a[800], b[800];
        snprintf(a, sizeof(a), "%s/o1/frame_%04d.png", d, f);
        snprintf(b, sizeof(b), "%s/o2/frame_%04d.png", d, f);
        uint8_t *x = NULL, *y = NULL;
        int w1, h1, w2, h2;
        CHECK_OK(vg_png_read(a, &x, &w1, &h1));
        CHECK_OK(vg_png_read(b, &y, &w2, &h2));
        CHECKF(w1 == 32 && h1 == 16 && w2 == 32 && h2 == 16, "frame %d: %dx%d", f, w1, h1);
        CHECKF(!memcmp(x, y, 32 * 16 * 3), "frame %d differs between 1 and 2 threads", f);
        for (int i = 1; i < 32 * 16 * 3; i++) distinct += x[i] != x[0];
        free(x); free(y);
    }
    CHECKF(distinct > 100, "flat frames (%d values differ from the first)", distinct);
    char js[800], *txt = NULL;
    snprintf(js, sizeof(js), "%s/o1/vidgen.json", d);
    CHECK_OK(vg_file_read(js, &txt, NULL));
    CHECKF(strstr(txt, "\"tae\"") && strstr(txt, "taew2_1.safetensors"), "vidgen.json: %s", txt);
    free(txt);
    rc = vg_test_sh(&o, "%s " TAE_FILES " --tae %s " TAE_GEN " --dry-run 2>&1", bin(), d, d, t1);
    CHECKF(rc == 0 && strstr(o, "tae (decoder)") && strstr(o, "memory estimate"), "dry run: rc %d: %s", rc, o);
    free(o);
    rc = vg_test_sh(&o, "%s " TAE_FILES " --tae %s " TAE_GEN " --out %s/o3 2>&1", bin(), d, d, t2, d);
    CHECKF(rc == 1 && strstr(o, "taew2_2.safetensors") && strstr(o, "48 latent channels"), "taew2_2: rc %d: %s", rc, o);
    free(o);
    rc = vg_test_sh(&o, "%s -p 'a ball' --tae %s --out %s/o4 2>&1", bin(), t1, d);
    CHECKF(rc == 2 && strstr(o, "missing --diffusion-model"), "--tae alone: rc %d: %s", rc, o);
    free(o);
}

/* --preview N: after steps N, 2N, ... (not the last) OUT/preview_stepNN.png, a contact sheet of the
 * TAEHV-decoded x0 prediction x - sigma v. Checked exactly: with dmd the x0 after step 1 of the
 * schedule 1.0,0.5 is what a 1-step dmd run on 1.0 returns, so the sheet's tiles are those frames;
 * the final frames are the same with and without --preview; --preview without --tae is refused. */
VG_TEST(taehv_wan_preview_sheets) {
    char d[600], t1[700], p[800], *o = NULL;
    snprintf(d, sizeof(d), "%s/wan_preview", vg_test_tmpdir());
    vg_wan_random_opts w;
    vg_wan_random_opts_default(&w);
    w.dit.dim = 32; w.dit.ffn_dim = 64; w.dit.heads = 2; w.dit.layers = 2; w.dit.text_dim = 32;
    w.t5 = (vg_t5_config){.vocab = 64, .dim = 32, .dim_attn = 32, .ffn = 48, .heads = 4, .layers = 2, .buckets = 32,
                          .max_dist = 128, .shared_pos = false, .eps = 1e-6f};
    w.skip_vae = true;
    w.seed = 6;
    CHECK_OK(vg_wan_write_random(d, &w));
    snprintf(t1, sizeof(t1), "%s/taew2_1.safetensors", d);
    CHECK_OK(vg_taehv_write_random(t1, 16, 1, VG_DTYPE_F16, 9, 1.4f));
#define PV_GEN "-p 'a red ball' --frames 5 -W 32 -H 16 --sampler dmd --cfg-scale 1 --seed 4 -q"
    int rc = vg_test_sh(&o, "%s " TAE_FILES " --tae %s " PV_GEN " --sigmas 1.0,0.5 --preview 1 --out %s/pv", bin(), d, d, t1, d);
    CHECKF(rc == 0, "rc %d: %s", rc, o);
    free(o);
    rc = vg_test_sh(&o, "%s " TAE_FILES " --tae %s " PV_GEN " --sigmas 1.0,0.5 --out %s/nopv", bin(), d, d, t1, d);
    CHECKF(rc == 0, "rc %d: %s", rc, o);
    free(o);
    rc = vg_test_sh(&o, "%s " TAE_FILES " --tae %s " PV_GEN " --sigmas 1.0 --out %s/one", bin(), d, d, t1, d);
    CHECKF(rc == 0, "rc %d: %s", rc, o);
    free(o);
    snprintf(p, sizeof(p), "%s/pv/preview_step02.png", d);
    CHECKF(access(p, F_OK) != 0, "%s written: the last step is the clip itself", p);
    snprintf(p, sizeof(p), "%s/pv/preview_step01.png", d);
    uint8_t *sheet = NULL;
    int sw, sh;
    CHECK_OK(vg_png_read(p, &sheet, &sw, &sh));
    /* 5 frames of 32x16, 4 per row, gap 2: SW = 4*(32+2)+2, SH = 2*(16+2)+2 */
    CHECKF(sw == 138 && sh == 38, "preview sheet %dx%d, expected 138x38", sw, sh);
    int same_final = 0, tiles = 0;
    for (int f = 0; f < 5 && sheet; f++) {
        char a[800], b[800];
        uint8_t *x = NULL, *y = NULL, *z = NULL;
        int fw, fh;
        snprintf(a, sizeof(a), "%s/one/frame_%04d.png", d, f + 1);
        CHECK_OK(vg_png_read(a, &x, &fw, &fh));
        snprintf(a, sizeof(a), "%s/pv/frame_%04d.png", d, f + 1);
        snprintf(b, sizeof(b), "%s/nopv/frame_%04d.png", d, f + 1);
        CHECK_OK(vg_png_read(a, &y, &fw, &fh));
        CHECK_OK(vg_png_read(b, &z, &fw, &fh));
        if (x && y && z) {
            same_final += !memcmp(y, z, 32 * 16 * 3);
            int x0 = 2 + (f % 4) * 34, y0 = 2 + (f / 4) * 18, ok = 1;
            for (int r = 0; r < 16; r++) ok &= !memcmp(sheet + ((size_t)(y0 + r) * sw + x0) * 3, x + (size_t)r * 32 * 3, 32 * 3);
            tiles += ok;
        }
        free(x); free(y); free(z);
    }
    free(sheet);
    CHECKF(tiles == 5, "%d of 5 preview tiles equal the 1-step dmd frames (the x0 prediction after step 1)", tiles);
    CHECKF(same_final == 5, "%d of 5 final frames unchanged by --preview", same_final);
    rc = vg_test_sh(&o, "%s " TAE_FILES " " PV_GEN " --vae x --preview 1 --out %s/novae 2>&1", bin(), d, d, d);
    CHECKF(rc == 2 && strstr(o, "--preview needs --tae"), "--preview without --tae: rc %d: %s", rc, o);
    free(o);
}

/* The same TAEHV state dict as GGUF (tensors copied as stored, F16, torch-order shapes) loads to
 * the same model: decode bit-identical to the safetensors file's; a misshaped tensor in a GGUF file
 * is refused naming the file and the tensor. */
VG_TEST(taehv_gguf_equals_safetensors) {
    char st_path[600], gg_path[600], q_path[600];
    snprintf(st_path, sizeof(st_path), "%s/taew_g.safetensors", vg_test_tmpdir());
    snprintf(gg_path, sizeof(gg_path), "%s/taew_g.gguf", vg_test_tmpdir());
    snprintf(q_path, sizeof(q_path), "%s/taew_q.gguf", vg_test_tmpdir());
    CHECK_OK(vg_taehv_write_random(st_path, 16, 1, VG_DTYPE_F16, 11, 1.4f));
    vg_st_file *f = NULL;
    CHECK_OK(vg_st_open(&f, st_path));
    vg_gguf_writer *gw = vg_gguf_writer_new(), *qw = vg_gguf_writer_new();
    CHECK(gw && qw);
    int bad = 0;
    for (int64_t i = 0; f && gw && qw && i < vg_st_count(f); i++) {
        const char *nm = vg_st_name(f, i);
        const vg_tensor *t = vg_st_get(f, nm);
        CHECK_OK(vg_gguf_writer_add_data(gw, nm, t->dtype, t->ndim, t->shape, t->data));
        if (!strcmp(nm, "decoder.1.weight")) { /* the bad copy: this weight misshaped, [1] */
            CHECK_OK(vg_gguf_writer_add_data(qw, nm, VG_DTYPE_F32, 1, (int64_t[]){1}, (float[]){0.0f}));
            bad = 1;
        } else {
            CHECK_OK(vg_gguf_writer_add_data(qw, nm, t->dtype, t->ndim, t->shape, t->data));
        }
    }
    CHECK_OK(vg_gguf_writer_save(gw, gg_path));
    CHECK_OK(vg_gguf_writer_save(qw, q_path));
    vg_gguf_writer_free(gw);
    vg_gguf_writer_free(qw);
    vg_st_close(f);
    vg_taehv *a = NULL, *b = NULL;
    CHECK_OK(vg_taehv_open(&a, st_path));
    CHECK_OK(vg_taehv_open(&b, gg_path));
    if (a && b) {
        CHECK(vg_taehv_params(a) == vg_taehv_params(b));
        const int64_t T = 2, h = 4, w = 6;
        int64_t F, H, W;
        vg_taehv_video_dims(a, T, h, w, &F, &H, &W);
        float *z = malloc(sizeof(float) * 16 * T * h * w), *va = malloc(sizeof(float) * (size_t)(3 * F * H * W)),
              *vb = malloc(sizeof(float) * (size_t)(3 * F * H * W));
        for (int64_t i = 0; i < 16 * T * h * w; i++) z[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        CHECK_OK(vg_taehv_decode(a, va, z, T, h, w, false));
        CHECK_OK(vg_taehv_decode(b, vb, z, T, h, w, false));
        CHECKF(!memcmp(va, vb, sizeof(float) * (size_t)(3 * F * H * W)), "GGUF and safetensors TAEHV decode differently");
        int distinct = 0;
        for (int64_t i = 1; i < 3 * F * H * W; i++) distinct += va[i] != va[0];
        CHECKF(distinct > 100, "flat decode (%d values differ)", distinct);
        free(z); free(va); free(vb);
    }
    vg_taehv_free(a);
    vg_taehv_free(b);
    /* a misshaped tensor in the GGUF file is named with the file */
    vg_taehv *c = NULL;
    CHECK(bad && vg_taehv_open(&c, q_path) != VG_OK);
    CHECKF(strstr(vg_last_error(), "taew_q.gguf") && strstr(vg_last_error(), "decoder.1.weight"), "error: %s", vg_last_error());
    vg_taehv_free(c);
}
