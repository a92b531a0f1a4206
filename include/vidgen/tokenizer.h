/* tokenizer.h - prompt -> token ids.
 * (a) vg_wordtok: word-level tokenizer of vidgen's own models (vocabulary = a list of words
 *     from the model config). Unknown words are reported with their nearest known words.
 * (b) vg_spm: SentencePiece unigram tokenizer of umT5 (Wan2.1), from spiece.model, from a
 *     safetensors file's U8 tensor `spiece_model`, or from HF tokenizer.json.
 * Reference: Wan2.1 wan/modules/tokenizers.py (HuggingfaceTokenizer, clean='whitespace');
 * SentencePiece normalizer/unigram model (behaviour checked against spm_encode).
 * Special ids for both: <pad> = 0, </s> = 1, <unk> = 2. */
#ifndef VIDGEN_TOKENIZER_H
#define VIDGEN_TOKENIZER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vidgen/status.h"

enum { VG_TOK_PAD = 0, VG_TOK_EOS = 1, VG_TOK_UNK = 2, VG_TOK_MAX_LEN = 512 };

/* ---- result of an encode ------------------------------------------------------------- */
typedef struct {
    char *word;              /* the unknown word as tokenized (lowercased); owned by the result */
    int64_t position;        /* its index in ids (which holds VG_TOK_UNK there) */
    int n_near;              /* 0..3 */
    const char *near[3];     /* nearest known words, closest first (borrowed from the tokenizer) */
    int near_dist[3];        /* their edit distances (Damerau/OSA, in bytes) */
} vg_tok_unknown;

typedef struct {
    int32_t *ids;            /* [n] token ids, ending with </s> (1); owned */
    int64_t n;
    vg_tok_unknown *unknown; /* [n_unknown]; owned */
    int64_t n_unknown;
    int64_t n_truncated;     /* words cut off by max_len */
} vg_tok_result;
void vg_tok_result_free(vg_tok_result *r); /* frees the members; NULL ok */
/* "unknown word 'rde' (nearest: red, bed); ..." into buf (always NUL-terminated);
 * returns the length it needed. "" when nothing is unknown. */
size_t vg_tok_result_describe(const vg_tok_result *r, char *buf, size_t cap);

/* ---- (a) word-level ------------------------------------------------------------------ *
 * Word i of the list gets id 3 + i (0..2 are reserved), so the embedding has n + 3 rows.
 * Encoding: ASCII-lowercase; split on whitespace and on ASCII punctuation other than '-'
 * and '\'' (which stay inside words: "light-blue", "don't"). A punctuation character is
 * its own token when the vocabulary lists it (e.g. ","), otherwise it is dropped: the
 * caption grammar's ", getting darker" then reads the same with or without the comma.
 * Unknown words become <unk> AND are listed in the result; never dropped silently. */
typedef struct vg_wordtok vg_wordtok;
/* Copies the words (duplicates and empty words: VG_ERR_ARG). Caller frees with vg_wordtok_free. */
vg_status vg_wordtok_new(vg_wordtok **out, const char *const *words, int64_t n);
/* From JSON: an array of strings, or an object with such an array under "vocab" or "words". */
vg_status vg_wordtok_new_json(vg_wordtok **out, const char *json);
void vg_wordtok_free(vg_wordtok *t);
int64_t vg_wordtok_vocab_size(const vg_wordtok *t);            /* n + 3 */
const char *vg_wordtok_word(const vg_wordtok *t, int32_t id);  /* "<pad>" "</s>" "<unk>" or the word; NULL if out of range */
/* Encodes text into res (caller frees with vg_tok_result_free). max_len counts </s>; words
 * beyond max_len - 1 are cut (res->n_truncated). Errors: VG_ERR_ARG (max_len < 1), VG_ERR_OOM. */
vg_status vg_wordtok_encode(const vg_wordtok *t, const char *text, int64_t max_len, vg_tok_result *res);

/* ---- (b) SentencePiece unigram ------------------------------------------------------- *
 * Normalisation: the model's own precompiled charsmap (the NFKC-style table inside
 * spiece.model / tokenizer.json "Precompiled"), applied exactly as SentencePiece does
 * (longest match through its double-array trie); then whitespace: drop leading/trailing,
 * collapse runs, prepend U+2581 and map spaces to U+2581 (add_dummy_prefix,
 * remove_extra_whitespaces, escape_whitespaces as the model says). Segmentation: Viterbi
 * maximising the sum of piece scores; a character no piece covers becomes <unk> (score
 * min - 10; consecutive <unk> merge into one), or its UTF-8 bytes <0xXX> with byte_fallback.
 * Not handled: user_defined symbols get no special priority in normalisation, and
 * treat_whitespace_as_suffix models are refused (VG_ERR_UNSUPPORTED). */
typedef struct vg_spm vg_spm;
/* By file content: a safetensors file (reads U8 tensor "spiece_model"), a JSON file
 * (HF tokenizer.json, model.type "Unigram"), else a serialized ModelProto (spiece.model).
 * Errors: VG_ERR_IO, VG_ERR_FORMAT (malformed protobuf/JSON, not a unigram model), VG_ERR_OOM. */
vg_status vg_spm_load(vg_spm **out, const char *path);
vg_status vg_spm_from_proto(vg_spm **out, const void *data, size_t n);     /* copies what it needs */
vg_status vg_spm_from_tokenizer_json(vg_spm **out, const char *json);
void vg_spm_free(vg_spm *t);
int64_t vg_spm_size(const vg_spm *t);
const char *vg_spm_piece(const vg_spm *t, int32_t id);        /* NULL if out of range */
int32_t vg_spm_unk_id(const vg_spm *t);
bool vg_spm_byte_fallback(const vg_spm *t);
/* Plain SentencePiece encoding (as spm_encode --output_format=id): no cleaning, no </s>.
 * *ids malloc'd (caller frees), *n its length. */
vg_status vg_spm_encode(const vg_spm *t, const char *text, int32_t **ids, int64_t *n);
/* Wan's cleaning (clean='whitespace' minus ftfy): HTML-unescape twice (named entities
 * amp lt gt quot apos nbsp and numeric &#N; &#xH;), collapse every run of whitespace
 * (ASCII and Unicode spaces, as Python's \s) to one space, strip. Returns malloc'd text
 * (caller frees), NULL on OOM. */
char *vg_umt5_clean(const char *text);
/* The umT5 prompt as the DiT receives it: clean, encode, keep at most max_len - 1 pieces,
 * append </s>, pad with 0 to max_len. ids/mask [max_len] (mask 1 on the n_tok real tokens,
 * </s> included). max_len is usually VG_TOK_MAX_LEN. Errors: VG_ERR_ARG (max_len < 1), OOM. */
vg_status vg_umt5_tokenize(const vg_spm *t, const char *text, int32_t *ids, int32_t *mask,
                           int64_t max_len, int64_t *n_tok);

#endif
