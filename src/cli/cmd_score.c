/* cmd_score.c - `vidgen score`: metrics for a PNG-sequence clip, two clips side by side, or
 * every clip of a folder (per-clip rows and the mean). Library: include/vidgen/score.h.
 *   vidgen score DIR [--prompt TEXT] [--json FILE] [--fps N] [--seam N]
 *   vidgen score --compare A B [--json FILE] [--fps N]
 * A clip is the PNG files of DIR in name order ([F][H][W][3] after decoding). Exit 0 ok, 1 runtime, 2 usage. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "vidgen/data.h"
#include "vidgen/io.h"
#include "vidgen/score.h"

/* The messages go through cli_error (one "vidgen: error: ..." / "hint: ..." printer). */
static int usage_error(const char *msg, const char *arg) {
    return cli_error(CLI_USAGE, "vidgen score DIR [--prompt TEXT] [--json FILE] [--fps N] | vidgen score --compare A B",
                     "%s%s%s", msg, arg ? ": " : "", arg ? arg : "");
}

static int runtime_error(const char *what) { return cli_error(CLI_RUNTIME, NULL, "%s: %s", what, vg_last_error()); }

static int bad_prompt_error(void) {
    return cli_error(CLI_USAGE, "captions look like 'a big red ball moving left on a blue background, getting darker' "
                                "or 'the digits 3 and 8 bouncing'", "--prompt: %s", vg_last_error());
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool ends_png(const char *n) {
    size_t l = strlen(n);
    return l > 4 && strcasecmp(n + l - 4, ".png") == 0;
}

/* Sorted names in dir (caller frees each and the array): PNG files, or sub-directories. */
static vg_status list_dir(const char *dir, bool want_dirs, char ***out, int *n) {
    *out = NULL; *n = 0;
    DIR *d = opendir(dir);
    if (!d) return vg_fail(VG_ERR_IO, "%s: cannot open directory (%s)", dir, strerror(errno));
    char **v = NULL;
    int cap = 0, k = 0;
    struct dirent *e;
    vg_status st = VG_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (want_dirs ? !S_ISDIR(sb.st_mode) : !(S_ISREG(sb.st_mode) && ends_png(e->d_name))) continue;
        if (k == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = realloc(v, (size_t)cap * sizeof(*v));
            if (!nv) { st = vg_fail(VG_ERR_OOM, "%s: listing", dir); break; }
            v = nv;
        }
        if (!(v[k] = strdup(e->d_name))) { st = vg_fail(VG_ERR_OOM, "%s: listing", dir); break; }
        k++;
    }
    closedir(d);
    if (st != VG_OK) { for (int i = 0; i < k; i++) free(v[i]); free(v); return st; }
    if (k) qsort(v, (size_t)k, sizeof(*v), cmp_str);
    *out = v; *n = k;
    return VG_OK;
}

static void free_list(char **v, int n) { for (int i = 0; i < n; i++) free(v[i]); free(v); }

/* Reads the PNG files of dir in name order into *clip [F][H][W][3] (caller frees). */
static vg_status read_clip(const char *dir, uint8_t **clip, int64_t *f, int *h, int *w) {
    char **names;
    int n;
    *clip = NULL;
    vg_status st = list_dir(dir, false, &names, &n);
    if (st != VG_OK) return st;
    /* a vidgen output folder: only frame_NNNN.png (not sheet.png or other pictures beside them) */
    int nf = 0;
    for (int i = 0; i < n; i++) nf += strncmp(names[i], "frame_", 6) == 0;
    if (nf > 0 && nf < n) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (strncmp(names[i], "frame_", 6) == 0) names[k++] = names[i];
            else free(names[i]);
        }
        n = k;
    }
    if (n < 2) { free_list(names, n); return vg_fail(VG_ERR_FORMAT, "%s: %d PNG frames, expected at least 2", dir, n); }
    uint8_t *c = NULL;
    for (int i = 0; i < n && st == VG_OK; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        uint8_t *rgb;
        int fw, fh;
        st = vg_png_read(path, &rgb, &fw, &fh);
        if (st != VG_OK) break;
        if (i == 0) {
            *w = fw; *h = fh;
            c = malloc((size_t)n * (size_t)fw * (size_t)fh * 3);
            if (!c) st = vg_fail(VG_ERR_OOM, "%s: %d frames of %dx%d", dir, n, fw, fh);
        } else if (fw != *w || fh != *h) {
            st = vg_fail(VG_ERR_FORMAT, "%s: frame %dx%d, expected %dx%d like %s", path, fw, fh, *w, *h, names[0]);
        }
        if (st == VG_OK) memcpy(c + (size_t)i * (size_t)fw * (size_t)fh * 3, rgb, (size_t)fw * (size_t)fh * 3);
        free(rgb);
    }
    free_list(names, n);
    if (st != VG_OK) { free(c); return st; }
    *clip = c; *f = n;
    return VG_OK;
}

