/* random_erasing — Random Erasing (Zhong et al., AAAI 2020) with
 * torchvision's RandomErasing sampling (p=0.5, scale=(0.02, 0.33),
 * ratio=(0.3, 3.3), value=0): with probability p, up to `attempts` (10) draws
 * of area fraction ~ U(scale) and log-uniform aspect ratio; the first box that
 * fits is erased (none fitting → unchanged). The S2 paper's form: giving any
 * of `s_l`, `s_h`, `r_1` uses scale = [s_l, s_h] and a *uniform* aspect
 * r ~ U(r_1, 1/r_1) (defaults 0.02, 0.4, 0.3 for the ones not given).
 * value: number | per-channel list | mean | random (N(0,1) per pixel, as
 * torchvision's 'random') | uniform (U[0,1) per pixel). */
#include <stdlib.h>

#include "augment.h"

typedef struct re_state {
    double p, scale[2], ratio[2];
    int log_ratio, attempts;
    aug_fill value;
} re_state;

static int re_parse(const rp_node *params, double *p, double scale[2], double ratio[2],
                      int *log_ratio, int *attempts, rp_error *err) {
    *p = rp_param_double(params, "p");
    scale[0] = 0.02, scale[1] = 0.33, ratio[0] = 0.3, ratio[1] = 3.3;
    rp_param_doubles(params, "scale", scale, 2);
    rp_param_doubles(params, "ratio", ratio, 2);
    *log_ratio = 1;
    *attempts = (int)rp_param_int(params, "attempts");
    const rp_node *sl = rp_node_get(params, "s_l"), *sh = rp_node_get(params, "s_h"),
                  *r1 = rp_node_get(params, "r_1");
    int paper = (sl && !rp_node_is_null(sl)) || (sh && !rp_node_is_null(sh)) ||
                (r1 && !rp_node_is_null(r1));
    if (paper) {
        scale[0] = rp_param_double(params, "s_l");
        scale[1] = rp_param_double(params, "s_h");
        double r = rp_param_double(params, "r_1");
        if (!(r > 0 && r <= 1))
            return rp_error_at(err, r1, RP_ERR_INVALID, "'r_1': must be in (0, 1], got %g", r);
        ratio[0] = r;
        ratio[1] = 1.0 / r;
        *log_ratio = 0;
    }
    if (!(scale[0] >= 0 && scale[0] <= scale[1] && scale[1] <= 1))
        return rp_error_at(err, params, RP_ERR_INVALID,
                           "random_erasing: scale [%g, %g] must satisfy 0 <= min <= max <= 1",
                           scale[0], scale[1]);
    if (!(ratio[0] > 0 && ratio[0] <= ratio[1]))
        return rp_error_at(err, params, RP_ERR_INVALID,
                           "random_erasing: ratio [%g, %g] must satisfy 0 < min <= max", ratio[0],
                           ratio[1]);
    if (*attempts < 1) *attempts = 1;
    return RP_OK;
}

static int re_create(const rp_node *params, void **state, rp_error *err) {
    re_state *r = calloc(1, sizeof *r);
    if (!r) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int st = re_parse(params, &r->p, r->scale, r->ratio, &r->log_ratio, &r->attempts, err);
    if (!st) st = aug_parse_fill(params, "value", 1, &r->value, err);
    if (st) {
        free(r);
        return st;
    }
    *state = r;
    return RP_OK;
}

static int re_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const re_state *r = state;
    int st = aug_check_fill(&r->value, s, "random_erasing", err);
    if (st) return st;
    if (!aug_coin(rng, r->p)) return RP_OK;
    int64_t top, left, h, w;
    if (!rp_erasing_sample_box(rng, s->img.shape[1], s->img.shape[2], r->scale, r->ratio,
                               r->log_ratio, r->attempts, &top, &left, &h, &w))
        return RP_OK;
    aug_fill_box(s, top, left, h, w, &r->value, rng);
    return RP_OK;
}

static int64_t re_erased_area(const void *state, int64_t H, int64_t W, rp_rng *rng,
                              int *applied) {
    const re_state *r = state;
    *applied = aug_coin(rng, r->p);
    int64_t top, left, h, w;
    if (!*applied ||
        !rp_erasing_sample_box(rng, H, W, r->scale, r->ratio, r->log_ratio, r->attempts, &top,
                               &left, &h, &w))
        return 0;
    return h * w;
}

const struct rp_transform_ops tf_random_erasing = {.create = re_create, .apply = re_apply, .destroy = free, .erased_area = re_erased_area};

RP_COMPONENT(RP_COMP_TRANSFORM, "random_erasing",
             "Random Erasing (Zhong et al.)", tf_random_erasing)
