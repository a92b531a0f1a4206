/* test_safetensors.c - safetensors writer -> reader round trips, require/used marks,
 * malformed files (each must fail cleanly with a message naming the file), the shared
 * Wan golden files, a header-corruption fuzz loop, and the io.c file helpers.
 * Malformed files are generated here in vg_test_tmpdir(); no fixtures. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "vidgen/io.h"
#include "vidgen/safetensors.h"
#include "vidgen/status.h"

static const char *tpath(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", vg_test_tmpdir(), name);
    return buf;
}

static bool write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return false;
    bool ok = fwrite(p, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

/* 8-byte LE length (hlen, or strlen(json) when hlen == UINT64_MAX) + json + ndata bytes of 0x5a. */
static bool write_st(const char *path, uint64_t hlen, const char *json, size_t ndata) {
    size_t jl = strlen(json), n = 8 + jl + ndata;
    uint8_t *b = malloc(n);
    if (!b) return false;
    if (hlen == UINT64_MAX) hlen = jl;
    for (int k = 0; k < 8; k++) b[k] = (uint8_t)(hlen >> (8 * k));
    memcpy(b + 8, json, jl);
    memset(b + 8 + jl, 0x5a, ndata);
    bool ok = write_bytes(path, b, n);
    free(b);
    return ok;
}

/* ------------------------------------------------------------------------------------ */

