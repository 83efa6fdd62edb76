/* Pipeline files are plain YAML: every file in pipelines/ and every ```yaml
 * block of README.md parses with libyaml alone (no preprocessing) and is
 * valid against `runpipe schema --json` (checked by a small JSON Schema
 * validator, tests/jsonschema.c), and the ${...} rules hold: a scalar that is
 * exactly one reference, quoted or not, keeps the value's type; a longer
 * string interpolates; map keys too. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "../harness.h"
#include "config/config.h"
#include "config/schema.h"

/* The validator is compiled into this test (the Makefile links harness.o
 * only). */
#include "../jsonschema.c"

static int setup(void **state) {
    (void)state;
    rp_schema_clear_dirs();
    rp_schema_cache_clear();
    rp_schema_add_dir(rp_test_path(rp_test_src(), "schemas"));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rp_schema_cache_clear();
    rp_schema_clear_dirs();
    return 0;
}

/* Parse with stock libyaml; on failure the problem and line go to *why. */
static int plain_yaml_ok(const char *text, size_t len, char *why, size_t n) {
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) return 0;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&p, &doc);
    if (ok)
        yaml_document_delete(&doc);
    else
        snprintf(why, n, "%s (line %zu)", p.problem ? p.problem : "?", p.problem_mark.line + 1);
    yaml_parser_delete(&p);
    return ok;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    return b;
}

static void test_pipelines_are_plain_yaml(void **state) {
    (void)state;
    glob_t g;
    assert_int_equal(glob(rp_test_path(rp_test_src(), "pipelines/*.yaml"), 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 5);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *t = slurp(g.gl_pathv[i]);
        char why[256];
        if (!plain_yaml_ok(t, strlen(t), why, sizeof why))
            fail_msg("%s is not plain YAML: %s", g.gl_pathv[i], why);
        free(t);
        /* and runpipe reads it (vars, matrix, top-level schema) */
        rp_config *c = NULL;
        rp_diag d;
        rp_diag_init(&d);
        if (rp_config_load(g.gl_pathv[i], NULL, &c, &d) != RP_OK)
            fail_msg("%s:\n%s", g.gl_pathv[i], rp_diag_render(&d, 0));
        rp_config_free(c);
        rp_diag_release(&d);
    }
    globfree(&g);
}

static void test_readme_blocks_are_plain_yaml(void **state) {
    (void)state;
    char *t = slurp(rp_test_path(rp_test_src(), "README.md"));
    size_t blocks = 0;
    for (char *p = t; (p = strstr(p, "```yaml\n"));) {
        p += 8;
        char *end = strstr(p, "```");
        assert_non_null(end);
        size_t line = 1;
        for (char *q = t; q < p; q++) line += *q == '\n';
        char why[256];
        if (!plain_yaml_ok(p, (size_t)(end - p), why, sizeof why))
            fail_msg("README.md block at line %zu is not plain YAML: %s", line, why);
        blocks++;
        p = end + 3;
    }
    assert_true(blocks >= 5);
    free(t);
}

/* The exported JSON Schema (parsed; owned by the caller). */
static cJSON *exported_schema(void) {
    const char *log = rp_test_path(rp_test_tmpdir(), "schema.json");
    assert_int_equal(rp_test_runpipe("schema --json", log, NULL, 0), 0);
    char *t = slurp(log);
    cJSON *j = cJSON_Parse(t);
    free(t);
    if (!j) fail_msg("runpipe schema --json is not JSON");
    return j;
}

static int valid_text(const cJSON *schema, const char *text, char *why, size_t n) {
    rp_node *v = NULL;
    rp_error e;
    if (rp_node_parse_string(text, "t.yaml", &v, &e) != RP_OK) fail_msg("%s", e.msg);
    int ok = rp_test_json_valid(schema, schema, v, why, n);
    rp_node_free(v);
    return ok;
}

