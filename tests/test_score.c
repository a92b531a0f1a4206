/* test_score.c - `vidgen score` metrics on constructed clips with known answers: optical flow
 * on analytic textures with a known translation, VBench formulas, and each metric moving the
 * right way (with a stated margin) on static / flickering / teleporting / frozen / colour-drifting
 * clips. Clips are uint8 RGB [F][H][W][3]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "test.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#include "vidgen/data.h"
#include "vidgen/rng.h"
#include "vidgen/score.h"

/* analytic texture (sum of sinusoids): exact at sub-pixel shifts */
static float tex(float x, float y) {
    return 128 + 40 * sinf(0.31f * x + 0.19f * y) + 30 * sinf(0.17f * x - 0.41f * y + 1) +
           25 * sinf(0.53f * x + 0.07f * y + 2);
}

VG_TEST(score_flow_translation) {
    /* b(x) = a(x - d)  =>  flow a->b = d. Interior pixels (4 px from the edge). */
    const int64_t H = 48, W = 64;
    const float ds[3][2] = {{1.7f, -0.8f}, {-3.2f, 2.5f}, {0.3f, 0.0f}};
    float *a = malloc(H * W * 4), *b = malloc(H * W * 4), *fl = malloc(H * W * 8), *bk = malloc(H * W * 8);
    uint8_t *valid = malloc(H * W);
    for (int k = 0; k < 3; k++) {
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                a[y * W + x] = tex((float)x, (float)y);
                b[y * W + x] = tex((float)x - ds[k][0], (float)y - ds[k][1]);
            }
        CHECK_OK(vg_flow(fl, a, b, H, W, NULL));
        CHECK_OK(vg_flow(bk, b, a, H, W, NULL));
        double epe = 0;
        int64_t n = 0;
        for (int64_t y = 6; y < H - 6; y++)
            for (int64_t x = 6; x < W - 6; x++) {
                int64_t i = y * W + x;
                epe += hypot(fl[2 * i] - ds[k][0], fl[2 * i + 1] - ds[k][1]);
                n++;
            }
        epe /= (double)n;
        /* margin: mean end-point error under 0.1 px on a smooth texture (true motion known) */
        CHECKF(epe < 0.1, "shift (%g,%g): mean EPE %.3f px", ds[k][0], ds[k][1], epe);
        int64_t nv = vg_flow_occlusion(valid, fl, bk, H, W);
        /* no occlusion inside: >= 90% of interior-mapped pixels pass the fb check */
        CHECKF(nv > (H - 8) * (W - 8) * 9 / 10, "fb-valid %lld of %lld", (long long)nv, (long long)(H * W));
    }
    free(a); free(b); free(fl); free(bk); free(valid);
}

/* ---- constructed clips ------------------------------------------------------------------ */

enum { SHAPE_DISC, SHAPE_SQUARE, SHAPE_TRI };
typedef struct { int shape; float cx, cy, r; float rgb[3]; } obj_t;

static bool inside(const obj_t *o, float x, float y) {
    float dx = x - o->cx, dy = y - o->cy;
    if (o->shape == SHAPE_DISC) return dx * dx + dy * dy <= o->r * o->r;
    if (o->shape == SHAPE_SQUARE) return fabsf(dx) <= o->r && fabsf(dy) <= o->r;
    /* upright equilateral triangle inscribed in the circle of radius r: apex up, base at cy + r/2 */
    float top = o->cy - o->r, base = o->cy + 0.5f * o->r;
    if (y < top || y > base) return false;
    return fabsf(dx) <= (y - top) / (base - top) * o->r * 0.8660254f;
}

/* One frame: background (flat colour, or the analytic texture when textured) plus objects,
 * anti-aliased with 4x4 supersampling. pan shifts the texture. */
