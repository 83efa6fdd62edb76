/* Dataset stages through the real binary on the committed fixtures: good
 * sets load (counts in the log), bad inputs give errors naming the file and
 * row (exit 1), on_error: skip counts what it skipped, data.synthetic is a
 * pure function of the seed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../harness.h"

/* Run a pipeline made of `stages` (YAML list items, %S = source root);
 * returns the exit code, output in log_text. */
static const char *run_dir(void) {
    static char d[700];
    if (!d[0]) snprintf(d, sizeof d, "%s", rp_test_tmpdir());
    return d;
}

static int run_stages(const char *stages, const char *tag, char *log_text, size_t n) {
    const char *dir = run_dir();
    char file[64], log[800], args[2000];
    snprintf(file, sizeof file, "%s.yaml", tag);
    snprintf(log, sizeof log, "%s/%s.log", dir, tag);
    const char *path = rp_test_write_pipeline(dir, file, "name: dstest\nseed: 11\n", stages);
    snprintf(args, sizeof args, "run '%s' --out '%s/run_%s'", path, dir, tag);
    return rp_test_runpipe(args, log, log_text, n);
}

static void expect(const char *stages, int code, const char *n1, const char *n2) {
    static char log[20000];
    static int k;
    char tag[32];
    snprintf(tag, sizeof tag, "p%d", k++);
    int rc = run_stages(stages, tag, log, sizeof log);
    if (rc != code) fail_msg("exit %d, expected %d:\n%s\n---\n%s", rc, code, stages, log);
    if (n1 && !strstr(log, n1)) fail_msg("output lacks '%s':\n%s", n1, log);
    if (n2 && !strstr(log, n2)) fail_msg("output lacks '%s':\n%s", n2, log);
}

static void test_real_formats(void **state) {
    (void)state;
    expect("  - {id: a, use: data.idx, with: {dir: '%S/datasets/fixtures/fashion-mnist', limit: 12}}\n",
           0, "fashion_mnist/train: 12 images 28x28", "fashion_mnist/test: 10 images");
    expect("  - {id: a, use: data.idx, with: {dir: '%S/datasets/fixtures/mnist'}}\n", 0,
           "mnist/train: 20 images", NULL);
    expect("  - {id: a, use: data.cifar10, with: {dir: '%S/datasets/fixtures/cifar-10-batches-bin'}}\n",
           0, "cifar10/train: 10 images", "cifar10/test: 4 images");
    expect("  - {id: a, use: data.cifar100, with: {dir: '%S/datasets/fixtures/cifar-100-binary', "
           "labels: coarse}}\n",
           0, "cifar100/train: 6 images", NULL);
    /* a folder that is not there: found by the check (exit 2) */
    expect("  - {id: a, use: data.idx, with: {dir: '%S/datasets/fixtures/nothing-here'}}\n", 2,
           "datasets/fixtures/nothing-here' does not exist", "1 error");
    /* a folder without the files: the stage's check says which */
    expect("  - {id: a, use: data.idx, with: {dir: '%S/datasets/fixtures/folder'}}\n", 2,
           "folder/train-images-idx3-ubyte: not found", NULL);
}

static void test_folder(void **state) {
    (void)state;
    expect("  - {id: f, use: data.folder, with: {root: '%S/datasets/fixtures/folder/train', resize: "
           "exact, size: 16}}\n",
           0, "train: 9 images", NULL);
    /* explicit classes (subset, fixed order) */
    expect("  - {id: f, use: data.folder, with: {root: '%S/datasets/fixtures/folder/val', classes: "
           "[triangle, circle]}}\n",
           0, "val: 4 images", NULL);
    /* empty class folder, corrupt image (stb's reason), skip mode */
    const char *t = rp_test_tmpdir();
    char d[800], cmd[6000];
    snprintf(d, sizeof d, "%s/imgs", t);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/a' '%s/b' && cp '%s/datasets/fixtures/folder/train/circle/'* '%s/a/'", d, d,
             rp_test_abs_src(), d);
    assert_int_equal(system(cmd), 0);
    char st[2000];
    snprintf(st, sizeof st, "  - {id: f, use: data.folder, with: {root: '%s'}}\n", d);
    expect(st, 1, "imgs/b: empty class folder", NULL);
    snprintf(cmd, sizeof cmd, "cp '%s/tests/fixtures/data/corrupt.png' '%s/b/broken.png'", rp_test_abs_src(), d);
    assert_int_equal(system(cmd), 0);
    expect(st, 1, "b/broken.png", "cannot decode image");
    snprintf(st, sizeof st,
             "  - {id: f, use: data.folder, with: {root: '%s', on_error: skip, classes: [a, b]}}\n", d);
    expect(st, 1, "skipping", "class 'b' has no readable images");
}

