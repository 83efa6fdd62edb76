/* PyTorch checkpoints (.pth / .pt) as written by torch.save since 1.6: a zip
 * archive holding
 *   <name>/data.pkl      the pickled object (protocol 2 by default)
 *   <name>/data/<key>    one raw little-endian storage per key
 *   <name>/version, <name>/byteorder (optional: "little")
 * Entries are usually stored (method 0, 64-byte aligned by "FB" padding
 * extras) with sizes only in the central directory (flag bit 3); deflated
 * entries (method 8) are inflated with zlib.
 *
 * data.pkl is run by a restricted pickle machine: it knows only the opcodes
 * that build plain data (ints, floats, strings, tuples, lists, dicts, memo,
 * persistent ids) and calls nothing but the few globals a state_dict uses
 * (collections.OrderedDict, torch._utils._rebuild_tensor_v2 and relatives,
 * the torch.*Storage types as persistent-id tags). Every other opcode or
 * global is an error naming the file, the byte offset in data.pkl and what
 * was found: loading a .pth never executes code.
 *
 * Tensors are rebuilt like torch._utils._rebuild_tensor_v2: storage, element
 * offset, size, stride (views with strides and offsets, several tensors
 * sharing one storage), then converted to contiguous float32 (float64,
 * float16, bfloat16, int64 and int32 are converted as the safetensors reader
 * does; other dtypes are an error). Every size, offset and index is checked
 * against the archive before use: a truncated or corrupt file is an error,
 * never a crash. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "runpipe/io.h"
#include "base/util.h"
#include "runpipe/strbuf.h"

#define PTH_MAX_STACK (1u << 20)  /* pickle stack entries */
#define PTH_MAX_MEMO (1u << 24)   /* memo index */
#define PTH_MAX_NUMEL (1ull << 40) /* elements of one tensor */
#define TRY(x)                                                                             \
    do {                                                                                           \
        int try_rc_ = (x);                                                                         \
        if (try_rc_) return try_rc_;                                                               \
    } while (0)
#define PTH_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors ------------------------------------------------------------------ */

static int pth_fail(rp_error *err, const char *path, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int pth_fail(rp_error *err, const char *path, int status, const char *fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rp_error_set(err, status, "'%s': %s", path, msg);
    if (err) snprintf(err->file, sizeof err->file, "%s", path);
    return status;
}

#define CONVERT_HINT                                                                               \
    "python3 -c \"import torch; torch.save(torch.load('OLD.pth', map_location='cpu'), "          \
    "'NEW.pth')\""

/* ---- zip archive --------------------------------------------------------------- */

typedef struct zentry {
    char *name;          /* owned, NUL-terminated */
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

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void zip_release(zarchive *z) {
    for (size_t i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    z->e = NULL;
    z->n = 0;
}

/* Central directory → z->e. */
static int zip_open(zarchive *z, rp_error *err) {
    const unsigned char *b = z->buf;
    uint64_t sz = z->size;
    if (sz < 22) return pth_fail(err, z->path, RP_ERR_FORMAT, "truncated zip archive (%" PRIu64 " bytes)", sz);
    /* end of central directory: 22 bytes + a comment of up to 65535 */
    uint64_t eocd = UINT64_MAX;
    uint64_t lo = sz > 22 + 65535 ? sz - 22 - 65535 : 0;
    for (uint64_t p = sz - 22 + 1; p-- > lo;)
        if (rd32(b + p) == 0x06054b50u && p + 22 + rd16(b + p + 20) <= sz) {
            eocd = p;
            break;
        }
    if (eocd == UINT64_MAX)
        return pth_fail(err, z->path, RP_ERR_FORMAT,
                        "not a valid PyTorch checkpoint: no zip end-of-directory record (truncated "
                        "file?)");
    uint64_t n = rd16(b + eocd + 10), cd_size = rd32(b + eocd + 12), cd_off = rd32(b + eocd + 16);
    /* zip64: the locator sits right before the classic record */
    if (eocd >= 20 && rd32(b + eocd - 20) == 0x07064b50u) {
        uint64_t z64 = rd64(b + eocd - 20 + 8);
        if (z64 > sz || sz - z64 < 56 || rd32(b + z64) != 0x06064b50u)
            return pth_fail(err, z->path, RP_ERR_FORMAT,
                            "not a valid PyTorch checkpoint: bad zip64 end-of-directory offset %" PRIu64,
                            z64);
        n = rd64(b + z64 + 32);
        cd_size = rd64(b + z64 + 40);
        cd_off = rd64(b + z64 + 48);
    }
    if (cd_off > sz || cd_size > sz - cd_off || n > cd_size / 46)
        return pth_fail(err, z->path, RP_ERR_FORMAT,
                        "not a valid PyTorch checkpoint: the zip directory (%" PRIu64 " entries, %" PRIu64
                        " bytes at %" PRIu64 ") lies outside the file (%" PRIu64 " bytes): truncated?",
                        n, cd_size, cd_off, sz);
    z->e = calloc(n ? n : 1, sizeof *z->e);
    if (!z->e) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    uint64_t p = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if (end - p < 46 || rd32(b + p) != 0x02014b50u)
            return pth_fail(err, z->path, RP_ERR_FORMAT,
                            "not a valid PyTorch checkpoint: zip directory entry %" PRIu64 " is corrupt",
                            i);
        zentry *e = &z->e[z->n];
        unsigned flags = rd16(b + p + 8);
        e->method = rd16(b + p + 10);
        e->crc = rd32(b + p + 16);
        e->csize = rd32(b + p + 20);
        e->usize = rd32(b + p + 24);
        uint64_t nl = rd16(b + p + 28), xl = rd16(b + p + 30), cl = rd16(b + p + 32);
        e->lho = rd32(b + p + 42);
        if (end - p - 46 < nl + xl + cl)
            return pth_fail(err, z->path, RP_ERR_FORMAT,
                            "not a valid PyTorch checkpoint: zip directory entry %" PRIu64 " is corrupt",
                            i);
        e->name = malloc(nl + 1);
        if (!e->name) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        memcpy(e->name, b + p + 46, nl);
        e->name[nl] = '\0';
        z->n++;
        /* zip64 extra: the 0xFFFFFFFF fields, in order usize, csize, lho */
        const unsigned char *x = b + p + 46 + nl, *xe = x + xl;
        while (xe - x >= 4) {
            unsigned id = rd16(x), len = rd16(x + 2);
            if ((size_t)(xe - x - 4) < len) break;
            if (id == 1) {
                const unsigned char *q = x + 4, *qe = q + len;
                uint64_t *f[3] = {&e->usize, &e->csize, &e->lho};
                for (int k = 0; k < 3; k++)
                    if (*f[k] == 0xffffffffu && qe - q >= 8) *f[k] = rd64(q), q += 8;
            }
            x += 4 + len;
        }
        if (flags & 1)
            return pth_fail(err, z->path, RP_ERR_FORMAT, "zip entry '%s' is encrypted", e->name);
        p += 46 + nl + xl + cl;
    }
    return RP_OK;
}

static const zentry *zip_find(const zarchive *z, const char *name) {
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->e[i].name, name) == 0) return &z->e[i];
    return NULL;
}

