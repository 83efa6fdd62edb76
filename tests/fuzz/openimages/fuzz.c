/* The Open Images CSVs (plugins/openimages): the input is read as the class
 * descriptions (resolved against groups {animal: [Dog, /m/011k07], person:
 * [Person]}), as a box annotation file (against the committed fixture's
 * classes, strict and on_error: skip) and as a crop folder's manifest.csv
 * (every row's file checked to stay inside the folder). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../../plugins/openimages/oi.h"
#include "../fuzz.h"

int fuzz_one(const uint8_t *data, size_t n, char *msg, size_t msz) {
    static rp_node *groups;
    static oi_groups fixed;
    rp_error err;
    if (!groups) {
        if (rp_node_parse_string("{animal: [Dog, /m/011k07], person: [Person]}", "<fuzz>", &groups,
                                 &err))
            abort();
        char desc[1024];
        snprintf(desc, sizeof desc,
                 "%s/datasets/fixtures/openimages/class-descriptions-boxable.csv", RP_SRC_DIR);
        if (oi_groups_resolve(groups, desc, &fixed, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            abort();
        }
        mkdir(fuzz_path("crops"), 0777);
    }
    const char *p = fuzz_path("in.csv");
    fuzz_write(p, data, n);
    oi_groups g;
    memset(&g, 0, sizeof g);
    int st = oi_groups_resolve(groups, p, &g, &err);
    if (st)
        snprintf(msg, msz, "%s", err.msg);
    else
        oi_groups_release(&g);
    for (int skip = 0; skip <= 1; skip++) {
        oi_box_list l;
        memset(&l, 0, sizeof l);
        int s = oi_boxes_read(p, &fixed, OI_DEPICTION, skip, &l, &err);
        if (s && !st) {
            st = s;
            snprintf(msg, msz, "%s", err.msg);
        }
        oi_boxes_release(&l);
    }
    fuzz_write(fuzz_path("crops/manifest.csv"), data, n);
    oi_manifest m;
    memset(&m, 0, sizeof m);
    if (oi_manifest_load(fuzz_path("crops"), "size: 64\n", &m, &err) == RP_OK) {
        char file[1024];
        for (size_t i = 0; i < m.n; i++)
            oi_manifest_file(m.rows[i], file, sizeof file);
        oi_manifest_release(&m);
    }
    return st;
}
