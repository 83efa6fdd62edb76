/* The zip container of a PyTorch checkpoint (see pth.c): central directory,
 * stored and deflated entries, every offset and size checked against the
 * file and every entry against its CRC. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nn/pth_impl.h"

/* ---- zip archive --------------------------------------------------------------- */

void pth_zip_release(zarchive *z) {
    for (size_t i = 0; i < z->n; i++)
        free(z->e[i].name);
    free(z->e);
    z->e = NULL;
    z->n = 0;
}

/* Central directory → z->e. */
int pth_zip_open(zarchive *z, rp_error *err) {
    const unsigned char *b = z->buf;
    uint64_t sz = z->size;
    if (sz < 22)
        return pth_fail(err, z->path, RP_ERR_FORMAT, "truncated zip archive (%" PRIu64 " bytes)",
                        sz);
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
            return pth_fail(
                err, z->path, RP_ERR_FORMAT,
                "not a valid PyTorch checkpoint: bad zip64 end-of-directory offset %" PRIu64, z64);
        n = rd64(b + z64 + 32);
        cd_size = rd64(b + z64 + 40);
        cd_off = rd64(b + z64 + 48);
    }
    if (cd_off > sz || cd_size > sz - cd_off || n > cd_size / 46)
        return pth_fail(err, z->path, RP_ERR_FORMAT,
                        "not a valid PyTorch checkpoint: the zip directory (%" PRIu64
                        " entries, %" PRIu64 " bytes at %" PRIu64
                        ") lies outside the file (%" PRIu64 " bytes): truncated?",
                        n, cd_size, cd_off, sz);
    z->e = calloc(n ? n : 1, sizeof *z->e);
    if (!z->e) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    uint64_t p = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if (end - p < 46 || rd32(b + p) != 0x02014b50u)
            return pth_fail(
                err, z->path, RP_ERR_FORMAT,
                "not a valid PyTorch checkpoint: zip directory entry %" PRIu64 " is corrupt", i);
        zentry *e = &z->e[z->n];
        unsigned flags = rd16(b + p + 8);
        e->method = rd16(b + p + 10);
        e->crc = rd32(b + p + 16);
        e->csize = rd32(b + p + 20);
        e->usize = rd32(b + p + 24);
        uint64_t nl = rd16(b + p + 28), xl = rd16(b + p + 30), cl = rd16(b + p + 32);
        e->lho = rd32(b + p + 42);
        if (end - p - 46 < nl + xl + cl)
            return pth_fail(
                err, z->path, RP_ERR_FORMAT,
                "not a valid PyTorch checkpoint: zip directory entry %" PRIu64 " is corrupt", i);
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

const zentry *pth_zip_find(const zarchive *z, const char *name) {
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->e[i].name, name) == 0) return &z->e[i];
    return NULL;
}

/* The bytes of an entry, checked against the archive and its CRC. *data is
 * either a pointer into the file (stored: *owned = NULL) or an inflated copy
 * (*owned = the same pointer, the caller frees it). */
int pth_zip_read(const zarchive *z, const zentry *e, const unsigned char **data,
                 unsigned char **owned, rp_error *err) {
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
                            "zip entry '%s': stored with %" PRIu64 " bytes but declares %" PRIu64,
                            e->name, e->csize, e->usize);
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
            if (zr == Z_OK && ci == s.avail_in && co == s.avail_out)
                zr = Z_BUF_ERROR; /* no progress */
        }
        inflateEnd(&s);
        if (zr != Z_STREAM_END || out_done != e->usize) {
            free(out);
            return pth_fail(
                err, z->path, RP_ERR_FORMAT,
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
        return pth_fail(err, z->path, RP_ERR_FORMAT, "zip entry '%s': CRC mismatch (corrupt file)",
                        e->name);
    }
    return RP_OK;
}
