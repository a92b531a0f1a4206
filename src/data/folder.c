/* folder.c - a folder of captioned clips: DIR/manifest.jsonl (one JSON object per line:
 * {"clip": "clip_00001", "caption": "...", "frames": N}) and DIR/<clip>/frame_0001.png ...
 * Open checks every line and every frame's PNG header; bad clips are reported on the warning
 * callback by name and skipped, so one broken clip never stops training.
 * Layout: frames read as [F][H][W][3] u8. Legend: F frames, H W pixels. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "vidgen/data.h"
#include "vidgen/io.h"

typedef struct { char *name, *caption; int frames; } clip_entry;

struct vg_folder {
    char *dir;
    int h, w;
    int64_t n;
    clip_entry *clip;   /* [n] */
};

#define MAX_FRAMES 100000
#define MAX_CAPTION 2048

static void warnf(vg_warn_fn warn, void *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warnf(vg_warn_fn warn, void *ctx, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (warn) warn(ctx, msg);
    else fprintf(stderr, "vidgen: warning: %s\n", msg);
}

static void frame_path(char *buf, size_t cap, const char *dir, const char *clip, int k) {
    snprintf(buf, cap, "%s/%s/frame_%04d.png", dir, clip, k + 1);
}

/* Reads the PNG signature and IHDR of path: 0 ok (size in *w, *h), -1 missing, -2 not a PNG. */
static int png_header(const char *path, int *w, int *h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t b[24];
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t got = fread(b, 1, sizeof(b), f);
    fclose(f);
    if (got != sizeof(b) || memcmp(b, sig, 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0) return -2;
    uint32_t ww = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    uint32_t hh = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    if (ww == 0 || hh == 0 || ww > 16384 || hh > 16384) return -2;
    *w = (int)ww; *h = (int)hh;
    return 0;
}

static bool safe_name(const char *s) {
    if (!*s || strlen(s) > 200 || !strcmp(s, ".") || !strcmp(s, "..")) return false;
    for (const char *p = s; *p; p++)
        if (*p == '/' || *p == '\\' || (unsigned char)*p < 32) return false;
    return true;
}

void vg_folder_free(vg_folder *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->n; i++) { free(f->clip[i].name); free(f->clip[i].caption); }
    free(f->clip);
    free(f->dir);
    free(f);
}

/* Checks one parsed manifest line: 1 usable (*e filled with owning copies), 0 skipped with a
 * warning naming the line or clip, -1 out of memory (recorded with vg_fail: an error, never a
 * silently dropped clip). */
static int check_line(vg_folder *f, const cJSON *o, int lineno, int min_frames, clip_entry *e,
                      vg_warn_fn warn, void *ctx) {
    if (!cJSON_IsObject(o)) {
        warnf(warn, ctx, "manifest.jsonl:%d: not a JSON object; skipped", lineno);
        return 0;
    }
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(o, "clip");
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(o, "caption");
    const cJSON *jf = cJSON_GetObjectItemCaseSensitive(o, "frames");
    if (!cJSON_IsString(jc) || !jc->valuestring || !safe_name(jc->valuestring)) {
        warnf(warn, ctx, "manifest.jsonl:%d: \"clip\" missing, not a string or not a plain folder name; skipped", lineno);
        return 0;
    }
    const char *name = jc->valuestring;
    if (!cJSON_IsString(jt) || !jt->valuestring || !jt->valuestring[0] || strlen(jt->valuestring) >= MAX_CAPTION) {
        warnf(warn, ctx, "%s: \"caption\" missing, empty, not a string or longer than %d bytes; skipped", name, MAX_CAPTION - 1);
        return 0;
    }
    /* range first: (int) of a double outside int's range is undefined */
    if (!cJSON_IsNumber(jf) || !(jf->valuedouble >= 1 && jf->valuedouble <= MAX_FRAMES) ||
        jf->valuedouble != (double)(int)jf->valuedouble) {
        warnf(warn, ctx, "%s: \"frames\" missing or not an integer in 1..%d; skipped", name, MAX_FRAMES);
        return 0;
    }
    int nf = (int)jf->valuedouble;
    if (nf < min_frames) {
        warnf(warn, ctx, "%s: %d frames, need at least %d; skipped", name, nf, min_frames);
        return 0;
    }
    size_t plen = strlen(f->dir) + strlen(name) + 32;
    char *path = malloc(plen);
    if (!path) { vg_fail(VG_ERR_OOM, "%s: out of memory checking its frames", name); return -1; }
    for (int k = 0; k < nf; k++) {
        int w = 0, h = 0;
        frame_path(path, plen, f->dir, name, k);
        int r = png_header(path, &w, &h);
        if (r == -1) warnf(warn, ctx, "%s: frame_%04d.png missing (manifest says %d frames); skipped", name, k + 1, nf);
        else if (r == -2) warnf(warn, ctx, "%s: frame_%04d.png is not a readable PNG; skipped", name, k + 1);
        else if (f->h > 0 && (h != f->h || w != f->w))
            warnf(warn, ctx, "%s: frame_%04d.png is %dx%d, expected %dx%d; skipped", name, k + 1, w, h, f->w, f->h);
        if (r != 0 || (f->h > 0 && (h != f->h || w != f->w))) { free(path); return 0; }
        if (f->h <= 0) { f->h = h; f->w = w; }
    }
    free(path);
    e->name = strdup(name);
    e->caption = strdup(jt->valuestring);
    e->frames = nf;
    if (!e->name || !e->caption) {
        free(e->name); free(e->caption);
        vg_fail(VG_ERR_OOM, "%s: out of memory", name);
        return -1;
    }
    for (int64_t i = 0; i < f->n; i++)
        if (!strcmp(f->clip[i].name, e->name)) {
            warnf(warn, ctx, "%s: listed twice in manifest.jsonl (line %d); second entry skipped", name, lineno);
            free(e->name); free(e->caption);
            return 0;
        }
    return 1;
}

vg_status vg_folder_open(vg_folder **out, const char *dir, int h, int w, int min_frames,
                         vg_warn_fn warn, void *warn_ctx) {
    *out = NULL;
    char *text = NULL, *mpath = NULL;
    size_t len = 0;
    vg_status st = VG_OK;
    vg_folder *f = calloc(1, sizeof(*f));
    if (!f || !(f->dir = strdup(dir)) || !(mpath = malloc(strlen(dir) + 32))) {
        st = vg_fail(VG_ERR_OOM, "%s: out of memory", dir);
        goto out;
    }
    f->h = h > 0 && w > 0 ? h : 0;
    f->w = h > 0 && w > 0 ? w : 0;
    sprintf(mpath, "%s/manifest.jsonl", dir);
    if ((st = vg_file_read(mpath, &text, &len))) goto out;
    int64_t cap = 0;
    int lineno = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        size_t ll = next ? (size_t)(next - line) : strlen(line);
        if (next) next++;
        lineno++;
        bool blank = true;
        for (size_t i = 0; i < ll; i++) if (!isspace((unsigned char)line[i])) { blank = false; break; }
        if (blank) continue;
        cJSON *o = cJSON_ParseWithLength(line, ll);
        if (!o) {
            /* cJSON returns NULL for a syntax error and for a failed allocation alike */
            warnf(warn, warn_ctx, "manifest.jsonl:%d: not valid JSON (or no memory to parse it); skipped", lineno);
            continue;
        }
        if (f->n == cap) {
            int64_t nc = cap ? 2 * cap : 64;
            clip_entry *nv = realloc(f->clip, (size_t)nc * sizeof(*nv));
            if (!nv) { cJSON_Delete(o); st = vg_fail(VG_ERR_OOM, "%s: out of memory", mpath); goto out; }
            f->clip = nv;
            cap = nc;
        }
        int ok = check_line(f, o, lineno, min_frames > 0 ? min_frames : 1, &f->clip[f->n], warn, warn_ctx);
        cJSON_Delete(o);
        if (ok < 0) {
            char why[512]; /* copy: vg_fail overwrites the message it would read */
            snprintf(why, sizeof(why), "%s", vg_last_error());
            st = vg_fail(VG_ERR_OOM, "%s:%d: %s", mpath, lineno, why);
            goto out;
        }
        if (ok) f->n++;
    }
    if (f->n == 0) {
        st = vg_fail(VG_ERR_FORMAT, "%s: no usable clip (%d lines)", mpath, lineno);
        goto out;
    }
    *out = f;
    f = NULL;
out:
    free(text);
    free(mpath);
    vg_folder_free(f);
    return st;
}