static void render(uint8_t *img, int64_t H, int64_t W, const float bg[3], bool textured, float pan,
                   const obj_t *objs, int n) {
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            float base[3];
            for (int k = 0; k < 3; k++) base[k] = textured ? bg[k] + 0.12f * (tex((float)x - pan, (float)y) - 128) : bg[k];
            float acc[3] = {0, 0, 0};
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++) {
                    float px = (float)x + (sx + 0.5f) / 4 - 0.5f, py = (float)y + (sy + 0.5f) / 4 - 0.5f;
                    const float *c = base;
                    for (int i = 0; i < n; i++) if (inside(&objs[i], px, py)) c = objs[i].rgb;
                    for (int k = 0; k < 3; k++) acc[k] += c[k] / 16;
                }
            for (int k = 0; k < 3; k++) {
                float v = roundf(acc[k]);
                img[(y * W + x) * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

enum { CF = 16, CH = 48, CW = 64 };
static const float GRAY[3] = {110, 110, 110}, RED[3] = {230, 30, 30}, BLUE[3] = {30, 60, 230};

/* A disc of radius 7 moving vx px/frame from x0 over a textured background; teleport adds
 * (0, jump) from frame jump_at on. */
static uint8_t *moving_clip(float vx, int jump_at, float jump, bool textured) {
    uint8_t *c = malloc(CF * CH * CW * 3);
    for (int t = 0; t < CF; t++) {
        obj_t o = {SHAPE_DISC, 14 + vx * t, 16 + (jump_at >= 0 && t >= jump_at ? jump : 0), 7, {RED[0], RED[1], RED[2]}};
        render(c + (size_t)t * CH * CW * 3, CH, CW, GRAY, textured, 0, &o, 1);
    }
    return c;
}

static vg_score_report score_of(const uint8_t *c, int64_t f) {
    vg_score_report r;
    vg_status st = vg_score_clip(&r, c, f, CH, CW, NULL);
    if (st != VG_OK) { printf("    score failed: %s\n", vg_last_error()); memset(&r, 0, sizeof(r)); r.f = -1; }
    return r;
}

static int count_events(const vg_score_report *r, vg_event_kind k, int64_t frame) {
    int n = 0;
    for (int i = 0; i < r->n_events_stored; i++)
        if (r->events[i].kind == k && (frame < 0 || r->events[i].frame == frame)) n++;
    return n;
}

VG_TEST(score_vbench_formulas) {
    /* consistency: features [1,0],[1,0],[0,1]: t=1 -> (1+1)/2, t=2 -> (0+0)/2 => 0.5 */
    const float feat[6] = {1, 0, 1, 0, 0, 1};
    CHECK(fabs(vg_score_consistency(feat, 3, 2) - 0.5) < 1e-12);
    CHECK(vg_score_consistency(feat, 1, 2) == 1.0);
    /* Python's round: half to even (VBench count_num) */
    CHECK(vg_round_half_even(2.5) == 2 && vg_round_half_even(3.5) == 4 && vg_round_half_even(7.5) == 8);
    /* flicker: frames 10,30,10 everywhere -> MAE 20 -> (255-20)/255 */
    uint8_t c[3 * 8 * 8 * 3];
    for (int t = 0; t < 3; t++) memset(c + t * 192, t == 1 ? 30 : 10, 192);
    CHECK(fabs(vg_score_flicker_mae(c, 3, 8, 8) - 20.0) < 1e-12);
    /* lighting second difference: 10,30,10 -> d2 = -40 over one interior frame */
    CHECK(fabs(vg_score_light_d2(c, 3, 8, 8) - 40.0) < 1e-9);
}

VG_TEST(score_static_clip) {
    uint8_t *c = moving_clip(0, -1, 0, true);
    vg_score_report r = score_of(c, CF);
    free(c);
    CHECK(r.f == CF);
    /* a perfectly static clip: every consistency metric at its best, and not dynamic */
    CHECKF(r.flicker_mae == 0 && r.flicker_score == 1.0, "flicker %g", r.flicker_mae);
    CHECKF(r.is_static, "static flag: top2 %g", r.static_top2);
    CHECKF(!r.dynamic && r.dyn_score == 0, "dynamic: max_rad %g thres %g", r.dyn_max_rad, r.dyn_thres);
    CHECK(r.light_d2_rms == 0 && r.light_score == 1.0);
    CHECKF(r.bg_jitter == 0 && r.bg_drift == 0 && r.bg_hist > 0.9999, "bg %g %g %g", r.bg_jitter, r.bg_drift, r.bg_hist);
    CHECKF(r.warp_err < 1e-6, "warp %g", r.warp_err);
    CHECKF(r.n_objects == 1 && r.id_frac == 1.0, "objects %d id %g", r.n_objects, r.id_frac);
    CHECKF(r.n_events == 0, "events %lld", (long long)r.n_events);
}

VG_TEST(score_injected_flicker) {
    /* odd frames +24 grey levels: flicker and lighting flicker must drop; a slow linear fade of
     * the same total size must pass the lighting metric (second difference) */
    uint8_t *c = moving_clip(0, -1, 0, true), *fade = moving_clip(0, -1, 0, true);
    int64_t n = CH * CW * 3;
    for (int t = 0; t < CF; t++)
        for (int64_t i = 0; i < n; i++) {
            if (t % 2) c[t * n + i] = (uint8_t)(c[t * n + i] + 24 > 255 ? 255 : c[t * n + i] + 24);
            int v = fade[t * n + i] + 2 * t; /* +2 per frame, linear */
            fade[t * n + i] = (uint8_t)(v > 255 ? 255 : v);
        }
    vg_score_report r = score_of(c, CF), rf = score_of(fade, CF);
    free(c); free(fade);
    CHECK(r.f == CF && rf.f == CF);
    /* margin: VBench flicker score falls by >= 0.08 (MAE ~24 on every pair) */
    CHECKF(r.flicker_score < 1.0 - 0.08, "flicker score %g", r.flicker_score);
    CHECKF(r.light_score < 0.05 && rf.light_score > 0.95, "light flicker %g fade %g", r.light_score, rf.light_score);
    /* warping error rises: every pixel differs by 24/255 in each channel -> ~0.013 on half the pairs */
    CHECKF(r.warp_err > 0.005 && rf.warp_err < 0.001, "warp %g fade %g", r.warp_err, rf.warp_err);
    /* background histogram consistency drops by >= 0.1 */
    CHECKF(r.bg_hist < 0.9, "bg hist %g", r.bg_hist);
    CHECKF(!r.dynamic, "flicker is not motion");
    CHECKF(r.interp_score < 0.97 && rf.interp_score > 0.99, "interp %g fade %g", r.interp_score, rf.interp_score);
}

VG_TEST(score_teleport) {
    uint8_t *c = moving_clip(2, 8, 20, false), *ok = moving_clip(2, -1, 0, false);
    vg_score_report r = score_of(c, CF), ro = score_of(ok, CF);
    free(c); free(ok);
    CHECK(r.f == CF && ro.f == CF);
    CHECKF(ro.n_events == 0, "smooth clip has %lld events", (long long)ro.n_events);
    CHECKF(count_events(&r, VG_EV_JUMP, 8) == 1, "jump at frame 8: %lld events, first %s at %lld", (long long)r.n_events,
           r.n_events_stored ? vg_event_name(r.events[0].kind) : "-", r.n_events_stored ? (long long)r.events[0].frame : -1LL);
    CHECKF(r.n_events == 1 && r.events_score <= 0.5, "events %lld", (long long)r.n_events);
    CHECKF(r.events[0].size > 15, "jump size %g", r.events[0].size);
    /* interpolation misses the jump frame: score lower by a visible margin */
    CHECKF(r.interp_score < ro.interp_score - 0.002, "interp %g vs %g", r.interp_score, ro.interp_score);
    CHECKF(ro.jitter_px < 0.05, "smooth jitter %g", ro.jitter_px);
    CHECKF(ro.dynamic && ro.id_frac == 1.0, "moving clip: dynamic %d id %g", ro.dynamic, ro.id_frac);
}

VG_TEST(score_frozen_clip) {
    /* every frame = frame 0 of the moving clip: consistency perfect, but dynamic degree 0 */
    uint8_t *mv = moving_clip(2.5f, -1, 0, true), *fr = malloc(CF * CH * CW * 3);
    for (int t = 0; t < CF; t++) memcpy(fr + (size_t)t * CH * CW * 3, mv, CH * CW * 3);
    vg_score_report r = score_of(fr, CF), rm = score_of(mv, CF);
    free(mv); free(fr);
    CHECK(r.f == CF && rm.f == CF);
    CHECKF(!r.dynamic && rm.dynamic, "frozen dynamic %d, moving %d (%g vs thres %g)", r.dynamic, rm.dynamic, rm.dyn_max_rad, rm.dyn_thres);
    CHECKF(r.dyn_max_rad < 0.05 && rm.dyn_max_rad > 2.0, "max_rad frozen %g moving %g", r.dyn_max_rad, rm.dyn_max_rad);
    CHECK(r.flicker_score == 1.0 && r.is_static && !rm.is_static);
    /* our flow finds the disc's 2.5 px/frame: the top-5% magnitude within 0.5 px of it */
    CHECKF(fabs(rm.dyn_max_rad - 2.5) < 0.5, "moving max_rad %g", rm.dyn_max_rad);
    /* warping error stays small on a correctly moving clip (fb check masks the occlusions) */
    CHECKF(rm.warp_err < 0.002, "warp on true motion %g", rm.warp_err);
}

VG_TEST(score_colour_drift) {
    /* a disc whose colour slides from red to blue loses its identity halfway; a constant one keeps it.
     * A frame-wide fade (x1 -> x0.6) must not count as a colour change (gain normalisation). */
    int64_t n = CH * CW * 3;
    uint8_t *c = malloc(CF * n), *k = malloc(CF * n), *fd = malloc(CF * n);
    for (int t = 0; t < CF; t++) {
        float a = (float)t / (CF - 1);
        obj_t o = {SHAPE_DISC, 14 + 2.0f * t, 20, 7, {RED[0] + a * (BLUE[0] - RED[0]), RED[1] + a * (BLUE[1] - RED[1]), RED[2] + a * (BLUE[2] - RED[2])}};
        render(c + t * n, CH, CW, GRAY, false, 0, &o, 1);
        obj_t p = {SHAPE_DISC, 14 + 2.0f * t, 20, 7, {RED[0], RED[1], RED[2]}};
        render(k + t * n, CH, CW, GRAY, false, 0, &p, 1);
        for (int64_t i = 0; i < n; i++) fd[t * n + i] = (uint8_t)lroundf(k[t * n + i] * (1.0f - 0.4f * a));
    }
    vg_score_report r = score_of(c, CF), rk = score_of(k, CF), rf = score_of(fd, CF);
    free(c); free(k); free(fd);
    CHECK(r.f == CF && rk.f == CF && rf.f == CF);
    CHECKF(rk.id_frac == 1.0 && rk.id_max_de < 2, "constant: id %g dE %g", rk.id_frac, rk.id_max_de);
    /* margin: the drifting disc keeps identity on at most 60% of frames, max dE > 40 */
    CHECKF(r.id_frac < 0.6 && r.id_max_de > 40, "drift: id %g dE %g", r.id_frac, r.id_max_de);
    CHECKF(rf.id_frac == 1.0 && rf.id_max_de < 8, "fade: id %g dE %g", rf.id_frac, rf.id_max_de);
    CHECKF(rf.light_score > 0.9, "fade light score %g", rf.light_score);
}

/* 3x3 box blur then Gaussian noise (sigma, Philox), in place; tmp: one frame. */
static void degrade(uint8_t *c, int64_t f, int64_t h, int64_t w, float sigma, bool blur, uint64_t seed, uint8_t *tmp) {
    for (int64_t t = 0; t < f; t++) {
        uint8_t *p = c + t * h * w * 3;
        if (blur) {
            memcpy(tmp, p, (size_t)(h * w * 3));
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++)
                    for (int k = 0; k < 3; k++) {
                        int s = 0, n = 0;
                        for (int dy = -1; dy <= 1; dy++)
                            for (int dx = -1; dx <= 1; dx++) {
                                int64_t yy = y + dy, xx = x + dx;
                                if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
                                s += tmp[(yy * w + xx) * 3 + k]; n++;
                            }
                        p[(y * w + x) * 3 + k] = (uint8_t)((s + n / 2) / n);
                    }
        }
        vg_rng rng;
        vg_rng_seed(&rng, seed * 1000 + (uint64_t)t);
        for (int64_t i = 0; i < h * w * 3; i++) {
            /* approximately normal: Irwin-Hall sum of four 16-bit uniforms, variance 1 */
            uint64_t u = vg_rng_u64(&rng);
            float z = ((float)(u & 0xffff) + (float)(u >> 16 & 0xffff) + (float)(u >> 32 & 0xffff) + (float)(u >> 48)) / 65536.0f - 2.0f;
            float v = p[i] + sigma * 1.7320508f * z + 0.5f;
            p[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : (int)v);
        }
    }
}

/* Ragged edges, as a small generator draws them: each pixel just outside the object takes
 * the colour of an object neighbour (a fringe) and each pixel just inside takes the
 * background's (a notch), each with probability prob. The background is read at the frame
 * corner farthest from the object's centre. */
static void ragged(uint8_t *c, const vg_shape_spec *s, int64_t f, int64_t h, int64_t w, float prob, uint64_t seed, uint8_t *tmp) {
    for (int64_t t = 0; t < f; t++) {
        uint8_t *p = c + t * h * w * 3;
        memcpy(tmp, p, (size_t)(h * w * 3));
        float cx, cy, hw, hh;
        vg_shape_geometry(s, (int)t, (int)h, (int)w, &cx, &cy, &hw, &hh);
        int64_t bx = cx < 0.5f * w ? w - 1 : 0, by = cy < 0.5f * h ? h - 1 : 0;
        const uint8_t *bg = tmp + (by * w + bx) * 3;
#define OBJ(yy, xx) (abs(tmp[((yy) * w + (xx)) * 3] - bg[0]) + abs(tmp[((yy) * w + (xx)) * 3 + 1] - bg[1]) + abs(tmp[((yy) * w + (xx)) * 3 + 2] - bg[2]) > 90)
        vg_rng rng;
        vg_rng_seed(&rng, seed * 1000 + (uint64_t)t);
        for (int64_t y = 1; y + 1 < h; y++)
            for (int64_t x = 1; x + 1 < w; x++) {
                static const int ny[4] = {-1, 1, 0, 0}, nx[4] = {0, 0, -1, 1};
                bool in = OBJ(y, x);
                int64_t src = -1;
                for (int k = 0; k < 4; k++)
                    if (OBJ(y + ny[k], x + nx[k]) != in) { src = (y + ny[k]) * w + x + nx[k]; break; }
                if (src < 0 || vg_rng_uniform(&rng) >= prob) continue;
                memcpy(p + (y * w + x) * 3, in ? bg : tmp + src * 3, 3);
            }
#undef OBJ
    }
}

/* Renders n random shape-world clips; returns how many the judge gets fully right. */
static int judge_run(int n, int frames, int size, float sigma, bool blur, float rag, int *checks_wrong, int *shape_right) {
    uint8_t *c = malloc((size_t)frames * size * size * 3), *tmp = malloc((size_t)size * size * 3);
    vg_rng rng;
    vg_rng_seed(&rng, 1234);
    int right = 0, shown = 0;
    *checks_wrong = 0;
    if (shape_right) *shape_right = 0;
    for (int i = 0; i < n; i++) {
        vg_shape_spec s;
        char cap[160];
        if (vg_shape_sample(&s, &rng, frames, NULL) != VG_OK || vg_shape_caption(cap, sizeof(cap), &s) < 0 ||
            vg_shape_render_u8(c, &s, frames, size, size) != VG_OK) { printf("    render failed: %s\n", vg_last_error()); break; }
        if (rag > 0) ragged(c, &s, frames, size, size, rag, 77 + (uint64_t)i, tmp);
        if (sigma > 0 || blur) degrade(c, frames, size, size, sigma, blur, 99 + (uint64_t)i, tmp);
        vg_judge_result r;
        if (vg_judge(&r, cap, c, frames, size, size) != VG_OK) { printf("    judge failed: %s\n", vg_last_error()); break; }
        bool all = true;
        for (int k = 0; k < r.n_checks; k++)
            if (shape_right && strcmp(r.checks[k].what, "shape") == 0) *shape_right += r.checks[k].ok;
        for (int k = 0; k < r.n_checks; k++)
            if (!r.checks[k].ok) {
                all = false;
                (*checks_wrong)++;
                if (shown++ < 6) {
                    printf("    '%s': %s expected %s found %s\n", cap, r.checks[k].what, r.checks[k].expected, r.checks[k].found);
                    if (getenv("JUDGE_DEBUG")) {
                        vg_tracks tr;
                        vg_tracks_build(&tr, c, frames, size, size);
                        for (int t = 0; t < frames; t++) {
                            printf("      t%d n%d bg %.0f,%.0f,%.0f", t, tr.n_obj[t], tr.bg_rgb[3*t], tr.bg_rgb[3*t+1], tr.bg_rgb[3*t+2]);
                            for (int j = 0; j < tr.n_obj[t]; j++) { const vg_object *o = &tr.obj[t * VG_SCORE_MAX_OBJ + j];
                                printf(" [%.1f,%.1f a%.0f b%d e%.2f c%.2f]", o->cx, o->cy, o->area, o->border, o->extent, o->compact); }
                            printf("\n");
                        }
                        vg_tracks_free(&tr);
                    }
                }
            }
        right += all && r.n_checks == 6;
    }
    free(c); free(tmp);
    return right;
}

VG_TEST(score_judge_shapes) {
    /* the judge must be right on >= 99% of clips drawn by the shape-world renderer */
    int wrong, n = 200, ok = judge_run(n, 16, 64, 0, false, 0, &wrong, NULL);
    CHECKF(ok >= n * 99 / 100, "clean: %d of %d clips fully right (%d checks wrong)", ok, n, wrong);
}

VG_TEST(score_judge_noise_blur) {
    /* and stay right under small noise (sigma 6 grey levels) and a 3x3 box blur */
    int wrong, n = 100, ok = judge_run(n, 16, 64, 6.0f, true, 0, &wrong, NULL);
    CHECKF(ok >= n * 99 / 100, "noise+blur: %d of %d clips fully right (%d checks wrong)", ok, n, wrong);
}

VG_TEST(score_judge_shapes_32) {
    /* at 32x32, the default model's size, where a small object is 7 px across */
    int wrong, n = 200, ok = judge_run(n, 16, 32, 0, false, 0, &wrong, NULL);
    CHECKF(ok >= n * 98 / 100, "32x32 clean: %d of %d clips fully right (%d checks wrong)", ok, n, wrong);
    ok = judge_run(n / 2, 16, 32, 6.0f, false, 0, &wrong, NULL);
    CHECKF(ok >= n / 2 * 97 / 100, "32x32 noise: %d of %d clips fully right (%d checks wrong)", ok, n / 2, wrong);
}

VG_TEST(score_judge_shape_ragged_edges) {
    /* the shape survives fringes and notches: a fifth of the pixels on either side of the
     * outline flipped, at 32x32 (a 7-px square then has its bounding box grown by a pixel or
     * two in most frames) */
    int wrong, shape_ok, n = 100;
    judge_run(n, 16, 32, 0, false, 0.2f, &wrong, &shape_ok);
    CHECKF(shape_ok >= n * 95 / 100, "ragged 32x32: shape right in %d of %d clips", shape_ok, n);
}

VG_TEST(score_judge_wrong_prompt) {
    /* a red ball moving right judged against other captions: each wrong word is caught */
    vg_shape_spec s;
    CHECK_OK(vg_shape_parse(&s, "a big red ball moving right on a blue background"));
    s.x0 = 0.3f; s.y0 = 0.5f; s.speed = 0.02f;
    uint8_t *c = malloc(16 * 64 * 64 * 3);
    CHECK_OK(vg_shape_render_u8(c, &s, 16, 64, 64));
    vg_judge_result r;
    CHECK_OK(vg_judge(&r, "a big red ball moving right on a blue background", c, 16, 64, 64));
    CHECKF(r.adherence == 1.0, "own caption adherence %g", r.adherence);
    CHECK_OK(vg_judge(&r, "a small green square moving left on a white background, getting darker", c, 16, 64, 64));
    CHECKF(r.adherence == 0.0 && r.n_checks == 6, "all-wrong caption adherence %g", r.adherence);
    CHECK_OK(vg_judge(&r, "a big red ball moving up on a blue background", c, 16, 64, 64));
    CHECKF(fabs(r.adherence - 5.0 / 6.0) < 1e-12, "one wrong word: %g", r.adherence);
    CHECK(vg_judge(&r, "a big red dragon flying", c, 16, 64, 64) == VG_ERR_ARG);
    free(c);
}

/* Moving MNIST without the real data: ten procedural 28x28 "digits" (a ring, bars, a blob) in a
 * vg_mnist, sampled and rendered by the data module, judged for digit count and direction. */
VG_TEST(score_judge_mnist) {
    vg_mnist m = {10, 28, 28, calloc(10 * 28 * 28, 1), malloc(10)};
    for (int k = 0; k < 10; k++) {
        m.labels[k] = (uint8_t)k;
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++) {
                float dx = x - 13.5f, dy = y - 13.5f, r = sqrtf(dx * dx + dy * dy);
                bool on = k % 3 == 0 ? (r > 6 && r < 10) : k % 3 == 1 ? (fabsf(dx) < 2.5f && fabsf(dy) < 10) || (fabsf(dy - 8) < 2 && fabsf(dx) < 7)
                                                                 : (fabsf(dx + dy * 0.5f) < 3 && fabsf(dy) < 10) || (fabsf(dy + 9) < 2 && fabsf(dx) < 8);
                m.images[(k * 28 + y) * 28 + x] = on ? 255 : 0;
            }
    }
    vg_rng rng;
    vg_rng_seed(&rng, 7);
    uint8_t *c = malloc(16 * 64 * 64 * 3);
    int ok = 0, n = 60;
    for (int i = 0; i < n; i++) {
        vg_mnist_spec s;
        char cap[128];
        CHECK_OK(vg_mnist_sample(&s, &m, &rng, 16, 64, 64));
        CHECK(vg_mnist_caption(cap, sizeof(cap), &s) > 0);
        CHECK_OK(vg_mnist_render_u8(c, &m, &s, 16, 64, 64));
        vg_judge_result r;
        CHECK_OK(vg_judge(&r, cap, c, 16, 64, 64));
        CHECK(r.mnist && r.n_checks == 2);
        if (r.adherence == 1.0) ok++;
        else printf("    '%s': %s %s/%s, %s %s/%s\n", cap, r.checks[0].what, r.checks[0].expected, r.checks[0].found,
                    r.checks[1].what, r.checks[1].expected, r.checks[1].found);
    }
    /* margin: >= 95%: two digits that coincide for a whole clip look like one (no digit
     * recognition); partly overlapping ones are split by MNIST's 20-px digit box */
    CHECKF(ok >= n * 95 / 100, "mnist: %d of %d right", ok, n);
    vg_judge_result r;
    CHECK(vg_judge(&r, "the digits 3 and x bouncing", c, 16, 64, 64) == VG_ERR_ARG);
    free(c); free(m.images); free(m.labels);
}

