/* wan.h - Wan2.1-T2V checkpoints on the CPU: files (ComfyUI single files, the official fp32
 * DiT, the diffusers folder layout with sharded safetensors), DiT/umT5 name mapping onto
 * vidgen's structs, and the text-to-video pipeline (tokenizer -> umT5 -> DiT with CFG and
 * UniPC/Euler -> VAE decode). Spec: shared/WAN.md (1.4 DiT names, 2.4 T5 names, 4 sampling).
 * Legend: F video frames, H W pixels, T = (F-1)/4+1 latent frames, h = H/8, w = W/8, Z = 16
 * latent channels, D DiT dim, Dt text dim (4096), N real prompt tokens. */
#ifndef VIDGEN_WAN_H
#define VIDGEN_WAN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vidgen/dit.h"
#include "vidgen/safetensors.h"
#include "vidgen/sample.h"
#include "vidgen/status.h"
#include "vidgen/t5.h"
#include "vidgen/wan_vae.h"

/* ---- one model's weights: a .safetensors file or the shards of an index ---------------- */
typedef struct vg_wan_files vg_wan_files; /* opaque */

/* path: a .safetensors file, a *.safetensors.index.json (every shard it names is opened), or a
 * folder holding exactly one of those. Shards are mmapped (nothing is read until used).
 * Caller closes with vg_wan_files_close. Errors: VG_ERR_IO, VG_ERR_FORMAT (bad index, a
 * shard that fails validation, a tensor name in two shards), VG_ERR_ARG (folder ambiguous). */
vg_status vg_wan_files_open(vg_wan_files **out, const char *path);
void vg_wan_files_close(vg_wan_files *f); /* unmaps every shard; NULL ok */
const char *vg_wan_files_path(const vg_wan_files *f);
int vg_wan_files_count(const vg_wan_files *f);                /* shards */
vg_st_file *vg_wan_files_shard(const vg_wan_files *f, int i);  /* borrowed */
int64_t vg_wan_files_bytes(const vg_wan_files *f);             /* total size of the shards */
/* Tensor by exact name in any shard (NULL when absent); *shard (may be NULL) gets its shard. */
const vg_tensor *vg_wan_files_find(const vg_wan_files *f, const char *name, int *shard);
/* Number of tensors never passed to vg_st_require (after a load: the unexpected tensors);
 * the first few names, comma-separated, into names (may be NULL). */
int64_t vg_wan_files_unused(const vg_wan_files *f, char *names, size_t cap);

/* ---- DiT ------------------------------------------------------------------------------- */
typedef enum { VG_WAN_NAMES_OFFICIAL = 0, VG_WAN_NAMES_DIFFUSERS = 1 } vg_wan_names;

/* The diffusers key (WanTransformer3DModel) of an official DiT key (WAN.md 1.4) into out.
 * Returns false for a name it does not know. */
bool vg_wan_dit_name_diffusers(char *out, size_t cap, const char *official);

/* Detects the naming (official / diffusers), the key prefix ("model.diffusion_model." or
 * "") and the config: Wan 1.3B defaults, overridden by the shapes (dim, in/out, ffn, layers,
 * text and freq dims; heads = dim/128), then by a JSON config if there is one (the first
 * shard's __metadata__ "config", else config.json beside the file; official or diffusers
 * keys). Errors: VG_ERR_FORMAT (not a Wan DiT: no blocks.0 q weight under any prefix). */
vg_status vg_wan_dit_detect(vg_dit_config *cfg, vg_wan_names *names, char *prefix, size_t cap,
                            const vg_wan_files *f);
/* Points every weight of m at the shards (matrices used in place in F32/F16/BF16, vectors
 * converted to f32, owned by m; free with vg_dit_free). f must stay open while m is used.
 * Errors name the tensor (in the file's own naming) with found and expected shapes:
 * VG_ERR_FORMAT missing / wrong dtype, VG_ERR_SHAPE mis-shaped. Extra tensors are not an
 * error here: see vg_wan_files_unused. */
