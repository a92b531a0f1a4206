/* test_lora.c - LoRA merge (src/model/lora.c) on a tiny random DiT: the merged weight equals
 * W + s B A exactly in f32 (s = scale * alpha / r), full deltas (.diff, .diff_b) add; the same
 * LoRA written in the PEFT (official and diffusers names), kohya and full-delta formats gives
 * the same model bit for bit; two LoRAs add; F16 weights get the rounded sum; errors name the
 * key and the shapes (lone halves, rank mismatch, another model's dims or blocks, no match). */
#include <stdlib.h>
#include <unistd.h>
#include "test.h"
#include "vidgen/io.h"
#include "vidgen/lora.h"
#include "vidgen/rng.h"
#include "vidgen/safetensors.h"

/* dim 16, 2 heads, 2 blocks, ffn 32; patch (1,2,2) over 3 channels */
static vg_dit_config cfg16(void) {
    vg_dit_config c = {.in_dim = 3, .out_dim = 3, .patch = {1, 2, 2}, .dim = 16, .ffn_dim = 32, .heads = 2,
                       .layers = 2, .freq_dim = 16, .text_len = 4, .text_dim = 8, .eps = 1e-6f,
                       .rope_theta = 10000.0, .window = 1, .predict_x0 = true};
    return c;
}

static void fill(float *p, int64_t n, uint64_t seed, float sc) {
    for (int64_t i = 0; i < n; i++) p[i] = sc * vg_philox_normal(seed, 7, (uint64_t)i);
}

static bool model(vg_dit *m) {
    vg_dit_config c = cfg16();
    if (vg_dit_alloc_f32(m, &c) != VG_OK) return false;
    fill(m->owned, m->n_owned, 1, 0.2f);
    return true;
}

/* the low-rank pairs of the test LoRA: q of block 0 (16x16, rank 2), ffn.0 of block 1 (32x16,
 * rank 3), the patch conv [16, 3, 1, 2, 2] (rank 2); a delta on norm3 of block 0, a bias delta on
 * self_attn.o of block 1 */
typedef struct { float qa[2 * 16], qb[16 * 2], fa[3 * 16], fb[32 * 3], pa[2 * 12], pb[16 * 2], nd[16], ob[16]; } lora_vals;

static void vals(lora_vals *v, uint64_t seed) {
    fill(v->qa, 32, seed, 0.5f); fill(v->qb, 32, seed + 1, 0.5f); fill(v->fa, 48, seed + 2, 0.5f); fill(v->fb, 96, seed + 3, 0.5f);
    fill(v->pa, 24, seed + 4, 0.5f); fill(v->pb, 32, seed + 5, 0.5f); fill(v->nd, 16, seed + 6, 0.1f); fill(v->ob, 16, seed + 7, 0.1f);
}

enum { FMT_PEFT, FMT_PEFT_DIFFUSERS, FMT_KOHYA };

