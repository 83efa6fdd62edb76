/* data.filter — keep (include) or drop (exclude) the samples whose domain is
 * one of `domains` and/or whose label is one of `labels` (names or ids):
 * leave-one-domain-out for PACS is two filters of one set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

static int lookup(const rp_node *item, char **names, int n, const char *what, const char *dsname,
                  rp_error *err) {
    const char *s = rp_node_str(item);
    for (int i = 0; s && i < n; i++)
        if (names && names[i] && !strcmp(names[i], s)) return i;
    int64_t v;
    if (s && rp_node_is_int(item) && rp_node_as_int(item, &v, NULL) == RP_OK && v >= 0 && v < n)
        return (int)v;
    char list[512] = "";
    size_t u = 0;
    for (int i = 0; i < n && u < sizeof list - 40; i++)
        u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "",
                              names && names[i] ? names[i] : "?");
    rp_error_at(err, item, RP_ERR_INVALID, "unknown %s '%s' in %s (it has: %s)", what,
                s ? s : "?", dsname, n ? list : "none");
    return -1;
}

int ds_run_filter(rp_stage *stg, rp_error *err) {
    const rp_node *p = rp_stage_params(stg);
    const rp_dataset *in = rp_stage_input(stg, "data");
    int exclude = !strcmp(rp_param_str(p, "mode"), "exclude");
    const rp_node *dn = rp_node_get(p, "domains"), *ln = rp_node_get(p, "labels");
    size_t nd = dn && dn->kind == RP_NODE_SEQ ? dn->n : 0, nl = ln && ln->kind == RP_NODE_SEQ ? ln->n : 0;
    if (!nd && !nl)
        return rp_error_at(err, rp_stage_node(stg), RP_ERR_INVALID,
                           "data.filter: give 'domains' and/or 'labels' to filter by");
    char *dsel = calloc((size_t)in->num_domains + 1, 1);
    char *lsel = calloc((size_t)in->num_classes + 1, 1);
    uint64_t *idx = malloc((in->size ? in->size : 1) * sizeof *idx);
    int st = RP_OK;
    if (!dsel || !lsel || !idx) {
        st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nd; i++) {
        int d = lookup(dn->items[i], in->domain_names, in->num_domains, "domain", in->name, err);
        if (d < 0) {
            st = RP_ERR_INVALID;
            goto done;
        }
        dsel[d] = 1;
    }
    for (size_t i = 0; i < nl; i++) {
        int c = lookup(ln->items[i], in->class_names, in->num_classes, "label", in->name, err);
        if (c < 0) {
            st = RP_ERR_INVALID;
            goto done;
        }
        lsel[c] = 1;
    }
    uint64_t m = 0;
    for (uint64_t i = 0; i < in->size; i++) {
        int hit = 1;
        if (nd) {
            int32_t d = rp_dataset_domain(in, i);
            hit = hit && d >= 0 && d < in->num_domains && dsel[d];
        }
        if (nl) {
            int32_t y = rp_dataset_label(in, i);
            hit = hit && y >= 0 && y < in->num_classes && lsel[y];
        }
        if (hit != exclude) idx[m++] = i;
    }
    char name[128];
    snprintf(name, sizeof name, "%.100s/filtered", in->name);
    rp_dataset *ds;
    st = rp_dataset_subset(in, idx, m, name, &ds, err);
    if (st) goto done;
    rp_info("%s: kept %llu of %llu samples", in->name, (unsigned long long)m,
            (unsigned long long)in->size);
    rp_stage_note(stg, "kept", (double)m);
    rp_stage_note(stg, "dropped", (double)(in->size - m));
    st = rp_stage_output(stg, "data", ds, err);
done:
    free(dsel);
    free(lsel);
    free(idx);
    return st;
}

/* Check time: the images and classes are the input's. */
static int ds_check_filter(rp_check *ck, rp_error *err) {
    (void)err;
    rp_check_forward(ck, "data", "data");
    return RP_OK;
}

/* ---- stage declaration ---- */
static const struct rp_port one_in_ports[] = {
    {"data", RP_ART_DATASET, 0, "input dataset"},
};
static const struct rp_port data_out_ports[] = {
    {"data", RP_ART_DATASET, 0, "the dataset"},
};
static const struct rp_stage_def filter_stage = {
    "data.filter", "keep or drop samples by domain / label",
    one_in_ports, RP_COUNT(one_in_ports), data_out_ports, RP_COUNT(data_out_ports), ds_run_filter, 0, ds_check_filter};
RP_STAGE(filter_stage)
