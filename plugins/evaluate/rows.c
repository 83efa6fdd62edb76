/* Rows of class scores for metric components (evaluate.h). */
#include "evaluate.h"

int ev_rows_init(const rp_tensor *logits, int c, const char *who, ev_rows *g, rp_error *err) {
    char b[96];
    if (logits->ndim != 2 && logits->ndim != 4)
        return rp_error_set(err, RP_ERR_INVALID,
                            "metric '%s': logits must be [N, C] or [N, C, H, W], got %s", who,
                            rp_shape_str(logits->ndim, logits->shape, b, sizeof b));
    if (logits->shape[1] != c)
        return rp_error_set(err, RP_ERR_INVALID, "metric '%s': %lld scores per row for %d classes",
                            who, (long long)logits->shape[1], c);
    g->c = c;
    g->s = logits->ndim == 4 ? logits->shape[2] * logits->shape[3] : 1;
    g->rows = logits->shape[0] * g->s;
    return RP_OK;
}

void ev_rows_get(const ev_rows *g, const rp_tensor *logits, int64_t r, float *out) {
    const float *base = logits->data + (size_t)((r / g->s) * g->c * g->s + r % g->s);
    for (int64_t k = 0; k < g->c; k++) out[k] = base[k * g->s];
}
