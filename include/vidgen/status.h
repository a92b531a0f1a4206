/* status.h - error reporting for the vidgen library.
 * Functions that act return vg_status; on failure they record a thread-local
 * message (with the source location) that vg_last_error() returns. The library
 * never exits on bad input; only src/cli/ decides exit codes. */
#ifndef VIDGEN_STATUS_H
#define VIDGEN_STATUS_H
#include <stdio.h>
#include <stdlib.h>

typedef enum {
    VG_OK = 0,
    VG_ERR_IO,          /* file missing, unreadable, write failed */
    VG_ERR_FORMAT,      /* malformed file content (JSON, safetensors, PNG) */
    VG_ERR_SHAPE,       /* tensor shape mismatch */
    VG_ERR_OOM,         /* allocation failed or memory estimate too large */
    VG_ERR_ARG,         /* bad argument / setting */
    VG_ERR_UNSUPPORTED, /* valid but not supported */
    VG_ERR_INTERRUPTED  /* stopped by a signal */
} vg_status;

/* Records "msg" as the thread's last error and returns code. Use vg_fail(). */
vg_status vg_fail_at(const char *file, int line, vg_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define vg_fail(code, ...) vg_fail_at(__FILE__, __LINE__, (code), __VA_ARGS__)

/* The last error message of this thread ("" when none). Valid until the next vg_fail. */
const char *vg_last_error(void);
/* "file.c:123" of the last error. */
const char *vg_last_error_where(void);
void vg_clear_error(void);
const char *vg_status_name(vg_status s);

/* Programmer errors only (never for bad input): print location and abort. */
#define VG_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: assertion failed: %s\n", \
    __FILE__, __LINE__, #c); abort(); } } while (0)

#endif
