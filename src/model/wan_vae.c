/* wan_vae.c - Wan2.1 VAE decoder/encoder (wan/modules/vae.py: WanVAE_, Decoder3d, Encoder3d,
 * ResidualBlock, AttentionBlock, Resample, RMS_norm; WAN.md 3.1-3.7), chunked with the
 * per-conv feature cache (last 2 input frames of every causal 3x3x3 conv) so that memory
 * does not grow with the frame count. Activations f32 [C, n, h, w] of one chunk; weights
 * used in place from the safetensors mapping. Legend: Z latent channels, T latent frames,
 * F video frames, C channels, n frames of the current chunk, h w frame size. */
#include "vidgen/wan_vae.h"
#include "vidgen/conv.h"
#include "vidgen/gemm.h"
#include "vidgen/rng.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

const float vg_wan_latent_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                                      0.4134f, -0.0715f, 0.5517f, -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
const float vg_wan_latent_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                     3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

#define MAX_Z 64
#define MAX_LAYERS 128
#define MAX_SLOTS 256

/* ------------------------------------------------------------------------------------ */
/* weights */

typedef struct {
    const void *w; vg_dtype wt;   /* [co, ci, kt, kh, kw] (or [co, ci, kh, kw]) in the mapping */
    float *b;                     /* [co] f32 copy */
    int64_t co, ci, kt, kh, kw;
} conv_w;

typedef struct { float *g; int64_t c; } rms_w;   /* gamma [C] f32 copy */

enum { L_RES, L_UP2D, L_UP3D, L_DOWN2D, L_DOWN3D };
typedef struct {
    int kind;
    int64_t cin, cout;
    rms_w n1, n2; conv_w c1, c2, sc; bool has_sc;      /* residual block */
    conv_w resample, time_conv;                         /* resample */
} layer;

typedef struct {
    rms_w norm;
    const void *qkv_w; vg_dtype qkv_t; float *qkv_b;    /* [3C, C], [3C] */
    const void *proj_w; vg_dtype proj_t; float *proj_b; /* [C, C], [C] */
    int64_t c;
} attn_w;

typedef struct {
    conv_w conv1;                 /* decoder: z -> dims[0]; encoder: 3 -> dim */
    layer mid0, mid2; attn_w attn;
    layer l[MAX_LAYERS]; int nl;  /* upsamples / downsamples, flat as in the checkpoint */
    rms_w head_norm; conv_w head;
} coder;

struct vg_wan_vae {
    vg_st_file *file; bool own_file;
    vg_wan_vae_config cfg;
    char prefix[128]; bool diffusers;
    float mean[MAX_Z], std[MAX_Z];
    vg_wan_vae_opts opts;
    conv_w quant, post_quant;     /* conv1 (2Z->2Z), conv2 (Z->Z), 1x1x1 */
    coder dec, enc; bool has_enc;
    float **small; int nsmall, capsmall; /* owned f32 copies of biases and gammas */
};

void vg_wan_vae_config_default(vg_wan_vae_config *c) {
    memset(c, 0, sizeof(*c));
    c->dim = 96; c->z_dim = 16; c->num_res_blocks = 2; c->n_mult = 4;
    c->dim_mult[0] = 1; c->dim_mult[1] = 2; c->dim_mult[2] = 4; c->dim_mult[3] = 4;
    c->temperal_downsample[0] = false; c->temperal_downsample[1] = true; c->temperal_downsample[2] = true;
}

/* ---- config JSON ---- */
static vg_status json_i64(const cJSON *o, const char *key, int64_t *v, const char *path) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) return VG_OK; /* keep default */
    if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble) || j->valuedouble < 1 || j->valuedouble > 1e6)
        return vg_fail(VG_ERR_FORMAT, "%s: config '%s': expected a positive integer", path, key);
    *v = (int64_t)j->valuedouble;
    return VG_OK;
}

static vg_status parse_config(vg_wan_vae_config *c, const char *json, const char *path) {
    vg_wan_vae_config_default(c);
    if (!json) return VG_OK;
    cJSON *o = cJSON_Parse(json);
    vg_status st = VG_OK;
    if (!o || !cJSON_IsObject(o)) { st = vg_fail(VG_ERR_FORMAT, "%s: __metadata__ config: expected a JSON object", path); goto out; }
    if ((st = json_i64(o, "dim", &c->dim, path)) || (st = json_i64(o, "z_dim", &c->z_dim, path)) ||
        (st = json_i64(o, "num_res_blocks", &c->num_res_blocks, path)))
        goto out;
    if (c->z_dim > MAX_Z) { st = vg_fail(VG_ERR_UNSUPPORTED, "%s: config z_dim %lld, at most %d", path, (long long)c->z_dim, MAX_Z); goto out; }
    const cJSON *dm = cJSON_GetObjectItemCaseSensitive(o, "dim_mult");
    if (dm) {
        int n = cJSON_IsArray(dm) ? cJSON_GetArraySize(dm) : -1;
        if (n < 2 || n > VG_WAN_VAE_MAX_STAGES) { st = vg_fail(VG_ERR_FORMAT, "%s: config 'dim_mult': expected an array of 2..%d integers", path, VG_WAN_VAE_MAX_STAGES); goto out; }
        c->n_mult = n;
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(dm, i);
            if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 64 || e->valuedouble != floor(e->valuedouble)) {
                st = vg_fail(VG_ERR_FORMAT, "%s: config 'dim_mult[%d]': expected a positive integer", path, i); goto out;
            }
            c->dim_mult[i] = (int64_t)e->valuedouble;
        }
    }
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(o, "temperal_downsample");
    if (td) {
        if (!cJSON_IsArray(td) || cJSON_GetArraySize(td) != c->n_mult - 1) {
            st = vg_fail(VG_ERR_FORMAT, "%s: config 'temperal_downsample': expected an array of %d booleans", path, c->n_mult - 1); goto out;
        }
        for (int i = 0; i < c->n_mult - 1; i++) {
            const cJSON *e = cJSON_GetArrayItem(td, i);
            if (!cJSON_IsBool(e)) { st = vg_fail(VG_ERR_FORMAT, "%s: config 'temperal_downsample[%d]': expected a boolean", path, i); goto out; }
            c->temperal_downsample[i] = cJSON_IsTrue(e);
        }
    } else if (c->n_mult != 4) {
        st = vg_fail(VG_ERR_FORMAT, "%s: config has %d dim_mult entries but no temperal_downsample", path, c->n_mult); goto out;
    }
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(o, "attn_scales");
    if (as && (!cJSON_IsArray(as) || cJSON_GetArraySize(as) != 0)) {
        st = vg_fail(VG_ERR_UNSUPPORTED, "%s: config 'attn_scales' must be [] (Wan2.1)", path); goto out;
    }
out:
    cJSON_Delete(o);
    return st;
}

/* ---- loading (and writing random weights) through one walker ---- */
typedef struct {
    vg_wan_vae *v;
    const vg_st_file *f;      /* load mode */
    vg_st_writer *wr;         /* write-random mode */
    vg_dtype wdt; vg_rng rng;
} loader;

static vg_status keep_small(vg_wan_vae *v, float **out, int64_t n) {
    if (v->nsmall == v->capsmall) {
        int cap = v->capsmall ? 2 * v->capsmall : 256;
        float **s = realloc(v->small, sizeof(*s) * (size_t)cap);
        if (!s) return vg_fail(VG_ERR_OOM, "wan vae: small tensors");
        v->small = s; v->capsmall = cap;
    }
    float *p = malloc(sizeof(float) * (size_t)n);
    if (!p) return vg_fail(VG_ERR_OOM, "wan vae: %lld floats", (long long)n);
    v->small[v->nsmall++] = p;
    *out = p;
    return VG_OK;
}

