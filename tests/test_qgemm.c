/* test_qgemm.c - products on quantized weights (vg_qmatmul_nt, src/ops/quant_*.c):
 *  - every fast path (AVX-512 VNNI, AVX2) bit-identical to vg_qmatmul_nt_ref for all ten types
 *    on awkward shapes (M, N in 1, 7, 33, 129; K = 96, 160 for the 32-element types);
 *  - 1 and 2 OpenMP threads bit-identical (panel tasks and row-chunk tasks);
 *  - the reference against dequantize-then-multiply (in double, with this file's own dequantizer
 *    written from ggml's dequantize_row_*, itself checked against vg_dequant_row_ref) within the
 *    bound derived at qbound();
 *  - with activations that quantize exactly, the same comparison within float rounding only,
 *    which catches a single wrong weight code;
 *  - vg_matmul_nt / vg_matmul_nt_ref route quantized weights here, with bias and accumulate;
 *  - bad K and a non-product type give NaN and an error, no crash;
 *  - the AVX-512 activation quantizer gives the scalar one's bytes, ties included.
 * Weights are random bytes (every code, scale and bit pattern) with finite random f16 scales. */
#include <stdlib.h>
#include "test.h"
#include "vidgen/gemm.h"
#include "vidgen/quant.h"
#include "vidgen/rng.h"
#include "vidgen/status.h"
#include "ops/quant_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static const vg_dtype qtypes[] = {VG_DTYPE_Q8_0, VG_DTYPE_Q4_0, VG_DTYPE_Q4_1, VG_DTYPE_Q5_0, VG_DTYPE_Q5_1,
                                  VG_DTYPE_Q2_K, VG_DTYPE_Q3_K, VG_DTYPE_Q4_K, VG_DTYPE_Q5_K, VG_DTYPE_Q6_K};
#define NQT ((int)(sizeof(qtypes) / sizeof(qtypes[0])))

static uint16_t h16(vg_rng *r, double lo, double hi) { return vg_f32_to_f16((float)(lo + (hi - lo) * vg_rng_uniform(r))); }

/* n rows of K elements of type t: random bytes, then finite f16 scales (d in [0.001, 0.02],
 * min scales in [0, 0.01]; Q8_0 d up to 0.01 so |w| <= ~1.3). */
static void *rnd_q(vg_dtype t, int64_t n, int64_t K, uint64_t seed) {
    vg_rng r;
    vg_rng_seed(&r, seed);
    int64_t nb = n * K / vg_dtype_block(t);
    size_t bb = vg_dtype_block_bytes(t);
    uint8_t *p = malloc((size_t)nb * bb);
    for (size_t i = 0; i < (size_t)nb * bb; i++) p[i] = (uint8_t)(vg_rng_uniform(&r) * 256.0);
    for (int64_t b = 0; b < nb; b++) {
        void *blk = p + (size_t)b * bb;
        switch (t) {
        case VG_DTYPE_Q8_0: ((vg_block_q8_0 *)blk)->d = h16(&r, 0.001, 0.01); break;
        case VG_DTYPE_Q4_0: ((vg_block_q4_0 *)blk)->d = h16(&r, 0.001, 0.02); break;
        case VG_DTYPE_Q5_0: ((vg_block_q5_0 *)blk)->d = h16(&r, 0.001, 0.02); break;
        case VG_DTYPE_Q4_1: ((vg_block_q4_1 *)blk)->d = h16(&r, 0.001, 0.02); ((vg_block_q4_1 *)blk)->m = h16(&r, -0.1, 0.1); break;
        case VG_DTYPE_Q5_1: ((vg_block_q5_1 *)blk)->d = h16(&r, 0.001, 0.02); ((vg_block_q5_1 *)blk)->m = h16(&r, -0.1, 0.1); break;
        case VG_DTYPE_Q2_K: ((vg_block_q2_K *)blk)->d = h16(&r, 0.001, 0.02); ((vg_block_q2_K *)blk)->dmin = h16(&r, 0, 0.01); break;
        case VG_DTYPE_Q3_K: ((vg_block_q3_K *)blk)->d = h16(&r, 0.001, 0.02); break;
        case VG_DTYPE_Q4_K: ((vg_block_q4_K *)blk)->d = h16(&r, 0.001, 0.02); ((vg_block_q4_K *)blk)->dmin = h16(&r, 0, 0.01); break;
        case VG_DTYPE_Q5_K: ((vg_block_q5_K *)blk)->d = h16(&r, 0.001, 0.02); ((vg_block_q5_K *)blk)->dmin = h16(&r, 0, 0.01); break;
        case VG_DTYPE_Q6_K: ((vg_block_q6_K *)blk)->d = h16(&r, 0.001, 0.02); break;
        default: break;
        }
    }
    return p;
}

