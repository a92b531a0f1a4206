/* test_sample.c - schedules and the UniPC solver against the official Wan code
 * (../shared/wan-goldens/sched_io.safetensors). Timesteps must match exactly; sigmas to
 * 1 ulp-ish (1e-6: float32 storage of a float64 computation); the UniPC trace to 1e-5 relative
 * (the official code does this arithmetic in float32, we do it in double: WAN.md reports 2e-7). */
#include <stdlib.h>
#include "test.h"
#include "vidgen/safetensors.h"
#include "vidgen/rng.h"
#include "vidgen/sample.h"

static vg_st_file *open_sched(void) {
    char p[512];
    snprintf(p, sizeof(p), "%s/wan-goldens/sched_io.safetensors", vg_test_shared());
    vg_st_file *f = NULL;
    return vg_st_open(&f, p) == VG_OK ? f : NULL;
}

VG_TEST(schedule_matches_wan) {
    vg_st_file *f = open_sched();
    CHECK(f);
    struct { int n; double s; const char *k; } cases[] = {{50, 5, "n50_shift5"}, {50, 3, "n50_shift3"}, {50, 8, "n50_shift8"}, {10, 5, "n10_shift5"}};
    for (int c = 0; c < 4; c++) {
        float sig[51];
        int64_t ts[50];
        vg_schedule_wan(sig, ts, cases[c].n, cases[c].s);
        char nm[64];
        snprintf(nm, sizeof(nm), "%s.timesteps", cases[c].k);
        const vg_tensor *t = vg_st_get(f, nm);
        CHECK(t && t->dtype == VG_DTYPE_I64);
        for (int i = 0; i < cases[c].n; i++)
            CHECKF(ts[i] == ((const int64_t *)t->data)[i], "%s[%d]: %lld vs %lld", nm, i, (long long)ts[i], (long long)((const int64_t *)t->data)[i]);
        snprintf(nm, sizeof(nm), "%s.sigmas", cases[c].k);
        t = vg_st_get(f, nm);
        CHECK(t);
        CHECK_CLOSE(nm, sig, (const float *)t->data, cases[c].n + 1, 1e-7, 1e-6);
    }
    vg_st_close(f);
}

VG_TEST(unipc_trace_matches_wan) {
    vg_st_file *f = open_sched();
    CHECK(f);
    float sig[11];
    vg_schedule_wan(sig, NULL, 10, 5.0);
    const int64_t n = 4 * 2 * 3 * 5;
    vg_solver *s;
    CHECK_OK(vg_solver_new(&s, VG_SAMPLER_UNIPC, sig, 10, n));
    float x[120];
    memcpy(x, vg_st_get(f, "trace.x0")->data, sizeof(x));
    char nm[32];
    for (int i = 0; i < 10; i++) {
        snprintf(nm, sizeof(nm), "trace.v%d", i);
        vg_solver_step(s, i, x, (const float *)vg_st_get(f, nm)->data);
        snprintf(nm, sizeof(nm), "trace.x%d", i + 1);
        CHECK_CLOSE(nm, x, (const float *)vg_st_get(f, nm)->data, n, 1e-5, 1e-5);
    }
    vg_solver_free(s);
    vg_st_close(f);
}

VG_TEST(euler_exact_on_straight_path) {
    /* with the true velocity of a straight flow the Euler solver lands exactly on x0 */
    float sig[9], x[3], x0[3] = {0.5f, -1.0f, 2.0f}, e[3] = {1.0f, 0.3f, -0.7f}, v[3];
    vg_schedule_wan(sig, NULL, 8, 3.0);
    for (int j = 0; j < 3; j++) { x[j] = (1 - sig[0]) * x0[j] + sig[0] * e[j]; v[j] = e[j] - x0[j]; }
    vg_solver *s;
    CHECK_OK(vg_solver_new(&s, VG_SAMPLER_EULER, sig, 8, 3));
    for (int i = 0; i < 8; i++) vg_solver_step(s, i, x, v);
    CHECK_CLOSE("euler x0", x, x0, 3, 1e-5, 1e-5);
    vg_solver_free(s);
}

