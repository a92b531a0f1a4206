/* gemm.c - matrix products for Linear layers. See include/vidgen/gemm.h.
 * _ref: plain loops, f32 sums in index order; the fast paths are checked against them
 * in tests/test_gemm.c. Fast: BLIS-style blocking (Goto & van de Geijn, "Anatomy of
 * high-performance matrix multiplication", 2008): k blocks of kc, packed panels, register
 * tiles from gemm_avx512.c / gemm_avx2.c / the scalar kernel here, chosen by vg_cpu_level().
 * Threads split C into row or column stripes only, never k (determinism). */
#include <stdlib.h>
#include "vidgen/gemm.h"
#include "ops/gemm_internal.h"
#include "ops/quant_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static inline float wload(const void *w, vg_dtype wt, int64_t i) {
    switch (wt) {
    case VG_DTYPE_F16: return vg_f16_to_f32(((const uint16_t *)w)[i]);
    case VG_DTYPE_BF16: return vg_bf16_to_f32(((const uint16_t *)w)[i]);
    default: return ((const float *)w)[i];
    }
}

void vg_matmul_nt_ref(float *c, const float *a, const void *w, vg_dtype wt, const float *bias,
                      int64_t M, int64_t N, int64_t K, bool accumulate) {
    if (vg_dtype_is_quant(wt)) { /* block-quantized weights: quant_ref.c */
        q_matmul_nt_ref(c, a, w, wt, bias, M, N, K, accumulate);
        return;
    }
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = bias ? bias[j] : 0.0f;
            for (int64_t k = 0; k < K; k++) s += a[i * K + k] * wload(w, wt, j * K + k);
            c[i * N + j] = accumulate ? c[i * N + j] + s : s;
        }
}

void vg_matmul_nn_ref(float *c, const float *a, const float *w, int64_t M, int64_t N, int64_t K,
                      bool accumulate) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t k = 0; k < K; k++) {
            float s = 0.0f;
            for (int64_t j = 0; j < N; j++) s += a[i * N + j] * w[j * K + k];
            c[i * K + k] = accumulate ? c[i * K + k] + s : s;
        }
}

void vg_matmul_tn_ref(float *c, const float *a, const float *b, int64_t M, int64_t N, int64_t K) {
    for (int64_t j = 0; j < N; j++)
        for (int64_t k = 0; k < K; k++) {
            float s = 0.0f;
            for (int64_t i = 0; i < M; i++) s += a[i * N + j] * b[i * K + k];
            c[j * K + k] += s;
        }
}

/* ---- scalar path: generic packing (also used by the AVX2 path) and a 4x8 kernel ---- */

static inline float src_at(const gemm_src *s, int64_t x, int64_t k) {
    int64_t i = s->kmajor ? k * s->ld + x : x * s->ld + k;
    return wload(s->p, s->dt, i);
}

void gemm_pack_generic(void *dst_, int w, const gemm_src *s, int64_t x0, int64_t nx, int64_t k0,
                         int64_t kc) {
    float *dst = dst_;
    if (s->kmajor && s->dt == VG_DTYPE_F32) {
        const float *p = (const float *)s->p + k0 * s->ld + x0;
        for (int64_t k = 0; k < kc; k++, p += s->ld, dst += w) {
            int x = 0;
            for (; x < nx; x++) dst[x] = p[x];
            for (; x < w; x++) dst[x] = 0.0f;
        }
        return;
    }
    for (int64_t k = 0; k < kc; k++)
        for (int x = 0; x < w; x++) dst[k * w + x] = x < nx ? src_at(s, x0 + x, k0 + k) : 0.0f;
}

enum { S_MR = 4, S_NR = 8 };

static void kernel_scalar(int64_t kc, const void *ap_, const void *bp_, float *c, int64_t ldc, int mr,
                          int nr, const float *bias, bool load_c) {
    const float *ap = ap_, *bp = bp_;
    float acc[S_MR][S_NR];
    for (int r = 0; r < S_MR; r++)
        for (int j = 0; j < S_NR; j++) {
            float v = (load_c && r < mr && j < nr) ? c[r * ldc + j] : 0.0f;
            acc[r][j] = (bias && j < nr) ? v + bias[j] : v;
        }
    for (int64_t k = 0; k < kc; k++, ap += S_MR, bp += S_NR)
        for (int r = 0; r < S_MR; r++)
            for (int j = 0; j < S_NR; j++) acc[r][j] += ap[r] * bp[j];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) c[r * ldc + j] = acc[r][j];
}

