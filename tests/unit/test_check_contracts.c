/* `runpipe check` knows what it can before anything runs: input paths exist
 * (or an earlier stage makes them; relative ones also next to the pipeline
 * file), and stage contracts hold (a model's classes, channels and image
 * size against the datasets it is fed), each error naming both YAML
 * locations. Through the real binary and plugins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../harness.h"

static char out[16384];

/* Write `stages` (after "runpipe: 1\nstages:\n") to DIR/NAME and check it;
 * returns the exit code, output in `out`. %S = source root. */
static int check(const char *dir, const char *name, const char *stages) {
    const char *p = rp_test_write_pipeline(dir, name, "", stages);
    char args[1200];
    snprintf(args, sizeof args, "check '%s'", p);
    return rp_test_runpipe(args, NULL, out, sizeof out);
}

static void expect_line(const char *want) {
    if (!strstr(out, want)) fail_msg("no '%s' in:\n%s", want, out);
}

static void test_model_against_data(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    char want[2048];
    /* 10-class model, 6-class data */
    assert_int_equal(check(dir, "classes.yaml",
                           "  - {id: six, use: data.synthetic, with: {size: 32}}\n"
                           "  - {id: net, use: model.build, with: {arch: resnet20, classes: 10}}\n"
                           "  - {id: loss, use: loss}\n"
                           "  - {id: fit, use: train, in: {model: net, loss: loss, train: six.train}}\n"),
                     2);
    snprintf(want, sizeof want,
             "%s/classes.yaml:6:63: error: stage 'fit' (train): model 'net.model' has 10 classes "
             "(%s/classes.yaml:4:65) but 'six.train' has 6 (%s/classes.yaml:3:5)",
             dir, dir, dir);
    expect_line(want);
    /* 1-channel data into a 3-channel model */
    assert_int_equal(check(dir, "gray.yaml",
                           "  - {id: fm, use: data.idx, with: {dir: '%S/datasets/fixtures/mnist'}}\n"
                           "  - {id: net, use: model.build, with: {arch: resnet20, classes: 10}}\n"
                           "  - {id: ev, use: evaluate, in: {model: net, data: fm.test}}\n"),
                     2);
    snprintf(want, sizeof want,
             "stage 'ev' (evaluate): model 'net.model' takes [3, 32, 32] images "
             "(%s/gray.yaml:4:46) but 'fm.test' gives [1, 28, 28] (%s/gray.yaml:3:41)",
             dir, dir);
    expect_line(want);
    /* a 224x224 model fed 32x32 CIFAR images, through a model stage
       that passes the model on (train) */
    assert_int_equal(check(dir, "size.yaml",
                           "  - {id: c, use: data.cifar10, with: {dir: "
                           "'%S/datasets/fixtures/cifar-10-batches-bin'}}\n"
                           "  - {id: net, use: model.build, with: {arch: resnet18, classes: 10}}\n"
                           "  - {id: loss, use: loss}\n"
                           "  - {id: fit, use: train, in: {model: net, loss: loss, train: c.train}}\n"
                           "  - {id: ev, use: evaluate, in: {model: fit.model, data: c.test}}\n"),
                     2);
    expect_line("stage 'fit' (train): model 'net.model' takes [3, 224, 224] images");
    expect_line("stage 'ev' (evaluate): model 'fit.model' takes [3, 224, 224] images");
    expect_line("but 'c.test' gives [3, 32, 32]");
    /* an augment stage that resizes makes it fit; classes pass through */
    assert_int_equal(check(dir, "fits.yaml",
                           "  - {id: s, use: data.synthetic, with: {size: 40, channels: 1, "
                           "classes: [circle, square, ring, star, cross, triangle, diamond, "
                           "hexagon]}}\n"
                           "  - {id: a, use: augment, in: {data: s.train}, with: {transforms: "
                           "[{resize: {size: 28}}]}}\n"
                           "  - {id: net, use: model.build, with: {arch: mnist_cnn, classes: 8}}\n"
                           "  - {id: ev, use: evaluate, in: {model: net, data: a}}\n"),
                     0);
    /* and without it, the size is wrong */
    assert_int_equal(check(dir, "nofit.yaml",
                           "  - {id: s, use: data.synthetic, with: {size: 40, channels: 1, "
                           "classes: [circle, square, ring, star, cross, triangle, diamond, "
                           "hexagon]}}\n"
                           "  - {id: a, use: augment, in: {data: s.train}, with: {transforms: "
                           "[hflip]}}\n"
                           "  - {id: net, use: model.build, with: {arch: mnist_cnn, classes: 8}}\n"
                           "  - {id: ev, use: evaluate, in: {model: net, data: a}}\n"),
                     2);
    expect_line("but 'a.data' gives [1, 40, 40]");
    /* concatenated sets with different classes */
    assert_int_equal(check(dir, "concat.yaml",
                           "  - {id: a, use: data.synthetic}\n"
                           "  - {id: b, use: data.synthetic, with: {classes: [ring, star]}}\n"
                           "  - {id: k, use: data.concat, in: {data: [a.train, b.train]}}\n"),
                     2);
    expect_line("stage 'k' (data.concat): data.concat: input 2 has 2 classes but input 1 has 6");
}

