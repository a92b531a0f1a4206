/* test_batch.c - `vidgen batch` end to end on models/tiny (resume after SIGKILL, bad jobs
 * failing alone, dry run, settings precedence, batch.json), long clips (120 frames: vidgen
 * score metrics of the first and last 30 frames; memory linear in frames, estimate vs
 * measured RSS) and --init-frames (given frames come back exactly; no jump at the join).
 * Margins are stated next to each check, with the measured values that motivated them. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "test.h"
#include "vidgen/generate.h"
#include "vidgen/io.h"
#include "vidgen/model.h"
#include "vidgen/score.h"
#include "vidgen/status.h"

static const char *bin(void) {
    const char *b = getenv("VIDGEN_BIN");
    return b && *b ? b : "build/vidgen";
}
#define SH(outp, ...) vg_test_sh(outp, __VA_ARGS__)

static cJSON *read_json(const char *fmt, const char *a, const char *b) {
    char p[1200], *t = NULL;
    snprintf(p, sizeof(p), fmt, a, b);
    if (vg_file_read(p, &t, NULL)) return NULL;
    cJSON *j = cJSON_Parse(t);
    free(t);
    return j;
}

static bool write_text(const char *dir, const char *name, const char *txt) {
    char p[1200];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return vg_file_write_atomic(p, txt, strlen(txt)) == VG_OK;
}

/* every file of a (but the per-run vidgen.json/batch.json) is byte-identical in b, and both
 * hold the same file names; prints what differs into *o */
static int same_tree(char **o, const char *a, const char *b) {
    return SH(o, "cd %s && A=$(find . -type f | grep -v '\\.tmp\\.' | sort) && cd - >/dev/null && cd %s && B=$(find . -type f | grep -v '\\.tmp\\.' | sort) && "
                 "cd - >/dev/null && [ \"$A\" = \"$B\" ] || { echo \"file lists differ: $A // $B\"; exit 1; }; "
                 "for f in $A; do case $f in */vidgen.json|./batch.json) continue;; esac; cmp -s %s/$f %s/$f || { echo \"differs: $f\"; exit 1; }; done",
              a, b, a, b);
}

static const char *JOBS4 =
    "{\"defaults\": {\"steps\": 2, \"frames\": 5}}\n"
    "{\"name\": \"a\", \"prompt\": \"a big red ball moving right on a blue background\", \"seed\": 1}\n"
    "{\"name\": \"b\", \"prompt\": \"a small green square moving up on a black background\", \"seed\": 2, \"format\": \"apng,gif\", \"sheet\": true}\n"
    "\n"
    "{\"name\": \"c\", \"prompt\": \"a big white triangle bouncing on a gray background\", \"seed\": 3, \"upscale\": 2, \"format\": \"y4m\"}\n"
    "{\"name\": \"d\", \"prompt\": \"a small yellow ball moving left on a purple background\", \"seed\": 4, \"frames\": 40, \"steps\": 6}\n";

