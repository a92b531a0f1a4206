/* cmd_wan.c - `vidgen --model WAN_DIR --prompt TEXT ...` (or --diffusion-model / --text-encoder
 * / --vae / --tokenizer): Wan2.1-T2V on the CPU. Settings (Wan defaults < --config JSON < flags),
 * size checks (4n+1 frames, multiples of 16), memory estimate, then src/model/wan.c's pipeline;
 * output as cmd_generate.c: frame_NNNN.png (tEXt "parameters") + vidgen.json, atomic writes. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "vidgen/io.h"
#include "vidgen/wan.h"

typedef enum { T_STR, T_INT, T_FLOAT, T_U64, T_BOOL, T_WINDOW, T_BYTES } wtype;
typedef struct { const char *key, *flag, *alias; wtype type; double lo, hi; } wdef;

enum { W_PROMPT, W_NEG, W_FRAMES, W_WIDTH, W_HEIGHT, W_STEPS, W_CFG, W_SEED, W_SAMPLER, W_SHIFT, W_WINDOW, W_MODEL,
       W_DIT, W_T5, W_VAE, W_TOK, W_OUT, W_OVERWRITE, W_THREADS, W_QUIET, W_MAXMEM, W_DRY, W_COUNT };

static const wdef g_defs[W_COUNT] = {
    [W_PROMPT] = {"prompt", "--prompt", "-p", T_STR, 0, 0},
    [W_NEG] = {"negative_prompt", "--negative-prompt", "-n", T_STR, 0, 0},
    [W_FRAMES] = {"frames", "--frames", "--video-frames", T_INT, 1, 100001},
    [W_WIDTH] = {"width", "--width", "-W", T_INT, 1, 8192},
    [W_HEIGHT] = {"height", "--height", "-H", T_INT, 1, 8192},
    [W_STEPS] = {"steps", "--steps", NULL, T_INT, 1, 1000},
    [W_CFG] = {"cfg_scale", "--cfg-scale", NULL, T_FLOAT, 0, 100},
    [W_SEED] = {"seed", "--seed", "-s", T_U64, 0, 0},
    [W_SAMPLER] = {"sampler", "--sampler", NULL, T_STR, 0, 0},
    [W_SHIFT] = {"flow_shift", "--flow-shift", NULL, T_FLOAT, 0.01, 100},
    [W_WINDOW] = {"temporal_window", "--temporal-window", NULL, T_WINDOW, 0, 100000},
    [W_MODEL] = {"model", "--model", "-m", T_STR, 0, 0},
    [W_DIT] = {"diffusion_model", "--diffusion-model", NULL, T_STR, 0, 0},
    [W_T5] = {"text_encoder", "--text-encoder", NULL, T_STR, 0, 0},
    [W_VAE] = {"vae", "--vae", NULL, T_STR, 0, 0},
    [W_TOK] = {"tokenizer", "--tokenizer", NULL, T_STR, 0, 0},
    [W_OUT] = {"out", "--out", "-o", T_STR, 0, 0},
    [W_OVERWRITE] = {"overwrite", "--overwrite", NULL, T_BOOL, 0, 0},
    [W_THREADS] = {"threads", "--threads", "-t", T_INT, 1, 1024},
    [W_QUIET] = {"quiet", "--quiet", "-q", T_BOOL, 0, 0},
    [W_MAXMEM] = {"max_memory", "--max-memory", NULL, T_BYTES, 0, 0},
    [W_DRY] = {"dry_run", "--dry-run", NULL, T_BOOL, 0, 0},
};

typedef struct {
    bool set[W_COUNT];
    char *str[W_COUNT];
    double num[W_COUNT];
    uint64_t u64[W_COUNT];
    int64_t bytes[W_COUNT];
} wsettings;

static const char *HELP =
    "vidgen with Wan2.1-T2V-1.3B checkpoints (CPU)\n"
    "\n"
    "Examples:\n"
    "  vidgen --model ~/wan -p \"a cat walks on the grass, realistic\" --frames 17 --width 256 --height 256 --steps 20\n"
    "      files found in ~/wan (ComfyUI repack files, or the diffusers folder layout)\n"
    "  vidgen --diffusion-model wan2.1_t2v_1.3B_fp16.safetensors --text-encoder umt5_xxl_fp16.safetensors \\\n"
    "         --vae wan_2.1_vae.safetensors -p \"...\" --out clip/\n"
    "\n"
    "Options (Wan defaults in brackets):\n"
    "  -p, --prompt TEXT            what to show (required)\n"
    "  -n, --negative-prompt TEXT   [Wan's Chinese default negative prompt]\n"
    "      --frames N               4n+1 frames [81]\n"
    "  -W, --width W, -H, --height H  multiples of 16 [832x480]\n"
    "      --steps N [50]  --cfg-scale F [5.0]  --flow-shift F [5.0]  --sampler unipc|euler [unipc]\n"
    "  -s, --seed N                 Philox noise seed [0]\n"
    "      --temporal-window K|all  local attention over +-K latent frames [all]\n"
    "  -m, --model DIR              folder to search for the files below\n"
    "      --diffusion-model F      DiT: .safetensors (prefix model.diffusion_model. optional), index.json or folder\n"
    "      --text-encoder F         umT5-XXL encoder (HF or official names)\n"
    "      --vae F                  Wan2.1 VAE\n"
    "      --tokenizer F            tokenizer.json or spiece.model [spiece_model inside the text encoder]\n"
    "  -o, --out DIR [out]  --overwrite  --max-memory SIZE  -t, --threads N  -q, --quiet\n"
    "      --config FILE.json       settings file (keys as the long flags with _); flags win\n"
    "      --dry-run                print the files, settings and memory estimate, generate nothing\n"
    "Exit codes: 0 ok, 1 runtime or input error, 2 usage error.\n";

static int apply(wsettings *s, int k, const char *val, const char *where) {
    const wdef *d = &g_defs[k];
    long iv;
    double fv;
    switch (d->type) {
    case T_STR: free(s->str[k]); s->str[k] = strdup(val); break;
    case T_INT:
        if (!cli_parse_int(val, (long)d->lo, (long)d->hi, &iv))
            return cli_error(CLI_USAGE, NULL, "%s: %s must be an integer in [%g, %g], got '%s'", where, d->flag, d->lo, d->hi, val);
        s->num[k] = (double)iv;
        break;
    case T_FLOAT:
        if (!cli_parse_float(val, d->lo, d->hi, &fv))
            return cli_error(CLI_USAGE, NULL, "%s: %s must be a number in [%g, %g], got '%s'", where, d->flag, d->lo, d->hi, val);
        s->num[k] = fv;
        break;
    case T_U64:
        if (!cli_parse_u64(val, &s->u64[k])) return cli_error(CLI_USAGE, NULL, "%s: %s must be a non-negative integer, got '%s'", where, d->flag, val);
        break;
    case T_BOOL: s->num[k] = (strcmp(val, "false") && strcmp(val, "0")) ? 1 : 0; break;
    case T_WINDOW:
        if (strcmp(val, "all") == 0) s->num[k] = -1;
        else if (cli_parse_int(val, 0, 100000, &iv)) s->num[k] = (double)iv;
        else return cli_error(CLI_USAGE, "use a latent-frame count such as 2, or 'all'", "%s: %s must be a non-negative integer or 'all', got '%s'", where, d->flag, val);
        break;
    case T_BYTES:
        if (!cli_parse_bytes(val, &s->bytes[k])) return cli_error(CLI_USAGE, "e.g. 512M or 20G", "%s: %s must be a size, got '%s'", where, d->flag, val);
        break;
    }
    s->set[k] = true;
    return 0;
}

static int load_config(wsettings *s, const char *path) {
    char *txt = NULL;
    if (vg_file_read(path, &txt, NULL)) return cli_lib_error(NULL);
    cJSON *o = cJSON_Parse(txt);
    free(txt);
    if (!o || !cJSON_IsObject(o)) { cJSON_Delete(o); return cli_error(CLI_USAGE, NULL, "%s: not a valid JSON object", path); }
    int rc = 0;
    for (cJSON *it = o->child; it && !rc; it = it->next) {
        int k = -1;
        for (int i = 0; i < W_COUNT; i++) if (strcmp(it->string, g_defs[i].key) == 0) k = i;
        if (k < 0) { rc = cli_error(CLI_USAGE, "keys are the long flags with '_' for '-', e.g. \"flow_shift\"", "%s: unknown key \"%s\"", path, it->string); break; }
        char buf[64];
        const char *val;
        if (cJSON_IsString(it)) val = it->valuestring;
        else if (cJSON_IsBool(it)) val = cJSON_IsTrue(it) ? "true" : "false";
        else if (cJSON_IsNumber(it)) {
            if (it->valuedouble == floor(it->valuedouble) && fabs(it->valuedouble) < 1e15) snprintf(buf, sizeof(buf), "%.0f", it->valuedouble);
            else snprintf(buf, sizeof(buf), "%.9g", it->valuedouble);
            val = buf;
        } else { rc = cli_error(CLI_USAGE, NULL, "%s: \"%s\" has the wrong type", path, it->string); break; }
        if (g_defs[k].type == T_STR && !cJSON_IsString(it)) { rc = cli_error(CLI_USAGE, NULL, "%s: \"%s\" must be a string", path, it->string); break; }
        rc = apply(s, k, val, path);
    }
    cJSON_Delete(o);
    return rc;
}

typedef struct { bool tty, quiet; } wprog;
static void on_progress(void *ctx, const char *stage, int step, int steps, double el) {
    wprog *p = ctx;
    if (p->quiet) return;
    if (strcmp(stage, "denoise")) {
        if (step == steps) fprintf(stderr, "vidgen: %s done in %.1fs\n", stage, el);
        return;
    }
    double eta = step ? el / step * (steps - step) : 0;
    if (p->tty) {
        int w = 30, fill = steps ? step * w / steps : w;
        fprintf(stderr, "\r  [%.*s%*s] step %d/%d  %.1fs elapsed, ETA %.1fs ", fill, "##############################", w - fill, "",
                step, steps, el, eta);
        if (step == steps) fprintf(stderr, "\n");
    } else
        fprintf(stderr, "step %d/%d elapsed %.2fs eta %.2fs\n", step, steps, el, eta);
}
static void on_message(void *ctx, const char *msg) { fprintf(stderr, "vidgen: warning: %s\n", msg); }

static bool dir_has_outputs(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool found = false;
    while ((e = readdir(d)))
        if ((strncmp(e->d_name, "frame_", 6) == 0 && strstr(e->d_name, ".png")) || strcmp(e->d_name, "vidgen.json") == 0) { found = true; break; }
    closedir(d);
    return found;
}

static void remove_stale_frames(const char *dir, int keep) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int n;
        char tail[8];
        if (sscanf(e->d_name, "frame_%d.%7s", &n, tail) == 2 && strcmp(tail, "png") == 0 && n > keep) {
            char p[4200];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
}

static double mib(int64_t b) { return (double)b / 1048576.0; }

int vg_cmd_wan(int argc, char **argv) {
    wsettings s;
    memset(&s, 0, sizeof(s));
    const char *config = NULL;
    int rc = 0;
    vg_wan_paths paths = {0};
    uint8_t *frames = NULL;
    cJSON *meta = NULL;
    char *params = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(HELP, stdout); return 0; }
        if (!strcmp(a, "--version")) { printf("vidgen %s\n", VG_VERSION); return 0; }
        if (!strcmp(a, "generate") && i == 1) continue;
        const char *val = NULL, *eq = strchr(a, '=');
        char name[64];
        snprintf(name, sizeof(name), "%.*s", eq && a[0] == '-' && a[1] == '-' ? (int)(eq - a) : (int)strlen(a), a);
        if (eq && a[1] == '-') val = eq + 1;
        if (!strcmp(name, "--config")) {
            if (!val && i + 1 >= argc) return cli_error(CLI_USAGE, NULL, "--config needs a file");
            config = val ? val : argv[++i];
            continue;
        }
        int k = -1;
        for (int j = 0; j < W_COUNT; j++)
            if (!strcmp(name, g_defs[j].flag) || (g_defs[j].alias && !strcmp(name, g_defs[j].alias))) k = j;
        if (k < 0) { rc = cli_error(CLI_USAGE, "see vidgen --model WAN_DIR --help", "unknown option '%s' (Wan mode)", a); goto done; }
        if (g_defs[k].type == T_BOOL) { if ((rc = apply(&s, k, val ? val : "true", "command line"))) goto done; continue; }
        if (!val) {
            if (i + 1 >= argc) { rc = cli_error(CLI_USAGE, NULL, "%s needs a value", name); goto done; }
            val = argv[++i];
        }
        if ((rc = apply(&s, k, val, "command line"))) goto done;
    }
    if (config) { /* config file < command line */
        wsettings cl = s;
        memset(&s, 0, sizeof(s));
        if ((rc = load_config(&s, config))) { for (int k = 0; k < W_COUNT; k++) free(cl.str[k]); goto done; }
        for (int k = 0; k < W_COUNT; k++)
            if (cl.set[k]) {
                if (g_defs[k].type == T_STR) { free(s.str[k]); s.str[k] = cl.str[k]; }
                s.num[k] = cl.num[k]; s.u64[k] = cl.u64[k]; s.bytes[k] = cl.bytes[k]; s.set[k] = true;
            }
    }
    bool quiet = s.set[W_QUIET] && s.num[W_QUIET] != 0, dry = s.set[W_DRY] && s.num[W_DRY] != 0;
    if (!dry && (!s.set[W_PROMPT] || !s.str[W_PROMPT][0])) { rc = cli_error(CLI_USAGE, "vidgen --model WAN_DIR --prompt \"a cat walks on the grass\"", "no prompt given"); goto done; }
    vg_wan_params p;
    vg_wan_params_default(&p);
    p.prompt = s.set[W_PROMPT] ? s.str[W_PROMPT] : "";
    if (s.set[W_NEG]) p.negative_prompt = s.str[W_NEG];
    if (s.set[W_FRAMES]) p.frames = (int)s.num[W_FRAMES];
    if (s.set[W_WIDTH]) p.width = (int)s.num[W_WIDTH];
    if (s.set[W_HEIGHT]) p.height = (int)s.num[W_HEIGHT];
    if (s.set[W_STEPS]) p.steps = (int)s.num[W_STEPS];
    if (s.set[W_CFG]) p.cfg_scale = (float)s.num[W_CFG];
    if (s.set[W_SHIFT]) p.flow_shift = (float)s.num[W_SHIFT];
    if (s.set[W_SEED]) p.seed = s.u64[W_SEED];
    if (s.set[W_WINDOW]) p.window = (int)s.num[W_WINDOW];
    if (s.set[W_SAMPLER] && !vg_sampler_from_name(s.str[W_SAMPLER], &p.sampler)) { rc = cli_error(CLI_USAGE, "samplers: unipc, euler", "unknown sampler '%s'", s.str[W_SAMPLER]); goto done; }
    if (vg_wan_check_size(&p)) { rc = cli_error(CLI_USAGE, "Wan2.1-1.3B is trained at 832x480 and 480x832, 81 frames", "%s", vg_last_error()); goto done; }
    if (s.set[W_THREADS]) cli_set_threads((int)s.num[W_THREADS]);

    /* files: explicit flags first, then discovery under --model */
    if (s.set[W_DIT]) paths.dit = strdup(s.str[W_DIT]);
    if (s.set[W_T5]) paths.t5 = strdup(s.str[W_T5]);
    if (s.set[W_VAE]) paths.vae = strdup(s.str[W_VAE]);
    if (s.set[W_TOK]) paths.tokenizer = strdup(s.str[W_TOK]);
    if (s.set[W_MODEL]) {
        if (vg_wan_discover(&paths, s.str[W_MODEL])) { rc = cli_lib_error(NULL); goto done; }
    } else if (!paths.dit || !paths.t5 || !paths.vae) {
        rc = cli_error(CLI_USAGE, "pass --model DIR, or all of --diffusion-model, --text-encoder and --vae",
                       "missing %s%s%s", paths.dit ? "" : "--diffusion-model ", paths.t5 ? "" : "--text-encoder ", paths.vae ? "" : "--vae");
        goto done;
    }

    /* memory: estimate before allocating */
    vg_wan_mem mem;
    if (vg_wan_estimate(&mem, &paths, &p)) { rc = cli_lib_error(NULL); goto done; }
    if (!quiet || dry) {
        fprintf(stderr, "vidgen: Wan2.1 files:\n  diffusion model %s\n  text encoder    %s\n  vae             %s\n  tokenizer       %s\n",
                paths.dit, paths.t5, paths.vae, paths.tokenizer ? paths.tokenizer : "(spiece_model in the text encoder)");
        fprintf(stderr, "vidgen: memory estimate %.0f MiB peak (text %.0f, DiT %.0f = weights %.0f + activations %.0f, VAE %.0f, frames %.0f)\n",
                mib(mem.peak), mib(mem.text), mib(mem.dit), mib(mem.dit_weights), mib(mem.dit_acts), mib(mem.vae), mib(mem.frames));
    }
    int64_t avail = cli_mem_available();
    if (s.set[W_MAXMEM] && mem.peak > s.bytes[W_MAXMEM]) {
        rc = cli_error(CLI_RUNTIME, "lower --frames or the size, or raise --max-memory", "this run needs about %.1f MiB, over --max-memory %.1f MiB",
                       mib(mem.peak), mib(s.bytes[W_MAXMEM]));
        goto done;
    }
    if (avail > 0 && mem.peak > avail) {
        rc = cli_error(CLI_RUNTIME, "lower --frames or the size, or free memory", "this run needs about %.1f MiB but only %.1f MiB are available",
                       mib(mem.peak), mib(avail));
        goto done;
    }
    if (dry) goto done;
    const char *out = s.set[W_OUT] ? s.str[W_OUT] : "out";
    if (dir_has_outputs(out) && !(s.set[W_OVERWRITE] && s.num[W_OVERWRITE])) {
        rc = cli_error(CLI_RUNTIME, "pass --overwrite to replace them, or choose another --out", "%s already holds frames", out);
        goto done;
    }
    if (vg_mkdir_p(out)) { rc = cli_lib_error(NULL); goto done; }
    frames = malloc((size_t)p.frames * p.width * p.height * 3);
    if (!frames) { rc = cli_error(CLI_RUNTIME, NULL, "out of memory for the frames"); goto done; }
    if (!quiet)
        fprintf(stderr, "vidgen: Wan2.1 T2V, %d frames %dx%d, %d steps (%s, shift %g, guidance %g), seed %llu\n", p.frames, p.width,
                p.height, p.steps, vg_sampler_name(p.sampler), p.flow_shift, p.cfg_scale, (unsigned long long)p.seed);
    wprog pc = {isatty(2), quiet};
    vg_wan_hooks hooks = {on_progress, on_message, &pc};
    vg_wan_stats st;
    if (vg_wan_generate(&paths, &p, frames, &hooks, &st)) { rc = cli_lib_error(NULL); goto done; }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "vidgen_version", VG_VERSION);
    cJSON_AddStringToObject(meta, "prompt", p.prompt);
    cJSON_AddStringToObject(meta, "negative_prompt", p.negative_prompt ? p.negative_prompt : vg_wan_default_negative_prompt);
    cJSON_AddNumberToObject(meta, "frames", p.frames);
    cJSON_AddNumberToObject(meta, "width", p.width);
    cJSON_AddNumberToObject(meta, "height", p.height);
    cJSON_AddNumberToObject(meta, "steps", p.steps);
    cJSON_AddNumberToObject(meta, "cfg_scale", p.cfg_scale);
    char seedbuf[32];
    snprintf(seedbuf, sizeof(seedbuf), "%llu", (unsigned long long)p.seed);
    cJSON_AddRawToObject(meta, "seed", seedbuf);
    cJSON_AddStringToObject(meta, "sampler", vg_sampler_name(p.sampler));
    cJSON_AddNumberToObject(meta, "flow_shift", p.flow_shift);
    if (p.window < 0) cJSON_AddStringToObject(meta, "temporal_window", "all");
    else cJSON_AddNumberToObject(meta, "temporal_window", p.window);
    cJSON_AddNumberToObject(meta, "fps", 16);
    cJSON_AddStringToObject(meta, "model", "wan2.1-t2v");
    cJSON_AddStringToObject(meta, "diffusion_model", paths.dit);
    cJSON_AddStringToObject(meta, "text_encoder", paths.t5);
    cJSON_AddStringToObject(meta, "vae", paths.vae);
    cJSON_AddStringToObject(meta, "tokenizer", paths.tokenizer ? paths.tokenizer : "spiece_model");
    params = cJSON_PrintUnformatted(meta);
    cJSON *tm = cJSON_AddObjectToObject(meta, "timings");
    cJSON_AddNumberToObject(tm, "text_s", st.text_s);
    cJSON_AddNumberToObject(tm, "dit_load_s", st.load_s);
    cJSON_AddNumberToObject(tm, "denoise_s", st.denoise_s);
    cJSON_AddNumberToObject(tm, "step_s_first", st.step_s_first);
    cJSON_AddNumberToObject(tm, "step_s_mean", st.step_s_mean);
    cJSON_AddNumberToObject(tm, "decode_s", st.decode_s);
    cJSON_AddNumberToObject(tm, "total_s", st.total_s);
    cJSON_AddNumberToObject(meta, "prompt_tokens", (double)st.n_tok);
    cJSON_AddNumberToObject(meta, "negative_prompt_tokens", (double)st.n_tok_neg);
    cJSON_AddNumberToObject(meta, "estimated_memory_bytes", (double)mem.peak);
    cJSON_AddNumberToObject(meta, "peak_rss_bytes", (double)ru.ru_maxrss * 1024.0);
    time_t now = time(NULL);
    char tbuf[64];
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(meta, "created", tbuf);
    const char *keys[1] = {"parameters"}, *vals[1] = {params};
    for (int f = 0; f < p.frames && !rc; f++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/frame_%04d.png", out, f + 1);
        if (vg_png_write(path, frames + (size_t)f * p.width * p.height * 3, p.width, p.height, keys, vals, 1)) rc = cli_lib_error(NULL);
    }
    if (!rc) {
        remove_stale_frames(out, p.frames);
        char *js = cJSON_Print(meta), path[4200];
        snprintf(path, sizeof(path), "%s/vidgen.json", out);
        if (vg_file_write_atomic(path, js, strlen(js))) rc = cli_lib_error(NULL);
        free(js);
    }
    if (!rc && !quiet)
        fprintf(stderr, "vidgen: wrote %d frames to %s/ in %.1fs (text %.1fs, %.2fs per step, decode %.1fs; peak RSS %.0f MiB)\n",
                p.frames, out, st.total_s, st.text_s, st.step_s_mean, st.decode_s, ru.ru_maxrss / 1024.0);
done:
    free(params);
    cJSON_Delete(meta);
    free(frames);
    vg_wan_paths_free(&paths);
    for (int k = 0; k < W_COUNT; k++) free(s.str[k]);
    return rc;
}