VG_TEST(st_roundtrip_every_dtype) {
    char path[600];
    tpath(path, sizeof(path), "all.safetensors");
    vg_st_writer *w = vg_st_writer_new();
    CHECK(w);
    /* one tensor per dtype, sizes chosen so that insertion order would misalign the wide ones */
    static const int64_t shapes[VG_DTYPE_ST_COUNT][3] = {
        {3, 1, 5}, {7, 1, 1}, {1, 3, 3}, {5, 1, 1}, {3, 1, 1}, {2, 3, 1}, {1, 1, 7}, {1, 1, 3}, {13, 1, 1}, {2, 2, 1}};
    uint8_t *bufs[VG_DTYPE_ST_COUNT];
    for (int dt = 0; dt < VG_DTYPE_ST_COUNT; dt++) {
        size_t nb = vg_dtype_size((vg_dtype)dt) * (size_t)(shapes[dt][0] * shapes[dt][1] * shapes[dt][2]);
        bufs[dt] = malloc(nb);
        for (size_t i = 0; i < nb; i++) bufs[dt][i] = (uint8_t)(i * 37 + (size_t)dt * 11 + 1);
        char name[64];
        snprintf(name, sizeof(name), "t.%s", vg_dtype_name((vg_dtype)dt));
        CHECK_OK(vg_st_writer_add(w, name, (vg_dtype)dt, 3, shapes[dt], bufs[dt]));
    }
    for (int dt = 0; dt < VG_DTYPE_ST_COUNT; dt++) memset(bufs[dt], 0, 1); /* copied at add: later edits don't leak in */
    int64_t zshape[2] = {0, 3};
    CHECK_OK(vg_st_writer_add(w, "empty", VG_DTYPE_F32, 2, zshape, NULL));
    float scal = 2.5f;
    CHECK_OK(vg_st_writer_add(w, "scalar", VG_DTYPE_F32, 0, NULL, &scal));
    float src[6] = {1.0f, -2.5f, 3.14159265f, 1e-3f, 65504.0f, -0.0f};
    int64_t s6[1] = {6};
    CHECK_OK(vg_st_writer_add_f32(w, "conv.bf16", VG_DTYPE_BF16, 1, s6, src));
    CHECK_OK(vg_st_writer_add_f32(w, "conv.f16", VG_DTYPE_F16, 1, s6, src));
    CHECK_OK(vg_st_writer_meta(w, "config", "{\"dim\": 64, \"note\": \"a\\\\b\"}\n\ttab"));
    CHECK_OK(vg_st_writer_meta(w, "format", "pt"));
    CHECK_OK(vg_st_writer_save(w, path));
    vg_st_writer_free(w);
    CHECK(access(path, F_OK) == 0);

    /* header length padded to a multiple of 8; no temp file left behind */
    char *raw;
    size_t rawn;
    CHECK_OK(vg_file_read(path, &raw, &rawn));
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | (uint8_t)raw[k];
    free(raw);
    CHECKF(hlen % 8 == 0, "header length %llu", (unsigned long long)hlen);

    vg_st_file *f;
    CHECK_OK(vg_st_open(&f, path));
    CHECK(vg_st_count(f) == VG_DTYPE_ST_COUNT + 4);
    CHECK(strcmp(vg_st_path(f), path) == 0);
    for (int dt = 0; dt < VG_DTYPE_ST_COUNT; dt++) {
        char name[64];
        snprintf(name, sizeof(name), "t.%s", vg_dtype_name((vg_dtype)dt));
        const vg_tensor *t = vg_st_get(f, name);
        CHECKF(t, "%s missing", name);
        CHECK(t->dtype == (vg_dtype)dt && t->ndim == 3);
        for (int d = 0; d < 3; d++) CHECK(t->shape[d] == shapes[dt][d]);
        size_t es = vg_dtype_size((vg_dtype)dt), nb = es * (size_t)vg_tensor_numel(t);
        CHECKF((uintptr_t)t->data % es == 0, "%s data %p not aligned to %zu", name, t->data, es);
        bufs[dt][0] = 1 + (uint8_t)(dt * 11);
        CHECKF(memcmp(t->data, bufs[dt], nb) == 0, "%s bytes differ", name);
        free(bufs[dt]);
    }
    const vg_tensor *t = vg_st_get(f, "empty");
    CHECK(t && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3 && vg_tensor_numel(t) == 0);
    t = vg_st_get(f, "scalar");
    CHECK(t && t->ndim == 0 && vg_tensor_numel(t) == 1 && ((const float *)t->data)[0] == 2.5f);
    t = vg_st_get(f, "conv.bf16");
    CHECK(t && t->dtype == VG_DTYPE_BF16);
    for (int i = 0; i < 6; i++) CHECK(((const uint16_t *)t->data)[i] == vg_f32_to_bf16(src[i]));
    t = vg_st_get(f, "conv.f16");
    CHECK(t && t->dtype == VG_DTYPE_F16);
    for (int i = 0; i < 6; i++) CHECK(((const uint16_t *)t->data)[i] == vg_f32_to_f16(src[i]));
    CHECK(vg_st_get(f, "nope") == NULL);
    CHECK(vg_st_get(f, "t.F3") == NULL);
    CHECK(strcmp(vg_st_metadata(f, "config"), "{\"dim\": 64, \"note\": \"a\\\\b\"}\n\ttab") == 0);
    CHECK(strcmp(vg_st_metadata(f, "format"), "pt") == 0);
    CHECK(vg_st_metadata(f, "absent") == NULL);
    /* names and views by index agree with lookups */
    for (int64_t i = 0; i < vg_st_count(f); i++) CHECK(vg_st_get(f, vg_st_name(f, i)) == vg_st_at(f, i));
    CHECK(vg_st_at(f, -1) == NULL && vg_st_at(f, vg_st_count(f)) == NULL && vg_st_name(f, 99) == NULL);
    vg_st_close(f);
    vg_st_close(NULL);
}