/* The bytes of an entry, checked against the archive and its CRC. *data is
 * either a pointer into the file (stored: *owned = NULL) or an inflated copy
 * (*owned = the same pointer, the caller frees it). */
static int zip_read(const zarchive *z, const zentry *e, const unsigned char **data, unsigned char **owned,
                    rp_error *err) {
    *data = NULL;
    *owned = NULL;
    const unsigned char *b = z->buf;
    if (e->lho > z->size || z->size - e->lho < 30 || rd32(b + e->lho) != 0x04034b50u)
        return pth_fail(err, z->path, RP_ERR_FORMAT,
                        "zip entry '%s': bad local header offset %" PRIu64 " (file is %" PRIu64
                        " bytes): truncated or corrupt",
                        e->name, e->lho, z->size);
    uint64_t start = e->lho + 30 + rd16(b + e->lho + 26) + (uint64_t)rd16(b + e->lho + 28);
    if (start > z->size || e->csize > z->size - start)
        return pth_fail(err, z->path, RP_ERR_FORMAT,
                        "zip entry '%s': %" PRIu64 " bytes at offset %" PRIu64
                        " run past the end of the file (%" PRIu64 " bytes): truncated",
                        e->name, e->csize, start, z->size);
    const unsigned char *src = b + start;
    if (e->method == 0) {
        if (e->csize != e->usize)
            return pth_fail(err, z->path, RP_ERR_FORMAT,
                            "zip entry '%s': stored with %" PRIu64 " bytes but declares %" PRIu64, e->name,
                            e->csize, e->usize);
        *data = src;
    } else if (e->method == 8) {
        /* deflate expands at most ~1032:1; anything larger is a lie */
        if (e->usize / 1032 > e->csize + 1)
            return pth_fail(err, z->path, RP_ERR_FORMAT,
                            "zip entry '%s' declares %" PRIu64 " bytes from %" PRIu64
                            " compressed: corrupt",
                            e->name, e->usize, e->csize);
        unsigned char *out = malloc(e->usize ? e->usize : 1);
        if (!out) return rp_error_set(err, RP_ERR_NOMEM, "out of memory inflating '%s'", e->name);
        z_stream s;
        memset(&s, 0, sizeof s);
        if (inflateInit2(&s, -15) != Z_OK) {
            free(out);
            return rp_error_set(err, RP_ERR_NOMEM, "zlib: cannot initialise inflate");
        }
        uint64_t in_left = e->csize, out_done = 0;
        const unsigned char *in = src;
        int zr = Z_OK;
        while (zr == Z_OK) {
            uInt ci = in_left > 1u << 30 ? 1u << 30 : (uInt)in_left;
            uInt co = e->usize - out_done > 1u << 30 ? 1u << 30 : (uInt)(e->usize - out_done);
            s.next_in = (Bytef *)in;
            s.avail_in = ci;
            s.next_out = out + out_done;
            s.avail_out = co;
            zr = inflate(&s, Z_NO_FLUSH);
            in += ci - s.avail_in, in_left -= ci - s.avail_in;
            out_done += co - s.avail_out;
            if (zr == Z_OK && ci == s.avail_in && co == s.avail_out) zr = Z_BUF_ERROR; /* no progress */
        }
        inflateEnd(&s);
        if (zr != Z_STREAM_END || out_done != e->usize) {
            free(out);
            return pth_fail(err, z->path, RP_ERR_FORMAT,
                            "zip entry '%s': corrupt deflate data (%s after %" PRIu64 " of %" PRIu64 " bytes)",
                            e->name, zr == Z_STREAM_END ? "ended early" : "error", out_done, e->usize);
        }
        *data = *owned = out;
    } else {
        return pth_fail(err, z->path, RP_ERR_FORMAT,
                        "zip entry '%s' uses compression method %d (only stored and deflate are "
                        "supported)",
                        e->name, e->method);
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t o = 0; o < e->usize;) {
        uInt c = e->usize - o > 1u << 30 ? 1u << 30 : (uInt)(e->usize - o);
        crc = crc32(crc, *data + o, c);
        o += c;
    }
    if ((uint32_t)crc != e->crc) {
        free(*owned);
        *owned = NULL;
        *data = NULL;
        return pth_fail(err, z->path, RP_ERR_FORMAT, "zip entry '%s': CRC mismatch (corrupt file)", e->name);
    }
    return RP_OK;
}

/* ---- restricted pickle machine ------------------------------------------------------ */

enum pk_kind {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL, PK_STORAGE,
    PK_TENSOR, PK_MARK
};

