/* bench_wan.c - `vidgen_bench wan`: the Wan2.1-T2V-1.3B pipeline with random f16 weights of the
 * real shapes (Comfy layout) at 256x256, 17 frames: seconds per denoising step with CFG, VAE
 * decode seconds, text-encoder seconds and the peak RSS of the whole run, beside the
 * stable-diffusion.cpp figures of issue 6 (2 threads, fp16, same size). The run is the CLI
 * (`$VIDGEN_BIN`, default build/vidgen) in a child process, so the peak RSS is the whole run's.
 * Weights: written once to $VG_BENCH_WAN_DIR (default /tmp/vidgen-bench-wan) by
 * vg_wan_write_random and reused: DiT 2.84 GB, VAE 0.25 GB, umT5-XXL with
 * $VG_BENCH_WAN_T5_LAYERS layers (default 2 of 24: 2.9 GB instead of 11.4 GB). */
#include "bench.h"
#include "vidgen/io.h"
#include "vidgen/wan.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool exists(const char *dir, const char *name) {
    char p[1200];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &sb) == 0 && sb.st_size > 0;
}

/* One CLI run; fills the timings from OUT/vidgen.json. false (with a line printed) on failure. */
static bool run(const char *bin, const char *dir, const char *out, const char *extra, double *step_s, double *decode_s,
                double *text_s, double *rss_gib) {
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "%s --model %s -p 'a red ball rolls across the grass' --frames 17 -W 256 -H 256 --steps 2 -t 2 -q "
             "--overwrite --out %s %s > %s.log 2>&1", bin, dir, out, extra, out);
    int rc = system(cmd);
    if (rc != 0) { printf("wan: the run failed (exit %d); see %s.log\n", rc, out); return false; }
    char p[1200], *buf;
    size_t n;
    snprintf(p, sizeof(p), "%s/vidgen.json", out);
    if (vg_file_read(p, &buf, &n) != VG_OK) { printf("wan: %s\n", vg_last_error()); return false; }
    cJSON *j = cJSON_ParseWithLength(buf, n);
    free(buf);
    const cJSON *tm = cJSON_GetObjectItem(j, "timings");
    const cJSON *a = cJSON_GetObjectItem(tm, "step_s_mean"), *b = cJSON_GetObjectItem(tm, "decode_s"),
                *c = cJSON_GetObjectItem(tm, "text_s"), *r = cJSON_GetObjectItem(j, "peak_rss_bytes");
    bool ok = cJSON_IsNumber(a) && cJSON_IsNumber(b) && cJSON_IsNumber(c) && cJSON_IsNumber(r);
    if (ok) {
        *step_s = a->valuedouble;
        *decode_s = b->valuedouble;
        *text_s = c->valuedouble;
        *rss_gib = r->valuedouble / (1024.0 * 1024.0 * 1024.0);
    } else {
        printf("wan: %s lacks the timings\n", p);
    }
    cJSON_Delete(j);
    return ok;
}

void bench_wan(void) {
    const char *dir = getenv("VG_BENCH_WAN_DIR") ? getenv("VG_BENCH_WAN_DIR") : "/tmp/vidgen-bench-wan";
    const char *bin = getenv("VIDGEN_BIN") ? getenv("VIDGEN_BIN") : "build/vidgen";
    int layers = getenv("VG_BENCH_WAN_T5_LAYERS") ? atoi(getenv("VG_BENCH_WAN_T5_LAYERS")) : 2;
    if (!exists(dir, "wan2.1_t2v_1.3B_fp16.safetensors") || !exists(dir, "umt5_xxl_fp16.safetensors") ||
        !exists(dir, "wan_2.1_vae.safetensors")) {
        printf("wan: writing random weights with the real shapes to %s (once; about 6 GB)\n", dir);
        fflush(stdout);
        vg_wan_random_opts o;
        vg_wan_random_opts_default(&o);
        if (layers > 0 && layers < o.t5.layers) o.t5.layers = layers;
        double t0 = bench_now();
        if (vg_wan_write_random(dir, &o) != VG_OK) { printf("wan: %s\n", vg_last_error()); return; }
        printf("wan: written in %.0f s\n", bench_now() - t0);
    }
    bench_note_load("wan");
    char out[1200];
    snprintf(out, sizeof(out), "%s/out", dir);
    double step, dec, text, rss, step_w, dec_w, text_w, rss_w;
    if (!run(bin, dir, out, "", &step, &dec, &text, &rss)) return;
    bench_record("wan 1.3B 256x256x17: DiT step with CFG (2 thr)", step, "s", "stable-diffusion.cpp (issue 6)", 135.0);
    bench_record("wan 1.3B 256x256x17: VAE decode (2 thr)", dec, "s", "stable-diffusion.cpp (issue 6)", 270.0);
    bench_record("wan 1.3B 256x256x17: text encoder, prompt + negative (random umT5, see README)", text, "s", NULL, 0);
    bench_record("wan 1.3B 256x256x17: peak RSS of the whole run", rss, "GiB", "stable-diffusion.cpp, full umT5 (issue 6)", 17.2 / 1.073741824);
    /* issue 5: the temporal window as a speed option (local attention over +-1 latent frame) */
    if (!run(bin, dir, out, "--temporal-window 1", &step_w, &dec_w, &text_w, &rss_w)) return;
    bench_record("wan 1.3B 256x256x17: DiT step, --temporal-window 1 (2 thr)", step_w, "s", "full attention", step);
}
