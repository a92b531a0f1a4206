/* gguf.c - validated mmap reader and streaming atomic writer for GGUF (versions 2 and 3).
 * Reference: ggml docs/gguf.md (header, metadata value types, tensor infos, general.alignment,
 * data region aligned to it; tensor offsets relative to the data region, multiples of it).
 * Layout: type tables, reader (cursor -> header -> metadata -> tensor infos -> checks -> views),
 * lookups and require/used marks, writer.
 * Legend: ne[] ggml dimensions, innermost first (torch shape = ne reversed); pos a byte offset
 * in the file; data_start the data region's offset; nbytes a tensor's size. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "vidgen/gguf.h"
#include "io/bytebuf.h"

#define GGUF_MAX_DIMS 4
#define GGUF_MAX_DEPTH 8              /* nested arrays deeper than this are refused */
#define GGUF_MAX_NAME 4096            /* tensor names and keys (ggml: 64 for names) */
#define GGUF_DEFAULT_ALIGN 32u
#define GGUF_TYPE_COUNT 40            /* ggml type ids 0..39 */

/* ------------------------------------------------------------------------------------ */
/* type tables */

static const char *const g_type_names[GGUF_TYPE_COUNT] = {
    "F32", "F16", "Q4_0", "Q4_1", "Q4_2 (removed)", "Q4_3 (removed)", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
    "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
    "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
    "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8",
    "IQ4_NL_8_8", "MXFP4",
};

static const struct { vg_dtype dt; int id; } g_map[] = {
    {VG_DTYPE_F32, 0}, {VG_DTYPE_F16, 1}, {VG_DTYPE_BF16, 30}, {VG_DTYPE_Q4_0, 2}, {VG_DTYPE_Q4_1, 3},
    {VG_DTYPE_Q5_0, 6}, {VG_DTYPE_Q5_1, 7}, {VG_DTYPE_Q8_0, 8}, {VG_DTYPE_Q2_K, 10}, {VG_DTYPE_Q3_K, 11},
    {VG_DTYPE_Q4_K, 12}, {VG_DTYPE_Q5_K, 13}, {VG_DTYPE_Q6_K, 14},
};
#define READ_TYPES "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K"

const char *vg_gguf_type_name(uint32_t t) { return t < GGUF_TYPE_COUNT ? g_type_names[t] : NULL; }

int vg_gguf_type_of(vg_dtype dt) {
    for (size_t i = 0; i < sizeof(g_map) / sizeof(g_map[0]); i++)
        if (g_map[i].dt == dt) return g_map[i].id;
    return -1;
}

bool vg_gguf_dtype_of(uint32_t t, vg_dtype *out) {
    for (size_t i = 0; i < sizeof(g_map) / sizeof(g_map[0]); i++)
        if ((uint32_t)g_map[i].id == t) { *out = g_map[i].dt; return true; }
    return false;
}

