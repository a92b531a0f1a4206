/* safetensors.c - validated mmap reader and atomic writer for .safetensors files.
 * Reference: huggingface/safetensors format docs (8-byte LE header length N, N bytes of
 * JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
 * then the data region; offsets are relative to the start of the data region).
 * Layout: reader (open -> parse header -> validate -> index), require/used marks, writer.
 * Legend: N header length, D data region size, nbytes = numel x dtype size. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "vidgen/io.h"
#include "vidgen/safetensors.h"
#include "io/bytebuf.h"

/* Real headers are a few hundred KB at most; the reference implementation caps at 100 MB. */
#define ST_MAX_HEADER ((uint64_t)100 << 20)
/* JSON doubles hold integers exactly up to 2^53: anything larger cannot be a real offset. */
#define ST_MAX_INT ((double)((int64_t)1 << 53))

struct vg_st_file {
    char *path;
    void *map;            /* whole file, PROT_READ */
    size_t map_len;
    void *side;           /* aligned copies of tensors whose file position is misaligned */
    int64_t n;            /* tensors */
    char **names;         /* [n] */
    vg_tensor *t;         /* [n] */
    int64_t *begin, *end; /* [n] offsets in the data region */
    bool *used;           /* [n] */
    int64_t *by_name;     /* [n] indices sorted by name (bsearch) */
    int64_t n_meta;
    char **meta_key, **meta_val;
    void *owner;                /* vg_st_from_views: released at close */
    void (*release)(void *);
};

/* ------------------------------------------------------------------------------------ */
/* small helpers */

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* Exact non-negative integer from a JSON number (cJSON stores doubles). */
static bool json_int(const cJSON *j, int64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_INT) || d != (double)(int64_t)d) return false;
    *out = (int64_t)d;
    return true;
}

static const char *json_kind(const cJSON *j) {
    if (!j) return "nothing";
    if (cJSON_IsObject(j)) return "an object";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNull(j)) return "null";
    return "an invalid value";
}

/* "[64,*,3]" with wildcards (< 0) shown as '*'. */
static char *shape_pattern(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t o = 0;
    buf[0] = 0;
    o += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && o < n; i++) {
        if (shape[i] < 0) o += (size_t)snprintf(buf + o, n - o, i ? ",*" : "*");
        else o += (size_t)snprintf(buf + o, n - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    }
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

static bool nbytes_of(vg_dtype dt, int ndim, const int64_t *shape, uint64_t *out) {
    uint64_t n = vg_dtype_size(dt);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return false;
    }
    *out = n;
    return true;
}

/* ------------------------------------------------------------------------------------ */
/* reader */

static _Thread_local const vg_st_file *g_sort_file; /* qsort has no context pointer */

static int cmp_by_name(const void *a, const void *b) {
    return strcmp(g_sort_file->names[*(const int64_t *)a], g_sort_file->names[*(const int64_t *)b]);
}

static int cmp_by_begin(const void *a, const void *b) {
    int64_t x = g_sort_file->begin[*(const int64_t *)a], y = g_sort_file->begin[*(const int64_t *)b];
    if (x != y) return x < y ? -1 : 1;
    int64_t ia = *(const int64_t *)a, ib = *(const int64_t *)b;
    return ia < ib ? -1 : ia > ib;
}

void vg_st_close(vg_st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    for (int64_t i = 0; i < f->n; i++) free(f->names ? f->names[i] : NULL);
    for (int64_t i = 0; i < f->n_meta; i++) { free(f->meta_key[i]); free(f->meta_val[i]); }
    free(f->names); free(f->t); free(f->begin); free(f->end); free(f->used); free(f->by_name);
    free(f->meta_key); free(f->meta_val); free(f->side); free(f->path);
    if (f->release) f->release(f->owner);
    free(f);
}

