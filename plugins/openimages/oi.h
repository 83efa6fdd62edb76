/* openimages plugin — Open Images box crops (internal; plugin tests call
 * these directly). One job per file:
 *   csv.c       streaming CSV reader over libcsv (rows handed to a callback)
 *   classes.c   class-descriptions-boxable.csv + `groups:` → MID → group
 *   boxes.c     the box CSV: columns by header, row validation, filters
 *   jpeg.c      JPEG decode / encode with libjpeg-turbo (header-only probe)
 *   render.c    crop + aspect resize + corner-median canvas + paste
 *   manifest.c  manifest.csv (what was written) and the resume check
 *   stage_crop.c the `openimages.crop` stage
 */
#ifndef RP_OI_H
#define RP_OI_H

#include <stddef.h>
#include <stdint.h>

#include "runpipe/image.h"
#include "runpipe/runpipe.h"

/* ---- csv.c ------------------------------------------------------------------ */

/* One record: fields NUL-terminated, borrowed until the callback returns.
 * `line` is the 1-based line of the record (records never span lines in the
 * Open Images files; a quoted newline would make later numbers drift). */
typedef int (*oi_csv_row_fn)(void *ctx, const char *const *fields, size_t n, uint64_t line,
                             rp_error *err);
/* Stream `path` through libcsv in 1 MiB chunks, calling `fn` per record.
 * Never holds more than one record. Stops at the callback's first error. */
int oi_csv_stream(const char *path, oi_csv_row_fn fn, void *ctx, rp_error *err);

/* ---- classes.c ----------------------------------------------------------------- */

typedef struct oi_class {
    char mid[32];   /* "/m/01g317" */
    char name[128]; /* display name "Person" */
    int group;      /* index into oi_groups.names */
} oi_class;

typedef struct oi_groups {
    int n_groups;
    char **names; /* owned, sorted (= class ids of the output datasets) */
    size_t n_classes;
    oi_class *classes; /* owned: every chosen Open Images class */
} oi_groups;

/* Resolve `groups` (the validated `groups:` map node: group → [name or MID])
 * against the descriptions CSV. Unknown names, names in two groups and bad
 * group names are errors located at their YAML node, with a did-you-mean
 * against the display names and MIDs. */
int oi_groups_resolve(const rp_node *groups, const char *descriptions, oi_groups *out,
                      rp_error *err);
void oi_groups_release(oi_groups *g);
/* Chosen class of a LabelName (MID), or -1. */
int oi_groups_find(const oi_groups *g, const char *mid);

/* ---- boxes.c --------------------------------------------------------------------- */

enum oi_flag {
    OI_OCCLUDED = 1,
    OI_TRUNCATED = 2,
    OI_GROUP_OF = 4,
    OI_DEPICTION = 8,
    OI_INSIDE = 16,
};
/* Flag of a column name ("IsGroupOf"), 0 when unknown. */
int oi_flag_of(const char *column);

typedef struct oi_box {
    uint64_t image_id;     /* the 16 hex digits of ImageID */
    uint32_t n;            /* ordinal among the image's rows of chosen classes */
    int32_t cls;           /* index into oi_groups.classes */
    double x0, x1, y0, y1; /* XMin, XMax, YMin, YMax in [0, 1] */
    uint32_t flags;        /* enum oi_flag */
    uint64_t line;         /* in the box CSV */
} oi_box;

typedef struct oi_box_list {
    oi_box *b;
    size_t n, cap;
    uint64_t rows;     /* data rows read */
    uint64_t bad_rows; /* rows skipped under on_error: skip */
    uint64_t excluded; /* boxes dropped by `exclude` */
} oi_box_list;

/* Read the boxes of the chosen classes from the box CSV (streamed), sorted
 * by (ImageID, ordinal). Rows of other classes are only checked for their
 * field count. `exclude` is an enum oi_flag mask. A bad row (too few fields,
 * ImageID not 16 hex digits, coordinate not a number in [0, 1], XMin >= XMax
 * or YMin >= YMax) is an error naming file:line, or counted in bad_rows when
 * skip_bad. */
int oi_boxes_read(const char *path, const oi_groups *g, uint32_t exclude, int skip_bad,
                  oi_box_list *out, rp_error *err);
