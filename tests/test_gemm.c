/* test_gemm.c - every fast GEMM path (scalar, AVX2, AVX-512, AVX-512 bf16) against the _ref
 * loops on awkward shapes, for each weight dtype, accumulate on/off and bias on/off; and
 * bit-identical results for 1 and 2 OpenMP threads (row stripes and column stripes).
 * Shapes: nt C[M,N] = A[M,K] W[N,K]^T; nn C[M,K] = A[M,N] W[N,K]; tn C[N,K] += A[M,N]^T B[M,K]. */
#include <stdlib.h>
#include "test.h"
#include "vidgen/gemm.h"
#include "vidgen/rng.h"
#include "ops/gemm_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static float *rnd(int64_t n, uint64_t seed) {
    vg_rng r;
    vg_rng_seed(&r, seed);
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(2.0 * vg_rng_uniform(&r) - 1.0);
    return p;
}

/* Weights in dtype dt (rounded from f32), malloc'd. */
static void *to_dtype(const float *w, int64_t n, vg_dtype dt) {
    void *p = malloc((size_t)(n > 0 ? n : 1) * vg_dtype_size(dt));
    vg_from_f32(p, dt, w, n);
    return p;
}

/* Levels this machine runs (forcing a level above the detected one has no effect). */
static int max_level(void) {
    vg_cpu_force_level(0);
    return vg_cpu_level();
}

/* Tolerances. f32 paths: both sides sum K products in f32 but in different orders (k blocks,
 * bias/C added first or last), so the rounding difference grows with K: each of the K additions
 * may round by 2^-24 of a partial sum of size ~sqrt(K) for these [-1,1] inputs. atol = 1e-5 per
 * 64 terms keeps a ~10x margin over that and still catches any wrong or missing product (>= 1e-2).
 * bf16 products (vdpbf16ps, level 3 with BF16 weights): A is rounded to bf16 (rel. 2^-9), so
 * rtol 1e-2 with atol 1e-2 * mean|ref| (outputs near 0 after cancellation). */
static double f32_atol(int64_t K) { return 1e-5 * (1.0 + (double)K / 64.0); }
/* AMX (level 4, F16/BF16 weights): activations split into bf16 hi + lo and weights exact, so each
 * product is off by at most ~2^-16 |a w|; with |a|,|w| uniform in [-1,1], sum |a w| ~ K/4.
 * atol = 2^-16 K/4 on top of the f32 one: 1.3e-4 at K=33, 4e-3 at K=1100, while a wrong or
 * missing product costs ~|a w| ~ 0.25. */
static double amx_atol(int64_t K) { return f32_atol(K) + ldexp(0.25 * (double)K, -16); }

static double mean_abs(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)x[i]);
    return n ? s / (double)n : 0;
}

static const int64_t shapes[][3] = {
    {1, 1, 1}, {7, 33, 129}, {33, 7, 130}, {129, 130, 33}, {130, 129, 7}, {1, 300, 17},
    {33, 40, 600}, {4200, 33, 7}, {7, 700, 33}, {16, 32, 16}, {29, 65, 1100},
};
#define NSHAPES ((int)(sizeof(shapes) / sizeof(shapes[0])))

