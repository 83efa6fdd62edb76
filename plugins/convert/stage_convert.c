/* The `convert` stage: S0's conversion learning (convert.h for the units
 * and the search; schemas/convert.yaml for the parameters).
 *
 * Order of work: every check that needs only the inputs (donor
 * architectures, select sets, `layers` patterns, shares, the candidate
 * count against max_candidates) runs before any select image is decoded
 * or any candidate evaluated. Then one round per donor: sequential rounds
 * search the whole convertible set, split rounds each donor's share; each
 * round's winner is moved into the running model when it does not lower
 * the score (keep_if_not_worse), and the next donor converts into that. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convert.h"

#define CV_NAME 96

/* Parameters the schema fills with their defaults; optional lists without
 * a default are NULL when absent. */
static int64_t p_int(const rp_node *p, const char *k) { return rp_param_int(p, k); }
static int p_bool(const rp_node *p, const char *k) { return rp_param_bool(p, k); }
static const char *p_str(const rp_node *p, const char *k) { return rp_param_str(p, k); }
static const rp_node *p_list(const rp_node *p, const char *k) {
    if (!rp_param_has(p, k)) return NULL;
    const rp_node *n = rp_node_get(p, k);
    return n && !rp_node_is_null(n) ? n : NULL;
}

/* Re-locate an error at `at` (its message kept). */
static int relocate(rp_error *err, const rp_node *at) {
    char msg[RP_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return rp_error_at(err, at, err->status, "%s", msg);
}

/* Select set names: `names` or the producing output ("split.val" -> "val",
 * a generic port "occ.data" -> "occ"). */
static int set_names(rp_stage *st, const rp_node *params, size_t n, char (*names)[CV_NAME],
                     rp_error *err) {
    const rp_node *given = p_list(params, "names");
    if (given && rp_node_len(given) != n)
        return rp_error_at(err, given, RP_ERR_INVALID,
                           "'names' has %zu entries but %zu datasets are wired to 'select'",
                           rp_node_len(given), n);
    for (size_t i = 0; i < n; i++) {
        const char *src = rp_stage_input_source(st, "select", i);
        const char *dot = src ? strrchr(src, '.') : NULL;
        if (given) snprintf(names[i], CV_NAME, "%s", rp_node_str(rp_node_at(given, i)));
        else if (!src) snprintf(names[i], CV_NAME, "set%zu", i + 1);
        else if (!dot) snprintf(names[i], CV_NAME, "%s", src);
        else if (!strcmp(dot + 1, "data") || !strcmp(dot + 1, "out"))
            snprintf(names[i], CV_NAME, "%.*s", (int)(dot - src), src);
        else snprintf(names[i], CV_NAME, "%s", dot + 1);
        for (char *q = names[i]; *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
                  *q == '_' || *q == '-'))
                *q = '_';
        for (size_t j = 0; j < i; j++)
            if (!strcmp(names[i], names[j])) {
                if (given)
                    return rp_error_at(err, rp_node_at(given, i), RP_ERR_INVALID,
                                       "'names': '%s' is used twice", names[i]);
                snprintf(names[i], CV_NAME, "set%zu", i + 1);
            }
    }
    return RP_OK;
}

/* The unit names, for messages ("conv1, conv2, fc"). */
static void unit_list(const cv_units *u, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < u->n && n + 1 < size; i++) {
        int w = snprintf(buf + n, size - n, "%s%s", i ? ", " : "", u->u[i].name);
        if (w < 0) break;
        n += (size_t)w;
    }
}

/* Units matching a list of patterns (a match on a batch-norm node selects
 * its layer's unit); each pattern must match. sel[i] = 1 for unit i. */
static int match_units(const rp_model *m, const cv_units *u, const rp_node *pats, const char *what,
                       int *sel, rp_error *err) {
    for (size_t k = 0; k < rp_node_len(pats); k++) {
        const rp_node *pn = rp_node_at(pats, k);
        const char *pat = rp_node_str(pn);
        int hit = 0;
        for (size_t i = 0; i < u->n; i++)
            for (int q = 0; q < u->u[i].n_nodes; q++)
                if (cv_pattern_match(pat, rp_model_node_name(m, (size_t)u->u[i].nodes[q])))
                    sel[i] = 1, hit = 1;
        if (!hit) {
            char names[1024];
            unit_list(u, names, sizeof names);
            return rp_error_at(err, pn, RP_ERR_INVALID,
                               "%s: '%s' matches no parameterised layer (the model has: %s)", what,
                               pat, names);
        }
    }
    return RP_OK;
}

