/* tensor.c - dtype table and f16/bf16 <-> f32 conversions (round to nearest even). */
#include <stdio.h>
#include <strings.h>
#include "vidgen/tensor.h"

static const struct { const char *name; size_t size; int64_t block; size_t bbytes; } g_dt[VG_DTYPE_COUNT] = {
    [VG_DTYPE_F32] = {"F32", 4}, [VG_DTYPE_F16] = {"F16", 2}, [VG_DTYPE_BF16] = {"BF16", 2},
    [VG_DTYPE_F64] = {"F64", 8}, [VG_DTYPE_I64] = {"I64", 8}, [VG_DTYPE_I32] = {"I32", 4},
    [VG_DTYPE_I16] = {"I16", 2}, [VG_DTYPE_I8] = {"I8", 1}, [VG_DTYPE_U8] = {"U8", 1},
    [VG_DTYPE_BOOL] = {"BOOL", 1},
    [VG_DTYPE_Q4_0] = {"Q4_0", 0, 32, 18},   [VG_DTYPE_Q4_1] = {"Q4_1", 0, 32, 20},
    [VG_DTYPE_Q5_0] = {"Q5_0", 0, 32, 22},   [VG_DTYPE_Q5_1] = {"Q5_1", 0, 32, 24},
    [VG_DTYPE_Q8_0] = {"Q8_0", 0, 32, 34},   [VG_DTYPE_Q2_K] = {"Q2_K", 0, 256, 84},
    [VG_DTYPE_Q3_K] = {"Q3_K", 0, 256, 110}, [VG_DTYPE_Q4_K] = {"Q4_K", 0, 256, 144},
    [VG_DTYPE_Q5_K] = {"Q5_K", 0, 256, 176}, [VG_DTYPE_Q6_K] = {"Q6_K", 0, 256, 210},
};

size_t vg_dtype_size(vg_dtype t) { return (unsigned)t < VG_DTYPE_COUNT ? g_dt[t].size : 0; }
const char *vg_dtype_name(vg_dtype t) { return (unsigned)t < VG_DTYPE_COUNT ? g_dt[t].name : "?"; }

bool vg_dtype_from_name(const char *s, vg_dtype *out) {
    for (int i = 0; i < VG_DTYPE_ST_COUNT; i++)
        if (strcmp(s, g_dt[i].name) == 0) { *out = (vg_dtype)i; return true; }
    return false;
}

bool vg_dtype_from_any_name(const char *s, vg_dtype *out) {
    for (int i = 0; i < VG_DTYPE_COUNT; i++)
        if (strcasecmp(s, g_dt[i].name) == 0) { *out = (vg_dtype)i; return true; }
    return false;
}

int64_t vg_dtype_block(vg_dtype t) {
    return (unsigned)t < VG_DTYPE_COUNT ? (g_dt[t].block ? g_dt[t].block : 1) : 0;
}
size_t vg_dtype_block_bytes(vg_dtype t) {
    return (unsigned)t < VG_DTYPE_COUNT ? (g_dt[t].block ? g_dt[t].bbytes : g_dt[t].size) : 0;
}
int64_t vg_dtype_row_bytes(vg_dtype t, int64_t n) {
    int64_t b = vg_dtype_block(t), bb = (int64_t)vg_dtype_block_bytes(t);
    if (b <= 0 || bb <= 0 || n < 0 || n % b) return -1;
    if (n / b > INT64_MAX / bb) return -1;
    return n / b * bb;
}

int64_t vg_tensor_numel(const vg_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

char *vg_shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

float vg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else { /* subnormal: normalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) u = sign | 0x7f800000u | (man << 13);
    else u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f; memcpy(&f, &u, 4); return f;
}

uint16_t vg_f32_to_f16(float f) {
    uint32_t u; memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);           /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);          /* overflow -> inf */
    if (a < 0x38800000u) {                                            /* subnormal or zero */
        if (a < 0x33000000u) return (uint16_t)sign;
        uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;                                     /* 14 + (113 - e) - 1 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);
    return (uint16_t)(sign | (r >> 13));
}

void vg_to_f32(float *dst, const void *src, vg_dtype t, int64_t n) {
    switch (t) {
    case VG_DTYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case VG_DTYPE_F16: for (int64_t i = 0; i < n; i++) dst[i] = vg_f16_to_f32(((const uint16_t *)src)[i]); break;
    case VG_DTYPE_BF16: for (int64_t i = 0; i < n; i++) dst[i] = vg_bf16_to_f32(((const uint16_t *)src)[i]); break;
    case VG_DTYPE_F64: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const double *)src)[i]; break;
    case VG_DTYPE_I64: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int64_t *)src)[i]; break;
    case VG_DTYPE_I32: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i]; break;
    default: for (int64_t i = 0; i < n; i++) dst[i] = 0; break;
    }
}

void vg_from_f32(void *dst, vg_dtype t, const float *src, int64_t n) {
    switch (t) {
    case VG_DTYPE_F16: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = vg_f32_to_f16(src[i]); break;
    case VG_DTYPE_BF16: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = vg_f32_to_bf16(src[i]); break;
    default: memcpy(dst, src, (size_t)n * 4); break;
    }
}
