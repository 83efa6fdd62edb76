/* Image decode (rp_image_load_mem: stb_image behind our format sniffing and
 * PNG integrity checks) as grey, RGB and native channels, then a resize. */
#include <stdio.h>
#include <stdlib.h>

#include "../fuzz.h"
#include "runpipe/image.h"

int fuzz_one(const uint8_t *data, size_t n, char *msg, size_t msz) {
    int st = 0;
    for (int want = 0; want <= 3; want += (want ? 2 : 1)) {
        uint8_t *px = NULL;
        int w, h, c;
        rp_error err;
        int s = rp_image_load_mem(data, n, "fuzz", want, &px, &w, &h, &c, &err);
        if (s) {
            if (!st) snprintf(msg, msz, "%s", err.msg);
            st = s;
            continue;
        }
        uint8_t out[7 * 5 * 3];
        rp_image_resize_u8(px, w, h, c, out, 7, 5, RP_INTERP_BILINEAR);
        free(px);
    }
    return st;
}
