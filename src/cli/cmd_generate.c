/* cmd_generate.c - `vidgen --prompt TEXT ...`: settings (model defaults < --config JSON <
 * flags), memory check, generation, PNG frames + vidgen.json written atomically. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "vidgen/generate.h"
#include "vidgen/io.h"
#include "vidgen/model.h"

typedef enum { T_STR, T_INT, T_FLOAT, T_U64, T_BOOL, T_WINDOW, T_BYTES } stype;
typedef struct {
    const char *key;      /* JSON key */
    const char *flag;     /* --flag */
    const char *alias;    /* second spelling or NULL */
    stype type;
    double lo, hi;
} sdef;

enum { S_PROMPT, S_NEG, S_FRAMES, S_WIDTH, S_HEIGHT, S_STEPS, S_CFG, S_SEED, S_SAMPLER, S_SHIFT, S_WINDOW,
       S_MODEL, S_OUT, S_OVERWRITE, S_THREADS, S_QUIET, S_UPSCALE, S_MAXMEM, S_COUNT };

static const sdef g_defs[S_COUNT] = {
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
};

typedef struct {
    bool set[S_COUNT];
    char *str[S_COUNT];
    double num[S_COUNT];
    uint64_t u64[S_COUNT];
    int64_t bytes[S_COUNT];
} settings;

static const char *HELP =
    "vidgen - text to video on the CPU\n"
    "\n"
    "Examples:\n"
    "  vidgen --prompt \"a big red ball bouncing on a blue background\"\n"
    "      16 frames with the default model into ./out/ (frame_0001.png ... and vidgen.json)\n"
    "  vidgen -p \"a small yellow square moving left on a black background\" --frames 60 --seed 7 --out clip/\n"
    "      a clip longer than the training clips: the temporal window keeps it coherent\n"
    "  vidgen -p \"a green triangle moving up on a gray background\" --temporal-window 0 --out flip/\n"
    "      each frame alone (a flipbook), to compare with the default window\n"
    "  vidgen --config settings.json --steps 30\n"
    "      settings from a JSON file (keys as below, e.g. {\"prompt\": \"...\", \"frames\": 30}); flags win\n"
    "\n"
    "Options (defaults come from the model's config.json):\n"
    "  -p, --prompt TEXT          what to show (required)\n"
    "  -n, --negative-prompt TEXT what to steer away from (classifier-free guidance)\n"
    "      --frames N             number of frames (alias --video-frames)\n"
    "  -W, --width W, -H, --height H   frame size in pixels (multiples of the model's patch)\n"
    "      --steps N              denoising steps\n"
    "      --cfg-scale F          guidance scale (1 = no guidance)\n"
    "  -s, --seed N               noise seed; same seed and settings give identical frames\n"
    "      --sampler NAME         euler | unipc\n"
    "      --flow-shift F         timestep shift of the flow-matching schedule\n"
    "      --temporal-window K|all  frames each frame attends to on either side (0 = flipbook)\n"
    "  -m, --model DIR            model folder (config.json + model.safetensors)\n"
    "      --config FILE.json     settings file\n"
    "  -o, --out DIR              output folder (default: out)\n"
    "      --overwrite            replace frames already in DIR\n"
    "      --upscale N            write frames N times larger (nearest neighbour)\n"
    "      --max-memory SIZE      refuse runs estimated above SIZE (e.g. 2G)\n"
    "  -t, --threads N            OpenMP threads (results do not depend on it)\n"
    "  -q, --quiet                no progress output\n"
    "      --help, --version\n"
    "\n"
    "Other commands: vidgen train | dataset | score | module | batch  (each has --help)\n"
    "Exit codes: 0 ok, 1 runtime or input error, 2 usage error.\n";

static int apply_value(settings *s, int k, const char *val, const char *where) {
    const sdef *d = &g_defs[k];
    long iv;
    double fv;
    switch (d->type) {
    case T_STR:
        free(s->str[k]);
        s->str[k] = strdup(val);
        break;
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
        if (!cli_parse_u64(val, &s->u64[k]))
            return cli_error(CLI_USAGE, NULL, "%s: %s must be a non-negative integer, got '%s'", where, d->flag, val);
        break;
    case T_BOOL:
        s->num[k] = (strcmp(val, "false") && strcmp(val, "0")) ? 1 : 0;
        break;
    case T_WINDOW:
        if (strcmp(val, "all") == 0) s->num[k] = -1;
        else if (cli_parse_int(val, 0, 100000, &iv)) s->num[k] = (double)iv;
        else return cli_error(CLI_USAGE, "use a frame count such as 2, or 'all'", "%s: %s must be a non-negative integer or 'all', got '%s'", where, d->flag, val);
        break;
    case T_BYTES:
        if (!cli_parse_bytes(val, &s->bytes[k]))
            return cli_error(CLI_USAGE, "e.g. 512M or 2G", "%s: %s must be a size, got '%s'", where, d->flag, val);
        break;
    }
    s->set[k] = true;
    return 0;
}

