/* dit.c - Wan2.1 DiT (wan/modules/model.py: WanModel, WanAttentionBlock, Head) with vidgen's
 * temporal window, forward and backward. Spec: ../shared/WAN.md §1.
 * Activations are [B*L, D] (tokens of a sample frame-major, samples one after another), so the
 * linear layers run as one GEMM over the whole batch; attention and adaLN run per sample.
 * Legend: B batch, L tokens per sample, D dim, FF ffn dim, T text_len, H heads, hd head dim. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "vidgen/attn.h"
#include "vidgen/dit.h"
#include "vidgen/gemm.h"
#include "vidgen/ops.h"
#include "vidgen/rng.h"

/* ---------------------------------------------------------------- config */

void vg_dit_config_wan13b(vg_dit_config *c) {
    *c = (vg_dit_config){.in_dim = 16, .out_dim = 16, .patch = {1, 2, 2}, .dim = 1536, .ffn_dim = 8960,
                         .heads = 12, .layers = 30, .freq_dim = 256, .text_len = 512, .text_dim = 4096,
                         .eps = 1e-6f, .rope_theta = 10000.0, .window = -1, .predict_x0 = false};
}

static vg_status json_int(const cJSON *o, const char *k, int *v, const char *what) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!it) return VG_OK;
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= -2147483648.0 && it->valuedouble <= 2147483647.0) ||
        it->valuedouble != (double)(int)it->valuedouble) /* range first: the cast of a huge value is undefined */
        return vg_fail(VG_ERR_FORMAT, "%s: \"%s\" must be an integer", what, k);
    *v = (int)it->valuedouble;
    return VG_OK;
}

vg_status vg_dit_config_from_json(vg_dit_config *c, const char *json, const char *what) {
    cJSON *o = cJSON_Parse(json);
    vg_status st = VG_OK;
    if (!o || !cJSON_IsObject(o)) { cJSON_Delete(o); return vg_fail(VG_ERR_FORMAT, "%s: config is not a JSON object", what); }
    if ((st = json_int(o, "dim", &c->dim, what)) || (st = json_int(o, "ffn_dim", &c->ffn_dim, what)) ||
        (st = json_int(o, "freq_dim", &c->freq_dim, what)) || (st = json_int(o, "num_heads", &c->heads, what)) ||
        (st = json_int(o, "num_layers", &c->layers, what)) || (st = json_int(o, "in_dim", &c->in_dim, what)) ||
        (st = json_int(o, "out_dim", &c->out_dim, what)) || (st = json_int(o, "text_len", &c->text_len, what)) ||
        (st = json_int(o, "text_dim", &c->text_dim, what)) || (st = json_int(o, "window", &c->window, what)))
        goto out;
    const cJSON *it;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "eps"))) {
        if (!cJSON_IsNumber(it)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"eps\" must be a number", what); goto out; }
        c->eps = (float)it->valuedouble;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "rope_theta"))) {
        if (!cJSON_IsNumber(it)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"rope_theta\" must be a number", what); goto out; }
        c->rope_theta = it->valuedouble;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "patch_size"))) {
        if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 3) { st = vg_fail(VG_ERR_FORMAT, "%s: \"patch_size\" must be [t,h,w]", what); goto out; }
        for (int i = 0; i < 3; i++) {
            const cJSON *e = cJSON_GetArrayItem(it, i);
            if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 64) { st = vg_fail(VG_ERR_FORMAT, "%s: bad \"patch_size\" entry", what); goto out; }
            c->patch[i] = (int)e->valuedouble;
        }
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "prediction"))) {
        if (!cJSON_IsString(it) || (strcmp(it->valuestring, "x0") && strcmp(it->valuestring, "v"))) {
            st = vg_fail(VG_ERR_FORMAT, "%s: \"prediction\" must be \"x0\" or \"v\"", what); goto out;
        }
        c->predict_x0 = strcmp(it->valuestring, "x0") == 0;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "pos_embed"))) {
        if (!cJSON_IsString(it) || (strcmp(it->valuestring, "sincos2d") && strcmp(it->valuestring, "none"))) {
            st = vg_fail(VG_ERR_FORMAT, "%s: \"pos_embed\" must be \"sincos2d\" or \"none\"", what); goto out;
        }
        c->pos2d = strcmp(it->valuestring, "sincos2d") == 0;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "text_pool"))) {
        if (!cJSON_IsBool(it)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"text_pool\" must be true or false", what); goto out; }
        c->text_pool = cJSON_IsTrue(it);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "text_pos"))) {
        if (!cJSON_IsBool(it)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"text_pos\" must be true or false", what); goto out; }
        c->text_pos = cJSON_IsTrue(it);
    }
    if (c->pos2d && c->dim % 4) { st = vg_fail(VG_ERR_FORMAT, "%s: \"pos_embed\": \"sincos2d\" needs dim %% 4 == 0 (dim %d)", what, c->dim); goto out; }
    if (c->patch[0] != 1) { st = vg_fail(VG_ERR_UNSUPPORTED, "%s: temporal patch size %d (only 1 is supported)", what, c->patch[0]); goto out; }
    if (c->dim <= 0 || c->heads <= 0 || c->dim % c->heads || (c->dim / c->heads) % 2 || c->layers <= 0 ||
        c->ffn_dim <= 0 || c->freq_dim <= 0 || c->freq_dim % 2 || c->in_dim <= 0 || c->out_dim <= 0 ||
        c->text_len <= 0 || c->text_dim <= 0) {
        st = vg_fail(VG_ERR_FORMAT, "%s: inconsistent DiT config (dim %d, heads %d, layers %d, ffn %d, freq %d)",
                     what, c->dim, c->heads, c->layers, c->ffn_dim, c->freq_dim);
        goto out;
    }
out:
    cJSON_Delete(o);
    return st;
}

/* ---------------------------------------------------------------- parameters */

