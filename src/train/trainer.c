/* trainer.c - training loop of vidgen's own models (see include/vidgen/train.h).
 * Flow matching (Lipman et al. 2023; Wan): x_s = (1-s) x0 + s e, s = shift(sigmoid(u)),
 * u ~ N(0,1) (logit-normal, shifted as the sampler's schedule). The model predicts x0
 * (TRAINING.md: a patch holds more values than the width) or v; the loss is always on
 * v = e - x0 with v_pred = (x_s - x0_pred) / max(s, 0.05). AdamW (Loshchilov & Hutter) on
 * f32 master weights, global-norm clipping, linear warmup + cosine decay, EMA weights.
 * Parameters live in two flat segments: the DiT's and the text encoder's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "vidgen/data.h"
#include "vidgen/gemm.h"
#include "vidgen/io.h"
#include "vidgen/model.h"
#include "vidgen/rng.h"
#include "vidgen/safetensors.h"
#include "vidgen/train.h"

#define SEG 2 /* 0 = DiT, 1 = text encoder */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- config */

static vg_status jnum(const cJSON *o, const char *k, double lo, double hi, double *v, const char *what) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!it) return VG_OK;
    if (!cJSON_IsNumber(it) || it->valuedouble < lo || it->valuedouble > hi)
        return vg_fail(VG_ERR_FORMAT, "%s: \"%s\" must be a number in [%g, %g]", what, k, lo, hi);
    *v = it->valuedouble;
    return VG_OK;
}

vg_status vg_train_config_parse(vg_train_config *c, const char *json, const char *what) {
    memset(c, 0, sizeof(*c));
    snprintf(c->data, sizeof(c->data), "shapes");
    snprintf(c->out, sizeof(c->out), "runs/train");
    c->size = 32; c->frames = 8; c->batch = 8; c->steps = 1000; c->warmup = 100; c->ckpt_every = 200; c->log_every = 10;
    c->lr = 1e-3; c->min_lr_frac = 0.1; c->weight_decay = 0.01; c->beta1 = 0.9; c->beta2 = 0.99; c->grad_clip = 1.0;
    c->ema = 0.995; c->image_frac = 0.1; c->text_drop = 0.1; c->flow_shift = 2.0; c->seed = 0;
    c->amx_f32 = true;
    c->bf16 = true;
    cJSON *o = cJSON_Parse(json);
    vg_status st = VG_OK;
    if (!o || !cJSON_IsObject(o)) { cJSON_Delete(o); return vg_fail(VG_ERR_FORMAT, "%s: not a JSON object", what); }
    static const char *known[] = {"model", "data", "out", "held_out", "size", "frames", "batch", "steps", "warmup",
                                  "ckpt_every", "log_every", "lr", "min_lr_frac", "weight_decay", "beta1", "beta2",
                                  "grad_clip", "ema", "image_frac", "text_drop", "flow_shift", "seed", "max_minutes", "amx_f32", "bf16",
                                  "prefix_frac", "prefix_max", "cosine_from", "comment"};
    for (cJSON *it = o->child; it; it = it->next) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) ok |= strcmp(it->string, known[i]) == 0;
        if (!ok) { st = vg_fail(VG_ERR_FORMAT, "%s: unknown key \"%s\"", what, it->string); goto out; }
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!cJSON_IsObject(m)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"model\" must be the model's config object", what); goto out; }
    c->model_json = cJSON_Print(m);
    const cJSON *it;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "data"))) {
        if (!cJSON_IsString(it)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"data\" must be a string", what); goto out; }
        snprintf(c->data, sizeof(c->data), "%s", it->valuestring);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "out"))) {
        if (!cJSON_IsString(it)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"out\" must be a string", what); goto out; }
        snprintf(c->out, sizeof(c->out), "%s", it->valuestring);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "held_out"))) {
        if (!cJSON_IsArray(it)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"held_out\" must be an array of phrases", what); goto out; }
        c->n_held_out = cJSON_GetArraySize(it);
        c->held_out = calloc((size_t)c->n_held_out + 1, sizeof(char *));
        for (int i = 0; i < c->n_held_out; i++) {
            const cJSON *e = cJSON_GetArrayItem(it, i);
            if (!cJSON_IsString(e)) { st = vg_fail(VG_ERR_FORMAT, "%s: held_out[%d] is not a string", what, i); goto out; }
            c->held_out[i] = strdup(e->valuestring);
        }
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "amx_f32"))) {
        if (!cJSON_IsBool(it)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"amx_f32\" must be true or false", what); goto out; }
        c->amx_f32 = cJSON_IsTrue(it);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "bf16"))) {
        if (!cJSON_IsBool(it)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"bf16\" must be true or false", what); goto out; }
        c->bf16 = cJSON_IsTrue(it);
    }
    double v;
