/* Samples, datasets and index subsets (see include/runpipe/data.h).
 *
 * A dataset is an ops table + an impl pointer; everything here is the common
 * plumbing: buffers that samples reuse between get() calls, class/domain
 * names, bounds-checked access, and the subset view used by data.split and
 * data.filter. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/data.h"

void rp_sample_init(rp_sample *s) {
    memset(s, 0, sizeof *s);
    s->img.owns = 1;
    s->work.owns = 1;
    s->label = -1;
    s->domain = -1;
}

void rp_sample_release(rp_sample *s) {
    if (!s) return;
    rp_tensor_release(&s->img);
    rp_tensor_release(&s->work);
    free(s->mask.data);
    free(s->work_mask.data);
    rp_sample_init(s);
}

int rp_sample_resize(rp_sample *s, int64_t c, int64_t h, int64_t w, rp_error *err) {
    if (c <= 0 || h <= 0 || w <= 0)
        return rp_error_set(err, RP_ERR_INVALID, "sample shape [%lld, %lld, %lld] is empty",
                            (long long)c, (long long)h, (long long)w);
    int64_t shape[3] = {c, h, w};
    s->img.owns = 1;
    return rp_tensor_reshape_alloc(&s->img, 3, shape, err);
}

int rp_mask_resize(rp_mask *m, int64_t h, int64_t w, rp_error *err) {
    if (h <= 0 || w <= 0)
        return rp_error_set(err, RP_ERR_INVALID, "mask shape [%lld, %lld] is empty",
                            (long long)h, (long long)w);
    size_t need = (size_t)h * (size_t)w;
    if (need > m->cap) {
        int32_t *p = realloc(m->data, need * sizeof *p);
        if (!p) return rp_error_set(err, RP_ERR_NOMEM, "out of memory for a %lldx%lld mask",
                                    (long long)h, (long long)w);
        m->data = p;
        m->cap = need;
    }
    m->h = h;
    m->w = w;
    return RP_OK;
}

/* ---- datasets ------------------------------------------------------------------ */

static void free_names(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int copy_names(char ***dst, int n, const char *const *names, rp_error *err) {
    *dst = NULL;
    if (n <= 0) return RP_OK;
    char **v = calloc((size_t)n, sizeof *v);
    if (!v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory for %d names", n);
    for (int i = 0; i < n; i++) {
        char tmp[32];
        const char *s = names && names[i] ? names[i] : NULL;
        if (!s) {
            snprintf(tmp, sizeof tmp, "%d", i);
            s = tmp;
        }
        v[i] = strdup(s);
        if (!v[i]) {
            free_names(v, i);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory for names");
        }
    }
    *dst = v;
    return RP_OK;
}

rp_dataset *rp_dataset_new(const struct rp_dataset_ops *ops, void *impl, const char *name,
                           uint64_t size, int num_classes, const char *const *class_names) {
    rp_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->ops = ops;
    ds->impl = impl;
    snprintf(ds->name, sizeof ds->name, "%s", name ? name : "dataset");
    ds->size = size;
    ds->task = RP_TASK_CLASSIFY;
    if (num_classes > 0) {
        if (copy_names(&ds->class_names, num_classes, class_names, NULL) != RP_OK) {
            free(ds);
            return NULL;
        }
        ds->num_classes = num_classes;
    }
    return ds;
}

int rp_dataset_set_classes(rp_dataset *ds, int n, const char *const *names, rp_error *err) {
    char **v;
    int st = copy_names(&v, n, names, err);
    if (st) return st;
    free_names(ds->class_names, ds->num_classes);
    ds->class_names = v;
    ds->num_classes = n > 0 ? n : 0;
    return RP_OK;
}

int rp_dataset_set_domains(rp_dataset *ds, int n, const char *const *names, rp_error *err) {
    char **v;
    int st = copy_names(&v, n, names, err);
    if (st) return st;
    free_names(ds->domain_names, ds->num_domains);
    ds->domain_names = v;
    ds->num_domains = n > 0 ? n : 0;
    return RP_OK;
}

void rp_dataset_free(rp_dataset *ds) {
    if (!ds) return;
    if (ds->ops && ds->ops->destroy) ds->ops->destroy(ds);
    free_names(ds->class_names, ds->num_classes);
    free_names(ds->domain_names, ds->num_domains);
    free(ds);
}

int rp_dataset_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                   rp_error *err) {
    if (!ds || !ds->ops || !ds->ops->get)
        return rp_error_set(err, RP_ERR_INTERNAL, "dataset has no get()");
    if (i >= ds->size)
        return rp_error_set(err, RP_ERR_INVALID, "%s: sample index %llu out of range (size %llu)",
                            ds->name, (unsigned long long)i, (unsigned long long)ds->size);
    rp_draw d0 = {0};
    if (!draw) draw = &d0;
    out->label = -1;
    out->domain = -1;
    if (ds->task != RP_TASK_SEGMENT && out->mask.data) {
        /* a buffer reused from a segmentation set: this sample has no mask */
        free(out->mask.data);
        memset(&out->mask, 0, sizeof out->mask);
    }
    int st = ds->ops->get(ds, i, draw, out, err);
    if (st) return st;
    out->index = i;
    if (ds->task == RP_TASK_CLASSIFY && ds->num_classes > 0 &&
        (out->label < -1 || out->label >= ds->num_classes))
    {
        char w[800];
        return rp_error_set(err, RP_ERR_FORMAT, "%s: label %d out of range [0, %d)",
                            rp_dataset_where(ds, i, w, sizeof w), out->label, ds->num_classes);
    }
    return RP_OK;
}

/* ops table -> where function: a small fixed table (a handful of dataset
 * kinds exist), written under a lock, read without one once set. */
#define WHERE_MAX 64
static struct {
    const struct rp_dataset_ops *ops;
    rp_dataset_where_fn fn;
} where_tab[WHERE_MAX];
static pthread_mutex_t where_lock = PTHREAD_MUTEX_INITIALIZER;

void rp_dataset_ops_set_where(const struct rp_dataset_ops *ops, rp_dataset_where_fn fn) {
    pthread_mutex_lock(&where_lock);
    for (int k = 0; k < WHERE_MAX; k++) {
        if (where_tab[k].ops == ops || !where_tab[k].ops) {
            where_tab[k].fn = fn;
            __atomic_store_n(&where_tab[k].ops, ops, __ATOMIC_RELEASE);
            break;
        }
    }
    pthread_mutex_unlock(&where_lock);
}

rp_dataset_where_fn rp_dataset_where_of(const rp_dataset *ds) {
    if (!ds || !ds->ops) return NULL;
    for (int k = 0; k < WHERE_MAX; k++) {
        const struct rp_dataset_ops *o = __atomic_load_n(&where_tab[k].ops, __ATOMIC_ACQUIRE);
        if (!o) return NULL;
        if (o == ds->ops) return where_tab[k].fn;
    }
    return NULL;
}

const char *rp_dataset_where(const rp_dataset *ds, uint64_t i, char *buf, size_t n) {
    if (!buf || !n) return buf;
    char w[600];
    rp_dataset_where_fn fn = rp_dataset_where_of(ds);
    int known = fn && i < ds->size && fn(ds, i, w, sizeof w);
    snprintf(buf, n, "%s: sample %llu%s%s%s", ds ? ds->name : "dataset", (unsigned long long)i,
             known ? " (" : "", known ? w : "", known ? ")" : "");
    return buf;
}

int32_t rp_dataset_label(const rp_dataset *ds, uint64_t i) {
    if (!ds || i >= ds->size || !ds->ops->label) return -1;
    return ds->ops->label(ds, i);
}

int32_t rp_dataset_domain(const rp_dataset *ds, uint64_t i) {
    if (!ds || i >= ds->size || !ds->ops->domain) return -1;
    return ds->ops->domain(ds, i);
}

int rp_dataset_copy_meta(rp_dataset *dst, const rp_dataset *src, rp_error *err) {
    int st = rp_dataset_set_classes(dst, src->num_classes,
                                    (const char *const *)src->class_names, err);
    if (!st) st = rp_dataset_set_domains(dst, src->num_domains,
                                         (const char *const *)src->domain_names, err);
    dst->channels = src->channels;
    dst->height = src->height;
    dst->width = src->width;
    dst->task = src->task;
    return st;
}

/* ---- subset view ---------------------------------------------------------------- */

typedef struct subset_impl {
    const rp_dataset *parent; /* borrowed */
    uint64_t *idx;            /* owned, size entries */
} subset_impl;

static int subset_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                      rp_error *err) {
    const subset_impl *s = ds->impl;
    return rp_dataset_get(s->parent, s->idx[i], draw, out, err);
}

