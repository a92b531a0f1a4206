/* taehv.c - TAEHV tiny video autoencoder (madebyollin/taehv taehv.py, base decoder), see
 * include/vidgen/taehv.h. Written from the architecture description; the layer list:
 *   encoder: 0 conv(3p^2,64)+ReLU, 2 TPool(64,2), 3 conv(64,64,stride 2, no bias), 4-6 MemBlock,
 *            7 TPool(64,2), 8 conv s2, 9-11 MemBlock, 12 TPool(64,1), 13 conv s2, 14-16 MemBlock,
 *            17 conv(64, latent)
 *   decoder: 0 Clamp (tanh(x/3)*3), 1 conv(latent,256)+ReLU, 3-5 MemBlock(256), 6 Upsample x2,
 *            7 TGrow(256,1), 8 conv(256,128, no bias), 9-11 MemBlock(128), 12 Upsample, 13 TGrow(128,2),
 *            14 conv(128,64, no bias), 15-17 MemBlock(64), 18 Upsample, 19 TGrow(64,2),
 *            20 conv(64,64, no bias)+ReLU, 22 conv(64, 3p^2); then pixel shuffle (p > 1), clamp [0,1],
 *            trim the first t_upscale-1 frames.
 * All convs are 3x3 pad 1 except TPool/TGrow (1x1, no bias). MemBlock(C): x, past ->
 * ReLU(conv4(ReLU(conv2(ReLU(conv0([x, past]))))) + x), past = the block's input one frame earlier
 * (zeros for the first frame). TGrow(C,s): 1x1 conv C -> s*C, output channels j*C..j*C+C-1 become
 * frame t*s+j. TPool(C,s): frames t*s+j stacked as channels j*C+c, then a 1x1 conv s*C -> C.
 * Upsample (nearest x2) commutes with the 1x1 TGrow after it, so TGrow runs at the low resolution
 * and the upsample is fused into the 3x3 conv that follows (vg_conv_shape.up), exactly.
 * Activations are [C, T, H, W] (a sequential frame is [C, H, W] = T 1); each output element is
 * computed by the same arithmetic in both schedules, so they agree bit for bit. */
#include "vidgen/taehv.h"
#include "vidgen/conv.h"
#include "vidgen/rng.h"
#include "vidgen/gguf.h"
#include "vidgen/safetensors.h"
#include "vidgen/tensor.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPS 32
#define MAX_NAMES 256
#define PAR_MIN (1 << 16)

typedef enum { OP_CLAMP, OP_CONV, OP_MEM, OP_TGROW, OP_TPOOL } op_kind;

typedef struct {
    float *w, *b;                 /* w [co, ci, k, k] f32, b [co] or NULL */
    int64_t ci, co, k, stride, up;
    bool relu;                    /* ReLU after the conv */
} conv_p;

typedef struct {
    op_kind kind;
    int idx;                      /* layer index in taehv.py's nn.Sequential */
    conv_p c[3];                  /* CONV: c[0]; MEM: conv.0/.2/.4; TGROW/TPOOL: the 1x1 conv */
    int64_t C, s;                 /* MEM/TGROW/TPOOL channels, TGROW/TPOOL stride */
} op;

/* tail: the ops from here on are per-frame (CONV/CLAMP) and keep the frame count: the first
 * trimmed output frames skip them (they are never seen, and nothing later depends on them) */
typedef struct { op ops[MAX_OPS]; int n, tail; } net;

static void set_tail(net *n) {
    n->tail = n->n;
    while (n->tail > 0 && (n->ops[n->tail - 1].kind == OP_CONV || n->ops[n->tail - 1].kind == OP_CLAMP)) n->tail--;
}

struct vg_taehv {
    vg_taehv_info info;
    net enc, dec;
    int64_t nparams;
    vg_conv_ws ws;
};

/* ------------------------------------------------------------------------------------ */
/* building (load from a file, or write random weights with the same walk) */

typedef struct {
    const vg_st_file *f;          /* load from safetensors */
    const vg_gguf *g;             /* or from GGUF (same torch-order names and shapes) */
    vg_st_writer *wr;             /* or write random */
    vg_dtype wdt;
    vg_rng rng;
    float gain;
    char prefix[128];
    const char *path;
    char names[MAX_NAMES][256];    /* tensors taken, to refuse unknown ones */
    int nnames;
    int64_t nparams;
} builder;

/* the weight file, safetensors or GGUF */
static int64_t src_count(const builder *B) { return B->g ? vg_gguf_count(B->g) : vg_st_count(B->f); }
static const char *src_name(const builder *B, int64_t i) { return B->g ? vg_gguf_name(B->g, i) : vg_st_name(B->f, i); }
static const vg_tensor *src_get(const builder *B, const char *name) { return B->g ? vg_gguf_get(B->g, name) : vg_st_get(B->f, name); }

static vg_status add_name(builder *B, const char *name) {
    if (B->nnames >= MAX_NAMES) return vg_fail(VG_ERR_FORMAT, "taehv: too many tensors");
    snprintf(B->names[B->nnames++], sizeof(B->names[0]), "%s", name);
    return VG_OK;
}

/* Takes tensor `name` (without prefix) of shape sh (rows = -1: any multiple of sh[0] >= sh[0],
 * the last sh[0] rows kept) into a fresh f32 buffer. */
