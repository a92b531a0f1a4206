/* main.c - `make bench`: runs each bench section present in this build, then writes bench.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define MAXF 256
static struct { char name[128], unit[32], yard[96]; double value, yard_value; int has_yard; } g_f[MAXF];
static int g_n;

void bench_record(const char *name, double value, const char *unit, const char *yardstick, double yard_value) {
    if (g_n >= MAXF) return;
    snprintf(g_f[g_n].name, sizeof(g_f[0].name), "%s", name);
    snprintf(g_f[g_n].unit, sizeof(g_f[0].unit), "%s", unit);
    g_f[g_n].value = value;
    g_f[g_n].has_yard = yardstick != NULL;
    if (yardstick) { snprintf(g_f[g_n].yard, sizeof(g_f[0].yard), "%s", yardstick); g_f[g_n].yard_value = yard_value; }
    if (yardstick && yard_value != 0)
        printf("%-52s %12.3f %-8s | %-28s %12.3f  ratio %.3f\n", name, value, unit, yardstick, yard_value, value / yard_value);
    else
        printf("%-52s %12.3f %s\n", name, value, unit);
    fflush(stdout);
    g_n++;
}

double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void bench_set_threads(int t) {
#ifdef _OPENMP
    omp_set_num_threads(t);
#else
    (void)t;
#endif
}

/* Records the 1-minute load average (the machine is shared) and warns when it exceeds the cores. */
void bench_note_load(const char *section) {
    double la[1];
    char name[96];
    if (getloadavg(la, 1) != 1) return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(name, sizeof(name), "load average (1 min) at start of %s", section);
    bench_record(name, la[0], "", NULL, 0);
    const char *wp = getenv("OMP_WAIT_POLICY");
    if (la[0] > cores && !(wp && *wp))
        printf("  busy machine (load %.1f on %ld cores): OpenMP threads spin at barriers while the other cores are "
               "taken, so 2-thread figures suffer; compare with OMP_WAIT_POLICY=passive\n", la[0], cores);
}

double bench_time(void (*fn)(void *), void *ctx, int reps) {
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        fn(ctx);
        double t = bench_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

/* sections (weak: a section not yet in the tree is skipped) */
#define SECTIONS X(gemm) X(quant) X(dequant) X(attn) X(conv) X(dit) X(train) X(wan) X(wanq) X(taehv) X(wanstep)
#define X(s) void bench_##s(void) __attribute__((weak));
SECTIONS
#undef X

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
#define X(s) if (bench_##s && (!only || strcmp(only, #s) == 0)) { printf("== %s\n", #s); bench_##s(); }
    SECTIONS
#undef X
    FILE *f = fopen("bench.json.tmp", "w");
    if (!f) { perror("bench.json"); return 1; }
    fprintf(f, "[\n");
    for (int i = 0; i < g_n; i++) {
        fprintf(f, "  {\"name\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"", g_f[i].name, g_f[i].value, g_f[i].unit);
        if (g_f[i].has_yard)
            fprintf(f, ", \"yardstick\": \"%s\", \"yardstick_value\": %.6g, \"ratio\": %.4g", g_f[i].yard,
                    g_f[i].yard_value, g_f[i].yard_value ? g_f[i].value / g_f[i].yard_value : 0.0);
        fprintf(f, "}%s\n", i + 1 < g_n ? "," : "");
    }
    fprintf(f, "]\n");
    fclose(f);
    if (rename("bench.json.tmp", "bench.json") != 0) { perror("bench.json"); return 1; }
    printf("wrote bench.json (%d figures)\n", g_n);
    return 0;
}