/* Writes the LoRA in one format; alpha (kohya only: PEFT files carry none) scales as alpha / r. */
static bool write_lora(const char *path, const lora_vals *v, int fmt, float alpha) {
    vg_st_writer *w = vg_st_writer_new();
    if (!w) return false;
    const char *mods[3][3] = {{"blocks.0.self_attn.q", "blocks.0.attn1.to_q", "lora_unet_blocks_0_self_attn_q"},
                              {"blocks.1.ffn.0", "blocks.1.ffn.net.0.proj", "lora_unet_blocks_1_ffn_0"},
                              {"patch_embedding", "patch_embedding", "lora_unet_patch_embedding"}};
    const float *as[3] = {v->qa, v->fa, v->pa}, *bs[3] = {v->qb, v->fb, v->pb};
    const int64_t ash[3][5] = {{2, 16}, {3, 16}, {2, 3, 1, 2, 2}}, bsh[3][5] = {{16, 2}, {32, 3}, {16, 2, 1, 1, 1}};
    const int and_[3] = {2, 2, 5};
    vg_status st = VG_OK;
    for (int i = 0; i < 3 && !st; i++) {
        char ka[160], kb[160], kl[160];
        const char *pre = fmt == FMT_PEFT ? "diffusion_model." : fmt == FMT_PEFT_DIFFUSERS ? "transformer." : "";
        if (fmt == FMT_KOHYA) {
            snprintf(ka, sizeof(ka), "%s.lora_down.weight", mods[i][2]);
            snprintf(kb, sizeof(kb), "%s.lora_up.weight", mods[i][2]);
            snprintf(kl, sizeof(kl), "%s.alpha", mods[i][2]);
            float al = alpha;
            const int64_t one[1] = {1};
            if (!st) st = vg_st_writer_add_f32(w, kl, VG_DTYPE_F32, 1, one, &al);
        } else {
            snprintf(ka, sizeof(ka), "%s%s.lora_A.weight", pre, mods[i][fmt]);
            snprintf(kb, sizeof(kb), "%s%s.lora_B.weight", pre, mods[i][fmt]);
        }
        if (!st) st = vg_st_writer_add_f32(w, ka, VG_DTYPE_F32, and_[i], ash[i], as[i]);
        if (!st) st = vg_st_writer_add_f32(w, kb, VG_DTYPE_F32, and_[i], bsh[i], bs[i]);
    }
    const int64_t d16[1] = {16};
    if (!st) st = vg_st_writer_add_f32(w, fmt == FMT_KOHYA ? "lora_unet_blocks_0_norm3.diff" : "diffusion_model.blocks.0.norm3.diff",
                                       VG_DTYPE_F32, 1, d16, v->nd);
    if (!st) st = vg_st_writer_add_f32(w, fmt == FMT_PEFT_DIFFUSERS ? "transformer.blocks.1.attn1.to_out.0.diff_b"
                                                                      : "diffusion_model.blocks.1.self_attn.o.diff_b",
                                       VG_DTYPE_F32, 1, d16, v->ob);
    if (!st) st = vg_st_writer_save(w, path);
    vg_st_writer_free(w);
    return st == VG_OK;
}

/* ref[o][i] = w[o][i] + s * sum_k b[o][k] a[k][i], in the merge's order */
static void merged_ref(float *ref, const float *w, const float *a, const float *b, int64_t out, int64_t in, int64_t r, float s) {
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++) {
            float d = 0.0f;
            for (int64_t k = 0; k < r; k++) d += b[o * r + k] * a[k * in + i];
            ref[o * in + i] = w[o * in + i] + s * d;
        }
}

static bool same_w(const vg_w *a, const vg_w *b, int64_t n) {
    return a->t == b->t && memcmp(a->d, b->d, (size_t)n * vg_dtype_size(a->t)) == 0;
}

VG_TEST(lora_merge_equals_dense_plus_scaled_product) {
    vg_dit m0, m;
    CHECK(model(&m0) && model(&m));
    lora_vals v;
    vals(&v, 10);
    char p[600];
    snprintf(p, sizeof(p), "%s/lora_peft.safetensors", vg_test_tmpdir());
    CHECK(write_lora(p, &v, FMT_PEFT, 0));
    vg_lora_report rep;
    CHECK_OK(vg_lora_apply(&m, p, 0.75f, &rep));
    CHECK(rep.modules == 5 && rep.unmatched == 0);
    float ref[32 * 16];
    merged_ref(ref, m0.w.blk[0].sa_q_w.d, v.qa, v.qb, 16, 16, 2, 0.75f);
    CHECK(memcmp(ref, m.w.blk[0].sa_q_w.d, sizeof(float) * 256) == 0);
    merged_ref(ref, m0.w.blk[1].ffn0_w.d, v.fa, v.fb, 32, 16, 3, 0.75f);
    CHECK(memcmp(ref, m.w.blk[1].ffn0_w.d, sizeof(float) * 512) == 0);
    merged_ref(ref, m0.w.patch_w.d, v.pa, v.pb, 16, 12, 2, 0.75f);
    CHECK(memcmp(ref, m.w.patch_w.d, sizeof(float) * 192) == 0);
    for (int i = 0; i < 16; i++) {
        CHECK(((float *)m.w.blk[0].norm3_w.d)[i] == ((float *)m0.w.blk[0].norm3_w.d)[i] + 0.75f * v.nd[i]);
        CHECK(((float *)m.w.blk[1].sa_o_b.d)[i] == ((float *)m0.w.blk[1].sa_o_b.d)[i] + 0.75f * v.ob[i]);
    }
    CHECK(same_w(&m.w.blk[1].sa_q_w, &m0.w.blk[1].sa_q_w, 256)); /* untouched modules stay */
    /* a second LoRA adds on top: W + s1 B1 A1 + s2 B2 A2 in that order */
    lora_vals v2;
    vals(&v2, 30);
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/lora_peft2.safetensors", vg_test_tmpdir());
    CHECK(write_lora(p2, &v2, FMT_PEFT, 0));
    float ref1[256], ref2[256];
    merged_ref(ref1, m0.w.blk[0].sa_q_w.d, v.qa, v.qb, 16, 16, 2, 0.75f);
    merged_ref(ref2, ref1, v2.qa, v2.qb, 16, 16, 2, -0.5f);
    CHECK_OK(vg_lora_apply(&m, p2, -0.5f, NULL));
    CHECK(memcmp(ref2, m.w.blk[0].sa_q_w.d, sizeof(ref2)) == 0);
    vg_dit_free(&m0);
    vg_dit_free(&m);
}

