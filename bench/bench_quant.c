/* bench_quant.c - GFLOP/s of the products on quantized weights (vg_matmul_nt with a Q* weight
 * type, i.e. vg_qmatmul_nt) beside vg_matmul_nt with f16, bf16 and f32 weights, same shapes and
 * threads, one run (`./build/vidgen_bench quant`). Shapes: Wan-1.3B linear layers (dim 1536,
 * FFN 8960) at M = 1024 tokens. Weights: N(0,1) f32 quantized by vg_quant_row_ref (ggml's
 * reference quantizers); the activation quantization is inside the timed call. GFLOP/s counts
 * 2 M N K for every type. The types run alternately, best of reps each (the machine is shared).
 * At 1 thread a second figure divides by the process CPU time instead of the wall time: on a
 * loaded machine (other jobs taking the cores) it still measures the kernel, where wall-time
 * ratios swing by 2x between runs. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bench.h"
#include "vidgen/gemm.h"
#include "vidgen/quant.h"
#include "vidgen/rng.h"

typedef struct {
    vg_dtype wt;
    int64_t M, N, K;
    const float *a;
    float *c;
    const void *w;
} job;

static void run(void *p) {
    job *j = p;
    vg_matmul_nt(j->c, j->a, j->w, j->wt, NULL, j->M, j->N, j->K, false);
}

static void *weights(vg_dtype t, const float *w32, int64_t N, int64_t K) {
    if (!vg_dtype_is_quant(t)) {
        void *p = malloc((size_t)(N * K) * vg_dtype_size(t));
        vg_from_f32(p, t, w32, N * K);
        return p;
    }
    int64_t rb = vg_dtype_row_bytes(t, K);
    uint8_t *p = malloc((size_t)(rb * N));
    for (int64_t j = 0; j < N; j++) vg_quant_row_ref(t, w32 + j * K, p + j * rb, K);
    return p;
}

#define NT 8
static const vg_dtype types[NT] = {VG_DTYPE_F16, VG_DTYPE_BF16, VG_DTYPE_F32, VG_DTYPE_Q8_0,
                                   VG_DTYPE_Q4_K, VG_DTYPE_Q6_K, VG_DTYPE_Q5_K, VG_DTYPE_Q4_0};

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void shape(int64_t M, int64_t N, int64_t K, int threads) {
    float *a = malloc(sizeof(float) * (size_t)(M * K)), *w32 = malloc(sizeof(float) * (size_t)(N * K));
    float *c = malloc(sizeof(float) * (size_t)(M * N));
    vg_philox_fill_normal(a, M * K, 1, 0);
    vg_philox_fill_normal(w32, N * K, 2, 0);
    job j[NT];
    double best[NT], bcpu[NT];
    for (int t = 0; t < NT; t++) {
        j[t] = (job){types[t], M, N, K, a, c, weights(types[t], w32, N, K)};
        best[t] = bcpu[t] = 1e30;
    }
    bench_set_threads(threads);
    double flops = 2.0 * M * N * K;
    int reps = flops > 2e10 ? 4 : 6;
    for (int t = 0; t < NT; t++) run(&j[t]); /* warm-up */
    for (int r = 0; r < reps; r++)
        for (int t = 0; t < NT; t++) {
            double c0 = cpu_now(), w0 = bench_now();
            run(&j[t]);
            double w1 = bench_now() - w0, c1 = cpu_now() - c0;
            if (w1 < best[t]) best[t] = w1;
            if (c1 < bcpu[t]) bcpu[t] = c1;
        }
    char name[128], yard[64];
    for (int pass = 0; pass < (threads == 1 ? 2 : 1); pass++) {
        const double *tm = pass ? bcpu : best;
        const char *how = pass ? " CPU-time" : "";
        const char *unit = pass ? "GFLOP/cpu-s" : "GFLOP/s";
        double f16 = flops / tm[0] * 1e-9;
        for (int t = 0; t < NT; t++) {
            snprintf(name, sizeof(name), "qgemm %s-w M=%lld,N=%lld,K=%lld (%d thr)%s", vg_dtype_name(types[t]),
                     (long long)M, (long long)N, (long long)K, threads, how);
            snprintf(yard, sizeof(yard), "vg_matmul_nt F16-w");
            if (t == 0) bench_record(name, f16, unit, NULL, 0);
            else bench_record(name, flops / tm[t] * 1e-9, unit, yard, f16);
        }
        /* the two targeted types against bf16 and f32 too */
        for (int t = 3; t <= 4; t++)
            for (int y = 1; y <= 2; y++) {
                snprintf(name, sizeof(name), "qgemm %s-w / %s-w M=%lld,N=%lld,K=%lld (%d thr)%s", vg_dtype_name(types[t]),
                         vg_dtype_name(types[y]), (long long)M, (long long)N, (long long)K, threads, how);
                snprintf(yard, sizeof(yard), "vg_matmul_nt %s-w", vg_dtype_name(types[y]));
                bench_record(name, flops / tm[t] * 1e-9, unit, yard, flops / tm[y] * 1e-9);
            }
    }
    for (int t = 0; t < NT; t++) free((void *)j[t].w);
    free(a); free(w32); free(c);
}

void bench_quant(void) {
    bench_note_load("quant");
    static const int64_t sh[3][2] = {{1536, 1536}, {8960, 1536}, {1536, 8960}}; /* N, K */
    for (int th = 2; th >= 1; th--)
        for (int s = 0; s < 3; s++) shape(1024, sh[s][0], sh[s][1], th);
}