typedef struct stage_state {
    cv_units units;
    cv_set *sets;
    size_t n_sets;
    cv_round *rounds;
    size_t n_rounds;
    rp_model *model;
    rp_metrics *mt;
    double *weights;
} stage_state;

static void state_release(stage_state *s) {
    cv_units_release(&s->units);
    for (size_t i = 0; s->sets && i < s->n_sets; i++) cv_set_release(&s->sets[i]);
    free(s->sets);
    for (size_t i = 0; s->rounds && i < s->n_rounds; i++) cv_round_release(&s->rounds[i]);
    free(s->rounds);
    rp_model_free(s->model);
    rp_metrics_free(s->mt);
    free(s->weights);
}

/* Build the rounds (one per donor of nd) from the parameters; errors
 * located. The caller sets each round's donor and donor_name. */
static int plan_rounds(const rp_node *p, const rp_model *target, size_t nd, stage_state *s,
                       rp_error *err) {
    const cv_units *u = &s->units;
    const char *unit = p_str(p, "unit");
    int kind = !strcmp(unit, "rows") ? CV_ROWS : !strcmp(unit, "columns") ? CV_COLUMNS : CV_LAYERS;
    int sel[CV_MAX_UNITS] = {0};
    const rp_node *layers = p_list(p, "layers");
    if (layers) {
        if (match_units(target, u, layers, "layers", sel, err)) return err->status;
    } else if (kind == CV_LAYERS) {
        for (size_t i = 0; i < u->n; i++) sel[i] = 1;
    } else {
        sel[u->n - 1] = 1;
    }
    int conv[CV_MAX_UNITS];
    size_t nconv = 0;
    for (size_t i = 0; i < u->n; i++)
        if (sel[i]) conv[nconv++] = (int)i;
    if (kind != CV_LAYERS && nconv != 1) {
        char names[1024] = "";
        size_t n = 0;
        for (size_t i = 0; i < nconv && n + 1 < sizeof names; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "",
                                  u->u[conv[i]].name);
        return rp_error_at(err, layers, RP_ERR_INVALID,
                           "unit: %s sweeps one layer, but 'layers' selects %zu (%s)", unit, nconv,
                           names);
    }
    const rp_node *rs = p_list(p, "r");
    int sizes[CV_MAX_UNITS];
    size_t nsz = 0;
    for (size_t i = 0; rs && i < rp_node_len(rs); i++) {
        int64_t v;
        if (rp_node_as_int(rp_node_at(rs, i), &v, err)) return err->status;
        if (v > (int64_t)nconv)
            return rp_error_at(err, rp_node_at(rs, i), RP_ERR_INVALID,
                               "r: %lld is more than the %zu convertible layers", (long long)v,
                               nconv);
        if (nsz < CV_MAX_UNITS) sizes[nsz++] = (int)v;
    }
    const int split = !strcmp(p_str(p, "assign"), "split");
    const rp_node *shares = p_list(p, "shares");
    if (split && kind != CV_LAYERS)
        return rp_error_at(err, rp_node_get(p, "assign"), RP_ERR_INVALID,
                           "assign: split shares layers between donors; it needs unit: layers");
    if (shares && !split)
        return rp_error_at(err, shares, RP_ERR_INVALID, "'shares' needs assign: split");
    if (split && shares && rp_node_len(shares) != nd)
        return rp_error_at(err, shares, RP_ERR_INVALID,
                           "'shares' has %zu entries but %zu donors are wired", rp_node_len(shares),
                           nd);
    if (split && !shares && nconv < nd)
        return rp_error_at(err, rp_node_get(p, "assign"), RP_ERR_INVALID,
                           "assign: split: %zu convertible layers cannot be shared by %zu donors",
                           nconv, nd);
    s->rounds = calloc(nd, sizeof *s->rounds);
    if (!s->rounds) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    s->n_rounds = nd;
    for (size_t d = 0; d < nd; d++) {
        cv_round *r = &s->rounds[d];
        r->kind = kind;
        r->step = p_int(p, "step");
        r->include_full_swap = p_bool(p, "include_full_swap");
        memcpy(r->sizes, sizes, nsz * sizeof *sizes);
        r->n_sizes = nsz;
        if (!split) {
            memcpy(r->units, conv, nconv * sizeof *conv);
            r->n_units = nconv;
        } else if (shares) {
            int ss[CV_MAX_UNITS] = {0};
            if (match_units(target, u, rp_node_at(shares, d), "shares", ss, err))
                return err->status;
            for (size_t i = 0; i < nconv; i++)
                if (ss[conv[i]]) r->units[r->n_units++] = conv[i];
            if (!r->n_units)
                return rp_error_at(err, rp_node_at(shares, d), RP_ERR_INVALID,
                                   "shares[%zu]: no layer of this share is convertible", d);
        } else {
            for (size_t i = d * nconv / nd; i < (d + 1) * nconv / nd; i++)
                r->units[r->n_units++] = conv[i];
        }
        /* sizes beyond a share are left out of that share's search */
        size_t k = 0;
        for (size_t i = 0; i < r->n_sizes; i++)
            if (r->sizes[i] <= (int)r->n_units) r->sizes[k++] = r->sizes[i];
        if (r->n_sizes && !k)
            return rp_error_at(err, rs, RP_ERR_INVALID,
                               "r: no size fits donor %zu's share of %zu layers", d + 1,
                               r->n_units);
        r->n_sizes = k;
    }
    return RP_OK;
}