static const char *const g_kv_names[VG_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};
static const uint8_t g_kv_size[VG_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static bool kv_is_int(uint32_t t) {
    return t <= VG_GGUF_I32 || t == VG_GGUF_BOOL || t == VG_GGUF_U64 || t == VG_GGUF_I64;
}

/* ------------------------------------------------------------------------------------ */
/* reader state */

typedef struct {
    char *key;
    uint32_t type, elem;   /* elem: array element type */
    uint64_t count;        /* array element count */
    uint64_t vpos;         /* scalar value / first array element */
    char *str;             /* string value (NUL-terminated copy) */
} gguf_kv;

struct vg_gguf {
    char *path;
    uint8_t *map;
    size_t map_len;
    void *side;
    uint32_t version, alignment;
    uint64_t data_start;
    int64_t n;
    char **names;
    vg_tensor *t;
    uint64_t *off, *nbytes; /* offset in the data region, size */
    bool *used;
    int64_t *by_name;
    int64_t n_kv;
    gguf_kv *kv;
};

typedef struct {
    const uint8_t *p;
    uint64_t n, pos;
    const char *path;
} cursor;

static char *dupn(const void *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

static uint64_t le(const uint8_t *p, int nb) {
    uint64_t v = 0;
    for (int k = nb - 1; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

/* Reads an nb-byte little-endian integer; the error says what was being read. */
static vg_status rd(cursor *c, int nb, uint64_t *v, const char *what) {
    if (c->n - c->pos < (uint64_t)nb)
        return vg_fail(VG_ERR_FORMAT, "%s: truncated: %s at byte %llu needs %d bytes, the file is %llu bytes",
                       c->path, what, (unsigned long long)c->pos, nb, (unsigned long long)c->n);
    *v = le(c->p + c->pos, nb);
    c->pos += (uint64_t)nb;
    return VG_OK;
}

/* A GGUF string: u64 length then bytes. *s points into the mapping (not NUL-terminated). */
static vg_status rd_str(cursor *c, const uint8_t **s, uint64_t *len, const char *what) {
    vg_status st = rd(c, 8, len, what);
    if (st) return st;
    if (*len > c->n - c->pos)
        return vg_fail(VG_ERR_FORMAT, "%s: %s at byte %llu has length %llu, but only %llu bytes remain in the file",
                       c->path, what, (unsigned long long)(c->pos - 8), (unsigned long long)*len,
                       (unsigned long long)(c->n - c->pos));
    *s = c->p + c->pos;
    c->pos += *len;
    return VG_OK;
}

/* Skips (validating) one value of type t; arrays recurse up to GGUF_MAX_DEPTH. Every element
 * consumes at least one byte of the file, so the walk is bounded by the file size. */
static vg_status skip_value(cursor *c, uint32_t t, int depth, const char *key) {
    if (t >= VG_GGUF_TYPE_COUNT)
        return vg_fail(VG_ERR_FORMAT, "%s: metadata '%s': unknown value type %u at byte %llu", c->path, key, t,
                       (unsigned long long)c->pos);
    uint64_t v = 0, len = 0;
    const uint8_t *s = NULL;
    char what[80];
    snprintf(what, sizeof(what), "a %s value", g_kv_names[t]);
    if (t == VG_GGUF_STRING) return rd_str(c, &s, &len, "a string value");
    if (t != VG_GGUF_ARRAY) {
        vg_status st = rd(c, g_kv_size[t], &v, what);
        if (!st && t == VG_GGUF_BOOL && v > 1)
            return vg_fail(VG_ERR_FORMAT, "%s: metadata '%s': bool value %llu (expected 0 or 1)", c->path, key,
                           (unsigned long long)v);
        return st;
    }
    if (depth >= GGUF_MAX_DEPTH)
        return vg_fail(VG_ERR_FORMAT, "%s: metadata '%s': arrays nested deeper than %d", c->path, key, GGUF_MAX_DEPTH);
    uint64_t et = 0, cnt = 0;
    vg_status st = rd(c, 4, &et, "an array element type");
    if (!st) st = rd(c, 8, &cnt, "an array element count");
    if (st) return st;
    if (et >= VG_GGUF_TYPE_COUNT)
        return vg_fail(VG_ERR_FORMAT, "%s: metadata '%s': array of unknown element type %llu", c->path, key,
                       (unsigned long long)et);
    uint64_t min = et == VG_GGUF_STRING ? 8 : et == VG_GGUF_ARRAY ? 12 : g_kv_size[et];
    if (cnt > (c->n - c->pos) / min)
        return vg_fail(VG_ERR_FORMAT, "%s: metadata '%s': array of %llu %s elements needs at least %llu bytes per element, "
                       "only %llu bytes remain", c->path, key, (unsigned long long)cnt, g_kv_names[et],
                       (unsigned long long)min, (unsigned long long)(c->n - c->pos));
    if (et != VG_GGUF_STRING && et != VG_GGUF_ARRAY && et != VG_GGUF_BOOL) {
        c->pos += cnt * min;
        return VG_OK;
    }
    for (uint64_t i = 0; i < cnt; i++)
        if ((st = skip_value(c, (uint32_t)et, depth + 1, key))) return st;
    return VG_OK;
}

static bool name_ok(const uint8_t *s, uint64_t len) {
    if (len == 0 || len > GGUF_MAX_NAME) return false;
    return memchr(s, 0, (size_t)len) == NULL;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static vg_status read_kvs(vg_gguf *f, cursor *c, uint64_t n_kv) {
    f->kv = calloc((size_t)n_kv + 1, sizeof(*f->kv));
    if (!f->kv) return vg_fail(VG_ERR_OOM, "%s: out of memory for %llu metadata entries", f->path, (unsigned long long)n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        const uint8_t *ks = NULL;
        uint64_t klen = 0, t = 0;
        vg_status st = rd_str(c, &ks, &klen, "a metadata key");
        if (st) return st;
        if (!name_ok(ks, klen))
            return vg_fail(VG_ERR_FORMAT, "%s: metadata entry %llu has an empty, over-long (%llu bytes) or NUL-holding key",
                           f->path, (unsigned long long)i, (unsigned long long)klen);
        gguf_kv *kv = &f->kv[f->n_kv];
        if (!(kv->key = dupn(ks, (size_t)klen))) return vg_fail(VG_ERR_OOM, "%s: out of memory", f->path);
        f->n_kv++;
        char what[GGUF_MAX_NAME + 64];
        snprintf(what, sizeof(what), "the value type of metadata '%s'", kv->key);
        if ((st = rd(c, 4, &t, what))) return st;
        kv->type = (uint32_t)t;
        if (t == VG_GGUF_ARRAY && c->n - c->pos >= 12) {
            kv->elem = (uint32_t)le(c->p + c->pos, 4);
            kv->count = le(c->p + c->pos + 4, 8);
            kv->vpos = c->pos + 12;
        } else {
            kv->vpos = c->pos + (t == VG_GGUF_STRING ? 8 : 0);
        }
        if ((st = skip_value(c, (uint32_t)t, 0, kv->key))) return st;
        if (t == VG_GGUF_STRING) {
            uint64_t len = le(c->p + kv->vpos - 8, 8);
            if (!(kv->str = dupn(c->p + kv->vpos, (size_t)len))) return vg_fail(VG_ERR_OOM, "%s: out of memory", f->path);
        }
    }
    /* duplicate keys: adjacent after sorting */
    const char **keys = malloc(((size_t)f->n_kv + 1) * sizeof(*keys));
    if (!keys) return vg_fail(VG_ERR_OOM, "%s: out of memory", f->path);
    for (int64_t i = 0; i < f->n_kv; i++) keys[i] = f->kv[i].key;
    qsort(keys, (size_t)f->n_kv, sizeof(*keys), cmp_str);
    vg_status st = VG_OK;
    for (int64_t i = 1; i < f->n_kv && !st; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            st = vg_fail(VG_ERR_FORMAT, "%s: metadata key '%s' appears twice", f->path, keys[i]);
    free(keys);
    return st;
}

static _Thread_local const vg_gguf *g_sort; /* qsort has no context pointer */
static int cmp_name(const void *a, const void *b) {
    return strcmp(g_sort->names[*(const int64_t *)a], g_sort->names[*(const int64_t *)b]);
}
static int cmp_off(const void *a, const void *b) {
    uint64_t x = g_sort->off[*(const int64_t *)a], y = g_sort->off[*(const int64_t *)b];
    return x < y ? -1 : x > y;
}

/* One tensor info: name, n_dims, ne[], type, offset. */
static vg_status read_tensor_info(vg_gguf *f, cursor *c, int64_t i) {
    const uint8_t *ns = NULL;
    uint64_t nlen = 0, nd = 0, v = 0;
    vg_status st = rd_str(c, &ns, &nlen, "a tensor name");
    if (st) return st;
    if (!name_ok(ns, nlen))
        return vg_fail(VG_ERR_FORMAT, "%s: tensor %lld has an empty, over-long (%llu bytes) or NUL-holding name",
                       f->path, (long long)i, (unsigned long long)nlen);
    if (!(f->names[i] = dupn(ns, (size_t)nlen))) return vg_fail(VG_ERR_OOM, "%s: out of memory", f->path);
    const char *name = f->names[i];
    char what[GGUF_MAX_NAME + 64];
    snprintf(what, sizeof(what), "n_dims of tensor '%s'", name);
    if ((st = rd(c, 4, &nd, what))) return st;
    if (nd < 1 || nd > GGUF_MAX_DIMS)
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': n_dims %llu (expected 1..%d)", f->path, name,
                       (unsigned long long)nd, GGUF_MAX_DIMS);
    uint64_t ne[GGUF_MAX_DIMS] = {0}, numel = 1;
    for (uint64_t d = 0; d < nd; d++) {
        snprintf(what, sizeof(what), "ne[%llu] of tensor '%s'", (unsigned long long)d, name);
        if ((st = rd(c, 8, &ne[d], what))) return st;
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX || __builtin_mul_overflow(numel, ne[d], &numel) ||
            numel > (uint64_t)INT64_MAX)
            return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': ne[%llu] = %llu is zero or overflows the element count",
                           f->path, name, (unsigned long long)d, (unsigned long long)ne[d]);
    }
    snprintf(what, sizeof(what), "the type of tensor '%s'", name);
    if ((st = rd(c, 4, &v, what))) return st;
    vg_dtype dt;
    if (v >= GGUF_TYPE_COUNT)
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' has unknown ggml type id %llu (ggml knows 0..%d)", f->path, name,
                       (unsigned long long)v, GGUF_TYPE_COUNT - 1);
    if (!vg_gguf_dtype_of((uint32_t)v, &dt))
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' has type %s; vidgen reads " READ_TYPES, f->path, name,
                       g_type_names[v]);
    snprintf(what, sizeof(what), "the data offset of tensor '%s'", name);
    if ((st = rd(c, 8, &f->off[i], what))) return st;
    int64_t rb = vg_dtype_row_bytes(dt, (int64_t)ne[0]);
    if (rb < 0)
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': ne[0] = %llu is not a multiple of the %s block (%lld)", f->path,
                       name, (unsigned long long)ne[0], vg_dtype_name(dt), (long long)vg_dtype_block(dt));
    uint64_t nb = (uint64_t)rb;
    for (uint64_t d = 1; d < nd; d++)
        if (__builtin_mul_overflow(nb, ne[d], &nb))
            return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': size overflows 64 bits", f->path, name);
    f->nbytes[i] = nb;
    vg_tensor *t = &f->t[i];
    t->dtype = dt;
    t->ndim = (int)nd;
    for (uint64_t d = 0; d < nd; d++) t->shape[nd - 1 - d] = (int64_t)ne[d];
    return VG_OK;
}

