/* patch.c - patchify / unpatchify between a clip [C, F, H, W] and frame-major tokens
 * [F*Hg*Wg, C*ph*pw] (Wan: patch_embedding Conv3d order, and the head's unpatchify order).
 * Both are the same permutation, walked in opposite directions. */
#include "vidgen/ops.h"

static void permute(float *tok, float *x, int to_tokens, int64_t C, int64_t F, int64_t H, int64_t W, int ph, int pw, int chlast) {
    int64_t Hg = H / ph, Wg = W / pw, P = C * ph * pw;
    #pragma omp parallel for schedule(static) if (F * Hg * Wg * P > VG_PAR_MIN)
    for (int64_t l = 0; l < F * Hg * Wg; l++) {
        int64_t f = l / (Hg * Wg), hi = (l / Wg) % Hg, wi = l % Wg;
        for (int64_t c = 0; c < C; c++)
            for (int q = 0; q < ph; q++)
                for (int r = 0; r < pw; r++) {
                    int64_t ft = chlast ? ((int64_t)q * pw + r) * C + c : (c * ph + q) * pw + r;
                    int64_t xi = ((c * F + f) * H + hi * ph + q) * W + wi * pw + r;
                    if (to_tokens) tok[l * P + ft] = x[xi];
                    else x[xi] = tok[l * P + ft];
                }
    }
}

void vg_patchify(float *tok, const float *x, int64_t C, int64_t F, int64_t H, int64_t W, int ph, int pw, int chlast) {
    permute(tok, (float *)x, 1, C, F, H, W, ph, pw, chlast); /* x is only read when to_tokens */
}

void vg_unpatchify(float *x, const float *tok, int64_t C, int64_t F, int64_t H, int64_t W, int ph, int pw, int chlast) {
    permute((float *)tok, x, 0, C, F, H, W, ph, pw, chlast); /* tok is only read */
}
