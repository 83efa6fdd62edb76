/* What `check` can know before anything runs, beyond parameters and wiring
 * (pipeline.h, rp_plan_check):
 *
 * - Input paths: a parameter whose schema says `x-path: in` names a file or
 *   folder that must exist, or be produced by an earlier stage of the same
 *   run (a path under an earlier stage's `x-path: out` parameter, or
 *   `ID/...` in the run folder of an earlier stage ID). A relative path is
 *   looked up from the working directory, then from the pipeline file's
 *   folder (then the value is rewritten to that path, so the stage reads
 *   what was checked).
 * - Contracts: stages with a `check` callback declare facts about their
 *   outputs (classes, channels, height, width) from headers, folder names and
 *   params; a stage that takes a model and datasets gets them compared.
 * - Check-time models: a stage may declare the graph of a model output
 *   (model.build: built without weights); it passes on like the facts, so a
 *   later stage can check what depends on the layers (convert's candidate
 *   count) before anything trains.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/schema.h"
#include "host/registry.h"
#include "run/pipeline.h"
#include "runpipe/nn.h"
#include "runpipe/plugin.h"

#define MAX_FACTS 8

typedef struct fact {
    const char *key; /* one of the RP_FACT_* literals, or a copy in `keybuf` */
    char keybuf[24];
    int64_t v;
    const rp_node *at;
} fact;

typedef struct port_facts {
    fact f[MAX_FACTS];
    int n;
    rp_model *model; /* the check-time model of a model output (NULL = none) */
    int owns;        /* declared here (freed after the check), or passed on (borrowed) */
} port_facts;

struct rp_check {
    rp_plan *p;
    size_t i;
    port_facts **facts; /* [stage][output port] */
};

/* ---- the API plugins see ------------------------------------------------------ */

const char *rp_check_id(const rp_check *ck) { return ck->p->st[ck->i].id; }
const rp_node *rp_check_params(const rp_check *ck) { return ck->p->st[ck->i].params; }
const rp_node *rp_check_node(const rp_check *ck) { return ck->p->st[ck->i].node; }

static long port_index(const struct rp_port *ports, size_t n, const char *name) {
    for (size_t k = 0; k < n; k++)
        if (!strcmp(ports[k].name, name)) return (long)k;
    return -1;
}

static const port_facts *source_facts(const rp_check *ck, const char *port, size_t i) {
    const rp_plan_stage *s = &ck->p->st[ck->i];
    long k = port_index(s->entry->def->inputs, s->entry->def->n_inputs, port);
    if (k < 0 || i >= s->inputs[k].n) return NULL;
    const rp_plan_src *src = &s->inputs[k].src[i];
    return &ck->facts[src->stage][src->port];
}

const char *rp_check_input_source(const rp_check *ck, const char *port, size_t i) {
    const rp_plan_stage *s = &ck->p->st[ck->i];
    long k = port_index(s->entry->def->inputs, s->entry->def->n_inputs, port);
    return k < 0 || i >= s->inputs[k].n ? NULL : s->inputs[k].src[i].label;
}

size_t rp_check_input_count(const rp_check *ck, const char *port) {
    const rp_plan_stage *s = &ck->p->st[ck->i];
    long k = port_index(s->entry->def->inputs, s->entry->def->n_inputs, port);
    return k < 0 ? 0 : s->inputs[k].n;
}

int rp_check_input_fact(const rp_check *ck, const char *port, size_t i, const char *key,
                        int64_t *value, const rp_node **at) {
    const port_facts *pf = source_facts(ck, port, i);
    for (int j = 0; pf && j < pf->n; j++)
        if (!strcmp(pf->f[j].key, key)) {
            if (value) *value = pf->f[j].v;
            if (at) *at = pf->f[j].at;
            return 1;
        }
    return 0;
}

static void put(port_facts *pf, const char *key, int64_t v, const rp_node *at) {
    int j = 0;
    while (j < pf->n && strcmp(pf->f[j].key, key)) j++;
    if (j == MAX_FACTS) return;
    if (j == pf->n) pf->n++;
    fact *f = &pf->f[j];
    snprintf(f->keybuf, sizeof f->keybuf, "%s", key);
    f->key = f->keybuf;
    f->v = v;
    f->at = at;
}