/* Globals a state_dict may use; storage types carry their element type. */
enum pk_global { G_ODICT, G_REBUILD_V2, G_REBUILD, G_REBUILD_PARAM, G_REBUILD_PARAM_STATE, G_STORAGE };
enum pk_dtype { D_F32, D_F64, D_F16, D_BF16, D_I64, D_I32, D_U8, D_I8, D_I16, D_BOOL };

static const struct {
    const char *module, *name;
    int global, dtype;
} pk_allowed[] = {
    {"collections", "OrderedDict", G_ODICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2, 0},
    {"torch._utils", "_rebuild_tensor", G_REBUILD, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAM, 0},
    {"torch._utils", "_rebuild_parameter_with_state", G_REBUILD_PARAM_STATE, 0},
    {"torch", "FloatStorage", G_STORAGE, D_F32},
    {"torch", "DoubleStorage", G_STORAGE, D_F64},
    {"torch", "HalfStorage", G_STORAGE, D_F16},
    {"torch", "BFloat16Storage", G_STORAGE, D_BF16},
    {"torch", "LongStorage", G_STORAGE, D_I64},
    {"torch", "IntStorage", G_STORAGE, D_I32},
    {"torch", "ByteStorage", G_STORAGE, D_U8},
    {"torch", "CharStorage", G_STORAGE, D_I8},
    {"torch", "ShortStorage", G_STORAGE, D_I16},
    {"torch", "BoolStorage", G_STORAGE, D_BOOL},
};

static const struct {
    const char *name;
    int size, convertible;
} pk_dtypes[] = {
    [D_F32] = {"float32", 4, 1}, [D_F64] = {"float64", 8, 1},  [D_F16] = {"float16", 2, 1},
    [D_BF16] = {"bfloat16", 2, 1}, [D_I64] = {"int64", 8, 1}, [D_I32] = {"int32", 4, 1},
    [D_U8] = {"uint8", 1, 0},     [D_I8] = {"int8", 1, 0},    [D_I16] = {"int16", 2, 0},
    [D_BOOL] = {"bool", 1, 0},
};

typedef struct pk_obj pk_obj;
struct pk_obj {
    int kind;
    int64_t i;            /* INT, BOOL; GLOBAL: enum pk_global; STORAGE: dtype */
    double f;
    char *s;              /* STR (NUL-terminated copy); STORAGE: key */
    size_t len;
    pk_obj **items;       /* TUPLE/LIST items; DICT keys and values interleaved */
    size_t n, cap;        /* items used / allocated (DICT: 2 per entry) */
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
    size_t nmemo;         /* allocated slots */
    size_t memo_count;    /* slots in use (MEMOIZE stores at this index) */
    pk_obj *all;          /* every object, for freeing */
    pk_obj *storages;     /* persistent-id storages, by key (list via items) */
    pk_obj *mark_obj;
    size_t op_at;         /* offset of the opcode being run */
} pk_vm;

static pk_obj *pk_new(pk_vm *vm, int kind) {
    pk_obj *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->kind = kind;
    o->next_alloc = vm->all;
    vm->all = o;
    return o;
}

static void pk_free_all(pk_vm *vm) {
    for (pk_obj *o = vm->all, *nx; o; o = nx) {
        nx = o->next_alloc;
        free(o->s);
        free(o->items);
        free(o->owned);
        free(o);
    }
    vm->all = NULL;
    free(vm->stack);
    free(vm->memo);
}

static int pk_err(pk_vm *vm, rp_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pk_err(pk_vm *vm, rp_error *err, const char *fmt, ...) {
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pth_fail(err, vm->path, RP_ERR_FORMAT, "data.pkl at byte %zu: %s", vm->op_at, msg);
}

static int pk_push_item(pk_obj *c, pk_obj *v) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        pk_obj **ni = realloc(c->items, nc * sizeof *ni);
        if (!ni) return RP_ERR_NOMEM;
        c->items = ni;
        c->cap = nc;
    }
    c->items[c->n++] = v;
    return RP_OK;
}

static int pk_push(pk_vm *vm, pk_obj *o, rp_error *err) {
    if (!o) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (vm->sp == vm->scap) {
        if (vm->scap >= PTH_MAX_STACK) return pk_err(vm, err, "pickle stack deeper than %u entries", PTH_MAX_STACK);
        size_t nc = vm->scap ? vm->scap * 2 : 64;
        pk_obj **ns = realloc(vm->stack, nc * sizeof *ns);
        if (!ns) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        vm->stack = ns;
        vm->scap = nc;
    }
    vm->stack[vm->sp++] = o;
    return RP_OK;
}

static int pk_pop(pk_vm *vm, pk_obj **o, rp_error *err) {
    if (vm->sp == 0 || vm->stack[vm->sp - 1]->kind == PK_MARK)
        return pk_err(vm, err, "pickle stack underflow (corrupt data.pkl)");
    *o = vm->stack[--vm->sp];
    return RP_OK;
}

/* Index of the topmost mark, or error. */
static int pk_find_mark(pk_vm *vm, size_t *at, rp_error *err) {
    for (size_t k = vm->sp; k-- > 0;)
        if (vm->stack[k]->kind == PK_MARK) {
            *at = k;
            return RP_OK;
        }
    return pk_err(vm, err, "no MARK on the pickle stack (corrupt data.pkl)");
}

static int pk_need(pk_vm *vm, size_t n, rp_error *err) {
    if ((size_t)(vm->end - vm->p) < n) return pk_err(vm, err, "data.pkl ends inside an opcode (truncated)");
    return RP_OK;
}

static int pk_str(pk_vm *vm, size_t len, rp_error *err) {
    TRY(pk_need(vm, len, err));
    pk_obj *o = pk_new(vm, PK_STR);
    if (!o || !(o->s = malloc(len + 1))) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    memcpy(o->s, vm->p, len);
    o->s[len] = '\0';
    o->len = len;
    vm->p += len;
    return pk_push(vm, o, err);
}

static int pk_int(pk_vm *vm, int64_t v, rp_error *err) {
    pk_obj *o = pk_new(vm, PK_INT);
    if (o) o->i = v;
    return pk_push(vm, o, err);
}

