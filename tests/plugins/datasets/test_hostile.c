/* Hostile inputs to the dataset readers, each with its exact message pinned
 * ($T stands for the test's temporary directory, $S for the source root):
 * header sizes checked against the file before allocating, junk after a
 * gzip stream, NUL bytes and impossible labels in a CSV, paths leaving the
 * data root, symlink loops and dangling links, PNG CRC / Adler-32 errors,
 * a JPEG named .png, and samples named by file and record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>
#include <zlib.h>

#include "../../../plugins/datasets/imglist.h"
#include "../../../plugins/datasets/stages.h"
#include "../../harness.h"
#include "runpipe/image.h"

static char T[700];

/* want with $T / $S expanded */
static const char *expand(const char *want) {
    static char out[8192];
    size_t o = 0;
    for (const char *p = want; *p && o < sizeof out - 1; p++) {
        if (p[0] == '$' && (p[1] == 'T' || p[1] == 'S')) {
            o += (size_t)snprintf(out + o, sizeof out - o, "%s",
                                  p[1] == 'T' ? T : rp_test_abs_src());
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = 0;
    return out;
}

static void pin(const char *got, const char *want) {
    const char *w = expand(want);
    if (strcmp(got, w)) fail_msg("\n  expected: %s\n  got:      %s", w, got);
}

static void put(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

/* An IDX pair: `n_hdr` images of rows x cols in the header, `n_real` present. */
static void idx_pair(const char *img, const char *lbl, uint32_t n_hdr, uint32_t rows, uint32_t cols,
                     uint32_t n_real) {
    size_t per = (size_t)rows * cols, sz = 16 + per * n_real;
    uint8_t *b = calloc(1, sz);
    be32(b, 0x803), be32(b + 4, n_hdr), be32(b + 8, rows), be32(b + 12, cols);
    put(img, b, sz);
    free(b);
    uint8_t *l = calloc(1, 8 + n_real);
    be32(l, 0x801), be32(l + 4, n_hdr);
    put(lbl, l, 8 + n_real);
    free(l);
}

/* Returns the size of the gzip stream (junk excluded). */
static long gz_file(const char *path, const uint8_t *data, size_t n, const char *junk) {
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    gzclose(g);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    if (junk) {
        FILE *f = fopen(path, "ab");
        fputs(junk, f);
        fclose(f);
    }
    return (long)sb.st_size;
}

static void idx_err(const char *img, const char *lbl, const char *want) {
    memds m;
    rp_error err;
    rp_error_clear(&err);
    if (idx_load(img, lbl, 0, 10, &m, &err) == RP_OK) fail_msg("idx_load(%s) succeeded", img);
    pin(err.msg, want);
}

static void test_idx_sizes_before_allocating(void **state) {
    (void)state;
    char img[800], lbl[800];
    snprintf(img, sizeof img, "%s/huge-images", T);
    snprintf(lbl, sizeof lbl, "%s/huge-labels", T);
    /* 2^31 images declared, 3 present: refused before any allocation */
    idx_pair(img, lbl, 2147483648u, 28, 28, 3);
    idx_err(
        img, lbl,
        "$T/huge-images: header field 'number of images' says 2147483648 images of 28x28 but the "
        "file holds 2352 bytes of pixels (3 images)");
    /* 65536 x 65536 pixels declared */
    idx_pair(img, lbl, 1, 65536, 65536, 0);
    idx_err(img, lbl,
            "$T/huge-images: header field 'number of images' says 1 images of 65536x65536 but the "
            "file holds 0 bytes of pixels (0 images)");
    /* labels file shorter than its header */
    idx_pair(img, lbl, 3, 2, 2, 3);
    FILE *f = fopen(lbl, "r+b");
    assert_int_equal(ftruncate(fileno(f), 9), 0);
    fclose(f);
    idx_err(img, lbl,
            "$T/huge-labels: header field 'number of items' says 3 labels but the file holds 1");
    /* gzip: the decompressed size counts, not the compressed one */
    uint8_t b[16 + 12];
    memset(b, 0, sizeof b);
    be32(b, 0x803), be32(b + 4, 1000000), be32(b + 8, 2), be32(b + 12, 2);
    snprintf(img, sizeof img, "%s/gz-images.gz", T);
    gz_file(img, b, sizeof b, NULL);
    uint8_t l[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 0, 0, 0};
    be32(l + 4, 1000000);
    put(lbl, l, sizeof l);
    idx_err(
        img, lbl,
        "$T/gz-images.gz: header field 'number of images' says 1000000 images of 2x2 but the file "
        "holds 12 bytes of pixels (3 images)");
    /* junk after the gzip stream */
    be32(b + 4, 3);
    be32(l + 4, 3);
    put(lbl, l, sizeof l);
    long zs = gz_file(img, b, sizeof b, "JUNK");
    char want[900];
    snprintf(want, sizeof want,
             "$T/gz-images.gz: junk after the end of the gzip stream (byte %ld of the file, after "
             "28 bytes "
             "of data)",
             zs);
    idx_err(img, lbl, want);
    /* the same file without junk loads; its records are named by file and index */
    gz_file(img, b, sizeof b, NULL);
    memds m;
    rp_error err;
    RP_ASSERT_OK(idx_load(img, lbl, 0, 10, &m, &err), &err);
    rp_dataset *ds;
    RP_ASSERT_OK(memds_dataset(&m, "digits", 10, NULL, &ds, &err), &err);
    char w[900];
    pin(rp_dataset_where(ds, 2, w, sizeof w), "digits: sample 2 (gz-images.gz: image 2)");
    rp_dataset_free(ds);
}

static void test_cifar_gzip_junk(void **state) {
    (void)state;
    uint8_t *rec = calloc(1, 3073);
    char p[800];
    snprintf(p, sizeof p, "%s/data_batch_1.bin", T);
    long zs = gz_file(p, rec, 3073, "x");
    free(rec);
    const char *files[1] = {p};
    memds m;
    rp_error err;
    rp_error_clear(&err);
    assert_int_equal(cifar_load(files, 1, 1, 0, 10, 0, &m, &err), RP_ERR_FORMAT);
    char want[900];
    snprintf(want, sizeof want,
             "$T/data_batch_1.bin: junk after the end of the gzip stream (byte %ld of the "
             "file, after 3073 bytes of data)",
             zs);
    pin(err.msg, want);
}

/* ---- through the binary: CSV and folder stages ---------------------------------- */

/* Run one stage; the first error line's message after "error: " is pinned. */
static void stage_err(const char *stage, const char *want) {
    static int k;
    char file[64], log[900], args[2200], out[20000];
    snprintf(file, sizeof file, "h%d.yaml", k++);
    snprintf(log, sizeof log, "%s/%s.log", T, file);
    const char *path = rp_test_write_pipeline(T, file, "name: hostile\nseed: 1\n", stage);
    snprintf(args, sizeof args, "run '%s' --out '%s/run_%s' --no-cache", path, T, file);
    int rc = rp_test_runpipe(args, log, out, sizeof out);
    if (rc == 0) fail_msg("the pipeline ran:\n%s\n%s", stage, out);
    char *e = strstr(out, "error: ");
    if (!e) fail_msg("no error in:\n%s", out);
    e += 7;
    char *nl = strchr(e, '\n');
    if (nl) *nl = 0;
    pin(e, want);
}

static void sh(const char *cmd) {
    if (system(cmd) != 0) fail_msg("failed: %s", cmd);
}

static void test_csv_hostile(void **state) {
    (void)state;
    char cmd[4000], csv[800], st[2000];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/csv/img' && cp '%s/datasets/fixtures/pacs/photo/dog/pic_014.jpg' "
             "'%s/csv/img/a.jpg'",
             T, rp_test_abs_src(), T);
    sh(cmd);
    snprintf(csv, sizeof csv, "%s/csv/list.csv", T);
    snprintf(st, sizeof st, "  - {id: c, use: data.csv, with: {file: '%s'}}\n", csv);
    /* a NUL byte inside a path */
    static const char nul[] = "path,label\nimg/a.jpg,dog\nimg/a.jpg\0../../etc/passwd,cat\n";
    put(csv, nul, sizeof nul - 1);
    stage_err(st, "stage 'c' (data.csv): $T/csv/list.csv: line 3: field 1 contains a NUL byte");
    /* negative and wrapping labels */
    rp_test_write(csv, "path,label\nimg/a.jpg,0\nimg/a.jpg,-1\n");
    stage_err(st,
              "stage 'c' (data.csv): $T/csv/list.csv: line 3: label '-1' is negative (a label is a "
              "class name or an id 0..99999)");
    rp_test_write(csv, "path,label\nimg/a.jpg,0\nimg/a.jpg,4294967295\n");
    stage_err(st, "stage 'c' (data.csv): $T/csv/list.csv: line 3: label 4294967295 is out of range "
                  "(integer class ids are 0..99999)");
    /* paths leaving the data root: refused unless allowed */
    rp_test_write(csv, "path,label\nimg/a.jpg,0\nimg/../../x.jpg,1\n");
    stage_err(st,
              "stage 'c' (data.csv): $T/csv/list.csv: line 3: image path 'img/../../x.jpg' leaves "
              "the data root '$T/csv' (set 'allow_outside_root: true' to allow it)");
    rp_test_write(csv, "path,label\n/etc/passwd,0\n");
    stage_err(st,
              "stage 'c' (data.csv): $T/csv/list.csv: line 2: image path '/etc/passwd' leaves the "
              "data root '$T/csv' (set 'allow_outside_root: true' to allow it)");
    /* allowed: the path is taken (and then fails as the non-image it is) */
    snprintf(st, sizeof st,
             "  - {id: c, use: data.csv, with: {file: '%s', allow_outside_root: true}}\n", csv);
    stage_err(st,
              "stage 'c' (data.csv): $T/csv/list.csv: line 2: image '/etc/passwd': cannot decode "
              "image: not a JPEG, PNG, BMP, GIF or binary PNM (P5/P6) file (starts with bytes 72 "
              "6f 6f 74)");
    /* an absolute path inside the root is in it */
    snprintf(cmd, sizeof cmd, "path,label\n%s/csv/img/a.jpg,0\n", T);
    rp_test_write(csv, cmd);
    snprintf(st, sizeof st, "  - {id: c, use: data.csv, with: {file: '%s'}}\n", csv);
    {
        char args[2200], out[8000], log[900];
        const char *path = rp_test_write_pipeline(T, "abs.yaml", "name: hostile\nseed: 1\n", st);
        snprintf(args, sizeof args, "run '%s' --out '%s/run_abs' --no-cache", path, T);
        snprintf(log, sizeof log, "%s/abs.log", T);
        if (rp_test_runpipe(args, log, out, sizeof out) != 0) fail_msg("absolute path inside the root refused:\n%s", out);
    }
    /* a directory given as the CSV */
    snprintf(st, sizeof st, "  - {id: c, use: data.csv, with: {file: '%s/csv/img'}}\n", T);
    stage_err(st, "stage 'c' (data.csv): $T/csv/img: is a directory, not a CSV file");
}

static void test_folder_links(void **state) {
    (void)state;
    char cmd[4000], st[2000];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/f1/a' '%s/f1/b' && cp '%s/datasets/fixtures/folder/train/circle/'* "
             "'%s/f1/a/' && "
             "cp '%s/datasets/fixtures/folder/train/circle/'* '%s/f1/b/' && "
             "ln -s nowhere.png '%s/f1/b/gone.png'",
             T, T, rp_test_abs_src(), T, rp_test_abs_src(), T, T);
    sh(cmd);
    snprintf(st, sizeof st, "  - {id: f, use: data.folder, with: {root: '%s/f1'}}\n", T);
    stage_err(st,
              "stage 'f' (data.folder): $T/f1/b/gone.png: dangling symbolic link (its target does "
              "not exist)");
    snprintf(cmd, sizeof cmd, "rm '%s/f1/b/gone.png' && ln -s loop.png '%s/f1/b/loop.png'", T, T);
    sh(cmd);
    stage_err(st, "stage 'f' (data.folder): $T/f1/b/loop.png: symbolic link loop");
    /* a class folder that is a loop */
    snprintf(cmd, sizeof cmd, "rm '%s/f1/b/loop.png' && ln -s c '%s/f1/c'", T, T);
    sh(cmd);
    stage_err(st, "stage 'f' (data.folder): $T/f1/c: symbolic link loop");
    /* data.segmentation walks folders the same way */
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/seg1' && ln -s nowhere '%s/seg1/gone'", T, T);
    sh(cmd);
    snprintf(st, sizeof st, "  - {id: s, use: data.segmentation, with: {root: '%s/seg1', num_classes: 2}}\n", T);
    stage_err(st, "stage 's' (data.segmentation): $T/seg1/gone: dangling symbolic link (its target does not exist)");
}

/* ---- images --------------------------------------------------------------------- */

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void img_err(const char *path, const char *want) {
    uint8_t *px = NULL;
    int w, h, c;
    rp_error err;
    rp_error_clear(&err);
    if (rp_image_load(path, 3, &px, &w, &h, &c, &err) == RP_OK) {
        free(px);
        fail_msg("%s decoded", path);
    }
    pin(err.msg, want);
}

static void test_png_integrity_and_reasons(void **state) {
    (void)state;
    uint8_t pix[8 * 8 * 3];
    for (size_t i = 0; i < sizeof pix; i++)
        pix[i] = (uint8_t)(i * 7);
    char p[800];
    snprintf(p, sizeof p, "%s/ok.png", T);
    assert_true(stbi_write_png(p, 8, 8, 3, pix, 8 * 3));
    uint8_t *px;
    int w, h, c;
    rp_error err;
    char *pngc;
    size_t plen;
    RP_ASSERT_OK(rp_read_file(p, &pngc, &plen, &err), &err);
    uint8_t *png = (uint8_t *)pngc;
    int len = (int)plen;
    RP_ASSERT_OK(rp_image_load(p, 3, &px, &w, &h, &c, &err), &err);
    free(px);
    /* find IDAT */
    size_t o = 8;
    while (memcmp(png + o + 4, "IDAT", 4))
        o += 12 + rd32(png + o);
    uint32_t dl = rd32(png + o);
    /* a flipped byte inside IDAT: the chunk's CRC-32 no longer matches */
    uint8_t *bad = malloc((size_t)len);
    memcpy(bad, png, (size_t)len);
    bad[o + 8 + dl - 1] ^= 0x01;
    snprintf(p, sizeof p, "%s/crc.png", T);
    put(p, bad, (size_t)len);
    char want[900];
    snprintf(want, sizeof want,
             "$T/crc.png: cannot decode image: PNG chunk 'IDAT' at byte %zu fails its "
             "CRC-32 check",
             o);
    img_err(p, want);
    /* the same byte with a recomputed CRC: only the zlib Adler-32 catches it */
    uint32_t crc = (uint32_t)crc32(0L, bad + o + 4, dl + 4);
    be32(bad + o + 8 + dl, crc);
    snprintf(p, sizeof p, "%s/adler.png", T);
    put(p, bad, (size_t)len);
    img_err(p, "$T/adler.png: cannot decode image: PNG image data is corrupt (zlib: incorrect data "
               "check)");
    free(bad);
    free(png);
    /* a truncated JPEG named .png: reported as the JPEG it is */
    char *jpg;
    size_t jl;
    snprintf(p, sizeof p, "%s/datasets/fixtures/pacs/photo/dog/pic_014.jpg", rp_test_abs_src());
    RP_ASSERT_OK(rp_read_file(p, &jpg, &jl, &err), &err);
    snprintf(p, sizeof p, "%s/photo.png", T);
    put(p, jpg, 200);
    free(jpg);
    img_err(p, "$T/photo.png: cannot decode image: corrupt or truncated JPEG data");
    assert_int_equal(rp_image_info(p, &w, &h, &c, &err), RP_OK); /* the header alone is fine */
    /* a 12000 x 12000 header over a few bytes of data: refused before stb
     * allocates the image; and a header beyond the pixel cap */
    {
        uint8_t z[64];
        uLongf zl = sizeof z;
        uint8_t raw[2] = {0, 0};
        assert_int_equal(compress(z, &zl, raw, 2), Z_OK);
        uint8_t f[128];
        size_t o2 = 0;
        memcpy(f, "\x89PNG\r\n\x1a\n", 8), o2 = 8;
        uint8_t ihdr[17] = {'I', 'H', 'D', 'R'};
        be32(ihdr + 4, 12000), be32(ihdr + 8, 12000), ihdr[12] = 8, ihdr[13] = 0;
        be32(f + o2, 13), memcpy(f + o2 + 4, ihdr, 17), be32(f + o2 + 21, (uint32_t)crc32(0L, ihdr, 17)), o2 += 25;
        uint8_t idat[80];
        memcpy(idat, "IDAT", 4), memcpy(idat + 4, z, zl);
        be32(f + o2, (uint32_t)zl), memcpy(f + o2 + 4, idat, 4 + zl);
        be32(f + o2 + 8 + zl, (uint32_t)crc32(0L, idat, 4 + (uInt)zl)), o2 += 12 + zl;
        be32(f + o2, 0), memcpy(f + o2 + 4, "IEND", 4), be32(f + o2 + 8, (uint32_t)crc32(0L, (const Bytef *)"IEND", 4));
        o2 += 12;
        snprintf(p, sizeof p, "%s/bomb.png", T);
        put(p, f, o2);
        img_err(p, "$T/bomb.png: image too large: 12000x12000 pixels (at most 134217728)");
        be32(ihdr + 4, 4000), be32(ihdr + 8, 3000);
        be32(f + 8 + 4 + 4, 4000), be32(f + 8 + 4 + 8, 3000);
        be32(f + 8 + 21, (uint32_t)crc32(0L, ihdr, 17));
        put(p, f, o2);
        img_err(p, "$T/bomb.png: cannot decode image: PNG header declares 4000x3000 pixels (12003000 bytes of "
                   "image data) but the file holds 2");
    }
    /* a directory */
    img_err(T, "$T: is a directory, not an image");
}

#define PUT_LIT(path, lit) put(path, lit, sizeof lit - 1)

/* Binary PNM: grey and RGB with maxval 255 decode to their samples; other
 * maxvals (stb_image reads 16-bit samples in the wrong byte order), a file
 * shorter than its header declares and formats without a signature are
 * refused. */
static void test_pnm_and_unsniffed(void **state) {
    (void)state;
    char p[800];
    uint8_t *px;
    int w, h, c;
    rp_error err;
    snprintf(p, sizeof p, "%s/g.pgm", T);
    PUT_LIT(p, "P5\n# a comment\n3 2\n255\n\x00\x10\x20\x30\x40\xff");
    RP_ASSERT_OK(rp_image_load(p, 1, &px, &w, &h, &c, &err), &err);
    assert_int_equal(w, 3), assert_int_equal(h, 2), assert_int_equal(c, 1);
    assert_memory_equal(px, "\x00\x10\x20\x30\x40\xff", 6);
    free(px);
    snprintf(p, sizeof p, "%s/rgb.ppm", T);
    PUT_LIT(p, "P6 1 1 255\n\xff\x80\x01");
    RP_ASSERT_OK(rp_image_load(p, 3, &px, &w, &h, &c, &err), &err);
    assert_int_equal(w, 1), assert_int_equal(c, 3);
    assert_memory_equal(px, "\xff\x80\x01", 3);
    free(px);
    PUT_LIT(p, "P6 2 1 255\n\xff\x80\x01\x02\x03");
    img_err(p, "$T/rgb.ppm: cannot decode image: PNM header declares 2x1 pixels (6 bytes of "
               "samples) but the file holds 5");
    PUT_LIT(p, "P6 1 1 65535\n\xff\xff\x80\x00\x12\x34");
    img_err(p, "$T/rgb.ppm: cannot decode image: PNM maxval 65535 (only 255, 8-bit samples, is "
               "read)");
    PUT_LIT(p, "P6 1\n");
    img_err(p, "$T/rgb.ppm: cannot decode image: PNM header has no height");
    /* a TGA (no signature): stb_image would guess it; refused */
    snprintf(p, sizeof p, "%s/a.tga", T);
    uint8_t tga[18 + 3] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 24, 0, 1, 2, 3};
    put(p, tga, sizeof tga);
    img_err(p, "$T/a.tga: cannot decode image: not a JPEG, PNG, BMP, GIF or binary PNM (P5/P6) "
               "file (starts with bytes 00 00 02 00)");
    assert_int_not_equal(rp_image_info(p, &w, &h, &c, &err), RP_OK);
}

