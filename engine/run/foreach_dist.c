/* foreach instances over MPI ranks (pipeline.h, dist.h).
 *
 * When every rank runs the same cell (data-parallel mode), the instances of
 * a foreach stage (S0's 28 row donors) are independent trainings: ranks
 * take them from the work queue one at a time, each runs its instance alone
 * (no data-parallel inside) into rank 0's folder, exactly where a
 * one-process run writes it, and leaves its outputs in the stage-cache
 * format under <run>/.foreach/. Once every rank is through, each rank
 * restores the instances the others ran, so the stages after the foreach
 * (`donor[*].model`) see all of them on every rank.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "run/pipeline.h"
#include "runpipe/comm.h"
#include "runpipe/io.h"
#include "runpipe/log.h"

static char *pathf2(const char *a, const char *b) {
    size_t l = strlen(a) + strlen(b) + 2;
    char *p = malloc(l);
    if (p) snprintf(p, l, "%s/%s", a, b);
    return p;
}

static int transferable(const rp_plan_stage *s) {
    if (!s->entry || !s->params || !s->key[0] || s->shared_by > 1) return 0;
    const struct rp_stage_def *d = s->entry->def;
    for (size_t k = 0; k < d->n_outputs; k++)
        if (strcmp(d->outputs[k].type, RP_ART_MODEL) && strcmp(d->outputs[k].type, RP_ART_METRICS) &&
            strcmp(d->outputs[k].type, RP_ART_FILES))
            return 0;
    return 1;
}

size_t rp_foreach_dist_end(const rp_plan *p, size_t i, const struct rp_exec_opts *o) {
    const rp_plan_stage *s = &p->st[i];
    if (!o->comm || o->comm->size < 2 || !o->primary_rundir || !o->primary_root || !s->group)
        return i + 1;
    if (i > 0 && p->st[i - 1].group && !strcmp(p->st[i - 1].group, s->group)) return i + 1;
    size_t j = i;
    while (j < p->n && p->st[j].group && !strcmp(p->st[j].group, s->group)) j++;
    for (size_t k = i; k < j; k++) {
        const rp_plan_stage *q = &p->st[k];
        if (!transferable(q)) return i + 1;
        /* instances must not read each other's outputs */
        for (size_t a = 0; a < q->entry->def->n_inputs; a++)
            for (size_t b = 0; b < q->inputs[a].n; b++)
                if (q->inputs[a].src[b].stage >= i) return i + 1;
    }
    return j - i >= 2 ? j : i + 1;
}

static void fail(rp_run_result *res, const rp_plan_stage *s, const rp_error *e) {
    if (res->status != RP_OK) return;
    res->err = *e;
    res->status = e->status ? e->status : RP_ERR_IO;
    if (s) snprintf(res->err.stage, sizeof res->err.stage, "%s", s->id);
}