VG_TEST(batch_sigkill_resume_matches_uninterrupted) {
    const char *d = vg_test_tmpdir();
    char *o = NULL;
    CHECK(write_text(d, "jobs4.jsonl", JOBS4));
    int rc = SH(&o, "%s batch %s/jobs4.jsonl --out %s/ref --model models/tiny -t 1 -q", bin(), d, d);
    CHECKF(rc == 0 && strstr(o, "4 done"), "uninterrupted: rc %d %s", rc, o);
    free(o);

    /* 1. killed by fault injection right after its 8th frame file: clip a done, b has 3 of 5 */
    SH(&o, "VIDGEN_TEST_KILL_AFTER_FRAMES=8 %s batch %s/jobs4.jsonl --out %s/k1 --model models/tiny -t 1 -q; echo \"rc=$?\"", bin(), d, d);
    CHECKF(strstr(o, "rc=137"), "expected death by SIGKILL: %s", o);
    free(o);
    char p[800];
    snprintf(p, sizeof(p), "%s/k1/b/frame_0003.png", d);
    CHECK(access(p, F_OK) == 0);
    snprintf(p, sizeof(p), "%s/k1/b/vidgen.json", d);
    CHECK(access(p, F_OK) != 0);
    cJSON *idx = read_json("%s/k1/%s", d, "batch.json");
    CHECK(idx);
    const cJSON *clips = cJSON_GetObjectItem(idx, "clips");
    CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(clips, 0), "status")->valuestring, "done"));
    CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(clips, 1), "status")->valuestring, "running"));
    cJSON_Delete(idx);
    /* leftovers of an older, longer run in the partial folder must not survive */
    CHECK(SH(NULL, "cp %s/k1/a/frame_0001.png %s/k1/b/frame_0009.png && echo junk > %s/k1/b/frame_0001.png", d, d, d) == 0);
    rc = SH(&o, "%s batch %s/jobs4.jsonl --out %s/k1 --model models/tiny -t 1 -q", bin(), d, d);
    CHECKF(rc == 0 && strstr(o, "3 done, 1 skipped"), "resume: rc %d %s", rc, o);
    free(o);
    char a[700], b[700];
    snprintf(a, sizeof(a), "%s/ref", d);
    snprintf(b, sizeof(b), "%s/k1", d);
    rc = same_tree(&o, a, b);
    CHECKF(rc == 0, "resumed run differs from the uninterrupted one: %s", o);
    free(o);

    /* 2. a real SIGKILL from outside, as soon as clip a is finished */
    rc = SH(&o, "%s batch %s/jobs4.jsonl --out %s/k2 --model models/tiny -t 1 -q & p=$!; i=0; "
                "while [ ! -f %s/k2/a/vidgen.json ] && [ $i -lt 3000 ]; do sleep 0.005; i=$((i+1)); done; kill -9 $p; wait $p; echo \"rc=$?\"",
            bin(), d, d, d);
    CHECKF(strstr(o, "rc=137"), "the run was not killed mid-set: %s", o);
    free(o);
    snprintf(p, sizeof(p), "%s/k2/d/vidgen.json", d);
    CHECK(access(p, F_OK) != 0); /* the long last clip was not finished */
    rc = SH(&o, "%s batch %s/jobs4.jsonl --out %s/k2 --model models/tiny -t 1 -q", bin(), d, d);
    CHECKF(rc == 0 && strstr(o, "0 failed"), "resume after kill: rc %d %s", rc, o);
    free(o);
    snprintf(b, sizeof(b), "%s/k2", d);
    rc = same_tree(&o, a, b);
    CHECKF(rc == 0, "resumed run differs from the uninterrupted one: %s", o);
    free(o);
    /* the settings recorded per clip are the same too (timings and dates aside) */
    rc = SH(&o, "for c in a b c d; do grep -vE 'text_s|denoise_s|total_s|created|peak_rss' %s/$c/vidgen.json > %s/m1 && "
                "grep -vE 'text_s|denoise_s|total_s|created|peak_rss' %s/$c/vidgen.json > %s/m2 && diff %s/m1 %s/m2 || exit 1; done", a, d, b, d, d, d);
    CHECKF(rc == 0, "metadata differs: %s", o);
    free(o);
}

VG_TEST(batch_bad_jobs_fail_alone_with_reasons) {
    const char *d = vg_test_tmpdir();
    const char *js =
        "{\"defaults\": {\"steps\": 1, \"frames\": 2},\n"
        " \"jobs\": [\n"
        "  {\"name\": \"good1\", \"prompt\": \"a red ball\"},\n"
        "  {\"name\": \"zero\", \"prompt\": \"a red ball\", \"frames\": 0},\n"
        "  {\"name\": \"dpm\", \"prompt\": \"a red ball\", \"sampler\": \"dpm\"},\n"
        "  {\"name\": \"odd\", \"prompt\": \"a red ball\", \"width\": 17},\n"
        "  {\"name\": \"bogus\", \"prompt\": \"a red ball\", \"bogus\": 1},\n"
        "  {\"name\": \"../escape\", \"prompt\": \"a red ball\"},\n"
        "  {\"name\": \"good1\", \"prompt\": \"a blue ball\"},\n"
        "  {\"name\": \"fmt\", \"prompt\": \"a red ball\", \"format\": \"mp4\"},\n"
        "  {\"name\": \"nomodel\", \"prompt\": \"a red ball\", \"model\": \"/nonexistent/model\"},\n"
        "  {\"name\": \"noinit\", \"prompt\": \"a red ball\", \"init_frames\": \"/nonexistent/clip\"},\n"
        "  {\"prompt\": \"a big blue square\", \"seed\": 7}\n"
        " ]}\n";
    CHECK(write_text(d, "bad.json", js));
    char *o = NULL;
    int rc = SH(&o, "%s batch %s/bad.json --out %s/bad --model models/tiny -t 1", bin(), d, d);
    CHECKF(rc == 1, "rc %d (want 1: some jobs failed) %s", rc, o);
    const char *reasons[] = {"must be an integer in [1, 100000], got '0'", "unknown sampler 'dpm'", "not a multiple of the model's patch",
                             "unknown key \"bogus\"", "bad \"name\"", "already used by job 1", "unknown format 'mp4'",
                             "nonexistent/model", "nonexistent/clip"};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) CHECKF(strstr(o, reasons[i]), "summary lacks '%s':\n%s", reasons[i], o);
    CHECKF(strstr(o, "2 done, 0 skipped (finished earlier), 9 failed"), "%s", o);
    free(o);
    cJSON *idx = read_json("%s/bad/%s", d, "batch.json");
    CHECK(idx);
    const cJSON *clips = cJSON_GetObjectItem(idx, "clips");
    CHECK(cJSON_GetArraySize(clips) == 11);
    const char *want[] = {"done", "failed", "failed", "failed", "failed", "failed", "failed", "failed", "failed", "failed", "done"};
    for (int i = 0; i < 11; i++) {
        const cJSON *c = cJSON_GetArrayItem(clips, i);
        const char *stn = cJSON_GetObjectItem(c, "status")->valuestring;
        CHECKF(!strcmp(stn, want[i]), "clip %d: status %s, want %s", i + 1, stn, want[i]);
        CHECK(!strcmp(want[i], "done") ? cJSON_GetObjectItem(c, "seconds") != NULL : cJSON_GetObjectItem(c, "reason") != NULL);
    }
    CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(clips, 10), "name")->valuestring, "a-big-blue-square-s7"));
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(idx, "summary"), "failed")->valueint == 9);
    cJSON_Delete(idx);
    char p[800];
    snprintf(p, sizeof(p), "%s/bad/a-big-blue-square-s7/frame_0002.png", d);
    CHECK(access(p, F_OK) == 0);
    snprintf(p, sizeof(p), "%s/escape", d);
    CHECK(access(p, F_OK) != 0);
    /* a file that is not a list of jobs at all is a usage error, and nothing runs */
    CHECK(write_text(d, "num.json", "42"));
    rc = SH(&o, "%s batch %s/num.json --out %s/num --model models/tiny", bin(), d, d);
    CHECKF(rc == 2 && strstr(o, "not a list of jobs"), "rc %d %s", rc, o);
    free(o);
    rc = SH(&o, "%s batch %s/bad.json --model models/tiny", bin(), d);
    CHECKF(rc == 2 && strstr(o, "--out DIR is required"), "rc %d %s", rc, o);
    free(o);
}

