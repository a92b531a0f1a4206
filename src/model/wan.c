/* wan.c - the Wan2.1-T2V pipeline (wan/text2video.py WanT2V.generate: tokenizer -> umT5 ->
 * DiT with CFG under UniPC/Euler -> VAE decode), its size checks and memory estimate.
 * Spec: shared/WAN.md 4.2-4.6. Legend: F video frames, H W pixels, T latent frames, h w latent
 * size, Z = 16 latent channels, D DiT dim, Dt text dim, N real prompt tokens, L = text_len (512). */
#include "model/wan_internal.h"
#include "vidgen/dist.h"
#include "vidgen/gemm.h"
#include "vidgen/lora.h"
#include "vidgen/taehv.h"

/* frames [f0, f0+n) of a [Z][T][hw] latent to / from a [Z][n][hw] block (a clip split over ranks) */
static void block_io(float *lat, float *blk, int64_t Z, int64_t T, int64_t hw, int64_t f0, int64_t n, bool get) {
    for (int64_t c = 0; c < Z; c++) {
        float *a = lat + (c * T + f0) * hw, *b = blk + c * n * hw;
        memcpy(get ? b : a, get ? a : b, sizeof(float) * (size_t)(n * hw));
    }
}

/* ================================================================ pipeline */

const char vg_wan_default_negative_prompt[] =
    "\xe8\x89\xb2\xe8\xb0\x83\xe8\x89\xb3\xe4\xb8\xbd\xef\xbc\x8c\xe8\xbf\x87\xe6\x9b\x9d\xef\xbc\x8c\xe9\x9d\x99\xe6\x80\x81"
    "\xef\xbc\x8c\xe7\xbb\x86\xe8\x8a\x82\xe6\xa8\xa1\xe7\xb3\x8a\xe4\xb8\x8d\xe6\xb8\x85\xef\xbc\x8c\xe5\xad\x97\xe5\xb9\x95"
    "\xef\xbc\x8c\xe9\xa3\x8e\xe6\xa0\xbc\xef\xbc\x8c\xe4\xbd\x9c\xe5\x93\x81\xef\xbc\x8c\xe7\x94\xbb\xe4\xbd\x9c\xef\xbc\x8c"
    "\xe7\x94\xbb\xe9\x9d\xa2\xef\xbc\x8c\xe9\x9d\x99\xe6\xad\xa2\xef\xbc\x8c\xe6\x95\xb4\xe4\xbd\x93\xe5\x8f\x91\xe7\x81\xb0"
    "\xef\xbc\x8c\xe6\x9c\x80\xe5\xb7\xae\xe8\xb4\xa8\xe9\x87\x8f\xef\xbc\x8c\xe4\xbd\x8e\xe8\xb4\xa8\xe9\x87\x8f\xef\xbc\x8c"
    "JPEG\xe5\x8e\x8b\xe7\xbc\xa9\xe6\xae\x8b\xe7\x95\x99\xef\xbc\x8c\xe4\xb8\x91\xe9\x99\x8b\xe7\x9a\x84\xef\xbc\x8c\xe6\xae\x8b"
    "\xe7\xbc\xba\xe7\x9a\x84\xef\xbc\x8c\xe5\xa4\x9a\xe4\xbd\x99\xe7\x9a\x84\xe6\x89\x8b\xe6\x8c\x87\xef\xbc\x8c\xe7\x94\xbb"
    "\xe5\xbe\x97\xe4\xb8\x8d\xe5\xa5\xbd\xe7\x9a\x84\xe6\x89\x8b\xe9\x83\xa8\xef\xbc\x8c\xe7\x94\xbb\xe5\xbe\x97\xe4\xb8\x8d"
    "\xe5\xa5\xbd\xe7\x9a\x84\xe8\x84\xb8\xe9\x83\xa8\xef\xbc\x8c\xe7\x95\xb8\xe5\xbd\xa2\xe7\x9a\x84\xef\xbc\x8c\xe6\xaf\x81"
    "\xe5\xae\xb9\xe7\x9a\x84\xef\xbc\x8c\xe5\xbd\xa2\xe6\x80\x81\xe7\x95\xb8\xe5\xbd\xa2\xe7\x9a\x84\xe8\x82\xa2\xe4\xbd\x93"
    "\xef\xbc\x8c\xe6\x89\x8b\xe6\x8c\x87\xe8\x9e\x8d\xe5\x90\x88\xef\xbc\x8c\xe9\x9d\x99\xe6\xad\xa2\xe4\xb8\x8d\xe5\x8a\xa8"
    "\xe7\x9a\x84\xe7\x94\xbb\xe9\x9d\xa2\xef\xbc\x8c\xe6\x9d\x82\xe4\xb9\xb1\xe7\x9a\x84\xe8\x83\x8c\xe6\x99\xaf\xef\xbc\x8c"
    "\xe4\xb8\x89\xe6\x9d\xa1\xe8\x85\xbf\xef\xbc\x8c\xe8\x83\x8c\xe6\x99\xaf\xe4\xba\xba\xe5\xbe\x88\xe5\xa4\x9a\xef\xbc\x8c"
    "\xe5\x80\x92\xe7\x9d\x80\xe8\xb5\xb0";

