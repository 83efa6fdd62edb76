/* Schema validation: every keyword (accepted and rejected), messages and
 * locations, defaults (nested, items, components), did-you-mean,
 * oneOf/anyOf best-match messages, x-component normalisation, schema loading,
 * describe and JSON export. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config/diag.h"
#include "base/util.h"
#include "../harness.h"
#include "config/schema.h"

static rp_node *yaml(const char *text) {
    rp_node *n = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_node_parse_string(text, "v.yaml", &n, &err), &err);
    return n;
}

static rp_schema *schema(const char *text) {
    rp_schema *s = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_schema_from_node(yaml(text), "test", &s, &err), &err);
    return s;
}

/* Validate value text against schema text; returns the status, fills *out
 * (may be NULL) and the diag. */
static int check(const char *stext, const char *vtext, rp_node **out, rp_diag *d) {
    rp_schema *s = schema(stext);
    rp_node *v = vtext ? yaml(vtext) : NULL;
    rp_node *o = NULL;
    rp_diag_init(d);
    int st = rp_schema_validate(s, v, "", &o, d);
    if (out)
        *out = o;
    else
        rp_node_free(o);
    rp_node_free(v);
    rp_schema_free(s);
    return st;
}

static void expect_ok(const char *stext, const char *vtext) {
    rp_diag d;
    int st = check(stext, vtext, NULL, &d);
    if (st != RP_OK) fail_msg("'%s' rejected: %s", vtext, d.n ? d.e[0].msg : "?");
    rp_diag_release(&d);
}

/* Expect exactly one error with this message at line:col of the value text. */
static void expect_err(const char *stext, const char *vtext, const char *msg, int line, int col) {
    rp_diag d;
    int st = check(stext, vtext, NULL, &d);
    assert_int_equal(st, RP_ERR_INVALID);
    if (d.n != 1) {
        for (size_t i = 0; i < d.n; i++) print_message("  %s\n", d.e[i].msg);
        fail_msg("'%s': %zu errors, expected 1", vtext, d.n);
    }
    if (strcmp(d.e[0].msg, msg)) fail_msg("got '%s', expected '%s'", d.e[0].msg, msg);
    if (d.e[0].line != line || d.e[0].col != col)
        fail_msg("'%s' at %d:%d, expected %d:%d", msg, d.e[0].line, d.e[0].col, line, col);
    assert_string_equal(d.e[0].file, "v.yaml");
    rp_diag_release(&d);
}

#define OBJ(props) "type: object\nproperties: " props "\nadditionalProperties: false\n"

static void test_types(void **state) {
    (void)state;
    const char *s = OBJ("{n: {type: number}, i: {type: integer}, s: {type: string}, "
                        "b: {type: boolean}, l: {type: array}, m: {type: object}, "
                        "z: {type: 'null'}, sn: {type: [string, number]}}");
    expect_ok(s, "{n: 1.5, i: 3, s: hi, b: true, l: [1], m: {a: 1}, z: null, sn: x}");
    expect_ok(s, "{n: 2, i: 0x10, s: 'true', b: false, l: [], m: {}, z: ~, sn: 3}");
    expect_ok(s, "{i: 3.0, n: 1e-4}");
    expect_err(s, "n: fast", "'n': expected a number, got 'fast'", 1, 4);
    expect_err(s, "i: 2.5", "'i': expected an integer, got 2.5", 1, 4);
    expect_err(s, "s: 12", "'s': expected a string, got 12", 1, 4);
    expect_err(s, "b: yes", "'b': expected true or false, got 'yes'", 1, 4);
    expect_err(s, "l: {a: 1}", "'l': expected a list, got a map", 1, 4);
    expect_err(s, "m: [1]", "'m': expected a map, got a list", 1, 4);
    expect_err(s, "z: 0", "'z': expected null, got 0", 1, 4);
    expect_err(s, "sn: [1]", "'sn': expected a string or a number, got a list", 1, 5);
    expect_err(s, "n: '1.5'", "'n': expected a number, got '1.5'", 1, 4);
    expect_err("type: object", "[1, 2]", "expected a map, got a list", 1, 1);
}

