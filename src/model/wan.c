/* wan.c - Wan2.1-T2V checkpoints: shard sets, DiT/umT5 name mapping (official, diffusers, HF,
 * with or without a prefix), file discovery, the pipeline (wan/text2video.py WanT2V.generate:
 * tokenizer -> umT5 -> DiT with CFG under UniPC/Euler -> VAE decode), and random-weight files
 * with the real names and shapes. Spec: shared/WAN.md 1.4, 2.3-2.4, 4.2-4.6, 6.
 * Legend: F video frames, H W pixels, T latent frames, h w latent size, Z = 16 latent
 * channels, D DiT dim, Dt text dim, N real prompt tokens, L = text_len (512). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "vidgen/generate.h"
#include "vidgen/io.h"
#include "vidgen/tokenizer.h"
#include "vidgen/wan.h"
#include "vidgen/taehv.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int64_t file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

/* directory part of a path ("." when none) */
static void dir_of(char *out, size_t cap, const char *path) {
    const char *s = strrchr(path, '/');
    if (!s) snprintf(out, cap, ".");
    else snprintf(out, cap, "%.*s", (int)(s - path > 0 ? s - path : 1), path);
}

/* ================================================================ shard sets */

struct vg_wan_files {
    char *path;
    int n;
    vg_st_file **sh;
    bool **used;       /* [n][count of shard i] */
    int64_t bytes;
};

static vg_status files_add(vg_wan_files *f, const char *path) {
    vg_st_file *s = NULL;
    vg_status st = vg_st_open(&s, path);
    if (st) return st;
    vg_st_file **nsh = realloc(f->sh, sizeof(*nsh) * (size_t)(f->n + 1));
    bool **nu = realloc(f->used, sizeof(*nu) * (size_t)(f->n + 1));
    if (nsh) f->sh = nsh;
    if (nu) f->used = nu;
    bool *u = calloc((size_t)vg_st_count(s) + 1, sizeof(bool));
    if (!nsh || !nu || !u) { free(u); vg_st_close(s); return vg_fail(VG_ERR_OOM, "%s: out of memory", path); }
    f->sh[f->n] = s;
    f->used[f->n] = u;
    f->n++;
    f->bytes += file_size(path);
    return VG_OK;
}

static vg_status files_open_index(vg_wan_files *f, const char *path) {
    char *txt = NULL, dir[4096], p[8300];
    vg_status st = vg_file_read(path, &txt, NULL);
    if (st) return st;
    cJSON *o = cJSON_Parse(txt);
    free(txt);
    const cJSON *wm = o ? cJSON_GetObjectItemCaseSensitive(o, "weight_map") : NULL;
    if (!cJSON_IsObject(wm) || !wm->child) {
        cJSON_Delete(o);
        return vg_fail(VG_ERR_FORMAT, "%s: expected a JSON object with a non-empty \"weight_map\"", path);
    }
    dir_of(dir, sizeof(dir), path);
    for (const cJSON *it = wm->child; it && !st; it = it->next) {
        if (!cJSON_IsString(it) || strchr(it->valuestring, '/') || !it->valuestring[0]) {
            st = vg_fail(VG_ERR_FORMAT, "%s: weight_map[\"%s\"] must be a file name in the same folder", path, it->string);
            break;
        }
        bool seen = false; /* shards in order of first mention */
        for (const cJSON *jt = wm->child; jt != it; jt = jt->next)
            if (cJSON_IsString(jt) && strcmp(jt->valuestring, it->valuestring) == 0) { seen = true; break; }
        if (seen) continue;
        snprintf(p, sizeof(p), "%s/%s", dir, it->valuestring);
        st = files_add(f, p);
    }
    /* every tensor of the map must be in its shard */
    for (const cJSON *it = wm->child; it && !st; it = it->next)
        if (!vg_wan_files_find(f, it->string, NULL))
            st = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' is listed for %s but not found there", path, it->string, it->valuestring);
    cJSON_Delete(o);
    return st;
}

/* the one index or safetensors file of a folder */
static vg_status pick_in_dir(char *out, size_t cap, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return vg_fail(VG_ERR_IO, "%s: cannot open folder (%s)", dir, strerror(errno));
    char idx[1024] = "", one[1024] = "";
    int n_idx = 0, n_st = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (ends_with(e->d_name, ".safetensors.index.json")) { n_idx++; snprintf(idx, sizeof(idx), "%s", e->d_name); }
        else if (ends_with(e->d_name, ".safetensors")) { n_st++; snprintf(one, sizeof(one), "%s", e->d_name); }
    }
    closedir(d);
    if (n_idx == 1) { snprintf(out, cap, "%s/%s", dir, idx); return VG_OK; }
    if (n_idx == 0 && n_st == 1) { snprintf(out, cap, "%s/%s", dir, one); return VG_OK; }
    if (n_idx + n_st == 0) return vg_fail(VG_ERR_FORMAT, "%s: no .safetensors file or .safetensors.index.json in the folder", dir);
    return vg_fail(VG_ERR_ARG, "%s: %d index files and %d .safetensors files; name the file to use", dir, n_idx, n_st);
}

vg_status vg_wan_files_open(vg_wan_files **out, const char *path) {
    *out = NULL;
    char pick[4200];
    if (is_dir(path)) {
        vg_status st = pick_in_dir(pick, sizeof(pick), path);
        if (st) return st;
        path = pick;
    }
    vg_wan_files *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) { free(f); return vg_fail(VG_ERR_OOM, "out of memory"); }
    vg_status st = ends_with(path, ".json") ? files_open_index(f, path) : files_add(f, path);
    /* a tensor in two shards would be ambiguous */
    for (int i = 1; i < f->n && !st; i++)
        for (int64_t k = 0; k < vg_st_count(f->sh[i]) && !st; k++)
            for (int j = 0; j < i && !st; j++)
                if (vg_st_get(f->sh[j], vg_st_name(f->sh[i], k)))
                    st = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' is in both %s and %s", path, vg_st_name(f->sh[i], k),
                                 vg_st_path(f->sh[j]), vg_st_path(f->sh[i]));
    if (st) { vg_wan_files_close(f); return st; }
    *out = f;
    return VG_OK;
}

void vg_wan_files_close(vg_wan_files *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) { vg_st_close(f->sh[i]); free(f->used[i]); }
    free(f->sh);
    free(f->used);
    free(f->path);
    free(f);
}

const char *vg_wan_files_path(const vg_wan_files *f) { return f->path; }
int vg_wan_files_count(const vg_wan_files *f) { return f->n; }
vg_st_file *vg_wan_files_shard(const vg_wan_files *f, int i) { return i >= 0 && i < f->n ? f->sh[i] : NULL; }
int64_t vg_wan_files_bytes(const vg_wan_files *f) { return f->bytes; }

const vg_tensor *vg_wan_files_find(const vg_wan_files *f, const char *name, int *shard) {
    for (int i = 0; i < f->n; i++) {
        const vg_tensor *t = vg_st_get(f->sh[i], name);
        if (t) { if (shard) *shard = i; return t; }
    }
    return NULL;
}

/* vg_st_require across the shards; marks the tensor used. Missing: names the set's path. */
static vg_status files_require(vg_wan_files *f, const char *name, int nd, const int64_t *shape, const vg_tensor **out) {
    int s = 0;
    if (!vg_wan_files_find(f, name, &s)) {
        char b[96];
        return vg_fail(VG_ERR_FORMAT, "%s: missing tensor '%s' (expected shape %s)", f->path, name,
                       vg_shape_str(b, sizeof(b), nd, shape));
    }
    vg_status st = vg_st_require(f->sh[s], name, nd, shape, out);
    if (st) return st;
    for (int64_t k = 0; k < vg_st_count(f->sh[s]); k++)
        if (strcmp(vg_st_name(f->sh[s], k), name) == 0) { f->used[s][k] = true; break; }
    return VG_OK;
}

static void files_reset_used(vg_wan_files *f) {
    for (int i = 0; i < f->n; i++) {
        vg_st_reset_used(f->sh[i]);
        memset(f->used[i], 0, sizeof(bool) * (size_t)vg_st_count(f->sh[i]));
    }
}

int64_t vg_wan_files_unused(const vg_wan_files *f, char *names, size_t cap) {
    int64_t n = 0;
    size_t o = 0;
    if (names && cap) names[0] = 0;
    for (int i = 0; i < f->n; i++)
        for (int64_t k = 0; k < vg_st_count(f->sh[i]); k++) {
            if (f->used[i][k]) continue;
            if (names && n < 8 && o + 1 < cap)
                o += (size_t)snprintf(names + o, cap - o, "%s'%s'", n ? ", " : "", vg_st_name(f->sh[i], k));
            if (o >= cap) o = cap - 1;
            n++;
        }
    return n;
}

/* A tensor whose name is prefix + key for some prefix ending in '.' (or empty): the prefix. */
static bool find_suffix(const vg_wan_files *f, const char *key, char *prefix, size_t cap) {
    size_t kl = strlen(key);
    for (int i = 0; i < f->n; i++)
        for (int64_t k = 0; k < vg_st_count(f->sh[i]); k++) {
            const char *nm = vg_st_name(f->sh[i], k);
            size_t nl = strlen(nm);
            if (nl < kl || strcmp(nm + nl - kl, key) || (nl > kl && nm[nl - kl - 1] != '.') || nl - kl >= cap) continue;
            memcpy(prefix, nm, nl - kl);
            prefix[nl - kl] = 0;
            return true;
        }
    return false;
}

/* ================================================================ DiT names */

