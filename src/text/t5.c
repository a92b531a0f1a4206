/* t5.c - umT5 encoder: forward with F32/F16/BF16 weights in place, backward for F32.
 * Reference: Wan2.1 wan/modules/t5.py (T5Encoder: embedding without scaling, pre-RMSNorm
 * blocks, attention without 1/sqrt(d), per-layer relative position bias, gated GELU-tanh
 * FFN, final RMSNorm). Layout: activations [N, D] row-major, heads interleaved in A = H*hd.
 * Legend: N tokens, D dim, A dim_attn, H heads, hd head dim, F ffn, V vocab, B buckets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "vidgen/t5.h"
#include "vidgen/gemm.h"
#include "vidgen/ops.h"
#include "vidgen/rng.h"
#include "vidgen/quant.h"
#include "vidgen/safetensors.h"

/* ------------------------------------------------------------------------------------ */
/* config */

void vg_t5_config_umt5_xxl(vg_t5_config *c) {
    *c = (vg_t5_config){.vocab = 256384, .dim = 4096, .dim_attn = 4096, .ffn = 10240, .heads = 64,
                        .layers = 24, .buckets = 32, .max_dist = 128, .shared_pos = false, .eps = 1e-6f};
}

vg_status vg_t5_config_check(const vg_t5_config *c) {
    if (c->vocab < 1 || c->dim < 1 || c->dim_attn < 1 || c->ffn < 1 || c->heads < 1 || c->layers < 1 ||
        c->buckets < 2 || c->max_dist < 1 || !(c->eps > 0) || c->dim_attn % c->heads != 0)
        return vg_fail(VG_ERR_ARG, "t5 config: vocab %lld dim %lld dim_attn %lld ffn %lld heads %d layers %d "
                       "buckets %d max_dist %d eps %g: expected positive sizes and dim_attn %% heads == 0",
                       (long long)c->vocab, (long long)c->dim, (long long)c->dim_attn, (long long)c->ffn,
                       c->heads, c->layers, c->buckets, c->max_dist, (double)c->eps);
    return VG_OK;
}

/* Reads an integer field when present; VG_ERR_FORMAT when present but not an integer. */
static vg_status json_int(const cJSON *o, const char *key, int64_t *v, bool *found) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return VG_OK;
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || fabs(it->valuedouble) > 9e15)
        return vg_fail(VG_ERR_FORMAT, "t5 config: '%s' must be an integer", key);
    *v = (int64_t)it->valuedouble;
    if (found) *found = true;
    return VG_OK;
}

vg_status vg_t5_config_from_json(vg_t5_config *c, const char *json) {
    vg_t5_config r = {.buckets = 32, .max_dist = 128, .eps = 1e-6f};
    cJSON *o = cJSON_Parse(json);
    vg_status st = VG_OK;
    if (!o || !cJSON_IsObject(o)) { st = vg_fail(VG_ERR_FORMAT, "t5 config: expected a JSON object"); goto out; }
    int64_t vocab = 0, dim = 0, da = 0, ffn = 0, heads = 0, layers = 0, buckets = 32, maxd = 128, dkv = 0;
    bool hf = false;
    if ((st = json_int(o, "vocab", &vocab, NULL)) || (st = json_int(o, "vocab_size", &vocab, &hf)) ||
        (st = json_int(o, "dim", &dim, NULL)) || (st = json_int(o, "d_model", &dim, &hf)) ||
        (st = json_int(o, "dim_attn", &da, NULL)) || (st = json_int(o, "d_kv", &dkv, &hf)) ||
        (st = json_int(o, "dim_ffn", &ffn, NULL)) || (st = json_int(o, "d_ff", &ffn, &hf)) ||
        (st = json_int(o, "num_heads", &heads, NULL)) || (st = json_int(o, "num_layers", &layers, NULL)) ||
        (st = json_int(o, "num_buckets", &buckets, NULL)) ||
        (st = json_int(o, "relative_attention_num_buckets", &buckets, NULL)) ||
        (st = json_int(o, "relative_attention_max_distance", &maxd, NULL)) ||
        (st = json_int(o, "max_dist", &maxd, NULL)))
        goto out;
    if (dkv > 0) da = dkv * heads;
    if (da == 0) da = dim;
    r.vocab = vocab; r.dim = dim; r.dim_attn = da; r.ffn = ffn;
    if (heads > 1 << 20 || layers > 1 << 20 || buckets > 1 << 20 || maxd > 1 << 30) {
        st = vg_fail(VG_ERR_ARG, "t5 config: heads/layers/buckets/max_dist too large"); goto out;
    }
    r.heads = (int)heads; r.layers = (int)layers; r.buckets = (int)buckets; r.max_dist = (int)maxd;
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "shared_pos");
    if (sp && !cJSON_IsBool(sp)) { st = vg_fail(VG_ERR_FORMAT, "t5 config: 'shared_pos' must be a bool"); goto out; }
    if (sp) r.shared_pos = cJSON_IsTrue(sp);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "model_type");
    if (hf && cJSON_IsString(mt)) r.shared_pos = strcmp(mt->valuestring, "umt5") != 0;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "layer_norm_epsilon");
    if (!eps) eps = cJSON_GetObjectItemCaseSensitive(o, "eps");
    if (eps && !cJSON_IsNumber(eps)) { st = vg_fail(VG_ERR_FORMAT, "t5 config: 'eps' must be a number"); goto out; }
    if (eps) r.eps = (float)eps->valuedouble;
    if ((st = vg_t5_config_check(&r))) goto out;
    *c = r;
out:
    cJSON_Delete(o);
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* flat layout */

