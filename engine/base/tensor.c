/* Float32 tensors (see include/runpipe/tensor.h).
 *
 * Buffers are 64-byte aligned and padded to a multiple of 64 bytes so vector
 * kernels may read whole cache lines. rp_tensor_reshape_alloc only grows the
 * buffer, so a model that re-shapes its activations for every batch allocates
 * only on the first batch of a given (or larger) size.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/tensor.h"

static size_t round_up(size_t bytes) {
    size_t r = (bytes + RP_ALIGN - 1) / RP_ALIGN * RP_ALIGN;
    return r ? r : RP_ALIGN;
}

/* An allocation budget for building a model from untrusted metadata
 * (rp_alloc_budget_begin in base/util.h): per thread, off by default. */
static _Thread_local int budget_on, budget_hit;
static _Thread_local size_t budget_left;

void rp_alloc_budget_begin(size_t bytes) {
    budget_on = 1;
    budget_hit = 0;
    budget_left = bytes;
}

int rp_alloc_budget_end(void) {
    budget_on = 0;
    return budget_hit;
}

void *rp_alloc(size_t bytes) {
    void *p = NULL;
    if (budget_on) {
        if (round_up(bytes) > budget_left) {
            budget_hit = 1;
            return NULL;
        }
        budget_left -= round_up(bytes);
    }
    if (posix_memalign(&p, RP_ALIGN, round_up(bytes)) != 0) return NULL;
    return p;
}

void *rp_calloc(size_t bytes) {
    size_t r = round_up(bytes);
    void *p = rp_alloc(r);
    if (p) memset(p, 0, r);
    return p;
}

void rp_free(void *p) { free(p); }

/* Product of the dims; -1 when a dim is negative or the product overflows. */
static int shape_numel(int ndim, const int64_t *shape, size_t *numel) {
    if (ndim < 0 || ndim > RP_MAX_DIMS) return -1;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        size_t d = (size_t)shape[i];
        if (d && n > (SIZE_MAX / sizeof(float)) / d) return -1;
        n *= d;
    }
    *numel = n;
    return 0;
}

const char *rp_shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t o = 0;
    if (!buf || !size) return buf;
    buf[0] = 0;
    o += (size_t)snprintf(buf + o, size - o, "[");
    for (int i = 0; i < ndim && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < size) snprintf(buf + o, size - o, "]");
    return buf;
}

static int bad_shape(int ndim, const int64_t *shape, rp_error *err) {
    char b[128];
    if (ndim < 0 || ndim > RP_MAX_DIMS)
        return rp_error_set(err, RP_ERR_INVALID, "tensor: %d dimensions (expected 0..%d)", ndim,
                            RP_MAX_DIMS);
    return rp_error_set(err, RP_ERR_INVALID, "tensor: invalid shape %s",
                        rp_shape_str(ndim, shape, b, sizeof b));
}

