/* runpipe internal — image decode/encode over stb and resampling kernels.
 * Used by the datasets and augment plugins (exported from librunpipe). */
#ifndef RP_IMAGE_H
#define RP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "runpipe/error.h"

enum rp_interp { RP_INTERP_NEAREST = 0, RP_INTERP_BILINEAR = 1, RP_INTERP_AREA = 2 };

/* Decode an image file (jpg/png/bmp/...) with stb_image into interleaved
 * uint8 HWC. want_c = 0 keeps the file's channels (1 or 3; 2/4 drop alpha),
 * else forces 1 or 3. *data transferred (free with free()). Errors name the
 * file and stb's failure reason. */
int rp_image_load(const char *path, int want_c, uint8_t **data, int *w, int *h, int *c,
                  rp_error *err);
int rp_image_load_mem(const uint8_t *buf, size_t len, const char *name, int want_c,
                      uint8_t **data, int *w, int *h, int *c, rp_error *err);
/* The size and channels from the header only. Failures name the format found
 * by content (a JPEG named .png is reported as JPEG data). A PNG whose chunk
 * CRC-32 or zlib Adler-32 is wrong is rejected by the loaders above: a
 * corrupt image must not train silently. */
int rp_image_info(const char *path, int *w, int *h, int *c, rp_error *err);

/* Resize interleaved uint8 [sh, sw, c] → [dh, dw, c] (bilinear: PyTorch
 * interpolate(mode='bilinear', align_corners=False, antialias=False), i.e.
 * half-pixel centres, clamped; area: adaptive average pooling; nearest:
 * floor(dst * in/out)). Rounds half up, saturates. */
void rp_image_resize_u8(const uint8_t *src, int sw, int sh, int c, uint8_t *dst, int dw, int dh,
                        int interp);
/* Same for planar float [c, sh, sw] → [c, dh, dw]. */
void rp_image_resize_f32(const float *src, int sw, int sh, int c, float *dst, int dw, int dh,
                         int interp);
/* Nearest-neighbour for class-index masks [sh, sw] → [dh, dw]. */
void rp_image_resize_i32(const int32_t *src, int sw, int sh, int32_t *dst, int dw, int dh);

/* HWC uint8 → CHW float in [0, 1] (x / 255). */
void rp_image_u8_to_f32(const uint8_t *src, int w, int h, int c, float *dst);
/* CHW float in [0, 1] → HWC uint8 (clamped, rounded). */
void rp_image_f32_to_u8(const float *src, int w, int h, int c, uint8_t *dst);

/* Write interleaved uint8 HWC as PNG (atomically: temp + rename). */
int rp_image_write_png(const char *path, const uint8_t *data, int w, int h, int c, rp_error *err);

/* Size for a resize policy: "shorter" scales the shorter side to `size`
 * keeping the aspect (torchvision Resize(int)), "exact" gives size x size. */
void rp_image_policy_size(const char *policy, int size, int w, int h, int *ow, int *oh);

/* ---- a small RGB canvas (previews, histograms, heat-map grids) ---------- */
typedef struct rp_canvas {
    int w, h;
    uint8_t *px; /* [h, w, 3], owned (rp_canvas_free) */
} rp_canvas;

/* Filled with grey level `grey`; returns -1 when out of memory. */
int rp_canvas_init(rp_canvas *c, int w, int h, uint8_t grey);
void rp_canvas_free(rp_canvas *c);
/* Filled rectangle, clipped to the canvas. */
void rp_canvas_rect(rp_canvas *c, int x, int y, int w, int h, const uint8_t rgb[3]);
/* Text with stb_easy_font (up to 255 characters), scaled by an integer
 * factor; returns its width in pixels. */
int rp_canvas_text(rp_canvas *c, int x, int y, int scale, const char *text, const uint8_t rgb[3]);

#endif
