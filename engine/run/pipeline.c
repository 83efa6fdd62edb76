/* Pipeline plan, check and run (DESIGN §3).
 *
 * rp_plan_build resolves every stage of one cell document: the stage exists
 * (did you mean), `with:` is valid against schemas/<use>.yaml (defaults
 * filled), and `in:` refers to outputs of EARLIER stages with the right
 * artifact types; every error is collected with its location. rp_plan_run
 * then runs the stages in order with an artifact store.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/pipeline.h"
#include "base/util.h"
#include "runpipe/log.h"
#include "runpipe/strbuf.h"
#include "config/schema.h"

static const char *art_article(const char *type) {
    return type && strchr("aeiou", type[0]) ? "an" : "a";
}

/* ---- plan ------------------------------------------------------------------------ */

void rp_plan_free(rp_plan *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        rp_plan_stage *s = &p->st[i];
        free(s->id);
        free(s->use);
        rp_node_free(s->params);
        if (s->inputs && s->entry)
            for (size_t k = 0; k < s->entry->def->n_inputs; k++) {
                for (size_t j = 0; j < s->inputs[k].n; j++) free(s->inputs[k].src[j].label);
                free(s->inputs[k].src);
            }
        free(s->inputs);
        free(s->group);
        free(s->inst);
        rp_node_free(s->each);
        rp_node_free(s->in_node);
        free(s->shared_dir);
    }
    free(p->st);
    free(p);
}

static int find_id(const rp_plan *p, const char *id) {
    for (size_t i = 0; i < p->n; i++)
        if (p->st[i].id && strcmp(p->st[i].id, id) == 0) return (int)i;
    return -1;
}

/* Index of an earlier stage (< upto) whose id or foreach group is `id`, or -1. */
static int id_taken(const rp_plan *p, const char *id, size_t upto, const rp_node *self) {
    for (size_t i = 0; i < upto; i++)
        if (p->st[i].node != self &&
            ((p->st[i].id && !p->st[i].group && !strcmp(p->st[i].id, id)) ||
             (p->st[i].group && !strcmp(p->st[i].group, id))))
            return (int)i;
    return -1;
}

static int find_group_first(const rp_plan *p, const char *group) {
    for (size_t i = 0; i < p->n; i++)
        if (p->st[i].group && !strcmp(p->st[i].group, group)) return (int)i;
    return 0;
}

/* `donor[*].model` → the references of every instance of `donor`, in order
 * (texts owned by *out, n of them). Not a [*] reference: one copy. */
static int expand_star(const rp_plan *p, const char *txt, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    const char *star = txt ? strstr(txt, "[*]") : NULL;
    size_t cnt = 0;
    if (star)
        for (size_t i = 0; i < p->n; i++)
            if (p->st[i].group && strlen(p->st[i].group) == (size_t)(star - txt) &&
                !strncmp(p->st[i].group, txt, (size_t)(star - txt)))
                cnt++;
    char **v = calloc(cnt ? cnt : 1, sizeof *v);
    if (!v) return RP_ERR_NOMEM;
    if (!star || !cnt) {
        v[0] = rp_strdup(txt ? txt : "");
        if (!v[0]) {
            free(v);
            return RP_ERR_NOMEM;
        }
        *out = v;
        *n = 1;
        return RP_OK;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (!p->st[i].group || strlen(p->st[i].group) != (size_t)(star - txt) ||
            strncmp(p->st[i].group, txt, (size_t)(star - txt)))
            continue;
        size_t l = strlen(p->st[i].id) + strlen(star + 3) + 1;
        v[*n] = malloc(l);
        if (!v[*n]) {
            for (size_t k = 0; k < *n; k++) free(v[k]);
            free(v);
            *n = 0;
            return RP_ERR_NOMEM;
        }
        snprintf(v[*n], l, "%s%s", p->st[i].id, star + 3);
        (*n)++;
    }
    *out = v;
    return RP_OK;
}

static void list_names(rp_strbuf *b, const struct rp_port *ports, size_t n) {
    for (size_t i = 0; i < n; i++) rp_strbuf_printf(b, "%s%s", i ? ", " : "", ports[i].name);
}

