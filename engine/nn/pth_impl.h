/* What the .pth reader's files share (pth_zip.c: the zip container;
 * pth_pickle.c: the restricted pickle machine; pth.c: tensors out and the
 * entry points). The format and the rules are in pth.c's header. Internal. */
#ifndef RP_ENGINE_PTH_IMPL_H
#define RP_ENGINE_PTH_IMPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "runpipe/error.h"
#include "runpipe/tensor.h"

#define PTH_MAX_STACK (1u << 20)   /* pickle stack entries */
#define PTH_MAX_MEMO (1u << 24)    /* memo index */
#define PTH_MAX_NUMEL (1ull << 40) /* elements of one tensor */
#define TRY(x)                                                                                     \
    do {                                                                                           \
        int try_rc_ = (x);                                                                         \
        if (try_rc_) return try_rc_;                                                               \
    } while (0)
#define PTH_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Sets *err to "'PATH': MESSAGE" (err->file = path) and returns `status`.
 * Inline: the container, the unpickler and the loader each report through it
 * without calling one another. */
static inline __attribute__((format(printf, 4, 5))) int pth_fail(rp_error *err, const char *path,
                                                                 int status, const char *fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rp_error_set(err, status, "'%s': %s", path, msg);
    if (err) snprintf(err->file, sizeof err->file, "%s", path);
    return status;
}

/* ---- zip archive (pth_zip.c) ---- */

typedef struct zentry {
    char *name; /* owned, NUL-terminated */
    uint64_t csize, usize, lho;
    uint32_t crc;
    int method;
} zentry;

typedef struct zarchive {
    const char *path;
    const unsigned char *buf; /* whole file, owned by the caller */
    uint64_t size;
    zentry *e;
    size_t n;
} zarchive;

static inline uint16_t rd16(const unsigned char *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t rd64(const unsigned char *p) {
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* Central directory -> z->e (z->path, buf, size set by the caller). */
int pth_zip_open(zarchive *z, rp_error *err);
void pth_zip_release(zarchive *z);
/* The entry NAME, or NULL. Borrowed from z. */
const zentry *pth_zip_find(const zarchive *z, const char *name);
/* The bytes of an entry, checked against the archive and its CRC. *data is
 * either a pointer into the file (stored: *owned = NULL) or an inflated copy
 * (*owned = the same pointer, the caller frees it). */
int pth_zip_read(const zarchive *z, const zentry *e, const unsigned char **data,
                 unsigned char **owned, rp_error *err);

/* ---- restricted pickle machine (pth_pickle.c) ---- */

enum pk_kind {
    PK_NONE,
    PK_BOOL,
    PK_INT,
    PK_FLOAT,
    PK_STR,
    PK_TUPLE,
    PK_LIST,
    PK_DICT,
    PK_GLOBAL,
    PK_STORAGE,
    PK_TENSOR,
    PK_MARK
};

/* Globals a state_dict may use; storage types carry their element type. */
enum pk_global {
    G_ODICT,
    G_REBUILD_V2,
    G_REBUILD,
    G_REBUILD_PARAM,
    G_REBUILD_PARAM_STATE,
    G_STORAGE
};
enum pk_dtype { D_F32, D_F64, D_F16, D_BF16, D_I64, D_I32, D_U8, D_I8, D_I16, D_BOOL };

/* Element types by enum pk_dtype: name, bytes, converted to float32? */
struct pk_dtype_info {
    const char *name;
    int size, convertible;
};
extern const struct pk_dtype_info pth_dtypes[];

typedef struct pk_obj pk_obj;
struct pk_obj {
    int kind;
    int64_t i; /* INT, BOOL; GLOBAL: enum pk_global; STORAGE: dtype */
    double f;
    char *s; /* STR (NUL-terminated copy); STORAGE: key */
    size_t len;
    pk_obj **items; /* TUPLE/LIST items; DICT keys and values interleaved */
    size_t n, cap;  /* items used / allocated (DICT: 2 per entry) */
    /* STORAGE: numel; TENSOR: storage, offset, shape, strides */
    int64_t numel;
    pk_obj *storage;
    int64_t offset;
    int ndim;
    int64_t shape[RP_MAX_DIMS], stride[RP_MAX_DIMS];
    const unsigned char *data; /* STORAGE bytes once read (into the file or `owned`) */
    unsigned char *owned;
    pk_obj *next_alloc;
};

typedef struct pk_vm {
    const char *path;
    const unsigned char *p, *end, *start;
    pk_obj **stack;
    size_t sp, scap;
    pk_obj **memo;
    size_t nmemo;      /* allocated slots */
    size_t memo_count; /* slots in use (MEMOIZE stores at this index) */
    pk_obj *all;       /* every object, for freeing */
    pk_obj *storages;  /* persistent-id storages, by key (list via items) */
    pk_obj *mark_obj;
    size_t op_at; /* offset of the opcode being run */
} pk_vm;

/* Runs data.pkl (vm->path, p, start, end set, the rest zeroed): *result is
 * the unpickled top object, owned by vm until pth_pickle_free. */
int pth_pickle_run(pk_vm *vm, pk_obj **result, rp_error *err);
void pth_pickle_free(pk_vm *vm);

#endif
