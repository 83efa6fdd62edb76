/* The restricted pickle machine that runs a checkpoint's data.pkl (see
 * pth.c): plain-data opcodes, the memo, persistent ids and the few globals a
 * state_dict uses; anything else is an error naming the byte offset. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/pth_impl.h"

/* ---- restricted pickle machine ------------------------------------------------------ */

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

const struct pk_dtype_info pth_dtypes[] = {
    [D_F32] = {"float32", 4, 1},   [D_F64] = {"float64", 8, 1}, [D_F16] = {"float16", 2, 1},
    [D_BF16] = {"bfloat16", 2, 1}, [D_I64] = {"int64", 8, 1},   [D_I32] = {"int32", 4, 1},
    [D_U8] = {"uint8", 1, 0},      [D_I8] = {"int8", 1, 0},     [D_I16] = {"int16", 2, 0},
    [D_BOOL] = {"bool", 1, 0},
};

static pk_obj *pk_new(pk_vm *vm, int kind) {
    pk_obj *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->kind = kind;
    o->next_alloc = vm->all;
    vm->all = o;
    return o;
}

void pth_pickle_free(pk_vm *vm) {
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

static int pk_err(pk_vm *vm, rp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
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
        if (vm->scap >= PTH_MAX_STACK)
            return pk_err(vm, err, "pickle stack deeper than %u entries", PTH_MAX_STACK);
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
    if ((size_t)(vm->end - vm->p) < n)
        return pk_err(vm, err, "data.pkl ends inside an opcode (truncated)");
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
        while (nn <= idx)
            nn *= 2;
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
    if (idx >= vm->nmemo || !vm->memo[idx])
        return pk_err(vm, err, "memo index %" PRIu64 " was never stored", idx);
    return pk_push(vm, vm->memo[idx], err);
}

static int pk_global(pk_vm *vm, const char *module, const char *name, rp_error *err) {
    for (size_t k = 0; k < PTH_COUNT(pk_allowed); k++)
        if (!strcmp(pk_allowed[k].module, module) && !strcmp(pk_allowed[k].name, name)) {
            pk_obj *o = pk_new(vm, PK_GLOBAL);
            if (o) o->i = (int64_t)k;
            return pk_push(vm, o, err);
        }
    return pk_err(
        vm, err,
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
    if (pid->kind != PK_TUPLE || pid->n != 5 || pid->items[0]->kind != PK_STR ||
        strcmp(pid->items[0]->s, "storage") || pid->items[1]->kind != PK_GLOBAL ||
        pk_allowed[pid->items[1]->i].global != G_STORAGE || pid->items[2]->kind != PK_STR ||
        pid->items[3]->kind != PK_STR || pid->items[4]->kind != PK_INT)
        return pk_err(
            vm, err, "persistent id is not ('storage', torch.<Type>Storage, key, location, numel)");
    const char *key = pid->items[2]->s;
    int dtype = pk_allowed[pid->items[1]->i].dtype;
    int64_t numel = pid->items[4]->i;
    if (numel < 0 || (uint64_t)numel > PTH_MAX_NUMEL)
        return pk_err(vm, err, "storage '%s' declares %" PRId64 " elements", key, numel);
    for (size_t k = 0; vm->storages && k < vm->storages->n; k++) {
        pk_obj *s = vm->storages->items[k];
        if (!strcmp(s->s, key)) {
            if (s->i != dtype || s->numel != numel)
                return pk_err(vm, err,
                              "storage '%s' is declared twice with different types or sizes", key);
            return pk_push(vm, s, err);
        }
    }
    pk_obj *s = pk_new(vm, PK_STORAGE);
    if (!s || !(s->s = malloc(strlen(key) + 1)))
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    strcpy(s->s, key);
    s->i = dtype;
    s->numel = numel;
    if (!vm->storages && !(vm->storages = pk_new(vm, PK_LIST)))
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (pk_push_item(vm->storages, s)) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    return pk_push(vm, s, err);
}

/* size / stride tuples of a rebuilt tensor */
static int pk_dims(pk_vm *vm, const pk_obj *t, int64_t *out, int *nd, const char *what,
                   rp_error *err) {
    if (!t || t->kind != PK_TUPLE) return pk_err(vm, err, "tensor %s is not a tuple", what);
    if (t->n > RP_MAX_DIMS)
        return pk_err(vm, err, "tensor has %zu dimensions (at most %d supported)", t->n,
                      RP_MAX_DIMS);
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
                          "tensor (offset %" PRId64 ") reaches element %" PRIu64
                          " of storage '%s', which has %" PRId64,
                          t->offset, last, t->storage->s, t->storage->numel);
    }
    return pk_push(vm, t, err);
}

static int pk_reduce(pk_vm *vm, rp_error *err) {
    pk_obj *args = NULL, *fn = NULL;
    TRY(pk_pop(vm, &args, err));
    TRY(pk_pop(vm, &fn, err));
    if (fn->kind != PK_GLOBAL)
        return pk_err(vm, err, "REDUCE on something that is not an allowed global");
    if (args->kind != PK_TUPLE) return pk_err(vm, err, "REDUCE arguments are not a tuple");
    int g = pk_allowed[fn->i].global;
    switch (g) {
    case G_ODICT:
        if (args->n != 0)
            return pk_err(vm, err, "OrderedDict(...) with arguments is not supported");
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
        return pk_err(vm, err, "global '%s.%s' cannot be called", pk_allowed[fn->i].module,
                      pk_allowed[fn->i].name);
    }
}