void rp_check_declare(rp_check *ck, const char *port, const char *key, int64_t value,
                      const rp_node *at) {
    const rp_plan_stage *s = &ck->p->st[ck->i];
    long k = port_index(s->entry->def->outputs, s->entry->def->n_outputs, port);
    if (k < 0 || !key) return;
    /* a default filled from the schema is located in the schema file: point
       at the stage instead */
    if (!at || (at->file && s->node->file && strcmp(at->file, s->node->file) &&
                strcmp(at->file, "--set")))
        at = s->node;
    put(&ck->facts[ck->i][k], key, value, at);
}

/* Output `to` of the current stage gets model `m` (owned or borrowed). */
static void set_model(port_facts *to, rp_model *m, int owns) {
    if (to->owns) rp_model_free(to->model);
    to->model = m;
    to->owns = owns;
}

void rp_check_forward(rp_check *ck, const char *in, const char *out) {
    const port_facts *pf = source_facts(ck, in, 0);
    const rp_plan_stage *s = &ck->p->st[ck->i];
    long k = port_index(s->entry->def->outputs, s->entry->def->n_outputs, out);
    if (!pf || k < 0) return;
    for (int j = 0; j < pf->n; j++) put(&ck->facts[ck->i][k], pf->f[j].key, pf->f[j].v, pf->f[j].at);
    if (pf->model) set_model(&ck->facts[ck->i][k], pf->model, 0);
}

void rp_check_declare_model(rp_check *ck, const char *port, rp_model *m) {
    const rp_plan_stage *s = &ck->p->st[ck->i];
    long k = port_index(s->entry->def->outputs, s->entry->def->n_outputs, port);
    if (k < 0 || strcmp(s->entry->def->outputs[k].type, RP_ART_MODEL)) {
        rp_model_free(m);
        return;
    }
    set_model(&ck->facts[ck->i][k], m, 1);
}

const rp_model *rp_check_input_model(const rp_check *ck, const char *port, size_t i) {
    const port_facts *pf = source_facts(ck, port, i);
    return pf ? pf->model : NULL;
}

/* ---- paths ----------------------------------------------------------------------- */

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Is `v` under `dir` (the same path, or dir + '/' + more)? */
static int under(const char *v, const char *dir) {
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/') l--;
    return l && !strncmp(v, dir, l) && (v[l] == 0 || v[l] == '/');
}

static const char *xpath_of(const rp_node *schema_prop) {
    return rp_node_str(rp_node_get(schema_prop, "x-path"));
}

/* Returns the number of paths that are missing (each reported in d). */
static int check_paths(rp_plan *p, size_t i, rp_diag *d) {
    rp_plan_stage *s = &p->st[i];
    const rp_schema *sch = NULL;
    int missing = 0;
    if (!s->params || rp_schema_get(s->use, &sch, NULL) != RP_OK) return 0;
    const rp_node *props = rp_node_get(rp_schema_root(sch), "properties");
    for (size_t k = 0; k < rp_node_len(props); k++) {
        const char *kind = xpath_of(props->items[k]);
        if (!kind || strcmp(kind, "in")) continue;
        const char *key = props->keys[k]->str;
        rp_node *v = rp_node_get_mut(s->params, key);
        const char *val = rp_node_str(v);
        /* defaults (no location) and unset optional paths are not checked */
        if (!val || !*val || v->line == 0 || v->kind != RP_NODE_SCALAR) continue;
        if (exists(val)) continue;
        /* produced by an earlier stage of this run? */
        int produced = 0;
        for (size_t j = 0; j < i && !produced; j++) {
            const rp_plan_stage *e = &p->st[j];
            const char *eid = e->group ? e->group : e->id;
            if (val[0] != '/' && eid && under(val, eid)) produced = 1;
            const rp_schema *es = NULL;
            if (!e->params || rp_schema_get(e->use, &es, NULL) != RP_OK) continue;
            const rp_node *ep = rp_node_get(rp_schema_root(es), "properties");
            for (size_t q = 0; q < rp_node_len(ep) && !produced; q++) {
                const char *ek = xpath_of(ep->items[q]);
                const char *ov = rp_node_str(rp_node_get(e->params, ep->keys[q]->str));
                if (ek && !strcmp(ek, "out") && ov && *ov && under(val, ov)) produced = 1;
            }
        }
        if (produced) continue;
        /* relative: next to the pipeline file */
        char where[4096] = "";
        if (val[0] != '/' && v->file && strchr(v->file, '/')) {
            char *copy = strdup(v->file);
            if (copy) {
                snprintf(where, sizeof where, "%s/%s", dirname(copy), val);
                free(copy);
            }
            if (exists(where)) {
                free(v->str);
                v->str = strdup(where);
                continue;
            }
        }
        char ctx[400];
        snprintf(ctx, sizeof ctx, "stage '%s' (%s): ", s->id ? s->id : "?", s->use);
        missing++;
        if (val[0] == '/')
            rp_diag_addf(d, v, s->id, "%s'%s': '%s' does not exist", ctx, key, val);
        else
            rp_diag_addf(d, v, s->id,
                         "%s'%s': '%s' does not exist (looked in the working directory%s%s%s, "
                         "and no earlier stage makes it)",
                         ctx, key, val, where[0] ? " and at '" : "", where[0] ? where : "",
                         where[0] ? "'" : "");
    }
    return missing;
}

