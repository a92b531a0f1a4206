/* fuzz_safetensors.c - vg_st_open on arbitrary bytes (header length, JSON header, tensor table,
 * offsets, alignment copies), then every accessor, reading every byte of every tensor. */
#include "fuzz_common.h"
#include "vidgen/safetensors.h"
#include "vidgen/tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[PATH_MAX];
    vgf_write(path, sizeof(path), "in.safetensors", data, size);
    vg_st_file *f = NULL;
    if (vg_st_open(&f, path) != VG_OK) return 0;
    unsigned sum = 0;
    for (int64_t i = 0; i < vg_st_count(f); i++) {
        const vg_tensor *t = vg_st_at(f, i);
        const char *name = vg_st_name(f, i);
        if (!t || !name || vg_st_get(f, name) != t) abort();
        size_t nb = (size_t)vg_tensor_numel(t) * vg_dtype_size(t->dtype);
        for (size_t k = 0; k < nb; k++) sum += ((const uint8_t *)t->data)[k];
        (void)vg_st_require(f, name, t->ndim, t->shape, NULL);
    }
    if (sum == 0xdeadbeefu) fputs("", stderr); /* every byte read (ASan checks the mapping) */
    (void)vg_st_metadata(f, "format");
    (void)vg_st_check_all_used(f);
    vg_st_close(f);
    return 0;
}
