/* wan_names.c - Wan2.1 checkpoint names: the DiT (official, diffusers, with or without a prefix),
 * config detection from shapes or config.json, and the umT5 encoder (official / HF T5 names),
 * mapped onto vidgen's fields. Spec: shared/WAN.md 1.4, 2.3-2.4, 6.
 * Legend: D DiT dim, Dt text dim. */
#include "model/wan_internal.h"
#include "vidgen/quant.h"

/* ================================================================ DiT names */

bool vg_wan_dit_name_diffusers(char *out, size_t cap, const char *o) {
    static const struct { const char *a, *b; } top[] = {
        {"patch_embedding.", "patch_embedding."},
        {"text_embedding.0.", "condition_embedder.text_embedder.linear_1."},
        {"text_embedding.2.", "condition_embedder.text_embedder.linear_2."},
        {"time_embedding.0.", "condition_embedder.time_embedder.linear_1."},
        {"time_embedding.2.", "condition_embedder.time_embedder.linear_2."},
        {"time_projection.1.", "condition_embedder.time_proj."},
        {"head.head.", "proj_out."},
    };
    static const struct { const char *a, *b; } blk[] = {
        {"self_attn.q.", "attn1.to_q."}, {"self_attn.k.", "attn1.to_k."}, {"self_attn.v.", "attn1.to_v."},
        {"self_attn.o.", "attn1.to_out.0."}, {"self_attn.norm_q.", "attn1.norm_q."}, {"self_attn.norm_k.", "attn1.norm_k."},
        {"cross_attn.q.", "attn2.to_q."}, {"cross_attn.k.", "attn2.to_k."}, {"cross_attn.v.", "attn2.to_v."},
        {"cross_attn.o.", "attn2.to_out.0."}, {"cross_attn.norm_q.", "attn2.norm_q."}, {"cross_attn.norm_k.", "attn2.norm_k."},
        {"norm3.", "norm2."}, {"ffn.0.", "ffn.net.0.proj."}, {"ffn.2.", "ffn.net.2."},
    };
    int r;
    if (strcmp(o, "head.modulation") == 0) r = snprintf(out, cap, "scale_shift_table");
    else if (strncmp(o, "blocks.", 7) == 0) {
        char *end;
        long i = strtol(o + 7, &end, 10);
        if (end == o + 7 || *end != '.') return false;
        const char *rest = end + 1;
        if (strcmp(rest, "modulation") == 0) { r = snprintf(out, cap, "blocks.%ld.scale_shift_table", i); return r > 0 && (size_t)r < cap; }
        for (size_t k = 0; k < sizeof(blk) / sizeof(blk[0]); k++) {
            size_t l = strlen(blk[k].a);
            if (strncmp(rest, blk[k].a, l) == 0) {
                r = snprintf(out, cap, "blocks.%ld.%s%s", i, blk[k].b, rest + l);
                return r > 0 && (size_t)r < cap;
            }
        }
        return false;
    } else {
        for (size_t k = 0; k < sizeof(top) / sizeof(top[0]); k++) {
            size_t l = strlen(top[k].a);
            if (strncmp(o, top[k].a, l) == 0) {
                r = snprintf(out, cap, "%s%s", top[k].b, o + l);
                return r > 0 && (size_t)r < cap;
            }
        }
        return false;
    }
    return r > 0 && (size_t)r < cap;
}

/* file name of an official key under the detected naming and prefix */
static bool dit_key(char *out, size_t cap, const char *official, vg_wan_names names, const char *prefix) {
    char tmp[256];
    if (names == VG_WAN_NAMES_DIFFUSERS) { if (!vg_wan_dit_name_diffusers(tmp, sizeof(tmp), official)) return false; }
    else snprintf(tmp, sizeof(tmp), "%s", official);
    int r = snprintf(out, cap, "%s%s", prefix, tmp);
    return r > 0 && (size_t)r < cap;
}

static const vg_tensor *dit_find(const vg_wan_files *f, const char *official, vg_wan_names names, const char *prefix) {
    char k[320];
    return dit_key(k, sizeof(k), official, names, prefix) ? vg_wan_files_find(f, k, NULL) : NULL;
}

