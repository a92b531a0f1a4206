/* attn_tiles.h - what the f32 (attn.c) and bf16 (attn_bf16.c) attention kernels share: the tile
 * sizes, the shape check, the key range each query sees under the temporal window, the tiling of
 * rows into tiles that never cross a frame, and the exp() polynomial (AVX-512 and a scalar twin
 * that computes the same value bit for bit, for the bf16 _ref). */
#ifndef VIDGEN_ATTN_TILES_H
#define VIDGEN_ATTN_TILES_H
#include <math.h>
#include <stdint.h>
#include "vidgen/attn.h"
#include "vidgen/status.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VG_ATTN_X86 1
#endif

#define BQ 64     /* queries per tile (a multiple of every W) */
#define BK 64     /* keys per block */
#define HDMAX 128 /* larger head dims fall back to _ref */
#define ALIGN64 __attribute__((aligned(64)))
#ifdef _OPENMP /* one parallel loop over independent tiles; silent when built without OpenMP */
#define OMP_TILES _Pragma("omp parallel for schedule(static)")
#else
#define OMP_TILES
#endif

/* ---- shapes and tiles ------------------------------------------------------------- */

static inline void check_shape(const vg_attn_shape *s) {
    VG_ASSERT(s->H >= 1 && s->hd >= 1 && s->Lq >= 0 && s->Lk >= 0);
    VG_ASSERT(s->Lq == 0 || s->Lk >= 1);
    if (s->window >= 0) VG_ASSERT(s->S >= 1 && s->Lq == s->Lk && s->Lk % s->S == 0);
}

/* The keys query iq sees (or, the window being symmetric, the queries key iq is seen by). */
static inline void key_range(const vg_attn_shape *s, int64_t iq, int64_t *k0, int64_t *k1) {
    if (s->window < 0) { *k0 = 0; *k1 = s->Lk; return; }
    int64_t f = iq / s->S, F = s->Lk / s->S;
    int64_t f0 = f - s->window < 0 ? 0 : f - s->window;
    int64_t f1 = f + s->window >= F ? F - 1 : f + s->window;
    *k0 = f0 * s->S; *k1 = (f1 + 1) * s->S;
}

/* Tiles of at most T of `rows` rows (queries, or keys for dk/dv); with a window a tile never
 * crosses a frame, so all its rows see the same contiguous range of the other axis. */
static inline int64_t tile_count(const vg_attn_shape *s, int64_t rows, int T) {
    if (s->window < 0) return (rows + T - 1) / T;
    return rows / s->S * ((s->S + T - 1) / T);
}

static inline void tile_at(const vg_attn_shape *s, int64_t rows, int T, int64_t t, int64_t *r0, int *nr) {
    int64_t a, b;
    if (s->window < 0) {
        a = t * T; b = rows;
    } else {
        int64_t per = (s->S + T - 1) / T, f = t / per;
        a = f * s->S + (t % per) * T; b = (f + 1) * s->S;
    }
    *r0 = a;
    *nr = (int)(b - a < T ? b - a : T);
}

/* One forward tile: queries [i0, i0+nq) of head h against keys [k0, k1). */
typedef void (*fwd_tile_fn)(float *, float *, const float *, const float *, const float *,
                            const vg_attn_shape *, int, int64_t, int, int64_t, int64_t);

/* The forward over every (head, query tile), in parallel: the tiles are independent. */
static inline void fwd_tiles(fwd_tile_fn fwd, float *out, float *lse, const float *q, const float *k, const float *v,
                             const vg_attn_shape *s) {
    int64_t nt = tile_count(s, s->Lq, BQ), n = nt * s->H;
OMP_TILES
    for (int64_t p = 0; p < n; p++) {
        int64_t i0, k0, k1;
        int nq;
        tile_at(s, s->Lq, BQ, p % nt, &i0, &nq);
        key_range(s, i0, &k0, &k1);
        fwd(out, lse, q, k, v, s, (int)(p / nt), i0, nq, k0, k1);
    }
}

/* ---- exp ---------------------------------------------------------------------------- */

/* exp(x) for x <= 0 as in Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial,
 * then scale by 2^n. Inputs below -87.3 give ~1e-38 instead of 0 (harmless: every row's
 * maximum contributes exp(0) = 1 to the sum). Max relative error ~2 ulp. */
#define EXP_CONSTS                                                                          \
    const float lo = -87.33654f, hi = 88.0f, l2e = 1.44269504088896341f, c1 = 0.693359375f, \
                c2 = -2.12194440e-4f, p0 = 1.9875691500e-4f, p1 = 1.3981999507e-3f,         \
                p2 = 8.3334519073e-3f, p3 = 4.1665795894e-2f, p4 = 1.6666665459e-1f,        \
                p5 = 5.0000001201e-1f

#ifdef VG_ATTN_X86
__attribute__((target("avx512f,avx512bw,fma"))) static inline __m512 exp512(__m512 x) {
    EXP_CONSTS;
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(lo)), _mm512_set1_ps(hi));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(l2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(c1), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(c2), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(p0), r, _mm512_set1_ps(p1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(p2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(p3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(p4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(p5));
    __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}
#endif


/* exp512's arithmetic on one float (same operations in the same order, fmaf for each FMA,
 * rintf for the round to nearest even, scalbnf for scalef): the same value bit for bit. */
static inline float attn_exp_scalar(float x) {
    EXP_CONSTS;
    x = fminf(fmaxf(x, lo), hi);
    float n = rintf(x * l2e);
    float r = fmaf(-n, c1, x);
    r = fmaf(-n, c2, r);
    float p = fmaf(p0, r, p1);
    p = fmaf(p, r, p2);
    p = fmaf(p, r, p3);
    p = fmaf(p, r, p4);
    p = fmaf(p, r, p5);
    float y = fmaf(p, r * r, r + 1.0f);
    return scalbnf(y, (int)n);
}

#endif
