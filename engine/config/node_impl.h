/* Helpers shared by node.c (the tree) and node_yaml.c (YAML text in and
 * out). Internal. */
#ifndef RP_ENGINE_NODE_IMPL_H
#define RP_ENGINE_NODE_IMPL_H

#include "runpipe/node.h"

/* Append a pair without checking for an existing key (both transferred). */
int rp_node_map_append(rp_node *map, rp_node *key, rp_node *value);
/* Index of `key` in a map, -1 when absent (or not a map). */
long rp_node_map_index(const rp_node *map, const char *key);
/* YAML 1.2 core schema plain-scalar classes: null; bool (1 true, 0 false, -1
 * not a bool); integer; float. */
int rp_node_null_text(const char *s);
int rp_node_bool_text(const char *s);
int rp_node_int_text(const char *s);
int rp_node_float_text(const char *s);

#endif
