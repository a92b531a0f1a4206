/* conv.c - causal 3D / 2D convolutions for the Wan VAE (wan/modules/vae.py: CausalConv3d,
 * Resample). See include/vidgen/conv.h for the contract.
 * Fast path = implicit GEMM: an output tile is MR output channels x NR vectors of VL
 * pixels (each vector lies in one output row). For each tile the input it needs is packed
 * into a small per-thread panel P[rr][NR][S] (rr = (ci,kt,kh); with stride 1 in w the kw
 * taps are shifted loads of the same packed row, so S = VL + kw - 1; when the NR vectors are
 * consecutive in one output row they share one row of NR*VL + kw - 1), and the weights of
 * the whole conv are converted once per call into W[co/MR][ci,kt,kh,kw][MR] f32.
 * Legend: Ci/Co channels, T frames, H W sizes, k kernel, r reduction index. */
#include "vidgen/conv.h"
#include "vidgen/gemm.h"
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define VL 16 /* pixels per vector */
#define MR 6  /* output channels per tile */
#define NR 4  /* vectors per tile */

static inline float wload(const void *w, vg_dtype wt, int64_t i) {
    switch (wt) {
    case VG_DTYPE_F16: return vg_f16_to_f32(((const uint16_t *)w)[i]);
    case VG_DTYPE_BF16: return vg_bf16_to_f32(((const uint16_t *)w)[i]);
    default: return ((const float *)w)[i];
    }
}

static int nthreads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* ------------------------------------------------------------------------------------ */
/* shapes */

vg_conv_shape vg_conv_shape_causal3d(int64_t ci, int64_t co, int64_t h, int64_t w, int64_t k) {
    vg_conv_shape s = {ci, co, h, w, k, k, k, 1, 1, 1, 2 * (k / 2), k / 2, k / 2, k / 2, k / 2, 1};
    return s;
}

vg_conv_shape vg_conv_shape_2d(int64_t ci, int64_t co, int64_t h, int64_t w, int64_t k, int64_t up) {
    vg_conv_shape s = {ci, co, h, w, 1, k, k, 1, 1, 1, 0, k / 2, k / 2, k / 2, k / 2, up};
    return s;
}

vg_conv_shape vg_conv_shape_down2d(int64_t ci, int64_t co, int64_t h, int64_t w) {
    vg_conv_shape s = {ci, co, h, w, 1, 3, 3, 1, 2, 2, 0, 0, 1, 0, 1, 1};
    return s;
}

bool vg_conv_out_dims(const vg_conv_shape *s, int64_t ti, int64_t *to, int64_t *ho, int64_t *wo) {
    if (s->ci <= 0 || s->co <= 0 || s->h <= 0 || s->w <= 0 || s->kt <= 0 || s->kh <= 0 || s->kw <= 0 ||
        s->st <= 0 || s->sh <= 0 || s->sw <= 0 || s->pt < 0 || s->ph0 < 0 || s->ph1 < 0 || s->pw0 < 0 ||
        s->pw1 < 0 || (s->up != 1 && s->up != 2) || ti < 0)
        return false;
    int64_t tt = ti + s->pt - s->kt, hh = s->h * s->up + s->ph0 + s->ph1 - s->kh,
            ww = s->w * s->up + s->pw0 + s->pw1 - s->kw;
    if (tt < 0 || hh < 0 || ww < 0) return false;
    *to = tt / s->st + 1;
    *ho = hh / s->sh + 1;
    *wo = ww / s->sw + 1;
    return true;
}

void vg_frames_of(vg_frame *fr, const float *x, int64_t T, int64_t H, int64_t W) {
    for (int64_t t = 0; t < T; t++) { fr[t].p = x + t * H * W; fr[t].cstride = T * H * W; }
}

void vg_conv_ws_free(vg_conv_ws *ws) {
    if (!ws) return;
    free(ws->buf);
    ws->buf = NULL;
    ws->cap = 0;
}

/* ------------------------------------------------------------------------------------ */
/* reference */

