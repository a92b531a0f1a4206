/* cmd_batch.c - `vidgen batch JOBS --out DIR`: render a set of clips with one model load.
 * JOBS: a JSON array of job objects, an object {"defaults": {...}, "jobs": [...]}, or JSON
 * lines (one job object per line; a line {"defaults": {...}} sets defaults for the lines
 * after it). Settings per job, later wins: model defaults < --config < command-line flags <
 * the file's defaults < the job. Each clip goes to DIR/<name> (the job's "name", else a slug
 * of prompt and seed). Resumable: a folder whose vidgen.json matches the job's effective
 * settings and whose files are all there is skipped; anything else is redone from scratch
 * (gen_render writes vidgen.json last). DIR/batch.json indexes every clip's settings,
 * status and timing and is rewritten atomically after each job. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "gen_common.h"
#include "vidgen/io.h"

static const char *HELP =
    "vidgen batch - render a set of clips with one model load, resumably\n"
    "\n"
    "Usage: vidgen batch JOBS --out DIR [--config FILE] [--dry-run] [setting flags]\n"
    "\n"
    "JOBS is a JSON array of jobs, {\"defaults\": {...}, \"jobs\": [...]}, or a JSON-lines file\n"
    "(one job per line; a line {\"defaults\": {...}} applies to the lines after it). A job holds\n"
    "any setting of `vidgen --help` by its JSON key (prompt, frames, seed, steps, format, fps,\n"
    "sheet, init_frames, ...) and optionally \"name\", its folder under DIR (default: a slug of\n"
    "prompt and seed). Later wins: model defaults < --config < flags < file defaults < job.\n"
    "\n"
    "  vidgen batch jobs.jsonl --out clips/ --model models/tiny\n"
    "  vidgen batch jobs.json --out clips/ --dry-run      what would be rendered, with a time estimate\n"
    "\n"
    "Options:\n"
    "  -o, --out DIR       root folder of the clips and of batch.json (required)\n"
    "      --config FILE   shared settings (JSON object)\n"
    "      --dry-run       list the jobs, their folders and estimated times; render nothing\n"
    "      --overwrite     redo clips whose folder holds a finished clip with other settings\n"
    "  -t, --threads N, -q, --quiet, and any `vidgen` setting flag as a shared default\n"
    "\n"
    "Run the same command again after a crash or kill: finished clips are skipped, partial\n"
    "ones redone. Exit codes: 0 every job done or skipped, 1 some job failed (see the table\n"
    "and batch.json), 2 usage error.\n";

typedef enum { J_PENDING, J_RUNNING, J_DONE, J_SKIPPED, J_FAILED, J_WOULD_RENDER } jstatus;
static const char *const STATUS_NAME[] = {"pending", "running", "done", "skipped", "failed", "would render"};

typedef struct {
    char where[80];         /* "job 3" or "line 5", for messages */
    char name[200];         /* folder under --out */
    gen_settings s;         /* merged settings */
    bool slugged;           /* name made from prompt and seed */
    bool bad;               /* failed before rendering (err holds why) */
    jstatus status;
    gen_err err;
    double seconds, est_seconds;
    int frames;
    cJSON *meta;            /* effective settings once resolved (owned) */
} job;

/* one open model per (folder, LoRA list): jobs with other LoRAs get their own merged copy */
typedef struct { char dir[4096]; char *loras; vg_model m; bool ok; gen_err err; double sec_per_flop; } model_slot;

/* ---- the jobs file ------------------------------------------------------------------ */