#define INT(k, lo, hi, f) v = c->f; if ((st = jnum(o, k, lo, hi, &v, what))) goto out; c->f = (int)v
#define DBL(k, lo, hi, f) v = c->f; if ((st = jnum(o, k, lo, hi, &v, what))) goto out; c->f = v
    INT("size", 4, 1024, size); INT("frames", 1, 1024, frames); INT("batch", 1, 1024, batch);
    INT("steps", 1, 100000000, steps); INT("warmup", 0, 100000000, warmup); INT("ckpt_every", 1, 100000000, ckpt_every);
    INT("log_every", 1, 100000000, log_every); INT("cosine_from", 0, 100000000, cosine_from);
    DBL("lr", 0, 1, lr); DBL("min_lr_frac", 0, 1, min_lr_frac); DBL("weight_decay", 0, 10, weight_decay);
    DBL("beta1", 0, 0.99999, beta1); DBL("beta2", 0, 0.999999, beta2); DBL("grad_clip", 0, 1e9, grad_clip);
    DBL("ema", 0, 0.999999, ema); DBL("image_frac", 0, 1, image_frac); DBL("text_drop", 0, 1, text_drop);
    DBL("flow_shift", 0.01, 100, flow_shift); DBL("max_minutes", 0, 1e7, max_minutes);
    DBL("prefix_frac", 0, 1, prefix_frac); INT("prefix_max", 0, 1024, prefix_max);
    if (c->cosine_from && c->cosine_from >= c->steps) { st = vg_fail(VG_ERR_FORMAT, "%s: \"cosine_from\" %d must be below \"steps\" %d", what, c->cosine_from, c->steps); goto out; }
    if (c->prefix_max >= c->frames) { st = vg_fail(VG_ERR_FORMAT, "%s: \"prefix_max\" %d must be below \"frames\" %d", what, c->prefix_max, c->frames); goto out; }
    v = 0; if ((st = jnum(o, "seed", 0, 9007199254740992.0, &v, what))) goto out; c->seed = (uint64_t)v;
#undef INT
#undef DBL
out:
    cJSON_Delete(o);
    if (st) vg_train_config_free(c);
    return st;
}

void vg_train_config_free(vg_train_config *c) {
    if (!c) return;
    free(c->model_json);
    for (int i = 0; i < c->n_held_out; i++) free(c->held_out[i]);
    free(c->held_out);
    c->model_json = NULL; c->held_out = NULL; c->n_held_out = 0;
}

/* ---------------------------------------------------------------- state */

typedef struct {
    vg_model m;          /* current (master) weights */
    vg_dit gd;           /* DiT gradients (same layout) */
    float *p[SEG], *g[SEG], *am[SEG], *av[SEG], *ema[SEG];
    uint8_t *decay[SEG]; /* 1 = matrix (weight decay), 0 = vector */
    int64_t n[SEG];
    int64_t step;
    cJSON *sessions;     /* [{start_step, end_step, seconds, date}] */
} tstate;

typedef struct { uint8_t *mask; int64_t off; } dmask_ctx;
static void dit_mask_fn(void *ctx, const char *name, int nd, const int64_t *s, vg_w *w) {
    dmask_ctx *d = ctx;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    memset(d->mask + d->off, nd >= 2 && !strstr(name, "modulation") && !strstr(name, "text_pos") ? 1 : 0, (size_t)n);
    d->off += n;
}

static void state_free(tstate *s) {
    vg_model_close(&s->m);
    vg_dit_free(&s->gd);
    for (int k = 0; k < SEG; k++) { free(s->am[k]); free(s->av[k]); free(s->ema[k]); free(s->decay[k]); if (k) free(s->g[k]); }
    cJSON_Delete(s->sessions);
}

