/* Image decode/encode (stb) and resampling (see image.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include <zlib.h>

#include "runpipe/image.h"
#include "runpipe/io.h"

/* 2^27 pixels (11585 x 11585): far above any image a classifier trains on. */
#define RP_IMAGE_MAX_PIXELS (1ull << 27)

/* The format by content (never by the file name): what a failure is about. */
static const char *sniff(const uint8_t *b, size_t n) {
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return "JPEG";
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "PNG";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
    if (n >= 4 && !memcmp(b, "GIF8", 4)) return "GIF";
    if (n >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6')) return "PNM";
    return NULL;
}

/* Why a decode failed, in terms of what the data is: stb tries every
 * format in turn, so its last reason ("bad png sig") may be about another
 * format than the file's. */
static int decode_error(const uint8_t *b, size_t n, const char *name, rp_error *err) {
    const char *fmt = sniff(b, n);
    const char *why = stbi_failure_reason();
    if (!fmt) {
        char head[40] = "";
        size_t o = 0;
        for (size_t i = 0; i < n && i < 4; i++)
            o += (size_t)snprintf(head + o, sizeof head - o, "%s%02x", i ? " " : "", b[i]);
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s: cannot decode image: not a JPEG, PNG, BMP, GIF or binary PNM "
                            "(P5/P6) file (%s%s)",
                            name,
                            n ? "starts with bytes " : "empty file", head);
    }
    /* keep stb's reason only when it is about this format */
    int about = why && strstr(why, "png") ? !strcmp(fmt, "PNG")
                : why && (strstr(why, "jpeg") || strstr(why, "JPEG")) ? !strcmp(fmt, "JPEG")
                : why && strstr(why, "bmp") ? !strcmp(fmt, "BMP")
                : why && strstr(why, "gif") ? !strcmp(fmt, "GIF") : why != NULL;
    return rp_error_set(err, RP_ERR_FORMAT, "%s: cannot decode image: corrupt or truncated %s data%s%s%s",
                        name, fmt, about ? " (" : "", about ? why : "", about ? ")" : "");
}

/* Binary PNM (P5 grey, P6 RGB; Netpbm's format). Only maxval 255 is read:
 * stb_image takes 16-bit samples (maxval above 255) in the wrong byte order
 * (little-endian; Netpbm's are big-endian) and leaves other maxvals
 * unscaled, so those would decode to wrong pixels. The header's width and
 * height then fix the size of the samples that follow: a short file is
 * refused here. The header is read as stb_image reads it: whitespace and '#'
 * comments between the numbers, one character consumed after maxval. */
