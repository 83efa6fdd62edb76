/* Internal helpers shared by the optimizer files (optim_*.c). */
#ifndef RP_ENGINE_OPTIM_IMPL_H
#define RP_ENGINE_OPTIM_IMPL_H

#include "runpipe/runpipe.h"

/* Per-parameter state buffers, indexed like rp_model_param(m, i). A buffer is
 * NULL until the optimizer first updates that parameter (PyTorch creates its
 * state lazily too). */
typedef struct rp_pbufs {
    size_t n;              /* model params at creation */
    int nb;                /* buffers per param */
    const char *const *names; /* nb names: "exp_avg", ... (static) */
    rp_tensor **buf;       /* n * nb */
    double *step;          /* n: per-parameter step count */
} rp_pbufs;

int rp_pbufs_init(rp_pbufs *b, rp_model *m, int nb, const char *const *names, rp_error *err);
void rp_pbufs_release(rp_pbufs *b);
/* Buffer k of param i, created zero-filled with the param's shape on demand. */
rp_tensor *rp_pbufs_get(rp_pbufs *b, rp_model *m, size_t i, int k, rp_error *err);
/* Save as "<name>.<param>" tensors and "step.<param>" scalars; load back
 * (a buffer absent from the state stays uninitialised). */
int rp_pbufs_save(const rp_pbufs *b, rp_model *m, rp_st *out, rp_error *err);
int rp_pbufs_load(rp_pbufs *b, rp_model *m, const rp_st *in, rp_error *err);
/* Weight decay for param p under the `decay_norm_and_bias` option. */
double rp_optim_decay(const rp_param *p, double wd, int decay_norm_and_bias);

/* Every optimizer's state struct starts with this, so a state pointer is
 * also a pointer to its rp_optim_common. */
typedef struct rp_optim_common {
    rp_model *model;  /* borrowed: the model it was created for (checked at every step) */
    double wd;        /* weight_decay */
    int decay_nb;     /* decay_norm_and_bias */
    rp_pbufs b;       /* per-parameter state buffers */
} rp_optim_common;

/* A zeroed state of `size` bytes (a struct starting with rp_optim_common)
 * for model m: weight_decay (fallback wd_def), decay_norm_and_bias, and nb
 * buffers per parameter named `names` (static). Owned by the caller (free
 * with rp_optim_destroy); NULL with err set when out of memory. */
void *rp_optim_new(size_t size, const rp_node *params, rp_model *m, int nb,
                   const char *const *names, rp_error *err);
/* Error unless m is the model (with the same parameters) the state was made for. */
int rp_optim_check_model(const rp_optim_common *c, const rp_model *m, rp_error *err);
/* rp_optimizer_ops.save / .load / .destroy for states starting with
 * rp_optim_common (all their state lives in its buffers). */
int rp_optim_save(const void *state, rp_st *out, rp_error *err);
int rp_optim_load(void *state, const rp_st *in, rp_error *err);
void rp_optim_destroy(void *state);

#endif
