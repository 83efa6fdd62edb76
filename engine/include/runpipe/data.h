/* runpipe — datasets, samples, transforms and the batch loader.
 *
 * A dataset is a lazy, thread-safe source of samples: get(i) decodes sample i.
 * Datasets store compact data (uint8) and hand out float images in [0, 1]
 * ([C, H, W]); `normalize` is just another transform. A transformed dataset is
 * a view: parent + transform chain + the key of its random stream, so sample
 * i at epoch e always gets the same augmentation (DESIGN §8).
 */
#ifndef RUNPIPE_DATA_H
#define RUNPIPE_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "node.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One sample. Buffers belong to the sample and are reused between get()
 * calls (grown on demand), so a worker decodes without allocating. */
typedef struct rp_mask {
    int32_t *data;        /* [H, W] class ids (owned), NULL for classification */
    int64_t h, w;
    size_t cap;
} rp_mask;

typedef struct rp_sample {
    rp_tensor img;        /* [C, H, W] float; owned buffer (owns = 1) */
    rp_mask mask;         /* segmentation target, or data == NULL */
    int32_t label;        /* class id, -1 when none */
    int32_t domain;       /* domain id, -1 when none */
    uint64_t index;       /* index within the dataset asked */
    rp_tensor work;       /* scratch for transforms (owned, reused): a geometric
                             transform writes its output here and swaps it
                             with img, so no allocation per sample */
    rp_mask work_mask;    /* same for the mask */
} rp_sample;

void rp_sample_init(rp_sample *s);
void rp_sample_release(rp_sample *s);       /* frees buffers, not the struct */
int rp_sample_resize(rp_sample *s, int64_t c, int64_t h, int64_t w, rp_error *err);
int rp_mask_resize(rp_mask *m, int64_t h, int64_t w, rp_error *err);

enum rp_task { RP_TASK_CLASSIFY = 0, RP_TASK_SEGMENT = 1 };

/* Per-call draw context: which epoch this sample is drawn for (random
 * transforms key their streams by it). */
typedef struct rp_draw {
    uint64_t epoch;
} rp_draw;

typedef struct rp_dataset rp_dataset;

struct rp_dataset_ops {
    /* Decode sample i into `out` (thread-safe; `out` is the caller's). */
    int (*get)(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
               rp_error *err);
    /* Label of sample i without decoding (for splits, stratification,
     * balanced sampling); -1 when unknown. */
    int32_t (*label)(const rp_dataset *ds, uint64_t i);
    /* Domain of sample i without decoding, -1 when none. May be NULL. */
    int32_t (*domain)(const rp_dataset *ds, uint64_t i);
    /* Free impl (not the parent: parents are owned by the store). */
    void (*destroy)(rp_dataset *ds);
};

/* Where sample i comes from, for messages: "train.csv: row 12, image
 * 'img/a.png'", "t10k-images-idx3-ubyte: image 5". Writes buf and returns 1,
 * or 0 when unknown. */
typedef int (*rp_dataset_where_fn)(const rp_dataset *ds, uint64_t i, char *buf, size_t n);
/* Attach a where function to an ops table (kept beside it rather than in
 * struct rp_dataset_ops, whose size plugins compile in). Idempotent; `ops`
 * borrowed and must outlive its datasets. */
void rp_dataset_ops_set_where(const struct rp_dataset_ops *ops, rp_dataset_where_fn fn);
/* The where function of ds's ops, or NULL. */
rp_dataset_where_fn rp_dataset_where_of(const rp_dataset *ds);

struct rp_dataset {
    const struct rp_dataset_ops *ops;
    void *impl;
    char name[128];       /* "fashion_mnist/train", shown in messages */
    uint64_t size;
    int channels, height, width; /* of get()'s output; 0 = varies per sample.
                                    When all three are set every sample must
                                    have this shape: the loader then writes
                                    rows straight into the batch and reports
                                    a sample that differs. */
    int task;             /* enum rp_task */
    int num_classes;
    char **class_names;   /* owned, num_classes entries */
    int num_domains;
    char **domain_names;  /* owned, num_domains entries (may be NULL) */
};

/* Allocate a dataset with `ops`/`impl`; copies class names. Owned by caller
 * until handed to rp_stage_output. */
rp_dataset *rp_dataset_new(const struct rp_dataset_ops *ops, void *impl, const char *name,
                           uint64_t size, int num_classes, const char *const *class_names);
int rp_dataset_set_classes(rp_dataset *ds, int n, const char *const *names, rp_error *err);
int rp_dataset_set_domains(rp_dataset *ds, int n, const char *const *names, rp_error *err);
/* Frees the dataset via ops->destroy, then names and struct. */
void rp_dataset_free(rp_dataset *ds);
int rp_dataset_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                   rp_error *err);
/* "NAME: sample I (WHERE)" into buf (WHERE from ops->where when the dataset
 * knows it); returns buf. For messages about one sample. */
