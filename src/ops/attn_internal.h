/* attn_internal.h - the tiled attention kernels, written once and instantiated per ISA:
 * attn.c defines SFX (name suffix), TGT (target attribute), VEC/W (vector type, width),
 * the V_* operations, KR/QV (score block: KR key rows x QV vectors of queries) and
 * PR/HVMAX (accumulate block: PR rows x up to HVMAX vectors of head dim), then includes
 * this file. No include guard on purpose. Follows FlashAttention-2 (Dao 2023), Alg. 1 and 2.
 * Scores are kept transposed, st[key][query] (BK x BQ), so the online-softmax statistics
 * (max m, sum l, lse, D) are vectors over queries. hd head dim, nq/nk rows in a tile. */

#define CAT2_(a, b) a##_##b
#define CAT_(a, b) CAT2_(a, b)
#define FN(n) CAT_(n, SFX)

/* Columns i0..i0+NV*W of st[j*BQ + i] = sum_c r[j*ldr + c] * xt[c*BQ + i], j < nr. */
#define DEF_ST_COLS(NV)                                                                          \
    TGT static void FN(st_cols_##NV)(float *st, const float *r, int64_t ldr, int nr,             \
                                     const float *xt, int i0, int hd) {                          \
        int j = 0;                                                                               \
        for (; j + KR <= nr; j += KR) {                                                          \
            VEC acc[KR][NV];                                                                     \
            for (int a = 0; a < KR; a++)                                                         \
                for (int b = 0; b < NV; b++) acc[a][b] = V_ZERO();                               \
            for (int c = 0; c < hd; c++) {                                                       \
                VEC x[NV];                                                                       \
                for (int b = 0; b < NV; b++) x[b] = V_LD(xt + c * BQ + i0 + b * W);              \
                for (int a = 0; a < KR; a++) {                                                   \
                    VEC rv = V_SET1(r[(j + a) * ldr + c]);                                       \
                    for (int b = 0; b < NV; b++) acc[a][b] = V_FMA(rv, x[b], acc[a][b]);         \
                }                                                                                \
            }                                                                                    \
            for (int a = 0; a < KR; a++)                                                         \
                for (int b = 0; b < NV; b++) V_ST(st + (j + a) * BQ + i0 + b * W, acc[a][b]);    \
        }                                                                                        \
        for (; j < nr; j++) {                                                                    \
            VEC acc[NV];                                                                         \
            for (int b = 0; b < NV; b++) acc[b] = V_ZERO();                                      \
            for (int c = 0; c < hd; c++) {                                                       \
                VEC rv = V_SET1(r[j * ldr + c]);                                                 \
                for (int b = 0; b < NV; b++)                                                     \
                    acc[b] = V_FMA(rv, V_LD(xt + c * BQ + i0 + b * W), acc[b]);                  \
            }                                                                                    \
            for (int b = 0; b < NV; b++) V_ST(st + j * BQ + i0 + b * W, acc[b]);                 \
        }                                                                                        \
    }
DEF_ST_COLS(QV)
DEF_ST_COLS(1)
#undef DEF_ST_COLS

/* st[j*BQ + i] = sum_c r[j*ldr + c] * xt[c*BQ + i] for j < nr, i < nqp (nqp % W == 0):
 * scores S^T of nr keys (rows of r) against the transposed query block xt. */
TGT static void FN(st_kernel)(float *st, const float *r, int64_t ldr, int nr, const float *xt,
                              int nqp, int hd) {
    int i0 = 0;
    for (; i0 + W * QV <= nqp; i0 += W * QV) FN(st_cols_QV)(st, r, ldr, nr, xt, i0, hd);
    for (; i0 < nqp; i0 += W) FN(st_cols_1)(st, r, ldr, nr, xt, i0, hd);
}

/* One register block of acc += A.B: rows r0..r0+PR, columns c0..c0+HV*W.
 * acc[r*ldc + c] += sum_t a[r*sa + t*ta] * b[t*ldb + c] for t < nt. */
#define DEF_ACC_BLOCK(HV)                                                                        \
    TGT static void FN(acc_block_##HV)(float *acc, int ldc, const float *a, int64_t sa,           \
                                       int64_t ta, const float *b, int64_t ldb, int nt, int r0,   \
                                       int c0) {                                                  \
        VEC s[PR][HV];                                                                            \
        for (int r = 0; r < PR; r++)                                                              \
            for (int v = 0; v < HV; v++) s[r][v] = V_LD(acc + (r0 + r) * ldc + c0 + v * W);       \
        for (int t = 0; t < nt; t++) {                                                            \
            VEC bv[HV];                                                                           \
            for (int v = 0; v < HV; v++) bv[v] = V_LD(b + t * ldb + c0 + v * W);                  \
            for (int r = 0; r < PR; r++) {                                                        \
                VEC av = V_SET1(a[(r0 + r) * sa + t * ta]);                                       \
                for (int v = 0; v < HV; v++) s[r][v] = V_FMA(av, bv[v], s[r][v]);                 \
            }                                                                                     \
        }                                                                                         \
        for (int r = 0; r < PR; r++)                                                              \
            for (int v = 0; v < HV; v++) V_ST(acc + (r0 + r) * ldc + c0 + v * W, s[r][v]);       \
    }
