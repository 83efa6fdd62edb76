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
int rp_pbufs_save(const rp_pbufs *b, rp_model *m, rp_state *out, rp_error *err);
int rp_pbufs_load(rp_pbufs *b, rp_model *m, const rp_state *in, rp_error *err);
/* Weight decay for param p under the `decay_norm_and_bias` option. */
double rp_optim_decay(const rp_param *p, double wd, int decay_norm_and_bias);

/* The model an optimizer was created for (checked at every step). */
typedef struct rp_optim_common {
    rp_model *model;
    double wd;
    int decay_nb;
} rp_optim_common;

#endif
