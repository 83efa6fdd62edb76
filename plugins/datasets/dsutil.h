/* datasets plugin — shared helpers: an in-memory uint8 dataset (decoded
 * once, planar CHW, optional masks/domains) and small file utilities. */
#ifndef RP_DS_UTIL_H
#define RP_DS_UTIL_H

#include <stdint.h>

#include "runpipe/runpipe.h"

/* N images of [c, h, w] uint8 (planar), labels, optional domains and masks. */
typedef struct memds {
    uint64_t n;
    int c, h, w;
    uint8_t *pix;     /* [n, c, h, w], owned */
    int32_t *labels;  /* [n], owned */
    int32_t *domains; /* [n] or NULL, owned */
    uint8_t *masks;   /* [n, h, w] class ids or NULL, owned */
    /* where the records come from, for messages: up to 8 files of
     * src_n[k] records each, a record called `unit` ("image", "record") */
    char *src[8];     /* owned */
    uint64_t src_n[8];
    int n_src;
    const char *unit; /* static string */
    /* or one file per image (data.segmentation): records item_first[k] ..
     * item_first[k + 1] - 1 come from item[k] (several: its tiles) */
    char **item;           /* [n_item] owned */
    uint64_t *item_first;  /* [n_item] owned, increasing */
    size_t n_item;
} memds;

/* Note that the next `n` records come from `path` (copied). */
void memds_source(memds *m, const char *path, uint64_t n, const char *unit);

/* Allocate buffers for n samples (domains/masks when asked). */
int memds_alloc(memds *m, uint64_t n, int c, int h, int w, int with_domains, int with_masks,
                rp_error *err);
void memds_release(memds *m);
/* Wrap (transfers m's buffers into the dataset; *m is zeroed). */
int memds_dataset(memds *m, const char *name, int num_classes, const char *const *class_names,
                  rp_dataset **out, rp_error *err);

/* The size of a data file's contents: the file size, or for a gzip file the
 * size of its decompressed data (inflated once, nothing kept). A gzip stream
 * that is corrupt, cut short or followed by junk is an error naming the file;
 * so is a directory. */
int ds_data_size(const char *path, uint64_t *size, rp_error *err);
/* Read a whole file, transparently gunzipping (zlib gz*). *data transferred.
 * Truncated/corrupt gzip streams give an error naming the file. */
int ds_read_gz(const char *path, uint8_t **data, size_t *len, rp_error *err);
/* path = dir/name, or dir/name.gz when only that exists; 0 if neither. */
int ds_find_file(const char *dir, const char *name, char *out, size_t outsz);
/* Re-locate `err` (already set) at node `at`, keeping its status and message
 * (check-time errors point at the parameter); returns `status`. */
int ds_relocate(rp_error *err, const rp_node *at, int status);
/* Join dir and rel (rel absolute → rel). */
void ds_join(const char *dir, const char *rel, char *out, size_t outsz);
/* Read up to `max` non-empty lines of a text file into owned strings;
 * returns the count, -1 when the file cannot be read, -2 when out of memory. */
int ds_read_lines(const char *path, char ***lines, int max);
void ds_free_lines(char **lines, int n);

/* Params helpers: list of strings (or one string); returns count. */
int ds_param_strs(const rp_node *params, const char *key, const char **out, int max);

#endif
