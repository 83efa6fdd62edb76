/* One crop: cut the box out of the decoded photo, resize it keeping its
 * aspect so the longer side is `size`, and paste it on a size x size canvas
 * filled with the median colour of the crop's corners (S4, data preparation). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "oi.h"

void oi_box_pixels(const oi_box *b, int w, int h, int *left, int *top, int *bw, int *bh) {
    int l = (int)floor(b->x0 * w), r = (int)ceil(b->x1 * w);
    int t = (int)floor(b->y0 * h), d = (int)ceil(b->y1 * h);
    if (l < 0) l = 0;
    if (t < 0) t = 0;
    if (r > w) r = w;
    if (d > h) d = h;
    *left = l;
    *top = t;
    *bw = r - l;
    *bh = d - t;
}

void oi_fit_size(int bw, int bh, int size, int *rw, int *rh) {
    double ratio = fmin((double)size / bw, (double)size / bh);
    int a = (int)lround(bw * ratio), b = (int)lround(bh * ratio);
    *rw = a < 1 ? 1 : a > size ? size : a;
    *rh = b < 1 ? 1 : b > size ? size : b;
}

static int cmp_u8(const void *a, const void *b) {
    return (int)*(const uint8_t *)a - (int)*(const uint8_t *)b;
}

void oi_corner_median(const uint8_t *img, int w, int left, int top, int bw, int bh, int k,
                      uint8_t rgb[3]) {
    if (k > bw) k = bw;
    if (k > bh) k = bh;
    if (k > OI_MAX_CORNER) k = OI_MAX_CORNER; /* the schema's maximum */
    int n = 4 * k * k;
    uint8_t vals[4 * OI_MAX_CORNER * OI_MAX_CORNER];
    /* corner origins: top-left, top-right, bottom-left, bottom-right */
    const int ox[4] = {left, left + bw - k, left, left + bw - k};
    const int oy[4] = {top, top, top + bh - k, top + bh - k};
    for (int c = 0; c < 3; c++) {
        int m = 0;
        for (int q = 0; q < 4; q++)
            for (int y = 0; y < k; y++)
                for (int x = 0; x < k; x++)
                    vals[m++] = img[((size_t)(oy[q] + y) * w + (size_t)(ox[q] + x)) * 3 + c];
        qsort(vals, (size_t)n, 1, cmp_u8);
        /* n = 4k² is even: mean of the two middle values, half up */
        rgb[c] = (uint8_t)((vals[n / 2 - 1] + vals[n / 2] + 1) / 2);
    }
}

void oi_render_buf_release(oi_render_buf *b) {
    free(b->crop);
    free(b->resized);
    memset(b, 0, sizeof *b);
}

static int grow(uint8_t **p, size_t *cap, size_t need, rp_error *err) {
    if (need <= *cap) return RP_OK;
    uint8_t *q = realloc(*p, need);
    if (!q) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    *p = q;
    *cap = need;
    return RP_OK;
}

int oi_render(const uint8_t *img, int w, int left, int top, int bw, int bh, int rw, int rh,
              int filter, const uint8_t bg[3], int size, int px, int py, uint8_t *canvas,
              oi_render_buf *buf, rp_error *err) {
    size_t row = (size_t)bw * 3;
    int st = grow(&buf->crop, &buf->crop_cap, row * (size_t)bh, err);
    if (!st) st = grow(&buf->resized, &buf->resized_cap, (size_t)rw * rh * 3, err);
    if (st) return st;
    for (int y = 0; y < bh; y++)
        memcpy(buf->crop + row * y, img + ((size_t)(top + y) * w + (size_t)left) * 3, row);
    int interp = filter == OI_FILTER_BILINEAR ? RP_INTERP_BILINEAR
                 : filter == OI_FILTER_AREA   ? RP_INTERP_AREA
                 : (rw < bw || rh < bh)       ? RP_INTERP_AREA
                                              : RP_INTERP_BILINEAR;
    const uint8_t *src = buf->crop;
    if (rw != bw || rh != bh) {
        rp_image_resize_u8(buf->crop, bw, bh, 3, buf->resized, rw, rh, interp);
        src = buf->resized;
    }
    for (int i = 0; i < size * size; i++)
        memcpy(canvas + (size_t)i * 3, bg, 3);
    for (int y = 0; y < rh; y++)
        memcpy(canvas + ((size_t)(py + y) * size + (size_t)px) * 3, src + (size_t)y * rw * 3,
               (size_t)rw * 3);
    return RP_OK;
}
