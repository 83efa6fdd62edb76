/* One thread setting for OpenBLAS and OpenMP (DESIGN §7: never two pools
 * competing for the same cores). The thread count changes speed only, never a
 * result: every parallel reduction is cut into chunks fixed by the shapes and
 * combined in a fixed order (tests/unit/test_determinism.c trains on 1-4
 * threads and compares the weights byte for byte). */
#include <cblas.h>
#include <omp.h>

#include "runpipe/nn.h"

/* OpenBLAS (pthread build) exports these; declared here in case <cblas.h>
 * comes from another implementation. */
void openblas_set_num_threads(int num_threads);

static int g_threads = 0;

/* OpenBLAS is always serial: its own threading splits a GEMM by the thread
 * count (and its workers spin after every call, taking the cores from the
 * layers that follow). The GEMMs that remain (linear layers; the portable
 * convolution path without AVX-512) run in column blocks fixed by their
 * shapes, one serial call per block, spread over the OpenMP threads
 * (rp_sgemm_cols in nn/conv/conv.c). */
#define BLAS_THREADS(n) 1

static int g_blas_threads = 0;

void rp_set_threads(int n) {
    if (n < 1) n = 1;
    g_threads = n;
    g_blas_threads = BLAS_THREADS(n);
    openblas_set_num_threads(g_blas_threads);
    omp_set_num_threads(n);
}

int rp_blas_threads(void) {
    if (g_blas_threads < 1) rp_set_threads(rp_get_threads());
    return g_blas_threads;
}

int rp_get_threads(void) {
    if (g_threads < 1) return omp_get_max_threads();
    return g_threads;
}