/* A 3x2 8-bit palette BMP (bottom-up rows of 4 bytes) with a palette of
 * `pal` entries and pixel indices idx[6]; `cut` bytes taken off the end. */
static size_t bmp8(uint8_t *f, int pal, const uint8_t idx[6], size_t cut) {
    const uint32_t off = 14 + 40 + 4 * (uint32_t)pal, size = off + 2 * 4;
    memset(f, 0, size);
    f[0] = 'B', f[1] = 'M';
    f[2] = (uint8_t)size, f[10] = (uint8_t)off, f[14] = 40;
    f[18] = 3, f[22] = 2, f[26] = 1, f[28] = 8, f[46] = (uint8_t)pal;
    for (int i = 0; i < pal; i++) /* B, G, R, 0: grey levels 10, 20, ... */
        f[54 + 4 * i] = f[55 + 4 * i] = f[56 + 4 * i] = (uint8_t)(10 * (i + 1));
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++) f[off + 4 * y + x] = idx[3 * y + x];
    return size - cut;
}

/* BMP: palette images decode through their palette; pixel rows missing
 * from the file and colour indices outside the palette are refused (stb_image
 * would read zeros and an uninitialised palette). */
static void test_bmp_rows_and_palette(void **state) {
    (void)state;
    char p[800];
    uint8_t f[128], *px;
    int w, h, c;
    rp_error err;
    const uint8_t ok[6] = {0, 1, 2, 3, 2, 1};
    snprintf(p, sizeof p, "%s/pal.bmp", T);
    put(p, f, bmp8(f, 4, ok, 0));
    RP_ASSERT_OK(rp_image_load(p, 1, &px, &w, &h, &c, &err), &err);
    assert_int_equal(w, 3), assert_int_equal(h, 2);
    /* bottom-up: the file's first row is the image's last */
    assert_memory_equal(px, "\x28\x1e\x14\x0a\x14\x1e", 6);
    free(px);
    put(p, f, bmp8(f, 4, ok, 3));
    img_err(p, "$T/pal.bmp: cannot decode image: BMP header declares 3x2 pixels at 8 bits from "
               "byte 70 (78 bytes) but the file holds 75");
    const uint8_t bad[6] = {0, 1, 2, 3, 9, 1};
    put(p, f, bmp8(f, 4, bad, 0));
    img_err(p, "$T/pal.bmp: cannot decode image: BMP pixel 1 of row 1 uses colour 9 but the "
               "palette has 4");
    /* a 24-bit BMP as stb_image_write makes it */
    uint8_t rgb[3 * 2 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 11);
    snprintf(p, sizeof p, "%s/rgb.bmp", T);
    assert_true(stbi_write_bmp(p, 3, 2, 3, rgb));
    RP_ASSERT_OK(rp_image_load(p, 3, &px, &w, &h, &c, &err), &err);
    assert_memory_equal(px, rgb, sizeof rgb);
    free(px);
}

