/* runpipe — float32 tensors.
 *
 * Row-major, NCHW for images, data 64-byte aligned. A tensor either owns its
 * buffer or is a view on another's (owns == 0). Shapes are int64 like
 * PyTorch's. Kernels document shapes in comments: [N, C, H, W].
 */
#ifndef RUNPIPE_TENSOR_H
#define RUNPIPE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RP_MAX_DIMS 6
#define RP_ALIGN 64

typedef struct rp_tensor {
    float *data;                 /* 64-byte aligned; owned when owns != 0 */
    int ndim;
    int64_t shape[RP_MAX_DIMS];
    size_t numel;                /* product of shape */
    size_t cap;                  /* allocated floats (>= numel) when owned */
    int owns;
} rp_tensor;

/* Aligned allocation helpers (never NULL on success; free with rp_free). */
void *rp_alloc(size_t bytes);
void *rp_calloc(size_t bytes);
void rp_free(void *p);

/* New zero-filled tensor (transferred to caller; rp_tensor_free). */
int rp_tensor_new(rp_tensor **out, int ndim, const int64_t *shape, rp_error *err);
/* Convenience: rp_tensor_new4(&t, N, C, H, W, err), rp_tensor_new2(&t, R, C, err). */
int rp_tensor_new4(rp_tensor **out, int64_t n, int64_t c, int64_t h, int64_t w, rp_error *err);
int rp_tensor_new2(rp_tensor **out, int64_t r, int64_t c, rp_error *err);
int rp_tensor_new1(rp_tensor **out, int64_t n, rp_error *err);
void rp_tensor_free(rp_tensor *t);

/* In-place on a caller-owned struct (e.g. a member): set shape, growing the
 * buffer only when needed (so steady-state training does not allocate).
 * Contents are unspecified after a grow. */
int rp_tensor_reshape_alloc(rp_tensor *t, int ndim, const int64_t *shape, rp_error *err);
/* Release the buffer of a caller-owned struct (not the struct). */
void rp_tensor_release(rp_tensor *t);
/* Change the shape without touching data; numel must match. */
int rp_tensor_view_shape(rp_tensor *t, int ndim, const int64_t *shape, rp_error *err);
/* A non-owning view of `src`'s data with another shape (same numel). */
rp_tensor rp_tensor_view(const rp_tensor *src, int ndim, const int64_t *shape);

int rp_tensor_copy(rp_tensor *dst, const rp_tensor *src, rp_error *err); /* shapes must match */
rp_tensor *rp_tensor_clone(const rp_tensor *src);                       /* NULL on ENOMEM */
void rp_tensor_zero(rp_tensor *t);
void rp_tensor_fill(rp_tensor *t, float v);
int rp_tensor_same_shape(const rp_tensor *a, const rp_tensor *b);
/* "[128, 3, 32, 32]" into buf; returns buf. */
const char *rp_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

/* Check every element is finite; on failure says where (flat index). */
int rp_tensor_check_finite(const rp_tensor *t, const char *what, rp_error *err);

#ifdef __cplusplus
}
#endif
#endif
