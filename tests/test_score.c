/* test_score.c - `vidgen score` metrics on constructed clips with known answers: optical flow
 * on analytic textures with a known translation, VBench formulas, and each metric moving the
 * right way (with a stated margin) on static / flickering / teleporting / frozen / colour-drifting
 * clips. Clips are uint8 RGB [F][H][W][3]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
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