VG_TEST(gemm_nt_matches_ref) {
    const vg_dtype dts[3] = {VG_DTYPE_F32, VG_DTYPE_F16, VG_DTYPE_BF16};
    int top = max_level();
    for (int s = 0; s < NSHAPES; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *a = rnd(M * K, 1 + s), *w = rnd(N * K, 100 + s), *bias = rnd(N, 200 + s);
        float *c0 = rnd(M * N, 300 + s), *ref = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
        for (int d = 0; d < 3; d++) {
            void *wd = to_dtype(w, N * K, dts[d]);
            for (int acc = 0; acc < 2; acc++)
                for (int hb = 0; hb < 2; hb++) {
                    memcpy(ref, c0, sizeof(float) * M * N);
                    vg_matmul_nt_ref(ref, a, wd, dts[d], hb ? bias : NULL, M, N, K, acc);
                    for (int lvl = 1; lvl <= top + 1; lvl++) { /* top+1: top with bf16 products forced */
                        vg_cpu_force_level(lvl > top ? top : lvl);
                        gemm_set_bf16_products(lvl > top ? 1 : 0);
                        bool bfprod = dts[d] == VG_DTYPE_BF16 && gemm_bf16_products();
                        if (lvl > top && !bfprod) continue;
                        memcpy(got, c0, sizeof(float) * M * N);
                        vg_matmul_nt(got, a, wd, dts[d], hb ? bias : NULL, M, N, K, acc);
                        char what[128];
                        snprintf(what, sizeof(what), "nt M=%lld N=%lld K=%lld %s acc=%d bias=%d level %d%s",
                                 (long long)M, (long long)N, (long long)K, vg_dtype_name(dts[d]), acc, hb,
                                 lvl > top ? top : lvl, lvl > top ? " (bf16 products)" : "");
                        bool ok = bfprod ? vg_test_close(__FILE__, __LINE__, what, got, ref, M * N,
                                                         1e-2 * mean_abs(ref, M * N), 1e-2)
                                         : vg_test_close(__FILE__, __LINE__, what, got, ref, M * N,
                                                         lvl == 4 && dts[d] != VG_DTYPE_F32 ? amx_atol(K) : f32_atol(K), 1e-4);
                        if (!ok) { vg_cpu_force_level(0); gemm_set_bf16_products(-1); return; }
                    }
                }
            free(wd);
        }
        vg_cpu_force_level(0);
        gemm_set_bf16_products(-1);
        free(a); free(w); free(bias); free(c0); free(ref); free(got);
    }
}

/* nn and tn at every level; on AMX machines one more pass (top+1) with vg_gemm_f32_amx on,
 * which also covers nt with f32 weights, at the AMX tolerance. */
VG_TEST(gemm_nn_tn_match_ref) {
    int top = max_level(), amx = top >= 4;
    for (int s = 0; s < NSHAPES; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *a = rnd(M * N, 1 + s), *w = rnd(N * K, 100 + s), *b = rnd(M * K, 150 + s);
        float *c0 = rnd(M * K, 300 + s), *ref = malloc(sizeof(float) * M * K), *got = malloc(sizeof(float) * M * K);
        float *t0 = rnd(N * K, 400 + s), *tref = malloc(sizeof(float) * N * K), *tgot = malloc(sizeof(float) * N * K);
        float *wt = rnd(K * N, 500 + s), *nref = malloc(sizeof(float) * M * K), *ngot = malloc(sizeof(float) * M * K);
        memcpy(tref, t0, sizeof(float) * N * K);
        vg_matmul_tn_ref(tref, a, b, M, N, K);
        for (int acc = 0; acc < 2; acc++) {
            memcpy(ref, c0, sizeof(float) * M * K);
            vg_matmul_nn_ref(ref, a, w, M, N, K, acc);
            memcpy(nref, c0, sizeof(float) * M * K);
            vg_matmul_nt_ref(nref, a, wt, VG_DTYPE_F32, NULL, M, K, N, acc); /* A[M,N] . Wt[K,N]^T */
            for (int lvl = 1; lvl <= top + amx; lvl++) {
                bool on = lvl > top;
                vg_cpu_force_level(on ? top : lvl);
                vg_gemm_f32_amx(on);
                char what[128];
                memcpy(got, c0, sizeof(float) * M * K);
                vg_matmul_nn(got, a, w, M, N, K, acc);
                snprintf(what, sizeof(what), "nn M=%lld N=%lld K=%lld acc=%d level %d%s", (long long)M, (long long)N,
                         (long long)K, acc, on ? top : lvl, on ? " (f32 on AMX)" : "");
                if (!vg_test_close(__FILE__, __LINE__, what, got, ref, M * K, on ? amx_atol(N) : f32_atol(N), 1e-4)) goto out;
                if (on) {
                    memcpy(ngot, c0, sizeof(float) * M * K);
                    vg_matmul_nt(ngot, a, wt, VG_DTYPE_F32, NULL, M, K, N, acc);
                    snprintf(what, sizeof(what), "nt f32 M=%lld N=%lld K=%lld acc=%d (f32 on AMX)", (long long)M,
                             (long long)K, (long long)N, acc);
                    if (!vg_test_close(__FILE__, __LINE__, what, ngot, nref, M * K, amx_atol(N), 1e-4)) goto out;
                }
                if (acc) continue;
                memcpy(tgot, t0, sizeof(float) * N * K);
                vg_matmul_tn(tgot, a, b, M, N, K);
                snprintf(what, sizeof(what), "tn M=%lld N=%lld K=%lld level %d%s", (long long)M, (long long)N,
                         (long long)K, on ? top : lvl, on ? " (f32 on AMX)" : "");
                if (!vg_test_close(__FILE__, __LINE__, what, tgot, tref, N * K, on ? amx_atol(M) : f32_atol(M), 1e-4)) goto out;
            }
        }
    out:
        vg_cpu_force_level(0);
        vg_gemm_f32_amx(false);
        free(a); free(w); free(b); free(c0); free(ref); free(got); free(t0); free(tref); free(tgot);
        free(wt); free(nref); free(ngot);
        if (vg_test_failed()) return;
    }
}

