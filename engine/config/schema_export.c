/* Schemas as text for people (`runpipe describe`) and as one JSON Schema
 * for editors (`runpipe schema --json`); see schema.h. */
#include "config/schema.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "host/registry.h"
#include "runpipe/plugin.h"
#include "runpipe/strbuf.h"


/* ---- description ------------------------------------------------------------------ */

/* Compact inline YAML of a small value for the description. */
static void sb_value(rp_strbuf *b, const rp_node *v) {
    if (v && v->kind == RP_NODE_SCALAR) {
        rp_strbuf_printf(b, "%s", v->str);
        return;
    }
    if (rp_node_is_null(v)) {
        rp_strbuf_puts(b, "null");
        return;
    }
    if (v->kind == RP_NODE_SEQ) {
        rp_strbuf_puts(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i) rp_strbuf_puts(b, ", ");
            sb_value(b, v->items[i]);
        }
        rp_strbuf_puts(b, "]");
        return;
    }
    rp_strbuf_puts(b, "{");
    for (size_t i = 0; i < v->n; i++) {
        rp_strbuf_printf(b, "%s%s: ", i ? ", " : "", v->keys[i]->str);
        sb_value(b, v->items[i]);
    }
    rp_strbuf_puts(b, "}");
}

static void describe_type(rp_strbuf *b, const rp_node *s) {
    const rp_node *t = rp_node_get(s, "type");
    const rp_node *xc = rp_node_get(s, "x-component");
    if (xc) {
        rp_strbuf_printf(b, "%s component", xc->str);
        return;
    }
    if (t && t->kind == RP_NODE_SEQ) {
        for (size_t i = 0; i < t->n; i++)
            rp_strbuf_printf(b, "%s%s", i ? "|" : "", t->items[i]->str);
    } else if (t) {
        rp_strbuf_printf(b, "%s", t->str);
        const rp_node *it = rp_node_get(s, "items");
        if (!strcmp(t->str, "array") && it) {
            rp_strbuf_puts(b, " of ");
            describe_type(b, it);
        }
    } else if (rp_node_get(s, "oneOf") || rp_node_get(s, "anyOf")) {
        const rp_node *alts = rp_node_get(s, "oneOf") ? rp_node_get(s, "oneOf") : rp_node_get(s, "anyOf");
        for (size_t i = 0; i < alts->n; i++) {
            if (i) rp_strbuf_puts(b, " | ");
            describe_type(b, alts->items[i]);
        }
    } else {
        rp_strbuf_puts(b, "any");
    }
}

static void sb_wrapped(rp_strbuf *b, const char *t, int indent, size_t width);

static void describe_props(rp_strbuf *b, const rp_node *s, const char *prefix) {
    const rp_node *props = rp_node_get(s, "properties");
    const rp_node *req = rp_node_get(s, "required");
    for (size_t i = 0; props && i < props->n; i++) {
        const char *k = props->keys[i]->str;
        const rp_node *p = props->items[i];
        char name[300];
        snprintf(name, sizeof name, "%s%s", prefix, k);
        rp_strbuf_printf(b, "  %-22s ", name);
        describe_type(b, p);
        int required = 0;
        for (size_t j = 0; req && j < req->n; j++) required |= !strcmp(req->items[j]->str, k);
        if (required) rp_strbuf_puts(b, ", required");
        const rp_node *x;
        if ((x = rp_node_get(p, "default"))) {
            rp_strbuf_puts(b, ", default ");
            sb_value(b, x);
        }
        if ((x = rp_node_get(p, "minimum"))) rp_strbuf_printf(b, ", >= %s", x->str);
        if ((x = rp_node_get(p, "exclusiveMinimum"))) rp_strbuf_printf(b, ", > %s", x->str);
        if ((x = rp_node_get(p, "maximum"))) rp_strbuf_printf(b, ", <= %s", x->str);
        if ((x = rp_node_get(p, "exclusiveMaximum"))) rp_strbuf_printf(b, ", < %s", x->str);
        if ((x = rp_node_get(p, "minItems"))) rp_strbuf_printf(b, ", at least %s items", x->str);
        if ((x = rp_node_get(p, "maxItems"))) rp_strbuf_printf(b, ", at most %s items", x->str);
        if ((x = rp_node_get(p, "pattern"))) rp_strbuf_printf(b, ", matching %s", x->str);
        if ((x = rp_node_get(p, "enum"))) {
            rp_strbuf_puts(b, ", one of ");
            for (size_t j = 0; j < x->n; j++) {
                if (j) rp_strbuf_puts(b, ", ");
                sb_value(b, x->items[j]);
            }
        }
        rp_strbuf_puts(b, "\n");
        if ((x = rp_node_get(p, "description")) && rp_node_str(x)) sb_wrapped(b, x->str, 6, 72);
        const rp_node *pt = rp_node_get(p, "type");
        if (pt && rp_node_str(pt) && !strcmp(pt->str, "object") && rp_node_get(p, "properties")) {
            char np[310];
            snprintf(np, sizeof np, "%s.", name);
            describe_props(b, p, np);
        }
    }
}

