/* bench_train.c - training speed of the default model (`./build/vidgen_bench train`): vidgen's
 * trainer in-process (vg_train_run, models/configs/default.train.json, a temp run folder) beside
 * the PyTorch yardstick tests/ref/torch_model.py (same model, batch, clip, threads; CPU fp32).
 * Steady state = median step time after warm-up steps. Also the achieved GFLOP/s (3 x forward
 * FLOPs per clip) against the GEMM peak measured in the same run, and the 2- vs 1-thread speedup.
 * Legend: B batch, F frames, H W pixels, N caption tokens. the README (Performance) explains each figure. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "bench.h"
#include "vidgen/dit.h"
#include "vidgen/gemm.h"
#include "vidgen/io.h"
#include "vidgen/rng.h"
#include "vidgen/t5.h"
#include "vidgen/train.h"

#define TRAIN_CONFIG "models/configs/default.train.json"
#define TORCH_SCRIPT "tests/ref/torch_model.py"
#define MAX_STEPS 64


static int env_int(const char *name, int def) {
    const char *s = getenv(name);
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    return (s && *s && !*end && v > 0 && v <= MAX_STEPS / 2) ? (int)v : def;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

/* ---------------------------------------------------------------- vidgen's trainer */

typedef struct { double step_s[MAX_STEPS]; int n; } step_log;

static void on_step(void *ctx, const vg_train_log *l) {
    step_log *s = ctx;
    if (s->n < MAX_STEPS) s->step_s[s->n++] = l->step_s;
}

/* Median step seconds of `meas` steps after `warm` steps of the default config; < 0 on failure. */
static double vidgen_step_s(const vg_train_config *base, int threads, int warm, int meas) {
    char dir[] = "/tmp/vidgen_bench_train_XXXXXX";
    if (!mkdtemp(dir)) { perror("bench train: mkdtemp"); return -1; }
    vg_train_config c = *base;
    snprintf(c.out, sizeof(c.out), "%s", dir);
    c.steps = warm + meas;
    c.ckpt_every = 100000000; /* only the final checkpoint, after the last timed step */
    c.log_every = 100000000;
    c.quiet = true;
    c.resume = false;
    bench_set_threads(threads);
    step_log sl = {.n = 0};
    vg_status st = vg_train_run(&c, NULL, on_step, &sl, NULL);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    if (st || sl.n < warm + meas) {
        fprintf(stderr, "bench train: vidgen trainer failed: %s\n", vg_last_error());
        return -1;
    }
    return median(sl.step_s + warm, meas);
}

/* ---------------------------------------------------------------- the PyTorch yardstick */

