/* fuzz_prompt.c - the prompt tokenizers and the caption grammars of `vidgen score`: the
 * model's word tokenizer (vg_model_tokenize on models/tiny, unknown-word report), the umT5
 * cleaning and SentencePiece encoding (a small unigram tokenizer.json), the shape-world
 * caption parser and held-out phrases, and the judge (both grammars) on a rendered clip. */
#include "fuzz_common.h"
#include "vidgen/data.h"
#include "vidgen/model.h"
#include "vidgen/score.h"
#include "vidgen/tokenizer.h"

static vg_model g_tiny;
static vg_spm *g_spm;
static uint8_t g_clip[4 * 32 * 32 * 3];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/models/tiny", vgf_root());
    if (vg_model_open(&g_tiny, dir) != VG_OK) { fprintf(stderr, "fuzz_prompt: %s: cannot open\n", dir); abort(); }
    const char *js =
        "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"byte_fallback\": true, \"vocab\": ["
        "[\"<pad>\", 0], [\"</s>\", 0], [\"<unk>\", 0], [\"\xe2\x96\x81\", -2], [\"\xe2\x96\x81" "a\", -1],"
        "[\"b\", -3], [\"\xe2\x96\x81" "ab\", -2.5], [\"c\", -4], [\"bc\", -3], [\"<0x41>\", -5], [\"<0xC3>\", -5]]}}";
    if (vg_spm_from_tokenizer_json(&g_spm, js) != VG_OK) { fprintf(stderr, "fuzz_prompt: spm: %s\n", vg_last_error()); abort(); }
    vg_shape_spec s;
    if (vg_shape_parse(&s, "a big red ball moving right on a blue background") || vg_shape_render_u8(g_clip, &s, 4, 32, 32)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *p = vgf_str(data, size);
    int32_t ids[256];
    int n = 0;
    char *unk = NULL;
    if (g_tiny.dcfg.text_len <= 256 && vg_model_tokenize(&g_tiny, p, ids, &n, &unk) == VG_OK) free(unk);
    char *c = vg_umt5_clean(p);
    free(c);
    int32_t *sid = NULL;
    int64_t sn = 0;
    if (vg_spm_encode(g_spm, p, &sid, &sn) == VG_OK) free(sid);
    int32_t uid[24], mask[24];
    int64_t nt;
    (void)vg_umt5_tokenize(g_spm, p, uid, mask, 24, &nt);
    vg_shape_spec s;
    (void)vg_shape_parse(&s, p);
    vg_heldout h = {0};
    (void)vg_heldout_add(&h, p);
    vg_judge_result r;
    (void)vg_judge(&r, p, g_clip, 4, 32, 32);
    free(p);
    return 0;
}
