/* flow.c - dense optical flow for the scorer: coarse-to-fine Lucas-Kanade (Bouguet's pyramidal
 * LK, made dense with a Gaussian window) with iterative warping, a 3x3 median on the flow after
 * each level (Sun et al. 2010, "Secrets of optical flow"), and the forward-backward occlusion
 * check of Sundaram et al. 2010. Images are grey float [H][W]; flow is [H][W][2] = (dx, dy).
 * H W height width, L pyramid level (0 = full size). */
#include <math.h>
#include <string.h>
#include "vidgen/score.h"

enum { MAX_LEVELS = 8, MAX_RADIUS = 8 };

void vg_flow_opts_default(vg_flow_opts *o) {
    o->levels = 0;
    o->iters = 5;
    o->radius = 3;
    o->reg = 4.0f;
}

void vg_rgb_to_gray(float *gray, const uint8_t *rgb, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        gray[i] = 0.299f * rgb[3 * i] + 0.587f * rgb[3 * i + 1] + 0.114f * rgb[3 * i + 2];
}

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

void vg_sample_bilinear(float *out, const float *img, int64_t h, int64_t w, int c, float x, float y) {
    x = clampf(x, 0.0f, (float)(w - 1));
    y = clampf(y, 0.0f, (float)(h - 1));
    int64_t x0 = (int64_t)x, y0 = (int64_t)y;
    int64_t x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    for (int k = 0; k < c; k++) {
        float a = img[(y0 * w + x0) * c + k], b = img[(y0 * w + x1) * c + k];
        float d = img[(y1 * w + x0) * c + k], e = img[(y1 * w + x1) * c + k];
        out[k] = (a + (b - a) * fx) * (1 - fy) + (d + (e - d) * fx) * fy;
    }
}

static int n_levels(int64_t h, int64_t w, int want) {
    int n = 1;
    int64_t hh = h, ww = w;
    while (n < MAX_LEVELS && (want <= 0 || n < want)) {
        int64_t h2 = (hh + 1) / 2, w2 = (ww + 1) / 2;
        if (h2 < 8 || w2 < 8) break;
        hh = h2; ww = w2; n++;
    }
    return n;
}

size_t vg_flow_scratch_floats(int64_t h, int64_t w) {
    size_t hw = (size_t)h * (size_t)w, pyr = 0;
    int64_t hh = h, ww = w;
    for (int l = 0; l < MAX_LEVELS; l++) { pyr += (size_t)hh * (size_t)ww; hh = (hh + 1) / 2; ww = (ww + 1) / 2; }
    /* 2 pyramids, 2 flows x2, 4 gradients, 5 products, 1 temp */
    return 2 * pyr + 4 * hw + 4 * hw + 5 * hw + hw;
}

/* [1 4 6 4 1]/16 blur then decimate by 2, edges clamped. */
static void down2(float *out, const float *in, int64_t h, int64_t w) {
    static const float k[5] = {1 / 16.f, 4 / 16.f, 6 / 16.f, 4 / 16.f, 1 / 16.f};
    int64_t h2 = (h + 1) / 2, w2 = (w + 1) / 2;
    for (int64_t y = 0; y < h2; y++)
        for (int64_t x = 0; x < w2; x++) {
            float s = 0;
            for (int i = 0; i < 5; i++) {
                int64_t yy = 2 * y + i - 2;
                yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
                float r = 0;
                for (int j = 0; j < 5; j++) {
                    int64_t xx = 2 * x + j - 2;
                    xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
                    r += k[j] * in[yy * w + xx];
                }
                s += k[i] * r;
            }
            out[y * w2 + x] = s;
        }
}

static void gradients(float *gx, float *gy, const float *a, int64_t h, int64_t w) {
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            int64_t xl = x > 0 ? x - 1 : x, xr = x + 1 < w ? x + 1 : x;
            int64_t yu = y > 0 ? y - 1 : y, yd = y + 1 < h ? y + 1 : y;
            gx[y * w + x] = (a[y * w + xr] - a[y * w + xl]) / (float)(xr - xl > 0 ? xr - xl : 1);
            gy[y * w + x] = (a[yd * w + x] - a[yu * w + x]) / (float)(yd - yu > 0 ? yd - yu : 1);
        }
}

