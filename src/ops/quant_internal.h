/* quant_internal.h - helpers shared by the dequantizers (quant.c) and their fast twins. */
#ifndef VIDGEN_QUANT_INTERNAL_H
#define VIDGEN_QUANT_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>
#include "vidgen/tensor.h"

/* K-quant 6-bit scale/min j (0..7) of the 12-byte packing (ggml's get_scale_min_k4). */
static inline void vg_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}
/* Q3_K's 12 scale bytes -> 16 scales, each still biased by 32. */
void vg_q3k_scales(const uint8_t *s12, int8_t *out16);
/* AVX-512 dequantizer; returns false when it does not handle t (the caller uses the ref). */
bool vg_dequant_row_avx512(vg_dtype t, const void *src, float *dst, int64_t n);

/* make_qkx3_quants(n, nmax, x, w, L, &the_min, .., -0.9, 0.05, 36, false) for nprob independent
 * problems laid out one after another (n <= 32); the AVX-512 version runs 16 at once, one per
 * lane, with the same float operations in the same order (same bits). */
typedef void (*vg_qkx3_batch_fn)(int nprob, int n, int nmax, const float *x, const float *w, uint8_t *L,
                                 float *scale, float *the_min);
void vg_qkx3_batch_avx512(int nprob, int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale,
                          float *the_min);

/* make_qx_quants(n, nmax, x, L, 1, w) (weighted, rmse_type 1) for nprob problems one after
 * another (n <= 32); L gets level + nmax. The AVX-512 version: 16 at once, same bits. */
typedef void (*vg_qx_batch_fn)(int nprob, int n, int nmax, const float *x, const float *w, int8_t *L, float *scale);
void vg_qx_batch_avx512(int nprob, int n, int nmax, const float *x, const float *w, int8_t *L, float *scale);

#endif