static vg_status parse_metadata(vg_st_file *f, const cJSON *meta) {
    if (!cJSON_IsObject(meta))
        return vg_fail(VG_ERR_FORMAT, "%s: '__metadata__' must be an object of strings, found %s", f->path, json_kind(meta));
    int64_t m = 0;
    for (const cJSON *c = meta->child; c; c = c->next) m++;
    f->meta_key = calloc((size_t)m + 1, sizeof(*f->meta_key));
    f->meta_val = calloc((size_t)m + 1, sizeof(*f->meta_val));
    if (!f->meta_key || !f->meta_val) return vg_fail(VG_ERR_OOM, "%s: out of memory for metadata", f->path);
    for (const cJSON *c = meta->child; c; c = c->next) {
        if (!cJSON_IsString(c) || !c->valuestring)
            return vg_fail(VG_ERR_FORMAT, "%s: __metadata__ '%s': expected a string value, found %s", f->path,
                           c->string ? c->string : "?", json_kind(c));
        for (int64_t k = 0; k < f->n_meta; k++)
            if (strcmp(f->meta_key[k], c->string) == 0)
                return vg_fail(VG_ERR_FORMAT, "%s: __metadata__ key '%s' appears twice", f->path, c->string);
        f->meta_key[f->n_meta] = dupstr(c->string);
        f->meta_val[f->n_meta] = dupstr(c->valuestring);
        f->n_meta++;
        if (!f->meta_key[f->n_meta - 1] || !f->meta_val[f->n_meta - 1])
            return vg_fail(VG_ERR_OOM, "%s: out of memory for metadata", f->path);
    }
    return VG_OK;
}

/* Validates one tensor entry and fills slot i (data pointer set later). */
static vg_status parse_entry(vg_st_file *f, int64_t i, const cJSON *e, uint64_t data_len) {
    const char *name = e->string;
    if (!*name) return vg_fail(VG_ERR_FORMAT, "%s: tensor with an empty name", f->path);
    if (!cJSON_IsObject(e))
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': expected an object {dtype, shape, data_offsets}, found %s",
                       f->path, name, json_kind(e));
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd) || !jd->valuestring)
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': 'dtype' must be a string, found %s", f->path, name, json_kind(jd));
    vg_dtype dt;
    if (!vg_dtype_from_name(jd->valuestring, &dt))
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%.32s\" (expected F32, F16, BF16, F64, I64, "
                       "I32, I16, I8, U8 or BOOL)", f->path, name, jd->valuestring);
    if (!cJSON_IsArray(js))
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': 'shape' must be an array, found %s", f->path, name, json_kind(js));
    int ndim = 0;
    vg_tensor *t = &f->t[i];
    for (const cJSON *d = js->child; d; d = d->next, ndim++) {
        if (ndim >= VG_MAX_DIMS)
            return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': shape has more than %d dimensions", f->path, name, VG_MAX_DIMS);
        if (!json_int(d, &t->shape[ndim])) {
            if (!cJSON_IsNumber(d))
                return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': shape[%d] must be a non-negative integer, found %s",
                               f->path, name, ndim, json_kind(d));
            return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': shape[%d] must be a non-negative integer, found %.17g",
                           f->path, name, ndim, d->valuedouble);
        }
    }
    t->ndim = ndim;
    t->dtype = dt;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2)
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': 'data_offsets' must be an array [begin, end], found %s%s",
                       f->path, name, json_kind(jo), cJSON_IsArray(jo) ? " of the wrong length" : "");
    int64_t b, en;
    if (!json_int(jo->child, &b) || !json_int(jo->child->next, &en))
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': data_offsets must be non-negative integers", f->path, name);
    if (b > en)
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': data_offsets [%lld,%lld] has begin > end", f->path, name,
                       (long long)b, (long long)en);
    uint64_t nb;
    char sh[160];
    vg_shape_str(sh, sizeof(sh), ndim, t->shape);
    if (!nbytes_of(dt, ndim, t->shape, &nb))
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': shape %s x %s overflows 64 bits", f->path, name, sh, jd->valuestring);
    if (nb != (uint64_t)(en - b))
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': shape %s x %s = %llu bytes, but data_offsets span %lld",
                       f->path, name, sh, vg_dtype_name(dt), (unsigned long long)nb, (long long)(en - b));
    if ((uint64_t)en > data_len)
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': data_offsets [%lld,%lld] end past the data region (%llu bytes)",
                       f->path, name, (long long)b, (long long)en, (unsigned long long)data_len);
    f->begin[i] = b;
    f->end[i] = en;
    f->names[i] = dupstr(name);
    if (!f->names[i]) return vg_fail(VG_ERR_OOM, "%s: out of memory", f->path);
    return VG_OK;
}

