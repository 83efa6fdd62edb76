/* Convolution kernels (see conv.h). With AVX-512 the forward runs one of
 * three algorithms chosen per shape (use_wino / use_ct in conv_avx512.c):
 * channel tiles (32+ output channels), Winograd F(4x4, 3x3) or F(2x2, 3x3)
 * (3x3 stride 1, where allowed and measured faster) or register-blocked
 * planes (the rest); backward passes use
 * the plane kernels and transposed weight-gradient tiles. Everywhere, and
 * kept callable as rp_conv2d_*_gemm: im2col + cblas_sgemm, 1x1 stride-1
 * without im2col, backward = two GEMMs + col2im.
 *
 * Semantics follow torch.nn.functional.conv2d
 * (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html):
 *   y[n,k,oy,ox] = b[k] + sum_{c,i,j} w[k,c,i,j] * x[n,c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
 * with out-of-range input positions reading as zero, and
 *   OH = floor((H + 2*ph - dh*(KH-1) - 1) / sh) + 1   (same for OW).
 */
#include "nn/conv/conv_impl.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/nn.h"
#include "runpipe/tensor.h"

typedef struct conv_scratch {
    float *data;
    size_t cap;
} conv_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    conv_scratch *s = p;
    rp_free(s->data);
    free(s);
}

static void scratch_key_init(void) {
    (void)pthread_key_create(&scratch_key, scratch_free);
}

static int thread_split = 0;

void rp_conv_force_thread_split(int on) {
    thread_split = on != 0;
}

int rp_conv_thread_split(void) {
    return thread_split;
}

float *rp_conv_prepare(rp_conv_geom *g, int64_t n, rp_error *err) {
    g->n = n;
    float *ws = rp_conv_scratch(rp_conv_workspace_floats(g));
    if (!ws) rp_error_set(err, RP_ERR_NOMEM, "out of memory (convolution scratch)");
    return ws;
}

