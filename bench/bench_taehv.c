/* bench_taehv.c - `vidgen_bench taehv`: TAEHV decode against the Wan2.1 VAE decode, side by side,
 * random weights of the real sizes (taew2_1: latent 16, patch 1, F16; Wan VAE: vg_wan_vae_write_random,
 * F16), 2 threads:
 *   256x256x17 (latent 16x5x32x32): TAEHV sequential and parallel vs the Wan VAE (measured);
 *   832x480x81 (latent 16x21x60x104): TAEHV sequential, streaming the frames (each converted to
 *   8-bit as a writer would), with its peak memory (VmHWM reset through /proc/self/clear_refs just
 *   before the decode, minus the RSS then); the Wan VAE there is estimated from its 256x256x17 time
 *   scaled by pixels x frames (29.0x), as a full run takes ~15 min on this machine.
 * Weight files are written once under $VIDGEN_BENCH_DIR (default build/bench-taehv) and reused.
 * Size knob: VIDGEN_BENCH_TAEHV=small measures the side-by-side at 128x128x9 (latent 16x3x16x16) only and
 * skips 832x480x81 (about 1/6 of the time; the full section takes ~5-11 min on the 2-core machine). */
#include "bench.h"
#include "vidgen/taehv.h"
#include "vidgen/wan_vae.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>

static double status_mib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double v = -1;
    if (!f) return -1;
    size_t k = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, k) && line[k] == ':') { v = atof(line + k + 1) / 1024.0; break; }
    fclose(f);
    return v;
}

