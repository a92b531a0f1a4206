/* wan_files.c - Wan2.1 checkpoint file sets and discovery: one part (DiT, umT5, VAE) as a
 * single file, a folder or a sharded index (*.safetensors.index.json), the used-tensor marks
 * that catch unexpected tensors, and `--model DIR` discovery (which file is which part, the
 * tokenizer). Spec: shared/WAN.md 6. */
#include "model/wan_internal.h"
#include "vidgen/gguf.h"

/* ================================================================ shard sets */



static vg_status files_add(vg_wan_files *f, const char *path) {
    vg_st_file *s = NULL;
    vg_status st = vg_gguf_is_gguf(path) ? vg_wan_gguf_open_(&s, path) : vg_st_open(&s, path);
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
        else if (ends_with(e->d_name, ".safetensors") || ends_with(e->d_name, ".gguf")) { n_st++; snprintf(one, sizeof(one), "%s", e->d_name); }
    }
    closedir(d);
    if (n_idx == 1) { snprintf(out, cap, "%s/%s", dir, idx); return VG_OK; }
    if (n_idx == 0 && n_st == 1) { snprintf(out, cap, "%s/%s", dir, one); return VG_OK; }
    if (n_idx + n_st == 0) return vg_fail(VG_ERR_FORMAT, "%s: no .safetensors or .gguf file or .safetensors.index.json in the folder", dir);
    return vg_fail(VG_ERR_ARG, "%s: %d index files and %d .safetensors/.gguf files; name the file to use", dir, n_idx, n_st);
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
vg_status vg_wan_files_require_(vg_wan_files *f, const char *name, int nd, const int64_t *shape, const vg_tensor **out) {
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

void vg_wan_files_reset_used_(vg_wan_files *f) {
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
/* Rank of a prefix when a file holds several copies of a model (a distillation checkpoint saved
 * whole: Self-Forcing / CausVid / DMD keep "generator", "generator_ema", "critic" or
 * "fake_score" / "real_score" side by side): the generator first, its EMA next, a critic never. */
static int prefix_rank(const char *p) {
    if (strstr(p, "critic") || strstr(p, "fake_score") || strstr(p, "real_score") || strstr(p, "discriminator")) return 3;
    if (strstr(p, "generator") && !strstr(p, "ema")) return 0;
    if (strstr(p, "generator")) return 1;
    return 2;
}

bool vg_wan_find_suffix_(const vg_wan_files *f, const char *key, char *prefix, size_t cap) {
    size_t kl = strlen(key);
    int best = 99;
    for (int i = 0; i < f->n; i++)
        for (int64_t k = 0; k < vg_st_count(f->sh[i]); k++) {
            const char *nm = vg_st_name(f->sh[i], k);
            size_t nl = strlen(nm);
            if (nl < kl || strcmp(nm + nl - kl, key) || (nl > kl && nm[nl - kl - 1] != '.') || nl - kl >= cap) continue;
            char p[512];
            snprintf(p, sizeof(p), "%.*s", (int)(nl - kl), nm);
            int r = prefix_rank(p);
            if (r < best) { best = r; snprintf(prefix, cap, "%s", p); }
        }
    return best < 99;
}

/* ================================================================ discovery */

typedef enum { K_NONE, K_DIT, K_T5, K_VAE } part_kind;

static part_kind classify(const vg_wan_files *f) {
    char p[128];
    if (vg_wan_find_suffix_(f, "blocks.0.self_attn.q.weight", p, sizeof(p)) || vg_wan_find_suffix_(f, "blocks.0.attn1.to_q.weight", p, sizeof(p)))
        return K_DIT;
    if (vg_wan_find_suffix_(f, "shared.weight", p, sizeof(p)) || vg_wan_find_suffix_(f, "token_embedding.weight", p, sizeof(p)) ||
        vg_wan_find_suffix_(f, "encoder.block.0.layer.0.SelfAttention.q.weight", p, sizeof(p)) || vg_wan_find_suffix_(f, "blocks.0.attn.q.weight", p, sizeof(p)))
        return K_T5;
    if (vg_wan_find_suffix_(f, "decoder.conv1.weight", p, sizeof(p)) || vg_wan_find_suffix_(f, "decoder.conv_in.weight", p, sizeof(p)))
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
        if (idx || (!has_index && ends_with(e->d_name, ".safetensors")) || ends_with(e->d_name, ".gguf")) {
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
    return vg_fail(VG_ERR_FORMAT, "%s: no %s found (searched .safetensors and .gguf files and indexes up to 3 folders deep); "
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