VG_TEST(score_birth_death_merge) {
    int64_t n = CH * CW * 3;
    uint8_t *c = malloc(CF * n);
    /* a disc that pops in at frame 5 and out at frame 11, in mid-frame; another present throughout */
    for (int t = 0; t < CF; t++) {
        obj_t o[2] = {{SHAPE_DISC, 14, 14, 6, {RED[0], RED[1], RED[2]}}, {SHAPE_SQUARE, 40, 30, 5, {BLUE[0], BLUE[1], BLUE[2]}}};
        render(c + t * n, CH, CW, GRAY, false, 0, o, t >= 5 && t < 11 ? 2 : 1);
    }
    vg_score_report r = score_of(c, CF);
    CHECK(r.f == CF);
    CHECKF(count_events(&r, VG_EV_BIRTH, 5) == 1 && count_events(&r, VG_EV_DEATH, 11) == 1 && r.n_events == 2,
           "birth/death: %lld events", (long long)r.n_events);
    /* two discs that meet in the middle: a merge, and no birth/death for them */
    for (int t = 0; t < CF; t++) {
        float a = t < 10 ? 2.0f * t : 20;
        obj_t o[2] = {{SHAPE_DISC, 10 + a, 24, 6, {RED[0], RED[1], RED[2]}}, {SHAPE_DISC, 54 - a, 24, 6, {230, 30, 30}}};
        render(c + t * n, CH, CW, GRAY, false, 0, o, 2);
    }
    r = score_of(c, CF);
    free(c);
    CHECK(r.f == CF);
    CHECKF(count_events(&r, VG_EV_MERGE, -1) == 1 && count_events(&r, VG_EV_BIRTH, -1) == 0 && count_events(&r, VG_EV_DEATH, -1) == 0,
           "merge: %lld events, first %s at %lld", (long long)r.n_events, r.n_events_stored ? vg_event_name(r.events[0].kind) : "-",
           r.n_events_stored ? (long long)r.events[0].frame : -1LL);
}

