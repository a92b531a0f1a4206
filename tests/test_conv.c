/* test_conv.c - vg_conv3d (packed-tile fast path) against vg_conv3d_ref on awkward shapes,
 * weight dtypes, upsample/stride/causal padding, frame lists with zero frames, thread-count
 * invariance, and a hand-computed known answer for the reference itself.
 * Tolerance fast vs ref: both sum in f32 in the same (ci,kt,kh,kw) order, the fast path
 * with FMA; for K <= 27*40 terms of O(1) values the difference stays below 1e-5 + 1e-5|y|. */
#include "test.h"
#include "vidgen/conv.h"
#include "vidgen/rng.h"
#include "vidgen/status.h"
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void fill(float *x, int64_t n, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
    }
}

/* one case: random input [ci, ti, h, w] (frames `nullmask` bit set are NULL), fast vs ref */
static bool run_case(vg_conv_shape s, int64_t ti, vg_dtype wt, unsigned nullmask, const char *what) {
    int64_t To, Ho, Wo;
    if (!vg_conv_out_dims(&s, ti, &To, &Ho, &Wo)) { vg_test_failf(__FILE__, __LINE__, "%s: dims", what); return false; }
    int64_t nin = s.ci * ti * s.h * s.w, K = s.ci * s.kt * s.kh * s.kw, nout = s.co * To * Ho * Wo;
    float *x = malloc(sizeof(float) * (size_t)nin), *wf = malloc(sizeof(float) * (size_t)(s.co * K));
    float *b = malloc(sizeof(float) * (size_t)s.co);
    uint16_t *wh = malloc(2 * (size_t)(s.co * K));
    float *y0 = malloc(sizeof(float) * (size_t)nout), *y1 = malloc(sizeof(float) * (size_t)nout);
    vg_frame *fr = malloc(sizeof(vg_frame) * (size_t)ti);
    fill(x, nin, 1); fill(wf, s.co * K, 2); fill(b, s.co, 3);
    vg_frames_of(fr, x, ti, s.h, s.w);
    for (int64_t t = 0; t < ti; t++) if (nullmask >> t & 1) fr[t].p = NULL;
    const void *w = wf;
    if (wt != VG_DTYPE_F32) { vg_from_f32(wh, wt, wf, s.co * K); w = wh; }
    vg_conv_ws ws = {0};
    bool ok = vg_conv3d_ref(y0, To * Ho * Wo, fr, ti, w, wt, b, &s) == VG_OK &&
              vg_conv3d(y1, To * Ho * Wo, fr, ti, w, wt, b, &s, &ws) == VG_OK;
    if (!ok) vg_test_failf(__FILE__, __LINE__, "%s: %s", what, vg_last_error());
    else ok = vg_test_close(__FILE__, __LINE__, what, y1, y0, nout, 1e-5, 1e-5);
    vg_conv_ws_free(&ws);
    free(x); free(wf); free(b); free(wh); free(y0); free(y1); free(fr);
    return ok;
}

VG_TEST(conv_ref_known_answer) {
    /* 1 channel, 3x3 box of ones, pad 1: each output = sum of the 3x3 neighbourhood */
    float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, w[9], y[12], b = 0.5f;
    for (int i = 0; i < 9; i++) w[i] = 1.0f;
    vg_conv_shape s = vg_conv_shape_2d(1, 1, 3, 4, 3, 1);
    vg_frame fr = {x, 12};
    CHECK_OK(vg_conv3d_ref(y, 12, &fr, 1, w, VG_DTYPE_F32, &b, &s));
    CHECK(y[0] == 0.5f + 1 + 2 + 5 + 6);
    CHECK(y[5] == 0.5f + 1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11);
    CHECK(y[11] == 0.5f + 7 + 8 + 11 + 12);
    /* causal time: kernel (3,1,1) of weights (1,10,100) over frames a,b: out = 100*a + 10*0 ... */
    float xt[2] = {2, 3}, wt3[3] = {1, 10, 100}, yt[2];
    vg_conv_shape c = vg_conv_shape_causal3d(1, 1, 1, 1, 1);
    c.kt = 3; c.pt = 2;
    vg_frame ft[2] = {{xt, 2}, {xt + 1, 2}};
    CHECK_OK(vg_conv3d_ref(yt, 2, ft, 2, wt3, VG_DTYPE_F32, NULL, &c));
    CHECK(yt[0] == 200.0f && yt[1] == 10 * 2 + 100 * 3);
    /* fast path gives the same known answer */
    CHECK_OK(vg_conv3d(yt, 2, ft, 2, wt3, VG_DTYPE_F32, NULL, &c, NULL));
    CHECK(yt[0] == 200.0f && yt[1] == 10 * 2 + 100 * 3);
}

