/* lora.c - LoRA merge into a DiT (see include/vidgen/lora.h): key parsing for the PEFT,
 * kohya and full-delta formats, matching against the model's own parameter names (official
 * Wan names, their diffusers spellings, and both with '_' for '.'), validation of every shape
 * before anything changes, then W += s (B A) in f32 into model-owned copies.
 * Legend: r rank, out/in the weight's rows/columns (trailing conv dims folded into in). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/lora.h"
#include "vidgen/quant.h"
#include "vidgen/wan.h"

/* ---- the model's parameters and their spellings --------------------------------------- */

enum { F_OFFICIAL, F_DIFFUSERS, F_KOHYA, F_KOHYA_DIFFUSERS, F_COUNT };

typedef struct {
    char name[160];          /* official parameter name, e.g. blocks.3.self_attn.q.weight */
    char base[F_COUNT][160]; /* module spellings without .weight / .bias */
    bool is_bias;
    int nd;
    int64_t shape[5];
    vg_w *w;
} param;

typedef struct { param *p; int n, cap; } params;

static void kohya_of(char *dst, size_t cap, const char *s) {
    snprintf(dst, cap, "%s", s);
    for (char *c = dst; *c; c++) if (*c == '.') *c = '_';
}

static void strip_suffix(char *dst, size_t cap, const char *name, bool *is_bias) {
    size_t n = strlen(name);
    *is_bias = n > 5 && !strcmp(name + n - 5, ".bias");
    if (*is_bias) n -= 5;
    else if (n > 7 && !strcmp(name + n - 7, ".weight")) n -= 7;
    snprintf(dst, cap, "%.*s", (int)n, name);
}

static void collect_fn(void *ctx, const char *name, int nd, const int64_t *shape, vg_w *w) {
    params *ps = ctx;
    if (!w->d) return; /* optional parameters the config leaves out */
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 256;
        param *np = realloc(ps->p, sizeof(param) * (size_t)cap);
        if (!np) return; /* caught by the caller: n stays short of the visit count */
        ps->p = np;
        ps->cap = cap;
    }
    param *p = &ps->p[ps->n++];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    strip_suffix(p->base[F_OFFICIAL], sizeof(p->base[0]), name, &p->is_bias);
    char dn[192];
    bool b;
    if (vg_wan_dit_name_diffusers(dn, sizeof(dn), name)) strip_suffix(p->base[F_DIFFUSERS], sizeof(p->base[0]), dn, &b);
    kohya_of(p->base[F_KOHYA], sizeof(p->base[0]), p->base[F_OFFICIAL]);
    if (p->base[F_DIFFUSERS][0]) kohya_of(p->base[F_KOHYA_DIFFUSERS], sizeof(p->base[0]), p->base[F_DIFFUSERS]);
    p->nd = nd < 5 ? nd : 5;
    for (int i = 0; i < p->nd; i++) p->shape[i] = shape[i];
    p->w = w;
}

static void count_fn(void *ctx, const char *name, int nd, const int64_t *shape, vg_w *w) {
    (void)name; (void)nd; (void)shape;
    if (w->d) (*(int *)ctx)++;
}

/* The parameter (weight or bias) whose module is `mod` in any spelling; NULL if none. */
static param *find(params *ps, const char *mod, bool bias) {
    for (int i = 0; i < ps->n; i++) {
        param *p = &ps->p[i];
        if (p->is_bias != bias) continue;
        for (int f = 0; f < F_COUNT; f++)
            if (p->base[f][0] && !strcmp(p->base[f], mod)) return p;
    }
    return NULL;
}

/* ---- LoRA keys -------------------------------------------------------------------------- */

enum { K_A, K_B, K_ALPHA, K_DIFF, K_DIFF_B };

