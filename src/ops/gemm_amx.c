/* gemm_amx.c - AMX (Intel Advanced Matrix Extensions) tiles for vg_matmul_nt with F16 or BF16
 * weights: TDPBF16PS multiplies 16x32 bf16 by 32x16 bf16 into 16x16 f32 accumulators.
 * Precision: activations are split into bf16 hi + lo (a = hi + lo to 2^-17 relative), F16
 * weights likewise (exactly: 11 significant bits fit in hi's 8 + lo's 8), and the products
 * hi*hi + hi*lo + lo*hi are summed in f32 ("bf16x3", as oneDNN's and XLA's f32-via-bf16 modes);
 * BF16 weights are exact in one bf16, so two passes. Error about 2^-16 of each |a*w|: far below
 * the weights' own rounding and 30x finer than rounding the activations to f16.
 * Panels: X [32 rows][kcp] bf16 (hi block, then lo block); Y [kcp/2][32][2] bf16 pairs
 * ("VNNI" layout; hi block, then lo block for F16). kcp = kc rounded up to 32 (zero tail).
 * Register tiles: tmm0-3 = C 32x32, tmm4-5 = A rows 0-15/16-31, tmm6-7 = B cols 0-15/16-31.
 * Compiled with target attributes; used only when vg_cpu_level() == 4 (AMX granted by Linux). */
#include <string.h>
#include <immintrin.h>
#include "vidgen/gemm.h"
#include "ops/gemm_internal.h"
#include "ops/tr16_avx512.h"

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11)
#define TAMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c")))
#define INL inline __attribute__((always_inline))

enum { MR = 32, NR = 32, KB = 32 };

static INL __mmask16 lanes(int64_t n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* 16 values from p (mask m) as f32; dt F32, F16 or BF16. */
static INL TAMX __m512 load16(const void *p, vg_dtype dt, int64_t i, __mmask16 m) {
    if (dt == VG_DTYPE_BF16) {
        __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    if (dt == VG_DTYPE_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
    return _mm512_maskz_loadu_ps(m, (const float *)p + i);
}

/* 32 consecutive values v0 (first 16), v1 -> bf16 hi (RNE) and lo = bf16(v - hi), 32 each. */
static INL TAMX void split32(__m512 v0, __m512 v1, __m512i *hi, __m512i *lo) {
    __m512i h = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
    __m512 h0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16));
    __m512 h1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16));
    *hi = h;
    *lo = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(v1, h1), _mm512_sub_ps(v0, h0));
}

/* X panel: rows x0..x0+nx of an f32 source over k0..k0+kc -> dst hi [w][kcp], then
 * lo [w][kcp] (bf16). Rows >= nx and k >= kc are zero. k-major sources (vg_matmul_tn's dy^T)
 * are transposed 16x16 at a time. */
static TAMX void pack_x(void *dst_, int w, const gemm_src *s, int64_t x0, int64_t nx, int64_t k0, int64_t kc) {
    int64_t kcp = (kc + KB - 1) / KB * KB;
    uint16_t *hi = dst_, *lo = hi + (size_t)w * kcp;
    if (s->kmajor) {
        const float *p = s->p;
        for (int g = 0; g < w; g += 16) {
            __mmask16 xm = lanes(nx - g);
            for (int64_t k = 0; k < kcp; k += 32) {
                __m512i r0[16], r1[16];
                for (int i = 0; i < 16; i++) {
                    r0[i] = k + i < kc ? _mm512_castps_si512(_mm512_maskz_loadu_ps(xm, p + (k0 + k + i) * s->ld + x0 + g))
                                       : _mm512_setzero_si512();
                    r1[i] = k + 16 + i < kc ? _mm512_castps_si512(_mm512_maskz_loadu_ps(xm, p + (k0 + k + 16 + i) * s->ld + x0 + g))
                                            : _mm512_setzero_si512();
                }
                vg_tr16x16_epi32(r0);
                vg_tr16x16_epi32(r1);
                for (int i = 0; i < 16; i++) {
                    __m512i h, l;
                    split32(_mm512_castsi512_ps(r0[i]), _mm512_castsi512_ps(r1[i]), &h, &l);
                    _mm512_store_si512(hi + (g + i) * kcp + k, h);
                    _mm512_store_si512(lo + (g + i) * kcp + k, l);
                }
            }
        }
        return;
    }
    for (int x = 0; x < w; x++)
        for (int64_t k = 0; k < kcp; k += 32) {
            __m512i h = _mm512_setzero_si512(), l = h;
            if (x < nx && k < kc) {
                int64_t i = (x0 + x) * s->ld + k0 + k;
                __m512 v0 = load16(s->p, s->dt, i, lanes(kc - k)), v1 = load16(s->p, s->dt, i + 16, lanes(kc - k - 16));
                split32(v0, v1, &h, &l);
            }
            _mm512_store_si512(hi + x * kcp + k, h);
            _mm512_store_si512(lo + x * kcp + k, l);
        }
}

