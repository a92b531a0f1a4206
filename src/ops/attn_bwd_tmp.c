/* attn_bwd_tmp.c - plain attention backward (replaced by the tiled version in attn.c when it lands).
 * Per head and query: P from q,k,lse; dV += P^T dO; dS = P*(dP - D); dQ = s dS K; dK += s dS^T Q. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/attn.h"

void vg_attn_bwd_ref(float *dq, float *dk, float *dv, const float *dout, const float *out,
                     const float *lse, const float *q, const float *k, const float *v,
                     const vg_attn_shape *s) {
    int64_t D = (int64_t)s->H * s->hd;
    memset(dq, 0, sizeof(float) * s->Lq * D);
    memset(dk, 0, sizeof(float) * s->Lk * D);
    memset(dv, 0, sizeof(float) * s->Lk * D);
    double *p = malloc(sizeof(double) * (size_t)s->Lk);
    for (int h = 0; h < s->H; h++)
        for (int64_t i = 0; i < s->Lq; i++) {
            int64_t k0 = 0, k1 = s->Lk;
            if (s->window >= 0) {
                int64_t f = i / s->S, F = s->Lk / s->S;
                int64_t f0 = f - s->window < 0 ? 0 : f - s->window, f1 = f + s->window >= F ? F - 1 : f + s->window;
                k0 = f0 * s->S; k1 = (f1 + 1) * s->S;
            }
            int64_t ho = (int64_t)h * s->hd;
            const float *qi = q + i * D + ho, *doi = dout + i * D + ho, *oi = out + i * D + ho;
            double Di = 0;
            for (int c = 0; c < s->hd; c++) Di += (double)doi[c] * oi[c];
            for (int64_t j = k0; j < k1; j++) {
                double d = 0;
                for (int c = 0; c < s->hd; c++) d += (double)qi[c] * k[j * D + ho + c];
                p[j] = exp(d * s->scale - lse[(int64_t)h * s->Lq + i]);
            }
            for (int64_t j = k0; j < k1; j++) {
                double dp = 0;
                for (int c = 0; c < s->hd; c++) { dv[j * D + ho + c] += (float)(p[j] * doi[c]); dp += (double)doi[c] * v[j * D + ho + c]; }
                double ds = p[j] * (dp - Di) * s->scale;
                for (int c = 0; c < s->hd; c++) {
                    dq[i * D + ho + c] += (float)(ds * k[j * D + ho + c]);
                    dk[j * D + ho + c] += (float)(ds * qi[c]);
                }
            }
        }
    free(p);
}

void vg_attn_bwd(float *dq, float *dk, float *dv, const float *dout, const float *out,
                 const float *lse, const float *q, const float *k, const float *v,
                 const vg_attn_shape *s) {
    vg_attn_bwd_ref(dq, dk, dv, dout, out, lse, q, k, v, s);
}
