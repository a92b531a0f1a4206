/* test_t5.c - umT5 encoder: bucket table, PyTorch forward/gradients (tests/ref/t5_small.bin
 * from tests/ref/gen_t5.py), finite differences, half-precision weights in place, thread
 * determinism, config parsing, and (with the safetensors reader) the official-code golden
 * (shared/wan-goldens/t5_*.safetensors) and the HF-name loader. */
#include <stdlib.h>
#include "test.h"
#include "vidgen/rng.h"
#include "vidgen/t5.h"
#ifdef _OPENMP
#include <omp.h>
#endif

VG_TEST(t5_bucket_formula) {
    /* WAN.md 2.1: |rel| 0-7 -> 0-7, 8-11 -> 8, 12-15 -> 9, 16-22 -> 10, 23-31 -> 11, 32-45 -> 12,
     * 46-63 -> 13, 64-90 -> 14, >= 91 -> 15; +16 when the key is after the query */
    static const int lo[] = {8, 12, 16, 23, 32, 46, 64, 91, 100000};
    for (int a = 0; a < 3000; a++) {
        int want = a;
        if (a >= 8) { want = 8; while (a >= lo[want - 7]) want++; }
        CHECKF(vg_t5_rel_bucket(-a, 32, 128) == want, "rel -%d: %d, want %d", a, vg_t5_rel_bucket(-a, 32, 128), want);
        if (a > 0) CHECKF(vg_t5_rel_bucket(a, 32, 128) == want + 16, "rel %d: %d", a, vg_t5_rel_bucket(a, 32, 128));
    }
}

/* ---- PyTorch reference (float64 torch, tiny umT5 written from the spec) --------------- */

typedef struct {
    vg_t5_config c;
    int64_t n, P;
    float *params, *r, *out, *grads;
    int32_t *ids;
} t5_ref;

static void ref_free(t5_ref *t) {
    free(t->params); free(t->r); free(t->out); free(t->grads); free(t->ids);
}

static bool ref_load(t5_ref *t, const char *path) {
    memset(t, 0, sizeof(*t));
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[4];
    uint32_t ver;
    int32_t h[9];
    float eps;
    bool ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "VGT5", 4) == 0 && fread(&ver, 4, 1, f) == 1 &&
              ver == 1 && fread(h, 4, 9, f) == 9 && fread(&eps, 4, 1, f) == 1;
    if (ok) {
        t->c = (vg_t5_config){.vocab = h[0], .dim = h[1], .dim_attn = h[2], .ffn = h[3], .heads = h[4],
                              .layers = h[5], .buckets = h[6], .max_dist = h[7], .eps = eps};
        t->n = h[8];
        t->P = vg_t5_param_count(&t->c);
        int64_t nd = t->n * t->c.dim;
        t->params = malloc(sizeof(float) * t->P);
        t->grads = malloc(sizeof(float) * t->P);
        t->r = malloc(sizeof(float) * nd);
        t->out = malloc(sizeof(float) * nd);
        t->ids = malloc(sizeof(int32_t) * t->n);
        ok = t->params && t->grads && t->r && t->out && t->ids &&
             fread(t->params, 4, t->P, f) == (size_t)t->P && fread(t->ids, 4, t->n, f) == (size_t)t->n &&
             fread(t->r, 4, nd, f) == (size_t)nd && fread(t->out, 4, nd, f) == (size_t)nd &&
             fread(t->grads, 4, t->P, f) == (size_t)t->P && fgetc(f) == EOF;
    }
    fclose(f);
    if (!ok) ref_free(t);
    return ok;
}

