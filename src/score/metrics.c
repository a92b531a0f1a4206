/* metrics.c - the clip metrics of `vidgen score`; every one gives a raw value and a 0..1 score.
 * VBench formulas mirrored: temporal_flickering.py (cal_score), cli/static_filter.py (top 2% flow,
 * thres 3*min(H,W)/256, count round(2F/16)), dynamic_degree.py (top 5% flow, thres
 * max(1,8/fps)*6*min(H,W)/256, count round(4F/16)), background_consistency.py (the cosine
 * formula), with our own flow (flow.c) in place of RAFT. Warping error after Lai et al. 2018.
 * clip [F][H][W][3] uint8; flows [P][H][W][2]; F frames, P frame pairs, H W height width. */
#include <math.h>
#include <string.h>
#include "vidgen/score.h"
#ifdef _OPENMP
#include <omp.h>
#endif

void vg_score_opts_default(vg_score_opts *o) {
    o->fps = 8.0;
    o->seam_at = 0;
    vg_flow_opts_default(&o->flow);
}

int vg_round_half_even(double x) { return (int)nearbyint(x); }

double vg_score_flicker_mae(const uint8_t *clip, int64_t f, int64_t h, int64_t w) {
    int64_t n = h * w * 3;
    if (f < 2) return 0;
    double s = 0;
    for (int64_t t = 0; t + 1 < f; t++) {
        const uint8_t *a = clip + t * n, *b = a + n;
        int64_t acc = 0;
        for (int64_t i = 0; i < n; i++) acc += a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
        s += (double)acc / (double)n;
    }
    return s / (double)(f - 1);
}

static void frame_luma(double *y, const uint8_t *clip, int64_t f, int64_t hw) {
    for (int64_t t = 0; t < f; t++) {
        const uint8_t *p = clip + t * hw * 3;
        double s = 0;
        for (int64_t i = 0; i < hw; i++) s += 0.299 * p[3 * i] + 0.587 * p[3 * i + 1] + 0.114 * p[3 * i + 2];
        y[t] = s / (double)hw;
    }
}

double vg_score_light_d2(const uint8_t *clip, int64_t f, int64_t h, int64_t w) {
    if (f < 3) return 0;
    double *y = malloc((size_t)f * sizeof(double)), s = 0;
    if (!y) return NAN;
    frame_luma(y, clip, f, h * w);
    for (int64_t t = 1; t + 1 < f; t++) {
        double d = y[t + 1] - 2 * y[t] + y[t - 1];
        s += d * d;
    }
    free(y);
    return sqrt(s / (double)(f - 2));
}

static double cosine(const float *a, const float *b, int64_t d) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < d; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
    if (aa <= 0 || bb <= 0) return aa == bb ? 1.0 : 0.0;
    return ab / sqrt(aa * bb);
}

double vg_score_consistency(const float *feat, int64_t f, int64_t d) {
    if (f < 2) return 1.0;
    double s = 0;
    for (int64_t t = 1; t < f; t++) {
        double pre = fmax(0.0, cosine(feat + (t - 1) * d, feat + t * d, d));
        double fir = fmax(0.0, cosine(feat, feat + t * d, d));
        s += 0.5 * (pre + fir);
    }
    return s / (double)(f - 1);
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Mean of the top frac of flow magnitudes (VBench get_score). mag: hw floats scratch. */
static double top_mag(const float *flow, int64_t hw, double frac, float *mag) {
    for (int64_t i = 0; i < hw; i++) mag[i] = hypotf(flow[2 * i], flow[2 * i + 1]);
    qsort(mag, (size_t)hw, sizeof(float), cmp_desc);
    int64_t cut = (int64_t)((double)hw * frac);
    if (cut < 1) cut = 1;
    double s = 0;
    for (int64_t i = 0; i < cut; i++) s += mag[i];
    return s / (double)cut;
}

static void dilate(uint8_t *out, const uint8_t *in, int64_t h, int64_t w) {
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            uint8_t v = 0;
            for (int64_t yy = y > 0 ? y - 1 : 0; yy <= (y + 1 < h ? y + 1 : y) && !v; yy++)
                for (int64_t xx = x > 0 ? x - 1 : 0; xx <= (x + 1 < w ? x + 1 : x); xx++)
                    if (in[yy * w + xx]) { v = 1; break; }
            out[y * w + x] = v;
        }
}

