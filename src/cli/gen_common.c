/* gen_common.c - the one implementation of settings, plans and rendering behind `vidgen`
 * (cmd_generate.c) and `vidgen batch` (cmd_batch.c); see gen_common.h.
 * Precedence is the caller's: it applies layers in order (model defaults < files < flags).
 * Output folder layout: frame_0001.png .. (tEXt "parameters"), clip.apng, clip.gif,
 * clip.y4m, sheet.png, vidgen.json (written last: its presence means the clip is complete). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "gen_common.h"
#include "vidgen/io.h"
#include "vidgen/lora.h"
#include "vidgen/video.h"

const gen_sdef gen_defs[S_COUNT] = {
    [S_PROMPT] = {"prompt", "--prompt", "-p", T_STR, 0, 0},
    [S_NEG] = {"negative_prompt", "--negative-prompt", "-n", T_STR, 0, 0},
    [S_FRAMES] = {"frames", "--frames", "--video-frames", T_INT, 1, 100000},
    [S_WIDTH] = {"width", "--width", "-W", T_INT, 1, 8192},
    [S_HEIGHT] = {"height", "--height", "-H", T_INT, 1, 8192},
    [S_STEPS] = {"steps", "--steps", NULL, T_INT, 1, 1000},
    [S_CFG] = {"cfg_scale", "--cfg-scale", NULL, T_FLOAT, 0, 100},
    [S_SEED] = {"seed", "--seed", "-s", T_U64, 0, 0},
    [S_SAMPLER] = {"sampler", "--sampler", NULL, T_STR, 0, 0},
    [S_SHIFT] = {"flow_shift", "--flow-shift", NULL, T_FLOAT, 0.01, 100},
    [S_WINDOW] = {"temporal_window", "--temporal-window", NULL, T_WINDOW, 0, 100000},
    [S_MODEL] = {"model", "--model", "-m", T_STR, 0, 0},
    [S_OUT] = {"out", "--out", "-o", T_STR, 0, 0},
    [S_OVERWRITE] = {"overwrite", "--overwrite", NULL, T_BOOL, 0, 0},
    [S_THREADS] = {"threads", "--threads", "-t", T_INT, 1, 1024},
    [S_QUIET] = {"quiet", "--quiet", "-q", T_BOOL, 0, 0},
    [S_UPSCALE] = {"upscale", "--upscale", NULL, T_INT, 1, 16},
    [S_MAXMEM] = {"max_memory", "--max-memory", NULL, T_BYTES, 0, 0},
    [S_FORMAT] = {"format", "--format", NULL, T_STR, 0, 0},
    [S_FPS] = {"fps", "--fps", NULL, T_FLOAT, 0.01, 655},
    [S_SHEET] = {"sheet", "--sheet", NULL, T_BOOL, 0, 0},
    [S_INIT] = {"init_frames", "--init-frames", NULL, T_STR, 0, 0},
    [S_INIT_COUNT] = {"init_count", "--init-count", NULL, T_INT, 1, 100000},
    [S_ANCHOR] = {"anchor", "--anchor", NULL, T_INT, 0, 1},
    [S_CHUNK] = {"chunk", "--chunk", NULL, T_INT, 0, 100000},
    [S_CHUNK_OV] = {"chunk_overlap", "--chunk-overlap", NULL, T_INT, 1, 100000},
    [S_DIT] = {"diffusion_model", "--diffusion-model", NULL, T_STR, 0, 0},
    [S_T5] = {"text_encoder", "--text-encoder", NULL, T_STR, 0, 0},
    [S_VAE] = {"vae", "--vae", NULL, T_STR, 0, 0},
    [S_TOK] = {"tokenizer", "--tokenizer", NULL, T_STR, 0, 0},
    [S_DRY] = {"dry_run", "--dry-run", NULL, T_BOOL, 0, 0},
    [S_TIMESTEPS] = {"timesteps", "--timesteps", NULL, T_LIST, 0, 1000},
    [S_SIGMAS] = {"sigmas", "--sigmas", NULL, T_LIST, 0, 1},
    [S_WARP] = {"warp_timesteps", "--warp-timesteps", NULL, T_BOOL, 0, 0},
    [S_LORA] = {"loras", "--lora", NULL, T_LORAS, 0, 0},
    [S_WTYPE] = {"type", "--type", NULL, T_STR, 0, 0},
    [S_TAE] = {"tae", "--tae", NULL, T_STR, 0, 0},
    [S_PREVIEW] = {"preview", "--preview", NULL, T_INT, 1, 1000},
    [S_BF16] = {"bf16", "--bf16", NULL, T_BOOL, 0, 0},
};

/* ---- errors ------------------------------------------------------------------------- */

int gen_fail(gen_err *e, int code, const char *hint, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    snprintf(e->hint, sizeof(e->hint), "%s", hint ? hint : "");
    e->code = code;
    return code;
}

int gen_fail_lib(gen_err *e, const char *hint) { return gen_fail(e, CLI_RUNTIME, hint, "%s", vg_last_error()); }

int gen_err_print(const gen_err *e) { return cli_error(e->code, e->hint[0] ? e->hint : NULL, "%s", e->msg); }

/* ---- settings ----------------------------------------------------------------------- */

int gen_find_flag(const char *name) {
    for (int j = 0; j < S_COUNT; j++)
        if (!strcmp(name, gen_defs[j].flag) || (gen_defs[j].alias && !strcmp(name, gen_defs[j].alias))) return j;
    return -1;
}

