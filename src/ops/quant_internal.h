/* quant_internal.h - private interface of the products on quantized weights (vg_qmatmul_nt):
 * the driver and scalar reference (quant_ref.c) and the ISA kernels (quant_avx512.c,
 * quant_avx2.c); and the helpers the dequantizers (quant.c) share with their fast twins.
 *
 * Every weight block is first read as unsigned integer codes q (value = q - off), integer
 * sub-block scales sc and mins mn, and float d / m (q_unpack). Activations are quantized per
 * row: qa_blk (Q8_0/Q8_1-style, 32 elements) for the 32-element types, vg_block_q8_K for the
 * K-quants. One block contributes, in this order (fmaf: one rounding; ints are exact):
 *   32-types:  isum = sum_e (q_e - off) a_e
 *              acc  = fmaf(d * a.d, (float)isum, acc);   [Q4_1/Q5_1] acc = fmaf(m, a.s, acc)
 *   K-quants:  itot = sum_s sc_s sum_{e in s} (q_e - off) a_e,  imin = sum_s mn_s sum_{e in s} a_e
 *              acc  = fmaf(d * a.d, (float)itot, acc);   [Q2_K/Q4_K/Q5_K] acc = fmaf(-(m * a.d), (float)imin, acc)
 * with m = dmin for the K-quants. The fast kernels compute the same integers by other means
 * (unsigned x signed vpdpbusd / maddubs, the offset and the mins through the activation block
 * sums) and the same float operations in the same order, so their results are bit-identical
 * to the reference. */
#ifndef VIDGEN_QUANT_INTERNAL_H
#define VIDGEN_QUANT_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vidgen/quant.h"

/* Activation block of 32 (ggml's Q8_0 / Q8_1 quantization; d and s kept in f32). */
typedef struct { float d, s; int32_t sum; int8_t qs[VG_QK]; } qa_blk; /* s = (float)sum * d */

typedef struct {
    int blk;      /* elements per block: 32 or 256 */
    int nsub;     /* sub-blocks with their own integer scale: 1 (32-types), 8 or 16 */
    int off;      /* value = code - off */
    bool has_min; /* Q4_1, Q5_1 (float m), Q2_K, Q4_K, Q5_K (integer mins times dmin) */
    bool kq;      /* K-quant (Q8_K activations) */
} qtype_info;

/* false when t is not one of the ten product types. */
bool q_type_info(vg_dtype t, qtype_info *ti);

typedef struct {
    uint8_t q[VG_QK_K]; /* codes in element order (first blk used) */
    int32_t sc[16], mn[16];
    float d, m;
} qw_blk;
void q_unpack(vg_dtype t, const void *src, qw_blk *u);

/* Activation quantizers, n a multiple of the block. */
void q_quant_a32(const float *x, qa_blk *y, int64_t n);
void q_quant_aK(const float *x, vg_block_q8_K *y, int64_t n);

/* Packed weight panel: QNR weight rows (lanes) side by side, block after block.
 * Codes are [quad][lane][4]: the 4 consecutive codes k..k+3 of lane j are one dword, so one
 * 512-bit load holds a k-quad of 16 rows. Lanes past the last row are all zero. */
enum { QNR = 32 };
/* 32-element types, per block: codes [8][32][4], d[32] f32, m[32] f32 */
enum { QP32_D = 1024, QP32_M = QP32_D + 4 * QNR, QP32_STRIDE = QP32_M + 4 * QNR };
/* K-quants, per super-block: codes [64][32][4]; sc[16][32] i32; sc16[16][32] (sc, sc) i16
 * pairs; cw[8][32] i16 pairs (c_2p, c_2p+1): the coefficient of the activation's 16-sums
 * bsums[t] (mn of t's sub-block for the types with mins, else -off * sc); d[32], dmin[32] f32. */
enum { QPK_SC = 8192, QPK_SC16 = QPK_SC + 64 * QNR, QPK_CW = QPK_SC16 + 64 * QNR, QPK_D = QPK_CW + 32 * QNR,
       QPK_DMIN = QPK_D + 4 * QNR, QPK_STRIDE = QPK_DMIN + 4 * QNR };

/* Packs rows j0 .. j0+nr-1 (nr <= QNR) of w (row stride rb, nb blocks a row) into dst
 * (64-byte aligned, nb * stride bytes). */
void q_pack_panel(vg_dtype t, const qtype_info *ti, const uint8_t *w, size_t rb, int64_t j0, int nr, int64_t nb,
                  uint8_t *dst);

/* Kernel: raw dot sums (before bias) of mr activation rows (arows[i]: the row's first
 * qa_blk or vg_block_q8_K) with the QNR lanes of one packed panel, into out[i][0..QNR). */
typedef void (*q_kernel_fn)(vg_dtype t, const qtype_info *ti, int64_t nb, const uint8_t *panel,
                            const void *const *arows, float *const *out);
typedef struct {
    int mr32, mrk;      /* rows per call of k32 / kK */
    q_kernel_fn k32, kK;
    void (*quant32)(const float *x, qa_blk *y, int64_t n);       /* q_quant_a32's fast twin (same bytes), or NULL */
    void (*quantK)(const float *x, vg_block_q8_K *y, int64_t n); /* q_quant_aK's, or NULL */
    const char *name;
} q_path;
const q_path *q_path_avx512(void); /* AVX-512 VNNI; NULL when not built */
const q_path *q_path_avx2(void);   /* AVX2 maddubs; NULL when not built */

/* The product with accumulate (vg_matmul_nt's hook) at the level's path, and its reference. */
void q_matmul_nt(float *c, const float *a, const void *w, vg_dtype wt, const float *bias, int64_t M, int64_t N,
                 int64_t K, bool accumulate);
void q_matmul_nt_ref(float *c, const float *a, const void *w, vg_dtype wt, const float *bias, int64_t M,
                     int64_t N, int64_t K, bool accumulate);

/* ---- dequantizers (quant.c, dequant_avx512.c) and quantizers (quantize.c) ---- */
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
/* AVX2 twins of both searches (8 lanes, same bits), quantize_avx2.c. */
void vg_qkx3_batch_avx2(int nprob, int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale,
                        float *the_min);
void vg_qx_batch_avx2(int nprob, int n, int nmax, const float *x, const float *w, int8_t *L, float *scale);

#endif