static bool reset_hwm(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static bool exists(const char *p) {
    struct stat s;
    return stat(p, &s) == 0;
}

typedef struct { unsigned char *u8; int64_t frames; double sum; } sink;

static vg_status to_u8(void *user, int64_t t, const float *rgb, int64_t H, int64_t W) {
    sink *s = user;
    (void)t;
    for (int64_t i = 0; i < 3 * H * W; i++) s->u8[i] = (unsigned char)(rgb[i] * 255.0f + 0.5f);
    s->sum += s->u8[(H / 2) * W + W / 2];
    s->frames++;
    return VG_OK;
}

void bench_taehv(void) {
    const char *dir = getenv("VIDGEN_BENCH_DIR");
    char tpath[512], vpath[512];
    if (!dir || !*dir) dir = "build/bench-taehv";
    mkdir(dir, 0755);
    snprintf(tpath, sizeof(tpath), "%s/taew2_1_random_f16.safetensors", dir);
    snprintf(vpath, sizeof(vpath), "%s/wan_vae_random_f16.safetensors", dir);
    if (!exists(tpath) && vg_taehv_write_random(tpath, 16, 1, VG_DTYPE_F16, 1, 1.4f)) { printf("taehv: %s\n", vg_last_error()); return; }
    if (!exists(vpath) && vg_wan_vae_write_random(vpath, NULL, VG_DTYPE_F16, 1)) { printf("taehv: %s\n", vg_last_error()); return; }
    bench_note_load("taehv");
    bench_set_threads(2);
    vg_taehv *m = NULL;
    vg_wan_vae *v = NULL;
    if (vg_taehv_open(&m, tpath) || vg_wan_vae_open(&v, vpath, NULL)) { printf("taehv: %s\n", vg_last_error()); vg_taehv_free(m); return; }
    printf("taehv: taew2_1-size random TAEHV, %lld parameters\n", (long long)vg_taehv_params(m));

    /* 256x256x17 (small: 128x128x9) */
    const char *size = getenv("VIDGEN_BENCH_TAEHV");
    const bool small = size && !strcmp(size, "small");
    if (small) printf("taehv: VIDGEN_BENCH_TAEHV=small: 128x128x9 only\n");
    int64_t T = small ? 3 : 5, h = small ? 16 : 32, w = small ? 16 : 32, F, H, W;
    char lab[160];
    vg_taehv_video_dims(m, T, h, w, &F, &H, &W);
    int64_t zn = 16 * T * h * w;
    float *z = malloc(sizeof(float) * (size_t)zn), *video = malloc(sizeof(float) * (size_t)(3 * F * H * W));
    for (int64_t i = 0; i < zn; i++) z[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    double best_seq = 1e30, best_par = 1e30;
    for (int r = 0; r < 2; r++) {
        double t0 = bench_now();
        if (vg_taehv_decode(m, video, z, T, h, w, false)) { printf("taehv: %s\n", vg_last_error()); goto out; }
        double t1 = bench_now();
        if (vg_taehv_decode(m, video, z, T, h, w, true)) { printf("taehv: %s\n", vg_last_error()); goto out; }
        double t2 = bench_now();
        if (t1 - t0 < best_seq) best_seq = t1 - t0;
        if (t2 - t1 < best_par) best_par = t2 - t1;
    }
    double t0 = bench_now();
    if (vg_wan_vae_decode(v, video, z, T, h, w)) { printf("taehv: wan vae: %s\n", vg_last_error()); goto out; }
    double wan = bench_now() - t0;
    snprintf(lab, sizeof(lab), "taehv decode 16x%lldx%lldx%lld -> %lldx%lldx%lld, sequential (2 thr)", (long long)T, (long long)h, (long long)w,
             (long long)F, (long long)W, (long long)H);
    bench_record(lab, best_seq, "s", "wan vae decode (same run)", wan);
    snprintf(lab, sizeof(lab), "taehv decode 16x%lldx%lldx%lld -> %lldx%lldx%lld, parallel (2 thr)", (long long)T, (long long)h, (long long)w,
             (long long)F, (long long)W, (long long)H);
    bench_record(lab, best_par, "s", "wan vae decode (same run)", wan);
    double best = best_seq < best_par ? best_seq : best_par;
    snprintf(lab, sizeof(lab), "taehv speed-up over the wan vae at %lldx%lldx%lld", (long long)W, (long long)H, (long long)F);
    bench_record(lab, wan / best, "x", "issue 16 target", 15.0);
    if (small) goto out;

    /* 832x480x81, sequential, streaming */
    T = 21; h = 60; w = 104;
    vg_taehv_video_dims(m, T, h, w, &F, &H, &W);
    zn = 16 * T * h * w;
    free(z);
    z = malloc(sizeof(float) * (size_t)zn);
    for (int64_t i = 0; i < zn; i++) z[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    sink s = {malloc((size_t)(3 * H * W)), 0, 0};
    double rss0 = status_mib("VmRSS");
    bool hwm = reset_hwm();
    t0 = bench_now();
    vg_status st = vg_taehv_decode_stream(m, z, T, h, w, to_u8, &s);
    double big = bench_now() - t0, peak = status_mib("VmHWM");
    free(s.u8);
    if (st || s.frames != F) { printf("taehv: 832x480x81: %s (%lld frames)\n", vg_last_error(), (long long)s.frames); goto out; }
    bench_record("taehv decode 16x21x60x104 -> 81x832x480, sequential (2 thr)", big, "s", "wan vae ESTIMATE, not run (256x256x17 time x 29.0)",
                 wan * (double)(F * H * W) / (17.0 * 256 * 256));
    bench_record("taehv speed-up over the wan vae ESTIMATE at 832x480x81", wan * (double)(F * H * W) / (17.0 * 256 * 256) / big, "x", "issue 16 target", 15.0);
    if (hwm && peak > 0 && rss0 > 0)
        bench_record("taehv decode 832x480x81 sequential: peak RSS growth", peak - rss0, "MiB", "issue 16 bound", 1024.0);
    bench_record("taehv decode 832x480x81 sequential: estimate (vg_taehv_decode_bytes)", vg_taehv_decode_bytes(m, T, h, w, false) / 1048576.0,
                 "MiB", "issue 16 bound", 1024.0);
    bench_record("taehv decode 832x480x81: + a whole f32 output video (vg_taehv_decode)", 3.0 * F * H * W * 4 / 1048576.0, "MiB", NULL, 0);
out:
    free(z);
    free(video);
    vg_taehv_free(m);
    vg_wan_vae_free(v);
}
