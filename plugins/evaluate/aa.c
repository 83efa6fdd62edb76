/* S0's metrics: AA = mean accuracy over the evaluated sets (the raw test set
 * and the occluded one), DAA = AA(converted) - AA(baseline) in percentage
 * points (SEEDS.md, S0). */
#include "evaluate.h"

double ev_aa(const double *acc, size_t n) {
    if (n == 0) return 0.0;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += acc[i];
    return s / (double)n;
}

double ev_daa(double aa_model, double aa_baseline) { return 100.0 * (aa_model - aa_baseline); }