/* Points every tensor into the mapping; tensors whose address is not a multiple of their
 * element size are copied into one aligned side buffer so typed loads are always legal. */
static vg_status place_data(vg_st_file *f, const uint8_t *data) {
    size_t side_len = 0;
    for (int64_t i = 0; i < f->n; i++) {
        size_t es = vg_dtype_size(f->t[i].dtype);
        if ((uintptr_t)(data + f->begin[i]) % es) side_len += ((size_t)(f->end[i] - f->begin[i]) + 63) & ~(size_t)63;
    }
    uint8_t *side = NULL;
    if (side_len) {
        if (posix_memalign((void **)&side, 64, side_len) != 0)
            return vg_fail(VG_ERR_OOM, "%s: cannot allocate %zu bytes to align tensors", f->path, side_len);
        f->side = side;
    }
    size_t o = 0;
    for (int64_t i = 0; i < f->n; i++) {
        const uint8_t *p = data + f->begin[i];
        size_t es = vg_dtype_size(f->t[i].dtype), nb = (size_t)(f->end[i] - f->begin[i]);
        if ((uintptr_t)p % es) {
            memcpy(side + o, p, nb);
            f->t[i].data = side + o;
            o += (nb + 63) & ~(size_t)63;
        } else {
            f->t[i].data = (void *)p;
        }
    }
    return VG_OK;
}

static vg_status parse_header(vg_st_file *f, const char *hdr, size_t hlen, uint64_t data_len) {
    vg_status st = VG_OK;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hlen, &end, 0);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        long at = ep && ep >= hdr && ep <= hdr + hlen ? (long)(ep - hdr) : -1;
        return vg_fail(VG_ERR_FORMAT, "%s: header is not valid JSON (error near byte %ld of %zu)", f->path, at, hlen);
    }
    for (const char *p = end; p && p < hdr + hlen; p++) { /* writers pad with spaces; nothing else may follow */
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = vg_fail(VG_ERR_FORMAT, "%s: header has trailing bytes after the JSON object (byte %ld of %zu)",
                         f->path, (long)(p - hdr), hlen);
            goto out;
        }
    }
    if (!cJSON_IsObject(root)) {
        st = vg_fail(VG_ERR_FORMAT, "%s: header must be a JSON object, found %s", f->path, json_kind(root));
        goto out;
    }
    int64_t n = 0;
    const cJSON *meta = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (meta) { st = vg_fail(VG_ERR_FORMAT, "%s: '__metadata__' appears twice", f->path); goto out; }
            meta = c;
        } else {
            n++;
        }
    }
    if (meta && (st = parse_metadata(f, meta)) != VG_OK) goto out;
    size_t cnt = (size_t)n + 1;
    f->names = calloc(cnt, sizeof(*f->names));
    f->t = calloc(cnt, sizeof(*f->t));
    f->begin = calloc(cnt, sizeof(*f->begin));
    f->end = calloc(cnt, sizeof(*f->end));
    f->used = calloc(cnt, sizeof(*f->used));
    f->by_name = calloc(cnt, sizeof(*f->by_name));
    if (!f->names || !f->t || !f->begin || !f->end || !f->used || !f->by_name) {
        st = vg_fail(VG_ERR_OOM, "%s: out of memory for %lld tensors", f->path, (long long)n);
        goto out;
    }
    int64_t i = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        f->n = i + 1; /* so close() frees names[0..i] */
        if ((st = parse_entry(f, i, c, data_len)) != VG_OK) goto out;
        f->by_name[i] = i;
        i++;
    }
    f->n = n;
    /* duplicate names: adjacent after sorting */
    g_sort_file = f;
    qsort(f->by_name, (size_t)n, sizeof(int64_t), cmp_by_name);
    for (int64_t k = 1; k < n; k++)
        if (strcmp(f->names[f->by_name[k - 1]], f->names[f->by_name[k]]) == 0) {
            st = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", f->path, f->names[f->by_name[k]]);
            goto out;
        }
    /* overlaps: sort by begin, compare with the furthest end seen (zero-size tensors overlap nothing) */
    int64_t *ord = malloc(cnt * sizeof(*ord));
    if (!ord) { st = vg_fail(VG_ERR_OOM, "%s: out of memory", f->path); goto out; }
    for (int64_t k = 0; k < n; k++) ord[k] = k;
    qsort(ord, (size_t)n, sizeof(*ord), cmp_by_begin);
    int64_t far = -1;
    for (int64_t k = 0; k < n; k++) {
        int64_t j = ord[k];
        if (f->begin[j] == f->end[j]) continue;
        if (far >= 0 && f->begin[j] < f->end[far]) {
            st = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' data_offsets [%lld,%lld] overlap tensor '%s' [%lld,%lld]",
                         f->path, f->names[j], (long long)f->begin[j], (long long)f->end[j], f->names[far],
                         (long long)f->begin[far], (long long)f->end[far]);
            free(ord);
            goto out;
        }
        if (far < 0 || f->end[j] > f->end[far]) far = j;
    }
    free(ord);
    g_sort_file = NULL;
