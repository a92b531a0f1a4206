/* words.c - word-level tokenizer with unknown-word suggestions (see include/vidgen/words.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/words.h"

int vg_words_find(const vg_vocab *v, const char *w) {
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->words[i], w) == 0) return i;
    return -1;
}

int vg_edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 64 || nb > 64) return (int)(na > nb ? na : nb);
    int d[65][65];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[na][nb];
}

static void append(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap + n + 1) * 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return;
        *buf = nb; *cap = nc;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

static void suggest(const vg_vocab *v, const char *w, char **buf, size_t *len, size_t *cap) {
    int best[3] = {-1, -1, -1}, bd[3] = {1 << 30, 1 << 30, 1 << 30};
    for (int i = 3; i < v->n; i++) {
        int d = vg_edit_distance(w, v->words[i]);
        for (int k = 0; k < 3; k++)
            if (d < bd[k]) {
                for (int m = 2; m > k; m--) { bd[m] = bd[m - 1]; best[m] = best[m - 1]; }
                bd[k] = d; best[k] = i;
                break;
            }
    }
    append(buf, len, cap, "'");
    append(buf, len, cap, w);
    append(buf, len, cap, "' (nearest known: ");
    for (int k = 0; k < 3 && best[k] >= 0; k++) {
        if (k) append(buf, len, cap, ", ");
        append(buf, len, cap, v->words[best[k]]);
    }
    append(buf, len, cap, ")");
}

vg_status vg_words_encode(const vg_vocab *v, const char *text, int32_t *ids, int max_ids, int *n_ids,
                          char **unknown) {
    char *rep = NULL;
    size_t rl = 0, rc = 0;
    int n = 0;
    const unsigned char *p = (const unsigned char *)text;
    if (unknown) *unknown = NULL;
    while (*p) {
        while (*p && !isalnum(*p) && *p < 0x80) p++;
        if (!*p) break;
        char w[128];
        size_t k = 0;
        while (*p && (isalnum(*p) || *p >= 0x80)) { if (k < sizeof(w) - 1) w[k++] = (char)tolower(*p); p++; }
        w[k] = 0;
        if (n >= max_ids - 1) {
            free(rep);
            return vg_fail(VG_ERR_ARG, "prompt has more than %d words (the model's text length)", max_ids - 1);
        }
        int id = vg_words_find(v, w);
        if (id < 0 || id < 3) {
            id = VG_WORD_UNK;
            if (unknown) { if (rl) append(&rep, &rl, &rc, "; "); suggest(v, w, &rep, &rl, &rc); }
        }
        ids[n++] = id;
    }
    ids[n++] = VG_WORD_EOS;
    for (int i = n; i < max_ids; i++) ids[i] = VG_WORD_PAD;
    *n_ids = n;
    if (unknown) *unknown = rep; else free(rep);
    return VG_OK;
}

void vg_vocab_free(vg_vocab *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    v->words = NULL; v->n = 0;
}