static vg_status check_tensors(vg_gguf *f) {
    uint64_t data_len = f->map_len - f->data_start;
    for (int64_t i = 0; i < f->n; i++) {
        if (f->off[i] % f->alignment)
            return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': data offset %llu is not a multiple of the alignment %u",
                           f->path, f->names[i], (unsigned long long)f->off[i], f->alignment);
        if (f->off[i] > data_len || f->nbytes[i] > data_len - f->off[i])
            return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': data [%llu, +%llu) runs past the end of the data region "
                           "(%llu bytes; truncated file?)", f->path, f->names[i], (unsigned long long)f->off[i],
                           (unsigned long long)f->nbytes[i], (unsigned long long)data_len);
    }
    int64_t *ord = malloc(((size_t)f->n + 1) * sizeof(*ord));
    if (!ord) return vg_fail(VG_ERR_OOM, "%s: out of memory", f->path);
    vg_status st = VG_OK;
    g_sort = f;
    for (int64_t i = 0; i < f->n; i++) f->by_name[i] = ord[i] = i;
    qsort(f->by_name, (size_t)f->n, sizeof(int64_t), cmp_name);
    for (int64_t k = 1; k < f->n && !st; k++)
        if (strcmp(f->names[f->by_name[k - 1]], f->names[f->by_name[k]]) == 0)
            st = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' appears twice", f->path, f->names[f->by_name[k]]);
    qsort(ord, (size_t)f->n, sizeof(int64_t), cmp_off);
    for (int64_t k = 1; k < f->n && !st; k++) {
        int64_t a = ord[k - 1], b = ord[k];
        if (f->off[b] < f->off[a] + f->nbytes[a])
            st = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' [%llu, +%llu) overlaps tensor '%s' [%llu, +%llu)", f->path,
                         f->names[b], (unsigned long long)f->off[b], (unsigned long long)f->nbytes[b], f->names[a],
                         (unsigned long long)f->off[a], (unsigned long long)f->nbytes[a]);
    }
    g_sort = NULL;
    free(ord);
    return st;
}

