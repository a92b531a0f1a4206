/* test_gguf.c - GGUF reader on the shared goldens (names, types, shapes, offsets against
 * LISTING.txt), metadata of every value type, writer -> reader round trips, malformed files built
 * here byte by byte (each must fail with VG_ERR_FORMAT naming the file and the tensor or key),
 * truncation at every byte, a byte-corruption fuzz loop. */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "vidgen/gguf.h"
#include "vidgen/io.h"
#include "vidgen/quant.h"
#include "vidgen/safetensors.h"
#include "vidgen/wan.h"
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

/* ---- a little byte builder ------------------------------------------------------------ */
typedef struct { uint8_t p[8192]; size_t n; } bb;
static void b_raw(bb *b, const void *d, size_t n) { if (b->n + n <= sizeof(b->p)) { memcpy(b->p + b->n, d, n); b->n += n; } }
static void b_le(bb *b, uint64_t v, int nb) { for (int k = 0; k < nb; k++) { uint8_t c = (uint8_t)(v >> (8 * k)); b_raw(b, &c, 1); } }
static void b_u32(bb *b, uint32_t v) { b_le(b, v, 4); }
static void b_u64(bb *b, uint64_t v) { b_le(b, v, 8); }
static void b_str(bb *b, const char *s) { b_u64(b, strlen(s)); b_raw(b, s, strlen(s)); }
static void b_hdr(bb *b, uint32_t ver, uint64_t nt, uint64_t nkv) { b_raw(b, "GGUF", 4); b_u32(b, ver); b_u64(b, nt); b_u64(b, nkv); }
static void b_kv_u32(bb *b, const char *k, uint32_t v) { b_str(b, k); b_u32(b, 4); b_u32(b, v); }
static void b_kv_str(bb *b, const char *k, const char *v) { b_str(b, k); b_u32(b, 8); b_str(b, v); }
static void b_tinfo(bb *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    b_str(b, name); b_u32(b, nd);
    for (uint32_t d = 0; d < nd; d++) b_u64(b, ne[d]);
    b_u32(b, type); b_u64(b, off);
}
static void b_pad(bb *b, size_t a) { while (b->n % a) { uint8_t z = 0; b_raw(b, &z, 1); } }
static void b_data(bb *b, size_t n) { for (size_t i = 0; i < n; i++) { uint8_t c = (uint8_t)(i * 7 + 1); b_raw(b, &c, 1); } }

/* The valid file the malformed cases start from: one metadata entry of every value type
 * (arrays of ints, strings and a nested array too) and three tensors (F32 [2,4], Q8_0 [32],
 * F16 [16]) at data offsets 0, 32, 96; 128 data bytes. */
static void build_valid(bb *b) {
    b->n = 0;
    b_hdr(b, 3, 3, 16);
    b_kv_str(b, "general.architecture", "test");
    b_str(b, "k.u8"); b_u32(b, 0); b_le(b, 200, 1);
    b_str(b, "k.i8"); b_u32(b, 1); b_le(b, (uint8_t)-5, 1);
    b_str(b, "k.u16"); b_u32(b, 2); b_le(b, 60000, 2);
    b_str(b, "k.i16"); b_u32(b, 3); b_le(b, (uint16_t)-300, 2);
    b_kv_u32(b, "k.u32", 4000000000u);
    b_str(b, "k.i32"); b_u32(b, 5); b_le(b, (uint32_t)-70000, 4);
    b_str(b, "k.f32"); b_u32(b, 6); { float x = 1.5f; uint32_t u; memcpy(&u, &x, 4); b_u32(b, u); }
    b_str(b, "k.bool"); b_u32(b, 7); b_le(b, 1, 1);
    b_str(b, "k.u64"); b_u32(b, 10); b_u64(b, 1ull << 40);
    b_str(b, "k.i64"); b_u32(b, 11); b_u64(b, (uint64_t)-5000000000ll);
    b_str(b, "k.f64"); b_u32(b, 12); { double x = -2.25; uint64_t u; memcpy(&u, &x, 8); b_u64(b, u); }
    b_str(b, "k.ints"); b_u32(b, 9); b_u32(b, 5); b_u64(b, 3); b_u32(b, 7); b_u32(b, (uint32_t)-1); b_u32(b, 9);
    b_str(b, "k.strs"); b_u32(b, 9); b_u32(b, 8); b_u64(b, 2); b_str(b, "ab"); b_str(b, "");
    b_str(b, "k.nested"); b_u32(b, 9); b_u32(b, 9); b_u64(b, 2);
    b_u32(b, 0); b_u64(b, 2); b_le(b, 1, 1); b_le(b, 2, 1);
    b_u32(b, 9); b_u64(b, 1); b_u32(b, 7); b_u64(b, 1); b_le(b, 0, 1);
    b_kv_u32(b, "general.alignment", 32);
    uint64_t ne_a[2] = {4, 2}, ne_b[1] = {32}, ne_c[1] = {16};
    b_tinfo(b, "a", 2, ne_a, 0, 0);
    b_tinfo(b, "b", 1, ne_b, 8, 32);
    b_tinfo(b, "c", 1, ne_c, 1, 96);
    b_pad(b, 32);
    b_data(b, 128);
}

