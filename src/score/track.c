/* track.c - segment, describe and track the objects of a clip, and find pop events.
 * Background = the modal colour of each frame (4-bit-per-channel histogram, refined by a mean);
 * foreground = pixels farther than max(30, 4 sigma_bg) from it; objects = 8-connected
 * components of the foreground dilated by one pixel (joins broken MNIST strokes). Tracks link
 * objects frame to frame greedily by predicted position, Lab colour and area.
 * clip [F][H][W][3]; labels [H][W]; F frames, H W height width. */
#include <math.h>
#include <string.h>
#include "vidgen/score.h"

enum { MAX_TRACKS_STORED = VG_SCORE_MAX_OBJ * 4 };

const char *vg_event_name(vg_event_kind k) {
    static const char *n[] = {"jump", "birth", "death", "merge", "split", "wrap"};
    return (unsigned)k < 6 ? n[k] : "?";
}

static float srgb_to_lin(float c) {
    c /= 255.0f;
    return c <= 0.04045f ? c / 12.92f : powf((c + 0.055f) / 1.055f, 2.4f);
}

static float lab_f(float t) { return t > 0.008856f ? cbrtf(t) : 7.787f * t + 16.0f / 116.0f; }

static void lin_to_lab(float lab[3], const float l[3]) {
    float X = (0.4124f * l[0] + 0.3576f * l[1] + 0.1805f * l[2]) / 0.95047f;
    float Y = 0.2126f * l[0] + 0.7152f * l[1] + 0.0722f * l[2];
    float Z = (0.0193f * l[0] + 0.1192f * l[1] + 0.9505f * l[2]) / 1.08883f;
    float fx = lab_f(X), fy = lab_f(Y), fz = lab_f(Z);
    lab[0] = 116 * fy - 16;
    lab[1] = 500 * (fx - fy);
    lab[2] = 200 * (fy - fz);
}

void vg_srgb_to_lab(float lab[3], const float rgb[3]) {
    float l[3] = {srgb_to_lin(rgb[0]), srgb_to_lin(rgb[1]), srgb_to_lin(rgb[2])};
    lin_to_lab(lab, l);
}

static float lin_luma(const float rgb[3]) {
    return 0.2126f * srgb_to_lin(rgb[0]) + 0.7152f * srgb_to_lin(rgb[1]) + 0.0722f * srgb_to_lin(rgb[2]);
}

void vg_tracks_free(vg_tracks *t) {
    if (!t) return;
    free(t->bg_rgb); free(t->gain); free(t->fg); free(t->n_obj); free(t->obj); free(t->track_first);
    memset(t, 0, sizeof(*t));
}

/* Modal colour of one frame and the foreground threshold. hist: 4096 ints scratch. */
static float frame_background(float bg[3], const uint8_t *img, int64_t n, int *hist) {
    memset(hist, 0, 4096 * sizeof(int));
    for (int64_t i = 0; i < n; i++)
        hist[(img[3 * i] >> 4) << 8 | (img[3 * i + 1] >> 4) << 4 | (img[3 * i + 2] >> 4)]++;
    int best = 0;
    for (int b = 1; b < 4096; b++) if (hist[b] > hist[best]) best = b;
    int64_t s[3] = {0, 0, 0}, c = 0; /* integer sums: exact, and no long double-add chains */
    for (int64_t i = 0; i < n; i++)
        if (((img[3 * i] >> 4) << 8 | (img[3 * i + 1] >> 4) << 4 | (img[3 * i + 2] >> 4)) == best) {
            for (int k = 0; k < 3; k++) s[k] += img[3 * i + k];
            c++;
        }
    for (int k = 0; k < 3; k++) bg[k] = (float)((double)s[k] / (double)c);
    /* refine: mean and spread of pixels within 24 of the mode */
    for (int pass = 0; pass < 2; pass++) {
        int64_t m[3] = {0, 0, 0};
        double v = 0;
        c = 0;
        for (int64_t i = 0; i < n; i++) {
            float d0 = img[3 * i] - bg[0], d1 = img[3 * i + 1] - bg[1], d2 = img[3 * i + 2] - bg[2];
            float d = d0 * d0 + d1 * d1 + d2 * d2;
            if (d < 24 * 24) {
                for (int k = 0; k < 3; k++) m[k] += img[3 * i + k];
                if (pass) v += d;
                c++;
            }
        }
        if (!c) break;
        for (int k = 0; k < 3; k++) bg[k] = (float)((double)m[k] / (double)c);
        if (pass == 1) {
            float sigma = (float)sqrt(v / (double)c / 3.0);
            return fmaxf(30.0f, 4.0f * sigma);
        }
    }
    return 30.0f;
}

