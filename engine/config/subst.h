/* ${...} substitution in pipeline trees (config_subst.c), used by the
 * loader (config.c) per cell and for the matrix section. Internal. */
#ifndef RP_ENGINE_SUBST_H
#define RP_ENGINE_SUBST_H

#include "config/config.h"
#include "config/diag.h"

enum { VAR_TODO = 0, VAR_BUSY, VAR_DONE };

struct rp_subst {
    rp_diag *d;
    rp_node *vars;          /* the cell's vars map (resolved in place), may be NULL */
    unsigned char *state;   /* per var */
    size_t *stack;          /* var indices being resolved */
    size_t depth;
    const rp_node *matrix;  /* map axis → value for this cell, or NULL */
    int in_matrix;          /* substituting the matrix section itself */
    size_t errors;
};

/* `vars` (the cell's vars map, resolved in place; may be NULL) and `matrix`
 * (axis -> value of this cell, or NULL) borrowed; errors go to `d`. */
int rp_subst_init(struct rp_subst *s, rp_diag *d, rp_node *vars, const rp_node *matrix);
/* Substitute every reference in *slot (the node may be replaced). */
void rp_subst_node(struct rp_subst *s, rp_node **slot);
/* Resolve variable i of s->vars (at: where it was referenced, or NULL). */
void rp_subst_resolve_var(struct rp_subst *s, size_t i, const rp_node *at);
void rp_subst_release(struct rp_subst *s);

#endif