/* PEFT with official names and with diffusers names give the same model bit for bit; kohya with
 * alpha 2 gives it too for the rank-2 pairs (alpha / r = 1) and scales the rank-3 pair by 2/3. */
VG_TEST(lora_formats_give_the_same_model) {
    lora_vals v;
    vals(&v, 50);
    char pp[600], pd[600], pk[600];
    snprintf(pp, sizeof(pp), "%s/f_peft.safetensors", vg_test_tmpdir());
    snprintf(pd, sizeof(pd), "%s/f_diffusers.safetensors", vg_test_tmpdir());
    snprintf(pk, sizeof(pk), "%s/f_kohya.safetensors", vg_test_tmpdir());
    CHECK(write_lora(pp, &v, FMT_PEFT, 0) && write_lora(pd, &v, FMT_PEFT_DIFFUSERS, 0));
    vg_dit a, b, c;
    CHECK(model(&a) && model(&b) && model(&c));
    CHECK_OK(vg_lora_apply(&a, pp, 1.0f, NULL));
    CHECK_OK(vg_lora_apply(&b, pd, 1.0f, NULL));
    struct { vg_w *wa, *wb; int64_t n; } ws[] = {{&a.w.blk[0].sa_q_w, &b.w.blk[0].sa_q_w, 256}, {&a.w.blk[1].ffn0_w, &b.w.blk[1].ffn0_w, 512},
                                                 {&a.w.patch_w, &b.w.patch_w, 192}, {&a.w.blk[0].norm3_w, &b.w.blk[0].norm3_w, 16},
                                                 {&a.w.blk[1].sa_o_b, &b.w.blk[1].sa_o_b, 16}};
    for (size_t i = 0; i < 5; i++) CHECKF(same_w(ws[i].wa, ws[i].wb, ws[i].n), "PEFT official vs diffusers names: weight %zu differs", i);
    CHECK(write_lora(pk, &v, FMT_KOHYA, 2.0f));
    CHECK_OK(vg_lora_apply(&c, pk, 1.0f, NULL));
    CHECK(same_w(&a.w.blk[0].sa_q_w, &c.w.blk[0].sa_q_w, 256));
    CHECK(same_w(&a.w.patch_w, &c.w.patch_w, 192));
    CHECK(same_w(&a.w.blk[0].norm3_w, &c.w.blk[0].norm3_w, 16));
    CHECK(same_w(&a.w.blk[1].sa_o_b, &c.w.blk[1].sa_o_b, 16));
    /* the rank-3 pair got alpha / r = 2/3 */
    vg_dit m0;
    CHECK(model(&m0));
    float ref[512];
    merged_ref(ref, m0.w.blk[1].ffn0_w.d, v.fa, v.fb, 32, 16, 3, 1.0f * 2.0f / 3.0f);
    CHECK(memcmp(ref, c.w.blk[1].ffn0_w.d, sizeof(ref)) == 0);
    vg_dit_free(&a); vg_dit_free(&b); vg_dit_free(&c); vg_dit_free(&m0);
}

