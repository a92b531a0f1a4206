/* bench_gemm.c - GFLOP/s of vg_matmul_{nt,nn,tn} beside OpenBLAS cblas_sgemm on the same
 * shape and thread count (`./build/vidgen_bench gemm`). Shapes are the model's Linear layers:
 * M tokens, N out features, K in features (nt: C[M,N] = A[M,K] W[N,K]^T; nn: dx[M,K] = dy[M,N] W[N,K];
 * tn: dW[N,K] += dy[M,N]^T x[M,K]). bf16/f16 weights are compared with f32 OpenBLAS. */
#include <stdio.h>
#include <stdlib.h>
#include <cblas.h>
#include "bench.h"
#include "vidgen/gemm.h"
#include "vidgen/rng.h"
#ifdef _OPENMP
#include <omp.h>
#endif

void openblas_set_num_threads(int num_threads);

typedef struct {
    int op; /* 0 nt vidgen, 1 nn vidgen, 2 tn vidgen, 3 nt blas, 4 nn blas, 5 tn blas */
    vg_dtype wt;
    int64_t M, N, K;
    float *a, *b, *c;
    void *w;
} job;

static void run(void *p) {
    job *j = p;
    int M = (int)j->M, N = (int)j->N, K = (int)j->K;
    switch (j->op) {
    case 0: vg_matmul_nt(j->c, j->a, j->w, j->wt, NULL, j->M, j->N, j->K, false); break;
    case 1: vg_matmul_nn(j->c, j->a, j->w, j->M, j->N, j->K, false); break;
    case 2: vg_matmul_tn(j->c, j->a, j->b, j->M, j->N, j->K); break;
    case 3: cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, j->a, K, j->w, K, 0.0f, j->c, N); break;
    case 4: cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, j->a, N, j->w, K, 0.0f, j->c, K); break;
    case 5: cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, j->a, N, j->b, K, 1.0f, j->c, K); break;
    }
}

/* OpenMP threads (vidgen) and OpenBLAS's own, alike */
static void set_threads(int t) {
    bench_set_threads(t);
    openblas_set_num_threads(t);
}

static float *fill(int64_t n, uint64_t seed) {
    float *p = malloc(sizeof(float) * (size_t)n);
    vg_philox_fill_normal(p, n, seed, 0);
    return p;
}

/* GFLOP/s of vidgen op (0 nt, 1 nn, 2 tn) with weight dtype wt, and of OpenBLAS (f32). */
static void measure(int op, vg_dtype wt, int64_t M, int64_t N, int64_t K, double *vg, double *blas) {
    double flops = 2.0 * M * N * K;
    int reps = flops > 2e10 ? 3 : flops > 1e9 ? 6 : 20;
    job j = {op, wt, M, N, K, NULL, NULL, NULL, NULL};
    j.a = fill(M * (op == 0 ? K : N), 1);
    j.b = op == 2 ? fill(M * K, 2) : NULL;
    float *w32 = fill(N * K, 3);
    j.c = fill(op == 0 ? M * N : op == 1 ? M * K : N * K, 4);
    void *wd = w32;
    if (wt != VG_DTYPE_F32) {
        wd = malloc((size_t)(N * K) * vg_dtype_size(wt));
        vg_from_f32(wd, wt, w32, N * K);
    }
    j.w = wd;
    /* vidgen and OpenBLAS alternate, best of reps each: the machine is shared, so load
     * spikes hit both sides alike instead of one whole series */
    job jb = j;
    jb.op = op + 3;
    jb.w = w32;
    run(&j); /* warm-up: page faults, thread start */
    run(&jb);
    double tv = 1e30, tb = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = bench_time(run, &j, 1);
        if (t < tv) tv = t;
        t = bench_time(run, &jb, 1);
        if (t < tb) tb = t;
    }
    *vg = flops / tv * 1e-9;
    *blas = flops / tb * 1e-9;
    if (wd != w32) free(wd);
    free(w32); free(j.a); free(j.b); free(j.c);
}

void bench_gemm(void) {
    static const int64_t fwd[][3] = {{2048, 128, 128}, {2048, 512, 128}, {2048, 128, 512}, {8192, 384, 384},
                                     {4096, 1536, 1536}, {4096, 8960, 1536}, {4096, 1536, 8960}, {1, 4096, 1536},
                                     {511, 256, 256}};
    static const char *opn[3] = {"nt", "nn", "tn"};
    char name[128];
    double v, b;
    set_threads(2);
    for (size_t s = 0; s < sizeof(fwd) / sizeof(fwd[0]); s++) {
        int64_t M = fwd[s][0], N = fwd[s][1], K = fwd[s][2];
        measure(0, VG_DTYPE_F32, M, N, K, &v, &b);
        snprintf(name, sizeof(name), "gemm f32 M=%lld,N=%lld,K=%lld (2 thr)", (long long)M, (long long)N, (long long)K);
        bench_record(name, v, "GFLOP/s", "OpenBLAS sgemm", b);
    }
    static const int64_t half[][3] = {{2048, 512, 128}, {4096, 1536, 1536}, {4096, 8960, 1536}};
    for (int d = 0; d < 2; d++)
        for (size_t s = 0; s < sizeof(half) / sizeof(half[0]); s++) {
            int64_t M = half[s][0], N = half[s][1], K = half[s][2];
            measure(0, d ? VG_DTYPE_F16 : VG_DTYPE_BF16, M, N, K, &v, &b);
            snprintf(name, sizeof(name), "gemm %s-w M=%lld,N=%lld,K=%lld (2 thr)", d ? "f16" : "bf16", (long long)M,
                     (long long)N, (long long)K);
            bench_record(name, v, "GFLOP/s", "OpenBLAS sgemm (f32 W)", b);
        }
    static const int64_t bwd[][3] = {{2048, 128, 512}, {2048, 512, 128}, {4096, 1536, 1536}, {4096, 8960, 1536}};
    for (int op = 1; op <= 2; op++)
        for (size_t s = 0; s < sizeof(bwd) / sizeof(bwd[0]); s++) {
            int64_t M = bwd[s][0], N = bwd[s][1], K = bwd[s][2];
            measure(op, VG_DTYPE_F32, M, N, K, &v, &b);
            snprintf(name, sizeof(name), "gemm %s M=%lld,N=%lld,K=%lld (2 thr)", opn[op], (long long)M, (long long)N,
                     (long long)K);
            bench_record(name, v, "GFLOP/s", "OpenBLAS sgemm", b);
        }
    double v1, b1;
    set_threads(1);
    measure(0, VG_DTYPE_F32, 4096, 1536, 1536, &v1, &b1);
    bench_record("gemm f32 M=4096,N=1536,K=1536 (1 thr)", v1, "GFLOP/s", "OpenBLAS sgemm", b1);
    set_threads(2);
    measure(0, VG_DTYPE_F32, 4096, 1536, 1536, &v, &b);
    bench_record("gemm f32 M=4096,N=1536,K=1536 speedup 2 thr / 1 thr", v / v1, "x", "OpenBLAS speedup", b / b1);
}