vg_status vg_conv3d_ref(float *out, int64_t out_cstride, const vg_frame *in, int64_t ti,
                        const void *w, vg_dtype wt, const float *bias, const vg_conv_shape *s) {
    int64_t To, Ho, Wo;
    if (!vg_conv_out_dims(s, ti, &To, &Ho, &Wo))
        return vg_fail(VG_ERR_ARG, "conv3d: invalid geometry (ci %lld co %lld h %lld w %lld, %lld frames)",
                       (long long)s->ci, (long long)s->co, (long long)s->h, (long long)s->w, (long long)ti);
    const int64_t Hu = s->h * s->up, Wu = s->w * s->up;
    for (int64_t co = 0; co < s->co; co++)
        for (int64_t t = 0; t < To; t++)
            for (int64_t y = 0; y < Ho; y++)
                for (int64_t x = 0; x < Wo; x++) {
                    float acc = bias ? bias[co] : 0.0f;
                    for (int64_t ci = 0; ci < s->ci; ci++)
                        for (int64_t a = 0; a < s->kt; a++) {
                            int64_t it = t * s->st - s->pt + a;
                            if (it < 0 || it >= ti || !in[it].p) continue;
                            for (int64_t b = 0; b < s->kh; b++) {
                                int64_t iy = y * s->sh - s->ph0 + b;
                                if (iy < 0 || iy >= Hu) continue;
                                for (int64_t c = 0; c < s->kw; c++) {
                                    int64_t ix = x * s->sw - s->pw0 + c;
                                    if (ix < 0 || ix >= Wu) continue;
                                    float v = in[it].p[ci * in[it].cstride + (iy / s->up) * s->w + ix / s->up];
                                    acc += wload(w, wt, (((co * s->ci + ci) * s->kt + a) * s->kh + b) * s->kw + c) * v;
                                }
                            }
                        }
                    out[co * out_cstride + (t * Ho + y) * Wo + x] = acc;
                }
    return VG_OK;
}

/* ------------------------------------------------------------------------------------ */
/* fast path */

typedef struct {
    const vg_conv_shape *s;
    const vg_frame *in;
    int64_t ti, To, Ho, Wo, Hu, Wu;
    int64_t nvx, nvec;   /* vectors per output row, per frame */
    int64_t kwi, S, nrr, Lp, K;
    int64_t VS;          /* distance between the NR vectors inside a packed row */
    bool contig;         /* the NR vectors of a tile are consecutive in one output row */
} plan;

static void make_plan(plan *p, const vg_conv_shape *s, const vg_frame *in, int64_t ti, int64_t To,
                      int64_t Ho, int64_t Wo) {
    p->s = s; p->in = in; p->ti = ti; p->To = To; p->Ho = Ho; p->Wo = Wo;
    p->Hu = s->h * s->up; p->Wu = s->w * s->up;
    p->nvx = (Wo + VL - 1) / VL;
    p->nvec = Ho * p->nvx;
    p->kwi = s->sw == 1 ? s->kw : 1;          /* kw taps as shifted loads (stride 1) */
    p->S = s->sw == 1 ? VL + s->kw - 1 : VL;
    p->nrr = s->ci * s->kt * s->kh * (s->sw == 1 ? 1 : s->kw);
    p->contig = s->sw == 1 && p->nvx % NR == 0;
    if (p->contig) { p->S = NR * VL + s->kw - 1; p->Lp = p->S; p->VS = VL; }
    else { p->Lp = NR * p->S; p->VS = p->S; }
    p->K = s->ci * s->kt * s->kh * s->kw;
}

static size_t panel_floats(const plan *p) { return (size_t)(p->nrr * p->Lp + VL); }
static size_t wpanel_floats(const plan *p) { return (size_t)(((p->s->co + MR - 1) / MR) * MR * p->K + VL); }

size_t vg_conv_ws_floats(const vg_conv_shape *s) {
    int64_t To, Ho, Wo;
    if (!vg_conv_out_dims(s, s->kt, &To, &Ho, &Wo)) return 0;
    plan p;
    make_plan(&p, s, NULL, s->kt, To, Ho, Wo);
    return ((wpanel_floats(&p) + 15) & ~(size_t)15) + (size_t)nthreads() * ((panel_floats(&p) + 15) & ~(size_t)15) + 16;
}