/* 8-connected components of mask (already dilated); lab [H][W] gets 0 or 1..n; returns n.
 * stack: H*W int64 scratch. */
static int label_components(int *lab, const uint8_t *mask, int64_t h, int64_t w, int64_t *stack) {
    int n = 0;
    memset(lab, 0, (size_t)(h * w) * sizeof(int));
    for (int64_t s0 = 0; s0 < h * w; s0++) {
        if (!mask[s0] || lab[s0]) continue;
        n++;
        int64_t top = 0;
        stack[top++] = s0;
        lab[s0] = n;
        while (top) {
            int64_t i = stack[--top], y = i / w, x = i % w;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int64_t yy = y + dy, xx = x + dx;
                    if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
                    int64_t j = yy * w + xx;
                    if (mask[j] && !lab[j]) { lab[j] = n; stack[top++] = j; }
                }
        }
    }
    return n;
}

/* the labelling stack doubles as byte scratch before labelling starts */
static uint8_t *stack_u8(int64_t *stack) { return (uint8_t *)stack; }

typedef struct { double n, sx, sy, sxx, syy, r, g, b, ir, ig, ib, ni; int x0, y0, x1, y1; } acc;

/* Describe the components of frame t into t->obj; keeps the largest VG_SCORE_MAX_OBJ. */
static int describe(vg_object *out, int *labels, const uint8_t *img, const uint8_t *fg, const int *lab, int ncomp,
                    int64_t h, int64_t w, float gain, acc *a, int min_area) {
    for (int k = 0; k < ncomp; k++) { memset(&a[k], 0, sizeof(acc)); a[k].x0 = (int)w; a[k].y0 = (int)h; a[k].x1 = a[k].y1 = -1; }
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            int64_t i = y * w + x;
            if (!fg[i] || !lab[i]) continue;
            acc *c = &a[lab[i] - 1];
            c->n++; c->sx += (double)x; c->sy += (double)y;
            c->sxx += (double)(x * x); c->syy += (double)(y * y);
            c->r += img[3 * i]; c->g += img[3 * i + 1]; c->b += img[3 * i + 2];
            bool inner = x > 0 && y > 0 && x + 1 < w && y + 1 < h && fg[i - 1] && fg[i + 1] && fg[i - w] && fg[i + w];
            if (inner) { c->ir += img[3 * i]; c->ig += img[3 * i + 1]; c->ib += img[3 * i + 2]; c->ni++; }
            if (x < c->x0) c->x0 = (int)x;
            if (x > c->x1) c->x1 = (int)x;
            if (y < c->y0) c->y0 = (int)y;
            if (y > c->y1) c->y1 = (int)y;
        }
    int n = 0;
    for (int pick = 0; pick < VG_SCORE_MAX_OBJ; pick++) { /* largest first, ties by label */
        int best = -1;
        for (int k = 0; k < ncomp; k++)
            if (a[k].n >= min_area && (best < 0 || a[k].n > a[best].n)) best = k;
        if (best < 0) break;
        acc *c = &a[best];
        labels[n] = best + 1;
        vg_object *o = &out[n++];
        memset(o, 0, sizeof(*o));
        o->area = (float)c->n;
        o->cx = (float)(c->sx / c->n);
        o->cy = (float)(c->sy / c->n);
        double tr = c->sxx / c->n - (c->sx / c->n) * (c->sx / c->n) + c->syy / c->n - (c->sy / c->n) * (c->sy / c->n);
        o->x0 = c->x0; o->y0 = c->y0; o->x1 = c->x1; o->y1 = c->y1;
        double bb = (double)(c->x1 - c->x0 + 1) * (double)(c->y1 - c->y0 + 1);
        o->extent = (float)(c->n / bb);
        /* the +1/6 per axis is the variance of a unit pixel, so that tiny shapes are not biased */
        o->compact = (float)(c->n / (2 * M_PI * (tr + 1.0 / 6.0)));
        o->border = c->x0 == 0 || c->y0 == 0 || c->x1 == w - 1 || c->y1 == h - 1;
        bool in = c->ni >= 4;
        double m = in ? c->ni : c->n;
        o->rgb[0] = (float)((in ? c->ir : c->r) / m);
        o->rgb[1] = (float)((in ? c->ig : c->g) / m);
        o->rgb[2] = (float)((in ? c->ib : c->b) / m);
        float l[3];
        for (int k = 0; k < 3; k++) { l[k] = srgb_to_lin(o->rgb[k]) / gain; if (l[k] > 1) l[k] = 1; }
        lin_to_lab(o->lab, l);
        o->track = -1;
        c->n = 0; /* taken */
    }
    return n;
}

