/* cli.h - shared helpers of the vidgen command line. Only src/cli exits; exit codes:
 * 0 ok, 1 runtime or input failure, 2 usage error. */
#ifndef VIDGEN_CLI_H
#define VIDGEN_CLI_H
#include <stdbool.h>
#include <stdint.h>

#define VG_VERSION "0.1.0"
enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

/* Prints "vidgen: error: <msg>" (+ "hint: <hint>" when hint) to stderr; returns code. */
int cli_error(int code, const char *hint, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prints the library's last error as a runtime error; returns 1. */
int cli_lib_error(const char *hint);
bool cli_parse_int(const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *s, double lo, double hi, double *out);
bool cli_parse_u64(const char *s, uint64_t *out);
/* "512M", "2G", "1.5G", plain bytes. */
bool cli_parse_bytes(const char *s, int64_t *out);
int64_t cli_mem_available(void);  /* MemAvailable from /proc/meminfo, or -1 */
void cli_set_threads(int n);
/* A JSON file parsed (caller frees with cJSON_Delete), or NULL when unreadable or not JSON. */
struct cJSON *cli_read_json(const char *path);

int vg_cmd_generate(int argc, char **argv);
int vg_cmd_train(int argc, char **argv);
int vg_cmd_dataset(int argc, char **argv);
int vg_cmd_score(int argc, char **argv);
int vg_cmd_module(int argc, char **argv);
int vg_cmd_batch(int argc, char **argv);
int vg_cmd_convert(int argc, char **argv);

#endif