bool vg_wan_dit_name_diffusers(char *out, size_t cap, const char *o) {
    static const struct { const char *a, *b; } top[] = {
        {"patch_embedding.", "patch_embedding."},
        {"text_embedding.0.", "condition_embedder.text_embedder.linear_1."},
        {"text_embedding.2.", "condition_embedder.text_embedder.linear_2."},
        {"time_embedding.0.", "condition_embedder.time_embedder.linear_1."},
        {"time_embedding.2.", "condition_embedder.time_embedder.linear_2."},
        {"time_projection.1.", "condition_embedder.time_proj."},
        {"head.head.", "proj_out."},
    };
    static const struct { const char *a, *b; } blk[] = {
        {"self_attn.q.", "attn1.to_q."}, {"self_attn.k.", "attn1.to_k."}, {"self_attn.v.", "attn1.to_v."},
        {"self_attn.o.", "attn1.to_out.0."}, {"self_attn.norm_q.", "attn1.norm_q."}, {"self_attn.norm_k.", "attn1.norm_k."},
        {"cross_attn.q.", "attn2.to_q."}, {"cross_attn.k.", "attn2.to_k."}, {"cross_attn.v.", "attn2.to_v."},
        {"cross_attn.o.", "attn2.to_out.0."}, {"cross_attn.norm_q.", "attn2.norm_q."}, {"cross_attn.norm_k.", "attn2.norm_k."},
        {"norm3.", "norm2."}, {"ffn.0.", "ffn.net.0.proj."}, {"ffn.2.", "ffn.net.2."},
    };
    int r;
    if (strcmp(o, "head.modulation") == 0) r = snprintf(out, cap, "scale_shift_table");
    else if (strncmp(o, "blocks.", 7) == 0) {
        char *end;
        long i = strtol(o + 7, &end, 10);
        if (end == o + 7 || *end != '.') return false;
        const char *rest = end + 1;
        if (strcmp(rest, "modulation") == 0) { r = snprintf(out, cap, "blocks.%ld.scale_shift_table", i); return r > 0 && (size_t)r < cap; }
        for (size_t k = 0; k < sizeof(blk) / sizeof(blk[0]); k++) {
            size_t l = strlen(blk[k].a);
            if (strncmp(rest, blk[k].a, l) == 0) {
                r = snprintf(out, cap, "blocks.%ld.%s%s", i, blk[k].b, rest + l);
                return r > 0 && (size_t)r < cap;
            }
        }
        return false;
    } else {
        for (size_t k = 0; k < sizeof(top) / sizeof(top[0]); k++) {
            size_t l = strlen(top[k].a);
            if (strncmp(o, top[k].a, l) == 0) {
                r = snprintf(out, cap, "%s%s", top[k].b, o + l);
                return r > 0 && (size_t)r < cap;
            }
        }
        return false;
    }
    return r > 0 && (size_t)r < cap;
}

/* file name of an official key under the detected naming and prefix */
static bool dit_key(char *out, size_t cap, const char *official, vg_wan_names names, const char *prefix) {
    char tmp[256];
    if (names == VG_WAN_NAMES_DIFFUSERS) { if (!vg_wan_dit_name_diffusers(tmp, sizeof(tmp), official)) return false; }
    else snprintf(tmp, sizeof(tmp), "%s", official);
    int r = snprintf(out, cap, "%s%s", prefix, tmp);
    return r > 0 && (size_t)r < cap;
}

static const vg_tensor *dit_find(const vg_wan_files *f, const char *official, vg_wan_names names, const char *prefix) {
    char k[320];
    return dit_key(k, sizeof(k), official, names, prefix) ? vg_wan_files_find(f, k, NULL) : NULL;
}

/* diffusers WanTransformer3DModel config keys */
static vg_status dit_config_diffusers(vg_dit_config *c, const cJSON *o, const char *what) {
    static const char *ik[] = {"num_attention_heads", "attention_head_dim", "ffn_dim", "freq_dim", "in_channels",
                               "out_channels", "num_layers", "text_dim"};
    int v[8] = {0};
    for (int k = 0; k < 8; k++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, ik[k]);
        if (!it) continue;
        if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 1e6 || it->valuedouble != floor(it->valuedouble))
            return vg_fail(VG_ERR_FORMAT, "%s: \"%s\" must be a positive integer", what, ik[k]);
        v[k] = (int)it->valuedouble;
    }
    if (v[0]) c->heads = v[0];
    if (v[0] && v[1]) c->dim = v[0] * v[1];
    if (v[2]) c->ffn_dim = v[2];
    if (v[3]) c->freq_dim = v[3];
    if (v[4]) c->in_dim = v[4];
    if (v[5]) c->out_dim = v[5];
    if (v[6]) c->layers = v[6];
    if (v[7]) c->text_dim = v[7];
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "eps");
    if (e) {
        if (!cJSON_IsNumber(e)) return vg_fail(VG_ERR_FORMAT, "%s: \"eps\" must be a number", what);
        c->eps = (float)e->valuedouble;
    }
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "patch_size");
    if (ps) {
        if (!cJSON_IsArray(ps) || cJSON_GetArraySize(ps) != 3) return vg_fail(VG_ERR_FORMAT, "%s: \"patch_size\" must be [t,h,w]", what);
        for (int i = 0; i < 3; i++) {
            const cJSON *x = cJSON_GetArrayItem(ps, i);
            if (!cJSON_IsNumber(x) || x->valuedouble < 1 || x->valuedouble > 64) return vg_fail(VG_ERR_FORMAT, "%s: bad \"patch_size\"", what);
            c->patch[i] = (int)x->valuedouble;
        }
    }
    return VG_OK;
}

/* Applies a JSON config (official or diffusers keys); ignores JSON that is neither. */
static vg_status dit_apply_json(vg_dit_config *c, const char *json, const char *what, bool *applied) {
    cJSON *o = cJSON_Parse(json);
    vg_status st = VG_OK;
    *applied = false;
    if (!o || !cJSON_IsObject(o)) { cJSON_Delete(o); return VG_OK; }
    if (cJSON_GetObjectItemCaseSensitive(o, "num_attention_heads")) { st = dit_config_diffusers(c, o, what); *applied = true; }
    else if (cJSON_GetObjectItemCaseSensitive(o, "dim") || cJSON_GetObjectItemCaseSensitive(o, "num_heads")) {
        st = vg_dit_config_from_json(c, json, what);
        *applied = true;
    }
    cJSON_Delete(o);
    return st;
}

vg_status vg_wan_dit_detect(vg_dit_config *cfg, vg_wan_names *names, char *prefix, size_t cap, const vg_wan_files *f) {
    vg_dit_config c;
    vg_dit_config_wan13b(&c);
    if (find_suffix(f, "blocks.0.self_attn.q.weight", prefix, cap)) *names = VG_WAN_NAMES_OFFICIAL;
    else if (find_suffix(f, "blocks.0.attn1.to_q.weight", prefix, cap)) *names = VG_WAN_NAMES_DIFFUSERS;
    else return vg_fail(VG_ERR_FORMAT, "%s: not a Wan DiT (no 'blocks.0.self_attn.q.weight' or diffusers "
                        "'blocks.0.attn1.to_q.weight' under any prefix)", f->path);
    /* shapes */
    const vg_tensor *pe = dit_find(f, "patch_embedding.weight", *names, prefix);
    const vg_tensor *te = dit_find(f, "text_embedding.0.weight", *names, prefix);
    const vg_tensor *tm = dit_find(f, "time_embedding.0.weight", *names, prefix);
    const vg_tensor *ff = dit_find(f, "blocks.0.ffn.0.weight", *names, prefix);
    const vg_tensor *hd = dit_find(f, "head.head.weight", *names, prefix);
    if (pe && pe->ndim == 5) {
        c.dim = (int)pe->shape[0]; c.in_dim = (int)pe->shape[1];
        c.patch[0] = (int)pe->shape[2]; c.patch[1] = (int)pe->shape[3]; c.patch[2] = (int)pe->shape[4];
    }
    if (te && te->ndim == 2) c.text_dim = (int)te->shape[1];
    if (tm && tm->ndim == 2) c.freq_dim = (int)tm->shape[1];
    if (ff && ff->ndim == 2) c.ffn_dim = (int)ff->shape[0];
    if (hd && hd->ndim == 2 && c.patch[1] * c.patch[2] > 0) c.out_dim = (int)(hd->shape[0] / (c.patch[0] * c.patch[1] * c.patch[2]));
    int layers = 0;
    char nm[64];
    for (;; layers++) {
        snprintf(nm, sizeof(nm), "blocks.%d.self_attn.q.weight", layers);
        if (!dit_find(f, nm, *names, prefix)) break;
    }
    c.layers = layers;
    c.heads = c.dim % 128 == 0 ? c.dim / 128 : 0; /* Wan: head_dim 128 */
    /* JSON config: __metadata__ "config" of the first shard, else config.json beside the file */
    const char *meta = vg_st_metadata(f->sh[0], "config");
    bool applied = false;
    vg_status st = VG_OK;
    if (meta) st = dit_apply_json(&c, meta, f->path, &applied);
    if (!st && !applied) {
        char dir[4096], p[4200], *txt = NULL;
        dir_of(dir, sizeof(dir), f->path);
        snprintf(p, sizeof(p), "%s/config.json", dir);
        if (access(p, R_OK) == 0 && vg_file_read(p, &txt, NULL) == VG_OK) {
            st = dit_apply_json(&c, txt, p, &applied);
            free(txt);
        }
    }
    if (st) return st;
    if (c.heads <= 0 || c.dim % c.heads || (c.dim / c.heads) % 2)
        return vg_fail(VG_ERR_FORMAT, "%s: cannot tell the head count of a dim-%d DiT (not a multiple of 128 and no "
                       "config with num_heads)", f->path, c.dim);
    if (c.layers <= 0 || c.patch[0] != 1)
        return vg_fail(VG_ERR_FORMAT, "%s: DiT with %d layers and temporal patch %d is not supported", f->path, c.layers, c.patch[0]);
    *cfg = c;
    return VG_OK;
}

