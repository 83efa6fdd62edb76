/* The content-addressed stage cache (pipeline.h).
 *
 *   <cache>/entries/<key>/entry.json   what the stage produced: one blob per output
 *                                     (models as safetensors, metrics as JSON), the
 *                                     stage folder's files by manifest (path → blob)
 *   <cache>/blobs/<ab>/<sha256>        file contents, stored once
 *
 * The keys are computed in cache_key.c.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "config/schema.h"
#include "run/pipeline.h"
#include "runpipe/artifact.h"
#include "runpipe/io.h"
#include "runpipe/log.h"
#include "runpipe/nn.h"
#include "runpipe/runpipe.h"
#include "runpipe/strbuf.h"

struct rp_cache {
    char *dir;
};

static char *cache_default = "runs/.cache";
static char default_buf[2048];

void rp_cache_set_default(const char *dir) {
    if (!dir) {
        cache_default = NULL;
        return;
    }
    snprintf(default_buf, sizeof default_buf, "%s", dir);
    cache_default = default_buf;
}

const char *rp_cache_default(void) { return cache_default; }

/* ---- files and blobs ---------------------------------------------------------------- */

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

int rp_cache_open(const char *dir, rp_cache **out, rp_error *err) {
    *out = NULL;
    char *b = pathf("%s/blobs", dir), *e = pathf("%s/entries", dir);
    int rc = b && e ? RP_OK : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (rc == RP_OK) rc = rp_mkdirs(b, err);
    if (rc == RP_OK) rc = rp_mkdirs(e, err);
    free(b);
    free(e);
    if (rc != RP_OK) return rc;
    rp_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    *out = c;
    return RP_OK;
}

void rp_cache_close(rp_cache *c) {
    if (!c) return;
    free(c->dir);
    free(c);
}

const char *rp_cache_dir(const rp_cache *c) { return c->dir; }

static char *blob_path(const char *dir, const char *sha) {
    return pathf("%s/blobs/%.2s/%s", dir, sha, sha);
}

/* Store bytes as a blob; hex = its sha256. */
static int blob_put(const rp_cache *c, const void *data, size_t len, char hex[65], rp_error *err) {
    rp_sha256_hex(data, len, hex);
    char *p = blob_path(c->dir, hex);
    if (!p) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int rc = RP_OK;
    if (!rp_path_exists(p)) {
        char *d = pathf("%s/blobs/%.2s", c->dir, hex);
        rc = d ? rp_mkdirs(d, err) : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        free(d);
        if (rc == RP_OK) rc = rp_write_atomic(p, data, len, err);
    }
    free(p);
    return rc;
}

static int blob_put_file(const rp_cache *c, const char *path, char hex[65], size_t *size,
                         rp_error *err) {
    char *data = NULL;
    size_t len = 0;
    int rc = rp_read_file(path, &data, &len, err);
    if (rc == RP_OK) rc = blob_put(c, data, len, hex, err);
    free(data);
    *size = len;
    return rc;
}

static int blob_copy_to(const rp_cache *c, const char *sha, const char *dest, rp_error *err) {
    char *p = blob_path(c->dir, sha);
    char *data = NULL;
    size_t len = 0;
    int rc = p ? rp_read_file(p, &data, &len, err) : rp_error_set(err, RP_ERR_NOMEM, "oom");
    if (rc == RP_OK) {
        char *slash = strrchr(dest, '/');
        if (slash) {
            *slash = 0;
            rc = rp_mkdirs(dest, err);
            *slash = '/';
        }
        if (rc == RP_OK) rc = rp_write_atomic(dest, data, len, err);
    }
    free(data);
    free(p);
    return rc;
}