static vg_status take(builder *B, float **dst, const char *name, int nd, const int64_t *sh, bool tail_rows, int64_t fan_in, bool bias) {
    char full[256];
    snprintf(full, sizeof(full), "%.100s%.100s", B->prefix, name);
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= sh[i];
    float *o = malloc(sizeof(float) * (size_t)n);
    if (!o) return vg_fail(VG_ERR_OOM, "taehv: out of memory for '%s'", full);
    if (B->wr) {
        float a = bias ? 0.1f : B->gain * sqrtf(3.0f / (float)fan_in);
        for (int64_t i = 0; i < n; i++) o[i] = (float)((2.0 * vg_rng_uniform(&B->rng) - 1.0) * a);
        vg_status st = vg_st_writer_add_f32(B->wr, full, B->wdt, nd, sh, o);
        if (st) { free(o); return st; }
        *dst = o;
        B->nparams += n;
        return VG_OK;
    }
    const vg_tensor *t = src_get(B, full);
    char a[96], b[96];
    if (!t) { free(o); return vg_fail(VG_ERR_FORMAT, "%s: missing tensor '%s' (expected shape %s)", B->path, full, vg_shape_str(a, sizeof(a), nd, sh)); }
    bool ok = t->ndim == nd;
    for (int i = 1; ok && i < nd; i++) ok = t->shape[i] == sh[i];
    if (ok) ok = tail_rows ? (t->shape[0] >= sh[0] && t->shape[0] % sh[0] == 0) : t->shape[0] == sh[0];
    if (!ok) {
        free(o);
        return vg_fail(VG_ERR_SHAPE, "%s: tensor '%s': shape %s, expected %s%s", B->path, full, vg_shape_str(a, sizeof(a), t->ndim, t->shape),
                       vg_shape_str(b, sizeof(b), nd, sh), tail_rows ? " (or a multiple of its rows)" : "");
    }
    if (t->dtype != VG_DTYPE_F32 && t->dtype != VG_DTYPE_F16 && t->dtype != VG_DTYPE_BF16) {
        free(o);
        return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' has dtype %s (F32, F16 or BF16 expected)", B->path, full, vg_dtype_name(t->dtype));
    }
    int64_t skip = (t->shape[0] - sh[0]) * (n / sh[0]);
    vg_to_f32(o, (const char *)t->data + (size_t)skip * vg_dtype_size(t->dtype), t->dtype, n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(o[i])) { free(o); return vg_fail(VG_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value", B->path, full); }
    *dst = o;
    B->nparams += n;
    return add_name(B, full);
}

static vg_status take_conv(builder *B, conv_p *c, const char *base, int64_t ci, int64_t co, int64_t k, bool bias, bool tail) {
    char nm[128];
    int64_t sh[4] = {co, ci, k, k};
    c->ci = ci; c->co = co; c->k = k;
    if (!c->stride) c->stride = 1;
    if (!c->up) c->up = 1;
    snprintf(nm, sizeof(nm), "%s.weight", base);
    vg_status st = take(B, &c->w, nm, 4, sh, tail, ci * k * k, false);
    if (st || !bias) return st;
    snprintf(nm, sizeof(nm), "%s.bias", base);
    return take(B, &c->b, nm, 1, sh, false, 0, true);
}

static op *new_op(net *n, op_kind k, int idx) {
    op *o = &n->ops[n->n++];
    memset(o, 0, sizeof(*o));
    o->kind = k;
    o->idx = idx;
    return o;
}

static vg_status conv_op(builder *B, net *n, const char *part, int idx, int64_t ci, int64_t co, bool bias, int64_t stride, int64_t up, bool relu) {
    char base[64];
    snprintf(base, sizeof(base), "%s.%d", part, idx);
    op *o = new_op(n, OP_CONV, idx);
    o->c[0].stride = stride; o->c[0].up = up; o->c[0].relu = relu;
    return take_conv(B, &o->c[0], base, ci, co, 3, bias, false);
}

static vg_status mem_op(builder *B, net *n, const char *part, int idx, int64_t C) {
    char base[64];
    op *o = new_op(n, OP_MEM, idx);
    o->C = C;
    vg_status st = VG_OK;
    for (int k = 0; k < 3 && !st; k++) {
        snprintf(base, sizeof(base), "%s.%d.conv.%d", part, idx, 2 * k);
        o->c[k].relu = k < 2;
        st = take_conv(B, &o->c[k], base, k ? C : 2 * C, C, 3, true, false);
    }
    return st;
}

static vg_status t_op(builder *B, net *n, const char *part, int idx, op_kind kind, int64_t C, int64_t s) {
    char base[64];
    snprintf(base, sizeof(base), "%s.%d.conv", part, idx);
    op *o = new_op(n, kind, idx);
    o->C = C; o->s = s;
    /* TGrow of the published files may have more rows (trained with stride 2): keep the last */
    return kind == OP_TGROW ? take_conv(B, &o->c[0], base, C, C * s, 1, false, true)
                            : take_conv(B, &o->c[0], base, C * s, C, 1, false, false);
}

static vg_status build_encoder(builder *B, net *n, int64_t lat, int64_t p) {
    static const int64_t pool[3] = {2, 2, 1};
    vg_status st = conv_op(B, n, "encoder", 0, 3 * p * p, 64, true, 1, 1, true);
    for (int s = 0; s < 3 && !st; s++) {
        int base = 2 + 5 * s;
        if ((st = t_op(B, n, "encoder", base, OP_TPOOL, 64, pool[s]))) break;
        if ((st = conv_op(B, n, "encoder", base + 1, 64, 64, false, 2, 1, false))) break;
        for (int k = 0; k < 3 && !st; k++) st = mem_op(B, n, "encoder", base + 2 + k, 64);
    }
    if (!st) st = conv_op(B, n, "encoder", 17, 64, lat, true, 1, 1, false);
    set_tail(n);
    return st;
}

static vg_status build_decoder(builder *B, net *n, int64_t lat, int64_t p) {
    static const int64_t nf[4] = {256, 128, 64, 64}, grow[3] = {1, 2, 2};
    new_op(n, OP_CLAMP, 0);
    vg_status st = conv_op(B, n, "decoder", 1, lat, nf[0], true, 1, 1, true);
    for (int s = 0; s < 3 && !st; s++) {
        int base = 3 + 6 * s;
        for (int k = 0; k < 3 && !st; k++) st = mem_op(B, n, "decoder", base + k, nf[s]);
        /* base+3: Upsample x2, fused into the conv at base+5 (after the 1x1 TGrow at base+4) */
        if (!st) st = t_op(B, n, "decoder", base + 4, OP_TGROW, nf[s], grow[s]);
        if (!st) st = conv_op(B, n, "decoder", base + 5, nf[s], nf[s + 1], false, 1, 2, s == 2);
    }
    /* 21: ReLU (fused above), 22: the output conv */
    if (!st) st = conv_op(B, n, "decoder", 22, nf[3], 3 * p * p, true, 1, 1, false);
    set_tail(n);
    return st;
}

static void net_free(net *n) {
    for (int i = 0; i < n->n; i++)
        for (int k = 0; k < 3; k++) { free(n->ops[i].c[k].w); free(n->ops[i].c[k].b); }
    n->n = 0;
}

void vg_taehv_free(vg_taehv *m) {
    if (!m) return;
    net_free(&m->enc);
    net_free(&m->dec);
    vg_conv_ws_free(&m->ws);
    free(m);
}

static bool ends_with(const char *s, const char *suf, size_t *pre) {
    size_t a = strlen(s), b = strlen(suf);
    if (a < b || strcmp(s + a - b, suf)) return false;
    *pre = a - b;
    return true;
}

vg_status vg_taehv_open(vg_taehv **out, const char *path) {
    *out = NULL;
    vg_st_file *f = NULL;
    vg_gguf *g = NULL;
    vg_status st = vg_gguf_is_gguf(path) ? vg_gguf_open(&g, path) : vg_st_open(&f, path);
    if (st) return st;
    vg_taehv *m = calloc(1, sizeof(*m));
    builder *B = calloc(1, sizeof(*B));
    if (!m || !B) { st = vg_fail(VG_ERR_OOM, "taehv: out of memory"); goto out; }
    B->f = f;
    B->g = g;
    B->path = path;
    /* prefix: whatever comes before decoder.1.weight / encoder.0.weight */
    size_t pre = 0;
    const char *anchor = NULL;
    for (int64_t i = 0; i < src_count(B) && !anchor; i++) {
        const char *nm = src_name(B, i);
        if (ends_with(nm, "decoder.1.weight", &pre) || ends_with(nm, "encoder.0.weight", &pre)) anchor = nm;
    }
    if (!anchor) { st = vg_fail(VG_ERR_FORMAT, "%s: not a TAEHV state dict (no 'decoder.1.weight' or 'encoder.0.weight')", path); goto out; }
    if (pre >= sizeof(B->prefix)) { st = vg_fail(VG_ERR_FORMAT, "%s: tensor name prefix too long", path); goto out; }
    memcpy(B->prefix, anchor, pre);
    B->prefix[pre] = 0;
    char nm[256];
    snprintf(nm, sizeof(nm), "%sdecoder.1.weight", B->prefix);
    const vg_tensor *d1 = src_get(B, nm);
    snprintf(nm, sizeof(nm), "%sdecoder.22.weight", B->prefix);
    const vg_tensor *d22 = src_get(B, nm);
    snprintf(nm, sizeof(nm), "%sencoder.0.weight", B->prefix);
    const vg_tensor *e0 = src_get(B, nm);
    snprintf(nm, sizeof(nm), "%sencoder.17.weight", B->prefix);
    const vg_tensor *e17 = src_get(B, nm);
    int64_t lat = -1, pp = -1;
    if (d1) {
        if (d1->ndim != 4 || !d22 || d22->ndim != 4) { st = vg_fail(VG_ERR_SHAPE, "%s: decoder.1.weight / decoder.22.weight missing or not 4-D", path); goto out; }
        lat = d1->shape[1];
        pp = d22->shape[0];
    }
    if (e0) {
        if (e0->ndim != 4 || !e17 || e17->ndim != 4) { st = vg_fail(VG_ERR_SHAPE, "%s: encoder.0.weight / encoder.17.weight missing or not 4-D", path); goto out; }
        if ((lat >= 0 && lat != e17->shape[0]) || (pp >= 0 && pp != e0->shape[1])) {
            st = vg_fail(VG_ERR_SHAPE, "%s: encoder (latent %lld, %lld input channels) and decoder (latent %lld, %lld output channels) disagree",
                         path, (long long)e17->shape[0], (long long)e0->shape[1], (long long)lat, (long long)pp);
            goto out;
        }
        lat = e17->shape[0];
        pp = e0->shape[1];
    }
    if (pp != 3 && pp != 12) { st = vg_fail(VG_ERR_SHAPE, "%s: %lld image channels (3 = patch 1, 12 = patch 2 expected)", path, (long long)pp); goto out; }
    if (lat < 1 || lat > 4096) { st = vg_fail(VG_ERR_SHAPE, "%s: latent channels %lld", path, (long long)lat); goto out; }
    int64_t p = pp == 3 ? 1 : 2;
    if (e0 && (st = build_encoder(B, &m->enc, lat, p))) goto out;
    if (d1 && (st = build_decoder(B, &m->dec, lat, p))) goto out;
    /* every encoder./decoder. tensor must have been taken */
    for (int64_t i = 0; i < src_count(B); i++) {
        const char *s = src_name(B, i);
        if (strncmp(s, B->prefix, pre) || (strncmp(s + pre, "encoder.", 8) && strncmp(s + pre, "decoder.", 8))) continue;
        bool found = false;
        for (int k = 0; k < B->nnames && !found; k++) found = !strcmp(B->names[k], s);
        if (!found) { st = vg_fail(VG_ERR_FORMAT, "%s: unexpected tensor '%s' (not in the TAEHV %s)", path, s, strncmp(s + pre, "encoder.", 8) ? "decoder" : "encoder"); goto out; }
    }
    m->info = (vg_taehv_info){lat, p, 4, 4, 8 * p, e0 != NULL, d1 != NULL};
    m->nparams = B->nparams;
out:
    free(B);
    vg_st_close(f);
    vg_gguf_close(g);
    if (st) { vg_taehv_free(m); return st; }
    *out = m;
    return VG_OK;
}

const vg_taehv_info *vg_taehv_info_of(const vg_taehv *m) { return &m->info; }
int64_t vg_taehv_params(const vg_taehv *m) { return m->nparams; }

vg_status vg_taehv_write_random(const char *path, int64_t latent_channels, int64_t patch, vg_dtype dtype, uint64_t seed, float gain) {
    if ((patch != 1 && patch != 2) || latent_channels < 1 || latent_channels > 4096)
        return vg_fail(VG_ERR_ARG, "taehv: random weights need patch 1 or 2 and latent channels in [1, 4096]");
    builder *B = calloc(1, sizeof(*B));
    net *e = calloc(1, sizeof(*e)), *d = calloc(1, sizeof(*d));
    vg_status st = VG_OK;
    if (!B || !e || !d || !(B->wr = vg_st_writer_new())) { st = vg_fail(VG_ERR_OOM, "taehv: out of memory"); goto out; }
    B->wdt = dtype;
    B->gain = gain;
    vg_rng_seed(&B->rng, seed);
    if (!(st = build_encoder(B, e, latent_channels, patch)) && !(st = build_decoder(B, d, latent_channels, patch)))
        st = vg_st_writer_save(B->wr, path);
out:
    if (e) net_free(e);
    if (d) net_free(d);
    if (B) vg_st_writer_free(B->wr);
    free(B); free(e); free(d);
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* sizes */

void vg_taehv_video_dims(const vg_taehv *m, int64_t T, int64_t h, int64_t w, int64_t *F, int64_t *H, int64_t *W) {
    *F = T > 0 ? T * m->info.t_upscale - (m->info.t_upscale - 1) : 0;
    *H = h * m->info.space_scale;
    *W = w * m->info.space_scale;
}

void vg_taehv_latent_dims(const vg_taehv *m, int64_t F, int64_t H, int64_t W, int64_t *T, int64_t *h, int64_t *w) {
    *T = (F + m->info.t_downscale - 1) / m->info.t_downscale;
    *h = H / m->info.space_scale;
    *w = W / m->info.space_scale;
}

/* channels / size after one op (time handled by the callers) */
static void op_dims(const op *o, int64_t *c, int64_t *h, int64_t *w) {
    if (o->kind != OP_CONV) return;
    const conv_p *p = &o->c[0];
    int64_t hh = *h * p->up, ww = *w * p->up;
    if (p->stride == 2) { hh = (hh - 1) / 2 + 1; ww = (ww - 1) / 2 + 1; }
    *c = p->co; *h = hh; *w = ww;
}

static vg_conv_shape conv_shape(const conv_p *p, int64_t h, int64_t w) {
    vg_conv_shape s = vg_conv_shape_2d(p->ci, p->co, h, w, p->k, p->up);
    s.sh = s.sw = p->stride;
    return s;
}

static size_t ws_need(const net *n, int64_t c, int64_t h, int64_t w) {
    size_t mx = 0;
    for (int i = 0; i < n->n; i++) {
        const op *o = &n->ops[i];
        for (int k = 0; k < 3; k++) {
            if (!o->c[k].w) continue;
            vg_conv_shape s = conv_shape(&o->c[k], h, w);
            size_t z = vg_conv_ws_floats(&s);
            if (z > mx) mx = z;
        }
        op_dims(o, &c, &h, &w);
    }
    return mx;
}

/* Floats: parallel = the peak of the live activations of one op at a time; sequential = the sum
 * of the per-op frame buffers and states plus the shared MemBlock temporaries. */
static size_t net_floats(const net *n, int64_t c, int64_t T, int64_t h, int64_t w, bool parallel) {
    size_t peak = 0, sum = 0, memtmp = 0;
    for (int i = 0; i < n->n; i++) {
        const op *o = &n->ops[i];
        size_t fr = (size_t)(c * h * w), live = 0, per = 0;
        int64_t c2 = c, h2 = h, w2 = w;
        op_dims(o, &c2, &h2, &w2);
        size_t ofr = (size_t)(c2 * h2 * w2);
        switch (o->kind) {
        case OP_CLAMP: live = fr * (size_t)T; per = fr; break;
        case OP_CONV: live = (fr + ofr) * (size_t)T; per = ofr; break;
        case OP_MEM: live = 4 * fr * (size_t)T; per = 2 * fr; if (2 * fr > memtmp) memtmp = 2 * fr; break;
        case OP_TGROW: live = (fr + 2 * fr * (size_t)o->s) * (size_t)T; per = fr * (size_t)o->s; break;
        case OP_TPOOL: live = 2 * fr * (size_t)T + fr * (size_t)T / (size_t)o->s; per = fr * (size_t)o->s + fr; break;
        }
        if (live > peak) peak = live;
        sum += per;
        if (o->kind == OP_TGROW) T *= o->s;
        if (o->kind == OP_TPOOL) T /= o->s;
        c = c2; h = h2; w = w2;
    }
    return parallel ? peak : sum + memtmp;
}

size_t vg_taehv_decode_bytes(const vg_taehv *m, int64_t T, int64_t h, int64_t w, bool parallel) {
    if (!m->info.has_decoder || T < 1 || h < 1 || w < 1 || T > (1 << 20) || h > (1 << 16) || w > (1 << 16)) return 0;
    int64_t F, H, W;
    vg_taehv_video_dims(m, T, h, w, &F, &H, &W);
    size_t fl = net_floats(&m->dec, m->info.latent_channels, T, h, w, parallel) + ws_need(&m->dec, m->info.latent_channels, h, w);
    fl += (size_t)(m->info.latent_channels * h * w) + (size_t)(3 * H * W); /* input frame, output frame */
    return fl * sizeof(float);
}

size_t vg_taehv_encode_bytes(const vg_taehv *m, int64_t F, int64_t H, int64_t W, bool parallel) {
    int64_t p = m->info.patch, sc = m->info.space_scale;
    if (!m->info.has_encoder || F < 1 || H < sc || W < sc || H % sc || W % sc || F > (1 << 20) || H > (1 << 18) || W > (1 << 18)) return 0;
    int64_t Tp = (F + 3) / 4 * 4;
    size_t fl = net_floats(&m->enc, 3 * p * p, Tp, H / p, W / p, parallel) + ws_need(&m->enc, 3 * p * p, H / p, W / p);
    fl += (size_t)(parallel ? Tp : 1) * (size_t)(3 * H * W);
    return fl * sizeof(float);
}

/* ------------------------------------------------------------------------------------ */
/* kernels shared by both schedules */

static void relu_inplace(float *x, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* conv over T frames of x [ci, T, h, w] -> out [co, T, Ho, Wo] (+ ReLU if set) */
static vg_status conv_frames(vg_taehv *m, float *out, const float *x, int64_t T, int64_t h, int64_t w, const conv_p *p) {
    vg_frame stackfr[8];
    vg_frame *fr = T <= 8 ? stackfr : malloc(sizeof(vg_frame) * (size_t)T);
    if (!fr) return vg_fail(VG_ERR_OOM, "taehv: out of memory");
    for (int64_t t = 0; t < T; t++) { fr[t].p = x + t * h * w; fr[t].cstride = T * h * w; }
    vg_conv_shape s = conv_shape(p, h, w);
    int64_t To, Ho, Wo;
    vg_conv_out_dims(&s, T, &To, &Ho, &Wo);
    vg_status st = vg_conv3d(out, T * Ho * Wo, fr, T, p->w, VG_DTYPE_F32, p->b, &s, &m->ws);
    if (fr != stackfr) free(fr);
    if (!st && p->relu) relu_inplace(out, p->co * T * Ho * Wo);
    return st;
}

/* MemBlock on T frames: cat [2C, T, hw] holds [x, past] (filled by the caller), a and x [C, T, hw];
 * out = ReLU(conv4(ReLU(conv2(ReLU(conv0(cat))))) + x) into a; cat is reused as scratch. */
static vg_status memblock(vg_taehv *m, const op *o, float *a, float *cat, const float *x, int64_t T, int64_t h, int64_t w) {
    vg_status st;
    if ((st = conv_frames(m, a, cat, T, h, w, &o->c[0])) || (st = conv_frames(m, cat, a, T, h, w, &o->c[1])) ||
        (st = conv_frames(m, a, cat, T, h, w, &o->c[2])))
        return st;
    int64_t n = o->C * T * h * w;
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) { float v = a[i] + x[i]; a[i] = v > 0.0f ? v : 0.0f; }
    return VG_OK;
}

static void clamp_latent(float *x, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i] / 3.0f) * 3.0f;
}

/* ------------------------------------------------------------------------------------ */
/* parallel schedule: x [c, T, h, w] (owned) through every op; returns the new buffer */

static vg_status run_parallel(vg_taehv *m, const net *n, float **xp, int64_t *cp, int64_t *Tp, int64_t *hp, int64_t *wp, int64_t skip) {
    float *x = *xp;
    int64_t c = *cp, T = *Tp, h = *hp, w = *wp;
    vg_status st = VG_OK;
    for (int i = 0; i < n->n && !st; i++) {
        const op *o = &n->ops[i];
        if (i == n->tail && skip > 0) { /* drop the first `skip` frames: [c, T, hw] -> [c, T-skip, hw] */
            int64_t hw = h * w;
            for (int64_t ch = 0; ch < c; ch++) memmove(x + ch * (T - skip) * hw, x + (ch * T + skip) * hw, sizeof(float) * (size_t)((T - skip) * hw));
            T -= skip;
        }
        int64_t hw = h * w, c2 = c, h2 = h, w2 = w;
        op_dims(o, &c2, &h2, &w2);
        float *y = NULL, *t2 = NULL;
        switch (o->kind) {
        case OP_CLAMP: clamp_latent(x, c * T * hw); continue;
        case OP_CONV:
            if (!(y = malloc(sizeof(float) * (size_t)(c2 * T * h2 * w2)))) break;
            st = conv_frames(m, y, x, T, h, w, &o->c[0]);
            break;
        case OP_MEM:
            if (!(y = malloc(sizeof(float) * (size_t)(c * T * hw))) || !(t2 = malloc(sizeof(float) * (size_t)(2 * c * T * hw)))) break;
            #pragma omp parallel for schedule(static) if (c * T * hw > PAR_MIN)
            for (int64_t ch = 0; ch < c; ch++) {
                memcpy(t2 + ch * T * hw, x + ch * T * hw, sizeof(float) * (size_t)(T * hw));
                float *pm = t2 + (c + ch) * T * hw;
                memset(pm, 0, sizeof(float) * (size_t)hw);
                memcpy(pm + hw, x + ch * T * hw, sizeof(float) * (size_t)((T - 1) * hw));
            }
            st = memblock(m, o, y, t2, x, T, h, w);
            break;
        case OP_TGROW: {
            int64_t s = o->s;
            if (!(t2 = malloc(sizeof(float) * (size_t)(s * c * T * hw))) || !(y = malloc(sizeof(float) * (size_t)(s * c * T * hw)))) break;
            if ((st = conv_frames(m, t2, x, T, h, w, &o->c[0]))) break;
            /* y[ch, t*s + j] = t2[j*c + ch, t] */
            #pragma omp parallel for schedule(static) if (s * c * T * hw > PAR_MIN)
            for (int64_t ch = 0; ch < c; ch++)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t j = 0; j < s; j++)
                        memcpy(y + (ch * T * s + t * s + j) * hw, t2 + ((j * c + ch) * T + t) * hw, sizeof(float) * (size_t)hw);
            T *= s;
            break;
        }
        case OP_TPOOL: {
            int64_t s = o->s, T2 = T / s;
            if (T % s) { st = vg_fail(VG_ERR_ARG, "taehv: %lld frames at a stride-%lld TPool", (long long)T, (long long)s); break; }
            if (!(t2 = malloc(sizeof(float) * (size_t)(c * T * hw))) || !(y = malloc(sizeof(float) * (size_t)(c * T2 * hw)))) break;
            /* t2[j*c + ch, t] = x[ch, t*s + j] */
            #pragma omp parallel for schedule(static) if (c * T * hw > PAR_MIN)
            for (int64_t ch = 0; ch < c; ch++)
                for (int64_t t = 0; t < T2; t++)
                    for (int64_t j = 0; j < s; j++)
                        memcpy(t2 + ((j * c + ch) * T2 + t) * hw, x + (ch * T + t * s + j) * hw, sizeof(float) * (size_t)hw);
            st = conv_frames(m, y, t2, T2, h, w, &o->c[0]);
            T = T2;
            break;
        }
        }
        free(t2);
        if (!y && !st) st = vg_fail(VG_ERR_OOM, "taehv: out of memory (layer %d)", o->idx);
        if (st) { free(y); break; }
        free(x);
        x = y;
        c = c2; h = h2; w = w2;
    }
    *xp = x;
    *cp = c; *Tp = T; *hp = h; *wp = w;
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* sequential schedule: one frame [c, h, w] at a time, per-op buffers and state */

typedef vg_status (*emit_fn)(void *user, const float *x, int64_t c, int64_t h, int64_t w);

typedef struct {
    vg_taehv *m;
    const net *n;
    float *out[MAX_OPS], *state[MAX_OPS];
    int64_t cnt[MAX_OPS];
    bool have[MAX_OPS];
    int64_t c[MAX_OPS + 1], h[MAX_OPS + 1], w[MAX_OPS + 1]; /* input dims of op i */
    float *cat;
    int64_t skip, tailcnt; /* frames dropped at op n->tail */
    emit_fn emit;
    void *user;
} seq;

static void seq_free(seq *S) {
    for (int i = 0; i < MAX_OPS; i++) { free(S->out[i]); free(S->state[i]); }
    free(S->cat);
}

static vg_status seq_init(seq *S, vg_taehv *m, const net *n, int64_t c, int64_t h, int64_t w, int64_t skip, emit_fn emit, void *user) {
    memset(S, 0, sizeof(*S));
    S->m = m; S->n = n; S->emit = emit; S->user = user; S->skip = skip;
    size_t memtmp = 0;
    for (int i = 0; i < n->n; i++) {
        const op *o = &n->ops[i];
        S->c[i] = c; S->h[i] = h; S->w[i] = w;
        size_t fr = (size_t)(c * h * w);
        op_dims(o, &c, &h, &w);
        size_t ofr = (size_t)(c * h * w);
        switch (o->kind) {
        case OP_CLAMP: case OP_CONV: S->out[i] = malloc(sizeof(float) * ofr); break;
        case OP_MEM: S->out[i] = malloc(sizeof(float) * fr); S->state[i] = malloc(sizeof(float) * fr); if (fr > memtmp) memtmp = fr; break;
        case OP_TGROW: S->out[i] = malloc(sizeof(float) * fr * (size_t)o->s); break;
        case OP_TPOOL: S->out[i] = malloc(sizeof(float) * fr); S->state[i] = malloc(sizeof(float) * fr * (size_t)o->s); break;
        }
        if (!S->out[i] || ((o->kind == OP_MEM || o->kind == OP_TPOOL) && !S->state[i])) { seq_free(S); return vg_fail(VG_ERR_OOM, "taehv: out of memory (layer %d)", o->idx); }
    }
    S->c[n->n] = c; S->h[n->n] = h; S->w[n->n] = w;
    if (memtmp && !(S->cat = malloc(sizeof(float) * 2 * memtmp))) { seq_free(S); return vg_fail(VG_ERR_OOM, "taehv: out of memory"); }
    return VG_OK;
}

static vg_status seq_push(seq *S, int i, const float *x) {
    if (i == S->n->tail && S->tailcnt < S->skip) { S->tailcnt++; return VG_OK; }
    if (i == S->n->n) return S->emit(S->user, x, S->c[i], S->h[i], S->w[i]);
    const op *o = &S->n->ops[i];
    int64_t c = S->c[i], h = S->h[i], w = S->w[i], fr = c * h * w;
    float *y = S->out[i];
    vg_status st;
    switch (o->kind) {
    case OP_CLAMP:
        memcpy(y, x, sizeof(float) * (size_t)fr);
        clamp_latent(y, fr);
        return seq_push(S, i + 1, y);
    case OP_CONV:
        if ((st = conv_frames(S->m, y, x, 1, h, w, &o->c[0]))) return st;
        return seq_push(S, i + 1, y);
    case OP_MEM:
        memcpy(S->cat, x, sizeof(float) * (size_t)fr);
        if (S->have[i]) memcpy(S->cat + fr, S->state[i], sizeof(float) * (size_t)fr);
        else memset(S->cat + fr, 0, sizeof(float) * (size_t)fr);
        memcpy(S->state[i], x, sizeof(float) * (size_t)fr);
        S->have[i] = true;
        if ((st = memblock(S->m, o, y, S->cat, x, 1, h, w))) return st;
        return seq_push(S, i + 1, y);
    case OP_TGROW:
        if ((st = conv_frames(S->m, y, x, 1, h, w, &o->c[0]))) return st;
        for (int64_t j = 0; j < o->s; j++)
            if ((st = seq_push(S, i + 1, y + j * fr))) return st;
        return VG_OK;
    case OP_TPOOL:
        memcpy(S->state[i] + S->cnt[i] * fr, x, sizeof(float) * (size_t)fr);
        if (++S->cnt[i] < o->s) return VG_OK;
        S->cnt[i] = 0;
        if ((st = conv_frames(S->m, y, S->state[i], 1, h, w, &o->c[0]))) return st;
        return seq_push(S, i + 1, y);
    }
    return VG_OK;
}

/* ------------------------------------------------------------------------------------ */
/* decode */

/* final frame [3p^2, h, w] -> rgb [3, h*p, w*p] (pixel shuffle), clamped to [0, 1] */
static void post_frame(float *rgb, int64_t rgb_cstride, const float *x, int64_t p, int64_t h, int64_t w) {
    int64_t W = w * p;
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) {
                const float *src = x + ((c * p + i) * p + j) * h * w;
                float *dst = rgb + c * rgb_cstride;
                for (int64_t y = 0; y < h; y++)
                    for (int64_t xx = 0; xx < w; xx++) {
                        float v = src[y * w + xx];
                        dst[(y * p + i) * W + xx * p + j] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                    }
            }
}