/* kind: 0 weight, 1 bias, 2 gamma (random init scale) */
static vg_status req(loader *L, const char *off, const char *diff, const char *suffix, int ndim,
                     const int64_t *shape, int kind, const vg_tensor **t) {
    char name[512];
    snprintf(name, sizeof(name), "%s%s%s", L->v->prefix, L->v->diffusers ? diff : off, suffix);
    *t = NULL;
    if (L->wr) {
        int64_t n = 1, fan = 1;
        for (int d = 0; d < ndim; d++) n *= shape[d];
        for (int d = 1; d < ndim; d++) fan *= shape[d];
        float *x = malloc(sizeof(float) * (size_t)n);
        if (!x) return vg_fail(VG_ERR_OOM, "wan vae: random tensor %s", name);
        double a = kind == 0 ? 1.0 / sqrt((double)fan) : 0.1;
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)((kind == 2 ? 1.0 : 0.0) + a * (2.0 * vg_rng_uniform(&L->rng) - 1.0));
        vg_status st = vg_st_writer_add_f32(L->wr, name, L->wdt, ndim, shape, x);
        free(x);
        return st;
    }
    vg_status st = vg_st_require(L->f, name, ndim, shape, t);
    if (st) return st;
    if ((*t)->dtype != VG_DTYPE_F32 && (*t)->dtype != VG_DTYPE_F16 && (*t)->dtype != VG_DTYPE_BF16)
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s': dtype %s, expected F32, F16 or BF16", vg_st_path(L->f), name,
                       vg_dtype_name((*t)->dtype));
    return VG_OK;
}

static vg_status load_small(loader *L, float **dst, const char *off, const char *diff, const char *suffix, int ndim,
                            const int64_t *shape, int kind) {
    const vg_tensor *t;
    vg_status st = req(L, off, diff, suffix, ndim, shape, kind, &t);
    if (st || !t) return st;
    int64_t n = vg_tensor_numel(t);
    if ((st = keep_small(L->v, dst, n))) return st;
    vg_to_f32(*dst, t->data, t->dtype, n);
    return VG_OK;
}

/* conv with ndim 5 [co,ci,kt,kh,kw] or 4 [co,ci,kh,kw] (Conv2d) */
static vg_status load_conv(loader *L, conv_w *c, const char *off, const char *diff, int64_t co, int64_t ci,
                           int64_t kt, int64_t kh, int64_t kw, int ndim) {
    c->co = co; c->ci = ci; c->kt = kt; c->kh = kh; c->kw = kw;
    int64_t s5[5] = {co, ci, kt, kh, kw}, s4[4] = {co, ci, kh, kw};
    const vg_tensor *t;
    vg_status st = req(L, off, diff, ".weight", ndim, ndim == 5 ? s5 : s4, 0, &t);
    if (st) return st;
    if (t) { c->w = t->data; c->wt = t->dtype; }
    return load_small(L, &c->b, off, diff, ".bias", 1, &co, 1);
}

static vg_status load_rms(loader *L, rms_w *r, const char *off, const char *diff, int64_t c, int ndim) {
    int64_t s[4] = {c, 1, 1, 1};
    r->c = c;
    return load_small(L, &r->g, off, diff, "", ndim, s, 2);
}

static vg_status load_res(loader *L, layer *l, const char *off, const char *diff, int64_t cin, int64_t cout) {
    char a[192], b[192];
    vg_status st;
    l->kind = L_RES; l->cin = cin; l->cout = cout;
#define N2(so, sd) (snprintf(a, sizeof(a), "%s.%s", off, so), snprintf(b, sizeof(b), "%s.%s", diff, sd))
    N2("residual.0.gamma", "norm1.gamma");
    if ((st = load_rms(L, &l->n1, a, b, cin, 4))) return st;
    N2("residual.2", "conv1");
    if ((st = load_conv(L, &l->c1, a, b, cout, cin, 3, 3, 3, 5))) return st;
    N2("residual.3.gamma", "norm2.gamma");
    if ((st = load_rms(L, &l->n2, a, b, cout, 4))) return st;
    N2("residual.6", "conv2");
    if ((st = load_conv(L, &l->c2, a, b, cout, cout, 3, 3, 3, 5))) return st;
    l->has_sc = cin != cout;
    if (l->has_sc) {
        N2("shortcut", "conv_shortcut");
        if ((st = load_conv(L, &l->sc, a, b, cout, cin, 1, 1, 1, 5))) return st;
    }
#undef N2
    return VG_OK;
}

static vg_status load_resample(loader *L, layer *l, const char *off, const char *diff, int kind, int64_t c) {
    char a[192], b[192];
    vg_status st;
    l->kind = kind; l->cin = c;
    l->cout = (kind == L_UP2D || kind == L_UP3D) ? c / 2 : c;
    snprintf(a, sizeof(a), "%s.resample.1", off); snprintf(b, sizeof(b), "%s.resample.1", diff);
    if ((st = load_conv(L, &l->resample, a, b, l->cout, c, 1, 3, 3, 4))) return st;
    if (kind == L_UP3D || kind == L_DOWN3D) {
        snprintf(a, sizeof(a), "%s.time_conv", off); snprintf(b, sizeof(b), "%s.time_conv", diff);
        if ((st = load_conv(L, &l->time_conv, a, b, kind == L_UP3D ? 2 * c : c, c, 3, 1, 1, 5))) return st;
    }
    return VG_OK;
}

static vg_status load_attn(loader *L, attn_w *at, const char *off, const char *diff, int64_t c) {
    char a[192], b[192];
    vg_status st;
    const vg_tensor *t;
    at->c = c;
    int64_t sq[4] = {3 * c, c, 1, 1}, sp[4] = {c, c, 1, 1}, nq = 3 * c;
    snprintf(a, sizeof(a), "%s.norm.gamma", off); snprintf(b, sizeof(b), "%s.norm.gamma", diff);
    if ((st = load_rms(L, &at->norm, a, b, c, 3))) return st;
    snprintf(a, sizeof(a), "%s.to_qkv", off); snprintf(b, sizeof(b), "%s.to_qkv", diff);
    if ((st = req(L, a, b, ".weight", 4, sq, 0, &t))) return st;
    if (t) { at->qkv_w = t->data; at->qkv_t = t->dtype; }
    if ((st = load_small(L, &at->qkv_b, a, b, ".bias", 1, &nq, 1))) return st;
    snprintf(a, sizeof(a), "%s.proj", off); snprintf(b, sizeof(b), "%s.proj", diff);
    if ((st = req(L, a, b, ".weight", 4, sp, 0, &t))) return st;
    if (t) { at->proj_w = t->data; at->proj_t = t->dtype; }
    return load_small(L, &at->proj_b, a, b, ".bias", 1, &c, 1);
}

static vg_status load_middle_head(loader *L, coder *cd, const char *side, int64_t c) {
    char a[128], b[128];
    vg_status st;
    snprintf(a, sizeof(a), "%s.middle.0", side); snprintf(b, sizeof(b), "%s.mid_block.resnets.0", side);
    if ((st = load_res(L, &cd->mid0, a, b, c, c))) return st;
    snprintf(a, sizeof(a), "%s.middle.1", side); snprintf(b, sizeof(b), "%s.mid_block.attentions.0", side);
    if ((st = load_attn(L, &cd->attn, a, b, c))) return st;
    snprintf(a, sizeof(a), "%s.middle.2", side); snprintf(b, sizeof(b), "%s.mid_block.resnets.1", side);
    if ((st = load_res(L, &cd->mid2, a, b, c, c))) return st;
    return VG_OK;
}

static vg_status load_head(loader *L, coder *cd, const char *side, int64_t c, int64_t cout) {
    char a[128], b[128];
    vg_status st;
    snprintf(a, sizeof(a), "%s.head.0.gamma", side); snprintf(b, sizeof(b), "%s.norm_out.gamma", side);
    if ((st = load_rms(L, &cd->head_norm, a, b, c, 4))) return st;
    snprintf(a, sizeof(a), "%s.head.2", side); snprintf(b, sizeof(b), "%s.conv_out", side);
    return load_conv(L, &cd->head, a, b, cout, c, 3, 3, 3, 5);
}