enum { T_EMB, T_POS_SHARED, T_NORM1, T_Q, T_K, T_V, T_O, T_NORM2, T_GATE, T_FC1, T_FC2, T_POS, T_NORM, T_PER_BLOCK = 10 };

static int64_t blocks_tensors(const vg_t5_config *c) { return c->shared_pos ? 9 : 10; }

int64_t vg_t5_tensor_count(const vg_t5_config *c) {
    return 2 + (c->shared_pos ? 1 : 0) + (int64_t)c->layers * blocks_tensors(c);
}

/* Kind, block and shape of tensor i. */
static bool tensor_kind(const vg_t5_config *c, int64_t i, int *kind, int *blk, int64_t shape[2], int *ndim) {
    int64_t n = vg_t5_tensor_count(c), D = c->dim, A = c->dim_attn, F = c->ffn;
    if (i < 0 || i >= n) return false;
    *blk = -1;
    if (i == 0) *kind = T_EMB;
    else if (i == n - 1) *kind = T_NORM;
    else if (c->shared_pos && i == 1) *kind = T_POS_SHARED;
    else {
        int64_t j = i - 1 - (c->shared_pos ? 1 : 0), per = blocks_tensors(c);
        *blk = (int)(j / per);
        *kind = T_NORM1 + (int)(j % per);
    }
    int64_t s0 = 0, s1 = 0;
    switch (*kind) {
    case T_EMB: s0 = c->vocab; s1 = D; break;
    case T_POS_SHARED: case T_POS: s0 = c->buckets; s1 = c->heads; break;
    case T_NORM1: case T_NORM2: case T_NORM: s0 = D; break;
    case T_Q: case T_K: case T_V: s0 = A; s1 = D; break;
    case T_O: s0 = D; s1 = A; break;
    case T_GATE: case T_FC1: s0 = F; s1 = D; break;
    case T_FC2: s0 = D; s1 = F; break;
    }
    shape[0] = s0; shape[1] = s1;
    *ndim = s1 ? 2 : 1;
    return true;
}

static const char *const g_block_key[] = {
    [T_NORM1] = "norm1.weight", [T_Q] = "attn.q.weight", [T_K] = "attn.k.weight", [T_V] = "attn.v.weight",
    [T_O] = "attn.o.weight", [T_NORM2] = "norm2.weight", [T_GATE] = "ffn.gate.0.weight",
    [T_FC1] = "ffn.fc1.weight", [T_FC2] = "ffn.fc2.weight", [T_POS] = "pos_embedding.embedding.weight",
};
/* HF UMT5EncoderModel names of the same tensors (after "encoder.block.i.layer."). */
static const char *const g_block_key_hf[] = {
    [T_NORM1] = "0.layer_norm.weight", [T_Q] = "0.SelfAttention.q.weight", [T_K] = "0.SelfAttention.k.weight",
    [T_V] = "0.SelfAttention.v.weight", [T_O] = "0.SelfAttention.o.weight", [T_NORM2] = "1.layer_norm.weight",
    [T_GATE] = "1.DenseReluDense.wi_0.weight", [T_FC1] = "1.DenseReluDense.wi_1.weight",
    [T_FC2] = "1.DenseReluDense.wo.weight", [T_POS] = "0.SelfAttention.relative_attention_bias.weight",
};

static void official_name(char *buf, size_t cap, int kind, int blk) {
    switch (kind) {
    case T_EMB: snprintf(buf, cap, "token_embedding.weight"); break;
    case T_POS_SHARED: snprintf(buf, cap, "pos_embedding.embedding.weight"); break;
    case T_NORM: snprintf(buf, cap, "norm.weight"); break;
    default: snprintf(buf, cap, "blocks.%d.%s", blk, g_block_key[kind]); break;
    }
}

static void hf_name(char *buf, size_t cap, int kind, int blk) {
    switch (kind) {
    case T_EMB: snprintf(buf, cap, "shared.weight"); break;
    case T_POS_SHARED: /* plain T5 keeps the shared table in block 0 */
        snprintf(buf, cap, "encoder.block.0.layer.%s", g_block_key_hf[T_POS]); break;
    case T_NORM: snprintf(buf, cap, "encoder.final_layer_norm.weight"); break;
    default: snprintf(buf, cap, "encoder.block.%d.layer.%s", blk, g_block_key_hf[kind]); break;
    }
}

bool vg_t5_tensor_info(const vg_t5_config *c, int64_t i, char *name, size_t name_cap,
                       int *ndim, int64_t shape[2], int64_t *offset) {
    int kind, blk, nd;
    int64_t sh[2];
    if (!tensor_kind(c, i, &kind, &blk, sh, &nd)) return false;
    if (name) official_name(name, name_cap, kind, blk);
    if (ndim) *ndim = nd;
    if (shape) { shape[0] = sh[0]; shape[1] = sh[1]; }
    if (offset) {
        int64_t off = 0;
        for (int64_t j = 0; j < i; j++) {
            int k2 = 0, b2 = 0, n2 = 1;
            int64_t s2[2] = {0, 0};
            tensor_kind(c, j, &k2, &b2, s2, &n2);
            off += s2[0] * (n2 == 2 ? s2[1] : 1);
        }
        *offset = off;
    }
    return true;
}

int64_t vg_t5_param_count(const vg_t5_config *c) {
    int64_t D = c->dim, A = c->dim_attn, F = c->ffn, P = (int64_t)c->buckets * c->heads;
    int64_t per = 2 * D + 4 * A * D + 3 * F * D + (c->shared_pos ? 0 : P);
    return c->vocab * D + (c->shared_pos ? P : 0) + c->layers * per + D;
}

