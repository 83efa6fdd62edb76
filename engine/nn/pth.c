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
 * never a crash.
 *
 * The zip reader is pth_zip.c, the pickle machine pth_pickle.c; this file
 * turns the unpickled state_dict into tensors. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/util.h"
#include "runpipe/io.h"
#include "runpipe/strbuf.h"

#include "nn/pth_impl.h"

/* ---- errors ------------------------------------------------------------------ */

#define CONVERT_HINT                                                                               \
    "python3 -c \"import torch; torch.save(torch.load('OLD.pth', map_location='cpu'), "            \
    "'NEW.pth')\""

/* ---- tensors out --------------------------------------------------------------------- */

static float elem(int dtype, const unsigned char *src) {
    float f;
    uint32_t u;
    switch (dtype) {
    case D_F32:
        memcpy(&f, src, 4);
        return f;
    case D_F64: {
        double d;
        memcpy(&d, src, 8);
        return (float)d;
    }
    case D_F16:
        return rp_half_to_float((uint16_t)(src[0] | src[1] << 8));
    case D_BF16:
        u = (uint32_t)(src[0] | src[1] << 8) << 16;
        memcpy(&f, &u, 4);
        return f;
    case D_I64: {
        int64_t v;
        memcpy(&v, src, 8);
        return (float)v;
    }
    default: {
        int32_t v;
        memcpy(&v, src, 4);
        return (float)v;
    }
    }
}

/* The storage's bytes from "<prefix>/data/<key>" (read once, shared by
 * every tensor viewing it). */
static int storage_bytes(const zarchive *z, const char *prefix, pk_obj *s, rp_error *err) {
    if (s->data) return RP_OK;
    char name[600];
    snprintf(name, sizeof name, "%s/data/%s", prefix, s->s);
    const zentry *e = pth_zip_find(z, name);
    if (!e)
        return pth_fail(err, z->path, RP_ERR_FORMAT, "storage '%s' has no archive entry '%s'", s->s,
                        name);
    uint64_t need = (uint64_t)s->numel * (uint64_t)pth_dtypes[s->i].size;
    if (e->usize < need)
        return pth_fail(err, z->path, RP_ERR_FORMAT,
                        "storage '%s' declares %" PRId64 " %s elements (%" PRIu64
                        " bytes) but its entry '%s' "
                        "holds %" PRIu64 " bytes",
                        s->s, s->numel, pth_dtypes[s->i].name, need, name, e->usize);
    return pth_zip_read(z, e, &s->data, &s->owned, err);
}

/* Strided view → contiguous float32 [shape]. */
static int materialize(const zarchive *z, const char *prefix, const char *key, pk_obj *t,
                       rp_tensor **out, rp_error *err) {
    *out = NULL;
    pk_obj *s = t->storage;
    if (!pth_dtypes[s->i].convertible)
        return pth_fail(
            err, z->path, RP_ERR_FORMAT,
            "tensor '%s' has dtype %s, which runpipe does not load as weights (float32, "
            "float64, float16, bfloat16, int64 and int32 are read, as float32)",
            key, pth_dtypes[s->i].name);
    TRY(storage_bytes(z, prefix, s, err));
    int rc = rp_tensor_new(out, t->ndim, t->shape, err);
    if (rc) return rc;
    rp_tensor *r = *out;
    size_t esz = (size_t)pth_dtypes[s->i].size;
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
            for (size_t q = 0; q < r->numel; q++)
                r->data[q] = elem((int)s->i, src + q * esz);
        return RP_OK;
    }
    int64_t idx[RP_MAX_DIMS] = {0};
    for (size_t q = 0; q < r->numel; q++) {
        int64_t off = t->offset;
        for (int d = 0; d < t->ndim; d++)
            off += idx[d] * t->stride[d];
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
    static const char *const n[] = {"None", "bool", "int",      "float",   "str",    "tuple",
                                    "list", "dict", "function", "storage", "tensor", "mark"};
    return n[kind];
}

static int legacy_magic(const unsigned char *b, uint64_t n) {
    /* pickle protocol 2 of torch's magic number 0x1950a86a20f9469cfc6c */
    static const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c,
                                          0xfc, 0x9c, 0x46, 0xf9, 0x20};
    return n >= sizeof magic && memcmp(b, magic, sizeof magic) == 0;
}

static int pth_from_buffer(const char *path, const unsigned char *buf, uint64_t size, rp_st *st,
                           rp_error *err) {
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
    int rc = pth_zip_open(&z, err);
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
        for (size_t i = 0; i < z.n; i++)
            script |= strstr(z.e[i].name, "/constants.pkl") != NULL;
        rc =
            pth_fail(err, path, RP_ERR_FORMAT, "%s",
                     script ? "a TorchScript archive (torch.jit.save), not a state_dict: save "
                              "model.state_dict() with torch.save instead"
                            : "a zip archive without '<name>/data.pkl': not written by torch.save");
    }
    const zentry *bo = NULL;
    if (!rc) {
        char bname[600];
        snprintf(bname, sizeof bname, "%s/byteorder", prefix);
        bo = pth_zip_find(&z, bname);
    }
    const unsigned char *pdata = NULL;
    unsigned char *powned = NULL;
    if (!rc && bo) {
        const unsigned char *bd;
        unsigned char *bown;
        rc = pth_zip_read(&z, bo, &bd, &bown, err);
        if (!rc && !(bo->usize == 6 && !memcmp(bd, "little", 6)))
            rc = pth_fail(err, path, RP_ERR_FORMAT,
                          "saved with big-endian byte order (only little-endian is read)");
        free(bown);
    }
    if (!rc) rc = pth_zip_read(&z, pkl, &pdata, &powned, err);
    pk_obj *top = NULL;
    if (!rc) {
        vm.start = vm.p = pdata;
        vm.end = pdata + pkl->usize;
        rc = pth_pickle_run(&vm, &top, err);
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
                                     top->items[k]->kind == PK_STR ? top->items[k]->s
                                                                   : "(non-string key)",
                                     kind_name(top->items[k + 1]->kind));
                rc = pth_fail(
                    err, path, RP_ERR_FORMAT,
                    "holds a dict that is not a state_dict (not every value is a tensor) and has "
                    "no 'state_dict' / 'model_state_dict' / 'model' entry that is one; its "
                    "entries: {%s}; save the weights alone with python3 -c \"import torch; "
                    "torch.save(torch.load('IN.pth')['KEY'], 'OUT.pth')\"",
                    ks.p ? ks.p : "");
                rp_strbuf_release(&ks);
            }
        } else {
            rc = pth_fail(err, path, RP_ERR_FORMAT,
                          "holds a %s, not a state_dict (a dict of tensors)", kind_name(top->kind));
        }
    }
    for (size_t k = 0; !rc && k < sd->n; k += 2) {
        rp_tensor *t = NULL;
        rc = materialize(&z, prefix, sd->items[k]->s, sd->items[k + 1], &t, err);
        if (!rc) rc = rp_st_take(st, sd->items[k]->s, t, err);
    }
    if (!rc && wrapped) rc = rp_st_set_meta(st, "pth.entry", wrapped, err);
    free(powned);
    pth_pickle_free(&vm);
    pth_zip_release(&z);
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
