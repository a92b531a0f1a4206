/* generate.h - prompt -> frames with a vidgen model: text encoding, seeded noise, the
 * flow-matching sampler with classifier-free guidance, pixels. */
#ifndef VIDGEN_GENERATE_H
#define VIDGEN_GENERATE_H
#include <stdint.h>
#include "vidgen/model.h"
#include "vidgen/sample.h"

typedef struct {
    const char *prompt, *negative_prompt;
    int frames, width, height, steps;
    float cfg_scale, flow_shift;
    uint64_t seed;
    vg_sampler sampler;
    int window;                 /* < 0: all */
    const uint8_t *init_frames; /* optional [n_init][H][W][3] frames to continue (NULL = none) */
    int n_init;
    int anchor;                 /* 1: draw the first frame alone (an image, window 0), then the clip as
                                 * its continuation, so the motion words set the direction from a
                                 * known start (models trained with known frames); 0: all frames at once */
    int chunk, chunk_overlap;   /* chunk > 0 (with known first frames: --anchor or init frames): the
                                 * clip is made `chunk` frames at a time, each chunk continuing the
                                 * last `chunk_overlap` frames made so far; 0: all frames at once */
    int dist;                   /* under mpirun (MPI build): 0 this process alone (batch: a clip per
                                 * rank); 1 this clip over all ranks by frames; 2 also the CFG
                                 * branches on two halves of the ranks (even rank count). The frames
                                 * are the same bits as one process's, on every rank. */
} vg_gen_params;

typedef struct { double text_s, denoise_s, total_s; int64_t mem_bytes; } vg_gen_stats;

/* Called after each denoising step (elapsed seconds since sampling started). */
typedef void (*vg_progress_fn)(void *ctx, int step, int steps, double elapsed);

/* Bytes the run needs beyond the model's weights (activations, latents, solver state). */
int64_t vg_generate_mem_estimate(const vg_model *m, const vg_gen_params *p);
/* Frames out [F][H][W][3] uint8 (caller allocates F*H*W*3). unknown: unknown-word report
 * (malloc'd, may be NULL). Same params and seed give bit-identical frames for any thread count. */
vg_status vg_generate(const vg_model *m, const vg_gen_params *p, uint8_t *out, char **unknown,
                      vg_progress_fn progress, void *pctx, vg_gen_stats *stats);
/* Noise of a clip: element (c,f,y,x) = Philox normal (seed, stream f, index (c*H+y)*W+x), so a
 * frame's noise does not depend on the clip length. x [C,F,H,W]. */
void vg_clip_noise(float *x, int64_t C, int64_t F, int64_t H, int64_t W, uint64_t seed);

#endif