/* Resolve one reference `id` / `id.port` for input port `ip` of stage `si`. */
static int wire_one(rp_plan *p, size_t si, const struct rp_port *ip, const rp_node *ref,
                    const char *txt, rp_plan_src *out, rp_diag *d, const char *ctx) {
    if (!txt || !*txt || ref->kind != RP_NODE_SCALAR)
        return rp_diag_addf(d, ref, p->st[si].id,
                            "%sinput '%s': expected a stage output 'id' or 'id.port'", ctx,
                            ip->name);
    char idbuf[256], portbuf[256] = "";
    snprintf(idbuf, sizeof idbuf, "%s", txt);
    int src = find_id(p, idbuf);
    if (src < 0) {
        /* ids have no dots, foreach instance labels may ("fit/lr-0.1") */
        char *dot = strrchr(idbuf, '.');
        if (dot) {
            *dot = 0;
            snprintf(portbuf, sizeof portbuf, "%s", dot + 1);
            src = find_id(p, idbuf);
        }
    }
    if (src < 0) {
        size_t ng = 0;
        for (size_t i = 0; i < p->n; i++)
            if (p->st[i].group && !strcmp(p->st[i].group, idbuf)) ng++;
        if (ng)
            return rp_diag_addf(d, ref, p->st[si].id,
                                "%sinput '%s': '%s' has %zu instances (foreach): write "
                                "'%s[*]%s%s' for all of them, or one instance '%s/%s%s%s'",
                                ctx, ip->name, idbuf, ng, idbuf, portbuf[0] ? "." : "", portbuf,
                                idbuf, p->st[find_group_first(p, idbuf)].inst,
                                portbuf[0] ? "." : "", portbuf);
    }
    if (src < 0) {
        const char **cands = malloc((p->n ? p->n : 1) * sizeof *cands);
        size_t nc = 0;
        for (size_t i = 0; cands && i < p->n; i++)
            if (p->st[i].id && i != si) cands[nc++] = p->st[i].id;
        const char *s = cands ? rp_suggest(idbuf, cands, nc) : NULL;
        if (s)
            rp_diag_addf(d, ref, p->st[si].id,
                         "%sinput '%s': unknown stage id '%s' (did you mean '%s'?)", ctx,
                         ip->name, idbuf, s);
        else
            rp_diag_addf(d, ref, p->st[si].id, "%sinput '%s': unknown stage id '%s'", ctx,
                         ip->name, idbuf);
        free(cands);
        return RP_ERR_INVALID;
    }
    if ((size_t)src == si)
        return rp_diag_addf(d, ref, p->st[si].id, "%sinput '%s': a stage cannot use its own output",
                            ctx, ip->name);
    if ((size_t)src > si)
        return rp_diag_addf(d, ref, p->st[si].id,
                            "%sinput '%s': stage '%s' comes later in the pipeline (inputs must "
                            "come from earlier stages)",
                            ctx, ip->name, idbuf);
    const rp_plan_stage *ss = &p->st[src];
    if (!ss->entry) return RP_ERR_INVALID; /* its own error was reported */
    const struct rp_stage_def *sd = ss->entry->def;
    size_t port = 0;
    if (portbuf[0]) {
        size_t k;
        for (k = 0; k < sd->n_outputs; k++)
            if (strcmp(sd->outputs[k].name, portbuf) == 0) break;
        if (k == sd->n_outputs) {
            const char **cands = malloc((sd->n_outputs ? sd->n_outputs : 1) * sizeof *cands);
            for (size_t i = 0; cands && i < sd->n_outputs; i++) cands[i] = sd->outputs[i].name;
            const char *s = cands ? rp_suggest(portbuf, cands, sd->n_outputs) : NULL;
            free(cands);
            rp_strbuf names = {0};
            list_names(&names, sd->outputs, sd->n_outputs);
            if (s)
                rp_diag_addf(d, ref, p->st[si].id,
                             "%sinput '%s': stage '%s' (%s) has no output '%s' (did you mean "
                             "'%s'?)",
                             ctx, ip->name, idbuf, ss->use, portbuf, s);
            else if (sd->n_outputs)
                rp_diag_addf(d, ref, p->st[si].id,
                             "%sinput '%s': stage '%s' (%s) has no output '%s' (outputs: %s)", ctx,
                             ip->name, idbuf, ss->use, portbuf, names.p);
            else
                rp_diag_addf(d, ref, p->st[si].id,
                             "%sinput '%s': stage '%s' (%s) produces no outputs", ctx, ip->name,
                             idbuf, ss->use);
            rp_strbuf_release(&names);
            return RP_ERR_INVALID;
        }
        port = k;
    } else if (sd->n_outputs == 0) {
        return rp_diag_addf(d, ref, p->st[si].id,
                            "%sinput '%s': stage '%s' (%s) produces no outputs", ctx, ip->name,
                            idbuf, ss->use);
    }
    const struct rp_port *op = &sd->outputs[port];
    if (strcmp(op->type, ip->type) != 0)
        return rp_diag_addf(d, ref, p->st[si].id,
                            "%sinput '%s' expects %s %s, but '%s.%s' is %s %s", ctx, ip->name,
                            art_article(ip->type), ip->type, idbuf, op->name,
                            art_article(op->type), op->type);
    out->stage = (size_t)src;
    out->port = port;
    char lab[600];
    snprintf(lab, sizeof lab, "%s.%s", idbuf, op->name);
    out->label = rp_strdup(lab);
    out->node = ref;
    if (!out->label) return rp_diag_addf(d, ref, p->st[si].id, "%sout of memory", ctx);
    return RP_OK;
}

