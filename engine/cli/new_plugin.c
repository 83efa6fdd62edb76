/* runpipe new-plugin NAME [DIR] — write a plugin that builds and tests
 * against the installed SDK out of the box (`make && make check`):
 *
 *   DIR/Makefile                 pkg-config runpipe; schemas embedded in the .so
 *   DIR/plugin.c                 RP_PLUGIN(NAME, version)
 *   DIR/stage_stats.c            stage NAME.stats: dataset in, metrics out
 *   DIR/tf_invert.c              transform NAME_invert: x -> 1 - x with probability p
 *   DIR/NAME.h                   what the test calls directly
 *   DIR/schemas/NAME...yaml        the stage's and the transform's parameters
 *   DIR/tests/test_NAME.c        cmocka: the transform, the statistic, the .so's descriptor
 *   DIR/example.yaml             a pipeline using both (run by `make check`)
 *   DIR/README.md
 * Every "@N@" in the texts below becomes NAME. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "runpipe/runpipe.h"

static const char makefile_t[] =
    "# The @N@ runpipe plugin, built against the installed SDK:\n"
    "#   make          build/@N@.so (its schemas embedded: one file to install)\n"
    "#   make check    unit tests, then example.yaml through runpipe\n"
    "#   make install  copy the .so into runpipe's plugin directory\n"
    "# PKG_CONFIG_PATH must find runpipe.pc (<prefix>/lib/pkgconfig).\n"
    "NAME     := @N@\n"
    "PKG      ?= pkg-config\n"
    "PREFIX   := $(shell $(PKG) --variable=prefix runpipe)\n"
    "LIBDIR   := $(shell $(PKG) --variable=libdir runpipe)\n"
    "EMBED    := $(shell $(PKG) --variable=embedschemas runpipe)\n"
    "RUNPIPE  ?= $(PREFIX)/bin/runpipe\n"
    "CFLAGS   ?= -O2 -g\n"
    "# what the build needs, kept apart so `make CFLAGS=...` only changes the rest\n"
    "RPFLAGS  := -std=c11 -Wall -Wextra -Werror -fPIC $(shell $(PKG) --cflags runpipe)\n"
    "LDLIBS   := $(shell $(PKG) --libs runpipe) -lm\n"
    "SRC      := $(wildcard *.c)\n"
    "OBJ      := $(SRC:%.c=build/%.o)\n"
    "\n"
    ".PHONY: all check install clean\n"
    "all: build/$(NAME).so\n"
    "\n"
    "# Only rp_plugin_entry is exported (RP_PLUGIN); everything else stays inside.\n"
    "build/%.o: %.c $(NAME).h\n"
    "\t@mkdir -p build\n"
    "\t$(CC) $(RPFLAGS) $(CFLAGS) -fvisibility=hidden -c $< -o $@\n"
    "\n"
    "# schemas/*.yaml compiled in (RP_SCHEMA); RUNPIPE_SCHEMA_PATH=schemas overrides them\n"
    "# while you edit a schema.\n"
    "build/schemas.c: $(wildcard schemas/*.yaml)\n"
    "\t@mkdir -p build\n"
    "\tsh $(EMBED) $@ $^\n"
    "build/schemas.o: build/schemas.c\n"
    "\t$(CC) $(RPFLAGS) $(CFLAGS) -fvisibility=hidden -c $< -o $@\n"
    "\n"
    "build/$(NAME).so: $(OBJ) build/schemas.o\n"
    "\t$(CC) $(RPFLAGS) $(CFLAGS) -shared -o $@ $^ $(LDLIBS)\n"
    "\n"
    "# The test links the plugin's objects (not plugin.c) and librunpipe.\n"
    "build/test_$(NAME): tests/test_$(NAME).c $(filter-out build/plugin.o,$(OBJ)) build/$(NAME).so\n"
    "\t$(CC) $(RPFLAGS) $(CFLAGS) -I. -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka \\\n"
    "\t    -Wl,-rpath,$(LIBDIR)\n"
    "\n"
    "check: build/test_$(NAME) build/$(NAME).so\n"
    "\tcd build && ./test_$(NAME)\n"
    "\tRUNPIPE_PLUGIN_PATH=$(CURDIR)/build $(RUNPIPE) run example.yaml --out build/run --no-cache --quiet\n"
    "\tgrep -q '\"@N@.mean\"' build/run/metrics.json\n"
    "\t@echo \"$(NAME): all checks passed\"\n"
    "\n"
    "install: build/$(NAME).so\n"
    "\tinstall -d $(DESTDIR)$(shell $(PKG) --variable=plugindir runpipe)\n"
    "\tinstall -m 755 $< $(DESTDIR)$(shell $(PKG) --variable=plugindir runpipe)/\n"
    "\n"
    "clean:\n"
    "\trm -rf build\n";

static const char header_t[] =
    "/* The @N@ plugin's internals that the test calls directly. */\n"
    "#ifndef @U@_H\n"
    "#define @U@_H\n"
    "\n"
    "#include <runpipe/runpipe.h>\n"
    "\n"
    "/* Mean and extremes of the pixels of the first `limit` samples of `ds`\n"
    " * (0 = all) at epoch 0; *n = samples read. */\n"
    "int @N@_pixel_stats(const rp_dataset *ds, uint64_t limit, double *mean, double *min,\n"
    "                    double *max, uint64_t *n, rp_error *err);\n"
    "\n"
    "/* The transform's table (tf_invert.c). */\n"
    "extern const struct rp_transform_ops @N@_invert_ops;\n"
    "\n"
    "#endif\n";

