/* quant_avx512.c - AVX-512 VNNI kernels of the quantized products (quant_ref.c drives them).
 * A packed panel holds 32 weight rows as [k-quad][row][4 codes] (quant_internal.h), so one
 * zmm load is a k-quad of 16 rows and vpdpbusd (unsigned codes x signed activation bytes,
 * the activation's 4 bytes broadcast) adds 4 products into each row's int32 lane.
 * The code offset (Q8_0 +128, Q4_0 +8, Q5_0 +16) is taken back by starting the block's sum
 * at -off * sum(a); the K-quants' offsets (Q3_K, Q6_K) and mins go through the activation's
 * 16-sums with vpdpwssd. Integer sums are exact and the float steps are those of the
 * reference in the same order, so results are bit-identical to q_matmul_nt_ref.
 * Tiles: 6 rows x 32 lanes (32-element types), 4 x 32 (K-quants). Compiled with target
 * attributes; used when vg_cpu_level() >= 3 and the CPU has AVX512_VNNI. */
#include <immintrin.h>
#include <string.h>
#include "vidgen/gemm.h"
#include "ops/quant_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TV __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")))
#define INL inline __attribute__((always_inline))

enum { MR32 = 6, MRK = 4 };

static INL int32_t ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static TV void k32(vg_dtype t, const qtype_info *ti, int64_t nb, const uint8_t *pn, const void *const *arows,
                   float *const *acc) {
    const qa_blk *ar[MR32];
    for (int i = 0; i < MR32; i++) ar[i] = arows[i];
    __m512 f[MR32][2];
    for (int i = 0; i < MR32; i++) f[i][0] = f[i][1] = _mm512_setzero_ps();
    const int off = ti->off;
    const bool hm = ti->has_min;
    for (int64_t b = 0; b < nb; b++, pn += QP32_STRIDE) {
        __m512i s[MR32][2];
        for (int i = 0; i < MR32; i++) s[i][0] = s[i][1] = _mm512_set1_epi32(-off * ar[i][b].sum);
        for (int q = 0; q < 8; q++) {
            const __m512i w0 = _mm512_load_si512(pn + q * 128), w1 = _mm512_load_si512(pn + q * 128 + 64);
            for (int i = 0; i < MR32; i++) {
                const __m512i av = _mm512_set1_epi32(ld32(ar[i][b].qs + 4 * q));
                s[i][0] = _mm512_dpbusd_epi32(s[i][0], w0, av);
                s[i][1] = _mm512_dpbusd_epi32(s[i][1], w1, av);
            }
        }
        const __m512 d0 = _mm512_load_ps(pn + QP32_D), d1 = _mm512_load_ps(pn + QP32_D + 64);
        for (int i = 0; i < MR32; i++) {
            const __m512 da = _mm512_set1_ps(ar[i][b].d);
            f[i][0] = _mm512_fmadd_ps(_mm512_mul_ps(d0, da), _mm512_cvtepi32_ps(s[i][0]), f[i][0]);
            f[i][1] = _mm512_fmadd_ps(_mm512_mul_ps(d1, da), _mm512_cvtepi32_ps(s[i][1]), f[i][1]);
        }
        if (hm) {
            const __m512 m0 = _mm512_load_ps(pn + QP32_M), m1 = _mm512_load_ps(pn + QP32_M + 64);
            for (int i = 0; i < MR32; i++) {
                const __m512 sa = _mm512_set1_ps(ar[i][b].s);
                f[i][0] = _mm512_fmadd_ps(m0, sa, f[i][0]);
                f[i][1] = _mm512_fmadd_ps(m1, sa, f[i][1]);
            }
        }
    }
    for (int i = 0; i < MR32; i++) {
        _mm512_storeu_ps(acc[i], f[i][0]);
        _mm512_storeu_ps(acc[i] + 16, f[i][1]);
    }
}

