/* runpipe — layers and models (DESIGN §7).
 *
 * A model is a DAG of named layer nodes. Parameters have stable dotted names
 * (torchvision's for the ResNet family: "layer3.1.conv2.weight",
 * "bn1.running_mean", "fc.bias"), which safetensors files, freezing and
 * conversion learning address. Forward caches what backward needs; backward
 * accumulates into parameter gradients.
 */
#ifndef RUNPIPE_NN_H
#define RUNPIPE_NN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "node.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RP_MAX_LAYER_INPUTS 8

/* A learnable parameter or a buffer (running stats). Owned by the model. */
typedef struct rp_param {
    char *name;           /* "layer1.0.conv1.weight" */
    rp_tensor *value;
    rp_tensor *grad;      /* NULL for buffers */
    int trainable;        /* 0 when frozen or a buffer */
    int is_buffer;        /* running_mean / running_var / num_batches_tracked */
    int no_decay;         /* bias / norm weights: excluded from weight decay by
                             optimizers with `decay_norm_and_bias: false` */
} rp_param;

/* ---- layers ------------------------------------------------------------- */

typedef struct rp_layer rp_layer;

/* Runtime flags a layer sees. */
typedef struct rp_run_ctx {
    int training;         /* train mode (BN batch stats, dropout active) */
    uint64_t seed;        /* dropout masks: stream keyed (seed, layer, step) */
    uint64_t step;
    int need_input_grad;  /* 0 for the first layer: skip computing dX */
    int input_grad_only;  /* 1: a backward that must not touch parameter
                             gradients (Grad-CAM's pass to a feature map):
                             compute only din */
    int relu_out;         /* only for layers with RP_LAYER_TRAIN_RELU: the
                             forward writes max(0, y) instead of y (the bits
                             y followed by relu would give); the backward of
                             that forward gets `out` = max(0, y) and dout =
                             the gradient of max(0, y), and applies relu's
                             mask itself (y > 0). The graph sets it to fold a
                             following in-place relu into training passes */
    int relu_in;          /* only for layers with RP_LAYER_RELU_IN, training
                             passes: in[0] is to be read as max(0, in[0])
                             (a relu before the layer, folded into it); its
                             backward's din[0] is then the gradient wrt that
                             relu's input, relu's mask applied */
    int winograd;         /* training passes may compute 3x3 stride-1
                             convolutions (forward, input and weight
                             gradients) through Winograd where faster
                             (rp_model_set_winograd); eval forwards always
                             may */
} rp_run_ctx;

/* The epilogue a fusing forward applies (rp_layer_ops.forward_ep). */
typedef struct rp_layer_epilogue {
    const float *scale;    /* [C] borrowed; NULL = 1 */
    const float *shift;    /* [C] borrowed; NULL = 0 */
    const float *residual; /* shaped as out, borrowed, never aliasing out;
                              NULL = none; added after the shift */
    int relu;              /* then max(0, .) */
} rp_layer_epilogue;

struct rp_layer_ops {
    /* Validate options (already schema-checked: schemas/layer.<name>.yaml),
     * create parameters via rp_layer_add_param, compute the output shape from
     * the input shapes (each [N, ...], N may be any). */
    int (*create)(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in_shape,
                  int64_t *out_shape, int *out_ndim, rp_error *err);
    /* out is pre-shaped by the model; in[i] borrowed. */
    int (*forward)(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                   rp_tensor *out, rp_error *err);
    /* Accumulate parameter grads; write (overwrite) input grads into din[i]
     * when din[i] != NULL. */
    int (*backward)(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                    const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                    rp_error *err);
    void (*destroy)(rp_layer *l);
    /* For the registry-driven gradient check: example options (YAML flow
     * text) and input shapes ("[2,3,7,7]" ; several inputs separated by ';').
     * NULL = the layer opts out (must say why in a comment). */
    const char *example_opts;
    const char *example_inputs;
    int min_inputs, max_inputs;
    /* PyTorch's default initialisation of this layer's parameters and
     * buffers, deterministic from `seed` (streams keyed by parameter name).
     * NULL = parameters stay zero. */
    int (*init)(rp_layer *l, uint64_t seed, rp_error *err);
    unsigned flags;       /* enum rp_layer_flags */
    /* ---- eval-mode fusion (optional; NULL = the layer does not take part).
     * The model graph folds chains like conv2d -> batchnorm2d -> relu into one
     * forward of the first layer in eval forwards (see rp_model_forward). */
    /* A layer whose eval forward is a per-channel affine map along dim 1,
     * y[n, c, ...] = x[n, c, ...] * scale[c] + shift[c] (batch norm with
     * running statistics): point *scale / *shift at [C] floats owned by the
     * layer state (valid until the next forward or channel_affine call) with
     * exactly the values its forward would use, and leave the state as that
     * forward would. Called only when !ctx->training, instead of forward. */
    int (*channel_affine)(rp_layer *l, const rp_run_ctx *ctx, const float **scale,
                          const float **shift, rp_error *err);
    /* forward followed, in the same pass, by the epilogue `ep` (borrowed):
     * out = act(out * ep->scale[c] + ep->shift[c] + ep->residual), c = index
     * along dim 1 of out. Which parts it accepts: flags RP_LAYER_EP_AFFINE /
     * RP_LAYER_EP_RESIDUAL / RP_LAYER_EP_RELU. */
    int (*forward_ep)(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                      rp_tensor *out, const rp_layer_epilogue *ep, rp_error *err);
};

