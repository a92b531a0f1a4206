/* model.c - vidgen's own model folders: config.json + model.safetensors (see model.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "vidgen/io.h"
#include "vidgen/model.h"
#include "vidgen/safetensors.h"

static vg_status get_obj(const cJSON *root, const char *k, const cJSON **out, const char *what) {
    *out = cJSON_GetObjectItemCaseSensitive(root, k);
    if (!*out || !cJSON_IsObject(*out)) return vg_fail(VG_ERR_FORMAT, "%s: missing object \"%s\"", what, k);
    return VG_OK;
}

static vg_status num_field(const cJSON *o, const char *k, double lo, double hi, double *v, const char *what) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!it) return VG_OK;
    if (!cJSON_IsNumber(it) || it->valuedouble < lo || it->valuedouble > hi)
        return vg_fail(VG_ERR_FORMAT, "%s: \"%s\" must be a number in [%g, %g]", what, k, lo, hi);
    *v = it->valuedouble;
    return VG_OK;
}

static vg_status parse_config(vg_model *m, const char *json, const char *what) {
    vg_status st = VG_OK;
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) { cJSON_Delete(root); return vg_fail(VG_ERR_FORMAT, "%s: not a JSON object", what); }
    const cJSON *d, *t, *it;
    char *s = NULL;
    if ((st = get_obj(root, "dit", &d, what)) || (st = get_obj(root, "text_encoder", &t, what))) goto out;
    it = cJSON_GetObjectItemCaseSensitive(root, "name");
    snprintf(m->name, sizeof(m->name), "%s", cJSON_IsString(it) ? it->valuestring : "unnamed");
    s = cJSON_PrintUnformatted(d);
    vg_dit_config_wan13b(&m->dcfg);
    m->dcfg.window = -1;
    if ((st = vg_dit_config_from_json(&m->dcfg, s, what))) goto out;
    free(s);
    s = cJSON_PrintUnformatted(t);
    if ((st = vg_t5_config_from_json(&m->tcfg, s))) { st = vg_fail(st, "%s: text_encoder: %s", what, vg_last_error()); goto out; }
    if ((st = vg_t5_config_check(&m->tcfg))) { st = vg_fail(st, "%s: text_encoder: %s", what, vg_last_error()); goto out; }
    if (m->tcfg.dim != m->dcfg.text_dim) { st = vg_fail(VG_ERR_FORMAT, "%s: text_encoder dim %lld != dit text_dim %d", what, (long long)m->tcfg.dim, m->dcfg.text_dim); goto out; }
    /* vocabulary */
    it = cJSON_GetObjectItemCaseSensitive(root, "vocabulary");
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) < 4) { st = vg_fail(VG_ERR_FORMAT, "%s: \"vocabulary\" must be an array of words", what); goto out; }
    m->n_vocab = cJSON_GetArraySize(it);
    if (m->n_vocab > m->tcfg.vocab) { st = vg_fail(VG_ERR_FORMAT, "%s: %d words but the text encoder has %lld embedding rows", what, m->n_vocab, (long long)m->tcfg.vocab); goto out; }
    m->vocab = calloc((size_t)m->n_vocab, sizeof(char *));
    if (!m->vocab) { st = vg_fail(VG_ERR_OOM, "%s: vocabulary of %d words: out of memory", what, m->n_vocab); m->n_vocab = 0; goto out; }
    for (int i = 0; i < m->n_vocab; i++) {
        const cJSON *w = cJSON_GetArrayItem(it, i);
        if (!cJSON_IsString(w)) { st = vg_fail(VG_ERR_FORMAT, "%s: vocabulary entry %d is not a string", what, i); goto out; }
        if (!(m->vocab[i] = strdup(w->valuestring))) { st = vg_fail(VG_ERR_OOM, "%s: vocabulary: out of memory", what); goto out; }
    }
    if (strcmp(m->vocab[0], "<pad>") || strcmp(m->vocab[1], "</s>") || strcmp(m->vocab[2], "<unk>")) {
        st = vg_fail(VG_ERR_FORMAT, "%s: the vocabulary must start with \"<pad>\", \"</s>\", \"<unk>\"", what); goto out;
    }
    if ((st = vg_wordtok_new(&m->tok, (const char *const *)m->vocab + 3, m->n_vocab - 3))) {
        st = vg_fail(st, "%s: vocabulary: %s", what, vg_last_error()); goto out;
    }
    /* defaults */
    vg_model_defaults *df = &m->def;
    *df = (vg_model_defaults){.width = 32, .height = 32, .frames = 16, .steps = 20, .window = m->dcfg.window,
                              .cfg_scale = 4.0f, .flow_shift = 3.0f, .fps = 8.0f, .sampler = "euler"};
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "defaults");
    if (o) {
        if (!cJSON_IsObject(o)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"defaults\" must be an object", what); goto out; }
        double v;
        v = df->width; if ((st = num_field(o, "width", 1, 4096, &v, what))) goto out; df->width = (int)v;
        v = df->height; if ((st = num_field(o, "height", 1, 4096, &v, what))) goto out; df->height = (int)v;
        v = df->frames; if ((st = num_field(o, "frames", 1, 100000, &v, what))) goto out; df->frames = (int)v;
        v = df->steps; if ((st = num_field(o, "steps", 1, 1000, &v, what))) goto out; df->steps = (int)v;
        v = df->window; if ((st = num_field(o, "temporal_window", -1, 100000, &v, what))) goto out; df->window = (int)v;
        v = df->cfg_scale; if ((st = num_field(o, "cfg_scale", 0, 100, &v, what))) goto out; df->cfg_scale = (float)v;
        v = df->flow_shift; if ((st = num_field(o, "flow_shift", 0.01, 100, &v, what))) goto out; df->flow_shift = (float)v;
        v = df->fps; if ((st = num_field(o, "fps", 0.1, 1000, &v, what))) goto out; df->fps = (float)v;
        v = df->chunk; if ((st = num_field(o, "chunk", 0, 100000, &v, what))) goto out; df->chunk = (int)v;
        v = df->chunk_overlap; if ((st = num_field(o, "chunk_overlap", 0, 100000, &v, what))) goto out; df->chunk_overlap = (int)v;
        if (df->chunk > 0 && (df->chunk_overlap < 1 || df->chunk_overlap >= df->chunk)) {
            st = vg_fail(VG_ERR_FORMAT, "%s: \"defaults\": \"chunk_overlap\" must be 1..chunk-1", what); goto out;
        }
        it = cJSON_GetObjectItemCaseSensitive(o, "sampler");
        if (cJSON_IsString(it)) snprintf(df->sampler, sizeof(df->sampler), "%s", it->valuestring);
        it = cJSON_GetObjectItemCaseSensitive(o, "negative_prompt");
        if (cJSON_IsString(it)) snprintf(df->negative_prompt, sizeof(df->negative_prompt), "%s", it->valuestring);
    }
    m->train_frames = df->frames; m->train_size = df->width;
    o = cJSON_GetObjectItemCaseSensitive(root, "training");
    if (cJSON_IsObject(o)) {
        double v = m->train_frames;
        if ((st = num_field(o, "frames", 1, 100000, &v, what))) goto out;
        m->train_frames = (int)v;
        const cJSON *kf = cJSON_GetObjectItemCaseSensitive(o, "known_frames");
        if (kf && !cJSON_IsBool(kf)) { st = vg_fail(VG_ERR_FORMAT, "%s: \"training\": \"known_frames\" must be true or false", what); goto out; }
        m->known_frames = cJSON_IsTrue(kf);
    }
    if (!(m->config_json = strdup(json))) st = vg_fail(VG_ERR_OOM, "%s: out of memory", what);
