/* openimages.crop: the helpers (ImageID, pixel box, fit, corner median,
 * manifest paths), the stage on the committed fixture through the real binary
 * (counts, layout, datasets, byte-identical output for 1 and 2 threads,
 * resume), and every bad input with its pinned message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../plugins/openimages/oi.h"
#include "../../harness.h"

/* ---- helpers ------------------------------------------------------------------ */

static void test_image_id(void **state) {
    (void)state;
    uint64_t id = 0;
    assert_int_equal(oi_parse_image_id("000a1249af2bc5f0", &id), 0);
    assert_true(id == 0x000a1249af2bc5f0ull);
    char buf[17];
    oi_format_image_id(id, buf);
    assert_string_equal(buf, "000a1249af2bc5f0");
    assert_int_not_equal(oi_parse_image_id("000a1249af2bc5f", &id), 0);   /* 15 */
    assert_int_not_equal(oi_parse_image_id("000a1249af2bc5f00", &id), 0); /* 17 */
    assert_int_not_equal(oi_parse_image_id("000A1249AF2BC5F0", &id), 0);  /* upper case */
    assert_int_not_equal(oi_parse_image_id("../../etc/passwd", &id), 0);  /* 16 chars */
    assert_int_not_equal(oi_parse_image_id("", &id), 0);
}

static void test_geometry(void **state) {
    (void)state;
    oi_box b = {.x0 = 0.25, .x1 = 0.501, .y0 = 0.1, .y1 = 1.0};
    int l, t, w, h;
    oi_box_pixels(&b, 100, 50, &l, &t, &w, &h);
    /* floor(25) .. ceil(50.1) = 51; floor(5) .. 50 */
    assert_int_equal(l, 25);
    assert_int_equal(w, 26);
    assert_int_equal(t, 5);
    assert_int_equal(h, 45);
    int rw, rh;
    oi_fit_size(490, 180, 224, &rw, &rh); /* ratio 224/490: 180 * 0.457 = 82.3 */
    assert_int_equal(rw, 224);
    assert_int_equal(rh, 82);
    oi_fit_size(10, 40, 224, &rw, &rh); /* enlarged: 56 x 224 */
    assert_int_equal(rw, 56);
    assert_int_equal(rh, 224);
    oi_fit_size(1000, 1, 224, &rw, &rh); /* never 0 */
    assert_int_equal(rh, 1);
}

