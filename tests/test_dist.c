/* test_dist.c - vidgen across MPI ranks (include/vidgen/dist.h, `make test-mpi`).
 * The plain build's one-rank stubs; then, with the MPI binary (VIDGEN_MPI_BIN, default
 * build-mpi/vidgen) and mpirun present: `vidgen batch` under mpirun -np 1, 2, 3 gives the
 * same clips as the plain binary (frames byte for byte, vidgen.json but for timings, the same
 * per-job status; a bad job fails alone; a rerun resumes at another rank count), and
 * `vidgen train` gives bit-identical weights at 1, 2, 3 ranks equal to the plain build's
 * (with --groups 6, and with the default grouping at 2 ranks), also when a run is resumed at
 * another rank count; and one clip split over -np 1..4 ranks (by frames, and the CFG branches)
 * gives the plain run's frames. Without mpirun or the MPI build these skip and say why. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "test.h"
#include "vidgen/dist.h"
#include "vidgen/io.h"
#include "vidgen/wan.h"

VG_TEST(dist_stub_is_one_rank) {
    if (vg_dist_mpi_build()) { printf("skip (the test binary is the MPI build)\n"); return; }
    CHECK(vg_dist_rank() == 0 && vg_dist_size() == 1);
    CHECK(vg_dist_max_i64(-3) == -3 && vg_dist_max_i64(5) == 5);
    vg_dist_counter *c = NULL;
    CHECK_OK(vg_dist_counter_open(&c));
    for (int i = 0; i < 5; i++) CHECK(vg_dist_counter_next(c) == i);
    vg_dist_counter_close(c);
    char *all = NULL;
    size_t *lens = NULL;
    CHECK_OK(vg_dist_gather_bytes("abc", 3, &all, &lens));
    CHECK(lens[0] == 3 && !strcmp(all, "abc"));
    free(all);
    free(lens);
    CHECK(vg_dist_send("x", 1, 1, 0) != VG_OK); /* no other rank: an error, not a hang */
    /* the clip split: one rank holds every frame and both branches */
    vg_dist_split sp;
    vg_dist_split_plan(&sp, 9, true, true);
    CHECK(sp.P == 1 && sp.groups == 1 && sp.gsize == 1 && sp.f0 == 0 && sp.f1 == 9 && sp.partner == -1);
    /* blocks of a group of G cover [0, F) in order, sizes differ by at most one, empty only when F < G */
    for (int G = 1; G <= 5; G++)
        for (int64_t F = 1; F <= 12; F++) {
            sp.gsize = G; sp.F = F;
            int64_t end = 0, mn = F, mx = 0;
            for (int g = 0; g < G; g++) {
                int64_t a, b;
                vg_dist_split_block(&sp, g, &a, &b);
                CHECKF(a == end && b >= a, "G %d F %lld block %d: [%lld, %lld) after %lld", G, (long long)F, g, (long long)a, (long long)b, (long long)end);
                end = b;
                if (b - a < mn) mn = b - a;
                if (b - a > mx) mx = b - a;
            }
            CHECK(end == F && mx - mn <= 1 && (mn > 0 || F < G));
        }
    vg_dist_msg none = {NULL, 0, 1, true};
    CHECK_OK(vg_dist_exchange(&none, 1, 1)); /* an empty message is nothing to send */
}

static const char *plain_bin(void) {
    const char *b = getenv("VIDGEN_BIN");
    return b && *b ? b : "build/vidgen";
}

/* the MPI binary, or NULL (after printing why) when these tests cannot run here */
static const char *mpi_bin(void) {
    const char *b = getenv("VIDGEN_MPI_BIN");
    if (!b || !*b) b = "build-mpi/vidgen";
    if (vg_test_sh(NULL, "command -v mpirun") != 0) { printf("skip (no mpirun: make test-mpi installs Open MPI)\n"); return NULL; }
    if (access(b, X_OK) != 0) { printf("skip (no MPI build at %s: make test-mpi, or make MPI=1)\n", b); return NULL; }
    return b;
}