static float lab_de(const float a[3], const float b[3]) {
    float d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
    return sqrtf(d0 * d0 + d1 * d1 + d2 * d2);
}

static void add_event(vg_tracks *t, vg_event_kind k, int64_t frame, int track, float x, float y, float size) {
    t->n_events_total++;
    if (t->n_events >= VG_SCORE_MAX_EVENTS) return;
    vg_event *e = &t->events[t->n_events++];
    e->kind = k; e->frame = frame; e->track = track; e->x = x; e->y = y; e->size = size;
}

/* ---- wrap-around (see score.h, VG_EV_WRAP) ---- */

enum { B_LEFT = 1, B_RIGHT = 2, B_TOP = 4, B_BOTTOM = 8 };

static int border_sides(const vg_object *o, int64_t h, int64_t w) {
    return (o->x0 <= 0 ? B_LEFT : 0) | (o->x1 >= w - 1 ? B_RIGHT : 0) | (o->y0 <= 0 ? B_TOP : 0) | (o->y1 >= h - 1 ? B_BOTTOM : 0);
}

/* overlap of [a0,a1] and [b0,b1] over the shorter one */
static float span_overlap(int a0, int a1, int b0, int b1) {
    int lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    int la = a1 - a0 + 1, lb = b1 - b0 + 1;
    return hi < lo ? 0.0f : (float)(hi - lo + 1) / (float)(la < lb ? la : lb);
}

/* a and b on opposite borders (left/right: axis 0, top/bottom: axis 1) as two parts of one object */
static int cut_pair(const vg_object *a, const vg_object *b, int64_t h, int64_t w) {
    int sa = border_sides(a, h, w), sb = border_sides(b, h, w);
    if (lab_de(a->lab, b->lab) > 15) return -1;
    if ((((sa & B_LEFT) && (sb & B_RIGHT)) || ((sa & B_RIGHT) && (sb & B_LEFT))) && a->x1 - a->x0 < w / 2 && b->x1 - b->x0 < w / 2 &&
        span_overlap(a->y0, a->y1, b->y0, b->y1) >= 0.5f)
        return 0;
    if ((((sa & B_TOP) && (sb & B_BOTTOM)) || ((sa & B_BOTTOM) && (sb & B_TOP))) && a->y1 - a->y0 < h / 2 && b->y1 - b->y0 < h / 2 &&
        span_overlap(a->x0, a->x1, b->x0, b->x1) >= 0.5f)
        return 1;
    return -1;
}

