/* sample.h - flow-matching schedules and samplers (WAN.md §4).
 * Convention: x_s = (1-s)*x0 + s*noise; the model's velocity v = noise - x0. */
#ifndef VIDGEN_SAMPLE_H
#define VIDGEN_SAMPLE_H
#include <stdint.h>
#include "vidgen/status.h"

/* Wan's FlowUniPC schedule: sigma_i = shift(sigma_max*(1 - i/N)), sigma_max = 0.999 (f32),
 * shift(s) = k s / (1 + (k-1) s); sigmas[N] = 0; timesteps[i] = trunc(1000 sigma_i).
 * sigmas has N+1 entries, timesteps N. */
void vg_schedule_wan(float *sigmas, int64_t *timesteps, int n, double shift);

/* Sigmas from a list of n timesteps t_i in (0, 1000], strictly decreasing (few-step distilled
 * models publish theirs, e.g. Self-Forcing's 1000,750,500,250): sigma_i = t_i / 1000, or with
 * warp, sigma_i = shift(t_i / 1000) as above, which is Self-Forcing's / lightx2v's
 * table[1000 - t] lookup into the shifted 1000-entry schedule (1000,750,500,250 with shift 5:
 * 1000, 937.5, 833.3, 625). sigmas gets n + 1 entries (the last 0). VG_ERR_ARG names the bad entry. */
vg_status vg_schedule_from_timesteps(float *sigmas, const double *t, int n, double shift, int warp);
/* sigmas given directly: n values in (0, 1], strictly decreasing; sigmas[n] = 0 appended. */
vg_status vg_schedule_from_sigmas(float *sigmas, const double *s, int n);
/* "1000,750,500,250" -> up to cap numbers; count, or -1 when not a comma-separated list. */
int vg_parse_number_list(const char *s, double *out, int cap);

/* DMD: the update of the step-distilled Wan models (CausVid, Self-Forcing, lightx2v, rCM):
 * x0 = x_i - s_i v_i, then x_{i+1} = (1 - s_{i+1}) x0 + s_{i+1} eps_i with fresh noise eps_i at
 * each step; the last step (s_{i+1} = 0) returns x0. The timestep fed to the model is the float
 * 1000 s_i. Noise stream: eps_i[j] = vg_philox_normal(seed, VG_DMD_STREAM + i, j), j the index in
 * the latent [C][F][H][W] (vg_solver_set_seed; the first noise is the pipeline's own). */
typedef enum { VG_SAMPLER_EULER = 0, VG_SAMPLER_UNIPC = 1, VG_SAMPLER_DMD = 2 } vg_sampler;
#define VG_DMD_STREAM (1ull << 40)
/* "euler" / "unipc" / "dmd" -> value; false if unknown. */
int vg_sampler_from_name(const char *s, vg_sampler *out);
const char *vg_sampler_name(vg_sampler s);

/* Multistep solver state for n elements (UniPC keeps two previous x0 predictions). */
typedef struct vg_solver vg_solver;
vg_status vg_solver_new(vg_solver **out, vg_sampler kind, const float *sigmas, int steps, int64_t n);
/* One step i (0..steps-1): x holds x_i on entry and x_{i+1} on return, given the model's
 * velocity v_i at x_i (after guidance). */
void vg_solver_step(vg_solver *s, int i, float *x, const float *v);
/* The seed of the DMD noise stream (default 0). */
void vg_solver_set_seed(vg_solver *s, uint64_t seed);
void vg_solver_free(vg_solver *s);

#endif
