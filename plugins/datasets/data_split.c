/* data.split — seeded train/val/test split by ratios, optionally stratified
 * by label (each class split with the same ratios). Randomness: stream keyed
 * by (root seed, stage id, "split", class). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

/* Part sizes for n items by ratios r[0..k): floors, then the remaining items
 * one each to the parts with the largest fractional remainders (ties → the
 * earlier part): the largest-remainder method. */
static void part_counts(uint64_t n, const double *r, int k, uint64_t *cnt) {
    double sum = 0, frac[3];
    for (int i = 0; i < k; i++) sum += r[i];
    uint64_t used = 0;
    for (int i = 0; i < k; i++) {
        double want = (double)n * r[i] / sum;
        cnt[i] = (uint64_t)floor(want + 1e-9);
        frac[i] = want - (double)cnt[i];
        used += cnt[i];
    }
    while (used < n) {
        int best = -1;
        for (int i = 0; i < k; i++)
            if (r[i] > 0 && (best < 0 || frac[i] > frac[best] + 1e-12)) best = i;
        cnt[best]++;
        frac[best] = -1;
        used++;
    }
}

int ds_run_split(rp_stage *stg, rp_error *err) {
    const rp_node *p = rp_stage_params(stg);
    const rp_dataset *in = rp_stage_input(stg, "data");
    double r[3] = {0.8, 0.2, 0};
    int k = rp_param_doubles(p, "ratios", r, 3);
    if (k < 2) return rp_error_at(err, rp_node_get(p, "ratios"), RP_ERR_INVALID,
                                  "'ratios': expected 2 or 3 numbers");
    double sum = 0;
    for (int i = 0; i < k; i++) {
        if (r[i] < 0) return rp_error_at(err, rp_node_get(p, "ratios"), RP_ERR_INVALID,
                                         "'ratios': negative ratio %g", r[i]);
        sum += r[i];
    }
    if (sum <= 0) return rp_error_at(err, rp_node_get(p, "ratios"), RP_ERR_INVALID,
                                     "'ratios': they sum to 0");
    if (k == 2) r[2] = 0;
    int strat = rp_param_bool(p, "stratify");
    uint64_t n = in->size;
    uint64_t *all = malloc((n ? n : 1) * sizeof *all);
    uint64_t *parts[3];
    uint64_t np[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) parts[i] = malloc((n ? n : 1) * sizeof(uint64_t));
    int st = RP_OK;
    if (!all || !parts[0] || !parts[1] || !parts[2]) {
        st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        goto done;
    }
    uint64_t stream = rp_hash_str(rp_stage_id(stg)) ^ rp_hash_str("split");
    int ncls = 1;
    if (strat) {
        ncls = 0;
        for (uint64_t i = 0; i < n; i++) {
            int32_t y = rp_dataset_label(in, i);
            if (y < 0) {
                st = rp_error_set(err, RP_ERR_INVALID,
                                  "%s: stratify needs labels, but sample %llu has none", in->name,
                                  (unsigned long long)i);
                goto done;
            }
            if (y + 1 > ncls) ncls = y + 1;
        }
    }
    for (int c = 0; c < ncls; c++) {
        uint64_t m = 0;
        for (uint64_t i = 0; i < n; i++)
            if (!strat || rp_dataset_label(in, i) == c) all[m++] = i;
        rp_rng rng;
        rp_rng_init(&rng, rp_stage_seed(stg), stream, 0, (uint64_t)c);
        for (uint64_t i = m; i > 1; i--) {
            uint64_t j = rp_rng_below(&rng, (uint32_t)i);
            uint64_t t = all[i - 1];
            all[i - 1] = all[j];
            all[j] = t;
        }
        uint64_t cnt[3];
        part_counts(m, r, 3, cnt);
        uint64_t o = 0;
        for (int q = 0; q < 3; q++)
            for (uint64_t i = 0; i < cnt[q]; i++) parts[q][np[q]++] = all[o++];
    }
    static const char *const ports[3] = {"train", "val", "test"};
    /* a part with a positive ratio that got no sample: an error here, with
       the counts, not an empty loader later */
    for (int q = 0; q < k; q++)
        if (r[q] > 0 && np[q] == 0) {
            st = rp_error_at(err, rp_node_get(p, "ratios"), RP_ERR_INVALID,
                             "%s: splitting %llu samples%s by these ratios leaves '%s' empty "
                             "(train %llu / val %llu / test %llu); give it a larger ratio or "
                             "more data",
                             in->name, (unsigned long long)n,
                             strat ? " (stratified by class)" : "", ports[q],
                             (unsigned long long)np[0], (unsigned long long)np[1],
                             (unsigned long long)np[2]);
            goto done;
        }
    for (int q = 0; q < 3; q++) {
        char name[128];
        snprintf(name, sizeof name, "%.100s/%s", in->name, ports[q]);
        rp_dataset *ds;
        st = rp_dataset_subset(in, parts[q], np[q], name, &ds, err);
        if (st) goto done;
        char key[64];
        snprintf(key, sizeof key, "%s_size", ports[q]);
        rp_stage_note(stg, key, (double)np[q]);
        st = rp_stage_output(stg, ports[q], ds, err);
        if (st) goto done;
    }
    rp_info("%s: split %llu → %llu / %llu / %llu%s", in->name, (unsigned long long)n,
            (unsigned long long)np[0], (unsigned long long)np[1], (unsigned long long)np[2],
            strat ? " (stratified)" : "");
done:
    free(all);
    for (int i = 0; i < 3; i++) free(parts[i]);
    return st;
}

/* Check time: the images and classes are the input's. */
static int ds_check_split(rp_check *ck, rp_error *err) {
    (void)err;
    rp_check_forward(ck, "data", "train");
    rp_check_forward(ck, "data", "val");
    rp_check_forward(ck, "data", "test");
    return RP_OK;
}

/* ---- stage declaration ---- */
static const struct rp_port one_in_ports[] = {
    {"data", RP_ART_DATASET, 0, "input dataset"},
};
static const struct rp_port split_out_ports[] = {
    {"train", RP_ART_DATASET, 0, "first part (ratios[0])"},
    {"val", RP_ART_DATASET, 0, "second part (ratios[1])"},
    {"test", RP_ART_DATASET, 0, "third part (ratios[2], may be empty)"},
};
static const struct rp_stage_def split_stage = {
    "data.split", "seeded (optionally stratified) train/val/test split by ratios",
    one_in_ports, RP_COUNT(one_in_ports), split_out_ports, RP_COUNT(split_out_ports), ds_run_split, 0, ds_check_split};
RP_STAGE(split_stage)