/* F16 weights: the merged matrix is round_f16(W + s B A), in a copy the model owns. */
VG_TEST(lora_f16_weights_get_the_rounded_sum) {
    vg_dit m;
    CHECK(model(&m));
    uint16_t h[256];
    float w32[256], ref[256];
    vg_from_f32(h, VG_DTYPE_F16, m.w.blk[0].sa_q_w.d, 256);
    vg_to_f32(w32, h, VG_DTYPE_F16, 256);
    m.w.blk[0].sa_q_w.d = h; /* as a mapped F16 file would leave it */
    m.w.blk[0].sa_q_w.t = VG_DTYPE_F16;
    lora_vals v;
    vals(&v, 70);
    char p[600];
    snprintf(p, sizeof(p), "%s/lora16.safetensors", vg_test_tmpdir());
    CHECK(write_lora(p, &v, FMT_PEFT, 0));
    CHECK_OK(vg_lora_apply(&m, p, 1.0f, NULL));
    CHECK(m.w.blk[0].sa_q_w.t == VG_DTYPE_F16 && m.w.blk[0].sa_q_w.d != h);
    merged_ref(ref, w32, v.qa, v.qb, 16, 16, 2, 1.0f);
    uint16_t want[256];
    vg_from_f32(want, VG_DTYPE_F16, ref, 256);
    CHECK(memcmp(want, m.w.blk[0].sa_q_w.d, sizeof(want)) == 0);
    vg_dit_free(&m);
}

static int lora_err(const char *name, void (*build)(vg_st_writer *), char *msg, size_t cap) {
    char p[600];
    snprintf(p, sizeof(p), "%s/%s.safetensors", vg_test_tmpdir(), name);
    vg_st_writer *w = vg_st_writer_new();
    build(w);
    vg_status st = vg_st_writer_save(w, p);
    vg_st_writer_free(w);
    if (st) return -1;
    vg_dit m;
    if (!model(&m)) return -1;
    vg_lora_report rep = {0};
    st = vg_lora_apply(&m, p, 1.0f, &rep);
    snprintf(msg, cap, "%s", st ? vg_last_error() : rep.unmatched_names);
    vg_dit_free(&m);
    return st ? (int)st : -rep.unmatched - 100;
}

static float zeros[4096];
static void b_lone_a(vg_st_writer *w) {
    const int64_t s[2] = {2, 16};
    vg_st_writer_add_f32(w, "blocks.0.self_attn.q.lora_A.weight", VG_DTYPE_F32, 2, s, zeros);
}
static void b_rank(vg_st_writer *w) {
    const int64_t a[2] = {2, 16}, b[2] = {16, 3};
    vg_st_writer_add_f32(w, "blocks.0.self_attn.q.lora_A.weight", VG_DTYPE_F32, 2, a, zeros);
    vg_st_writer_add_f32(w, "blocks.0.self_attn.q.lora_B.weight", VG_DTYPE_F32, 2, b, zeros);
}
static void b_other_dim(vg_st_writer *w) { /* a 24-wide model's LoRA */
    const int64_t a[2] = {2, 24}, b[2] = {24, 2};
    vg_st_writer_add_f32(w, "diffusion_model.blocks.0.self_attn.q.lora_A.weight", VG_DTYPE_F32, 2, a, zeros);
    vg_st_writer_add_f32(w, "diffusion_model.blocks.0.self_attn.q.lora_B.weight", VG_DTYPE_F32, 2, b, zeros);
}
static void b_other_blocks(vg_st_writer *w) { /* blocks beyond this model's 2 */
    const int64_t a[2] = {2, 16}, b[2] = {16, 2};
    vg_st_writer_add_f32(w, "blocks.0.self_attn.q.lora_A.weight", VG_DTYPE_F32, 2, a, zeros);
    vg_st_writer_add_f32(w, "blocks.0.self_attn.q.lora_B.weight", VG_DTYPE_F32, 2, b, zeros);
    vg_st_writer_add_f32(w, "blocks.39.self_attn.q.lora_A.weight", VG_DTYPE_F32, 2, a, zeros);
    vg_st_writer_add_f32(w, "blocks.39.self_attn.q.lora_B.weight", VG_DTYPE_F32, 2, b, zeros);
}
static void b_none(vg_st_writer *w) {
    const int64_t a[2] = {2, 16};
    vg_st_writer_add_f32(w, "text_encoder.layers.0.q.lora_A.weight", VG_DTYPE_F32, 2, a, zeros);
}
static void b_unmatched(vg_st_writer *w) {
    const int64_t a[2] = {2, 16}, b[2] = {16, 2};
    vg_st_writer_add_f32(w, "blocks.0.self_attn.q.lora_A.weight", VG_DTYPE_F32, 2, a, zeros);
    vg_st_writer_add_f32(w, "blocks.0.self_attn.q.lora_B.weight", VG_DTYPE_F32, 2, b, zeros);
    vg_st_writer_add_f32(w, "blocks.0.img_attn.q.lora_A.weight", VG_DTYPE_F32, 2, a, zeros);
}
static void b_notkey(vg_st_writer *w) {
    const int64_t a[2] = {2, 16};
    vg_st_writer_add_f32(w, "blocks.0.self_attn.q.weight", VG_DTYPE_F32, 2, a, zeros);
}

