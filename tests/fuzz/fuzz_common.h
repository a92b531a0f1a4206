/* fuzz_common.h - what every libFuzzer target shares: a private scratch folder under $TMPDIR,
 * writing the input there as a file (the loaders read paths), the repository root (for
 * models/tiny), and silencing the library's own stderr chatter. One target per file:
 * tests/fuzz/fuzz_<name>.c, seed corpus tests/fuzz/corpus/<name>/, built by `make fuzz`. */
#ifndef VIDGEN_FUZZ_COMMON_H
#define VIDGEN_FUZZ_COMMON_H
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char vgf_dir_[PATH_MAX], vgf_root_[PATH_MAX];

/* Scratch folder of this process (created on first use). */
__attribute__((unused)) static const char *vgf_dir(void) {
    if (!vgf_dir_[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(vgf_dir_, sizeof(vgf_dir_), "%s/vgfuzz.%d", t && *t ? t : "/tmp", (int)getpid());
        mkdir(vgf_dir_, 0700);
    }
    return vgf_dir_;
}

/* Repository root: $VIDGEN_REPO, else the folder the fuzzer started in (make runs it there). */
__attribute__((unused)) static const char *vgf_root(void) {
    if (!vgf_root_[0]) {
        const char *r = getenv("VIDGEN_REPO");
        if (r && *r) snprintf(vgf_root_, sizeof(vgf_root_), "%s", r);
        else if (!getcwd(vgf_root_, sizeof(vgf_root_))) snprintf(vgf_root_, sizeof(vgf_root_), ".");
    }
    return vgf_root_;
}

/* Writes data to <scratch>/<name>; returns the path (static buffer per call site is the caller's). */
__attribute__((unused)) static const char *vgf_write(char *path, size_t cap, const char *name, const uint8_t *data, size_t n) {
    snprintf(path, cap, "%s/%s", vgf_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    if (fclose(f)) abort();
    return path;
}

/* A NUL-terminated copy of the input (caller frees). */
__attribute__((unused)) static char *vgf_str(const uint8_t *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = 0;
    return s;
}



/* Allocations over 512 MiB fail (NULL) instead of stopping the fuzzer: a config or header
 * that asks for a huge buffer must take the loader's out-of-memory path. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1:max_allocation_size_mb=512:detect_leaks=1"; }
#endif