int gen_find_key(const char *key) {
    for (int j = 0; j < S_COUNT; j++)
        if (!strcmp(key, gen_defs[j].key)) return j;
    return -1;
}

int gen_apply(gen_settings *s, int k, const char *val, const char *where, gen_err *e) {
    const gen_sdef *d = &gen_defs[k];
    long iv;
    double fv;
    switch (d->type) {
    case T_LIST: {
        double tmp[GEN_LIST_MAX];
        if (vg_parse_number_list(val, tmp, GEN_LIST_MAX) < 0)
            return gen_fail(e, CLI_USAGE, "e.g. --timesteps 1000,750,500,250 or --sigmas 1,0.9375,0.8333,0.625",
                            "%s: %s must be a comma-separated list of at most %d numbers, got '%s'", where, d->flag, GEN_LIST_MAX, val);
    } /* kept as the string: */
    /* FALLTHRU */
    case T_STR: {
        char *c = strdup(val);
        if (!c) return gen_fail(e, CLI_RUNTIME, NULL, "out of memory");
        free(s->str[k]);
        s->str[k] = c;
        break;
    }
    case T_LORAS: { /* appends one entry */
        if (!val[0] || strchr(val, '\n'))
            return gen_fail(e, CLI_USAGE, "--lora FILE[:SCALE], e.g. --lora causvid.safetensors:0.8", "%s: %s needs a file name", where, d->flag);
        size_t a = s->str[k] ? strlen(s->str[k]) : 0, b = strlen(val);
        char *c = realloc(s->str[k], a + b + 2);
        if (!c) return gen_fail(e, CLI_RUNTIME, NULL, "out of memory");
        if (a) c[a++] = '\n';
        memcpy(c + a, val, b + 1);
        s->str[k] = c;
        break;
    }
    case T_INT:
        if (!cli_parse_int(val, (long)d->lo, (long)d->hi, &iv))
            return gen_fail(e, CLI_USAGE, NULL, "%s: %s must be an integer in [%g, %g], got '%s'", where, d->flag, d->lo, d->hi, val);
        s->num[k] = (double)iv;
        break;
    case T_FLOAT:
        if (!cli_parse_float(val, d->lo, d->hi, &fv))
            return gen_fail(e, CLI_USAGE, NULL, "%s: %s must be a number in [%g, %g], got '%s'", where, d->flag, d->lo, d->hi, val);
        s->num[k] = fv;
        break;
    case T_U64:
        if (!cli_parse_u64(val, &s->u64[k]))
            return gen_fail(e, CLI_USAGE, NULL, "%s: %s must be a non-negative integer, got '%s'", where, d->flag, val);
        break;
    case T_BOOL:
        s->num[k] = (strcmp(val, "false") && strcmp(val, "0")) ? 1 : 0;
        break;
    case T_WINDOW:
        if (strcmp(val, "all") == 0) s->num[k] = -1;
        else if (cli_parse_int(val, 0, 100000, &iv)) s->num[k] = (double)iv;
        else return gen_fail(e, CLI_USAGE, "use a frame count such as 2, or 'all'", "%s: %s must be a non-negative integer or 'all', got '%s'", where, d->flag, val);
        break;
    case T_BYTES:
        if (!cli_parse_bytes(val, &s->bytes[k]))
            return gen_fail(e, CLI_USAGE, "e.g. 512M or 2G", "%s: %s must be a size, got '%s'", where, d->flag, val);
        break;
    }
    s->set[k] = true;
    return 0;
}

