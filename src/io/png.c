/* png.c - PNG frames through libpng: 8-bit RGB writer with tEXt chunks, reader of any PNG.
 * Reference: libpng manual (libpng-manual.txt, "Reading/Writing PNG files", setjmp errors).
 * Writing encodes into memory, then vg_file_write_atomic puts the file in place whole.
 * Reading loads the file into memory and decodes from there, so a short file is a clean
 * libpng error (our read callback calls png_error), never a partial image.
 * Legend: w h image size, rgb[(y*w + x)*3 + c], rows top to bottom. */
#include <png.h>
#include <setjmp.h>
#include <string.h>
#include "vidgen/io.h"

/* Decoded images larger than this are refused before allocating (a hostile header could
 * declare 1e6 x 1e6). 2^28 pixels = 16384 x 16384. */
#define PNG_MAX_PIXELS ((uint64_t)1 << 28)
/* libpng allocates ancillary chunks (text, ICC) whole, at the length the file claims; a
 * corrupt length would allocate and clear gigabytes. Metadata chunks here are tiny. */
#define PNG_MAX_CHUNK ((png_alloc_size_t)16 << 20)

typedef struct {
    const char *path;
    char msg[256];
    /* memory source */
    const uint8_t *src;
    size_t src_len, src_pos;
    /* memory sink */
    uint8_t *dst;
    size_t dst_len, dst_cap;
    int dst_oom;
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof(c->msg), "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; } /* benign: ignored */

static void mem_read(png_structp png, png_bytep out, png_size_t n) {
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->src_len - c->src_pos) png_error(png, "file is truncated (unexpected end of data)");
    memcpy(out, c->src + c->src_pos, n);
    c->src_pos += n;
}

static void mem_write(png_structp png, png_bytep data, png_size_t n) {
    png_ctx *c = png_get_io_ptr(png);
    if (c->dst_len + n > c->dst_cap) {
        size_t nc = c->dst_cap ? c->dst_cap : 65536;
        while (c->dst_len + n > nc) nc *= 2;
        uint8_t *nd = realloc(c->dst, nc);
        if (!nd) { c->dst_oom = 1; png_error(png, "out of memory"); }
        c->dst = nd;
        c->dst_cap = nc;
    }
    memcpy(c->dst + c->dst_len, data, n);
    c->dst_len += n;
}

static void mem_flush(png_structp png) { (void)png; }