typedef struct {
    vg_wan_files *f; vg_wan_names names; const char *prefix;
    vg_status err; float *vec; int64_t vec_off; int pass;
} wload_ctx;

static void wload_fn(void *ctx, const char *name, int nd, const int64_t *s, vg_w *w) {
    wload_ctx *lc = ctx;
    if (lc->err) return;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    bool vec = nd == 1 || strstr(name, "modulation") != NULL;
    if (lc->pass == 0) { if (vec) lc->vec_off += n; return; }
    char key[320];
    if (!dit_key(key, sizeof(key), name, lc->names, lc->prefix)) {
        lc->err = vg_fail(VG_ERR_FORMAT, "%s: no file name for DiT key '%s'", lc->f->path, name);
        return;
    }
    const vg_tensor *t;
    vg_status st = files_require(lc->f, key, nd, s, &t);
    if (st) { lc->err = st; return; }
    if (t->dtype != VG_DTYPE_F32 && t->dtype != VG_DTYPE_F16 && t->dtype != VG_DTYPE_BF16) {
        lc->err = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' has dtype %s (expected F32, F16 or BF16)", lc->f->path, key,
                          vg_dtype_name(t->dtype));
        return;
    }
    if (vec) { /* small vectors as f32 (the elementwise code reads floats), as vg_dit_load */
        float *dst = lc->vec + lc->vec_off;
        vg_to_f32(dst, t->data, t->dtype, n);
        w->d = dst; w->t = VG_DTYPE_F32;
        lc->vec_off += n;
    } else { w->d = t->data; w->t = t->dtype; }
}

vg_status vg_wan_dit_load(vg_dit *m, const vg_dit_config *cfg, vg_wan_files *f, vg_wan_names names, const char *prefix) {
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    m->w.blk = calloc((size_t)cfg->layers, sizeof(vg_dit_block));
    if (!m->w.blk) return vg_fail(VG_ERR_OOM, "DiT: out of memory");
    files_reset_used(f);
    wload_ctx lc = {f, names, prefix ? prefix : "", VG_OK, NULL, 0, 0};
    vg_dit_visit(&m->cfg, &m->w, wload_fn, &lc);
    m->n_owned = lc.vec_off;
    m->owned = malloc(sizeof(float) * (size_t)(lc.vec_off ? lc.vec_off : 1));
    if (!m->owned) { vg_dit_free(m); return vg_fail(VG_ERR_OOM, "DiT: out of memory"); }
    lc.vec = m->owned; lc.vec_off = 0; lc.pass = 1;
    vg_dit_visit(&m->cfg, &m->w, wload_fn, &lc);
    if (lc.err) { vg_dit_free(m); return lc.err; }
    return VG_OK;
}

/* ================================================================ umT5 */

/* HF UMT5EncoderModel name of an official T5Encoder key (WAN.md 2.4). */
static bool t5_hf_name(char *out, size_t cap, const char *o) {
    static const struct { const char *a, *b; } blk[] = {
        {"norm1.weight", "layer.0.layer_norm.weight"}, {"attn.q.weight", "layer.0.SelfAttention.q.weight"},
        {"attn.k.weight", "layer.0.SelfAttention.k.weight"}, {"attn.v.weight", "layer.0.SelfAttention.v.weight"},
        {"attn.o.weight", "layer.0.SelfAttention.o.weight"},
        {"pos_embedding.embedding.weight", "layer.0.SelfAttention.relative_attention_bias.weight"},
        {"norm2.weight", "layer.1.layer_norm.weight"}, {"ffn.gate.0.weight", "layer.1.DenseReluDense.wi_0.weight"},
        {"ffn.fc1.weight", "layer.1.DenseReluDense.wi_1.weight"}, {"ffn.fc2.weight", "layer.1.DenseReluDense.wo.weight"},
    };
    int r = -1;
    if (strcmp(o, "token_embedding.weight") == 0) r = snprintf(out, cap, "shared.weight");
    else if (strcmp(o, "norm.weight") == 0) r = snprintf(out, cap, "encoder.final_layer_norm.weight");
    else if (strncmp(o, "blocks.", 7) == 0) {
        char *end;
        long i = strtol(o + 7, &end, 10);
        if (*end != '.') return false;
        for (size_t k = 0; k < sizeof(blk) / sizeof(blk[0]); k++)
            if (strcmp(end + 1, blk[k].a) == 0) r = snprintf(out, cap, "encoder.block.%ld.%s", i, blk[k].b);
    }
    return r > 0 && (size_t)r < cap;
}

static vg_tensor *t5_field(vg_t5 *m, const char *o) {
    if (strcmp(o, "token_embedding.weight") == 0) return &m->token_embedding_w;
    if (strcmp(o, "norm.weight") == 0) return &m->norm_w;
    if (strcmp(o, "pos_embedding.embedding.weight") == 0) return &m->pos_embedding_w;
    if (strncmp(o, "blocks.", 7)) return NULL;
    char *end;
    long i = strtol(o + 7, &end, 10);
    if (*end != '.' || i < 0 || i >= m->cfg.layers) return NULL;
    vg_t5_block *b = &m->blocks[i];
    const char *r = end + 1;
    if (!strcmp(r, "norm1.weight")) return &b->norm1_w;
    if (!strcmp(r, "attn.q.weight")) return &b->attn_q_w;
    if (!strcmp(r, "attn.k.weight")) return &b->attn_k_w;
    if (!strcmp(r, "attn.v.weight")) return &b->attn_v_w;
    if (!strcmp(r, "attn.o.weight")) return &b->attn_o_w;
    if (!strcmp(r, "norm2.weight")) return &b->norm2_w;
    if (!strcmp(r, "ffn.gate.0.weight")) return &b->ffn_gate_0_w;
    if (!strcmp(r, "ffn.fc1.weight")) return &b->ffn_fc1_w;
    if (!strcmp(r, "ffn.fc2.weight")) return &b->ffn_fc2_w;
    if (!strcmp(r, "pos_embedding.embedding.weight")) return &b->pos_embedding_w;
    return NULL;
}

vg_status vg_wan_t5_load(vg_t5 *m, vg_wan_files *f) {
    memset(m, 0, sizeof(*m));
    if (f->n == 1) return vg_t5_load(m, f->sh[0], NULL);
    /* shards (diffusers text_encoder/): HF names under a common prefix */
    char prefix[128], nm[512], hf[256];
    bool official = false;
    if (!find_suffix(f, "encoder.block.0.layer.0.SelfAttention.q.weight", prefix, sizeof(prefix))) {
        if (!find_suffix(f, "blocks.0.attn.q.weight", prefix, sizeof(prefix)))
            return vg_fail(VG_ERR_FORMAT, "%s: not a T5 encoder (no block 0 attention q weight)", f->path);
        official = true;
    }
#define T5GET(off) (official ? (snprintf(nm, sizeof(nm), "%s%s", prefix, off), vg_wan_files_find(f, nm, NULL)) \
                             : (t5_hf_name(hf, sizeof(hf), off) ? (snprintf(nm, sizeof(nm), "%s%s", prefix, hf), vg_wan_files_find(f, nm, NULL)) : NULL))
    const vg_tensor *e = T5GET("token_embedding.weight");
    if (!e && !official) { snprintf(nm, sizeof(nm), "%sencoder.embed_tokens.weight", prefix); e = vg_wan_files_find(f, nm, NULL); }
    const vg_tensor *q = T5GET("blocks.0.attn.q.weight"), *g = T5GET("blocks.0.ffn.gate.0.weight");
    const vg_tensor *p0 = T5GET("blocks.0.pos_embedding.embedding.weight"), *p1 = T5GET("blocks.1.pos_embedding.embedding.weight");
    if (!e || e->ndim != 2 || !q || q->ndim != 2 || !g || g->ndim != 2 || !p0 || p0->ndim != 2)
        return vg_fail(VG_ERR_FORMAT, "%s: cannot infer the T5 config (embedding, block 0 q, gate and relative-position "
                       "table expected, 2-D)", f->path);
    int layers = 0;
    for (;; layers++) {
        char o[64];
        snprintf(o, sizeof(o), "blocks.%d.attn.q.weight", layers);
        if (!T5GET(o)) break;
    }
    vg_t5_config c = {.vocab = e->shape[0], .dim = e->shape[1], .dim_attn = q->shape[0], .ffn = g->shape[0],
                      .heads = (int)p0->shape[1], .layers = layers, .buckets = (int)p0->shape[0], .max_dist = 128,
                      .shared_pos = layers > 1 && !p1, .eps = 1e-6f};
    if (c.shared_pos)
        return vg_fail(VG_ERR_UNSUPPORTED, "%s: a T5 with one shared position table (not umT5) in shards", f->path);
    vg_status st = vg_t5_config_check(&c);
    if (st) return st;
    m->cfg = c;
    m->blocks = calloc((size_t)layers, sizeof(vg_t5_block));
    if (!m->blocks) return vg_fail(VG_ERR_OOM, "T5: out of memory");
    files_reset_used(f);
    int64_t n = vg_t5_tensor_count(&c);
    for (int64_t i = 0; i < n && !st; i++) {
        char o[128];
        int nd;
        int64_t sh[2], off;
        vg_t5_tensor_info(&c, i, o, sizeof(o), &nd, sh, &off);
        const vg_tensor *t = NULL;
        if (official) snprintf(nm, sizeof(nm), "%s%s", prefix, o);
        else if (t5_hf_name(hf, sizeof(hf), o)) snprintf(nm, sizeof(nm), "%s%s", prefix, hf);
        else { st = vg_fail(VG_ERR_FORMAT, "%s: no HF name for T5 key '%s'", f->path, o); break; }
        if (!official && i == 0 && !vg_wan_files_find(f, nm, NULL)) snprintf(nm, sizeof(nm), "%sencoder.embed_tokens.weight", prefix);
        if ((st = files_require(f, nm, nd, sh, &t))) break;
        if (t->dtype != VG_DTYPE_F32 && t->dtype != VG_DTYPE_F16 && t->dtype != VG_DTYPE_BF16) {
            st = vg_fail(VG_ERR_FORMAT, "%s: '%s': dtype %s, expected F32, F16 or BF16", f->path, nm, vg_dtype_name(t->dtype));
            break;
        }
        vg_tensor *dst = t5_field(m, o);
        if (!dst) { st = vg_fail(VG_ERR_FORMAT, "T5: no field for '%s'", o); break; }
        *dst = *t;
    }
