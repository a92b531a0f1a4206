/* shapes.c - the captioned shape world (include/vidgen/shapes.h, data.h): vocabulary tables,
 * random specs, caption <-> spec, held-out combinations, and an anti-aliased renderer.
 * No external reference: a synthetic world in the style of Moving MNIST / CATER.
 * Layout: u8 clips [F][H][W][3]; float clips [3][F][H][W] in [-1,1].
 * Legend: F frames, H W pixels, d object diameter (units of min(H, W)). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/data.h"

/* Object and background colours: saturated hues for objects, darker/muted ones for the
 * backgrounds, so every allowed pair has a CIE76 distance >= 52 (see vg_shape_colours_ok). */
const vg_colour vg_obj_colours[VG_OBJ_COLOURS] = {
    {"red", {220, 30, 30}},    {"orange", {255, 140, 0}}, {"yellow", {255, 225, 0}},
    {"green", {40, 190, 40}},  {"cyan", {0, 215, 225}},   {"blue", {40, 90, 255}},
    {"purple", {150, 60, 220}}, {"pink", {255, 130, 200}}, {"white", {255, 255, 255}},
};
const vg_colour vg_bg_colours[VG_BG_COLOURS] = {
    {"black", {0, 0, 0}},     {"white", {255, 255, 255}}, {"gray", {128, 128, 128}},
    {"blue", {20, 40, 150}},  {"green", {20, 110, 40}},   {"red", {150, 20, 20}},
    {"yellow", {220, 190, 40}}, {"purple", {90, 30, 120}},
};
const char *const vg_shape_names[VG_SHAPES] = {"ball", "square", "triangle"};
const char *const vg_size_names[VG_SIZES] = {"small", "big"};
const char *const vg_motion_names[VG_MOTIONS] = {"moving left", "moving right", "moving up",
                                                 "moving down", "bouncing", "standing still"};
const char *const vg_light_names[VG_LIGHTS] = {"", "getting darker", "getting brighter"};

#define MIN_DELTA_E 52.0
#define SS 4                      /* supersampling: SS x SS samples per pixel */

