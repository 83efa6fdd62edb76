/* Stage `model.build`: a model from the built-in zoo or from a YAML layer
 * list, then (in this order) pretrained weights, head replacement, the S1
 * grayscale adapter, and freezing. Params: schemas/model.build.yaml.
 *
 * Order matters: a pretrained file describes the architecture as built (e.g.
 * torchvision's ResNet-18 with 1000 classes), so it is loaded before the head
 * is replaced (S4: fc → Dropout(0.3) → Linear(3)) and before the adapter is
 * put in front (its parameters are new); freezing comes last so patterns can
 * name any of them. `freeze_bn` then keeps the batch norms whose weights are
 * frozen in eval mode during training (rp_model_set_freeze_bn).
 */
#include <stdio.h>
#include <string.h>

#include "model_stages.h"

uint64_t model_stage_seed(uint64_t seed, const char *stage_id, const char *purpose) {
    rp_rng r;
    rp_rng_for(&r, seed, stage_id ? stage_id : "", purpose, 0, 0);
    return rp_rng_u64(&r);
}

const char *model_node_dir(const rp_node *n, char *buf, size_t size) {
    buf[0] = '\0';
    if (!n || !n->file) return buf;
    const char *slash = strrchr(n->file, '/');
    if (!slash) return buf;
    size_t len = (size_t)(slash - n->file);
    if (len >= size) len = size - 1;
    memcpy(buf, n->file, len);
    buf[len] = '\0';
    return buf;
}