/* key -> module (prefixes and the part suffix removed) and part; false for an unknown suffix. */
static bool parse_key(const char *key, char *mod, size_t cap, int *kind) {
    static const struct { const char *suf; int kind; } sufs[] = {
        {".lora_A.default.weight", K_A}, {".lora_B.default.weight", K_B}, {".lora_A.weight", K_A}, {".lora_B.weight", K_B},
        {".lora_down.weight", K_A}, {".lora_up.weight", K_B}, {".lora.down.weight", K_A}, {".lora.up.weight", K_B},
        {".alpha", K_ALPHA}, {".diff_b", K_DIFF_B}, {".diff", K_DIFF},
    };
    static const char *prefixes[] = {"base_model.model.", "model.diffusion_model.", "diffusion_model.", "transformer.",
                                     "model.", "lora_unet_", "lora_transformer_", "unet."};
    size_t n = strlen(key);
    for (size_t i = 0; i < sizeof(sufs) / sizeof(sufs[0]); i++) {
        size_t m = strlen(sufs[i].suf);
        if (n <= m || strcmp(key + n - m, sufs[i].suf)) continue;
        const char *s = key;
        size_t len = n - m;
        for (bool again = true; again;) {
            again = false;
            for (size_t j = 0; j < sizeof(prefixes) / sizeof(prefixes[0]); j++) {
                size_t pl = strlen(prefixes[j]);
                if (len > pl && !strncmp(s, prefixes[j], pl)) { s += pl; len -= pl; again = true; }
            }
        }
        if (len + 1 > cap) return false;
        memcpy(mod, s, len);
        mod[len] = 0;
        *kind = sufs[i].kind;
        return true;
    }
    return false;
}

bool vg_lora_parse_spec(const char *spec, char *path, size_t cap, float *scale) {
    *scale = 1.0f;
    const char *c = strrchr(spec, ':');
    size_t n = strlen(spec);
    if (c && c[1]) {
        char *end;
        double v = strtod(c + 1, &end);
        if (!*end) {
            if (!isfinite(v)) return false;
            *scale = (float)v;
            n = (size_t)(c - spec);
        }
    }
    if (!n || n + 1 > cap) return false;
    memcpy(path, spec, n);
    path[n] = 0;
    return true;
}

/* ---- merge ------------------------------------------------------------------------------- */

typedef struct {
    param *p;
    const vg_tensor *a, *b, *alpha, *diff; /* diff: the full delta (weight or bias) */
    const char *a_key, *b_key;
} module;