out:
    free(s);
    cJSON_Delete(root);
    return st;
}

static vg_status alloc_weights(vg_model *m) {
    vg_status st = vg_dit_alloc_f32(&m->dit, &m->dcfg);
    if (st) return st;
    int64_t n = vg_t5_param_count(&m->tcfg);
    m->t5_params = calloc((size_t)n, sizeof(float));
    if (!m->t5_params) return vg_fail(VG_ERR_OOM, "text encoder: cannot allocate %lld parameters", (long long)n);
    return vg_t5_init_flat(&m->t5, &m->tcfg, m->t5_params);
}

vg_status vg_model_create(vg_model *m, const char *config_json, const char *what) {
    memset(m, 0, sizeof(*m));
    vg_status st = parse_config(m, config_json, what);
    if (!st) st = alloc_weights(m);
    if (st) vg_model_close(m);
    return st;
}

typedef struct { vg_st_file *f; vg_status st; } ld_ctx;
static void load_dit_fn(void *ctx, const char *name, int nd, const int64_t *s, vg_w *w) {
    ld_ctx *c = ctx;
    if (c->st) return;
    const vg_tensor *t;
    if ((c->st = vg_st_require(c->f, name, nd, s, &t))) return;
    if (t->dtype != VG_DTYPE_F32 && t->dtype != VG_DTYPE_BF16 && t->dtype != VG_DTYPE_F16) {
        c->st = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' has dtype %s (expected F32, BF16 or F16)", vg_st_path(c->f), name, vg_dtype_name(t->dtype));
        return;
    }
    vg_to_f32(w->d, t->data, t->dtype, vg_tensor_numel(t));
}

