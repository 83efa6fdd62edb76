/* The model graph's representation, shared by the files that implement
 * rp_model (graph_build.c: construction; graph.c: the executor; graph_mem.c:
 * buffer pools; graph_fuse.c: the eval fusion planner; model_arch.c: the
 * architecture text; model_edit.c: copies and surgery). Internal. */
#ifndef RP_ENGINE_GRAPH_IMPL_H
#define RP_ENGINE_GRAPH_IMPL_H

#include "nn/graph.h"
#include "nn/layer.h"

typedef struct gnode {
    char *name;
    char *type;
    rp_node *opts;                  /* validated options (defaults filled), owned */
    int n_in;
    int in[RP_MAX_LAYER_INPUTS];    /* node index, -1 = model input */
    rp_layer layer;
    int ndim;                       /* output shape at build time (N = 1) */
    int64_t shape[RP_MAX_DIMS];
    rp_tensor out;
    int gslot;                      /* gradient buffer in the pool, -1 = none */
    int retain;
    int grad_ready;                 /* gslot holds this backward's gradient */
    int wants;                      /* scratch: gradient of the output needed */
    int consumers;                  /* scratch: nodes reading this output */
    int consumer;                   /* scratch: the reader when consumers == 1 */
    int fuse_in;                    /* scratch: computed by chain head fuse_in's
                                       forward_ep (-1 = runs its own forward) */
    int fuse_aff, fuse_sum, fuse_relu; /* scratch, chain head: the affine /
                                       add / relu node folded into it (-1 =
                                       none) */
    int tr_relu, tr_head;           /* scratch, training forward: the
                                       in-place relu folded into this node's
                                       forward and backward (relu_out), and
                                       on that relu, its producer (-1 = none) */
    int tr_tail;                    /* scratch, training forward, on a relu:
                                       its consumer, which applies it
                                       (relu_in; -1 = none) */
    int tr_in;                      /* scratch: this node reads its input
                                       through a folded relu (relu_in) */
    int hidden;                     /* scratch: output never written (folded
                                       into the chain's last node) */
    int buf_ready;                  /* scratch: output buffer already shaped */
    int released;                   /* scratch: holds already released */
    int keep;                       /* scratch: output must outlive the forward */
    int bwkeep;                     /* scratch: backward may read the output */
    int aslot;                      /* activation pool slot holding `out`, -1 = own */
} gnode;

struct rp_model {
    int c, h, w;
    gnode *nodes;
    size_t n, cap;
    int output;                     /* node index, -1 when empty */
    rp_param **params;
    size_t n_params;
    int training;
    int freeze_bn;                  /* rp_model_set_freeze_bn */
    uint64_t seed, step;
    rp_model_init_fn init_hook;
    rp_tensor xview;                /* header of the last forward's input (its
                                       data borrowed: must stay valid until
                                       backward; the caller's struct need not) */
    const rp_tensor *last_x;        /* &xview once a forward ran */
    char *arch_yaml;                /* cache */
    rp_tensor scratch[RP_MAX_LAYER_INPUTS];
    rp_tensor **gpool;              /* gradient buffers (each owned) */
    int *gbusy;
    size_t ngpool;
    rp_tensor **apool;              /* transient activation buffers (each owned) */
    size_t *asize;                  /* scratch: largest request this forward */
    int *aref;                      /* pending reads of the slot (0 = free) */
    size_t napool;
    int recompute;                  /* the last forward (eval) dropped outputs
                                       backward reads, or was fused: backward
                                       re-runs it */
    int no_fuse;                    /* eval-mode fusion disabled */
    int winograd;                   /* rp_model_set_winograd */
    rp_grad_ready_fn grad_ready;    /* rp_model_set_grad_ready (not cloned) */
    void *grad_ready_ctx;
    const rp_stat_sync *stat_sync;  /* rp_model_set_stat_sync (not cloned) */
    int stop;                       /* feature-gradient pass: node whose
                                       output gradient it ends at (-1 = none) */
    int stop_retain;                /* that node's own retain flag */
    int fused;                      /* chains the last forward fused */
    int folded;                     /* relus it folded (training) */
};

#define GRAD(m, g) ((m)->gpool[(g)->gslot])

/* Node k's output is a view of its input's, written in place (consumers
 * counted): an in-place layer (relu) on the single-consumer output of a
 * layer whose backward does not read it, neither retained nor the model
 * output (ReLU after conv/BN/add, as PyTorch's inplace). */
static inline int graph_in_place(const rp_model *m, int k) {
    const gnode *g = &m->nodes[k];
    const gnode *src = g->n_in == 1 && g->in[0] >= 0 ? &m->nodes[g->in[0]] : NULL;
    return src && (g->layer.ops->flags & RP_LAYER_INPLACE) &&
           (src->layer.ops->flags & RP_LAYER_OUT_UNUSED) && src->consumers == 1 && !src->retain &&
           k != m->output && g->in[0] != m->output;
}

/* graph_mem.c: a pooled gradient buffer shaped `shape`: the free one that
 * fits best (smallest big enough, else the largest, grown). Returns the slot
 * or -1. */
int graph_grad_acquire(rp_model *m, int nd, const int64_t *shape, rp_error *err);
void graph_grad_release(rp_model *m, gnode *g);
/* Activation pool: outputs no backward will read (frozen prefix) live here
 * only until their last consumer has run. Returns the slot or -1. */
int graph_act_acquire(rp_model *m, size_t need, int refs, rp_error *err);
void graph_act_put(rp_model *m, int slot);

/* graph_fuse.c: RP_NO_FUSE set (not "" or "0"), and the fusion plan of this
 * forward (consumers counted; all fuse_* scratch reset, none set when
 * `enabled` is 0). */
int graph_fusion_env_off(void);
void graph_plan_fusion(rp_model *m, int enabled);
/* graph_fuse.c: the training-forward relu folding plan (consumers counted;
 * sets tr_relu / tr_head) */
void graph_plan_train_relu(rp_model *m, int enabled);

/* graph_build.c helpers the other model files use. */
int graph_find_node(const rp_model *m, const char *name);
int graph_rebuild_params(rp_model *m, rp_error *err);
void graph_drop_arch_cache(rp_model *m);
/* model_arch.c: the architecture as a node tree (transferred; NULL when out
 * of memory), what rp_model_arch_yaml prints. */
rp_node *graph_arch_tree(const rp_model *m);

#endif