static const char *pk_opname(int op) {
    static const struct {
        int op;
        const char *name;
    } names[] = {
        {'i', "INST"},       {'o', "OBJ"},         {0x81, "NEWOBJ"},      {0x92, "NEWOBJ_EX"},
        {'P', "PERSID"},     {0x82, "EXT1"},       {0x83, "EXT2"},        {0x84, "EXT4"},
        {'I', "INT"},        {'L', "LONG"},        {'F', "FLOAT"},        {'S', "STRING"},
        {'V', "UNICODE"},    {'p', "PUT"},         {'g', "GET"},          {'l', "LIST"},
        {'d', "DICT"},       {0x8b, "LONG4"},      {0x8f, "EMPTY_SET"},   {0x90, "ADDITEMS"},
        {0x91, "FROZENSET"}, {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
        {0x8e, "BINBYTES8"},
    };
    for (size_t k = 0; k < PTH_COUNT(names); k++)
        if (names[k].op == op) return names[k].name;
    return "unknown";
}

int pth_pickle_run(pk_vm *vm, pk_obj **result, rp_error *err) {
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
            if (a[0] < 2 || a[0] > 5)
                return pk_err(vm, err, "pickle protocol %d (2 to 5 supported)", a[0]);
            vm->p += 1;
            break;
        case 0x95: /* FRAME */
            TRY(pk_need(vm, 8, err));
            vm->p += 8;
            break;
        case '.': /* STOP */
            TRY(pk_pop(vm, result, err));
            return RP_OK;
        case '(':
            rc = pk_push(vm, vm->mark_obj, err);
            break;
        case ')':
            rc = pk_push(vm, pk_new(vm, PK_TUPLE), err);
            break;
        case ']':
            rc = pk_push(vm, pk_new(vm, PK_LIST), err);
            break;
        case '}':
            rc = pk_push(vm, pk_new(vm, PK_DICT), err);
            break;
        case 'N':
            rc = pk_push(vm, pk_new(vm, PK_NONE), err);
            break;
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
            for (size_t q = 0; q < n; q++)
                u |= (uint64_t)vm->p[q] << (8 * q);
            if (n > 0 && n < 8 && (vm->p[n - 1] & 0x80)) u |= ~0ull << (8 * n);
            vm->p += n;
            rc = pk_int(vm, (int64_t)u, err);
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            TRY(pk_need(vm, 8, err));
            uint64_t u = 0;
            for (int q = 0; q < 8; q++)
                u = u << 8 | a[q];
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
            if (rd64(a) > (uint64_t)(vm->end - vm->p))
                return pk_err(vm, err, "string runs past the end of data.pkl");
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
                    return pk_err(vm, err, "%s on something that is not a %s",
                                  op == 'e' ? "APPENDS" : "SETITEMS", op == 'e' ? "list" : "dict");
                if (op == 'u' && (vm->sp - m - 1) % 2)
                    return pk_err(vm, err, "SETITEMS with an odd number of items");
            }
            for (size_t q = m + 1; q < vm->sp; q++)
                if (pk_push_item(o, vm->stack[q]))
                    return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
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
                if (vm->stack[q]->kind == PK_MARK)
                    return pk_err(vm, err, "MARK inside TUPLE%zu", n);
                if (pk_push_item(o, vm->stack[q]))
                    return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            }
            vm->sp -= n;
            rc = pk_push(vm, o, err);
            break;
        }
        case 'a': /* APPEND */
            TRY(pk_pop(vm, &v, err));
            if (!vm->sp || vm->stack[vm->sp - 1]->kind != PK_LIST)
                return pk_err(vm, err, "APPEND to something that is not a list");
            if (pk_push_item(vm->stack[vm->sp - 1], v))
                return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            break;
        case 's': /* SETITEM */
            TRY(pk_pop(vm, &v, err));
            TRY(pk_pop(vm, &k, err));
            if (!vm->sp || vm->stack[vm->sp - 1]->kind != PK_DICT)
                return pk_err(vm, err, "SETITEM on something that is not a dict");
            if (pk_push_item(vm->stack[vm->sp - 1], k) || pk_push_item(vm->stack[vm->sp - 1], v))
                return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            break;
        case 'c': { /* GLOBAL "module\nname\n" */
            const unsigned char *nl1 = memchr(a, '\n', (size_t)(vm->end - a));
            const unsigned char *nl2 =
                nl1 ? memchr(nl1 + 1, '\n', (size_t)(vm->end - nl1 - 1)) : NULL;
            if (!nl2 || nl1 - a > 200 || nl2 - nl1 > 200)
                return pk_err(vm, err, "malformed GLOBAL");
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
            if (k->kind != PK_STR || v->kind != PK_STR)
                return pk_err(vm, err, "STACK_GLOBAL needs two strings");
            rc = pk_global(vm, k->s, v->s, err);
            break;
        case 'R':
            rc = pk_reduce(vm, err);
            break;
        case 'Q':
            rc = pk_persid(vm, err);
            break;
        case 'b': /* BUILD: OrderedDict's state is its _metadata; tensors take none */
            TRY(pk_pop(vm, &v, err));
            if (!vm->sp) return pk_err(vm, err, "BUILD on an empty stack");
            o = vm->stack[vm->sp - 1];
            if (o->kind != PK_DICT && o->kind != PK_TENSOR)
                return pk_err(
                    vm, err,
                    "BUILD (setting object state) on something other than a dict or tensor");
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
