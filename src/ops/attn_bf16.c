/* attn_bf16.c - attention with bf16 products (AVX512_BF16 vdpbf16ps), f32 online softmax.
 * See include/vidgen/attn.h. The tiles are vg_attn's (attn_tiles.h): per (head, tile of BQ
 * queries), key blocks of BK from the tile's first visible key, FlashAttention-2's online
 * softmax (Dao 2023, Alg. 1). Per key block:
 *   S^T[j][i] = sum over head-dim pairs (2p, 2p+1) of bf16(k_j) . bf16(scale q_i), with vdpbf16ps on
 *               qt [hd/2][BQ] (a query's pair in each 32-bit lane) and a broadcast pair of k_j;
 *   m' = max(m, max_j S), P = bf16(exp(S - m')), l = l exp(m - m') + sum_j P (f32, j in order),
 *   O = O exp(m - m') + sum over key pairs (2t, 2t+1) of P . bf16(v) (vdpbf16ps on the V block
 *   repacked as [nk/2][hd] pairs, P broadcast per query).
 * vdpbf16ps semantics (Intel SDM): per 32-bit lane acc += a[1] b[1], then acc += a[0] b[0], each
 * add rounded to nearest even, denormal inputs read as zero and denormal results flushed; the
 * bf16 conversion (vcvtneps2bf16) rounds to nearest even and reads denormals as zero.
 * vg_attn_bf16_ref does exactly this arithmetic in plain C. */
#include <stdlib.h>
#include <string.h>
#include "vidgen/gemm.h"
#include "vidgen/tensor.h"
#include "ops/attn_tiles.h"

/* ---- reference ------------------------------------------------------------------------ */

static inline float daz(float x) { return fabsf(x) < 1.17549435e-38f ? copysignf(0.0f, x) : x; }
/* f32 -> bf16 -> f32 as vcvtneps2bf16 does it (RNE, denormal in -> 0). */
static inline float bf16r(float x) { return vg_bf16_to_f32(vg_f32_to_bf16(daz(x))); }
/* One lane of vdpbf16ps: acc + a1 b1, then + a0 b0 (a, b already bf16 values). */
static inline float dp2(float acc, float a0, float a1, float b0, float b1) {
    acc = daz(daz(acc) + a1 * b1);
    return daz(acc + a0 * b0);
}

void vg_attn_bf16_ref(float *out, float *lse, const float *q, const float *k, const float *v,
                      const vg_attn_shape *s) {
    check_shape(s);
    const int hd = s->hd;
    const int64_t D = (int64_t)s->H * hd;
    float *qb = malloc(sizeof(float) * (size_t)hd), *o = malloc(sizeof(float) * (size_t)hd);
    float *sc = malloc(sizeof(float) * BK), *pr = malloc(sizeof(float) * (BK + 1));
    VG_ASSERT(qb && o && sc && pr);
    for (int h = 0; h < s->H; h++)
        for (int64_t i = 0; i < s->Lq; i++) {
            const int64_t ho = (int64_t)h * hd;
            int64_t k0, k1;
            key_range(s, i, &k0, &k1);
            for (int c = 0; c < hd; c++) qb[c] = bf16r(s->scale * q[i * D + ho + c]);
            for (int c = 0; c < hd; c++) o[c] = 0;
            float m = -INFINITY, l = 0;
            for (int64_t j0 = k0; j0 < k1; j0 += BK) {
                int nk = (int)(k1 - j0 < BK ? k1 - j0 : BK);
                float mx = m;
                for (int j = 0; j < nk; j++) {
                    const float *kj = k + (j0 + j) * D + ho;
                    float acc = 0;
                    for (int c = 0; c + 1 < hd; c += 2)
                        acc = dp2(acc, bf16r(kj[c]), bf16r(kj[c + 1]), qb[c], qb[c + 1]);
                    sc[j] = acc;
                    mx = fmaxf(mx, acc);
                }
                float sum = 0;
                for (int j = 0; j < nk; j++) {
                    pr[j] = bf16r(attn_exp_scalar(sc[j] - mx));
                    sum += pr[j];
                }
                pr[nk] = 0; /* the pad of an odd block */
                float cr = attn_exp_scalar(m - mx);
                l = fmaf(l, cr, sum);
                m = mx;
                if (j0 > k0)
                    for (int c = 0; c < hd; c++) o[c] *= cr;
                for (int c = 0; c < hd; c++) {
                    float acc = o[c];
                    for (int j = 0; j < nk; j += 2) {
                        float v0 = bf16r(v[(j0 + j) * D + ho + c]);
                        float v1 = j + 1 < nk ? bf16r(v[(j0 + j + 1) * D + ho + c]) : 0.0f;
                        acc = dp2(acc, pr[j], pr[j + 1], v0, v1);
                    }
                    o[c] = acc;
                }
            }
            float inv = 1.0f / l;
            for (int c = 0; c < hd; c++) out[i * D + ho + c] = o[c] * inv;
            if (lse) lse[(int64_t)h * s->Lq + i] = m + logf(l);
        }
    free(qb); free(o); free(sc); free(pr);
}

