/* The run's artifact store and the stage context (plugin.h accessors).
 *
 * The store owns every artifact a stage hands over and destroys them by type
 * in reverse creation order (a dataset view may borrow its parent). Stages
 * see their inputs as borrowed pointers.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "run/pipeline.h"
#include "runpipe/artifact.h"
#include "runpipe/data.h"
#include "runpipe/io.h"
#include "runpipe/loss.h"
#include "runpipe/nn.h"

typedef struct store_item {
    size_t stage, port;
    const char *type; /* static RP_ART_* string from the stage table */
    void *art;
    int borrowed;     /* owned by the run's shared-stage registry, not by this store */
    rp_recipe recipe; /* how a dataset was made (use NULL: unknown) */
} store_item;

struct rp_store {
    store_item *items;
    size_t n, cap;
};

rp_store *rp_store_new(void) { return calloc(1, sizeof(rp_store)); }

void rp_artifact_destroy(const char *type, void *art) {
    if (!art || !type) return;
    if (strcmp(type, RP_ART_DATASET) == 0)
        rp_dataset_free(art);
    else if (strcmp(type, RP_ART_MODEL) == 0)
        rp_model_free(art);
    else if (strcmp(type, RP_ART_LOSS) == 0)
        rp_loss_free(art);
    else if (strcmp(type, RP_ART_METRICS) == 0)
        rp_metrics_free(art);
    else if (strcmp(type, RP_ART_FILES) == 0)
        rp_files_free(art);
}

void rp_recipe_release(rp_recipe *r) {
    if (!r) return;
    free(r->use);
    free(r->port);
    rp_node_free(r->params);
    memset(r, 0, sizeof *r);
}

const rp_recipe *rp_store_recipe(const rp_store *s, size_t stage, size_t port) {
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].stage == stage && s->items[i].port == port)
            return s->items[i].recipe.use ? &s->items[i].recipe : NULL;
    return NULL;
}

void rp_stage_ctx_release(rp_stage *st) {
    free(st->dir);
    st->dir = NULL;
    for (size_t i = 0; i < st->n_recipes; i++) rp_recipe_release(&st->recipes[i]);
    free(st->recipes);
    st->recipes = NULL;
    st->n_recipes = 0;
}

void rp_store_free(rp_store *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) rp_recipe_release(&s->items[i].recipe);
    for (size_t i = s->n; i-- > 0;)
        if (!s->items[i].borrowed) rp_artifact_destroy(s->items[i].type, s->items[i].art);
    free(s->items);
    free(s);
}

int rp_store_put(rp_store *s, size_t stage, size_t port, const char *type, void *art,
                 rp_error *err) {
    if (!art) return rp_error_set(err, RP_ERR_INVALID, "NULL artifact");
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].stage == stage && s->items[i].port == port) {
            rp_artifact_destroy(type, art);
            return rp_error_set(err, RP_ERR_INVALID, "output was already set");
        }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        store_item *ni = realloc(s->items, nc * sizeof *ni);
        if (!ni) {
            rp_artifact_destroy(type, art);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory storing an artifact");
        }
        s->items = ni;
        s->cap = nc;
    }
    s->items[s->n++] = (store_item){stage, port, type, art, 0, {0}};
    return RP_OK;
}

int rp_store_put_borrowed(rp_store *s, size_t stage, size_t port, const char *type, void *art,
                          rp_error *err) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        store_item *ni = realloc(s->items, nc * sizeof *ni);
        if (!ni) return rp_error_set(err, RP_ERR_NOMEM, "out of memory storing an artifact");
        s->items = ni;
        s->cap = nc;
    }
    s->items[s->n++] = (store_item){stage, port, type, art, 1, {0}};
    return RP_OK;
}

void *rp_store_take(rp_store *s, size_t stage, size_t port) {
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].stage == stage && s->items[i].port == port && !s->items[i].borrowed) {
            void *a = s->items[i].art;
            rp_recipe_release(&s->items[i].recipe);
            memmove(&s->items[i], &s->items[i + 1], (s->n - i - 1) * sizeof *s->items);
            s->n--;
            return a;
        }
    return NULL;
}

