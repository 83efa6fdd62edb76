/* YAML node tree: positions, scalar typing, anchors/aliases/merge keys,
 * duplicate keys, emitter round trip, parse errors, paths and accessors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"

static rp_node *parse(const char *text) {
    rp_node *n = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_node_parse_string(text, "t.yaml", &n, &err), &err);
    return n;
}

static void test_positions(void **state) {
    (void)state;
    rp_node *r = parse("name: demo\n"
                       "stages:\n"
                       "  - id: fit\n"
                       "    with: {lr: 0.1, epochs: 3}\n");
    assert_int_equal(r->kind, RP_NODE_MAP);
    assert_int_equal(r->line, 1);
    assert_int_equal(r->col, 1);
    assert_string_equal(r->file, "t.yaml");
    const rp_node *name = rp_node_get(r, "name");
    assert_int_equal(name->line, 1);
    assert_int_equal(name->col, 7);
    assert_int_equal(r->keys[1]->line, 2);
    assert_int_equal(r->keys[1]->col, 1);
    const rp_node *id = rp_node_path(r, "stages.0.id");
    assert_non_null(id);
    assert_string_equal(id->str, "fit");
    assert_int_equal(id->line, 3);
    assert_int_equal(id->col, 9);
    const rp_node *lr = rp_node_path(r, "stages.0.with.lr");
    assert_int_equal(lr->line, 4);
    assert_int_equal(lr->col, 16);
    const rp_node *ep = rp_node_path(r, "stages.fit.with.epochs");
    assert_non_null(ep);
    assert_int_equal(ep->col, 29);
    /* file names are interned: the same pointer for two parses */
    rp_node *r2 = parse("a: 1\n");
    assert_ptr_equal(r2->file, r->file);
    rp_node_free(r2);
    rp_node_free(r);
}

