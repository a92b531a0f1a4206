/* dequant_avx512.c - AVX-512 dequantization of ggml's block types, 16 elements per vector.
 * Same bits as the _ref in quant.c: every element is the same single float product (and sum)
 * of the same operands. The products d * q are exact (an 11-bit half times a small integer),
 * Q6_K's (d * scale) is formed in scalar first exactly as the _ref does, then times q.
 * Compiled with target attributes, so it builds without -march and runs only when
 * vg_cpu_level() >= 3. */
#include <immintrin.h>
#include <string.h>
#include "vidgen/quant.h"
#include "ops/quant_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c")))
#define INL inline __attribute__((always_inline))

/* 16 bytes -> 16 int32 lanes (zero-extended). */
static INL T512 __m512i u8x16(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)); }

static INL T512 void store_mul(float *y, __m512i q, __m512 d) { _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(q), d)); }
static INL T512 void store_mul_add(float *y, __m512i q, __m512 d, __m512 m) {
    _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q), d), m));
}
static INL T512 void store_mul_sub(float *y, __m512i q, __m512 d, __m512 m) {
    _mm512_storeu_ps(y, _mm512_sub_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q), d), m));
}

static T512 void d_q4_0(const vg_block_q4_0 *x, float *y, int64_t nb) {
    const __m512i lo = _mm512_set1_epi32(0xF), eight = _mm512_set1_epi32(8);
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const __m512 d = _mm512_set1_ps(vg_f16_to_f32(x[i].d));
        const __m512i q = u8x16(x[i].qs);
        store_mul(y, _mm512_sub_epi32(_mm512_and_si512(q, lo), eight), d);
        store_mul(y + 16, _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight), d);
    }
}

static T512 void d_q4_1(const vg_block_q4_1 *x, float *y, int64_t nb) {
    const __m512i lo = _mm512_set1_epi32(0xF);
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const __m512 d = _mm512_set1_ps(vg_f16_to_f32(x[i].d)), m = _mm512_set1_ps(vg_f16_to_f32(x[i].m));
        const __m512i q = u8x16(x[i].qs);
        store_mul_add(y, _mm512_and_si512(q, lo), d, m);
        store_mul_add(y + 16, _mm512_srli_epi32(q, 4), d, m);
    }
}

/* Q5_0 / Q5_1: bit j of qh is the fifth bit of element j. */
static T512 void d_q5_0(const vg_block_q5_0 *x, float *y, int64_t nb) {
    const __m512i lo = _mm512_set1_epi32(0xF), s16 = _mm512_set1_epi32(16);
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const __m512 d = _mm512_set1_ps(vg_f16_to_f32(x[i].d));
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        const __m512i q = u8x16(x[i].qs);
        const __m512i q0 = _mm512_mask_or_epi32(_mm512_and_si512(q, lo), (__mmask16)(qh & 0xFFFF), _mm512_and_si512(q, lo), s16);
        const __m512i q1 = _mm512_mask_or_epi32(_mm512_srli_epi32(q, 4), (__mmask16)(qh >> 16), _mm512_srli_epi32(q, 4), s16);
        store_mul(y, _mm512_sub_epi32(q0, s16), d);
        store_mul(y + 16, _mm512_sub_epi32(q1, s16), d);
    }
}

static T512 void d_q5_1(const vg_block_q5_1 *x, float *y, int64_t nb) {
    const __m512i lo = _mm512_set1_epi32(0xF), s16 = _mm512_set1_epi32(16);
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const __m512 d = _mm512_set1_ps(vg_f16_to_f32(x[i].d)), m = _mm512_set1_ps(vg_f16_to_f32(x[i].m));
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        const __m512i q = u8x16(x[i].qs);
        const __m512i q0 = _mm512_mask_or_epi32(_mm512_and_si512(q, lo), (__mmask16)(qh & 0xFFFF), _mm512_and_si512(q, lo), s16);
        const __m512i q1 = _mm512_mask_or_epi32(_mm512_srli_epi32(q, 4), (__mmask16)(qh >> 16), _mm512_srli_epi32(q, 4), s16);
        store_mul_add(y, q0, d, m);
        store_mul_add(y + 16, q1, d, m);
    }
}

static T512 void d_q8_0(const vg_block_q8_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const __m512 d = _mm512_set1_ps(vg_f16_to_f32(x[i].d));
        store_mul(y, _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)x[i].qs)), d);
        store_mul(y + 16, _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(x[i].qs + 16))), d);
    }
}

