/* quant_ref.c - products on quantized weights (vg_qmatmul_nt, include/vidgen/quant.h): the
 * activation quantizers (ggml's quantize_row_q8_0 / q8_1 / q8_K), the block reader (codes,
 * scales, mins of every type, as ggml's dequantize_row_* reads them), the scalar reference
 * product, the panel packing and the threaded driver of the ISA kernels. The arithmetic
 * contract is in ops/quant_internal.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/gemm.h"
#include "vidgen/quant.h"
#include "vidgen/status.h"
#include "ops/quant_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

bool q_type_info(vg_dtype t, qtype_info *ti) {
    qtype_info r = {32, 1, 0, false, false};
    switch (t) {
    case VG_DTYPE_Q8_0: r.off = 128; break;
    case VG_DTYPE_Q4_0: r.off = 8; break;
    case VG_DTYPE_Q5_0: r.off = 16; break;
    case VG_DTYPE_Q4_1: case VG_DTYPE_Q5_1: r.has_min = true; break;
    case VG_DTYPE_Q2_K: r = (qtype_info){256, 16, 0, true, true}; break;
    case VG_DTYPE_Q3_K: r = (qtype_info){256, 16, 4, false, true}; break;
    case VG_DTYPE_Q4_K: case VG_DTYPE_Q5_K: r = (qtype_info){256, 8, 0, true, true}; break;
    case VG_DTYPE_Q6_K: r = (qtype_info){256, 16, 32, false, true}; break;
    default: return false;
    }
    if (ti) *ti = r;
    return true;
}

/* ---- block reader ---- */