static vg_tensor view(void *data, vg_dtype dt, int ndim, int64_t s0, int64_t s1) {
    vg_tensor t = {.data = data, .dtype = dt, .ndim = ndim};
    t.shape[0] = s0;
    t.shape[1] = s1;
    return t;
}

/* Pointer to the field of m that holds tensor (kind, blk). */
static vg_tensor *field(vg_t5 *m, int kind, int blk) {
    switch (kind) {
    case T_EMB: return &m->token_embedding_w;
    case T_POS_SHARED: return &m->pos_embedding_w;
    case T_NORM: return &m->norm_w;
    }
    vg_t5_block *b = &m->blocks[blk];
    switch (kind) {
    case T_NORM1: return &b->norm1_w;
    case T_Q: return &b->attn_q_w;
    case T_K: return &b->attn_k_w;
    case T_V: return &b->attn_v_w;
    case T_O: return &b->attn_o_w;
    case T_NORM2: return &b->norm2_w;
    case T_GATE: return &b->ffn_gate_0_w;
    case T_FC1: return &b->ffn_fc1_w;
    case T_FC2: return &b->ffn_fc2_w;
    default: return &b->pos_embedding_w;
    }
}

static vg_status alloc_blocks(vg_t5 *m, const vg_t5_config *c) {
    memset(m, 0, sizeof(*m));
    vg_status st = vg_t5_config_check(c);
    if (st) return st;
    m->cfg = *c;
    m->blocks = calloc((size_t)c->layers, sizeof(*m->blocks));
    if (!m->blocks) return vg_fail(VG_ERR_OOM, "t5: cannot allocate %d blocks", c->layers);
    return VG_OK;
}

vg_status vg_t5_init_flat(vg_t5 *m, const vg_t5_config *c, float *params) {
    vg_status st = alloc_blocks(m, c);
    if (st) return st;
    int64_t off = 0, n = vg_t5_tensor_count(c);
    for (int64_t i = 0; i < n; i++) {
        int kind = 0, blk = 0, nd = 1;
        int64_t sh[2] = {0, 0};
        tensor_kind(c, i, &kind, &blk, sh, &nd);
        *field(m, kind, blk) = view(params + off, VG_DTYPE_F32, nd, sh[0], sh[1]);
        off += sh[0] * (nd == 2 ? sh[1] : 1);
    }
    return VG_OK;
}

void vg_t5_free(vg_t5 *m) {
    if (!m) return;
    free(m->blocks);
    m->blocks = NULL;
}

void vg_t5_params_init(float *params, const vg_t5_config *c, uint64_t seed) {
    int64_t n = vg_t5_tensor_count(c), off = 0;
    double D = (double)c->dim, A = (double)c->dim_attn, F = (double)c->ffn;
    for (int64_t i = 0; i < n; i++) {
        int kind = 0, blk = 0, nd = 1;
        int64_t sh[2] = {0, 0};
        tensor_kind(c, i, &kind, &blk, sh, &nd);
        int64_t cnt = sh[0] * (nd == 2 ? sh[1] : 1);
        double sd = 0;
        switch (kind) {
        case T_EMB: sd = 1.0; break;
        case T_Q: sd = 1.0 / sqrt(D * A); break;
        case T_K: case T_V: case T_GATE: case T_FC1: sd = 1.0 / sqrt(D); break;
        case T_O: sd = 1.0 / sqrt((double)c->heads * A); break;
        case T_FC2: sd = 1.0 / sqrt(F); break;
        case T_POS: case T_POS_SHARED: sd = 1.0 / sqrt(2.0 * c->buckets * c->heads); break;
        default: sd = 0; break; /* norms: ones */
        }
        if (sd == 0) for (int64_t j = 0; j < cnt; j++) params[off + j] = 1.0f;
        else {
            vg_philox_fill_normal(params + off, cnt, seed, (uint64_t)i);
            for (int64_t j = 0; j < cnt; j++) params[off + j] *= (float)sd;
        }
        off += cnt;
    }
}

/* ------------------------------------------------------------------------------------ */
/* loading */

/* Finds the prefix in front of the embedding key (official or HF). */
static bool find_prefix(const vg_st_file *f, char *prefix, size_t cap, bool *hf) {
    static const struct { const char *key; bool hf; } probes[] = {
        {"token_embedding.weight", false}, {"shared.weight", true}, {"encoder.embed_tokens.weight", true}};
    for (size_t p = 0; p < sizeof(probes) / sizeof(probes[0]); p++) {
        size_t kl = strlen(probes[p].key);
        for (int64_t i = 0; i < vg_st_count(f); i++) {
            const char *nm = vg_st_name(f, i);
            size_t nl = strlen(nm);
            if (nl < kl || strcmp(nm + nl - kl, probes[p].key) != 0) continue;
            if (nl > kl && nm[nl - kl - 1] != '.') continue;
            if (nl - kl >= cap) continue;
            memcpy(prefix, nm, nl - kl);
            prefix[nl - kl] = 0;
            *hf = probes[p].hf;
            return true;
        }
    }
    return false;
}

static const vg_tensor *get_named(const vg_st_file *f, const char *prefix, const char *name) {
    char full[512];
    snprintf(full, sizeof(full), "%s%s", prefix, name);
    return vg_st_get(f, full);
}

/* The embedding under whichever name is present (HF may hold only the tied copy). */
static const vg_tensor *get_tensor(const vg_st_file *f, const char *prefix, bool hf, int kind, int blk,
                                   char *name, size_t cap) {
    if (hf) hf_name(name, cap, kind, blk);
    else official_name(name, cap, kind, blk);
    const vg_tensor *t = get_named(f, prefix, name);
    if (!t && hf && kind == T_EMB) {
        snprintf(name, cap, "encoder.embed_tokens.weight");
        t = get_named(f, prefix, name);
    }
    return t;
}

