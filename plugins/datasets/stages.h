/* datasets plugin — stage run functions and loaders (internal; plugin tests
 * call the loaders directly). */
#ifndef RP_DS_STAGES_H
#define RP_DS_STAGES_H

#include "dsutil.h"

int ds_run_idx(rp_stage *st, rp_error *err);
int ds_run_cifar10(rp_stage *st, rp_error *err);
int ds_run_cifar100(rp_stage *st, rp_error *err);
int ds_run_folder(rp_stage *st, rp_error *err);
int ds_run_csv(rp_stage *st, rp_error *err);
int ds_run_segmentation(rp_stage *st, rp_error *err);
int ds_run_split(rp_stage *st, rp_error *err);
int ds_run_concat(rp_stage *st, rp_error *err);
int ds_run_filter(rp_stage *st, rp_error *err);
int ds_run_synthetic(rp_stage *st, rp_error *err);

/* IDX pair (images idx3 ubyte + labels idx1 ubyte, raw or gzipped) into m;
 * limit 0 = all; labels must be < num_classes. */
int idx_load(const char *images, const char *labels, uint64_t limit, int num_classes, memds *m,
             rp_error *err);
/* data.csv / data.segmentation without a stage: params with defaults filled
 * (schemas/data.csv.yaml, data.segmentation.yaml); *out transferred. */
int csv_load(const rp_node *p, int threads, rp_dataset **out, uint64_t *skipped, rp_error *err);
int seg_load(const rp_node *p, rp_dataset **out, rp_error *err);
/* CIFAR binary files: record = label bytes (1 for CIFAR-10; coarse, fine for
 * CIFAR-100) + 3072 pixel bytes. label_byte selects which label byte. */
int cifar_load(const char *const *files, int n_files, int label_bytes, int label_byte,
               int num_classes, uint64_t limit, memds *m, rp_error *err);

#endif