/* diffusers WanTransformer3DModel config keys */
static vg_status dit_config_diffusers(vg_dit_config *c, const cJSON *o, const char *what) {
    static const char *ik[] = {"num_attention_heads", "attention_head_dim", "ffn_dim", "freq_dim", "in_channels",
                               "out_channels", "num_layers", "text_dim"};
    int v[8] = {0};
    for (int k = 0; k < 8; k++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, ik[k]);
        if (!it) continue;
        if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 1e6 || it->valuedouble != floor(it->valuedouble))
            return vg_fail(VG_ERR_FORMAT, "%s: \"%s\" must be a positive integer", what, ik[k]);
        v[k] = (int)it->valuedouble;
    }
    if (v[0]) c->heads = v[0];
    if (v[0] && v[1]) c->dim = v[0] * v[1];
    if (v[2]) c->ffn_dim = v[2];
    if (v[3]) c->freq_dim = v[3];
    if (v[4]) c->in_dim = v[4];
    if (v[5]) c->out_dim = v[5];
    if (v[6]) c->layers = v[6];
    if (v[7]) c->text_dim = v[7];
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "eps");
    if (e) {
        if (!cJSON_IsNumber(e)) return vg_fail(VG_ERR_FORMAT, "%s: \"eps\" must be a number", what);
        c->eps = (float)e->valuedouble;
    }
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "patch_size");
    if (ps) {
        if (!cJSON_IsArray(ps) || cJSON_GetArraySize(ps) != 3) return vg_fail(VG_ERR_FORMAT, "%s: \"patch_size\" must be [t,h,w]", what);
        for (int i = 0; i < 3; i++) {
            const cJSON *x = cJSON_GetArrayItem(ps, i);
            if (!cJSON_IsNumber(x) || x->valuedouble < 1 || x->valuedouble > 64) return vg_fail(VG_ERR_FORMAT, "%s: bad \"patch_size\"", what);
            c->patch[i] = (int)x->valuedouble;
        }
    }
    return VG_OK;
}

/* Applies a JSON config (official or diffusers keys); ignores JSON that is neither. */
static vg_status dit_apply_json(vg_dit_config *c, const char *json, const char *what, bool *applied) {
    cJSON *o = cJSON_Parse(json);
    vg_status st = VG_OK;
    *applied = false;
    if (!o || !cJSON_IsObject(o)) { cJSON_Delete(o); return VG_OK; }
    if (cJSON_GetObjectItemCaseSensitive(o, "num_attention_heads")) { st = dit_config_diffusers(c, o, what); *applied = true; }
    else if (cJSON_GetObjectItemCaseSensitive(o, "dim") || cJSON_GetObjectItemCaseSensitive(o, "num_heads")) {
        st = vg_dit_config_from_json(c, json, what);
        *applied = true;
    }
    cJSON_Delete(o);
    return st;
}

