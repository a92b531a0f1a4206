/* cmd_module.c - `vidgen module KIND --weights W --input IN --output OUT [--config FILE.json]`:
 * runs one Wan2.1 module on tensors from a safetensors file, with the tensor names of the
 * official-code goldens (shared/wan-goldens/LISTING.txt, WAN.md 5):
 *   dit:        in.x [C,F,H,W] (or [1,..]), in.t [1], in.context [N,Dt], in.seq_len -> out.y
 *   vae-decode: in.z [1,16,T,h,w], in.latents_mean/std [16] (optional) -> out.video_raw, out.video
 *   vae-encode: enc.in.video [1,3,F,H,W] -> enc.out.mu (normalised)
 *   t5:         in.ids [1,L], in.mask [1,L] -> out.hidden [1,L,D] (padded rows 0), out.context [N,D]
 *   tae-decode: in.latent [1,T,C,h,w] (NTCHW, as taehv.py) -> out.frames [1,F,3,H,W] in [0,1]
 *   tae-encode: in.video [1,F,3,H,W] -> out.latent [1,T,C,h,w]  (TAEHV, shared/taehv-goldens) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "vidgen/io.h"
#include "vidgen/lora.h"
#include "vidgen/wan.h"
#include "vidgen/taehv.h"

static const char *HELP =
    "vidgen module KIND --weights W.safetensors --input IN.safetensors --output OUT.safetensors [--config FILE.json]\n"
    "  KIND: dit | vae-decode | vae-encode | t5 (Wan2.1 modules; tensor names as the official goldens)\n"
    "  dit:        in.x [C,F,H,W], in.t [1], in.context [N,text_dim], in.seq_len (optional) -> out.y\n"
    "  vae-decode: in.z [1,16,T,h,w], in.latents_mean/in.latents_std [16] (optional) -> out.video_raw, out.video\n"
    "  vae-encode: enc.in.video [1,3,F,H,W] -> enc.out.mu\n"
    "  t5:         in.ids [1,L], in.mask [1,L] -> out.hidden [1,L,D] (rows past the mask are 0), out.context [N,D]\n"
    "  tae-decode: in.latent [1,T,C,h,w] (NTCHW) -> out.frames [1,4T-3,3,H,W] (TAEHV; --sequential: frame by frame)\n"
    "  tae-encode: in.video [1,F,3,H,W] in [0,1] -> out.latent [1,ceil(F/4),C,h,w] (TAEHV)\n"
    "  The config comes from the weights' __metadata__ \"config\" (or the shapes); --config FILE.json overrides it\n"
    "  (official keys; dit and t5). Options: -t N threads, --temporal-window K (dit), -q,\n"
    "  --lora FILE[:SCALE] (dit, repeatable: merged into the weights after loading),\n"
    "  --vae-stripes N (vae-decode: N horizontal stripes, 0 = as few as fit 2 GiB of working memory).\n";

/* tensor name as f32 (caller frees); numel into *n. NULL + error when absent or not numeric. */
static float *get_f32(const vg_st_file *f, const char *name, const vg_tensor **tp, int64_t *n) {
    const vg_tensor *t = vg_st_get(f, name);
    if (!t) { vg_fail(VG_ERR_FORMAT, "%s: missing input tensor '%s'", vg_st_path(f), name); return NULL; }
    int64_t k = vg_tensor_numel(t);
    float *o = malloc(sizeof(float) * (size_t)(k ? k : 1));
    if (!o) { vg_fail(VG_ERR_OOM, "out of memory"); return NULL; }
    if (t->dtype == VG_DTYPE_F32 || t->dtype == VG_DTYPE_F16 || t->dtype == VG_DTYPE_BF16) vg_to_f32(o, t->data, t->dtype, k);
    else if (t->dtype == VG_DTYPE_I64) for (int64_t i = 0; i < k; i++) o[i] = (float)((const int64_t *)t->data)[i];
    else if (t->dtype == VG_DTYPE_I32) for (int64_t i = 0; i < k; i++) o[i] = (float)((const int32_t *)t->data)[i];
    else if (t->dtype == VG_DTYPE_F64) for (int64_t i = 0; i < k; i++) o[i] = (float)((const double *)t->data)[i];
    else { free(o); vg_fail(VG_ERR_FORMAT, "%s: '%s' has dtype %s", vg_st_path(f), name, vg_dtype_name(t->dtype)); return NULL; }
    if (tp) *tp = t;
    if (n) *n = k;
    return o;
}

