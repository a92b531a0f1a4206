/* t5.h - umT5-style text encoder: forward (any of F32/F16/BF16 weights, used in place)
 * and backward (F32 weights) for vidgen's own small encoder, and the real umT5-XXL.
 * Reference: Wan2.1 wan/modules/t5.py (T5Encoder, T5SelfAttention, T5RelativeEmbedding);
 * spec in shared/WAN.md section 2. Shapes outermost first. Legend:
 *   N real tokens (n_tok), D dim, A dim_attn (= H * hd), H heads, F ffn, V vocab, B buckets. */
#ifndef VIDGEN_T5_H
#define VIDGEN_T5_H
#include <stdbool.h>
#include <stdint.h>
#include "vidgen/status.h"
#include "vidgen/tensor.h"

typedef struct vg_st_file vg_st_file;

typedef struct {
    int64_t vocab, dim, dim_attn, ffn;
    int heads, layers;
    int buckets;      /* relative-position buckets (32) */
    int max_dist;     /* relative-position max distance (128) */
    bool shared_pos;  /* false: umT5, one bias table per layer; true: plain T5, one table */
    float eps;        /* RMSNorm eps (1e-6) */
} vg_t5_config;

/* umT5-XXL (Wan2.1): V 256384, D 4096, A 4096, F 10240, H 64, 24 layers, 32/128, eps 1e-6. */
void vg_t5_config_umt5_xxl(vg_t5_config *c);
/* Parses a JSON object with the official T5Encoder keys (vocab, dim, dim_attn, dim_ffn,
 * num_heads, num_layers, num_buckets, shared_pos) or the HF config.json keys (vocab_size,
 * d_model, d_kv, d_ff, num_heads, num_layers, relative_attention_num_buckets,
 * relative_attention_max_distance, layer_norm_epsilon, model_type "umt5"/"t5").
 * Missing optional fields keep the defaults (32 buckets, 128, eps 1e-6, shared_pos false).
 * Errors: VG_ERR_FORMAT (not JSON, wrong field type), VG_ERR_ARG (inconsistent sizes). */
vg_status vg_t5_config_from_json(vg_t5_config *c, const char *json);
/* VG_ERR_ARG unless every size is positive and dim_attn % heads == 0. */
vg_status vg_t5_config_check(const vg_t5_config *c);

typedef struct {
    vg_tensor norm1_w;          /* blocks.i.norm1.weight                  [D]    */
    vg_tensor attn_q_w;         /* blocks.i.attn.q.weight                 [A, D] */
    vg_tensor attn_k_w;         /* blocks.i.attn.k.weight                 [A, D] */
    vg_tensor attn_v_w;         /* blocks.i.attn.v.weight                 [A, D] */
    vg_tensor attn_o_w;         /* blocks.i.attn.o.weight                 [D, A] */
    vg_tensor norm2_w;          /* blocks.i.norm2.weight                  [D]    */
    vg_tensor ffn_gate_0_w;     /* blocks.i.ffn.gate.0.weight (GELU side) [F, D] */
    vg_tensor ffn_fc1_w;        /* blocks.i.ffn.fc1.weight (linear side)  [F, D] */
    vg_tensor ffn_fc2_w;        /* blocks.i.ffn.fc2.weight                [D, F] */
    vg_tensor pos_embedding_w;  /* blocks.i.pos_embedding.embedding.weight [B, H]; unset if shared_pos */
} vg_t5_block;

/* The encoder. Tensors are non-owning views (into a safetensors mapping or a caller
 * buffer); the struct owns only its `blocks` array. Free with vg_t5_free. */
typedef struct {
    vg_t5_config cfg;
    vg_tensor token_embedding_w; /* token_embedding.weight [V, D] (rows >= the tokenizer's size are padding) */
    vg_tensor pos_embedding_w;   /* pos_embedding.embedding.weight [B, H]; only when shared_pos */
    vg_t5_block *blocks;         /* [layers] */
    vg_tensor norm_w;            /* norm.weight [D] */
    /* Optional (inference): called by vg_t5_forward(_n) before and after each block, once per
     * block per call. The Wan pipeline streams the encoder with them (converts a block's
     * matrices just before it, releases its mapped pages after it). A begin error stops the
     * forward and is returned. */
    vg_status (*block_begin)(void *ctx, int layer);
    void (*block_end)(void *ctx, int layer);
    void *hook_ctx;
} vg_t5;

void vg_t5_free(vg_t5 *m); /* frees blocks; the weights stay with their owner. NULL ok. */

/* ---- flat f32 parameter layout (training, saving) -------------------------------------
 * All tensors in official-key order (the state_dict order of T5Encoder), packed without
 * gaps: token_embedding, [pos_embedding if shared_pos], per block norm1, attn.q/k/v/o,
 * norm2, ffn.gate.0, ffn.fc1, ffn.fc2, [pos_embedding], then norm. Gradients use the same
 * layout. */
