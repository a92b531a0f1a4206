/* quantize_avx2.c - the two block searches of quantize.c (make_qkx3_quants, weighted
 * make_qx_quants) on 8 independent sub-blocks at once, one per AVX2 lane: the AVX-512 version
 * (quantize_avx512.c) with compare vectors and blends instead of mask registers. Each lane runs
 * the scalar algorithm's IEEE single operations in the same order (no FMA), so the bytes are
 * the _ref's. Compiled with target attributes; runs when vg_cpu_level() == 2. */
#include <immintrin.h>
#include <string.h>
#include "ops/quant_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define T2 __attribute__((target("avx2")))
#define INL inline __attribute__((always_inline))

/* nearest_int(v) clamped to [lo, hi]. */
static INL T2 __m256i near_clamp8(__m256 v, int lo, int hi) {
    const __m256i b = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.f)));
    const __m256i l = _mm256_sub_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x00400000));
    return _mm256_max_epi32(_mm256_set1_epi32(lo), _mm256_min_epi32(_mm256_set1_epi32(hi), l));
}

static INL T2 __m256 sel(__m256 a, __m256 b, __m256 m) { return _mm256_blendv_ps(a, b, m); } /* m ? b : a */
static INL T2 __m256i seli(__m256i a, __m256i b, __m256 m) {
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), m));
}

static INL T2 void gather8(int np, int n, const float *x, const float *w, __m256 *xt, __m256 *wt) {
    int idx[8];
    for (int k = 0; k < 8; k++) idx[k] = (k < np ? k : 0) * n; /* lanes past np repeat problem 0 */
    const __m256i vidx = _mm256_loadu_si256((const __m256i *)idx);
    for (int i = 0; i < n; i++) {
        xt[i] = _mm256_i32gather_ps(x + i, vidx, 4);
        wt[i] = _mm256_i32gather_ps(w + i, vidx, 4);
    }
}

static T2 void qkx3_x8(int np, int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale_out,
                       float *min_out) {
    const float rmin = -0.9f, rdelta = 0.05f;
    const int nstep = 36;
    if (n < 1 || n > 32) return; /* callers: n = 16 or 32 */
    __m256 xt[32], wt[32];
    __m256i Lt[32], La[32];
    gather8(np, n, x, w, xt, wt);
    const __m256 zero = _mm256_setzero_ps();
    __m256 min = xt[0], max = xt[0], sum_w = wt[0], sum_x = _mm256_mul_ps(sum_w, xt[0]);
    for (int i = 1; i < n; i++) {
        min = sel(min, xt[i], _mm256_cmp_ps(xt[i], min, _CMP_LT_OQ));
        max = sel(max, xt[i], _mm256_cmp_ps(xt[i], max, _CMP_GT_OQ));
        sum_w = _mm256_add_ps(sum_w, wt[i]);
        sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(wt[i], xt[i]));
    }
    min = sel(min, zero, _mm256_cmp_ps(min, zero, _CMP_GT_OQ));
    const __m256 flat = _mm256_cmp_ps(max, min, _CMP_LE_OQ), min0 = min;
    __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)nmax), _mm256_sub_ps(max, min));
    __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale);
    __m256 best = zero;
    for (int i = 0; i < n; i++) {
        Lt[i] = near_clamp8(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], min)), 0, nmax);
        __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(Lt[i])), min), xt[i]);
        diff = _mm256_mul_ps(diff, diff);
        best = _mm256_add_ps(best, _mm256_mul_ps(wt[i], diff));
    }
    for (int is = 0; is <= nstep; is++) {
        float num = rmin + rdelta * is;
        num = num + nmax;
        iscale = _mm256_div_ps(_mm256_set1_ps(num), _mm256_sub_ps(max, min));
        __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < n; i++) {
            La[i] = near_clamp8(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], min)), 0, nmax);
            const __m256 lf = _mm256_cvtepi32_ps(La[i]), wl = _mm256_mul_ps(wt[i], lf);
            sum_l = _mm256_add_ps(sum_l, wl);
            sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, lf));
            sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, xt[i]));
        }
        const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
        const __m256 dpos = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
        if (!_mm256_movemask_ps(dpos)) continue;
        __m256 this_scale = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
        __m256 this_min = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
        const __m256 mpos = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
        this_min = sel(this_min, zero, mpos);
        this_scale = sel(this_scale, _mm256_div_ps(sum_xl, sum_l2), mpos);
        __m256 mad = zero;
        for (int i = 0; i < n; i++) {
            __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(this_scale, _mm256_cvtepi32_ps(La[i])), this_min), xt[i]);
            diff = _mm256_mul_ps(diff, diff);
            mad = _mm256_add_ps(mad, _mm256_mul_ps(wt[i], diff));
        }
        const __m256 better = _mm256_andnot_ps(flat, _mm256_and_ps(dpos, _mm256_cmp_ps(mad, best, _CMP_LT_OQ)));
        if (!_mm256_movemask_ps(better)) continue;
        for (int i = 0; i < n; i++) Lt[i] = seli(Lt[i], La[i], better);
        best = sel(best, mad, better);
        scale = sel(scale, this_scale, better);
        min = sel(min, this_min, better);
    }
    scale = sel(scale, zero, flat);
    min = sel(min, min0, flat);
    const __m256 the_min = _mm256_xor_ps(min, _mm256_set1_ps(-0.0f));
    float sc[8], mn[8];
    _mm256_storeu_ps(sc, scale);
    _mm256_storeu_ps(mn, the_min);
    int32_t lv[32][8];
    for (int i = 0; i < n; i++) _mm256_storeu_si256((__m256i *)lv[i], _mm256_andnot_si256(_mm256_castps_si256(flat), Lt[i]));
    for (int k = 0; k < np; k++) {
        scale_out[k] = sc[k];
        min_out[k] = mn[k];
        for (int i = 0; i < n; i++) L[k * n + i] = (uint8_t)lv[i][k];
    }
}