int gen_apply_json(gen_settings *s, const cJSON *o, const char *where, const char *const *skip, gen_err *e) {
    if (!cJSON_IsObject(o)) return gen_fail(e, CLI_USAGE, NULL, "%s: expected a JSON object of settings", where);
    for (const cJSON *it = o->child; it; it = it->next) {
        bool skipped = false;
        for (int i = 0; skip && skip[i]; i++) if (!strcmp(it->string, skip[i])) skipped = true;
        if (skipped) continue;
        int k = gen_find_key(it->string);
        if (k < 0) {
            char hint[512] = "known keys:";
            for (int j = 0; j < S_COUNT; j++)
                snprintf(hint + strlen(hint), sizeof(hint) - strlen(hint), "%s %s", j ? "," : "", gen_defs[j].key);
            return gen_fail(e, CLI_USAGE, hint, "%s: unknown key \"%s\"", where, it->string);
        }
        char buf[64];
        const char *val;
        if (gen_defs[k].type == T_LIST && cJSON_IsArray(it)) { /* [1000, 750, ...] */
            char lb[GEN_LIST_MAX * 24 + 1] = "";
            int n = 0;
            for (const cJSON *x = it->child; x; x = x->next, n++) {
                if (!cJSON_IsNumber(x) || n >= GEN_LIST_MAX)
                    return gen_fail(e, CLI_USAGE, NULL, "%s: \"%s\" must be an array of at most %d numbers", where, it->string, GEN_LIST_MAX);
                snprintf(lb + strlen(lb), sizeof(lb) - strlen(lb), "%s%.17g", n ? "," : "", x->valuedouble);
            }
            int rc = gen_apply(s, k, lb, where, e);
            if (rc) return rc;
            continue;
        }
        if (gen_defs[k].type == T_LORAS) { /* [{"path": ..., "scale": ...} or "FILE[:SCALE]", ...] */
            if (!cJSON_IsArray(it))
                return gen_fail(e, CLI_USAGE, "\"loras\": [{\"path\": \"lora.safetensors\", \"scale\": 1.0}]", "%s: \"loras\" must be an array", where);
            free(s->str[k]); s->str[k] = NULL; s->set[k] = false; /* a file's list replaces an earlier one */
            int n = 0;
            for (const cJSON *x = it->child; x; x = x->next, n++) {
                char eb[4200];
                if (cJSON_IsString(x)) snprintf(eb, sizeof(eb), "%s", x->valuestring);
                else {
                    const cJSON *pth = cJSON_GetObjectItemCaseSensitive(x, "path"), *sc = cJSON_GetObjectItemCaseSensitive(x, "scale");
                    if (!cJSON_IsObject(x) || !cJSON_IsString(pth) || (sc && !cJSON_IsNumber(sc)))
                        return gen_fail(e, CLI_USAGE, "\"loras\": [{\"path\": \"lora.safetensors\", \"scale\": 1.0}]",
                                        "%s: loras[%d] must be {\"path\": string, \"scale\": number}", where, n);
                    for (const cJSON *y = x->child; y; y = y->next)
                        if (strcmp(y->string, "path") && strcmp(y->string, "scale"))
                            return gen_fail(e, CLI_USAGE, NULL, "%s: loras[%d]: unknown key \"%s\" (path, scale)", where, n, y->string);
                    if (sc) snprintf(eb, sizeof(eb), "%s:%.9g", pth->valuestring, sc->valuedouble);
                    else snprintf(eb, sizeof(eb), "%s", pth->valuestring);
                }
                int rc = gen_apply(s, k, eb, where, e);
                if (rc) return rc;
            }
            continue;
        }
        if (cJSON_IsString(it)) val = it->valuestring;
        else if (cJSON_IsBool(it)) val = cJSON_IsTrue(it) ? "true" : "false";
        else if (cJSON_IsNumber(it)) {
            if (it->valuedouble == floor(it->valuedouble) && fabs(it->valuedouble) < 1e15) snprintf(buf, sizeof(buf), "%.0f", it->valuedouble);
            else snprintf(buf, sizeof(buf), "%.9g", it->valuedouble);
            val = buf;
        } else return gen_fail(e, CLI_USAGE, NULL, "%s: \"%s\" has the wrong type", where, it->string);
        if (gen_defs[k].type == T_BOOL && !cJSON_IsBool(it)) return gen_fail(e, CLI_USAGE, NULL, "%s: \"%s\" must be true or false", where, it->string);
        if (gen_defs[k].type == T_STR && !cJSON_IsString(it)) return gen_fail(e, CLI_USAGE, NULL, "%s: \"%s\" must be a string", where, it->string);
        int rc = gen_apply(s, k, val, where, e);
        if (rc) return rc;
    }
    return 0;
}

int gen_load_config(gen_settings *s, const char *path, gen_err *e) {
    char *txt = NULL;
    if (vg_file_read(path, &txt, NULL)) return gen_fail_lib(e, NULL);
    cJSON *o = cJSON_Parse(txt);
    free(txt);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return gen_fail(e, CLI_USAGE, "the config file must hold one JSON object, e.g. {\"prompt\": \"...\", \"frames\": 16}", "%s: not a valid JSON object", path);
    }
    int rc = gen_apply_json(s, o, path, NULL, e);
    cJSON_Delete(o);
    return rc;
}

int gen_parse_argv(gen_settings *s, int argc, char **argv, const char *help_hint, gen_err *e) {
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "generate") && i == 1) continue;
        const char *val = NULL, *eq = strchr(a, '=');
        char name[64];
        snprintf(name, sizeof(name), "%.*s", eq && a[0] == '-' && a[1] == '-' ? (int)(eq - a) : (int)strlen(a), a);
        if (eq && a[1] == '-') val = eq + 1;
        if (!strcmp(name, "--config")) {
            if (!val && i + 1 >= argc) return gen_fail(e, CLI_USAGE, NULL, "--config needs a file");
            config = val ? val : argv[++i];
            continue;
        }
        int k = gen_find_flag(name);
        if (k < 0) return gen_fail(e, CLI_USAGE, help_hint, "unknown option '%s'", a);
        if (gen_defs[k].type == T_BOOL) {
            int rc = gen_apply(s, k, val ? val : "true", "command line", e);
            if (rc) return rc;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) return gen_fail(e, CLI_USAGE, help_hint, "%s needs a value", name);
            val = argv[++i];
        }
        int rc = gen_apply(s, k, val, "command line", e);
        if (rc) return rc;
    }
    if (config) { /* precedence: config file < command line */
        gen_settings file = {0};
        int rc = gen_load_config(&file, config, e);
        if (rc) { gen_settings_free(&file); return rc; }
        gen_overlay(&file, s);
        gen_settings_free(s);
        *s = file;
    }
    return 0;
}

int gen_first_set(const gen_settings *s, const int *keys, int n) {
    for (int i = 0; i < n; i++)
        if (s->set[keys[i]]) return keys[i];
    return -1;
}

void gen_overlay(gen_settings *dst, const gen_settings *src) {
    for (int k = 0; k < S_COUNT; k++)
        if (src->set[k]) {
            if (gen_defs[k].type == T_STR || gen_defs[k].type == T_LIST || gen_defs[k].type == T_LORAS) {
                free(dst->str[k]);
                dst->str[k] = strdup(src->str[k]);
            }
            dst->num[k] = src->num[k];
            dst->u64[k] = src->u64[k];
            dst->bytes[k] = src->bytes[k];
            dst->set[k] = true;
        }
}

