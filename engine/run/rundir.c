/* Run directories, manifests, matrix cells, --resume, aggregates (rundir.h). */
#include "run/rundir.h"
#include "run/status.h"
#include "base/util.h"
#include "run/dist.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runpipe/io.h"
#include "runpipe/log.h"
#include "runpipe/runpipe.h"

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int dir_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 1;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

static void iso_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Claim `path` with one mkdir (no -p): of several runs racing for the same
 * name exactly one gets it (the others see EEXIST). 1 claimed, 0 taken,
 * -1 error (err set). */
static int claim(const char *path, rp_error *err) {
    if (mkdir(path, 0777) == 0) return 1;
    if (errno == EEXIST) return 0;
    rp_error_set(err, RP_ERR_IO, "cannot create run folder '%s': %s", path, strerror(errno));
    return -1;
}

int rp_rundir_make(const char *out, const char *name, int force_new, char **path,
                   rp_error *err) {
    *path = NULL;
    char base[2048];
    int explicit = out && *out;
    if (explicit) {
        snprintf(base, sizeof base, "%s", out);
        size_t l = strlen(base);
        while (l > 1 && base[l - 1] == '/') base[--l] = 0;
    } else {
        char stamp[32];
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(base, sizeof base, "runs/%s/%s", name && *name ? name : "pipeline", stamp);
    }
    /* the parent may be shared: created with -p */
    char parent[2048];
    snprintf(parent, sizeof parent, "%s", base);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        int s = rp_mkdirs(parent, err);
        if (s != RP_OK) return s;
    }
    char cand[2100];
    snprintf(cand, sizeof cand, "%s", base);
    int got = claim(cand, err);
    if (got < 0) return RP_ERR_IO;
    if (!got && explicit && !force_new) {
        /* --out names one folder: an empty one is used, anything else is an
         * error (writing elsewhere would leave scripts reading stale files) */
        if (!rp_is_dir(cand))
            return rp_error_set(err, RP_ERR_IO, "--out %s: exists and is not a folder", cand);
        if (!dir_empty(cand))
            return rp_error_set(err, RP_ERR_IO,
                                "--out %s: the folder exists and is not empty (continue that run "
                                "with 'runpipe --resume %s', or add --force-new for a fresh "
                                "folder next to it)",
                                cand, cand);
        got = 1;
    }
    for (int k = 2; !got; k++) {
        if (k > 10000)
            return rp_error_set(err, RP_ERR_IO, "cannot find a free run folder next to '%s'",
                                base);
        snprintf(cand, sizeof cand, "%s-%d", base, k);
        got = claim(cand, err);
        if (got < 0) return RP_ERR_IO;
    }
    *path = rp_strdup(cand);
    return *path ? RP_OK : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
}

/* ---- JSON helpers -------------------------------------------------------------- */

static cJSON *node_json(const rp_node *n) {
    if (!n || n->kind == RP_NODE_NULL) return cJSON_CreateNull();
    if (n->kind == RP_NODE_SCALAR) {
        double d;
        int b;
        if (!n->quoted && rp_node_is_bool(n) && rp_node_as_bool(n, &b, NULL) == RP_OK)
            return cJSON_CreateBool(b);
        if (!n->quoted && rp_node_is_number(n) && rp_node_as_double(n, &d, NULL) == RP_OK &&
            isfinite(d))
            return cJSON_CreateNumber(d);
        return cJSON_CreateString(n->str ? n->str : "");
    }
    if (n->kind == RP_NODE_SEQ) {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; i < n->n; i++) cJSON_AddItemToArray(a, node_json(n->items[i]));
        return a;
    }
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < n->n; i++)
        cJSON_AddItemToObject(o, n->keys[i]->str ? n->keys[i]->str : "", node_json(n->items[i]));
    return o;
}

static int write_json(const char *dir, const char *file, cJSON *j, rp_error *err) {
    char *txt = cJSON_Print(j);
    char *p = join(dir, file);
    int s;
    if (!txt || !p)
        s = rp_error_set(err, RP_ERR_NOMEM, "out of memory writing %s", file);
    else {
        size_t l = strlen(txt);
        txt[l] = '\n'; /* cJSON_Print's buffer has room for the NUL we replace */
        s = rp_write_atomic(p, txt, l + 1, err);
    }
    free(txt);
    free(p);
    return s;
}