static T2 void qx_x8(int np, int n, int nmax, const float *x, const float *w, int8_t *L, float *scale_out) {
    if (n < 1 || n > 32) return; /* callers: n = 16 or 32 */
    __m256 xt[32], wt[32];
    __m256i Lt[32], La[32];
    gather8(np, n, x, w, xt, wt);
    const __m256 zero = _mm256_setzero_ps(), absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 max = zero, amax = zero;
    for (int i = 0; i < n; i++) {
        const __m256 ax = _mm256_and_ps(xt[i], absm), gt = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
        amax = sel(amax, ax, gt);
        max = sel(max, xt[i], gt);
    }
    const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(1e-15f), _CMP_LT_OQ);
    __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)-nmax), max);
    __m256 sumlx = zero, suml2 = zero;
    for (int i = 0; i < n; i++) {
        Lt[i] = near_clamp8(_mm256_mul_ps(iscale, xt[i]), -nmax, nmax - 1);
        const __m256 lf = _mm256_cvtepi32_ps(Lt[i]);
        sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(wt[i], xt[i]), lf));
        suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(wt[i], lf), lf));
    }
    __m256 scale = _mm256_and_ps(_mm256_div_ps(sumlx, suml2), _mm256_cmp_ps(suml2, zero, _CMP_NEQ_UQ));
    __m256 best = _mm256_mul_ps(scale, sumlx);
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        const float num = -(nmax + 0.1f * is);
        iscale = _mm256_div_ps(_mm256_set1_ps(num), max);
        sumlx = suml2 = zero;
        for (int i = 0; i < n; i++) {
            La[i] = near_clamp8(_mm256_mul_ps(iscale, xt[i]), -nmax, nmax - 1);
            const __m256 lf = _mm256_cvtepi32_ps(La[i]);
            sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(wt[i], xt[i]), lf));
            suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(wt[i], lf), lf));
        }
        const __m256 better = _mm256_andnot_ps(
            tiny, _mm256_and_ps(_mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
                                _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2), _CMP_GT_OQ)));
        if (!_mm256_movemask_ps(better)) continue;
        for (int i = 0; i < n; i++) Lt[i] = seli(Lt[i], La[i], better);
        scale = sel(scale, _mm256_div_ps(sumlx, suml2), better);
        best = sel(best, _mm256_mul_ps(scale, sumlx), better);
    }
    scale = sel(scale, zero, tiny);
    float sc[8];
    _mm256_storeu_ps(sc, scale);
    int32_t lv[32][8];
    const __m256i nm = _mm256_set1_epi32(nmax);
    for (int i = 0; i < n; i++)
        _mm256_storeu_si256((__m256i *)lv[i], _mm256_andnot_si256(_mm256_castps_si256(tiny), _mm256_add_epi32(Lt[i], nm)));
    for (int k = 0; k < np; k++) {
        scale_out[k] = sc[k];
        for (int i = 0; i < n; i++) L[k * n + i] = (int8_t)lv[i][k];
    }
}

void vg_qkx3_batch_avx2(int nprob, int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale,
                        float *the_min) {
    for (int p = 0; p < nprob; p += 8) {
        const int np = nprob - p < 8 ? nprob - p : 8;
        qkx3_x8(np, n, nmax, x + p * n, w + p * n, L + p * n, scale + p, the_min + p);
    }
}

void vg_qx_batch_avx2(int nprob, int n, int nmax, const float *x, const float *w, int8_t *L, float *scale) {
    for (int p = 0; p < nprob; p += 8) {
        const int np = nprob - p < 8 ? nprob - p : 8;
        qx_x8(np, n, nmax, x + p * n, w + p * n, L + p * n, scale + p);
    }
}

#else
typedef int vg_quantize_avx2_unused; /* not x86-64: quantize.c never calls this file */
#endif
