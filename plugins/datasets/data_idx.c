/* data.idx — MNIST / Fashion-MNIST IDX files (LeCun et al.; the IDX format:
 * big-endian magic 0x00000803 / 0x00000801, dimension sizes, then uint8
 * data), raw or gzipped. Default: Debian's dataset-fashion-mnist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <zlib.h>

#include "stages.h"

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
static const char *const digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Streamed IDX reading: header, then exactly the records needed (all of
 * them, or `limit`), then — when reading everything — a check that nothing
 * follows. gzread reads raw files as is. */
typedef struct idxf {
    gzFile g;
    const char *path;
} idxf;

static int idx_read(idxf *f, void *buf, size_t n, size_t *got, rp_error *err) {
    *got = 0;
    while (*got < n) {
        unsigned chunk = n - *got > (1u << 30) ? (1u << 30) : (unsigned)(n - *got);
        int r = gzread(f->g, (uint8_t *)buf + *got, chunk);
        if (r < 0) {
            int e;
            const char *m = gzerror(f->g, &e);
            return rp_error_set(err, RP_ERR_FORMAT, "%s: corrupt or truncated gzip data: %s",
                                f->path, m ? m : "read error");
        }
        if (r == 0) break;
        *got += (size_t)r;
    }
    int e = Z_OK;
    const char *m = gzerror(f->g, &e);
    if (*got < n && e != Z_OK && e != Z_STREAM_END)
        return rp_error_set(err, RP_ERR_FORMAT, "%s: corrupt or truncated gzip data: %s", f->path,
                            m ? m : "read error");
    return RP_OK;
}

static int idx_open(idxf *f, const char *path, rp_error *err) {
    f->path = path;
    f->g = gzopen(path, "rb");
    if (!f->g) return rp_error_set(err, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    gzbuffer(f->g, 1 << 17);
    return RP_OK;
}

/* After the last record: must be at the end (raw or gzip). */
static int idx_at_end(idxf *f, uint64_t count, const char *what, rp_error *err) {
    uint8_t extra[64];
    size_t got;
    int st = idx_read(f, extra, sizeof extra, &got, err);
    if (st) return st;
    if (got)
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s: trailing bytes after the %llu %s the header announces", f->path,
                            (unsigned long long)count, what);
    /* a cut gzip stream shows up only at close */
    int rc = gzclose(f->g);
    f->g = NULL;
    if (rc == Z_BUF_ERROR)
        return rp_error_set(err, RP_ERR_FORMAT, "%s: truncated gzip file", f->path);
    if (rc != Z_OK) return rp_error_set(err, RP_ERR_FORMAT, "%s: corrupt gzip file", f->path);
    return RP_OK;
}