static bool count_layers(const vg_st_file *f, const char *prefix, bool hf, int *layers) {
    char name[256];
    int L = 0;
    while (L < 100000) {
        const vg_tensor *t = get_tensor(f, prefix, hf, T_Q, L, name, sizeof(name));
        if (!t) break;
        L++;
    }
    *layers = L;
    return L > 0;
}

vg_status vg_t5_load(vg_t5 *m, const vg_st_file *f, const vg_t5_config *cfg) {
    char prefix[256], name[256];
    bool hf = false;
    memset(m, 0, sizeof(*m));
    if (!find_prefix(f, prefix, sizeof(prefix), &hf))
        return vg_fail(VG_ERR_FORMAT, "%s: no T5 embedding ('token_embedding.weight' or 'shared.weight', "
                       "with or without a prefix)", vg_st_path(f));
    vg_t5_config c;
    if (cfg) c = *cfg;
    else {
        /* infer the config from the shapes */
        const vg_tensor *e = get_tensor(f, prefix, hf, T_EMB, -1, name, sizeof(name));
        int layers;
        if (!e || e->ndim != 2 || !count_layers(f, prefix, hf, &layers))
            return vg_fail(VG_ERR_FORMAT, "%s: cannot infer the T5 config (embedding 2-D and blocks.0.attn.q "
                           "expected)", vg_st_path(f));
        const vg_tensor *q = get_tensor(f, prefix, hf, T_Q, 0, name, sizeof(name));
        const vg_tensor *g = get_tensor(f, prefix, hf, T_GATE, 0, name, sizeof(name));
        const vg_tensor *p0 = get_tensor(f, prefix, hf, T_POS, 0, name, sizeof(name));
        const vg_tensor *p1 = layers > 1 ? get_tensor(f, prefix, hf, T_POS, 1, name, sizeof(name)) : NULL;
        const vg_tensor *ps = hf ? NULL : get_named(f, prefix, "pos_embedding.embedding.weight");
        const vg_tensor *pt = p0 ? p0 : ps;
        if (!q || q->ndim != 2 || !g || g->ndim != 2 || !pt || pt->ndim != 2)
            return vg_fail(VG_ERR_FORMAT, "%s: cannot infer the T5 config: block 0 attn.q, ffn.gate.0 and a "
                           "relative-position table (2-D) expected", vg_st_path(f));
        c = (vg_t5_config){.vocab = e->shape[0], .dim = e->shape[1], .dim_attn = q->shape[0],
                           .ffn = g->shape[0], .heads = (int)pt->shape[1], .layers = layers,
                           .buckets = (int)pt->shape[0], .max_dist = 128, .eps = 1e-6f};
        /* umT5: every block has a table; plain T5: only block 0 (HF) or the top level (official) */
        c.shared_pos = ps != NULL || (layers > 1 && !p1);
    }
    vg_status st = alloc_blocks(m, &c);
    if (st) return st;
    int64_t n = vg_t5_tensor_count(&c);
    for (int64_t i = 0; i < n; i++) {
        int kind = 0, blk = 0, nd = 1;
        int64_t sh[2] = {0, 0};
        tensor_kind(&c, i, &kind, &blk, sh, &nd);
        const vg_tensor *t = get_tensor(f, prefix, hf, kind, blk, name, sizeof(name));
        if (!t) {
            st = vg_fail(VG_ERR_FORMAT, "%s: missing tensor '%s%s'", vg_st_path(f), prefix, name);
            goto fail;
        }
        /* matrices may be GGUF-quantized (the products and the embedding lookup take them) */
        if (t->dtype != VG_DTYPE_F32 && t->dtype != VG_DTYPE_F16 && t->dtype != VG_DTYPE_BF16 &&
            !(vg_dtype_is_quant(t->dtype) && nd == 2 && kind != T_POS && kind != T_POS_SHARED)) {
            st = vg_fail(VG_ERR_FORMAT, "%s: '%s%s': dtype %s, expected F32, F16 or BF16", vg_st_path(f),
                         prefix, name, vg_dtype_name(t->dtype));
            goto fail;
        }
        if (t->ndim != nd || t->shape[0] != sh[0] || (nd == 2 && t->shape[1] != sh[1])) {
            char a[64], b[64];
            st = vg_fail(VG_ERR_SHAPE, "%s: '%s%s': shape %s, expected %s", vg_st_path(f), prefix, name,
                         vg_shape_str(a, sizeof(a), t->ndim, t->shape), vg_shape_str(b, sizeof(b), nd, sh));
            goto fail;
        }
        *field(m, kind, blk) = *t;
    }
    return VG_OK;
fail:
    vg_t5_free(m);
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* gated GELU: fused with the gating product here (ops.h's vg_gelu_tanh would need an extra
 * [N, F] buffer); same formula as src/ops/act.c */

static inline float gelu_tanh1(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

static inline float gelu_tanh_grad1(float x) {
    const float k = 0.7978845608028654f;
    float u = k * (x + 0.044715f * x * x * x), t = tanhf(u);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * x * x);
}

/* Relative-position bucket (T5RelativeEmbedding._relative_position_bucket, bidirectional).
 * The log branch is evaluated in float32 like torch does for a float32 tensor. */
int vg_t5_rel_bucket(int64_t rel, int buckets, int max_dist) {
    int nb = buckets / 2, max_exact = nb / 2;
    int base = rel > 0 ? nb : 0;
    int64_t a = rel < 0 ? -rel : rel;
    if (a < max_exact) return base + (int)a;
    float l = logf((float)a / (float)max_exact) / (float)log((double)max_dist / max_exact);
    int64_t large = max_exact + (int64_t)(l * (float)(nb - max_exact));
    if (large > nb - 1) large = nb - 1;
    return base + (int)large;
}

/* ------------------------------------------------------------------------------------ */
/* activations */

/* Per-layer saved activations (float offsets inside one layer's slab). */
typedef struct { int64_t x, a1, rstd1, q, k, v, p, cat, xm, a2, rstd2, g, h, size; } layer_off;

struct vg_t5_acts {
    vg_t5_config cfg;
    int64_t max_n, n;       /* capacity, tokens of the last forward (0: none) */
    bool train;
    layer_off lo;
    float *layers;          /* [layers or 1][lo.size] */
    float *xf, *rstdf;      /* final residual [N, D] and its rstd [N] */
    int32_t *ids;           /* [N] of the last forward */
    uint8_t *bucket;        /* [N, N] bucket of (query i, key j) */
    float *wnorm, *wbias;   /* f32 copies of a norm weight [D] and the bias table [B, H] */
    /* backward scratch */
    float *dx, *da, *dcat, *dq, *dk, *dv, *du, *dh, *dg, *u, *dprow;
};

static layer_off layer_layout(const vg_t5_config *c, int64_t N) {
    layer_off o;
    int64_t D = c->dim, A = c->dim_attn, F = c->ffn, s = 0;
    o.x = s; s += N * D;
    o.a1 = s; s += N * D;
    o.rstd1 = s; s += N;
    o.q = s; s += N * A;
    o.k = s; s += N * A;
    o.v = s; s += N * A;
    o.p = s; s += (int64_t)c->heads * N * N;
    o.cat = s; s += N * A;
    o.xm = s; s += N * D;
    o.a2 = s; s += N * D;
    o.rstd2 = s; s += N;
    o.g = s; s += N * F;
    o.h = s; s += N * F;
    o.size = s;
    return o;
}

void vg_t5_acts_free(vg_t5_acts *a) {
    if (!a) return;
    free(a->layers); free(a->xf); free(a->rstdf); free(a->ids); free(a->bucket);
    free(a->wnorm); free(a->wbias);
    free(a->dx); free(a->da); free(a->dcat); free(a->dq); free(a->dk); free(a->dv);
    free(a->du); free(a->dh); free(a->dg); free(a->u); free(a->dprow);
    free(a);
}

static void *alloc_f(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

vg_t5_acts *vg_t5_acts_new(const vg_t5_config *c, int64_t max_tokens, bool for_training) {
    if (vg_t5_config_check(c) || max_tokens < 1 || c->buckets > 256) {
        if (max_tokens < 1) vg_fail(VG_ERR_ARG, "t5 acts: max_tokens %lld < 1", (long long)max_tokens);
        else if (c->buckets > 256) vg_fail(VG_ERR_UNSUPPORTED, "t5 acts: %d buckets > 256", c->buckets);
        return NULL;
    }
    vg_t5_acts *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    int64_t N = max_tokens, D = c->dim, A = c->dim_attn, F = c->ffn;
    a->cfg = *c;
    a->max_n = N;
    a->train = for_training;
    a->lo = layer_layout(c, N);
    int64_t nl = for_training ? c->layers : 1;
    a->layers = alloc_f(nl * a->lo.size);
    a->xf = alloc_f(N * D);
    a->rstdf = alloc_f(N);
    a->ids = malloc((size_t)N * sizeof(int32_t));
    a->bucket = malloc((size_t)(N * N));
    a->wnorm = alloc_f(D);
    a->wbias = alloc_f((int64_t)c->buckets * c->heads);
    bool ok = a->layers && a->xf && a->rstdf && a->ids && a->bucket && a->wnorm && a->wbias;
    if (ok && for_training) {
        a->dx = alloc_f(N * D); a->da = alloc_f(N * D);
        a->dcat = alloc_f(N * A); a->dq = alloc_f(N * A); a->dk = alloc_f(N * A); a->dv = alloc_f(N * A);
        a->du = alloc_f(N * F); a->dh = alloc_f(N * F); a->dg = alloc_f(N * F); a->u = alloc_f(N * F);
        a->dprow = alloc_f((int64_t)c->heads * N);
        ok = a->dx && a->da && a->dcat && a->dq && a->dk && a->dv && a->du && a->dh && a->dg && a->u && a->dprow;
    }
    if (!ok) {
        vg_fail(VG_ERR_OOM, "t5 acts: cannot allocate activations for %lld tokens", (long long)N);
        vg_t5_acts_free(a);
        return NULL;
    }
    return a;
}

/* ------------------------------------------------------------------------------------ */
/* forward */

static const vg_tensor *pos_table(const vg_t5 *m, int l) {
    return m->cfg.shared_pos ? &m->pos_embedding_w : &m->blocks[l].pos_embedding_w;
}

/* f32 view of a small weight: the data itself when F32, else converted into buf. */
static const float *as_f32(float *buf, const vg_tensor *t) {
    if (t->dtype == VG_DTYPE_F32) return (const float *)t->data;
    vg_to_f32(buf, t->data, t->dtype, vg_tensor_numel(t));
    return buf;
}

static bool same_config(const vg_t5_config *a, const vg_t5_config *b) {
    return a->vocab == b->vocab && a->dim == b->dim && a->dim_attn == b->dim_attn && a->ffn == b->ffn &&
           a->heads == b->heads && a->layers == b->layers && a->buckets == b->buckets &&
           a->max_dist == b->max_dist && a->shared_pos == b->shared_pos;
}

/* Self-attention of one layer: cat[i, head n] = sum_j softmax_j(q_i.k_j + bias[bucket(i,j), n]) v_j.
 * P [H, N, N] receives the probabilities. One thread per (head, query) row. */
static void attention(float *cat, float *P, const float *q, const float *k, const float *v,
                      const float *bias, const uint8_t *bucket, int64_t N, int H, int64_t hd) {
    int64_t A = (int64_t)H * hd;
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < (int64_t)H * N; r++) {
        int64_t n = r / N, i = r % N;
        float *p = P + (n * N + i) * N;
        const float *qi = q + i * A + n * hd;
        float mx = -INFINITY;
        for (int64_t j = 0; j < N; j++) {
            const float *kj = k + j * A + n * hd;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int64_t c = 0;
            for (; c + 4 <= hd; c += 4) {
                s0 += qi[c] * kj[c]; s1 += qi[c + 1] * kj[c + 1];
                s2 += qi[c + 2] * kj[c + 2]; s3 += qi[c + 3] * kj[c + 3];
            }
            for (; c < hd; c++) s0 += qi[c] * kj[c];
            float s = (s0 + s1) + (s2 + s3) + bias[bucket[i * N + j] * H + n];
            p[j] = s;
            if (s > mx) mx = s;
        }
        double sum = 0;
        for (int64_t j = 0; j < N; j++) { p[j] = expf(p[j] - mx); sum += p[j]; }
        float inv = (float)(1.0 / sum);
        float *o = cat + i * A + n * hd;
        for (int64_t c = 0; c < hd; c++) o[c] = 0;
        for (int64_t j = 0; j < N; j++) {
            p[j] *= inv;
            const float *vj = v + j * A + n * hd;
            for (int64_t c = 0; c < hd; c++) o[c] += p[j] * vj[c];
        }
    }
}

/* checks one sequence and fills its ids, buckets and embedded rows (the layer-0 input) */
static vg_status fwd_begin(vg_t5_acts *acts, const vg_t5 *m, const int32_t *ids, int64_t N) {
    const vg_t5_config *c = &m->cfg;
    if (N < 1) return vg_fail(VG_ERR_ARG, "t5 forward: %lld tokens, expected >= 1", (long long)N);
    for (int64_t i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return vg_fail(VG_ERR_ARG, "t5 forward: token %lld has id %d, expected 0..%lld", (long long)i,
                           ids[i], (long long)(c->vocab - 1));
    if (N > acts->max_n || !same_config(&acts->cfg, c))
        return vg_fail(VG_ERR_ARG, "t5 forward: %lld tokens or config do not fit the activations (max %lld)",
                       (long long)N, (long long)acts->max_n);
    int64_t D = c->dim;
    acts->n = 0;
    memcpy(acts->ids, ids, (size_t)N * sizeof(int32_t));
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++)
            acts->bucket[i * N + j] = (uint8_t)vg_t5_rel_bucket(j - i, c->buckets, c->max_dist);
    layer_off lo = layer_layout(c, N);
    /* x = E[ids] (no scaling) */
    float *x0 = acts->layers + lo.x;
    vg_dtype et = m->token_embedding_w.dtype;
    size_t rb = (size_t)vg_dtype_row_bytes(et, D); /* quantized rows too (GGUF token_embd) */
    for (int64_t i = 0; i < N; i++) {
        const char *row = (const char *)m->token_embedding_w.data + (size_t)ids[i] * rb;
        if (vg_dtype_is_quant(et)) vg_dequant_row(et, row, x0 + i * D, D);
        else vg_to_f32(x0 + i * D, row, et, D);
    }
    return VG_OK;
}

/* block l on one sequence of N tokens */
static void fwd_block(vg_t5_acts *acts, const vg_t5 *m, int l, int64_t N) {
    const vg_t5_config *c = &m->cfg;
    int64_t D = c->dim, A = c->dim_attn, F = c->ffn, hd = A / c->heads;
    int H = c->heads;
    layer_off lo = layer_layout(c, N);
    const vg_t5_block *b = &m->blocks[l];
    float *L = acts->layers + (acts->train ? (int64_t)l * acts->lo.size : 0);
    float *x = L + lo.x, *a1 = L + lo.a1, *q = L + lo.q, *k = L + lo.k, *v = L + lo.v, *P = L + lo.p;
    float *cat = L + lo.cat, *xm = L + lo.xm, *a2 = L + lo.a2, *g = L + lo.g, *h = L + lo.h;
    vg_rmsnorm(a1, L + lo.rstd1, x, as_f32(acts->wnorm, &b->norm1_w), N, D, c->eps);
    vg_matmul_nt(q, a1, b->attn_q_w.data, b->attn_q_w.dtype, NULL, N, A, D, false);
    vg_matmul_nt(k, a1, b->attn_k_w.data, b->attn_k_w.dtype, NULL, N, A, D, false);
    vg_matmul_nt(v, a1, b->attn_v_w.data, b->attn_v_w.dtype, NULL, N, A, D, false);
    attention(cat, P, q, k, v, as_f32(acts->wbias, pos_table(m, l)), acts->bucket, N, H, hd);
    memcpy(xm, x, (size_t)(N * D) * sizeof(float));
    vg_matmul_nt(xm, cat, b->attn_o_w.data, b->attn_o_w.dtype, NULL, N, D, A, true);
    vg_rmsnorm(a2, L + lo.rstd2, xm, as_f32(acts->wnorm, &b->norm2_w), N, D, c->eps);
    vg_matmul_nt(g, a2, b->ffn_gate_0_w.data, b->ffn_gate_0_w.dtype, NULL, N, F, D, false);
    vg_matmul_nt(h, a2, b->ffn_fc1_w.data, b->ffn_fc1_w.dtype, NULL, N, F, D, false);
    /* next residual input: the next layer's x slot, or the final buffer */
    float *xn = l + 1 < c->layers ? (acts->train ? L + acts->lo.size : L) + lo.x : acts->xf;
    float *u = acts->train ? acts->u : h; /* inference: gate in place over h */
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N * F; i++) u[i] = h[i] * gelu_tanh1(g[i]);
    /* inference reuses the single slab: xn == x, so copy xm first (x is no longer needed) */
    if (xn != xm) memcpy(xn, xm, (size_t)(N * D) * sizeof(float));
    vg_matmul_nt(xn, u, b->ffn_fc2_w.data, b->ffn_fc2_w.dtype, NULL, N, D, F, true);
}