/* Stages that write or cut their images declare what they will be:
 * openimages.crop (one class per group, RGB, size x size) and
 * data.segmentation (palette or num_classes, channels, the tile). */
static void test_crop_and_segmentation(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    char want[2048];
#define OI "'%S/datasets/fixtures/openimages"
#define CROP(SIZE)                                                                                 \
    "  - id: crops\n"                                                                              \
    "    use: openimages.crop\n"                                                                   \
    "    with:\n"                                                                                  \
    "      images: " OI "/images'\n"                                                              \
    "      boxes: " OI "/oidv6-train-annotations-bbox.csv'\n"                                     \
    "      classes: " OI "/class-descriptions-boxable.csv'\n"                                     \
    "      groups: {person: [Person, Man], animal: [Dog, Cat], object: [Car]}\n"                  \
    "      size: " SIZE "\n"
    /* a 4-way head on 3 groups */
    assert_int_equal(check(dir, "crop.yaml",
                           CROP("32") "  - {id: net, use: model.build, with: {arch: resnet20, "
                                      "classes: 4}}\n"
                                      "  - {id: ev, use: evaluate, in: {model: net, data: "
                                      "crops.val}}\n"),
                     2);
    snprintf(want, sizeof want,
             "%s/crop.yaml:12:52: error: stage 'ev' (evaluate): model 'net.model' has 4 classes "
             "(%s/crop.yaml:11:65) but 'crops.val' has 3 (%s/crop.yaml:9:15)",
             dir, dir, dir);
    expect_line(want);
    /* 24x24 crops into a 32x32 model */
    assert_int_equal(check(dir, "cropsize.yaml",
                           CROP("24") "  - {id: net, use: model.build, with: {arch: resnet20, "
                                      "classes: 3}}\n"
                                      "  - {id: ev, use: evaluate, in: {model: net, data: "
                                      "crops.train}}\n"),
                     2);
    snprintf(want, sizeof want,
             "stage 'ev' (evaluate): model 'net.model' takes [3, 32, 32] images "
             "(%s/cropsize.yaml:11:46) but 'crops.train' gives [3, 24, 24] "
             "(%s/cropsize.yaml:10:13)",
             dir, dir);
    expect_line(want);
    /* and the matching model passes */
    assert_int_equal(check(dir, "cropok.yaml",
                           CROP("32") "  - {id: net, use: model.build, with: {arch: resnet20, "
                                      "classes: 3}}\n"
                                      "  - {id: ev, use: evaluate, in: {model: net, data: "
                                      "crops.val}}\n"),
                     0);
    /* segmentation: 6 palette colours against a 5-class U-Net; grey tiles
       into a 3-channel one */
#define SEG(MORE)                                                                                  \
    "  - id: seg\n"                                                                                \
    "    use: data.segmentation\n"                                                                 \
    "    with:\n"                                                                                  \
    "      root: '%S/datasets/fixtures/dubai'\n"                                                   \
    "      palette: ['#3C1098', '#8429F6', '#6EC1E4', '#FEDD3A', '#E2A929', '#9B9B9B']\n"          \
    "      tile: 32\n" MORE
    assert_int_equal(check(dir, "seg.yaml",
                           SEG("      channels: 1\n")
                           "  - {id: net, use: model.build, with: {arch: unet, classes: 5, "
                           "in_channels: 1, size: 32}}\n"
                           "  - {id: ev, use: evaluate, in: {model: net, data: seg}}\n"),
                     2);
    snprintf(want, sizeof want,
             "stage 'ev' (evaluate): model 'net.model' has 5 classes (%s/seg.yaml:10:61) but "
             "'seg.data' has 6 (%s/seg.yaml:7:16)",
             dir, dir);
    expect_line(want);
    assert_int_equal(check(dir, "seggrey.yaml",
                           SEG("      channels: 1\n")
                           "  - {id: net, use: model.build, with: {arch: unet, classes: 6, "
                           "size: 32}}\n"
                           "  - {id: ev, use: evaluate, in: {model: net, data: seg}}\n"),
                     2);
    expect_line("but 'seg.data' gives [1, 32, 32]");
    /* tile and size together: a check-time error now */
    assert_int_equal(check(dir, "segtile.yaml", SEG("      size: 64\n")), 2);
    snprintf(want, sizeof want,
             "%s/segtile.yaml:8:13: error: stage 'seg' (data.segmentation): 'tile' cuts the "
             "images at their own size; set 'size: 0' (got size 64) or drop 'tile'",
             dir);
    expect_line(want);
#undef SEG
#undef CROP
#undef OI
}