VG_TEST(lora_errors_name_key_and_shapes) {
    char msg[1024];
    CHECK(lora_err("e_lone", b_lone_a, msg, sizeof(msg)) == VG_ERR_FORMAT);
    CHECKF(strstr(msg, "lora_A") && strstr(msg, "no matching"), "%s", msg);
    CHECK(lora_err("e_rank", b_rank, msg, sizeof(msg)) == VG_ERR_SHAPE);
    CHECKF(strstr(msg, "[2,16]") && strstr(msg, "[16,3]"), "%s", msg);
    CHECK(lora_err("e_dim", b_other_dim, msg, sizeof(msg)) == VG_ERR_SHAPE);
    CHECKF(strstr(msg, "another model") && strstr(msg, "[16,16]"), "%s", msg);
    CHECK(lora_err("e_blocks", b_other_blocks, msg, sizeof(msg)) == VG_ERR_SHAPE);
    CHECKF(strstr(msg, "another model") && strstr(msg, "block 39"), "%s", msg);
    CHECK(lora_err("e_none", b_none, msg, sizeof(msg)) == VG_ERR_FORMAT);
    CHECKF(strstr(msg, "no key matches") && strstr(msg, "text_encoder.layers.0.q.lora_A.weight"), "%s", msg);
    CHECK(lora_err("e_unm", b_unmatched, msg, sizeof(msg)) == -101);
    CHECKF(strstr(msg, "img_attn"), "%s", msg);
    CHECK(lora_err("e_key", b_notkey, msg, sizeof(msg)) == VG_ERR_FORMAT);
    CHECKF(strstr(msg, "not a LoRA key"), "%s", msg);
    char path[64];
    float s;
    CHECK(vg_lora_parse_spec("a/b.safetensors:0.8", path, sizeof(path), &s) && !strcmp(path, "a/b.safetensors") && s == 0.8f);
    CHECK(vg_lora_parse_spec("c:/x.safetensors", path, sizeof(path), &s) && !strcmp(path, "c:/x.safetensors") && s == 1.0f);
    CHECK(vg_lora_parse_spec("x.safetensors", path, sizeof(path), &s) && s == 1.0f);
    CHECK(!vg_lora_parse_spec(":0.5", path, sizeof(path), &s));
    CHECK(!vg_lora_parse_spec("x:inf", path, sizeof(path), &s));
}

/* `vidgen module dit --lora` on the official tiny DiT golden: a kohya LoRA on blocks.0.self_attn.q
 * (rank 4, alpha 2) plus a .diff on blocks.1.norm3 at scale 0.6 gives the same out.y, bit for bit,
 * as the weights merged here by hand (W + 0.6 * 2/4 * B A, norm3 + 0.6 diff) run without a LoRA;
 * and differs from the plain golden run. */