static void test_folder_skip_counts(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    char d[800], cmd[12000], st[2000];
    snprintf(d, sizeof d, "%s/imgs2", t);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/a' '%s/b' && cp '%s/datasets/fixtures/folder/train/circle/'* '%s/a/' && "
             "cp '%s/datasets/fixtures/folder/train/square/'* '%s/b/' && cp "
             "'%s/tests/fixtures/data/truncated.jpg' '%s/b/zz.jpg'",
             d, d, rp_test_abs_src(), d, rp_test_abs_src(), d, rp_test_abs_src(), d);
    assert_int_equal(system(cmd), 0);
    snprintf(st, sizeof st, "  - {id: f, use: data.folder, with: {root: '%s', on_error: skip}}\n", d);
    expect(st, 0, "skipping", "6 images");
    snprintf(st, sizeof st, "  - {id: f, use: data.folder, with: {root: '%s'}}\n", d);
    expect(st, 1, "b/zz.jpg", NULL);
}

static void test_csv(void **state) {
    (void)state;
    expect("  - {id: c, use: data.csv, with: {file: '%S/datasets/fixtures/pacs/pacs.csv', "
           "domain_column: domain}}\n"
           "  - {id: f, use: data.filter, in: {data: c}, with: {domains: [sketch], mode: exclude}}\n"
           "  - {id: g, use: data.filter, in: {data: c}, with: {domains: [sketch]}}\n"
           "  - {id: s, use: data.split, in: {data: f}, with: {ratios: [0.5, 0.25, 0.25], stratify: true}}\n"
           "  - {id: k, use: data.concat, in: {data: [s.train, g]}}\n",
           0, "kept 21 of 28", "split 21 → 7 / 7 / 7");
    /* 3 images per class at 90/10, stratified: no class gives 'val' one */
    expect("  - {id: c, use: data.csv, with: {file: '%S/datasets/fixtures/pacs/pacs.csv', "
           "domain_column: domain}}\n"
           "  - {id: f, use: data.filter, in: {data: c}, with: {domains: [sketch]}}\n"
           "  - {id: s, use: data.split, in: {data: f}, with: {ratios: [0.9, 0.1], stratify: true}}\n",
           1, "by these ratios leaves 'val' empty (train 7 / val 0 / test 0)", "ratios");
    const char *t = rp_test_tmpdir();
    char p[1000], body[3000], st[3000];
    snprintf(p, sizeof p, "%s/bad.csv", t);
    snprintf(body, sizeof body, "file,label\n%s/datasets/fixtures/pacs/photo/dog/pic_014.jpg,dog\n", rp_test_abs_src());
    rp_test_write(p, body);
    snprintf(st, sizeof st, "  - {id: c, use: data.csv, with: {file: '%s'}}\n", p);
    expect(st, 1, "bad.csv: no column 'path'", "columns: file, label");
    snprintf(body, sizeof body,
             "path,label\n%s/datasets/fixtures/pacs/photo/dog/pic_014.jpg,dog\n"
             "%s/datasets/fixtures/pacs/photo/horse/pic_018.jpg,zebra\n",
             rp_test_abs_src(), rp_test_abs_src());
    rp_test_write(p, body);
    snprintf(st, sizeof st, "  - {id: c, use: data.csv, with: {file: '%s', classes: [dog, horse]}}\n", p);
    expect(st, 1, "bad.csv: line 2: image path '", "leaves the data root");
    snprintf(st, sizeof st,
             "  - {id: c, use: data.csv, with: {file: '%s', classes: [dog, horse], allow_outside_root: true}}\n", p);
    expect(st, 1, "bad.csv: line 3: unknown label 'zebra'", "classes: dog, horse");
    snprintf(body, sizeof body, "path,label\nphoto/dog/nope.jpg,dog\n");
    rp_test_write(p, body);
    snprintf(st, sizeof st, "  - {id: c, use: data.csv, with: {file: '%s'}}\n", p);
    expect(st, 1, "bad.csv: line 2: image", "nope.jpg");
    /* split column, integer labels, relative paths against the CSV's dir,
     * on_error: skip counting a broken file */
    char d2[800], cmd[12000];
    snprintf(d2, sizeof d2, "%s/csvdir", t);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/img' && cp '%s/datasets/fixtures/pacs/photo/dog/pic_014.jpg' '%s/img/a.jpg' && "
             "cp '%s/datasets/fixtures/pacs/photo/horse/pic_018.jpg' '%s/img/b.jpg' && "
             "cp '%s/tests/fixtures/data/corrupt.png' '%s/img/c.png'",
             d2, rp_test_abs_src(), d2, rp_test_abs_src(), d2, rp_test_abs_src(), d2);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof p, "%s/list.csv", d2);
    rp_test_write(p, "path,label,part\nimg/a.jpg,0,train\nimg/b.jpg,1,train\nimg/c.png,1,train\n"
                     "img/a.jpg,1,test\n");
    snprintf(st, sizeof st,
             "  - {id: c, use: data.csv, with: {file: '%s', split_column: part, split: train, "
             "on_error: skip}}\n",
             p);
    expect(st, 0, "skipping", "list.csv/train: 2 images");
    snprintf(st, sizeof st,
             "  - {id: c, use: data.csv, with: {file: '%s', split_column: part, split: test}}\n", p);
    expect(st, 0, "list.csv/test: 1 images", NULL);
    snprintf(st, sizeof st, "  - {id: c, use: data.csv, with: {file: '%s', split: test}}\n", p);
    expect(st, 1, "needs 'split_column'", NULL);
    /* the filter names unknown domains */
    expect("  - {id: c, use: data.csv, with: {file: '%S/datasets/fixtures/pacs/pacs.csv', "
           "domain_column: domain}}\n"
           "  - {id: f, use: data.filter, in: {data: c}, with: {domains: [sketches]}}\n",
           1, "unknown domain 'sketches'", "art_painting, cartoon, photo, sketch");
}

