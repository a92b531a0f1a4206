/* dataset.c - one interface over the shape world, Moving MNIST and folders of clips, used by
 * the trainer and by `vidgen dataset`. Sample i is a pure function of (seed, i): its rng is
 * seeded from Philox4x32(seed, stream "data", i), so data are reproducible for any thread
 * count or order. Layout: float clips [3][F][H][W] in [-1,1]; u8 clips [F][H][W][3].
 * Legend: F frames, H = W = size pixels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "vidgen/data.h"
#include "vidgen/io.h"

enum { SRC_SHAPES, SRC_MNIST, SRC_FOLDER };
#define DATA_STREAM 0x64617461ull /* "data" */
#define MAX_CAPTION_EXPORT 2048

struct vg_dataset {
    int kind, size, frames;
    uint64_t seed;
    vg_heldout held;
    vg_mnist *mnist;
    vg_folder *folder;
    vg_warn_fn warn;
    void *warn_ctx;
};

void vg_dataset_free(vg_dataset *d) {
    if (!d) return;
    vg_mnist_free(d->mnist);
    vg_folder_free(d->folder);
    free(d);
}

vg_status vg_dataset_open(vg_dataset **out, const char *spec, const vg_dataset_opts *opts) {
    *out = NULL;
    vg_dataset_opts o = {0};
    if (opts) o = *opts;
    if (o.size == 0) o.size = 64;
    if (o.frames == 0) o.frames = 16;
    if (o.size < 16 || o.size > 4096 || o.frames < 1 || o.frames > 10000)
        return vg_fail(VG_ERR_ARG, "dataset: size %d and frames %d, expected size 16..4096 and frames 1..10000",
                       o.size, o.frames);
    if (!spec || !*spec) return vg_fail(VG_ERR_ARG, "dataset: empty name (expected shapes, mnist or a folder)");
    vg_dataset *d = calloc(1, sizeof(*d));
    if (!d) return vg_fail(VG_ERR_OOM, "dataset: out of memory");
    d->size = o.size;
    d->frames = o.frames;
    d->seed = o.seed;
    d->warn = o.warn;
    d->warn_ctx = o.warn_ctx;
    if (o.heldout) d->held = *o.heldout;
    vg_status st = VG_OK;
    struct stat sb;
    if (!strcmp(spec, "shapes")) {
        d->kind = SRC_SHAPES;
        vg_shape_spec s;   /* fail now, not at the first sample, if the held-out list excludes all */
        vg_rng r;
        vg_rng_seed(&r, 1);
        st = vg_shape_sample(&s, &r, d->frames, &d->held);
    } else if (!strcmp(spec, "mnist")) {
        d->kind = SRC_MNIST;
        st = vg_mnist_open_dir(&d->mnist, o.mnist_dir, o.mnist_test);
    } else if (stat(spec, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        d->kind = SRC_FOLDER;
        st = vg_folder_open(&d->folder, spec, o.size, o.size, o.frames, o.warn, o.warn_ctx);
    } else {
        st = vg_fail(VG_ERR_ARG, "dataset '%s': not 'shapes', 'mnist', or a folder holding manifest.jsonl", spec);
    }
    if (st) { vg_dataset_free(d); return st; }
    *out = d;
    return VG_OK;
}

int64_t vg_dataset_count(const vg_dataset *d) { return d->kind == SRC_FOLDER ? vg_folder_count(d->folder) : -1; }
void vg_dataset_size(const vg_dataset *d, int *size, int *frames) { *size = d->size; *frames = d->frames; }

static void index_rng(vg_rng *r, uint64_t seed, uint64_t index) {
    uint32_t w[4];
    vg_philox4x32(w, seed, DATA_STREAM, index);
    vg_rng_seed(r, (uint64_t)w[0] << 32 | w[1]);
}

static vg_status copy_caption(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) return vg_fail(VG_ERR_ARG, "dataset: caption of %zu bytes does not fit in %zu", n, cap);
    memcpy(dst, src, n + 1);
    return VG_OK;
}

vg_status vg_dataset_sample_u8(vg_dataset *d, uint64_t index, uint8_t *rgb, char *caption, size_t cap) {
    vg_rng r;
    index_rng(&r, d->seed, index);
    int S = d->size, F = d->frames;
    vg_status st;
    if (d->kind == SRC_SHAPES) {
        vg_shape_spec s;
        if ((st = vg_shape_sample(&s, &r, F, &d->held))) return st;
        if (caption && vg_shape_caption(caption, cap, &s) < 0) return VG_ERR_ARG;
        return vg_shape_render_u8(rgb, &s, F, S, S);
    }
    if (d->kind == SRC_MNIST) {
        vg_mnist_spec s;
        if ((st = vg_mnist_sample(&s, d->mnist, &r, F, S, S))) return st;
        if (caption && vg_mnist_caption(caption, cap, &s) < 0) return VG_ERR_ARG;
        return vg_mnist_render_u8(rgb, d->mnist, &s, F, S, S);
    }
    /* folder: a clip by hash, then a random window; an undecodable clip gives way to the next */
    int64_t n = vg_folder_count(d->folder), c = (int64_t)(vg_rng_u64(&r) % (uint64_t)n);
    int first = vg_rng_int(&r, vg_folder_frames(d->folder, c) - F + 1);
    for (int64_t tries = 0; tries < n; tries++, c = (c + 1) % n) {
        if (tries) first = 0;
        if ((st = vg_folder_read(d->folder, c, first, F, rgb)) == VG_OK)
            return caption ? copy_caption(caption, cap, vg_folder_caption(d->folder, c)) : VG_OK;
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s; using the next clip", vg_last_error());
        if (d->warn) d->warn(d->warn_ctx, msg);
        else fprintf(stderr, "vidgen: warning: %s\n", msg);
    }
    return vg_fail(VG_ERR_FORMAT, "dataset: none of the %lld clips could be read", (long long)n);
}