static vg_status load_decoder(loader *L) {
    vg_wan_vae *v = L->v;
    const vg_wan_vae_config *c = &v->cfg;
    coder *d = &v->dec;
    int S = c->n_mult;
    int64_t dims[VG_WAN_VAE_MAX_STAGES + 1];
    dims[0] = c->dim * c->dim_mult[S - 1];
    for (int i = 0; i < S; i++) dims[i + 1] = c->dim * c->dim_mult[S - 1 - i];
    vg_status st;
    if ((st = load_conv(L, &d->conv1, "decoder.conv1", "decoder.conv_in", dims[0], c->z_dim, 3, 3, 3, 5))) return st;
    if ((st = load_middle_head(L, d, "decoder", dims[0]))) return st;
    d->nl = 0;
    for (int i = 0; i < S; i++) {
        int64_t in = dims[i], out = dims[i + 1];
        if (i > 0) in /= 2;
        for (int64_t j = 0; j <= c->num_res_blocks; j++) {
            if (d->nl >= MAX_LAYERS) return vg_fail(VG_ERR_UNSUPPORTED, "wan vae: too many layers");
            char a[96], b[96];
            snprintf(a, sizeof(a), "decoder.upsamples.%d", d->nl);
            snprintf(b, sizeof(b), "decoder.up_blocks.%d.resnets.%lld", i, (long long)j);
            if ((st = load_res(L, &d->l[d->nl++], a, b, in, out))) return st;
            in = out;
        }
        if (i != S - 1) {
            char a[96], b[96];
            snprintf(a, sizeof(a), "decoder.upsamples.%d", d->nl);
            snprintf(b, sizeof(b), "decoder.up_blocks.%d.upsamplers.0", i);
            bool t_up = c->temperal_downsample[S - 2 - i]; /* temperal_upsample = reversed */
            if ((st = load_resample(L, &d->l[d->nl++], a, b, t_up ? L_UP3D : L_UP2D, out))) return st;
        }
    }
    return load_head(L, d, "decoder", dims[S], 3);
}

static vg_status load_encoder(loader *L) {
    vg_wan_vae *v = L->v;
    const vg_wan_vae_config *c = &v->cfg;
    coder *e = &v->enc;
    int S = c->n_mult;
    int64_t dims[VG_WAN_VAE_MAX_STAGES + 1];
    dims[0] = c->dim;
    for (int i = 0; i < S; i++) dims[i + 1] = c->dim * c->dim_mult[i];
    vg_status st;
    if ((st = load_conv(L, &e->conv1, "encoder.conv1", "encoder.conv_in", dims[0], 3, 3, 3, 3, 5))) return st;
    e->nl = 0;
    for (int i = 0; i < S; i++) {
        int64_t in = dims[i], out = dims[i + 1];
        for (int64_t j = 0; j < c->num_res_blocks; j++) {
            if (e->nl >= MAX_LAYERS) return vg_fail(VG_ERR_UNSUPPORTED, "wan vae: too many layers");
            char a[96], b[96];
            snprintf(a, sizeof(a), "encoder.downsamples.%d", e->nl);
            snprintf(b, sizeof(b), "encoder.down_blocks.%d", e->nl);
            if ((st = load_res(L, &e->l[e->nl++], a, b, in, out))) return st;
            in = out;
        }
        if (i != S - 1) {
            char a[96], b[96];
            snprintf(a, sizeof(a), "encoder.downsamples.%d", e->nl);
            snprintf(b, sizeof(b), "encoder.down_blocks.%d", e->nl);
            if ((st = load_resample(L, &e->l[e->nl++], a, b, c->temperal_downsample[i] ? L_DOWN3D : L_DOWN2D, out)))
                return st;
        }
    }
    if ((st = load_middle_head(L, e, "encoder", dims[S]))) return st;
    return load_head(L, e, "encoder", dims[S], 2 * c->z_dim);
}

static vg_status load_all(loader *L, bool with_encoder) {
    vg_wan_vae *v = L->v;
    int64_t z = v->cfg.z_dim;
    vg_status st;
    if ((st = load_conv(L, &v->post_quant, "conv2", "post_quant_conv", z, z, 1, 1, 1, 5))) return st;
    if ((st = load_decoder(L))) return st;
    if (!with_encoder) return VG_OK;
    if ((st = load_conv(L, &v->quant, "conv1", "quant_conv", 2 * z, 2 * z, 1, 1, 1, 5))) return st;
    return load_encoder(L);
}

void vg_wan_vae_free(vg_wan_vae *v) {
    if (!v) return;
    for (int i = 0; i < v->nsmall; i++) free(v->small[i]);
    free(v->small);
    if (v->own_file) vg_st_close(v->file);
    free(v);
}

static bool ends_with(const char *s, const char *suf, size_t *plen) {
    size_t n = strlen(s), m = strlen(suf);
    if (n < m || strcmp(s + n - m, suf) != 0) return false;
    if (n > m && s[n - m - 1] != '.') return false; /* prefix must end at a dot */
    *plen = n - m;
    return true;
}

vg_status vg_wan_vae_open(vg_wan_vae **out, const char *path, vg_st_file *f) {
    *out = NULL;
    if (!path && !f) return vg_fail(VG_ERR_ARG, "vg_wan_vae_open: no path and no file");
    vg_wan_vae *v = calloc(1, sizeof(*v));
    if (!v) return vg_fail(VG_ERR_OOM, "wan vae: struct");
    vg_status st;
    if (path) {
        if ((st = vg_st_open(&v->file, path))) goto out_free;
        v->own_file = true;
    } else {
        v->file = f;
    }
    const char *p = vg_st_path(v->file);
    if ((st = parse_config(&v->cfg, vg_st_metadata(v->file, "config"), p))) goto out_free;
    /* key style and prefix from the decoder's first conv */
    bool found = false;
    for (int64_t i = 0; i < vg_st_count(v->file) && !found; i++) {
        const char *nm = vg_st_name(v->file, i);
        size_t pl;
        if (ends_with(nm, "decoder.conv1.weight", &pl)) found = true, v->diffusers = false;
        else if (ends_with(nm, "decoder.conv_in.weight", &pl)) found = true, v->diffusers = true;
        if (found) {
            if (pl >= sizeof(v->prefix)) { st = vg_fail(VG_ERR_FORMAT, "%s: key prefix too long", p); goto out_free; }
            memcpy(v->prefix, nm, pl);
            v->prefix[pl] = 0;
        }
    }
    if (!found) {
        st = vg_fail(VG_ERR_FORMAT, "%s: not a Wan VAE: no 'decoder.conv1.weight' (official) or "
                     "'decoder.conv_in.weight' (diffusers) tensor", p);
        goto out_free;
    }
    char probe[256];
    snprintf(probe, sizeof(probe), "%s%s", v->prefix, v->diffusers ? "encoder.conv_in.weight" : "encoder.conv1.weight");
    v->has_enc = vg_st_get(v->file, probe) != NULL;
    loader L = {.v = v, .f = v->file};
    if ((st = load_all(&L, v->has_enc))) goto out_free;
    for (int64_t i = 0; i < v->cfg.z_dim; i++) {
        v->mean[i] = v->cfg.z_dim == 16 ? vg_wan_latent_mean[i] : 0.0f;
        v->std[i] = v->cfg.z_dim == 16 ? vg_wan_latent_std[i] : 1.0f;
    }
    v->opts.clamp = true; v->opts.normalize = true; v->opts.dec_chunk = 1; v->opts.enc_chunk = 4;
    v->opts.dec_stripes = 0; v->opts.dec_budget_mb = 2048;
    *out = v;
    return VG_OK;
out_free:
    vg_wan_vae_free(v);
    return st;
}

const vg_wan_vae_config *vg_wan_vae_config_of(const vg_wan_vae *v) { return &v->cfg; }
bool vg_wan_vae_has_encoder(const vg_wan_vae *v) { return v->has_enc; }
void vg_wan_vae_get_opts(const vg_wan_vae *v, vg_wan_vae_opts *o) { *o = v->opts; }

vg_status vg_wan_vae_set_opts(vg_wan_vae *v, const vg_wan_vae_opts *o) {
    if (o->dec_chunk < 1) return vg_fail(VG_ERR_ARG, "wan vae: dec_chunk %lld, expected >= 1", (long long)o->dec_chunk);
    if (o->enc_chunk < 4 || o->enc_chunk % 4)
        return vg_fail(VG_ERR_ARG, "wan vae: enc_chunk %lld, expected a positive multiple of 4", (long long)o->enc_chunk);
    if (o->dec_stripes < 0 || o->dec_budget_mb < 1)
        return vg_fail(VG_ERR_ARG, "wan vae: dec_stripes %lld / dec_budget_mb %lld, expected >= 0 / >= 1",
                       (long long)o->dec_stripes, (long long)o->dec_budget_mb);
    v->opts = *o;
    return VG_OK;
}