static const char plugin_t[] =
    "/* The @N@ plugin: RP_PLUGIN hands runpipe everything the other files declare\n"
    " * with RP_STAGE / RP_COMPONENT (and the schemas, RP_SCHEMA in build/schemas.c). */\n"
    "#include <runpipe/runpipe.h>\n"
    "\n"
    "RP_PLUGIN(\"@N@\", \"0.1.0\")\n";

static const char stage_t[] =
    "/* Stage @N@.stats: pixel statistics of a dataset as metrics\n"
    " * (\"@N@.mean\", \"@N@.min\", \"@N@.max\", \"@N@.samples\"). */\n"
    "#include <math.h>\n"
    "\n"
    "#include \"@N@.h\"\n"
    "\n"
    "int @N@_pixel_stats(const rp_dataset *ds, uint64_t limit, double *mean, double *min,\n"
    "                    double *max, uint64_t *n, rp_error *err) {\n"
    "    uint64_t count = limit && limit < ds->size ? limit : ds->size;\n"
    "    rp_sample s;\n"
    "    rp_sample_init(&s);\n"
    "    rp_draw draw = {0};\n"
    "    double sum = 0, pixels = 0, lo = INFINITY, hi = -INFINITY;\n"
    "    int rc = RP_OK;\n"
    "    for (uint64_t i = 0; i < count && rc == RP_OK; i++) {\n"
    "        rc = rp_dataset_get(ds, i, &draw, &s, err);\n"
    "        for (size_t k = 0; rc == RP_OK && k < s.img.numel; k++) {\n"
    "            double v = s.img.data[k];\n"
    "            sum += v;\n"
    "            lo = v < lo ? v : lo;\n"
    "            hi = v > hi ? v : hi;\n"
    "        }\n"
    "        pixels += (double)s.img.numel;\n"
    "    }\n"
    "    rp_sample_release(&s);\n"
    "    if (rc != RP_OK) return rc;\n"
    "    if (pixels == 0)\n"
    "        return rp_error_set(err, RP_ERR_INVALID, \"@N@.stats: '%s' has no pixels\", ds->name);\n"
    "    *mean = sum / pixels;\n"
    "    *min = lo;\n"
    "    *max = hi;\n"
    "    *n = count;\n"
    "    return RP_OK;\n"
    "}\n"
    "\n"
    "static int stats_run(rp_stage *st, rp_error *err) {\n"
    "    const rp_node *p = rp_stage_params(st); /* validated, defaults filled */\n"
    "    const rp_dataset *ds = rp_stage_input(st, \"data\");\n"
    "    double mean, min, max;\n"
    "    uint64_t n;\n"
    "    int rc = @N@_pixel_stats(ds, (uint64_t)rp_param_int(p, \"limit\"), &mean, &min, &max, &n,\n"
    "                             err);\n"
    "    if (rc != RP_OK) return rc;\n"
    "    rp_metrics *m = rp_metrics_new();\n"
    "    if (!m) return rp_error_set(err, RP_ERR_NOMEM, \"out of memory\");\n"
    "    rc = rp_metrics_set(m, \"@N@.mean\", mean, err);\n"
    "    if (rc == RP_OK) rc = rp_metrics_set(m, \"@N@.min\", min, err);\n"
    "    if (rc == RP_OK) rc = rp_metrics_set(m, \"@N@.max\", max, err);\n"
    "    if (rc == RP_OK) rc = rp_metrics_set(m, \"@N@.samples\", (double)n, err);\n"
    "    if (rc != RP_OK) {\n"
    "        rp_metrics_free(m);\n"
    "        return rc;\n"
    "    }\n"
    "    rp_info(\"%s: mean %.4f over %llu samples of %s\", rp_stage_id(st), mean,\n"
    "            (unsigned long long)n, ds->name);\n"
    "    return rp_stage_output(st, \"metrics\", m, err); /* transferred */\n"
    "}\n"
    "\n"
    "static const struct rp_port stats_in[] = {\n"
    "    {\"data\", RP_ART_DATASET, 0, \"the dataset to measure\"},\n"
    "};\n"
    "static const struct rp_port stats_out[] = {\n"
    "    {\"metrics\", RP_ART_METRICS, 0, \"@N@.mean, @N@.min, @N@.max, @N@.samples\"},\n"
    "};\n"
    "/* designated initialisers: members added by later SDK versions stay zero */\n"
    "static const struct rp_stage_def stats_stage = {.name = \"@N@.stats\",\n"
    "                                                .summary = \"pixel statistics of a dataset\",\n"
    "                                                .inputs = stats_in,\n"
    "                                                .n_inputs = RP_COUNT(stats_in),\n"
    "                                                .outputs = stats_out,\n"
    "                                                .n_outputs = RP_COUNT(stats_out),\n"
    "                                                .run = stats_run};\n"
    "RP_STAGE(stats_stage)\n";

