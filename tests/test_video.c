/* test_video.c - APNG, GIF, Y4M and contact-sheet writers read back by small independent
 * readers written here: an APNG chunk walker (CRC of every chunk, fcTL/fdAT sequence numbers,
 * zlib inflate, PNG unfiltering), a GIF89a parser with its own LZW decoder, and a Y4M parser
 * that recomputes BT.601 in floating point. Clips: odd sizes (1x1, 7x5, 33x17) and a noisy
 * 100x90 frame whose LZW stream overflows the 4096-code table (clear codes mid-frame). */
#include <zlib.h>
#include "test.h"
#include "vidgen/io.h"
#include "vidgen/status.h"
#include "vidgen/video.h"

static uint8_t *test_clip(int64_t f, int w, int h, uint32_t seed, bool noisy) {
    uint8_t *c = malloc((size_t)(f * w * h * 3));
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < f; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < 3; ch++) {
                    s = s * 1664525u + 1013904223u;
                    int v = noisy ? (int)(s >> 24) : (x * 37 + y * 11 + (int)i * 53 + ch * 80) % 256;
                    c[(((size_t)i * h + y) * w + x) * 3 + ch] = (uint8_t)v;
                }
    return c;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* ---- APNG reader ------------------------------------------------------------------- */

static int paeth_t(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Inflates and unfilters one frame's zlib data (RGB8). Returns false on error. */
static bool png_unfilter(uint8_t *out, const uint8_t *z, size_t zn, int w, int h) {
    size_t rb = (size_t)w * 3, rawn = (size_t)h * (rb + 1);
    uint8_t *raw = malloc(rawn);
    uLongf got = (uLongf)rawn;
    bool ok = uncompress(raw, &got, z, (uLong)zn) == Z_OK && got == rawn;
    for (int y = 0; ok && y < h; y++) {
        const uint8_t *src = raw + y * (rb + 1) + 1;
        uint8_t *row = out + y * rb, *up = y ? row - rb : NULL;
        int ft = src[-1];
        if (ft > 4) ok = false;
        for (size_t i = 0; ok && i < rb; i++) {
            int a = i >= 3 ? row[i - 3] : 0, b = up ? up[i] : 0, c = (i >= 3 && up) ? up[i - 3] : 0;
            int pred = ft == 0 ? 0 : ft == 1 ? a : ft == 2 ? b : ft == 3 ? (a + b) / 2 : paeth_t(a, b, c);
            row[i] = (uint8_t)(src[i] + pred);
        }
    }
    free(raw);
    return ok;
}

/* Walks the chunks, checks CRCs and sequence numbers, decodes every frame into clip.
 * Returns the frame count or -1 with *why set. */
static int64_t apng_read(const uint8_t *d, size_t n, uint8_t **clip, int *w, int *h, int *dnum, int *dden, const char **why) {
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    *clip = NULL;
    if (n < 8 || memcmp(d, sig, 8)) { *why = "signature"; return -1; }
    size_t pos = 8;
    int64_t nf = -1, fi = -1;
    uint32_t seq = 0;
    int n_idat = 0;
    uint8_t *z = NULL;
    size_t zn = 0;
    bool seen_iend = false;
    while (pos + 12 <= n) {
        uint32_t len = rd32(d + pos);
        const uint8_t *type = d + pos + 4, *data = d + pos + 8;
        if (pos + 12 + len > n) { *why = "chunk runs past the end"; goto fail; }
        if (crc32(crc32(0L, type, 4), data, len) != rd32(data + len)) { *why = "bad CRC"; goto fail; }
        /* a frame's data is complete when the next non-data chunk starts */
        bool is_data = !memcmp(type, "IDAT", 4) || !memcmp(type, "fdAT", 4);
        if (!is_data && z && fi >= 0) {
            if (!png_unfilter(*clip + (size_t)fi * *w * *h * 3, z, zn, *w, *h)) { *why = "frame data does not inflate"; goto fail; }
            free(z); z = NULL; zn = 0;
        }
        if (!memcmp(type, "IHDR", 4)) {
            *w = (int)rd32(data); *h = (int)rd32(data + 4);
            if (data[8] != 8 || data[9] != 2) { *why = "not RGB8"; goto fail; }
        } else if (!memcmp(type, "acTL", 4)) {
            nf = rd32(data);
            if (rd32(data + 4) != 0) { *why = "not looping"; goto fail; }
            *clip = calloc((size_t)(nf * *w * *h * 3), 1);
        } else if (!memcmp(type, "fcTL", 4)) {
            if (rd32(data) != seq++) { *why = "fcTL sequence number"; goto fail; }
            if (rd32(data + 4) != (uint32_t)*w || rd32(data + 8) != (uint32_t)*h || rd32(data + 12) || rd32(data + 16)) { *why = "fcTL region"; goto fail; }
            *dnum = data[20] << 8 | data[21];
            *dden = data[22] << 8 | data[23];
            if (++fi >= nf) { *why = "more fcTL than acTL frames"; goto fail; }
        } else if (is_data) {
            bool fd = type[0] == 'f';
            if (fd && rd32(data) != seq++) { *why = "fdAT sequence number"; goto fail; }
            if (!fd) n_idat++;
            if (!fd && fi != 0) { *why = "IDAT outside frame 0"; goto fail; }
            size_t off = fd ? 4 : 0;
            z = realloc(z, zn + len - off);
            memcpy(z + zn, data + off, len - off);
            zn += len - off;
        } else if (!memcmp(type, "IEND", 4)) {
            seen_iend = true;
        }
        pos += 12 + len;
    }
    free(z);
    if (!seen_iend || pos != n) { *why = "no IEND at the end"; free(*clip); *clip = NULL; return -1; }
    if (fi + 1 != nf || n_idat == 0) { *why = "frame count"; free(*clip); *clip = NULL; return -1; }
    return nf;
fail:
    free(z);
    free(*clip);
    *clip = NULL;
    return -1;
}

VG_TEST(video_apng_reads_back_exactly) {
    static const int sizes[][3] = {{1, 1, 1}, {3, 7, 5}, {2, 33, 17}, {2, 100, 90}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int64_t f = sizes[s][0];
        int w = sizes[s][1], h = sizes[s][2];
        uint8_t *clip = test_clip(f, w, h, (uint32_t)s, s == 3), *d = NULL, *back = NULL;
        size_t n = 0;
        CHECK_OK(vg_apng_encode(&d, &n, clip, f, w, h, 12.5));
        int gw = 0, gh = 0, dn = 0, dd = 0;
        const char *why = "";
        int64_t gf = apng_read(d, n, &back, &gw, &gh, &dn, &dd, &why);
        CHECKF(gf == f && gw == w && gh == h, "%dx%dx%lld: read %lld frames %dx%d (%s)", w, h, (long long)f, (long long)gf, gw, gh, why);
        CHECKF(memcmp(back, clip, (size_t)(f * w * h * 3)) == 0, "%dx%d: pixels differ", w, h);
        CHECKF(dn == 100 && dd == 1250, "delay %d/%d, want 100/1250", dn, dd);
        free(back);
        back = NULL;
        /* one flipped byte inside the first fcTL must break its CRC */
        d[8 + 25 + 20 + 8 + 4] ^= 1;
        CHECK(apng_read(d, n, &back, &gw, &gh, &dn, &dd, &why) < 0);
        free(d);
        free(back);
        free(clip);
    }
    /* written through the atomic path; libpng (no APNG support) still sees frame 0 */
    char path[600];
    snprintf(path, sizeof(path), "%s/c.apng", vg_test_tmpdir());
    uint8_t *clip = test_clip(3, 7, 5, 9, false), *img = NULL;
    CHECK_OK(vg_apng_write(path, clip, 3, 7, 5, 8));
    int w, h;
    CHECK_OK(vg_png_read(path, &img, &w, &h));
    CHECK(w == 7 && h == 5 && memcmp(img, clip, 7 * 5 * 3) == 0);
    free(img);
    CHECK(vg_apng_write(path, clip, 0, 7, 5, 8) == VG_ERR_ARG && strstr(vg_last_error(), "c.apng"));
    CHECK(vg_apng_write(path, clip, 3, 7, 5, 0) == VG_ERR_ARG);
    free(clip);
}

/* ---- GIF reader with its own LZW decoder -------------------------------------------- */

/* Decodes one image's sub-blocks at d[*pos] into idx (npix). false on a malformed stream. */
static bool lzw_decode(uint8_t *idx, size_t npix, const uint8_t *d, size_t n, size_t *pos, int min_bits, int *n_clears) {
    /* gather the sub-blocks */
    size_t cap = 0, len = 0;
    uint8_t *bits = NULL;
    while (*pos < n && d[*pos]) {
        size_t b = d[*pos];
        if (*pos + 1 + b > n) { free(bits); return false; }
        if (len + b > cap) { cap = (len + b) * 2; bits = realloc(bits, cap); }
        memcpy(bits + len, d + *pos + 1, b);
        len += b;
        *pos += 1 + b;
    }
    if (*pos >= n) { free(bits); return false; }
    (*pos)++; /* block terminator */
    static uint16_t prefix[4096];
    static uint8_t suffix[4096], stack[4097];
    const int clear = 1 << min_bits, eoi = clear + 1;
    int size = min_bits + 1, next = clear + 2, prev = -1;
    size_t bitpos = 0, out = 0;
    bool ok = false;
    for (;;) {
        if (bitpos + (size_t)size > len * 8) break;
        int code = 0;
        for (int i = 0; i < size; i++, bitpos++) code |= ((bits[bitpos >> 3] >> (bitpos & 7)) & 1) << i;
        if (code == clear) { size = min_bits + 1; next = clear + 2; prev = -1; (*n_clears)++; continue; }
        if (code == eoi) { ok = out == npix; break; }
        if (code > next || (code == next && prev < 0)) break;
        int sp = 0, c = code == next ? prev : code;
        while (c >= clear) { stack[sp++] = suffix[c]; c = prefix[c]; }
        int first = c;
        stack[sp++] = (uint8_t)c;
        if (code == next) { /* KwKwK: prev's string + its own first byte */
            memmove(stack + 1, stack, (size_t)sp);
            stack[0] = (uint8_t)first;
            sp++;
        }
        if (out + (size_t)sp > npix) break;
        while (sp) idx[out++] = stack[--sp];
        if (prev >= 0 && next < 4096) {
            prefix[next] = (uint16_t)prev;
            suffix[next] = (uint8_t)first;
            next++;
            if (next == (1 << size) && size < 12) size++;
        }
        prev = code;
    }
    free(bits);
    return ok;
}

VG_TEST(video_gif_decodes_to_quantised_frames) {
    uint8_t pal[256][3];
    vg_gif_palette(pal);
    /* the palette: cube corners and a few ramp grays are where the header comment says */
    CHECK(pal[0][0] == 0 && pal[215][2] == 255 && pal[36 * 5][0] == 255 && pal[36 * 5][1] == 0);
    CHECK(pal[216][0] == 6 && pal[216][1] == 6 && pal[255][0] == 249);
    static const int sizes[][3] = {{1, 1, 1}, {3, 7, 5}, {2, 33, 17}, {1, 100, 90}};
    int clears_total = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int64_t f = sizes[s][0];
        int w = sizes[s][1], h = sizes[s][2];
        uint8_t *clip = test_clip(f, w, h, (uint32_t)s + 3, s == 3), *d = NULL;
        size_t n = 0;
        CHECK_OK(vg_gif_encode(&d, &n, clip, f, w, h, 8));
        CHECK(n > 13 + 768 && !memcmp(d, "GIF89a", 6) && (d[6] | d[7] << 8) == w && (d[8] | d[9] << 8) == h && d[10] == 0xF7);
        CHECK(memcmp(d + 13, pal, 768) == 0);
        size_t pos = 13 + 768;
        CHECK(d[pos] == 0x21 && d[pos + 1] == 0xFF && !memcmp(d + pos + 3, "NETSCAPE2.0", 11));
        pos += 19;
        uint8_t *want = malloc((size_t)w * h), *got = malloc((size_t)w * h);
        double err = 0;
        for (int64_t i = 0; i < f; i++) {
            CHECKF(d[pos] == 0x21 && d[pos + 1] == 0xF9 && (d[pos + 4] | d[pos + 5] << 8) == 13, "frame %lld: graphic control", (long long)i);
            pos += 8;
            CHECK(d[pos] == 0x2C && (d[pos + 5] | d[pos + 6] << 8) == w && (d[pos + 7] | d[pos + 8] << 8) == h && d[pos + 9] == 0);
            pos += 10;
            int min_bits = d[pos++];
            CHECK(min_bits == 8);
            memset(got, 0, (size_t)w * h);
            int clears = 0;
            CHECKF(lzw_decode(got, (size_t)w * h, d, n, &pos, min_bits, &clears), "%dx%d frame %lld: LZW stream does not decode", w, h, (long long)i);
            if (s == 3) clears_total += clears;
            const uint8_t *fr = clip + (size_t)i * w * h * 3;
            vg_gif_quantize(want, fr, w, h);
            CHECKF(memcmp(got, want, (size_t)w * h) == 0, "%dx%d frame %lld: indices differ from the quantiser's", w, h, (long long)i);
            /* the dithered colour stays within one cube step of the source */
            for (int k = 0; k < w * h * 3; k++) {
                int e = abs((int)pal[got[k / 3]][k % 3] - fr[k]);
                CHECKF(e <= 51 + 12, "pixel %d channel %d: %d vs %d", k / 3, k % 3, pal[got[k / 3]][k % 3], fr[k]);
                err += e;
            }
        }
        CHECK(d[pos] == 0x3B && pos + 1 == n);
        /* ordered dithering keeps the mean error to about a quarter step */
        CHECKF(err / (double)(f * w * h * 3) < 20, "%dx%d: mean abs error %.1f", w, h, err / (double)(f * w * h * 3));
        free(want); free(got); free(d); free(clip);
    }
    CHECKF(clears_total >= 2, "the noisy frame should overflow the code table (clears seen: %d)", clears_total);
    /* dithering: a flat mid-gray and a flat colour between levels average back to the source */
    uint8_t flat[16 * 16 * 3], idx[256];
    for (int k = 0; k < 256; k++) { flat[3 * k] = 100; flat[3 * k + 1] = 100; flat[3 * k + 2] = 100; }
    vg_gif_quantize(idx, flat, 16, 16);
    double mean = 0;
    for (int k = 0; k < 256; k++) mean += pal[idx[k]][0] / 256.0;
    CHECKF(fabs(mean - 100) < 1.5, "gray 100 dithers to mean %.2f", mean);
    for (int k = 0; k < 256; k++) { flat[3 * k] = 200; flat[3 * k + 1] = 30; flat[3 * k + 2] = 120; }
    vg_gif_quantize(idx, flat, 16, 16);
    double m3[3] = {0};
    for (int k = 0; k < 256; k++) for (int c = 0; c < 3; c++) m3[c] += pal[idx[k]][c] / 256.0;
    CHECKF(fabs(m3[0] - 200) < 2 && fabs(m3[1] - 30) < 2 && fabs(m3[2] - 120) < 2, "colour dithers to mean %.1f %.1f %.1f", m3[0], m3[1], m3[2]);
    CHECK(vg_gif_delay_cs(8) == 13 && vg_gif_delay_cs(100) == 2 && vg_gif_delay_cs(24) == 4);
}

