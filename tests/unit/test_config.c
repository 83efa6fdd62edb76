/* Pipeline configuration: variables (node vs string), env, nested vars,
 * cycles, unknown-variable suggestions, --set forms, matrix product order,
 * labels, dirnames and seeds, errors collected from several cells. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"
#include "config/config.h"
#include "config/schema.h"

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

static rp_config *load_ok(const char *text, const struct rp_config_opts *o) {
    rp_config *c = NULL;
    rp_diag d;
    rp_diag_init(&d);
    if (rp_config_load_string(text, "p.yaml", o, &c, &d) != RP_OK) {
        char *r = rp_diag_render(&d, 0);
        fail_msg("config rejected:\n%s", r);
    }
    assert_int_equal(d.n, 0);
    rp_diag_release(&d);
    return c;
}

/* Load expecting failure; returns the diag (caller releases). */
static void load_bad(const char *text, const struct rp_config_opts *o, rp_diag *d) {
    rp_config *c = (rp_config *)1;
    rp_diag_init(d);
    assert_int_equal(rp_config_load_string(text, "p.yaml", o, &c, d), RP_ERR_INVALID);
    assert_null(c);
    assert_true(d->n > 0);
}

/* Is there an error with exactly this message (and location when line > 0)? */
static void expect_diag(const rp_diag *d, const char *msg, int line, int col) {
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->e[i].msg, msg)) {
            if (line > 0 && (d->e[i].line != line || d->e[i].col != col))
                fail_msg("'%s' at %d:%d, expected %d:%d", msg, d->e[i].line, d->e[i].col, line,
                         col);
            return;
        }
    for (size_t i = 0; i < d->n; i++) print_message("  have: %s\n", d->e[i].msg);
    fail_msg("no error '%s'", msg);
}

#define HEAD "runpipe: 1\nname: t\n"
#define STAGE "stages:\n  - id: s\n    use: x\n"

static void test_basic(void **state) {
    (void)state;
    rp_config *c = load_ok("runpipe: 1\nstages:\n  - {id: a, use: data.x}\n", NULL);
    assert_string_equal(c->name, "p"); /* from the file name */
    assert_int_equal(c->n_cells, 1);
    assert_string_equal(c->cells[0].label, "");
    assert_string_equal(c->cells[0].dirname, "");
    assert_int_equal(rp_node_len(c->cells[0].values), 0);
    assert_int_equal(c->cells[0].seed, 0);
    assert_string_equal(rp_node_get(c->cells[0].doc, "seed")->str, "0"); /* default filled */
    assert_null(c->aggregate);
    assert_non_null(c->root);
    rp_config_free(c);
}