out:
    cJSON_Delete(root);
    return st;
}

vg_status vg_st_open(vg_st_file **out, const char *path) {
    if (!out || !path) return vg_fail(VG_ERR_ARG, "vg_st_open: NULL argument");
    *out = NULL;
    vg_status st = VG_OK;
    vg_st_file *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = dupstr(path))) { free(f); return vg_fail(VG_ERR_OOM, "%s: out of memory", path); }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { st = vg_fail(VG_ERR_IO, "%s: cannot open: %s", path, strerror(errno)); goto out_free; }
    struct stat sb;
    if (fstat(fd, &sb) != 0) { st = vg_fail(VG_ERR_IO, "%s: cannot stat: %s", path, strerror(errno)); goto out_close; }
    if (!S_ISREG(sb.st_mode)) { st = vg_fail(VG_ERR_IO, "%s: not a regular file", path); goto out_close; }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        st = vg_fail(VG_ERR_FORMAT, "%s: file is %llu bytes, too short for the 8-byte header length", path,
                     (unsigned long long)size);
        goto out_close;
    }
    f->map_len = (size_t)size;
    f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        st = vg_fail(VG_ERR_IO, "%s: cannot mmap %llu bytes: %s", path, (unsigned long long)size, strerror(errno));
        goto out_close;
    }
    close(fd);
    fd = -1;
    const uint8_t *b = f->map;
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = (hlen << 8) | b[k];
    if (hlen > ST_MAX_HEADER) {
        st = vg_fail(VG_ERR_FORMAT, "%s: header length %llu exceeds the %llu-byte limit (not a safetensors file?)",
                     path, (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
        goto out_free;
    }
    if (hlen > size - 8) {
        st = vg_fail(VG_ERR_FORMAT, "%s: header length %llu, but only %llu bytes follow the length field (truncated?)",
                     path, (unsigned long long)hlen, (unsigned long long)(size - 8));
        goto out_free;
    }
    if (hlen < 2) {
        st = vg_fail(VG_ERR_FORMAT, "%s: header length %llu is too short for a JSON object", path, (unsigned long long)hlen);
        goto out_free;
    }
    /* parse a NUL-terminated copy: the mapping continues with binary data, and the parser
     * must not be trusted to stop at the length on malformed input */
    char *hdr = malloc((size_t)hlen + 1);
    if (!hdr) { st = vg_fail(VG_ERR_OOM, "%s: cannot allocate %llu bytes for the header", path, (unsigned long long)hlen); goto out_free; }
    memcpy(hdr, b + 8, (size_t)hlen);
    hdr[hlen] = 0;
    st = parse_header(f, hdr, (size_t)hlen, size - 8 - hlen);
    free(hdr);
    if (st != VG_OK) goto out_free;
    if ((st = place_data(f, b + 8 + hlen)) != VG_OK) goto out_free;
    *out = f;
    return VG_OK;
out_close:
    if (fd >= 0) close(fd);
out_free:
    g_sort_file = NULL;
    vg_st_close(f);
    return st;
}

vg_status vg_st_from_views(vg_st_file **out, const char *path, int64_t n, const char *const *names,
                           const vg_tensor *t, int64_t n_meta, const char *const *meta_kv, void *owner,
                           void (*release)(void *)) {
    *out = NULL;
    vg_st_file *f = calloc(1, sizeof(*f));
    size_t cnt = (size_t)(n > 0 ? n : 0) + 1, cm = (size_t)(n_meta > 0 ? n_meta : 0) + 1;
    if (!f || !(f->path = dupstr(path)) || !(f->names = calloc(cnt, sizeof(*f->names))) ||
        !(f->t = calloc(cnt, sizeof(*f->t))) || !(f->begin = calloc(cnt, sizeof(*f->begin))) ||
        !(f->end = calloc(cnt, sizeof(*f->end))) || !(f->used = calloc(cnt, sizeof(*f->used))) ||
        !(f->by_name = calloc(cnt, sizeof(*f->by_name))) || !(f->meta_key = calloc(cm, sizeof(char *))) ||
        !(f->meta_val = calloc(cm, sizeof(char *)))) {
        vg_st_close(f);
        if (release) release(owner);
        return vg_fail(VG_ERR_OOM, "%s: out of memory", path);
    }
    f->owner = owner;
    f->release = release;
    vg_status st = VG_OK;
    for (int64_t i = 0; i < n && !st; i++) {
        f->n = i + 1;
        f->t[i] = t[i];
        f->by_name[i] = i;
        if (!(f->names[i] = dupstr(names[i]))) st = vg_fail(VG_ERR_OOM, "%s: out of memory", path);
    }
    for (int64_t i = 0; i < n_meta && !st; i++) {
        f->n_meta = i + 1;
        if (!(f->meta_key[i] = dupstr(meta_kv[2 * i])) || !(f->meta_val[i] = dupstr(meta_kv[2 * i + 1])))
            st = vg_fail(VG_ERR_OOM, "%s: out of memory", path);
    }
    if (!st) {
        g_sort_file = f;
        qsort(f->by_name, (size_t)f->n, sizeof(int64_t), cmp_by_name);
        g_sort_file = NULL;
        for (int64_t k = 1; k < f->n && !st; k++)
            if (strcmp(f->names[f->by_name[k - 1]], f->names[f->by_name[k]]) == 0)
                st = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' appears twice", path, f->names[f->by_name[k]]);
    }
    if (st) { vg_st_close(f); return st; }
    *out = f;
    return VG_OK;
}

const char *vg_st_path(const vg_st_file *f) { return f ? f->path : NULL; }
int64_t vg_st_count(const vg_st_file *f) { return f ? f->n : 0; }
const char *vg_st_name(const vg_st_file *f, int64_t i) { return f && i >= 0 && i < f->n ? f->names[i] : NULL; }
const vg_tensor *vg_st_at(const vg_st_file *f, int64_t i) { return f && i >= 0 && i < f->n ? &f->t[i] : NULL; }

static int64_t find(const vg_st_file *f, const char *name) {
    int64_t lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->names[f->by_name[mid]], name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

const vg_tensor *vg_st_get(const vg_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    int64_t i = find(f, name);
    return i < 0 ? NULL : &f->t[i];
}

const char *vg_st_metadata(const vg_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (int64_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_key[i], key) == 0) return f->meta_val[i];
    return NULL;
}

vg_status vg_st_require(const vg_st_file *f, const char *name, int ndim, const int64_t *shape,
                        const vg_tensor **out) {
    if (out) *out = NULL;
    if (!f || !name || ndim > VG_MAX_DIMS || (ndim > 0 && !shape))
        return vg_fail(VG_ERR_ARG, "vg_st_require: bad arguments");
    char want[200], got[200];
    if (ndim >= 0) shape_pattern(want, sizeof(want), ndim, shape);
    else snprintf(want, sizeof(want), "any");
    int64_t i = find(f, name);
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

vg_status vg_st_check_all_used(const vg_st_file *f) {
    if (!f) return vg_fail(VG_ERR_ARG, "vg_st_check_all_used: NULL file");
    for (int64_t i = 0; i < f->n; i++)
        if (!f->used[i]) {
            char sh[200];
            return vg_fail(VG_ERR_FORMAT, "%s: unexpected tensor '%s' %s %s (not used by the model; %lld tensors in file)",
                           f->path, f->names[i], vg_dtype_name(f->t[i].dtype),
                           vg_shape_str(sh, sizeof(sh), f->t[i].ndim, f->t[i].shape), (long long)f->n);
        }
    return VG_OK;
}

void vg_st_reset_used(vg_st_file *f) {
    if (f && f->n) memset(f->used, 0, (size_t)f->n * sizeof(*f->used));
}

/* ------------------------------------------------------------------------------------ */
/* writer */

typedef struct {
    char *name;
    vg_dtype dtype;
    int ndim;
    int64_t shape[VG_MAX_DIMS];
    void *data;
    size_t nbytes;
} st_entry;

struct vg_st_writer {
    st_entry *e;
    int64_t n, cap;
    char **meta_key, **meta_val;
    int64_t n_meta, cap_meta;
};

vg_st_writer *vg_st_writer_new(void) {
    vg_st_writer *w = calloc(1, sizeof(*w));
    return w;
}

void vg_st_writer_free(vg_st_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n; i++) { free(w->e[i].name); free(w->e[i].data); }
    for (int64_t i = 0; i < w->n_meta; i++) { free(w->meta_key[i]); free(w->meta_val[i]); }
    free(w->e); free(w->meta_key); free(w->meta_val);
    free(w);
}

/* Validates and appends an entry with room for its bytes; *dst receives the buffer. */
static vg_status writer_push(vg_st_writer *w, const char *name, vg_dtype dt, int ndim, const int64_t *shape,
                             void **dst, size_t *nbytes) {
    if (!w || !name) return vg_fail(VG_ERR_ARG, "vg_st_writer_add: NULL writer or name");
    if (!*name || strcmp(name, "__metadata__") == 0)
        return vg_fail(VG_ERR_ARG, "vg_st_writer_add: invalid tensor name '%s'", name);
    if ((unsigned)dt >= VG_DTYPE_ST_COUNT) return vg_fail(VG_ERR_ARG, "vg_st_writer_add: '%s': bad dtype %d", name, (int)dt);
    if (ndim < 0 || ndim > VG_MAX_DIMS || (ndim > 0 && !shape))
        return vg_fail(VG_ERR_ARG, "vg_st_writer_add: '%s': ndim %d outside 0..%d", name, ndim, VG_MAX_DIMS);
    uint64_t nb;
    if (!nbytes_of(dt, ndim, shape, &nb) || nb > (uint64_t)SIZE_MAX / 2)
        return vg_fail(VG_ERR_ARG, "vg_st_writer_add: '%s': negative dimension or size overflow", name);
    for (int64_t i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0) return vg_fail(VG_ERR_ARG, "vg_st_writer_add: tensor '%s' added twice", name);
    if (w->n == w->cap) {
        int64_t nc = w->cap ? w->cap * 2 : 64;
        st_entry *ne = realloc(w->e, (size_t)nc * sizeof(*ne));
        if (!ne) return vg_fail(VG_ERR_OOM, "vg_st_writer_add: out of memory");
        w->e = ne;
        w->cap = nc;
    }
    st_entry *e = &w->e[w->n];
    memset(e, 0, sizeof(*e));
    e->name = dupstr(name);
    e->data = malloc(nb ? (size_t)nb : 1);
    if (!e->name || !e->data) {
        free(e->name); free(e->data);
        return vg_fail(VG_ERR_OOM, "vg_st_writer_add: '%s': cannot allocate %llu bytes", name, (unsigned long long)nb);
    }
    e->dtype = dt;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->nbytes = (size_t)nb;
    w->n++;
    *dst = e->data;
    *nbytes = e->nbytes;
    return VG_OK;
}

vg_status vg_st_writer_add(vg_st_writer *w, const char *name, vg_dtype dt, int ndim, const int64_t *shape,
                           const void *data) {
    void *dst = NULL;
    size_t nb = 0;
    vg_status st = writer_push(w, name, dt, ndim, shape, &dst, &nb);
    if (st) return st;
    if (nb && !data) {
        w->n--;
        free(w->e[w->n].name); free(w->e[w->n].data);
        return vg_fail(VG_ERR_ARG, "vg_st_writer_add: '%s': NULL data", name);
    }
    if (nb) memcpy(dst, data, nb);
    return VG_OK;
}

vg_status vg_st_writer_add_f32(vg_st_writer *w, const char *name, vg_dtype dt, int ndim, const int64_t *shape,
                               const float *data) {
    if (dt != VG_DTYPE_F32 && dt != VG_DTYPE_F16 && dt != VG_DTYPE_BF16)
        return vg_fail(VG_ERR_ARG, "vg_st_writer_add_f32: '%s': dtype %s is not F32, F16 or BF16", name ? name : "?",
                       vg_dtype_name(dt));
    void *dst = NULL;
    size_t nb = 0;
    vg_status st = writer_push(w, name, dt, ndim, shape, &dst, &nb);
    if (st) return st;
    int64_t n = (int64_t)(nb / vg_dtype_size(dt));
    if (n && !data) {
        w->n--;
        free(w->e[w->n].name); free(w->e[w->n].data);
        return vg_fail(VG_ERR_ARG, "vg_st_writer_add_f32: '%s': NULL data", name);
    }
    if (n) vg_from_f32(dst, dt, data, n);
    return VG_OK;
}

vg_status vg_st_writer_meta(vg_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value) return vg_fail(VG_ERR_ARG, "vg_st_writer_meta: NULL argument");
    for (int64_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta_key[i], key) == 0) return vg_fail(VG_ERR_ARG, "vg_st_writer_meta: key '%s' set twice", key);
    if (w->n_meta == w->cap_meta) {
        int64_t nc = w->cap_meta ? w->cap_meta * 2 : 8;
        char **nk = realloc(w->meta_key, (size_t)nc * sizeof(*nk));
        if (!nk) return vg_fail(VG_ERR_OOM, "vg_st_writer_meta: out of memory");
        w->meta_key = nk;
        char **nv = realloc(w->meta_val, (size_t)nc * sizeof(*nv));
        if (!nv) return vg_fail(VG_ERR_OOM, "vg_st_writer_meta: out of memory");
        w->meta_val = nv;
        w->cap_meta = nc;
    }
    char *k = dupstr(key), *v = dupstr(value);
    if (!k || !v) { free(k); free(v); return vg_fail(VG_ERR_OOM, "vg_st_writer_meta: out of memory"); }
    w->meta_key[w->n_meta] = k;
    w->meta_val[w->n_meta] = v;
    w->n_meta++;
    return VG_OK;
}