#undef T5GET
    if (st) vg_t5_free(m);
    return st;
}

/* ================================================================ discovery */

typedef enum { K_NONE, K_DIT, K_T5, K_VAE } part_kind;

static part_kind classify(const vg_wan_files *f) {
    char p[128];
    if (find_suffix(f, "blocks.0.self_attn.q.weight", p, sizeof(p)) || find_suffix(f, "blocks.0.attn1.to_q.weight", p, sizeof(p)))
        return K_DIT;
    if (find_suffix(f, "shared.weight", p, sizeof(p)) || find_suffix(f, "token_embedding.weight", p, sizeof(p)) ||
        find_suffix(f, "encoder.block.0.layer.0.SelfAttention.q.weight", p, sizeof(p)) || find_suffix(f, "blocks.0.attn.q.weight", p, sizeof(p)))
        return K_T5;
    if (find_suffix(f, "decoder.conv1.weight", p, sizeof(p)) || find_suffix(f, "decoder.conv_in.weight", p, sizeof(p)))
        return K_VAE;
    return K_NONE;
}

typedef struct {
    char *cand[4][8]; int n[4];      /* by part_kind */
    char *tok[8]; int n_tok;
    char *pth[8]; int n_pth;
} scan_ctx;

static void add_str(char **arr, int *n, const char *s) { if (*n < 8) arr[(*n)++] = strdup(s); }

static void scan(scan_ctx *sc, const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    bool has_index = false;
    /* an index covers its shards: look for indexes first */
    while ((e = readdir(d))) if (ends_with(e->d_name, ".safetensors.index.json")) has_index = true;
    rewinddir(d);
    char p[4200];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (is_dir(p)) { if (depth < 3) scan(sc, p, depth + 1); continue; }
        bool idx = ends_with(e->d_name, ".safetensors.index.json");
        if (idx || (!has_index && ends_with(e->d_name, ".safetensors"))) {
            vg_wan_files *f = NULL;
            if (vg_wan_files_open(&f, p) == VG_OK) {
                part_kind k = classify(f);
                if (k != K_NONE) add_str(sc->cand[k], &sc->n[k], p);
                else if (!idx && vg_st_get(vg_wan_files_shard(f, 0), "spiece_model")) add_str(sc->tok, &sc->n_tok, p);
            }
            vg_wan_files_close(f);
            vg_clear_error();
        } else if (!strcmp(e->d_name, "tokenizer.json") || !strcmp(e->d_name, "spiece.model")) {
            add_str(sc->tok, &sc->n_tok, p);
        } else if (ends_with(e->d_name, ".pth")) add_str(sc->pth, &sc->n_pth, p);
    }
    closedir(d);
}

static void scan_free(scan_ctx *sc) {
    for (int k = 0; k < 4; k++) for (int i = 0; i < sc->n[k]; i++) free(sc->cand[k][i]);
    for (int i = 0; i < sc->n_tok; i++) free(sc->tok[i]);
    for (int i = 0; i < sc->n_pth; i++) free(sc->pth[i]);
}

static vg_status pick(char **dst, scan_ctx *sc, part_kind k, const char *what, const char *flag, const char *dir) {
    if (*dst) return VG_OK;
    if (sc->n[k] == 1) { *dst = strdup(sc->cand[k][0]); return *dst ? VG_OK : vg_fail(VG_ERR_OOM, "out of memory"); }
    if (sc->n[k] > 1) {
        char list[2048];
        size_t o = 0;
        for (int i = 0; i < sc->n[k] && o < sizeof(list); i++) o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", sc->cand[k][i]);
        return vg_fail(VG_ERR_ARG, "%s: %d candidates for the %s (%s); choose one with %s", dir, sc->n[k], what, list, flag);
    }
    for (int i = 0; i < sc->n_pth; i++) {
        bool t5 = strstr(sc->pth[i], "t5") != NULL, vae = strstr(sc->pth[i], "VAE") || strstr(sc->pth[i], "vae");
        if ((k == K_T5 && t5) || (k == K_VAE && vae))
            return vg_fail(VG_ERR_FORMAT, "%s: the %s is only there as a PyTorch pickle (%s), which vidgen cannot read; "
                           "get the safetensors file from Comfy-Org/Wan_2.1_ComfyUI_repackaged (%s) and pass it with %s",
                           dir, what, sc->pth[i], k == K_T5 ? "split_files/text_encoders/umt5_xxl_fp16.safetensors"
                                                             : "split_files/vae/wan_2.1_vae.safetensors", flag);
    }
    return vg_fail(VG_ERR_FORMAT, "%s: no %s found (searched .safetensors files and indexes up to 3 folders deep); "
                   "pass it with %s", dir, what, flag);
}

vg_status vg_wan_discover(vg_wan_paths *p, const char *dir) {
    if (!is_dir(dir)) return vg_fail(VG_ERR_IO, "%s: not a folder", dir);
    if (p->dit && p->t5 && (p->vae || p->tae)) return VG_OK;
    scan_ctx sc;
    memset(&sc, 0, sizeof(sc));
    scan(&sc, dir, 0);
    vg_status st;
    if ((st = pick(&p->dit, &sc, K_DIT, "diffusion model (DiT)", "--diffusion-model", dir)) ||
        (st = pick(&p->t5, &sc, K_T5, "text encoder (umT5-XXL)", "--text-encoder", dir)) ||
        (!p->tae && (st = pick(&p->vae, &sc, K_VAE, "VAE", "--vae", dir))))
        goto out;
    if (!p->tokenizer && sc.n_tok > 0) {
        /* prefer tokenizer.json / spiece.model files over a spiece_model inside a weights file */
        int best = 0;
        for (int i = 0; i < sc.n_tok; i++) if (!ends_with(sc.tok[i], ".safetensors")) { best = i; break; }
        if (!ends_with(sc.tok[best], ".safetensors")) p->tokenizer = strdup(sc.tok[best]);
    }
out:
    scan_free(&sc);
    return st;
}

void vg_wan_paths_free(vg_wan_paths *p) {
    if (!p) return;
    free(p->dit); free(p->t5); free(p->vae); free(p->tokenizer); free(p->tae);
    memset(p, 0, sizeof(*p));
}

/* ================================================================ pipeline */

const char vg_wan_default_negative_prompt[] =
    "\xe8\x89\xb2\xe8\xb0\x83\xe8\x89\xb3\xe4\xb8\xbd\xef\xbc\x8c\xe8\xbf\x87\xe6\x9b\x9d\xef\xbc\x8c\xe9\x9d\x99\xe6\x80\x81"
    "\xef\xbc\x8c\xe7\xbb\x86\xe8\x8a\x82\xe6\xa8\xa1\xe7\xb3\x8a\xe4\xb8\x8d\xe6\xb8\x85\xef\xbc\x8c\xe5\xad\x97\xe5\xb9\x95"
    "\xef\xbc\x8c\xe9\xa3\x8e\xe6\xa0\xbc\xef\xbc\x8c\xe4\xbd\x9c\xe5\x93\x81\xef\xbc\x8c\xe7\x94\xbb\xe4\xbd\x9c\xef\xbc\x8c"
    "\xe7\x94\xbb\xe9\x9d\xa2\xef\xbc\x8c\xe9\x9d\x99\xe6\xad\xa2\xef\xbc\x8c\xe6\x95\xb4\xe4\xbd\x93\xe5\x8f\x91\xe7\x81\xb0"
    "\xef\xbc\x8c\xe6\x9c\x80\xe5\xb7\xae\xe8\xb4\xa8\xe9\x87\x8f\xef\xbc\x8c\xe4\xbd\x8e\xe8\xb4\xa8\xe9\x87\x8f\xef\xbc\x8c"
    "JPEG\xe5\x8e\x8b\xe7\xbc\xa9\xe6\xae\x8b\xe7\x95\x99\xef\xbc\x8c\xe4\xb8\x91\xe9\x99\x8b\xe7\x9a\x84\xef\xbc\x8c\xe6\xae\x8b"
    "\xe7\xbc\xba\xe7\x9a\x84\xef\xbc\x8c\xe5\xa4\x9a\xe4\xbd\x99\xe7\x9a\x84\xe6\x89\x8b\xe6\x8c\x87\xef\xbc\x8c\xe7\x94\xbb"
    "\xe5\xbe\x97\xe4\xb8\x8d\xe5\xa5\xbd\xe7\x9a\x84\xe6\x89\x8b\xe9\x83\xa8\xef\xbc\x8c\xe7\x94\xbb\xe5\xbe\x97\xe4\xb8\x8d"
    "\xe5\xa5\xbd\xe7\x9a\x84\xe8\x84\xb8\xe9\x83\xa8\xef\xbc\x8c\xe7\x95\xb8\xe5\xbd\xa2\xe7\x9a\x84\xef\xbc\x8c\xe6\xaf\x81"
    "\xe5\xae\xb9\xe7\x9a\x84\xef\xbc\x8c\xe5\xbd\xa2\xe6\x80\x81\xe7\x95\xb8\xe5\xbd\xa2\xe7\x9a\x84\xe8\x82\xa2\xe4\xbd\x93"
    "\xef\xbc\x8c\xe6\x89\x8b\xe6\x8c\x87\xe8\x9e\x8d\xe5\x90\x88\xef\xbc\x8c\xe9\x9d\x99\xe6\xad\xa2\xe4\xb8\x8d\xe5\x8a\xa8"
    "\xe7\x9a\x84\xe7\x94\xbb\xe9\x9d\xa2\xef\xbc\x8c\xe6\x9d\x82\xe4\xb9\xb1\xe7\x9a\x84\xe8\x83\x8c\xe6\x99\xaf\xef\xbc\x8c"
    "\xe4\xb8\x89\xe6\x9d\xa1\xe8\x85\xbf\xef\xbc\x8c\xe8\x83\x8c\xe6\x99\xaf\xe4\xba\xba\xe5\xbe\x88\xe5\xa4\x9a\xef\xbc\x8c"
    "\xe5\x80\x92\xe7\x9d\x80\xe8\xb5\xb0";

