/* dit.h - the diffusion transformer: Wan2.1's DiT (WanModel, wan/modules/model.py) with
 * vidgen's temporal window in self-attention. One implementation serves vidgen's own
 * pixel-space models and real Wan checkpoints (weights in F32/F16/BF16 used in place).
 * Legend: B batch, C channels, F frames, H W pixels (latent), L = F*Hg*Wg tokens,
 * D model dim, T text tokens (text_len), P = C*ph*pw patch values. */
#ifndef VIDGEN_DIT_H
#define VIDGEN_DIT_H
#include <stdbool.h>
#include <stdint.h>
#include "vidgen/safetensors.h"
#include "vidgen/status.h"
#include "vidgen/tensor.h"

typedef struct {
    int in_dim, out_dim;       /* C in / out */
    int patch[3];              /* (pt, ph, pw); pt must be 1 */
    int dim, ffn_dim, heads, layers, freq_dim;
    int text_len, text_dim;
    float eps;
    double rope_theta;
    int window;                /* default temporal window; < 0 = all (Wan) */
    bool predict_x0;           /* false: the model outputs v = noise - x0 (Wan); true: x0 */
    bool pos2d;                /* config "pos_embed": "sincos2d": a fixed 2D sin-cos position of the
                                * token's row and column (MAE/DiT style, no parameters) is added after
                                * the patch embedding. Wan has none (RoPE only, relative); vidgen's own
                                * models need it, since a flat background shows nowhere where the frame
                                * ends (without it objects wrap across the left/right edges). */
    bool text_pool;            /* config "text_pool": true: the mean of the text states (over all
                                * text_len rows; padding rows are zero) goes through a Linear into the
                                * time embedding e, so the whole prompt also steers every adaLN
                                * modulation (as in the PixArt/DiT pilots; Wan has none). A direct
                                * path for words that cross-attention learns late (the motion). */
    bool text_pos;             /* config "text_pos": true: a learned embedding of each text row's
                                * position is added to the text states the cross-attention reads, so
                                * it can tell which colour word names the object and which the
                                * background (a word-by-word text encoder gives a bag of words) */
} vg_dit_config;

/* A weight: data in its stored dtype (matrices), or F32 (vectors, converted at load). */
typedef struct { void *d; vg_dtype t; } vg_w;

typedef struct {
    vg_w modulation;                                   /* [1,6,D] */
    vg_w sa_q_w, sa_q_b, sa_k_w, sa_k_b, sa_v_w, sa_v_b, sa_o_w, sa_o_b; /* [D,D], [D] */
    vg_w sa_norm_q, sa_norm_k;                         /* [D] */
    vg_w norm3_w, norm3_b;                             /* [D] cross-attn LN (affine) */
    vg_w ca_q_w, ca_q_b, ca_k_w, ca_k_b, ca_v_w, ca_v_b, ca_o_w, ca_o_b;
    vg_w ca_norm_q, ca_norm_k;
    vg_w ffn0_w, ffn0_b, ffn2_w, ffn2_b;               /* [FF,D] [FF] [D,FF] [D] */
} vg_dit_block;

typedef struct {
    vg_w patch_w, patch_b;                             /* [D,C,1,ph,pw] [D] */
    vg_w text0_w, text0_b, text2_w, text2_b;           /* [D,text_dim] [D] [D,D] [D] */
    vg_w time0_w, time0_b, time2_w, time2_b;           /* [D,freq] [D] [D,D] [D] */
    vg_w tproj_w, tproj_b;                             /* [6D,D] [6D] */
    vg_w head_mod;                                     /* [1,2,D] */
    vg_w head_w, head_b;                               /* [P_out,D] [P_out] */
    vg_w tpool_w, tpool_b;                             /* [D,text_dim] [D] (text_pool only) */
    vg_w tpos;                                         /* [text_len,D] (text_pos only) */
    vg_dit_block *blk;                                 /* [layers] */
} vg_dit_weights;

typedef struct {
    vg_dit_config cfg;
    vg_dit_weights w;
    float *owned;          /* f32 storage owned by the model (vectors, or all params) */
    int64_t n_owned;
    void **bufs;           /* further owned weight copies (LoRA-merged matrices), freed with the model */
    int n_bufs;
} vg_dit;