vg_status vg_png_write(const char *path, const uint8_t *rgb, int w, int h,
                       const char *const *keys, const char *const *values, int n_text) {
    if (!path || !rgb || w <= 0 || h <= 0 || n_text < 0 || (n_text > 0 && (!keys || !values)))
        return vg_fail(VG_ERR_ARG, "%s: vg_png_write: bad arguments (size %dx%d, %d text chunks)",
                       path ? path : "(null)", w, h, n_text);
    if ((uint64_t)w * (uint64_t)h > PNG_MAX_PIXELS)
        return vg_fail(VG_ERR_ARG, "%s: image %dx%d is larger than %llu pixels", path, w, h,
                       (unsigned long long)PNG_MAX_PIXELS);
    for (int i = 0; i < n_text; i++) {
        size_t kl = keys[i] ? strlen(keys[i]) : 0;
        if (kl < 1 || kl > 79 || !values[i])
            return vg_fail(VG_ERR_ARG, "%s: tEXt key %d must be 1-79 bytes with a value", path, i);
    }
    png_ctx c = {.path = path};
    png_text *text = NULL;
    png_bytep *rows = NULL;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (n_text) text = calloc((size_t)n_text, sizeof(*text));
    rows = malloc((size_t)h * sizeof(*rows));
    if (!png || !info || (n_text && !text) || !rows) {
        png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
        free(text);
        free(rows);
        return vg_fail(VG_ERR_OOM, "%s: out of memory for PNG encoder", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(text);
        free(rows);
        free(c.dst);
        return vg_fail(c.dst_oom ? VG_ERR_OOM : VG_ERR_FORMAT, "%s: PNG encoding failed: %s", path, c.msg);
    }
    png_set_write_fn(png, &c, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int i = 0; i < n_text; i++) {
        text[i].compression = PNG_TEXT_COMPRESSION_NONE;
        text[i].key = (png_charp)keys[i];
        text[i].text = (png_charp)values[i];
        text[i].text_length = strlen(values[i]);
    }
    if (n_text) png_set_text(png, info, text, n_text);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(rgb + (size_t)y * (size_t)w * 3);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(text);
    free(rows);
    vg_status st = vg_file_write_atomic(path, c.dst, c.dst_len);
    free(c.dst);
    return st;
}

/* Loads path into memory, checks the signature and walks the chunk list: every chunk must
 * fit in the file and IEND must be present. libpng allocates some chunks whole at their
 * declared length, so a corrupt length must be caught here, not by a failed allocation. */
static vg_status load_png_file(const char *path, char **buf, size_t *n) {
    vg_status st = vg_file_read(path, buf, n);
    if (st) return st;
    const uint8_t *b = (const uint8_t *)*buf;
    if (*n < 8 || png_sig_cmp((png_const_bytep)b, 0, 8) != 0) {
        st = vg_fail(VG_ERR_FORMAT, "%s: not a PNG file (%s)", path,
                     *n < 8 ? "shorter than the 8-byte signature" : "bad signature");
        goto out_free;
    }
    size_t pos = 8;
    for (;;) {
        if (*n - pos < 12) {
            st = vg_fail(VG_ERR_FORMAT, "%s: truncated PNG: %zu bytes, no IEND chunk", path, *n);
            goto out_free;
        }
        uint32_t len = (uint32_t)b[pos] << 24 | (uint32_t)b[pos + 1] << 16 | (uint32_t)b[pos + 2] << 8 | b[pos + 3];
        char type[5];
        for (int k = 0; k < 4; k++) type[k] = (b[pos + 4 + k] >= 32 && b[pos + 4 + k] < 127) ? (char)b[pos + 4 + k] : '?';
        type[4] = 0;
        if (len > 0x7fffffffu || len > *n - pos - 12) {
            st = vg_fail(VG_ERR_FORMAT, "%s: truncated or corrupt PNG: chunk '%s' at byte %zu declares %u bytes, "
                         "%zu remain", path, type, pos, len, *n - pos - 12);
            goto out_free;
        }
        pos += 12 + (size_t)len;
        if (memcmp(type, "IEND", 4) == 0) break;
    }
    return VG_OK;
out_free:
    free(*buf);
    *buf = NULL;
    return st;
}

vg_status vg_png_read(const char *path, uint8_t **rgb, int *w, int *h) {
    if (!path || !rgb || !w || !h) return vg_fail(VG_ERR_ARG, "vg_png_read: NULL argument");
    *rgb = NULL;
    *w = *h = 0;
    char *file;
    size_t flen;
    vg_status st = load_png_file(path, &file, &flen);
    if (st) return st;
    png_ctx c = {.path = path, .src = (const uint8_t *)file, .src_len = flen};
    /* modified between setjmp and longjmp: volatile so the cleanup sees the current values */
    uint8_t *volatile img = NULL;
    png_bytep *volatile rows = NULL;
    volatile int oom = 0;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
        free(file);
        return vg_fail(VG_ERR_OOM, "%s: out of memory for PNG decoder", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(img);
        free(rows);
        free(file);
        if (oom) return vg_fail(VG_ERR_OOM, "%s: out of memory decoding PNG", path);
        return vg_fail(VG_ERR_FORMAT, "%s: invalid PNG: %s", path, c.msg);
    }
    png_set_read_fn(png, &c, mem_read);
    png_set_chunk_malloc_max(png, PNG_MAX_CHUNK);
    png_read_info(png, info);
    png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
    if ((uint64_t)pw * ph > PNG_MAX_PIXELS) {
        snprintf(c.msg, sizeof(c.msg), "image %ux%u is larger than %llu pixels", (unsigned)pw, (unsigned)ph,
                 (unsigned long long)PNG_MAX_PIXELS);
        png_longjmp(png, 1);
    }
    int ct = png_get_color_type(png, info);
    /* normalise to 8-bit RGBA: palette/low-bit gray/tRNS expand, 16-bit scales (rounding),
     * gray becomes RGB, and images without alpha get an opaque filler */
    png_set_expand(png);
    png_set_scale_16(png);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_filler(png, 0xff, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)pw * 4) {
        snprintf(c.msg, sizeof(c.msg), "unexpected row size %zu after conversion (expected %zu)", rowbytes,
                 (size_t)pw * 4);
        png_longjmp(png, 1);
    }
    img = malloc((size_t)pw * ph * 4);
    rows = malloc((size_t)ph * sizeof(png_bytep));
    if (!img || !rows) { oom = 1; png_longjmp(png, 1); }
    for (png_uint_32 y = 0; y < ph; y++) rows[y] = img + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(file);
    /* composite over black in place: out = round(c * a / 255) */
    uint8_t *p = img;
    size_t npix = (size_t)pw * ph;
    for (size_t i = 0; i < npix; i++) {
        unsigned a = p[i * 4 + 3];
        for (int k = 0; k < 3; k++) p[i * 3 + k] = (uint8_t)((p[i * 4 + k] * a + 127) / 255);
    }
    uint8_t *shrunk = realloc(img, npix * 3);
    *rgb = shrunk ? shrunk : img;
    *w = (int)pw;
    *h = (int)ph;
    return VG_OK;
}

