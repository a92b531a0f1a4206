/* main.c - test runner: runs every registered test (or those whose name contains argv[1]),
 * prints one line per test and, last and alone, "N passed, N failed". Exit 1 on any failure. */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "vidgen/io.h"
#include "vidgen/rng.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define MAX_TESTS 1024
static struct { const char *name, *file; vg_test_fn fn; } g_tests[MAX_TESTS];
static int g_n, g_failed_now;
static char g_tmp[512];

void vg_test_register(const char *name, const char *file, vg_test_fn fn) {
    if (g_n < MAX_TESTS) { g_tests[g_n].name = name; g_tests[g_n].file = file; g_tests[g_n].fn = fn; g_n++; }
}

void vg_test_failf(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "    %s:%d: ", file, line);
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
    va_end(ap);
    g_failed_now = 1;
}

bool vg_test_failed(void) { return g_failed_now; }
const char *vg_test_tmpdir(void) { return g_tmp; }

const char *vg_test_shared(void) {
    const char *e = getenv("VIDGEN_SHARED");
    return e && *e ? e : "../shared";
}

bool vg_test_close(const char *file, int line, const char *what, const float *a, const float *b,
                   int64_t n, double atol, double rtol) {
    int64_t bad = -1, worst = 0, nbad = 0;
    double maxerr = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= atol + rtol * fabs((double)b[i]))) { if (bad < 0) bad = i; nbad++; }
        if (e > maxerr || e != e) { maxerr = e; worst = i; }
    }
    if (bad >= 0) {
        vg_test_failf(file, line, "%s: %lld of %lld mismatch (atol %g rtol %g); first [%lld] %.8g vs %.8g; max err %.3g at [%lld]",
                      what, (long long)nbad, (long long)n, atol, rtol, (long long)bad, a[bad], b[bad], maxerr, (long long)worst);
        return false;
    }
    return true;
}

int vg_test_sh(char **out, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char full[8400];
    snprintf(full, sizeof(full), "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += r;
        if (cap - len < 1024) { cap *= 2; buf = realloc(buf, cap); }
    }
    if (buf) buf[len] = 0;
    int st = pclose(p);
    if (out) *out = buf; else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cmp_tests(const void *a, const void *b) {
    const char *fa = ((const __typeof__(g_tests[0]) *)a)->file, *fb = ((const __typeof__(g_tests[0]) *)b)->file;
    int c = strcmp(fa, fb);
    return c ? c : strcmp(((const __typeof__(g_tests[0]) *)a)->name, ((const __typeof__(g_tests[0]) *)b)->name);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/vidgen-test-%d", (int)getpid());
    mkdir(g_tmp, 0755);
    qsort(g_tests, (size_t)g_n, sizeof(g_tests[0]), cmp_tests);
    int passed = 0, failed = 0;
    for (int i = 0; i < g_n; i++) {
        if (filter && !strstr(g_tests[i].name, filter) && !strstr(g_tests[i].file, filter)) continue;
        g_failed_now = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        g_tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        printf("%s %-40s %8.1f ms\n", g_failed_now ? "FAIL" : "ok  ", g_tests[i].name, ms);
        fflush(stdout);
        if (g_failed_now) failed++; else passed++;
    }
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
    if (!failed && system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmp);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

bool vg_test_same_pixels(const char *d, const char *a, const char *b, int f) {
    char pa[700], pb[700];
    snprintf(pa, sizeof(pa), "%s/%s/frame_%04d.png", d, a, f);
    snprintf(pb, sizeof(pb), "%s/%s/frame_%04d.png", d, b, f);
    uint8_t *x = NULL, *y = NULL;
    int w1, h1, w2, h2;
    bool ok = vg_png_read(pa, &x, &w1, &h1) == VG_OK && vg_png_read(pb, &y, &w2, &h2) == VG_OK && w1 == w2 && h1 == h2 &&
              memcmp(x, y, (size_t)w1 * h1 * 3) == 0;
    free(x);
    free(y);
    return ok;
}

float *vg_test_randn(int64_t n, uint64_t seed, float mul) {
    float *a = malloc(sizeof(float) * (size_t)(n ? n : 1));
    vg_rng r;
    vg_rng_seed(&r, seed);
    for (int64_t i = 0; a && i < n; i++) a[i] = (float)vg_rng_normal(&r) * mul;
    return a;
}