void vg_wan_params_default(vg_wan_params *p) {
    *p = (vg_wan_params){.prompt = NULL, .negative_prompt = NULL, .frames = 81, .width = 832, .height = 480, .steps = 50,
                         .cfg_scale = 5.0f, .flow_shift = 5.0f, .seed = 0, .sampler = VG_SAMPLER_UNIPC, .window = -1};
}

vg_status vg_wan_check_size(const vg_wan_params *p) {
    if (p->frames < 1 || (p->frames - 1) % 4) {
        int lo = p->frames < 1 ? 1 : (p->frames - 1) / 4 * 4 + 1, hi = lo + 4;
        return vg_fail(VG_ERR_ARG, "--frames %d: Wan needs 4n+1 frames (the VAE packs 4 frames per latent after the "
                       "first); nearest: %d or %d", p->frames, lo, hi);
    }
    const char *names[2] = {"--width", "--height"};
    int v[2] = {p->width, p->height};
    for (int i = 0; i < 2; i++)
        if (v[i] < 16 || v[i] % 16) {
            int lo = v[i] / 16 * 16, hi = lo + 16;
            if (lo < 16) return vg_fail(VG_ERR_ARG, "%s %d: Wan needs a multiple of 16 (VAE x8 times patch x2); nearest: 16", names[i], v[i]);
            return vg_fail(VG_ERR_ARG, "%s %d: Wan needs a multiple of 16 (VAE x8 times patch x2); nearest: %d or %d",
                           names[i], v[i], lo, hi);
        }
    return VG_OK;
}

/* umT5 working memory for n tokens (vg_t5_acts, inference): ~ n(4D + 4A + 2F) + H n^2 floats */
static int64_t t5_work_bytes(const vg_t5_config *c, int64_t n) {
    return 4 * (n * (4 * c->dim + 4 * c->dim_attn + 2 * c->ffn) + (int64_t)c->heads * n * n) + 4 * 2 * n * c->dim;
}

vg_status vg_wan_estimate(vg_wan_mem *m, const vg_wan_paths *paths, const vg_wan_params *p) {
    memset(m, 0, sizeof(*m));
    vg_wan_files *fd = NULL, *ft = NULL;
    vg_wan_vae *vae = NULL;
    vg_status st;
    vg_dit_config dc;
    vg_wan_names nm;
    char prefix[128];
    if ((st = vg_wan_check_size(p))) return st;
    if ((st = vg_wan_files_open(&ft, paths->t5))) goto out;
    /* T5 config from the shapes: embedding [V, D] and the FFN of block 0 */
    {
        char px[128];
        vg_t5_config c;
        vg_t5_config_umt5_xxl(&c);
        const vg_tensor *e = NULL;
        if (find_suffix(ft, "shared.weight", px, sizeof(px)) || find_suffix(ft, "token_embedding.weight", px, sizeof(px))) {
            char k[256];
            snprintf(k, sizeof(k), "%sshared.weight", px);
            e = vg_wan_files_find(ft, k, NULL);
            if (!e) { snprintf(k, sizeof(k), "%stoken_embedding.weight", px); e = vg_wan_files_find(ft, k, NULL); }
        }
        if (e && e->ndim == 2) { c.dim = e->shape[1]; c.dim_attn = e->shape[1]; c.ffn = e->shape[1] * 5 / 2; }
        m->text = vg_wan_files_bytes(ft) + t5_work_bytes(&c, 512);
    }
    vg_wan_files_close(ft); ft = NULL;
    if ((st = vg_wan_files_open(&fd, paths->dit)) || (st = vg_wan_dit_detect(&dc, &nm, prefix, sizeof(prefix), fd))) goto out;
    int64_t T = (p->frames - 1) / 4 + 1, h = p->height / 8, w = p->width / 8, n = 16 * T * h * w;
    m->dit_weights = vg_wan_files_bytes(fd);
    m->dit_acts = vg_dit_acts_bytes(&dc, 1, T, h, w, false);
    /* latents: x, v_cond, v_uncond, v, solver history (4n), contexts 2 x L x Dt */
    m->dit = m->dit_weights + m->dit_acts + 4 * (8 * n) + 4 * 2 * (int64_t)dc.text_len * dc.text_dim;
    vg_wan_files_close(fd); fd = NULL;
    int64_t F, H, W;
    if (paths->tae) { /* TAEHV decode instead of the VAE (--tae): f32 weights + fixed-size working memory */
        if ((st = vg_taehv_estimate_file(paths->tae, T, h, w, p->frames, p->height, p->width, &m->vae))) goto out;
        m->vae += 4 * n;
    } else {
    if ((st = vg_wan_vae_open(&vae, paths->vae, NULL))) goto out;
    vg_wan_vae_video_dims(vae, T, h, w, &F, &H, &W);
    m->vae = file_size(paths->vae) + (int64_t)vg_wan_vae_decode_bytes(vae, T, h, w) + 4 * (3 * F * H * W + n);
    }
    m->frames = (int64_t)p->frames * p->width * p->height * 3;
    int64_t mx = m->text > m->dit ? m->text : m->dit;
    m->peak = (mx > m->vae ? mx : m->vae) + m->frames;
out:
    vg_wan_files_close(fd);
    vg_wan_files_close(ft);
    vg_wan_vae_free(vae);
    return st;
}

static void say(const vg_wan_hooks *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const vg_wan_hooks *h, const char *fmt, ...) {
    if (!h || !h->message) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    h->message(h->ctx, buf);
}

static void prog(const vg_wan_hooks *h, const char *stage, int i, int n, double el) {
    if (h && h->progress) h->progress(h->ctx, stage, i, n, el);
}

/* Tokenizer from a file (tokenizer.json, spiece.model, a .safetensors with spiece_model), or
 * from the spiece_model tensor of the open text-encoder shards. */
static vg_status load_tokenizer(vg_spm **tok, const char *path, const vg_wan_files *t5) {
    if (path && !ends_with(path, ".safetensors")) return vg_spm_load(tok, path);
    vg_wan_files *own = NULL;
    vg_status st;
    if (path) {
        if ((st = vg_wan_files_open(&own, path))) return st;
        t5 = own;
    }
    const vg_tensor *sp = vg_wan_files_find(t5, "spiece_model", NULL);
    if (!sp || sp->dtype != VG_DTYPE_U8 || sp->ndim != 1)
        st = vg_fail(VG_ERR_FORMAT, "%s: no tokenizer: no U8 tensor 'spiece_model' in the file; pass --tokenizer "
                     "(tokenizer.json or spiece.model of google/umt5-xxl)", vg_wan_files_path(t5));
    else st = vg_spm_from_proto(tok, sp->data, (size_t)sp->shape[0]);
    vg_wan_files_close(own);
    return st;
}

/* prompt -> context [L, Dt], zero beyond the n real tokens (WAN.md 2.3) */
static vg_status encode_prompt(float *ctx, int64_t *n_tok, const vg_t5 *t5, vg_t5_acts *acts, const vg_spm *tok,
                               const char *text, int64_t L, float *scratch) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)L), *mask = malloc(sizeof(int32_t) * (size_t)L);
    vg_status st = VG_OK;
    if (!ids || !mask) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
    if ((st = vg_umt5_tokenize(tok, text, ids, mask, L, n_tok))) goto out;
    for (int64_t i = 0; i < *n_tok; i++)
        if (ids[i] >= t5->cfg.vocab) { st = vg_fail(VG_ERR_FORMAT, "token id %d is outside the text encoder's %lld rows (tokenizer and encoder do not match)", ids[i], (long long)t5->cfg.vocab); goto out; }
    if ((st = vg_t5_forward(scratch, acts, t5, ids, *n_tok))) goto out;
    memset(ctx, 0, sizeof(float) * (size_t)(L * t5->cfg.dim));
    memcpy(ctx, scratch, sizeof(float) * (size_t)(*n_tok * t5->cfg.dim));
out:
    free(ids);
    free(mask);
    return st;
}