static cJSON *plugins_json(void) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < rp_registry_plugin_count(); i++) {
        const rp_plugin_rec *p = rp_registry_plugin_at(i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", p->name ? p->name : "");
        cJSON_AddStringToObject(o, "version", p->version ? p->version : "");
        cJSON_AddStringToObject(o, "path", p->path);
        cJSON_AddStringToObject(o, "sha256", p->hash);
        cJSON_AddBoolToObject(o, "loaded", p->ok);
        if (!p->ok) cJSON_AddStringToObject(o, "error", p->err.msg);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static void add_common(cJSON *m, const rp_config *cfg, const struct rp_run_opts *o) {
    cJSON_AddStringToObject(m, "runpipe", RUNPIPE_VERSION);
    cJSON *argv = cJSON_AddArrayToObject(m, "command");
    for (int i = 0; i < o->argc; i++) cJSON_AddItemToArray(argv, cJSON_CreateString(o->argv[i]));
    cJSON_AddStringToObject(m, "pipeline", cfg->path ? cfg->path : "");
    cJSON_AddStringToObject(m, "name", cfg->name ? cfg->name : "");
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
    cJSON_AddStringToObject(m, "host", host);
    cJSON_AddNumberToObject(m, "threads", o->threads);
    cJSON_AddBoolToObject(m, "resumed", o->resume_dir != NULL);
    cJSON_AddItemToObject(m, "plugins", plugins_json());
}

static void add_seed(cJSON *m, uint64_t seed) {
    if (seed <= (1ull << 53))
        cJSON_AddNumberToObject(m, "seed", (double)seed);
    else {
        char b[32];
        snprintf(b, sizeof b, "%llu", (unsigned long long)seed);
        cJSON_AddStringToObject(m, "seed", b);
    }
}

static cJSON *error_json(const rp_error *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", rp_status_name(e->status));
    cJSON_AddStringToObject(o, "message", e->msg);
    if (e->file[0]) {
        cJSON_AddStringToObject(o, "file", e->file);
        cJSON_AddNumberToObject(o, "line", e->line);
        cJSON_AddNumberToObject(o, "col", e->col);
    }
    if (e->stage[0]) cJSON_AddStringToObject(o, "stage", e->stage);
    return o;
}

static int exit_of(int status) { return status == RP_OK ? 0 : 1; }

static const char *status_word(int status) {
    return status == RP_OK                   ? "done"
           : status == RP_ERR_INTERRUPTED    ? "interrupted"
                                             : "failed";
}

static int write_cell_manifest(const char *dir, const rp_config *cfg, const rp_cell *cell,
                               const struct rp_run_opts *o, const char *start, const char *end,
                               double secs, const rp_run_result *r, rp_error *err) {
    cJSON *m = cJSON_CreateObject();
    add_common(m, cfg, o);
    if (cell->label && *cell->label) {
        cJSON_AddStringToObject(m, "cell", cell->label);
        cJSON_AddItemToObject(m, "matrix", node_json(cell->values));
    }
    add_seed(m, cell->seed);
    cJSON_AddStringToObject(m, "start", start);
    cJSON_AddStringToObject(m, "end", end);
    cJSON_AddNumberToObject(m, "seconds", secs);
    cJSON_AddStringToObject(m, "status", status_word(r->status));
    cJSON_AddNumberToObject(m, "exit_status", exit_of(r->status));
    cJSON_AddItemToObject(m, "error", r->status == RP_OK ? cJSON_CreateNull() : error_json(&r->err));
    cJSON *st = cJSON_AddArrayToObject(m, "stages");
    for (size_t i = 0; i < r->n; i++) {
        const rp_stage_result *s = &r->st[i];
        cJSON *so = cJSON_CreateObject();
        cJSON_AddStringToObject(so, "id", s->id);
        cJSON_AddStringToObject(so, "use", s->use);
        cJSON_AddStringToObject(so, "plugin", s->plugin ? s->plugin : "");
        cJSON_AddStringToObject(so, "status", !s->ran ? "not run" : status_word(s->status));
        if (s->key[0]) cJSON_AddStringToObject(so, "key", s->key);
        if (s->cache) cJSON_AddStringToObject(so, "cache", s->cache == 2 ? "hit" : "miss");
        if (s->reuse) cJSON_AddStringToObject(so, "reused", s->reuse);
        if (s->dir[0]) cJSON_AddStringToObject(so, "dir", s->dir);
        cJSON_AddNumberToObject(so, "seconds", s->seconds);
        cJSON *notes = cJSON_AddObjectToObject(so, "notes");
        for (size_t k = 0; k < s->n_notes; k++)
            cJSON_AddItemToObject(notes, s->note_keys[k],
                                  isfinite(s->note_vals[k]) ? cJSON_CreateNumber(s->note_vals[k])
                                                            : cJSON_CreateNull());
        cJSON_AddItemToArray(st, so);
    }
    int s = write_json(dir, "manifest.json", m, err);
    cJSON_Delete(m);
    return s;
}

static int write_resolved(const char *dir, const rp_plan *p, int resuming, rp_error *err) {
    rp_node *doc = rp_plan_resolved_doc(p);
    if (!doc) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    char *y = NULL;
    int s = rp_node_to_yaml(doc, &y, err);
    rp_node_free(doc);
    if (s != RP_OK) return s;
    char *path = join(dir, "pipeline.resolved.yaml");
    if (resuming && path) {
        /* Resuming with another pipeline mixes two experiments: say so. */
        char *old = NULL;
        if (rp_read_file(path, &old, NULL, NULL) == RP_OK && strcmp(old, y) != 0)
            rp_warn("%s: the pipeline differs from the one this run started with (resuming "
                    "anyway; the previous version is replaced)",
                    path);
        free(old);
    }
    s = path ? rp_write_atomic(path, y, strlen(y), err) : rp_error_set(err, RP_ERR_NOMEM, "oom");
    free(path);
    free(y);
    return s;
}

/* run.json + pipeline.source.yaml (rundir.h). */
static int write_run_record(const char *root, const rp_config *cfg, const struct rp_run_opts *o,
                            rp_error *err) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "pipeline", cfg->path ? cfg->path : "");
    char cwd[4096];
    cJSON_AddStringToObject(m, "cwd", getcwd(cwd, sizeof cwd) ? cwd : "");
    char start[40];
    iso_now(start, sizeof start);
    cJSON_AddStringToObject(m, "start", start);
    cJSON_AddNumberToObject(m, "cells", (double)cfg->n_cells);
    cJSON *sets = cJSON_AddArrayToObject(m, "sets");
    for (size_t i = 0; i < o->n_sets; i++)
        cJSON_AddItemToArray(sets, cJSON_CreateString(o->sets[i]));
    if (o->has_seed) {
        char b[32];
        snprintf(b, sizeof b, "%llu", o->seed);
        cJSON_AddStringToObject(m, "seed", b);
    } else {
        cJSON_AddNullToObject(m, "seed");
    }
    int s = write_json(root, RP_RUN_JSON, m, err);
    cJSON_Delete(m);
    if (s != RP_OK || !cfg->path) return s;
    char *text = NULL;
    size_t len = 0;
    s = rp_read_file(cfg->path, &text, &len, err);
    char *dst = join(root, RP_RUN_SOURCE);
    if (s == RP_OK)
        s = dst ? rp_write_atomic(dst, text, len, err) : rp_error_set(err, RP_ERR_NOMEM, "oom");
    free(dst);
    free(text);
    return s;
}

