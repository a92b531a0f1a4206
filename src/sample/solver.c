/* solver.c - Wan's flow-matching schedule (wan/utils/fm_solvers_unipc.py: set_timesteps with shift),
 * few-step schedules from published timestep / sigma lists, and three solvers: Euler
 * (x += (s_{i+1}-s_i) v), UniPC (bh2, order 2, predict x0, lower_order_final), per WAN.md
 * §4.3-4.4, and DMD (x0 = x - s v, renoised with fresh noise to the next sigma; the few-step
 * distilled models' sampler, see sample.h). Arithmetic in double per element; n elements. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vidgen/rng.h"
#include "vidgen/sample.h"

void vg_schedule_wan(float *sigmas, int64_t *timesteps, int n, double shift) {
    const double smax = (double)(float)0.999; /* 1 - 1/1000 stored as float32, as the official table */
    for (int i = 0; i < n; i++) {
        double s = smax * (1.0 - (double)i / n);
        s = shift * s / (1.0 + (shift - 1.0) * s);
        sigmas[i] = (float)s;
        if (timesteps) timesteps[i] = (int64_t)(s * 1000.0);
    }
    sigmas[n] = 0.0f;
}

vg_status vg_schedule_from_timesteps(float *sigmas, const double *t, int n, double shift, int warp) {
    if (n < 1) return vg_fail(VG_ERR_ARG, "timesteps: the list is empty");
    if (warp && !(shift > 0)) return vg_fail(VG_ERR_ARG, "timesteps: the warp needs a positive shift (got %g)", shift);
    for (int i = 0; i < n; i++) {
        if (!(t[i] > 0 && t[i] <= 1000))
            return vg_fail(VG_ERR_ARG, "timesteps: entry %d is %g; each must be in (0, 1000]", i + 1, t[i]);
        if (i && !(t[i] < t[i - 1]))
            return vg_fail(VG_ERR_ARG, "timesteps: entry %d (%g) is not below the one before (%g); the list must decrease", i + 1, t[i], t[i - 1]);
        double s = t[i] / 1000.0;
        if (warp) s = shift * s / (1.0 + (shift - 1.0) * s);
        sigmas[i] = (float)s;
    }
    sigmas[n] = 0.0f;
    return VG_OK;
}

vg_status vg_schedule_from_sigmas(float *sigmas, const double *s, int n) {
    if (n < 1) return vg_fail(VG_ERR_ARG, "sigmas: the list is empty");
    for (int i = 0; i < n; i++) {
        if (!(s[i] > 0 && s[i] <= 1)) return vg_fail(VG_ERR_ARG, "sigmas: entry %d is %g; each must be in (0, 1]", i + 1, s[i]);
        if (i && !(s[i] < s[i - 1]))
            return vg_fail(VG_ERR_ARG, "sigmas: entry %d (%g) is not below the one before (%g); the list must decrease", i + 1, s[i], s[i - 1]);
        sigmas[i] = (float)s[i];
    }
    sigmas[n] = 0.0f;
    return VG_OK;
}

int vg_parse_number_list(const char *s, double *out, int cap) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        while (*p == ' ') p++;
        double v = strtod(p, &end);
        if (end == p || n >= cap || !isfinite(v)) return -1;
        out[n++] = v;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') { p++; if (!*p) return -1; }
        else if (*p) return -1;
    }
    return n ? n : -1;
}

int vg_sampler_from_name(const char *s, vg_sampler *out) {
    if (strcmp(s, "euler") == 0) { *out = VG_SAMPLER_EULER; return 1; }
    if (strcmp(s, "unipc") == 0) { *out = VG_SAMPLER_UNIPC; return 1; }
    if (strcmp(s, "dmd") == 0) { *out = VG_SAMPLER_DMD; return 1; }
    return 0;
}

const char *vg_sampler_name(vg_sampler s) {
    return s == VG_SAMPLER_UNIPC ? "unipc" : s == VG_SAMPLER_DMD ? "dmd" : "euler";
}

struct vg_solver {
    vg_sampler kind;
    int steps;
    int64_t n;
    double *sig;         /* [steps+1] */
    float *m_prev, *m_prev2, *x_prev, *m_cur; /* UniPC history: x0 preds, the sample given to the last predictor */
    int last_order;
    uint64_t seed;       /* DMD noise */
};