/* the JSON header is built in a growable byte buffer (io/bytebuf.h) */
static void sb_printf(vg_bytebuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(vg_bytebuf *s, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0) vg_bytebuf_put(s, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* JSON string with ", \ and control characters escaped; other bytes (UTF-8) as they are. */
static void sb_json_str(vg_bytebuf *s, const char *str) {
    vg_bytebuf_put(s, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        if (*p == '"' || *p == '\\') { char esc[2] = {'\\', (char)*p}; vg_bytebuf_put(s, esc, 2); }
        else if (*p < 0x20) sb_printf(s, "\\u%04x", *p);
        else vg_bytebuf_put(s, (const char *)p, 1);
    }
    vg_bytebuf_put(s, "\"", 1);
}

static _Thread_local const vg_st_writer *g_sort_writer;
/* Larger elements first (stable by insertion): offsets stay contiguous, as the reference
 * implementation requires, and every tensor starts at a multiple of its element size. */
static int cmp_align(const void *a, const void *b) {
    int64_t ia = *(const int64_t *)a, ib = *(const int64_t *)b;
    size_t sa = vg_dtype_size(g_sort_writer->e[ia].dtype), sb = vg_dtype_size(g_sort_writer->e[ib].dtype);
    if (sa != sb) return sa > sb ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

vg_status vg_st_writer_save(vg_st_writer *w, const char *path) {
    if (!w || !path) return vg_fail(VG_ERR_ARG, "vg_st_writer_save: NULL argument");
    vg_status st = VG_OK;
    vg_bytebuf s = {0};
    int64_t *ord = malloc(((size_t)w->n + 1) * sizeof(*ord));
    vg_iov *iov = malloc(((size_t)w->n + 1) * sizeof(*iov));
    if (!ord || !iov) { st = vg_fail(VG_ERR_OOM, "%s: out of memory", path); goto out; }
    for (int64_t i = 0; i < w->n; i++) ord[i] = i;
    g_sort_writer = w;
    qsort(ord, (size_t)w->n, sizeof(*ord), cmp_align);
    g_sort_writer = NULL;
    vg_bytebuf_put(&s, "        {", 9); /* 8 bytes reserved for the length */
    bool first = true;
    if (w->n_meta) {
        vg_bytebuf_put(&s, "\"__metadata__\":{", 16);
        for (int64_t i = 0; i < w->n_meta; i++) {
            if (i) vg_bytebuf_put(&s, ",", 1);
            sb_json_str(&s, w->meta_key[i]);
            vg_bytebuf_put(&s, ":", 1);
            sb_json_str(&s, w->meta_val[i]);
        }
        vg_bytebuf_put(&s, "}", 1);
        first = false;
    }
    uint64_t off = 0;
    for (int64_t k = 0; k < w->n; k++) {
        const st_entry *e = &w->e[ord[k]];
        if (!first) vg_bytebuf_put(&s, ",", 1);
        first = false;
        sb_json_str(&s, e->name);
        sb_printf(&s, ":{\"dtype\":\"%s\",\"shape\":[", vg_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim; d++) sb_printf(&s, d ? ",%lld" : "%lld", (long long)e->shape[d]);
        sb_printf(&s, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + e->nbytes));
        off += e->nbytes;
        iov[k + 1] = (vg_iov){e->data, e->nbytes};
    }
    vg_bytebuf_put(&s, "}", 1);
    while (!s.oom && s.n % 8) vg_bytebuf_put(&s, " ", 1); /* the data region starts 8-aligned */
    if (s.oom) { st = vg_fail(VG_ERR_OOM, "%s: out of memory building the header", path); goto out; }
    uint64_t hlen = s.n - 8;
    for (int k = 0; k < 8; k++) s.p[k] = (uint8_t)(hlen >> (8 * k) & 0xff);
    iov[0] = (vg_iov){s.p, s.n};
    if (w->n + 1 > INT32_MAX) { st = vg_fail(VG_ERR_ARG, "%s: too many tensors", path); goto out; }
    st = vg_file_write_atomic_v(path, iov, (int)(w->n + 1));
out:
    free(s.p);
    free(ord);
    free(iov);
    return st;
}