static bool name_ok(const char *n) {
    if (!n[0] || n[0] == '.' || strlen(n) > 100) return false;
    for (const char *c = n; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') return false;
    return true;
}

/* "a big red ball ..." seed 3 -> "a-big-red-ball-...-s3" (at most 48 prompt characters) */
static void slug(char *out, size_t n, const char *prompt, uint64_t seed) {
    size_t o = 0;
    bool dash = false;
    for (const char *c = prompt; *c && o < 48; c++) {
        if (isalnum((unsigned char)*c)) {
            if (dash && o) out[o++] = '-';
            out[o++] = (char)tolower((unsigned char)*c);
            dash = false;
        } else dash = true;
    }
    if (!o) out[o++] = 'x';
    snprintf(out + o, n - o, "-s%llu", (unsigned long long)seed);
}

/* Adds one job from JSON object o over base settings. Problems make a failed job, not an abort. */
static void add_job(job *j, const cJSON *o, const gen_settings *base, const char *where) {
    memset(j, 0, sizeof(*j));
    snprintf(j->where, sizeof(j->where), "%s", where);
    gen_overlay(&j->s, base);
    if (!cJSON_IsObject(o)) { j->bad = true; gen_fail(&j->err, CLI_USAGE, NULL, "%s: expected a JSON object", where); return; }
    if (cJSON_GetObjectItem(o, "out")) {
        j->bad = true;
        gen_fail(&j->err, CLI_USAGE, "the folder is DIR/<name>", "%s: \"out\" is not a job setting; use \"name\"", where);
        return;
    }
    const cJSON *nm = cJSON_GetObjectItem(o, "name");
    static const char *const skip[] = {"name", NULL};
    if (gen_apply_json(&j->s, o, where, skip, &j->err)) { j->bad = true; return; }
    if (nm) {
        if (!cJSON_IsString(nm) || !name_ok(nm->valuestring)) {
            j->bad = true;
            gen_fail(&j->err, CLI_USAGE, "letters, digits, '-', '_' and '.', not starting with '.'", "%s: bad \"name\"", where);
            return;
        }
        snprintf(j->name, sizeof(j->name), "%s", nm->valuestring);
    } else if (j->s.set[S_PROMPT]) {
        slug(j->name, sizeof(j->name), j->s.str[S_PROMPT], j->s.set[S_SEED] ? j->s.u64[S_SEED] : 0);
        j->slugged = true;
    }
    if (!j->s.set[S_PROMPT] || !j->s.str[S_PROMPT][0]) { j->bad = true; gen_fail(&j->err, CLI_USAGE, NULL, "%s: no prompt", where); }
}

/* Parses the jobs file text into *jobs. Returns 0, or a usage error when the file as a
 * whole is unusable (then nothing is rendered). */
static int parse_jobs(const char *path, const char *txt, const gen_settings *base, job **jobs, int *n, gen_err *e) {
    *jobs = NULL;
    *n = 0;
    int cap = 0;
    gen_settings defs = {0};
    gen_overlay(&defs, base);
    char where[64];
    cJSON *all = cJSON_Parse(txt);
    const cJSON *list = NULL;
    int rc = 0;
    if (all && cJSON_IsObject(all) && cJSON_GetObjectItem(all, "jobs")) {
        const cJSON *d = cJSON_GetObjectItem(all, "defaults");
        snprintf(where, sizeof(where), "%s: defaults", path);
        if (d && (rc = gen_apply_json(&defs, d, where, NULL, e))) goto out;
        list = cJSON_GetObjectItem(all, "jobs");
        if (!cJSON_IsArray(list)) { rc = gen_fail(e, CLI_USAGE, NULL, "%s: \"jobs\" must be an array", path); goto out; }
    } else if (all && cJSON_IsArray(all))
        list = all;
    if (list) {
        int cnt = cJSON_GetArraySize(list);
        *jobs = calloc((size_t)(cnt ? cnt : 1), sizeof(job));
        if (!*jobs) { rc = gen_fail(e, CLI_RUNTIME, NULL, "out of memory"); goto out; }
        int i = 0;
        for (const cJSON *it = list->child; it; it = it->next, i++) {
            snprintf(where, sizeof(where), "job %d", i + 1);
            add_job(&(*jobs)[i], it, &defs, where);
        }
        *n = i;
        goto out;
    }
    if (all && !cJSON_IsObject(all)) { rc = gen_fail(e, CLI_USAGE, "a JSON array of job objects, or one job object per line", "%s: not a list of jobs", path); goto out; }
    /* JSON lines (a single object on one line lands here too) */
    const char *p = txt;
    for (int line = 1; *p; line++) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char *ln = strndup(p, len);
        p += len + (eol ? 1 : 0);
        if (!ln) { rc = gen_fail(e, CLI_RUNTIME, NULL, "out of memory"); goto out; }
        const char *q = ln;
        while (isspace((unsigned char)*q)) q++;
        if (!*q) { free(ln); continue; }
        cJSON *o = cJSON_Parse(q);
        if (o && cJSON_IsObject(o) && cJSON_GetObjectItem(o, "defaults") && cJSON_GetArraySize(o) == 1) {
            snprintf(where, sizeof(where), "%s:%d: defaults", path, line);
            rc = gen_apply_json(&defs, cJSON_GetObjectItem(o, "defaults"), where, NULL, e);
            cJSON_Delete(o);
            free(ln);
            if (rc) goto out;
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            job *nj = realloc(*jobs, sizeof(job) * (size_t)cap);
            if (!nj) { cJSON_Delete(o); free(ln); rc = gen_fail(e, CLI_RUNTIME, NULL, "out of memory"); goto out; }
            *jobs = nj;
        }
        snprintf(where, sizeof(where), "line %d", line);
        job *j = &(*jobs)[(*n)++];
        if (!o) {
            memset(j, 0, sizeof(*j));
            snprintf(j->where, sizeof(j->where), "%s", where);
            j->bad = true;
            gen_fail(&j->err, CLI_USAGE, NULL, "%s: not valid JSON", where);
        } else add_job(j, o, &defs, where);
        cJSON_Delete(o);
        free(ln);
    }
    if (!*n) rc = gen_fail(e, CLI_USAGE, "one job object per line, or a JSON array", "%s: no jobs", path);
out:
    cJSON_Delete(all);
    gen_settings_free(&defs);
    return rc;
}

