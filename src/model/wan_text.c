/* wan_text.c - the text stage of the Wan pipeline: tokenizer, umT5 on the prompt and the
 * negative prompt in one pass over the encoder, streamed block by block so that the process
 * holds about one block of the encoder at a time (umT5-XXL is 11.4 GB in f16, 6 GB in Q8_0; a
 * block is 1/24 of it). After a block has run on both prompts its mapped pages are released
 * (vg_release_pages: the kernel drops the clean file pages; nothing is read twice because both
 * prompts go through a block before the next). With a weight type (--type), the block's
 * matrices are converted into one reused buffer just before the block, so the converted encoder
 * is never whole in memory either. The token embedding stays as it is in the file: only the rows
 * of the prompt's tokens are read. Spec: shared/WAN.md 2.3-2.4. */
#include "model/wan_internal.h"
#include "vidgen/quant.h"

/* umT5 working memory for n tokens (vg_t5_acts, inference): ~ n(4D + 4A + 2F) + H n^2 floats */
static int64_t t5_work_bytes(const vg_t5_config *c, int64_t n) {
    return 4 * (n * (4 * c->dim + 4 * c->dim_attn + 2 * c->ffn) + (int64_t)c->heads * n * n) + 4 * 2 * n * c->dim;
}

/* the seven matrices of a block, in the order they run */
static vg_tensor *block_matrix(vg_t5_block *b, int i) {
    vg_tensor *t[7] = {&b->attn_q_w, &b->attn_k_w, &b->attn_v_w, &b->attn_o_w, &b->ffn_gate_0_w, &b->ffn_fc1_w, &b->ffn_fc2_w};
    return t[i];
}

static int64_t tensor_bytes(const vg_tensor *t) {
    return t->ndim == 2 ? vg_dtype_row_bytes(t->dtype, t->shape[1]) * t->shape[0] : 0;
}

/* a matrix's slot in the conversion buffer: its converted bytes rounded up to 64 (0: not converted) */
static int64_t converted_bytes(const vg_tensor *t, int wt) {
    return (vg_wan_converted_bytes_(t, wt) + 63) / 64 * 64;
}

typedef struct {
    vg_t5 *m;
    vg_t5_block *src; /* [layers] the views into the files */
    int wtype;
    uint8_t *buf;     /* one block's converted matrices, 64-byte aligned slots */
} t5_stream;

static vg_status stream_begin(void *ctx, int l) {
    t5_stream *s = ctx;
    if (s->wtype < 0) return VG_OK;
    size_t off = 0;
    for (int i = 0; i < 7; i++) {
        const vg_tensor *t = block_matrix(&s->src[l], i);
        int64_t nb = converted_bytes(t, s->wtype);
        if (!nb) continue;
        vg_status st = vg_wan_convert_matrix_(t, (vg_dtype)s->wtype, s->buf + off);
        if (st) return st;
        vg_tensor *d = block_matrix(&s->m->blocks[l], i);
        *d = *t;
        d->data = s->buf + off;
        d->dtype = (vg_dtype)s->wtype;
        off += (size_t)nb;
    }
    return VG_OK;
}

static void stream_end(void *ctx, int l) {
    t5_stream *s = ctx;
    for (int i = 0; i < 7; i++) {
        const vg_tensor *t = block_matrix(&s->src[l], i);
        vg_release_pages(t->data, (size_t)tensor_bytes(t));
    }
    s->m->blocks[l] = s->src[l];
}

/* Tokenizer from a file (tokenizer.json, spiece.model, a .safetensors with spiece_model), or
 * from the spiece_model tensor of the open text-encoder shards. */
static vg_status load_tokenizer(vg_spm **tok, const char *path, const vg_wan_files *t5) {
    if (path && !ends_with(path, ".safetensors")) return vg_spm_load(tok, path);
    vg_wan_files *own = NULL;
    vg_status st;
    if (path) {
        if ((st = vg_wan_files_open(&own, path))) return st;
        t5 = own;
    }
    const vg_tensor *sp = vg_wan_files_find(t5, "spiece_model", NULL);
    if (!sp || sp->dtype != VG_DTYPE_U8 || sp->ndim != 1)
        st = vg_fail(VG_ERR_FORMAT, "%s: no tokenizer: no U8 tensor 'spiece_model' in the file; pass --tokenizer "
                     "(tokenizer.json or spiece.model of google/umt5-xxl)", vg_wan_files_path(t5));
    else st = vg_spm_from_proto(tok, sp->data, (size_t)sp->shape[0]);
    vg_wan_files_close(own);
    return st;
}

static vg_status tokenize(int32_t *ids, int64_t *n_tok, const vg_spm *tok, const vg_t5 *t5, const char *text, int64_t L) {
    int32_t *mask = malloc(sizeof(int32_t) * (size_t)L);
    if (!mask) return vg_fail(VG_ERR_OOM, "out of memory");
    vg_status st = vg_umt5_tokenize(tok, text, ids, mask, L, n_tok);
    free(mask);
    if (st) return st;
    for (int64_t i = 0; i < *n_tok; i++)
        if (ids[i] >= t5->cfg.vocab)
            return vg_fail(VG_ERR_FORMAT, "token id %d is outside the text encoder's %lld rows (tokenizer and encoder do not match)",
                           ids[i], (long long)t5->cfg.vocab);
    return VG_OK;
}

