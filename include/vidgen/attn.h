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
#include <stdbool.h>
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
/* vg_attn in f32 whatever vg_gemm_bf16 says (vg_attn takes the bf16 path below while it is on). */
void vg_attn_f32(float *out, float *lse, const float *q, const float *k, const float *v,
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
/* bf16 products (attn_bf16.c): q (times scale), k and v rounded to bf16 (RNE), QK^T and P.V
 * with vdpbf16ps (exact bf16 products, f32 sums: per pair of head dims / keys the odd one's
 * product is added first, as the instruction does), the online softmax in f32 with the
 * probabilities P rounded to bf16 before P.V and before they are summed (so the output is a
 * convex combination of the bf16 v rows). Same tiles as vg_attn. Error vs vg_attn_ref: see
 * tests/test_attn_bf16.c (bound: per query |out - exact| <= max|v| (2^-9 + 4 d + 2^-7) + f32,
 * d = 2^-8 * 1.01 * scale * max_j sum_c |q_c k_jc|); typical relative L2 ~3e-3.
 * vg_attn_bf16 runs it with AVX512_BF16 where vg_attn_bf16_available() (hd % 32 == 0,
 * hd <= 128, level >= 3, the CPU has it) and otherwise runs the f32 vg_attn.
 * _ref: plain C, the same arithmetic in the same order (and the same exp polynomial):
 * vg_attn_bf16 equals it bit for bit. Deterministic for any thread count.
 * vg_attn itself takes this path while vg_gemm_bf16(true) is set (the precision knob of the
 * products, include/vidgen/gemm.h), the backward stays f32. */
void vg_attn_bf16(float *out, float *lse, const float *q, const float *k, const float *v,
                  const vg_attn_shape *s);
void vg_attn_bf16_ref(float *out, float *lse, const float *q, const float *k, const float *v,
                      const vg_attn_shape *s);
bool vg_attn_bf16_available(const vg_attn_shape *s);
/* FLOPs of one forward (2 matmuls), counting only the keys each query sees. */
double vg_attn_flops(const vg_attn_shape *s);

#endif
