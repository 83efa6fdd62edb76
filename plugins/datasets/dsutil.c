/* datasets plugin — shared helpers (see dsutil.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "dsutil.h"

int memds_alloc(memds *m, uint64_t n, int c, int h, int w, int with_domains, int with_masks,
                rp_error *err) {
    memset(m, 0, sizeof *m);
    m->n = n;
    m->c = c;
    m->h = h;
    m->w = w;
    size_t per = (size_t)c * h * w;
    m->pix = malloc(n * per + 1);
    m->labels = calloc(n + 1, sizeof *m->labels);
    if (with_domains) m->domains = calloc(n + 1, sizeof *m->domains);
    if (with_masks) m->masks = calloc(n * (size_t)h * w + 1, 1);
    if (!m->pix || !m->labels || (with_domains && !m->domains) || (with_masks && !m->masks)) {
        memds_release(m);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory for %llu images of %dx%dx%d",
                            (unsigned long long)n, c, h, w);
    }
    return RP_OK;
}

void memds_release(memds *m) {
    free(m->pix);
    free(m->labels);
    free(m->domains);
    free(m->masks);
    memset(m, 0, sizeof *m);
}

static int memds_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                     rp_error *err) {
    (void)draw;
    const memds *m = ds->impl;
    int st = rp_sample_resize(out, m->c, m->h, m->w, err);
    if (st) return st;
    size_t per = (size_t)m->c * m->h * m->w;
    const uint8_t *p = m->pix + i * per;
    float *q = out->img.data;
    const float k = 1.0f / 255.0f;
    for (size_t j = 0; j < per; j++) q[j] = p[j] * k;
    out->label = m->labels[i];
    out->domain = m->domains ? m->domains[i] : -1;
    if (m->masks) {
        st = rp_mask_resize(&out->mask, m->h, m->w, err);
        if (st) return st;
        const uint8_t *mp = m->masks + i * (size_t)m->h * m->w;
        for (size_t j = 0; j < (size_t)m->h * m->w; j++) out->mask.data[j] = mp[j];
    } else {
        out->mask.h = out->mask.w = 0;
        free(out->mask.data);
        out->mask.data = NULL;
        out->mask.cap = 0;
    }
    return RP_OK;
}

static int32_t memds_label(const rp_dataset *ds, uint64_t i) {
    const memds *m = ds->impl;
    return m->labels[i];
}

static int32_t memds_domain(const rp_dataset *ds, uint64_t i) {
    const memds *m = ds->impl;
    return m->domains ? m->domains[i] : -1;
}

static void memds_destroy(rp_dataset *ds) {
    memds *m = ds->impl;
    if (m) memds_release(m);
    free(m);
}

static const struct rp_dataset_ops memds_ops = {memds_get, memds_label, memds_domain,
                                                memds_destroy};

int memds_dataset(memds *m, const char *name, int num_classes, const char *const *class_names,
                  rp_dataset **out, rp_error *err) {
    *out = NULL;
    memds *own = malloc(sizeof *own);
    if (!own) {
        memds_release(m);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    *own = *m;
    memset(m, 0, sizeof *m);
    rp_dataset *ds = rp_dataset_new(&memds_ops, own, name, own->n, num_classes, class_names);
    if (!ds) {
        memds_release(own);
        free(own);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    ds->channels = own->c;
    ds->height = own->h;
    ds->width = own->w;
    ds->task = own->masks ? RP_TASK_SEGMENT : RP_TASK_CLASSIFY;
    *out = ds;
    return RP_OK;
}

int ds_read_gz(const char *path, uint8_t **data, size_t *len, rp_error *err) {
    *data = NULL;
    *len = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) return rp_error_set(err, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    gzbuffer(g, 1 << 17);
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        gzclose(g);
        return rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (cap - n < (1 << 16)) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                gzclose(g);
                return rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        int r = gzread(g, buf + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
        if (r < 0) {
            int e;
            const char *m = gzerror(g, &e);
            rp_error_set(err, RP_ERR_FORMAT, "%s: corrupt or truncated gzip data after %zu bytes: %s",
                         path, n, m ? m : "read error");
            free(buf);
            gzclose(g);
            return RP_ERR_FORMAT;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    /* zlib reports a stream cut short only through gzerror / gzclose. */
    int e = Z_OK;
    const char *m = gzerror(g, &e);
    if (e != Z_OK && e != Z_STREAM_END) {
        rp_error_set(err, RP_ERR_FORMAT, "%s: corrupt or truncated gzip data after %zu bytes: %s",
                     path, n, m ? m : "read error");
        free(buf);
        gzclose(g);
        return RP_ERR_FORMAT;
    }
    int rc = gzclose(g);
    if (rc == Z_BUF_ERROR) {
        free(buf);
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s: truncated gzip file (stream ends after %zu bytes of data)", path, n);
    }
    *data = buf;
    *len = n;
    return RP_OK;
}

int ds_find_file(const char *dir, const char *name, char *out, size_t outsz) {
    struct stat sb;
    char p[4096];
    ds_join(dir, name, p, sizeof p);
    if (stat(p, &sb) == 0) {
        snprintf(out, outsz, "%s", p);
        return 1;
    }
    char q[4200];
    snprintf(q, sizeof q, "%s.gz", p);
    if (stat(q, &sb) == 0) {
        snprintf(out, outsz, "%s", q);
        return 1;
    }
    snprintf(out, outsz, "%s", p);
    return 0;
}

void ds_join(const char *dir, const char *rel, char *out, size_t outsz) {
    if (!dir || !*dir || rel[0] == '/')
        snprintf(out, outsz, "%s", rel);
    else
        snprintf(out, outsz, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
}

int ds_read_lines(const char *path, char ***lines, int max) {
    *lines = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char **v = calloc((size_t)max + 1, sizeof *v);
    if (!v) {
        fclose(f);
        return -1;
    }
    int n = 0;
    char buf[1024];
    while (n < max && fgets(buf, sizeof buf, f)) {
        size_t l = strlen(buf);
        while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r' || buf[l - 1] == ' ')) buf[--l] = 0;
        if (!l) continue;
        v[n] = strdup(buf);
        if (!v[n]) break;
        n++;
    }
    fclose(f);
    *lines = v;
    return n;
}

void ds_free_lines(char **lines, int n) {
    if (!lines) return;
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

int ds_param_strs(const rp_node *params, const char *key, const char **out, int max) {
    const rp_node *n = rp_node_get(params, key);
    if (!n || n->kind == RP_NODE_NULL) return 0;
    if (n->kind == RP_NODE_SCALAR) {
        out[0] = n->str;
        return 1;
    }
    int k = 0;
    for (size_t i = 0; i < rp_node_len(n) && k < max; i++) {
        const char *s = rp_node_str(rp_node_at(n, i));
        if (s) out[k++] = s;
    }
    return k;
}

int ds_relocate(rp_error *err, const rp_node *at, int status) {
    rp_error tmp = *err; /* rp_error_at writes err->msg */
    return rp_error_at(err, at, status, "%s", tmp.msg);
}