/* Every regular file under `root/rel`, as manifest entries {path, blob, size}. */
static int add_folder(const rp_cache *c, const char *root, const char *rel, cJSON *list,
                      double *total, rp_error *err) {
    char *dpath = rel[0] ? pathf("%s/%s", root, rel) : strdup(root);
    DIR *d = dpath ? opendir(dpath) : NULL;
    if (!d) {
        free(dpath);
        return RP_OK; /* a stage that wrote nothing */
    }
    int rc = RP_OK;
    struct dirent *e;
    while (rc == RP_OK && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (strstr(e->d_name, ".tmp")) continue; /* another writer's temporary */
        char *r = rel[0] ? pathf("%s/%s", rel, e->d_name) : strdup(e->d_name);
        char *full = r ? pathf("%s/%s", root, r) : NULL;
        struct stat sb;
        if (!r || !full) {
            rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        } else if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            rc = add_folder(c, root, r, list, total, err);
        } else if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode)) {
            char hex[65];
            size_t size = 0;
            rc = blob_put_file(c, full, hex, &size, err);
            if (rc == RP_OK) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "path", r);
                cJSON_AddStringToObject(o, "blob", hex);
                cJSON_AddNumberToObject(o, "size", (double)size);
                cJSON_AddItemToArray(list, o);
                *total += (double)size;
            }
        }
        free(r);
        free(full);
    }
    closedir(d);
    free(dpath);
    return rc;
}

/* ---- metrics as JSON ------------------------------------------------------------------ */

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }
static double val(const cJSON *j) { return cJSON_IsNumber(j) ? j->valuedouble : NAN; }

static char *metrics_to_json(const rp_metrics *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON *sc = cJSON_AddArrayToObject(o, "scalars");
    for (size_t i = 0; i < m->n; i++) {
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateString(m->names[i]));
        cJSON_AddItemToArray(p, num(m->values[i]));
        cJSON_AddItemToArray(sc, p);
    }
    cJSON *tb = cJSON_AddArrayToObject(o, "tables");
    for (size_t t = 0; t < m->n_tables; t++) {
        const rp_table *T = &m->tables[t];
        cJSON *to = cJSON_CreateObject();
        cJSON_AddStringToObject(to, "name", T->name);
        cJSON *cols = cJSON_AddArrayToObject(to, "columns");
        for (size_t c = 0; c < T->cols; c++)
            cJSON_AddItemToArray(cols, cJSON_CreateString(T->col_names[c]));
        cJSON *rows = cJSON_AddArrayToObject(to, "rows");
        for (size_t r = 0; r < T->rows; r++) {
            cJSON *row = cJSON_CreateArray();
            cJSON_AddItemToArray(row, T->row_names ? cJSON_CreateString(T->row_names[r])
                                                   : cJSON_CreateNull());
            for (size_t c = 0; c < T->cols; c++)
                cJSON_AddItemToArray(row, num(T->values[r * T->cols + c]));
            cJSON_AddItemToArray(rows, row);
        }
        cJSON_AddItemToArray(tb, to);
    }
    cJSON *fl = cJSON_AddArrayToObject(o, "files");
    for (size_t f = 0; f < m->n_files; f++) cJSON_AddItemToArray(fl, cJSON_CreateString(m->files[f]));
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return txt;
}