static void find_wraps(vg_tracks *t) {
    const int64_t F = t->f, h = t->h, w = t->w;
    const float D = (float)(h < w ? h : w);
    int64_t last_wrap[2] = {-100, -100}; /* per axis: frame of the last wrap counted */
    bool cut_prev[2] = {false, false};
    for (int64_t fr = 0; fr < F; fr++) {
        const vg_object *cur = t->obj + fr * VG_SCORE_MAX_OBJ;
        int n = t->n_obj[fr];
        /* (a) one object cut by two opposite borders */
        bool cut_now[2] = {false, false};
        float cx[2] = {0, 0}, cy[2] = {0, 0};
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) {
                int ax = cut_pair(&cur[i], &cur[j], h, w);
                if (ax >= 0) { cut_now[ax] = true; cx[ax] = cur[i].cx; cy[ax] = cur[i].cy; }
            }
        for (int ax = 0; ax < 2; ax++) {
            if (cut_now[ax] && !cut_prev[ax] && fr > 0 && fr - last_wrap[ax] > VG_WRAP_FRAMES) {
                /* the frame before: an object of that colour touching one of the two borders */
                const vg_object *pv = cur - VG_SCORE_MAX_OBJ;
                bool approach = false;
                for (int i = 0; i < t->n_obj[fr - 1]; i++) {
                    int sd = border_sides(&pv[i], h, w);
                    approach |= ax == 0 ? (sd & (B_LEFT | B_RIGHT)) != 0 : (sd & (B_TOP | B_BOTTOM)) != 0;
                }
                if (approach) { add_event(t, VG_EV_WRAP, fr, -1, cx[ax], cy[ax], 0); last_wrap[ax] = fr; }
            }
            cut_prev[ax] = cut_now[ax];
        }
        /* (b) a track born touching a border while a same-colour track was last seen, within
         * VG_WRAP_FRAMES frames, touching the opposite one at the same height (column) */
        for (int j = 0; j < n; j++) {
            int tr = cur[j].track;
            if (tr < 0 || tr >= VG_SCORE_MAX_OBJ * 4 || t->track_first[tr] != fr || fr == 0) continue;
            int sj = border_sides(&cur[j], h, w);
            if (!sj) continue;
            bool found = false;
            for (int64_t g = fr - 1; g >= 0 && g >= fr - VG_WRAP_FRAMES && !found; g--) {
                const vg_object *po = t->obj + g * VG_SCORE_MAX_OBJ;
                for (int i = 0; i < t->n_obj[g] && !found; i++) {
                    int pt = po[i].track;
                    if (pt == tr || pt < 0) continue;
                    /* that track's last frame is g..fr-1 (it is gone, or leaving, by now) */
                    bool alive_after = false;
                    for (int64_t k = g + 1; k <= fr && !alive_after; k++)
                        for (int q = 0; q < t->n_obj[k]; q++)
                            if (t->obj[k * VG_SCORE_MAX_OBJ + q].track == pt && !(border_sides(&t->obj[k * VG_SCORE_MAX_OBJ + q], h, w))) alive_after = true;
                    if (alive_after) continue;
                    int si = border_sides(&po[i], h, w);
                    if (lab_de(po[i].lab, cur[j].lab) > 15) continue;
                    int ax = -1;
                    if (((si & B_RIGHT) && (sj & B_LEFT)) || ((si & B_LEFT) && (sj & B_RIGHT))) ax = fabsf(po[i].cy - cur[j].cy) < 0.25f * D ? 0 : -1;
                    else if (((si & B_BOTTOM) && (sj & B_TOP)) || ((si & B_TOP) && (sj & B_BOTTOM))) ax = fabsf(po[i].cx - cur[j].cx) < 0.25f * D ? 1 : -1;
                    if (ax < 0 || fr - last_wrap[ax] <= VG_WRAP_FRAMES) continue;
                    add_event(t, VG_EV_WRAP, fr, tr, cur[j].cx, cur[j].cy, 0);
                    last_wrap[ax] = fr;
                    found = true;
                }
            }
        }
    }
}