static void test_more_keywords(void **state) {
    (void)state;
    const char *s = OBJ("{m: {type: number, multipleOf: 0.5}, k: {type: integer, multipleOf: 4}, "
                        "u: {type: array, uniqueItems: true}, "
                        "o: {type: object, minProperties: 1, maxProperties: 2}}");
    expect_ok(s, "{m: 1.5, k: -8, u: [a, b, 1, '1'], o: {a: 1}}");
    expect_err(s, "m: 0.7", "'m': 0.7 is not a multiple of 0.5", 1, 4);
    expect_err(s, "k: 6", "'k': 6 is not a multiple of 4", 1, 4);
    expect_err(s, "u: [a, b, a]", "'u': 'a' appears twice (items must be unique)", 1, 11);
    expect_err(s, "u: [1, 1.0]", "'u': 1.0 appears twice (items must be unique)", 1, 8);
    expect_err(s, "o: {}", "'o': expected at least 1 entry, got 0", 1, 4);
    expect_err(s, "o: {a: 1, b: 2, c: 3}", "'o': expected at most 2 entries, got 3", 1, 4);
}

static void test_ranges(void **state) {
    (void)state;
    const char *s = OBJ("{p: {type: number, minimum: 0, maximum: 1}, "
                        "lr: {type: number, exclusiveMinimum: 0, exclusiveMaximum: 10}}");
    expect_ok(s, "{p: 0, lr: 1e-9}");
    expect_ok(s, "{p: 1, lr: 9.99}");
    expect_err(s, "p: 1.5", "'p': 1.5 is above the maximum 1", 1, 4);
    expect_err(s, "p: -0.1", "'p': -0.1 is below the minimum 0", 1, 4);
    expect_err(s, "lr: 0", "'lr': 0 must be greater than 0", 1, 5);
    expect_err(s, "lr: 10", "'lr': 10 must be less than 10", 1, 5);
    /* .inf / .nan only where the schema allows them */
    expect_err(s, "p: .nan", "'p': expected a finite number, got .nan", 1, 4);
    expect_err(OBJ("{x: {type: number}}"), "x: .inf", "'x': expected a finite number, got .inf",
               1, 4);
    expect_ok("{type: number, x-nonfinite: true}", ".nan");
    expect_ok("{type: number, x-nonfinite: true}", "-.inf");
    /* integers: int32 unless x-int64 (4294967296 would become 0) */
    expect_err(OBJ("{n: {type: integer}}"), "n: 4294967296",
               "'n': 4294967296 is out of range (at most 2147483647 in magnitude)", 1, 4);
    expect_err(OBJ("{n: {type: integer}}"), "n: -2147483649",
               "'n': -2147483649 is out of range (at most 2147483647 in magnitude)", 1, 4);
    expect_ok("{type: integer}", "2147483647");
    expect_ok("{type: integer, x-int64: true}", "4294967296");
    expect_ok("{type: number}", "4294967296");
}

static void test_enum_const(void **state) {
    (void)state;
    const char *s = OBJ("{mode: {type: string, enum: [min, max]}, k: {enum: [1, 2, 3]}, "
                        "v: {const: 1}}");
    expect_ok(s, "{mode: max, k: 2.0, v: 1}");
    expect_err(s, "mode: mean", "'mode': expected one of min, max; got 'mean'", 1, 7);
    expect_err(s, "k: 4", "'k': expected one of 1, 2, 3; got 4", 1, 4);
    expect_err(s, "k: '1'", "'k': expected one of 1, 2, 3; got '1'", 1, 4);
    expect_err(s, "v: 2", "'v': expected 1, got 2", 1, 4);
}

static void test_strings(void **state) {
    (void)state;
    const char *s = OBJ("{id: {type: string, pattern: '^[a-z_][a-z0-9_]*$'}, "
                        "dir: {type: string, minLength: 1}, c: {type: string, minLength: 3, "
                        "maxLength: 4}}");
    expect_ok(s, "{id: fit_2, dir: x, c: abc}");
    expect_err(s, "id: 2fit", "'id': '2fit' does not match the pattern ^[a-z_][a-z0-9_]*$", 1,
               5);
    expect_err(s, "dir: ''", "'dir': must not be empty", 1, 6);
    expect_err(s, "c: ab", "'c': expected at least 3 characters, got 'ab'", 1, 4);
    expect_err(s, "c: abcde", "'c': expected at most 4 characters, got 5", 1, 4);
}

