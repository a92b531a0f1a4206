/* score.h - `vidgen score`: reference-free quality metrics for a short clip, and a
 * prompt-adherence judge for shape-world / Moving MNIST captions.
 * References: VBench (Huang et al. 2024; vbench/temporal_flickering.py, dynamic_degree.py,
 * cli/static_filter.py, background_consistency.py) for the formulas we mirror; Lai et al. 2018
 * (warping error) and Sundaram et al. 2010 (forward-backward occlusion check).
 * Layout: a clip is uint8 RGB [F][H][W][3], rows top to bottom. Flow is float [H][W][2] (dx, dy).
 * Legend: F frames, H W height width, T tracks, E events. */
#ifndef VIDGEN_SCORE_H
#define VIDGEN_SCORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "vidgen/status.h"

/* ---- optical flow (src/score/flow.c) -------------------------------------------------- */

/* Pyramidal dense Lucas-Kanade with iterative warping. levels <= 0 picks as many as fit. */
typedef struct {
    int levels;    /* pyramid levels (coarsest side >= 8 px) */
    int iters;     /* warping iterations per level */
    int radius;    /* LK window radius (window (2r+1)^2, Gaussian-weighted) */
    float reg;     /* Tikhonov term added to the structure tensor (grey levels^2) */
} vg_flow_opts;
void vg_flow_opts_default(vg_flow_opts *o);

/* Luma (Rec.601, 0..255) of n RGB pixels. */
void vg_rgb_to_gray(float *gray, const uint8_t *rgb, int64_t n);

/* flow[H][W][2] such that a(x) ~ b(x + flow(x)). a, b: [H][W] grey. Allocates its own
 * scratch (once per call). VG_ERR_ARG on bad sizes, VG_ERR_OOM. */
vg_status vg_flow(float *flow, const float *a, const float *b, int64_t h, int64_t w,
                  const vg_flow_opts *o);
/* The same with caller scratch of vg_flow_scratch_floats(h, w) floats (for parallel loops). */
size_t vg_flow_scratch_floats(int64_t h, int64_t w);
void vg_flow_ws(float *flow, const float *a, const float *b, int64_t h, int64_t w,
                const vg_flow_opts *o, float *scratch);

/* Forward-backward check (Sundaram et al. 2010): valid[x] = 1 when
 * |f(x) + g(x + f(x))|^2 <= 0.01 (|f|^2 + |g(x+f)|^2) + 0.5 and x + f(x) lies inside.
 * fwd: a->b flow, bwd: b->a flow, both [H][W][2]. Returns the count of valid pixels. */
int64_t vg_flow_occlusion(uint8_t *valid, const float *fwd, const float *bwd, int64_t h, int64_t w);

/* Bilinear sample of channel-interleaved img [H][W][C] at (x, y), edges clamped. */
void vg_sample_bilinear(float *out, const float *img, int64_t h, int64_t w, int c, float x, float y);

/* ---- segmentation and tracking (src/score/track.c) ----------------------------------- */

enum { VG_SCORE_MAX_OBJ = 16, VG_SCORE_MAX_EVENTS = 64 };

typedef struct {
    float cx, cy;          /* centroid, pixels */
    float area;            /* pixels */
    float lab[3];          /* mean colour, CIE Lab (D65), after the frame's gain normalisation */
    float rgb[3];          /* mean sRGB 0..255, as rendered */
    float extent;          /* area / bounding-box area: disc 0.785, square 1, triangle 0.5 */
    float compact;         /* area / (2 pi trace(cov)): disc 1, square 0.955, triangle 0.827 */
    int x0, y0, x1, y1;    /* bounding box, inclusive */
    bool border;           /* touches the frame edge */
    int track;             /* track id (index into vg_tracks), -1 none */
} vg_object;

/* WRAP: an object that leaves at one border and comes back at the opposite one (a torus, not a
 * wall): a track last seen touching a border and a track that starts touching the opposite
 * border within VG_WRAP_FRAMES frames, same colour, at the same height (or column); or one object
 * cut in two by opposite borders (two same-colour parts, one on each, overlapping across the
 * axis), counted at the first frame of such a run after a frame where it touched one border only. */
typedef enum { VG_EV_JUMP, VG_EV_BIRTH, VG_EV_DEATH, VG_EV_MERGE, VG_EV_SPLIT, VG_EV_WRAP } vg_event_kind;
#define VG_WRAP_FRAMES 3
typedef struct {
    vg_event_kind kind;
    int64_t frame;         /* the frame where it is first seen */
    int track;
    float x, y;            /* where, pixels */
    float size;            /* jump: distance from the predicted position, pixels */
} vg_event;
const char *vg_event_name(vg_event_kind k);

typedef struct {
    int64_t f, h, w;
    float *bg_rgb;              /* [F][3] background colour (mode), sRGB 0..255 */
    float *gain;                /* [F] linear-light gain of frame t relative to frame 0 */
    uint8_t *fg;                /* [F][H][W] 1 = foreground (object) pixel */
    int *n_obj;                 /* [F] */
    vg_object *obj;             /* [F][VG_SCORE_MAX_OBJ] */
    int n_tracks;               /* tracks ever started */
    int *track_first;           /* [VG_SCORE_MAX_OBJ * 4] first frame of each track */
    int n_events;
    vg_event events[VG_SCORE_MAX_EVENTS];
    int64_t n_events_total;     /* events found, including those not stored */
} vg_tracks;

