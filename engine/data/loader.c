/* The batch loader (see include/runpipe/data.h).
 *
 * An epoch is a fixed sequence of dataset indices (`order`): identity,
 * shuffled, or drawn class-balanced with replacement, from a Philox stream
 * keyed (seed, stream, epoch) — then cut by `limit` and `drop_last`. Task t of
 * the epoch is row t % B of batch t / B. Worker threads take tasks in order
 * and decode + augment sample order[t] straight into a per-slot sample
 * buffer; the worker finishing a batch's last row assembles the batch tensor.
 * A ring of slots (the batch being used by the model + `prefetch` ahead)
 * bounds the work in flight. Sample randomness is keyed by the sample (the
 * dataset view's chain), and batch order by the task number, so the batches
 * are bit-identical whatever the number of workers or their timing (DESIGN
 * §8). Sharded (data-parallel rank r of K), batch b holds only rows
 * [g*r/K, g*(r+1)/K) of the g rows of global batch b: task t is then local
 * row t % B of batch t / B (rows past the shard are skipped), and reads
 * order[b*B + g*r/K + t % B]; the sample's randomness does not depend on
 * which rank reads it, so the shards in rank order are the global batch. Buffers (samples, batch tensors) only grow: no allocation per batch in
 * steady state. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/data.h"

/* ---- batches -------------------------------------------------------------------- */

int rp_batch_reserve(rp_batch *b, int64_t n, int64_t c, int64_t h, int64_t w, int with_masks,
                     rp_error *err) {
    if (n < 0 || c <= 0 || h <= 0 || w <= 0)
        return rp_error_set(err, RP_ERR_INVALID, "batch shape [%lld, %lld, %lld, %lld] invalid",
                            (long long)n, (long long)c, (long long)h, (long long)w);
    int same_geom = b->x.ndim == 4 && b->x.shape[1] == c && b->x.shape[2] == h &&
                    b->x.shape[3] == w;
    if (b->n > 0 && !same_geom)
        return rp_error_set(err, RP_ERR_INVALID,
                            "cannot keep %lld rows of [%lld, %lld, %lld] in a batch of [%lld, "
                            "%lld, %lld]",
                            (long long)b->n, (long long)b->x.shape[1], (long long)b->x.shape[2],
                            (long long)b->x.shape[3], (long long)c, (long long)h, (long long)w);
    size_t row = (size_t)c * (size_t)h * (size_t)w;
    size_t need = (size_t)(n > 0 ? n : 1) * row;
    size_t keep = (size_t)b->n;
    if (need > b->x.cap || !b->x.data) {
        float *p = rp_alloc(need * sizeof(float));
        if (!p) return rp_error_set(err, RP_ERR_NOMEM, "out of memory for a batch of %lld", (long long)n);
        if (keep && b->x.data) memcpy(p, b->x.data, keep * row * sizeof(float));
        if (b->x.owns) rp_free(b->x.data);
        b->x.data = p;
        b->x.cap = need;
        b->x.owns = 1;
    }
    if (n > b->capacity || !b->labels) {
        int64_t cap = n > 0 ? n : 1;
        int32_t *l = realloc(b->labels, (size_t)cap * sizeof *l);
        if (l) b->labels = l;
        uint64_t *ix = realloc(b->indices, (size_t)cap * sizeof *ix);
        if (ix) b->indices = ix;
        if (!l || !ix) return rp_error_set(err, RP_ERR_NOMEM, "out of memory for batch labels");
        if (b->masks) {
            int32_t *m = realloc(b->masks, (size_t)cap * (size_t)h * (size_t)w * sizeof *m);
            if (!m) return rp_error_set(err, RP_ERR_NOMEM, "out of memory for batch masks");
            b->masks = m;
        }
        b->capacity = cap;
    }
    if (with_masks) {
        size_t mneed = (size_t)b->capacity * (size_t)h * (size_t)w;
        /* Masks follow the image geometry; regrow when h*w changed. */
        if (!b->masks || !same_geom) {
            int32_t *m = realloc(b->masks, mneed * sizeof *m);
            if (!m) return rp_error_set(err, RP_ERR_NOMEM, "out of memory for batch masks");
            b->masks = m;
        }
    }
    b->x.ndim = 4;
    b->x.shape[0] = n;
    b->x.shape[1] = c;
    b->x.shape[2] = h;
    b->x.shape[3] = w;
    b->x.numel = (size_t)n * row;
    return RP_OK;
}