vg_status vg_t5_forward_n(float *const *out, vg_t5_acts *const *acts, const vg_t5 *m, const int32_t *const *ids,
                          const int64_t *n, int count) {
    vg_status st;
    for (int s = 0; s < count; s++)
        if ((st = fwd_begin(acts[s], m, ids[s], n[s]))) return st;
    for (int l = 0; l < m->cfg.layers; l++) {
        if (m->block_begin && (st = m->block_begin(m->hook_ctx, l))) return st;
        for (int s = 0; s < count; s++) fwd_block(acts[s], m, l, n[s]);
        if (m->block_end) m->block_end(m->hook_ctx, l);
    }
    for (int s = 0; s < count; s++) {
        vg_rmsnorm(out[s], acts[s]->rstdf, acts[s]->xf, as_f32(acts[s]->wnorm, &m->norm_w), n[s], m->cfg.dim, m->cfg.eps);
        acts[s]->n = n[s];
    }
    return VG_OK;
}

vg_status vg_t5_forward(float *out, vg_t5_acts *acts, const vg_t5 *m, const int32_t *ids, int64_t n) {
    vg_t5_acts *own = NULL;
    if (n < 1) return vg_fail(VG_ERR_ARG, "t5 forward: %lld tokens, expected >= 1", (long long)n);
    if (!acts && !(own = acts = vg_t5_acts_new(&m->cfg, n, false))) return VG_ERR_OOM;
    vg_status st = vg_t5_forward_n(&out, &acts, m, &ids, &n, 1);
    vg_t5_acts_free(own);
    return st;
}