/* ---- models (each folder opened once) ------------------------------------------------- */

static model_slot *get_model(model_slot **slots, int *n, const gen_settings *s) {
    char dir[4096] = "";
    gen_err e = {0};
    if (s->set[S_MODEL]) snprintf(dir, sizeof(dir), "%s", s->str[S_MODEL]);
    else if (vg_model_find_default(dir, sizeof(dir))) gen_fail_lib(&e, "pass --model DIR");
    const char *lo = s->set[S_LORA] ? s->str[S_LORA] : "";
    for (int i = 0; i < *n; i++)
        if (!strcmp((*slots)[i].dir, dir) && !strcmp((*slots)[i].loras ? (*slots)[i].loras : "", lo)) return &(*slots)[i];
    model_slot *ns = realloc(*slots, sizeof(model_slot) * (size_t)(*n + 1));
    if (!ns) return NULL;
    *slots = ns;
    model_slot *m = &ns[(*n)++];
    memset(m, 0, sizeof(*m));
    snprintf(m->dir, sizeof(m->dir), "%s", dir);
    m->err = e;
    m->loras = *lo ? strdup(lo) : NULL;
    if (!e.code) {
        if (vg_model_open(&m->m, dir)) gen_fail_lib(&m->err, NULL);
        else if (*lo && gen_merge_loras(&m->m.dit, lo, true, &m->err)) vg_model_close(&m->m);
        else m->ok = true;
    }
    return m;
}

/* Seconds per DiT FLOP on this machine: the faster of two 2-step renders of a 4-frame clip at
 * the model's default size (text encoding included, so short jobs are not underestimated). */
