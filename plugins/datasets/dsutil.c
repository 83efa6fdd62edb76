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

void memds_source(memds *m, const char *path, uint64_t n, const char *unit) {
    if (m->n_src == 8) return;
    const char *b = strrchr(path, '/');
    m->src[m->n_src] = strdup(b ? b + 1 : path);
    m->src_n[m->n_src++] = n;
    m->unit = unit;
}

static int memds_where(const rp_dataset *ds, uint64_t i, char *buf, size_t n) {
    const memds *m = ds->impl;
    if (m->n_item) {
        size_t lo = 0, hi = m->n_item; /* last k with item_first[k] <= i */
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (m->item_first[mid] <= i) lo = mid;
            else hi = mid;
        }
        uint64_t end = lo + 1 < m->n_item ? m->item_first[lo + 1] : m->n;
        if (end - m->item_first[lo] > 1)
            snprintf(buf, n, "image '%s', tile %llu", m->item[lo],
                     (unsigned long long)(i - m->item_first[lo]));
        else
            snprintf(buf, n, "image '%s'", m->item[lo]);
        return 1;
    }
    for (int k = 0; k < m->n_src; k++) {
        if (i < m->src_n[k]) {
            snprintf(buf, n, "%s: %s %llu", m->src[k] ? m->src[k] : "?", m->unit,
                     (unsigned long long)i);
            return 1;
        }
        i -= m->src_n[k];
    }
    return 0;
}

void memds_release(memds *m) {
    for (int k = 0; k < m->n_src; k++) free(m->src[k]);
    for (size_t k = 0; k < m->n_item; k++) free(m->item[k]);
    free(m->item);
    free(m->item_first);
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
    rp_dataset_ops_set_where(&memds_ops, memds_where);
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

/* gzip (RFC 1952): every member is inflated and its CRC-32 and ISIZE checked
 * by zlib; after the last member only the end of the file may follow (zlib's
 * gzread would silently ignore anything that is not another member). */
int ds_data_size(const char *path, uint64_t *size, rp_error *err) {
    *size = 0;
    struct stat sb;
    if (stat(path, &sb) != 0) return rp_error_set(err, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return rp_error_set(err, RP_ERR_IO, "%s: is a directory, not a data file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return rp_error_set(err, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t magic[2] = {0, 0};
    size_t got = fread(magic, 1, 2, f);
    if (got < 2 || magic[0] != 0x1f || magic[1] != 0x8b) {
        fclose(f);
        *size = (uint64_t)sb.st_size;
        return RP_OK;
    }
    rewind(f);
    enum { IN = 1 << 16, OUT = 1 << 17 };
    uint8_t *in = malloc(IN), *out = malloc(OUT);
    z_stream z;
    memset(&z, 0, sizeof z);
    int st = RP_OK, zinit = 0;
    uint64_t total = 0, consumed = 0;
    if (!in || !out) st = rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory", path);
    if (!st && inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        st = rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory (zlib)", path);
    if (!st) zinit = 1;
    int members = 0, in_member = 1, eof = 0;
    while (!st) {
        if (z.avail_in == 0 && !eof) {
            size_t r = fread(in, 1, IN, f);
            if (r == 0) eof = 1;
            z.next_in = in;
            z.avail_in = (uInt)r;
        }
        if (z.avail_in == 0 && eof) {
            if (in_member)
                st = rp_error_set(err, RP_ERR_FORMAT,
                                  "%s: truncated gzip file (stream ends after %llu bytes of data)",
                                  path, (unsigned long long)total);
            break;
        }
        if (!in_member) {
            /* another member must start with the gzip magic */
            if (z.avail_in < 2 && !eof) {
                memmove(in, z.next_in, z.avail_in);
                size_t r = fread(in + z.avail_in, 1, IN - z.avail_in, f);
                if (r == 0) eof = 1;
                z.next_in = in;
                z.avail_in += (uInt)r;
            }
            if (z.avail_in < 2 || z.next_in[0] != 0x1f || z.next_in[1] != 0x8b) {
                st = rp_error_set(err, RP_ERR_FORMAT,
                                  "%s: junk after the end of the gzip stream (byte %llu of the file, "
                                  "after %llu bytes of data)",
                                  path, (unsigned long long)consumed, (unsigned long long)total);
                break;
            }
            inflateReset(&z);
            in_member = 1;
        }
        z.next_out = out;
        z.avail_out = OUT;
        uInt before = z.avail_in;
        int rc = inflate(&z, Z_NO_FLUSH);
        consumed += before - z.avail_in;
        total += OUT - z.avail_out;
        if (rc == Z_STREAM_END) {
            members++;
            in_member = 0;
        } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && z.avail_in == 0)) {
            st = rp_error_set(err, RP_ERR_FORMAT, "%s: corrupt gzip data after %llu bytes: %s", path,
                              (unsigned long long)total, z.msg ? z.msg : "inflate error");
        }
    }
    (void)members;
    if (zinit) inflateEnd(&z);
    free(in);
    free(out);
    fclose(f);
    if (!st) *size = total;
    return st;
}

int ds_read_gz(const char *path, uint8_t **data, size_t *len, rp_error *err) {
    *data = NULL;
    *len = 0;
    uint64_t size = 0;
    int zs = ds_data_size(path, &size, err);
    if (zs) return zs;
    gzFile g = gzopen(path, "rb");
    if (!g) return rp_error_set(err, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    gzbuffer(g, 1 << 17);
    size_t cap = (size_t)size + (1 << 16) + 1, n = 0;
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
        return -2;
    }
    int n = 0;
    char buf[1024];
    while (n < max && fgets(buf, sizeof buf, f)) {
        size_t l = strlen(buf);
        while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r' || buf[l - 1] == ' ')) buf[--l] = 0;
        if (!l) continue;
        v[n] = strdup(buf);
        if (!v[n]) {
            fclose(f);
            ds_free_lines(v, n);
            return -2;
        }
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