vg_status vg_png_read_text(const char *path, const char *key, char **value) {
    if (!path || !key || !value) return vg_fail(VG_ERR_ARG, "vg_png_read_text: NULL argument");
    *value = NULL;
    char *file;
    size_t flen;
    vg_status st = load_png_file(path, &file, &flen);
    if (st) return st;
    png_ctx c = {.path = path, .src = (const uint8_t *)file, .src_len = flen};
    png_bytep *volatile rows = NULL;
    uint8_t *volatile img = NULL;
    volatile int oom = 0;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
        free(file);
        return vg_fail(VG_ERR_OOM, "%s: out of memory for PNG decoder", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(img);
        free(rows);
        free(file);
        if (oom) return vg_fail(VG_ERR_OOM, "%s: out of memory", path);
        return vg_fail(VG_ERR_FORMAT, "%s: invalid PNG: %s", path, c.msg);
    }
    png_set_read_fn(png, &c, mem_read);
    png_set_chunk_malloc_max(png, PNG_MAX_CHUNK);
    png_read_info(png, info);
    png_textp text = NULL;
    int nt = png_get_text(png, info, &text, NULL);
    const char *found = NULL;
    for (int i = 0; i < nt; i++)
        if (text[i].key && strcmp(text[i].key, key) == 0) { found = text[i].text ? text[i].text : ""; break; }
    if (!found) {
        /* text chunks may also follow the image data: decode the rows, then read the end */
        png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
        if ((uint64_t)pw * ph > PNG_MAX_PIXELS) {
            snprintf(c.msg, sizeof(c.msg), "image %ux%u is larger than %llu pixels", (unsigned)pw, (unsigned)ph,
                     (unsigned long long)PNG_MAX_PIXELS);
            png_longjmp(png, 1);
        }
        png_set_interlace_handling(png);
        png_read_update_info(png, info);
        size_t rowbytes = png_get_rowbytes(png, info);
        img = malloc(rowbytes * ph + 1);
        rows = malloc((size_t)ph * sizeof(png_bytep) + 1);
        if (!img || !rows) { oom = 1; png_longjmp(png, 1); }
        for (png_uint_32 y = 0; y < ph; y++) rows[y] = img + (size_t)y * rowbytes;
        png_read_image(png, rows);
        png_read_end(png, info);
        nt = png_get_text(png, info, &text, NULL);
        for (int i = 0; i < nt; i++)
            if (text[i].key && strcmp(text[i].key, key) == 0) { found = text[i].text ? text[i].text : ""; break; }
    }
    if (found) {
        size_t n = strlen(found) + 1;
        *value = malloc(n);
        if (*value) memcpy(*value, found, n);
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(img);
    free(rows);
    free(file);
    if (!found) return vg_fail(VG_ERR_FORMAT, "%s: no tEXt chunk with key '%s'", path, key);
    if (!*value) return vg_fail(VG_ERR_OOM, "%s: out of memory", path);
    return VG_OK;
}
