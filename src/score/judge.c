/* judge.c - prompt adherence for shape-world and Moving MNIST captions: parse the caption
 * (vg_shape_parse for `a|an [small|big] <colour> <shape> <motion> on a <colour> background[, ...]`,
 * our own for `the digit 7 moving left` / `the digits 3 and 8 bouncing`), read the same
 * attributes off the frames (track.c objects), mark each right or wrong.
 * Colours: nearest entry of vg_obj_colours / vg_bg_colours in CIE Lab, read on the brightest
 * frame (the renderer's lighting factor is <= 1, so that frame is the unscaled one).
 * clip [F][H][W][3]; F frames, H W height width, D = min(H, W). */
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include "vidgen/data.h"
#include "vidgen/score.h"
#include "vidgen/shapes.h"

static int nearest_colour(const vg_colour *tab, int n, const float rgb[3]) {
    float lab[3], best = 1e30f;
    int bi = 0;
    vg_srgb_to_lab(lab, rgb);
    for (int i = 0; i < n; i++) {
        float c[3] = {tab[i].rgb[0], tab[i].rgb[1], tab[i].rgb[2]}, l[3];
        vg_srgb_to_lab(l, c);
        float d = (l[0] - lab[0]) * (l[0] - lab[0]) + (l[1] - lab[1]) * (l[1] - lab[1]) + (l[2] - lab[2]) * (l[2] - lab[2]);
        if (d < best) { best = d; bi = i; }
    }
    return bi;
}

static int cmpf(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static float median(float *v, int n) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof(float), cmpf);
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

static void add(vg_judge_result *r, const char *what, const char *exp, const char *found) {
    if (r->n_checks >= VG_JUDGE_MAX_CHECKS) return;
    vg_judge_check *c = &r->checks[r->n_checks++];
    c->what = what;
    snprintf(c->expected, sizeof(c->expected), "%s", exp);
    snprintf(c->found, sizeof(c->found), "%s", found);
    c->ok = strcmp(c->expected, c->found) == 0;
}

/* Largest object of frame t, or NULL. */
static const vg_object *largest(const vg_tracks *tr, int64_t t) {
    return tr->n_obj[t] ? &tr->obj[t * VG_SCORE_MAX_OBJ] : NULL;
}

/* Shape fit: the IoU of the object's foreground pixels with each shape drawn axis-aligned
 * (the renderer's geometry), the best over placements: centroid offsets of -1..1 px in
 * half pixels and diameters 0.9-1.1 of the one the area gives. A 1-px fringe, notch or
 * smear on a small shape moves its bounding box a lot (and so the extent), but the overlap
 * only a little. iou[3]: ball, square, triangle. */
static void shape_fit(float iou[3], const vg_tracks *tr, int64_t t, const vg_object *o) {
    int64_t h = tr->h, w = tr->w;
    const uint8_t *fg = tr->fg + t * h * w;
    for (int sh = 0; sh < 3; sh++) {
        float d0 = sqrtf(o->area / (float)vg_shape_area_frac(sh)), best = 0;
        for (int si = -2; si <= 2; si++) {
            float d = d0 * (1.f + 0.05f * (float)si), r = 0.6f * d + 2.f;
            for (int oy = -2; oy <= 2; oy++)
                for (int ox = -2; ox <= 2; ox++) {
                    /* pixel x covers [x, x+1); the object's centroid is in pixel-index units */
                    float bx = o->cx + 0.5f * (float)ox + 0.5f;
                    float by = o->cy + 0.5f * (float)oy + 0.5f - vg_shape_centroid_dy(sh) * d;
                    int x0 = (int)fminf((float)o->x0, floorf(bx - r)), x1 = (int)fmaxf((float)o->x1, ceilf(bx + r));
                    int y0 = (int)fminf((float)o->y0, floorf(by - r)), y1 = (int)fmaxf((float)o->y1, ceilf(by + r));
                    if (x0 < 0) x0 = 0;
                    if (y0 < 0) y0 = 0;
                    if (x1 > w - 1) x1 = (int)w - 1;
                    if (y1 > h - 1) y1 = (int)h - 1;
                    int in = 0, un = 0;
                    for (int y = y0; y <= y1; y++)
                        for (int x = x0; x <= x1; x++) {
                            bool m = x >= o->x0 && x <= o->x1 && y >= o->y0 && y <= o->y1 && fg[(int64_t)y * w + x];
                            bool tp = vg_shape_inside(sh, (float)x + 0.5f - bx, (float)y + 0.5f - by, d);
                            in += m && tp;
                            un += m || tp;
                        }
                    float v = un ? (float)in / (float)un : 0.f;
                    if (v > best) best = v;
                }
        }
        iou[sh] = best;
    }
}