/* drops a leading batch dimension of 1 */
static int unbatch(const vg_tensor *t, int64_t *sh, int want) {
    int nd = t->ndim, o = 0;
    if (nd == want + 1 && t->shape[0] == 1) o = 1;
    else if (nd != want) return -1;
    for (int i = 0; i < want; i++) sh[i] = t->shape[i + o];
    return 0;
}

enum { MAX_LORAS = 16 };

static vg_status run_dit(const char *wpath, const char *cfg_json, vg_st_file *in, vg_st_writer *w, int window,
                         const char *const *loras, int n_loras) {
    vg_wan_files *f = NULL;
    vg_dit m = {0};
    vg_dit_acts *a = NULL;
    float *x = NULL, *t = NULL, *c = NULL, *ctx = NULL, *y = NULL, *sl = NULL;
    vg_dit_config cfg;
    vg_wan_names names;
    char prefix[128];
    const vg_tensor *tx, *tc;
    int64_t nx, nt, nc, sh[4], csh[2];
    vg_status st;
    if ((st = vg_wan_files_open(&f, wpath)) || (st = vg_wan_dit_detect(&cfg, &names, prefix, sizeof(prefix), f))) goto out;
    if (cfg_json && (st = vg_dit_config_from_json(&cfg, cfg_json, "--config"))) goto out;
    if ((st = vg_wan_dit_load(&m, &cfg, f, names, prefix))) goto out;
    for (int i = 0; i < n_loras; i++) {
        char lp[4096];
        float sc;
        vg_lora_report rep;
        if (!vg_lora_parse_spec(loras[i], lp, sizeof(lp), &sc)) { st = vg_fail(VG_ERR_ARG, "--lora '%s': expected FILE[:SCALE]", loras[i]); goto out; }
        if ((st = vg_lora_apply(&m, lp, sc, &rep))) goto out;
        if (rep.unmatched)
            fprintf(stderr, "vidgen: warning: %s: %d LoRA key%s this model lacks, ignored: %s%s\n", lp, rep.unmatched,
                    rep.unmatched > 1 ? "s" : "", rep.unmatched_names, rep.unmatched > 8 ? ", ..." : "");
    }
    if (!(x = get_f32(in, "in.x", &tx, &nx)) || !(t = get_f32(in, "in.t", NULL, &nt)) || !(c = get_f32(in, "in.context", &tc, &nc))) { st = VG_ERR_FORMAT; goto out; }
    if (unbatch(tx, sh, 4) || sh[0] != cfg.in_dim) { st = vg_fail(VG_ERR_SHAPE, "in.x: expected [%d,F,H,W]", cfg.in_dim); goto out; }
    if (unbatch(tc, csh, 2) || csh[1] != cfg.text_dim || csh[0] > cfg.text_len) {
        st = vg_fail(VG_ERR_SHAPE, "in.context: expected [N<=%d,%d]", cfg.text_len, cfg.text_dim);
        goto out;
    }
    if (nt != 1) { st = vg_fail(VG_ERR_SHAPE, "in.t: expected one timestep"); goto out; }
    int64_t F = sh[1], H = sh[2], W = sh[3], L = F * (H / cfg.patch[1]) * (W / cfg.patch[2]);
    const vg_tensor *ts = vg_st_get(in, "in.seq_len");
    if (ts) {
        int64_t k;
        if (!(sl = get_f32(in, "in.seq_len", NULL, &k))) { st = VG_ERR_FORMAT; goto out; }
        if (k != 1 || (int64_t)sl[0] != L) { st = vg_fail(VG_ERR_UNSUPPORTED, "in.seq_len %g: only seq_len = L = %lld (no padding, as T2V) is supported", sl[0], (long long)L); goto out; }
    }
    ctx = calloc((size_t)(cfg.text_len * cfg.text_dim), sizeof(float)); /* zero-padded to text_len, as Wan */
    y = malloc(sizeof(float) * (size_t)(cfg.out_dim * F * H * W));
    if (!ctx || !y) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
    memcpy(ctx, c, sizeof(float) * (size_t)nc);
    if ((st = vg_dit_acts_new(&a, &cfg, 1, F, H, W, false))) goto out;
    if ((st = vg_dit_forward(&m, a, y, x, t, ctx, 1, F, H, W, window, 0, NULL))) goto out;
    int64_t osh[5] = {1, cfg.out_dim, F, H, W};
    st = vg_st_writer_add(w, "out.y", VG_DTYPE_F32, tx->ndim, tx->ndim == 5 ? osh : osh + 1, y);
out:
    vg_dit_acts_free(a);
    vg_dit_free(&m);
    vg_wan_files_close(f);
    free(x); free(t); free(c); free(ctx); free(y); free(sl);
    return st;
}

