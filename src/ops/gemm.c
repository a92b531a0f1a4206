/* gemm.c - matrix products for Linear layers. See include/vidgen/gemm.h.
 * _ref: plain loops, double-free f32 sums in index order; the fast paths are
 * checked against them in tests/test_gemm.c. */
#include "vidgen/gemm.h"

static inline float wload(const void *w, vg_dtype wt, int64_t i) {
    switch (wt) {
    case VG_DTYPE_F16: return vg_f16_to_f32(((const uint16_t *)w)[i]);
    case VG_DTYPE_BF16: return vg_bf16_to_f32(((const uint16_t *)w)[i]);
    default: return ((const float *)w)[i];
    }
}

void vg_matmul_nt_ref(float *c, const float *a, const void *w, vg_dtype wt, const float *bias,
                      int64_t M, int64_t N, int64_t K, bool accumulate) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = bias ? bias[j] : 0.0f;
            for (int64_t k = 0; k < K; k++) s += a[i * K + k] * wload(w, wt, j * K + k);
            c[i * N + j] = accumulate ? c[i * N + j] + s : s;
        }
}

void vg_matmul_nn_ref(float *c, const float *a, const float *w, int64_t M, int64_t N, int64_t K,
                      bool accumulate) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t k = 0; k < K; k++) {
            float s = 0.0f;
            for (int64_t j = 0; j < N; j++) s += a[i * N + j] * w[j * K + k];
            c[i * K + k] = accumulate ? c[i * K + k] + s : s;
        }
}

void vg_matmul_tn_ref(float *c, const float *a, const float *b, int64_t M, int64_t N, int64_t K) {
    for (int64_t j = 0; j < N; j++)
        for (int64_t k = 0; k < K; k++) {
            float s = 0.0f;
            for (int64_t i = 0; i < M; i++) s += a[i * N + j] * b[i * K + k];
            c[j * K + k] += s;
        }
}

/* Fast paths: until the blocked SIMD kernels land, parallelise the reference loop over rows. */
void vg_matmul_nt(float *c, const float *a, const void *w, vg_dtype wt, const float *bias,
                  int64_t M, int64_t N, int64_t K, bool accumulate) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++)
        vg_matmul_nt_ref(c + i * N, a + i * K, w, wt, bias, 1, N, K, accumulate);
}

void vg_matmul_nn(float *c, const float *a, const float *w, int64_t M, int64_t N, int64_t K,
                  bool accumulate) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) vg_matmul_nn_ref(c + i * K, a + i * N, w, 1, N, K, accumulate);
}

void vg_matmul_tn(float *c, const float *a, const float *b, int64_t M, int64_t N, int64_t K) {
    vg_matmul_tn_ref(c, a, b, M, N, K);
}