void gen_settings_free(gen_settings *s) {
    for (int k = 0; k < S_COUNT; k++) { free(s->str[k]); s->str[k] = NULL; }
}

/* ---- init frames -------------------------------------------------------------------- */

/* Area-weighted resize (exact inverse of a nearest-neighbour integer upscale). */
static void resize_area(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh) {
    const double fx = (double)sw / dw, fy = (double)sh / dh;
    for (int oy = 0; oy < dh; oy++) {
        double y0 = oy * fy, y1 = (oy + 1) * fy;
        for (int ox = 0; ox < dw; ox++) {
            double x0 = ox * fx, x1 = (ox + 1) * fx, acc[3] = {0}, wsum = 0;
            for (int sy = (int)y0; sy < sh && sy < y1; sy++) {
                double wy = fmin(y1, sy + 1) - fmax(y0, sy);
                for (int sx = (int)x0; sx < sw && sx < x1; sx++) {
                    double wgt = wy * (fmin(x1, sx + 1) - fmax(x0, sx));
                    for (int c = 0; c < 3; c++) acc[c] += wgt * src[((size_t)sy * sw + sx) * 3 + c];
                    wsum += wgt;
                }
            }
            for (int c = 0; c < 3; c++) dst[((size_t)oy * dw + ox) * 3 + c] = (uint8_t)lrint(acc[c] / wsum);
        }
    }
}

static int cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

/* Reads PATH (one PNG: a picture to start from) or PATH/frame_NNNN.png (a clip to continue;
 * the last `count` frames when count > 0) into pl->init at w x h. */
static int load_init(gen_plan *pl, const char *path, int count, int w, int h, gen_err *e) {
    struct stat sb;
    if (stat(path, &sb) != 0) return gen_fail(e, CLI_RUNTIME, NULL, "%s: --init-frames: %s", path, strerror(errno));
    int *nums = NULL, n = 0, cap = 0;
    bool single = !S_ISDIR(sb.st_mode);
    if (!single) {
        DIR *d = opendir(path);
        if (!d) return gen_fail(e, CLI_RUNTIME, NULL, "%s: cannot open: %s", path, strerror(errno));
        struct dirent *de;
        while ((de = readdir(d))) {
            int k;
            char tail[8];
            if (sscanf(de->d_name, "frame_%d.%7s", &k, tail) == 2 && !strcmp(tail, "png") && k > 0) {
                if (n == cap) { cap = cap ? 2 * cap : 64; int *nn = realloc(nums, sizeof(int) * cap); if (!nn) { free(nums); closedir(d); return gen_fail(e, CLI_RUNTIME, NULL, "out of memory"); } nums = nn; }
                nums[n++] = k;
            }
        }
        closedir(d);
        if (!n) { free(nums); return gen_fail(e, CLI_RUNTIME, "pass a folder written by vidgen, or one PNG picture", "%s: no frame_NNNN.png files", path); }
        qsort(nums, (size_t)n, sizeof(int), cmp_int);
        for (int i = 0; i < n; i++)
            if (nums[i] != i + 1) { int want = i + 1; free(nums); return gen_fail(e, CLI_RUNTIME, NULL, "%s: frame_%04d.png is missing (frames must be numbered 1..N)", path, want); }
    } else n = 1;
    int first = count > 0 && count < n ? n - count : 0;
    pl->n_init = n - first;
    pl->init = malloc((size_t)pl->n_init * w * h * 3);
    if (!pl->init) { free(nums); return gen_fail(e, CLI_RUNTIME, NULL, "out of memory for %d init frames", pl->n_init); }
    for (int i = 0; i < pl->n_init; i++) {
        char p[4200];
        if (single) snprintf(p, sizeof(p), "%s", path);
        else snprintf(p, sizeof(p), "%s/frame_%04d.png", path, first + i + 1);
        uint8_t *rgb;
        int iw, ih;
        if (vg_png_read(p, &rgb, &iw, &ih)) { free(nums); return gen_fail_lib(e, NULL); }
        uint8_t *dst = pl->init + (size_t)i * w * h * 3;
        if (iw == w && ih == h) memcpy(dst, rgb, (size_t)w * h * 3);
        else resize_area(dst, w, h, rgb, iw, ih);
        free(rgb);
    }
    free(nums);
    uint64_t hsh = 1469598103934665603ull; /* FNV-1a 64 of the pixels used */
    for (size_t i = 0; i < (size_t)pl->n_init * w * h * 3; i++) hsh = (hsh ^ pl->init[i]) * 1099511628211ull;
    snprintf(pl->init_hash, sizeof(pl->init_hash), "%016llx", (unsigned long long)hsh);
    return 0;
}

/* ---- plan --------------------------------------------------------------------------- */

static int parse_formats(const char *s, unsigned *out, gen_err *e) {
    *out = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        while (*tok == ' ') tok++;
        if (!strcmp(tok, "png")) continue; /* the frames are always written */
        else if (!strcmp(tok, "apng")) *out |= FMT_APNG;
        else if (!strcmp(tok, "gif")) *out |= FMT_GIF;
        else if (!strcmp(tok, "y4m")) *out |= FMT_Y4M;
        else if (!strcmp(tok, "y4m420")) *out |= FMT_Y4M420;
        else return gen_fail(e, CLI_USAGE, "formats: png, apng, gif, y4m (C444), y4m420 (C420jpeg); combine with commas", "unknown format '%s'", tok);
    }
    if ((*out & FMT_Y4M) && (*out & FMT_Y4M420)) return gen_fail(e, CLI_USAGE, NULL, "choose one of y4m and y4m420 (both write clip.y4m)");
    return 0;
}

