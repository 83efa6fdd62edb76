/* Numerically stable softmax / log-softmax over rows of [rows, C]
 * (max subtracted before exp; accumulations in double). */
#include <math.h>

#include "runpipe/loss.h"

void rp_softmax_rows(const float *x, float *y, int64_t rows, int64_t c) {
#pragma omp parallel for schedule(static) if (rows * c > 65536)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        float m = -INFINITY;
        for (int64_t j = 0; j < c; j++)
            if (xr[j] > m) m = xr[j];
        if (!isfinite(m)) m = 0.0f;
        double s = 0.0;
        for (int64_t j = 0; j < c; j++) {
            float e = expf(xr[j] - m);
            yr[j] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (int64_t j = 0; j < c; j++) yr[j] *= inv;
    }
}

void rp_log_softmax_rows(const float *x, float *y, int64_t rows, int64_t c) {
#pragma omp parallel for schedule(static) if (rows * c > 65536)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        float m = -INFINITY;
        for (int64_t j = 0; j < c; j++)
            if (xr[j] > m) m = xr[j];
        if (!isfinite(m)) m = 0.0f;
        double s = 0.0;
        for (int64_t j = 0; j < c; j++) s += exp((double)(xr[j] - m));
        float ls = (float)log(s);
        for (int64_t j = 0; j < c; j++) yr[j] = (xr[j] - m) - ls;
    }
}