VG_TEST(t5_torch_forward_backward) {
    t5_ref t;
    CHECKF(ref_load(&t, "tests/ref/t5_small.bin"), "tests/ref/t5_small.bin missing or malformed");
    vg_t5 m;
    vg_t5_acts *a = NULL;
    float *out = malloc(sizeof(float) * t.n * t.c.dim), *g = calloc((size_t)t.P, sizeof(float));
    CHECK(out && g);
    CHECK_OK(vg_t5_init_flat(&m, &t.c, t.params));
    a = vg_t5_acts_new(&t.c, t.n, true);
    CHECK(a);
    CHECK_OK(vg_t5_forward(out, a, &m, t.ids, t.n));
    /* f32 against a float64 reference: outputs are RMS-normalised, O(1); f32 rounding through
     * 2 layers stays below 1e-5 */
    CHECK_CLOSE("t5 out vs torch", out, t.out, t.n * t.c.dim, 1e-5, 1e-4);
    CHECK_OK(vg_t5_backward(g, a, &m, t.r));
    /* every tensor separately, so a failure names it. Gradients are sums over 20 tokens of
     * products of O(1) factors; f32 accumulation gives ~1e-6 absolute error. */
    for (int64_t i = 0; i < vg_t5_tensor_count(&t.c); i++) {
        char name[128];
        int nd;
        int64_t sh[2], off;
        CHECK(vg_t5_tensor_info(&t.c, i, name, sizeof(name), &nd, sh, &off));
        int64_t cnt = sh[0] * (nd == 2 ? sh[1] : 1);
        CHECK_CLOSE(name, g + off, t.grads + off, cnt, 2e-5, 1e-3);
    }
    /* gradients accumulate: a second backward doubles them */
    CHECK_OK(vg_t5_backward(g, a, &m, t.r));
    for (int64_t i = 0; i < t.P; i++) t.grads[i] *= 2;
    CHECK_CLOSE("accumulated grads", g, t.grads, t.P, 4e-5, 1e-3);
    vg_t5_acts_free(a);
    vg_t5_free(&m);
    free(out); free(g);
    ref_free(&t);
}

/* ---- finite differences -------------------------------------------------------------- */

static double loss_of(const vg_t5 *m, vg_t5_acts *a, const int32_t *ids, int64_t n, const float *r, float *out) {
    if (vg_t5_forward(out, a, m, ids, n) != VG_OK) return NAN;
    double L = 0;
    for (int64_t i = 0; i < n * m->cfg.dim; i++) L += (double)r[i] * out[i];
    return L;
}