/* Memory-saving hints for the model graph (0 = none, always safe). */
enum rp_layer_flags {
    /* backward never reads `out` (only inputs, dout and its own caches), so
     * a following in-place layer may overwrite this layer's output */
    RP_LAYER_OUT_UNUSED = 1,
    /* forward may run with out aliasing in[0] (element-wise), and backward
     * then reads only out/dout, not in[0] (ReLU: y > 0 iff x > 0) */
    RP_LAYER_INPLACE = 2,
    /* forward is exactly max(0, x) element-wise (torch.nn.ReLU): an eval
     * forward may fold it into its producer's forward_ep */
    RP_LAYER_RELU = 4,
    /* forward_ep accepts a per-channel scale / shift */
    RP_LAYER_EP_AFFINE = 8,
    /* forward_ep accepts relu */
    RP_LAYER_EP_RELU = 16,
    /* forward_ep accepts a residual term */
    RP_LAYER_EP_RESIDUAL = 32,
    /* forward is exactly the element-wise sum of its inputs (add): an eval
     * forward may fold a two-input one into a producer's residual term, and
     * a backward hands every input the same gradient buffer (masked first
     * by the layer's own backward when a relu is folded in, rp_run_ctx
     * relu_out, called with one input gradient: din[0], which may be dout) */
    RP_LAYER_SUM = 64,
    /* forward and backward take rp_run_ctx.relu_out (training passes too):
     * a training forward may fold a following in-place relu into this
     * layer's forward and backward, saving relu's passes over memory */
    RP_LAYER_TRAIN_RELU = 128,
    /* forward and backward take rp_run_ctx.relu_in in training passes: a
     * training forward may fold a relu before this layer into it (max
     * pooling reads its windows through relu, and masks the few outputs
     * instead of relu passing over every input) */
    RP_LAYER_RELU_IN = 256,
};

struct rp_layer {
    const struct rp_layer_ops *ops;
    char *name;           /* node name: "layer1.0.conv1" */
    void *state;          /* layer-private */
    rp_param *params;     /* created by rp_layer_add_param */
    size_t n_params;
};

/* Called from create(): adds "<layer name>.<pname>" with `shape`, zero-filled
 * (buffers get no grad). Returns a borrowed pointer into l->params. */
rp_param *rp_layer_add_param(rp_layer *l, const char *pname, int ndim, const int64_t *shape,
                             int is_buffer, rp_error *err);

/* Free what a layer owns (calls ops->destroy, frees params and name); the
 * struct itself stays the caller's. */
void rp_layer_release(rp_layer *l);

/* ---- models ------------------------------------------------------------------ */

typedef struct rp_model rp_model;

/* An empty model taking input [N, c, h, w]. */
int rp_model_new(int c, int h, int w, rp_model **out, rp_error *err);
void rp_model_free(rp_model *m);

/* Add a node: layer `type` (registry name) with YAML-flow or node options and
 * inputs by node name ("input" is the model input; NULL list = previous node).
 * The last node added is the output unless rp_model_set_output says otherwise. */
int rp_model_add(rp_model *m, const char *name, const char *type, const rp_node *opts,
                 const char *const *inputs, int n_inputs, rp_error *err);
int rp_model_addf(rp_model *m, const char *name, const char *type, const char *const *inputs,
                  int n_inputs, rp_error *err, const char *opts_fmt, ...)
    __attribute__((format(printf, 7, 8)));
