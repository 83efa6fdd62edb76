/* Models as safetensors files: every parameter and buffer by its dotted name,
 * the architecture (rp_model_arch_yaml) in the "runpipe.arch" metadata and
 * the writer's version in "runpipe.version". Loading weights by name accepts
 * torchvision state dicts (num_batches_tracked as a 0-D I64 included), as
 * safetensors or directly as the .pth torch.save wrote (rp_weights_load). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/graph.h"
#include "runpipe/strbuf.h"

int rp_model_save(const rp_model *m, const char *path, rp_error *err) {
    rp_model *mm = (rp_model *)m; /* params are read only */
    const char *arch = rp_model_arch_yaml(m);
    if (!arch) return rp_error_set(err, RP_ERR_NOMEM, "out of memory describing the model");
    rp_st st;
    rp_st_init(&st);
    int rc = rp_st_set_meta(&st, "runpipe.arch", arch, err);
    if (!rc) rc = rp_st_set_meta(&st, "runpipe.version", RUNPIPE_VERSION, err);
    if (!rc) rc = rp_st_set_meta(&st, "format", "pt", err);
    for (size_t i = 0; !rc && i < rp_model_num_params(m); i++) {
        const rp_param *p = rp_model_param(mm, i);
        rc = rp_st_add(&st, p->name, p->value, err);
    }
    if (!rc) rc = rp_st_save(&st, path, err);
    rp_st_release(&st);
    return rc;
}

int rp_model_load(const char *path, rp_model **out, rp_error *err) {
    *out = NULL;
    rp_st st;
    int rc = rp_weights_load(path, &st, err);
    if (rc) return rc;
    const char *arch = rp_st_meta(&st, "runpipe.arch");
    if (!arch) {
        rp_st_release(&st);
        rc = rp_error_set(err, RP_ERR_FORMAT,
                          "'%s' has no 'runpipe.arch' metadata, so it is a plain state dict, not a runpipe "
                          "model: name its architecture (model.load's 'arch', + 'head' for a replaced "
                          "head) or load it as model.build's 'pretrained' weights",
                          path);
        if (err) snprintf(err->file, sizeof err->file, "%s", path);
        return rc;
    }
    rp_node *t = NULL;
    rc = rp_node_parse_string(arch, path, &t, err);
    rp_model *m = NULL;
    /* The metadata is untrusted: the model it declares must fit in the
     * tensors present (strict loading needs every weight), so building is
     * capped near their size (x2 + 64 MiB for buffers) instead of
     * allocating whatever a layer's width asks for. */
    size_t held = 0;
    for (size_t i = 0; i < st.n; i++) held += st.e[i].t->numel;
    rp_alloc_budget_begin(held * sizeof(float) * 2 + ((size_t)64 << 20));
    if (!rc) rc = rp_model_from_arch(t, &m, err);
    int over = rp_alloc_budget_end();
    rp_node_free(t);
    if (rc && over) {
        rp_st_release(&st);
        rc = rp_error_set(err, RP_ERR_FORMAT,
                          "'%s': the architecture in its 'runpipe.arch' metadata declares more weights "
                          "than the file's tensors hold (%zu values): metadata and tensors disagree",
                          path, held);
        if (err) snprintf(err->file, sizeof err->file, "%s", path);
        return rc;
    }
    if (rc) {
        rp_st_release(&st);
        rp_error_prefix(err, "'%s': rebuilding the architecture: ", path);
        return rc;
    }
    rp_st_release(&st);
    rp_load_report rep;
    rc = rp_model_load_weights(m, path, 1, &rep, err);
    rp_load_report_release(&rep);
    if (rc) {
        rp_model_free(m);
        return rc;
    }
    *out = m;
    return RP_OK;
}

static int shapes_compatible(const rp_tensor *a, const rp_tensor *b) {
    if (rp_tensor_same_shape(a, b)) return 1;
    return a->numel == 1 && b->numel == 1; /* [] vs [1] scalars */
}

void rp_load_report_release(rp_load_report *r) {
    if (!r) return;
    free(r->text);
    memset(r, 0, sizeof *r);
}

