/* test_tokenizer.c - word-level tokenizer (unknown-word reports) and the SentencePiece
 * unigram tokenizer against Debian's sentencepiece tools: spm_train builds small unigram
 * models (with and without byte_fallback) from a generated corpus with accented Latin,
 * CJK, emoji, full-width forms and odd whitespace; spm_encode's ids must equal ours. */
#include <stdlib.h>
#include <cjson/cJSON.h>
#include "test.h"
#include "vidgen/io.h"
#include "vidgen/rng.h"
#include "vidgen/safetensors.h"
#include "vidgen/tokenizer.h"

/* ---- word-level ---------------------------------------------------------------------- */

VG_TEST(wordtok_encode_and_unknowns) {
    vg_wordtok *t = NULL;
    CHECK_OK(vg_wordtok_new_json(&t, "{\"vocab\": [\"a\", \"big\", \"small\", \"red\", \"blue\", \"ball\", \"square\", "
                                     "\"bouncing\", \"on\", \"background\", \"getting\", \"darker\", \"light-blue\"]}"));
    CHECK(vg_wordtok_vocab_size(t) == 16);
    CHECK(strcmp(vg_wordtok_word(t, 3), "a") == 0 && strcmp(vg_wordtok_word(t, 1), "</s>") == 0);
    vg_tok_result r;
    CHECK_OK(vg_wordtok_encode(t, "  A big RED ball bouncing on a Light-Blue background, getting darker. ", 64, &r));
    int32_t want[] = {3, 4, 6, 8, 10, 11, 3, 15, 12, 13, 14, 1};
    CHECKF(r.n == 12 && memcmp(r.ids, want, sizeof(want)) == 0, "n %lld", (long long)r.n);
    CHECK(r.n_unknown == 0 && r.n_truncated == 0);
    vg_tok_result_free(&r);
    /* unknown words: <unk> in place, reported with the nearest known words */
    CHECK_OK(vg_wordtok_encode(t, "a rde bal on a purple background", 64, &r));
    CHECK(r.n == 8 && r.ids[1] == VG_TOK_UNK && r.ids[2] == VG_TOK_UNK && r.ids[4] == 3);
    CHECK(r.n_unknown == 3);
    CHECK(strcmp(r.unknown[0].word, "rde") == 0 && r.unknown[0].position == 1);
    CHECK(r.unknown[0].n_near == 3 && strcmp(r.unknown[0].near[0], "red") == 0 && r.unknown[0].near_dist[0] == 1);
    CHECK(strcmp(r.unknown[1].word, "bal") == 0 && strcmp(r.unknown[1].near[0], "ball") == 0);
    CHECK(strcmp(r.unknown[2].word, "purple") == 0);
    char msg[256];
    vg_tok_result_describe(&r, msg, sizeof(msg));
    CHECKF(strstr(msg, "unknown word 'rde' (nearest: red,") != NULL, "%s", msg);
    vg_tok_result_free(&r);
    /* truncation keeps </s> last and counts what was cut */
    CHECK_OK(vg_wordtok_encode(t, "a big red ball", 3, &r));
    CHECK(r.n == 3 && r.ids[2] == VG_TOK_EOS && r.n_truncated == 2);
    vg_tok_result_free(&r);
    vg_wordtok_free(t);
    /* a comma in the vocabulary becomes its own token */
    const char *w2[] = {"red", ","};
    CHECK_OK(vg_wordtok_new(&t, w2, 2));
    CHECK_OK(vg_wordtok_encode(t, "red,red", 8, &r));
    CHECK(r.n == 4 && r.ids[0] == 3 && r.ids[1] == 4 && r.ids[2] == 3 && r.ids[3] == 1);
    vg_tok_result_free(&r);
    vg_wordtok_free(t);
    const char *dup[] = {"red", "red"};
    CHECK(vg_wordtok_new(&t, dup, 2) == VG_ERR_ARG && t == NULL);
    CHECK(vg_wordtok_new_json(&t, "[\"a\", 3]") == VG_ERR_FORMAT);
}