/* CSV errors and sample names give the line of the file where the record
 * starts: the header is line 1, blank lines and quoted fields spanning lines
 * count, CRLF ends a line like LF. */
/* classes: the `classes` list's items ("" = none) */
static int csv_try(const char *body, size_t n, const char *classes, rp_dataset **ds, rp_error *err) {
    char csv[900], y[3000];
    snprintf(csv, sizeof csv, "%s/lines/list.csv", T);
    put(csv, body, n);
    snprintf(y, sizeof y,
             "{file: '%s', root: '', path_column: path, label_column: label, domain_column: '', "
             "split_column: '', classes: [%s], channels: 3, resize: none, size: 0, cache_mb: 1, "
             "on_error: fail, allow_outside_root: false}",
             csv, classes);
    rp_node *p = NULL;
    RP_ASSERT_OK(rp_node_parse_string(y, "<params>", &p, err), err);
    uint64_t skipped = 0;
    *ds = NULL;
    int st = csv_load(p, 1, ds, &skipped, err);
    rp_node_free(p);
    return st;
}

static void csv_line_err(const char *body, const char *classes, const char *want) {
    rp_dataset *ds;
    rp_error err;
    if (!csv_try(body, strlen(body), classes, &ds, &err)) fail_msg("accepted:\n%s", body);
    pin(err.msg, want);
}

