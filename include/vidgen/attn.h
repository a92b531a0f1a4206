/* attn.h - fused, tiled multi-head attention with an online softmax
 * (FlashAttention, Dao et al. 2022): the Lq x Lk score matrix is never stored.
 * Layout (heads interleaved in the channel dim, as after a Linear):
 *   q [Lq, H*hd], k [Lk, H*hd], v [Lk, H*hd], out [Lq, H*hd]; head n = channels n*hd..n*hd+hd-1.
 * Temporal window: window < 0 -> every query sees all Lk keys (Wan's full attention,
 *   also cross-attention). window >= 0 -> self-attention over frame-major tokens:
 *   Lq == Lk == F*S (S = tokens per frame); a query in frame f sees the keys of frames
 *   max(0,f-window) .. min(F-1,f+window), a contiguous key range. window = 0 is a flipbook.
 * lse [H, Lq] (log-sum-exp of scaled scores per query) is written when non-NULL; the
 * backward needs it. Deterministic for any thread count. */
#ifndef VIDGEN_ATTN_H
#define VIDGEN_ATTN_H
#include <stdint.h>

typedef struct {
    int64_t Lq, Lk;   /* query / key token counts */
    int H, hd;        /* heads, head dim */
    int64_t S;        /* tokens per frame (window >= 0) */
    int window;       /* < 0: all keys */
    float scale;      /* usually 1/sqrt(hd) */
} vg_attn_shape;

void vg_attn(float *out, float *lse, const float *q, const float *k, const float *v,
             const vg_attn_shape *s);
void vg_attn_ref(float *out, float *lse, const float *q, const float *k, const float *v,
                 const vg_attn_shape *s);
/* Gradients (overwritten, not accumulated) given dout, and out/lse from the forward. */
void vg_attn_bwd(float *dq, float *dk, float *dv, const float *dout, const float *out,
                 const float *lse, const float *q, const float *k, const float *v,
                 const vg_attn_shape *s);
void vg_attn_bwd_ref(float *dq, float *dk, float *dv, const float *dout, const float *out,
                     const float *lse, const float *q, const float *k, const float *v,
                     const vg_attn_shape *s);
/* FLOPs of one forward (2 matmuls), counting only the keys each query sees. */
double vg_attn_flops(const vg_attn_shape *s);

#endif
