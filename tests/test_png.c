/* test_png.c - PNG writer/reader round trips on odd sizes, tEXt chunks, conversion of
 * gray/palette/16-bit/alpha/interlaced PNGs (written here with libpng directly) to 8-bit
 * RGB composited over black, and clean errors for non-PNG, truncated and corrupt files. */
#include <fcntl.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "vidgen/io.h"
#include "vidgen/status.h"

static const char *tpath(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", vg_test_tmpdir(), name);
    return buf;
}

/* In-place overwrite for the corruption loops. Re-creating the file (O_TRUNC) would make
 * ext4 flush it on close (auto_da_alloc), ~2 ms per case. */
static bool put_file(const char *path, const void *p, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) return false;
    bool ok = pwrite(fd, p, n, 0) == (ssize_t)n && ftruncate(fd, (off_t)n) == 0;
    return close(fd) == 0 && ok;
}

static uint8_t *pattern_rgb(int w, int h, int seed) {
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) p[i] = (uint8_t)(i * 29 + seed * 7 + (i / 3) * (i % 3 + 1));
    return p;
}

VG_TEST(png_roundtrip_odd_sizes_and_text) {
    static const int sizes[][2] = {{1, 1}, {7, 5}, {33, 17}, {1, 9}, {9, 1}};
    const char *params = "prompt: \"a red ball\"; seed=1; steps=20\nline two: tab\there, utf-8 \xc3\xa9";
    const char *keys[2] = {"parameters", "Software"}, *vals[2] = {params, "vidgen"};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int w = sizes[s][0], h = sizes[s][1];
        char name[64], path[600];
        snprintf(name, sizeof(name), "rt_%dx%d.png", w, h);
        tpath(path, sizeof(path), name);
        uint8_t *src = pattern_rgb(w, h, (int)s);
        CHECK_OK(vg_png_write(path, src, w, h, keys, vals, s == 0 ? 0 : 2));
        uint8_t *got = NULL;
        int gw = 0, gh = 0;
        CHECK_OK(vg_png_read(path, &got, &gw, &gh));
        CHECKF(gw == w && gh == h, "%s: size %dx%d", name, gw, gh);
        CHECKF(memcmp(got, src, (size_t)w * h * 3) == 0, "%s: pixels differ", name);
        free(got);
        free(src);
        char *v = NULL;
        if (s == 0) {
            CHECK(vg_png_read_text(path, "parameters", &v) == VG_ERR_FORMAT && v == NULL);
            CHECKF(strstr(vg_last_error(), name) && strstr(vg_last_error(), "'parameters'"), "message: %s", vg_last_error());
            continue;
        }
        CHECK_OK(vg_png_read_text(path, "parameters", &v));
        CHECKF(strcmp(v, params) == 0, "parameters read back as: %s", v);
        free(v);
        CHECK_OK(vg_png_read_text(path, "Software", &v));
        CHECK(strcmp(v, "vidgen") == 0);
        free(v);
        CHECK(vg_png_read_text(path, "Comment", &v) == VG_ERR_FORMAT);
    }
    /* overwriting keeps one file and leaves no temporaries */
    char path[600];
    tpath(path, sizeof(path), "rt_7x5.png");
    uint8_t px[3] = {1, 2, 3};
    CHECK_OK(vg_png_write(path, px, 1, 1, NULL, NULL, 0));
    char *ls = NULL;
    vg_test_sh(&ls, "ls -A '%s' | grep -c tmp", vg_test_tmpdir());
    CHECKF(ls && strcmp(ls, "0\n") == 0, "temporary files left: %s", ls ? ls : "?");
    free(ls);
}

/* Writes a PNG with libpng directly: rows of raw samples for the given color type/depth. */
static bool write_raw_png(const char *path, int w, int h, int color, int depth, int interlace,
                          const uint8_t *raw, size_t rowbytes, const png_color *pal, int npal,
                          const uint8_t *trns, int ntrns, const char *late_text) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return false;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_infop end = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(fp);
        return false;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    png_bytep rows[64];
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(raw + (size_t)y * rowbytes);
    png_write_image(png, rows);
    if (late_text) { /* a tEXt chunk after IDAT */
        png_text t = {.compression = PNG_TEXT_COMPRESSION_NONE, .key = "parameters", .text = (png_charp)late_text,
                      .text_length = strlen(late_text)};
        png_set_text(png, end, &t, 1);
    }
    png_write_end(png, end);
    png_destroy_info_struct(png, &end);
    png_destroy_write_struct(&png, &info);
    return fclose(fp) == 0;
}