static void test_vars(void **state) {
    (void)state;
    rp_config *c = load_ok(HEAD "vars:\n"
                                "  n: 3\n"
                                "  k: 4\n"
                                "  list: [a, b]\n"
                                "  opt: {lr: 0.1, sched: {gamma: 0.5}}\n"
                                "  name: run-${vars.n}\n"
                                "  chained: ${vars.name}\n"
                                "stages:\n"
                                "  - id: s\n"
                                "    use: x\n"
                                "    with:\n"
                                "      whole: ${vars.list}\n"
                                "      map: ${vars.opt}\n"
                                "      nested: ${vars.opt.sched.gamma}\n"
                                "      text: \"n=${vars.n}, k=${vars.k}\"\n"
                                "      typed: 1e-${vars.k}\n"
                                "      quoted: '${vars.n}'\n"
                                "      plain: ${vars.n}\n"
                                "      escaped: $${vars.n} costs $$5\n"
                                "      chain: ${vars.chained}\n"
                                "      item: ${vars.list.1}\n",
                           NULL);
    const rp_node *w = rp_node_path(c->cells[0].doc, "stages.0.with");
    assert_non_null(w);
    const rp_node *whole = rp_node_get(w, "whole");
    assert_int_equal(whole->kind, RP_NODE_SEQ);
    assert_int_equal(whole->n, 2);
    assert_int_equal(whole->line, 14); /* the reference site */
    assert_int_equal(whole->col, 14);
    assert_string_equal(rp_node_path(w, "map.lr")->str, "0.1");
    assert_string_equal(rp_node_path(w, "nested")->str, "0.5");
    assert_string_equal(rp_node_get(w, "text")->str, "n=3, k=4");
    assert_true(rp_node_is_string(rp_node_get(w, "text")));
    assert_string_equal(rp_node_get(w, "typed")->str, "1e-4");
    assert_true(rp_node_is_number(rp_node_get(w, "typed")));
    assert_string_equal(rp_node_get(w, "quoted")->str, "3");
    assert_true(rp_node_is_string(rp_node_get(w, "quoted")));
    assert_true(rp_node_is_int(rp_node_get(w, "plain")));
    assert_string_equal(rp_node_get(w, "escaped")->str, "${vars.n} costs $$5");
    assert_string_equal(rp_node_get(w, "chain")->str, "run-3");
    assert_string_equal(rp_node_get(w, "item")->str, "b");
    /* the resolved vars are in the document too */
    assert_string_equal(rp_node_path(c->cells[0].doc, "vars.chained")->str, "run-3");
    rp_config_free(c);
}

static void test_env(void **state) {
    (void)state;
    setenv("RP_TEST_EPOCHS", "7", 1);
    unsetenv("RP_TEST_UNSET");
    rp_config *c = load_ok(HEAD STAGE "    with: {e: '${env.RP_TEST_EPOCHS}', n: ${env.RP_TEST_EPOCHS}, "
                                      "p: /data/${env.RP_TEST_EPOCHS}/x}\n",
                           NULL);
    const rp_node *w = rp_node_path(c->cells[0].doc, "stages.0.with");
    assert_string_equal(rp_node_get(w, "e")->str, "7");
    assert_true(rp_node_is_string(rp_node_get(w, "e")));
    assert_true(rp_node_is_int(rp_node_get(w, "n")));
    assert_string_equal(rp_node_get(w, "p")->str, "/data/7/x");
    rp_config_free(c);
    rp_diag d;
    load_bad(HEAD STAGE "    with: {e: ${env.RP_TEST_UNSET}}\n", NULL, &d);
    expect_diag(&d, "environment variable 'RP_TEST_UNSET' is not set", 6, 15);
    rp_diag_release(&d);
}

static void test_cycles(void **state) {
    (void)state;
    rp_diag d;
    load_bad(HEAD "vars:\n  a: x${vars.b}\n  b: ${vars.c}\n  c: [${vars.a}]\n" STAGE
                  "    with: {v: '${vars.a}'}\n",
             NULL, &d);
    expect_diag(&d, "variable cycle: vars.a -> vars.b -> vars.c -> vars.a", 6, 7);
    assert_int_equal(d.n, 1);
    rp_diag_release(&d);
    load_bad(HEAD "vars:\n  self: ${vars.self}\n" STAGE, NULL, &d);
    expect_diag(&d, "variable cycle: vars.self -> vars.self", 4, 9);
    rp_diag_release(&d);
}