static void test_corner_median(void **state) {
    (void)state;
    enum { W = 6, H = 5 };
    uint8_t img[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        img[i] = 200;
    /* crop (1,1)-(4,3) of 4x3: corners (1,1) (4,1) (1,3) (4,3) */
    const int cx[4] = {1, 4, 1, 4}, cy[4] = {1, 1, 3, 3};
    const uint8_t r[4] = {10, 20, 30, 250};
    for (int q = 0; q < 4; q++) {
        uint8_t *p = img + (cy[q] * W + cx[q]) * 3;
        p[0] = r[q];
        p[1] = (uint8_t)(r[q] + 1);
        p[2] = 7;
    }
    uint8_t bg[3];
    oi_corner_median(img, W, 1, 1, 4, 3, 1, bg);
    assert_int_equal(bg[0], 25); /* (20 + 30 + 1) / 2 */
    assert_int_equal(bg[1], 26);
    assert_int_equal(bg[2], 7);
    /* k = 2: 16 values, 12 of them 200 */
    oi_corner_median(img, W, 1, 1, 4, 3, 2, bg);
    assert_int_equal(bg[0], 200);
    /* render: the resized crop lands at (px, py), the rest is the background */
    uint8_t canvas[8 * 8 * 3];
    oi_render_buf rb = {0};
    rp_error err;
    const uint8_t gb[3] = {1, 2, 3};
    RP_ASSERT_OK(
        oi_render(img, W, 1, 1, 4, 3, 4, 3, OI_FILTER_AUTO, gb, 8, 3, 5, canvas, &rb, &err), &err);
    assert_memory_equal(canvas, gb, 3);
    assert_int_equal(canvas[(5 * 8 + 3) * 3], 10); /* the crop's top-left pixel */
    assert_int_equal(canvas[(7 * 8 + 6) * 3], 250);
    oi_render_buf_release(&rb);
}

static void test_manifest_paths(void **state) {
    (void)state;
    char f[600];
    assert_int_equal(oi_manifest_file("train/person/000a1249af2bc5f0_3.jpg,x,y", f, sizeof f), 0);
    assert_string_equal(f, "train/person/000a1249af2bc5f0_3.jpg");
    assert_int_not_equal(oi_manifest_file("../x/000a1249af2bc5f0_3.jpg,", f, sizeof f), 0);
    assert_int_not_equal(oi_manifest_file("train/../000a1249af2bc5f0_3.jpg,", f, sizeof f), 0);
    assert_int_not_equal(oi_manifest_file("train/p/../../etc/passwd_1.jpg,", f, sizeof f), 0);
    assert_int_not_equal(oi_manifest_file("/etc/person/000a1249af2bc5f0_3.jpg,", f, sizeof f), 0);
    assert_int_not_equal(oi_manifest_file("train/person/000a1249af2bc5f0_3.jpg.sh,", f, sizeof f),
                         0);
}

/* ---- the stage through the binary ---------------------------------------------------- */

#define FIX "%S/datasets/fixtures/openimages"
#define FIXF "%%S/datasets/fixtures/openimages" /* inside a format */
#define GROUPS                                                                                     \
    "{person: [Person, Man, Woman], animal: [Dog, Cat, Bird], object: [Car, Chair, Bottle]}"

static int run(const char *stages, const char *tag, const char *extra, char *log_text, size_t n) {
    const char *dir = rp_test_tmpdir();
    char file[64], log[800], args[3000];
    snprintf(file, sizeof file, "%s.yaml", tag);
    snprintf(log, sizeof log, "%s/%s.log", dir, tag);
    const char *path = rp_test_write_pipeline(dir, file, "name: oitest\nseed: 3\n", stages);
    snprintf(args, sizeof args, "run '%s' --out '%s/run_%s' %s", path, dir, tag,
             extra ? extra : "");
    return rp_test_runpipe(args, log, log_text, n);
}

static char logbuf[40000];

static void expect(const char *stages, const char *extra, int code, const char *n1,
                   const char *n2) {
    static int k;
    char tag[32];
    snprintf(tag, sizeof tag, "p%d", k++);
    int rc = run(stages, tag, extra, logbuf, sizeof logbuf);
    if (rc != code) fail_msg("exit %d, expected %d:\n%s\n---\n%s", rc, code, stages, logbuf);
    if (n1 && !strstr(logbuf, n1)) fail_msg("output lacks '%s':\n%s", n1, logbuf);
    if (n2 && !strstr(logbuf, n2)) fail_msg("output lacks '%s':\n%s", n2, logbuf);
}

/* A crop stage on the fixture's images with `boxes` (path) and extra params. */
static void crop_stage(char *buf, size_t n, const char *boxes, const char *more) {
    snprintf(buf, n,
             "  - id: crops\n"
             "    use: openimages.crop\n"
             "    with:\n"
             "      images: '" FIXF "/images'\n"
             "      boxes: '%s'\n"
             "      classes: '" FIXF "/class-descriptions-boxable.csv'\n"
             "      groups: " GROUPS "\n"
             "      size: 32\n"
             "      min_size: 8\n"
             "%s",
             boxes, more ? more : "");
}

#define ROW(id, lab, x0, x1)                                                                       \
    id ",xclick," lab ",1," x0 "," x1 ",0.1,0.9,0,0,0,0,0,-1,-1,-1,-1,-1,-1,-1,-1\n"
/* 4 boxes per group on 12 photos; split 2:2 per group (SPLIT) */
#define GOOD                                                                                       \
    ROW("000a1249af2bc5f0", "/m/01g317", "0.1", "0.9")                                             \
    ROW("0012ab34cd56ef78", "/m/0bt9lr", "0.1", "0.9")                                             \
        ROW("00ff00ff00ff00ff", "/m/0k4j", "0.1", "0.9")                                           \
            ROW("01a2b3c4d5e6f708", "/m/01g317", "0.1", "0.9")                                     \
                ROW("02b1c0ffee15600d", "/m/0bt9lr", "0.1", "0.9")                                 \
                    ROW("0301a1b2c3d4e5f6", "/m/0k4j", "0.1", "0.9")                               \
                        ROW("04aa55aa55aa55aa", "/m/04yx4", "0.1", "0.9")                          \
                            ROW("05f00dbabe123456", "/m/01yrx", "0.1", "0.9")                      \
                                ROW("06c0ffee00000001", "/m/01mzpv", "0.1", "0.9")                 \
                                    ROW("07d1ce5a11e9c0de", "/m/03bt1vf", "0.1", "0.9")            \
                                        ROW("08badcab1e000042", "/m/015p6", "0.1", "0.9")          \
                                            ROW("09e1e2e3e4e5e6e7", "/m/04dr76w", "0.1", "0.9")
#define SPLIT "      val: 0.5\n      split_by: box\n"

static void test_fixture(void **state) {
    (void)state;
    char t[600]; /* rp_test_tmpdir's buffers rotate */
    snprintf(t, sizeof t, "%s", rp_test_tmpdir());
    char st[4000], more[800];
    snprintf(more, sizeof more, "      out: '%s/crops1'\n", t);
    crop_stage(st, sizeof st, FIX "/oidv6-train-annotations-bbox.csv", more);
    strcat(st, "  - {id: look, use: inspect.dataset, in: {data: crops.val}}\n");
    /* 30 rows: 28 boxes of chosen classes, 1 IsGroupOf (excluded), 1 too small */
    expect(st, "--threads 1", 0, "27 crops from 12 images (27 written", "1 too small (min_size 8)");
    assert_non_null(strstr(logbuf, "1 excluded"));
    assert_non_null(strstr(logbuf, "train: 23 images"));
    assert_non_null(strstr(logbuf, "val: 4 samples, 3 classes"));
    /* 27 rows + header in the manifest; its first crop is a 32x32 JPEG */
    char p[1000], *man;
    size_t len;
    rp_error err;
    snprintf(p, sizeof p, "%s/crops1/manifest.csv", t);
    RP_ASSERT_OK(rp_read_file(p, &man, &len, &err), &err);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += man[i] == '\n';
    assert_int_equal(lines, 28);
    assert_true(!strncmp(man, "file,ImageID,n,LabelName,class,group,split,", 43));
    char *row = strchr(man, '\n') + 1;
    *strchr(row, ',') = 0;
    char first[300];
    snprintf(first, sizeof first, "%s", row);
    snprintf(p, sizeof p, "%s/crops1/%s", t, first);
    free(man);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    uint8_t *px;
    int w, h;
    RP_ASSERT_OK(oi_image_decode(p, &px, &w, &h, &err), &err);
    assert_int_equal(w, 32);
    assert_int_equal(h, 32);
    free(px);
    /* the same with 2 threads into another folder: byte-identical files (the
     * params file differs by its `out:`) */
    snprintf(more, sizeof more, "      out: '%s/crops2'\n", t);
    crop_stage(st, sizeof st, FIX "/oidv6-train-annotations-bbox.csv", more);
    expect(st, "--threads 2", 0, "27 crops from 12 images (27 written", NULL);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "diff -r -x manifest.params '%s/crops1' '%s/crops2' > /dev/null", t,
             t);
    assert_int_equal(system(cmd), 0);
    /* a re-run skips what the manifest lists; a deleted crop is written again */
    expect(st, NULL, 0, "27 crops from 12 images (0 written", "27 already there");
    snprintf(p, sizeof p, "%s/crops2/%s", t, first);
    assert_int_equal(unlink(p), 0);
    expect(st, NULL, 0, "(1 written", "26 already there");
    assert_int_equal(system(cmd), 0);
    /* other parameters: everything is written again, stale crops removed */
    snprintf(more, sizeof more, "      out: '%s/crops2'\n      max_per_group: 6\n" SPLIT, t);
    crop_stage(st, sizeof st, FIX "/oidv6-train-annotations-bbox.csv", more);
    expect(st, NULL, 0, "18 crops from 12 images (18 written", "18 stale removed");
    assert_non_null(strstr(logbuf, "9 over the cap"));
    assert_non_null(strstr(logbuf, "  animal           train      3  val      3"));
    snprintf(cmd, sizeof cmd, "test $(find '%s/crops2' -name '*.jpg' | wc -l) = 18", t);
    assert_int_equal(system(cmd), 0);
}

