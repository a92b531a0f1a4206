/* train.h - `vidgen train`: flow-matching training of a vidgen model (DiT + text encoder)
 * with hand-written backward passes, AdamW, clipping, warmup + cosine LR, EMA, atomic and
 * resumable checkpoints. Every random draw of step s is a function of (seed, s), so a
 * resumed run repeats an uninterrupted one step for step, at any thread count. */
#ifndef VIDGEN_TRAIN_H
#define VIDGEN_TRAIN_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "vidgen/status.h"

typedef struct {
    char *model_json;        /* model config.json text (owned) */
    char data[1024];         /* "shapes", "mnist" or a folder of clips */
    char out[1024];          /* run folder: ckpt.safetensors, log.jsonl, model/ */
    char **held_out; int n_held_out;
    int size, frames, batch, steps, warmup, ckpt_every, log_every;
    int cosine_from; /* > 0: the cosine schedule starts again at this step (fine-tuning) */
    double lr, min_lr_frac, weight_decay, beta1, beta2, grad_clip, ema, image_frac, text_drop, flow_shift;
    uint64_t seed;
    double prefix_frac;      /* share of video samples whose first k frames are given clean (timestep 0,
                              * no loss), k uniform in 1..prefix_max: the model learns to continue
                              * known frames, and the motion words then decide where the object goes */
    int prefix_max;          /* 0 = frames / 2 */
    double max_minutes;      /* stop (with a checkpoint) after this wall time; 0 = no limit */
    bool resume, quiet;
    bool amx_f32;            /* f32 matrix products on AMX tiles (bf16 hi/lo, vg_gemm_f32_amx) where
                              * the CPU has them; default true. Bit-identical across thread counts
                              * either way, but a run resumed with the other setting diverges. */
    bool bf16;               /* bf16 operands in the forward and backward matrix products (f32 sums,
                              * f32 master weights and optimizer state; vg_gemm_bf16) where the CPU
                              * has AVX512_BF16; default true. Elsewhere the f32 path runs. AMX
                              * (amx_f32) takes precedence on CPUs that have it. */
} vg_train_config;

/* Defaults, then the JSON object text over them. Errors name `what` and the key. */
vg_status vg_train_config_parse(vg_train_config *c, const char *json, const char *what);
void vg_train_config_free(vg_train_config *c);

typedef struct { int64_t step; double loss, lr, step_s, clips_per_s, grad_norm; } vg_train_log;
typedef void (*vg_train_log_fn)(void *ctx, const vg_train_log *l);

/* Runs (or resumes) training to c->steps. stop: polled after each step; when it becomes
 * non-zero a checkpoint is written and VG_ERR_INTERRUPTED returned. losses (optional,
 * c->steps entries) receives the loss of each step run. */
vg_status vg_train_run(const vg_train_config *c, volatile int *stop, vg_train_log_fn log, void *lctx,
                       double *losses);

/* Learning rate at a step: warmup, then cosine to lr * min_lr_frac at steps (restarted at
 * cosine_from when set). */
double vg_train_lr(const vg_train_config *c, int64_t step);

/* The pieces of one training step, exposed for tests. Every draw is a pure function of
 * (c->seed, step, b). Image step: the whole batch is trained as single frames (window 0), a
 * share c->image_frac of steps. */
bool vg_train_image_step(const vg_train_config *c, int64_t step);
/* sig [c->frames]: the noise level of each frame of sample b (logit-normal, shifted by
 * c->flow_shift); on video steps, with probability c->prefix_frac, the first k frames are known
 * (sigma 0), k uniform in 1..prefix_max (0: frames/2). */
void vg_train_frame_sigmas(const vg_train_config *c, int64_t step, int b, bool image_step, double *sig);
/* Flow-matching loss of one clip [C][F][HW] with noise levels sig [F]: the mean over the noisy
 * frames' values of (v_pred - v)^2, v = eps - x0, where an x0-predicting model's v_pred =
 * (xt - pred) / max(sigma, 0.05). dpred = d(sum of squares)/d(pred) / norm; known frames
 * (sigma 0) give 0 there and add nothing. Returns the sum of squares / (C*F*HW). */
double vg_train_sample_loss(float *dpred, const float *pred, const float *xt, const float *x0, const float *eps,
                            const double *sig, int64_t C, int64_t F, int64_t HW, bool predict_x0, double norm);

#endif