VG_TEST(score_jitter) {
    /* a disc on a straight path with +-1.5 px vertical shake vs the same path without */
    int64_t n = CH * CW * 3;
    uint8_t *c = malloc(CF * n), *s = malloc(CF * n);
    for (int t = 0; t < CF; t++) {
        obj_t o = {SHAPE_DISC, 12 + 2.0f * t, 24 + (t % 2 ? 1.5f : -1.5f), 7, {RED[0], RED[1], RED[2]}};
        render(c + t * n, CH, CW, GRAY, false, 0, &o, 1);
        o.cy = 24;
        render(s + t * n, CH, CW, GRAY, false, 0, &o, 1);
    }
    vg_score_report r = score_of(c, CF), rs = score_of(s, CF);
    free(c); free(s);
    CHECK(r.f == CF && rs.f == CF);
    /* second difference of +-1.5 alternation is 6 px; margin: > 4 px vs < 0.3 px */
    CHECKF(r.jitter_px > 4 && rs.jitter_px < 0.3, "jitter %g vs smooth %g", r.jitter_px, rs.jitter_px);
    CHECKF(r.smooth_score < rs.smooth_score - 0.5, "smooth score %g vs %g", r.smooth_score, rs.smooth_score);
}

VG_TEST(score_deterministic_and_fast) {
    /* 30 frames of 64x64: bit-identical reports with 1 and 2 threads, well under a second */
    const int64_t F = 30, H = 64, W = 64, n = H * W * 3;
    uint8_t *c = malloc(F * n);
    for (int t = 0; t < F; t++) {
        obj_t o = {SHAPE_TRI, 12 + 1.5f * t, 30, 9, {RED[0], RED[1], RED[2]}};
        render(c + t * n, H, W, GRAY, true, 0.5f * t, &o, 1);
    }
    vg_score_report a, b;
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    CHECK_OK(vg_score_clip(&a, c, F, H, W, NULL));
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_OK(vg_score_clip(&b, c, F, H, W, NULL));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(c);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("    30x64x64 scored in %.3f s\n", sec);
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    CHECKF(sec < 2.0, "%.3f s (budget: well under 1 s at -O3; 2 s allows ASan and a loaded machine)", sec);
}