void vg_wan_params_default(vg_wan_params *p) {
    *p = (vg_wan_params){.prompt = NULL, .negative_prompt = NULL, .frames = 81, .width = 832, .height = 480, .steps = 50,
                         .cfg_scale = 5.0f, .flow_shift = 5.0f, .seed = 0, .sampler = VG_SAMPLER_UNIPC, .window = -1,
                         .weight_type = -1};
}

vg_status vg_wan_check_size(const vg_wan_params *p) {
    if (p->frames < 1 || (p->frames - 1) % 4) {
        int lo = p->frames < 1 ? 1 : (p->frames - 1) / 4 * 4 + 1, hi = lo + 4;
        return vg_fail(VG_ERR_ARG, "--frames %d: Wan needs 4n+1 frames (the VAE packs 4 frames per latent after the "
                       "first); nearest: %d or %d", p->frames, lo, hi);
    }
    const char *names[2] = {"--width", "--height"};
    int v[2] = {p->width, p->height};
    for (int i = 0; i < 2; i++)
        if (v[i] < 16 || v[i] % 16) {
            int lo = v[i] / 16 * 16, hi = lo + 16;
            if (lo < 16) return vg_fail(VG_ERR_ARG, "%s %d: Wan needs a multiple of 16 (VAE x8 times patch x2); nearest: 16", names[i], v[i]);
            return vg_fail(VG_ERR_ARG, "%s %d: Wan needs a multiple of 16 (VAE x8 times patch x2); nearest: %d or %d",
                           names[i], v[i], lo, hi);
        }
    return VG_OK;
}

vg_status vg_wan_estimate(vg_wan_mem *m, const vg_wan_paths *paths, const vg_wan_params *p) {
    memset(m, 0, sizeof(*m));
    vg_wan_files *fd = NULL;
    vg_wan_vae *vae = NULL;
    vg_status st;
    vg_dit_config dc;
    vg_wan_names nm;
    char prefix[128];
    if ((st = vg_wan_check_size(p))) return st;
    /* the streamed encoder: about one block at a time (wan_text.c) */
    if ((st = vg_wan_text_bytes_(&m->text, paths->t5, p->weight_type, 512))) goto out;
    if ((st = vg_wan_files_open(&fd, paths->dit)) || (st = vg_wan_dit_detect(&dc, &nm, prefix, sizeof(prefix), fd))) goto out;
    int64_t T = (p->frames - 1) / 4 + 1, h = p->height / 8, w = p->width / 8, n = 16 * T * h * w;
    m->dit_weights = p->weight_type >= 0 ? vg_wan_dit_bytes_as_(fd, p->weight_type) : vg_wan_files_bytes(fd);
    /* LoRAs: merged weights are owned copies beside the mapping; at most every matrix once */
    if (p->n_loras > 0) m->dit_weights += vg_wan_files_bytes(fd);
    m->dit_acts = vg_dit_acts_bytes(&dc, 1, T, h, w, false);
    /* latents: x, v_cond, v_uncond, v, solver history (4n), contexts 2 x L x Dt */
    m->dit = m->dit_weights + m->dit_acts + 4 * (8 * n) + 4 * 2 * (int64_t)dc.text_len * dc.text_dim;
    vg_wan_files_close(fd); fd = NULL;
    int64_t F, H, W;
    if (paths->tae) { /* TAEHV decode instead of the VAE (--tae): f32 weights + fixed-size working memory */
        if ((st = vg_taehv_estimate_file(paths->tae, T, h, w, p->frames, p->height, p->width, &m->vae))) goto out;
        m->vae += 4 * n;
        if (p->preview_every > 0) m->dit += m->vae; /* previews decode while the DiT is loaded */
    } else {
        if ((st = vg_wan_vae_open(&vae, paths->vae, NULL))) goto out;
        vg_wan_vae_video_dims(vae, T, h, w, &F, &H, &W);
        m->vae = file_size(paths->vae) + (int64_t)vg_wan_vae_decode_bytes(vae, T, h, w) + 4 * (3 * F * H * W + n);
    }
    m->frames = (int64_t)p->frames * p->width * p->height * 3;
    int64_t mx = m->text > m->dit ? m->text : m->dit;
    m->peak = (mx > m->vae ? mx : m->vae) + m->frames;
out:
    vg_wan_files_close(fd);
    vg_wan_vae_free(vae);
    return st;
}