/* Views into the mapping; tensors at addresses not aligned for their loads go to a side buffer. */
static vg_status place(vg_gguf *f) {
    size_t side = 0, o = 0;
    for (int64_t i = 0; i < f->n; i++) {
        size_t al = vg_dtype_is_quant(f->t[i].dtype) ? 2 : vg_dtype_size(f->t[i].dtype);
        if ((f->data_start + f->off[i]) % al) side += ((size_t)f->nbytes[i] + 63) & ~(size_t)63;
    }
    if (side && posix_memalign(&f->side, 64, side) != 0) {
        f->side = NULL;
        return vg_fail(VG_ERR_OOM, "%s: cannot allocate %zu bytes to align tensors", f->path, side);
    }
    for (int64_t i = 0; i < f->n; i++) {
        uint8_t *p = f->map + f->data_start + f->off[i];
        size_t al = vg_dtype_is_quant(f->t[i].dtype) ? 2 : vg_dtype_size(f->t[i].dtype);
        if ((f->data_start + f->off[i]) % al) {
            memcpy((uint8_t *)f->side + o, p, (size_t)f->nbytes[i]);
            p = (uint8_t *)f->side + o;
            o += ((size_t)f->nbytes[i] + 63) & ~(size_t)63;
        }
        f->t[i].data = p;
    }
    return VG_OK;
}

static vg_status parse(vg_gguf *f) {
    cursor c = {f->map, f->map_len, 0, f->path};
    uint64_t magic = 0, ver = 0, n_t = 0, n_kv = 0;
    vg_status st = rd(&c, 4, &magic, "the magic");
    if (st) return st;
    if (memcmp(f->map, "GGUF", 4) != 0)
        return vg_fail(VG_ERR_FORMAT, "%s: not a GGUF file (magic %02x %02x %02x %02x, expected \"GGUF\")", f->path,
                       f->map[0], f->map[1], f->map[2], f->map[3]);
    if ((st = rd(&c, 4, &ver, "the version"))) return st;
    if (ver == 1)
        return vg_fail(VG_ERR_FORMAT, "%s: GGUF version 1 (the 2023 draft with 32-bit counts) is not supported; "
                       "vidgen reads versions 2 and 3 (re-convert the file)", f->path);
    if (ver != 2 && ver != 3)
        return vg_fail(VG_ERR_FORMAT, "%s: GGUF version %llu is not supported (vidgen reads 2 and 3%s)", f->path,
                       (unsigned long long)ver, (ver & 0xffff) == 0 ? "; a big-endian file?" : "");
    f->version = (uint32_t)ver;
    if ((st = rd(&c, 8, &n_t, "the tensor count")) || (st = rd(&c, 8, &n_kv, "the metadata count"))) return st;
    /* a tensor info takes >= 33 bytes (8 + 1 name + 4 + 8 + 4 + 8), a metadata entry >= 14 */
    if (n_t > (c.n - c.pos) / 33)
        return vg_fail(VG_ERR_FORMAT, "%s: tensor count %llu cannot fit in the %llu bytes of the file", f->path,
                       (unsigned long long)n_t, (unsigned long long)c.n);
    if (n_kv > (c.n - c.pos) / 14)
        return vg_fail(VG_ERR_FORMAT, "%s: metadata count %llu cannot fit in the %llu bytes of the file", f->path,
                       (unsigned long long)n_kv, (unsigned long long)c.n);
    if ((st = read_kvs(f, &c, n_kv))) return st;
    f->alignment = GGUF_DEFAULT_ALIGN;
    for (int64_t i = 0; i < f->n_kv; i++) {
        if (strcmp(f->kv[i].key, "general.alignment") != 0) continue;
        if (f->kv[i].type != VG_GGUF_U32)
            return vg_fail(VG_ERR_FORMAT, "%s: metadata 'general.alignment' is a %s (expected u32)", f->path,
                           f->kv[i].type < VG_GGUF_TYPE_COUNT ? g_kv_names[f->kv[i].type] : "?");
        uint32_t a = (uint32_t)le(f->map + f->kv[i].vpos, 4);
        if (a == 0 || (a & (a - 1)))
            return vg_fail(VG_ERR_FORMAT, "%s: general.alignment %u is not a power of two", f->path, a);
        f->alignment = a;
    }
    size_t cnt = (size_t)n_t + 1;
    f->names = calloc(cnt, sizeof(*f->names));
    f->t = calloc(cnt, sizeof(*f->t));
    f->off = calloc(cnt, sizeof(*f->off));
    f->nbytes = calloc(cnt, sizeof(*f->nbytes));
    f->used = calloc(cnt, sizeof(*f->used));
    f->by_name = calloc(cnt, sizeof(*f->by_name));
    if (!f->names || !f->t || !f->off || !f->nbytes || !f->used || !f->by_name)
        return vg_fail(VG_ERR_OOM, "%s: out of memory for %llu tensors", f->path, (unsigned long long)n_t);
    f->n = (int64_t)n_t;
    for (int64_t i = 0; i < f->n; i++)
        if ((st = read_tensor_info(f, &c, i))) return st;
    uint64_t ds = (c.pos + f->alignment - 1) / f->alignment * f->alignment;
    if (ds > c.n) {
        if (f->n)
            return vg_fail(VG_ERR_FORMAT, "%s: truncated: the data region would start at byte %llu, the file is %llu bytes",
                           f->path, (unsigned long long)ds, (unsigned long long)c.n);
        ds = c.n;
    }
    f->data_start = ds;
    if ((st = check_tensors(f))) return st;
    return place(f);
}

bool vg_gguf_is_gguf(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char m[4];
    bool ok = read(fd, m, 4) == 4 && memcmp(m, "GGUF", 4) == 0;
    close(fd);
    return ok;
}

void vg_gguf_close(vg_gguf *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    for (int64_t i = 0; i < f->n; i++) free(f->names ? f->names[i] : NULL);
    for (int64_t i = 0; i < f->n_kv; i++) { free(f->kv[i].key); free(f->kv[i].str); }
    free(f->names); free(f->t); free(f->off); free(f->nbytes); free(f->used); free(f->by_name);
    free(f->kv); free(f->side); free(f->path);
    free(f);
}