VG_TEST(gemm_k0_gives_bias) {
    float bias[3] = {1, 2, 3}, c[6] = {9, 9, 9, 9, 9, 9}, w[1] = {0}, a[1] = {0};
    vg_matmul_nt(c, a, w, VG_DTYPE_F32, bias, 2, 3, 0, false);
    for (int i = 0; i < 6; i++) CHECK(c[i] == bias[i % 3]);
}

/* 1 vs 2 threads: bit-identical. (7, 300, 129) takes column stripes, (130, 70, 129) row stripes. */
VG_TEST(gemm_threads_bit_identical) {
#ifdef _OPENMP
    const int64_t sh[2][3] = {{130, 70, 129}, {7, 300, 529}};
    const vg_dtype dts[3] = {VG_DTYPE_F32, VG_DTYPE_F16, VG_DTYPE_BF16};
    int top = max_level(), saved = omp_get_max_threads();
    for (int s = 0; s < 2; s++) {
        int64_t M = sh[s][0], N = sh[s][1], K = sh[s][2];
        size_t big = (size_t)(M > N ? M : N) * (size_t)(K > N ? K : N);
        float *a = rnd(M * K, 5), *w = rnd(N * K, 6), *bias = rnd(N, 7), *out[2];
        out[0] = malloc(sizeof(float) * big);
        out[1] = malloc(sizeof(float) * big);
        for (int lvl = 1; lvl <= top + 2; lvl++) { /* top+1: bf16 products forced on; top+2: f32 on AMX */
            if (lvl == top + 2 && top < 4) break;
            vg_cpu_force_level(lvl > top ? top : lvl);
            gemm_set_bf16_products(lvl == top + 1 ? 1 : 0);
            vg_gemm_f32_amx(lvl == top + 2);
            for (int op = 0; op < 5; op++) {
                void *wd = op < 3 ? to_dtype(w, N * K, dts[op]) : NULL;
                size_t n = op == 3 ? (size_t)(M * N) /* nn: A[M,K]->C[M,N] via N:=K */ : op == 4 ? (size_t)(K * M) : (size_t)(M * N);
                for (int t = 0; t < 2; t++) {
                    omp_set_num_threads(t + 1);
                    for (size_t i = 0; i < n; i++) out[t][i] = 0.5f;
                    if (op < 3) vg_matmul_nt(out[t], a, wd, dts[op], bias, M, N, K, true);
                    else if (op == 3) vg_matmul_nn(out[t], a, w, M, K, N, false); /* A[M,K] W[K,N] */
                    else vg_matmul_tn(out[t], w, a, N, K, M);                    /* W[N,K]^T A[N,M]: M=N rows */
                }
                omp_set_num_threads(saved);
                free(wd);
                if (memcmp(out[0], out[1], n * sizeof(float)) != 0) {
                    size_t i = 0;
                    while (out[0][i] == out[1][i]) i++;
                    vg_gemm_f32_amx(false);
                    vg_cpu_force_level(0);
                    gemm_set_bf16_products(-1);
                    CHECKF(0, "op %d level %d M=%lld N=%lld K=%lld: 1 vs 2 threads differ at %zu: %.9g vs %.9g", op,
                           lvl, (long long)M, (long long)N, (long long)K, i, out[0][i], out[1][i]);
                }
            }
        }
        vg_cpu_force_level(0);
        gemm_set_bf16_products(-1);
        vg_gemm_f32_amx(false);
        free(a); free(w); free(bias); free(out[0]); free(out[1]);
    }
#endif
}