int rp_model_set_output(rp_model *m, const char *node, rp_error *err);
/* Initialise every parameter with PyTorch's default init for its layer,
 * deterministically from `seed`. */
int rp_model_init_params(rp_model *m, uint64_t seed, rp_error *err);

/* Built-in architectures are components of kind RP_COMP_ARCH. */
struct rp_arch_ops {
    /* opts: validated schemas/arch.<name>.yaml (classes, in_channels, ...). */
    int (*build)(const rp_node *opts, rp_model **out, rp_error *err);
};
/* Build a registered architecture by name with options (may be NULL = defaults),
 * parameters initialised with seed 0. */
int rp_model_build(const char *arch, const rp_node *opts, rp_model **out, rp_error *err);
/* The same graph with its parameters left uninitialised (zeros): for callers that
 * initialise or load the weights themselves, and for check-time shape work,
 * which then costs no random draws for a 25M-parameter network. */
int rp_model_build_graph(const char *arch, const rp_node *opts, rp_model **out, rp_error *err);
/* Build from a YAML list of layers: `- {conv2d: {out: 32, kernel: 3}, name: c1, in: [x]}`. */
int rp_model_from_layers(const rp_node *layers, int c, int h, int w, rp_model **out,
                         rp_error *err);

/* Model surgery used by model.build. */
int rp_model_replace_head(rp_model *m, int classes, double dropout, uint64_t seed,
                          rp_error *err); /* last linear → [Dropout(p)] → Linear(classes) */
/* Put the layers of `front` (borrowed, unchanged) in front of `m`: m's nodes
 * that read the model input read front's output instead, and m then takes
 * front's input shape. front's nodes keep their names, options, parameter
 * values and trainable flags; m's keep theirs. RP_ERR_INVALID (m unchanged)
 * when front has no layers, its output is not m's input shape [C, H, W] or
 * a layer name occurs in both. */
int rp_model_prepend(rp_model *m, const rp_model *front, rp_error *err);
/* Freeze params whose name matches `pattern` (exact, "prefix." or glob with
 * * and ?). *count = how many matched. */
int rp_model_freeze(rp_model *m, const char *pattern, size_t *count, rp_error *err);

/* ---- running ----------------------------------------------------------------- */
void rp_model_set_training(rp_model *m, int training);
int rp_model_is_training(const rp_model *m);
/* on: layers with running statistics (batch norm) whose learnable parameters
 * are all frozen run in eval mode even in training passes (running
 * statistics used, not updated; backward through the fixed affine map), as
 * PyTorch users do by calling .eval() on frozen BN modules after
 * model.train(). off (the default): every batch norm follows
 * rp_model_set_training, like PyTorch's plain model.train(). Kept by clone
 * and model surgery; not stored in saved files. */
void rp_model_set_freeze_bn(rp_model *m, int on);
/* x: [N, C, H, W] borrowed; its data is read again by rp_model_backward, so
 * it must stay valid until then (the tensor struct itself may go: the model
 * keeps a copy of the header); *y borrowed (valid until the next forward). An
 * element-wise layer (ReLU, dropout) may run in place on the output of a
 * single-consumer node that is not retained, so rp_model_node_output of
 * such a node shows the values after that layer.
 * Eval-mode fusion: an eval forward (rp_model_set_training(m, 0)) computes a
 * chain producer [-> per-channel affine [-> add]] [-> relu] (conv2d ->
 * batchnorm2d [-> relu], conv2d -> batchnorm2d -> add(shortcut) [-> relu],
 * conv2d -> relu, add [-> batchnorm2d] -> relu) in one pass of the producer
 * (its forward_ep) when every node of the chain but the last has exactly
 * one consumer, is not retained and is not the model output (the affine
 * node must directly follow the producer and the add the affine node, the
 * add's other input must come before the producer; a relu is folded only
 * where it would run in place). The result differs from the unfused layers
 * only by float rounding. rp_model_node_output returns NULL for the
 * producer and for an affine node followed by a folded add; a batch norm
 * whose relu was folded shows the values after the relu, as with an
 * in-place relu. Retained nodes and the output always hold
 * their own values. The forward a backward re-runs is never fused, so
 * gradients are unchanged. Training forwards fold only a relu that runs in
 * place after a layer with RP_LAYER_TRAIN_RELU (batch norm, add) into that
 * layer's forward and backward, bit for bit as unfolded (saves relu's passes
 * over memory). Disable both with
 * rp_model_set_fusion(m, 0) or the environment variable RP_NO_FUSE=1 (read
 * at every forward). */
