/* Sample images as PNG data URIs (stb_image_write into memory, base64). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>

#include "report.h"

/* stb_image_write callback: the PNG bytes go to an rp_strbuf (binary data). */
static void mem_write(void *ctx, void *data, int size) {
    if (size > 0) rp_strbuf_add(ctx, data, (size_t)size);
}

/* Encode pixels [h*scale, w*scale, comp] and append "data:image/png;base64,...". */
static int emit_png(rp_strbuf *b, const unsigned char *px, int w, int h, int comp, rp_error *err) {
    rp_strbuf m = {0};
    if (!stbi_write_png_to_func(mem_write, &m, w, h, comp, px, w * comp) || m.oom) {
        rp_strbuf_release(&m);
        return rp_error_set(err, RP_ERR_NOMEM, "report: cannot encode a %dx%d PNG", w, h);
    }
    rp_strbuf_puts(b, "data:image/png;base64,");
    rp_put_base64(b, (const unsigned char *)m.p, m.n);
    rp_strbuf_release(&m);
    return b->oom ? rp_error_set(err, RP_ERR_NOMEM, "report: out of memory") : RP_OK;
}

int rp_png_data_uri(rp_strbuf *b, const rp_tensor *img, int scale, rp_error *err) {
    if (img->ndim != 3 || (img->shape[0] != 1 && img->shape[0] != 3) || img->shape[1] < 1 ||
        img->shape[2] < 1) {
        char s[96];
        return rp_error_set(err, RP_ERR_INVALID,
                            "report: sample image %s is not [1 or 3, H, W]",
                            rp_shape_str(img->ndim, img->shape, s, sizeof s));
    }
    if (scale < 1) scale = 1;
    int c = (int)img->shape[0], h = (int)img->shape[1], w = (int)img->shape[2];
    size_t plane = (size_t)h * (size_t)w;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < img->numel; i++)
        if (isfinite(img->data[i])) lo = fminf(lo, img->data[i]), hi = fmaxf(hi, img->data[i]);
    /* [0, 1] images as they are; normalised ones min-max scaled for display */
    float a = 0, s = 1;
    if (lo < -1e-3f || hi > 1.001f) a = lo, s = hi > lo ? hi - lo : 1;
    int W = w * scale, H = h * scale;
    unsigned char *px = malloc((size_t)W * (size_t)H * (size_t)c);
    if (!px) return rp_error_set(err, RP_ERR_NOMEM, "report: out of memory");
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < c; k++) {
                float v = img->data[(size_t)k * plane + (size_t)(y / scale) * w + x / scale];
                v = isfinite(v) ? (v - a) / s : 0;
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                px[((size_t)y * W + x) * c + k] = (unsigned char)lrintf(v * 255.0f);
            }
    int rc = emit_png(b, px, W, H, c, err);
    free(px);
    return rc;
}

int rp_mask_data_uri(rp_strbuf *b, const int32_t *mask, int64_t h, int64_t w, int scale,
                     rp_error *err) {
    return rp_mask_data_uri_pal(b, mask, h, w, scale, NULL, 0, err);
}

void rp_mask_colour(int32_t v, const unsigned char (*palette)[3], int n_palette,
                    unsigned char out[3]) {
    static const unsigned char pal[12][3] = {
        {31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
        {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
        {174, 199, 232}, {255, 187, 120}};
    if (v < 0 || v >= 255) out[0] = out[1] = out[2] = 0; /* ignored / void (255) */
    else if (v < n_palette) memcpy(out, palette[v], 3);
    else memcpy(out, pal[v % 12], 3);
}

int rp_mask_data_uri_pal(rp_strbuf *b, const int32_t *mask, int64_t h, int64_t w, int scale,
                         const unsigned char (*palette)[3], int n_palette, rp_error *err) {
    if (scale < 1) scale = 1;
    int W = (int)w * scale, H = (int)h * scale;
    unsigned char *px = malloc((size_t)W * (size_t)H * 3);
    if (!px) return rp_error_set(err, RP_ERR_NOMEM, "report: out of memory");
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int32_t v = mask[(size_t)(y / scale) * (size_t)w + x / scale];
            rp_mask_colour(v, palette, n_palette, px + ((size_t)y * W + x) * 3);
        }
    int rc = emit_png(b, px, W, H, 3, err);
    free(px);
    return rc;
}