/* ---- cleaning ------------------------------------------------------------------------ */

VG_TEST(umt5_clean) {
    char *c = vg_umt5_clean("  Tom &amp;amp; Jerry&#39;s\t\tcat &lt;3\xc2\xa0 now \xe3\x80\x80 &#x41;&#66; ");
    CHECK(c);
    CHECKF(strcmp(c, "Tom & Jerry's cat <3 now AB") == 0, "got '%s'", c);
    free(c);
    c = vg_umt5_clean("&# 5; &amp &zz;");
    CHECKF(strcmp(c, "&# 5; &amp &zz;") == 0, "got '%s'", c);
    free(c);
}

/* ---- SentencePiece: hand-made tokenizer.json ----------------------------------------- */

static void ids_str(char *buf, size_t n, const int32_t *ids, int64_t k) {
    size_t o = 0;
    buf[0] = 0;
    for (int64_t i = 0; i < k && o < n; i++) o += (size_t)snprintf(buf + o, n - o, i ? " %d" : "%d", ids[i]);
}

VG_TEST(spm_viterbi_tokenizer_json) {
    const char *js =
        "{\"added_tokens\": [{\"id\": 0, \"content\": \"<pad>\", \"special\": true},"
        "                    {\"id\": 1, \"content\": \"</s>\", \"special\": true}],"
        " \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\","
        "  \"prepend_scheme\": \"always\"},"
        " \"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"byte_fallback\": false, \"vocab\": ["
        "  [\"<pad>\", 0], [\"</s>\", 0], [\"<unk>\", 0], [\"\xe2\x96\x81\", -2], [\"\xe2\x96\x81" "a\", -1],"
        "  [\"b\", -3], [\"\xe2\x96\x81" "ab\", -2.5], [\"c\", -4], [\"bc\", -3]]}}";
    vg_spm *t = NULL;
    CHECK_OK(vg_spm_from_tokenizer_json(&t, js));
    CHECK(vg_spm_size(t) == 9 && vg_spm_unk_id(t) == 2);
    static const struct { const char *text, *ids; } cases[] = {
        {"ab c", "6 3 7"},      /* ▁ab ▁ c  (-8.5) beats ▁a b ▁ c (-10) */
        {"abc", "4 8"},         /* ▁a bc (-4) beats ▁ab c (-6.5) */
        {"  ab   c ", "6 3 7"}, /* whitespace: stripped and collapsed */
        {"ax", "4 2"}, {"axxx", "4 2"}, /* unknown characters; a run merges into one <unk> */
        {"</s>", "3 2"},        /* control pieces never match inside text */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int32_t *ids;
        int64_t n;
        CHECK_OK(vg_spm_encode(t, cases[i].text, &ids, &n));
        char got[128];
        ids_str(got, sizeof(got), ids, n);
        free(ids);
        CHECKF(strcmp(got, cases[i].ids) == 0, "'%s': got [%s], want [%s]", cases[i].text, got, cases[i].ids);
    }
    /* the umT5 call: </s> appended, padding, mask, truncation to max_len - 1 pieces */
    int32_t ids[6], mask[6];
    int64_t nt;
    CHECK_OK(vg_umt5_tokenize(t, "ab &amp; c", ids, mask, 6, &nt));
    /* cleaned to "ab & c"; '&' is unknown: ▁ab ▁ <unk> ▁ c </s> */
    CHECK(nt == 6 && ids[0] == 6 && ids[1] == 3 && ids[2] == 2 && ids[3] == 3 && ids[4] == 7 && ids[5] == 1);
    CHECK_OK(vg_umt5_tokenize(t, "abc", ids, mask, 6, &nt));
    CHECK(nt == 3 && ids[0] == 4 && ids[1] == 8 && ids[2] == 1 && ids[3] == 0 && mask[2] == 1 && mask[3] == 0);
    CHECK_OK(vg_umt5_tokenize(t, "ab ab ab ab ab", ids, mask, 4, &nt));
    CHECK(nt == 4 && ids[0] == 6 && ids[2] == 6 && ids[3] == 1 && mask[3] == 1);
    vg_spm_free(t);
    CHECK(vg_spm_from_tokenizer_json(&t, "{\"model\": {\"type\": \"BPE\"}}") == VG_ERR_FORMAT);
    CHECK(vg_spm_from_tokenizer_json(&t, "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\"]]}}") == VG_ERR_FORMAT);
    /* malformed protobuf is reported, not crashed on */
    static const uint8_t junk[] = {0x0a, 0x7f, 0x01, 0x02};
    CHECK(vg_spm_from_proto(&t, junk, sizeof(junk)) == VG_ERR_FORMAT);
}

