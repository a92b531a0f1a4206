/* alloc_fail.c - allocation-failure injection for a dedicated build (build-alloc/): every
 * allocation call of vidgen's own code is routed here by the linker (-Wl,--wrap=malloc,...;
 * libpng, zlib and cJSON's internal allocations are not), counted, and the k-th one fails
 * when VG_FAIL_ALLOC=k (k >= 1; only that one: later calls succeed, so the failure path's
 * own cleanup runs). VG_ALLOC_COUNT=FILE writes the number of calls made to FILE at exit
 * (the sweep's upper bound). cJSON_Parse* / cJSON_Print* / cJSON_Create{Object,Array} count
 * too: their NULL is cJSON's out-of-memory answer. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_posix_memalign(void **p, size_t al, size_t n);
void *__real_aligned_alloc(size_t al, size_t n);
FILE *__real_open_memstream(char **buf, size_t *n);
cJSON *__real_cJSON_Parse(const char *s);
cJSON *__real_cJSON_ParseWithLength(const char *s, size_t n);
cJSON *__real_cJSON_ParseWithLengthOpts(const char *s, size_t n, const char **end, cJSON_bool nul);
char *__real_cJSON_Print(const cJSON *j);
char *__real_cJSON_PrintUnformatted(const cJSON *j);
cJSON *__real_cJSON_CreateObject(void);
cJSON *__real_cJSON_CreateArray(void);

static atomic_long g_calls;
static long g_fail_at = -1; /* 0 = not read yet, -1 = never */
static atomic_int g_init;

static void report(void) {
    const char *f = getenv("VG_ALLOC_COUNT");
    if (!f || !*f) return;
    FILE *fp = fopen(f, "w");
    if (fp) { fprintf(fp, "%ld\n", (long)atomic_load(&g_calls)); fclose(fp); }
}

/* True when this call is the one to fail. */
static int fail_now(void) {
    if (atomic_load(&g_init) != 2) {
        int z = 0;
        if (atomic_compare_exchange_strong(&g_init, &z, 1)) {
            const char *e = getenv("VG_FAIL_ALLOC");
            g_fail_at = e && *e ? atol(e) : -1;
            if (g_fail_at <= 0) g_fail_at = -1;
            atexit(report);
            atomic_store(&g_init, 2);
        } else {
            while (atomic_load(&g_init) != 2) {}
        }
    }
    long k = atomic_fetch_add(&g_calls, 1) + 1;
    return k == g_fail_at;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { return fail_now() ? NULL : __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return fail_now() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return fail_now() ? NULL : __real_strndup(s, n); }
int __wrap_posix_memalign(void **p, size_t al, size_t n) { return fail_now() ? 12 /* ENOMEM */ : __real_posix_memalign(p, al, n); }
void *__wrap_aligned_alloc(size_t al, size_t n) { return fail_now() ? NULL : __real_aligned_alloc(al, n); }
FILE *__wrap_open_memstream(char **buf, size_t *n) { return fail_now() ? NULL : __real_open_memstream(buf, n); }
cJSON *__wrap_cJSON_Parse(const char *s) { return fail_now() ? NULL : __real_cJSON_Parse(s); }
cJSON *__wrap_cJSON_ParseWithLength(const char *s, size_t n) { return fail_now() ? NULL : __real_cJSON_ParseWithLength(s, n); }
cJSON *__wrap_cJSON_ParseWithLengthOpts(const char *s, size_t n, const char **end, cJSON_bool nul) {
    return fail_now() ? NULL : __real_cJSON_ParseWithLengthOpts(s, n, end, nul);
}
char *__wrap_cJSON_Print(const cJSON *j) { return fail_now() ? NULL : __real_cJSON_Print(j); }
char *__wrap_cJSON_PrintUnformatted(const cJSON *j) { return fail_now() ? NULL : __real_cJSON_PrintUnformatted(j); }
cJSON *__wrap_cJSON_CreateObject(void) { return fail_now() ? NULL : __real_cJSON_CreateObject(); }
cJSON *__wrap_cJSON_CreateArray(void) { return fail_now() ? NULL : __real_cJSON_CreateArray(); }