static bool has_png(const char *dir) {
    char **v;
    int n;
    if (list_dir(dir, false, &v, &n) != VG_OK) return false;
    free_list(v, n);
    return n > 0;
}

/* DIR/vidgen.json parsed, or NULL. */
static cJSON *clip_meta(const char *dir) {
    char p[4200];
    snprintf(p, sizeof(p), "%s/vidgen.json", dir);
    return cli_read_json(p);
}

/* Where the prompt a clip is judged against comes from. A --prompt that fits no grammar is a
 * usage error; a caption or a clip's own prompt that fits none leaves that clip unjudged. */
typedef enum { PROMPT_NONE, PROMPT_FLAG, PROMPT_CAPTION, PROMPT_OWN } prompt_src;

/* Scores one clip directory, reading its vidgen.json once: the seam at its init_count (when
 * opts.seam_at < 0 and init_count < frames) and, for PROMPT_OWN, its prompt. j is filled when
 * the clip was judged (*judged); *bad_prompt when a --prompt fits no grammar. */
static vg_status score_dir(const char *dir, const char *prompt, prompt_src src, const vg_score_opts *o,
                           vg_score_report *r, vg_judge_result *j, bool *judged, bool *bad_prompt) {
    uint8_t *clip;
    int64_t f;
    int h, w;
    *judged = false;
    *bad_prompt = false;
    vg_status st = read_clip(dir, &clip, &f, &h, &w);
    if (st != VG_OK) return st;
    cJSON *meta = clip_meta(dir);
    vg_score_opts oo = *o;
    if (oo.seam_at < 0) { /* not given: the clip's own vidgen.json */
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(meta, "init_count");
        oo.seam_at = cJSON_IsNumber(c) && c->valuedouble >= 1 && c->valuedouble < (double)f ? (int64_t)c->valuedouble : 0;
    }
    if (src == PROMPT_OWN) {
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(meta, "prompt");
        prompt = cJSON_IsString(mp) && mp->valuestring[0] ? mp->valuestring : NULL;
    }
    st = vg_score_clip(r, clip, f, h, w, &oo);
    if (st == VG_OK && prompt) {
        st = vg_judge(j, prompt, clip, f, h, w);
        *judged = st == VG_OK;
        if (st == VG_ERR_ARG && src != PROMPT_FLAG) st = VG_OK; /* outside the grammars: scored, not judged */
        *bad_prompt = st == VG_ERR_ARG;
    }
    cJSON_Delete(meta);
    free(clip);
    return st;
}

static int write_json(const char *path, const char *text) {
    if (vg_file_write_atomic(path, text, strlen(text)) != VG_OK) return runtime_error("writing the JSON report");
    return 0;
}

/* Caption of clip `name` from DIR/manifest.jsonl (vidgen dataset's format), or NULL. */
static char *manifest_caption(vg_folder *fo, const char *name) {
    if (!fo) return NULL;
    for (int64_t i = 0; i < vg_folder_count(fo); i++)
        if (strcmp(vg_folder_name(fo, i), name) == 0) return strdup(vg_folder_caption(fo, i));
    return NULL;
}

static void quiet(void *ctx, const char *msg) { (void)ctx; fprintf(stderr, "vidgen: warning: %s\n", msg); }

