/* wan_random.c - random-weight Wan2.1 files with the real names and shapes (DiT, umT5, VAE,
 * tokenizer), written streaming and optionally sharded, for tests and benchmarks at full size
 * without downloads. */
#include "model/wan_internal.h"

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
            if (!vg_wan_t5_hf_name_(hf, sizeof(hf), on)) { st = vg_fail(VG_ERR_UNSUPPORTED, "random T5: no HF name for '%s'", on); break; }
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

