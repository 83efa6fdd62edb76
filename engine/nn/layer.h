/* Internal helpers shared by the layer files (engine/layer_*.c) and the
 * architecture builders (engine/arch_*.c). Not part of the public API. */
#ifndef RP_ENGINE_LAYER_H
#define RP_ENGINE_LAYER_H

#include <stdint.h>

#include "runpipe/runpipe.h"

/* Read `key` of schema-validated options (default filled, minimum checked)
 * as one integer ("kernel: 3") or a pair ("kernel: [3, 5]") into out[2]; an
 * absent or malformed value is an internal error. */
int rp_opt_pair(const rp_layer *l, const rp_node *opts, const char *key, int64_t out[2],
                rp_error *err);
/* Error unless input `i` has `ndim` dimensions. */
int rp_layer_need_ndim(const rp_layer *l, int i, const rp_tensor *in, int ndim, rp_error *err);
/* Copy input shape i into out_shape. */
void rp_layer_copy_shape(const rp_tensor *in, int64_t *out_shape, int *out_ndim);
/* rp_layer_ops.destroy for a layer whose state is one malloc'd block (or NULL). */
void rp_layer_free_state(rp_layer *l);

/* ---- initialisation (deterministic: stream keyed by seed + tensor name) --- */
void rp_init_uniform(rp_tensor *t, double bound, uint64_t seed, const char *name);
void rp_init_normal(rp_tensor *t, double std, uint64_t seed, const char *name);
/* torch.nn.Conv2d / Linear reset_parameters(): kaiming_uniform_(a=sqrt(5))
 * gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)); bias the same bound. Params named
 * "<layer>.weight" and optionally "<layer>.bias". */
int rp_init_default_wb(rp_layer *l, int64_t fan_in, uint64_t seed, rp_error *err);
/* Parameter of a layer by short name ("weight"); NULL when absent. */
rp_param *rp_layer_param(rp_layer *l, const char *pname);

/* ---- batch norm kernels shared by batchnorm1d / batchnorm2d -------------- */
/* x viewed as [N, C, S] (S = spatial size, 1 for [N, C]). */
int rp_bn_create(rp_layer *l, const rp_node *opts, int64_t c, rp_error *err);
int rp_bn_forward(rp_layer *l, const rp_run_ctx *ctx, const rp_tensor *x, rp_tensor *y,
                  int64_t n, int64_t c, int64_t s, rp_error *err);
int rp_bn_backward(rp_layer *l, const rp_run_ctx *ctx, const rp_tensor *x, const rp_tensor *dy, rp_tensor *dx,
                   int64_t n, int64_t c, int64_t s, rp_error *err);
int rp_bn_init(rp_layer *l, uint64_t seed, rp_error *err);
/* The running model's rp_model_set_stat_sync (NULL = none): set by the
 * graph at the start of every forward and backward pass. */
extern _Thread_local const rp_stat_sync *rp_bn_sync_cur;
void rp_bn_destroy(rp_layer *l);

/* ---- average pooling shared by avgpool2d / adaptive_avgpool2d ------------- */
/* Which input window feeds output cell (oy, ox) of an [H, W] → [OH, OW] plane. */
typedef struct rp_pool_window {
    int adaptive;      /* 1: AdaptiveAvgPool2d cells, rows [floor(oy*H/OH), ceil((oy+1)*H/OH))
                        * (columns alike), divided by the cell size; k, s, p unused */
    int64_t k[2], s[2], p[2]; /* else kernel/stride/zero padding, clipped to the input */
    int include_pad;   /* kernel window: divide by KH*KW, not by the clipped size */
} rp_pool_window;
/* x [N, C, H, W] → y [N, C, OH, OW] (shapes set by the caller); borrowed. */
void rp_avgpool_forward(const rp_pool_window *win, const rp_tensor *x, rp_tensor *y);
/* dy [N, C, OH, OW] → dx [N, C, H, W] (overwritten); borrowed. */
void rp_avgpool_backward(const rp_pool_window *win, const rp_tensor *dy, rp_tensor *dx);

/* Threads OpenBLAS itself uses (engine/base/threads.c): 1 when callers split
 * their GEMMs over the OpenMP threads themselves. */
int rp_blas_threads(void);

/* Parallel loops over element-wise work: only worth threads above this. */
#define RP_PAR_MIN 32768

/* y[j] = x[j] * sc + sh, then relu's x > 0 ? x : 0 when relu, over n floats
 * (y may be x): batch norm's normalisation and the epilogues folded into it
 * or into add, in one order of operations so their bits agree. */