static int metrics_from_json(const char *txt, rp_metrics **out, rp_error *err) {
    *out = NULL;
    cJSON *o = cJSON_Parse(txt);
    rp_metrics *m = rp_metrics_new();
    int rc = o && m ? RP_OK : rp_error_set(err, RP_ERR_FORMAT, "damaged metrics in the cache");
    const cJSON *x;
    cJSON_ArrayForEach(x, (rc == RP_OK ? cJSON_GetObjectItem(o, "scalars") : (cJSON *)NULL)) {
        if (rc != RP_OK) break;
        rc = rp_metrics_set(m, cJSON_GetStringValue(cJSON_GetArrayItem(x, 0)),
                            val(cJSON_GetArrayItem(x, 1)), err);
    }
    cJSON_ArrayForEach(x, (rc == RP_OK ? cJSON_GetObjectItem(o, "tables") : (cJSON *)NULL)) {
        if (rc != RP_OK) break;
        const cJSON *cols = cJSON_GetObjectItem(x, "columns"), *rows = cJSON_GetObjectItem(x, "rows");
        size_t nc = (size_t)cJSON_GetArraySize(cols);
        const char **cn = calloc(nc ? nc : 1, sizeof *cn);
        for (size_t c = 0; cn && c < nc; c++)
            cn[c] = cJSON_GetStringValue(cJSON_GetArrayItem(cols, (int)c));
        rp_table *T = cn ? rp_metrics_add_table(m, cJSON_GetStringValue(cJSON_GetObjectItem(x, "name")),
                                                0, nc, cn, NULL, err)
                         : NULL;
        free(cn);
        if (!T) {
            rc = err->status ? err->status : RP_ERR_NOMEM;
            break;
        }
        const cJSON *row;
        double *v = malloc((nc ? nc : 1) * sizeof *v);
        cJSON_ArrayForEach(row, rows) {
            for (size_t c = 0; v && c < nc; c++) v[c] = val(cJSON_GetArrayItem(row, (int)c + 1));
            rc = v ? rp_table_append_row(T, cJSON_GetStringValue(cJSON_GetArrayItem(row, 0)), v, err)
                   : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            if (rc != RP_OK) break;
        }
        free(v);
    }
    cJSON_ArrayForEach(x, (rc == RP_OK ? cJSON_GetObjectItem(o, "files") : (cJSON *)NULL)) {
        if (rc != RP_OK) break;
        rc = rp_metrics_add_file(m, cJSON_GetStringValue(x), err);
    }
    cJSON_Delete(o);
    if (rc != RP_OK) {
        rp_metrics_free(m);
        return rc;
    }
    *out = m;
    return RP_OK;
}

/* ---- save / restore ------------------------------------------------------------------- */

int rp_stage_cacheable(const rp_plan_stage *ps) {
    if (!ps->entry || !(ps->entry->def->flags & RP_STAGE_CACHEABLE)) return 0;
    const struct rp_stage_def *d = ps->entry->def;
    for (size_t k = 0; k < d->n_outputs; k++)
        if (strcmp(d->outputs[k].type, RP_ART_MODEL) && strcmp(d->outputs[k].type, RP_ART_METRICS) &&
            strcmp(d->outputs[k].type, RP_ART_FILES) && strcmp(d->outputs[k].type, RP_ART_DATASET))
            return 0;
    return 1;
}

/* ---- datasets as the loader call that made them ----------------------------------------
 * A dataset is not stored: the stage made it with rp_stage_call (crop ->
 * data.folder on <its folder>/train), and that call is stored instead, its
 * paths inside the stage folder relative to it, and run again on the
 * restored folder. The scalars that were relative are listed by their
 * pre-order index in the params tree. */

static int is_under(const char *path, const char *dir, size_t dl) {
    return !strncmp(path, dir, dl) && (path[dl] == 0 || path[dl] == '/');
}

static void relativise(rp_node *n, const char *dir, size_t dl, int *idx, cJSON *list) {
    if (!n) return;
    if (n->kind == RP_NODE_SCALAR) {
        if (n->str && is_under(n->str, dir, dl)) {
            const char *rest = n->str + dl + (n->str[dl] == '/');
            memmove(n->str, rest, strlen(rest) + 1);
            cJSON_AddItemToArray(list, cJSON_CreateNumber(*idx));
        }
        (*idx)++;
        return;
    }
    for (size_t i = 0; i < n->n; i++) relativise(n->items[i], dir, dl, idx, list);
}

/* Scalar number `want` (pre-order) of n; NULL when there is none. */
static rp_node *nth_scalar(rp_node *n, int want, int *idx) {
    if (!n) return NULL;
    if (n->kind == RP_NODE_SCALAR) return (*idx)++ == want ? n : NULL;
    for (size_t i = 0; i < n->n; i++) {
        rp_node *r = nth_scalar(n->items[i], want, idx);
        if (r) return r;
    }
    return NULL;
}