/* Open MPI as root, more ranks than cores, no binding (OpenMP threads), no ssh, no CMA */
#define MPIRUN "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 " \
    "OMPI_MCA_hwloc_base_binding_policy=none OMPI_MCA_btl_vader_single_copy_mechanism=none " \
    "OMPI_MCA_btl_base_warn_component_unused=0 OMPI_MCA_plm_rsh_agent=false OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1 " \
    "timeout -k 10 300 mpirun -q --timeout 280"

static bool write_text(const char *path, const char *txt) { return vg_file_write_atomic(path, txt, strlen(txt)) == VG_OK; }

/* a clip folder's vidgen.json without what differs run to run */
static char *meta_sans_timing(const char *path) {
    char *t = NULL;
    if (vg_file_read(path, &t, NULL)) return NULL;
    cJSON *j = cJSON_Parse(t);
    free(t);
    if (!j) return NULL;
    static const char *const drop[] = {"timings", "peak_rss_bytes", "created", "threads"};
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) cJSON_DeleteItemFromObject(j, drop[i]);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* names and statuses of batch.json's clips, "a:done b:failed ..." */
static char *index_statuses(const char *dir) {
    char p[700], *t = NULL;
    snprintf(p, sizeof(p), "%s/batch.json", dir);
    if (vg_file_read(p, &t, NULL)) return NULL;
    cJSON *j = cJSON_Parse(t);
    free(t);
    const cJSON *cl = j ? cJSON_GetObjectItem(j, "clips") : NULL;
    char *out = calloc(1, 4096);
    for (const cJSON *c = cl ? cl->child : NULL; c && out; c = c->next) {
        const cJSON *nm = cJSON_GetObjectItem(c, "name"), *st = cJSON_GetObjectItem(c, "status");
        size_t l = strlen(out);
        snprintf(out + l, 4096 - l, "%s:%s ", cJSON_IsString(nm) ? nm->valuestring : "?", cJSON_IsString(st) ? st->valuestring : "?");
    }
    cJSON_Delete(j);
    return out;
}

static const char *JOBS =
    "{\"defaults\": {\"steps\": 2, \"frames\": 5}}\n"
    "{\"name\": \"a\", \"prompt\": \"a big red ball moving right on a blue background\", \"seed\": 1}\n"
    "{\"name\": \"b\", \"prompt\": \"a small green square moving up on a black background\", \"seed\": 2, \"format\": \"gif\"}\n"
    "{\"name\": \"bad\", \"prompt\": \"a big red ball\", \"frames\": -5}\n"
    "{\"name\": \"c\", \"prompt\": \"a big white triangle bouncing on a gray background\", \"seed\": 3, \"upscale\": 2}\n"
    "{\"name\": \"d\", \"prompt\": \"a small yellow ball moving left on a purple background\", \"seed\": 4, \"frames\": 9}\n"
    "{\"name\": \"e\", \"prompt\": \"a big blue square standing still on a white background\", \"seed\": 5}\n";