VG_TEST(png_reads_gray_palette_16bit_alpha_as_rgb) {
    enum { W = 5, H = 3 };
    char path[600];
    uint8_t *rgb = NULL;
    int w, h;

    /* 8-bit gray */
    uint8_t gray[W * H];
    for (int i = 0; i < W * H; i++) gray[i] = (uint8_t)(i * 17);
    CHECK(write_raw_png(tpath(path, sizeof(path), "gray8.png"), W, H, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE,
                        gray, W, NULL, 0, NULL, 0, NULL));
    CHECK_OK(vg_png_read(path, &rgb, &w, &h));
    CHECK(w == W && h == H);
    for (int i = 0; i < W * H; i++)
        CHECKF(rgb[i * 3] == gray[i] && rgb[i * 3 + 1] == gray[i] && rgb[i * 3 + 2] == gray[i], "gray8 px %d", i);
    free(rgb);

    /* 8-bit RGBA: composited over black, round(c * a / 255) */
    uint8_t rgba[W * H * 4];
    for (int i = 0; i < W * H * 4; i++) rgba[i] = (uint8_t)(i * 53 + 11);
    rgba[3] = 255; /* an opaque pixel and a fully transparent one */
    rgba[7] = 0;
    CHECK(write_raw_png(tpath(path, sizeof(path), "rgba8.png"), W, H, PNG_COLOR_TYPE_RGB_ALPHA, 8,
                        PNG_INTERLACE_NONE, rgba, W * 4, NULL, 0, NULL, 0, NULL));
    CHECK_OK(vg_png_read(path, &rgb, &w, &h));
    CHECK(w == W && h == H);
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) {
            int want = (rgba[i * 4 + c] * rgba[i * 4 + 3] + 127) / 255;
            CHECKF(rgb[i * 3 + c] == want, "rgba px %d ch %d: %d, want %d", i, c, rgb[i * 3 + c], want);
        }
    CHECK(rgb[0] == rgba[0] && rgb[3] == 0 && rgb[4] == 0 && rgb[5] == 0);
    free(rgb);

    /* 16-bit gray + alpha, Adam7 interlaced: v16 = v8 * 257 must come back as v8 */
    uint8_t ga16[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        uint16_t v = (uint16_t)((i * 19 % 256) * 257), a = (i % 2) ? 65535 : (uint16_t)(128 * 257);
        ga16[i * 4] = (uint8_t)(v >> 8); ga16[i * 4 + 1] = (uint8_t)v;
        ga16[i * 4 + 2] = (uint8_t)(a >> 8); ga16[i * 4 + 3] = (uint8_t)a;
    }
    CHECK(write_raw_png(tpath(path, sizeof(path), "ga16.png"), W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 16,
                        PNG_INTERLACE_ADAM7, ga16, W * 4, NULL, 0, NULL, 0, NULL));
    CHECK_OK(vg_png_read(path, &rgb, &w, &h));
    CHECK(w == W && h == H);
    for (int i = 0; i < W * H; i++) {
        int v = i * 19 % 256, a = (i % 2) ? 255 : 128, want = (v * a + 127) / 255;
        CHECKF(rgb[i * 3] == want && rgb[i * 3 + 2] == want, "ga16 px %d: %d, want %d", i, rgb[i * 3], want);
    }
    free(rgb);

    /* 2-bit palette with one transparent entry; tEXt after the image data */
    png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {200, 100, 50}};
    uint8_t trns[4] = {255, 255, 255, 0};
    uint8_t idx[H][2]; /* 5 pixels x 2 bits = 2 bytes per row */
    int want_idx[W * H];
    for (int y = 0; y < H; y++) {
        idx[y][0] = idx[y][1] = 0;
        for (int x = 0; x < W; x++) {
            int v = (x + y) % 4;
            want_idx[y * W + x] = v;
            idx[y][x / 4] |= (uint8_t)(v << (6 - 2 * (x % 4)));
        }
    }
    CHECK(write_raw_png(tpath(path, sizeof(path), "pal2.png"), W, H, PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE,
                        &idx[0][0], 2, pal, 4, trns, 4, "late text"));
    CHECK_OK(vg_png_read(path, &rgb, &w, &h));
    CHECK(w == W && h == H);
    for (int i = 0; i < W * H; i++) {
        int k = want_idx[i];
        int r = k == 3 ? 0 : pal[k].red, g = k == 3 ? 0 : pal[k].green, b = k == 3 ? 0 : pal[k].blue;
        CHECKF(rgb[i * 3] == r && rgb[i * 3 + 1] == g && rgb[i * 3 + 2] == b, "palette px %d", i);
    }
    free(rgb);
    char *v = NULL;
    CHECK_OK(vg_png_read_text(path, "parameters", &v));
    CHECK(strcmp(v, "late text") == 0);
    free(v);

    /* 1-bit gray */
    uint8_t bits[H] = {0xa8, 0x50, 0xf8}; /* 10101, 01010, 11111 */
    CHECK(write_raw_png(tpath(path, sizeof(path), "gray1.png"), W, H, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE,
                        bits, 1, NULL, 0, NULL, 0, NULL));
    CHECK_OK(vg_png_read(path, &rgb, &w, &h));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int want = (bits[y] >> (7 - x)) & 1 ? 255 : 0;
            CHECKF(rgb[(y * W + x) * 3 + 1] == want, "gray1 (%d,%d)", x, y);
        }
    free(rgb);
}