/* copy n upsampled-row values starting at column c0 of row `src` (NULL: zeros) */
static void pack_row(float *dst, const float *src, int64_t c0, int64_t n, int64_t Wu, int64_t up) {
    if (!src) { memset(dst, 0, sizeof(float) * (size_t)n); return; }
    if (up == 1 && c0 >= 0 && c0 + n <= Wu) { /* interior: constant-size copies inline */
        if (n == NR * VL + 2) { __builtin_memcpy(dst, src + c0, sizeof(float) * (NR * VL + 2)); return; }
        if (n == VL + 2) { __builtin_memcpy(dst, src + c0, sizeof(float) * (VL + 2)); return; }
    }
    int64_t a = c0 < 0 ? -c0 : 0, b = c0 + n > Wu ? Wu - c0 : n;
    if (b < a) b = a;
    for (int64_t j = 0; j < a; j++) dst[j] = 0.0f;
    if (up == 1) for (int64_t j = a; j < b; j++) dst[j] = src[c0 + j]; /* short: no memcpy call */
    else for (int64_t j = a; j < b; j++) dst[j] = src[(c0 + j) >> 1];
    for (int64_t j = b; j < n; j++) dst[j] = 0.0f;
}

/* Pack the panel of tile (t, vectors v0..v0+NR-1). */
static void pack_tile(float *P, const plan *p, int64_t t, int64_t v0) {
    const vg_conv_shape *s = p->s;
    int64_t ys[NR], xs[NR];
    for (int n = 0; n < NR; n++) {
        int64_t vi = v0 + n;
        ys[n] = vi < p->nvec ? vi / p->nvx : -1;
        xs[n] = vi < p->nvec ? (vi % p->nvx) * VL : 0;
    }
    int64_t rr = 0;
    for (int64_t ci = 0; ci < s->ci; ci++)
        for (int64_t a = 0; a < s->kt; a++) {
            int64_t it = t * s->st - s->pt + a;
            const vg_frame *f = (it >= 0 && it < p->ti && p->in[it].p) ? &p->in[it] : NULL;
            const float *plane = f ? f->p + ci * f->cstride : NULL;
            for (int64_t b = 0; b < s->kh; b++) {
                if (p->contig) { /* one contiguous segment for the NR vectors */
                    int64_t iy = ys[0] * s->sh - s->ph0 + b;
                    const float *row = (plane && ys[0] >= 0 && iy >= 0 && iy < p->Hu) ? plane + (iy / s->up) * s->w : NULL;
                    pack_row(P + rr * p->Lp, row, xs[0] - s->pw0, p->S, p->Wu, s->up);
                    rr++;
                } else if (s->sw == 1) { /* shift mode: one packed row per (ci,a,b) */
                    float *dst = P + rr * p->Lp;
                    for (int n = 0; n < NR; n++) {
                        int64_t iy = ys[n] * s->sh - s->ph0 + b;
                        const float *row = (plane && ys[n] >= 0 && iy >= 0 && iy < p->Hu) ?
                                           plane + (iy / s->up) * s->w : NULL;
                        pack_row(dst + n * p->S, row, xs[n] * s->sw - s->pw0, p->S, p->Wu, s->up);
                    }
                    rr++;
                } else { /* gather mode (stride in w > 1): one packed row per (ci,a,b,c) */
                    for (int64_t c = 0; c < s->kw; c++, rr++) {
                        float *dst = P + rr * p->Lp;
                        for (int n = 0; n < NR; n++) {
                            int64_t iy = ys[n] * s->sh - s->ph0 + b;
                            const float *row = (plane && ys[n] >= 0 && iy >= 0 && iy < p->Hu) ?
                                               plane + (iy / s->up) * s->w : NULL;
                            for (int j = 0; j < VL; j++) {
                                int64_t ix = (xs[n] + j) * s->sw - s->pw0 + c;
                                dst[n * VL + j] = (row && ix >= 0 && ix < p->Wu) ? row[ix / s->up] : 0.0f;
                            }
                        }
                    }
                }
            }
        }
}

