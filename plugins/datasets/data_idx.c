/* data.idx — MNIST / Fashion-MNIST IDX files (LeCun et al.; the IDX format:
 * big-endian magic 0x00000803 / 0x00000801, dimension sizes, then uint8
 * data), raw or gzipped. Default: Debian's dataset-fashion-mnist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
static const char *const digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int idx_load(const char *images, const char *labels, uint64_t limit, int num_classes, memds *m,
             rp_error *err) {
    uint8_t *ib = NULL, *lb = NULL;
    size_t il = 0, ll = 0;
    int st = ds_read_gz(images, &ib, &il, err);
    if (!st) st = ds_read_gz(labels, &lb, &ll, err);
    if (st) goto done;
    if (il < 16 || be32(ib) != 0x00000803u) {
        st = rp_error_set(err, RP_ERR_FORMAT,
                          "%s: not an IDX image file (magic 0x%08x, expected 0x00000803 = uint8, "
                          "3 dimensions)",
                          images, il >= 4 ? be32(ib) : 0u);
        goto done;
    }
    if (ll < 8 || be32(lb) != 0x00000801u) {
        st = rp_error_set(err, RP_ERR_FORMAT,
                          "%s: not an IDX label file (magic 0x%08x, expected 0x00000801 = uint8, "
                          "1 dimension)",
                          labels, ll >= 4 ? be32(lb) : 0u);
        goto done;
    }
    uint64_t n = be32(ib + 4), rows = be32(ib + 8), cols = be32(ib + 12), nl = be32(lb + 4);
    if (rows == 0 || cols == 0 || rows > 65536 || cols > 65536) {
        st = rp_error_set(err, RP_ERR_FORMAT, "%s: bad image size %llux%llu in the header", images,
                          (unsigned long long)rows, (unsigned long long)cols);
        goto done;
    }
    uint64_t per = rows * cols;
    if (il - 16 != n * per) {
        uint64_t have = (il - 16) / per;
        st = rp_error_set(err, RP_ERR_FORMAT,
                          "%s: header says %llu images of %llux%llu (%llu bytes of pixels) but the "
                          "file has %zu; %s at image %llu",
                          images, (unsigned long long)n, (unsigned long long)rows,
                          (unsigned long long)cols, (unsigned long long)(n * per), il - 16,
                          il - 16 < n * per ? "truncated" : "trailing bytes",
                          (unsigned long long)have);
        goto done;
    }
    if (ll - 8 != nl) {
        st = rp_error_set(err, RP_ERR_FORMAT,
                          "%s: header says %llu labels but the file has %zu; %s at record %llu",
                          labels, (unsigned long long)nl, ll - 8,
                          ll - 8 < nl ? "truncated" : "trailing bytes",
                          (unsigned long long)(ll - 8 < nl ? ll - 8 : nl));
        goto done;
    }
    if (nl != n) {
        st = rp_error_set(err, RP_ERR_FORMAT, "%s has %llu images but %s has %llu labels", images,
                          (unsigned long long)n, labels, (unsigned long long)nl);
        goto done;
    }
    if (limit && limit < n) n = limit;
    st = memds_alloc(m, n, 1, (int)rows, (int)cols, 0, 0, err);
    if (st) goto done;
    memcpy(m->pix, ib + 16, n * per);
    for (uint64_t i = 0; i < n; i++) {
        int y = lb[8 + i];
        if (y >= num_classes) {
            memds_release(m);
            st = rp_error_set(err, RP_ERR_FORMAT, "%s: record %llu: label %d out of range [0, %d)",
                              labels, (unsigned long long)i, y, num_classes);
            goto done;
        }
        m->labels[i] = y;
    }
done:
    free(ib);
    free(lb);
    return st;
}

int ds_run_idx(rp_stage *stg, rp_error *err) {
    const rp_node *p = rp_stage_params(stg);
    const char *dir = rp_param_str(p, "dir", "/usr/share/datasets/fashion-mnist");
    const char *names = rp_param_str(p, "names", "auto");
    uint64_t limit = (uint64_t)rp_param_int(p, "limit", 0);
    int fashion = !strcmp(names, "fashion_mnist") ||
                  (!strcmp(names, "auto") && strstr(dir, "fashion") != NULL);
    const char *const *cls = fashion ? fashion_names : digit_names;
    const char *tag = fashion ? "fashion_mnist" : "mnist";
    const char *ports[2] = {"train", "test"};
    const char *prefix[2] = {rp_param_str(p, "train_prefix", "train"),
                             rp_param_str(p, "test_prefix", "t10k")};
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
