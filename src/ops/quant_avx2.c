/* quant_avx2.c - AVX2 kernels of the quantized products (quant_ref.c drives them), for CPUs
 * without AVX-512 VNNI. Same packed panels as quant_avx512.c; a ymm is a k-quad of 8 rows.
 * vpmaddubsw multiplies unsigned codes by signed activation bytes and adds pairs into int16
 * (no saturation: codes <= 63 give pairs <= 2*63*127), vpmaddwd adds the pairs into int32,
 * with ones (32-element types) or with the sub-block scale (K-quants, sc16 pairs), so no
 * int32 multiply is needed. Q8_0 codes (0..255) would saturate, so for Q8_0 the kernel takes
 * the signed weight back (code ^ 0x80) and uses ggml's sign trick: |w| x sign(a, w).
 * Integers exact, float steps as the reference: bit-identical to q_matmul_nt_ref.
 * Tiles: 2 rows x 16 lanes, twice per 32-lane panel. Target attributes; level >= 2. */
#include <immintrin.h>
#include <string.h>
#include "vidgen/gemm.h"
#include "ops/quant_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define T2 __attribute__((target("avx2,fma")))
#define INL inline __attribute__((always_inline))

enum { MR = 2 };

static INL int32_t ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static INL T2 __m256i ldv(const uint8_t *p) { return _mm256_load_si256((const __m256i *)p); }

static T2 void k32(vg_dtype t, const qtype_info *ti, int64_t nb, const uint8_t *pn0, const void *const *arows,
                   float *const *acc) {
    const qa_blk *ar[MR] = {arows[0], arows[1]};
    const bool q8 = t == VG_DTYPE_Q8_0, hm = ti->has_min;
    const int off = q8 ? 0 : ti->off;
    const __m256i ones = _mm256_set1_epi16(1), x80 = _mm256_set1_epi8((char)0x80);
    for (int h = 0; h < 2; h++) {
        __m256 f[MR][2];
        for (int i = 0; i < MR; i++) f[i][0] = f[i][1] = _mm256_setzero_ps();
        const uint8_t *pn = pn0;
        for (int64_t b = 0; b < nb; b++, pn += QP32_STRIDE) {
            __m256i s[MR][2];
            for (int i = 0; i < MR; i++) s[i][0] = s[i][1] = _mm256_set1_epi32(-off * ar[i][b].sum);
            for (int q = 0; q < 8; q++) {
                __m256i w[2] = {ldv(pn + q * 128 + h * 64), ldv(pn + q * 128 + h * 64 + 32)};
                for (int i = 0; i < MR; i++) {
                    const __m256i av = _mm256_set1_epi32(ld32(ar[i][b].qs + 4 * q));
                    for (int v = 0; v < 2; v++) {
                        __m256i p;
                        if (q8) {
                            const __m256i ws = _mm256_xor_si256(w[v], x80);
                            p = _mm256_maddubs_epi16(_mm256_abs_epi8(ws), _mm256_sign_epi8(av, ws));
                        } else {
                            p = _mm256_maddubs_epi16(w[v], av);
                        }
                        s[i][v] = _mm256_add_epi32(s[i][v], _mm256_madd_epi16(p, ones));
                    }
                }
            }
            for (int v = 0; v < 2; v++) {
                const __m256 d = _mm256_load_ps((const float *)(pn + QP32_D) + 16 * h + 8 * v);
                for (int i = 0; i < MR; i++)
                    f[i][v] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(ar[i][b].d)), _mm256_cvtepi32_ps(s[i][v]),
                                              f[i][v]);
                if (hm) {
                    const __m256 m = _mm256_load_ps((const float *)(pn + QP32_M) + 16 * h + 8 * v);
                    for (int i = 0; i < MR; i++) f[i][v] = _mm256_fmadd_ps(m, _mm256_set1_ps(ar[i][b].s), f[i][v]);
                }
            }
        }
        for (int i = 0; i < MR; i++) {
            _mm256_storeu_ps(acc[i] + 16 * h, f[i][0]);
            _mm256_storeu_ps(acc[i] + 16 * h + 8, f[i][1]);
        }
    }
}

