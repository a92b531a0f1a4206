/* io.h - files: atomic writes, PNG frames (libpng), small helpers. */
#ifndef VIDGEN_IO_H
#define VIDGEN_IO_H
#include <stdint.h>
#include <stddef.h>
#include "vidgen/status.h"

/* Writes n bytes to path via path.tmp.<pid> + fsync + rename: the file appears whole or not at all. */
vg_status vg_file_write_atomic(const char *path, const void *data, size_t n);
/* Same, for a file made of n_parts pieces written in order (no concatenation copy). */
typedef struct { const void *data; size_t n; } vg_iov;
vg_status vg_file_write_atomic_v(const char *path, const vg_iov *parts, int n_parts);
/* Reads a whole file; *out is NUL-terminated (caller frees). Errors name the path. */
vg_status vg_file_read(const char *path, char **out, size_t *n);
/* mkdir -p: creates path and any missing parents (mode 0755); ok when it exists as a
 * directory. VG_ERR_IO names the component that failed. */
vg_status vg_mkdir_p(const char *path);
/* Asks the kernel to reclaim the whole pages inside [p, p + n) (madvise MADV_PAGEOUT): clean
 * pages of a mapped file leave the resident set and are re-read if touched again; it never
 * discards data, so it is safe on any memory. A no-op where the kernel lacks it. */
void vg_release_pages(const void *p, size_t n);

/* 8-bit RGB PNG, rows top to bottom, rgb[(y*w + x)*3 + c]. Optional tEXt chunks:
 * keys/values arrays of n_text entries (may be 0; keys 1-79 bytes). Encoded in memory,
 * then written atomically (vg_file_write_atomic). VG_ERR_ARG for bad sizes/keys. */
vg_status vg_png_write(const char *path, const uint8_t *rgb, int w, int h,
                       const char *const *keys, const char *const *values, int n_text);
/* Reads any PNG (gray, palette, alpha, 16-bit are converted) to 8-bit RGB; *rgb
 * malloc'd (caller frees). Alpha is composited over black: round(c*a/255); 16-bit samples
 * are scaled with rounding. Errors name the file: VG_ERR_IO (cannot read), VG_ERR_FORMAT
 * (not a PNG, truncated, a chunk longer than the file, CRC/zlib errors, more than 2^28
 * pixels). */
vg_status vg_png_read(const char *path, uint8_t **rgb, int *w, int *h);
/* Value of tEXt chunk key, before or after the image data (malloc'd, caller frees);
 * VG_ERR_FORMAT if absent. */
vg_status vg_png_read_text(const char *path, const char *key, char **value);

#endif
