/* cmd_convert.c - `vidgen convert IN... --out FILE.gguf --type T`: safetensors (any layout the Wan
 * loaders read: single files, shard indexes, folders) or GGUF to GGUF, quantizing with ggml's
 * quantizers (vg_quant_row_imatrix_ref, no importance matrix: the bytes sd.cpp writes). Layouts: comfy (ComfyUI-GGUF: official DiT names
 * without a prefix, llama.cpp umT5 names, tensors of more than 4 dims flattened with
 * comfy.gguf.orig_shape.<name>) or sdcpp (stable-diffusion.cpp: "model.diffusion_model." DiT
 * names, 5-D patch embedding folded to 4-D, 2-D modulations, HF umT5 names). The file is written
 * atomically, tensors streamed (rows converted in parallel, memory stays small). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "vidgen/gguf.h"
#include "vidgen/quant.h"
#include "vidgen/wan.h"

static const char usage[] =
    "vidgen convert IN... --out FILE.gguf --type TYPE [--tensor-type-rules \"REGEX=TYPE,...\"]\n"
    "               [--layout comfy|sdcpp] [-t THREADS]\n"
    "  IN: .safetensors files, *.safetensors.index.json shard sets, folders holding one, or .gguf files\n"
    "      (a Wan DiT, umT5 encoder, VAE or any tensors); all go into one GGUF.\n"
    "  --type q8_0|q6_k|q5_k|q4_k|q5_0|q5_1|q4_0|q4_1|q3_k|q2_k|bf16|f16|f32: the type of the weight\n"
    "      matrices (2-D tensors of at least 4096 elements). Stay F32 unless a rule says otherwise:\n"
    "      1-D tensors (norms, biases), modulations, relative-position tables, patch/conv weights\n"
    "      (3-D and more) and tensors under 4096 elements.\n"
    "      A matrix whose rows are not a multiple of the type's block (256 for the K-quants, 32 for\n"
    "      the others) falls back to Q8_0 (rows a multiple of 32) or F16; the fallbacks are listed.\n"
    "  --tensor-type-rules \"REGEX=TYPE,...\": POSIX extended regexes on the output tensor names;\n"
    "      the first match sets the type (e.g. \"ffn=q4_k,attn=q8_0,norm=f16\").\n"
    "  --layout comfy (default): names and shapes as ComfyUI-GGUF (city96) writes them; sdcpp: as\n"
    "      stable-diffusion.cpp's -M convert. vidgen reads both.\n";

/* ggml's quantizer along its importance-matrix paths with all-ones weights (qmath's
 * vg_quant_row_imatrix_ref): the bytes stable-diffusion.cpp's convert writes, and a lower error
 * than the plain quantize_row_*_ref for the block types. */
static void quant_row(vg_dtype t, const float *src, void *dst, int64_t n) { vg_quant_row_imatrix_ref(t, src, dst, n, NULL); }

typedef struct { regex_t re; vg_dtype t; char *src; } rule;

typedef struct {
    const vg_tensor *src;
    vg_dtype out;
    int64_t row;       /* output row length (elements) */
} conv_ctx;

/* rows row0 .. row0+nrows of the source, as f32 (dequantized when the source is GGUF), into out */
static vg_status conv_fill(void *ctx, int64_t row0, int64_t nrows, void *dst) {
    const conv_ctx *c = ctx;
    int64_t srb = vg_dtype_row_bytes(c->src->dtype, c->row), orb = vg_dtype_row_bytes(c->out, c->row);
    int bad = 0;
#pragma omp parallel
    {
        float *buf = malloc(sizeof(float) * (size_t)c->row);
        if (!buf) {
#pragma omp atomic write
            bad = 1;
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < nrows; r++) {
            if (!buf) continue;
            const uint8_t *s = (const uint8_t *)c->src->data + (row0 + r) * srb;
            uint8_t *o = (uint8_t *)dst + r * orb;
            vg_dequant_row(c->src->dtype, s, buf, c->row);
            if (vg_dtype_is_quant(c->out)) quant_row(c->out, buf, o, c->row);
            else vg_from_f32(o, c->out, buf, c->row);
        }
        free(buf);
    }
    return bad ? vg_fail(VG_ERR_OOM, "convert: out of memory for a row buffer") : VG_OK;
}