/* Separable normalised Gaussian window of radius r on n planes of [h][w], in place; tmp [h][w]. */
static void window(float *planes, int n, int64_t h, int64_t w, int r, float *tmp) {
    float k[2 * MAX_RADIUS + 1], sig = 0.5f * (float)(r + 1), ks = 0;
    for (int i = -r; i <= r; i++) { k[i + r] = expf(-(float)(i * i) / (2 * sig * sig)); ks += k[i + r]; }
    for (int i = 0; i <= 2 * r; i++) k[i] /= ks;
    for (int p = 0; p < n; p++) {
        float *img = planes + (size_t)p * (size_t)(h * w);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                float s = 0;
                for (int i = -r; i <= r; i++) {
                    int64_t xx = x + i;
                    xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
                    s += k[i + r] * img[y * w + xx];
                }
                tmp[y * w + x] = s;
            }
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                float s = 0;
                for (int i = -r; i <= r; i++) {
                    int64_t yy = y + i;
                    yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
                    s += k[i + r] * tmp[yy * w + x];
                }
                img[y * w + x] = s;
            }
    }
}

static float med9(float *v) {
    for (int i = 1; i < 9; i++) { /* insertion sort, 9 values */
        float t = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > t) { v[j + 1] = v[j]; j--; }
        v[j + 1] = t;
    }
    return v[4];
}

static void median3(float *out, const float *in, int64_t h, int64_t w) {
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int c = 0; c < 2; c++) {
                float v[9];
                int n = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int64_t yy = y + dy, xx = x + dx;
                        yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
                        xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
                        v[n++] = in[(yy * w + xx) * 2 + c];
                    }
                out[(y * w + x) * 2 + c] = med9(v);
            }
}