/* Visits every parameter with its checkpoint key (official Wan names) and shape. */
typedef void (*vg_dit_visit_fn)(void *ctx, const char *name, int ndim, const int64_t *shape, vg_w *w);
void vg_dit_visit(vg_dit_config *cfg, vg_dit_weights *w, vg_dit_visit_fn fn, void *ctx);
int64_t vg_dit_param_count(const vg_dit_config *cfg);
/* x [BF][Hg][Wg][D] += the fixed 2D sin-cos position of each token's row and column (cfg.pos2d). */
void vg_dit_add_pos2d(float *x, int64_t BF, int64_t Hg, int64_t Wg, int64_t D);

/* Fills cfg from a JSON object string (Wan config.json keys: dim, ffn_dim, freq_dim, num_heads,
 * num_layers, in_dim, out_dim, text_len, eps, patch_size, text_dim; vidgen keys: window,
 * prediction "x0"|"v", rope_theta). Missing keys keep the values already in cfg. */
vg_status vg_dit_config_from_json(vg_dit_config *cfg, const char *json, const char *what);
void vg_dit_config_wan13b(vg_dit_config *cfg);

/* Points every weight at tensors of st (matrices in place, vectors converted to f32).
 * Errors name the missing / mis-shaped tensor with expected and found shapes. prefix
 * (e.g. "model.diffusion_model.") is prepended to every key; NULL = none. */
vg_status vg_dit_load(vg_dit *m, const vg_dit_config *cfg, const vg_st_file *st, const char *prefix);
/* All parameters in one owned f32 buffer (training / fresh init). Zeroed. */
vg_status vg_dit_alloc_f32(vg_dit *m, const vg_dit_config *cfg);
/* Deterministic init (Wan style: xavier-uniform linears, zero head, small modulation). */
void vg_dit_init_random(vg_dit *m, uint64_t seed);
void vg_dit_free(vg_dit *m);

/* Activations for a batch: everything the backward needs (save=true) or only scratch. */
typedef struct vg_dit_acts vg_dit_acts;
/* Bytes that vg_dit_acts_new would allocate. */
int64_t vg_dit_acts_bytes(const vg_dit_config *cfg, int B, int64_t F, int64_t H, int64_t W, bool save);
vg_status vg_dit_acts_new(vg_dit_acts **out, const vg_dit_config *cfg, int B, int64_t F, int64_t H, int64_t W, bool save);
void vg_dit_acts_free(vg_dit_acts *a);

/* Optional intermediate outputs (for golden tests); any pointer may be NULL. */
typedef struct {
    float *sinusoid, *time_embedding, *time_projection, *text_embedding, *patch_embedding, *head;
    float **block_sa, **block_ca, **block_ffn, **block_out; /* [layers] arrays of [L*D] */
} vg_dit_debug;

/* Forward for B samples: x [B,C,F,H,W], t [B] timesteps (0..1000), ctx [B,T,text_dim]
 * (rows beyond the real tokens must be zero, as Wan pads), window (<0 all).
 * out [B,C_out,F,H,W]. f_offset shifts RoPE's temporal positions. */
vg_status vg_dit_forward(const vg_dit *m, vg_dit_acts *a, float *out, const float *x, const float *t,
                         const float *ctx, int B, int64_t F, int64_t H, int64_t W, int window,
                         int64_t f_offset, vg_dit_debug *dbg);
/* As vg_dit_forward with a timestep per frame: tf [B*F] (sample b, frame f at tf[b*F+f]). Each
 * frame's tokens take the adaLN modulation of their own timestep (as in diffusion forcing), so
 * clean frames (t = 0) can sit beside noisy ones: the known first frames of a continuation. The
 * same t for every frame gives exactly vg_dit_forward. vg_dit_backward works after either. */
vg_status vg_dit_forward_tf(const vg_dit *m, vg_dit_acts *a, float *out, const float *x, const float *tf,
                            const float *ctx, int B, int64_t F, int64_t H, int64_t W, int window,
                            int64_t f_offset, vg_dit_debug *dbg);
/* Backward after a save=true forward: dout [B,C_out,F,H,W] -> grads accumulated into g
 * (a vg_dit from vg_dit_alloc_f32, same config) and dctx [B,T,text_dim] (overwritten; may be NULL). */
vg_status vg_dit_backward(const vg_dit *m, vg_dit_acts *a, vg_dit *g, float *dctx, const float *dout);

/* FLOPs of one forward of one sample (linear layers + attention). */
double vg_dit_flops(const vg_dit_config *cfg, int64_t F, int64_t H, int64_t W, int window);

#endif