/* Motion of a centroid series (frames without the object skipped): one of vg_motion.
 * cx, cy: [F]; have[t] = 1 where present. v: 3F floats scratch. */
static int classify_motion(const float *cx, const float *cy, const uint8_t *have, int64_t f, float D, float *v) {
    int nv = 0, na = 0;
    float *vx = v, *vy = v + f, *ay = v + 2 * f;
    double path = 0, xr0 = 1e30, xr1 = -1e30, yr0 = 1e30, yr1 = -1e30;
    for (int64_t t = 0; t + 1 < f; t++) {
        if (!have[t] || !have[t + 1]) continue;
        vx[nv] = cx[t + 1] - cx[t];
        vy[nv] = cy[t + 1] - cy[t];
        path += hypot(vx[nv], vy[nv]);
        nv++;
    }
    for (int64_t t = 0; t < f; t++) {
        if (!have[t]) continue;
        xr0 = fmin(xr0, cx[t]); xr1 = fmax(xr1, cx[t]);
        yr0 = fmin(yr0, cy[t]); yr1 = fmax(yr1, cy[t]);
    }
    /* acceleration over a 2-frame step (y(t+2) - 2y(t) + y(t-2)) / 4: smooths the +-0.5 px
     * centroid quantisation of anti-aliased edges; the median ignores floor contacts */
    for (int64_t t = 2; t + 2 < f; t++)
        if (have[t - 2] && have[t] && have[t + 2]) ay[na++] = 0.25f * (cy[t + 2] - 2 * cy[t] + cy[t - 2]);
    /* still: little path, or (noise makes a path of small steps) a centroid that stays within
     * 3% of the frame */
    if (nv == 0 || path < 0.05 * D || fmax(xr1 - xr0, yr1 - yr0) < 0.03 * D) return VG_MOT_STILL;
    float mvx = median(vx, nv), mvy = median(vy, nv), may = median(ay, na);
    /* bouncing: steady downward acceleration (image y grows downwards), mostly vertical travel */
    float vmin = 0, vmax = 0;
    for (int i = 0; i < nv; i++) { vmin = fminf(vmin, vy[i]); vmax = fmaxf(vmax, vy[i]); }
    if (na >= 3 && may > 0.12f && vmin < -0.5f && vmax > 0.5f && (yr1 - yr0) > 1.5 * (xr1 - xr0))
        return VG_MOT_BOUNCE;
    if (fabsf(mvx) >= fabsf(mvy)) return mvx < 0 ? VG_MOT_LEFT : VG_MOT_RIGHT;
    return mvy < 0 ? VG_MOT_UP : VG_MOT_DOWN;
}

/* Parses `the digit 7 moving left` / `the digits 3 and 8 bouncing`: count and motion. */
static vg_status parse_mnist(const char *p, int *count, int *motion) {
    char buf[256];
    size_t n = 0;
    for (; *p && n + 1 < sizeof(buf); p++) {
        char c = (char)tolower((unsigned char)*p);
        if (c == '.' || c == ',') c = ' ';
        if (c == ' ' && (n == 0 || buf[n - 1] == ' ')) continue;
        buf[n++] = c;
    }
    while (n && buf[n - 1] == ' ') n--;
    buf[n] = 0;
    const char *s = buf;
    if (strncmp(s, "the digits ", 11) == 0) s += 11;
    else if (strncmp(s, "the digit ", 10) == 0) s += 10;
    else return vg_fail(VG_ERR_ARG, "prompt: expected 'the digit(s) ...', found '%s'", buf);
    int k = 0;
    for (;;) {
        if (!isdigit((unsigned char)s[0]) || (s[1] && s[1] != ' '))
            return vg_fail(VG_ERR_ARG, "prompt: expected a digit 0-9 at '%s'", s);
        k++;
        s += s[1] ? 2 : 1;
        if (strncmp(s, "and ", 4) == 0) s += 4;
        else break;
    }
    for (int m = 0; m < VG_MOTIONS; m++)
        if (strcmp(s, vg_motion_names[m]) == 0) { *count = k; *motion = m; return VG_OK; }
    return vg_fail(VG_ERR_ARG, "prompt: unknown motion '%s' (expected e.g. 'moving left', 'bouncing')", s);
}