float *rp_conv_scratch(size_t floats) {
    (void)pthread_once(&scratch_once, scratch_key_init);
    conv_scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        if (!(s = calloc(1, sizeof *s))) return NULL;
        if (pthread_setspecific(scratch_key, s)) {
            free(s);
            return NULL;
        }
    }
    if (floats > s->cap || !s->data) { /* (non-NULL even for 0 floats) */
        float *d = rp_alloc((floats + 16) * sizeof(float));
        if (!d) return NULL;
        rp_free(s->data);
        s->data = d, s->cap = floats + 16;
    }
    return s->data;
}

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
int rp_conv_is_pointwise(const rp_conv_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

size_t rp_conv_gemm_workspace_floats(const rp_conv_geom *g) {
    if (rp_conv_is_pointwise(g)) return 0;
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
void rp_conv_col2im(const rp_conv_geom *g, const float *col, float *dx) {
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

#define SGEMM_BLOCKS 16
void rp_sgemm_cols(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    int64_t bw = (n + SGEMM_BLOCKS - 1) / SGEMM_BLOCKS;
    bw = bw < 64 ? 64 : (bw + 15) / 16 * 16;
    const int64_t nb = (n + bw - 1) / bw;
#pragma omp parallel for schedule(static) if (nb > 1 && rp_get_threads() > 1)
    for (int64_t i = 0; i < nb; i++) {
        const int64_t c0 = i * bw, nc = n - c0 < bw ? n - c0 : bw;
        /* columns c0.. of op(B): B + c0 (B [K, N]) or rows c0.. of B (B^T) */
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)m, (int)nc, (int)k, 1.0f, a, (int)lda, tb ? b + c0 * ldb : b + c0,
                    (int)ldb, beta, c + c0, (int)ldc);
    }
}

void rp_conv2d_forward_gemm(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                            float *y, float *ws) {
    const int64_t ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow, hw = g->h * g->w;
    for (int64_t n = 0; n < g->n; n++) {
        const float *xn = x + n * g->c * hw; /* [C, H, W] */
        float *yn = y + n * g->k * ohw;      /* [K, OH*OW] */
        const float *B = xn;                 /* [C*KH*KW, OH*OW] */
        if (!rp_conv_is_pointwise(g)) {
            im2col(g, xn, ws);
            B = ws;
        }
        rp_sgemm_cols(0, 0, g->k, ohw, ckk, w, ckk, B, ohw, 0.0f, yn, ohw);
        if (b) {
            for (int64_t k = 0; k < g->k; k++) {
                float *r = yn + k * ohw;
                for (int64_t p = 0; p < ohw; p++)
                    r[p] += b[k];
            }
        }
    }
}

void rp_conv2d_backward_data_gemm(const rp_conv_geom *g, const float *dy, const float *w, float *dx,
                                  float *ws) {
    const int64_t ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow, hw = g->h * g->w;
    for (int64_t n = 0; n < g->n; n++) {
        const float *dyn = dy + n * g->k * ohw;        /* [K, OH*OW] */
        float *dxn = dx + n * g->c * hw;               /* [C, H, W] */
        float *C = rp_conv_is_pointwise(g) ? dxn : ws; /* [C*KH*KW, OH*OW] */
        rp_sgemm_cols(1, 0, ckk, ohw, g->k, w, ckk, dyn, ohw, 0.0f, C, ohw);
        if (!rp_conv_is_pointwise(g)) rp_conv_col2im(g, ws, dxn);
    }
}

void rp_conv2d_backward_weight_gemm(const rp_conv_geom *g, const float *x, const float *dy,
                                    float *dw, float *db, float *ws) {
    const int64_t ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow, hw = g->h * g->w;
    for (int64_t n = 0; n < g->n; n++) {
        const float *xn = x + n * g->c * hw;
        const float *dyn = dy + n * g->k * ohw; /* [K, OH*OW] */
        const float *B = xn;                    /* [C*KH*KW, OH*OW] */
        if (!rp_conv_is_pointwise(g)) {
            im2col(g, xn, ws);
            B = ws;
        }
        /* dw[K, C*KH*KW] += dy_n[K, OHW] . col^T[OHW, C*KH*KW] */
        rp_sgemm_cols(0, 1, g->k, ckk, ohw, dyn, ohw, B, ohw, 1.0f, dw, ckk);
        if (db) {
            for (int64_t k = 0; k < g->k; k++) {
                const float *r = dyn + k * ohw;
                float s = 0.0f;
                for (int64_t p = 0; p < ohw; p++)
                    s += r[p];
                db[k] += s;
            }
        }
    }
}

/* ------------------------------------------------------------------------------
 * Fast paths (AVX-512). The plane forward (16-channel layers) and
 * backward-data run as a register-blocked
 * GEMM C[rows, positions] = A . B (kern_fwd: 8 rows x 48 positions, A
 * broadcast, B loaded as vectors) whose B rows are addressed through an offset
 * table, so no im2col matrix is ever built:
 *   pointwise  1x1 stride 1 no padding: B rows are the input channels.
 *   planes     any other geometry: the image is copied once into zero-padded
 *              phase planes (plane_copy; for stride 1 simply the padded image)
 *              and output positions p = oy*WS + ox run over the plane width,
 *              so B row (c,i,j) is a plane shifted by a constant: an implicit
 *              im2col. The extra columns are dropped by the kernel's masked
 *              stores (cropping fused into the store).
 *   backward data, stride 1: the same kernel on dy padded by d*(k-1)-p with
 *              the weights flipped and transposed (dx = conv(dy, rot180(W)^T));
 *              strided: GEMM W^T . dy into columns + col2im.
 * Reductions longer than 768 rows run in cache-sized chunks.
 * The weight gradient uses transposed tiles (kern_wt: dwT[(c,i,j)][k-vector]
 * += x(p) * dyT[p][k-vector]) with no horizontal sums, reading the planes
 * directly (3x3 stride 1: three row pointers per channel, taps as immediate
 * displacements), summing chunks of up to 8 images in registers.
 * Threads: images are independent in forward / backward-data (dynamic
 * schedule, robust when a thread is descheduled); the weight gradient cuts the
 * batch into groups fixed by the layer's shapes, each summed into its own
 * partial, and adds the partials in group order, so any thread count gives
 * bit-identical results. OpenBLAS is not called from these paths (no
 * oversubscription).
 * ---------------------------------------------------------------------------- */

#if !defined(__AVX512F__)
/* no AVX-512: the portable im2col + sgemm kernels (AVX-512: conv_avx512.c) */

size_t rp_conv_workspace_floats(const rp_conv_geom *g) {
    return rp_conv_gemm_workspace_floats(g);
}

/* y = act(scale[k] * y + shift[k]) over [N, K, OH*OW]. */
static void apply_epilogue(const rp_conv_geom *g, float *y, const rp_conv_epilogue *ep) {
    if (!ep || (!ep->scale && !ep->shift && !ep->residual && !ep->relu)) return;
    const int64_t ohw = g->oh * g->ow, rows = g->n * g->k;
#pragma omp parallel for schedule(static) if (rows * ohw > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t k = r % g->k;
        const float s = ep->scale ? ep->scale[k] : 1.0f, t = ep->shift ? ep->shift[k] : 0.0f;
        float *yr = y + r * ohw;
        const float *rr = ep->residual ? ep->residual + r * ohw : NULL;
        for (int64_t p = 0; p < ohw; p++) {
            float v = s * yr[p] + t + (rr ? rr[p] : 0.0f);
            yr[p] = !ep->relu || v > 0.0f ? v : 0.0f; /* as the relu layer: NaN -> 0 */
        }
    }
}

void rp_conv_force_forward(int algo) {
    (void)algo;
}

void rp_conv_force_backward_data(int algo) {
    (void)algo;
}

void rp_conv2d_forward_ep(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                          float *y, float *ws, const rp_conv_epilogue *ep) {
    rp_conv2d_forward_gemm(g, x, w, b, y, ws);
    apply_epilogue(g, y, ep);
}

void rp_conv2d_forward(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                       float *y, float *ws) {
    rp_conv2d_forward_ep(g, x, w, b, y, ws, NULL);
}

void rp_conv2d_backward_data(const rp_conv_geom *g, const float *dy, const float *w, float *dx,
                             float *ws) {
    rp_conv2d_backward_data_gemm(g, dy, w, dx, ws);
}

void rp_conv2d_backward_data_w(const rp_conv_geom *g, const float *dy, const float *w, float *dx,
                               float *ws, int winograd) {
    (void)winograd; /* (no Winograd kernels in the portable build) */
    rp_conv2d_backward_data_gemm(g, dy, w, dx, ws);
}

void rp_conv2d_backward_weight(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                               float *db, float *ws) {
    rp_conv2d_backward_weight_gemm(g, x, dy, dw, db, ws);
}

void rp_conv2d_backward_weight_w(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                                 float *db, float *ws, int winograd) {
    (void)winograd; /* (no Winograd kernels in the portable build) */
    rp_conv2d_backward_weight_gemm(g, x, dy, dw, db, ws);
}
#endif