/* Mean |(a - mean a) - (b - mean b)| over pixels where both bg masks hold, per channel. -1 if none. */
static double bg_diff(const uint8_t *a, const uint8_t *b, const uint8_t *ma, const uint8_t *mb, int64_t hw) {
    double sa[3] = {0, 0, 0}, sb[3] = {0, 0, 0};
    int64_t n = 0;
    for (int64_t i = 0; i < hw; i++)
        if (ma[i] && mb[i]) { for (int k = 0; k < 3; k++) { sa[k] += a[3 * i + k]; sb[k] += b[3 * i + k]; } n++; }
    if (!n) return -1;
    for (int k = 0; k < 3; k++) { sa[k] /= (double)n; sb[k] /= (double)n; }
    double s = 0;
    for (int64_t i = 0; i < hw; i++)
        if (ma[i] && mb[i])
            for (int k = 0; k < 3; k++) s += fabs((a[3 * i + k] - sa[k]) - (b[3 * i + k] - sb[k]));
    return s / (double)(3 * n);
}

/* Soft 8x8x8 RGB histogram of the masked pixels (linear interpolation between bin centres). */
static void bg_hist(float *hist, const uint8_t *img, const uint8_t *m, int64_t hw) {
    memset(hist, 0, 512 * sizeof(float));
    for (int64_t i = 0; i < hw; i++) {
        if (!m[i]) continue;
        int b0[3];
        float wt[3];
        for (int k = 0; k < 3; k++) {
            float p = img[3 * i + k] / 32.0f - 0.5f; /* bin centres at 16, 48, ... */
            if (p < 0) p = 0;
            if (p > 7) p = 7;
            b0[k] = (int)p < 7 ? (int)p : 6;
            wt[k] = p - (float)b0[k];
        }
        for (int c = 0; c < 8; c++) {
            float wgt = 1;
            int idx = 0;
            for (int k = 0; k < 3; k++) {
                int hi = c >> k & 1;
                wgt *= hi ? wt[k] : 1 - wt[k];
                idx = idx * 8 + b0[k] + hi;
            }
            hist[idx] += wgt;
        }
    }
}

typedef struct { int64_t a, b; float *out; } flow_job;

static int cmp_asc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 90th percentile of v[0..n) without v[skip] (linear interpolation; n >= 2); *mx the maximum.
 * tmp: n scratch values. */
static double p90_without(const double *v, int64_t n, int64_t skip, double *tmp, double *mx) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (i != skip) tmp[m++] = v[i];
    qsort(tmp, (size_t)m, sizeof(double), cmp_asc);
    *mx = tmp[m - 1];
    double x = 0.9 * (double)(m - 1);
    int64_t i = (int64_t)x;
    return i + 1 < m ? tmp[i] + (x - (double)i) * (tmp[i + 1] - tmp[i]) : tmp[i];
}