VG_TEST(st_require_shapes_and_used_marks) {
    char path[600];
    tpath(path, sizeof(path), "req.safetensors");
    vg_st_writer *w = vg_st_writer_new();
    float a[24] = {0}, b[2] = {0};
    int64_t sa[2] = {4, 6}, sb[1] = {2};
    CHECK_OK(vg_st_writer_add(w, "blocks.0.q.weight", VG_DTYPE_F32, 2, sa, a));
    CHECK_OK(vg_st_writer_add(w, "blocks.0.q.bias", VG_DTYPE_F32, 1, sb, b));
    CHECK_OK(vg_st_writer_save(w, path));
    vg_st_writer_free(w);
    vg_st_file *f;
    CHECK_OK(vg_st_open(&f, path));

    const vg_tensor *t = NULL;
    int64_t want_bad[2] = {4, 5};
    vg_status st = vg_st_require(f, "blocks.0.q.weight", 2, want_bad, &t);
    CHECK(st == VG_ERR_SHAPE && t == NULL);
    const char *m = vg_last_error();
    CHECKF(strstr(m, path) && strstr(m, "'blocks.0.q.weight'") && strstr(m, "shape [4,6]") && strstr(m, "expected [4,5]"),
           "message: %s", m);
    int64_t want_3d[3] = {4, 6, 1};
    CHECK(vg_st_require(f, "blocks.0.q.weight", 3, want_3d, &t) == VG_ERR_SHAPE);
    CHECKF(strstr(vg_last_error(), "expected [4,6,1]"), "message: %s", vg_last_error());
    int64_t want_missing[1] = {7};
    CHECK(vg_st_require(f, "blocks.0.k.weight", 1, want_missing, &t) == VG_ERR_FORMAT);
    CHECKF(strstr(vg_last_error(), "missing tensor 'blocks.0.k.weight' (expected shape [7])") &&
               strstr(vg_last_error(), path), "message: %s", vg_last_error());
    int64_t wild_bad[2] = {-1, 5};
    CHECK(vg_st_require(f, "blocks.0.q.weight", 2, wild_bad, &t) == VG_ERR_SHAPE);
    CHECKF(strstr(vg_last_error(), "expected [*,5]"), "message: %s", vg_last_error());

    /* failed requires mark nothing */
    CHECK(vg_st_check_all_used(f) == VG_ERR_FORMAT);
    CHECKF(strstr(vg_last_error(), "unexpected tensor 'blocks.0.q.weight'"), "message: %s", vg_last_error());
    int64_t wild_ok[2] = {-1, 6};
    CHECK_OK(vg_st_require(f, "blocks.0.q.weight", 2, wild_ok, &t));
    CHECK(t == vg_st_get(f, "blocks.0.q.weight"));
    CHECK(vg_st_check_all_used(f) == VG_ERR_FORMAT);
    CHECKF(strstr(vg_last_error(), "unexpected tensor 'blocks.0.q.bias'"), "message: %s", vg_last_error());
    CHECK_OK(vg_st_require(f, "blocks.0.q.bias", 1, sb, NULL));
    CHECK_OK(vg_st_check_all_used(f));
    vg_st_reset_used(f);
    CHECK(vg_st_check_all_used(f) == VG_ERR_FORMAT);
    CHECK_OK(vg_st_require(f, "blocks.0.q.bias", -1, NULL, NULL)); /* ndim < 0: any shape */
    vg_st_close(f);
}

VG_TEST(st_writer_refuses_bad_input) {
    vg_st_writer *w = vg_st_writer_new();
    float x[4] = {0};
    int64_t s[1] = {4}, neg[1] = {-1};
    CHECK_OK(vg_st_writer_add(w, "a", VG_DTYPE_F32, 1, s, x));
    CHECK(vg_st_writer_add(w, "a", VG_DTYPE_F32, 1, s, x) == VG_ERR_ARG);
    CHECKF(strstr(vg_last_error(), "'a' added twice"), "message: %s", vg_last_error());
    CHECK(vg_st_writer_add(w, "__metadata__", VG_DTYPE_F32, 1, s, x) == VG_ERR_ARG);
    CHECK(vg_st_writer_add(w, "", VG_DTYPE_F32, 1, s, x) == VG_ERR_ARG);
    CHECK(vg_st_writer_add(w, "b", VG_DTYPE_F32, 1, neg, x) == VG_ERR_ARG);
    CHECK(vg_st_writer_add(w, "b", VG_DTYPE_ST_COUNT, 1, s, x) == VG_ERR_ARG);
    CHECK(vg_st_writer_add(w, "b", VG_DTYPE_F32, VG_MAX_DIMS + 1, s, x) == VG_ERR_ARG);
    CHECK(vg_st_writer_add(w, "b", VG_DTYPE_F32, 1, s, NULL) == VG_ERR_ARG);
    CHECK(vg_st_writer_add_f32(w, "b", VG_DTYPE_I32, 1, s, x) == VG_ERR_ARG);
    CHECK_OK(vg_st_writer_meta(w, "k", "v"));
    CHECK(vg_st_writer_meta(w, "k", "v2") == VG_ERR_ARG);
    /* save into a missing directory: IO error naming the path, no stray files */
    char path[600];
    tpath(path, sizeof(path), "no/such/dir/x.safetensors");
    CHECK(vg_st_writer_save(w, path) == VG_ERR_IO);
    CHECKF(strstr(vg_last_error(), path), "message: %s", vg_last_error());
    /* the failed adds left the writer consistent: exactly one tensor is saved */
    tpath(path, sizeof(path), "refuse.safetensors");
    CHECK_OK(vg_st_writer_save(w, path));
    vg_st_writer_free(w);
    vg_st_writer_free(NULL);
    vg_st_file *f;
    CHECK_OK(vg_st_open(&f, path));
    CHECK(vg_st_count(f) == 1 && vg_st_get(f, "a"));
    CHECK(strcmp(vg_st_metadata(f, "k"), "v") == 0);
    vg_st_close(f);
}