vg_status vg_wan_dit_detect(vg_dit_config *cfg, vg_wan_names *names, char *prefix, size_t cap, const vg_wan_files *f) {
    vg_dit_config c;
    vg_dit_config_wan13b(&c);
    if (vg_wan_find_suffix_(f, "blocks.0.self_attn.q.weight", prefix, cap)) *names = VG_WAN_NAMES_OFFICIAL;
    else if (vg_wan_find_suffix_(f, "blocks.0.attn1.to_q.weight", prefix, cap)) *names = VG_WAN_NAMES_DIFFUSERS;
    else return vg_fail(VG_ERR_FORMAT, "%s: not a Wan DiT (no 'blocks.0.self_attn.q.weight' or diffusers "
                        "'blocks.0.attn1.to_q.weight' under any prefix)", f->path);
    /* shapes */
    const vg_tensor *pe = dit_find(f, "patch_embedding.weight", *names, prefix);
    const vg_tensor *te = dit_find(f, "text_embedding.0.weight", *names, prefix);
    const vg_tensor *tm = dit_find(f, "time_embedding.0.weight", *names, prefix);
    const vg_tensor *ff = dit_find(f, "blocks.0.ffn.0.weight", *names, prefix);
    const vg_tensor *hd = dit_find(f, "head.head.weight", *names, prefix);
    if (pe && pe->ndim == 5) {
        c.dim = (int)pe->shape[0]; c.in_dim = (int)pe->shape[1];
        c.patch[0] = (int)pe->shape[2]; c.patch[1] = (int)pe->shape[3]; c.patch[2] = (int)pe->shape[4];
    }
    if (te && te->ndim == 2) c.text_dim = (int)te->shape[1];
    if (tm && tm->ndim == 2) c.freq_dim = (int)tm->shape[1];
    if (ff && ff->ndim == 2) c.ffn_dim = (int)ff->shape[0];
    if (hd && hd->ndim == 2 && c.patch[1] * c.patch[2] > 0) c.out_dim = (int)(hd->shape[0] / (c.patch[0] * c.patch[1] * c.patch[2]));
    int layers = 0;
    char nm[64];
    for (;; layers++) {
        snprintf(nm, sizeof(nm), "blocks.%d.self_attn.q.weight", layers);
        if (!dit_find(f, nm, *names, prefix)) break;
    }
    c.layers = layers;
    c.heads = c.dim % 128 == 0 ? c.dim / 128 : 0; /* Wan: head_dim 128 */
    /* JSON config: __metadata__ "config" of the first shard, else config.json beside the file */
    const char *meta = vg_st_metadata(f->sh[0], "config");
    bool applied = false;
    vg_status st = VG_OK;
    if (meta) st = dit_apply_json(&c, meta, f->path, &applied);
    if (!st && !applied) {
        char dir[4096], p[4200], *txt = NULL;
        dir_of(dir, sizeof(dir), f->path);
        snprintf(p, sizeof(p), "%s/config.json", dir);
        if (access(p, R_OK) == 0 && vg_file_read(p, &txt, NULL) == VG_OK) {
            st = dit_apply_json(&c, txt, p, &applied);
            free(txt);
        }
    }
    if (st) return st;
    if (c.heads <= 0 || c.dim % c.heads || (c.dim / c.heads) % 2)
        return vg_fail(VG_ERR_FORMAT, "%s: cannot tell the head count of a dim-%d DiT (not a multiple of 128 and no "
                       "config with num_heads)", f->path, c.dim);
    if (c.layers <= 0 || c.patch[0] != 1)
        return vg_fail(VG_ERR_FORMAT, "%s: DiT with %d layers and temporal patch %d is not supported", f->path, c.layers, c.patch[0]);
    *cfg = c;
    return VG_OK;
}

typedef struct {
    vg_wan_files *f; vg_wan_names names; const char *prefix;
    vg_status err; float *vec; int64_t vec_off; int pass;
    int wtype;   /* -1, or the vg_dtype the float matrices are converted to */
} wload_ctx;

static bool is_float(vg_dtype t) { return t == VG_DTYPE_F32 || t == VG_DTYPE_F16 || t == VG_DTYPE_BF16; }

int64_t vg_wan_converted_bytes_(const vg_tensor *t, int wtype) {
    if (wtype < 0 || !t || t->ndim != 2 || !is_float(t->dtype) || (vg_dtype)wtype == t->dtype) return 0;
    int64_t rb = vg_dtype_row_bytes((vg_dtype)wtype, t->shape[1]);
    return rb < 0 ? 0 : rb * t->shape[0];
}

/* Whether a matrix t of the DiT is converted to wtype at load (modulations never are); *bytes
 * gets its converted size. */
static bool converts(const vg_tensor *t, const char *name, int wtype, int64_t *bytes) {
    if (strstr(name, "modulation")) return false;
    *bytes = vg_wan_converted_bytes_(t, wtype);
    return *bytes > 0;
}

/* t's rows converted to wt into dst (f32 staging in chunks of rows), then its source pages dropped. */
vg_status vg_wan_convert_matrix_(const vg_tensor *t, vg_dtype wt, void *dst) {
    int64_t rows = t->shape[0], cols = t->shape[1], chunk = 64, rb = vg_dtype_row_bytes(wt, cols);
    size_t es = vg_dtype_size(t->dtype);
    float *tmp = malloc(sizeof(float) * (size_t)(chunk * cols));
    if (!tmp) return vg_fail(VG_ERR_OOM, "out of memory converting weights to %s", vg_dtype_name(wt));
    vg_status st = VG_OK;
    for (int64_t r = 0; r < rows && !st; r += chunk) {
        int64_t nr = rows - r < chunk ? rows - r : chunk;
        vg_to_f32(tmp, (const uint8_t *)t->data + (size_t)(r * cols) * es, t->dtype, nr * cols);
        st = vg_quantize(wt, tmp, (uint8_t *)dst + r * rb, nr, cols);
    }
    free(tmp);
    /* the mapped source is not needed any more: its pages may go (clean file pages are dropped and
     * re-read if touched again; a tensor in heap memory, e.g. an aligned copy, is kept) */
    vg_release_pages(t->data, (size_t)(rows * cols) * es);
    return st;
}