/* ---- SentencePiece: against spm_train / spm_encode ----------------------------------- */

static const char *const g_words[] = {
    "a", "the", "red", "green", "blue", "ball", "square", "triangle", "moving", "left", "right", "bouncing",
    "on", "background", "dog", "cat", "running", "jumping", "over", "quickly", "slowly", "river", "mountain",
    "city", "night", "sunset", "camera", "pans", "across", "street", "rain", "2024", "7", "small", "big",
    "café", "naïve", "Zürich", "façade", "São", "Paulo", "niño", "crème", "brûlée", "déjà", "vu", "Ærø",
    "Łódź", "smørrebrød", "東京", "日本語", "猫", "犬", "山", "川", "夜", "中文", "🙂", "🚀",
    "ＡＢＣ", "１２３", "ﬁsh", "①", "Straße", "™", "½", "Å",
};
enum { N_COMMON = 35 }; /* ASCII words come first and most often */

static void gen_sentence(vg_rng *r, char *buf, size_t cap, bool odd_space) {
    size_t o = 0;
    int n = 3 + vg_rng_int(r, 9);
    buf[0] = 0;
    for (int i = 0; i < n && o + 64 < cap; i++) {
        int nw = (int)(sizeof(g_words) / sizeof(g_words[0]));
        double u = vg_rng_uniform(r);
        char made[64];
        const char *word;
        if (u < 0.35) { /* made-up words from syllables keep the vocabulary rich enough for 500 pieces */
            static const char *const syl[] = {"ka", "lo", "mi", "ne", "su", "tra", "vel", "qu", "zo", "ph", "ri",
                                              "sto", "en", "ar", "ul", "bé", "çi", "ñu", "ø", "ü"};
            size_t m = 0;
            int k = 1 + vg_rng_int(r, 4);
            for (int s = 0; s < k; s++) m += (size_t)snprintf(made + m, sizeof(made) - m, "%s", syl[vg_rng_int(r, 20)]);
            if (vg_rng_uniform(r) < 0.2) made[0] = (char)(made[0] - 32 * (made[0] >= 'a' && made[0] <= 'z'));
            word = made;
        } else word = g_words[u < 0.85 ? vg_rng_int(r, N_COMMON) : vg_rng_int(r, nw)];
        const char *sep = i == 0 ? "" : " ";
        if (odd_space && vg_rng_uniform(r) < 0.15) {
            static const char *const seps[] = {"  ", "\t", " \xc2\xa0", "   ", "\xe3\x80\x80"};
            sep = seps[vg_rng_int(r, 5)];
        }
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", sep, word);
        if (vg_rng_uniform(r) < 0.1) o += (size_t)snprintf(buf + o, cap - o, ",");
    }
    if (odd_space && vg_rng_uniform(r) < 0.1) o += (size_t)snprintf(buf + o, cap - o, "  ");
}

/* Extra cases: characters never seen in training (unknown / byte fallback), runs of them,
 * NFKC forms, and whitespace at the edges. */