static void test_files_valid_against_exported_schema(void **state) {
    (void)state;
    cJSON *schema = exported_schema();
    char why[1024];
    glob_t g;
    assert_int_equal(glob(rp_test_path(rp_test_src(), "pipelines/*.yaml"), 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *t = slurp(g.gl_pathv[i]);
        if (!valid_text(schema, t, why, sizeof why))
            fail_msg("%s is not valid against runpipe schema --json: %s", g.gl_pathv[i], why);
        free(t);
    }
    globfree(&g);
    /* README: whole pipelines as they are; a fragment of top-level keys
     * inside a minimal pipeline; a fragment of stages as the stage list */
    char *t = slurp(rp_test_path(rp_test_src(), "README.md"));
    for (char *p = t; (p = strstr(p, "```yaml\n"));) {
        p += 8;
        char *end = strstr(p, "```");
        size_t len = (size_t)(end - p), line = 1;
        for (char *q = t; q < p; q++) line += *q == '\n';
        char *doc = malloc(len + 200);
        assert_non_null(doc);
        if (strstr(p, "runpipe: 1") && strstr(p, "runpipe: 1") < end)
            snprintf(doc, len + 200, "%.*s", (int)len, p);
        else if (!strncmp(p, "  - ", 4))
            snprintf(doc, len + 200, "runpipe: 1\nstages:\n%.*s", (int)len, p);
        else
            snprintf(doc, len + 200, "runpipe: 1\nstages: [{id: s, use: data.synthetic}]\n%.*s",
                     (int)len, p);
        if (!valid_text(schema, doc, why, sizeof why))
            fail_msg("README.md block at line %zu is not valid against runpipe schema --json: %s",
                     line, why);
        free(doc);
        p = end + 3;
    }
    free(t);
    cJSON_Delete(schema);
}

/* The schema checks component parameters and takes references anywhere. */
static void test_exported_schema_components_and_references(void **state) {
    (void)state;
    cJSON *schema = exported_schema();
    char why[1024];
    const char *head = "runpipe: 1\nstages:\n  - id: fit\n    use: train\n";
    char doc[2000];
    snprintf(doc, sizeof doc, "%s    with: {optimizer: {adam: {lrr: 0.1}}}\n", head);
    assert_false(valid_text(schema, doc, why, sizeof why));
    snprintf(doc, sizeof doc, "%s    with: {optimizer: {adam: {lr: 0.1}}}\n", head);
    if (!valid_text(schema, doc, why, sizeof why)) fail_msg("%s", why);
    snprintf(doc, sizeof doc, "%s    with: {optimizer: {adam: {lr: fast}}}\n", head);
    assert_false(valid_text(schema, doc, why, sizeof why));
    /* a loss with its terms as a list (x-list) */
    if (!valid_text(schema,
                    "runpipe: 1\nstages:\n  - id: l\n    use: loss\n"
                    "    with: {loss: {sum: [cross_entropy, {complement_flatten: {weight: 0.5}}]}}\n",
                    why, sizeof why))
        fail_msg("%s", why);
    /* references where a number, an enum or a patterned name is expected */
    if (!valid_text(schema,
                    "runpipe: 1\nname: \"qs-${env.USER_TAG}\"\nvars: {e: 3}\nstages:\n"
                    "  - id: fit\n    use: train\n"
                    "    with: {epochs: \"${vars.e}\", optimizer: {adam: {lr: \"1e-${vars.e}\"}}}\n",
                    why, sizeof why))
        fail_msg("%s", why);
    cJSON_Delete(schema);
}

static rp_config *load_ok(const char *text) {
    rp_config *c = NULL;
    rp_diag d;
    rp_diag_init(&d);
    if (rp_config_load_string(text, "p.yaml", NULL, &c, &d) != RP_OK)
        fail_msg("config rejected:\n%s", rp_diag_render(&d, 0));
    rp_diag_release(&d);
    return c;
}

static void test_quoted_reference_keeps_type(void **state) {
    (void)state;
    rp_config *c = load_ok("runpipe: 1\nvars: {limit: 64, tf: [flip, crop], opt: {lr: 0.1}}\n"
                           "matrix: {arch: [resnet20]}\n"
                           "stages:\n  - id: s\n    use: x\n"
                           "    with: {limit: \"${vars.limit}\", tf: '${vars.tf}', o: \"${vars.opt}\","
                           " name: \"qs-${vars.limit}\"}\n"
                           "  - id: t\n    use: x\n"
                           "    with: {arch: {\"${matrix.arch}\": {size: 32}}}\n");
    const rp_node *w = rp_node_path(c->cells[0].doc, "stages.0.with");
    assert_true(rp_node_is_int(rp_node_get(w, "limit")));
    assert_string_equal(rp_node_get(w, "limit")->str, "64");
    assert_int_equal(rp_node_get(w, "tf")->kind, RP_NODE_SEQ);
    assert_int_equal(rp_node_get(w, "o")->kind, RP_NODE_MAP);
    assert_string_equal(rp_node_get(w, "name")->str, "qs-64");
    assert_true(rp_node_is_string(rp_node_get(w, "name")));
    /* a key */
    const rp_node *arch = rp_node_path(c->cells[0].doc, "stages.1.with.arch");
    assert_string_equal(rp_node_key_at(arch, 0), "resnet20");
    assert_string_equal(rp_node_path(arch, "resnet20.size")->str, "32");
    rp_config_free(c);

    /* a key that would become a list, and one that collides */
    rp_diag d;
    rp_diag_init(&d);
    c = (rp_config *)1;
    assert_int_equal(rp_config_load_string("runpipe: 1\nvars: {l: [a], k: b}\nstages:\n"
                                           "  - id: s\n    use: x\n"
                                           "    with: {\"${vars.l}\": 1, b: 2, \"${vars.k}\": 3}\n",
                                           "p.yaml", NULL, &c, &d),
                     RP_ERR_INVALID);
    assert_null(c);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.e[0].msg, "map key '${vars.l}' must be text, but it is a list");
    assert_int_equal(d.e[0].line, 6);
    assert_int_equal(d.e[0].col, 12);
    assert_string_equal(d.e[1].msg, "map key '${vars.k}' becomes 'b', which is already a key (line 6)");
    rp_diag_release(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelines_are_plain_yaml),
        cmocka_unit_test(test_readme_blocks_are_plain_yaml),
        cmocka_unit_test(test_quoted_reference_keeps_type),
        cmocka_unit_test(test_files_valid_against_exported_schema),
        cmocka_unit_test(test_exported_schema_components_and_references),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