vg_status vg_wan_vae_set_latent_stats(vg_wan_vae *v, const float *mean, const float *std) {
    for (int64_t i = 0; i < v->cfg.z_dim; i++)
        if (!(std[i] > 0) || !isfinite(mean[i]))
            return vg_fail(VG_ERR_ARG, "wan vae: latent std[%lld] = %g, expected > 0", (long long)i, std[i]);
    memcpy(v->mean, mean, sizeof(float) * (size_t)v->cfg.z_dim);
    memcpy(v->std, std, sizeof(float) * (size_t)v->cfg.z_dim);
    return VG_OK;
}

static int n_tdown(const vg_wan_vae *v) {
    int k = 0;
    for (int i = 0; i < v->cfg.n_mult - 1; i++) k += v->cfg.temperal_downsample[i];
    return k;
}

void vg_wan_vae_video_dims(const vg_wan_vae *v, int64_t T, int64_t h, int64_t w, int64_t *F, int64_t *H, int64_t *W) {
    int64_t s = (int64_t)1 << (v->cfg.n_mult - 1);
    *F = T > 0 ? ((int64_t)1 << n_tdown(v)) * (T - 1) + 1 : 0;
    *H = h * s; *W = w * s;
}

void vg_wan_vae_latent_dims(const vg_wan_vae *v, int64_t F, int64_t H, int64_t W, int64_t *T, int64_t *h, int64_t *w) {
    int64_t s = (int64_t)1 << (v->cfg.n_mult - 1), ts = (int64_t)1 << n_tdown(v);
    *T = F > 0 ? (F - 1) / ts + 1 : 0;
    *h = H / s; *w = W / s;
}

/* ------------------------------------------------------------------------------------ */
/* elementwise kernels */

/* RMS_norm over channels at each of P positions: y = x / max(|x|,1e-12) * sqrt(C) * g,
 * then SiLU when silu. out may equal x. */
static void rms_silu(float *out, const float *x, const float *g, int64_t C, int64_t P, bool silu) {
    const float sc = (float)sqrt((double)C);
    #pragma omp parallel for schedule(static) if (C * P > (1 << 16))
    for (int64_t p0 = 0; p0 < P; p0 += 256) {
        float d[256];
        int64_t n = P - p0 < 256 ? P - p0 : 256;
        for (int64_t j = 0; j < n; j++) d[j] = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            const float *xc = x + c * P + p0;
            for (int64_t j = 0; j < n; j++) d[j] += xc[j] * xc[j];
        }
        for (int64_t j = 0; j < n; j++) { float s = sqrtf(d[j]); d[j] = s > 1e-12f ? s : 1e-12f; }
        for (int64_t c = 0; c < C; c++) {
            const float *xc = x + c * P + p0;
            float *oc = out + c * P + p0, gc = g[c];
            if (silu)
                for (int64_t j = 0; j < n; j++) { float y = xc[j] / d[j] * sc * gc; oc[j] = y / (1.0f + expf(-y)); }
            else
                for (int64_t j = 0; j < n; j++) oc[j] = xc[j] / d[j] * sc * gc;
        }
    }
}

static void add_inplace(float *a, const float *b, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > (1 << 17))
    for (int64_t i = 0; i < n; i++) a[i] += b[i];
}

/* ------------------------------------------------------------------------------------ */
/* one chunk through the network; plan mode only sizes things */

typedef struct { float *p; bool valid[2]; int64_t c, hw; } cache;

typedef struct {
    vg_wan_vae *v;
    bool plan;
    /* plan results */
    size_t max_act, ws_floats, attn_floats, max_frames;
    size_t slot_floats[MAX_SLOTS]; int nslots;
    /* run state */
    float *buf[3];
    vg_conv_ws ws;
    float *attn;
    cache slot[MAX_SLOTS];
    int si;                  /* next slot this chunk */
    vg_frame *fr;            /* [max_frames] */
    /* decoder stripe (striped: output rows [Y0,Y1) of H): rows [ca[i],cb[i]) that layer i
     * (0 = middle.2, 1+j = upsamples.j, nl+1 = head) keeps of its input, at its resolution */
    bool striped;
    int64_t Y0, Y1, H;
    int64_t ca[MAX_LAYERS + 2], cb[MAX_LAYERS + 2];
} run;

/* activation [c, n, h, w] in buf[b]; its row 0 is row y0 of the whole frame (stripes) */
typedef struct { int b; int64_t c, n, h, w, y0; } act;

static void note_act(run *r, int64_t c, int64_t n, int64_t h, int64_t w) {
    size_t s = (size_t)(c * n * h * w);
    if (s > r->max_act) r->max_act = s;
    if ((size_t)n + 4 > r->max_frames) r->max_frames = (size_t)n + 4;
}

/* Conv of n frames fr[0..n-1] with shape s. slot >= 0: a causal conv with a 2-frame cache:
 * the input is [cache0, cache1, fr...] (zero frames while the cache is empty) and the cache
 * then keeps the last 2 input frames (WAN.md 3.4). Output frames at out + t*Ho*Wo. */
static vg_status do_conv(run *r, const conv_w *cw, vg_conv_shape s, float *out, int64_t ocs, const vg_frame *fr,
                         int64_t n, int slot) {
    if (slot >= MAX_SLOTS) return vg_fail(VG_ERR_UNSUPPORTED, "wan vae: more than %d cached convs", MAX_SLOTS);
    if (slot >= 0) s.pt = 0;
    int64_t hw = s.h * s.w;
    if (r->plan) {
        size_t ws = vg_conv_ws_floats(&s);
        if (ws > r->ws_floats) r->ws_floats = ws;
        if (slot >= 0) {
            if ((size_t)(2 * s.ci * hw) > r->slot_floats[slot]) r->slot_floats[slot] = (size_t)(2 * s.ci * hw);
            if (slot + 1 > r->nslots) r->nslots = slot + 1;
        }
        if ((size_t)n + 4 > r->max_frames) r->max_frames = (size_t)n + 4;
        return VG_OK;
    }
    if (slot < 0) return vg_conv3d(out, ocs, fr, n, cw->w, cw->wt, cw->b, &s, &r->ws);
    cache *c = &r->slot[slot];
    vg_frame *all = r->fr;
    for (int k = 0; k < 2; k++) {
        all[k].p = c->valid[k] ? c->p + k * hw : NULL;
        all[k].cstride = 2 * hw;
    }
    for (int64_t t = 0; t < n; t++) all[2 + t] = fr[t];
    vg_status st = vg_conv3d(out, ocs, all, n + 2, cw->w, cw->wt, cw->b, &s, &r->ws);
    if (st) return st;
    /* new cache = last 2 of [cache, fr] (copy order keeps slot 1 readable for slot 0) */
    const vg_frame *src0 = &all[n], *src1 = &all[n + 1];
    #pragma omp parallel for schedule(static) if (s.ci * hw > (1 << 17))
    for (int64_t ch = 0; ch < s.ci; ch++) {
        float *d = c->p + ch * 2 * hw;
        if (src0->p) memmove(d, src0->p + ch * src0->cstride, sizeof(float) * (size_t)hw);
        memcpy(d + hw, src1->p + ch * src1->cstride, sizeof(float) * (size_t)hw);
    }
    c->valid[0] = src0->p != NULL;
    c->valid[1] = true;
    return VG_OK;
}

static vg_frame *frames(run *r, int which, const float *x, int64_t n, int64_t h, int64_t w) {
    /* two frame-list scratch areas after the conv's own list: which = 0/1 */
    if (r->plan) return NULL;
    vg_frame *f = r->fr + r->max_frames * (size_t)(1 + which);
    if (x) vg_frames_of(f, x, n, h, w);
    return f;
}

