/* Loader + augmentation throughput for `make bench` (section "bench_loader"):
 * images/second delivered by rp_loader (batches of 128, shuffled) through
 * the augment plugin's transforms, with 0 and 2 worker threads:
 *   fashion_mnist + S0   Fashion-MNIST train (Debian's copy when installed,
 *                        else 60,000 random 28x28) + upper_bar + normalize
 *   cifar + S2           50,000 CIFAR-format 3x32x32 uint8 + hflip + pad-4
 *                        random crop + random erasing + normalize
 *   jpeg224 + S4         512 224x224 JPEG files decoded on demand + hflip +
 *                        color_jitter(0.2, 0.2, 0.2, 0.1) + normalize
 * The loader should be >= 5x the training throughput of the model it feeds
 * (compare with the `models` section). Usage: bench_loader [threads] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>
#include <zlib.h>

#include "runpipe/image.h"
#include "config/schema.h"
#include "host/registry.h"
#include "runpipe/runpipe.h"

/* ---- tiny datasets ------------------------------------------------------------ */

typedef struct u8set {
    int c, h, w;
    uint64_t n;
    uint8_t *pix;    /* [n, c, h, w] */
    char **files;    /* or image files decoded on each get */
} u8set;

static int u8_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                  rp_error *err) {
    (void)draw;
    const u8set *s = ds->impl;
    if (s->files) {
        uint8_t *px;
        int w, h, c;
        int st = rp_image_load(s->files[i], 3, &px, &w, &h, &c, err);
        if (st) return st;
        st = rp_sample_resize(out, 3, h, w, err);
        if (!st) rp_image_u8_to_f32(px, w, h, 3, out->img.data);
        free(px);
        out->label = (int32_t)(i % 3);
        return st;
    }
    int st = rp_sample_resize(out, s->c, s->h, s->w, err);
    if (st) return st;
    size_t per = (size_t)s->c * s->h * s->w;
    const uint8_t *p = s->pix + i * per;
    for (size_t k = 0; k < per; k++) out->img.data[k] = p[k] * (1.0f / 255.0f);
    out->label = (int32_t)(i % 10);
    return RP_OK;
}

static int32_t u8_label(const rp_dataset *ds, uint64_t i) {
    (void)ds;
    return (int32_t)(i % 10);
}

static const struct rp_dataset_ops u8_ops = {u8_get, u8_label, NULL, NULL};