/* ---- Y4M reader ----------------------------------------------------------------------- */

static double y_of(const uint8_t *p) { return 16 + (65.738 * p[0] + 129.057 * p[1] + 25.064 * p[2]) / 256; }
static double cb_of(const uint8_t *p) { return 128 + (-37.945 * p[0] - 74.494 * p[1] + 112.439 * p[2]) / 256; }
static double cr_of(const uint8_t *p) { return 128 + (112.439 * p[0] - 94.154 * p[1] - 18.285 * p[2]) / 256; }

VG_TEST(video_y4m_reads_back) {
    const int64_t f = 3;
    static const int sizes[][2] = {{7, 5}, {8, 6}, {1, 1}};
    for (size_t s = 0; s < 3; s++)
        for (int ci = 0; ci < 2; ci++) {
            int w = sizes[s][0], h = sizes[s][1];
            vg_y4m_chroma cm = ci ? VG_Y4M_420 : VG_Y4M_444;
            uint8_t *clip = test_clip(f, w, h, (uint32_t)(s * 2 + ci), s == 0);
            char path[600];
            snprintf(path, sizeof(path), "%s/c%zu%d.y4m", vg_test_tmpdir(), s, ci);
            CHECK_OK(vg_y4m_write(path, clip, f, w, h, 29.97, cm));
            char *d = NULL;
            size_t n = 0;
            CHECK_OK(vg_file_read(path, &d, &n));
            char want[128];
            snprintf(want, sizeof(want), "YUV4MPEG2 W%d H%d F2997:100 Ip A1:1 %s\n", w, h, ci ? "C420jpeg" : "C444");
            CHECKF(strncmp(d, want, strlen(want)) == 0, "header: %.60s", d);
            int cw = ci ? (w + 1) / 2 : w, ch = ci ? (h + 1) / 2 : h;
            size_t hl = strlen(want), fb = (size_t)w * h + 2 * (size_t)cw * ch;
            CHECKF(n == hl + (size_t)f * (6 + fb), "size %zu, want %zu", n, hl + (size_t)f * (6 + fb));
            for (int64_t i = 0; i < f; i++) {
                const uint8_t *fr = (const uint8_t *)d + hl + (size_t)i * (6 + fb);
                CHECK(memcmp(fr, "FRAME\n", 6) == 0);
                const uint8_t *Y = fr + 6, *U = Y + (size_t)w * h, *V = U + (size_t)cw * ch;
                const uint8_t *src = clip + (size_t)i * w * h * 3;
                double maxe = 0, rgb_err = 0;
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        const uint8_t *p = src + ((size_t)y * w + x) * 3;
                        maxe = fmax(maxe, fabs(Y[y * w + x] - y_of(p)));
                        if (!ci) {
                            maxe = fmax(maxe, fmax(fabs(U[y * w + x] - cb_of(p)), fabs(V[y * w + x] - cr_of(p))));
                            /* back to RGB (BT.601 inverse): close to the source */
                            double yy = 1.164 * (Y[y * w + x] - 16), u = U[y * w + x] - 128.0, v = V[y * w + x] - 128.0;
                            double r = yy + 1.596 * v, g = yy - 0.392 * u - 0.813 * v, b = yy + 2.017 * u;
                            rgb_err = fmax(rgb_err, fmax(fabs(r - p[0]), fmax(fabs(g - p[1]), fabs(b - p[2]))));
                        }
                    }
                if (ci) /* each chroma sample is the mean over its 2x2 block (centred siting) */
                    for (int cy = 0; cy < ch; cy++)
                        for (int cx = 0; cx < cw; cx++) {
                            double su = 0, sv = 0;
                            int cnt = 0;
                            for (int y = 2 * cy; y < 2 * cy + 2 && y < h; y++)
                                for (int x = 2 * cx; x < 2 * cx + 2 && x < w; x++, cnt++) {
                                    su += cb_of(src + ((size_t)y * w + x) * 3);
                                    sv += cr_of(src + ((size_t)y * w + x) * 3);
                                }
                            maxe = fmax(maxe, fmax(fabs(U[cy * cw + cx] - su / cnt), fabs(V[cy * cw + cx] - sv / cnt)));
                        }
                /* the integer coefficients round: within 1.5 levels of the exact value */
                CHECKF(maxe <= 1.5, "%dx%d %s frame %lld: max plane error %.2f", w, h, ci ? "420" : "444", (long long)i, maxe);
                if (!ci) CHECKF(rgb_err <= 4.5, "%dx%d frame %lld: RGB round trip error %.2f", w, h, (long long)i, rgb_err);
            }
            free(d);
            free(clip);
        }
    /* a full pipe: writing to a closed stream fails cleanly */
    FILE *fp = fopen("/dev/full", "w");
    if (fp) {
        uint8_t *clip = test_clip(40, 64, 64, 1, true);
        CHECK(vg_y4m_write_fp(fp, clip, 40, 64, 64, 8, VG_Y4M_444) == VG_ERR_IO);
        fclose(fp);
        free(clip);
    }
}