int64_t vg_folder_count(const vg_folder *f) { return f->n; }
const char *vg_folder_name(const vg_folder *f, int64_t i) { return f->clip[i].name; }
const char *vg_folder_caption(const vg_folder *f, int64_t i) { return f->clip[i].caption; }
int vg_folder_frames(const vg_folder *f, int64_t i) { return f->clip[i].frames; }
void vg_folder_size(const vg_folder *f, int *h, int *w) { *h = f->h; *w = f->w; }

vg_status vg_folder_read(const vg_folder *f, int64_t i, int first, int frames, uint8_t *rgb) {
    if (i < 0 || i >= f->n) return vg_fail(VG_ERR_ARG, "%s: clip %lld outside 0..%lld", f->dir, (long long)i, (long long)f->n - 1);
    const clip_entry *e = &f->clip[i];
    if (first < 0 || frames < 1 || first + frames > e->frames)
        return vg_fail(VG_ERR_ARG, "%s: frames %d..%d requested, clip has %d", e->name, first + 1, first + frames, e->frames);
    size_t plen = strlen(f->dir) + strlen(e->name) + 32, plane = (size_t)f->h * f->w * 3;
    char *path = malloc(plen);
    if (!path) return vg_fail(VG_ERR_OOM, "%s: out of memory", e->name);
    vg_status st = VG_OK;
    for (int k = 0; k < frames && st == VG_OK; k++) {
        uint8_t *px = NULL;
        int w = 0, h = 0;
        frame_path(path, plen, f->dir, e->name, first + k);
        if (vg_png_read(path, &px, &w, &h) != VG_OK) {
            char why[512];   /* copy: vg_fail overwrites the message it would read */
            snprintf(why, sizeof(why), "%s", vg_last_error());
            st = vg_fail(VG_ERR_FORMAT, "%s: frame_%04d.png: %s", e->name, first + k + 1, why);
        }
        else if (w != f->w || h != f->h)
            st = vg_fail(VG_ERR_FORMAT, "%s: frame_%04d.png is %dx%d, expected %dx%d", e->name, first + k + 1, w, h, f->w, f->h);
        else
            memcpy(rgb + (size_t)k * plane, px, plane);
        free(px);
    }
    free(path);
    return st;
}
