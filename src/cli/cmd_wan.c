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
#include "vidgen/dist.h"
#include "vidgen/video.h"
#include "gen_common.h"
#include "vidgen/io.h"
#include "vidgen/wan.h"

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
    "      --steps N [50]  --cfg-scale F [5.0]  --flow-shift F [5.0]  --sampler unipc|euler|dmd [unipc]\n"
    "      --timesteps LIST         few-step schedule, e.g. 1000,750,500,250 (sets --steps); sigma = t/1000\n"
    "      --warp-timesteps         sigma = shift(t/1000) with --flow-shift (Self-Forcing, lightx2v)\n"
    "      --sigmas LIST            the schedule as sigmas in (0,1], decreasing\n"
    "      --lora FILE[:SCALE]      merge a LoRA into the DiT (repeatable; PEFT, kohya or .diff formats)\n"
    "      --type q8_0|q6_k|q5_k|q4_k|q5_0|q5_1|q4_0|q4_1|q3_k|q2_k  quantize the f16/bf16/f32 matrices of the\n"
    "                               DiT at load and of the text encoder block by block (as sd.cpp --type;\n"
    "                               the VAE and the token embedding are kept as stored)\n"
    "      --bf16                   DiT products and attention in bf16 (vdpbf16ps, f32 sums; f16 weights\n"
    "                               rounded to bf16): ~1e-2 relative change, faster; AVX512_BF16 CPUs only\n"
    "      (--cfg-scale 1 skips the unconditional forward; a --model DIR's config.json may set sampler,\n"
    "       steps, timesteps/denoising_step_list, sigmas, warp_timesteps/warp_denoising_step,\n"
    "       flow_shift/timestep_shift, cfg_scale/guidance_scale as defaults under --config and flags)\n"
    "  -s, --seed N                 Philox noise seed [0]\n"
    "      --temporal-window K|all  local attention over +-K latent frames [all]\n"
    "  -m, --model DIR              folder to search for the files below\n"
    "      --diffusion-model F      DiT: .safetensors (prefix model.diffusion_model. optional), index.json, folder or\n"
    "                               .gguf (ComfyUI-GGUF, stable-diffusion.cpp; Q8_0 .. Q2_K, F16, BF16, F32)\n"
    "      --text-encoder F         umT5-XXL encoder (HF or official names; .gguf with llama.cpp names too)\n"
    "      --vae F                  Wan2.1 VAE\n"
    "      --tae F                  decode with TAEHV instead (taew2_1 .safetensors/.gguf: ~20x faster, less memory,\n"
    "                               softer frames); the VAE is then not needed\n"
    "      --preview N              with --tae: every N steps, OUT/preview_stepNN.png, a contact sheet of the\n"
    "                               TAEHV-decoded x0 prediction (up to 8 frames)\n"
    "      --tokenizer F            tokenizer.json or spiece.model [spiece_model inside the text encoder]\n"
    "  -o, --out DIR [out]  --overwrite  --max-memory SIZE  -t, --threads N  -q, --quiet\n"
    "      --cfg-split 0|1          under mpirun (MPI build) the latent frames are split over the ranks;\n"
    "                               1 (default): with CFG and an even rank count, cond and uncond on two halves\n"
    "      --config FILE.json       settings file (keys as the long flags with _); flags win\n"
    "      --dry-run                print the files, settings and memory estimate, generate nothing\n"
    "Exit codes: 0 ok, 1 runtime or input error, 2 usage error.\n";

typedef struct { bool tty, quiet; const char *out; } wprog; /* the hooks' ctx (out: --preview's folder) */
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

/* --preview N: OUT/preview_stepNN.png, a contact sheet of at most 8 frames evenly spaced (4 per row) */
static vg_status on_preview(void *ctx, int step, int steps, const uint8_t *frames, int64_t F, int64_t H, int64_t W) {
    const wprog *pv = ctx;
    enum { MAXF = 8 };
    int64_t n = F < MAXF ? F : MAXF;
    size_t fb = (size_t)(H * W * 3);
    uint8_t *pick = malloc(fb * (size_t)n);
    if (!pick) return vg_fail(VG_ERR_OOM, "out of memory for the preview");
    for (int64_t k = 0; k < n; k++) memcpy(pick + k * fb, frames + (n > 1 ? k * (F - 1) / (n - 1) : 0) * fb, fb);
    char path[4200];
    snprintf(path, sizeof(path), "%s/preview_step%02d.png", pv->out, step);
    vg_status st = vg_sheet_write(path, pick, n, (int)W, (int)H, n < 4 ? (int)n : 4, 2);
    free(pick);
    if (!st && !pv->quiet) fprintf(stderr, "%svidgen: preview after step %d/%d: %s\n", pv->tty ? "\n" : "", step, steps, path);
    return st;
}