void vg_dit_visit(vg_dit_config *c, vg_dit_weights *w, vg_dit_visit_fn fn, void *ctx) {
    int64_t D = c->dim, FF = c->ffn_dim, ph = c->patch[1], pw = c->patch[2];
    char n[128];
#define V1(name, a, field) do { int64_t s_[1] = {a}; fn(ctx, name, 1, s_, field); } while (0)
#define V2(name, a, b, field) do { int64_t s_[2] = {a, b}; fn(ctx, name, 2, s_, field); } while (0)
#define V3(name, a, b, d, field) do { int64_t s_[3] = {a, b, d}; fn(ctx, name, 3, s_, field); } while (0)
    { int64_t s[5] = {D, c->in_dim, 1, ph, pw}; fn(ctx, "patch_embedding.weight", 5, s, &w->patch_w); }
    V1("patch_embedding.bias", D, &w->patch_b);
    V2("text_embedding.0.weight", D, c->text_dim, &w->text0_w); V1("text_embedding.0.bias", D, &w->text0_b);
    V2("text_embedding.2.weight", D, D, &w->text2_w); V1("text_embedding.2.bias", D, &w->text2_b);
    V2("time_embedding.0.weight", D, c->freq_dim, &w->time0_w); V1("time_embedding.0.bias", D, &w->time0_b);
    V2("time_embedding.2.weight", D, D, &w->time2_w); V1("time_embedding.2.bias", D, &w->time2_b);
    V2("time_projection.1.weight", 6 * D, D, &w->tproj_w); V1("time_projection.1.bias", 6 * D, &w->tproj_b);
    for (int i = 0; i < c->layers; i++) {
        vg_dit_block *b = &w->blk[i];
#define BN(s) (snprintf(n, sizeof(n), "blocks.%d.%s", i, s), n)
        V3(BN("modulation"), 1, 6, D, &b->modulation);
        V2(BN("self_attn.q.weight"), D, D, &b->sa_q_w); V1(BN("self_attn.q.bias"), D, &b->sa_q_b);
        V2(BN("self_attn.k.weight"), D, D, &b->sa_k_w); V1(BN("self_attn.k.bias"), D, &b->sa_k_b);
        V2(BN("self_attn.v.weight"), D, D, &b->sa_v_w); V1(BN("self_attn.v.bias"), D, &b->sa_v_b);
        V2(BN("self_attn.o.weight"), D, D, &b->sa_o_w); V1(BN("self_attn.o.bias"), D, &b->sa_o_b);
        V1(BN("self_attn.norm_q.weight"), D, &b->sa_norm_q); V1(BN("self_attn.norm_k.weight"), D, &b->sa_norm_k);
        V1(BN("norm3.weight"), D, &b->norm3_w); V1(BN("norm3.bias"), D, &b->norm3_b);
        V2(BN("cross_attn.q.weight"), D, D, &b->ca_q_w); V1(BN("cross_attn.q.bias"), D, &b->ca_q_b);
        V2(BN("cross_attn.k.weight"), D, D, &b->ca_k_w); V1(BN("cross_attn.k.bias"), D, &b->ca_k_b);
        V2(BN("cross_attn.v.weight"), D, D, &b->ca_v_w); V1(BN("cross_attn.v.bias"), D, &b->ca_v_b);
        V2(BN("cross_attn.o.weight"), D, D, &b->ca_o_w); V1(BN("cross_attn.o.bias"), D, &b->ca_o_b);
        V1(BN("cross_attn.norm_q.weight"), D, &b->ca_norm_q); V1(BN("cross_attn.norm_k.weight"), D, &b->ca_norm_k);
        V2(BN("ffn.0.weight"), FF, D, &b->ffn0_w); V1(BN("ffn.0.bias"), FF, &b->ffn0_b);
        V2(BN("ffn.2.weight"), D, FF, &b->ffn2_w); V1(BN("ffn.2.bias"), D, &b->ffn2_b);
#undef BN
    }
    V3("head.modulation", 1, 2, D, &w->head_mod);
    V2("head.head.weight", (int64_t)c->out_dim * ph * pw, D, &w->head_w);
    V1("head.head.bias", (int64_t)c->out_dim * ph * pw, &w->head_b);
    if (c->text_pool) { /* last, so a checkpoint without them is a prefix of one with them */
        V2("text_pool.weight", D, c->text_dim, &w->tpool_w);
        V1("text_pool.bias", D, &w->tpool_b);
    }
    if (c->text_pos) V2("text_pos.weight", c->text_len, D, &w->tpos);
#undef V1
#undef V2
#undef V3
}

static void count_fn(void *ctx, const char *name, int nd, const int64_t *s, vg_w *w) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    *(int64_t *)ctx += n;
}

int64_t vg_dit_param_count(const vg_dit_config *cfg) {
    vg_dit_config c = *cfg;
    vg_dit_weights w = {0};
    w.blk = calloc((size_t)c.layers, sizeof(vg_dit_block));
    int64_t n = 0;
    vg_dit_visit(&c, &w, count_fn, &n);
    free(w.blk);
    return n;
}

typedef struct { float *base; int64_t off; } carve_ctx;
static void carve_fn(void *ctx, const char *name, int nd, const int64_t *s, vg_w *w) {
    carve_ctx *cc = ctx;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    w->d = cc->base + cc->off;
    w->t = VG_DTYPE_F32;
    cc->off += n;
}

vg_status vg_dit_alloc_f32(vg_dit *m, const vg_dit_config *cfg) {
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    m->n_owned = vg_dit_param_count(cfg);
    m->owned = calloc((size_t)m->n_owned, sizeof(float));
    m->w.blk = calloc((size_t)cfg->layers, sizeof(vg_dit_block));
    if (!m->owned || !m->w.blk) { vg_dit_free(m); return vg_fail(VG_ERR_OOM, "DiT: cannot allocate %lld parameters", (long long)m->n_owned); }
    carve_ctx cc = {m->owned, 0};
    vg_dit_visit(&m->cfg, &m->w, carve_fn, &cc);
    return VG_OK;
}

typedef struct { const vg_st_file *st; const char *prefix; vg_status st_err; float *vec; int64_t vec_off; int pass; } load_ctx;
static void load_fn(void *ctx, const char *name, int nd, const int64_t *s, vg_w *w) {
    load_ctx *lc = ctx;
    if (lc->st_err) return;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    bool vec = nd == 1 || strstr(name, "modulation") != NULL || strcmp(name, "text_pos.weight") == 0; /* f32 copy */
    if (lc->pass == 0) { if (vec) lc->vec_off += n; return; }
    char full[256];
    snprintf(full, sizeof(full), "%s%s", lc->prefix ? lc->prefix : "", name);
    const vg_tensor *t;
    vg_status st = vg_st_require(lc->st, full, nd, s, &t);
    if (st) { lc->st_err = st; return; }
    if (t->dtype != VG_DTYPE_F32 && t->dtype != VG_DTYPE_F16 && t->dtype != VG_DTYPE_BF16) {
        lc->st_err = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' has dtype %s (expected F32, F16 or BF16)",
                             vg_st_path(lc->st), full, vg_dtype_name(t->dtype));
        return;
    }
    if (vec) { /* small vectors: one f32 copy so elementwise code reads floats */
        float *dst = lc->vec + lc->vec_off;
        vg_to_f32(dst, t->data, t->dtype, n);
        w->d = dst; w->t = VG_DTYPE_F32;
        lc->vec_off += n;
    } else { w->d = t->data; w->t = t->dtype; }
}

