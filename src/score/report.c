/* report.c - `vidgen score` output: a human-readable table, two clips side by side, and a
 * JSON object per clip (each metric: raw value(s) and a 0..1 score, higher is better).
 * No reference; the field names are documented in the README (Scoring). */
#include <math.h>
#include <string.h>
#include "vidgen/score.h"

typedef struct { const char *name; const char *raw_name; double raw, score; } row;

static int rows_of(row *r, const vg_score_report *s) {
    int n = 0;
    r[n++] = (row){"temporal flickering", "mean |dI|", s->flicker_mae, s->flicker_score};
    r[n++] = (row){"lighting flicker", "rms d2 luma", s->light_d2_rms, s->light_score};
    r[n++] = (row){"background stability", "jitter", s->bg_jitter, s->bg_score};
    r[n++] = (row){"warping error", "E_warp", s->warp_err, s->warp_score};
    r[n++] = (row){"identity", "kept frac", s->id_frac, s->id_frac};
    r[n++] = (row){"motion smoothness", "jitter px", s->jitter_px, s->smooth_score};
    r[n++] = (row){"pop events", "events", (double)s->n_events, s->events_score};
    r[n++] = (row){"dynamic degree", "top5% flow", s->dyn_max_rad, s->dyn_score};
    return n;
}

void vg_score_print(FILE *fp, const char *name, const vg_score_report *s, const vg_judge_result *j) {
    row r[8];
    int n = rows_of(r, s);
    fprintf(fp, "%s: %lld frames %lldx%lld\n", name ? name : "clip", (long long)s->f, (long long)s->w, (long long)s->h);
    fprintf(fp, "  %-22s %-12s %10s %7s\n", "metric", "raw", "value", "score");
    for (int i = 0; i < n; i++)
        fprintf(fp, "  %-22s %-12s %10.4f %7.4f\n", r[i].name, r[i].raw_name, r[i].raw, r[i].score);
    fprintf(fp, "  static clip (VBench filter): %s; dynamic (VBench): %s (%.0f%% of pairs over %.2f px, need %d)\n",
            s->is_static ? "yes" : "no", s->dynamic ? "yes" : "no", 100 * s->dyn_frac, s->dyn_thres, s->dyn_count_num);
    fprintf(fp, "  background: drift %.3f, histogram consistency %.4f; interpolation %.4f; objects %d; "
            "colour dE max %.1f\n", s->bg_drift, s->bg_hist, s->interp_score, s->n_objects, s->id_max_de);
    for (int i = 0; i < s->n_events_stored; i++) {
        const vg_event *e = &s->events[i];
        fprintf(fp, "  event: %s at frame %lld (%.1f, %.1f)", vg_event_name(e->kind), (long long)e->frame, e->x, e->y);
        if (e->kind == VG_EV_JUMP) fprintf(fp, ", %.1f px off the predicted path", e->size);
        fprintf(fp, "\n");
    }
    if (s->n_events > s->n_events_stored)
        fprintf(fp, "  (%lld more events)\n", (long long)(s->n_events - s->n_events_stored));
    if (s->n_wraps)
        fprintf(fp, "  wrap-around: %lld time%s an object left at one border and came back at the opposite one\n",
                (long long)s->n_wraps, s->n_wraps > 1 ? "s" : "");
    if (s->seam_at > 0)
        fprintf(fp, "  seam after the %lld given frames (into frame index %lld): %s; |dI| %.2f = %.2fx the 90th percentile of the "
                "other pairs (%.2f), warp %.5f = %.2fx (%.5f), %d events there (at most %d at another frame); "
                "a jump is |dI| over %.2fx and above every other pair, or more events than elsewhere\n",
                (long long)s->seam_at, (long long)s->seam_at, s->seam_ok ? "no jump" : "JUMP", s->seam_pix,
                s->seam_pix_ratio, s->seam_pix_p90, s->seam_warp, s->seam_warp_ratio, s->seam_warp_p90, s->seam_events,
                s->seam_events_max_other, VG_SEAM_MAX_RATIO);
    if (j) {
        fprintf(fp, "  prompt adherence %.3f (%s)\n", j->adherence, j->mnist ? "Moving MNIST" : "shape world");
        for (int i = 0; i < j->n_checks; i++)
            fprintf(fp, "    %-10s %-5s expected %-16s found %s\n", j->checks[i].what, j->checks[i].ok ? "ok" : "WRONG",
                    j->checks[i].expected, j->checks[i].found);
    }
}

void vg_score_print_compare(FILE *fp, const char *na, const vg_score_report *a, const char *nb, const vg_score_report *b) {
    row ra[8], rb[8];
    int n = rows_of(ra, a);
    rows_of(rb, b);
    fprintf(fp, "  %-22s %-12s %21s %21s\n", "metric", "raw", na, nb);
    fprintf(fp, "  %-22s %-12s %10s %10s %10s %10s\n", "", "", "value", "score", "value", "score");
    for (int i = 0; i < n; i++)
        fprintf(fp, "  %-22s %-12s %10.4f %10.4f %10.4f %10.4f%s\n", ra[i].name, ra[i].raw_name, ra[i].raw, ra[i].score,
                rb[i].raw, rb[i].score, rb[i].score > ra[i].score + 1e-9 ? "  <" : ra[i].score > rb[i].score + 1e-9 ? "  >" : "");
}