/* Box CSV = the fixture's header + `rows`. */
static const char *boxes_file(const char *name, const char *rows) {
    static char path[800];
    snprintf(path, sizeof path, "%s/%s", rp_test_tmpdir(), name);
    char text[4000];
    snprintf(text, sizeof text,
             "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,"
             "IsGroupOf,IsDepiction,IsInside,XClick1X,XClick2X,XClick3X,XClick4X,XClick1Y,"
             "XClick2Y,XClick3Y,XClick4Y\n%s",
             rows);
    rp_test_write(path, text);
    return path;
}

static void test_bad_rows(void **state) {
    (void)state;
    char st[4000];
    const char *b = boxes_file("few.csv", GOOD "000a1249af2bc5f0,xclick,/m/01g317,1,0.1\n");
    crop_stage(st, sizeof st, b, NULL);
    expect(st, NULL, 1, "few.csv:14: 5 fields, expected 21 as in the header", NULL);
    b = boxes_file("range.csv", GOOD ROW("000a1249af2bc5f0", "/m/01g317", "1.5", "0.9"));
    crop_stage(st, sizeof st, b, NULL);
    expect(st, NULL, 1, "range.csv:14: XMin '1.5' is not a number in [0, 1]", NULL);
    b = boxes_file("nan.csv", ROW("000a1249af2bc5f0", "/m/01g317", "0.1", "nan") GOOD);
    crop_stage(st, sizeof st, b, NULL);
    expect(st, NULL, 1, "nan.csv:2: XMax 'nan' is not a number in [0, 1]", NULL);
    b = boxes_file("order.csv", GOOD ROW("000a1249af2bc5f0", "/m/01g317", "0.6", "0.4"));
    crop_stage(st, sizeof st, b, NULL);
    expect(st, NULL, 1, "order.csv:14: XMin 0.6 >= XMax 0.4", NULL);
    b = boxes_file("id.csv", GOOD ROW("../../etc/passwd", "/m/01g317", "0.1", "0.9"));
    crop_stage(st, sizeof st, b, NULL);
    expect(st, NULL, 1, "id.csv:14: ImageID '../../etc/passwd' is not 16 lower-case hex digits",
           NULL);
    /* skip: all four counted, the good rows cropped */
    b = boxes_file("mixed.csv", GOOD "000a1249af2bc5f0,xclick,/m/01g317,1,0.1\n" ROW(
                                    "000a1249af2bc5f0", "/m/01g317", "1.5", "0.9")
                                    ROW("000a1249af2bc5f0", "/m/01g317", "0.6", "0.4")
                                        ROW("../../etc/passwd", "/m/01g317", "0.1", "0.9"));
    crop_stage(st, sizeof st, b, SPLIT "      on_error: skip\n");
    expect(st, NULL, 0, "12 crops from 12 images", "4 bad CSV rows");
    assert_non_null(
        strstr(logbuf, "mixed.csv:15: XMin '1.5' is not a number in [0, 1] (on_error: skip)"));
    /* a header without the needed columns */
    b = boxes_file("hdr.csv", "");
    rp_test_write(b, "ImageID,LabelName,XMin,XMax\n");
    crop_stage(st, sizeof st, b, NULL);
    expect(st, NULL, 1, "hdr.csv:1: no column 'YMin' in the header", NULL);
}

