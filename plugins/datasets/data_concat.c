/* data.concat — the samples of several datasets one after the other. Classes
 * must agree (same names in the same order); domains are merged by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

typedef struct concat_impl {
    size_t n;
    const rp_dataset **parts; /* borrowed */
    uint64_t *start;          /* [n + 1] cumulative sizes */
    int32_t **dmap;           /* [n][parts[k]->num_domains] → merged domain id */
} concat_impl;

static size_t find_part(const concat_impl *c, uint64_t i) {
    size_t lo = 0, hi = c->n; /* start[lo] <= i < start[hi] */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (c->start[mid] <= i) lo = mid; else hi = mid;
    }
    return lo;
}

static int32_t remap(const concat_impl *c, size_t k, int32_t d) {
    if (d < 0 || !c->dmap[k] || d >= c->parts[k]->num_domains) return -1;
    return c->dmap[k][d];
}

static int concat_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                      rp_error *err) {
    const concat_impl *c = ds->impl;
    size_t k = find_part(c, i);
    int st = rp_dataset_get(c->parts[k], i - c->start[k], draw, out, err);
    if (st) return st;
    out->domain = remap(c, k, out->domain);
    return RP_OK;
}

static int32_t concat_label(const rp_dataset *ds, uint64_t i) {
    const concat_impl *c = ds->impl;
    size_t k = find_part(c, i);
    return rp_dataset_label(c->parts[k], i - c->start[k]);
}

static int32_t concat_domain(const rp_dataset *ds, uint64_t i) {
    const concat_impl *c = ds->impl;
    size_t k = find_part(c, i);
    return remap(c, k, rp_dataset_domain(c->parts[k], i - c->start[k]));
}

static int concat_where(const rp_dataset *ds, uint64_t i, char *buf, size_t n) {
    const concat_impl *c = ds->impl;
    size_t k = find_part(c, i);
    const rp_dataset *p = c->parts[k];
    rp_dataset_where_fn fn = rp_dataset_where_of(p);
    if (fn && fn(p, i - c->start[k], buf, n)) return 1;
    snprintf(buf, n, "%s: sample %llu", p->name, (unsigned long long)(i - c->start[k]));
    return 1;
}

static void concat_destroy(rp_dataset *ds) {
    concat_impl *c = ds->impl;
    if (!c) return;
    for (size_t k = 0; c->dmap && k < c->n; k++) free(c->dmap[k]);
    free(c->dmap);
    free(c->parts);
    free(c->start);
    free(c);
}

static const struct rp_dataset_ops concat_ops = {concat_get, concat_label, concat_domain,
                                                 concat_destroy};