vg_status vg_dit_load(vg_dit *m, const vg_dit_config *cfg, const vg_st_file *st, const char *prefix) {
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    m->w.blk = calloc((size_t)cfg->layers, sizeof(vg_dit_block));
    if (!m->w.blk) return vg_fail(VG_ERR_OOM, "DiT: out of memory");
    load_ctx lc = {st, prefix, VG_OK, NULL, 0, 0};
    vg_dit_visit(&m->cfg, &m->w, load_fn, &lc);
    m->n_owned = lc.vec_off;
    m->owned = malloc(sizeof(float) * (size_t)(lc.vec_off ? lc.vec_off : 1));
    if (!m->owned) { vg_dit_free(m); return vg_fail(VG_ERR_OOM, "DiT: out of memory"); }
    lc.vec = m->owned; lc.vec_off = 0; lc.pass = 1;
    vg_dit_visit(&m->cfg, &m->w, load_fn, &lc);
    if (lc.st_err) { vg_dit_free(m); return lc.st_err; }
    return VG_OK;
}

void vg_dit_free(vg_dit *m) {
    if (!m) return;
    free(m->owned);
    free(m->w.blk);
    for (int i = 0; i < m->n_bufs; i++) free(m->bufs[i]);
    free(m->bufs);
    memset(m, 0, sizeof(*m));
}

typedef struct { vg_rng rng; } init_ctx;
static void init_fn(void *ctx, const char *name, int nd, const int64_t *s, vg_w *w) {
    init_ctx *ic = ctx;
    float *p = w->d;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    if (strstr(name, "norm") && strstr(name, "weight")) { for (int64_t i = 0; i < n; i++) p[i] = 1.0f; return; }
    if (strstr(name, "modulation")) { /* Wan: randn / sqrt(dim) */
        for (int64_t i = 0; i < n; i++) p[i] = (float)(vg_rng_normal(&ic->rng) / sqrt((double)s[nd - 1]));
        return;
    }
    if (nd == 1) { for (int64_t i = 0; i < n; i++) p[i] = 0.0f; return; }
    int64_t fan_out = s[0], fan_in = n / s[0];
    double a = sqrt(6.0 / (double)(fan_in + fan_out)); /* xavier uniform */
    if (strcmp(name, "head.head.weight") == 0) a = 0.0; /* Wan zero-inits the head */
    if (strcmp(name, "text_pool.weight") == 0 || strcmp(name, "text_pos.weight") == 0) a = 0.0; /* start as no path */
    for (int64_t i = 0; i < n; i++) p[i] = (float)((2.0 * vg_rng_uniform(&ic->rng) - 1.0) * a);
}

void vg_dit_init_random(vg_dit *m, uint64_t seed) {
    init_ctx ic;
    vg_rng_seed(&ic.rng, seed);
    vg_dit_visit(&m->cfg, &m->w, init_fn, &ic);
}

/* ---------------------------------------------------------------- activations */

typedef struct {
    float *mod;                                  /* [B*F,6,D] modulation + e0 (a row per frame) */
    float *x_in, *ln1_m, *ln1_r, *a1;            /* [BL,D] [BL] [BL] [BL,D] */
    float *q, *k, *q_r, *k_r, *qr, *kr, *v;      /* pre-norm q,k; rstd; roped; v */
    float *o, *lse, *sa_y, *x1;                  /* attn out, [B,H,L], proj out, residual */
    float *ln3_m, *ln3_r, *n3, *cq, *cq_r, *cqn; /* cross-attn */
    float *ck, *ck_r, *ckn, *cv;                 /* [BT,D] */
    float *co, *clse, *ca_y, *x2;
    float *ln2_m, *ln2_r, *a2, *h, *gh, *f_y;    /* ffn: h,gh [BL,FF] */
} blk_acts;

struct vg_dit_acts {
    vg_dit_config cfg;
    int B; int64_t F, H, W, Hg, Wg, L, T;
    int window; int64_t f_offset;
    bool save, have_fwd;
    float *mem; int64_t n_mem;
    float *tok, *tf, *sin, *e1, *e1s, *e, *es, *e0, *ctx, *c1, *cg, *c; /* tf..e0: a row per frame */
    float *pool, *tp, *g_tp, *g_pool;            /* text_pool: [B,text_dim] mean, [B,D] projection */
    blk_acts *blk; int n_slots;
    float *xf, *lnh_m, *lnh_r, *ah, *hmod, *hout;
    /* backward scratch */
    float *g_x, *g_x2, *g_t1, *g_t2, *g_q, *g_k, *g_v, *g_ln, *g_h, *g_h2, *g_c, *g_ck, *g_cv, *g_ck2, *g_cv2;
    float *g_mod, *g_e0, *g_e, *g_es, *g_e1, *g_e1s, *g_hmod, *g_tok, *g_hout, *g_c1;
};

/* Carves all buffers from one block (or just counts when base == NULL). */
static int64_t acts_layout(struct vg_dit_acts *a, float *base) {
    const vg_dit_config *c = &a->cfg;
    int64_t B = a->B, L = a->L, T = a->T, D = c->dim, FF = c->ffn_dim, H = c->heads;
    int64_t BL = B * L, BT = B * T, NM = B * a->F, Pin = (int64_t)c->in_dim * c->patch[1] * c->patch[2];
    int64_t Pout = (int64_t)c->out_dim * c->patch[1] * c->patch[2];
    int64_t off = 0;
#define TAKE(p, n) do { p = base ? base + off : NULL; off += ((int64_t)(n) + 15) & ~(int64_t)15; } while (0)
    TAKE(a->tok, BL * Pin); TAKE(a->tf, NM); TAKE(a->sin, NM * c->freq_dim); TAKE(a->e1, NM * D); TAKE(a->e1s, NM * D);
    TAKE(a->e, NM * D); TAKE(a->es, NM * D); TAKE(a->e0, NM * 6 * D);
    TAKE(a->pool, B * c->text_dim); TAKE(a->tp, B * D);
    TAKE(a->ctx, BT * c->text_dim); TAKE(a->c1, BT * D); TAKE(a->cg, BT * D); TAKE(a->c, BT * D);
    for (int s = 0; s < a->n_slots; s++) {
        blk_acts *k = &a->blk[s];
        TAKE(k->mod, NM * 6 * D); TAKE(k->x_in, BL * D); TAKE(k->ln1_m, BL); TAKE(k->ln1_r, BL); TAKE(k->a1, BL * D);
        TAKE(k->q, BL * D); TAKE(k->k, BL * D); TAKE(k->q_r, BL); TAKE(k->k_r, BL); TAKE(k->qr, BL * D);
        TAKE(k->kr, BL * D); TAKE(k->v, BL * D); TAKE(k->o, BL * D); TAKE(k->lse, B * H * L);
        TAKE(k->sa_y, BL * D); TAKE(k->x1, BL * D); TAKE(k->ln3_m, BL); TAKE(k->ln3_r, BL); TAKE(k->n3, BL * D);
        TAKE(k->cq, BL * D); TAKE(k->cq_r, BL); TAKE(k->cqn, BL * D); TAKE(k->ck, BT * D); TAKE(k->ck_r, BT);
        TAKE(k->ckn, BT * D); TAKE(k->cv, BT * D); TAKE(k->co, BL * D); TAKE(k->clse, B * H * L);
        TAKE(k->ca_y, BL * D); TAKE(k->x2, BL * D); TAKE(k->ln2_m, BL); TAKE(k->ln2_r, BL); TAKE(k->a2, BL * D);
        TAKE(k->h, BL * FF); TAKE(k->gh, BL * FF); TAKE(k->f_y, BL * D);
    }
    TAKE(a->xf, BL * D); TAKE(a->lnh_m, BL); TAKE(a->lnh_r, BL); TAKE(a->ah, BL * D);
    TAKE(a->hmod, NM * 2 * D); TAKE(a->hout, BL * Pout);
    if (a->save) {
        TAKE(a->g_x, BL * D); TAKE(a->g_x2, BL * D); TAKE(a->g_t1, BL * D); TAKE(a->g_t2, BL * D);
        TAKE(a->g_q, BL * D); TAKE(a->g_k, BL * D); TAKE(a->g_v, BL * D); TAKE(a->g_ln, BL * D);
        TAKE(a->g_h, BL * FF); TAKE(a->g_h2, BL * FF); TAKE(a->g_c, BT * D); TAKE(a->g_ck, BT * D);
        TAKE(a->g_cv, BT * D); TAKE(a->g_ck2, BT * D); TAKE(a->g_cv2, BT * D);
        TAKE(a->g_mod, NM * 6 * D); TAKE(a->g_e0, NM * 6 * D); TAKE(a->g_e, NM * D); TAKE(a->g_es, NM * D);
        TAKE(a->g_e1, NM * D); TAKE(a->g_e1s, NM * D); TAKE(a->g_hmod, NM * 2 * D); TAKE(a->g_tok, BL * Pin);
        TAKE(a->g_hout, BL * Pout); TAKE(a->g_c1, BT * D); TAKE(a->g_tp, B * D); TAKE(a->g_pool, B * c->text_dim);
    }
#undef TAKE
    return off;
}

