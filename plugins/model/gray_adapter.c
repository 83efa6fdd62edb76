/* SEEDS S1's gray adapter: two learned 3x3 'same' convolutions (1 -> 3 -> 3)
 * named adapter.0 / adapter.1 in front of a 3-channel (colour) model, which
 * then takes 1-channel input (model.build's `gray_adapter`). */
#include <string.h>

#include "model_stages.h"

int model_prepend_gray_adapter(rp_model *m, uint64_t seed, rp_error *err) {
    int c, h, w;
    rp_model_input_shape(m, &c, &h, &w);
    for (size_t i = 0; i < rp_model_num_nodes(m); i++)
        if (!strcmp(rp_model_node_name(m, i), "adapter.0"))
            return rp_error_set(err, RP_ERR_INVALID, "gray adapter: the model already has one");
    if (c != 3)
        return rp_error_set(err, RP_ERR_INVALID,
                            "gray adapter: it goes in front of a 3-channel network (1 -> 3 -> 3), "
                            "but this model takes %d channel%s",
                            c, c == 1 ? "" : "s");
    rp_model *a = NULL;
    const char *a0 = "adapter.0";
    int st = rp_model_new(1, h, w, &a, err);
    if (st == RP_OK)
        st = rp_model_addf(a, "adapter.0", "conv2d", NULL, 0, err,
                           "{out: 3, kernel: 3, padding: 1}");
    if (st == RP_OK)
        st =
            rp_model_addf(a, "adapter.1", "conv2d", &a0, 1, err, "{out: 3, kernel: 3, padding: 1}");
    if (st == RP_OK) st = rp_model_init_params(a, seed, err);
    if (st == RP_OK) st = rp_model_prepend(m, a, err);
    rp_model_free(a);
    if (st) rp_error_prefix(err, "gray adapter: ");
    return st;
}
