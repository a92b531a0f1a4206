/* test.h - the tiny test harness. A test is `VG_TEST(name) { ... }` in any
 * tests/test_*.c file; it registers itself (constructor) and runs from tests/main.c.
 * CHECK* macros record a failure with file:line and return from the test. */
#ifndef VIDGEN_TEST_H
#define VIDGEN_TEST_H
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*vg_test_fn)(void);
void vg_test_register(const char *name, const char *file, vg_test_fn fn);
void vg_test_failf(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool vg_test_failed(void);
/* Directory of the repository (tests run from the repo root), shared/ path, a scratch dir. */
const char *vg_test_tmpdir(void);
const char *vg_test_shared(void); /* ../shared or $VIDGEN_SHARED */
/* Max |a-b| check: passes when |a-b| <= atol + rtol*|b| for all i; prints worst index. */
bool vg_test_close(const char *file, int line, const char *what, const float *a, const float *b,
                   int64_t n, double atol, double rtol);
/* Runs a shell command, returns its exit status (or -1); stdout+stderr to *out (malloc'd) when out. */
int vg_test_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same pixels in dir/a/frame_NNNN.png and dir/b/frame_NNNN.png (f = NNNN); the PNGs' tEXt
 * parameters may differ (they name the files and settings). */
bool vg_test_same_pixels(const char *dir, const char *a, const char *b, int f);
/* n floats N(0, 1) * mul from Philox(seed) (caller frees; never NULL-sized). */
float *vg_test_randn(int64_t n, uint64_t seed, float mul);

#define VG_TEST(name) \
    static void test_##name(void); \
    __attribute__((constructor)) static void reg_##name(void) { vg_test_register(#name, __FILE__, test_##name); } \
    static void test_##name(void)

#define CHECK(c) do { if (!(c)) { vg_test_failf(__FILE__, __LINE__, "CHECK(%s)", #c); return; } } while (0)
#define CHECKF(c, ...) do { if (!(c)) { vg_test_failf(__FILE__, __LINE__, __VA_ARGS__); return; } } while (0)
#define CHECK_OK(expr) do { vg_status st_ = (expr); if (st_ != VG_OK) { \
    vg_test_failf(__FILE__, __LINE__, "%s -> %d: %s", #expr, (int)st_, vg_last_error()); return; } } while (0)
#define CHECK_CLOSE(what, a, b, n, atol, rtol) do { \
    if (!vg_test_close(__FILE__, __LINE__, what, a, b, n, atol, rtol)) return; } while (0)

#endif
