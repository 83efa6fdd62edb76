/* A small JSON Schema validator for the tests (jsonschema.h). */
#include "jsonschema.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vctx {
    const cJSON *root;
    char *why;
    size_t n;
} vctx;

static int js_fail(vctx *c, const rp_node *v, const char *path, const char *fmt, const char *a) {
    if (c->why && !c->why[0]) {
        char msg[512];
        snprintf(msg, sizeof msg, fmt, a ? a : "");
        snprintf(c->why, c->n, "%s (line %d): %s", *path ? path : "(root)", v ? v->line : 0, msg);
    }
    return 0;
}

static const cJSON *resolve(const cJSON *root, const char *ref) {
    if (strncmp(ref, "#/", 2)) return NULL;
    const cJSON *cur = root;
    char tok[512];
    for (const char *p = ref + 2; cur && *p;) {
        size_t l = strcspn(p, "/"), k = 0;
        for (size_t i = 0; i < l && k < sizeof tok - 1; i++) {
            if (p[i] == '~' && p[i + 1] == '1') tok[k++] = '/', i++;
            else if (p[i] == '~' && p[i + 1] == '0') tok[k++] = '~', i++;
            else tok[k++] = p[i];
        }
        tok[k] = 0;
        cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
        p += l;
        if (*p == '/') p++;
    }
    return cur;
}

static int type_is(const rp_node *v, const char *t) {
    if (!strcmp(t, "null")) return rp_node_is_null(v);
    if (!v || v->kind == RP_NODE_NULL) return 0;
    if (!strcmp(t, "object")) return v->kind == RP_NODE_MAP;
    if (!strcmp(t, "array")) return v->kind == RP_NODE_SEQ;
    if (v->kind != RP_NODE_SCALAR) return 0;
    if (!strcmp(t, "boolean")) return !v->quoted && rp_node_is_bool(v);
    if (!strcmp(t, "integer")) {
        double x;
        if (v->quoted || !rp_node_is_number(v) || rp_node_as_double(v, &x, NULL)) return 0;
        return rp_node_is_int(v) || (isfinite(x) && x == floor(x));
    }
    if (!strcmp(t, "number")) return !v->quoted && rp_node_is_number(v);
    if (!strcmp(t, "string")) return rp_node_is_string(v);
    return 0;
}

/* JSON value equality with a YAML scalar / tree. */
static int equal(const cJSON *j, const rp_node *v) {
    if (cJSON_IsNull(j)) return rp_node_is_null(v);
    if (!v || rp_node_is_null(v)) return 0;
    if (cJSON_IsBool(j)) {
        int b;
        return type_is(v, "boolean") && rp_node_as_bool(v, &b, NULL) == RP_OK &&
               b == cJSON_IsTrue(j);
    }
    if (cJSON_IsNumber(j)) {
        double x;
        return type_is(v, "number") && rp_node_as_double(v, &x, NULL) == RP_OK &&
               x == j->valuedouble;
    }
    if (cJSON_IsString(j)) return rp_node_is_string(v) && !strcmp(v->str, j->valuestring);
    if (cJSON_IsArray(j)) {
        if (v->kind != RP_NODE_SEQ || (size_t)cJSON_GetArraySize(j) != v->n) return 0;
        for (size_t i = 0; i < v->n; i++)
            if (!equal(cJSON_GetArrayItem(j, (int)i), v->items[i])) return 0;
        return 1;
    }
    if (cJSON_IsObject(j)) {
        if (v->kind != RP_NODE_MAP || (size_t)cJSON_GetArraySize(j) != v->n) return 0;
        for (size_t i = 0; i < v->n; i++)
            if (!equal(cJSON_GetObjectItemCaseSensitive(j, v->keys[i]->str), v->items[i])) return 0;
        return 1;
    }
    return 0;
}

static int validate(vctx *c, const cJSON *s, const rp_node *v, const char *path, int depth);

