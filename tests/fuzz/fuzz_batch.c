/* fuzz_batch.c - `vidgen batch JOBS --out DIR --dry-run`: the job lines (JSON lines, a JSON
 * array, or {"defaults": .., "jobs": [..]}), every job's settings, folder names, duplicate
 * detection and the dry-run table against models/tiny. Nothing is rendered or written. */
#include "fuzz_common.h"
#include "cli/cli.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char model[PATH_MAX];
    snprintf(model, sizeof(model), "%s/models/tiny", vgf_root());
    setenv("VIDGEN_MODEL", model, 1); /* a job without a model calibrates on the tiny one */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[PATH_MAX], out[PATH_MAX], model[PATH_MAX];
    vgf_write(path, sizeof(path), "jobs.jsonl", data, size);
    snprintf(out, sizeof(out), "%s/out", vgf_dir());
    snprintf(model, sizeof(model), "%s/models/tiny", vgf_root());
    char *argv[] = {"batch", path, "--out", out, "--dry-run", "--model", model, "-q", NULL};
    (void)vg_cmd_batch(8, argv);
    return 0;
}