VG_TEST(video_sheet_layout) {
    uint8_t *clip = test_clip(5, 4, 3, 2, true), *s = NULL;
    int sw = 0, sh = 0;
    CHECK_OK(vg_sheet_make(&s, &sw, &sh, clip, 5, 4, 3, 0, 1));
    CHECK(sw == 3 * 5 + 1 && sh == 2 * 4 + 1); /* ceil(sqrt(5)) = 3 columns, 2 rows */
    for (int i = 0; i < 5; i++) {
        int x0 = 1 + (i % 3) * 5, y0 = 1 + (i / 3) * 4;
        for (int y = 0; y < 3; y++)
            CHECKF(memcmp(s + ((size_t)(y0 + y) * sw + x0) * 3, clip + ((size_t)(i * 3 + y) * 4) * 3, 12) == 0, "frame %d row %d", i, y);
    }
    CHECK(s[0] == 48 && s[((size_t)sh * sw - 1) * 3] == 48); /* gap colour, empty last cell */
    free(s);
    char path[600];
    snprintf(path, sizeof(path), "%s/sheet.png", vg_test_tmpdir());
    CHECK_OK(vg_sheet_write(path, clip, 5, 4, 3, 5, 0));
    uint8_t *img;
    int w, h;
    CHECK_OK(vg_png_read(path, &img, &w, &h));
    CHECK(w == 20 && h == 3 && memcmp(img + 12, clip + 36, 12) == 0); /* frame 1, row 0 */
    free(img);
    CHECK(vg_sheet_make(&s, &sw, &sh, clip, 0, 4, 3, 0, 1) == VG_ERR_ARG);
    free(clip);
}

