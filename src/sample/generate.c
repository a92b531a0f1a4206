/* generate.c - text -> video for vidgen's pixel-space models: encode prompt and negative
 * prompt, start from seeded per-frame noise, run the solver with classifier-free guidance
 * (cond and uncond in one batch-2 forward), map [-1,1] to 8-bit RGB. With `anchor`, the first
 * frame is drawn alone as an image and the clip is then drawn as its continuation.
 * Legend: C channels (3), F frames, H W pixels. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vidgen/dist.h"
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
    int64_t Fa = p->chunk > 0 && p->chunk < p->frames ? p->chunk : p->frames; /* frames denoised at once */
    int64_t n = (int64_t)m->dcfg.in_dim * p->frames * p->height * p->width, na = n / p->frames * Fa;
    return vg_dit_acts_bytes(&m->dcfg, B, Fa, p->height, p->width, false) + (int64_t)sizeof(float) * (2 * n + na * (2 + 2 * B)) +
           (int64_t)sizeof(float) * 2 * m->dcfg.text_len * m->dcfg.text_dim;
}

/* Copies frames [f0, f0+n) of a [C][F][HW] clip to / from a [C][n][HW] buffer. */
static void frames_get(float *dst, const float *x, int64_t C, int64_t F, int64_t HW, int64_t f0, int64_t n) {
    for (int64_t c = 0; c < C; c++) memcpy(dst + c * n * HW, x + (c * F + f0) * HW, sizeof(float) * n * HW);
}
static void frames_put(float *x, const float *src, int64_t C, int64_t F, int64_t HW, int64_t f0, int64_t n) {
    for (int64_t c = 0; c < C; c++) memcpy(x + (c * F + f0) * HW, src + c * n * HW, sizeof(float) * n * HW);
}

/* The chunk after `done` frames are made: it starts `ov` frames back (never before 0) and ends
 * `chunk` frames later or at the clip's end; returns the end, *start gets the start. */
static int64_t chunk_after(int64_t done, int64_t ov, int64_t chunk, int64_t F, int64_t *start) {
    *start = done > ov ? done - ov : 0;
    return *start + chunk < F ? *start + chunk : F;
}

/* One sampling run over F frames: x holds the seeded noise on entry and the clip on exit.
 * known [C][nk][H][W] (may be NULL): the first nk frames are given. With `clean` (a model
 * trained with known frames) they enter every step as they are, at timestep 0; otherwise they
 * are replaced by their noised version at each sigma (inpainting in time). */