static const char *const g_edge[] = {
    "  leading and trailing spaces  ", "tabs\tinside\tthe\ttext", "many     spaces", "Привет мир",
    "ΑΒΓ δέλτα", "🦄🦄🦄 unicorn", "猫猫猫 and 犬", "ＦＵＬＬ width ｔｅｘｔ", "ligature ﬁ and ﬂ", "① ② ③",
    "x²+y²", "ｶﾀｶﾅ half width", "e\xcc\x81 combining accent", "Ǆ digraph", "㎏ unit", "a", "A B C",
    "ca\xc2\xa0" "fe", "new\xe2\x80\x83space", "mixed 東京 and Zürich 🙂", "…", "―dash―", "＂quotes＂",
};

static bool write_text(const char *path, const char *s) {
    return vg_file_write_atomic(path, s, strlen(s)) == VG_OK;
}

/* Parses spm_encode's output: one line of space-separated ids per sentence. */
static int64_t parse_line(const char **p, int32_t *ids, int64_t cap) {
    int64_t n = 0;
    while (**p && **p != '\n') {
        char *end;
        long v = strtol(*p, &end, 10);
        if (end == *p) { (*p)++; continue; }
        if (n < cap) ids[n] = (int32_t)v;
        n++;
        *p = end;
    }
    if (**p == '\n') (*p)++;
    return n;
}

/* The precompiled charsmap inside a ModelProto (field 3 normalizer_spec, its field 2), found
 * with a few lines of wire-format walking, base64-encoded for a tokenizer.json. NULL if absent. */
static uint64_t varint(const uint8_t **p, const uint8_t *end) {
    uint64_t v = 0;
    for (int s = 0; *p < end && s < 64; s += 7) { uint8_t b = *(*p)++; v |= (uint64_t)(b & 127) << s; if (!(b & 128)) break; }
    return v;
}
static char *charsmap_b64(const uint8_t *p, const uint8_t *end, int depth) {
    while (p < end) {
        uint64_t key = varint(&p, end);
        int wt = (int)(key & 7);
        if (wt == 0) { varint(&p, end); continue; }
        if (wt == 5) { p += 4; continue; }
        if (wt == 1) { p += 8; continue; }
        if (wt != 2) return NULL;
        uint64_t n = varint(&p, end);
        if (n > (uint64_t)(end - p)) return NULL;
        if (depth == 0 && key >> 3 == 3) return charsmap_b64(p, p + n, 1);
        if (depth == 1 && key >> 3 == 2) {
            static const char *tb = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            char *o = malloc(n / 3 * 4 + 8);
            size_t k = 0;
            for (uint64_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
                o[k++] = tb[v >> 18]; o[k++] = tb[v >> 12 & 63];
                o[k++] = i + 1 < n ? tb[v >> 6 & 63] : '='; o[k++] = i + 2 < n ? tb[v & 63] : '=';
            }
            o[k] = 0;
            return o;
        }
        p += n;
    }
    return NULL;
}

/* Trains a model (byte_fallback on/off), encodes the sentences with spm_encode and with us;
 * returns the number of sentences that agree (all loaders). */