/* This file's own dequantizer, in double, written from ggml's dequantize_row_* (the Q3_K scales
 * through ggml's aux-word shuffle, the Q4_K/Q5_K ones through get_scale_min_k4). w[e] the value,
 * wa[e] = |d sc q| + |min part|: the size of the terms the product sums before they cancel. */
static void deq(vg_dtype t, const void *src, int64_t n, double *w, double *wa) {
    const uint8_t *p = src;
    size_t bb = vg_dtype_block_bytes(t);
    int64_t blk = vg_dtype_block(t);
    for (int64_t b = 0; b < n / blk; b++, p += bb, w += blk, wa += blk) {
        switch (t) {
        case VG_DTYPE_Q8_0: {
            const vg_block_q8_0 *x = (const void *)p;
            double d = vg_f16_to_f32(x->d);
            for (int j = 0; j < 32; j++) { w[j] = d * x->qs[j]; wa[j] = fabs(w[j]); }
            break;
        }
        case VG_DTYPE_Q4_0: case VG_DTYPE_Q4_1: {
            const vg_block_q4_1 *x1 = (const void *)p;
            const vg_block_q4_0 *x0 = (const void *)p;
            bool one = t == VG_DTYPE_Q4_1;
            double d = vg_f16_to_f32(one ? x1->d : x0->d), m = one ? vg_f16_to_f32(x1->m) : 0;
            const uint8_t *qs = one ? x1->qs : x0->qs;
            for (int j = 0; j < 16; j++) {
                int a0 = (qs[j] & 15) - (one ? 0 : 8), a1 = (qs[j] >> 4) - (one ? 0 : 8);
                w[j] = d * a0 + m; wa[j] = fabs(d * a0) + fabs(m);
                w[j + 16] = d * a1 + m; wa[j + 16] = fabs(d * a1) + fabs(m);
            }
            break;
        }
        case VG_DTYPE_Q5_0: case VG_DTYPE_Q5_1: {
            const vg_block_q5_1 *x1 = (const void *)p;
            const vg_block_q5_0 *x0 = (const void *)p;
            bool one = t == VG_DTYPE_Q5_1;
            double d = vg_f16_to_f32(one ? x1->d : x0->d), m = one ? vg_f16_to_f32(x1->m) : 0;
            const uint8_t *qs = one ? x1->qs : x0->qs, *qhb = one ? x1->qh : x0->qh;
            uint32_t qh;
            memcpy(&qh, qhb, 4);
            for (int j = 0; j < 16; j++) {
                int xh0 = ((qh & (1u << j)) >> j) << 4, xh1 = (qh & (1u << (j + 16))) >> (j + 12);
                int a0 = ((qs[j] & 15) | xh0) - (one ? 0 : 16), a1 = ((qs[j] >> 4) | xh1) - (one ? 0 : 16);
                w[j] = d * a0 + m; wa[j] = fabs(d * a0) + fabs(m);
                w[j + 16] = d * a1 + m; wa[j + 16] = fabs(d * a1) + fabs(m);
            }
            break;
        }
        case VG_DTYPE_Q2_K: {
            const vg_block_q2_K *x = (const void *)p;
            double d = vg_f16_to_f32(x->d), mn = vg_f16_to_f32(x->dmin);
            const uint8_t *q = x->qs;
            int is = 0, o = 0;
            for (int n2 = 0; n2 < 256; n2 += 128, q += 32)
                for (int j = 0, sh = 0; j < 4; j++, sh += 2)
                    for (int half = 0; half < 2; half++) {
                        uint8_t sc = x->scales[is++];
                        double dl = d * (sc & 15), ml = mn * (sc >> 4);
                        for (int l = 0; l < 16; l++, o++) {
                            int v = (q[l + 16 * half] >> sh) & 3;
                            w[o] = dl * v - ml; wa[o] = fabs(dl * v) + ml;
                        }
                    }
            break;
        }
        case VG_DTYPE_Q3_K: {
            const vg_block_q3_K *x = (const void *)p;
            double d = vg_f16_to_f32(x->d);
            uint32_t aux[4];
            memcpy(aux, x->scales, 12);
            uint32_t tmp = aux[2];
            const uint32_t k1 = 0x03030303, k2 = 0x0f0f0f0f;
            aux[2] = ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4);
            aux[3] = ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4);
            aux[0] = (aux[0] & k2) | (((tmp >> 0) & k1) << 4);
            aux[1] = (aux[1] & k2) | (((tmp >> 2) & k1) << 4);
            const int8_t *scales = (const int8_t *)aux;
            const uint8_t *q = x->qs, *hm = x->hmask;
            uint8_t m = 1;
            int is = 0, o = 0;
            for (int n2 = 0; n2 < 256; n2 += 128, q += 32)
                for (int j = 0, sh = 0; j < 4; j++, sh += 2, m <<= 1)
                    for (int half = 0; half < 2; half++) {
                        double dl = d * (scales[is++] - 32);
                        for (int l = 0; l < 16; l++, o++) {
                            int v = ((q[l + 16 * half] >> sh) & 3) - ((hm[l + 16 * half] & m) ? 0 : 4);
                            w[o] = dl * v; wa[o] = fabs(w[o]);
                        }
                    }
            break;
        }
        case VG_DTYPE_Q4_K: case VG_DTYPE_Q5_K: {
            const vg_block_q5_K *x5 = (const void *)p;
            const vg_block_q4_K *x4 = (const void *)p;
            bool five = t == VG_DTYPE_Q5_K;
            double d = vg_f16_to_f32(five ? x5->d : x4->d), mn = vg_f16_to_f32(five ? x5->dmin : x4->dmin);
            const uint8_t *s = five ? x5->scales : x4->scales, *ql = five ? x5->qs : x4->qs;
            int o = 0;
            for (int j = 0; j < 4; j++, ql += 32)
                for (int half = 0; half < 2; half++) {
                    int k = 2 * j + half, sc, mm;
                    if (k < 4) { sc = s[k] & 63; mm = s[k + 4] & 63; }
                    else { sc = (s[k + 4] & 0xF) | ((s[k - 4] >> 6) << 4); mm = (s[k + 4] >> 4) | ((s[k] >> 6) << 4); }
                    for (int l = 0; l < 32; l++, o++) {
                        int v = half ? ql[l] >> 4 : ql[l] & 15;
                        if (five && (x5->qh[l] & (1 << k))) v += 16;
                        w[o] = d * sc * v - mn * mm; wa[o] = d * sc * v + mn * mm;
                    }
                }
            break;
        }
        case VG_DTYPE_Q6_K: {
            const vg_block_q6_K *x = (const void *)p;
            double d = vg_f16_to_f32(x->d);
            const uint8_t *ql = x->ql, *qh = x->qh;
            const int8_t *sc = x->scales;
            for (int n2 = 0; n2 < 256; n2 += 128, ql += 64, qh += 32, sc += 8)
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    w[n2 + l] = d * sc[is] * q1;
                    w[n2 + l + 32] = d * sc[is + 2] * q2;
                    w[n2 + l + 64] = d * sc[is + 4] * q3;
                    w[n2 + l + 96] = d * sc[is + 6] * q4;
                    for (int k = 0; k < 4; k++) wa[n2 + l + 32 * k] = fabs(w[n2 + l + 32 * k]);
                }
            break;
        }
        default: break;
        }
    }
}

