/* gemm_avx2.c - AVX2+FMA 6x16 register-tiled kernel for gemm.c (12 ymm accumulators,
 * the classic Haswell shape). Packing is the generic one from gemm.c. Compiled with target
 * attributes; runs when vg_cpu_level() >= 2. */
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

static INL T2 void tile(const int R, int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int nr,
                        const float *bias, bool load_c) {
    __m256 c0[MR], c1[MR];
    __m256i m0 = lanes8(nr), m1 = lanes8(nr - 8);
    __m256 b0 = bias ? _mm256_maskload_ps(bias, m0) : _mm256_setzero_ps();
    __m256 b1 = bias ? _mm256_maskload_ps(bias + 8, m1) : _mm256_setzero_ps();
    for (int r = 0; r < R; r++) {
        c0[r] = load_c ? _mm256_add_ps(_mm256_maskload_ps(c + r * ldc, m0), b0) : b0;
        c1[r] = load_c ? _mm256_add_ps(_mm256_maskload_ps(c + r * ldc + 8, m1), b1) : b1;
    }
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; k++, ap += MR, bp += NR) {
        __m256 y0 = _mm256_load_ps(bp), y1 = _mm256_load_ps(bp + 8);
        for (int r = 0; r < R; r++) {
            __m256 a = _mm256_broadcast_ss(ap + r);
            c0[r] = _mm256_fmadd_ps(a, y0, c0[r]);
            c1[r] = _mm256_fmadd_ps(a, y1, c1[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm256_maskstore_ps(c + r * ldc, m0, c0[r]);
        _mm256_maskstore_ps(c + r * ldc + 8, m1, c1[r]);
    }
}

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

static const gemm_path path2 = {MR, NR, 256, 512, 1, gemm_pack_generic, gemm_pack_generic, kernel_avx2, 4, 4};
const gemm_path *gemm_path_avx2(void) { return &path2; }
#else
const gemm_path *gemm_path_avx2(void) { return NULL; }
#endif