static vg_status run_vae(const char *wpath, vg_st_file *in, vg_st_writer *w, bool decode, long stripes) {
    vg_wan_vae *v = NULL;
    float *src = NULL, *dst = NULL, *mean = NULL, *std = NULL;
    const vg_tensor *ts;
    int64_t n, sh[4];
    vg_status st;
    if ((st = vg_wan_vae_open(&v, wpath, NULL))) goto out;
    if (vg_st_get(in, "in.latents_mean") && vg_st_get(in, "in.latents_std")) {
        int64_t a, b;
        if (!(mean = get_f32(in, "in.latents_mean", NULL, &a)) || !(std = get_f32(in, "in.latents_std", NULL, &b))) { st = VG_ERR_FORMAT; goto out; }
        if (a != vg_wan_vae_config_of(v)->z_dim || b != a) { st = vg_fail(VG_ERR_SHAPE, "in.latents_mean/std: %lld/%lld values for z_dim %lld", (long long)a, (long long)b, (long long)vg_wan_vae_config_of(v)->z_dim); goto out; }
        if ((st = vg_wan_vae_set_latent_stats(v, mean, std))) goto out;
    }
    if (decode) {
        if (!(src = get_f32(in, "in.z", &ts, &n))) { st = VG_ERR_FORMAT; goto out; }
        if (unbatch(ts, sh, 4) || sh[0] != vg_wan_vae_config_of(v)->z_dim) { st = vg_fail(VG_ERR_SHAPE, "in.z: expected [1,%lld,T,h,w]", (long long)vg_wan_vae_config_of(v)->z_dim); goto out; }
        int64_t F, H, W;
        vg_wan_vae_video_dims(v, sh[1], sh[2], sh[3], &F, &H, &W);
        vg_wan_vae_opts o;
        vg_wan_vae_get_opts(v, &o);
        o.clamp = false;
        if (stripes >= 0) o.dec_stripes = stripes;
        if ((st = vg_wan_vae_set_opts(v, &o))) goto out;
        int64_t nv = 3 * F * H * W, osh[5] = {1, 3, F, H, W};
        if (!(dst = malloc(sizeof(float) * (size_t)nv))) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
        if ((st = vg_wan_vae_decode(v, dst, src, sh[1], sh[2], sh[3]))) goto out;
        if ((st = vg_st_writer_add(w, "out.video_raw", VG_DTYPE_F32, ts->ndim, ts->ndim == 5 ? osh : osh + 1, dst))) goto out;
        for (int64_t i = 0; i < nv; i++) dst[i] = dst[i] < -1.0f ? -1.0f : dst[i] > 1.0f ? 1.0f : dst[i];
        st = vg_st_writer_add(w, "out.video", VG_DTYPE_F32, ts->ndim, ts->ndim == 5 ? osh : osh + 1, dst);
    } else {
        if (!(src = get_f32(in, "enc.in.video", &ts, &n))) { st = VG_ERR_FORMAT; goto out; }
        if (unbatch(ts, sh, 4) || sh[0] != 3) { st = vg_fail(VG_ERR_SHAPE, "enc.in.video: expected [1,3,F,H,W]"); goto out; }
        int64_t T, h, ww;
        vg_wan_vae_latent_dims(v, sh[1], sh[2], sh[3], &T, &h, &ww);
        int64_t Z = vg_wan_vae_config_of(v)->z_dim, osh[5] = {1, Z, T, h, ww};
        if (!(dst = malloc(sizeof(float) * (size_t)(Z * T * h * ww)))) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
        if ((st = vg_wan_vae_encode(v, dst, src, sh[1], sh[2], sh[3]))) goto out;
        st = vg_st_writer_add(w, "enc.out.mu", VG_DTYPE_F32, ts->ndim, ts->ndim == 5 ? osh : osh + 1, dst);
    }
out:
    vg_wan_vae_free(v);
    free(src); free(dst); free(mean); free(std);
    return st;
}