/* Activations in [-1, 1]; row i scaled by 2^(i % 5 - 2) so the per-block scales differ. */
static float *rnd_a(int64_t M, int64_t K, uint64_t seed) {
    vg_rng r;
    vg_rng_seed(&r, seed);
    float *p = malloc(sizeof(float) * (size_t)(M * K));
    for (int64_t i = 0; i < M; i++)
        for (int64_t k = 0; k < K; k++) p[i * K + k] = (float)((2.0 * vg_rng_uniform(&r) - 1.0) * ldexp(1.0, (int)(i % 5) - 2));
    return p;
}

/* Activations that quantize exactly: k * 2^-7 with integer |k| <= 127 and one |k| = 127 in every
 * block of 32 (so also in every 256), so d = 2^-7 for Q8_0/Q8_K-style quantization, x/d is an
 * integer, and the activation rounding error is 0. */
static float *exact_a(int64_t M, int64_t K, uint64_t seed) {
    vg_rng r;
    vg_rng_seed(&r, seed);
    float *p = malloc(sizeof(float) * (size_t)(M * K));
    for (int64_t i = 0; i < M * K; i++) {
        int k = (int)(vg_rng_uniform(&r) * 255.0) - 127;
        if (i % 32 == 5) k = vg_rng_uniform(&r) < 0.5 ? 127 : -127;
        p[i] = ldexpf((float)k, -7);
    }
    return p;
}