static void test_paths(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    char want[2048];
    /* a data folder that does not exist: at check time, at its node */
    assert_int_equal(check(dir, "nodata.yaml",
                           "  - {id: fm, use: data.idx, with: {dir: datasets/nothing-here}}\n"),
                     2);
    snprintf(want, sizeof want,
             "%s/nodata.yaml:3:41: error: stage 'fm' (data.idx): 'dir': 'datasets/nothing-here' "
             "does not exist (looked in the working directory and at "
             "'%s/datasets/nothing-here', and no earlier stage makes it)",
             dir, dir);
    expect_line(want);
    /* a pretrained file likewise */
    assert_int_equal(check(dir, "noweights.yaml",
                           "  - {id: net, use: model.build, with: {arch: resnet20, pretrained: "
                           "/nonexistent/w.safetensors}}\n"),
                     2);
    expect_line("stage 'net' (model.build): 'pretrained': '/nonexistent/w.safetensors' does not "
                "exist");
    /* relative to the pipeline file's folder (not the working directory) */
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/data' && cp -r '%s/datasets/fixtures/mnist' '%s/data/'",
             dir, rp_test_abs_src(), dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(check(dir, "near.yaml",
                           "  - {id: fm, use: data.idx, with: {dir: data/mnist}}\n"),
                     0);
    /* a path an earlier stage makes: the run folder of stage `fit`, or under
       an `x-path: out` parameter (openimages.crop's out) */
    assert_int_equal(check(dir, "made.yaml",
                           "  - {id: s, use: data.synthetic, with: {size: 32}}\n"
                           "  - {id: net, use: model.build, with: {arch: resnet20, classes: 6}}\n"
                           "  - {id: loss, use: loss}\n"
                           "  - {id: fit, use: train, in: {model: net, loss: loss, train: s.train}}\n"
                           "  - {id: again, use: model.build, with: {arch: resnet20, classes: 6, "
                           "pretrained: fit/best.safetensors}}\n"),
                     0);
    assert_int_equal(check(dir, "crops.yaml",
                           "  - {id: crops, use: openimages.crop, with: {images: "
                           "'%S/datasets/fixtures/openimages/images', boxes: "
                           "'%S/datasets/fixtures/openimages/oidv6-train-annotations-bbox.csv', classes: "
                           "'%S/datasets/fixtures/openimages/class-descriptions-boxable.csv', out: /tmp/no-such-crops, "
                           "groups: {person: [Person], animal: [Dog]}}}\n"
                           "  - {id: f, use: data.folder, with: {root: /tmp/no-such-crops/train}}\n"),
                     0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_against_data),
        cmocka_unit_test(test_crop_and_segmentation),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