typedef struct {
    vg_gguf_writer *w;
    vg_dtype type;
    rule *rules;
    int n_rules;
    bool comfy;
    conv_ctx *ctx;
    int64_t n_ctx, cap_ctx;
    int64_t n_quant, n_fallback, bytes;
    char fallbacks[600];
    size_t fb_len;
} conv;

static bool is_small(const char *name, int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    size_t l = strlen(name);
    return ndim != 2 || n < 4096 || strstr(name, "modulation") || strstr(name, "relative_attention_bias") ||
           strstr(name, "attn_rel_b") || strstr(name, "patch_embedding") || (l > 5 && strcmp(name + l - 5, ".bias") == 0);
}

/* Adds one tensor: name/shape as they go into the file (real_nd/real_shape: the torch shape). */
static vg_status add(conv *cv, const char *name, const vg_tensor *t, int real_nd, const int64_t *real_shape) {
    int nd = real_nd;
    int64_t sh[VG_MAX_DIMS];
    memcpy(sh, real_shape, sizeof(int64_t) * (size_t)nd);
    bool orig = false;
    if (!cv->comfy && nd == 5 && strstr(name, "patch_embedding")) { /* sd.cpp: [D*C, 1, ph, pw] */
        sh[0] = real_shape[0] * real_shape[1]; sh[1] = real_shape[2]; sh[2] = real_shape[3]; sh[3] = real_shape[4];
        nd = 4;
    } else if (!cv->comfy && nd == 3 && sh[0] == 1 && strstr(name, "modulation")) {
        sh[0] = sh[1]; sh[1] = sh[2];
        nd = 2;
    }
    if (nd > 4) { /* GGUF holds 4 dims: flatten to [d0, rest], real shape in metadata */
        int64_t rest = 1;
        for (int d = 1; d < nd; d++) rest *= sh[d];
        sh[1] = rest;
        nd = 2;
        orig = true;
    }
    if (nd == 0) { sh[0] = 1; nd = 1; }
    vg_dtype ty = is_small(name, real_nd, real_shape) ? VG_DTYPE_F32 : cv->type;
    for (int i = 0; i < cv->n_rules; i++)
        if (regexec(&cv->rules[i].re, name, 0, NULL, 0) == 0) { ty = cv->rules[i].t; break; }
    int64_t row = sh[nd - 1];
    if (row % vg_dtype_block(ty)) {
        vg_dtype fb = row % 32 == 0 && vg_dtype_is_quant(ty) ? VG_DTYPE_Q8_0 : VG_DTYPE_F16;
        cv->n_fallback++;
        if (cv->fb_len + 1 < sizeof(cv->fallbacks))
            cv->fb_len += (size_t)snprintf(cv->fallbacks + cv->fb_len, sizeof(cv->fallbacks) - cv->fb_len, "%s%s (rows of %lld) -> %s",
                                           cv->n_fallback > 1 ? ", " : "", name, (long long)row, vg_dtype_name(fb));
        if (cv->fb_len >= sizeof(cv->fallbacks)) cv->fb_len = sizeof(cv->fallbacks) - 1;
        ty = fb;
    }
    if (cv->n_ctx == cv->cap_ctx) return vg_fail(VG_ERR_ARG, "convert: more than %lld tensors", (long long)cv->cap_ctx);
    conv_ctx *c = &cv->ctx[cv->n_ctx++];
    *c = (conv_ctx){t, ty, row};
    vg_status st = vg_gguf_writer_add(cv->w, name, ty, nd, sh, conv_fill, c);
    if (!st && orig) {
        char key[600];
        snprintf(key, sizeof(key), "comfy.gguf.orig_shape.%s", name);
        st = vg_gguf_writer_meta_i32s(cv->w, key, real_shape, real_nd);
    }
    if (!st) {
        int64_t rows = 1;
        for (int d = 0; d + 1 < nd; d++) rows *= sh[d];
        cv->bytes += vg_dtype_row_bytes(ty, row) * rows;
        cv->n_quant += vg_dtype_is_quant(ty);
    }
    return st;
}

