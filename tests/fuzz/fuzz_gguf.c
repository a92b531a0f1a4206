/* fuzz_gguf.c - vg_gguf_open on arbitrary bytes (header, metadata of every value type and nested
 * arrays, tensor infos, alignment, offsets, the unaligned-tensor side buffer), every metadata and
 * tensor accessor, every byte of every tensor read and every quantized row dequantized; then the
 * same file as the Wan loaders open it (wan_gguf.c: ComfyUI orig_shape, sd.cpp folds, llama.cpp
 * umT5 names, the small tensors dequantized to f32), every view read in full. Seeds:
 * tests/fuzz/corpus/gguf/ (written by tests/fuzz/gguf_seeds.py). */
#include "fuzz_common.h"
#include "model/wan_internal.h"
#include "vidgen/gguf.h"
#include "vidgen/quant.h"
#include "vidgen/safetensors.h"
#include "vidgen/tensor.h"

static unsigned g_sum;

/* VGF_VERBOSE=1 ./build-fuzz/fuzz_gguf FILE: says how far FILE got (libFuzzer's -close_fd_mask hides it). */
static int rejected(const char *stage) {
    if (getenv("VGF_VERBOSE")) fprintf(stderr, "fuzz_gguf: %s: %s\n", stage, vg_last_error());
    return 0;
}

static void read_bytes(const void *p, size_t n) {
    for (size_t k = 0; k < n; k++) g_sum += ((const uint8_t *)p)[k];
}

static size_t tensor_bytes(const vg_tensor *t) {
    int64_t n = vg_tensor_numel(t), b = vg_dtype_block(t->dtype);
    if (n < 0 || b < 1 || n % b) abort(); /* the reader promised whole blocks */
    return (size_t)(n / b) * vg_dtype_block_bytes(t->dtype);
}

/* Dequantizes a quantized tensor row by row (at most 64 Ki elements: the file bounds the rest). */
static void dequant_all(const vg_tensor *t) {
    if (!vg_dtype_is_quant(t->dtype) || t->ndim < 1) return;
    int64_t row = t->shape[t->ndim - 1], rows = vg_tensor_numel(t) / (row ? row : 1), rb = vg_dtype_row_bytes(t->dtype, row);
    if (row < 1 || row > 65536) return;
    float *buf = malloc(sizeof(float) * (size_t)row);
    if (!buf) return;
    for (int64_t r = 0; r < rows && r * row < 65536; r++) {
        vg_dequant_row(t->dtype, (const uint8_t *)t->data + r * rb, buf, row);
        read_bytes(buf, sizeof(float) * (size_t)row);
    }
    free(buf);
}

static void meta(const vg_gguf *g) {
    for (int64_t i = 0; i < vg_gguf_kv_count(g); i++) {
        const char *k = vg_gguf_kv_key(g, i);
        if (!k) abort();
        int elem = -1;
        int64_t count = -1, ints[4], v;
        double d;
        int ty = vg_gguf_kv_type(g, k, &elem, &count);
        if (ty < 0 || ty >= VG_GGUF_TYPE_COUNT) abort(); /* a key the file lists has a valid type */
        const char *s = vg_gguf_get_str(g, k);
        if ((s != NULL) != (ty == VG_GGUF_STRING)) abort();
        if (s) read_bytes(s, strlen(s));
        (void)vg_gguf_get_int(g, k, &v);
        (void)vg_gguf_get_f64(g, k, &d);
        int64_t n = vg_gguf_get_ints(g, k, ints, 4);
        if (n >= 0 && (ty != VG_GGUF_ARRAY || n != count)) abort();
    }
    (void)vg_gguf_get_str(g, "general.architecture");
    (void)vg_gguf_kv_type(g, "absent.key", NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[PATH_MAX];
    vgf_write(path, sizeof(path), "in.gguf", data, size);
    if (vg_gguf_is_gguf(path) != (size >= 4 && memcmp(data, "GGUF", 4) == 0)) abort();
    vg_gguf *g = NULL;
    if (vg_gguf_open(&g, path) != VG_OK) return rejected("vg_gguf_open");
    if (vg_gguf_version(g) != 2 && vg_gguf_version(g) != 3) abort();
    meta(g);
    for (int64_t i = 0; i < vg_gguf_count(g); i++) {
        const vg_tensor *t = vg_gguf_at(g, i);
        const char *name = vg_gguf_name(g, i);
        if (!t || !name || vg_gguf_get(g, name) != t || vg_gguf_index(g, name) != i) abort();
        int64_t off = vg_gguf_file_offset(g, i);
        size_t nb = tensor_bytes(t);
        if (off < 0 || (uint64_t)off + nb > size) abort(); /* inside the file */
        if (memcmp(t->data, data + off, nb) != 0) abort();  /* the view (or its aligned copy) holds the file's bytes */
        dequant_all(t);
        (void)vg_gguf_require(g, name, t->ndim, t->shape, NULL);
    }
    (void)vg_gguf_check_all_used(g);
    vg_gguf_reset_used(g);
    vg_gguf_close(g);

    vg_st_file *s = NULL;
    if (vg_wan_gguf_open_(&s, path) != VG_OK) return rejected("vg_wan_gguf_open_");
    for (int64_t i = 0; i < vg_st_count(s); i++) {
        const vg_tensor *t = vg_st_at(s, i);
        const char *name = vg_st_name(s, i);
        if (!t || !name) abort();
        read_bytes(t->data, tensor_bytes(t));
        (void)vg_st_require(s, name, t->ndim, t->shape, NULL);
    }
    (void)vg_st_metadata(s, "general.architecture");
    vg_st_close(s);
    if (getenv("VGF_VERBOSE")) fprintf(stderr, "fuzz_gguf: opened both ways\n");
    if (g_sum == 0xdeadbeefu) fputs("", stderr); /* every byte read (ASan checks the mapping) */
    return 0;
}
