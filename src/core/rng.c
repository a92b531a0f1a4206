/* rng.c - Philox4x32-10 counter-based RNG (Salmon et al., SC'11) and xoshiro256**.
 * Noise element i of a stream is a pure function of (seed, stream, i), so latents
 * are bit-identical for any thread count and any order of drawing. */
#include <math.h>
#include "vidgen/rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void vg_philox4x32(uint32_t out[4], uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0; k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* Box-Muller from one Philox block: values 2j, 2j+1 share index j. Computed in double
 * then rounded, so libm differences in float paths cannot creep in. */
static void normal_pair(float o[2], uint64_t seed, uint64_t stream, uint64_t j) {
    uint32_t w[4];
    vg_philox4x32(w, seed, stream, j);
    uint64_t a = ((uint64_t)w[0] << 32 | w[1]) >> 11, b = ((uint64_t)w[2] << 32 | w[3]) >> 11;
    double u1 = ((double)a + 1.0) / 9007199254740993.0; /* (0,1] */
    double u2 = (double)b / 9007199254740992.0;         /* [0,1) */
    double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    o[0] = (float)(r * cos(th));
    o[1] = (float)(r * sin(th));
}

float vg_philox_normal(uint64_t seed, uint64_t stream, uint64_t i) {
    float o[2];
    normal_pair(o, seed, stream, i >> 1);
    return o[i & 1];
}

void vg_philox_fill_normal(float *out, int64_t n, uint64_t seed, uint64_t stream) {
    int64_t pairs = (n + 1) / 2;
    #pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < pairs; j++) {
        float o[2];
        normal_pair(o, seed, stream, (uint64_t)j);
        out[2 * j] = o[0];
        if (2 * j + 1 < n) out[2 * j + 1] = o[1];
    }
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void vg_rng_seed(vg_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t vg_rng_u64(vg_rng *r) {
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}

double vg_rng_uniform(vg_rng *r) { return (double)(vg_rng_u64(r) >> 11) / 9007199254740992.0; }

int vg_rng_int(vg_rng *r, int n) { return n <= 0 ? 0 : (int)(vg_rng_uniform(r) * n); }

double vg_rng_normal(vg_rng *r) {
    double u1 = 1.0 - vg_rng_uniform(r), u2 = vg_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