static int recipe_to_json(const rp_recipe *r, const char *stage_dir, cJSON *o, rp_error *err) {
    rp_node *p = rp_node_clone(r->params);
    cJSON *rel = cJSON_CreateArray();
    char *yaml = NULL;
    int rc = p && rel ? RP_OK : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (rc == RP_OK) {
        int idx = 0;
        relativise(p, stage_dir, strlen(stage_dir), &idx, rel);
        rc = rp_node_to_yaml(p, &yaml, err);
    }
    if (rc == RP_OK) {
        cJSON_AddStringToObject(o, "call", r->use);
        cJSON_AddStringToObject(o, "call_port", r->port);
        cJSON_AddStringToObject(o, "params", yaml);
        cJSON_AddItemToObject(o, "in_stage_folder", rel);
        rel = NULL;
    }
    cJSON_Delete(rel);
    free(yaml);
    rp_node_free(p);
    return rc;
}

static int recipe_run(const cJSON *x, const char *entry, const char *stage_dir, rp_stage *ctx,
                      void **art, rp_error *err) {
    const char *use = cJSON_GetStringValue(cJSON_GetObjectItem(x, "call"));
    const char *port = cJSON_GetStringValue(cJSON_GetObjectItem(x, "call_port"));
    const char *yaml = cJSON_GetStringValue(cJSON_GetObjectItem(x, "params"));
    if (!use || !port || !yaml)
        return rp_error_set(err, RP_ERR_FORMAT, "%s: dataset output without its loader call", entry);
    if (!ctx)
        return rp_error_set(err, RP_ERR_INVALID, "%s: a dataset output needs the stage context",
                            entry);
    rp_node *p = NULL;
    int rc = rp_node_parse_string(yaml, entry, &p, err);
    const cJSON *ix;
    cJSON_ArrayForEach(ix, (rc == RP_OK ? cJSON_GetObjectItem(x, "in_stage_folder") : (cJSON *)NULL)) {
        int idx = 0;
        rp_node *n = cJSON_IsNumber(ix) ? nth_scalar(p, ix->valueint, &idx) : NULL;
        char *full = n ? (n->str[0] ? pathf("%s/%s", stage_dir, n->str) : strdup(stage_dir)) : NULL;
        if (!full) {
            rc = rp_error_set(err, RP_ERR_FORMAT, "%s: damaged entry", entry);
            break;
        }
        free(n->str);
        n->str = full;
    }
    if (rc == RP_OK) rc = rp_stage_call(ctx, use, p, port, art, err);
    rp_node_free(p);
    return rc;
}

