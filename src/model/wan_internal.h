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