VG_TEST(gguf_valid_file_every_value_type) {
    bb b;
    build_valid(&b);
    char path[600];
    tpath(path, sizeof(path), "valid.gguf");
    CHECK(write_bytes(path, b.p, b.n));
    vg_gguf *f = NULL;
    CHECK_OK(vg_gguf_open(&f, path));
    CHECK(vg_gguf_version(f) == 3 && vg_gguf_alignment(f) == 32 && vg_gguf_count(f) == 3 && vg_gguf_kv_count(f) == 16);
    int64_t v = 0;
    double d = 0;
    CHECK(strcmp(vg_gguf_get_str(f, "general.architecture"), "test") == 0);
    CHECK(vg_gguf_get_int(f, "k.u8", &v) && v == 200);
    CHECK(vg_gguf_get_int(f, "k.i8", &v) && v == -5);
    CHECK(vg_gguf_get_int(f, "k.u16", &v) && v == 60000);
    CHECK(vg_gguf_get_int(f, "k.i16", &v) && v == -300);
    CHECK(vg_gguf_get_int(f, "k.u32", &v) && v == 4000000000ll);
    CHECK(vg_gguf_get_int(f, "k.i32", &v) && v == -70000);
    CHECK(vg_gguf_get_f64(f, "k.f32", &d) && d == 1.5);
    CHECK(vg_gguf_get_int(f, "k.bool", &v) && v == 1);
    CHECK(vg_gguf_get_int(f, "k.u64", &v) && v == (1ll << 40));
    CHECK(vg_gguf_get_int(f, "k.i64", &v) && v == -5000000000ll);
    CHECK(vg_gguf_get_f64(f, "k.f64", &d) && d == -2.25);
    CHECK(!vg_gguf_get_int(f, "k.f64", &v) && !vg_gguf_get_int(f, "missing", &v) && !vg_gguf_get_str(f, "k.u8"));
    int64_t ints[4] = {0};
    CHECK(vg_gguf_get_ints(f, "k.ints", ints, 4) == 3 && ints[0] == 7 && ints[1] == -1 && ints[2] == 9);
    CHECK(vg_gguf_get_ints(f, "k.strs", ints, 4) == -1 && vg_gguf_get_ints(f, "k.u8", ints, 4) == -1);
    int elem;
    int64_t cnt;
    CHECK(vg_gguf_kv_type(f, "k.strs", &elem, &cnt) == VG_GGUF_ARRAY && elem == VG_GGUF_STRING && cnt == 2);
    CHECK(vg_gguf_kv_type(f, "k.nested", &elem, &cnt) == VG_GGUF_ARRAY && elem == VG_GGUF_ARRAY && cnt == 2);
    const vg_tensor *t = vg_gguf_get(f, "a");
    CHECK(t && t->dtype == VG_DTYPE_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 4);
    size_t data_start = b.n - 128;
    CHECK((const uint8_t *)t->data - (const uint8_t *)NULL != 0);
    CHECK(memcmp(t->data, b.p + data_start, 32) == 0);
    t = vg_gguf_get(f, "b");
    CHECK(t && t->dtype == VG_DTYPE_Q8_0 && t->ndim == 1 && t->shape[0] == 32);
    CHECK(memcmp(t->data, b.p + data_start + 32, 34) == 0 && vg_gguf_file_offset(f, 1) == (int64_t)data_start + 32);
    t = vg_gguf_get(f, "c");
    CHECK(t && t->dtype == VG_DTYPE_F16 && memcmp(t->data, b.p + data_start + 96, 32) == 0);
    /* require / used marks */
    int64_t sh[2] = {2, -1}, bad[2] = {3, 4};
    CHECK(vg_gguf_check_all_used(f) == VG_ERR_FORMAT && strstr(vg_last_error(), "unexpected tensor 'a'"));
    CHECK_OK(vg_gguf_require(f, "a", 2, sh, &t));
    CHECK(vg_gguf_require(f, "a", 2, bad, &t) == VG_ERR_SHAPE && strstr(vg_last_error(), "shape [2,4], expected [3,4]"));
    CHECK(vg_gguf_require(f, "zz", -1, NULL, &t) == VG_ERR_FORMAT && strstr(vg_last_error(), "missing tensor 'zz'"));
    CHECK_OK(vg_gguf_require(f, "b", -1, NULL, NULL));
    CHECK(vg_gguf_check_all_used(f) == VG_ERR_FORMAT && strstr(vg_last_error(), "'c'"));
    CHECK_OK(vg_gguf_require(f, "c", 1, (int64_t[]){16}, NULL));
    CHECK_OK(vg_gguf_check_all_used(f));
    vg_gguf_reset_used(f);
    CHECK(vg_gguf_check_all_used(f) == VG_ERR_FORMAT);
    vg_gguf_close(f);
    /* version 2 is the same layout */
    b.p[4] = 2;
    CHECK(write_bytes(path, b.p, b.n));
    CHECK_OK(vg_gguf_open(&f, path));
    CHECK(vg_gguf_version(f) == 2);
    vg_gguf_close(f);
}

static bool rewrite(int fd, const void *p, size_t n) {
    return ftruncate(fd, 0) == 0 && pwrite(fd, p, n, 0) == (ssize_t)n;
}

/* ---- malformed files ------------------------------------------------------------------ */
typedef struct { const char *tag, *want; } bad_case;
static const bad_case g_bad[] = {
    {"bad_magic", "not a GGUF file"},
    {"version1", "version 1"},
    {"version4", "version 4 is not supported"},
    {"big_endian", "big-endian"},
    {"huge_tensor_count", "tensor count"},
    {"huge_kv_count", "metadata count"},
    {"key_length_huge", "has length"},
    {"key_empty", "empty, over-long"},
    {"string_value_length", "has length"},
    {"kv_type_unknown", "unknown value type 13"},
    {"bool_value_2", "bool value 2"},
    {"array_count_huge", "array of"},
    {"array_bomb_nested", "array of"},
    {"array_too_deep", "nested deeper than 8"},
    {"array_elem_type_bad", "unknown element type 77"},
    {"dup_key", "metadata key 'k.x' appears twice"},
    {"align_not_pow2", "general.alignment 48 is not a power of two"},
    {"align_zero", "general.alignment 0"},
    {"align_wrong_type", "'general.alignment' is a u64"},
    {"name_length_huge", "has length"},
    {"name_empty", "empty, over-long"},
    {"ndims_0", "tensor 'w': n_dims 0"},
    {"ndims_5", "tensor 'w': n_dims 5"},
    {"ne_zero", "tensor 'w': ne[1] = 0"},
    {"ne_overflow", "tensor 'w': ne[1] = "},
    {"type_id_40", "tensor 'w' has unknown ggml type id 40"},
    {"type_iq4_xs", "tensor 'w' has type IQ4_XS; vidgen reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K"},
    {"type_removed_q4_2", "tensor 'w' has type Q4_2"},
    {"ne0_not_block", "tensor 'w': ne[0] = 33 is not a multiple of the Q8_0 block (32)"},
    {"offset_misaligned", "tensor 'w': data offset 8 is not a multiple of the alignment 32"},
    {"offset_out_of_file", "tensor 'w': data [96, +64) runs past the end"},
    {"offset_wraps", "tensor 'w': data ["},
    {"overlap", "overlaps tensor"},
    {"dup_tensor", "tensor 'w' appears twice"},
    {"truncated_infos", "truncated"},
    {"no_data_region", "truncated"},
    {"size_overflow", "tensor 'w': "},
};

