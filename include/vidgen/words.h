/* words.h - word-level tokenizer of vidgen's own models. The vocabulary is the list stored in
 * the model's config.json; ids 0,1,2 are <pad>, </s>, <unk>. Text is lower-cased and split on
 * anything that is not a letter or digit (punctuation is dropped). Unknown words are never
 * dropped silently: they map to <unk> and are returned, each with its nearest known words. */
#ifndef VIDGEN_WORDS_H
#define VIDGEN_WORDS_H
#include <stddef.h>
#include <stdint.h>
#include "vidgen/status.h"

enum { VG_WORD_PAD = 0, VG_WORD_EOS = 1, VG_WORD_UNK = 2 };

typedef struct { char **words; int n; } vg_vocab;

/* Encodes text into ids (at most max_ids, the last being </s>); *n_ids real tokens incl. </s>.
 * unknown (may be NULL): receives a malloc'd report "word (did you mean: a, b, c)" joined by
 * "; " (NULL when all words are known); caller frees. VG_ERR_ARG if the text has more words
 * than max_ids - 1 (it names the limit). */
vg_status vg_words_encode(const vg_vocab *v, const char *text, int32_t *ids, int max_ids, int *n_ids,
                          char **unknown);
/* Index of word, -1 if absent. */
int vg_words_find(const vg_vocab *v, const char *w);
/* Levenshtein distance (for suggestions). */
int vg_edit_distance(const char *a, const char *b);
void vg_vocab_free(vg_vocab *v);

#endif