/* Few-step schedules: Self-Forcing's list with the shift warp gives its published sigmas
 * (1000,750,500,250 with shift 5 -> 1000, 937.5, 833.3, 625); without the warp sigma = t/1000;
 * malformed lists are refused by entry. */
VG_TEST(schedule_from_timesteps_and_sigmas) {
    const double t[4] = {1000, 750, 500, 250};
    float s[5];
    CHECK_OK(vg_schedule_from_timesteps(s, t, 4, 5.0, 1));
    const double want[5] = {1.0, 0.9375, 2.5 / 3.0, 0.625, 0.0};
    for (int i = 0; i < 5; i++) CHECKF(s[i] == (float)want[i], "warped sigma %d: %.9g, expected %.9g", i, s[i], want[i]);
    CHECK_OK(vg_schedule_from_timesteps(s, t, 4, 5.0, 0));
    for (int i = 0; i < 4; i++) CHECK(s[i] == (float)(t[i] / 1000.0));
    CHECK(s[4] == 0.0f);
    const double up[3] = {500, 750, 250}, zero[2] = {1000, 0}, big[1] = {1001};
    CHECK(vg_schedule_from_timesteps(s, up, 3, 5.0, 1) == VG_ERR_ARG);
    CHECK(strstr(vg_last_error(), "entry 2"));
    CHECK(vg_schedule_from_timesteps(s, zero, 2, 5.0, 0) == VG_ERR_ARG);
    CHECK(vg_schedule_from_timesteps(s, big, 1, 5.0, 0) == VG_ERR_ARG);
    const double sg[3] = {1.0, 0.5, 0.25}, bad[2] = {0.5, 0.5};
    CHECK_OK(vg_schedule_from_sigmas(s, sg, 3));
    CHECK(s[0] == 1.0f && s[1] == 0.5f && s[2] == 0.25f && s[3] == 0.0f);
    CHECK(vg_schedule_from_sigmas(s, bad, 2) == VG_ERR_ARG);
    double l[8];
    CHECK(vg_parse_number_list("1000, 750,500,250", l, 8) == 4 && l[1] == 750);
    CHECK(vg_parse_number_list("1000,,750", l, 8) == -1);
    CHECK(vg_parse_number_list("1000,", l, 8) == -1);
    CHECK(vg_parse_number_list("abc", l, 8) == -1);
    CHECK(vg_parse_number_list("1,2,3", l, 2) == -1);
    CHECK(vg_parse_number_list("", l, 8) == -1);
}

/* DMD: x0 = x - s_i v, renoised to s_{i+1} with the documented Philox stream; the last step
 * returns x0 exactly. Checked element by element against the formula in double. */
VG_TEST(dmd_step_is_x0_renoised) {
    enum { N = 257 };
    const float sig[4] = {1.0f, 0.9375f, 0.625f, 0.0f};
    float x[N], v[N], x0[N];
    for (int j = 0; j < N; j++) { x[j] = vg_philox_normal(9, 0, (uint64_t)j); v[j] = 0.5f * vg_philox_normal(9, 1, (uint64_t)j); }
    vg_solver *s = NULL;
    CHECK_OK(vg_solver_new(&s, VG_SAMPLER_DMD, sig, 3, N));
    vg_solver_set_seed(s, 42);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < N; j++) x0[j] = (float)(x[j] - (double)sig[i] * v[j]);
        float prev[N];
        memcpy(prev, x, sizeof(x));
        vg_solver_step(s, i, x, v);
        for (int j = 0; j < N; j++) {
            double x0d = prev[j] - (double)sig[i] * v[j];
            float want = i == 2 ? (float)x0d
                                : (float)((1.0 - sig[i + 1]) * x0d + sig[i + 1] * (double)vg_philox_normal(42, VG_DMD_STREAM + (uint64_t)i, (uint64_t)j));
            if (x[j] != want) { vg_solver_free(s); CHECKF(0, "step %d element %d: %.9g, expected %.9g", i, j, x[j], want); }
        }
    }
    for (int j = 0; j < N; j++) CHECK(x[j] == x0[j]); /* last step: x0 itself */
    vg_solver_free(s);
    vg_sampler k;
    CHECK(vg_sampler_from_name("dmd", &k) && k == VG_SAMPLER_DMD && !strcmp(vg_sampler_name(k), "dmd"));
}
