/* data.idx: an image file and a label file (raw or gzip). The input is
 * split: its first two bytes (little-endian) are the image file's length,
 * the label file is what follows the image file. */
#include <stdio.h>
#include <string.h>

#include "../../../plugins/datasets/stages.h"
#include "../fuzz.h"

int fuzz_one(const uint8_t *data, size_t n, char *msg, size_t msz) {
    if (n < 2) return 0;
    size_t cut = 2 + (size_t)(data[0] | data[1] << 8);
    if (cut > n) cut = n;
    const char *img = fuzz_path("x-images-idx3-ubyte"), *lbl = fuzz_path("x-labels-idx1-ubyte");
    fuzz_write(img, data + 2, cut - 2);
    fuzz_write(lbl, data + cut, n - cut);
    memds m;
    rp_error err;
    int st = idx_load(img, lbl, 0, 10, &m, &err);
    if (!st) {
        rp_dataset *ds;
        st = memds_dataset(&m, "fuzz", 10, NULL, &ds, &err);
        if (!st) {
            rp_sample s;
            rp_sample_init(&s);
            char w[600];
            for (uint64_t i = 0; i < ds->size && i < 4; i++) {
                st = rp_dataset_get(ds, i, NULL, &s, &err);
                rp_dataset_where(ds, i, w, sizeof w);
            }
            rp_sample_release(&s);
            rp_dataset_free(ds);
        }
    }
    /* a limited read stops early */
    if (!st && idx_load(img, lbl, 1, 10, &m, &err) == RP_OK) memds_release(&m);
    if (st) snprintf(msg, msz, "%s", err.msg);
    return st;
}