vg_status vg_gguf_open(vg_gguf **out, const char *path) {
    if (!out || !path) return vg_fail(VG_ERR_ARG, "vg_gguf_open: NULL argument");
    *out = NULL;
    vg_gguf *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = dupn(path, strlen(path)))) { free(f); return vg_fail(VG_ERR_OOM, "%s: out of memory", path); }
    vg_status st = VG_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { st = vg_fail(VG_ERR_IO, "%s: cannot open: %s", path, strerror(errno)); goto out; }
    struct stat sb;
    if (fstat(fd, &sb) != 0) { st = vg_fail(VG_ERR_IO, "%s: cannot stat: %s", path, strerror(errno)); goto out; }
    if (!S_ISREG(sb.st_mode)) { st = vg_fail(VG_ERR_IO, "%s: not a regular file", path); goto out; }
    if (sb.st_size < 24) {
        st = vg_fail(VG_ERR_FORMAT, "%s: truncated: %lld bytes, a GGUF header takes 24", path, (long long)sb.st_size);
        goto out;
    }
    f->map_len = (size_t)sb.st_size;
    void *m = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) { st = vg_fail(VG_ERR_IO, "%s: cannot mmap: %s", path, strerror(errno)); goto out; }
    f->map = m;
    st = parse(f);
out:
    if (fd >= 0) close(fd);
    if (st) { g_sort = NULL; vg_gguf_close(f); return st; }
    *out = f;
    return VG_OK;
}

/* ------------------------------------------------------------------------------------ */
/* lookups */

const char *vg_gguf_path(const vg_gguf *f) { return f ? f->path : NULL; }
uint32_t vg_gguf_version(const vg_gguf *f) { return f ? f->version : 0; }
uint32_t vg_gguf_alignment(const vg_gguf *f) { return f ? f->alignment : 0; }
int64_t vg_gguf_count(const vg_gguf *f) { return f ? f->n : 0; }
const char *vg_gguf_name(const vg_gguf *f, int64_t i) { return f && i >= 0 && i < f->n ? f->names[i] : NULL; }
const vg_tensor *vg_gguf_at(const vg_gguf *f, int64_t i) { return f && i >= 0 && i < f->n ? &f->t[i] : NULL; }
int64_t vg_gguf_file_offset(const vg_gguf *f, int64_t i) {
    return f && i >= 0 && i < f->n ? (int64_t)(f->data_start + f->off[i]) : -1;
}