typedef struct { conv *cv; vg_wan_files *f; vg_wan_names names; const char *prefix; vg_status err; bool **seen; } dit_ctx;

static void mark_seen(vg_wan_files *f, bool **seen, const char *key) {
    int s = 0;
    if (!vg_wan_files_find(f, key, &s)) return;
    vg_st_file *sh = vg_wan_files_shard(f, s);
    for (int64_t k = 0; k < vg_st_count(sh); k++)
        if (strcmp(vg_st_name(sh, k), key) == 0) { seen[s][k] = true; break; }
}

static void dit_visit(void *ctx, const char *name, int nd, const int64_t *shape, vg_w *w) {
    (void)w;
    dit_ctx *d = ctx;
    if (d->err) return;
    char base[300], key[400], out[400];
    if (d->names == VG_WAN_NAMES_DIFFUSERS) { if (!vg_wan_dit_name_diffusers(base, sizeof(base), name)) return; }
    else snprintf(base, sizeof(base), "%s", name);
    snprintf(key, sizeof(key), "%s%s", d->prefix, base);
    const vg_tensor *t = vg_wan_files_find(d->f, key, NULL);
    if (!t) return; /* optional tensors (text_pool ...) */
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    if (vg_tensor_numel(t) != n) {
        char a[96], b[96];
        d->err = vg_fail(VG_ERR_SHAPE, "%s: tensor '%s': shape %s, expected %s", vg_wan_files_path(d->f), key,
                         vg_shape_str(a, sizeof(a), t->ndim, t->shape), vg_shape_str(b, sizeof(b), nd, shape));
        return;
    }
    snprintf(out, sizeof(out), "%s%s", d->cv->comfy ? "" : "model.diffusion_model.", name);
    mark_seen(d->f, d->seen, key);
    d->err = add(d->cv, out, t, nd, shape);
}

/* One input set: a DiT goes by its official names, a umT5 by HF (sdcpp) or llama.cpp (comfy)
 * names; anything else (VAE, other tensors) keeps its names. */
