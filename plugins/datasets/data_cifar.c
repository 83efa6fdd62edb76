/* data.cifar10 / data.cifar100 — the official binary versions
 * (https://www.cs.toronto.edu/~kriz/cifar.html): each record is the label
 * byte(s) (CIFAR-10: 1; CIFAR-100: coarse then fine) followed by 3072 bytes of
 * pixels, 1024 R then 1024 G then 1024 B, row-major 32x32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

static const char *const cifar10_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

int cifar_load(const char *const *files, int n_files, int label_bytes, int label_byte,
               int num_classes, uint64_t limit, memds *m, rp_error *err) {
    const size_t rec = (size_t)label_bytes + 3072;
    uint8_t **bufs = calloc((size_t)n_files, sizeof *bufs);
    size_t *lens = calloc((size_t)n_files, sizeof *lens);
    int st = RP_OK;
    uint64_t total = 0;
    if (!bufs || !lens) {
        st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int f = 0; f < n_files; f++) {
        st = ds_read_gz(files[f], &bufs[f], &lens[f], err);
        if (st) goto done;
        if (lens[f] == 0 || lens[f] % rec != 0) {
            st = rp_error_set(err, RP_ERR_FORMAT,
                              "%s: size %zu bytes is not a multiple of the %zu-byte record (%d "
                              "label byte%s + 3072 pixels); truncated or not a CIFAR-%s binary "
                              "file (record %zu incomplete)",
                              files[f], lens[f], rec, label_bytes, label_bytes > 1 ? "s" : "",
                              label_bytes > 1 ? "100" : "10", lens[f] / rec);
            goto done;
        }
        total += lens[f] / rec;
    }
    if (limit && limit < total) total = limit;
    st = memds_alloc(m, total, 3, 32, 32, 0, 0, err);
    if (st) goto done;
    {
        uint64_t left = total;
        for (int f = 0; f < n_files && left; f++) {
            uint64_t k = lens[f] / rec < left ? lens[f] / rec : left;
            memds_source(m, files[f], k, "record");
            left -= k;
        }
    }
    uint64_t i = 0;
    for (int f = 0; f < n_files && i < total; f++) {
        size_t nrec = lens[f] / rec;
        for (size_t r = 0; r < nrec && i < total; r++, i++) {
            const uint8_t *p = bufs[f] + r * rec;
            int y = p[label_byte];
            if (y >= num_classes) {
                memds_release(m);
                st = rp_error_set(err, RP_ERR_FORMAT, "%s: record %zu: label %d out of range [0, %d)",
                                  files[f], r, y, num_classes);
                goto done;
            }
            m->labels[i] = y;
            memcpy(m->pix + i * 3072, p + label_bytes, 3072);
        }
    }
done:
    for (int f = 0; bufs && f < n_files; f++) free(bufs[f]);
    free(bufs);
    free(lens);
    return st;
}

static int emit(rp_stage *stg, const char *port, const char *tag, memds *m, int nc,
                const char *const *names, rp_error *err) {
    char name[128];
    snprintf(name, sizeof name, "%s/%s", tag, port);
    rp_dataset *ds;
    int st = memds_dataset(m, name, nc, names, &ds, err);
    if (st) return st;
    rp_info("%s: %llu images 32x32", name, (unsigned long long)ds->size);
    char key[64];
    snprintf(key, sizeof key, "%s_images", port);
    rp_stage_note(stg, key, (double)ds->size);
    return rp_stage_output(stg, port, ds, err);
}

static int need(const char *dir, const char *f, char *out, size_t n, const char *script,
                rp_error *err) {
    if (ds_find_file(dir, f, out, n)) return RP_OK;
    return rp_error_set(err, RP_ERR_IO, "%s: not found; get the data set with %s", out, script);
}

int ds_run_cifar10(rp_stage *stg, rp_error *err) {
    const rp_node *p = rp_stage_params(stg);
    const char *dir = rp_param_str(p, "dir");
    uint64_t limit = (uint64_t)rp_param_int(p, "limit");
    char paths[6][4096];
    const char *files[6];
    for (int k = 0; k < 6; k++) {
        char f[64];
        if (k < 5)
            snprintf(f, sizeof f, "data_batch_%d.bin", k + 1);
        else
            snprintf(f, sizeof f, "test_batch.bin");
        int st = need(dir, f, paths[k], sizeof paths[k], "datasets/cifar10.sh", err);
        if (st) return st;
        files[k] = paths[k];
    }
    /* class names: batches.meta.txt when present, else the published list */
    char meta[4096], **lines = NULL;
    ds_join(dir, "batches.meta.txt", meta, sizeof meta);
    int nl = ds_read_lines(meta, &lines, 10);
    if (nl == -2) return rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory", meta);
    const char *const *names = nl == 10 ? (const char *const *)lines : cifar10_names;
    memds m;
    int st = cifar_load(files, 5, 1, 0, 10, limit, &m, err);
    if (!st) st = emit(stg, "train", "cifar10", &m, 10, names, err);
    if (!st) st = cifar_load(files + 5, 1, 1, 0, 10, limit, &m, err);
    if (!st) st = emit(stg, "test", "cifar10", &m, 10, names, err);
    ds_free_lines(lines, nl);
    return st;
}