static void wload_fn(void *ctx, const char *name, int nd, const int64_t *s, vg_w *w) {
    wload_ctx *lc = ctx;
    if (lc->err) return;
    int64_t n = 1, qbytes = 0;
    for (int i = 0; i < nd; i++) n *= s[i];
    bool vec = nd == 1 || strstr(name, "modulation") != NULL;
    char key[320];
    if (!dit_key(key, sizeof(key), name, lc->names, lc->prefix)) {
        lc->err = vg_fail(VG_ERR_FORMAT, "%s: no file name for DiT key '%s'", lc->f->path, name);
        return;
    }
    if (lc->pass == 0) {
        if (vec) lc->vec_off += n;
        else if (converts(vg_wan_files_find(lc->f, key, NULL), name, lc->wtype, &qbytes)) lc->vec_off += ((qbytes + 63) / 64) * 16 + 16;
        return;
    }
    const vg_tensor *t;
    vg_status st = vg_wan_files_require_(lc->f, key, nd, s, &t);
    if (st) { lc->err = st; return; }
    if (!is_float(t->dtype) && !vg_dtype_is_quant(t->dtype)) {
        lc->err = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' has dtype %s (expected F32, F16, BF16 or a GGUF quantized type)",
                          lc->f->path, key, vg_dtype_name(t->dtype));
        return;
    }
    if (vec) { /* small vectors as f32 (the elementwise code reads floats), as vg_dit_load */
        float *dst = lc->vec + lc->vec_off;
        if (vg_dtype_is_quant(t->dtype)) vg_dequant_row(t->dtype, t->data, dst, n);
        else vg_to_f32(dst, t->data, t->dtype, n);
        w->d = dst; w->t = VG_DTYPE_F32;
        lc->vec_off += n;
    } else if (converts(t, name, lc->wtype, &qbytes)) { /* --type: owned, 64-byte aligned */
        float *dst = lc->vec + lc->vec_off;
        uintptr_t al = ((uintptr_t)dst + 63) & ~(uintptr_t)63;
        if ((lc->err = vg_wan_convert_matrix_(t, (vg_dtype)lc->wtype, (void *)al))) return;
        w->d = (void *)al; w->t = (vg_dtype)lc->wtype;
        lc->vec_off += ((qbytes + 63) / 64) * 16 + 16;
    } else { w->d = t->data; w->t = t->dtype; }
}

vg_status vg_wan_dit_load_as(vg_dit *m, const vg_dit_config *cfg, vg_wan_files *f, vg_wan_names names, const char *prefix,
                             int weight_type) {
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    if (weight_type >= VG_DTYPE_COUNT || (weight_type >= 0 && !is_float((vg_dtype)weight_type) && !vg_dtype_is_quant((vg_dtype)weight_type)))
        return vg_fail(VG_ERR_ARG, "DiT: weight type %d is not F32, F16, BF16 or a quantized type", weight_type);
    m->w.blk = calloc((size_t)cfg->layers, sizeof(vg_dit_block));
    if (!m->w.blk) return vg_fail(VG_ERR_OOM, "DiT: out of memory");
    vg_wan_files_reset_used_(f);
    wload_ctx lc = {f, names, prefix ? prefix : "", VG_OK, NULL, 0, 0, weight_type};
    vg_dit_visit(&m->cfg, &m->w, wload_fn, &lc);
    if (lc.err) { vg_dit_free(m); return lc.err; }
    m->n_owned = lc.vec_off;
    m->owned = calloc((size_t)(lc.vec_off ? lc.vec_off : 1), sizeof(float)); /* padding between matrices zeroed */
    if (!m->owned) { vg_dit_free(m); return vg_fail(VG_ERR_OOM, "DiT: out of memory (%lld MiB)", (long long)(lc.vec_off >> 18)); }
    lc.vec = m->owned; lc.vec_off = 0; lc.pass = 1;
    vg_dit_visit(&m->cfg, &m->w, wload_fn, &lc);
    if (lc.err) { vg_dit_free(m); return lc.err; }
    return VG_OK;
}

vg_status vg_wan_dit_load(vg_dit *m, const vg_dit_config *cfg, vg_wan_files *f, vg_wan_names names, const char *prefix) {
    return vg_wan_dit_load_as(m, cfg, f, names, prefix, -1);
}