static void random_bytes(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

static int load_fashion(u8set *s) {
    gzFile g = gzopen("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "rb");
    if (!g) return 0;
    uint8_t hdr[16];
    int ok = gzread(g, hdr, 16) == 16;
    size_t n = (size_t)60000 * 784;
    ok = ok && gzread(g, s->pix, (unsigned)n) == (int)n;
    gzclose(g);
    return ok;
}

/* ---- timing ----------------------------------------------------------------------- */

static double run(const rp_dataset *ds, int workers, uint64_t max_images) {
    struct rp_loader_opts o = {.batch_size = 128, .shuffle = 1, .workers = workers,
                               .prefetch = 4, .seed = 1, .stream = 2, .limit = max_images};
    rp_loader *l;
    rp_error err;
    if (rp_loader_new(ds, &o, &l, &err)) {
        fprintf(stderr, "loader: %s\n", err.msg);
        return 0;
    }
    uint64_t n = 0;
    double t0 = 0;
    for (uint64_t e = 0; e < 2; e++) {
        if (rp_loader_start(l, e, &err)) break;
        rp_batch *b;
        while (rp_loader_next(l, &b, &err) == RP_OK && b) {
            if (e == 0 && n == 0) t0 = rp_now(); /* first batch = warm-up */
            else n += (uint64_t)b->n;
        }
    }
    double secs = rp_now() - t0;
    rp_loader_free(l);
    return secs > 0 ? (double)n / secs : 0;
}

static rp_dataset *with_chain(const rp_dataset *base, const char *yaml) {
    rp_node *n;
    rp_error err;
    rp_transform_chain *c;
    rp_dataset *v;
    if (rp_node_parse_string(yaml, "bench", &n, &err) || rp_transform_chain_new(n, &c, &err) ||
        rp_dataset_transformed(base, c, 1, 3, "bench", &v, &err)) {
        fprintf(stderr, "chain %s: %s\n", yaml, err.msg);
        exit(1);
    }
    rp_node_free(n);
    return v;
}

static void report(const char *name, const rp_dataset *ds, uint64_t max_images) {
    double a = run(ds, 0, max_images), b = run(ds, 2, max_images);
    printf("%-34s %10.0f img/s (in the caller) %10.0f img/s (2 workers)\n", name, a, b);
    fflush(stdout);
}

int main(int argc, char **argv) {
    (void)argc, (void)argv;
    rp_schema_dirs_init();
    rp_error err;
    char so[1024];
    const char *build = getenv("RUNPIPE_BUILD") ? getenv("RUNPIPE_BUILD") : "build";
    snprintf(so, sizeof so, "%s/lib/runpipe/plugins/augment.so", build);
    if (rp_plugin_load_file(so, &err)) {
        printf("bench_loader unavailable: %s\n", err.msg);
        return 0;
    }

    /* Fashion-MNIST + S0 occlusion */
    u8set fm = {1, 28, 28, 60000, malloc((size_t)60000 * 784), NULL};
    int real = load_fashion(&fm);
    if (!real) random_bytes(fm.pix, (size_t)60000 * 784, 1);
    rp_dataset *d1 = rp_dataset_new(&u8_ops, &fm, "fashion_mnist", fm.n, 10, NULL);
    rp_dataset *v1 = with_chain(d1, "[upper_bar, {normalize: {preset: fashion_mnist}}]");
    report(real ? "fashion_mnist + upper_bar + norm" : "28x28 random + upper_bar + norm", v1, 0);

    /* CIFAR-format + S2's training transforms */
    u8set cf = {3, 32, 32, 50000, malloc((size_t)50000 * 3072), NULL};
    random_bytes(cf.pix, (size_t)50000 * 3072, 2);
    rp_dataset *d2 = rp_dataset_new(&u8_ops, &cf, "cifar", cf.n, 10, NULL);
    rp_dataset *v2 = with_chain(d2, "[hflip, {random_crop: {size: 32, padding: 4}}, "
                                    "{random_erasing: {s_l: 0.02, s_h: 0.4, r_1: 0.3}}, "
                                    "{normalize: {preset: cifar10}}]");
    report("cifar + flip + crop + erasing", v2, 0);

    /* 224x224 JPEG files + S4's transforms */
    char dir[] = "/tmp/rp_bench_jpeg.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    const int NJ = 512;
    u8set jp = {3, 224, 224, (uint64_t)NJ, NULL, calloc((size_t)NJ, sizeof(char *))};
    uint8_t *img = malloc(224 * 224 * 3);
    for (int i = 0; i < NJ; i++) {
        /* smooth content (JPEG-typical) with some noise */
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 224; x++)
                for (int c = 0; c < 3; c++)
                    img[(y * 224 + x) * 3 + c] = (uint8_t)((x * (c + 1) + y * (3 - c) + i * 7 +
                                                            ((x * 131 + y * 71 + i) % 13)) & 255);
        char p[256];
        snprintf(p, sizeof p, "%s/%04d.jpg", dir, i);
        stbi_write_jpg(p, 224, 224, 3, img, 90);
        jp.files[i] = strdup(p);
    }
    free(img);
    rp_dataset *d3 = rp_dataset_new(&u8_ops, &jp, "jpeg224", jp.n, 3, NULL);
    rp_dataset *v3 = with_chain(d3, "[hflip, {color_jitter: {brightness: 0.2, contrast: 0.2, "
                                    "saturation: 0.2, hue: 0.1}}, {normalize: {preset: imagenet}}]");
    report("jpeg 224x224 + flip + jitter + norm", v3, 0);

    for (int i = 0; i < NJ; i++) {
        unlink(jp.files[i]);
        free(jp.files[i]);
    }
    rmdir(dir);
    free(jp.files);
    rp_dataset_free(v1);
    rp_dataset_free(v2);
    rp_dataset_free(v3);
    rp_dataset_free(d1);
    rp_dataset_free(d2);
    rp_dataset_free(d3);
    free(fm.pix);
    free(cf.pix);
    return 0;
}