static double calibrate(model_slot *ms) {
    if (ms->sec_per_flop > 0) return ms->sec_per_flop;
    const vg_model *m = &ms->m;
    vg_gen_params p = {.prompt = "a", .negative_prompt = "", .frames = 4, .width = m->def.width, .height = m->def.height,
                       .steps = 2, .cfg_scale = m->def.cfg_scale, .flow_shift = m->def.flow_shift, .window = m->def.window};
    vg_sampler_from_name(m->def.sampler, &p.sampler);
    uint8_t *o = malloc((size_t)p.frames * p.width * p.height * 3);
    vg_gen_stats st = {0};
    double flops = vg_dit_flops(&m->dcfg, p.frames, p.height, p.width, p.window) * (p.cfg_scale != 1.0f ? 2 : 1) * p.steps;
    double best = -1;
    for (int r = 0; r < 2 && o && flops > 0; r++) /* the first run also pays for thread start-up */
        if (!vg_generate(m, &p, o, NULL, NULL, NULL, &st) && (best < 0 || st.total_s < best)) best = st.total_s;
    if (best > 0) ms->sec_per_flop = best / flops;
    free(o);
    return ms->sec_per_flop;
}

/* ---- completion check ------------------------------------------------------------------ */

static bool file_exists(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISREG(sb.st_mode); }

/* 1: finished clip of these settings; 0: nothing finished there (absent, partial, unreadable);
 * -1: a finished clip of other settings (differing key in *diff). */
static int clip_state(const char *dir, const cJSON *meta, char *diff, size_t dn, double *seconds) {
    char p[4600];
    snprintf(p, sizeof(p), "%s/vidgen.json", dir);
    cJSON *have = cli_read_json(p);
    if (!have) return 0;
    int st = 1;
    for (const cJSON *it = meta->child; it && st == 1; it = it->next) {
        const cJSON *h = cJSON_GetObjectItem(have, it->string);
        bool same;
        if (cJSON_IsRaw(it)) { /* the seed: a raw integer, read back as a number */
            char *hs = h ? cJSON_PrintUnformatted(h) : NULL;
            same = hs && !strcmp(hs, it->valuestring);
            free(hs);
        } else same = cJSON_Compare(it, h, true);
        if (!same) {
            snprintf(diff, dn, "%s", it->string);
            st = -1;
        }
    }
    if (st == 1) { /* every file it lists is there */
        const cJSON *fr = cJSON_GetObjectItem(have, "frames"), *files = cJSON_GetObjectItem(have, "files");
        for (int f = 1; st == 1 && cJSON_IsNumber(fr) && f <= fr->valueint; f++) {
            snprintf(p, sizeof(p), "%s/frame_%04d.png", dir, f);
            if (!file_exists(p)) st = 0;
        }
        for (const cJSON *it = files ? files->child : NULL; st == 1 && it; it = it->next) {
            if (!strcmp(it->string, "frames") || !cJSON_IsString(it)) continue;
            snprintf(p, sizeof(p), "%s/%s", dir, it->valuestring);
            if (!file_exists(p)) st = 0;
        }
        const cJSON *tm = cJSON_GetObjectItem(have, "timings"), *tot = tm ? cJSON_GetObjectItem(tm, "total_s") : NULL;
        *seconds = cJSON_IsNumber(tot) ? tot->valuedouble : 0;
    }
    cJSON_Delete(have);
    return st;
}

/* ---- index and summary ---------------------------------------------------------------- */