static double mib(int64_t b) { return (double)b / 1048576.0; }

/* Sampler defaults from DIR/config.json (a distilled model's folder): only the keys below are
 * read (the rest of the file is the model's own), mapped onto the settings; s stays on top. */
static int model_defaults(gen_settings *s, const char *dir, gen_err *e) {
    static const struct { const char *key; int k; } map[] = {
        {"sampler", S_SAMPLER}, {"steps", S_STEPS}, {"timesteps", S_TIMESTEPS}, {"denoising_step_list", S_TIMESTEPS},
        {"sigmas", S_SIGMAS}, {"warp_timesteps", S_WARP}, {"warp_denoising_step", S_WARP}, {"flow_shift", S_SHIFT},
        {"timestep_shift", S_SHIFT}, {"sample_shift", S_SHIFT}, {"cfg_scale", S_CFG}, {"guidance_scale", S_CFG},
    };
    char path[4200];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    if (access(path, R_OK) != 0) return 0;
    char *txt = NULL;
    if (vg_file_read(path, &txt, NULL)) return gen_fail_lib(e, NULL);
    cJSON *o = cJSON_Parse(txt), *pick = cJSON_CreateObject();
    free(txt);
    int rc = 0;
    if (!cJSON_IsObject(o)) { rc = gen_fail(e, CLI_USAGE, NULL, "%s: not a JSON object", path); goto out; }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, map[i].key);
        if (!it) continue;
        cJSON_DeleteItemFromObjectCaseSensitive(pick, gen_defs[map[i].k].key);
        cJSON_AddItemToObject(pick, gen_defs[map[i].k].key, cJSON_Duplicate(it, true));
    }
    gen_settings md = {0};
    if (!(rc = gen_apply_json(&md, pick, path, NULL, e))) {
        gen_overlay(&md, s); /* flags and --config win */
        gen_settings_free(s);
        *s = md;
    } else {
        gen_settings_free(&md);
    }
out:
    cJSON_Delete(o);
    cJSON_Delete(pick);
    return rc;
}


