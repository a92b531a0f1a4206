/* model.h - a vidgen model folder: config.json (architecture, vocabulary, defaults) and
 * model.safetensors (DiT keys as Wan's official names, text-encoder keys prefixed
 * "text_encoder."). Weights are held in f32 (our models are small); stored as F32 or BF16. */
#ifndef VIDGEN_MODEL_H
#define VIDGEN_MODEL_H
#include <stdbool.h>
#include <stdint.h>
#include "vidgen/dit.h"
#include "vidgen/t5.h"
#include "vidgen/tokenizer.h"

typedef struct {
    int width, height, frames, steps, window, chunk, chunk_overlap;
    float cfg_scale, flow_shift, fps;
    char sampler[16];
    char negative_prompt[256];
} vg_model_defaults;

typedef struct {
    char name[64];
    char dir[1024];
    vg_dit_config dcfg;
    vg_dit dit;                  /* owns its f32 parameters */
    vg_t5_config tcfg;
    vg_t5 t5;                    /* views into t5_params */
    float *t5_params;            /* [vg_t5_param_count] owned */
    char **vocab; int n_vocab;   /* config.json "vocabulary" (ids 0..2 are <pad> </s> <unk>) */
    vg_wordtok *tok;             /* word tokenizer over vocab[3..] */
    vg_model_defaults def;
    int train_frames, train_size;
    bool known_frames;           /* config "training": {"known_frames": true}: trained with clean known
                                  * first frames at timestep 0 (continuations and anchor get them so) */
    char hash[17];               /* FNV-1a 64 of model.safetensors, hex */
    char *config_json;           /* the config.json text (owned) */
} vg_model;

/* Opens DIR/config.json and DIR/model.safetensors. Errors name the file and what is wrong. */
vg_status vg_model_open(vg_model *m, const char *dir);
/* A fresh model (zeroed weights) from a config.json text; used by the trainer. */
vg_status vg_model_create(vg_model *m, const char *config_json, const char *what);
/* Writes DIR/config.json and DIR/model.safetensors atomically (dtype F32 or BF16). */
vg_status vg_model_save(const vg_model *m, const char *dir, vg_dtype dt);
void vg_model_close(vg_model *m);
/* The default model folder: $VIDGEN_MODEL, ./models/default, <exe>/../models/default,
 * <exe>/../share/vidgen/models/default, VG_DATADIR/models/default. */
vg_status vg_model_find_default(char *out, size_t n);

/* Prompt -> ids [text_len] (padded with 0) and the count of real tokens incl. </s>.
 * unknown (may be NULL): malloc'd report of words outside the vocabulary with their nearest
 * known words (NULL when none). VG_ERR_ARG when the prompt has more words than text_len - 1. */
vg_status vg_model_tokenize(const vg_model *m, const char *prompt, int32_t *ids, int *n_ids, char **unknown);
/* Text states for a prompt: ctx [text_len, text_dim] (zero-padded past the real tokens). */
vg_status vg_model_encode_text(const vg_model *m, const char *prompt, float *ctx, char **unknown);

#endif