static int score_folder(const char *dir, const char *prompt, const char *json, const vg_score_opts *o) {
    char **subs;
    int n, rc = 0, done = 0;
    if (list_dir(dir, true, &subs, &n) != VG_OK) return runtime_error(dir);
    char manifest[4096];
    snprintf(manifest, sizeof(manifest), "%s/manifest.jsonl", dir);
    vg_folder *fo = NULL;
    struct stat sb;
    if (!prompt && stat(manifest, &sb) == 0 && vg_folder_open(&fo, dir, 0, 0, 2, quiet, NULL) != VG_OK) fo = NULL;
    double sum[10] = {0};
    int njudged = 0, nseam = 0, nseam_ok = 0, ntally = 0, tally_ok[16], tally_n[16];
    const char *tally_name[16];
    char *jbuf = NULL;
    size_t jlen = 0;
    FILE *jf = json ? open_memstream(&jbuf, &jlen) : NULL;
    if (jf) fprintf(jf, "{\"clips\": [\n");
    printf("%-20s %8s %8s %8s %8s %8s %8s %8s %8s %9s\n", "clip", "flicker", "light", "bg", "warp", "identity",
           "smooth", "events", "dynamic", "adherence");
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
        if (!has_png(path)) continue;
        char *cap = prompt ? NULL : manifest_caption(fo, subs[i]);
        /* --prompt, else the manifest's caption, else (a `vidgen batch` folder) the clip's own prompt */
        prompt_src src = prompt ? PROMPT_FLAG : cap ? PROMPT_CAPTION : PROMPT_OWN;
        vg_score_report r;
        vg_judge_result j;
        bool judged, bad;
        vg_status st = score_dir(path, prompt ? prompt : cap, src, o, &r, &j, &judged, &bad);
        free(cap);
        if (bad) { rc = bad_prompt_error(); break; }
        if (st != VG_OK) { fprintf(stderr, "vidgen: error: %s: %s\n", path, vg_last_error()); rc = 1; continue; }
        double v[10] = {r.flicker_score, r.light_score, r.bg_score, r.warp_score, r.id_frac, r.smooth_score,
                        r.events_score, r.dyn_score, judged ? j.adherence : 0};
        for (int k = 0; k < 9; k++) sum[k] += v[k];
        njudged += judged;
        for (int c = 0; judged && c < j.n_checks; c++) {
            int k = 0;
            while (k < ntally && strcmp(tally_name[k], j.checks[c].what) != 0) k++;
            if (k == ntally) {
                if (ntally == 16) continue;
                tally_name[ntally] = j.checks[c].what;
                tally_ok[ntally] = tally_n[ntally] = 0;
                ntally++;
            }
            tally_ok[k] += j.checks[c].ok;
            tally_n[k]++;
        }
        printf("%-20.20s %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f", subs[i], v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
        if (judged) printf(" %9.3f\n", j.adherence); else printf(" %9s\n", "-");
        if (r.seam_at > 0) {
            printf("%-20s seam after %lld frames: %s (|dI| ratio %.2f, warp ratio %.2f, %d events at the join)\n", "",
                   (long long)r.seam_at, r.seam_ok ? "no jump" : "JUMP", r.seam_pix_ratio, r.seam_warp_ratio, r.seam_events);
            nseam++;
            nseam_ok += r.seam_ok;
        }
        if (jf) {
            char *js = vg_score_json(subs[i], &r, judged ? &j : NULL);
            if (js) { fprintf(jf, "%s%s", done ? ",\n" : "", js); free(js); }
        }
        done++;
    }
    if (nseam) printf("seams without a jump: %d of %d\n", nseam_ok, nseam);
    if (done) {
        printf("%-20s", "mean");
        for (int k = 0; k < 8; k++) printf(" %8.4f", sum[k] / done);
        if (njudged) printf(" %9.3f\n", sum[8] / njudged); else printf(" %9s\n", "-");
    }
    if (ntally) {
        printf("right, per attribute:");
        for (int k = 0; k < ntally; k++)
            printf(" %s %d/%d (%.0f%%)%s", tally_name[k], tally_ok[k], tally_n[k], 100.0 * tally_ok[k] / tally_n[k],
                   k + 1 < ntally ? "," : "\n");
    }
    if (jf) {
        const char *keys[8] = {"temporal_flickering", "lighting_flicker", "background_stability", "warping_error",
                               "identity", "motion_smoothness", "pop_events", "dynamic_degree"};
        fprintf(jf, "\n], \"mean\": {");
        for (int k = 0; k < 8; k++) fprintf(jf, "\"%s\": %.6g, ", keys[k], done ? sum[k] / done : 0.0);
        if (njudged) fprintf(jf, "\"adherence\": %.6g, ", sum[8] / njudged);
        for (int k = 0; k < ntally; k++) fprintf(jf, "\"right_%s\": %.6g, ", tally_name[k], (double)tally_ok[k] / tally_n[k]);
        fprintf(jf, "\"clips\": %d}}\n", done);
        fclose(jf);
        if (jbuf && write_json(json, jbuf)) rc = 1;
        free(jbuf);
    }
    if (fo) vg_folder_free(fo);
    free_list(subs, n);
    if (!done && rc != 2) { /* (a --prompt that fits no grammar has been reported: exit 2) */
        fprintf(stderr, "vidgen: error: %s: no PNG frames and no clip folders with PNG frames\n", dir);
        fprintf(stderr, "hint: a clip is a folder of frame_0001.png, frame_0002.png, ...\n");
        return 1;
    }
    return rc;
}