int rp_tensor_new(rp_tensor **out, int ndim, const int64_t *shape, rp_error *err) {
    size_t numel;
    *out = NULL;
    if (shape_numel(ndim, shape, &numel)) return bad_shape(ndim, shape, err);
    rp_tensor *t = calloc(1, sizeof *t);
    if (!t) return rp_error_set(err, RP_ERR_NOMEM, "tensor: out of memory");
    t->data = rp_calloc(numel * sizeof(float));
    if (!t->data) {
        free(t);
        return rp_error_set(err, RP_ERR_NOMEM, "tensor: out of memory allocating %zu floats",
                            numel);
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->cap = numel;
    t->owns = 1;
    *out = t;
    return RP_OK;
}

int rp_tensor_new4(rp_tensor **out, int64_t n, int64_t c, int64_t h, int64_t w, rp_error *err) {
    int64_t s[4] = {n, c, h, w};
    return rp_tensor_new(out, 4, s, err);
}

int rp_tensor_new2(rp_tensor **out, int64_t r, int64_t c, rp_error *err) {
    int64_t s[2] = {r, c};
    return rp_tensor_new(out, 2, s, err);
}

int rp_tensor_new1(rp_tensor **out, int64_t n, rp_error *err) {
    int64_t s[1] = {n};
    return rp_tensor_new(out, 1, s, err);
}

void rp_tensor_release(rp_tensor *t) {
    if (!t) return;
    if (t->owns) rp_free(t->data);
    t->data = NULL;
    t->numel = 0;
    t->cap = 0;
    t->owns = 0;
    t->ndim = 0;
}

void rp_tensor_free(rp_tensor *t) {
    if (!t) return;
    rp_tensor_release(t);
    free(t);
}

int rp_tensor_reshape_alloc(rp_tensor *t, int ndim, const int64_t *shape, rp_error *err) {
    size_t numel;
    if (shape_numel(ndim, shape, &numel)) return bad_shape(ndim, shape, err);
    if (!t->owns || t->cap < numel || !t->data) {
        float *d = rp_alloc(numel * sizeof(float));
        if (!d)
            return rp_error_set(err, RP_ERR_NOMEM, "tensor: out of memory allocating %zu floats",
                                numel);
        if (t->owns) rp_free(t->data);
        t->data = d;
        t->cap = numel;
        t->owns = 1;
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    for (int i = ndim; i < RP_MAX_DIMS; i++) t->shape[i] = 0;
    t->numel = numel;
    return RP_OK;
}

int rp_tensor_view_shape(rp_tensor *t, int ndim, const int64_t *shape, rp_error *err) {
    size_t numel;
    char a[128], b[128];
    if (shape_numel(ndim, shape, &numel)) return bad_shape(ndim, shape, err);
    if (numel != t->numel)
        return rp_error_set(err, RP_ERR_INVALID, "tensor: cannot view %s as %s (%zu vs %zu elements)",
                            rp_shape_str(t->ndim, t->shape, a, sizeof a),
                            rp_shape_str(ndim, shape, b, sizeof b), t->numel, numel);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    for (int i = ndim; i < RP_MAX_DIMS; i++) t->shape[i] = 0;
    return RP_OK;
}

rp_tensor rp_tensor_view(const rp_tensor *src, int ndim, const int64_t *shape) {
    rp_tensor v;
    memset(&v, 0, sizeof v);
    size_t numel = 0;
    if (shape_numel(ndim, shape, &numel) || numel != src->numel) return v; /* data NULL */
    v.data = src->data;
    v.ndim = ndim;
    for (int i = 0; i < ndim; i++) v.shape[i] = shape[i];
    v.numel = numel;
    v.cap = 0;
    v.owns = 0;
    return v;
}

int rp_tensor_same_shape(const rp_tensor *a, const rp_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

int rp_tensor_copy(rp_tensor *dst, const rp_tensor *src, rp_error *err) {
    char a[128], b[128];
    if (!rp_tensor_same_shape(dst, src))
        return rp_error_set(err, RP_ERR_INVALID, "tensor copy: shape %s into %s",
                            rp_shape_str(src->ndim, src->shape, a, sizeof a),
                            rp_shape_str(dst->ndim, dst->shape, b, sizeof b));
    if (src->numel && dst->data != src->data)
        memcpy(dst->data, src->data, src->numel * sizeof(float));
    return RP_OK;
}

rp_tensor *rp_tensor_clone(const rp_tensor *src) {
    rp_tensor *t = NULL;
    if (rp_tensor_new(&t, src->ndim, src->shape, NULL) != RP_OK) return NULL;
    if (src->numel) memcpy(t->data, src->data, src->numel * sizeof(float));
    return t;
}

void rp_tensor_zero(rp_tensor *t) {
    if (t && t->data && t->numel) memset(t->data, 0, t->numel * sizeof(float));
}

void rp_tensor_fill(rp_tensor *t, float v) {
    if (!t || !t->data) return;
    for (size_t i = 0; i < t->numel; i++) t->data[i] = v;
}

int rp_tensor_check_finite(const rp_tensor *t, const char *what, rp_error *err) {
    for (size_t i = 0; i < t->numel; i++) {
        if (!isfinite(t->data[i])) {
            char s[128];
            return rp_error_set(err, RP_ERR_NUMERIC, "%s: non-finite value %g at flat index %zu of %s",
                                what ? what : "tensor", (double)t->data[i], i,
                                rp_shape_str(t->ndim, t->shape, s, sizeof s));
        }
    }
    return RP_OK;
}
