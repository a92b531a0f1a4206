/* taehv.h - TAEHV, the tiny video autoencoder for Wan latents (madebyollin/taehv, taehv.py:
 * taew2_1 = 16 latent channels, patch 1; taew2_2 = 48 channels, patch 2 with pixel (un)shuffle).
 * TAEHV takes the latents exactly as the diffusion model produces them: the Wan DiT's output,
 * without the Wan VAE's mean/std un-normalisation (taehv README).
 * Layout: latents z [C, T, h, w] and video [3, F, H, W] (the Wan layout, channel-major;
 * taehv.py uses NTCHW, the same data transposed). Video values in [0, 1].
 * Decode: F = 4T - 3 (the decoder's TGrow layers give 4 frames per latent, the first 3 are
 * trimmed as the reference does), H = 8*patch*h, W = 8*patch*w.
 * Encode: F frames are padded at the end (last frame repeated) to a multiple of 4, T = ceil(F/4),
 * H and W multiples of 8*patch.
 * Two schedules give bit-identical results: parallel (every frame through each layer in turn,
 * memory grows with T) and sequential (one frame at a time through all layers with a per-layer
 * state: the previous input of each MemBlock, the pending frames of each TPool; fixed memory).
 * Weights are converted to f32 at load; results do not depend on the thread count. */
#ifndef VIDGEN_TAEHV_H
#define VIDGEN_TAEHV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vidgen/status.h"
#include "vidgen/tensor.h"

typedef struct vg_taehv vg_taehv; /* opaque */

typedef struct {
    int64_t latent_channels; /* 16 (taew2_1) or 48 (taew2_2), from decoder.1.weight / encoder.17.weight */
    int64_t patch;           /* 1 or 2, from decoder.22.weight / encoder.0.weight */
    int64_t t_upscale;       /* 4: decoder TGrow strides 1, 2, 2 */
    int64_t t_downscale;     /* 4: encoder TPool strides 2, 2, 1 */
    int64_t space_scale;     /* 8 * patch */
    bool has_encoder, has_decoder;
} vg_taehv_info;

/* Opens a TAEHV state dict from a safetensors or GGUF file (F32, F16 or BF16 tensors; names as taehv.py:
 * decoder.N.weight / .bias, decoder.N.conv.K.weight for MemBlocks, decoder.N.conv.weight for
 * TGrow/TPool; an optional prefix before `encoder.`/`decoder.` is accepted). Encoder or decoder
 * may be absent (not both). A TGrow weight with more rows than needed keeps the last rows, as
 * taehv.py's patch_tgrow_layers. Every shape is validated; unknown `encoder.`/`decoder.` tensors
 * are refused. Errors name the file and the tensor: VG_ERR_IO, VG_ERR_FORMAT, VG_ERR_SHAPE, VG_ERR_OOM. */
vg_status vg_taehv_open(vg_taehv **out, const char *path);
void vg_taehv_free(vg_taehv *m); /* NULL ok */
const vg_taehv_info *vg_taehv_info_of(const vg_taehv *m);
/* Parameter count of the loaded parts. */
int64_t vg_taehv_params(const vg_taehv *m);

void vg_taehv_video_dims(const vg_taehv *m, int64_t T, int64_t h, int64_t w, int64_t *F, int64_t *H, int64_t *W);
void vg_taehv_latent_dims(const vg_taehv *m, int64_t F, int64_t H, int64_t W, int64_t *T, int64_t *h, int64_t *w);

/* Bytes of working memory a decode / encode allocates (activations, per-layer state, conv
 * workspace; not the caller's input and output). 0 when the sizes are invalid. */
size_t vg_taehv_decode_bytes(const vg_taehv *m, int64_t T, int64_t h, int64_t w, bool parallel);
size_t vg_taehv_encode_bytes(const vg_taehv *m, int64_t F, int64_t H, int64_t W, bool parallel);

/* video [3, F, H, W] (caller-allocated, see vg_taehv_video_dims) from z [C, T, h, w].
 * Errors: VG_ERR_ARG (sizes), VG_ERR_UNSUPPORTED (no decoder), VG_ERR_OOM. */
vg_status vg_taehv_decode(vg_taehv *m, float *video, const float *z, int64_t T, int64_t h, int64_t w, bool parallel);

/* Sequential decode that hands each output frame [3, H, W] (in [0, 1], frame index t after the
 * trim, in order) to fn instead of writing a whole video: memory does not grow with T. A non-OK
 * return of fn stops the decode and is returned. */
typedef vg_status (*vg_taehv_frame_fn)(void *user, int64_t t, const float *rgb, int64_t H, int64_t W);
vg_status vg_taehv_decode_stream(vg_taehv *m, const float *z, int64_t T, int64_t h, int64_t w,
                                 vg_taehv_frame_fn fn, void *user);

/* z [C, T, h, w] (caller-allocated, see vg_taehv_latent_dims) from video [3, F, H, W] in [0, 1]. */
vg_status vg_taehv_encode(vg_taehv *m, float *z, const float *video, int64_t F, int64_t H, int64_t W, bool parallel);

/* For the Wan pipeline (--tae): opens path, checks that z [C, T, h, w] decodes to F x H x W (the
 * error names the file and both sizes), decodes sequentially (fixed memory) straight into
 * out [F][H][W][3] uint8 (v * 255 truncated, as the Wan VAE path converts), frees the model. */
vg_status vg_taehv_decode_file_u8(const char *path, uint8_t *out, const float *z, int64_t T, int64_t h, int64_t w,
                                  int64_t F, int64_t H, int64_t W);
/* Bytes the call above needs (f32 weights + sequential working memory); checks the file header
 * and the sizes as the decode does. */
vg_status vg_taehv_estimate_file(const char *path, int64_t T, int64_t h, int64_t w, int64_t F, int64_t H, int64_t W, int64_t *bytes);

/* Writes a TAEHV with random weights and the real taew2_1 (latent_channels 16, patch 1) or
 * taew2_2 (48, 2) shapes, encoder and decoder, dtype F32/F16/BF16: for benchmarks and tests.
 * Conv weights ~ U(-a, a), a = gain * sqrt(3 / fan_in) (gain ~1 keeps activations O(1)). */
vg_status vg_taehv_write_random(const char *path, int64_t latent_channels, int64_t patch, vg_dtype dtype,
                                uint64_t seed, float gain);

#endif