int64_t vg_gguf_index(const vg_gguf *f, const char *name) {
    if (!f || !name) return -1;
    int64_t lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->names[f->by_name[mid]], name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

const vg_tensor *vg_gguf_get(const vg_gguf *f, const char *name) {
    int64_t i = vg_gguf_index(f, name);
    return i < 0 ? NULL : &f->t[i];
}

int64_t vg_gguf_kv_count(const vg_gguf *f) { return f ? f->n_kv : 0; }
const char *vg_gguf_kv_key(const vg_gguf *f, int64_t i) { return f && i >= 0 && i < f->n_kv ? f->kv[i].key : NULL; }

static const gguf_kv *kv_find(const vg_gguf *f, const char *key) {
    if (!f || !key) return NULL;
    for (int64_t i = 0; i < f->n_kv; i++)
        if (strcmp(f->kv[i].key, key) == 0) return &f->kv[i];
    return NULL;
}

int vg_gguf_kv_type(const vg_gguf *f, const char *key, int *elem, int64_t *count) {
    const gguf_kv *kv = kv_find(f, key);
    if (!kv) return -1;
    if (elem) *elem = kv->type == VG_GGUF_ARRAY ? (int)kv->elem : -1;
    if (count) *count = kv->type == VG_GGUF_ARRAY ? (int64_t)kv->count : 1;
    return (int)kv->type;
}

const char *vg_gguf_get_str(const vg_gguf *f, const char *key) {
    const gguf_kv *kv = kv_find(f, key);
    return kv && kv->type == VG_GGUF_STRING ? kv->str : NULL;
}

/* Integer scalar of type t at p (validated to lie in the file). */
static bool int_at(const uint8_t *p, uint32_t t, int64_t *out) {
    uint64_t v = le(p, g_kv_size[t]);
    switch (t) {
    case VG_GGUF_I8: *out = (int8_t)v; return true;
    case VG_GGUF_I16: *out = (int16_t)v; return true;
    case VG_GGUF_I32: *out = (int32_t)v; return true;
    case VG_GGUF_I64: *out = (int64_t)v; return true;
    case VG_GGUF_U64: if (v > (uint64_t)INT64_MAX) return false; *out = (int64_t)v; return true;
    default: *out = (int64_t)v; return true; /* u8, u16, u32, bool */
    }
}

bool vg_gguf_get_int(const vg_gguf *f, const char *key, int64_t *out) {
    const gguf_kv *kv = kv_find(f, key);
    if (!kv || !kv_is_int(kv->type)) return false;
    return int_at(f->map + kv->vpos, kv->type, out);
}

bool vg_gguf_get_f64(const vg_gguf *f, const char *key, double *out) {
    const gguf_kv *kv = kv_find(f, key);
    if (!kv) return false;
    if (kv->type == VG_GGUF_F32) {
        uint32_t u = (uint32_t)le(f->map + kv->vpos, 4);
        float x;
        memcpy(&x, &u, 4);
        *out = x;
        return true;
    }
    if (kv->type == VG_GGUF_F64) {
        uint64_t u = le(f->map + kv->vpos, 8);
        memcpy(out, &u, 8);
        return true;
    }
    int64_t v;
    if (!vg_gguf_get_int(f, key, &v)) return false;
    *out = (double)v;
    return true;
}

int64_t vg_gguf_get_ints(const vg_gguf *f, const char *key, int64_t *out, int64_t cap) {
    const gguf_kv *kv = kv_find(f, key);
    if (!kv || kv->type != VG_GGUF_ARRAY || !kv_is_int(kv->elem)) return -1;
    int64_t v;
    for (uint64_t i = 0; i < kv->count; i++) {
        if (!int_at(f->map + kv->vpos + i * g_kv_size[kv->elem], kv->elem, &v)) return -1;
        if ((int64_t)i < cap && out) out[i] = v;
    }
    return (int64_t)kv->count;
}

const void *vg_gguf_get_bytes(const vg_gguf *f, const char *key, int64_t *n) {
    const gguf_kv *kv = kv_find(f, key);
    if (!kv || kv->type != VG_GGUF_ARRAY || (kv->elem != VG_GGUF_U8 && kv->elem != VG_GGUF_I8)) return NULL;
    if (n) *n = (int64_t)kv->count;
    return f->map + kv->vpos;
}

static void pattern(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && o < n; i++) {
        if (shape[i] < 0) o += (size_t)snprintf(buf + o, n - o, i ? ",*" : "*");
        else o += (size_t)snprintf(buf + o, n - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    }
    if (o < n) snprintf(buf + o, n - o, "]");
}

vg_status vg_gguf_require(const vg_gguf *f, const char *name, int ndim, const int64_t *shape, const vg_tensor **out) {
    if (out) *out = NULL;
    if (!f || !name || ndim > VG_MAX_DIMS || (ndim > 0 && !shape)) return vg_fail(VG_ERR_ARG, "vg_gguf_require: bad arguments");
    char want[200], got[200];
    if (ndim >= 0) pattern(want, sizeof(want), ndim, shape);
    else snprintf(want, sizeof(want), "any");
    int64_t i = vg_gguf_index(f, name);
    if (i < 0) return vg_fail(VG_ERR_FORMAT, "%s: missing tensor '%s' (expected shape %s)", f->path, name, want);
    const vg_tensor *t = &f->t[i];
    bool ok = ndim < 0 || t->ndim == ndim;
    for (int d = 0; ok && ndim > 0 && d < ndim; d++)
        if (shape[d] >= 0 && shape[d] != t->shape[d]) ok = false;
    if (!ok)
        return vg_fail(VG_ERR_SHAPE, "%s: tensor '%s': shape %s, expected %s", f->path, name,
                       vg_shape_str(got, sizeof(got), t->ndim, t->shape), want);
    f->used[i] = true;
    if (out) *out = t;
    return VG_OK;
}

vg_status vg_gguf_check_all_used(const vg_gguf *f) {
    if (!f) return vg_fail(VG_ERR_ARG, "vg_gguf_check_all_used: NULL file");
    for (int64_t i = 0; i < f->n; i++)
        if (!f->used[i]) {
            char sh[200];
            return vg_fail(VG_ERR_FORMAT, "%s: unexpected tensor '%s' %s %s (not used by the model; %lld tensors in file)",
                           f->path, f->names[i], vg_dtype_name(f->t[i].dtype),
                           vg_shape_str(sh, sizeof(sh), f->t[i].ndim, f->t[i].shape), (long long)f->n);
        }
    return VG_OK;
}

void vg_gguf_reset_used(vg_gguf *f) {
    if (f && f->n) memset(f->used, 0, (size_t)f->n * sizeof(*f->used));
}

/* ------------------------------------------------------------------------------------ */
/* writer */

typedef struct {
    char *name;
    vg_dtype dt;
    int ndim;
    int64_t shape[GGUF_MAX_DIMS];
    vg_gguf_fill_fn fill;
    void *ctx;
    void *own;           /* add_data's copy */
    int64_t row_bytes, rows;
} gw_tensor;

typedef struct {
    char *key;
    uint32_t type;       /* STRING, U32 or ARRAY (of I32: ints, or of U8: bytes) */
    char *str;
    uint32_t u32;
    int64_t *ints;
    int n_ints;
    uint8_t *bytes;
    int64_t n_bytes;
} gw_kv;

struct vg_gguf_writer {
    gw_tensor *t;
    int64_t n, cap;
    gw_kv *kv;
    int64_t n_kv, cap_kv;
};

vg_gguf_writer *vg_gguf_writer_new(void) { return calloc(1, sizeof(vg_gguf_writer)); }

void vg_gguf_writer_free(vg_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n; i++) { free(w->t[i].name); free(w->t[i].own); }
    for (int64_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].str); free(w->kv[i].ints); free(w->kv[i].bytes); }
    free(w->t); free(w->kv);
    free(w);
}

vg_status vg_gguf_writer_add(vg_gguf_writer *w, const char *name, vg_dtype dt, int ndim, const int64_t *shape,
                             vg_gguf_fill_fn fill, void *ctx) {
    if (!w || !name || !fill || !shape) return vg_fail(VG_ERR_ARG, "vg_gguf_writer_add: NULL argument");
    if (!name_ok((const uint8_t *)name, strlen(name))) return vg_fail(VG_ERR_ARG, "vg_gguf_writer_add: bad name '%s'", name);
    if (vg_gguf_type_of(dt) < 0)
        return vg_fail(VG_ERR_ARG, "vg_gguf_writer_add: '%s': type %s cannot be written (GGUF types: " READ_TYPES ")",
                       name, vg_dtype_name(dt));
    if (ndim < 1 || ndim > GGUF_MAX_DIMS)
        return vg_fail(VG_ERR_ARG, "vg_gguf_writer_add: '%s': %d dimensions (GGUF holds 1..4)", name, ndim);
    int64_t rows = 1;
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 1 || __builtin_mul_overflow(rows, shape[d], &rows))
            return vg_fail(VG_ERR_ARG, "vg_gguf_writer_add: '%s': bad dimension %lld", name, (long long)shape[d]);
    rows /= shape[ndim - 1];
    int64_t rb = vg_dtype_row_bytes(dt, shape[ndim - 1]), tot;
    if (rb < 0 || __builtin_mul_overflow(rb, rows, &tot))
        return vg_fail(VG_ERR_ARG, "vg_gguf_writer_add: '%s': row of %lld is not a multiple of the %s block (%lld)",
                       name, (long long)shape[ndim - 1], vg_dtype_name(dt), (long long)vg_dtype_block(dt));
    for (int64_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) return vg_fail(VG_ERR_ARG, "vg_gguf_writer_add: tensor '%s' added twice", name);
    if (w->n == w->cap) {
        int64_t nc = w->cap ? w->cap * 2 : 64;
        gw_tensor *nt = realloc(w->t, (size_t)nc * sizeof(*nt));
        if (!nt) return vg_fail(VG_ERR_OOM, "vg_gguf_writer_add: out of memory");
        w->t = nt;
        w->cap = nc;
    }
    gw_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof(*t));
    if (!(t->name = dupn(name, strlen(name)))) return vg_fail(VG_ERR_OOM, "vg_gguf_writer_add: out of memory");
    t->dt = dt;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->fill = fill;
    t->ctx = ctx;
    t->row_bytes = rb;
    t->rows = rows;
    w->n++;
    return VG_OK;
}