/* The seam report (opts.seam_at, what `vidgen score --seam N` prints): a clip that simply
 * goes on has no jump at any join; a teleport or a cut at the join is a jump. */
VG_TEST(score_seam) {
    uint8_t *smooth = moving_clip(2, -1, 0, true), *tele = moving_clip(2, 8, 20, true);
    uint8_t *cut = malloc(CF * CH * CW * 3);
    memcpy(cut, smooth, CF * CH * CW * 3);
    for (int t = 8; t < CF; t++) { /* from frame 8 on: a blue square on plain gray, elsewhere */
        obj_t o = {SHAPE_SQUARE, 40 - t, 30, 8, {BLUE[0], BLUE[1], BLUE[2]}};
        render(cut + (size_t)t * CH * CW * 3, CH, CW, GRAY, false, 0, &o, 1);
    }
    vg_score_opts o;
    vg_score_opts_default(&o);
    vg_score_report r[4];
    bool ok = true;
    for (int k = 0; k < 4 && ok; k++) {
        o.seam_at = k < 2 ? 4 + 4 * k : 8;
        ok = vg_score_clip(&r[k], k < 2 ? smooth : k == 2 ? tele : cut, CF, CH, CW, &o) == VG_OK;
    }
    o.seam_at = CF; /* out of range */
    vg_score_report bad;
    vg_status st = vg_score_clip(&bad, smooth, CF, CH, CW, &o);
    free(smooth); free(tele); free(cut);
    CHECKF(ok, "score: %s", vg_last_error());
    CHECKF(st == VG_ERR_ARG, "seam at frame %d of %d accepted", CF, CF);
    for (int k = 0; k < 2; k++)
        CHECKF(r[k].seam_at == 4 + 4 * k && r[k].seam_ok && r[k].seam_pix_ratio <= 1.25,
               "smooth clip, join at %lld: |dI| ratio %.2f warp ratio %.2f events %d", (long long)r[k].seam_at,
               r[k].seam_pix_ratio, r[k].seam_warp_ratio, r[k].seam_events);
    CHECKF(!r[2].seam_ok && r[2].seam_events >= 1, "teleport at the join: ok %d, |dI| ratio %.2f, warp %.2f, events %d",
           r[2].seam_ok, r[2].seam_pix_ratio, r[2].seam_warp_ratio, r[2].seam_events);
    CHECKF(!r[3].seam_ok && r[3].seam_pix_ratio > 2, "cut at the join: ok %d, |dI| ratio %.2f, warp %.2f",
           r[3].seam_ok, r[3].seam_pix_ratio, r[3].seam_warp_ratio);
}