static vg_status res_fwd(run *r, const layer *L, act *x) {
    int a = (x->b + 1) % 3, b = (x->b + 2) % 3;
    int64_t n = x->n, h = x->h, w = x->w, P = n * h * w;
    note_act(r, L->cin, n, h, w); note_act(r, L->cout, n, h, w);
    vg_status st;
    if (!r->plan) rms_silu(r->buf[a], r->buf[x->b], L->n1.g, L->cin, P, true);
    vg_conv_shape s1 = vg_conv_shape_causal3d(L->cin, L->cout, h, w, 3);
    if ((st = do_conv(r, &L->c1, s1, r->buf[b], P, frames(r, 0, r->plan ? NULL : r->buf[a], n, h, w), n, r->si++))) return st;
    if (!r->plan) rms_silu(r->buf[b], r->buf[b], L->n2.g, L->cout, P, true);
    vg_conv_shape s2 = vg_conv_shape_causal3d(L->cout, L->cout, h, w, 3);
    if ((st = do_conv(r, &L->c2, s2, r->buf[a], P, frames(r, 0, r->plan ? NULL : r->buf[b], n, h, w), n, r->si++))) return st;
    if (L->has_sc) {
        vg_conv_shape s3 = vg_conv_shape_causal3d(L->cin, L->cout, h, w, 1);
        if ((st = do_conv(r, &L->sc, s3, r->buf[b], P, frames(r, 0, r->plan ? NULL : r->buf[x->b], n, h, w), n, -1))) return st;
        if (!r->plan) add_inplace(r->buf[a], r->buf[b], L->cout * P);
    } else if (!r->plan) {
        add_inplace(r->buf[a], r->buf[x->b], L->cout * P);
    }
    x->b = a; x->c = L->cout;
    return VG_OK;
}

/* AttentionBlock: per frame, single head over h*w pixels; x += proj(attn(norm(x))). */
#define ATT_BQ 256
static vg_status attn_fwd(run *r, const attn_w *A, act *x) {
    int64_t C = A->c, N = x->h * x->w, bq = N < ATT_BQ ? N : ATT_BQ;
    size_t need = (size_t)(5 * N * C + bq * N);
    if (r->plan) { if (need > r->attn_floats) r->attn_floats = need; return VG_OK; }
    float *xt = r->attn, *q = xt + N * C, *k = q + N * C, *vv = k + N * C, *vc = vv + N * C, *S = vc + N * C;
    float *X = r->buf[x->b];
    int64_t T = x->n, P = T * N;
    const float sc = (float)sqrt((double)C), scale = (float)(1.0 / sqrt((double)C));
    size_t es = vg_dtype_size(A->qkv_t);
    for (int64_t f = 0; f < T; f++) {
        /* token-major copy + RMS norm per token */
        #pragma omp parallel for schedule(static) if (N * C > (1 << 15))
        for (int64_t i = 0; i < N; i++) {
            float ss = 0.0f;
            for (int64_t c = 0; c < C; c++) { float t = X[c * P + f * N + i]; xt[i * C + c] = t; ss += t * t; }
            float d = sqrtf(ss);
            d = d > 1e-12f ? d : 1e-12f;
            for (int64_t c = 0; c < C; c++) xt[i * C + c] = xt[i * C + c] / d * sc * A->norm.g[c];
        }
        vg_matmul_nt(q, xt, A->qkv_w, A->qkv_t, A->qkv_b, N, C, C, false);
        vg_matmul_nt(k, xt, (const char *)A->qkv_w + es * (size_t)(C * C), A->qkv_t, A->qkv_b + C, N, C, C, false);
        vg_matmul_nt(vv, xt, (const char *)A->qkv_w + es * (size_t)(2 * C * C), A->qkv_t, A->qkv_b + 2 * C, N, C, C, false);
        #pragma omp parallel for schedule(static) if (N * C > (1 << 15))
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < N; i++) vc[c * N + i] = vv[i * C + c];
        float *o = xt; /* xt is dead after the projections */
        for (int64_t i0 = 0; i0 < N; i0 += bq) {
            int64_t m = N - i0 < bq ? N - i0 : bq;
            vg_matmul_nt(S, q + i0 * C, k, VG_DTYPE_F32, NULL, m, N, C, false);
            #pragma omp parallel for schedule(static) if (m * N > (1 << 15))
            for (int64_t i = 0; i < m; i++) {
                float *row = S + i * N, mx = -INFINITY, sum = 0.0f;
                for (int64_t j = 0; j < N; j++) { row[j] *= scale; mx = row[j] > mx ? row[j] : mx; }
                for (int64_t j = 0; j < N; j++) { row[j] = expf(row[j] - mx); sum += row[j]; }
                float inv = 1.0f / sum;
                for (int64_t j = 0; j < N; j++) row[j] *= inv;
            }
            vg_matmul_nt(o + i0 * C, S, vc, VG_DTYPE_F32, NULL, m, C, N, false);
        }
        float *pr = q; /* q is dead */
        vg_matmul_nt(pr, o, A->proj_w, A->proj_t, A->proj_b, N, C, C, false);
        #pragma omp parallel for schedule(static) if (N * C > (1 << 15))
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < N; i++) X[c * P + f * N + i] += pr[i * C + c];
    }
    return VG_OK;
}

static vg_status up_fwd(run *r, const layer *L, act *x, bool first) {
    int a = (x->b + 1) % 3, b = (x->b + 2) % 3;
    int64_t C = x->c, n = x->n, h = x->h, w = x->w, hw = h * w;
    vg_status st;
    int src = x->b;
    int64_t n2 = n;
    if (L->kind == L_UP3D) {
        int slot = r->si++;
        int64_t m = first ? n - 1 : n, o = first ? 1 : 0;
        n2 = o + 2 * m;
        note_act(r, 2 * C, m > 0 ? m : 1, h, w); note_act(r, C, n2, h, w);
        if (m > 0) {
            vg_conv_shape s = vg_conv_shape_causal3d(C, 2 * C, h, w, 1);
            s.kt = 3;
            vg_frame *f = frames(r, 0, r->plan ? NULL : r->buf[x->b], n, h, w);
            if ((st = do_conv(r, &L->time_conv, s, r->buf[a], m * hw, f ? f + o : NULL, m, slot))) return st;
        } else if (r->plan) {
            /* the slot exists from the first chunk on ('Rep' in the official code) */
            vg_conv_shape s = vg_conv_shape_causal3d(C, 2 * C, h, w, 1);
            s.kt = 3;
            if ((st = do_conv(r, &L->time_conv, s, NULL, 0, NULL, 0, slot))) return st;
        }
        if (!r->plan) {
            /* channels [0,C) -> frame 2i, [C,2C) -> frame 2i+1 (after a passed-through frame 0) */
            const float *X = r->buf[x->b], *Y = r->buf[a];
            float *D = r->buf[b];
            #pragma omp parallel for schedule(static) if (C * n2 * hw > (1 << 17))
            for (int64_t c = 0; c < C; c++) {
                if (o) memcpy(D + c * n2 * hw, X + c * n * hw, sizeof(float) * (size_t)hw);
                for (int64_t i = 0; i < m; i++) {
                    memcpy(D + (c * n2 + o + 2 * i) * hw, Y + (c * m + i) * hw, sizeof(float) * (size_t)hw);
                    memcpy(D + (c * n2 + o + 2 * i + 1) * hw, Y + ((C + c) * m + i) * hw, sizeof(float) * (size_t)hw);
                }
            }
        }
        src = b;
    }
    int dst = (src + 1) % 3 == x->b ? (src + 2) % 3 : (src + 1) % 3;
    if (L->kind == L_UP2D) dst = a;
    vg_conv_shape s = vg_conv_shape_2d(C, L->cout, h, w, 3, 2);
    note_act(r, L->cout, n2, 2 * h, 2 * w);
    if ((st = do_conv(r, &L->resample, s, r->buf[dst], n2 * 4 * hw, frames(r, 1, r->plan ? NULL : r->buf[src], n2, h, w),
                      n2, -1)))
        return st;
    x->b = dst; x->c = L->cout; x->n = n2; x->h = 2 * h; x->w = 2 * w; x->y0 *= 2;
    return VG_OK;
}