VG_TEST(dist_batch_same_clips_at_1_2_3_ranks) {
    const char *mb = mpi_bin();
    if (!mb) return;
    const char *d = vg_test_tmpdir();
    char jobs[600], *o = NULL;
    snprintf(jobs, sizeof(jobs), "%s/dist_jobs.jsonl", d);
    CHECK(write_text(jobs, JOBS));
    int rc = vg_test_sh(&o, "rm -rf %s/db0 && %s batch %s --out %s/db0 --model models/tiny -t 1", d, plain_bin(), jobs, d);
    CHECKF(rc == 1, "plain batch rc %d (want 1: one bad job) %s", rc, o);
    free(o);
    char p0[700];
    snprintf(p0, sizeof(p0), "%s/db0", d);
    char *want = index_statuses(p0);
    CHECKF(want && strstr(want, "a:done b:done ?:failed c:done d:done e:done"), "plain statuses: %s", want ? want : "(none)");
    for (int np = 1; np <= 3; np++) {
        o = NULL;
        rc = vg_test_sh(&o, "rm -rf %s/db%d && " MPIRUN " -np %d %s batch %s --out %s/db%d --model models/tiny", d, np, np, mb, jobs, d, np);
        CHECKF(rc == 1, "-np %d: rc %d (want 1: the bad job fails alone) %s", np, rc, o);
        CHECKF(strstr(o, "5 done, 0 skipped (finished earlier), 1 failed"), "-np %d summary: %s", np, o);
        free(o);
        /* every file but the run records byte-identical, same file names */
        o = NULL;
        rc = vg_test_sh(&o, "diff -r -x vidgen.json -x batch.json %s/db0 %s/db%d", d, d, np);
        CHECKF(rc == 0, "-np %d: clips differ from the plain run: %s", np, o);
        free(o);
        const char *clips[] = {"a", "b", "c", "d", "e"};
        for (int k = 0; k < 5; k++) {
            char pa[700], pb[700];
            snprintf(pa, sizeof(pa), "%s/db0/%s/vidgen.json", d, clips[k]);
            snprintf(pb, sizeof(pb), "%s/db%d/%s/vidgen.json", d, np, clips[k]);
            char *ma = meta_sans_timing(pa), *mbj = meta_sans_timing(pb);
            CHECKF(ma && mbj && !strcmp(ma, mbj), "-np %d clip %s: vidgen.json differs:\n%s\n%s", np, clips[k], ma ? ma : "-", mbj ? mbj : "-");
            free(ma);
            free(mbj);
        }
        char pn[700];
        snprintf(pn, sizeof(pn), "%s/db%d", d, np);
        char *got = index_statuses(pn);
        CHECKF(got && !strcmp(got, want), "-np %d batch.json: %s, plain: %s", np, got ? got : "(none)", want);
        free(got);
    }
    /* resume at another rank count: a clip whose vidgen.json is gone is redone, the rest skipped */
    o = NULL;
    rc = vg_test_sh(&o, "rm %s/db3/c/vidgen.json && " MPIRUN " -np 2 %s batch %s --out %s/db3 --model models/tiny", d, mb, jobs, d);
    CHECKF(rc == 1 && strstr(o, "1 done, 4 skipped (finished earlier), 1 failed"), "resume at -np 2: rc %d %s", rc, o);
    free(o);
    o = NULL;
    rc = vg_test_sh(&o, "diff -r -x vidgen.json -x batch.json %s/db0 %s/db3", d, d);
    CHECKF(rc == 0, "after the resume: %s", o);
    free(o);
    free(want);
}

/* the loss column of a log.jsonl, one line per logged step */
static char *losses(const char *dir) {
    char *o = NULL;
    vg_test_sh(&o, "grep -o '\"loss\": [0-9.e+-]*' %s/log.jsonl", dir);
    return o;
}

