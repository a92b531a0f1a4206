/* y4m.c - YUV4MPEG2 writer (the format ffmpeg, mpv and x264 read from a pipe).
 * Reference: YUV4MPEG2 description (wiki.multimedia.cx/index.php/YUV4MPEG2), ITU-R BT.601
 * limited-range integer coefficients. Layout: header line, then per frame "FRAME\n", the
 * Y plane [H][W], Cb and Cr planes [H][W] (C444) or [ceil(H/2)][ceil(W/2)] (C420jpeg, each
 * sample the mean of its 2x2 block: centred chroma siting). Legend: F frames, H W size. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "vidgen/io.h"
#include "vidgen/video.h"

void vg_rgb_to_ycbcr601(uint8_t ycc[3], const uint8_t rgb[3]) {
    int r = rgb[0], g = rgb[1], b = rgb[2];
    ycc[0] = (uint8_t)(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
    ycc[1] = (uint8_t)((-38 * r - 74 * g + 112 * b + 32896) >> 8); /* sums stay >= 0: no signed shifts */
    ycc[2] = (uint8_t)((112 * r - 94 * g - 18 * b + 32896) >> 8);
}

static uint64_t gcd(uint64_t a, uint64_t b) { while (b) { uint64_t t = a % b; a = b; b = t; } return a; }

/* One frame's planes into out (Y, then Cb, then Cr). */
static void frame_planes(uint8_t *out, const uint8_t *rgb, int w, int h, vg_y4m_chroma c) {
    const size_t np = (size_t)w * h;
    if (c == VG_Y4M_444) {
        for (size_t i = 0; i < np; i++) {
            uint8_t ycc[3];
            vg_rgb_to_ycbcr601(ycc, rgb + i * 3);
            out[i] = ycc[0];
            out[np + i] = ycc[1];
            out[2 * np + i] = ycc[2];
        }
        return;
    }
    const int cw = (w + 1) / 2, ch = (h + 1) / 2;
    uint8_t *cb = out + np, *cr = cb + (size_t)cw * ch;
    for (size_t i = 0; i < np; i++) {
        const uint8_t *p = rgb + i * 3;
        out[i] = (uint8_t)(((66 * p[0] + 129 * p[1] + 25 * p[2] + 128) >> 8) + 16);
    }
    for (int cy = 0; cy < ch; cy++)
        for (int cx = 0; cx < cw; cx++) {
            long su = 0, sv = 0, cnt = 0;
            for (int y = 2 * cy; y < 2 * cy + 2 && y < h; y++)
                for (int x = 2 * cx; x < 2 * cx + 2 && x < w; x++) {
                    const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
                    su += -38 * p[0] - 74 * p[1] + 112 * p[2] + 32768;
                    sv += 112 * p[0] - 94 * p[1] - 18 * p[2] + 32768;
                    cnt++;
                }
            /* (sum + 128 cnt) / (256 cnt): the 444 rounding, averaged */
            cb[(size_t)cy * cw + cx] = (uint8_t)((su + 128 * cnt) / (256 * cnt));
            cr[(size_t)cy * cw + cx] = (uint8_t)((sv + 128 * cnt) / (256 * cnt));
        }
}

static size_t frame_bytes(int w, int h, vg_y4m_chroma c) {
    size_t np = (size_t)w * h;
    return c == VG_Y4M_444 ? 3 * np : np + 2 * (size_t)((w + 1) / 2) * ((h + 1) / 2);
}

static vg_status check_args(const uint8_t *clip, int64_t f, int w, int h, double fps, vg_y4m_chroma c) {
    if (!clip || f < 1 || w < 1 || h < 1 || w > VG_VIDEO_MAX_SIDE || h > VG_VIDEO_MAX_SIDE)
        return vg_fail(VG_ERR_ARG, "y4m: %lld frames of %dx%d: expected >= 1 frame of 1..%d pixels a side",
                       (long long)f, w, h, VG_VIDEO_MAX_SIDE);
    if (!(fps >= 0.001 && fps <= 1e6)) return vg_fail(VG_ERR_ARG, "y4m: fps %g outside [0.001, 1e6]", fps);
    if (c != VG_Y4M_444 && c != VG_Y4M_420) return vg_fail(VG_ERR_ARG, "y4m: unknown chroma layout %d", (int)c);
    return VG_OK;
}

static int header(char *hdr, size_t n, int w, int h, double fps, vg_y4m_chroma c) {
    uint64_t num = (uint64_t)(fps * 1000 + 0.5), den = 1000, g = gcd(num, den);
    return snprintf(hdr, n, "YUV4MPEG2 W%d H%d F%llu:%llu Ip A1:1 %s\n", w, h, (unsigned long long)(num / g),
                    (unsigned long long)(den / g), c == VG_Y4M_444 ? "C444" : "C420jpeg");
}

vg_status vg_y4m_write_fp(FILE *fp, const uint8_t *clip, int64_t f, int w, int h, double fps, vg_y4m_chroma c) {
    vg_status st = check_args(clip, f, w, h, fps, c);
    if (st) return st;
    char hdr[128];
    header(hdr, sizeof(hdr), w, h, fps, c);
    const size_t fb = frame_bytes(w, h, c);
    uint8_t *planes = malloc(fb);
    if (!planes) return vg_fail(VG_ERR_OOM, "y4m: out of memory for a %dx%d frame", w, h);
    if (fputs(hdr, fp) == EOF) goto out_io;
    for (int64_t i = 0; i < f; i++) {
        frame_planes(planes, clip + (size_t)i * w * h * 3, w, h, c);
        if (fputs("FRAME\n", fp) == EOF || fwrite(planes, 1, fb, fp) != fb) goto out_io;
    }
    if (fflush(fp)) goto out_io;
    free(planes);
    return VG_OK;
out_io:;
    int e = errno;
    free(planes);
    return vg_fail(VG_ERR_IO, "y4m: write failed: %s", strerror(e));
}

vg_status vg_y4m_write(const char *path, const uint8_t *clip, int64_t f, int w, int h, double fps, vg_y4m_chroma c) {
    vg_status st = check_args(clip, f, w, h, fps, c);
    if (st) return st;
    char hdr[128];
    int hn = header(hdr, sizeof(hdr), w, h, fps, c);
    const size_t fb = frame_bytes(w, h, c), per = 6 + fb;
    if ((uint64_t)f > (SIZE_MAX - (size_t)hn) / per) return vg_fail(VG_ERR_ARG, "%s: %lld frames are too many for memory", path, (long long)f);
    uint8_t *all = malloc((size_t)hn + per * (size_t)f);
    if (!all) return vg_fail(VG_ERR_OOM, "%s: out of memory for %lld frames", path, (long long)f);
    memcpy(all, hdr, (size_t)hn);
    for (int64_t i = 0; i < f; i++) {
        uint8_t *o = all + hn + per * (size_t)i;
        memcpy(o, "FRAME\n", 6);
        frame_planes(o + 6, clip + (size_t)i * w * h * 3, w, h, c);
    }
    st = vg_file_write_atomic(path, all, (size_t)hn + per * (size_t)f);
    free(all);
    return st;
}