void rp_row_affine(const float *x, float *y, int64_t n, float sc, float sh, int relu);

/* ---- pass-through layers (identity, flatten; engine/nn/layers/eltwise.c) ------- */
/* Output = the input's data (in any shape of the same size); gradient = dout. */
int rp_layer_copy_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                          rp_tensor *out, rp_error *err);
int rp_layer_copy_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                           const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                           rp_error *err);

/* ---- element-wise activations (engine/nn/layers/eltwise.c) -------------------- */
/* An activation file writes only its math:
 *   RP_ELTWISE_LAYER(relu, x > 0.0f ? x : 0.0f, y > 0.0f ? d : 0.0f, NULL, RP_LAYER_INPLACE, "{}")
 *   RP_COMPONENT(RP_COMP_LAYER, "relu", "...", relu_ops)
 * FWD is y as an expression of x; BWD is dL/dx as an expression of x (input),
 * y (output), d (dL/dy). Both may use `a`, the layer's one float option PARAM
 * (NULL = none, then a = 0; its default is in the layer's schema). A layer flagged
 * RP_LAYER_INPLACE may see x overwritten by y, so its BWD must not use x.
 * Any shape; loops run parallel above RP_PAR_MIN elements. */
int rp_eltwise_create(rp_layer *l, const rp_node *opts, const char *param,
                      const rp_tensor *in, int64_t *out_shape, int *out_ndim, rp_error *err);
/* The option value (0 when the layer has none). */
float rp_eltwise_param(const rp_layer *l);

#define RP_ELTWISE_LAYER(NAME, FWD, BWD, PARAM, FLAGS, EXAMPLE_OPTS)                          \
    static int NAME##_create(rp_layer *l, const rp_node *opts, int n_in,                             \
                             const rp_tensor *const *in, int64_t *out_shape, int *out_ndim,          \
                             rp_error *err) {                                                        \
        (void)n_in;                                                                                  \
        return rp_eltwise_create(l, opts, PARAM, in[0], out_shape, out_ndim, err);             \
    }                                                                                                \
    static int NAME##_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in,                          \
                              const rp_tensor *const *in, rp_tensor *out, rp_error *err) {           \
        (void)ctx, (void)n_in, (void)err;                                                            \
        const float a = rp_eltwise_param(l);                                                         \
        const float *xs = in[0]->data;                                                               \
        float *ys = out->data;                                                                       \
        int64_t n = (int64_t)in[0]->numel;                                                           \
        _Pragma("omp parallel for simd schedule(static) if (n > RP_PAR_MIN)")                        \
        for (int64_t i = 0; i < n; i++) {                                                            \
            float x = xs[i];                                                                         \
            (void)a;                                                                                 \
            ys[i] = (FWD);                                                                           \
        }                                                                                            \
        return RP_OK;                                                                                \
    }                                                                                                \
    static int NAME##_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in,                         \
                               const rp_tensor *const *in, const rp_tensor *out,                     \
                               const rp_tensor *dout, rp_tensor *const *din, rp_error *err) {        \
        (void)ctx, (void)n_in, (void)err;                                                            \
        if (!din[0]) return RP_OK;                                                                   \
        const float a = rp_eltwise_param(l);                                                         \
        const float *xs = in[0]->data, *ys = out->data, *ds = dout->data;                            \
        float *o = din[0]->data;                                                                     \
        int64_t n = (int64_t)in[0]->numel;                                                           \
        _Pragma("omp parallel for simd schedule(static) if (n > RP_PAR_MIN)")                        \
        for (int64_t i = 0; i < n; i++) {                                                            \
            float x = xs[i], y = ys[i], d = ds[i];                                                   \
            (void)x, (void)y, (void)a;                                                               \
            o[i] = (BWD);                                                                            \
        }                                                                                            \
        return RP_OK;                                                                                \
    }                                                                                                \
    static const struct rp_layer_ops NAME##_ops = {                                                  \
        .create = NAME##_create,                                                                     \
        .forward = NAME##_forward,                                                                   \
        .backward = NAME##_backward,                                                                 \
        .destroy = rp_layer_free_state,                                                               \
        .example_opts = EXAMPLE_OPTS,                                                                \
        .example_inputs = "[2,3,4,5]",                                                               \
        .min_inputs = 1,                                                                             \
        .max_inputs = 1,                                                                             \
        .flags = FLAGS,                                                                              \
    };

#endif