int rp_model_load_weights(rp_model *m, const char *path, int strict, rp_load_report *rep, rp_error *err) {
    if (rep) memset(rep, 0, sizeof *rep);
    rp_st st;
    int rc = rp_weights_load(path, &st, err);
    if (rc) return rc;
    size_t np = rp_model_num_params(m);
    char *used = calloc(st.n + 1, 1);
    if (!used) {
        rp_st_release(&st);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    rp_strbuf miss = {0}, mism = {0}, unexp = {0};
    size_t n_miss = 0, n_mism = 0, n_unexp = 0, n_ok = 0;
    char a[128], b[128];
    for (size_t i = 0; i < np; i++) {
        rp_param *p = rp_model_param(m, i);
        const rp_tensor *t = NULL;
        size_t j;
        for (j = 0; j < st.n; j++)
            if (strcmp(st.e[j].name, p->name) == 0) {
                t = st.e[j].t;
                break;
            }
        if (!t) {
            rp_strbuf_printf(&miss, "  missing:    %s %s\n", p->name,
                             rp_shape_str(p->value->ndim, p->value->shape, a, sizeof a));
            n_miss++;
            continue;
        }
        used[j] = 1;
        if (!shapes_compatible(t, p->value)) {
            rp_strbuf_printf(&mism, "  shape:      %s is %s in the file, %s in the model\n",
                             p->name, rp_shape_str(t->ndim, t->shape, a, sizeof a),
                             rp_shape_str(p->value->ndim, p->value->shape, b, sizeof b));
            n_mism++;
            continue;
        }
        n_ok++;
    }
    for (size_t j = 0; j < st.n; j++)
        if (!used[j]) {
            rp_strbuf_printf(&unexp, "  unexpected: %s %s\n", st.e[j].name,
                             rp_shape_str(st.e[j].t->ndim, st.e[j].t->shape, a, sizeof a));
            n_unexp++;
        }
    rp_strbuf text = {0};
    const char *entry = rp_st_meta(&st, "pth.entry");
    if (entry)
        rp_strbuf_printf(&text, "'%s' (its '%s' entry): %zu of %zu tensors loaded", path, entry, n_ok, np);
    else
        rp_strbuf_printf(&text, "'%s': %zu of %zu tensors loaded", path, n_ok, np);
    if (n_miss) rp_strbuf_printf(&text, ", %zu missing", n_miss);
    if (n_mism) rp_strbuf_printf(&text, ", %zu with another shape", n_mism);
    if (n_unexp) rp_strbuf_printf(&text, ", %zu unexpected", n_unexp);
    rp_strbuf_putc(&text, '\n');
    rp_strbuf_add(&text, mism.p, mism.n);
    rp_strbuf_add(&text, miss.p, miss.n);
    rp_strbuf_add(&text, unexp.p, unexp.n);
    text.oom |= miss.oom | mism.oom | unexp.oom;
    int bad = n_miss || n_mism || n_unexp;
    if (strict && bad) {
        /* the error message holds as much of the list as fits */
        rc = rp_error_set(err, RP_ERR_FORMAT, "weights do not match the model (strict): %s",
                          text.p ? text.p : "");
        if (err) snprintf(err->file, sizeof err->file, "%s", path);
    } else {
        for (size_t i = 0; i < np; i++) {
            rp_param *p = rp_model_param(m, i);
            const rp_tensor *t = rp_st_get(&st, p->name);
            if (t && shapes_compatible(t, p->value)) memcpy(p->value->data, t->data, t->numel * sizeof(float));
        }
        if (rep) {
            rep->loaded = n_ok;
            rep->skipped = n_unexp + n_mism;
            rep->missing = n_miss + n_mism;
            rep->text = rp_strbuf_take(&text);
        }
    }
    rp_strbuf_release(&text);
    rp_strbuf_release(&miss);
    rp_strbuf_release(&mism);
    rp_strbuf_release(&unexp);
    free(used);
    rp_st_release(&st);
    return rc;
}
