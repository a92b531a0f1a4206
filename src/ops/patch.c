/* patch.c - patchify / unpatchify between a clip [C, F, H, W] and frame-major tokens
 * [F*Hg*Wg, C*ph*pw] (Wan: patch_embedding Conv3d order, and the head's unpatchify order). */
#include "vidgen/ops.h"

static inline int64_t feat(int64_t c, int q, int r, int64_t C, int ph, int pw, int chlast) {
    return chlast ? ((int64_t)q * pw + r) * C + c : (c * ph + q) * pw + r;
}

void vg_patchify(float *tok, const float *x, int64_t C, int64_t F, int64_t H, int64_t W, int ph, int pw, int chlast) {
    int64_t Hg = H / ph, Wg = W / pw, P = C * ph * pw;
    #pragma omp parallel for schedule(static)
    for (int64_t l = 0; l < F * Hg * Wg; l++) {
        int64_t f = l / (Hg * Wg), hi = (l / Wg) % Hg, wi = l % Wg;
        for (int64_t c = 0; c < C; c++)
            for (int q = 0; q < ph; q++)
                for (int r = 0; r < pw; r++)
                    tok[l * P + feat(c, q, r, C, ph, pw, chlast)] = x[((c * F + f) * H + hi * ph + q) * W + wi * pw + r];
    }
}

void vg_unpatchify(float *x, const float *tok, int64_t C, int64_t F, int64_t H, int64_t W, int ph, int pw, int chlast) {
    int64_t Hg = H / ph, Wg = W / pw, P = C * ph * pw;
    #pragma omp parallel for schedule(static)
    for (int64_t l = 0; l < F * Hg * Wg; l++) {
        int64_t f = l / (Hg * Wg), hi = (l / Wg) % Hg, wi = l % Wg;
        for (int64_t c = 0; c < C; c++)
            for (int q = 0; q < ph; q++)
                for (int r = 0; r < pw; r++)
                    x[((c * F + f) * H + hi * ph + q) * W + wi * pw + r] = tok[l * P + feat(c, q, r, C, ph, pw, chlast)];
    }
}