/* One K-quant super-block series with NQ quads per sub-block (8: Q4_K/Q5_K, 4: the others). */
static INL TV void kK_body(const qtype_info *ti, int64_t nb, const uint8_t *pn, const vg_block_q8_K *const *ar,
                           float *const *acc, const int NQ) {
    __m512 f[MRK][2];
    for (int i = 0; i < MRK; i++) f[i][0] = f[i][1] = _mm512_setzero_ps();
    const bool hm = ti->has_min, corr = !hm && ti->off != 0;
    const int nsub = 64 / NQ;
    for (int64_t b = 0; b < nb; b++, pn += QPK_STRIDE) {
        __m512i it[MRK][2];
        for (int i = 0; i < MRK; i++) it[i][0] = it[i][1] = _mm512_setzero_si512();
        const int32_t *scp = (const int32_t *)(pn + QPK_SC);
        for (int sb = 0; sb < nsub; sb++) {
            __m512i s[MRK][2];
            for (int i = 0; i < MRK; i++) s[i][0] = s[i][1] = _mm512_setzero_si512();
            for (int q = sb * NQ; q < sb * NQ + NQ; q++) {
                const __m512i w0 = _mm512_load_si512(pn + q * 128), w1 = _mm512_load_si512(pn + q * 128 + 64);
                for (int i = 0; i < MRK; i++) {
                    const __m512i av = _mm512_set1_epi32(ld32(ar[i][b].qs + 4 * q));
                    s[i][0] = _mm512_dpbusd_epi32(s[i][0], w0, av);
                    s[i][1] = _mm512_dpbusd_epi32(s[i][1], w1, av);
                }
            }
            const __m512i c0 = _mm512_load_si512(scp + sb * QNR), c1 = _mm512_load_si512(scp + sb * QNR + 16);
            for (int i = 0; i < MRK; i++) {
                it[i][0] = _mm512_add_epi32(it[i][0], _mm512_mullo_epi32(s[i][0], c0));
                it[i][1] = _mm512_add_epi32(it[i][1], _mm512_mullo_epi32(s[i][1], c1));
            }
        }
        const int32_t *cw = (const int32_t *)(pn + QPK_CW);
        if (corr)
            for (int p = 0; p < 8; p++) {
                const __m512i c0 = _mm512_load_si512(cw + p * QNR), c1 = _mm512_load_si512(cw + p * QNR + 16);
                for (int i = 0; i < MRK; i++) {
                    const __m512i bs = _mm512_set1_epi32(ld32(ar[i][b].bsums + 2 * p));
                    it[i][0] = _mm512_dpwssd_epi32(it[i][0], c0, bs);
                    it[i][1] = _mm512_dpwssd_epi32(it[i][1], c1, bs);
                }
            }
        const __m512 d0 = _mm512_load_ps(pn + QPK_D), d1 = _mm512_load_ps(pn + QPK_D + 64);
        for (int i = 0; i < MRK; i++) {
            const __m512 da = _mm512_set1_ps(ar[i][b].d);
            f[i][0] = _mm512_fmadd_ps(_mm512_mul_ps(d0, da), _mm512_cvtepi32_ps(it[i][0]), f[i][0]);
            f[i][1] = _mm512_fmadd_ps(_mm512_mul_ps(d1, da), _mm512_cvtepi32_ps(it[i][1]), f[i][1]);
        }
        if (hm) {
            __m512i mn[MRK][2];
            for (int i = 0; i < MRK; i++) mn[i][0] = mn[i][1] = _mm512_setzero_si512();
            for (int p = 0; p < 8; p++) {
                const __m512i c0 = _mm512_load_si512(cw + p * QNR), c1 = _mm512_load_si512(cw + p * QNR + 16);
                for (int i = 0; i < MRK; i++) {
                    const __m512i bs = _mm512_set1_epi32(ld32(ar[i][b].bsums + 2 * p));
                    mn[i][0] = _mm512_dpwssd_epi32(mn[i][0], c0, bs);
                    mn[i][1] = _mm512_dpwssd_epi32(mn[i][1], c1, bs);
                }
            }
            const __m512 m0 = _mm512_load_ps(pn + QPK_DMIN), m1 = _mm512_load_ps(pn + QPK_DMIN + 64);
            for (int i = 0; i < MRK; i++) {
                const __m512 da = _mm512_set1_ps(ar[i][b].d);
                f[i][0] = _mm512_fnmadd_ps(_mm512_mul_ps(m0, da), _mm512_cvtepi32_ps(mn[i][0]), f[i][0]);
                f[i][1] = _mm512_fnmadd_ps(_mm512_mul_ps(m1, da), _mm512_cvtepi32_ps(mn[i][1]), f[i][1]);
            }
        }
    }
    for (int i = 0; i < MRK; i++) {
        _mm512_storeu_ps(acc[i], f[i][0]);
        _mm512_storeu_ps(acc[i] + 16, f[i][1]);
    }
}