int rp_cache_save(rp_cache *c, const rp_plan_stage *ps, size_t idx, const rp_store *store,
                  const char *stage_dir, rp_error *err) {
    const struct rp_stage_def *d = ps->entry->def;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "key", ps->key);
    cJSON_AddStringToObject(e, "stage", ps->id);
    cJSON_AddStringToObject(e, "use", ps->use);
    cJSON_AddStringToObject(e, "plugin", ps->entry->plugin ? ps->entry->plugin : "");
    cJSON_AddNumberToObject(e, "created", (double)time(NULL));
    cJSON *outs = cJSON_AddArrayToObject(e, "outputs");
    double total = 0;
    int rc = RP_OK;
    size_t sdl = strlen(stage_dir);
    for (size_t k = 0; k < d->n_outputs && rc == RP_OK; k++) {
        void *art = rp_store_get(store, idx, k);
        if (!art) continue;
        const char *type = d->outputs[k].type;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "port", d->outputs[k].name);
        cJSON_AddStringToObject(o, "type", type);
        char hex[65] = "";
        if (!strcmp(type, RP_ART_MODEL)) {
            char *tmp = pathf("%s/model-%ld-%d.safetensors.part", c->dir, (long)getpid(), (int)k);
            size_t size = 0;
            rc = tmp ? rp_model_save(art, tmp, err) : rp_error_set(err, RP_ERR_NOMEM, "oom");
            if (rc == RP_OK) rc = blob_put_file(c, tmp, hex, &size, err);
            if (tmp) unlink(tmp);
            free(tmp);
            total += (double)size;
            /* frozen parameters are not in the safetensors file */
            cJSON *fz = cJSON_AddArrayToObject(o, "frozen");
            rp_model *m = art;
            for (size_t i = 0; i < rp_model_num_params(m); i++) {
                rp_param *pa = rp_model_param(m, i);
                if (!pa->trainable && !pa->is_buffer)
                    cJSON_AddItemToArray(fz, cJSON_CreateString(pa->name));
            }
        } else if (!strcmp(type, RP_ART_METRICS)) {
            char *txt = metrics_to_json(art);
            rc = txt ? blob_put(c, txt, strlen(txt), hex, err)
                     : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            total += txt ? (double)strlen(txt) : 0;
            free(txt);
        } else if (!strcmp(type, RP_ART_DATASET)) {
            const rp_recipe *r = rp_store_recipe(store, idx, k);
            rc = r ? recipe_to_json(r, stage_dir, o, err)
                   : rp_error_set(err, RP_ERR_INVALID,
                                  "output '%s' (dataset) was not made by a loader call "
                                  "(rp_stage_call), so it cannot be made again from the folder",
                                  d->outputs[k].name);
        } else {
            const rp_files *f = art;
            if (strncmp(f->dir, stage_dir, sdl) || (f->dir[sdl] && f->dir[sdl] != '/'))
                rc = rp_error_set(err, RP_ERR_INVALID,
                                  "output '%s' (%s) is outside the stage folder",
                                  d->outputs[k].name, f->dir);
            else
                cJSON_AddStringToObject(o, "dir", f->dir[sdl] ? f->dir + sdl + 1 : "");
        }
        if (hex[0]) cJSON_AddStringToObject(o, "blob", hex);
        cJSON_AddItemToArray(outs, o);
    }
    cJSON *folder = cJSON_AddArrayToObject(e, "folder");
    if (rc == RP_OK) rc = add_folder(c, stage_dir, "", folder, &total, err);
    cJSON_AddNumberToObject(e, "size", total);
    if (rc == RP_OK) {
        char *dir = pathf("%s/entries/%s", c->dir, ps->key);
        char *p = dir ? pathf("%s/entry.json", dir) : NULL;
        char *txt = cJSON_Print(e);
        rc = p && txt ? rp_mkdirs(dir, err) : rp_error_set(err, RP_ERR_NOMEM, "oom");
        if (rc == RP_OK) rc = rp_write_atomic(p, txt, strlen(txt), err);
        free(txt);
        free(p);
        free(dir);
    }
    cJSON_Delete(e);
    return rc;
}

