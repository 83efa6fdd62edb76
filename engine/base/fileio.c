/* Files: mkdir -p, atomic writes (temporary name + fsync + rename), whole-file
 * reads, SHA-256 of plugin files for the manifest (io.h, DESIGN §9). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runpipe/io.h"

int rp_path_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0;
}

int rp_is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int rp_mkdirs(const char *path, rp_error *err) {
    if (!path || !*path) return rp_error_set(err, RP_ERR_INVALID, "mkdir: empty path");
    size_t n = strlen(path);
    char *buf = malloc(n + 1);
    if (!buf) return rp_error_set(err, RP_ERR_NOMEM, "mkdir '%s': out of memory", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            rp_error_set(err, RP_ERR_IO, "cannot create directory '%s': %s", buf, strerror(e));
            free(buf);
            return RP_ERR_IO;
        }
        struct stat sb;
        if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            int loop = errno == ELOOP;
            rp_error_set(err, RP_ERR_IO, "cannot create directory '%s': %s", buf,
                         loop ? "it is a symbolic link loop" : "a file is in the way");
            free(buf);
            return RP_ERR_IO;
        }
        buf[i] = c;
    }
    free(buf);
    return RP_OK;
}

int rp_afile_open(rp_afile *af, const char *path, rp_error *err) {
    memset(af, 0, sizeof *af);
    if (!path || strlen(path) >= sizeof af->path)
        return rp_error_set(err, RP_ERR_INVALID, "path too long: '%.200s'", path ? path : "");
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp, "wb");
    if (!af->f)
        return rp_error_set(err, RP_ERR_IO, "cannot write '%s': %s", af->tmp, strerror(errno));
    return RP_OK;
}

int rp_afile_commit(rp_afile *af, rp_error *err) {
    if (!af->f) return rp_error_set(err, RP_ERR_INVALID, "'%s': file is not open", af->path);
    int bad = ferror(af->f);
    if (fflush(af->f) != 0) bad = 1;
    int e = errno;
    if (!bad && fsync(fileno(af->f)) != 0 && errno != EINVAL) {
        bad = 1;
        e = errno;
    }
    if (fclose(af->f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    af->f = NULL;
    if (bad) {
        unlink(af->tmp);
        return rp_error_set(err, RP_ERR_IO, "cannot write '%s': %s", af->path, strerror(e));
    }
    if (rename(af->tmp, af->path) != 0) {
        e = errno;
        unlink(af->tmp);
        return rp_error_set(err, RP_ERR_IO, "cannot rename '%s' to '%s': %s", af->tmp, af->path,
                            strerror(e));
    }
    return RP_OK;
}

void rp_afile_abort(rp_afile *af) {
    if (af->f) {
        fclose(af->f);
        af->f = NULL;
        unlink(af->tmp);
    }
}

int rp_write_atomic(const char *path, const void *data, size_t len, rp_error *err) {
    rp_afile af;
    int s = rp_afile_open(&af, path, err);
    if (s != RP_OK) return s;
    if (len && fwrite(data, 1, len, af.f) != len) {
        int e = errno;
        rp_afile_abort(&af);
        return rp_error_set(err, RP_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    return rp_afile_commit(&af, err);
}

int rp_read_file(const char *path, char **data, size_t *len, rp_error *err) {
    *data = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rp_error_set(err, RP_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return rp_error_set(err, RP_ERR_NOMEM, "reading '%s': out of memory", path);
    }
    for (;;) {
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return rp_error_set(err, RP_ERR_NOMEM, "reading '%s': out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    int e = errno;
    fclose(f);
    if (bad) {
        free(buf);
        return rp_error_set(err, RP_ERR_IO, "cannot read '%s': %s", path, strerror(e));
    }
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return RP_OK;
}

/* ---- SHA-256 (FIPS 180-4 §6.2) --------------------------------------------- */

typedef struct sha256 {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t buf[64];
    size_t nbuf;
} sha256;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(sha256 *s, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5],
             g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + S1 + ch + K256[i] + w[i];
        uint32_t S0 = ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22);
        uint32_t mj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + mj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
    s->h[5] += f;
    s->h[6] += g;
    s->h[7] += h;
}

static void sha_init(sha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->bytes = 0;
    s->nbuf = 0;
}

static void sha_update(sha256 *s, const uint8_t *p, size_t n) {
    s->bytes += n;
    while (n) {
        if (s->nbuf == 0 && n >= 64) {
            sha_block(s, p);
            p += 64;
            n -= 64;
            continue;
        }
        size_t k = 64 - s->nbuf < n ? 64 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, k);
        s->nbuf += k;
        p += k;
        n -= k;
        if (s->nbuf == 64) {
            sha_block(s, s->buf);
            s->nbuf = 0;
        }
    }
}

static void sha_final_hex(sha256 *s, char hex[65]) {
    uint64_t bits = s->bytes * 8;
    uint8_t pad = 0x80, zero = 0, len[8];
    sha_update(s, &pad, 1);
    while (s->nbuf != 56) sha_update(s, &zero, 1);
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(s, len, 8);
    for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", s->h[i]);
}

void rp_sha256_hex(const void *data, size_t len, char hex[65]) {
    sha256 s;
    sha_init(&s);
    sha_update(&s, data, len);
    sha_final_hex(&s, hex);
}

int rp_sha256_file(const char *path, char hex[65], rp_error *err) {
    hex[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rp_error_set(err, RP_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    sha256 s;
    sha_init(&s);
    uint8_t buf[65536];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) sha_update(&s, buf, r);
    int bad = ferror(f);
    fclose(f);
    if (bad) return rp_error_set(err, RP_ERR_IO, "cannot read '%s'", path);
    sha_final_hex(&s, hex);
    return RP_OK;
}
