/* Named tensors/scalars for exact optimizer/scheduler state (optim.h).
 * Scalars are stored as 1-element tensors in double precision split into two
 * floats (hi + lo) so a double survives the float32 safetensors round trip
 * exactly enough (|error| <= 2^-48 relative). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/optim.h"
#include "base/util.h"

static rp_state_entry *find(const rp_state *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].name, name) == 0) return &s->e[i];
    return NULL;
}

static int put_owned(rp_state *s, const char *name, rp_tensor *t, rp_error *err) {
    rp_state_entry *e = find(s, name);
    if (e) {
        rp_tensor_free(e->t);
        e->t = t;
        return RP_OK;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        rp_state_entry *ne = realloc(s->e, nc * sizeof *ne);
        if (!ne) {
            rp_tensor_free(t);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        s->e = ne;
        s->cap = nc;
    }
    s->e[s->n].name = rp_strdup(name);
    if (!s->e[s->n].name) {
        rp_tensor_free(t);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    s->e[s->n].t = t;
    s->n++;
    return RP_OK;
}

int rp_state_put(rp_state *s, const char *name, const rp_tensor *t, rp_error *err) {
    rp_tensor *c = rp_tensor_clone(t);
    if (!c) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    return put_owned(s, name, c, err);
}

int rp_state_put_scalar(rp_state *s, const char *name, double v, rp_error *err) {
    rp_tensor *t;
    if (rp_tensor_new1(&t, 2, err)) return err->status;
    float hi = (float)v;
    t->data[0] = hi;
    t->data[1] = isfinite(v) ? (float)(v - (double)hi) : 0.0f;
    return put_owned(s, name, t, err);
}

const rp_tensor *rp_state_get(const rp_state *s, const char *name) {
    rp_state_entry *e = find(s, name);
    return e ? e->t : NULL;
}

int rp_state_get_scalar(const rp_state *s, const char *name, double *v) {
    rp_state_entry *e = find(s, name);
    if (!e || e->t->numel < 1) return 0;
    *v = (double)e->t->data[0] + (e->t->numel > 1 ? (double)e->t->data[1] : 0.0);
    return 1;
}

void rp_state_release(rp_state *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->e[i].name);
        rp_tensor_free(s->e[i].t);
    }
    free(s->e);
    memset(s, 0, sizeof *s);
}