vg_status vg_wan_dit_load(vg_dit *m, const vg_dit_config *cfg, vg_wan_files *f, vg_wan_names names,
                          const char *prefix);

/* As vg_wan_dit_load; weight_type >= 0 (a vg_dtype) converts the F16/BF16/F32 matrices whose rows
 * are a multiple of its block to it (quantized with vg_quantize, owned by m), and gives the
 * source pages back to the kernel (madvise) as it goes; -1 keeps them as stored. */
vg_status vg_wan_dit_load_as(vg_dit *m, const vg_dit_config *cfg, vg_wan_files *f, vg_wan_names names,
                             const char *prefix, int weight_type);

/* ---- umT5 ------------------------------------------------------------------------------ */
/* Loads the text encoder (official or HF names, any prefix, config inferred from the shapes)
 * as views into f (f must stay open while m is used; free m with vg_t5_free). */
vg_status vg_wan_t5_load(vg_t5 *m, vg_wan_files *f);

/* llama.cpp umT5 GGUF names (token_embd, enc.blk.N.attn_q, ...) <-> HF T5 names (shared,
 * encoder.block.N.layer.0.SelfAttention.q, ...; to_llama also takes the official Wan T5 names);
 * false for a name with no counterpart. */
bool vg_wan_t5_llama_name(char *out, size_t cap, const char *name, bool to_llama);

/* ---- the pipeline ---------------------------------------------------------------------- */
/* The official default negative prompt (wan/configs/shared_config.py sample_neg_prompt). */
extern const char vg_wan_default_negative_prompt[];

typedef struct {
    char *dit, *t5, *vae, *tokenizer; /* paths (owned); tokenizer NULL = spiece_model in the t5 file */
    char *tae;                        /* TAEHV (taew2_1) decoding instead of the VAE (vae then unused); NULL = the VAE */
} vg_wan_paths;
/* Fills the members still NULL from the files under dir (depth <= 3; each .safetensors or
 * index is classified by its tensor names). Errors: VG_ERR_IO (no such folder), VG_ERR_FORMAT
 * (a part is missing: the message says which and why, e.g. only the .pth pickle is there),
 * VG_ERR_ARG (two candidates for one part: the message lists them). */
vg_status vg_wan_discover(vg_wan_paths *p, const char *dir);
void vg_wan_paths_free(vg_wan_paths *p);

typedef struct {
    const char *prompt, *negative_prompt; /* negative NULL = vg_wan_default_negative_prompt */
    int frames, width, height, steps;
    float cfg_scale, flow_shift;
    uint64_t seed;
    vg_sampler sampler;
    int window;                           /* temporal window in latent frames; < 0 = all */
    const float *sigmas;                  /* optional [steps + 1] schedule (vg_schedule_from_timesteps /
                                           * _sigmas); NULL = Wan's shifted schedule */
    const char *const *loras;             /* optional "FILE[:SCALE]" LoRAs merged into the DiT at load */
    int n_loras;
    int weight_type;                      /* -1: weights as stored; else a vg_dtype (--type): the DiT's F16/BF16/F32
                                           * matrices are converted to it at load (vg_wan_dit_load_as) */
    int dist;                             /* under mpirun (MPI build): 0 this process alone; 1 the clip's latent
                                           * frames over all ranks; 2 also the CFG branches on two halves (even
                                           * rank count). umT5 on rank 0 only, the VAE decode on rank 0 only:
                                           * `out` is filled on rank 0 (the same bits as one process) */
    int preview_every;                    /* > 0 (needs paths->tae): after every N-th step but the last, hooks->preview
                                           * gets the TAEHV decode of that step's x0 prediction x - sigma v; 0 = none */
    bool bf16;                            /* DiT forwards under vg_gemm_bf16(true): bf16 products (f16/f32/bf16
                                           * weights rounded to bf16) and bf16 attention (attn.h), f32 sums;
                                           * false (default): f32 products and attention. No effect without
                                           * AVX512_BF16 (the f32 paths run). */
} vg_wan_params;
/* 81 frames 832x480, 50 steps UniPC, guidance 5, shift 5, seed 0, window all. */
void vg_wan_params_default(vg_wan_params *p);
/* VG_ERR_ARG unless frames = 4n+1 and width, height are positive multiples of 16; the
 * message suggests the nearest valid values. */