void rp_batch_release(rp_batch *b) {
    if (!b) return;
    if (b->x.owns) rp_free(b->x.data);
    free(b->labels);
    free(b->masks);
    free(b->indices);
    memset(b, 0, sizeof *b);
}

/* ---- loader --------------------------------------------------------------------- */

typedef struct slot {
    rp_batch batch;
    rp_sample *samples;  /* [batch_size], buffers reused */
    int64_t bidx;        /* batch number held, -1 none */
    int64_t remaining;   /* rows not yet decoded */
    int ready;
    int status;
    int64_t err_row;     /* lowest failing row (deterministic message) */
    rp_error err;
} slot;

struct rp_loader {
    const rp_dataset *ds;           /* borrowed */
    struct rp_loader_opts o;
    int64_t bs;
    int rank, nranks;               /* this reader's shard of every batch (0, 1: all) */
    int64_t last_global;            /* global rows of the batch last returned */
    uint64_t *order;                /* [ds->size] this epoch's indices */
    uint64_t n_order;               /* tasks this epoch */
    uint64_t nb;                    /* batches this epoch */
    uint64_t epoch;
    int started;
    /* class-balanced sampling */
    int n_cls;
    uint64_t **cls_idx;             /* [n_cls][cls_n[k]] */
    uint64_t *cls_n;
    /* slots and workers */
    int n_slots;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    uint64_t next_task, released, cur;
    int active, quit, paused;
    int n_threads;
    pthread_t *threads;
    int64_t chunk;                  /* rows a worker takes at once */
    /* fixed geometry (the dataset declares C, H, W): workers write rows
     * straight into the batch tensor, no per-slot sample buffers */
    int fixed, fc, fh, fw, fmasks;
    rp_sample caller_sample;        /* the 0-worker path's buffer */
};

/* Rows of global batch b (all shards). */
static int64_t global_rows(const rp_loader *l, uint64_t b) {
    uint64_t first = b * (uint64_t)l->bs;
    uint64_t left = l->n_order - first;
    return (int64_t)(left < (uint64_t)l->bs ? left : (uint64_t)l->bs);
}

/* First row of this reader's shard within global batch b. */
static int64_t shard_lo(const rp_loader *l, uint64_t b) {
    return global_rows(l, b) * l->rank / l->nranks;
}

/* Rows of batch b this loader produces (its shard). */
static int64_t batch_rows(const rp_loader *l, uint64_t b) {
    int64_t g = global_rows(l, b);
    return g * (l->rank + 1) / l->nranks - g * l->rank / l->nranks;
}

static const char *shape3(const rp_tensor *t, char *buf, size_t n) {
    return rp_shape_str(t->ndim, t->shape, buf, n);
}

