/* tr16_avx512.h - 16x16 transpose of 32-bit lanes in 16 zmm registers (r[i][j] -> r[j][i]):
 * unpack 32-bit, unpack 64-bit, then two rounds of 128-bit lane shuffles. Shared by the GEMM
 * packing routines of gemm_avx512.c (f32 panels, bf16 pairs) and gemm_amx.c (bf16 pairs).
 * Include only from x86-64 GCC/Clang code; callers need at least the avx512f target. */
#ifndef VIDGEN_TR16_AVX512_H
#define VIDGEN_TR16_AVX512_H
#include <immintrin.h>

static inline __attribute__((always_inline, target("avx512f"))) void vg_tr16x16_epi32(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int m = 0; m < 4; m++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x88), v1 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xdd);
        __m512i w0 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x88), w1 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xdd);
        r[m] = _mm512_shuffle_i32x4(v0, w0, 0x88);
        r[m + 8] = _mm512_shuffle_i32x4(v0, w0, 0xdd);
        r[m + 4] = _mm512_shuffle_i32x4(v1, w1, 0x88);
        r[m + 12] = _mm512_shuffle_i32x4(v1, w1, 0xdd);
    }
}

#endif