VG_TEST(conv_causal3d_fast_vs_ref_awkward) {
    int64_t sizes[][4] = {{1, 1, 1, 1}, {3, 7, 5, 6}, {7, 5, 33, 1}, {4, 13, 2, 17}, {16, 9, 4, 33}, {5, 8, 7, 129},
                         {3, 5, 4, 64}, {2, 3, 3, 50}, {4, 7, 2, 128}}; /* last three: row-contiguous tiles */
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (int64_t ti = 1; ti <= 3; ti += 2) {
            vg_conv_shape s = vg_conv_shape_causal3d(sizes[i][0], sizes[i][1], sizes[i][2], sizes[i][3], 3);
            char what[96];
            snprintf(what, sizeof(what), "causal3d ci%lld co%lld %lldx%lld T%lld", (long long)s.ci,
                     (long long)s.co, (long long)s.h, (long long)s.w, (long long)ti);
            if (!run_case(s, ti, VG_DTYPE_F32, 0, what)) return;
        }
    /* 1x1x1 and a 17-frame causal run */
    CHECK(run_case(vg_conv_shape_causal3d(7, 11, 5, 9, 1), 4, VG_DTYPE_F32, 0, "1x1x1"));
    CHECK(run_case(vg_conv_shape_causal3d(2, 3, 3, 5, 3), 17, VG_DTYPE_F32, 0, "causal F=17"));
}

VG_TEST(conv_variants_fast_vs_ref) {
    CHECK(run_case(vg_conv_shape_2d(5, 7, 6, 9, 3, 2), 2, VG_DTYPE_F32, 0, "2d up2"));
    CHECK(run_case(vg_conv_shape_2d(3, 2, 5, 17, 3, 2), 1, VG_DTYPE_F32, 0, "2d up2 wide"));
    CHECK(run_case(vg_conv_shape_2d(3, 7, 3, 32, 3, 2), 2, VG_DTYPE_F32, 0, "2d up2 contiguous tiles"));
    CHECK(run_case(vg_conv_shape_down2d(6, 5, 9, 13), 2, VG_DTYPE_F32, 0, "down2d odd"));
    CHECK(run_case(vg_conv_shape_down2d(3, 4, 8, 40), 1, VG_DTYPE_F32, 0, "down2d even"));
    vg_conv_shape tdown = vg_conv_shape_causal3d(5, 5, 3, 4, 1);
    tdown.kt = 3; tdown.st = 2; tdown.pt = 0;             /* downsample3d time_conv */
    CHECK(run_case(tdown, 5, VG_DTYPE_F32, 0, "time stride 2"));
    vg_conv_shape tup = vg_conv_shape_causal3d(4, 8, 3, 5, 1);
    tup.kt = 3; tup.pt = 2;                                /* upsample3d time_conv */
    CHECK(run_case(tup, 3, VG_DTYPE_F32, 0, "time conv"));
    /* frame list with zero frames (an empty feature cache) and no padding */
    vg_conv_shape c = vg_conv_shape_causal3d(3, 4, 4, 7, 3);
    c.pt = 0;
    CHECK(run_case(c, 4, VG_DTYPE_F32, 0x3, "cache frames NULL"));
    CHECK(run_case(c, 4, VG_DTYPE_F32, 0x2, "middle frame NULL"));
    CHECK(run_case(vg_conv_shape_causal3d(6, 7, 5, 18, 3), 2, VG_DTYPE_F16, 0, "f16 weights"));
    CHECK(run_case(vg_conv_shape_causal3d(6, 7, 5, 18, 3), 2, VG_DTYPE_BF16, 0, "bf16 weights"));
}

VG_TEST(conv_threads_bit_identical) {
    vg_conv_shape s = vg_conv_shape_causal3d(9, 13, 11, 64, 3);
    int64_t ti = 3, To, Ho, Wo;
    CHECK(vg_conv_out_dims(&s, ti, &To, &Ho, &Wo));
    int64_t nin = s.ci * ti * s.h * s.w, nw = s.co * s.ci * 27, nout = s.co * To * Ho * Wo;
    float *x = malloc(sizeof(float) * nin), *w = malloc(sizeof(float) * nw);
    float *y1 = malloc(sizeof(float) * nout), *y2 = malloc(sizeof(float) * nout);
    fill(x, nin, 5); fill(w, nw, 6);
    vg_frame fr[3];
    vg_frames_of(fr, x, ti, s.h, s.w);
#ifdef _OPENMP
    int old = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    vg_status a = vg_conv3d(y1, To * Ho * Wo, fr, ti, w, VG_DTYPE_F32, NULL, &s, NULL);
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    vg_status b = vg_conv3d(y2, To * Ho * Wo, fr, ti, w, VG_DTYPE_F32, NULL, &s, NULL);
#ifdef _OPENMP
    omp_set_num_threads(old);
#endif
    bool same = a == VG_OK && b == VG_OK && memcmp(y1, y2, sizeof(float) * nout) == 0;
    free(x); free(w); free(y1); free(y2);
    CHECK(same);
}

VG_TEST(conv_bad_geometry_is_error) {
    vg_conv_shape s = vg_conv_shape_causal3d(2, 2, 4, 4, 3);
    s.pt = 0;
    float y[64], x[64] = {0}, w[108] = {0};
    vg_frame fr[1] = {{x, 16}};
    CHECK(vg_conv3d(y, 16, fr, 1, w, VG_DTYPE_F32, NULL, &s, NULL) == VG_ERR_ARG); /* 1 frame < kt 3 */
    CHECK(strstr(vg_last_error(), "conv3d") != NULL);
    s = vg_conv_shape_causal3d(2, 2, 4, 4, 3);
    CHECK(vg_conv3d(y, 16, fr, 1, w, VG_DTYPE_I32, NULL, &s, NULL) == VG_ERR_UNSUPPORTED);
}
