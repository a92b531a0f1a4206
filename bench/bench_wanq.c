/* bench_wanq.c - `vidgen_bench wanq`: quantized weights on the Wan2.1-T2V-1.3B pipeline with
 * random weights of the real shapes at 256x256, 17 frames (issue 15 point 6), side by side in one
 * run: for f16, Q8_0 and Q4_K, the DiT step with CFG and the peak RSS of the whole run (text with
 * the FULL 24-layer umT5-XXL in that type, 2 denoising steps, VAE decode) from the CLI's
 * vidgen.json, and the relative L2 error of one DiT forward against the f16 DiT's (in process).
 * The GGUF copies are written once with `vidgen convert` (the users' path), beside the f16 files:
 * DiT f16 and VAE in $VG_BENCH_WAN_DIR (shared with `bench wan`), the full umT5 (11.4 GB f16,
 * 6.0 GB Q8_0, 3.3 GB Q4_K) in $VG_BENCH_WANQ_DIR (default /tmp/vidgen-bench-wanq).
 * $VG_BENCH_WANQ_TYPES (default "q8_0,q4_k") chooses the quantized types. $VG_BENCH_WANQ_ERR=1 adds
 * the error of one forward for every type vidgen writes (the f16 DiT quantized at load, as
 * --type does, which gives convert's bytes), ~15 minutes more; =only runs just that. Also the f16
 * DiT with --bf16 (its products in bf16). */
#include "bench.h"
#include "model/wan_internal.h"
#include "vidgen/dit.h"
#include "vidgen/rng.h"
#include <cjson/cJSON.h>
#include <math.h>

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && sb.st_size > 0;
}

static bool sh(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0) printf("wanq: failed (exit %d): %s\n", rc, cmd);
    return rc == 0;
}

/* one whole CLI run; step seconds with CFG and peak RSS (GiB) from its vidgen.json */
static bool run(const char *bin, const char *dit, const char *t5, const char *tok, const char *vae, const char *out, double *step,
                double *rss, double *text) {
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "%s --diffusion-model %s --text-encoder %s --tokenizer %s --vae %s -p 'a red ball rolls across the grass' --frames 17 "
             "-W 256 -H 256 --steps 2 -t 2 -q --overwrite --out %s > %s.log 2>&1", bin, dit, t5, tok, vae, out, out);
    if (!sh(cmd)) return false;
    char p[1200], *buf;
    size_t n;
    snprintf(p, sizeof(p), "%s/vidgen.json", out);
    if (vg_file_read(p, &buf, &n) != VG_OK) { printf("wanq: %s\n", vg_last_error()); return false; }
    cJSON *j = cJSON_ParseWithLength(buf, n);
    free(buf);
    const cJSON *tm = cJSON_GetObjectItem(j, "timings");
    const cJSON *a = cJSON_GetObjectItem(tm, "step_s_mean"), *r = cJSON_GetObjectItem(j, "peak_rss_bytes"),
                *t = cJSON_GetObjectItem(tm, "text_s");
    bool ok = cJSON_IsNumber(a) && cJSON_IsNumber(r) && cJSON_IsNumber(t);
    if (ok) { *step = a->valuedouble; *rss = r->valuedouble / (1024.0 * 1024.0 * 1024.0); *text = t->valuedouble; }
    else printf("wanq: %s lacks the timings\n", p);
    cJSON_Delete(j);
    return ok;
}

/* reads one byte per page of every tensor of f, so that the timed forward does not count the
 * first reads from disk (the CLI's step time has the same property: step 1 reads them) */
static unsigned touch(const vg_wan_files *f) {
    unsigned acc = 0;
    for (int s = 0; s < vg_wan_files_count(f); s++) {
        const vg_st_file *sh = vg_wan_files_shard(f, s);
        for (int64_t i = 0; i < vg_st_count(sh); i++) {
            const vg_tensor *t = vg_st_at(sh, i);
            int64_t rows = 1;
            for (int d = 0; d + 1 < t->ndim; d++) rows *= t->shape[d];
            int64_t rb = t->ndim ? vg_dtype_row_bytes(t->dtype, t->shape[t->ndim - 1]) : 0, nb = rb > 0 ? rb * rows : 0;
            for (int64_t b = 0; b < nb; b += 4096) acc += ((const volatile uint8_t *)t->data)[b];
        }
    }
    return acc;
}

