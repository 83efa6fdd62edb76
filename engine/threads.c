/* One thread setting for OpenBLAS and OpenMP (DESIGN §7: never two pools
 * competing for the same cores). */
#include <cblas.h>
#include <omp.h>

#include "runpipe/nn.h"

/* OpenBLAS (pthread build) exports these; declared here in case <cblas.h>
 * comes from another implementation. */
void openblas_set_num_threads(int num_threads);

static int g_threads = 0;

void rp_set_threads(int n) {
    if (n < 1) n = 1;
    g_threads = n;
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
}

int rp_get_threads(void) {
    if (g_threads < 1) return omp_get_max_threads();
    return g_threads;
}