int rp_cache_restore(rp_cache *c, const rp_plan_stage *ps, size_t idx, rp_store *store,
                     const char *stage_dir, rp_stage *ctx, int *hit, rp_error *err) {
    *hit = 0;
    char *p = pathf("%s/entries/%s/entry.json", c->dir, ps->key);
    char *txt = NULL;
    if (!p || rp_read_file(p, &txt, NULL, NULL) != RP_OK) {
        free(p);
        return RP_OK; /* a miss */
    }
    cJSON *e = cJSON_Parse(txt);
    free(txt);
    const struct rp_stage_def *d = ps->entry->def;
    int rc = e ? RP_OK : rp_error_set(err, RP_ERR_FORMAT, "%s: damaged entry", p);
    /* every blob first: a half-restored stage would be worse than a miss */
    const cJSON *x;
    cJSON_ArrayForEach(x, (rc == RP_OK ? cJSON_GetObjectItem(e, "folder") : (cJSON *)NULL)) {
        const char *sha = cJSON_GetStringValue(cJSON_GetObjectItem(x, "blob"));
        char *bp = sha ? blob_path(c->dir, sha) : NULL;
        if (!bp || !rp_path_exists(bp))
            rc = rp_error_set(err, RP_ERR_IO, "%s: blob %s is missing", p, sha ? sha : "?");
        free(bp);
        if (rc != RP_OK) break;
    }
    cJSON_ArrayForEach(x, (rc == RP_OK ? cJSON_GetObjectItem(e, "folder") : (cJSON *)NULL)) {
        const char *rel = cJSON_GetStringValue(cJSON_GetObjectItem(x, "path"));
        char *dest = rel ? pathf("%s/%s", stage_dir, rel) : NULL;
        rc = dest ? blob_copy_to(c, cJSON_GetStringValue(cJSON_GetObjectItem(x, "blob")), dest, err)
                  : rp_error_set(err, RP_ERR_FORMAT, "%s: damaged entry", p);
        free(dest);
        if (rc != RP_OK) break;
    }
    size_t put = 0;
    cJSON_ArrayForEach(x, (rc == RP_OK ? cJSON_GetObjectItem(e, "outputs") : (cJSON *)NULL)) {
        const char *port = cJSON_GetStringValue(cJSON_GetObjectItem(x, "port"));
        const char *sha = cJSON_GetStringValue(cJSON_GetObjectItem(x, "blob"));
        size_t k;
        for (k = 0; port && k < d->n_outputs; k++)
            if (!strcmp(d->outputs[k].name, port)) break;
        if (!port || k == d->n_outputs) {
            rc = rp_error_set(err, RP_ERR_FORMAT, "%s: unknown output '%s'", p, port ? port : "?");
            break;
        }
        const char *type = d->outputs[k].type;
        void *art = NULL;
        char *bp = sha ? blob_path(c->dir, sha) : NULL;
        if (!strcmp(type, RP_ART_MODEL)) {
            rc = bp ? rp_model_load(bp, (rp_model **)&art, err)
                    : rp_error_set(err, RP_ERR_FORMAT, "%s: no model blob", p);
            const cJSON *fz;
            cJSON_ArrayForEach(fz, (rc == RP_OK ? cJSON_GetObjectItem(x, "frozen") : (cJSON *)NULL)) {
                rp_param *pa = rp_model_find_param(art, cJSON_GetStringValue(fz));
                if (pa) pa->trainable = 0;
            }
        } else if (!strcmp(type, RP_ART_METRICS)) {
            char *mt = NULL;
            rc = bp ? rp_read_file(bp, &mt, NULL, err) : rp_error_set(err, RP_ERR_FORMAT, "no blob");
            if (rc == RP_OK) rc = metrics_from_json(mt, (rp_metrics **)&art, err);
            free(mt);
        } else if (!strcmp(type, RP_ART_DATASET)) {
            rc = recipe_run(x, p, stage_dir, ctx, &art, err);
        } else {
            const char *rel = cJSON_GetStringValue(cJSON_GetObjectItem(x, "dir"));
            char *dir = rel && *rel ? pathf("%s/%s", stage_dir, rel) : strdup(stage_dir);
            art = dir ? rp_files_new(dir) : NULL;
            free(dir);
            if (!art) rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        free(bp);
        if (rc == RP_OK) rc = rp_store_put(store, idx, k, type, art, err);
        if (rc != RP_OK) break;
        put++;
    }
    if (rc != RP_OK) {
        /* drop what was restored: the stage runs instead */
        for (size_t k = 0; k < d->n_outputs; k++) rp_artifact_destroy(d->outputs[k].type, rp_store_take(store, idx, k));
    } else {
        *hit = 1;
        utime(p, NULL); /* last used, for `runpipe cache gc` */
    }
    cJSON_Delete(e);
    free(p);
    return rc;
}

/* ---- ls / gc -------------------------------------------------------------------------- */

static const char *jstr(const cJSON *j, const char *k) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(j, k));
    return s ? s : "?";
}

static int cmp_used(const void *a, const void *b) {
    double x = ((const rp_cache_entry *)a)->last_used, y = ((const rp_cache_entry *)b)->last_used;
    return x < y ? 1 : x > y ? -1 : 0;
}

