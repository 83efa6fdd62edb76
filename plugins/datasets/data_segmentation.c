/* data.segmentation — image + mask pairs. Every folder named `image_dir`
 * under `root` (e.g. Dubai's "Tile 1/images") is paired with its sibling
 * `mask_dir`; the mask of images/x.jpg is masks/x.<mask_ext>. Masks are
 * class-index images (grey value = class id) or colour-coded: `palette` maps
 * each colour to its class id (list position), as in the Dubai MBRSC set:
 * ["#3C1098", "#8429F6", "#6EC1E4", "#FEDD3A", "#E2A929", "#9B9B9B"]. With
 * `size`, images are resized bilinearly and masks by nearest neighbour to
 * size x size. With `tile`, each pair is cut into tile x tile windows
 * instead (see seg_tiles). Everything is decoded into memory (segmentation
 * sets are small). A missing mask, a colour not in the palette, or a mask of another
 * size than its image is an error naming the file. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "runpipe/image.h"
#include "stages.h"

typedef struct pair {
    char *img, *mask;
} pair;

typedef struct pairs {
    pair *v;
    size_t n, cap;
} pairs;

static int cmp_pair(const void *a, const void *b) {
    return strcmp(((const pair *)a)->img, ((const pair *)b)->img);
}

static int is_image(const char *n) {
    const char *d = strrchr(n, '.');
    return d && (!strcasecmp(d, ".jpg") || !strcasecmp(d, ".jpeg") || !strcasecmp(d, ".png") ||
                 !strcasecmp(d, ".bmp"));
}

static int collect(const char *dir, const char *image_dir, const char *mask_dir,
                   const char *mask_ext, int depth, pairs *out, rp_error *err) {
    DIR *d = opendir(dir);
    if (!d) return rp_error_set(err, RP_ERR_IO, "%s: cannot open directory", dir);
    struct dirent *de;
    int st = RP_OK;
    while (!st && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[4096];
        ds_join(dir, de->d_name, p, sizeof p);
        struct stat sb;
        if (stat(p, &sb) != 0) {
            /* a loop or a dangling link may hide a folder: never skipped silently */
            struct stat lb;
            if (errno == ELOOP)
                st = rp_error_set(err, RP_ERR_IO, "%s: symbolic link loop", p);
            else if (lstat(p, &lb) == 0 && S_ISLNK(lb.st_mode))
                st = rp_error_set(err, RP_ERR_IO, "%s: dangling symbolic link (its target does not exist)", p);
            if (st) break;
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) continue;
        if (!strcmp(de->d_name, image_dir)) {
            char mdir[4096];
            ds_join(dir, mask_dir, mdir, sizeof mdir);
            DIR *id = opendir(p);
            if (!id) {
                st = rp_error_set(err, RP_ERR_IO, "%s: cannot open directory", p);
                break;
            }
            struct dirent *fe;
            while (!st && (fe = readdir(id))) {
                if (fe->d_name[0] == '.' || !is_image(fe->d_name)) continue;
                char ip[4096], mp[4096], stem[1024];
                ds_join(p, fe->d_name, ip, sizeof ip);
                snprintf(stem, sizeof stem, "%s", fe->d_name);
                char *dot = strrchr(stem, '.');
                if (dot) *dot = 0;
                char mname[1100];
                snprintf(mname, sizeof mname, "%s.%s", stem, mask_ext);
                ds_join(mdir, mname, mp, sizeof mp);
                if (stat(mp, &sb) != 0) {
                    st = rp_error_set(err, RP_ERR_FORMAT, "%s: missing mask (expected %s)", ip, mp);
                    break;
                }
                if (out->n == out->cap) {
                    size_t cap = out->cap ? out->cap * 2 : 64;
                    pair *v = realloc(out->v, cap * sizeof *v);
                    if (!v) {
                        st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
                        break;
                    }
                    out->v = v;
                    out->cap = cap;
                }
                out->v[out->n].img = strdup(ip);
                out->v[out->n].mask = strdup(mp);
                out->n++; /* (freed with the list, NULL or not) */
                if (!out->v[out->n - 1].img || !out->v[out->n - 1].mask) {
                    st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
                    break;
                }
            }
            closedir(id);
        } else if (depth < 4 && strcmp(de->d_name, mask_dir)) {
            st = collect(p, image_dir, mask_dir, mask_ext, depth + 1, out, err);
        }
    }
    closedir(d);
    return st;
}