int64_t vg_wan_dit_bytes_as_(const vg_wan_files *f, int weight_type) {
    int64_t total = 0, qb;
    for (int i = 0; i < f->n; i++)
        for (int64_t k = 0; k < vg_st_count(f->sh[i]); k++) {
            const vg_tensor *t = vg_st_at(f->sh[i], k);
            int64_t rb = vg_dtype_row_bytes(t->dtype, t->ndim ? t->shape[t->ndim - 1] : 1);
            for (int d = 0; d + 1 < t->ndim; d++) rb *= t->shape[d];
            total += converts(t, vg_st_name(f->sh[i], k), weight_type, &qb) ? qb : rb > 0 ? rb : 0;
        }
    return total;
}

/* ================================================================ umT5 */

/* HF UMT5EncoderModel name of an official T5Encoder key (WAN.md 2.4). */
bool vg_wan_t5_hf_name_(char *out, size_t cap, const char *o) {
    static const struct { const char *a, *b; } blk[] = {
        {"norm1.weight", "layer.0.layer_norm.weight"}, {"attn.q.weight", "layer.0.SelfAttention.q.weight"},
        {"attn.k.weight", "layer.0.SelfAttention.k.weight"}, {"attn.v.weight", "layer.0.SelfAttention.v.weight"},
        {"attn.o.weight", "layer.0.SelfAttention.o.weight"},
        {"pos_embedding.embedding.weight", "layer.0.SelfAttention.relative_attention_bias.weight"},
        {"norm2.weight", "layer.1.layer_norm.weight"}, {"ffn.gate.0.weight", "layer.1.DenseReluDense.wi_0.weight"},
        {"ffn.fc1.weight", "layer.1.DenseReluDense.wi_1.weight"}, {"ffn.fc2.weight", "layer.1.DenseReluDense.wo.weight"},
    };
    int r = -1;
    if (strcmp(o, "token_embedding.weight") == 0) r = snprintf(out, cap, "shared.weight");
    else if (strcmp(o, "norm.weight") == 0) r = snprintf(out, cap, "encoder.final_layer_norm.weight");
    else if (strncmp(o, "blocks.", 7) == 0) {
        char *end;
        long i = strtol(o + 7, &end, 10);
        if (*end != '.') return false;
        for (size_t k = 0; k < sizeof(blk) / sizeof(blk[0]); k++)
            if (strcmp(end + 1, blk[k].a) == 0) r = snprintf(out, cap, "encoder.block.%ld.%s", i, blk[k].b);
    }
    return r > 0 && (size_t)r < cap;
}

static vg_tensor *t5_field(vg_t5 *m, const char *o) {
    if (strcmp(o, "token_embedding.weight") == 0) return &m->token_embedding_w;
    if (strcmp(o, "norm.weight") == 0) return &m->norm_w;
    if (strcmp(o, "pos_embedding.embedding.weight") == 0) return &m->pos_embedding_w;
    if (strncmp(o, "blocks.", 7)) return NULL;
    char *end;
    long i = strtol(o + 7, &end, 10);
    if (*end != '.' || i < 0 || i >= m->cfg.layers) return NULL;
    vg_t5_block *b = &m->blocks[i];
    const char *r = end + 1;
    if (!strcmp(r, "norm1.weight")) return &b->norm1_w;
    if (!strcmp(r, "attn.q.weight")) return &b->attn_q_w;
    if (!strcmp(r, "attn.k.weight")) return &b->attn_k_w;
    if (!strcmp(r, "attn.v.weight")) return &b->attn_v_w;
    if (!strcmp(r, "attn.o.weight")) return &b->attn_o_w;
    if (!strcmp(r, "norm2.weight")) return &b->norm2_w;
    if (!strcmp(r, "ffn.gate.0.weight")) return &b->ffn_gate_0_w;
    if (!strcmp(r, "ffn.fc1.weight")) return &b->ffn_fc1_w;
    if (!strcmp(r, "ffn.fc2.weight")) return &b->ffn_fc2_w;
    if (!strcmp(r, "pos_embedding.embedding.weight")) return &b->pos_embedding_w;
    return NULL;
}