static int load_config(settings *s, const char *path) {
    char *txt = NULL;
    if (vg_file_read(path, &txt, NULL)) return cli_lib_error(NULL);
    cJSON *o = cJSON_Parse(txt);
    free(txt);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return cli_error(CLI_USAGE, "the config file must hold one JSON object, e.g. {\"prompt\": \"...\", \"frames\": 16}", "%s: not a valid JSON object", path);
    }
    int rc = 0;
    for (cJSON *it = o->child; it && !rc; it = it->next) {
        int k = -1;
        for (int i = 0; i < S_COUNT; i++) if (strcmp(it->string, g_defs[i].key) == 0) k = i;
        if (k < 0) { rc = cli_error(CLI_USAGE, "known keys: prompt, negative_prompt, frames, width, height, steps, cfg_scale, seed, sampler, flow_shift, temporal_window, model, out, overwrite, threads, quiet, upscale, max_memory", "%s: unknown key \"%s\"", path, it->string); break; }
        char buf[64];
        const char *val;
        if (cJSON_IsString(it)) val = it->valuestring;
        else if (cJSON_IsBool(it)) val = cJSON_IsTrue(it) ? "true" : "false";
        else if (cJSON_IsNumber(it)) {
            if (it->valuedouble == floor(it->valuedouble) && fabs(it->valuedouble) < 1e15) snprintf(buf, sizeof(buf), "%.0f", it->valuedouble);
            else snprintf(buf, sizeof(buf), "%.9g", it->valuedouble);
            val = buf;
        } else { rc = cli_error(CLI_USAGE, NULL, "%s: \"%s\" has the wrong type", path, it->string); break; }
        if (g_defs[k].type == T_BOOL && !cJSON_IsBool(it)) { rc = cli_error(CLI_USAGE, NULL, "%s: \"%s\" must be true or false", path, it->string); break; }
        if (g_defs[k].type == T_STR && !cJSON_IsString(it)) { rc = cli_error(CLI_USAGE, NULL, "%s: \"%s\" must be a string", path, it->string); break; }
        rc = apply_value(s, k, val, path);
    }
    cJSON_Delete(o);
    return rc;
}

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

/* Wan2.1 checkpoints take their own path (src/cli/cmd_wan.c): chosen when a Wan file flag is
 * given, or when --model names a folder without a vidgen config.json. */
int vg_cmd_wan(int argc, char **argv) __attribute__((weak));

static bool wants_wan(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--diffusion-model", 17) || !strncmp(a, "--text-encoder", 14) || !strncmp(a, "--vae", 5) ||
            !strncmp(a, "--tokenizer", 11))
            return true;
        if ((!strcmp(a, "--model") || !strcmp(a, "-m")) && i + 1 < argc) {
            char p[4200];
            snprintf(p, sizeof(p), "%s/config.json", argv[i + 1]);
            char *txt = NULL;
            if (vg_file_read(p, &txt, NULL) != VG_OK) {
                struct stat sb;
                return stat(argv[i + 1], &sb) == 0 && S_ISDIR(sb.st_mode); /* a folder of Wan files */
            }
            bool ours = strstr(txt, "\"format\"") && strstr(txt, "\"vidgen\"");
            bool wan = strstr(txt, "WanModel") || strstr(txt, "WanTransformer3DModel");
            free(txt);
            return !ours && wan;
        }
    }
    return false;
}

