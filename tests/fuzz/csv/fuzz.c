/* data.csv: the CSV is the input; it lists images of a scratch root that
 * holds a PNG and a JPEG (img/a.png 8x8, img/b.jpg 8x6). Two settings
 * class names from the labels, and
 * explicit classes + domain and split columns + on_error: skip; both are
 * tried on every input. Loaded datasets are read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image_write.h>

#include "../../../plugins/datasets/stages.h"
#include "../fuzz.h"

int fuzz_one(const uint8_t *data, size_t n, char *msg, size_t msz) {
    static rp_node *params[2];
    rp_error err;
    if (!params[0]) {
        mkdir(fuzz_path("img"), 0777);
        uint8_t px[8 * 8 * 3];
        for (int i = 0; i < 8 * 8 * 3; i++)
            px[i] = (uint8_t)(i * 13);
        stbi_write_png(fuzz_path("img/a.png"), 8, 8, 3, px, 24);
        stbi_write_jpg(fuzz_path("img/b.jpg"), 8, 6, 3, px, 90);
        char y[2][1500];
        snprintf(
            y[0], sizeof y[0],
            "{file: '%s', root: '', path_column: path, label_column: label, domain_column: '', "
            "split_column: '', classes: [], channels: 3, resize: none, size: 0, cache_mb: 1, "
            "on_error: fail, allow_outside_root: false}",
            fuzz_path("list.csv"));
        snprintf(y[1], sizeof y[1],
                 "{file: '%s', root: '%s', path_column: path, label_column: label, domain_column: "
                 "domain, "
                 "split_column: split, split: train, classes: [cat, dog, '7'], channels: 1, "
                 "resize: exact, "
                 "size: 5, cache_mb: 0, on_error: skip, allow_outside_root: false}",
                 fuzz_path("list.csv"), fuzz_dir());
        for (int k = 0; k < 2; k++)
            if (rp_node_parse_string(y[k], "<fuzz>", &params[k], &err)) abort();
    }
    fuzz_write(fuzz_path("list.csv"), data, n);
    int first = 0;
    for (int k = 0; k < 2; k++) {
        rp_dataset *ds = NULL;
        uint64_t skipped = 0;
        int st = csv_load(params[k], 1, &ds, &skipped, &err);
        if (!st) {
            rp_sample s;
            rp_sample_init(&s);
            char w[800];
            for (uint64_t i = 0; i < ds->size && i < 4; i++) {
                if (rp_dataset_get(ds, i, NULL, &s, &err)) break;
                rp_dataset_where(ds, i, w, sizeof w);
            }
            rp_sample_release(&s);
            rp_dataset_free(ds);
        }
        if (st && !first) {
            snprintf(msg, msz, "%s", err.msg);
            first = st;
        }
    }
    return first;
}