/* Copy the decoded rows of slot `s` into its batch tensor. */
static int assemble(rp_loader *l, slot *s, rp_error *err) {
    int64_t rows = batch_rows(l, (uint64_t)s->bidx);
    if (rows == 0) { /* an empty shard: no geometry to check */
        s->batch.n = 0;
        s->batch.x.shape[0] = 0;
        s->batch.x.numel = 0;
        return RP_OK;
    }
    const rp_sample *s0 = &s->samples[0];
    if (s0->img.ndim != 3)
        return rp_error_set(err, RP_ERR_FORMAT, "%s: sample %llu is not a [C, H, W] image",
                            l->ds->name, (unsigned long long)s0->index);
    int64_t c = s0->img.shape[0], h = s0->img.shape[1], w = s0->img.shape[2];
    int masks = s0->mask.data != NULL;
    for (int64_t j = 1; j < rows; j++) {
        const rp_sample *sj = &s->samples[j];
        if (!rp_tensor_same_shape(&sj->img, &s0->img)) {
            char a[64], b[64], wj[800], w0[800];
            return rp_error_set(err, RP_ERR_FORMAT,
                                "%s has shape %s but %s (first of batch %lld) has %s; resize or "
                                "crop to one size",
                                rp_dataset_where(l->ds, sj->index, wj, sizeof wj),
                                shape3(&sj->img, a, sizeof a),
                                rp_dataset_where(l->ds, s0->index, w0, sizeof w0), (long long)s->bidx,
                                shape3(&s0->img, b, sizeof b));
        }
        if ((sj->mask.data != NULL) != masks ||
            (masks && (sj->mask.h != s0->mask.h || sj->mask.w != s0->mask.w)))
            return rp_error_set(err, RP_ERR_FORMAT,
                                "%s: batch %lld: sample %llu has a %lldx%lld mask but sample %llu "
                                "has a %lldx%lld one",
                                l->ds->name, (long long)s->bidx, (unsigned long long)sj->index,
                                (long long)sj->mask.h, (long long)sj->mask.w,
                                (unsigned long long)s0->index, (long long)s0->mask.h,
                                (long long)s0->mask.w);
    }
    if (masks && (s0->mask.h != h || s0->mask.w != w))
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s: sample %llu: mask is %lldx%lld but the image is %lldx%lld",
                            l->ds->name, (unsigned long long)s0->index, (long long)s0->mask.h,
                            (long long)s0->mask.w, (long long)h, (long long)w);
    rp_batch *b = &s->batch;
    b->n = 0;
    int st = rp_batch_reserve(b, rows, c, h, w, masks, err);
    if (st) return st;
    if (!masks) {
        free(b->masks);
        b->masks = NULL;
    }
    size_t row = (size_t)c * (size_t)h * (size_t)w;
    for (int64_t j = 0; j < rows; j++) {
        const rp_sample *sj = &s->samples[j];
        memcpy(b->x.data + (size_t)j * row, sj->img.data, row * sizeof(float));
        b->labels[j] = sj->label;
        b->indices[j] = sj->index;
        if (masks)
            memcpy(b->masks + (size_t)j * (size_t)h * (size_t)w, sj->mask.data,
                   (size_t)h * (size_t)w * sizeof(int32_t));
    }
    b->n = rows;
    return RP_OK;
}

/* Copy a decoded sample into row j of a fixed-geometry batch. */
static int place_row(rp_loader *l, slot *s, int64_t j, const rp_sample *x, rp_error *err) {
    if (x->img.ndim != 3 || x->img.shape[0] != l->fc || x->img.shape[1] != l->fh ||
        x->img.shape[2] != l->fw) {
        char a[64], w[800];
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s has shape %s but batch %lld is [%d, %d, %d] (the dataset's declared "
                            "size); resize or crop to one size",
                            rp_dataset_where(l->ds, x->index, w, sizeof w),
                            rp_shape_str(x->img.ndim, x->img.shape, a, sizeof a), (long long)s->bidx,
                            l->fc, l->fh, l->fw);
    }
    size_t row = (size_t)l->fc * l->fh * l->fw, hw = (size_t)l->fh * l->fw;
    rp_batch *b = &s->batch;
    memcpy(b->x.data + (size_t)j * row, x->img.data, row * sizeof(float));
    b->labels[j] = x->label;
    b->indices[j] = x->index;
    if (l->fmasks) {
        if (!x->mask.data || x->mask.h != l->fh || x->mask.w != l->fw)
            return rp_error_set(err, RP_ERR_FORMAT,
                                "%s: sample %llu: %s mask, expected %dx%d", l->ds->name,
                                (unsigned long long)x->index, x->mask.data ? "wrong-size" : "no",
                                l->fh, l->fw);
        memcpy(b->masks + (size_t)j * hw, x->mask.data, hw * sizeof(int32_t));
    }
    return RP_OK;
}