int vg_cmd_score(int argc, char **argv) {
    const char *prompt = NULL, *json = NULL, *dir = NULL, *cmp[2] = {NULL, NULL};
    vg_score_opts o;
    vg_score_opts_default(&o);
    o.seam_at = -1; /* each clip's vidgen.json init_count unless --seam N */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--prompt") == 0 || strcmp(a, "--json") == 0 || strcmp(a, "--fps") == 0 || strcmp(a, "--seam") == 0) {
            if (i + 1 >= argc) return usage_error("missing value after", a);
            const char *v = argv[++i];
            if (a[2] == 'p') prompt = v;
            else if (a[2] == 's') {
                char *end;
                errno = 0;
                long long k = strtoll(v, &end, 10);
                if (errno || end == v || *end || k < 0 || k > 1000000) return usage_error("--seam expects a frame count >= 0", v);
                o.seam_at = k;
            }
            else if (a[2] == 'j') json = v;
            else {
                char *end;
                errno = 0;
                o.fps = strtod(v, &end);
                if (errno || end == v || *end || !(o.fps > 0 && o.fps <= 1000)) return usage_error("--fps expects a number in (0, 1000]", v);
            }
        } else if (strcmp(a, "--compare") == 0) {
            if (i + 2 >= argc) return usage_error("--compare needs two clip folders", NULL);
            cmp[0] = argv[++i];
            cmp[1] = argv[++i];
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("usage: vidgen score DIR [--prompt TEXT] [--json FILE] [--fps N] [--seam N]\n"
                   "       vidgen score --compare A B [--json FILE] [--fps N]\n"
                   "DIR holds PNG frames (one clip) or clip folders (per-clip rows and the mean;\n"
                   "without --prompt each clip is judged against its caption in DIR/manifest.jsonl or\n"
                   "the prompt in its own vidgen.json; the summary counts right attributes).\n"
                   "--fps (default 8) sets VBench's dynamic-degree threshold factor max(1, 8/fps).\n"
                   "--seam N checks the join after the first N frames (a clip continued with --init-frames;\n"
                   "by default N is the init_count of the clip's vidgen.json; --seam 0: no check).\n");
            return 0;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option", a);
        } else if (!dir) {
            dir = a;
        } else {
            return usage_error("more than one clip folder (use --compare A B)", a);
        }
    }
    if (cmp[0]) {
        if (dir) return usage_error("--compare takes exactly two folders; extra argument", dir);
        vg_score_report r[2];
        vg_judge_result j[2];
        bool judged[2], bad;
        for (int k = 0; k < 2; k++)
            if (score_dir(cmp[k], prompt, prompt ? PROMPT_FLAG : PROMPT_NONE, &o, &r[k], &j[k], &judged[k], &bad) != VG_OK)
                return bad ? bad_prompt_error() : runtime_error(cmp[k]);
        vg_score_print_compare(stdout, cmp[0], &r[0], cmp[1], &r[1]);
        if (judged[0] && judged[1]) printf("  %-35s %21.3f %21.3f\n", "prompt adherence", j[0].adherence, j[1].adherence);
        if (json) {
            char *a = vg_score_json(cmp[0], &r[0], judged[0] ? &j[0] : NULL), *b = vg_score_json(cmp[1], &r[1], judged[1] ? &j[1] : NULL);
            int rc = 1;
            if (a && b) {
                size_t n = strlen(a) + strlen(b) + 32;
                char *t = malloc(n);
                if (t) { snprintf(t, n, "{\"a\": %s,\n\"b\": %s}\n", a, b); rc = write_json(json, t); free(t); }
            }
            free(a); free(b);
            return rc;
        }
        return 0;
    }
    if (!dir) return usage_error("no clip folder given", NULL);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "vidgen: error: %s: not a directory\n", dir);
        return 1;
    }
    if (!has_png(dir)) return score_folder(dir, prompt, json, &o);
    vg_score_report r;
    vg_judge_result j;
    bool judged, bad;
    vg_status st = score_dir(dir, prompt, prompt ? PROMPT_FLAG : PROMPT_OWN, &o, &r, &j, &judged, &bad);
    if (st != VG_OK) return bad ? bad_prompt_error() : runtime_error(dir);
    vg_score_print(stdout, dir, &r, judged ? &j : NULL);
    if (json) {
        char *t = vg_score_json(dir, &r, judged ? &j : NULL);
        if (!t) { fprintf(stderr, "vidgen: error: out of memory writing JSON\n"); return 1; }
        int rc = write_json(json, t);
        free(t);
        return rc;
    }
    return 0;
}
