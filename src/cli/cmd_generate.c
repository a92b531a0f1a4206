/* cmd_generate.c - `vidgen --prompt TEXT ...`: flags and --config into settings (model defaults <
 * --config JSON < flags), then the shared plan and render of gen_common.c (memory check,
 * generation, PNG frames, clip files, vidgen.json written last, atomically). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "gen_common.h"
#include "vidgen/generate.h"
#include "vidgen/io.h"
#include "vidgen/model.h"

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
    "  vidgen -p \"a red ball moving right on a black background\" --init-frames clip/ --frames 90 --out more/\n"
    "      continue clip/ (its frames come first, unchanged) up to 90 frames\n"
    "  vidgen -p \"a red ball bouncing on a blue background\" --format y4m --out - | ffmpeg -i - ball.mp4\n"
    "      stream to ffmpeg; --format apng,gif --sheet writes clip.apng, clip.gif and sheet.png\n"
    "  vidgen --config settings.json --steps 30\n"
    "      settings from a JSON file (keys as below, e.g. {\"prompt\": \"...\", \"frames\": 30}); flags win\n"
    "\n"
    "Options (defaults come from the model's config.json):\n"
    "  -p, --prompt TEXT          what to show (required)\n"
    "  -n, --negative-prompt TEXT what to steer away from (classifier-free guidance)\n"
    "      --frames N             number of frames, init frames included (alias --video-frames)\n"
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
    "      --format LIST          also write clip files: apng | gif | y4m (C444) | y4m420 (C420jpeg),\n"
    "                             comma-separated; with --out - one y4m stream goes to stdout\n"
    "      --fps F                frame rate of the clip files and the metadata (default: the model's)\n"
    "      --sheet                also write sheet.png, every frame on one contact sheet\n"
    "      --init-frames PATH     continue the frames of a vidgen folder, or start from one PNG:\n"
    "                             they become the output's first frames, unchanged\n"
    "      --init-count N         use only the last N frames of --init-frames\n"
    "      --anchor 0|1           1: draw the first frame alone, then animate it (the motion words\n"
    "                             set the direction); default 1 for models trained with known frames\n"
    "      --chunk N, --chunk-overlap K  make the clip N frames at a time, each chunk continuing\n"
    "                             the last K frames (with --anchor or --init-frames; 0 = at once)\n"
    "      --max-memory SIZE      refuse runs estimated above SIZE (e.g. 2G)\n"
    "  -t, --threads N            OpenMP threads (results do not depend on it)\n"
    "  -q, --quiet                no progress output\n"
    "      --help, --version\n"
    "\n"
    "Other commands: vidgen train | dataset | score | module | batch  (each has --help)\n"
    "Exit codes: 0 ok, 1 runtime or input error, 2 usage error.\n";

/* Wan2.1 checkpoints take their own path (src/cli/cmd_wan.c): chosen when a Wan file flag is
 * given, or when --model names a folder without a vidgen config.json. */
int vg_cmd_wan(int argc, char **argv) __attribute__((weak));

static bool wants_wan(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--diffusion-model", 17) || !strncmp(a, "--text-encoder", 14) || !strncmp(a, "--vae", 5) || !strncmp(a, "--tae", 5) ||
            !strncmp(a, "--tokenizer", 11))
            return true;
        if ((!strcmp(a, "--model") || !strcmp(a, "-m")) && i + 1 < argc) {
            char p[4200];
            snprintf(p, sizeof(p), "%s/config.json", argv[i + 1]);
            char *txt = NULL;
            vg_status rs = vg_file_read(p, &txt, NULL);
            if (rs == VG_ERR_OOM) return false; /* not a sign of Wan files: the vidgen path reports it */
            if (rs != VG_OK) {
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
    gen_settings s = {0};
    gen_err e = {0};
    if (wants_wan(argc, argv)) {
        if (!vg_cmd_wan) return cli_error(CLI_USAGE, NULL, "Wan2.1 checkpoints are not supported by this build");
        return vg_cmd_wan(argc, argv);
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(HELP, stdout); goto done; }
        if (!strcmp(argv[i], "--version")) { printf("vidgen %s\n", VG_VERSION); goto done; }
    }
    if ((rc = gen_parse_argv(&s, argc, argv, "see vidgen --help", &e))) goto fail;
    if (!s.set[S_PROMPT] || !s.str[S_PROMPT][0]) {
        rc = cli_error(CLI_USAGE, "vidgen --prompt \"a big red ball bouncing on a blue background\"", "no prompt given");
        goto done;
    }
    if (s.set[S_SAMPLER] && !vg_sampler_from_name(s.str[S_SAMPLER], &(vg_sampler){0})) {
        rc = cli_error(CLI_USAGE, "samplers: euler, unipc", "unknown sampler '%s'", s.str[S_SAMPLER]);
        goto done;
    }
    if (s.set[S_THREADS]) cli_set_threads((int)s.num[S_THREADS]);

    char mdir[4096];
    if (s.set[S_MODEL]) snprintf(mdir, sizeof(mdir), "%s", s.str[S_MODEL]);
    else if (vg_model_find_default(mdir, sizeof(mdir))) { rc = cli_lib_error("pass --model DIR, or run make demo first"); goto done; }
    vg_model m;
    if (vg_model_open(&m, mdir)) { rc = cli_lib_error(NULL); goto done; }
    gen_plan pl = {0};
    if (s.set[S_LORA] && (rc = gen_merge_loras(&m.dit, s.str[S_LORA], s.set[S_QUIET] && s.num[S_QUIET], &e))) goto fail_model;
    const char *out = s.set[S_OUT] ? s.str[S_OUT] : "out";
    bool overwrite = s.set[S_OVERWRITE] && s.num[S_OVERWRITE];
    vg_gen_stats st;
    if ((rc = gen_plan_make(&pl, &s, &m, &e))) goto fail_model;
    if ((rc = gen_plan_check_memory(&pl, &e))) goto fail_plan;
    if (strcmp(out, "-") && gen_dir_has_outputs(out) && !overwrite) {
        rc = gen_fail(&e, CLI_RUNTIME, "pass --overwrite to replace them, or choose another --out", "%s already holds frames", out);
        goto fail_plan;
    }
    rc = gen_render(&pl, &m, out, NULL, &st, &e);
fail_plan:
    gen_plan_free(&pl);
fail_model:
    vg_model_close(&m);
fail:
    if (rc) gen_err_print(&e);
done:
    gen_settings_free(&s);
    return rc;
}