int gen_plan_make(gen_plan *pl, const gen_settings *s, const vg_model *m, gen_err *e) {
    memset(pl, 0, sizeof(*pl));
    vg_gen_params *p = &pl->p;
    static const int wan_only[] = {S_DIT, S_T5, S_VAE, S_TOK, S_DRY, S_TIMESTEPS, S_SIGMAS, S_WARP, S_WTYPE, S_TAE, S_PREVIEW, S_BF16};
    int w = gen_first_set(s, wan_only, (int)(sizeof(wan_only) / sizeof(wan_only[0])));
    if (w >= 0)
        return gen_fail(e, CLI_USAGE, "the Wan2.1 files are named with --model WAN_DIR or --diffusion-model/--text-encoder/--vae",
                        "%s is for Wan2.1 checkpoints, not vidgen's own model '%s'", gen_defs[w].flag, m->name);
    if (!s->set[S_PROMPT] || !s->str[S_PROMPT][0])
        return gen_fail(e, CLI_USAGE, "vidgen --prompt \"a big red ball bouncing on a blue background\"", "no prompt given");
    vg_sampler sampler = VG_SAMPLER_EULER;
    if (s->set[S_SAMPLER] && !vg_sampler_from_name(s->str[S_SAMPLER], &sampler))
        return gen_fail(e, CLI_USAGE, "samplers: euler, unipc", "unknown sampler '%s'", s->str[S_SAMPLER]);
    if (!s->set[S_SAMPLER] && !vg_sampler_from_name(m->def.sampler, &sampler)) sampler = VG_SAMPLER_EULER;
    p->prompt = s->str[S_PROMPT];
    p->negative_prompt = s->set[S_NEG] ? s->str[S_NEG] : m->def.negative_prompt;
    p->width = s->set[S_WIDTH] ? (int)s->num[S_WIDTH] : m->def.width;
    p->height = s->set[S_HEIGHT] ? (int)s->num[S_HEIGHT] : m->def.height;
    p->steps = s->set[S_STEPS] ? (int)s->num[S_STEPS] : m->def.steps;
    p->cfg_scale = s->set[S_CFG] ? (float)s->num[S_CFG] : m->def.cfg_scale;
    p->flow_shift = s->set[S_SHIFT] ? (float)s->num[S_SHIFT] : m->def.flow_shift;
    p->seed = s->set[S_SEED] ? s->u64[S_SEED] : 0;
    p->window = s->set[S_WINDOW] ? (int)s->num[S_WINDOW] : m->def.window;
    p->sampler = sampler;
    pl->loras = s->set[S_LORA] ? s->str[S_LORA] : NULL;
    p->anchor = s->set[S_ANCHOR] ? (int)s->num[S_ANCHOR] : m->known_frames;
    p->chunk = s->set[S_CHUNK] ? (int)s->num[S_CHUNK] : m->def.chunk;
    p->chunk_overlap = s->set[S_CHUNK_OV] ? (int)s->num[S_CHUNK_OV] : m->def.chunk_overlap;
    if (p->chunk > 0 && (p->chunk_overlap < 1 || p->chunk_overlap >= p->chunk))
        return gen_fail(e, CLI_USAGE, "e.g. --chunk 8 --chunk-overlap 3", "--chunk-overlap %d must be 1..%d for chunks of %d frames",
                        p->chunk_overlap, p->chunk - 1, p->chunk);
    pl->upscale = s->set[S_UPSCALE] ? (int)s->num[S_UPSCALE] : 1;
    pl->fps = s->set[S_FPS] ? s->num[S_FPS] : (m->def.fps > 0 ? m->def.fps : 8);
    pl->sheet = s->set[S_SHEET] && s->num[S_SHEET] != 0;
    pl->quiet = s->set[S_QUIET] && s->num[S_QUIET] != 0;
    pl->max_memory = s->set[S_MAXMEM] ? s->bytes[S_MAXMEM] : 0;
    int rc;
    if (s->set[S_FORMAT] && (rc = parse_formats(s->str[S_FORMAT], &pl->formats, e))) return rc;
    int ph = m->dcfg.patch[1], pw = m->dcfg.patch[2];
    if (p->width % pw || p->height % ph) {
        int sw = (p->width + pw / 2) / pw * pw, sh = (p->height + ph / 2) / ph * ph;
        char hint[96];
        snprintf(hint, sizeof(hint), "try --width %d --height %d", sw < pw ? pw : sw, sh < ph ? ph : sh);
        return gen_fail(e, CLI_USAGE, hint, "size %dx%d is not a multiple of the model's patch %dx%d", p->width, p->height, pw, ph);
    }
    if (s->set[S_INIT_COUNT] && !s->set[S_INIT]) return gen_fail(e, CLI_USAGE, NULL, "--init-count needs --init-frames");
    if (s->set[S_INIT]) {
        pl->init_dir = s->str[S_INIT];
        if ((rc = load_init(pl, pl->init_dir, s->set[S_INIT_COUNT] ? (int)s->num[S_INIT_COUNT] : 0, p->width, p->height, e))) {
            gen_plan_free(pl);
            return rc;
        }
        p->init_frames = pl->init;
        p->n_init = pl->n_init;
    }
    p->frames = s->set[S_FRAMES] ? (int)s->num[S_FRAMES] : pl->n_init + m->def.frames;
    if (pl->n_init && p->frames <= pl->n_init) {
        char hint[96];
        snprintf(hint, sizeof(hint), "e.g. --frames %d continues them by %d frames", pl->n_init + m->def.frames, m->def.frames);
        int n = pl->n_init;
        gen_plan_free(pl);
        return gen_fail(e, CLI_USAGE, hint, "--frames %d leaves nothing to generate after the %d init frames (the count includes them)", p->frames, n);
    }
    /* memory: the sampler's estimate + the 8-bit clip, its upscaled copy and the init frames */
    pl->need_bytes = vg_generate_mem_estimate(m, p) +
                     (int64_t)p->frames * p->width * p->height * 3 * (1 + pl->upscale * pl->upscale) +
                     (int64_t)pl->n_init * p->width * p->height * 3 * 5;
    return 0;
}

