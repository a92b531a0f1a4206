/* make_wan_random.c - writes Wan2.1-T2V files with random weights and the real names and shapes
 * (vg_wan_write_random in src/model/wan.c): DiT 1.3B, umT5-XXL encoder, VAE; f16 Comfy layout by
 * default. For benchmarks (full size) and experiments (--tiny). Not built by `make`:
 *   make build/libvidgen.a && cc -O2 -fopenmp -Iinclude tools/make_wan_random.c build/libvidgen.a \
 *       -lcjson -lpng -lz -lm -o build/make_wan_random
 *   build/make_wan_random --out /tmp/wan-random --t5-layers 2     # ~6 GB instead of ~14 GB
 * Sizes (f16): DiT 2.84 GB, umT5-XXL 11.4 GB (24 layers; 2.1 GB embedding + 0.39 GB per layer), VAE 0.25 GB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/wan.h"

static const char *USAGE =
    "make_wan_random --out DIR [--layout comfy|diffusers] [--no-prefix] [--dtype f16|bf16|f32]\n"
    "                [--t5-layers N] [--dit-layers N] [--tiny] [--shards N] [--seed N]\n"
    "                [--skip-dit] [--skip-t5] [--skip-vae]\n"
    "  --tiny: DiT dim 32 x 2 layers, umT5 dim 32 x 2 layers (vocab 64), VAE base dim 8 (a few MB)\n";

int main(int argc, char **argv) {
    vg_wan_random_opts o;
    vg_wan_random_opts_default(&o);
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--out") && v) { out = v; i++; }
        else if (!strcmp(a, "--layout") && v) { o.layout = strcmp(v, "diffusers") ? VG_WAN_LAYOUT_COMFY : VG_WAN_LAYOUT_DIFFUSERS; i++; }
        else if (!strcmp(a, "--no-prefix")) o.dit_prefix = false;
        else if (!strcmp(a, "--dtype") && v) {
            o.dtype = !strcmp(v, "bf16") ? VG_DTYPE_BF16 : !strcmp(v, "f32") ? VG_DTYPE_F32 : VG_DTYPE_F16;
            i++;
        } else if (!strcmp(a, "--t5-layers") && v) { o.t5.layers = atoi(v); i++; }
        else if (!strcmp(a, "--dit-layers") && v) { o.dit.layers = atoi(v); i++; }
        else if (!strcmp(a, "--shards") && v) { o.shards = atoi(v); i++; }
        else if (!strcmp(a, "--seed") && v) { o.seed = strtoull(v, NULL, 10); i++; }
        else if (!strcmp(a, "--skip-dit")) o.skip_dit = true;
        else if (!strcmp(a, "--skip-t5")) o.skip_t5 = true;
        else if (!strcmp(a, "--skip-vae")) o.skip_vae = true;
        else if (!strcmp(a, "--tiny")) {
            o.dit.dim = 32; o.dit.ffn_dim = 64; o.dit.heads = 2; o.dit.layers = 2; o.dit.text_dim = 32;
            o.t5 = (vg_t5_config){.vocab = 64, .dim = 32, .dim_attn = 32, .ffn = 48, .heads = 4, .layers = 2,
                                  .buckets = 32, .max_dist = 128, .shared_pos = false, .eps = 1e-6f};
            o.vae.dim = 8;
        } else { fputs(USAGE, stderr); return 2; }
    }
    if (!out || o.t5.layers < 1 || o.dit.layers < 1) { fputs(USAGE, stderr); return 2; }
    if (vg_wan_write_random(out, &o)) { fprintf(stderr, "make_wan_random: error: %s\n", vg_last_error()); return 1; }
    fprintf(stderr, "make_wan_random: wrote %s (%s layout, DiT %d layers, umT5 %d layers)\n", out,
            o.layout == VG_WAN_LAYOUT_COMFY ? "Comfy" : "diffusers", o.dit.layers, o.t5.layers);
    return 0;
}