static const char tf_t[] =
    "/* Transform @N@_invert: x -> 1 - x (images in [0, 1]) with probability p.\n"
    " * Randomness comes only from `rng`, keyed by (seed, stage, epoch, sample):\n"
    " * runs stay reproducible whatever the thread count. */\n"
    "#include <stdlib.h>\n"
    "\n"
    "#include \"@N@.h\"\n"
    "\n"
    "typedef struct invert_state {\n"
    "    double p;\n"
    "} invert_state;\n"
    "\n"
    "static int invert_create(const rp_node *params, void **state, rp_error *err) {\n"
    "    invert_state *s = malloc(sizeof *s);\n"
    "    if (!s) return rp_error_set(err, RP_ERR_NOMEM, \"out of memory\");\n"
    "    s->p = rp_param_double(params, \"p\"); /* the default lives in the schema */\n"
    "    *state = s;\n"
    "    return RP_OK;\n"
    "}\n"
    "\n"
    "/* [C, H, W] in place */\n"
    "static int invert_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {\n"
    "    (void)err;\n"
    "    const invert_state *st = state;\n"
    "    if (rp_rng_uniform(rng) >= st->p) return RP_OK;\n"
    "    for (size_t i = 0; i < s->img.numel; i++) s->img.data[i] = 1.0f - s->img.data[i];\n"
    "    return RP_OK;\n"
    "}\n"
    "\n"
    "static void invert_destroy(void *state) { free(state); }\n"
    "\n"
    "const struct rp_transform_ops @N@_invert_ops = {.create = invert_create,\n"
    "                                                .apply = invert_apply,\n"
    "                                                .destroy = invert_destroy};\n"
    "RP_COMPONENT(RP_COMP_TRANSFORM, \"@N@_invert\", \"1 - x with probability p\", @N@_invert_ops)\n";