int gen_merge_loras(vg_dit *dit, const char *list, bool quiet, gen_err *e) {
    for (const char *l = list; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        char spec[4200], path[4200];
        float sc;
        snprintf(spec, sizeof(spec), "%.*s", (int)n, l);
        if (!vg_lora_parse_spec(spec, path, sizeof(path), &sc))
            return gen_fail(e, CLI_USAGE, "--lora FILE[:SCALE], e.g. --lora style.safetensors:0.8", "--lora '%s': expected FILE[:SCALE]", spec);
        vg_lora_report rep;
        if (vg_lora_apply(dit, path, sc, &rep)) return gen_fail_lib(e, NULL);
        if (rep.unmatched && !quiet)
            fprintf(stderr, "vidgen: warning: %s: %d LoRA key%s this model lacks, ignored: %s%s\n", path, rep.unmatched,
                    rep.unmatched > 1 ? "s" : "", rep.unmatched_names, rep.unmatched > 8 ? ", ..." : "");
        l = nl ? nl + 1 : l + n;
    }
    return 0;
}

void gen_plan_free(gen_plan *pl) {
    free(pl->init);
    pl->init = NULL;
    pl->p.init_frames = NULL;
}

int gen_plan_check_memory(const gen_plan *pl, gen_err *e) {
    int64_t avail = cli_mem_available();
    if (pl->max_memory && pl->need_bytes > pl->max_memory)
        return gen_fail(e, CLI_RUNTIME, "lower --frames or the size, or raise --max-memory", "this run needs about %.1f MiB, over --max-memory %.1f MiB",
                        pl->need_bytes / 1048576.0, pl->max_memory / 1048576.0);
    if (avail > 0 && pl->need_bytes > avail)
        return gen_fail(e, CLI_RUNTIME, "lower --frames or the size", "this run needs about %.1f MiB but only %.1f MiB are available",
                        pl->need_bytes / 1048576.0, avail / 1048576.0);
    return 0;
}

cJSON *gen_plan_meta(const gen_plan *pl, const vg_model *m) {
    const vg_gen_params *p = &pl->p;
    cJSON *meta = cJSON_CreateObject();
    if (!meta) return NULL; /* out of memory: the caller reports it */
    cJSON_AddStringToObject(meta, "vidgen_version", VG_VERSION);
    cJSON_AddStringToObject(meta, "prompt", p->prompt);
    cJSON_AddStringToObject(meta, "negative_prompt", p->negative_prompt);
    cJSON_AddNumberToObject(meta, "frames", p->frames);
    cJSON_AddNumberToObject(meta, "width", p->width * pl->upscale);
    cJSON_AddNumberToObject(meta, "height", p->height * pl->upscale);
    cJSON_AddNumberToObject(meta, "native_width", p->width);
    cJSON_AddNumberToObject(meta, "native_height", p->height);
    cJSON_AddNumberToObject(meta, "upscale", pl->upscale);
    cJSON_AddNumberToObject(meta, "steps", p->steps);
    cJSON_AddNumberToObject(meta, "cfg_scale", p->cfg_scale);
    char seedbuf[32];
    snprintf(seedbuf, sizeof(seedbuf), "%llu", (unsigned long long)p->seed);
    cJSON_AddRawToObject(meta, "seed", seedbuf);
    cJSON_AddStringToObject(meta, "sampler", vg_sampler_name(p->sampler));
    cJSON_AddNumberToObject(meta, "flow_shift", p->flow_shift);
    if (p->window < 0) cJSON_AddStringToObject(meta, "temporal_window", "all");
    else cJSON_AddNumberToObject(meta, "temporal_window", p->window);
    cJSON_AddNumberToObject(meta, "fps", pl->fps);
    if (pl->loras) {
        cJSON *la = cJSON_AddArrayToObject(meta, "loras");
        for (const char *l = pl->loras; *l;) {
            const char *nl = strchr(l, '\n');
            size_t n = nl ? (size_t)(nl - l) : strlen(l);
            char spec[4200];
            snprintf(spec, sizeof(spec), "%.*s", (int)n, l);
            cJSON_AddItemToArray(la, cJSON_CreateString(spec));
            l = nl ? nl + 1 : l + n;
        }
    }
    cJSON *fmt = cJSON_AddArrayToObject(meta, "format");
    cJSON_AddItemToArray(fmt, cJSON_CreateString("png"));
    if (pl->formats & FMT_APNG) cJSON_AddItemToArray(fmt, cJSON_CreateString("apng"));
    if (pl->formats & FMT_GIF) cJSON_AddItemToArray(fmt, cJSON_CreateString("gif"));
    if (pl->formats & FMT_Y4M) cJSON_AddItemToArray(fmt, cJSON_CreateString("y4m"));
    if (pl->formats & FMT_Y4M420) cJSON_AddItemToArray(fmt, cJSON_CreateString("y4m420"));
    cJSON *files = cJSON_AddObjectToObject(meta, "files");
    cJSON_AddStringToObject(files, "frames", "frame_%04d.png");
    if (pl->formats & FMT_APNG) cJSON_AddStringToObject(files, "apng", "clip.apng");
    if (pl->formats & FMT_GIF) {
        cJSON_AddStringToObject(files, "gif", "clip.gif");
        cJSON_AddNumberToObject(meta, "gif_delay_cs", vg_gif_delay_cs(pl->fps)); /* GIF rounds to 1/100 s */
    }
    if (pl->formats & (FMT_Y4M | FMT_Y4M420)) cJSON_AddStringToObject(files, "y4m", "clip.y4m");
    if (pl->sheet) cJSON_AddStringToObject(files, "sheet", "sheet.png");
    cJSON_AddBoolToObject(meta, "sheet", pl->sheet);
    cJSON_AddNumberToObject(meta, "anchor", p->anchor && p->frames > 1 && !pl->n_init);
    if (p->chunk > 0 && p->chunk < p->frames && (p->anchor || pl->n_init)) {
        cJSON_AddNumberToObject(meta, "chunk", p->chunk);
        cJSON_AddNumberToObject(meta, "chunk_overlap", p->chunk_overlap);
    }
    if (pl->n_init) {
        cJSON_AddStringToObject(meta, "init_frames", pl->init_dir);
        cJSON_AddNumberToObject(meta, "init_count", pl->n_init);
        cJSON_AddStringToObject(meta, "init_hash", pl->init_hash);
    }
    cJSON_AddStringToObject(meta, "model", m->name);
    cJSON_AddStringToObject(meta, "model_dir", m->dir);
    cJSON_AddStringToObject(meta, "model_hash", m->hash);
    return meta;
}

