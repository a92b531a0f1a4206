/* test_train.c - the trainer: a fresh tiny model's loss falls well below its start and the
 * model renders frames; a resumed run repeats an uninterrupted one step for step (bitwise);
 * 1 and 2 threads give the same weights; SIGTERM-style stop writes a checkpoint. */
#include <math.h>
#include <stdlib.h>
#include "test.h"
#include "vidgen/generate.h"
#include "vidgen/io.h"
#include "vidgen/rng.h"
#include <cjson/cJSON.h>
#include "vidgen/train.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static vg_status tiny_config(vg_train_config *c, const char *out, int steps) {
    char *txt = NULL;
    vg_status st = vg_file_read("models/configs/tiny.train.json", &txt, NULL);
    if (st) return st;
    st = vg_train_config_parse(c, txt, "tiny.train.json");
    free(txt);
    if (st) return st;
    snprintf(c->out, sizeof(c->out), "%s", out);
    c->steps = steps;
    c->quiet = true;
    return VG_OK;
}

typedef struct { int64_t stop_at; volatile int *flag; } stopper;
static void stop_cb(void *ctx, const vg_train_log *l) {
    stopper *s = ctx;
    if (s->stop_at && l->step >= s->stop_at) *s->flag = 1;
}

VG_TEST(train_loss_falls_and_model_renders) {
    char out[600];
    snprintf(out, sizeof(out), "%s/train_a", vg_test_tmpdir());
    vg_train_config c;
    CHECK_OK(tiny_config(&c, out, 120));
    double losses[120];
    CHECK_OK(vg_train_run(&c, NULL, NULL, NULL, losses));
    double first = 0, last = 0;
    for (int i = 0; i < 20; i++) first += losses[i] / 20;
    for (int i = 100; i < 120; i++) last += losses[i] / 20;
    CHECKF(last < 0.35 * first, "loss did not fall enough: first 20 steps %.4f, last 20 %.4f", first, last);
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/model", out);
    vg_model m;
    CHECK_OK(vg_model_open(&m, dir));
    /* the trained model follows the prompt at least in the background: a black background
     * renders darker than a white one (mean luma gap > 25 of 255) */
    double luma[2];
    const char *pr[2] = {"a big red ball standing still on a black background", "a big red ball standing still on a white background"};
    for (int k = 0; k < 2; k++) {
        vg_gen_params p = {.prompt = pr[k], .negative_prompt = "", .frames = 4, .width = 16, .height = 16, .steps = 8,
                           .cfg_scale = 3, .flow_shift = 2, .seed = 1, .sampler = VG_SAMPLER_EULER, .window = 2};
        uint8_t px[4 * 16 * 16 * 3];
        CHECK_OK(vg_generate(&m, &p, px, NULL, NULL, NULL, NULL));
        double s = 0;
        for (int i = 0; i < 4 * 16 * 16; i++) s += 0.299 * px[3 * i] + 0.587 * px[3 * i + 1] + 0.114 * px[3 * i + 2];
        luma[k] = s / (4 * 16 * 16);
    }
    CHECKF(luma[1] - luma[0] > 25, "background not followed: mean luma black %.1f, white %.1f", luma[0], luma[1]);
    vg_model_close(&m);
    vg_train_config_free(&c);
}

/* The tiny config (batch 4) run uninterrupted for `steps` steps in tmp/<a>, then again in
 * tmp/<b> stopped after step 5 (a checkpoint); c is left pointing at <b>. */
static vg_status full_then_stopped(vg_train_config *c, const char *a, const char *b, int steps, double *full, double *split,
                                   char *dir_a, char *dir_b) {
    snprintf(dir_a, 600, "%s/%s", vg_test_tmpdir(), a);
    snprintf(dir_b, 600, "%s/%s", vg_test_tmpdir(), b);
    vg_status st = tiny_config(c, dir_a, steps);
    if (st) return st;
    c->batch = 4; c->ckpt_every = 100;
    if ((st = vg_train_run(c, NULL, NULL, NULL, full))) return st;
    snprintf(c->out, sizeof(c->out), "%s", dir_b);
    volatile int flag = 0;
    stopper s = {5, &flag};
    st = vg_train_run(c, &flag, stop_cb, &s, split);
    return st == VG_ERR_INTERRUPTED ? VG_OK : vg_fail(VG_ERR_ARG, "stop after step 5: status %d (%s)", st, vg_last_error());
}