static const char schema_stage_t[] =
    "# Stage @N@.stats. Defaults live here, never in the C code.\n"
    "description: Mean, minimum and maximum pixel value of a dataset.\n"
    "type: object\n"
    "properties:\n"
    "  limit:\n"
    "    description: Read only the first N samples (0 = all).\n"
    "    type: integer\n"
    "    minimum: 0\n"
    "    default: 0\n"
    "additionalProperties: false\n";

static const char schema_tf_t[] =
    "# Transform @N@_invert (write `@N@_invert` or `{@N@_invert: {p: 0.5}}`).\n"
    "description: Invert the image (1 - x) with probability p.\n"
    "type: object\n"
    "properties:\n"
    "  p:\n"
    "    description: Probability of inverting a sample.\n"
    "    type: number\n"
    "    minimum: 0\n"
    "    maximum: 1\n"
    "    default: 1\n"
    "additionalProperties: false\n";

static const char test_t[] =
    "/* Unit tests of the @N@ plugin (cmocka): the transform and the statistic\n"
    " * on a tiny in-memory dataset, and the built .so's descriptor. */\n"
    "#include <dlfcn.h>\n"
    "#include <setjmp.h>\n"
    "#include <stdarg.h>\n"
    "#include <stddef.h>\n"
    "#include <stdint.h>\n"
    "#include <string.h>\n"
    "\n"
    "#include <cmocka.h>\n"
    "\n"
    "#include \"@N@.h\"\n"
    "\n"
    "/* sample i: a 1x2x2 image with pixels i/10, 0, 0.5, 1 */\n"
    "static int toy_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,\n"
    "                   rp_error *err) {\n"
    "    (void)ds, (void)draw;\n"
    "    int rc = rp_sample_resize(out, 1, 2, 2, err);\n"
    "    if (rc != RP_OK) return rc;\n"
    "    const float px[4] = {(float)i / 10.0f, 0.0f, 0.5f, 1.0f};\n"
    "    memcpy(out->img.data, px, sizeof px);\n"
    "    out->label = 0;\n"
    "    return RP_OK;\n"
    "}\n"
    "static int32_t toy_label(const rp_dataset *ds, uint64_t i) { (void)ds, (void)i; return 0; }\n"
    "static void toy_destroy(rp_dataset *ds) { (void)ds; }\n"
    "static const struct rp_dataset_ops toy_ops = {toy_get, toy_label, NULL, toy_destroy};\n"
    "\n"
    "static void test_pixel_stats(void **state) {\n"
    "    (void)state;\n"
    "    const char *const cls[1] = {\"a\"};\n"
    "    rp_dataset *ds = rp_dataset_new(&toy_ops, NULL, \"toy\", 4, 1, cls);\n"
    "    assert_non_null(ds);\n"
    "    double mean, min, max;\n"
    "    uint64_t n;\n"
    "    rp_error err;\n"
    "    assert_int_equal(@N@_pixel_stats(ds, 2, &mean, &min, &max, &n, &err), RP_OK);\n"
    "    assert_int_equal(n, 2); /* samples 0 and 1: (0 + 0.1 + 2 * 1.5) / 8 */\n"
    "    assert_true(mean > 0.3874 && mean < 0.3876);\n"
    "    assert_true(min == 0 && max == 1);\n"
    "    rp_dataset_free(ds);\n"
    "}\n"
    "\n"
    "static void test_invert(void **state) {\n"
    "    (void)state;\n"
    "    rp_node *params = NULL;\n"
    "    rp_error err;\n"
    "    assert_int_equal(rp_node_parse_string(\"{p: 1}\", \"test\", &params, &err), RP_OK);\n"
    "    void *st = NULL;\n"
    "    assert_int_equal(@N@_invert_ops.create(params, &st, &err), RP_OK);\n"
    "    rp_sample s;\n"
    "    rp_sample_init(&s);\n"
    "    assert_int_equal(rp_sample_resize(&s, 1, 1, 2, &err), RP_OK);\n"
    "    s.img.data[0] = 0.25f;\n"
    "    s.img.data[1] = 1.0f;\n"
    "    rp_rng rng;\n"
    "    rp_rng_for(&rng, 1, \"test\", \"@N@_invert\", 0, 0);\n"
    "    assert_int_equal(@N@_invert_ops.apply(st, &s, &rng, &err), RP_OK);\n"
    "    assert_true(s.img.data[0] == 0.75f && s.img.data[1] == 0.0f);\n"
    "    @N@_invert_ops.destroy(st);\n"
    "    rp_sample_release(&s);\n"
    "    rp_node_free(params);\n"
    "}\n"
    "\n"
    "/* The .so carries its stage, its transform and both schemas. */\n"
    "static void test_descriptor(void **state) {\n"
    "    (void)state;\n"
    "    void *h = dlopen(\"./@N@.so\", RTLD_NOW | RTLD_LOCAL);\n"
    "    assert_non_null(h);\n"
    "    void *sym = dlsym(h, RP_PLUGIN_ENTRY_SYMBOL);\n"
    "    assert_non_null(sym);\n"
    "    rp_plugin_entry_fn entry;\n"
    "    memcpy(&entry, &sym, sizeof entry);\n"
    "    const struct rp_plugin_desc *d = entry();\n"
    "    assert_int_equal(d->abi_version, RP_ABI_VERSION);\n"
    "    assert_string_equal(d->name, \"@N@\");\n"
    "    assert_int_equal(d->n_stages, 1);\n"
    "    assert_string_equal(d->stages[0]->name, \"@N@.stats\");\n"
    "    assert_int_equal(d->n_components, 1);\n"
    "    assert_string_equal(d->components[0]->name, \"@N@_invert\");\n"
    "    assert_int_equal(d->n_schemas, 2);\n"
    "    dlclose(h);\n"
    "}\n"
    "\n"
    "int main(void) {\n"
    "    const struct CMUnitTest tests[] = {\n"
    "        cmocka_unit_test(test_pixel_stats),\n"
    "        cmocka_unit_test(test_invert),\n"
    "        cmocka_unit_test(test_descriptor),\n"
    "    };\n"
    "    return cmocka_run_group_tests(tests, NULL, NULL);\n"
    "}\n";