/* Decode task t (row j of its batch) into `tmp` (fixed geometry: then copied
 * into the batch) or into the slot's own sample (no lock held). */
static int run_task(rp_loader *l, uint64_t t, slot *s, rp_sample *tmp, rp_error *err) {
    int64_t j = (int64_t)(t % (uint64_t)l->bs);
    uint64_t b = t / (uint64_t)l->bs;
    uint64_t i = l->order[b * (uint64_t)l->bs + (uint64_t)shard_lo(l, b) + (uint64_t)j];
    rp_draw draw = {l->epoch};
    if (!l->fixed) return rp_dataset_get(l->ds, i, &draw, &s->samples[j], err);
    int st = rp_dataset_get(l->ds, i, &draw, tmp, err);
    return st ? st : place_row(l, s, j, tmp, err);
}

/* Batch tensor of a fixed-geometry slot: shape [rows, C, H, W]. */
static void finish_fixed(rp_loader *l, slot *s) {
    int64_t rows = batch_rows(l, (uint64_t)s->bidx);
    s->batch.n = rows;
    s->batch.x.shape[0] = rows;
    s->batch.x.numel = (size_t)rows * l->fc * l->fh * l->fw;
}

static void task_done(slot *s, int64_t j, int st, const rp_error *e, int64_t count) {
    /* called with mu held; j = the failing row when st != 0 */
    if (st && (s->err_row < 0 || j < s->err_row)) {
        s->status = st;
        s->err_row = j;
        s->err = *e;
    }
    s->remaining -= count;
}

static void *worker_main(void *arg) {
    rp_loader *l = arg;
    rp_error e;
    rp_error_clear(&e);
    rp_sample tmp;
    rp_sample_init(&tmp);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (l->quit) break;
        uint64_t t = l->next_task;
        uint64_t b = t / (uint64_t)l->bs;
        if (l->paused || !l->started || b >= l->nb || b >= l->released + (uint64_t)l->n_slots) {
            pthread_cond_wait(&l->cv_work, &l->mu);
            continue;
        }
        int64_t j0 = (int64_t)(t % (uint64_t)l->bs), rows = batch_rows(l, b);
        int64_t k = rows - j0 < l->chunk ? rows - j0 : l->chunk;
        /* past this shard's rows: on to the next batch (k = 0: an empty
         * shard, ready at once) */
        l->next_task = j0 + k == rows ? (b + 1) * (uint64_t)l->bs : t + (uint64_t)k;
        slot *s = &l->slots[b % (uint64_t)l->n_slots];
        if (j0 == 0) {
            s->bidx = (int64_t)b;
            s->remaining = rows;
            s->ready = 0;
            s->status = RP_OK;
            s->err_row = -1;
        }
        l->active++;
        pthread_mutex_unlock(&l->mu);
        int st = RP_OK;
        int64_t bad = -1;
        for (int64_t j = j0; j < j0 + k; j++) {
            e.file[0] = 0;
            st = run_task(l, t + (uint64_t)(j - j0), s, &tmp, &e);
            if (st) {
                bad = j; /* rows after a failure are not needed */
                break;
            }
        }
        pthread_mutex_lock(&l->mu);
        task_done(s, bad, st, &e, k);
        if (s->remaining == 0) {
            if (s->status == RP_OK) {
                if (l->fixed) {
                    finish_fixed(l, s);
                } else {
                    pthread_mutex_unlock(&l->mu);
                    rp_error_clear(&e);
                    st = assemble(l, s, &e);
                    pthread_mutex_lock(&l->mu);
                    if (st) {
                        s->status = st;
                        s->err = e;
                    }
                }
            }
            s->ready = 1;
            pthread_cond_broadcast(&l->cv_done);
        }
        l->active--;
        if (l->active == 0) pthread_cond_broadcast(&l->cv_done);
    }
    pthread_mutex_unlock(&l->mu);
    rp_sample_release(&tmp);
    return NULL;
}