vg_status vg_wan_generate(const vg_wan_paths *paths, const vg_wan_params *p, uint8_t *out, const vg_wan_hooks *hooks,
                          vg_wan_stats *stats) {
    vg_status st;
    if ((st = vg_wan_check_size(p))) return st;
    if (!p->prompt || p->steps < 1) return vg_fail(VG_ERR_ARG, "a prompt and at least one step are needed");
    const int64_t T = (p->frames - 1) / 4 + 1, h = p->height / 8, w = p->width / 8, Z = 16, n = Z * T * h * w;
    const bool cfg_on = p->cfg_scale != 1.0f;
    double t0 = now_s(), t1, t2, t3;
    vg_wan_stats s = {0};
    vg_wan_files *fd = NULL, *ft = NULL;
    vg_spm *tok = NULL;
    vg_t5 t5 = {0};
    vg_t5_acts *tacts = NULL;
    vg_dit dit = {0};
    vg_dit_acts *acts = NULL;
    vg_solver *sol = NULL;
    vg_wan_vae *vae = NULL;
    float *ctx = NULL, *x = NULL, *vc = NULL, *vu = NULL, *sig = NULL, *video = NULL, *scratch = NULL;
    int64_t *ts = NULL;
    vg_dit_config dc;
    vg_wan_names names;
    char prefix[128], extra[512];

    /* 1. DiT header first: its text_len and text_dim decide the context size */
    if ((st = vg_wan_files_open(&fd, paths->dit)) || (st = vg_wan_dit_detect(&dc, &names, prefix, sizeof(prefix), fd))) goto out;
    vg_wan_files_close(fd); fd = NULL;
    if (dc.in_dim != Z || dc.out_dim != Z) { st = vg_fail(VG_ERR_UNSUPPORTED, "%s: a DiT with %d/%d latent channels (Wan2.1 T2V has 16)", paths->dit, dc.in_dim, dc.out_dim); goto out; }
    const int64_t L = dc.text_len, Dt = dc.text_dim;
    ctx = calloc((size_t)(2 * L * Dt), sizeof(float));
    if (!ctx) { st = vg_fail(VG_ERR_OOM, "out of memory for the text contexts"); goto out; }

    /* 2. text: tokenizer, umT5 on the real tokens of prompt and negative prompt, then release */
    prog(hooks, "text", 0, 2, 0);
    if ((st = vg_wan_files_open(&ft, paths->t5)) || (st = vg_wan_t5_load(&t5, ft))) goto out;
    if (t5.cfg.dim != Dt) { st = vg_fail(VG_ERR_SHAPE, "%s: text encoder width %lld, but the DiT expects text_dim %lld", paths->t5, (long long)t5.cfg.dim, (long long)Dt); goto out; }
    if ((st = load_tokenizer(&tok, paths->tokenizer, ft))) goto out;
    if (!(tacts = vg_t5_acts_new(&t5.cfg, L, false)) || !(scratch = malloc(sizeof(float) * (size_t)(L * Dt)))) { st = vg_fail(VG_ERR_OOM, "out of memory for the text encoder"); goto out; }
    if ((st = encode_prompt(ctx, &s.n_tok, &t5, tacts, tok, p->prompt, L, scratch))) goto out;
    prog(hooks, "text", 1, 2, now_s() - t0);
    if (cfg_on) {
        const char *neg = p->negative_prompt ? p->negative_prompt : vg_wan_default_negative_prompt;
        if ((st = encode_prompt(ctx + L * Dt, &s.n_tok_neg, &t5, tacts, tok, neg, L, scratch))) goto out;
    }
    prog(hooks, "text", 2, 2, now_s() - t0);
    vg_t5_acts_free(tacts); tacts = NULL;
    vg_t5_free(&t5);
    vg_wan_files_close(ft); ft = NULL; /* the encoder's mapping is gone before the DiT is mapped */
    vg_spm_free(tok); tok = NULL;
    free(scratch); scratch = NULL;
    t1 = now_s();
    s.text_s = t1 - t0;

    /* 3. DiT */
    if ((st = vg_wan_files_open(&fd, paths->dit)) || (st = vg_wan_dit_load(&dit, &dc, fd, names, prefix))) goto out;
    int64_t n_extra = vg_wan_files_unused(fd, extra, sizeof(extra));
    if (n_extra) say(hooks, "%s: %lld unexpected tensor%s ignored: %s%s", paths->dit, (long long)n_extra, n_extra > 1 ? "s" : "", extra, n_extra > 8 ? ", ..." : "");
    if ((st = vg_dit_acts_new(&acts, &dc, 1, T, h, w, false))) goto out;
    x = malloc(sizeof(float) * n); vc = malloc(sizeof(float) * n); vu = malloc(sizeof(float) * n);
    sig = malloc(sizeof(float) * (size_t)(p->steps + 1)); ts = malloc(sizeof(int64_t) * (size_t)p->steps);
    if (!x || !vc || !vu || !sig || !ts) { st = vg_fail(VG_ERR_OOM, "out of memory for the latents"); goto out; }
    vg_schedule_wan(sig, ts, p->steps, p->flow_shift);
    if ((st = vg_solver_new(&sol, p->sampler, sig, p->steps, n))) goto out;
    vg_clip_noise(x, Z, T, h, w, p->seed); /* Philox, per latent frame (not the official CUDA stream) */
    s.load_s = now_s() - t1;
    t2 = now_s();
    for (int i = 0; i < p->steps; i++) {
        double ts0 = now_s();
        float tt = (float)ts[i]; /* the integer timestep, as the official sampler passes it */
        if ((st = vg_dit_forward(&dit, acts, vc, x, &tt, ctx, 1, T, h, w, p->window, 0, NULL))) goto out;
        if (cfg_on) {
            if ((st = vg_dit_forward(&dit, acts, vu, x, &tt, ctx + L * Dt, 1, T, h, w, p->window, 0, NULL))) goto out;
            const float g = p->cfg_scale;
            #pragma omp parallel for schedule(static)
            for (int64_t j = 0; j < n; j++) vc[j] = vu[j] + g * (vc[j] - vu[j]);
        }
        vg_solver_step(sol, i, x, vc);
        double dt = now_s() - ts0;
        if (i == 0) s.step_s_first = dt;
        prog(hooks, "denoise", i + 1, p->steps, now_s() - t2);
    }
    s.step_s_mean = (now_s() - t2) / p->steps;
    vg_dit_acts_free(acts); acts = NULL;
    vg_dit_free(&dit);
    vg_wan_files_close(fd); fd = NULL;
    free(vc); vc = NULL; free(vu); vu = NULL;
    t3 = now_s();
    s.denoise_s = t3 - t2;

    /* 4. VAE decode (chunked, one latent frame at a time) */
    prog(hooks, "decode", 0, 1, 0);
    /* --tae: TAEHV decodes the DiT's latents as they are (no VAE mean/std, taehv README) */
    if (paths->tae) {
        if ((st = vg_taehv_decode_file_u8(paths->tae, out, x, T, h, w, p->frames, p->height, p->width))) goto out;
        goto decoded;
    }
    if ((st = vg_wan_vae_open(&vae, paths->vae, NULL))) goto out;
    int64_t F, H, W;
    vg_wan_vae_video_dims(vae, T, h, w, &F, &H, &W);
    if (F != p->frames || H != p->height || W != p->width) {
        st = vg_fail(VG_ERR_UNSUPPORTED, "%s: this VAE decodes %lldx%lld latents to %lldx%lldx%lld, not %dx%dx%d", paths->vae,
                     (long long)h, (long long)w, (long long)W, (long long)H, (long long)F, p->width, p->height, p->frames);
        goto out;
    }
    if (!(video = malloc(sizeof(float) * (size_t)(3 * F * H * W)))) { st = vg_fail(VG_ERR_OOM, "out of memory for the video"); goto out; }
    if ((st = vg_wan_vae_decode(vae, video, x, T, h, w))) goto out;
    /* [-1,1] -> uint8 as torchvision's make_grid(normalize) then *255 and truncation (WAN.md 4.6) */
    #pragma omp parallel for schedule(static)
    for (int64_t f = 0; f < F; f++)
        for (int64_t i = 0; i < H * W; i++)
            for (int c = 0; c < 3; c++) {
                float u = video[(c * F + f) * H * W + i];
                u = u < -1 ? -1 : u > 1 ? 1 : u;
                float v = (u + 1.0f) * 0.5f * 255.0f;
                out[(f * H * W + i) * 3 + c] = (uint8_t)(v > 255 ? 255 : v);
            }
decoded:
    prog(hooks, "decode", 1, 1, now_s() - t3);
    s.decode_s = now_s() - t3;
    s.total_s = now_s() - t0;
    if (stats) *stats = s;
out:
    vg_wan_vae_free(vae);
    vg_solver_free(sol);
    vg_dit_acts_free(acts);
    vg_dit_free(&dit);
    vg_t5_acts_free(tacts);
    vg_t5_free(&t5);
    vg_spm_free(tok);
    vg_wan_files_close(fd);
    vg_wan_files_close(ft);
    free(ctx); free(x); free(vc); free(vu); free(sig); free(ts); free(video); free(scratch);
    return st;
}

/* ================================================================ random-weight files */

void vg_wan_random_opts_default(vg_wan_random_opts *o) {
    memset(o, 0, sizeof(*o));
    vg_dit_config_wan13b(&o->dit);
    vg_t5_config_umt5_xxl(&o->t5);
    vg_wan_vae_config_default(&o->vae);
    o->dtype = VG_DTYPE_F16;
    o->layout = VG_WAN_LAYOUT_COMFY;
    o->dit_prefix = true;
    o->shards = 2;
    o->seed = 1;
}

enum { RK_MAT, RK_ONES, RK_BIAS, RK_MOD, RK_EMB, RK_POS, RK_BLOB };
typedef struct {
    char name[192];
    int nd;
    int64_t shape[5];
    int kind;
    uint64_t key;
} rtensor;
typedef struct { rtensor *t; int64_t n, cap; } rlist;