static vg_status fill_copy(void *ctx, int64_t row0, int64_t nrows, void *dst) {
    const gw_tensor *t = ctx;
    memcpy(dst, (const uint8_t *)t->own + row0 * t->row_bytes, (size_t)(nrows * t->row_bytes));
    return VG_OK;
}

vg_status vg_gguf_writer_add_data(vg_gguf_writer *w, const char *name, vg_dtype dt, int ndim, const int64_t *shape,
                                  const void *data) {
    vg_status st = vg_gguf_writer_add(w, name, dt, ndim, shape, fill_copy, NULL);
    if (st) return st;
    gw_tensor *t = &w->t[w->n - 1];
    size_t nb = (size_t)(t->row_bytes * t->rows);
    if (!data || !(t->own = malloc(nb ? nb : 1))) {
        free(t->name);
        w->n--;
        return data ? vg_fail(VG_ERR_OOM, "vg_gguf_writer_add_data: '%s': out of memory", name)
                    : vg_fail(VG_ERR_ARG, "vg_gguf_writer_add_data: '%s': NULL data", name);
    }
    memcpy(t->own, data, nb);
    return VG_OK;
}

static vg_status kv_push(vg_gguf_writer *w, const char *key, gw_kv **out) {
    if (!w || !key || !name_ok((const uint8_t *)key, strlen(key)) || strcmp(key, "general.alignment") == 0)
        return vg_fail(VG_ERR_ARG, "vg_gguf_writer_meta: bad key '%s'", key ? key : "(null)");
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return vg_fail(VG_ERR_ARG, "vg_gguf_writer_meta: key '%s' set twice", key);
    if (w->n_kv == w->cap_kv) {
        int64_t nc = w->cap_kv ? w->cap_kv * 2 : 16;
        gw_kv *nk = realloc(w->kv, (size_t)nc * sizeof(*nk));
        if (!nk) return vg_fail(VG_ERR_OOM, "vg_gguf_writer_meta: out of memory");
        w->kv = nk;
        w->cap_kv = nc;
    }
    gw_kv *kv = &w->kv[w->n_kv];
    memset(kv, 0, sizeof(*kv));
    if (!(kv->key = dupn(key, strlen(key)))) return vg_fail(VG_ERR_OOM, "vg_gguf_writer_meta: out of memory");
    w->n_kv++;
    *out = kv;
    return VG_OK;
}

vg_status vg_gguf_writer_meta_str(vg_gguf_writer *w, const char *key, const char *value) {
    if (!value) return vg_fail(VG_ERR_ARG, "vg_gguf_writer_meta_str: NULL value");
    gw_kv *kv;
    vg_status st = kv_push(w, key, &kv);
    if (st) return st;
    kv->type = VG_GGUF_STRING;
    if (!(kv->str = dupn(value, strlen(value)))) return vg_fail(VG_ERR_OOM, "vg_gguf_writer_meta_str: out of memory");
    return VG_OK;
}

vg_status vg_gguf_writer_meta_u32(vg_gguf_writer *w, const char *key, uint32_t value) {
    gw_kv *kv;
    vg_status st = kv_push(w, key, &kv);
    if (st) return st;
    kv->type = VG_GGUF_U32;
    kv->u32 = value;
    return VG_OK;
}

vg_status vg_gguf_writer_meta_i32s(vg_gguf_writer *w, const char *key, const int64_t *v, int n) {
    if (n < 0 || (n && !v)) return vg_fail(VG_ERR_ARG, "vg_gguf_writer_meta_i32s: bad array");
    for (int i = 0; i < n; i++)
        if (v[i] < INT32_MIN || v[i] > INT32_MAX)
            return vg_fail(VG_ERR_ARG, "vg_gguf_writer_meta_i32s: '%s': %lld does not fit i32", key, (long long)v[i]);
    gw_kv *kv;
    vg_status st = kv_push(w, key, &kv);
    if (st) return st;
    kv->type = VG_GGUF_ARRAY;
    kv->n_ints = n;
    if (!(kv->ints = malloc(sizeof(int64_t) * (size_t)(n ? n : 1)))) return vg_fail(VG_ERR_OOM, "out of memory");
    if (n) memcpy(kv->ints, v, sizeof(int64_t) * (size_t)n);
    return VG_OK;
}

