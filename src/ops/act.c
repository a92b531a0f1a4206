/* act.c - GELU (tanh approximation, torch approximate='tanh'), SiLU, adaLN modulation.
 * Elementwise: parallel over elements; modulation's parameter grads over columns. */
#include <math.h>
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

void vg_gelu_tanh(float *out, const float *x, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > VG_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanh_fast(GELU_C * (v + 0.044715f * v * v * v)));
    }
}

void vg_gelu_tanh_bwd(float *dx, const float *dout, const float *x, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > VG_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], u = GELU_C * (v + 0.044715f * v * v * v), t = tanh_fast(u);
        float du = GELU_C * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
}

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