static int pnm_verify(const uint8_t *b, size_t n, const char *name, rp_error *err) {
    size_t o = 2;
    uint64_t v[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        for (;;) { /* whitespace, then a comment to the end of its line */
            while (o < n && (b[o] == ' ' || (b[o] >= '\t' && b[o] <= '\r'))) o++;
            if (o >= n || b[o] != '#') break;
            while (o < n && b[o] != '\n' && b[o] != '\r') o++;
        }
        if (o >= n || b[o] < '0' || b[o] > '9')
            return rp_error_set(err, RP_ERR_FORMAT, "%s: cannot decode image: PNM header has no %s",
                                name, k == 0 ? "width" : k == 1 ? "height" : "maxval");
        while (o < n && b[o] >= '0' && b[o] <= '9' && v[k] < (1ull << 32))
            v[k] = v[k] * 10 + (uint64_t)(b[o++] - '0');
    }
    if (v[2] != 255)
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s: cannot decode image: PNM maxval %llu (only 255, 8-bit samples, is "
                            "read)",
                            name, (unsigned long long)v[2]);
    o++; /* the one whitespace character before the samples */
    const uint64_t need = v[0] * v[1] * (b[1] == '6' ? 3u : 1u);
    const uint64_t have = o < n ? (uint64_t)(n - o) : 0;
    if (have < need)
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s: cannot decode image: PNM header declares %llux%llu pixels (%llu "
                            "bytes of samples) but the file holds %llu",
                            name, (unsigned long long)v[0], (unsigned long long)v[1],
                            (unsigned long long)need, (unsigned long long)have);
    return RP_OK;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* BMP (uncompressed and bit-field files, the ones stb_image reads): the
 * pixel rows the header declares must all be in the file, and a palette
 * image's colour indices must be inside its palette. stb_image reads past
 * the end as zeros and looks indices up in an uninitialised palette, so a
 * truncated or corrupt BMP would decode to arbitrary pixels. Header fields
 * as stb_image reads them: the file header's pixel offset, then a 12-byte
 * (OS/2) or a 40-byte-or-larger info header; the palette fills the bytes
 * between the info header and the pixels (3 bytes an entry for OS/2, else 4). */
static int bmp_verify(const uint8_t *b, size_t n, const char *name, rp_error *err) {
    if (n < 26 || (le32(b + 14) != 12 && n < 34))
        return rp_error_set(err, RP_ERR_FORMAT, "%s: cannot decode image: BMP header is truncated",
                            name);
    const uint32_t off = le32(b + 10), hsz = le32(b + 14);
    int64_t w, h;
    unsigned bpp, comp = 0;
    if (hsz == 12) {
        w = (uint16_t)(b[18] | b[19] << 8), h = (int16_t)(b[20] | b[21] << 8);
        bpp = (unsigned)(b[24] | b[25] << 8);
    } else {
        w = (int32_t)le32(b + 18), h = (int32_t)le32(b + 22);
        bpp = (unsigned)(b[28] | b[29] << 8), comp = le32(b + 30);
    }
    if (h < 0) h = -h; /* top-down rows */
    /* what stb_image refuses itself (RLE, odd sizes) it reports */
    if ((comp != 0 && comp != 3) || w <= 0 || h <= 0 || !bpp || bpp > 32) return RP_OK;
    const uint64_t row = ((uint64_t)bpp * (uint64_t)w + 31) / 32 * 4;
    const uint64_t need = (uint64_t)off + row * (uint64_t)h;
    if (need > n)
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s: cannot decode image: BMP header declares %lldx%lld pixels at %u "
                            "bits from byte %u (%llu bytes) but the file holds %zu",
                            name, (long long)w, (long long)h, bpp, off, (unsigned long long)need, n);
    if (bpp > 8) return RP_OK;
    const int64_t pal_bytes = (int64_t)off - 14 - (int64_t)hsz;
    const int64_t psize = pal_bytes > 0 ? pal_bytes / (hsz == 12 ? 3 : 4) : 0;
    if (psize < 1 || psize > 256) return RP_OK; /* stb_image: "Corrupt BMP" */
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *r = b + off + (uint64_t)y * row;
        for (int64_t x = 0; x < w; x++) {
            const uint64_t bit = (uint64_t)x * bpp;
            const unsigned v = (r[bit / 8] >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1u);
            if ((int64_t)v >= psize)
                return rp_error_set(err, RP_ERR_FORMAT,
                                    "%s: cannot decode image: BMP pixel %lld of row %lld uses "
                                    "colour %u but the palette has %lld",
                                    name, (long long)x, (long long)y, v, (long long)psize);
        }
    }
    return RP_OK;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* PNG integrity (RFC 2083): stb_image checks neither the chunk CRC-32s nor
 * the zlib stream's Adler-32, so a corrupt PNG would decode to wrong pixels
 * silently. We reject it: every chunk's CRC, then the IDAT stream inflated
 * to its end (zlib verifies the Adler-32). */