static int pk_memo_put(pk_vm *vm, uint64_t idx, rp_error *err) {
    if (vm->sp == 0) return pk_err(vm, err, "memo put with an empty stack");
    if (idx >= PTH_MAX_MEMO) return pk_err(vm, err, "memo index %" PRIu64 " too large", idx);
    if (idx >= vm->nmemo) {
        size_t nn = vm->nmemo ? vm->nmemo : 64;
        while (nn <= idx) nn *= 2;
        pk_obj **nm = realloc(vm->memo, nn * sizeof *nm);
        if (!nm) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        memset(nm + vm->nmemo, 0, (nn - vm->nmemo) * sizeof *nm);
        vm->memo = nm;
        vm->nmemo = nn;
    }
    if (!vm->memo[idx]) vm->memo_count++;
    vm->memo[idx] = vm->stack[vm->sp - 1];
    return RP_OK;
}

static int pk_memo_get(pk_vm *vm, uint64_t idx, rp_error *err) {
    if (idx >= vm->nmemo || !vm->memo[idx]) return pk_err(vm, err, "memo index %" PRIu64 " was never stored", idx);
    return pk_push(vm, vm->memo[idx], err);
}

static int pk_global(pk_vm *vm, const char *module, const char *name, rp_error *err) {
    for (size_t k = 0; k < PTH_COUNT(pk_allowed); k++)
        if (!strcmp(pk_allowed[k].module, module) && !strcmp(pk_allowed[k].name, name)) {
            pk_obj *o = pk_new(vm, PK_GLOBAL);
            if (o) o->i = (int64_t)k;
            return pk_push(vm, o, err);
        }
    return pk_err(vm, err,
                  "refusing global '%s.%s': a weights file is read as data only, and a state_dict "
                  "uses only collections.OrderedDict, torch._utils._rebuild_tensor_v2 / "
                  "_rebuild_parameter and torch.*Storage (a whole model saved with torch.save(model)? "
                  "save model.state_dict() instead)",
                  module, name);
}

static int as_int(const pk_obj *o, int64_t *v) {
    if (!o || (o->kind != PK_INT && o->kind != PK_BOOL)) return 0;
    *v = o->i;
    return 1;
}

/* persistent id ('storage', torch.XStorage, key, location, numel) */
static int pk_persid(pk_vm *vm, rp_error *err) {
    pk_obj *pid = NULL;
    TRY(pk_pop(vm, &pid, err));
    if (pid->kind != PK_TUPLE || pid->n != 5 || pid->items[0]->kind != PK_STR || strcmp(pid->items[0]->s, "storage") ||
        pid->items[1]->kind != PK_GLOBAL || pk_allowed[pid->items[1]->i].global != G_STORAGE ||
        pid->items[2]->kind != PK_STR || pid->items[3]->kind != PK_STR || pid->items[4]->kind != PK_INT)
        return pk_err(vm, err,
                      "persistent id is not ('storage', torch.<Type>Storage, key, location, numel)");
    const char *key = pid->items[2]->s;
    int dtype = pk_allowed[pid->items[1]->i].dtype;
    int64_t numel = pid->items[4]->i;
    if (numel < 0 || (uint64_t)numel > PTH_MAX_NUMEL)
        return pk_err(vm, err, "storage '%s' declares %" PRId64 " elements", key, numel);
    for (size_t k = 0; vm->storages && k < vm->storages->n; k++) {
        pk_obj *s = vm->storages->items[k];
        if (!strcmp(s->s, key)) {
            if (s->i != dtype || s->numel != numel)
                return pk_err(vm, err, "storage '%s' is declared twice with different types or sizes", key);
            return pk_push(vm, s, err);
        }
    }
    pk_obj *s = pk_new(vm, PK_STORAGE);
    if (!s || !(s->s = malloc(strlen(key) + 1))) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    strcpy(s->s, key);
    s->i = dtype;
    s->numel = numel;
    if (!vm->storages && !(vm->storages = pk_new(vm, PK_LIST))) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (pk_push_item(vm->storages, s)) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    return pk_push(vm, s, err);
}

/* size / stride tuples of a rebuilt tensor */
static int pk_dims(pk_vm *vm, const pk_obj *t, int64_t *out, int *nd, const char *what, rp_error *err) {
    if (!t || t->kind != PK_TUPLE) return pk_err(vm, err, "tensor %s is not a tuple", what);
    if (t->n > RP_MAX_DIMS) return pk_err(vm, err, "tensor has %zu dimensions (at most %d supported)", t->n, RP_MAX_DIMS);
    for (size_t k = 0; k < t->n; k++)
        if (!as_int(t->items[k], &out[k]) || out[k] < 0 || (uint64_t)out[k] > PTH_MAX_NUMEL)
            return pk_err(vm, err, "tensor %s has an invalid entry", what);
    *nd = (int)t->n;
    return RP_OK;
}