static void test_segmentation(void **state) {
    (void)state;
    const char *pal = "palette: ['#3C1098', '#8429F6', '#6EC1E4', '#FEDD3A', '#E2A929', '#9B9B9B']";
    char st[2000];
    snprintf(st, sizeof st,
             "  - {id: s, use: data.segmentation, with: {root: '%%S/datasets/fixtures/dubai', %s, "
             "size: 16}}\n",
             pal);
    expect(st, 0, "dubai: 4 image/mask pairs 16x16, 6 classes", NULL);
    /* tiling the 32x32 fixture pairs: 16 -> 2x2 per pair; 12 -> 2x2 (the
     * last 8 pixels of each side make no whole tile); stride 10 with 12 ->
     * 3x3 (0, 10, 20); 20 -> 1 per pair; 40 -> none, an error */
    snprintf(st, sizeof st,
             "  - {id: s, use: data.segmentation, with: {root: '%%S/datasets/fixtures/dubai', %s, "
             "tile: 16}}\n",
             pal);
    expect(st, 0, "dubai: 16 tiles 16x16 (stride 16) from 4 image/mask pairs, 6 classes", NULL);
    snprintf(st, sizeof st,
             "  - {id: s, use: data.segmentation, with: {root: '%%S/datasets/fixtures/dubai', %s, "
             "tile: 12}}\n",
             pal);
    expect(st, 0, "dubai: 16 tiles 12x12 (stride 12) from 4 image/mask pairs", NULL);
    snprintf(st, sizeof st,
             "  - {id: s, use: data.segmentation, with: {root: '%%S/datasets/fixtures/dubai', %s, "
             "tile: 12, tile_stride: 10}}\n",
             pal);
    expect(st, 0, "dubai: 36 tiles 12x12 (stride 10) from 4 image/mask pairs", NULL);
    snprintf(st, sizeof st,
             "  - {id: s, use: data.segmentation, with: {root: '%%S/datasets/fixtures/dubai', %s, "
             "tile: 20}}\n",
             pal);
    expect(st, 0, "dubai: 4 tiles 20x20 (stride 20) from 4 image/mask pairs", NULL);
    /* 2x2 tiles of 16 cover each 32x32 pair exactly: the pixel statistics
     * of the 16 tiles are those of the 4 whole images */
    const char *stats = "6 classes, mean [0.4705, 0.4205, 0.5754] std [0.1178, 0.1550, 0.0917]";
    for (int tile = 0; tile <= 16; tile += 16) {
        snprintf(st, sizeof st,
                 "  - {id: s, use: data.segmentation, with: {root: '%%S/datasets/fixtures/dubai', "
                 "%s, tile: %d}}\n  - {id: i, use: inspect.dataset, in: {data: s}}\n",
                 pal, tile);
        expect(st, 0, tile ? "dubai: 16 samples" : "dubai: 4 samples", stats);
    }
    snprintf(st, sizeof st,
             "  - {id: s, use: data.segmentation, with: {root: '%%S/datasets/fixtures/dubai', %s, "
             "tile: 40}}\n",
             pal);
    expect(st, 1, "4 of 4 images are smaller than a 40x40 tile",
           "datasets/fixtures/dubai is at least 40x40: no tiles");
    /* bad combinations, located at the offending value (line 5 of the file);
       check-time errors (exit 2): nothing runs */
    snprintf(st, sizeof st,
             "  - {id: s, use: data.segmentation, with: {tile: 16, size: 16, "
             "root: '%%S/datasets/fixtures/dubai', %s}}\n",
             pal);
    expect(st, 2,
           ".yaml:5:50: error: stage 's' (data.segmentation): 'tile' cuts the images at their "
           "own size; set 'size: 0' (got size 16) or drop 'tile'",
           NULL);
    snprintf(st, sizeof st,
             "  - {id: s, use: data.segmentation, with: {tile_stride: 8, "
             "root: '%%S/datasets/fixtures/dubai', %s}}\n",
             pal);
    expect(st, 2, ".yaml:5:57: error: stage 's' (data.segmentation): 'tile_stride' needs 'tile'",
           NULL);
    /* a palette missing one colour: the pixel and colour are named */
    snprintf(st, sizeof st,
             "  - {id: s, use: data.segmentation, with: {root: '%%S/datasets/fixtures/dubai', "
             "palette: ['#3C1098', '#8429F6', '#6EC1E4', '#FEDD3A', '#E2A929']}}\n");
    expect(st, 1, "image_part_001.png: pixel", "#9B9B9B");
    /* colour masks read as class-index masks: values beyond num_classes */
    expect("  - {id: s, use: data.segmentation, with: {root: '%S/datasets/fixtures/dubai', "
           "num_classes: 6}}\n",
           1, "image_part_001.png: pixel (x 0, y 0) has class", "outside [0, 6)");
    expect("  - {id: s, use: data.segmentation, with: {root: '%S/datasets/fixtures/dubai'}}\n", 2,
           "give a 'palette'", NULL);
    /* missing mask */
    const char *t = rp_test_tmpdir();
    char cmd[6000];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/seg/Tile 1' && cp -r '%s/datasets/fixtures/dubai/Semantic segmentation "
             "dataset/Tile 1/'* '%s/seg/Tile 1/' && rm '%s/seg/Tile 1/masks/image_part_002.png'",
             t, rp_test_abs_src(), t, t);
    assert_int_equal(system(cmd), 0);
    snprintf(st, sizeof st, "  - {id: s, use: data.segmentation, with: {root: '%s/seg', %s}}\n", t, pal);
    expect(st, 1, "image_part_002.jpg: missing mask", NULL);
}

