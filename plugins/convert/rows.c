/* Cumulative rows / columns of one layer, incrementally (convert.h).
 *
 * Per batch of a select set: X = the layer's input (the base's prefix, run
 * once), Zb = the unit's output with the base's parameters and, for rows,
 * Zd = with the donor's. Candidate k (ascending) then differs from k-1 by
 * rows / columns [k-1 .. k):
 *   rows:    Z[:, r] = Zd[:, r]  (output channel r of the unit; rows,
 *            filters, bias and batch norm act channel by channel)
 *   columns: Z[:, o] += X[:, j] * (Wd[o, j] - Wb[o, j])   (a rank-1 term per
 *            column j of a dense layer y = x W^T + b, torch.nn.Linear)
 * and only the layers after the unit run on Z (none when the layer gives
 * the model output: its argmax is taken right away, sample by sample). */
#include <stdlib.h>
#include <string.h>

#include "convert.h"

typedef struct sweep {
    rp_model *prefix, *ub, *ud, *rest; /* owned slices (prefix / ud / rest may be NULL) */
    float *dwt;                        /* columns: [in, out] Wd^T - Wb^T */
    int64_t in, out;
    rp_tensor *z;                      /* working copy of the unit output */
} sweep;

static void sweep_release(sweep *s) {
    rp_model_free(s->prefix);
    rp_model_free(s->ub);
    rp_model_free(s->ud);
    rp_model_free(s->rest);
    free(s->dwt);
    rp_tensor_free(s->z);
}

static int sweep_setup(const rp_model *base, const cv_unit *un, const cv_round *r, sweep *s,
                       rp_error *err) {
    const int out = rp_model_output_node(base);
    const int c = r->kind == CV_ROWS ? un->start : un->main;
    const int e = r->kind == CV_ROWS ? un->end : un->main;
    int src = cv_cut_source(base, c, out);
    if (src == -2)
        return rp_error_set(err, RP_ERR_INVALID,
                            "cannot sweep %s of '%s': the layers from it on read two tensors from "
                            "before it",
                            r->kind == CV_ROWS ? "rows" : "columns", un->name);
    if (src >= 0 && rp_model_slice(base, 0, (size_t)src, &s->prefix, err)) return err->status;
    if (rp_model_slice(base, (size_t)c, (size_t)e, &s->ub, err)) return err->status;
    if (r->kind == CV_ROWS && rp_model_slice(r->donor, (size_t)c, (size_t)e, &s->ud, err))
        return err->status;
    if (e < out) {
        if (cv_cut_source(base, e + 1, out) != e)
            return rp_error_set(err, RP_ERR_INVALID,
                                "cannot sweep %s of '%s': the layers after it read more than its "
                                "output",
                                r->kind == CV_ROWS ? "rows" : "columns", un->name);
        if (rp_model_slice(base, (size_t)e + 1, (size_t)out, &s->rest, err)) return err->status;
    }
    if (r->kind == CV_COLUMNS) {
        char wn[400];
        snprintf(wn, sizeof wn, "%s.weight", un->name);
        const rp_tensor *wb = rp_model_find_param((rp_model *)base, wn)->value;
        const rp_tensor *wd = rp_model_find_param((rp_model *)r->donor, wn)->value;
        s->out = wb->shape[0], s->in = wb->shape[1];
        s->dwt = malloc((size_t)(s->in * s->out) * sizeof(float));
        if (!s->dwt) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        for (int64_t o = 0; o < s->out; o++)
            for (int64_t j = 0; j < s->in; j++)
                s->dwt[j * s->out + o] = wd->data[o * s->in + j] - wb->data[o * s->in + j];
    }
    return RP_OK;
}

/* Count (and observe) candidate i's predictions from the unit output z. */
static int finish(sweep *s, cv_round *r, size_t i, const cv_set *set, size_t si, int64_t i0,
                  int64_t nb, const rp_tensor *z, const cv_opts *o, rp_error *err) {
    const rp_tensor *y = z;
    if (s->rest) {
        int ok;
        rp_tensor v = cv_act_view(s->rest, z, nb, err, &ok);
        if (!ok) return err->status;
        rp_model_set_training(s->rest, 0);
        if (rp_model_forward(s->rest, &v, &y, err)) return err->status;
    }
    if (y->ndim != 2 || y->shape[0] != nb)
        return rp_error_set(err, RP_ERR_INVALID, "conversion needs a model output [N, classes]");
    int c = (int)y->shape[1];
    int64_t hits = 0;
    for (int64_t n = 0; n < nb; n++) hits += cv_argmax(y->data + n * c, c) == set->y[i0 + n];
    r->cands[i].correct[si] += hits;
    if (o->observe) o->observe(o->observe_ctx, i, si, i0, y);
    return RP_OK;
}

/* Columns of the output layer, sample by sample: z (out floats) gets the
 * rank-1 terms of columns [k-1, k) and is scored at every candidate. */