static int pk_rebuild_tensor(pk_vm *vm, const pk_obj *args, rp_error *err) {
    if (args->n < 4 || args->items[0]->kind != PK_STORAGE)
        return pk_err(vm, err, "_rebuild_tensor_v2 expects (storage, offset, size, stride, ...)");
    pk_obj *t = pk_new(vm, PK_TENSOR);
    if (!t) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    t->storage = args->items[0];
    int nd2 = 0;
    if (!as_int(args->items[1], &t->offset) || t->offset < 0)
        return pk_err(vm, err, "tensor storage offset is not a non-negative integer");
    TRY(pk_dims(vm, args->items[2], t->shape, &t->ndim, "size", err));
    TRY(pk_dims(vm, args->items[3], t->stride, &nd2, "stride", err));
    if (nd2 != t->ndim) return pk_err(vm, err, "tensor size and stride have different lengths");
    /* every element inside the storage: offset + sum((size-1) * stride) < numel */
    uint64_t numel = 1, last = (uint64_t)t->offset;
    for (int d = 0; d < t->ndim; d++) {
        numel *= (uint64_t)t->shape[d];
        if (numel > PTH_MAX_NUMEL) return pk_err(vm, err, "tensor has more than 2^40 elements");
    }
    if (numel > 0) {
        for (int d = 0; d < t->ndim; d++) {
            uint64_t span = (uint64_t)(t->shape[d] - 1) * (uint64_t)t->stride[d];
            if (t->stride[d] && span / (uint64_t)t->stride[d] != (uint64_t)(t->shape[d] - 1))
                return pk_err(vm, err, "tensor strides overflow");
            last += span;
            if (last > PTH_MAX_NUMEL) return pk_err(vm, err, "tensor strides overflow");
        }
        if (last >= (uint64_t)t->storage->numel)
            return pk_err(vm, err,
                          "tensor (offset %" PRId64 ") reaches element %" PRIu64 " of storage '%s', which has %" PRId64,
                          t->offset, last, t->storage->s, t->storage->numel);
    }
    return pk_push(vm, t, err);
}

static int pk_reduce(pk_vm *vm, rp_error *err) {
    pk_obj *args = NULL, *fn = NULL;
    TRY(pk_pop(vm, &args, err));
    TRY(pk_pop(vm, &fn, err));
    if (fn->kind != PK_GLOBAL) return pk_err(vm, err, "REDUCE on something that is not an allowed global");
    if (args->kind != PK_TUPLE) return pk_err(vm, err, "REDUCE arguments are not a tuple");
    int g = pk_allowed[fn->i].global;
    switch (g) {
    case G_ODICT:
        if (args->n != 0) return pk_err(vm, err, "OrderedDict(...) with arguments is not supported");
        return pk_push(vm, pk_new(vm, PK_DICT), err);
    case G_REBUILD_V2:
    case G_REBUILD:
        return pk_rebuild_tensor(vm, args, err);
    case G_REBUILD_PARAM:
    case G_REBUILD_PARAM_STATE:
        if (args->n < 1 || args->items[0]->kind != PK_TENSOR)
            return pk_err(vm, err, "_rebuild_parameter expects a tensor");
        return pk_push(vm, args->items[0], err);
    default:
        return pk_err(vm, err, "global '%s.%s' cannot be called", pk_allowed[fn->i].module, pk_allowed[fn->i].name);
    }
}