static const char example_t[] =
    "# make check runs this with RUNPIPE_PLUGIN_PATH=build: synthetic shapes (no download),\n"
    "# inverted by the plugin's transform, measured by its stage.\n"
    "runpipe: 1\n"
    "name: @N@-example\n"
    "seed: 1\n"
    "stages:\n"
    "  - id: shapes\n"
    "    use: data.synthetic\n"
    "    with: {train_count: 16, test_count: 8, size: 16}\n"
    "  - id: inverted\n"
    "    use: augment\n"
    "    in: {data: shapes.test}\n"
    "    with: {transforms: [{@N@_invert: {p: 1}}]}\n"
    "  - id: stats\n"
    "    use: @N@.stats\n"
    "    in: {data: inverted}\n";

static const char readme_t[] =
    "# @N@ — a runpipe plugin\n"
    "\n"
    "    make && make check      # build/@N@.so, unit tests, example.yaml through runpipe\n"
    "    make install            # into `pkg-config --variable=plugindir runpipe`\n"
    "\n"
    "Or keep it where it is: `RUNPIPE_PLUGIN_PATH=$PWD/build runpipe describe @N@.stats`.\n"
    "\n"
    "- `stage_stats.c`: stage `@N@.stats` (dataset in, metrics out), its parameters in\n"
    "  `schemas/@N@.stats.yaml`.\n"
    "- `tf_invert.c`: transform `@N@_invert`, usable in any `augment` stage or `train`'s\n"
    "  `transforms:`; parameters in `schemas/transform.@N@_invert.yaml`.\n"
    "- Adding a stage or a component is one more `.c` file and its schema; the schemas are\n"
    "  compiled into the `.so`. While you edit a schema, `RUNPIPE_SCHEMA_PATH=$PWD/schemas`\n"
    "  makes runpipe read the file instead.\n";