static void build_bad(bb *b, const char *tag) {
    b->n = 0;
    uint64_t ne1[1] = {16}, ne2[2] = {16, 2};
#define IS(s) (strcmp(tag, s) == 0)
    if (IS("bad_magic")) { b_raw(b, "GGML", 4); b_u32(b, 3); b_u64(b, 0); b_u64(b, 0); return; }
    if (IS("version1")) { b_hdr(b, 1, 0, 0); return; }
    if (IS("version4")) { b_hdr(b, 4, 0, 0); return; }
    if (IS("big_endian")) { b_hdr(b, 3u << 24, 0, 0); return; }
    if (IS("huge_tensor_count")) { b_hdr(b, 3, 1ull << 60, 0); b_data(b, 64); return; }
    if (IS("huge_kv_count")) { b_hdr(b, 3, 0, UINT64_MAX); b_data(b, 64); return; }
    if (IS("key_length_huge")) { b_hdr(b, 3, 0, 1); b_u64(b, 1ull << 62); b_data(b, 20); return; }
    if (IS("key_empty")) { b_hdr(b, 3, 0, 1); b_str(b, ""); b_u32(b, 4); b_u32(b, 1); return; }
    if (IS("string_value_length")) { b_hdr(b, 3, 0, 1); b_str(b, "k.s"); b_u32(b, 8); b_u64(b, 100); b_raw(b, "abc", 3); return; }
    if (IS("kv_type_unknown")) { b_hdr(b, 3, 0, 1); b_str(b, "k.x"); b_u32(b, 13); b_u64(b, 0); return; }
    if (IS("bool_value_2")) { b_hdr(b, 3, 0, 1); b_str(b, "k.b"); b_u32(b, 7); b_le(b, 2, 1); b_data(b, 8); return; }
    if (IS("array_count_huge")) { b_hdr(b, 3, 0, 1); b_str(b, "k.a"); b_u32(b, 9); b_u32(b, 4); b_u64(b, 1ull << 61); b_data(b, 64); return; }
    if (IS("array_bomb_nested")) { /* an array of 2^60 arrays, each claiming 2^60 u64 */
        b_hdr(b, 3, 0, 1); b_str(b, "k.a"); b_u32(b, 9); b_u32(b, 9); b_u64(b, 1ull << 60);
        for (int i = 0; i < 8; i++) { b_u32(b, 10); b_u64(b, 1ull << 60); }
        return;
    }
    if (IS("array_too_deep")) {
        b_hdr(b, 3, 0, 1); b_str(b, "k.a"); b_u32(b, 9);
        for (int i = 0; i < 12; i++) { b_u32(b, 9); b_u64(b, 1); }
        b_u32(b, 0); b_u64(b, 0);
        return;
    }
    if (IS("array_elem_type_bad")) { b_hdr(b, 3, 0, 1); b_str(b, "k.a"); b_u32(b, 9); b_u32(b, 77); b_u64(b, 1); b_data(b, 8); return; }
    if (IS("dup_key")) { b_hdr(b, 3, 0, 2); b_kv_u32(b, "k.x", 1); b_kv_u32(b, "k.x", 2); return; }
    if (IS("align_not_pow2") || IS("align_zero") || IS("align_wrong_type")) {
        b_hdr(b, 3, 1, 1);
        if (IS("align_wrong_type")) { b_str(b, "general.alignment"); b_u32(b, 10); b_u64(b, 32); }
        else b_kv_u32(b, "general.alignment", IS("align_zero") ? 0 : 48);
        b_tinfo(b, "w", 1, ne1, 0, 0); b_pad(b, 32); b_data(b, 64);
        return;
    }
    if (IS("name_length_huge")) { b_hdr(b, 3, 1, 0); b_u64(b, UINT64_MAX); b_data(b, 40); return; }
    if (IS("name_empty")) { b_hdr(b, 3, 1, 0); b_tinfo(b, "", 1, ne1, 0, 0); b_pad(b, 32); b_data(b, 64); return; }
    b_hdr(b, 3, IS("overlap") || IS("dup_tensor") ? 2 : 1, 0);
    if (IS("ndims_0")) b_tinfo(b, "w", 0, ne1, 0, 0);
    else if (IS("ndims_5")) { uint64_t ne5[5] = {1, 1, 1, 1, 16}; b_tinfo(b, "w", 5, ne5, 0, 0); }
    else if (IS("ne_zero")) { uint64_t ne[2] = {16, 0}; b_tinfo(b, "w", 2, ne, 0, 0); }
    else if (IS("ne_overflow")) { uint64_t ne[2] = {1ull << 40, 1ull << 40}; b_tinfo(b, "w", 2, ne, 0, 0); }
    else if (IS("size_overflow")) { uint64_t ne[2] = {1ull << 32, 1ull << 30}; b_tinfo(b, "w", 2, ne, 0, 0); }
    else if (IS("type_id_40")) b_tinfo(b, "w", 1, ne1, 40, 0);
    else if (IS("type_iq4_xs")) { uint64_t ne[1] = {256}; b_tinfo(b, "w", 1, ne, 23, 0); }
    else if (IS("type_removed_q4_2")) b_tinfo(b, "w", 1, ne1, 4, 0);
    else if (IS("ne0_not_block")) { uint64_t ne[1] = {33}; b_tinfo(b, "w", 1, ne, 8, 0); }
    else if (IS("offset_misaligned")) b_tinfo(b, "w", 1, ne1, 0, 8);
    else if (IS("offset_out_of_file")) b_tinfo(b, "w", 1, ne1, 0, 96);
    else if (IS("offset_wraps")) b_tinfo(b, "w", 1, ne1, 0, UINT64_MAX - 31);
    else if (IS("overlap")) { b_tinfo(b, "w", 2, ne2, 0, 0); b_tinfo(b, "v", 1, ne1, 0, 64); }
    else if (IS("dup_tensor")) { b_tinfo(b, "w", 1, ne1, 0, 0); b_tinfo(b, "w", 1, ne1, 0, 64); }
    else if (IS("truncated_infos")) { b_str(b, "w"); b_u32(b, 1); b_u32(b, 16); b_data(b, 20); return; }
    else if (IS("no_data_region")) { b_tinfo(b, "w", 1, ne1, 0, 0); b_le(b, 0, 1); return; }
    b_pad(b, 32);
    b_data(b, 128);
#undef IS
}

static bool names_tensor(const char *tag) {
    return strstr(tag, "ndims") || strstr(tag, "ne_") || strstr(tag, "type_id") || strstr(tag, "type_iq") ||
           strstr(tag, "type_removed") || strstr(tag, "ne0") ||
           strstr(tag, "offset") || strstr(tag, "dup_tensor") || strstr(tag, "size_overflow");
}

VG_TEST(gguf_malformed_files_fail_cleanly) {
    int n = (int)(sizeof(g_bad) / sizeof(g_bad[0]));
    CHECK(n >= 25);
    bb *b = malloc(sizeof(bb));
    CHECK(b);
    for (int i = 0; i < n; i++) {
        char name[96], path[700];
        snprintf(name, sizeof(name), "bad_%02d_%s.gguf", i, g_bad[i].tag);
        tpath(path, sizeof(path), name);
        build_bad(b, g_bad[i].tag);
        if (!write_bytes(path, b->p, b->n)) { free(b); CHECK(false); }
        vg_gguf *f = (vg_gguf *)(uintptr_t)1;
        vg_clear_error();
        vg_status st = vg_gguf_open(&f, path);
        const char *m = vg_last_error();
        bool ok = st == VG_ERR_FORMAT && f == NULL && strstr(m, name) && strstr(m, g_bad[i].want) &&
                  (!names_tensor(g_bad[i].tag) || strstr(m, "tensor '"));
        if (!ok) { free(b); CHECKF(false, "%s: status %d, message: %s (want \"%s\")", g_bad[i].tag, (int)st, m, g_bad[i].want); }
    }
    free(b);
}

/* Every proper prefix of the valid file is refused with VG_ERR_FORMAT, and so is every
 * corruption of single header bytes that makes it invalid (no crash either way). */
