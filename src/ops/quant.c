/* quant.c - ggml's block types: scalar reference dequantizers (bit-exact with ggml's
 * dequantize_row_*), ggml's reference quantizers without importance matrix (quantize_row_*_ref,
 * written from the algorithms: nearest_int, make_qx_quants, make_q3_quants, make_qkx2_quants),
 * and the whole-tensor helper vg_quantize.
 *
 * Float operation order follows ggml's C expressions exactly (left to right, no fused
 * multiply-add: the Makefile builds with -std=c11, so GCC does not contract a*b+c), because the
 * goldens in ../shared/gguf-goldens were made by ggml's portable code. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/gemm.h"
#include "vidgen/quant.h"
#include "vidgen/status.h"
#include "quant_internal.h"

#define GROUP_MAX_EPS 1e-15f
#define QMIN(a, b) ((a) < (b) ? (a) : (b))
#define QMAX(a, b) ((a) > (b) ? (a) : (b))

static inline float h2f(uint16_t h) { return vg_f16_to_f32(h); }
static inline uint16_t f2h(float f) { return vg_f32_to_f16(f); }

/* ---------------------------------------------------------------- dequantization (_ref) */

static void deq_q4_0(const vg_block_q4_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += VG_QK) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < VG_QK / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) - 8, x1 = (x[i].qs[j] >> 4) - 8;
            y[j] = x0 * d;
            y[j + VG_QK / 2] = x1 * d;
        }
    }
}

static void deq_q4_1(const vg_block_q4_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += VG_QK) {
        const float d = h2f(x[i].d), m = h2f(x[i].m);
        for (int j = 0; j < VG_QK / 2; j++) {
            const int x0 = x[i].qs[j] & 0x0F, x1 = x[i].qs[j] >> 4;
            y[j] = x0 * d + m;
            y[j + VG_QK / 2] = x1 * d + m;
        }
    }
}

static void deq_q5_0(const vg_block_q5_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += VG_QK) {
        const float d = h2f(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < VG_QK / 2; j++) {
            const uint8_t xh0 = (uint8_t)(((qh >> j) << 4) & 0x10), xh1 = (uint8_t)((qh >> (j + 12)) & 0x10);
            const int x0 = ((x[i].qs[j] & 0x0F) | xh0) - 16, x1 = ((x[i].qs[j] >> 4) | xh1) - 16;
            y[j] = x0 * d;
            y[j + VG_QK / 2] = x1 * d;
        }
    }
}

static void deq_q5_1(const vg_block_q5_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += VG_QK) {
        const float d = h2f(x[i].d), m = h2f(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < VG_QK / 2; j++) {
            const uint8_t xh0 = (uint8_t)(((qh >> j) << 4) & 0x10), xh1 = (uint8_t)((qh >> (j + 12)) & 0x10);
            const int x0 = (x[i].qs[j] & 0x0F) | xh0, x1 = (x[i].qs[j] >> 4) | xh1;
            y[j] = x0 * d + m;
            y[j + VG_QK / 2] = x1 * d + m;
        }
    }
}

static void deq_q8_0(const vg_block_q8_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += VG_QK) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < VG_QK; j++) y[j] = x[i].qs[j] * d;
    }
}

static void deq_q2_K(const vg_block_q2_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = h2f(x[i].d), mn = h2f(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int n = 0; n < VG_QK_K; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (sc & 0xF), ml = mn * (sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * ((int8_t)((q[l + 16 * half] >> shift) & 3)) - ml;
                }
            }
        }
    }
}

/* Q3_K's 12 bytes -> 16 signed 6-bit scales (still biased by 32). */
void vg_q3k_scales(const uint8_t *s12, int8_t *out16) {
    const uint32_t kmask1 = 0x03030303u, kmask2 = 0x0f0f0f0fu;
    uint32_t aux[4];
    memcpy(aux, s12, 12);
    const uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    memcpy(out16, aux, 16);
}

static void deq_q3_K(const vg_block_q3_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d_all = h2f(x[i].d);
        const uint8_t *q = x[i].qs, *hm = x[i].hmask;
        uint8_t m = 1;
        int8_t scales[16];
        vg_q3k_scales(x[i].scales, scales);
        int is = 0;
        for (int n = 0; n < VG_QK_K; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
                for (int half = 0; half < 2; half++) {
                    const float dl = d_all * (scales[is++] - 32);
                    const int o = 16 * half;
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * ((int8_t)((q[l + o] >> shift) & 3) - ((hm[l + o] & m) ? 0 : 4));
                }
            }
        }
    }
}

void vg_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