vg_status vg_wan_t5_load(vg_t5 *m, vg_wan_files *f) {
    memset(m, 0, sizeof(*m));
    if (f->n == 1) return vg_t5_load(m, f->sh[0], NULL);
    /* shards (diffusers text_encoder/): HF names under a common prefix */
    char prefix[128], nm[512], hf[256];
    bool official = false;
    if (!vg_wan_find_suffix_(f, "encoder.block.0.layer.0.SelfAttention.q.weight", prefix, sizeof(prefix))) {
        if (!vg_wan_find_suffix_(f, "blocks.0.attn.q.weight", prefix, sizeof(prefix)))
            return vg_fail(VG_ERR_FORMAT, "%s: not a T5 encoder (no block 0 attention q weight)", f->path);
        official = true;
    }
#define T5GET(off) (official ? (snprintf(nm, sizeof(nm), "%s%s", prefix, off), vg_wan_files_find(f, nm, NULL)) \
                             : (vg_wan_t5_hf_name_(hf, sizeof(hf), off) ? (snprintf(nm, sizeof(nm), "%s%s", prefix, hf), vg_wan_files_find(f, nm, NULL)) : NULL))
    const vg_tensor *e = T5GET("token_embedding.weight");
    if (!e && !official) { snprintf(nm, sizeof(nm), "%sencoder.embed_tokens.weight", prefix); e = vg_wan_files_find(f, nm, NULL); }
    const vg_tensor *q = T5GET("blocks.0.attn.q.weight"), *g = T5GET("blocks.0.ffn.gate.0.weight");
    const vg_tensor *p0 = T5GET("blocks.0.pos_embedding.embedding.weight"), *p1 = T5GET("blocks.1.pos_embedding.embedding.weight");
    if (!e || e->ndim != 2 || !q || q->ndim != 2 || !g || g->ndim != 2 || !p0 || p0->ndim != 2)
        return vg_fail(VG_ERR_FORMAT, "%s: cannot infer the T5 config (embedding, block 0 q, gate and relative-position "
                       "table expected, 2-D)", f->path);
    int layers = 0;
    for (;; layers++) {
        char o[64];
        snprintf(o, sizeof(o), "blocks.%d.attn.q.weight", layers);
        if (!T5GET(o)) break;
    }
    vg_t5_config c = {.vocab = e->shape[0], .dim = e->shape[1], .dim_attn = q->shape[0], .ffn = g->shape[0],
                      .heads = (int)p0->shape[1], .layers = layers, .buckets = (int)p0->shape[0], .max_dist = 128,
                      .shared_pos = layers > 1 && !p1, .eps = 1e-6f};
    if (c.shared_pos)
        return vg_fail(VG_ERR_UNSUPPORTED, "%s: a T5 with one shared position table (not umT5) in shards", f->path);
    vg_status st = vg_t5_config_check(&c);
    if (st) return st;
    m->cfg = c;
    m->blocks = calloc((size_t)layers, sizeof(vg_t5_block));
    if (!m->blocks) return vg_fail(VG_ERR_OOM, "T5: out of memory");
    vg_wan_files_reset_used_(f);
    int64_t n = vg_t5_tensor_count(&c);
    for (int64_t i = 0; i < n && !st; i++) {
        char o[128];
        int nd;
        int64_t sh[2], off;
        vg_t5_tensor_info(&c, i, o, sizeof(o), &nd, sh, &off);
        const vg_tensor *t = NULL;
        if (official) snprintf(nm, sizeof(nm), "%s%s", prefix, o);
        else if (vg_wan_t5_hf_name_(hf, sizeof(hf), o)) snprintf(nm, sizeof(nm), "%s%s", prefix, hf);
        else { st = vg_fail(VG_ERR_FORMAT, "%s: no HF name for T5 key '%s'", f->path, o); break; }
        if (!official && i == 0 && !vg_wan_files_find(f, nm, NULL)) snprintf(nm, sizeof(nm), "%sencoder.embed_tokens.weight", prefix);
        if ((st = vg_wan_files_require_(f, nm, nd, sh, &t))) break;
        if (t->dtype != VG_DTYPE_F32 && t->dtype != VG_DTYPE_F16 && t->dtype != VG_DTYPE_BF16 &&
            !(vg_dtype_is_quant(t->dtype) && nd == 2)) {
            st = vg_fail(VG_ERR_FORMAT, "%s: '%s': dtype %s, expected F32, F16, BF16 (or quantized, for a matrix)", f->path, nm, vg_dtype_name(t->dtype));
            break;
        }
        vg_tensor *dst = t5_field(m, o);
        if (!dst) { st = vg_fail(VG_ERR_FORMAT, "T5: no field for '%s'", o); break; }
        *dst = *t;
    }
#undef T5GET
    if (st) vg_t5_free(m);
    return st;
}

