/* torch.save .pth files (zip + pickle + raw storages: engine/nn/pth.c). */
#include <stdio.h>

#include "../fuzz.h"
#include "runpipe/io.h"
#include "runpipe/nn.h"

int fuzz_one(const uint8_t *data, size_t n, char *msg, size_t msz) {
    const char *p = fuzz_path("w.pth");
    fuzz_write(p, data, n);
    rp_st st;
    rp_error err;
    int rc = rp_pth_load(p, &st, &err);
    if (rc)
        snprintf(msg, msz, "%s", err.msg);
    else
        rp_st_release(&st);
    return rc;
}
