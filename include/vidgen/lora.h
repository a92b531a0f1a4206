/* lora.h - LoRAs merged into a DiT's weights at load (Wan and vidgen's own models).
 * Formats (any prefix "diffusion_model.", "model.diffusion_model.", "transformer.",
 * "base_model.model." or none):
 *   PEFT / diffusers  <module>.lora_A.weight [r, in], <module>.lora_B.weight [out, r]
 *                     (module names official, blocks.N.self_attn.q, or diffusers, blocks.N.attn1.to_q)
 *   kohya / ComfyUI   lora_unet_<module with '_' for '.'>.lora_down.weight, .lora_up.weight, .alpha
 *   full deltas       <module>.diff (weight delta, the weight's shape), <module>.diff_b (bias delta),
 *                     as lightx2v's files carry for norms, modulation and biases.
 * Merge: W += s (B A) per module, s = SCALE * alpha / r when alpha is given, else SCALE; deltas
 * W += SCALE * diff. Sums in f32 (delta[o][i] = sum_r B[o][r] A[r][i] in r order), stored back in
 * the weight's dtype in a copy the model owns (the mapped file stays untouched): F32 / F16 / BF16
 * by rounding, ggml block types (GGUF) dequantized, merged and requantized with vg_quantize (the
 * quantizer `vidgen convert` uses), so the step keeps the int8 products and the memory. Conv weights (patch_embedding [D, C, 1, 2, 2]) take A [r, C, 1, 2, 2] and B [D, r, 1, 1, 1].
 * Keys the model lacks are reported by name; a LoRA whose shapes or block count belong to another
 * model is refused with both shapes. */
#ifndef VIDGEN_LORA_H
#define VIDGEN_LORA_H
#include <stddef.h>
#include "vidgen/dit.h"
#include "vidgen/status.h"

typedef struct {
    int modules;            /* weights and biases changed */
    int unmatched;          /* LoRA keys the model lacks (ignored) */
    char unmatched_names[512]; /* the first of them, comma-separated */
} vg_lora_report;

/* "FILE[:SCALE]": the scale is the text after the last ':' when it parses as a number (1 when
 * absent). false when the file part is empty or the scale is not finite. */
bool vg_lora_parse_spec(const char *spec, char *path, size_t cap, float *scale);

/* Merges the LoRA file at path (safetensors) into m with the given scale. rep may be NULL.
 * Errors: VG_ERR_IO / VG_ERR_FORMAT (the file, the key and what is wrong: a lone lora_A, a
 * rank mismatch between A and B), VG_ERR_SHAPE (the tensor and both shapes; "for another model"
 * when the LoRA's dims or block count differ from m's), VG_ERR_FORMAT when no key matches,
 * OOM. Shapes are checked before any merge, so a refused LoRA leaves m unchanged; an error during
 * the merge (OOM) leaves it part-merged and the caller discards the model. */
vg_status vg_lora_apply(vg_dit *m, const char *path, float scale, vg_lora_report *rep);

#endif
