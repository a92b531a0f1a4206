/* act.c - GELU (tanh approximation, torch approximate='tanh'), SiLU, adaLN modulation.
 * Elementwise: parallel over elements; modulation's parameter grads over columns. */
#include <math.h>
#include "vidgen/ops.h"

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */

void vg_gelu_tanh(float *out, const float *x, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > VG_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanhf(GELU_C * (v + 0.044715f * v * v * v)));
    }
}

void vg_gelu_tanh_bwd(float *dx, const float *dout, const float *x, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > VG_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], u = GELU_C * (v + 0.044715f * v * v * v), t = tanhf(u);
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
    #pragma omp parallel for schedule(static) if (N * dim > VG_PAR_MIN)
    for (int64_t j = 0; j < dim; j++) {
        double ss = 0, sc = 0;
        for (int64_t i = 0; i < N; i++) { ss += dout[i * dim + j]; sc += (double)dout[i * dim + j] * x[i * dim + j]; }
        if (dshift) dshift[j] += (float)ss;
        if (dscale) dscale[j] += (float)sc;
    }
}