static void num(FILE *fp, const char *key, double v, bool comma) {
    if (isfinite(v)) fprintf(fp, "\"%s\": %.6g%s", key, v, comma ? ", " : "");
    else fprintf(fp, "\"%s\": null%s", key, comma ? ", " : "");
}

static void str(FILE *fp, const char *s) {
    fputc('"', fp);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(fp, "\\%c", c);
        else if (c < 0x20) fprintf(fp, "\\u%04x", c);
        else fputc(c, fp);
    }
    fputc('"', fp);
}

char *vg_score_json(const char *name, const vg_score_report *s, const vg_judge_result *j) {
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp) return NULL;
    fprintf(fp, "{\"clip\": ");
    str(fp, name ? name : "");
    fprintf(fp, ", \"frames\": %lld, \"height\": %lld, \"width\": %lld, \"metrics\": {\n", (long long)s->f, (long long)s->h, (long long)s->w);
    fprintf(fp, "  \"temporal_flickering\": {");
    num(fp, "raw", s->flicker_mae, 1); num(fp, "score", s->flicker_score, 1);
    fprintf(fp, "\"static\": %s},\n", s->is_static ? "true" : "false");
    fprintf(fp, "  \"lighting_flicker\": {"); num(fp, "raw", s->light_d2_rms, 1); num(fp, "score", s->light_score, 0); fprintf(fp, "},\n");
    fprintf(fp, "  \"background_stability\": {"); num(fp, "jitter", s->bg_jitter, 1); num(fp, "drift", s->bg_drift, 1);
    num(fp, "hist_consistency", s->bg_hist, 1); num(fp, "score", s->bg_score, 0); fprintf(fp, "},\n");
    fprintf(fp, "  \"warping_error\": {"); num(fp, "raw", s->warp_err, 1); num(fp, "score", s->warp_score, 0); fprintf(fp, "},\n");
    fprintf(fp, "  \"identity\": {\"objects\": %d, ", s->n_objects); num(fp, "raw", s->id_frac, 1);
    num(fp, "max_delta_e", s->id_max_de, 1); num(fp, "area_dev", s->id_area_dev, 1); num(fp, "shape_dev", s->id_shape_dev, 1);
    num(fp, "score", s->id_frac, 0); fprintf(fp, "},\n");
    fprintf(fp, "  \"motion_smoothness\": {"); num(fp, "jitter_px", s->jitter_px, 1); num(fp, "interp_score", s->interp_score, 1);
    num(fp, "score", s->smooth_score, 0); fprintf(fp, "},\n");
    fprintf(fp, "  \"pop_events\": {\"raw\": %lld, \"wraps\": %lld, ", (long long)s->n_events, (long long)s->n_wraps);
    num(fp, "score", s->events_score, 1);
    fprintf(fp, "\"events\": [");
    for (int i = 0; i < s->n_events_stored; i++) {
        const vg_event *e = &s->events[i];
        fprintf(fp, "%s{\"kind\": \"%s\", \"frame\": %lld, \"track\": %d, ", i ? ", " : "", vg_event_name(e->kind), (long long)e->frame, e->track);
        num(fp, "x", e->x, 1); num(fp, "y", e->y, 1); num(fp, "size", e->size, 0); fprintf(fp, "}");
    }
    fprintf(fp, "]},\n");
    fprintf(fp, "  \"dynamic_degree\": {"); num(fp, "raw", s->dyn_max_rad, 1); num(fp, "frac", s->dyn_frac, 1);
    num(fp, "thres", s->dyn_thres, 1);
    fprintf(fp, "\"count_num\": %d, \"dynamic\": %s, ", s->dyn_count_num, s->dynamic ? "true" : "false");
    num(fp, "score", s->dyn_score, 0); fprintf(fp, "}");
    if (s->seam_at > 0) {
        fprintf(fp, ",\n  \"seam\": {\"at\": %lld, \"ok\": %s, ", (long long)s->seam_at, s->seam_ok ? "true" : "false");
        num(fp, "pix", s->seam_pix, 1); num(fp, "pix_p90", s->seam_pix_p90, 1); num(fp, "pix_ratio", s->seam_pix_ratio, 1);
        num(fp, "warp", s->seam_warp, 1); num(fp, "warp_p90", s->seam_warp_p90, 1); num(fp, "warp_ratio", s->seam_warp_ratio, 1);
        fprintf(fp, "\"events\": %d, \"events_max_other\": %d}", s->seam_events, s->seam_events_max_other);
    }
    fprintf(fp, "\n}");
    if (j) {
        fprintf(fp, ",\n\"judge\": {\"kind\": \"%s\", ", j->mnist ? "mnist" : "shapes");
        num(fp, "adherence", j->adherence, 1);
        fprintf(fp, "\"checks\": [");
        for (int i = 0; i < j->n_checks; i++) {
            fprintf(fp, "%s{\"what\": \"%s\", \"expected\": ", i ? ", " : "", j->checks[i].what);
            str(fp, j->checks[i].expected);
            fprintf(fp, ", \"found\": ");
            str(fp, j->checks[i].found);
            fprintf(fp, ", \"ok\": %s}", j->checks[i].ok ? "true" : "false");
        }
        fprintf(fp, "]}");
    }
    fprintf(fp, "}");
    if (fclose(fp) != 0) { free(buf); return NULL; }
    return buf;
}
