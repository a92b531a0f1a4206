/* rng.h - random numbers that do not depend on call order or thread count.
 * vg_philox: counter-based Philox4x32-10 (Salmon et al. 2011). The value at
 * (seed, stream, index) is a pure function, so noise for element i is the same
 * whatever thread draws it. vg_rng: a small sequential generator (splitmix64
 * seeded xoshiro256**) for data sampling on one thread. */
#ifndef VIDGEN_RNG_H
#define VIDGEN_RNG_H
#include <stdint.h>

/* 4 uniform 32-bit words for counter (stream, index) under key seed. */
void vg_philox4x32(uint32_t out[4], uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal value number i of stream `stream` (Box-Muller on Philox). */
float vg_philox_normal(uint64_t seed, uint64_t stream, uint64_t i);
/* Fill out[0..n) with N(0,1): out[i] = vg_philox_normal(seed, stream, i). OpenMP-parallel, deterministic. */
void vg_philox_fill_normal(float *out, int64_t n, uint64_t seed, uint64_t stream);

typedef struct { uint64_t s[4]; } vg_rng;
void vg_rng_seed(vg_rng *r, uint64_t seed);
uint64_t vg_rng_u64(vg_rng *r);
double vg_rng_uniform(vg_rng *r);            /* [0,1) */
int vg_rng_int(vg_rng *r, int n);             /* [0,n) */
double vg_rng_normal(vg_rng *r);

#endif
