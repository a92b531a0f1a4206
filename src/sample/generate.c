/* generate.c - text -> video for vidgen's pixel-space models: encode prompt and negative
 * prompt, start from seeded per-frame noise, run the solver with classifier-free guidance
 * (cond and uncond in one batch-2 forward), map [-1,1] to 8-bit RGB.
 * Legend: C channels (3), F frames, H W pixels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vidgen/generate.h"
#include "vidgen/rng.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void vg_clip_noise(float *x, int64_t C, int64_t F, int64_t H, int64_t W, uint64_t seed) {
    #pragma omp parallel for schedule(static)
    for (int64_t f = 0; f < F; f++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < H * W; i++)
                x[(c * F + f) * H * W + i] = vg_philox_normal(seed, (uint64_t)f, (uint64_t)(c * H * W + i));
}

int64_t vg_generate_mem_estimate(const vg_model *m, const vg_gen_params *p) {
    int B = p->cfg_scale != 1.0f ? 2 : 1;
    int64_t n = (int64_t)m->dcfg.in_dim * p->frames * p->height * p->width;
    return vg_dit_acts_bytes(&m->dcfg, B, p->frames, p->height, p->width, false) +
           (int64_t)sizeof(float) * n * (4 + 2 * B) + (int64_t)sizeof(float) * 2 * m->dcfg.text_len * m->dcfg.text_dim;
}

vg_status vg_generate(const vg_model *m, const vg_gen_params *p, uint8_t *out, char **unknown,
                      vg_progress_fn progress, void *pctx, vg_gen_stats *stats) {
    const vg_dit_config *c = &m->dcfg;
    const int64_t F = p->frames, H = p->height, W = p->width, C = c->in_dim, n = C * F * H * W;
    const int B = p->cfg_scale != 1.0f ? 2 : 1;
    const int64_t T = c->text_len, Dt = c->text_dim;
    double t0 = now_s();
    if (F < 1 || H < 1 || W < 1 || p->steps < 1) return vg_fail(VG_ERR_ARG, "frames, size and steps must be positive");
    if (H % c->patch[1] || W % c->patch[2])
        return vg_fail(VG_ERR_ARG, "size %lldx%lld is not a multiple of the model's patch %dx%d", (long long)W, (long long)H, c->patch[2], c->patch[1]);
    if (C != 3 || c->out_dim != 3) return vg_fail(VG_ERR_UNSUPPORTED, "model '%s' is not a pixel-space model", m->name);
    vg_status st = VG_OK;
    float *ctx = calloc((size_t)(B * T * Dt), sizeof(float));
    float *x = malloc(sizeof(float) * n), *xin = malloc(sizeof(float) * n * B), *pred = malloc(sizeof(float) * n * B);
    float *v = malloc(sizeof(float) * n), *init = NULL, *sig = malloc(sizeof(float) * (p->steps + 1));
    float tt[2];
    vg_dit_acts *acts = NULL;
    vg_solver *sol = NULL;
    if (!ctx || !x || !xin || !pred || !v || !sig) { st = vg_fail(VG_ERR_OOM, "out of memory for a %lldx%lldx%lld clip", (long long)W, (long long)H, (long long)F); goto out; }
    if ((st = vg_model_encode_text(m, p->prompt, ctx, unknown))) goto out;
    if (B == 2 && (st = vg_model_encode_text(m, p->negative_prompt ? p->negative_prompt : "", ctx + T * Dt, NULL))) goto out;
    double t1 = now_s();
    if ((st = vg_dit_acts_new(&acts, c, B, F, H, W, false))) goto out;
    vg_schedule_wan(sig, NULL, p->steps, p->flow_shift);
    if ((st = vg_solver_new(&sol, p->sampler, sig, p->steps, n))) goto out;
    vg_clip_noise(x, C, F, H, W, p->seed);
    if (p->init_frames && p->n_init > 0) { /* known first frames: [-1,1] */
        int64_t ni = p->n_init < F ? p->n_init : F;
        init = malloc(sizeof(float) * C * ni * H * W);
        if (!init) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
        for (int64_t f = 0; f < ni; f++)
            for (int64_t i = 0; i < H * W; i++)
                for (int64_t ch = 0; ch < C; ch++)
                    init[(ch * ni + f) * H * W + i] = p->init_frames[(f * H * W + i) * 3 + ch] / 127.5f - 1.0f;
    }
    for (int i = 0; i < p->steps; i++) {
        double s = sig[i];
        if (init) { /* replace the known frames by their noised version at this sigma (inpainting in time) */
            int64_t ni = p->n_init < F ? p->n_init : F;
            for (int64_t ch = 0; ch < C; ch++)
                for (int64_t f = 0; f < ni; f++)
                    for (int64_t k = 0; k < H * W; k++) {
                        int64_t idx = (ch * F + f) * H * W + k;
                        float e = vg_philox_normal(p->seed, (uint64_t)f, (uint64_t)(ch * H * W + k));
                        x[idx] = (float)((1 - s) * init[(ch * ni + f) * H * W + k] + s * e);
                    }
        }
        for (int b = 0; b < B; b++) { memcpy(xin + b * n, x, sizeof(float) * n); tt[b] = (float)(1000.0 * s); }
        if ((st = vg_dit_forward(&m->dit, acts, pred, xin, tt, ctx, B, F, H, W, p->window, 0, NULL))) goto out;
        /* to velocity, then guidance: v = v_u + g (v_c - v_u) */
        for (int b = 0; b < B; b++)
            if (c->predict_x0) {
                float inv = (float)(1.0 / (s > 1e-4 ? s : 1e-4));
                float *pb = pred + b * n;
                for (int64_t j = 0; j < n; j++) pb[j] = (x[j] - pb[j]) * inv;
            }
        if (B == 2)
            for (int64_t j = 0; j < n; j++) v[j] = pred[n + j] + p->cfg_scale * (pred[j] - pred[n + j]);
        else
            memcpy(v, pred, sizeof(float) * n);
        vg_solver_step(sol, i, x, v);
        if (progress) progress(pctx, i + 1, p->steps, now_s() - t1);
    }
    if (init) { /* the known frames come out exactly as given */
        int64_t ni = p->n_init < F ? p->n_init : F;
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t f = 0; f < ni; f++)
                memcpy(x + (ch * F + f) * H * W, init + (ch * ni + f) * H * W, sizeof(float) * H * W);
    }
    for (int64_t f = 0; f < F; f++)
        for (int64_t i = 0; i < H * W; i++)
            for (int64_t ch = 0; ch < C; ch++) {
                float u = (x[(ch * F + f) * H * W + i] + 1.0f) * 127.5f;
                u = u < 0 ? 0 : u > 255 ? 255 : u;
                out[(f * H * W + i) * 3 + ch] = (uint8_t)lrintf(u);
            }
    if (stats) {
        stats->text_s = t1 - t0;
        stats->denoise_s = now_s() - t1;
        stats->total_s = now_s() - t0;
        stats->mem_bytes = vg_generate_mem_estimate(m, p);
    }
out:
    vg_solver_free(sol);
    vg_dit_acts_free(acts);
    free(ctx); free(x); free(xin); free(pred); free(v); free(init); free(sig);
    return st;
}