/* ---- AVX-512 BF16 --------------------------------------------------------------------- */

#ifdef VG_ATTN_X86
#define TBF __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))
#define INL inline __attribute__((always_inline))

/* 16 f32 -> 16 bf16 in the low halves of 32-bit lanes. */
static INL TBF __m512i bf_lo(__m512 x) { return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x)); }
/* bf16 in the low halves of 32-bit lanes -> their f32 values. */
static INL TBF __m512 bf_val(__m512i b) { return _mm512_castsi512_ps(_mm512_slli_epi32(b, 16)); }

/* st[j*BQ + i] = S^T for keys j < nk (kb: [nk][hd/2] pairs) and queries i < nqp (qt [hd/2][BQ]). */
/* keys j..j+4 against the nb <= 4 query vectors from 0 */
static INL TBF void scores4(float *st, const uint32_t *kb, int hp, int j, const uint32_t *qt, int nb) {
    __m512 acc[4][4];
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < nb; b++) acc[a][b] = _mm512_setzero_ps();
    for (int p = 0; p < hp; p++) {
        __m512bh x[4];
        for (int b = 0; b < nb; b++) x[b] = (__m512bh)_mm512_loadu_si512(qt + p * BQ + b * 16);
        for (int a = 0; a < 4; a++) {
            __m512bh r = (__m512bh)_mm512_set1_epi32((int)kb[(j + a) * hp + p]);
            for (int b = 0; b < nb; b++) acc[a][b] = _mm512_dpbf16_ps(acc[a][b], r, x[b]);
        }
    }
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < nb; b++) _mm512_storeu_ps(st + (j + a) * BQ + b * 16, acc[a][b]);
}

static TBF void st_kernel_bf(float *st, const uint32_t *kb, int nk, const uint32_t *qt, int nqp, int hd) {
    const int hp = hd / 2;
    int j = 0;
    for (; j + 4 <= nk; j += 4) {
        if (nqp == BQ) scores4(st, kb, hp, j, qt, 4);
        else scores4(st, kb, hp, j, qt, nqp / 16);
    }
    for (; j < nk; j++)
        for (int i0 = 0; i0 < nqp; i0 += 16) {
            __m512 acc = _mm512_setzero_ps();
            for (int p = 0; p < hp; p++)
                acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_set1_epi32((int)kb[j * hp + p]),
                                       (__m512bh)_mm512_loadu_si512(qt + p * BQ + i0));
            _mm512_storeu_ps(st + j * BQ + i0, acc);
        }
}

