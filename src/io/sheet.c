/* sheet.c - contact sheet: every frame of a clip on one grid image, in reading order, so a
 * long clip can be judged at a glance (drift, flicker, pops). Layout: clip [F][H][W][3]
 * uint8 RGB in, sheet [SH][SW][3] out with SW = cols*(W+gap)+gap, SH = rows*(H+gap)+gap.
 * Legend: F frames, H W frame size, SH SW sheet size. */
#include <stdlib.h>
#include <string.h>
#include "vidgen/io.h"
#include "vidgen/video.h"

vg_status vg_sheet_make(uint8_t **sheet, int *sw, int *sh, const uint8_t *clip, int64_t f, int w, int h, int cols, int gap) {
    *sheet = NULL;
    if (!clip || f < 1 || w < 1 || h < 1 || gap < 0 || gap > 64)
        return vg_fail(VG_ERR_ARG, "sheet: %lld frames of %dx%d, gap %d: expected >= 1 frame and gap 0..64", (long long)f, w, h, gap);
    if (cols <= 0) { cols = 1; while ((int64_t)cols * cols < f) cols++; }
    if (cols > f) cols = (int)f;
    int64_t rows = (f + cols - 1) / cols;
    int64_t W = (int64_t)cols * (w + gap) + gap, H = rows * (h + gap) + gap;
    if (W > 32768 || H > 32768 || W * H > ((int64_t)1 << 28))
        return vg_fail(VG_ERR_ARG, "sheet: %lldx%lld pixels for %lld frames of %dx%d is too large (at most 2^28 pixels, 32768 a side)",
                       (long long)W, (long long)H, (long long)f, w, h);
    uint8_t *s = malloc((size_t)(W * H * 3));
    if (!s) return vg_fail(VG_ERR_OOM, "sheet: out of memory");
    memset(s, 48, (size_t)(W * H * 3));
    for (int64_t i = 0; i < f; i++) {
        int64_t x0 = gap + (i % cols) * (w + gap), y0 = gap + (i / cols) * (h + gap);
        for (int y = 0; y < h; y++)
            memcpy(s + ((y0 + y) * W + x0) * 3, clip + (((size_t)i * h + y) * w) * 3, (size_t)w * 3);
    }
    *sheet = s;
    *sw = (int)W;
    *sh = (int)H;
    return VG_OK;
}

vg_status vg_sheet_write(const char *path, const uint8_t *clip, int64_t f, int w, int h, int cols, int gap) {
    uint8_t *s;
    int sw, sh;
    vg_status st = vg_sheet_make(&s, &sw, &sh, clip, f, w, h, cols, gap);
    if (st) return st;
    st = vg_png_write(path, s, sw, sh, NULL, NULL, 0);
    free(s);
    return st;
}
