/* Internal helpers shared by the layer files (engine/layer_*.c) and the
 * architecture builders (engine/arch_*.c). Not part of the public API. */
#ifndef RP_ENGINE_LAYER_H
#define RP_ENGINE_LAYER_H

#include <stdint.h>

#include "runpipe/runpipe.h"

/* Read `key` as one integer ("kernel: 3") or a pair ("kernel: [3, 5]") into
 * out[2]; `def` when absent (def < 0 = required). Values must be >= minv. */
int rp_opt_pair(const rp_layer *l, const rp_node *opts, const char *key, int64_t def, int64_t minv,
                int64_t out[2], rp_error *err);
/* Error unless input `i` has `ndim` dimensions. */
int rp_layer_need_ndim(const rp_layer *l, int i, const rp_tensor *in, int ndim, rp_error *err);
/* Copy input shape i into out_shape. */
void rp_layer_copy_shape(const rp_tensor *in, int64_t *out_shape, int *out_ndim);

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
void rp_bn_destroy(rp_layer *l);

/* Parallel loops over element-wise work: only worth threads above this. */
#define RP_PAR_MIN 32768

#endif