/* ---- contracts ---------------------------------------------------------------------- */

static int get(const port_facts *pf, const char *key, int64_t *v, const rp_node **at) {
    for (int j = 0; pf && j < pf->n; j++)
        if (!strcmp(pf->f[j].key, key)) {
            *v = pf->f[j].v;
            *at = pf->f[j].at;
            return 1;
        }
    return 0;
}

static void loc(const rp_node *n, char *buf, size_t size) {
    if (n && n->file)
        snprintf(buf, size, "%s:%d:%d", n->file, n->line, n->col);
    else
        snprintf(buf, size, "?");
}

/* A model input and every dataset input of stage i: same classes, channels
 * and image size where both sides declared them. */
static void compare(rp_check *ck, rp_diag *d) {
    const rp_plan_stage *s = &ck->p->st[ck->i];
    const struct rp_stage_def *def = s->entry->def;
    char ctx[400];
    snprintf(ctx, sizeof ctx, "stage '%s' (%s): ", s->id ? s->id : "?", s->use);
    for (size_t m = 0; m < def->n_inputs; m++) {
        if (strcmp(def->inputs[m].type, RP_ART_MODEL) || !s->inputs[m].n) continue;
        const rp_plan_src *ms = &s->inputs[m].src[0];
        const port_facts *mf = &ck->facts[ms->stage][ms->port];
        for (size_t k = 0; k < def->n_inputs; k++) {
            if (strcmp(def->inputs[k].type, RP_ART_DATASET)) continue;
            for (size_t j = 0; j < s->inputs[k].n; j++) {
                const rp_plan_src *ds = &s->inputs[k].src[j];
                const port_facts *df = &ck->facts[ds->stage][ds->port];
                int64_t a, b;
                const rp_node *aat, *bat;
                char la[600], lb[600];
                if (get(mf, RP_FACT_CLASSES, &a, &aat) && get(df, RP_FACT_CLASSES, &b, &bat) &&
                    a != b) {
                    loc(aat, la, sizeof la);
                    loc(bat, lb, sizeof lb);
                    rp_diag_addf(d, ds->node, s->id,
                                 "%smodel '%s' has %" PRId64 " classes (%s) but '%s' has %" PRId64
                                 " (%s)",
                                 ctx, ms->label, a, la, ds->label, b, lb);
                }
                static const char *const geo[3] = {RP_FACT_CHANNELS, RP_FACT_HEIGHT, RP_FACT_WIDTH};
                int64_t mg[3], dg[3];
                const rp_node *mat = NULL, *dat = NULL, *t;
                int known = 1, differ = 0;
                for (int g = 0; g < 3; g++) {
                    /* the height's origin locates the image size */
                    known &= get(mf, geo[g], &mg[g], g == 1 ? &mat : &t);
                    known &= get(df, geo[g], &dg[g], g == 1 ? &dat : &t);
                    if (known && mg[g] != dg[g]) differ = 1;
                }
                if (known && differ) {
                    loc(mat, la, sizeof la);
                    loc(dat, lb, sizeof lb);
                    rp_diag_addf(d, ds->node, s->id,
                                 "%smodel '%s' takes [%" PRId64 ", %" PRId64 ", %" PRId64
                                 "] images (%s) but '%s' gives [%" PRId64 ", %" PRId64
                                 ", %" PRId64 "] (%s); set the model's in_channels/size, or "
                                 "resize/convert the data with an augment stage",
                                 ctx, ms->label, mg[0], mg[1], mg[2], la, ds->label, dg[0], dg[1],
                                 dg[2], lb);
                }
            }
        }
    }
}

