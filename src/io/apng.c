/* apng.c - animated PNG writer: PNG signature, IHDR, acTL, then per frame fcTL + image data
 * (IDAT for frame 0, which doubles as the default image; fdAT after), IEND. One sequence
 * counter numbers fcTL and fdAT chunks from 0. Reference: APNG specification
 * (wiki.mozilla.org/APNG_Specification), PNG spec section 9 (filters), zlib deflate.
 * Layout: clip [F][H][W][3] uint8 RGB; each frame is filtered row by row (the filter with the
 * least sum of |signed bytes|, the PNG spec's heuristic) and deflated on its own.
 * Legend: F frames, H W height width. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "vidgen/io.h"
#include "io/bytebuf.h"
#include "vidgen/video.h"


static void be32(uint8_t *o, uint32_t v) { o[0] = v >> 24; o[1] = v >> 16; o[2] = v >> 8; o[3] = v; }
static void be16(uint8_t *o, uint16_t v) { o[0] = v >> 8; o[1] = v; }

/* length, type, data, CRC-32 over type and data (PNG spec 5.3) */
static void chunk(vg_bytebuf *b, const char *type, const uint8_t *d, size_t n) {
    uint8_t hdr[8], crc[4];
    be32(hdr, (uint32_t)n);
    memcpy(hdr + 4, type, 4);
    uLong c = crc32(0L, (const Bytef *)type, 4);
    if (n) c = crc32(c, d, (uInt)n);
    be32(crc, (uint32_t)c);
    vg_bytebuf_put(b, hdr, 8);
    if (n) vg_bytebuf_put(b, d, n);
    vg_bytebuf_put(b, crc, 4);
}

static uint8_t paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* Filters one frame into out[H][1 + 3W] (filter byte + row), choosing per row. */
static void filter_frame(uint8_t *out, const uint8_t *img, int w, int h, uint8_t *cand) {
    const size_t rb = (size_t)w * 3;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = img + y * rb, *up = y ? row - rb : NULL;
        long best_sum = -1;
        int best = 0;
        for (int ft = 0; ft < 5; ft++) {
            uint8_t *o = cand + ft * rb;
            long sum = 0;
            for (size_t i = 0; i < rb; i++) {
                int a = i >= 3 ? row[i - 3] : 0, b = up ? up[i] : 0, c = (i >= 3 && up) ? up[i - 3] : 0;
                uint8_t pred = ft == 0 ? 0 : ft == 1 ? a : ft == 2 ? b : ft == 3 ? (uint8_t)((a + b) / 2) : paeth(a, b, c);
                o[i] = (uint8_t)(row[i] - pred);
                sum += o[i] < 128 ? o[i] : 256 - o[i];
            }
            if (best_sum < 0 || sum < best_sum) { best_sum = sum; best = ft; }
        }
        uint8_t *dst = out + (size_t)y * (rb + 1);
        dst[0] = (uint8_t)best;
        memcpy(dst + 1, cand + best * rb, rb);
    }
}

void vg_apng_delay(double fps, uint16_t *num, uint16_t *den) {
    double d = floor(fps * 100 + 0.5);
    *num = 100;
    *den = (uint16_t)(d < 1 ? 1 : d > 65535 ? 65535 : d);
}

vg_status vg_apng_encode(uint8_t **out, size_t *n, const uint8_t *clip, int64_t f, int w, int h, double fps) {
    *out = NULL;
    *n = 0;
    if (!clip || f < 1 || f > 0x7fffffff || w < 1 || h < 1 || w > VG_VIDEO_MAX_SIDE || h > VG_VIDEO_MAX_SIDE)
        return vg_fail(VG_ERR_ARG, "apng: %lld frames of %dx%d: expected >= 1 frame of 1..%d pixels a side",
                       (long long)f, w, h, VG_VIDEO_MAX_SIDE);
    if (!(fps >= 0.01 && fps <= 655)) return vg_fail(VG_ERR_ARG, "apng: fps %g outside [0.01, 655]", fps);
    const size_t rb = (size_t)w * 3, raw_n = (size_t)h * (rb + 1), frame_n = (size_t)h * rb;
    uLongf zcap = compressBound((uLong)raw_n);
    uint8_t *raw = malloc(raw_n), *cand = malloc(5 * rb), *z = malloc(4 + (size_t)zcap);
    vg_bytebuf b = {0};
    vg_status st = VG_OK;
    if (!raw || !cand || !z) { st = vg_fail(VG_ERR_OOM, "apng: out of memory for a %dx%d frame", w, h); goto out; }
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    vg_bytebuf_put(&b, sig, 8);
    uint8_t ihdr[13] = {0};
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type RGB */
    chunk(&b, "IHDR", ihdr, 13);
    uint8_t actl[8];
    be32(actl, (uint32_t)f);
    be32(actl + 4, 0); /* plays: 0 = forever */
    chunk(&b, "acTL", actl, 8);
    uint16_t dn, dd;
    vg_apng_delay(fps, &dn, &dd);
    uint32_t seq = 0;
    for (int64_t i = 0; i < f; i++) {
        uint8_t fctl[26] = {0};
        be32(fctl, seq++);
        be32(fctl + 4, (uint32_t)w);
        be32(fctl + 8, (uint32_t)h);
        /* x, y offsets 0 */
        be16(fctl + 20, dn);
        be16(fctl + 22, dd);
        fctl[24] = 0; /* APNG_DISPOSE_OP_NONE */
        fctl[25] = 0; /* APNG_BLEND_OP_SOURCE */
        chunk(&b, "fcTL", fctl, 26);
        filter_frame(raw, clip + (size_t)i * frame_n, w, h, cand);
        uLongf zn = zcap;
        if (compress2(z + 4, &zn, raw, (uLong)raw_n, 6) != Z_OK) { st = vg_fail(VG_ERR_OOM, "apng: deflate failed on frame %lld", (long long)i); goto out; }
        if (i == 0) chunk(&b, "IDAT", z + 4, zn);
        else {
            be32(z, seq++);
            chunk(&b, "fdAT", z, zn + 4);
        }
    }
    chunk(&b, "IEND", NULL, 0);
    if (b.oom) { st = vg_fail(VG_ERR_OOM, "apng: out of memory for %lld frames of %dx%d", (long long)f, w, h); goto out; }
    *out = b.p;
    *n = b.n;
    b.p = NULL;
out:
    free(b.p);
    free(raw);
    free(cand);
    free(z);
    return st;
}

vg_status vg_video_write_encoded(const char *path, vg_video_encode_fn enc, const uint8_t *clip, int64_t f, int w,
                                 int h, double fps) {
    uint8_t *d;
    size_t n;
    vg_status st = enc(&d, &n, clip, f, w, h, fps);
    if (st) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", vg_last_error());
        return vg_fail(st, "%s: %s", path, msg);
    }
    st = vg_file_write_atomic(path, d, n);
    free(d);
    return st;
}

vg_status vg_apng_write(const char *path, const uint8_t *clip, int64_t f, int w, int h, double fps) {
    return vg_video_write_encoded(path, vg_apng_encode, clip, f, w, h, fps);
}