VG_TEST(batch_dry_run_precedence_and_rerun) {
    const char *d = vg_test_tmpdir();
    CHECK(write_text(d, "shared.json", "{\"steps\": 3, \"seed\": 9, \"frames\": 7, \"cfg_scale\": 2}"));
    const char *js = "[{\"name\": \"p1\", \"prompt\": \"a red ball\"},"
                     " {\"name\": \"p2\", \"prompt\": \"a red ball\", \"seed\": 4, \"fps\": 12, \"format\": \"gif\"}]";
    CHECK(write_text(d, "pj.json", js));
    char *o = NULL, p[800];
    int rc = SH(&o, "%s batch %s/pj.json --out %s/pj --model models/tiny -t 1 --config %s/shared.json --frames 3 --dry-run", bin(), d, d, d);
    CHECKF(rc == 0 && strstr(o, "would render") && strstr(o, "estimated total") && strstr(o, "2 to render"), "dry run: rc %d %s", rc, o);
    double est = 0;
    const char *l = strstr(o, "p1");
    CHECKF(l && sscanf(l, "p1 would render %*d %lfs", &est) == 1 && est > 0, "no estimate for p1: %s", o);
    free(o);
    snprintf(p, sizeof(p), "%s/pj", d);
    CHECK(access(p, F_OK) != 0); /* a dry run writes nothing */
    rc = SH(&o, "%s batch %s/pj.json --out %s/pj --model models/tiny --config %s/shared.json --frames 3 -q", bin(), d, d, d);
    CHECKF(rc == 0, "rc %d %s", rc, o);
    free(o);
    cJSON *j = read_json("%s/pj/%s", d, "p1/vidgen.json");
    CHECK(j);
    CHECK(cJSON_GetObjectItem(j, "frames")->valueint == 3);   /* flag over --config */
    CHECK(cJSON_GetObjectItem(j, "steps")->valueint == 3);    /* --config */
    CHECK(cJSON_GetObjectItem(j, "seed")->valueint == 9);     /* --config */
    CHECK(cJSON_GetObjectItem(j, "cfg_scale")->valuedouble == 2);
    CHECK(!strcmp(cJSON_GetObjectItem(j, "batch_job")->valuestring, "job 1"));
    cJSON_Delete(j);
    j = read_json("%s/pj/%s", d, "p2/vidgen.json");
    CHECK(j);
    CHECK(cJSON_GetObjectItem(j, "seed")->valueint == 4);     /* the job over everything */
    CHECK(cJSON_GetObjectItem(j, "fps")->valuedouble == 12);
    CHECK(cJSON_GetObjectItem(j, "gif_delay_cs")->valueint == 8);
    cJSON_Delete(j);
    /* the same command again: nothing to do */
    rc = SH(&o, "%s batch %s/pj.json --out %s/pj --model models/tiny --config %s/shared.json --frames 3 -q", bin(), d, d, d);
    CHECKF(rc == 0 && strstr(o, "0 done, 2 skipped"), "rerun: rc %d %s", rc, o);
    free(o);
    /* changed settings for a finished clip: refused unless --overwrite */
    rc = SH(&o, "%s batch %s/pj.json --out %s/pj --model models/tiny --config %s/shared.json --frames 4 -q", bin(), d, d, d);
    CHECKF(rc == 1 && strstr(o, "other settings (\"frames\" differs)"), "changed: rc %d %s", rc, o);
    free(o);
    rc = SH(&o, "%s batch %s/pj.json --out %s/pj --model models/tiny --config %s/shared.json --frames 4 -q --overwrite", bin(), d, d, d);
    CHECKF(rc == 0 && strstr(o, "2 done"), "overwrite: rc %d %s", rc, o);
    free(o);
    snprintf(p, sizeof(p), "%s/pj/p2/frame_0004.png", d);
    CHECK(access(p, F_OK) == 0);
}

