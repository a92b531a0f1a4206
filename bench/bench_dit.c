/* bench_dit.c - generation speed (`./build/vidgen_bench dit`): a 30-frame clip of the default
 * model through vg_generate (the model's default size, steps, guidance, sampler, window): seconds,
 * peak RSS, the 2- vs 1-thread speedup, and seconds per frame at 16/32/64 frames (window 2) to
 * show that the temporal window makes the cost grow linearly with the clip length.
 * Model: models/default when present, else the default architecture
 * (models/configs/default.train.json) with random weights - the cost does not depend on the weights.
 * Legend: F frames, H W pixels. the README (Performance) explains each figure. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "bench.h"
#include "vidgen/generate.h"
#include "vidgen/io.h"

#define DEFAULT_MODEL "models/default"
#define DEFAULT_CONFIG "models/configs/default.train.json"


/* models/default, or the default architecture with random weights; *which names it. */
static vg_status open_model(vg_model *m, const char **which) {
    if (vg_model_open(m, DEFAULT_MODEL) == VG_OK) { *which = DEFAULT_MODEL; return VG_OK; }
    char *txt = NULL;
    vg_status st = vg_file_read(DEFAULT_CONFIG, &txt, NULL);
    if (st) return st;
    cJSON *o = cJSON_Parse(txt);
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(o, "model");
    char *mjs = cJSON_IsObject(mc) ? cJSON_PrintUnformatted(mc) : NULL;
    st = mjs ? vg_model_create(m, mjs, DEFAULT_CONFIG) : vg_fail(VG_ERR_FORMAT, "%s: no \"model\" object", DEFAULT_CONFIG);
    if (!st) {
        vg_dit_init_random(&m->dit, 1);
        vg_t5_params_init(m->t5_params, &m->tcfg, 2);
        *which = "default architecture, random weights";
    }
    free(mjs);
    cJSON_Delete(o);
    free(txt);
    return st;
}

/* Resets the process's peak RSS (Linux >= 4.0: "5" > /proc/self/clear_refs); false if refused. */
static bool reset_peak_rss(void) {
    malloc_trim(0); /* hand back what earlier sections freed, so it does not count */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Seconds of one vg_generate of F frames with `steps` steps at `threads` threads; < 0 on error. */
static double gen_seconds(const vg_model *m, const vg_gen_params *base, int F, int steps, int threads, uint8_t **buf) {
    vg_gen_params p = *base;
    p.frames = F;
    p.steps = steps;
    uint8_t *out = realloc(*buf, (size_t)F * p.width * p.height * 3);
    if (!out) { fprintf(stderr, "bench dit: out of memory\n"); return -1; }
    *buf = out;
    bench_set_threads(threads);
    double t0 = bench_now();
    vg_status st = vg_generate(m, &p, out, NULL, NULL, NULL, NULL);
    double t = bench_now() - t0;
    if (st) { fprintf(stderr, "bench dit: generate: %s\n", vg_last_error()); return -1; }
    return t;
}

void bench_dit(void) {
    bench_note_load("dit");
    const int threads = 2, F = 30, scale_steps = 5;
    vg_model m;
    const char *which = NULL;
    if (open_model(&m, &which)) { fprintf(stderr, "bench dit: %s\n", vg_last_error()); return; }
    vg_gen_params p = {.prompt = "a big red ball bouncing on a blue background", .negative_prompt = m.def.negative_prompt,
                       .frames = F, .width = m.def.width, .height = m.def.height, .steps = m.def.steps,
                       .cfg_scale = m.def.cfg_scale, .flow_shift = m.def.flow_shift, .seed = 1, .window = m.def.window};
    if (!vg_sampler_from_name(m.def.sampler, &p.sampler)) p.sampler = VG_SAMPLER_EULER;
    printf("model: %s; %dx%d, %d steps (%s), cfg %.1f, window %d\n", which, p.width, p.height, p.steps,
           vg_sampler_name(p.sampler), (double)p.cfg_scale, p.window);
    uint8_t *buf = NULL;
    char name[160];

    /* the 30-frame clip: seconds and peak RSS (model loaded before the reset, so it counts) */
    bool reset = reset_peak_rss();
    double t2 = gen_seconds(&m, &p, F, p.steps, threads, &buf);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (t2 < 0) goto out;
    snprintf(name, sizeof(name), "generate %d frames %dx%d, %d steps (2 thr)", F, p.width, p.height, p.steps);
    bench_record(name, t2, "s", NULL, 0);
    if (!reset) printf("  (peak RSS could not be reset: it includes the sections run before)\n");
    printf("  (vg_generate_mem_estimate: %.1f MiB beyond the weights)\n", vg_generate_mem_estimate(&m, &p) / 1048576.0);
    bench_record("generate 30 frames: peak RSS of the process", ru.ru_maxrss / 1024.0, "MiB", NULL, 0);

    /* thread scaling on the same clip (fewer steps: the ratio does not depend on them) */
    double a2 = gen_seconds(&m, &p, F, scale_steps, threads, &buf);
    double a1 = gen_seconds(&m, &p, F, scale_steps, 1, &buf);
    if (a1 > 0 && a2 > 0) {
        snprintf(name, sizeof(name), "generate %d frames, %d steps (2 thr)", F, scale_steps);
        bench_record(name, a2, "s", NULL, 0);
        snprintf(name, sizeof(name), "generate %d frames, %d steps (1 thr)", F, scale_steps);
        bench_record(name, a1, "s", NULL, 0);
        bench_record("generate 30 frames: speedup 2 thr vs 1 thr", a1 / a2, "x", "target", 1.8);
    }

    /* temporal-window scaling: seconds per frame of a clip, window 2 */
    vg_gen_params pw = p;
    pw.window = 2;
    double spf[3];
    const int fr[3] = {16, 32, 64};
    for (int i = 0; i < 3; i++) {
        double t = gen_seconds(&m, &pw, fr[i], scale_steps, threads, &buf);
        if (t < 0) goto out;
        spf[i] = t / fr[i];
        snprintf(name, sizeof(name), "generate s/frame at %d frames, window 2, %d steps", fr[i], scale_steps);
        bench_record(name, spf[i], "s", NULL, 0);
    }
    bench_record("generate s/frame growth 64 vs 16 frames (window 2)", spf[2] / spf[0], "x", "linear", 1.0);
out:
    bench_set_threads(threads);
    free(buf);
    vg_model_close(&m);
}
