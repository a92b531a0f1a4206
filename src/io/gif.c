/* gif.c - animated GIF89a writer with its own LZW coder and a fixed palette.
 * Reference: GIF89a specification (w3.org/Graphics/GIF/spec-gif89a.txt, appendix F: LZW with
 * variable-length codes); NETSCAPE2.0 looping extension; Bayer (1973) ordered dithering.
 * Palette: the 6x6x6 cube (216) + 40 extra grays, fixed, so every frame shares one global
 * table and the result does not depend on the clip. Layout: clip [F][H][W][3] uint8 RGB.
 * Legend: F frames, H W height width. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/io.h"
#include "io/bytebuf.h"
#include "vidgen/video.h"

/* 8x8 Bayer matrix, values 0..63 */
static const uint8_t BAYER8[8][8] = {
    {0, 32, 8, 40, 2, 34, 10, 42}, {48, 16, 56, 24, 50, 18, 58, 26}, {12, 44, 4, 36, 14, 46, 6, 38},
    {60, 28, 52, 20, 62, 30, 54, 22}, {3, 35, 11, 43, 1, 33, 9, 41}, {51, 19, 59, 27, 49, 17, 57, 25},
    {15, 47, 7, 39, 13, 45, 5, 37}, {63, 31, 55, 23, 61, 29, 53, 21}};

/* Palette index of gray ramp level i in 0..45 (value i*255/45). */
static int gray_index(int i) {
    if (i % 9 == 0) return 43 * (i / 9); /* cube gray (j, j, j): 36j + 6j + j */
    return 216 + (i - 1) - (i - 1) / 9;
}

void vg_gif_palette(uint8_t pal[256][3]) {
    for (int r = 0; r < 6; r++)
        for (int g = 0; g < 6; g++)
            for (int b = 0; b < 6; b++) {
                uint8_t *p = pal[36 * r + 6 * g + b];
                p[0] = (uint8_t)(51 * r); p[1] = (uint8_t)(51 * g); p[2] = (uint8_t)(51 * b);
            }
    for (int i = 1; i < 45; i++)
        if (i % 9) {
            uint8_t v = (uint8_t)((i * 255 + 22) / 45);
            uint8_t *p = pal[gray_index(i)];
            p[0] = p[1] = p[2] = v;
        }
}

/* Ordered dither of v in 0..255 onto levels 0..L (value k*255/L): floor(v*L/255 + (t+0.5)/64),
 * in integers: floor((128 L v + (2t+1) 255) / (128 * 255)). */
static int dither(int v, int L, int t) {
    int k = (128 * L * v + (2 * t + 1) * 255) / (128 * 255);
    return k > L ? L : k;
}

void vg_gif_quantize(uint8_t *idx, const uint8_t *rgb, int w, int h) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            int t = BAYER8[y & 7][x & 7];
            int mx = p[0] > p[1] ? p[0] : p[1], mn = p[0] < p[1] ? p[0] : p[1];
            mx = p[2] > mx ? p[2] : mx;
            mn = p[2] < mn ? p[2] : mn;
            uint8_t out;
            if (mx - mn <= 12) out = (uint8_t)gray_index(dither((p[0] + p[1] + p[2] + 1) / 3, 45, t));
            else out = (uint8_t)(36 * dither(p[0], 5, t) + 6 * dither(p[1], 5, t) + dither(p[2], 5, t));
            idx[(size_t)y * w + x] = out;
        }
}

int vg_gif_delay_cs(double fps) {
    double d = floor(100.0 / fps + 0.5);
    return d < 2 ? 2 : d > 65535 ? 65535 : (int)d;
}

/* ---- output buffer and LZW ---------------------------------------------------------- */