static void test_scalar_typing(void **state) {
    (void)state;
    rp_node *r = parse("i: 42\nneg: -7\nhex: 0x1F\noct: 0o17\nplus: +5\n"
                       "f: 1.5\ne: 1e-4\nE: 2.5E+3\ndot: .5\ninf: .inf\nninf: -.Inf\nnan: .NaN\n"
                       "t: true\nT: True\nF: FALSE\nyes: yes\nno: off\n"
                       "n1: ~\nn2: null\nn3:\nn4: NULL\n"
                       "qi: '42'\nqb: \"true\"\nqn: 'null'\ns: hello\nint_float: 3.0\n"
                       "bad1: 1.2.3\nbad2: 0x\nbad3: 1e\nbad4: 12abc\nbig: 99999999999999999999\n");
    int64_t i;
    double d;
    int b;
    rp_error err;
    assert_int_equal(rp_node_as_int(rp_node_get(r, "i"), &i, &err), RP_OK);
    assert_int_equal(i, 42);
    assert_int_equal(rp_node_as_int(rp_node_get(r, "neg"), &i, &err), RP_OK);
    assert_int_equal(i, -7);
    assert_int_equal(rp_node_as_int(rp_node_get(r, "hex"), &i, &err), RP_OK);
    assert_int_equal(i, 31);
    assert_int_equal(rp_node_as_int(rp_node_get(r, "oct"), &i, &err), RP_OK);
    assert_int_equal(i, 15);
    assert_int_equal(rp_node_as_int(rp_node_get(r, "plus"), &i, &err), RP_OK);
    assert_int_equal(i, 5);
    assert_int_equal(rp_node_as_int(rp_node_get(r, "int_float"), &i, &err), RP_OK);
    assert_int_equal(i, 3);
    assert_int_not_equal(rp_node_as_int(rp_node_get(r, "f"), &i, &err), RP_OK);
    assert_string_equal(err.msg, "expected an integer, got 1.5");
    assert_int_equal(err.line, 6);
    assert_int_equal(err.col, 4);
    assert_int_not_equal(rp_node_as_int(rp_node_get(r, "qi"), &i, &err), RP_OK);
    assert_string_equal(err.msg, "expected an integer, got '42'");
    assert_int_not_equal(rp_node_as_int(rp_node_get(r, "big"), &i, &err), RP_OK);

    assert_int_equal(rp_node_as_double(rp_node_get(r, "f"), &d, &err), RP_OK);
    assert_true(d == 1.5);
    assert_int_equal(rp_node_as_double(rp_node_get(r, "e"), &d, &err), RP_OK);
    assert_true(d == 1e-4);
    assert_int_equal(rp_node_as_double(rp_node_get(r, "E"), &d, &err), RP_OK);
    assert_true(d == 2500.0);
    assert_int_equal(rp_node_as_double(rp_node_get(r, "dot"), &d, &err), RP_OK);
    assert_true(d == 0.5);
    assert_int_equal(rp_node_as_double(rp_node_get(r, "hex"), &d, &err), RP_OK);
    assert_true(d == 31.0);
    assert_int_equal(rp_node_as_double(rp_node_get(r, "inf"), &d, &err), RP_OK);
    assert_true(isinf(d) && d > 0);
    assert_int_equal(rp_node_as_double(rp_node_get(r, "ninf"), &d, &err), RP_OK);
    assert_true(isinf(d) && d < 0);
    assert_int_equal(rp_node_as_double(rp_node_get(r, "nan"), &d, &err), RP_OK);
    assert_true(isnan(d));
    const char *bad[] = {"bad1", "bad2", "bad3", "bad4", "s", "qi", "t", "n1"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        const rp_node *n = rp_node_get(r, bad[k]);
        assert_int_not_equal(rp_node_as_double(n, &d, &err), RP_OK);
        assert_false(rp_node_is_number(n));
    }
    rp_node_as_double(rp_node_get(r, "s"), &d, &err);
    assert_string_equal(err.msg, "expected a number, got 'hello'");

    assert_int_equal(rp_node_as_bool(rp_node_get(r, "t"), &b, &err), RP_OK);
    assert_int_equal(b, 1);
    assert_int_equal(rp_node_as_bool(rp_node_get(r, "T"), &b, &err), RP_OK);
    assert_int_equal(b, 1);
    assert_int_equal(rp_node_as_bool(rp_node_get(r, "F"), &b, &err), RP_OK);
    assert_int_equal(b, 0);
    /* YAML 1.2: yes/off are strings */
    assert_int_not_equal(rp_node_as_bool(rp_node_get(r, "yes"), &b, &err), RP_OK);
    assert_true(rp_node_is_string(rp_node_get(r, "yes")));
    assert_true(rp_node_is_string(rp_node_get(r, "no")));
    assert_int_not_equal(rp_node_as_bool(rp_node_get(r, "qb"), &b, &err), RP_OK);

    assert_true(rp_node_is_null(rp_node_get(r, "n1")));
    assert_true(rp_node_is_null(rp_node_get(r, "n2")));
    assert_true(rp_node_is_null(rp_node_get(r, "n3")));
    assert_true(rp_node_is_null(rp_node_get(r, "n4")));
    assert_int_equal(rp_node_get(r, "n3")->kind, RP_NODE_NULL);
    assert_false(rp_node_is_null(rp_node_get(r, "qn")));
    assert_true(rp_node_is_string(rp_node_get(r, "qn")));
    assert_true(rp_node_is_int(rp_node_get(r, "hex")));
    assert_false(rp_node_is_int(rp_node_get(r, "f")));
    assert_true(rp_node_is_number(rp_node_get(r, "i")));
    assert_true(rp_node_is_bool(rp_node_get(r, "F")));
    assert_false(rp_node_is_bool(rp_node_get(r, "qb")));
    assert_false(rp_node_is_string(rp_node_get(r, "i")));
    assert_true(rp_node_is_string(rp_node_get(r, "qi")));
    rp_node_free(r);
}