int vg_cmd_generate(int argc, char **argv) {
    settings s = {0};
    if (wants_wan(argc, argv)) {
        if (!vg_cmd_wan) return cli_error(CLI_USAGE, NULL, "Wan2.1 checkpoints are not supported by this build");
        return vg_cmd_wan(argc, argv);
    }
    const char *config = NULL;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(HELP, stdout); return 0; }
        if (!strcmp(a, "--version")) { printf("vidgen %s\n", VG_VERSION); return 0; }
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
        for (int j = 0; j < S_COUNT; j++)
            if (!strcmp(name, g_defs[j].flag) || (g_defs[j].alias && !strcmp(name, g_defs[j].alias))) k = j;
        if (k < 0) return cli_error(CLI_USAGE, "see vidgen --help", "unknown option '%s'", a);
        if (g_defs[k].type == T_BOOL) { if ((rc = apply_value(&s, k, val ? val : "true", "command line"))) return rc; continue; }
        if (!val) {
            if (i + 1 >= argc) return cli_error(CLI_USAGE, "see vidgen --help", "%s needs a value", name);
            val = argv[++i];
        }
        if ((rc = apply_value(&s, k, val, "command line"))) return rc;
    }
    /* precedence: config file < command line. Re-apply the command line over the file. */
    if (config) {
        settings cl = s;
        memset(&s, 0, sizeof(s));
        if ((rc = load_config(&s, config))) return rc;
        for (int k = 0; k < S_COUNT; k++)
            if (cl.set[k]) {
                if (g_defs[k].type == T_STR) { free(s.str[k]); s.str[k] = cl.str[k]; }
                s.num[k] = cl.num[k]; s.u64[k] = cl.u64[k]; s.bytes[k] = cl.bytes[k]; s.set[k] = true;
            }
    }
    if (!s.set[S_PROMPT] || !s.str[S_PROMPT][0])
        return cli_error(CLI_USAGE, "vidgen --prompt \"a big red ball bouncing on a blue background\"", "no prompt given");
    vg_sampler sampler = VG_SAMPLER_EULER;
    if (s.set[S_SAMPLER] && !vg_sampler_from_name(s.str[S_SAMPLER], &sampler))
        return cli_error(CLI_USAGE, "samplers: euler, unipc", "unknown sampler '%s'", s.str[S_SAMPLER]);
    if (s.set[S_THREADS]) cli_set_threads((int)s.num[S_THREADS]);
    bool quiet = s.set[S_QUIET] && s.num[S_QUIET] != 0;

    char mdir[4096];
    if (s.set[S_MODEL]) snprintf(mdir, sizeof(mdir), "%s", s.str[S_MODEL]);
    else if (vg_model_find_default(mdir, sizeof(mdir))) return cli_lib_error("pass --model DIR, or run make demo first");
    vg_model m;
    if (vg_model_open(&m, mdir)) return cli_lib_error(NULL);

    /* effective settings: model defaults where unset */
    vg_gen_params p = {0};
    p.prompt = s.str[S_PROMPT];
    p.negative_prompt = s.set[S_NEG] ? s.str[S_NEG] : m.def.negative_prompt;
    p.frames = s.set[S_FRAMES] ? (int)s.num[S_FRAMES] : m.def.frames;
    p.width = s.set[S_WIDTH] ? (int)s.num[S_WIDTH] : m.def.width;
    p.height = s.set[S_HEIGHT] ? (int)s.num[S_HEIGHT] : m.def.height;
    p.steps = s.set[S_STEPS] ? (int)s.num[S_STEPS] : m.def.steps;
    p.cfg_scale = s.set[S_CFG] ? (float)s.num[S_CFG] : m.def.cfg_scale;
    p.flow_shift = s.set[S_SHIFT] ? (float)s.num[S_SHIFT] : m.def.flow_shift;
    p.seed = s.set[S_SEED] ? s.u64[S_SEED] : 0;
    p.window = s.set[S_WINDOW] ? (int)s.num[S_WINDOW] : m.def.window;
    if (!s.set[S_SAMPLER] && !vg_sampler_from_name(m.def.sampler, &sampler)) sampler = VG_SAMPLER_EULER;
    p.sampler = sampler;
    int upscale = s.set[S_UPSCALE] ? (int)s.num[S_UPSCALE] : 1;
    const char *out = s.set[S_OUT] ? s.str[S_OUT] : "out";
    int ph = m.dcfg.patch[1], pw = m.dcfg.patch[2];
    if (p.width % pw || p.height % ph) {
        int sw = (p.width + pw / 2) / pw * pw, sh = (p.height + ph / 2) / ph * ph;
        char hint[96];
        snprintf(hint, sizeof(hint), "try --width %d --height %d", sw < pw ? pw : sw, sh < ph ? ph : sh);
        rc = cli_error(CLI_USAGE, hint, "size %dx%d is not a multiple of the model's patch %dx%d", p.width, p.height, pw, ph);
        goto done;
    }
    /* memory: estimate before allocating */
    int64_t need = vg_generate_mem_estimate(&m, &p) + (int64_t)p.frames * p.width * p.height * 3 * (1 + upscale * upscale);
    int64_t avail = cli_mem_available();
    if (s.set[S_MAXMEM] && need > s.bytes[S_MAXMEM]) {
        rc = cli_error(CLI_RUNTIME, "lower --frames or the size, or raise --max-memory", "this run needs about %.1f MiB, over --max-memory %.1f MiB", need / 1048576.0, s.bytes[S_MAXMEM] / 1048576.0);
        goto done;
    }
    if (avail > 0 && need > avail) {
        rc = cli_error(CLI_RUNTIME, "lower --frames or the size", "this run needs about %.1f MiB but only %.1f MiB are available", need / 1048576.0, avail / 1048576.0);
        goto done;
    }
    /* output folder */
    if (dir_has_outputs(out) && !(s.set[S_OVERWRITE] && s.num[S_OVERWRITE])) {
        rc = cli_error(CLI_RUNTIME, "pass --overwrite to replace them, or choose another --out", "%s already holds frames", out);
        goto done;
    }
    if (vg_mkdir_p(out)) { rc = cli_lib_error(NULL); goto done; }

    uint8_t *frames = malloc((size_t)p.frames * p.width * p.height * 3);
    if (!frames) { rc = cli_error(CLI_RUNTIME, NULL, "out of memory"); goto done; }
    if (!quiet) fprintf(stderr, "vidgen: %s, %d frames %dx%d, %d steps (%s), seed %llu\n", m.name, p.frames, p.width, p.height,
                        p.steps, vg_sampler_name(p.sampler), (unsigned long long)p.seed);
    prog_ctx pc = {isatty(2), quiet};
    char *unknown = NULL;
    vg_gen_stats st = {0};
    if (vg_generate(&m, &p, frames, &unknown, progress, &pc, &st)) { free(frames); rc = cli_lib_error(NULL); goto done; }
    if (unknown) { fprintf(stderr, "vidgen: warning: words not in the model's vocabulary (used as <unk>): %s\n", unknown); free(unknown); }

    /* metadata: every effective setting */
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "vidgen_version", VG_VERSION);
    cJSON_AddStringToObject(meta, "prompt", p.prompt);
    cJSON_AddStringToObject(meta, "negative_prompt", p.negative_prompt);
    cJSON_AddNumberToObject(meta, "frames", p.frames);
    cJSON_AddNumberToObject(meta, "width", p.width * upscale);
    cJSON_AddNumberToObject(meta, "height", p.height * upscale);
    cJSON_AddNumberToObject(meta, "native_width", p.width);
    cJSON_AddNumberToObject(meta, "native_height", p.height);
    cJSON_AddNumberToObject(meta, "upscale", upscale);
    cJSON_AddNumberToObject(meta, "steps", p.steps);
    cJSON_AddNumberToObject(meta, "cfg_scale", p.cfg_scale);
    char seedbuf[32];
    snprintf(seedbuf, sizeof(seedbuf), "%llu", (unsigned long long)p.seed);
    cJSON_AddRawToObject(meta, "seed", seedbuf);
    cJSON_AddStringToObject(meta, "sampler", vg_sampler_name(p.sampler));
    cJSON_AddNumberToObject(meta, "flow_shift", p.flow_shift);
    if (p.window < 0) cJSON_AddStringToObject(meta, "temporal_window", "all");
    else cJSON_AddNumberToObject(meta, "temporal_window", p.window);
    cJSON_AddNumberToObject(meta, "fps", m.def.fps);
    cJSON_AddStringToObject(meta, "model", m.name);
    cJSON_AddStringToObject(meta, "model_dir", m.dir);
    cJSON_AddStringToObject(meta, "model_hash", m.hash);
    char *params = cJSON_PrintUnformatted(meta);
    cJSON *tm = cJSON_AddObjectToObject(meta, "timings");
    cJSON_AddNumberToObject(tm, "text_s", st.text_s);
    cJSON_AddNumberToObject(tm, "denoise_s", st.denoise_s);
    cJSON_AddNumberToObject(tm, "total_s", st.total_s);
    cJSON_AddNumberToObject(meta, "estimated_memory_bytes", (double)need);
    time_t now = time(NULL);
    char tbuf[64];
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(meta, "created", tbuf);

    int W = p.width * upscale, H = p.height * upscale;
    uint8_t *img = malloc((size_t)W * H * 3);
    const char *keys[1] = {"parameters"}, *vals[1] = {params};
    for (int f = 0; f < p.frames && !rc; f++) {
        const uint8_t *src = frames + (size_t)f * p.width * p.height * 3;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                memcpy(img + ((size_t)y * W + x) * 3, src + ((size_t)(y / upscale) * p.width + x / upscale) * 3, 3);
        char path[4200];
        snprintf(path, sizeof(path), "%s/frame_%04d.png", out, f + 1);
        if (vg_png_write(path, img, W, H, keys, vals, 1)) rc = cli_lib_error(NULL);
    }
    if (!rc) {
        remove_stale_frames(out, p.frames);
        char *js = cJSON_Print(meta), path[4200];
        snprintf(path, sizeof(path), "%s/vidgen.json", out);
        if (vg_file_write_atomic(path, js, strlen(js))) rc = cli_lib_error(NULL);
        free(js);
    }
    if (!rc && !quiet) fprintf(stderr, "vidgen: wrote %d frames to %s/ in %.2fs\n", p.frames, out, st.total_s);
    free(img);
    free(params);
    cJSON_Delete(meta);
    free(frames);
done:
    vg_model_close(&m);
    for (int k = 0; k < S_COUNT; k++) free(s.str[k]);
    return rc;
}
