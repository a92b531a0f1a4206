/* gen_common.h - what `vidgen` (generate), `vidgen batch` and the Wan2.1 path (cmd_wan.c)
 * share, so each has ONE
 * implementation: the settings table (JSON key, --flag, type, range), parsing from flags and
 * JSON objects with messages, resolution against a model into a plan (defaults, init frames,
 * memory estimate), the render (vg_generate + PNG frames + APNG/GIF/Y4M + contact sheet +
 * vidgen.json written last, atomically). Errors go into a gen_err, never straight to stderr,
 * so batch can record them per job. */
#ifndef VIDGEN_GEN_COMMON_H
#define VIDGEN_GEN_COMMON_H
#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "vidgen/generate.h"
#include "vidgen/model.h"

/* T_LIST: comma-separated numbers (JSON: an array of numbers or such a string), kept as the string.
 * T_LORAS: "FILE[:SCALE]" entries, one per line: each --lora flag appends one; JSON "loras" is an
 * array of {"path": FILE, "scale": S} objects or "FILE[:SCALE]" strings. */
typedef enum { T_STR, T_INT, T_FLOAT, T_U64, T_BOOL, T_WINDOW, T_BYTES, T_LIST, T_LORAS } gen_stype;
typedef struct {
    const char *key;      /* JSON key */
    const char *flag;     /* --flag */
    const char *alias;    /* second spelling or NULL */
    gen_stype type;
    double lo, hi;
} gen_sdef;

/* S_DIT .. S_DRY and S_TIMESTEPS .. S_WARP, S_TAE, S_PREVIEW are Wan2.1-only (cmd_wan.c); S_UPSCALE, S_FORMAT, S_FPS, S_SHEET, S_INIT,
 * S_INIT_COUNT, S_ANCHOR, S_CHUNK and S_CHUNK_OV are for vidgen's own models only. Each path refuses the other's keys by name. */
enum { S_PROMPT, S_NEG, S_FRAMES, S_WIDTH, S_HEIGHT, S_STEPS, S_CFG, S_SEED, S_SAMPLER, S_SHIFT, S_WINDOW,
       S_MODEL, S_OUT, S_OVERWRITE, S_THREADS, S_QUIET, S_UPSCALE, S_MAXMEM, S_FORMAT, S_FPS, S_SHEET,
       S_INIT, S_INIT_COUNT, S_ANCHOR, S_CHUNK, S_CHUNK_OV, S_DIT, S_T5, S_VAE, S_TOK, S_DRY,
       S_TIMESTEPS, S_SIGMAS, S_WARP, S_LORA, S_WTYPE, S_TAE, S_PREVIEW, S_BF16, S_COUNT };
#define GEN_LIST_MAX 64 /* entries of --timesteps / --sigmas */
extern const gen_sdef gen_defs[S_COUNT];

typedef struct {
    bool set[S_COUNT];
    char *str[S_COUNT];   /* owned */
    double num[S_COUNT];
    uint64_t u64[S_COUNT];
    int64_t bytes[S_COUNT];
} gen_settings;

/* An error for the CLI to print or for batch to record: exit code (1 runtime, 2 usage). */
typedef struct { int code; char msg[1024]; char hint[256]; } gen_err;
int gen_fail(gen_err *e, int code, const char *hint, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The library's last error as a runtime error. */
int gen_fail_lib(gen_err *e, const char *hint);
/* Prints it as "vidgen: error: ..." (+ hint) and returns its code. */
int gen_err_print(const gen_err *e);

int gen_find_flag(const char *name);   /* index of --flag or alias, -1 */
int gen_find_key(const char *key);     /* index of a JSON key, -1 */
/* Parses val for setting k (where: "command line", a file name, "job 3") into s. */
int gen_apply(gen_settings *s, int k, const char *val, const char *where, gen_err *e);
/* Applies every key of a JSON object; keys listed in skip (NULL-terminated) are left to the
 * caller. Unknown keys and wrong types are usage errors naming where and the key. */
int gen_apply_json(gen_settings *s, const cJSON *obj, const char *where, const char *const *skip, gen_err *e);
/* Reads a JSON settings file (one object) into s. */
int gen_load_config(gen_settings *s, const char *path, gen_err *e);
/* Command-line settings argv[1..] (flags, --flag=value, --config FILE under the flags; a
 * leading "generate" word is skipped) into s, which starts empty. help_hint goes with an
 * unknown option. --help/--version are the caller's (checked before). */
int gen_parse_argv(gen_settings *s, int argc, char **argv, const char *help_hint, gen_err *e);
/* The first of keys[0..n) that s sets, or -1 (to refuse settings a path does not take). */
int gen_first_set(const gen_settings *s, const int *keys, int n);
/* dst gets every setting that src sets (strings copied). */
void gen_overlay(gen_settings *dst, const gen_settings *src);
void gen_settings_free(gen_settings *s);

enum { FMT_APNG = 1, FMT_GIF = 2, FMT_Y4M = 4, FMT_Y4M420 = 8 };

/* Everything a render needs, resolved against a model. Owns init. */
typedef struct {
    vg_gen_params p;        /* strings borrow from the settings and model */
    int upscale;
    double fps;
    unsigned formats;       /* FMT_* */
    bool sheet, quiet;
    const char *init_dir;   /* borrowed, NULL when none */
    uint8_t *init;          /* [n_init][H][W][3] at the model's size (owned) */
    int n_init;
    char init_hash[17];
    int64_t need_bytes;     /* memory estimate for the whole run */
    int64_t max_memory;     /* --max-memory, 0 = none */
    const char *loras;      /* borrowed: "FILE[:SCALE]" lines (S_LORA), NULL when none; the model
                             * must have them merged (gen_merge_loras) before the render */
} gen_plan;

/* Merges each "FILE[:SCALE]" line of list into dit (vg_lora_apply); warns on stderr about keys
 * the model lacks unless quiet. Errors name the file (code 1; 2 for a malformed spec). */
int gen_merge_loras(vg_dit *dit, const char *list, bool quiet, gen_err *e);

/* Effective settings: model defaults where unset; validates size against the patch, sampler,
 * formats, init frames (read and resized to the model size). Usage errors are code 2. */
int gen_plan_make(gen_plan *pl, const gen_settings *s, const vg_model *m, gen_err *e);
void gen_plan_free(gen_plan *pl);
/* Refuses runs over --max-memory or over MemAvailable (code 1). */
int gen_plan_check_memory(const gen_plan *pl, gen_err *e);
/* Every effective setting as vidgen.json keys (no timings, no dates): caller deletes. Batch
 * compares it with a clip's vidgen.json to recognise a finished clip. */
cJSON *gen_plan_meta(const gen_plan *pl, const vg_model *m);

/* True when dir holds frame_*.png, clip.* outputs, sheet.png or vidgen.json. */
bool gen_dir_has_outputs(const char *dir);
/* Removes frame files numbered above keep and clip/sheet files not in formats/sheet. */
void gen_remove_stale(const char *dir, int keep, unsigned formats, bool sheet);

/* Renders pl into dir (created): generates, writes frames and formats, then vidgen.json
 * (meta + extra's items + timings) last and atomically, so a folder with a vidgen.json is
 * complete. dir "-" with formats == FMT_Y4M or FMT_Y4M420 streams Y4M to stdout only. */
int gen_render(const gen_plan *pl, const vg_model *m, const char *dir, const cJSON *extra, vg_gen_stats *st, gen_err *e);

#endif