static void free_classes(rp_loader *l) {
    for (int k = 0; k < l->n_cls; k++) free(l->cls_idx[k]);
    free(l->cls_idx);
    free(l->cls_n);
    l->cls_idx = NULL;
    l->cls_n = NULL;
}

static int build_classes(rp_loader *l, rp_error *err) {
    const rp_dataset *ds = l->ds;
    int32_t maxl = -1;
    for (uint64_t i = 0; i < ds->size; i++) {
        int32_t y = rp_dataset_label(ds, i);
        if (y < 0)
            return rp_error_set(err, RP_ERR_INVALID,
                                "%s: balanced sampling needs labels, but sample %llu has none",
                                ds->name, (unsigned long long)i);
        if (y > maxl) maxl = y;
    }
    l->n_cls = maxl + 1;
    l->cls_idx = calloc((size_t)(l->n_cls > 0 ? l->n_cls : 1), sizeof *l->cls_idx);
    l->cls_n = calloc((size_t)(l->n_cls > 0 ? l->n_cls : 1), sizeof *l->cls_n);
    if (!l->cls_idx || !l->cls_n) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < ds->size; i++) l->cls_n[rp_dataset_label(ds, i)]++;
    for (int k = 0; k < l->n_cls; k++) {
        l->cls_idx[k] = malloc((l->cls_n[k] ? l->cls_n[k] : 1) * sizeof(uint64_t));
        if (!l->cls_idx[k]) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        l->cls_n[k] = 0;
    }
    for (uint64_t i = 0; i < ds->size; i++) {
        int32_t y = rp_dataset_label(ds, i);
        l->cls_idx[y][l->cls_n[y]++] = i;
    }
    return RP_OK;
}

/* Rows per grab: a few per worker and batch (shard), so locking stays rare
 * while the rows of a batch still spread over the workers. */
static void set_chunk(rp_loader *l) {
    int64_t rows = (l->bs + l->nranks - 1) / l->nranks;
    l->chunk = l->o.workers > 0 ? rows / (4 * l->o.workers) : 1;
    if (l->chunk < 1) l->chunk = 1;
    if (l->chunk > 32) l->chunk = 32;
}

void rp_loader_free(rp_loader *l) {
    if (!l) return;
    if (l->threads) {
        pthread_mutex_lock(&l->mu);
        l->quit = 1;
        pthread_cond_broadcast(&l->cv_work);
        pthread_mutex_unlock(&l->mu);
        for (int k = 0; k < l->n_threads; k++) pthread_join(l->threads[k], NULL);
        free(l->threads);
    }
    if (l->slots) {
        for (int k = 0; k < l->n_slots; k++) {
            rp_batch_release(&l->slots[k].batch);
            for (int64_t j = 0; l->slots[k].samples && j < l->bs; j++)
                rp_sample_release(&l->slots[k].samples[j]);
            free(l->slots[k].samples);
        }
        free(l->slots);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_done);
    free_classes(l);
    rp_sample_release(&l->caller_sample);
    free(l->order);
    free(l);
}