/* Wrap `text` at ~76 columns with `indent` spaces. */
static void sb_wrapped(rp_strbuf *b, const char *t, int indent, size_t width) {
    while (*t) {
        while (*t == ' ' || *t == '\n') t++;
        if (!*t) break;
        size_t len = strcspn(t, "\n"), cut = len;
        if (len > width) {
            cut = width;
            while (cut > 20 && t[cut] != ' ') cut--;
        }
        rp_strbuf_printf(b, "%*s%.*s\n", indent, "", (int)cut, t);
        t += cut;
    }
}

/* The parameter list (one entry per parameter, nested object parameters as
 * a.b), then the schema's own description as a paragraph. The caller prints
 * the "parameters:" heading. */
char *rp_schema_describe(const rp_schema *s) {
    rp_strbuf b = {0};
    const rp_node *root = rp_schema_root(s);
    const rp_node *props = rp_node_get(root, "properties");
    if (props && props->n)
        describe_props(&b, root, "");
    else
        rp_strbuf_puts(&b, "  (none)\n");
    const rp_node *desc = rp_node_get(root, "description");
    if (desc && rp_node_str(desc) && *desc->str) {
        rp_strbuf_puts(&b, "\n");
        sb_wrapped(&b, desc->str, 0, 76);
    }
    return rp_strbuf_take(&b);
}

/* ---- JSON Schema export ------------------------------------------------------------ */

static cJSON *scalar_json(const rp_node *v) {
    if (rp_node_is_null(v)) return cJSON_CreateNull();
    if (rp_node_is_bool(v)) return cJSON_CreateBool(!strcmp(v->str, "true") || !strcmp(v->str, "True") || !strcmp(v->str, "TRUE"));
    if (rp_node_is_number(v)) {
        double x = 0;
        rp_node_as_double(v, &x, NULL);
        if (isfinite(x)) return cJSON_CreateNumber(x);
        return cJSON_CreateString(v->str);
    }
    return cJSON_CreateString(v->str ? v->str : "");
}

/* Plain data conversion (defaults, enums, examples). */
static cJSON *value_json(const rp_node *v) {
    if (!v) return cJSON_CreateNull();
    if (v->kind == RP_NODE_SEQ) {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; i < v->n; i++) cJSON_AddItemToArray(a, value_json(v->items[i]));
        return a;
    }
    if (v->kind == RP_NODE_MAP) {
        cJSON *o = cJSON_CreateObject();
        for (size_t i = 0; i < v->n; i++)
            cJSON_AddItemToObject(o, v->keys[i]->str, value_json(v->items[i]));
        return o;
    }
    return scalar_json(v);
}

/* $defs of the export being built (rp_schema_export_json is not reentrant:
 * the CLI calls it once), so components' parameter schemas are defined once
 * and referenced from every place that takes a component. */
static cJSON *export_defs;

static cJSON *schema_json_raw(const rp_node *s);
static cJSON *schema_json(const rp_node *s);

/* "#/$defs/KIND.NAME" for a component with a parameter schema (defined on
 * first use), or NULL when it has none (it takes no parameters). */
