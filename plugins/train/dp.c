/* Data-parallel training: gradient buckets summed over the ranks.
 *
 * The trainable parameters, in reverse model order (the order the backward
 * finishes them), are cut into buckets of about `bucket_mb`. The model's
 * grad-ready hook (rp_model_set_grad_ready) marks parameters as their node's
 * backward ends; a bucket whose parameters are all done is packed (gradient
 * x this rank's share of the global batch) and its MPI_Iallreduce started
 * while the backward goes on, as PyTorch's DistributedDataParallel does
 * (Li et al., "PyTorch Distributed", VLDB 2020). Buckets start strictly in
 * index order, so every rank issues the same collectives in the same order
 * (MPI matches collectives by order), whatever its shard. train_dp_finish
 * starts what is left, waits, and writes the sums back into the gradients,
 * so every rank takes the same optimizer step on the same bytes.
 *
 * Only runpipe/comm.h is used: this plugin never links MPI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

typedef struct dp_bucket {
    size_t first, count;  /* parameters order[first .. first + count) */
    size_t numel;         /* floats in buf */
    float *buf;           /* owned: packed gradients, reduced in place */
    size_t pending;       /* parameters not done in this backward */
    rp_comm_req *req;     /* started reduction, or NULL */
} dp_bucket;

struct train_dp {
    const struct rp_comm *c;
    rp_model *m;          /* borrowed */
    rp_param **order;     /* owned array of borrowed params: trainable, reverse model order */
    size_t n;
    size_t *bucket_of;    /* per order index */
    unsigned char *done;  /* per order index: gradient final in this backward */
    dp_bucket *b;
    size_t nb, next;      /* buckets started: [0, next) */
    float scale;          /* this rank's share of the global batch */
    int rc;               /* first error inside the hook */
    rp_error err;
    double bytes_step;    /* floats x 4 reduced per step */
    double wait_s, comm_s;/* time blocked in finish / in started reductions */
    double t_first;       /* when the first bucket of this step started */
    int64_t steps;
    rp_stat_sync sync;    /* synchronised batch norm, when on */
};

static int find_param(const train_dp *dp, const rp_param *p) {
    for (size_t i = 0; i < dp->n; i++)
        if (dp->order[i] == p) return (int)i;
    return -1;
}

static int start_bucket(train_dp *dp, dp_bucket *b, rp_error *err) {
    float *w = b->buf;
    for (size_t k = 0; k < b->count; k++) {
        const rp_tensor *g = dp->order[b->first + k]->grad;
        const float s = dp->scale;
        for (size_t e = 0; e < g->numel; e++) w[e] = g->data[e] * s;
        w += g->numel;
    }
    if (dp->next == 0) dp->t_first = rp_now();
    return dp->c->iallreduce_sum_f32(dp->c, b->buf, b->numel, &b->req, err);
}

/* Start every bucket that is complete, in index order. */
static int start_ready(train_dp *dp, int all, rp_error *err) {
    while (dp->next < dp->nb && (all || dp->b[dp->next].pending == 0)) {
        int rc = start_bucket(dp, &dp->b[dp->next], err);
        if (rc) return rc;
        dp->next++;
    }
    return RP_OK;
}

static void on_grad_ready(void *ctx, rp_param *params, size_t n) {
    train_dp *dp = ctx;
    if (dp->rc) return;
    for (size_t i = 0; i < n; i++) {
        int k = params[i].trainable && params[i].grad ? find_param(dp, &params[i]) : -1;
        if (k < 0 || dp->done[k]) continue;
        dp->done[k] = 1;
        dp->b[dp->bucket_of[k]].pending--;
    }
    dp->rc = start_ready(dp, 0, &dp->err);
    if (dp->next) dp->c->poll(dp->c);
}

void train_dp_free(train_dp *dp) {
    if (!dp) return;
    rp_model_set_grad_ready(dp->m, NULL, NULL);
    rp_model_set_stat_sync(dp->m, NULL);
    for (size_t i = 0; i < dp->nb; i++) {
        if (dp->b[i].req) dp->c->wait(dp->c, dp->b[i].req, NULL);
        free(dp->b[i].buf);
    }
    free(dp->b);
    free(dp->order);
    free(dp->bucket_of);
    free(dp->done);
    free(dp);
}