static int parse_hex(const char *s, uint8_t rgb[3]) {
    if (!s) return -1;
    if (*s == '#') s++;
    if (strlen(s) != 6) return -1;
    unsigned v;
    if (sscanf(s, "%06x", &v) != 1) return -1;
    rgb[0] = (uint8_t)(v >> 16), rgb[1] = (uint8_t)(v >> 8), rgb[2] = (uint8_t)v;
    return 0;
}

/* Grow m to hold at least `need` samples (tiling: the count is known only
 * image by image). m->n is the capacity; the caller trims it at the end. */
static int seg_reserve(memds *m, uint64_t need, rp_error *err) {
    if (need <= m->n) return RP_OK;
    uint64_t cap = m->n ? m->n : 64;
    while (cap < need) cap *= 2;
    size_t per = (size_t)m->c * m->h * m->w, hw = (size_t)m->h * m->w;
    uint8_t *pix = realloc(m->pix, cap * per + 1);
    if (pix) m->pix = pix;
    int32_t *lab = realloc(m->labels, (cap + 1) * sizeof *lab);
    if (lab) m->labels = lab;
    uint8_t *mk = realloc(m->masks, cap * hw + 1);
    if (mk) m->masks = mk;
    if (!pix || !lab || !mk)
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory for %llu tiles of %dx%d",
                            (unsigned long long)cap, m->w, m->h);
    m->n = cap;
    return RP_OK;
}

/* Sample `idx` of m = the m->w x m->h window at (x0, y0) of an interleaved
 * image hwc [h][w][c] and its class ids [h][w] (image width w). */
static void seg_put(memds *m, uint64_t idx, const uint8_t *hwc, const int32_t *ids, int w, int x0,
                    int y0) {
    int C = m->c, H = m->h, W = m->w;
    uint8_t *dst = m->pix + idx * (size_t)C * H * W;
    uint8_t *mk = m->masks + idx * (size_t)H * W;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t s = (size_t)(y0 + y) * w + (size_t)(x0 + x), d = (size_t)y * W + x;
            for (int ch = 0; ch < C; ch++) dst[(size_t)ch * H * W + d] = hwc[s * C + ch];
            mk[d] = (uint8_t)ids[s];
        }
    m->labels[idx] = -1;
}

/* Tiles along one side of length n: windows of `tile` at 0, stride,
 * 2 stride, ... that fit entirely (the partial window at the far edge is
 * dropped: the crop-to-a-multiple-then-patchify preparation of the Dubai set,
 * whose images are 509 to 2149 pixels wide). */
static int seg_tiles(int n, int tile, int stride) { return n < tile ? 0 : (n - tile) / stride + 1; }

/* The dataset `p` (validated params) describes; *npairs = image/mask pairs
 * read (a tiled set has more samples). */