/* A header whose length is not a multiple of 8 (and an I64 at an odd offset): the reader
 * must hand out element-aligned pointers with the right values. */
VG_TEST(st_unaligned_data_is_copied_aligned) {
    char path[600];
    tpath(path, sizeof(path), "unaligned.safetensors");
    const char *json = "{\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[4,20]}} "; /* odd length */
    size_t jl = strlen(json);
    CHECK(jl % 2 == 1); /* both the F32 and the I64 sit at odd file positions */
    uint8_t buf[512];
    for (int k = 0; k < 8; k++) buf[k] = (uint8_t)((uint64_t)jl >> (8 * k));
    memcpy(buf + 8, json, jl);
    float fv = -1.75f;
    int64_t iv[2] = {937, -5};
    memcpy(buf + 8 + jl, &fv, 4);
    memcpy(buf + 8 + jl + 4, iv, 16);
    CHECK(write_bytes(path, buf, 8 + jl + 20));
    vg_st_file *f;
    CHECK_OK(vg_st_open(&f, path));
    const vg_tensor *tf = vg_st_get(f, "f"), *ti = vg_st_get(f, "i");
    CHECK(tf && ti);
    CHECK((uintptr_t)tf->data % 4 == 0 && (uintptr_t)ti->data % 8 == 0);
    CHECK(((const float *)tf->data)[0] == -1.75f);
    CHECK(((const int64_t *)ti->data)[0] == 937 && ((const int64_t *)ti->data)[1] == -5);
    vg_st_close(f);
}

/* ------------------------------------------------------------------------------------ */
/* malformed files */

typedef struct {
    const char *tag;
    uint64_t hlen;    /* UINT64_MAX: strlen(json) */
    const char *json; /* NULL: raw bytes of length ndata */
    size_t ndata;
    const char *want; /* substring of the message */
} bad_case;