static const gemm_path path_scalar = {S_MR, S_NR, 256, 512, 1, gemm_pack_generic, gemm_pack_generic, kernel_scalar, 4, 4};

/* ---- driver ---- */

enum { MC_MAX = 4096 };

typedef struct {
    const gemm_path *p;
    float *c;
    int64_t ldc, M, N, K;
    gemm_src x, y;
    const float *bias;
    bool accumulate;
} gemm_job;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

/* One thread's stripe C[m0:m1, n0:n1], serially. xbuf holds mcap rows x kc, ybuf nc x kc. */
static void gemm_stripe(const gemm_job *j, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t mcap,
                        char *xbuf, char *ybuf) {
    const gemm_path *p = j->p;
    const size_t xb = (size_t)p->xbytes, yb = (size_t)p->ybytes;
    for (int64_t pc = 0; pc < j->K; pc += p->kc) {
        int64_t kc = min64(p->kc, j->K - pc), kcp = round_up(kc, p->kpair);
        bool first = pc == 0;
        for (int64_t ic = m0; ic < m1; ic += mcap) {
            int64_t mc = min64(mcap, m1 - ic);
            for (int64_t ir = 0; ir < mc; ir += p->mr)
                p->pack_x(xbuf + (size_t)(ir * kcp) * xb, p->mr, &j->x, ic + ir, min64(p->mr, mc - ir), pc, kc);
            for (int64_t jc = n0; jc < n1; jc += p->nc) {
                int64_t nc = min64(p->nc, n1 - jc);
                for (int64_t jr = 0; jr < nc; jr += p->nr)
                    p->pack_y(ybuf + (size_t)(jr * kcp) * yb, p->nr, &j->y, jc + jr, min64(p->nr, nc - jr), pc, kc);
                for (int64_t ir = 0; ir < mc; ir += p->mr)
                    for (int64_t jr = 0; jr < nc; jr += p->nr) {
                        float *ct = j->c + (ic + ir) * j->ldc + jc + jr;
                        const float *b = (first && j->bias) ? j->bias + jc + jr : NULL;
                        p->kernel(kc, xbuf + (size_t)(ir * kcp) * xb, ybuf + (size_t)(jr * kcp) * yb, ct, j->ldc,
                                  (int)min64(p->mr, mc - ir), (int)min64(p->nr, nc - jr), b,
                                  first ? j->accumulate : true);
                    }
            }
        }
    }
}

static void gemm_run(gemm_job *j) {
    const gemm_path *p = j->p;
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
    if (omp_in_parallel()) nt = 1;
    if ((double)j->M * j->N * j->K < 2e5) nt = 1;
#endif
    /* stripes: rows when there are enough row tiles, else columns (in tile units) */
    int64_t mt = (j->M + p->mr - 1) / p->mr, ntl = (j->N + p->nr - 1) / p->nr;
    bool by_rows = mt >= 4 * (int64_t)nt || mt >= ntl;
    int64_t tiles = by_rows ? mt : ntl;
    if (nt > tiles) nt = (int)tiles;
    if (nt < 1) nt = 1;
    int64_t per = (tiles + nt - 1) / nt;
    int64_t stripe_m = by_rows ? per * p->mr : j->M;
    int64_t mcap = round_up(min64(stripe_m, MC_MAX), p->mr);
    size_t xsz = round_up((int64_t)(mcap * round_up(p->kc, p->kpair) * p->xbytes), 64);
    size_t ysz = round_up((int64_t)(round_up(p->nc, p->nr) * round_up(p->kc, p->kpair) * p->ybytes), 64);
    char *buf = aligned_alloc(64, (xsz + ysz) * (size_t)nt);
    if (!buf) { /* no scratch: stay correct, single-threaded reference */
        j->p = NULL;
        return;
    }
    #pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int t = 0; t < nt; t++) {
        int64_t a = t * per, b = min64(tiles, a + per);
        if (a >= b) continue;
        char *xb = buf + (size_t)t * (xsz + ysz), *yb = xb + xsz;
        if (by_rows)
            gemm_stripe(j, a * p->mr, min64(j->M, b * p->mr), 0, j->N, mcap, xb, yb);
        else
            gemm_stripe(j, 0, j->M, a * p->nr, min64(j->N, b * p->nr), mcap, xb, yb);
    }
    free(buf);
}

