/* bench_dequant.c - ggml block types (`./build/vidgen_bench dequant`), one thread:
 * dequantization speed of the AVX-512 path against the scalar _ref (elements/s, ratio), and
 * the speed of vg_quantize's quantizer (the weighted search `vidgen convert` runs) against its
 * scalar _ref (vg_quant_row_imatrix_ref). */
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"
#include "vidgen/gemm.h"
#include "vidgen/quant.h"
#include "vidgen/rng.h"

typedef struct { vg_dtype t; const void *q; float *y; const float *x; void *qo; int64_t rows, cols; } quant_ctx;

static void run_ref(void *p) {
    quant_ctx *c = p;
    const int64_t rb = vg_dtype_row_bytes(c->t, c->cols);
    for (int64_t r = 0; r < c->rows; r++) vg_dequant_row_ref(c->t, (const uint8_t *)c->q + r * rb, c->y + r * c->cols, c->cols);
}

static void run_fast(void *p) {
    quant_ctx *c = p;
    const int64_t rb = vg_dtype_row_bytes(c->t, c->cols);
    for (int64_t r = 0; r < c->rows; r++) vg_dequant_row(c->t, (const uint8_t *)c->q + r * rb, c->y + r * c->cols, c->cols);
}

static void run_quant(void *p) {
    quant_ctx *c = p;
    vg_quantize(c->t, c->x, c->qo, c->rows, c->cols);
}

static void run_quant_ref(void *p) {
    quant_ctx *c = p;
    const int64_t rb = vg_dtype_row_bytes(c->t, c->cols);
    for (int64_t r = 0; r < c->rows; r++)
        vg_quant_row_imatrix_ref(c->t, c->x + r * c->cols, (uint8_t *)c->qo + r * rb, c->cols, NULL);
}

void bench_dequant(void) {
    static const vg_dtype types[] = {VG_DTYPE_F16, VG_DTYPE_BF16, VG_DTYPE_Q8_0, VG_DTYPE_Q4_0, VG_DTYPE_Q4_1,
                                     VG_DTYPE_Q5_0, VG_DTYPE_Q5_1, VG_DTYPE_Q2_K, VG_DTYPE_Q3_K, VG_DTYPE_Q4_K,
                                     VG_DTYPE_Q5_K, VG_DTYPE_Q6_K};
    const int64_t rows = 64, cols = 1536, n = rows * cols; /* 98 K elements: output stays in L2 */
    bench_note_load("dequant");
    bench_set_threads(1);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    void *q = malloc(sizeof(float) * n);
    if (!x || !y || !q) { printf("  out of memory\n"); free(x); free(y); free(q); return; }
    vg_philox_fill_normal(x, n, 11, 1);
    for (int i = 0; i < n; i++) x[i] *= 0.02f;
    printf("  %lld x %lld weights N(0, 0.02), 1 thread, CPU level %d\n", (long long)rows, (long long)cols, vg_cpu_level());
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        quant_ctx c = {types[i], q, y, x, q, rows, cols};
        char name[96];
        double tq = bench_time(run_quant, &c, 3), tqr = bench_time(run_quant_ref, &c, 3);
        double tr = bench_time(run_ref, &c, 50), tf = bench_time(run_fast, &c, 50);
        snprintf(name, sizeof(name), "dequant %s fast", vg_dtype_name(types[i]));
        bench_record(name, n / tf * 1e-6, "Melem/s", "scalar _ref", n / tr * 1e-6);
        snprintf(name, sizeof(name), "quantize %s (vg_quantize)", vg_dtype_name(types[i]));
        bench_record(name, n / tq * 1e-6, "Melem/s", "scalar _ref", n / tqr * 1e-6);
    }
    free(x); free(y); free(q);
}