const char *rp_dataset_where(const rp_dataset *ds, uint64_t i, char *buf, size_t n);
/* Label / domain of sample i without decoding (-1 when unknown or out of
 * range). */
int32_t rp_dataset_label(const rp_dataset *ds, uint64_t i);
int32_t rp_dataset_domain(const rp_dataset *ds, uint64_t i);
/* Copy class names, domain names, geometry and task of `src` (borrowed) into
 * `dst` (views and subsets describe the same samples as their parent). */
int rp_dataset_copy_meta(rp_dataset *dst, const rp_dataset *src, rp_error *err);

/* ---- transforms -------------------------------------------------------------- */

struct rp_transform_ops {
    /* Build from validated params (defaults filled); *state transferred. */
    int (*create)(const rp_node *params, void **state, rp_error *err);
    /* Apply in place; may change the image size (crop, resize) and must apply
     * geometric changes to s->mask as well. `state` is shared read-only
     * across threads; draw randomness only from `rng`. */
    int (*apply)(const void *state, rp_sample *s, rp_rng *rng, rp_error *err);
    void (*destroy)(void *state);
    /* Output geometry for an input geometry (0 = unknown), may be NULL when
     * the transform keeps it. */
    void (*out_shape)(const void *state, int *c, int *h, int *w);
    /* Erasing transforms (may be NULL): the number of pixels one application
     * erases on an H x W image, with the boxes drawn from `rng` as `apply`
     * draws them but without an image; *applied = 0 when the transform's
     * own coin said no; -1 when out of memory. augment.stats samples millions
     * of draws with it; a transform without it is measured on a constant
     * image instead. Added in ABI 4. */
    int64_t (*erased_area)(const void *state, int64_t H, int64_t W, rp_rng *rng, int *applied);
};

/* A parsed list of transform specs (`[{hflip: {p: 0.5}}, normalize, ...]`). */
typedef struct rp_transform_chain rp_transform_chain;
int rp_transform_chain_new(const rp_node *list, rp_transform_chain **out, rp_error *err);
void rp_transform_chain_free(rp_transform_chain *c);
/* Apply all transforms with streams keyed (seed, stream, epoch, s->index). */
int rp_transform_chain_apply(const rp_transform_chain *c, rp_sample *s, uint64_t seed,
                             uint64_t stream, uint64_t epoch, rp_error *err);

/* A view of `parent` (borrowed, must outlive the view) whose samples pass
 * through `chain` (transferred). `stream` keys the randomness, normally
 * rp_hash_str(stage id). Result owned by caller. */
int rp_dataset_transformed(const rp_dataset *parent, rp_transform_chain *chain, uint64_t seed,
                           uint64_t stream, const char *name, rp_dataset **out, rp_error *err);
/* A view of parent restricted to indices idx[0..n) (copied). */
int rp_dataset_subset(const rp_dataset *parent, const uint64_t *idx, uint64_t n, const char *name,
                      rp_dataset **out, rp_error *err);

/* Number of transforms in a chain, and the i-th one's name (borrowed). */
size_t rp_transform_chain_len(const rp_transform_chain *c);
const char *rp_transform_chain_name(const rp_transform_chain *c, size_t i);
/* Geometry after the chain for an input geometry (0 = unknown / varies). */
void rp_transform_chain_out_shape(const rp_transform_chain *c, int *ch, int *h, int *w);

/* Random Erasing's box sampling (Zhong et al. 2020; torchvision
 * RandomErasing.get_params): up to `attempts` tries of an area fraction
 * s ~ U(scale) and a log-uniform aspect ratio r in `ratio`
 * (log_ratio = 1 for the paper's uniform r ~ U(r_1, 1/r_1)); box
 * h = round(sqrt(s*H*W*r)), w = round(sqrt(s*H*W/r)), kept when it fits
 * (h < H and w < W), top-left uniform. Returns 1 with the box, 0 when no
 * attempt fitted (torchvision then leaves the image unchanged). Shared by the
 * `random_erasing` transform, `augment.stats` and CAM-guided erasing. */
int rp_erasing_sample_box(rp_rng *rng, int64_t H, int64_t W, const double scale[2],
                          const double ratio[2], int log_ratio, int attempts, int64_t *top,
                          int64_t *left, int64_t *bh, int64_t *bw);

/* CAM-guided erasing's box (S2, seeds/002: "p_n = p_m + d_e,
 * d_e = (rand(0, b_h), rand(0, b_h))"): the size is drawn exactly as
 * rp_erasing_sample_box draws it (its position draw is discarded); the box's
 * top-left corner p_n is the CAM arg-max p_m = (py, px) moved down and right
 * by d_e, each coordinate an integer uniform in {0, ..., b_h} (b_h = 0 puts
 * the corner on p_m), clamped to the last row / column; the box is then
 * clipped to the image. Returns 1 with the clipped box, 0 when no size
 * fitted (nothing erased, as Random Erasing).
 * Public (not in a plugin) because two plugins must draw the very same box:
 * cam's cam_erasing hook erases it and augment.stats replays it to measure
 * what the hook erases; one plugin cannot link another's code. */