vg_status vg_gguf_writer_meta_bytes(vg_gguf_writer *w, const char *key, const void *data, int64_t n) {
    if (n < 0 || (n && !data)) return vg_fail(VG_ERR_ARG, "vg_gguf_writer_meta_bytes: bad array");
    gw_kv *kv;
    vg_status st = kv_push(w, key, &kv);
    if (st) return st;
    kv->type = VG_GGUF_ARRAY;
    kv->n_bytes = n;
    if (!(kv->bytes = malloc((size_t)(n ? n : 1)))) return vg_fail(VG_ERR_OOM, "out of memory");
    if (n) memcpy(kv->bytes, data, (size_t)n);
    return VG_OK;
}

static void put_le(vg_bytebuf *b, uint64_t v, int nb) {
    uint8_t t[8];
    for (int k = 0; k < nb; k++) t[k] = (uint8_t)(v >> (8 * k));
    vg_bytebuf_put(b, t, (size_t)nb);
}
static void put_str(vg_bytebuf *b, const char *s) {
    size_t n = strlen(s);
    put_le(b, n, 8);
    vg_bytebuf_put(b, s, n);
}

static int write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t r = write(fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (r < 0) { if (errno == EINTR) continue; return -1; }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

#define PAD(x) (((x) + GGUF_DEFAULT_ALIGN - 1) / GGUF_DEFAULT_ALIGN * GGUF_DEFAULT_ALIGN)

vg_status vg_gguf_writer_save(vg_gguf_writer *w, const char *path) {
    if (!w || !path || !*path) return vg_fail(VG_ERR_ARG, "vg_gguf_writer_save: NULL argument");
    vg_bytebuf h = {0};
    vg_bytebuf_put(&h, "GGUF", 4);
    put_le(&h, 3, 4);
    put_le(&h, (uint64_t)w->n, 8);
    put_le(&h, (uint64_t)w->n_kv + 1, 8);
    put_str(&h, "general.alignment");
    put_le(&h, VG_GGUF_U32, 4);
    put_le(&h, GGUF_DEFAULT_ALIGN, 4);
    for (int64_t i = 0; i < w->n_kv; i++) {
        const gw_kv *kv = &w->kv[i];
        put_str(&h, kv->key);
        put_le(&h, kv->type, 4);
        if (kv->type == VG_GGUF_STRING) put_str(&h, kv->str);
        else if (kv->type == VG_GGUF_U32) put_le(&h, kv->u32, 4);
        else if (kv->bytes) {
            put_le(&h, VG_GGUF_U8, 4);
            put_le(&h, (uint64_t)kv->n_bytes, 8);
            vg_bytebuf_put(&h, kv->bytes, (size_t)kv->n_bytes);
        } else {
            put_le(&h, VG_GGUF_I32, 4);
            put_le(&h, (uint64_t)kv->n_ints, 8);
            for (int k = 0; k < kv->n_ints; k++) put_le(&h, (uint64_t)(uint32_t)(int32_t)kv->ints[k], 4);
        }
    }
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n; i++) {
        const gw_tensor *t = &w->t[i];
        put_str(&h, t->name);
        put_le(&h, (uint64_t)t->ndim, 4);
        for (int d = t->ndim - 1; d >= 0; d--) put_le(&h, (uint64_t)t->shape[d], 8);
        put_le(&h, (uint64_t)vg_gguf_type_of(t->dt), 4);
        put_le(&h, off, 8);
        off += PAD((uint64_t)(t->row_bytes * t->rows));
    }
    static const uint8_t zeros[GGUF_DEFAULT_ALIGN];
    while (!h.oom && h.n % GGUF_DEFAULT_ALIGN) vg_bytebuf_put(&h, zeros, 1);
    if (h.oom) { free(h.p); return vg_fail(VG_ERR_OOM, "%s: out of memory for the GGUF header", path); }

    char tmp[4200];
    int len = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (len < 0 || (size_t)len >= sizeof(tmp)) { free(h.p); return vg_fail(VG_ERR_ARG, "%s: path too long", path); }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { free(h.p); return vg_fail(VG_ERR_IO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno)); }
    vg_status st = VG_OK;
    uint8_t *buf = NULL;
    size_t cap = 0;
    if (write_all(fd, h.p, h.n)) { st = vg_fail(VG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno)); goto fail; }
    for (int64_t i = 0; i < w->n && !st; i++) {
        gw_tensor *t = &w->t[i];
        if (t->fill == fill_copy) t->ctx = t;
        int64_t chunk = ((int64_t)16 << 20) / t->row_bytes;
        if (chunk < 1) chunk = 1;
        if (chunk > t->rows) chunk = t->rows;
        size_t need = (size_t)(chunk * t->row_bytes);
        if (need > cap) {
            free(buf);
            cap = need;
            if (!(buf = malloc(cap))) { st = vg_fail(VG_ERR_OOM, "%s: out of memory (%zu bytes)", path, cap); goto fail; }
        }
        for (int64_t r = 0; r < t->rows && !st; r += chunk) {
            int64_t nr = t->rows - r < chunk ? t->rows - r : chunk;
            if ((st = t->fill(t->ctx, r, nr, buf))) goto fail;
            if (write_all(fd, buf, (size_t)(nr * t->row_bytes)))
                st = vg_fail(VG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        }
        uint64_t nb = (uint64_t)(t->row_bytes * t->rows);
        if (!st && PAD(nb) != nb && write_all(fd, zeros, (size_t)(PAD(nb) - nb)))
            st = vg_fail(VG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (st) goto fail;
    if (fsync(fd) != 0) { st = vg_fail(VG_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno)); goto fail; }
    if (close(fd) != 0) { fd = -1; st = vg_fail(VG_ERR_IO, "%s: close failed: %s", tmp, strerror(errno)); goto fail; }
    fd = -1;
    if (rename(tmp, path) != 0) { st = vg_fail(VG_ERR_IO, "%s: rename from %s failed: %s", path, tmp, strerror(errno)); goto fail; }
    free(buf);
    free(h.p);
    return VG_OK;
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(buf);
    free(h.p);
    return st;
}