int64_t vg_dit_acts_bytes(const vg_dit_config *cfg, int B, int64_t F, int64_t H, int64_t W, bool save) {
    struct vg_dit_acts a = {.cfg = *cfg, .B = B, .F = F, .H = H, .W = W, .save = save};
    a.L = F * (H / cfg->patch[1]) * (W / cfg->patch[2]);
    a.T = cfg->text_len;
    a.n_slots = save ? cfg->layers : 1;
    blk_acts tmp[a.n_slots];
    a.blk = tmp;
    return acts_layout(&a, NULL) * (int64_t)sizeof(float) + (int64_t)sizeof(a) + (int64_t)sizeof(tmp);
}

vg_status vg_dit_acts_new(vg_dit_acts **out, const vg_dit_config *cfg, int B, int64_t F, int64_t H, int64_t W, bool save) {
    *out = NULL;
    if (H % cfg->patch[1] || W % cfg->patch[2])
        return vg_fail(VG_ERR_ARG, "size %lldx%lld is not a multiple of the patch %dx%d", (long long)W, (long long)H, cfg->patch[2], cfg->patch[1]);
    struct vg_dit_acts *a = calloc(1, sizeof(*a));
    if (!a) return vg_fail(VG_ERR_OOM, "DiT activations: out of memory");
    a->cfg = *cfg; a->B = B; a->F = F; a->H = H; a->W = W; a->save = save;
    a->Hg = H / cfg->patch[1]; a->Wg = W / cfg->patch[2]; a->L = F * a->Hg * a->Wg; a->T = cfg->text_len;
    a->n_slots = save ? cfg->layers : 1;
    a->blk = calloc((size_t)a->n_slots, sizeof(blk_acts));
    a->n_mem = a->blk ? acts_layout(a, NULL) : 0;
    a->mem = a->blk ? calloc((size_t)a->n_mem, sizeof(float)) : NULL;
    if (!a->mem) {
        double gb = a->n_mem * 4.0 / (1 << 30);
        vg_dit_acts_free(a);
        return vg_fail(VG_ERR_OOM, "DiT activations: cannot allocate %.2f GiB", gb);
    }
    acts_layout(a, a->mem);
    *out = a;
    return VG_OK;
}

void vg_dit_acts_free(vg_dit_acts *a) {
    if (!a) return;
    free(a->mem);
    free(a->blk);
    free(a);
}

/* ---------------------------------------------------------------- helpers */

static inline const float *F32(vg_w w) { return (const float *)w.d; }
static inline float *G32(vg_w w) { return (float *)w.d; }

static void linear(float *y, const float *x, vg_w W, vg_w b, int64_t M, int64_t N, int64_t K) {
    vg_matmul_nt(y, x, W.d, W.t, b.d ? F32(b) : NULL, M, N, K, false);
}

/* Backward of y = x W^T + b: dx (+)= dy W (if dx), dW += dy^T x, db += colsum(dy). */
static void linear_bwd(float *dx, bool dx_acc, vg_w gW, vg_w gb, const float *dy, const float *x, vg_w W,
                       int64_t M, int64_t N, int64_t K) {
    if (dx) vg_matmul_nn(dx, dy, F32(W), M, N, K, dx_acc);
    if (gW.d) vg_matmul_tn((float *)gW.d, dy, x, M, N, K);
    if (gb.d) {
        vg_colsum_grad(gb.d, NULL, dy, NULL, NULL, NULL, M, N);
    }
}

/* out = x + y * g (g [D] per sample), rows L per sample */
static void gate_add(float *out, const float *x, const float *y, const float *g, int64_t L, int64_t D) {
    #pragma omp parallel for schedule(static) if (L * D > VG_PAR_MIN)
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = 0; j < D; j++) out[i * D + j] = x[i * D + j] + y[i * D + j] * g[j];
}

/* dy = dout * g; dg += colsum(dout * y) */
static void gate_bwd(float *dy, float *dg, const float *dout, const float *y, const float *g, int64_t L, int64_t D) {
    #pragma omp parallel for schedule(static) if (L * D > VG_PAR_MIN)
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = 0; j < D; j++) dy[i * D + j] = dout[i * D + j] * g[j];
    vg_colsum_grad(NULL, dg, dout, y, NULL, NULL, L, D);
}

static void ln_recompute(float *out, const float *x, const float *m, const float *r, int64_t N, int64_t D) {
    #pragma omp parallel for schedule(static) if (N * D > VG_PAR_MIN)
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < D; j++) out[i * D + j] = (x[i * D + j] - m[i]) * r[i];
}

/* Wan's sinusoidal_embedding_1d: [cos(t w_j), sin(t w_j)], w_j = 10000^(-j/half), in double. */
static void sinusoid(float *out, double t, int dim) {
    int half = dim / 2;
    for (int j = 0; j < half; j++) {
        double a = t * pow(10000.0, -(double)j / half);
        out[j] = (float)cos(a);
        out[half + j] = (float)sin(a);
    }
}

