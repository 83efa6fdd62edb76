/* runpipe model plugin — internal interface shared by the stage files
 * (build.c, load.c, save.c) and plugin.c, and called directly by the plugin's
 * tests (tests/plugins/model/). */
#ifndef RP_PLUGIN_MODEL_STAGES_H
#define RP_PLUGIN_MODEL_STAGES_H

#include <stddef.h>
#include <stdint.h>

#include "runpipe/runpipe.h"

/* Stage entry points (struct rp_stage_def.run). */
int model_build_run(rp_stage *st, rp_error *err);
int model_load_run(rp_stage *st, rp_error *err);
int model_save_run(rp_stage *st, rp_error *err);

/* The whole of model.build without a stage context: build a model from the
 * validated params `p` (borrowed; schemas/model.build.yaml), initialising
 * deterministically from (seed, stage_id). `dirs` (borrowed NULL-terminated
 * list, may be NULL) are where a relative `pretrained:` path is also looked
 * for (the pipeline file's folder, the run folder). Logs the load report and a one-line summary via rp_info.
 * *out transferred. */
int model_build_from_params(const rp_node *p, uint64_t seed, const char *stage_id,
                            const char *const *dirs, rp_model **out, rp_error *err);

/* SEEDS S1: two learned 3x3 'same' convolutions 1 -> 3 -> 3 (adapter.0,
 * adapter.1, initialised from `seed`) in front of a 3-channel model, which
 * then takes 1-channel input (gray_adapter.c). RP_ERR_INVALID when the model
 * does not take 3 channels or already has an adapter. */
int model_prepend_gray_adapter(rp_model *m, uint64_t seed, rp_error *err);

/* Seed for one purpose ("init", "head", "gray_adapter") of a stage, derived
 * from the run's root seed by the counter-based RNG (DESIGN §8). */
uint64_t model_stage_seed(uint64_t seed, const char *stage_id, const char *purpose);

/* Resolve a user-given input file: as given when it exists, else relative to
 * the first of `dirs` (borrowed NULL-terminated list, may be NULL) where it
 * exists. Writes into buf (size bytes); returns buf. */
const char *model_resolve_path(const char *path, const char *const *dirs, char *buf, size_t size);

/* The search list for a stage: the pipeline file's folder and the run
 * folder (so `path: save/model.safetensors` finds an earlier stage's file).
 * `store` holds the strings; dirs[] is filled and NULL-terminated. */
void model_stage_dirs(rp_stage *st, char store[2][1024], const char *dirs[3]);

/* Folder of the YAML file the node came from ("" when unknown) into buf. */
const char *model_node_dir(const rp_node *n, char *buf, size_t size);

/* "1,199,882" into buf; returns buf. */
const char *model_fmt_count(size_t v, char *buf, size_t size);

/* One-line description: "mnist_cnn: 1,199,882 params (1,199,882 trainable),
 * input [1, 28, 28], 10 classes". */
void model_summary(const rp_model *m, const char *what, char *buf, size_t size);

#endif
