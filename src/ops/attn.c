/* attn.c - multi-head attention with the temporal window, forward and backward.
 * See include/vidgen/attn.h. _ref: per query, scores over its visible key range,
 * max-subtracted softmax in double. Fast: FlashAttention-2 (Dao 2023) tiles of BQ queries x
 * BK keys with an online softmax (kernels in attn_internal.h, built for AVX-512, AVX2, plain C).
 * Layout: q/out [Lq, H*hd], k/v [Lk, H*hd], lse [H, Lq]. F frames, S tokens per frame. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/attn.h"
#include "vidgen/gemm.h"
#include "vidgen/status.h"
#include "ops/attn_tiles.h"

/* ---- per-ISA kernels ------------------------------------------------------------ */

#ifdef VG_ATTN_X86
__attribute__((target("avx2,fma"))) static inline __m256 exp256(__m256 x) {
    EXP_CONSTS;
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(lo)), _mm256_set1_ps(hi));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(l2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(c1), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(c2), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(p0), r, _mm256_set1_ps(p1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(p2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(p3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(p4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(p5));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/* AVX-512: 16 floats; score block 4 keys x 64 queries, accumulate block 4 rows x 64 dims. */
#define SFX avx512
#define TGT __attribute__((target("avx512f,avx512bw,fma")))
#define VEC __m512
#define W 16
#define KR 4
#define QV 4
#define PR 4
#define HVMAX 4
#define V_ZERO() _mm512_setzero_ps()
#define V_LD(p) _mm512_loadu_ps(p)
#define V_ST(p, x) _mm512_storeu_ps(p, x)
#define V_SET1(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_SUB(a, b) _mm512_sub_ps(a, b)
#define V_MAX(a, b) _mm512_max_ps(a, b)
#define V_EXP(x) exp512(x)
#include "attn_internal.h"
#undef SFX
#undef TGT
#undef VEC
#undef W
#undef KR
#undef QV
#undef PR
#undef HVMAX
#undef V_ZERO
#undef V_LD
#undef V_ST
#undef V_SET1
#undef V_FMA
#undef V_MUL
#undef V_ADD
#undef V_SUB
#undef V_MAX
#undef V_EXP

/* AVX2: 8 floats, 16 registers; score block 6 keys x 16 queries (12 accumulators, the 2 query
 * vectors stay in registers: gcc folded 4 of them into memory operands, 15 loads per 12 FMAs),
 * accumulate 6 rows x 16 dims. */
#define SFX avx2
#define TGT __attribute__((target("avx2,fma")))
#define VEC __m256
#define W 8
#define KR 6
#define QV 2
#define PR 6
#define HVMAX 2
#define V_ZERO() _mm256_setzero_ps()
#define V_LD(p) _mm256_loadu_ps(p)
#define V_ST(p, x) _mm256_storeu_ps(p, x)
#define V_SET1(x) _mm256_set1_ps(x)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_MUL(a, b) _mm256_mul_ps(a, b)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_SUB(a, b) _mm256_sub_ps(a, b)
#define V_MAX(a, b) _mm256_max_ps(a, b)
#define V_EXP(x) exp256(x)
#include "attn_internal.h"
#undef SFX
#undef TGT
#undef VEC
#undef W
#undef KR
#undef QV
#undef PR
#undef HVMAX
#undef V_ZERO
#undef V_LD
#undef V_ST
#undef V_SET1
#undef V_FMA
#undef V_MUL
#undef V_ADD
#undef V_SUB
#undef V_MAX
#undef V_EXP
#endif /* VG_ATTN_X86 */

/* Plain C: one float per "vector"; any head dim. */
#define SFX scalar
#define TGT
#define VEC float
#define W 1
#define KR 4
#define QV 4
#define PR 4
#define HVMAX 4
#define V_ZERO() 0.0f
#define V_LD(p) (*(p))
#define V_ST(p, x) (*(p) = (x))
#define V_SET1(x) (x)
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_MUL(a, b) ((a) * (b))
#define V_ADD(a, b) ((a) + (b))
#define V_SUB(a, b) ((a) - (b))
#define V_MAX(a, b) ((a) > (b) ? (a) : (b))
#define V_EXP(x) expf(x)
#include "attn_internal.h"

/* ---- dispatch ---------------------------------------------------------------------- */

typedef void (*bwd_head_fn)(float *, float *, float *, float *, const float *, const float *,
                            const float *, const float *, const float *, const float *,
                            const vg_attn_shape *, int);
typedef struct { fwd_tile_fn fwd; bwd_head_fn bwd; } kernels;

/* AVX-512 needs hd % 16 == 0, AVX2 hd % 8 == 0; otherwise the plain C kernels. */
static kernels pick(int hd) {
    int lv = vg_cpu_level();
    (void)lv;
#ifdef VG_ATTN_X86
    if (lv >= 3 && hd % 16 == 0) return (kernels){fwd_tile_avx512, bwd_head_avx512};
    if (lv >= 2 && hd % 8 == 0) return (kernels){fwd_tile_avx2, bwd_head_avx2};
#endif
    return (kernels){fwd_tile_scalar, bwd_head_scalar};
}

void vg_attn(float *out, float *lse, const float *q, const float *k, const float *v,
             const vg_attn_shape *s) {
    if (vg_gemm_bf16_on() && vg_attn_bf16_available(s)) { vg_attn_bf16(out, lse, q, k, v, s); return; }
    vg_attn_f32(out, lse, q, k, v, s);
}

void vg_attn_f32(float *out, float *lse, const float *q, const float *k, const float *v,
                 const vg_attn_shape *s) {
    check_shape(s);
    if (s->hd > HDMAX) { vg_attn_ref(out, lse, q, k, v, s); return; }
    fwd_tiles(pick(s->hd).fwd, out, lse, q, k, v, s);
}

void vg_attn_bwd(float *dq, float *dk, float *dv, const float *dout, const float *out,
                 const float *lse, const float *q, const float *k, const float *v,
                 const vg_attn_shape *s) {
    check_shape(s);
    VG_ASSERT(lse != NULL);
    if (s->hd > HDMAX) { vg_attn_bwd_ref(dq, dk, dv, dout, out, lse, q, k, v, s); return; }
    kernels kn = pick(s->hd);
    /* one pass per head (parallel over heads); gq: the head's dq accumulator */
    float *gq = malloc(sizeof(float) * (size_t)s->H * (size_t)(s->Lq ? s->Lq : 1) * (size_t)s->hd);
    if (!gq) { vg_attn_bwd_ref(dq, dk, dv, dout, out, lse, q, k, v, s); return; }
OMP_TILES
    for (int h = 0; h < s->H; h++)
        kn.bwd(dq, dk, dv, gq + (size_t)h * (size_t)s->Lq * (size_t)s->hd, dout, out, lse, q, k, v, s, h);
    free(gq);
}

/* ---- reference ------------------------------------------------------------------- */

void vg_attn_ref(float *out, float *lse, const float *q, const float *k, const float *v,
                 const vg_attn_shape *s) {
    check_shape(s);
    int64_t D = (int64_t)s->H * s->hd;
    double *p = malloc(sizeof(double) * (size_t)(s->Lk ? s->Lk : 1));
    VG_ASSERT(p != NULL);
    for (int h = 0; h < s->H; h++)
        for (int64_t i = 0; i < s->Lq; i++) {
            int64_t k0, k1;
            key_range(s, i, &k0, &k1);
            const float *qi = q + i * D + (int64_t)h * s->hd;
            double mx = -INFINITY;
            for (int64_t j = k0; j < k1; j++) {
                const float *kj = k + j * D + (int64_t)h * s->hd;
                double d = 0;
                for (int c = 0; c < s->hd; c++) d += (double)qi[c] * kj[c];
                p[j] = d * s->scale;
                if (p[j] > mx) mx = p[j];
            }
            double sum = 0;
            for (int64_t j = k0; j < k1; j++) { p[j] = exp(p[j] - mx); sum += p[j]; }
            float *oi = out + i * D + (int64_t)h * s->hd;
            for (int c = 0; c < s->hd; c++) {
                double acc = 0;
                for (int64_t j = k0; j < k1; j++) acc += p[j] * v[j * D + (int64_t)h * s->hd + c];
                oi[c] = (float)(acc / sum);
            }
            if (lse) lse[(int64_t)h * s->Lq + i] = (float)(mx + log(sum));
        }
    free(p);
}

/* Plain FlashAttention-2 backward in double, one query at a time:
 * P = exp(scale q.k - lse), dV += P dO, dP = dO.V, dS = P (dP - D), D = dO.O,
 * dQ += scale dS K, dK += scale dS Q. */
void vg_attn_bwd_ref(float *dq, float *dk, float *dv, const float *dout, const float *out,
                     const float *lse, const float *q, const float *k, const float *v,
                     const vg_attn_shape *s) {
    check_shape(s);
    VG_ASSERT(lse != NULL);
    int64_t D = (int64_t)s->H * s->hd, nq = s->Lq * D, nk = s->Lk * D;
    double *gq = calloc((size_t)(nq ? nq : 1), sizeof(double));
    double *gk = calloc((size_t)(nk ? nk : 1), sizeof(double));
    double *gv = calloc((size_t)(nk ? nk : 1), sizeof(double));
    VG_ASSERT(gq && gk && gv);
    for (int h = 0; h < s->H; h++) {
        int64_t ho = (int64_t)h * s->hd;
        for (int64_t i = 0; i < s->Lq; i++) {
            int64_t k0, k1;
            key_range(s, i, &k0, &k1);
            const float *qi = q + i * D + ho, *doi = dout + i * D + ho, *oi = out + i * D + ho;
            double Di = 0;
            for (int c = 0; c < s->hd; c++) Di += (double)doi[c] * oi[c];
            for (int64_t j = k0; j < k1; j++) {
                const float *kj = k + j * D + ho, *vj = v + j * D + ho;
                double sc = 0, dp = 0;
                for (int c = 0; c < s->hd; c++) { sc += (double)qi[c] * kj[c]; dp += (double)doi[c] * vj[c]; }
                double pr = exp(sc * s->scale - lse[(int64_t)h * s->Lq + i]);
                double ds = pr * (dp - Di) * s->scale;
                for (int c = 0; c < s->hd; c++) {
                    gv[j * D + ho + c] += pr * doi[c];
                    gq[i * D + ho + c] += ds * kj[c];
                    gk[j * D + ho + c] += ds * qi[c];
                }
            }
        }
    }
    for (int64_t i = 0; i < nq; i++) dq[i] = (float)gq[i];
    for (int64_t i = 0; i < nk; i++) { dk[i] = (float)gk[i]; dv[i] = (float)gv[i]; }
    free(gq); free(gk); free(gv);
}

double vg_attn_flops(const vg_attn_shape *s) {
    double keys = 0;
    for (int64_t i = 0; i < s->Lq; i += (s->window < 0 ? s->Lq : s->S)) {
        int64_t k0, k1;
        key_range(s, i, &k0, &k1);
        keys += (double)(k1 - k0) * (s->window < 0 ? (double)s->Lq : (double)s->S);
    }
    return 4.0 * keys * s->H * s->hd;
}