/* The units, the rounds and the size of the whole search (*total), an
 * error when it is larger than max_candidates or empty: the same at check
 * time (the model graphs model.build declares) and when the stage runs. */
static int plan_search(const rp_node *p, const rp_node *stage, const rp_model *target, size_t nd,
                       stage_state *s, uint64_t *total, rp_error *err) {
    int rc = cv_units_find(target, &s->units, err);
    if (rc == RP_OK) rc = plan_rounds(p, target, nd, s, err);
    *total = 0;
    rp_strbuf per = {0};
    for (size_t d = 0; rc == RP_OK && d < s->n_rounds; d++) {
        uint64_t c;
        rc = cv_round_enumerate(&s->rounds[d], &s->units, target, 1, &c, err);
        if (rc && !err->file[0]) { /* the swept layer's shape: at `layers` (or `unit`) */
            const rp_node *at = rp_node_get(p, "layers");
            if (!at || !at->line) at = rp_node_get(p, "unit");
            rc = relocate(err, at && at->line ? at : stage);
        }
        *total = *total + c < *total ? UINT64_MAX : *total + c;
        rp_strbuf_printf(&per, "%s%llu", d ? " + " : "", (unsigned long long)c);
    }
    const uint64_t maxc = (uint64_t)p_int(p, "max_candidates");
    if (rc == RP_OK && *total > maxc) {
        const rp_node *at = rp_node_get(p, "max_candidates");
        rc = rp_error_at(err, at && at->line ? at : stage, RP_ERR_INVALID,
                         "the search has %llu candidates (%s over %zu donor%s), more than "
                         "max_candidates = %llu: narrow it with 'layers' (%zu convertible "
                         "layers), 'r' (subset sizes) or 'step', or raise max_candidates",
                         (unsigned long long)*total, per.p ? per.p : "0", s->n_rounds,
                         s->n_rounds == 1 ? "" : "s", (unsigned long long)maxc,
                         s->rounds[0].n_units);
    }
    rp_strbuf_release(&per);
    if (rc == RP_OK && *total == 0)
        rc = rp_error_at(err, stage, RP_ERR_INVALID,
                         "the search has no candidates (only the full swap, which is the donor "
                         "itself: set include_full_swap: true or convert more layers)");
    return rc;
}

static int add_metrics(rp_stage *st, const rp_node *p, stage_state *s, double target_score,
                       const int64_t *target_correct, const int64_t *final_correct,
                       double final_score, int64_t moved, uint64_t total, rp_error *err) {
    rp_metrics *mt = s->mt;
    char key[256];
    int rc = rp_metrics_set(mt, "convert.target.score", target_score, err);
    if (!rc) rc = rp_metrics_set(mt, "convert.best.score", final_score, err);
    if (!rc) rc = rp_metrics_set(mt, "convert.delta", 100.0 * (final_score - target_score), err);
    if (!rc) rc = rp_metrics_set(mt, "convert.best.units", (double)moved, err);
    if (!rc) rc = rp_metrics_set(mt, "convert.candidates", (double)total, err);
    for (size_t i = 0; !rc && i < s->n_sets; i++) {
        snprintf(key, sizeof key, "convert.target.%s.accuracy", s->sets[i].name);
        rc = rp_metrics_set(mt, key, (double)target_correct[i] / (double)s->sets[i].n, err);
        snprintf(key, sizeof key, "convert.best.%s.accuracy", s->sets[i].name);
        if (!rc) rc = rp_metrics_set(mt, key, (double)final_correct[i] / (double)s->sets[i].n, err);
    }
    for (size_t d = 0; !rc && d < s->n_rounds; d++) {
        snprintf(key, sizeof key, "convert.donor%zu.score", d + 1);
        rc = rp_metrics_set(mt, key, s->rounds[d].donor_score, err);
    }
    if (rc) return rc;
    /* convert.best: the winner of every round (row names = its units) */
    const char *bc[] = {"round", "size", "score", "delta_pp", "kept"};
    const char **rn = calloc(s->n_rounds, sizeof *rn);
    char(*labels)[512] = calloc(s->n_rounds, sizeof *labels);
    if (!rn || !labels) {
        free(rn);
        free(labels);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    for (size_t d = 0; d < s->n_rounds; d++) {
        const cv_round *r = &s->rounds[d];
        if (r->best >= 0) cv_cand_label(&s->units, r, &r->cands[r->best], labels[d], 512);
        else snprintf(labels[d], 512, "(none)");
        rn[d] = labels[d];
    }
    rp_table *t = rp_metrics_add_table(mt, "convert.best", s->n_rounds, 5, bc, rn, err);
    free(rn);
    free(labels);
    if (!t) return err->status;
    for (size_t d = 0; d < s->n_rounds; d++) {
        const cv_round *r = &s->rounds[d];
        double *v = t->values + d * 5;
        v[0] = (double)(d + 1);
        v[1] = r->best >= 0 ? (double)cv_cand_size(r, &r->cands[r->best]) : 0;
        v[2] = r->best >= 0 ? r->cands[r->best].score : r->base_score;
        v[3] = 100.0 * (v[2] - r->base_score);
        int keep = !p_bool(p, "keep_if_not_worse") || v[2] >= r->base_score;
        v[4] = r->best >= 0 && keep;
    }
    /* convert.top: the best `top` candidates of each round */
    size_t top = (size_t)p_int(p, "top");
    const char **cols = calloc(3 + s->n_sets, sizeof *cols);
    char(*cn)[CV_NAME + 8] = calloc(s->n_sets + 1, sizeof *cn);
    if (!cols || !cn) {
        free(cols);
        free(cn);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    cols[0] = "round", cols[1] = "score", cols[2] = "delta_pp";
    for (size_t i = 0; i < s->n_sets; i++) {
        snprintf(cn[i], sizeof cn[i], "acc.%s", s->sets[i].name);
        cols[3 + i] = cn[i];
    }
    t = rp_metrics_add_table(mt, "convert.top", 0, 3 + s->n_sets, cols, NULL, err);
    free(cols);
    free(cn);
    if (!t) return err->status;
    double *row = calloc(3 + s->n_sets, sizeof *row);
    if (!row) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t d = 0; !rc && d < s->n_rounds; d++) {
        const cv_round *r = &s->rounds[d];
        char *used = calloc(r->n_cands + 1, 1);
        if (!used) {
            rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t q = 0; !rc && q < top && q < r->n_cands; q++) {
            long b = -1;
            for (size_t i = 0; i < r->n_cands; i++)
                if (!used[i] && (b < 0 || r->cands[i].score > r->cands[b].score)) b = (long)i;
            used[b] = 1;
            char lab[512];
            cv_cand_label(&s->units, r, &r->cands[b], lab, sizeof lab);
            row[0] = (double)(d + 1);
            row[1] = r->cands[b].score;
            row[2] = 100.0 * (r->cands[b].score - r->base_score);
            for (size_t i = 0; i < s->n_sets; i++)
                row[3 + i] = (double)r->cands[b].correct[i] / (double)s->sets[i].n;
            rc = rp_table_append_row(t, lab, row, err);
        }
        free(used);
    }
    free(row);
    (void)st;
    return rc;
}

static int cv_stage_run(rp_stage *st, rp_error *err) {
    const rp_node *p = rp_stage_params(st);
    const rp_node *in = rp_node_get(rp_stage_node(st), "in");
    const rp_node *at_donors = rp_node_get(in, "donors"), *at_select = rp_node_get(in, "select");
    const rp_model *target = rp_stage_input(st, "target");
    size_t nd = rp_stage_input_count(st, "donors"), ns = rp_stage_input_count(st, "select");
    if (!target) return rp_error_set(err, RP_ERR_INTERNAL, "input 'target' is not wired");
    if (!nd) return rp_error_at(err, at_donors, RP_ERR_INVALID, "'donors': no donor model wired");
    if (!ns)
        return rp_error_at(err, at_select, RP_ERR_INVALID,
                           "'select': at least one dataset is needed to score candidates");
    stage_state s = {0};
    int rc = RP_OK;
    /* donors: same architecture */
    for (size_t d = 0; d < nd && rc == RP_OK; d++) {
        char what[300];
        snprintf(what, sizeof what, "donor %zu ('%s')", d + 1,
                 rp_stage_input_source(st, "donors", d));
        if ((rc = cv_check_donor(target, rp_stage_input_at(st, "donors", d), what, err)))
            rc = relocate(err, at_donors);
    }
    /* select sets: geometry and classes of the model */
    char(*names)[CV_NAME] = calloc(ns, sizeof *names);
    if (rc == RP_OK && !names) rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (rc == RP_OK) rc = set_names(st, p, ns, names, err);
    int mc, mh, mw;
    rp_model_input_shape(target, &mc, &mh, &mw);
    for (size_t i = 0; rc == RP_OK && i < ns; i++) {
        const rp_dataset *ds = rp_stage_input_at(st, "select", i);
        if (ds->num_classes != rp_model_num_classes(target))
            rc = rp_error_at(err, at_select, RP_ERR_INVALID,
                             "select set '%s' has %d classes, the target model %d", names[i],
                             ds->num_classes, rp_model_num_classes(target));
        else if (ds->channels && (ds->channels != mc || ds->height != mh || ds->width != mw))
            rc = rp_error_at(err, at_select, RP_ERR_INVALID,
                             "select set '%s' has %dx%dx%d images, the target model takes "
                             "%dx%dx%d",
                             names[i], ds->channels, ds->height, ds->width, mc, mh, mw);
    }
    const rp_node *wn = p_list(p, "weights");
    if (rc == RP_OK && wn) {
        if (rp_node_len(wn) != ns)
            rc = rp_error_at(err, wn, RP_ERR_INVALID,
                             "'weights' has %zu entries but %zu datasets are wired to 'select'",
                             rp_node_len(wn), ns);
        s.weights = calloc(ns, sizeof *s.weights);
        if (rc == RP_OK && !s.weights) rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        double sum = 0;
        for (size_t i = 0; rc == RP_OK && i < ns; i++) {
            rc = rp_node_as_double(rp_node_at(wn, i), &s.weights[i], err);
            sum += s.weights[i];
        }
        if (rc == RP_OK && sum <= 0)
            rc = rp_error_at(err, wn, RP_ERR_INVALID, "'weights' must not all be 0");
    }
    /* the size of the whole search, before anything is evaluated (also
       checked by `runpipe check` when model.build made the models) */
    uint64_t total = 0;
    if (rc == RP_OK) rc = plan_search(p, rp_stage_node(st), target, nd, &s, &total, err);
    for (size_t d = 0; rc == RP_OK && d < s.n_rounds; d++) {
        s.rounds[d].donor = rp_stage_input_at(st, "donors", d);
        if (!(s.rounds[d].donor_name = strdup(rp_stage_input_source(st, "donors", d))))
            rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    /* the select sets, decoded once */
    const uint64_t limit = (uint64_t)p_int(p, "limit");
    if (rc == RP_OK && !(s.sets = calloc(ns, sizeof *s.sets)))
        rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == RP_OK && i < ns; i++, s.n_sets++)
        rc = cv_set_load(rp_stage_input_at(st, "select", i), names[i], limit, &s.sets[i], err);
    free(names);
    if (rc == RP_OK) rc = rp_model_clone(target, &s.model, err);
    cv_opts o = {s.weights, (int)p_int(p, "batch_size"), p_bool(p, "incremental"), NULL, NULL};
    const int keep_rule = p_bool(p, "keep_if_not_worse");
    int64_t moved = 0;
    int64_t *target_correct = calloc(ns, sizeof(int64_t)), *final_correct = calloc(ns, sizeof(int64_t));
    if (rc == RP_OK && (!target_correct || !final_correct))
        rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    double target_score = 0, final_score = 0, t_search = 0;
    double *after = calloc(s.n_rounds + 1, sizeof *after); /* score after each round */
    if (rc == RP_OK && !after) rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t d = 0; rc == RP_OK && d < s.n_rounds; d++) {
        cv_round *r = &s.rounds[d];
        uint64_t c;
        rc = cv_round_enumerate(r, &s.units, s.model, 0, &c, err);
        if (rc == RP_OK) rc = cv_round_search(s.model, &s.units, r, s.sets, s.n_sets, &o, err);
        double dt = r->seconds;
        t_search += dt;
        if (rc) break;
        if (d == 0) {
            target_score = r->base_score;
            memcpy(target_correct, r->base_correct, ns * sizeof(int64_t));
        }
        char lab[1024] = "(none)";
        const cv_cand *b = r->best >= 0 ? &r->cands[r->best] : NULL;
        if (b) cv_cand_label(&s.units, r, b, lab, sizeof lab);
        int keep = b && (!keep_rule || b->score >= r->base_score);
        rp_info("%s: round %zu/%zu, donor %s: base %.4f; donor itself (full swap%s) %.4f; "
                "best of %zu candidates %s %.4f (%+.2f %%p)%s; candidates scored in %.2f s (%.0f/s)",
                rp_stage_id(st), d + 1, s.n_rounds, r->donor_name, r->base_score,
                r->full_swap_excluded ? ", not a candidate" : "", r->donor_score, r->n_cands, lab,
                b ? b->score : r->base_score, b ? 100.0 * (b->score - r->base_score) : 0.0,
                keep ? ", kept" : ", not kept (lower than the base)", dt,
                dt > 0 ? (double)r->n_cands / dt : 0.0);
        if (keep) {
            rc = cv_apply(s.model, &s.units, r, b, err);
            moved += cv_cand_size(r, b);
            final_score = b->score;
            memcpy(final_correct, b->correct, ns * sizeof(int64_t));
        } else {
            final_score = r->base_score;
            memcpy(final_correct, r->base_correct, ns * sizeof(int64_t));
        }
        after[d] = final_score;
    }
    if (rc == RP_OK) {
        rp_stage_note(st, "candidates", (double)total);
        rp_stage_note(st, "search_seconds", t_search);
        if (t_search > 0) rp_stage_note(st, "candidates_per_s", (double)total / t_search);
        rp_info("%s: %llu candidates in %.2f s (%.0f candidates/s); score %.4f -> %.4f "
                "(%+.2f %%p)",
                rp_stage_id(st), (unsigned long long)total, t_search,
                t_search > 0 ? (double)total / t_search : 0.0, target_score, final_score,
                100.0 * (final_score - target_score));
    }
    /* files and metrics */
    const char *dir = NULL;
    if (rc == RP_OK) rc = rp_stage_dir(st, &dir, err);
    if (rc == RP_OK && !(s.mt = rp_metrics_new())) rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    char path[1200], rel[400];
    if (rc == RP_OK) {
        snprintf(path, sizeof path, "%s/candidates.csv", dir);
        rc = cv_write_csv(path, &s.units, s.rounds, s.n_rounds, s.sets, s.n_sets, err);
        snprintf(rel, sizeof rel, "%s/candidates.csv", rp_stage_id(st));
        if (rc == RP_OK) rc = rp_metrics_add_file(s.mt, rel, err);
    }
    /* one chart per round up to 4 donors; beyond, the score after each round */
    if (rc == RP_OK && s.n_rounds > 4) {
        snprintf(rel, sizeof rel, "%s/rounds.svg", rp_stage_id(st));
        snprintf(path, sizeof path, "%s/rounds.svg", dir);
        rc = cv_write_rounds_svg(path, s.rounds, s.n_rounds, after, err);
        if (rc == RP_OK) rc = rp_metrics_add_file(s.mt, rel, err);
        if (rc == RP_OK)
            rc = rp_stage_figure(st, "Conversion", NULL, "rounds.svg",
                                 "score after each donor", err);
    }
    for (size_t d = 0; rc == RP_OK && s.n_rounds <= 4 && d < s.n_rounds; d++) {
        const char *base = s.rounds[d].kind == CV_LAYERS ? "ranked" : "score_vs_k";
        if (s.n_rounds == 1) snprintf(rel, sizeof rel, "%s/%s.svg", rp_stage_id(st), base);
        else snprintf(rel, sizeof rel, "%s/%s_round%zu.svg", rp_stage_id(st), base, d + 1);
        snprintf(path, sizeof path, "%s/%s", dir, strchr(rel, '/') + 1);
        rc = cv_write_svg(path, &s.units, &s.rounds[d], (size_t)p_int(p, "top"), err);
        if (rc == RP_OK) rc = rp_metrics_add_file(s.mt, rel, err);
        if (rc == RP_OK)
            rc = rp_stage_figure(st, "Conversion", NULL, strrchr(rel, '/') + 1,
                                 s.n_rounds > 1 ? "one chart per donor" : NULL, err);
    }
    if (rc == RP_OK)
        rc = add_metrics(st, p, &s, target_score, target_correct, final_correct, final_score,
                         moved, total, err);
    free(target_correct);
    free(final_correct);
    free(after);
    if (rc == RP_OK) {
        rc = rp_stage_output(st, "model", s.model, err);
        s.model = NULL;
    }
    if (rc == RP_OK) {
        rc = rp_stage_output(st, "metrics", s.mt, err);
        s.mt = NULL;
    }
    state_release(&s);
    return rc;
}