VG_TEST(gguf_truncation_at_every_byte_and_fuzz) {
    bb *b = malloc(sizeof(bb)), *c = malloc(sizeof(bb));
    if (!b || !c) { free(b); free(c); CHECK(false); }
    build_valid(b);
    /* an in-memory file (a disk file rewritten thousands of times costs seconds in discards) */
    int fd = memfd_create("gguf-fuzz", 0);
    if (fd < 0) { free(b); free(c); CHECK(fd >= 0); }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    for (size_t len = 0; len < b->n; len++) {
        if (!rewrite(fd, b->p, len)) break;
        vg_gguf *f = NULL;
        vg_status st = vg_gguf_open(&f, path);
        if (st != VG_ERR_FORMAT || !strstr(vg_last_error(), path)) {
            vg_gguf_close(f); free(b); free(c); close(fd);
            CHECKF(false, "prefix of %zu bytes: status %d (%s)", len, (int)st, vg_last_error());
        }
    }
    uint64_t s = 12345;
    size_t hdr = b->n - 128;
    int n_ok = 0, n_bad = 0;
    for (int it = 0; it < 1500; it++) {
        *c = *b;
        for (int k = 0; k < 1 + it % 3; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(s >> 33) % hdr;
            static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0x20, 0x40};
            c->p[at] = (s >> 20) & 1 ? vals[(s >> 8) % sizeof(vals)] : (uint8_t)(s >> 12);
        }
        if (!rewrite(fd, c->p, c->n)) break;
        vg_gguf *f = NULL;
        vg_status st = vg_gguf_open(&f, path);
        if (st == VG_OK) {
            n_ok++;
            for (int64_t i = 0; i < vg_gguf_count(f); i++) { /* every view lies inside the file */
                const vg_tensor *t = vg_gguf_at(f, i);
                int64_t o = vg_gguf_file_offset(f, i);
                int64_t nb = vg_dtype_row_bytes(t->dtype, t->shape[t->ndim - 1]);
                for (int d = 0; d + 1 < t->ndim; d++) nb *= t->shape[d];
                if (o < 0 || nb < 0 || o + nb > (int64_t)c->n) { vg_gguf_close(f); free(b); free(c); close(fd); CHECK(false); }
            }
            vg_gguf_close(f);
        } else if (st == VG_ERR_FORMAT) {
            n_bad++;
        } else {
            free(b); free(c); close(fd);
            CHECKF(false, "iteration %d: status %d (%s)", it, (int)st, vg_last_error());
        }
    }
    free(b);
    free(c);
    close(fd);
    CHECKF(n_bad > 500, "only %d of 1500 corruptions refused (%d opened)", n_bad, n_ok);
}

/* ---- writer round trip ------------------------------------------------------------------ */
typedef struct { const uint8_t *src; int64_t row_bytes; int calls; } fill_ctx;
static vg_status fill_rows(void *ctx, int64_t row0, int64_t nrows, void *dst) {
    fill_ctx *c = ctx;
    c->calls++;
    memcpy(dst, c->src + row0 * c->row_bytes, (size_t)(nrows * c->row_bytes));
    return VG_OK;
}

VG_TEST(gguf_writer_roundtrip) {
    char path[600];
    tpath(path, sizeof(path), "written.gguf");
    vg_gguf_writer *w = vg_gguf_writer_new();
    CHECK(w);
    float a[3 * 5];
    for (int i = 0; i < 15; i++) a[i] = (float)i * 0.5f - 3;
    uint8_t q[2 * 3 * 34];
    for (size_t i = 0; i < sizeof(q); i++) q[i] = (uint8_t)(i * 13 + 5);
    fill_ctx fc = {q, 34, 0};
    int64_t sa[2] = {3, 5}, sq[3] = {2, 3, 32}, sbad[1] = {33};
    CHECK_OK(vg_gguf_writer_add_data(w, "x.a", VG_DTYPE_F32, 2, sa, a));
    CHECK_OK(vg_gguf_writer_add(w, "x.q", VG_DTYPE_Q8_0, 3, sq, fill_rows, &fc));
    CHECK(vg_gguf_writer_add_data(w, "x.a", VG_DTYPE_F32, 2, sa, a) == VG_ERR_ARG);
    CHECK(vg_gguf_writer_add_data(w, "x.b", VG_DTYPE_Q8_0, 1, sbad, q) == VG_ERR_ARG);
    CHECK(vg_gguf_writer_add_data(w, "x.c", VG_DTYPE_I64, 1, sa, q) == VG_ERR_ARG);
    int64_t orig[5] = {64, 16, 1, 2, 2};
    CHECK_OK(vg_gguf_writer_meta_str(w, "general.architecture", "wan"));
    CHECK_OK(vg_gguf_writer_meta_u32(w, "general.quantization_version", 2));
    CHECK_OK(vg_gguf_writer_meta_i32s(w, "comfy.gguf.orig_shape.x.a", orig, 5));
    CHECK(vg_gguf_writer_meta_u32(w, "general.quantization_version", 2) == VG_ERR_ARG);
    CHECK(vg_gguf_writer_meta_u32(w, "general.alignment", 64) == VG_ERR_ARG);
    vg_status st = vg_gguf_writer_save(w, path);
    vg_gguf_writer_free(w);
    CHECK_OK(st);
    CHECK(fc.calls >= 1);
    vg_gguf *f = NULL;
    CHECK_OK(vg_gguf_open(&f, path));
    const vg_tensor *t = vg_gguf_get(f, "x.a");
    CHECK(t && t->dtype == VG_DTYPE_F32 && t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 5);
    CHECK(memcmp(t->data, a, sizeof(a)) == 0 && (uintptr_t)t->data % 32 == 0);
    t = vg_gguf_get(f, "x.q");
    CHECK(t && t->dtype == VG_DTYPE_Q8_0 && t->ndim == 3 && t->shape[0] == 2 && t->shape[1] == 3 && t->shape[2] == 32);
    CHECK(memcmp(t->data, q, sizeof(q)) == 0);
    CHECK(strcmp(vg_gguf_get_str(f, "general.architecture"), "wan") == 0);
    int64_t v = 0, got[8];
    CHECK(vg_gguf_get_int(f, "general.quantization_version", &v) && v == 2);
    CHECK(vg_gguf_get_ints(f, "comfy.gguf.orig_shape.x.a", got, 8) == 5 && got[0] == 64 && got[1] == 16 && got[4] == 2);
    vg_gguf_close(f);
    struct stat sb;
    char tmp[700];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    CHECK(stat(tmp, &sb) != 0); /* no temporary left behind */
}