vg_status vg_t5_encode(float *out, int64_t *n_tok, const vg_t5 *m, const int32_t *ids,
                       const int32_t *mask, int64_t L) {
    int64_t n = 0;
    while (n < L && mask[n]) n++;
    for (int64_t i = n; i < L; i++)
        if (mask[i]) return vg_fail(VG_ERR_ARG, "t5 encode: mask is not a prefix of ones (mask[%lld] = %d after "
                                    "a 0 at %lld)", (long long)i, mask[i], (long long)n);
    *n_tok = n;
    return vg_t5_forward(out, NULL, m, ids, n);
}

/* ------------------------------------------------------------------------------------ */
/* backward */

static bool all_f32(const vg_t5 *m) {
    if (m->token_embedding_w.dtype != VG_DTYPE_F32 || m->norm_w.dtype != VG_DTYPE_F32) return false;
    if (m->cfg.shared_pos && m->pos_embedding_w.dtype != VG_DTYPE_F32) return false;
    for (int l = 0; l < m->cfg.layers; l++) {
        const vg_t5_block *b = &m->blocks[l];
        const vg_tensor *t[] = {&b->norm1_w, &b->attn_q_w, &b->attn_k_w, &b->attn_v_w, &b->attn_o_w,
                                &b->norm2_w, &b->ffn_gate_0_w, &b->ffn_fc1_w, &b->ffn_fc2_w};
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
            if (t[i]->dtype != VG_DTYPE_F32) return false;
        if (!m->cfg.shared_pos && b->pos_embedding_w.dtype != VG_DTYPE_F32) return false;
    }
    return true;
}

