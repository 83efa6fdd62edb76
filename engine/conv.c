/* Convolution kernels (see conv.h): im2col + cblas_sgemm, 1x1 stride-1 fast
 * path without im2col, backward = two GEMMs + col2im.
 *
 * Semantics follow torch.nn.functional.conv2d
 * (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html):
 *   y[n,k,oy,ox] = b[k] + sum_{c,i,j} w[k,c,i,j] * x[n,c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
 * with out-of-range input positions reading as zero, and
 *   OH = floor((H + 2*ph - dh*(KH-1) - 1) / sh) + 1   (same for OW).
 */
#include "conv.h"

#include <cblas.h>
#include <string.h>

int rp_conv_geom_finish(rp_conv_geom *g) {
    if (g->n < 1 || g->c < 1 || g->h < 1 || g->w < 1 || g->k < 1 || g->kh < 1 || g->kw < 1 ||
        g->sh < 1 || g->sw < 1 || g->ph < 0 || g->pw < 0 || g->dh < 1 || g->dw < 1) {
        g->oh = g->ow = 0;
        return 0;
    }
    int64_t eh = g->h + 2 * g->ph - g->dh * (g->kh - 1) - 1;
    int64_t ew = g->w + 2 * g->pw - g->dw * (g->kw - 1) - 1;
    if (eh < 0 || ew < 0) {
        g->oh = g->ow = 0;
        return 0;
    }
    g->oh = eh / g->sh + 1;
    g->ow = ew / g->sw + 1;
    return 1;
}

/* 1x1, stride 1, no padding: the input image already is the GEMM operand. */
static int is_pointwise(const rp_conv_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

size_t rp_conv_workspace_floats(const rp_conv_geom *g) {
    if (is_pointwise(g)) return 0;
    /* one column matrix [C*KH*KW, OH*OW] */
    return (size_t)(g->c * g->kh * g->kw) * (size_t)(g->oh * g->ow);
}

/* col[C*KH*KW, OH*OW] from one image x[C, H, W]. */
static void im2col(const rp_conv_geom *g, const float *x, float *col) {
    const int64_t ohw = g->oh * g->ow;
    for (int64_t c = 0; c < g->c; c++) {
        const float *xc = x + c * g->h * g->w;
        for (int64_t i = 0; i < g->kh; i++) {
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * ohw;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->ph + i * g->dh;
                    float *r = row + oy * g->ow;
                    if (iy < 0 || iy >= g->h) {
                        memset(r, 0, sizeof(float) * (size_t)g->ow);
                        continue;
                    }
                    const float *xr = xc + iy * g->w;
                    for (int64_t ox = 0; ox < g->ow; ox++) {
                        int64_t ix = ox * g->sw - g->pw + j * g->dw;
                        r[ox] = (ix >= 0 && ix < g->w) ? xr[ix] : 0.0f;
                    }
                }
            }
        }
    }
}

/* dx[C, H, W] = sum over the column matrix's scattered positions (dx zeroed first). */
static void col2im(const rp_conv_geom *g, const float *col, float *dx) {
    const int64_t ohw = g->oh * g->ow;
    memset(dx, 0, sizeof(float) * (size_t)(g->c * g->h * g->w));
    for (int64_t c = 0; c < g->c; c++) {
        float *xc = dx + c * g->h * g->w;
        for (int64_t i = 0; i < g->kh; i++) {
            for (int64_t j = 0; j < g->kw; j++) {
                const float *row = col + ((c * g->kh + i) * g->kw + j) * ohw;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->ph + i * g->dh;
                    if (iy < 0 || iy >= g->h) continue;
                    const float *r = row + oy * g->ow;
                    float *xr = xc + iy * g->w;
                    for (int64_t ox = 0; ox < g->ow; ox++) {
                        int64_t ix = ox * g->sw - g->pw + j * g->dw;
                        if (ix >= 0 && ix < g->w) xr[ix] += r[ox];
                    }
                }
            }
        }
    }
}

void rp_conv2d_forward(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                       float *y, float *ws) {
    const int64_t ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow, hw = g->h * g->w;
    for (int64_t n = 0; n < g->n; n++) {
        const float *xn = x + n * g->c * hw;        /* [C, H, W] */
        float *yn = y + n * g->k * ohw;             /* [K, OH*OW] */
        const float *B = xn;                        /* [C*KH*KW, OH*OW] */
        if (!is_pointwise(g)) {
            im2col(g, xn, ws);
            B = ws;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->k, (int)ohw, (int)ckk,
                    1.0f, w, (int)ckk, B, (int)ohw, 0.0f, yn, (int)ohw);
        if (b) {
            for (int64_t k = 0; k < g->k; k++) {
                float *r = yn + k * ohw;
                for (int64_t p = 0; p < ohw; p++) r[p] += b[k];
            }
        }
    }
}

void rp_conv2d_backward_data(const rp_conv_geom *g, const float *dy, const float *w, float *dx,
                             float *ws) {
    const int64_t ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow, hw = g->h * g->w;
    for (int64_t n = 0; n < g->n; n++) {
        const float *dyn = dy + n * g->k * ohw;     /* [K, OH*OW] */
        float *dxn = dx + n * g->c * hw;            /* [C, H, W] */
        float *C = is_pointwise(g) ? dxn : ws;      /* [C*KH*KW, OH*OW] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ckk, (int)ohw, (int)g->k,
                    1.0f, w, (int)ckk, dyn, (int)ohw, 0.0f, C, (int)ohw);
        if (!is_pointwise(g)) col2im(g, ws, dxn);
    }
}

void rp_conv2d_backward_weight(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                               float *db, float *ws) {
    const int64_t ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow, hw = g->h * g->w;
    for (int64_t n = 0; n < g->n; n++) {
        const float *xn = x + n * g->c * hw;
        const float *dyn = dy + n * g->k * ohw;     /* [K, OH*OW] */
        const float *B = xn;                        /* [C*KH*KW, OH*OW] */
        if (!is_pointwise(g)) {
            im2col(g, xn, ws);
            B = ws;
        }
        /* dw[K, C*KH*KW] += dy_n[K, OHW] . col^T[OHW, C*KH*KW] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->k, (int)ckk, (int)ohw,
                    1.0f, dyn, (int)ohw, B, (int)ohw, 1.0f, dw, (int)ckk);
        if (db) {
            for (int64_t k = 0; k < g->k; k++) {
                const float *r = dyn + k * ohw;
                float s = 0.0f;
                for (int64_t p = 0; p < ohw; p++) s += r[p];
                db[k] += s;
            }
        }
    }
}