static void wire_stage(rp_plan *p, size_t si, rp_diag *d, const char *ctx) {
    rp_plan_stage *s = &p->st[si];
    const struct rp_stage_def *def = s->entry->def;
    s->inputs = calloc(def->n_inputs ? def->n_inputs : 1, sizeof *s->inputs);
    if (!s->inputs) {
        rp_diag_addf(d, s->node, s->id, "%sout of memory", ctx);
        return;
    }
    const rp_node *in = s->in_node ? s->in_node : rp_node_get(s->node, "in");
    if (in && in->kind != RP_NODE_NULL && in->kind != RP_NODE_MAP) {
        rp_diag_addf(d, in, s->id, "%s'in': expected a map of input ports to stage outputs", ctx);
        in = NULL;
    }
    /* Ports an unknown key was taken for ("dta" → "data"): the typo is
     * reported once, not again as a missing required input. */
    char *suggested = calloc(def->n_inputs ? def->n_inputs : 1, 1);
    for (size_t k = 0; in && in->kind == RP_NODE_MAP && k < in->n; k++) {
        const char *pname = rp_node_str(in->keys[k]);
        const rp_node *val = in->items[k];
        size_t pi;
        for (pi = 0; pi < def->n_inputs; pi++)
            if (pname && strcmp(def->inputs[pi].name, pname) == 0) break;
        if (pi == def->n_inputs) {
            const char **cands = malloc((def->n_inputs ? def->n_inputs : 1) * sizeof *cands);
            for (size_t i = 0; cands && i < def->n_inputs; i++) cands[i] = def->inputs[i].name;
            const char *sug = cands ? rp_suggest(pname, cands, def->n_inputs) : NULL;
            for (size_t i = 0; sug && suggested && i < def->n_inputs; i++)
                if (cands[i] == sug) suggested[i] = 1;
            free(cands);
            rp_strbuf names = {0};
            list_names(&names, def->inputs, def->n_inputs);
            if (sug)
                rp_diag_addf(d, in->keys[k], s->id, "%sunknown input '%s' (did you mean '%s'?)",
                             ctx, pname ? pname : "", sug);
            else if (def->n_inputs)
                rp_diag_addf(d, in->keys[k], s->id, "%sunknown input '%s' (inputs: %s)", ctx,
                             pname ? pname : "", names.p);
            else
                rp_diag_addf(d, in->keys[k], s->id, "%sunknown input '%s' (%s takes no inputs)",
                             ctx, pname ? pname : "", s->use);
            rp_strbuf_release(&names);
            continue;
        }
        const struct rp_port *ip = &def->inputs[pi];
        rp_plan_input *pin = &s->inputs[pi];
        if (pin->n) {
            rp_diag_addf(d, in->keys[k], s->id, "%sinput '%s' is wired twice", ctx, ip->name);
            continue;
        }
        if (val->kind != RP_NODE_SEQ && val->kind != RP_NODE_SCALAR) {
            rp_diag_addf(d, val, s->id, "%sinput '%s': expected a stage output 'id' or 'id.port'%s",
                         ctx, ip->name, (ip->flags & RP_PORT_MULTI) ? " (or a list of them)" : "");
            continue;
        }
        /* references, with `x[*]` expanded to every instance of x */
        size_t nitems = val->kind == RP_NODE_SEQ ? val->n : 1, nref = 0;
        char **txts = NULL;
        const rp_node **nodes = NULL;
        int oom = 0;
        for (size_t r = 0; r < nitems; r++) {
            const rp_node *ref = val->kind == RP_NODE_SEQ ? val->items[r] : val;
            char **one = NULL;
            size_t k1 = 0;
            if (expand_star(p, rp_node_str(ref), &one, &k1) != RP_OK) {
                oom = 1;
                break;
            }
            char **nt = realloc(txts, (nref + k1) * sizeof *nt);
            const rp_node **nn = nt ? realloc(nodes, (nref + k1) * sizeof *nn) : NULL;
            if (nt) txts = nt;
            if (nn) nodes = nn;
            if (!nt || !nn) oom = 1;
            for (size_t j = 0; j < k1; j++) {
                if (nt && nn) {
                    txts[nref] = one[j];
                    nodes[nref++] = ref;
                } else {
                    free(one[j]);
                }
            }
            free(one);
        }
        if (oom) {
            rp_diag_addf(d, val, s->id, "%sinput '%s': out of memory", ctx, ip->name);
        } else if (nref > 1 && !(ip->flags & RP_PORT_MULTI)) {
            rp_diag_addf(d, val, s->id, "%sinput '%s' takes one %s, got %s", ctx, ip->name,
                         ip->type, val->kind == RP_NODE_SEQ ? "a list" : "several (x[*])");
        } else if (nref == 0) {
            rp_diag_addf(d, val, s->id, "%sinput '%s': empty list", ctx, ip->name);
        } else if ((pin->src = calloc(nref, sizeof *pin->src))) {
            size_t ok = 0;
            for (size_t r = 0; r < nref; r++)
                if (wire_one(p, si, ip, nodes[r], txts[r], &pin->src[ok], d, ctx) == RP_OK) ok++;
            pin->n = ok;
        } else {
            rp_diag_addf(d, val, s->id, "%sinput '%s': out of memory", ctx, ip->name);
        }
        for (size_t r = 0; r < nref; r++) free(txts[r]);
        free(txts);
        free(nodes);
    }
    for (size_t pi = 0; pi < def->n_inputs; pi++) {
        const struct rp_port *ip = &def->inputs[pi];
        if (ip->flags & RP_PORT_OPTIONAL) continue;
        int wired = 0;
        for (size_t k = 0; in && in->kind == RP_NODE_MAP && k < in->n; k++)
            if (rp_node_str(in->keys[k]) && strcmp(rp_node_str(in->keys[k]), ip->name) == 0)
                wired = 1;
        if (!wired && !(suggested && suggested[pi]))
            rp_diag_addf(d, in && in->kind == RP_NODE_MAP ? in : s->node, s->id,
                         "%smissing required input '%s' (%s %s)", ctx, ip->name,
                         art_article(ip->type), ip->type);
    }
    free(suggested);
}

