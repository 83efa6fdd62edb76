/* Internal model-graph helpers shared by graph.c, model_io.c and arch_*.c. */
#ifndef RP_ENGINE_GRAPH_H
#define RP_ENGINE_GRAPH_H

#include "runpipe/runpipe.h"

/* Rebuild a model from the tree rp_model_arch_yaml() describes
 * ({input: [C, H, W], output: NAME, nodes: [{name, type, in, opts}]}).
 * Parameters are not initialised (zero; callers load or init them).
 * *out transferred. */
int rp_model_from_arch(const rp_node *arch, rp_model **out, rp_error *err);

/* A model-specific initialisation run by rp_model_init_params after every
 * layer's default init (e.g. torchvision ResNet: kaiming_normal fan_out). */
typedef int (*rp_model_init_fn)(rp_model *m, uint64_t seed, rp_error *err);
void rp_model_set_init_hook(rp_model *m, rp_model_init_fn fn);

/* Layer of a node by name (borrowed; NULL when absent). Node names and
 * types by index: rp_model_num_nodes etc. in runpipe/nn.h. */
rp_layer *rp_model_layer(rp_model *m, const char *node);
rp_layer *rp_model_node_layer(rp_model *m, size_t i);

/* Bytes of forward activation buffers the model holds right now: node
 * outputs kept for backward plus the pool the frozen prefix's transient
 * outputs are recycled through (gradients and layer states not counted). */
size_t rp_model_activation_bytes(const rp_model *m);

/* How many chains the last forward computed fused: in an eval forward the
 * chains of eval-mode fusion, in a training forward the relus folded into
 * their producers (see rp_model_forward); 0 with fusion off. */
int rp_model_fused_chains(const rp_model *m);

/* Feature-gradient pass (Grad-CAM, nn/gradcam.c). A forward in the model's
 * mode that keeps what a backward from the output down to node `node` reads
 * (*y borrowed), then a backward from dy (gradient of the output) that
 * computes only the output gradients between the output and `node`, touching
 * no parameter gradient; *feat = the node's output, *grad = d/d(feat), both
 * borrowed until the next forward. The next rp_model_forward/backward ends
 * the pass. */
int rp_model_feature_forward(rp_model *m, const rp_tensor *x, const char *node, const rp_tensor **y,
                             rp_error *err);
int rp_model_feature_backward(rp_model *m, const rp_tensor *dy, const rp_tensor **feat,
                              const rp_tensor **grad, rp_error *err);

#endif
