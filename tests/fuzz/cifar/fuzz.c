/* data.cifar10 / data.cifar100 binary files (raw or gzip), read both ways:
 * one label byte and 10 classes, two label bytes and 100 fine classes. */
#include <stdio.h>

#include "../../../plugins/datasets/stages.h"
#include "../fuzz.h"

int fuzz_one(const uint8_t *data, size_t n, char *msg, size_t msz) {
    const char *p = fuzz_path("data_batch_1.bin");
    fuzz_write(p, data, n);
    const char *files[2] = {p, p};
    memds m;
    rp_error err;
    int st = cifar_load(files, 2, 1, 0, 10, 0, &m, &err);
    if (!st) {
        rp_dataset *ds;
        st = memds_dataset(&m, "fuzz", 10, NULL, &ds, &err);
        if (!st) {
            char w[600];
            rp_dataset_where(ds, ds->size - 1, w, sizeof w);
            rp_dataset_free(ds);
        }
    }
    if (st) snprintf(msg, msz, "%s", err.msg);
    if (cifar_load(files, 1, 2, 1, 100, 3, &m, &err) == RP_OK) memds_release(&m);
    return st;
}