/* ---- the shared goldens against LISTING.txt ---------------------------------------------- */
VG_TEST(gguf_goldens_match_listing) {
    char lp[700];
    snprintf(lp, sizeof(lp), "%s/gguf-goldens/LISTING.txt", vg_test_shared());
    FILE *fp = fopen(lp, "r");
    if (!fp) { printf("skip (no %s)\n", lp); return; }
    char line[512], cur[256] = "";
    vg_gguf *f = NULL;
    int64_t n_seen = 0, n_files = 0, data_start = -1;
    bool fail = false;
    char why[600] = "";
    while (!fail && fgets(line, sizeof(line), fp)) {
        size_t L = strlen(line);
        while (L && (line[L - 1] == '\n' || line[L - 1] == ' ')) line[--L] = 0;
        if (L > 6 && strcmp(line + L - 6, ".gguf:") == 0 && line[0] != ' ') {
            if (f && n_seen != vg_gguf_count(f)) { snprintf(why, sizeof(why), "%s: %lld listed, %lld in file", cur, (long long)n_seen, (long long)vg_gguf_count(f)); fail = true; break; }
            vg_gguf_close(f); f = NULL;
            snprintf(cur, sizeof(cur), "%.*s", (int)(L - 1), line);
            char p[900];
            snprintf(p, sizeof(p), "%s/gguf-goldens/%s", vg_test_shared(), cur);
            if (vg_gguf_open(&f, p) != VG_OK) { snprintf(why, sizeof(why), "%s", vg_last_error()); fail = true; break; }
            n_files++; n_seen = 0; data_start = -1;
            continue;
        }
        if (!f || strncmp(line, "  ", 2) != 0) continue;
        char name[200], type[16], dims[100];
        long long off;
        if (sscanf(line, " %199s %15s (%99[^)]) @%lld", name, type, dims, &off) != 4) continue;
        int64_t i = vg_gguf_index(f, name);
        const vg_tensor *t = vg_gguf_at(f, i);
        if (!t) { snprintf(why, sizeof(why), "%s: no tensor %s", cur, name); fail = true; break; }
        int64_t ne[4];
        int nd = 0;
        for (char *s = dims; *s && nd < 4;) {
            while (*s == ' ' || *s == ',') s++;
            if (!*s) break;
            ne[nd++] = strtoll(s, &s, 10);
        }
        bool ok = strcmp(vg_dtype_name(t->dtype), type) == 0 && t->ndim == nd;
        for (int d = 0; ok && d < nd; d++) ok = t->shape[nd - 1 - d] == ne[d];
        if (data_start < 0) data_start = vg_gguf_file_offset(f, i) - off;
        ok = ok && vg_gguf_file_offset(f, i) - off == data_start;
        if (!ok) { snprintf(why, sizeof(why), "%s: %s: %s ndim %d vs listing %s (%s) @%lld", cur, name, vg_dtype_name(t->dtype), t->ndim, type, dims, off); fail = true; }
        n_seen++;
    }
    if (!fail && f && n_seen != vg_gguf_count(f)) { snprintf(why, sizeof(why), "%s: count", cur); fail = true; }
    vg_gguf_close(f);
    fclose(fp);
    CHECKF(!fail, "%s", why);
    CHECKF(n_files == 14, "%lld GGUF files in the listing", (long long)n_files);
}

/* ---- the quantized tiny Wan DiT goldens through the pipeline's loader and `vidgen module dit` ---- */
static const char *bin(void) {
    const char *b = getenv("VIDGEN_BIN");
    return b && *b ? b : "build/vidgen";
}