/* The in-process generations run on one thread: results do not depend on the count, and on
 * this shared 2-core machine a second spinning thread costs up to 8x in wall time. */
static int one_thread(void) {
#ifdef _OPENMP
    int n = omp_get_max_threads();
    omp_set_num_threads(1);
    return n;
#else
    return 1;
#endif
}
static void restore_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/* ---- long clips ------------------------------------------------------------------------ */

static bool gen_clip(const vg_model *m, const char *prompt, int frames, int steps, uint64_t seed, const uint8_t *init, int n_init, uint8_t *out) {
    vg_gen_params p = {.prompt = prompt, .negative_prompt = "", .frames = frames, .width = 16, .height = 16, .steps = steps,
                       .cfg_scale = 3, .flow_shift = 2, .seed = seed, .sampler = VG_SAMPLER_EULER, .window = 2,
                       .init_frames = init, .n_init = n_init};
    return vg_generate(m, &p, out, NULL, NULL, NULL, NULL) == VG_OK;
}

typedef struct { double flicker, bg_jitter, warp, mean_rgb[3]; } window_stats;

static bool window_score(window_stats *s, const uint8_t *clip, int64_t f0, int64_t n) {
    vg_score_opts so;
    vg_score_opts_default(&so);
    vg_score_report r;
    if (vg_score_clip(&r, clip + f0 * 768, n, 16, 16, &so)) return false;
    s->flicker = r.flicker_mae;
    s->bg_jitter = r.bg_jitter;
    s->warp = r.warp_err;
    for (int c = 0; c < 3; c++) {
        double acc = 0;
        for (int64_t i = 0; i < n * 256; i++) acc += clip[f0 * 768 + i * 3 + c];
        s->mean_rgb[c] = acc / (double)(n * 256);
    }
    return true;
}

/* No fall in coherence from the first 30 frames to the last 30. Margins (tiny model, window
 * 2, 8 steps; measured on 3 prompts x 2 seeds, the 30-frame windows of one clip differ by up
 * to 24% in flicker, 13% in background jitter, 17 levels in mean red): the last window's
 * flicker and background jitter at most 1.35x the first's + 1 grey level, mean colour within
 * 24 levels per channel. */
static const char *coherence_drop(const window_stats *a, const window_stats *b) {
    static char why[160];
    if (b->flicker > 1.35 * a->flicker + 1) { snprintf(why, sizeof(why), "flicker %.2f -> %.2f", a->flicker, b->flicker); return why; }
    if (b->bg_jitter > 1.35 * a->bg_jitter + 1) { snprintf(why, sizeof(why), "background jitter %.2f -> %.2f", a->bg_jitter, b->bg_jitter); return why; }
    for (int c = 0; c < 3; c++)
        if (fabs(b->mean_rgb[c] - a->mean_rgb[c]) > 24) { snprintf(why, sizeof(why), "mean colour drift in channel %d: %.1f -> %.1f", c, a->mean_rgb[c], b->mean_rgb[c]); return why; }
    return NULL;
}