static void test_anchors_and_merge(void **state) {
    (void)state;
    rp_node *r = parse("base: &b {lr: 0.1, momentum: 0.9, nest: {a: 1}}\n"
                       "extra: &x {wd: 5e-4, lr: 0.5}\n"
                       "copy: *b\n"
                       "one:\n  <<: *b\n  lr: 0.2\n"
                       "two:\n  lr: 0.3\n  <<: [*x, *b]\n"
                       "list: &l [1, 2]\nlist2: *l\n");
    const rp_node *copy = rp_node_get(r, "copy");
    assert_true(rp_node_equal(copy, rp_node_get(r, "base")));
    assert_ptr_not_equal(copy, rp_node_get(r, "base")); /* deep copy, frees separately */
    /* explicit key wins over merged, order: explicit first */
    const rp_node *one = rp_node_get(r, "one");
    assert_int_equal(rp_node_len(one), 3);
    assert_string_equal(rp_node_key_at(one, 0), "lr");
    assert_string_equal(rp_node_get(one, "lr")->str, "0.2");
    assert_string_equal(rp_node_get(one, "momentum")->str, "0.9");
    assert_string_equal(rp_node_path(one, "nest.a")->str, "1");
    assert_null(rp_node_get(one, "<<"));
    /* list of maps: explicit wins, then earlier sources win over later ones */
    const rp_node *two = rp_node_get(r, "two");
    assert_string_equal(rp_node_get(two, "lr")->str, "0.3");
    assert_string_equal(rp_node_get(two, "wd")->str, "5e-4");
    assert_string_equal(rp_node_get(two, "momentum")->str, "0.9");
    assert_int_equal(rp_node_len(two), 4);
    rp_node *three = parse("x: &x {a: 1, b: 1}\ny: &y {b: 2, c: 2}\nz:\n  <<: [*y, *x]\n");
    const rp_node *z = rp_node_get(three, "z");
    assert_string_equal(rp_node_get(z, "b")->str, "2");
    assert_string_equal(rp_node_get(z, "a")->str, "1");
    rp_node_free(three);
    assert_int_equal(rp_node_len(rp_node_get(r, "list2")), 2);
    rp_node_free(r);
}

static void expect_parse_error(const char *text, int line, int col, const char *needle) {
    rp_node *n = (rp_node *)1;
    rp_error err;
    rp_error_clear(&err);
    int s = rp_node_parse_string(text, "bad.yaml", &n, &err);
    assert_int_not_equal(s, RP_OK);
    assert_null(n);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_string_equal(err.file, "bad.yaml");
    if (err.line != line || err.col != col)
        fail_msg("'%s' at %d:%d, expected %d:%d", err.msg, err.line, err.col, line, col);
}

static void test_errors(void **state) {
    (void)state;
    expect_parse_error("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first defined at 1:1)");
    expect_parse_error("x:\n  k: [1, 2\n", 3, 1, "invalid YAML");
    expect_parse_error("a: b: c\n", 1, 5, "invalid YAML: mapping values are not allowed");
    expect_parse_error("a: *nope\n", 1, 4, "invalid YAML");
    expect_parse_error("a: 1\n---\nb: 2\n", 3, 1, "single YAML document");
    expect_parse_error("a:\n\tb: 1\n", 2, 1, "(a tab: YAML indents with spaces only)");
    expect_parse_error("x: &a\n  - *a\n", 1, 4, "recursive alias");
    expect_parse_error("m:\n  <<: 3\n", 2, 3, "'<<' merge key expects a map");
    expect_parse_error("m:\n  <<: {a: 1}\n  <<: {b: 2}\n", 3, 3, "duplicate key '<<'");
    expect_parse_error("m:\n  <<: [{a: 1}, 2]\n", 2, 3, "'<<' merge key expects a map");
    expect_parse_error("? [a]\n: 1\n", 1, 3, "mapping keys must be plain scalars");
    /* billion laughs is refused, not expanded */
    expect_parse_error("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
                       1, 32, "too large");
    rp_node *n = NULL;
    rp_error err;
    assert_int_equal(rp_node_parse_file("/nonexistent/x.yaml", &n, &err), RP_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/x.yaml"));
}

/* `${...}` works inside flow collections (where braces are YAML syntax) and
 * keeps its columns; text that already uses the markers is left alone. */
/* Pipeline files are plain YAML: `${...}` is scalar text, nothing is
 * rewritten before parsing. In a flow collection a reference is quoted; an
 * unquoted one is the YAML error any other parser reports too. */
static void test_variables_are_plain_yaml(void **state) {
    (void)state;
    rp_node *r = parse("with: {arch: \"${matrix.arch}\", n: [\"${vars.a}\", \"x${vars.b}y\"], "
                       "q: '${k}'}\n"
                       "lit: \"$<kept> ${x}\"\n"
                       "block: ${vars.c}\n"
                       "${vars.key}: 1\n"
                       "open: ${not closed\n");
    const rp_node *a = rp_node_path(r, "with.arch");
    assert_string_equal(a->str, "${matrix.arch}");
    assert_int_equal(a->col, 14);
    assert_string_equal(rp_node_path(r, "with.n.0")->str, "${vars.a}");
    assert_string_equal(rp_node_path(r, "with.n.1")->str, "x${vars.b}y");
    assert_int_equal(rp_node_path(r, "with.n.1")->col, 49);
    assert_string_equal(rp_node_path(r, "with.q")->str, "${k}");
    assert_string_equal(rp_node_get(r, "lit")->str, "$<kept> ${x}");
    assert_string_equal(rp_node_get(r, "block")->str, "${vars.c}");
    assert_string_equal(rp_node_key_at(r, 3), "${vars.key}");
    assert_string_equal(rp_node_get(r, "open")->str, "${not closed");
    rp_node_free(r);
    rp_node *bad = NULL;
    rp_error err;
    rp_error_clear(&err);
    assert_int_equal(rp_node_parse_string("with: {limit: ${vars.limit}}\n", "f.yaml", &bad, &err),
                     RP_ERR_FORMAT);
    assert_null(bad);
    assert_int_equal(err.line, 1);
    assert_non_null(strstr(err.msg, "invalid YAML"));
    assert_non_null(strstr(err.msg, "(inside { } or [ ], quote a reference: limit: "
                                    "\"${vars.limit}\")"));
}

static void test_file_and_empty(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    const char *p = rp_test_path(dir, "f.yaml");
    rp_test_write(p, "# comment\n\nk:\n  - a\n  - b\n");
    rp_node *n = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_node_parse_file(p, &n, &err), &err);
    assert_string_equal(n->file, p);
    const rp_node *b = rp_node_path(n, "k.1");
    assert_string_equal(b->str, "b");
    assert_int_equal(b->line, 5);
    assert_int_equal(b->col, 5);
    rp_node_free(n);
    rp_node *e = parse("");
    assert_true(rp_node_is_null(e));
    rp_node_free(e);
}

