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

#endif