static int png_verify(const uint8_t *b, size_t n, const char *name, rp_error *err) {
    size_t o = 8;
    uint64_t zout = 0, need = 0; /* inflated bytes; what IHDR needs (non-interlaced) */
    if (n >= 33 && !memcmp(b + 12, "IHDR", 4) && b[28] == 0) {
        static const int chans[7] = {1, 0, 3, 1, 2, 0, 4};
        uint64_t w = be32(b + 16), h = be32(b + 20);
        int depth = b[24], ct = b[25] <= 6 ? chans[b[25]] : 0;
        need = h * (1 + (w * (uint64_t)ct * (uint64_t)depth + 7) / 8);
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory (zlib)", name);
    uint8_t sink[16384];
    int st = RP_OK, ended = 0, saw_end = 0;
    while (!st && o + 12 <= n) {
        uint32_t len = be32(b + o);
        const uint8_t *type = b + o + 4;
        if (len > n - o - 12) {
            st = rp_error_set(err, RP_ERR_FORMAT, "%s: cannot decode image: PNG chunk '%.4s' at byte %zu runs past the end of the file",
                              name, (const char *)type, o);
            break;
        }
        uint32_t crc = (uint32_t)crc32(0L, type, len + 4);
        if (crc != be32(type + 4 + len)) {
            st = rp_error_set(err, RP_ERR_FORMAT, "%s: cannot decode image: PNG chunk '%.4s' at byte %zu fails its CRC-32 check",
                              name, (const char *)type, o);
            break;
        }
        if (!memcmp(type, "IDAT", 4) && !ended) {
            z.next_in = (Bytef *)(type + 4);
            z.avail_in = len;
            while (z.avail_in && !ended) {
                z.next_out = sink;
                z.avail_out = sizeof sink;
                int rc = inflate(&z, Z_NO_FLUSH);
                zout += sizeof sink - z.avail_out;
                if (rc == Z_STREAM_END) ended = 1;
                else if (rc != Z_OK) {
                    st = rp_error_set(err, RP_ERR_FORMAT, "%s: cannot decode image: PNG image data is corrupt (zlib: %s)", name,
                                      z.msg ? z.msg : "inflate error");
                    break;
                }
            }
        }
        if (!memcmp(type, "IEND", 4)) {
            saw_end = 1;
            break;
        }
        o += 12 + (size_t)len;
    }
    if (!st) {
        /* the stream may still have output pending */
        while (!ended) {
            z.next_out = sink;
            z.avail_out = sizeof sink;
            int rc = inflate(&z, Z_NO_FLUSH);
            zout += sizeof sink - z.avail_out;
            if (rc == Z_STREAM_END) ended = 1;
            else if (rc != Z_OK || z.avail_out == sizeof sink) break;
        }
        if (!ended)
            st = rp_error_set(err, RP_ERR_FORMAT,
                              "%s: cannot decode image: PNG image data is truncated or corrupt (the zlib stream does not end; "
                              "Adler-32 unchecked)",
                              name);
        else if (!saw_end)
            st = rp_error_set(err, RP_ERR_FORMAT, "%s: cannot decode image: PNG file is truncated (no IEND chunk)", name);
        else if (zout < need)
            /* checked before stb allocates the image the header declares */
            st = rp_error_set(err, RP_ERR_FORMAT,
                              "%s: cannot decode image: PNG header declares %ux%u pixels (%llu bytes of "
                              "image data) but the file holds %llu",
                              name, be32(b + 16), be32(b + 20), (unsigned long long)need,
                              (unsigned long long)zout);
    }
    inflateEnd(&z);
    return st;
}

static int channels_for(int file_c, int want_c) {
    if (want_c) return want_c;
    return (file_c == 1 || file_c == 2) ? 1 : 3;
}

int rp_image_load_mem(const uint8_t *buf, size_t len, const char *name, int want_c,
                      uint8_t **data, int *w, int *h, int *c, rp_error *err) {
    *data = NULL;
    int iw = 0, ih = 0, ic = 0;
    if (len > 0x7fffffff) return rp_error_set(err, RP_ERR_FORMAT, "%s: image too large", name);
    /* only the formats named here: stb_image also guesses TGA (which has no
     * signature: random bytes could pass as an image), PSD, HDR and PIC */
    if (!sniff(buf, len)) return decode_error(buf, len, name, err);
    if (!stbi_info_from_memory(buf, (int)len, &iw, &ih, &ic)) return decode_error(buf, len, name, err);
    /* a few header bytes must not make us allocate gigabytes */
    if ((uint64_t)iw * (uint64_t)ih > RP_IMAGE_MAX_PIXELS)
        return rp_error_set(err, RP_ERR_FORMAT, "%s: image too large: %dx%d pixels (at most %llu)", name, iw, ih,
                            (unsigned long long)RP_IMAGE_MAX_PIXELS);
    const char *fmt = sniff(buf, len);
    /* Other formats cannot hold more pixels per byte than: BMP 8 (1 bit per
     * pixel, stb reads no RLE), JPEG 256 (an 8x8 block takes at least two
     * bits), anything else (GIF's LZW, TGA's RLE, ...) 4096. The PNG check
     * below is exact. */
    uint64_t per = !fmt ? 4096 : !strcmp(fmt, "BMP") ? 8 : !strcmp(fmt, "JPEG") ? 1024 : 4096;
    if ((!fmt || strcmp(fmt, "PNG")) && (uint64_t)iw * (uint64_t)ih > per * (uint64_t)len + 4096)
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s: cannot decode image: its %s header declares %dx%d pixels, more than its %zu "
                            "bytes can hold",
                            name, fmt ? fmt : "image", iw, ih, len);
    if (fmt && !strcmp(fmt, "PNG")) {
        int st = png_verify(buf, len, name, err);
        if (st) return st;
    }
    if (fmt && !strcmp(fmt, "PNM")) {
        int st = pnm_verify(buf, len, name, err);
        if (st) return st;
    }
    if (fmt && !strcmp(fmt, "BMP")) {
        int st = bmp_verify(buf, len, name, err);
        if (st) return st;
    }
    int req = channels_for(ic, want_c);
    uint8_t *px = stbi_load_from_memory(buf, (int)len, &iw, &ih, &ic, req);
    if (!px) return decode_error(buf, len, name, err);
    if (iw <= 0 || ih <= 0) {
        stbi_image_free(px);
        return rp_error_set(err, RP_ERR_FORMAT, "%s: image has no pixels", name);
    }
    *data = px;
    *w = iw;
    *h = ih;
    *c = req;
    return RP_OK;
}