VG_TEST(longclip_120_frames_keep_coherence) {
    vg_model m;
    CHECK_OK(vg_model_open(&m, "models/tiny"));
    const char *prompts[2] = {"a big red ball moving right on a blue background", "a green triangle bouncing on a white background"};
    const int F = 150;
    uint8_t *clip[2] = {malloc((size_t)F * 768), malloc((size_t)F * 768)};
    int nt = one_thread();
    bool ok = gen_clip(&m, prompts[0], F, 8, 1, NULL, 0, clip[0]) && gen_clip(&m, prompts[1], F, 8, 2, NULL, 0, clip[1]);
    restore_threads(nt);
    /* memory: the estimate is linear in frames (the temporal window keeps attention local) */
    vg_gen_params p = {.frames = 120, .width = 16, .height = 16, .steps = 8, .cfg_scale = 3, .window = 2};
    int64_t e120 = vg_generate_mem_estimate(&m, &p);
    p.frames = 240;
    int64_t e240 = vg_generate_mem_estimate(&m, &p);
    p.frames = 960;
    int64_t e960 = vg_generate_mem_estimate(&m, &p);
    vg_model_close(&m);
    for (int i = 0; i < 2 && ok; i++) {
        window_stats first, w90, last;
        ok = window_score(&first, clip[i], 0, 30) && window_score(&w90, clip[i], 90, 30) && window_score(&last, clip[i], 120, 30);
        const char *why = ok ? coherence_drop(&first, &w90) : NULL;
        if (why) { vg_test_failf(__FILE__, __LINE__, "'%s': frames 91-120 vs 1-30: %s", prompts[i], why); break; }
        why = ok ? coherence_drop(&first, &last) : NULL;
        if (why) { vg_test_failf(__FILE__, __LINE__, "'%s': frames 121-150 vs 1-30: %s", prompts[i], why); break; }
        /* the check can fail: darkening and flickering the last window is caught */
        for (int f = 120; f < F; f++)
            for (int k = 0; k < 768; k++) clip[i][(size_t)f * 768 + k] = (uint8_t)(clip[i][(size_t)f * 768 + k] * (f % 2 ? 0.5 : 0.8));
        if (ok && (!window_score(&last, clip[i], 120, 30) || !coherence_drop(&first, &last))) {
            vg_test_failf(__FILE__, __LINE__, "a flickering, darkened last window was not flagged");
            break;
        }
    }
    free(clip[0]);
    free(clip[1]);
    CHECKF(ok, "generate/score: %s", vg_last_error());
    double slope = (e240 - e120) / 120.0;
    CHECKF(fabs((e960 - e240) / 720.0 - slope) <= 0.01 * slope, "estimate not linear: %lld %lld %lld", (long long)e120, (long long)e240, (long long)e960);
    CHECKF(slope > 100e3 && slope < 200e3, "tiny at 16x16: %.0f bytes per frame (README says about 135 KiB)", slope);
}

VG_TEST(longclip_measured_memory_per_frame) {
    /* peak RSS of the vidgen process (vidgen.json "peak_rss_bytes") for 30 and 180 frames, 1 step:
     * its growth per frame matches the estimate's within 25% (measured: 130 KiB vs 135 KiB) */
    const char *d = vg_test_tmpdir();
    double rss[2], est[2];
    const int fr[2] = {30, 180};
    for (int i = 0; i < 2; i++) {
        char *o = NULL, sub[32];
        int rc = SH(&o, "%s --model models/tiny -t 1 -q -p 'a red ball' --frames %d --steps 1 --out %s/mem%d", bin(), fr[i], d, fr[i]);
        CHECKF(rc == 0, "rc %d %s", rc, o);
        free(o);
        snprintf(sub, sizeof(sub), "mem%d/vidgen.json", fr[i]);
        cJSON *j = read_json("%s/%s", d, sub);
        CHECK(j && cJSON_GetObjectItem(j, "peak_rss_bytes") && cJSON_GetObjectItem(j, "estimated_memory_bytes"));
        rss[i] = cJSON_GetObjectItem(j, "peak_rss_bytes")->valuedouble;
        est[i] = cJSON_GetObjectItem(j, "estimated_memory_bytes")->valuedouble;
        cJSON_Delete(j);
    }
    double ms = (rss[1] - rss[0]) / (fr[1] - fr[0]), es = (est[1] - est[0]) / (fr[1] - fr[0]);
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer's shadow memory and redzones more than double the heap: only the sign */
    CHECKF(ms > 0.75 * es, "measured %.0f bytes/frame vs estimated %.0f", ms, es);
    return;
#endif
    CHECKF(ms > 0.75 * es && ms < 1.25 * es, "measured %.0f bytes/frame vs estimated %.0f", ms, es);
}

/* ---- continuing a clip -------------------------------------------------------------- */


/* Seam by `vidgen score`'s measure (vg_score_clip with seam_at): at the join, mean |dI| and
 * warping error each at most 1.25x the 90th percentile of the other pairs, and no more pop
 * events than at the busiest other frame. */
static bool seam_of(const uint8_t *clip, int F, int H, int W, int n_init, vg_score_report *r) {
    vg_score_opts o;
    vg_score_opts_default(&o);
    o.seam_at = n_init;
    return vg_score_clip(r, clip, F, H, W, &o) == VG_OK;
}