static vg_status check_dec(const vg_taehv *m, int64_t T, int64_t h, int64_t w) {
    if (!m->info.has_decoder) return vg_fail(VG_ERR_UNSUPPORTED, "taehv: the weights have no decoder");
    if (T < 1 || h < 1 || w < 1 || T > (1 << 20) || h > (1 << 16) || w > (1 << 16))
        return vg_fail(VG_ERR_ARG, "taehv: bad latent size %lldx%lldx%lld", (long long)T, (long long)h, (long long)w);
    return VG_OK;
}

typedef struct {
    int64_t t, trim, p, F, H, W;
    float *video, *rgb;
    vg_taehv_frame_fn fn;
    void *user;
} dec_sink;

static vg_status dec_emit(void *user, const float *x, int64_t c, int64_t h, int64_t w) {
    dec_sink *D = user;
    (void)c;
    int64_t t = D->t++ - D->trim;
    if (t < 0) return VG_OK;
    if (D->video) { post_frame(D->video + t * D->H * D->W, D->F * D->H * D->W, x, D->p, h, w); return VG_OK; }
    post_frame(D->rgb, D->H * D->W, x, D->p, h, w);
    return D->fn(D->user, t, D->rgb, D->H, D->W);
}

static vg_status decode_seq(vg_taehv *m, float *video, const float *z, int64_t T, int64_t h, int64_t w, vg_taehv_frame_fn fn, void *user) {
    int64_t C = m->info.latent_channels, F, H, W, hw = h * w;
    vg_taehv_video_dims(m, T, h, w, &F, &H, &W);
    dec_sink D = {0, 0, m->info.patch, F, H, W, video, NULL, fn, user};
    float *in = malloc(sizeof(float) * (size_t)(C * hw));
    if (!video) D.rgb = malloc(sizeof(float) * (size_t)(3 * H * W));
    if (!in || (!video && !D.rgb)) { free(in); free(D.rgb); return vg_fail(VG_ERR_OOM, "taehv: out of memory"); }
    seq S;
    vg_status st = seq_init(&S, m, &m->dec, C, h, w, m->info.t_upscale - 1, dec_emit, &D);
    if (!st) {
        for (int64_t t = 0; t < T && !st; t++) {
            for (int64_t c = 0; c < C; c++) memcpy(in + c * hw, z + (c * T + t) * hw, sizeof(float) * (size_t)hw);
            st = seq_push(&S, 0, in);
        }
        seq_free(&S);
    }
    free(in); free(D.rgb);
    return st;
}

