/* ref.c - reader for the reference vectors in tests/ref (see tests/ref/refvec.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ref.h"
#include "test.h"

struct vg_ref { int n; char **names; float **data; int64_t *numel; };

vg_ref *vg_ref_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { vg_test_failf(__FILE__, __LINE__, "cannot open %s", path); return NULL; }
    char magic[4];
    uint32_t ver, cnt;
    vg_ref *r = calloc(1, sizeof(*r));
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "VGRF", 4) || fread(&ver, 4, 1, f) != 1 || ver != 1 ||
        fread(&cnt, 4, 1, f) != 1 || cnt > 100000) goto bad;
    r->names = calloc(cnt, sizeof(char *)); r->data = calloc(cnt, sizeof(float *)); r->numel = calloc(cnt, sizeof(int64_t));
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t nl, nd;
        if (fread(&nl, 4, 1, f) != 1 || nl > 4096) goto bad;
        r->names[i] = calloc(nl + 1, 1);
        r->n = (int)i + 1;
        if (fread(r->names[i], 1, nl, f) != nl || fread(&nd, 4, 1, f) != 1 || nd > 8) goto bad;
        int64_t shp[8], n = 1;
        if (fread(shp, 8, nd, f) != nd) goto bad;
        for (uint32_t d = 0; d < nd; d++) n *= shp[d];
        if (n < 0 || n > (1 << 28)) goto bad;
        r->numel[i] = n;
        r->data[i] = malloc(sizeof(float) * (size_t)(n ? n : 1));
        if (fread(r->data[i], 4, (size_t)n, f) != (size_t)n) goto bad;
    }
    fclose(f);
    return r;
bad:
    fclose(f);
    vg_test_failf(__FILE__, __LINE__, "%s: malformed reference file", path);
    vg_ref_free(r);
    return NULL;
}

const float *vg_ref_get(const vg_ref *r, const char *name, int64_t *n) {
    for (int i = 0; r && i < r->n; i++)
        if (strcmp(r->names[i], name) == 0) { if (n) *n = r->numel[i]; return r->data[i]; }
    return NULL;
}

void vg_ref_free(vg_ref *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) { free(r->names[i]); free(r->data[i]); }
    free(r->names); free(r->data); free(r->numel); free(r);
}