int idx_load(const char *images, const char *labels, uint64_t limit, int num_classes, memds *m,
             rp_error *err) {
    idxf fi = {0}, fl = {0};
    uint8_t hi[16], hl[8];
    size_t got;
    memset(m, 0, sizeof *m);
    int st = idx_open(&fi, images, err);
    if (!st) st = idx_open(&fl, labels, err);
    if (!st) st = idx_read(&fi, hi, 16, &got, err);
    if (!st && (got < 16 || be32(hi) != 0x00000803u))
        st = rp_error_set(err, RP_ERR_FORMAT,
                          "%s: not an IDX image file (magic 0x%08x, expected 0x00000803 = uint8, "
                          "3 dimensions)",
                          images, got >= 4 ? be32(hi) : 0u);
    if (!st) st = idx_read(&fl, hl, 8, &got, err);
    if (!st && (got < 8 || be32(hl) != 0x00000801u))
        st = rp_error_set(err, RP_ERR_FORMAT,
                          "%s: not an IDX label file (magic 0x%08x, expected 0x00000801 = uint8, "
                          "1 dimension)",
                          labels, got >= 4 ? be32(hl) : 0u);
    if (st) goto done;
    uint64_t n = be32(hi + 4), rows = be32(hi + 8), cols = be32(hi + 12), nl = be32(hl + 4);
    if (rows == 0 || cols == 0 || rows > 65536 || cols > 65536) {
        st = rp_error_set(err, RP_ERR_FORMAT, "%s: bad image size %llux%llu in the header", images,
                          (unsigned long long)rows, (unsigned long long)cols);
        goto done;
    }
    if (nl != n) {
        st = rp_error_set(err, RP_ERR_FORMAT, "%s has %llu images but %s has %llu labels", images,
                          (unsigned long long)n, labels, (unsigned long long)nl);
        goto done;
    }
    uint64_t want = limit && limit < n ? limit : n, per = rows * cols;
    /* Declared sizes against what the files hold, before allocating: a
     * header is untrusted input. */
    uint64_t isz = 0, lsz = 0;
    st = ds_data_size(images, &isz, err);
    if (!st && (isz - 16) / per < n)
        st = rp_error_set(err, RP_ERR_FORMAT,
                          "%s: header field 'number of images' says %llu images of %llux%llu but the "
                          "file holds %llu bytes of pixels (%llu images)",
                          images, (unsigned long long)n, (unsigned long long)rows,
                          (unsigned long long)cols, (unsigned long long)(isz - 16),
                          (unsigned long long)((isz - 16) / per));
    if (!st) st = ds_data_size(labels, &lsz, err);
    if (!st && lsz - 8 < nl)
        st = rp_error_set(err, RP_ERR_FORMAT,
                          "%s: header field 'number of items' says %llu labels but the file holds "
                          "%llu",
                          labels, (unsigned long long)nl, (unsigned long long)(lsz - 8));
    if (st) goto done;
    st = memds_alloc(m, want, 1, (int)rows, (int)cols, 0, 0, err);
    if (st) goto done;
    memds_source(m, images, want, "image");
    st = idx_read(&fi, m->pix, want * per, &got, err);
    if (!st && got < want * per)
        st = rp_error_set(err, RP_ERR_FORMAT,
                          "%s: header says %llu images of %llux%llu but the file ends after %zu "
                          "bytes of pixels; truncated at image %llu",
                          images, (unsigned long long)n, (unsigned long long)rows,
                          (unsigned long long)cols, got, (unsigned long long)(got / per));
    uint8_t *lb = NULL;
    if (!st) {
        lb = malloc(want + 1);
        if (!lb) st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    if (!st) st = idx_read(&fl, lb, want, &got, err);
    if (!st && got < want)
        st = rp_error_set(err, RP_ERR_FORMAT,
                          "%s: header says %llu labels but the file ends after %zu; truncated at "
                          "record %zu",
                          labels, (unsigned long long)nl, got, got);
    for (uint64_t i = 0; !st && i < want; i++) {
        if (lb[i] >= num_classes)
            st = rp_error_set(err, RP_ERR_FORMAT, "%s: record %llu: label %d out of range [0, %d)",
                              labels, (unsigned long long)i, lb[i], num_classes);
        m->labels[i] = lb[i];
    }
    free(lb);
    /* everything read: nothing may follow (a limited read stops early) */
    if (!st && want == n) st = idx_at_end(&fi, n, "images", err);
    if (!st && want == n) st = idx_at_end(&fl, n, "labels", err);
done:
    if (fi.g) gzclose(fi.g);
    if (fl.g) gzclose(fl.g);
    if (st) memds_release(m);
    return st;
}

int ds_run_idx(rp_stage *stg, rp_error *err) {
    const rp_node *p = rp_stage_params(stg);
    const char *dir = rp_param_str(p, "dir");
    const char *names = rp_param_str(p, "names");
    uint64_t limit = (uint64_t)rp_param_int(p, "limit");
    int fashion = !strcmp(names, "fashion_mnist") ||
                  (!strcmp(names, "auto") && strstr(dir, "fashion") != NULL);
    const char *const *cls = fashion ? fashion_names : digit_names;
    const char *tag = fashion ? "fashion_mnist" : "mnist";
    const char *ports[2] = {"train", "test"};
    const char *prefix[2] = {rp_param_str(p, "train_prefix"),
                             rp_param_str(p, "test_prefix")};
    for (int k = 0; k < 2; k++) {
        char a[256], b[256], pi[4096], pl[4096];
        snprintf(a, sizeof a, "%s-images-idx3-ubyte", prefix[k]);
        snprintf(b, sizeof b, "%s-labels-idx1-ubyte", prefix[k]);
        if (!ds_find_file(dir, a, pi, sizeof pi))
            return rp_error_set(err, RP_ERR_IO, "%s: not found (nor %s.gz); %s", pi, pi,
                                fashion ? "on Debian: apt install dataset-fashion-mnist, or run "
                                          "datasets/fashion-mnist.sh"
                                        : "run datasets/mnist.sh DIR");
        if (!ds_find_file(dir, b, pl, sizeof pl))
            return rp_error_set(err, RP_ERR_IO, "%s: not found (nor %s.gz)", pl, pl);
        memds m;
        int st = idx_load(pi, pl, limit, 10, &m, err);
        if (st) return st;
        char name[128];
        snprintf(name, sizeof name, "%s/%s", tag, ports[k]);
        rp_dataset *ds;
        st = memds_dataset(&m, name, 10, cls, &ds, err);
        if (st) return st;
        rp_info("%s: %llu images %dx%d from %s", name, (unsigned long long)ds->size, ds->height,
                ds->width, pi);
        char key[64];
        snprintf(key, sizeof key, "%s_images", ports[k]);
        rp_stage_note(stg, key, (double)ds->size);
        st = rp_stage_output(stg, ports[k], ds, err);
        if (st) return st;
    }
    return RP_OK;
}

/* Check time: the image files' headers (16 bytes each) give the size;
 * labels are 0..9. A missing file is reported here, not after training. */
static int ds_check_idx(rp_check *ck, rp_error *err) {
    const rp_node *p = rp_check_params(ck);
    const rp_node *at = rp_node_get(p, "dir");
    const char *dir = rp_param_str(p, "dir");
    const char *ports[2] = {"train", "test"};
    const char *prefix[2] = {rp_param_str(p, "train_prefix"), rp_param_str(p, "test_prefix")};
    for (int k = 0; k < 2; k++) {
        char a[256], pi[4096];
        snprintf(a, sizeof a, "%s-images-idx3-ubyte", prefix[k]);
        if (!ds_find_file(dir, a, pi, sizeof pi))
            return rp_error_at(err, at, RP_ERR_IO, "%s: not found (nor %s.gz)", pi, pi);
        idxf f = {0};
        uint8_t h[16];
        size_t got = 0;
        int st = idx_open(&f, pi, err);
        if (!st) st = idx_read(&f, h, 16, &got, err);
        if (f.g) gzclose(f.g);
        if (st) return ds_relocate(err, at, st);
        if (got < 16 || be32(h) != 0x00000803u)
            return rp_error_at(err, at, RP_ERR_FORMAT,
                               "%s: not an IDX image file (expected magic 0x00000803)", pi);
        rp_check_declare(ck, ports[k], RP_FACT_CHANNELS, 1, at);
        rp_check_declare(ck, ports[k], RP_FACT_HEIGHT, be32(h + 8), at);
        rp_check_declare(ck, ports[k], RP_FACT_WIDTH, be32(h + 12), at);
        rp_check_declare(ck, ports[k], RP_FACT_CLASSES, 10, at);
    }
    return RP_OK;
}

/* ---- stage declaration ---- */
static const struct rp_port train_test_ports[] = {
    {"train", RP_ART_DATASET, 0, "training split"},
    {"test", RP_ART_DATASET, 0, "test split"},
};
static const struct rp_stage_def idx_stage = {
    "data.idx", "MNIST / Fashion-MNIST IDX files (raw or gzipped)",
    NULL, 0, train_test_ports, RP_COUNT(train_test_ports), ds_run_idx, 0, ds_check_idx};
RP_STAGE(idx_stage)