/* o[r][c] += sum_t pt[t][r] . vb[t][c] for rows r0..r0+R, dims c0..c0+64 (4 vectors), t < np. */
static INL TBF void pv_block(float *o, int hd, const uint32_t *pt, const uint32_t *vb, int np, int r0, int R,
                             int c0, int nv) {
    __m512 s[4][4];
    for (int r = 0; r < R; r++)
        for (int x = 0; x < nv; x++) s[r][x] = _mm512_loadu_ps(o + (r0 + r) * hd + c0 + x * 16);
    for (int t = 0; t < np; t++) {
        __m512bh b[4];
        for (int x = 0; x < nv; x++) b[x] = (__m512bh)_mm512_loadu_si512(vb + t * hd + c0 + x * 16);
        for (int r = 0; r < R; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)pt[t * BQ + r0 + r]);
            for (int x = 0; x < nv; x++) s[r][x] = _mm512_dpbf16_ps(s[r][x], a, b[x]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int x = 0; x < nv; x++) _mm512_storeu_ps(o + (r0 + r) * hd + c0 + x * 16, s[r][x]);
}

static TBF void pv_kernel_bf(float *o, int hd, const uint32_t *pt, const uint32_t *vb, int np, int nq) {
    for (int r0 = 0; r0 < nq; r0 += 4) {
        int R = nq - r0 < 4 ? nq - r0 : 4;
        for (int c0 = 0; c0 < hd; c0 += 64) {
            int nv = (hd - c0) / 16 < 4 ? (hd - c0) / 16 : 4;
            if (R == 4 && nv == 4) pv_block(o, hd, pt, vb, np, r0, 4, c0, 4);
            else pv_block(o, hd, pt, vb, np, r0, R, c0, nv);
        }
    }
}

