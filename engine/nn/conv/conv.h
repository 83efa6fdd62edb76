/* Convolution kernels shared by layer_conv2d.c and layer_conv_transpose2d.c.
 *
 * One place owns the speed-critical code (im2col + GEMM, 1x1 fast path,
 * direct/Winograd kernels for small-channel 3x3) so layers stay simple. All
 * functions are pure computations on caller buffers: no allocation, no
 * failure. `ws` is scratch of rp_conv_workspace_floats(g) floats, 64-byte
 * aligned (sized for up to as many threads as processors, so a later
 * rp_set_threads() never overruns it). Threading follows rp_set_threads(),
 * capped at the processor count; results are bit-identical for a fixed
 * thread count.
 * Semantics: torch.nn.functional.conv2d (cross-correlation, zero padding).
 */
#ifndef RP_ENGINE_CONV_H
#define RP_ENGINE_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "runpipe/error.h"

typedef struct rp_conv_geom {
    int64_t n, c, h, w; /* input  [N, C, H, W] */
    int64_t k, kh, kw;  /* weight [K, C, KH, KW] */
    int64_t sh, sw;     /* stride */
    int64_t ph, pw;     /* zero padding (each side) */
    int64_t dh, dw;     /* dilation */
    int64_t oh, ow;     /* output [N, K, OH, OW]; filled by rp_conv_geom_finish */
} rp_conv_geom;

/* Compute oh/ow (PyTorch's formula); returns 0 if the output would be empty. */
int rp_conv_geom_finish(rp_conv_geom *g);

/* Scratch floats needed by any of the three passes for this geometry. */
size_t rp_conv_workspace_floats(const rp_conv_geom *g);

/* The calling thread's scratch, grown to at least `floats` floats (64-byte
 * aligned, contents undefined): one buffer shared by every convolution a
 * thread runs, since they run one at a time (a model's layers would
 * otherwise each keep their own: 330 MB for ResNet-18 at batch 32). Valid
 * until the same thread asks again; freed when the thread exits. Borrowed;
 * NULL when out of memory. */
float *rp_conv_scratch(size_t floats);

/* For a layer's pass over a batch of n: sets g->n and returns the thread's
 * scratch sized for g (borrowed), or NULL with err set. */
float *rp_conv_prepare(rp_conv_geom *g, int64_t n, rp_error *err);

/* y[N,K,OH,OW] = conv(x[N,C,H,W], w[K,C,KH,KW]) + b[K]   (b may be NULL; y overwritten) */
void rp_conv2d_forward(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                       float *y, float *ws);

/* Epilogue fused into the forward store (eval-mode conv -> batchnorm
 * [-> add] -> relu folding):
 *   y = act(scale[k] * (conv + b[k]) + shift[k] + residual[n, k, oy, ox]).
 * scale / shift / residual may be NULL (1 / 0 / 0); relu != 0 applies
 * max(0, .). residual may not alias y. */
typedef struct rp_conv_epilogue {
    const float *scale;    /* [K], borrowed */
    const float *shift;    /* [K], borrowed */
    const float *residual; /* [N, K, OH, OW], borrowed */
    int relu;
    /* allow Winograd F(4x4, 3x3) or F(2x2, 3x3) where it is faster: eval
     * forwards, and training forwards where the model allows it
     * (rp_model_set_winograd; the train stage's `winograd`). Its rounding
     * is larger than the direct form's (F(4x4): up to 3.7e-6 of the summed
     * term magnitudes in test_conv, the direct form within 2e-6), which
     * training-mode batch norm over very small batches amplifies: models
     * default to the direct form in training. */
    int winograd;
} rp_conv_epilogue;

/* rp_conv2d_forward followed by the epilogue (ep borrowed; NULL = none, and
 * no Winograd). */
void rp_conv2d_forward_ep(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                          float *y, float *ws, const rp_conv_epilogue *ep);

