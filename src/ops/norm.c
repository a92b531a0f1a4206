/* norm.c - LayerNorm and RMSNorm over the last dim, forward and backward.
 * Reference: torch.nn.functional.layer_norm; Wan's WanRMSNorm / T5LayerNorm (wan/modules/model.py, t5.py).
 * x [N, dim]. Row statistics in double; dx is parallel over rows, dw/db over columns
 * (each column summed over rows in order), so results do not depend on the thread count. */
#include <math.h>
#include <stddef.h>
#include "vidgen/ops.h"

void vg_layernorm(float *out, float *mean, float *rstd, const float *x, const float *w,
                  const float *b, int64_t N, int64_t dim, float eps) {
    #pragma omp parallel for schedule(static) if (N * dim > VG_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * dim;
        double s = 0, s2 = 0;
        for (int64_t j = 0; j < dim; j++) s += xi[j];
        double m = s / dim;
        for (int64_t j = 0; j < dim; j++) { double d = xi[j] - m; s2 += d * d; }
        float r = (float)(1.0 / sqrt(s2 / dim + eps)), mf = (float)m;
        float *oi = out + i * dim;
        for (int64_t j = 0; j < dim; j++) {
            float y = (xi[j] - mf) * r;
            if (w) y *= w[j];
            if (b) y += b[j];
            oi[j] = y;
        }
        if (mean) mean[i] = mf;
        if (rstd) rstd[i] = r;
    }
}

void vg_colsum_grad(float *sum_g, float *sum_gx, const float *g, const float *x, const float *sub,
                    const float *scale, int64_t N, int64_t dim) {
    #pragma omp parallel for schedule(static) if (N * dim > VG_PAR_MIN)
    for (int64_t j0 = 0; j0 < dim; j0 += VG_COLBLK) {
        int64_t nb = dim - j0 < VG_COLBLK ? dim - j0 : VG_COLBLK;
        double sg[VG_COLBLK] = {0}, sx[VG_COLBLK] = {0};
        for (int64_t i = 0; i < N; i++) {
            const float *gi = g + i * dim + j0;
            if (sum_g)
                for (int64_t j = 0; j < nb; j++) sg[j] += gi[j];
            if (sum_gx) { /* x - 0 and t * 1 are exact: the optional terms cost no rounding */
                const float *xi = x + i * dim + j0;
                float m = sub ? sub[i] : 0.0f;
                double r = scale ? scale[i] : 1.0;
                for (int64_t j = 0; j < nb; j++) sx[j] += (double)gi[j] * (xi[j] - m) * r;
            }
        }
        for (int64_t j = 0; j < nb; j++) {
            if (sum_g) sum_g[j0 + j] += (float)sg[j];
            if (sum_gx) sum_gx[j0 + j] += (float)sx[j];
        }
    }
}

void vg_layernorm_bwd(float *dx, float *dw, float *db, const float *dout, const float *x,
                      const float *w, const float *mean, const float *rstd, int64_t N, int64_t dim) {
    #pragma omp parallel for schedule(static) if (N * dim > VG_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * dim, *gi = dout + i * dim;
        float m = mean[i], r = rstd[i];
        double sg = 0, sgx = 0; /* mean of g and of g*xhat, g = dout*w */
        for (int64_t j = 0; j < dim; j++) {
            float g = w ? gi[j] * w[j] : gi[j], xh = (xi[j] - m) * r;
            sg += g; sgx += (double)g * xh;
        }
        float a = (float)(sg / dim), c = (float)(sgx / dim);
        float *di = dx + i * dim;
        for (int64_t j = 0; j < dim; j++) {
            float g = w ? gi[j] * w[j] : gi[j], xh = (xi[j] - m) * r;
            di[j] += r * (g - a - xh * c);
        }
    }
    if (dw || db) vg_colsum_grad(db, dw, dout, x, mean, rstd, N, dim);
}

void vg_rmsnorm(float *out, float *rstd, const float *x, const float *w, int64_t N, int64_t dim, float eps) {
    #pragma omp parallel for schedule(static) if (N * dim > VG_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * dim;
        double s2 = 0;
        for (int64_t j = 0; j < dim; j++) s2 += (double)xi[j] * xi[j];
        float r = (float)(1.0 / sqrt(s2 / dim + eps));
        float *oi = out + i * dim;
        for (int64_t j = 0; j < dim; j++) oi[j] = w ? xi[j] * r * w[j] : xi[j] * r;
        if (rstd) rstd[i] = r;
    }
}

void vg_rmsnorm_bwd(float *dx, float *dw, const float *dout, const float *x, const float *w,
                    const float *rstd, int64_t N, int64_t dim) {
    #pragma omp parallel for schedule(static) if (N * dim > VG_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * dim, *gi = dout + i * dim;
        float r = rstd[i];
        double s = 0;
        for (int64_t j = 0; j < dim; j++) s += (double)(w ? gi[j] * w[j] : gi[j]) * xi[j];
        float c = (float)(s / dim) * r * r;
        float *di = dx + i * dim;
        for (int64_t j = 0; j < dim; j++) di[j] += r * ((w ? gi[j] * w[j] : gi[j]) - xi[j] * c);
    }
    if (dw) vg_colsum_grad(NULL, dw, dout, x, NULL, rstd, N, dim);
}

void vg_softmax(float *out, const float *x, int64_t N, int64_t n) {
    #pragma omp parallel for schedule(static) if (N * n > VG_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * n;
        float *oi = out + i * n, mx = -INFINITY;
        for (int64_t j = 0; j < n; j++) if (xi[j] > mx) mx = xi[j];
        double s = 0;
        for (int64_t j = 0; j < n; j++) { oi[j] = expf(xi[j] - mx); s += oi[j]; }
        float inv = (float)(1.0 / s);
        for (int64_t j = 0; j < n; j++) oi[j] *= inv;
    }
}