void rp_foreach_dist_run(const rp_plan *p, size_t i, size_t end, const struct rp_exec_opts *o,
                         rp_store *store, rp_run_result *res, rp_run_one_fn run_one) {
    const struct rp_comm *c = o->comm;
    size_t n = end - i;
    rp_error e;
    rp_error_clear(&e);
    struct rp_exec_opts alone = *o;
    alone.comm = NULL; /* an instance trains alone */
    alone.rundir = o->primary_rundir;
    alone.root = o->primary_root;
    char *xdir = pathf2(o->primary_root, ".foreach");
    rp_cache *x = NULL;
    double *v = calloc(n + 1, sizeof *v);
    unsigned char *mine = calloc(n, 1);
    int bad = !xdir || !v || !mine;
    if (bad) rp_error_set(&e, RP_ERR_NOMEM, "out of memory");
    if (!bad && rp_cache_open(xdir, &x, &e) != RP_OK) bad = 1;
    /* the queue: tickets after rank 0's base are this group's instances */
    int64_t b0 = 0;
    if (c->rank == 0 && !bad && c->next_ticket(c, &b0, &e) != RP_OK) bad = 1;
    int64_t msg[2] = {b0, bad};
    rp_error ce;
    rp_error_clear(&ce);
    if (c->bcast(c, msg, sizeof msg, 0, &ce) != RP_OK) {
        fail(res, &p->st[i], &ce);
        goto out;
    }
    b0 = msg[0];
    if (msg[1]) bad = 1;
    /* a root's broadcast may return before the others receive it: without
     * this barrier a rank still loading its inputs finds the queue emptied */
    if (c->barrier(c, &ce) != RP_OK) { /* every rank, bad or not: no one waits alone */
        fail(res, &p->st[i], &ce);
        goto out;
    }
    if (c->rank == 0)
        rp_info("foreach '%s': %zu instances over %d ranks", p->st[i].group, n, c->size);
    while (!bad) {
        int64_t t = 0;
        if (c->next_ticket(c, &t, &e) != RP_OK) {
            bad = 1;
            break;
        }
        t -= b0 + 1;
        if (t < 0 || (uint64_t)t >= n) break;
        size_t k = i + (size_t)t;
        const rp_plan_stage *s = &p->st[k];
        run_one(p, k, &alone, store, res);
        if (res->status != RP_OK) {
            bad = 1;
            break;
        }
        char *sdir = pathf2(o->primary_rundir, s->id);
        int rc = sdir ? rp_mkdirs(sdir, &e) : rp_error_set(&e, RP_ERR_NOMEM, "out of memory");
        if (!rc) rc = rp_cache_save(x, s, k, store, sdir, &e);
        free(sdir);
        if (rc) {
            rp_error_prefix(&e, "foreach instance '%s': handing its outputs to the other ranks: ",
                            s->id);
            bad = 1;
            break;
        }
        mine[t] = 1;
        v[t] = 1;
    }
    if (bad && res->status == RP_OK && e.status) fail(res, &p->st[i], &e);
    /* who ran what, and whether anything failed (every rank takes part) */
    v[n] = bad;
    rp_error_clear(&ce);
    if (c->allreduce_sum_f64(c, v, n + 1, &ce) != RP_OK) {
        fail(res, &p->st[i], &ce);
        goto out;
    }
    if (v[n] > 0) {
        if (res->status == RP_OK) {
            rp_error_set(&e, RP_ERR_IO,
                         "foreach '%s': an instance failed on another rank (its error is in that "
                         "rank's log)",
                         p->st[i].group);
            fail(res, &p->st[i], &e);
        }
        goto out;
    }
    for (size_t t = 0; t < n && res->status == RP_OK; t++) {
        if (mine[t]) continue;
        size_t k = i + t;
        const rp_plan_stage *s = &p->st[k];
        /* rank 0: its run folder (the files are already there); others:
         * their own copy */
        char *sdir = pathf2(o->rundir, s->id);
        int hit = 0;
        rp_error_clear(&e);
        int rc = sdir ? rp_mkdirs(sdir, &e) : rp_error_set(&e, RP_ERR_NOMEM, "out of memory");
        if (!rc) rc = rp_cache_restore(x, s, k, store, sdir, NULL, &hit, &e);
        if (!rc && !hit)
            rc = rp_error_set(&e, RP_ERR_IO, "the outputs another rank left in '%s' are missing",
                              xdir);
        free(sdir);
        if (rc) {
            rp_error_prefix(&e, "foreach instance '%s': ", s->id);
            fail(res, s, &e);
            break;
        }
        rp_stage_result *sr = &res->st[k];
        snprintf(sr->key, sizeof sr->key, "%s", s->key);
        sr->ran = 1;
        sr->status = RP_OK;
        sr->reuse = "another rank";
        rp_info("[%zu/%zu] %s (%s): run by another rank", k + 1, p->n, s->id, s->use);
    }
out:
    rp_cache_close(x);
    free(xdir);
    free(v);
    free(mine);
}
