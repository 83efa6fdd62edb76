/* data.folder — image-folder layout root/<class>/<files>.{jpg,jpeg,png,bmp}
 * (torchvision ImageFolder): classes are the sub-directories in sorted
 * order, or an explicit list (which also fixes their ids). Files are sorted
 * by name within a class. An empty class folder is an error. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imglist.h"
#include "stages.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_ext(const char *name, const char *const *exts, int n) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (int i = 0; i < n; i++)
        if (!strcasecmp(dot + 1, exts[i])) return 1;
    return 0;
}

static void free_list(char **v, size_t n);

/* Sorted entries of `dir`: directories (want_dirs) or files with exts. */
static int list_dir(const char *dir, int want_dirs, const char *const *exts, int n_ext,
                    char ***out, size_t *n, rp_error *err) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ELOOP ? rp_error_set(err, RP_ERR_IO, "%s: symbolic link loop", dir)
                              : rp_error_set(err, RP_ERR_IO, "%s: cannot open directory: %s", dir,
                                             strerror(errno));
    size_t cap = 64, k = 0;
    char **v = malloc(cap * sizeof *v);
    struct dirent *de;
    int st = RP_OK;
    while (v && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[4096];
        ds_join(dir, de->d_name, p, sizeof p);
        struct stat sb;
        if (stat(p, &sb) != 0 && (want_dirs || has_ext(de->d_name, exts, n_ext))) {
            /* never drop an entry without a word: a dangling link or a
             * loop is an error naming the path */
            int e = errno;
            struct stat lb;
            int link = lstat(p, &lb) == 0 && S_ISLNK(lb.st_mode);
            if (e == ELOOP)
                st = rp_error_set(err, RP_ERR_IO, "%s: symbolic link loop", p);
            else if (link && e == ENOENT)
                st = rp_error_set(err, RP_ERR_IO, "%s: dangling symbolic link (its target does not exist)", p);
            else
                st = rp_error_set(err, RP_ERR_IO, "%s: %s", p, strerror(e));
            break;
        } else if (stat(p, &sb) != 0) {
            continue; /* not an image by its name */
        }
        int isdir = S_ISDIR(sb.st_mode);
        if (want_dirs ? !isdir : (isdir || !has_ext(de->d_name, exts, n_ext))) continue;
        if (k == cap) {
            char **nv = realloc(v, cap * 2 * sizeof *v);
            if (!nv) {
                st = rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory listing it", dir);
                break;
            }
            v = nv;
            cap *= 2;
        }
        v[k] = strdup(de->d_name);
        if (!v[k]) {
            st = rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory listing it", dir);
            break;
        }
        k++;
    }
    closedir(d);
    if (!v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (st) {
        free_list(v, k);
        return st;
    }
    qsort(v, k, sizeof *v, cmp_str);
    *out = v;
    *n = k;
    return st;
}

