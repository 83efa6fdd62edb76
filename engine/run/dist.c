/* A run spread over MPI ranks (dist.h). */
#include "run/dist.h"
#include "run/rundir.h"
#include "run/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "runpipe/io.h"
#include "runpipe/log.h"

const struct rp_comm *rp_stage_comm(const rp_stage *st) {
    return st && st->opts ? st->opts->comm : NULL;
}

/* A stage whose validated params ask for `distributed: data_parallel`. */
static int wants_data_parallel(rp_plan *const *plans, size_t n_cells) {
    for (size_t c = 0; c < n_cells; c++)
        for (size_t i = 0; plans[c] && i < plans[c]->n; i++) {
            const rp_node *v = rp_node_get(plans[c]->st[i].params, "distributed");
            const char *s = v ? rp_node_str(v) : NULL;
            if (s && !strcmp(s, "data_parallel")) return 1;
        }
    return 0;
}

int rp_dist_begin(rp_dist *d, const rp_config *cfg, rp_plan *const *plans, rp_error *err) {
    memset(d, 0, sizeof *d);
    d->n_cells = cfg->n_cells;
    const struct rp_comm *c = NULL;
    int rc = rp_comm_init(&c, err);
    if (rc) return rc;
    if (!c) return RP_OK;
    d->c = c;
    if (cfg->n_cells > 1 && !wants_data_parallel(plans, cfg->n_cells)) {
        d->cells = 1;
        if (c->rank == 0)
            rp_info("MPI: %d ranks take the %zu matrix cells from a queue", c->size,
                    cfg->n_cells);
    } else {
        d->replicated = 1;
        if (c->rank == 0)
            rp_info("MPI: %d ranks run %s together (train: data-parallel); rank 0 writes the "
                    "run folder",
                    c->size, cfg->n_cells > 1 ? "each cell" : "the pipeline");
    }
    return RP_OK;
}

int rp_dist_primary(const rp_dist *d) { return !d->c || d->c->rank == 0; }

int rp_dist_root(rp_dist *d, char **root, rp_error *err) {
    if (!d->c) return RP_OK;
    char buf[4096] = "";
    if (d->c->rank == 0 && *root) snprintf(buf, sizeof buf, "%s", *root);
    int rc = d->c->bcast(d->c, buf, sizeof buf, 0, err);
    if (rc) return rc;
    if (!buf[0]) {
        if (d->c->rank != 0)
            return rp_error_set(err, RP_ERR_IO, "rank 0 could not make the run directory");
        return RP_OK; /* rank 0 has its own error */
    }
    d->root0 = rp_strdup(buf);
    if (d->c->rank == 0) return RP_OK;
    free(*root);
    *root = NULL;
    if (d->cells) {
        *root = rp_strdup(buf);
    } else {
        size_t l = strlen(buf) + 32;
        *root = malloc(l);
        if (*root) snprintf(*root, l, "%s/.rank-%d", buf, d->c->rank);
        if (*root && (rc = rp_mkdirs(*root, err))) return rc;
    }
    return *root ? RP_OK : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
}

const char *rp_dist_log_name(const rp_dist *d, char *buf, size_t n) {
    if (d->c && d->cells && d->c->rank > 0)
        snprintf(buf, n, "log.rank-%d.txt", d->c->rank);
    else
        snprintf(buf, n, "log.txt");
    return buf;
}

static size_t take(rp_dist *d) {
    int64_t t = 0;
    rp_error e;
    rp_error_clear(&e);
    if (d->c->next_ticket(d->c, &t, &e) != RP_OK) {
        rp_warn("rank %d: %s (taking no more cells)", d->c->rank, e.msg);
        return d->n_cells;
    }
    return t < 0 || (uint64_t)t >= d->n_cells ? d->n_cells : (size_t)t;
}

size_t rp_dist_first(rp_dist *d) { return d->c && d->cells ? take(d) : 0; }

size_t rp_dist_next(rp_dist *d, size_t ci) { return d->c && d->cells ? take(d) : ci + 1; }

const struct rp_comm *rp_dist_stage_comm(const rp_dist *d) {
    return d->c && d->replicated ? d->c : NULL;
}

void rp_dist_sync(rp_dist *d, size_t *count) {
    if (!d->c) return;
    rp_error e;
    rp_error_clear(&e);
    double v = (double)*count;
    if (d->c->barrier(d->c, &e) != RP_OK || d->c->allreduce_sum_f64(d->c, &v, 1, &e) != RP_OK)
        rp_warn("%s", e.msg);
    else
        *count = (size_t)v;
}

void rp_dist_end(rp_dist *d) {
    if (d->c) rp_comm_finalize();
    d->c = NULL;
    free(d->root0);
    d->root0 = NULL;
}

char *rp_dist_primary_path(const rp_dist *d, const char *root, const char *rel) {
    const char *base = d->root0 ? d->root0 : root;
    if (!rel) return rp_strdup(base);
    size_t l = strlen(base) + strlen(rel) + 2;
    char *p = malloc(l);
    if (p) snprintf(p, l, "%s/%s", base, rel);
    return p;
}

int rp_dist_agree(const rp_dist *d, int *flag) {
    if (!d->c || !d->replicated) return *flag;
    rp_error e;
    rp_error_clear(&e);
    int v = *flag;
    if (d->c->bcast(d->c, &v, sizeof v, 0, &e) != RP_OK) rp_warn("%s", e.msg);
    return *flag = v;
}

int rp_dist_collect_cells(const char *root, const rp_config *cfg, char **cell_status,
                          size_t *n_done, size_t *n_failed, size_t *n_notrun, rp_error *first_err) {
    int bad = 0;
    for (size_t ci = 0; ci < cfg->n_cells; ci++) {
        if (cell_status[ci]) continue; /* this rank ran (or skipped) it */
        size_t l = strlen(root) + strlen(cfg->cells[ci].dirname) + 2;
        char *cdir = malloc(l);
        char st[1024] = "";
        if (cdir) {
            snprintf(cdir, l, "%s/%s", root, cfg->cells[ci].dirname);
            rp_status_read(cdir, st, sizeof st);
        }
        free(cdir);
        const char *word = !st[0] ? "not run"
                           : !strcmp(st, "done") ? "done"
                           : !strncmp(st, "interrupted", 11) ? "interrupted"
                                                             : "failed";
        cell_status[ci] = rp_strdup(word);
        if (!strcmp(word, "done")) {
            (*n_done)++;
            continue;
        }
        bad = 1;
        if (!strcmp(word, "not run")) (*n_notrun)++;
        else (*n_failed)++;
        if (!first_err->status)
            rp_error_set(first_err, RP_ERR_IO, "cell %s (run by another rank): %s",
                         cfg->cells[ci].label, st[0] ? st : "not run");
    }
    return bad;
}

void rp_dist_fatal(const rp_dist *d, const rp_error *e) {
    if (!d->c || !d->replicated) return;
    rp_log(RP_LOG_ERROR, "rank %d: %s (the other ranks cannot go on without it: ending the job)",
           d->c->rank, e->msg);
    d->c->abort(d->c, 1);
}
