/* fuzz_argv.c - argv parsing of every subcommand. The input is argv, one argument per line;
 * the first selects the subcommand (generate, batch, score, dataset, train, module). Runs in
 * a scratch folder holding: m -> models/tiny, t.json (the tiny training config), c.json (a
 * settings file), j.jsonl (two jobs), clip/ (3 PNG frames + manifest-less vidgen.json).
 * Arguments with '/' or ".." are refused (no path leaves the scratch folder). Heavy work is
 * capped: generate stops after the plan (gen_parse_argv + gen_plan_make, nothing rendered),
 * batch always gets --dry-run --model m (the default model is models/tiny too), dataset gets --clips 1 --size 16 --frames 2 and train
 * --steps 1 appended (the later flag wins), numbers of more than 2 digits are refused. */
#include <ctype.h>
#include "fuzz_common.h"
#include "cli/cli.h"
#include "cli/gen_common.h"
#include "vidgen/io.h"
#include "vidgen/model.h"

static vg_model g_tiny;
static char g_work[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char p[PATH_MAX + 64], q[PATH_MAX + 64];
    snprintf(g_work, sizeof(g_work), "%s/w", vgf_dir());
    snprintf(p, sizeof(p), "%s/clip", g_work);
    if (vg_mkdir_p(p)) abort();
    snprintf(p, sizeof(p), "%s/m", g_work);
    snprintf(q, sizeof(q), "%s/models/tiny", vgf_root());
    (void)symlink(q, p); /* may exist from an earlier run of this pid */
    setenv("VIDGEN_MODEL", q, 1); /* the default model is the tiny one (batch calibrates on it) */
    if (vg_model_open(&g_tiny, q) != VG_OK) { fprintf(stderr, "fuzz_argv: %s: cannot open\n", q); abort(); }
    char *txt = NULL;
    snprintf(q, sizeof(q), "%s/models/configs/tiny.train.json", vgf_root());
    snprintf(p, sizeof(p), "%s/t.json", g_work);
    if (vg_file_read(q, &txt, NULL) || vg_file_write_atomic(p, txt, strlen(txt))) abort();
    free(txt);
    static const char cj[] = "{\"prompt\": \"a red ball bouncing on a blue background\", \"frames\": 3, \"steps\": 1}";
    static const char jj[] = "{\"prompt\": \"a red ball moving left on a black background\", \"seed\": 1}\n"
                             "{\"prompt\": \"a big green square bouncing on a gray background\", \"frames\": 2, \"name\": \"x\"}\n";
    static const char vj[] = "{\"prompt\": \"a red ball moving right on a blue background\", \"init_count\": 1}";
    snprintf(p, sizeof(p), "%s/c.json", g_work);
    if (vg_file_write_atomic(p, cj, sizeof(cj) - 1)) abort();
    snprintf(p, sizeof(p), "%s/j.jsonl", g_work);
    if (vg_file_write_atomic(p, jj, sizeof(jj) - 1)) abort();
    snprintf(p, sizeof(p), "%s/clip/vidgen.json", g_work);
    if (vg_file_write_atomic(p, vj, sizeof(vj) - 1)) abort();
    uint8_t rgb[16 * 16 * 3];
    for (int f = 1; f <= 3; f++) {
        for (int i = 0; i < (int)sizeof(rgb); i++) rgb[i] = (uint8_t)((i % 48) == (f * 3) ? 250 : 20);
        snprintf(p, sizeof(p), "%s/clip/frame_%04d.png", g_work, f);
        if (vg_png_write(p, rgb, 16, 16, NULL, NULL, 0)) abort();
    }
    return 0;
}

static int run_generate(int argc, char **argv) {
    gen_settings s = {0};
    gen_err e = {0};
    int rc = gen_parse_argv(&s, argc, argv, "see vidgen --help", &e);
    if (rc == 0) {
        vg_model other, *m = &g_tiny;
        bool own = false;
        if (s.set[S_MODEL]) {
            if (vg_model_open(&other, s.str[S_MODEL]) != VG_OK) { gen_settings_free(&s); return 1; }
            m = &other;
            own = true;
        }
        gen_plan pl;
        memset(&pl, 0, sizeof(pl));
        if (gen_plan_make(&pl, &s, m, &e) == 0) {
            cJSON_Delete(gen_plan_meta(&pl, m));
            (void)gen_plan_check_memory(&pl, &e);
            gen_plan_free(&pl);
        }
        if (own) vg_model_close(&other);
    }
    gen_settings_free(&s);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 2048) return 0;
    char *buf = vgf_str(data, size);
    char *argv[72];
    int argc = 0;
    for (char *s = buf, *e; argc < 64; s = e + 1) {
        e = strchr(s, '\n');
        if (e) *e = 0;
        if (strchr(s, '/') || strstr(s, "..")) { free(buf); return 0; }
        int run = 0;
        for (const char *c = s; *c; c++) {
            run = isdigit((unsigned char)*c) ? run + 1 : 0;
            if (run > 2) { free(buf); return 0; }
        }
        argv[argc++] = s;
        if (!e) break;
    }
    int rc = 0;
    if (argc == 0) { free(buf); return 0; }
    const char *cmd = argv[0];
    char *extra_ds[] = {"--clips", "1", "--size", "16", "--frames", "2"}, *extra_tr[] = {"--steps", "1"};
    char **x = NULL;
    int nx = 0;
    int (*fn)(int, char **) = NULL;
    if (!strcmp(cmd, "generate")) fn = run_generate;
    else if (!strcmp(cmd, "batch")) { fn = vg_cmd_batch; static char *d[] = {"--dry-run", "--model", "m"}; x = d; nx = 3; }
    else if (!strcmp(cmd, "score")) fn = vg_cmd_score;
    else if (!strcmp(cmd, "dataset")) { fn = vg_cmd_dataset; x = extra_ds; nx = 6; }
    else if (!strcmp(cmd, "train")) { fn = vg_cmd_train; x = extra_tr; nx = 2; }
    else if (!strcmp(cmd, "module")) fn = vg_cmd_module;
    else { free(buf); return 0; }
    /* an option expecting a value would take the first appended word: keep it after "--" free */
    for (int i = 0; i < nx; i++) argv[argc++] = x[i];
    argv[argc] = NULL;
    char here[PATH_MAX];
    if (!getcwd(here, sizeof(here)) || chdir(g_work)) abort();
    rc = fn(argc, argv);
    if (chdir(here)) abort();
    (void)rc;
    free(buf);
    return 0;
}