static T512 void d_q2_K(const vg_block_q2_K *x, float *y, int64_t nb) {
    const __m512i three = _mm512_set1_epi32(3);
    for (int64_t i = 0; i < nb; i++) {
        const float d = vg_f16_to_f32(x[i].d), mn = vg_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int n = 0; n < VG_QK_K; n += 128, q += 32) {
            const __m512i qa = u8x16(q), qb = u8x16(q + 16);
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++, y += 16) {
                    const uint8_t sc = x[i].scales[is++];
                    const __m512 dl = _mm512_set1_ps(d * (sc & 0xF)), ml = _mm512_set1_ps(mn * (sc >> 4));
                    const __m512i v = _mm512_and_si512(_mm512_srl_epi32(half ? qb : qa, _mm_cvtsi32_si128(shift)), three);
                    store_mul_sub(y, v, dl, ml);
                }
            }
        }
    }
}

static T512 void d_q3_K(const vg_block_q3_K *x, float *y, int64_t nb) {
    const __m512i three = _mm512_set1_epi32(3), four = _mm512_set1_epi32(4);
    for (int64_t i = 0; i < nb; i++) {
        const float d_all = vg_f16_to_f32(x[i].d);
        const uint8_t *q = x[i].qs;
        const __m512i hma = u8x16(x[i].hmask), hmb = u8x16(x[i].hmask + 16);
        int8_t scales[16];
        vg_q3k_scales(x[i].scales, scales);
        int is = 0, m = 1;
        for (int n = 0; n < VG_QK_K; n += 128, q += 32) {
            const __m512i qa = u8x16(q), qb = u8x16(q + 16);
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                const __m512i mv = _mm512_set1_epi32(m);
                for (int half = 0; half < 2; half++, y += 16) {
                    const __m512 dl = _mm512_set1_ps(d_all * (scales[is++] - 32));
                    __m512i v = _mm512_and_si512(_mm512_srl_epi32(half ? qb : qa, _mm_cvtsi32_si128(shift)), three);
                    const __mmask16 clear = _mm512_testn_epi32_mask(half ? hmb : hma, mv);
                    v = _mm512_mask_sub_epi32(v, clear, v, four);
                    store_mul(y, v, dl);
                }
            }
        }
    }
}

static T512 void d_q4_K(const vg_block_q4_K *x, float *y, int64_t nb) {
    const __m512i lo = _mm512_set1_epi32(0xF);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q = x[i].qs;
        const float d = vg_f16_to_f32(x[i].d), mn = vg_f16_to_f32(x[i].dmin);
        uint8_t sc, m;
        for (int j = 0, is = 0; j < VG_QK_K; j += 64, q += 32, is += 2, y += 64) {
            vg_get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const __m512 d1 = _mm512_set1_ps(d * sc), m1 = _mm512_set1_ps(mn * m);
            vg_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const __m512 d2 = _mm512_set1_ps(d * sc), m2 = _mm512_set1_ps(mn * m);
            const __m512i qa = u8x16(q), qb = u8x16(q + 16);
            store_mul_sub(y, _mm512_and_si512(qa, lo), d1, m1);
            store_mul_sub(y + 16, _mm512_and_si512(qb, lo), d1, m1);
            store_mul_sub(y + 32, _mm512_srli_epi32(qa, 4), d2, m2);
            store_mul_sub(y + 48, _mm512_srli_epi32(qb, 4), d2, m2);
        }
    }
}

static T512 void d_q5_K(const vg_block_q5_K *x, float *y, int64_t nb) {
    const __m512i lo = _mm512_set1_epi32(0xF), s16 = _mm512_set1_epi32(16);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *ql = x[i].qs;
        const __m512i qha = u8x16(x[i].qh), qhb = u8x16(x[i].qh + 16);
        const float d = vg_f16_to_f32(x[i].d), mn = vg_f16_to_f32(x[i].dmin);
        uint8_t sc, m;
        int u1 = 1;
        for (int j = 0, is = 0; j < VG_QK_K; j += 64, ql += 32, is += 2, y += 64, u1 <<= 2) {
            vg_get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const __m512 d1 = _mm512_set1_ps(d * sc), m1 = _mm512_set1_ps(mn * m);
            vg_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const __m512 d2 = _mm512_set1_ps(d * sc), m2 = _mm512_set1_ps(mn * m);
            const __m512i b1 = _mm512_set1_epi32(u1), b2 = _mm512_set1_epi32(u1 << 1);
            const __m512i qa = u8x16(ql), qb = u8x16(ql + 16);
            __m512i v;
            v = _mm512_and_si512(qa, lo);
            store_mul_sub(y, _mm512_mask_add_epi32(v, _mm512_test_epi32_mask(qha, b1), v, s16), d1, m1);
            v = _mm512_and_si512(qb, lo);
            store_mul_sub(y + 16, _mm512_mask_add_epi32(v, _mm512_test_epi32_mask(qhb, b1), v, s16), d1, m1);
            v = _mm512_srli_epi32(qa, 4);
            store_mul_sub(y + 32, _mm512_mask_add_epi32(v, _mm512_test_epi32_mask(qha, b2), v, s16), d2, m2);
            v = _mm512_srli_epi32(qb, 4);
            store_mul_sub(y + 48, _mm512_mask_add_epi32(v, _mm512_test_epi32_mask(qhb, b2), v, s16), d2, m2);
        }
    }
}