static void deq_q4_K(const vg_block_q4_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q = x[i].qs;
        const float d = h2f(x[i].d), mn = h2f(x[i].dmin);
        int is = 0;
        uint8_t sc, m;
        for (int j = 0; j < VG_QK_K; j += 64, q += 32, is += 2) {
            vg_get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = mn * m;
            vg_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = mn * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

static void deq_q5_K(const vg_block_q5_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        const float d = h2f(x[i].d), mn = h2f(x[i].dmin);
        int is = 0;
        uint8_t sc, m, u1 = 1, u2 = 2;
        for (int j = 0; j < VG_QK_K; j += 64, ql += 32, is += 2) {
            vg_get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = mn * m;
            vg_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = mn * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

static void deq_q6_K(const vg_block_q6_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = h2f(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < VG_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

void vg_dequant_row_ref(vg_dtype t, const void *src, float *dst, int64_t n) {
    const int64_t nb = n / vg_dtype_block(t);
    switch (t) {
    case VG_DTYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case VG_DTYPE_F16: for (int64_t i = 0; i < n; i++) dst[i] = h2f(((const uint16_t *)src)[i]); break;
    case VG_DTYPE_BF16: for (int64_t i = 0; i < n; i++) dst[i] = vg_bf16_to_f32(((const uint16_t *)src)[i]); break;
    case VG_DTYPE_Q4_0: deq_q4_0(src, dst, nb); break;
    case VG_DTYPE_Q4_1: deq_q4_1(src, dst, nb); break;
    case VG_DTYPE_Q5_0: deq_q5_0(src, dst, nb); break;
    case VG_DTYPE_Q5_1: deq_q5_1(src, dst, nb); break;
    case VG_DTYPE_Q8_0: deq_q8_0(src, dst, nb); break;
    case VG_DTYPE_Q2_K: deq_q2_K(src, dst, nb); break;
    case VG_DTYPE_Q3_K: deq_q3_K(src, dst, nb); break;
    case VG_DTYPE_Q4_K: deq_q4_K(src, dst, nb); break;
    case VG_DTYPE_Q5_K: deq_q5_K(src, dst, nb); break;
    case VG_DTYPE_Q6_K: deq_q6_K(src, dst, nb); break;
    default: vg_to_f32(dst, src, t, n); break;
    }
}

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
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type) {
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
        const float w = x[i] * x[i];
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
            const float w = x[i] * x[i];
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
        for (int j = 0; j < VG_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
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
        for (int j = 0; j < VG_QK_K / 16; j++) {
            int8_t sc = (int8_t)(j < 8 ? y[i].scales[j] & 0xF : y[i].scales[j - 8] >> 4);
            sc = (int8_t)((sc | (((y[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
            const float d = h2f(y[i].d) * sc;
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(QMAX(-4, QMIN(3, l)) + 4);
            }
        }
        memset(y[i].hmask, 0, VG_QK_K / 8);
        int m = 0;
        uint8_t hm = 1;
        for (int j = 0; j < VG_QK_K; j++) {
            if (L[j] > 3) { y[i].hmask[m] |= hm; L[j] -= 4; }
            if (++m == VG_QK_K / 8) { m = 0; hm = (uint8_t)(hm << 1); }
        }
        for (int j = 0; j < VG_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
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
    uint8_t sc, m;
    for (int j = 0; j < VG_QK_K / 32; j++) {
        vg_get_scale_min_k4(j, ysc, &sc, &m);
        const float d = h2f(*yd) * sc;
        if (!d) continue;
        const float dm = h2f(*ydmin) * m;
        for (int ii = 0; ii < 32; ii++) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)QMAX(0, QMIN(nmax, l));
        }
    }
}

static void q_q4_K(const float *x, vg_block_q4_K *y, int64_t nb) {
    uint8_t L[VG_QK_K];
    for (int64_t i = 0; i < nb; i++, x += VG_QK_K) {
        qk_scales_mins(x, 15, -1.f, 20, L, &y[i].d, &y[i].dmin, y[i].scales);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < VG_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void q_q5_K(const float *x, vg_block_q5_K *y, int64_t nb) {
    uint8_t L[VG_QK_K];
    for (int64_t i = 0; i < nb; i++, x += VG_QK_K) {
        qk_scales_mins(x, 31, -0.5f, 15, L, &y[i].d, &y[i].dmin, y[i].scales);
        uint8_t *qh = y[i].qh, *ql = y[i].qs, m1 = 1, m2 = 2;
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
}

static void q_q6_K(const float *x, vg_block_q6_K *y, int64_t nb) {
    int8_t L[VG_QK_K];
    float scales[VG_QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += VG_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < VG_QK_K / 16; ib++) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) { max_abs_scale = abs_scale; max_scale = scale; }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof(y[i]));
            y[i].d = f2h(0.f);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = f2h(1 / iscale);
        for (int ib = 0; ib < VG_QK_K / 16; ib++) y[i].scales[ib] = (int8_t)QMIN(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < VG_QK_K / 16; j++) {
            const float d = h2f(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(QMAX(-32, QMIN(31, l)) + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
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

/* ---------------------------------------------------------------- fast dispatch, tensors */

void vg_dequant_row(vg_dtype t, const void *src, float *dst, int64_t n) {
    vg_dequant_row_ref(t, src, dst, n);
}