static const char *pk_opname(int op) {
    static const struct {
        int op;
        const char *name;
    } names[] = {
        {'i', "INST"},       {'o', "OBJ"},       {0x81, "NEWOBJ"},     {0x92, "NEWOBJ_EX"},  {'P', "PERSID"},
        {0x82, "EXT1"},      {0x83, "EXT2"},     {0x84, "EXT4"},       {'I', "INT"},         {'L', "LONG"},
        {'F', "FLOAT"},      {'S', "STRING"},    {'V', "UNICODE"},     {'p', "PUT"},         {'g', "GET"},
        {'l', "LIST"},       {'d', "DICT"},      {0x8b, "LONG4"},      {0x8f, "EMPTY_SET"},  {0x90, "ADDITEMS"},
        {0x91, "FROZENSET"}, {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
        {0x8e, "BINBYTES8"},
    };
    for (size_t k = 0; k < PTH_COUNT(names); k++)
        if (names[k].op == op) return names[k].name;
    return "unknown";
}

static int pk_run(pk_vm *vm, pk_obj **result, rp_error *err) {
    *result = NULL;
    vm->mark_obj = pk_new(vm, PK_MARK);
    if (!vm->mark_obj) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    while (vm->p < vm->end) {
        vm->op_at = (size_t)(vm->p - vm->start);
        int op = *vm->p++;
        const unsigned char *a = vm->p;
        pk_obj *o = NULL, *k = NULL, *v = NULL;
        size_t m = 0;
        int rc = RP_OK;
        switch (op) {
        case 0x80: /* PROTO */
            TRY(pk_need(vm, 1, err));
            if (a[0] < 2 || a[0] > 5) return pk_err(vm, err, "pickle protocol %d (2 to 5 supported)", a[0]);
            vm->p += 1;
            break;
        case 0x95: /* FRAME */
            TRY(pk_need(vm, 8, err));
            vm->p += 8;
            break;
        case '.': /* STOP */
            TRY(pk_pop(vm, result, err));
            return RP_OK;
        case '(': rc = pk_push(vm, vm->mark_obj, err); break;
        case ')': rc = pk_push(vm, pk_new(vm, PK_TUPLE), err); break;
        case ']': rc = pk_push(vm, pk_new(vm, PK_LIST), err); break;
        case '}': rc = pk_push(vm, pk_new(vm, PK_DICT), err); break;
        case 'N': rc = pk_push(vm, pk_new(vm, PK_NONE), err); break;
        case 0x88:
        case 0x89:
            o = pk_new(vm, PK_BOOL);
            if (o) o->i = op == 0x88;
            rc = pk_push(vm, o, err);
            break;
        case 'J': /* BININT: signed 4 bytes */
            TRY(pk_need(vm, 4, err));
            vm->p += 4;
            rc = pk_int(vm, (int32_t)rd32(a), err);
            break;
        case 'K':
            TRY(pk_need(vm, 1, err));
            vm->p += 1;
            rc = pk_int(vm, a[0], err);
            break;
        case 'M':
            TRY(pk_need(vm, 2, err));
            vm->p += 2;
            rc = pk_int(vm, rd16(a), err);
            break;
        case 0x8a: { /* LONG1: n-byte little-endian two's complement */
            TRY(pk_need(vm, 1, err));
            size_t n = a[0];
            vm->p += 1;
            if (n > 8) return pk_err(vm, err, "integer of %zu bytes (at most 8 supported)", n);
            TRY(pk_need(vm, n, err));
            uint64_t u = 0;
            for (size_t q = 0; q < n; q++) u |= (uint64_t)vm->p[q] << (8 * q);
            if (n > 0 && n < 8 && (vm->p[n - 1] & 0x80)) u |= ~0ull << (8 * n);
            vm->p += n;
            rc = pk_int(vm, (int64_t)u, err);
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            TRY(pk_need(vm, 8, err));
            uint64_t u = 0;
            for (int q = 0; q < 8; q++) u = u << 8 | a[q];
            vm->p += 8;
            o = pk_new(vm, PK_FLOAT);
            if (o) memcpy(&o->f, &u, 8);
            rc = pk_push(vm, o, err);
            break;
        }
        case 'X': /* BINUNICODE */
        case 'B': /* BINBYTES */
        case 'T': /* BINSTRING */
            TRY(pk_need(vm, 4, err));
            vm->p += 4;
            rc = pk_str(vm, rd32(a), err);
            break;
        case 0x8c: /* SHORT_BINUNICODE */
        case 'C':  /* SHORT_BINBYTES */
        case 'U':  /* SHORT_BINSTRING */
            TRY(pk_need(vm, 1, err));
            vm->p += 1;
            rc = pk_str(vm, a[0], err);
            break;
        case 0x8d: /* BINUNICODE8 */
            TRY(pk_need(vm, 8, err));
            vm->p += 8;
            if (rd64(a) > (uint64_t)(vm->end - vm->p)) return pk_err(vm, err, "string runs past the end of data.pkl");
            rc = pk_str(vm, (size_t)rd64(a), err);
            break;
        case 'q':
            TRY(pk_need(vm, 1, err));
            vm->p += 1;
            rc = pk_memo_put(vm, a[0], err);
            break;
        case 'r':
            TRY(pk_need(vm, 4, err));
            vm->p += 4;
            rc = pk_memo_put(vm, rd32(a), err);
            break;
        case 0x94: /* MEMOIZE */
            rc = pk_memo_put(vm, vm->memo_count, err);
            break;
        case 'h':
            TRY(pk_need(vm, 1, err));
            vm->p += 1;
            rc = pk_memo_get(vm, a[0], err);
            break;
        case 'j':
            TRY(pk_need(vm, 4, err));
            vm->p += 4;
            rc = pk_memo_get(vm, rd32(a), err);
            break;
        case '0': /* POP */
            rc = vm->sp ? (vm->sp--, RP_OK) : pk_err(vm, err, "POP on an empty stack");
            break;
        case '1': /* POP_MARK */
            TRY(pk_find_mark(vm, &m, err));
            vm->sp = m;
            break;
        case '2': /* DUP */
            if (!vm->sp) return pk_err(vm, err, "DUP on an empty stack");
            rc = pk_push(vm, vm->stack[vm->sp - 1], err);
            break;
        case 't': /* TUPLE */
        case 'e': /* APPENDS */
        case 'u': /* SETITEMS */
            TRY(pk_find_mark(vm, &m, err));
            if (op == 't') {
                o = pk_new(vm, PK_TUPLE);
                if (!o) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            } else {
                if (m == 0) return pk_err(vm, err, "APPENDS/SETITEMS without a container");
                o = vm->stack[m - 1];
                if (o->kind != (op == 'e' ? PK_LIST : PK_DICT))
                    return pk_err(vm, err, "%s on something that is not a %s", op == 'e' ? "APPENDS" : "SETITEMS",
                                  op == 'e' ? "list" : "dict");
                if (op == 'u' && (vm->sp - m - 1) % 2)
                    return pk_err(vm, err, "SETITEMS with an odd number of items");
            }
            for (size_t q = m + 1; q < vm->sp; q++)
                if (pk_push_item(o, vm->stack[q])) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            vm->sp = m;
            if (op == 't') rc = pk_push(vm, o, err);
            break;
        case 0x85: /* TUPLE1..3 */
        case 0x86:
        case 0x87: {
            size_t n = (size_t)(op - 0x84);
            if (vm->sp < n) return pk_err(vm, err, "pickle stack underflow (corrupt data.pkl)");
            o = pk_new(vm, PK_TUPLE);
            if (!o) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            for (size_t q = vm->sp - n; q < vm->sp; q++) {
                if (vm->stack[q]->kind == PK_MARK) return pk_err(vm, err, "MARK inside TUPLE%zu", n);
                if (pk_push_item(o, vm->stack[q])) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            }
            vm->sp -= n;
            rc = pk_push(vm, o, err);
            break;
        }
        case 'a': /* APPEND */
            TRY(pk_pop(vm, &v, err));
            if (!vm->sp || vm->stack[vm->sp - 1]->kind != PK_LIST) return pk_err(vm, err, "APPEND to something that is not a list");
            if (pk_push_item(vm->stack[vm->sp - 1], v)) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            break;
        case 's': /* SETITEM */
            TRY(pk_pop(vm, &v, err));
            TRY(pk_pop(vm, &k, err));
            if (!vm->sp || vm->stack[vm->sp - 1]->kind != PK_DICT) return pk_err(vm, err, "SETITEM on something that is not a dict");
            if (pk_push_item(vm->stack[vm->sp - 1], k) || pk_push_item(vm->stack[vm->sp - 1], v))
                return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            break;
        case 'c': { /* GLOBAL "module\nname\n" */
            const unsigned char *nl1 = memchr(a, '\n', (size_t)(vm->end - a));
            const unsigned char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(vm->end - nl1 - 1)) : NULL;
            if (!nl2 || nl1 - a > 200 || nl2 - nl1 > 200) return pk_err(vm, err, "malformed GLOBAL");
            char mod[256], name[256];
            snprintf(mod, sizeof mod, "%.*s", (int)(nl1 - a), (const char *)a);
            snprintf(name, sizeof name, "%.*s", (int)(nl2 - nl1 - 1), (const char *)nl1 + 1);
            vm->p = nl2 + 1;
            rc = pk_global(vm, mod, name, err);
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            TRY(pk_pop(vm, &v, err));
            TRY(pk_pop(vm, &k, err));
            if (k->kind != PK_STR || v->kind != PK_STR) return pk_err(vm, err, "STACK_GLOBAL needs two strings");
            rc = pk_global(vm, k->s, v->s, err);
            break;
        case 'R': rc = pk_reduce(vm, err); break;
        case 'Q': rc = pk_persid(vm, err); break;
        case 'b': /* BUILD: OrderedDict's state is its _metadata; tensors take none */
            TRY(pk_pop(vm, &v, err));
            if (!vm->sp) return pk_err(vm, err, "BUILD on an empty stack");
            o = vm->stack[vm->sp - 1];
            if (o->kind != PK_DICT && o->kind != PK_TENSOR)
                return pk_err(vm, err, "BUILD (setting object state) on something other than a dict or tensor");
            break;
        default:
            return pk_err(vm, err,
                          "opcode 0x%02x (%s) is not allowed in a weights file (a state_dict is "
                          "built from plain data, tensors and OrderedDict only)",
                          op, pk_opname(op));
        }
        if (rc) return rc;
    }
    return pk_err(vm, err, "data.pkl ends without STOP (truncated)");
}

/* ---- tensors out --------------------------------------------------------------------- */

static float elem(int dtype, const unsigned char *src) {
    float f;
    uint32_t u;
    switch (dtype) {
    case D_F32: memcpy(&f, src, 4); return f;
    case D_F64: { double d; memcpy(&d, src, 8); return (float)d; }
    case D_F16: return rp_half_to_float((uint16_t)(src[0] | src[1] << 8));
    case D_BF16: u = (uint32_t)(src[0] | src[1] << 8) << 16; memcpy(&f, &u, 4); return f;
    case D_I64: { int64_t v; memcpy(&v, src, 8); return (float)v; }
    default: { int32_t v; memcpy(&v, src, 4); return (float)v; }
    }
}

/* The storage's bytes from "<prefix>/data/<key>" (read once, shared by
 * every tensor viewing it). */
static int storage_bytes(const zarchive *z, const char *prefix, pk_obj *s, rp_error *err) {
    if (s->data) return RP_OK;
    char name[600];
    snprintf(name, sizeof name, "%s/data/%s", prefix, s->s);
    const zentry *e = zip_find(z, name);
    if (!e) return pth_fail(err, z->path, RP_ERR_FORMAT, "storage '%s' has no archive entry '%s'", s->s, name);
    uint64_t need = (uint64_t)s->numel * (uint64_t)pk_dtypes[s->i].size;
    if (e->usize < need)
        return pth_fail(err, z->path, RP_ERR_FORMAT,
                        "storage '%s' declares %" PRId64 " %s elements (%" PRIu64 " bytes) but its entry '%s' "
                        "holds %" PRIu64 " bytes",
                        s->s, s->numel, pk_dtypes[s->i].name, need, name, e->usize);
    return zip_read(z, e, &s->data, &s->owned, err);
}

/* Strided view → contiguous float32 [shape]. */
static int materialize(const zarchive *z, const char *prefix, const char *key, pk_obj *t, rp_tensor **out,
                       rp_error *err) {
    *out = NULL;
    pk_obj *s = t->storage;
    if (!pk_dtypes[s->i].convertible)
        return pth_fail(err, z->path, RP_ERR_FORMAT,
                        "tensor '%s' has dtype %s, which runpipe does not load as weights (float32, "
                        "float64, float16, bfloat16, int64 and int32 are read, as float32)",
                        key, pk_dtypes[s->i].name);
    TRY(storage_bytes(z, prefix, s, err));
    int rc = rp_tensor_new(out, t->ndim, t->shape, err);
    if (rc) return rc;
    rp_tensor *r = *out;
    size_t esz = (size_t)pk_dtypes[s->i].size;
    int contiguous = 1;
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect) contiguous = 0;
        expect *= t->shape[d];
    }
    if (contiguous) { /* the usual case: one run of the storage */
        const unsigned char *src = s->data + (size_t)t->offset * esz;
        if (s->i == D_F32)
            memcpy(r->data, src, r->numel * sizeof(float));
        else
            for (size_t q = 0; q < r->numel; q++) r->data[q] = elem((int)s->i, src + q * esz);
        return RP_OK;
    }
    int64_t idx[RP_MAX_DIMS] = {0};
    for (size_t q = 0; q < r->numel; q++) {
        int64_t off = t->offset;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        r->data[q] = elem((int)s->i, s->data + (size_t)off * esz);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    return RP_OK;
}

