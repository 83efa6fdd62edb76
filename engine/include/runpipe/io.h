/* runpipe — files: atomic writes, directories, safetensors. */
#ifndef RUNPIPE_IO_H
#define RUNPIPE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mkdir -p. */
int rp_mkdirs(const char *path, rp_error *err);
/* Write all of data to `path` via a temporary name + rename (DESIGN §9). */
int rp_write_atomic(const char *path, const void *data, size_t len, rp_error *err);
/* Streamed atomic write: open writes "<path>.tmp.<pid>"; commit flushes,
 * fsyncs and renames; abort removes the temporary. */
typedef struct rp_afile {
    FILE *f;
    char path[1024];
    char tmp[1100];
} rp_afile;
int rp_afile_open(rp_afile *af, const char *path, rp_error *err);
int rp_afile_commit(rp_afile *af, rp_error *err);
void rp_afile_abort(rp_afile *af);
/* Read a whole file (transferred, NUL-terminated; *len excludes the NUL). */
int rp_read_file(const char *path, char **data, size_t *len, rp_error *err);
/* Nonzero when `path` exists (any type) / is a directory. */
int rp_path_exists(const char *path);
int rp_is_dir(const char *path);
/* SHA-256 (FIPS 180-4) of a buffer / of a file's content, as 64 hex digits
 * + NUL in `hex` (caller's buffer of 65 chars). */
void rp_sha256_hex(const void *data, size_t len, char hex[65]);
int rp_sha256_file(const char *path, char hex[65], rp_error *err);

/* ---- safetensors (https://github.com/huggingface/safetensors format) --------
 * 8-byte little-endian header size, JSON header {name: {dtype, shape,
 * data_offsets}, "__metadata__": {str: str}}, then the data. We write F32 and
 * read F32, F16, BF16 (converted to F32). */
typedef struct rp_st_entry {
    char *name;           /* owned */
    rp_tensor *t;         /* owned */
} rp_st_entry;
typedef struct rp_st {
    size_t n, cap;
    rp_st_entry *e;
    size_t n_meta;
    char **meta_keys, **meta_vals; /* owned */
} rp_st;

void rp_st_init(rp_st *st);
void rp_st_release(rp_st *st);
int rp_st_add(rp_st *st, const char *name, const rp_tensor *t, rp_error *err);   /* copies */
/* Adds `t` (transferred, also on failure); a name already present is replaced. */
int rp_st_take(rp_st *st, const char *name, rp_tensor *t, rp_error *err);
/* A scalar as a 2-element tensor holding a double split into two floats
 * (hi + lo), so it survives the float32 safetensors round trip within
 * 2^-48 relative (optimizer steps, scheduler counters). get: 0 when absent. */
int rp_st_put_scalar(rp_st *st, const char *name, double v, rp_error *err);
int rp_st_get_scalar(const rp_st *st, const char *name, double *v);
int rp_st_set_meta(rp_st *st, const char *key, const char *value, rp_error *err); /* copies */
const rp_tensor *rp_st_get(const rp_st *st, const char *name);
const char *rp_st_meta(const rp_st *st, const char *key);
int rp_st_save(const rp_st *st, const char *path, rp_error *err); /* atomic */
/* Load: truncated file, bad header, unsupported dtype, offsets out of range:
 * clear errors naming the file; never a crash. */
int rp_st_load(const char *path, rp_st *st, rp_error *err);

/* ---- PyTorch checkpoints (engine/nn/pth.c) ----------------------------------
 * The zip file torch.save writes since PyTorch 1.6 (`<name>/data.pkl` +
 * `<name>/data/<key>` storages), read into the same named-tensor set as
 * rp_st_load. The pickle is run by a restricted machine that accepts only the
 * opcodes and globals a state_dict uses (collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.*Storage);
 * anything else is an error naming the file, the byte offset in data.pkl and
 * the opcode or global: loading never executes code. Tensors (any strides,
 * storage offsets, shared storages) become contiguous float32; float64,
 * float16, bfloat16, int64 and int32 are converted, other dtypes are an
 * error. A checkpoint dict whose 'state_dict', 'model_state_dict' or 'model'
 * entry is the state dict is unwrapped (metadata "pth.entry" names the
 * entry). Legacy (pre-1.6) files: an error with the one-line conversion. */
int rp_pth_load(const char *path, rp_st *st, rp_error *err);
/* Weights by content: a zip (or legacy torch) file, or a .pth/.pt/.ckpt name,
 * goes to rp_pth_load, anything else to rp_st_load. */
int rp_weights_load(const char *path, rp_st *st, rp_error *err);

/* Copy every tensor of `src` into `dst` with `prefix` prepended to its name
 * (a checkpoint holds "optim.<name>", "sched.<name>"), and back: the tensors
 * of `src` whose name starts with `prefix`, into `dst` without it. */
int rp_st_add_prefixed(rp_st *dst, const char *prefix, const rp_st *src, rp_error *err);
int rp_st_get_prefixed(const rp_st *src, const char *prefix, rp_st *dst, rp_error *err);

#ifdef __cplusplus
}
#endif
#endif