vg_status vg_taehv_decode(vg_taehv *m, float *video, const float *z, int64_t T, int64_t h, int64_t w, bool parallel) {
    vg_status st = check_dec(m, T, h, w);
    if (st) return st;
    if (!parallel) return decode_seq(m, video, z, T, h, w, NULL, NULL);
    int64_t c = m->info.latent_channels, n = c * T * h * w, F, H, W;
    vg_taehv_video_dims(m, T, h, w, &F, &H, &W);
    float *x = malloc(sizeof(float) * (size_t)n);
    if (!x) return vg_fail(VG_ERR_OOM, "taehv: out of memory");
    memcpy(x, z, sizeof(float) * (size_t)n);
    int64_t T2 = T, h2 = h, w2 = w;
    if (!(st = run_parallel(m, &m->dec, &x, &c, &T2, &h2, &w2, m->info.t_upscale - 1))) {
        int64_t fhw = h2 * w2;
        float *fr = malloc(sizeof(float) * (size_t)(c * fhw));
        if (!fr) st = vg_fail(VG_ERR_OOM, "taehv: out of memory");
        /* frame t of x [c, T2 = F, h2, w2] gathered into a [c, h2, w2] frame */
        for (int64_t t = 0; t < F && !st; t++) {
            for (int64_t ch = 0; ch < c; ch++) memcpy(fr + ch * fhw, x + (ch * T2 + t) * fhw, sizeof(float) * (size_t)fhw);
            post_frame(video + t * H * W, F * H * W, fr, m->info.patch, h2, w2);
        }
        free(fr);
    }
    free(x);
    return st;
}

