/* status.c - thread-local last-error message (stb's failure reason + llm.c's location). */
#include <stdarg.h>
#include <string.h>
#include "vidgen/status.h"

static _Thread_local char g_msg[2048];
static _Thread_local char g_where[128];

vg_status vg_fail_at(const char *file, int line, vg_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof(g_msg), fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    snprintf(g_where, sizeof(g_where), "%s:%d", base ? base + 1 : file, line);
    return code;
}

const char *vg_last_error(void) { return g_msg; }
const char *vg_last_error_where(void) { return g_where; }
void vg_clear_error(void) { g_msg[0] = 0; g_where[0] = 0; }

const char *vg_status_name(vg_status s) {
    switch (s) {
    case VG_OK: return "ok";
    case VG_ERR_IO: return "i/o error";
    case VG_ERR_FORMAT: return "bad format";
    case VG_ERR_SHAPE: return "shape mismatch";
    case VG_ERR_OOM: return "out of memory";
    case VG_ERR_ARG: return "bad argument";
    case VG_ERR_UNSUPPORTED: return "unsupported";
    case VG_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown";
}
