/* ops.h - elementwise and row-wise kernels of the transformer, each with a _bwd.
 * Conventions (llm.c): outputs, then inputs, then weights, then sizes. Rows are
 * contiguous vectors of length `dim`; N rows. Backward functions ACCUMULATE into
 * dx / dw / db (callers zero them first). Statistics (mean, rstd) saved by the forward
 * are passed to the backward. All sums of a row are done by one thread, in order. */
#ifndef VIDGEN_OPS_H
#define VIDGEN_OPS_H
#include <stdint.h>

/* Work (elements) below which a kernel runs on one thread: an OpenMP region costs more than
 * it saves on tiny tensors. Results do not depend on it (iterations are independent). */
#define VG_PAR_MIN 32768
/* Column block of the column-sum loops (bias, gate, modulation and norm-weight gradients):
 * rows are streamed once per block of columns, and each column is summed in row order by one
 * thread, so the result does not depend on the thread count. */
#define VG_COLBLK 64

/* LayerNorm over dim; w/b may be NULL (no affine). mean/rstd [N] may be NULL. */
void vg_layernorm(float *out, float *mean, float *rstd, const float *x, const float *w,
                  const float *b, int64_t N, int64_t dim, float eps);
void vg_layernorm_bwd(float *dx, float *dw, float *db, const float *dout, const float *x,
                      const float *w, const float *mean, const float *rstd, int64_t N, int64_t dim);
/* RMSNorm: out = x / sqrt(mean(x^2) + eps) * w (w may be NULL). rstd [N] may be NULL. */
void vg_rmsnorm(float *out, float *rstd, const float *x, const float *w, int64_t N, int64_t dim, float eps);
void vg_rmsnorm_bwd(float *dx, float *dw, const float *dout, const float *x, const float *w,
                    const float *rstd, int64_t N, int64_t dim);

/* GELU with the tanh approximation, SiLU; in place allowed (out == x) for forward. */
void vg_gelu_tanh(float *out, const float *x, int64_t n);
void vg_gelu_tanh_bwd(float *dx, const float *dout, const float *x, int64_t n);
void vg_silu(float *out, const float *x, int64_t n);
void vg_silu_bwd(float *dx, const float *dout, const float *x, int64_t n);

/* adaLN modulation: out = x * (1 + scale) + shift, scale/shift [dim] broadcast over N rows. */
void vg_modulate(float *out, const float *x, const float *shift, const float *scale, int64_t N, int64_t dim);
/* dx += dout*(1+scale); dshift += sum_rows dout; dscale += sum_rows dout*x */
/* Gradients of per-column parameters (biases, norm weights, gates, modulation), over N rows of
 * [N, dim] (either sum may be NULL; sub and scale optional, i.e. 0 and 1):
 *   sum_g[j]  += sum_i g[i,j]
 *   sum_gx[j] += sum_i ((double)g[i,j] * (x[i,j] - sub[i])) * scale[i]
 * in double, each column in row order by one thread (blocks of VG_COLBLK columns): the same
 * value at any thread count. */
void vg_colsum_grad(float *sum_g, float *sum_gx, const float *g, const float *x, const float *sub,
                    const float *scale, int64_t N, int64_t dim);
void vg_modulate_bwd(float *dx, float *dshift, float *dscale, const float *dout, const float *x,
                     const float *scale, int64_t N, int64_t dim);

/* 3D RoPE (Wan): x [N, H*hd] with tokens at grid (f,h,w) frame-major, grid (F,Hg,Wg).
 * Per head, pairs 0..ct-1 rotate by f*w_t, next ch by h*w_h, next cw by w*w_w with
 * ct = hd/2 - 2*(hd/2/3), ch = cw = hd/2/3 and w_a,j = theta^(-2j/D_a). In place.
 * f_offset shifts the temporal position (continuing clips). */
void vg_rope3d(float *x, int64_t F, int64_t Hg, int64_t Wg, int H, int hd, double theta, int64_t f_offset);
/* Backward of the rotation: rotate dx by the negative angles, in place. */
void vg_rope3d_bwd(float *dx, int64_t F, int64_t Hg, int64_t Wg, int H, int hd, double theta, int64_t f_offset);

/* Softmax over rows of length n (max-subtracted). */
void vg_softmax(float *out, const float *x, int64_t N, int64_t n);

/* Patchify a clip x [C, F, H, W] into tokens [F*Hg*Wg, C*ph*pw] (Hg = H/ph, Wg = W/pw),
 * token l = (f*Hg + hi)*Wg + wi (frame-major, as Wan). Feature order of a token:
 *   chlast = false: (c*ph + q)*pw + r  (flattened Conv3d weight [D, C, 1, ph, pw]: patch_embedding)
 *   chlast = true:  (q*pw + r)*C + c   (Wan's head / unpatchify order, channel fastest)
 * vg_unpatchify with the same chlast is the exact inverse (and the backward of patchify). */
void vg_patchify(float *tok, const float *x, int64_t C, int64_t F, int64_t H, int64_t W, int ph, int pw, int chlast);
void vg_unpatchify(float *x, const float *tok, int64_t C, int64_t F, int64_t H, int64_t W, int ph, int pw, int chlast);

/* Plain reference twins (serial, double accumulation, obvious formulas), tested against the
 * kernels above on awkward shapes in tests/test_ops.c. Same argument order. */
void vg_layernorm_ref(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                      int64_t N, int64_t dim, float eps);
void vg_layernorm_bwd_ref(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                          const float *mean, const float *rstd, int64_t N, int64_t dim);
void vg_rmsnorm_ref(float *out, float *rstd, const float *x, const float *w, int64_t N, int64_t dim, float eps);
void vg_rmsnorm_bwd_ref(float *dx, float *dw, const float *dout, const float *x, const float *w,
                        const float *rstd, int64_t N, int64_t dim);
void vg_gelu_tanh_ref(float *out, const float *x, int64_t n);
void vg_colsum_grad_ref(float *sum_g, float *sum_gx, const float *g, const float *x, const float *sub,
                        const float *scale, int64_t N, int64_t dim);
void vg_silu_ref(float *out, const float *x, int64_t n);
void vg_softmax_ref(float *out, const float *x, int64_t N, int64_t n);
void vg_modulate_ref(float *out, const float *x, const float *shift, const float *scale, int64_t N, int64_t dim);
void vg_rope3d_ref(float *x, int64_t F, int64_t Hg, int64_t Wg, int H, int hd, double theta, int64_t f_offset);

#endif