/* The join at-1 -> at against the clip's other pairs (pair: [P] mean |dI|, [P] RMS warp). */
static void seam(vg_score_report *r, const double *pair, int64_t P, int64_t at, const vg_tracks *tr, double *tmp) {
    double pmax, wmax;
    r->seam_at = at;
    r->seam_pix = pair[at - 1];
    r->seam_warp = pair[P + at - 1];
    r->seam_pix_p90 = p90_without(pair, P, at - 1, tmp, &pmax);
    r->seam_warp_p90 = p90_without(pair + P, P, at - 1, tmp, &wmax);
    r->seam_pix_ratio = r->seam_pix / fmax(r->seam_pix_p90, 0.5);
    r->seam_warp_ratio = r->seam_warp / fmax(r->seam_warp_p90, 0.01);
    int cnt[VG_SCORE_MAX_EVENTS];
    int64_t fr[VG_SCORE_MAX_EVENTS];
    int nf = 0;
    for (int i = 0; i < tr->n_events; i++) {
        int64_t f = tr->events[i].frame;
        if (f == at) { r->seam_events++; continue; }
        int k = 0;
        while (k < nf && fr[k] != f) k++;
        if (k == nf) { fr[nf] = f; cnt[nf++] = 0; }
        if (++cnt[k] > r->seam_events_max_other) r->seam_events_max_other = cnt[k];
    }
    bool pix_jump = r->seam_pix_ratio > VG_SEAM_MAX_RATIO && r->seam_pix > pmax;
    (void)wmax; /* the warp ratio is reported, not decided on: on smooth textured clips it wanders by 1.3x */
    r->seam_ok = !pix_jump && r->seam_events <= r->seam_events_max_other;
}