VG_TEST(init_frames_continue_without_seam) {
    vg_model m;
    CHECK_OK(vg_model_open(&m, "models/tiny"));
    const char *pr = "a big red ball moving right on a blue background";
    /* clips 0-2: the prompt's own clip continued with another seed; 3: a black-background
     * clip continued with this prompt (negative control) */
    uint8_t *a = malloc(4 * 24 * 768), *b = malloc(4 * 48 * 768);
    int nt = one_thread();
    bool ok = true;
    for (int i = 0; i < 4 && ok; i++)
        ok = gen_clip(&m, i < 3 ? pr : "a small yellow square moving left on a black background", 24, 8, (uint64_t)i + 1, NULL, 0, a + i * 24 * 768) &&
             gen_clip(&m, pr, 48, 8, (uint64_t)i + 11, a + i * 24 * 768, 24, b + i * 48 * 768);
    restore_threads(nt);
    vg_model_close(&m);
    vg_score_report r[4];
    bool same[4] = {0};
    for (int i = 0; i < 4 && ok; i++) {
        same[i] = memcmp(a + i * 24 * 768, b + i * 48 * 768, 24 * 768) == 0;
        ok = seam_of(b + i * 48 * 768, 48, 16, 16, 24, &r[i]);
    }
    free(a);
    free(b);
    CHECKF(ok, "generate/score: %s", vg_last_error());
    for (int i = 0; i < 4; i++) CHECKF(same[i], "clip %d: the given frames do not come back exactly", i);
    for (int i = 0; i < 3; i++)
        CHECKF(r[i].seam_ok, "seed %d: jump at the join: |dI| ratio %.2f, warp ratio %.2f, %d events (max other %d)", i + 1,
               r[i].seam_pix_ratio, r[i].seam_warp_ratio, r[i].seam_events, r[i].seam_events_max_other);
    CHECKF(!r[3].seam_ok && r[3].seam_pix_ratio > 2,
           "the seam measure should flag a scene change at the join (|dI| ratio %.2f, warp ratio %.2f)",
           r[3].seam_pix_ratio, r[3].seam_warp_ratio);
}

VG_TEST(init_frames_cli_extends_clip_and_picture) {
    const char *d = vg_test_tmpdir();
    const char *pr = "a big red ball moving right on a blue background";
    char *o = NULL;
    /* a clip written at 2x, continued at 2x: the area resize inverts the upscale exactly */
    int rc = SH(&o, "%s --model models/tiny -t 1 -q -p '%s' --frames 12 --seed 5 --upscale 2 --out %s/ia", bin(), pr, d);
    CHECKF(rc == 0, "rc %d %s", rc, o);
    free(o);
    rc = SH(&o, "%s --model models/tiny -t 1 -q -p '%s' --frames 24 --seed 6 --upscale 2 --init-frames %s/ia --out %s/ib --format apng", bin(), pr, d, d);
    CHECKF(rc == 0, "rc %d %s", rc, o);
    free(o);
    uint8_t *clip = malloc(24 * 32 * 32 * 3);
    for (int f = 1; f <= 24; f++) {
        char pa[800], pb[800];
        snprintf(pa, sizeof(pa), "%s/ia/frame_%04d.png", d, f);
        snprintf(pb, sizeof(pb), "%s/ib/frame_%04d.png", d, f);
        uint8_t *x = NULL, *y = NULL;
        int w, h, w2, h2;
        CHECK_OK(vg_png_read(pb, &y, &w2, &h2));
        memcpy(clip + (size_t)(f - 1) * 32 * 32 * 3, y, 32 * 32 * 3);
        if (f <= 12) {
            CHECK_OK(vg_png_read(pa, &x, &w, &h));
            CHECKF(w == w2 && h == h2 && memcmp(x, y, (size_t)w * h * 3) == 0, "frame %d of the continuation differs from the given one", f);
        }
        free(x);
        free(y);
    }
    free(clip);
    /* the seam as `vidgen score` reports it: the join found from ib/vidgen.json's init_count */
    rc = SH(&o, "%s score %s/ib --json %s/ib_score.json", bin(), d, d);
    CHECKF(rc == 0 && strstr(o, "seam after the 12 given frames"), "rc %d %s", rc, o);
    free(o);
    cJSON *sj = read_json("%s/%s", d, "ib_score.json");
    const cJSON *seam = sj ? cJSON_GetObjectItem(cJSON_GetObjectItem(sj, "metrics"), "seam") : NULL;
    CHECKF(seam && cJSON_GetObjectItem(seam, "at")->valueint == 12 && cJSON_IsTrue(cJSON_GetObjectItem(seam, "ok")),
           "no seam report, or a jump at the join: %s", seam ? cJSON_PrintUnformatted(seam) : "(none)");
    cJSON_Delete(sj);
    cJSON *j = read_json("%s/%s", d, "ib/vidgen.json");
    CHECK(j && cJSON_GetObjectItem(j, "init_count")->valueint == 12 && strlen(cJSON_GetObjectItem(j, "init_hash")->valuestring) == 16);
    cJSON_Delete(j);
    /* a picture to start from; the last 4 frames of a clip; frames that leave nothing to do */
    rc = SH(&o, "%s --model models/tiny -t 1 -q -p '%s' --frames 6 --init-frames %s/ia/frame_0007.png --out %s/ic", bin(), pr, d, d);
    CHECKF(rc == 0, "rc %d %s", rc, o);
    free(o);
    uint8_t *x = NULL, *y = NULL;
    int w, h, w2, h2;
    char pa[800], pb[800];
    snprintf(pa, sizeof(pa), "%s/ia/frame_0007.png", d);
    snprintf(pb, sizeof(pb), "%s/ic/frame_0001.png", d);
    CHECK_OK(vg_png_read(pa, &x, &w, &h));
    CHECK_OK(vg_png_read(pb, &y, &w2, &h2));
    CHECK(w == 32 && w2 == 16);
    bool same = true; /* the 2x picture comes back at 16x16 as its exact downscale */
    for (int yy = 0; yy < 16; yy++)
        for (int xx = 0; xx < 16; xx++) same &= !memcmp(y + (yy * 16 + xx) * 3, x + (yy * 2 * 32 + xx * 2) * 3, 3);
    free(x);
    free(y);
    CHECK(same);
    rc = SH(&o, "%s --model models/tiny -t 1 -q -p '%s' --frames 6 --init-frames %s/ia --init-count 4 --out %s/id", bin(), pr, d, d);
    CHECKF(rc == 0, "rc %d %s", rc, o);
    free(o);
    j = read_json("%s/%s", d, "id/vidgen.json");
    CHECK(j && cJSON_GetObjectItem(j, "init_count")->valueint == 4);
    cJSON_Delete(j);
    rc = SH(&o, "%s --model models/tiny -t 1 -q -p '%s' --frames 12 --init-frames %s/ia --out %s/ie", bin(), pr, d, d);
    CHECKF(rc == 2 && strstr(o, "nothing to generate"), "rc %d %s", rc, o);
    free(o);
}