static void scale_min_k4(int j, const uint8_t *q, int32_t *d, int32_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

void q_unpack(vg_dtype t, const void *src, qw_blk *u) {
    memset(u->sc, 0, sizeof(u->sc));
    memset(u->mn, 0, sizeof(u->mn));
    u->sc[0] = 1;
    u->m = 0.0f;
    switch (t) {
    case VG_DTYPE_Q8_0: {
        const vg_block_q8_0 *b = src;
        u->d = vg_f16_to_f32(b->d);
        for (int e = 0; e < 32; e++) u->q[e] = (uint8_t)(b->qs[e] + 128);
        break;
    }
    case VG_DTYPE_Q4_0: case VG_DTYPE_Q4_1: {
        const uint8_t *qs;
        if (t == VG_DTYPE_Q4_0) {
            const vg_block_q4_0 *b = src;
            u->d = vg_f16_to_f32(b->d);
            qs = b->qs;
        } else {
            const vg_block_q4_1 *b = src;
            u->d = vg_f16_to_f32(b->d);
            u->m = vg_f16_to_f32(b->m);
            qs = b->qs;
        }
        for (int e = 0; e < 16; e++) {
            u->q[e] = qs[e] & 0xF;
            u->q[e + 16] = qs[e] >> 4;
        }
        break;
    }
    case VG_DTYPE_Q5_0: case VG_DTYPE_Q5_1: {
        const uint8_t *qs, *qhp;
        if (t == VG_DTYPE_Q5_0) {
            const vg_block_q5_0 *b = src;
            u->d = vg_f16_to_f32(b->d);
            qs = b->qs;
            qhp = b->qh;
        } else {
            const vg_block_q5_1 *b = src;
            u->d = vg_f16_to_f32(b->d);
            u->m = vg_f16_to_f32(b->m);
            qs = b->qs;
            qhp = b->qh;
        }
        uint32_t qh = (uint32_t)qhp[0] | (uint32_t)qhp[1] << 8 | (uint32_t)qhp[2] << 16 | (uint32_t)qhp[3] << 24;
        for (int e = 0; e < 16; e++) {
            u->q[e] = (uint8_t)((qs[e] & 0xF) | ((qh >> e) & 1) << 4);
            u->q[e + 16] = (uint8_t)((qs[e] >> 4) | ((qh >> (e + 16)) & 1) << 4);
        }
        break;
    }
    case VG_DTYPE_Q2_K: {
        const vg_block_q2_K *b = src;
        u->d = vg_f16_to_f32(b->d);
        u->m = vg_f16_to_f32(b->dmin);
        for (int s = 0; s < 16; s++) {
            u->sc[s] = b->scales[s] & 0xF;
            u->mn[s] = b->scales[s] >> 4;
        }
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) u->q[128 * n + 32 * j + l] = (b->qs[32 * n + l] >> (2 * j)) & 3;
        break;
    }
    case VG_DTYPE_Q3_K: {
        const vg_block_q3_K *b = src;
        u->d = vg_f16_to_f32(b->d);
        const uint8_t *s = b->scales;
        for (int k = 0; k < 16; k++) {
            int lo = k < 8 ? s[k] & 0xF : s[k - 8] >> 4;
            int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
            u->sc[k] = (lo | hi << 4) - 32;
        }
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    int v = (b->qs[32 * n + l] >> (2 * j)) & 3;
                    int h = (b->hmask[l] >> (4 * n + j)) & 1;
                    u->q[128 * n + 32 * j + l] = (uint8_t)(v + 4 * h); /* value v - 4 (h = 0) or v */
                }
        break;
    }
    case VG_DTYPE_Q4_K: case VG_DTYPE_Q5_K: {
        const uint8_t *sc, *qs, *qh = NULL;
        if (t == VG_DTYPE_Q4_K) {
            const vg_block_q4_K *b = src;
            u->d = vg_f16_to_f32(b->d);
            u->m = vg_f16_to_f32(b->dmin);
            sc = b->scales;
            qs = b->qs;
        } else {
            const vg_block_q5_K *b = src;
            u->d = vg_f16_to_f32(b->d);
            u->m = vg_f16_to_f32(b->dmin);
            sc = b->scales;
            qs = b->qs;
            qh = b->qh;
        }
        for (int s = 0; s < 8; s++) scale_min_k4(s, sc, &u->sc[s], &u->mn[s]);
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) {
                int lo = qs[32 * j + l] & 0xF, hi = qs[32 * j + l] >> 4;
                if (qh) {
                    lo |= ((qh[l] >> (2 * j)) & 1) << 4;
                    hi |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
                }
                u->q[64 * j + l] = (uint8_t)lo;
                u->q[64 * j + 32 + l] = (uint8_t)hi;
            }
        break;
    }
    case VG_DTYPE_Q6_K: {
        const vg_block_q6_K *b = src;
        u->d = vg_f16_to_f32(b->d);
        for (int s = 0; s < 16; s++) u->sc[s] = b->scales[s];
        for (int n = 0; n < 2; n++) {
            const uint8_t *ql = b->ql + 64 * n, *qh = b->qh + 32 * n;
            uint8_t *q = u->q + 128 * n;
            for (int l = 0; l < 32; l++) {
                q[l] = (uint8_t)((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4);
                q[l + 32] = (uint8_t)((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4);
                q[l + 64] = (uint8_t)((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4);
                q[l + 96] = (uint8_t)((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4);
            }
        }
        break;
    }
    default: break;
    }
}

/* ---- activation quantizers (ggml semantics) ---- */

/* roundf (half away from zero) without the libm call and without branches (a data-dependent
 * branch here costs more than the rest of the quantizer): x - trunc(x) is exact for |x| < 2^23. */
static inline float round_away(float v) {
    float t = truncf(v);
    return t + copysignf(fabsf(v - t) >= 0.5f ? 1.0f : 0.0f, v);
}

void q_quant_a32(const float *x, qa_blk *y, int64_t n) {
    for (int64_t b = 0; b < n / VG_QK; b++, x += VG_QK) {
        float amax = 0.0f;
        for (int e = 0; e < VG_QK; e++) {
            float ax = fabsf(x[e]);
            amax = ax > amax ? ax : amax;
        }
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int e = 0; e < VG_QK; e++) {
            int q = (int)round_away(x[e] * id);
            y[b].qs[e] = (int8_t)q;
            sum += q;
        }
        y[b].d = d;
        y[b].sum = sum;
        y[b].s = (float)sum * d;
    }
}

static inline int nearest_int(float f) { /* round half to even, |f| < 2^22 (ggml's trick) */
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

void q_quant_aK(const float *x, vg_block_q8_K *y, int64_t n) {
    for (int64_t b = 0; b < n / VG_QK_K; b++, x += VG_QK_K) {
        float max = 0.0f, amax = 0.0f;
        for (int e = 0; e < VG_QK_K; e++) {
            float ax = fabsf(x[e]);
            if (ax > amax) { amax = ax; max = x[e]; }
        }
        memset(y[b].bsums, 0, sizeof(y[b].bsums));
        if (amax == 0.0f) {
            y[b].d = 0.0f;
            memset(y[b].qs, 0, sizeof(y[b].qs));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int e = 0; e < VG_QK_K; e++) {
            int v = nearest_int(iscale * x[e]);
            y[b].qs[e] = (int8_t)(v < 127 ? v : 127);
        }
        for (int t = 0; t < 16; t++) {
            int s = 0;
            for (int e = 0; e < 16; e++) s += y[b].qs[16 * t + e];
            y[b].bsums[t] = (int16_t)s;
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ---- reference product ---- */

static float dot_ref(vg_dtype wt, const qtype_info *ti, const uint8_t *wrow, size_t bb, const void *arow,
                     int64_t nb) {
    float acc = 0.0f;
    qw_blk u;
    for (int64_t b = 0; b < nb; b++) {
        q_unpack(wt, wrow + (size_t)b * bb, &u);
        if (!ti->kq) {
            const qa_blk *a = (const qa_blk *)arow + b;
            int32_t isum = 0;
            for (int e = 0; e < VG_QK; e++) isum += ((int32_t)u.q[e] - ti->off) * a->qs[e];
            acc = fmaf(u.d * a->d, (float)isum, acc);
            if (ti->has_min) acc = fmaf(u.m, a->s, acc);
        } else {
            const vg_block_q8_K *a = (const vg_block_q8_K *)arow + b;
            const int len = VG_QK_K / ti->nsub;
            int32_t itot = 0, imin = 0;
            for (int s = 0; s < ti->nsub; s++) {
                int32_t dot = 0, sum = 0;
                for (int e = s * len; e < (s + 1) * len; e++) {
                    dot += ((int32_t)u.q[e] - ti->off) * a->qs[e];
                    sum += a->qs[e];
                }
                itot += u.sc[s] * dot;
                imin += u.mn[s] * sum;
            }
            acc = fmaf(u.d * a->d, (float)itot, acc);
            if (ti->has_min) acc = fmaf(-(u.m * a->d), (float)imin, acc);
        }
    }
    return acc;
}

static void fill_nan(float *c, int64_t n) {
    for (int64_t i = 0; i < n; i++) c[i] = NAN;
}

/* Checks the arguments; false (C filled with NaN, error recorded) when the product cannot run. */
static bool q_args_ok(float *c, vg_dtype wt, qtype_info *ti, int64_t M, int64_t N, int64_t K) {
    if (!q_type_info(wt, ti)) {
        vg_fail(VG_ERR_UNSUPPORTED, "quantized product: weight type %d is not a product type", (int)wt);
        fill_nan(c, M * N);
        return false;
    }
    if (K <= 0 || K % ti->blk) {
        vg_fail(VG_ERR_SHAPE, "quantized product: K = %lld is not a positive multiple of the block (%d)",
                (long long)K, ti->blk);
        fill_nan(c, M * N);
        return false;
    }
    return true;
}

static size_t act_bytes(const qtype_info *ti) { return ti->kq ? sizeof(vg_block_q8_K) : sizeof(qa_blk); }

static void quant_row(const qtype_info *ti, const float *x, void *y, int64_t K) {
    if (ti->kq) q_quant_aK(x, y, K);
    else q_quant_a32(x, y, K);
}

static inline void put(float *c, float v, const float *bias, int64_t j, bool accumulate) {
    if (bias) v += bias[j];
    *c = accumulate ? *c + v : v;
}

void q_matmul_nt_ref(float *c, const float *a, const void *w, vg_dtype wt, const float *bias, int64_t M,
                     int64_t N, int64_t K, bool accumulate) {
    qtype_info ti;
    if (M <= 0 || N <= 0 || !q_args_ok(c, wt, &ti, M, N, K)) return;
    const int64_t nb = K / ti.blk;
    const size_t bb = vg_dtype_block_bytes(wt), rb = (size_t)nb * bb;
    void *arow = malloc((size_t)nb * act_bytes(&ti));
    if (!arow) {
        vg_fail(VG_ERR_OOM, "quantized product: no memory for one activation row (%lld blocks)", (long long)nb);
        fill_nan(c, M * N);
        return;
    }
    for (int64_t i = 0; i < M; i++) {
        quant_row(&ti, a + i * K, arow, K);
        for (int64_t j = 0; j < N; j++)
            put(c + i * N + j, dot_ref(wt, &ti, (const uint8_t *)w + (size_t)j * rb, bb, arow, nb), bias, j, accumulate);
    }
    free(arow);
}

void vg_qmatmul_nt_ref(float *c, const float *a, const void *w, vg_dtype wt, const float *bias, int64_t M,
                       int64_t N, int64_t K) {
    q_matmul_nt_ref(c, a, w, wt, bias, M, N, K, false);
}

/* ---- packing ---- */

static inline void put4(uint8_t *dst, const uint8_t *src) { memcpy(dst, src, 4); }

static inline uint32_t get4(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void set4(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* The common types' codes four at a time (same codes as q_unpack; the tests compare the
 * products with the reference, which reads blocks through q_unpack). false: use q_unpack. */
static bool pack_fast(vg_dtype t, const uint8_t *src, uint8_t *p, int l) {
    uint8_t *q = p + (size_t)l * 4;
    switch (t) {
    case VG_DTYPE_Q8_0: {
        const vg_block_q8_0 *b = (const void *)src;
        for (int k = 0; k < 8; k++) set4(q + k * QNR * 4, get4((const uint8_t *)b->qs + 4 * k) ^ 0x80808080u);
        ((float *)(p + QP32_D))[l] = vg_f16_to_f32(b->d);
        ((float *)(p + QP32_M))[l] = 0.0f;
        return true;
    }
    case VG_DTYPE_Q4_0: case VG_DTYPE_Q4_1: {
        const uint8_t *qs;
        float d, m = 0.0f;
        if (t == VG_DTYPE_Q4_0) {
            const vg_block_q4_0 *b = (const void *)src;
            qs = b->qs;
            d = vg_f16_to_f32(b->d);
        } else {
            const vg_block_q4_1 *b = (const void *)src;
            qs = b->qs;
            d = vg_f16_to_f32(b->d);
            m = vg_f16_to_f32(b->m);
        }
        for (int k = 0; k < 4; k++) {
            uint32_t v = get4(qs + 4 * k);
            set4(q + k * QNR * 4, v & 0x0f0f0f0fu);
            set4(q + (k + 4) * QNR * 4, (v >> 4) & 0x0f0f0f0fu);
        }
        ((float *)(p + QP32_D))[l] = d;
        ((float *)(p + QP32_M))[l] = m;
        return true;
    }
    case VG_DTYPE_Q4_K: {
        const vg_block_q4_K *b = (const void *)src;
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 8; k++) {
                uint32_t v = get4(b->qs + 32 * j + 4 * k);
                set4(q + (16 * j + k) * QNR * 4, v & 0x0f0f0f0fu);
                set4(q + (16 * j + 8 + k) * QNR * 4, (v >> 4) & 0x0f0f0f0fu);
            }
        int32_t *sc = (int32_t *)(p + QPK_SC), *sc16 = (int32_t *)(p + QPK_SC16), *cw = (int32_t *)(p + QPK_CW);
        for (int s = 0; s < 8; s++) {
            int32_t d, m;
            scale_min_k4(s, b->scales, &d, &m);
            sc[s * QNR + l] = d;
            sc16[s * QNR + l] = (int32_t)((uint32_t)d | (uint32_t)d << 16);
            cw[s * QNR + l] = (int32_t)((uint32_t)m | (uint32_t)m << 16); /* 16-sums 2s, 2s+1: min of s */
        }
        ((float *)(p + QPK_D))[l] = vg_f16_to_f32(b->d);
        ((float *)(p + QPK_DMIN))[l] = vg_f16_to_f32(b->dmin);
        return true;
    }
    default: return false;
    }
}

void q_pack_panel(vg_dtype t, const qtype_info *ti, const uint8_t *w, size_t rb, int64_t j0, int nr, int64_t nb,
                  uint8_t *dst) {
    const size_t stride = ti->kq ? QPK_STRIDE : QP32_STRIDE, bb = vg_dtype_block_bytes(t);
    const int nquad = ti->blk / 4, len = ti->blk / ti->nsub;
    qw_blk u;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *p = dst + (size_t)b * stride;
        if (nr < QNR) memset(p, 0, stride);
        for (int l = 0; l < nr; l++) {
            const uint8_t *src = w + (size_t)(j0 + l) * rb + (size_t)b * bb;
            if (pack_fast(t, src, p, l)) continue;
            q_unpack(t, src, &u);
            for (int k = 0; k < nquad; k++) put4(p + (size_t)(k * QNR + l) * 4, u.q + 4 * k);
            if (!ti->kq) {
                ((float *)(p + QP32_D))[l] = u.d;
                ((float *)(p + QP32_M))[l] = u.m;
                continue;
            }
            int32_t *sc = (int32_t *)(p + QPK_SC), *sc16 = (int32_t *)(p + QPK_SC16), *cw = (int32_t *)(p + QPK_CW);
            for (int s = 0; s < ti->nsub; s++) {
                sc[s * QNR + l] = u.sc[s];
                sc16[s * QNR + l] = (int32_t)((uint32_t)(uint16_t)u.sc[s] | (uint32_t)(uint16_t)u.sc[s] << 16);
            }
            for (int pr = 0; pr < 8; pr++) {
                int32_t c2[2];
                for (int h = 0; h < 2; h++) {
                    int s = (2 * pr + h) * 16 / len;
                    c2[h] = ti->has_min ? u.mn[s] : -ti->off * u.sc[s];
                }
                cw[pr * QNR + l] = (int32_t)((uint32_t)(uint16_t)c2[0] | (uint32_t)(uint16_t)c2[1] << 16);
            }
            ((float *)(p + QPK_D))[l] = u.d;
            ((float *)(p + QPK_DMIN))[l] = u.m;
        }
    }
}

/* ---- driver ---- */

static const q_path *pick_path(void) {
    int lvl = vg_cpu_level();
    const q_path *p = NULL;
    if (lvl >= 3 && vg_cpu()->avx512vnni) p = q_path_avx512();
    if (!p && lvl >= 2) p = q_path_avx2();
    return p;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void q_matmul_nt(float *c, const float *a, const void *w, vg_dtype wt, const float *bias, int64_t M, int64_t N,
                 int64_t K, bool accumulate) {
    qtype_info ti;
    if (M <= 0 || N <= 0 || !q_args_ok(c, wt, &ti, M, N, K)) return;
    const q_path *p = pick_path();
    if (!p) {
        q_matmul_nt_ref(c, a, w, wt, bias, M, N, K, accumulate);
        return;
    }
    const int64_t nb = K / ti.blk;
    const size_t rb = (size_t)nb * vg_dtype_block_bytes(wt), ab = act_bytes(&ti);
    const size_t pstride = ti.kq ? QPK_STRIDE : QP32_STRIDE, psz = (size_t)nb * pstride;
    const int mr = ti.kq ? p->mrk : p->mr32;
    q_kernel_fn kern = ti.kq ? p->kK : p->k32;
    int nt = 1;
#ifdef _OPENMP
    nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((double)M * N * K < 2e5) nt = 1;
#endif
    /* tasks: weight panels of QNR rows x row chunks of A (several only when panels are few) */
    const int64_t np = (N + QNR - 1) / QNR, mtiles = (M + mr - 1) / mr;
    int64_t mch = np >= 2 * nt ? 1 : min64(mtiles, (2 * nt + np - 1) / np);
    const int64_t mper = (mtiles + mch - 1) / mch * mr;
    mch = (M + mper - 1) / mper;
    uint8_t *act = malloc((size_t)M * (size_t)nb * ab);
    uint8_t *pbuf = aligned_alloc(64, psz * (size_t)nt);
    if (!act || !pbuf) { /* no scratch: stay correct with the reference, which needs one row */
        free(act);
        free(pbuf);
        q_matmul_nt_ref(c, a, w, wt, bias, M, N, K, accumulate);
        return;
    }
    #pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t i = 0; i < M; i++) {
        uint8_t *ar = act + (size_t)i * (size_t)nb * ab;
        if (!ti.kq && p->quant32) p->quant32(a + i * K, (qa_blk *)ar, K);
        else if (ti.kq && p->quantK) p->quantK(a + i * K, (vg_block_q8_K *)ar, K);
        else quant_row(&ti, a + i * K, ar, K);
    }
    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        uint8_t *pn = pbuf + (size_t)tid * psz;
        float acc[8][QNR];
        const void *rows[8];
        float *out[8];
        #pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < np * mch; task++) {
            const int64_t jp = task / mch, m0 = task % mch * mper, m1 = min64(M, m0 + mper);
            const int64_t j0 = jp * QNR;
            const int nr = (int)min64(QNR, N - j0);
            const bool direct = !bias && !accumulate && nr == QNR; /* the kernel stores into C */
            q_pack_panel(wt, &ti, w, rb, j0, nr, nb, pn);
            for (int64_t i0 = m0; i0 < m1; i0 += mr) {
                const int rows_here = (int)min64(mr, m1 - i0);
                for (int r = 0; r < mr; r++) {
                    rows[r] = act + (size_t)(i0 + (r < rows_here ? r : 0)) * (size_t)nb * ab;
                    out[r] = direct && r < rows_here ? c + (i0 + r) * N + j0 : acc[r];
                }
                kern(wt, &ti, nb, pn, rows, out);
                if (direct) continue;
                for (int r = 0; r < rows_here; r++) {
                    float *cr = c + (i0 + r) * N + j0;
                    for (int l = 0; l < nr; l++) put(cr + l, acc[r][l], bias, j0 + l, accumulate);
                }
            }
        }
    }
    free(act);
    free(pbuf);
}

void vg_qmatmul_nt(float *c, const float *a, const void *w, vg_dtype wt, const float *bias, int64_t M, int64_t N,
                   int64_t K) {
    q_matmul_nt(c, a, w, wt, bias, M, N, K, false);
}
