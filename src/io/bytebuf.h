/* bytebuf.h - growable byte buffer for the writers that build a whole file (apng.c, gif.c) or
 * header (safetensors.c) in memory before one atomic write. Private to src/io. On allocation failure the buffer
 * stops growing and sets oom; the writer checks oom once at the end. */
#ifndef VIDGEN_IO_BYTEBUF_H
#define VIDGEN_IO_BYTEBUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct { uint8_t *p; size_t n, cap; bool oom; } vg_bytebuf;
/* Appends n bytes of d (doubling the capacity from 4 KiB as needed). */
void vg_bytebuf_put(vg_bytebuf *b, const void *d, size_t n);

#endif
