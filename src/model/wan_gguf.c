/* wan_gguf.c - GGUF checkpoints as the Wan loaders see them: a GGUF file opened (src/io/gguf.c)
 * and presented as a vg_st_file whose names and shapes are those of the safetensors layouts the
 * loaders read. Layouts:
 *  - ComfyUI-GGUF (city96): DiT names without "model.diffusion_model." (the prefix detection finds
 *    either); a tensor GGUF cannot shape (5-D, K-quant rows) is stored flattened with its real
 *    torch shape in the i32 array "comfy.gguf.orig_shape.<name>".
 *  - stable-diffusion.cpp (-M convert): prefixed names; the 5-D patch_embedding folded to 4-D
 *    [D*C, 1, ph, pw] (same bytes as [D, C, 1, ph, pw]); modulations [1,6,D] / [1,2,D] stored 2-D
 *    (GGUF drops trailing ne of 1).
 *  - llama.cpp umT5 encoder: token_embd, enc.blk.N.{attn_q,attn_k,attn_v,attn_o,attn_rel_b,
 *    attn_norm,ffn_gate,ffn_up,ffn_down,ffn_norm}, enc.output_norm -> the HF T5 names.
 * Quantized 2-D matrices stay quantized and mapped (the products run on them); quantized vectors,
 * modulations, relative-position tables and tensors of other ranks (patch and conv weights), which
 * go through elementwise code, are dequantized to f32 here, once, into a buffer the view owns. */
#include "model/wan_internal.h"
#include "vidgen/gguf.h"
#include "vidgen/quant.h"

#define GGUF_KEY_MAX 4200 /* a GGUF name (<= 4096) and a prefix */

typedef struct { vg_gguf *g; float *buf; } gguf_owner;

static void owner_release(void *p) {
    gguf_owner *o = p;
    if (!o) return;
    vg_gguf_close(o->g);
    free(o->buf);
    free(o);
}

static const struct { const char *a, *b; } g_llama_blk[] = {
    {"attn_q.weight", "layer.0.SelfAttention.q.weight"}, {"attn_k.weight", "layer.0.SelfAttention.k.weight"},
    {"attn_v.weight", "layer.0.SelfAttention.v.weight"}, {"attn_o.weight", "layer.0.SelfAttention.o.weight"},
    {"attn_rel_b.weight", "layer.0.SelfAttention.relative_attention_bias.weight"},
    {"attn_norm.weight", "layer.0.layer_norm.weight"}, {"ffn_gate.weight", "layer.1.DenseReluDense.wi_0.weight"},
    {"ffn_up.weight", "layer.1.DenseReluDense.wi_1.weight"}, {"ffn_down.weight", "layer.1.DenseReluDense.wo.weight"},
    {"ffn_norm.weight", "layer.1.layer_norm.weight"},
};

bool vg_wan_t5_llama_name(char *out, size_t cap, const char *name, bool to_llama) {
    const char *emb[2] = {"token_embd.weight", "shared.weight"}, *fin[2] = {"enc.output_norm.weight", "encoder.final_layer_norm.weight"};
    const char *blk_pre[2] = {"enc.blk.", "encoder.block."};
    int from = to_llama ? 1 : 0, to = 1 - from, r = -1;
    char hf[256];
    if (to_llama && vg_wan_t5_hf_name_(hf, sizeof(hf), name)) name = hf; /* official Wan T5 names too */
    if (strcmp(name, emb[from]) == 0 || (to_llama && strcmp(name, "encoder.embed_tokens.weight") == 0)) r = snprintf(out, cap, "%s", emb[to]);
    else if (strcmp(name, fin[from]) == 0) r = snprintf(out, cap, "%s", fin[to]);
    else if (strncmp(name, blk_pre[from], strlen(blk_pre[from])) == 0) {
        const char *p = name + strlen(blk_pre[from]);
        char *end;
        long i = strtol(p, &end, 10);
        if (end == p || *end != '.' || i < 0) return false;
        for (size_t k = 0; k < sizeof(g_llama_blk) / sizeof(g_llama_blk[0]); k++) {
            const char *a = to_llama ? g_llama_blk[k].b : g_llama_blk[k].a, *b = to_llama ? g_llama_blk[k].a : g_llama_blk[k].b;
            if (strcmp(end + 1, a) == 0) r = snprintf(out, cap, "%s%ld.%s", blk_pre[to], i, b);
        }
    }
    return r > 0 && (size_t)r < cap;
}

/* Tensors the loaders read as f32 whatever the file stores. */
static bool wants_f32(const char *name, const vg_tensor *t) {
    return t->ndim != 2 || ends_with(name, "modulation") || strstr(name, "relative_attention_bias") != NULL;
}

