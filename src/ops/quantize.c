/* quantize.c - ggml's quantizers, written from the algorithms (nearest_int, make_qx_quants,
 * make_q3_quants, make_qkx2_quants, make_qkx3_quants, make_qp_quants):
 *   vg_quant_row_ref          quantize_row_*_ref (no importance matrix);
 *   vg_quant_row_imatrix_ref  the quantize_*_impl paths ggml_quantize_chunk takes when given an
 *                             importance matrix (NULL = all ones: what stable-diffusion.cpp's
 *                             convert wrote into ../shared/gguf-goldens).
 * Float operation order follows ggml's C expressions (no contraction, -std=c11): the searches
 * compare sums, so one rounding difference can change a level and the bytes. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/gemm.h"
#include "vidgen/quant.h"
#include "quant_internal.h"

/* The searches compare float sums: a fused multiply-add would change them. GCC does not fuse
 * under -std=c11 (the Makefile's), clang fuses within expressions unless told not to. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define GROUP_MAX_EPS 1e-15f
#define QMIN(a, b) ((a) < (b) ? (a) : (b))
#define QMAX(a, b) ((a) > (b) ? (a) : (b))
#define QW(k) (qw ? qw[(k)] : 1.0f) /* importance weight k; NULL = all ones */

static inline float h2f(uint16_t h) { return vg_f16_to_f32(h); }
static inline uint16_t f2h(float f) { return vg_f32_to_f16(f); }

/* ---------------------------------------------------------------- quantization (_ref) */

/* Round to nearest, ties to even, via the 1.5 * 2^23 trick (|fval| <= 4194303). */
static inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i;
    memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

