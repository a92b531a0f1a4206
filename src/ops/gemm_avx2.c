/* gemm_avx2.c - AVX2+FMA 6x16 register-tiled kernel for gemm.c (12 ymm accumulators,
 * the classic Haswell shape) and its f32 packing: k-major panels are row copies, the others
 * are transposed 8 k at a time by 8x8 register transposes (F16/BF16 weights use the generic
 * packing of gemm.c). Compiled with target attributes; runs when vg_cpu_level() >= 2. */
#include <immintrin.h>
#include "vidgen/gemm.h"
#include "ops/gemm_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define T2 __attribute__((target("avx2,fma")))
#define INL inline __attribute__((always_inline))

enum { MR = 6, NR = 16 };

static INL T2 __m256i lanes8(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* 8x8 transpose of r[0..7] in place (r[i] lane j <- r[j] lane i). */
static INL T2 void tr8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* f32 panels: dst[k*w + x] = src(x0 + x, k0 + k), zero for x >= nx. Same values as
 * gemm_pack_generic (a copy), so results do not depend on which packer ran. */
static T2 void pack_f32(void *dst_, int w, const gemm_src *s, int64_t x0, int64_t nx, int64_t k0, int64_t kc) {
    if (s->dt != VG_DTYPE_F32 || (w != MR && w != NR)) { gemm_pack_generic(dst_, w, s, x0, nx, k0, kc); return; }
    float *dst = dst_;
    const float *src = s->p;
    if (s->kmajor) {
        const __m256i m0 = lanes8((int)nx), m1 = lanes8((int)nx - 8);
        const float *p = src + k0 * s->ld + x0;
        for (int64_t k = 0; k < kc; k++, p += s->ld, dst += w) {
            if (w == NR) {
                _mm256_storeu_ps(dst, nx >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m0));
                _mm256_storeu_ps(dst + 8, nx >= 16 ? _mm256_loadu_ps(p + 8) : _mm256_maskload_ps(p + 8, m1));
            } else if (nx == MR) {
                _mm_storeu_ps(dst, _mm_loadu_ps(p));
                _mm_storel_pi((__m64 *)(dst + 4), _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(p + 4)));
            } else {
                for (int x = 0; x < MR; x++) dst[x] = x < nx ? p[x] : 0.0f;
            }
        }
        return;
    }
    /* rows x of length k: transpose 8 k at a time */
    const float *row[16];
    for (int x = 0; x < w; x++) row[x] = x < nx ? src + (x0 + x) * s->ld + k0 : NULL;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        for (int g = 0; g < w; g += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = (g + i < w && row[g + i]) ? _mm256_loadu_ps(row[g + i] + k) : _mm256_setzero_ps();
            tr8(r);
            if (w == NR) {
                for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (k + i) * NR + g, r[i]);
            } else { /* MR = 6: lanes 0-5 */
                for (int i = 0; i < 8; i++) {
                    float *d = dst + (k + i) * MR;
                    _mm_storeu_ps(d, _mm256_castps256_ps128(r[i]));
                    _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(r[i], 1));
                }
            }
        }
    }
    for (; k < kc; k++)
        for (int x = 0; x < w; x++) dst[k * w + x] = row[x] ? row[x][k] : 0.0f;
}

/* The accumulators are named registers, not arrays: gcc kept an array of them on the stack
 * and stored all twelve every k step (a third of the FMA rate). R is a constant after
 * inlining, so the row guards fold away. */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
static INL T2 void tile(const int R, int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int nr,
                        const float *bias, bool load_c) {
    const __m256i m0 = lanes8(nr), m1 = lanes8(nr - 8);
    const __m256 b0 = bias ? _mm256_maskload_ps(bias, m0) : _mm256_setzero_ps();
    const __m256 b1 = bias ? _mm256_maskload_ps(bias + 8, m1) : _mm256_setzero_ps();
    const bool full = nr == NR;
#define DECL(r) __m256 c0_##r = b0, c1_##r = b1;
    ROWS(DECL)
#undef DECL
    if (load_c) {
#define LOADC(r)                                                                                              \
    if (R > r) {                                                                                              \
        c0_##r = _mm256_add_ps(full ? _mm256_loadu_ps(c + r * ldc) : _mm256_maskload_ps(c + r * ldc, m0), b0);     \
        c1_##r = _mm256_add_ps(full ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_maskload_ps(c + r * ldc + 8, m1), b1); \
    }
        ROWS(LOADC)
#undef LOADC
    }
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++, ap += MR, bp += NR) {
        const __m256 y0 = _mm256_load_ps(bp), y1 = _mm256_load_ps(bp + 8);
#define STEP(r)                                                                                               \
    if (R > r) {                                                                                              \
        const __m256 a = _mm256_broadcast_ss(ap + r);                                                         \
        c0_##r = _mm256_fmadd_ps(a, y0, c0_##r);                                                              \
        c1_##r = _mm256_fmadd_ps(a, y1, c1_##r);                                                              \
    }
        ROWS(STEP)
#undef STEP
    }
#define STOREC(r)                                                                                             \
    if (R > r) {                                                                                              \
        if (full) {                                                                                           \
            _mm256_storeu_ps(c + r * ldc, c0_##r);                                                            \
            _mm256_storeu_ps(c + r * ldc + 8, c1_##r);                                                        \
        } else {                                                                                              \
            _mm256_maskstore_ps(c + r * ldc, m0, c0_##r);                                                     \
            _mm256_maskstore_ps(c + r * ldc + 8, m1, c1_##r);                                                 \
        }                                                                                                     \
    }
    ROWS(STOREC)
#undef STOREC
}
#undef ROWS

static T2 void kernel_avx2(int64_t kc, const void *ap, const void *bp, float *c, int64_t ldc, int mr, int nr,
                           const float *bias, bool load_c) {
    switch (mr) {
    case 1: tile(1, kc, ap, bp, c, ldc, nr, bias, load_c); return;
    case 2: tile(2, kc, ap, bp, c, ldc, nr, bias, load_c); return;
    case 3: tile(3, kc, ap, bp, c, ldc, nr, bias, load_c); return;
    case 4: tile(4, kc, ap, bp, c, ldc, nr, bias, load_c); return;
    case 5: tile(5, kc, ap, bp, c, ldc, nr, bias, load_c); return;
    default: tile(MR, kc, ap, bp, c, ldc, nr, bias, load_c); return;
    }
}

static const gemm_path path2 = {MR, NR, 256, 512, 1, pack_f32, pack_f32, kernel_avx2, 4, 4};
const gemm_path *gemm_path_avx2(void) { return &path2; }
#else
const gemm_path *gemm_path_avx2(void) { return NULL; }
#endif