static vg_status down_fwd(run *r, const layer *L, act *x, bool first) {
    int a = (x->b + 1) % 3, b = (x->b + 2) % 3;
    int64_t C = x->c, n = x->n, h = x->h, w = x->w;
    vg_status st;
    vg_conv_shape s = vg_conv_shape_down2d(C, C, h, w);
    int64_t to, h2, w2;
    if (!vg_conv_out_dims(&s, 1, &to, &h2, &w2)) return vg_fail(VG_ERR_ARG, "wan vae: frame %lldx%lld too small", (long long)h, (long long)w);
    int64_t hw2 = h2 * w2;
    note_act(r, C, n, h2, w2);
    if ((st = do_conv(r, &L->resample, s, r->buf[a], n * hw2, frames(r, 0, r->plan ? NULL : r->buf[x->b], n, h, w), n, -1)))
        return st;
    if (L->kind == L_DOWN2D) { x->b = a; x->h = h2; x->w = w2; return VG_OK; }
    /* downsample3d: output 0 of the first chunk passes; then time_conv (k3, stride 2, no
     * padding) over [last frame of the previous chunk, current frames]; cache = last frame */
    int slot = r->si++;
    if (slot >= MAX_SLOTS) return vg_fail(VG_ERR_UNSUPPORTED, "wan vae: too many cached convs");
    vg_conv_shape ts = vg_conv_shape_causal3d(C, C, h2, w2, 1);
    ts.kt = 3; ts.st = 2; ts.pt = 0;
    int64_t o = first ? 1 : 0, nin = first ? n : n + 1, m = nin >= 3 ? (nin - 3) / 2 + 1 : 0;
    int64_t n2 = o + m;
    note_act(r, C, n2, h2, w2);
    if (r->plan) {
        if ((size_t)(C * hw2) > r->slot_floats[slot]) r->slot_floats[slot] = (size_t)(C * hw2);
        if (slot + 1 > r->nslots) r->nslots = slot + 1;
        size_t ws = vg_conv_ws_floats(&ts);
        if (ws > r->ws_floats) r->ws_floats = ws;
        x->b = b; x->n = n2; x->h = h2; x->w = w2;
        return VG_OK;
    }
    cache *c = &r->slot[slot];
    float *Y = r->buf[a], *D = r->buf[b];
    vg_frame *f = frames(r, 1, NULL, 0, 0, 0);
    int64_t k = 0;
    if (!first) { f[k].p = c->valid[0] ? c->p : NULL; f[k].cstride = hw2; k++; }
    for (int64_t t = 0; t < n; t++, k++) { f[k].p = Y + t * hw2; f[k].cstride = n * hw2; }
    if (first)
        for (int64_t ch = 0; ch < C; ch++) memcpy(D + ch * n2 * hw2, Y + ch * n * hw2, sizeof(float) * (size_t)hw2);
    if (m > 0 && (st = vg_conv3d(D + o * hw2, n2 * hw2, f, nin, L->time_conv.w, L->time_conv.wt, L->time_conv.b, &ts, &r->ws)))
        return st;
    for (int64_t ch = 0; ch < C; ch++) memcpy(c->p + ch * hw2, Y + (ch * n + n - 1) * hw2, sizeof(float) * (size_t)hw2);
    c->valid[0] = true;
    x->b = b; x->n = n2; x->h = h2; x->w = w2;
    return VG_OK;
}

static vg_status layer_fwd(run *r, const layer *L, act *x, bool first) {
    switch (L->kind) {
    case L_RES: return res_fwd(r, L, x);
    case L_UP2D: case L_UP3D: return up_fwd(r, L, x, first);
    default: return down_fwd(r, L, x, first);
    }
}

/* head: RMS, SiLU, causal conv into out (out_cstride per channel) */
static vg_status head_fwd(run *r, const coder *cd, act *x, float *out, int64_t ocs) {
    int a = (x->b + 1) % 3;
    int64_t P = x->n * x->h * x->w;
    note_act(r, x->c, x->n, x->h, x->w);
    if (!r->plan) rms_silu(r->buf[a], r->buf[x->b], cd->head_norm.g, x->c, P, true);
    vg_conv_shape s = vg_conv_shape_causal3d(x->c, cd->head.co, x->h, x->w, 3);
    return do_conv(r, &cd->head, s, out, ocs, frames(r, 0, r->plan ? NULL : r->buf[a], x->n, x->h, x->w), x->n, r->si++);
}

/* Stripes: keeps rows [ca[i], cb[i]) of x (whole-frame row numbers at x's resolution) before
 * layer i, copied into the next buffer. Every kept row is exact: layer i needs exactly these
 * rows to make the rows that layer i+1 keeps, and the rows next to a cut that a conv pads with
 * zeros are dropped by the next cut. */
static vg_status crop_rows(run *r, act *x, int i) {
    if (!r->striped) return VG_OK;
    int64_t a = r->ca[i] - x->y0, nh = r->cb[i] - r->ca[i], w = x->w, h = x->h, np = x->c * x->n;
    if (a < 0 || nh < 1 || a + nh > h)
        return vg_fail(VG_ERR_ARG, "wan vae: stripe rows [%lld,%lld) outside the %lld rows at %lld", (long long)r->ca[i],
                       (long long)r->cb[i], (long long)h, (long long)x->y0);
    if (a == 0 && nh == h) return VG_OK;
    int d = (x->b + 1) % 3;
    if (!r->plan) {
        const float *src = r->buf[x->b];
        float *dst = r->buf[d];
        #pragma omp parallel for schedule(static) if (np * nh * w > (1 << 17))
        for (int64_t p = 0; p < np; p++) memcpy(dst + p * nh * w, src + (p * h + a) * w, sizeof(float) * (size_t)(nh * w));
    }
    x->b = d; x->h = nh; x->y0 = r->ca[i];
    return VG_OK;
}

/* Sets r's stripe to output rows [Y0,Y1) of a video H rows high: walks the decoder back
 * from the head; a 3x3 conv needs one more row each side, a res block two, an upsample
 * (nearest x2, then a 3x3 conv) half its rows (rounded out) plus one; clipped to the frame,
 * whose own edges are zero-padded as in the model. */
static void set_stripe(run *r, int64_t H, int64_t Y0, int64_t Y1) {
    const coder *d = &r->v->dec;
    int64_t R = H;
    r->striped = !(Y0 == 0 && Y1 == R);
    r->Y0 = Y0; r->Y1 = Y1; r->H = R;
    int64_t a = Y0 - 1 > 0 ? Y0 - 1 : 0, b = Y1 + 1 < R ? Y1 + 1 : R;
    r->ca[d->nl + 1] = a; r->cb[d->nl + 1] = b;
    for (int i = d->nl - 1; i >= 0; i--) {
        int g = d->l[i].kind == L_RES ? 2 : 1;
        a = a - g > 0 ? a - g : 0; b = b + g < R ? b + g : R;
        if (d->l[i].kind != L_RES) { R /= 2; a >>= 1; b = (b + 1) >> 1; }
        r->ca[1 + i] = a; r->cb[1 + i] = b;
    }
    r->ca[0] = a - 2 > 0 ? a - 2 : 0; r->cb[0] = b + 2 < R ? b + 2 : R;
}