int rp_loader_new(const rp_dataset *ds, const struct rp_loader_opts *opts, rp_loader **out,
                  rp_error *err) {
    *out = NULL;
    if (!ds) return rp_error_set(err, RP_ERR_INVALID, "loader: no dataset");
    if (opts->batch_size <= 0)
        return rp_error_set(err, RP_ERR_INVALID, "loader: batch_size must be > 0, got %d",
                            opts->batch_size);
    if (opts->workers < 0 || opts->workers > 256)
        return rp_error_set(err, RP_ERR_INVALID, "loader: workers must be in [0, 256], got %d",
                            opts->workers);
    if (ds->size == 0) return rp_error_set(err, RP_ERR_INVALID, "loader: dataset %s is empty", ds->name);
    rp_loader *l = calloc(1, sizeof *l);
    if (!l) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_done, NULL);
    l->ds = ds;
    l->o = *opts;
    l->bs = opts->batch_size;
    l->rank = 0;
    l->nranks = 1;
    l->n_slots = (opts->prefetch > 0 ? opts->prefetch : 1) + 1;
    l->order = malloc(ds->size * sizeof *l->order);
    l->slots = calloc((size_t)l->n_slots, sizeof *l->slots);
    if (!l->order || !l->slots) {
        rp_loader_free(l);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory for the loader");
    }
    rp_sample_init(&l->caller_sample);
    l->fixed = ds->channels > 0 && ds->height > 0 && ds->width > 0;
    l->fc = ds->channels, l->fh = ds->height, l->fw = ds->width;
    l->fmasks = ds->task == RP_TASK_SEGMENT;
    for (int k = 0; k < l->n_slots; k++) {
        l->slots[k].bidx = -1;
        if (l->fixed) {
            int st = rp_batch_reserve(&l->slots[k].batch, l->bs, l->fc, l->fh, l->fw, l->fmasks, err);
            if (st) {
                rp_loader_free(l);
                return st;
            }
            continue;
        }
        l->slots[k].samples = calloc((size_t)l->bs, sizeof(rp_sample));
        if (!l->slots[k].samples) {
            rp_loader_free(l);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory for the loader");
        }
        for (int64_t j = 0; j < l->bs; j++) rp_sample_init(&l->slots[k].samples[j]);
    }
    set_chunk(l);
    if (opts->balanced) {
        int st = build_classes(l, err);
        if (st) {
            rp_loader_free(l);
            return st;
        }
    }
    if (opts->workers > 0) {
        l->threads = calloc((size_t)opts->workers, sizeof *l->threads);
        if (!l->threads) {
            rp_loader_free(l);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        for (int k = 0; k < opts->workers; k++) {
            if (pthread_create(&l->threads[k], NULL, worker_main, l) != 0) {
                rp_loader_free(l);
                return rp_error_set(err, RP_ERR_INTERNAL, "loader: cannot start worker thread %d", k);
            }
            l->n_threads = k + 1;
        }
    }
    *out = l;
    return RP_OK;
}

/* Fill l->order for this epoch (lock held or no workers). */
static void make_order(rp_loader *l, uint64_t epoch) {
    const rp_dataset *ds = l->ds;
    uint64_t n = ds->size;
    rp_rng r;
    rp_rng_init(&r, l->o.seed, l->o.stream ^ rp_hash_str("loader.order"), epoch, 0);
    if (l->o.balanced) {
        /* Class-balanced with replacement: class uniform among non-empty
         * classes, then a uniform member (WeightedRandomSampler with weights
         * 1 / class count). */
        int nonempty = 0;
        for (int k = 0; k < l->n_cls; k++) nonempty += l->cls_n[k] > 0;
        for (uint64_t t = 0; t < n; t++) {
            uint32_t pick = rp_rng_below(&r, (uint32_t)nonempty);
            int k = 0;
            for (;; k++)
                if (l->cls_n[k] > 0 && pick-- == 0) break;
            l->order[t] = l->cls_idx[k][rp_rng_below(&r, (uint32_t)l->cls_n[k])];
        }
    } else {
        for (uint64_t t = 0; t < n; t++) l->order[t] = t;
        if (l->o.shuffle)
            for (uint64_t i = n; i > 1; i--) {
                uint64_t j = rp_rng_below(&r, (uint32_t)i);
                uint64_t tmp = l->order[i - 1];
                l->order[i - 1] = l->order[j];
                l->order[j] = tmp;
            }
    }
    if (l->o.limit && l->o.limit < n) n = l->o.limit;
    if (l->o.drop_last) n -= n % (uint64_t)l->bs;
    l->n_order = n;
    l->nb = (n + (uint64_t)l->bs - 1) / (uint64_t)l->bs;
}