void vg_flow_ws(float *flow, const float *a, const float *b, int64_t h, int64_t w,
                const vg_flow_opts *o, float *s) {
    vg_flow_opts def;
    if (!o) { vg_flow_opts_default(&def); o = &def; }
    int L = n_levels(h, w, o->levels), r = o->radius < 1 ? 1 : o->radius > MAX_RADIUS ? MAX_RADIUS : o->radius;
    size_t hw = (size_t)h * (size_t)w;
    float *pa[MAX_LEVELS], *pb[MAX_LEVELS];
    int64_t lh[MAX_LEVELS], lw[MAX_LEVELS];
    float *p = s;
    lh[0] = h; lw[0] = w;
    for (int l = 0; l < L; l++) {
        if (l) { lh[l] = (lh[l - 1] + 1) / 2; lw[l] = (lw[l - 1] + 1) / 2; }
        pa[l] = p; p += lh[l] * lw[l];
        pb[l] = p; p += lh[l] * lw[l];
    }
    float *u = p; p += 2 * hw;
    float *u2 = p; p += 2 * hw;
    float *ax = p; p += hw;
    float *ay = p; p += hw;
    float *bx = p; p += hw;
    float *by = p; p += hw;
    float *prod = p; p += 5 * hw;
    float *tmp = p;
    memcpy(pa[0], a, hw * sizeof(float));
    memcpy(pb[0], b, hw * sizeof(float));
    for (int l = 1; l < L; l++) {
        down2(pa[l], pa[l - 1], lh[l - 1], lw[l - 1]);
        down2(pb[l], pb[l - 1], lh[l - 1], lw[l - 1]);
    }
    memset(u, 0, 2 * (size_t)(lh[L - 1] * lw[L - 1]) * sizeof(float));
    for (int l = L - 1; l >= 0; l--) {
        int64_t H = lh[l], W = lw[l], n = H * W;
        if (l < L - 1) { /* upsample the coarser flow (in u2) into u, doubling it */
            int64_t Hc = lh[l + 1], Wc = lw[l + 1];
            memcpy(u2, u, 2 * (size_t)(Hc * Wc) * sizeof(float));
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++) {
                    float v[2];
                    vg_sample_bilinear(v, u2, Hc, Wc, 2, ((float)x + 0.5f) * 0.5f - 0.5f, ((float)y + 0.5f) * 0.5f - 0.5f);
                    u[(y * W + x) * 2] = 2 * v[0];
                    u[(y * W + x) * 2 + 1] = 2 * v[1];
                }
        }
        gradients(ax, ay, pa[l], H, W);
        gradients(bx, by, pb[l], H, W);
        for (int it = 0; it < o->iters; it++) {
            float *ixx = prod, *ixy = prod + n, *iyy = prod + 2 * n, *ixt = prod + 3 * n, *iyt = prod + 4 * n;
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++) {
                    int64_t i = y * W + x;
                    float px = (float)x + u[2 * i], py = (float)y + u[2 * i + 1];
                    if (px < 0 || py < 0 || px > (float)(W - 1) || py > (float)(H - 1)) {
                        ixx[i] = ixy[i] = iyy[i] = ixt[i] = iyt[i] = 0;
                        continue;
                    }
                    float bv, gx, gy;
                    vg_sample_bilinear(&bv, pb[l], H, W, 1, px, py);
                    vg_sample_bilinear(&gx, bx, H, W, 1, px, py);
                    vg_sample_bilinear(&gy, by, H, W, 1, px, py);
                    float Ix = 0.5f * (gx + ax[i]), Iy = 0.5f * (gy + ay[i]), It = bv - pa[l][i];
                    ixx[i] = Ix * Ix; ixy[i] = Ix * Iy; iyy[i] = Iy * Iy; ixt[i] = Ix * It; iyt[i] = Iy * It;
                }
            window(prod, 5, H, W, r, tmp);
            for (int64_t i = 0; i < n; i++) {
                float A = ixx[i] + o->reg, B = ixy[i], C = iyy[i] + o->reg;
                float det = A * C - B * B;
                if (!(det > 1e-12f)) continue;
                float du = -(C * ixt[i] - B * iyt[i]) / det, dv = -(A * iyt[i] - B * ixt[i]) / det;
                u[2 * i] += clampf(du, -2.0f, 2.0f);
                u[2 * i + 1] += clampf(dv, -2.0f, 2.0f);
            }
        }
        median3(u2, u, H, W);
        memcpy(u, u2, 2 * (size_t)n * sizeof(float));
    }
    memcpy(flow, u, 2 * hw * sizeof(float));
}

vg_status vg_flow(float *flow, const float *a, const float *b, int64_t h, int64_t w, const vg_flow_opts *o) {
    if (h < 1 || w < 1 || h > (1 << 15) || w > (1 << 15))
        return vg_fail(VG_ERR_ARG, "flow: frame %lldx%lld, expected 1..32768 per side", (long long)h, (long long)w);
    float *s = malloc(vg_flow_scratch_floats(h, w) * sizeof(float));
    if (!s) return vg_fail(VG_ERR_OOM, "flow: scratch for %lldx%lld", (long long)h, (long long)w);
    vg_flow_ws(flow, a, b, h, w, o, s);
    free(s);
    return VG_OK;
}

int64_t vg_flow_occlusion(uint8_t *valid, const float *fwd, const float *bwd, int64_t h, int64_t w) {
    int64_t n = 0;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            int64_t i = y * w + x;
            float fx = fwd[2 * i], fy = fwd[2 * i + 1], px = (float)x + fx, py = (float)y + fy;
            valid[i] = 0;
            if (px < 0 || py < 0 || px > (float)(w - 1) || py > (float)(h - 1)) continue;
            float g[2];
            vg_sample_bilinear(g, bwd, h, w, 2, px, py);
            float sx = fx + g[0], sy = fy + g[1];
            float lhs = sx * sx + sy * sy, rhs = 0.01f * (fx * fx + fy * fy + g[0] * g[0] + g[1] * g[1]) + 0.5f;
            if (lhs <= rhs) { valid[i] = 1; n++; }
        }
    return n;
}