/* decoder on n latent frames z (already in buf[0] un-normalised); writes video frames from fo */
static vg_status dec_chunk(run *r, int64_t n, int64_t h, int64_t w, bool first, float *video, int64_t vcs, int64_t *nout) {
    vg_wan_vae *v = r->v;
    coder *d = &v->dec;
    int64_t Z = v->cfg.z_dim;
    act x = {0, Z, n, h, w, 0};
    vg_status st;
    r->si = 0;
    note_act(r, Z, n, h, w);
    vg_conv_shape s = vg_conv_shape_causal3d(Z, Z, h, w, 1);
    if ((st = do_conv(r, &v->post_quant, s, r->buf[1], n * h * w, frames(r, 0, r->plan ? NULL : r->buf[0], n, h, w), n, -1))) return st;
    s = vg_conv_shape_causal3d(Z, d->conv1.co, h, w, 3);
    note_act(r, d->conv1.co, n, h, w);
    if ((st = do_conv(r, &d->conv1, s, r->buf[2], n * h * w, frames(r, 0, r->plan ? NULL : r->buf[1], n, h, w), n, r->si++))) return st;
    x.b = 2; x.c = d->conv1.co;
    if ((st = res_fwd(r, &d->mid0, &x)) || (st = attn_fwd(r, &d->attn, &x))) return st;
    if ((st = crop_rows(r, &x, 0)) || (st = res_fwd(r, &d->mid2, &x))) return st;
    for (int i = 0; i < d->nl; i++)
        if ((st = crop_rows(r, &x, 1 + i)) || (st = layer_fwd(r, &d->l[i], &x, first))) return st;
    *nout = x.n;
    if (!r->striped) return head_fwd(r, d, &x, video, vcs);
    /* stripe: the head into scratch, then its exact rows [Y0,Y1) into the video */
    if ((st = crop_rows(r, &x, d->nl + 1))) return st;
    int sb = (x.b + 2) % 3;
    int64_t co = d->head.co, hw = x.h * x.w, Wd = x.w, rows = r->Y1 - r->Y0, off = (r->Y0 - x.y0) * Wd;
    note_act(r, co, x.n, x.h, x.w);
    if ((st = head_fwd(r, d, &x, r->buf[sb], x.n * hw))) return st;
    if (r->plan) return VG_OK;
    const float *src = r->buf[sb];
    for (int64_t c = 0; c < co; c++)
        for (int64_t t = 0; t < x.n; t++)
            memcpy(video + c * vcs + t * r->H * Wd + r->Y0 * Wd, src + (c * x.n + t) * hw + off, sizeof(float) * (size_t)(rows * Wd));
    return VG_OK;
}

/* encoder on n video frames given as frames fr; writes mu (channels [0,Z)) */
static vg_status enc_chunk(run *r, const vg_frame *fr, int64_t n, int64_t H, int64_t W, bool first, act *xo) {
    vg_wan_vae *v = r->v;
    coder *e = &v->enc;
    vg_status st;
    r->si = 0;
    note_act(r, e->conv1.co, n, H, W);
    vg_conv_shape s = vg_conv_shape_causal3d(3, e->conv1.co, H, W, 3);
    if ((st = do_conv(r, &e->conv1, s, r->buf[0], n * H * W, fr, n, r->si++))) return st;
    act x = {0, e->conv1.co, n, H, W, 0};
    for (int i = 0; i < e->nl; i++)
        if ((st = layer_fwd(r, &e->l[i], &x, first))) return st;
    if ((st = res_fwd(r, &e->mid0, &x)) || (st = attn_fwd(r, &e->attn, &x)) || (st = res_fwd(r, &e->mid2, &x))) return st;
    int a = (x.b + 2) % 3; /* head uses x.b+1 as scratch */
    int64_t P = x.n * x.h * x.w;
    note_act(r, e->head.co, x.n, x.h, x.w);
    if ((st = head_fwd(r, e, &x, r->buf[a], P))) return st;
    int b = (a + 1) % 3;
    s = vg_conv_shape_causal3d(v->quant.ci, v->quant.co, x.h, x.w, 1);
    if ((st = do_conv(r, &v->quant, s, r->buf[b], P, frames(r, 0, r->plan ? NULL : r->buf[a], x.n, x.h, x.w), x.n, -1))) return st;
    x.b = b; x.c = v->quant.co;
    *xo = x;
    return VG_OK;
}

static void run_free(run *r) {
    for (int i = 0; i < 3; i++) free(r->buf[i]);
    free(r->attn);
    free(r->fr);
    if (r->nslots) free(r->slot[0].p);
    vg_conv_ws_free(&r->ws);
}

static size_t run_bytes(const run *r) {
    size_t s = 3 * r->max_act + r->ws_floats + r->attn_floats;
    for (int i = 0; i < r->nslots; i++) s += r->slot_floats[i];
    return s * sizeof(float) + 3 * r->max_frames * sizeof(vg_frame);
}

static vg_status run_alloc(run *r) {
    r->plan = false;
    for (int i = 0; i < 3; i++)
        if (!(r->buf[i] = malloc(sizeof(float) * (r->max_act ? r->max_act : 1)))) goto oom;
    if (!(r->attn = malloc(sizeof(float) * (r->attn_floats ? r->attn_floats : 1)))) goto oom;
    if (!(r->fr = malloc(sizeof(vg_frame) * 3 * r->max_frames))) goto oom;
    size_t tot = 0;
    for (int i = 0; i < r->nslots; i++) tot += r->slot_floats[i];
    float *cp = malloc(sizeof(float) * (tot ? tot : 1));
    if (!cp) goto oom;
    for (int i = 0; i < r->nslots; i++) {
        r->slot[i].p = cp;
        r->slot[i].valid[0] = r->slot[i].valid[1] = false;
        cp += r->slot_floats[i];
    }
    if (!(r->ws.buf = malloc(sizeof(float) * (r->ws_floats ? r->ws_floats : 1)))) goto oom;
    r->ws.cap = r->ws_floats;
    return VG_OK;
oom:
    return vg_fail(VG_ERR_OOM, "wan vae: cannot allocate %zu MiB of working memory", run_bytes(r) >> 20);
}

/* Sizes a decode in S stripes (every stripe: the first chunk and a later one). */
static vg_status dec_plan_s(vg_wan_vae *v, run *r, int64_t T, int64_t h, int64_t w, int64_t S) {
    memset(r, 0, sizeof(*r));
    r->v = v; r->plan = true;
    r->max_frames = 8;
    int64_t n1 = T < v->opts.dec_chunk ? T : v->opts.dec_chunk, nout, F, H, W;
    vg_wan_vae_video_dims(v, T, h, w, &F, &H, &W);
    vg_status st = VG_OK;
    for (int64_t s = 0; s < S && !st; s++) {
        set_stripe(r, H, s * H / S, (s + 1) * H / S);
        st = dec_chunk(r, n1, h, w, true, NULL, 0, &nout);
        if (!st && T > n1) st = dec_chunk(r, T - n1 < v->opts.dec_chunk ? T - n1 : v->opts.dec_chunk, h, w, false, NULL, 0, &nout);
    }
    return st;
}

/* Plans a decode with opts.dec_stripes stripes, or (0) the fewest that fit dec_budget_mb
 * (else the fewest bytes of up to 64 stripes of at least 8 rows). *S: the stripes chosen. */
static vg_status dec_plan(vg_wan_vae *v, run *r, int64_t T, int64_t h, int64_t w, int64_t *S) {
    int64_t F, H, W, smax;
    vg_wan_vae_video_dims(v, T, h, w, &F, &H, &W);
    smax = H / 8 < 64 ? H / 8 : 64;
    smax = smax < 1 ? 1 : smax;
    if (v->opts.dec_stripes > 0) {
        *S = v->opts.dec_stripes < H ? v->opts.dec_stripes : H;
        return dec_plan_s(v, r, T, h, w, *S);
    }
    size_t budget = (size_t)v->opts.dec_budget_mb << 20, best = SIZE_MAX;
    int64_t bs = 1;
    vg_status st;
    for (int64_t s = 1; s <= smax; s++) {
        if ((st = dec_plan_s(v, r, T, h, w, s))) return st;
        size_t b = run_bytes(r);
        if (b <= budget) { *S = s; return VG_OK; }
        if (b < best) { best = b; bs = s; }
    }
    *S = bs;
    return dec_plan_s(v, r, T, h, w, bs);
}

static vg_status check_dims(const vg_wan_vae *v, int64_t T, int64_t h, int64_t w) {
    if (T < 1 || h < 1 || w < 1 || T > 100000 || h > 100000 || w > 100000)
        return vg_fail(VG_ERR_ARG, "wan vae: latent size [%lld,%lld,%lld,%lld] invalid", (long long)v->cfg.z_dim,
                       (long long)T, (long long)h, (long long)w);
    return VG_OK;
}

size_t vg_wan_vae_decode_bytes(const vg_wan_vae *v, int64_t T, int64_t h, int64_t w) {
    run r;
    int64_t S;
    if (check_dims(v, T, h, w) || dec_plan((vg_wan_vae *)v, &r, T, h, w, &S)) return 0;
    return run_bytes(&r);
}

/* One pass over the clip (one stripe, or the whole frame): chunks of dec_chunk latent frames
 * with the feature caches emptied first. Returns the video frames written in *fo. */