static const char *component_def(int kind, const char *name, char *ref, size_t n,
                                 const char **list_key) {
    char full[256];
    snprintf(full, sizeof full, "%s.%s", rp_component_kind_name(kind), name);
    const rp_schema *cs = NULL;
    *list_key = NULL;
    if (!export_defs || rp_schema_get(full, &cs, NULL) != RP_OK) return NULL;
    *list_key = rp_node_str(rp_node_get(rp_schema_root(cs), "x-list"));
    snprintf(ref, n, "#/$defs/%s", full);
    if (!cJSON_GetObjectItem(export_defs, full)) {
        /* placeholder first: a component's params may take components (sum) */
        cJSON_AddItemToObject(export_defs, full, cJSON_CreateObject());
        cJSON *def = schema_json_raw(rp_schema_root(cs));
        cJSON_ReplaceItemInObject(export_defs, full, def);
    }
    return ref;
}

/* A string holding a ${...} reference. */
static cJSON *interp_json(void) {
    cJSON *var = cJSON_CreateObject();
    cJSON_AddStringToObject(var, "type", "string");
    cJSON_AddStringToObject(var, "pattern", "\\$\\{[^}]+\\}");
    return var;
}

static cJSON *component_json(int kind) {
    /* NAME, {NAME: {params}} or {NAME: null}, NAME one of the registered ones;
     * the params checked against the component's own schema */
    cJSON *o = cJSON_CreateObject();
    cJSON *any = cJSON_AddArrayToObject(o, "anyOf");
    cJSON *str = cJSON_CreateObject();
    cJSON_AddStringToObject(str, "type", "string");
    size_t n = rp_component_count(kind);
    cJSON *names = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(rp_component_at(kind, i)->name));
    if (n) {
        cJSON_AddItemToObject(str, "enum", cJSON_Duplicate(names, 1));
    }
    cJSON_AddItemToArray(any, str);
    cJSON *map = cJSON_CreateObject();
    cJSON_AddStringToObject(map, "type", "object");
    cJSON_AddNumberToObject(map, "minProperties", 1);
    cJSON_AddNumberToObject(map, "maxProperties", 1);
    if (n) {
        cJSON *pn = cJSON_CreateObject();
        cJSON_AddItemToObject(pn, "enum", names);
        cJSON_AddItemToObject(map, "propertyNames", pn);
    } else {
        cJSON_Delete(names);
    }
    cJSON *props = cJSON_AddObjectToObject(map, "properties");
    for (size_t i = 0; i < n; i++) {
        const char *name = rp_component_at(kind, i)->name;
        char ref[300];
        const char *list_key = NULL;
        cJSON *alt = cJSON_CreateObject();
        cJSON *any2 = cJSON_AddArrayToObject(alt, "anyOf");
        cJSON_AddItemToArray(any2, interp_json());
        cJSON *null = cJSON_CreateObject();
        cJSON_AddStringToObject(null, "type", "null");
        cJSON_AddItemToArray(any2, null);
        if (component_def(kind, name, ref, sizeof ref, &list_key)) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "$ref", ref);
            cJSON_AddItemToArray(any2, r);
            if (list_key) {
                /* {sum: [a, b]} is {sum: {terms: [a, b]}} */
                char lref[400];
                snprintf(lref, sizeof lref, "%s/properties/%s", ref, list_key);
                cJSON *l = cJSON_CreateObject();
                cJSON_AddStringToObject(l, "$ref", lref);
                cJSON_AddItemToArray(any2, l);
            }
        } else {
            cJSON *none = cJSON_CreateObject(); /* no parameters */
            cJSON_AddStringToObject(none, "type", "object");
            cJSON_AddNumberToObject(none, "maxProperties", 0);
            cJSON_AddItemToArray(any2, none);
        }
        cJSON_AddItemToObject(props, name, alt);
    }
    if (!n) {
        cJSON *ap = cJSON_CreateObject();
        cJSON *apt = cJSON_AddArrayToObject(ap, "type");
        cJSON_AddItemToArray(apt, cJSON_CreateString("object"));
        cJSON_AddItemToArray(apt, cJSON_CreateString("null"));
        cJSON_AddItemToObject(map, "additionalProperties", ap);
    }
    cJSON_AddItemToArray(any, map);
    char desc[128];
    snprintf(desc, sizeof desc, "a %s: NAME or {NAME: {params}}", rp_component_kind_name(kind));
    cJSON_AddStringToObject(o, "description", desc);
    return o;
}

