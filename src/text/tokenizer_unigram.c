/* tokenizer_unigram.c - SentencePiece unigram tokenizer (umT5) and Wan's prompt cleaning.
 * Reference: SentencePiece (normalizer: precompiled charsmap in a darts-clone double-array
 * trie + whitespace rules; unigram model: Viterbi over piece scores), the ModelProto wire
 * format (sentencepiece_model.proto), HF tokenizer.json "Unigram"; Wan2.1
 * wan/modules/tokenizers.py (clean='whitespace'). Text is UTF-8 bytes throughout;
 * "▁" (U+2581, E2 96 81) marks a space. Legend: L text bytes, P pieces. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "vidgen/io.h"
#include "vidgen/safetensors.h"
#include "vidgen/tokenizer.h"

enum { PT_NORMAL = 1, PT_UNKNOWN = 2, PT_CONTROL = 3, PT_USER = 4, PT_UNUSED = 5, PT_BYTE = 6 };
#define WS "\xe2\x96\x81"

typedef struct { char *s; uint32_t len; float score; int type; } piece;

struct vg_spm {
    piece *pieces;
    int64_t n;
    int32_t unk_id;
    bool byte_fallback, add_dummy_prefix, remove_extra_ws, escape_ws;
    float min_score, max_score;
    int32_t byte_id[256];      /* id of "<0xXX>", -1 when absent */
    uint32_t max_len;          /* longest matchable piece, bytes */
    int32_t *hash;             /* open addressing, piece ids, -1 empty */
    uint64_t hcap;
    uint8_t *charsmap;         /* precompiled charsmap blob (may be NULL) */
    size_t charsmap_n;
    const uint32_t *trie;      /* into charsmap */
    size_t trie_n;
    const char *norm_str;      /* into charsmap */
    size_t norm_n;
};

/* ------------------------------------------------------------------------------------ */
/* construction helpers */

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int32_t lookup(const vg_spm *t, const char *s, size_t n) {
    for (uint64_t h = fnv(s, n) & (t->hcap - 1);; h = (h + 1) & (t->hcap - 1)) {
        int32_t id = t->hash[h];
        if (id < 0) return -1;
        if (t->pieces[id].len == n && memcmp(t->pieces[id].s, s, n) == 0) return id;
    }
}

void vg_spm_free(vg_spm *t) {
    if (!t) return;
    for (int64_t i = 0; i < t->n; i++) free(t->pieces[i].s);
    free(t->pieces);
    free(t->hash);
    free(t->charsmap);
    free(t);
}

static vg_spm *spm_alloc(void) {
    vg_spm *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->unk_id = 0;
    t->add_dummy_prefix = t->remove_extra_ws = t->escape_ws = true;
    return t;
}

static vg_status add_piece(vg_spm *t, int64_t *cap, const char *s, size_t len, float score, int type) {
    if (t->n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 1024;
        piece *p = realloc(t->pieces, (size_t)nc * sizeof(*p));
        if (!p) return vg_fail(VG_ERR_OOM, "spm: %lld pieces", (long long)nc);
        t->pieces = p;
        *cap = nc;
    }
    if (len > 1u << 20) return vg_fail(VG_ERR_FORMAT, "spm: piece %lld is %zu bytes long", (long long)t->n, len);
    char *c = malloc(len + 1);
    if (!c) return vg_fail(VG_ERR_OOM, "spm: piece");
    memcpy(c, s, len);
    c[len] = 0;
    t->pieces[t->n++] = (piece){c, (uint32_t)len, score, type};
    return VG_OK;
}

/* Sets up the charsmap views: u32 trie size in bytes, the trie, then NUL-separated strings. */
static vg_status set_charsmap(vg_spm *t, const uint8_t *blob, size_t n) {
    if (n == 0) return VG_OK;
    if (n < 4) return vg_fail(VG_ERR_FORMAT, "spm: precompiled charsmap of %zu bytes", n);
    uint32_t ts = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    if (ts % 4 != 0 || (size_t)ts > n - 4 || ts == 0)
        return vg_fail(VG_ERR_FORMAT, "spm: charsmap trie size %u, blob %zu bytes", ts, n);
    /* a second charsmap field replaces the first (protobuf: the last one wins) */
    free(t->charsmap);
    t->trie = NULL; t->trie_n = 0; t->norm_str = NULL; t->norm_n = 0; t->charsmap_n = 0;
    /* copy to aligned memory; 4 bytes of padding keep the string region NUL-terminated */
    t->charsmap = calloc(1, n + 8);
    if (!t->charsmap) return vg_fail(VG_ERR_OOM, "spm: charsmap");
    memcpy(t->charsmap, blob, n);
    t->charsmap_n = n;
    t->trie = (const uint32_t *)(void *)(t->charsmap + 4); /* calloc'd memory: +4 is 4-aligned */
    t->trie_n = ts / 4;
    t->norm_str = (const char *)t->charsmap + 4 + ts;
    t->norm_n = n - 4 - ts;
    return VG_OK;
}

/* Index, scores and byte pieces once every piece is in. */
static vg_status finish(vg_spm *t) {
    if (t->n < 1) return vg_fail(VG_ERR_FORMAT, "spm: no pieces");
    if (t->unk_id < 0 || t->unk_id >= t->n) return vg_fail(VG_ERR_FORMAT, "spm: unk_id %d of %lld pieces", t->unk_id, (long long)t->n);
    t->hcap = 16;
    while (t->hcap < (uint64_t)t->n * 2) t->hcap *= 2;
    t->hash = malloc(t->hcap * sizeof(int32_t));
    if (!t->hash) return vg_fail(VG_ERR_OOM, "spm: index");
    memset(t->hash, 0xff, t->hcap * sizeof(int32_t));
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    t->min_score = 1e30f;
    t->max_score = -1e30f;
    for (int64_t i = 0; i < t->n; i++) {
        piece *p = &t->pieces[i];
        if (p->type == PT_BYTE) {
            unsigned v;
            if (p->len == 6 && sscanf(p->s, "<0x%2X>", &v) == 1) t->byte_id[v & 255] = (int32_t)i;
            continue;
        }
        if (p->type == PT_NORMAL) {
            if (p->score < t->min_score) t->min_score = p->score;
            if (p->score > t->max_score) t->max_score = p->score;
        }
        if (p->type != PT_NORMAL && p->type != PT_USER && p->type != PT_UNUSED) continue;
        if (p->len == 0) continue;
        if (lookup(t, p->s, p->len) >= 0) continue; /* first one wins */
        uint64_t h = fnv(p->s, p->len) & (t->hcap - 1);
        while (t->hash[h] >= 0) h = (h + 1) & (t->hcap - 1);
        t->hash[h] = (int32_t)i;
        if (p->len > t->max_len) t->max_len = p->len;
    }
    if (t->min_score > t->max_score) t->min_score = t->max_score = 0;
    t->pieces[t->unk_id].type = PT_UNKNOWN;
    return VG_OK;
}

/* ------------------------------------------------------------------------------------ */
/* protobuf (wire format: varint 0, fixed64 1, length-delimited 2, fixed32 5) */

typedef struct { const uint8_t *p, *end; bool bad; } pb;

static uint64_t pb_varint(pb *r) {
    uint64_t v = 0;
    for (int s = 0; s < 70; s += 7) {
        if (r->p >= r->end) { r->bad = true; return 0; }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) return v;
    }
    r->bad = true;
    return 0;
}

/* Reads one field header and its value; for wire type 2, *sub is the payload. */
static bool pb_next(pb *r, uint32_t *field, int *wire, uint64_t *val, pb *sub) {
    if (r->p >= r->end || r->bad) return false;
    uint64_t key = pb_varint(r);
    *field = (uint32_t)(key >> 3);
    *wire = (int)(key & 7);
    switch (*wire) {
    case 0: *val = pb_varint(r); break;
    case 1: if (r->end - r->p < 8) { r->bad = true; return false; }
        memcpy(val, r->p, 8); r->p += 8; break;
    case 5: { if (r->end - r->p < 4) { r->bad = true; return false; }
        uint32_t u; memcpy(&u, r->p, 4); r->p += 4; *val = u; break; }
    case 2: { uint64_t n = pb_varint(r);
        if (r->bad || n > (uint64_t)(r->end - r->p)) { r->bad = true; return false; }
        sub->p = r->p; sub->end = r->p + n; sub->bad = false; r->p += n; *val = n; break; }
    default: r->bad = true; return false;
    }
    return !r->bad;
}

vg_status vg_spm_from_proto(vg_spm **out, const void *data, size_t n) {
    *out = NULL;
    vg_spm *t = spm_alloc();
    if (!t) return vg_fail(VG_ERR_OOM, "spm");
    vg_status st = VG_OK;
    int64_t cap = 0, model_type = 1;
    bool suffix = false;
    pb r = {data, (const uint8_t *)data + n, false}, sub;
    uint32_t f;
    int w;
    uint64_t v;
    while (pb_next(&r, &f, &w, &v, &sub)) {
        if (f == 1 && w == 2) { /* SentencePiece */
            const char *s = NULL;
            size_t len = 0;
            float score = 0;
            int type = PT_NORMAL;
            pb q = sub, s2;
            uint32_t f2;
            int w2;
            uint64_t v2;
            while (pb_next(&q, &f2, &w2, &v2, &s2)) {
                if (f2 == 1 && w2 == 2) { s = (const char *)s2.p; len = (size_t)v2; }
                else if (f2 == 2 && w2 == 5) { uint32_t u = (uint32_t)v2; memcpy(&score, &u, 4); }
                else if (f2 == 3 && w2 == 0) type = (int)v2;
            }
            if (q.bad || !s) { st = vg_fail(VG_ERR_FORMAT, "spiece.model: piece %lld malformed", (long long)t->n); goto fail; }
            if ((st = add_piece(t, &cap, s, len, score, type))) goto fail;
        } else if (f == 2 && w == 2) { /* TrainerSpec */
            pb q = sub, s2;
            uint32_t f2;
            int w2;
            uint64_t v2;
            while (pb_next(&q, &f2, &w2, &v2, &s2)) {
                if (w2 != 0) continue;
                if (f2 == 3) model_type = (int64_t)v2;
                else if (f2 == 35) t->byte_fallback = v2 != 0;
                else if (f2 == 40) t->unk_id = (int32_t)v2;
                else if (f2 == 24) suffix = v2 != 0;
            }
            if (q.bad) { st = vg_fail(VG_ERR_FORMAT, "spiece.model: trainer_spec malformed"); goto fail; }
        } else if (f == 3 && w == 2) { /* NormalizerSpec */
            pb q = sub, s2;
            uint32_t f2;
            int w2;
            uint64_t v2;
            while (pb_next(&q, &f2, &w2, &v2, &s2)) {
                if (f2 == 2 && w2 == 2) { if ((st = set_charsmap(t, s2.p, (size_t)v2))) goto fail; }
                else if (f2 == 3 && w2 == 0) t->add_dummy_prefix = v2 != 0;
                else if (f2 == 4 && w2 == 0) t->remove_extra_ws = v2 != 0;
                else if (f2 == 5 && w2 == 0) t->escape_ws = v2 != 0;
            }
            if (q.bad) { st = vg_fail(VG_ERR_FORMAT, "spiece.model: normalizer_spec malformed"); goto fail; }
        }
    }
    if (r.bad) { st = vg_fail(VG_ERR_FORMAT, "spiece.model: malformed protobuf near byte %td", r.p - (const uint8_t *)data); goto fail; }
    if (model_type != 1) { st = vg_fail(VG_ERR_FORMAT, "spiece.model: model_type %lld, expected 1 (UNIGRAM)", (long long)model_type); goto fail; }
    if (suffix) { st = vg_fail(VG_ERR_UNSUPPORTED, "spiece.model: treat_whitespace_as_suffix is not supported"); goto fail; }
    if ((st = finish(t))) goto fail;
    *out = t;
    return VG_OK;
fail:
    vg_spm_free(t);
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* tokenizer.json */

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

static uint8_t *b64decode(const char *s, size_t *n) {
    size_t L = strlen(s), o = 0;
    uint8_t *out = malloc(L / 4 * 3 + 4);
    if (!out) return NULL;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < L; i++) {
        if (s[i] == '=' || s[i] == '\n' || s[i] == '\r') continue;
        int v = b64val((unsigned char)s[i]);
        if (v < 0) { free(out); return NULL; }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; out[o++] = (uint8_t)(acc >> bits); }
    }
    *n = o;
    return out;
}

/* Finds the first {"type": "Precompiled"} object under node (Sequence normalizers). */
static const cJSON *find_precompiled(const cJSON *node) {
    if (!node) return NULL;
    if (cJSON_IsObject(node)) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(node, "type");
        if (cJSON_IsString(ty) && strcmp(ty->valuestring, "Precompiled") == 0) return node;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, node) {
        if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
            const cJSON *r = find_precompiled(c);
            if (r) return r;
        }
    }
    return NULL;
}

vg_status vg_spm_from_tokenizer_json(vg_spm **out, const char *json) {
    *out = NULL;
    vg_status st = VG_OK;
    vg_spm *t = spm_alloc();
    cJSON *root = cJSON_Parse(json);
    int64_t cap = 0;
    if (!t) { st = vg_fail(VG_ERR_OOM, "tokenizer.json"); goto fail; }
    const cJSON *model = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "model") : NULL;
    const cJSON *ty = model ? cJSON_GetObjectItemCaseSensitive(model, "type") : NULL;
    if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "Unigram") != 0) {
        st = vg_fail(VG_ERR_FORMAT, "tokenizer.json: expected an object with model.type \"Unigram\"");
        goto fail;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_id");
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(model, "byte_fallback");
    if (!cJSON_IsArray(vocab)) { st = vg_fail(VG_ERR_FORMAT, "tokenizer.json: model.vocab is not an array"); goto fail; }
    if (cJSON_IsNumber(unk)) t->unk_id = (int32_t)unk->valuedouble;
    t->byte_fallback = cJSON_IsTrue(bf);
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        const cJSON *ps = cJSON_GetArrayItem(e, 0), *sc = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || !cJSON_IsString(ps) || !cJSON_IsNumber(sc)) {
            st = vg_fail(VG_ERR_FORMAT, "tokenizer.json: vocab entry %lld is not [piece, score]", (long long)t->n);
            goto fail;
        }
        int type = PT_NORMAL;
        unsigned bv;
        size_t len = strlen(ps->valuestring);
        if (t->byte_fallback && len == 6 && sscanf(ps->valuestring, "<0x%2X>", &bv) == 1) type = PT_BYTE;
        if ((st = add_piece(t, &cap, ps->valuestring, len, (float)sc->valuedouble, type))) goto fail;
    }
    /* special tokens (<pad>, </s>, ...) are control pieces: never matched inside text */
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id"), *sp = cJSON_GetObjectItemCaseSensitive(e, "special");
        if (cJSON_IsNumber(id) && cJSON_IsTrue(sp) && id->valuedouble >= 0 && id->valuedouble < (double)t->n)
            t->pieces[(int64_t)id->valuedouble].type = PT_CONTROL;
    }
    const cJSON *pc = find_precompiled(cJSON_GetObjectItemCaseSensitive(root, "normalizer"));
    const cJSON *cm = pc ? cJSON_GetObjectItemCaseSensitive(pc, "precompiled_charsmap") : NULL;
    if (cJSON_IsString(cm)) {
        size_t n;
        uint8_t *blob = b64decode(cm->valuestring, &n);
        if (!blob) { st = vg_fail(VG_ERR_FORMAT, "tokenizer.json: precompiled_charsmap is not base64"); goto fail; }
        st = set_charsmap(t, blob, n);
        free(blob);
        if (st) goto fail;
    }
    /* Metaspace: prepend_scheme "never" / add_prefix_space false turn the dummy prefix off */
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (cJSON_IsObject(pt)) {
        const cJSON *aps = cJSON_GetObjectItemCaseSensitive(pt, "add_prefix_space");
        const cJSON *sch = cJSON_GetObjectItemCaseSensitive(pt, "prepend_scheme");
        if (cJSON_IsFalse(aps) || (cJSON_IsString(sch) && strcmp(sch->valuestring, "never") == 0))
            t->add_dummy_prefix = false;
    }
    if ((st = finish(t))) goto fail;
    cJSON_Delete(root);
    *out = t;
    return VG_OK;
fail:
    cJSON_Delete(root);
    vg_spm_free(t);
    return st;
}

vg_status vg_spm_load(vg_spm **out, const char *path) {
    *out = NULL;
    char *data = NULL;
    size_t n = 0;
    vg_status st = vg_file_read(path, &data, &n);
    if (st) return st;
    size_t i = 0;
    while (i < n && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r')) i++;
    uint64_t hl = 0;
    if (n >= 9) memcpy(&hl, data, 8);
    if (n >= 9 && hl > 0 && hl <= n - 8 && data[8] == '{') { /* safetensors */
        free(data);
        vg_st_file *f = NULL;
        if ((st = vg_st_open(&f, path))) return st;
        const vg_tensor *sp = vg_st_get(f, "spiece_model");
        if (!sp || sp->dtype != VG_DTYPE_U8 || sp->ndim != 1) st = vg_fail(VG_ERR_FORMAT, "%s: no 1-D U8 tensor 'spiece_model'", path);
        else st = vg_spm_from_proto(out, sp->data, (size_t)sp->shape[0]);
        vg_st_close(f);
        return st;
    }
    if (i < n && data[i] == '{') st = vg_spm_from_tokenizer_json(out, data);
    else st = vg_spm_from_proto(out, data, n);
    free(data);
    return st;
}

int64_t vg_spm_size(const vg_spm *t) { return t->n; }
const char *vg_spm_piece(const vg_spm *t, int32_t id) { return id >= 0 && id < t->n ? t->pieces[id].s : NULL; }
int32_t vg_spm_unk_id(const vg_spm *t) { return t->unk_id; }
bool vg_spm_byte_fallback(const vg_spm *t) { return t->byte_fallback; }

/* ------------------------------------------------------------------------------------ */
/* normalisation */

static size_t utf8_len(const unsigned char *s, size_t avail) {
    size_t n = *s < 0x80 ? 1 : (*s >> 5) == 6 ? 2 : (*s >> 4) == 14 ? 3 : (*s >> 3) == 30 ? 4 : 0;
    if (n == 0 || n > avail) return 0;
    for (size_t i = 1; i < n; i++) if ((s[i] & 0xc0) != 0x80) return 0;
    return n;
}

/* Longest charsmap match at s: returns the consumed length (0 if none) and the replacement. */
static size_t charsmap_match(const vg_spm *t, const unsigned char *s, size_t n, const char **rep) {
    if (!t->trie) return 0;
    const uint32_t *a = t->trie;
    size_t best = 0;
    uint32_t unit = a[0], pos = 0;
#define OFFSET(u) (((u) >> 10) << (((u) & (1u << 9)) >> 6))
    pos ^= OFFSET(unit);
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= t->trie_n) break;
        unit = a[pos];
        if ((unit & ((1u << 31) | 0xff)) != s[i]) break; /* label */
        pos ^= OFFSET(unit);
        if (pos >= t->trie_n) break;
        if ((unit >> 8) & 1) { /* has leaf */
            uint32_t val = a[pos] & ((1u << 31) - 1);
            if (val < t->norm_n) { best = i + 1; *rep = t->norm_str + val; }
        }
    }
#undef OFFSET
    return best;
}

/* One normalisation step at s: rep and rlen get the normalised text; returns bytes consumed. */
static size_t norm_prefix(const vg_spm *t, const char *s, size_t n, const char **rep, size_t *rlen) {
    const char *r = NULL;
    size_t used = charsmap_match(t, (const unsigned char *)s, n, &r);
    if (used) { *rep = r; *rlen = strlen(r); return used; }
    size_t cl = utf8_len((const unsigned char *)s, n);
    if (cl == 0) { *rep = "\xef\xbf\xbd"; *rlen = 3; return 1; } /* invalid UTF-8 -> U+FFFD */
    *rep = s;
    *rlen = cl;
    return cl;
}