static TV void kK(vg_dtype t, const qtype_info *ti, int64_t nb, const uint8_t *pn, const void *const *arows,
                  float *const *acc) {
    const vg_block_q8_K *ar[MRK];
    for (int i = 0; i < MRK; i++) ar[i] = arows[i];
    if (ti->nsub == 8) kK_body(ti, nb, pn, ar, acc, 8);
    else kK_body(ti, nb, pn, ar, acc, 4);
}

/* q_quant_a32 sixteen lanes at a time, the same float steps (x * id, round half away from zero
 * as trunc + (|x - trunc| >= 0.5) sign), so the same bytes, sums and scales. */
static TV void quant32(const float *x, qa_blk *y, int64_t n) {
    const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff)), half = _mm512_set1_ps(0.5f);
    const __m512i one = _mm512_set1_epi32(0x3f800000), sgn = _mm512_set1_epi32((int)0x80000000u);
    for (int64_t b = 0; b < n / VG_QK; b++, x += VG_QK) {
        __m512 v[2] = {_mm512_loadu_ps(x), _mm512_loadu_ps(x + 16)};
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v[0], absm), _mm512_and_ps(v[1], absm)));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        __m512i q[2];
        for (int h = 0; h < 2; h++) {
            __m512 s = _mm512_mul_ps(v[h], _mm512_set1_ps(id));
            __m512 t = _mm512_roundscale_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            __mmask16 up = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_sub_ps(s, t), absm), half, _CMP_GE_OQ);
            __m512 adj = _mm512_castsi512_ps(_mm512_maskz_or_epi32(up, one, _mm512_and_si512(_mm512_castps_si512(s), sgn)));
            q[h] = _mm512_cvttps_epi32(_mm512_add_ps(t, adj));
            _mm_storeu_si128((__m128i *)(y[b].qs + 16 * h), _mm512_cvtepi32_epi8(q[h]));
        }
        int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q[0], q[1]));
        y[b].d = d;
        y[b].sum = sum;
        y[b].s = (float)sum * d;
    }
}

/* q_quant_aK sixteen lanes at a time: the signed value of largest magnitude (the first one, as
 * the scalar loop keeps), iscale = -127 / max, vcvtps2dq's round half to even (= nearest_int),
 * min(v, 127); each zmm of 16 codes is one of the 16-sums. Same bytes, sums and scale. */
static TV void quantK(const float *x, vg_block_q8_K *y, int64_t n) {
    const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < n / VG_QK_K; b++, x += VG_QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int g = 0; g < 16; g++) m = _mm512_max_ps(m, _mm512_and_ps(_mm512_loadu_ps(x + 16 * g), absm));
        const float amax = _mm512_reduce_max_ps(m);
        memset(y[b].bsums, 0, sizeof(y[b].bsums));
        if (amax == 0.0f) {
            y[b].d = 0.0f;
            memset(y[b].qs, 0, sizeof(y[b].qs));
            continue;
        }
        const __m512 am = _mm512_set1_ps(amax);
        float max = 0.0f;
        for (int g = 0; g < 16; g++) {
            __mmask16 hit = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_loadu_ps(x + 16 * g), absm), am, _CMP_EQ_OQ);
            if (hit) { max = x[16 * g + __builtin_ctz(hit)]; break; }
        }
        const float iscale = -127.0f / max;
        const __m512 is = _mm512_set1_ps(iscale);
        const __m512i lim = _mm512_set1_epi32(127);
        for (int g = 0; g < 16; g++) {
            __m512i v = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(is, _mm512_loadu_ps(x + 16 * g))), lim);
            _mm_storeu_si128((__m128i *)(y[b].qs + 16 * g), _mm512_cvtepi32_epi8(v));
            y[b].bsums[g] = (int16_t)_mm512_reduce_add_epi32(v);
        }
        y[b].d = 1.0f / iscale;
    }
}

static const q_path path = {MR32, MRK, k32, kK, quant32, quantK, "avx512-vnni"};
const q_path *q_path_avx512(void) { return &path; }
#else
const q_path *q_path_avx512(void) { return NULL; }
#endif