int rp_cache_list(const char *dir, rp_cache_entry **out, size_t *n, double *total_bytes,
                  rp_error *err) {
    *out = NULL;
    *n = 0;
    *total_bytes = 0;
    char *ed = pathf("%s/entries", dir);
    DIR *d = ed ? opendir(ed) : NULL;
    if (!d) {
        free(ed);
        return rp_is_dir(dir) || !rp_path_exists(dir)
                   ? RP_OK
                   : rp_error_set(err, RP_ERR_IO, "'%s' is not a stage cache", dir);
    }
    rp_cache_entry *v = NULL;
    size_t cnt = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char *p = pathf("%s/%s/entry.json", ed, de->d_name);
        char *txt = NULL;
        struct stat sb;
        if (p && stat(p, &sb) == 0 && rp_read_file(p, &txt, NULL, NULL) == RP_OK) {
            cJSON *j = cJSON_Parse(txt);
            rp_cache_entry *nv = realloc(v, (cnt + 1) * sizeof *nv);
            if (nv && j) {
                v = nv;
                rp_cache_entry *x = &v[cnt++];
                memset(x, 0, sizeof *x);
                snprintf(x->key, sizeof x->key, "%.64s", de->d_name);
                snprintf(x->stage, sizeof x->stage, "%s",
                         jstr(j, "stage"));
                snprintf(x->use, sizeof x->use, "%s",
                         jstr(j, "use"));
                x->size = val(cJSON_GetObjectItem(j, "size"));
                x->last_used = (double)sb.st_mtime;
                *total_bytes += isfinite(x->size) ? x->size : 0;
            } else if (nv) {
                v = nv;
            }
            cJSON_Delete(j);
        }
        free(txt);
        free(p);
    }
    closedir(d);
    free(ed);
    qsort(v, cnt, sizeof *v, cmp_used);
    *out = v;
    *n = cnt;
    return RP_OK;
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = pathf("%s/%s", path, e->d_name);
            if (p) remove_tree(p);
            free(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Blobs named by the remaining entries (a sorted list of sha256 hex). */
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int rp_cache_gc(const char *dir, double max_bytes, size_t *removed, double *freed,
                rp_error *err) {
    *removed = 0;
    *freed = 0;
    rp_cache_entry *v = NULL;
    size_t n = 0;
    double total = 0;
    int rc = rp_cache_list(dir, &v, &n, &total, err);
    if (rc != RP_OK) return rc;
    /* most recently used first: keep a prefix that fits */
    double kept = 0;
    char **live = calloc(1, sizeof *live);
    size_t nlive = 0;
    for (size_t i = 0; i < n; i++) {
        char *ed = pathf("%s/entries/%s", dir, v[i].key);
        if (!ed) continue;
        if (kept + v[i].size <= max_bytes) {
            kept += v[i].size;
            char *p = pathf("%s/entry.json", ed);
            char *txt = NULL;
            if (p && rp_read_file(p, &txt, NULL, NULL) == RP_OK) {
                cJSON *j = cJSON_Parse(txt);
                const char *sects[2] = {"folder", "outputs"};
                for (int s = 0; s < 2; s++) {
                    const cJSON *x;
                    cJSON_ArrayForEach(x, cJSON_GetObjectItem(j, sects[s])) {
                        const char *sha = cJSON_GetStringValue(cJSON_GetObjectItem(x, "blob"));
                        char **nl = sha ? realloc(live, (nlive + 1) * sizeof *nl) : NULL;
                        if (nl) {
                            live = nl;
                            live[nlive++] = strdup(sha);
                        }
                    }
                }
                cJSON_Delete(j);
            }
            free(txt);
            free(p);
        } else {
            remove_tree(ed);
            (*removed)++;
        }
        free(ed);
    }
    qsort(live, nlive, sizeof *live, cmp_str);
    char *bd = pathf("%s/blobs", dir);
    DIR *d = bd ? opendir(bd) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *sub = pathf("%s/%s", bd, e->d_name);
        DIR *d2 = sub ? opendir(sub) : NULL;
        struct dirent *f;
        while (d2 && (f = readdir(d2))) {
            if (f->d_name[0] == '.') continue;
            const char *name = f->d_name;
            if (bsearch(&name, live, nlive, sizeof *live, cmp_str)) continue;
            char *bp = pathf("%s/%s", sub, f->d_name);
            struct stat sb;
            if (bp && stat(bp, &sb) == 0) {
                *freed += (double)sb.st_size;
                unlink(bp);
            }
            free(bp);
        }
        if (d2) closedir(d2);
        if (sub) rmdir(sub); /* only when empty */
        free(sub);
    }
    if (d) closedir(d);
    free(bd);
    for (size_t i = 0; i < nlive; i++) free(live[i]);
    free(live);
    free(v);
    return RP_OK;
}
