/* safetensors: the header (JSON), offsets, dtypes, then model.load's path
 * (the architecture in the "runpipe.arch" metadata rebuilt and the weights
 * loaded strictly). */
#include <stdio.h>

#include "../fuzz.h"
#include "runpipe/io.h"
#include "runpipe/nn.h"

int fuzz_one(const uint8_t *data, size_t n, char *msg, size_t msz) {
    const char *p = fuzz_path("m.safetensors");
    fuzz_write(p, data, n);
    rp_st st;
    rp_error err;
    int rc = rp_st_load(p, &st, &err);
    if (rc) {
        snprintf(msg, msz, "%s", err.msg);
        return rc;
    }
    rp_st_release(&st);
    rp_model *m = NULL;
    rc = rp_model_load(p, &m, &err);
    if (!rc)
        rp_model_free(m);
    else
        snprintf(msg, msz, "%s", err.msg);
    return rc;
}
