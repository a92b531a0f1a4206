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

size_t vg_dtype_size(vg_dtype t);
const char *vg_dtype_name(vg_dtype t);        /* safetensors spelling: "F32", "BF16" ... */
bool vg_dtype_from_name(const char *s, vg_dtype *out);
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