static void columns_direct(const sweep *s, cv_round *r, const float *x, const float *zb,
                           const int32_t *labels, int64_t nb, int64_t *hits) {
    const int64_t in = s->in, out = s->out;
    const size_t nc = r->n_cands;
#pragma omp parallel
    {
        float *z = malloc((size_t)out * sizeof(float));
        int64_t *h = calloc(nc, sizeof(int64_t));
        if (z && h) {
#pragma omp for schedule(static)
            for (int64_t n = 0; n < nb; n++) {
                memcpy(z, zb + n * out, (size_t)out * sizeof(float));
                const float *xn = x + n * in;
                int64_t j = 0;
                for (size_t ci = 0; ci < nc; ci++) {
                    for (; j < r->cands[ci].k; j++) {
                        const float a = xn[j], *d = s->dwt + j * out;
                        if (a == 0.0f) continue; /* (after ReLU most inputs are 0) */
                        for (int64_t q = 0; q < out; q++) z[q] += a * d[q];
                    }
                    h[ci] += cv_argmax(z, (int)out) == labels[n];
                }
            }
#pragma omp critical
            for (size_t ci = 0; ci < nc; ci++) hits[ci] += h[ci];
        } else {
#pragma omp critical
            hits[nc] = -1; /* out of memory */
        }
        free(z);
        free(h);
    }
}

int cv_search_rows(const rp_model *base, const cv_units *u, cv_round *r, const cv_set *sets,
                   size_t n_sets, const cv_opts *o, rp_error *err) {
    const cv_unit *un = &u->u[r->units[0]];
    sweep s = {0};
    int rc = sweep_setup(base, un, r, &s, err);
    int64_t *hits = calloc(r->n_cands + 1, sizeof *hits);
    if (rc == RP_OK && !hits) rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t si = 0; rc == RP_OK && si < n_sets; si++) {
        const cv_set *set = &sets[si];
        for (int64_t i0 = 0; rc == RP_OK && i0 < set->n; i0 += o->batch_size) {
            int64_t nb = set->n - i0 < o->batch_size ? set->n - i0 : o->batch_size;
            rp_tensor xb = cv_rows_view(set->x, i0, nb);
            const rp_tensor *x = &xb, *zb = NULL, *zd = NULL;
            if (s.prefix) {
                rp_model_set_training(s.prefix, 0);
                if ((rc = rp_model_forward(s.prefix, &xb, &x, err))) break;
            }
            int ok;
            rp_tensor xv = cv_act_view(s.ub, x, nb, err, &ok);
            if (!ok) {
                rc = err->status;
                break;
            }
            rp_model_set_training(s.ub, 0);
            if ((rc = rp_model_forward(s.ub, &xv, &zb, err))) break;
            if (s.ud) {
                rp_tensor xd = cv_act_view(s.ud, x, nb, err, &ok);
                rp_model_set_training(s.ud, 0);
                if (!ok || (rc = rp_model_forward(s.ud, &xd, &zd, err))) {
                    rc = err->status;
                    break;
                }
            }
            if (r->kind == CV_COLUMNS && (int64_t)x->numel != nb * s.in) {
                rc = rp_error_set(err, RP_ERR_INTERNAL, "'%s' input is not [N, %lld]", un->name,
                                  (long long)s.in);
                break;
            }
            if (r->kind == CV_COLUMNS && !s.rest && !o->observe) {
                memset(hits, 0, (r->n_cands + 1) * sizeof *hits);
                columns_direct(&s, r, x->data, zb->data, set->y + i0, nb, hits);
                if (hits[r->n_cands] < 0) {
                    rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
                    break;
                }
                for (size_t i = 0; i < r->n_cands; i++) r->cands[i].correct[si] += hits[i];
                continue;
            }
            /* batch by batch: z = zb, then each candidate's rows / columns */
            if (!s.z || s.z->numel < zb->numel) {
                rp_tensor_free(s.z);
                s.z = NULL;
                if ((rc = rp_tensor_new(&s.z, zb->ndim, zb->shape, err))) break;
            }
            rp_tensor z = *zb; /* zb's shape over s.z's buffer */
            z.data = s.z->data;
            z.owns = 0;
            z.cap = 0;
            memcpy(z.data, zb->data, zb->numel * sizeof(float));
            int64_t prev = 0;
            for (size_t i = 0; rc == RP_OK && i < r->n_cands; i++) {
                int64_t k = r->cands[i].k;
                if (r->kind == CV_ROWS) {
                    int64_t ch = zb->shape[1], sp = (int64_t)zb->numel / (nb * ch);
                    if (ch != r->n_rows) {
                        rc = rp_error_set(err, RP_ERR_INVALID,
                                          "rows of '%s': its output has %lld channels, its weight "
                                          "%lld rows",
                                          un->name, (long long)ch, (long long)r->n_rows);
                        break;
                    }
                    for (int64_t n = 0; n < nb; n++)
                        memcpy(z.data + (n * ch + prev) * sp, zd->data + (n * ch + prev) * sp,
                               (size_t)((k - prev) * sp) * sizeof(float));
                } else {
                    const int64_t out = s.out, in = s.in;
#pragma omp parallel for schedule(static) if (nb * out > 4096)
                    for (int64_t n = 0; n < nb; n++) {
                        float *zn = z.data + n * out;
                        const float *xn = x->data + n * in;
                        for (int64_t j = prev; j < k; j++) {
                            const float a = xn[j], *d = s.dwt + j * out;
                            if (a == 0.0f) continue;
                            for (int64_t q = 0; q < out; q++) zn[q] += a * d[q];
                        }
                    }
                }
                prev = k;
                rc = finish(&s, r, i, set, si, i0, nb, &z, o, err);
            }
        }
    }
    free(hits);
    sweep_release(&s);
    return rc;
}
