/* test_wan.c - the Wan2.1 pipeline end to end on tiny random-weight files written into the
 * test's tmpdir (vg_wan_write_random: real names, small dims): Comfy files with and without the
 * `model.diffusion_model.` prefix, the diffusers folder (sharded DiT and umT5, index.json,
 * config.json, tokenizer/spiece.model) all load and give bit-identical frames; mis-shaped
 * tensors are named with both shapes; 4n+1 / multiple-of-16 refusals; memory refusal;
 * discovery errors; the official -> diffusers DiT name map. Runs build/vidgen (VIDGEN_BIN). */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "test.h"
#include "vidgen/io.h"
#include "vidgen/wan.h"

static const char *bin(void) {
    const char *b = getenv("VIDGEN_BIN");
    return b && *b ? b : "build/vidgen";
}

/* tiny but complete: DiT dim 32 (2 heads of 16), 2 layers; umT5 dim 32, 2 layers, vocab 64;
 * VAE base dim 8. text_len stays 512 so the diffusers config (which has no text_len) agrees. */
static void tiny_opts(vg_wan_random_opts *o, vg_wan_layout layout, bool prefix) {
    vg_wan_random_opts_default(o);
    o->dit.dim = 32; o->dit.ffn_dim = 64; o->dit.heads = 2; o->dit.layers = 2; o->dit.text_dim = 32;
    o->t5 = (vg_t5_config){.vocab = 64, .dim = 32, .dim_attn = 32, .ffn = 48, .heads = 4, .layers = 2, .buckets = 32,
                           .max_dist = 128, .shared_pos = false, .eps = 1e-6f};
    o->vae.dim = 8;
    o->layout = layout;
    o->dit_prefix = prefix;
    o->shards = 2;
    o->seed = 5;
}

/* the tiny Comfy set, written once per test binary run */
static const char *comfy_dir(void) {
    static char dir[600];
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "%s/wan_comfy", vg_test_tmpdir());
        vg_wan_random_opts o;
        tiny_opts(&o, VG_WAN_LAYOUT_COMFY, true);
        if (vg_wan_write_random(dir, &o) != VG_OK) { vg_test_failf(__FILE__, __LINE__, "%s", vg_last_error()); dir[0] = 0; return NULL; }
    }
    return dir;
}

/* one thread: the tiny model's many small OpenMP regions crawl on a loaded 2-core machine */
#define GEN "-p 'a red ball on the cat' --frames 5 -W 32 -H 16 --steps 2 --seed 3 -q -t 1"