VG_TEST(t5_backward_finite_diff) {
    /* 8/8 buckets: with 7 tokens both the exact and the log branch are used, both directions */
    vg_t5_config c = {.vocab = 9, .dim = 8, .dim_attn = 8, .ffn = 12, .heads = 2, .layers = 2,
                      .buckets = 8, .max_dist = 8, .eps = 1e-6f};
    int64_t P = vg_t5_param_count(&c), n = 7;
    int32_t ids[7] = {3, 1, 4, 1, 5, 8, 2};
    float *p = malloc(sizeof(float) * P), *g = calloc((size_t)P, sizeof(float));
    float *r = malloc(sizeof(float) * n * c.dim), *out = malloc(sizeof(float) * n * c.dim);
    CHECK(p && g && r && out);
    vg_t5_params_init(p, &c, 7);
    /* larger weights than the init so attention is not uniform; norms away from 1 */
    for (int64_t i = 0; i < P; i++) p[i] = p[i] * 2.0f + 0.3f * vg_philox_normal(8, 0, (uint64_t)i);
    for (int64_t i = 0; i < n * c.dim; i++) r[i] = vg_philox_normal(9, 0, (uint64_t)i);
    vg_t5 m;
    CHECK_OK(vg_t5_init_flat(&m, &c, p));
    vg_t5_acts *a = vg_t5_acts_new(&c, n, true);
    CHECK(a);
    CHECK(!isnan(loss_of(&m, a, ids, n, r, out)));
    CHECK_OK(vg_t5_backward(g, a, &m, r));
    vg_rng rng;
    vg_rng_seed(&rng, 11);
    int checked = 0;
    double worst = 0;
    for (int64_t t = 0; t < vg_t5_tensor_count(&c); t++) {
        char name[128];
        int nd;
        int64_t sh[2], off;
        vg_t5_tensor_info(&c, t, name, sizeof(name), &nd, sh, &off);
        int64_t cnt = sh[0] * (nd == 2 ? sh[1] : 1);
        for (int s = 0; s < 6; s++) {
            int64_t j = off + (t == 0 ? (int64_t)ids[vg_rng_int(&rng, (int)n)] * c.dim + vg_rng_int(&rng, (int)c.dim)
                                      : (int64_t)vg_rng_int(&rng, (int)cnt));
            float keep = p[j];
            const double eps = 1e-3;
            p[j] = keep + (float)eps;
            double lp = loss_of(&m, a, ids, n, r, out);
            p[j] = keep - (float)eps;
            double lm = loss_of(&m, a, ids, n, r, out);
            p[j] = keep;
            double num = (lp - lm) / ((double)(keep + (float)eps) - (double)(keep - (float)eps));
            double an = g[j], err = fabs(num - an);
            /* rel err <= 1e-2, with an absolute floor for the f32 forward's rounding noise
             * (~1e-7 * |L| / eps) on near-zero gradients */
            double den = fmax(fabs(num), fabs(an));
            CHECKF(err <= 1e-2 * den + 3e-4, "%s[%lld]: analytic %.6g numeric %.6g", name,
                   (long long)(j - off), an, num);
            if (den > 1e-2 && err / den > worst) worst = err / den;
            checked++;
        }
    }
    printf("    finite differences: %d entries, worst rel err %.2e\n", checked, worst);
    /* an unused embedding row gets no gradient */
    for (int64_t j = 0; j < c.dim; j++) CHECK(g[0 * c.dim + j] == 0.0f && g[7 * c.dim + j] == 0.0f);
    vg_t5_acts_free(a);
    vg_t5_free(&m);
    free(p); free(g); free(r); free(out);
}

/* ---- half-precision weights in place ------------------------------------------------- */

static vg_status init_cast(vg_t5 *m, const vg_t5_config *c, float *params, void *half, vg_dtype dt) {
    vg_status st = vg_t5_init_flat(m, c, params);
    if (st) return st;
    /* re-point every tensor at a converted copy inside `half` (same offsets) */
    int64_t P = vg_t5_param_count(c);
    vg_from_f32(half, dt, params, P);
    vg_tensor *all[] = {&m->token_embedding_w, &m->pos_embedding_w, &m->norm_w};
    for (size_t k = 0; k < 3; k++)
        if (all[k]->data) { all[k]->data = (char *)half + ((float *)all[k]->data - params) * 2; all[k]->dtype = dt; }
    for (int l = 0; l < c->layers; l++) {
        vg_t5_block *b = &m->blocks[l];
        vg_tensor *t[] = {&b->norm1_w, &b->attn_q_w, &b->attn_k_w, &b->attn_v_w, &b->attn_o_w, &b->norm2_w,
                          &b->ffn_gate_0_w, &b->ffn_fc1_w, &b->ffn_fc2_w, &b->pos_embedding_w};
        for (size_t k = 0; k < 10; k++)
            if (t[k]->data) { t[k]->data = (char *)half + ((float *)t[k]->data - params) * 2; t[k]->dtype = dt; }
    }
    return VG_OK;
}

