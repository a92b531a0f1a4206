/* fuzz_settings.c - the settings JSON of `vidgen --config FILE` (gen_load_config: every key,
 * type and range of the settings table) resolved against models/tiny into a plan
 * (gen_plan_make: defaults, sizes, sampler, formats, init frames) and its vidgen.json keys.
 * Nothing is rendered. */
#include "fuzz_common.h"
#include "cli/gen_common.h"
#include "vidgen/model.h"

static vg_model g_tiny;
static int g_have;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/models/tiny", vgf_root());
    g_have = vg_model_open(&g_tiny, dir) == VG_OK;
    if (!g_have) { fprintf(stderr, "fuzz_settings: %s: cannot open (run from the repository root)\n", dir); abort(); }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[PATH_MAX];
    vgf_write(path, sizeof(path), "settings.json", data, size);
    gen_settings s = {0};
    gen_err e = {0};
    if (gen_load_config(&s, path, &e) == 0) {
        gen_plan pl;
        memset(&pl, 0, sizeof(pl));
        if (gen_plan_make(&pl, &s, &g_tiny, &e) == 0) {
            cJSON *meta = gen_plan_meta(&pl, &g_tiny);
            cJSON_Delete(meta);
            (void)gen_plan_check_memory(&pl, &e);
            gen_plan_free(&pl);
        }
    }
    gen_settings_free(&s);
    return 0;
}