static vg_status denoise(const vg_model *m, const vg_gen_params *p, const float *ctx, int B, float *x, int64_t F,
                         int window, const float *known, int64_t nk, bool clean, int pass, int npass,
                         vg_progress_fn progress, void *pctx, double t1) {
    const vg_dit_config *c = &m->dcfg;
    const int64_t H = p->height, W = p->width, C = c->in_dim, n = C * F * H * W, HW = H * W;
    /* under mpirun (p->dist): this rank's frames [f0, f1) and branches (src/dist/dist_clip.c);
     * otherwise the whole clip. The solver runs on the whole latent (elementwise: the frames
     * of other ranks get v = 0 and are replaced by theirs at the end). */
    vg_dist_split sp;
    vg_dist_split_plan(&sp, F, B == 2 && p->dist == 2, p->dist > 0);
    const int Bl = sp.groups == 2 ? 1 : B, b0 = sp.groups == 2 ? sp.branch : 0; /* branches run here */
    const int64_t f0 = sp.f0, nb = sp.f1 - sp.f0, nl = C * nb * HW, T = c->text_len, Dt = c->text_dim;
    vg_status st = VG_OK;
    float *xin = malloc(sizeof(float) * (nl * Bl + 1)), *pred = malloc(sizeof(float) * (nl * B + 1));
    float *v = calloc((size_t)n, sizeof(float)), *vl = malloc(sizeof(float) * (nl + 1));
    float *sig = malloc(sizeof(float) * (p->steps + 1)), *tf = malloc(sizeof(float) * (Bl * nb + 1));
    vg_dit_acts *acts = NULL;
    vg_dist_attn *da = NULL;
    vg_solver *sol = NULL;
    if (!xin || !pred || !v || !vl || !sig || !tf) st = vg_fail(VG_ERR_OOM, "out of memory for a %lldx%lldx%lld clip", (long long)W, (long long)H, (long long)F);
    if (!st && nb > 0) st = vg_dit_acts_new(&acts, c, Bl, nb, H, W, false);
    if (!st && sp.gsize > 1 && nb > 0 && !(st = vg_dist_attn_new(&da, &sp, (H / c->patch[1]) * (W / c->patch[2]), c->dim, c->heads, window)))
        vg_dit_acts_set_sa(acts, vg_dist_attn_run, da);
    if (!st) vg_schedule_wan(sig, NULL, p->steps, p->flow_shift);
    if (!st) st = vg_solver_new(&sol, p->sampler, sig, p->steps, n);
    if (sp.P > 1 && vg_dist_max_i64(st != VG_OK)) { /* every rank starts, or none */
        if (!st) st = vg_fail(VG_ERR_OOM, "another rank could not start this clip");
        goto out;
    }
    if (st) goto out;
    if (nk > F) nk = F;
    for (int i = 0; i < p->steps; i++) {
        double s = sig[i];
        for (int64_t ch = 0; ch < C && known; ch++)
            for (int64_t f = 0; f < nk; f++)
                for (int64_t k = 0; k < HW; k++) {
                    float kv = known[(ch * nk + f) * HW + k];
                    x[(ch * F + f) * HW + k] = clean ? kv : (float)((1 - s) * kv + s * vg_philox_normal(p->seed, (uint64_t)f, (uint64_t)(ch * HW + k)));
                }
        if (nb > 0) {
            for (int b = 0; b < Bl; b++) {
                frames_get(xin + b * nl, x, C, F, HW, f0, nb);
                for (int64_t f = 0; f < nb; f++) tf[b * nb + f] = (known && clean && f0 + f < nk) ? 0.0f : (float)(1000.0 * s);
            }
            if ((st = vg_dit_forward_tf(&m->dit, acts, pred + b0 * nl, xin, tf, ctx + b0 * T * Dt, Bl, nb, H, W, window, f0, NULL)))
                goto out;
            /* to velocity, then guidance: v = v_u + g (v_c - v_u) */
            for (int b = b0; b < b0 + Bl; b++)
                if (c->predict_x0) {
                    float inv = (float)(1.0 / (s > 1e-4 ? s : 1e-4));
                    float *pb = pred + b * nl;
                    for (int64_t j = 0; j < nl; j++) pb[j] = (xin[j] - pb[j]) * inv;
                }
            if (sp.groups == 2 && (st = vg_dist_split_swap(&sp, pred + b0 * nl, pred + (1 - b0) * nl, nl))) goto out;
            if (B == 2)
                for (int64_t j = 0; j < nl; j++) vl[j] = pred[nl + j] + p->cfg_scale * (pred[j] - pred[nl + j]);
            else
                memcpy(vl, pred, sizeof(float) * nl);
            frames_put(v, vl, C, F, HW, f0, nb);
        }
        vg_solver_step(sol, i, x, v);
        if (progress) progress(pctx, pass * p->steps + i + 1, npass * p->steps, now_s() - t1);
    }
    if (sp.P > 1 && (st = vg_dist_split_allgather(&sp, x, C, HW))) goto out;
    if (known) frames_put(x, known, C, F, HW, 0, nk); /* the known frames come out exactly as given */
out:
    vg_solver_free(sol);
    vg_dist_attn_free(da);
    vg_dit_acts_free(acts);
    free(xin); free(pred); free(v); free(vl); free(sig); free(tf);
    return st;
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
    if (p->chunk > 0 && (p->chunk_overlap < 1 || p->chunk_overlap >= p->chunk))
        return vg_fail(VG_ERR_ARG, "chunk overlap %d must be 1..%d (chunks of %d frames)", p->chunk_overlap, p->chunk - 1, p->chunk);
    vg_status st = VG_OK;
    float *ctx = calloc((size_t)(B * T * Dt), sizeof(float)), *x = malloc(sizeof(float) * n), *known = NULL;
    int64_t nk = 0;
    const bool split = p->dist > 0 && vg_dist_size() > 1;
    if (!ctx || !x) st = vg_fail(VG_ERR_OOM, "out of memory for a %lldx%lldx%lld clip", (long long)W, (long long)H, (long long)F);
    if (!st && (!split || vg_dist_rank() == 0)) { /* split: the text encoder on rank 0, its output broadcast */
        if (!(st = vg_model_encode_text(m, p->prompt, ctx, unknown)) && B == 2)
            st = vg_model_encode_text(m, p->negative_prompt ? p->negative_prompt : "", ctx + T * Dt, NULL);
    }
    if (split && vg_dist_max_i64(st != VG_OK) && !st) st = vg_fail(VG_ERR_ARG, "another rank could not start this clip");
    if (!st && split) st = vg_dist_bcast(ctx, sizeof(float) * (size_t)(B * T * Dt), 0);
    if (st) goto out;
    double t1 = now_s();
    vg_clip_noise(x, C, F, H, W, p->seed);
    const bool anchor = p->anchor && F > 1 && !(p->init_frames && p->n_init > 0);
    if (p->init_frames && p->n_init > 0) { /* known first frames: [-1,1] */
        nk = p->n_init < F ? p->n_init : F;
        known = malloc(sizeof(float) * C * nk * H * W);
        if (!known) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
        for (int64_t f = 0; f < nk; f++)
            for (int64_t i = 0; i < H * W; i++)
                for (int64_t ch = 0; ch < C; ch++)
                    known[(ch * nk + f) * H * W + i] = p->init_frames[(f * H * W + i) * 3 + ch] / 127.5f - 1.0f;
    }
    /* sampling passes, for the progress line: the anchor image, then the clip or its chunks */
    int npass = anchor ? 2 : 1;
    if (p->chunk > 0 && p->chunk < F && (nk > 0 || anchor)) {
        npass = anchor ? 1 : 0;
        const int64_t ov = p->chunk_overlap;
        for (int64_t done = anchor ? 1 : nk, s; done < F; npass++) done = chunk_after(done, ov, p->chunk, F, &s);
    }
    if (anchor) { /* the first frame alone, as an image (its own noise: frame 0 of the clip's) */
        nk = 1;
        known = malloc(sizeof(float) * C * H * W);
        if (!known) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
        vg_clip_noise(known, C, 1, H, W, p->seed);
        if ((st = denoise(m, p, ctx, B, known, 1, 0, NULL, 0, false, 0, npass, progress, pctx, t1))) goto out;
    }
    if (p->chunk > 0 && p->chunk < F && nk > 0) {
        /* in chunks of `chunk` frames, each continuing the last `overlap` frames made so far:
         * every chunk is a clip of the training kind (known first frames, then new ones) */
        const int64_t ov = p->chunk_overlap, HW = H * W;
        frames_put(x, known, C, F, HW, 0, nk);
        int pass = anchor ? 1 : 0;
        float *xc = malloc(sizeof(float) * C * p->chunk * HW), *kc = malloc(sizeof(float) * C * p->chunk * HW);
        if (!xc || !kc) { free(xc); free(kc); st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
        for (int64_t done = nk; done < F && !st; pass++) {
            int64_t s, e = chunk_after(done, ov, p->chunk, F, &s), k = done - s;
            frames_get(kc, x, C, F, HW, s, k);
            frames_get(xc, x, C, F, HW, s, e - s); /* the known frames, then the new frames' noise */
            st = denoise(m, p, ctx, B, xc, e - s, p->window, kc, k, m->known_frames, pass, npass, progress, pctx, t1);
            if (!st) frames_put(x, xc, C, F, HW, s, e - s);
            done = e;
        }
        free(xc); free(kc);
        if (st) goto out;
    } else if ((st = denoise(m, p, ctx, B, x, F, p->window, known, nk, m->known_frames, anchor ? 1 : 0, npass,
                             progress, pctx, t1))) goto out;
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
    free(ctx); free(x); free(known);
    return st;
}