vg_status vg_taehv_decode_stream(vg_taehv *m, const float *z, int64_t T, int64_t h, int64_t w, vg_taehv_frame_fn fn, void *user) {
    vg_status st = check_dec(m, T, h, w);
    if (st) return st;
    if (!fn) return vg_fail(VG_ERR_ARG, "taehv: no frame callback");
    return decode_seq(m, NULL, z, T, h, w, fn, user);
}

/* ------------------------------------------------------------------------------------ */
/* encode */

/* frame t of video [3, F, H, W] -> x [3p^2, H/p, W/p] (pixel unshuffle), channel stride cs */
static void pre_frame(float *x, int64_t cs, const float *video, int64_t t, int64_t F, int64_t H, int64_t W, int64_t p) {
    int64_t h = H / p, w = W / p;
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) {
                float *dst = x + ((c * p + i) * p + j) * cs;
                const float *src = video + (c * F + t) * H * W;
                for (int64_t y = 0; y < h; y++)
                    for (int64_t xx = 0; xx < w; xx++) dst[y * w + xx] = src[(y * p + i) * W + xx * p + j];
            }
}

typedef struct { float *z; int64_t t, T; } enc_sink;

static vg_status enc_emit(void *user, const float *x, int64_t c, int64_t h, int64_t w) {
    enc_sink *E = user;
    for (int64_t ch = 0; ch < c; ch++) memcpy(E->z + (ch * E->T + E->t) * h * w, x + ch * h * w, sizeof(float) * (size_t)(h * w));
    E->t++;
    return VG_OK;
}

