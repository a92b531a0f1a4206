/* wan_vae.h - Wan2.1 VAE (causal 3D; wan/modules/vae.py: WanVAE_, and diffusers
 * AutoencoderKLWan), decoder and encoder, chunked with a per-conv feature cache (WAN.md 3.4).
 * Latents z [Z, T, h, w] (Z = z_dim = 16), video [3, F, H, W] RGB in [-1, 1],
 * F = 4(T-1)+1, H = 8h, W = 8w (for the default temperal_downsample [F,T,T]).
 * Weights are used in place from the safetensors mapping (F32, F16 or BF16). */
#ifndef VIDGEN_WAN_VAE_H
#define VIDGEN_WAN_VAE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vidgen/safetensors.h"
#include "vidgen/status.h"

typedef struct vg_wan_vae vg_wan_vae; /* opaque */

#define VG_WAN_VAE_MAX_STAGES 8
typedef struct {
    int64_t dim, z_dim, num_res_blocks;
    int n_mult;                                   /* entries in dim_mult */
    int64_t dim_mult[VG_WAN_VAE_MAX_STAGES];
    bool temperal_downsample[VG_WAN_VAE_MAX_STAGES - 1];
} vg_wan_vae_config;

/* The real Wan2.1 values: dim 96, z_dim 16, dim_mult [1,2,4,4], num_res_blocks 2,
 * temperal_downsample [false,true,true]. */
void vg_wan_vae_config_default(vg_wan_vae_config *c);

/* Latent normalisation constants of Wan2.1 (WAN.md 3.6). */
extern const float vg_wan_latent_mean[16];
extern const float vg_wan_latent_std[16];

/* Opens a VAE from `path` (owns the file), or, when path is NULL, from `f` (borrowed: f must
 * outlive the VAE). Key names: official or diffusers, with any prefix before `encoder.`/
 * `decoder.` stripped (e.g. `first_stage_model.`, `vae.`). Config from __metadata__["config"]
 * (JSON keys dim, z_dim, dim_mult, num_res_blocks, temperal_downsample), else the defaults.
 * The encoder is optional (decode-only files). Caller frees with vg_wan_vae_free.
 * Errors: VG_ERR_IO, VG_ERR_FORMAT (missing tensor / bad config), VG_ERR_SHAPE (message
 * names the tensor, its shape and the expected shape), VG_ERR_OOM. */
vg_status vg_wan_vae_open(vg_wan_vae **out, const char *path, vg_st_file *f);
void vg_wan_vae_free(vg_wan_vae *v); /* NULL ok */
const vg_wan_vae_config *vg_wan_vae_config_of(const vg_wan_vae *v);
bool vg_wan_vae_has_encoder(const vg_wan_vae *v);

typedef struct {
    bool clamp;          /* clamp decoded video to [-1,1] (default true); false = raw output */
    bool normalize;      /* latents are normalised: decode un-normalises z*std+mean, encode
                            returns (mu-mean)/std (default true) */
    int64_t dec_chunk;   /* latent frames per decoder chunk (default 1, as the official code;
                            >= T decodes the whole sequence at once, same result, more memory) */
    int64_t enc_chunk;   /* video frames per encoder chunk after the first frame (default 4;
                            must be a multiple of 4) */
    int64_t dec_stripes; /* decode in this many horizontal stripes of the output, each over the
                            whole clip with its own feature caches (the full-resolution caches
                            dominate memory; same result to rounding: each stripe carries the
                            rows its receptive field needs). 0 (default) = auto: the fewest
                            stripes whose working memory fits dec_budget_mb; 1 = whole frames */
    int64_t dec_budget_mb; /* working-memory target of the auto choice (default 2048: 832x480 then
                              takes 4 stripes, 1.8 GB, 1.2x the time of whole frames, 5.7 GB) */
} vg_wan_vae_opts;
void vg_wan_vae_get_opts(const vg_wan_vae *v, vg_wan_vae_opts *o);
vg_status vg_wan_vae_set_opts(vg_wan_vae *v, const vg_wan_vae_opts *o); /* VG_ERR_ARG if invalid */
/* Replace the normalisation constants (z_dim values each; std > 0). Defaults: the
 * Wan2.1 constants above when z_dim == 16, else mean 0 / std 1. */
vg_status vg_wan_vae_set_latent_stats(vg_wan_vae *v, const float *mean, const float *std);

/* Output size of a decode / encode. */
void vg_wan_vae_video_dims(const vg_wan_vae *v, int64_t T, int64_t h, int64_t w, int64_t *F, int64_t *H, int64_t *W);
void vg_wan_vae_latent_dims(const vg_wan_vae *v, int64_t F, int64_t H, int64_t W, int64_t *T, int64_t *h, int64_t *w);

/* Bytes of working memory a decode of [Z,T,h,w] / an encode of [3,F,H,W] allocates
 * (activations, feature caches, workspaces; not the caller's input/output buffers).
 * 0 when the sizes are invalid. Use it before allocating. */
size_t vg_wan_vae_decode_bytes(const vg_wan_vae *v, int64_t T, int64_t h, int64_t w);
size_t vg_wan_vae_encode_bytes(const vg_wan_vae *v, int64_t F, int64_t H, int64_t W);

/* video [3,F,H,W] (caller-allocated, see vg_wan_vae_video_dims) from z [Z,T,h,w].
 * Memory does not grow with T for the default dec_chunk. Errors: VG_ERR_ARG, VG_ERR_OOM. */
vg_status vg_wan_vae_decode(vg_wan_vae *v, float *video, const float *z, int64_t T, int64_t h, int64_t w);
/* z [Z,T,h,w] (= mu, normalised unless opts.normalize is false) from video [3,F,H,W],
 * F = 1 + 4k, H and W multiples of 8. VG_ERR_UNSUPPORTED when the file has no encoder. */
vg_status vg_wan_vae_encode(vg_wan_vae *v, float *z, const float *video, int64_t F, int64_t H, int64_t W);

/* Writes a VAE with random weights (dtype F32/F16/BF16, real shapes of cfg, NULL = default)
 * and official key names to path: for benchmarks and tests. */
vg_status vg_wan_vae_write_random(const char *path, const vg_wan_vae_config *cfg, vg_dtype dt, uint64_t seed);

#endif