VG_TEST(dist_train_same_weights_at_1_2_3_ranks) {
    const char *mb = mpi_bin();
    if (!mb) return;
    const char *d = vg_test_tmpdir();
    char *o = NULL;
    /* log.jsonl holds the loss at steps 1, 10 and 20 */
    const char *args = "--config models/configs/tiny.train.json --steps 20 --batch 6 --groups 6 -q";
    int rc = vg_test_sh(&o, "rm -rf %s/dt0 && %s train %s --out %s/dt0 -t 2", d, plain_bin(), args, d);
    CHECKF(rc == 0, "plain train rc %d %s", rc, o);
    free(o);
    char p0[700];
    snprintf(p0, sizeof(p0), "%s/dt0", d);
    char *l0 = losses(p0);
    for (int np = 1; np <= 3; np++) {
        o = NULL;
        rc = vg_test_sh(&o, "rm -rf %s/dt%d && " MPIRUN " -np %d %s train %s --out %s/dt%d", d, np, np, mb, args, d, np);
        CHECKF(rc == 0, "-np %d: rc %d %s", np, rc, o);
        free(o);
        rc = vg_test_sh(NULL, "cmp %s/dt0/model/model.safetensors %s/dt%d/model/model.safetensors", d, d, np);
        CHECKF(rc == 0, "-np %d: weights differ from the plain build's", np);
        char pn[700];
        snprintf(pn, sizeof(pn), "%s/dt%d", d, np);
        char *ln = losses(pn);
        CHECKF(l0 && ln && !strcmp(l0, ln), "-np %d losses:\n%s\nplain:\n%s", np, ln ? ln : "-", l0 ? l0 : "-");
        free(ln);
    }
    free(l0);
    /* resumed at another rank count: 10 steps on 2 ranks, then to 20 on 3 */
    o = NULL;
    rc = vg_test_sh(&o, "rm -rf %s/dtr && " MPIRUN " -np 2 %s train %s --out %s/dtr --steps 10 && " MPIRUN " -np 3 %s train %s --out %s/dtr --resume",
                    d, mb, args, d, mb, args, d);
    CHECKF(rc == 0, "resume: rc %d %s", rc, o);
    free(o);
    CHECK(vg_test_sh(NULL, "cmp %s/dt0/model/model.safetensors %s/dtr/model/model.safetensors", d, d) == 0);
    /* the default grouping (2 groups of 4) on 2 ranks: today's single-process weights */
    const char *args2 = "--config models/configs/tiny.train.json --steps 20 --batch 8 -q";
    o = NULL;
    rc = vg_test_sh(&o, "rm -rf %s/dtd0 %s/dtd2 && %s train %s --out %s/dtd0 -t 2 && " MPIRUN " -np 2 %s train %s --out %s/dtd2", d, d,
                    plain_bin(), args2, d, mb, args2, d);
    CHECKF(rc == 0, "default groups: rc %d %s", rc, o);
    free(o);
    CHECK(vg_test_sh(NULL, "cmp %s/dtd0/model/model.safetensors %s/dtd2/model/model.safetensors", d, d) == 0);
}

/* SIGKILL of one rank mid-batch: mpirun fails, the clip being rendered has no vidgen.json;
 * the rerun at another rank count redoes only what is missing and equals the plain run. */
VG_TEST(dist_batch_killed_rank_then_resume) {
    const char *mb = mpi_bin();
    if (!mb) return;
    const char *d = vg_test_tmpdir();
    char jobs[600], *o = NULL;
    snprintf(jobs, sizeof(jobs), "%s/dist_kill.jsonl", d);
    char txt[4096] = "{\"defaults\": {\"width\": 32, \"height\": 32, \"frames\": 16, \"steps\": 8}}\n";
    for (int i = 1; i <= 8; i++) {
        size_t l = strlen(txt);
        snprintf(txt + l, sizeof(txt) - l, "{\"name\": \"k%d\", \"prompt\": \"a big red ball moving right on a blue background\", \"seed\": %d}\n", i, i);
    }
    CHECK(write_text(jobs, txt));
    /* kill the newest rank process (the pattern matches the ranks' command lines only) once the second clip is finished */
    int rc = vg_test_sh(&o, "rm -rf %s/dk %s/dkp; (" MPIRUN " -np 2 %s batch %s --out %s/dk --model models/tiny -q > %s/dk.log 2>&1; echo $? > %s/dk.rc) & "
                        "for i in $(seq 600); do [ -f %s/dk/k2/vidgen.json ] && break; sleep 0.1; done; "
                        "kill -9 $(pgrep -f '^%s batch %s --out %s/dk ' | tail -1); wait; cat %s/dk.rc",
                    d, d, mb, jobs, d, d, d, d, mb, jobs, d, d);
    CHECKF(rc == 0 && atoi(o) != 0, "the killed run should fail: rc %d, mpirun's status %s", rc, o);
    free(o);
    o = NULL;
    rc = vg_test_sh(&o, "ls %s/dk/*/vidgen.json | wc -l", d);
    int finished = atoi(o);
    free(o);
    CHECKF(finished >= 2 && finished < 8, "%d clips finished before the kill (want some, not all)", finished);
    o = NULL;
    rc = vg_test_sh(&o, MPIRUN " -np 3 %s batch %s --out %s/dk --model models/tiny", mb, jobs, d);
    char want[128];
    snprintf(want, sizeof(want), "batch: %d done, %d skipped (finished earlier), 0 failed", 8 - finished, finished);
    CHECKF(rc == 0 && strstr(o, want), "resume at -np 3: rc %d, want '%s':\n%s", rc, want, o);
    free(o);
    o = NULL;
    rc = vg_test_sh(&o, "%s batch %s --out %s/dkp --model models/tiny -q -t 2 && diff -r -x vidgen.json -x batch.json -x '*.tmp.*' %s/dk %s/dkp", plain_bin(), jobs, d, d, d);
    /* (a write cut by the kill may leave its NAME.tmp.PID behind, never a partial NAME) */
    CHECKF(rc == 0, "resumed clips differ from the plain run: %s", o);
    free(o);
}

