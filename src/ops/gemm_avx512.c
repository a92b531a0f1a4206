/* gemm_avx512.c - AVX-512 packing and 14x32 register-tiled kernels for gemm.c.
 * f32 path: 28 zmm accumulators, A values broadcast from the packed [k][14] panel, two
 * [k][32] W vectors per k (BLIS skx kernels use the same idea with other tile shapes).
 * bf16 path: vdpbf16ps on [k/2][x][2] pair panels; A is rounded to bf16 (RNE) when packed, and so
 * are f32 or f16 weights (f16 -> f32 exactly, then RNE to bf16).
 * Compiled with target attributes, so it builds without -march and runs only when
 * vg_cpu_level() >= 3 (and avx512bf16 for the bf16 path). */
#include <immintrin.h>
#include "vidgen/gemm.h"
#include "ops/gemm_internal.h"
#include "ops/tr16_avx512.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#define T512BF __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx512bf16")))
#define INL inline __attribute__((always_inline))

enum { MR = 14, NR = 32 };

static INL __mmask16 lanes(int64_t n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }
static INL __mmask32 lanes32(int64_t n) { return n >= 32 ? 0xffffffffu : n <= 0 ? 0 : (__mmask32)((1u << n) - 1); }

/* 16 values of row x from k (mask km) as f32. */
static INL T512 __m512 load16(const gemm_src *s, int64_t x, int64_t k, __mmask16 km) {
    int64_t i = x * s->ld + k;
    if (s->dt == VG_DTYPE_BF16) {
        __m256i h = _mm256_maskz_loadu_epi16(km, (const uint16_t *)s->p + i);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    if (s->dt == VG_DTYPE_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(km, (const uint16_t *)s->p + i));
    return _mm512_maskz_loadu_ps(km, (const float *)s->p + i);
}

static T512 void pack_f32(void *dst_, int w, const gemm_src *s, int64_t x0, int64_t nx, int64_t k0, int64_t kc) {
    float *dst = dst_;
    for (int g = 0; g < w; g += 16) {
        __mmask16 lm = lanes(w - g), vm = lanes(nx - g);
        int nv = nx - g < 0 ? 0 : nx - g > 16 ? 16 : (int)(nx - g);
        if (s->kmajor) {
            const float *p = (const float *)s->p + k0 * s->ld + x0 + g;
            for (int64_t k = 0; k < kc; k++, p += s->ld)
                _mm512_mask_storeu_ps(dst + k * w + g, lm, _mm512_maskz_loadu_ps(vm, p));
            continue;
        }
        for (int64_t k = 0; k < kc; k += 16) {
            __mmask16 km = lanes(kc - k);
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = i < nv ? load16(s, x0 + g + i, k0 + k, km) : _mm512_setzero_ps();
            vg_tr16x16_epi32((__m512i *)r);
            int64_t nk = kc - k < 16 ? kc - k : 16;
            for (int t = 0; t < nk; t++) _mm512_mask_storeu_ps(dst + (k + t) * w + g, lm, r[t]);
        }
    }
}

/* c[R,nr] (+)= ap[kc][MR] . bp[kc][NR] with R a compile-time constant after inlining. */
static INL T512 void tile(const int R, int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc,
                          int nr, const float *bias, bool load_c) {
    __m512 c0[MR], c1[MR];
    __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
    __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    for (int r = 0; r < R; r++) {
        c0[r] = load_c ? _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c + r * ldc), b0) : b0;
        c1[r] = load_c ? _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + r * ldc + 16), b1) : b1;
    }
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; k++, ap += MR, bp += NR) {
        __m512 y0 = _mm512_load_ps(bp), y1 = _mm512_load_ps(bp + 16);
        for (int r = 0; r < R; r++) {
            __m512 a = _mm512_set1_ps(ap[r]);
            c0[r] = _mm512_fmadd_ps(a, y0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, y1, c1[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, c0[r]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, c1[r]);
    }
}

#define TILE_CASES(F) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11) F(12) F(13)

static T512 void kernel_f32(int64_t kc, const void *ap, const void *bp, float *c, int64_t ldc, int mr, int nr,
                            const float *bias, bool load_c) {
    switch (mr) {
#define F(n) case n: tile(n, kc, ap, bp, c, ldc, nr, bias, load_c); return;
        TILE_CASES(F)
#undef F
    default: tile(MR, kc, ap, bp, c, ldc, nr, bias, load_c); return;
    }
}

static const gemm_path path512 = {MR, NR, 384, 640, 1, pack_f32, pack_f32, kernel_f32, 4, 4};
const gemm_path *gemm_path_avx512(void) { return &path512; }

/* ---- bf16 products ---- */

/* 32 consecutive k of row x as 16 bf16 pairs (32-bit lanes); km masks the 32 k. */
static INL T512BF __m512 load_pairs(const gemm_src *s, int64_t x, int64_t k, __mmask32 km) {
    int64_t i = x * s->ld + k;
    if (s->dt == VG_DTYPE_BF16) return _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(km, (const uint16_t *)s->p + i));
    if (s->dt == VG_DTYPE_F16) { /* f16 -> f32 (exact) -> bf16 (RNE) */
        const uint16_t *h = (const uint16_t *)s->p + i;
        __m512 lo = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)km, h));
        __m512 hi = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)(km >> 16), h + 16));
        return _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    const float *p = (const float *)s->p + i;
    __m512 lo = _mm512_maskz_loadu_ps((__mmask16)km, p), hi = _mm512_maskz_loadu_ps((__mmask16)(km >> 16), p + 16);
    return _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* 16 f32 as bf16 (RNE) in the low 16 bits of each 32-bit lane. */