static int max_level(void) {
    vg_cpu_force_level(0);
    return vg_cpu_level();
}

static bool same_bits(const char *what, const float *got, const float *ref, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&got[i], &ref[i], 4) != 0) {
            vg_test_failf(__FILE__, __LINE__, "%s: element %lld: %.9g, ref %.9g (not bit-identical)", what, (long long)i,
                          got[i], ref[i]);
            return false;
        }
    return true;
}

static int64_t k_for(vg_dtype t, int variant) {
    if (vg_dtype_block(t) == 256) return variant == 0 ? 256 : 512;
    return variant == 0 ? 96 : 160;
}

VG_TEST(qgemm_fast_matches_ref) {
    static const int64_t shapes[][2] = {{1, 1}, {1, 129}, {7, 33}, {33, 7}, {129, 33}, {33, 129}, {7, 1}, {129, 129}};
    int top = max_level();
    for (int ti = 0; ti < NQT; ti++) {
        vg_dtype t = qtypes[ti];
        for (int kv = 0; kv < 2; kv++)
            for (int s = 0; s < (int)(sizeof(shapes) / sizeof(shapes[0])); s++) {
                int64_t M = shapes[s][0], N = shapes[s][1], K = k_for(t, kv);
                if (M * N > 129 * 33 && kv == 0) continue; /* the largest shape at one K per type */
                float *a = rnd_a(M, K, 10 + s), *ref = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
                void *w = rnd_q(t, N, K, 1000 + 17 * ti + s);
                vg_qmatmul_nt_ref(ref, a, w, t, NULL, M, N, K);
                for (int lvl = 2; lvl <= (top < 3 ? top : 3); lvl++) {
                    vg_cpu_force_level(lvl);
                    memset(got, 0xff, sizeof(float) * M * N);
                    vg_qmatmul_nt(got, a, w, t, NULL, M, N, K);
                    char what[128];
                    snprintf(what, sizeof(what), "%s M=%lld N=%lld K=%lld level %d", vg_dtype_name(t), (long long)M,
                             (long long)N, (long long)K, lvl);
                    if (!same_bits(what, got, ref, M * N)) { vg_cpu_force_level(0); return; }
                }
                vg_cpu_force_level(0);
                free(a); free(ref); free(got); free(w);
            }
    }
}