static vg_status state_init(tstate *s, const vg_train_config *c) {
    memset(s, 0, sizeof(*s));
    vg_status st = vg_model_create(&s->m, c->model_json, "train config \"model\"");
    if (st) return st;
    if ((st = vg_dit_alloc_f32(&s->gd, &s->m.dcfg))) return st;
    s->n[0] = s->m.dit.n_owned; s->p[0] = s->m.dit.owned; s->g[0] = s->gd.owned;
    s->n[1] = vg_t5_param_count(&s->m.tcfg); s->p[1] = s->m.t5_params;
    s->g[1] = calloc((size_t)s->n[1], sizeof(float));
    for (int k = 0; k < SEG; k++) {
        s->am[k] = calloc((size_t)s->n[k], sizeof(float));
        s->av[k] = calloc((size_t)s->n[k], sizeof(float));
        s->ema[k] = calloc((size_t)s->n[k], sizeof(float));
        s->decay[k] = calloc((size_t)s->n[k], 1);
        if (!s->am[k] || !s->av[k] || !s->ema[k] || !s->decay[k] || !s->g[k]) return vg_fail(VG_ERR_OOM, "training state: out of memory");
    }
    dmask_ctx dm = {s->decay[0], 0};
    vg_dit_visit(&s->m.dit.cfg, &s->m.dit.w, dit_mask_fn, &dm);
    for (int64_t i = 0; i < vg_t5_tensor_count(&s->m.tcfg); i++) {
        int nd; int64_t shp[2], off;
        char nm[160];
        vg_t5_tensor_info(&s->m.tcfg, i, nm, sizeof(nm), &nd, shp, &off);
        int64_t n = nd == 2 ? shp[0] * shp[1] : shp[0];
        memset(s->decay[1] + off, nd == 2 && !strstr(nm, "pos_embedding") ? 1 : 0, (size_t)n);
    }
    vg_dit_init_random(&s->m.dit, c->seed ^ 0x5151);
    vg_t5_params_init(s->m.t5_params, &s->m.tcfg, c->seed ^ 0x7575);
    for (int k = 0; k < SEG; k++) memcpy(s->ema[k], s->p[k], sizeof(float) * (size_t)s->n[k]);
    s->sessions = cJSON_CreateArray();
    return VG_OK;
}

static const char *seg_name[SEG] = {"dit", "text_encoder"};

static vg_status ckpt_save(const tstate *s, const vg_train_config *c) {
    char path[1200];
    vg_st_writer *w = vg_st_writer_new();
    if (!w) return vg_fail(VG_ERR_OOM, "out of memory");
    vg_status st = VG_OK;
    for (int k = 0; k < SEG && !st; k++) {
        char nm[64];
        int64_t shp[1] = {s->n[k]};
        snprintf(nm, sizeof(nm), "params.%s", seg_name[k]); if (!st) st = vg_st_writer_add(w, nm, VG_DTYPE_F32, 1, shp, s->p[k]);
        snprintf(nm, sizeof(nm), "adam_m.%s", seg_name[k]); if (!st) st = vg_st_writer_add(w, nm, VG_DTYPE_F32, 1, shp, s->am[k]);
        snprintf(nm, sizeof(nm), "adam_v.%s", seg_name[k]); if (!st) st = vg_st_writer_add(w, nm, VG_DTYPE_F32, 1, shp, s->av[k]);
        snprintf(nm, sizeof(nm), "ema.%s", seg_name[k]); if (!st) st = vg_st_writer_add(w, nm, VG_DTYPE_F32, 1, shp, s->ema[k]);
    }
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)s->step);
    char *sess = cJSON_PrintUnformatted(s->sessions);
    if (!st) st = vg_st_writer_meta(w, "step", buf);
    if (!st) st = vg_st_writer_meta(w, "model_config", s->m.config_json);
    if (!st) st = vg_st_writer_meta(w, "sessions", sess);
    free(sess);
    snprintf(path, sizeof(path), "%s/ckpt.safetensors", c->out);
    if (!st) st = vg_st_writer_save(w, path);
    vg_st_writer_free(w);
    return st;
}

