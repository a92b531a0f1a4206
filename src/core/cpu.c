/* cpu.c - run-time CPU feature detection (cpuid + xgetbv) and the forced-level switch. */
#include "vidgen/gemm.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static vg_cpu_features g_cpu;
static int g_cpu_done, g_force;

const vg_cpu_features *vg_cpu(void) {
    if (g_cpu_done) return &g_cpu;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        bool osxsave = c & (1u << 27);
        unsigned xcr0 = 0;
        if (osxsave) { unsigned lo, hi; __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0)); xcr0 = lo; }
        bool ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6;
        g_cpu.fma = ymm && (c & (1u << 12));
        g_cpu.f16c = ymm && (c & (1u << 29));
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            g_cpu.avx2 = ymm && (b & (1u << 5));
            g_cpu.avx512f = zmm && (b & (1u << 16));
            g_cpu.avx512bw = zmm && (b & (1u << 30));
            g_cpu.avx512dq = zmm && (b & (1u << 17));
            g_cpu.avx512vl = zmm && (b & (1u << 31));
            g_cpu.avx512vnni = zmm && (c & (1u << 11));
            /* AMX-TILE (edx 24) and AMX-BF16 (edx 22); XCR0 bits 17-18 = tile config and data */
            g_cpu.amx = (d & (1u << 24)) && (d & (1u << 22)) && (xcr0 & 0x60000) == 0x60000;
        }
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) g_cpu.avx512bf16 = g_cpu.avx512f && (a & (1u << 5));
#if defined(__x86_64__) && defined(__linux__)
        /* Linux hands out the 8 KB tile data state only on request (ARCH_REQ_XCOMP_PERM, XTILEDATA) */
        if (g_cpu.amx) g_cpu.amx = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
        g_cpu.amx = false;
#endif
    }
#endif
    g_cpu_done = 1;
    return &g_cpu;
}

void vg_cpu_force_level(int level) { g_force = level; }

int vg_cpu_level(void) {
    const vg_cpu_features *f = vg_cpu();
    int best = (f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl) ? 3 : (f->avx2 && f->fma) ? 2 : 1;
    if (best == 3 && f->avx512bf16 && f->amx) best = 4;
    if (g_force > 0 && g_force < best) return g_force;
    return best;
}
