/* main.c - vidgen command line: shared helpers and the sub-command dispatch.
 * `vidgen --prompt ...` (generate) is the default command. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <cjson/cJSON.h>
#include "cli.h"
#include "vidgen/io.h"
#include "vidgen/status.h"

int cli_error(int code, const char *hint, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vidgen: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (hint) fprintf(stderr, "hint: %s\n", hint);
    return code;
}

int cli_lib_error(const char *hint) { return cli_error(CLI_RUNTIME, hint, "%s", vg_last_error()); }

bool cli_parse_int(const char *s, long lo, long hi, long *out) {
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, double lo, double hi, double *out) {
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_u64(const char *s, uint64_t *out) {
    char *e;
    errno = 0;
    if (*s == '-') return false;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno || e == s || *e) return false;
    *out = v;
    return true;
}

bool cli_parse_bytes(const char *s, int64_t *out) {
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || v <= 0) return false;
    double mul = 1;
    if (*e == 'k' || *e == 'K') { mul = 1024.0; e++; }
    else if (*e == 'm' || *e == 'M') { mul = 1024.0 * 1024; e++; }
    else if (*e == 'g' || *e == 'G') { mul = 1024.0 * 1024 * 1024; e++; }
    if (*e == 'i') e++;
    if (*e == 'B' || *e == 'b') e++;
    if (*e) return false;
    *out = (int64_t)(v * mul);
    return true;
}

int64_t cli_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

cJSON *cli_read_json(const char *path) {
    char *t = NULL;
    if (vg_file_read(path, &t, NULL)) return NULL;
    cJSON *j = cJSON_Parse(t);
    free(t);
    return j;
}

void cli_set_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/* weak: sub-commands whose source is not in this build report so */
int vg_cmd_train(int argc, char **argv) __attribute__((weak));
int vg_cmd_dataset(int argc, char **argv) __attribute__((weak));
int vg_cmd_score(int argc, char **argv) __attribute__((weak));
int vg_cmd_module(int argc, char **argv) __attribute__((weak));
int vg_cmd_batch(int argc, char **argv) __attribute__((weak));
int vg_cmd_convert(int argc, char **argv) __attribute__((weak));

int main(int argc, char **argv) {
    if (argc > 1 && argv[1][0] != '-') {
        struct { const char *name; int (*fn)(int, char **); } cmds[] = {
            {"generate", vg_cmd_generate}, {"train", vg_cmd_train}, {"dataset", vg_cmd_dataset},
            {"score", vg_cmd_score}, {"module", vg_cmd_module}, {"batch", vg_cmd_batch},
            {"convert", vg_cmd_convert}};
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
            if (strcmp(argv[1], cmds[i].name) == 0) {
                if (!cmds[i].fn) return cli_error(CLI_USAGE, NULL, "'%s' is not available in this build", argv[1]);
                return cmds[i].fn(argc - 1, argv + 1);
            }
        return cli_error(CLI_USAGE, "commands: generate (default), train, dataset, score, module, batch, convert; see vidgen --help",
                         "unknown command '%s'", argv[1]);
    }
    return vg_cmd_generate(argc, argv);
}