static const bad_case g_bad[] = {
    {"empty_file", 0, NULL, 0, "too short"},
    {"seven_bytes", 0, NULL, 7, "too short"},
    {"huge_header_len", (uint64_t)1 << 60, "{}", 0, "exceeds"},
    {"header_past_eof", 1000, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "truncated"},
    {"header_len_zero", 0, "{}", 8, "too short for a JSON object"},
    {"not_json", UINT64_MAX, "hello world, not json", 0, "not valid JSON"},
    {"truncated_json", UINT64_MAX, "{\"a\":{\"dtype\":\"F3", 0, "not valid JSON"},
    {"json_array", UINT64_MAX, "[1,2,3]", 0, "must be a JSON object, found an array"},
    {"json_string", UINT64_MAX, "\"abc\"", 0, "must be a JSON object, found a string"},
    {"trailing_garbage", UINT64_MAX, "{}xyz", 0, "trailing bytes"},
    {"entry_not_object", UINT64_MAX, "{\"a\":5}", 0, "tensor 'a': expected an object"},
    {"missing_dtype", UINT64_MAX, "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'dtype' must be a string, found nothing"},
    {"dtype_number", UINT64_MAX, "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'dtype' must be a string, found a number"},
    {"unknown_dtype_F8", UINT64_MAX, "{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unknown dtype \"F8\""},
    {"shape_not_array", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16, "'shape' must be an array"},
    {"missing_shape", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", 16, "'shape' must be an array, found nothing"},
    {"negative_dim", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,0]}}", 0, "shape[1] must be a non-negative integer, found -1"},
    {"fractional_dim", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 10, "found 2.5"},
    {"string_dim", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "shape[0] must be a non-negative integer, found a string"},
    {"ndim_too_large", UINT64_MAX, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "more than 8 dimensions"},
    {"shape_size_mismatch", UINT64_MAX, "{\"blocks.0.q.weight\":{\"dtype\":\"F32\",\"shape\":[64,64],\"data_offsets\":[0,100]}}", 100,
     "tensor 'blocks.0.q.weight': shape [64,64] x F32 = 16384 bytes, but data_offsets span 100"},
    {"shape_overflow", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "overflows"},
    {"offsets_past_eof", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "past the data region (8 bytes)"},
    {"begin_gt_end", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "begin > end"},
    {"offsets_wrong_len", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "'data_offsets' must be an array [begin, end], found an array of the wrong length"},
    {"offsets_not_array", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"b\":0}}}", 4, "found an object"},
    {"offsets_fractional", UINT64_MAX, "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0.5,4.5]}}", 8, "data_offsets must be non-negative integers"},
    {"offsets_strings", UINT64_MAX, "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[\"0\",\"4\"]}}", 8, "data_offsets must be non-negative integers"},
    {"offsets_negative", UINT64_MAX, "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]}}", 8, "data_offsets must be non-negative integers"},
    {"offsets_huge", UINT64_MAX, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[18446744073709551615,0]}}", 8, "data_offsets must be non-negative integers"},
    {"overlap", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "tensor 'b' data_offsets [4,12] overlap tensor 'a' [0,8]"},
    {"overlap_contained", UINT64_MAX, "{\"big\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
                                       "\"small\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[10,12]},"
                                       "\"tail\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[20,22]}}", 24, "tensor 'small' data_offsets [10,12] overlap tensor 'big'"},
    {"metadata_non_string", UINT64_MAX, "{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ 'k': expected a string value, found a number"},
    {"metadata_not_object", UINT64_MAX, "{\"__metadata__\":[\"k\"]}", 0, "'__metadata__' must be an object of strings, found an array"},
    {"metadata_twice", UINT64_MAX, "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "'__metadata__' appears twice"},
    {"duplicate_tensor", UINT64_MAX, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                                      "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, "tensor 'a' appears twice"},
    {"empty_name", UINT64_MAX, "{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "empty name"},
    {"deep_nesting", UINT64_MAX, NULL, 0, "not valid JSON"}, /* json built in the test */
};

VG_TEST(st_malformed_files_fail_cleanly) {
    int n = (int)(sizeof(g_bad) / sizeof(g_bad[0]));
    CHECK(n >= 21);
    char deep[4200];
    int dn = 0;
    dn += snprintf(deep + dn, sizeof(deep) - (size_t)dn, "{\"a\":");
    for (int i = 0; i < 2000; i++) deep[dn++] = '[';
    deep[dn++] = '1';
    for (int i = 0; i < 2000; i++) deep[dn++] = ']';
    deep[dn++] = '}';
    deep[dn] = 0;
    for (int i = 0; i < n; i++) {
        const bad_case *c = &g_bad[i];
        char name[96], path[700];
        snprintf(name, sizeof(name), "bad_%02d_%s.safetensors", i, c->tag);
        tpath(path, sizeof(path), name);
        const char *json = strcmp(c->tag, "deep_nesting") == 0 ? deep : c->json;
        if (json) CHECK(write_st(path, c->hlen, json, c->ndata));
        else {
            uint8_t raw[16] = {0};
            CHECK(c->ndata <= sizeof(raw) && write_bytes(path, raw, c->ndata));
        }
        vg_st_file *f = (vg_st_file *)(uintptr_t)1;
        vg_clear_error();
        vg_status st = vg_st_open(&f, path);
        CHECKF(st == VG_ERR_FORMAT, "%s: expected VG_ERR_FORMAT, got %d (%s)", c->tag, (int)st, vg_last_error());
        CHECKF(f == NULL, "%s: *out not NULL on failure", c->tag);
        const char *m = vg_last_error();
        CHECKF(strstr(m, name) != NULL, "%s: message does not name the file: %s", c->tag, m);
        CHECKF(strstr(m, c->want) != NULL, "%s: message lacks \"%s\": %s", c->tag, c->want, m);
    }
}

VG_TEST(st_missing_or_unreadable_is_io_error) {
    char path[600];
    tpath(path, sizeof(path), "does_not_exist.safetensors");
    vg_st_file *f;
    CHECK(vg_st_open(&f, path) == VG_ERR_IO && f == NULL);
    CHECKF(strstr(vg_last_error(), path) && strstr(vg_last_error(), strerror(ENOENT)), "message: %s", vg_last_error());
    CHECK(vg_st_open(&f, vg_test_tmpdir()) == VG_ERR_IO); /* a directory */
    CHECKF(strstr(vg_last_error(), "not a regular file"), "message: %s", vg_last_error());
}

/* Zero-size tensors may share offsets with anything; gaps between tensors are accepted. */
VG_TEST(st_zero_size_and_gaps_accepted) {
    char path[600];
    tpath(path, sizeof(path), "zero.safetensors");
    CHECK(write_st(path, UINT64_MAX,
                   "{\"z1\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"z2\":{\"dtype\":\"BF16\",\"shape\":[3,0],\"data_offsets\":[16,16]},"
                   "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[12,16]}}   ",
                   16));
    vg_st_file *f;
    CHECK_OK(vg_st_open(&f, path));
    CHECK(vg_st_count(f) == 4);
    CHECK(vg_tensor_numel(vg_st_get(f, "z1")) == 0 && vg_tensor_numel(vg_st_get(f, "z2")) == 0);
    CHECK(((const uint8_t *)vg_st_get(f, "b")->data)[3] == 0x5a);
    vg_st_close(f);
}

/* ------------------------------------------------------------------------------------ */
/* the Wan golden files from the reference implementation */

static const vg_tensor *golden(vg_st_file **f, const char *file, const char *name, vg_dtype dt, int ndim,
                               const int64_t *shape) {
    char path[700];
    snprintf(path, sizeof(path), "%s/wan-goldens/%s", vg_test_shared(), file);
    const vg_tensor *t = NULL;
    if (vg_st_open(f, path) != VG_OK) {
        vg_test_failf(__FILE__, __LINE__, "%s", vg_last_error());
        return NULL;
    }
    if (vg_st_require(*f, name, ndim, shape, &t) != VG_OK) {
        vg_test_failf(__FILE__, __LINE__, "%s", vg_last_error());
        return NULL;
    }
    if (t->dtype != dt) {
        vg_test_failf(__FILE__, __LINE__, "%s '%s': dtype %s", file, name, vg_dtype_name(t->dtype));
        return NULL;
    }
    return t;
}

VG_TEST(st_wan_goldens_open) {
    char pat[700];
    snprintf(pat, sizeof(pat), "%s/wan-goldens/*.safetensors", vg_test_shared());
    glob_t g;
    CHECKF(glob(pat, 0, NULL, &g) == 0 && g.gl_pathc >= 7, "no golden files at %s", pat);
    int64_t total = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        vg_st_file *f;
        vg_status st = vg_st_open(&f, g.gl_pathv[i]);
        if (st != VG_OK) { globfree(&g); CHECKF(false, "%s", vg_last_error()); }
        total += vg_st_count(f);
        for (int64_t k = 0; k < vg_st_count(f); k++) {
            const vg_tensor *t = vg_st_at(f, k);
            if ((uintptr_t)t->data % vg_dtype_size(t->dtype)) {
                globfree(&g);
                vg_st_close(f);
                CHECKF(false, "misaligned view");
            }
        }
        vg_st_close(f);
    }
    globfree(&g);
    CHECKF(total > 300, "only %lld tensors in the goldens", (long long)total);

    vg_st_file *f = NULL;
    int64_t s_ffn[2] = {128, 64};
    const vg_tensor *t = golden(&f, "dit_weights.safetensors", "blocks.0.ffn.0.weight", VG_DTYPE_F32, 2, s_ffn);
    if (!t) { vg_st_close(f); return; }
    CHECKF(fabsf(((const float *)t->data)[0] - -0.09542871f) < 1e-7f, "got %.8g", ((const float *)t->data)[0]);
    CHECK(vg_st_metadata(f, "config") && strstr(vg_st_metadata(f, "config"), "\"dim\": 64"));
    vg_st_close(f);

    int64_t s1[1] = {1};
    t = golden(&f, "dit_io.safetensors", "in.t", VG_DTYPE_I64, 1, s1);
    if (!t) { vg_st_close(f); return; }
    CHECKF(((const int64_t *)t->data)[0] == 937, "in.t = %lld", (long long)((const int64_t *)t->data)[0]);
    vg_st_close(f);

    int64_t s50[1] = {50};
    t = golden(&f, "sched_io.safetensors", "n50_shift5.timesteps", VG_DTYPE_I64, 1, s50);
    if (!t) { vg_st_close(f); return; }
    const int64_t *ts = t->data;
    CHECKF(ts[0] == 999 && ts[1] == 995 && ts[4] == 982, "timesteps %lld %lld", (long long)ts[0], (long long)ts[1]);
    for (int i = 1; i < 50; i++) CHECK(ts[i] < ts[i - 1]);
    vg_st_close(f);
}

/* Overwrites the file behind fd in place (much cheaper than re-creating it each time). */
static bool rewrite(int fd, const void *p, size_t n) {
    return pwrite(fd, p, n, 0) == (ssize_t)n && ftruncate(fd, (off_t)n) == 0;
}

/* ------------------------------------------------------------------------------------ */
/* fuzz: corrupt single header bytes and truncate; open must fail cleanly or succeed */

VG_TEST(st_fuzz_header_corruption) {
    char path[600], fpath[600];
    tpath(path, sizeof(path), "fuzz_src.safetensors");
    tpath(fpath, sizeof(fpath), "fuzz.safetensors");
    vg_st_writer *w = vg_st_writer_new();
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t s23[2] = {2, 3}, s2[1] = {2}, s0[1] = {0};
    int64_t iv[2] = {7, 8};
    CHECK_OK(vg_st_writer_add(w, "w.a", VG_DTYPE_F32, 2, s23, a));
    CHECK_OK(vg_st_writer_add(w, "w.i", VG_DTYPE_I64, 1, s2, iv));
    CHECK_OK(vg_st_writer_add_f32(w, "w.h", VG_DTYPE_BF16, 1, s2, a));
    CHECK_OK(vg_st_writer_add(w, "w.z", VG_DTYPE_U8, 1, s0, NULL));
    CHECK_OK(vg_st_writer_meta(w, "k", "v"));
    CHECK_OK(vg_st_writer_save(w, path));
    vg_st_writer_free(w);
    char *src;
    size_t n;
    CHECK_OK(vg_file_read(path, &src, &n));
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | (uint8_t)src[k];
    size_t region = 8 + (size_t)hlen;
    CHECK(region <= n);
    char *buf = malloc(n);
    static const uint8_t vals[] = {0x00, 0xff, 0x80, '"', '-', '9', '.', ']', '[', '{', '}', ',', ':', ' '};
    uint64_t lcg = 12345;
    int fd = open(fpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    int opened = 0, failed = 0, wrong_code = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t pos = 0; pos < region; pos++) {
        for (size_t v = 0; v < sizeof(vals) + 2; v++) { /* the listed values, then 2 random bytes */
            memcpy(buf, src, n);
            if (v < sizeof(vals)) buf[pos] = (char)vals[v];
            else { lcg = lcg * 6364136223846793005ull + 1442695040888963407ull; buf[pos] = (char)(lcg >> 56); }
            if (buf[pos] == src[pos]) continue;
            CHECK(rewrite(fd, buf, n));
            vg_st_file *f = NULL;
            vg_status st = vg_st_open(&f, fpath);
            if (st == VG_OK) {
                /* whatever opened must be self-consistent: views lie inside aligned, readable memory */
                for (int64_t k = 0; k < vg_st_count(f); k++) {
                    const vg_tensor *t = vg_st_at(f, k);
                    size_t nb = vg_dtype_size(t->dtype) * (size_t)vg_tensor_numel(t);
                    volatile uint8_t sink = 0;
                    for (size_t b = 0; b < nb; b++) sink ^= ((const uint8_t *)t->data)[b];
                    (void)sink;
                }
                vg_st_close(f);
                opened++;
            } else {
                failed++;
                if (st != VG_ERR_FORMAT || !strstr(vg_last_error(), "fuzz.safetensors")) wrong_code++;
            }
        }
    }
    for (size_t len = 0; len < n; len++) { /* every truncation */
        CHECK(rewrite(fd, src, len));
        vg_st_file *f = NULL;
        vg_status st = vg_st_open(&f, fpath);
        if (st == VG_OK) { vg_st_close(f); opened++; }
        else { failed++; if (st != VG_ERR_FORMAT) wrong_code++; }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(fd);
    free(buf);
    free(src);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECKF(wrong_code == 0, "%d failures were not VG_ERR_FORMAT naming the file", wrong_code);
    CHECKF(failed > (int)region * 3, "only %d corruptions rejected (opened %d)", failed, opened);
    CHECKF(ms < 2000, "fuzz loop took %.0f ms", ms);
}

/* ------------------------------------------------------------------------------------ */
/* io.c helpers */

VG_TEST(io_atomic_write_read_mkdir) {
    char dir[600], path[700];
    tpath(dir, sizeof(dir), "io/a//b/c");
    CHECK_OK(vg_mkdir_p(dir));
    CHECK_OK(vg_mkdir_p(dir)); /* exists: fine */
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
    snprintf(path, sizeof(path), "%s/file.bin", dir);
    const char msg[] = "hello\0world";
    CHECK_OK(vg_file_write_atomic(path, msg, sizeof(msg)));
    CHECK_OK(vg_file_write_atomic(path, msg, sizeof(msg))); /* replaces */
    char *got;
    size_t n;
    CHECK_OK(vg_file_read(path, &got, &n));
    CHECK(n == sizeof(msg) && memcmp(got, msg, n) == 0 && got[n] == 0);
    free(got);
    vg_iov parts[3] = {{"ab", 2}, {NULL, 0}, {"cde", 3}};
    CHECK_OK(vg_file_write_atomic_v(path, parts, 3));
    CHECK_OK(vg_file_read(path, &got, &n));
    CHECK(n == 5 && strcmp(got, "abcde") == 0);
    free(got);
    CHECK_OK(vg_file_write_atomic(path, NULL, 0));
    CHECK_OK(vg_file_read(path, &got, &n));
    CHECK(n == 0 && got[0] == 0);
    free(got);
    /* no temporary files left in the directory */
    char *ls = NULL;
    vg_test_sh(&ls, "ls -A '%s'", dir);
    CHECKF(ls && strcmp(ls, "file.bin\n") == 0, "dir holds: %s", ls ? ls : "?");
    free(ls);

    /* errors name the path and the system reason */
    char missing[700];
    snprintf(missing, sizeof(missing), "%s/nope.txt", dir);
    CHECK(vg_file_read(missing, &got, &n) == VG_ERR_IO && got == NULL);
    CHECKF(strstr(vg_last_error(), missing) && strstr(vg_last_error(), strerror(ENOENT)), "message: %s", vg_last_error());
    CHECK(vg_file_read(dir, &got, &n) == VG_ERR_IO);
    CHECKF(strstr(vg_last_error(), "is a directory"), "message: %s", vg_last_error());
    snprintf(missing, sizeof(missing), "%s/no/dir/x.bin", dir);
    CHECK(vg_file_write_atomic(missing, "x", 1) == VG_ERR_IO);
    CHECKF(strstr(vg_last_error(), missing) && strstr(vg_last_error(), strerror(ENOENT)), "message: %s", vg_last_error());
    snprintf(missing, sizeof(missing), "%s/file.bin/sub", dir); /* a file in the way */
    CHECK(vg_mkdir_p(missing) == VG_ERR_IO);
    CHECKF(strstr(vg_last_error(), "file.bin' exists and is not a directory"), "message: %s", vg_last_error());
    CHECK(vg_mkdir_p("") == VG_ERR_ARG);
}