/* SIGTERM to one rank stops every rank after the step with a checkpoint (exit 0); resuming at
 * one rank reaches the same weights as an uninterrupted run. */
VG_TEST(dist_train_sigterm_one_rank_checkpoints_all) {
    const char *mb = mpi_bin();
    if (!mb) return;
    const char *d = vg_test_tmpdir();
    const char *args = "--config models/configs/tiny.train.json --steps 400 --batch 4 --ckpt-every 1000 -q";
    char *o = NULL;
    int rc = vg_test_sh(&o, "rm -rf %s/dts %s/dtu; (" MPIRUN " -np 2 %s train %s --out %s/dts > %s/dts.log 2>&1; echo $? > %s/dts.rc) & "
                        "for i in $(seq 600); do [ -s %s/dts/log.jsonl ] && break; sleep 0.1; done; sleep 0.5; "
                        "kill -TERM $(pgrep -f '^%s train %s --out %s/dts' | tail -1); wait; cat %s/dts.rc %s/dts.log",
                    d, d, mb, args, d, d, d, d, mb, args, d, d, d);
    CHECKF(rc == 0 && atoi(o) == 0 && strstr(o, "stopped at step"), "rc %d: %s", rc, o);
    const char *at = strstr(o, "stopped at step ");
    int step = at ? atoi(at + 16) : 0;
    free(o);
    CHECKF(step > 0 && step < 400, "stopped at step %d", step);
    o = NULL;
    rc = vg_test_sh(&o, "%s train %s --out %s/dts --resume -t 1 && %s train %s --out %s/dtu -t 2 && cmp %s/dts/model/model.safetensors %s/dtu/model/model.safetensors",
                    plain_bin(), args, d, plain_bin(), args, d, d, d);
    CHECKF(rc == 0, "resumed after the stop at step %d differs from an uninterrupted run: %s", step, o);
    free(o);
}

/* One clip across ranks (vidgen generate under mpirun): frames cut into blocks with the K/V of
 * the +-K frames beside each block exchanged per layer, or all K/V with full attention; the CFG
 * branches on two halves of the ranks. The frames and vidgen.json (but timings) equal the plain
 * one-process run at -np 1, 2, 3 (and 4: CFG halves of 2 frame blocks), with the window, a window
 * wider than a block (K/V from two ranks away), full attention, without CFG, with UniPC, and with
 * the anchor image pass (1 frame: most ranks hold none). The K/V bytes each rank sends are the
 * frames its neighbours see and no more; full attention goes by Ulysses where the heads divide
 * over the ranks (-np 2) and gathers every K/V where they do not (-np 3). */