VG_TEST(qgemm_threads_bit_identical) {
#ifdef _OPENMP
    int was = omp_get_max_threads();
    /* 129 x 129: 5 panels, split over panels; 129 x 7: one panel, split over row chunks */
    static const int64_t shapes[][2] = {{129, 129}, {129, 7}, {2, 300}};
    for (int ti = 0; ti < NQT; ti++)
        for (int s = 0; s < 3; s++) {
            vg_dtype t = qtypes[ti];
            int64_t M = shapes[s][0], N = shapes[s][1], K = k_for(t, 1);
            float *a = rnd_a(M, K, 50 + s), *c1 = malloc(sizeof(float) * M * N), *c2 = malloc(sizeof(float) * M * N);
            void *w = rnd_q(t, N, K, 77 + ti);
            omp_set_num_threads(1);
            vg_qmatmul_nt(c1, a, w, t, NULL, M, N, K);
            omp_set_num_threads(2);
            vg_qmatmul_nt(c2, a, w, t, NULL, M, N, K);
            omp_set_num_threads(was);
            char what[96];
            snprintf(what, sizeof(what), "%s M=%lld N=%lld 1 vs 2 threads", vg_dtype_name(t), (long long)M, (long long)N);
            if (!same_bits(what, c2, c1, M * N)) return;
            free(a); free(c1); free(c2); free(w);
        }
#else
    printf("skip (no OpenMP)\n");
#endif
}

/* Bound of |qmatmul - sum_e w_e a_e| (w_e dequantized exactly, in double).
 * Activation rounding: each activation block (32 or 256 elements) is a_e = d_a q_e + r_e with
 * d_a = amax/127 and |r_e| <= d_a/2 (round to nearest; x * (1/d) is off x/d by a few ulps, so
 * 0.5 + 2^-16), giving sum_blocks (d_a/2)(1 + 2^-15) sum_{e in block} |w_e|.
 * Float steps: each block adds one or two terms with fmaf after rounding d_w*d_a (and (float)itot,
 * exact below 2^24), so every step rounds by at most 2^-24 of the partial sum and of the term;
 * the partial sums are at most S = sum_e wa_e (|a_e| + d_a) (wa_e: the size of the pieces before
 * the min cancels), giving (2 nb + 4) 2^-24 S. */
static double qbound(vg_dtype t, const double *wa, const float *a, int64_t K, bool exact_acts) {
    int64_t blk = vg_dtype_block(t), ab = blk == 256 ? 256 : 32, nb = K / blk;
    double act = 0, S = 0;
    for (int64_t b0 = 0; b0 < K; b0 += ab) {
        double amax = 0, swa = 0;
        for (int64_t e = b0; e < b0 + ab; e++) amax = fmax(amax, fabs(a[e]));
        double da = amax / 127.0;
        for (int64_t e = b0; e < b0 + ab; e++) {
            swa += wa[e];
            S += wa[e] * (fabs(a[e]) + da);
        }
        act += da / 2 * (1 + ldexp(1, -15)) * swa;
    }
    return (exact_acts ? 0 : act) + (2.0 * (double)nb + 4) * ldexp(S, -24) + 1e-30;
}