static void test_csv_lines(void **state) {
    (void)state;
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/lines/img' && cp '%s/datasets/fixtures/pacs/photo/dog/pic_014.jpg' "
             "'%s/lines/img/a.jpg'",
             T, rp_test_abs_src(), T);
    sh(cmd);
    /* blank lines and a quoted field over two lines before the bad record */
    csv_line_err("path,label,note\n\nimg/a.jpg,dog,x\n\"img/\na.jpg\",cat,y\n\n   \nimg/a.jpg,-1,z\n", "",
                 "$T/lines/list.csv: line 8: label '-1' is negative (a label is a class name or an "
                 "id 0..99999)");
    /* a multi-line note: the record's first line is named */
    csv_line_err("path,label,note\nimg/a.jpg,dog,\"one\ntwo\nthree\"\nimg/a.jpg,zebra,\"x\ny\"\n",
                 "dog, cat",
                 "$T/lines/list.csv: line 5: unknown label 'zebra' (classes: dog, cat)");
    /* CRLF line ends */
    csv_line_err("path,label\r\nimg/a.jpg,dog\r\n\r\nimg/a.jpg\r\n", "",
                 "$T/lines/list.csv: line 4: missing label (the record has 1 fields)");
    /* no newline after the last record */
    csv_line_err("path,label\nimg/a.jpg,dog\n\n../b.jpg,cat", "",
                 "$T/lines/list.csv: line 4: image path '../b.jpg' leaves the data root "
                 "'$T/lines' (set 'allow_outside_root: true' to allow it)");
    /* a NUL byte in a record that starts after a multi-line one */
    {
        static const char b[] = "path,label\n\"img/\na.jpg\",dog\nimg/a.jpg,c\0t\n";
        rp_dataset *ds;
        rp_error err;
        if (!csv_try(b, sizeof b - 1, "", &ds, &err)) fail_msg("accepted a NUL");
        pin(err.msg, "$T/lines/list.csv: line 4: field 2 contains a NUL byte");
    }
    /* a decode error and the sample's name give the line too */
    csv_line_err("path,label\nimg/a.jpg,dog\n\n\"img/\nnope.jpg\",cat\n", "",
                 "$T/lines/list.csv: line 4: image '$T/lines/img/\nnope.jpg': cannot open image: No such "
                 "file or directory");
    rp_dataset *ds;
    rp_error err;
    const char *ok = "path,label,note\n\nimg/a.jpg,dog,\"a\nb\"\n\nimg/a.jpg,cat,c\n";
    RP_ASSERT_OK(csv_try(ok, strlen(ok), "", &ds, &err), &err);
    assert_int_equal(ds->size, 2);
    char w[1000];
    assert_true(rp_dataset_where(ds, 0, w, sizeof w));
    pin(w, "list.csv: sample 0 ($T/lines/list.csv: line 3, image '$T/lines/img/a.jpg')");
    assert_true(rp_dataset_where(ds, 1, w, sizeof w));
    pin(w, "list.csv: sample 1 ($T/lines/list.csv: line 6, image '$T/lines/img/a.jpg')");
    rp_dataset_free(ds);
}