/* Adds the 2D sin-cos position of each token's (row, column) to x [B][F][Hg][Wg][D]: channels
 * [0, D/2) code the row, [D/2, D) the column, each as sin(p w_i) for i < D/4, then cos(p w_i),
 * w_i = 10000^(-i/(D/4)) (the fixed embedding of MAE and DiT). */
void vg_dit_add_pos2d(float *x, int64_t BF, int64_t Hg, int64_t Wg, int64_t D) {
    const int64_t q = D / 4;
    #pragma omp parallel for schedule(static) if (BF * Hg * Wg * D > VG_PAR_MIN)
    for (int64_t r = 0; r < BF * Hg * Wg; r++) {
        int64_t row = (r / Wg) % Hg, col = r % Wg;
        float *xr = x + r * D;
        for (int64_t i = 0; i < q; i++) {
            double w = pow(10000.0, -(double)i / (double)q);
            xr[i] += (float)sin((double)row * w);
            xr[q + i] += (float)cos((double)row * w);
            xr[2 * q + i] += (float)sin((double)col * w);
            xr[3 * q + i] += (float)cos((double)col * w);
        }
    }
}

static int eff_window(int window, int64_t F) { return (window < 0 || window >= F - 1) ? -1 : window; }

/* ---------------------------------------------------------------- forward */

vg_status vg_dit_forward(const vg_dit *m, vg_dit_acts *a, float *out, const float *x, const float *t,
                         const float *ctx, int B, int64_t F, int64_t H, int64_t W, int window,
                         int64_t f_offset, vg_dit_debug *dbg) {
    if (B != a->B || F != a->F || H != a->H || W != a->W)
        return vg_fail(VG_ERR_ARG, "DiT forward: activations were sized for B=%d F=%lld %lldx%lld", a->B,
                       (long long)a->F, (long long)a->W, (long long)a->H);
    for (int b = 0; b < B; b++)
        for (int64_t f = 0; f < F; f++) a->tf[b * F + f] = t[b];
    return vg_dit_forward_tf(m, a, out, x, a->tf, ctx, B, F, H, W, window, f_offset, dbg);
}

