/* tokenizer_words.c - word-level tokenizer for vidgen's own text encoder, with unknown-word
 * reports (nearest known words by Damerau/OSA edit distance). See include/vidgen/tokenizer.h.
 * Layout: words[i] has id 3 + i; ids 0..2 are <pad>, </s>, <unk>. Lookup is a linear scan
 * (vocabularies are tens to hundreds of words). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "vidgen/tokenizer.h"

struct vg_wordtok {
    char **words;
    int64_t n;
};

static const char *const g_special[3] = {"<pad>", "</s>", "<unk>"};

void vg_tok_result_free(vg_tok_result *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->n_unknown; i++) free(r->unknown[i].word);
    free(r->unknown);
    free(r->ids);
    memset(r, 0, sizeof(*r));
}

size_t vg_tok_result_describe(const vg_tok_result *r, char *buf, size_t cap) {
    size_t o = 0;
#define PUT(...) do { int k_ = snprintf(cap > o ? buf + o : NULL, cap > o ? cap - o : 0, __VA_ARGS__); \
        if (k_ > 0) o += (size_t)k_; } while (0)
    if (cap) buf[0] = 0;
    for (int64_t i = 0; i < r->n_unknown; i++) {
        const vg_tok_unknown *u = &r->unknown[i];
        PUT("%sunknown word '%s'", i ? "; " : "", u->word);
        if (u->n_near) {
            PUT(" (nearest:");
            for (int k = 0; k < u->n_near; k++) PUT("%s %s", k ? "," : "", u->near[k]);
            PUT(")");
        }
    }
#undef PUT
    return o;
}

void vg_wordtok_free(vg_wordtok *t) {
    if (!t) return;
    for (int64_t i = 0; i < t->n; i++) free(t->words[i]);
    free(t->words);
    free(t);
}

vg_status vg_wordtok_new(vg_wordtok **out, const char *const *words, int64_t n) {
    *out = NULL;
    if (n < 0 || n > (1 << 30)) return vg_fail(VG_ERR_ARG, "word tokenizer: %lld words", (long long)n);
    vg_wordtok *t = calloc(1, sizeof(*t));
    if (!t || !(t->words = calloc((size_t)(n ? n : 1), sizeof(char *)))) {
        free(t);
        return vg_fail(VG_ERR_OOM, "word tokenizer: %lld words", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        if (!words[i] || !words[i][0]) {
            vg_wordtok_free(t);
            return vg_fail(VG_ERR_ARG, "word tokenizer: word %lld is empty", (long long)i);
        }
        for (int64_t j = 0; j < i; j++)
            if (strcmp(t->words[j], words[i]) == 0) {
                vg_wordtok_free(t);
                return vg_fail(VG_ERR_ARG, "word tokenizer: word '%s' listed twice (%lld and %lld)", words[i],
                               (long long)j, (long long)i);
            }
        if (!(t->words[i] = strdup(words[i]))) {
            vg_wordtok_free(t);
            return vg_fail(VG_ERR_OOM, "word tokenizer: copying words");
        }
        t->n = i + 1;
    }
    *out = t;
    return VG_OK;
}

vg_status vg_wordtok_new_json(vg_wordtok **out, const char *json) {
    *out = NULL;
    cJSON *root = cJSON_Parse(json);
    const cJSON *arr = root;
    if (cJSON_IsObject(root)) {
        arr = cJSON_GetObjectItemCaseSensitive(root, "vocab");
        if (!arr) arr = cJSON_GetObjectItemCaseSensitive(root, "words");
    }
    vg_status st;
    if (!cJSON_IsArray(arr)) {
        st = vg_fail(VG_ERR_FORMAT, "word tokenizer: expected a JSON array of words (or {\"vocab\": [...]})");
        goto out;
    }
    int64_t n = cJSON_GetArraySize(arr), i = 0;
    const char **w = calloc((size_t)(n ? n : 1), sizeof(*w));
    if (!w) { st = vg_fail(VG_ERR_OOM, "word tokenizer"); goto out; }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsString(it)) {
            free(w);
            st = vg_fail(VG_ERR_FORMAT, "word tokenizer: vocabulary entry %lld is not a string", (long long)i);
            goto out;
        }
        w[i++] = it->valuestring;
    }
    st = vg_wordtok_new(out, w, n);
    free(w);
out:
    cJSON_Delete(root);
    return st;
}

int64_t vg_wordtok_vocab_size(const vg_wordtok *t) { return t->n + 3; }

const char *vg_wordtok_word(const vg_wordtok *t, int32_t id) {
    if (id < 0 || id >= t->n + 3) return NULL;
    return id < 3 ? g_special[id] : t->words[id - 3];
}

static int64_t find_word(const vg_wordtok *t, const char *w, size_t len) {
    for (int64_t i = 0; i < t->n; i++)
        if (strlen(t->words[i]) == len && memcmp(t->words[i], w, len) == 0) return i;
    return -1;
}

/* Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), bytes. */
static int osa_distance(const char *a, size_t la, const char *b, size_t lb) {
    if (la > 64 || lb > 64) return (int)(la > lb ? la : lb);
    int d[65][65];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1], v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