static void test_bad_images(void **state) {
    (void)state;
    char t[600]; /* rp_test_tmpdir's buffers rotate */
    snprintf(t, sizeof t, "%s", rp_test_tmpdir());
    char st[4000], cmd[3000], fixed[4000], skip[4200];
    const char *src = rp_test_abs_src();
    const char *fix = "datasets/fixtures/openimages/images";
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/img' && cp '%s/%s/'*.jpg '%s/img/'", t, src, fix, t);
    assert_int_equal(system(cmd), 0);
    const char *b = boxes_file("imgs.csv", GOOD ROW("01a2b3c4d5e6f708", "/m/01g317", "0.2", "0.9"));
    crop_stage(st, sizeof st, b, SPLIT);
    char *imgs = strstr(st, FIX "/images");
    assert_non_null(imgs);
    snprintf(fixed, sizeof fixed, "%.*s%s/img%s", (int)(imgs - st), st, t,
             imgs + strlen(FIX "/images"));
    snprintf(skip, sizeof skip, "%s      on_error: skip\n", fixed);
    /* missing: named, with the first CSV line of its boxes */
    snprintf(cmd, sizeof cmd, "rm '%s/img/01a2b3c4d5e6f708.jpg'", t);
    assert_int_equal(system(cmd), 0);
    expect(fixed, NULL, 1, "box ", "imgs.csv:5: ");
    assert_non_null(strstr(logbuf, "img/01a2b3c4d5e6f708.jpg: cannot open image: No such file"));
    expect(skip, NULL, 0, "11 crops from 11 images", "2 boxes of 1 missing images");
    /* not an image (4 bytes of a JPEG header) */
    snprintf(cmd, sizeof cmd,
             "cp '%s/%s/01a2b3c4d5e6f708.jpg' '%s/img/' && cp "
             "'%s/tests/fixtures/data/truncated.jpg' '%s/img/00ff00ff00ff00ff.jpg'",
             src, fix, t, src, t);
    assert_int_equal(system(cmd), 0);
    expect(fixed, NULL, 1, "img/00ff00ff00ff00ff.jpg: cannot decode image", NULL);
    expect(skip, NULL, 0, "12 crops from 11 images", "1 boxes of 1 missing images");
    /* header fine, data cut: found when decoding, named, or skipped and counted */
    snprintf(cmd, sizeof cmd,
             "cp '%s/%s/00ff00ff00ff00ff.jpg' '%s/img/' && head -c 900 "
             "'%s/%s/0012ab34cd56ef78.jpg' > '%s/img/0012ab34cd56ef78.jpg'",
             src, fix, t, src, fix, t);
    assert_int_equal(system(cmd), 0);
    expect(fixed, NULL, 1,
           "img/0012ab34cd56ef78.jpg: cannot decode image: Premature end of JPEG file", NULL);
    expect(skip, NULL, 0, "12 crops from 11 images", "1 boxes of 1 missing images");
    assert_non_null(strstr(logbuf, "img/0012ab34cd56ef78.jpg: cannot decode image"));
}