static void q_q4_0(const float *x, vg_block_q4_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += VG_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < VG_QK; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        const float d = max / -8, id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        for (int j = 0; j < VG_QK / 2; j++) {
            const float x0 = x[j] * id, x1 = x[VG_QK / 2 + j] * id;
            const uint8_t xi0 = (uint8_t)QMIN(15, (int8_t)(x0 + 8.5f)), xi1 = (uint8_t)QMIN(15, (int8_t)(x1 + 8.5f));
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

static void q_q4_1(const float *x, vg_block_q4_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += VG_QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < VG_QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / ((1 << 4) - 1), id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        y[i].m = f2h(min);
        for (int j = 0; j < VG_QK / 2; j++) {
            const float x0 = (x[j] - min) * id, x1 = (x[VG_QK / 2 + j] - min) * id;
            const uint8_t xi0 = (uint8_t)QMIN(15, (int8_t)(x0 + 0.5f)), xi1 = (uint8_t)QMIN(15, (int8_t)(x1 + 0.5f));
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

static void q_q5_0(const float *x, vg_block_q5_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += VG_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < VG_QK; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        const float d = max / -16, id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        uint32_t qh = 0;
        for (int j = 0; j < VG_QK / 2; j++) {
            const float x0 = x[j] * id, x1 = x[VG_QK / 2 + j] * id;
            const uint8_t xi0 = (uint8_t)QMIN(31, (int8_t)(x0 + 16.5f)), xi1 = (uint8_t)QMIN(31, (int8_t)(x1 + 16.5f));
            y[i].qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << j;
            qh |= ((xi1 & 0x10u) >> 4) << (j + VG_QK / 2);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static void q_q5_1(const float *x, vg_block_q5_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += VG_QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < VG_QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / ((1 << 5) - 1), id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        y[i].m = f2h(min);
        uint32_t qh = 0;
        for (int j = 0; j < VG_QK / 2; j++) {
            const float x0 = (x[j] - min) * id, x1 = (x[VG_QK / 2 + j] - min) * id;
            const uint8_t xi0 = (uint8_t)(x0 + 0.5f), xi1 = (uint8_t)(x1 + 0.5f);
            y[i].qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << j;
            qh |= ((xi1 & 0x10u) >> 4) << (j + VG_QK / 2);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static void q_q8_0(const float *x, vg_block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += VG_QK) {
        float amax = 0.0f;
        for (int j = 0; j < VG_QK; j++) amax = QMAX(amax, fabsf(x[j]));
        const float d = amax / ((1 << 7) - 1), id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        for (int j = 0; j < VG_QK; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* Symmetric levels in [-nmax, nmax-1] for n values; rmse_type 1 refines the scale with x^2
 * weights over 18 trial scales -(nmax + 0.1 is)/max (ggml's make_qx_quants, no qw). L gets
 * the level + nmax. Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type, const float *qw) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; i++) {
            const int l = nearest_int(iscale * x[i]);
            L[i] = (int8_t)(nmax + QMAX(-nmax, QMIN(nmax - 1, l)));
        }
        return 1 / iscale;
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = QMAX(-nmax, QMIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        const float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = QMAX(-nmax, QMIN(nmax - 1, l));
            const float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + QMAX(-nmax, QMIN(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's sub-block quantizer: levels [-nmax, nmax-1], then up to 5 passes of per-element
 * moves that raise sumlx^2/suml2 (x^2 weights); L gets level + nmax (ggml's make_q3_quants). */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L, bool do_rmse) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    if (do_rmse) {
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = QMAX(-nmax, QMIN(nmax - 1, l));
            L[i] = (int8_t)l;
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int itry = 0; itry < 5; itry++) {
            int n_changed = 0;
            for (int i = 0; i < n; i++) {
                const float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * L[i];
                if (slx > 0) {
                    float sl2 = suml2 - w * L[i] * L[i];
                    int new_l = nearest_int(x[i] * sl2 / slx);
                    new_l = QMAX(-nmax, QMIN(nmax - 1, new_l));
                    if (new_l != L[i]) {
                        slx += w * x[i] * new_l;
                        sl2 += w * new_l * new_l;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                            L[i] = (int8_t)new_l;
                            sumlx = slx;
                            suml2 = sl2;
                            n_changed++;
                        }
                    }
                }
            }
            if (!n_changed) break;
        }
        for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
        return sumlx / suml2;
    }
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = QMAX(-nmax, QMIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
    }
    return 1 / iscale;
}

/* Asymmetric levels [0, nmax] with scale and min (x ~ scale * L - the_min), weighted
 * least squares over nstep+1 trial scales (rmin + rdelta is + nmax)/(max - min); use_mad
 * weights |err| instead of err^2 (ggml's make_qkx2_quants). */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              bool use_mad) {
    float min = x[0], max = x[0], sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)QMAX(0, QMIN(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = QMAX(0, QMIN(nmax, l));
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; i++) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < VG_QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

static void q_q2_K(const float *x, vg_block_q2_K *y, int64_t nb) {
    uint8_t L[VG_QK_K], Laux[16];
    float weights[16], mins[VG_QK_K / 16], scales[VG_QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < nb; i++, x += VG_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < VG_QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < VG_QK_K / 16; j++) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = f2h(max_scale / q4scale);
        } else {
            for (int j = 0; j < VG_QK_K / 16; j++) y[i].scales[j] = 0;
            y[i].d = f2h(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < VG_QK_K / 16; j++) y[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = f2h(max_min / q4scale);
        } else {
            y[i].dmin = f2h(0.f);
        }
        for (int j = 0; j < VG_QK_K / 16; j++) {
            const float d = h2f(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float dm = h2f(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)QMAX(0, QMIN(3, l));
            }
        }
        pack_2bit(L, y[i].qs);
    }
}

/* Q3_K after d and scales are set: levels from the packed scales, high bits into hmask, the
 * low 2 bits into qs (shared by both Q3_K paths). */
static void q3k_finish(const float *x, vg_block_q3_K *y, int8_t *L) {
    for (int j = 0; j < VG_QK_K / 16; j++) {
        int8_t sc = (int8_t)(j < 8 ? y->scales[j] & 0xF : y->scales[j - 8] >> 4);
        sc = (int8_t)((sc | (((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
        const float d = h2f(y->d) * sc;
        if (!d) continue;
        for (int ii = 0; ii < 16; ii++) {
            const int l = nearest_int(x[16 * j + ii] / d);
            L[16 * j + ii] = (int8_t)(QMAX(-4, QMIN(3, l)) + 4);
        }
    }
    memset(y->hmask, 0, VG_QK_K / 8);
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < VG_QK_K; j++) {
        if (L[j] > 3) { y->hmask[m] |= hm; L[j] -= 4; }
        if (++m == VG_QK_K / 8) { m = 0; hm = (uint8_t)(hm << 1); }
    }
    pack_2bit((const uint8_t *)L, y->qs);
}

static void q_q3_K(const float *x, vg_block_q3_K *y, int64_t nb) {
    int8_t L[VG_QK_K];
    float scales[VG_QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += VG_QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < VG_QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j, true);
            const float scale = fabsf(scales[j]);
            if (scale > amax) { amax = scale; max_scale = scales[j]; }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < VG_QK_K / 16; j++) {
                int8_t l = (int8_t)nearest_int(iscale * scales[j]);
                l = (int8_t)(QMAX(-32, QMIN(31, l)) + 32);
                if (j < 8) y[i].scales[j] = (uint8_t)(l & 0xF);
                else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                l >>= 4;
                y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
            }
            y[i].d = f2h(1 / iscale);
        } else {
            y[i].d = f2h(0.f);
        }
        q3k_finish(x, &y[i], L);
    }
}

/* Q4_K / Q5_K levels [0, nmax] from the packed d, dmin and 6-bit scales/mins. */
static void kx_requant(const float *x, int nmax, uint8_t *L, uint16_t yd, uint16_t ydmin, const uint8_t *ysc) {
    uint8_t sc, m;
    for (int j = 0; j < VG_QK_K / 32; j++) {
        vg_get_scale_min_k4(j, ysc, &sc, &m);
        const float d = h2f(yd) * sc;
        if (!d) continue;
        const float dm = h2f(ydmin) * m;
        for (int ii = 0; ii < 32; ii++) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)QMAX(0, QMIN(nmax, l));
        }
    }
}

static void pack_q4k(const uint8_t *L, uint8_t *q) {
    for (int j = 0; j < VG_QK_K; j += 64, q += 32)
        for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

static void pack_q5k(const uint8_t *L, uint8_t *ql, uint8_t *qh) {
    uint8_t m1 = 1, m2 = 2;
    memset(qh, 0, VG_QK_K / 8);
    for (int n = 0; n < VG_QK_K; n += 64, ql += 32) {
        for (int j = 0; j < 32; j++) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
            if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
            ql[j] = (uint8_t)(l1 | (l2 << 4));
        }
        m1 = (uint8_t)(m1 << 2);
        m2 = (uint8_t)(m2 << 2);
    }
}

/* Q4_K / Q5_K share everything but nmax, the search range and the high-bit packing. Returns the
 * 8 sub-block scales/mins packed into y's d, dmin, scales[12] and the levels in L. */
static void qk_scales_mins(const float *x, int nmax, float rmin, int nstep, uint8_t *L, uint16_t *yd,
                           uint16_t *ydmin, uint8_t *ysc) {
    uint8_t Laux[32];
    float weights[32], mins[VG_QK_K / 32], scales[VG_QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < VG_QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < VG_QK_K / 32; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]), lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = QMIN(63, ls);
        lm = QMIN(63, lm);
        if (j < 4) {
            ysc[j] = ls;
            ysc[j + 4] = lm;
        } else {
            ysc[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            ysc[j - 4] |= (uint8_t)((ls >> 4) << 6);
            ysc[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *yd = f2h(max_scale / 63.f);
    *ydmin = f2h(max_min / 63.f);
    kx_requant(x, nmax, L, *yd, *ydmin, ysc);
}

static void q_q4_K(const float *x, vg_block_q4_K *y, int64_t nb) {
    uint8_t L[VG_QK_K];
    for (int64_t i = 0; i < nb; i++, x += VG_QK_K) {
        qk_scales_mins(x, 15, -1.f, 20, L, &y[i].d, &y[i].dmin, y[i].scales);
        pack_q4k(L, y[i].qs);
    }
}

static void q_q5_K(const float *x, vg_block_q5_K *y, int64_t nb) {
    uint8_t L[VG_QK_K];
    for (int64_t i = 0; i < nb; i++, x += VG_QK_K) {
        qk_scales_mins(x, 31, -0.5f, 15, L, &y[i].d, &y[i].dmin, y[i].scales);
        pack_q5k(L, y[i].qs, y[i].qh);
    }
}

/* Q6_K after the 16 sub-block scales: 8-bit scales under one half d, levels, ql/qh packing. */
static void q6k_finish(const float *x, vg_block_q6_K *y, const float *scales, int8_t *L) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < VG_QK_K / 16; ib++) {
        const float abs_scale = fabsf(scales[ib]);
        if (abs_scale > max_abs_scale) { max_abs_scale = abs_scale; max_scale = scales[ib]; }
    }
    if (max_abs_scale < GROUP_MAX_EPS) {
        memset(y, 0, sizeof(*y));
        y->d = f2h(0.f);
        return;
    }
    const float iscale = -128.f / max_scale;
    y->d = f2h(1 / iscale);
    for (int ib = 0; ib < VG_QK_K / 16; ib++) y->scales[ib] = (int8_t)QMIN(127, nearest_int(iscale * scales[ib]));
    for (int j = 0; j < VG_QK_K / 16; j++) {
        const float d = h2f(y->d) * y->scales[j];
        if (!d) continue;
        for (int ii = 0; ii < 16; ii++) {
            const int l = nearest_int(x[16 * j + ii] / d);
            L[16 * j + ii] = (int8_t)(QMAX(-32, QMIN(31, l)) + 32);
        }
    }
    uint8_t *ql = y->ql, *qh = y->qh;
    for (int j = 0; j < VG_QK_K; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; l++) {
            const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
            const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
            ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
            ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
            qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                              ((L[j + l + 96] >> 4) << 6));
        }
    }
}

static void q_q6_K(const float *x, vg_block_q6_K *y, int64_t nb) {
    int8_t L[VG_QK_K];
    float scales[VG_QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += VG_QK_K) {
        for (int ib = 0; ib < VG_QK_K / 16; ib++) scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, NULL);
        q6k_finish(x, &y[i], scales, L);
    }
}

void vg_quant_row_ref(vg_dtype t, const float *src, void *dst, int64_t n) {
    const int64_t nb = n / vg_dtype_block(t);
    switch (t) {
    case VG_DTYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case VG_DTYPE_F16: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = f2h(src[i]); break;
    case VG_DTYPE_BF16: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = vg_f32_to_bf16(src[i]); break;
    case VG_DTYPE_Q4_0: q_q4_0(src, dst, nb); break;
    case VG_DTYPE_Q4_1: q_q4_1(src, dst, nb); break;
    case VG_DTYPE_Q5_0: q_q5_0(src, dst, nb); break;
    case VG_DTYPE_Q5_1: q_q5_1(src, dst, nb); break;
    case VG_DTYPE_Q8_0: q_q8_0(src, dst, nb); break;
    case VG_DTYPE_Q2_K: q_q2_K(src, dst, nb); break;
    case VG_DTYPE_Q3_K: q_q3_K(src, dst, nb); break;
    case VG_DTYPE_Q4_K: q_q4_K(src, dst, nb); break;
    case VG_DTYPE_Q5_K: q_q5_K(src, dst, nb); break;
    case VG_DTYPE_Q6_K: q_q6_K(src, dst, nb); break;
    default: break;
    }
}

/* ---------------------------------------------------------------- with importance weights */
/* ggml's quantize_*_impl paths (what ggml_quantize_chunk runs when given an importance matrix):
 * each element's weight is qw * sqrt(sigma2 + x^2), the block scales come from weighted
 * searches (make_qx_quants with weights, make_qkx3_quants, make_qp_quants). The goldens in
 * ../shared/gguf-goldens (stable-diffusion.cpp's convert) are these paths with qw = 1. */

/* Asymmetric levels [0, nmax] as make_qkx2_quants, with ggml's make_qkx3_quants' wider search
 * (weights never NULL here). */
static float make_qkx3_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0], sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max <= min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_mad = 0;
    for (int i = 0; i < n; i++) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)QMAX(0, QMIN(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_mad += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = QMAX(0, QMIN(nmax, l));
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float mad = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                mad += weights[i] * diff;
            }
            if (mad < best_mad) {
                for (int i = 0; i < n; i++) L[i] = Laux[i];
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Non-negative levels [0, nmax] for the super-block scales/mins: 9 trial scales by weighted
 * MSE, then up to 5 passes of per-element moves (ggml's make_qp_quants). */
static float make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *qw) {
    float max = 0;
    for (int i = 0; i < n; i++) max = QMAX(max, x[i]);
    if (max < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)nearest_int(iscale * x[i]);
    const float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; i++) {
        const float diff = x[i] - scale * L[i];
        best_mse += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        const float iscale_is = (0.1f * is + nmax) / max, scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; i++) {
            const int l = QMIN(nmax, nearest_int(iscale_is * x[i]));
            const float diff = x[i] - scale_is * l;
            mse += qw[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = QMIN(nmax, nearest_int(iscale * x[i]));
        L[i] = (uint8_t)l;
        const float w = qw[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = qw[i];
            float slx = sumlx - w * x[i] * L[i], sl2 = suml2 - w * L[i] * L[i];
            if (slx > 0 && sl2 > 0) {
                const int new_l = QMIN(nmax, nearest_int(x[i] * sl2 / slx));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    return sumlx / suml2;
}

static float row_mean_sq(const float *x, int64_t n) {
    float s = 0;
    for (int64_t j = 0; j < n; j++) s += x[j] * x[j];
    return s / n;
}

/* The two searches, scalar or 16 lanes at a time (same bits). */
typedef struct { vg_qkx3_batch_fn qkx3; vg_qx_batch_fn qx; } qsolvers;

/* make_qx_quants(n, nmax, x, L, 1, w) on nprob independent problems at x + p n, w + p n, L + p n. */
static void qx_batch_ref(int nprob, int n, int nmax, const float *x, const float *w, int8_t *L, float *scale) {
    for (int p = 0; p < nprob; p++) scale[p] = make_qx_quants(n, nmax, x + p * n, L + p * n, 1, w + p * n);
}

/* Q4_0 (nmax 8) / Q5_0 (nmax 16): symmetric blocks of 32, 16 blocks per solver call. */
static void qw_qx_0(const float *x, uint8_t *dst, int64_t n, const float *qw, int nmax, const qsolvers *sv) {
    float weight[16 * VG_QK], d[16];
    int8_t L[16 * VG_QK];
    const float sigma2 = row_mean_sq(x, n);
    for (int64_t ib0 = 0; ib0 < n / VG_QK; ib0 += 16) {
        const int nbk = (int)QMIN(16, n / VG_QK - ib0);
        for (int k = 0; k < nbk * VG_QK; k++) {
            const float xv = x[VG_QK * ib0 + k];
            weight[k] = QW(VG_QK * ib0 + k) * sqrtf(sigma2 + xv * xv);
        }
        sv->qx(nbk, VG_QK, nmax, x + VG_QK * ib0, weight, L, d);
        for (int k = 0; k < nbk; k++) {
            const int8_t *Lb = L + VG_QK * k;
            if (nmax == 8) {
                vg_block_q4_0 *y = (vg_block_q4_0 *)dst + ib0 + k;
                y->d = f2h(d[k]);
                for (int j = 0; j < 16; j++) y->qs[j] = (uint8_t)(Lb[j] | (Lb[j + 16] << 4));
            } else {
                vg_block_q5_0 *y = (vg_block_q5_0 *)dst + ib0 + k;
                y->d = f2h(d[k]);
                uint32_t qh = 0;
                for (int j = 0; j < 16; j++) {
                    const uint8_t xi0 = (uint8_t)Lb[j], xi1 = (uint8_t)Lb[j + 16];
                    y->qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
                    qh |= ((xi0 & 0x10u) >> 4) << j;
                    qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
                }
                memcpy(y->qh, &qh, 4);
            }
        }
    }
}


/* Q4_1 (nmax 15) and Q5_1 (nmax 31): asymmetric blocks of 32. */
/* make_qkx3_quants(n, nmax, .., -0.9, 0.05, 36, mad off) on nprob independent problems, problem p
 * at x + p n, w + p n, L + p n (the only settings ggml's weighted paths use). */
static void qkx3_batch_ref(int nprob, int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale,
                           float *the_min) {
    uint8_t Laux[32];
    for (int p = 0; p < nprob; p++)
        scale[p] = make_qkx3_quants(n, nmax, x + p * n, w + p * n, L + p * n, &the_min[p], Laux, -0.9f, 0.05f, 36, false);
}

/* Q4_1 (nmax 15) and Q5_1 (nmax 31): asymmetric blocks of 32, 16 blocks per solver call. */
static void qw_qx_1(const float *x, uint8_t *dst, int64_t n, const float *qw, int nmax, const qsolvers *sv) {
    float weight[16 * VG_QK], sc[16], mn[16];
    uint8_t L[16 * VG_QK];
    const float sigma2 = row_mean_sq(x, n);
    for (int64_t ib0 = 0; ib0 < n / VG_QK; ib0 += 16) {
        const int nbk = (int)QMIN(16, n / VG_QK - ib0);
        for (int k = 0; k < nbk * VG_QK; k++) {
            const float xv = x[VG_QK * ib0 + k];
            weight[k] = QW(VG_QK * ib0 + k) * sqrtf(sigma2 + xv * xv);
        }
        sv->qkx3(nbk, VG_QK, nmax, x + VG_QK * ib0, weight, L, sc, mn);
        for (int k = 0; k < nbk; k++) {
            const uint8_t *Lb = L + VG_QK * k;
            if (nmax == 15) {
                vg_block_q4_1 *y = (vg_block_q4_1 *)dst + ib0 + k;
                y->d = f2h(sc[k]);
                y->m = f2h(-mn[k]);
                for (int j = 0; j < 16; j++) y->qs[j] = (uint8_t)(Lb[j] | (Lb[j + 16] << 4));
            } else {
                vg_block_q5_1 *y = (vg_block_q5_1 *)dst + ib0 + k;
                y->d = f2h(sc[k]);
                y->m = f2h(-mn[k]);
                uint32_t qh = 0;
                for (int j = 0; j < 16; j++) {
                    const uint8_t xi0 = Lb[j], xi1 = Lb[j + 16];
                    y->qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
                    qh |= ((xi0 & 0x10u) >> 4) << j;
                    qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
                }
                memcpy(y->qh, &qh, 4);
            }
        }
    }
}

static void qw_q2_K(const float *x, vg_block_q2_K *y, int64_t n, const float *qw, const qsolvers *sv) {
    uint8_t L[VG_QK_K], Ls[VG_QK_K / 16], Lm[VG_QK_K / 16];
    float mins[VG_QK_K / 16], scales[VG_QK_K / 16], sw[VG_QK_K / 16], weight[VG_QK_K];
    for (int64_t i = 0; i < n / VG_QK_K; i++, x += VG_QK_K) {
        const float sigma2 = row_mean_sq(x, VG_QK_K);
        for (int j = 0; j < VG_QK_K / 16; j++) {
            sw[j] = 0;
            for (int l = 0; l < 16; l++)
                weight[16 * j + l] = QW(VG_QK_K * i + 16 * j + l) * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
            for (int l = 0; l < 16; l++) sw[j] += weight[16 * j + l];
        }
        sv->qkx3(VG_QK_K / 16, 16, 3, x, weight, L, scales, mins);
        y[i].d = f2h(make_qp_quants(VG_QK_K / 16, 15, scales, Ls, sw));
        y[i].dmin = f2h(make_qp_quants(VG_QK_K / 16, 15, mins, Lm, sw));
        const float dm = h2f(y[i].d), mm = h2f(y[i].dmin);
        for (int j = 0; j < VG_QK_K / 16; j++) y[i].scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
        for (int j = 0; j < VG_QK_K / 16; j++) {
            const float d = dm * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float m = mm * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int((x[16 * j + ii] + m) / d);
                L[16 * j + ii] = (uint8_t)QMAX(0, QMIN(3, l));
            }
        }
        pack_2bit(L, y[i].qs);
    }
}

static void qw_q3_K(const float *x, vg_block_q3_K *y, int64_t n, const float *qw, const qsolvers *sv) {
    float scales[VG_QK_K / 16], weight[VG_QK_K], sw[VG_QK_K / 16];
    int8_t Ls[VG_QK_K / 16], L[VG_QK_K];
    for (int64_t i = 0; i < n / VG_QK_K; i++, x += VG_QK_K) {
        const float sigma2 = 2 * row_mean_sq(x, VG_QK_K);
        for (int j = 0; j < VG_QK_K / 16; j++) {
            float *wj = weight + 16 * j;
            for (int l = 0; l < 16; l++) wj[l] = QW(VG_QK_K * i + 16 * j + l) * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 16; l++) sumw += wj[l];
            sw[j] = sumw;
        }
        sv->qx(VG_QK_K / 16, 16, 4, x, weight, L, scales);
        memset(y[i].scales, 0, 12);
        const float d_block = make_qx_quants(VG_QK_K / 16, 32, scales, Ls, 1, sw);
        for (int j = 0; j < VG_QK_K / 16; j++) {
            int l = Ls[j];
            if (j < 8) y[i].scales[j] = (uint8_t)(l & 0xF);
            else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
            l >>= 4;
            y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
        }
        y[i].d = f2h(d_block);
        q3k_finish(x, &y[i], L);
    }
}

/* Q4_K / Q5_K super-block scales and mins by make_qp_quants, then the requantized levels. */
/* Q4_K / Q5_K weights of one super-block (sw: their sums per sub-block of 32). */
static void kx_weights(const float *x, const float *qw, float *weights, float *sw) {
    const float sigma2 = 2 * row_mean_sq(x, VG_QK_K);
    for (int j = 0; j < VG_QK_K / 32; j++) {
        for (int l = 0; l < 32; l++) weights[32 * j + l] = QW(32 * j + l) * sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 32; l++) sumw += weights[32 * j + l];
        sw[j] = sumw;
    }
}

/* Q4_K / Q5_K super-block scales and mins by make_qp_quants, then the requantized levels. */
static void kx_finish(const float *x, int nmax, uint8_t *L, const float *scales, const float *mins, const float *sw,
                      uint16_t *yd, uint16_t *ydmin, uint8_t *ysc) {
    uint8_t Ls[VG_QK_K / 32], Lm[VG_QK_K / 32];
    const float d_block = make_qp_quants(VG_QK_K / 32, 63, scales, Ls, sw);
    const float m_block = make_qp_quants(VG_QK_K / 32, 63, mins, Lm, sw);
    for (int j = 0; j < VG_QK_K / 32; j++) {
        const uint8_t ls = Ls[j], lm = Lm[j];
        if (j < 4) {
            ysc[j] = ls;
            ysc[j + 4] = lm;
        } else {
            ysc[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            ysc[j - 4] |= (uint8_t)((ls >> 4) << 6);
            ysc[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *yd = f2h(d_block);
    *ydmin = f2h(m_block);
    kx_requant(x, nmax, L, *yd, *ydmin, ysc);
}

/* Q4_K (nmax 15) / Q5_K (nmax 31): two super-blocks (16 sub-blocks) per solver call. */
static void qw_kx(const float *x, uint8_t *dst, int64_t n, const float *qw, int nmax, const qsolvers *sv) {
    float weights[2 * VG_QK_K], sw[16], scales[16], mins[16];
    uint8_t L[2 * VG_QK_K];
    for (int64_t i0 = 0; i0 < n / VG_QK_K; i0 += 2) {
        const int nsb = (int)QMIN(2, n / VG_QK_K - i0);
        for (int b = 0; b < nsb; b++)
            kx_weights(x + VG_QK_K * (i0 + b), qw ? qw + VG_QK_K * (i0 + b) : NULL, weights + VG_QK_K * b, sw + 8 * b);
        sv->qkx3(8 * nsb, 32, nmax, x + VG_QK_K * i0, weights, L, scales, mins);
        for (int b = 0; b < nsb; b++) {
            const float *xb = x + VG_QK_K * (i0 + b);
            uint8_t *Lb = L + VG_QK_K * b;
            if (nmax == 15) {
                vg_block_q4_K *y = (vg_block_q4_K *)dst + i0 + b;
                kx_finish(xb, nmax, Lb, scales + 8 * b, mins + 8 * b, sw + 8 * b, &y->d, &y->dmin, y->scales);
                pack_q4k(Lb, y->qs);
            } else {
                vg_block_q5_K *y = (vg_block_q5_K *)dst + i0 + b;
                kx_finish(xb, nmax, Lb, scales + 8 * b, mins + 8 * b, sw + 8 * b, &y->d, &y->dmin, y->scales);
                pack_q5k(Lb, y->qs, y->qh);
            }
        }
    }
}

static void qw_q6_K(const float *x, vg_block_q6_K *y, int64_t n, const float *qw, const qsolvers *sv) {
    int8_t L[VG_QK_K];
    float scales[VG_QK_K / 16], weight[VG_QK_K];
    for (int64_t i = 0; i < n / VG_QK_K; i++, x += VG_QK_K) {
        for (int j = 0; j < VG_QK_K; j++) weight[j] = QW(VG_QK_K * i + j);
        sv->qx(VG_QK_K / 16, 16, 32, x, weight, L, scales);
        q6k_finish(x, &y[i], scales, L);
    }
}

static void quant_row_w(vg_dtype t, const float *src, void *dst, int64_t n, const float *qw, const qsolvers *sv) {
    switch (t) {
    case VG_DTYPE_Q4_0: qw_qx_0(src, dst, n, qw, 8, sv); break;
    case VG_DTYPE_Q4_1: qw_qx_1(src, dst, n, qw, 15, sv); break;
    case VG_DTYPE_Q5_0: qw_qx_0(src, dst, n, qw, 16, sv); break;
    case VG_DTYPE_Q5_1: qw_qx_1(src, dst, n, qw, 31, sv); break;
    case VG_DTYPE_Q2_K: qw_q2_K(src, dst, n, qw, sv); break;
    case VG_DTYPE_Q3_K: qw_q3_K(src, dst, n, qw, sv); break;
    case VG_DTYPE_Q4_K: qw_kx(src, dst, n, qw, 15, sv); break;
    case VG_DTYPE_Q5_K: qw_kx(src, dst, n, qw, 31, sv); break;
    case VG_DTYPE_Q6_K: qw_q6_K(src, dst, n, qw, sv); break;
    default: vg_quant_row_ref(t, src, dst, n); break; /* Q8_0, F16, BF16, F32: no weighted path */
    }
}

static const qsolvers k_ref = {qkx3_batch_ref, qx_batch_ref};

void vg_quant_row_imatrix_ref(vg_dtype t, const float *src, void *dst, int64_t n, const float *qw) {
    quant_row_w(t, src, dst, n, qw, &k_ref);
}

void vg_quant_row_imatrix(vg_dtype t, const float *src, void *dst, int64_t n, const float *qw) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (vg_cpu_level() >= 3) {
        static const qsolvers k_avx512 = {vg_qkx3_batch_avx512, vg_qx_batch_avx512};
        quant_row_w(t, src, dst, n, qw, &k_avx512);
        return;
    }
    if (vg_cpu_level() == 2) {
        static const qsolvers k_avx2 = {vg_qkx3_batch_avx2, vg_qx_batch_avx2};
        quant_row_w(t, src, dst, n, qw, &k_avx2);
        return;
    }
#endif
    quant_row_w(t, src, dst, n, qw, &k_ref);
}