static double rel_l2(const float *a, const float *b, int64_t n, double *maxabs) {
    double num = 0, den = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
        if (fabs(d) > mx) mx = fabs(d);
    }
    if (maxabs) *maxabs = mx;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* out.y of `vidgen module dit` on weights w (malloc'd copy), NULL on failure (recorded). */
static float *module_dit(const char *w, const char *tag, int threads, int64_t n) {
    char o[700], *log = NULL;
    snprintf(o, sizeof(o), "%s/gguf_dit_%s_t%d.safetensors", vg_test_tmpdir(), tag, threads);
    int rc = vg_test_sh(&log, "%s module dit --weights %s --input %s/wan-goldens/dit_io.safetensors --output %s -t %d",
                        bin(), w, vg_test_shared(), o, threads);
    if (rc != 0) { vg_test_failf(__FILE__, __LINE__, "module dit %s: rc %d: %s", w, rc, log); free(log); return NULL; }
    free(log);
    vg_st_file *f = NULL;
    if (vg_st_open(&f, o)) { vg_test_failf(__FILE__, __LINE__, "%s", vg_last_error()); return NULL; }
    const vg_tensor *t = vg_st_get(f, "out.y");
    float *y = t && t->dtype == VG_DTYPE_F32 && vg_tensor_numel(t) == n ? malloc(sizeof(float) * (size_t)n) : NULL;
    if (y) memcpy(y, t->data, sizeof(float) * (size_t)n);
    else vg_test_failf(__FILE__, __LINE__, "%s: no out.y of %lld floats", o, (long long)n);
    vg_st_close(f);
    return y;
}

/* The stable-diffusion.cpp GGUFs of the tiny DiT (Q8_0, Q4_0): every tensor the loader's view
 * gives (names, unfolded shapes, small tensors dequantized at open) dequantizes bit for bit to
 * ggml's dit_T_deq.safetensors; `vidgen module dit` on the GGUF is bit-identical at 1 and 2
 * threads and close to the same forward on the dequantized f32 weights (the only difference is
 * the int8 quantization of the activations in the products) and to the f32 golden. */
VG_TEST(gguf_module_dit_goldens) {
    char gdir[700], w[800], p[800];
    snprintf(p, sizeof(p), "%s/gguf-goldens/dit_q8_0.gguf", vg_test_shared());
    if (access(p, R_OK) != 0) { printf("skip (no %s)\n", p); return; }
    snprintf(p, sizeof(p), "%s/wan-goldens/dit_weights.safetensors", vg_test_shared());
    vg_st_file *src = NULL;
    CHECK_OK(vg_st_open(&src, p));
    const char *cfg = vg_st_metadata(src, "config");
    if (!cfg) { vg_st_close(src); CHECK(cfg); }
    snprintf(gdir, sizeof(gdir), "%s/gguf_dit", vg_test_tmpdir());
    mkdir(gdir, 0755);
    snprintf(p, sizeof(p), "%s/config.json", gdir); /* the GGUFs carry no config: dim 64 needs num_heads */
    bool ok = write_bytes(p, cfg, strlen(cfg));
    char *cfg_copy = strdup(cfg);
    vg_st_close(src);
    if (!ok || !cfg_copy) { free(cfg_copy); CHECK(false); }
    const int64_t n = 16 * 3 * 4 * 6;
    vg_st_file *io = NULL;
    snprintf(p, sizeof(p), "%s/wan-goldens/dit_io.safetensors", vg_test_shared());
    if (vg_st_open(&io, p)) { free(cfg_copy); CHECK(false); }
    const float *gold = vg_st_get(io, "out.y")->data;
    /* Bounds (relative L2 of out.y). Measured on this Zen 4: Q8_0 7.2e-3 against the f32 forward on
     * the dequantized weights, 1.05e-2 against the golden; Q4_0 7.8e-3 and 1.01e-1. The first is the
     * products' own error: activations are quantized per 32-block to int8, the same scheme as Q8_0
     * weights, so it is about the size of the Q8_0 weight error (the dequantized-weights forward is
     * 7.3e-3 from the golden), and the two independent errors add in quadrature (sqrt(7.2^2 + 7.3^2)
     * = 10.2e-3, measured 10.5e-3). The golden distance of Q4_0 is its weight error (0.100). Bounds:
     * twice the products' error, and about 1.5x the measured golden distance. */
    static const struct { const char *t; double vs_deq, vs_gold; } types[] = {{"q8_0", 1.5e-2, 1.6e-2}, {"q4_0", 1.5e-2, 1.5e-1}};
    for (int k = 0; k < 2; k++) {
        const char *T = types[k].t;
        snprintf(w, sizeof(w), "%s/dit_%s.gguf", gdir, T);
        snprintf(p, sizeof(p), "%s/gguf-goldens/dit_%s.gguf", vg_test_shared(), T);
        unlink(w);
        if (symlink(p, w) != 0) break;
        vg_wan_files *f = NULL;
        vg_st_file *deq = NULL;
        snprintf(p, sizeof(p), "%s/gguf-goldens/dit_%s_deq.safetensors", vg_test_shared(), T);
        if (vg_wan_files_open(&f, w) || vg_st_open(&deq, p)) { vg_wan_files_close(f); break; }
        vg_st_file *v = vg_wan_files_shard(f, 0);
        vg_st_writer *sw = vg_st_writer_new();
        int64_t n_quant = 0, n_bad = 0;
        char bad[300] = "";
        for (int64_t i = 0; i < vg_st_count(v); i++) {
            const vg_tensor *t = vg_st_at(v, i), *d = vg_st_get(deq, vg_st_name(v, i));
            int64_t m = vg_tensor_numel(t);
            float *x = malloc(sizeof(float) * (size_t)m);
            if (!x || !d || vg_tensor_numel(d) != m) { free(x); n_bad++; snprintf(bad, sizeof(bad), "%s", vg_st_name(v, i)); continue; }
            vg_dequant_row(t->dtype, t->data, x, m);
            if (memcmp(x, d->data, sizeof(float) * (size_t)m) != 0) { n_bad++; snprintf(bad, sizeof(bad), "%s differs", vg_st_name(v, i)); }
            n_quant += vg_dtype_is_quant(t->dtype);
            vg_st_writer_add(sw, vg_st_name(v, i), VG_DTYPE_F32, t->ndim, t->shape, x);
            free(x);
        }
        const vg_tensor *pe = vg_st_get(v, "model.diffusion_model.patch_embedding.weight");
        const vg_tensor *mo = vg_st_get(v, "model.diffusion_model.blocks.0.modulation");
        bool shapes = pe && pe->ndim == 5 && pe->shape[0] == 64 && pe->shape[1] == 16 && mo && mo->ndim == 3 && mo->shape[1] == 6;
        snprintf(p, sizeof(p), "%s/deq_%s.safetensors", vg_test_tmpdir(), T);
        vg_st_writer_meta(sw, "config", cfg_copy);
        vg_status st = vg_st_writer_save(sw, p);
        vg_st_writer_free(sw);
        vg_wan_files_close(f);
        vg_st_close(deq);
        if (st || n_bad || !shapes || n_quant < 20) {
            free(cfg_copy); vg_st_close(io);
            CHECKF(false, "%s: %lld tensors differ from ggml's dequantization (%s); shapes ok %d; %lld quantized matrices kept",
                   T, (long long)n_bad, bad, shapes, (long long)n_quant);
        }
        float *y1 = module_dit(w, T, 1, n), *y2 = module_dit(w, T, 2, n), *yd = module_dit(p, "deq", 1, n);
        bool same = y1 && y2 && memcmp(y1, y2, sizeof(float) * (size_t)n) == 0;
        double mx1 = 0, mx2 = 0, mx3 = 0, e_deq = y1 && yd ? rel_l2(y1, yd, n, &mx1) : 1, e_gold = y1 ? rel_l2(y1, gold, n, &mx2) : 1;
        double e_w = yd ? rel_l2(yd, gold, n, &mx3) : 1;
        printf("  %s: rel L2 vs the f32 forward on the dequantized weights %.3g (max abs %.3g), vs the f32 golden %.3g "
               "(max abs %.3g); dequantized-weights forward vs golden %.3g (max abs %.3g)\n", T, e_deq, mx1, e_gold, mx2, e_w, mx3);
        free(y1); free(y2); free(yd);
        if (!same || e_deq > types[k].vs_deq || e_gold > types[k].vs_gold) {
            free(cfg_copy); vg_st_close(io);
            CHECKF(false, "%s: 1 vs 2 threads identical %d; rel L2 %.3g vs deq (bound %.3g), %.3g vs golden (bound %.3g)", T,
                   same, e_deq, types[k].vs_deq, e_gold, types[k].vs_gold);
        }
    }
    free(cfg_copy);
    vg_st_close(io);
}

/* ---- vidgen convert ---------------------------------------------------------------------- */

/* `vidgen convert` of quant_src.safetensors to every quantized type (a rule quantizes every
 * tensor, as sd.cpp did). With the library's ggml-path quantizer (vg_quant_row_imatrix, the one
 * sd.cpp's convert runs) every type must give ggml's bytes (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F16, BF16
 * exactly; a K-quant tensor that differs may not have a larger error than ggml's). With only the
 * plain reference quantizer (quantize_row_*_ref) Q8_0/F16/BF16 must match and the others may be at
 * most 1.5x ggml's rel L2 error (measured on this Zen 4: Q4_1 1.43x, Q5_1 1.13x, Q2_K 1.11x,
 * Q4_0/Q5_0 1.10x, Q3_K..Q6_K 1.02-1.06x: ggml's convert searches the scales). */
VG_TEST(gguf_convert_matches_ggml_quantizer) {
    char src[700], gold[700], out[700], *log = NULL;
    snprintf(src, sizeof(src), "%s/gguf-goldens/quant_src.safetensors", vg_test_shared());
    if (access(src, R_OK) != 0) { printf("skip (no %s)\n", src); return; }
    static const char *types[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "f16", "bf16"};
    vg_st_file *s = NULL;
    CHECK_OK(vg_st_open(&s, src));
    for (int k = 0; k < 12; k++) {
        snprintf(out, sizeof(out), "%s/conv_%s.gguf", vg_test_tmpdir(), types[k]);
        snprintf(gold, sizeof(gold), "%s/gguf-goldens/quant_%s.gguf", vg_test_shared(), types[k]);
        int rc = vg_test_sh(&log, "%s convert %s --out %s --type %s --layout sdcpp --tensor-type-rules '.*=%s'", bin(), src, out,
                            types[k], types[k]);
        if (rc != 0) { vg_st_close(s); CHECKF(false, "convert %s: rc %d: %s", types[k], rc, log); }
        vg_gguf *a = NULL, *b = NULL;
        if (vg_gguf_open(&a, out) || vg_gguf_open(&b, gold)) { vg_gguf_close(a); vg_st_close(s); CHECKF(false, "%s", vg_last_error()); }
        bool imat = strstr(log ? log : "", "quantizer ggml (") != NULL;
        bool exact = k == 0 || k >= 10 || (imat && k < 5);
        double slack = imat ? 1.0 + 1e-9 : 1.5;
        int n_diff = 0;
        char why[300] = "";
        for (int64_t i = 0; i < vg_gguf_count(b); i++) {
            const char *nm = vg_gguf_name(b, i);
            const vg_tensor *tb = vg_gguf_at(b, i), *ta = vg_gguf_get(a, nm), *ts = vg_st_get(s, nm);
            int64_t n = vg_tensor_numel(tb), rb = vg_dtype_row_bytes(tb->dtype, n);
            if (!ta || !ts || ta->dtype != tb->dtype || vg_tensor_numel(ta) != n) { n_diff = 1000; snprintf(why, sizeof(why), "%s missing or typed differently", nm); break; }
            if (memcmp(ta->data, tb->data, (size_t)rb) == 0) continue;
            n_diff++;
            float *da = malloc(sizeof(float) * (size_t)n), *db = malloc(sizeof(float) * (size_t)n);
            if (da && db) {
                vg_dequant_row(ta->dtype, ta->data, da, n);
                vg_dequant_row(tb->dtype, tb->data, db, n);
                double ea = rel_l2(da, ts->data, n, NULL), eb = rel_l2(db, ts->data, n, NULL);
                printf("  %s %s: bytes differ from ggml's; rel L2 error vs source %.5g (ggml %.5g)\n", types[k], nm, ea, eb);
                if (exact || ea > eb * slack) snprintf(why, sizeof(why), "%s: error %.5g vs ggml %.5g", nm, ea, eb);
            }
            free(da); free(db);
        }
        vg_gguf_close(a);
        vg_gguf_close(b);
        free(log);
        log = NULL;
        if (why[0] || (exact && n_diff)) { vg_st_close(s); CHECKF(false, "%s: %d tensors differ (%s)", types[k], n_diff, why); }
    }
    vg_st_close(s);
}

/* The tiny DiT converted to Q8_0 in both layouts: the comfy file (no prefix, patch embedding
 * flattened with comfy.gguf.orig_shape) and the sdcpp one (prefix, folded patch embedding, 2-D
 * modulations) give bit-identical `module dit` outputs, within the golden-file bound of the f32
 * golden; the config metadata travels into the GGUF so no config.json is needed. */
VG_TEST(gguf_convert_dit_layouts) {
    char src[700], out[2][700], *log = NULL;
    snprintf(src, sizeof(src), "%s/wan-goldens/dit_weights.safetensors", vg_test_shared());
    if (access(src, R_OK) != 0) { printf("skip (no %s)\n", src); return; }
    const char *lay[2] = {"comfy", "sdcpp"};
    const int64_t n = 16 * 3 * 4 * 6;
    float *y[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        snprintf(out[k], sizeof(out[k]), "%s/conv_dit_%s.gguf", vg_test_tmpdir(), lay[k]);
        int rc = vg_test_sh(&log, "%s convert %s --out %s --type q8_0 --layout %s", bin(), src, out[k], lay[k]);
        CHECKF(rc == 0, "convert: rc %d: %s", rc, log);
        free(log);
        log = NULL;
        vg_gguf *g = NULL;
        CHECK_OK(vg_gguf_open(&g, out[k]));
        const char *pe = k ? "model.diffusion_model.patch_embedding.weight" : "patch_embedding.weight";
        const vg_tensor *t = vg_gguf_get(g, pe), *q = vg_gguf_get(g, k ? "model.diffusion_model.blocks.0.ffn.0.weight" : "blocks.0.ffn.0.weight");
        int64_t orig[8];
        bool ok = t && q && q->dtype == VG_DTYPE_Q8_0 && vg_gguf_get_str(g, "config") &&
                  (k ? t->ndim == 4 && t->shape[0] == 1024 : t->ndim == 2 && vg_gguf_get_ints(g, "comfy.gguf.orig_shape.patch_embedding.weight", orig, 8) == 5 && orig[1] == 16);
        vg_gguf_close(g);
        CHECKF(ok, "%s: layout of %s", lay[k], out[k]);
        y[k] = module_dit(out[k], lay[k], 1, n);
        if (!y[k]) { free(y[0]); return; }
    }
    vg_st_file *io = NULL;
    snprintf(src, sizeof(src), "%s/wan-goldens/dit_io.safetensors", vg_test_shared());
    bool same = memcmp(y[0], y[1], sizeof(float) * (size_t)n) == 0;
    double e = 1;
    if (vg_st_open(&io, src) == VG_OK) e = rel_l2(y[0], vg_st_get(io, "out.y")->data, n, NULL);
    vg_st_close(io);
    free(y[0]);
    free(y[1]);
    printf("  converted Q8_0 DiT: rel L2 vs the f32 golden %.3g\n", e);
    CHECKF(same && e < 1.6e-2, "layouts identical %d, rel L2 %.3g", same, e);
}

/* The tiny umT5 written in llama.cpp's names (comfy layout), its matrices and token embedding
 * quantized to Q8_0 by rules, runs through `vidgen module t5` close to the f32 golden. */
VG_TEST(gguf_convert_t5_llama_names) {
    char src[700], out[700], o[700], io[700], *log = NULL;
    snprintf(src, sizeof(src), "%s/wan-goldens/t5_weights.safetensors", vg_test_shared());
    if (access(src, R_OK) != 0) { printf("skip (no %s)\n", src); return; }
    snprintf(out, sizeof(out), "%s/conv_t5.gguf", vg_test_tmpdir());
    int rc = vg_test_sh(&log, "%s convert %s --out %s --type q8_0 --tensor-type-rules 'attn_[qkvo]|ffn_|token_embd=q8_0'", bin(), src, out);
    CHECKF(rc == 0, "convert: rc %d: %s", rc, log);
    free(log);
    vg_gguf *g = NULL;
    CHECK_OK(vg_gguf_open(&g, out));
    const vg_tensor *e = vg_gguf_get(g, "token_embd.weight"), *q = vg_gguf_get(g, "enc.blk.1.ffn_gate.weight");
    bool names = e && e->dtype == VG_DTYPE_Q8_0 && q && q->dtype == VG_DTYPE_Q8_0 && vg_gguf_get(g, "enc.output_norm.weight") &&
                 vg_gguf_get(g, "enc.blk.0.attn_rel_b.weight") && vg_gguf_get(g, "enc.blk.1.ffn_norm.weight");
    vg_gguf_close(g);
    CHECK(names);
    snprintf(io, sizeof(io), "%s/wan-goldens/t5_io.safetensors", vg_test_shared());
    snprintf(o, sizeof(o), "%s/conv_t5_out.safetensors", vg_test_tmpdir());
    rc = vg_test_sh(&log, "%s module t5 --weights %s --input %s --output %s -t 1", bin(), out, io, o);
    CHECKF(rc == 0, "module t5: rc %d: %s", rc, log);
    free(log);
    vg_st_file *a = NULL, *b = NULL;
    CHECK_OK(vg_st_open(&a, o));
    if (vg_st_open(&b, io)) { vg_st_close(a); CHECK(false); }
    const vg_tensor *ta = vg_st_get(a, "out.context"), *tb = vg_st_get(b, "out.context");
    double err = ta && tb && vg_tensor_numel(ta) == vg_tensor_numel(tb) ? rel_l2(ta->data, tb->data, vg_tensor_numel(tb), NULL) : 1;
    vg_st_close(a);
    vg_st_close(b);
    /* measured 2.7e-2. This 32-wide encoder magnifies weight rounding: Q8_0 on the token embedding
     * alone (a table lookup: no activation quantization) already gives 1.4e-2, the matrices alone
     * 1.8e-2; they add about in quadrature. Bound 4e-2. */
    printf("  Q8_0 umT5 (llama.cpp names): out.context rel L2 vs the f32 golden %.3g\n", err);
    CHECKF(err < 4e-2, "rel L2 %.3g", err);
}

/* A malformed GGUF given to the command line: exit 1 and one error line naming the file. */
VG_TEST(gguf_cli_malformed_file) {
    bb *b = malloc(sizeof(bb));
    CHECK(b);
    build_bad(b, "type_iq4_xs");
    char p[700], *log = NULL;
    tpath(p, sizeof(p), "cli_bad.gguf");
    bool ok = write_bytes(p, b->p, b->n);
    free(b);
    CHECK(ok);
    const char *cmds[2] = {"module dit --weights %s --input %s/wan-goldens/dit_io.safetensors --output y.safetensors",
                           "convert %s --out %s.out.gguf --type q8_0"};
    for (int k = 0; k < 2; k++) {
        char cmd[2000];
        if (k == 0) snprintf(cmd, sizeof(cmd), cmds[k], p, vg_test_shared());
        else snprintf(cmd, sizeof(cmd), cmds[k], p, p);
        int rc = vg_test_sh(&log, "%s %s", bin(), cmd);
        int lines = 0;
        for (const char *s = log; s && *s; s++) lines += *s == '\n';
        bool good = rc == 1 && log && strncmp(log, "vidgen: error: ", 15) == 0 && strstr(log, "cli_bad.gguf") &&
                    strstr(log, "IQ4_XS") && lines == 1;
        if (!good) { CHECKF(false, "%s: rc %d, output: %s", cmd, rc, log ? log : ""); }
        free(log);
        log = NULL;
    }
}

/* ---- --type on a generate run ------------------------------------------------------------ */

/* `--type q8_0` on the tiny random f16 Wan set quantizes the DiT's matrices at load: the frames are
 * bit-identical to a run on the same DiT converted to a Q8_0 GGUF by `vidgen convert` (the same
 * matrices quantized by the same quantizer, vectors f32 in both), the frames differ from the f16
 * run, and the --dry-run estimate of the DiT weights drops. */
VG_TEST(gguf_generate_type_q8_0_matches_converted_gguf) {
    char dir[600], *log = NULL;
    snprintf(dir, sizeof(dir), "%s/gguf_wan", vg_test_tmpdir());
    vg_wan_random_opts o;
    vg_wan_random_opts_default(&o);
    o.dit.dim = 32; o.dit.ffn_dim = 64; o.dit.heads = 2; o.dit.layers = 2; o.dit.text_dim = 32;
    o.t5 = (vg_t5_config){.vocab = 64, .dim = 32, .dim_attn = 32, .ffn = 48, .heads = 4, .layers = 2, .buckets = 32,
                          .max_dist = 128, .shared_pos = false, .eps = 1e-6f};
    o.vae.dim = 8;
    o.seed = 5;
    CHECK_OK(vg_wan_write_random(dir, &o));
    char dit[700], t5[700], vae[700], gg[700];
    snprintf(dit, sizeof(dit), "%s/wan2.1_t2v_1.3B_fp16.safetensors", dir);
    snprintf(t5, sizeof(t5), "%s/umt5_xxl_fp16.safetensors", dir);
    snprintf(vae, sizeof(vae), "%s/wan_2.1_vae.safetensors", dir);
    snprintf(gg, sizeof(gg), "%s/dit_q8_0.gguf", vg_test_tmpdir());
    int rc = vg_test_sh(&log, "%s convert %s --out %s --type q8_0 --tensor-type-rules "
                        "'patch_embedding\\.weight=f16,(\\.(q|k|v|o)|ffn\\.[02]|embedding\\.[02]|projection\\.1|head\\.head)\\.weight$=q8_0'",
                        bin(), dit, gg); /* the patch embedding stays f16 as --type leaves it (a 5-D weight) */
    CHECKF(rc == 0, "convert: rc %d: %s", rc, log);
    free(log);
    /* the GGUF run takes --type too: it leaves the already-quantized DiT alone and quantizes the
     * text encoder block by block as the first run does */
    const char *runs[3][2] = {{"st_type", "--type q8_0"}, {"gguf", "--type q8_0"}, {"f16", ""}};
    for (int k = 0; k < 3; k++) {
        rc = vg_test_sh(&log, "%s --diffusion-model %s --text-encoder %s --vae %s -p 'a red ball on the cat' --frames 5 -W 32 -H 16 "
                        "--steps 2 --seed 3 -q -t 1 %s --out %s/gen_%s", bin(), k == 1 ? gg : dit, t5, vae, runs[k][1],
                        vg_test_tmpdir(), runs[k][0]);
        CHECKF(rc == 0, "%s: rc %d: %s", runs[k][0], rc, log);
        free(log);
    }
    int n_same = 0, n_f16 = 0, max_d = 0;
    for (int f = 1; f <= 5; f++) { /* frames are numbered from 1 */
        char pa[800], pb[800], pc[800];
        snprintf(pa, sizeof(pa), "%s/gen_st_type/frame_%04d.png", vg_test_tmpdir(), f);
        snprintf(pb, sizeof(pb), "%s/gen_gguf/frame_%04d.png", vg_test_tmpdir(), f);
        snprintf(pc, sizeof(pc), "%s/gen_f16/frame_%04d.png", vg_test_tmpdir(), f);
        uint8_t *x = NULL, *y = NULL, *z = NULL;
        int w1, h1, w2, h2, w3, h3;
        if (vg_png_read(pa, &x, &w1, &h1) == VG_OK && vg_png_read(pb, &y, &w2, &h2) == VG_OK && vg_png_read(pc, &z, &w3, &h3) == VG_OK &&
            w1 == w2 && h1 == h2 && w1 == w3 && h1 == h3) {
            n_same += memcmp(x, y, (size_t)w1 * h1 * 3) == 0;
            n_f16 += memcmp(x, z, (size_t)w1 * h1 * 3) == 0;
            for (int64_t i = 0; i < (int64_t)w1 * h1 * 3; i++) {
                int dd = abs((int)x[i] - (int)y[i]);
                if (dd > max_d) max_d = dd;
            }
        }
        free(x); free(y); free(z);
    }
    printf("  --type q8_0 vs the converted GGUF: %d of 5 frames identical, max pixel difference %d; %d of 5 equal to f16\n",
           n_same, max_d, n_f16);
    CHECKF(n_same == 5 && max_d == 0 && n_f16 < 5, "frames: %d of 5 equal to the GGUF run (max diff %d), %d of 5 equal to the f16 run",
           n_same, max_d, n_f16);
    /* the estimate knows the quantized size */
    vg_wan_paths paths = {dit, t5, vae, NULL, NULL};
    vg_wan_params p;
    vg_wan_params_default(&p);
    p.frames = 5; p.width = 32; p.height = 16;
    vg_wan_mem m0, m1;
    CHECK_OK(vg_wan_estimate(&m0, &paths, &p));
    p.weight_type = VG_DTYPE_Q8_0;
    CHECK_OK(vg_wan_estimate(&m1, &paths, &p));
    CHECKF(m1.dit_weights < m0.dit_weights, "DiT weights estimate %lld bytes with Q8_0, %lld without", (long long)m1.dit_weights,
           (long long)m0.dit_weights);
}