/* Write `t` to dir/rel with every @N@ replaced by `name` and @U@ by NAME
 * upper-cased. */
static int put(const char *dir, const char *rel, const char *t, const char *name) {
    char path[2200], upper[128];
    size_t i = 0;
    for (; name[i] && i < sizeof upper - 1; i++) upper[i] = (char)toupper((unsigned char)name[i]);
    upper[i] = 0;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    rp_strbuf b = {0};
    for (const char *p = t; *p;) {
        if (!strncmp(p, "@N@", 3)) {
            rp_strbuf_puts(&b, name);
            p += 3;
        } else if (!strncmp(p, "@U@", 3)) {
            rp_strbuf_puts(&b, upper);
            p += 3;
        } else {
            rp_strbuf_add(&b, p++, 1);
        }
    }
    rp_error e;
    rp_error_clear(&e);
    int rc = b.oom ? rp_error_set(&e, RP_ERR_NOMEM, "out of memory")
                   : rp_write_atomic(path, b.p, b.n, &e);
    rp_strbuf_release(&b);
    if (rc != RP_OK) fprintf(stderr, "runpipe new-plugin: %s\n", e.msg);
    return rc;
}

int rp_cli_new_plugin(int argc, char **argv) {
    if (argc < 3 || argc > 4 || argv[2][0] == '-') {
        fprintf(stderr, "usage: runpipe new-plugin NAME [DIR]   (DIR defaults to ./NAME)\n");
        return 2;
    }
    const char *name = argv[2];
    int ok = islower((unsigned char)name[0]) && strlen(name) <= 40;
    for (const char *p = name; *p && ok; p++)
        ok = islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_';
    if (!ok) {
        fprintf(stderr, "runpipe new-plugin: '%s' is not a plugin name: lower-case letters, "
                        "digits and '_', starting with a letter, at most 40 characters "
                        "(it becomes C identifiers and the stage name '%s.stats')\n",
                name, name);
        return 2;
    }
    const char *dir = argc == 4 ? argv[3] : name;
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        fprintf(stderr, "runpipe new-plugin: '%s' already exists; choose a new directory\n", dir);
        return 2;
    }
    char sub[2200];
    rp_error e;
    rp_error_clear(&e);
    snprintf(sub, sizeof sub, "%s/schemas", dir);
    int rc = rp_mkdirs(sub, &e);
    snprintf(sub, sizeof sub, "%s/tests", dir);
    if (rc == RP_OK) rc = rp_mkdirs(sub, &e);
    if (rc != RP_OK) {
        fprintf(stderr, "runpipe new-plugin: %s\n", e.msg);
        return 1;
    }
    char hdr[128], test[160], sst[160], stf[160];
    snprintf(hdr, sizeof hdr, "%s.h", name);
    snprintf(test, sizeof test, "tests/test_%s.c", name);
    snprintf(sst, sizeof sst, "schemas/%s.stats.yaml", name);
    snprintf(stf, sizeof stf, "schemas/transform.%s_invert.yaml", name);
    const struct {
        const char *rel, *text;
    } files[] = {
        {"Makefile", makefile_t}, {hdr, header_t},           {"plugin.c", plugin_t},
        {"stage_stats.c", stage_t}, {"tf_invert.c", tf_t},   {sst, schema_stage_t},
        {stf, schema_tf_t},       {test, test_t},            {"example.yaml", example_t},
        {"README.md", readme_t},
    };
    for (size_t i = 0; i < RP_COUNT(files); i++)
        if (put(dir, files[i].rel, files[i].text, name) != RP_OK) return 1;
    printf("wrote plugin '%s' into %s/: stage %s.stats, transform %s_invert, their schemas, a "
           "cmocka test\nnext: cd %s && make && make check\n",
           name, dir, name, name, dir);
    return 0;
}
