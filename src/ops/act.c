/* act.c - GELU (tanh approximation, torch approximate='tanh'), SiLU, adaLN modulation.
 * Elementwise: parallel over elements; modulation's parameter grads over columns. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include "vidgen/ops.h"

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */

/* tanh(u) = sign(u) (1 - e) / (1 + e) with e = exp(-2|u|), |u| capped at 40 (tanh is 1 in
 * float long before). exp by range reduction -2|u| = k ln2 + r (|r| <= ln2/2, k rounded with
 * the 1.5*2^23 trick) and a degree-6 Taylor polynomial (relative error < 3e-8); 2^k is built in
 * the exponent bits. Branch-free, so the callers' loops vectorise (no libm call). Measured
 * against tanhf: see ops_gelu_fast_vs_libm in tests/test_ops.c. */
static inline float tanh_fast(float u) {
    float a = fabsf(u);
    a = a < 40.0f ? a : 40.0f;
    float y = -2.0f * a;
    float kf = (y * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    int32_t k = (int32_t)kf;
    float r = (y - kf * 0.693359375f) - kf * -2.12194440e-4f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    union { int32_t i; float f; } b = {.i = (k + 127) << 23};
    float e = p * b.f;
    return copysignf((1.0f - e) / (1.0f + e), u);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "vidgen/gemm.h" /* vg_cpu_level */
#define T2 __attribute__((target("avx2,fma")))
/* tanh_fast on 8 lanes, operation for operation (separate multiplies and adds, no FMA: the
 * scalar code is compiled with -std=c11, which does not contract), so each lane is
 * bit-identical to tanh_fast (test ops_gelu_avx2_equals_scalar). gcc does not vectorise the
 * scalar loop (float->int conversion and the exponent bits), which cost 16% of a training
 * step on an AVX2-only machine. */
static inline T2 __m256 tanh8(__m256 u) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(sign, u);
    a = _mm256_min_ps(a, _mm256_set1_ps(40.0f)); /* a < 40 ? a : 40 (NaN -> 40, as the scalar) */
    __m256 y = _mm256_mul_ps(_mm256_set1_ps(-2.0f), a);
    const __m256 big = _mm256_set1_ps(12582912.0f);
    __m256 kf = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(y, _mm256_set1_ps(1.44269504088896341f)), big), big);
    __m256i k = _mm256_cvttps_epi32(kf);
    __m256 r = _mm256_sub_ps(_mm256_sub_ps(y, _mm256_mul_ps(kf, _mm256_set1_ps(0.693359375f))),
                             _mm256_mul_ps(kf, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 p = _mm256_add_ps(_mm256_set1_ps(1.0f / 120), _mm256_mul_ps(r, _mm256_set1_ps(1.0f / 720)));
    p = _mm256_add_ps(_mm256_set1_ps(1.0f / 24), _mm256_mul_ps(r, p));
    p = _mm256_add_ps(_mm256_set1_ps(1.0f / 6), _mm256_mul_ps(r, p));
    p = _mm256_add_ps(_mm256_set1_ps(0.5f), _mm256_mul_ps(r, p));
    p = _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(r, p));
    p = _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(r, p));
    __m256 b = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
    __m256 e = _mm256_mul_ps(p, b);
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    return _mm256_or_ps(_mm256_andnot_ps(sign, t), _mm256_and_ps(sign, u));
}

/* GELU_C * (v + 0.044715 v^3), in the scalar's order */
static inline T2 __m256 gelu_arg8(__m256 v) {
    __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), v), v), v);
    return _mm256_mul_ps(_mm256_set1_ps(GELU_C), _mm256_add_ps(v, v3));
}

static T2 void gelu_fwd8(float *out, const float *x, int64_t n) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 t = tanh8(gelu_arg8(v));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, t)));
    }
}

static T2 void gelu_bwd8(float *dx, const float *dout, const float *x, int64_t n) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 c3 = _mm256_set1_ps(3.0f * 0.044715f), gc = _mm256_set1_ps(GELU_C);
    for (int64_t i = 0; i < n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 t = tanh8(gelu_arg8(v));
        __m256 du = _mm256_mul_ps(gc, _mm256_add_ps(one, _mm256_mul_ps(_mm256_mul_ps(c3, v), v)));
        __m256 g = _mm256_add_ps(_mm256_mul_ps(half, _mm256_add_ps(one, t)),
                                 _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_sub_ps(one, _mm256_mul_ps(t, t))), du));
        _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), _mm256_mul_ps(_mm256_loadu_ps(dout + i), g)));
    }
}
#define HAVE_GELU8 1
#endif

/* Elements [i0, i1) with the scalar formula. */
static void gelu_fwd1(float *out, const float *x, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanh_fast(GELU_C * (v + 0.044715f * v * v * v)));
    }
}

static void gelu_bwd1(float *dx, const float *dout, const float *x, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
        float v = x[i], u = GELU_C * (v + 0.044715f * v * v * v), t = tanh_fast(u);
        float du = GELU_C * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
}

/* Work is split in blocks of GELU_BLK elements (a multiple of 8); each block is done by the
 * 8-lane code (level >= 2) up to its last multiple of 8, then the scalar code. */
enum { GELU_BLK = 4096 };

/* Forward (dout NULL: y = gelu(x)) or backward (y = dx += dout * gelu'(x)) over n elements. */
static void gelu_run(float *y, const float *dout, const float *x, int64_t n) {
    const int64_t nb = (n + GELU_BLK - 1) / GELU_BLK;
#ifdef HAVE_GELU8
    const bool v8 = vg_cpu_level() >= 2;
#else
    const bool v8 = false;
#endif
    #pragma omp parallel for schedule(static) if (n > VG_PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * GELU_BLK, i1 = i0 + GELU_BLK < n ? i0 + GELU_BLK : n, m = i0;
#ifdef HAVE_GELU8
        if (v8) {
            m = i0 + (i1 - i0) / 8 * 8;
            if (dout) gelu_bwd8(y + i0, dout + i0, x + i0, m - i0);
            else gelu_fwd8(y + i0, x + i0, m - i0);
        }
#endif
        if (dout) gelu_bwd1(y, dout, x, m, i1);
        else gelu_fwd1(y, x, m, i1);
    }
    (void)v8;
}

void vg_gelu_tanh(float *out, const float *x, int64_t n) { gelu_run(out, NULL, x, n); }

void vg_gelu_tanh_bwd(float *dx, const float *dout, const float *x, int64_t n) { gelu_run(dx, dout, x, n); }

void vg_silu(float *out, const float *x, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > VG_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = x[i] / (1.0f + expf(-x[i]));
}

void vg_silu_bwd(float *dx, const float *dout, const float *x, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > VG_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-x[i]));
        dx[i] += dout[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

void vg_modulate(float *out, const float *x, const float *shift, const float *scale, int64_t N, int64_t dim) {
    #pragma omp parallel for schedule(static) if (N * dim > VG_PAR_MIN)
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < dim; j++) out[i * dim + j] = x[i * dim + j] * (1.0f + scale[j]) + shift[j];
}

void vg_modulate_bwd(float *dx, float *dshift, float *dscale, const float *dout, const float *x,
                     const float *scale, int64_t N, int64_t dim) {
    if (dx) {
        #pragma omp parallel for schedule(static) if (N * dim > VG_PAR_MIN)
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < dim; j++) dx[i * dim + j] += dout[i * dim + j] * (1.0f + scale[j]);
    }
    if (dshift || dscale) vg_colsum_grad(dshift, dscale, dout, x, NULL, NULL, N, dim);
}