static const char *bin(void) {
    const char *b = getenv("VIDGEN_BIN");
    return b && *b ? b : "build/vidgen";
}

VG_TEST(lora_module_dit_equals_merged_weights) {
    char wp[600], io[600], lp[600], mp[600], o1[600], o2[600], o3[600];
    snprintf(wp, sizeof(wp), "%s/wan-goldens/dit_weights.safetensors", vg_test_shared());
    snprintf(io, sizeof(io), "%s/wan-goldens/dit_io.safetensors", vg_test_shared());
    if (access(wp, R_OK) != 0) { printf("  skip: %s absent\n", wp); return; }
    const char *d = vg_test_tmpdir();
    snprintf(lp, sizeof(lp), "%s/golden_lora.safetensors", d);
    snprintf(mp, sizeof(mp), "%s/golden_merged.safetensors", d);
    snprintf(o1, sizeof(o1), "%s/out_lora.safetensors", d);
    snprintf(o2, sizeof(o2), "%s/out_merged.safetensors", d);
    snprintf(o3, sizeof(o3), "%s/out_plain.safetensors", d);
    vg_st_file *g = NULL;
    CHECK_OK(vg_st_open(&g, wp));
    const vg_tensor *q = vg_st_get(g, "blocks.0.self_attn.q.weight"), *nw = vg_st_get(g, "blocks.1.norm3.weight");
    CHECK(q && nw && q->dtype == VG_DTYPE_F32 && q->shape[0] == 64 && q->shape[1] == 64);
    float a[4 * 64], b[64 * 4], dn[64], merged[64 * 64], nm[64], al = 2.0f;
    fill(a, 256, 91, 0.3f); fill(b, 256, 92, 0.3f); fill(dn, 64, 93, 0.2f);
    const float s = 0.6f * al / 4.0f;
    merged_ref(merged, q->data, a, b, 64, 64, 4, s);
    for (int i = 0; i < 64; i++) nm[i] = ((const float *)nw->data)[i] + 0.6f * dn[i];
    vg_st_writer *lw = vg_st_writer_new(), *mw = vg_st_writer_new();
    const int64_t sa[2] = {4, 64}, sb[2] = {64, 4}, one[1] = {1}, s64[1] = {64};
    CHECK_OK(vg_st_writer_add_f32(lw, "lora_unet_blocks_0_self_attn_q.lora_down.weight", VG_DTYPE_F32, 2, sa, a));
    CHECK_OK(vg_st_writer_add_f32(lw, "lora_unet_blocks_0_self_attn_q.lora_up.weight", VG_DTYPE_F32, 2, sb, b));
    CHECK_OK(vg_st_writer_add_f32(lw, "lora_unet_blocks_0_self_attn_q.alpha", VG_DTYPE_F32, 1, one, &al));
    CHECK_OK(vg_st_writer_add_f32(lw, "diffusion_model.blocks.1.norm3.diff", VG_DTYPE_F32, 1, s64, dn));
    CHECK_OK(vg_st_writer_save(lw, lp));
    for (int64_t i = 0; i < vg_st_count(g); i++) {
        const char *nmk = vg_st_name(g, i);
        const vg_tensor *t = vg_st_at(g, i);
        const void *src = !strcmp(nmk, "blocks.0.self_attn.q.weight") ? merged : !strcmp(nmk, "blocks.1.norm3.weight") ? nm : t->data;
        CHECK_OK(vg_st_writer_add(mw, nmk, t->dtype, t->ndim, t->shape, src));
    }
    const char *meta = vg_st_metadata(g, "config");
    if (meta) CHECK_OK(vg_st_writer_meta(mw, "config", meta));
    CHECK_OK(vg_st_writer_save(mw, mp));
    vg_st_writer_free(lw);
    vg_st_writer_free(mw);
    vg_st_close(g);
    CHECK(vg_test_sh(NULL, "%s module dit --weights %s --input %s --output %s -t 1 --lora %s:0.6", bin(), wp, io, o1, lp) == 0);
    CHECK(vg_test_sh(NULL, "%s module dit --weights %s --input %s --output %s -t 1", bin(), mp, io, o2) == 0);
    CHECK(vg_test_sh(NULL, "%s module dit --weights %s --input %s --output %s -t 1", bin(), wp, io, o3) == 0);
    vg_st_file *f1 = NULL, *f2 = NULL, *f3 = NULL;
    CHECK_OK(vg_st_open(&f1, o1));
    CHECK_OK(vg_st_open(&f2, o2));
    CHECK_OK(vg_st_open(&f3, o3));
    const vg_tensor *y1 = vg_st_get(f1, "out.y"), *y2 = vg_st_get(f2, "out.y"), *y3 = vg_st_get(f3, "out.y");
    bool ok = y1 && y2 && y3 && vg_tensor_numel(y1) == vg_tensor_numel(y2);
    bool same = ok && memcmp(y1->data, y2->data, sizeof(float) * (size_t)vg_tensor_numel(y1)) == 0;
    bool differs = ok && memcmp(y1->data, y3->data, sizeof(float) * (size_t)vg_tensor_numel(y1)) != 0;
    vg_st_close(f1); vg_st_close(f2); vg_st_close(f3);
    CHECKF(same, "out.y with --lora differs from the hand-merged weights");
    CHECK(differs);
    char *out = NULL;
    int rc = vg_test_sh(&out, "%s module vae-decode --weights %s --input %s --output %s --lora %s 2>&1", bin(), wp, io, o3, lp);
    CHECKF(rc == 1 && out && strstr(out, "--lora is for the dit module"), "rc %d: %s", rc, out ? out : "");
    free(out);
}