static void test_arrays(void **state) {
    (void)state;
    const char *s =
        OBJ("{l: {type: array, minItems: 1, maxItems: 3, items: {type: object, "
            "properties: {p: {type: number, maximum: 1}}}}}");
    expect_ok(s, "l: [{p: 0.5}, {}]");
    expect_err(s, "l: []", "'l': expected at least 1 item, got 0", 1, 4);
    expect_err(s, "l: [{}, {}, {}, {}]", "'l': expected at most 3 items, got 4", 1, 4);
    expect_err(s, "l:\n  - {}\n  - {}\n  - {p: 1.5}\n", "'l[2].p': 1.5 is above the maximum 1",
               4, 9);
}

static void test_objects(void **state) {
    (void)state;
    const char *s = "type: object\n"
                    "properties:\n"
                    "  lr: {type: number}\n"
                    "  momentum: {type: number}\n"
                    "  dir: {type: string}\n"
                    "  opt:\n"
                    "    type: object\n"
                    "    properties: {beta: {type: number}}\n"
                    "    required: [beta]\n"
                    "    additionalProperties: false\n"
                    "required: [dir]\n"
                    "additionalProperties: false\n";
    expect_ok(s, "{dir: x, lr: 1}");
    expect_err(s, "dir: x\nlrr: 1\n", "'lrr': unknown parameter (did you mean 'lr'?)", 2, 1);
    expect_err(s, "dir: x\nmometnum: 1\n", "'mometnum': unknown parameter (did you mean "
                                           "'momentum'?)", 2, 1);
    expect_err(s, "dir: x\nzzz: 1\n",
               "'zzz': unknown parameter (valid: lr, momentum, dir, opt)", 2, 1);
    expect_err(s, "lr: 1\n", "missing required parameter 'dir'", 1, 1);
    expect_err(s, "dir: x\nopt: {}\n", "'opt': missing required parameter 'beta'", 2, 6);
    expect_err(s, "dir: x\nopt: {beta: 1, bta: 2}\n",
               "'opt.bta': unknown parameter (did you mean 'beta'?)", 2, 16);
    /* additionalProperties as a schema */
    const char *m = "type: object\nadditionalProperties: {type: array, minItems: 1}\n";
    expect_ok(m, "{a: [1], b: [x, y]}");
    expect_err(m, "{a: [1], b: 3}", "'b': expected a list, got 3", 1, 13);
    /* open objects keep unknown keys */
    rp_diag d;
    rp_node *out = NULL;
    assert_int_equal(check("type: object\nproperties: {a: {default: 1}}\n", "{x: 2}", &out, &d),
                     RP_OK);
    assert_string_equal(rp_node_get(out, "x")->str, "2");
    assert_string_equal(rp_node_get(out, "a")->str, "1");
    rp_node_free(out);
    rp_diag_release(&d);
    expect_err("type: object\nadditionalProperties: false\n", "a: 1\n",
               "'a': unknown parameter (no parameters are accepted here)", 1, 1);
    /* several errors are all collected */
    assert_int_equal(check(s, "lrr: 1\nmomentum: x\nopt: []\n", NULL, &d), RP_ERR_INVALID);
    assert_int_equal(d.n, 4);
    rp_diag_release(&d);
}