static void test_unknown_vars(void **state) {
    (void)state;
    rp_diag d;
    load_bad(HEAD "vars: {epochs: 3, opt: {lr: 1}}\nmatrix: {arch: [a]}\n" STAGE
                  "    with:\n"
                  "      a: ${vars.epoch}\n"
                  "      b: ${matrix.arc}\n"
                  "      c: ${vars.opt.lrr}\n"
                  "      d: x-${foo.bar}\n"
                  "      e: ${vars.zzzzzz}\n"
                  "      f: 'unterminated ${vars.epochs'\n"
                  "      g: ${}\n"
                  "      h: 'a ${vars.opt} b'\n",
             NULL, &d);
    expect_diag(&d, "unknown variable 'vars.epoch' (did you mean 'vars.epochs'?)", 9, 10);
    expect_diag(&d, "unknown variable 'matrix.arc' (did you mean 'matrix.arch'?)", 10, 10);
    expect_diag(&d, "unknown variable 'vars.opt.lrr' (did you mean 'vars.opt.lr'?)", 11, 10);
    expect_diag(&d, "unknown variable 'foo.bar' (use ${vars.NAME}, ${matrix.NAME} or ${env.NAME})",
                12, 10);
    expect_diag(&d, "unknown variable 'vars.zzzzzz' (known: vars.epochs, vars.opt, matrix.arch)",
                13, 10);
    expect_diag(&d, "unterminated '${' in 'unterminated ${vars.epochs' (missing '}')", 14, 10);
    expect_diag(&d, "empty variable reference '${}'", 15, 10);
    expect_diag(&d,
                "'${vars.opt}' is a map and cannot be part of a string (write it alone: key: "
                "${vars.opt})",
                16, 10);
    assert_int_equal(d.n, 8);
    rp_diag_release(&d);
}

static void test_set(void **state) {
    (void)state;
    const char *text = HEAD "seed: 1\nvars: {epochs: 30}\n"
                            "stages:\n"
                            "  - id: data\n    use: d\n"
                            "  - id: fit\n    use: train\n    with:\n"
                            "      epochs: ${vars.epochs}\n      lr: 0.1\n"
                            "  - id: ev\n    use: eval\n    with:\n";
    const char *sets[] = {"vars.epochs=2",          "seed=5",
                          "stages.fit.with.lr=0.5", "stages.0.with.x=[1, 2]",
                          "stages.ev.with.k=top",   "vars.new.deep=yes",
                          "matrix.seed=[7, 8]"};
    struct rp_config_opts o = {sets, 7, 0, 0};
    rp_config *c = load_ok(text, &o);
    assert_int_equal(c->n_cells, 2);
    const rp_node *doc = c->cells[0].doc;
    assert_string_equal(rp_node_path(doc, "stages.fit.with.epochs")->str, "2");
    assert_string_equal(rp_node_path(doc, "stages.fit.with.lr")->str, "0.5");
    assert_int_equal(rp_node_len(rp_node_path(doc, "stages.0.with.x")), 2);
    assert_string_equal(rp_node_path(doc, "stages.ev.with.k")->str, "top");
    assert_string_equal(rp_node_path(doc, "vars.new.deep")->str, "yes");
    /* matrix seed wins over the file seed (even a --set one) */
    assert_int_equal(c->cells[0].seed, 7);
    assert_int_equal(c->cells[1].seed, 8);
    /* nodes from --set are located in the argument */
    const rp_node *lr = rp_node_path(doc, "stages.fit.with.lr");
    assert_string_equal(lr->file, "--set");
    assert_int_equal(lr->line, 3);
    assert_int_equal(lr->col, 20);
    rp_config_free(c);

    /* --seed beats everything */
    struct rp_config_opts o2 = {sets, 7, 1, 99};
    c = load_ok(text, &o2);
    assert_int_equal(c->cells[0].seed, 99);
    assert_int_equal(c->cells[1].seed, 99);
    assert_string_equal(rp_node_get(c->cells[1].doc, "seed")->str, "99");
    rp_config_free(c);

    rp_diag d;
    const char *bad[] = {"stages.fitt.with.lr=1", "noequals", "stages.7.with.lr=1",
                         "name.x=1", "vars.epochs=[unclosed", "stages.zzzzz.with.a=1"};
    struct rp_config_opts o3 = {bad, 6, 0, 0};
    load_bad(text, &o3, &d);
    expect_diag(&d,
                "--set 'stages.fitt.with.lr=1': no stage with id 'fitt' (did you mean 'fit'? "
                "stage ids: data, fit, ev)",
                0, 0);
    expect_diag(&d, "--set 'noequals': expected PATH=VALUE (e.g. vars.epochs=1)", 0, 0);
    expect_diag(&d, "--set 'stages.7.with.lr=1': index 7 is out of range ('stages' has 3 items)",
                0, 0);
    expect_diag(&d, "--set 'name.x=1': 'name' is a value, not a map or a list", 0, 0);
    expect_diag(&d,
                "--set 'stages.zzzzz.with.a=1': no stage with id 'zzzzz' (stage ids: data, fit, "
                "ev)",
                0, 0);
    int found = 0;
    for (size_t i = 0; i < d.n; i++)
        found |= !strncmp(d.e[i].msg, "--set 'vars.epochs=[unclosed': invalid YAML value: ", 50);
    assert_true(found);
    assert_int_equal(d.n, 6);
    rp_diag_release(&d);
}