VG_TEST(dist_clip_same_frames_at_1_2_3_ranks) {
    const char *mb = mpi_bin();
    if (!mb) return;
    const char *d = vg_test_tmpdir();
    static const struct { const char *args; int np[4]; const char *cfgsplit; } cases[] = {
        {"-m models/tiny --frames 9 --steps 3", {1, 2, 3, 4}, "1"},                        /* window 2, CFG */
        {"-m models/tiny --frames 9 --steps 3", {2, 0, 0, 0}, "0"},                        /* 2 frame blocks, B 2 */
        {"-m models/tiny --frames 9 --steps 3 --temporal-window all", {2, 3, 0, 0}, "0"},  /* all K/V */
        {"-m models/tiny --frames 9 --steps 3 --temporal-window all", {2, 4, 0, 0}, "1"},
        {"-m models/tiny --frames 10 --steps 2 --temporal-window 4 --sampler unipc", {3, 0, 0, 0}, "1"},
        {"-m models/tiny --frames 7 --steps 2 --cfg-scale 1", {2, 3, 0, 0}, "1"},          /* no CFG */
        {"-m models/default --frames 5 --steps 2 --anchor 1", {3, 2, 0, 0}, "1"},          /* anchor image pass */
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char *o = NULL;
        int rc = vg_test_sh(&o, "rm -rf %s/dc0 && %s -p 'a big red ball moving right on a blue background' -s 5 %s -t 1 -q --out %s/dc0",
                            d, plain_bin(), cases[c].args, d);
        CHECKF(rc == 0, "plain: %s: rc %d %s", cases[c].args, rc, o);
        free(o);
        char p0[700];
        snprintf(p0, sizeof(p0), "%s/dc0/vidgen.json", d);
        char *want = meta_sans_timing(p0);
        for (int k = 0; k < 4 && cases[c].np[k]; k++) {
            const int np = cases[c].np[k];
            o = NULL;
            rc = vg_test_sh(&o, "rm -rf %s/dc1 && VIDGEN_DIST_STATS=1 " MPIRUN " -np %d %s -p 'a big red ball moving right on a blue background' -s 5 %s "
                                "--cfg-split %s -q --out %s/dc1 && diff -r -x vidgen.json %s/dc0 %s/dc1",
                            d, np, mb, cases[c].args, cases[c].cfgsplit, d, d, d);
            CHECKF(rc == 0, "-np %d --cfg-split %s %s: rc %d (frames differ from the plain run?) %s", np, cases[c].cfgsplit, cases[c].args, rc, o);
            if (c == 1 && o) { /* -np 2, frames [0,4) [4,9), K 2: each sends 2 frames of K and V (16 tokens x 32 floats)
                                * per call, 2 samples x 2 layers x 3 steps = 12 calls */
                CHECKF(strstr(o, "rank 0 sent 98304 bytes of K/V in 12 self-attention calls, 0 bytes in 0 CFG swaps, 12288 bytes of frames") &&
                       strstr(o, "rank 1 sent 98304 bytes of K/V in 12 self-attention calls, 0 bytes in 0 CFG swaps, 15360 bytes of frames"),
                       "bytes sent: %s", o);
            }
            if (c == 2 && np == 2 && o) /* full attention by Ulysses (2 heads over 2 ranks): per call q, k, v of the own
                              * rows for the other's head (3 x rows x 16 floats), the other's rows of the
                              * output back; rank 0 holds 64 rows, rank 1 80 */
                CHECKF(strstr(o, "rank 0 sent 208896 bytes of K/V in 12 self-attention calls") &&
                       strstr(o, "rank 1 sent 233472 bytes of K/V in 12 self-attention calls"), "Ulysses bytes: %s", o);
            if (c == 0 && np == 2 && o) /* the CFG halves: the model output (9 frames x 768 floats) swapped once per step, no K/V */
                CHECKF(strstr(o, "rank 0 sent 0 bytes of K/V in 0 self-attention calls, 82944 bytes in 3 CFG swaps, 0 bytes of frames"), "bytes sent: %s", o);
            free(o);
            char p1[700];
            snprintf(p1, sizeof(p1), "%s/dc1/vidgen.json", d);
            char *got = meta_sans_timing(p1);
            CHECKF(want && got && !strcmp(want, got), "-np %d %s: vidgen.json differs:\n%s\n%s", np, cases[c].args, want ? want : "-", got ? got : "-");
            free(got);
        }
        free(want);
    }
    /* a rank-0 refusal (frames already there) stops every rank with one message */
    char *o = NULL;
    int rc = vg_test_sh(&o, MPIRUN " -np 2 %s -p 'a red ball' -m models/tiny --frames 3 --steps 1 -q --out %s/dc1", mb, d);
    CHECKF(rc == 1 && strstr(o, "already holds frames"), "rc %d: %s", rc, o);
    free(o);
}