int rp_plan_build(const rp_node *doc, rp_plan **out, rp_diag *d) {
    size_t before = rp_diag_count(d);
    rp_plan *p = calloc(1, sizeof *p);
    *out = p;
    if (!p) {
        rp_diag_addf(d, doc, NULL, "out of memory");
        return RP_ERR_INVALID;
    }
    p->doc = doc;
    const rp_node *stages = rp_node_get(doc, "stages");
    if (!stages || stages->kind != RP_NODE_SEQ || stages->n == 0) {
        rp_diag_addf(d, stages ? stages : doc, NULL, "'stages': expected a non-empty list of stages");
        return RP_ERR_INVALID;
    }
    /* foreach: each stage of the file becomes one plan stage per instance */
    size_t ns = stages->n, total = 0;
    rp_node **fe_vals = calloc(ns, sizeof *fe_vals);
    char ***fe_labs = calloc(ns, sizeof *fe_labs);
    size_t *fe_n = calloc(ns, sizeof *fe_n);
    if (!fe_vals || !fe_labs || !fe_n) {
        free(fe_vals);
        free(fe_labs);
        free(fe_n);
        rp_diag_addf(d, stages, NULL, "out of memory");
        return RP_ERR_INVALID;
    }
    for (size_t i = 0; i < ns; i++) {
        const rp_node *sn = stages->items[i];
        char ctx[300];
        snprintf(ctx, sizeof ctx, "stage '%s': ", rp_node_str(rp_node_get(sn, "id")) ?
                 rp_node_str(rp_node_get(sn, "id")) : "?");
        if (sn && sn->kind == RP_NODE_MAP)
            rp_foreach_expand(sn, ctx, &fe_vals[i], &fe_labs[i], &fe_n[i], d);
        total += fe_n[i] ? fe_n[i] : 1;
    }
    p->st = calloc(total, sizeof *p->st);
    if (!p->st) {
        rp_diag_addf(d, stages, NULL, "out of memory");
        total = 0;
    }
    p->n = total;
    /* Pass 1: ids and stage lookup, so wiring can tell unknown ids from
     * forward references. */
    for (size_t fi = 0, i = 0; fi < ns && i < total; fi++) {
        const rp_node *sn = stages->items[fi];
        size_t ninst = fe_n[fi] ? fe_n[fi] : 1;
        for (size_t k = 0; k < ninst; k++, i++) {
        rp_plan_stage *s = &p->st[i];
        s->node = sn;
        if (!sn || sn->kind != RP_NODE_MAP) {
            rp_diag_addf(d, sn, NULL, "stage #%zu: expected a map with 'id' and 'use'", fi + 1);
            continue;
        }
        const rp_node *idn = rp_node_get(sn, "id"), *usen = rp_node_get(sn, "use");
        const char *id = rp_node_str(idn), *use = rp_node_str(usen);
        char idinst[600];
        if (fe_n[fi] && id) {
            snprintf(idinst, sizeof idinst, "%s/%s", id, fe_labs[fi][k]);
            s->group = rp_strdup(id);
            s->inst = rp_strdup(fe_labs[fi][k]);
            s->each = rp_node_clone(fe_vals[fi]->items[k]);
        }
        if (!id || !*id) {
            rp_diag_addf(d, idn ? idn : sn, NULL, "stage #%zu: missing 'id'", fi + 1);
        } else if (id_taken(p, id, i, sn) >= 0) {
            int o = id_taken(p, id, i, sn);
            if (k == 0)
                rp_diag_addf(d, idn, id, "duplicate stage id '%s' (first defined at line %d)", id,
                             p->st[o].node ? p->st[o].node->line : 0);
        } else {
            s->id = rp_strdup(fe_n[fi] ? idinst : id);
        }
        if (!use || !*use) {
            if (k == 0)
                rp_diag_addf(d, usen ? usen : sn, id, "stage '%s': missing 'use' (the stage to run)",
                             id ? id : "?");
            continue;
        }
        s->use = rp_strdup(use);
        if (!s->use || (id && *id && !s->id && id_taken(p, id, i, sn) < 0) ||
            (fe_n[fi] && id && (!s->group || !s->inst || !s->each))) {
            rp_diag_addf(d, sn, id, "stage '%s': out of memory", id ? id : "?");
            continue;
        }
        rp_error e;
        rp_error_clear(&e);
        if (rp_registry_stage_lookup(use, usen, &s->entry, &e) != RP_OK) {
            if (id) snprintf(e.stage, sizeof e.stage, "%s", id);
            rp_error_prefix(&e, "stage '%s': ", id ? id : "?");
            if (k == 0) rp_diag_add(d, &e);
            s->entry = NULL;
        }
        }
    }
    for (size_t i = 0; i < ns; i++) {
        for (size_t k = 0; k < fe_n[i]; k++) free(fe_labs[i][k]);
        free(fe_labs[i]);
        rp_node_free(fe_vals[i]);
    }
    free(fe_vals);
    free(fe_labs);
    free(fe_n);
    /* Pass 2: params and wiring. */
    for (size_t i = 0; i < p->n; i++) {
        rp_plan_stage *s = &p->st[i];
        if (!s->entry) continue;
        char ctx[400];
        snprintf(ctx, sizeof ctx, "stage '%s' (%s): ", s->id ? s->id : "?", s->use);
        const rp_schema *sch = NULL;

        rp_error e;
        rp_error_clear(&e);
        const rp_node *with = rp_node_get(s->node, "with");
        /* ${each.NAME}: the instance's values (an error outside foreach) */
        size_t before_each = rp_diag_count(d);
        rp_node *with_inst = with ? rp_each_subst(with, s->each, ctx, d) : NULL;
        const rp_node *in_raw = rp_node_get(s->node, "in");
        if (in_raw) s->in_node = rp_each_subst(in_raw, s->each, ctx, d);
        if (rp_diag_count(d) != before_each) {
            rp_node_free(with_inst);
            continue;
        }
        if (with_inst) with = with_inst;
        if (rp_schema_get(s->use, &sch, &e) != RP_OK) {
            rp_error_prefix(&e, "%sschema: ", ctx);
            if (!e.file[0]) rp_error_at(&e, rp_node_get(s->node, "use"), e.status, "%s", e.msg);
            rp_diag_add(d, &e);
        } else {
            rp_node *empty = NULL;
            if (!with || with->kind == RP_NODE_NULL) {
                /* Absent `with:` = {} located at the stage, so "missing
                 * required parameter" points somewhere useful. */
                empty = rp_node_new_map();
                if (empty) {
                    empty->file = s->node->file;
                    empty->line = s->node->line;
                    empty->col = s->node->col;
                }
                with = empty;
            }
            rp_node *params = NULL;
            if (rp_schema_validate(sch, with, ctx, &params, d) == RP_OK)
                s->params = params;
            else
                rp_node_free(params);
            rp_node_free(empty);
        }
        rp_node_free(with_inst);
        wire_stage(p, i, d, ctx);
    }
    if (rp_diag_count(d) == before) rp_plan_check(p, d);
    return rp_diag_count(d) > before ? RP_ERR_INVALID : RP_OK;
}

