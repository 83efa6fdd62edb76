/* sum: a weighted sum of loss terms,
 *   loss: {sum: {terms: [{cross_entropy: {}}, {complement_flatten: {weight: 0.5}}]}}
 * Each term is any loss component (its own `weight` scales it); `weight` of
 * the sum scales the total. S3 uses L = L_CE + lambda * L'. */
#include <stdlib.h>

#include "loss_common.h"

typedef struct sum_state {
    double scale;
    size_t n;
    rp_loss **terms; /* owned */
} sum_state;

static void sum_destroy(void *state) {
    sum_state *s = state;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) rp_loss_free(s->terms[i]);
    free(s->terms);
    free(s);
}

static int sum_create(const rp_node *params, void **state, rp_error *err) {
    const rp_node *terms = rp_node_get(params, "terms");
    if (!terms || terms->kind != RP_NODE_SEQ || rp_node_len(terms) == 0)
        return rp_error_at(err, terms ? terms : params, RP_ERR_INVALID,
                           "loss 'sum': 'terms' must be a non-empty list of losses, e.g. "
                           "[{cross_entropy: {}}, {complement_flatten: {weight: 0.5}}]");
    sum_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "loss 'sum': out of memory");
    int rc = loss_param_finite(params, "weight", &s->scale, err);
    size_t n = rp_node_len(terms);
    if (rc == RP_OK && !(s->terms = calloc(n, sizeof *s->terms)))
        rc = rp_error_set(err, RP_ERR_NOMEM, "loss 'sum': out of memory");
    for (size_t i = 0; rc == RP_OK && i < n; i++) {
        rc = rp_loss_new(rp_node_at(terms, i), &s->terms[i], err);
        if (rc == RP_OK) s->n++;
        else rp_error_prefix(err, "loss 'sum', term %zu: ", i + 1);
    }
    if (rc != RP_OK) {
        sum_destroy(s);
        return rc;
    }
    *state = s;
    return RP_OK;
}

static int sum_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                       double *loss, rp_tensor *dlogits, rp_error *err) {
    const sum_state *s = state;
    rp_tensor *tmp = NULL;
    if (dlogits && s->n > 1) {
        int rc = rp_tensor_new(&tmp, logits->ndim, logits->shape, err);
        if (rc != RP_OK) return rc;
    }
    double total = 0;
    int rc = RP_OK;
    for (size_t i = 0; rc == RP_OK && i < s->n; i++) {
        double li = 0;
        rp_tensor *d = dlogits ? (i == 0 ? dlogits : tmp) : NULL;
        rc = rp_loss_compute(s->terms[i], logits, target, &li, d, err);
        if (rc != RP_OK) {
            rp_error_prefix(err, "loss 'sum', term %zu: ", i + 1);
            break;
        }
        total += li;
        if (d && i > 0)
            for (size_t j = 0; j < dlogits->numel; j++) dlogits->data[j] += tmp->data[j];
    }
    rp_tensor_free(tmp);
    if (rc != RP_OK) return rc;
    if (dlogits && s->scale != 1.0)
        for (size_t j = 0; j < dlogits->numel; j++) dlogits->data[j] *= (float)s->scale;
    *loss = s->scale * total;
    return RP_OK;
}

const struct rp_loss_ops rp_loss_sum_ops = {sum_create, sum_forward, sum_destroy};

RP_COMPONENT(RP_COMP_LOSS, "sum",
             "weighted sum of loss terms", rp_loss_sum_ops)