static void test_bad_classes(void **state) {
    (void)state;
    char st[4000];
    crop_stage(st, sizeof st, FIX "/oidv6-train-annotations-bbox.csv", NULL);
    char *g = strstr(st, "[Dog, Cat, Bird]");
    assert_non_null(g);
    memcpy(g, "[Dgo, Cat, Bird]", 16);
    /* line 5 + 6 = stage line 11 holds groups: the list starts at col 15.
     * A check-time error (exit 2): nothing runs. */
    expect(st, NULL, 2,
           ".yaml:11:55: error: stage 'crops' (openimages.crop): 'groups.animal': "
           "unknown class 'Dgo' (did you mean 'Dog'?) in ",
           NULL);
    assert_null(strstr(logbuf, "[1/"));
    /* `runpipe check` says the same */
    const char *dir = rp_test_tmpdir();
    const char *path = rp_test_write_pipeline(dir, "badcls.yaml", "name: oitest\nseed: 3\n", st);
    char args[1200], log[900];
    snprintf(args, sizeof args, "check '%s'", path);
    snprintf(log, sizeof log, "%s/badcls.log", dir);
    assert_int_equal(rp_test_runpipe(args, log, logbuf, sizeof logbuf), 2);
    assert_non_null(strstr(logbuf, "badcls.yaml:11:55: error: stage 'crops' (openimages.crop): "
                                   "'groups.animal': unknown class 'Dgo' (did you mean 'Dog'?)"));
    memcpy(g, "[dog, Cat, Bird]", 16); /* case: suggested */
    expect(st, NULL, 2, "unknown class 'dog' (did you mean 'Dog'?)", NULL);
    memcpy(g, "[Zebra, Cat, Bi]", 16);
    expect(st, NULL, 2, "unknown class 'Zebra': not a display name or MID", NULL);
    memcpy(g, "[/m/01g317, Cat]", 16); /* a MID, already in person */
    expect(st, NULL, 2, "class '/m/01g317' (/m/01g317) is already in group 'person'", NULL);
    /* a group with no crops in val */
    crop_stage(st, sizeof st, FIX "/oidv6-train-annotations-bbox.csv", NULL);
    g = strstr(st, GROUPS);
    char grp[4000];
    snprintf(grp, sizeof grp, "%.*s{person: [Person, Man, Woman], rare: [Horse]}%s", (int)(g - st),
             st, g + strlen(GROUPS));
    expect(grp, NULL, 1, "group 'rare' has no crops in split 'train' (0 train, 0 val;", NULL);
    snprintf(grp, sizeof grp, "%.*s{person: [Person], ../x: [Dog]}%s", (int)(g - st), st,
             g + strlen(GROUPS));
    expect(grp, NULL, 2, "group name '../x' must be letters, digits", NULL);
}

