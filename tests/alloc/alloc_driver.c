/* alloc_driver.c - `vg_alloc_load KIND PATH`: one loader of the library, for the
 * allocation-failure sweep (tests/alloc/sweep.sh): safetensors, model (folder), config
 * (generate --config settings resolved against models/tiny), spm, png, manifest (folder), gguf
 * (the reader and every metadata lookup, then the file as the Wan loaders open it: wan_gguf.c).
 * Exit 0 when it loads, 1 with "vg_alloc_load: error: ..." on any error, 2 on usage. stdout: a
 * summary of what loaded (manifest: the clips, gguf: the tensor count), the same on every run
 * that absorbed a failure without a warning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/gen_common.h"
#include "model/wan_internal.h"
#include "vidgen/gguf.h"
#include "vidgen/data.h"
#include "vidgen/io.h"
#include "vidgen/model.h"
#include "vidgen/safetensors.h"
#include "vidgen/tokenizer.h"

/* every warning goes to stderr: the sweep checks that a load that gave less than the reference
 * (stdout's summary differs) said why, never silently */
static void warn_err(void *ctx, const char *msg) { (void)ctx; fprintf(stderr, "vg_alloc_load: warning: %s\n", msg); }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: vg_alloc_load safetensors|model|config|spm|png|manifest|gguf PATH\n"); return 2; }
    const char *k = argv[1], *p = argv[2];
    vg_status st = VG_OK;
    int rc = 0;
    if (!strcmp(k, "safetensors")) {
        vg_st_file *f = NULL;
        if (!(st = vg_st_open(&f, p))) vg_st_close(f);
    } else if (!strcmp(k, "gguf")) {
        vg_gguf *g = NULL;
        if (!(st = vg_gguf_open(&g, p))) {
            for (int64_t i = 0; i < vg_gguf_kv_count(g); i++) (void)vg_gguf_get_str(g, vg_gguf_kv_key(g, i));
            vg_gguf_close(g);
            vg_st_file *f = NULL;
            if (!(st = vg_wan_gguf_open_(&f, p))) {
                printf("tensors %lld\n", (long long)vg_st_count(f));
                vg_st_close(f);
            }
        }
    } else if (!strcmp(k, "model")) {
        vg_model m;
        if (!(st = vg_model_open(&m, p))) {
            int32_t ids[64];
            int n;
            char *unk = NULL;
            if (m.dcfg.text_len <= 64 && !(st = vg_model_tokenize(&m, "a big red ball bouncing on a zzz background", ids, &n, &unk))) free(unk);
            vg_model_close(&m);
        }
    } else if (!strcmp(k, "config")) {
        vg_model m;
        if (!(st = vg_model_open(&m, "models/tiny"))) {
            gen_settings s = {0};
            gen_err e = {0};
            gen_plan pl;
            memset(&pl, 0, sizeof(pl));
            if (gen_load_config(&s, p, &e) || gen_plan_make(&pl, &s, &m, &e)) {
                fprintf(stderr, "vg_alloc_load: error: %s\n", e.msg);
                rc = 1;
            } else {
                cJSON *meta = gen_plan_meta(&pl, &m);
                if (!meta) { fprintf(stderr, "vg_alloc_load: error: %s: settings as JSON: out of memory\n", p); rc = 1; }
                cJSON_Delete(meta);
                gen_plan_free(&pl);
            }
            gen_settings_free(&s);
            vg_model_close(&m);
        }
    } else if (!strcmp(k, "spm")) {
        vg_spm *t = NULL;
        if (!(st = vg_spm_load(&t, p))) {
            int32_t *ids = NULL;
            int64_t n;
            if (!(st = vg_spm_encode(t, "a red ball caf\xc3\xa9", &ids, &n))) free(ids);
            vg_spm_free(t);
        }
    } else if (!strcmp(k, "png")) {
        uint8_t *rgb = NULL;
        int w, h;
        if (!(st = vg_png_read(p, &rgb, &w, &h))) free(rgb);
    } else if (!strcmp(k, "manifest")) {
        vg_folder *f = NULL;
        if (!(st = vg_folder_open(&f, p, 0, 0, 1, warn_err, NULL))) {
            printf("clips %lld:", (long long)vg_folder_count(f));
            for (int64_t i = 0; i < vg_folder_count(f); i++) printf(" %s", vg_folder_name(f, i));
            printf("\n");
            vg_folder_free(f);
        }
    } else {
        fprintf(stderr, "vg_alloc_load: unknown kind '%s'\n", k);
        return 2;
    }
    if (st) { fprintf(stderr, "vg_alloc_load: error: %s\n", vg_last_error()); return 1; }
    return rc;
}
