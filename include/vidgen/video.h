/* video.h - playable clip files written by vidgen itself: APNG (libpng-free, zlib deflate),
 * GIF89a (own LZW, fixed 6x6x6 cube + 40-level gray palette, 8x8 Bayer ordered dithering),
 * YUV4MPEG2 (BT.601 limited range, C444 or C420jpeg with 2x2-averaged chroma) and a
 * contact-sheet PNG. References: APNG spec (wiki.mozilla.org/APNG_Specification), GIF89a
 * spec (w3.org/Graphics/GIF/spec-gif89a.txt), YUV4MPEG2 (wiki.multimedia.cx), ITU-R BT.601.
 * Layout: a clip is uint8 RGB [F][H][W][3], rows top to bottom.
 * Legend: F frames, H W height width. */
#ifndef VIDGEN_VIDEO_H
#define VIDGEN_VIDEO_H
#include <stdint.h>
#include <stdio.h>
#include "vidgen/status.h"

/* Largest frame side any of these writers accepts (GIF and APNG store 16/31-bit sizes). */
enum { VG_VIDEO_MAX_SIDE = 16384 };

/* APNG delay as a fraction: delay_num / delay_den seconds per frame (both <= 65535).
 * fps in [0.01, 655]: num = 100, den = round(fps * 100). */
void vg_apng_delay(double fps, uint16_t *num, uint16_t *den);

/* APNG of F frames, each shown 1/fps s, looping forever. Frame 0 is also the default
 * image (IDAT), so viewers without APNG show the first frame. Every frame is a full
 * RGB image (fcTL dispose NONE, blend SOURCE). *out malloc'd (caller frees).
 * VG_ERR_ARG (sizes, fps), VG_ERR_OOM. */
/* An encoder of a clip [F][H][W][3] into a malloc'd file image (APNG, GIF). */
typedef vg_status (*vg_video_encode_fn)(uint8_t **out, size_t *n, const uint8_t *clip, int64_t f, int w, int h, double fps);
/* Encodes with enc and writes path atomically; errors are prefixed with the path. */
vg_status vg_video_write_encoded(const char *path, vg_video_encode_fn enc, const uint8_t *clip, int64_t f, int w,
                                 int h, double fps);
vg_status vg_apng_encode(uint8_t **out, size_t *n, const uint8_t *clip, int64_t f, int w, int h, double fps);
/* Encodes, then writes path atomically (vg_file_write_atomic). Errors name the path. */
vg_status vg_apng_write(const char *path, const uint8_t *clip, int64_t f, int w, int h, double fps);

/* The fixed GIF palette pal[256][3]: entries 0..215 are the 6x6x6 cube (levels 0, 51, ..,
 * 255; index 36r + 6g + b), entries 216..255 the 40 grays i*255/45 (rounded) for the i in
 * 1..44 that are not multiples of 9 (the cube already holds those). */
void vg_gif_palette(uint8_t pal[256][3]);
/* Palette indices idx[H][W] of one RGB frame [H][W][3], ordered-dithered with an 8x8 Bayer
 * matrix anchored at the frame's top-left pixel. Near-gray pixels (max - min channel <= 12)
 * are dithered on the 46-level gray ramp, others on the cube, channel by channel. */
void vg_gif_quantize(uint8_t *idx, const uint8_t *rgb, int w, int h);
/* GIF centiseconds per frame: round(100 / fps), at least 2 (browsers slow smaller delays to 10). */
int vg_gif_delay_cs(double fps);
/* Animated GIF89a (NETSCAPE2.0 loop forever), global palette as vg_gif_palette, each frame
 * a full image coded with LZW (min code size 8, codes up to 12 bits, clear when full).
 * *out malloc'd (caller frees). VG_ERR_ARG (sizes > 65535, fps), VG_ERR_OOM. */
vg_status vg_gif_encode(uint8_t **out, size_t *n, const uint8_t *clip, int64_t f, int w, int h, double fps);
vg_status vg_gif_write(const char *path, const uint8_t *clip, int64_t f, int w, int h, double fps);

typedef enum { VG_Y4M_444, VG_Y4M_420 } vg_y4m_chroma;
/* BT.601 limited range, integer form: Y = ((66R + 129G + 25B + 128) >> 8) + 16,
 * Cb = (-38R - 74G + 112B + 32896) >> 8, Cr = (112R - 94G - 18B + 32896) >> 8.
 * For C420jpeg the chroma of each 2x2 block (fewer at odd edges) is the same sum over its
 * pixels divided by 256 * count: centred siting, as JPEG. */
void vg_rgb_to_ycbcr601(uint8_t ycc[3], const uint8_t rgb[3]);
/* Whole stream (header "YUV4MPEG2 W H F<num>:<den> Ip A1:1 C444|C420jpeg", then "FRAME\n"
 * + planes per frame) to fp; fps as a reduced fraction of round(fps * 1000) / 1000.
 * VG_ERR_ARG, VG_ERR_IO (write failed, e.g. a closed pipe), VG_ERR_OOM. */
vg_status vg_y4m_write_fp(FILE *fp, const uint8_t *clip, int64_t f, int w, int h, double fps, vg_y4m_chroma c);
/* The same into a file, atomically (temporary file + rename). */
vg_status vg_y4m_write(const char *path, const uint8_t *clip, int64_t f, int w, int h, double fps, vg_y4m_chroma c);

/* Contact sheet: frames in reading order on a grid of cols columns (cols <= 0: ceil(sqrt(F))),
 * separated and framed by gap pixels of gray 48. *sheet malloc'd RGB [sh][sw][3] (caller
 * frees). VG_ERR_ARG, VG_ERR_OOM. */
vg_status vg_sheet_make(uint8_t **sheet, int *sw, int *sh, const uint8_t *clip, int64_t f, int w, int h, int cols, int gap);
/* Makes the sheet and writes it as a PNG (vg_png_write, atomic). */
vg_status vg_sheet_write(const char *path, const uint8_t *clip, int64_t f, int w, int h, int cols, int gap);

#endif