vg_status vg_tracks_build(vg_tracks *t, const uint8_t *clip, int64_t f, int64_t h, int64_t w) {
    memset(t, 0, sizeof(*t));
    if (f < 1 || h < 2 || w < 2)
        return vg_fail(VG_ERR_ARG, "score: clip %lldx%lldx%lld, expected >= 1 frame of >= 2x2", (long long)f, (long long)h, (long long)w);
    int64_t hw = h * w;
    vg_status st = VG_OK;
    t->f = f; t->h = h; t->w = w;
    t->bg_rgb = malloc((size_t)f * 3 * sizeof(float));
    t->gain = malloc((size_t)f * sizeof(float));
    t->fg = malloc((size_t)(f * hw));
    t->n_obj = calloc((size_t)f, sizeof(int));
    t->obj = calloc((size_t)f * VG_SCORE_MAX_OBJ, sizeof(vg_object));
    t->track_first = calloc(MAX_TRACKS_STORED, sizeof(int));
    int *hist = malloc(4096 * sizeof(int));
    int *lab = malloc((size_t)hw * sizeof(int)), *plab = malloc((size_t)hw * sizeof(int));
    int64_t *stack = malloc((size_t)hw * sizeof(int64_t));
    uint8_t *dil = malloc((size_t)hw);
    acc *a = malloc((size_t)hw * sizeof(acc));
    if (!t->bg_rgb || !t->gain || !t->fg || !t->n_obj || !t->obj || !t->track_first || !hist || !lab ||
        !plab || !stack || !dil || !a) {
        st = vg_fail(VG_ERR_OOM, "score: tracking buffers for %lld frames of %lldx%lld", (long long)f, (long long)h, (long long)w);
        goto out;
    }
    int min_area = (int)fmax(4.0, 0.002 * (double)hw);
    float y0 = 0;
    int pn = 0; /* objects in the previous frame */
    int plabel[VG_SCORE_MAX_OBJ];
    float vel[MAX_TRACKS_STORED][2];
    memset(vel, 0, sizeof(vel));
    for (int64_t fr = 0; fr < f; fr++) {
        const uint8_t *img = clip + fr * hw * 3;
        uint8_t *fg = t->fg + fr * hw;
        float *bg = t->bg_rgb + fr * 3;
        float thr = frame_background(bg, img, hw, hist);
        float yl = lin_luma(bg);
        if (fr == 0) y0 = yl;
        t->gain[fr] = y0 > 0.01f ? fmaxf(yl / y0, 0.05f) : 1.0f;
        for (int64_t i = 0; i < hw; i++) {
            float d0 = img[3 * i] - bg[0], d1 = img[3 * i + 1] - bg[1], d2 = img[3 * i + 2] - bg[2];
            fg[i] = d0 * d0 + d1 * d1 + d2 * d2 > thr * thr;
        }
        for (int64_t y = 0; y < h; y++) /* 3x3 dilation: rows, then columns */
            for (int64_t x = 0; x < w; x++)
                stack_u8(stack)[y * w + x] = fg[y * w + x] | (x > 0 ? fg[y * w + x - 1] : 0) | (x + 1 < w ? fg[y * w + x + 1] : 0);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                const uint8_t *r = stack_u8(stack);
                dil[y * w + x] = r[y * w + x] | (y > 0 ? r[(y - 1) * w + x] : 0) | (y + 1 < h ? r[(y + 1) * w + x] : 0);
            }
        int nc = label_components(lab, dil, h, w, stack);
        vg_object *cur = t->obj + fr * VG_SCORE_MAX_OBJ;
        int clab[VG_SCORE_MAX_OBJ]; /* component label of each object */
        int n = describe(cur, clab, img, fg, lab, nc, h, w, t->gain[fr], a, min_area);
        t->n_obj[fr] = n;
        if (fr == 0) {
            for (int j = 0; j < n; j++) {
                cur[j].track = t->n_tracks;
                if (t->n_tracks < MAX_TRACKS_STORED) t->track_first[t->n_tracks] = 0;
                t->n_tracks++;
            }
        } else {
            vg_object *prev = cur - VG_SCORE_MAX_OBJ;
            float D = (float)(h < w ? h : w);
            /* overlap of each previous object (moved by its velocity) with each current one */
            int ov[VG_SCORE_MAX_OBJ][VG_SCORE_MAX_OBJ];
            memset(ov, 0, sizeof(ov));
            for (int i = 0; i < pn; i++) {
                int tr = prev[i].track;
                float vx = tr < MAX_TRACKS_STORED ? vel[tr][0] : 0, vy = tr < MAX_TRACKS_STORED ? vel[tr][1] : 0;
                int64_t sx = (int64_t)lroundf(vx), sy = (int64_t)lroundf(vy);
                for (int64_t y = prev[i].y0; y <= prev[i].y1; y++)
                    for (int64_t x = prev[i].x0; x <= prev[i].x1; x++) {
                        if (plab[y * w + x] != plabel[i] || !fg[(y - h) * w + x]) continue;
                        int64_t yy = y + sy, xx = x + sx;
                        if (yy < 0 || xx < 0 || yy >= h || xx >= w || !fg[yy * w + xx]) continue;
                        for (int j = 0; j < n; j++) if (lab[yy * w + xx] == clab[j]) { ov[i][j]++; break; }
                    }
            }
            bool in_merge_prev[VG_SCORE_MAX_OBJ] = {0}, in_split_cur[VG_SCORE_MAX_OBJ] = {0};
            for (int j = 0; j < n; j++) {
                int k = 0;
                for (int i = 0; i < pn; i++) if (ov[i][j] >= 0.3f * prev[i].area) k++;
                if (k >= 2) {
                    add_event(t, VG_EV_MERGE, fr, -1, cur[j].cx, cur[j].cy, 0);
                    for (int i = 0; i < pn; i++) if (ov[i][j] >= 0.3f * prev[i].area) in_merge_prev[i] = true;
                }
            }
            for (int i = 0; i < pn; i++) {
                int k = 0;
                for (int j = 0; j < n; j++) if (ov[i][j] >= 0.3f * cur[j].area) k++;
                if (k >= 2) {
                    add_event(t, VG_EV_SPLIT, fr, prev[i].track, prev[i].cx, prev[i].cy, 0);
                    for (int j = 0; j < n; j++) if (ov[i][j] >= 0.3f * cur[j].area) in_split_cur[j] = true;
                }
            }
            /* greedy association on cost = distance/D + dE/50 + |log area ratio| */
            bool pused[VG_SCORE_MAX_OBJ] = {0}, cused[VG_SCORE_MAX_OBJ] = {0};
            for (;;) {
                int bi = -1, bj = -1;
                float bc = 1e30f;
                for (int i = 0; i < pn; i++) {
                    if (pused[i]) continue;
                    int tr = prev[i].track;
                    float px = prev[i].cx + (tr < MAX_TRACKS_STORED ? vel[tr][0] : 0);
                    float py = prev[i].cy + (tr < MAX_TRACKS_STORED ? vel[tr][1] : 0);
                    for (int j = 0; j < n; j++) {
                        if (cused[j]) continue;
                        float de = lab_de(prev[i].lab, cur[j].lab), ar = cur[j].area / prev[i].area;
                        bool bord = prev[i].border || cur[j].border;
                        if (de > 30 || (!bord && (ar < 0.25f || ar > 4.0f))) continue;
                        if (!ov[i][j] && hypotf(cur[j].cx - px, cur[j].cy - py) > 0.5f * D) continue;
                        float c = hypotf(cur[j].cx - px, cur[j].cy - py) / D + de / 50 + fabsf(logf(ar)) - (ov[i][j] ? 0.5f : 0);
                        if (c < bc) { bc = c; bi = i; bj = j; }
                    }
                }
                if (bi < 0) break;
                pused[bi] = cused[bj] = true;
                int tr = prev[bi].track;
                cur[bj].track = tr;
                if (tr < MAX_TRACKS_STORED) {
                    float px = prev[bi].cx + vel[tr][0], py = prev[bi].cy + vel[tr][1];
                    float dev = hypotf(cur[bj].cx - px, cur[bj].cy - py);
                    float step = hypotf(vel[tr][0], vel[tr][1]);
                    if (dev > fmaxf(0.15f * D, 2.5f * step + 2.0f) && !in_merge_prev[bi] && !in_split_cur[bj]) {
                        add_event(t, VG_EV_JUMP, fr, tr, cur[bj].cx, cur[bj].cy, dev);
                        /* keep the pre-jump velocity so the landing is not counted twice */
                    } else {
                        vel[tr][0] = cur[bj].cx - prev[bi].cx;
                        vel[tr][1] = cur[bj].cy - prev[bi].cy;
                    }
                }
            }
            for (int i = 0; i < pn; i++)
                if (!pused[i] && !prev[i].border && !in_merge_prev[i])
                    add_event(t, VG_EV_DEATH, fr, prev[i].track, prev[i].cx, prev[i].cy, 0);
            for (int j = 0; j < n; j++) {
                if (cused[j]) continue;
                cur[j].track = t->n_tracks;
                if (t->n_tracks < MAX_TRACKS_STORED) {
                    t->track_first[t->n_tracks] = (int)fr;
                    vel[t->n_tracks][0] = vel[t->n_tracks][1] = 0;
                }
                t->n_tracks++;
                if (!cur[j].border && !in_split_cur[j]) add_event(t, VG_EV_BIRTH, fr, cur[j].track, cur[j].cx, cur[j].cy, 0);
            }
        }
        pn = n;
        memcpy(plabel, clab, sizeof(clab));
        int *sw = plab; plab = lab; lab = sw;
    }
    find_wraps(t);
out:
    free(hist); free(lab); free(plab); free(stack); free(dil); free(a);
    if (st != VG_OK) vg_tracks_free(t);
    return st;
}