static void roundtrip(rp_node *r) {
    char *y = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_node_to_yaml(r, &y, &err), &err);
    rp_node *back = NULL;
    if (rp_node_parse_string(y, "emitted", &back, &err) != RP_OK)
        fail_msg("emitted YAML does not parse: %s:%d:%d %s\n%s", err.file, err.line, err.col,
                 err.msg, y);
    if (!rp_node_equal(r, back)) fail_msg("round trip differs:\n%s", y);
    rp_node_free(back);
    free(y);
}

static void test_emit_roundtrip(void **state) {
    (void)state;
    rp_node *r = parse("name: demo\n"
                       "q: ['yes', '1e3', '', 'a: b', '- x', '#c', 'null', 'true', '42', "
                       "'x #y', ' lead', 'trail ', \"multi\\nline\", 'quote\"s', \"back\\\\\", "
                       "'@at', '*star', '&amp', '!bang', '%pc', '{b', '[b', ',c', '?q', '|p', "
                       "'>g', '0x1F', '.inf', '1_000', 'end:', '~', 'on', 'N', \"tab\\there\", "
                       "'uni: é']\n"
                       "typed: [1, -2.5, 1e3, true, null, .nan, 0x10]\n"
                       "empty_map: {}\nempty_seq: []\n"
                       "nested:\n  - a: 1\n    b: [x, {c: d}]\n  - [1, [2, 3]]\n  - {}\n"
                       "  - - deep\n    - list\n"
                       "'quoted key': 1\n'123': numeric-looking key\n"
                       "plain: hello world\npath: datasets/cifar-10\n");
    roundtrip(r);
    char *y = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_node_to_yaml(rp_node_get(r, "q"), &y, &err), &err);
    assert_non_null(strstr(y, "- \"yes\"\n"));
    assert_non_null(strstr(y, "- \"1e3\"\n"));
    assert_non_null(strstr(y, "- \"\"\n"));
    assert_non_null(strstr(y, "- \"a: b\"\n"));
    free(y);
    RP_ASSERT_OK(rp_node_to_yaml(rp_node_get(r, "typed"), &y, &err), &err);
    assert_string_equal(y, "- 1\n- -2.5\n- 1e3\n- true\n- null\n- .nan\n- 0x10\n");
    free(y);
    rp_node *small = parse("a: 1\nb:\n  c: [x, z]\n  d: {}\n");
    RP_ASSERT_OK(rp_node_to_yaml(small, &y, &err), &err);
    assert_string_equal(y, "a: 1\nb:\n  c:\n  - x\n  - z\n  d: {}\n");
    free(y);
    rp_node_free(small);
    /* cloned trees round-trip too and compare equal */
    rp_node *c = rp_node_clone(r);
    assert_true(rp_node_equal(c, r));
    roundtrip(c);
    rp_node_free(c);
    rp_node_free(r);
}