/* Segmentation samples are named by their image (and tile): a mask error
 * names the mask file and pixel. */
static void test_segmentation_names(void **state) {
    (void)state;
    char cmd[2000], p[1000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/seg/images' '%s/seg/masks'", T, T);
    sh(cmd);
    uint8_t px[16 * 8 * 3], mk[16 * 8];
    for (int i = 0; i < 16 * 8 * 3; i++) px[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 16 * 8; i++) mk[i] = (uint8_t)(i % 3);
    const char *names[2] = {"a", "b"};
    int widths[2] = {16, 8};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/seg/images/%s.png", T, names[k]);
        assert_true(stbi_write_png(p, widths[k], 8, 3, px, widths[k] * 3));
        snprintf(p, sizeof p, "%s/seg/masks/%s.png", T, names[k]);
        assert_true(stbi_write_png(p, widths[k], 8, 1, mk, widths[k]));
    }
    char y[3000];
    snprintf(y, sizeof y,
             "{root: '%s/seg', image_dir: images, mask_dir: masks, mask_ext: png, num_classes: %d, "
             "class_names: [], size: 0, channels: 3, limit: 0, tile: %d, tile_stride: 0}",
             T, 3, 8);
    rp_node *prm = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_node_parse_string(y, "<params>", &prm, &err), &err);
    rp_dataset *ds = NULL;
    RP_ASSERT_OK(seg_load(prm, &ds, &err), &err);
    rp_node_free(prm);
    assert_int_equal(ds->size, 3); /* a: 2 tiles, b: 1 */
    char w[1200];
    const char *want[3] = {"seg: sample 0 (image '$T/seg/images/a.png', tile 0)",
                           "seg: sample 1 (image '$T/seg/images/a.png', tile 1)",
                           "seg: sample 2 (image '$T/seg/images/b.png')"};
    for (int i = 0; i < 3; i++) {
        assert_true(rp_dataset_where(ds, (uint64_t)i, w, sizeof w));
        pin(w, want[i]);
    }
    rp_dataset_free(ds);
    /* untiled: one sample per image; a class id out of range names the mask and pixel */
    snprintf(y, sizeof y,
             "{root: '%s/seg', image_dir: images, mask_dir: masks, mask_ext: png, num_classes: %d, "
             "class_names: [], size: 8, channels: 3, limit: 0, tile: %d, tile_stride: 0}",
             T, 3, 0);
    RP_ASSERT_OK(rp_node_parse_string(y, "<params>", &prm, &err), &err);
    RP_ASSERT_OK(seg_load(prm, &ds, &err), &err);
    assert_true(rp_dataset_where(ds, 1, w, sizeof w));
    pin(w, "seg: sample 1 (image '$T/seg/images/b.png')");
    rp_dataset_free(ds);
    rp_node_free(prm);
    snprintf(y, sizeof y,
             "{root: '%s/seg', image_dir: images, mask_dir: masks, mask_ext: png, num_classes: %d, "
             "class_names: [], size: 8, channels: 3, limit: 0, tile: %d, tile_stride: 0}",
             T, 2, 0);
    RP_ASSERT_OK(rp_node_parse_string(y, "<params>", &prm, &err), &err);
    assert_int_equal(seg_load(prm, &ds, &err), RP_ERR_FORMAT);
    pin(err.msg, "$T/seg/masks/a.png: pixel (x 2, y 0) has class 2, outside [0, 2)");
    rp_node_free(prm);
}