static vg_status run_t5(const char *wpath, const char *cfg_json, vg_st_file *in, vg_st_writer *w) {
    vg_wan_files *f = NULL;
    vg_t5 m = {0};
    float *ids_f = NULL, *mask_f = NULL, *hid = NULL;
    int32_t *ids = NULL, *mask = NULL;
    const vg_tensor *ti;
    int64_t L, nm, n_tok = 0;
    vg_status st;
    if ((st = vg_wan_files_open(&f, wpath))) goto out;
    if (cfg_json) {
        vg_t5_config c;
        vg_t5_config_umt5_xxl(&c);
        if ((st = vg_t5_config_from_json(&c, cfg_json))) goto out;
        if (vg_wan_files_count(f) != 1) { st = vg_fail(VG_ERR_UNSUPPORTED, "--config with a sharded T5"); goto out; }
        if ((st = vg_t5_load(&m, vg_wan_files_shard(f, 0), &c))) goto out;
    } else if ((st = vg_wan_t5_load(&m, f))) goto out;
    if (!(ids_f = get_f32(in, "in.ids", &ti, &L)) || !(mask_f = get_f32(in, "in.mask", NULL, &nm))) { st = VG_ERR_FORMAT; goto out; }
    if (nm != L) { st = vg_fail(VG_ERR_SHAPE, "in.mask has %lld values, in.ids %lld", (long long)nm, (long long)L); goto out; }
    ids = malloc(sizeof(int32_t) * (size_t)L); mask = malloc(sizeof(int32_t) * (size_t)L);
    hid = calloc((size_t)(L * m.cfg.dim), sizeof(float));
    if (!ids || !mask || !hid) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
    for (int64_t i = 0; i < L; i++) { ids[i] = (int32_t)ids_f[i]; mask[i] = (int32_t)mask_f[i]; }
    if ((st = vg_t5_encode(hid, &n_tok, &m, ids, mask, L))) goto out;
    /* real tokens only: rows past n_tok are not computed (Wan discards them, WAN.md 2.3) */
    memset(hid + n_tok * m.cfg.dim, 0, sizeof(float) * (size_t)((L - n_tok) * m.cfg.dim));
    int64_t hs[3] = {1, L, m.cfg.dim}, cs[2] = {n_tok, m.cfg.dim};
    if ((st = vg_st_writer_add(w, "out.hidden", VG_DTYPE_F32, 3, hs, hid))) goto out;
    st = vg_st_writer_add(w, "out.context", VG_DTYPE_F32, 2, cs, hid);
out:
    vg_t5_free(&m);
    vg_wan_files_close(f);
    free(ids_f); free(mask_f); free(ids); free(mask); free(hid);
    return st;
}

/* NTCHW <-> CTHW (the library's layout) */
static void ntchw_swap(float *dst, const float *src, int64_t A, int64_t B, int64_t hw) {
    for (int64_t a = 0; a < A; a++)
        for (int64_t b = 0; b < B; b++) memcpy(dst + (b * A + a) * hw, src + (a * B + b) * hw, sizeof(float) * (size_t)hw);
}

static vg_status run_tae(const char *wpath, vg_st_file *in, vg_st_writer *w, bool decode, bool sequential) {
    vg_taehv *m = NULL;
    float *src = NULL, *a = NULL, *b = NULL;
    const vg_tensor *ts;
    int64_t n, sh[4];
    vg_status st;
    if ((st = vg_taehv_open(&m, wpath))) goto out;
    const vg_taehv_info *info = vg_taehv_info_of(m);
    if (!(src = get_f32(in, decode ? "in.latent" : "in.video", &ts, &n))) { st = VG_ERR_FORMAT; goto out; }
    int64_t C = decode ? info->latent_channels : 3;
    if (unbatch(ts, sh, 4) || sh[1] != C) { st = vg_fail(VG_ERR_SHAPE, "%s: %s: expected [1,T,%lld,H,W] (NTCHW)", vg_st_path(in), decode ? "in.latent" : "in.video", (long long)C); goto out; }
    int64_t T = sh[0], h = sh[2], ww = sh[3], F, H, W;
    if (decode) vg_taehv_video_dims(m, T, h, ww, &F, &H, &W);
    else vg_taehv_latent_dims(m, T, h, ww, &F, &H, &W);
    int64_t oc = decode ? 3 : info->latent_channels, on = F * oc * H * W, osh[5] = {1, F, oc, H, W};
    if (!(a = malloc(sizeof(float) * (size_t)n)) || !(b = malloc(sizeof(float) * (size_t)(on ? on : 1)))) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
    ntchw_swap(a, src, T, C, h * ww);
    if (decode) st = vg_taehv_decode(m, b, a, T, h, ww, !sequential);
    else st = vg_taehv_encode(m, b, a, T, h, ww, !sequential);
    if (st) goto out;
    free(a);
    if (!(a = malloc(sizeof(float) * (size_t)on))) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
    ntchw_swap(a, b, oc, F, H * W);
    st = vg_st_writer_add(w, decode ? "out.frames" : "out.latent", VG_DTYPE_F32, ts->ndim, ts->ndim == 5 ? osh : osh + 1, a);
out:
    vg_taehv_free(m);
    free(src); free(a); free(b);
    return st;
}

