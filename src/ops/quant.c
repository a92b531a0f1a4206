/* quant.c - ggml's block types: scalar reference dequantizers (bit-exact with ggml's
 * dequantize_row_*), the fast dispatch and the whole-tensor helpers. The quantizers are in
 * quantize.c.
 *
 * Float operation order follows ggml's C expressions exactly (left to right, no fused
 * multiply-add: the Makefile builds with -std=c11, so GCC does not contract a*b+c). Most
 * products here are exact anyway (an 11-bit half scale times a small integer), Q6_K's
 * d * scale * q is not, and its order matters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/gemm.h"
#include "vidgen/quant.h"
#include "vidgen/status.h"
#include "quant_internal.h"

static inline float h2f(uint16_t h) { return vg_f16_to_f32(h); }

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

/* ---------------------------------------------------------------- fast dispatch, tensors */

void vg_dequant_row(vg_dtype t, const void *src, float *dst, int64_t n) {
    if (vg_cpu_level() >= 3 && vg_dequant_row_avx512(t, src, dst, n)) return;
    vg_dequant_row_ref(t, src, dst, n);
}

/* rows x cols checks shared by the whole-tensor helpers; row bytes in *rb. */
static vg_status check_tensor(const char *what, vg_dtype t, int64_t rows, int64_t cols, int64_t *rb) {
    if (!(t == VG_DTYPE_F32 || t == VG_DTYPE_F16 || t == VG_DTYPE_BF16 || vg_dtype_is_quant(t)))
        return vg_fail(VG_ERR_UNSUPPORTED, "%s: type %s is not a weight type (F32, F16, BF16, Q4_0 .. Q6_K)", what,
                       vg_dtype_name(t));
    if (rows < 0 || cols <= 0)
        return vg_fail(VG_ERR_ARG, "%s: bad shape %lld x %lld", what, (long long)rows, (long long)cols);
    *rb = vg_dtype_row_bytes(t, cols);
    if (*rb < 0)
        return vg_fail(VG_ERR_SHAPE, "%s: %s needs rows that are a multiple of %lld elements, got %lld", what,
                       vg_dtype_name(t), (long long)vg_dtype_block(t), (long long)cols);
    if (rows > 0 && (*rb > INT64_MAX / rows || cols > INT64_MAX / rows))
        return vg_fail(VG_ERR_SHAPE, "%s: %lld x %lld overflows", what, (long long)rows, (long long)cols);
    return VG_OK;
}

vg_status vg_quantize(vg_dtype t, const float *src, void *dst, int64_t rows, int64_t cols) {
    int64_t rb;
    vg_status s = check_tensor("quantize", t, rows, cols, &rb);
    if (s != VG_OK) return s;
    /* rows are independent and each is quantized by one thread: any thread count, same bytes */
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t r = 0; r < rows; r++)
        vg_quant_row_imatrix(t, src + r * cols, (uint8_t *)dst + r * rb, cols, NULL);
    return VG_OK;
}

vg_status vg_dequantize(vg_dtype t, const void *src, float *dst, int64_t rows, int64_t cols) {
    int64_t rb;
    vg_status s = check_tensor("dequantize", t, rows, cols, &rb);
    if (s != VG_OK) return s;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) vg_dequant_row(t, (const uint8_t *)src + r * rb, dst + r * cols, cols);
    return VG_OK;
}