static void test_synthetic_deterministic(void **state) {
    (void)state;
    const char *stages =
        "  - {id: syn, use: data.synthetic, with: {train_count: 24, test_count: 4, size: 24, "
        "styles: [photo, cartoon, sketch, painting], masks: true}}\n"
        "  - {id: look, use: augment.preview, in: {data: syn.train}, with: {count: 24}}\n";
    char log[8000];
    assert_int_equal(run_stages(stages, "syn1", log, sizeof log), 0);
    assert_int_equal(run_stages(stages, "syn2", log, sizeof log), 0);
    const char *t = run_dir();
    char a[800], b[800];
    snprintf(a, sizeof a, "%s/run_syn1/look/preview.png", t);
    snprintf(b, sizeof b, "%s/run_syn2/look/preview.png", t);
    char *da, *db;
    size_t la, lb;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(a, &da, &la, &err), &err);
    RP_ASSERT_OK(rp_read_file(b, &db, &lb, &err), &err);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    free(da);
    free(db);
    expect("  - {id: syn, use: data.synthetic, with: {classes: [circle, blob]}}\n", 1 + 1,
           "blob", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_formats),
        cmocka_unit_test(test_folder),
        cmocka_unit_test(test_folder_skip_counts),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_segmentation),
        cmocka_unit_test(test_synthetic_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