static int32_t subset_label(const rp_dataset *ds, uint64_t i) {
    const subset_impl *s = ds->impl;
    return rp_dataset_label(s->parent, s->idx[i]);
}

static int32_t subset_domain(const rp_dataset *ds, uint64_t i) {
    const subset_impl *s = ds->impl;
    return rp_dataset_domain(s->parent, s->idx[i]);
}

static int subset_where(const rp_dataset *ds, uint64_t i, char *buf, size_t n) {
    const subset_impl *s = ds->impl;
    rp_dataset_where_fn fn = rp_dataset_where_of(s->parent);
    return fn ? fn(s->parent, s->idx[i], buf, n) : 0;
}

static void subset_destroy(rp_dataset *ds) {
    subset_impl *s = ds->impl;
    if (s) free(s->idx);
    free(s);
}

static const struct rp_dataset_ops subset_ops = {subset_get, subset_label, subset_domain,
                                                 subset_destroy};

int rp_dataset_subset(const rp_dataset *parent, const uint64_t *idx, uint64_t n, const char *name,
                      rp_dataset **out, rp_error *err) {
    *out = NULL;
    for (uint64_t k = 0; k < n; k++)
        if (idx[k] >= parent->size)
            return rp_error_set(err, RP_ERR_INVALID,
                                "%s: subset index %llu (entry %llu) out of range (size %llu)",
                                parent->name, (unsigned long long)idx[k], (unsigned long long)k,
                                (unsigned long long)parent->size);
    subset_impl *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    s->parent = parent;
    s->idx = malloc((n ? n : 1) * sizeof *s->idx);
    if (!s->idx) {
        free(s);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory for %llu indices",
                            (unsigned long long)n);
    }
    if (n) memcpy(s->idx, idx, n * sizeof *idx);
    rp_dataset_ops_set_where(&subset_ops, subset_where);
    rp_dataset *ds = rp_dataset_new(&subset_ops, s, name ? name : parent->name, n, 0, NULL);
    if (!ds) {
        free(s->idx);
        free(s);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    int st = rp_dataset_copy_meta(ds, parent, err);
    if (st) {
        rp_dataset_free(ds);
        return st;
    }
    *out = ds;
    return RP_OK;
}