void *rp_store_get(const rp_store *s, size_t stage, size_t port) {
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].stage == stage && s->items[i].port == port) return s->items[i].art;
    return NULL;
}

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

char *rp_store_metrics_json(const rp_store *s, const rp_plan *p, size_t *count) {
    cJSON *root = cJSON_CreateObject();
    size_t cnt = 0;
    for (size_t i = 0; i < s->n; i++) {
        const store_item *it = &s->items[i];
        if (strcmp(it->type, RP_ART_METRICS) != 0) continue;
        const rp_metrics *m = it->art;
        const rp_plan_stage *ps = &p->st[it->stage];
        /* Keyed by stage id; a stage with several metrics outputs gets id.port. */
        size_t n_metric_outs = 0;
        for (size_t k = 0; k < ps->entry->def->n_outputs; k++)
            if (strcmp(ps->entry->def->outputs[k].type, RP_ART_METRICS) == 0) n_metric_outs++;
        char key[300];
        if (n_metric_outs > 1)
            snprintf(key, sizeof key, "%s.%s", ps->id, ps->entry->def->outputs[it->port].name);
        else
            snprintf(key, sizeof key, "%s", ps->id);
        cJSON *o = cJSON_AddObjectToObject(root, key);
        cJSON *sc = cJSON_AddObjectToObject(o, "scalars");
        for (size_t k = 0; k < m->n; k++) cJSON_AddItemToObject(sc, m->names[k], num(m->values[k]));
        cJSON *tb = cJSON_AddObjectToObject(o, "tables");
        for (size_t t = 0; t < m->n_tables; t++) {
            const rp_table *tab = &m->tables[t];
            cJSON *to = cJSON_AddObjectToObject(tb, tab->name);
            cJSON *cols = cJSON_AddArrayToObject(to, "columns");
            for (size_t c = 0; c < tab->cols; c++)
                cJSON_AddItemToArray(cols, cJSON_CreateString(tab->col_names[c]));
            if (tab->row_names) {
                cJSON *rn = cJSON_AddArrayToObject(to, "rows");
                for (size_t r = 0; r < tab->rows; r++)
                    cJSON_AddItemToArray(rn, cJSON_CreateString(tab->row_names[r]));
            }
            cJSON *vals = cJSON_AddArrayToObject(to, "values");
            for (size_t r = 0; r < tab->rows; r++) {
                cJSON *row = cJSON_CreateArray();
                for (size_t c = 0; c < tab->cols; c++)
                    cJSON_AddItemToArray(row, num(tab->values[r * tab->cols + c]));
                cJSON_AddItemToArray(vals, row);
            }
        }
        cJSON *fl = cJSON_AddArrayToObject(o, "files");
        for (size_t f = 0; f < m->n_files; f++)
            cJSON_AddItemToArray(fl, cJSON_CreateString(m->files[f]));
        cnt++;
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (count) *count = cnt;
    return txt;
}

/* ---- the stage context ----------------------------------------------------------- */

const char *rp_stage_id(const rp_stage *st) { return st->ps->id; }
const char *rp_stage_use(const rp_stage *st) { return st->ps->use; }
const rp_node *rp_stage_params(const rp_stage *st) { return st->ps->params; }
const rp_node *rp_stage_node(const rp_stage *st) { return st->ps->node; }
uint64_t rp_stage_seed(const rp_stage *st) { return st->opts->seed; }
int rp_stage_threads(const rp_stage *st) { return st->opts->threads; }
const char *rp_stage_rundir(const rp_stage *st) { return st->rundir; }
int rp_stage_resuming(const rp_stage *st) { return st->opts->resuming; }

int rp_stage_dir(rp_stage *st, const char **dir, rp_error *err) {
    *dir = NULL;
    if (!st->dir) {
        size_t n = strlen(st->rundir) + strlen(st->ps->id) + 2;
        st->dir = malloc(n);
        if (!st->dir) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        snprintf(st->dir, n, "%s/%s", st->rundir, st->ps->id);
    }
    int s = rp_mkdirs(st->dir, err);
    if (s != RP_OK) return s;
    *dir = st->dir;
    return RP_OK;
}

int rp_plan_stage_shared(const rp_plan_stage *s, const struct rp_exec_opts *o) {
    return o->shared && s->shared_by > 1 && s->shared_dir && o->root;
}

int rp_stage_dir_of(const rp_stage *st, const char *id, char *buf, size_t n) {
    const rp_plan *p = st->plan;
    for (size_t j = 0; id && j < p->n; j++) {
        const rp_plan_stage *s = &p->st[j];
        if (strcmp(s->id, id)) continue;
        if (rp_plan_stage_shared(s, st->opts))
            snprintf(buf, n, "%s/%s%s", st->opts->root, s->shared_dir, s->id);
        else
            snprintf(buf, n, "%s/%s", st->opts->rundir, s->id);
        return 1;
    }
    return 0;
}

static int input_index(const rp_stage *st, const char *port) {
    const struct rp_stage_def *d = st->ps->entry->def;
    for (size_t i = 0; port && i < d->n_inputs; i++)
        if (strcmp(d->inputs[i].name, port) == 0) return (int)i;
    return -1;
}

size_t rp_stage_input_count(const rp_stage *st, const char *port) {
    int i = input_index(st, port);
    return i < 0 ? 0 : st->ps->inputs[i].n;
}

void *rp_stage_input_at(const rp_stage *st, const char *port, size_t k) {
    int i = input_index(st, port);
    if (i < 0 || k >= st->ps->inputs[i].n) return NULL;
    const rp_plan_src *src = &st->ps->inputs[i].src[k];
    return rp_store_get(st->store, src->stage, src->port);
}

void *rp_stage_input(const rp_stage *st, const char *port) {
    return rp_stage_input_at(st, port, 0);
}

const char *rp_stage_input_source(const rp_stage *st, const char *port, size_t k) {
    int i = input_index(st, port);
    if (i < 0 || k >= st->ps->inputs[i].n) return NULL;
    return st->ps->inputs[i].src[k].label;
}

int rp_stage_output(rp_stage *st, const char *port, void *artifact, rp_error *err) {
    const struct rp_stage_def *d = st->ps->entry->def;
    for (size_t i = 0; port && i < d->n_outputs; i++)
        if (strcmp(d->outputs[i].name, port) == 0) {
            if (st->capture) {
                if (st->capture[i]) rp_artifact_destroy(d->outputs[i].type, st->capture[i]);
                st->capture[i] = artifact;
                return RP_OK;
            }
            int s = rp_store_put(st->store, st->idx, i, d->outputs[i].type, artifact, err);
            if (s != RP_OK) {
                rp_error_prefix(err, "output '%s': ", port);
                return s;
            }
            /* made by rp_stage_call: the store keeps how (for the stage cache) */
            for (size_t r = 0; r < st->n_recipes; r++)
                if (st->recipes[r].art == artifact) {
                    store_item *it = &st->store->items[st->store->n - 1];
                    it->recipe = st->recipes[r];
                    st->recipes[r] = st->recipes[--st->n_recipes];
                    break;
                }
            return RP_OK;
        }
    /* Not a declared output: we cannot know its type, so we cannot destroy
     * it safely; the caller's bug is reported loudly instead. */
    return rp_error_set(err, RP_ERR_INTERNAL, "stage '%s' (%s) has no output '%s'", st->ps->id,
                        st->ps->use, port ? port : "(null)");
}

void rp_stage_note(rp_stage *st, const char *key, double value) {
    rp_stage_result *r = st->res;
    if (!r || !key) return;
    for (size_t i = 0; i < r->n_notes; i++)
        if (strcmp(r->note_keys[i], key) == 0) {
            r->note_vals[i] = value;
            return;
        }
    /* (void API: a note that cannot be kept fails the stage afterwards,
     * exec.c, rather than vanish from the summary) */
    char **nk = realloc(r->note_keys, (r->n_notes + 1) * sizeof *nk);
    if (nk) r->note_keys = nk;
    double *nv = nk ? realloc(r->note_vals, (r->n_notes + 1) * sizeof *nv) : NULL;
    if (nv) r->note_vals = nv;
    size_t l = strlen(key) + 1;
    char *k = nv ? malloc(l) : NULL;
    if (!k) {
        r->notes_lost = 1;
        return;
    }
    memcpy(k, key, l);
    r->note_keys[r->n_notes] = k;
    r->note_vals[r->n_notes++] = value;
}

int rp_stage_call(rp_stage *st, const char *use, const rp_node *params, const char *port,
                  void **out, rp_error *err) {
    *out = NULL;
    const rp_stage_entry *e = use ? rp_registry_stage(use) : NULL;
    if (!e)
        return rp_error_set(err, RP_ERR_NOTFOUND,
                            "stage '%s' is not available (its plugin did not load: see "
                            "'runpipe stages')",
                            use ? use : "(null)");
    const struct rp_stage_def *d = e->def;
    for (size_t i = 0; i < d->n_inputs; i++)
        if (!(d->inputs[i].flags & RP_PORT_OPTIONAL))
            return rp_error_set(err, RP_ERR_INTERNAL,
                                "stage '%s' needs input '%s': only stages without inputs can be "
                                "called from another stage",
                                use, d->inputs[i].name);
    size_t k = d->n_outputs;
    for (size_t i = 0; port && i < d->n_outputs; i++)
        if (!strcmp(d->outputs[i].name, port)) k = i;
    if (k == d->n_outputs)
        return rp_error_set(err, RP_ERR_INTERNAL, "stage '%s' has no output '%s'", use,
                            port ? port : "(null)");
    const rp_schema *sch = NULL;
    int s = rp_schema_get(use, &sch, err);
    if (s != RP_OK) return s;
    char ctx[300];
    snprintf(ctx, sizeof ctx, "%s: ", use);
    rp_diag dg;
    rp_diag_init(&dg);
    rp_node *norm = NULL;
    if (rp_schema_validate(sch, params, ctx, &norm, &dg) != RP_OK) {
        /* parameters built by a stage: a bug in that stage, reported in full */
        if (dg.n) *err = dg.e[0];
        else rp_error_set(err, RP_ERR_INVALID, "%sinvalid parameters", ctx);
        err->status = RP_ERR_INTERNAL;
        rp_diag_release(&dg);
        rp_node_free(norm);
        return RP_ERR_INTERNAL;
    }
    rp_diag_release(&dg);
    void **cap = calloc(d->n_outputs ? d->n_outputs : 1, sizeof *cap);
    if (!cap) {
        rp_node_free(norm);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    rp_plan_stage ps = *st->ps;
    ps.use = (char *)use;
    ps.entry = e;
    ps.params = norm;
    ps.inputs = NULL;
    struct rp_stage sub = {.plan = st->plan,
                           .idx = st->idx,
                           .ps = &ps,
                           .store = st->store,
                           .opts = st->opts,
                           .rundir = st->rundir,
                           .capture = cap};
    s = d->run(&sub, err);
    free(sub.dir);
    if (s == RP_OK && !cap[k])
        s = rp_error_set(err, RP_ERR_INTERNAL, "stage '%s' finished without its output '%s'", use,
                         port);
    if (s == RP_OK) {
        *out = cap[k];
        cap[k] = NULL;
        /* remembered until handed on with rp_stage_output (top level only) */
        rp_recipe *nr = st->capture ? NULL
                                    : realloc(st->recipes, (st->n_recipes + 1) * sizeof *nr);
        if (nr) {
            st->recipes = nr;
            rp_recipe *r = &nr[st->n_recipes];
            r->art = *out;
            r->use = strdup(use);
            r->port = strdup(port);
            r->params = rp_node_clone(norm);
            if (r->use && r->port && r->params)
                st->n_recipes++;
            else
                rp_recipe_release(r); /* without it the output is just not cached */
        }
    } else {
        rp_error_prefix(err, "%s", ctx);
    }
    for (size_t i = 0; i < d->n_outputs; i++)
        if (cap[i]) rp_artifact_destroy(d->outputs[i].type, cap[i]);
    free(cap);
    rp_node_free(norm);
    return s;
}