/* Wrap-around (VG_EV_WRAP). Constructed 48-frame clips, a disc of radius 6 at 3 px/frame:
 *  - on a torus: it leaves at the right edge and comes back at the left, twice (drawn at x and
 *    x - W, so it is cut by both edges for a few frames): 2 wraps, one per crossing;
 *  - the same, vertically (down, out at the bottom, in at the top; 48 px tall): 3 wraps;
 *  - bouncing off the right wall and back: 0 wraps, and no other pop event;
 *  - leaving at the right and never coming back: 0 wraps;
 *  - two discs of the same colour resting against the left and right walls all along: 0 wraps. */
static int wraps_of(int kind) {
    enum { WF = 48 };
    int64_t n = CH * CW * 3;
    uint8_t *c = malloc((size_t)WF * n);
    for (int t = 0; t < WF; t++) {
        obj_t o[2];
        int k = 0;
        float p = 20 + 3.0f * t;
        if (kind == 0 || kind == 1) {
            float L = kind == 0 ? CW : CH, x = fmodf(p, L);
            for (int s = 0; s < 2; s++) {
                float at = x - s * L;
                o[k++] = kind == 0 ? (obj_t){SHAPE_DISC, at, 24, 6, {RED[0], RED[1], RED[2]}} : (obj_t){SHAPE_DISC, 32, at, 6, {RED[0], RED[1], RED[2]}};
            }
        } else if (kind == 2) {
            float x = p, right = CW - 7.0f; /* reflect at the wall */
            while (x > right || x < 7) x = x > right ? 2 * right - x : 14 - x;
            o[k++] = (obj_t){SHAPE_DISC, x, 24, 6, {RED[0], RED[1], RED[2]}};
        } else if (kind == 3) {
            o[k++] = (obj_t){SHAPE_DISC, p, 24, 6, {RED[0], RED[1], RED[2]}};
        } else {
            o[k++] = (obj_t){SHAPE_DISC, 4, 24, 6, {RED[0], RED[1], RED[2]}};
            o[k++] = (obj_t){SHAPE_DISC, CW - 5, 24, 6, {RED[0], RED[1], RED[2]}};
        }
        render(c + t * n, CH, CW, GRAY, false, 0, o, k);
    }
    vg_score_report r = score_of(c, WF);
    free(c);
    if (r.f != WF) return -1;
    if (kind == 2 && r.n_events != 0) return -2;
    return (int)r.n_wraps;
}

VG_TEST(score_wrap_around) {
    int w;
    CHECKF((w = wraps_of(0)) == 2, "torus left-right: %d wraps, expected 2", w);
    CHECKF((w = wraps_of(1)) == 3, "torus top-bottom: %d wraps, expected 3", w);
    CHECKF((w = wraps_of(2)) == 0, "bounce: %d (expected 0 wraps and no events)", w);
    CHECKF((w = wraps_of(3)) == 0, "leaving: %d wraps", w);
    CHECKF((w = wraps_of(4)) == 0, "two discs at the walls: %d wraps", w);
}