int vg_cmd_module(int argc, char **argv) {
    const char *kind = NULL, *wpath = NULL, *ipath = NULL, *opath = NULL, *cpath = NULL;
    int window = -1, n_loras = 0;
    long stripes = -1;
    bool sequential = false;
    const char *loras[MAX_LORAS];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(HELP, stdout); return 0; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) continue;
        if (!strcmp(a, "--sequential")) { sequential = true; continue; }
        const char **dst = !strcmp(a, "--weights") ? &wpath : !strcmp(a, "--input") ? &ipath : !strcmp(a, "--output") ? &opath
                          : !strcmp(a, "--config") ? &cpath : NULL;
        if (dst || !strcmp(a, "-t") || !strcmp(a, "--threads") || !strcmp(a, "--temporal-window") || !strcmp(a, "--vae-stripes") ||
            !strcmp(a, "--lora")) {
            if (i + 1 >= argc) return cli_error(CLI_USAGE, NULL, "%s needs a value", a);
            const char *v = argv[++i];
            long n;
            if (dst) *dst = v;
            else if (!strcmp(a, "--lora")) {
                if (n_loras == MAX_LORAS) return cli_error(CLI_USAGE, NULL, "at most %d --lora files", MAX_LORAS);
                loras[n_loras++] = v;
            }
            else if (!strcmp(a, "--temporal-window")) {
                if (strcmp(v, "all") && !cli_parse_int(v, 0, 100000, &n)) return cli_error(CLI_USAGE, NULL, "--temporal-window must be a count or 'all', got '%s'", v);
                window = strcmp(v, "all") ? (int)n : -1;
            } else if (!strcmp(a, "--vae-stripes")) {
                if (!cli_parse_int(v, 0, 100000, &stripes)) return cli_error(CLI_USAGE, NULL, "--vae-stripes must be a count >= 0, got '%s'", v);
            } else {
                if (!cli_parse_int(v, 1, 1024, &n)) return cli_error(CLI_USAGE, NULL, "%s must be an integer in [1, 1024], got '%s'", a, v);
                cli_set_threads((int)n);
            }
            continue;
        }
        if (a[0] == '-') return cli_error(CLI_USAGE, "see vidgen module --help", "unknown option '%s'", a);
        if (kind) return cli_error(CLI_USAGE, "see vidgen module --help", "one KIND only ('%s' and '%s')", kind, a);
        kind = a;
    }
    if (!kind) return cli_error(CLI_USAGE, "vidgen module dit|vae-decode|vae-encode|t5|tae-decode|tae-encode --weights W --input IN --output OUT", "no module KIND given");
    if (strcmp(kind, "dit") && strcmp(kind, "vae-decode") && strcmp(kind, "vae-encode") && strcmp(kind, "t5") &&
        strcmp(kind, "tae-decode") && strcmp(kind, "tae-encode"))
        return cli_error(CLI_USAGE, "KIND is one of dit, vae-decode, vae-encode, t5, tae-decode, tae-encode", "unknown module '%s'", kind);
    if (!wpath || !ipath || !opath)
        return cli_error(CLI_USAGE, "vidgen module KIND --weights W --input IN --output OUT", "missing %s%s%s", wpath ? "" : "--weights ",
                         ipath ? "" : "--input ", opath ? "" : "--output");
    char *cfg = NULL;
    if (cpath && vg_file_read(cpath, &cfg, NULL)) return cli_lib_error(NULL);
    vg_st_file *in = NULL;
    vg_st_writer *w = NULL;
    vg_status st = vg_st_open(&in, ipath);
    if (!st && !(w = vg_st_writer_new())) st = vg_fail(VG_ERR_OOM, "out of memory");
    if (!st) {
        if (n_loras && strcmp(kind, "dit")) st = vg_fail(VG_ERR_ARG, "--lora is for the dit module");
        else if (!strcmp(kind, "dit")) st = run_dit(wpath, cfg, in, w, window, loras, n_loras);
        else if (!strcmp(kind, "t5")) st = run_t5(wpath, cfg, in, w);
        else if (!strncmp(kind, "tae-", 4)) st = run_tae(wpath, in, w, !strcmp(kind, "tae-decode"), sequential);
        else st = run_vae(wpath, in, w, !strcmp(kind, "vae-decode"), stripes);
    }
    if (!st && !(st = vg_st_writer_meta(w, "module", kind))) st = vg_st_writer_save(w, opath);
    int rc = st ? cli_lib_error(NULL) : 0;
    vg_st_writer_free(w);
    vg_st_close(in);
    free(cfg);
    return rc;
}