static T2 void kK(vg_dtype t, const qtype_info *ti, int64_t nb, const uint8_t *pn0, const void *const *arows,
                  float *const *acc) {
    const vg_block_q8_K *ar[MR] = {arows[0], arows[1]};
    const bool hm = ti->has_min, corr = !hm && ti->off != 0;
    const int nsub = ti->nsub, nq = 64 / nsub;
    for (int h = 0; h < 2; h++) {
        __m256 f[MR][2];
        for (int i = 0; i < MR; i++) f[i][0] = f[i][1] = _mm256_setzero_ps();
        const uint8_t *pn = pn0;
        for (int64_t b = 0; b < nb; b++, pn += QPK_STRIDE) {
            __m256i it[MR][2], mn[MR][2];
            for (int i = 0; i < MR; i++) it[i][0] = it[i][1] = mn[i][0] = mn[i][1] = _mm256_setzero_si256();
            for (int sb = 0; sb < nsub; sb++) {
                const uint8_t *scp = pn + QPK_SC16 + (size_t)(sb * QNR + 16 * h) * 4;
                const __m256i sc[2] = {ldv(scp), ldv(scp + 32)};
                for (int q = sb * nq; q < sb * nq + nq; q++) {
                    const __m256i w[2] = {ldv(pn + q * 128 + h * 64), ldv(pn + q * 128 + h * 64 + 32)};
                    for (int i = 0; i < MR; i++) {
                        const __m256i av = _mm256_set1_epi32(ld32(ar[i][b].qs + 4 * q));
                        for (int v = 0; v < 2; v++)
                            it[i][v] = _mm256_add_epi32(it[i][v], _mm256_madd_epi16(_mm256_maddubs_epi16(w[v], av), sc[v]));
                    }
                }
            }
            if (corr || hm)
                for (int p = 0; p < 8; p++) {
                    const uint8_t *cwp = pn + QPK_CW + (size_t)(p * QNR + 16 * h) * 4;
                    const __m256i cw[2] = {ldv(cwp), ldv(cwp + 32)};
                    for (int i = 0; i < MR; i++) {
                        const __m256i bs = _mm256_set1_epi32(ld32(ar[i][b].bsums + 2 * p));
                        for (int v = 0; v < 2; v++) {
                            const __m256i x = _mm256_madd_epi16(cw[v], bs);
                            if (corr) it[i][v] = _mm256_add_epi32(it[i][v], x);
                            else mn[i][v] = _mm256_add_epi32(mn[i][v], x);
                        }
                    }
                }
            for (int v = 0; v < 2; v++) {
                const __m256 d = _mm256_load_ps((const float *)(pn + QPK_D) + 16 * h + 8 * v);
                const __m256 dm = _mm256_load_ps((const float *)(pn + QPK_DMIN) + 16 * h + 8 * v);
                for (int i = 0; i < MR; i++) {
                    const __m256 da = _mm256_set1_ps(ar[i][b].d);
                    f[i][v] = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(it[i][v]), f[i][v]);
                    if (hm) f[i][v] = _mm256_fnmadd_ps(_mm256_mul_ps(dm, da), _mm256_cvtepi32_ps(mn[i][v]), f[i][v]);
                }
            }
        }
        for (int i = 0; i < MR; i++) {
            _mm256_storeu_ps(acc[i] + 16 * h, f[i][0]);
            _mm256_storeu_ps(acc[i] + 16 * h + 8, f[i][1]);
        }
    }
}

static const q_path path = {MR, MR, k32, kK, NULL, NULL, "avx2"};
const q_path *q_path_avx2(void) { return &path; }
#else
const q_path *q_path_avx2(void) { return NULL; }
#endif