int64_t vg_t5_param_count(const vg_t5_config *c);
int64_t vg_t5_tensor_count(const vg_t5_config *c);
/* Name (official key), shape and offset (in floats) of tensor i of the flat layout.
 * Returns false when i is out of range. name may be NULL. */
bool vg_t5_tensor_info(const vg_t5_config *c, int64_t i, char *name, size_t name_cap,
                       int *ndim, int64_t shape[2], int64_t *offset);
/* Makes m a set of F32 views into params (borrowed; vg_t5_param_count floats, must outlive m).
 * Errors: VG_ERR_ARG (bad config), VG_ERR_OOM. */
vg_status vg_t5_init_flat(vg_t5 *m, const vg_t5_config *c, float *params);
/* Fills params with the official T5Encoder.init_weights distribution (norms 1, embedding
 * N(0,1), q N(0,(D*A)^-1/2 ...) from Philox(seed); deterministic. */
void vg_t5_params_init(float *params, const vg_t5_config *c, uint64_t seed);

/* ---- loading -------------------------------------------------------------------------
 * Fills m with views into f (borrowed: f must stay open while m is used). Accepts the
 * official names and the HF UMT5EncoderModel names (WAN.md 2.4), each with or without a
 * leading prefix (e.g. "text_encoders.umt5xxl.transformer."), in F32, F16 or BF16.
 * cfg NULL: the config is inferred from the shapes (layers = number of blocks, H from the
 * bias table, eps 1e-6, max_dist 128); otherwise every shape is checked against cfg.
 * Extra tensors (HF's tied encoder.embed_tokens.weight, spiece_model) are ignored.
 * Errors: VG_ERR_FORMAT (missing tensor, unsupported dtype), VG_ERR_SHAPE, VG_ERR_OOM;
 * messages name the file and the tensor. */
vg_status vg_t5_load(vg_t5 *m, const vg_st_file *f, const vg_t5_config *cfg);

/* ---- forward / backward --------------------------------------------------------------
 * Activations (and scratch) for sequences of up to max_tokens tokens. for_training: keeps
 * every layer's activations for vg_t5_backward (about
 * layers*(4ND + 4NA + HN^2 + 2NF) floats); otherwise only one layer's worth.
 * NULL on OOM or bad arguments. Free with vg_t5_acts_free (NULL ok). */
typedef struct vg_t5_acts vg_t5_acts;
vg_t5_acts *vg_t5_acts_new(const vg_t5_config *c, int64_t max_tokens, bool for_training);
void vg_t5_acts_free(vg_t5_acts *a);

/* Relative-position bucket of rel = key_pos - query_pos (bidirectional, WAN.md 2.1). */
int vg_t5_rel_bucket(int64_t rel, int buckets, int max_dist);

/* out [N, D] = encoder(ids [N]) over the N real tokens only (no padding: padded positions
 * are masked out of every real token's attention, so they cannot change its output).
 * acts: NULL allocates scratch for this call; a training acts keeps what backward needs.
 * Errors: VG_ERR_ARG (N < 1, N > acts' max_tokens, id out of [0, V)), VG_ERR_OOM. */
vg_status vg_t5_forward(float *out, vg_t5_acts *acts, const vg_t5 *m, const int32_t *ids, int64_t n);
/* count sequences in one pass over the weights (block by block, each block applied to every
 * sequence before the next block is read): out[s] = vg_t5_forward(.., acts[s], ids[s], n[s]),
 * bit for bit. acts[s] must be distinct and non-NULL. */
vg_status vg_t5_forward_n(float *const *out, vg_t5_acts *const *acts, const vg_t5 *m, const int32_t *const *ids,
                          const int64_t *n, int count);
/* ids/mask [L] as the umT5 tokenizer returns them (mask 1 on a prefix of n_tok tokens):
 * out [n_tok, D] (room for L rows), *n_tok = sum(mask). VG_ERR_ARG if mask is not a prefix. */
vg_status vg_t5_encode(float *out, int64_t *n_tok, const vg_t5 *m, const int32_t *ids,
                       const int32_t *mask, int64_t L);
/* Gradients of sum(dout . out) for the last vg_t5_forward on this (training) acts,
 * ACCUMULATED into grads (flat layout, vg_t5_param_count floats; zero it first). dx of the
 * embedding rows goes to the rows of the ids used. Needs F32 weights.
 * Errors: VG_ERR_ARG (acts not for training / no forward yet), VG_ERR_UNSUPPORTED (non-F32). */
vg_status vg_t5_backward(float *grads, vg_t5_acts *acts, const vg_t5 *m, const float *dout);

#endif
