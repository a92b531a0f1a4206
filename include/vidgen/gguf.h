/* gguf.h - reader (mmap, validated) and streaming atomic writer for GGUF files (versions 2, 3).
 * Format (ggml docs/gguf.md): "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv metadata
 * entries (string key, u32 value type, value); n_tensors tensor infos (string name, u32 n_dims,
 * u64 ne[n_dims] innermost first, u32 ggml type, u64 offset); padding to general.alignment
 * (default 32); the data region. Strings are u64 length + bytes (no NUL). Little-endian.
 *
 * The reader validates every count, length, dimension, type id, offset and size (overflow-checked)
 * before use: offsets aligned and within the file, no overlaps, no duplicate names or keys, ne[0]
 * a multiple of the type's block, nested arrays bounded by the file size (depth <= 8). Tensors
 * are vg_tensor views into a read-only mapping: shape in torch order (ne reversed), dtype the vg
 * dtype (F32, F16, BF16, Q8_0 .. Q6_K). Tensor data is never copied, except a plain or block
 * tensor whose address is not a multiple of its element alignment (files with general.alignment
 * 1): those are copied once into an aligned side buffer. */
#ifndef VIDGEN_GGUF_H
#define VIDGEN_GGUF_H
#include <stdbool.h>
#include <stdint.h>
#include "vidgen/status.h"
#include "vidgen/tensor.h"

typedef struct vg_gguf vg_gguf; /* opaque */

/* GGUF metadata value types (the file's ids). */
typedef enum {
    VG_GGUF_U8 = 0, VG_GGUF_I8, VG_GGUF_U16, VG_GGUF_I16, VG_GGUF_U32, VG_GGUF_I32, VG_GGUF_F32,
    VG_GGUF_BOOL, VG_GGUF_STRING, VG_GGUF_ARRAY, VG_GGUF_U64, VG_GGUF_I64, VG_GGUF_F64,
    VG_GGUF_TYPE_COUNT
} vg_gguf_type;

/* True when the file at path starts with "GGUF" (false when unreadable). */
bool vg_gguf_is_gguf(const char *path);

/* Opens and validates. Errors: VG_ERR_IO (cannot open/map), VG_ERR_FORMAT (the message names
 * the file, the tensor or key where there is one, and what was wrong); a tensor of a type
 * vidgen does not compute (IQ4_XS ...) is VG_ERR_FORMAT naming the tensor, the type and the
 * types vidgen reads. */
vg_status vg_gguf_open(vg_gguf **out, const char *path);
void vg_gguf_close(vg_gguf *f); /* NULL ok */

const char *vg_gguf_path(const vg_gguf *f);
uint32_t vg_gguf_version(const vg_gguf *f);
uint32_t vg_gguf_alignment(const vg_gguf *f);
int64_t vg_gguf_count(const vg_gguf *f);
const char *vg_gguf_name(const vg_gguf *f, int64_t i);
const vg_tensor *vg_gguf_at(const vg_gguf *f, int64_t i);
/* Byte offset of tensor i's data from the start of the file. */
int64_t vg_gguf_file_offset(const vg_gguf *f, int64_t i);
const vg_tensor *vg_gguf_get(const vg_gguf *f, const char *name); /* NULL when absent */
int64_t vg_gguf_index(const vg_gguf *f, const char *name);       /* -1 when absent */

/* Metadata. Keys are looked up exactly. */
int64_t vg_gguf_kv_count(const vg_gguf *f);
const char *vg_gguf_kv_key(const vg_gguf *f, int64_t i);
/* Type of key's value (-1 when absent); for arrays *elem (may be NULL) gets the element type
 * and *count (may be NULL) the element count. */