static vg_status convert_set(conv *cv, vg_wan_files *f, const char **arch) {
    int ns = vg_wan_files_count(f);
    bool **seen = calloc((size_t)ns, sizeof(bool *));
    vg_status st = seen ? VG_OK : vg_fail(VG_ERR_OOM, "out of memory");
    for (int i = 0; i < ns && !st; i++)
        if (!(seen[i] = calloc((size_t)vg_st_count(vg_wan_files_shard(f, i)) + 1, sizeof(bool)))) st = vg_fail(VG_ERR_OOM, "out of memory");
    vg_dit_config cfg;
    vg_wan_names names;
    char prefix[128];
    bool is_dit = !st && vg_wan_dit_detect(&cfg, &names, prefix, sizeof(prefix), f) == VG_OK;
    vg_clear_error();
    if (is_dit) {
        *arch = "wan";
        vg_dit_weights w = {0};
        w.blk = calloc((size_t)cfg.layers, sizeof(vg_dit_block));
        if (!w.blk) st = vg_fail(VG_ERR_OOM, "out of memory");
        dit_ctx d = {cv, f, names, prefix, st, seen};
        if (!st) vg_dit_visit(&cfg, &w, dit_visit, &d);
        st = d.err;
        free(w.blk);
    }
    bool t5 = !is_dit && (vg_wan_files_find(f, "shared.weight", NULL) || vg_wan_files_find(f, "encoder.block.0.layer.0.SelfAttention.q.weight", NULL) ||
                          (vg_wan_files_find(f, "token_embedding.weight", NULL) && vg_wan_files_find(f, "blocks.0.attn.q.weight", NULL)));
    if (t5 && !*arch) *arch = "t5encoder";
    for (int i = 0; i < ns && !st; i++) {
        vg_st_file *sh = vg_wan_files_shard(f, i);
        for (int64_t k = 0; k < vg_st_count(sh) && !st; k++) {
            const char *nm = vg_st_name(sh, k);
            const vg_tensor *t = vg_st_at(sh, k);
            if (seen[i][k]) continue;
            if (t5 && strcmp(nm, "spiece_model") == 0 && t->dtype == VG_DTYPE_U8 && t->ndim == 1) {
                /* the tokenizer: as metadata (a U8 tensor is not a GGUF type), read back as spiece_model */
                st = vg_gguf_writer_meta_bytes(cv->w, "vidgen.spiece_model", t->data, t->shape[0]);
                continue;
            }
            if (t->dtype != VG_DTYPE_F32 && t->dtype != VG_DTYPE_F16 && t->dtype != VG_DTYPE_BF16 && !vg_dtype_is_quant(t->dtype)) {
                fprintf(stderr, "vidgen: note: %s: tensor '%s' (%s) skipped: not a float tensor\n", vg_wan_files_path(f), nm,
                        vg_dtype_name(t->dtype));
                continue;
            }
            if (is_dit) fprintf(stderr, "vidgen: note: %s: tensor '%s' is not a Wan DiT weight; copied under its own name\n",
                                vg_wan_files_path(f), nm);
            char out[600];
            if (t5 && strcmp(nm, "encoder.embed_tokens.weight") == 0 && vg_wan_files_find(f, "shared.weight", NULL)) continue; /* tied */
            if (!(t5 && cv->comfy && vg_wan_t5_llama_name(out, sizeof(out), nm, true))) snprintf(out, sizeof(out), "%s", nm);
            st = add(cv, out, t, t->ndim, t->shape);
        }
    }
    for (int i = 0; i < ns && seen; i++) free(seen[i]);
    free(seen);
    return st;
}