static void test_matrix(void **state) {
    (void)state;
    rp_config *c = NULL;
    rp_diag d;
    rp_diag_init(&d);
    const char *path = rp_test_path(rp_test_src(), "tests/fixtures/config/sweep.yaml");
    if (rp_config_load(path, NULL, &c, &d) != RP_OK) fail_msg("%s", rp_diag_render(&d, 0));
    assert_string_equal(c->name, "sweep");
    assert_int_equal(c->n_cells, 6);
    static const char *labels[] = {"arch=resnet20 seed=1", "arch=resnet20 seed=2",
                                   "arch=resnet20 seed=3", "arch=resnet32 seed=1",
                                   "arch=resnet32 seed=2", "arch=resnet32 seed=3"};
    static const char *dirs[] = {"arch-resnet20_seed-1", "arch-resnet20_seed-2",
                                 "arch-resnet20_seed-3", "arch-resnet32_seed-1",
                                 "arch-resnet32_seed-2", "arch-resnet32_seed-3"};
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(c->cells[i].label, labels[i]);
        assert_string_equal(c->cells[i].dirname, dirs[i]);
        assert_int_equal(c->cells[i].seed, i % 3 + 1);
        const rp_node *w = rp_node_path(c->cells[i].doc, "stages.fit.with");
        assert_string_equal(rp_node_get(w, "arch")->str, i < 3 ? "resnet20" : "resnet32");
        assert_string_equal(rp_node_get(w, "note")->str,
                            i < 3 ? "run-4 of resnet20" : "run-4 of resnet32");
        assert_string_equal(rp_node_path(c->cells[i].values, "arch")->str,
                            i < 3 ? "resnet20" : "resnet32");
    }
    /* locations point into the file */
    const rp_node *ep = rp_node_path(c->cells[4].doc, "stages.fit.with.epochs");
    assert_string_equal(ep->file, path);
    assert_int_equal(ep->line, 21);
    assert_int_equal(ep->col, 15);
    assert_non_null(c->aggregate);
    assert_string_equal(rp_node_path(c->aggregate, "over.0")->str, "seed");
    rp_config_free(c);
    rp_diag_release(&d);

    /* no seed axis: the file seed; values that are not filename-safe; non-scalar values */
    c = load_ok(HEAD "seed: 11\nmatrix:\n  opt: [{sgd: {lr: 0.1}}, adam]\n  tag: ['a/b c', "
                     "'a?b c']\n" STAGE,
                NULL);
    assert_int_equal(c->n_cells, 4);
    assert_int_equal(c->cells[3].seed, 11);
    assert_string_equal(c->cells[0].label, "opt={sgd: {lr: 0.1}} tag=a/b c");
    assert_string_equal(c->cells[0].dirname, "opt-1_tag-a_b_c");
    assert_string_equal(c->cells[1].dirname, "opt-1_tag-a_b_c_2"); /* made unique */
    assert_string_equal(c->cells[2].dirname, "opt-adam_tag-a_b_c");
    rp_config_free(c);

    /* matrix axes from vars */
    c = load_ok(HEAD "vars: {archs: [x, y, z]}\nmatrix: {arch: ${vars.archs}}\n" STAGE, NULL);
    assert_int_equal(c->n_cells, 3);
    assert_string_equal(c->cells[2].label, "arch=z");
    rp_config_free(c);

    /* a reference nested in a reference picks a per-cell entry of a map
     * (S1: what `method: adapter` means for two stages) */
    c = load_ok(HEAD "vars:\n  m: {a: {on: true, tf: []}, b: {on: false, tf: [g3]}}\n"
                     "matrix: {method: [a, b]}\n"
                     "stages:\n  - id: s\n    use: x\n    with:\n"
                     "      on: ${vars.m.${matrix.method}.on}\n"
                     "      tf: ${vars.m.${matrix.method}.tf}\n"
                     "      note: '${matrix.method}-${vars.m.${matrix.method}.on}'\n",
                NULL);
    assert_int_equal(c->n_cells, 2);
    const rp_node *w0 = rp_node_path(c->cells[0].doc, "stages.s.with");
    const rp_node *w1 = rp_node_path(c->cells[1].doc, "stages.s.with");
    assert_true(rp_node_is_bool(rp_node_get(w0, "on")));
    assert_string_equal(rp_node_get(w0, "on")->str, "true");
    assert_int_equal(rp_node_get(w0, "tf")->kind, RP_NODE_SEQ);
    assert_int_equal(rp_node_len(rp_node_get(w0, "tf")), 0);
    assert_string_equal(rp_node_str(rp_node_at(rp_node_get(w1, "tf"), 0)), "g3");
    assert_string_equal(rp_node_get(w1, "note")->str, "b-false");
    rp_config_free(c);
    rp_diag d2;
    rp_diag_init(&d2);
    load_bad(HEAD "vars:\n  m: {a: 1}\nmatrix: {method: [a, c]}\n"
                  "stages:\n  - id: s\n    use: x\n    with:\n      v: ${vars.m.${matrix.method}}\n",
             NULL, &d2);
    char *r = rp_diag_render(&d2, 0);
    assert_non_null(strstr(r, "unknown variable 'vars.m.c'"));
    free(r);
    rp_diag_release(&d2);
}