static void test_defaults(void **state) {
    (void)state;
    const char *s = "type: object\n"
                    "properties:\n"
                    "  epochs: {type: integer, default: 10}\n"
                    "  name: {type: string}\n"
                    "  opt:\n"
                    "    type: object\n"
                    "    default: {}\n"
                    "    properties:\n"
                    "      lr: {type: number, default: 0.1}\n"
                    "      sched: {type: object, default: {kind: step},\n"
                    "              properties: {kind: {type: string}, gamma: {default: 0.5}}}\n"
                    "  early: {type: object, properties: {patience: {default: 5}}}\n"
                    "  items:\n"
                    "    type: array\n"
                    "    items: {type: object, properties: {p: {default: 0.5}, q: {type: number}}}\n";
    rp_diag d;
    rp_node *out = NULL;
    assert_int_equal(check(s, "items: [{q: 1}, {p: 0.9}]\nopt: {lr: 0.2}\n", &out, &d), RP_OK);
    assert_string_equal(rp_node_path(out, "epochs")->str, "10");
    assert_null(rp_node_get(out, "name"));   /* no default: stays absent */
    assert_null(rp_node_get(out, "early"));  /* objects without default are not invented */
    assert_string_equal(rp_node_path(out, "opt.lr")->str, "0.2");
    assert_string_equal(rp_node_path(out, "opt.sched.kind")->str, "step");
    assert_string_equal(rp_node_path(out, "opt.sched.gamma")->str, "0.5");
    assert_string_equal(rp_node_path(out, "items.0.p")->str, "0.5");
    assert_string_equal(rp_node_path(out, "items.1.p")->str, "0.9");
    /* present values keep their location; order = written keys, then defaults */
    assert_int_equal(rp_node_path(out, "opt.lr")->line, 2);
    assert_string_equal(rp_node_key_at(out, 0), "items");
    rp_node_free(out);
    rp_diag_release(&d);
    /* absent value (NULL) and an empty `with:` (null) mean {} */
    assert_int_equal(check(s, NULL, &out, &d), RP_OK);
    assert_string_equal(rp_node_path(out, "opt.sched.kind")->str, "step");
    rp_node_free(out);
    rp_diag_release(&d);
    assert_int_equal(check(s, "~", &out, &d), RP_OK);
    assert_int_equal(out->kind, RP_NODE_MAP);
    assert_string_equal(rp_node_path(out, "epochs")->str, "10");
    rp_node_free(out);
    rp_diag_release(&d);
}

static void test_alternatives(void **state) {
    (void)state;
    const char *s =
        OBJ("{t: {type: array, items: {oneOf: ["
            "{type: object, properties: {kind: {const: crop}, size: {type: integer, minimum: 1}}, "
            "required: [kind, size], additionalProperties: false},"
            "{type: object, properties: {kind: {const: flip}, p: {type: number, maximum: 1}}, "
            "required: [kind], additionalProperties: false}]}},"
            "v: {anyOf: [{type: number}, {type: string, enum: [auto]}]},"
            "w: {oneOf: [{type: number}, {type: integer}]}}");
    expect_ok(s, "t: [{kind: crop, size: 3}, {kind: flip, p: 0.5}]\nv: auto\n");
    expect_ok(s, "v: 3\nw: 1.5\n");
    /* the best-matching alternative (kind: flip) names the problem */
    expect_err(s, "t: [{kind: flip, p: 2}]", "'t[0].p': 2 is above the maximum 1", 1, 21);
    expect_err(s, "t: [{kind: crop, size: 0}]", "'t[0].size': 0 is below the minimum 1", 1, 24);
    expect_err(s, "t: [{kind: crop}]", "'t[0]': missing required parameter 'size'", 1, 5);
    expect_err(s, "t: [3]", "'t[0]': expected a map, got 3", 1, 5);
    expect_err(s, "v: [1]", "'v': expected a number or a string, got a list", 1, 4);
    expect_err(s, "v: mean", "'v': expected one of auto; got 'mean'", 1, 4);
    expect_err(s, "w: 2",
               "'w': matches more than one alternative (1 and 2) where exactly one is expected",
               1, 4);
}

/* ---- components -------------------------------------------------------------- */

static const int fake_impl = 0;
static const struct rp_component comp_crop = {RP_COMP_TRANSFORM, "rpt_crop", "test crop",
                                              &fake_impl};
static const struct rp_component comp_flip = {RP_COMP_TRANSFORM, "rpt_flip", "test flip",
                                              &fake_impl};
static const struct rp_component comp_cutout = {RP_COMP_TRANSFORM, "rpt_cutout", "test cutout",
                                                &fake_impl};

static int setup_components(void **state) {
    (void)state;
    static int done;
    if (!done) {
        rp_component_register(&comp_crop, NULL);
        rp_component_register(&comp_flip, NULL);
        rp_component_register(&comp_cutout, NULL);
        done = 1;
    }
    rp_schema_clear_dirs();
    rp_schema_cache_clear();
    rp_schema_add_dir(rp_test_path(rp_test_src(), "tests/fixtures/config/schemas"));
    rp_schema_add_dir(rp_test_path(rp_test_src(), "schemas"));
    return 0;
}