/* A stage that takes one model and gives models (train, convert, save ...)
 * keeps the model's interface unless its check callback says otherwise. */
static void forward_models(rp_check *ck) {
    const rp_plan_stage *s = &ck->p->st[ck->i];
    const struct rp_stage_def *def = s->entry->def;
    long in = -1;
    for (size_t k = 0; k < def->n_inputs; k++)
        if (!strcmp(def->inputs[k].type, RP_ART_MODEL) && s->inputs[k].n) {
            if (in >= 0) return; /* several models: no single interface */
            in = (long)k;
        }
    if (in < 0 || s->inputs[in].n != 1) return;
    const rp_plan_src *src = &s->inputs[in].src[0];
    const port_facts *pf = &ck->facts[src->stage][src->port];
    for (size_t o = 0; o < def->n_outputs; o++)
        if (!strcmp(def->outputs[o].type, RP_ART_MODEL)) {
            for (int j = 0; j < pf->n; j++)
                put(&ck->facts[ck->i][o], pf->f[j].key, pf->f[j].v, pf->f[j].at);
            if (pf->model) set_model(&ck->facts[ck->i][o], pf->model, 0);
        }
}

int rp_plan_check(rp_plan *p, rp_diag *d) {
    size_t before = rp_diag_count(d);
    rp_check ck = {p, 0, calloc(p->n ? p->n : 1, sizeof(port_facts *))};
    if (!ck.facts) return rp_diag_addf(d, p->doc, NULL, "out of memory");
    for (size_t i = 0; i < p->n; i++) {
        const rp_plan_stage *s = &p->st[i];
        size_t no = s->entry ? s->entry->def->n_outputs : 0;
        ck.facts[i] = calloc(no ? no : 1, sizeof(port_facts));
        if (!ck.facts[i]) {
            rp_diag_addf(d, p->doc, NULL, "out of memory");
            goto done;
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        rp_plan_stage *s = &p->st[i];
        if (!s->entry || !s->params) continue;
        int missing = check_paths(p, i, d);
        ck.i = i;
        compare(&ck, d);
        forward_models(&ck);
        /* a stage whose paths are missing would only say so again */
        if (!s->entry->def->check || missing) continue;
        rp_error e;
        rp_error_clear(&e);
        if (s->entry->def->check(&ck, &e) != RP_OK) {
            if (!e.file[0]) {
                rp_error tmp = e; /* rp_error_at writes e.msg */
                rp_error_at(&e, s->node, tmp.status, "%s", tmp.msg);
            }
            snprintf(e.stage, sizeof e.stage, "%s", s->id ? s->id : "");
            rp_error_prefix(&e, "stage '%s' (%s): ", s->id ? s->id : "?", s->use);
            rp_diag_add(d, &e);
        }
    }
done:
    for (size_t i = 0; i < p->n; i++) {
        size_t no = p->st[i].entry ? p->st[i].entry->def->n_outputs : 0;
        for (size_t o = 0; ck.facts[i] && o < no; o++)
            if (ck.facts[i][o].owns) rp_model_free(ck.facts[i][o].model);
        free(ck.facts[i]);
    }
    free(ck.facts);
    return rp_diag_count(d) > before ? RP_ERR_INVALID : RP_OK;
}
