/* gemm_internal.h - private interface between the GEMM driver (gemm.c) and its ISA paths
 * (gemm_avx512.c, gemm_avx2.c, the scalar one in gemm.c). Every product is run as one
 * logical C[m,n] (+)= sum_k X[m,k] * Y[k,n]; the driver blocks k by kc, packs MR-wide panels
 * of X and NR-wide panels of Y as [k][x] (x fastest), and calls a register-tiled kernel.
 * Legend: m rows of C (MR dim), n columns of C (NR dim), k the summed dim. */
#ifndef VIDGEN_GEMM_INTERNAL_H
#define VIDGEN_GEMM_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>
#include "vidgen/tensor.h"

/* One operand as a function of (x, k), x being m for X and n for Y.
 * kmajor: element at p[k*ld + x] (packing is a copy); else p[x*ld + k] (packing transposes). */
typedef struct {
    const void *p;
    vg_dtype dt; /* F32 everywhere, F16/BF16 only for Y of vg_matmul_nt */
    int64_t ld;
    bool kmajor;
} gemm_src;

/* Packs the panel of nx <= w rows (x0..x0+nx) over k0..k0+kc into dst[k*w + x],
 * zero-filling x in [nx, w). With kpair (bf16 products) dst is uint16 [kc/2][w][2] instead,
 * zero-filling the odd k tail. */
typedef void (*gemm_pack_fn)(void *dst, int w, const gemm_src *s, int64_t x0, int64_t nx, int64_t k0,
                             int64_t kc);
/* Tile c[mr,nr] (row stride ldc), mr <= MR, nr <= NR, from packed panels ap (MR wide) and
 * bp (NR wide) over kc. Starts from c when load_c, else from 0; adds bias[0..nr) when bias
 * is non-NULL; then adds the products in k order (one FMA chain per element, so the value
 * depends only on kc blocking, never on which thread or tile computed it). */
typedef void (*gemm_kernel_fn)(int64_t kc, const void *ap, const void *bp, float *c, int64_t ldc, int mr,
                               int nr, const float *bias, bool load_c);

typedef struct {
    int mr, nr;          /* register tile */
    int kc;              /* k block: one FMA chain per block, fixed per path (determinism) */
    int nc;              /* columns of Y packed at once (kc*nc floats stay in L2) */
    int kpair;           /* k padded to a multiple of this: 1 f32 panels; 2 bf16 pairs; 32 AMX */
    gemm_pack_fn pack_x, pack_y;
    gemm_kernel_fn kernel;
    int xbytes, ybytes;  /* bytes per packed (x, k) element of X and Y panels */
} gemm_path;

/* Plain-C packing for f32 panels (any dtype, any layout); scalar and AVX2 paths use it. */
void gemm_pack_generic(void *dst, int w, const gemm_src *s, int64_t x0, int64_t nx, int64_t k0, int64_t kc);

/* Paths; NULL getters' results mean "not compiled/supported". bf16: Y is BF16 weights. */
const gemm_path *gemm_path_avx512(void);
const gemm_path *gemm_path_avx512_bf16(void);
const gemm_path *gemm_path_avx2(void);
/* AMX tiles (gemm_amx.c) for F16 or BF16 weights Y; NULL for other dtypes or when not built. */
const gemm_path *gemm_path_amx(vg_dtype wt);

/* bf16 weights on level 3: 1 = vdpbf16ps products (A rounded to bf16), 0 = convert W to f32
 * when packing (exact). -1 (default) = auto: products only where vdpbf16ps is at least as fast
 * per instruction as an FMA (AMD Zen 4); on Intel cores it issues at half the FMA rate. */
void gemm_set_bf16_products(int mode);
bool gemm_bf16_products(void);

#endif