/* Shape errors in the loader name the CSV row and the image, not "batch 0:
 * sample 1". */
static void test_loader_names_the_record(void **state) {
    (void)state;
    imglist l = {0};
    rp_error err;
    char a[900], b[900];
    snprintf(a, sizeof a, "%s/datasets/fixtures/folder/train/circle/circle_0.png",
             rp_test_abs_src());
    snprintf(b, sizeof b, "%s/datasets/fixtures/pacs/photo/dog/pic_014.jpg", rp_test_abs_src());
    RP_ASSERT_OK(imglist_add(&l, a, 0, -1, "list.csv: line 2", &err), &err);
    RP_ASSERT_OK(imglist_add(&l, b, 1, -1, "list.csv: line 3", &err), &err);
    imglist_opts o = {.channels = 3, .resize = "none", .size = 0, .cache_mb = 64, .threads = 1};
    rp_dataset *ds;
    uint64_t skipped;
    RP_ASSERT_OK(imglist_dataset(&l, &o, "list.csv", 2, NULL, &ds, &skipped, &err), &err);
    struct rp_loader_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.batch_size = 2;
    lo.prefetch = 1;
    rp_loader *ld;
    RP_ASSERT_OK(rp_loader_new(ds, &lo, &ld, &err), &err);
    RP_ASSERT_OK(rp_loader_start(ld, 0, &err), &err);
    rp_batch *bt;
    assert_int_equal(rp_loader_next(ld, &bt, &err), RP_ERR_FORMAT);
    pin(err.msg, "list.csv: sample 1 (list.csv: line 3, image "
                 "'$S/datasets/fixtures/pacs/photo/dog/pic_014.jpg') "
                 "has shape [3, 16, 16] but list.csv: sample 0 (list.csv: line 2, image "
                 "'$S/datasets/fixtures/folder/train/circle/circle_0.png') (first of batch 0) has "
                 "[3, 16, 20]; "
                 "resize or crop to one size");
    rp_loader_free(ld);
    rp_dataset_free(ds);
}

int main(void) {
    snprintf(T, sizeof T, "%s", rp_test_tmpdir());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_sizes_before_allocating),
        cmocka_unit_test(test_cifar_gzip_junk),
        cmocka_unit_test(test_csv_hostile),
        cmocka_unit_test(test_csv_lines),
        cmocka_unit_test(test_segmentation_names),
        cmocka_unit_test(test_folder_links),
        cmocka_unit_test(test_png_integrity_and_reasons),
        cmocka_unit_test(test_pnm_and_unsniffed),
        cmocka_unit_test(test_bmp_rows_and_palette),
        cmocka_unit_test(test_loader_names_the_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