/* SentencePiece Normalizer::Normalize: charsmap, whitespace rules. Returns malloc'd text. */
static char *normalize(const vg_spm *t, const char *in, size_t n, size_t *out_n) {
    char *o = malloc(n * 9 + 8); /* a replacement can be longer; bounded below */
    size_t cap = n * 9 + 8, k = 0;
    if (!o) return NULL;
    const char *rep;
    size_t rl;
    if (t->remove_extra_ws) /* leading whitespace */
        while (n > 0) {
            size_t used = norm_prefix(t, in, n, &rep, &rl);
            if (!(rl == 1 && rep[0] == ' ')) break;
            in += used; n -= used;
        }
    if (n == 0) { *out_n = 0; o[0] = 0; return o; }
    if (t->add_dummy_prefix) { memcpy(o + k, t->escape_ws ? WS : " ", t->escape_ws ? 3 : 1); k += t->escape_ws ? 3 : 1; }
    bool prev_space = t->remove_extra_ws;
    while (n > 0) {
        size_t used = norm_prefix(t, in, n, &rep, &rl);
        if (prev_space) while (rl > 0 && rep[0] == ' ') { rep++; rl--; }
        if (rl > 0) {
            if (k + rl * 3 + 8 > cap) {
                cap = (k + rl * 3 + 8) * 2;
                char *no = realloc(o, cap);
                if (!no) { free(o); return NULL; }
                o = no;
            }
            for (size_t j = 0; j < rl; j++) {
                if (t->escape_ws && rep[j] == ' ') { memcpy(o + k, WS, 3); k += 3; }
                else o[k++] = rep[j];
            }
            prev_space = rep[rl - 1] == ' ';
        }
        in += used; n -= used;
    }
    if (t->remove_extra_ws) {
        const char *sp = t->escape_ws ? WS : " ";
        size_t sl = t->escape_ws ? 3 : 1;
        while (k >= sl && memcmp(o + k - sl, sp, sl) == 0) k -= sl;
    }
    o[k] = 0;
    *out_n = k;
    return o;
}

/* ------------------------------------------------------------------------------------ */
/* Viterbi (SentencePiece unigram Model::EncodeOptimized) */

typedef struct { float score; int64_t start; int32_t id; } vnode;

vg_status vg_spm_encode(const vg_spm *t, const char *text, int32_t **ids, int64_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    size_t N = 0;
    char *s = normalize(t, text, strlen(text), &N);
    vnode *best = s ? malloc((N + 1) * sizeof(*best)) : NULL;
    int32_t *out = best ? malloc((N * 4 + 1) * sizeof(int32_t)) : NULL;
    if (!out) { free(s); free(best); return vg_fail(VG_ERR_OOM, "spm encode: %zu bytes", N); }
    const float unk_score = t->min_score - 10.0f;
    for (size_t i = 0; i <= N; i++) best[i] = (vnode){0, -1, -1};
    best[0].start = 0;
    for (size_t i = 0; i < N;) {
        if (best[i].start < 0) { i++; continue; } /* not a character boundary reached */
        size_t cl = utf8_len((const unsigned char *)s + i, N - i);
        if (cl == 0) cl = 1;
        float base = best[i].score;
        bool single = false;
        for (size_t len = 1; len <= t->max_len && i + len <= N; len++) {
            int32_t id = lookup(t, s + i, len);
            if (id < 0) continue;
            const piece *p = &t->pieces[id];
            if (p->type == PT_UNUSED) continue;
            float sc = p->type == PT_USER ? (float)len * t->max_score - 0.1f : p->score;
            vnode *dst = &best[i + len];
            if (dst->start < 0 || base + sc > dst->score) *dst = (vnode){base + sc, (int64_t)i, id};
            if (len == cl) single = true;
        }
        if (!single) {
            vnode *dst = &best[i + cl];
            if (dst->start < 0 || base + unk_score > dst->score) *dst = (vnode){base + unk_score, (int64_t)i, t->unk_id};
        }
        i += cl;
    }
    /* backtrack, then emit in order; consecutive <unk> merge; byte_fallback splits <unk> */
    int64_t cnt = 0;
    for (int64_t e = (int64_t)N; e > 0; e = best[e].start) cnt++;
    int64_t *ends = malloc((size_t)(cnt + 1) * sizeof(int64_t));
    if (!ends) { free(s); free(best); free(out); return vg_fail(VG_ERR_OOM, "spm encode"); }
    int64_t c = cnt;
    for (int64_t e = (int64_t)N; e > 0; e = best[e].start) ends[--c] = e;
    int64_t k = 0;
    bool prev_unk = false;
    for (int64_t j = 0; j < cnt; j++) {
        const vnode *v = &best[ends[j]];
        if (v->id == t->unk_id) {
            if (t->byte_fallback) {
                bool all = true;
                for (int64_t b = v->start; b < ends[j]; b++) all = all && t->byte_id[(uint8_t)s[b]] >= 0;
                if (all) {
                    for (int64_t b = v->start; b < ends[j]; b++) out[k++] = t->byte_id[(uint8_t)s[b]];
                    prev_unk = false;
                    continue;
                }
            }
            if (prev_unk) continue;
            prev_unk = true;
        } else prev_unk = false;
        out[k++] = v->id;
    }
    free(ends);
    free(best);
    free(s);
    *ids = out;
    *n_ids = k;
    return VG_OK;
}