void oi_boxes_release(oi_box_list *l);
/* Parse a 16-hex-digit ImageID; 0 on success. */
int oi_parse_image_id(const char *s, uint64_t *id);
/* "000a1249af2bc5f0" (buf of 17). */
void oi_format_image_id(uint64_t id, char buf[17]);

/* ---- jpeg.c ---------------------------------------------------------------------- */

/* Width/height from the file's header only (JPEG via libjpeg; other formats
 * are decoded). Missing / unreadable files: error naming the path. */
int oi_image_size(const char *path, int *w, int *h, rp_error *err);
/* Decode to RGB HWC (JPEG with libjpeg-turbo, islow DCT, fancy upsampling;
 * PNG/BMP/... through rp_image_load). *rgb transferred (free()). */
int oi_image_decode(const char *path, uint8_t **rgb, int *w, int *h, rp_error *err);
/* Encode RGB HWC as a baseline JPEG (4:2:0, islow DCT) to `path` atomically
 * (temporary name + rename). Deterministic for the same pixels. */
int oi_jpeg_write(const char *path, const uint8_t *rgb, int w, int h, int quality, rp_error *err);

/* ---- render.c -------------------------------------------------------------------- */

enum oi_filter { OI_FILTER_AUTO = 0, OI_FILTER_BILINEAR, OI_FILTER_AREA };

/* Pixel box of a normalised box in a w x h image: left = floor(XMin*w),
 * right = ceil(XMax*w) (clamped), same for y. */
void oi_box_pixels(const oi_box *b, int w, int h, int *left, int *top, int *bw, int *bh);
/* Resized size of a bw x bh crop: ratio = min(size/bw, size/bh), sides
 * round(bw*ratio), round(bh*ratio) in [1, size], so the longer side is size. */
void oi_fit_size(int bw, int bh, int size, int *rw, int *rh);
/* Per-channel median of the k x k patches at the four corners of the crop
 * (4k² values; even count: mean of the two middle values, rounded half up). */
#define OI_MAX_CORNER 16
void oi_corner_median(const uint8_t *img, int w, int left, int top, int bw, int bh, int k,
                      uint8_t rgb[3]);

typedef struct oi_render_buf {
    uint8_t *crop; /* [bh, bw, 3] */
    size_t crop_cap;
    uint8_t *resized; /* [rh, rw, 3] */
    size_t resized_cap;
} oi_render_buf;
void oi_render_buf_release(oi_render_buf *b);

/* Crop the box from the RGB image, resize it to rw x rh with `filter`
 * (auto: area when shrinking, bilinear when enlarging; see rp_image_resize_u8),
 * fill the size x size canvas with `bg` and paste at (px, py).
 * canvas: [size, size, 3]. */
int oi_render(const uint8_t *img, int w, int left, int top, int bw, int bh, int rw, int rh,
              int filter, const uint8_t bg[3], int size, int px, int py, uint8_t *canvas,
              oi_render_buf *buf, rp_error *err);

/* ---- manifest.c ---------------------------------------------------------------------- */

/* manifest.csv lists every crop of the folder, one row each (columns in
 * OI_MANIFEST_HEADER); manifest.params holds the parameters that produced
 * it; manifest.csv.part is the journal appended while crops are written, so
 * an interrupted run's crops are known too. */
extern const char *const OI_MANIFEST_HEADER;
typedef struct oi_manifest {
    char **rows; /* owned, sorted, without newline */
    size_t n;
    int same_params; /* manifest.params equals the current parameters */
} oi_manifest;
/* Rows of <dir>/manifest.csv and <dir>/manifest.csv.part (absent = none). */
int oi_manifest_load(const char *dir, const char *params_text, oi_manifest *m, rp_error *err);
int oi_manifest_has(const oi_manifest *m, const char *row);
void oi_manifest_release(oi_manifest *m);
/* The crop file (relative to the folder) of a manifest row, checked to be
 * "<train|val>/<group>/<16 hex>_<n>.jpg" (never a path outside the folder);
 * 0 when it is. */
int oi_manifest_file(const char *row, char *file, size_t size);

#endif