static bool vs_dequant(vg_dtype t, int64_t M, int64_t N, int64_t K, bool exact_acts, uint64_t seed) {
    float *a = exact_acts ? exact_a(M, K, seed) : rnd_a(M, K, seed), *c = malloc(sizeof(float) * M * N);
    void *w = rnd_q(t, N, K, seed + 1);
    double *wd = malloc(sizeof(double) * N * K), *wa = malloc(sizeof(double) * N * K);
    deq(t, w, N * K, wd, wa);
    /* this file's dequantizer agrees with the library's (quant.c, bit-exact with ggml's float
     * code on the shared goldens) up to that code's f32 rounding: 2^-22 of the terms' size */
    float *wf = malloc(sizeof(float) * N * K);
    vg_dequant_row_ref(t, w, wf, N * K);
    bool ok = true;
    for (int64_t e = 0; e < N * K && ok; e++)
        if (!(fabs(wf[e] - wd[e]) <= ldexp(wa[e], -22) + 1e-30)) {
            vg_test_failf(__FILE__, __LINE__, "%s element %lld: vg_dequant_row_ref %.9g, test dequantizer %.9g",
                          vg_dtype_name(t), (long long)e, wf[e], wd[e]);
            ok = false;
        }
    free(wf);
    vg_qmatmul_nt_ref(c, a, w, t, NULL, M, N, K);
    double worst = 0;
    for (int64_t i = 0; i < M && ok; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += wd[j * K + k] * a[i * K + k];
            double err = fabs((double)c[i * N + j] - s), bnd = qbound(t, wa + j * K, a + i * K, K, exact_acts);
            if (err / bnd > worst) worst = err / bnd;
            if (!(err <= bnd)) {
                vg_test_failf(__FILE__, __LINE__, "%s%s M=%lld N=%lld K=%lld [%lld,%lld]: %.9g vs dequantized %.9g, "
                              "|err| %.3g > bound %.3g", vg_dtype_name(t), exact_acts ? " (exact activations)" : "",
                              (long long)M, (long long)N, (long long)K, (long long)i, (long long)j, c[i * N + j], s, err, bnd);
                ok = false;
                break;
            }
        }
    if (ok && getenv("VG_QGEMM_VERBOSE"))
        printf("  %s%s: worst |err|/bound %.3f\n", vg_dtype_name(t), exact_acts ? " exact" : "", worst);
    free(a); free(c); free(w); free(wd); free(wa);
    return ok;
}

VG_TEST(qgemm_ref_vs_dequant_bound) {
    for (int ti = 0; ti < NQT; ti++) {
        vg_dtype t = qtypes[ti];
        if (!vs_dequant(t, 9, 13, k_for(t, 1), false, 500 + ti)) return;
        if (!vs_dequant(t, 9, 13, k_for(t, 1), true, 600 + ti)) return;
    }
}

VG_TEST(qgemm_via_matmul_nt_bias_accumulate) {
    const int64_t M = 33, N = 40;
    for (int ti = 0; ti < NQT; ti++) {
        vg_dtype t = qtypes[ti];
        int64_t K = k_for(t, 1);
        float *a = rnd_a(M, K, 3), *bias = rnd_a(1, N, 4), *c0 = rnd_a(M, N, 5);
        float *plain = malloc(sizeof(float) * M * N), *ref = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
        void *w = rnd_q(t, N, K, 6 + ti);
        vg_qmatmul_nt_ref(plain, a, w, t, NULL, M, N, K);
        for (int acc = 0; acc < 2; acc++)
            for (int hb = 0; hb < 2; hb++) {
                for (int64_t i = 0; i < M * N; i++) {
                    float v = plain[i];
                    if (hb) v += bias[i % N];
                    ref[i] = acc ? c0[i] + v : v;
                }
                char what[96];
                snprintf(what, sizeof(what), "%s vg_matmul_nt acc=%d bias=%d", vg_dtype_name(t), acc, hb);
                memcpy(got, c0, sizeof(float) * M * N);
                vg_matmul_nt(got, a, w, t, hb ? bias : NULL, M, N, K, acc);
                if (!same_bits(what, got, ref, M * N)) return;
                memcpy(got, c0, sizeof(float) * M * N);
                vg_matmul_nt_ref(got, a, w, t, hb ? bias : NULL, M, N, K, acc);
                if (!same_bits(what, got, ref, M * N)) return;
            }
        free(a); free(bias); free(c0); free(plain); free(ref); free(got); free(w);
    }
}