/* vidgen's own models take --lora too (models/tiny): a LoRA whose up matrix is zero leaves every
 * frame as it was; a real one changes them; in a batch, a job with "loras" renders exactly what
 * the single run with --lora renders, and the job without it what the plain run renders. */
VG_TEST(lora_own_model_generate_and_batch) {
    if (access("models/tiny/config.json", R_OK) != 0) { printf("  skip: models/tiny absent\n"); return; }
    const char *d = vg_test_tmpdir();
    char lz[600], lr[600], jobs[600];
    snprintf(lz, sizeof(lz), "%s/tiny_zero.safetensors", d);
    snprintf(lr, sizeof(lr), "%s/tiny_real.safetensors", d);
    snprintf(jobs, sizeof(jobs), "%s/lora_jobs.jsonl", d);
    float a[2 * 32], b[32 * 2], z[32 * 2] = {0};
    fill(a, 64, 101, 0.5f); fill(b, 64, 102, 0.5f);
    const int64_t sa[2] = {2, 32}, sb[2] = {32, 2};
    for (int k = 0; k < 2; k++) {
        vg_st_writer *w = vg_st_writer_new();
        CHECK_OK(vg_st_writer_add_f32(w, "blocks.0.self_attn.q.lora_A.weight", VG_DTYPE_F32, 2, sa, a));
        CHECK_OK(vg_st_writer_add_f32(w, "blocks.0.self_attn.q.lora_B.weight", VG_DTYPE_F32, 2, sb, k ? b : z));
        CHECK_OK(vg_st_writer_save(w, k ? lr : lz));
        vg_st_writer_free(w);
    }
#define TG "--model models/tiny -p 'a big red ball moving right on a blue background' --frames 5 --steps 2 --seed 1 -q -t 1"
    CHECK(vg_test_sh(NULL, "%s " TG " --out %s/t_plain", bin(), d) == 0);
    CHECK(vg_test_sh(NULL, "%s " TG " --lora %s --out %s/t_zero", bin(), lz, d) == 0);
    CHECK(vg_test_sh(NULL, "%s " TG " --lora %s:0.7 --out %s/t_real", bin(), lr, d) == 0);
    for (int f = 1; f <= 5; f++)
        CHECKF(vg_test_same_pixels(d, "t_plain", "t_zero", f), "zero LoRA changed frame %d", f);
    CHECK(!vg_test_same_pixels(d, "t_plain", "t_real", 3));
    char txt[2000];
    snprintf(txt, sizeof(txt),
             "{\"defaults\": {\"steps\": 2, \"frames\": 5}}\n"
             "{\"name\": \"l\", \"prompt\": \"a big red ball moving right on a blue background\", \"seed\": 1, \"loras\": [{\"path\": \"%s\", \"scale\": 0.7}]}\n"
             "{\"name\": \"p\", \"prompt\": \"a big red ball moving right on a blue background\", \"seed\": 1}\n", lr);
    CHECK_OK(vg_file_write_atomic(jobs, txt, strlen(txt)));
    char *o = NULL;
    int rc = vg_test_sh(&o, "%s batch %s --out %s/lb --model models/tiny -t 1 -q 2>&1", bin(), jobs, d);
    CHECKF(rc == 0, "batch rc %d: %s", rc, o ? o : "");
    free(o);
    for (int f = 1; f <= 5; f++) {
        CHECKF(vg_test_same_pixels(d, "lb/l", "t_real", f), "batch LoRA job frame %d", f);
        CHECKF(vg_test_same_pixels(d, "lb/p", "t_plain", f), "batch plain job frame %d", f);
    }
    rc = vg_test_sh(&o, "%s " TG " --lora %s/missing.safetensors --out %s/t_bad 2>&1", bin(), d, d);
    CHECKF(rc == 1 && o && strstr(o, "missing.safetensors"), "rc %d: %s", rc, o ? o : "");
    free(o);
#undef TG
}