vg_status vg_wan_encode_text_(float *ctx, int64_t L, int64_t Dt, const vg_wan_paths *paths, const char *prompt,
                              const char *neg, int weight_type, int64_t *n_tok, int64_t *n_tok_neg) {
    vg_wan_files *ft = NULL;
    vg_spm *tok = NULL;
    vg_t5 t5 = {0};
    vg_t5_acts *acts[2] = {NULL, NULL};
    int32_t *ids[2] = {NULL, NULL};
    float *out[2] = {NULL, NULL};
    t5_stream s = {.wtype = weight_type};
    int count = neg ? 2 : 1;
    int64_t n[2] = {0, 0};
    vg_status st;
    if ((st = vg_wan_files_open(&ft, paths->t5)) || (st = vg_wan_t5_load(&t5, ft))) goto out;
    if (t5.cfg.dim != Dt) {
        st = vg_fail(VG_ERR_SHAPE, "%s: text encoder width %lld, but the DiT expects text_dim %lld", paths->t5,
                     (long long)t5.cfg.dim, (long long)Dt);
        goto out;
    }
    if ((st = load_tokenizer(&tok, paths->tokenizer, ft))) goto out;
    for (int i = 0; i < count; i++) {
        if (!(ids[i] = malloc(sizeof(int32_t) * (size_t)L))) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
        if ((st = tokenize(ids[i], &n[i], tok, &t5, i ? neg : prompt, L))) goto out;
        if (!(acts[i] = vg_t5_acts_new(&t5.cfg, n[i], false)) || !(out[i] = malloc(sizeof(float) * (size_t)(n[i] * Dt)))) {
            st = vg_fail(VG_ERR_OOM, "out of memory for the text encoder");
            goto out;
        }
    }
    /* the stream: the views, and one block's conversion buffer */
    s.m = &t5;
    if (!(s.src = malloc(sizeof(vg_t5_block) * (size_t)t5.cfg.layers))) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
    memcpy(s.src, t5.blocks, sizeof(vg_t5_block) * (size_t)t5.cfg.layers);
    size_t cap = 0;
    for (int l = 0; l < t5.cfg.layers; l++) {
        size_t c = 0;
        for (int i = 0; i < 7; i++) c += (size_t)converted_bytes(block_matrix(&t5.blocks[l], i), weight_type);
        if (c > cap) cap = c;
    }
    if (cap && !(s.buf = aligned_alloc(64, cap))) {
        st = vg_fail(VG_ERR_OOM, "out of memory for one text-encoder block as %s (%.0f MiB)", vg_dtype_name((vg_dtype)weight_type),
                     cap / 1048576.0);
        goto out;
    }
    t5.block_begin = stream_begin;
    t5.block_end = stream_end;
    t5.hook_ctx = &s;
    if ((st = vg_t5_forward_n(out, acts, &t5, (const int32_t *const *)ids, n, count))) goto out;
    for (int i = 0; i < count; i++) {
        memset(ctx + i * L * Dt, 0, sizeof(float) * (size_t)(L * Dt));
        memcpy(ctx + i * L * Dt, out[i], sizeof(float) * (size_t)(n[i] * Dt));
    }
    *n_tok = n[0];
    if (n_tok_neg) *n_tok_neg = n[1];
out:
    if (s.src && t5.blocks) memcpy(t5.blocks, s.src, sizeof(vg_t5_block) * (size_t)t5.cfg.layers);
    free(s.src);
    free(s.buf);
    for (int i = 0; i < 2; i++) { vg_t5_acts_free(acts[i]); free(ids[i]); free(out[i]); }
    vg_t5_free(&t5);
    vg_spm_free(tok);
    vg_wan_files_close(ft);
    return st;
}

vg_status vg_wan_text_bytes_(int64_t *bytes, const char *t5_path, int weight_type, int64_t L) {
    vg_wan_files *ft = NULL;
    vg_t5 t5 = {0};
    vg_status st;
    *bytes = 0;
    if ((st = vg_wan_files_open(&ft, t5_path)) || (st = vg_wan_t5_load(&t5, ft))) goto out;
    int64_t blk = 0, conv = 0;
    for (int l = 0; l < t5.cfg.layers; l++) {
        int64_t b = 0, c = 0;
        for (int i = 0; i < 7; i++) {
            b += tensor_bytes(block_matrix(&t5.blocks[l], i));
            c += converted_bytes(block_matrix(&t5.blocks[l], i), weight_type);
        }
        if (b > blk) blk = b;
        if (c > conv) conv = c;
    }
    /* the block running and the next one's first pages (readahead), the converted copy, the
     * embedding rows of 2 L tokens, and the working memory of both sequences */
    *bytes = 2 * blk + conv + 2 * L * tensor_bytes(&t5.token_embedding_w) / (t5.cfg.vocab > 0 ? t5.cfg.vocab : 1) +
             2 * t5_work_bytes(&t5.cfg, L);
out:
    vg_t5_free(&t5);
    vg_wan_files_close(ft);
    return st;
}