vg_status vg_judge(vg_judge_result *r, const char *prompt, const uint8_t *clip, int64_t f, int64_t h, int64_t w) {
    memset(r, 0, sizeof(*r));
    if (!prompt) return vg_fail(VG_ERR_ARG, "judge: no prompt");
    while (isspace((unsigned char)*prompt)) prompt++;
    bool mnist = strncasecmp(prompt, "the digit", 9) == 0;
    vg_shape_spec spec;
    int count = 0, motion = 0;
    vg_status st = mnist ? parse_mnist(prompt, &count, &motion) : vg_shape_parse(&spec, prompt);
    if (st != VG_OK) return st;
    r->mnist = mnist;
    vg_tracks tr;
    st = vg_tracks_build(&tr, clip, f, h, w);
    if (st != VG_OK) return st;
    float *buf = malloc((size_t)f * 9 * sizeof(float));
    uint8_t *have = malloc((size_t)f);
    if (!buf || !have) { st = vg_fail(VG_ERR_OOM, "judge: %lld frames", (long long)f); goto out; }
    float *cx = buf, *cy = buf + f, *tmp = buf + 2 * f, *scr = buf + 3 * f;
    float D = (float)(h < w ? h : w);
    int64_t hw = h * w;

    /* frame brightness: nominal frame and lighting trend */
    double first = 0, last = 0, best = -1;
    int64_t tn = 0;
    for (int64_t t = 0; t < f; t++) {
        const uint8_t *p = clip + t * hw * 3;
        double s = 0;
        for (int64_t i = 0; i < hw * 3; i++) s += p[i];
        s /= (double)(hw * 3);
        if (t == 0) first = s;
        if (t == f - 1) last = s;
        if (s > best) { best = s; tn = t; }
    }

    if (mnist) {
        /* count: digits that overlap merge into one component, fragments are small; so take the
         * largest count seen in >= 2 frames, counting objects of >= 1/4 the frame's largest area */
        /* MNIST digits are size-normalised into 20x20 of their 28x28 box and Moving MNIST draws
         * the box at 28 px per 64: a component wider or taller than 1.2x that (+2 px of
         * anti-aliasing) is two overlapping digits */
        float side = 20.0f / 28.0f * roundf(28.0f * D / 64.0f), lim = 1.2f * side + 2.0f;
        int hist[VG_SCORE_MAX_OBJ + 2] = {0}, mode = 0;
        for (int64_t t = 0; t < f; t++) {
            int k = 0;
            for (int j = 0; j < tr.n_obj[t]; j++) {
                const vg_object *o = &tr.obj[t * VG_SCORE_MAX_OBJ + j];
                if (o->area < 0.25f * tr.obj[t * VG_SCORE_MAX_OBJ].area) continue;
                k += (float)(o->x1 - o->x0 + 1) > lim || (float)(o->y1 - o->y0 + 1) > lim ? 2 : 1;
            }
            hist[k > VG_SCORE_MAX_OBJ ? VG_SCORE_MAX_OBJ : k]++;
        }
        for (int k = 1; k <= VG_SCORE_MAX_OBJ; k++) if (hist[k] >= (f >= 4 ? 2 : 1)) mode = k;
        char e[16], fo[16];
        snprintf(e, sizeof(e), "%d", count);
        snprintf(fo, sizeof(fo), "%d", mode);
        add(r, "count", e, fo);
        /* motion: the longest track's centroid series */
        int best_tr = -1, best_len = 0;
        for (int k = 0; k < tr.n_tracks && k < 4 * VG_SCORE_MAX_OBJ; k++) {
            int len = 0;
            for (int64_t t = 0; t < f; t++)
                for (int j = 0; j < tr.n_obj[t]; j++) if (tr.obj[t * VG_SCORE_MAX_OBJ + j].track == k) len++;
            if (len > best_len) { best_len = len; best_tr = k; }
        }
        for (int64_t t = 0; t < f; t++) {
            have[t] = 0;
            for (int j = 0; j < tr.n_obj[t]; j++) {
                const vg_object *o = &tr.obj[t * VG_SCORE_MAX_OBJ + j];
                if (o->track == best_tr) { cx[t] = o->cx; cy[t] = o->cy; have[t] = 1; }
            }
        }
        int m = classify_motion(cx, cy, have, f, D, scr);
        /* Moving MNIST digits bounce off the walls in any direction: "bouncing" = moving */
        if (motion == VG_MOT_BOUNCE && m != VG_MOT_STILL) m = VG_MOT_BOUNCE;
        add(r, "motion", vg_motion_names[motion], vg_motion_names[m]);
    } else {
        /* background and object colour on the nominal (brightest) frame */
        int bgi = nearest_colour(vg_bg_colours, VG_BG_COLOURS, tr.bg_rgb + tn * 3);
        add(r, "background", vg_bg_colours[spec.bg].name, vg_bg_colours[bgi].name);
        const vg_object *on = largest(&tr, tn);
        add(r, "colour", vg_obj_colours[spec.colour].name,
            on ? vg_obj_colours[nearest_colour(vg_obj_colours, VG_OBJ_COLOURS, on->rgb)].name : "none");
        /* shape: the best template fit (shape_fit), the median IoU over frames off the border */
        float *ex = tmp, *io = scr;
        int n = 0;
        for (int pass = 0; pass < 2 && n == 0; pass++)
            for (int64_t t = 0; t < f; t++) {
                const vg_object *o = largest(&tr, t);
                if (o && (pass || !o->border)) { shape_fit(io + 3 * n, &tr, t, o); n++; }
            }
        int sh = 0;
        float bi = -1;
        for (int s = 0; s < 3; s++) {
            for (int i = 0; i < n; i++) ex[i] = io[3 * i + s];
            float m = median(ex, n);
            if (m > bi) { bi = m; sh = s; }
        }
        add(r, "shape", vg_shape_names[spec.shape], n ? vg_shape_names[sh] : "none");
        /* size: diameter from the area under the found shape; small 0.22, big 0.34 of D */
        n = 0;
        for (int pass = 0; pass < 2 && n == 0; pass++)
            for (int64_t t = 0; t < f; t++) {
                const vg_object *o = largest(&tr, t);
                if (o && (pass || !o->border)) ex[n++] = sqrtf(o->area / (float)vg_shape_area_frac(sh)) / D;
            }
        float dm = median(ex, n);
        if (spec.size >= 0) /* the size is optional in a caption: no check when none is asked */
            add(r, "size", vg_size_names[spec.size], n ? vg_size_names[dm > 0.28f] : "none");
        for (int64_t t = 0; t < f; t++) {
            const vg_object *o = largest(&tr, t);
            have[t] = o != NULL;
            if (o) { cx[t] = o->cx; cy[t] = o->cy; }
        }
        int m = classify_motion(cx, cy, have, f, D, scr);
        add(r, "motion", vg_motion_names[spec.motion], vg_motion_names[m]);
        /* lighting: the renderer scales whole frames, 1 -> 0.45 or 0.55 -> 1 */
        double ratio = first > 0.5 ? last / first : 1.0;
        int li = ratio < 0.8 ? VG_LIGHT_DARKER : ratio > 1.25 ? VG_LIGHT_BRIGHTER : VG_LIGHT_NONE;
        add(r, "lighting", spec.light ? vg_light_names[spec.light] : "constant", li ? vg_light_names[li] : "constant");
    }
    int ok = 0;
    for (int i = 0; i < r->n_checks; i++) ok += r->checks[i].ok;
    r->adherence = r->n_checks ? (double)ok / r->n_checks : 0;
out:
    vg_tracks_free(&tr);
    free(buf); free(have);
    return st;
}