/* Quantized (GGUF) weights: dequantize, merge, requantize with vg_quantize. The merged Q8_0
 * matrix equals vg_quantize(dequant(W) + s B A) byte for byte and keeps its type. */
#include "vidgen/quant.h"
VG_TEST(lora_quantized_weight_dequant_merge_requant) {
    vg_dit m;
    CHECK(model(&m));
    const int64_t out = 16, in = 32, r = 2; /* blocks.0.ffn.2: [D, FF] = [16, 32] */
    size_t qb = (size_t)out * (size_t)vg_dtype_row_bytes(VG_DTYPE_Q8_0, in);
    uint8_t *q = malloc(qb), *want = malloc(qb);
    float deq[16 * 32], ref[16 * 32], a[2 * 32], b[16 * 2];
    CHECK_OK(vg_quantize(VG_DTYPE_Q8_0, m.w.blk[0].ffn2_w.d, q, out, in));
    CHECK_OK(vg_dequantize(VG_DTYPE_Q8_0, q, deq, out, in));
    m.w.blk[0].ffn2_w.d = q; /* as a mapped GGUF leaves it */
    m.w.blk[0].ffn2_w.t = VG_DTYPE_Q8_0;
    fill(a, 64, 81, 0.5f); fill(b, 32, 82, 0.5f);
    char p[600];
    snprintf(p, sizeof(p), "%s/lora_q8.safetensors", vg_test_tmpdir());
    vg_st_writer *w = vg_st_writer_new();
    const int64_t sa[2] = {2, 32}, sb[2] = {16, 2};
    CHECK_OK(vg_st_writer_add_f32(w, "blocks.0.ffn.2.lora_A.weight", VG_DTYPE_F32, 2, sa, a));
    CHECK_OK(vg_st_writer_add_f32(w, "blocks.0.ffn.2.lora_B.weight", VG_DTYPE_F32, 2, sb, b));
    CHECK_OK(vg_st_writer_save(w, p));
    vg_st_writer_free(w);
    CHECK_OK(vg_lora_apply(&m, p, 0.5f, NULL));
    merged_ref(ref, deq, a, b, out, in, r, 0.5f);
    CHECK_OK(vg_quantize(VG_DTYPE_Q8_0, ref, want, out, in));
    CHECK(m.w.blk[0].ffn2_w.t == VG_DTYPE_Q8_0 && m.w.blk[0].ffn2_w.d != q);
    CHECK(memcmp(want, m.w.blk[0].ffn2_w.d, qb) == 0);
    free(q); free(want);
    vg_dit_free(&m);
}