/* one DiT forward of the file at path on fixed inputs (256x256x17: T 5, 32x32 latents) */
static bool forward_as(const char *path, int wtype, float *out, double *secs) {
    vg_wan_files *f = NULL;
    vg_dit m = {0};
    vg_dit_acts *acts = NULL;
    vg_dit_config c;
    vg_wan_names nm;
    char prefix[128];
    bool ok = false;
    const int64_t T = 5, h = 32, w = 32, n = 16 * T * h * w;
    float *x = malloc(sizeof(float) * n), *ctx = NULL;
    if (vg_wan_files_open(&f, path) || vg_wan_dit_detect(&c, &nm, prefix, sizeof(prefix), f) ||
        vg_wan_dit_load_as(&m, &c, f, nm, prefix, wtype) || vg_dit_acts_new(&acts, &c, 1, T, h, w, false)) {
        printf("wanq: %s: %s\n", path, vg_last_error());
        goto out;
    }
    ctx = calloc((size_t)(c.text_len * c.text_dim), sizeof(float));
    vg_rng r;
    vg_rng_seed(&r, 7);
    for (int64_t i = 0; i < n; i++) x[i] = vg_rng_normal(&r);
    for (int64_t i = 0; i < 24 * c.text_dim; i++) ctx[i] = 0.1f * vg_rng_normal(&r); /* 24 real text rows */
    float t = 937.0f;
    volatile unsigned sink = touch(f);
    (void)sink;
    double t0 = bench_now();
    if (vg_dit_forward(&m, acts, out, x, &t, ctx, 1, T, h, w, -1, 0, NULL)) { printf("wanq: %s\n", vg_last_error()); goto out; }
    *secs = bench_now() - t0;
    ok = true;
out:
    vg_dit_acts_free(acts);
    vg_dit_free(&m);
    vg_wan_files_close(f);
    free(x);
    free(ctx);
    return ok;
}

static bool forward(const char *path, float *out, double *secs) { return forward_as(path, -1, out, secs); }

