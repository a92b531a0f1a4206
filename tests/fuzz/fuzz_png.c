/* fuzz_png.c - PNG frames as `--init-frames` and `vidgen score` read them: vg_png_read (any
 * colour type, bit depth, interlace, truncation, bad CRC/zlib) and vg_png_read_text (tEXt). */
#include "fuzz_common.h"
#include "vidgen/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[PATH_MAX];
    vgf_write(path, sizeof(path), "frame_0001.png", data, size);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    if (vg_png_read(path, &rgb, &w, &h) == VG_OK) {
        if (w <= 0 || h <= 0 || !rgb) abort();
        unsigned s = 0;
        for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++) s += rgb[i];
        if (s == 0xdeadbeefu) fputs("", stderr); /* every byte read (ASan checks the buffer) */
        free(rgb);
    }
    char *txt = NULL;
    if (vg_png_read_text(path, "parameters", &txt) == VG_OK) free(txt);
    return 0;
}