static int write_index(const char *out, const char *jobs_path, const job *jobs, int n, const char *started) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "vidgen_version", VG_VERSION);
    cJSON_AddStringToObject(o, "jobs_file", jobs_path);
    cJSON_AddStringToObject(o, "started", started);
    time_t now = time(NULL);
    char tbuf[64];
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(o, "updated", tbuf);
    int cnt[6] = {0};
    cJSON *arr = cJSON_AddArrayToObject(o, "clips");
    for (int i = 0; i < n; i++) {
        const job *j = &jobs[i];
        cnt[j->status]++;
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", i + 1);
        cJSON_AddStringToObject(c, "job", j->where);
        if (j->name[0]) cJSON_AddStringToObject(c, "name", j->name);
        cJSON_AddStringToObject(c, "status", STATUS_NAME[j->status]);
        if (j->status == J_FAILED) cJSON_AddStringToObject(c, "reason", j->err.msg);
        if (j->status == J_DONE || j->status == J_SKIPPED) cJSON_AddNumberToObject(c, "seconds", j->seconds);
        if (j->est_seconds > 0) cJSON_AddNumberToObject(c, "estimated_seconds", j->est_seconds);
        if (j->meta) cJSON_AddItemToObject(c, "settings", cJSON_Duplicate(j->meta, true));
        cJSON_AddItemToArray(arr, c);
    }
    cJSON *sum = cJSON_AddObjectToObject(o, "summary");
    for (int k = 0; k < 5; k++) cJSON_AddNumberToObject(sum, STATUS_NAME[k], cnt[k]);
    char *js = cJSON_Print(o), path[4200], tmp[4300];
    snprintf(path, sizeof(path), "%s/batch.json", out);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    /* temporary file + rename, so readers never see half an index; no fsync: the index is
     * rebuilt by every run, and each clip's own vidgen.json (fsynced) decides resumption */
    FILE *fp = js ? fopen(tmp, "w") : NULL;
    bool ok = fp && fputs(js, fp) >= 0;
    ok = fp && !fclose(fp) && ok && !rename(tmp, path);
    if (!ok) unlink(tmp);
    int rc = ok ? 0 : 1;
    if (rc) fprintf(stderr, "vidgen: warning: cannot write %s: %s\n", path, js ? strerror(errno) : "out of memory");
    free(js);
    cJSON_Delete(o);
    return rc;
}

static void print_table(FILE *fp, const job *jobs, int n, bool dry) {
    int nw = 4;
    for (int i = 0; i < n; i++) {
        int l = (int)strlen(jobs[i].name[0] ? jobs[i].name : jobs[i].where);
        nw = l > nw ? l : nw;
    }
    fprintf(fp, "%3s  %-*s  %-12s %6s %9s  %s\n", "#", nw, "clip", "status", "frames", dry ? "estimate" : "time", "reason");
    double total = 0;
    for (int i = 0; i < n; i++) {
        const job *j = &jobs[i];
        char t[32] = "-", fr[16] = "-";
        double sec = dry ? j->est_seconds : j->seconds;
        if (sec > 0) snprintf(t, sizeof(t), sec < 10 ? "%.3fs" : "%.1fs", sec);
        if (j->frames) snprintf(fr, sizeof(fr), "%d", j->frames);
        if (dry && j->status == J_WOULD_RENDER) total += sec;
        fprintf(fp, "%3d  %-*s  %-12s %6s %9s  %s\n", i + 1, nw, j->name[0] ? j->name : j->where, STATUS_NAME[j->status], fr, t,
                j->status == J_FAILED ? j->err.msg : "");
    }
    if (dry) fprintf(fp, "estimated total: %.3gs on this machine\n", total);
}

/* ---- the command ---------------------------------------------------------------------- */

