/* quant_internal.h - helpers shared by the dequantizers (quant.c) and their fast twins. */
#ifndef VIDGEN_QUANT_INTERNAL_H
#define VIDGEN_QUANT_INTERNAL_H
#include <stdint.h>
#include "vidgen/tensor.h"

/* K-quant 6-bit scale/min j (0..7) of the 12-byte packing (ggml's get_scale_min_k4). */
void vg_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m);
/* Q3_K's 12 scale bytes -> 16 scales, each still biased by 32. */
void vg_q3k_scales(const uint8_t *s12, int8_t *out16);
/* AVX-512 dequantizer; returns false when it does not handle t (the caller uses the ref). */
bool vg_dequant_row_avx512(vg_dtype t, const void *src, float *dst, int64_t n);

#endif