static vg_status ckpt_load(tstate *s, const vg_train_config *c) {
    char path[1200];
    snprintf(path, sizeof(path), "%s/ckpt.safetensors", c->out);
    vg_st_file *f = NULL;
    vg_status st = vg_st_open(&f, path);
    if (st) return st;
    const char *mc = vg_st_metadata(f, "model_config"), *stp = vg_st_metadata(f, "step"), *ss = vg_st_metadata(f, "sessions");
    if (!mc || !stp) { st = vg_fail(VG_ERR_FORMAT, "%s: not a vidgen training checkpoint (no step/model_config)", path); goto out; }
    /* the architecture must match; sampling defaults and notes ("defaults", "training", ...) may change */
    cJSON *a = cJSON_Parse(mc), *b = cJSON_Parse(s->m.config_json);
    static const char *arch[] = {"dit", "text_encoder", "vocabulary"};
    const char *diff = a && b ? NULL : "model_config";
    /* growing: a checkpoint of the same DiT without the optional text paths ("text_pool",
     * "text_pos": the last tensors of the DiT, in this order, zero at start so the model's output
     * is unchanged) continues with them; the ones it lacks must be the last ones */
    int64_t grow = 0;
    if (!diff) {
        const vg_dit_config *dc = &s->m.dcfg;
        const char *opt[2] = {"text_pool", "text_pos"};
        const bool on[2] = {dc->text_pool, dc->text_pos};
        const int64_t sz[2] = {(int64_t)dc->dim * (dc->text_dim + 1), (int64_t)dc->text_len * dc->dim};
        cJSON *ad = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(a, "dit"), true);
        cJSON *bd = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(b, "dit"), true);
        bool missing = false, ok = true;
        for (int i = 0; i < 2; i++) {
            const cJSON *it = cJSON_GetObjectItemCaseSensitive(ad, opt[i]);
            bool had = it && cJSON_IsTrue(it);
            if (on[i] && !had) { missing = true; grow += sz[i]; }
            if (on[i] && had && missing) ok = false; /* not a prefix */
            if (!on[i] && had) ok = false;
            cJSON_DeleteItemFromObjectCaseSensitive(ad, opt[i]);
            cJSON_DeleteItemFromObjectCaseSensitive(bd, opt[i]);
        }
        if (!ok || !cJSON_Compare(ad, bd, true)) grow = 0;
        cJSON_Delete(ad);
        cJSON_Delete(bd);
    }
    for (int i = 0; i < 3 && !diff; i++)
        if (!(i == 0 && grow) && !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, arch[i]), cJSON_GetObjectItemCaseSensitive(b, arch[i]), true)) diff = arch[i];
    cJSON_Delete(a); cJSON_Delete(b);
    if (diff) { st = vg_fail(VG_ERR_ARG, "%s: the checkpoint's model \"%s\" differs from the train config's", path, diff); goto out; }
    for (int k = 0; k < SEG && !st; k++) {
        char nm[64];
        int64_t shp[1] = {s->n[k] - (k == 0 ? grow : 0)};
        float *dst[4] = {s->p[k], s->am[k], s->av[k], s->ema[k]};
        const char *pre[4] = {"params", "adam_m", "adam_v", "ema"};
        for (int j = 0; j < 4 && !st; j++) {
            const vg_tensor *t;
            snprintf(nm, sizeof(nm), "%s.%s", pre[j], seg_name[k]);
            if (!(st = vg_st_require(f, nm, 1, shp, &t))) {
                if (t->dtype != VG_DTYPE_F32) st = vg_fail(VG_ERR_FORMAT, "%s: '%s' must be F32", path, nm);
                else {
                    memcpy(dst[j], t->data, sizeof(float) * (size_t)shp[0]);
                    memset(dst[j] + shp[0], 0, sizeof(float) * (size_t)(s->n[k] - shp[0]));
                }
            }
        }
    }
    if (!st) st = vg_st_check_all_used(f);
    if (!st) {
        s->step = strtoll(stp, NULL, 10);
        cJSON_Delete(s->sessions);
        s->sessions = ss ? cJSON_Parse(ss) : NULL;
        if (!s->sessions) s->sessions = cJSON_CreateArray();
    }
out:
    vg_st_close(f);
    return st;
}

static vg_status export_model(tstate *s, const vg_train_config *c) {
    /* the exported model carries the EMA weights */
    float *tmp[SEG];
    for (int k = 0; k < SEG; k++) {
        tmp[k] = malloc(sizeof(float) * (size_t)s->n[k]);
        if (!tmp[k]) { if (k) free(tmp[0]); return vg_fail(VG_ERR_OOM, "out of memory"); }
        memcpy(tmp[k], s->p[k], sizeof(float) * (size_t)s->n[k]);
        memcpy(s->p[k], s->ema[k], sizeof(float) * (size_t)s->n[k]);
    }
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s/model", c->out);
    vg_status st = vg_model_save(&s->m, dir, VG_DTYPE_F32);
    for (int k = 0; k < SEG; k++) { memcpy(s->p[k], tmp[k], sizeof(float) * (size_t)s->n[k]); free(tmp[k]); }
    return st;
}

/* ---------------------------------------------------------------- the loop */

/* Linear warmup, then a cosine from lr down to lr * min_lr_frac at `steps`. cosine_from > 0
 * starts the cosine again at that step (a fine-tune that continues a finished run). */