void bench_wanq(void) {
    const char *wdir = getenv("VG_BENCH_WAN_DIR") ? getenv("VG_BENCH_WAN_DIR") : "/tmp/vidgen-bench-wan";
    const char *qdir = getenv("VG_BENCH_WANQ_DIR") ? getenv("VG_BENCH_WANQ_DIR") : "/tmp/vidgen-bench-wanq";
    const char *bin = getenv("VIDGEN_BIN") ? getenv("VIDGEN_BIN") : "build/vidgen";
    const char *types = getenv("VG_BENCH_WANQ_TYPES") ? getenv("VG_BENCH_WANQ_TYPES") : "q8_0,q4_k";
    char dit[1200], vae[1200], t5[1200], cmd[8192];
    snprintf(dit, sizeof(dit), "%s/wan2.1_t2v_1.3B_fp16.safetensors", wdir);
    snprintf(vae, sizeof(vae), "%s/wan_2.1_vae.safetensors", wdir);
    snprintf(t5, sizeof(t5), "%s/umt5_xxl_fp16.safetensors", qdir);
    double t0 = bench_now();
    if (!exists(dit) || !exists(vae)) {
        printf("wanq: writing the random DiT and VAE to %s (once; 3.1 GB)\n", wdir);
        fflush(stdout);
        vg_wan_random_opts o;
        vg_wan_random_opts_default(&o);
        o.skip_t5 = true;
        if (vg_wan_write_random(wdir, &o) != VG_OK) { printf("wanq: %s\n", vg_last_error()); return; }
    }
    if (!exists(t5)) {
        printf("wanq: writing the random full umT5-XXL to %s (once; 11.4 GB)\n", qdir);
        fflush(stdout);
        vg_wan_random_opts o;
        vg_wan_random_opts_default(&o);
        o.skip_dit = o.skip_vae = true;
        if (vg_wan_write_random(qdir, &o) != VG_OK) { printf("wanq: %s\n", vg_last_error()); return; }
    }
    printf("wanq: f16 files ready (%.0f s)\n", bench_now() - t0);
    bench_note_load("wanq");
    const int64_t n = 16 * 5 * 32 * 32;
    float *ref = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    double fwd16 = 0, step16 = 0, rss16 = 0, text16 = 0, fs;
    char out[1300];
    snprintf(out, sizeof(out), "%s/out_f16", qdir);
    const char *err = getenv("VG_BENCH_WANQ_ERR");
    bool err_only = err && !strcmp(err, "only");
    if (!forward(dit, ref, &fwd16)) goto done;
    if (err_only) goto errors;
    if (!run(bin, dit, t5, t5, vae, out, &step16, &rss16, &text16)) goto done;
    bench_record("wanq 1.3B 256x256x17 f16: one DiT forward (2 thr)", fwd16, "s", NULL, 0);
    bench_record("wanq 1.3B 256x256x17 f16: DiT step with CFG (2 thr)", step16, "s", NULL, 0);
    bench_record("wanq 1.3B 256x256x17 f16: peak RSS of the whole run, full umT5", rss16, "GiB", "issue 15: f16 before streaming", 9.1);
    bench_record("wanq 1.3B 256x256x17 f16: text encoder, prompt + negative, full umT5", text16, "s", NULL, 0);
    char list[256];
    snprintf(list, sizeof(list), "%s", types);
    for (char *sv, *ty = strtok_r(list, ",", &sv); ty; ty = strtok_r(NULL, ",", &sv)) {
        char qd[1300], qt[1300], nm[400];
        snprintf(qd, sizeof(qd), "%s/dit_%s.gguf", qdir, ty);
        snprintf(qt, sizeof(qt), "%s/umt5_%s.gguf", qdir, ty);
        if (!exists(qd) || !exists(qt)) {
            printf("wanq: vidgen convert to %s (once)\n", ty);
            fflush(stdout);
            double c0 = bench_now();
            snprintf(cmd, sizeof(cmd), "%s convert %s --out %s --type %s -t 2 > %s.log 2>&1 && %s convert %s --out %s --type %s -t 2 > %s.log 2>&1", bin,
                     dit, qd, ty, qd, bin, t5, qt, ty, qt);
            if (!sh(cmd)) continue;
            printf("wanq: converted in %.0f s\n", bench_now() - c0);
        }
        double step, rss, text, fwd;
        if (!forward(qd, y, &fwd)) continue;
        double e = 0, r = 0;
        for (int64_t i = 0; i < n; i++) { e += (double)(y[i] - ref[i]) * (y[i] - ref[i]); r += (double)ref[i] * ref[i]; }
        snprintf(nm, sizeof(nm), "wanq 1.3B 256x256x17 %s: one DiT forward, rel L2 vs f16", ty);
        bench_record(nm, sqrt(e / r), "", NULL, 0);
        snprintf(nm, sizeof(nm), "wanq 1.3B 256x256x17 %s: one DiT forward (2 thr)", ty);
        bench_record(nm, fwd, "s", "f16 (speed-up = ratio^-1)", fwd16);
        snprintf(out, sizeof(out), "%s/out_%s", qdir, ty);
        if (!run(bin, qd, qt, t5, vae, out, &step, &rss, &text)) continue;
        snprintf(nm, sizeof(nm), "wanq 1.3B 256x256x17 %s: DiT step with CFG (2 thr)", ty);
        bench_record(nm, step, "s", "f16 (speed-up = ratio^-1)", step16);
        snprintf(nm, sizeof(nm), "wanq 1.3B 256x256x17 %s DiT + %s umT5: peak RSS of the whole run", ty, ty);
        bench_record(nm, rss, "GiB", "f16", rss16);
        snprintf(nm, sizeof(nm), "wanq 1.3B 256x256x17 %s umT5: text encoder, prompt + negative", ty);
        bench_record(nm, text, "s", "f16", text16);
    }
    {   /* f16 weights on the bf16 products (--bf16), side by side */
        double step, rss, text;
        snprintf(out, sizeof(out), "%s/out_f16_bf16", qdir);
        snprintf(cmd, sizeof(cmd), "%s --bf16", dit);
        if (run(bin, cmd, t5, t5, vae, out, &step, &rss, &text))
            bench_record("wanq 1.3B 256x256x17 f16 --bf16: DiT step with CFG (2 thr)", step, "s", "f16 (speed-up = ratio^-1)", step16);
    }
errors:
    if (err && (err_only || atoi(err))) {
        static const vg_dtype all[] = {VG_DTYPE_BF16, VG_DTYPE_Q8_0, VG_DTYPE_Q6_K, VG_DTYPE_Q5_K, VG_DTYPE_Q5_1, VG_DTYPE_Q5_0,
                                       VG_DTYPE_Q4_K, VG_DTYPE_Q4_1, VG_DTYPE_Q4_0, VG_DTYPE_Q3_K, VG_DTYPE_Q2_K};
        for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
            double c0 = bench_now(), fwd;
            if (!forward_as(dit, all[k], y, &fwd)) continue;
            double e = 0, r = 0;
            for (int64_t i = 0; i < n; i++) { e += (double)(y[i] - ref[i]) * (y[i] - ref[i]); r += (double)ref[i] * ref[i]; }
            char nm[300];
            snprintf(nm, sizeof(nm), "wanq 1.3B 256x256x17 --type %s: one DiT forward, rel L2 vs f16", vg_dtype_name(all[k]));
            bench_record(nm, sqrt(e / r), "", NULL, 0);
            snprintf(nm, sizeof(nm), "wanq 1.3B 256x256x17 --type %s: load (quantize) + one forward (2 thr)", vg_dtype_name(all[k]));
            bench_record(nm, bench_now() - c0, "s", NULL, 0);
        }
    }
    (void)fs;
done:
    free(ref);
    free(y);
}
