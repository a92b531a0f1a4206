/* quantize_avx512.c - ggml's two block searches on 16 independent sub-blocks at once, one per
 * lane: make_qkx3_quants (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K) and the weighted make_qx_quants (Q4_0,
 * Q5_0, Q3_K, Q6_K), the costly parts of the quantizers.
 * Each lane runs exactly the scalar algorithm of quantize.c: the same IEEE single operations on
 * the same operands in the same order (no FMA, correctly rounded division, nearest_int by the
 * 1.5 * 2^23 trick, comparisons as masks), so every lane gives the scalar result's bits.
 * Compiled with target attributes; runs only when vg_cpu_level() >= 3. */
#include <immintrin.h>
#include <string.h>
#include "ops/quant_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define INL inline __attribute__((always_inline))

/* nearest_int(v) clamped to [0, nmax]. */
static INL T512 __m512i near_clamp(__m512 v, __m512i nmaxv) {
    const __m512i b = _mm512_castps_si512(_mm512_add_ps(v, _mm512_set1_ps(12582912.f)));
    const __m512i l = _mm512_sub_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x00400000));
    return _mm512_max_epi32(_mm512_setzero_si512(), _mm512_min_epi32(nmaxv, l));
}

/* np (1..16) problems of n (<= 32) values, problem k at x + k n. */
static T512 void qkx3_x16(int np, int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale_out,
                          float *min_out) {
    const float rmin = -0.9f, rdelta = 0.05f;
    const int nstep = 36;
    if (n < 1 || n > 32) return; /* callers: n = 16 or 32 */
    __m512 xt[32], wt[32];
    __m512i Lt[32], La[32];
    /* lanes past np repeat problem 0 (their results are dropped) */
    int idx[16];
    for (int k = 0; k < 16; k++) idx[k] = (k < np ? k : 0) * n;
    const __m512i vidx = _mm512_loadu_si512(idx);
    for (int i = 0; i < n; i++) {
        xt[i] = _mm512_i32gather_ps(vidx, x + i, 4);
        wt[i] = _mm512_i32gather_ps(vidx, w + i, 4);
    }
    const __m512i nmaxv = _mm512_set1_epi32(nmax);
    const __m512 zero = _mm512_setzero_ps();

    __m512 min = xt[0], max = xt[0], sum_w = wt[0], sum_x = _mm512_mul_ps(sum_w, xt[0]);
    for (int i = 1; i < n; i++) {
        min = _mm512_mask_mov_ps(min, _mm512_cmp_ps_mask(xt[i], min, _CMP_LT_OQ), xt[i]);
        max = _mm512_mask_mov_ps(max, _mm512_cmp_ps_mask(xt[i], max, _CMP_GT_OQ), xt[i]);
        sum_w = _mm512_add_ps(sum_w, wt[i]);
        sum_x = _mm512_add_ps(sum_x, _mm512_mul_ps(wt[i], xt[i]));
    }
    min = _mm512_mask_mov_ps(min, _mm512_cmp_ps_mask(min, zero, _CMP_GT_OQ), zero);
    /* max <= min: all levels 0, scale 0 (the scalar returns early) */
    const __mmask16 flat = _mm512_cmp_ps_mask(max, min, _CMP_LE_OQ);
    const __m512 min0 = min;

    __m512 iscale = _mm512_div_ps(_mm512_set1_ps((float)nmax), _mm512_sub_ps(max, min));
    __m512 scale = _mm512_div_ps(_mm512_set1_ps(1.0f), iscale);
    __m512 best = zero;
    for (int i = 0; i < n; i++) {
        Lt[i] = near_clamp(_mm512_mul_ps(iscale, _mm512_sub_ps(xt[i], min)), nmaxv);
        __m512 diff = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(scale, _mm512_cvtepi32_ps(Lt[i])), min), xt[i]);
        diff = _mm512_mul_ps(diff, diff);
        best = _mm512_add_ps(best, _mm512_mul_ps(wt[i], diff));
    }
    for (int is = 0; is <= nstep; is++) {
        float num = rmin + rdelta * is;
        num = num + nmax;
        iscale = _mm512_div_ps(_mm512_set1_ps(num), _mm512_sub_ps(max, min));
        __m512 sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < n; i++) {
            La[i] = near_clamp(_mm512_mul_ps(iscale, _mm512_sub_ps(xt[i], min)), nmaxv);
            const __m512 lf = _mm512_cvtepi32_ps(La[i]), wl = _mm512_mul_ps(wt[i], lf);
            sum_l = _mm512_add_ps(sum_l, wl);
            sum_l2 = _mm512_add_ps(sum_l2, _mm512_mul_ps(wl, lf));
            sum_xl = _mm512_add_ps(sum_xl, _mm512_mul_ps(wl, xt[i]));
        }
        const __m512 D = _mm512_sub_ps(_mm512_mul_ps(sum_w, sum_l2), _mm512_mul_ps(sum_l, sum_l));
        const __mmask16 dpos = _mm512_cmp_ps_mask(D, zero, _CMP_GT_OQ);
        if (!dpos) continue;
        __m512 this_scale = _mm512_div_ps(_mm512_sub_ps(_mm512_mul_ps(sum_w, sum_xl), _mm512_mul_ps(sum_x, sum_l)), D);
        __m512 this_min = _mm512_div_ps(_mm512_sub_ps(_mm512_mul_ps(sum_l2, sum_x), _mm512_mul_ps(sum_l, sum_xl)), D);
        const __mmask16 mpos = _mm512_cmp_ps_mask(this_min, zero, _CMP_GT_OQ);
        this_min = _mm512_mask_mov_ps(this_min, mpos, zero);
        this_scale = _mm512_mask_div_ps(this_scale, mpos, sum_xl, sum_l2);
        __m512 mad = zero;
        for (int i = 0; i < n; i++) {
            __m512 diff = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(this_scale, _mm512_cvtepi32_ps(La[i])), this_min), xt[i]);
            diff = _mm512_mul_ps(diff, diff);
            mad = _mm512_add_ps(mad, _mm512_mul_ps(wt[i], diff));
        }
        const __mmask16 better = dpos & _mm512_cmp_ps_mask(mad, best, _CMP_LT_OQ) & (__mmask16)~flat;
        if (!better) continue;
        for (int i = 0; i < n; i++) Lt[i] = _mm512_mask_mov_epi32(Lt[i], better, La[i]);
        best = _mm512_mask_mov_ps(best, better, mad);
        scale = _mm512_mask_mov_ps(scale, better, this_scale);
        min = _mm512_mask_mov_ps(min, better, this_min);
    }
    scale = _mm512_mask_mov_ps(scale, flat, zero);
    min = _mm512_mask_mov_ps(min, flat, min0);
    const __m512 the_min = _mm512_xor_ps(min, _mm512_set1_ps(-0.0f));
    float sc[16], mn[16];
    _mm512_storeu_ps(sc, scale);
    _mm512_storeu_ps(mn, the_min);
    int32_t lv[32][16];
    for (int i = 0; i < n; i++) _mm512_storeu_si512(lv[i], _mm512_maskz_mov_epi32((__mmask16)~flat, Lt[i]));
    for (int k = 0; k < np; k++) {
        scale_out[k] = sc[k];
        min_out[k] = mn[k];
        for (int i = 0; i < n; i++) L[k * n + i] = (uint8_t)lv[i][k];
    }
}