vg_status vg_score_clip(vg_score_report *r, const uint8_t *clip, int64_t f, int64_t h, int64_t w,
                        const vg_score_opts *o) {
    memset(r, 0, sizeof(*r));
    vg_score_opts def;
    if (!o) { vg_score_opts_default(&def); o = &def; }
    if (f < 2 || h < 8 || w < 8 || h > 8192 || w > 8192)
        return vg_fail(VG_ERR_ARG, "score: clip of %lld frames %lldx%lld, expected >= 2 frames of 8x8..8192x8192",
                       (long long)f, (long long)h, (long long)w);
    if (!(o->fps > 0)) return vg_fail(VG_ERR_ARG, "score: fps %g, expected > 0", o->fps);
    if (o->seam_at < 0 || o->seam_at >= f || (o->seam_at > 0 && f < 3))
        return vg_fail(VG_ERR_ARG, "score: seam at frame %lld of a %lld-frame clip, expected 1..%lld (and >= 3 frames)",
                       (long long)o->seam_at, (long long)f, (long long)(f - 1));
    r->f = f; r->h = h; r->w = w;
    int64_t hw = h * w, P = f - 1, nint = (f - 1) / 2;
    int64_t njobs = 2 * P + 2 + nint;
    int nthr = 1;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    size_t sfl = vg_flow_scratch_floats(h, w);
    vg_status st = VG_OK;
    vg_tracks tr;
    memset(&tr, 0, sizeof(tr));
    float *gray = malloc((size_t)(f * hw) * sizeof(float));
    float *flows = malloc((size_t)(njobs * hw * 2) * sizeof(float));
    float *scratch = malloc((size_t)nthr * sfl * sizeof(float));
    flow_job *jobs = malloc((size_t)njobs * sizeof(flow_job));
    float *mag = malloc((size_t)hw * sizeof(float));
    float *fimg = malloc((size_t)(2 * hw * 3) * sizeof(float));
    uint8_t *valid = malloc((size_t)hw), *bgm = malloc((size_t)(f * hw));
    float *hist = malloc((size_t)f * 512 * sizeof(float));
    double *sc = malloc((size_t)(P + 2) * sizeof(double));
    double *pair = malloc((size_t)(3 * P) * sizeof(double)); /* per pair: mean |dI|, RMS warp error; scratch */
    if (!gray || !flows || !scratch || !jobs || !mag || !fimg || !valid || !bgm || !hist || !sc || !pair) {
        st = vg_fail(VG_ERR_OOM, "score: buffers for %lld frames of %lldx%lld", (long long)f, (long long)h, (long long)w);
        goto out;
    }
    vg_rgb_to_gray(gray, clip, f * hw);
    /* flow sees each frame with its mean removed and its contrast set to a std of 40 grey levels,
     * so that a global brightness flicker or fade is not mistaken for motion */
    for (int64_t t = 0; t < f; t++) {
        float *g = gray + t * hw;
        double m = 0, v = 0;
        for (int64_t i = 0; i < hw; i++) m += g[i];
        m /= (double)hw;
        for (int64_t i = 0; i < hw; i++) v += (g[i] - m) * (g[i] - m);
        double sd = sqrt(v / (double)hw), k = sd > 1.0 ? 40.0 / sd : 1.0;
        for (int64_t i = 0; i < hw; i++) g[i] = (float)((g[i] - m) * k);
    }

    /* ---- flows: forward t->t+1, backward t+1->t, first<->last, 2k->2k+2 ---- */
    int64_t nj = 0;
    for (int64_t t = 0; t < P; t++) jobs[nj++] = (flow_job){t, t + 1, NULL};
    for (int64_t t = 0; t < P; t++) jobs[nj++] = (flow_job){t + 1, t, NULL};
    jobs[nj++] = (flow_job){0, f - 1, NULL};
    jobs[nj++] = (flow_job){f - 1, 0, NULL};
    for (int64_t k = 0; k < nint; k++) jobs[nj++] = (flow_job){2 * k, 2 * k + 2, NULL};
    for (int64_t j = 0; j < nj; j++) jobs[j].out = flows + j * hw * 2;
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < nj; j++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        vg_flow_ws(jobs[j].out, gray + jobs[j].a * hw, gray + jobs[j].b * hw, h, w, &o->flow, scratch + (size_t)tid * sfl);
    }
    const float *fwd = flows, *bwd = flows + P * hw * 2, *fl_fl = flows + 2 * P * hw * 2, *fl_int = fl_fl + 2 * hw * 2;

    /* ---- temporal flickering (VBench) + static filter ---- */
    r->flicker_mae = vg_score_flicker_mae(clip, f, h, w);
    r->flicker_score = (255.0 - r->flicker_mae) / 255.0;
    {
        double thres = 3.0 * (double)(h < w ? h : w) / 256.0;
        int count_num = vg_round_half_even(2.0 * (double)f / 16.0), count = 0;
        bool stat = true;
        double s2 = 0;
        for (int64_t t = 0; t < P + 2; t++) {
            const float *fl = t < P ? fwd + t * hw * 2 : fl_fl + (t - P) * hw * 2;
            sc[t] = top_mag(fl, hw, 0.02, mag);
            s2 += sc[t];
        }
        for (int64_t t = 0; t < P && stat; t++) {
            if (sc[t] > thres) count++;
            if (count > count_num) stat = false;
        }
        for (int64_t t = P; t < P + 2 && stat; t++)
            if (sc[t] > thres * count_num * 2) stat = false;
        r->is_static = stat;
        r->static_top2 = s2 / (double)(P + 2);
    }

    /* ---- dynamic degree (VBench) ---- */
    {
        double factor = fmax(1.0, 8.0 / o->fps);
        r->dyn_thres = factor * 6.0 * (double)(h < w ? h : w) / 256.0;
        r->dyn_count_num = vg_round_half_even(4.0 * (double)f / 16.0);
        int count = 0;
        double s = 0;
        bool mv = false;
        for (int64_t t = 0; t < P; t++) {
            double m = top_mag(fwd + t * hw * 2, hw, 0.05, mag);
            s += m;
            if (m > r->dyn_thres) count++;
            if (count >= r->dyn_count_num) mv = true; /* VBench check_move: tested after each pair */
        }
        r->dynamic = mv;
        r->dyn_max_rad = s / (double)P;
        r->dyn_frac = (double)count / (double)P;
        r->dyn_score = mv ? 1.0 : 0.0;
    }

    /* ---- lighting flicker ---- */
    r->light_d2_rms = vg_score_light_d2(clip, f, h, w);
    r->light_score = exp(-r->light_d2_rms / 5.0);

    /* ---- segmentation and tracking ---- */
    st = vg_tracks_build(&tr, clip, f, h, w);
    if (st != VG_OK) goto out;

    /* ---- background stability ---- */
    {
        for (int64_t t = 0; t < f; t++) {
            dilate(bgm + t * hw, tr.fg + t * hw, h, w);
            for (int64_t i = 0; i < hw; i++) bgm[t * hw + i] = !bgm[t * hw + i];
            bg_hist(hist + t * 512, clip + t * hw * 3, bgm + t * hw, hw);
        }
        double js = 0, ds = 0;
        int64_t jn = 0, dn = 0;
        for (int64_t t = 0; t + 1 < f; t++) {
            double d = bg_diff(clip + t * hw * 3, clip + (t + 1) * hw * 3, bgm + t * hw, bgm + (t + 1) * hw, hw);
            if (d >= 0) { js += d; jn++; }
            d = bg_diff(clip, clip + (t + 1) * hw * 3, bgm, bgm + (t + 1) * hw, hw);
            if (d >= 0) { ds += d; dn++; }
        }
        r->bg_jitter = jn ? js / (double)jn : 0;
        r->bg_drift = dn ? ds / (double)dn : 0;
        r->bg_hist = vg_score_consistency(hist, f, 512);
        r->bg_score = (exp(-r->bg_jitter / 8.0) + exp(-r->bg_drift / 8.0) + r->bg_hist) / 3.0;
    }

    /* ---- warping error (Lai et al. 2018): mask by the fb check, squared RGB error in [0,1] ---- */
    {
        double es = 0;
        int64_t en = 0;
        for (int64_t t = 0; t < P; t++) {
            const uint8_t *a = clip + t * hw * 3, *b = a + hw * 3;
            for (int64_t i = 0; i < hw * 3; i++) fimg[i] = b[i];
            double ad = 0;
            for (int64_t i = 0; i < hw * 3; i++) ad += abs((int)a[i] - (int)b[i]);
            pair[t] = ad / (double)(hw * 3);
            pair[P + t] = 0;
            int64_t nv = vg_flow_occlusion(valid, fwd + t * hw * 2, bwd + t * hw * 2, h, w);
            if (!nv) continue;
            double s = 0;
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    int64_t i = y * w + x;
                    if (!valid[i]) continue;
                    const float *fl = fwd + t * hw * 2 + 2 * i;
                    float v[3];
                    vg_sample_bilinear(v, fimg, h, w, 3, (float)x + fl[0], (float)y + fl[1]);
                    for (int k = 0; k < 3; k++) { double d = (a[3 * i + k] - v[k]) / 255.0; s += d * d; }
                }
            es += s / (double)nv;
            pair[P + t] = sqrt(s / (double)nv);
            en++;
        }
        r->warp_err = en ? es / (double)en : 0;
        r->warp_score = exp(-sqrt(r->warp_err) / 0.1);
    }

    /* ---- identity of frame-0 objects ---- */
    {
        int n0 = tr.n_obj[0];
        r->n_objects = n0;
        int64_t kept = 0, total = 0;
        double maxde = 0, areadev = 0, shapedev = 0;
        for (int k = 0; k < n0; k++) {
            const vg_object *o0 = &tr.obj[k];
            int track = o0->track;
            bool gone_out = false, prev_border = o0->border;
            for (int64_t t = 1; t < f && !gone_out; t++) {
                const vg_object *ot = NULL;
                for (int j = 0; j < tr.n_obj[t]; j++)
                    if (tr.obj[t * VG_SCORE_MAX_OBJ + j].track == track) ot = &tr.obj[t * VG_SCORE_MAX_OBJ + j];
                if (!ot && prev_border) { gone_out = true; break; } /* left through the edge: stop counting */
                total++;
                if (!ot) continue;
                prev_border = ot->border;
                double de = sqrt((ot->lab[0] - o0->lab[0]) * (ot->lab[0] - o0->lab[0]) +
                                 (ot->lab[1] - o0->lab[1]) * (ot->lab[1] - o0->lab[1]) +
                                 (ot->lab[2] - o0->lab[2]) * (ot->lab[2] - o0->lab[2]));
                bool ok = de < 15;
                if (de > maxde) maxde = de;
                if (!ot->border && !o0->border) {
                    double ad = fabs(ot->area / o0->area - 1.0);
                    double sd = fmax(fabs(ot->extent - o0->extent), fabs(ot->compact - o0->compact));
                    if (ad > areadev) areadev = ad;
                    if (sd > shapedev) shapedev = sd;
                    ok = ok && ad < 0.4 && sd < 0.15;
                }
                kept += ok;
            }
        }
        r->id_frac = total ? (double)kept / (double)total : 1.0;
        r->id_max_de = maxde;
        r->id_area_dev = areadev;
        r->id_shape_dev = shapedev;
    }

    /* ---- motion smoothness: centroid jitter + frame interpolation ---- */
    {
        /* median |c_{t+1} - 2 c_t + c_{t-1}| over every track's interior triples */
        float *acc = mag; /* reuse: at most F * MAX_OBJ values, <= hw when hw >= that */
        int64_t na = 0, cap = hw;
        for (int64_t t = 1; t + 1 < f; t++)
            for (int j = 0; j < tr.n_obj[t]; j++) {
                const vg_object *c = &tr.obj[t * VG_SCORE_MAX_OBJ + j], *p = NULL, *n = NULL;
                if (c->border) continue;
                for (int k = 0; k < tr.n_obj[t - 1]; k++)
                    if (tr.obj[(t - 1) * VG_SCORE_MAX_OBJ + k].track == c->track) p = &tr.obj[(t - 1) * VG_SCORE_MAX_OBJ + k];
                for (int k = 0; k < tr.n_obj[t + 1]; k++)
                    if (tr.obj[(t + 1) * VG_SCORE_MAX_OBJ + k].track == c->track) n = &tr.obj[(t + 1) * VG_SCORE_MAX_OBJ + k];
                if (!p || !n || p->border || n->border || na >= cap) continue;
                acc[na++] = hypotf(n->cx - 2 * c->cx + p->cx, n->cy - 2 * c->cy + p->cy);
            }
        if (na) {
            qsort(acc, (size_t)na, sizeof(float), cmp_desc);
            r->jitter_px = na % 2 ? acc[na / 2] : 0.5 * (acc[na / 2 - 1] + acc[na / 2]);
        }
        double s = 0;
        for (int64_t k = 0; k < nint; k++) {
            const uint8_t *a = clip + 2 * k * hw * 3, *m = a + hw * 3, *b = m + hw * 3;
            float *fa = fimg, *fb = fimg + hw * 3;
            for (int64_t i = 0; i < hw * 3; i++) { fa[i] = a[i]; fb[i] = b[i]; }
            const float *fl = fl_int + k * hw * 2;
            int64_t acc_i = 0;
            double e = 0;
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    int64_t i = y * w + x;
                    float u = 0.5f * fl[2 * i], v = 0.5f * fl[2 * i + 1], pa[3], pb[3];
                    vg_sample_bilinear(pa, fa, h, w, 3, (float)x - u, (float)y - v);
                    vg_sample_bilinear(pb, fb, h, w, 3, (float)x + u, (float)y + v);
                    for (int c = 0; c < 3; c++) e += fabs(0.5 * (pa[c] + pb[c]) - m[3 * i + c]);
                    acc_i++;
                }
            s += (255.0 - e / (double)(acc_i * 3)) / 255.0;
        }
        r->interp_score = nint ? s / (double)nint : 1.0;
        double D = (double)(h < w ? h : w);
        r->smooth_score = r->interp_score * exp(-r->jitter_px / (0.02 * D));
    }

    /* ---- pop events ---- */
    r->n_events = tr.n_events_total;
    r->n_events_stored = tr.n_events;
    memcpy(r->events, tr.events, sizeof(r->events));
    r->events_score = 1.0 / (1.0 + (double)r->n_events);
    for (int i = 0; i < tr.n_events; i++) r->n_wraps += tr.events[i].kind == VG_EV_WRAP;

    if (o->seam_at > 0) seam(r, pair, P, o->seam_at, &tr, pair + 2 * P);

out:
    vg_tracks_free(&tr);
    free(gray); free(flows); free(scratch); free(jobs); free(mag); free(fimg); free(valid); free(bgm); free(hist); free(sc); free(pair);
    return st;
}