rp_node *rp_plan_resolved_doc(const rp_plan *p) {
    rp_node *doc = rp_node_clone(p->doc);
    if (!doc) return NULL;
    rp_node *stages = (rp_node *)rp_node_get(doc, "stages");
    for (size_t i = 0; stages && i < stages->n && i < p->n; i++) {
        if (!p->st[i].params) continue;
        rp_node *c = rp_node_clone(p->st[i].params);
        if (c && rp_node_map_set(stages->items[i], "with", c) != RP_OK) rp_node_free(c);
    }
    return doc;
}

char *rp_plan_describe(const rp_plan *p) {
    rp_strbuf b = {0};
    for (size_t i = 0; i < p->n; i++) {
        const rp_plan_stage *s = &p->st[i];
        if (!s->entry) continue;
        const struct rp_stage_def *def = s->entry->def;
        rp_strbuf_printf(&b, "  %zu. %s: %s  (plugin %s%s)\n", i + 1, s->id, s->use,
                         s->entry->plugin, rp_stage_cacheable(s) ? ", cacheable" : "");
        if (s->shared_by > 1)
            rp_strbuf_printf(&b, "       shared by %zu cells: runs once in %s%s\n", s->shared_by,
                             s->shared_dir, s->id);
        for (size_t k = 0; k < def->n_inputs; k++) {
            const rp_plan_input *in = &s->inputs[k];
            rp_strbuf_printf(&b, "       in  %-10s %-8s <- ", def->inputs[k].name,
                             def->inputs[k].type);
            if (!in->n) rp_strbuf_puts(&b, "(unwired, optional)");
            for (size_t j = 0; j < in->n; j++)
                rp_strbuf_printf(&b, "%s%s", j ? ", " : "", in->src[j].label);
            rp_strbuf_puts(&b, "\n");
        }
        for (size_t k = 0; k < def->n_outputs; k++)
            rp_strbuf_printf(&b, "       out %-10s %s\n", def->outputs[k].name,
                             def->outputs[k].type);
        if (s->params && s->params->n) {
            char *y = NULL;
            if (rp_node_to_yaml(s->params, &y, NULL) == RP_OK && y) {
                rp_strbuf_puts(&b, "       with:\n");
                for (char *line = y; *line;) {
                    char *nl = strchr(line, '\n');
                    size_t l = nl ? (size_t)(nl - line) : strlen(line);
                    rp_strbuf_printf(&b, "         %.*s\n", (int)l, line);
                    line += l + (nl ? 1 : 0);
                }
            }
            free(y);
        }
    }
    return rp_strbuf_take(&b);
}