/* The real shape of tensor name (GGUF view t): comfy orig_shape metadata, else sd.cpp's folds. */
static vg_status real_shape(vg_tensor *t, const vg_gguf *g, const char *name) {
    char key[GGUF_KEY_MAX];
    snprintf(key, sizeof(key), "comfy.gguf.orig_shape.%s", name);
    int64_t sh[VG_MAX_DIMS], numel = vg_tensor_numel(t);
    if (vg_gguf_kv_type(g, key, NULL, NULL) >= 0) {
        int64_t n = vg_gguf_get_ints(g, key, sh, VG_MAX_DIMS), m = 1;
        if (n < 1 || n > VG_MAX_DIMS)
            return vg_fail(VG_ERR_FORMAT, "%s: metadata '%s' must be an array of 1..%d integers", vg_gguf_path(g), key, VG_MAX_DIMS);
        for (int64_t d = 0; d < n; d++) {
            if (sh[d] < 1 || __builtin_mul_overflow(m, sh[d], &m)) m = -1;
            if (m < 0) break;
        }
        if (m != numel)
            return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': %s gives %lld elements, the tensor holds %lld", vg_gguf_path(g),
                           name, key, (long long)m, (long long)numel);
        /* the rows must stay rows: the innermost dimension of a block-quantized tensor is unchanged */
        if (vg_dtype_is_quant(t->dtype) && sh[n - 1] % vg_dtype_block(t->dtype) && n != 1 && !wants_f32(name, t))
            return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': orig_shape row of %lld is not a multiple of the %s block",
                           vg_gguf_path(g), name, (long long)sh[n - 1], vg_dtype_name(t->dtype));
        t->ndim = (int)n;
        memcpy(t->shape, sh, sizeof(int64_t) * (size_t)n);
        return VG_OK;
    }
    if (ends_with(name, "patch_embedding.weight") && t->ndim == 4 && t->shape[1] == 1) {
        char bn[GGUF_KEY_MAX];
        snprintf(bn, sizeof(bn), "%.*sbias", (int)(strlen(name) - strlen("weight")), name);
        const vg_tensor *b = vg_gguf_get(g, bn);
        if (b && b->ndim == 1 && b->shape[0] > 0 && t->shape[0] % b->shape[0] == 0) {
            int64_t D = b->shape[0], C = t->shape[0] / D, ph = t->shape[2], pw = t->shape[3];
            t->ndim = 5;
            t->shape[0] = D; t->shape[1] = C; t->shape[2] = 1; t->shape[3] = ph; t->shape[4] = pw;
        }
    } else if (ends_with(name, "modulation") && t->ndim == 2) {
        t->ndim = 3;
        t->shape[2] = t->shape[1]; t->shape[1] = t->shape[0]; t->shape[0] = 1;
    }
    return VG_OK;
}

vg_status vg_wan_gguf_open_(vg_st_file **out, const char *path) {
    *out = NULL;
    vg_gguf *g = NULL;
    vg_status st = vg_gguf_open(&g, path);
    if (st) return st;
    int64_t n = vg_gguf_count(g), n_f32 = 0;
    bool llama_t5 = vg_gguf_get(g, "token_embd.weight") || vg_gguf_get(g, "enc.blk.0.attn_q.weight");
    char **names = calloc((size_t)n + 1, sizeof(char *));
    vg_tensor *t = calloc((size_t)n + 1, sizeof(vg_tensor));
    gguf_owner *own = calloc(1, sizeof(*own));
    if (own) own->g = g;
    int64_t n_meta = 0, kvn = vg_gguf_kv_count(g);
    const char **meta = calloc((size_t)(2 * kvn) + 2, sizeof(char *));
    if (!names || !t || !own || !meta) { st = vg_fail(VG_ERR_OOM, "%s: out of memory", path); goto fail; }
    for (int64_t i = 0; i < n && !st; i++) {
        const char *nm = vg_gguf_name(g, i);
        char mapped[GGUF_KEY_MAX];
        if (!(llama_t5 && vg_wan_t5_llama_name(mapped, sizeof(mapped), nm, false))) snprintf(mapped, sizeof(mapped), "%s", nm);
        if (!(names[i] = strdup(mapped))) { st = vg_fail(VG_ERR_OOM, "%s: out of memory", path); break; }
        t[i] = *vg_gguf_at(g, i);
        if ((st = real_shape(&t[i], g, nm))) break;
        if (vg_dtype_is_quant(t[i].dtype) && wants_f32(names[i], &t[i])) n_f32 += vg_tensor_numel(&t[i]);
    }
    if (st) goto fail;
    if (n_f32 && !(own->buf = malloc(sizeof(float) * (size_t)n_f32))) {
        st = vg_fail(VG_ERR_OOM, "%s: cannot allocate %lld floats for the dequantized small tensors", path, (long long)n_f32);
        goto fail;
    }
    int64_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!vg_dtype_is_quant(t[i].dtype) || !wants_f32(names[i], &t[i])) continue;
        int64_t k = vg_tensor_numel(&t[i]);
        vg_dequant_row(t[i].dtype, t[i].data, own->buf + o, k);
        t[i].data = own->buf + o;
        t[i].dtype = VG_DTYPE_F32;
        o += k;
    }
    for (int64_t i = 0; i < kvn; i++) {
        const char *k = vg_gguf_kv_key(g, i), *v = vg_gguf_get_str(g, k);
        if (v) { meta[2 * n_meta] = k; meta[2 * n_meta + 1] = v; n_meta++; }
    }
    /* the tokenizer vidgen convert carries over from a umT5 file: metadata vidgen.spiece_model (U8
     * array), seen as the safetensors files' U8 tensor spiece_model (a view into the mapping) */
    int64_t nsp = 0;
    const void *sp = vg_gguf_get_bytes(g, "vidgen.spiece_model", &nsp);
    if (sp && nsp > 0 && vg_gguf_index(g, "spiece_model") < 0) {
        if (!(names[n] = strdup("spiece_model"))) { st = vg_fail(VG_ERR_OOM, "%s: out of memory", path); goto fail; }
        t[n] = (vg_tensor){.data = (void *)sp, .dtype = VG_DTYPE_U8, .ndim = 1, .shape = {nsp}};
        n++;
    }
    st = vg_st_from_views(out, path, n, (const char *const *)names, t, n_meta, meta, own, owner_release);
    own = NULL; /* released by vg_st_from_views on failure too */
    g = NULL;
fail:
    for (int64_t i = 0; names && i < n; i++) free(names[i]);
    free(names);
    free(t);
    free(meta);
    if (own) owner_release(own);
    else if (g) vg_gguf_close(g);
    return st;
}