static int validate_stage(const char *vtext, rp_node **out, rp_diag *d) {
    const rp_schema *s = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_schema_get("rpt_stage", &s, &err), &err);
    rp_node *v = vtext ? yaml(vtext) : NULL;
    rp_diag_init(d);
    int st = rp_schema_validate(s, v, "stage 'aug' (rpt_stage): ", out, d);
    rp_node_free(v);
    return st;
}

static void expect_stage_err(const char *vtext, const char *msg, int line, int col) {
    rp_diag d;
    rp_node *out = NULL;
    assert_int_equal(validate_stage(vtext, &out, &d), RP_ERR_INVALID);
    rp_node_free(out);
    assert_true(d.n >= 1);
    if (strcmp(d.e[0].msg, msg)) fail_msg("got '%s', expected '%s'", d.e[0].msg, msg);
    if (d.e[0].line != line || d.e[0].col != col)
        fail_msg("'%s' at %d:%d, expected %d:%d", msg, d.e[0].line, d.e[0].col, line, col);
    rp_diag_release(&d);
}

static void test_components(void **state) {
    (void)state;
    rp_diag d;
    rp_node *out = NULL;
    /* defaults: a bare name and a list with a map, normalised to {NAME: {params}} */
    assert_int_equal(validate_stage(NULL, &out, &d), RP_OK);
    char *y = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_node_to_yaml(out, &y, &err), &err);
    assert_string_equal(y, "transform:\n  rpt_flip: {}\n"
                           "transforms:\n- rpt_flip: {}\n- rpt_cutout:\n    p: 0.5\n"
                           "opt:\n  lr: 0.1\n  momentum: 0.9\n");
    free(y);
    rp_node_free(out);
    rp_diag_release(&d);
    assert_int_equal(validate_stage("transform: {rpt_crop: {size: 8}}\n"
                                    "transforms: [rpt_cutout, {rpt_crop: {size: 4, mode: reflect}},"
                                    " {rpt_flip: null}]\n",
                                    &out, &d),
                     RP_OK);
    RP_ASSERT_OK(rp_node_to_yaml(out, &y, &err), &err);
    assert_string_equal(y, "transform:\n  rpt_crop:\n    size: 8\n    padding: 0\n    mode: constant\n"
                           "transforms:\n- rpt_cutout:\n    p: 0.5\n"
                           "- rpt_crop:\n    size: 4\n    mode: reflect\n    padding: 0\n"
                           "- rpt_flip: {}\n"
                           "opt:\n  lr: 0.1\n  momentum: 0.9\n");
    free(y);
    const char *name;
    const rp_node *params;
    RP_ASSERT_OK(rp_component_spec(rp_node_get(out, "transform"), &name, &params, &err), &err);
    assert_string_equal(name, "rpt_crop");
    assert_int_equal(rp_param_int(params, "size"), 8);
    assert_int_equal(params->line, 1); /* params keep the pipeline location */
    rp_node_free(out);
    rp_diag_release(&d);
    expect_stage_err("transform: rpt_flp\n",
                     "stage 'aug' (rpt_stage): 'transform': unknown transform 'rpt_flp' (did you "
                     "mean 'rpt_flip'?)",
                     1, 12);
    expect_stage_err("transform: {rpt_flip: {p: 1}}\n",
                     "stage 'aug' (rpt_stage): 'transform': transform 'rpt_flip' takes no "
                     "parameters",
                     1, 23);
    expect_stage_err("transforms: [rpt_flip, {rpt_crop: {size: 0}}]\n",
                     "stage 'aug' (rpt_stage): 'transforms[1].rpt_crop.size': 0 is below the "
                     "minimum 1",
                     1, 42);
    expect_stage_err("transform: rpt_crop\n",
                     "stage 'aug' (rpt_stage): 'transform.rpt_crop': missing required parameter "
                     "'size'",
                     1, 12);
    expect_stage_err("transform: {rpt_crop: {size: 3}, rpt_flip: {}}\n",
                     "stage 'aug' (rpt_stage): 'transform': expected a transform: NAME or {NAME: "
                     "{params}} (a map with one key), got a map with 2 keys",
                     1, 12);
    expect_stage_err("transform: 3\n",
                     "stage 'aug' (rpt_stage): 'transform': expected a transform: NAME or {NAME: "
                     "{params}}, got 3",
                     1, 12);
    expect_stage_err("opt: {lr: 0}\n",
                     "stage 'aug' (rpt_stage): 'opt.lr': 0 must be greater than 0", 1, 11);

    /* rp_component_params */
    rp_node *p = yaml("{size: 5}");
    RP_ASSERT_OK(rp_component_params(RP_COMP_TRANSFORM, "rpt_crop", p, &out, &err), &err);
    assert_int_equal(rp_param_int(out, "padding"), 0);
    assert_string_equal(rp_param_str(out, "mode"), "constant");
    rp_node_free(out);
    rp_node_free(p);
    p = yaml("{size: 5, paddng: 1}");
    assert_int_equal(rp_component_params(RP_COMP_TRANSFORM, "rpt_crop", p, &out, &err),
                     RP_ERR_INVALID);
    assert_null(out);
    assert_string_equal(err.msg,
                        "transform 'rpt_crop': 'paddng': unknown parameter (did you mean 'padding'?)");
    assert_int_equal(err.col, 11);
    rp_node_free(p);
    RP_ASSERT_OK(rp_component_params(RP_COMP_TRANSFORM, "rpt_flip", NULL, &out, &err), &err);
    assert_int_equal(rp_node_len(out), 0);
    rp_node_free(out);
    p = yaml("{x: 1}");
    assert_int_equal(rp_component_params(RP_COMP_TRANSFORM, "rpt_flip", p, &out, &err),
                     RP_ERR_INVALID);
    assert_string_equal(err.msg, "transform 'rpt_flip' takes no parameters");
    rp_node_free(p);
}