/* Validate without recording a reason (anyOf / oneOf / if branches). */
static int quiet(vctx *c, const cJSON *s, const rp_node *v, const char *path, int depth) {
    vctx q = {c->root, NULL, 0};
    return validate(&q, s, v, path, depth);
}

static int validate(vctx *c, const cJSON *s, const rp_node *v, const char *path, int depth) {
    if (depth > 200) return js_fail(c, v, path, "schema nested too deeply%s", "");
    if (cJSON_IsBool(s)) return cJSON_IsTrue(s) ? 1 : js_fail(c, v, path, "nothing is allowed here%s", "");
    if (!cJSON_IsObject(s)) return 1;
    const cJSON *k;
    if ((k = cJSON_GetObjectItem(s, "$ref"))) {
        const cJSON *t = resolve(c->root, k->valuestring);
        if (!t) return js_fail(c, v, path, "unresolvable $ref %s", k->valuestring);
        if (!validate(c, t, v, path, depth + 1)) return 0;
    }
    if ((k = cJSON_GetObjectItem(s, "type"))) {
        int ok = 0;
        if (cJSON_IsString(k)) ok = type_is(v, k->valuestring);
        const cJSON *t;
        if (cJSON_IsArray(k)) cJSON_ArrayForEach(t, k) ok |= type_is(v, t->valuestring);
        if (!ok) {
            char tn[200] = "";
            if (cJSON_IsString(k)) snprintf(tn, sizeof tn, "%s", k->valuestring);
            else snprintf(tn, sizeof tn, "one of its types");
            return js_fail(c, v, path, "expected %s", tn);
        }
    }
    if ((k = cJSON_GetObjectItem(s, "enum"))) {
        int ok = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, k) ok |= equal(e, v);
        if (!ok) return js_fail(c, v, path, "'%s' is not one of the enum values", v && v->str ? v->str : "value");
    }
    if ((k = cJSON_GetObjectItem(s, "const")) && !equal(k, v))
        return js_fail(c, v, path, "'%s' is not the const value", v && v->str ? v->str : "value");
    double x;
    if (type_is(v, "number") && rp_node_as_double(v, &x, NULL) == RP_OK) {
        if ((k = cJSON_GetObjectItem(s, "minimum")) && !(x >= k->valuedouble))
            return js_fail(c, v, path, "%s is below the minimum", v->str);
        if ((k = cJSON_GetObjectItem(s, "maximum")) && !(x <= k->valuedouble))
            return js_fail(c, v, path, "%s is above the maximum", v->str);
        if ((k = cJSON_GetObjectItem(s, "exclusiveMinimum")) && !(x > k->valuedouble))
            return js_fail(c, v, path, "%s is not above the exclusive minimum", v->str);
        if ((k = cJSON_GetObjectItem(s, "exclusiveMaximum")) && !(x < k->valuedouble))
            return js_fail(c, v, path, "%s is not below the exclusive maximum", v->str);
        if ((k = cJSON_GetObjectItem(s, "multipleOf")) && k->valuedouble > 0) {
            double q = x / k->valuedouble;
            if (fabs(q - round(q)) > 1e-9) return js_fail(c, v, path, "%s is not a multiple", v->str);
        }
    }
    if (rp_node_is_string(v)) {
        size_t len = strlen(v->str);
        if ((k = cJSON_GetObjectItem(s, "minLength")) && len < (size_t)k->valuedouble)
            return js_fail(c, v, path, "'%s' is too short", v->str);
        if ((k = cJSON_GetObjectItem(s, "maxLength")) && len > (size_t)k->valuedouble)
            return js_fail(c, v, path, "'%s' is too long", v->str);
        if ((k = cJSON_GetObjectItem(s, "pattern"))) {
            regex_t re;
            if (regcomp(&re, k->valuestring, REG_EXTENDED | REG_NOSUB) != 0)
                return js_fail(c, v, path, "bad pattern %s", k->valuestring);
            int m = regexec(&re, v->str, 0, NULL, 0);
            regfree(&re);
            if (m != 0) return js_fail(c, v, path, "'%s' does not match the pattern", v->str);
        }
    }
    char sub[1024];
    if (v && v->kind == RP_NODE_MAP) {
        const cJSON *props = cJSON_GetObjectItem(s, "properties");
        const cJSON *ap = cJSON_GetObjectItem(s, "additionalProperties");
        const cJSON *pn = cJSON_GetObjectItem(s, "propertyNames");
        if ((k = cJSON_GetObjectItem(s, "minProperties")) && v->n < (size_t)k->valuedouble)
            return js_fail(c, v, path, "too few keys%s", "");
        if ((k = cJSON_GetObjectItem(s, "maxProperties")) && v->n > (size_t)k->valuedouble)
            return js_fail(c, v, path, "too many keys%s", "");
        for (size_t i = 0; i < v->n; i++) {
            const char *key = v->keys[i]->str;
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
            if (pn) {
                rp_node *kn = rp_node_new_string(key);
                int ok = validate(c, pn, kn, sub, depth + 1);
                rp_node_free(kn);
                if (!ok) return 0;
            }
            const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, key) : NULL;
            if (ps) {
                if (!validate(c, ps, v->items[i], sub, depth + 1)) return 0;
            } else if (ap) {
                if (cJSON_IsFalse(ap)) return js_fail(c, v->keys[i], sub, "unknown key%s", "");
                if (!validate(c, ap, v->items[i], sub, depth + 1)) return 0;
            }
        }
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(s, "required"))
            if (!rp_node_get(v, r->valuestring))
                return js_fail(c, v, path, "missing required key '%s'", r->valuestring);
    }
    if (v && v->kind == RP_NODE_SEQ) {
        if ((k = cJSON_GetObjectItem(s, "minItems")) && v->n < (size_t)k->valuedouble)
            return js_fail(c, v, path, "too few items%s", "");
        if ((k = cJSON_GetObjectItem(s, "maxItems")) && v->n > (size_t)k->valuedouble)
            return js_fail(c, v, path, "too many items%s", "");
        if ((k = cJSON_GetObjectItem(s, "items")))
            for (size_t i = 0; i < v->n; i++) {
                snprintf(sub, sizeof sub, "%s[%zu]", path, i);
                if (!validate(c, k, v->items[i], sub, depth + 1)) return 0;
            }
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(s, "allOf"))
        if (!validate(c, e, v, path, depth + 1)) return 0;
    if ((k = cJSON_GetObjectItem(s, "anyOf"))) {
        int ok = 0;
        cJSON_ArrayForEach(e, k) if (!ok && quiet(c, e, v, path, depth + 1)) ok = 1;
        if (!ok) {
            /* say why the first alternative failed */
            validate(c, cJSON_GetArrayItem(k, 0), v, path, depth + 1);
            return js_fail(c, v, path, "matches none of anyOf%s", "");
        }
    }
    if ((k = cJSON_GetObjectItem(s, "oneOf"))) {
        int hits = 0;
        cJSON_ArrayForEach(e, k) hits += quiet(c, e, v, path, depth + 1);
        if (hits != 1) return js_fail(c, v, path, "matches %s of oneOf", hits ? "several" : "none");
    }
    if ((k = cJSON_GetObjectItem(s, "if"))) {
        const cJSON *br = quiet(c, k, v, path, depth + 1) ? cJSON_GetObjectItem(s, "then")
                                                           : cJSON_GetObjectItem(s, "else");
        if (br && !validate(c, br, v, path, depth + 1)) return 0;
    }
    return 1;
}

int rp_test_json_valid(const cJSON *root, const cJSON *schema, const rp_node *v, char *why,
                       size_t n) {
    if (why && n) why[0] = 0;
    vctx c = {root, why, n};
    return validate(&c, schema, v, "", 0);
}