DEF_ACC_BLOCK(1)
DEF_ACC_BLOCK(2)
DEF_ACC_BLOCK(4)
#undef DEF_ACC_BLOCK

/* acc[r*ldc + c] += sum_t a[r*sa + t*ta] * b[t*ldb + c]; r < nr, t < nt, c < hd (hd % W == 0).
 * Each output is summed over t in increasing order, whatever the blocking. */
TGT static void FN(acc_kernel)(float *acc, int ldc, const float *a, int64_t sa, int64_t ta,
                               const float *b, int64_t ldb, int nr, int nt, int hd) {
    int nv = hd / W, r = 0;
    for (; r + PR <= nr; r += PR) {
        int v = 0;
        if (HVMAX >= 4)
            for (; v + 4 <= nv; v += 4) FN(acc_block_4)(acc, ldc, a, sa, ta, b, ldb, nt, r, v * W);
        for (; v + 2 <= nv; v += 2) FN(acc_block_2)(acc, ldc, a, sa, ta, b, ldb, nt, r, v * W);
        for (; v < nv; v++) FN(acc_block_1)(acc, ldc, a, sa, ta, b, ldb, nt, r, v * W);
    }
    for (; r < nr; r++)
        for (int v = 0; v < nv; v++) {
            VEC s = V_LD(acc + r * ldc + v * W);
            for (int t = 0; t < nt; t++)
                s = V_FMA(V_SET1(a[r * sa + t * ta]), V_LD(b + t * ldb + v * W), s);
            V_ST(acc + r * ldc + v * W, s);
        }
}

/* xt[c*BQ + i] = mul * x[i*ldx + c] for i < n, 0 for n <= i < nqp. */
TGT static void FN(transpose)(float *xt, const float *x, int64_t ldx, int n, int nqp, int hd, float mul) {
    for (int i = 0; i < nqp; i++)
        for (int c = 0; c < hd; c++) xt[c * BQ + i] = i < n ? mul * x[i * ldx + c] : 0.0f;
}

/* Forward of one (head, query tile): rows i0..i0+nq, keys k0..k1. */
TGT static void FN(fwd_tile)(float *out, float *lse, const float *q, const float *k,
                             const float *v, const vg_attn_shape *s, int h, int64_t i0, int nq,
                             int64_t k0, int64_t k1) {
    const int hd = s->hd;
    const int64_t D = (int64_t)s->H * hd, ho = (int64_t)h * hd;
    ALIGN64 float qt[HDMAX * BQ], o[BQ * HDMAX], st[BK * BQ], m[BQ], l[BQ], cr[BQ];
    int nqp = (nq + W - 1) / W * W;
    FN(transpose)(qt, q + i0 * D + ho, D, nq, nqp, hd, s->scale);
    for (int i = 0; i < nqp; i++) { m[i] = -INFINITY; l[i] = 0; }
    memset(o, 0, sizeof(float) * (size_t)nq * hd);
    for (int64_t j0 = k0; j0 < k1; j0 += BK) {
        int nk = (int)(k1 - j0 < BK ? k1 - j0 : BK);
        FN(st_kernel)(st, k + j0 * D + ho, D, nk, qt, nqp, hd);
        /* online softmax (FA-2 Alg. 1 lines 8-10): new max, rescale factor, exps, sums */
        for (int i = 0; i < nqp; i += W) {
            VEC mo = V_LD(m + i), mx = mo;
            for (int j = 0; j < nk; j++) mx = V_MAX(mx, V_LD(st + j * BQ + i));
            VEC sum = V_ZERO();
            for (int j = 0; j < nk; j++) {
                VEC p = V_EXP(V_SUB(V_LD(st + j * BQ + i), mx));
                V_ST(st + j * BQ + i, p);
                sum = V_ADD(sum, p);
            }
            VEC c = V_EXP(V_SUB(mo, mx));
            V_ST(cr + i, c);
            V_ST(l + i, V_FMA(V_LD(l + i), c, sum));
            V_ST(m + i, mx);
        }
        if (j0 > k0)
            for (int i = 0; i < nq; i++) {
                VEC c = V_SET1(cr[i]);
                for (int x = 0; x < hd; x += W) V_ST(o + i * hd + x, V_MUL(V_LD(o + i * hd + x), c));
            }
        FN(acc_kernel)(o, hd, st, 1, BQ, v + j0 * D + ho, D, nq, nk, hd);
    }
    for (int i = 0; i < nq; i++) {
        float inv = 1.0f / l[i];
        float *oi = out + (i0 + i) * D + ho;
        for (int c = 0; c < hd; c++) oi[c] = o[i * hd + c] * inv;
        if (lse) lse[(int64_t)h * s->Lq + i0 + i] = m[i] + logf(l[i]);
    }
}

/* Backward helpers: the query block's transposed (scaled) q and dout, lse and D = rowsum(dout*out),
 * zero-padded to nqp columns. */