static vg_status rl_add(rlist *l, const char *name, int nd, const int64_t *shape, int kind) {
    if (l->n == l->cap) {
        int64_t nc = l->cap ? l->cap * 2 : 256;
        rtensor *nt = realloc(l->t, sizeof(*nt) * (size_t)nc);
        if (!nt) return vg_fail(VG_ERR_OOM, "out of memory");
        l->t = nt; l->cap = nc;
    }
    rtensor *t = &l->t[l->n++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->nd = nd;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)nd);
    t->kind = kind;
    return VG_OK;
}

static int64_t rt_numel(const rtensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->nd; i++) n *= t->shape[i];
    return n;
}

static inline uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* value i of tensor t: uniform with the variance the kind asks for (fan-in scaled matrices) */
static void rt_fill(float *dst, const rtensor *t, int64_t i0, int64_t n) {
    int64_t fan_in = t->nd >= 2 ? rt_numel(t) / t->shape[0] : 1;
    double a;
    switch (t->kind) {
    case RK_ONES: a = 0.1; break;
    case RK_BIAS: a = 0.02; break;
    case RK_MOD: a = 1.7320508 / sqrt((double)t->shape[t->nd - 1]); break;
    case RK_EMB: a = 1.0; break;
    case RK_POS: a = 0.5; break;
    default: a = sqrt(3.0 / (double)fan_in); break;
    }
    float base = t->kind == RK_ONES ? 1.0f : 0.0f;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(mix64(t->key ^ (uint64_t)(i0 + i) * 0xd1b54a32d192ed03ull) >> 11) * (1.0 / 9007199254740992.0);
        dst[i] = base + (float)((2.0 * u - 1.0) * a);
    }
}

/* Streams a safetensors file: header, then every tensor generated chunk by chunk (blob: raw
 * bytes, last). Written to path.tmp.<pid>, fsynced, renamed. */
static vg_status write_streaming(const char *path, const rlist *l, vg_dtype dt, const char *meta_config,
                                 const void *blob, int64_t blob_n) {
    size_t cap = 1 << 16, len = 0;
    char *hdr = malloc(cap);
    if (!hdr) return vg_fail(VG_ERR_OOM, "out of memory");
    int64_t off = 0, esz = (int64_t)vg_dtype_size(dt);
#define HAPPEND(...) do { int r_ = snprintf(hdr + len, cap - len, __VA_ARGS__); \
        while (r_ >= 0 && (size_t)r_ >= cap - len) { cap *= 2; char *nh = realloc(hdr, cap); if (!nh) { free(hdr); return vg_fail(VG_ERR_OOM, "out of memory"); } \
            hdr = nh; r_ = snprintf(hdr + len, cap - len, __VA_ARGS__); } len += (size_t)r_; } while (0)
    HAPPEND("{");
    if (meta_config) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "config", meta_config);
        char *ms = cJSON_PrintUnformatted(m);
        HAPPEND("\"__metadata__\":%s,", ms);
        free(ms);
        cJSON_Delete(m);
    }
    for (int64_t k = 0; k < l->n; k++) {
        const rtensor *t = &l->t[k];
        char sh[128];
        size_t o = 0;
        for (int d = 0; d < t->nd; d++) o += (size_t)snprintf(sh + o, sizeof(sh) - o, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        sh[o < sizeof(sh) ? o : sizeof(sh) - 1] = 0;
        int64_t nb = rt_numel(t) * esz;
        HAPPEND("%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%lld,%lld]}", k ? "," : "", t->name,
                vg_dtype_name(dt), sh, (long long)off, (long long)(off + nb));
        off += nb;
    }
    if (blob) HAPPEND("%s\"spiece_model\":{\"dtype\":\"U8\",\"shape\":[%lld],\"data_offsets\":[%lld,%lld]}", l->n ? "," : "",
                      (long long)blob_n, (long long)off, (long long)(off + blob_n));
    HAPPEND("}");
    while (len % 8) HAPPEND(" ");
#undef HAPPEND
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    FILE *fp = fopen(tmp, "wb");
    vg_status st = VG_OK;
    const int64_t CH = 1 << 20;
    float *buf = malloc(sizeof(float) * CH);
    void *cv = malloc((size_t)(CH * esz));
    uint64_t hl = len;
    if (!fp) { st = vg_fail(VG_ERR_IO, "%s: cannot create (%s)", tmp, strerror(errno)); goto out; }
    if (!buf || !cv) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
    if (fwrite(&hl, 8, 1, fp) != 1 || fwrite(hdr, 1, len, fp) != len) goto io;
    for (int64_t k = 0; k < l->n; k++) {
        int64_t n = rt_numel(&l->t[k]);
        for (int64_t i = 0; i < n; i += CH) {
            int64_t c = n - i < CH ? n - i : CH;
            rt_fill(buf, &l->t[k], i, c);
            vg_from_f32(cv, dt, buf, c);
            if (fwrite(cv, (size_t)esz, (size_t)c, fp) != (size_t)c) goto io;
        }
    }
    if (blob && fwrite(blob, 1, (size_t)blob_n, fp) != (size_t)blob_n) goto io;
    if (fflush(fp) || fsync(fileno(fp))) goto io;
    if (fclose(fp)) { fp = NULL; goto io; }
    fp = NULL;
    if (rename(tmp, path)) { st = vg_fail(VG_ERR_IO, "%s: rename failed (%s)", path, strerror(errno)); unlink(tmp); }
    goto out;
io:
    st = vg_fail(VG_ERR_IO, "%s: write failed (%s)", tmp, strerror(errno));
    if (fp) fclose(fp);
    fp = NULL;
    unlink(tmp);
out:
    if (fp) { fclose(fp); unlink(tmp); }
    free(buf); free(cv); free(hdr);
    return st;
}

/* k shards of about equal size + index.json (weight_map) in dir */
static vg_status write_sharded(const char *dir, const char *stem, const rlist *l, vg_dtype dt, int k) {
    int64_t total = 0, esz = (int64_t)vg_dtype_size(dt);
    for (int64_t i = 0; i < l->n; i++) total += rt_numel(&l->t[i]) * esz;
    if (k < 1) k = 1;
    if (k > l->n) k = (int)l->n;
    cJSON *idx = cJSON_CreateObject(), *md = cJSON_AddObjectToObject(idx, "metadata"), *wm = cJSON_AddObjectToObject(idx, "weight_map");
    cJSON_AddNumberToObject(md, "total_size", (double)total);
    vg_status st = VG_OK;
    int64_t start = 0, acc = 0;
    for (int s = 0; s < k && !st; s++) {
        int64_t end = start, want = total * (s + 1) / k;
        while (end < l->n && (end == start || acc + rt_numel(&l->t[end]) * esz <= want || s == k - 1)) acc += rt_numel(&l->t[end++]) * esz;
        if (l->n - end < k - 1 - s) { while (l->n - end < k - 1 - s) acc -= rt_numel(&l->t[--end]) * esz; }
        char fname[256], path[4400];
        snprintf(fname, sizeof(fname), "%s-%05d-of-%05d.safetensors", stem, s + 1, k);
        snprintf(path, sizeof(path), "%s/%s", dir, fname);
        rlist part = {l->t + start, end - start, end - start};
        for (int64_t i = start; i < end; i++) cJSON_AddStringToObject(wm, l->t[i].name, fname);
        st = write_streaming(path, &part, dt, NULL, NULL, 0);
        start = end;
    }
    if (!st) {
        char *js = cJSON_Print(idx), path[4400];
        snprintf(path, sizeof(path), "%s/%s.safetensors.index.json", dir, stem);
        st = vg_file_write_atomic(path, js, strlen(js));
        free(js);
    }
    cJSON_Delete(idx);
    return st;
}

typedef struct { rlist *l; const vg_wan_random_opts *o; vg_status err; } dcollect;
static void dit_collect(void *ctx, const char *name, int nd, const int64_t *s, vg_w *w) {
    dcollect *dc = ctx;
    if (dc->err) return;
    int64_t sh[5];
    memcpy(sh, s, sizeof(int64_t) * (size_t)nd);
    if (dc->o->misshape && strcmp(dc->o->misshape, name) == 0) sh[0] -= 1;
    char key[320], tmp[256];
    if (dc->o->layout == VG_WAN_LAYOUT_DIFFUSERS) vg_wan_dit_name_diffusers(tmp, sizeof(tmp), name);
    else snprintf(tmp, sizeof(tmp), "%s", name);
    snprintf(key, sizeof(key), "%s%s", dc->o->layout == VG_WAN_LAYOUT_COMFY && dc->o->dit_prefix ? "model.diffusion_model." : "", tmp);
    int kind = RK_MAT;
    if (strstr(name, "modulation")) kind = RK_MOD;
    else if (nd == 1 && (strstr(name, "norm_q") || strstr(name, "norm_k") || strstr(name, "norm3.weight"))) kind = RK_ONES;
    else if (nd == 1) kind = RK_BIAS;
    dc->err = rl_add(dc->l, key, nd, sh, kind);
}

/* A made-up SentencePiece unigram ModelProto: control/unknown pieces, U+2581, letters, a
 * few words; enough to tokenize plain English prompts (ids < 64). */