int rp_model_forward(rp_model *m, const rp_tensor *x, const rp_tensor **y, rp_error *err);
/* dy: gradient of the loss wrt the last output; accumulates param grads. */
int rp_model_backward(rp_model *m, const rp_tensor *dy, rp_error *err);
void rp_model_zero_grad(rp_model *m);
/* Called by rp_model_backward right after a node's backward, with that
 * node's parameters (borrowed; buffers included, check `trainable`): their
 * gradients for this backward are final. Nodes come in the backward's
 * order, which depends only on the graph. NULL = none. Not cloned. */
typedef void (*rp_grad_ready_fn)(void *ctx, rp_param *params, size_t n);
void rp_model_set_grad_ready(rp_model *m, rp_grad_ready_fn fn, void *ctx);
/* Synchronised batch norm (data-parallel training): in training-mode
 * forwards and backwards of this model, batch-norm layers take their
 * per-channel statistics over the samples of all ranks that train it
 * together. `sum` adds v[0..n) over those ranks in place (every rank gets
 * the same values; all ranks call it in the same order); `share` is this
 * rank's samples / the global batch, set before each step. Borrowed (must
 * outlive its use); NULL = statistics of this process's batch. Not cloned. */
typedef struct rp_stat_sync {
    int (*sum)(void *ctx, double *v, size_t n, rp_error *err);
    void *ctx;
    double share;
} rp_stat_sync;
void rp_model_set_stat_sync(rp_model *m, const rp_stat_sync *s);
/* Seed + step for dropout masks (set by train before each step). */
void rp_model_set_step(rp_model *m, uint64_t seed, uint64_t step);
/* Eval-mode fusion on (1, the default) or off (0); see rp_model_forward. */
void rp_model_set_fusion(rp_model *m, int enabled);
/* Training passes (forward, input and weight gradients) may compute 3x3
 * stride-1 convolutions through Winograd F(4x4, 3x3) or F(2x2, 3x3) where it
 * is faster (see README). Its rounding is larger than the direct form's:
 * the loss follows the direct form's to float rounding, but the bits
 * differ, and training-mode batch norm over a handful of values amplifies
 * the difference. Off by default (as PyTorch's direct CPU kernels); the
 * train stage turns it on (`winograd: true`). Copied by clones. Eval
 * forwards use it regardless. */
void rp_model_set_winograd(rp_model *m, int on);

/* Intermediate activations (Grad-CAM): output of node `name` from the last
 * forward, and after backward its gradient (retain first). Borrowed. */
int rp_model_retain_grad(rp_model *m, const char *node, rp_error *err);
const rp_tensor *rp_model_node_output(const rp_model *m, const char *node);
const rp_tensor *rp_model_node_grad(const rp_model *m, const char *node);
/* Name of the last node whose output is 4-D with more than one spatial
 * position (the last convolutional feature map; a [N, C, 1, 1] pooling
 * output is skipped). NULL when there is none. */
const char *rp_model_last_conv(const rp_model *m);

/* ---- Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep
 * Networks via Gradient-based Localization", ICCV 2017) ---------------------
 * For feature map F = output of node `layer` ([N, K, h, w]) and the score
 * S_c = logit of class c per sample: w_k = mean_ij dS_c/dF^k_ij,
 * M = ReLU(sum_k w_k F^k), resized to the model input's H x W by bilinear
 * interpolation with PyTorch's align_corners=False rule
 * (F.interpolate(mode="bilinear"): source = (dst + 0.5) * in/out - 0.5,
 * clamped at 0), and the arg-max pixel of each resized map (first maximum in
 * row-major order, as torch.argmax).
 * One forward and one backward from the logits down to `layer` for the whole
 * batch; the backward touches no parameter gradient and the optimizer is not
 * involved. `training`: run the pass with batch statistics / dropout (1) or in
 * eval mode (0); the model's mode flag and its buffers (batch-norm running
 * statistics) are as before afterwards. */
typedef struct rp_gradcam_out {
    rp_tensor maps;       /* [N, H, W] ReLU'd maps at input size (owned;
                             grow-only across calls, release with
                             rp_gradcam_out_release) */
    int32_t *argmax;      /* [N, 2] (row, col) of each map's maximum */
    int32_t *cls;         /* [N] class whose score was explained */
    int32_t *pred;        /* [N] predicted class (arg-max logit) */
    int64_t cap;          /* rows allocated in argmax / cls / pred */
} rp_gradcam_out;