/* Segments every frame (background = the modal colour; foreground = pixels far from it),
 * labels 8-connected components, tracks them and records pop events. clip [F][H][W][3] is
 * borrowed. Caller frees with vg_tracks_free. VG_ERR_ARG, VG_ERR_OOM. */
vg_status vg_tracks_build(vg_tracks *t, const uint8_t *clip, int64_t f, int64_t h, int64_t w);
void vg_tracks_free(vg_tracks *t);

/* sRGB 0..255 -> CIE Lab (D65). */
void vg_srgb_to_lab(float lab[3], const float rgb[3]);

/* ---- metrics (src/score/metrics.c) --------------------------------------------------- */

typedef struct {
    double fps;                 /* frame rate for VBench's dynamic-degree threshold (default 8) */
    int64_t seam_at;            /* > 0: the first frame after a join (--init-frames): report the seam */
    vg_flow_opts flow;
} vg_score_opts;
void vg_score_opts_default(vg_score_opts *o);

typedef struct {
    int64_t f, h, w;
    /* each metric: raw value(s) and a 0..1 score, higher is better */
    double flicker_mae, flicker_score;      /* VBench temporal_flickering */
    bool is_static;                         /* VBench static filter (with our flow) */
    double light_d2_rms, light_score;       /* lighting flicker */
    double bg_jitter, bg_drift, bg_hist, bg_score;
    double warp_err, warp_score;
    int n_objects;                          /* at frame 0 */
    double id_frac, id_max_de, id_area_dev, id_shape_dev;
    double jitter_px, interp_score, smooth_score;
    int64_t n_events;
    double events_score;
    int64_t n_wraps;                        /* VG_EV_WRAP among the events */
    double dyn_max_rad, dyn_frac;           /* mean top-5% flow magnitude, fraction of pairs over thres */
    double dyn_thres;
    int dyn_count_num;
    bool dynamic;
    double dyn_score;
    double static_top2;                     /* mean top-2% flow magnitude (static filter) */
    vg_event events[VG_SCORE_MAX_EVENTS];
    int n_events_stored;
    /* seam at the join seam_at-1 -> seam_at (opts.seam_at > 0): each measure at the join over
     * the 90th percentile of the same measure on every other consecutive pair (floored at 0.5
     * grey levels and 0.01 RMS warp error, so a still clip does not divide by ~0) */
    int64_t seam_at;
    double seam_pix, seam_pix_p90, seam_pix_ratio;      /* mean |dI| (0..255) */
    double seam_warp, seam_warp_p90, seam_warp_ratio;   /* RMS warping error of the pair (sqrt E_warp) */
    int seam_events, seam_events_max_other;             /* pop events first seen at seam_at; most at another frame */
    bool seam_ok;               /* no jump: |dI| not both above VG_SEAM_MAX_RATIO x its p90 and above every
                                 * other pair, and seam_events <= seam_events_max_other (the warp ratio is
                                 * reported only: on smooth textured clips it wanders by 1.3x) */
} vg_score_report;
#define VG_SEAM_MAX_RATIO 1.25

/* Individual metrics on clip [F][H][W][3] (borrowed). */
double vg_score_flicker_mae(const uint8_t *clip, int64_t f, int64_t h, int64_t w);
double vg_score_light_d2(const uint8_t *clip, int64_t f, int64_t h, int64_t w);
/* VBench consistency: mean over t >= 1 of (max(0,cos(x_t,x_{t-1})) + max(0,cos(x_t,x_0))) / 2;
 * feat [F][D]. 1 when F < 2. */
double vg_score_consistency(const float *feat, int64_t f, int64_t d);
/* VBench's round(): half to even. */
int vg_round_half_even(double x);

/* All metrics. clip [F][H][W][3] borrowed; F >= 2. VG_ERR_ARG, VG_ERR_OOM. */
vg_status vg_score_clip(vg_score_report *r, const uint8_t *clip, int64_t f, int64_t h, int64_t w,
                        const vg_score_opts *o);

/* ---- prompt judge (src/score/judge.c) ------------------------------------------------ */

enum { VG_JUDGE_MAX_CHECKS = 8 };
typedef struct {
    const char *what;       /* "colour", "shape", "size", "background", "motion", "lighting", "count" */
    char expected[32];
    char found[32];
    bool ok;
} vg_judge_check;
typedef struct {
    bool mnist;             /* the prompt was a Moving MNIST caption */
    int n_checks;
    vg_judge_check checks[VG_JUDGE_MAX_CHECKS];
    double adherence;       /* fraction of checks right */
} vg_judge_result;

/* Parses prompt (shape-world or Moving MNIST caption) and reads the same attributes off the
 * clip. VG_ERR_ARG if the prompt fits neither grammar (message names the word). */
vg_status vg_judge(vg_judge_result *r, const char *prompt, const uint8_t *clip, int64_t f,
                   int64_t h, int64_t w);

/* ---- reports (src/score/report.c) ---------------------------------------------------- */

/* Human-readable report to fp; judge may be NULL. */
void vg_score_print(FILE *fp, const char *name, const vg_score_report *r, const vg_judge_result *j);
/* Two reports side by side. */
void vg_score_print_compare(FILE *fp, const char *na, const vg_score_report *a,
                            const char *nb, const vg_score_report *b);
/* JSON object for one clip (malloc'd, caller frees); NULL on OOM. */
char *vg_score_json(const char *name, const vg_score_report *r, const vg_judge_result *j);

#endif