/* Attention backward for one layer. dcat [N, A] in; dq/dk/dv [N, A] overwritten;
 * dbias [B, H] accumulated. One thread per head: a head owns its columns of dq/dk/dv
 * and its column of dbias, so the reduction order is fixed. */
static void attention_bwd(float *dq, float *dk, float *dv, float *dbias, float *dprow, const float *dcat,
                          const float *P, const float *q, const float *k, const float *v,
                          const uint8_t *bucket, int64_t N, int H, int64_t hd) {
    int64_t A = (int64_t)H * hd;
    memset(dq, 0, (size_t)(N * A) * sizeof(float));
    memset(dk, 0, (size_t)(N * A) * sizeof(float));
    memset(dv, 0, (size_t)(N * A) * sizeof(float));
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < H; n++) {
        float *dp = dprow + (int64_t)n * N;
        for (int64_t i = 0; i < N; i++) {
            const float *p = P + ((int64_t)n * N + i) * N, *gi = dcat + i * A + n * hd;
            const float *qi = q + i * A + n * hd;
            double rs = 0;
            for (int64_t j = 0; j < N; j++) {
                const float *vj = v + j * A + n * hd;
                float s = 0;
                for (int64_t c = 0; c < hd; c++) s += gi[c] * vj[c];
                dp[j] = s;
                rs += (double)s * p[j];
                float *dvj = dv + j * A + n * hd;
                for (int64_t c = 0; c < hd; c++) dvj[c] += p[j] * gi[c];
            }
            float *dqi = dq + i * A + n * hd;
            for (int64_t j = 0; j < N; j++) {
                float ds = p[j] * (dp[j] - (float)rs);
                const float *kj = k + j * A + n * hd;
                float *dkj = dk + j * A + n * hd;
                for (int64_t c = 0; c < hd; c++) { dqi[c] += ds * kj[c]; dkj[c] += ds * qi[c]; }
                dbias[bucket[i * N + j] * H + n] += ds;
            }
        }
    }
}