static void test_matrix_errors(void **state) {
    (void)state;
    rp_diag d;
    load_bad(HEAD "matrix: {a: [], b: 3}\n" STAGE, NULL, &d);
    expect_diag(&d, "'matrix.a': expected a non-empty list of values, got an empty list", 3, 13);
    expect_diag(&d, "'matrix.b': expected a non-empty list of values, got 3", 3, 20);
    rp_diag_release(&d);
    load_bad(HEAD "matrix: {seed: [1, -2, x]}\n" STAGE, NULL, &d);
    expect_diag(&d, "'matrix.seed': expected a non-negative integer, got -2", 3, 20);
    expect_diag(&d, "'matrix.seed': expected a non-negative integer, got 'x'", 3, 24);
    rp_diag_release(&d);
    load_bad(HEAD "matrix: {seed: [1], lr: [1]}\naggregate: {over: [sed, zzz]}\n" STAGE, NULL, &d);
    expect_diag(&d, "'aggregate.over[0]': 'sed' is not a matrix axis (did you mean 'seed'?)", 4,
                20);
    expect_diag(&d, "'aggregate.over[1]': 'zzz' is not a matrix axis (axes: seed, lr)", 4, 25);
    rp_diag_release(&d);
    load_bad(HEAD "aggregate: {over: [seed]}\n" STAGE, NULL, &d);
    expect_diag(&d, "'aggregate': there is no matrix to aggregate over", 3, 12);
    rp_diag_release(&d);
    load_bad(HEAD "matrix: {a: '${matrix.b}', b: [1]}\n" STAGE, NULL, &d);
    expect_diag(&d, "matrix values cannot refer to ${matrix.b}", 3, 13);
    rp_diag_release(&d);
    load_bad(HEAD "matrix: {a: [1, 2, 3], b: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, "
                  "15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, "
                  "34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, "
                  "53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, "
                  "72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, "
                  "91, 92, 93, 94, 95, 96, 97, 98, 99, 100], c: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "
                  "11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, "
                  "30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, "
                  "49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, "
                  "68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, "
                  "87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, "
                  "105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, "
                  "120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132, 133, 134, "
                  "135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146, 147, 148, 149, "
                  "150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, "
                  "165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175, 176, 177, 178, 179, "
                  "180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 192, 193, 194, "
                  "195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, "
                  "210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223, 224, "
                  "225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, "
                  "240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, "
                  "255, 256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, "
                  "270, 271, 272, 273, 274, 275, 276, 277, 278, 279, 280, 281, 282, 283, 284, "
                  "285, 286, 287, 288, 289, 290, 291, 292, 293, 294, 295, 296, 297, 298, 299, "
                  "300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 312, 313, 314, "
                  "315, 316, 317, 318, 319, 320, 321, 322, 323, 324, 325, 326, 327, 328, 329, "
                  "330, 331, 332, 333, 334]}\n" STAGE,
             NULL, &d);
    expect_diag(&d, "'matrix': more than 100000 cells", 3, 9);
    rp_diag_release(&d);
}

