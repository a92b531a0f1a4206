/* attn.c - multi-head attention with the temporal window. See include/vidgen/attn.h.
 * _ref: per query, scores over its visible key range, max-subtracted softmax in double. */
#include <math.h>
#include <stdlib.h>
#include "vidgen/attn.h"

static void key_range(const vg_attn_shape *s, int64_t iq, int64_t *k0, int64_t *k1) {
    if (s->window < 0) { *k0 = 0; *k1 = s->Lk; return; }
    int64_t f = iq / s->S, F = s->Lk / s->S;
    int64_t f0 = f - s->window < 0 ? 0 : f - s->window;
    int64_t f1 = f + s->window >= F ? F - 1 : f + s->window;
    *k0 = f0 * s->S; *k1 = (f1 + 1) * s->S;
}

void vg_attn_ref(float *out, float *lse, const float *q, const float *k, const float *v,
                 const vg_attn_shape *s) {
    int64_t D = (int64_t)s->H * s->hd;
    double *p = malloc(sizeof(double) * (size_t)s->Lk);
    for (int h = 0; h < s->H; h++)
        for (int64_t i = 0; i < s->Lq; i++) {
            int64_t k0, k1;
            key_range(s, i, &k0, &k1);
            const float *qi = q + i * D + (int64_t)h * s->hd;
            double mx = -INFINITY;
            for (int64_t j = k0; j < k1; j++) {
                const float *kj = k + j * D + (int64_t)h * s->hd;
                double d = 0;
                for (int c = 0; c < s->hd; c++) d += (double)qi[c] * kj[c];
                p[j] = d * s->scale;
                if (p[j] > mx) mx = p[j];
            }
            double sum = 0;
            for (int64_t j = k0; j < k1; j++) { p[j] = exp(p[j] - mx); sum += p[j]; }
            float *oi = out + i * D + (int64_t)h * s->hd;
            for (int c = 0; c < s->hd; c++) {
                double acc = 0;
                for (int64_t j = k0; j < k1; j++) acc += p[j] * v[j * D + (int64_t)h * s->hd + c];
                oi[c] = (float)(acc / sum);
            }
            if (lse) lse[(int64_t)h * s->Lq + i] = (float)(mx + log(sum));
        }
    free(p);
}

void vg_attn(float *out, float *lse, const float *q, const float *k, const float *v,
             const vg_attn_shape *s) {
    vg_attn_ref(out, lse, q, k, v, s);
}

double vg_attn_flops(const vg_attn_shape *s) {
    double keys = 0;
    for (int64_t i = 0; i < s->Lq; i += (s->window < 0 ? s->Lq : s->S)) {
        int64_t k0, k1;
        key_range(s, i, &k0, &k1);
        keys += (double)(k1 - k0) * (s->window < 0 ? (double)s->Lq : (double)s->S);
    }
    return 4.0 * keys * s->H * s->hd;
}