/* split_by: image (the default) keeps every crop of a photo in one split;
 * balance caps every group at the smallest one's count (a seeded choice). */
static void test_split_and_balance(void **state) {
    (void)state;
    char t[600]; /* rp_test_tmpdir's buffers rotate */
    snprintf(t, sizeof t, "%s", rp_test_tmpdir());
    char st[4000], more[800], p[1000];
    snprintf(more, sizeof more, "      out: '%s/byimg'\n      val: 0.5\n", t);
    crop_stage(st, sizeof st, FIX "/oidv6-train-annotations-bbox.csv", more);
    expect(st, NULL, 0, "27 crops from 12 images", NULL);
    /* manifest columns: file, ImageID, n, LabelName, class, group, split */
    snprintf(p, sizeof p, "%s/byimg/manifest.csv", t);
    char *man;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(p, &man, NULL, &err), &err);
    char ids[64][17], splits[64][8];
    int n = 0, multi = 0;
    for (char *line = strchr(man, '\n') + 1; *line && n < 64; line = strchr(line, '\n') + 1) {
        char id[17] = "", sp[8] = "";
        /* class names are quoted and may hold commas: ImageID is field 2, split the
           first train/val field after the quoted class */
        const char *c = strchr(line, ',') + 1;
        snprintf(id, sizeof id, "%.16s", c);
        const char *q = strstr(line, "\",");
        assert_non_null(q);
        q = strchr(q + 2, ',') + 1; /* past the group */
        snprintf(sp, sizeof sp, "%.*s", (int)(strchr(q, ',') - q), q);
        assert_true(!strcmp(sp, "train") || !strcmp(sp, "val"));
        for (int k = 0; k < n; k++)
            if (!strcmp(ids[k], id)) {
                multi++;
                if (strcmp(splits[k], sp)) fail_msg("photo %s in %s and %s", id, splits[k], sp);
            }
        memcpy(ids[n], id, sizeof id);
        memcpy(splits[n], sp, sizeof sp);
        n++;
    }
    free(man);
    assert_int_equal(n, 27);
    assert_true(multi > 0); /* the fixture has photos with several boxes */
    /* balance: every group as large as the smallest */
    snprintf(more, sizeof more, "      out: '%s/bal'\n      balance: true\n" SPLIT, t);
    crop_stage(st, sizeof st, FIX "/oidv6-train-annotations-bbox.csv", more);
    expect(st, NULL, 0, "over the cap", NULL);
    int tr[3], va[3];
    const char *names[3] = {"animal", "object", "person"};
    for (int g = 0; g < 3; g++) {
        char key[64];
        snprintf(key, sizeof key, "  %-16s train ", names[g]);
        const char *l = strstr(logbuf, key);
        if (!l || sscanf(l + strlen(key), "%d val %d", &tr[g], &va[g]) != 2)
            fail_msg("no counts of %s in:\n%s", names[g], logbuf);
    }
    for (int g = 1; g < 3; g++) assert_int_equal(tr[g] + va[g], tr[0] + va[0]);
    snprintf(p, sizeof p, "%d crops from", 3 * (tr[0] + va[0]));
    assert_non_null(strstr(logbuf, p));
}