int rp_cam_erasing_box(rp_rng *rng, int64_t H, int64_t W, const double scale[2],
                       const double ratio[2], int log_ratio, int attempts, int64_t py, int64_t px,
                       int64_t b_h, int64_t *top, int64_t *left, int64_t *bh, int64_t *bw);

/* ---- fill values ---------------------------------------------------------------
 * `fill` / `value` params of erasing and padding: a number, a per-channel
 * list (up to 8), or (where allowed) "mean" (per-channel mean of the image),
 * "random" (standard normal per pixel, torchvision's value='random'),
 * "uniform" (U[0,1) per pixel). */
enum { RP_FILL_CONST = 0, RP_FILL_MEAN, RP_FILL_RANDOM, RP_FILL_UNIFORM };
typedef struct rp_fill {
    int mode;
    int n;          /* values given (1 = broadcast) */
    float v[8];
} rp_fill;
/* Read params[key] (absent or null = 0); errors located at the node. */
int rp_fill_parse(const rp_node *params, const char *key, int allow_modes, rp_fill *f,
                  rp_error *err);
/* Error unless a CONST fill has 1 or `channels` values ("what" names the caller). */
int rp_fill_check(const rp_fill *f, int64_t channels, const char *what, rp_error *err);
/* The constant for channel ch of img [C, H, W] (CONST), or its mean (MEAN). */
float rp_fill_value(const rp_fill *f, const rp_tensor *img, int ch);
/* Fill rows [top, top+h) x cols [left, left+w) (clipped) of every channel of
 * img [C, H, W] (borrowed); RANDOM / UNIFORM draw from rng. */
void rp_fill_box(rp_tensor *img, int64_t top, int64_t left, int64_t h, int64_t w, const rp_fill *f,
                 rp_rng *rng);

/* ---- loader -------------------------------------------------------------------- */

typedef struct rp_batch {
    rp_tensor x;          /* [N, C, H, W] */
    int32_t *labels;      /* [N] */
    int32_t *masks;       /* [N, H, W] or NULL (classification) */
    uint64_t *indices;    /* [N] dataset indices */
    int64_t n;            /* samples in this batch (<= capacity) */
    int64_t capacity;     /* rows allocated in every buffer */
} rp_batch;

/* Make `b` hold at least `n` samples of [c, h, w] (masks when with_masks);
 * keeps existing rows. Used by batch hooks that append samples. */
int rp_batch_reserve(rp_batch *b, int64_t n, int64_t c, int64_t h, int64_t w, int with_masks,
                     rp_error *err);
void rp_batch_release(rp_batch *b);

struct rp_loader_opts {
    int batch_size;
    int shuffle;          /* reshuffle every epoch (keyed by seed, stream, epoch) */
    int drop_last;
    int balanced;         /* class-balanced sampling with replacement */
    int workers;          /* decoding/augmenting threads (0 = in the caller) */
    int prefetch;         /* batches prepared ahead (>= 1) */
    uint64_t seed;
    uint64_t stream;      /* rp_hash_str(stage id) ^ rp_hash_str("loader") */
    uint64_t limit;       /* stop after this many samples per epoch (0 = all):
                             smoke runs with --set */
};

typedef struct rp_loader rp_loader;
/* `ds` borrowed, must outlive the loader. */
int rp_loader_new(const rp_dataset *ds, const struct rp_loader_opts *opts, rp_loader **out,
                  rp_error *err);
/* Begin epoch `epoch` (0-based). Batches are a pure function of
 * (seed, stream, epoch), whatever the number of workers. */
int rp_loader_start(rp_loader *l, uint64_t epoch, rp_error *err);
/* Next batch (borrowed until the next call), *out = NULL at the end. */
int rp_loader_next(rp_loader *l, rp_batch **out, rp_error *err);
uint64_t rp_loader_num_batches(const rp_loader *l);
/* Data-parallel sharding (before the first rp_loader_start): every batch holds
 * only rows [n*rank/nranks, n*(rank+1)/nranks) of the global batch of n rows
 * (the epoch's order cut into batches of batch_size, as without sharding), and
 * only those samples are read and transformed. Sample randomness is keyed by
 * the dataset index and epoch, not by the reader, so the nranks shards, put
 * together in rank order, are the unsharded batch bit for bit. A shard may
 * be empty (n < nranks): the batch then has 0 rows. (1, 0) = no sharding. */
int rp_loader_set_shard(rp_loader *l, int rank, int nranks, rp_error *err);
/* Rows of the global batch that the last rp_loader_next returned a shard of
 * (its own n when not sharded); 0 before the first batch. */
int64_t rp_loader_global_rows(const rp_loader *l);
void rp_loader_free(rp_loader *l);

#ifdef __cplusplus
}
#endif
#endif