VG_TEST(qgemm_bad_arguments) {
    float a[64] = {0}, c[4];
    uint8_t w[256] = {0};
    vg_clear_error();
    vg_qmatmul_nt(c, a, w, VG_DTYPE_Q8_0, NULL, 1, 1, 48); /* 48: not a multiple of 32 */
    CHECK(isnan(c[0]));
    CHECKF(strstr(vg_last_error(), "multiple of the block") != NULL, "error: %s", vg_last_error());
    vg_clear_error();
    vg_qmatmul_nt_ref(c, a, w, VG_DTYPE_Q4_K, NULL, 1, 1, 32); /* K-quant needs 256 */
    CHECK(isnan(c[0]));
    CHECK(strstr(vg_last_error(), "(256)") != NULL);
    vg_clear_error();
    vg_qmatmul_nt(c, a, w, VG_DTYPE_F16, NULL, 1, 1, 32);
    CHECK(isnan(c[0]));
    CHECK(strstr(vg_last_error(), "not a product type") != NULL);
}

/* The AVX-512 activation quantizer gives q_quant_a32's bytes, sums and scales, ties included:
 * a block with amax 127 has d = 1, so x = k + 0.5 lands exactly on the tie (rounded away from 0). */
VG_TEST(qgemm_fast_activation_quantizer_matches_ref) {
    const q_path *p = q_path_avx512();
    if (!p || !p->quant32 || max_level() < 3 || !vg_cpu()->avx512vnni) { printf("skip (no AVX-512 VNNI)\n"); return; }
    enum { NB = 8 };
    float x[NB * 32];
    vg_rng r;
    vg_rng_seed(&r, 9);
    for (int i = 0; i < NB * 32; i++) {
        int b = i / 32;
        double u = 2.0 * vg_rng_uniform(&r) - 1.0;
        x[i] = b < 3 ? (float)(floor(u * 126.0) + 0.5) : b == 3 ? 0.0f : (float)(u * ldexp(1.0, b - 6));
        if (i % 32 == 7 && b < 3) x[i] = b == 1 ? -127.0f : 127.0f;
    }
    qa_blk ref[NB], got[NB];
    memset(ref, 0, sizeof(ref));
    memset(got, 0, sizeof(got));
    q_quant_a32(x, ref, NB * 32);
    p->quant32(x, got, NB * 32);
    CHECK(ref[0].d == 1.0f);
    CHECKF(memcmp(ref, got, sizeof(ref)) == 0, "fast activation quantizer differs from q_quant_a32");
    /* Q8_K: block 0 has -127 first and +127 later as the largest magnitudes (the first sets
     * iscale = -127 / -127 = 1) and ties k + 0.5 everywhere else (half to even); block 1 is all
     * zero; block 2 random with its maximum positive. */
    float xk[3 * 256];
    for (int i = 0; i < 256; i++) xk[i] = (float)((i * 37) % 200 - 100) + 0.5f;
    xk[10] = -127.0f;
    xk[100] = 127.0f;
    xk[250] = 127.0f;
    for (int i = 256; i < 512; i++) xk[i] = 0.0f;
    for (int i = 512; i < 768; i++) xk[i] = (float)(vg_rng_uniform(&r) - 0.5);
    xk[600] = 0.75f;
    vg_block_q8_K kr[3], kg[3];
    memset(kr, 0x55, sizeof(kr));
    memset(kg, 0x55, sizeof(kg));
    q_quant_aK(xk, kr, 3 * 256);
    p->quantK(xk, kg, 3 * 256);
    CHECK(kr[0].d == 1.0f && kr[1].d == 0.0f && kr[2].d < 0.0f);
    CHECKF(memcmp(kr, kg, sizeof(kr)) == 0, "fast Q8_K activation quantizer differs from q_quant_aK");
}