/* ------------------------------------------------------------------ colours ----- */
static double srgb_to_linear(double c) {
    c /= 255.0;
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double lab_f(double t) { return t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116.0; }

static void srgb_to_lab(const uint8_t c[3], double lab[3]) {
    double r = srgb_to_linear(c[0]), g = srgb_to_linear(c[1]), b = srgb_to_linear(c[2]);
    double x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    double y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    double z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    double fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
    lab[0] = 116.0 * fy - 16.0;
    lab[1] = 500.0 * (fx - fy);
    lab[2] = 200.0 * (fy - fz);
}

double vg_srgb_delta_e(const uint8_t a[3], const uint8_t b[3]) {
    double la[3], lb[3];
    srgb_to_lab(a, la);
    srgb_to_lab(b, lb);
    return sqrt((la[0] - lb[0]) * (la[0] - lb[0]) + (la[1] - lb[1]) * (la[1] - lb[1]) +
                (la[2] - lb[2]) * (la[2] - lb[2]));
}

bool vg_shape_colours_ok(int colour, int bg) {
    if (colour < 0 || colour >= VG_OBJ_COLOURS || bg < 0 || bg >= VG_BG_COLOURS) return false;
    if (strcmp(vg_obj_colours[colour].name, vg_bg_colours[bg].name) == 0) return false;
    return vg_srgb_delta_e(vg_obj_colours[colour].rgb, vg_bg_colours[bg].rgb) >= MIN_DELTA_E;
}

/* ------------------------------------------------------------------ geometry ---- */
float vg_shape_diameter(int size) { return size ? 0.34f : 0.22f; }

/* Half extents of the bounding box in units of d. */
static void shape_half(int shape, float *hw, float *hh) {
    switch (shape) {
    case 1: *hw = *hh = 0.44f; break;                          /* square, side 0.88 */
    case 2: *hw = 0.575f; *hh = 0.5f * 0.8660254f * 1.15f; break; /* triangle, side 1.15 */
    default: *hw = *hh = 0.5f; break;                          /* ball */
    }
}

/* Reflects c into [lo, hi] (a ball bouncing between two walls). */
static float fold(float c, float lo, float hi) {
    float L = hi - lo;
    if (L <= 0.f) return 0.5f * (lo + hi);
    float u = fmodf(c - lo, 2.f * L);
    if (u < 0.f) u += 2.f * L;
    if (u > L) u = 2.f * L - u;
    return lo + u;
}

void vg_shape_geometry(const vg_shape_spec *s, int t, int h, int w, float *cx, float *cy,
                       float *half_w, float *half_h) {
    float m = (float)(h < w ? h : w), d = vg_shape_diameter(s->size) * m, hw, hh;
    shape_half(s->shape, &hw, &hh);
    hw *= d; hh *= d;                                  /* pixels */
    float lox = hw / w, hix = 1.f - hw / w, loy = hh / h, hiy = 1.f - hh / h; /* centre range */
    float x = s->x0, y = s->y0;
    switch (s->motion) {
    case VG_MOT_LEFT:  x = fold(s->x0 - s->speed * t, lox, hix); y = fold(y, loy, hiy); break;
    case VG_MOT_RIGHT: x = fold(s->x0 + s->speed * t, lox, hix); y = fold(y, loy, hiy); break;
    case VG_MOT_UP:    y = fold(s->y0 - s->speed * t, loy, hiy); x = fold(x, lox, hix); break;
    case VG_MOT_DOWN:  y = fold(s->y0 + s->speed * t, loy, hiy); x = fold(x, lox, hix); break;
    case VG_MOT_BOUNCE: {
        /* y0 is the apex; the floor position puts the object's bottom on the last row. */
        float floor_y = hiy, apex = fold(s->y0, loy, hiy), A = floor_y - apex;
        double tau = (double)t * s->speed + s->phase;
        tau -= floor(tau);
        y = floor_y - A * (float)(4.0 * tau * (1.0 - tau));
        x = fold(x, lox, hix);
        break;
    }
    default: x = fold(x, lox, hix); y = fold(y, loy, hiy); break;
    }
    *cx = x * w; *cy = y * h; *half_w = hw; *half_h = hh;
}

double vg_shape_area_px(const vg_shape_spec *s, int h, int w) {
    double m = h < w ? h : w, d = vg_shape_diameter(s->size) * m;
    return vg_shape_area_frac(s->shape) * d * d;
}

float vg_shape_light(const vg_shape_spec *s, int t, int frames) {
    float a = frames > 1 ? (float)t / (float)(frames - 1) : 0.f;
    if (s->light == VG_LIGHT_DARKER) return 1.f + (0.45f - 1.f) * a;
    if (s->light == VG_LIGHT_BRIGHTER) return 0.55f + (1.f - 0.55f) * a;
    return 1.f;
}

/* ------------------------------------------------------------------ sampling ---- */
static bool spec_valid(const vg_shape_spec *s) {
    return s->colour >= 0 && s->colour < VG_OBJ_COLOURS && s->bg >= 0 && s->bg < VG_BG_COLOURS &&
           s->shape >= 0 && s->shape < VG_SHAPES && s->size >= 0 && s->size < VG_SIZES &&
           s->motion >= 0 && s->motion < VG_MOTIONS && s->light >= 0 && s->light < VG_LIGHTS;
}

static float unif(vg_rng *r, float a, float b) { return a + (b - a) * (float)vg_rng_uniform(r); }

vg_status vg_shape_sample(vg_shape_spec *s, vg_rng *r, int frames, const vg_heldout *held) {
    if (frames <= 0) frames = 16;
    vg_shape_spec c = {0};
    int tries;
    for (tries = 0; tries < 10000; tries++) {
        c.colour = vg_rng_int(r, VG_OBJ_COLOURS);
        c.bg = vg_rng_int(r, VG_BG_COLOURS);
        c.shape = vg_rng_int(r, VG_SHAPES);
        c.size = vg_rng_int(r, VG_SIZES);
        c.motion = vg_rng_int(r, VG_MOTIONS);
        c.light = vg_rng_int(r, VG_LIGHTS);
        if (vg_shape_colours_ok(c.colour, c.bg) && !vg_heldout_match(held, &c)) break;
    }
    if (tries == 10000)
        return vg_fail(VG_ERR_ARG, "shape sampling: the held-out list (%d entries) excludes every combination",
                       held ? held->n : 0);
    /* Continuous parameters, in frame units of a square frame. */
    float d = vg_shape_diameter(c.size), hw, hh;
    shape_half(c.shape, &hw, &hh);
    float lox = hw * d, hix = 1.f - hw * d, loy = hh * d, hiy = 1.f - hh * d;
    c.x0 = unif(r, lox, hix);
    c.y0 = unif(r, loy, hiy);
    c.speed = 0.f;
    c.phase = 0.f;
    if (c.motion <= VG_MOT_DOWN) {
        bool horiz = c.motion == VG_MOT_LEFT || c.motion == VG_MOT_RIGHT;
        float lo = horiz ? lox : loy, hi = horiz ? hix : hiy, L = hi - lo;
        float travel = unif(r, 0.25f, 0.6f) * L;     /* over the whole clip */
        c.speed = travel / (float)(frames > 1 ? frames - 1 : 15);
        /* The start is uniform over the span, except that the first half of the travel must fit:
         * a clip whose wall comes sooner reaches it in its second half and bounces back (fold;
         * about a quarter of the clips), so the model has seen what happens at a wall (clips
         * longer than the training clips meet one) while the caption's direction holds for most
         * of every clip. Where the object starts says little about where it goes, so only the
         * caption can tell the direction. */
        bool back = c.motion == VG_MOT_LEFT || c.motion == VG_MOT_UP;
        float gap = unif(r, 0.5f * travel, L);
        float start = back ? lo + gap : hi - gap;
        if (horiz) c.x0 = start; else c.y0 = start;
    } else if (c.motion == VG_MOT_BOUNCE) {
        int period = 10 + vg_rng_int(r, 7);           /* 10..16 frames */
        float A = unif(r, 0.45f, 0.85f) * (hiy - loy); /* apex height */
        c.y0 = hiy - A;
        c.speed = 1.f / (float)period;
        c.phase = (float)vg_rng_int(r, period) / (float)period;
    }
    *s = c;
    return VG_OK;
}

/* ------------------------------------------------------------------ captions ---- */
int vg_shape_caption(char *buf, size_t cap, const vg_shape_spec *s) {
    if (!spec_valid(s)) {
        vg_fail(VG_ERR_ARG, "shape caption: spec index out of range");
        return -1;
    }
    int n = snprintf(buf, cap, "a %s %s %s %s on a %s background%s%s", vg_size_names[s->size],
                     vg_obj_colours[s->colour].name, vg_shape_names[s->shape], vg_motion_names[s->motion],
                     vg_bg_colours[s->bg].name, s->light ? ", " : "", vg_light_names[s->light]);
    if (n < 0 || (size_t)n >= cap) {
        vg_fail(VG_ERR_ARG, "shape caption: buffer of %zu bytes too small (need %d)", cap, n + 1);
        return -1;
    }
    return n;
}

enum { MAX_TOK = 24, TOK_LEN = 24 };
typedef struct { int n; char w[MAX_TOK][TOK_LEN]; } tokens;

/* Lower-cased words; ',' '.' and blanks separate. Words too long or too many: error. */
static vg_status tokenize(tokens *t, const char *s, const char *what) {
    t->n = 0;
    while (*s) {
        while (*s && (isspace((unsigned char)*s) || *s == ',' || *s == '.')) s++;
        if (!*s) break;
        const char *b = s;
        while (*s && !isspace((unsigned char)*s) && *s != ',' && *s != '.') s++;
        size_t len = (size_t)(s - b);
        if (t->n == MAX_TOK) return vg_fail(VG_ERR_ARG, "%s: too many words (at most %d)", what, MAX_TOK);
        if (len >= TOK_LEN) return vg_fail(VG_ERR_ARG, "%s: unknown word '%.*s'", what, (int)len, b);
        for (size_t i = 0; i < len; i++) t->w[t->n][i] = (char)tolower((unsigned char)b[i]);
        t->w[t->n][len] = 0;
        t->n++;
    }
    return VG_OK;
}

static int find_obj_colour(const char *w) {
    for (int i = 0; i < VG_OBJ_COLOURS; i++) if (!strcmp(w, vg_obj_colours[i].name)) return i;
    return -1;
}
static int find_bg_colour(const char *w) {
    for (int i = 0; i < VG_BG_COLOURS; i++) if (!strcmp(w, vg_bg_colours[i].name)) return i;
    return -1;
}
static int find_name(const char *w, const char *const *names, int n) {
    for (int i = 0; i < n; i++) if (!strcmp(w, names[i])) return i;
    return -1;
}

/* Motion at tokens i.. ; returns the motion and advances *i, or -1. */
static int match_motion(const tokens *t, int *i) {
    const char *a = *i < t->n ? t->w[*i] : "", *b = *i + 1 < t->n ? t->w[*i + 1] : "";
    for (int m = 0; m < VG_MOTIONS; m++) {
        const char *name = vg_motion_names[m], *sp = strchr(name, ' ');
        if (!sp && !strcmp(name, a)) { *i += 1; return m; }
        if (sp && strlen(a) == (size_t)(sp - name) && !strncmp(name, a, (size_t)(sp - name)) && !strcmp(sp + 1, b)) {
            *i += 2;
            return m;
        }
    }
    return -1;
}
static int match_light(const tokens *t, int *i) {
    if (*i + 1 >= t->n || strcmp(t->w[*i], "getting")) return -1;
    for (int l = 1; l < VG_LIGHTS; l++)
        if (!strcmp(vg_light_names[l] + strlen("getting "), t->w[*i + 1])) { *i += 2; return l; }
    return -1;
}

static vg_status expect_word(const tokens *t, int i, const char *want, const char *after) {
    if (i >= t->n) return vg_fail(VG_ERR_ARG, "caption: missing word '%s' after '%s'", want, after);
    if (strcmp(t->w[i], want))
        return vg_fail(VG_ERR_ARG, "caption: unknown word '%s' where '%s' was expected", t->w[i], want);
    return VG_OK;
}

vg_status vg_shape_parse(vg_shape_spec *s, const char *caption) {
    tokens t;
    vg_status st = tokenize(&t, caption ? caption : "", "caption");
    if (st) return st;
    vg_shape_spec c = {0};
    c.x0 = c.y0 = 0.5f; c.speed = 0.03f; c.phase = 0.f;
    int i = 0;
    /* "a" (or "an": "an orange ball"), then an optional size */
    if (t.n > 0 && !strcmp(t.w[0], "an")) i++;
    else if ((st = expect_word(&t, i++, "a", "the start"))) return st;
    if (i >= t.n) return vg_fail(VG_ERR_ARG, "caption: missing colour after '%s'", t.w[i - 1]);
    c.size = find_name(t.w[i], vg_size_names, VG_SIZES);
    if (c.size >= 0) i++;
    if (i >= t.n) return vg_fail(VG_ERR_ARG, "caption: missing colour after '%s'", t.w[i - 1]);
    if ((c.colour = find_obj_colour(t.w[i])) < 0)
        return vg_fail(VG_ERR_ARG, "caption: unknown word '%s' where %s was expected "
                       "(red orange yellow green cyan blue purple pink white)", t.w[i],
                       c.size < 0 ? "a size (small|big) or an object colour" : "an object colour");
    i++;
    if (i >= t.n) return vg_fail(VG_ERR_ARG, "caption: missing shape after '%s'", t.w[i - 1]);
    if ((c.shape = find_name(t.w[i], vg_shape_names, VG_SHAPES)) < 0)
        return vg_fail(VG_ERR_ARG, "caption: unknown word '%s' where a shape (ball square triangle) was expected", t.w[i]);
    i++;
    if (i >= t.n) return vg_fail(VG_ERR_ARG, "caption: missing motion after '%s'", t.w[i - 1]);
    if ((c.motion = match_motion(&t, &i)) < 0) {
        const char *bad = t.w[i];
        if (!strcmp(bad, "moving") || !strcmp(bad, "standing")) bad = i + 1 < t.n ? t.w[i + 1] : "(end)";
        return vg_fail(VG_ERR_ARG, "caption: unknown word '%s' where a motion (moving left|right|up|down, "
                       "bouncing, standing still) was expected", bad);
    }
    if ((st = expect_word(&t, i++, "on", "the motion"))) return st;
    if ((st = expect_word(&t, i++, "a", "on"))) return st;
    if (i >= t.n) return vg_fail(VG_ERR_ARG, "caption: missing background colour after 'on a'");
    if ((c.bg = find_bg_colour(t.w[i])) < 0)
        return vg_fail(VG_ERR_ARG, "caption: unknown word '%s' where a background colour "
                       "(black white gray blue green red yellow purple) was expected", t.w[i]);
    if ((st = expect_word(&t, i + 1, "background", t.w[i]))) return st;
    i += 2;
    c.light = VG_LIGHT_NONE;
    if (i < t.n) {
        if ((c.light = match_light(&t, &i)) < 0) {
            const char *bad = strcmp(t.w[i], "getting") ? t.w[i] : (i + 1 < t.n ? t.w[i + 1] : "(end)");
            return vg_fail(VG_ERR_ARG, "caption: unknown word '%s' where 'getting darker|brighter' was expected", bad);
        }
    }
    if (i < t.n) return vg_fail(VG_ERR_ARG, "caption: unknown word '%s' after the end of the caption", t.w[i]);
    *s = c;
    return VG_OK;
}

/* ------------------------------------------------------------------ held out ---- */
vg_status vg_heldout_add_combo(vg_heldout *h, vg_shape_combo c) {
    if (h->n >= VG_HELDOUT_MAX) return vg_fail(VG_ERR_ARG, "held-out list full (%d entries)", VG_HELDOUT_MAX);
    if (c.colour < -1 || c.colour >= VG_OBJ_COLOURS || c.bg < -1 || c.bg >= VG_BG_COLOURS ||
        c.shape < -1 || c.shape >= VG_SHAPES || c.size < -1 || c.size >= VG_SIZES ||
        c.motion < -1 || c.motion >= VG_MOTIONS || c.light < -1 || c.light >= VG_LIGHTS)
        return vg_fail(VG_ERR_ARG, "held-out combination: index out of range");
    h->item[h->n++] = c;
    return VG_OK;
}

static vg_status set_once(int *field, int v, const char *word, const char *phrase) {
    if (*field != -1) return vg_fail(VG_ERR_ARG, "held-out '%s': '%s' sets a field given twice", phrase, word);
    *field = v;
    return VG_OK;
}

vg_status vg_heldout_add(vg_heldout *h, const char *phrase) {
    tokens t;
    vg_status st = tokenize(&t, phrase ? phrase : "", "held-out phrase");
    if (st) return st;
    vg_shape_combo c = {-1, -1, -1, -1, -1, -1};
    int set = 0;
    for (int i = 0; i < t.n;) {
        const char *w = t.w[i];
        int v, j = i;
        if (!strcmp(w, "a") || !strcmp(w, "an") || !strcmp(w, "on") || !strcmp(w, "the")) { i++; continue; }
        if ((v = find_name(w, vg_size_names, VG_SIZES)) >= 0) { st = set_once(&c.size, v, w, phrase); i++; }
        else if ((v = find_name(w, vg_shape_names, VG_SHAPES)) >= 0) { st = set_once(&c.shape, v, w, phrase); i++; }
        else if ((v = match_motion(&t, &j)) >= 0) { st = set_once(&c.motion, v, w, phrase); i = j; }
        else if ((v = match_light(&t, &j)) >= 0) { st = set_once(&c.light, v, w, phrase); i = j; }
        else if (i + 1 < t.n && !strcmp(t.w[i + 1], "background") && (v = find_bg_colour(w)) >= 0) {
            st = set_once(&c.bg, v, w, phrase); i += 2;
        } else if ((v = find_obj_colour(w)) >= 0) { st = set_once(&c.colour, v, w, phrase); i++; }
        else if ((v = find_bg_colour(w)) >= 0) { st = set_once(&c.bg, v, w, phrase); i++; }
        else return vg_fail(VG_ERR_ARG, "held-out '%s': unknown word '%s'", phrase, w);
        if (st) return st;
        set++;
    }
    if (!set) return vg_fail(VG_ERR_ARG, "held-out '%s': no caption words", phrase ? phrase : "");
    return vg_heldout_add_combo(h, c);
}

bool vg_heldout_match(const vg_heldout *h, const vg_shape_spec *s) {
    if (!h) return false;
    for (int i = 0; i < h->n; i++) {
        const vg_shape_combo *c = &h->item[i];
        if ((c->colour < 0 || c->colour == s->colour) && (c->bg < 0 || c->bg == s->bg) &&
            (c->shape < 0 || c->shape == s->shape) && (c->size < 0 || c->size == s->size) &&
            (c->motion < 0 || c->motion == s->motion) && (c->light < 0 || c->light == s->light))
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------ rendering --- */
/* Is the point (dx, dy) (pixels from the centre) inside the shape? */
static inline bool inside(int shape, float dx, float dy, float hw, float hh) {
    if (shape == 0) return dx * dx + dy * dy <= hw * hw;
    if (shape == 1) return fabsf(dx) <= hw && fabsf(dy) <= hh;
    /* apex up at (0, -hh), base from (-hw, hh) to (hw, hh) */
    return dy <= hh && fabsf(dx) * (2.f * hh) <= hw * (dy + hh);
}

bool vg_shape_inside(int shape, float dx, float dy, float d) {
    float hw, hh;
    shape_half(shape, &hw, &hh);
    return inside(shape, dx, dy, hw * d, hh * d);
}

double vg_shape_area_frac(int shape) {
    float hw, hh;
    shape_half(shape, &hw, &hh);
    if (shape == 0) return 3.14159265358979 * 0.25;
    return (shape == 1 ? 4.0 : 2.0) * hw * hh;
}

float vg_shape_centroid_dy(int shape) {
    float hw, hh;
    shape_half(shape, &hw, &hh);
    return shape == 2 ? hh / 3.f : 0.f;
}

vg_status vg_shape_render_u8(uint8_t *rgb, const vg_shape_spec *s, int frames, int h, int w) {
    if (!spec_valid(s)) return vg_fail(VG_ERR_ARG, "shape render: spec index out of range");
    if (frames < 1 || h < 8 || w < 8 || h > 8192 || w > 8192)
        return vg_fail(VG_ERR_ARG, "shape render: F=%d H=%d W=%d, expected F >= 1 and 8 <= H, W <= 8192",
                       frames, h, w);
    const uint8_t *oc = vg_obj_colours[s->colour].rgb, *bc = vg_bg_colours[s->bg].rgb;
    size_t plane = (size_t)h * w * 3;
#ifdef _OPENMP
    #pragma omp parallel for schedule(static)
#endif
    for (int f = 0; f < frames; f++) {
        uint8_t *fr = rgb + (size_t)f * plane;
        float cx, cy, hw, hh, L = vg_shape_light(s, f, frames);
        vg_shape_geometry(s, f, h, w, &cx, &cy, &hw, &hh);
        uint8_t bgl[3];
        for (int c = 0; c < 3; c++) {
            float v = (float)bc[c] * L + 0.5f;
            bgl[c] = (uint8_t)(v > 255.f ? 255.f : v);
        }
        int x0 = (int)floorf(cx - hw) - 1, x1 = (int)ceilf(cx + hw) + 1;
        int y0 = (int)floorf(cy - hh) - 1, y1 = (int)ceilf(cy + hh) + 1;
        for (int y = 0; y < h; y++) {
            uint8_t *row = fr + (size_t)y * w * 3;
            for (int x = 0; x < w; x++) {
                int n = 0;
                if (y >= y0 && y <= y1 && x >= x0 && x <= x1)
                    for (int sy = 0; sy < SS; sy++)
                        for (int sx = 0; sx < SS; sx++)
                            n += inside(s->shape, (float)x + (sx + 0.5f) / SS - cx,
                                        (float)y + (sy + 0.5f) / SS - cy, hw, hh);
                if (n == 0) { row[3 * x] = bgl[0]; row[3 * x + 1] = bgl[1]; row[3 * x + 2] = bgl[2]; continue; }
                for (int c = 0; c < 3; c++) {
                    float v = ((float)bc[c] * (SS * SS - n) + (float)oc[c] * n) * (L / (SS * SS)) + 0.5f;
                    row[3 * x + c] = (uint8_t)(v > 255.f ? 255.f : v);
                }
            }
        }
    }
    return VG_OK;
}

vg_status vg_shape_render(float *clip, uint8_t *scratch, const vg_shape_spec *s, int frames, int h, int w) {
    if (frames < 1 || h < 8 || w < 8 || h > 8192 || w > 8192)
        return vg_fail(VG_ERR_ARG, "shape render: F=%d H=%d W=%d, expected F >= 1 and 8 <= H, W <= 8192",
                       frames, h, w);
    size_t n = (size_t)frames * h * w;
    uint8_t *buf = scratch ? scratch : malloc(n * 3);
    if (!buf) return vg_fail(VG_ERR_OOM, "shape render: %zu bytes", n * 3);
    vg_status st = vg_shape_render_u8(buf, s, frames, h, w);
    if (st == VG_OK)
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < n; i++) clip[(size_t)c * n + i] = (float)buf[3 * i + c] / 127.5f - 1.f;
    if (!scratch) free(buf);
    return st;
}
