/* wan_internal.h - what the Wan files share: the shard set (one checkpoint as its safetensors
 * shards, with the tensors a loader used), small path helpers, and the lookups the name maps and
 * discovery use. Private to src/model/wan*.c. */
#ifndef VIDGEN_WAN_INTERNAL_H
#define VIDGEN_WAN_INTERNAL_H
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "vidgen/generate.h"
#include "vidgen/io.h"
#include "vidgen/tokenizer.h"
#include "vidgen/wan.h"

struct vg_wan_files {
    char *path;
    int n;
    vg_st_file **sh;
    bool **used;       /* [n][count of shard i] */
    int64_t bytes;
};

/* A GGUF file as a vg_st_file in the names and shapes of the safetensors layouts (wan_gguf.c). */
vg_status vg_wan_gguf_open_(vg_st_file **out, const char *path);

/* Bytes of the DiT's weights once vg_wan_dit_load_as(.., weight_type) converted them (estimates). */
int64_t vg_wan_dit_bytes_as_(const vg_wan_files *f, int weight_type);

/* Bytes of matrix t once converted to wtype at load (--type), 0 when it stays as it is: not a 2-D
 * F32/F16/BF16 tensor, already wtype, or rows that are not a multiple of wtype's block. */
int64_t vg_wan_converted_bytes_(const vg_tensor *t, int wtype);
/* A float matrix t [rows, cols] converted row-chunk by row-chunk to wt (any type vg_quantize
 * writes) into dst (vg_dtype_row_bytes(wt, cols) * rows bytes); then t's pages are released. */
vg_status vg_wan_convert_matrix_(const vg_tensor *t, vg_dtype wt, void *dst);

/* The text stage of the pipeline (wan_text.c): tokenizer, then umT5 on the prompt and, when neg is
 * not NULL, the negative prompt in one pass over the encoder, streamed block by block (a block's
 * mapped pages are released after it; weight_type >= 0 converts a block's matrices just before it,
 * as --type does for the DiT). ctx [2][L][Dt] gets the contexts, zero beyond the real tokens.
 * The encoder's files are closed on return. */
vg_status vg_wan_encode_text_(float *ctx, int64_t L, int64_t Dt, const vg_wan_paths *paths, const char *prompt,
                              const char *neg, int weight_type, int64_t *n_tok, int64_t *n_tok_neg);
/* Bytes the streamed encoder holds at once (one block's source and converted matrices, the
 * small tensors and the working memory for 2 sequences of L tokens), for the estimate. */
vg_status vg_wan_text_bytes_(int64_t *bytes, const char *t5_path, int weight_type, int64_t L);

/* vg_st_require across the shards; marks the tensor used. Missing: names the set's path. */
vg_status vg_wan_files_require_(vg_wan_files *f, const char *name, int nd, const int64_t *shape, const vg_tensor **out);
void vg_wan_files_reset_used_(vg_wan_files *f);
/* A tensor whose name is prefix + key for some prefix ending in '.' (or empty): the prefix. */
bool vg_wan_find_suffix_(const vg_wan_files *f, const char *key, char *prefix, size_t cap);
/* The Hugging Face T5 name of an official umT5 name (false when it has none). */
bool vg_wan_t5_hf_name_(char *out, size_t cap, const char *o);

static inline double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static inline bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static inline bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static inline int64_t file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

/* directory part of a path ("." when none) */
static inline void dir_of(char *out, size_t cap, const char *path) {
    const char *s = strrchr(path, '/');
    if (!s) snprintf(out, cap, ".");
    else snprintf(out, cap, "%.*s", (int)(s - path > 0 ? s - path : 1), path);
}

#endif
