/* test_core.c - dtype conversions and the counter-based RNG. */
#include "test.h"
#include "vidgen/rng.h"
#include "vidgen/tensor.h"
#include "vidgen/status.h"

VG_TEST(f16_roundtrip_exact) {
    /* every finite f16 value converts to f32 and back unchanged */
    for (uint32_t h = 0; h < 65536; h++) {
        if (((h >> 10) & 0x1f) == 31) continue;
        float f = vg_f16_to_f32((uint16_t)h);
        CHECKF(vg_f32_to_f16(f) == h, "f16 %04x -> %g -> %04x", h, f, vg_f32_to_f16(f));
    }
    CHECK(vg_f16_to_f32(0x3c00) == 1.0f);
    CHECK(vg_f16_to_f32(0xc000) == -2.0f);
    CHECK(vg_f32_to_f16(65520.0f) == 0x7c00);   /* rounds to inf */
    CHECK(vg_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00); /* tie to even */
    CHECK(vg_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);
}

VG_TEST(bf16_round_nearest_even) {
    CHECK(vg_f32_to_bf16(1.0f) == 0x3f80);
    float f; uint32_t u = 0x3f808000u; memcpy(&f, &u, 4);  /* tie: stays even */
    CHECK(vg_f32_to_bf16(f) == 0x3f80);
    u = 0x3f818000u; memcpy(&f, &u, 4);                     /* tie: rounds up to even */
    CHECK(vg_f32_to_bf16(f) == 0x3f82);
    CHECK(vg_bf16_to_f32(0xc040) == -3.0f);
}

VG_TEST(philox_known_answer) {
    /* Random123 known-answer test: philox4x32_10, counter 0, key 0 */
    uint32_t o[4];
    vg_philox4x32(o, 0, 0, 0);
    CHECKF(o[0] == 0x6627e8d5u && o[1] == 0xe169c58du && o[2] == 0xbc57ac4cu && o[3] == 0x9b00dbd8u,
           "got %08x %08x %08x %08x", o[0], o[1], o[2], o[3]);
}

VG_TEST(philox_normal_stats_and_order_free) {
    int64_t n = 200001;
    float *a = malloc(sizeof(float) * n);
    vg_philox_fill_normal(a, n, 42, 7);
    double m = 0, v = 0;
    for (int64_t i = 0; i < n; i++) m += a[i];
    m /= n;
    for (int64_t i = 0; i < n; i++) v += (a[i] - m) * (a[i] - m);
    v /= n;
    CHECKF(fabs(m) < 0.01 && fabs(v - 1) < 0.02, "mean %g var %g", m, v);
    for (int64_t i = 0; i < n; i += 9973) CHECK(a[i] == vg_philox_normal(42, 7, (uint64_t)i));
    CHECK(a[n - 1] == vg_philox_normal(42, 7, (uint64_t)(n - 1)));
    CHECK(vg_philox_normal(43, 7, 5) != a[5]);
    free(a);
}

VG_TEST(error_message_records_location) {
    vg_status s = vg_fail(VG_ERR_FORMAT, "model.safetensors: '%s' bad", "x");
    CHECK(s == VG_ERR_FORMAT);
    CHECK(strcmp(vg_last_error(), "model.safetensors: 'x' bad") == 0);
    CHECK(strstr(vg_last_error_where(), "test_core.c:") != NULL);
}
