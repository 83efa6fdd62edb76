/* Per-geometry convolution kernel benchmark: forward, backward-data and
 * backward-weight of engine/nn/conv/conv.c in GFLOP/s (2*N*K*C*KH*KW*OH*OW flops per
 * pass), median of several timed repetitions after a warm-up.
 *
 *   bench_conv [threads] [reps]      prints one line per geometry
 * Geometries: CIFAR ResNet-20 (batch 128), S0's small CNNs (batch 128) and
 * ResNet-18 at 224 (batch 32). tests/bench/torch_ref.py --layers times the
 * same list with PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/conv/conv.h"
#include "runpipe/nn.h"

typedef struct {
    const char *name;
    int n, c, h, w, k, kh, s, p;
} bgeom;

/* Keep in sync with LAYERS in torch_ref.py. */
static const bgeom G[] = {
    {"r20.conv1 3-16 32", 128, 3, 32, 32, 16, 3, 1, 1},
    {"r20.s1 16-16 32", 128, 16, 32, 32, 16, 3, 1, 1},
    {"r20.s2a 16-32 s2", 128, 16, 32, 32, 32, 3, 2, 1},
    {"r20.s2 32-32 16", 128, 32, 16, 16, 32, 3, 1, 1},
    {"r20.s3a 32-64 s2", 128, 32, 16, 16, 64, 3, 2, 1},
    {"r20.s3 64-64 8", 128, 64, 8, 8, 64, 3, 1, 1},
    {"mnist 1-32 28", 128, 1, 28, 28, 32, 3, 1, 1},
    {"mnist.c2 32-64 13", 128, 32, 13, 13, 64, 3, 1, 0},
    {"cifar 32-32 32", 128, 32, 32, 32, 32, 3, 1, 1},
    {"cifar 64-64 16", 128, 64, 16, 16, 64, 3, 1, 1},
    {"r18.conv1 7x7 s2", 32, 3, 224, 224, 64, 7, 2, 3},
    {"r18.l1 64-64 56", 32, 64, 56, 56, 64, 3, 1, 1},
    {"r18.l2 128 28", 32, 128, 28, 28, 128, 3, 1, 1},
    {"r18.l3a 128-256 s2", 32, 128, 28, 28, 256, 3, 2, 1},
    {"r18.l3 256 14", 32, 256, 14, 14, 256, 3, 1, 1},
    {"r18.l4 512 7", 32, 512, 7, 7, 512, 3, 1, 1},
    {"r18.ds3 1x1 s2", 32, 128, 28, 28, 256, 1, 2, 0},
    {"r50.1x1 256-64 56", 32, 256, 56, 56, 64, 1, 1, 0},
    {"r50.1x1 64-256 56", 32, 64, 56, 56, 256, 1, 1, 0},
    {"r50.1x1 512-128 28", 32, 512, 28, 28, 128, 1, 1, 0},
    {"r50.1x1 256-1024 14", 32, 256, 14, 14, 1024, 1, 1, 0},
};

/* RP_BENCH_CPUTIME=1: process CPU time instead of wall time (with 1 thread,
 * a kernel-efficiency figure that a loaded machine disturbs less). */