/* m: borrowed (its caches, not its weights, change); x: [N, C, H, W]
 * borrowed; layer: borrowed node name, NULL = rp_model_last_conv; cls: [N]
 * borrowed class per sample, NULL = the predicted class; out: the caller's
 * struct (zero-initialised before first use), filled, its buffers owned by
 * it and reused by later calls. */
int rp_gradcam(rp_model *m, const rp_tensor *x, const char *layer, const int32_t *cls,
               int training, rp_gradcam_out *out, rp_error *err);
void rp_gradcam_out_release(rp_gradcam_out *o);
/* Bilinear resize of n planes [n, h, w] -> [n, H, W] with align_corners=False
 * (as above). src and dst borrowed, not aliasing. */
int rp_resize_bilinear_planes(const float *src, int64_t n, int64_t h, int64_t w, float *dst,
                              int64_t H, int64_t W, rp_error *err);

/* ---- parameters & files ------------------------------------------------------- */
size_t rp_model_num_params(const rp_model *m);          /* params + buffers */
rp_param *rp_model_param(rp_model *m, size_t i);        /* borrowed */
rp_param *rp_model_find_param(rp_model *m, const char *name);
size_t rp_model_count_weights(const rp_model *m, int trainable_only); /* scalars */
void rp_model_input_shape(const rp_model *m, int *c, int *h, int *w);
int rp_model_num_classes(const rp_model *m);            /* last dim of output */
/* Deep copy (weights, buffers, structure); transferred. */
int rp_model_clone(const rp_model *m, rp_model **out, rp_error *err);
/* Nodes in insertion (= topological) order: count, name, layer type
 * ("conv2d"). Borrowed strings; NULL when i is out of range. A node's
 * parameters are the ones named "<node name>.<param>". */
size_t rp_model_num_nodes(const rp_model *m);
const char *rp_model_node_name(const rp_model *m, size_t i);
const char *rp_model_node_type(const rp_model *m, size_t i);
/* Index of the output node (-1 for an empty model). */
int rp_model_output_node(const rp_model *m);
/* Inputs of node i: fills up to `max` node indices (-1 = the model input)
 * into in (borrowed) and returns how many the node reads (0 when i is out
 * of range). */
int rp_model_node_inputs(const rp_model *m, size_t i, int *in, int max);
/* A new model made of nodes first..last (indices, inclusive) of m, with
 * copies of their parameters and buffers; its output is node `last`
 * (last < first is an error). Its input is the one tensor the range reads
 * from outside itself: the model input, or the output of one node before
 * `first` (the "cut"). A range that reads two outside tensors (a residual
 * block cut in its middle) cannot be a model: error naming both. A 4-D cut
 * [N, C, H, W] is the slice's input as is; a 2-D cut [N, F] (after flatten
 * or a linear layer) becomes input [F, 1, 1] through a first node
 * "slice.flatten", so callers pass the cut's data viewed as [N, F, 1, 1].
 * Evaluation-mode settings (fusion) are copied. Conversion learning runs the
 * unchanged prefix once and the changed suffix per candidate with slices.
 * *out transferred. */
int rp_model_slice(const rp_model *m, size_t first, size_t last, rp_model **out, rp_error *err);
/* Architecture description (YAML text of the node list) for metadata. */
const char *rp_model_arch_yaml(const rp_model *m);

/* safetensors with the architecture in the header metadata ("runpipe.arch"). */
int rp_model_save(const rp_model *m, const char *path, rp_error *err); /* atomic */
int rp_model_load(const char *path, rp_model **out, rp_error *err);

typedef struct rp_load_report {
    size_t loaded, skipped, missing;   /* counts */
    char *text;           /* owned multi-line summary: names missing/unexpected/shape */
} rp_load_report;
/* Load weights by name. strict: any missing/unexpected/shape mismatch is an
 * error listing them; partial: load what matches, report the rest (those
 * params keep their init). Accepts num_batches_tracked. */
int rp_model_load_weights(rp_model *m, const char *path, int strict, rp_load_report *rep,
                          rp_error *err);
void rp_load_report_release(rp_load_report *r);

/* ---- threads ------------------------------------------------------------------ */
/* One setting for OpenBLAS and our own parallel loops (never two pools
 * competing for the same cores). */
void rp_set_threads(int n);
int rp_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif
