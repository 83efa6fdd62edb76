/* Candidate enumeration, scoring, the layer-subset search (prefix reuse)
 * and applying a candidate (rules: convert.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convert.h"

/* ---- helpers ------------------------------------------------------------------- */

int cv_argmax(const float *s, int c) {
    int best = 0;
    for (int k = 1; k < c; k++)
        if (s[k] > s[best]) best = k;
    return best;
}

double cv_score(const int64_t *correct, const cv_set *sets, size_t n_sets, const double *w) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n_sets; i++) {
        double wi = w ? w[i] : 1.0;
        num += wi * (double)correct[i] / (double)sets[i].n;
        den += wi;
    }
    return den > 0 ? num / den : 0;
}

int64_t cv_cand_size(const cv_round *r, const cv_cand *c) {
    return r->kind == CV_LAYERS ? (int64_t)__builtin_popcountll(c->mask) : c->k;
}

const char *cv_cand_label(const cv_units *u, const cv_round *r, const cv_cand *c, char *buf,
                          size_t size) {
    if (r->kind != CV_LAYERS) {
        snprintf(buf, size, "%s.%s[0:%lld]", u->u[r->units[0]].name,
                 r->kind == CV_ROWS ? "rows" : "columns", (long long)c->k);
        return buf;
    }
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < r->n_units && n + 1 < size; i++) {
        if (!(c->mask >> i & 1)) continue;
        int w = snprintf(buf + n, size - n, "%s%s", n ? "+" : "", u->u[r->units[i]].name);
        if (w < 0) break;
        n += (size_t)w;
    }
    return buf;
}

/* Node index of a parameter ("<node>.<pname>"), -1 when none. */
static int param_node(const rp_model *m, const char *pname) {
    const char *dot = strrchr(pname, '.');
    if (!dot) return -1;
    size_t len = (size_t)(dot - pname);
    for (size_t i = 0; i < rp_model_num_nodes(m); i++) {
        const char *nm = rp_model_node_name(m, i);
        if (strlen(nm) == len && !strncmp(nm, pname, len)) return (int)i;
    }
    return -1;
}

static int64_t n_choose(int64_t n, int64_t k) {
    uint64_t c = 1;
    for (int64_t i = 1; i <= k; i++) {
        if (c > UINT64_MAX / (uint64_t)(n - k + i)) return INT64_MAX;
        c = c * (uint64_t)(n - k + i) / (uint64_t)i;
    }
    return c > INT64_MAX ? INT64_MAX : (int64_t)c;
}

/* ---- enumeration --------------------------------------------------------------- */

int cv_round_enumerate(cv_round *r, const cv_units *u, const rp_model *base, int count_only,
                       uint64_t *count, rp_error *err) {
    uint64_t total = 0;
    const size_t n = r->n_units;
    if (r->kind == CV_LAYERS) {
        int sizes[CV_MAX_UNITS];
        size_t ns = r->n_sizes;
        if (!ns)
            for (size_t i = 0; i < n; i++) sizes[ns++] = (int)i + 1;
        else
            memcpy(sizes, r->sizes, ns * sizeof *sizes);
        int full = n == u->n && !r->include_full_swap; /* every unit = the donor */
        for (size_t i = 0; i < ns; i++) {
            int64_t c = n_choose((int64_t)n, sizes[i]);
            if (full && sizes[i] == (int)n) c--;
            total = total + (uint64_t)c < total ? UINT64_MAX : total + (uint64_t)c;
        }
        r->full_swap_excluded = full;
        *count = total;
        if (count_only) return RP_OK;
        r->cands = calloc(total ? total : 1, sizeof *r->cands);
        if (!r->cands) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < ns; i++) {
            int k = sizes[i], idx[CV_MAX_UNITS];
            for (int j = 0; j < k; j++) idx[j] = j;
            for (;;) {
                uint64_t mask = 0;
                for (int j = 0; j < k; j++) mask |= 1ull << idx[j];
                if (!(full && k == (int)n)) r->cands[r->n_cands++].mask = mask;
                int j = k - 1;
                while (j >= 0 && idx[j] == (int)n - k + j) j--;
                if (j < 0) break;
                idx[j]++;
                for (int q = j + 1; q < k; q++) idx[q] = idx[q - 1] + 1;
            }
        }
        return RP_OK;
    }
    /* rows / columns of one layer */
    const cv_unit *un = &u->u[r->units[0]];
    char wname[400];
    snprintf(wname, sizeof wname, "%s.weight", un->name);
    const rp_param *w = rp_model_find_param((rp_model *)base, wname); /* read only */
    if (!w)
        return rp_error_set(err, RP_ERR_INVALID, "layer '%s' has no parameter 'weight'", un->name);
    if (r->kind == CV_COLUMNS && w->value->ndim != 2) {
        char b[96];
        return rp_error_set(err, RP_ERR_INVALID,
                            "columns apply to a dense weight [out, in]; '%s' has weight %s (use "
                            "unit: rows for a convolution's filters)",
                            un->name, rp_shape_str(w->value->ndim, w->value->shape, b, sizeof b));
    }
    r->n_rows = r->kind == CV_ROWS ? w->value->shape[0] : w->value->shape[1];
    int64_t step = r->step > 0 ? r->step : 1;
    int full = r->kind == CV_ROWS && u->n == 1 && !r->include_full_swap;
    for (int64_t k = step;; k += step) {
        if (k > r->n_rows) k = r->n_rows;
        if (!(full && k == r->n_rows)) total++;
        if (k == r->n_rows) break;
    }
    r->full_swap_excluded = full;
    *count = total;
    if (count_only) return RP_OK;
    r->cands = calloc(total ? total : 1, sizeof *r->cands);
    if (!r->cands) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (int64_t k = step;; k += step) {
        if (k > r->n_rows) k = r->n_rows;
        if (!(full && k == r->n_rows)) r->cands[r->n_cands++].k = k;
        if (k == r->n_rows) break;
    }
    return RP_OK;
}

void cv_round_release(cv_round *r) {
    for (size_t i = 0; r->cands && i < r->n_cands; i++) free(r->cands[i].correct);
    free(r->cands);
    free(r->donor_name);
    free(r->base_correct);
    free(r->donor_correct);
    r->cands = NULL;
    r->donor_name = NULL;
    r->base_correct = r->donor_correct = NULL;
    r->n_cands = 0;
}

/* ---- applying a candidate ------------------------------------------------------- */

static int unit_has_node(const cv_unit *un, int node) {
    for (int k = 0; k < un->n_nodes; k++)
        if (un->nodes[k] == node) return 1;
    return 0;
}

int cv_apply(rp_model *m, const cv_units *u, const cv_round *r, const cv_cand *c, rp_error *err) {
    rp_model *d = (rp_model *)r->donor; /* read only */
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        rp_param *p = rp_model_param(m, i);
        int node = param_node(m, p->name);
        const rp_param *q = rp_model_find_param(d, p->name);
        if (!q || !rp_tensor_same_shape(p->value, q->value))
            return rp_error_set(err, RP_ERR_INTERNAL, "donor lacks '%s'", p->name);
        float *dst = p->value->data;
        const float *src = q->value->data;
        if (r->kind == CV_LAYERS) {
            int hit = 0;
            for (size_t j = 0; j < r->n_units; j++)
                if ((c->mask >> j & 1) && unit_has_node(&u->u[r->units[j]], node)) hit = 1;
            if (hit) memcpy(dst, src, p->value->numel * sizeof(float));
            continue;
        }
        const cv_unit *un = &u->u[r->units[0]];
        if (!unit_has_node(un, node)) continue;
        int64_t k = c->k;
        if (r->kind == CV_COLUMNS) {
            if (node != un->main || p->value->ndim != 2) continue; /* the weight only */
            int64_t out = p->value->shape[0], in = p->value->shape[1];
            for (int64_t o = 0; o < out; o++)
                memcpy(dst + o * in, src + o * in, (size_t)k * sizeof(float));
            continue;
        }
        /* rows: weight rows / filters, bias and batch-norm channels 0..k-1
         * (the leading dimension is the output channel in each) */
        if (p->value->ndim == 0 || p->value->shape[0] != r->n_rows) continue;
        size_t per = p->value->numel / (size_t)r->n_rows;
        memcpy(dst, src, (size_t)k * per * sizeof(float));
    }
    return RP_OK;
}

/* ---- counting correct predictions ---------------------------------------------- */

static int count_batch(const rp_tensor *y, const int32_t *labels, int64_t n, int64_t *correct,
                       rp_error *err) {
    if (y->ndim != 2 || y->shape[0] != n)
        return rp_error_set(err, RP_ERR_INVALID, "conversion needs a model output [N, classes]");
    int c = (int)y->shape[1];
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++) hits += cv_argmax(y->data + i * c, c) == labels[i];
    *correct += hits;
    return RP_OK;
}

rp_tensor cv_rows_view(const rp_tensor *x, int64_t i0, int64_t n) {
    rp_tensor v;
    memset(&v, 0, sizeof v);
    int64_t per = (int64_t)x->numel / x->shape[0];
    v.data = x->data + i0 * per;
    v.ndim = 4;
    v.shape[0] = n;
    for (int d = 1; d < 4; d++) v.shape[d] = x->shape[d];
    v.numel = (size_t)(n * per);
    return v;
}

int cv_count_correct(rp_model *m, const cv_set *sets, size_t n_sets, int batch,
                     int64_t *correct, cv_output_fn observe, void *ctx, size_t cand,
                     rp_error *err) {
    rp_model_set_training(m, 0);
    for (size_t s = 0; s < n_sets; s++) {
        correct[s] = 0;
        for (int64_t i0 = 0; i0 < sets[s].n; i0 += batch) {
            int64_t nb = sets[s].n - i0 < batch ? sets[s].n - i0 : batch;
            rp_tensor xb = cv_rows_view(sets[s].x, i0, nb);
            const rp_tensor *y;
            if (rp_model_forward(m, &xb, &y, err)) return err->status;
            if (count_batch(y, sets[s].y + i0, nb, &correct[s], err)) return err->status;
            if (observe) observe(ctx, cand, s, i0, y);
        }
    }
    return RP_OK;
}

/* ---- the layer-subset search ------------------------------------------------------ */

int cv_cut_source(const rp_model *m, int c, int out) {
    int src = -3;
    for (int k = c; k <= out; k++) {
        int in[16];
        int n = rp_model_node_inputs(m, (size_t)k, in, 16);
        for (int i = 0; i < n && i < 16; i++) {
            if (in[i] >= c) continue;
            if (src != -3 && src != in[i]) return -2;
            src = in[i];
        }
    }
    return src == -3 ? c - 1 : src;
}

typedef struct cut {
    int node;             /* first node of the suffix */
    int src;              /* cut_source */
    int from;             /* index of the cut whose activations feed the prefix (-1 = x) */
    rp_model *prefix;     /* slice(cuts[from].node or 0, src), NULL when src == -1 */
    rp_model *suffix;     /* slice(node, out) of the base */
    const rp_tensor *act; /* this batch's activations at the cut (borrowed) */
    size_t n_p;
    rp_param **p;         /* suffix params */
    const float **vb, **vd; /* base / donor values */
    int *ru;              /* round unit index per param, -1 = none */
    int *cur;             /* 1 = holds the donor's values */
} cut;

static void cut_release(cut *c) {
    rp_model_free(c->prefix);
    rp_model_free(c->suffix);
    free(c->p);
    free(c->vb);
    free(c->vd);
    free(c->ru);
    free(c->cur);
}

/* The candidates' first changed unit, moved back to the closest valid cut. */
static int first_cut(const rp_model *base, const cv_units *u, const cv_round *r, uint64_t mask,
                     int out) {
    int lo = __builtin_ctzll(mask);
    int c = u->u[r->units[lo]].start;
    while (c > 0 && cv_cut_source(base, c, out) == -2) c--;
    return c;
}

static int cut_setup(const rp_model *base, const cv_units *u, const cv_round *r, cut *cuts,
                     size_t j, int out, rp_error *err) {
    cut *c = &cuts[j];
    if (rp_model_slice(base, (size_t)c->node, (size_t)out, &c->suffix, err)) return err->status;
    c->src = cv_cut_source(base, c->node, out);
    c->from = -1;
    if (c->src >= 0) {
        int lo = 0;
        for (size_t i = 0; i < j; i++)
            if (cuts[i].node <= c->src) c->from = (int)i, lo = cuts[i].node;
        if (rp_model_slice(base, (size_t)lo, (size_t)c->src, &c->prefix, err)) return err->status;
    }
    size_t np = rp_model_num_params(c->suffix);
    c->n_p = np;
    c->p = calloc(np + 1, sizeof *c->p);
    c->vb = calloc(np + 1, sizeof *c->vb);
    c->vd = calloc(np + 1, sizeof *c->vd);
    c->ru = calloc(np + 1, sizeof *c->ru);
    c->cur = calloc(np + 1, sizeof *c->cur);
    if (!c->p || !c->vb || !c->vd || !c->ru || !c->cur)
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < np; i++) {
        rp_param *p = rp_model_param(c->suffix, i);
        c->p[i] = p;
        c->vb[i] = rp_model_find_param((rp_model *)base, p->name)->value->data;
        c->vd[i] = rp_model_find_param((rp_model *)r->donor, p->name)->value->data;
        int un = cv_unit_of_node(u, param_node(base, p->name));
        c->ru[i] = -1;
        for (size_t k = 0; k < r->n_units; k++)
            if (r->units[k] == un) c->ru[i] = (int)k;
    }
    return RP_OK;
}

static void cut_set_params(cut *c, uint64_t mask) {
    for (size_t i = 0; i < c->n_p; i++) {
        int want = c->ru[i] >= 0 && (mask >> c->ru[i] & 1);
        if (want == c->cur[i]) continue;
        memcpy(c->p[i]->value->data, want ? c->vd[i] : c->vb[i],
               c->p[i]->value->numel * sizeof(float));
        c->cur[i] = want;
    }
}

rp_tensor cv_act_view(const rp_model *m, const rp_tensor *a, int64_t n, rp_error *err,
                          int *ok) {
    int c, h, w;
    rp_model_input_shape(m, &c, &h, &w);
    int64_t sh[4] = {n, c, h, w};
    *ok = (int64_t)a->numel == n * c * h * w;
    if (!*ok) rp_error_set(err, RP_ERR_INTERNAL, "activation of %zu floats for input [%lld, %d, %d, %d]", a->numel, (long long)n, c, h, w);
    return rp_tensor_view(a, 4, sh);
}

static int cmp_cut(const void *a, const void *b) {
    return ((const cut *)a)->node - ((const cut *)b)->node;
}

static int search_layers(const rp_model *base, const cv_units *u, cv_round *r, const cv_set *sets,
                         size_t n_sets, const cv_opts *o, rp_error *err) {
    const int out = rp_model_output_node(base);
    size_t nc = r->n_cands, ncut = 0;
    cut *cuts = calloc(nc + 1, sizeof *cuts);
    int *cand_cut = calloc(nc + 1, sizeof *cand_cut);
    size_t *order = calloc(nc + 1, sizeof *order);
    int rc = cuts && cand_cut && order ? RP_OK : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == RP_OK && i < nc; i++) {
        int c = first_cut(base, u, r, r->cands[i].mask, out), found = 0;
        for (size_t j = 0; j < ncut; j++) found |= cuts[j].node == c;
        if (!found) cuts[ncut++].node = c;
    }
    if (rc == RP_OK) qsort(cuts, ncut, sizeof *cuts, cmp_cut);
    for (size_t j = 0; rc == RP_OK && j < ncut; j++) rc = cut_setup(base, u, r, cuts, j, out, err);
    /* candidates grouped by cut, enumeration order within a group */
    size_t no = 0;
    for (size_t j = 0; rc == RP_OK && j < ncut; j++)
        for (size_t i = 0; i < nc; i++)
            if (first_cut(base, u, r, r->cands[i].mask, out) == cuts[j].node) {
                cand_cut[i] = (int)j;
                order[no++] = i;
            }
    for (size_t s = 0; rc == RP_OK && s < n_sets; s++) {
        for (int64_t i0 = 0; rc == RP_OK && i0 < sets[s].n; i0 += o->batch_size) {
            int64_t nb = sets[s].n - i0 < o->batch_size ? sets[s].n - i0 : o->batch_size;
            rp_tensor xb = cv_rows_view(sets[s].x, i0, nb);
            for (size_t j = 0; rc == RP_OK && j < ncut; j++) {
                cut *c = &cuts[j];
                if (c->src < 0) {
                    c->act = NULL; /* the batch itself */
                    continue;
                }
                const rp_tensor *a = c->from < 0 ? &xb : cuts[c->from].act;
                if (c->from >= 0 && !a) a = &xb;
                int ok;
                rp_tensor v = cv_act_view(c->prefix, a, nb, err, &ok);
                if (!ok) {
                    rc = err->status;
                    break;
                }
                rp_model_set_training(c->prefix, 0);
                rc = rp_model_forward(c->prefix, &v, &c->act, err);
            }
            for (size_t q = 0; rc == RP_OK && q < no; q++) {
                size_t i = order[q];
                cut *c = &cuts[cand_cut[i]];
                cut_set_params(c, r->cands[i].mask);
                int ok = 1;
                rp_tensor v = c->act ? cv_act_view(c->suffix, c->act, nb, err, &ok) : xb;
                if (!ok) {
                    rc = err->status;
                    break;
                }
                const rp_tensor *y;
                rp_model_set_training(c->suffix, 0);
                rc = rp_model_forward(c->suffix, &v, &y, err);
                if (rc == RP_OK) rc = count_batch(y, sets[s].y + i0, nb, &r->cands[i].correct[s], err);
                if (rc == RP_OK && o->observe) o->observe(o->observe_ctx, i, s, i0, y);
            }
        }
    }
    for (size_t j = 0; cuts && j < ncut; j++) cut_release(&cuts[j]);
    free(cuts);
    free(cand_cut);
    free(order);
    return rc;
}

static int search_naive(const rp_model *base, const cv_units *u, cv_round *r, const cv_set *sets,
                        size_t n_sets, const cv_opts *o, rp_error *err) {
    for (size_t i = 0; i < r->n_cands; i++) {
        rp_model *m;
        if (rp_model_clone(base, &m, err)) return err->status;
        int rc = cv_apply(m, u, r, &r->cands[i], err);
        if (rc == RP_OK)
            rc = cv_count_correct(m, sets, n_sets, o->batch_size, r->cands[i].correct, o->observe,
                                  o->observe_ctx, i, err);
        rp_model_free(m);
        if (rc) return rc;
    }
    return RP_OK;
}

int cv_round_search(const rp_model *base, const cv_units *u, cv_round *r, const cv_set *sets,
                    size_t n_sets, const cv_opts *o, rp_error *err) {
    r->base_correct = calloc(n_sets, sizeof(int64_t));
    r->donor_correct = calloc(n_sets, sizeof(int64_t));
    if (!r->base_correct || !r->donor_correct) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n_cands; i++)
        if (!(r->cands[i].correct = calloc(n_sets, sizeof(int64_t))))
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    /* the base and the donor itself (the trivial full swap), as whole models */
    rp_model *m;
    if (rp_model_clone(base, &m, err)) return err->status;
    int rc = cv_count_correct(m, sets, n_sets, o->batch_size, r->base_correct, NULL, NULL, 0, err);
    rp_model_free(m);
    if (rc) return rc;
    if (rp_model_clone(r->donor, &m, err)) return err->status;
    rc = cv_count_correct(m, sets, n_sets, o->batch_size, r->donor_correct, NULL, NULL, 0, err);
    rp_model_free(m);
    if (rc) return rc;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!o->incremental) rc = search_naive(base, u, r, sets, n_sets, o, err);
    else if (r->kind == CV_LAYERS) rc = search_layers(base, u, r, sets, n_sets, o, err);
    else rc = cv_search_rows(base, u, r, sets, n_sets, o, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (rc) return rc;
    r->base_score = cv_score(r->base_correct, sets, n_sets, o->weights);
    r->donor_score = cv_score(r->donor_correct, sets, n_sets, o->weights);
    r->best = -1;
    for (size_t i = 0; i < r->n_cands; i++) {
        cv_cand *c = &r->cands[i];
        c->score = cv_score(c->correct, sets, n_sets, o->weights);
        if (r->best < 0) {
            r->best = (long)i;
            continue;
        }
        const cv_cand *b = &r->cands[r->best];
        if (c->score > b->score || (c->score == b->score && cv_cand_size(r, c) < cv_cand_size(r, b)))
            r->best = (long)i;
    }
    return RP_OK;
}
