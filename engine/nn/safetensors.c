/* safetensors files (https://github.com/huggingface/safetensors):
 *   8 bytes   little-endian u64 N = header length
 *   N bytes   JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 *                    "__metadata__": {"key": "value"}}
 *   rest      raw little-endian tensor data; offsets relative to its start.
 * We write F32 (header padded with spaces to a multiple of 8); we read F32,
 * F16, BF16, F64, I64, I32 (converted to float32). Every malformation gives an
 * error naming the file and what is wrong; nothing is trusted before it is
 * checked against the file size. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/io.h"
#include "base/util.h"

#define MAX_HEADER (256u << 20)

void rp_st_init(rp_st *st) { memset(st, 0, sizeof *st); }

void rp_st_release(rp_st *st) {
    for (size_t i = 0; i < st->n; i++) {
        free(st->e[i].name);
        rp_tensor_free(st->e[i].t);
    }
    free(st->e);
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->meta_keys);
    free(st->meta_vals);
    memset(st, 0, sizeof *st);
}

static int st_find(const rp_st *st, const char *name) {
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->e[i].name, name) == 0) return (int)i;
    return -1;
}

/* Takes ownership of t. */
static int st_add_owned(rp_st *st, const char *name, rp_tensor *t, rp_error *err) {
    int i = st_find(st, name);
    if (i >= 0) {
        rp_tensor_free(st->e[i].t);
        st->e[i].t = t;
        return RP_OK;
    }
    if (st->n == st->cap) {
        size_t nc = st->cap ? st->cap * 2 : 32;
        rp_st_entry *ne = realloc(st->e, nc * sizeof *ne);
        if (!ne) {
            rp_tensor_free(t);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        st->e = ne;
        st->cap = nc;
    }
    st->e[st->n].name = rp_strdup(name);
    if (!st->e[st->n].name) {
        rp_tensor_free(t);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    st->e[st->n].t = t;
    st->n++;
    return RP_OK;
}

int rp_st_take(rp_st *st, const char *name, rp_tensor *t, rp_error *err) { return st_add_owned(st, name, t, err); }

int rp_st_add(rp_st *st, const char *name, const rp_tensor *t, rp_error *err) {
    rp_tensor *c = rp_tensor_clone(t);
    if (!c) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    return st_add_owned(st, name, c, err);
}

int rp_st_set_meta(rp_st *st, const char *key, const char *value, rp_error *err) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) {
            char *v = rp_strdup(value);
            if (!v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            free(st->meta_vals[i]);
            st->meta_vals[i] = v;
            return RP_OK;
        }
    char **k = realloc(st->meta_keys, (st->n_meta + 1) * sizeof *k);
    if (!k) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    st->meta_keys = k;
    char **v = realloc(st->meta_vals, (st->n_meta + 1) * sizeof *v);
    if (!v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    st->meta_vals = v;
    k[st->n_meta] = rp_strdup(key);
    v[st->n_meta] = rp_strdup(value);
    if (!k[st->n_meta] || !v[st->n_meta]) {
        free(k[st->n_meta]);
        free(v[st->n_meta]);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    st->n_meta++;
    return RP_OK;
}

int rp_st_put_scalar(rp_st *st, const char *name, double v, rp_error *err) {
    rp_tensor *t;
    if (rp_tensor_new1(&t, 2, err)) return err->status;
    float hi = (float)v;
    t->data[0] = hi;
    t->data[1] = isfinite(v) ? (float)(v - (double)hi) : 0.0f;
    return st_add_owned(st, name, t, err);
}

int rp_st_get_scalar(const rp_st *st, const char *name, double *v) {
    int i = st_find(st, name);
    if (i < 0 || st->e[i].t->numel < 1) return 0;
    const rp_tensor *t = st->e[i].t;
    *v = (double)t->data[0] + (t->numel > 1 ? (double)t->data[1] : 0.0);
    return 1;
}

const rp_tensor *rp_st_get(const rp_st *st, const char *name) {
    int i = st_find(st, name);
    return i < 0 ? NULL : st->e[i].t;
}

const char *rp_st_meta(const rp_st *st, const char *key) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}

/* ---- writing -------------------------------------------------------------- */

int rp_st_save(const rp_st *st, const char *path, rp_error *err) {
    cJSON *h = cJSON_CreateObject();
    if (!h) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (st->n_meta) {
        cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
        for (size_t i = 0; meta && i < st->n_meta; i++) cJSON_AddStringToObject(meta, st->meta_keys[i], st->meta_vals[i]);
    }
    size_t off = 0;
    for (size_t i = 0; i < st->n; i++) {
        const rp_tensor *t = st->e[i].t;
        cJSON *o = cJSON_AddObjectToObject(h, st->e[i].name);
        if (!o) break;
        cJSON_AddStringToObject(o, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; shape && d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        size_t bytes = t->numel * sizeof(float);
        if (offs) {
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + bytes)));
        }
        off += bytes;
    }
    char *json = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!json) return rp_error_set(err, RP_ERR_NOMEM, "out of memory writing '%s'", path);
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    rp_afile af;
    if (rp_afile_open(&af, path, err)) {
        free(json);
        return err->status;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(json, 1, jl, af.f) == jl;
    for (size_t i = jl; ok && i < padded; i++) ok = fputc(' ', af.f) != EOF;
    free(json);
    for (size_t i = 0; ok && i < st->n; i++) {
        const rp_tensor *t = st->e[i].t;
        ok = t->numel == 0 || fwrite(t->data, sizeof(float), t->numel, af.f) == t->numel;
    }
    if (!ok) {
        int e = errno;
        rp_afile_abort(&af);
        return rp_error_set(err, RP_ERR_IO, "writing '%s': %s", path, strerror(e));
    }
    return rp_afile_commit(&af, err);
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct span {
    uint64_t b, e;
    const char *name;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : (x->e < y->e ? -1 : x->e > y->e);
}

static int dtype_size(const char *d) {
    if (!strcmp(d, "F32") || !strcmp(d, "I32")) return 4;
    if (!strcmp(d, "F16") || !strcmp(d, "BF16")) return 2;
    if (!strcmp(d, "F64") || !strcmp(d, "I64")) return 8;
    return 0;
}

static void convert(const char *dt, const unsigned char *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(dt, "F32")) {
            memcpy(&dst[i], src + 4 * i, 4);
        } else if (!strcmp(dt, "F16")) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = rp_half_to_float(h);
        } else if (!strcmp(dt, "BF16")) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            uint32_t b = (uint32_t)h << 16;
            memcpy(&dst[i], &b, 4);
        } else if (!strcmp(dt, "F64")) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        } else if (!strcmp(dt, "I64")) {
            int64_t v;
            memcpy(&v, src + 8 * i, 8);
            dst[i] = (float)v;
        } else {
            int32_t v;
            memcpy(&v, src + 4 * i, 4);
            dst[i] = (float)v;
        }
    }
}

