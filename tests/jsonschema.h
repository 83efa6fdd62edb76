/* A small JSON Schema (draft 2020-12 subset) validator for the tests: checks
 * a YAML tree (rp_node, scalars typed by the YAML 1.2 core schema) against
 * what `runpipe schema --json` exports. Keywords: $ref (local JSON pointers),
 * type, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
 * multipleOf, minLength, maxLength, pattern, properties, required,
 * additionalProperties, propertyNames, minProperties, maxProperties, items,
 * minItems, maxItems, anyOf, oneOf, allOf, if/then/else. Annotations
 * (description, default, title, examples, $schema) are ignored. */
#ifndef RP_TEST_JSONSCHEMA_H
#define RP_TEST_JSONSCHEMA_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "runpipe/node.h"

/* 1 when `v` (borrowed) is valid against `schema` (borrowed; `root` is the
 * document $refs resolve in). Otherwise 0 and the first reason, with the
 * instance location and line, in `why`. */
int rp_test_json_valid(const cJSON *root, const cJSON *schema, const rp_node *v, char *why,
                       size_t n);

#endif