static int g_bf16_mode = -1;
void gemm_set_bf16_products(int mode) { g_bf16_mode = mode; }

bool gemm_bf16_products(void) {
    if (vg_cpu_level() < 3 || !vg_cpu()->avx512bf16 || !gemm_path_avx512_bf16()) return false;
    if (g_bf16_mode >= 0) return g_bf16_mode == 1;
    static int amd = -1;
    if (amd < 0) {
        amd = 0;
#if defined(__x86_64__) && defined(__GNUC__)
        unsigned a, b, c, d;
        __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
        amd = b == 0x68747541u; /* "Auth"enticAMD */
#endif
    }
    return amd == 1;
}

static bool g_f32_amx;
bool vg_gemm_f32_amx(bool on) { bool was = g_f32_amx; g_f32_amx = on; return was; }

static bool g_bf16_ops;
bool vg_gemm_bf16_available(void) {
    return vg_cpu_level() >= 3 && vg_cpu()->avx512bf16 && gemm_path_avx512_bf16() != NULL;
}
bool vg_gemm_bf16(bool on) { bool was = g_bf16_ops; g_bf16_ops = on; return was; }
bool vg_gemm_bf16_on(void) { return g_bf16_ops; }

/* The path for this level and weight dtype. */
static const gemm_path *pick(vg_dtype ydt) {
    int lvl = vg_cpu_level();
    const gemm_path *p = NULL;
    if (lvl >= 4 && (ydt != VG_DTYPE_F32 || g_f32_amx)) p = gemm_path_amx(ydt);
    if (!p && ydt == VG_DTYPE_BF16 && gemm_bf16_products()) p = gemm_path_avx512_bf16();
    if (!p && g_bf16_ops && (ydt == VG_DTYPE_F32 || ydt == VG_DTYPE_BF16 || ydt == VG_DTYPE_F16) &&
        vg_gemm_bf16_available())
        p = gemm_path_avx512_bf16();
    if (!p && lvl >= 3) p = gemm_path_avx512();
    if (!p && lvl >= 2) p = gemm_path_avx2();
    return p ? p : &path_scalar;
}

void vg_matmul_nt(float *c, const float *a, const void *w, vg_dtype wt, const float *bias,
                  int64_t M, int64_t N, int64_t K, bool accumulate) {
    if (M <= 0 || N <= 0) return;
    if (vg_dtype_is_quant(wt)) { /* block-quantized weights: int8 products, quant_ref.c */
        q_matmul_nt(c, a, w, wt, bias, M, N, K, accumulate);
        return;
    }
    gemm_job j = {pick(wt), c, N, M, N, K, {a, VG_DTYPE_F32, K, false}, {w, wt, K, false}, bias, accumulate};
    if (K > 0) gemm_run(&j);
    if (K <= 0 || !j.p) vg_matmul_nt_ref(c, a, w, wt, bias, M, N, K, accumulate);
}

void vg_matmul_nn(float *c, const float *a, const float *w, int64_t M, int64_t N, int64_t K,
                  bool accumulate) {
    if (M <= 0 || K <= 0) return;
    gemm_job j = {pick(VG_DTYPE_F32), c, K, M, K, N, {a, VG_DTYPE_F32, N, false}, {w, VG_DTYPE_F32, K, true},
                  NULL, accumulate};
    if (N > 0) gemm_run(&j);
    if (N <= 0 || !j.p) vg_matmul_nn_ref(c, a, w, M, N, K, accumulate);
}

void vg_matmul_tn(float *c, const float *a, const float *b, int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0 || K <= 0) return;
    gemm_job j = {pick(VG_DTYPE_F32), c, K, N, K, M, {a, VG_DTYPE_F32, N, true}, {b, VG_DTYPE_F32, K, true},
                  NULL, true};
    gemm_run(&j);
    if (!j.p) vg_matmul_tn_ref(c, a, b, M, N, K);
}