static void test_errors_from_cells(void **state) {
    (void)state;
    rp_diag d;
    /* each cell is substituted and checked: the second cell has a bad name,
     * the third a negative seed; a common error is reported once */
    load_bad("runpipe: 1\n"
             "name: ${matrix.n}\n"
             "seed: ${matrix.s}\n"
             "matrix:\n"
             "  n: [ok, 'bad name']\n"
             "  s: [1, -1]\n"
             "stages:\n"
             "  - id: s\n"
             "    use: x\n"
             "    with: {v: '${vars.missing}'}\n",
             NULL, &d);
    expect_diag(&d, "'name': 'bad name' does not match the pattern ^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
                2, 7);
    expect_diag(&d, "'seed': -1 is below the minimum 0", 3, 7);
    expect_diag(&d, "unknown variable 'vars.missing' (known: matrix.n, matrix.s)", 10, 15);
    assert_int_equal(d.n, 3);
    rp_diag_release(&d);

    /* many errors: everything in the file is reported, from the fixture */
    rp_config *c = NULL;
    rp_diag_init(&d);
    const char *path = rp_test_path(rp_test_src(), "tests/fixtures/config/bad_many.yaml");
    assert_int_equal(rp_config_load(path, NULL, &c, &d), RP_ERR_INVALID);
    expect_diag(&d, "'stagse': unknown parameter (did you mean 'stages'?)", 4, 1);
    expect_diag(&d, "unknown variable 'vars.epoch' (did you mean 'vars.epochs'?)", 9, 15);
    expect_diag(&d,
                "'stages[1].id': '2bad' does not match the pattern ^[A-Za-z_][A-Za-z0-9_-]*$", 10,
                9);
    expect_diag(&d, "duplicate stage id 'fit' (first defined at line 6)", 12, 9);
    expect_diag(&d, "'stages[2].wiht': unknown parameter (did you mean 'with'?)", 14, 5);
    assert_int_equal(d.n, 5);
    char *r = rp_diag_render(&d, 0);
    assert_non_null(strstr(r, "bad_many.yaml:9:15: error: unknown variable 'vars.epoch' (did you "
                              "mean 'vars.epochs'?)\n    9 |       epochs: ${vars.epoch}\n      |  "
                              "             ^~~~~~~~~~~~~\n"));
    assert_non_null(strstr(r, "\n5 errors\n"));
    free(r);
    rp_diag_release(&d);
}

/* partial: the best-effort config comes back with the errors, and a failed
 * ${...} does not cause a second error when the stage is validated */