static void free_list(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

int ds_run_folder(rp_stage *stg, rp_error *err) {
    const rp_node *p = rp_stage_params(stg);
    const char *root = rp_param_str(p, "root");
    const char *exts[16];
    int n_ext = ds_param_strs(p, "extensions", exts, 16);
    if (n_ext == 0) {
        static const char *const def[4] = {"jpg", "jpeg", "png", "bmp"};
        for (int i = 0; i < 4; i++) exts[i] = def[i];
        n_ext = 4;
    }
    const char *given[1024];
    int n_given = ds_param_strs(p, "classes", given, 1024);
    char **cls = NULL;
    size_t ncls = 0;
    int st;
    if (n_given > 0) {
        cls = calloc((size_t)n_given, sizeof *cls);
        if (!cls) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n_given; i++)
            if (!(cls[i] = strdup(given[i]))) {
                free_list(cls, (size_t)i);
                return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            }
        ncls = (size_t)n_given;
    } else {
        st = list_dir(root, 1, NULL, 0, &cls, &ncls, err);
        if (st) return st;
        if (ncls == 0) {
            free_list(cls, ncls);
            return rp_error_set(err, RP_ERR_INVALID,
                                "%s: no class folders (expected root/<class>/*.jpg)", root);
        }
    }
    imglist l = {0};
    st = RP_OK;
    for (size_t c = 0; c < ncls && !st; c++) {
        char cdir[4096];
        ds_join(root, cls[c], cdir, sizeof cdir);
        char **files;
        size_t nf;
        st = list_dir(cdir, 0, exts, n_ext, &files, &nf, err);
        if (st) {
            if (n_given) rp_error_prefix(err, "class '%s' from 'classes': ", cls[c]);
            break;
        }
        if (nf == 0) {
            st = rp_error_set(err, RP_ERR_INVALID,
                              "%s: empty class folder (no .%s%s%s files); remove it or list the "
                              "classes explicitly",
                              cdir, exts[0], n_ext > 1 ? ", ." : "", n_ext > 1 ? exts[1] : "");
        }
        for (size_t f = 0; f < nf && !st; f++) {
            char fp[4096];
            ds_join(cdir, files[f], fp, sizeof fp);
            st = imglist_add(&l, fp, (int32_t)c, -1, NULL, err);
        }
        free_list(files, nf);
    }
    if (st) {
        imglist_release(&l);
        free_list(cls, ncls);
        return st;
    }
    imglist_opts o;
    imglist_opts_from(p, rp_stage_threads(stg), &o);
    char name[128];
    const char *base = strrchr(root, '/');
    snprintf(name, sizeof name, "%.120s", base && base[1] ? base + 1 : root);
    rp_dataset *ds;
    uint64_t skipped;
    st = imglist_dataset(&l, &o, name, (int)ncls, (const char *const *)cls, &ds, &skipped, err);
    if (!st && skipped) {
        /* skipping must not silently empty a class */
        uint64_t *cnt = calloc(ncls, sizeof *cnt);
        for (uint64_t i = 0; cnt && i < ds->size; i++) cnt[rp_dataset_label(ds, i)]++;
        for (size_t c = 0; cnt && c < ncls && !st; c++)
            if (!cnt[c])
                st = rp_error_set(err, RP_ERR_INVALID,
                                  "%s: class '%s' has no readable images after skipping %llu "
                                  "unreadable files",
                                  root, cls[c], (unsigned long long)skipped);
        free(cnt);
        if (st) rp_dataset_free(ds);
    }
    free_list(cls, ncls);
    if (st) return st;
    rp_stage_note(stg, "images", (double)ds->size);
    rp_stage_note(stg, "skipped", (double)skipped);
    if (skipped) rp_warn("%s: skipped %llu unreadable files (on_error: skip)", name, (unsigned long long)skipped);
    return rp_stage_output(stg, "data", ds, err);
}

/* Check time: classes are the listed ones or the class folders (when the
 * root exists already: an earlier stage may make it); channels come from the
 * params, the size too when every image is resized to size x size. */
static int ds_check_folder(rp_check *ck, rp_error *err) {
    (void)err;
    const rp_node *p = rp_check_params(ck);
    const rp_node *at = rp_node_get(p, "root");
    const char *given[1024];
    int n_given = ds_param_strs(p, "classes", given, 1024);
    if (n_given > 0) {
        rp_check_declare(ck, "data", RP_FACT_CLASSES, n_given, rp_node_get(p, "classes"));
    } else {
        char **cls = NULL;
        size_t ncls = 0;
        rp_error local;
        rp_error_clear(&local);
        if (list_dir(rp_param_str(p, "root"), 1, NULL, 0, &cls, &ncls, &local) == RP_OK &&
            ncls > 0)
            rp_check_declare(ck, "data", RP_FACT_CLASSES, (int64_t)ncls, at);
        free_list(cls, ncls);
    }
    rp_check_declare(ck, "data", RP_FACT_CHANNELS, rp_param_int(p, "channels"),
                     rp_node_get(p, "channels")->line ? rp_node_get(p, "channels") : at);
    int64_t size = rp_param_int(p, "size");
    if (!strcmp(rp_param_str(p, "resize"), "exact") && size > 0) {
        rp_check_declare(ck, "data", RP_FACT_HEIGHT, size, rp_node_get(p, "size"));
        rp_check_declare(ck, "data", RP_FACT_WIDTH, size, rp_node_get(p, "size"));
    }
    return RP_OK;
}

/* ---- stage declaration ---- */
static const struct rp_port data_out_ports[] = {
    {"data", RP_ART_DATASET, 0, "the dataset"},
};
static const struct rp_stage_def folder_stage = {
    "data.folder", "image folders root/<class>/<image> (jpg, png, bmp)",
    NULL, 0, data_out_ports, RP_COUNT(data_out_ports), ds_run_folder, 0, ds_check_folder};
RP_STAGE(folder_stage)