/* Check time: with the graphs of the target and the donors (declared by
 * model.build, passed on through train), the donor differences, the
 * `layers` / `shares` / `r` errors and the candidate count are found before
 * anything trains. Without them (a model loaded from a file) the run checks
 * the same when the stage starts. */
static int cv_stage_check(rp_check *ck, rp_error *err) {
    const rp_node *p = rp_check_params(ck);
    const rp_node *node = rp_check_node(ck);
    const rp_model *target = rp_check_input_model(ck, "target", 0);
    size_t nd = rp_check_input_count(ck, "donors");
    rp_check_forward(ck, "target", "model");
    if (!target || !nd) return RP_OK; /* the run says what is missing */
    int rc = RP_OK;
    for (size_t d = 0; rc == RP_OK && d < nd; d++) {
        const rp_model *donor = rp_check_input_model(ck, "donors", d);
        char what[300];
        snprintf(what, sizeof what, "donor %zu ('%s')", d + 1,
                 rp_check_input_source(ck, "donors", d));
        if (donor && (rc = cv_check_donor(target, donor, what, err)))
            rc = relocate(err, rp_node_get(rp_node_get(node, "in"), "donors"));
    }
    stage_state s = {0};
    uint64_t total;
    if (rc == RP_OK) rc = plan_search(p, node, target, nd, &s, &total, err);
    state_release(&s);
    return rc;
}

static const struct rp_port convert_inputs[] = {
    {"target", RP_ART_MODEL, 0, "the model to convert into (left unchanged; a copy is converted)"},
    {"donors", RP_ART_MODEL, RP_PORT_MULTI,
     "models of the same architecture giving parameters (e.g. trained on occluded images)"},
    {"select", RP_ART_DATASET, RP_PORT_MULTI,
     "the sets whose mean accuracy (AA) scores a candidate, e.g. a clean and an occluded "
     "validation split"},
};
static const struct rp_port convert_outputs[] = {
    {"model", RP_ART_MODEL, 0, "the converted model"},
    {"metrics", RP_ART_METRICS, 0,
     "convert.target.score, convert.best.score, convert.delta (%p), convert.best.units; tables "
     "convert.best, convert.top; candidates.csv and a chart"},
};
static const struct rp_stage_def convert_stage = {
    "convert",
    "S0 conversion learning: search donor layers / rows / columns to transplant into a target "
    "model, scored by AA on select sets",
    convert_inputs, RP_COUNT(convert_inputs), convert_outputs, RP_COUNT(convert_outputs),
    cv_stage_run, RP_STAGE_CACHEABLE, cv_stage_check};
RP_STAGE(convert_stage)