int vg_gguf_kv_type(const vg_gguf *f, const char *key, int *elem, int64_t *count);
/* String value (NUL-terminated copy owned by f), NULL when absent or not a string. */
const char *vg_gguf_get_str(const vg_gguf *f, const char *key);
/* Any integer or bool scalar; false when absent, another type, or a u64 above INT64_MAX. */
bool vg_gguf_get_int(const vg_gguf *f, const char *key, int64_t *out);
/* Any float or integer scalar as a double. */
bool vg_gguf_get_f64(const vg_gguf *f, const char *key, double *out);
/* Array of integers: the count (also when > cap; the first min(count, cap) go to out), -1
 * when absent, not an array of integers, or a u64 element above INT64_MAX. */
int64_t vg_gguf_get_ints(const vg_gguf *f, const char *key, int64_t *out, int64_t cap);
/* An array of U8 (or I8) in place in the mapping (valid while f is open), *n its length; NULL
 * when absent or another type. */
const void *vg_gguf_get_bytes(const vg_gguf *f, const char *key, int64_t *n);

/* As vg_st_require: looks up name, checks ndim/shape (entries < 0 are wildcards, ndim < 0 any),
 * marks it used. VG_ERR_FORMAT "FILE: missing tensor 'x' (expected shape [..])", VG_ERR_SHAPE
 * "FILE: tensor 'x': shape [..], expected [..]". */
vg_status vg_gguf_require(const vg_gguf *f, const char *name, int ndim, const int64_t *shape,
                          const vg_tensor **out);
vg_status vg_gguf_check_all_used(const vg_gguf *f); /* VG_ERR_FORMAT naming the first unused */
void vg_gguf_reset_used(vg_gguf *f);

/* ---- writer ---------------------------------------------------------------------------------
 * Tensors are produced at save time, one row chunk at a time, so a file of any size is written
 * with little memory: fill(ctx, row0, nrows, dst) writes nrows rows (row = shape[ndim-1]
 * elements of dtype, vg_dtype_row_bytes bytes) starting at row row0. Layout: version 3,
 * general.alignment 32 (written as metadata), tensor data in insertion order, each padded to 32.
 * save writes path.tmp.<pid>, fsyncs, renames (the file appears whole or not at all). */
typedef struct vg_gguf_writer vg_gguf_writer;
typedef vg_status (*vg_gguf_fill_fn)(void *ctx, int64_t row0, int64_t nrows, void *dst);
vg_gguf_writer *vg_gguf_writer_new(void); /* NULL on OOM */
void vg_gguf_writer_free(vg_gguf_writer *w); /* NULL ok */
/* shape in torch order, 1..4 dims, every dimension >= 1, the last a multiple of the block. ctx
 * must stay valid until save. VG_ERR_ARG: duplicate name, bad dtype/shape. */
vg_status vg_gguf_writer_add(vg_gguf_writer *w, const char *name, vg_dtype dt, int ndim, const int64_t *shape,
                             vg_gguf_fill_fn fill, void *ctx);
/* Adds in-memory data (copied now). */
vg_status vg_gguf_writer_add_data(vg_gguf_writer *w, const char *name, vg_dtype dt, int ndim,
                                  const int64_t *shape, const void *data);
vg_status vg_gguf_writer_meta_str(vg_gguf_writer *w, const char *key, const char *value);
vg_status vg_gguf_writer_meta_u32(vg_gguf_writer *w, const char *key, uint32_t value);
/* Array of i32 (e.g. comfy.gguf.orig_shape.<name>). */
vg_status vg_gguf_writer_meta_i32s(vg_gguf_writer *w, const char *key, const int64_t *v, int n);
/* An array of U8 (e.g. vidgen.spiece_model: the SentencePiece model of a umT5 encoder). */
vg_status vg_gguf_writer_meta_bytes(vg_gguf_writer *w, const char *key, const void *data, int64_t n);
vg_status vg_gguf_writer_save(vg_gguf_writer *w, const char *path);

/* The ggml type id of a vg dtype (-1 for the safetensors-only types), and back. */
int vg_gguf_type_of(vg_dtype dt);
bool vg_gguf_dtype_of(uint32_t ggml_type, vg_dtype *out);
/* ggml's name of type id t ("IQ4_XS"), NULL past the known ids. */
const char *vg_gguf_type_name(uint32_t t);

#endif