/* ---- the CLI: --format, --fps, --sheet, Y4M on stdout ---------------------------------- */

static const char *vbin(void) {
    const char *b = getenv("VIDGEN_BIN");
    return b && *b ? b : "build/vidgen";
}

VG_TEST(video_cli_formats_match_frames) {
    const char *d = vg_test_tmpdir();
    char *o = NULL, p[800];
    const int F = 6, W = 32, H = 32;
    int rc = vg_test_sh(&o, "%s --model models/tiny -t 1 -q -p 'a big red ball moving right on a blue background' --frames %d --steps 2 "
                            "--upscale 2 --fps 12 --format apng,gif,y4m420 --sheet --out %s/fmt", vbin(), F, d);
    CHECKF(rc == 0, "rc %d %s", rc, o);
    free(o);
    uint8_t *clip = malloc((size_t)F * W * H * 3);
    for (int f = 0; f < F; f++) {
        uint8_t *img;
        int w, h;
        snprintf(p, sizeof(p), "%s/fmt/frame_%04d.png", d, f + 1);
        CHECK_OK(vg_png_read(p, &img, &w, &h));
        CHECK(w == W && h == H);
        memcpy(clip + (size_t)f * W * H * 3, img, (size_t)W * H * 3);
        free(img);
    }
    /* APNG: the frames exactly, 12 fps */
    char *data = NULL;
    size_t n = 0;
    snprintf(p, sizeof(p), "%s/fmt/clip.apng", d);
    CHECK_OK(vg_file_read(p, &data, &n));
    uint8_t *back = NULL;
    int gw, gh, dn, dd;
    const char *why = "";
    int64_t gf = apng_read((const uint8_t *)data, n, &back, &gw, &gh, &dn, &dd, &why);
    CHECKF(gf == F && gw == W && gh == H && dn == 100 && dd == 1200, "apng: %lld frames %dx%d delay %d/%d (%s)", (long long)gf, gw, gh, dn, dd, why);
    CHECK(memcmp(back, clip, (size_t)F * W * H * 3) == 0);
    free(back);
    free(data);
    /* GIF: the quantised frames exactly, delay round(100/12) = 8 cs */
    snprintf(p, sizeof(p), "%s/fmt/clip.gif", d);
    CHECK_OK(vg_file_read(p, &data, &n));
    const uint8_t *g = (const uint8_t *)data;
    size_t pos = 13 + 768 + 19;
    uint8_t *idx = malloc((size_t)W * H), *want = malloc((size_t)W * H);
    for (int f = 0; f < F; f++) {
        CHECK(g[pos] == 0x21 && (g[pos + 4] | g[pos + 5] << 8) == 8);
        pos += 8 + 10;
        int clears = 0, mb = g[pos++];
        CHECK(lzw_decode(idx, (size_t)W * H, g, n, &pos, mb, &clears));
        vg_gif_quantize(want, clip + (size_t)f * W * H * 3, W, H);
        CHECKF(memcmp(idx, want, (size_t)W * H) == 0, "gif frame %d", f);
    }
    free(idx);
    free(want);
    free(data);
    /* Y4M 4:2:0 file and the same stream on stdout */
    snprintf(p, sizeof(p), "%s/fmt/clip.y4m", d);
    CHECK_OK(vg_file_read(p, &data, &n));
    CHECK(!strncmp(data, "YUV4MPEG2 W32 H32 F12:1 Ip A1:1 C420jpeg\n", 41));
    const size_t fb = 6 + (size_t)W * H * 3 / 2;
    CHECK(n == 41 + F * fb);
    for (int f = 0; f < F; f++) {
        const uint8_t *Y = (const uint8_t *)data + 41 + f * fb + 6;
        for (int i = 0; i < W * H; i++) {
            uint8_t ycc[3];
            vg_rgb_to_ycbcr601(ycc, clip + ((size_t)f * W * H + i) * 3);
            CHECKF(Y[i] == ycc[0], "y4m frame %d pixel %d: Y %d, want %d", f, i, Y[i], ycc[0]);
        }
    }
    char *sto = NULL;
    rc = vg_test_sh(&sto, "%s --model models/tiny -t 1 -q -p 'a big red ball moving right on a blue background' --frames %d --steps 2 "
                          "--upscale 2 --fps 12 --format y4m420 --out - 2>/dev/null | cmp - %s/fmt/clip.y4m", vbin(), F, d);
    CHECKF(rc == 0, "stdout stream differs from clip.y4m: %s", sto);
    free(sto);
    free(data);
    /* the contact sheet holds the frames; the metadata records the outputs */
    uint8_t *sheet;
    int sw, sh;
    snprintf(p, sizeof(p), "%s/fmt/sheet.png", d);
    CHECK_OK(vg_png_read(p, &sheet, &sw, &sh));
    CHECK(sw == 3 * (W + 1) + 1 && sh == 2 * (H + 1) + 1);
    CHECK(memcmp(sheet + ((size_t)(1 + H + 1) * sw + 1) * 3, clip + (size_t)3 * W * H * 3, (size_t)W * 3) == 0); /* frame 4, row 0 */
    free(sheet);
    free(clip);
    snprintf(p, sizeof(p), "%s/fmt/vidgen.json", d);
    CHECK_OK(vg_file_read(p, &data, &n));
    CHECKF(strstr(data, "\"fps\":\t12") && strstr(data, "\"apng\"") && strstr(data, "\"y4m420\"") && strstr(data, "\"sheet\":\t\"sheet.png\"") &&
           strstr(data, "\"gif_delay_cs\":\t8"), "metadata: %s", data);
    free(data);
    /* --overwrite without formats removes the old clip files; bad formats are usage errors */
    rc = vg_test_sh(&o, "%s --model models/tiny -t 1 -q -p 'a red ball' --frames 2 --steps 1 --out %s/fmt --overwrite && ls %s/fmt", vbin(), d, d);
    CHECKF(rc == 0 && !strstr(o, "clip.") && !strstr(o, "sheet"), "rc %d %s", rc, o);
    free(o);
    rc = vg_test_sh(&o, "%s --model models/tiny -q -p 'a red ball' --format mp4 --out %s/f2", vbin(), d);
    CHECKF(rc == 2 && strstr(o, "unknown format 'mp4'"), "rc %d %s", rc, o);
    free(o);
    rc = vg_test_sh(&o, "%s --model models/tiny -q -p 'a red ball' --format gif --out -", vbin());
    CHECKF(rc == 2 && strstr(o, "Y4M only"), "rc %d %s", rc, o);
    free(o);
}
