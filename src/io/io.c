/* io.c - whole-file helpers: atomic write (temp + fsync + rename), read, mkdir -p.
 * Atomic write follows the usual POSIX recipe: write path.tmp.<pid> in the same
 * directory, fsync it, rename over path, then fsync the directory (best effort),
 * so readers see the old file or the whole new one, never a partial one. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include "vidgen/io.h"
#include "io/bytebuf.h"

static int write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void fsync_parent_dir(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof(dir), ".");
    else if (slash == path) snprintf(dir, sizeof(dir), "/");
    else snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { (void)fsync(fd); close(fd); } /* durability only; the rename already happened */
}

vg_status vg_file_write_atomic_v(const char *path, const vg_iov *parts, int n_parts) {
    if (!path || !*path || n_parts < 0 || (n_parts > 0 && !parts))
        return vg_fail(VG_ERR_ARG, "vg_file_write_atomic: empty path or bad parts");
    char tmp[4200];
    int len = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (len < 0 || (size_t)len >= sizeof(tmp)) return vg_fail(VG_ERR_ARG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return vg_fail(VG_ERR_IO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
    const char *what = "write";
    for (int i = 0; i < n_parts; i++) {
        if (parts[i].n && !parts[i].data) { close(fd); unlink(tmp); return vg_fail(VG_ERR_ARG, "%s: NULL data part", path); }
        if (write_all(fd, parts[i].data, parts[i].n) != 0) goto out_fail;
    }
    what = "fsync";
    if (fsync(fd) != 0) goto out_fail;
    what = "close";
    if (close(fd) != 0) { fd = -1; goto out_fail; }
    fd = -1;
    what = "rename temporary file onto";
    if (rename(tmp, path) != 0) goto out_fail;
    fsync_parent_dir(path);
    return VG_OK;
out_fail:;
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    return vg_fail(VG_ERR_IO, "%s: %s failed: %s", path, what, strerror(e));
}

vg_status vg_file_write_atomic(const char *path, const void *data, size_t n) {
    vg_iov part = {data, n};
    return vg_file_write_atomic_v(path, &part, 1);
}

vg_status vg_file_read(const char *path, char **out, size_t *n) {
    if (!path || !out) return vg_fail(VG_ERR_ARG, "vg_file_read: NULL argument");
    *out = NULL;
    if (n) *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vg_fail(VG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) { int e = errno; close(fd); return vg_fail(VG_ERR_IO, "%s: cannot stat: %s", path, strerror(e)); }
    if (S_ISDIR(sb.st_mode)) { close(fd); return vg_fail(VG_ERR_IO, "%s: is a directory, expected a file", path); }
    /* the size is a hint only (pipes, /proc files report 0): read until EOF */
    size_t cap = S_ISREG(sb.st_mode) && sb.st_size > 0 ? (size_t)sb.st_size + 1 : 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) { close(fd); return vg_fail(VG_ERR_OOM, "%s: cannot allocate %zu bytes", path, cap); }
    for (;;) {
        if (cap - len < 2) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) { free(buf); close(fd); return vg_fail(VG_ERR_OOM, "%s: file too large to read into memory", path); }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            close(fd);
            return vg_fail(VG_ERR_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = 0;
    *out = buf;
    if (n) *n = len;
    return VG_OK;
}

vg_status vg_mkdir_p(const char *path) {
    if (!path || !*path) return vg_fail(VG_ERR_ARG, "vg_mkdir_p: empty path");
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) return vg_fail(VG_ERR_OOM, "%s: out of memory", path);
    memcpy(p, path, n + 1);
    vg_status st = VG_OK;
    /* walk each prefix ending before a '/', then the whole path */
    for (size_t i = 1; i <= n; i++) {
        if (i < n && p[i] != '/') continue;
        char save = p[i];
        p[i] = 0;
        if (i == n || p[i - 1] != '/') { /* skip empty components from "a//b" */
            if (mkdir(p, 0755) != 0) {
                int e = errno;
                struct stat sb;
                if (e == EEXIST || e == EISDIR) {
                    if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
                        st = vg_fail(VG_ERR_IO, "%s: '%s' exists and is not a directory", path, p);
                        goto out;
                    }
                } else if (!(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))) {
                    /* EACCES on an existing parent (e.g. "/") is fine; anything else is not */
                    st = vg_fail(VG_ERR_IO, "%s: cannot create directory '%s': %s", path, p, strerror(e));
                    goto out;
                }
            }
        }
        p[i] = save;
    }
out:
    free(p);
    return st;
}

void vg_bytebuf_put(vg_bytebuf *b, const void *d, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n) nc *= 2;
        uint8_t *np = realloc(b->p, nc);
        if (!np) { b->oom = true; return; }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

void vg_release_pages(const void *p, size_t n) {
#ifdef MADV_PAGEOUT
    long pg = sysconf(_SC_PAGESIZE);
    if (!p || pg <= 0) return;
    uintptr_t b = ((uintptr_t)p + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(pg - 1);
    if (e > b) (void)madvise((void *)b, e - b, MADV_PAGEOUT);
#else
    (void)p; (void)n;
#endif
}