/* A dict whose keys are strings and whose values are all tensors. */
static int tensor_dict(const pk_obj *d) {
    if (!d || d->kind != PK_DICT) return 0;
    for (size_t k = 0; k < d->n; k += 2)
        if (d->items[k]->kind != PK_STR || d->items[k + 1]->kind != PK_TENSOR) return 0;
    return 1;
}

static const char *kind_name(int kind) {
    static const char *const n[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict",
                                    "function", "storage", "tensor", "mark"};
    return n[kind];
}

static int legacy_magic(const unsigned char *b, uint64_t n) {
    /* pickle protocol 2 of torch's magic number 0x1950a86a20f9469cfc6c */
    static const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20};
    return n >= sizeof magic && memcmp(b, magic, sizeof magic) == 0;
}

static int pth_from_buffer(const char *path, const unsigned char *buf, uint64_t size, rp_st *st, rp_error *err) {
    if (size < 4 || memcmp(buf, "PK", 2) != 0) {
        if (legacy_magic(buf, size))
            return pth_fail(err, path, RP_ERR_FORMAT,
                            "a legacy (pre-1.6, non-zip) torch.save file; convert it once with %s",
                            CONVERT_HINT);
        return pth_fail(err, path, RP_ERR_FORMAT,
                        "not a PyTorch zip checkpoint (torch.save since PyTorch 1.6 writes a zip "
                        "archive); an older file converts with %s",
                        CONVERT_HINT);
    }
    zarchive z = {.path = path, .buf = buf, .size = size};
    pk_vm vm;
    memset(&vm, 0, sizeof vm);
    vm.path = path;
    int rc = zip_open(&z, err);
    char prefix[512] = "";
    const zentry *pkl = NULL;
    for (size_t i = 0; !rc && i < z.n; i++) {
        const char *nm = z.e[i].name, *sl = strchr(nm, '/');
        if (sl && !strcmp(sl, "/data.pkl") && (size_t)(sl - nm) < sizeof prefix) {
            pkl = &z.e[i];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(sl - nm), nm);
            break;
        }
    }
    if (!rc && !pkl) {
        int script = 0;
        for (size_t i = 0; i < z.n; i++) script |= strstr(z.e[i].name, "/constants.pkl") != NULL;
        rc = pth_fail(err, path, RP_ERR_FORMAT, "%s",
                      script ? "a TorchScript archive (torch.jit.save), not a state_dict: save "
                               "model.state_dict() with torch.save instead"
                             : "a zip archive without '<name>/data.pkl': not written by torch.save");
    }
    const zentry *bo = NULL;
    if (!rc) {
        char bname[600];
        snprintf(bname, sizeof bname, "%s/byteorder", prefix);
        bo = zip_find(&z, bname);
    }
    const unsigned char *pdata = NULL;
    unsigned char *powned = NULL;
    if (!rc && bo) {
        const unsigned char *bd;
        unsigned char *bown;
        rc = zip_read(&z, bo, &bd, &bown, err);
        if (!rc && !(bo->usize == 6 && !memcmp(bd, "little", 6)))
            rc = pth_fail(err, path, RP_ERR_FORMAT, "saved with big-endian byte order (only little-endian is read)");
        free(bown);
    }
    if (!rc) rc = zip_read(&z, pkl, &pdata, &powned, err);
    pk_obj *top = NULL;
    if (!rc) {
        vm.start = vm.p = pdata;
        vm.end = pdata + pkl->usize;
        rc = pk_run(&vm, &top, err);
    }
    /* the state dict itself, or a training checkpoint's entry holding it */
    const pk_obj *sd = NULL;
    const char *wrapped = NULL;
    if (!rc) {
        if (tensor_dict(top)) {
            sd = top;
        } else if (top->kind == PK_DICT) {
            static const char *const keys[] = {"state_dict", "model_state_dict", "model"};
            for (size_t w = 0; !sd && w < PTH_COUNT(keys); w++)
                for (size_t k = 0; k < top->n; k += 2)
                    if (top->items[k]->kind == PK_STR && !strcmp(top->items[k]->s, keys[w]) &&
                        tensor_dict(top->items[k + 1])) {
                        sd = top->items[k + 1];
                        wrapped = keys[w];
                        break;
                    }
            if (!sd) {
                rp_strbuf ks = {0};
                for (size_t k = 0; k < top->n && ks.n < 300; k += 2)
                    rp_strbuf_printf(&ks, "%s%s: %s", k ? ", " : "",
                                     top->items[k]->kind == PK_STR ? top->items[k]->s : "(non-string key)",
                                     kind_name(top->items[k + 1]->kind));
                rc = pth_fail(err, path, RP_ERR_FORMAT,
                              "holds a dict that is not a state_dict (not every value is a tensor) and has "
                              "no 'state_dict' / 'model_state_dict' / 'model' entry that is one; its "
                              "entries: {%s}; save the weights alone with python3 -c \"import torch; "
                              "torch.save(torch.load('IN.pth')['KEY'], 'OUT.pth')\"",
                              ks.p ? ks.p : "");
                rp_strbuf_release(&ks);
            }
        } else {
            rc = pth_fail(err, path, RP_ERR_FORMAT, "holds a %s, not a state_dict (a dict of tensors)",
                          kind_name(top->kind));
        }
    }
    for (size_t k = 0; !rc && k < sd->n; k += 2) {
        rp_tensor *t = NULL;
        rc = materialize(&z, prefix, sd->items[k]->s, sd->items[k + 1], &t, err);
        if (!rc) rc = rp_st_take(st, sd->items[k]->s, t, err);
    }
    if (!rc && wrapped) rc = rp_st_set_meta(st, "pth.entry", wrapped, err);
    free(powned);
    pk_free_all(&vm);
    zip_release(&z);
    return rc;
}