static void test_builders_and_params(void **state) {
    (void)state;
    rp_node *m = rp_node_new_map();
    assert_int_equal(rp_node_map_set(m, "lr", rp_node_new_scalar("0.01")), RP_OK);
    assert_int_equal(rp_node_map_set(m, "epochs", rp_node_new_scalar("12")), RP_OK);
    assert_int_equal(rp_node_map_set(m, "name", rp_node_new_string("true")), RP_OK);
    assert_int_equal(rp_node_map_set(m, "flag", rp_node_new_scalar("false")), RP_OK);
    rp_node *s = rp_node_new_seq();
    for (int i = 0; i < 20; i++) {
        char t[16];
        snprintf(t, sizeof t, "%d.5", i);
        assert_int_equal(rp_node_seq_push(s, rp_node_new_scalar(t)), RP_OK);
    }
    assert_int_equal(rp_node_map_set(m, "mean", s), RP_OK);
    assert_int_equal(rp_node_map_set(m, "lr", rp_node_new_scalar("0.5")), RP_OK); /* replaces */
    assert_int_equal(rp_node_len(m), 5);
    assert_true(rp_param_double(m, "lr") == 0.5);
    assert_int_equal(rp_param_int(m, "epochs"), 12);
    assert_null(rp_param_take_missing());
    /* an absent key reads as 0 and is remembered (defaults live in schemas) */
    assert_int_equal(rp_param_int(m, "missing"), 0);
    assert_false(rp_param_has(m, "missing"));
    assert_string_equal(rp_param_take_missing(), "missing");
    assert_null(rp_param_take_missing());
    assert_string_equal(rp_param_str(m, "name"), "true");
    assert_int_equal(rp_param_bool(m, "name"), 0); /* quoted: not a bool */
    assert_null(rp_param_take_missing());
    assert_int_equal(rp_param_bool(m, "flag"), 0);
    double v[4];
    assert_int_equal(rp_param_doubles(m, "mean", v, 4), 4);
    assert_true(v[3] == 3.5);
    assert_int_equal(rp_param_doubles(m, "lr", v, 4), 1);
    assert_true(v[0] == 0.5);
    assert_int_equal(rp_param_doubles(m, "name", v, 4), -1);
    assert_int_equal(rp_node_map_remove(m, "epochs"), RP_OK);
    assert_int_equal(rp_node_map_remove(m, "epochs"), RP_ERR_NOTFOUND);
    assert_null(rp_node_get(m, "epochs"));
    assert_int_equal(rp_node_map_set(m, "again", rp_node_new_null()), RP_OK);
    assert_true(rp_node_is_null(rp_node_get(m, "again")));
    assert_string_equal(rp_node_path(m, "mean.19")->str, "19.5");
    assert_null(rp_node_path(m, "mean.20"));
    assert_null(rp_node_path(m, "lr.x"));
    rp_node *c = rp_node_clone(m);
    assert_true(rp_node_equal(c, m));
    rp_node_map_set(c, "flag", rp_node_new_string("false"));
    assert_false(rp_node_equal(c, m));
    rp_node_free(c);
    roundtrip(m);
    rp_node_free(m);
    char buf[32];
    rp_node *str = rp_node_new_string("fast");
    assert_string_equal(rp_node_describe(str, buf, sizeof buf), "'fast'");
    rp_node_free(str);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions),         cmocka_unit_test(test_scalar_typing),
        cmocka_unit_test(test_anchors_and_merge), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_file_and_empty),    cmocka_unit_test(test_emit_roundtrip),
        cmocka_unit_test(test_builders_and_params), cmocka_unit_test(test_variables_are_plain_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