/* Text of <dir>/<name> (caller frees). */
static char *slurp_in(const char *dir, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *text = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(p, &text, NULL, &err), &err);
    return text;
}

/* The crop folder is a stage-cache artifact: a second run of the same
 * pipeline restores it (and makes the datasets again from it), a changed
 * parameter or a changed box CSV misses. */
static void test_cache(void **state) {
    (void)state;
    char t[600]; /* rp_test_tmpdir's buffers rotate */
    snprintf(t, sizeof t, "%s", rp_test_tmpdir());
    char cmd[3000], boxes[800], st[4000], more[800], extra[800];
    snprintf(boxes, sizeof boxes, "%s/cached-boxes.csv", t);
    snprintf(cmd, sizeof cmd, "cp '%s/datasets/fixtures/openimages/oidv6-train-annotations-bbox.csv' '%s'",
             rp_test_abs_src(), boxes);
    assert_int_equal(system(cmd), 0);
    snprintf(extra, sizeof extra, "--cache '%s/cache'", t);
    const char *look = "  - {id: look, use: inspect.dataset, in: {data: crops.val}}\n";
    static const char *const tags[4] = {"c0", "c1", "c2", "c3"};
    for (int k = 0; k < 4; k++) {
        /* run 2: changed quality; run 3: the box CSV has one more row (of
         * a class no group takes: the same crops, but another file) */
        snprintf(more, sizeof more, "      quality: %d\n", k == 2 ? 90 : 95);
        if (k == 3) {
            FILE *f = fopen(boxes, "a");
            assert_non_null(f);
            fputs(ROW("000a1249af2bc5f0", "/m/011k07", "0.1", "0.9"), f);
            fclose(f);
        }
        crop_stage(st, sizeof st, boxes, more);
        strcat(st, look);
        char file[64], log[900], args[2400];
        snprintf(file, sizeof file, "%s.yaml", tags[k]);
        snprintf(log, sizeof log, "%s/%s.log", t, tags[k]);
        const char *path = rp_test_write_pipeline(t, file, "name: oitest\nseed: 3\n", st);
        snprintf(args, sizeof args, "run '%s' --out '%s/run_%s' %s", path, t, tags[k], extra);
        int rc = rp_test_runpipe(args, log, logbuf, sizeof logbuf);
        if (rc) fail_msg("run %d failed:\n%s", k, logbuf);
        const char *want = k == 1 ? "crops (openimages.crop): cache hit" : "crops (openimages.crop): cache miss";
        if (!strstr(logbuf, want)) fail_msg("run %d: no '%s' in\n%s", k, want, logbuf);
        /* restored or not, the datasets are the same */
        assert_non_null(strstr(logbuf, "val: 4 samples, 3 classes"));
        if (k == 1) assert_null(strstr(logbuf, "crops from 12 images")); /* nothing cropped */
        char run_dir[800];
        snprintf(run_dir, sizeof run_dir, "%s/run_%s", t, tags[k]);
        char *man = slurp_in(run_dir, "manifest.json");
        assert_non_null(strstr(man, k == 1 ? "\"cache\":\t\"hit\"" : "\"cache\":\t\"miss\""));
        free(man);
    }
    /* the restored folder is the written one, byte for byte */
    snprintf(cmd, sizeof cmd, "diff -r '%s/run_c0/crops' '%s/run_c1/crops' > /dev/null", t, t);
    assert_int_equal(system(cmd), 0);
    char *m = slurp_in(t, "run_c1/crops/manifest.csv");
    int lines = 0;
    for (char *c = m; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 28);
    free(m);
    /* a fixed `out:` outside the run: used as it is, not cached (warned) */
    snprintf(more, sizeof more, "      out: '%s/fixed'\n", t);
    crop_stage(st, sizeof st, boxes, more);
    expect(st, extra, 0, "not stored in the stage cache: output 'folder'", "is outside the stage folder");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_id),      cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_corner_median), cmocka_unit_test(test_manifest_paths),
        cmocka_unit_test(test_fixture),       cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_bad_images),    cmocka_unit_test(test_bad_classes),
        cmocka_unit_test(test_split_and_balance), cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