VG_TEST(train_resume_is_exact) {
    char a[600], b[600];
    vg_train_config c;
    double full[12], split[12];
    CHECK_OK(full_then_stopped(&c, "train_full", "train_split", 12, full, split, a, b));
    c.resume = true;
    CHECK_OK(vg_train_run(&c, NULL, NULL, NULL, split));
    for (int i = 0; i < 12; i++) CHECKF(full[i] == split[i], "step %d: loss %.9g uninterrupted vs %.9g resumed", i + 1, full[i], split[i]);
    /* and the final weights are the same bytes */
    CHECK(vg_test_sh(NULL, "cmp -s %s/model/model.safetensors %s/model/model.safetensors", a, b) == 0);
    vg_train_config_free(&c);
}

VG_TEST(train_same_weights_for_1_and_2_threads) {
#ifdef _OPENMP
    char a[600], b[600];
    snprintf(a, sizeof(a), "%s/train_t1", vg_test_tmpdir());
    snprintf(b, sizeof(b), "%s/train_t2", vg_test_tmpdir());
    vg_train_config c;
    CHECK_OK(tiny_config(&c, a, 6));
    c.batch = 4;
    int nt = omp_get_max_threads();
    double l1[6], l2[6];
    omp_set_num_threads(1);
    CHECK_OK(vg_train_run(&c, NULL, NULL, NULL, l1));
    omp_set_num_threads(2);
    snprintf(c.out, sizeof(c.out), "%s", b);
    CHECK_OK(vg_train_run(&c, NULL, NULL, NULL, l2));
    omp_set_num_threads(nt);
    for (int i = 0; i < 6; i++) CHECKF(l1[i] == l2[i], "step %d: loss %.9g (1 thread) vs %.9g (2 threads)", i + 1, l1[i], l2[i]);
    /* the checkpoint holds wall times; the exported weights must be the same bytes */
    CHECK(vg_test_sh(NULL, "cmp -s %s/model/model.safetensors %s/model/model.safetensors", a, b) == 0);
    vg_train_config_free(&c);
#endif
}

VG_TEST(train_config_errors) {
    vg_train_config c;
    CHECK(vg_train_config_parse(&c, "{\"model\": {}, \"stepz\": 3}", "t.json") == VG_ERR_FORMAT);
    CHECK(strstr(vg_last_error(), "stepz"));
    CHECK(vg_train_config_parse(&c, "{\"steps\": 3}", "t.json") == VG_ERR_FORMAT);
    CHECK(strstr(vg_last_error(), "model"));
    CHECK(vg_train_config_parse(&c, "[1,2]", "t.json") == VG_ERR_FORMAT);
    CHECK(vg_train_config_parse(&c, "{\"model\": {}, \"lr\": -1}", "t.json") == VG_ERR_FORMAT);
}

/* The schedule: linear warmup, cosine from lr to lr * min_lr_frac at steps; cosine_from starts
 * a second cosine at that step (from lr again) and leaves the steps before it alone. */