int train_dp_new(const struct rp_comm *c, rp_model *m, double bucket_mb, train_dp **out,
                 rp_error *err) {
    *out = NULL;
    train_dp *dp = calloc(1, sizeof *dp);
    size_t np = rp_model_num_params(m);
    if (!dp) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    dp->c = c;
    dp->m = m;
    dp->order = calloc(np ? np : 1, sizeof *dp->order);
    dp->bucket_of = calloc(np ? np : 1, sizeof *dp->bucket_of);
    dp->done = calloc(np ? np : 1, 1);
    dp->b = calloc(np ? np : 1, sizeof *dp->b);
    if (!dp->order || !dp->bucket_of || !dp->done || !dp->b) {
        train_dp_free(dp);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    for (size_t i = np; i-- > 0;) {
        rp_param *p = rp_model_param(m, i);
        if (p->trainable && p->grad) dp->order[dp->n++] = p;
    }
    size_t cap = (size_t)(bucket_mb * 1024 * 1024 / sizeof(float));
    if (cap < 1) cap = 1;
    for (size_t i = 0; i < dp->n; i++) {
        dp_bucket *b = &dp->b[dp->nb ? dp->nb - 1 : 0];
        if (!dp->nb || b->numel >= cap) {
            b = &dp->b[dp->nb++];
            b->first = i;
        }
        b->count++;
        b->numel += dp->order[i]->grad->numel;
        dp->bucket_of[i] = dp->nb - 1;
    }
    for (size_t k = 0; k < dp->nb; k++) {
        dp->b[k].buf = malloc((dp->b[k].numel ? dp->b[k].numel : 1) * sizeof(float));
        if (!dp->b[k].buf) {
            train_dp_free(dp);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory (gradient buckets)");
        }
        dp->bytes_step += (double)dp->b[k].numel * sizeof(float);
    }
    rp_model_set_grad_ready(m, on_grad_ready, dp);
    *out = dp;
    return RP_OK;
}

void train_dp_begin(train_dp *dp, double share) {
    dp->scale = (float)share;
    dp->next = 0;
    dp->rc = RP_OK;
    memset(dp->done, 0, dp->n ? dp->n : 1);
    for (size_t k = 0; k < dp->nb; k++) dp->b[k].pending = dp->b[k].count;
}

int train_dp_finish(train_dp *dp, rp_error *err) {
    if (dp->rc) {
        *err = dp->err;
        return dp->rc;
    }
    /* what the backward did not reach (an empty shard: zero gradients) */
    double t0 = rp_now();
    int rc = start_ready(dp, 1, err);
    for (size_t k = 0; k < dp->nb; k++) {
        dp_bucket *b = &dp->b[k];
        int w = b->req ? dp->c->wait(dp->c, b->req, err) : RP_OK;
        b->req = NULL;
        if (!rc) rc = w;
        if (rc) continue;
        const float *s = b->buf;
        for (size_t q = 0; q < b->count; q++) {
            rp_tensor *g = dp->order[b->first + q]->grad;
            memcpy(g->data, s, g->numel * sizeof(float));
            s += g->numel;
        }
    }
    double t1 = rp_now();
    dp->wait_s += t1 - t0;
    if (dp->nb) dp->comm_s += t1 - dp->t_first;
    dp->steps++;
    return rc;
}

int train_dp_sum(train_dp *dp, double *v, size_t n, rp_error *err) {
    return dp->c->allreduce_sum_f64(dp->c, v, n, err);
}

static int sync_sum(void *ctx, double *v, size_t n, rp_error *err) {
    train_dp *dp = ctx;
    return dp->c->allreduce_sum_f64(dp->c, v, n, err);
}

void train_dp_sync_bn(train_dp *dp) {
    dp->sync = (rp_stat_sync){sync_sum, dp, 1.0};
    rp_model_set_stat_sync(dp->m, &dp->sync);
}

void train_dp_set_share(train_dp *dp, double share) { dp->sync.share = share; }

/* Parameters and buffers as rank 0 has them (running statistics are
 * per rank while training: DistributedDataParallel's broadcast_buffers). */
int train_dp_bcast_state(train_dp *dp, int params_too, rp_error *err) {
    size_t np = rp_model_num_params(dp->m);
    for (size_t i = 0; i < np; i++) {
        rp_param *p = rp_model_param(dp->m, i);
        if (!p->is_buffer && !params_too) continue;
        int rc = dp->c->bcast(dp->c, p->value->data, p->value->numel * sizeof(float), 0, err);
        if (rc) return rc;
    }
    return RP_OK;
}

void train_dp_stats(const train_dp *dp, size_t *buckets, double *bytes_per_step,
                    double *wait_per_step, double *comm_per_step) {
    double s = dp->steps ? (double)dp->steps : 1.0;
    *buckets = dp->nb;
    *bytes_per_step = dp->bytes_step;
    *wait_per_step = dp->wait_s / s;
    *comm_per_step = dp->comm_s / s;
}