/* `vidgen score FOLDER` on a batch folder: each clip is judged against the prompt in its own
 * vidgen.json, and the per-attribute tallies in the JSON mean agree with the clips' checks;
 * a prompt outside the judge's grammars is scored without a judge, not an error. */
VG_TEST(score_cli_batch_folder_tallies) {
    const char *d = vg_test_tmpdir();
    char *o = NULL;
    char jobs[800];
    snprintf(jobs, sizeof(jobs), "%s/sj.jsonl", d);
    FILE *f = fopen(jobs, "w");
    CHECK(f != NULL);
    fprintf(f, "{\"defaults\": {\"frames\": 8, \"steps\": 4}}\n"
               "{\"name\": \"a\", \"prompt\": \"a big red ball moving right on a blue background\", \"seed\": 1}\n"
               "{\"name\": \"b\", \"prompt\": \"a small green square moving up on a black background\", \"seed\": 2}\n"
               "{\"name\": \"c\", \"prompt\": \"a small yellow triangle standing still on a white background\", \"seed\": 3}\n");
    fclose(f);
    int rc = SH(&o, "%s batch %s --model models/tiny -t 1 -q --out %s/sb", bin(), jobs, d);
    CHECKF(rc == 0, "batch rc %d %s", rc, o);
    free(o);
    rc = SH(&o, "%s score %s/sb --prompt 'a cat'", bin(), d);
    CHECKF(rc == 2 && strstr(o, "--prompt") && !strstr(o, "no PNG frames"), "folder with a bad --prompt: rc %d %s", rc, o);
    free(o);
    rc = SH(&o, "%s score %s/sb --json %s/sb.json", bin(), d, d);
    CHECKF(rc == 0 && strstr(o, "right, per attribute: background"), "score rc %d %s", rc, o);
    free(o);
    cJSON *j = read_json("%s/%s", d, "sb.json");
    CHECK(j != NULL);
    const cJSON *clips = cJSON_GetObjectItem(j, "clips"), *mean = cJSON_GetObjectItem(j, "mean");
    CHECKF(cJSON_GetArraySize(clips) == 3, "%d clips scored", cJSON_GetArraySize(clips));
    const char *what[3] = {"colour", "shape", "motion"};
    for (int w = 0; w < 3; w++) {
        int ok = 0, n = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, clips) {
            const cJSON *ch;
            cJSON_ArrayForEach(ch, cJSON_GetObjectItem(cJSON_GetObjectItem(c, "judge"), "checks"))
                if (strcmp(cJSON_GetObjectItem(ch, "what")->valuestring, what[w]) == 0) { n++; ok += cJSON_IsTrue(cJSON_GetObjectItem(ch, "ok")); }
        }
        char key[32];
        snprintf(key, sizeof(key), "right_%s", what[w]);
        const cJSON *m = cJSON_GetObjectItem(mean, key);
        CHECKF(n == 3 && m && fabs(m->valuedouble - ok / 3.0) < 1e-6, "%s: %d of %d checks, mean %s = %g", what[w], ok, n, key,
               m ? m->valuedouble : -1);
    }
    cJSON_Delete(j);
    /* one clip whose prompt is outside the grammars: scored, not judged (its sheet.png ignored) */
    rc = SH(&o, "%s --model models/tiny -t 1 -q -p 'a cat' --frames 4 --steps 2 --sheet --out %s/cat && %s score %s/cat", bin(), d, bin(), d);
    CHECKF(rc == 0 && strstr(o, "temporal flickering") && !strstr(o, "prompt adherence"), "rc %d %s", rc, o);
    free(o);
}

