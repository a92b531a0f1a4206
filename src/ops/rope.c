/* rope.c - Wan's 3D rotary position embedding (wan/modules/model.py: rope_params, rope_apply).
 * Per head of hd dims: 64 complex pairs for hd=128; pairs [0,ct) temporal, [ct,ct+ch) height,
 * [ct+ch, hd/2) width; ct = c - 2*(c/3), ch = cw = c/3, c = hd/2. Pair j of an axis with
 * sub-dimension D_a = 2*count rotates by pos * theta^(-2j/D_a). Angles and the rotation
 * are computed in double (the official code uses complex128). x [N, H*hd], N = F*Hg*Wg. */
#include <math.h>
#include <stdlib.h>
#include "vidgen/ops.h"

static void rope_apply(float *x, int64_t F, int64_t Hg, int64_t Wg, int H, int hd, double theta,
                       int64_t f_off, double sign) {
    int c = hd / 2, ch = c / 3, ct = c - 2 * ch;
    int64_t N = F * Hg * Wg, D = (int64_t)H * hd;
    /* per-pair frequency and axis */
    double om[512];
    int ax[512];
    for (int p = 0; p < c && p < 512; p++) {
        int j, Da, a;
        if (p < ct) { j = p; Da = 2 * ct; a = 0; }
        else if (p < ct + ch) { j = p - ct; Da = 2 * ch; a = 1; }
        else { j = p - ct - ch; Da = 2 * ch; a = 2; }
        om[p] = pow(theta, -2.0 * j / Da);
        ax[p] = a;
    }
    /* cos/sin of every (axis position, pair) once: a token's pair p takes row pos[ax[p]] of its
     * axis table (the same double values as computing cos(pos * om) per token, which cost 4% of
     * a generation step in libm). Tables: time F x c, height Hg x c, width Wg x c. */
    const int64_t n_ax[3] = {F, Hg, Wg};
    double *tab = malloc(sizeof(double) * 2 * (size_t)c * (size_t)(F + Hg + Wg));
    double *cs_ax[3], *sn_ax[3];
    if (tab) {
        double *t = tab;
        for (int a = 0; a < 3; a++) {
            cs_ax[a] = t; sn_ax[a] = t + n_ax[a] * c; t += 2 * n_ax[a] * c;
            const int64_t off = a == 0 ? f_off : 0;
            for (int64_t i = 0; i < n_ax[a]; i++)
                for (int p = 0; p < c; p++) {
                    if (ax[p] != a) continue;
                    double ang = (double)(i + off) * om[p];
                    cs_ax[a][i * c + p] = cos(ang);
                    sn_ax[a][i * c + p] = sign * sin(ang);
                }
        }
    }
    #pragma omp parallel for schedule(static) if (N * D > VG_PAR_MIN)
    for (int64_t l = 0; l < N; l++) {
        int64_t pos[3] = {l / (Hg * Wg) + f_off, (l / Wg) % Hg, l % Wg};
        double cs[512], sn[512];
        for (int p = 0; p < c; p++) {
            if (tab) {
                int64_t i = pos[ax[p]] - (ax[p] == 0 ? f_off : 0);
                cs[p] = cs_ax[ax[p]][i * c + p];
                sn[p] = sn_ax[ax[p]][i * c + p];
            } else { /* no memory for the tables: per token, same values */
                double a = (double)pos[ax[p]] * om[p];
                cs[p] = cos(a); sn[p] = sign * sin(a);
            }
        }
        for (int h = 0; h < H; h++) {
            float *xh = x + l * D + (int64_t)h * hd;
            for (int p = 0; p < c; p++) {
                double x0 = xh[2 * p], x1 = xh[2 * p + 1];
                xh[2 * p] = (float)(x0 * cs[p] - x1 * sn[p]);
                xh[2 * p + 1] = (float)(x0 * sn[p] + x1 * cs[p]);
            }
        }
    }
    free(tab);
}

void vg_rope3d(float *x, int64_t F, int64_t Hg, int64_t Wg, int H, int hd, double theta, int64_t f_offset) {
    rope_apply(x, F, Hg, Wg, H, hd, theta, f_offset, 1.0);
}

void vg_rope3d_bwd(float *dx, int64_t F, int64_t Hg, int64_t Wg, int H, int hd, double theta, int64_t f_offset) {
    rope_apply(dx, F, Hg, Wg, H, hd, theta, f_offset, -1.0);
}