static T512 void d_q6_K(const vg_block_q6_K *x, float *y, int64_t nb) {
    const __m512i lo = _mm512_set1_epi32(0xF), three = _mm512_set1_epi32(3), s32 = _mm512_set1_epi32(32);
    for (int64_t i = 0; i < nb; i++) {
        const float d = vg_f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < VG_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int g = 0; g < 2; g++) {
                const int l = 16 * g;
                const __m512i a = u8x16(ql + l), b = u8x16(ql + l + 32), h = u8x16(qh + l);
                const __m512i q1 = _mm512_or_si512(_mm512_and_si512(a, lo), _mm512_slli_epi32(_mm512_and_si512(h, three), 4));
                const __m512i q2 = _mm512_or_si512(_mm512_and_si512(b, lo),
                                                   _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 2), three), 4));
                const __m512i q3 = _mm512_or_si512(_mm512_srli_epi32(a, 4),
                                                   _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 4), three), 4));
                const __m512i q4 = _mm512_or_si512(_mm512_srli_epi32(b, 4), _mm512_slli_epi32(_mm512_srli_epi32(h, 6), 4));
                store_mul(y + l + 0, _mm512_sub_epi32(q1, s32), _mm512_set1_ps(d * sc[g + 0]));
                store_mul(y + l + 32, _mm512_sub_epi32(q2, s32), _mm512_set1_ps(d * sc[g + 2]));
                store_mul(y + l + 64, _mm512_sub_epi32(q3, s32), _mm512_set1_ps(d * sc[g + 4]));
                store_mul(y + l + 96, _mm512_sub_epi32(q4, s32), _mm512_set1_ps(d * sc[g + 6]));
            }
        }
    }
}

/* F16: vcvtph2ps is exact, but quiets signalling NaNs; a chunk holding any NaN goes scalar. */
static T512 void d_f16(const uint16_t *x, float *y, int64_t n) {
    const __m256i expm = _mm256_set1_epi16(0x7c00), absm = _mm256_set1_epi16(0x7fff);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm256_loadu_si256((const __m256i *)(x + i));
        const __m256i a = _mm256_and_si256(h, absm);
        if (_mm256_cmpgt_epi16_mask(a, expm)) {
            for (int k = 0; k < 16; k++) y[i + k] = vg_f16_to_f32(x[i + k]);
        } else {
            _mm512_storeu_ps(y + i, _mm512_cvtph_ps(h));
        }
    }
    for (; i < n; i++) y[i] = vg_f16_to_f32(x[i]);
}

static T512 void d_bf16(const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(x + i)));
        _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
    for (; i < n; i++) y[i] = vg_bf16_to_f32(x[i]);
}

bool vg_dequant_row_avx512(vg_dtype t, const void *src, float *dst, int64_t n) {
    const int64_t nb = n / vg_dtype_block(t);
    switch (t) {
    case VG_DTYPE_F16: d_f16(src, dst, n); return true;
    case VG_DTYPE_BF16: d_bf16(src, dst, n); return true;
    case VG_DTYPE_Q4_0: d_q4_0(src, dst, nb); return true;
    case VG_DTYPE_Q4_1: d_q4_1(src, dst, nb); return true;
    case VG_DTYPE_Q5_0: d_q5_0(src, dst, nb); return true;
    case VG_DTYPE_Q5_1: d_q5_1(src, dst, nb); return true;
    case VG_DTYPE_Q8_0: d_q8_0(src, dst, nb); return true;
    case VG_DTYPE_Q2_K: d_q2_K(src, dst, nb); return true;
    case VG_DTYPE_Q3_K: d_q3_K(src, dst, nb); return true;
    case VG_DTYPE_Q4_K: d_q4_K(src, dst, nb); return true;
    case VG_DTYPE_Q5_K: d_q5_K(src, dst, nb); return true;
    case VG_DTYPE_Q6_K: d_q6_K(src, dst, nb); return true;
    default: return false; /* F32: the ref's memcpy */
    }
}

#else
bool vg_dequant_row_avx512(vg_dtype t, const void *src, float *dst, int64_t n) {
    (void)t; (void)src; (void)dst; (void)n;
    return false;
}
#endif