VG_TEST(t5_half_weights_in_place) {
    vg_t5_config c = {.vocab = 50, .dim = 32, .dim_attn = 32, .ffn = 40, .heads = 4, .layers = 2,
                      .buckets = 32, .max_dist = 128, .eps = 1e-6f};
    int64_t P = vg_t5_param_count(&c), n = 13;
    int32_t ids[13];
    for (int i = 0; i < 13; i++) ids[i] = (i * 7 + 3) % 50;
    float *p = malloc(sizeof(float) * P), *pr = malloc(sizeof(float) * P);
    uint16_t *h = malloc(2 * P);
    float *o1 = malloc(sizeof(float) * n * c.dim), *o2 = malloc(sizeof(float) * n * c.dim);
    CHECK(p && pr && h && o1 && o2);
    vg_t5_params_init(p, &c, 3);
    vg_dtype dts[2] = {VG_DTYPE_F16, VG_DTYPE_BF16};
    for (int d = 0; d < 2; d++) {
        /* reference: f32 weights holding the rounded values */
        vg_from_f32(h, dts[d], p, P);
        vg_to_f32(pr, h, dts[d], P);
        vg_t5 mf, mh;
        CHECK_OK(vg_t5_init_flat(&mf, &c, pr));
        CHECK_OK(vg_t5_forward(o1, NULL, &mf, ids, n));
        CHECK_OK(init_cast(&mh, &c, p, h, dts[d]));
        CHECK(mh.blocks[1].attn_q_w.dtype == dts[d]);
        CHECK_OK(vg_t5_forward(o2, NULL, &mh, ids, n));
        /* same values, same summation order: identical up to nothing */
        CHECK_CLOSE(d ? "bf16 in place" : "f16 in place", o2, o1, n * c.dim, 0, 0);
        vg_t5_acts *a = vg_t5_acts_new(&c, n, true);
        CHECK_OK(vg_t5_forward(o2, a, &mh, ids, n));
        CHECK(vg_t5_backward(pr, a, &mh, o1) == VG_ERR_UNSUPPORTED);
        vg_t5_acts_free(a);
        vg_t5_free(&mf);
        vg_t5_free(&mh);
    }
    free(p); free(pr); free(h); free(o1); free(o2);
}

VG_TEST(t5_threads_and_errors) {
    vg_t5_config c = {.vocab = 30, .dim = 16, .dim_attn = 16, .ffn = 20, .heads = 2, .layers = 3,
                      .buckets = 32, .max_dist = 128, .eps = 1e-6f};
    int64_t P = vg_t5_param_count(&c), n = 33;
    int32_t ids[33];
    for (int i = 0; i < 33; i++) ids[i] = (i * 11 + 1) % 30;
    float *p = malloc(sizeof(float) * P), *o1 = malloc(sizeof(float) * n * 16), *o2 = malloc(sizeof(float) * n * 16);
    float *g1 = calloc((size_t)P, 4), *g2 = calloc((size_t)P, 4);
    CHECK(p && o1 && o2 && g1 && g2);
    vg_t5_params_init(p, &c, 5);
    vg_t5 m;
    CHECK_OK(vg_t5_init_flat(&m, &c, p));
    vg_t5_acts *a = vg_t5_acts_new(&c, n, true);
    CHECK(a);
#ifdef _OPENMP
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    CHECK_OK(vg_t5_forward(o1, a, &m, ids, n));
    CHECK_OK(vg_t5_backward(g1, a, &m, o1));
#ifdef _OPENMP
    omp_set_num_threads(4);
#endif
    CHECK_OK(vg_t5_forward(o2, a, &m, ids, n));
    CHECK_OK(vg_t5_backward(g2, a, &m, o1));
#ifdef _OPENMP
    omp_set_num_threads(nt);
#endif
    CHECK(memcmp(o1, o2, sizeof(float) * n * 16) == 0);
    CHECK(memcmp(g1, g2, sizeof(float) * P) == 0);
    /* inference scratch gives the same output as the training activations */
    CHECK_OK(vg_t5_forward(o2, NULL, &m, ids, n));
    CHECK(memcmp(o1, o2, sizeof(float) * n * 16) == 0);
    /* bad input is reported, not crashed on */
    ids[4] = 30;
    CHECK(vg_t5_forward(o2, a, &m, ids, n) == VG_ERR_ARG);
    CHECK(strstr(vg_last_error(), "id 30") != NULL);
    ids[4] = 0;
    CHECK(vg_t5_forward(o2, a, &m, ids, 34) == VG_ERR_ARG);
    vg_t5_acts *ai = vg_t5_acts_new(&c, n, false);
    CHECK_OK(vg_t5_forward(o2, ai, &m, ids, n));
    CHECK(vg_t5_backward(g1, ai, &m, o1) == VG_ERR_ARG);
    int32_t mask[40] = {0};
    for (int i = 0; i < 33; i++) mask[i] = 1;
    int64_t nt2 = 0;
    CHECK_OK(vg_t5_encode(o2, &nt2, &m, ids, mask, 33));
    CHECK(nt2 == 33);
    mask[20] = 0;
    CHECK(vg_t5_encode(o2, &nt2, &m, ids, mask, 33) == VG_ERR_ARG);
    vg_t5_acts_free(ai);
    vg_t5_acts_free(a);
    vg_t5_free(&m);
    free(p); free(o1); free(o2); free(g1); free(g2);
}