/* The Wan2.1 pipeline split over ranks (tiny random-weight Comfy files, real names): 17 frames
 * (5 latent frames), full attention (all K/V gathered) and --temporal-window 1 (the frames
 * beside each block), CFG halves and frame blocks: the same frames and vidgen.json (but timings)
 * as the plain one-process run; umT5 and the VAE decode ran on rank 0 only. */
VG_TEST(dist_wan_clip_same_frames_at_1_2_3_ranks) {
    const char *mb = mpi_bin();
    if (!mb) return;
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/dist_wan", vg_test_tmpdir());
    vg_wan_random_opts o;
    vg_wan_random_opts_default(&o);
    o.dit.dim = 32; o.dit.ffn_dim = 64; o.dit.heads = 2; o.dit.layers = 2; o.dit.text_dim = 32;
    o.t5 = (vg_t5_config){.vocab = 64, .dim = 32, .dim_attn = 32, .ffn = 48, .heads = 4, .layers = 2, .buckets = 32,
                          .max_dist = 128, .shared_pos = false, .eps = 1e-6f};
    o.vae.dim = 8;
    o.seed = 5;
    CHECK_OK(vg_wan_write_random(dir, &o));
    static const struct { const char *args; int np; const char *cfgsplit; } cases[] = {
        {"", 1, "1"}, {"", 2, "1"}, {"", 2, "0"}, {"", 3, "1"},
        {"--temporal-window 1", 3, "1"}, {"--temporal-window 1", 4, "1"}, {"--temporal-window 1 --sampler euler", 2, "0"},
    };
    const char *last = NULL;
    char *want = NULL;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char *out = NULL, p[800];
        int rc;
        if (!last || strcmp(last, cases[c].args)) {
            rc = vg_test_sh(&out, "rm -rf %s/dw0 && %s --model %s -p 'a red ball on the cat' --frames 17 -W 32 -H 16 --steps 2 --seed 3 -q -t 1 %s --out %s/dw0",
                            vg_test_tmpdir(), plain_bin(), dir, cases[c].args, vg_test_tmpdir());
            CHECKF(rc == 0, "plain Wan %s: rc %d %s", cases[c].args, rc, out);
            free(out);
            free(want);
            snprintf(p, sizeof(p), "%s/dw0/vidgen.json", vg_test_tmpdir());
            want = meta_sans_timing(p);
            last = cases[c].args;
        }
        out = NULL;
        rc = vg_test_sh(&out, "rm -rf %s/dw1 && " MPIRUN " -np %d %s --model %s -p 'a red ball on the cat' --frames 17 -W 32 -H 16 --steps 2 --seed 3 -q %s "
                              "--cfg-split %s --out %s/dw1 && diff -r -x vidgen.json %s/dw0 %s/dw1",
                        vg_test_tmpdir(), cases[c].np, mb, dir, cases[c].args, cases[c].cfgsplit, vg_test_tmpdir(), vg_test_tmpdir(), vg_test_tmpdir());
        CHECKF(rc == 0, "-np %d --cfg-split %s %s: rc %d (frames differ from the plain run?) %s", cases[c].np, cases[c].cfgsplit, cases[c].args, rc, out);
        free(out);
        snprintf(p, sizeof(p), "%s/dw1/vidgen.json", vg_test_tmpdir());
        char *got = meta_sans_timing(p);
        CHECKF(want && got && !strcmp(want, got), "-np %d %s: vidgen.json differs:\n%s\n%s", cases[c].np, cases[c].args, want ? want : "-", got ? got : "-");
        free(got);
    }
    free(want);
}