void vg_qkx3_batch_avx512(int nprob, int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale,
                          float *the_min) {
    for (int p = 0; p < nprob; p += 16) {
        const int np = nprob - p < 16 ? nprob - p : 16;
        qkx3_x16(np, n, nmax, x + p * n, w + p * n, L + p * n, scale + p, the_min + p);
    }
}

/* nearest_int(v) clamped to [lo, hi]. */
static INL T512 __m512i near_clamp2(__m512 v, int lo, int hi) {
    const __m512i b = _mm512_castps_si512(_mm512_add_ps(v, _mm512_set1_ps(12582912.f)));
    const __m512i l = _mm512_sub_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x00400000));
    return _mm512_max_epi32(_mm512_set1_epi32(lo), _mm512_min_epi32(_mm512_set1_epi32(hi), l));
}

/* make_qx_quants(n, nmax, x, L, 1, w) on np (1..16) problems of n (<= 32) values, one per lane. */
static T512 void qx_x16(int np, int n, int nmax, const float *x, const float *w, int8_t *L, float *scale_out) {
    if (n < 1 || n > 32) return; /* callers: n = 16 or 32 */
    __m512 xt[32], wt[32];
    __m512i Lt[32], La[32];
    int idx[16];
    for (int k = 0; k < 16; k++) idx[k] = (k < np ? k : 0) * n;
    const __m512i vidx = _mm512_loadu_si512(idx);
    for (int i = 0; i < n; i++) {
        xt[i] = _mm512_i32gather_ps(vidx, x + i, 4);
        wt[i] = _mm512_i32gather_ps(vidx, w + i, 4);
    }
    const __m512 zero = _mm512_setzero_ps(), absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 max = zero, amax = zero;
    for (int i = 0; i < n; i++) {
        const __m512 ax = _mm512_and_ps(xt[i], absm);
        const __mmask16 gt = _mm512_cmp_ps_mask(ax, amax, _CMP_GT_OQ);
        amax = _mm512_mask_mov_ps(amax, gt, ax);
        max = _mm512_mask_mov_ps(max, gt, xt[i]);
    }
    /* amax < GROUP_MAX_EPS: all levels 0, scale 0 */
    const __mmask16 tiny = _mm512_cmp_ps_mask(amax, _mm512_set1_ps(1e-15f), _CMP_LT_OQ);
    __m512 iscale = _mm512_div_ps(_mm512_set1_ps((float)-nmax), max);
    __m512 sumlx = zero, suml2 = zero;
    for (int i = 0; i < n; i++) {
        Lt[i] = near_clamp2(_mm512_mul_ps(iscale, xt[i]), -nmax, nmax - 1);
        const __m512 lf = _mm512_cvtepi32_ps(Lt[i]);
        sumlx = _mm512_add_ps(sumlx, _mm512_mul_ps(_mm512_mul_ps(wt[i], xt[i]), lf));
        suml2 = _mm512_add_ps(suml2, _mm512_mul_ps(_mm512_mul_ps(wt[i], lf), lf));
    }
    /* scale = suml2 ? sumlx / suml2 : 0 (NaN counts as true in C) */
    __m512 scale = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(suml2, zero, _CMP_NEQ_UQ), sumlx, suml2);
    __m512 best = _mm512_mul_ps(scale, sumlx);
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        const float num = -(nmax + 0.1f * is);
        iscale = _mm512_div_ps(_mm512_set1_ps(num), max);
        sumlx = suml2 = zero;
        for (int i = 0; i < n; i++) {
            La[i] = near_clamp2(_mm512_mul_ps(iscale, xt[i]), -nmax, nmax - 1);
            const __m512 lf = _mm512_cvtepi32_ps(La[i]);
            sumlx = _mm512_add_ps(sumlx, _mm512_mul_ps(_mm512_mul_ps(wt[i], xt[i]), lf));
            suml2 = _mm512_add_ps(suml2, _mm512_mul_ps(_mm512_mul_ps(wt[i], lf), lf));
        }
        const __mmask16 better = _mm512_cmp_ps_mask(suml2, zero, _CMP_GT_OQ) &
                                 _mm512_cmp_ps_mask(_mm512_mul_ps(sumlx, sumlx), _mm512_mul_ps(best, suml2), _CMP_GT_OQ) &
                                 (__mmask16)~tiny;
        if (!better) continue;
        for (int i = 0; i < n; i++) Lt[i] = _mm512_mask_mov_epi32(Lt[i], better, La[i]);
        scale = _mm512_mask_div_ps(scale, better, sumlx, suml2);
        best = _mm512_mask_mov_ps(best, better, _mm512_mul_ps(scale, sumlx));
    }
    scale = _mm512_mask_mov_ps(scale, tiny, zero);
    float sc[16];
    _mm512_storeu_ps(sc, scale);
    int32_t lv[32][16];
    const __m512i nm = _mm512_set1_epi32(nmax);
    for (int i = 0; i < n; i++) _mm512_storeu_si512(lv[i], _mm512_maskz_add_epi32((__mmask16)~tiny, Lt[i], nm));
    for (int k = 0; k < np; k++) {
        scale_out[k] = sc[k];
        for (int i = 0; i < n; i++) L[k * n + i] = (int8_t)lv[i][k];
    }
}

void vg_qx_batch_avx512(int nprob, int n, int nmax, const float *x, const float *w, int8_t *L, float *scale) {
    for (int p = 0; p < nprob; p += 16) {
        const int np = nprob - p < 16 ? nprob - p : 16;
        qx_x16(np, n, nmax, x + p * n, w + p * n, L + p * n, scale + p);
    }
}

#else
typedef int vg_quantize_avx512_unused; /* not x86-64: quantize.c never calls this file */
#endif