/* vg_gemm_bf16: all three products with both operands rounded to bf16 (RNE). Reference: the _ref
 * loops on operands rounded the same way, so only the f32 summation order differs (vdpbf16ps adds
 * the odd k's product first, then the even one's; k blocks) and the tolerance is the f32 one.
 * A second check against the unrounded f32 product bounds what training gives up: each product
 * term is off by at most ~2^-7 |a w| (two roundings, unit roundoff 2^-8 each: bf16 keeps 8 significant
 * bits), so the sum by 2^-7 sum|a w|, with sum|a w| computed from the data.
 * A missing product (|a w| ~ 0.25) or an operand left f32 where bf16 was expected fails the first. */
static void round_bf16(float *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = vg_bf16_to_f32(vg_f32_to_bf16(src[i]));
}

VG_TEST(gemm_bf16_ops_match_rounded_ref) {
    if (!vg_gemm_bf16_available()) { printf("  skip: no AVX512_BF16 on this CPU\n"); return; }
    for (int s = 0; s < NSHAPES; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *a = rnd(M * N, 11 + s), *w = rnd(N * K, 110 + s), *b = rnd(M * K, 160 + s), *bias = rnd(K, 170 + s);
        float *ar = malloc(sizeof(float) * M * N), *wr = malloc(sizeof(float) * N * K), *br = malloc(sizeof(float) * M * K);
        float *ref = malloc(sizeof(float) * M * K), *got = malloc(sizeof(float) * M * K), *exact = malloc(sizeof(float) * M * K);
        float *tref = calloc((size_t)(N * K), sizeof(float)), *tgot = calloc((size_t)(N * K), sizeof(float));
        float *wt = rnd(K * N, 510 + s), *wtr = malloc(sizeof(float) * K * N);
        round_bf16(ar, a, M * N); round_bf16(wr, w, N * K); round_bf16(br, b, M * K); round_bf16(wtr, wt, K * N);
        bool was = vg_gemm_bf16(true);
        char what[128];
        /* nn: C[M,K] = A[M,N] W[N,K] */
        vg_matmul_nn_ref(ref, ar, wr, M, N, K, false);
        vg_matmul_nn(got, a, w, M, N, K, false);
        snprintf(what, sizeof(what), "bf16 nn M=%lld N=%lld K=%lld", (long long)M, (long long)N, (long long)K);
        if (!vg_test_close(__FILE__, __LINE__, what, got, ref, M * K, f32_atol(N), 1e-4)) goto out;
        vg_matmul_nn_ref(exact, a, w, M, N, K, false);
        for (int64_t i = 0; i < M * N; i++) ar[i] = fabsf(a[i]);
        for (int64_t i = 0; i < N * K; i++) wr[i] = fabsf(w[i]);
        vg_matmul_nn_ref(ref, ar, wr, M, N, K, false); /* sum |a w| per output */
        for (int64_t i = 0; i < M * K; i++)
            if (!(fabs((double)got[i] - exact[i]) <= ldexp((double)ref[i], -7) + f32_atol(N))) {
                vg_test_failf(__FILE__, __LINE__, "bf16 nn vs f32 M=%lld N=%lld K=%lld [%lld]: %.8g vs %.8g, bound 2^-7 * %.6g",
                              (long long)M, (long long)N, (long long)K, (long long)i, got[i], exact[i], ref[i]);
                goto out;
            }
        round_bf16(ar, a, M * N); round_bf16(wr, w, N * K);
        /* nt with f32 weights and bias: C[M,K] = A[M,N] Wt[K,N]^T + bias */
        vg_matmul_nt_ref(ref, ar, wtr, VG_DTYPE_F32, bias, M, K, N, false);
        vg_matmul_nt(got, a, wt, VG_DTYPE_F32, bias, M, K, N, false);
        snprintf(what, sizeof(what), "bf16 nt M=%lld N=%lld K=%lld", (long long)M, (long long)K, (long long)N);
        if (!vg_test_close(__FILE__, __LINE__, what, got, ref, M * K, f32_atol(N), 1e-4)) goto out;
        /* tn: C[N,K] += A[M,N]^T B[M,K] */
        vg_matmul_tn_ref(tref, ar, br, M, N, K);
        vg_matmul_tn(tgot, a, b, M, N, K);
        snprintf(what, sizeof(what), "bf16 tn M=%lld N=%lld K=%lld", (long long)M, (long long)N, (long long)K);
        if (!vg_test_close(__FILE__, __LINE__, what, tgot, tref, N * K, f32_atol(M), 1e-4)) goto out;
    out:
        vg_gemm_bf16(was);
        free(a); free(w); free(b); free(bias); free(ar); free(wr); free(br); free(ref); free(got); free(exact);
        free(tref); free(tgot); free(wt); free(wtr);
        if (vg_test_failed()) return;
    }
}