int vg_cmd_convert(int argc, char **argv) {
    const char *out = NULL, *type = NULL, *rules = NULL, *layout = "comfy";
    const char *ins[64];
    int n_in = 0;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); return CLI_OK; }
        const char **dst = !strcmp(a, "--out") || !strcmp(a, "-o") ? &out : !strcmp(a, "--type") ? &type
                         : !strcmp(a, "--tensor-type-rules") ? &rules : !strcmp(a, "--layout") ? &layout : NULL;
        if (dst) {
            if (i + 1 >= argc) return cli_error(CLI_USAGE, usage, "%s needs a value", a);
            *dst = argv[++i];
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc || !cli_parse_int(argv[++i], 1, 1024, &threads)) return cli_error(CLI_USAGE, usage, "-t needs 1..1024");
        } else if (a[0] == '-') {
            return cli_error(CLI_USAGE, usage, "unknown option '%s'", a);
        } else {
            if (n_in == 64) return cli_error(CLI_USAGE, NULL, "more than 64 inputs");
            ins[n_in++] = a;
        }
    }
    if (!n_in) return cli_error(CLI_USAGE, usage, "no input files");
    if (!out) return cli_error(CLI_USAGE, usage, "missing --out FILE.gguf");
    if (!type) return cli_error(CLI_USAGE, usage, "missing --type");
    if (strcmp(layout, "comfy") && strcmp(layout, "sdcpp")) return cli_error(CLI_USAGE, usage, "--layout must be comfy or sdcpp, not '%s'", layout);
    conv cv = {0};
    cv.comfy = !strcmp(layout, "comfy");
    if (!vg_dtype_from_any_name(type, &cv.type) || vg_gguf_type_of(cv.type) < 0)
        return cli_error(CLI_USAGE, usage, "--type '%s' is not one of q8_0 q6_k q5_k q4_k q5_0 q5_1 q4_0 q4_1 q3_k q2_k bf16 f16 f32", type);
    if (threads) cli_set_threads((int)threads);
    int rc = CLI_OK;
    vg_wan_files *sets[64] = {0};
    char *rcopy = rules ? strdup(rules) : NULL;
    if (rules) {
        int n = 1;
        for (const char *p = rules; *p; p++) n += *p == ',';
        cv.rules = calloc((size_t)n, sizeof(rule));
        char *save = NULL;
        for (char *tok = rcopy ? strtok_r(rcopy, ",", &save) : NULL; tok && rc == CLI_OK; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strrchr(tok, '=');
            vg_dtype t;
            if (!eq || eq == tok || !vg_dtype_from_any_name(eq + 1, &t) || vg_gguf_type_of(t) < 0) {
                rc = cli_error(CLI_USAGE, usage, "--tensor-type-rules: '%s' is not REGEX=TYPE with a GGUF type", tok);
                break;
            }
            *eq = 0;
            if (regcomp(&cv.rules[cv.n_rules].re, tok, REG_EXTENDED | REG_NOSUB) != 0) {
                rc = cli_error(CLI_USAGE, usage, "--tensor-type-rules: bad regular expression '%s'", tok);
                break;
            }
            cv.rules[cv.n_rules++].t = t;
        }
    }
    int64_t total = 0;
    for (int i = 0; i < n_in && rc == CLI_OK; i++) {
        if (vg_wan_files_open(&sets[i], ins[i])) { rc = cli_lib_error(NULL); break; }
        for (int s = 0; s < vg_wan_files_count(sets[i]); s++) total += vg_st_count(vg_wan_files_shard(sets[i], s));
    }
    const char *arch = NULL;
    if (rc == CLI_OK) {
        cv.w = vg_gguf_writer_new();
        cv.cap_ctx = total + 1;
        cv.ctx = calloc((size_t)cv.cap_ctx, sizeof(conv_ctx));
        if (!cv.w || !cv.ctx) rc = cli_error(CLI_RUNTIME, NULL, "out of memory");
    }
    for (int i = 0; i < n_in && rc == CLI_OK; i++)
        if (convert_set(&cv, sets[i], &arch)) rc = cli_lib_error(NULL);
    if (rc == CLI_OK) {
        const char *cfg = vg_st_metadata(vg_wan_files_shard(sets[0], 0), "config");
        vg_status st = vg_gguf_writer_meta_str(cv.w, "general.architecture", arch ? arch : "vidgen");
        if (!st && cfg) st = vg_gguf_writer_meta_str(cv.w, "config", cfg);
        if (!st && cv.n_quant) st = vg_gguf_writer_meta_u32(cv.w, "general.quantization_version", 2);
        if (!st) st = vg_gguf_writer_meta_str(cv.w, "vidgen.layout", layout);
        if (!st) st = vg_gguf_writer_save(cv.w, out);
        if (st) rc = cli_lib_error(NULL);
    }
    if (rc == CLI_OK) {
        if (cv.n_fallback)
            fprintf(stderr, "vidgen: note: %lld tensors fell back to another type (rows not a multiple of the %s block): %s%s\n",
                    (long long)cv.n_fallback, vg_dtype_name(cv.type), cv.fallbacks, cv.fb_len + 1 >= sizeof(cv.fallbacks) ? "..." : "");
        printf("%s: %lld tensors (%lld quantized), %.1f MiB of tensor data, layout %s, quantizer %s\n", out, (long long)cv.n_ctx,
               (long long)cv.n_quant, (double)cv.bytes / (1 << 20), layout,
               "ggml (as sd.cpp's convert)");
    }
    for (int i = 0; i < cv.n_rules; i++) regfree(&cv.rules[i].re);
    free(cv.rules);
    free(rcopy);
    free(cv.ctx);
    vg_gguf_writer_free(cv.w);
    for (int i = 0; i < n_in; i++) vg_wan_files_close(sets[i]);
    return rc;
}
