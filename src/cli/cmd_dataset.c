/* cmd_dataset.c - `vidgen dataset shapes|mnist|DIR --out DIR --clips N [...]`: writes captioned
 * clips as DIR/clip_00001/frame_0001.png ... plus DIR/manifest.jsonl (written last, atomically),
 * the folder format that `vidgen train --data DIR` reads back (include/vidgen/data.h).
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/data.h"

static const char *USAGE =
    "usage: vidgen dataset shapes|mnist|SRC_DIR --out DIR --clips N [--size 64] [--frames 16]\n"
    "                      [--seed 0] [--holdout PHRASE]... [--mnist-dir D] [--mnist-test]\n"
    "                      [--overwrite] [--quiet]\n";

static int usage_error(const char *msg, const char *hint) {
    fprintf(stderr, "vidgen: error: %s\n", msg);
    fprintf(stderr, "hint: %s\n", hint ? hint : "run `vidgen dataset --help` for the options");
    return 2;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static void progress(void *ctx, int64_t done, int64_t total) {
    if (done == total || done % 100 == 0) fprintf(stderr, "\rvidgen: dataset: %lld/%lld clips", (long long)done, (long long)total);
    if (done == total) fputc('\n', stderr);
}

int vg_cmd_dataset(int argc, char **argv) {
    const char *src = NULL, *out = NULL, *mnist_dir = NULL;
    int64_t clips = -1, size = 64, frames = 16, seed = 0;
    int overwrite = 0, quiet = 0, mnist_test = 0;
    vg_heldout held = {0};
    char msg[600];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!strcmp(a, "--overwrite")) { overwrite = 1; continue; }
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) { quiet = 1; continue; }
        if (!strcmp(a, "--mnist-test")) { mnist_test = 1; continue; }
        if (a[0] == '-' && a[1]) {
            const char *v = i + 1 < argc ? argv[i + 1] : NULL;
            int known = !strcmp(a, "--out") || !strcmp(a, "--clips") || !strcmp(a, "--size") ||
                        !strcmp(a, "--frames") || !strcmp(a, "--seed") || !strcmp(a, "--holdout") ||
                        !strcmp(a, "--mnist-dir");
            if (!known) {
                snprintf(msg, sizeof(msg), "dataset: unknown option '%s'", a);
                return usage_error(msg, NULL);
            }
            if (!v) {
                snprintf(msg, sizeof(msg), "dataset: option %s needs a value", a);
                return usage_error(msg, NULL);
            }
            i++;
            int bad = 0;
            if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--mnist-dir")) mnist_dir = v;
            else if (!strcmp(a, "--clips")) bad = parse_i64(v, 1, 100000000, &clips);
            else if (!strcmp(a, "--size")) bad = parse_i64(v, 16, 4096, &size);
            else if (!strcmp(a, "--frames")) bad = parse_i64(v, 1, 10000, &frames);
            else if (!strcmp(a, "--seed")) bad = parse_i64(v, 0, INT64_MAX, &seed);
            else if (vg_heldout_add(&held, v) != VG_OK) {
                snprintf(msg, sizeof(msg), "dataset: --holdout: %s", vg_last_error());
                return usage_error(msg, "held-out phrases use caption words, e.g. --holdout \"green triangle\"");
            }
            if (bad) {
                snprintf(msg, sizeof(msg), "dataset: %s '%s' is not a valid number", a, v);
                return usage_error(msg, "--clips >= 1, --size 16..4096, --frames 1..10000, --seed >= 0");
            }
            continue;
        }
        if (src) {
            snprintf(msg, sizeof(msg), "dataset: unexpected argument '%s'", a);
            return usage_error(msg, NULL);
        }
        src = a;
    }
    if (!src) return usage_error("dataset: missing source (shapes, mnist or a folder of clips)",
                                 "vidgen dataset shapes --out data/shapes --clips 1000");
    if (!out) return usage_error("dataset: missing --out DIR", "vidgen dataset shapes --out data/shapes --clips 1000");
    if (clips < 0) return usage_error("dataset: missing --clips N", "vidgen dataset shapes --out data/shapes --clips 1000");
    if (held.n && strcmp(src, "shapes"))
        return usage_error("dataset: --holdout applies to the shapes source only", NULL);

    vg_dataset_opts o = {.size = (int)size, .frames = (int)frames, .seed = (uint64_t)seed,
                         .heldout = &held, .mnist_dir = mnist_dir, .mnist_test = mnist_test};
    vg_dataset *d = NULL;
    vg_status st = vg_dataset_open(&d, src, &o);
    if (st == VG_OK) st = vg_dataset_export(d, out, clips, overwrite, quiet ? NULL : progress, NULL);
    vg_dataset_free(d);
    if (st != VG_OK) {
        const char *e = vg_last_error();
        int usage = st == VG_ERR_ARG && !strncmp(e, "dataset '", 9);   /* an unknown source name */
        fprintf(stderr, "vidgen: error: %s\n", e);
        if (usage) fprintf(stderr, "hint: the source is shapes, mnist, or a folder written by `vidgen dataset`\n");
        else if (strstr(e, "make data")) fprintf(stderr, "hint: run `make data` to download MNIST\n");
        else if (strstr(e, "--overwrite")) fprintf(stderr, "hint: add --overwrite or choose another --out\n");
        return usage ? 2 : 1;
    }
    if (!quiet) fprintf(stderr, "vidgen: dataset: wrote %lld clips to %s/manifest.jsonl\n", (long long)clips, out);
    return 0;
}
