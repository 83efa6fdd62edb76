/* Convolution kernels (engine/nn/conv/conv.c) against a naive direct 7-loop reference
 * in double precision, on geometries chosen to route through every kernel
 * path: im2col + GEMM, 1x1 pointwise, strided / padded / dilated, and the
 * small-channel 3x3 kernels. All three passes; accumulation semantics
 * (y and dx overwritten, dw and db accumulated). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"
#include "nn/conv/conv.h"

typedef struct {
    const char *name;
    int64_t n, c, h, w, k, kh, kw, sh, sw, ph, pw, dh, dw;
} geom_case;

static const geom_case CASES[] = {
    /* name                  n  c   h   w   k  kh kw sh sw ph pw dh dw */
    {"3x3 s1 p1", 2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p0 odd", 1, 2, 7, 9, 3, 3, 3, 1, 1, 0, 0, 1, 1},
    {"3x3 s2 p1", 3, 4, 9, 9, 5, 3, 3, 2, 2, 1, 1, 1, 1},
    {"3x3 s2 p1 even", 2, 3, 8, 8, 6, 3, 3, 2, 2, 1, 1, 1, 1},
    {"3x3 s1 p2 d2", 2, 3, 9, 8, 4, 3, 3, 1, 1, 2, 2, 2, 2},
    {"3x3 s1 p1 d2", 1, 2, 10, 10, 3, 3, 3, 1, 1, 1, 1, 2, 2},
    {"1x1 s1 p0", 3, 5, 6, 7, 4, 1, 1, 1, 1, 0, 0, 1, 1},
    {"1x1 s2 p0", 2, 6, 7, 7, 3, 1, 1, 2, 2, 0, 0, 1, 1},
    /* strided 1x1 through the subsampled pointwise path: odd sizes and
     * channel tails, packed panels (14x15 outputs), unequal strides */
    {"1x1 s2 wide", 3, 40, 14, 13, 70, 1, 1, 2, 2, 0, 0, 1, 1},
    {"1x1 s2 panels", 2, 24, 28, 30, 40, 1, 1, 2, 2, 0, 0, 1, 1},
    {"1x1 s(2,1)", 2, 8, 9, 8, 20, 1, 1, 2, 1, 0, 0, 1, 1},
    {"1x1 s1 p1", 2, 3, 5, 5, 2, 1, 1, 1, 1, 1, 1, 1, 1},
    {"5x5 s1 p2", 2, 3, 11, 10, 4, 5, 5, 1, 1, 2, 2, 1, 1},
    {"5x5 s1 p0", 1, 1, 28, 28, 6, 5, 5, 1, 1, 0, 0, 1, 1},
    {"7x7 s2 p3", 2, 3, 17, 17, 8, 7, 7, 2, 2, 3, 3, 1, 1},
    {"3x5 rect s(1,2)", 2, 3, 9, 11, 4, 3, 5, 1, 2, 1, 2, 1, 1},
    {"2x2 s2 p0", 2, 4, 8, 6, 3, 2, 2, 2, 2, 0, 0, 1, 1},
    {"3x3 s1 p1 c16", 2, 16, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 c16 odd", 3, 16, 7, 5, 16, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 c32 k16", 2, 32, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 c1 k8", 3, 1, 13, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 c3 k17", 2, 3, 16, 16, 17, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 1px", 2, 4, 1, 1, 4, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 2x3", 2, 4, 2, 3, 5, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 c64 8x8", 2, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s2 p1 c16 k32", 2, 16, 16, 16, 32, 3, 3, 2, 2, 1, 1, 1, 1},
    {"1x1 s1 c64 k128", 2, 64, 5, 5, 128, 1, 1, 1, 1, 0, 0, 1, 1},
    {"1x1 s2 c16 k32", 3, 16, 8, 8, 32, 1, 1, 2, 2, 0, 0, 1, 1},
    {"kernel = input", 2, 3, 4, 4, 2, 4, 4, 1, 1, 0, 0, 1, 1},
    /* strided: phase planes (stride 2 wide enough for the vector deinterleave) */
    {"3x3 s2 p1 wide", 2, 3, 40, 36, 5, 3, 3, 2, 2, 1, 1, 1, 1},
    {"1x1 s2 wide", 2, 8, 6, 34, 4, 1, 1, 2, 2, 0, 0, 1, 1},
    {"3x3 s3 p1", 2, 3, 11, 10, 4, 3, 3, 3, 3, 1, 1, 1, 1},
    {"3x3 s(2,1) p1", 2, 3, 9, 8, 4, 3, 3, 2, 1, 1, 1, 1, 1},
    {"3x3 s2 p2 d2", 2, 3, 13, 13, 4, 3, 3, 2, 2, 2, 2, 2, 2},
    {"3x3 s2 p1 k48", 2, 4, 9, 9, 48, 3, 3, 2, 2, 1, 1, 1, 1},
    {"3x3 s1 p1 c8 k40", 3, 8, 6, 6, 40, 3, 3, 1, 1, 1, 1, 1, 1},
    {"1x1 s1 c30 k40", 2, 30, 5, 7, 40, 1, 1, 1, 1, 0, 0, 1, 1},
    /* 1x1 on maps of two tiles or more: packed panels of whole tiles with a
     * short last panel; with a chunked reduction (> 768 rows) accumulating */
    {"1x1 s1 panels 17x23 c40 k20", 2, 40, 17, 23, 20, 1, 1, 1, 1, 0, 0, 1, 1},
    {"1x1 s1 panels chunked c800", 1, 800, 10, 11, 12, 1, 1, 1, 1, 0, 0, 1, 1},
    {"1x1 s1 panels chunked bwd-data k800", 1, 9, 10, 11, 800, 1, 1, 1, 1, 0, 0, 1, 1},
    /* reductions over more than 768 rows run in chunks */
    {"3x3 c96 chunked", 2, 96, 5, 5, 10, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 k96 chunked bwd-data", 2, 8, 5, 5, 96, 3, 3, 1, 1, 1, 1, 1, 1},
    /* larger batches: several images per weight-gradient group and chunk */
    {"3x3 s1 p1 n12", 12, 4, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1},
    /* channel-tiled forward: image groups with a tail group, tiles of 64 + 16
     * channels, a reduction split into panels (> 1024 rows), 1x1 maps */
    {"3x3 s1 p1 c8 k64 7x7 n5", 5, 8, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s2 p1 c16 k80", 3, 16, 9, 9, 80, 3, 3, 2, 2, 1, 1, 1, 1},
    {"3x3 c128 k32 panels", 3, 128, 4, 4, 32, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 k32 1x1 map n7", 7, 4, 1, 1, 32, 3, 3, 1, 1, 1, 1, 1, 1},
    /* Winograd F(2x2, 3x3): odd outputs (clipped tiles), groups of whole
     * images and of tile rows, padding 0 and 2, a 64 + 16 channel split */
    {"wino 7x7 c16 k64 n9", 9, 16, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1},
    {"wino 20x19 c16 k32 rows", 2, 16, 20, 19, 32, 3, 3, 1, 1, 1, 1, 1, 1},
    {"wino 9x10 p0 c24 k80", 3, 24, 9, 10, 80, 3, 3, 1, 1, 0, 0, 1, 1},
    {"wino 6x5 p2 c16 k32", 2, 16, 6, 5, 32, 3, 3, 1, 1, 2, 2, 1, 1},
    {"wino 40x36 c16 k48 wide rows", 1, 16, 40, 36, 48, 3, 3, 1, 1, 1, 1, 1, 1},
    {"wino in eval 14x14 c64 k64", 1, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1},
    /* a linear layer's forward: 1x1 maps, groups of up to 192 images */
    {"linear 1x1 map c37 k10 n200", 200, 37, 1, 1, 10, 1, 1, 1, 1, 0, 0, 1, 1},
    {"3x3 s2 p1 n10", 10, 3, 9, 9, 20, 3, 3, 2, 2, 1, 1, 1, 1},
    {"1x1 s1 n9", 9, 6, 4, 5, 7, 1, 1, 1, 1, 0, 0, 1, 1},
    /* 1x1 weight gradient over position blocks (operands past ~512 KB) */
    {"1x1 c200 k40 29x31 position blocks", 2, 200, 29, 31, 40, 1, 1, 1, 1, 0, 0, 1, 1},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static uint64_t lcg_state;
static float frand(void) { /* uniform in [-1, 1) */
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(lcg_state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static float *falloc(size_t n) {
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    assert_non_null(p);
    return p;
}

static rp_conv_geom make_geom(const geom_case *c) {
    rp_conv_geom g = {.n = c->n,
                      .c = c->c,
                      .h = c->h,
                      .w = c->w,
                      .k = c->k,
                      .kh = c->kh,
                      .kw = c->kw,
                      .sh = c->sh,
                      .sw = c->sw,
                      .ph = c->ph,
                      .pw = c->pw,
                      .dh = c->dh,
                      .dw = c->dw};
    assert_int_equal(rp_conv_geom_finish(&g), 1);
    return g;
}

/* got vs ref with a bound relative to each element's magnitude and to the sum of
 * absolute products that formed it (float32 accumulation error scales with it). */
/* |got - ref| <= 1e-4 |ref| + terms * sum|terms| + 1e-7 (terms: 2e-6 for
 * float32 sums in any order; Winograd F(4x4, 3x3), whose transforms hold
 * factors up to 8 and 1/24, measured up to 3.7e-6 over these cases and gets
 * 8e-6) */
static void check_close_t(const float *got, const double *ref, const double *absref, size_t n,
                          const char *what, const char *geom, double terms) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        double tol = 1e-4 * fabs(ref[i]) + terms * absref[i] + 1e-7;
        if (!(d <= tol))
            fail_msg("%s [%s]: element %zu: got %.8g, expected %.8g (|diff| %.3g > %.3g)", what,
                     geom, i, (double)got[i], ref[i], d, tol);
    }
}

static void check_close(const float *got, const double *ref, const double *absref, size_t n,
                        const char *what, const char *geom) {
    check_close_t(got, ref, absref, n, what, geom, 2e-6);
}

#define IX(n, c, y, x, C, H, W) ((((n) * (C) + (c)) * (H) + (y)) * (W) + (x))

typedef struct {
    const char *name;
    void (*fwd)(const rp_conv_geom *, const float *, const float *, const float *, float *,
                float *);
    void (*bwd_data)(const rp_conv_geom *, const float *, const float *, float *, float *);
    void (*bwd_weight)(const rp_conv_geom *, const float *, const float *, float *, float *,
                       float *);
    double terms; /* forward / backward-data tolerance (check_close_t) */
} impl;

static const impl FAST = {"fast", rp_conv2d_forward, rp_conv2d_backward_data,
                          rp_conv2d_backward_weight, 2e-6};
/* The forward algorithms forced one at a time (backward passes as FAST):
 * fwd_X runs rp_conv2d_forward with algorithm `algo` forced. */
#define FORCED_FORWARD(name, algo)                                                                 \
    static void name(const rp_conv_geom *g, const float *x, const float *w, const float *b,        \
                     float *y, float *ws) {                                                        \
        rp_conv_force_forward(algo);                                                               \
        rp_conv2d_forward(g, x, w, b, y, ws);                                                      \
        rp_conv_force_forward(RP_CONV_AUTO);                                                       \
    }
FORCED_FORWARD(fwd_planes, RP_CONV_PLANES)
FORCED_FORWARD(fwd_ct, RP_CONV_CHANNEL_TILES)
FORCED_FORWARD(fwd_wino, RP_CONV_WINOGRAD)
FORCED_FORWARD(fwd_wino4, RP_CONV_WINOGRAD4)
/* Backward data allowed Winograd (training passes with rp_model_set_winograd),
 * forced wherever the variant fits the transposed geometry. */
#define FORCED_BWD_DATA(name, algo)                                                                \
    static void name(const rp_conv_geom *g, const float *dy, const float *w, float *dx,            \
                     float *ws) {                                                                  \
        rp_conv_force_forward(algo);                                                               \
        rp_conv2d_backward_data_w(g, dy, w, dx, ws, 1);                                            \
        rp_conv_force_forward(RP_CONV_AUTO);                                                       \
    }
FORCED_BWD_DATA(bwd_data_wino, RP_CONV_WINOGRAD)
FORCED_BWD_DATA(bwd_data_wino4, RP_CONV_WINOGRAD4)
/* Weight gradient allowed Winograd, forced wherever F(2x2, 3x3) fits. */
static void bwd_weight_wino(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                            float *db, float *ws) {
    rp_conv_force_forward(RP_CONV_WINOGRAD);
    rp_conv2d_backward_weight_w(g, x, dy, dw, db, ws, 1);
    rp_conv_force_forward(RP_CONV_AUTO);
}
static const impl WINO = {"winograd", fwd_wino, bwd_data_wino, bwd_weight_wino, 2e-6};
/* Weight gradient allowed Winograd, the algorithm chosen as in training. */
static void bwd_weight_allowed(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                               float *db, float *ws) {
    rp_conv2d_backward_weight_w(g, x, dy, dw, db, ws, 1);
}
static const impl ALLOWED = {"winograd allowed", rp_conv2d_forward, rp_conv2d_backward_data,
                             bwd_weight_allowed, 2e-6};
static const impl WINO4 = {"winograd F(4x4)", fwd_wino4, bwd_data_wino4, rp_conv2d_backward_weight,
                           8e-6};
static const impl PLANES = {"planes", fwd_planes, rp_conv2d_backward_data,
                            rp_conv2d_backward_weight, 2e-6};
static const impl CT = {"channel-tiles", fwd_ct, rp_conv2d_backward_data, rp_conv2d_backward_weight,
                        2e-6};
/* Strided backward data through the former columns + col2im path. */
static void bwd_data_cols(const rp_conv_geom *g, const float *dy, const float *w, float *dx,
                          float *ws) {
    rp_conv_force_backward_data(RP_CONV_BWD_COLUMNS);
    rp_conv2d_backward_data(g, dy, w, dx, ws);
    rp_conv_force_backward_data(RP_CONV_BWD_AUTO);
}
static const impl COLS = {"bwd-data columns", rp_conv2d_forward, bwd_data_cols,
                          rp_conv2d_backward_weight, 2e-6};
static const impl GEMM = {"gemm", rp_conv2d_forward_gemm, rp_conv2d_backward_data_gemm,
                          rp_conv2d_backward_weight_gemm, 2e-6};

/* The reference once, then every implementation in ims[0..nim). */
static void check_case(const geom_case *cs, const impl *const *ims, int nim) {
    rp_conv_geom g = make_geom(cs);
    const int64_t N = g.n, C = g.c, H = g.h, W = g.w, K = g.k, KH = g.kh, KW = g.kw;
    const int64_t OH = g.oh, OW = g.ow;
    size_t nx = (size_t)(N * C * H * W), nw = (size_t)(K * C * KH * KW),
           ny = (size_t)(N * K * OH * OW);
    float *x = falloc(nx), *w = falloc(nw), *b = falloc((size_t)K), *dy = falloc(ny);
    float *y = falloc(ny), *dx = falloc(nx), *dw = falloc(nw), *db = falloc((size_t)K);
    float *dw0 = falloc(nw), *db0 = falloc((size_t)K);
    float *ws = falloc(rp_conv_workspace_floats(&g) + 16);
    /* NaN garbage: a kernel relying on zeroed scratch fails */
    memset(ws, 0xFF, (rp_conv_workspace_floats(&g) + 16) * sizeof(float));
    double *ry = calloc(ny, sizeof(double)), *ay = calloc(ny, sizeof(double));
    double *rdx = calloc(nx, sizeof(double)), *adx = calloc(nx, sizeof(double));
    double *rdw = calloc(nw, sizeof(double)), *adw = calloc(nw, sizeof(double));
    double *rdb = calloc((size_t)K, sizeof(double)), *adb = calloc((size_t)K, sizeof(double));
    assert_true(ry && ay && rdx && adx && rdw && adw && rdb && adb);
    lcg_state = (uint64_t)(N * 1000003 + C * 1009 + H * 31 + K * 7 + KH);
    for (size_t i = 0; i < nx; i++)
        x[i] = frand();
    for (size_t i = 0; i < nw; i++)
        w[i] = frand();
    for (int64_t i = 0; i < K; i++)
        b[i] = frand();
    for (size_t i = 0; i < ny; i++)
        dy[i] = frand();
    for (size_t i = 0; i < nw; i++)
        dw0[i] = frand();
    for (int64_t i = 0; i < K; i++)
        db0[i] = frand();

    /* naive direct reference: y, dx, dw, db */
    for (int64_t i = 0; i < K; i++) {
        rdb[i] = db0[i];
        adb[i] = fabs(db0[i]);
    }
    for (size_t i = 0; i < nw; i++) {
        rdw[i] = dw0[i];
        adw[i] = fabs(dw0[i]);
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    size_t yi = (size_t)IX(n, k, oy, ox, K, OH, OW);
                    double s = b[k], a = fabs(b[k]);
                    double gy = dy[yi];
                    rdb[k] += gy;
                    adb[k] += fabs(gy);
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t i = 0; i < KH; i++)
                            for (int64_t j = 0; j < KW; j++) {
                                int64_t iy = oy * g.sh - g.ph + i * g.dh;
                                int64_t ix = ox * g.sw - g.pw + j * g.dw;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                size_t xi = (size_t)IX(n, c, iy, ix, C, H, W);
                                size_t wi = (size_t)IX(k, c, i, j, C, KH, KW);
                                s += (double)w[wi] * x[xi];
                                a += fabs((double)w[wi] * x[xi]);
                                rdx[xi] += (double)w[wi] * gy;
                                adx[xi] += fabs((double)w[wi] * gy);
                                rdw[wi] += (double)x[xi] * gy;
                                adw[wi] += fabs((double)x[xi] * gy);
                            }
                    ry[yi] = s;
                    ay[yi] = a;
                }

    for (int ii = 0; ii < nim; ii++) {
        const impl *im = ims[ii];
        const double terms = im->terms;
        char label[160];
        snprintf(label, sizeof label, "%s %s: n%lld c%lld %lldx%lld k%lld", im->name, cs->name,
                 (long long)N, (long long)C, (long long)H, (long long)W, (long long)K);

        /* forward with and without bias; y is overwritten (pre-filled with garbage) */
        for (size_t i = 0; i < ny; i++)
            y[i] = 1e30f;
        im->fwd(&g, x, w, b, y, ws);
        check_close_t(y, ry, ay, ny, "forward", label, terms);
        for (size_t i = 0; i < ny; i++)
            y[i] = -1e30f;
        im->fwd(&g, x, w, NULL, y, ws);
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++)
                for (int64_t p = 0; p < OH * OW; p++) {
                    size_t yi = (size_t)((n * K + k) * OH * OW + p);
                    ry[yi] -= b[k];
                    ay[yi] += fabs(b[k]);
                }
        check_close_t(y, ry, ay, ny, "forward (no bias)", label, terms);
        for (int64_t n = 0; n < N; n++) /* the reference with bias again, for the next impl */
            for (int64_t k = 0; k < K; k++)
                for (int64_t p = 0; p < OH * OW; p++) {
                    size_t yi = (size_t)((n * K + k) * OH * OW + p);
                    ry[yi] += b[k];
                    ay[yi] -= fabs(b[k]);
                }

        /* backward data: dx overwritten */
        for (size_t i = 0; i < nx; i++)
            dx[i] = 1e30f;
        im->bwd_data(&g, dy, w, dx, ws);
        check_close_t(dx, rdx, adx, nx, "backward_data", label, terms);

        /* backward weight: dw, db accumulate onto their previous contents */
        memcpy(dw, dw0, nw * sizeof(float));
        memcpy(db, db0, (size_t)K * sizeof(float));
        im->bwd_weight(&g, x, dy, dw, db, ws);
        check_close(dw, rdw, adw, nw, "backward_weight dw", label);
        check_close(db, rdb, adb, (size_t)K, "backward_weight db", label);
        /* db may be NULL */
        memcpy(dw, dw0, nw * sizeof(float));
        im->bwd_weight(&g, x, dy, dw, NULL, ws);
        check_close(dw, rdw, adw, nw, "backward_weight dw (no db)", label);

        /* determinism: a second run gives bit-identical results */
        float *y2 = falloc(ny), *dx2 = falloc(nx), *dw2 = falloc(nw);
        im->fwd(&g, x, w, b, y, ws);
        im->fwd(&g, x, w, b, y2, ws);
        assert_memory_equal(y, y2, ny * sizeof(float));
        im->bwd_data(&g, dy, w, dx2, ws);
        im->bwd_data(&g, dy, w, dx, ws);
        assert_memory_equal(dx, dx2, nx * sizeof(float));
        memcpy(dw, dw0, nw * sizeof(float));
        memcpy(dw2, dw0, nw * sizeof(float));
        im->bwd_weight(&g, x, dy, dw, NULL, ws);
        im->bwd_weight(&g, x, dy, dw2, NULL, ws);
        assert_memory_equal(dw, dw2, nw * sizeof(float));
        free(y2), free(dx2), free(dw2);
    }
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db), free(dw0);
    free(db0), free(ws), free(ry), free(ay), free(rdx), free(adx), free(rdw), free(adw);
    free(rdb), free(adb);
}

/* Every geometry through the fast kernels with 1 and 2 threads (images split
 * across threads, including fewer images than threads), and through the
 * portable im2col + sgemm passes. */
static void test_fast_one_thread(void **state) {
    (void)state;
    rp_set_threads(1);
    for (size_t i = 0; i < N_CASES; i++)
        check_case(&CASES[i], (const impl *[]){&FAST}, 1);
}

static void test_fast_two_threads(void **state) {
    (void)state;
    rp_set_threads(2);
    for (size_t i = 0; i < N_CASES; i++)
        check_case(&CASES[i], (const impl *[]){&FAST}, 1);
}

static void test_forward_algorithms(void **state) {
    (void)state;
    for (int t = 1; t <= 2; t++) {
        rp_set_threads(t);
        for (size_t i = 0; i < N_CASES; i++) {
            check_case(&CASES[i], (const impl *[]){&PLANES, &CT, &WINO, &WINO4}, 4);
        }
    }
}

/* The fused epilogue act(scale * (conv + b) + shift + residual) equals the plain forward
 * followed by the same per-channel arithmetic, for every algorithm. */
static void test_forward_epilogue(void **state) {
    (void)state;
    static const int algos[] = {RP_CONV_AUTO, RP_CONV_PLANES, RP_CONV_CHANNEL_TILES,
                                RP_CONV_WINOGRAD, RP_CONV_WINOGRAD4};
    rp_set_threads(2);
    for (size_t ci = 0; ci < N_CASES; ci++) {
        rp_conv_geom g = make_geom(&CASES[ci]);
        const size_t nx = (size_t)(g.n * g.c * g.h * g.w), nw = (size_t)(g.k * g.c * g.kh * g.kw);
        const size_t ohw = (size_t)(g.oh * g.ow), ny = (size_t)g.n * (size_t)g.k * ohw;
        float *x = falloc(nx), *w = falloc(nw), *b = falloc((size_t)g.k);
        float *sc = falloc((size_t)g.k), *sh = falloc((size_t)g.k);
        float *y = falloc(ny), *ye = falloc(ny), *ws = falloc(rp_conv_workspace_floats(&g) + 16);
        float *res = falloc(ny);
        for (size_t i = 0; i < ny; i++)
            res[i] = frand();
        for (size_t i = 0; i < nx; i++)
            x[i] = frand();
        for (size_t i = 0; i < nw; i++)
            w[i] = frand();
        for (int64_t k = 0; k < g.k; k++)
            b[k] = frand(), sc[k] = frand(), sh[k] = frand();
        for (size_t a = 0; a < sizeof algos / sizeof *algos; a++) {
            rp_conv_force_forward(algos[a]);
            for (int mode = 0; mode < 4; mode++) {
                const int relu = mode & 1, with_res = mode >> 1;
                /* (winograd allowed: AUTO then picks it where an eval forward would) */
                rp_conv_epilogue ep = {.scale = sc,
                                       .shift = sh,
                                       .residual = with_res ? res : NULL,
                                       .relu = relu,
                                       .winograd = 1};
                rp_conv2d_forward(&g, x, w, b, y, ws);
                rp_conv2d_forward_ep(&g, x, w, b, ye, ws, &ep);
                for (size_t i = 0; i < ny; i++) {
                    const int64_t k = (int64_t)((i / ohw) % (size_t)g.k);
                    float v = sc[k] * y[i] + sh[k] + (with_res ? res[i] : 0.0f);
                    if (relu && v < 0.0f) v = 0.0f;
                    /* (Winograd, which AUTO may pick here, rounds otherwise than
                     * the plain forward: up to 8e-6 of the sum of the C*KH*KW
                     * terms' magnitudes, each 1/4 on average, scaled) */
                    const float tol = 1e-5f * (1.0f + fabsf(v)) +
                                      2e-6f * (float)(g.c * g.kh * g.kw) * fabsf(sc[k]);
                    if (fabsf(v - ye[i]) > tol)
                        fail_msg("%s algo %d relu %d residual %d: y[%zu] = %g, expected %g",
                                 CASES[ci].name, algos[a], relu, with_res, i, (double)ye[i],
                                 (double)v);
                }
            }
            rp_conv_force_forward(RP_CONV_AUTO);
        }
        free(x), free(w), free(b), free(sc), free(sh), free(y), free(ye), free(ws), free(res);
    }
}

static void test_gemm_passes(void **state) {
    (void)state;
    rp_set_threads(2);
    for (size_t i = 0; i < N_CASES; i++)
        check_case(&CASES[i], (const impl *[]){&GEMM}, 1);
}

/* Backward data by output phases (one stride-1 GEMM per phase) and, for
 * stride 1 (last cases), as a channel-tiled forward of dy:
 * strides 2 and 3 and unequal ones, kernels smaller than the stride (phases
 * no tap reaches), even kernels, padding 0 / 1 / 2 / 3, odd maps, channel
 * counts off the 8-row and 16-lane blocks, a reduction long enough to be
 * chunked (> 768 rows in one phase); the columns path on the same cases,
 * and the phase path's dx bit-identical on 1 and 2 threads. */
static const geom_case STRIDED[] = {
    /* name                  n  c   h   w   k  kh kw sh sw ph pw dh dw */
    {"s2 3x3 p1 odd 15x13 c20 k13", 3, 20, 15, 13, 13, 3, 3, 2, 2, 1, 1, 1, 1},
    {"s2 3x3 p0 odd", 2, 9, 11, 9, 17, 3, 3, 2, 2, 0, 0, 1, 1},
    {"s2 3x3 p2", 2, 5, 10, 12, 6, 3, 3, 2, 2, 2, 2, 1, 1},
    {"s2 4x4 p1 even kernel", 2, 7, 12, 11, 9, 4, 4, 2, 2, 1, 1, 1, 1},
    {"s3 1x1 untouched phases", 2, 11, 10, 8, 5, 1, 1, 3, 3, 0, 0, 1, 1},
    {"s3 2x2 p1", 2, 4, 13, 14, 6, 2, 2, 3, 3, 1, 1, 1, 1},
    {"s(3,2) 5x3 p(2,1)", 2, 6, 14, 11, 10, 5, 3, 3, 2, 2, 1, 1, 1},
    {"s(1,2) 3x3 p1", 2, 5, 7, 9, 8, 3, 3, 1, 2, 1, 1, 1, 1},
    {"s2 7x7 p3 c3 k64", 1, 3, 23, 21, 64, 7, 7, 2, 2, 3, 3, 1, 1},
    {"s2 3x3 p1 k200 chunked", 2, 12, 9, 9, 200, 3, 3, 2, 2, 1, 1, 1, 1},
    {"s2 3x3 p1 r20 16-32", 3, 16, 32, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1},
    {"s2 1x1 c33 k47 odd", 2, 33, 15, 15, 47, 1, 1, 2, 2, 0, 0, 1, 1},
    {"s2 3x3 p1 tiny 2x2", 3, 4, 2, 2, 5, 3, 3, 2, 2, 1, 1, 1, 1},
    /* stride 1, wide on small maps: backward data as a channel-tiled forward */
    {"s1 ct c128 k64 7x7", 3, 128, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1},
    {"s1 ct c130 k70 5x6 p0", 2, 130, 5, 6, 70, 3, 3, 1, 1, 0, 0, 1, 1},
    {"s1 ct c129 k65 9x8 d2 p2", 2, 129, 9, 8, 65, 3, 3, 1, 1, 2, 2, 2, 2},
    {"s1 ct c144 k80 3x5 1x3 kernel", 3, 144, 3, 5, 80, 1, 3, 1, 1, 0, 1, 1, 1},
};

static void test_strided_backward_data(void **state) {
    (void)state;
    for (int t = 1; t <= 2; t++) {
        rp_set_threads(t);
        for (size_t i = 0; i < sizeof STRIDED / sizeof STRIDED[0]; i++)
            check_case(&STRIDED[i], (const impl *[]){&FAST, &COLS}, 2);
    }
    for (size_t i = 0; i < sizeof STRIDED / sizeof STRIDED[0]; i++) {
        rp_conv_geom g = make_geom(&STRIDED[i]);
        size_t nx = (size_t)(g.n * g.c * g.h * g.w), ny = (size_t)(g.n * g.k * g.oh * g.ow);
        size_t nw = (size_t)(g.k * g.c * g.kh * g.kw);
        float *dy = falloc(ny), *w = falloc(nw), *dx1 = falloc(nx), *dx2 = falloc(nx);
        float *ws = falloc(rp_conv_workspace_floats(&g) + 16);
        lcg_state = 77 + i;
        for (size_t j = 0; j < ny; j++)
            dy[j] = frand();
        for (size_t j = 0; j < nw; j++)
            w[j] = frand();
        rp_set_threads(1);
        rp_conv2d_backward_data(&g, dy, w, dx1, ws);
        rp_set_threads(2);
        rp_conv2d_backward_data(&g, dy, w, dx2, ws);
        assert_memory_equal(dx1, dx2, nx * sizeof(float));
        free(dy), free(w), free(dx1), free(dx2), free(ws);
    }
}

/* The Winograd weight gradient of wide layers (C x K over 256 x 256: the
 * input channels split into units, every tile summed per unit): channel
 * counts off the 16-lane and 128-channel blocks, odd maps, padding 0 / 1 /
 * 2, on 1 and 2 threads, and the same bytes on both. */
static const geom_case WIDE[] = {
    /* name                  n  c   h   w   k  kh kw sh sw ph pw dh dw */
    {"wide 264-250 7x7 p1", 2, 264, 7, 7, 250, 3, 3, 1, 1, 1, 1, 1, 1},
    {"wide 260-256 6x9 p0", 3, 260, 6, 9, 256, 3, 3, 1, 1, 0, 0, 1, 1},
    {"wide 256-257 5x4 p2", 2, 256, 5, 4, 257, 3, 3, 1, 1, 2, 2, 1, 1},
};

static void test_winograd_wide_weight_gradient(void **state) {
    (void)state;
    for (int t = 1; t <= 2; t++) {
        rp_set_threads(t);
        for (size_t i = 0; i < sizeof WIDE / sizeof WIDE[0]; i++)
            check_case(&WIDE[i], (const impl *[]){&ALLOWED}, 1);
    }
    for (size_t i = 0; i < sizeof WIDE / sizeof WIDE[0]; i++) {
        rp_conv_geom g = make_geom(&WIDE[i]);
        size_t nx = (size_t)(g.n * g.c * g.h * g.w), ny = (size_t)(g.n * g.k * g.oh * g.ow);
        size_t nw = (size_t)(g.k * g.c * g.kh * g.kw);
        float *x = falloc(nx), *dy = falloc(ny), *dw1 = falloc(nw), *dw2 = falloc(nw);
        float *db1 = falloc((size_t)g.k), *db2 = falloc((size_t)g.k);
        float *ws = falloc(rp_conv_workspace_floats(&g) + 16);
        lcg_state = 91 + i;
        for (size_t j = 0; j < nx; j++)
            x[j] = frand();
        for (size_t j = 0; j < ny; j++)
            dy[j] = frand();
        memset(dw1, 0, nw * sizeof(float)), memset(dw2, 0, nw * sizeof(float));
        memset(db1, 0, (size_t)g.k * sizeof(float)), memset(db2, 0, (size_t)g.k * sizeof(float));
        rp_set_threads(1);
        rp_conv2d_backward_weight_w(&g, x, dy, dw1, db1, ws, 1);
        rp_set_threads(2);
        rp_conv2d_backward_weight_w(&g, x, dy, dw2, db2, ws, 1);
        assert_memory_equal(dw1, dw2, nw * sizeof(float));
        assert_memory_equal(db1, db2, (size_t)g.k * sizeof(float));
        free(x), free(dy), free(dw1), free(dw2), free(db1), free(db2), free(ws);
    }
}

static void test_geom_finish(void **state) {
    (void)state;
    /* PyTorch: OH = floor((H + 2p - d(k-1) - 1)/s) + 1 */
    rp_conv_geom g = {.n = 1,
                      .c = 3,
                      .h = 224,
                      .w = 224,
                      .k = 64,
                      .kh = 7,
                      .kw = 7,
                      .sh = 2,
                      .sw = 2,
                      .ph = 3,
                      .pw = 3,
                      .dh = 1,
                      .dw = 1};
    assert_int_equal(rp_conv_geom_finish(&g), 1);
    assert_int_equal(g.oh, 112);
    assert_int_equal(g.ow, 112);
    rp_conv_geom d = {.n = 1,
                      .c = 1,
                      .h = 10,
                      .w = 7,
                      .k = 1,
                      .kh = 3,
                      .kw = 3,
                      .sh = 1,
                      .sw = 2,
                      .ph = 2,
                      .pw = 0,
                      .dh = 2,
                      .dw = 1};
    assert_int_equal(rp_conv_geom_finish(&d), 1);
    assert_int_equal(d.oh, 10); /* (10+4-4-1)/1+1 */
    assert_int_equal(d.ow, 3);  /* (7-2-1)/2+1 */
    rp_conv_geom e = {.n = 1,
                      .c = 1,
                      .h = 2,
                      .w = 2,
                      .k = 1,
                      .kh = 3,
                      .kw = 3,
                      .sh = 1,
                      .sw = 1,
                      .ph = 0,
                      .pw = 0,
                      .dh = 1,
                      .dw = 1};
    assert_int_equal(rp_conv_geom_finish(&e), 0); /* kernel larger than input */
    rp_conv_geom z = g;
    z.sh = 0;
    assert_int_equal(rp_conv_geom_finish(&z), 0); /* invalid stride */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geom_finish),           cmocka_unit_test(test_forward_algorithms),
        cmocka_unit_test(test_forward_epilogue),      cmocka_unit_test(test_fast_one_thread),
        cmocka_unit_test(test_fast_two_threads),      cmocka_unit_test(test_gemm_passes),
        cmocka_unit_test(test_strided_backward_data),
        cmocka_unit_test(test_winograd_wide_weight_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