VG_TEST(wan_comfy_end_to_end_frames_and_metadata) {
    const char *cd = comfy_dir(), *d = vg_test_tmpdir();
    CHECK(cd);
    char *o = NULL, p[700];
    int rc = vg_test_sh(&o, "%s --model %s " GEN " --out %s/w1", bin(), cd, d);
    CHECKF(rc == 0, "rc %d: %s", rc, o);
    free(o);
    for (int f = 1; f <= 5; f++) {
        snprintf(p, sizeof(p), "%s/w1/frame_%04d.png", d, f);
        uint8_t *rgb; int w, h;
        CHECK_OK(vg_png_read(p, &rgb, &w, &h));
        CHECKF(w == 32 && h == 16, "frame %d is %dx%d", f, w, h);
        free(rgb);
    }
    snprintf(p, sizeof(p), "%s/w1/frame_0006.png", d);
    CHECK(access(p, F_OK) != 0);
    snprintf(p, sizeof(p), "%s/w1/vidgen.json", d);
    char *txt = NULL;
    CHECK_OK(vg_file_read(p, &txt, NULL));
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    CHECK(j);
    const char *need[] = {"prompt", "negative_prompt", "frames", "width", "height", "steps", "cfg_scale", "seed", "sampler",
                          "flow_shift", "temporal_window", "diffusion_model", "text_encoder", "vae", "timings", "peak_rss_bytes"};
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) CHECKF(cJSON_GetObjectItem(j, need[i]), "vidgen.json lacks %s", need[i]);
    CHECK(strcmp(cJSON_GetObjectItem(j, "sampler")->valuestring, "unipc") == 0);          /* Wan default */
    CHECK(cJSON_GetObjectItem(j, "flow_shift")->valuedouble == 5.0);
    CHECK(strcmp(cJSON_GetObjectItem(j, "negative_prompt")->valuestring, vg_wan_default_negative_prompt) == 0);
    CHECK(cJSON_GetObjectItem(j, "prompt_tokens")->valuedouble > 3);                      /* ▁a ▁red ▁ball ... </s> */
    cJSON_Delete(j);
    snprintf(p, sizeof(p), "%s/w1/frame_0002.png", d);
    CHECK_OK(vg_png_read_text(p, "parameters", &txt));
    CHECKF(strstr(txt, "red ball") && strstr(txt, "umt5_xxl_fp16.safetensors"), "parameters: %s", txt);
    free(txt);
    /* refuses to overwrite; thread count does not change a byte; the seed does */
    rc = vg_test_sh(&o, "%s --model %s " GEN " --out %s/w1", bin(), cd, d);
    CHECKF(rc == 1 && strstr(o, "already holds frames"), "rc %d: %s", rc, o);
    free(o);
    CHECK(vg_test_sh(NULL, "%s --model %s " GEN " -t 1 --out %s/w1t1", bin(), cd, d) == 0);
    CHECK(vg_test_sh(NULL, "%s --model %s " GEN " -t 2 --out %s/w1t2", bin(), cd, d) == 0);
    CHECK(vg_test_sh(NULL, "%s --model %s " GEN " --seed 4 --out %s/w1s4", bin(), cd, d) == 0);
    for (int f = 1; f <= 5; f++)
        CHECKF(vg_test_sh(NULL, "cmp -s %s/w1t1/frame_%04d.png %s/w1t2/frame_%04d.png", d, f, d, f) == 0, "frame %d differs with 1 and 2 threads", f);
    CHECK(!vg_test_same_pixels(d, "w1t1", "w1s4", 3));
}