int rp_image_load(const char *path, int want_c, uint8_t **data, int *w, int *h, int *c,
                  rp_error *err) {
    *data = NULL;
    if (rp_is_dir(path)) return rp_error_set(err, RP_ERR_IO, "%s: is a directory, not an image", path);
    FILE *f = fopen(path, "rb");
    if (!f) return rp_error_set(err, RP_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
    fclose(f);
    char *buf = NULL;
    size_t len = 0;
    rp_error e2;
    if (rp_read_file(path, &buf, &len, &e2) != RP_OK)
        return rp_error_set(err, e2.status, "%s: cannot read image: %s", path, e2.msg);
    int st = rp_image_load_mem((const uint8_t *)buf, len, path, want_c, data, w, h, c, err);
    free(buf);
    return st;
}

int rp_image_info(const char *path, int *w, int *h, int *c, rp_error *err) {
    if (rp_is_dir(path)) return rp_error_set(err, RP_ERR_IO, "%s: is a directory, not an image", path);
    FILE *f = fopen(path, "rb");
    if (!f) return rp_error_set(err, RP_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
    uint8_t head[16];
    size_t n = fread(head, 1, sizeof head, f);
    rewind(f);
    int ok = sniff(head, n) && stbi_info_from_file(f, w, h, c);
    fclose(f);
    return ok ? RP_OK : decode_error(head, n, path, err);
}

/* PyTorch area_pixel_compute_source_index (align_corners=False): half-pixel
 * centres, negative clamped to 0. Output index o reads i0, i1 with weights
 * 1 - l1, l1. */
static void bilinear_tap(int in, int out, int o, int *i0, int *i1, float *l1) {
    double scale = (double)in / (double)out;
    double src = scale * (o + 0.5) - 0.5;
    if (src < 0) src = 0;
    int a = (int)src;
    if (a > in - 1) a = in - 1;
    int b = a + 1 < in ? a + 1 : in - 1;
    *i0 = a;
    *i1 = b;
    *l1 = (float)(src - a);
}

/* The taps of every output column and row in tables: on the stack for usual
 * sizes (no allocation per sample), else on the heap; without memory for
 * them each tap is computed where it is used (the same values: a failed
 * allocation never means another interpolation). */
#define BL_STACK 1024
typedef struct bl_taps {
    int sw, sh, dw, dh;
    int *x0, *x1, *y0, *y1; /* x0 NULL: computed per use */
    float *lx, *ly;
    int heap;
    int si[4 * BL_STACK];
    float sf[2 * BL_STACK];
} bl_taps;

static void bl_init(bl_taps *t, int sw, int sh, int dw, int dh) {
    t->sw = sw, t->sh = sh, t->dw = dw, t->dh = dh;
    t->heap = dw + dh > BL_STACK;
    int *ti = t->heap ? malloc(sizeof(int) * (size_t)(dw + dh) * 2) : t->si;
    float *tf = t->heap ? malloc(sizeof(float) * (size_t)(dw + dh)) : t->sf;
    if (!ti || !tf) {
        if (t->heap) {
            free(ti);
            free(tf);
        }
        t->heap = 0;
        t->x0 = NULL;
        return;
    }
    t->x0 = ti, t->x1 = ti + dw, t->y0 = ti + 2 * dw, t->y1 = ti + 2 * dw + dh;
    t->lx = tf, t->ly = tf + dw;
    for (int o = 0; o < dw; o++) bilinear_tap(sw, dw, o, &t->x0[o], &t->x1[o], &t->lx[o]);
    for (int o = 0; o < dh; o++) bilinear_tap(sh, dh, o, &t->y0[o], &t->y1[o], &t->ly[o]);
}

static void bl_free(bl_taps *t) {
    if (t->heap) {
        free(t->x0);
        free(t->lx);
    }
}

static inline void bl_col(const bl_taps *t, int x, int *i0, int *i1, float *l) {
    if (t->x0) *i0 = t->x0[x], *i1 = t->x1[x], *l = t->lx[x];
    else bilinear_tap(t->sw, t->dw, x, i0, i1, l);
}

static inline void bl_row(const bl_taps *t, int y, int *i0, int *i1, float *l) {
    if (t->x0) *i0 = t->y0[y], *i1 = t->y1[y], *l = t->ly[y];
    else bilinear_tap(t->sh, t->dh, y, i0, i1, l);
}

static void area_bounds(int in, int out, int o, int *s, int *e) {
    /* adaptive_avg_pool: start = floor(o*in/out), end = ceil((o+1)*in/out) */
    *s = (int)(((int64_t)o * in) / out);
    *e = (int)((((int64_t)o + 1) * in + out - 1) / out);
}

static int nearest_src(int in, int out, int o) {
    /* PyTorch 'nearest': floor(o * in / out) computed in float scale */
    float scale = (float)in / (float)out;
    int s = (int)floorf((float)o * scale);
    return s < in - 1 ? s : in - 1;
}

void rp_image_resize_f32(const float *src, int sw, int sh, int c, float *dst, int dw, int dh,
                         int interp) {
    if (interp == RP_INTERP_BILINEAR) {
        bl_taps t;
        bl_init(&t, sw, sh, dw, dh);
        for (int ch = 0; ch < c; ch++) {
            const float *p = src + (size_t)ch * sw * sh;
            float *q = dst + (size_t)ch * dw * dh;
            for (int y = 0; y < dh; y++) {
                int y0, y1, x0, x1;
                float b, l;
                bl_row(&t, y, &y0, &y1, &b);
                const float *r0 = p + (size_t)y0 * sw, *r1 = p + (size_t)y1 * sw;
                float a = 1.0f - b;
                for (int x = 0; x < dw; x++) {
                    bl_col(&t, x, &x0, &x1, &l);
                    float k = 1.0f - l;
                    q[(size_t)y * dw + x] = a * (k * r0[x0] + l * r0[x1]) + b * (k * r1[x0] + l * r1[x1]);
                }
            }
        }
        bl_free(&t);
        return;
    }
    for (int ch = 0; ch < c; ch++) {
        const float *p = src + (size_t)ch * sw * sh;
        float *q = dst + (size_t)ch * dw * dh;
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++) {
                if (interp == RP_INTERP_AREA) {
                    int ys, ye, xs, xe;
                    area_bounds(sh, dh, y, &ys, &ye);
                    area_bounds(sw, dw, x, &xs, &xe);
                    double acc = 0;
                    for (int yy = ys; yy < ye; yy++)
                        for (int xx = xs; xx < xe; xx++) acc += p[(size_t)yy * sw + xx];
                    q[(size_t)y * dw + x] = (float)(acc / ((ye - ys) * (xe - xs)));
                } else {
                    q[(size_t)y * dw + x] = p[(size_t)nearest_src(sh, dh, y) * sw +
                                              nearest_src(sw, dw, x)];
                }
            }
    }
}

static inline uint8_t round_u8(float v) {
    v = floorf(v + 0.5f);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void rp_image_resize_u8(const uint8_t *src, int sw, int sh, int c, uint8_t *dst, int dw, int dh,
                        int interp) {
    /* rp_image_resize_f32's arithmetic on the values as floats, read in
     * place: no float copy to allocate, nothing to fall back from. */
    if (interp == RP_INTERP_BILINEAR) {
        bl_taps t;
        bl_init(&t, sw, sh, dw, dh);
        for (int y = 0; y < dh; y++) {
            int y0, y1, x0, x1;
            float b, l;
            bl_row(&t, y, &y0, &y1, &b);
            const uint8_t *r0 = src + (size_t)y0 * sw * c, *r1 = src + (size_t)y1 * sw * c;
            float a = 1.0f - b;
            for (int x = 0; x < dw; x++) {
                bl_col(&t, x, &x0, &x1, &l);
                float k = 1.0f - l;
                for (int ch = 0; ch < c; ch++) {
                    float v00 = r0[(size_t)x0 * c + ch], v01 = r0[(size_t)x1 * c + ch];
                    float v10 = r1[(size_t)x0 * c + ch], v11 = r1[(size_t)x1 * c + ch];
                    dst[((size_t)y * dw + x) * c + ch] =
                        round_u8(a * (k * v00 + l * v01) + b * (k * v10 + l * v11));
                }
            }
        }
        bl_free(&t);
        return;
    }
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int ch = 0; ch < c; ch++) {
                float v;
                if (interp == RP_INTERP_AREA) {
                    int ys, ye, xs, xe;
                    area_bounds(sh, dh, y, &ys, &ye);
                    area_bounds(sw, dw, x, &xs, &xe);
                    double acc = 0;
                    for (int yy = ys; yy < ye; yy++)
                        for (int xx = xs; xx < xe; xx++) acc += src[((size_t)yy * sw + xx) * c + ch];
                    v = (float)(acc / ((ye - ys) * (xe - xs)));
                } else {
                    v = src[((size_t)nearest_src(sh, dh, y) * sw + nearest_src(sw, dw, x)) * c + ch];
                }
                dst[((size_t)y * dw + x) * c + ch] = round_u8(v);
            }
}

void rp_image_resize_i32(const int32_t *src, int sw, int sh, int32_t *dst, int dw, int dh) {
    for (int y = 0; y < dh; y++) {
        const int32_t *r = src + (size_t)nearest_src(sh, dh, y) * sw;
        for (int x = 0; x < dw; x++) dst[(size_t)y * dw + x] = r[nearest_src(sw, dw, x)];
    }
}

void rp_image_u8_to_f32(const uint8_t *src, int w, int h, int c, float *dst) {
    size_t n = (size_t)w * h;
    const float k = 1.0f / 255.0f;
    if (c == 1) {
        for (size_t i = 0; i < n; i++) dst[i] = src[i] * k;
        return;
    }
    for (int ch = 0; ch < c; ch++)
        for (size_t i = 0; i < n; i++) dst[(size_t)ch * n + i] = src[i * c + ch] * k;
}

void rp_image_f32_to_u8(const float *src, int w, int h, int c, uint8_t *dst) {
    size_t n = (size_t)w * h;
    for (int ch = 0; ch < c; ch++)
        for (size_t i = 0; i < n; i++) {
            float v = src[(size_t)ch * n + i];
            if (!(v > 0)) v = 0; /* NaN → 0 */
            if (v > 1) v = 1;
            dst[i * c + ch] = (uint8_t)(v * 255.0f + 0.5f);
        }
}

int rp_image_write_png(const char *path, const uint8_t *data, int w, int h, int c, rp_error *err) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    if (!stbi_write_png(tmp, w, h, c, data, w * c)) {
        unlink(tmp);
        return rp_error_set(err, RP_ERR_IO, "%s: cannot write PNG", path);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return rp_error_set(err, RP_ERR_IO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return RP_OK;
}

void rp_image_policy_size(const char *policy, int size, int w, int h, int *ow, int *oh) {
    *ow = w;
    *oh = h;
    if (!policy || size <= 0 || !strcmp(policy, "none")) return;
    if (!strcmp(policy, "exact")) {
        *ow = *oh = size;
    } else if (!strcmp(policy, "shorter")) {
        /* torchvision Resize(int): short side = size, long = int(size * long / short) */
        if (w <= h) {
            *ow = size;
            *oh = (int)((int64_t)size * h / w);
        } else {
            *oh = size;
            *ow = (int)((int64_t)size * w / h);
        }
    }
}