static void test_partial(void **state) {
    (void)state;
    rp_config *c = NULL;
    rp_diag d;
    rp_diag_init(&d);
    const char *path = rp_test_path(rp_test_tmpdir(), "p.yaml");
    rp_test_write(path, HEAD "vars: {epochs: 3}\nmatrix: {a: [1, 2]}\n" STAGE
                             "    with: {epochs: ${vars.epoch}, lr: fast}\n");
    assert_int_equal(rp_config_load_partial(path, NULL, &c, &d), RP_ERR_INVALID);
    assert_non_null(c);
    assert_int_equal(c->n_cells, 2);
    assert_int_equal(d.n, 1);
    const rp_node *w = rp_node_path(c->cells[1].doc, "stages.0.with");
    assert_int_equal(rp_node_get(w, "epochs")->quoted, RP_NODE_UNRESOLVED);
    rp_schema *s = NULL;
    rp_node *sn = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_node_parse_string("type: object\nproperties: {epochs: {type: integer}, "
                                      "lr: {type: number}}\n",
                                      "s.yaml", &sn, &err),
                 &err);
    RP_ASSERT_OK(rp_schema_from_node(sn, "s", &s, &err), &err);
    rp_node *params = NULL;
    assert_int_equal(rp_schema_validate(s, w, "stage 's' (x): ", &params, &d), RP_ERR_INVALID);
    assert_int_equal(d.n, 2); /* only lr is new */
    expect_diag(&d, "stage 's' (x): 'lr': expected a number, got 'fast'", 8, 39);
    /* the plain loader hands out nothing */
    rp_config *c2 = (rp_config *)1;
    rp_diag d2;
    rp_diag_init(&d2);
    assert_int_equal(rp_config_load(path, NULL, &c2, &d2), RP_ERR_INVALID);
    assert_null(c2);
    rp_diag_release(&d2);
    rp_node_free(params);
    rp_schema_free(s);
    rp_config_free(c);
    rp_diag_release(&d);
}

static void test_format_errors(void **state) {
    (void)state;
    rp_diag d;
    load_bad("runpipe: 2\n" STAGE, NULL, &d);
    expect_diag(&d, "'runpipe': unsupported format version 2 (this runpipe reads version 1)", 1,
                10);
    rp_diag_release(&d);
    load_bad(STAGE, NULL, &d);
    expect_diag(&d, "missing required parameter 'runpipe'", 1, 1);
    rp_diag_release(&d);
    load_bad("- a\n- b\n", NULL, &d);
    expect_diag(&d, "expected a pipeline (a map with 'runpipe: 1' and 'stages'), got a list", 1,
                1);
    rp_diag_release(&d);
    load_bad("runpipe: 1\nstages: []\n", NULL, &d);
    expect_diag(&d, "'stages': expected at least 1 item, got 0", 2, 9);
    rp_diag_release(&d);
    load_bad("runpipe: 1\nstages:\n  - id: a\n    in: {x: [1]}\n", NULL, &d);
    expect_diag(&d, "'stages[0]': missing required parameter 'use'", 3, 5);
    expect_diag(&d, "'stages[0].in.x[0]': expected a string, got 1", 4, 14);
    rp_diag_release(&d);
    load_bad("runpipe: 1\nstages: [{id: a, use: b}]\nkey: [unclosed\n", NULL, &d);
    assert_int_equal(d.e[0].line, 4);
    rp_diag_release(&d);
    rp_config *c = NULL;
    rp_diag_init(&d);
    assert_int_equal(rp_config_load("/nonexistent/p.yaml", NULL, &c, &d), RP_ERR_IO);
    assert_int_equal(d.n, 1);
    rp_diag_release(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),          cmocka_unit_test(test_vars),
        cmocka_unit_test(test_env),            cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_unknown_vars),   cmocka_unit_test(test_set),
        cmocka_unit_test(test_matrix),         cmocka_unit_test(test_matrix_errors),
        cmocka_unit_test(test_errors_from_cells), cmocka_unit_test(test_format_errors),
        cmocka_unit_test(test_partial),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