/* Forward of one (head, query tile): rows i0..i0+nq, keys k0..k1; hd % 32 == 0, hd <= HDMAX. */
static TBF void fwd_tile_bf(float *out, float *lse, const float *q, const float *k, const float *v,
                            const vg_attn_shape *s, int h, int64_t i0, int nq, int64_t k0, int64_t k1) {
    const int hd = s->hd, hp = hd / 2;
    const int64_t D = (int64_t)s->H * hd, ho = (int64_t)h * hd;
    ALIGN64 uint32_t qt[HDMAX / 2 * BQ], kb[BK * HDMAX / 2], vb[BK / 2 * HDMAX], pt[BK / 2 * BQ];
    ALIGN64 float o[BQ * HDMAX], st[BK * BQ], m[BQ], l[BQ], cr[BQ];
    const int nqp = (nq + 15) / 16 * 16;
    /* qt[p][i]: pair (2p, 2p+1) of bf16(scale q_i), zero for padding queries */
    {
        ALIGN64 uint16_t qrow[HDMAX];
        const __m512 sc = _mm512_set1_ps(s->scale);
        for (int i = 0; i < nqp; i++) {
            if (i < nq) {
                const float *qi = q + (i0 + i) * D + ho;
                for (int c = 0; c < hd; c += 32) {
                    __m512 lo = _mm512_mul_ps(_mm512_loadu_ps(qi + c), sc), hi = _mm512_mul_ps(_mm512_loadu_ps(qi + c + 16), sc);
                    _mm512_store_si512(qrow + c, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                }
            } else {
                memset(qrow, 0, sizeof(uint16_t) * (size_t)hd);
            }
            const uint32_t *qp = (const uint32_t *)qrow;
            for (int p = 0; p < hp; p++) qt[p * BQ + i] = qp[p];
        }
    }
    for (int i = 0; i < nqp; i++) { m[i] = -INFINITY; l[i] = 0; }
    memset(o, 0, sizeof(float) * (size_t)nq * hd);
    for (int64_t j0 = k0; j0 < k1; j0 += BK) {
        const int nk = (int)(k1 - j0 < BK ? k1 - j0 : BK), np = (nk + 1) / 2;
        /* kb[j][p]: k_j as bf16 pairs; vb[t][c]: (bf16 v_2t[c], bf16 v_2t+1[c]) */
        for (int j = 0; j < nk; j++) {
            const float *kj = k + (j0 + j) * D + ho;
            for (int c = 0; c < hd; c += 32)
                _mm512_storeu_si512((uint16_t *)(kb + j * hp) + c,
                                    (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(kj + c + 16), _mm512_loadu_ps(kj + c)));
        }
        for (int t = 0; t < np; t++) {
            const float *v0 = v + (j0 + 2 * t) * D + ho, *v1 = v0 + D;
            const bool has1 = 2 * t + 1 < nk;
            for (int c = 0; c < hd; c += 16) {
                __m512i lo = bf_lo(_mm512_loadu_ps(v0 + c));
                __m512i hi = has1 ? bf_lo(_mm512_loadu_ps(v1 + c)) : _mm512_setzero_si512();
                _mm512_store_si512(vb + t * hd + c, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
            }
        }
        st_kernel_bf(st, kb, nk, qt, nqp, hd);
        /* online softmax; P rounded to bf16 and stored as key pairs pt[t][i] */
        for (int i = 0; i < nqp; i += 16) {
            __m512 mo = _mm512_loadu_ps(m + i), mx = mo;
            for (int j = 0; j < nk; j++) mx = _mm512_max_ps(mx, _mm512_loadu_ps(st + j * BQ + i));
            __m512 sum = _mm512_setzero_ps();
            for (int t = 0; t < np; t++) {
                __m512i b0 = bf_lo(exp512(_mm512_sub_ps(_mm512_loadu_ps(st + 2 * t * BQ + i), mx)));
                sum = _mm512_add_ps(sum, bf_val(b0));
                __m512i b1 = _mm512_setzero_si512();
                if (2 * t + 1 < nk) {
                    b1 = bf_lo(exp512(_mm512_sub_ps(_mm512_loadu_ps(st + (2 * t + 1) * BQ + i), mx)));
                    sum = _mm512_add_ps(sum, bf_val(b1));
                }
                _mm512_storeu_si512(pt + t * BQ + i, _mm512_or_si512(b0, _mm512_slli_epi32(b1, 16)));
            }
            __m512 c = exp512(_mm512_sub_ps(mo, mx));
            _mm512_storeu_ps(cr + i, c);
            _mm512_storeu_ps(l + i, _mm512_fmadd_ps(_mm512_loadu_ps(l + i), c, sum));
            _mm512_storeu_ps(m + i, mx);
        }
        if (j0 > k0)
            for (int i = 0; i < nq; i++) {
                __m512 c = _mm512_set1_ps(cr[i]);
                for (int x = 0; x < hd; x += 16)
                    _mm512_storeu_ps(o + i * hd + x, _mm512_mul_ps(_mm512_loadu_ps(o + i * hd + x), c));
            }
        pv_kernel_bf(o, hd, pt, vb, np, nq);
    }
    for (int i = 0; i < nq; i++) {
        float inv = 1.0f / l[i];
        float *oi = out + (i0 + i) * D + ho;
        for (int c = 0; c < hd; c++) oi[c] = o[i * hd + c] * inv;
        if (lse) lse[(int64_t)h * s->Lq + i0 + i] = m[i] + logf(l[i]);
    }
}
#endif /* VG_ATTN_X86 */

/* ---- dispatch --------------------------------------------------------------------------- */

bool vg_attn_bf16_available(const vg_attn_shape *s) {
#ifdef VG_ATTN_X86
    return vg_cpu_level() >= 3 && vg_cpu()->avx512bf16 && s->hd % 32 == 0 && s->hd <= HDMAX;
#else
    (void)s;
    return false;
#endif
}

void vg_attn_bf16(float *out, float *lse, const float *q, const float *k, const float *v,
                  const vg_attn_shape *s) {
    check_shape(s);
#ifdef VG_ATTN_X86
    if (vg_attn_bf16_available(s)) {
        fwd_tiles(fwd_tile_bf, out, lse, q, k, v, s);
        return;
    }
#endif
    vg_attn_f32(out, lse, q, k, v, s);
}
