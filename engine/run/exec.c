/* Running a checked plan: stages in order, with shared stages (run once per
 * run, lent to every cell that has them) and the stage cache (pipeline.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/pipeline.h"
#include "runpipe/log.h"

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

/* Run stage i of p (its inputs in `store`) as the one-process loop does;
 * a failure leaves res->status and res->err set. */
static void run_one(const rp_plan *p, size_t i, const struct rp_exec_opts *o, rp_store *store,
                    rp_run_result *res) {
    const rp_plan_stage *s = &p->st[i];
    if (!s->entry || !s->params) {
        res->status = rp_error_set(&res->err, RP_ERR_INTERNAL,
                                   "stage '%s' was not checked before running", s->id);
        locate(&res->err, s);
        return;
    }
    if (rp_interrupted()) {
        res->status = rp_error_set(&res->err, RP_ERR_INTERRUPTED,
                                   "interrupted before this stage started");
        locate(&res->err, s);
        return;
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
        return;
    }
    int shared = rp_plan_stage_shared(s, o);
    rp_stage_result *sr = &res->st[i];
    snprintf(sr->key, sizeof sr->key, "%s", s->key);
    if (shared) {
        snprintf(sr->dir, sizeof sr->dir, "%s%s", s->shared_dir, s->id);
        void *arts[64] = {0};
        if (def->n_outputs <= 64 && rp_shared_get(o->shared, s->key, def->n_outputs, arts)) {
            int st = RP_OK;
            for (size_t k = 0; k < def->n_outputs && st == RP_OK; k++)
                if (arts[k])
                    st = rp_store_put_borrowed(store, i, k, def->outputs[k].type, arts[k],
                                               &res->err);
            sr->ran = 1;
            sr->status = st;
            sr->reuse = "shared";
            rp_info("[%zu/%zu] %s (%s): shared by %zu cells, already run (%s)", i + 1, p->n,
                    s->id, s->use, s->shared_by, sr->dir);
            if (st != RP_OK) {
                res->status = st;
                locate(&res->err, s);
            }
            return;
        }
    }
    char *srundir = NULL;
    if (shared) {
        size_t l = strlen(o->root) + strlen(s->shared_dir) + 2;
        srundir = malloc(l);
        if (srundir) snprintf(srundir, l, "%s/%s", o->root, s->shared_dir);
        size_t sl = srundir ? strlen(srundir) : 0;
        if (sl > 1 && srundir[sl - 1] == '/') srundir[sl - 1] = 0;
    }
    struct rp_stage ctx = {p, i, s, store, o, NULL, sr, srundir ? srundir : o->rundir, NULL,
                           NULL, 0};
    rp_error e;
    rp_error_clear(&e);
    int cacheable = o->cache && s->key[0] && rp_stage_cacheable(s);
    int hit = 0;
    double t0 = rp_now();
    if (cacheable) {
        const char *dir = NULL;
        rp_error ce;
        rp_error_clear(&ce);
        if (rp_stage_dir(&ctx, &dir, &ce) != RP_OK ||
            rp_cache_restore(o->cache, s, i, store, dir, &ctx, &hit, &ce) != RP_OK) {
            rp_warn("stage '%s': stage cache: %s (running the stage)", s->id, ce.msg);
            hit = 0;
        }
    }
    int st;
    if (hit) {
        st = RP_OK;
        sr->cache = 2;
        sr->reuse = "cache hit";
        rp_info("[%zu/%zu] %s (%s): cache hit %.12s (outputs and folder restored)", i + 1,
                p->n, s->id, s->use, s->key);
    } else {
        if (cacheable)
            rp_info("[%zu/%zu] %s (%s): cache miss %.12s", i + 1, p->n, s->id, s->use,
                    s->key);
        else
            rp_info("[%zu/%zu] %s (%s)%s", i + 1, p->n, s->id, s->use,
                    shared ? " (shared stage)" : "");
        rp_param_take_missing();
        st = def->run(&ctx, &e);
        /* Defaults live only in schemas: a parameter read that found no
         * key is a schema or plugin bug, never silently 0. */
        const char *unset = rp_param_take_missing();
        if (unset && st == RP_OK)
            st = rp_error_set(&e, RP_ERR_INTERNAL,
                              "internal error: parameter '%s' was read but has no value (its "
                              "schema must give a default or mark it optional with null)",
                              unset);
    }
    sr->seconds = rp_now() - t0;
    sr->ran = 1;
    if (st == RP_OK && sr->notes_lost)
        st = rp_error_set(&e, RP_ERR_NOMEM, "out of memory for the stage's notes");
    if (st == RP_OK) {
        for (size_t k = 0; k < def->n_outputs; k++)
            if (!(def->outputs[k].flags & RP_PORT_OPTIONAL) && !rp_store_get(store, i, k)) {
                st = rp_error_set(&e, RP_ERR_INTERNAL,
                                  "the stage finished without producing its output '%s'",
                                  def->outputs[k].name);
                break;
            }
    }
    if (st == RP_OK && cacheable && !hit) {
        const char *dir = NULL;
        rp_error ce;
        rp_error_clear(&ce);
        sr->cache = 1;
        if (rp_stage_dir(&ctx, &dir, &ce) != RP_OK ||
            rp_cache_save(o->cache, s, i, store, dir, &ce) != RP_OK)
            rp_warn("stage '%s': not stored in the stage cache: %s", s->id, ce.msg);
    }
    if (st == RP_OK && shared) {
        /* hand the outputs to the run's registry; this cell borrows them */
        void *arts[64] = {0};
        const char *types[64] = {0};
        size_t no = def->n_outputs <= 64 ? def->n_outputs : 64;
        for (size_t k = 0; k < no; k++) {
            arts[k] = rp_store_take(store, i, k);
            types[k] = def->outputs[k].type;
        }
        if (rp_shared_put(o->shared, s->key, no, types, arts, &e) != RP_OK) {
            st = e.status;
        } else {
            for (size_t k = 0; k < no && st == RP_OK; k++)
                if (arts[k]) st = rp_store_put_borrowed(store, i, k, types[k], arts[k], &e);
        }
    }
    rp_stage_ctx_release(&ctx);
    free(srundir);
    sr->status = st;
    if (st != RP_OK) {
        if (e.status == RP_OK) {
            e.status = st;
            if (!e.msg[0]) snprintf(e.msg, sizeof e.msg, "%s", rp_status_name(st));
        }
        locate(&e, s);
        res->err = e;
        res->status = st;
        rp_debug("%s (%s) failed after %.2f s", s->id, s->use, sr->seconds);
    } else {
        rp_debug("%s (%s) done in %.2f s", s->id, s->use, sr->seconds);
    }
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
        size_t end = rp_foreach_dist_end(p, i, o);
        if (end > i + 1) { /* foreach instances over the ranks (foreach_dist.c) */
            rp_foreach_dist_run(p, i, end, o, store, res, run_one);
            i = end - 1;
            continue;
        }
        run_one(p, i, o, store, res);
    }
    res->metrics_json = rp_store_metrics_json(store, p, &res->n_metrics);
    rp_store_free(store);
    return res->status;
}
