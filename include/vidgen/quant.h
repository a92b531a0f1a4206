/* quant.h - ggml's block-quantized weight types: layouts, dequantization, the reference
 * quantizers (for `vidgen convert` and `--type`), and matrix products on quantized weights.
 *
 * Layouts are ggml's, byte for byte (little-endian, packed, no padding), so GGUF tensor data is
 * used in place from the mapping. d/m/dmin are IEEE half (vg_f16_to_f32). A row of n elements is
 * n / 32 blocks (Q4_0 .. Q8_0) or n / 256 blocks (the K-quants); rows never share a block.
 *
 * Products: vg_matmul_nt (gemm.h) takes these types as its weight type and comes here: the weight
 * stays quantized, each activation row is quantized per block to int8 on the fly (Q8_0-style
 * blocks of 32 for the 32-element types, Q8_K-style blocks of 256 with per-16 sums for the
 * K-quants), and the integer dot products run on AVX-512 VNNI / AVX-VNNI / AVX2 / scalar. */
#ifndef VIDGEN_QUANT_H
#define VIDGEN_QUANT_H
#include <stdbool.h>
#include <stdint.h>
#include "vidgen/status.h"
#include "vidgen/tensor.h"

#define VG_QK 32   /* elements per block, Q4_0 .. Q8_0 */
#define VG_QK_K 256 /* elements per super-block, K-quants */

typedef struct { uint16_t d; uint8_t qs[VG_QK / 2]; } vg_block_q4_0;                 /* 18 B */
typedef struct { uint16_t d, m; uint8_t qs[VG_QK / 2]; } vg_block_q4_1;              /* 20 B */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[VG_QK / 2]; } vg_block_q5_0;  /* 22 B */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[VG_QK / 2]; } vg_block_q5_1; /* 24 B */
typedef struct { uint16_t d; int8_t qs[VG_QK]; } vg_block_q8_0;                      /* 34 B */
typedef struct { uint8_t scales[VG_QK_K / 16]; uint8_t qs[VG_QK_K / 4]; uint16_t d, dmin; } vg_block_q2_K; /* 84 B */
typedef struct { uint8_t hmask[VG_QK_K / 8]; uint8_t qs[VG_QK_K / 4]; uint8_t scales[12]; uint16_t d; } vg_block_q3_K; /* 110 B */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[VG_QK_K / 2]; } vg_block_q4_K; /* 144 B */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[VG_QK_K / 8]; uint8_t qs[VG_QK_K / 2]; } vg_block_q5_K; /* 176 B */
typedef struct { uint8_t ql[VG_QK_K / 2]; uint8_t qh[VG_QK_K / 4]; int8_t scales[VG_QK_K / 16]; uint16_t d; } vg_block_q6_K; /* 210 B */
/* Activation blocks (internal to the products, never in files). */
typedef struct { float d; float s; int8_t qs[VG_QK]; } vg_block_q8a;                 /* d scale, s = d * sum(qs) */
typedef struct { float d; int8_t qs[VG_QK_K]; int16_t bsums[VG_QK_K / 16]; } vg_block_q8_K;

/* Dequantize n elements (n a multiple of vg_dtype_block(t)) of any type (F32/F16/BF16 too).
 * _ref: plain scalar C, bit-exact with ggml's dequantize_row_*; the fast version gives the same
 * bits. */
void vg_dequant_row(vg_dtype t, const void *src, float *dst, int64_t n);
void vg_dequant_row_ref(vg_dtype t, const void *src, float *dst, int64_t n);

/* ggml's reference quantizer (quantize_row_*_ref, no importance matrix) for one row of n
 * elements, n a multiple of the block. */
void vg_quant_row_ref(vg_dtype t, const float *src, void *dst, int64_t n);
/* ggml's quantizer with an importance matrix (the quantize_*_impl paths of ggml_quantize_chunk):
 * imatrix holds n weights, NULL means all ones. With NULL this gives, byte for byte, what
 * stable-diffusion.cpp's `-M convert --type T` writes (../shared/gguf-goldens), and a lower error
 * than vg_quant_row_ref for every block type. Q8_0, F16, BF16 have no weighted path (same as
 * vg_quant_row_ref). */
void vg_quant_row_imatrix_ref(vg_dtype t, const float *src, void *dst, int64_t n, const float *imatrix);
/* Same bytes, faster: the scale searches of every block type run 16 sub-blocks at once on
 * AVX-512 (8 on AVX2) where the CPU has it (one per lane, the same float operations). */
void vg_quant_row_imatrix(vg_dtype t, const float *src, void *dst, int64_t n, const float *imatrix);

/* Whole tensors, rows x cols row-major, in parallel over rows (OpenMP; bit-identical at any
 * thread count). t is F32, F16, BF16 or a block type; cols must be a multiple of
 * vg_dtype_block(t) (VG_ERR_SHAPE otherwise); dst holds rows * vg_dtype_row_bytes(t, cols) bytes
 * (that function is also the size of a quantized tensor). vg_quantize uses
 * vg_quant_row_imatrix(.., NULL): the bytes stable-diffusion.cpp's convert writes. */
vg_status vg_quantize(vg_dtype t, const float *src, void *dst, int64_t rows, int64_t cols);
vg_status vg_dequantize(vg_dtype t, const void *src, float *dst, int64_t rows, int64_t cols);

/* C[M,N] = A[M,K] . W[N,K]^T (+ bias[N]) with W quantized: rows of K elements of type wt (Q8_0,
 * Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K or Q6_K), row stride vg_dtype_row_bytes(wt, K),
 * K a positive multiple of vg_dtype_block(wt). Each activation row is quantized as ggml does for
 * the type's vec_dot (quantize_row_q8_0 / q8_1 for the 32-element types, q8_K for the K-quants;
 * the activation scales are kept in f32 instead of f16), each block's integer dot product is
 * exact, and the float steps are fixed (ops/quant_internal.h), so the result is bit-identical to
 * _ref on every path and for any thread count. The weights are never expanded: panels of 32 rows
 * are unpacked to 8-bit codes into a per-thread buffer on the fly. Bad arguments (another type,
 * K not a multiple of the block) fill C with NaN and record the error (vg_last_error). */
void vg_qmatmul_nt(float *c, const float *a, const void *w, vg_dtype wt, const float *bias, int64_t M, int64_t N,
                   int64_t K);
void vg_qmatmul_nt_ref(float *c, const float *a, const void *w, vg_dtype wt, const float *bias, int64_t M,
                       int64_t N, int64_t K);

#endif