int rp_loader_start(rp_loader *l, uint64_t epoch, rp_error *err) {
    (void)err;
    pthread_mutex_lock(&l->mu);
    /* Stop handing out tasks of the previous epoch and wait for the ones in
     * flight (a restarted epoch discards what was prefetched). */
    l->paused = 1;
    while (l->active > 0) pthread_cond_wait(&l->cv_done, &l->mu);
    make_order(l, epoch);
    l->epoch = epoch;
    l->next_task = 0;
    l->released = 0;
    l->cur = 0;
    for (int k = 0; k < l->n_slots; k++) {
        l->slots[k].bidx = -1;
        l->slots[k].ready = 0;
    }
    l->started = 1;
    l->paused = 0;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    return RP_OK;
}

int rp_loader_set_shard(rp_loader *l, int rank, int nranks, rp_error *err) {
    if (nranks < 1 || rank < 0 || rank >= nranks)
        return rp_error_set(err, RP_ERR_INVALID,
                            "loader: shard %d of %d ranks is invalid (need 0 <= rank < ranks)",
                            rank, nranks);
    pthread_mutex_lock(&l->mu);
    int started = l->started;
    if (!started) {
        l->rank = rank;
        l->nranks = nranks;
        set_chunk(l);
    }
    pthread_mutex_unlock(&l->mu);
    if (started)
        return rp_error_set(err, RP_ERR_INTERNAL,
                            "loader: set_shard() after start() (the shard is fixed for the run)");
    return RP_OK;
}

int64_t rp_loader_global_rows(const rp_loader *l) { return l->last_global; }

uint64_t rp_loader_num_batches(const rp_loader *l) {
    if (l->started) return l->nb;
    uint64_t n = l->ds->size;
    if (l->o.limit && l->o.limit < n) n = l->o.limit;
    if (l->o.drop_last) return n / (uint64_t)l->bs;
    return (n + (uint64_t)l->bs - 1) / (uint64_t)l->bs;
}

int rp_loader_next(rp_loader *l, rp_batch **out, rp_error *err) {
    *out = NULL;
    if (!l->started) return rp_error_set(err, RP_ERR_INTERNAL, "loader: next() before start()");
    if (l->cur >= l->nb) return RP_OK;
    uint64_t b = l->cur;
    slot *s = &l->slots[b % (uint64_t)l->n_slots];
    if (l->n_threads == 0) {
        /* In the caller: decode the batch's rows in order. */
        s->bidx = (int64_t)b;
        int64_t rows = batch_rows(l, b);
        for (int64_t j = 0; j < rows; j++) {
            int st = run_task(l, b * (uint64_t)l->bs + (uint64_t)j, s, &l->caller_sample, err);
            if (st) return st;
        }
        if (l->fixed) {
            finish_fixed(l, s);
        } else {
            int st = assemble(l, s, err);
            if (st) return st;
        }
        l->cur++;
        l->last_global = global_rows(l, b);
        *out = &s->batch;
        return RP_OK;
    }
    pthread_mutex_lock(&l->mu);
    /* The batch returned by the previous call is done with: free its slot. */
    if (l->released < b) {
        l->released = b;
        pthread_cond_broadcast(&l->cv_work);
    }
    while (!(s->bidx == (int64_t)b && s->ready)) pthread_cond_wait(&l->cv_done, &l->mu);
    int st = s->status;
    if (st && err) *err = s->err;
    pthread_mutex_unlock(&l->mu);
    if (st) return st;
    l->cur++;
    l->last_global = global_rows(l, b);
    *out = &s->batch;
    return RP_OK;
}