double vg_train_lr(const vg_train_config *c, int64_t step) {
    if (step < c->warmup) return c->lr * (double)(step + 1) / c->warmup;
    const int64_t s0 = c->cosine_from > c->warmup && step >= c->cosine_from ? c->cosine_from : c->warmup;
    double p = c->steps > s0 ? (double)(step - s0) / (c->steps - s0) : 1.0;
    if (p > 1) p = 1;
    return c->lr * (c->min_lr_frac + (1 - c->min_lr_frac) * 0.5 * (1 + cos(M_PI * p)));
}

/* uniform (0,1) draw number i of step `stream`: a pure function of (seed, stream, i) */
static double uni(uint64_t seed, uint64_t stream, uint64_t i) {
    uint32_t w[4];
    vg_philox4x32(w, seed, stream, i);
    uint64_t a = ((uint64_t)w[0] << 32 | w[1]) >> 11;
    return ((double)a + 0.5) / 9007199254740992.0;
}

bool vg_train_image_step(const vg_train_config *c, int64_t step) {
    return uni(c->seed * 1000003ull + 17, (uint64_t)step, 7) < c->image_frac;
}

void vg_train_frame_sigmas(const vg_train_config *c, int64_t step, int b, bool image_step, double *sig) {
    const uint64_t rs = c->seed * 1000003ull + 17;
    double u1 = uni(rs, (uint64_t)step, 8 * b + 1), u2 = uni(rs, (uint64_t)step, 8 * b + 2);
    double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2), sg = 1 / (1 + exp(-z)); /* logit-normal */
    sg = c->flow_shift * sg / (1 + (c->flow_shift - 1) * sg);                  /* the sampler's shift */
    /* a clean prefix of k known frames (video steps only: an image frame sees no neighbour) */
    const int pmax = c->prefix_max > 0 ? c->prefix_max : c->frames / 2;
    int k = 0;
    if (!image_step && pmax > 0 && uni(rs, (uint64_t)step, 8 * b + 3) < c->prefix_frac)
        k = 1 + (int)(uni(rs, (uint64_t)step, 8 * b + 4) * pmax);
    for (int f = 0; f < c->frames; f++) sig[f] = f < k ? 0.0 : sg;
}

double vg_train_sample_loss(float *dpred, const float *pred, const float *xt, const float *x0, const float *eps,
                            const double *sig, int64_t C, int64_t F, int64_t HW, bool predict_x0, double norm) {
    const int64_t n1 = C * F * HW;
    double dl = 0;
    for (int64_t j = 0; j < n1; j++) {
        const double sf = sig[(j / HW) % F], den = sf > 0.05 ? sf : 0.05;
        if (sf == 0) { dpred[j] = 0; continue; }
        double vt = eps[j] - x0[j], vp, d;
        if (predict_x0) { vp = (xt[j] - pred[j]) / den; d = vp - vt; dpred[j] = (float)(-2 * d / den / norm); }
        else { vp = pred[j]; d = vp - vt; dpred[j] = (float)(2 * d / norm); }
        dl += d * d;
    }
    return dl / n1;
}