int rp_pth_load(const char *path, rp_st *st, rp_error *err) {
    rp_st_init(st);
    FILE *f = fopen(path, "rb");
    if (!f) {
        rp_error_set(err, RP_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        if (err) snprintf(err->file, sizeof err->file, "%s", path);
        return RP_ERR_IO;
    }
    long fsz = -1;
    if (fseek(f, 0, SEEK_END) == 0) fsz = ftell(f);
    rewind(f);
    if (fsz < 0) {
        fclose(f);
        return pth_fail(err, path, RP_ERR_IO, "cannot determine the file size");
    }
    unsigned char *buf = malloc(fsz ? (size_t)fsz : 1);
    if (!buf) {
        fclose(f);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    int rc = RP_OK;
    if (fread(buf, 1, (size_t)fsz, f) != (size_t)fsz)
        rc = pth_fail(err, path, RP_ERR_IO, "read error: %s", strerror(errno));
    fclose(f);
    if (!rc) rc = pth_from_buffer(path, buf, (uint64_t)fsz, st, err);
    free(buf);
    if (rc) rp_st_release(st);
    return rc;
}

int rp_weights_load(const char *path, rp_st *st, rp_error *err) {
    unsigned char head[10] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    const char *dot = strrchr(path, '.');
    int torch_ext = dot && (!strcmp(dot, ".pth") || !strcmp(dot, ".pt") || !strcmp(dot, ".ckpt"));
    if ((n >= 2 && !memcmp(head, "PK", 2)) || legacy_magic(head, n) || (f && torch_ext))
        return rp_pth_load(path, st, err);
    return rp_st_load(path, st, err);
}