/* acc[m][n*VL+j] = sum_{rr,k} wp[(rr*kwi+k)*MR+m] * P[rr*Lp + n*S + k + j] */
static void ukernel_c(float *acc, const float *P, const float *wp, int64_t nrr, int64_t kwi, int64_t Lp,
                      int64_t S) { /* S: distance between the vectors */
    float c[MR][NR * VL];
    memset(c, 0, sizeof(c));
    for (int64_t rr = 0; rr < nrr; rr++) {
        const float *row = P + rr * Lp;
        for (int64_t k = 0; k < kwi; k++, wp += MR)
            for (int m = 0; m < MR; m++) {
                float a = wp[m];
                for (int n = 0; n < NR; n++)
                    for (int j = 0; j < VL; j++) c[m][n * VL + j] += a * row[n * S + k + j];
            }
    }
    memcpy(acc, c, sizeof(c));
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX512_KERNEL 1
__attribute__((target("avx512f")))
static void ukernel_avx512(float *acc, const float *P, const float *wp, int64_t nrr, int64_t kwi,
                           int64_t Lp, int64_t S) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    __m512 c40 = c00, c41 = c00, c42 = c00, c43 = c00;
    __m512 c50 = c00, c51 = c00, c52 = c00, c53 = c00;
    for (int64_t rr = 0; rr < nrr; rr++) {
        const float *row = P + rr * Lp;
        for (int64_t k = 0; k < kwi; k++, wp += MR) {
            __m512 b0 = _mm512_loadu_ps(row + k), b1 = _mm512_loadu_ps(row + S + k);
            __m512 b2 = _mm512_loadu_ps(row + 2 * S + k), b3 = _mm512_loadu_ps(row + 3 * S + k);
            __m512 a;
#define ROW(m) a = _mm512_set1_ps(wp[m]); c##m##0 = _mm512_fmadd_ps(a, b0, c##m##0); \
               c##m##1 = _mm512_fmadd_ps(a, b1, c##m##1); c##m##2 = _mm512_fmadd_ps(a, b2, c##m##2); \
               c##m##3 = _mm512_fmadd_ps(a, b3, c##m##3);
            ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        }
    }
#define ST(m) _mm512_storeu_ps(acc + (m) * NR * VL, c##m##0); _mm512_storeu_ps(acc + (m) * NR * VL + VL, c##m##1); \
              _mm512_storeu_ps(acc + (m) * NR * VL + 2 * VL, c##m##2); _mm512_storeu_ps(acc + (m) * NR * VL + 3 * VL, c##m##3);
    ST(0) ST(1) ST(2) ST(3) ST(4) ST(5)
#undef ST
}
#endif

typedef void (*ukernel_fn)(float *, const float *, const float *, int64_t, int64_t, int64_t, int64_t);

static ukernel_fn pick_kernel(void) {
#ifdef HAVE_AVX512_KERNEL
    if (vg_cpu_level() >= 3) return ukernel_avx512;
#endif
    return ukernel_c;
}

/* n weights of row src (dtype wt) to f32 */
static void row_to_f32(float *dst, const void *src, vg_dtype wt, int64_t n);
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f")))
static void row_f16_avx512(float *dst, const uint16_t *src, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    for (; i < n; i++) dst[i] = vg_f16_to_f32(src[i]);
}
#endif
static void row_to_f32(float *dst, const void *src, vg_dtype wt, int64_t n) {
    if (wt == VG_DTYPE_F32) { memcpy(dst, src, sizeof(float) * (size_t)n); return; }
    const uint16_t *h = src;
    if (wt == VG_DTYPE_BF16) {
        for (int64_t i = 0; i < n; i++) { uint32_t u = (uint32_t)h[i] << 16; memcpy(dst + i, &u, 4); }
        return;
    }
#ifdef HAVE_AVX512_KERNEL
    if (vg_cpu_level() >= 3) { row_f16_avx512(dst, h, n); return; }
#endif
    for (int64_t i = 0; i < n; i++) dst[i] = vg_f16_to_f32(h[i]);
}

/* W[blk][r][MR] f32, zero rows for channels beyond co. */
static void pack_weights(float *wpk, const void *w, vg_dtype wt, int64_t co, int64_t K) {
    int64_t nblk = (co + MR - 1) / MR;
    size_t es = vg_dtype_size(wt);
    #pragma omp parallel for schedule(static) if (co * K > (1 << 16))
    for (int64_t blk = 0; blk < nblk; blk++) {
        float *dst = wpk + blk * MR * K, tmp[MR][256];
        for (int64_t r0 = 0; r0 < K; r0 += 256) {
            int64_t nr = K - r0 < 256 ? K - r0 : 256;
            for (int m = 0; m < MR; m++) {
                int64_t o = blk * MR + m;
                if (o < co) row_to_f32(tmp[m], (const char *)w + es * (size_t)(o * K + r0), wt, nr);
                else memset(tmp[m], 0, sizeof(tmp[m]));
            }
            for (int64_t r = 0; r < nr; r++)
                for (int m = 0; m < MR; m++) dst[(r0 + r) * MR + m] = tmp[m][r];
        }
    }
}

static float *align64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

vg_status vg_conv3d(float *out, int64_t out_cstride, const vg_frame *in, int64_t ti, const void *w,
                    vg_dtype wt, const float *bias, const vg_conv_shape *s, vg_conv_ws *ws) {
    int64_t To, Ho, Wo;
    if (!vg_conv_out_dims(s, ti, &To, &Ho, &Wo))
        return vg_fail(VG_ERR_ARG, "conv3d: invalid geometry (ci %lld co %lld h %lld w %lld, %lld frames)",
                       (long long)s->ci, (long long)s->co, (long long)s->h, (long long)s->w, (long long)ti);
    if (wt != VG_DTYPE_F32 && wt != VG_DTYPE_F16 && wt != VG_DTYPE_BF16)
        return vg_fail(VG_ERR_UNSUPPORTED, "conv3d: weight dtype %s, expected F32, F16 or BF16", vg_dtype_name(wt));
    plan p;
    make_plan(&p, s, in, ti, To, Ho, Wo);
    int nt = nthreads();
    size_t wfl = (wpanel_floats(&p) + 15) & ~(size_t)15, pstride = (panel_floats(&p) + 15) & ~(size_t)15;
    size_t need = wfl + (size_t)nt * pstride + 16;
    vg_conv_ws tmp = {0};
    if (!ws) ws = &tmp;
    if (ws->cap < need) {
        free(ws->buf);
        ws->buf = malloc(sizeof(float) * need);
        ws->cap = ws->buf ? need : 0;
        if (!ws->buf) return vg_fail(VG_ERR_OOM, "conv3d: workspace of %zu floats", need);
    }
    float *wpk = align64(ws->buf);
    float *panels = wpk + wfl;
    pack_weights(wpk, w, wt, s->co, p.K);
    ukernel_fn uk = pick_kernel();
    const int64_t ntv = (p.nvec + NR - 1) / NR, ntiles = To * ntv, nblk = (s->co + MR - 1) / MR;
    const int64_t plane = Ho * Wo;
    /* small convs run on one thread: a parallel region costs more than they do (same result) */
    const double work = (double)ntiles * (double)nblk * (double)(p.nrr * p.kwi);
    #pragma omp parallel for schedule(static) if (ntiles > 1 && work > 2e4)
    for (int64_t tile = 0; tile < ntiles; tile++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *P = panels + (size_t)tid * pstride;
        float acc[MR * NR * VL] __attribute__((aligned(64)));
        int64_t t = tile / ntv, v0 = (tile % ntv) * NR;
        pack_tile(P, &p, t, v0);
        for (int64_t blk = 0; blk < nblk; blk++) {
            uk(acc, P, wpk + blk * MR * p.K, p.nrr, p.kwi, p.Lp, p.VS);
            for (int m = 0; m < MR && blk * MR + m < s->co; m++) {
                int64_t o = blk * MR + m;
                float bv = bias ? bias[o] : 0.0f;
                float *dst = out + o * out_cstride + t * plane;
                for (int n = 0; n < NR; n++) {
                    int64_t vi = v0 + n;
                    if (vi >= p.nvec) break;
                    int64_t y = vi / p.nvx, x0 = (vi % p.nvx) * VL;
                    int64_t nv = Wo - x0 < VL ? Wo - x0 : VL;
                    const float *src = acc + m * NR * VL + n * VL;
                    float *d = dst + y * Wo + x0;
                    for (int64_t j = 0; j < nv; j++) d[j] = src[j] + bv;
                }
            }
        }
    }
    if (ws == &tmp) vg_conv_ws_free(&tmp);
    return VG_OK;
}
