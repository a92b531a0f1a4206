/* conv.h - 3D/2D convolutions of the Wan VAE (wan/modules/vae.py: CausalConv3d, Resample).
 * Activations are f32 [C, T, H, W]; weights [Co, Ci, kT, kH, kW] in F32, F16 or BF16,
 * used in place (converted into the workspace once per call). Input comes as a list
 * of frames so that a causal conv can read [cached frames, new frames] without a copy.
 * Legend: Ci/Co in/out channels, T frames, H W frame size, k kernel, s stride, p padding.
 * vg_conv3d (implicit GEMM on small packed tiles, OpenMP over tiles) and vg_conv3d_ref
 * (plain loops) compute the same thing; results do not depend on the thread count. */
#ifndef VIDGEN_CONV_H
#define VIDGEN_CONV_H
#include <stdint.h>
#include <stddef.h>
#include "vidgen/status.h"
#include "vidgen/tensor.h"

/* One input frame: element (c, y, x) is p[c*cstride + y*W + x]. p == NULL is an all-zero
 * frame (causal padding, empty cache). */
typedef struct { const float *p; int64_t cstride; } vg_frame;

/* Geometry. Input frame size h x w is first upsampled by `up` (1, or 2 = nearest x2, as
 * Resample's Upsample(scale 2, 'nearest-exact')), then zero padded: pt frames in front,
 * ph0/ph1 rows top/bottom, pw0/pw1 columns left/right; then a valid conv with strides.
 *   To = (Ti + pt - kt)/st + 1,  Ho = (h*up + ph0 + ph1 - kh)/sh + 1,  Wo likewise. */
typedef struct {
    int64_t ci, co, h, w;
    int64_t kt, kh, kw;
    int64_t st, sh, sw;
    int64_t pt, ph0, ph1, pw0, pw1;
    int64_t up;
} vg_conv_shape;

/* Presets. causal3d: k x k x k, stride 1, 2*(k/2) zero frames in front (CausalConv3d with
 * padding k/2), spatial pad k/2 both sides. k = 1 gives the 1x1x1 conv. */
vg_conv_shape vg_conv_shape_causal3d(int64_t ci, int64_t co, int64_t h, int64_t w, int64_t k);
/* 2D k x k per frame, pad k/2, stride 1, optional nearest x`up` upsample (upsample2d/3d). */
vg_conv_shape vg_conv_shape_2d(int64_t ci, int64_t co, int64_t h, int64_t w, int64_t k, int64_t up);
/* downsample: zero pad right 1 and bottom 1, 3x3 stride 2, no other padding. */
vg_conv_shape vg_conv_shape_down2d(int64_t ci, int64_t co, int64_t h, int64_t w);

/* Output size for ti input frames; false when the geometry is invalid or empty. */
bool vg_conv_out_dims(const vg_conv_shape *s, int64_t ti, int64_t *to, int64_t *ho, int64_t *wo);

/* Workspace, grown on demand (outside parallel regions); zero-initialise, free with
 * vg_conv_ws_free. One per caller; not shared between concurrent calls. */
typedef struct { float *buf; size_t cap; } vg_conv_ws;
void vg_conv_ws_free(vg_conv_ws *ws);
/* Floats the workspace needs for shape s at the current OpenMP thread count. */
size_t vg_conv_ws_floats(const vg_conv_shape *s);

/* out[co*out_cstride + t*Ho*Wo + y*Wo + x] = bias[co] + sum w * padded input.
 * in: ti frames. w [co, ci, kt, kh, kw] of dtype wt. bias [co] f32 or NULL.
 * Errors: VG_ERR_ARG (bad geometry), VG_ERR_OOM (workspace). ws NULL: a temporary one. */
vg_status vg_conv3d(float *out, int64_t out_cstride, const vg_frame *in, int64_t ti, const void *w,
                    vg_dtype wt, const float *bias, const vg_conv_shape *s, vg_conv_ws *ws);
/* Plain loops, same contract (no workspace). */
vg_status vg_conv3d_ref(float *out, int64_t out_cstride, const vg_frame *in, int64_t ti,
                        const void *w, vg_dtype wt, const float *bias, const vg_conv_shape *s);

/* Frames of a contiguous [C, T, H, W] tensor x: fr[t] = {x + t*H*W, T*H*W}. */
void vg_frames_of(vg_frame *fr, const float *x, int64_t T, int64_t H, int64_t W);

#endif