static bool is_split(unsigned char c) {
    return isspace(c) || (c < 0x80 && ispunct(c) && c != '-' && c != '\'');
}

vg_status vg_wordtok_encode(const vg_wordtok *t, const char *text, int64_t max_len, vg_tok_result *res) {
    memset(res, 0, sizeof(*res));
    if (max_len < 1) return vg_fail(VG_ERR_ARG, "word tokenizer: max_len %lld < 1", (long long)max_len);
    size_t L = strlen(text);
    char *low = malloc(L + 1);
    res->ids = malloc(sizeof(int32_t) * (size_t)max_len);
    res->unknown = calloc(L / 1 + 1, sizeof(vg_tok_unknown));
    if (!low || !res->ids || !res->unknown) {
        free(low);
        vg_tok_result_free(res);
        return vg_fail(VG_ERR_OOM, "word tokenizer: %zu bytes of text", L);
    }
    for (size_t i = 0; i <= L; i++) low[i] = (char)tolower((unsigned char)text[i]);
    size_t i = 0;
    while (i < L) {
        unsigned char c = (unsigned char)low[i];
        const char *w = low + i;
        size_t len;
        if (isspace(c)) { i++; continue; }
        if (is_split(c)) { /* punctuation: a token when the vocabulary has it, else dropped */
            len = 1;
            if (find_word(t, w, 1) < 0) { i++; continue; }
        } else {
            len = 0;
            while (i + len < L && !is_split((unsigned char)low[i + len])) len++;
        }
        i += len;
        if (res->n >= max_len - 1) { res->n_truncated++; continue; }
        int64_t id = find_word(t, w, len);
        if (id >= 0) { res->ids[res->n++] = (int32_t)(id + 3); continue; }
        /* unknown: report it with the nearest known words */
        vg_tok_unknown *u = &res->unknown[res->n_unknown];
        if (!(u->word = strndup(w, len))) {
            free(low);
            vg_tok_result_free(res);
            return vg_fail(VG_ERR_OOM, "word tokenizer");
        }
        u->position = res->n;
        for (int64_t k = 0; k < t->n; k++) {
            int d = osa_distance(w, len, t->words[k], strlen(t->words[k]));
            int pos = u->n_near;
            while (pos > 0 && u->near_dist[pos - 1] > d) pos--; /* ties keep vocabulary order */
            if (pos >= 3) continue;
            for (int s = (u->n_near < 3 ? u->n_near : 2); s > pos; s--) {
                u->near[s] = u->near[s - 1];
                u->near_dist[s] = u->near_dist[s - 1];
            }
            u->near[pos] = t->words[k];
            u->near_dist[pos] = d;
            if (u->n_near < 3) u->n_near++;
        }
        res->n_unknown++;
        res->ids[res->n++] = VG_TOK_UNK;
    }
    res->ids[res->n++] = VG_TOK_EOS;
    free(low);
    return VG_OK;
}
