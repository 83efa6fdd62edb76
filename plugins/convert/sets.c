/* Select sets decoded once into memory: every candidate is scored on the
 * same images, and no candidate pays for decoding. */
#include <stdlib.h>
#include <string.h>

#include "convert.h"

int cv_set_load(const rp_dataset *ds, const char *name, uint64_t limit, cv_set *out,
                rp_error *err) {
    memset(out, 0, sizeof *out);
    if (ds->task != RP_TASK_CLASSIFY)
        return rp_error_set(err, RP_ERR_INVALID,
                            "select set '%s' is not a classification set (conversion scores "
                            "accuracy)",
                            name);
    uint64_t n = ds->size;
    if (limit && limit < n) n = limit;
    if (n == 0) return rp_error_set(err, RP_ERR_INVALID, "select set '%s' is empty", name);
    struct rp_loader_opts lo = {0};
    lo.batch_size = 256;
    lo.prefetch = 1;
    lo.limit = n;
    rp_loader *ld = NULL;
    int rc = rp_loader_new(ds, &lo, &ld, err);
    if (rc == RP_OK) rc = rp_loader_start(ld, 0, err);
    int64_t row = 0, per = 0;
    out->name = strdup(name);
    out->y = malloc(n * sizeof *out->y);
    if (rc == RP_OK && (!out->name || !out->y))
        rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    while (rc == RP_OK) {
        rp_batch *b = NULL;
        rc = rp_loader_next(ld, &b, err);
        if (rc != RP_OK || !b) break;
        int64_t c = b->x.shape[1], h = b->x.shape[2], w = b->x.shape[3];
        if (!out->x) {
            per = c * h * w;
            rc = rp_tensor_new4(&out->x, (int64_t)n, c, h, w, err);
            if (rc != RP_OK) break;
        } else if (c != out->x->shape[1] || h != out->x->shape[2] || w != out->x->shape[3]) {
            rc = rp_error_set(err, RP_ERR_INVALID,
                              "select set '%s': sample %lld is %lldx%lldx%lld, earlier ones "
                              "%lldx%lldx%lld",
                              name, (long long)row, (long long)c, (long long)h, (long long)w,
                              (long long)out->x->shape[1], (long long)out->x->shape[2],
                              (long long)out->x->shape[3]);
            break;
        }
        int64_t take = b->n;
        if (row + take > (int64_t)n) take = (int64_t)n - row;
        memcpy(out->x->data + row * per, b->x.data, (size_t)(take * per) * sizeof(float));
        for (int64_t i = 0; i < take; i++) {
            if (b->labels[i] < 0 || b->labels[i] >= ds->num_classes) {
                rc = rp_error_set(err, RP_ERR_INVALID,
                                  "select set '%s': sample %lld has label %d, expected a class "
                                  "id in [0, %d)",
                                  name, (long long)(row + i), b->labels[i], ds->num_classes);
                break;
            }
            out->y[row + i] = b->labels[i];
        }
        row += take;
    }
    rp_loader_free(ld);
    if (rc == RP_OK && row != (int64_t)n)
        rc = rp_error_set(err, RP_ERR_INTERNAL, "select set '%s': %lld of %llu samples decoded",
                          name, (long long)row, (unsigned long long)n);
    if (rc != RP_OK) {
        cv_set_release(out);
        return rc;
    }
    out->n = row;
    return RP_OK;
}

void cv_set_release(cv_set *s) {
    free(s->name);
    rp_tensor_free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}