static void test_loading(void **state) {
    (void)state;
    const rp_schema *a = NULL, *b = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_schema_get("transform.rpt_crop", &a, &err), &err);
    RP_ASSERT_OK(rp_schema_get("transform.rpt_crop", &b, &err), &err);
    assert_ptr_equal(a, b); /* cached */
    assert_string_equal(rp_schema_name(a), "transform.rpt_crop");
    assert_non_null(rp_node_get(rp_schema_root(a), "properties"));
    assert_int_equal(rp_schema_get("no_such_schema", &a, &err), RP_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "no_such_schema.yaml"));
    assert_int_equal(rp_schema_get("../etc/passwd", &a, &err), RP_ERR_NOTFOUND);
    assert_int_equal(rp_schema_get("broken", &a, &err), RP_ERR_FORMAT);
    assert_string_equal(err.msg, "schema: unknown type 'numbr' (string, integer, number, "
                                 "boolean, array, object or null)");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 13);
    assert_non_null(strstr(err.file, "broken.yaml"));
    assert_int_equal(rp_schema_get("typo_keyword", &a, &err), RP_ERR_FORMAT);
    assert_string_equal(err.msg, "schema: unknown keyword 'propertise'");
    /* the real pipeline schema and every schema in schemas/ load cleanly */
    RP_ASSERT_OK(rp_schema_get("pipeline", &a, &err), &err);
    DIR *dir = opendir(rp_test_path(rp_test_src(), "schemas"));
    assert_non_null(dir);
    struct dirent *de;
    int n_loaded = 0;
    while ((de = readdir(dir))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".yaml")) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len - 5), de->d_name);
        RP_ASSERT_OK(rp_schema_get(name, &a, &err), &err);
        n_loaded++;
    }
    closedir(dir);
    assert_true(n_loaded >= 1);
    rp_schema *s = NULL;
    assert_int_equal(rp_schema_from_node(yaml("{type: object, minimum: x}"), "t", &s, &err),
                     RP_ERR_FORMAT);
    assert_int_equal(rp_schema_from_node(yaml("{pattern: '(('}"), "t", &s, &err),
                     RP_ERR_FORMAT);
    assert_int_equal(rp_schema_from_node(yaml("{x-component: widget}"), "t", &s, &err),
                     RP_ERR_FORMAT);
}