vg_status vg_dit_forward_tf(const vg_dit *m, vg_dit_acts *a, float *out, const float *x, const float *tf,
                            const float *ctx, int B, int64_t F, int64_t H, int64_t W, int window,
                            int64_t f_offset, vg_dit_debug *dbg) {
    const vg_dit_config *c = &m->cfg;
    if (B != a->B || F != a->F || H != a->H || W != a->W)
        return vg_fail(VG_ERR_ARG, "DiT forward: activations were sized for B=%d F=%lld %lldx%lld", a->B,
                       (long long)a->F, (long long)a->W, (long long)a->H);
    /* the timestep modulation has a row per frame: NM rows of Lr tokens each */
    const int64_t D = c->dim, FF = c->ffn_dim, L = a->L, T = a->T, BL = B * L, BT = B * T, NM = B * F, Lr = L / F;
    const int ph = c->patch[1], pw = c->patch[2], hd = c->dim / c->heads;
    const int64_t Pin = (int64_t)c->in_dim * ph * pw, Pout = (int64_t)c->out_dim * ph * pw;
    const int win = eff_window(window, F);
    a->window = win; a->f_offset = f_offset;
    vg_attn_shape sa = {.Lq = L, .Lk = L, .H = c->heads, .hd = hd, .S = a->Hg * a->Wg, .window = win, .scale = 1.0f / sqrtf((float)hd)};
    vg_attn_shape ca = {.Lq = L, .Lk = T, .H = c->heads, .hd = hd, .S = 0, .window = -1, .scale = 1.0f / sqrtf((float)hd)};

    /* 1. patch embedding (a Conv3d with kernel = stride = patch is a GEMM on patchified tokens) */
    for (int b = 0; b < B; b++)
        vg_patchify(a->tok + b * L * Pin, x + b * (int64_t)c->in_dim * F * H * W, c->in_dim, F, H, W, ph, pw, 0);
    float *xcur = a->blk[0].x_in;
    linear(xcur, a->tok, m->w.patch_w, m->w.patch_b, BL, D, Pin);
    if (c->pos2d) vg_dit_add_pos2d(xcur, (int64_t)B * F, a->Hg, a->Wg, D); /* a constant: no backward */
    if (dbg && dbg->patch_embedding) memcpy(dbg->patch_embedding, xcur, sizeof(float) * L * D);

    /* 2. time embedding e and projection e0 */
    if (tf != a->tf) memcpy(a->tf, tf, sizeof(float) * NM);
    for (int64_t r = 0; r < NM; r++) sinusoid(a->sin + r * c->freq_dim, (double)a->tf[r], c->freq_dim);
    linear(a->e1, a->sin, m->w.time0_w, m->w.time0_b, NM, D, c->freq_dim);
    vg_silu(a->e1s, a->e1, NM * D);
    linear(a->e, a->e1s, m->w.time2_w, m->w.time2_b, NM, D, D);
    if (c->text_pool) { /* e += Linear(mean of the text rows), the same for every frame of a sample */
        const int64_t Dt = c->text_dim;
        for (int b = 0; b < B; b++)
            for (int64_t j = 0; j < Dt; j++) {
                double acc = 0;
                for (int64_t t = 0; t < T; t++) acc += ctx[((int64_t)b * T + t) * Dt + j];
                a->pool[b * Dt + j] = (float)(acc / T);
            }
        linear(a->tp, a->pool, m->w.tpool_w, m->w.tpool_b, B, D, Dt);
        for (int64_t r = 0; r < NM; r++)
            for (int64_t j = 0; j < D; j++) a->e[r * D + j] += a->tp[(r / F) * D + j];
    }
    vg_silu(a->es, a->e, NM * D);
    linear(a->e0, a->es, m->w.tproj_w, m->w.tproj_b, NM, 6 * D, D);
    if (dbg) {
        if (dbg->sinusoid) memcpy(dbg->sinusoid, a->sin, sizeof(float) * c->freq_dim);
        if (dbg->time_embedding) memcpy(dbg->time_embedding, a->e, sizeof(float) * D);
        if (dbg->time_projection) memcpy(dbg->time_projection, a->e0, sizeof(float) * 6 * D);
    }

    /* 3. text embedding: Linear, GELU(tanh), Linear over all T rows (padded rows included, as Wan) */
    memcpy(a->ctx, ctx, sizeof(float) * BT * c->text_dim);
    linear(a->c1, a->ctx, m->w.text0_w, m->w.text0_b, BT, D, c->text_dim);
    vg_gelu_tanh(a->cg, a->c1, BT * D);
    linear(a->c, a->cg, m->w.text2_w, m->w.text2_b, BT, D, D);
    if (c->text_pos)
        for (int64_t r = 0; r < BT; r++)
            for (int64_t j = 0; j < D; j++) a->c[r * D + j] += F32(m->w.tpos)[(r % T) * D + j];
    if (dbg && dbg->text_embedding) memcpy(dbg->text_embedding, a->c, sizeof(float) * T * D);

    /* 4. blocks */
    for (int i = 0; i < c->layers; i++) {
        const vg_dit_block *w = &m->w.blk[i];
        blk_acts *k = &a->blk[a->save ? i : 0];
        float *xo = (i + 1 < c->layers) ? a->blk[a->save ? i + 1 : 0].x_in : a->xf;
        for (int64_t r = 0; r < NM; r++)
            for (int64_t j = 0; j < 6 * D; j++) k->mod[r * 6 * D + j] = F32(w->modulation)[j] + a->e0[r * 6 * D + j];
        /* self-attention */
        vg_layernorm(k->a1, k->ln1_m, k->ln1_r, k->x_in, NULL, NULL, BL, D, c->eps);
        for (int64_t r = 0; r < NM; r++) {
            const float *mb = k->mod + r * 6 * D;
            vg_modulate(k->a1 + r * Lr * D, k->a1 + r * Lr * D, mb, mb + D, Lr, D);
        }
        linear(k->q, k->a1, w->sa_q_w, w->sa_q_b, BL, D, D);
        linear(k->k, k->a1, w->sa_k_w, w->sa_k_b, BL, D, D);
        linear(k->v, k->a1, w->sa_v_w, w->sa_v_b, BL, D, D);
        vg_rmsnorm(k->qr, k->q_r, k->q, F32(w->sa_norm_q), BL, D, c->eps);
        vg_rmsnorm(k->kr, k->k_r, k->k, F32(w->sa_norm_k), BL, D, c->eps);
        for (int b = 0; b < B; b++) {
            vg_rope3d(k->qr + b * L * D, F, a->Hg, a->Wg, c->heads, hd, c->rope_theta, f_offset);
            vg_rope3d(k->kr + b * L * D, F, a->Hg, a->Wg, c->heads, hd, c->rope_theta, f_offset);
            vg_attn(k->o + b * L * D, a->save ? k->lse + b * c->heads * L : NULL, k->qr + b * L * D,
                    k->kr + b * L * D, k->v + b * L * D, &sa);
        }
        linear(k->sa_y, k->o, w->sa_o_w, w->sa_o_b, BL, D, D);
        if (dbg && dbg->block_sa) memcpy(dbg->block_sa[i], k->sa_y, sizeof(float) * L * D);
        for (int64_t r = 0; r < NM; r++)
            gate_add(k->x1 + r * Lr * D, k->x_in + r * Lr * D, k->sa_y + r * Lr * D, k->mod + r * 6 * D + 2 * D, Lr, D);
        /* cross-attention (no modulation, no RoPE) */
        vg_layernorm(k->n3, k->ln3_m, k->ln3_r, k->x1, F32(w->norm3_w), F32(w->norm3_b), BL, D, c->eps);
        linear(k->cq, k->n3, w->ca_q_w, w->ca_q_b, BL, D, D);
        vg_rmsnorm(k->cqn, k->cq_r, k->cq, F32(w->ca_norm_q), BL, D, c->eps);
        linear(k->ck, a->c, w->ca_k_w, w->ca_k_b, BT, D, D);
        vg_rmsnorm(k->ckn, k->ck_r, k->ck, F32(w->ca_norm_k), BT, D, c->eps);
        linear(k->cv, a->c, w->ca_v_w, w->ca_v_b, BT, D, D);
        for (int b = 0; b < B; b++)
            vg_attn(k->co + b * L * D, a->save ? k->clse + b * c->heads * L : NULL, k->cqn + b * L * D,
                    k->ckn + b * T * D, k->cv + b * T * D, &ca);
        linear(k->ca_y, k->co, w->ca_o_w, w->ca_o_b, BL, D, D);
        if (dbg && dbg->block_ca) memcpy(dbg->block_ca[i], k->ca_y, sizeof(float) * L * D);
        #pragma omp parallel for schedule(static) if (BL * D > VG_PAR_MIN)
        for (int64_t j = 0; j < BL * D; j++) k->x2[j] = k->x1[j] + k->ca_y[j];
        /* FFN */
        vg_layernorm(k->a2, k->ln2_m, k->ln2_r, k->x2, NULL, NULL, BL, D, c->eps);
        for (int64_t r = 0; r < NM; r++) {
            const float *mb = k->mod + r * 6 * D;
            vg_modulate(k->a2 + r * Lr * D, k->a2 + r * Lr * D, mb + 3 * D, mb + 4 * D, Lr, D);
        }
        linear(k->h, k->a2, w->ffn0_w, w->ffn0_b, BL, FF, D);
        vg_gelu_tanh(k->gh, k->h, BL * FF);
        linear(k->f_y, k->gh, w->ffn2_w, w->ffn2_b, BL, D, FF);
        if (dbg && dbg->block_ffn) memcpy(dbg->block_ffn[i], k->f_y, sizeof(float) * L * D);
        for (int64_t r = 0; r < NM; r++)
            gate_add(xo + r * Lr * D, k->x2 + r * Lr * D, k->f_y + r * Lr * D, k->mod + r * 6 * D + 5 * D, Lr, D);
        if (dbg && dbg->block_out) memcpy(dbg->block_out[i], xo, sizeof(float) * L * D);
    }

    /* 5. head: modulation from e (not e0), LN, Linear; 6. unpatchify */
    vg_layernorm(a->ah, a->lnh_m, a->lnh_r, a->xf, NULL, NULL, BL, D, c->eps);
    for (int64_t r = 0; r < NM; r++) {
        float *hm = a->hmod + r * 2 * D;
        for (int64_t j = 0; j < 2 * D; j++) hm[j] = F32(m->w.head_mod)[j] + a->e[r * D + j % D];
        vg_modulate(a->ah + r * Lr * D, a->ah + r * Lr * D, hm, hm + D, Lr, D);
    }
    linear(a->hout, a->ah, m->w.head_w, m->w.head_b, BL, Pout, D);
    if (dbg && dbg->head) memcpy(dbg->head, a->hout, sizeof(float) * L * Pout);
    for (int b = 0; b < B; b++)
        vg_unpatchify(out + b * (int64_t)c->out_dim * F * H * W, a->hout + b * L * Pout, c->out_dim, F, H, W, ph, pw, 1);
    a->have_fwd = a->save;
    return VG_OK;
}

/* ---------------------------------------------------------------- backward */