vg_status vg_model_open(vg_model *m, const char *dir) {
    memset(m, 0, sizeof(*m));
    char path[1200];
    char *json = NULL;
    vg_st_file *f = NULL;
    snprintf(path, sizeof(path), "%s/config.json", dir);
    vg_status st = vg_file_read(path, &json, NULL);
    if (st) return st;
    if ((st = parse_config(m, json, path))) goto out;
    snprintf(m->dir, sizeof(m->dir), "%s", dir);
    if ((st = alloc_weights(m))) goto out;
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    if ((st = vg_st_open(&f, path))) goto out;
    ld_ctx c = {f, VG_OK};
    vg_dit_visit(&m->dit.cfg, &m->dit.w, load_dit_fn, &c);
    if ((st = c.st)) goto out;
    for (int64_t i = 0; i < vg_t5_tensor_count(&m->tcfg); i++) {
        char nm[200], full[240];
        int nd;
        int64_t shp[2], off;
        vg_t5_tensor_info(&m->tcfg, i, nm, sizeof(nm), &nd, shp, &off);
        snprintf(full, sizeof(full), "text_encoder.%s", nm);
        const vg_tensor *t;
        if ((st = vg_st_require(f, full, nd, shp, &t))) goto out;
        if (t->dtype != VG_DTYPE_F32 && t->dtype != VG_DTYPE_BF16 && t->dtype != VG_DTYPE_F16) {
            st = vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' has dtype %s", path, full, vg_dtype_name(t->dtype));
            goto out;
        }
        vg_to_f32(m->t5_params + off, t->data, t->dtype, vg_tensor_numel(t));
    }
    if ((st = vg_st_check_all_used(f))) goto out;
    /* content hash of the weights file: FNV-1a 64 over its bytes */
    {
        FILE *fp = fopen(path, "rb");
        uint64_t h = 1469598103934665603ull;
        unsigned char buf[65536];
        size_t r;
        while (fp && (r = fread(buf, 1, sizeof(buf), fp)) > 0)
            for (size_t i = 0; i < r; i++) h = (h ^ buf[i]) * 1099511628211ull;
        if (fp) fclose(fp);
        snprintf(m->hash, sizeof(m->hash), "%016llx", (unsigned long long)h);
    }
out:
    vg_st_close(f);
    free(json);
    if (st) vg_model_close(m);
    return st;
}

typedef struct { vg_st_writer *w; vg_dtype dt; vg_status st; } sv_ctx;
static void save_dit_fn(void *ctx, const char *name, int nd, const int64_t *s, vg_w *w) {
    sv_ctx *c = ctx;
    if (!c->st) c->st = vg_st_writer_add_f32(c->w, name, c->dt, nd, s, w->d);
}