TGT static void FN(bwd_qblock)(float *qt, float *dot, float *lv, float *dv_, const float *q,
                               const float *dout, const float *out, const float *lse,
                               const vg_attn_shape *s, int h, int64_t i0, int nq, int nqp) {
    const int hd = s->hd;
    const int64_t D = (int64_t)s->H * hd, ho = (int64_t)h * hd;
    FN(transpose)(qt, q + i0 * D + ho, D, nq, nqp, hd, s->scale);
    FN(transpose)(dot, dout + i0 * D + ho, D, nq, nqp, hd, 1.0f);
    for (int i = 0; i < nqp; i++) {
        lv[i] = 0; dv_[i] = 0;
        if (i >= nq) continue;
        lv[i] = lse[(int64_t)h * s->Lq + i0 + i];
        const float *a = dout + (i0 + i) * D + ho, *b = out + (i0 + i) * D + ho;
        float d = 0;
        for (int c = 0; c < hd; c++) d += a[c] * b[c];
        dv_[i] = d;
    }
}

/* pa = P^T = exp(S^T - lse) (scores pa in, nk x nqp), pb = dS^T = P^T * (dP^T - D) (dP^T in pb). */
TGT static void FN(bwd_probs)(float *pa, float *pb, const float *lv, const float *dv_, int nk, int nqp) {
    for (int j = 0; j < nk; j++)
        for (int i = 0; i < nqp; i += W) {
            VEC p = V_EXP(V_SUB(V_LD(pa + j * BQ + i), V_LD(lv + i)));
            V_ST(pa + j * BQ + i, p);
            if (pb) V_ST(pb + j * BQ + i, V_MUL(p, V_SUB(V_LD(pb + j * BQ + i), V_LD(dv_ + i))));
        }
}

/* The whole backward of head h in one pass (FA-2 Alg. 2): for each key tile (keys j0..j0+nk,
 * tile_at order), each block of the queries that see it: P and dS once, then dV += P^T dO and
 * dK += dS^T Q for the tile, and dQ += dS K into gq [Lq, hd] (zeroed here). Every output is
 * summed in a fixed order (dK/dV over query blocks, dQ over key tiles, each in increasing order),
 * so the result does not depend on how heads are spread over threads. */
TGT static void FN(bwd_head)(float *dq, float *dk, float *dv, float *gq, const float *dout,
                             const float *out, const float *lse, const float *q, const float *k,
                             const float *v, const vg_attn_shape *s, int h) {
    const int hd = s->hd;
    const int64_t D = (int64_t)s->H * hd, ho = (int64_t)h * hd;
    ALIGN64 float qt[HDMAX * BQ], dot[HDMAX * BQ], pa[BK * BQ], pb[BK * BQ];
    ALIGN64 float gk[BK * HDMAX], gv[BK * HDMAX], lv[BQ], dv_[BQ];
    memset(gq, 0, sizeof(float) * (size_t)(s->Lq * hd));
    int64_t mt = tile_count(s, s->Lk, BK);
    for (int64_t t = 0; t < mt; t++) {
        int64_t j0, qa, qb;
        int nk;
        tile_at(s, s->Lk, BK, t, &j0, &nk);
        if (s->window < 0) { qa = 0; qb = s->Lq; } else key_range(s, j0, &qa, &qb);
        memset(gk, 0, sizeof(float) * (size_t)nk * hd);
        memset(gv, 0, sizeof(float) * (size_t)nk * hd);
        for (int64_t i0 = qa; i0 < qb; i0 += BQ) {
            int nq = (int)(qb - i0 < BQ ? qb - i0 : BQ);
            int nqp = (nq + W - 1) / W * W;
            FN(bwd_qblock)(qt, dot, lv, dv_, q, dout, out, lse, s, h, i0, nq, nqp);
            FN(st_kernel)(pa, k + j0 * D + ho, D, nk, qt, nqp, hd);
            FN(st_kernel)(pb, v + j0 * D + ho, D, nk, dot, nqp, hd);
            FN(bwd_probs)(pa, pb, lv, dv_, nk, nqp);
            FN(acc_kernel)(gv, hd, pa, BQ, 1, dout + i0 * D + ho, D, nk, nq, hd);       /* dV += P^T dO */
            FN(acc_kernel)(gk, hd, pb, BQ, 1, q + i0 * D + ho, D, nk, nq, hd);          /* dK += dS^T Q */
            FN(acc_kernel)(gq + i0 * hd, hd, pb, 1, BQ, k + j0 * D + ho, D, nq, nk, hd); /* dQ += dS K */
        }
        for (int j = 0; j < nk; j++)
            for (int c = 0; c < hd; c++) {
                dk[(j0 + j) * D + ho + c] = s->scale * gk[j * hd + c];
                dv[(j0 + j) * D + ho + c] = gv[j * hd + c];
            }
    }
    for (int64_t i = 0; i < s->Lq; i++)
        for (int c = 0; c < hd; c++) dq[i * D + ho + c] = s->scale * gq[i * hd + c];
}

#undef FN
#undef CAT_
#undef CAT2_