vg_status vg_train_run(const vg_train_config *c, volatile int *stop, vg_train_log_fn logfn, void *lctx, double *losses) {
    tstate s;
    vg_status st = state_init(&s, c);
    vg_dataset *ds = NULL;
    /* The batch is split into NG groups (a fixed count, whatever the thread count) that run
     * forward and backward side by side, one per thread, each with its own activations and
     * gradients; the group gradients are then added in group order. So two threads share no
     * barrier inside a step, and 1 and 2 threads still give the same weights. */
    enum { NG_MAX = 2 };
    vg_dit_acts *acts[NG_MAX] = {NULL, NULL};
    vg_dit gd2;
    float *g1b = NULL;
    memset(&gd2, 0, sizeof(gd2));
    vg_t5_acts **tacts = NULL;
    float *x0 = NULL, *xt = NULL, *eps = NULL, *pred = NULL, *dpred = NULL, *ctx = NULL, *dctx = NULL;
    int32_t *ids = NULL;
    int *nids = NULL;
    float *tf = NULL;   /* [B*F] timestep of each frame */
    double *sig = NULL; /* [B*F] its sigma */
    FILE *logf = NULL;
    const int B = c->batch;
    const int64_t F = c->frames, H = c->size, W = c->size, C = 3, n1 = C * F * H * W;
    const bool amx_was = vg_gemm_f32_amx(c->amx_f32);
    const bool bf16_was = vg_gemm_bf16(c->bf16);
    if (st) goto out;
    const int64_t T = s.m.dcfg.text_len, Dt = s.m.dcfg.text_dim;
    if ((st = vg_mkdir_p(c->out))) goto out;
    if (c->resume) {
        char p[1200];
        snprintf(p, sizeof(p), "%s/ckpt.safetensors", c->out);
        FILE *t = fopen(p, "rb");
        if (t) { fclose(t); if ((st = ckpt_load(&s, c))) goto out; }
    }
    vg_heldout held = {0};
    for (int i = 0; i < c->n_held_out; i++)
        if ((st = vg_heldout_add(&held, c->held_out[i]))) { st = vg_fail(st, "held_out \"%s\": %s", c->held_out[i], vg_last_error()); goto out; }
    vg_dataset_opts dopt = {.size = c->size, .frames = c->frames, .seed = c->seed, .heldout = &held};
    if ((st = vg_dataset_open(&ds, c->data, &dopt))) goto out;
    const int NG = B % 2 == 0 ? 2 : 1, BG = B / NG;
    for (int g = 0; g < NG; g++)
        if ((st = vg_dit_acts_new(&acts[g], &s.m.dcfg, BG, F, H, W, true))) goto out;
    if (NG > 1) {
        if ((st = vg_dit_alloc_f32(&gd2, &s.m.dcfg))) goto out;
        if (!(g1b = calloc((size_t)s.n[1], sizeof(float)))) { st = vg_fail(VG_ERR_OOM, "training buffers: out of memory"); goto out; }
    }
    const int nthr_total =
#ifdef _OPENMP
        omp_get_max_threads();
#else
        1;
#endif
    const int nouter = NG < nthr_total ? NG : nthr_total;
    tacts = calloc((size_t)B, sizeof(*tacts));
    x0 = malloc(sizeof(float) * n1 * B); xt = malloc(sizeof(float) * n1 * B); eps = malloc(sizeof(float) * n1 * B);
    pred = malloc(sizeof(float) * n1 * B); dpred = malloc(sizeof(float) * n1 * B);
    ctx = malloc(sizeof(float) * B * T * Dt); dctx = malloc(sizeof(float) * B * T * Dt);
    ids = malloc(sizeof(int32_t) * B * T); nids = malloc(sizeof(int) * B);
    tf = malloc(sizeof(float) * B * F); sig = malloc(sizeof(double) * B * F);
    if (!tf || !sig || !tacts || !x0 || !xt || !eps || !pred || !dpred || !ctx || !dctx || !ids || !nids) { st = vg_fail(VG_ERR_OOM, "training buffers: out of memory"); goto out; }
    for (int b = 0; b < B; b++)
        if (!(tacts[b] = vg_t5_acts_new(&s.m.tcfg, T, true))) { st = vg_fail(VG_ERR_OOM, "text encoder activations: out of memory"); goto out; }
    char lp[1200];
    snprintf(lp, sizeof(lp), "%s/log.jsonl", c->out);
    logf = fopen(lp, "a");
    if (!logf) { st = vg_fail(VG_ERR_IO, "%s: cannot open for appending", lp); goto out; }

    const double t_start = now_s();
    const int64_t step0 = s.step;
    {
        cJSON *ses = cJSON_CreateObject();
        cJSON_AddNumberToObject(ses, "start_step", (double)step0);
        cJSON_AddNumberToObject(ses, "end_step", (double)step0);
        cJSON_AddNumberToObject(ses, "seconds", 0);
        cJSON_AddStringToObject(ses, "date", "");
        cJSON_AddItemToArray(s.sessions, ses);
    }
    double t_prev = now_s();
    while (s.step < c->steps) {
        const int64_t step = s.step;
        const uint64_t rs = c->seed * 1000003ull + 17;
        /* -- data: sample index step*B+b; caption dropped with prob text_drop */
        for (int b = 0; b < B; b++) {
            char cap[512];
            if ((st = vg_dataset_sample(ds, (uint64_t)(step * B + b), x0 + b * n1, cap, sizeof(cap)))) goto out;
            if (uni(rs, (uint64_t)step, 8 * b + 0) < c->text_drop) cap[0] = 0;
            char *unk = NULL;
            if ((st = vg_model_tokenize(&s.m, cap, ids + b * T, &nids[b], &unk))) goto out;
            if (unk) { st = vg_fail(VG_ERR_FORMAT, "caption \"%s\" has words outside the model's vocabulary: %s", cap, unk); free(unk); goto out; }
        }
        /* -- text encoder forward (real tokens only), zero padding to text_len */
        memset(ctx, 0, sizeof(float) * B * T * Dt);
        /* per-sample work in parallel over the batch (each sample by one thread: deterministic) */
        vg_status bst[1024];
        #pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++) bst[b] = vg_t5_forward(ctx + b * T * Dt, tacts[b], &s.m.t5, ids + b * T, nids[b]);
        for (int b = 0; b < B; b++)
            if ((st = bst[b])) goto out;
        /* -- noise level and noised input */
        const bool image_step = vg_train_image_step(c, step);
        int window = image_step ? 0 : s.m.def.window; /* image steps: frames alone */
        #pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++) {
            vg_train_frame_sigmas(c, step, b, image_step, sig + b * F);
            vg_philox_fill_normal(eps + b * n1, n1, c->seed + 1, (uint64_t)(step * B + b));
            for (int64_t f = 0; f < F; f++) {
                double sf = sig[b * F + f];
                tf[b * F + f] = (float)(1000 * sf);
                for (int64_t ch = 0; ch < C; ch++) {
                    int64_t o = b * n1 + (ch * F + f) * H * W;
                    for (int64_t j = 0; j < H * W; j++) xt[o + j] = (float)((1 - sf) * x0[o + j] + sf * eps[o + j]);
                }
            }
        }
        {
            vg_status gst[NG_MAX] = {VG_OK, VG_OK};
            #pragma omp parallel for schedule(static) num_threads(nouter)
            for (int g = 0; g < NG; g++)
                gst[g] = vg_dit_forward_tf(&s.m.dit, acts[g], pred + (int64_t)g * BG * n1, xt + (int64_t)g * BG * n1,
                                           tf + (int64_t)g * BG * F, ctx + (int64_t)g * BG * T * Dt, BG, F, H, W, window, 0, NULL);
            for (int g = 0; g < NG; g++)
                if ((st = gst[g])) goto out;
        }
        /* -- loss on v and its gradient (not on known frames: sigma 0) */
        double loss = 0, bl[1024];
        #pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++)
            bl[b] = vg_train_sample_loss(dpred + b * n1, pred + b * n1, xt + b * n1, x0 + b * n1, eps + b * n1,
                                         sig + b * F, C, F, H * W, s.m.dcfg.predict_x0, (double)(n1 * B));
        for (int b = 0; b < B; b++) loss += bl[b];
        loss /= B;
        if (!isfinite(loss)) { st = vg_fail(VG_ERR_ARG, "loss is %g at step %lld (lower the learning rate)", loss, (long long)step); goto out; }
        /* -- backward */
        for (int k = 0; k < SEG; k++) memset(s.g[k], 0, sizeof(float) * (size_t)s.n[k]);
        if (NG > 1) {
            memset(gd2.owned, 0, sizeof(float) * (size_t)s.n[0]);
            memset(g1b, 0, sizeof(float) * (size_t)s.n[1]);
        }
        {
            vg_status gst[NG_MAX] = {VG_OK, VG_OK};
            #pragma omp parallel for schedule(static) num_threads(nouter)
            for (int g = 0; g < NG; g++) {
                gst[g] = vg_dit_backward(&s.m.dit, acts[g], g ? &gd2 : &s.gd, dctx + (int64_t)g * BG * T * Dt,
                                         dpred + (int64_t)g * BG * n1);
                for (int b = g * BG; b < (g + 1) * BG && gst[g] == VG_OK; b++)
                    gst[g] = vg_t5_backward(g ? g1b : s.g[1], tacts[b], &s.m.t5, dctx + b * T * Dt);
            }
            for (int g = 0; g < NG; g++)
                if ((st = gst[g])) goto out;
            if (NG > 1) {
                float *a0 = s.g[0], *a1 = s.g[1];
                const float *b0 = gd2.owned, *b1 = g1b;
                #pragma omp parallel for schedule(static)
                for (int64_t i = 0; i < s.n[0]; i++) a0[i] += b0[i];
                #pragma omp parallel for schedule(static)
                for (int64_t i = 0; i < s.n[1]; i++) a1[i] += b1[i];
            }
        }
        /* -- clip, AdamW, EMA */
        double gn = 0;
        for (int k = 0; k < SEG; k++) {
            /* fixed chunks of 2^16 summed in order: the same value at any thread count */
            const int64_t CH = 1 << 16, nch = (s.n[k] + CH - 1) / CH;
            double part[256];
            const float *g = s.g[k];
            for (int64_t c0 = 0; c0 < nch; c0 += 256) {
                int64_t nc = nch - c0 < 256 ? nch - c0 : 256;
                #pragma omp parallel for schedule(static)
                for (int64_t c = 0; c < nc; c++) {
                    int64_t i0 = (c0 + c) * CH, i1 = i0 + CH < s.n[k] ? i0 + CH : s.n[k];
                    double acc = 0;
                    for (int64_t i = i0; i < i1; i++) acc += (double)g[i] * g[i];
                    part[c] = acc;
                }
                for (int64_t c = 0; c < nc; c++) gn += part[c];
            }
        }
        gn = sqrt(gn);
        double scale = (c->grad_clip > 0 && gn > c->grad_clip) ? c->grad_clip / gn : 1.0;
        double lr = vg_train_lr(c, step), b1 = c->beta1, b2 = c->beta2;
        double bc1 = 1 - pow(b1, (double)(step + 1)), bc2 = 1 - pow(b2, (double)(step + 1));
        double ed = c->ema < (1.0 + step) / (10.0 + step) ? c->ema : (1.0 + step) / (10.0 + step);
        for (int k = 0; k < SEG; k++) {
            float *p = s.p[k], *g = s.g[k], *m = s.am[k], *v = s.av[k], *e = s.ema[k];
            const uint8_t *dk = s.decay[k];
            #pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < s.n[k]; i++) {
                double gi = g[i] * scale;
                m[i] = (float)(b1 * m[i] + (1 - b1) * gi);
                v[i] = (float)(b2 * v[i] + (1 - b2) * gi * gi);
                double upd = (m[i] / bc1) / (sqrt(v[i] / bc2) + 1e-8);
                double pi = p[i];
                if (dk[i]) pi -= lr * c->weight_decay * pi;
                p[i] = (float)(pi - lr * upd);
                e[i] = (float)(ed * e[i] + (1 - ed) * p[i]);
            }
        }
        s.step++;
        if (losses) losses[step] = loss;
        double tn = now_s(), dt = tn - t_prev;
        t_prev = tn;
        vg_train_log L = {step + 1, loss, lr, dt, B / dt, gn};
        if ((step + 1) % c->log_every == 0 || step + 1 == c->steps || step == step0) {
            fprintf(logf, "{\"step\": %lld, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.4f, \"step_s\": %.4f, \"clips_per_s\": %.3f, \"window\": %d}\n",
                    (long long)(step + 1), loss, lr, gn, dt, B / dt, window);
            fflush(logf);
        }
        if (logfn) logfn(lctx, &L);
        bool out_of_time = c->max_minutes > 0 && (tn - t_start) > c->max_minutes * 60;
        bool stopping = (stop && *stop) || out_of_time;
        if (s.step % c->ckpt_every == 0 || s.step == c->steps || stopping) {
            /* this session's entry (the last one): steps, wall time, date */
            cJSON *ses = cJSON_GetArrayItem(s.sessions, cJSON_GetArraySize(s.sessions) - 1);
            time_t now = time(NULL);
            char tb[40];
            strftime(tb, sizeof(tb), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
            cJSON_ReplaceItemInObject(ses, "end_step", cJSON_CreateNumber((double)s.step));
            cJSON_ReplaceItemInObject(ses, "seconds", cJSON_CreateNumber(tn - t_start));
            cJSON_ReplaceItemInObject(ses, "date", cJSON_CreateString(tb));
            if ((st = ckpt_save(&s, c))) goto out;
            if ((st = export_model(&s, c))) goto out;
        }
        if (stopping) { st = vg_fail(VG_ERR_INTERRUPTED, "stopped at step %lld; checkpoint saved in %s", (long long)s.step, c->out); goto out; }
    }
    /* resumed from the last step's checkpoint (a run killed between writing it and exporting the
     * model): the export is what is left, else model/ stays one checkpoint behind */
    if (step0 >= c->steps) st = export_model(&s, c);
out:
    vg_gemm_f32_amx(amx_was);
    vg_gemm_bf16(bf16_was);
    if (logf) fclose(logf);
    for (int b = 0; tacts && b < B; b++) vg_t5_acts_free(tacts[b]);
    free(tacts);
    for (int g = 0; g < NG_MAX; g++) vg_dit_acts_free(acts[g]);
    vg_dit_free(&gd2);
    free(g1b);
    vg_dataset_free(ds);
    free(x0); free(xt); free(eps); free(pred); free(dpred); free(ctx); free(dctx); free(ids); free(nids); free(tf); free(sig);
    state_free(&s);
    return st;
}
