/* cmd_train.c - `vidgen train --config train.json [flags]`: flags override the file; Ctrl-C /
 * SIGTERM write a checkpoint and exit cleanly; JSON-lines log in OUT/log.jsonl. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "vidgen/dist.h"
#include "vidgen/io.h"
#include "vidgen/train.h"

static volatile int g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static const char *HELP =
    "vidgen train - train a vidgen model on the shape world, Moving MNIST or a folder of clips\n"
    "\n"
    "Examples:\n"
    "  vidgen train --config models/configs/tiny.train.json --out runs/tiny\n"
    "  vidgen train --config models/configs/default.train.json --resume      (continue a run)\n"
    "  vidgen train --config train.json --steps 200 --max-minutes 5\n"
    "\n"
    "Options (each overrides the config file):\n"
    "  --config FILE     training config (JSON: model, data, size, frames, batch, steps, lr, ...)\n"
    "  --out DIR         run folder: ckpt.safetensors, log.jsonl, model/ (EMA weights)\n"
    "  --data SRC        shapes | mnist | a folder with manifest.jsonl\n"
    "  --steps N --batch N --lr F --seed N --ckpt-every N --max-minutes M\n"
    "  --resume          continue from OUT/ckpt.safetensors (bit-identical continuation)\n"
    "  --groups N        cut each batch into N gradient groups (default 2, or 1 for an odd batch);\n"
    "                    the weights depend on N, not on threads or MPI ranks\n"
    "  -t, --threads N   OpenMP threads (the result does not depend on it)\n"
    "\n"
    "Several processes (MPI build, make MPI=1): mpirun -np P vidgen train ... gives each rank a\n"
    "share of the groups; the weights are the same bits as one process. Rank 0 writes OUT.\n"
    "  -q, --quiet\n";

typedef struct { int tty, quiet; int64_t total; } lctx;
static void on_log(void *ctx, const vg_train_log *l) {
    lctx *c = ctx;
    if (c->quiet) return;
    if (c->tty)
        fprintf(stderr, "\r  step %lld/%lld  loss %.4f  lr %.2e  %.2f clips/s  ", (long long)l->step, (long long)c->total, l->loss, l->lr, l->clips_per_s);
    else if (l->step % 10 == 0 || l->step == c->total)
        fprintf(stderr, "step %lld/%lld loss %.4f lr %.2e %.2f clips/s\n", (long long)l->step, (long long)c->total, l->loss, l->lr, l->clips_per_s);
}

int vg_cmd_train(int argc, char **argv) {
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(HELP, stdout); return 0; }
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[i + 1];
    }
    if (!config) return cli_error(CLI_USAGE, "vidgen train --config models/configs/tiny.train.json", "no --config given");
    char *txt = NULL;
    if (vg_file_read(config, &txt, NULL)) return cli_lib_error(NULL);
    vg_train_config c;
    if (vg_train_config_parse(&c, txt, config)) { free(txt); return cli_error(CLI_USAGE, NULL, "%s", vg_last_error()); }
    free(txt);
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        long iv;
        double dv;
        uint64_t u;
#define NEED() if (i + 1 >= argc) { rc = cli_error(CLI_USAGE, NULL, "%s needs a value", a); break; }
        if (!strcmp(a, "--config")) { i++; continue; }
        else if (!strcmp(a, "--resume")) c.resume = true;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) c.quiet = true;
        else if (!strcmp(a, "--out")) { NEED(); snprintf(c.out, sizeof(c.out), "%s", argv[++i]); }
        else if (!strcmp(a, "--data")) { NEED(); snprintf(c.data, sizeof(c.data), "%s", argv[++i]); }
        else if (!strcmp(a, "--steps")) { NEED(); if (!cli_parse_int(argv[++i], 1, 100000000, &iv)) rc = cli_error(CLI_USAGE, NULL, "--steps must be a positive integer"); else c.steps = (int)iv; }
        else if (!strcmp(a, "--batch")) { NEED(); if (!cli_parse_int(argv[++i], 1, 1024, &iv)) rc = cli_error(CLI_USAGE, NULL, "--batch must be in [1, 1024]"); else c.batch = (int)iv; }
        else if (!strcmp(a, "--groups")) { NEED(); if (!cli_parse_int(argv[++i], 1, 1024, &iv)) rc = cli_error(CLI_USAGE, NULL, "--groups must be in [1, 1024]"); else c.groups = (int)iv; }
        else if (!strcmp(a, "--ckpt-every")) { NEED(); if (!cli_parse_int(argv[++i], 1, 100000000, &iv)) rc = cli_error(CLI_USAGE, NULL, "--ckpt-every must be a positive integer"); else c.ckpt_every = (int)iv; }
        else if (!strcmp(a, "--lr")) { NEED(); if (!cli_parse_float(argv[++i], 0, 1, &dv)) rc = cli_error(CLI_USAGE, NULL, "--lr must be in [0, 1]"); else c.lr = dv; }
        else if (!strcmp(a, "--max-minutes")) { NEED(); if (!cli_parse_float(argv[++i], 0, 1e7, &dv)) rc = cli_error(CLI_USAGE, NULL, "--max-minutes must be >= 0"); else c.max_minutes = dv; }
        else if (!strcmp(a, "--seed")) { NEED(); if (!cli_parse_u64(argv[++i], &u)) rc = cli_error(CLI_USAGE, NULL, "--seed must be a non-negative integer"); else c.seed = u; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { NEED(); if (!cli_parse_int(argv[++i], 1, 1024, &iv)) rc = cli_error(CLI_USAGE, NULL, "--threads must be a positive integer"); else cli_set_threads((int)iv); }
        else rc = cli_error(CLI_USAGE, "see vidgen train --help", "unknown option '%s'", a);
#undef NEED
    }
    if (rc) { vg_train_config_free(&c); return rc; }
    const int groups = c.groups > 0 ? c.groups : (c.batch % 2 == 0 ? 2 : 1);
    if (c.batch % groups) { vg_train_config_free(&c); return cli_error(CLI_USAGE, "pick groups that divide the batch", "batch %d is not a multiple of groups %d", c.batch, groups); }
    if (vg_dist_rank()) c.quiet = true; /* rank 0 reports */
    else if (vg_dist_size() > groups)
        fprintf(stderr, "vidgen: warning: %d ranks but %d gradient groups: %d ranks stay idle (pass --groups N with N a multiple of %d, and a batch divisible by N)\n",
                vg_dist_size(), groups, vg_dist_size() - groups, vg_dist_size());
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    lctx lc = {isatty(2), c.quiet, c.steps};
    vg_status st = vg_train_run(&c, &g_stop, on_log, &lc, NULL);
    if (lc.tty && !c.quiet) fprintf(stderr, "\n");
    if (st == VG_ERR_INTERRUPTED) { if (!vg_dist_rank()) fprintf(stderr, "vidgen: %s\n", vg_last_error()); rc = 0; }
    else if (st) rc = vg_dist_rank() && strstr(vg_last_error(), "another rank failed") ? CLI_RUNTIME : cli_lib_error(NULL);
    else if (!c.quiet) fprintf(stderr, "vidgen: trained to step %d; model in %s/model\n", c.steps, c.out);
    vg_train_config_free(&c);
    return rc;
}