/* --anchor: the first frame is drawn alone (byte-identical to a one-frame clip of the same seed)
 * and the clip continues it; the result does not depend on the thread count. Both ways of
 * giving known frames (a model trained with them gets them clean at timestep 0, others get
 * them noised at each step) return the anchor frame exactly. */
VG_TEST(anchor_first_frame_then_clip) {
    vg_model m;
    CHECK_OK(vg_model_open(&m, "models/tiny"));
    const char *pr = "a big red ball moving right on a blue background";
    enum { F = 6, FR = 16 * 16 * 3 };
    uint8_t one[FR], c1[F * FR], c2[F * FR], c0[F * FR], ck[F * FR];
    vg_gen_params p = {.prompt = pr, .negative_prompt = "", .frames = 1, .width = 16, .height = 16, .steps = 6,
                       .cfg_scale = 3, .flow_shift = 2, .seed = 5, .sampler = VG_SAMPLER_EULER, .window = 2, .anchor = 1};
    int nt = one_thread();
    CHECK_OK(vg_generate(&m, &p, one, NULL, NULL, NULL, NULL));
    p.frames = F;
    CHECK_OK(vg_generate(&m, &p, c1, NULL, NULL, NULL, NULL));
    restore_threads(nt);
    CHECK_OK(vg_generate(&m, &p, c2, NULL, NULL, NULL, NULL));
    m.known_frames = true;
    CHECK_OK(vg_generate(&m, &p, ck, NULL, NULL, NULL, NULL));
    m.known_frames = false;
    p.anchor = 0;
    CHECK_OK(vg_generate(&m, &p, c0, NULL, NULL, NULL, NULL));
    vg_model_close(&m);
    CHECK(memcmp(one, c1, FR) == 0);
    CHECK(memcmp(one, ck, FR) == 0);
    CHECK(memcmp(c1, c2, sizeof(c1)) == 0);
    CHECK(memcmp(c0, c1, sizeof(c1)) != 0);
    CHECK(memcmp(ck + FR, c1 + FR, (F - 1) * FR) != 0);
}

/* --chunk: the clip is made 4 frames at a time, each chunk continuing the last 2 frames. The
 * first chunk is exactly the 4-frame clip of the same seed (same noise streams, same anchor),
 * the frames differ from a clip made at once after that, a chunk as long as the clip changes
 * nothing, and the result does not depend on the thread count. */
VG_TEST(chunks_continue_the_frames_made_so_far) {
    vg_model m;
    CHECK_OK(vg_model_open(&m, "models/tiny"));
    m.known_frames = true;
    enum { F = 9, FR = 16 * 16 * 3 };
    uint8_t four[4 * FR], ch1[F * FR], ch2[F * FR], whole[F * FR], big[F * FR];
    vg_gen_params p = {.prompt = "a big red ball moving right on a blue background", .negative_prompt = "", .frames = 4,
                       .width = 16, .height = 16, .steps = 6, .cfg_scale = 3, .flow_shift = 2, .seed = 7,
                       .sampler = VG_SAMPLER_EULER, .window = 2, .anchor = 1};
    CHECK_OK(vg_generate(&m, &p, four, NULL, NULL, NULL, NULL));
    p.frames = F;
    CHECK_OK(vg_generate(&m, &p, whole, NULL, NULL, NULL, NULL));
    p.chunk = F; p.chunk_overlap = 2;
    CHECK_OK(vg_generate(&m, &p, big, NULL, NULL, NULL, NULL));
    p.chunk = 4;
    int nt = one_thread();
    CHECK_OK(vg_generate(&m, &p, ch1, NULL, NULL, NULL, NULL));
    restore_threads(nt);
    CHECK_OK(vg_generate(&m, &p, ch2, NULL, NULL, NULL, NULL));
    p.chunk_overlap = 4;
    CHECK(vg_generate(&m, &p, ch2, NULL, NULL, NULL, NULL) == VG_ERR_ARG);
    vg_model_close(&m);
    CHECK(memcmp(four, ch1, sizeof(four)) == 0);
    CHECK(memcmp(big, whole, sizeof(big)) == 0);
    CHECK(memcmp(ch1 + 4 * FR, whole + 4 * FR, (F - 4) * FR) != 0);
    CHECK(memcmp(ch1, ch2, sizeof(ch1)) == 0);
}