/* The u8 clip is written into the last quarter of the float buffer's bytes and expanded in
 * place, so sampling needs no allocation. Safe because output float j of channel c sits at
 * byte 4*(c*n + j) and is written after every input byte it could overlap has been read:
 * input byte 3i+c' lives at 9n + 3i + c'; channels 0 and 1 write below byte 8n <= 9n, and
 * channel 2 writing index j (bytes < 8n + 4j + 4) only needs inputs i > j (>= 9n + 3j + 5). */
static void expand_inplace(float *clip, size_t n) {
    const uint8_t *u = (const uint8_t *)clip + 9 * n;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++) clip[(size_t)c * n + i] = (float)u[3 * i + c] / 127.5f - 1.f;
}

vg_status vg_dataset_sample(vg_dataset *d, uint64_t index, float *clip, char *caption, size_t cap) {
    size_t n = (size_t)d->frames * d->size * d->size;
    vg_status st = vg_dataset_sample_u8(d, index, (uint8_t *)clip + 9 * n, caption, cap);
    if (st == VG_OK) expand_inplace(clip, n);
    return st;
}

vg_status vg_dataset_export(vg_dataset *d, const char *dir, int64_t n, int overwrite,
                            void (*progress)(void *ctx, int64_t done, int64_t total), void *ctx) {
    if (n < 1) return vg_fail(VG_ERR_ARG, "dataset export: %lld clips, expected at least 1", (long long)n);
    size_t plen = strlen(dir) + 64;
    char *path = malloc(plen), caption[MAX_CAPTION_EXPORT];
    size_t fsz = (size_t)d->frames * d->size * d->size * 3, mcap = 4096, mlen = 0;
    uint8_t *rgb = malloc(fsz);
    char *man = malloc(mcap);
    vg_status st = VG_OK;
    struct stat sb;
    if (!path || !rgb || !man) { st = vg_fail(VG_ERR_OOM, "dataset export: out of memory"); goto out; }
    snprintf(path, plen, "%s/manifest.jsonl", dir);
    if (!overwrite && stat(path, &sb) == 0) {
        st = vg_fail(VG_ERR_ARG, "%s already exists (pass --overwrite to replace the dataset)", path);
        goto out;
    }
    if ((st = vg_mkdir_p(dir))) goto out;
    for (int64_t i = 0; i < n; i++) {
        if ((st = vg_dataset_sample_u8(d, (uint64_t)i, rgb, caption, sizeof(caption)))) goto out;
        char name[32];
        snprintf(name, sizeof(name), "clip_%05lld", (long long)i + 1);
        snprintf(path, plen, "%s/%s", dir, name);
        if ((st = vg_mkdir_p(path))) goto out;
        const char *keys[1] = {"caption"}, *vals[1] = {caption};
        for (int f = 0; f < d->frames; f++) {
            snprintf(path, plen, "%s/%s/frame_%04d.png", dir, name, f + 1);
            st = vg_png_write(path, rgb + (size_t)f * d->size * d->size * 3, d->size, d->size, keys, vals, 1);
            if (st) goto out;
        }
        /* manifest line: cJSON escapes the caption */
        cJSON *o = cJSON_CreateObject();
        char *line = NULL;
        if (o && cJSON_AddStringToObject(o, "clip", name) && cJSON_AddStringToObject(o, "caption", caption) &&
            cJSON_AddNumberToObject(o, "frames", d->frames))
            line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!line) { st = vg_fail(VG_ERR_OOM, "dataset export: out of memory"); goto out; }
        size_t ll = strlen(line);
        if (mlen + ll + 2 > mcap) {
            while (mlen + ll + 2 > mcap) mcap *= 2;
            char *nm = realloc(man, mcap);
            if (!nm) { cJSON_free(line); st = vg_fail(VG_ERR_OOM, "dataset export: out of memory"); goto out; }
            man = nm;
        }
        memcpy(man + mlen, line, ll);
        mlen += ll;
        man[mlen++] = '\n';
        cJSON_free(line);
        if (progress) progress(ctx, i + 1, n);
    }
    snprintf(path, plen, "%s/manifest.jsonl", dir);
    st = vg_file_write_atomic(path, man, mlen);
out:
    free(path);
    free(rgb);
    free(man);
    return st;
}