static int fmt_err(rp_error *err, const char *path, const char *fmt, const char *a, const char *b) {
    char msg[700];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    rp_error_set(err, RP_ERR_FORMAT, "'%s': not a valid safetensors file: %s", path, msg);
    snprintf(err->file, sizeof err->file, "%s", path);
    return RP_ERR_FORMAT;
}

int rp_st_load(const char *path, rp_st *st, rp_error *err) {
    rp_st_init(st);
    FILE *f = fopen(path, "rb");
    if (!f) {
        rp_error_set(err, RP_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        if (err) snprintf(err->file, sizeof err->file, "%s", path);
        return RP_ERR_IO;
    }
    int st_rc = RP_OK;
    unsigned char *buf = NULL;
    cJSON *h = NULL;
    span *spans = NULL;
    char num[64], num2[64];
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return rp_error_set(err, RP_ERR_IO, "cannot seek in '%s'", path);
    }
    long fsz = ftell(f);
    rewind(f);
    if (fsz < 8) {
        snprintf(num, sizeof num, "%ld", fsz < 0 ? 0L : fsz);
        st_rc = fmt_err(err, path, "truncated: %s bytes (it must start with an 8-byte header length)", num, NULL);
        goto out;
    }
    buf = malloc((size_t)fsz);
    if (!buf) {
        st_rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory reading '%s'", path);
        goto out;
    }
    if (fread(buf, 1, (size_t)fsz, f) != (size_t)fsz) {
        st_rc = rp_error_set(err, RP_ERR_IO, "reading '%s': %s", path, strerror(errno));
        goto out;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)buf[i] << (8 * i);
    if (hlen > (uint64_t)fsz - 8 || hlen > MAX_HEADER) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)hlen);
        snprintf(num2, sizeof num2, "%ld", fsz);
        st_rc = fmt_err(err, path, "header length %s exceeds the file size (%s bytes): truncated or not safetensors",
                        num, num2);
        goto out;
    }
    h = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!h || !cJSON_IsObject(h)) {
        st_rc = fmt_err(err, path, "the header is not a JSON object", NULL, NULL);
        goto out;
    }
    const unsigned char *data = buf + 8 + hlen;
    uint64_t dlen = (uint64_t)fsz - 8 - hlen;
    size_t nt = 0;
    for (cJSON *it = h->child; it; it = it->next) nt++;
    spans = calloc(nt + 1, sizeof *spans);
    if (!spans) {
        st_rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        goto out;
    }
    size_t ns = 0;
    for (cJSON *it = h->child; it; it = it->next) {
        const char *name = it->string;
        if (!strcmp(name, "__metadata__")) {
            if (!cJSON_IsObject(it)) {
                st_rc = fmt_err(err, path, "__metadata__ must be an object of strings", NULL, NULL);
                goto out;
            }
            for (cJSON *m = it->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    st_rc = fmt_err(err, path, "metadata '%s' is not a string", m->string, NULL);
                    goto out;
                }
                if ((st_rc = rp_st_set_meta(st, m->string, m->valuestring, err))) goto out;
            }
            continue;
        }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsObject(it) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
            cJSON_GetArraySize(offs) != 2) {
            st_rc = fmt_err(err, path, "tensor '%s' needs dtype, shape and data_offsets [begin, end]", name, NULL);
            goto out;
        }
        int esz = dtype_size(dt->valuestring);
        if (!esz) {
            st_rc = fmt_err(err, path, "tensor '%s' has unsupported dtype '%s' (supported: F32, F16, BF16, F64, I64, I32)",
                            name, dt->valuestring);
            goto out;
        }
        int nd = cJSON_GetArraySize(shape);
        if (nd > RP_MAX_DIMS) {
            st_rc = fmt_err(err, path, "tensor '%s' has too many dimensions", name, NULL);
            goto out;
        }
        int64_t shp[RP_MAX_DIMS];
        double numel = 1;
        for (int d = 0; d < nd; d++) {
            cJSON *v = cJSON_GetArrayItem(shape, d);
            if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble) ||
                v->valuedouble > 1e12) {
                st_rc = fmt_err(err, path, "tensor '%s' has an invalid shape", name, NULL);
                goto out;
            }
            shp[d] = (int64_t)v->valuedouble;
            numel *= v->valuedouble;
        }
        cJSON *ob = cJSON_GetArrayItem(offs, 0), *oe = cJSON_GetArrayItem(offs, 1);
        if (!cJSON_IsNumber(ob) || !cJSON_IsNumber(oe) || ob->valuedouble < 0 || oe->valuedouble < ob->valuedouble ||
            oe->valuedouble > (double)dlen) {
            snprintf(num, sizeof num, "%llu", (unsigned long long)dlen);
            st_rc = fmt_err(err, path, "tensor '%s': data_offsets outside the data section (%s bytes): truncated file?",
                            name, num);
            goto out;
        }
        uint64_t b = (uint64_t)ob->valuedouble, e = (uint64_t)oe->valuedouble;
        if ((double)(e - b) != numel * esz) {
            st_rc = fmt_err(err, path, "tensor '%s': data_offsets do not match its shape and dtype %s", name,
                            dt->valuestring);
            goto out;
        }
        if (st_find(st, name) >= 0) {
            /* JSON allows it; a second entry must not silently win */
            st_rc = fmt_err(err, path, "tensor '%s' appears twice in the header", name, NULL);
            goto out;
        }
        spans[ns].b = b, spans[ns].e = e, spans[ns].name = name;
        ns++;
        rp_tensor *t;
        if ((st_rc = rp_tensor_new(&t, nd, shp, err))) goto out;
        convert(dt->valuestring, data + b, t->data, t->numel);
        if ((st_rc = st_add_owned(st, name, t, err))) goto out;
    }
    qsort(spans, ns, sizeof *spans, span_cmp);
    for (size_t i = 1; i < ns; i++)
        if (spans[i].b < spans[i - 1].e && spans[i].e > spans[i].b) {
            st_rc = fmt_err(err, path, "tensors '%s' and '%s' overlap", spans[i - 1].name, spans[i].name);
            goto out;
        }
out:
    free(spans);
    cJSON_Delete(h);
    free(buf);
    fclose(f);
    if (st_rc) rp_st_release(st);
    return st_rc;
}

/* ---- prefixed copies (checkpoints: optimizer and scheduler state) ---------------- */

int rp_st_add_prefixed(rp_st *dst, const char *prefix, const rp_st *src, rp_error *err) {
    char key[1024];
    for (size_t i = 0; i < src->n; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, src->e[i].name);
        if (rp_st_add(dst, key, src->e[i].t, err)) return err->status;
    }
    return RP_OK;
}

int rp_st_get_prefixed(const rp_st *src, const char *prefix, rp_st *dst, rp_error *err) {
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < src->n; i++)
        if (strncmp(src->e[i].name, prefix, pl) == 0)
            if (rp_st_add(dst, src->e[i].name + pl, src->e[i].t, err)) return err->status;
    return RP_OK;
}
