/* datasets plugin — a dataset of image files (paths + labels + domains),
 * decoded with stb_image: cached as uint8 when the whole set fits in a
 * memory budget (decoded once, in parallel), else decoded on each get().
 * An optional resize policy applies on load. Shared by data.folder and
 * data.csv. */
#ifndef RP_DS_IMGLIST_H
#define RP_DS_IMGLIST_H

#include "dsutil.h"

typedef struct imglist_opts {
    int channels;          /* 1 or 3 */
    const char *resize;    /* none | shorter | exact */
    int size;              /* for the resize policy */
    double cache_mb;       /* memory budget for the uint8 cache */
    int skip_bad;          /* on_error: skip (count + report) instead of failing */
    int threads;           /* decoding threads at load */
} imglist_opts;

typedef struct imglist_entry {
    char *path;            /* owned */
    int32_t label, domain;
    char where[160];       /* "file.csv:12" or the path, for messages */
} imglist_entry;

typedef struct imglist {
    imglist_entry *e;
    size_t n, cap;
} imglist;

int imglist_add(imglist *l, const char *path, int32_t label, int32_t domain, const char *where,
                rp_error *err);
void imglist_release(imglist *l);

/* Build the dataset (takes the entries; *l is emptied). Headers are checked
 * for every file at load (missing / undecodable → error naming the file and
 * `where`, or skipped when opts->skip_bad: *skipped counts them and each is
 * logged). */
int imglist_dataset(imglist *l, const imglist_opts *o, const char *name, int num_classes,
                    const char *const *class_names, rp_dataset **out, uint64_t *skipped,
                    rp_error *err);

/* Read the common options from stage params. */
void imglist_opts_from(const rp_node *p, int threads, imglist_opts *o);

#endif
