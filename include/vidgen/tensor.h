/* tensor.h - dtypes, half-precision conversions and the non-owning tensor view.
 * Shapes are written outermost first, PyTorch order. Weights are stored as
 * f32/f16/bf16 and always computed in f32. */
#ifndef VIDGEN_TENSOR_H
#define VIDGEN_TENSOR_H
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <string.h>

typedef enum {
    VG_DTYPE_F32 = 0, VG_DTYPE_F16, VG_DTYPE_BF16, VG_DTYPE_F64,
    VG_DTYPE_I64, VG_DTYPE_I32, VG_DTYPE_I16, VG_DTYPE_I8, VG_DTYPE_U8, VG_DTYPE_BOOL,
    VG_DTYPE_ST_COUNT,                       /* the types above are the safetensors element types */
    /* ggml block-quantized weight types (GGUF files; layouts in vidgen/quant.h). A row of n
     * elements is n / vg_dtype_block(t) blocks of vg_dtype_block_bytes(t) bytes; vg_dtype_size()
     * is 0 for them (they have no per-element size). */
    VG_DTYPE_Q4_0 = VG_DTYPE_ST_COUNT, VG_DTYPE_Q4_1, VG_DTYPE_Q5_0, VG_DTYPE_Q5_1, VG_DTYPE_Q8_0,
    VG_DTYPE_Q2_K, VG_DTYPE_Q3_K, VG_DTYPE_Q4_K, VG_DTYPE_Q5_K, VG_DTYPE_Q6_K,
    VG_DTYPE_COUNT
} vg_dtype;

#define VG_MAX_DIMS 8

/* Non-owning view of contiguous row-major data. */
typedef struct {
    void *data;
    vg_dtype dtype;
    int ndim;
    int64_t shape[VG_MAX_DIMS];
} vg_tensor;

size_t vg_dtype_size(vg_dtype t);            /* bytes per element; 0 for block types */
const char *vg_dtype_name(vg_dtype t);        /* safetensors / ggml spelling: "F32", "BF16", "Q4_K" ... */
/* Safetensors element types only (a file naming "Q8_0" is refused). */
bool vg_dtype_from_name(const char *s, vg_dtype *out);
/* Any type, case-insensitive ("q4_k", "BF16"): for --type and convert rules. */
bool vg_dtype_from_any_name(const char *s, vg_dtype *out);
static inline bool vg_dtype_is_quant(vg_dtype t) { return t >= VG_DTYPE_Q4_0 && t < VG_DTYPE_COUNT; }
int64_t vg_dtype_block(vg_dtype t);           /* elements per block: 1, 32 or 256 */
size_t vg_dtype_block_bytes(vg_dtype t);      /* bytes per block (= element size for plain types) */
/* Bytes of n elements of t; -1 when n is not a multiple of the block or it overflows. */
int64_t vg_dtype_row_bytes(vg_dtype t, int64_t n);
int64_t vg_tensor_numel(const vg_tensor *t);
/* "[1536,16,1,2,2]" into buf (returns buf). */
char *vg_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);

/* Round-to-nearest-even conversions (scalar reference versions). */
static inline float vg_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f;
}
static inline uint16_t vg_f32_to_bf16(float f) {
    uint32_t u; memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
float vg_f16_to_f32(uint16_t h);
uint16_t vg_f32_to_f16(float f);

/* Convert n elements of src (dtype t) to f32. */
void vg_to_f32(float *dst, const void *src, vg_dtype t, int64_t n);
/* Convert n f32 values to dtype t (F32, F16 or BF16). */
void vg_from_f32(void *dst, vg_dtype t, const float *src, int64_t n);

#endif