VG_TEST(wan_prefix_free_and_diffusers_layouts_give_same_frames) {
    const char *cd = comfy_dir(), *d = vg_test_tmpdir();
    CHECK(cd);
    char np[700], df[700];
    vg_wan_random_opts o;
    /* same seed and tensor order: identical values under other names / files */
    tiny_opts(&o, VG_WAN_LAYOUT_COMFY, false);
    o.skip_t5 = o.skip_vae = true;
    snprintf(np, sizeof(np), "%s/wan_noprefix", d);
    CHECK_OK(vg_wan_write_random(np, &o));
    tiny_opts(&o, VG_WAN_LAYOUT_DIFFUSERS, false);
    snprintf(df, sizeof(df), "%s/wan_diffusers", d);
    CHECK_OK(vg_wan_write_random(df, &o));
    char *out = NULL;
    CHECK(vg_test_sh(NULL, "%s --model %s " GEN " --out %s/ref", bin(), cd, d) == 0);
    int rc = vg_test_sh(&out, "%s --diffusion-model %s/wan2.1_t2v_1.3B_fp16.safetensors --text-encoder %s/umt5_xxl_fp16.safetensors "
                        "--vae %s/wan_2.1_vae.safetensors " GEN " --out %s/np", bin(), np, cd, cd, d);
    CHECKF(rc == 0, "no prefix: rc %d: %s", rc, out);
    free(out);
    rc = vg_test_sh(&out, "%s --model %s " GEN " --out %s/df", bin(), df, d);
    CHECKF(rc == 0, "diffusers: rc %d: %s", rc, out);
    free(out);
    /* settings of vidgen's own models are refused by name in Wan mode (shared settings table) */
    rc = vg_test_sh(&out, "%s --model %s " GEN " --sheet --out %s/sh 2>&1", bin(), df, d);
    CHECKF(rc == 2 && strstr(out, "--sheet is not supported with Wan2.1"), "--sheet in Wan mode: rc %d: %s", rc, out);
    free(out);
    /* the shards really are several files, found through the index */
    CHECK(vg_test_sh(NULL, "test -f %s/transformer/diffusion_pytorch_model-00002-of-00002.safetensors -a "
                     "-f %s/text_encoder/model.safetensors.index.json", df, df) == 0);
    for (int f = 1; f <= 5; f++) {
        CHECKF(vg_test_same_pixels(d, "ref", "np", f), "no-prefix frame %d differs", f);
        CHECKF(vg_test_same_pixels(d, "ref", "df", f), "diffusers frame %d differs", f);
    }
    /* library level: the index opens both shards, every DiT tensor is used, names are diffusers */
    vg_wan_files *wf = NULL;
    char p[800];
    snprintf(p, sizeof(p), "%s/transformer", df);
    CHECK_OK(vg_wan_files_open(&wf, p));
    CHECK(vg_wan_files_count(wf) == 2);
    vg_dit_config c;
    vg_wan_names nm;
    char prefix[64];
    CHECK_OK(vg_wan_dit_detect(&c, &nm, prefix, sizeof(prefix), wf));
    CHECK(nm == VG_WAN_NAMES_DIFFUSERS && prefix[0] == 0 && c.dim == 32 && c.heads == 2 && c.layers == 2 && c.ffn_dim == 64);
    vg_dit m;
    CHECK_OK(vg_wan_dit_load(&m, &c, wf, nm, prefix));
    char extra[256];
    CHECKF(vg_wan_files_unused(wf, extra, sizeof(extra)) == 0, "unused: %s", extra);
    CHECK(m.w.blk[1].ffn0_w.t == VG_DTYPE_F16); /* used in place, not converted */
    vg_dit_free(&m);
    vg_wan_files_close(wf);
}

VG_TEST(wan_misshaped_tensor_named_with_shapes) {
    const char *cd = comfy_dir(), *d = vg_test_tmpdir();
    CHECK(cd);
    vg_wan_random_opts o;
    char bad[700], *out = NULL;
    tiny_opts(&o, VG_WAN_LAYOUT_COMFY, true);
    o.skip_t5 = o.skip_vae = true;
    o.misshape = "blocks.1.ffn.0.weight";
    snprintf(bad, sizeof(bad), "%s/wan_bad", d);
    CHECK_OK(vg_wan_write_random(bad, &o));
    int rc = vg_test_sh(&out, "%s --diffusion-model %s/wan2.1_t2v_1.3B_fp16.safetensors --text-encoder %s/umt5_xxl_fp16.safetensors "
                        "--vae %s/wan_2.1_vae.safetensors " GEN " --out %s/bad", bin(), bad, cd, cd, d);
    CHECKF(rc == 1 && strstr(out, "model.diffusion_model.blocks.1.ffn.0.weight") && strstr(out, "[63,32]") && strstr(out, "[64,32]"),
           "rc %d: %s", rc, out);
    free(out);
    /* diffusers naming: the message names the diffusers key */
    tiny_opts(&o, VG_WAN_LAYOUT_DIFFUSERS, false);
    o.skip_t5 = o.skip_vae = true;
    o.misshape = "blocks.0.self_attn.o.weight";
    snprintf(bad, sizeof(bad), "%s/wan_bad_diff", d);
    CHECK_OK(vg_wan_write_random(bad, &o));
    vg_wan_files *wf = NULL;
    char p[800];
    snprintf(p, sizeof(p), "%s/transformer", bad);
    CHECK_OK(vg_wan_files_open(&wf, p));
    vg_dit_config c;
    vg_wan_names nm;
    char prefix[64];
    vg_dit m;
    CHECK_OK(vg_wan_dit_detect(&c, &nm, prefix, sizeof(prefix), wf));
    vg_status st = vg_wan_dit_load(&m, &c, wf, nm, prefix);
    const char *e = vg_last_error();
    CHECKF(st == VG_ERR_SHAPE && strstr(e, "blocks.0.attn1.to_out.0.weight") && strstr(e, "[31,32]") && strstr(e, "[32,32]"), "%d: %s", st, e);
    vg_wan_files_close(wf);
}