static int run_against_spm(const char *dir, const char *tag, bool byte_fallback, char **sents, int ns, int *agree_json,
                           int *n_json) {
    char *out = NULL;
    int rc = vg_test_sh(&out, "cd '%s' && spm_train --input=corpus.txt --model_prefix=%s --model_type=unigram "
                              "--vocab_size=500 --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --num_threads=1 "
                              "--byte_fallback=%s --minloglevel=2 && spm_encode --model=%s.model --output_format=id "
                              "< sents.txt > %s.ids && spm_export_vocab --model=%s.model --output=%s.vocab",
                        dir, tag, byte_fallback ? "true" : "false", tag, tag, tag, tag);
    if (rc != 0) {
        vg_test_failf(__FILE__, __LINE__, "spm_train/spm_encode failed (rc %d): %.400s", rc, out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.ids", dir, tag);
    char *ref = NULL;
    size_t rn;
    if (vg_file_read(path, &ref, &rn) != VG_OK) return -1;
    /* our three loaders: spiece.model, the bytes inside a safetensors U8 tensor, tokenizer.json
     * (vocabulary from spm_export_vocab + the model's charsmap as base64 "Precompiled") */
    vg_spm *t = NULL, *ts = NULL, *tj = NULL;
    snprintf(path, sizeof(path), "%s/%s.model", dir, tag);
    char *model = NULL;
    size_t mn;
    if (vg_spm_load(&t, path) != VG_OK || vg_file_read(path, &model, &mn) != VG_OK) {
        vg_test_failf(__FILE__, __LINE__, "loading %s: %s", path, vg_last_error());
        free(ref);
        vg_spm_free(t);
        return -1;
    }
    char *cm64 = charsmap_b64((const uint8_t *)model, (const uint8_t *)model + mn, 0);
    vg_st_writer *w = vg_st_writer_new();
    vg_st_writer_add(w, "spiece_model", VG_DTYPE_U8, 1, (int64_t[]){(int64_t)mn}, model);
    snprintf(path, sizeof(path), "%s/%s.safetensors", dir, tag);
    vg_st_writer_save(w, path);
    vg_st_writer_free(w);
    free(model);
    if (vg_spm_load(&ts, path) != VG_OK) vg_test_failf(__FILE__, __LINE__, "%s: %s", path, vg_last_error());
    /* tokenizer.json */
    snprintf(path, sizeof(path), "%s/%s.vocab", dir, tag);
    char *voc = NULL;
    size_t vn;
    if (vg_file_read(path, &voc, &vn) == VG_OK) {
        cJSON *root = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(root, "model"), *v;
        cJSON_AddStringToObject(m, "type", "Unigram");
        if (cm64) { /* normalizer: Sequence [Precompiled] as HF's T5 converter writes it */
            cJSON *nz = cJSON_AddObjectToObject(root, "normalizer"), *arr, *pc = cJSON_CreateObject();
            cJSON_AddStringToObject(nz, "type", "Sequence");
            arr = cJSON_AddArrayToObject(nz, "normalizers");
            cJSON_AddStringToObject(pc, "type", "Precompiled");
            cJSON_AddStringToObject(pc, "precompiled_charsmap", cm64);
            cJSON_AddItemToArray(arr, pc);
        }
        cJSON_AddNumberToObject(m, "unk_id", 2);
        cJSON_AddBoolToObject(m, "byte_fallback", byte_fallback);
        v = cJSON_AddArrayToObject(m, "vocab");
        cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
        int id = 0;
        for (char *line = strtok(voc, "\n"); line; line = strtok(NULL, "\n"), id++) {
            char *tab = strchr(line, '\t');
            if (!tab) break;
            *tab = 0;
            cJSON *e = cJSON_CreateArray();
            cJSON_AddItemToArray(e, cJSON_CreateString(line));
            cJSON_AddItemToArray(e, cJSON_CreateNumber(strtod(tab + 1, NULL)));
            cJSON_AddItemToArray(v, e);
            if (id < 2) {
                cJSON *a = cJSON_CreateObject();
                cJSON_AddNumberToObject(a, "id", id);
                cJSON_AddBoolToObject(a, "special", 1);
                cJSON_AddItemToArray(added, a);
            }
        }
        char *js = cJSON_PrintUnformatted(root);
        if (vg_spm_from_tokenizer_json(&tj, js) != VG_OK) vg_test_failf(__FILE__, __LINE__, "json: %s", vg_last_error());
        free(js);
        cJSON_Delete(root);
        free(voc);
    }
    free(cm64);
    int agree = 0, shown = 0;
    *agree_json = 0;
    *n_json = 0;
    const char *p = ref;
    for (int i = 0; i < ns; i++) {
        int32_t want[1024];
        int64_t nw = parse_line(&p, want, 1024);
        int32_t *got = NULL, *got2 = NULL;
        int64_t ng = 0, ng2 = 0;
        if (vg_spm_encode(t, sents[i], &got, &ng) != VG_OK) { free(got); continue; }
        bool ok = ng == nw && nw <= 1024 && memcmp(got, want, sizeof(int32_t) * (size_t)ng) == 0;
        if (ts && vg_spm_encode(ts, sents[i], &got2, &ng2) == VG_OK)
            ok = ok && ng2 == ng && memcmp(got, got2, sizeof(int32_t) * (size_t)ng) == 0;
        free(got2);
        agree += ok;
        if (!ok && shown++ < 5) {
            char a[512], b[512];
            ids_str(a, sizeof(a), got, ng);
            ids_str(b, sizeof(b), want, nw < 1024 ? nw : 1024);
            printf("    [%s] '%s':\n      ours [%s]\n      spm  [%s]\n", tag, sents[i], a, b);
        }
        free(got);
        if (tj) {
            (*n_json)++;
            if (vg_spm_encode(tj, sents[i], &got, &ng) == VG_OK)
                *agree_json += ng == nw && memcmp(got, want, sizeof(int32_t) * (size_t)ng) == 0;
            free(got);
        }
    }
    free(ref);
    vg_spm_free(t);
    vg_spm_free(ts);
    vg_spm_free(tj);
    return agree;
}

VG_TEST(spm_unigram_matches_spm_encode) {
    char *out = NULL;
    int rc = vg_test_sh(&out, "command -v spm_train && command -v spm_encode && command -v spm_export_vocab");
    free(out);
    CHECKF(rc == 0, "spm_train/spm_encode/spm_export_vocab not found: install Debian package 'sentencepiece' "
                    "(`make test` does it via test-deps)");
    const char *dir = vg_test_tmpdir();
    vg_rng r;
    vg_rng_seed(&r, 2024);
    /* corpus: 3000 generated lines */
    size_t cap = 3000 * 256, o = 0;
    char *corpus = malloc(cap), line[512];
    CHECK(corpus);
    for (int i = 0; i < 3000; i++) {
        gen_sentence(&r, line, sizeof(line), true);
        o += (size_t)snprintf(corpus + o, cap - o, "%s\n", line);
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/corpus.txt", dir);
    CHECK(write_text(path, corpus));
    /* test sentences: 300 new generated ones plus the edge cases */
    int ne = (int)(sizeof(g_edge) / sizeof(g_edge[0])), ns = 300 + ne;
    char **sents = calloc((size_t)ns, sizeof(char *));
    o = 0;
    for (int i = 0; i < ns; i++) {
        if (i < 300) gen_sentence(&r, line, sizeof(line), i % 2 == 0);
        else snprintf(line, sizeof(line), "%s", g_edge[i - 300]);
        sents[i] = strdup(line);
        o += (size_t)snprintf(corpus + o, cap - o, "%s\n", line);
    }
    snprintf(path, sizeof(path), "%s/sents.txt", dir);
    CHECK(write_text(path, corpus));
    free(corpus);
    int aj = 0, na = 0;
    int a1 = run_against_spm(dir, "uni", false, sents, ns, &aj, &na);
    int aj2 = 0, na2 = 0;
    int a2 = run_against_spm(dir, "unibf", true, sents, ns, &aj2, &na2);
    printf("    spm_encode agreement: unigram %d/%d, byte_fallback %d/%d; tokenizer.json %d/%d, %d/%d\n",
           a1, ns, a2, ns, aj, na, aj2, na2);
    for (int i = 0; i < ns; i++) free(sents[i]);
    free(sents);
    CHECK(a1 == ns && a2 == ns);
    CHECK(na == ns && aj == na && aj2 == na2);
}