/* ------------------------------------------------------------------------------------ */
/* Wan's prompt cleaning and the umT5 call */

/* Appends code point cp as UTF-8. */
static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) { o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63)); o[2] = (char)(0x80 | (cp & 63)); return 3; }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63)); o[2] = (char)(0x80 | (cp >> 6 & 63));
    o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* One pass of html.unescape for the common entities; out has room for strlen(in)+1. */
static void unescape(char *out, const char *in) {
    static const struct { const char *name; uint32_t cp; } ent[] = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xa0}};
    size_t k = 0;
    while (*in) {
        if (*in == '&') {
            const char *p = in + 1;
            if (*p == '#') {
                p++;
                int hex = (*p == 'x' || *p == 'X');
                if (hex) p++;
                char *end;
                unsigned long cp = strtoul(p, &end, hex ? 16 : 10);
                bool digits = end > p && ((*p >= '0' && *p <= '9') ||
                                          (hex && ((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))));
                if (digits && *end == ';' && cp > 0 && cp < 0x110000 && !(cp >= 0xd800 && cp < 0xe000)) {
                    k += put_utf8(out + k, (uint32_t)cp); /* &#N; is at least 4 bytes: fits */
                    in = end + 1;
                    continue;
                }
            } else {
                size_t e;
                for (e = 0; e < sizeof(ent) / sizeof(ent[0]); e++) {
                    size_t l = strlen(ent[e].name);
                    if (strncmp(p, ent[e].name, l) == 0 && p[l] == ';') {
                        k += put_utf8(out + k, ent[e].cp);
                        in = p + l + 1;
                        break;
                    }
                }
                if (e < sizeof(ent) / sizeof(ent[0])) continue;
            }
        }
        out[k++] = *in++;
    }
    out[k] = 0;
}

/* Length of a whitespace character at s (Python str.isspace), 0 if none. */
static size_t space_len(const unsigned char *s) {
    if (*s == ' ' || (*s >= 0x09 && *s <= 0x0d) || (*s >= 0x1c && *s <= 0x1f)) return 1;
    if (s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3;                       /* U+1680 */
    if (s[0] == 0xe2 && s[1] == 0x80 && ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3;                                                                       /* U+2000-200A, 2028, 2029, 202F */
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3;                       /* U+205F */
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3;                       /* U+3000 */
    return 0;
}

char *vg_umt5_clean(const char *text) {
    size_t L = strlen(text);
    char *a = malloc(L + 1), *b = malloc(L + 1);
    if (!a || !b) { free(a); free(b); return NULL; }
    unescape(a, text);
    unescape(b, a);
    size_t k = 0;
    bool pending = false;
    for (const unsigned char *p = (const unsigned char *)b; *p;) {
        size_t sl = space_len(p);
        if (sl) { pending = k > 0; p += sl; continue; }
        if (pending) { a[k++] = ' '; pending = false; }
        a[k++] = (char)*p++;
    }
    a[k] = 0;
    free(b);
    return a;
}

vg_status vg_umt5_tokenize(const vg_spm *t, const char *text, int32_t *ids, int32_t *mask, int64_t max_len,
                           int64_t *n_tok) {
    if (max_len < 1) return vg_fail(VG_ERR_ARG, "umt5 tokenize: max_len %lld < 1", (long long)max_len);
    char *clean = vg_umt5_clean(text);
    if (!clean) return vg_fail(VG_ERR_OOM, "umt5 tokenize");
    int32_t *p = NULL;
    int64_t n = 0;
    vg_status st = vg_spm_encode(t, clean, &p, &n);
    free(clean);
    if (st) return st;
    if (n > max_len - 1) n = max_len - 1;
    for (int64_t i = 0; i < max_len; i++) {
        ids[i] = i < n ? p[i] : i == n ? VG_TOK_EOS : VG_TOK_PAD;
        mask[i] = i <= n;
    }
    *n_tok = n + 1;
    free(p);
    return VG_OK;
}