/* ---- output folder ------------------------------------------------------------------ */

static const char *const OTHER_FILES[] = {"clip.apng", "clip.gif", "clip.y4m", "sheet.png", "vidgen.json"};

bool gen_dir_has_outputs(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool found = false;
    while ((e = readdir(d)) && !found) {
        if (strncmp(e->d_name, "frame_", 6) == 0 && strstr(e->d_name, ".png")) found = true;
        for (size_t i = 0; i < sizeof(OTHER_FILES) / sizeof(OTHER_FILES[0]); i++)
            if (!strcmp(e->d_name, OTHER_FILES[i])) found = true;
    }
    closedir(d);
    return found;
}

void gen_remove_stale(const char *dir, int keep, unsigned formats, bool sheet) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[4200];
    while ((e = readdir(d))) {
        int n;
        char tail[8];
        if (sscanf(e->d_name, "frame_%d.%7s", &n, tail) == 2 && strcmp(tail, "png") == 0 && n > keep) {
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    const struct { const char *name; bool keep; } other[] = {
        {"clip.apng", formats & FMT_APNG}, {"clip.gif", formats & FMT_GIF}, {"clip.y4m", formats & (FMT_Y4M | FMT_Y4M420)}, {"sheet.png", sheet}};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        if (!other[i].keep) { snprintf(p, sizeof(p), "%s/%s", dir, other[i].name); unlink(p); }
}

/* ---- render ------------------------------------------------------------------------- */

/* progress on stderr: a bar on a terminal, one line per step otherwise */
typedef struct { bool tty, quiet; } prog_ctx;
static void progress(void *ctx, int step, int steps, double el) {
    prog_ctx *p = ctx;
    if (p->quiet) return;
    double eta = step ? el / step * (steps - step) : 0;
    if (p->tty) {
        int w = 30, fill = steps ? step * w / steps : w;
        fprintf(stderr, "\r  [%.*s%*s] step %d/%d  %.1fs elapsed, ETA %.1fs ", fill,
                "##############################", w - fill, "", step, steps, el, eta);
        if (step == steps) fprintf(stderr, "\n");
    } else
        fprintf(stderr, "step %d/%d elapsed %.2fs eta %.2fs\n", step, steps, el, eta);
}

/* Fault injection for the resume tests (SQLite style): VIDGEN_TEST_KILL_AFTER_FRAMES=N makes
 * the process SIGKILL itself right after its N-th frame file is in place. */
static void maybe_kill(void) {
    static long left = -2;
    if (left == -2) {
        const char *v = getenv("VIDGEN_TEST_KILL_AFTER_FRAMES");
        left = v && *v ? strtol(v, NULL, 10) : -1;
    }
    if (left > 0 && --left == 0) raise(SIGKILL);
}

int gen_render(const gen_plan *pl, const vg_model *m, const char *dir, const cJSON *extra, vg_gen_stats *st, gen_err *e) {
    const vg_gen_params *p = &pl->p;
    const bool to_stdout = !strcmp(dir, "-");
    const int up = pl->upscale, W = p->width * up, H = p->height * up;
    const size_t fsz = (size_t)p->width * p->height * 3, usz = (size_t)W * H * 3;
    int rc = 0;
    uint8_t *frames = NULL, *big = NULL;
    char *params = NULL;
    cJSON *meta = NULL;
    if (to_stdout && pl->formats != FMT_Y4M && pl->formats != FMT_Y4M420)
        return gen_fail(e, CLI_USAGE, "--format y4m --out - | ffmpeg -i - clip.mp4", "--out - streams Y4M only: pass --format y4m or y4m420 alone");
    if (!to_stdout && vg_mkdir_p(dir)) return gen_fail_lib(e, NULL);
    frames = malloc(fsz * p->frames);
    if (!frames) return gen_fail(e, CLI_RUNTIME, NULL, "out of memory");
    if (!pl->quiet)
        fprintf(stderr, "vidgen: %s, %d frames %dx%d, %d steps (%s), seed %llu%s\n", m->name, p->frames, p->width, p->height,
                p->steps, vg_sampler_name(p->sampler), (unsigned long long)p->seed, pl->n_init ? ", continuing given frames" : "");
    prog_ctx pc = {isatty(2), pl->quiet};
    char *unknown = NULL;
    *st = (vg_gen_stats){0};
    if (vg_generate(m, p, frames, &unknown, progress, &pc, st)) { rc = gen_fail_lib(e, NULL); goto out; }
    if (unknown) { fprintf(stderr, "vidgen: warning: words not in the model's vocabulary (used as <unk>): %s\n", unknown); free(unknown); }

    /* the clip at output size */
    big = frames;
    if (up > 1) {
        big = malloc(usz * p->frames);
        if (!big) { rc = gen_fail(e, CLI_RUNTIME, NULL, "out of memory for the upscaled clip"); goto out; }
        for (int f = 0; f < p->frames; f++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    memcpy(big + f * usz + ((size_t)y * W + x) * 3, frames + f * fsz + ((size_t)(y / up) * p->width + x / up) * 3, 3);
    }
    if (to_stdout) {
        if (vg_y4m_write_fp(stdout, big, p->frames, W, H, pl->fps, pl->formats == FMT_Y4M ? VG_Y4M_444 : VG_Y4M_420)) rc = gen_fail_lib(e, NULL);
        goto out;
    }
    meta = gen_plan_meta(pl, m);
    params = meta ? cJSON_PrintUnformatted(meta) : NULL;
    if (!params) { rc = gen_fail(e, CLI_RUNTIME, NULL, "%s: the settings as JSON: out of memory", dir); goto out; }
    const char *keys[1] = {"parameters"}, *vals[1] = {params};
    char path[4200];
    for (int f = 0; f < p->frames; f++) {
        snprintf(path, sizeof(path), "%s/frame_%04d.png", dir, f + 1);
        if (vg_png_write(path, big + f * usz, W, H, keys, vals, 1)) { rc = gen_fail_lib(e, NULL); goto out; }
        maybe_kill();
    }
    vg_status vs = VG_OK;
    if (!vs && (pl->formats & FMT_APNG)) { snprintf(path, sizeof(path), "%s/clip.apng", dir); vs = vg_apng_write(path, big, p->frames, W, H, pl->fps); }
    if (!vs && (pl->formats & FMT_GIF)) { snprintf(path, sizeof(path), "%s/clip.gif", dir); vs = vg_gif_write(path, big, p->frames, W, H, pl->fps); }
    if (!vs && (pl->formats & (FMT_Y4M | FMT_Y4M420))) {
        snprintf(path, sizeof(path), "%s/clip.y4m", dir);
        vs = vg_y4m_write(path, big, p->frames, W, H, pl->fps, (pl->formats & FMT_Y4M) ? VG_Y4M_444 : VG_Y4M_420);
    }
    if (!vs && pl->sheet) { snprintf(path, sizeof(path), "%s/sheet.png", dir); vs = vg_sheet_write(path, big, p->frames, W, H, 0, 1); }
    if (vs) { rc = gen_fail_lib(e, NULL); goto out; }
    gen_remove_stale(dir, p->frames, pl->formats, pl->sheet);

    /* vidgen.json last: its presence marks the clip complete */
    for (const cJSON *it = extra ? extra->child : NULL; it; it = it->next)
        cJSON_AddItemToObject(meta, it->string, cJSON_Duplicate(it, true));
    cJSON *tm = cJSON_AddObjectToObject(meta, "timings");
    cJSON_AddNumberToObject(tm, "text_s", st->text_s);
    cJSON_AddNumberToObject(tm, "denoise_s", st->denoise_s);
    cJSON_AddNumberToObject(tm, "total_s", st->total_s);
    cJSON_AddNumberToObject(meta, "estimated_memory_bytes", (double)pl->need_bytes);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) /* the process's peak so far (Linux: KiB) */
        cJSON_AddNumberToObject(meta, "peak_rss_bytes", (double)ru.ru_maxrss * 1024.0);
    time_t now = time(NULL);
    char tbuf[64];
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(meta, "created", tbuf);
    char *js = cJSON_Print(meta);
    snprintf(path, sizeof(path), "%s/vidgen.json", dir);
    if (!js || vg_file_write_atomic(path, js, strlen(js))) rc = js ? gen_fail_lib(e, NULL) : gen_fail(e, CLI_RUNTIME, NULL, "out of memory");
    free(js);
    if (!rc && !pl->quiet) fprintf(stderr, "vidgen: wrote %d frames to %s/ in %.2fs\n", p->frames, dir, st->total_s);
out:
    if (big != frames) free(big);
    free(frames);
    free(params);
    cJSON_Delete(meta);
    return rc;
}