vg_status vg_wan_check_size(const vg_wan_params *p);

/* Memory of each stage (bytes): mapped weights + working memory; peak = the largest stage
 * plus the frames kept throughout. Opens the files' headers only. */
typedef struct { int64_t text, dit, vae, frames, peak, dit_weights, dit_acts; } vg_wan_mem;
vg_status vg_wan_estimate(vg_wan_mem *m, const vg_wan_paths *paths, const vg_wan_params *p);

typedef struct {
    double text_s, load_s, denoise_s, decode_s, total_s;
    double step_s_first, step_s_mean;     /* one DiT step = cond + uncond forwards + solver */
    int64_t n_tok, n_tok_neg;
} vg_wan_stats;
typedef struct {
    /* stage "text" / "denoise" / "decode"; step of steps, seconds since the stage began */
    void (*progress)(void *ctx, const char *stage, int step, int steps, double elapsed);
    void (*message)(void *ctx, const char *msg); /* warnings (e.g. unexpected tensors) */
    void *ctx;
    /* --preview: frames [F][H][W][3] uint8 (valid during the call) after step (1-based) of steps; an error stops the run */
    vg_status (*preview)(void *ctx, int step, int steps, const uint8_t *frames, int64_t F, int64_t H, int64_t W);
} vg_wan_hooks;
/* Frames out [F][H][W][3] uint8 (caller allocates). The text encoder's file is closed before
 * the DiT's is opened, and the DiT's before the VAE decodes. Same seed and settings give
 * bit-identical frames for any thread count. hooks and stats may be NULL. */
vg_status vg_wan_generate(const vg_wan_paths *paths, const vg_wan_params *p, uint8_t *out,
                          const vg_wan_hooks *hooks, vg_wan_stats *stats);

/* ---- random weights with the real names and shapes (tests, benchmarks) ------------------ */
typedef enum { VG_WAN_LAYOUT_COMFY = 0, VG_WAN_LAYOUT_DIFFUSERS = 1 } vg_wan_layout;
typedef struct {
    vg_dit_config dit;         /* e.g. vg_dit_config_wan13b */
    vg_t5_config t5;           /* e.g. vg_t5_config_umt5_xxl, fewer layers to save disk */
    vg_wan_vae_config vae;
    vg_dtype dtype;            /* F16 (Comfy), BF16 or F32 */
    vg_wan_layout layout;
    bool dit_prefix;           /* Comfy: keys under "model.diffusion_model." */
    int shards;                /* diffusers: shards per model (>= 1) */
    uint64_t seed;
    const char *misshape;      /* official DiT key written with its first dimension - 1 (tests) */
    bool skip_vae, skip_t5, skip_dit;
} vg_wan_random_opts;
/* Defaults: the real 1.3B DiT, umT5-XXL, VAE; F16; Comfy layout with the prefix; 2 shards. */
void vg_wan_random_opts_default(vg_wan_random_opts *o);
/* Writes into dir (created): Comfy: wan2.1_t2v_1.3B_fp16.safetensors, umt5_xxl_fp16.safetensors
 * (HF names + a small made-up `spiece_model`), wan_2.1_vae.safetensors. Diffusers:
 * transformer/ and text_encoder/ (sharded + index.json + config.json), tokenizer/spiece.model,
 * vae/diffusion_pytorch_model.safetensors. Tensors are streamed to disk (memory stays small
 * whatever the size); each file is written atomically. A config __metadata__ is stored only
 * for DiTs that are not 1.3B-shaped (as the real files carry none). */
vg_status vg_wan_write_random(const char *dir, const vg_wan_random_opts *o);

#endif