vg_status vg_dit_backward(const vg_dit *m, vg_dit_acts *a, vg_dit *g, float *dctx, const float *dout) {
    const vg_dit_config *c = &m->cfg;
    if (!a->save || !a->have_fwd) return vg_fail(VG_ERR_ARG, "DiT backward: no saved forward pass");
    const int B = a->B;
    const int64_t D = c->dim, FF = c->ffn_dim, L = a->L, T = a->T, BL = B * L, BT = B * T, F = a->F;
    const int64_t NM = B * F, Lr = L / F; /* modulation rows (one per frame) of Lr tokens */
    const int ph = c->patch[1], pw = c->patch[2], hd = c->dim / c->heads;
    const int64_t Pin = (int64_t)c->in_dim * ph * pw, Pout = (int64_t)c->out_dim * ph * pw;
    vg_attn_shape sa = {.Lq = L, .Lk = L, .H = c->heads, .hd = hd, .S = a->Hg * a->Wg, .window = a->window, .scale = 1.0f / sqrtf((float)hd)};
    vg_attn_shape ca = {.Lq = L, .Lk = T, .H = c->heads, .hd = hd, .S = 0, .window = -1, .scale = 1.0f / sqrtf((float)hd)};
    vg_dit_weights *gw = &g->w;

    memset(a->g_e, 0, sizeof(float) * NM * D);
    memset(a->g_e0, 0, sizeof(float) * NM * 6 * D);
    memset(a->g_c, 0, sizeof(float) * BT * D);

    /* head */
    for (int b = 0; b < B; b++)
        vg_patchify(a->g_hout + b * L * Pout, dout + b * (int64_t)c->out_dim * F * a->H * a->W, c->out_dim, F, a->H, a->W, ph, pw, 1);
    linear_bwd(a->g_t1, false, gw->head_w, gw->head_b, a->g_hout, a->ah, m->w.head_w, BL, Pout, D);
    /* ah = lnh*(1+h1)+h0: recompute lnh into g_t2 */
    ln_recompute(a->g_t2, a->xf, a->lnh_m, a->lnh_r, BL, D);
    memset(a->g_ln, 0, sizeof(float) * BL * D);
    memset(a->g_hmod, 0, sizeof(float) * NM * 2 * D);
    for (int64_t r = 0; r < NM; r++) {
        float *hm = a->hmod + r * 2 * D, *ghm = a->g_hmod + r * 2 * D;
        vg_modulate_bwd(a->g_ln + r * Lr * D, ghm, ghm + D, a->g_t1 + r * Lr * D, a->g_t2 + r * Lr * D, hm + D, Lr, D);
        for (int64_t j = 0; j < 2 * D; j++) { ((float *)gw->head_mod.d)[j] += ghm[j]; a->g_e[r * D + j % D] += ghm[j]; }
    }
    memset(a->g_x, 0, sizeof(float) * BL * D);
    vg_layernorm_bwd(a->g_x, NULL, NULL, a->g_ln, a->xf, NULL, a->lnh_m, a->lnh_r, BL, D);

    /* blocks in reverse; a->g_x holds dL/d(block output) */
    for (int i = c->layers - 1; i >= 0; i--) {
        const vg_dit_block *w = &m->w.blk[i];
        vg_dit_block *gb = &gw->blk[i];
        blk_acts *k = &a->blk[i];
        memset(a->g_mod, 0, sizeof(float) * NM * 6 * D);
        /* x3 = x2 + f_y * m5 */
        memcpy(a->g_x2, a->g_x, sizeof(float) * BL * D);
        for (int64_t r = 0; r < NM; r++)
            gate_bwd(a->g_t1 + r * Lr * D, a->g_mod + r * 6 * D + 5 * D, a->g_x + r * Lr * D, k->f_y + r * Lr * D,
                     k->mod + r * 6 * D + 5 * D, Lr, D);
        /* f_y = gh W2^T + b2 ; gh = gelu(h) ; h = a2 W1^T + b1 */
        linear_bwd(a->g_h, false, gb->ffn2_w, gb->ffn2_b, a->g_t1, k->gh, w->ffn2_w, BL, D, FF);
        memset(a->g_h2, 0, sizeof(float) * BL * FF);
        vg_gelu_tanh_bwd(a->g_h2, a->g_h, k->h, BL * FF);
        linear_bwd(a->g_t1, false, gb->ffn0_w, gb->ffn0_b, a->g_h2, k->a2, w->ffn0_w, BL, FF, D);
        /* a2 = ln2*(1+m4)+m3 */
        ln_recompute(a->g_t2, k->x2, k->ln2_m, k->ln2_r, BL, D);
        memset(a->g_ln, 0, sizeof(float) * BL * D);
        for (int64_t r = 0; r < NM; r++) {
            float *gm = a->g_mod + r * 6 * D;
            vg_modulate_bwd(a->g_ln + r * Lr * D, gm + 3 * D, gm + 4 * D, a->g_t1 + r * Lr * D, a->g_t2 + r * Lr * D,
                            k->mod + r * 6 * D + 4 * D, Lr, D);
        }
        vg_layernorm_bwd(a->g_x2, NULL, NULL, a->g_ln, k->x2, NULL, k->ln2_m, k->ln2_r, BL, D);
        /* x2 = x1 + ca_y: g_x2 is now dL/dx2 = dL/dx1 (partial) = dL/dca_y */
        linear_bwd(a->g_t1, false, gb->ca_o_w, gb->ca_o_b, a->g_x2, k->co, w->ca_o_w, BL, D, D);
        for (int b = 0; b < B; b++)
            vg_attn_bwd(a->g_q + b * L * D, a->g_ck + b * T * D, a->g_cv + b * T * D, a->g_t1 + b * L * D,
                        k->co + b * L * D, k->clse + b * c->heads * L, k->cqn + b * L * D, k->ckn + b * T * D,
                        k->cv + b * T * D, &ca);
        memset(a->g_t2, 0, sizeof(float) * BL * D);
        vg_rmsnorm_bwd(a->g_t2, G32(gb->ca_norm_q), a->g_q, k->cq, F32(w->ca_norm_q), k->cq_r, BL, D);
        linear_bwd(a->g_ln, false, gb->ca_q_w, gb->ca_q_b, a->g_t2, k->n3, w->ca_q_w, BL, D, D);
        memset(a->g_ck2, 0, sizeof(float) * BT * D);
        vg_rmsnorm_bwd(a->g_ck2, G32(gb->ca_norm_k), a->g_ck, k->ck, F32(w->ca_norm_k), k->ck_r, BT, D);
        linear_bwd(a->g_c, true, gb->ca_k_w, gb->ca_k_b, a->g_ck2, a->c, w->ca_k_w, BT, D, D);
        linear_bwd(a->g_c, true, gb->ca_v_w, gb->ca_v_b, a->g_cv, a->c, w->ca_v_w, BT, D, D);
        /* n3 = LN_affine(x1) */
        vg_layernorm_bwd(a->g_x2, G32(gb->norm3_w), G32(gb->norm3_b), a->g_ln, k->x1, F32(w->norm3_w), k->ln3_m, k->ln3_r, BL, D);
        /* g_x2 is dL/dx1. x1 = x_in + sa_y * m2 */
        memcpy(a->g_x, a->g_x2, sizeof(float) * BL * D);
        for (int64_t r = 0; r < NM; r++)
            gate_bwd(a->g_t1 + r * Lr * D, a->g_mod + r * 6 * D + 2 * D, a->g_x2 + r * Lr * D, k->sa_y + r * Lr * D,
                     k->mod + r * 6 * D + 2 * D, Lr, D);
        linear_bwd(a->g_t2, false, gb->sa_o_w, gb->sa_o_b, a->g_t1, k->o, w->sa_o_w, BL, D, D);
        for (int b = 0; b < B; b++)
            vg_attn_bwd(a->g_q + b * L * D, a->g_k + b * L * D, a->g_v + b * L * D, a->g_t2 + b * L * D,
                        k->o + b * L * D, k->lse + b * c->heads * L, k->qr + b * L * D, k->kr + b * L * D,
                        k->v + b * L * D, &sa);
        for (int b = 0; b < B; b++) {
            vg_rope3d_bwd(a->g_q + b * L * D, F, a->Hg, a->Wg, c->heads, hd, c->rope_theta, a->f_offset);
            vg_rope3d_bwd(a->g_k + b * L * D, F, a->Hg, a->Wg, c->heads, hd, c->rope_theta, a->f_offset);
        }
        memset(a->g_t1, 0, sizeof(float) * BL * D);
        vg_rmsnorm_bwd(a->g_t1, G32(gb->sa_norm_q), a->g_q, k->q, F32(w->sa_norm_q), k->q_r, BL, D);
        linear_bwd(a->g_ln, false, gb->sa_q_w, gb->sa_q_b, a->g_t1, k->a1, w->sa_q_w, BL, D, D);
        memset(a->g_t1, 0, sizeof(float) * BL * D);
        vg_rmsnorm_bwd(a->g_t1, G32(gb->sa_norm_k), a->g_k, k->k, F32(w->sa_norm_k), k->k_r, BL, D);
        linear_bwd(a->g_ln, true, gb->sa_k_w, gb->sa_k_b, a->g_t1, k->a1, w->sa_k_w, BL, D, D);
        linear_bwd(a->g_ln, true, gb->sa_v_w, gb->sa_v_b, a->g_v, k->a1, w->sa_v_w, BL, D, D);
        /* a1 = ln1*(1+m1)+m0 */
        ln_recompute(a->g_t2, k->x_in, k->ln1_m, k->ln1_r, BL, D);
        memset(a->g_t1, 0, sizeof(float) * BL * D);
        for (int64_t r = 0; r < NM; r++) {
            float *gm = a->g_mod + r * 6 * D;
            vg_modulate_bwd(a->g_t1 + r * Lr * D, gm, gm + D, a->g_ln + r * Lr * D, a->g_t2 + r * Lr * D,
                            k->mod + r * 6 * D + D, Lr, D);
        }
        vg_layernorm_bwd(a->g_x, NULL, NULL, a->g_t1, k->x_in, NULL, k->ln1_m, k->ln1_r, BL, D);
        /* modulation = param + e0 */
        for (int64_t r = 0; r < NM; r++)
            for (int64_t j = 0; j < 6 * D; j++) { ((float *)gb->modulation.d)[j] += a->g_mod[r * 6 * D + j]; a->g_e0[r * 6 * D + j] += a->g_mod[r * 6 * D + j]; }
    }

    /* patch embedding */
    vg_w none = {0};
    linear_bwd(NULL, false, gw->patch_w, gw->patch_b, a->g_x, a->tok, none, BL, D, Pin);
    /* text embedding: c = text2(gelu(text0(ctx))) */
    if (c->text_pos)
        for (int64_t r = 0; r < BT; r++)
            for (int64_t j = 0; j < D; j++) ((float *)gw->tpos.d)[(r % T) * D + j] += a->g_c[r * D + j];
    linear_bwd(a->g_c1, false, gw->text2_w, gw->text2_b, a->g_c, a->cg, m->w.text2_w, BT, D, D);
    memset(a->g_ck2, 0, sizeof(float) * BT * D);
    vg_gelu_tanh_bwd(a->g_ck2, a->g_c1, a->c1, BT * D);
    linear_bwd(dctx, false, gw->text0_w, gw->text0_b, a->g_ck2, a->ctx, m->w.text0_w, BT, D, c->text_dim);
    /* time: e0 = tproj(silu(e)); e = time2(silu(time0(sin))) */
    linear_bwd(a->g_es, false, gw->tproj_w, gw->tproj_b, a->g_e0, a->es, m->w.tproj_w, NM, 6 * D, D);
    vg_silu_bwd(a->g_e, a->g_es, a->e, NM * D);
    if (c->text_pool) { /* g_e is complete here: the pooled text's share of every frame's row */
        const int64_t Dt = c->text_dim;
        for (int b = 0; b < B; b++)
            for (int64_t j = 0; j < D; j++) {
                double acc = 0;
                for (int64_t f = 0; f < F; f++) acc += a->g_e[((int64_t)b * F + f) * D + j];
                a->g_tp[b * D + j] = (float)acc;
            }
        linear_bwd(a->g_pool, false, gw->tpool_w, gw->tpool_b, a->g_tp, a->pool, m->w.tpool_w, B, D, Dt);
        if (dctx)
            for (int b = 0; b < B; b++)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t j = 0; j < Dt; j++) dctx[((int64_t)b * T + t) * Dt + j] += a->g_pool[b * Dt + j] / (float)T;
    }
    linear_bwd(a->g_e1s, false, gw->time2_w, gw->time2_b, a->g_e, a->e1s, m->w.time2_w, NM, D, D);
    memset(a->g_e1, 0, sizeof(float) * NM * D);
    vg_silu_bwd(a->g_e1, a->g_e1s, a->e1, NM * D);
    linear_bwd(NULL, false, gw->time0_w, gw->time0_b, a->g_e1, a->sin, none, NM, D, c->freq_dim);
    return VG_OK;
}

double vg_dit_flops(const vg_dit_config *c, int64_t F, int64_t H, int64_t W, int window) {
    int64_t L = F * (H / c->patch[1]) * (W / c->patch[2]), D = c->dim, T = c->text_len;
    double lin = 2.0 * L * D * ((double)c->in_dim * c->patch[1] * c->patch[2]) +
                 c->layers * (2.0 * L * D * D * 5 + 2.0 * T * D * D * 2 + 2.0 * L * D * c->ffn_dim * 2) +
                 2.0 * L * D * ((double)c->out_dim * c->patch[1] * c->patch[2]) + 2.0 * T * D * (c->text_dim + D);
    vg_attn_shape sa = {.Lq = L, .Lk = L, .H = c->heads, .hd = (int)(D / c->heads), .S = L / F, .window = eff_window(window, F)};
    vg_attn_shape ca = {.Lq = L, .Lk = T, .H = c->heads, .hd = (int)(D / c->heads), .S = 0, .window = -1};
    return lin + c->layers * (vg_attn_flops(&sa) + vg_attn_flops(&ca));
}
