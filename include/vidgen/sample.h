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

typedef enum { VG_SAMPLER_EULER = 0, VG_SAMPLER_UNIPC = 1 } vg_sampler;
/* "euler" / "unipc" -> value; false if unknown. */
int vg_sampler_from_name(const char *s, vg_sampler *out);
const char *vg_sampler_name(vg_sampler s);

/* Multistep solver state for n elements (UniPC keeps two previous x0 predictions). */
typedef struct vg_solver vg_solver;
vg_status vg_solver_new(vg_solver **out, vg_sampler kind, const float *sigmas, int steps, int64_t n);
/* One step i (0..steps-1): x holds x_i on entry and x_{i+1} on return, given the model's
 * velocity v_i at x_i (after guidance). */
void vg_solver_step(vg_solver *s, int i, float *x, const float *v);
void vg_solver_free(vg_solver *s);

#endif
