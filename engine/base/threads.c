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

/* With AVX-512 the convolutions run on engine/nn/conv/conv.c's OpenMP kernels and
 * OpenBLAS serves only the linear layers' GEMMs, which split their rows
 * over the OpenMP threads with one serial OpenBLAS call each: OpenBLAS's own
 * workers would spin after every call and take the cores from the layers
 * that follow (a third of the MNIST CNN's inference time). Without
 * AVX-512 the convolutions are OpenBLAS GEMMs, threaded by OpenBLAS. */
#if defined(__AVX512F__)
#define BLAS_THREADS(n) 1
#else
#define BLAS_THREADS(n) (n)
#endif

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
