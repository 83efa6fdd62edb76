/* Internal to the convolution kernels: helpers conv.c shares with
 * conv_avx512.c. */
#ifndef RP_CONV_IMPL_H
#define RP_CONV_IMPL_H

#include "nn/conv/conv.h"

/* 1x1, stride 1, no padding: the GEMM path needs no column matrix. */
int rp_conv_is_pointwise(const rp_conv_geom *g);
/* Floats of one image's column matrix [C*KH*KW, OH*OW] (0 when pointwise). */
size_t rp_conv_gemm_workspace_floats(const rp_conv_geom *g);
/* dx[C, H, W] += col2im(col[C*KH*KW, OH*OW]) for one image. */
void rp_conv_col2im(const rp_conv_geom *g, const float *col, float *dx);

#endif
