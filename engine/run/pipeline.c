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
    }
    free(p->st);
    free(p);
}

static int find_id(const rp_plan *p, const char *id) {
    for (size_t i = 0; i < p->n; i++)
        if (p->st[i].id && strcmp(p->st[i].id, id) == 0) return (int)i;
    return -1;
}

static void list_names(rp_strbuf *b, const struct rp_port *ports, size_t n) {
    for (size_t i = 0; i < n; i++) rp_strbuf_printf(b, "%s%s", i ? ", " : "", ports[i].name);
}

/* Resolve one reference `id` / `id.port` for input port `ip` of stage `si`. */
static int wire_one(rp_plan *p, size_t si, const struct rp_port *ip, const rp_node *ref,
                    rp_plan_src *out, rp_diag *d, const char *ctx) {
    const char *txt = rp_node_str(ref);
    if (!txt || !*txt || ref->kind != RP_NODE_SCALAR)
        return rp_diag_addf(d, ref, p->st[si].id,
                            "%sinput '%s': expected a stage output 'id' or 'id.port'", ctx,
                            ip->name);
    char idbuf[256], portbuf[256] = "";
    snprintf(idbuf, sizeof idbuf, "%s", txt);
    int src = find_id(p, idbuf);
    if (src < 0) {
        char *dot = strchr(idbuf, '.');
        if (dot) {
            *dot = 0;
            snprintf(portbuf, sizeof portbuf, "%s", dot + 1);
            src = find_id(p, idbuf);
        }
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
    const rp_node *in = rp_node_get(s->node, "in");
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
        size_t nref = 1;
        if (val->kind == RP_NODE_SEQ) {
            if (!(ip->flags & RP_PORT_MULTI)) {
                rp_diag_addf(d, val, s->id, "%sinput '%s' takes one %s, got a list", ctx,
                             ip->name, ip->type);
                continue;
            }
            nref = val->n;
            if (nref == 0) {
                rp_diag_addf(d, val, s->id, "%sinput '%s': empty list", ctx, ip->name);
                continue;
            }
        } else if (val->kind != RP_NODE_SCALAR) {
            rp_diag_addf(d, val, s->id, "%sinput '%s': expected a stage output 'id' or 'id.port'%s",
                         ctx, ip->name, (ip->flags & RP_PORT_MULTI) ? " (or a list of them)" : "");
            continue;
        }
        pin->src = calloc(nref, sizeof *pin->src);
        if (!pin->src) continue;
        size_t ok = 0;
        for (size_t r = 0; r < nref; r++) {
            const rp_node *ref = val->kind == RP_NODE_SEQ ? val->items[r] : val;
            if (wire_one(p, si, ip, ref, &pin->src[ok], d, ctx) == RP_OK) ok++;
        }
        pin->n = ok;
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
    p->st = calloc(stages->n, sizeof *p->st);
    if (!p->st) {
        rp_diag_addf(d, stages, NULL, "out of memory");
        return RP_ERR_INVALID;
    }
    p->n = stages->n;
    /* Pass 1: ids and stage lookup, so wiring can tell unknown ids from
     * forward references. */
    for (size_t i = 0; i < p->n; i++) {
        rp_plan_stage *s = &p->st[i];
        const rp_node *sn = stages->items[i];
        s->node = sn;
        if (!sn || sn->kind != RP_NODE_MAP) {
            rp_diag_addf(d, sn, NULL, "stage #%zu: expected a map with 'id' and 'use'", i + 1);
            continue;
        }
        const rp_node *idn = rp_node_get(sn, "id"), *usen = rp_node_get(sn, "use");
        const char *id = rp_node_str(idn), *use = rp_node_str(usen);
        if (!id || !*id) {
            rp_diag_addf(d, idn ? idn : sn, NULL, "stage #%zu: missing 'id'", i + 1);
        } else if (find_id(p, id) >= 0) {
            const rp_plan_stage *o = &p->st[find_id(p, id)];
            rp_diag_addf(d, idn, id, "duplicate stage id '%s' (first defined at line %d)", id,
                         o->node ? o->node->line : 0);
        } else {
            s->id = rp_strdup(id);
        }
        if (!use || !*use) {
            rp_diag_addf(d, usen ? usen : sn, id, "stage '%s': missing 'use' (the stage to run)",
                         id ? id : "?");
            continue;
        }
        s->use = rp_strdup(use);
        rp_error e;
        rp_error_clear(&e);
        if (rp_registry_stage_lookup(use, usen, &s->entry, &e) != RP_OK) {
            if (id) snprintf(e.stage, sizeof e.stage, "%s", id);
            rp_error_prefix(&e, "stage '%s': ", id ? id : "?");
            rp_diag_add(d, &e);
            s->entry = NULL;
        }
    }
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
        wire_stage(p, i, d, ctx);
    }
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
        rp_strbuf_printf(&b, "  %zu. %s: %s  (plugin %s)\n", i + 1, s->id, s->use,
                         s->entry->plugin);
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

/* ---- run ----------------------------------------------------------------------------- */

void rp_run_result_release(rp_run_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        for (size_t k = 0; k < r->st[i].n_notes; k++) free(r->st[i].note_keys[k]);
        free(r->st[i].note_keys);
        free(r->st[i].note_vals);
    }
    free(r->st);
    free(r->metrics_json);
    memset(r, 0, sizeof *r);
}