int vg_cmd_wan(int argc, char **argv) {
    gen_settings s = {0};
    gen_err e = {0};
    int rc = 0;
    vg_wan_paths paths = {0};
    uint8_t *frames = NULL;
    float *sched = NULL;
    char **loras = NULL;
    int n_loras = 0;
    cJSON *meta = NULL;
    char *params = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(HELP, stdout); return 0; }
        if (!strcmp(argv[i], "--version")) { printf("vidgen %s\n", VG_VERSION); return 0; }
    }
    int cfg_split = 1;
    const int rank = vg_dist_rank(), nrank = vg_dist_size();
    if ((rc = cli_take_cfg_split(&argc, argv, &cfg_split))) goto done;
    if ((rc = gen_parse_argv(&s, argc, argv, "see vidgen --model WAN_DIR --help", &e))) { gen_err_print(&e); goto done; }
    if (s.set[S_MODEL] && (rc = model_defaults(&s, s.str[S_MODEL], &e))) { gen_err_print(&e); goto done; }
    static const int ours_only[] = {S_UPSCALE, S_FORMAT, S_FPS, S_SHEET, S_INIT, S_INIT_COUNT, S_ANCHOR, S_CHUNK, S_CHUNK_OV};
    int o = gen_first_set(&s, ours_only, (int)(sizeof(ours_only) / sizeof(ours_only[0])));
    if (o >= 0) { rc = cli_error(CLI_USAGE, "see vidgen --model WAN_DIR --help", "%s is not supported with Wan2.1 checkpoints", gen_defs[o].flag); goto done; }
    bool quiet = (s.set[S_QUIET] && s.num[S_QUIET] != 0) || rank != 0, dry = s.set[S_DRY] && s.num[S_DRY] != 0;
    if (!dry && (!s.set[S_PROMPT] || !s.str[S_PROMPT][0])) { rc = cli_error(CLI_USAGE, "vidgen --model WAN_DIR --prompt \"a cat walks on the grass\"", "no prompt given"); goto done; }
    vg_wan_params p;
    vg_wan_params_default(&p);
    p.prompt = s.set[S_PROMPT] ? s.str[S_PROMPT] : "";
    if (s.set[S_NEG]) p.negative_prompt = s.str[S_NEG];
    if (s.set[S_FRAMES]) p.frames = (int)s.num[S_FRAMES];
    if (s.set[S_WIDTH]) p.width = (int)s.num[S_WIDTH];
    if (s.set[S_HEIGHT]) p.height = (int)s.num[S_HEIGHT];
    if (s.set[S_STEPS]) p.steps = (int)s.num[S_STEPS];
    if (s.set[S_CFG]) p.cfg_scale = (float)s.num[S_CFG];
    if (s.set[S_SHIFT]) p.flow_shift = (float)s.num[S_SHIFT];
    if (s.set[S_SEED]) p.seed = s.u64[S_SEED];
    if (s.set[S_WINDOW]) p.window = (int)s.num[S_WINDOW];
    p.bf16 = s.set[S_BF16] && s.num[S_BF16] != 0;
    if (s.set[S_SAMPLER] && !vg_sampler_from_name(s.str[S_SAMPLER], &p.sampler)) { rc = cli_error(CLI_USAGE, "samplers: unipc, euler, dmd", "unknown sampler '%s'", s.str[S_SAMPLER]); goto done; }
    if (s.set[S_TIMESTEPS] && s.set[S_SIGMAS]) { rc = cli_error(CLI_USAGE, "give the schedule once", "--timesteps and --sigmas both given"); goto done; }
    if (s.set[S_WARP] && s.num[S_WARP] && !s.set[S_TIMESTEPS]) { rc = cli_error(CLI_USAGE, "e.g. --timesteps 1000,750,500,250 --warp-timesteps --flow-shift 5", "--warp-timesteps needs --timesteps"); goto done; }
    if (s.set[S_TIMESTEPS] || s.set[S_SIGMAS]) {
        double lst[GEN_LIST_MAX];
        int k = s.set[S_TIMESTEPS] ? S_TIMESTEPS : S_SIGMAS, n = vg_parse_number_list(s.str[k], lst, GEN_LIST_MAX);
        if (s.set[S_STEPS] && (int)s.num[S_STEPS] != n) {
            rc = cli_error(CLI_USAGE, "drop --steps: the list sets it", "--steps %d but %s has %d entries", (int)s.num[S_STEPS], gen_defs[k].flag, n);
            goto done;
        }
        p.steps = n;
        if (!(sched = malloc(sizeof(float) * (size_t)(n + 1)))) { rc = cli_error(CLI_RUNTIME, NULL, "out of memory"); goto done; }
        vg_status ss = k == S_TIMESTEPS ? vg_schedule_from_timesteps(sched, lst, n, p.flow_shift, s.set[S_WARP] && s.num[S_WARP])
                                        : vg_schedule_from_sigmas(sched, lst, n);
        if (ss) { rc = cli_error(CLI_USAGE, "e.g. --timesteps 1000,750,500,250", "%s", vg_last_error()); goto done; }
        p.sigmas = sched;
    }
    if (s.set[S_LORA]) {
        for (char *q = s.str[S_LORA]; q; q = strchr(q, '\n')) { n_loras++; q++; if (!*q) break; }
        if (!(loras = calloc((size_t)n_loras + 1, sizeof(char *)))) { rc = cli_error(CLI_RUNTIME, NULL, "out of memory"); goto done; }
        char *save = NULL;
        n_loras = 0;
        for (char *t = strtok_r(s.str[S_LORA], "\n", &save); t; t = strtok_r(NULL, "\n", &save)) loras[n_loras++] = t;
        p.loras = (const char *const *)loras;
        p.n_loras = n_loras;
    }
    if (s.set[S_WTYPE]) {
        vg_dtype wt;
        if (!vg_dtype_from_any_name(s.str[S_WTYPE], &wt) || (!vg_dtype_is_quant(wt) && wt != VG_DTYPE_F32 && wt != VG_DTYPE_F16 && wt != VG_DTYPE_BF16)) {
            rc = cli_error(CLI_USAGE, "types: q8_0 q6_k q5_k q4_k q5_0 q5_1 q4_0 q4_1 q3_k q2_k", "--type '%s' is not a weight type", s.str[S_WTYPE]);
            goto done;
        }
        if (n_loras && vg_dtype_is_quant(wt)) { rc = cli_error(CLI_USAGE, "merge the LoRA first, or drop --type", "--lora with a quantizing --type is not supported"); goto done; }
        p.weight_type = (int)wt;
    }
    if (s.set[S_PREVIEW]) {
        if (!s.set[S_TAE]) { rc = cli_error(CLI_USAGE, "e.g. --tae taew2_1.safetensors --preview 2", "--preview needs --tae (previews are TAEHV-decoded)"); goto done; }
        p.preview_every = (int)s.num[S_PREVIEW];
    }
    if (vg_wan_check_size(&p)) { rc = cli_error(CLI_USAGE, "Wan2.1-1.3B is trained at 832x480 and 480x832, 81 frames", "%s", vg_last_error()); goto done; }
    if (s.set[S_THREADS]) cli_set_threads((int)s.num[S_THREADS]);

    /* files: explicit flags first, then discovery under --model */
    if (s.set[S_DIT]) paths.dit = strdup(s.str[S_DIT]);
    if (s.set[S_T5]) paths.t5 = strdup(s.str[S_T5]);
    if (s.set[S_VAE]) paths.vae = strdup(s.str[S_VAE]);
    if (s.set[S_TOK]) paths.tokenizer = strdup(s.str[S_TOK]);
    if (s.set[S_TAE]) paths.tae = strdup(s.str[S_TAE]);
    if (s.set[S_MODEL]) {
        if (vg_wan_discover(&paths, s.str[S_MODEL])) { rc = cli_lib_error(NULL); goto done; }
    } else if (!paths.dit || !paths.t5 || (!paths.vae && !paths.tae)) {
        rc = cli_error(CLI_USAGE, "pass --model DIR, or all of --diffusion-model, --text-encoder and --vae (or --tae)",
                       "missing %s%s%s", paths.dit ? "" : "--diffusion-model ", paths.t5 ? "" : "--text-encoder ", paths.vae || paths.tae ? "" : "--vae");
        goto done;
    }

    /* memory: estimate before allocating */
    vg_wan_mem mem;
    if (vg_wan_estimate(&mem, &paths, &p)) { rc = cli_lib_error(NULL); goto done; }
    if (!quiet || dry) {
        fprintf(stderr, "vidgen: Wan2.1 files:\n  diffusion model %s\n  text encoder    %s\n  vae             %s\n  tokenizer       %s\n",
                paths.dit, paths.t5, paths.tae ? "(not used: --tae)" : paths.vae, paths.tokenizer ? paths.tokenizer : "(spiece_model in the text encoder)");
        if (paths.tae) fprintf(stderr, "  tae (decoder)   %s\n", paths.tae);
        fprintf(stderr, "vidgen: memory estimate %.0f MiB peak (text %.0f, DiT %.0f = weights %.0f + activations %.0f, VAE %.0f, frames %.0f)\n",
                mib(mem.peak), mib(mem.text), mib(mem.dit), mib(mem.dit_weights), mib(mem.dit_acts), mib(mem.vae), mib(mem.frames));
    }
    int64_t avail = cli_mem_available();
    if (s.set[S_MAXMEM] && mem.peak > s.bytes[S_MAXMEM]) {
        rc = cli_error(CLI_RUNTIME, "lower --frames or the size, or raise --max-memory", "this run needs about %.1f MiB, over --max-memory %.1f MiB",
                       mib(mem.peak), mib(s.bytes[S_MAXMEM]));
        goto done;
    }
    if (avail > 0 && mem.peak > avail) {
        rc = cli_error(CLI_RUNTIME, "lower --frames or the size, or free memory", "this run needs about %.1f MiB but only %.1f MiB are available",
                       mib(mem.peak), mib(avail));
        goto done;
    }
    if (dry) goto done;
    const char *out = s.set[S_OUT] ? s.str[S_OUT] : "out";
    if (rank == 0 && gen_dir_has_outputs(out) && !(s.set[S_OVERWRITE] && s.num[S_OVERWRITE]))
        rc = cli_error(CLI_RUNTIME, "pass --overwrite to replace them, or choose another --out", "%s already holds frames", out);
    if (!rc && rank == 0 && vg_mkdir_p(out)) rc = cli_lib_error(NULL);
    if (nrank > 1 && p.preview_every > 0) {
        rc = rank ? CLI_USAGE : cli_error(CLI_USAGE, "run --preview without mpirun", "--preview runs on one process, not with the clip split over ranks");
        goto done;
    }
    if (nrank > 1) { /* mpirun: the clip over every rank (vg_wan_params.dist); rank 0 writes it */
        p.dist = cfg_split ? 2 : 1;
        if (vg_dist_max_i64(rc) && !rc) rc = CLI_RUNTIME; /* rank 0 said why */
    }
    if (rc) goto done;
    frames = malloc((size_t)p.frames * p.width * p.height * 3);
    if (!frames) { rc = cli_error(CLI_RUNTIME, NULL, "out of memory for the frames"); goto done; }
    if (!quiet)
        fprintf(stderr, "vidgen: Wan2.1 T2V, %d frames %dx%d, %d steps (%s, shift %g, guidance %g), seed %llu\n", p.frames, p.width,
                p.height, p.steps, vg_sampler_name(p.sampler), p.flow_shift, p.cfg_scale, (unsigned long long)p.seed);
    wprog pc = {isatty(2), quiet, out};
    vg_wan_hooks hooks = {on_progress, on_message, &pc, p.preview_every > 0 ? on_preview : NULL};
    vg_wan_stats st;
    if (vg_wan_generate(&paths, &p, frames, &hooks, &st)) rc = cli_lib_error(NULL);
    if (nrank > 1) {
        int own = rc;
        if ((rc = (int)vg_dist_max_i64(rc)) && !own && rank == 0) fprintf(stderr, "vidgen: error: another rank failed (its message is above)\n");
    }
    if (rc || rank != 0) goto done;
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
    if (p.sigmas) { /* the schedule as run (sigmas reproduce it exactly, whatever list made it) */
        double sg[GEN_LIST_MAX];
        for (int i = 0; i < p.steps; i++) sg[i] = p.sigmas[i];
        cJSON_AddItemToObject(meta, "sigmas", cJSON_CreateDoubleArray(sg, p.steps));
        if (s.set[S_TIMESTEPS]) cJSON_AddStringToObject(meta, "timesteps_given", s.str[S_TIMESTEPS]);
    }
    if (p.sampler == VG_SAMPLER_DMD)
        cJSON_AddStringToObject(meta, "noise", "x_T: Philox(seed, stream = latent frame, index); dmd step i: Philox(seed, 2^40 + i, index)");
    if (n_loras) {
        cJSON *la = cJSON_AddArrayToObject(meta, "loras");
        for (int i = 0; i < n_loras; i++) cJSON_AddItemToArray(la, cJSON_CreateString(loras[i]));
    }
    if (p.preview_every > 0) cJSON_AddNumberToObject(meta, "preview", p.preview_every);
    if (p.bf16) cJSON_AddBoolToObject(meta, "bf16", true);
    if (p.window < 0) cJSON_AddStringToObject(meta, "temporal_window", "all");
    else cJSON_AddNumberToObject(meta, "temporal_window", p.window);
    cJSON_AddNumberToObject(meta, "fps", 16);
    cJSON_AddStringToObject(meta, "model", "wan2.1-t2v");
    cJSON_AddStringToObject(meta, "diffusion_model", paths.dit);
    cJSON_AddStringToObject(meta, "text_encoder", paths.t5);
    if (paths.tae) cJSON_AddStringToObject(meta, "tae", paths.tae);
    else cJSON_AddStringToObject(meta, "vae", paths.vae);
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
        gen_remove_stale(out, p.frames, 0, false);
        char *js = cJSON_Print(meta), path[4200];
        snprintf(path, sizeof(path), "%s/vidgen.json", out);
        if (vg_file_write_atomic(path, js, strlen(js))) rc = cli_lib_error(NULL);
        free(js);
    }
    if (!rc && !quiet)
        fprintf(stderr, "vidgen: wrote %d frames to %s/ in %.1fs (text %.1fs, %.2fs per step, decode %.1fs; peak RSS %.0f MiB)\n",
                p.frames, out, st.total_s, st.text_s, st.step_s_mean, st.decode_s, ru.ru_maxrss / 1024.0);
done:
    free(sched);
    free(loras);
    free(params);
    cJSON_Delete(meta);
    free(frames);
    vg_wan_paths_free(&paths);
    gen_settings_free(&s);
    return rc;
}