/* Pipeline files may write `${vars.x}` (or "qs-${env.TAG}") wherever a
 * value is expected; a reference is substituted before validation, so editors
 * must not flag it: every typed or constrained schema also accepts a string
 * with a reference in it. */
static cJSON *schema_json(const rp_node *s) {
    cJSON *o = schema_json_raw(s);
    if (!s || s->kind != RP_NODE_MAP) return o;
    int constrained = rp_node_get(s, "type") || rp_node_get(s, "enum") ||
                      rp_node_get(s, "const") || rp_node_get(s, "x-component") ||
                      rp_node_get(s, "pattern");
    const rp_node *t = rp_node_get(s, "type");
    /* a plain string without enum/pattern takes references as they are */
    if (t && t->kind == RP_NODE_SCALAR && !strcmp(t->str, "string") && !rp_node_get(s, "enum") &&
        !rp_node_get(s, "pattern") && !rp_node_get(s, "const") && !rp_node_get(s, "maxLength"))
        constrained = 0;
    if (!constrained) return o;
    cJSON *w = cJSON_CreateObject();
    cJSON *desc = cJSON_GetObjectItem(o, "description");
    if (desc) cJSON_AddItemToObject(w, "description", cJSON_Duplicate(desc, 1));
    cJSON *def = cJSON_GetObjectItem(o, "default");
    if (def) cJSON_AddItemToObject(w, "default", cJSON_Duplicate(def, 1));
    cJSON *any = cJSON_AddArrayToObject(w, "anyOf");
    cJSON_AddItemToArray(any, o);
    cJSON_AddItemToArray(any, interp_json());
    return w;
}

static cJSON *schema_json_raw(const rp_node *s) {
    if (!s) return cJSON_CreateObject();
    if (rp_node_is_bool(s)) return cJSON_CreateBool(!strcmp(s->str, "true"));
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < s->n; i++) {
        const char *k = s->keys[i]->str;
        const rp_node *v = s->items[i];
        if (!strcmp(k, "x-component")) {
            cJSON *c = component_json(rp_component_kind_parse(v->str));
            cJSON *it;
            cJSON_ArrayForEach(it, c) cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, 1));
            cJSON_Delete(c);
        } else if (!strcmp(k, "properties")) {
            cJSON *p = cJSON_AddObjectToObject(o, "properties");
            for (size_t j = 0; j < v->n; j++)
                cJSON_AddItemToObject(p, v->keys[j]->str, schema_json(v->items[j]));
        } else if (!strcmp(k, "items") ||
                   (!strcmp(k, "additionalProperties") && !rp_node_is_bool(v))) {
            cJSON_AddItemToObject(o, k, schema_json(v));
        } else if (!strcmp(k, "oneOf") || !strcmp(k, "anyOf")) {
            cJSON *a = cJSON_AddArrayToObject(o, k);
            for (size_t j = 0; j < v->n; j++) cJSON_AddItemToArray(a, schema_json(v->items[j]));
        } else if (!strcmp(k, "$comment") || !strncmp(k, "x-", 2)) {
            continue;
        } else if (!strcmp(k, "description") || !strcmp(k, "title") || !strcmp(k, "pattern") ||
                   !strcmp(k, "type")) {
            cJSON_AddItemToObject(o, k,
                                  v->kind == RP_NODE_SCALAR ? cJSON_CreateString(v->str)
                                                            : value_json(v));
        } else {
            cJSON_AddItemToObject(o, k, value_json(v));
        }
    }
    return o;
}