static void put1(vg_bytebuf *b, uint8_t v) { vg_bytebuf_put(b, &v, 1); }
static void put16(vg_bytebuf *b, int v) { uint8_t d[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; vg_bytebuf_put(b, d, 2); }

/* Codes are packed least-significant bit first into data sub-blocks of up to 255 bytes. */
typedef struct {
    vg_bytebuf *b;
    uint32_t acc;
    int nbits;
    uint8_t block[255];
    int nblock;
} bitw;

static void flush_block(bitw *w) {
    if (!w->nblock) return;
    put1(w->b, (uint8_t)w->nblock);
    vg_bytebuf_put(w->b, w->block, (size_t)w->nblock);
    w->nblock = 0;
}
static void emit(bitw *w, int code, int size) {
    w->acc |= (uint32_t)code << w->nbits;
    w->nbits += size;
    while (w->nbits >= 8) {
        w->block[w->nblock++] = (uint8_t)w->acc;
        if (w->nblock == 255) flush_block(w);
        w->acc >>= 8;
        w->nbits -= 8;
    }
}

enum { MIN_BITS = 8, CLEAR = 256, EOI = 257, FIRST = 258, MAX_CODES = 4096, HSIZE = 8191 };

/* Dictionary: open-addressing hash of (prefix code << 8 | byte) -> code. tab_key -1 = free. */
typedef struct { int32_t key[HSIZE]; int16_t code[HSIZE]; } lzw_dict;

static int dict_find(const lzw_dict *d, int32_t key, int *slot) {
    int s = (int)((uint32_t)key * 2654435761u % HSIZE);
    while (d->key[s] != -1 && d->key[s] != key) s = s + 1 == HSIZE ? 0 : s + 1;
    *slot = s;
    return d->key[s] == key ? d->code[s] : -1;
}

/* One frame's indices n pixels -> LZW code stream in sub-blocks, ended by the 0 block. */
static void lzw_encode(vg_bytebuf *b, lzw_dict *d, const uint8_t *idx, size_t n) {
    bitw w = {.b = b};
    memset(d->key, 0xff, sizeof(d->key));
    int size = MIN_BITS + 1, next = FIRST;
    emit(&w, CLEAR, size);
    int prefix = idx[0];
    for (size_t i = 1; i < n; i++) {
        int k = idx[i], slot;
        int32_t key = (int32_t)prefix << 8 | k;
        int c = dict_find(d, key, &slot);
        if (c >= 0) { prefix = c; continue; }
        emit(&w, prefix, size);
        if (next == MAX_CODES) { /* table full: start over */
            emit(&w, CLEAR, size);
            memset(d->key, 0xff, sizeof(d->key));
            size = MIN_BITS + 1;
            next = FIRST;
        } else {
            d->key[slot] = key;
            d->code[slot] = (int16_t)next;
            /* the decoder learns this code one step later and widens when its next free
             * code reaches 1 << size, i.e. when the code just added here equals it */
            if (next == (1 << size) && size < 12) size++;
            next++;
        }
        prefix = k;
    }
    emit(&w, prefix, size);
    emit(&w, EOI, size);
    if (w.nbits) emit(&w, 0, 8 - w.nbits);
    flush_block(&w);
    put1(b, 0);
}

vg_status vg_gif_encode(uint8_t **out, size_t *n, const uint8_t *clip, int64_t f, int w, int h, double fps) {
    *out = NULL;
    *n = 0;
    if (!clip || f < 1 || w < 1 || h < 1 || w > VG_VIDEO_MAX_SIDE || h > VG_VIDEO_MAX_SIDE)
        return vg_fail(VG_ERR_ARG, "gif: %lld frames of %dx%d: expected >= 1 frame of 1..%d pixels a side",
                       (long long)f, w, h, VG_VIDEO_MAX_SIDE);
    if (!(fps >= 0.01 && fps <= 655)) return vg_fail(VG_ERR_ARG, "gif: fps %g outside [0.01, 655]", fps);
    uint8_t *idx = malloc((size_t)w * h);
    lzw_dict *d = malloc(sizeof(*d));
    vg_bytebuf b = {0};
    vg_status st = VG_OK;
    if (!idx || !d) { st = vg_fail(VG_ERR_OOM, "gif: out of memory for a %dx%d frame", w, h); goto out; }
    vg_bytebuf_put(&b, "GIF89a", 6);
    put16(&b, w);
    put16(&b, h);
    put1(&b, 0xF7); /* global table, 8-bit colour resolution, 2^(7+1) = 256 entries */
    put1(&b, 0);    /* background index */
    put1(&b, 0);    /* aspect */
    uint8_t pal[256][3];
    vg_gif_palette(pal);
    vg_bytebuf_put(&b, pal, sizeof(pal));
    static const uint8_t loop[19] = {0x21, 0xFF, 11, 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0', 3, 1, 0, 0, 0};
    vg_bytebuf_put(&b, loop, sizeof(loop));
    int delay = vg_gif_delay_cs(fps);
    for (int64_t i = 0; i < f; i++) {
        uint8_t gce[8] = {0x21, 0xF9, 4, 0x04 /* dispose: leave in place */, (uint8_t)delay, (uint8_t)(delay >> 8), 0, 0};
        vg_bytebuf_put(&b, gce, sizeof(gce));
        put1(&b, 0x2C);
        put16(&b, 0);
        put16(&b, 0);
        put16(&b, w);
        put16(&b, h);
        put1(&b, 0); /* no local table, not interlaced */
        put1(&b, MIN_BITS);
        vg_gif_quantize(idx, clip + (size_t)i * w * h * 3, w, h);
        lzw_encode(&b, d, idx, (size_t)w * h);
    }
    put1(&b, 0x3B);
    if (b.oom) { st = vg_fail(VG_ERR_OOM, "gif: out of memory for %lld frames of %dx%d", (long long)f, w, h); goto out; }
    *out = b.p;
    *n = b.n;
    b.p = NULL;
out:
    free(b.p);
    free(idx);
    free(d);
    return st;
}

vg_status vg_gif_write(const char *path, const uint8_t *clip, int64_t f, int w, int h, double fps) {
    return vg_video_write_encoded(path, vg_gif_encode, clip, f, w, h, fps);
}