VG_TEST(t5_config_json) {
    vg_t5_config c;
    /* the golden's __metadata__ "config" (official T5Encoder keys) */
    CHECK_OK(vg_t5_config_from_json(&c, "{\"vocab\": 100, \"dim\": 32, \"dim_attn\": 32, \"dim_ffn\": 48, "
                                        "\"num_heads\": 4, \"num_layers\": 2, \"num_buckets\": 32, "
                                        "\"shared_pos\": false, \"dropout\": 0.1}"));
    CHECK(c.vocab == 100 && c.dim == 32 && c.dim_attn == 32 && c.ffn == 48 && c.heads == 4 && c.layers == 2 &&
          c.buckets == 32 && c.max_dist == 128 && !c.shared_pos && c.eps == 1e-6f);
    /* HF UMT5 config.json (google/umt5-xxl) */
    CHECK_OK(vg_t5_config_from_json(&c, "{\"model_type\": \"umt5\", \"vocab_size\": 256384, \"d_model\": 4096, "
                                        "\"d_kv\": 64, \"d_ff\": 10240, \"num_heads\": 64, \"num_layers\": 24, "
                                        "\"relative_attention_num_buckets\": 32, "
                                        "\"relative_attention_max_distance\": 128, \"layer_norm_epsilon\": 1e-06}"));
    vg_t5_config x;
    vg_t5_config_umt5_xxl(&x);
    CHECK(memcmp(&c, &x, sizeof(c)) == 0 || (c.vocab == x.vocab && c.dim == x.dim && c.dim_attn == x.dim_attn &&
          c.ffn == x.ffn && c.heads == x.heads && c.layers == x.layers && !c.shared_pos && c.eps == x.eps));
    CHECK(vg_t5_config_from_json(&c, "[1,2]") == VG_ERR_FORMAT);
    CHECK(vg_t5_config_from_json(&c, "{\"dim\": \"32\"}") == VG_ERR_FORMAT);
    CHECK(vg_t5_config_from_json(&c, "{\"vocab\": 10, \"dim\": 30, \"dim_ffn\": 8, \"num_heads\": 4, "
                                     "\"num_layers\": 1}") == VG_ERR_ARG); /* 30 % 4 != 0 */
    /* the flat layout names follow the official keys */
    char name[128];
    int nd;
    int64_t sh[2], off;
    CHECK(vg_t5_tensor_info(&x, 10, name, sizeof(name), &nd, sh, &off));
    CHECK(strcmp(name, "blocks.0.pos_embedding.embedding.weight") == 0 && sh[0] == 32 && sh[1] == 64);
    CHECK(vg_t5_tensor_count(&x) == 2 + 24 * 10);
    CHECK(vg_t5_param_count(&x) == 5680910336LL); /* WAN.md 2.4: 5,680,910,336 params */
}