/* Forward algorithm (tests and benchmarks force one; default AUTO picks per
 * geometry; WINOGRAD (F(2x2, 3x3)) and WINOGRAD4 (F(4x4, 3x3)) apply to 3x3
 * stride-1 undilated kernels with padding <= 2, the others run as AUTO).
 * Process-wide, not thread-safe: set it before running. */
enum { RP_CONV_AUTO, RP_CONV_PLANES, RP_CONV_CHANNEL_TILES, RP_CONV_WINOGRAD, RP_CONV_WINOGRAD4 };
void rp_conv_force_forward(int algo);

/* Reductions are cut into chunks fixed by the shapes, so results do not
 * depend on the thread count. on != 0 brings back the splits by thread count
 * that preceded this (the weight gradient's batch in 4 groups per thread, the
 * linear layers' backward GEMMs in one row block per thread), whose results
 * differ between thread counts: `make bench` measures what determinism costs
 * against them. Process-wide, not thread-safe: set it before running. */
void rp_conv_force_thread_split(int on);
int rp_conv_thread_split(void);

/* Backward-data algorithm: AUTO runs strided undilated kernels as one
 * stride-1 GEMM per output phase, and stride-1 kernels with 128+ input and
 * 64+ output channels on maps up to 14x14 as a channel-tiled forward
 * convolution of dy; COLUMNS brings back the former paths (W^T . dy
 * columns + col2im; stride-1 plane GEMM) so tests and `make bench` can
 * compare them. Process-wide, not thread-safe: set it before running. */
enum { RP_CONV_BWD_AUTO, RP_CONV_BWD_COLUMNS };
void rp_conv_force_backward_data(int algo);

/* dx[N,C,H,W] = conv_transpose(dy[N,K,OH,OW], w)          (dx overwritten) */
void rp_conv2d_backward_data(const rp_conv_geom *g, const float *dy, const float *w, float *dx,
                             float *ws);
/* The same; winograd != 0 allows Winograd for 3x3 stride-1
 * undilated kernels where the forward would take it for the transposed
 * geometry (training passes that accept its rounding; see
 * rp_conv_epilogue.winograd). */
void rp_conv2d_backward_data_w(const rp_conv_geom *g, const float *dy, const float *w, float *dx,
                               float *ws, int winograd);

/* dw[K,C,KH,KW] += corr(x, dy); db[K] += sum(dy) over N,OH,OW  (db may be NULL) */
void rp_conv2d_backward_weight(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                               float *db, float *ws);
/* The same; winograd != 0 allows Winograd F(2x2, 3x3) for 3x3 stride-1
 * undilated kernels where measured faster (training passes that accept its
 * rounding; see rp_conv_epilogue.winograd). */
void rp_conv2d_backward_weight_w(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                                 float *db, float *ws, int winograd);

/* C[M, N] = op(A) . op(B) + beta C with op(A) = A [M, K] or A^T (ta, A is
 * [K, M]) and op(B) = B [K, N] or B^T (tb, B is [N, K]), in column blocks of
 * C fixed by N alone (at least 64 columns, multiples of 16), one serial
 * OpenBLAS call per block, the blocks spread over the OpenMP threads. Every
 * element of C is one reduction over K in a call whose shape does not depend
 * on the thread count, so C is the same bytes on any number of threads
 * (OpenBLAS's own threading splits M and N by the thread count, and its edge
 * kernels sum in another order). OpenBLAS is always serial (base/threads.c). */
void rp_sgemm_cols(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* The same three passes as plain per-image im2col + cblas_sgemm (+ col2im):
 * the portable path (used when AVX-512 is unavailable), kept callable so tests
 * and benchmarks can compare against it. Same semantics and workspace. */
void rp_conv2d_forward_gemm(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                            float *y, float *ws);
void rp_conv2d_backward_data_gemm(const rp_conv_geom *g, const float *dy, const float *w, float *dx,
                                  float *ws);
void rp_conv2d_backward_weight_gemm(const rp_conv_geom *g, const float *x, const float *dy,
                                    float *dw, float *db, float *ws);

#endif