static INL T512BF __m512i bf16_lanes(__m512 v) {
    return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v));
}

/* dst uint16 [ceil(kc/2)][w][2]: lane x of pair row k/2 holds (k, k+1) of x, k in the low half.
 * x-major sources (vg_matmul_nt: bf16 weights or f32) are read 32 k at a time and transposed;
 * k-major f32 sources (vg_matmul_nn's W, both operands of vg_matmul_tn) read rows k and k+1. */
static T512BF void pack_bf16(void *dst_, int w, const gemm_src *s, int64_t x0, int64_t nx, int64_t k0, int64_t kc) {
    uint32_t *dst = dst_; /* one pair per 32-bit lane */
    int64_t kp = (kc + 1) / 2;
    for (int g = 0; g < w; g += 16) {
        __mmask16 lm = lanes(w - g);
        int nv = nx - g < 0 ? 0 : nx - g > 16 ? 16 : (int)(nx - g);
        if (s->kmajor) { /* f32 only */
            __mmask16 vm = lanes(nv);
            const float *p = (const float *)s->p + k0 * s->ld + x0 + g;
            for (int64_t k = 0; k < kc; k += 2, p += 2 * s->ld) {
                __m512i lo = bf16_lanes(_mm512_maskz_loadu_ps(vm, p));
                __m512i hi = k + 1 < kc ? bf16_lanes(_mm512_maskz_loadu_ps(vm, p + s->ld)) : _mm512_setzero_si512();
                _mm512_mask_storeu_epi32(dst + (k / 2) * w + g, lm, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
            }
            continue;
        }
        for (int64_t k = 0; k < kc; k += 32) {
            __mmask32 km = lanes32(kc - k);
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = i < nv ? load_pairs(s, x0 + g + i, k0 + k, km) : _mm512_setzero_ps();
            vg_tr16x16_epi32((__m512i *)r);
            int64_t np = kp - k / 2 < 16 ? kp - k / 2 : 16;
            for (int t = 0; t < np; t++) _mm512_mask_storeu_ps((float *)dst + (k / 2 + t) * w + g, lm, r[t]);
        }
    }
}

static INL T512BF void tile_bf(const int R, int64_t kc, const uint32_t *ap, const uint32_t *bp, float *c,
                               int64_t ldc, int nr, const float *bias, bool load_c) {
    __m512 c0[MR], c1[MR];
    __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
    __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    for (int r = 0; r < R; r++) {
        c0[r] = load_c ? _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c + r * ldc), b0) : b0;
        c1[r] = load_c ? _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + r * ldc + 16), b1) : b1;
    }
    int64_t kp = (kc + 1) / 2;
#pragma GCC unroll 2
    for (int64_t k = 0; k < kp; k++, ap += MR, bp += NR) {
        __m512bh y0 = (__m512bh)_mm512_load_si512(bp), y1 = (__m512bh)_mm512_load_si512(bp + 16);
        for (int r = 0; r < R; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[r]);
            c0[r] = _mm512_dpbf16_ps(c0[r], a, y0);
            c1[r] = _mm512_dpbf16_ps(c1[r], a, y1);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, c0[r]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, c1[r]);
    }
}

static T512BF void kernel_bf16(int64_t kc, const void *ap, const void *bp, float *c, int64_t ldc, int mr, int nr,
                               const float *bias, bool load_c) {
    switch (mr) {
#define F(n) case n: tile_bf(n, kc, ap, bp, c, ldc, nr, bias, load_c); return;
        TILE_CASES(F)
#undef F
    default: tile_bf(MR, kc, ap, bp, c, ldc, nr, bias, load_c); return;
    }
}

static const gemm_path path512bf = {MR, NR, 512, 640, 2, pack_bf16, pack_bf16, kernel_bf16, 2, 2};
const gemm_path *gemm_path_avx512_bf16(void) { return &path512bf; }

#else
const gemm_path *gemm_path_avx512(void) { return NULL; }
const gemm_path *gemm_path_avx512_bf16(void) { return NULL; }
#endif