VG_TEST(train_lr_schedule_and_restart) {
    vg_train_config a, b;
    CHECK_OK(vg_train_config_parse(&a, "{\"model\": {}, \"lr\": 0.001, \"warmup\": 10, \"steps\": 110, \"min_lr_frac\": 0.1}", "t"));
    CHECK_OK(vg_train_config_parse(&b, "{\"model\": {}, \"lr\": 0.001, \"warmup\": 10, \"steps\": 110, \"min_lr_frac\": 0.1, \"cosine_from\": 60}", "t"));
    CHECK(fabs(vg_train_lr(&a, 0) - 1e-4) < 1e-12);
    CHECK(fabs(vg_train_lr(&a, 10) - 1e-3) < 1e-12);
    CHECK(fabs(vg_train_lr(&a, 60) - 0.55e-3) < 1e-12);  /* half way: the mean of lr and its floor */
    CHECK(fabs(vg_train_lr(&a, 110) - 1e-4) < 1e-12);
    CHECK(fabs(vg_train_lr(&a, 500) - 1e-4) < 1e-12);
    for (int s = 0; s < 60; s++) CHECK(vg_train_lr(&a, s) == vg_train_lr(&b, s));
    CHECK(fabs(vg_train_lr(&b, 60) - 1e-3) < 1e-12);
    CHECK(fabs(vg_train_lr(&b, 85) - 0.55e-3) < 1e-12);
    CHECK(fabs(vg_train_lr(&b, 110) - 1e-4) < 1e-12);
    vg_train_config_free(&a);
    vg_train_config_free(&b);
    CHECK(vg_train_config_parse(&a, "{\"model\": {}, \"steps\": 100, \"cosine_from\": 100}", "t.json") == VG_ERR_FORMAT);
    CHECK(strstr(vg_last_error(), "cosine_from"));
}

/* Known frames: on video steps a share prefix_frac of samples get a clean prefix of 1..frames/2
 * frames (sigma 0) and one shared sigma after it; image steps never do. */
VG_TEST(train_frame_sigmas_known_prefix) {
    vg_train_config c;
    CHECK_OK(vg_train_config_parse(&c, "{\"model\": {}, \"frames\": 8, \"prefix_frac\": 0.5, \"image_frac\": 0.2}", "t"));
    int n_video = 0, n_prefix = 0, n_image = 0, seen_k[9] = {0};
    for (int64_t step = 0; step < 500; step++) {
        bool img = vg_train_image_step(&c, step);
        n_image += img;
        for (int b = 0; b < 8; b++) {
            double sig[8];
            vg_train_frame_sigmas(&c, step, b, img, sig);
            int k = 0;
            while (k < 8 && sig[k] == 0) k++;
            CHECKF(k < 8 && sig[k] > 0 && sig[k] < 1, "step %lld sample %d: sigma %g after %d known", (long long)step, b, sig[k], k);
            for (int f = k + 1; f < 8; f++) CHECK(sig[f] == sig[k]);
            if (img) { CHECKF(k == 0, "image step %lld has %d known frames", (long long)step, k); continue; }
            n_video++; n_prefix += k > 0; seen_k[k]++;
            CHECK(k <= 4);
        }
    }
    CHECKF(n_image > 60 && n_image < 140, "image steps %d of 500 (want ~100)", n_image);
    double share = (double)n_prefix / n_video;
    CHECKF(share > 0.45 && share < 0.55, "known-prefix share %.3f (want 0.5)", share);
    for (int k = 1; k <= 4; k++) CHECKF(seen_k[k] > n_prefix / 8, "k=%d drawn %d times of %d", k, seen_k[k], n_prefix);
    c.prefix_frac = 0;
    for (int b = 0; b < 64; b++) {
        double sig[8];
        vg_train_frame_sigmas(&c, 3, b, false, sig);
        CHECK(sig[0] > 0);
    }
    vg_train_config_free(&c);
}

/* The loss of one clip: known frames (sigma 0) add nothing and get no gradient; elsewhere the
 * gradient is the derivative of the loss (central differences). */