int ds_run_concat(rp_stage *stg, rp_error *err) {
    size_t n = rp_stage_input_count(stg, "data");
    if (n == 0) return rp_error_at(err, rp_stage_node(stg), RP_ERR_INVALID, "data.concat: no inputs");
    concat_impl *c = calloc(1, sizeof *c);
    if (!c) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    c->n = n;
    c->parts = calloc(n, sizeof *c->parts);
    c->start = calloc(n + 1, sizeof *c->start);
    c->dmap = calloc(n, sizeof *c->dmap);
    const char *dnames[256];
    int nd = 0;
    int st = RP_OK;
    rp_dataset *ds = NULL;
    if (!c->parts || !c->start || !c->dmap) {
        st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t k = 0; k < n; k++) {
        const rp_dataset *d = rp_stage_input_at(stg, "data", k);
        c->parts[k] = d;
        c->start[k + 1] = c->start[k] + d->size;
        const rp_dataset *d0 = c->parts[0];
        int same = d->num_classes == d0->num_classes && d->task == d0->task;
        for (int j = 0; same && j < d->num_classes; j++)
            same = !strcmp(d->class_names[j], d0->class_names[j]);
        if (!same) {
            st = rp_error_set(err, RP_ERR_INVALID,
                              "data.concat: input %zu (%s, %d classes) does not have the classes of "
                              "input 1 (%s, %d classes); concatenated sets must share classes in "
                              "the same order",
                              k + 1, rp_stage_input_source(stg, "data", k), d->num_classes,
                              rp_stage_input_source(stg, "data", 0), d0->num_classes);
            goto fail;
        }
        if (d->num_domains > 0) {
            c->dmap[k] = calloc((size_t)d->num_domains, sizeof(int32_t));
            if (!c->dmap[k]) {
                st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
                goto fail;
            }
            for (int j = 0; j < d->num_domains; j++) {
                int f = -1;
                for (int q = 0; q < nd; q++)
                    if (!strcmp(dnames[q], d->domain_names[j])) f = q;
                if (f < 0) {
                    if (nd == 256) {
                        st = rp_error_set(err, RP_ERR_INVALID, "data.concat: more than 256 domains");
                        goto fail;
                    }
                    f = nd;
                    dnames[nd++] = d->domain_names[j];
                }
                c->dmap[k][j] = f;
            }
        }
    }
    char name[128];
    snprintf(name, sizeof name, "%s", rp_stage_id(stg));
    rp_dataset_ops_set_where(&concat_ops, concat_where);
    ds = rp_dataset_new(&concat_ops, c, name, c->start[n], 0, NULL);
    if (!ds) {
        st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        goto fail;
    }
    st = rp_dataset_copy_meta(ds, c->parts[0], err);
    if (!st) st = rp_dataset_set_domains(ds, nd, dnames, err);
    for (size_t k = 1; k < n; k++) {
        const rp_dataset *d = c->parts[k];
        if (d->channels != ds->channels) ds->channels = 0;
        if (d->height != ds->height) ds->height = 0;
        if (d->width != ds->width) ds->width = 0;
    }
    if (st) {
        rp_dataset_free(ds);
        return st;
    }
    rp_stage_note(stg, "size", (double)ds->size);
    return rp_stage_output(stg, "data", ds, err);
fail:
    concat_destroy(&(rp_dataset){.impl = c});
    return st;
}

/* Check time: a fact every input declared with the same value holds for
 * the concatenation; inputs with different class counts cannot be joined. */
static int ds_check_concat(rp_check *ck, rp_error *err) {
    static const char *const keys[4] = {RP_FACT_CLASSES, RP_FACT_CHANNELS, RP_FACT_HEIGHT,
                                        RP_FACT_WIDTH};
    size_t n = rp_check_input_count(ck, "data");
    for (int k = 0; k < 4; k++) {
        int64_t v0 = 0, v;
        const rp_node *at0 = NULL, *at;
        int all = n > 0;
        for (size_t i = 0; i < n && all; i++) {
            if (!rp_check_input_fact(ck, "data", i, keys[k], &v, &at)) {
                all = 0;
            } else if (i == 0) {
                v0 = v;
                at0 = at;
            } else if (v != v0) {
                if (k == 0)
                    return rp_error_set(err, RP_ERR_INVALID,
                                        "data.concat: input %zu has %lld classes but input 1 has "
                                        "%lld (%s:%d:%d); concatenated sets must share classes",
                                        i + 1, (long long)v, (long long)v0,
                                        at0 && at0->file ? at0->file : "?", at0 ? at0->line : 0,
                                        at0 ? at0->col : 0);
                all = 0;
            }
        }
        if (all) rp_check_declare(ck, "data", keys[k], v0, at0);
    }
    return RP_OK;
}

/* ---- stage declaration ---- */
static const struct rp_port multi_in_ports[] = {
    {"data", RP_ART_DATASET, RP_PORT_MULTI, "datasets to concatenate, in order"},
};
static const struct rp_port data_out_ports[] = {
    {"data", RP_ART_DATASET, 0, "the dataset"},
};
static const struct rp_stage_def concat_stage = {
    "data.concat", "concatenate datasets with the same classes",
    multi_in_ports, RP_COUNT(multi_in_ports), data_out_ports, RP_COUNT(data_out_ports), ds_run_concat, 0, ds_check_concat};
RP_STAGE(concat_stage)