vg_status vg_taehv_encode(vg_taehv *m, float *z, const float *video, int64_t F, int64_t H, int64_t W, bool parallel) {
    int64_t p = m->info.patch, sc = m->info.space_scale;
    if (!m->info.has_encoder) return vg_fail(VG_ERR_UNSUPPORTED, "taehv: the weights have no encoder");
    if (F < 1 || H < sc || W < sc || H % sc || W % sc || F > (1 << 20) || H > (1 << 18) || W > (1 << 18))
        return vg_fail(VG_ERR_ARG, "taehv: video %lldx%lldx%lld: frames >= 1 and sides multiples of %lld expected", (long long)F,
                       (long long)H, (long long)W, (long long)sc);
    int64_t Tp = (F + m->info.t_downscale - 1) / m->info.t_downscale * m->info.t_downscale, T = Tp / m->info.t_downscale;
    int64_t c = 3 * p * p, h = H / p, w = W / p, fr = c * h * w;
    vg_status st = VG_OK;
    if (parallel) {
        float *x = malloc(sizeof(float) * (size_t)(fr * Tp));
        if (!x) return vg_fail(VG_ERR_OOM, "taehv: out of memory");
        /* frames past the end repeat the last one */
        for (int64_t t = 0; t < Tp; t++) pre_frame(x + t * h * w, Tp * h * w, video, t < F ? t : F - 1, F, H, W, p);
        int64_t T2 = Tp;
        if (!(st = run_parallel(m, &m->enc, &x, &c, &T2, &h, &w, 0))) memcpy(z, x, sizeof(float) * (size_t)(c * T * h * w));
        free(x);
        return st;
    }
    float *x = malloc(sizeof(float) * (size_t)fr);
    if (!x) return vg_fail(VG_ERR_OOM, "taehv: out of memory");
    enc_sink E = {z, 0, T};
    seq S;
    if (!(st = seq_init(&S, m, &m->enc, c, h, w, 0, enc_emit, &E))) {
        for (int64_t t = 0; t < Tp && !st; t++) {
            pre_frame(x, h * w, video, t < F ? t : F - 1, F, H, W, p);
            st = seq_push(&S, 0, x);
        }
        seq_free(&S);
    }
    free(x);
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* the Wan pipeline's entry points */

static vg_status open_checked(vg_taehv **m, const char *path, int64_t T, int64_t h, int64_t w, int64_t F, int64_t H, int64_t W) {
    vg_status st = vg_taehv_open(m, path);
    if (st) return st;
    int64_t f, hh, ww;
    if (!(*m)->info.has_decoder) st = vg_fail(VG_ERR_UNSUPPORTED, "%s: this TAEHV file has no decoder", path);
    else if ((*m)->info.latent_channels != 16)
        st = vg_fail(VG_ERR_UNSUPPORTED, "%s: a TAEHV for %lld latent channels (taew2_2?); Wan2.1 latents have 16 (use taew2_1)", path,
                     (long long)(*m)->info.latent_channels);
    if (!st) {
        vg_taehv_video_dims(*m, T, h, w, &f, &hh, &ww);
        if (f != F || hh != H || ww != W)
            st = vg_fail(VG_ERR_UNSUPPORTED, "%s: this TAEHV decodes %lldx%lld latents to %lldx%lldx%lld, not %lldx%lldx%lld", path, (long long)h,
                         (long long)w, (long long)ww, (long long)hh, (long long)f, (long long)W, (long long)H, (long long)F);
    }
    if (st) { vg_taehv_free(*m); *m = NULL; }
    return st;
}

typedef struct { uint8_t *out; } u8_sink;

static vg_status to_rgb8(void *user, int64_t t, const float *rgb, int64_t H, int64_t W) {
    u8_sink *s = user;
    uint8_t *o = s->out + (size_t)t * (size_t)(H * W * 3);
    int64_t n = H * W;
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            float v = rgb[c * n + i] * 255.0f;
            o[i * 3 + c] = (uint8_t)(v > 255.0f ? 255.0f : v < 0.0f ? 0.0f : v);
        }
    return VG_OK;
}

vg_status vg_taehv_decode_file_u8(const char *path, uint8_t *out, const float *z, int64_t T, int64_t h, int64_t w,
                                  int64_t F, int64_t H, int64_t W) {
    vg_taehv *m = NULL;
    vg_status st = open_checked(&m, path, T, h, w, F, H, W);
    if (st) return st;
    u8_sink s = {out};
    st = vg_taehv_decode_stream(m, z, T, h, w, to_rgb8, &s);
    vg_taehv_free(m);
    return st;
}

vg_status vg_taehv_estimate_file(const char *path, int64_t T, int64_t h, int64_t w, int64_t F, int64_t H, int64_t W, int64_t *bytes) {
    vg_taehv *m = NULL;
    vg_status st = open_checked(&m, path, T, h, w, F, H, W);
    if (st) return st;
    *bytes = 4 * m->nparams + (int64_t)vg_taehv_decode_bytes(m, T, h, w, false) + (int64_t)(3 * H * W * sizeof(float));
    vg_taehv_free(m);
    return VG_OK;
}
