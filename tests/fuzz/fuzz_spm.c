/* fuzz_spm.c - the sentencepiece model reader vg_spm_load (by content: safetensors with a U8
 * "spiece_model", HF tokenizer.json, or a ModelProto with its precompiled charsmap), then
 * encoding a few texts with what loaded. */
#include "fuzz_common.h"
#include "vidgen/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[PATH_MAX];
    vgf_write(path, sizeof(path), "spiece.model", data, size);
    vg_spm *t = NULL;
    if (vg_spm_load(&t, path) != VG_OK) return 0;
    static const char *texts[] = {"", "a red ball", "  Zürich  東京 🙂 &amp; x\ty ", "\xff\xfe broken \xc3"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        int32_t *ids = NULL;
        int64_t n = 0;
        if (vg_spm_encode(t, texts[i], &ids, &n) == VG_OK) {
            for (int64_t k = 0; k < n; k++) if (ids[k] < 0 || ids[k] >= vg_spm_size(t)) abort();
            free(ids);
        }
        int32_t ids2[16], mask[16];
        int64_t nt;
        (void)vg_umt5_tokenize(t, texts[i], ids2, mask, 16, &nt);
    }
    for (int64_t i = 0; i < vg_spm_size(t) && i < 64; i++) (void)vg_spm_piece(t, (int32_t)i);
    vg_spm_free(t);
    return 0;
}