VG_TEST(train_loss_skips_known_frames) {
    enum { C = 3, F = 4, HW = 6, N = C * F * HW };
    float pred[N], xt[N], x0[N], eps[N], dpred[N], dp2[N];
    const double sig[F] = {0.0, 0.3, 0.02, 0.9};
    for (int i = 0; i < N; i++) {
        pred[i] = 0.8f * vg_philox_normal(1, 0, (uint64_t)i); x0[i] = 0.8f * vg_philox_normal(1, 1, (uint64_t)i);
        eps[i] = vg_philox_normal(1, 2, (uint64_t)i);
        double s = sig[(i / HW) % F];
        xt[i] = (float)((1 - s) * x0[i] + s * eps[i]);
    }
    for (int x0p = 0; x0p < 2; x0p++) {
        const double norm = 7.0;
        double l = vg_train_sample_loss(dpred, pred, xt, x0, eps, sig, C, F, HW, x0p, norm);
        CHECK(l > 0);
        for (int i = 0; i < N; i++) {
            if ((i / HW) % F != 0) continue;
            CHECKF(dpred[i] == 0, "known frame value %d has gradient %g", i, dpred[i]);
            float keep = pred[i];
            pred[i] += 5.0f;
            double l2 = vg_train_sample_loss(dp2, pred, xt, x0, eps, sig, C, F, HW, x0p, norm);
            pred[i] = keep;
            CHECKF(l2 == l, "moving a known frame's prediction changed the loss %g -> %g", l, l2);
        }
        for (int i = 0; i < N; i += 5) {
            if ((i / HW) % F == 0) continue;
            float keep = pred[i];
            const float e = 1e-3f;
            pred[i] = keep + e; double lp = vg_train_sample_loss(dp2, pred, xt, x0, eps, sig, C, F, HW, x0p, norm);
            pred[i] = keep - e; double lm = vg_train_sample_loss(dp2, pred, xt, x0, eps, sig, C, F, HW, x0p, norm);
            pred[i] = keep;
            double fd = (lp - lm) / (2.0 * e) * N / norm, an = dpred[i];
            CHECKF(fabs(fd - an) <= 1e-3 * fabs(an) + 1e-4, "x0=%d value %d: fd %g analytic %g", x0p, i, fd, an);
        }
    }
}

/* A checkpoint without the pooled-text path and the text positions (dit.text_pool, text_pos)
 * continues with them: their weights are appended at zero, so the step after the resume has
 * exactly the loss of the run without them; then the new paths learn (its weights leave zero). A changed DiT shape is refused by name. */
VG_TEST(train_resume_grows_text_pool) {
    char a[600], b[600];
    vg_train_config c;
    double la[8], lb[9];
    CHECK_OK(full_then_stopped(&c, "train_grow_a", "train_grow_b", 8, la, lb, a, b));
    cJSON *mj = cJSON_Parse(c.model_json);
    cJSON_AddBoolToObject(cJSON_GetObjectItemCaseSensitive(mj, "dit"), "text_pool", true);
    cJSON_AddBoolToObject(cJSON_GetObjectItemCaseSensitive(mj, "dit"), "text_pos", true);
    free(c.model_json);
    c.model_json = cJSON_Print(mj);
    c.resume = true;
    CHECK_OK(vg_train_run(&c, NULL, NULL, NULL, lb));
    CHECKF(lb[5] == la[5], "first step with the new path: loss %.9g, without it %.9g", lb[5], la[5]);
    CHECK(lb[7] != la[7]);
    vg_model m;
    char md[700];
    snprintf(md, sizeof(md), "%s/model", b);
    CHECK_OK(vg_model_open(&m, md));
    CHECK(m.dcfg.text_pool);
    int nz = 0;
    for (int64_t i = 0; i < (int64_t)m.dcfg.dim * m.dcfg.text_dim; i++) nz += ((const float *)m.dit.w.tpool_w.d)[i] != 0;
    CHECKF(nz > m.dcfg.dim, "only %d pooled-text weights left zero", nz);
    CHECK(m.dcfg.text_pos);
    nz = 0;
    for (int64_t i = 0; i < (int64_t)m.dcfg.text_len * m.dcfg.dim; i++) nz += ((const float *)m.dit.w.tpos.d)[i] != 0;
    CHECKF(nz > m.dcfg.dim, "only %d text-position weights left zero", nz);
    vg_model_close(&m);
    /* a checkpoint that has the paths resumes with them as any other (the growth check must not
     * change the config it compares) */
    c.steps = 9;
    CHECK_OK(vg_train_run(&c, NULL, NULL, NULL, lb));
    /* a different width is not a growth */
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(mj, "dit"), "ffn_dim", cJSON_CreateNumber(48));
    free(c.model_json);
    c.model_json = cJSON_Print(mj);
    cJSON_Delete(mj);
    vg_status st = vg_train_run(&c, NULL, NULL, NULL, lb);
    CHECKF(st != VG_OK && strstr(vg_last_error(), "\"dit\""), "resume with another ffn_dim: %s", vg_last_error());
    vg_train_config_free(&c);
}
