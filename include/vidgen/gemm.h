/* gemm.h - matrix products for the model's linear layers (row-major, contiguous).
 * Shapes: A [M,K] activations, W [N,K] weights in PyTorch Linear layout.
 *   vg_matmul_nt: C[M,N] = A[M,K] . W[N,K]^T (+ bias[N])   forward y = x W^T + b
 *                 W may be F32, F16 or BF16 (converted to f32 on the fly; sums in f32;
 *                 level 4: AMX bf16 tiles with hi/lo splits, error ~2^-16 |a w|, gemm_amx.c)
 *                 or a ggml block type (Q8_0 .. Q6_K): int8 products, see vg_qmatmul_nt (quant.h)
 *   vg_matmul_nn: C[M,K] = A[M,N] . W[N,K]                backward data  dx = dy W
 *   vg_matmul_tn: C[N,K] += A[M,N]^T . B[M,K]             backward weight dW += dy^T x
 * accumulate=true adds into C instead of overwriting it. Results are bit-identical
 * for any thread count (each output element is reduced by one thread in a fixed order).
 * Each has a plain _ref twin that the tests compare against. */
#ifndef VIDGEN_GEMM_H
#define VIDGEN_GEMM_H
#include <stdbool.h>
#include <stdint.h>
#include "vidgen/tensor.h"

void vg_matmul_nt(float *c, const float *a, const void *w, vg_dtype wt, const float *bias,
                  int64_t M, int64_t N, int64_t K, bool accumulate);
void vg_matmul_nt_ref(float *c, const float *a, const void *w, vg_dtype wt, const float *bias,
                      int64_t M, int64_t N, int64_t K, bool accumulate);
void vg_matmul_nn(float *c, const float *a, const float *w, int64_t M, int64_t N, int64_t K,
                  bool accumulate);
void vg_matmul_nn_ref(float *c, const float *a, const float *w, int64_t M, int64_t N, int64_t K,
                      bool accumulate);
void vg_matmul_tn(float *c, const float *a, const float *b, int64_t M, int64_t N, int64_t K);
void vg_matmul_tn_ref(float *c, const float *a, const float *b, int64_t M, int64_t N, int64_t K);

/* f32 x f32 products on AMX tiles (level 4 only): both operands split into bf16 hi + lo, three
 * tile passes, error ~2^-16 |a w| per product instead of f32 rounding, 2-4x the speed. Off by
 * default, so inference and the golden tests run exact f32; the trainer turns it on for its run
 * (training config "amx_f32", default true). Sets the mode, returns the previous one. */
bool vg_gemm_f32_amx(bool on);

/* bf16 operands for f32 products (training): when on and the CPU has AVX512_BF16 (level >= 3),
 * vg_matmul_nt with F32/BF16/F16 weights, vg_matmul_nn and vg_matmul_tn round both operands to bf16
 * (RNE) when packing and sum the exact bf16 products in f32 with vdpbf16ps (pairs of k: the odd
 * k's product is added before the even one's, one rounding each). Error per product term
 * <= ~2^-7 |a w| (two roundings, unit roundoff 2^-8: bf16 keeps 8 significant bits), sums in f32; results stay bit-identical at any thread
 * count. Off by default (inference and the golden tests run f32); the trainer turns it on for
 * its run (training config "bf16", default true where available). Sets the mode, returns the
 * previous one. F16 weights (Wan's fp16 checkpoints, vg_wan_params.bf16) lose 3 of their 11
 * significant bits (f16 -> bf16 RNE). vg_attn follows the same mode (attn.h). AMX (level 4) keeps its own f32 mode (vg_gemm_f32_amx), which takes precedence. */
bool vg_gemm_bf16(bool on);
bool vg_gemm_bf16_on(void); /* the mode set (true also where the CPU lacks the instructions) */
bool vg_gemm_bf16_available(void);

/* CPU features detected at run time (cpu.c). */
/* amx: AMX-TILE + AMX-BF16 present and the tile state granted by the OS (Linux arch_prctl). */
typedef struct { bool avx2, fma, avx512f, avx512bw, avx512dq, avx512vl, avx512bf16, avx512vnni, f16c, amx; } vg_cpu_features;
const vg_cpu_features *vg_cpu(void);
/* Levels: 1 scalar, 2 AVX2, 3 AVX-512, 4 AVX-512 + AMX tiles (vg_matmul_nt with F16/BF16
 * weights). Force a path for tests/bench: 0 = auto, else at most the given level. */
void vg_cpu_force_level(int level);
int vg_cpu_level(void);

#endif
