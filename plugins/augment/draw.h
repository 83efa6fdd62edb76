/* augment plugin — a tiny RGB canvas for previews and histograms. */
#ifndef RP_AUG_DRAW_H
#define RP_AUG_DRAW_H

#include <stdint.h>

typedef struct canvas {
    int w, h;
    uint8_t *px; /* [h, w, 3], owned */
} canvas;

int canvas_init(canvas *c, int w, int h, uint8_t grey);
void canvas_free(canvas *c);
void canvas_rect(canvas *c, int x, int y, int w, int h, const uint8_t rgb[3]);
/* Text with stb_easy_font, scaled by an integer factor; returns width. */
int canvas_text(canvas *c, int x, int y, int scale, const char *text, const uint8_t rgb[3]);

#endif