static void test_describe_and_export(void **state) {
    (void)state;
    const rp_schema *s = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_schema_get("transform.rpt_crop", &s, &err), &err);
    char *t = rp_schema_describe(s);
    assert_non_null(strstr(t, "\n\nRandom crop used by the schema tests.\n"));
    assert_true(strncmp(t, "  size ", 7) == 0);
    assert_non_null(strstr(t, "size                   integer, required, >= 1\n"));
    assert_non_null(strstr(t, "      Output side.\n"));
    assert_non_null(strstr(t, "padding                integer, default 0, >= 0\n"));
    assert_non_null(strstr(t, "mode                   string, default constant, one of constant, "
                              "reflect\n"));
    free(t);
    const char *names[] = {"rpt_stage", "rpt_nothing"};
    char *json = NULL;
    RP_ASSERT_OK(rp_schema_export_json(names, 2, &json, &err), &err);
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "$schema")->valuestring,
                        "https://json-schema.org/draft/2020-12/schema");
    /* lists and maps may also be written as one ${...}: the schema is then
       the first alternative of an anyOf */
    cJSON *stages = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "properties"), "stages");
    if (!cJSON_GetObjectItem(stages, "items"))
        stages = cJSON_GetArrayItem(cJSON_GetObjectItem(stages, "anyOf"), 0);
    cJSON *item = cJSON_GetObjectItem(stages, "items");
    if (!cJSON_GetObjectItem(item, "allOf"))
        item = cJSON_GetArrayItem(cJSON_GetObjectItem(item, "anyOf"), 0);
    cJSON *all = cJSON_GetObjectItem(item, "allOf");
    assert_int_equal(cJSON_GetArraySize(all), 2);
    cJSON *c0 = cJSON_GetArrayItem(all, 0);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "if"),
                                                                    "properties"),
                                                "use"),
                            "const")
            ->valuestring,
        "rpt_stage");
    cJSON *defs = cJSON_GetObjectItem(j, "$defs");
    cJSON *st = cJSON_GetObjectItem(defs, "rpt_stage");
    cJSON *opt = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "properties"), "opt");
    opt = cJSON_GetArrayItem(cJSON_GetObjectItem(opt, "anyOf"), 0);
    cJSON *lr = cJSON_GetObjectItem(cJSON_GetObjectItem(opt, "properties"), "lr");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(lr, "default")));
    assert_true(cJSON_GetObjectItem(lr, "default")->valuedouble == 0.1);
    /* a number may also be written as ${...} */
    cJSON *alts = cJSON_GetObjectItem(lr, "anyOf");
    assert_int_equal(cJSON_GetArraySize(alts), 2);
    assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(alts, 0), "exclusiveMinimum")->valuedouble ==
                0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(alts, 1), "pattern")->valuestring,
                        "\\$\\{[^}]+\\}");
    /* x-component becomes NAME | {NAME: params} with the registered names */
    cJSON *tr = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "properties"), "transform");
    assert_non_null(cJSON_GetObjectItem(tr, "anyOf"));
    tr = cJSON_GetArrayItem(cJSON_GetObjectItem(tr, "anyOf"), 0);
    assert_null(cJSON_GetObjectItem(tr, "x-component"));
    char *trs = cJSON_PrintUnformatted(tr);
    assert_non_null(strstr(trs, "\"rpt_crop\""));
    free(trs);
    cJSON *nothing = cJSON_GetObjectItem(defs, "rpt_nothing");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(nothing, "additionalProperties")));
    cJSON_Delete(j);
    free(json);
}

static void test_suggest(void **state) {
    (void)state;
    const char *c[] = {"lr", "momentum", "weight_decay", "nesterov"};
    assert_string_equal(rp_suggest("lrr", c, 4), "lr");
    assert_string_equal(rp_suggest("rl", c, 4), "lr"); /* transposition = 1 */
    assert_string_equal(rp_suggest("mometnum", c, 4), "momentum");
    assert_string_equal(rp_suggest("weight_decy", c, 4), "weight_decay");
    assert_null(rp_suggest("xyz", c, 4));
    assert_string_equal(rp_suggest("nestrv", c, 4), "nesterov"); /* 2 <= 6/3 */
    assert_null(rp_suggest("nstrv", c, 4));                      /* 3 > max(1, 5/3) */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_more_keywords),
        cmocka_unit_test(test_enum_const),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_alternatives),
        cmocka_unit_test_setup(test_components, setup_components),
        cmocka_unit_test_setup(test_loading, setup_components),
        cmocka_unit_test_setup(test_describe_and_export, setup_components),
        cmocka_unit_test(test_suggest),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    rp_schema_cache_clear();
    rp_schema_clear_dirs();
    return r;
}
