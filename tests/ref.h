/* ref.h - reader for reference-vector files written by tests/ref/refvec.py (magic "VGRF"). */
#ifndef VIDGEN_TEST_REF_H
#define VIDGEN_TEST_REF_H
#include <stdint.h>
typedef struct vg_ref vg_ref;
vg_ref *vg_ref_load(const char *path);            /* NULL (and a test failure message) on error */
/* Tensor data by name, NULL if absent; *n gets the element count when n != NULL. */
const float *vg_ref_get(const vg_ref *r, const char *name, int64_t *n);
void vg_ref_free(vg_ref *r);
#endif