int rp_schema_export_json(const char *const *stage_names, size_t n, char **out, rp_error *err) {
    *out = NULL;
    const rp_schema *ps = NULL;
    int st = rp_schema_get("pipeline", &ps, err);
    if (st != RP_OK) return st;
    cJSON *defs = cJSON_CreateObject();
    export_defs = defs;
    cJSON *root = schema_json_raw(rp_schema_root(ps));
    cJSON_AddStringToObject(root, "$schema", "https://json-schema.org/draft/2020-12/schema");
    cJSON_AddStringToObject(root, "title", "runpipe pipeline");
    cJSON_AddItemToObject(root, "$defs", defs);
    cJSON *stage = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "properties"), "stages");
    /* the list itself, inside the reference wrapper */
    if (stage && !cJSON_GetObjectItem(stage, "items") && cJSON_GetObjectItem(stage, "anyOf"))
        stage = cJSON_GetArrayItem(cJSON_GetObjectItem(stage, "anyOf"), 0);
    cJSON *item = stage ? cJSON_GetObjectItem(stage, "items") : NULL;
    if (item && !cJSON_GetObjectItem(item, "properties") && cJSON_GetObjectItem(item, "anyOf"))
        item = cJSON_GetArrayItem(cJSON_GetObjectItem(item, "anyOf"), 0);
    if (!item) {
        export_defs = NULL;
        cJSON_Delete(root);
        return rp_error_set(err, RP_ERR_FORMAT,
                            "schemas/pipeline.yaml: 'stages' has no 'items' schema");
    }
    cJSON *all = cJSON_AddArrayToObject(item, "allOf");
    cJSON *uses = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        const rp_schema *ss = NULL;
        rp_error e;
        cJSON *def;
        if (rp_schema_get(stage_names[i], &ss, &e) == RP_OK)
            def = schema_json_raw(rp_schema_root(ss));
        else if (e.status == RP_ERR_NOTFOUND) {
            def = cJSON_CreateObject(); /* a stage without a schema takes no parameters */
            cJSON_AddStringToObject(def, "type", "object");
            cJSON_AddFalseToObject(def, "additionalProperties");
        } else {
            export_defs = NULL;
            cJSON_Delete(root);
            cJSON_Delete(uses);
            if (err) *err = e;
            return e.status;
        }
        cJSON_AddItemToObject(defs, stage_names[i], def);
        cJSON_AddItemToArray(uses, cJSON_CreateString(stage_names[i]));
        cJSON *cond = cJSON_CreateObject();
        cJSON *ifp = cJSON_AddObjectToObject(cJSON_AddObjectToObject(cond, "if"), "properties");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(ifp, "use"), "const", stage_names[i]);
        cJSON *thenp =
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(cond, "then"), "properties");
        char ref[400];
        snprintf(ref, sizeof ref, "#/$defs/%s", stage_names[i]);
        cJSON *with = cJSON_AddObjectToObject(thenp, "with");
        cJSON *wany = cJSON_AddArrayToObject(with, "anyOf");
        cJSON *wref = cJSON_CreateObject();
        cJSON_AddStringToObject(wref, "$ref", ref);
        cJSON_AddItemToArray(wany, wref);
        cJSON *wnull = cJSON_CreateObject(); /* `with:` left empty */
        cJSON_AddStringToObject(wnull, "type", "null");
        cJSON_AddItemToArray(wany, wnull);
        cJSON_AddItemToArray(wany, interp_json());
        cJSON_AddItemToArray(all, cond);
    }
    export_defs = NULL;
    cJSON *props = cJSON_GetObjectItem(item, "properties");
    cJSON *use = props ? cJSON_GetObjectItem(props, "use") : NULL;
    if (use && !cJSON_GetObjectItem(use, "type") && cJSON_GetObjectItem(use, "anyOf"))
        use = cJSON_GetArrayItem(cJSON_GetObjectItem(use, "anyOf"), 0);
    if (use && n) {
        cJSON_AddItemToObject(use, "enum", uses);
        /* `use: "${vars.x}"` is a stage name too */
        cJSON *uprop = cJSON_GetObjectItem(props, "use");
        if (uprop == use) {
            cJSON *w = cJSON_CreateObject();
            cJSON *any = cJSON_AddArrayToObject(w, "anyOf");
            cJSON_AddItemToArray(any, cJSON_Duplicate(use, 1));
            cJSON_AddItemToArray(any, interp_json());
            cJSON_ReplaceItemInObject(props, "use", w);
        }
    } else {
        cJSON_Delete(uses);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    /* cJSON allocates with malloc by default; hand over a copy to be safe */
    *out = strdup(text);
    cJSON_free(text);
    if (!*out) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    return RP_OK;
}