static void log_failure(const rp_error *e, const char *label) {
    char loc[700] = "";
    if (e->file[0]) snprintf(loc, sizeof loc, "%s:%d:%d: ", e->file, e->line, e->col);
    if (label && *label)
        rp_log(RP_LOG_ERROR, "cell %s: %s%s", label, loc, e->msg);
    else
        rp_log_file_only(RP_LOG_ERROR, "%s%s", loc, e->msg);
}

int rp_run_all(const rp_config *cfg, rp_plan *const *plans, const struct rp_run_opts *o,
               char **dir_out, rp_error *first_err) {
    *dir_out = NULL;
    rp_error_clear(first_err);
    rp_error e;
    rp_error_clear(&e);
    char *root = NULL;
    /* under mpirun: cells over ranks, or every rank on each cell (dist.h) */
    rp_dist dist;
    if (rp_dist_begin(&dist, cfg, plans, first_err) != RP_OK) return 1;
    if (o->resume_dir) {
        if (!rp_is_dir(o->resume_dir))
            rp_error_set(first_err, RP_ERR_IO, "--resume %s: no such run directory",
                         o->resume_dir);
        else
            root = rp_strdup(o->resume_dir);
    } else if (rp_dist_primary(&dist)) {
        rp_rundir_make(o->out_dir, cfg->name, o->force_new, &root, first_err);
    }
    if (rp_dist_root(&dist, &root, first_err) != RP_OK || !root) {
        free(root);
        rp_dist_end(&dist);
        return 1;
    }
    *dir_out = root;
    /* a new run, or one from before run.json existed: keep what --resume
       needs to replay it (rank 0 only) */
    if (rp_dist_primary(&dist)) {
        char *rec = o->resume_dir ? join(root, RP_RUN_JSON) : NULL;
        int need_record = !o->resume_dir || (rec && !rp_path_exists(rec));
        free(rec);
        if (need_record && write_run_record(root, cfg, o, &e) != RP_OK) {
            rp_warn("%s (--resume will need the pipeline file)", e.msg);
            rp_error_clear(&e);
        }
    }
    char logname[64];
    char *logp = join(root, rp_dist_log_name(&dist, logname, sizeof logname));
    if (!logp || rp_log_open_file(logp, o->resume_dir != NULL, &e) != RP_OK)
        rp_warn("cannot write the log: %s", e.msg);
    free(logp);
    const rp_node *mx = rp_node_get(cfg->root, "matrix");
    int matrix = (mx && mx->kind == RP_NODE_MAP && mx->n) || cfg->n_cells > 1;
    rp_info("run directory: %s%s", root, o->resume_dir ? " (resuming)" : "");
    /* content keys, stages shared by several cells, the stage cache */
    rp_plans_share(cfg, plans);
    rp_shared *shared = rp_shared_new();
    rp_cache *cache = NULL;
    const char *cache_dir = o->no_cache ? NULL : o->cache_dir ? o->cache_dir : rp_cache_default();
    if (cache_dir && dist.replicated) {
        /* ranks must agree on every hit; a cache written while another rank
         * looks could split them */
        rp_info("stage cache off: ranks run the cells together");
        cache_dir = NULL;
    }
    if (cache_dir && rp_cache_open(cache_dir, &cache, &e) != RP_OK) {
        rp_warn("stage cache %s: %s (running without it)", cache_dir, e.msg);
        cache = NULL;
    }
    if (cache) rp_info("stage cache: %s", cache_dir);
    /* a matrix run's own status (each cell has one too; without a matrix
       the cell's folder is the run folder) */
    if (matrix && rp_status_write(root, "running", NULL, &e) != RP_OK) rp_warn("%s", e.msg);
    char start_all[40];
    iso_now(start_all, sizeof start_all);
    double t_all = rp_now();
    int exit_code = 0;
    size_t n_done = 0, n_failed = 0, n_skipped = 0, n_notrun = 0;
    char **cell_status = calloc(cfg->n_cells ? cfg->n_cells : 1, sizeof *cell_status);
    double cells_secs = 0;
    size_t cells_ran = 0;
    for (size_t ci = rp_dist_first(&dist); ci < cfg->n_cells; ci = rp_dist_next(&dist, ci)) {
        const rp_cell *cell = &cfg->cells[ci];
        char *cdir = matrix ? join(root, cell->dirname) : rp_strdup(root);
        if (!cdir) {
            exit_code = 1;
            break;
        }
        /* The first cell always goes through the pipeline runner, which turns
         * an interrupt into a manifest with status "interrupted" and every
         * stage "not run": a Ctrl-C at any moment leaves a described run
         * directory. Later cells are only marked. */
        if ((ci > 0 || dist.cells) && rp_interrupted()) {
            n_notrun++;
            free(cdir);
            cell_status[ci] = rp_strdup("not run");
            exit_code = 1;
            continue;
        }
        char prev[256];
        int done_before = o->resume_dir && rp_status_read(cdir, prev, sizeof prev) &&
                          strcmp(prev, "done") == 0;
        if (rp_dist_agree(&dist, &done_before)) {
            rp_info("%s%s: already done, skipped", matrix ? "cell " : "",
                    matrix ? cell->label : "pipeline");
            n_skipped++;
            n_done++;
            cell_status[ci] = rp_strdup("done");
            free(cdir);
            continue;
        }
        if (matrix)
            rp_info("== cell %zu/%zu: %s (seed %llu) ==", ci + 1, cfg->n_cells, cell->label,
                    (unsigned long long)cell->seed);
        rp_error_clear(&e);
        if (rp_mkdirs(cdir, &e) != RP_OK || write_resolved(cdir, plans[ci], o->resume_dir != NULL, &e) != RP_OK ||
            rp_status_write(cdir, "running", NULL, &e) != RP_OK) {
            rp_dist_fatal(&dist, &e);
            if (!first_err->status) *first_err = e;
            log_failure(&e, matrix ? cell->label : NULL);
            exit_code = 1;
            n_failed++;
            cell_status[ci] = rp_strdup("failed");
            free(cdir);
            continue;
        }
        char start[40], end[40];
        iso_now(start, sizeof start);
        double t0 = rp_now();
        char *proot = rp_dist_primary_path(&dist, root, NULL);
        char *pcdir = rp_dist_primary_path(&dist, root, matrix ? cell->dirname : NULL);
        struct rp_exec_opts xo = {.rundir = cdir,
                                  .seed = cell->seed,
                                  .threads = o->threads,
                                  .resuming = o->resume_dir != NULL,
                                  .root = root,
                                  .shared = shared,
                                  .cache = cache,
                                  .comm = rp_dist_stage_comm(&dist),
                                  .primary_rundir = pcdir,
                                  .primary_root = proot};
        rp_run_result r;
        /* the progress lines show the cells still to run and their ETA */
        rp_log_set_matrix(matrix ? cfg->n_cells - ci - 1 : 0, cells_ran ? cells_secs / cells_ran : -1);
        rp_plan_run(plans[ci], &xo, &r);
        free(pcdir);
        free(proot);
        double secs = rp_now() - t0;
        cells_ran++;
        cells_secs += secs;
        iso_now(end, sizeof end);
        /* metrics.json: whatever metrics exist, also after a failure. */
        char *mp = join(cdir, "metrics.json");
        if (mp && r.metrics_json) {
            size_t l = strlen(r.metrics_json);
            char *t = malloc(l + 2);
            if (t) {
                memcpy(t, r.metrics_json, l);
                t[l] = '\n';
                if (rp_write_atomic(mp, t, l + 1, &e) != RP_OK) rp_warn("%s", e.msg);
                free(t);
            }
        }
        free(mp);
        if (r.status != RP_OK) {
            if (!first_err->status) *first_err = r.err;
            log_failure(&r.err, matrix ? cell->label : NULL);
            exit_code = 1;
            n_failed++;
        } else {
            n_done++;
        }
        cell_status[ci] = rp_strdup(status_word(r.status));
        if (write_cell_manifest(cdir, cfg, cell, o, start, end, secs, &r, &e) != RP_OK)
            rp_warn("%s", e.msg);
        char msg[RP_ERR_MSG_MAX + 600] = "";
        if (r.status != RP_OK) {
            if (r.err.file[0])
                snprintf(msg, sizeof msg, "%s:%d:%d: %s", r.err.file, r.err.line, r.err.col,
                         r.err.msg);
            else
                snprintf(msg, sizeof msg, "%s", r.err.msg);
            for (char *c = msg; *c; c++)
                if (*c == '\n') *c = ' ';
        }
        if (rp_status_write(cdir, status_word(r.status), msg, &e) != RP_OK) rp_warn("%s", e.msg);
        {
            /* Per-stage wall time, one line. */
            char times[900] = "";
            size_t u = 0;
            for (size_t k = 0; k < r.n && u < sizeof times - 80; k++)
                if (r.st[k].ran)
                    u += (size_t)snprintf(times + u, sizeof times - u, "%s%s %.2f s",
                                          u ? ", " : "", r.st[k].id, r.st[k].seconds);
            if (matrix)
                rp_info("cell %s: %s in %.1f s (%s)", cell->label, status_word(r.status), secs,
                        times);
            else
                rp_info("%s in %.1f s (%s)", status_word(r.status), secs, times);
        }
        rp_run_result_release(&r);
        free(cdir);
    }
    if (dist.cells) {
        /* every rank through its cells; rank 0 aggregates what all wrote */
        rp_dist_sync(&dist, &n_skipped);
        if (rp_dist_primary(&dist))
            exit_code |= rp_dist_collect_cells(root, cfg, cell_status, &n_done, &n_failed,
                                               &n_notrun, first_err);
    }
    if (matrix && rp_dist_primary(&dist)) {
        /* the sweep as run (--set applied, the matrix not expanded); each
         * cell's folder has its own fully resolved document */
        char *y = NULL, *rp = join(root, "pipeline.resolved.yaml");
        if (!rp || rp_node_to_yaml(cfg->root, &y, &e) != RP_OK ||
            rp_write_atomic(rp, y, strlen(y), &e) != RP_OK)
            rp_warn("%s", e.msg);
        free(y);
        free(rp);
        rp_error_clear(&e);
        if (rp_aggregate_write(root, cfg, &e) != RP_OK) {
            /* e.g. an aggregate.metrics entry that matches no metric */
            log_failure(&e, NULL);
            if (!first_err->status) *first_err = e;
            exit_code = 1;
        }
        char end_all[40];
        iso_now(end_all, sizeof end_all);
        cJSON *m = cJSON_CreateObject();
        add_common(m, cfg, o);
        cJSON_AddStringToObject(m, "start", start_all);
        cJSON_AddStringToObject(m, "end", end_all);
        cJSON_AddNumberToObject(m, "seconds", rp_now() - t_all);
        cJSON_AddNumberToObject(m, "exit_status", exit_code);
        cJSON *cells = cJSON_AddArrayToObject(m, "cells");
        for (size_t ci = 0; ci < cfg->n_cells; ci++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "cell", cfg->cells[ci].label);
            cJSON_AddStringToObject(c, "dir", cfg->cells[ci].dirname);
            add_seed(c, cfg->cells[ci].seed);
            cJSON_AddStringToObject(c, "status", cell_status[ci] ? cell_status[ci] : "not run");
            cJSON_AddItemToArray(cells, c);
        }
        if (write_json(root, "manifest.json", m, &e) != RP_OK) rp_warn("%s", e.msg);
        cJSON_Delete(m);
        rp_info("%zu cell%s done (%zu skipped as already done), %zu failed, %zu not run", n_done,
                n_done == 1 ? "" : "s", n_skipped, n_failed, n_notrun);
        const char *word = !exit_code ? "done" : rp_interrupted() ? "interrupted" : "failed";
        char msg[96] = "";
        if (exit_code)
            snprintf(msg, sizeof msg, "%zu of %zu cells done", n_done, cfg->n_cells);
        if (rp_status_write(root, word, msg, &e) != RP_OK) rp_warn("%s", e.msg);
    }
    for (size_t ci = 0; ci < cfg->n_cells; ci++) free(cell_status[ci]);
    free(cell_status);
    rp_shared_free(shared);
    rp_cache_close(cache);
    if (rp_dist_primary(&dist)) rp_info("results in %s", root);
    if (rp_log_close_file(&e) != RP_OK) rp_warn("%s", e.msg);
    rp_dist_end(&dist);
    return exit_code;
}