vg_status vg_t5_backward(float *grads, vg_t5_acts *acts, const vg_t5 *m, const float *dout) {
    const vg_t5_config *c = &m->cfg;
    if (!acts->train || acts->n < 1 || !same_config(&acts->cfg, c))
        return vg_fail(VG_ERR_ARG, "t5 backward: needs training activations from a forward of this model");
    if (!all_f32(m)) return vg_fail(VG_ERR_UNSUPPORTED, "t5 backward: needs F32 weights");
    int64_t N = acts->n, D = c->dim, A = c->dim_attn, F = c->ffn, hd = A / c->heads;
    int H = c->heads;
    layer_off lo = layer_layout(c, N);
    /* offsets of each tensor's gradient */
    int64_t nt = vg_t5_tensor_count(c);
    int64_t *off = malloc((size_t)nt * sizeof(int64_t));
    if (!off) return vg_fail(VG_ERR_OOM, "t5 backward: offsets");
    for (int64_t i = 0, o = 0; i < nt; i++) {
        int kind = 0, blk = 0, nd = 1;
        int64_t sh[2] = {0, 0};
        tensor_kind(c, i, &kind, &blk, sh, &nd);
        off[i] = o;
        o += sh[0] * (nd == 2 ? sh[1] : 1);
    }
    int64_t base = 1 + (c->shared_pos ? 1 : 0), per = blocks_tensors(c);
#define G(l, kind) (grads + off[base + (int64_t)(l) * per + ((kind) - T_NORM1)])
    float *dx = acts->dx, *da = acts->da;
    /* final norm */
    memset(dx, 0, (size_t)(N * D) * sizeof(float));
    vg_rmsnorm_bwd(dx, grads + off[nt - 1], dout, acts->xf, (const float *)m->norm_w.data, acts->rstdf, N, D);
    for (int l = c->layers - 1; l >= 0; l--) {
        const vg_t5_block *b = &m->blocks[l];
        float *L = acts->layers + (int64_t)l * acts->lo.size;
        const float *x = L + lo.x, *a1 = L + lo.a1, *q = L + lo.q, *k = L + lo.k, *v = L + lo.v;
        const float *P = L + lo.p, *cat = L + lo.cat, *xm = L + lo.xm, *a2 = L + lo.a2;
        const float *g = L + lo.g, *h = L + lo.h;
        /* FFN: x_out = xm + fc2(u), u = h * gelu(g); dx holds d x_out */
        float *u = acts->u, *du = acts->du, *dh = acts->dh, *dg = acts->dg;
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < N * F; i++) u[i] = h[i] * gelu_tanh1(g[i]);
        vg_matmul_tn(G(l, T_FC2), dx, u, N, D, F);
        vg_matmul_nn(du, dx, (const float *)b->ffn_fc2_w.data, N, D, F, false);
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < N * F; i++) {
            dh[i] = du[i] * gelu_tanh1(g[i]);
            dg[i] = du[i] * h[i] * gelu_tanh_grad1(g[i]);
        }
        vg_matmul_tn(G(l, T_FC1), dh, a2, N, F, D);
        vg_matmul_tn(G(l, T_GATE), dg, a2, N, F, D);
        vg_matmul_nn(da, dh, (const float *)b->ffn_fc1_w.data, N, F, D, false);
        vg_matmul_nn(da, dg, (const float *)b->ffn_gate_0_w.data, N, F, D, true);
        vg_rmsnorm_bwd(dx, G(l, T_NORM2), da, xm, (const float *)b->norm2_w.data, L + lo.rstd2, N, D);
        /* attention: xm = x + o(cat); dx now holds d xm */
        vg_matmul_tn(G(l, T_O), dx, cat, N, D, A);
        vg_matmul_nn(acts->dcat, dx, (const float *)b->attn_o_w.data, N, D, A, false);
        float *dbias = c->shared_pos ? grads + off[1] : G(l, T_POS);
        attention_bwd(acts->dq, acts->dk, acts->dv, dbias, acts->dprow, acts->dcat, P, q, k, v, acts->bucket,
                      N, H, hd);
        vg_matmul_tn(G(l, T_Q), acts->dq, a1, N, A, D);
        vg_matmul_tn(G(l, T_K), acts->dk, a1, N, A, D);
        vg_matmul_tn(G(l, T_V), acts->dv, a1, N, A, D);
        vg_matmul_nn(da, acts->dq, (const float *)b->attn_q_w.data, N, A, D, false);
        vg_matmul_nn(da, acts->dk, (const float *)b->attn_k_w.data, N, A, D, true);
        vg_matmul_nn(da, acts->dv, (const float *)b->attn_v_w.data, N, A, D, true);
        vg_rmsnorm_bwd(dx, G(l, T_NORM1), da, x, (const float *)b->norm1_w.data, L + lo.rstd1, N, D);
    }
#undef G
    /* embedding rows, in token order (a repeated id sums in a fixed order) */
    for (int64_t i = 0; i < N; i++) {
        float *ge = grads + off[0] + (int64_t)acts->ids[i] * D;
        for (int64_t j = 0; j < D; j++) ge[j] += dx[i * D + j];
    }
    free(off);
    return VG_OK;
}