static vg_status dec_pass(run *r, float *video, const float *z, int64_t T, int64_t h, int64_t w, int64_t *fo) {
    vg_wan_vae *v = r->v;
    int64_t F, H, W, Z = v->cfg.z_dim, hw = h * w;
    vg_wan_vae_video_dims(v, T, h, w, &F, &H, &W);
    for (int i = 0; i < r->nslots; i++) r->slot[i].valid[0] = r->slot[i].valid[1] = false;
    *fo = 0;
    for (int64_t t0 = 0; t0 < T;) {
        int64_t n = T - t0 < v->opts.dec_chunk ? T - t0 : v->opts.dec_chunk;
        float *x = r->buf[0];
        for (int64_t c = 0; c < Z; c++)
            for (int64_t t = 0; t < n; t++) {
                const float *src = z + (c * T + t0 + t) * hw;
                float *d = x + (c * n + t) * hw;
                if (v->opts.normalize) for (int64_t i = 0; i < hw; i++) d[i] = src[i] * v->std[c] + v->mean[c];
                else memcpy(d, src, sizeof(float) * (size_t)hw);
            }
        int64_t nout = 0;
        vg_status st = dec_chunk(r, n, h, w, t0 == 0, video + *fo * H * W, F * H * W, &nout);
        if (st) return st;
        *fo += nout;
        t0 += n;
    }
    return VG_OK;
}

vg_status vg_wan_vae_decode(vg_wan_vae *v, float *video, const float *z, int64_t T, int64_t h, int64_t w) {
    vg_status st = check_dims(v, T, h, w);
    if (st) return st;
    int64_t F, H, W, S, fo = 0;
    vg_wan_vae_video_dims(v, T, h, w, &F, &H, &W);
    run r;
    if ((st = dec_plan(v, &r, T, h, w, &S))) return st;
    if ((st = run_alloc(&r))) goto out;
    for (int64_t s = 0; s < S; s++) {
        set_stripe(&r, H, s * H / S, (s + 1) * H / S);
        if ((st = dec_pass(&r, video, z, T, h, w, &fo))) goto out;
        if (fo != F) { st = vg_fail(VG_ERR_ARG, "wan vae: decoded %lld frames, expected %lld", (long long)fo, (long long)F); goto out; }
    }
    if (v->opts.clamp) {
        int64_t nv = 3 * F * H * W;
        #pragma omp parallel for schedule(static) if (nv > (1 << 17))
        for (int64_t i = 0; i < nv; i++) video[i] = video[i] < -1.0f ? -1.0f : video[i] > 1.0f ? 1.0f : video[i];
    }
out:
    run_free(&r);
    return st;
}

static vg_status enc_plan(vg_wan_vae *v, run *r, int64_t F, int64_t H, int64_t W) {
    memset(r, 0, sizeof(*r));
    r->v = v; r->plan = true;
    r->max_frames = 8;
    act x;
    vg_status st = enc_chunk(r, NULL, 1, H, W, true, &x);
    if (!st && F > 1) st = enc_chunk(r, NULL, F - 1 < v->opts.enc_chunk ? F - 1 : v->opts.enc_chunk, H, W, false, &x);
    if (r->max_frames < (size_t)F + 4) r->max_frames = (size_t)F + 4;
    return st;
}

static vg_status check_video(const vg_wan_vae *v, int64_t F, int64_t H, int64_t W) {
    int64_t s = (int64_t)1 << (v->cfg.n_mult - 1), ts = (int64_t)1 << n_tdown(v);
    if (!v->has_enc) return vg_fail(VG_ERR_UNSUPPORTED, "%s: no encoder weights in this file", vg_st_path(v->file));
    if (F < 1 || (F - 1) % ts || H < s || W < s || H % s || W % s || H > 100000 || W > 100000 || F > 100000)
        return vg_fail(VG_ERR_ARG, "wan vae: video [3,%lld,%lld,%lld]: expected F = 1 + %lld k and H, W multiples of %lld",
                       (long long)F, (long long)H, (long long)W, (long long)ts, (long long)s);
    return VG_OK;
}

size_t vg_wan_vae_encode_bytes(const vg_wan_vae *v, int64_t F, int64_t H, int64_t W) {
    run r;
    if (check_video(v, F, H, W) || enc_plan((vg_wan_vae *)v, &r, F, H, W)) return 0;
    return run_bytes(&r);
}

vg_status vg_wan_vae_encode(vg_wan_vae *v, float *z, const float *video, int64_t F, int64_t H, int64_t W) {
    vg_status st = check_video(v, F, H, W);
    if (st) return st;
    int64_t T, h, w, Z = v->cfg.z_dim;
    vg_wan_vae_latent_dims(v, F, H, W, &T, &h, &w);
    run r;
    if ((st = enc_plan(v, &r, F, H, W))) return st;
    if ((st = run_alloc(&r))) goto out;
    vg_frame *all = malloc(sizeof(vg_frame) * (size_t)F);
    if (!all) { st = vg_fail(VG_ERR_OOM, "wan vae: frame list"); goto out; }
    vg_frames_of(all, video, F, H, W);
    int64_t to = 0;
    for (int64_t f0 = 0; f0 < F;) {
        int64_t n = f0 == 0 ? 1 : (F - f0 < v->opts.enc_chunk ? F - f0 : v->opts.enc_chunk);
        act x;
        if ((st = enc_chunk(&r, all + f0, n, H, W, f0 == 0, &x))) break;
        int64_t hw = x.h * x.w;
        const float *M = r.buf[x.b];
        for (int64_t c = 0; c < Z; c++)
            for (int64_t t = 0; t < x.n; t++) {
                const float *src = M + (c * x.n + t) * hw;
                float *d = z + (c * T + to + t) * hw;
                if (v->opts.normalize) for (int64_t i = 0; i < hw; i++) d[i] = (src[i] - v->mean[c]) / v->std[c];
                else memcpy(d, src, sizeof(float) * (size_t)hw);
            }
        to += x.n;
        f0 += n;
    }
    free(all);
    if (!st && to != T) st = vg_fail(VG_ERR_ARG, "wan vae: encoded %lld latent frames, expected %lld", (long long)to, (long long)T);
out:
    run_free(&r);
    return st;
}

/* ------------------------------------------------------------------------------------ */

vg_status vg_wan_vae_write_random(const char *path, const vg_wan_vae_config *cfg, vg_dtype dt, uint64_t seed) {
    vg_wan_vae *v = calloc(1, sizeof(*v));
    if (!v) return vg_fail(VG_ERR_OOM, "wan vae: struct");
    if (cfg) v->cfg = *cfg; else vg_wan_vae_config_default(&v->cfg);
    loader L = {.v = v, .wdt = dt};
    vg_rng_seed(&L.rng, seed);
    vg_status st = VG_OK;
    if (!(L.wr = vg_st_writer_new())) { st = vg_fail(VG_ERR_OOM, "wan vae: writer"); goto out; }
    if ((st = load_all(&L, true))) goto out;
    char json[512];
    int k = snprintf(json, sizeof(json), "{\"dim\": %lld, \"z_dim\": %lld, \"dim_mult\": [", (long long)v->cfg.dim,
                     (long long)v->cfg.z_dim);
    for (int i = 0; i < v->cfg.n_mult; i++) k += snprintf(json + k, sizeof(json) - (size_t)k, "%s%lld", i ? ", " : "", (long long)v->cfg.dim_mult[i]);
    k += snprintf(json + k, sizeof(json) - (size_t)k, "], \"num_res_blocks\": %lld, \"attn_scales\": [], \"temperal_downsample\": [",
                  (long long)v->cfg.num_res_blocks);
    for (int i = 0; i < v->cfg.n_mult - 1; i++)
        k += snprintf(json + k, sizeof(json) - (size_t)k, "%s%s", i ? ", " : "", v->cfg.temperal_downsample[i] ? "true" : "false");
    snprintf(json + k, sizeof(json) - (size_t)k, "], \"dropout\": 0.0}");
    if ((st = vg_st_writer_meta(L.wr, "config", json))) goto out;
    st = vg_st_writer_save(L.wr, path);
out:
    vg_st_writer_free(L.wr);
    vg_wan_vae_free(v);
    return st;
}