static clockid_t clk = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec t;
    clock_gettime(clk, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *falloc(size_t n) {
    float *p = aligned_alloc(64, ((n ? n : 1) * sizeof(float) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    return p;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    const char *only = argc > 3 ? argv[3] : NULL;
    rp_set_threads(threads);
    const char *ct = getenv("RP_BENCH_CPUTIME");
    if (ct && *ct == '1') clk = CLOCK_PROCESS_CPUTIME_ID;
    /* RP_BENCH_CONV_FWD=planes|ct|winograd|winograd4 forces one forward algorithm (default:
     * automatic) */
    const char *fa = getenv("RP_BENCH_CONV_FWD");
    if (fa && !strcmp(fa, "planes")) rp_conv_force_forward(RP_CONV_PLANES);
    if (fa && !strcmp(fa, "ct")) rp_conv_force_forward(RP_CONV_CHANNEL_TILES);
    if (fa && !strcmp(fa, "winograd")) rp_conv_force_forward(RP_CONV_WINOGRAD);
    if (fa && !strcmp(fa, "winograd4")) rp_conv_force_forward(RP_CONV_WINOGRAD4);
    /* RP_BENCH_CONV_BWD=columns: strided backward data through W^T . dy columns + col2im
     * (default: one stride-1 GEMM per output phase) */
    const char *ba = getenv("RP_BENCH_CONV_BWD");
    if (ba && !strcmp(ba, "columns")) rp_conv_force_backward_data(RP_CONV_BWD_COLUMNS);
    /* Winograd allowed in every pass, as the train stage runs them (`winograd: true`, its default;
     * GFLOP/s stay the direct form's 2*N*K*C*KH*KW*OH*OW); RP_BENCH_WINOGRAD=0: the direct forms */
    const char *wv = getenv("RP_BENCH_WINOGRAD");
    const int wino = !(wv && *wv == '0');
    const rp_conv_epilogue ep = {.winograd = wino};
    printf("(%s)\n", wino ? "passes as training runs them: Winograd where faster"
                          : "direct forms only (RP_BENCH_WINOGRAD=0)");
    printf("%-20s %9s %9s %9s   %8s %8s %8s  (ms, GFLOP/s)  threads=%d\n", "layer", "fwd ms",
           "bwd-d ms", "bwd-w ms", "fwd", "bwd-d", "bwd-w", threads);
    if (clk != CLOCK_MONOTONIC) printf("(CPU time)\n");
    for (size_t gi = 0; gi < sizeof G / sizeof G[0]; gi++) {
        const bgeom *b = &G[gi];
        if (only && !strstr(b->name, only)) continue;
        rp_conv_geom g = {.n = b->n,
                          .c = b->c,
                          .h = b->h,
                          .w = b->w,
                          .k = b->k,
                          .kh = b->kh,
                          .kw = b->kh,
                          .sh = b->s,
                          .sw = b->s,
                          .ph = b->p,
                          .pw = b->p,
                          .dh = 1,
                          .dw = 1};
        rp_conv_geom_finish(&g);
        size_t nx = (size_t)(g.n * g.c * g.h * g.w), ny = (size_t)(g.n * g.k * g.oh * g.ow);
        size_t nw = (size_t)(g.k * g.c * g.kh * g.kw);
        float *x = falloc(nx), *dx = falloc(nx), *y = falloc(ny), *dy = falloc(ny);
        float *w = falloc(nw), *dw = falloc(nw), *bias = falloc((size_t)g.k);
        float *db = falloc((size_t)g.k), *ws = falloc(rp_conv_workspace_floats(&g));
        double flops = 2.0 * (double)ny * (double)(g.c * g.kh * g.kw);
        double t[3][64];
        int r = reps < 64 ? reps : 64;
        for (int it = -1; it < r; it++) { /* it = -1: warm-up */
            double t0 = now();
            rp_conv2d_forward_ep(&g, x, w, bias, y, ws, &ep);
            double t1 = now();
            rp_conv2d_backward_data_w(&g, dy, w, dx, ws, wino);
            double t2 = now();
            rp_conv2d_backward_weight_w(&g, x, dy, dw, db, ws, wino);
            double t3 = now();
            if (it >= 0) {
                t[0][it] = t1 - t0;
                t[1][it] = t2 - t1;
                t[2][it] = t3 - t2;
            }
        }
        double med[3];
        for (int p = 0; p < 3; p++) {
            qsort(t[p], (size_t)r, sizeof(double), cmpd);
            med[p] = t[p][r / 2];
        }
        printf("%-20s %9.3f %9.3f %9.3f   %8.1f %8.1f %8.1f\n", b->name, med[0] * 1e3, med[1] * 1e3,
               med[2] * 1e3, flops / med[0] * 1e-9, flops / med[1] * 1e-9, flops / med[2] * 1e-9);
        fflush(stdout);
        free(x), free(dx), free(y), free(dy), free(w), free(dw), free(bias), free(db), free(ws);
    }
    return 0;
}