VG_TEST(gemm_bf16_ops_threads_bit_identical) {
#ifdef _OPENMP
    if (!vg_gemm_bf16_available()) { printf("  skip: no AVX512_BF16 on this CPU\n"); return; }
    const int64_t sh[2][3] = {{130, 70, 129}, {7, 300, 529}};
    int saved = omp_get_max_threads();
    bool was = vg_gemm_bf16(true);
    for (int s = 0; s < 2; s++) {
        int64_t M = sh[s][0], N = sh[s][1], K = sh[s][2];
        size_t big = (size_t)(M > N ? M : N) * (size_t)(K > N ? K : N);
        float *a = rnd(M * K, 25), *w = rnd(N * K, 26), *bias = rnd(N, 27), *out[2];
        out[0] = malloc(sizeof(float) * big);
        out[1] = malloc(sizeof(float) * big);
        for (int op = 0; op < 3; op++) {
            size_t n = op == 0 ? (size_t)(M * N) : op == 1 ? (size_t)(M * N) : (size_t)(K * M);
            for (int t = 0; t < 2; t++) {
                omp_set_num_threads(t + 1);
                for (size_t i = 0; i < n; i++) out[t][i] = 0.5f;
                if (op == 0) vg_matmul_nt(out[t], a, w, VG_DTYPE_F32, bias, M, N, K, true);
                else if (op == 1) vg_matmul_nn(out[t], a, w, M, K, N, false);
                else vg_matmul_tn(out[t], w, a, N, K, M);
            }
            omp_set_num_threads(saved);
            if (memcmp(out[0], out[1], n * sizeof(float)) != 0) {
                vg_gemm_bf16(was);
                CHECKF(0, "bf16 op %d M=%lld N=%lld K=%lld: 1 vs 2 threads differ", op, (long long)M, (long long)N, (long long)K);
            }
        }
        free(a); free(w); free(bias); free(out[0]); free(out[1]);
    }
    vg_gemm_bf16(was);
#endif
}