VG_TEST(wan_refuses_bad_sizes_and_memory) {
    const char *cd = comfy_dir(), *d = vg_test_tmpdir();
    CHECK(cd);
    static const struct { const char *args, *want1, *want2; } cases[] = {
        {"--frames 6 -W 32 -H 16", "4n+1", "5 or 9"},
        {"--frames 80 -W 32 -H 16", "4n+1", "77 or 81"},
        {"--frames 5 -W 40 -H 16", "--width 40", "32 or 48"},
        {"--frames 5 -W 32 -H 8", "--height 8", "nearest: 16"},
        {"--frames 5 -W 32 -H 16 --sampler dpm", "unknown sampler", "dpm"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *o = NULL;
        int rc = vg_test_sh(&o, "%s --model %s -p x %s --out %s/r%zu", bin(), cd, cases[i].args, d, i);
        CHECKF(rc == 2 && strstr(o, cases[i].want1) && strstr(o, cases[i].want2), "'%s': rc %d: %s", cases[i].args, rc, o);
        free(o);
    }
    char *o = NULL, p[700];
    int rc = vg_test_sh(&o, "%s --model %s " GEN " --max-memory 1M --out %s/mem", bin(), cd, d);
    CHECKF(rc == 1 && strstr(o, "needs about") && strstr(o, "MiB"), "rc %d: %s", rc, o);
    free(o);
    snprintf(p, sizeof(p), "%s/mem", d);
    CHECK(access(p, F_OK) != 0);
    /* the estimate grows with the clip (activations) */
    vg_wan_paths paths = {0};
    CHECK_OK(vg_wan_discover(&paths, cd));
    vg_wan_params a, b;
    vg_wan_params_default(&a);
    a.frames = 5; a.width = 32; a.height = 16;
    b = a;
    b.frames = 41; b.width = 64;
    vg_wan_mem ma, mb;
    CHECK_OK(vg_wan_estimate(&ma, &paths, &a));
    CHECK_OK(vg_wan_estimate(&mb, &paths, &b));
    CHECKF(ma.peak > ma.dit_weights && mb.dit_acts > ma.dit_acts && mb.vae > ma.vae && mb.peak > ma.peak, "%lld %lld", (long long)ma.dit_acts, (long long)mb.dit_acts);
    vg_wan_paths_free(&paths);
}

VG_TEST(wan_discovery_errors) {
    const char *cd = comfy_dir(), *d = vg_test_tmpdir();
    CHECK(cd);
    char *o = NULL;
    /* two DiTs: ambiguous, both listed; the official .pth T5 alone: pointed to the Comfy file */
    int rc = vg_test_sh(&o, "mkdir -p %s/amb && cp %s/*.safetensors %s/amb/ && cp %s/wan2.1_t2v_1.3B_fp16.safetensors %s/amb/second.safetensors && "
                        "%s --model %s/amb " GEN " --out %s/amb_o", d, cd, d, cd, d, bin(), d, d);
    CHECKF(rc == 1 && strstr(o, "2 candidates") && strstr(o, "second.safetensors") && strstr(o, "--diffusion-model"), "rc %d: %s", rc, o);
    free(o);
    rc = vg_test_sh(&o, "mkdir -p %s/pth && cp %s/wan2.1_t2v_1.3B_fp16.safetensors %s/wan_2.1_vae.safetensors %s/pth/ && "
                    "echo x > %s/pth/models_t5_umt5-xxl-enc-bf16.pth && %s --model %s/pth " GEN " --out %s/pth_o",
                    d, cd, cd, d, d, bin(), d, d);
    CHECKF(rc == 1 && strstr(o, "pickle") && strstr(o, "umt5_xxl_fp16.safetensors") && strstr(o, "--text-encoder"), "rc %d: %s", rc, o);
    free(o);
}

VG_TEST(wan_dit_diffusers_name_map) {
    vg_dit_config c;
    vg_dit_config_wan13b(&c);
    c.layers = 2;
    static const char *pairs[][2] = {
        {"patch_embedding.weight", "patch_embedding.weight"},
        {"text_embedding.2.bias", "condition_embedder.text_embedder.linear_2.bias"},
        {"time_embedding.0.weight", "condition_embedder.time_embedder.linear_1.weight"},
        {"time_projection.1.weight", "condition_embedder.time_proj.weight"},
        {"blocks.1.modulation", "blocks.1.scale_shift_table"},
        {"blocks.0.self_attn.o.bias", "blocks.0.attn1.to_out.0.bias"},
        {"blocks.0.cross_attn.norm_k.weight", "blocks.0.attn2.norm_k.weight"},
        {"blocks.1.norm3.weight", "blocks.1.norm2.weight"},
        {"blocks.0.ffn.0.weight", "blocks.0.ffn.net.0.proj.weight"},
        {"blocks.0.ffn.2.bias", "blocks.0.ffn.net.2.bias"},
        {"head.modulation", "scale_shift_table"},
        {"head.head.weight", "proj_out.weight"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        CHECKF(vg_wan_dit_name_diffusers(out, sizeof(out), pairs[i][0]) && strcmp(out, pairs[i][1]) == 0, "%s -> %s", pairs[i][0], out);
    }
    CHECK(!vg_wan_dit_name_diffusers(out, sizeof(out), "blocks.0.bogus.weight"));
    CHECK(!vg_wan_dit_name_diffusers(out, sizeof(out), "nothing"));
}

VG_TEST(wan_extra_tensor_reported) {
    const char *cd = comfy_dir(), *d = vg_test_tmpdir();
    CHECK(cd);
    char src[700], dst[700], *out = NULL;
    snprintf(src, sizeof(src), "%s/wan2.1_t2v_1.3B_fp16.safetensors", cd);
    snprintf(dst, sizeof(dst), "%s/wan_extra.safetensors", d);
    vg_st_file *f = NULL;
    CHECK_OK(vg_st_open(&f, src));
    vg_st_writer *w = vg_st_writer_new();
    CHECK(w);
    for (int64_t i = 0; i < vg_st_count(f); i++) {
        const vg_tensor *t = vg_st_at(f, i);
        CHECK_OK(vg_st_writer_add(w, vg_st_name(f, i), t->dtype, t->ndim, t->shape, t->data));
    }
    float z[4] = {0};
    CHECK_OK(vg_st_writer_add(w, "model.diffusion_model.bogus.weight", VG_DTYPE_F32, 1, (int64_t[]){4}, z));
    CHECK_OK(vg_st_writer_meta(w, "config", vg_st_metadata(f, "config")));
    CHECK_OK(vg_st_writer_save(w, dst));
    vg_st_writer_free(w);
    vg_st_close(f);
    vg_wan_files *wf = NULL;
    CHECK_OK(vg_wan_files_open(&wf, dst));
    vg_dit_config c;
    vg_wan_names nm;
    char prefix[64], names[256];
    vg_dit m;
    CHECK_OK(vg_wan_dit_detect(&c, &nm, prefix, sizeof(prefix), wf));
    CHECK(strcmp(prefix, "model.diffusion_model.") == 0 && nm == VG_WAN_NAMES_OFFICIAL);
    CHECK_OK(vg_wan_dit_load(&m, &c, wf, nm, prefix));
    CHECKF(vg_wan_files_unused(wf, names, sizeof(names)) == 1 && strstr(names, "model.diffusion_model.bogus.weight"), "%s", names);
    vg_dit_free(&m);
    vg_wan_files_close(wf);
    int rc = vg_test_sh(&out, "%s --diffusion-model %s --text-encoder %s/umt5_xxl_fp16.safetensors --vae %s/wan_2.1_vae.safetensors "
                        "-p 'a cat' --frames 1 -W 16 -H 16 --steps 1 -t 1 -q --out %s/extra", bin(), dst, cd, cd, d);
    CHECKF(rc == 0 && strstr(out, "warning") && strstr(out, "1 unexpected tensor") && strstr(out, "bogus.weight"), "rc %d: %s", rc, out);
    free(out);
}

/* Few-step sampling end to end: --sampler dmd with Self-Forcing's warped list and no CFG runs 4
 * steps, records the sigmas it ran in vidgen.json, gives the same frames at 1 and 2 threads and
 * other frames than UniPC; a model folder's config.json sets the same defaults; bad lists and a
 * --steps that disagrees with the list are usage errors. */
VG_TEST(wan_dmd_few_step_schedule) {
    const char *cd = comfy_dir();
    CHECK(cd);
    const char *d = vg_test_tmpdir();
#define FEW "-p 'a red ball on the cat' --frames 5 -W 32 -H 16 --seed 3 -q --sampler dmd --timesteps 1000,750,500,250 " \
            "--warp-timesteps --flow-shift 5 --cfg-scale 1"
    CHECK(vg_test_sh(NULL, "%s --model %s " FEW " -t 1 --out %s/dmd1", bin(), cd, d) == 0);
    CHECK(vg_test_sh(NULL, "%s --model %s " FEW " -t 2 --out %s/dmd2", bin(), cd, d) == 0);
    for (int f = 1; f <= 5; f++) CHECKF(vg_test_same_pixels(d, "dmd1", "dmd2", f), "dmd frame %d differs with 1 and 2 threads", f);
    CHECK(vg_test_sh(NULL, "%s --model %s -p 'a red ball on the cat' --frames 5 -W 32 -H 16 --seed 3 -q --steps 4 --out %s/uni4",
                     bin(), cd, d) == 0);
    CHECK(!vg_test_same_pixels(d, "dmd1", "uni4", 3));
    char p[700], *txt = NULL;
    snprintf(p, sizeof(p), "%s/dmd1/vidgen.json", d);
    CHECK_OK(vg_file_read(p, &txt, NULL));
    cJSON *o = cJSON_Parse(txt);
    free(txt);
    const cJSON *sg = cJSON_GetObjectItemCaseSensitive(o, "sigmas"), *sm = cJSON_GetObjectItemCaseSensitive(o, "sampler"),
                *st = cJSON_GetObjectItemCaseSensitive(o, "steps");
    bool ok = cJSON_IsArray(sg) && cJSON_GetArraySize(sg) == 4 && cJSON_IsString(sm) && !strcmp(sm->valuestring, "dmd") &&
              cJSON_IsNumber(st) && st->valueint == 4 && fabs(cJSON_GetArrayItem(sg, 1)->valuedouble - 0.9375) < 1e-7 &&
              fabs(cJSON_GetArrayItem(sg, 3)->valuedouble - 0.625) < 1e-7;
    cJSON_Delete(o);
    CHECKF(ok, "%s: expected sampler dmd, 4 steps, sigmas 1, 0.9375, 0.8333, 0.625", p);
    /* the same defaults from the model folder's config.json (Self-Forcing's key names) */
    CHECK(vg_test_sh(NULL, "mkdir -p %s/sf && cp %s/*.safetensors %s/sf/ && printf '%%s' '{\"sampler\": \"dmd\", "
                     "\"denoising_step_list\": [1000, 750, 500, 250], \"warp_denoising_step\": true, \"timestep_shift\": 5.0, "
                     "\"guidance_scale\": 1.0, \"_class_name\": \"WanModel\", \"dim\": 32}' > %s/sf/config.json", d, cd, d, d) == 0);
    CHECK(vg_test_sh(NULL, "%s --model %s/sf -p 'a red ball on the cat' --frames 5 -W 32 -H 16 --seed 3 -q -t 1 --out %s/dmdcfg",
                     bin(), d, d) == 0);
    for (int f = 1; f <= 5; f++) CHECKF(vg_test_same_pixels(d, "dmd1", "dmdcfg", f), "config.json defaults: frame %d differs", f);
    static const char *bad[] = {"--timesteps 500,750", "--timesteps 1000,x", "--timesteps 1000,750 --steps 3",
                                "--sigmas 1,0.5 --timesteps 1000,500", "--warp-timesteps", "--sigmas 1.5,0.5", "--sampler ddim"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = NULL;
        int rc = vg_test_sh(&out, "%s --model %s -p x --frames 5 -W 32 -H 16 %s --out %s/bad 2>&1", bin(), cd, bad[i], d);
        bool good = rc == 2 && out && strstr(out, "vidgen: error:");
        if (!good) { vg_test_failf(__FILE__, __LINE__, "'%s': exit %d, expected 2 with an error line: %s", bad[i], rc, out ? out : ""); free(out); return; }
        free(out);
    }
#undef FEW
}

/* A distillation checkpoint saved whole (Self-Forcing / CausVid style): the DiT under
 * "generator.model._orig_mod." beside a critic copy under "fake_score.model." with other values.
 * vidgen takes the generator: the frames equal those of the plain file. */
VG_TEST(wan_distilled_checkpoint_prefixes) {
    const char *cd = comfy_dir();
    CHECK(cd);
    const char *d = vg_test_tmpdir();
    char src[700], dst[700];
    snprintf(src, sizeof(src), "%s/wan2.1_t2v_1.3B_fp16.safetensors", cd);
    snprintf(dst, sizeof(dst), "%s/selfforcing_dit.safetensors", d);
    vg_st_file *f = NULL;
    CHECK_OK(vg_st_open(&f, src));
    vg_st_writer *w = vg_st_writer_new();
    vg_status st = VG_OK;
    for (int64_t i = 0; i < vg_st_count(f) && !st; i++) {
        const vg_tensor *t = vg_st_at(f, i);
        const char *nm = vg_st_name(f, i);
        if (!strncmp(nm, "model.diffusion_model.", 22)) nm += 22;
        char a[300], b[300];
        snprintf(a, sizeof(a), "fake_score.model.%s", nm);
        snprintf(b, sizeof(b), "generator.model._orig_mod.%s", nm);
        int64_t n = vg_tensor_numel(t);
        float *v = malloc(sizeof(float) * (size_t)(n ? n : 1));
        vg_to_f32(v, t->data, t->dtype, n);
        for (int64_t j = 0; j < n; j++) v[j] = -v[j]; /* the critic: other values */
        st = vg_st_writer_add_f32(w, a, t->dtype, t->ndim, t->shape, v);
        free(v);
        if (!st) st = vg_st_writer_add(w, b, t->dtype, t->ndim, t->shape, t->data);
    }
    const char *meta = vg_st_metadata(f, "config"); /* the tiny DiT's shape config travels along */
    if (!st && meta) st = vg_st_writer_meta(w, "config", meta);
    if (!st) st = vg_st_writer_save(w, dst);
    vg_st_writer_free(w);
    vg_st_close(f);
    CHECK_OK(st);
    CHECK(vg_test_sh(NULL, "%s --model %s " GEN " --out %s/sf_ref", bin(), cd, d) == 0);
    char *out = NULL;
    int rc = vg_test_sh(&out, "%s --diffusion-model %s --text-encoder %s/umt5_xxl_fp16.safetensors --vae %s/wan_2.1_vae.safetensors "
                        GEN " --out %s/sf_gen 2>&1", bin(), dst, cd, cd, d);
    CHECKF(rc == 0, "rc %d: %s", rc, out ? out : "");
    free(out);
    for (int fr = 1; fr <= 5; fr++) CHECKF(vg_test_same_pixels(d, "sf_ref", "sf_gen", fr), "frame %d: not the generator's frames", fr);
}