static int seg_build(const rp_node *p, rp_dataset **out, size_t *npairs_out, rp_error *err) {
    *out = NULL;
    const char *root = rp_param_str(p, "root");
    const char *image_dir = rp_param_str(p, "image_dir");
    const char *mask_dir = rp_param_str(p, "mask_dir");
    const char *mask_ext = rp_param_str(p, "mask_ext");
    int size = (int)rp_param_int(p, "size");
    int channels = (int)rp_param_int(p, "channels");
    uint64_t limit = (uint64_t)rp_param_int(p, "limit");
    int tile = (int)rp_param_int(p, "tile");
    int stride = (int)rp_param_int(p, "tile_stride");
    if (tile > 0 && size > 0)
        return rp_error_at(err, rp_node_get(p, "tile"), RP_ERR_INVALID,
                           "'tile' cuts the images at their own size; "
                           "set 'size: 0' (got size %d) or drop 'tile'", size);
    if (tile == 0 && stride > 0)
        return rp_error_at(err, rp_node_get(p, "tile_stride"), RP_ERR_INVALID,
                           "'tile_stride' needs 'tile'");
    if (stride == 0) stride = tile;
    const rp_node *pal = rp_node_get(p, "palette");
    int npal = (int)(pal && pal->kind == RP_NODE_SEQ ? pal->n : 0);
    uint8_t palette[256][3];
    if (npal > 255) return rp_error_at(err, pal, RP_ERR_INVALID, "'palette': at most 255 colours");
    for (int i = 0; i < npal; i++)
        if (parse_hex(rp_node_str(pal->items[i]), palette[i]))
            return rp_error_at(err, pal->items[i], RP_ERR_INVALID,
                               "'palette': expected a colour \"#RRGGBB\", got '%s'",
                               rp_node_str(pal->items[i]) ? rp_node_str(pal->items[i]) : "?");
    int ncls = (int)rp_param_int(p, "num_classes");
    if (npal > 0) ncls = npal;
    if (ncls <= 0)
        return rp_error_at(err, p, RP_ERR_INVALID,
                           "data.segmentation: give a 'palette' (colour masks) or 'num_classes' "
                           "(class-index masks)");
    const char *names[256];
    int nn = ds_param_strs(p, "class_names", names, 256);
    if (nn && nn != ncls)
        return rp_error_at(err, rp_node_get(p, "class_names"), RP_ERR_INVALID,
                           "'class_names' has %d names for %d classes", nn, ncls);
    pairs ps = {0};
    int st = collect(root, image_dir, mask_dir, mask_ext, 0, &ps, err);
    if (!st && ps.n == 0)
        st = rp_error_set(err, RP_ERR_INVALID, "%s: no '%s' folder with images found", root, image_dir);
    if (!st) qsort(ps.v, ps.n, sizeof *ps.v, cmp_pair);
    if (!st && limit && limit < ps.n) {
        for (size_t i = limit; i < ps.n; i++) free(ps.v[i].img), free(ps.v[i].mask);
        ps.n = limit;
    }
    memds m;
    memset(&m, 0, sizeof m);
    int H = 0, W = 0;
    uint64_t ntiles = 0, small = 0; /* tiling: tiles so far, images smaller than a tile */
    /* first record of each image, for naming samples by their image */
    uint64_t *firsts = NULL;
    if (!st && !(firsts = malloc((ps.n ? ps.n : 1) * sizeof *firsts)))
        st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ps.n && !st; i++) {
        firsts[i] = tile > 0 ? ntiles : i;
        uint8_t *im = NULL, *mk = NULL;
        int w, h, c, mw, mh, mc;
        st = rp_image_load(ps.v[i].img, channels, &im, &w, &h, &c, err);
        if (!st) st = rp_image_load(ps.v[i].mask, npal ? 3 : 1, &mk, &mw, &mh, &mc, err);
        if (!st && (mw != w || mh != h))
            st = rp_error_set(err, RP_ERR_FORMAT, "%s: mask is %dx%d but its image %s is %dx%d",
                              ps.v[i].mask, mw, mh, ps.v[i].img, w, h);
        int tw = size > 0 ? size : w, th = size > 0 ? size : h;
        if (tile > 0) tw = th = tile;
        if (!st && i == 0) {
            H = th, W = tw;
            st = memds_alloc(&m, tile > 0 ? 0 : ps.n, channels, H, W, 0, 1, err);
        }
        if (!st && (tw != W || th != H))
            st = rp_error_set(err, RP_ERR_FORMAT,
                              "%s: image is %dx%d but the first image is %dx%d; set 'size' to "
                              "resize them all",
                              ps.v[i].img, w, h, W, H);
        /* class ids of the mask at its own size, then nearest resize */
        int32_t *ids = NULL;
        if (!st) {
            ids = malloc((size_t)w * h * sizeof *ids);
            if (!ids) st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        for (int k = 0; !st && k < w * h; k++) {
            if (npal) {
                const uint8_t *q = mk + (size_t)k * 3;
                int f = -1;
                for (int j = 0; j < npal; j++)
                    if (q[0] == palette[j][0] && q[1] == palette[j][1] && q[2] == palette[j][2]) {
                        f = j;
                        break;
                    }
                if (f < 0)
                    st = rp_error_set(err, RP_ERR_FORMAT,
                                      "%s: pixel (x %d, y %d) has colour #%02X%02X%02X, which is not "
                                      "in the palette",
                                      ps.v[i].mask, k % w, k / w, q[0], q[1], q[2]);
                ids[k] = f;
            } else {
                ids[k] = mk[k];
                if (ids[k] >= ncls)
                    st = rp_error_set(err, RP_ERR_FORMAT,
                                      "%s: pixel (x %d, y %d) has class %d, outside [0, %d)",
                                      ps.v[i].mask, k % w, k / w, ids[k], ncls);
            }
        }
        if (!st) {
            uint8_t *dst = m.pix + i * (size_t)channels * H * W;
            uint8_t *hwc = im;
            uint8_t *tmp = NULL;
            if (tile > 0) {
                int nx = seg_tiles(w, tile, stride), ny = seg_tiles(h, tile, stride);
                if (nx * ny == 0) small++;
                st = seg_reserve(&m, ntiles + (uint64_t)nx * ny, err);
                for (int ty = 0; !st && ty < ny; ty++)
                    for (int tx = 0; tx < nx; tx++)
                        seg_put(&m, ntiles++, im, ids, w, tx * stride, ty * stride);
            } else if (tw != w || th != h) {
                tmp = malloc((size_t)tw * th * channels);
                int32_t *rid = malloc((size_t)tw * th * sizeof *rid);
                if (!tmp || !rid) {
                    free(tmp);
                    free(rid);
                    st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
                } else {
                    rp_image_resize_u8(im, w, h, channels, tmp, tw, th, RP_INTERP_BILINEAR);
                    rp_image_resize_i32(ids, w, h, rid, tw, th);
                    free(ids);
                    ids = rid;
                    hwc = tmp;
                }
            }
            if (!st && tile == 0) {
                for (int ch = 0; ch < channels; ch++)
                    for (int k = 0; k < H * W; k++) dst[(size_t)ch * H * W + k] = hwc[(size_t)k * channels + ch];
                for (int k = 0; k < H * W; k++) m.masks[i * (size_t)H * W + k] = (uint8_t)ids[k];
                m.labels[i] = -1;
            }
            free(tmp);
        }
        free(ids);
        free(im);
        free(mk);
    }
    size_t npairs = ps.n;
    char **files = st ? NULL : malloc((ps.n ? ps.n : 1) * sizeof *files);
    if (!st && !files) st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ps.n; i++) {
        if (files) files[i] = ps.v[i].img; /* transferred */
        else free(ps.v[i].img);
        free(ps.v[i].mask);
    }
    free(ps.v);
    m.item = files;
    m.item_first = files ? firsts : NULL;
    m.n_item = files ? npairs : 0;
    if (!files) free(firsts);
    if (!st && tile > 0) {
        if (small)
            rp_info("data.segmentation: %llu of %zu images are smaller than a %dx%d tile (no tiles)",
                    (unsigned long long)small, npairs, tile, tile);
        if (ntiles == 0)
            st = rp_error_at(err, rp_node_get(p, "tile"), RP_ERR_INVALID,
                             "no image of %s is at least %dx%d: no tiles", root,
                             tile, tile);
        m.n = ntiles;
    }
    if (st) {
        memds_release(&m);
        return st;
    }
    char name[128];
    const char *base = strrchr(root, '/');
    snprintf(name, sizeof name, "%.120s", base && base[1] ? base + 1 : root);
    rp_dataset *ds;
    st = memds_dataset(&m, name, ncls, nn ? names : NULL, &ds, err);
    if (st) return st;
    if (tile > 0)
        rp_info("%s: %llu tiles %dx%d (stride %d) from %zu image/mask pairs, %d classes", name,
                (unsigned long long)ds->size, W, H, stride, npairs, ncls);
    else
        rp_info("%s: %llu image/mask pairs %dx%d, %d classes", name, (unsigned long long)ds->size, W,
                H, ncls);
    *npairs_out = npairs;
    *out = ds;
    return RP_OK;
}