int ds_run_cifar100(rp_stage *stg, rp_error *err) {
    const rp_node *p = rp_stage_params(stg);
    const char *dir = rp_param_str(p, "dir");
    uint64_t limit = (uint64_t)rp_param_int(p, "limit");
    int coarse = !strcmp(rp_param_str(p, "labels"), "coarse");
    int nc = coarse ? 20 : 100;
    char ptr[4096], pte[4096];
    int st = need(dir, "train.bin", ptr, sizeof ptr, "datasets/cifar100.sh", err);
    if (!st) st = need(dir, "test.bin", pte, sizeof pte, "datasets/cifar100.sh", err);
    if (st) return st;
    char meta[4096], **lines = NULL;
    ds_join(dir, coarse ? "coarse_label_names.txt" : "fine_label_names.txt", meta, sizeof meta);
    int nl = ds_read_lines(meta, &lines, nc);
    if (nl == -2) return rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory", meta);
    const char *const *names = nl == nc ? (const char *const *)lines : NULL;
    const char *f1[1] = {ptr}, *f2[1] = {pte};
    memds m;
    st = cifar_load(f1, 1, 2, coarse ? 0 : 1, nc, limit, &m, err);
    if (!st) st = emit(stg, "train", "cifar100", &m, nc, names, err);
    if (!st) st = cifar_load(f2, 1, 2, coarse ? 0 : 1, nc, limit, &m, err);
    if (!st) st = emit(stg, "test", "cifar100", &m, nc, names, err);
    ds_free_lines(lines, nl);
    return st;
}

/* Check time: the binary format is fixed (3x32x32, one label byte, or two
 * for CIFAR-100); the files must be there. */
static int cifar_check(rp_check *ck, int hundred, rp_error *err) {
    const rp_node *p = rp_check_params(ck);
    const rp_node *at = rp_node_get(p, "dir");
    const char *dir = rp_param_str(p, "dir");
    char path[4096];
    int st = hundred ? need(dir, "train.bin", path, sizeof path, "datasets/cifar100.sh", err)
                     : need(dir, "data_batch_1.bin", path, sizeof path, "datasets/cifar10.sh", err);
    if (st) return ds_relocate(err, at, st);
    int nc = !hundred ? 10 : !strcmp(rp_param_str(p, "labels"), "coarse") ? 20 : 100;
    static const char *const ports[2] = {"train", "test"};
    for (int k = 0; k < 2; k++) {
        rp_check_declare(ck, ports[k], RP_FACT_CHANNELS, 3, at);
        rp_check_declare(ck, ports[k], RP_FACT_HEIGHT, 32, at);
        rp_check_declare(ck, ports[k], RP_FACT_WIDTH, 32, at);
        rp_check_declare(ck, ports[k], RP_FACT_CLASSES, nc, at);
    }
    return RP_OK;
}
static int ds_check_cifar10(rp_check *ck, rp_error *err) { return cifar_check(ck, 0, err); }
static int ds_check_cifar100(rp_check *ck, rp_error *err) { return cifar_check(ck, 1, err); }

/* ---- stage declaration ---- */
static const struct rp_port train_test_ports[] = {
    {"train", RP_ART_DATASET, 0, "training split"},
    {"test", RP_ART_DATASET, 0, "test split"},
};
static const struct rp_stage_def cifar10_stage = {
    "data.cifar10", "CIFAR-10 binary batches",
    NULL, 0, train_test_ports, RP_COUNT(train_test_ports), ds_run_cifar10, 0, ds_check_cifar10};
RP_STAGE(cifar10_stage)
static const struct rp_stage_def cifar100_stage = {
    "data.cifar100", "CIFAR-100 binary files (fine or coarse labels)",
    NULL, 0, train_test_ports, RP_COUNT(train_test_ports), ds_run_cifar100, 0, ds_check_cifar100};
RP_STAGE(cifar100_stage)
