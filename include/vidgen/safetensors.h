/* safetensors.h - reader (mmap, validated) and writer (atomic) for .safetensors.
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string", ...}}, then the data region.
 * The reader validates: header length against file size, JSON is an object,
 * each entry's fields and types, dtype names, shape x dtype size == end-begin
 * (overflow-checked), offsets within the data region, no overlaps, no duplicate names.
 *
 * Views: vg_tensor.data points into a read-only (PROT_READ) mapping of the file, valid until
 * vg_st_close; never write through it. Every data pointer is aligned to its element size:
 * tensors whose file position is not (header length not a multiple of 8, or a writer that
 * packed an I64 after an odd number of F32s) are copied once at open into one 64-byte
 * aligned side buffer owned by the file. Files written by vg_st_writer need no copies.
 * Truncating the file while it is open is undefined (SIGBUS), as with any mmap reader. */
#ifndef VIDGEN_SAFETENSORS_H
#define VIDGEN_SAFETENSORS_H
#include "vidgen/status.h"
#include "vidgen/tensor.h"

typedef struct vg_st_file vg_st_file; /* opaque */

/* Opens and validates path. On success *out owns the mapping; free with vg_st_close.
 * Errors: VG_ERR_IO (cannot open/map), VG_ERR_FORMAT (any validation failure; the
 * message names the file, the tensor and what was expected vs found). */
vg_status vg_st_open(vg_st_file **out, const char *path);
void vg_st_close(vg_st_file *f); /* NULL ok */

const char *vg_st_path(const vg_st_file *f);
int64_t vg_st_count(const vg_st_file *f);
const char *vg_st_name(const vg_st_file *f, int64_t i);
const vg_tensor *vg_st_at(const vg_st_file *f, int64_t i);
/* Tensor by name, NULL when absent (does not record an error). */
const vg_tensor *vg_st_get(const vg_st_file *f, const char *name);
/* Value of __metadata__[key], NULL when absent. */
const char *vg_st_metadata(const vg_st_file *f, const char *key);

/* Looks up name, checks ndim/shape (shape entries < 0 are wildcards; ndim < 0 accepts any
 * shape) and marks it used. *out (may be NULL) borrows from f. Errors: VG_ERR_FORMAT
 * "missing tensor 'x' (expected shape [..])", VG_ERR_SHAPE "tensor 'x': shape [found],
 * expected [..]" (wildcards print as '*'). The used marks are the only mutable state. */
vg_status vg_st_require(const vg_st_file *f, const char *name, int ndim, const int64_t *shape,
                        const vg_tensor **out);
/* VG_ERR_FORMAT naming the first tensor never passed to vg_st_require (an unexpected tensor). */
vg_status vg_st_check_all_used(const vg_st_file *f);
/* Clear the "used" marks. */
void vg_st_reset_used(vg_st_file *f);

/* A vg_st_file over tensor views that live elsewhere (another format's mapping, converted
 * copies), so code written for safetensors reads them: views and names are copied (not the
 * data), meta_kv holds n_meta key/value string pairs, release(owner) runs at vg_st_close (also
 * when this fails). VG_ERR_FORMAT for a duplicate name. Used for GGUF files (wan_gguf.c). */
vg_status vg_st_from_views(vg_st_file **out, const char *path, int64_t n, const char *const *names,
                           const vg_tensor *t, int64_t n_meta, const char *const *meta_kv, void *owner,
                           void (*release)(void *));

/* Writer. Tensors are copied at add time (the caller keeps its buffers); duplicate names,
 * "__metadata__" and duplicate metadata keys are refused with VG_ERR_ARG. save writes
 * path.tmp.<pid> + fsync + rename (vg_file_write_atomic_v). Layout: header padded with
 * spaces to a multiple of 8; tensors ordered by element size (largest first, then in
 * insertion order) with contiguous offsets, so each starts aligned to its element size. */
typedef struct vg_st_writer vg_st_writer;
vg_st_writer *vg_st_writer_new(void); /* NULL on OOM */
vg_status vg_st_writer_add(vg_st_writer *w, const char *name, vg_dtype dt, int ndim,
                           const int64_t *shape, const void *data);
/* Adds f32 data converted to dt (F32, F16, BF16). */
vg_status vg_st_writer_add_f32(vg_st_writer *w, const char *name, vg_dtype dt, int ndim,
                               const int64_t *shape, const float *data);
vg_status vg_st_writer_meta(vg_st_writer *w, const char *key, const char *value);
vg_status vg_st_writer_save(vg_st_writer *w, const char *path);
void vg_st_writer_free(vg_st_writer *w); /* NULL ok */

#endif
