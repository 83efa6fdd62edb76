/* The `inspect` plugin: look at artifacts without changing them. */
#ifndef RP_INSPECT_H
#define RP_INSPECT_H

#include "runpipe/runpipe.h"

/* Per-class counts and per-channel statistics of a dataset. */
int inspect_run_dataset(rp_stage *st, rp_error *err);
/* Print and re-export metrics (one or several). */
int inspect_run_metrics(rp_stage *st, rp_error *err);

/* Accumulated per-channel statistics (exposed for tests). Sums are kept in
 * double per channel; pixels counts every value seen. */
typedef struct inspect_stats {
    int channels;
    double sum[16], sumsq[16], min[16], max[16];
    uint64_t pixels[16];
} inspect_stats;

void inspect_stats_init(inspect_stats *s);
/* Add one [C, H, W] image; error when C differs from earlier images or > 16. */
int inspect_stats_add(inspect_stats *s, const rp_tensor *img, rp_error *err);
/* Mean and population std (over all pixels, as for transforms' normalize). */
void inspect_stats_result(const inspect_stats *s, int c, double *mean, double *std);

#endif
