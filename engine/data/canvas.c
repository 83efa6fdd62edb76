/* A small RGB canvas for previews, histograms and heat-map grids
 * (rectangles + stb_easy_font text); see runpipe/image.h. */
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-braces"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

#include "runpipe/image.h"

int rp_canvas_init(rp_canvas *c, int w, int h, uint8_t grey) {
    c->w = w;
    c->h = h;
    c->px = malloc((size_t)w * h * 3);
    if (!c->px) return -1;
    memset(c->px, grey, (size_t)w * h * 3);
    return 0;
}

void rp_canvas_free(rp_canvas *c) {
    free(c->px);
    c->px = NULL;
}

void rp_canvas_rect(rp_canvas *c, int x, int y, int w, int h, const uint8_t rgb[3]) {
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++) memcpy(c->px + ((size_t)yy * c->w + xx) * 3, rgb, 3);
}

int rp_canvas_text(rp_canvas *c, int x, int y, int scale, const char *text, const uint8_t rgb[3]) {
    char buf[32 * 1024];
    unsigned char col[4] = {255, 255, 255, 255};
    char tmp[256];
    strncpy(tmp, text, sizeof tmp - 1);
    tmp[sizeof tmp - 1] = 0;
    int quads = stb_easy_font_print(0, 0, tmp, col, buf, sizeof buf);
    for (int q = 0; q < quads; q++) {
        const float *v0 = (const float *)(buf + (size_t)q * 64);
        const float *v2 = (const float *)(buf + (size_t)q * 64 + 32);
        int qx0 = (int)v0[0], qy0 = (int)v0[1], qx1 = (int)v2[0], qy1 = (int)v2[1];
        rp_canvas_rect(c, x + qx0 * scale, y + qy0 * scale, (qx1 - qx0) * scale, (qy1 - qy0) * scale,
                    rgb);
    }
    return stb_easy_font_width(tmp) * scale;
}
