/* ops_ref.c - plain reference twins of the row/elementwise kernels (norm.c, act.c, rope.c):
 * serial loops, double accumulation, textbook formulas (LayerNorm: Ba et al. 2016; RMSNorm:
 * Zhang & Sennrich 2019; GELU tanh: Hendrycks & Gimpel 2016; Wan rope_apply). The kernels
 * in norm.c/act.c/rope.c are checked against these in tests/test_ops.c. */
#include <math.h>
#include "vidgen/ops.h"

void vg_layernorm_ref(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                      int64_t N, int64_t dim, float eps) {
    for (int64_t i = 0; i < N; i++) {
        double m = 0, v = 0;
        for (int64_t j = 0; j < dim; j++) m += x[i * dim + j];
        m /= dim;
        for (int64_t j = 0; j < dim; j++) v += (x[i * dim + j] - m) * (x[i * dim + j] - m);
        double r = 1.0 / sqrt(v / dim + eps);
        for (int64_t j = 0; j < dim; j++)
            out[i * dim + j] = (float)((x[i * dim + j] - m) * r * (w ? w[j] : 1.0) + (b ? b[j] : 0.0));
        if (mean) mean[i] = (float)m;
        if (rstd) rstd[i] = (float)r;
    }
}

/* dx = r/D * (D g - sum g - xhat sum(g xhat)), g = dout*w */
void vg_layernorm_bwd_ref(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                          const float *mean, const float *rstd, int64_t N, int64_t dim) {
    for (int64_t i = 0; i < N; i++) {
        double sg = 0, sgx = 0;
        for (int64_t j = 0; j < dim; j++) {
            double g = dout[i * dim + j] * (w ? w[j] : 1.0), xh = (x[i * dim + j] - mean[i]) * (double)rstd[i];
            sg += g; sgx += g * xh;
            if (dw) dw[j] += (float)(dout[i * dim + j] * xh);
            if (db) db[j] += dout[i * dim + j];
        }
        for (int64_t j = 0; j < dim; j++) {
            double g = dout[i * dim + j] * (w ? w[j] : 1.0), xh = (x[i * dim + j] - mean[i]) * (double)rstd[i];
            dx[i * dim + j] += (float)(rstd[i] * (g - sg / dim - xh * sgx / dim));
        }
    }
}

void vg_rmsnorm_ref(float *out, float *rstd, const float *x, const float *w, int64_t N, int64_t dim, float eps) {
    for (int64_t i = 0; i < N; i++) {
        double s = 0;
        for (int64_t j = 0; j < dim; j++) s += (double)x[i * dim + j] * x[i * dim + j];
        double r = 1.0 / sqrt(s / dim + eps);
        for (int64_t j = 0; j < dim; j++) out[i * dim + j] = (float)(x[i * dim + j] * r * (w ? w[j] : 1.0));
        if (rstd) rstd[i] = (float)r;
    }
}

void vg_rmsnorm_bwd_ref(float *dx, float *dw, const float *dout, const float *x, const float *w,
                        const float *rstd, int64_t N, int64_t dim) {
    for (int64_t i = 0; i < N; i++) {
        double r = rstd[i], s = 0;
        for (int64_t j = 0; j < dim; j++) {
            s += dout[i * dim + j] * (w ? w[j] : 1.0) * x[i * dim + j];
            if (dw) dw[j] += (float)(dout[i * dim + j] * x[i * dim + j] * r);
        }
        for (int64_t j = 0; j < dim; j++)
            dx[i * dim + j] += (float)(r * dout[i * dim + j] * (w ? w[j] : 1.0) - r * r * r * x[i * dim + j] * s / dim);
    }
}

void vg_gelu_tanh_ref(float *out, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        out[i] = (float)(0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v))));
    }
}

void vg_silu_ref(float *out, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = (float)(x[i] / (1.0 + exp(-(double)x[i])));
}

void vg_softmax_ref(float *out, const float *x, int64_t N, int64_t n) {
    for (int64_t i = 0; i < N; i++) {
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < n; j++) if (x[i * n + j] > mx) mx = x[i * n + j];
        for (int64_t j = 0; j < n; j++) s += exp(x[i * n + j] - mx);
        for (int64_t j = 0; j < n; j++) out[i * n + j] = (float)(exp(x[i * n + j] - mx) / s);
    }
}

void vg_modulate_ref(float *out, const float *x, const float *shift, const float *scale, int64_t N, int64_t dim) {
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < dim; j++) out[i * dim + j] = x[i * dim + j] * (1.0f + scale[j]) + shift[j];
}

/* rope as complex multiplication per pair, positions from the token index */
void vg_rope3d_ref(float *x, int64_t F, int64_t Hg, int64_t Wg, int H, int hd, double theta, int64_t f_offset) {
    int c = hd / 2, ch = c / 3, ct = c - 2 * ch;
    for (int64_t l = 0; l < F * Hg * Wg; l++) {
        int64_t pos[3] = {l / (Hg * Wg) + f_offset, (l / Wg) % Hg, l % Wg};
        for (int h = 0; h < H; h++)
            for (int p = 0; p < c; p++) {
                int a = p < ct ? 0 : p < ct + ch ? 1 : 2;
                int j = a == 0 ? p : a == 1 ? p - ct : p - ct - ch;
                int Da = a == 0 ? 2 * ct : 2 * ch;
                double ang = pos[a] * pow(theta, -2.0 * j / Da);
                float *v = x + l * (int64_t)H * hd + (int64_t)h * hd + 2 * p;
                double re = v[0] * cos(ang) - v[1] * sin(ang), im = v[0] * sin(ang) + v[1] * cos(ang);
                v[0] = (float)re; v[1] = (float)im;
            }
    }
}

void vg_colsum_grad_ref(float *sum_g, float *sum_gx, const float *g, const float *x, const float *sub,
                        const float *scale, int64_t N, int64_t dim) {
    for (int64_t j = 0; j < dim; j++) {
        double sg = 0, sx = 0;
        for (int64_t i = 0; i < N; i++) {
            sg += g[i * dim + j];
            if (sum_gx) sx += (double)g[i * dim + j] * (x[i * dim + j] - (sub ? sub[i] : 0.0f)) * (scale ? scale[i] : 1.0);
        }
        if (sum_g) sum_g[j] += (float)sg;
        if (sum_gx) sum_gx[j] += (float)sx;
    }
}