static void say(const vg_wan_hooks *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const vg_wan_hooks *h, const char *fmt, ...) {
    if (!h || !h->message) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    h->message(h->ctx, buf);
}

static void prog(const vg_wan_hooks *h, const char *stage, int i, int n, double el) {
    if (h && h->progress) h->progress(h->ctx, stage, i, n, el);
}

vg_status vg_wan_generate(const vg_wan_paths *paths, const vg_wan_params *p, uint8_t *out, const vg_wan_hooks *hooks,
                          vg_wan_stats *stats) {
    vg_status st;
    if ((st = vg_wan_check_size(p))) return st;
    if (!p->prompt || p->steps < 1) return vg_fail(VG_ERR_ARG, "a prompt and at least one step are needed");
    const int64_t T = (p->frames - 1) / 4 + 1, h = p->height / 8, w = p->width / 8, Z = 16, n = Z * T * h * w;
    const bool cfg_on = p->cfg_scale != 1.0f;
    double t0 = now_s(), t1, t2, t3;
    vg_wan_stats s = {0};
    vg_wan_files *fd = NULL;
    vg_dit dit = {0};
    vg_dit_acts *acts = NULL;
    vg_solver *sol = NULL;
    vg_wan_vae *vae = NULL;
    float *ctx = NULL, *x = NULL, *vc = NULL, *vu = NULL, *sig = NULL, *video = NULL, *xl = NULL, *vcl = NULL;
    vg_dist_attn *da = NULL;
    int64_t *ts = NULL;
    bool bf16_was = false, bf16_set = false; /* p->bf16: the precision mode during the DiT forwards */
    vg_dit_config dc;
    vg_wan_names names;
    char prefix[128], extra[512];

    /* 1. DiT header first: its text_len and text_dim decide the context size */
    if ((st = vg_wan_files_open(&fd, paths->dit)) || (st = vg_wan_dit_detect(&dc, &names, prefix, sizeof(prefix), fd))) goto out;
    vg_wan_files_close(fd); fd = NULL;
    if (dc.in_dim != Z || dc.out_dim != Z) { st = vg_fail(VG_ERR_UNSUPPORTED, "%s: a DiT with %d/%d latent channels (Wan2.1 T2V has 16)", paths->dit, dc.in_dim, dc.out_dim); goto out; }
    const int64_t L = dc.text_len, Dt = dc.text_dim;
    ctx = calloc((size_t)(2 * L * Dt), sizeof(float));
    if (!ctx) { st = vg_fail(VG_ERR_OOM, "out of memory for the text contexts"); goto out; }

    /* 2. text: tokenizer, umT5 on the real tokens of prompt and negative prompt, then release
     * (split over ranks: on rank 0 alone, the contexts broadcast) */
    const bool split = p->dist > 0 && vg_dist_size() > 1;
    if (split && p->preview_every > 0) { st = vg_fail(VG_ERR_ARG, "--preview runs on one process, not with the clip split over ranks"); goto out; }
    if (!split || vg_dist_rank() == 0) {
        prog(hooks, "text", 0, 1, 0);
        const char *neg = !cfg_on ? NULL : p->negative_prompt ? p->negative_prompt : vg_wan_default_negative_prompt;
        if ((st = vg_wan_encode_text_(ctx, L, Dt, paths, p->prompt, neg, p->weight_type, &s.n_tok, &s.n_tok_neg))) goto out;
        prog(hooks, "text", 1, 1, now_s() - t0);
    }
    if (split && (st = vg_dist_bcast(ctx, sizeof(float) * (size_t)(2 * L * Dt), 0))) goto out;
    if (split && (st = vg_dist_bcast(&s.n_tok, sizeof(s.n_tok) * 2, 0))) goto out;
    t1 = now_s();
    s.text_s = t1 - t0;

    /* 3. DiT */
    if ((st = vg_wan_files_open(&fd, paths->dit)) || (st = vg_wan_dit_load_as(&dit, &dc, fd, names, prefix, p->weight_type))) goto out;
    int64_t n_extra = vg_wan_files_unused(fd, extra, sizeof(extra));
    if (n_extra) say(hooks, "%s: %lld unexpected tensor%s ignored: %s%s", paths->dit, (long long)n_extra, n_extra > 1 ? "s" : "", extra, n_extra > 8 ? ", ..." : "");
    for (int i = 0; i < p->n_loras; i++) {
        char lp[4096];
        float sc;
        vg_lora_report rep;
        if (!vg_lora_parse_spec(p->loras[i], lp, sizeof(lp), &sc)) { st = vg_fail(VG_ERR_ARG, "--lora '%s': expected FILE[:SCALE]", p->loras[i]); goto out; }
        if ((st = vg_lora_apply(&dit, lp, sc, &rep))) goto out;
        if (rep.unmatched)
            say(hooks, "%s: %d LoRA key%s this model lacks, ignored: %s%s", lp, rep.unmatched, rep.unmatched > 1 ? "s" : "",
                rep.unmatched_names, rep.unmatched > 8 ? ", ..." : "");
    }
    /* this rank's latent frames [f0, f0+nb) and branches (the whole clip on one process) */
    vg_dist_split sp;
    vg_dist_split_plan(&sp, T, cfg_on && p->dist == 2, split);
    const int64_t f0 = sp.f0, nb = sp.f1 - sp.f0, nl = Z * nb * h * w;
    const bool run_c = sp.groups == 1 || sp.branch == 0, run_u = cfg_on && (sp.groups == 1 || sp.branch == 1);
    if (nb > 0 && (st = vg_dit_acts_new(&acts, &dc, 1, nb, h, w, false))) goto out;
    if (nb > 0 && sp.gsize > 1) {
        if ((st = vg_dist_attn_new(&da, &sp, (h / dc.patch[1]) * (w / dc.patch[2]), dc.dim, dc.heads, p->window))) goto out;
        vg_dit_acts_set_sa(acts, vg_dist_attn_run, da);
    }
    x = malloc(sizeof(float) * n); vc = calloc((size_t)n, sizeof(float));
    xl = malloc(sizeof(float) * (nl + 1)); vcl = malloc(sizeof(float) * (nl + 1)); vu = malloc(sizeof(float) * (nl + 1));
    if (!xl || !vcl) { st = vg_fail(VG_ERR_OOM, "out of memory for the latents"); goto out; }
    sig = malloc(sizeof(float) * (size_t)(p->steps + 1)); ts = malloc(sizeof(int64_t) * (size_t)p->steps);
    if (!x || !vc || !vu || !sig || !ts) { st = vg_fail(VG_ERR_OOM, "out of memory for the latents"); goto out; }
    vg_schedule_wan(sig, ts, p->steps, p->flow_shift);
    /* a given schedule, and the DMD sampler, feed the model the float 1000 sigma (as the distilled
     * models' samplers do); Wan's own schedule feeds the integer timestep of the official table */
    const bool float_t = p->sigmas || p->sampler == VG_SAMPLER_DMD;
    if (p->sigmas) memcpy(sig, p->sigmas, sizeof(float) * (size_t)(p->steps + 1));
    if ((st = vg_solver_new(&sol, p->sampler, sig, p->steps, n))) goto out;
    vg_solver_set_seed(sol, p->seed);
    vg_clip_noise(x, Z, T, h, w, p->seed); /* Philox, per latent frame (not the official CUDA stream) */
    s.load_s = now_s() - t1;
    t2 = now_s();
    bf16_was = vg_gemm_bf16(p->bf16);
    bf16_set = true;
    for (int i = 0; i < p->steps; i++) {
        double ts0 = now_s();
        float tt = float_t ? (float)(1000.0 * sig[i]) : (float)ts[i];
        if (nb > 0) {
            block_io(x, xl, Z, T, h * w, f0, nb, true);
            if (run_c && (st = vg_dit_forward(&dit, acts, vcl, xl, &tt, ctx, 1, nb, h, w, p->window, f0, NULL))) goto out;
            if (run_u && (st = vg_dit_forward(&dit, acts, vu, xl, &tt, ctx + L * Dt, 1, nb, h, w, p->window, f0, NULL))) goto out;
            if (sp.groups == 2 && (st = vg_dist_split_swap(&sp, run_c ? vcl : vu, run_c ? vu : vcl, nl))) goto out;
            if (cfg_on) {
                const float g = p->cfg_scale;
                #pragma omp parallel for schedule(static)
                for (int64_t j = 0; j < nl; j++) vcl[j] = vu[j] + g * (vcl[j] - vu[j]);
            }
            block_io(vc, vcl, Z, T, h * w, f0, nb, false); /* other ranks' frames keep v = 0 */
        }
        /* --preview: TAEHV on the x0 prediction x - sigma v (vu is free here); the caller's frame
         * buffer holds the preview until the final decode overwrites it */
        if (!split && p->preview_every > 0 && paths->tae && hooks && hooks->preview && (i + 1) % p->preview_every == 0 && i + 1 < p->steps) {
            const double sg = sig[i];
            #pragma omp parallel for schedule(static)
            for (int64_t j = 0; j < n; j++) vu[j] = (float)(x[j] - sg * (double)vc[j]); /* in double, as the dmd step */
            vg_gemm_bf16(bf16_was); /* --bf16 is for the DiT: the preview decodes as the final one does */
            st = vg_taehv_decode_file_u8(paths->tae, out, vu, T, h, w, p->frames, p->height, p->width);
            vg_gemm_bf16(p->bf16);
            if (st ||
                (st = hooks->preview(hooks->ctx, i + 1, p->steps, out, p->frames, p->height, p->width)))
                goto out;
        }
        vg_solver_step(sol, i, x, vc);
        double dt = now_s() - ts0;
        if (i == 0) s.step_s_first = dt;
        prog(hooks, "denoise", i + 1, p->steps, now_s() - t2);
    }
    if (split && (st = vg_dist_split_allgather(&sp, x, Z, h * w))) goto out;
    s.step_s_mean = (now_s() - t2) / p->steps;
    vg_dist_attn_free(da); da = NULL;
    vg_gemm_bf16(bf16_was);
    bf16_set = false;
    vg_dit_acts_free(acts); acts = NULL;
    vg_dit_free(&dit);
    vg_wan_files_close(fd); fd = NULL;
    free(vc); vc = NULL; free(vu); vu = NULL;
    t3 = now_s();
    s.denoise_s = t3 - t2;
    if (split && vg_dist_rank() != 0) { /* the decode and the frames are rank 0's */
        if (stats) *stats = s;
        goto out;
    }

    /* 4. VAE decode (chunked, one latent frame at a time) */
    prog(hooks, "decode", 0, 1, 0);
    /* --tae: TAEHV decodes the DiT's latents as they are (no VAE mean/std, taehv README) */
    if (paths->tae) {
        if ((st = vg_taehv_decode_file_u8(paths->tae, out, x, T, h, w, p->frames, p->height, p->width))) goto out;
        goto decoded;
    }
    if ((st = vg_wan_vae_open(&vae, paths->vae, NULL))) goto out;
    int64_t F, H, W;
    vg_wan_vae_video_dims(vae, T, h, w, &F, &H, &W);
    if (F != p->frames || H != p->height || W != p->width) {
        st = vg_fail(VG_ERR_UNSUPPORTED, "%s: this VAE decodes %lldx%lld latents to %lldx%lldx%lld, not %dx%dx%d", paths->vae,
                     (long long)h, (long long)w, (long long)W, (long long)H, (long long)F, p->width, p->height, p->frames);
        goto out;
    }
    if (!(video = malloc(sizeof(float) * (size_t)(3 * F * H * W)))) { st = vg_fail(VG_ERR_OOM, "out of memory for the video"); goto out; }
    if ((st = vg_wan_vae_decode(vae, video, x, T, h, w))) goto out;
    /* [-1,1] -> uint8 as torchvision's make_grid(normalize) then *255 and truncation (WAN.md 4.6) */
    #pragma omp parallel for schedule(static)
    for (int64_t f = 0; f < F; f++)
        for (int64_t i = 0; i < H * W; i++)
            for (int c = 0; c < 3; c++) {
                float u = video[(c * F + f) * H * W + i];
                u = u < -1 ? -1 : u > 1 ? 1 : u;
                float v = (u + 1.0f) * 0.5f * 255.0f;
                out[(f * H * W + i) * 3 + c] = (uint8_t)(v > 255 ? 255 : v);
            }
decoded:
    prog(hooks, "decode", 1, 1, now_s() - t3);
    s.decode_s = now_s() - t3;
    s.total_s = now_s() - t0;
    if (stats) *stats = s;
out:
    if (bf16_set) vg_gemm_bf16(bf16_was);
    vg_wan_vae_free(vae);
    vg_solver_free(sol);
    vg_dit_acts_free(acts);
    vg_dit_free(&dit);
    vg_wan_files_close(fd);
    vg_dist_attn_free(da);
    free(ctx); free(x); free(vc); free(vu); free(sig); free(ts); free(video); free(xl); free(vcl);
    return st;
}