int vg_cmd_batch(int argc, char **argv) {
    gen_settings cl = {0}, base = {0};
    gen_err e = {0};
    const char *jobs_path = NULL, *config = NULL, *out = NULL;
    bool dry = false;
    int rc = 0, n = 0, n_models = 0;
    job *jobs = NULL;
    model_slot *models = NULL;
    char *txt = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(HELP, stdout); goto done; }
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (jobs_path) { rc = cli_error(CLI_USAGE, "vidgen batch JOBS --out DIR", "more than one jobs file ('%s', '%s')", jobs_path, a); goto done; }
            jobs_path = a;
            continue;
        }
        const char *val = NULL, *eq = strchr(a, '=');
        char name[64];
        snprintf(name, sizeof(name), "%.*s", eq && a[1] == '-' ? (int)(eq - a) : (int)strlen(a), a);
        if (eq && a[1] == '-') val = eq + 1;
        if (!strcmp(name, "--dry-run")) { dry = true; continue; }
        int k = !strcmp(name, "--config") ? -2 : gen_find_flag(name);
        if (k == -1) { rc = cli_error(CLI_USAGE, "see vidgen batch --help", "unknown option '%s'", a); goto done; }
        if (k >= 0 && gen_defs[k].type == T_BOOL) {
            if ((rc = gen_apply(&cl, k, val ? val : "true", "command line", &e))) goto fail;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) { rc = cli_error(CLI_USAGE, "see vidgen batch --help", "%s needs a value", name); goto done; }
            val = argv[++i];
        }
        if (k == -2) config = val;
        else if (k == S_OUT) out = val;
        else if ((rc = gen_apply(&cl, k, val, "command line", &e))) goto fail;
    }
    if (!jobs_path) { rc = cli_error(CLI_USAGE, "vidgen batch jobs.jsonl --out clips/", "no jobs file given"); goto done; }
    if (!out || !out[0]) { rc = cli_error(CLI_USAGE, "vidgen batch jobs.jsonl --out clips/", "--out DIR is required"); goto done; }
    if (config && (rc = gen_load_config(&base, config, &e))) goto fail;
    if (base.set[S_OUT]) { rc = gen_fail(&e, CLI_USAGE, "pass --out on the command line", "%s: \"out\" is not a batch setting", config); goto fail; }
    gen_overlay(&base, &cl);
    bool overwrite = base.set[S_OVERWRITE] && base.num[S_OVERWRITE];
    bool quiet = base.set[S_QUIET] && base.num[S_QUIET];
    if (vg_file_read(strcmp(jobs_path, "-") ? jobs_path : "/dev/stdin", &txt, NULL)) { rc = cli_lib_error(NULL); goto done; }
    if ((rc = parse_jobs(jobs_path, txt, &base, &jobs, &n, &e))) goto fail;

    /* folder names are unique: a second job with the same explicit name fails; a repeated
     * slug (same prompt and seed) gets the job number appended */
    for (int i = 0; i < n; i++)
        for (int k = 0; k < i && jobs[i].name[0]; k++)
            if (!strcmp(jobs[i].name, jobs[k].name)) {
                if (jobs[i].slugged && !strstr(jobs[i].name, "-j")) {
                    char nb[sizeof(jobs[i].name)];
                    snprintf(nb, sizeof(nb), "%.180s-j%d", jobs[i].name, i + 1);
                    snprintf(jobs[i].name, sizeof(jobs[i].name), "%s", nb);
                    k = -1; /* check again */
                    continue;
                }
                jobs[i].bad = true;
                gen_fail(&jobs[i].err, CLI_USAGE, NULL, "%s: folder '%s' is already used by %s", jobs[i].where, jobs[i].name, jobs[k].where);
                break;
            }

    time_t t0 = time(NULL);
    char started[64];
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t0));
    if (!dry && vg_mkdir_p(out)) { rc = cli_lib_error(NULL); goto done; }
    if (!dry) write_index(out, jobs_path, jobs, n, started);
    int n_fail = 0;
    for (int i = 0; i < n; i++) {
        job *j = &jobs[i];
        char dir[4300];
        snprintf(dir, sizeof(dir), "%s/%s", out, j->name);
        if (!j->bad) {
            model_slot *ms = get_model(&models, &n_models, &j->s);
            gen_plan pl;
            if (!ms) { j->bad = true; gen_fail(&j->err, CLI_RUNTIME, NULL, "out of memory"); }
            else if (!ms->ok) { j->bad = true; j->err = ms->err; }
            else if (gen_plan_make(&pl, &j->s, &ms->m, &j->err)) j->bad = true;
            else {
                if (j->s.set[S_THREADS]) cli_set_threads((int)j->s.num[S_THREADS]);
                pl.quiet = true; /* batch reports per job */
                j->frames = pl.p.frames;
                j->meta = gen_plan_meta(&pl, &ms->m);
                char diff[64] = "";
                int state = clip_state(dir, j->meta, diff, sizeof(diff), &j->seconds);
                if (state == 1) j->status = J_SKIPPED;
                else if (state == -1 && !overwrite && !(j->s.set[S_OVERWRITE] && j->s.num[S_OVERWRITE])) {
                    j->bad = true;
                    gen_fail(&j->err, CLI_RUNTIME, "pass --overwrite to redo it, or give the job another \"name\"",
                             "%s holds a finished clip with other settings (\"%s\" differs)", dir, diff);
                } else if (gen_plan_check_memory(&pl, &j->err)) j->bad = true;
                else if (dry) {
                    j->status = J_WOULD_RENDER;
                    double spf = calibrate(ms);
                    j->est_seconds = spf * vg_dit_flops(&ms->m.dcfg, pl.p.frames, pl.p.height, pl.p.width, pl.p.window) *
                                     (pl.p.cfg_scale != 1.0f ? 2 : 1) * pl.p.steps;
                } else {
                    if (!quiet) fprintf(stderr, "vidgen batch: [%d/%d] %s: %d frames %dx%d, %d steps\n", i + 1, n, j->name,
                                        pl.p.frames, pl.p.width, pl.p.height, pl.p.steps);
                    j->status = J_RUNNING;
                    write_index(out, jobs_path, jobs, n, started);
                    /* whatever a killed run left here is incomplete: start clean */
                    char mp[4400];
                    snprintf(mp, sizeof(mp), "%s/vidgen.json", dir);
                    unlink(mp);
                    gen_remove_stale(dir, 0, 0, false);
                    cJSON *extra = cJSON_CreateObject();
                    cJSON_AddStringToObject(extra, "batch_job", j->where);
                    vg_gen_stats st;
                    if (gen_render(&pl, &ms->m, dir, extra, &st, &j->err)) j->bad = true;
                    else { j->status = J_DONE; j->seconds = st.total_s; }
                    cJSON_Delete(extra);
                }
                gen_plan_free(&pl);
            }
        }
        if (j->bad) {
            j->status = J_FAILED;
            n_fail++;
            if (!quiet && !dry) fprintf(stderr, "vidgen batch: [%d/%d] %s failed: %s\n", i + 1, n, j->name[0] ? j->name : j->where, j->err.msg);
        } else if (j->status == J_SKIPPED && !quiet && !dry)
            fprintf(stderr, "vidgen batch: [%d/%d] %s: finished earlier, skipped\n", i + 1, n, j->name);
        if (!dry) write_index(out, jobs_path, jobs, n, started);
    }
    print_table(stdout, jobs, n, dry);
    int cnt[6] = {0};
    for (int i = 0; i < n; i++) cnt[jobs[i].status]++;
    if (dry) printf("batch (dry run): %d to render, %d finished earlier, %d invalid\n", cnt[J_WOULD_RENDER], cnt[J_SKIPPED], cnt[J_FAILED]);
    else printf("batch: %d done, %d skipped (finished earlier), %d failed; index in %s/batch.json\n", cnt[J_DONE], cnt[J_SKIPPED], cnt[J_FAILED], out);
    rc = n_fail ? CLI_RUNTIME : CLI_OK;
    goto done;
fail:
    gen_err_print(&e);
done:
    for (int i = 0; i < n; i++) { gen_settings_free(&jobs[i].s); cJSON_Delete(jobs[i].meta); }
    free(jobs);
    for (int i = 0; i < n_models; i++) { if (models[i].ok) vg_model_close(&models[i].m); free(models[i].loras); }
    free(models);
    free(txt);
    gen_settings_free(&cl);
    gen_settings_free(&base);
    return rc;
}