VG_TEST(png_bad_files_fail_cleanly) {
    char path[600], good[600];
    uint8_t *rgb = (uint8_t *)(uintptr_t)1;
    int w = -1, h = -1;
    char *v = NULL;

    tpath(path, sizeof(path), "not_a_png.png");
    FILE *fp = fopen(path, "wb");
    CHECK(fp);
    fputs("GIF89a this is not a png file at all", fp);
    fclose(fp);
    CHECK(vg_png_read(path, &rgb, &w, &h) == VG_ERR_FORMAT && rgb == NULL);
    CHECKF(strstr(vg_last_error(), "not_a_png.png: not a PNG file"), "message: %s", vg_last_error());
    CHECK(vg_png_read_text(path, "parameters", &v) == VG_ERR_FORMAT && v == NULL);

    tpath(path, sizeof(path), "empty.png");
    fp = fopen(path, "wb");
    CHECK(fp);
    fclose(fp);
    CHECK(vg_png_read(path, &rgb, &w, &h) == VG_ERR_FORMAT);
    CHECKF(strstr(vg_last_error(), "empty.png: not a PNG file"), "message: %s", vg_last_error());

    tpath(path, sizeof(path), "missing.png");
    CHECK(vg_png_read(path, &rgb, &w, &h) == VG_ERR_IO);
    CHECKF(strstr(vg_last_error(), "missing.png: cannot open"), "message: %s", vg_last_error());

    /* a valid PNG cut at every length past the signature: never crashes, fails as truncated */
    tpath(good, sizeof(good), "good.png");
    uint8_t *src = pattern_rgb(33, 17, 3);
    const char *k = "parameters", *val = "x";
    CHECK_OK(vg_png_write(good, src, 33, 17, &k, &val, 1));
    free(src);
    char *bytes;
    size_t n;
    CHECK_OK(vg_file_read(good, &bytes, &n));
    tpath(path, sizeof(path), "trunc.png");
    int truncated_msgs = 0, cuts = 0;
    for (size_t len = 8; len < n; len += (len < 200 ? 1 : 37)) {
        CHECK(put_file(path, bytes, len));
        cuts++;
        vg_status st = vg_png_read(path, &rgb, &w, &h);
        if (st != VG_ERR_FORMAT) { free(bytes); CHECKF(false, "cut at %zu of %zu: status %d", len, n, (int)st); }
        if (!strstr(vg_last_error(), "trunc.png: ")) { free(bytes); CHECKF(false, "message: %s", vg_last_error()); }
        if (strstr(vg_last_error(), "truncated")) truncated_msgs++;
    }
    CHECKF(truncated_msgs == cuts, "only %d of %d cuts reported as truncated", truncated_msgs, cuts);

    /* single-byte corruptions: a clean error or an image, never a crash */
    int errors = 0, ok = 0;
    for (size_t pos = 8; pos < n; pos += (pos < 120 ? 1 : 23)) {
        char saved = bytes[pos];
        bytes[pos] = (char)(bytes[pos] ^ 0x5a);
        CHECK(put_file(path, bytes, n));
        bytes[pos] = saved;
        vg_status st = vg_png_read(path, &rgb, &w, &h);
        if (st == VG_OK) { ok++; free(rgb); continue; }
        errors++;
        if (st != VG_ERR_FORMAT) { free(bytes); CHECKF(false, "corrupt byte %zu: status %d", pos, (int)st); }
    }
    free(bytes);
    CHECKF(errors > 50, "only %d corruptions detected (%d decoded)", errors, ok);
}

VG_TEST(png_write_rejects_bad_args) {
    char path[600];
    uint8_t px[12] = {0};
    tpath(path, sizeof(path), "bad.png");
    CHECK(vg_png_write(path, px, 0, 1, NULL, NULL, 0) == VG_ERR_ARG);
    CHECK(vg_png_write(path, NULL, 1, 1, NULL, NULL, 0) == VG_ERR_ARG);
    const char *longkey = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
    const char *val = "v";
    CHECK(vg_png_write(path, px, 2, 2, &longkey, &val, 1) == VG_ERR_ARG);
    CHECK(access(path, F_OK) != 0); /* nothing was written */
    tpath(path, sizeof(path), "no/such/dir/x.png");
    CHECK(vg_png_write(path, px, 2, 2, NULL, NULL, 0) == VG_ERR_IO);
    CHECKF(strstr(vg_last_error(), path), "message: %s", vg_last_error());
}
