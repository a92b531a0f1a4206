/* test_module.c - `vidgen module KIND` on every official-code golden (shared/wan-goldens, WAN.md 5):
 * the binary reads the golden weights and inputs and its OUT file is compared with the golden
 * outputs. Tolerances: 1e-4 abs + 1e-4 rel for the DiT and the VAE (fp32, only the summation
 * order differs from PyTorch; measured max abs error ~2e-6 / 5e-6), 1e-5 abs + 1e-4 rel for T5
 * (as test_t5.c). out.hidden is compared on the real tokens only: vidgen does not compute the
 * padded rows (Wan throws them away) and writes them as 0, which is checked too. */
#include <stdlib.h>
#include "test.h"
#include "vidgen/safetensors.h"

static const char *bin(void) {
    const char *b = getenv("VIDGEN_BIN");
    return b && *b ? b : "build/vidgen";
}

static const float *f32(const vg_st_file *f, const char *name, int64_t n) {
    const vg_tensor *t = vg_st_get(f, name);
    return t && t->dtype == VG_DTYPE_F32 && vg_tensor_numel(t) == n ? t->data : NULL;
}

/* runs the module; opens OUT and the golden io file */
static bool run(const char *kind, const char *stem, vg_st_file **out, vg_st_file **gold) {
    char w[600], io[600], o[700], *log = NULL;
    snprintf(w, sizeof(w), "%s/wan-goldens/%s_weights.safetensors", vg_test_shared(), stem);
    snprintf(io, sizeof(io), "%s/wan-goldens/%s_io.safetensors", vg_test_shared(), stem);
    snprintf(o, sizeof(o), "%s/module_%s.safetensors", vg_test_tmpdir(), kind);
    int rc = vg_test_sh(&log, "%s module %s --weights %s --input %s --output %s -t 1", bin(), kind, w, io, o);
    if (rc != 0) { vg_test_failf(__FILE__, __LINE__, "module %s: rc %d: %s", kind, rc, log); free(log); return false; }
    free(log);
    if (vg_st_open(out, o) || vg_st_open(gold, io)) { vg_test_failf(__FILE__, __LINE__, "%s", vg_last_error()); return false; }
    return true;
}

VG_TEST(module_dit_golden) {
    vg_st_file *o = NULL, *g = NULL;
    if (!run("dit", "dit", &o, &g)) return;
    const int64_t n = 16 * 3 * 4 * 6;
    const float *y = f32(o, "out.y", n), *ref = f32(g, "out.y", n);
    CHECK(y && ref && vg_st_get(o, "out.y")->ndim == 4);
    CHECK_CLOSE("module dit out.y", y, ref, n, 1e-4, 1e-4);
    vg_st_close(o);
    vg_st_close(g);
}

VG_TEST(module_vae_decode_golden) {
    vg_st_file *o = NULL, *g = NULL;
    if (!run("vae-decode", "vae", &o, &g)) return;
    const int64_t n = 3 * 13 * 32 * 48;
    const float *raw = f32(o, "out.video_raw", n), *vid = f32(o, "out.video", n);
    CHECK(raw && vid);
    CHECK_CLOSE("module vae-decode out.video_raw", raw, f32(g, "out.video_raw", n), n, 1e-4, 1e-4);
    CHECK_CLOSE("module vae-decode out.video", vid, f32(g, "out.video", n), n, 1e-4, 1e-4);
    vg_st_close(o);
    vg_st_close(g);
}

VG_TEST(module_vae_encode_golden) {
    vg_st_file *o = NULL, *g = NULL;
    if (!run("vae-encode", "vae", &o, &g)) return;
    const int64_t n = 16 * 3 * 4 * 6;
    const float *mu = f32(o, "enc.out.mu", n);
    CHECK(mu);
    CHECK_CLOSE("module vae-encode enc.out.mu", mu, f32(g, "enc.out.mu", n), n, 1e-4, 1e-4);
    vg_st_close(o);
    vg_st_close(g);
}

VG_TEST(module_t5_golden) {
    vg_st_file *o = NULL, *g = NULL;
    if (!run("t5", "t5", &o, &g)) return;
    const float *ctx = f32(o, "out.context", 20 * 32), *hid = f32(o, "out.hidden", 512 * 32);
    CHECK(ctx && hid);
    CHECK_CLOSE("module t5 out.context", ctx, f32(g, "out.context", 20 * 32), 20 * 32, 1e-5, 1e-4);
    CHECK_CLOSE("module t5 out.hidden[:20]", hid, f32(g, "out.hidden", 512 * 32), 20 * 32, 1e-5, 1e-4);
    for (int64_t i = 20 * 32; i < 512 * 32; i++) CHECKF(hid[i] == 0.0f, "out.hidden[%lld] = %g (padded row)", (long long)i, hid[i]);
    vg_st_close(o);
    vg_st_close(g);
}

VG_TEST(module_usage_errors) {
    char *log = NULL;
    int rc = vg_test_sh(&log, "%s module bogus --weights a --input b --output c", bin());
    CHECKF(rc == 2 && strstr(log, "unknown module"), "rc %d: %s", rc, log);
    free(log);
    rc = vg_test_sh(&log, "%s module dit --weights a", bin());
    CHECKF(rc == 2 && strstr(log, "--input") && strstr(log, "--output"), "rc %d: %s", rc, log);
    free(log);
    /* the VAE weights given to the DiT module: a runtime error naming the file */
    rc = vg_test_sh(&log, "%s module dit --weights %s/wan-goldens/vae_weights.safetensors --input %s/wan-goldens/dit_io.safetensors "
                    "--output %s/x.safetensors", bin(), vg_test_shared(), vg_test_shared(), vg_test_tmpdir());
    CHECKF(rc == 1 && strstr(log, "vae_weights.safetensors") && strstr(log, "not a Wan DiT"), "rc %d: %s", rc, log);
    free(log);
}