vg_status vg_solver_new(vg_solver **out, vg_sampler kind, const float *sigmas, int steps, int64_t n) {
    vg_solver *s = calloc(1, sizeof(*s));
    if (!s) return vg_fail(VG_ERR_OOM, "solver: out of memory");
    s->kind = kind; s->steps = steps; s->n = n;
    s->sig = malloc(sizeof(double) * (size_t)(steps + 1));
    if (kind == VG_SAMPLER_UNIPC) {
        s->m_prev = malloc(sizeof(float) * (size_t)n); s->m_prev2 = malloc(sizeof(float) * (size_t)n);
        s->x_prev = malloc(sizeof(float) * (size_t)n); s->m_cur = malloc(sizeof(float) * (size_t)n);
    }
    if (!s->sig || (kind == VG_SAMPLER_UNIPC && (!s->m_prev || !s->m_prev2 || !s->x_prev || !s->m_cur))) {
        vg_solver_free(s);
        return vg_fail(VG_ERR_OOM, "solver: out of memory for %lld elements", (long long)n);
    }
    for (int i = 0; i <= steps; i++) s->sig[i] = sigmas[i];
    *out = s;
    return VG_OK;
}

void vg_solver_set_seed(vg_solver *s, uint64_t seed) { s->seed = seed; }

void vg_solver_free(vg_solver *s) {
    if (!s) return;
    free(s->sig); free(s->m_prev); free(s->m_prev2); free(s->x_prev); free(s->m_cur);
    free(s);
}

static double lam(double sg) { return sg <= 0 ? INFINITY : log(1.0 - sg) - log(sg); }

void vg_solver_step(vg_solver *s, int i, float *x, const float *v) {
    const int64_t n = s->n;
    const double si = s->sig[i], sn = s->sig[i + 1];
    if (s->kind == VG_SAMPLER_EULER) {
        for (int64_t j = 0; j < n; j++) x[j] = (float)(x[j] + (sn - si) * v[j]);
        return;
    }
    if (s->kind == VG_SAMPLER_DMD) {
        const uint64_t seed = s->seed, stream = VG_DMD_STREAM + (uint64_t)i;
        #pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t j = 0; j < n; j++) {
            double x0 = x[j] - si * (double)v[j];
            x[j] = sn <= 0 ? (float)x0 : (float)((1.0 - sn) * x0 + sn * (double)vg_philox_normal(seed, stream, (uint64_t)j));
        }
        return;
    }
    /* UniPC. m_i = x_i - s_i v_i */
    for (int64_t j = 0; j < n; j++) s->m_cur[j] = (float)(x[j] - si * v[j]);
    double ai = 1.0 - si, li = lam(si);
    if (i > 0) { /* corrector with the new model output */
        double sp = s->sig[i - 1], lp = lam(sp), h = li - lp, phi = expm1(-h), Bh = phi;
        double ratio = si / sp;
        if (s->last_order == 1) {
            for (int64_t j = 0; j < n; j++) {
                double base = ratio * s->x_prev[j] - ai * phi * s->m_prev[j];
                x[j] = (float)(base - ai * Bh * 0.5 * (s->m_cur[j] - s->m_prev[j]));
            }
        } else {
            double lpp = lam(s->sig[i - 2]), r = (lpp - lp) / h;
            double k0 = phi / (-h) - 1.0, b0 = k0 / Bh, k1 = k0 / (-h) - 0.5, b1 = 2.0 * k1 / Bh;
            /* [[1,1],[r,1]] rho = [b0,b1] */
            double rho0 = (b0 - b1) / (1.0 - r), rho1 = b0 - rho0;
            for (int64_t j = 0; j < n; j++) {
                double base = ratio * s->x_prev[j] - ai * phi * s->m_prev[j];
                double D = (s->m_prev2[j] - s->m_prev[j]) / r;
                x[j] = (float)(base - ai * Bh * (rho0 * D + rho1 * (s->m_cur[j] - s->m_prev[j])));
            }
        }
    }
    /* predictor */
    int order = s->steps - i < 2 ? s->steps - i : 2;
    if (i + 1 < order) order = i + 1;
    double an = 1.0 - sn;
    memcpy(s->x_prev, x, sizeof(float) * (size_t)n);
    if (sn <= 0) {
        memcpy(x, s->m_cur, sizeof(float) * (size_t)n); /* phi = -1: x_N = m */
    } else {
        double ln = lam(sn), h = ln - li, phi = expm1(-h), Bh = phi, ratio = sn / si;
        double r = order == 2 ? (lam(s->sig[i - 1]) - li) / h : 0;
        for (int64_t j = 0; j < n; j++) {
            double xn = ratio * s->x_prev[j] - an * phi * s->m_cur[j];
            if (order == 2) xn -= an * Bh * 0.5 * (s->m_prev[j] - s->m_cur[j]) / r;
            x[j] = (float)xn;
        }
    }
    float *t = s->m_prev2; s->m_prev2 = s->m_prev; s->m_prev = s->m_cur; s->m_cur = t;
    s->last_order = order;
}