vg_status vg_model_save(const vg_model *m, const char *dir, vg_dtype dt) {
    vg_status st = vg_mkdir_p(dir);
    if (st) return st;
    vg_st_writer *w = vg_st_writer_new();
    if (!w) return vg_fail(VG_ERR_OOM, "out of memory");
    vg_dit_config dc = m->dit.cfg;
    vg_dit_weights dw = m->dit.w;
    sv_ctx c = {w, dt, VG_OK};
    vg_dit_visit(&dc, &dw, save_dit_fn, &c);
    st = c.st;
    for (int64_t i = 0; !st && i < vg_t5_tensor_count(&m->tcfg); i++) {
        char nm[200], full[240];
        int nd;
        int64_t shp[2], off;
        vg_t5_tensor_info(&m->tcfg, i, nm, sizeof(nm), &nd, shp, &off);
        snprintf(full, sizeof(full), "text_encoder.%s", nm);
        st = vg_st_writer_add_f32(w, full, dt, nd, shp, m->t5_params + off);
    }
    char path[1200];
    if (!st) st = vg_st_writer_meta(w, "format", "vidgen");
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    if (!st) st = vg_st_writer_save(w, path);
    vg_st_writer_free(w);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    if (!st) st = vg_file_write_atomic(path, m->config_json, strlen(m->config_json));
    return st;
}

void vg_model_close(vg_model *m) {
    if (!m) return;
    vg_dit_free(&m->dit);
    vg_t5_free(&m->t5);
    free(m->t5_params);
    for (int i = 0; m->vocab && i < m->n_vocab; i++) free(m->vocab[i]); /* vocab NULL: refused before it */
    free(m->vocab);
    vg_wordtok_free(m->tok);
    free(m->config_json);
    memset(m, 0, sizeof(*m));
}

static int is_model_dir(const char *d) {
    char p[PATH_MAX + 128];
    snprintf(p, sizeof(p), "%s/config.json", d);
    return access(p, R_OK) == 0;
}

vg_status vg_model_find_default(char *out, size_t n) {
    const char *e = getenv("VIDGEN_MODEL");
    if (e && *e) { snprintf(out, n, "%s", e); return VG_OK; }
    char exe[PATH_MAX], cand[PATH_MAX + 64];
    if (is_model_dir("models/default")) { snprintf(out, n, "models/default"); return VG_OK; }
    ssize_t r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (r > 0) {
        exe[r] = 0;
        char *sl = strrchr(exe, '/');
        if (sl) *sl = 0;
        const char *rel[] = {"../models/default", "../share/vidgen/models/default", "../../models/default"};
        for (int i = 0; i < 3; i++) {
            snprintf(cand, sizeof(cand), "%s/%s", exe, rel[i]);
            if (is_model_dir(cand)) { snprintf(out, n, "%s", cand); return VG_OK; }
        }
    }
#ifdef VG_DATADIR
    snprintf(cand, sizeof(cand), "%s/models/default", VG_DATADIR);
    if (is_model_dir(cand)) { snprintf(out, n, "%s", cand); return VG_OK; }
#endif
    return vg_fail(VG_ERR_IO, "no default model found (looked in $VIDGEN_MODEL, ./models/default, next to the "
                   "executable and in " VG_DATADIR "/models); use --model DIR");
}

vg_status vg_model_tokenize(const vg_model *m, const char *prompt, int32_t *ids, int *n_ids, char **unknown) {
    int T = m->dcfg.text_len;
    vg_tok_result r = {0};
    if (unknown) *unknown = NULL;
    vg_status st = vg_wordtok_encode(m->tok, prompt, T, &r);
    if (st) return st;
    if (r.n_truncated > 0) {
        vg_tok_result_free(&r);
        return vg_fail(VG_ERR_ARG, "prompt has more than %d words (the model's text length)", T - 1);
    }
    memset(ids, 0, sizeof(int32_t) * (size_t)T);
    memcpy(ids, r.ids, sizeof(int32_t) * (size_t)r.n);
    *n_ids = (int)r.n;
    if (unknown && r.n_unknown > 0) {
        size_t need = vg_tok_result_describe(&r, NULL, 0) + 1;
        *unknown = malloc(need);
        if (*unknown) vg_tok_result_describe(&r, *unknown, need);
    }
    vg_tok_result_free(&r);
    return VG_OK;
}

vg_status vg_model_encode_text(const vg_model *m, const char *prompt, float *ctx, char **unknown) {
    int T = m->dcfg.text_len, n = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)T);
    if (!ids) return vg_fail(VG_ERR_OOM, "out of memory");
    vg_status st = vg_model_tokenize(m, prompt, ids, &n, unknown);
    if (!st) {
        memset(ctx, 0, sizeof(float) * (size_t)T * m->dcfg.text_dim);
        st = vg_t5_forward(ctx, NULL, &m->t5, ids, n);
    }
    free(ids);
    return st;
}
