/* fuzz_config.c - a model folder's config.json (vg_model_create: dit and text_encoder
 * blocks, vocabulary, defaults, training) and the training settings JSON
 * (vg_train_config_parse) on the same bytes; a model that loads tokenizes a prompt. */
#include "fuzz_common.h"
#include "vidgen/model.h"
#include "vidgen/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = vgf_str(data, size);
    vg_model m;
    if (vg_model_create(&m, json, "config.json") == VG_OK) {
        int32_t ids[512];
        int n = 0;
        char *unk = NULL;
        if (m.dcfg.text_len > 0 && m.dcfg.text_len <= 512 &&
            vg_model_tokenize(&m, "a big red ball bouncing on a zzz background", ids, &n, &unk) == VG_OK) free(unk);
        vg_model_close(&m);
    }
    vg_train_config c;
    memset(&c, 0, sizeof(c));
    if (vg_train_config_parse(&c, json, "train.json") == VG_OK) vg_train_config_free(&c);
    free(json);
    return 0;
}