/* Y panel (weights [N][K], x-major): dst hi [kcp/2][w][2], then (F16/F32 sources) lo. */
static INL TAMX void pack_y_any(void *dst_, int w, const gemm_src *s, int64_t x0, int64_t nx, int64_t k0, int64_t kc,
                                bool with_lo) {
    int64_t kcp = (kc + KB - 1) / KB * KB;
    uint32_t *hi = dst_, *lo = hi + (size_t)w * kcp / 2; /* one bf16 pair per 32-bit word */
    if (s->kmajor) { /* f32 [k][x] (vg_matmul_nn's W, vg_matmul_tn's x): rows k, k+1 -> pairs */
        const float *p = s->p;
        for (int g = 0; g < w; g += 16) {
            __mmask16 xm = lanes(nx - g);
            for (int64_t k = 0; k < kcp; k += 2) {
                __m512 e = k < kc ? _mm512_maskz_loadu_ps(xm, p + (k0 + k) * s->ld + x0 + g) : _mm512_setzero_ps();
                __m512 o = k + 1 < kc ? _mm512_maskz_loadu_ps(xm, p + (k0 + k + 1) * s->ld + x0 + g) : _mm512_setzero_ps();
                __m512i h, l; /* h: e's 16 bf16 then o's; l likewise for the residuals */
                split32(e, o, &h, &l);
                __m512i he = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), ho = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1));
                _mm512_store_si512(hi + (k / 2) * w + g, _mm512_or_si512(he, _mm512_slli_epi32(ho, 16)));
                if (with_lo) {
                    __m512i le = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(l)), lo2 = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(l, 1));
                    _mm512_store_si512(lo + (k / 2) * w + g, _mm512_or_si512(le, _mm512_slli_epi32(lo2, 16)));
                }
            }
        }
        return;
    }
    for (int g = 0; g < w; g += 16)
        for (int64_t k = 0; k < kcp; k += 32) {
            __m512i rh[16], rl[16];
            for (int i = 0; i < 16; i++) {
                rh[i] = rl[i] = _mm512_setzero_si512();
                if (g + i < nx && k < kc) {
                    int64_t j = (x0 + g + i) * s->ld + k0 + k;
                    if (s->dt == VG_DTYPE_BF16) {
                        rh[i] = _mm512_maskz_loadu_epi16(kc - k >= 32 ? 0xffffffffu : (__mmask32)((1u << (kc - k)) - 1),
                                                        (const uint16_t *)s->p + j);
                    } else {
                        __m512 v0 = load16(s->p, s->dt, j, lanes(kc - k)), v1 = load16(s->p, s->dt, j + 16, lanes(kc - k - 16));
                        split32(v0, v1, &rh[i], &rl[i]);
                    }
                }
            }
            vg_tr16x16_epi32(rh);
            for (int t = 0; t < 16; t++) _mm512_store_si512(hi + (k / 2 + t) * w + g, rh[t]);
            if (with_lo) {
                vg_tr16x16_epi32(rl);
                for (int t = 0; t < 16; t++) _mm512_store_si512(lo + (k / 2 + t) * w + g, rl[t]);
            }
        }
}

static TAMX void pack_y_hilo(void *d, int w, const gemm_src *s, int64_t x0, int64_t nx, int64_t k0, int64_t kc) {
    pack_y_any(d, w, s, x0, nx, k0, kc, true);
}
static TAMX void pack_y_bf16(void *d, int w, const gemm_src *s, int64_t x0, int64_t nx, int64_t k0, int64_t kc) {
    pack_y_any(d, w, s, x0, nx, k0, kc, false);
}

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

/* Tile configuration is per thread: every tmm 16 rows x 64 bytes. */
static _Thread_local int t_configured;
static INL TAMX void configure(void) {
    if (t_configured) return;
    tilecfg c;
    memset(&c, 0, sizeof(c));
    c.palette = 1;
    for (int i = 0; i < 8; i++) { c.rows[i] = 16; c.colsb[i] = 64; }
    _tile_loadconfig(&c);
    t_configured = 1;
}