static int64_t numel(const vg_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static int64_t pnumel(const param *p) {
    int64_t n = 1;
    for (int i = 0; i < p->nd; i++) n *= p->shape[i];
    return n;
}

static const char *shape_s(char *b, size_t cap, int nd, const int64_t *s) { return vg_shape_str(b, cap, nd, s); }

/* A tensor as f32 (malloc'd). */
static float *as_f32(const vg_tensor *t) {
    int64_t n = numel(t);
    float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (f) vg_to_f32(f, t->data, t->dtype, n);
    return f;
}

/* The weight as a writable f32 array plus where it lives: an owned f32 buffer is changed in place;
 * anything else (mapped, or another dtype) is copied. */
static bool owned_f32(const vg_dit *m, const vg_w *w) {
    if (w->t != VG_DTYPE_F32) return false;
    const float *d = w->d;
    if (m->owned && d >= m->owned && d < m->owned + m->n_owned) return true;
    for (int i = 0; i < m->n_bufs; i++) if (m->bufs[i] == w->d) return true;
    return false;
}

static vg_status keep_buf(vg_dit *m, void *buf) {
    void **nb = realloc(m->bufs, sizeof(void *) * (size_t)(m->n_bufs + 1));
    if (!nb) return vg_fail(VG_ERR_OOM, "LoRA: out of memory");
    m->bufs = nb;
    m->bufs[m->n_bufs++] = buf;
    return VG_OK;
}

static vg_status merge_one(vg_dit *m, const module *md, float scale, const char *path) {
    param *p = md->p;
    int64_t n = pnumel(p), out = p->shape[0], in = n / (out ? out : 1);
    bool inplace = owned_f32(m, p->w);
    float *w = inplace ? p->w->d : malloc(sizeof(float) * (size_t)n);
    float *a = NULL, *b = NULL, *dl = NULL;
    vg_status st = VG_OK;
    if (!w) return vg_fail(VG_ERR_OOM, "%s: out of memory merging '%s'", path, p->name);
    const bool quant = vg_dtype_is_quant(p->w->t);
    if (!inplace) {
        if (quant) st = vg_dequantize(p->w->t, p->w->d, w, out, in);
        else vg_to_f32(w, p->w->d, p->w->t, n);
        if (st) { free(w); return st; }
    }
    if (md->a) {
        int64_t r = md->a->shape[0];
        float s = scale;
        if (md->alpha) {
            float al;
            vg_to_f32(&al, md->alpha->data, md->alpha->dtype, 1);
            s = scale * al / (float)r;
        }
        a = as_f32(md->a); b = as_f32(md->b);
        if (!a || !b) { st = vg_fail(VG_ERR_OOM, "%s: out of memory merging '%s'", path, p->name); goto out; }
        #pragma omp parallel for schedule(static) if (out * in * r > 1000000)
        for (int64_t o = 0; o < out; o++) {
            const float *bo = b + o * r;
            for (int64_t i = 0; i < in; i++) {
                float d = 0.0f;
                for (int64_t k = 0; k < r; k++) d += bo[k] * a[k * in + i];
                w[o * in + i] += s * d;
            }
        }
    }
    if (md->diff) {
        if (!(dl = as_f32(md->diff))) { st = vg_fail(VG_ERR_OOM, "%s: out of memory merging '%s'", path, p->name); goto out; }
        for (int64_t i = 0; i < n; i++) w[i] += scale * dl[i];
    }
    if (!inplace) {
        if (p->w->t == VG_DTYPE_F32) {
            if ((st = keep_buf(m, w))) goto out;
            p->w->d = w;
            w = NULL;
        } else { /* back to the stored dtype (requantized for block types), in a copy the model owns */
            size_t bytes = quant ? (size_t)out * (size_t)vg_dtype_row_bytes(p->w->t, in) : (size_t)n * vg_dtype_size(p->w->t);
            void *c = malloc(bytes ? bytes : 1);
            if (!c) { st = vg_fail(VG_ERR_OOM, "%s: out of memory merging '%s'", path, p->name); goto out; }
            if (quant) {
                if ((st = vg_quantize(p->w->t, w, c, out, in))) { free(c); goto out; }
            } else {
                vg_from_f32(c, p->w->t, w, n);
            }
            if ((st = keep_buf(m, c))) { free(c); goto out; }
            p->w->d = c;
        }
    }
out:
    if (!inplace) free(w);
    free(a); free(b); free(dl);
    return st;
}

vg_status vg_lora_apply(vg_dit *m, const char *path, float scale, vg_lora_report *rep) {
    vg_lora_report r = {0};
    params ps = {0};
    module *mods = NULL;
    vg_st_file *f = NULL;
    vg_status st;
    int expect = 0, nm = 0;
    char b1[96], b2[96];
    if (!isfinite(scale)) return vg_fail(VG_ERR_ARG, "%s: LoRA scale %g is not a number", path, scale);
    if ((st = vg_st_open(&f, path))) return st;
    vg_dit_visit(&m->cfg, &m->w, count_fn, &expect);
    vg_dit_visit(&m->cfg, &m->w, collect_fn, &ps);
    int64_t nt = vg_st_count(f);
    mods = calloc((size_t)(nt ? nt : 1), sizeof(module));
    if (ps.n != expect || !mods) { st = vg_fail(VG_ERR_OOM, "%s: out of memory", path); goto out; }
    int max_block = -1;
    for (int64_t i = 0; i < nt; i++) {
        const char *key = vg_st_name(f, i);
        const vg_tensor *t = vg_st_at(f, i);
        char mod[192];
        int kind;
        if (!parse_key(key, mod, sizeof(mod), &kind)) {
            st = vg_fail(VG_ERR_FORMAT, "%s: '%s' is not a LoRA key (expected .lora_A/.lora_B/.lora_down/.lora_up weights, .alpha, .diff or .diff_b)",
                         path, key);
            goto out;
        }
        if (t->dtype != VG_DTYPE_F32 && t->dtype != VG_DTYPE_F16 && t->dtype != VG_DTYPE_BF16) {
            st = vg_fail(VG_ERR_FORMAT, "%s: '%s' has dtype %s (LoRAs are read in F32, F16 or BF16)", path, key, vg_dtype_name(t->dtype));
            goto out;
        }
        int blk;
        if (sscanf(mod, "blocks%*1[._]%d", &blk) == 1 && blk > max_block) max_block = blk;
        param *p = find(&ps, mod, kind == K_DIFF_B);
        if (!p && kind == K_DIFF) { /* a bare parameter such as blocks.N.modulation */
            for (int j = 0; j < ps.n && !p; j++)
                if (!ps.p[j].is_bias && !strcmp(ps.p[j].name, mod)) p = &ps.p[j];
        }
        if (!p) {
            if (r.unmatched < 8) {
                size_t o = strlen(r.unmatched_names);
                snprintf(r.unmatched_names + o, sizeof(r.unmatched_names) - o, "%s'%s'", o ? ", " : "", key);
            }
            r.unmatched++;
            continue;
        }
        /* one module entry per (param): find or add */
        module *md = NULL;
        for (int j = 0; j < nm; j++) if (mods[j].p == p) md = &mods[j];
        if (!md) { md = &mods[nm++]; md->p = p; }
        if (kind == K_A) { md->a = t; md->a_key = key; }
        else if (kind == K_B) { md->b = t; md->b_key = key; }
        else if (kind == K_ALPHA) md->alpha = t;
        else md->diff = t;
    }
    if (max_block >= m->cfg.layers) {
        st = vg_fail(VG_ERR_SHAPE, "%s: a LoRA for another model: it has keys for block %d, this model has %d blocks", path, max_block,
                     m->cfg.layers);
        goto out;
    }
    /* validate every module before merging any */
    for (int j = 0; j < nm; j++) {
        module *md = &mods[j];
        param *p = md->p;
        int64_t n = pnumel(p), out = p->shape[0], in = n / (out ? out : 1);
        if ((md->a != NULL) != (md->b != NULL)) {
            st = vg_fail(VG_ERR_FORMAT, "%s: '%s' has no matching %s", path, md->a ? md->a_key : md->b_key, md->a ? "lora_B/lora_up" : "lora_A/lora_down");
            goto out;
        }
        if (md->alpha && (!md->a || numel(md->alpha) != 1)) {
            st = vg_fail(VG_ERR_FORMAT, "%s: the alpha of '%s' must be one number beside a lora_down/lora_up pair", path, p->name);
            goto out;
        }
        if (md->a) {
            if (p->is_bias || p->nd < 2) {
                st = vg_fail(VG_ERR_FORMAT, "%s: '%s' is a low-rank pair for '%s', which is not a matrix", path, md->a_key, p->name);
                goto out;
            }
            int64_t r = md->a->shape[0], an = numel(md->a), bn = numel(md->b);
            bool ok = md->a->ndim >= 2 && r > 0 && an == r * in && md->b->ndim >= 2 && md->b->shape[0] == out &&
                      md->b->shape[1] == r && bn == out * r;
            if (!ok) {
                bool other = md->b->shape[0] != out || (r > 0 && an / r != in);
                st = vg_fail(VG_ERR_SHAPE, "%s: '%s' %s and '%s' %s do not fit '%s' %s (rank %lld)%s", path, md->a_key,
                             shape_s(b1, sizeof(b1), md->a->ndim, md->a->shape), md->b_key,
                             shape_s(b2, sizeof(b2), md->b->ndim, md->b->shape), p->name,
                             vg_shape_str((char[96]){0}, 96, p->nd, p->shape), (long long)r,
                             other ? ": a LoRA for another model" : "");
                goto out;
            }
        }
        if (md->diff && numel(md->diff) != n) {
            st = vg_fail(VG_ERR_SHAPE, "%s: the delta for '%s' is %s, the weight is %s%s", path, p->name,
                         shape_s(b1, sizeof(b1), md->diff->ndim, md->diff->shape), shape_s(b2, sizeof(b2), p->nd, p->shape),
                         ": a LoRA for another model");
            goto out;
        }
    }
    if (nm == 0) {
        st = vg_fail(VG_ERR_FORMAT, "%s: no key matches this model's weights (first keys: %s)", path,
                     r.unmatched_names[0] ? r.unmatched_names : "none");
        goto out;
    }
    for (int j = 0; j < nm && !st; j++) {
        st = merge_one(m, &mods[j], scale, path);
        if (!st) r.modules++;
    }
out:
    if (rep) *rep = r;
    free(mods);
    free(ps.p);
    vg_st_close(f);
    return st;
}