int seg_load(const rp_node *p, rp_dataset **out, rp_error *err) {
    size_t npairs;
    return seg_build(p, out, &npairs, err);
}

int ds_run_segmentation(rp_stage *stg, rp_error *err) {
    rp_dataset *ds;
    size_t npairs;
    int st = seg_build(rp_stage_params(stg), &ds, &npairs, err);
    if (st) return st;
    if (rp_param_int(rp_stage_params(stg), "tile") > 0) {
        rp_stage_note(stg, "pairs", (double)npairs);
        rp_stage_note(stg, "tiles", (double)ds->size);
    }
    rp_stage_note(stg, "images", (double)ds->size);
    return rp_stage_output(stg, "data", ds, err);
}

/* Check time, from the params alone: classes (the palette's length, else
 * num_classes), channels, and the image size when every sample has one
 * (tile x tile, or size x size). What the run would reject in the params
 * is rejected here, before anything runs. */
static int ds_check_segmentation(rp_check *ck, rp_error *err) {
    const rp_node *p = rp_check_params(ck);
    int64_t tile = rp_param_int(p, "tile"), size = rp_param_int(p, "size");
    if (tile > 0 && size > 0)
        return rp_error_at(err, rp_node_get(p, "tile"), RP_ERR_INVALID,
                           "'tile' cuts the images at their own size; "
                           "set 'size: 0' (got size %lld) or drop 'tile'", (long long)size);
    if (tile == 0 && rp_param_int(p, "tile_stride") > 0)
        return rp_error_at(err, rp_node_get(p, "tile_stride"), RP_ERR_INVALID,
                           "'tile_stride' needs 'tile'");
    const rp_node *pal = rp_node_get(p, "palette");
    int64_t ncls = rp_node_len(pal) ? (int64_t)rp_node_len(pal) : rp_param_int(p, "num_classes");
    const rp_node *cat = rp_node_len(pal) ? pal : rp_node_get(p, "num_classes");
    if (ncls <= 0)
        return rp_error_at(err, p, RP_ERR_INVALID,
                           "data.segmentation: give a 'palette' (colour masks) or 'num_classes' "
                           "(class-index masks)");
    rp_check_declare(ck, "data", RP_FACT_CLASSES, ncls, cat);
    rp_check_declare(ck, "data", RP_FACT_CHANNELS, rp_param_int(p, "channels"),
                     rp_node_get(p, "channels"));
    int64_t side = tile > 0 ? tile : size;
    const rp_node *sat = rp_node_get(p, tile > 0 ? "tile" : "size");
    if (side > 0) {
        rp_check_declare(ck, "data", RP_FACT_HEIGHT, side, sat);
        rp_check_declare(ck, "data", RP_FACT_WIDTH, side, sat);
    }
    return RP_OK;
}

/* ---- stage declaration ---- */
static const struct rp_port data_out_ports[] = {
    {"data", RP_ART_DATASET, 0, "the dataset"},
};
static const struct rp_stage_def segmentation_stage = {
    "data.segmentation", "image + mask pairs (class-index or palette-coloured masks)",
    NULL, 0, data_out_ports, RP_COUNT(data_out_ports), ds_run_segmentation, 0,
    ds_check_segmentation};
RP_STAGE(segmentation_stage)