static uint8_t *make_spiece(int64_t *n) {
    static const char *words[] = {"\xe2\x96\x81" "a", "\xe2\x96\x81" "the", "\xe2\x96\x81" "cat", "\xe2\x96\x81" "red",
                                  "\xe2\x96\x81" "ball", "\xe2\x96\x81" "on", "\xe2\x96\x81" "walks", "\xe2\x96\x81" "in",
                                  ",", "."};
    size_t cap = 4096, o = 0;
    uint8_t *b = malloc(cap);
    if (!b) return NULL;
#define PUT(x) (b[o++] = (uint8_t)(x))
    /* piece: field 1 (len-delimited) { 1: string, 2: float (fixed32), 3: type varint } */
    int np = 4 + 26 + (int)(sizeof(words) / sizeof(words[0]));
    for (int i = 0; i < np; i++) {
        char s[16];
        int type = 1;
        float score = -5.0f;
        if (i == 0) { strcpy(s, "<pad>"); type = 3; score = 0; }
        else if (i == 1) { strcpy(s, "</s>"); type = 3; score = 0; }
        else if (i == 2) { strcpy(s, "<unk>"); type = 2; score = 0; }
        else if (i == 3) { strcpy(s, "\xe2\x96\x81"); score = -3.0f; }
        else if (i < 30) { s[0] = (char)('a' + i - 4); s[1] = 0; score = -4.0f - 0.01f * (float)(i - 4); }
        else { snprintf(s, sizeof(s), "%s", words[i - 30]); score = -2.0f; }
        size_t sl = strlen(s);
        uint8_t inner[64];
        size_t k = 0;
        inner[k++] = 0x0a; inner[k++] = (uint8_t)sl; memcpy(inner + k, s, sl); k += sl;
        inner[k++] = 0x15; memcpy(inner + k, &score, 4); k += 4;
        inner[k++] = 0x18; inner[k++] = (uint8_t)type;
        PUT(0x0a); PUT(k); memcpy(b + o, inner, k); o += k;
    }
    /* trainer_spec (field 2): model_type 3 = 1 (UNIGRAM), unk_id 40 = 2 */
    PUT(0x12); PUT(5); PUT(0x18); PUT(1); PUT(0xc0); PUT(0x02); PUT(2);
    /* normalizer_spec (field 3): add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces */
    PUT(0x1a); PUT(6); PUT(0x18); PUT(1); PUT(0x20); PUT(1); PUT(0x28); PUT(1);
#undef PUT
    *n = (int64_t)o;
    return b;
}

static char *dit_config_json(const vg_dit_config *c, bool diffusers) {
    char *s = malloc(1024);
    if (!s) return NULL;
    if (diffusers)
        snprintf(s, 1024, "{\"_class_name\": \"WanTransformer3DModel\", \"num_attention_heads\": %d, \"attention_head_dim\": %d, "
                 "\"ffn_dim\": %d, \"freq_dim\": %d, \"in_channels\": %d, \"out_channels\": %d, \"num_layers\": %d, "
                 "\"patch_size\": [%d, %d, %d], \"text_dim\": %d, \"eps\": %g, \"qk_norm\": \"rms_norm_across_heads\", "
                 "\"cross_attn_norm\": true, \"rope_max_seq_len\": 1024}",
                 c->heads, c->dim / c->heads, c->ffn_dim, c->freq_dim, c->in_dim, c->out_dim, c->layers, c->patch[0],
                 c->patch[1], c->patch[2], c->text_dim, c->eps);
    else
        snprintf(s, 1024, "{\"model_type\": \"t2v\", \"dim\": %d, \"ffn_dim\": %d, \"freq_dim\": %d, \"num_heads\": %d, "
                 "\"num_layers\": %d, \"in_dim\": %d, \"out_dim\": %d, \"text_len\": %d, \"text_dim\": %d, \"eps\": %g, "
                 "\"patch_size\": [%d, %d, %d]}",
                 c->dim, c->ffn_dim, c->freq_dim, c->heads, c->layers, c->in_dim, c->out_dim, c->text_len, c->text_dim,
                 c->eps, c->patch[0], c->patch[1], c->patch[2]);
    return s;
}

vg_status vg_wan_write_random(const char *dir, const vg_wan_random_opts *o) {
    vg_status st;
    char p[4400], sub[4096];
    rlist l = {0};
    uint8_t *sp = NULL;
    char *cj = NULL;
    const bool diff = o->layout == VG_WAN_LAYOUT_DIFFUSERS;
    if (o->dtype != VG_DTYPE_F16 && o->dtype != VG_DTYPE_BF16 && o->dtype != VG_DTYPE_F32)
        return vg_fail(VG_ERR_ARG, "random weights: dtype %s (F16, BF16 or F32)", vg_dtype_name(o->dtype));
    if ((st = vg_mkdir_p(dir))) return st;
    /* DiT */
    if (!o->skip_dit) {
        vg_dit_config c = o->dit;
        vg_dit_weights w = {0};
        if (!(w.blk = calloc((size_t)c.layers, sizeof(vg_dit_block)))) return vg_fail(VG_ERR_OOM, "out of memory");
        dcollect dc = {&l, o, VG_OK};
        vg_dit_visit(&c, &w, dit_collect, &dc);
        free(w.blk);
        if ((st = dc.err)) goto out;
        for (int64_t i = 0; i < l.n; i++) l.t[i].key = mix64(o->seed * 1000003u + (uint64_t)i);
        vg_dit_config d13;
        vg_dit_config_wan13b(&d13);
        bool real = c.dim == d13.dim && c.layers == d13.layers && c.ffn_dim == d13.ffn_dim && c.heads == d13.heads &&
                    c.text_len == d13.text_len && c.text_dim == d13.text_dim;
        if (diff) {
            snprintf(sub, sizeof(sub), "%s/transformer", dir);
            if ((st = vg_mkdir_p(sub)) || (st = write_sharded(sub, "diffusion_pytorch_model", &l, o->dtype, o->shards))) goto out;
            if (!(cj = dit_config_json(&c, true))) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
            snprintf(p, sizeof(p), "%s/config.json", sub);
            if ((st = vg_file_write_atomic(p, cj, strlen(cj)))) goto out;
        } else {
            if (!real && !(cj = dit_config_json(&c, false))) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
            snprintf(p, sizeof(p), "%s/wan2.1_t2v_1.3B_%s.safetensors", dir, o->dtype == VG_DTYPE_F16 ? "fp16" : o->dtype == VG_DTYPE_BF16 ? "bf16" : "fp32");
            if ((st = write_streaming(p, &l, o->dtype, cj, NULL, 0))) goto out;
        }
        free(cj); cj = NULL;
        l.n = 0;
    }
    /* umT5: HF names (Comfy and diffusers both use them) */
    int64_t spn = 0;
    if (!(sp = make_spiece(&spn))) { st = vg_fail(VG_ERR_OOM, "out of memory"); goto out; }
    if (!o->skip_t5) {
        if ((st = vg_t5_config_check(&o->t5))) goto out;
        int64_t nt = vg_t5_tensor_count(&o->t5);
        for (int64_t i = 0; i < nt && !st; i++) {
            char on[128], hf[256];
            int nd;
            int64_t sh[2], off;
            vg_t5_tensor_info(&o->t5, i, on, sizeof(on), &nd, sh, &off);
            if (!t5_hf_name(hf, sizeof(hf), on)) { st = vg_fail(VG_ERR_UNSUPPORTED, "random T5: no HF name for '%s'", on); break; }
            int kind = strstr(on, "norm") ? RK_ONES : strstr(on, "token_embedding") ? RK_EMB : strstr(on, "pos_embedding") ? RK_POS : RK_MAT;
            st = rl_add(&l, hf, nd, sh, kind);
            l.t[l.n - 1].key = mix64(o->seed * 7919u + 0x5a5a0000u + (uint64_t)i);
        }
        if (st) goto out;
        if (diff) {
            snprintf(sub, sizeof(sub), "%s/text_encoder", dir);
            if ((st = vg_mkdir_p(sub)) || (st = write_sharded(sub, "model", &l, o->dtype, o->shards))) goto out;
            char js[512];
            snprintf(js, sizeof(js), "{\"architectures\": [\"UMT5EncoderModel\"], \"model_type\": \"umt5\", \"vocab_size\": %lld, "
                     "\"d_model\": %lld, \"d_kv\": %lld, \"d_ff\": %lld, \"num_heads\": %d, \"num_layers\": %d, "
                     "\"relative_attention_num_buckets\": %d, \"relative_attention_max_distance\": %d, "
                     "\"feed_forward_proj\": \"gated-gelu\", \"layer_norm_epsilon\": 1e-06}",
                     (long long)o->t5.vocab, (long long)o->t5.dim, (long long)(o->t5.dim_attn / o->t5.heads), (long long)o->t5.ffn,
                     o->t5.heads, o->t5.layers, o->t5.buckets, o->t5.max_dist);
            snprintf(p, sizeof(p), "%s/config.json", sub);
            if ((st = vg_file_write_atomic(p, js, strlen(js)))) goto out;
            snprintf(sub, sizeof(sub), "%s/tokenizer", dir);
            snprintf(p, sizeof(p), "%s/spiece.model", sub);
            if ((st = vg_mkdir_p(sub)) || (st = vg_file_write_atomic(p, sp, (size_t)spn))) goto out;
        } else {
            snprintf(p, sizeof(p), "%s/umt5_xxl_%s.safetensors", dir, o->dtype == VG_DTYPE_F16 ? "fp16" : o->dtype == VG_DTYPE_BF16 ? "bf16" : "fp32");
            if ((st = write_streaming(p, &l, o->dtype, NULL, sp, spn))) goto out;
        }
        l.n = 0;
    }
    /* VAE: official names (the diffusers folder gets the same file: the VAE loader maps names itself) */
    if (!o->skip_vae) {
        if (diff) {
            snprintf(sub, sizeof(sub), "%s/vae", dir);
            snprintf(p, sizeof(p), "%s/diffusion_pytorch_model.safetensors", sub);
            if ((st = vg_mkdir_p(sub))) goto out;
        } else snprintf(p, sizeof(p), "%s/wan_2.1_vae.safetensors", dir);
        if ((st = vg_wan_vae_write_random(p, &o->vae, o->dtype, o->seed + 17))) goto out;
    }
out:
    free(l.t);
    free(sp);
    free(cj);
    return st;
}