/* Give a stage's error its location and stage prefix. */
static void locate(rp_error *e, const rp_plan_stage *s) {
    char pre[400];
    snprintf(pre, sizeof pre, "stage '%s' (%s): ", s->id, s->use);
    if (strncmp(e->msg, pre, strlen(pre)) != 0) rp_error_prefix(e, "%s", pre);
    if (!e->file[0] && s->node && s->node->file) {
        snprintf(e->file, sizeof e->file, "%s", s->node->file);
        e->line = s->node->line;
        e->col = s->node->col;
    }
    snprintf(e->stage, sizeof e->stage, "%s", s->id);
}

int rp_plan_run(const rp_plan *p, const struct rp_exec_opts *o, rp_run_result *res) {
    memset(res, 0, sizeof *res);
    res->st = calloc(p->n ? p->n : 1, sizeof *res->st);
    if (!res->st) {
        res->status = rp_error_set(&res->err, RP_ERR_NOMEM, "out of memory");
        return res->status;
    }
    res->n = p->n;
    for (size_t i = 0; i < p->n; i++) {
        snprintf(res->st[i].id, sizeof res->st[i].id, "%s", p->st[i].id ? p->st[i].id : "");
        snprintf(res->st[i].use, sizeof res->st[i].use, "%s", p->st[i].use ? p->st[i].use : "");
        res->st[i].plugin = p->st[i].entry ? p->st[i].entry->plugin : NULL;
    }
    rp_store *store = rp_store_new();
    if (!store) {
        res->status = rp_error_set(&res->err, RP_ERR_NOMEM, "out of memory");
        return res->status;
    }
    for (size_t i = 0; i < p->n && res->status == RP_OK; i++) {
        const rp_plan_stage *s = &p->st[i];
        if (!s->entry || !s->params) {
            res->status = rp_error_set(&res->err, RP_ERR_INTERNAL,
                                       "stage '%s' was not checked before running", s->id);
            locate(&res->err, s);
            break;
        }
        if (rp_interrupted()) {
            res->status = rp_error_set(&res->err, RP_ERR_INTERRUPTED,
                                       "interrupted before this stage started");
            locate(&res->err, s);
            break;
        }
        const struct rp_stage_def *def = s->entry->def;
        /* Inputs produced by earlier stages must be present. */
        int missing = 0;
        for (size_t k = 0; k < def->n_inputs && !missing; k++)
            for (size_t j = 0; j < s->inputs[k].n; j++)
                if (!rp_store_get(store, s->inputs[k].src[j].stage, s->inputs[k].src[j].port)) {
                    rp_error_set(&res->err, RP_ERR_INVALID,
                                 "input '%s': '%s' was not produced by its stage",
                                 def->inputs[k].name, s->inputs[k].src[j].label);
                    missing = 1;
                    break;
                }
        if (missing) {
            res->status = res->err.status;
            locate(&res->err, s);
            break;
        }
        rp_info("[%zu/%zu] %s (%s)", i + 1, p->n, s->id, s->use);
        struct rp_stage ctx = {p, i, s, store, o, NULL, &res->st[i]};
        rp_error e;
        rp_error_clear(&e);
        double t0 = rp_now();
        rp_param_take_missing();
        int st = def->run(&ctx, &e);
        res->st[i].seconds = rp_now() - t0;
        /* Defaults live only in schemas: a parameter read that found no key
         * is a schema or plugin bug, never silently 0. */
        const char *unset = rp_param_take_missing();
        if (unset && st == RP_OK)
            st = rp_error_set(&e, RP_ERR_INTERNAL,
                              "internal error: parameter '%s' was read but has no value (its "
                              "schema must give a default or mark it optional with null)",
                              unset);
        res->st[i].ran = 1;
        free(ctx.dir);
        if (st == RP_OK) {
            for (size_t k = 0; k < def->n_outputs; k++)
                if (!(def->outputs[k].flags & RP_PORT_OPTIONAL) && !rp_store_get(store, i, k)) {
                    st = rp_error_set(&e, RP_ERR_INTERNAL,
                                      "the stage finished without producing its output '%s'",
                                      def->outputs[k].name);
                    break;
                }
        }
        res->st[i].status = st;
        if (st != RP_OK) {
            if (e.status == RP_OK) {
                e.status = st;
                if (!e.msg[0]) snprintf(e.msg, sizeof e.msg, "%s", rp_status_name(st));
            }
            locate(&e, s);
            res->err = e;
            res->status = st;
            rp_debug("%s (%s) failed after %.2f s", s->id, s->use, res->st[i].seconds);
        } else {
            rp_debug("%s (%s) done in %.2f s", s->id, s->use, res->st[i].seconds);
        }
    }
    res->metrics_json = rp_store_metrics_json(store, p, &res->n_metrics);
    rp_store_free(store);
    return res->status;
}