static int readable(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

const char *model_resolve_path(const char *path, const char *const *dirs, char *buf, size_t size) {
    snprintf(buf, size, "%s", path);
    if (path[0] == '/' || !dirs || readable(path)) return buf;
    for (size_t i = 0; dirs[i]; i++) {
        char alt[2100];
        if (!dirs[i][0]) continue;
        snprintf(alt, sizeof alt, "%s/%s", dirs[i], path);
        if (readable(alt)) {
            int w = snprintf(buf, size, "%s", alt);
            if (w < 0 || (size_t)w >= size) snprintf(buf, size, "%s", path); /* too long: as given */
            break;
        }
    }
    return buf;
}

void model_stage_dirs(rp_stage *st, char store[2][1024], const char *dirs[3]) {
    model_node_dir(rp_stage_node(st), store[0], 1024);
    const char *rd = rp_stage_rundir(st);
    snprintf(store[1], 1024, "%s", rd ? rd : "");
    dirs[0] = store[0];
    dirs[1] = store[1];
    dirs[2] = NULL;
}

const char *model_fmt_count(size_t v, char *buf, size_t size) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%zu", v);
    size_t o = 0;
    for (int i = 0; i < n && o + 1 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0 && o + 2 < size) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

void model_summary(const rp_model *m, const char *what, char *buf, size_t size) {
    char total[32], trainable[32];
    int c = 0, h = 0, w = 0;
    rp_model_input_shape(m, &c, &h, &w);
    model_fmt_count(rp_model_count_weights(m, 0), total, sizeof total);
    model_fmt_count(rp_model_count_weights(m, 1), trainable, sizeof trainable);
    snprintf(buf, size, "%s: %s params (%s trainable), input [%d, %d, %d], %d classes", what,
             total, trainable, c, h, w, rp_model_num_classes(m));
}

static int present(const rp_node *n) { return n && n->kind != RP_NODE_NULL; }

/* The network behind the S1 grey adapter takes 3 channels (the adapter is
 * 1 -> 3 -> 3): an explicit other in_channels is an error. */
static int adapter_channels(const rp_node *p, rp_node *merged, rp_error *err) {
    const rp_node *ic = rp_node_get(p, "in_channels");
    if (present(ic)) {
        if (rp_param_int(p, "in_channels") == 3) return RP_OK;
        return rp_error_at(err, ic, RP_ERR_INVALID,
                           "'gray_adapter' puts a 1 -> 3 -> 3 adapter in front of a 3-channel "
                           "network; in_channels must be 3 (or left out), got %s",
                           rp_node_str(ic));
    }
    rp_node *three = rp_node_new_scalar("3");
    if (!three || rp_node_map_set(merged, "in_channels", three) != RP_OK)
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    return RP_OK;
}

/* Zoo architecture with `classes` / `in_channels` / `size` from the stage
 * params merged into the arch's own params and validated against its schema
 * (with gray_adapter the arch is built with 3 input channels). */
static int build_arch(const rp_node *p, const rp_node *arch, rp_model **out, rp_error *err) {
    const char *name = NULL;
    const rp_node *ap = NULL;
    int rc = rp_component_spec(arch, &name, &ap, err);
    if (rc) return rc;
    rp_node *merged = ap ? rp_node_clone(ap) : rp_node_new_map();
    if (!merged) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    static const char *const pass[] = {"classes", "in_channels", "size"};
    for (size_t i = 0; i < RP_COUNT(pass); i++) {
        const rp_node *v = rp_node_get(p, pass[i]);
        if (!present(v)) continue;
        rp_node *copy = rp_node_clone(v);
        if (!copy || rp_node_map_set(merged, pass[i], copy) != RP_OK) {
            rp_node_free(merged);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
    }
    if (rp_param_bool(p, "gray_adapter") && (rc = adapter_channels(p, merged, err))) {
        rp_node_free(merged);
        return rc;
    }
    rp_node *valid = NULL;
    rc = rp_component_params(RP_COMP_ARCH, name, merged, &valid, err);
    rp_node_free(merged);
    if (rc) {
        rp_error_prefix(err, "arch '%s': ", name);
        return rc;
    }
    /* the run initialises with the stage's seed, the check needs no weights */
    rc = rp_model_build_graph(name, valid, out, err);
    rp_node_free(valid);
    if (rc) rp_error_prefix(err, "building arch '%s': ", name);
    return rc;
}

static int build_layers(const rp_node *p, const rp_node *layers, rp_model **out, rp_error *err) {
    const rp_node *input = rp_node_get(p, "input");
    double dims[3];
    if (!present(input) || rp_param_doubles(p, "input", dims, 3) != 3 ||
        rp_node_len(input) != 3)
        return rp_error_at(err, present(input) ? input : layers, RP_ERR_INVALID,
                           "'layers' needs 'input: [C, H, W]' (the shape of one input image)");
    for (int i = 0; i < 3; i++)
        if (dims[i] < 1 || dims[i] != (double)(int)dims[i])
            return rp_error_at(err, input, RP_ERR_INVALID,
                               "'input': expected 3 positive integers [C, H, W]");
    static const char *const arch_only[] = {"classes", "in_channels", "size"};
    for (size_t i = 0; i < RP_COUNT(arch_only); i++) {
        const rp_node *v = rp_node_get(p, arch_only[i]);
        if (present(v))
            return rp_error_at(err, v, RP_ERR_INVALID,
                               "'%s' applies to 'arch' models; with 'layers' set it in the "
                               "layers themselves (or use 'head' to replace the last linear)",
                               arch_only[i]);
    }
    if (rp_param_bool(p, "gray_adapter") && dims[0] != 3)
        return rp_error_at(err, input, RP_ERR_INVALID,
                           "'gray_adapter' puts a 1 -> 3 -> 3 adapter in front of a 3-channel "
                           "network; 'input' must be [3, H, W] (the adapter makes it [1, H, W])");
    return rp_model_from_layers(layers, (int)dims[0], (int)dims[1], (int)dims[2], out, err);
}

static int load_pretrained(rp_model *m, const rp_node *p, const char *stage_id,
                           const char *const *dirs, rp_error *err) {
    const rp_node *pn = rp_node_get(p, "pretrained");
    const char *file = rp_node_str(pn);
    int strict = rp_param_bool(p, "strict");
    char path[1024];
    model_resolve_path(file, dirs, path, sizeof path);
    rp_load_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = rp_model_load_weights(m, path, strict, &rep, err);
    if (rc) {
        rp_load_report_release(&rep);
        if (!err->file[0]) {
            /* locate at the pretrained: value unless the loader named a file */
            rp_error tmp = *err;
            rp_error_at(err, pn, rc, "%s", tmp.msg);
        }
        return rc;
    }
    rp_info("%s: pretrained '%s' (%s): %zu loaded, %zu skipped, %zu reinitialised", stage_id,
            path, strict ? "strict" : "partial", rep.loaded, rep.skipped, rep.missing);
    if (rep.text && rep.text[0]) {
        const char *s = rep.text;
        while (*s) {
            const char *nl = strchr(s, '\n');
            int len = nl ? (int)(nl - s) : (int)strlen(s);
            if (len > 0) rp_info("  %.*s", len, s);
            s += len + (nl ? 1 : 0);
        }
    }
    rp_load_report_release(&rep);
    return RP_OK;
}

/* Up to 4 parameter names, for an error that says what names look like. */
static void example_names(rp_model *m, char *buf, size_t size) {
    size_t o = 0, n = rp_model_num_params(m);
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < 4 && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s'%s'", i ? ", " : "",
                              rp_model_param(m, i)->name);
    if (n > 4 && o < size) snprintf(buf + o, size - o, ", ...");
}

static int freeze(rp_model *m, const rp_node *list, const char *stage_id, rp_error *err) {
    size_t total = 0, n = rp_node_len(list);
    for (size_t i = 0; i < n; i++) {
        const rp_node *it = rp_node_at(list, i);
        const char *pat = rp_node_str(it);
        if (!pat) return rp_error_at(err, it, RP_ERR_INVALID, "'freeze': expected a name");
        size_t count = 0;
        rp_error local;
        rp_error_clear(&local);
        int rc = rp_model_freeze(m, pat, &count, &local);
        if (rc && rc != RP_ERR_NOTFOUND) {
            *err = local;
            return rc;
        }
        if (rc || count == 0) {
            char ex[512];
            example_names(m, ex, sizeof ex);
            return rp_error_at(err, it, RP_ERR_INVALID,
                               "freeze: '%s' matches no parameter of the model (names are like "
                               "%s; a prefix such as 'layer1' or a glob such as 'layer*.bn?' "
                               "also works)",
                               pat, ex);
        }
        total += count;
    }
    if (n) rp_info("%s: froze %zu tensors matching %zu pattern%s", stage_id, total, n,
                   n == 1 ? "" : "s");
    return RP_OK;
}

int model_build_from_params(const rp_node *p, uint64_t seed, const char *stage_id,
                            const char *const *dirs, rp_model **out, rp_error *err) {
    *out = NULL;
    const rp_node *arch = rp_node_get(p, "arch");
    const rp_node *layers = rp_node_get(p, "layers");
    if (present(arch) == present(layers))
        return rp_error_at(err, present(layers) ? layers : p, RP_ERR_INVALID,
                           present(arch) ? "give either 'arch' or 'layers', not both"
                                         : "missing 'arch' (a built-in architecture such as "
                                           "mnist_cnn, resnet20) or 'layers' (a layer list)");
    rp_model *m = NULL;
    int rc = present(arch) ? build_arch(p, arch, &m, err) : build_layers(p, layers, &m, err);
    if (rc) return rc;
    rc = rp_model_init_params(m, model_stage_seed(seed, stage_id, "init"), err);
    if (!rc && present(rp_node_get(p, "pretrained")))
        rc = load_pretrained(m, p, stage_id, dirs, err);
    const rp_node *head = rp_node_get(p, "head");
    if (!rc && present(head)) {
        int64_t classes = rp_param_int(head, "classes");
        double dropout = rp_param_double(head, "dropout");
        if (classes < 1)
            rc = rp_error_at(err, head, RP_ERR_INVALID, "'head.classes': expected >= 1");
        else
            rc = rp_model_replace_head(m, (int)classes, dropout,
                                       model_stage_seed(seed, stage_id, "head"), err);
    }
    if (!rc && rp_param_bool(p, "gray_adapter"))
        rc = model_prepend_gray_adapter(m, model_stage_seed(seed, stage_id, "gray_adapter"), err);
    const rp_node *fr = rp_node_get(p, "freeze");
    if (!rc && present(fr)) rc = freeze(m, fr, stage_id, err);
    if (!rc) rp_model_set_freeze_bn(m, rp_param_bool(p, "freeze_bn"));
    if (rc) {
        rp_model_free(m);
        return rc;
    }
    char line[512], what[256];
    const char *name = NULL;
    const rp_node *ignored = NULL;
    if (present(arch)) rp_component_spec(arch, &name, &ignored, NULL);
    snprintf(what, sizeof what, "%s: %s", stage_id, name ? name : "layers");
    model_summary(m, what, line, sizeof line);
    rp_info("%s", line);
    *out = m;
    return RP_OK;
}

int model_build_run(rp_stage *st, rp_error *err) {
    char store[2][1024];
    const char *dirs[3];
    model_stage_dirs(st, store, dirs);
    rp_model *m = NULL;
    int rc = model_build_from_params(rp_stage_params(st), rp_stage_seed(st), rp_stage_id(st), dirs,
                                     &m, err);
    if (rc) return rc;
    rp_stage_note(st, "params_total", (double)rp_model_count_weights(m, 0));
    rp_stage_note(st, "params_trainable", (double)rp_model_count_weights(m, 1));
    return rp_stage_output(st, "model", m, err);
}

/* Check time: build the graph (no init, no weights loaded) to learn the
 * input shape and the class count the model declares, and hand the graph on
 * (rp_check_declare_model) for checks that depend on its layers. */
static const rp_node *first_present(const rp_node *p, const char *const *keys, size_t n,
                                    const rp_node *fallback) {
    for (size_t i = 0; i < n; i++) {
        const rp_node *v = rp_node_get(p, keys[i]);
        if (present(v) && v->line) return v;
    }
    return fallback;
}

static int model_build_check(rp_check *ck, rp_error *err) {
    const rp_node *p = rp_check_params(ck);
    const rp_node *arch = rp_node_get(p, "arch"), *layers = rp_node_get(p, "layers");
    if (present(arch) == present(layers)) return RP_OK; /* the run says what is wrong */
    rp_model *m = NULL;
    int rc = present(arch) ? build_arch(p, arch, &m, err) : build_layers(p, layers, &m, err);
    if (rc) return rc;
    int c = 0, h = 0, w = 0;
    rp_model_input_shape(m, &c, &h, &w);
    int64_t classes = rp_model_num_classes(m);
    const rp_node *where = present(arch) ? arch : layers;
    const rp_node *head = rp_node_get(p, "head");
    /* the graph as the run builds it (head, adapter; no weights) for later
       stages' checks; when that fails here, the run says why */
    rp_error ignored;
    rp_error_clear(&ignored);
    int graph_ok = 1;
    if (present(head))
        graph_ok = rp_param_int(head, "classes") >= 1 &&
                   rp_model_replace_head(m, (int)rp_param_int(head, "classes"),
                                         rp_param_double(head, "dropout"), 0, &ignored) == RP_OK;
    if (graph_ok && rp_param_bool(p, "gray_adapter"))
        graph_ok = model_prepend_gray_adapter(m, 0, &ignored) == RP_OK;
    if (graph_ok) rp_check_declare_model(ck, "model", m);
    else rp_model_free(m);
    static const char *const ckeys[] = {"classes"};
    const rp_node *cat = first_present(p, ckeys, 1, where);
    if (present(head)) {
        classes = rp_param_int(head, "classes");
        cat = rp_node_get(head, "classes") ? rp_node_get(head, "classes") : head;
    }
    static const char *const gkeys[] = {"input", "size", "in_channels"};
    const rp_node *gat = first_present(p, gkeys, 3, where);
    if (rp_param_bool(p, "gray_adapter")) {
        c = 1; /* the adapter takes grey images (1 -> 3 -> 3) */
        gat = rp_node_get(p, "gray_adapter");
    }
    if (classes > 0) rp_check_declare(ck, "model", RP_FACT_CLASSES, classes, cat);
    if (c > 0 && h > 0 && w > 0) {
        rp_check_declare(ck, "model", RP_FACT_CHANNELS, c, gat);
        rp_check_declare(ck, "model", RP_FACT_HEIGHT, h, gat);
        rp_check_declare(ck, "model", RP_FACT_WIDTH, w, gat);
    }
    return RP_OK;
}

/* ---- stage declaration ---- */
static const struct rp_port build_build_out[] = {
    {"model", RP_ART_MODEL, 0, "the built (and optionally pretrained, frozen) model"},
};
static const struct rp_stage_def build_stage = {"model.build",
     "a model from the built-in zoo or a layer list; pretrained weights, head, gray adapter, "
     "freezing",
     NULL, 0, build_build_out, RP_COUNT(build_build_out), model_build_run, 0, model_build_check};
RP_STAGE(build_stage)