/* c[mr,nr] (+)= X . Y over kc with 2 (bf16 Y) or 3 (hi/lo Y) passes per 32-k step. */
static INL TAMX void kernel_any(int64_t kc, const void *ap, const void *bp, float *c, int64_t ldc, int mr, int nr,
                                const float *bias, bool load_c, bool y_lo) {
    configure();
    int64_t kcp = (kc + KB - 1) / KB * KB;
    float cb[MR * NR] __attribute__((aligned(64)));
    const bool full = mr == MR && nr == NR, direct = full && !(load_c && bias);
    if (direct && load_c) { /* C straight from memory */
        _tile_loadd(0, c, ldc * 4);
        _tile_loadd(1, c + 16, ldc * 4);
        _tile_loadd(2, c + 16 * ldc, ldc * 4);
        _tile_loadd(3, c + 16 * ldc + 16, ldc * 4);
    } else if (direct && bias) { /* stride 0: every row is the bias */
        _tile_loadd(0, bias, 0);
        _tile_loadd(1, bias + 16, 0);
        _tile_loadd(2, bias, 0);
        _tile_loadd(3, bias + 16, 0);
    } else if (direct) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    } else { /* edge tile or C + bias: through a 32x32 buffer */
        __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
        __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
        __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
        for (int r = 0; r < MR; r++) {
            bool in = load_c && r < mr;
            _mm512_store_ps(cb + r * NR, in ? _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c + r * ldc), b0) : b0);
            _mm512_store_ps(cb + r * NR + 16, in ? _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + r * ldc + 16), b1) : b1);
        }
        _tile_loadd(0, cb, NR * 4);
        _tile_loadd(1, cb + 16, NR * 4);
        _tile_loadd(2, cb + 16 * NR, NR * 4);
        _tile_loadd(3, cb + 16 * NR + 16, NR * 4);
    }
    const uint16_t *ahi = ap, *alo = ahi + (size_t)MR * kcp;
    const uint16_t *bhi = bp, *blo = bhi + (size_t)NR * kcp;
    const int64_t as = kcp * 2; /* bytes between X rows */
    for (int64_t k = 0; k < kcp; k += KB) {
        const uint16_t *b = bhi + k * NR; /* 16 pair-rows of 32 columns x 2 */
        _tile_loadd(4, ahi + k, as);
        _tile_loadd(5, ahi + 16 * kcp + k, as);
        _tile_loadd(6, b, NR * 4);
        _tile_loadd(7, b + 32, NR * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
        _tile_loadd(4, alo + k, as);
        _tile_loadd(5, alo + 16 * kcp + k, as);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
        if (y_lo) {
            const uint16_t *bl = blo + k * NR;
            _tile_loadd(4, ahi + k, as);
            _tile_loadd(5, ahi + 16 * kcp + k, as);
            _tile_loadd(6, bl, NR * 4);
            _tile_loadd(7, bl + 32, NR * 4);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
    if (full) {
        _tile_stored(0, c, ldc * 4);
        _tile_stored(1, c + 16, ldc * 4);
        _tile_stored(2, c + 16 * ldc, ldc * 4);
        _tile_stored(3, c + 16 * ldc + 16, ldc * 4);
        return;
    }
    _tile_stored(0, cb, NR * 4);
    _tile_stored(1, cb + 16, NR * 4);
    _tile_stored(2, cb + 16 * NR, NR * 4);
    _tile_stored(3, cb + 16 * NR + 16, NR * 4);
    for (int r = 0; r < mr; r++) memcpy(c + r * ldc, cb + r * NR, (size_t)nr * sizeof(float));
}

static TAMX void kernel_hilo(int64_t kc, const void *ap, const void *bp, float *c, int64_t ldc, int mr, int nr,
                             const float *bias, bool load_c) {
    kernel_any(kc, ap, bp, c, ldc, mr, nr, bias, load_c, true);
}
static TAMX void kernel_bf16(int64_t kc, const void *ap, const void *bp, float *c, int64_t ldc, int mr, int nr,
                             const float *bias, bool load_c) {
    kernel_any(kc, ap, bp, c, ldc, mr, nr, bias, load_c, false);
}

/* xbytes/ybytes: bytes per packed (x, k) element: hi + lo = 4, hi only = 2. */
static const gemm_path path_hilo = {MR, NR, 256, 512, KB, pack_x, pack_y_hilo, kernel_hilo, 4, 4};
static const gemm_path path_bf16 = {MR, NR, 256, 512, KB, pack_x, pack_y_bf16, kernel_bf16, 4, 2};
const gemm_path *gemm_path_amx(vg_dtype wt) {
    return wt == VG_DTYPE_BF16 ? &path_bf16 : (wt == VG_DTYPE_F16 || wt == VG_DTYPE_F32) ? &path_hilo : NULL;
}

#else
const gemm_path *gemm_path_amx(vg_dtype wt) { (void)wt; return NULL; }
#endif
