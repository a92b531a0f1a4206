/* fuzz_manifest.c - a dataset folder's manifest.jsonl (vg_folder_open: clip names, captions,
 * frame counts, the frames' PNG headers), then reading every usable clip. The folder holds
 * two real clips (clip_a: 3 frames 8x8, clip_b: 2 frames 8x8) and one with a bad frame. */
#include "fuzz_common.h"
#include "vidgen/data.h"
#include "vidgen/io.h"

static char g_dir[PATH_MAX];

static void quiet(void *ctx, const char *msg) { (void)ctx; (void)msg; }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    snprintf(g_dir, sizeof(g_dir), "%s/ds", vgf_dir());
    static const struct { const char *clip; int frames; } clips[] = {{"clip_a", 3}, {"clip_b", 2}, {"clip_c", 1}};
    uint8_t rgb[8 * 8 * 3];
    for (int c = 0; c < 3; c++)
        for (int f = 1; f <= clips[c].frames; f++) {
            char p[PATH_MAX + 64];
            snprintf(p, sizeof(p), "%s/%s", g_dir, clips[c].clip);
            if (vg_mkdir_p(p)) abort();
            snprintf(p, sizeof(p), "%s/%s/frame_%04d.png", g_dir, clips[c].clip, f);
            for (int i = 0; i < (int)sizeof(rgb); i++) rgb[i] = (uint8_t)(i * 7 + f * 40 + c);
            if (vg_png_write(p, rgb, 8, 8, NULL, NULL, 0)) abort();
        }
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/clip_c/frame_0002.png", g_dir);
    if (vg_file_write_atomic(p, "\x89PNG\r\n\x1a\n", 8)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/manifest.jsonl", g_dir);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
    vg_folder *fo = NULL;
    if (vg_folder_open(&fo, g_dir, 0, 0, 1, quiet, NULL) != VG_OK) return 0;
    int h, w;
    vg_folder_size(fo, &h, &w);
    for (int64_t i = 0; i < vg_folder_count(fo); i++) {
        (void)vg_folder_name(fo, i);
        (void)strlen(vg_folder_caption(fo, i));
        int nf = vg_folder_frames(fo, i);
        if (nf > 8) nf = 8;
        uint8_t *rgb = malloc((size_t)nf * (size_t)h * (size_t)w * 3 + 1);
        if (rgb) { (void)vg_folder_read(fo, i, 0, nf, rgb); free(rgb); }
    }
    vg_folder_free(fo);
    return 0;
}
