/* test_sample.c - schedules and the UniPC solver against the official Wan code
 * (../shared/wan-goldens/sched_io.safetensors). Timesteps must match exactly; sigmas to
 * 1 ulp-ish (1e-6: float32 storage of a float64 computation); the UniPC trace to 1e-5 relative
 * (the official code does this arithmetic in float32, we do it in double: WAN.md reports 2e-7). */
#include <stdlib.h>
#include "test.h"
#include "vidgen/safetensors.h"
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
