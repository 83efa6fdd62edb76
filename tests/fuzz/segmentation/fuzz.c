/* data.segmentation masks: the input is the mask file of a 6x4 image
 * (images/a.png, masks/a.png), read as class-index masks (num_classes 3)
 * and as palette colours (3 colours, resized to 5x5). */
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
        mkdir(fuzz_path("seg"), 0777);
        mkdir(fuzz_path("seg/images"), 0777);
        mkdir(fuzz_path("seg/masks"), 0777);
        uint8_t px[6 * 4 * 3];
        for (int i = 0; i < 6 * 4 * 3; i++)
            px[i] = (uint8_t)(i * 29);
        stbi_write_png(fuzz_path("seg/images/a.png"), 6, 4, 3, px, 18);
        char y[2][1200];
        snprintf(y[0], sizeof y[0],
                 "{root: '%s', image_dir: images, mask_dir: masks, mask_ext: png, num_classes: 3, "
                 "class_names: [], size: 0, channels: 3, limit: 0}",
                 fuzz_path("seg"));
        snprintf(
            y[1], sizeof y[1],
            "{root: '%s', image_dir: images, mask_dir: masks, mask_ext: png, num_classes: 0, "
            "palette: ['#000000', '#FF0000', '#00FF00'], class_names: [bg, red, green], size: 5, "
            "channels: 1, limit: 0}",
            fuzz_path("seg"));
        for (int k = 0; k < 2; k++)
            if (rp_node_parse_string(y[k], "<fuzz>", &params[k], &err)) abort();
    }
    fuzz_write(fuzz_path("seg/masks/a.png"), data, n);
    int first = 0;
    for (int k = 0; k < 2; k++) {
        rp_dataset *ds = NULL;
        int st = seg_load(params[k], &ds, &err);
        if (!st) {
            rp_sample s;
            rp_sample_init(&s);
            st = rp_dataset_get(ds, 0, NULL, &s, &err);
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