/* Runs the script; fills *step_s and *params from its JSON line. why: the reason when it fails. */
static int torch_step_s(int threads, int warm, int meas, double *step_s, double *params, char *why, size_t cap) {
    if (access("/usr/bin/python3", X_OK) != 0) { snprintf(why, cap, "/usr/bin/python3 not found"); return -1; }
    char cmd[512], line[4096], last[256] = "";
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s --config %s --steps %d --warmup %d --threads %d 2>&1",
             TORCH_SCRIPT, TRAIN_CONFIG, meas, warm, threads);
    FILE *p = popen(cmd, "r");
    if (!p) { snprintf(why, cap, "cannot run %.400s", cmd); return -1; }
    int ok = -1;
    while (fgets(line, sizeof(line), p)) {
        if (line[0] == '{') {
            cJSON *o = cJSON_Parse(line);
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "step_s"), *n = cJSON_GetObjectItemCaseSensitive(o, "params");
            if (cJSON_IsNumber(s) && cJSON_IsNumber(n) && s->valuedouble > 0) {
                *step_s = s->valuedouble; *params = n->valuedouble; ok = 0;
            }
            cJSON_Delete(o);
        } else {
            snprintf(last, sizeof(last), "%.200s", line);
        }
    }
    int rc = pclose(p);
    if (ok != 0 || rc != 0) {
        last[strcspn(last, "\n")] = 0;
        snprintf(why, cap, "%s exited with status %d (is python3-torch installed? `make bench-deps`): %s",
                 TORCH_SCRIPT, rc, last);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- FLOPs and the GEMM peak */

/* Forward FLOPs of the text encoder on n tokens (linear layers + attention). */
static double t5_flops(const vg_t5_config *c, double n) {
    double D = (double)c->dim, A = (double)c->dim_attn, F = (double)c->ffn;
    return c->layers * (2 * n * D * A * 4 + 2 * n * D * F * 3 + 4 * n * n * A);
}

typedef struct { float *a, *w, *c; int64_t M, N, K; } gemm_job;
static void gemm_run(void *p) {
    gemm_job *j = p;
    vg_matmul_nt(j->c, j->a, j->w, VG_DTYPE_F32, NULL, j->M, j->N, j->K, false);
}

/* GFLOP/s of vg_matmul_nt, f32 weights, 2048x512x512 (M tokens x N out x K in), best of 8; with
 * bf16 the operands are rounded to bf16 (vg_gemm_bf16), as the bf16 training step runs them. */
static double gemm_peak(int threads, bool bf16) {
    bool was = vg_gemm_bf16(bf16);
    gemm_job j = {NULL, NULL, NULL, 2048, 512, 512};
    j.a = malloc(sizeof(float) * (size_t)(j.M * j.K));
    j.w = malloc(sizeof(float) * (size_t)(j.N * j.K));
    j.c = malloc(sizeof(float) * (size_t)(j.M * j.N));
    double g = -1;
    if (j.a && j.w && j.c) {
        vg_philox_fill_normal(j.a, j.M * j.K, 1, 0);
        vg_philox_fill_normal(j.w, j.N * j.K, 2, 0);
        bench_set_threads(threads);
        gemm_run(&j);
        g = 2.0 * j.M * j.N * j.K / bench_time(gemm_run, &j, 8) * 1e-9;
    }
    free(j.a); free(j.w); free(j.c);
    vg_gemm_bf16(was);
    return g;
}

/* ---------------------------------------------------------------- the section */

void bench_train(void) {
    bench_note_load("train");
    const int threads = 2;
    const int warm = env_int("VG_BENCH_TRAIN_WARMUP", 2), meas = env_int("VG_BENCH_TRAIN_STEPS", 4);
    char *json = NULL;
    size_t len = 0;
    vg_train_config cfg;
    if (vg_file_read(TRAIN_CONFIG, &json, &len) || vg_train_config_parse(&cfg, json, TRAIN_CONFIG)) {
        fprintf(stderr, "bench train: %s\n", vg_last_error());
        free(json);
        return;
    }
    free(json);
    cfg.image_frac = 0; /* every step trains the clip with the model's window, as the yardstick does */
    vg_dit_config dc = {0};
    vg_t5_config tc = {0};
    cJSON *mj = cJSON_Parse(cfg.model_json);
    const cJSON *dj = cJSON_GetObjectItemCaseSensitive(mj, "dit"), *tj = cJSON_GetObjectItemCaseSensitive(mj, "text_encoder");
    char *ds = dj ? cJSON_PrintUnformatted(dj) : NULL, *ts = tj ? cJSON_PrintUnformatted(tj) : NULL;
    bool cfg_ok = ds && ts && !vg_dit_config_from_json(&dc, ds, TRAIN_CONFIG) && !vg_t5_config_from_json(&tc, ts);
    free(ds); free(ts); cJSON_Delete(mj);
    if (!cfg_ok) { fprintf(stderr, "bench train: %s: model config: %s\n", TRAIN_CONFIG, vg_last_error()); goto out; }
    const int B = cfg.batch;
    printf("default model: %lld params (DiT %lld + text %lld), batch %d, %d frames %dx%d, window %d; "
           "%d (vidgen) / 1 (PyTorch) warm-up + %d timed steps (median)\n",
           (long long)(vg_dit_param_count(&dc) + vg_t5_param_count(&tc)), (long long)vg_dit_param_count(&dc),
           (long long)vg_t5_param_count(&tc), B, cfg.frames, cfg.size, cfg.size, dc.window, warm, meas);

    /* f32 products first, then the default (bf16 products where the CPU has AVX512_BF16) */
    const bool bf16 = cfg.bf16 && vg_gemm_bf16_available();
    vg_train_config c32 = cfg;
    c32.bf16 = false;
    double ours32 = bf16 ? vidgen_step_s(&c32, threads, warm, meas) : 0;
    double ours = vidgen_step_s(&cfg, threads, warm, meas);
    if (ours <= 0) goto out;
    printf("  products: %s\n", bf16 ? "bf16 (vdpbf16ps, f32 sums; config \"bf16\": true) and f32 side by side"
                                     : "f32 (no AVX512_BF16 on this CPU, or config \"bf16\": false)");
    double theirs = 0, tparams = 0;
    char why[512] = "";
    int have_torch = torch_step_s(threads, 1, meas, &theirs, &tparams, why, sizeof(why)) == 0;
    if (have_torch) {
        bench_record("train clips/s, default model (2 thr)", B / ours, "clips/s", "PyTorch 1.13 same model", B / theirs);
        printf("  (PyTorch model: %.0f params)\n", tparams);
    } else {
        printf("  no PyTorch yardstick: %s\n", why);
        bench_record("train clips/s, default model (2 thr)", B / ours, "clips/s", NULL, 0);
    }

    /* FLOPs per clip: forward + backward = 3 x forward; shape-world captions are 10 to 13 tokens */
    double fl = 3.0 * (vg_dit_flops(&dc, cfg.frames, cfg.size, cfg.size, dc.window) + t5_flops(&tc, 11.5));
    double gf = fl * B / ours * 1e-9, peak = gemm_peak(threads, bf16);
    printf("  FLOPs per training clip: %.3f GFLOP (3 x forward)\n", fl * 1e-9);
    if (bf16 && ours32 > 0) {
        double peak32 = gemm_peak(threads, false), gf32 = fl * B / ours32 * 1e-9;
        bench_record("train clips/s, f32 products (2 thr)", B / ours32, "clips/s", NULL, 0);
        bench_record("train clips/s, bf16 products (2 thr)", B / ours, "clips/s", "f32 products", B / ours32);
        bench_record("train step speedup, bf16 vs f32 (2 thr)", ours32 / ours, "x", "target", 1.7);
        bench_record("GEMM peak vg_matmul_nt 2048x512x512 f32 (2 thr)", peak32, "GFLOP/s", NULL, 0);
        bench_record("GEMM peak vg_matmul_nt 2048x512x512 bf16 (2 thr)", peak, "GFLOP/s", "f32", peak32);
        if (peak32 > 0) bench_record("train f32 step as % of the f32 GEMM peak", 100.0 * gf32 / peak32, "%", NULL, 0);
        if (peak > 0) bench_record("train bf16 step as % of the bf16 GEMM peak", 100.0 * gf / peak, "%", "target", 55);
    } else {
        bench_record("GEMM peak vg_matmul_nt 2048x512x512 f32 (2 thr)", peak, "GFLOP/s", NULL, 0);
    }
    if (have_torch)
        bench_record("train GFLOP/s, default model (2 thr)", gf, "GFLOP/s", "PyTorch 1.13 same model", fl * B / theirs * 1e-9);
    else
        bench_record("train GFLOP/s, default model (2 thr)", gf, "GFLOP/s", NULL, 0);
    if (peak > 0 && !bf16) bench_record("train GFLOP/s as % of the GEMM peak", 100.0 * gf / peak, "%", NULL, 0);

    double one = vidgen_step_s(&cfg, 1, 1, meas > 3 ? 3 : meas);
    if (one > 0) {
        /* 1 thread: the steadiest comparison on a shared machine (no thread waits for a busy core) */
        double theirs1 = 0;
        if (have_torch && torch_step_s(1, 1, meas > 3 ? 3 : meas, &theirs1, &tparams, why, sizeof(why)) == 0)
            bench_record("train clips/s, default model (1 thr)", B / one, "clips/s", "PyTorch 1.13 same model", B / theirs1);
        else
            bench_record("train clips/s, default model (1 thr)", B / one, "clips/s", NULL, 0);
        bench_record("train step speedup, 2 thr vs 1 thr", one / ours, "x", "target", 1.8);
    }
out:
    bench_set_threads(threads);
    vg_train_config_free(&cfg);
}
