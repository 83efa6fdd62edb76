/* Figures the stages contributed through rp_stage_figure (augmentation
 * previews, Grad-CAM grids, conversion charts, misclassified samples, ...):
 * for each stage of the resolved pipeline, in pipeline order,
 * <rundir>/<id>/figures.json (or the shared folder of a stage the matrix
 * cells share) and those of its foreach instances
 * (<rundir>/<id>/<instance>/figures.json). Figures are grouped by section,
 * then by title (a grid); PNGs are inlined as data URIs and SVGs pasted, so
 * the report stays one self-contained file. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "report.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_fig(rp_report_figs *fs, const char *dir, const char *stage, const cJSON *f) {
    const cJSON *sec = cJSON_GetObjectItem(f, "section"), *ti = cJSON_GetObjectItem(f, "title"),
                *fi = cJSON_GetObjectItem(f, "file"), *ca = cJSON_GetObjectItem(f, "caption");
    if (!cJSON_IsString(sec) || !cJSON_IsString(fi)) return 0;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 32;
        rp_report_fig *v = realloc(fs->v, cap * sizeof *v);
        if (!v) return -1;
        fs->v = v;
        fs->cap = cap;
    }
    rp_report_fig *g = &fs->v[fs->n];
    memset(g, 0, sizeof *g);
    size_t pl = strlen(dir) + strlen(fi->valuestring) + 2;
    g->section = strdup(sec->valuestring);
    g->title = strdup(cJSON_IsString(ti) ? ti->valuestring : "");
    g->caption = strdup(cJSON_IsString(ca) ? ca->valuestring : "");
    g->stage = strdup(stage);
    g->path = malloc(pl);
    if (!g->section || !g->title || !g->caption || !g->stage || !g->path) {
        free(g->section), free(g->title), free(g->caption), free(g->stage), free(g->path);
        return -1;
    }
    snprintf(g->path, pl, "%s/%s", dir, fi->valuestring);
    fs->n++;
    return 0;
}

static int read_list(rp_report_figs *fs, const char *dir, const char *stage) {
    char path[1400], *text = NULL;
    size_t len = 0;
    rp_error e;
    rp_error_clear(&e);
    snprintf(path, sizeof path, "%s/figures.json", dir);
    if (rp_read_file(path, &text, &len, &e) != RP_OK) return 0;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = 0;
    const cJSON *list = cJSON_GetObjectItem(root, "figures");
    for (const cJSON *f = cJSON_IsArray(list) ? list->child : NULL; f && !rc; f = f->next)
        rc = add_fig(fs, dir, stage, f);
    cJSON_Delete(root);
    return rc;
}

int rp_report_figs_collect(rp_report_figs *fs, const char *rundir, const rp_stage *st,
                           const rp_node *pipeline, rp_error *err) {
    memset(fs, 0, sizeof *fs);
    const rp_node *stages = rp_node_get(pipeline, "stages");
    int rc = 0;
    for (size_t i = 0; i < rp_node_len(stages) && !rc; i++) {
        const char *id = rp_node_str(rp_node_get(rp_node_at(stages, i), "id"));
        if (!id || strchr(id, '/') || strstr(id, "..")) continue;
        char dir[1200];
        /* a stage the matrix cells share ran in <run>/shared/... */
        if (!st || !rp_stage_dir_of(st, id, dir, sizeof dir))
            snprintf(dir, sizeof dir, "%s/%s", rundir, id);
        rc = read_list(fs, dir, id);
        if (rc || !rp_node_get(rp_node_at(stages, i), "foreach")) continue;
        /* foreach instances: <id>/<instance>/, in name order */
        DIR *d = opendir(dir);
        if (!d) continue;
        char **names = NULL;
        size_t nn = 0, cap = 0;
        for (struct dirent *de; (de = readdir(d)) && !rc;) {
            if (de->d_name[0] == '.') continue;
            if (nn == cap) {
                cap = cap ? cap * 2 : 16;
                char **v = realloc(names, cap * sizeof *v);
                if (!v) {
                    rc = -1;
                    break;
                }
                names = v;
            }
            if (!(names[nn++] = strdup(de->d_name))) rc = -1;
        }
        closedir(d);
        if (!rc) qsort(names, nn, sizeof *names, cmp_str);
        for (size_t k = 0; k < nn; k++) {
            if (!rc) {
                char sub[1400], sid[400];
                snprintf(sub, sizeof sub, "%s/%s", dir, names[k]);
                snprintf(sid, sizeof sid, "%s/%s", id, names[k]);
                rc = read_list(fs, sub, sid);
            }
            free(names[k]);
        }
        free(names);
    }
    if (rc) {
        rp_report_figs_release(fs);
        return rp_error_set(err, RP_ERR_NOMEM, "report: out of memory (figures)");
    }
    return RP_OK;
}

void rp_report_figs_release(rp_report_figs *fs) {
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->v[i].section), free(fs->v[i].title), free(fs->v[i].caption);
        free(fs->v[i].stage), free(fs->v[i].path);
    }
    free(fs->v);
    memset(fs, 0, sizeof *fs);
}

int rp_report_figs_has(const rp_report_figs *fs, const char *rundir, const char *rel) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", rundir, rel);
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->v[i].path, path) == 0) return 1;
    return 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* One figure's picture, inlined; a missing or unreadable file is named. */
static void picture(rp_strbuf *b, const rp_report_fig *g) {
    char *data = NULL;
    size_t len = 0;
    rp_error e;
    rp_error_clear(&e);
    if (rp_read_file(g->path, &data, &len, &e) != RP_OK) {
        rp_strbuf_puts(b, "<p class=\"muted\">missing: ");
        rp_put_html(b, g->path);
        rp_strbuf_puts(b, "</p>");
        return;
    }
    if (ends_with(g->path, ".svg")) {
        const char *svg = strstr(data, "<svg");
        if (svg) rp_strbuf_add(b, svg, len - (size_t)(svg - data));
    } else {
        const char *mime = ends_with(g->path, ".png")   ? "image/png"
                           : ends_with(g->path, ".jpg") ? "image/jpeg"
                                                        : "application/octet-stream";
        rp_strbuf_printf(b, "<img alt=\"\" src=\"data:%s;base64,", mime);
        rp_put_base64(b, (const unsigned char *)data, len);
        rp_strbuf_puts(b, "\">");
    }
    free(data);
}

void rp_report_figs_html(rp_strbuf *b, const rp_report_figs *fs) {
    char *done = calloc(fs->n ? fs->n : 1, 1);
    if (!done) {
        b->oom = 1;
        return;
    }
    for (size_t i = 0; i < fs->n; i++) {
        if (done[i]) continue;
        const char *sec = fs->v[i].section;
        rp_strbuf_puts(b, "<h3>");
        rp_put_html(b, sec);
        rp_strbuf_puts(b, "</h3>\n");
        for (size_t j = i; j < fs->n; j++) {
            if (done[j] || strcmp(fs->v[j].section, sec) != 0) continue;
            const char *title = fs->v[j].title;
            /* count the group: one figure is shown large, several as a grid */
            size_t group = 0;
            for (size_t k = j; k < fs->n; k++)
                group += !done[k] && !strcmp(fs->v[k].section, sec) &&
                         !strcmp(fs->v[k].title, title) && !strcmp(fs->v[k].stage, fs->v[j].stage);
            rp_strbuf_puts(b, "<div class=\"figgroup\"><p class=\"muted\">");
            rp_put_html(b, fs->v[j].stage);
            if (*title) {
                rp_strbuf_puts(b, " \xC2\xB7 ");
                rp_put_html(b, title);
            }
            rp_strbuf_puts(b, group > 1 ? "</p>\n<div class=\"grid-img fig\">\n"
                                        : "</p>\n<div class=\"onefig\">\n");
            const char *stage = fs->v[j].stage;
            for (size_t k = j; k < fs->n; k++) {
                if (done[k] || strcmp(fs->v[k].section, sec) || strcmp(fs->v[k].title, title) ||
                    strcmp(fs->v[k].stage, stage))
                    continue;
                done[k] = 1;
                rp_strbuf_puts(b, "<figure>");
                picture(b, &fs->v[k]);
                if (*fs->v[k].caption) {
                    rp_strbuf_puts(b, "<figcaption title=\"");
                    rp_put_html(b, fs->v[k].caption);
                    rp_strbuf_puts(b, "\">");
                    rp_put_html(b, fs->v[k].caption);
                    rp_strbuf_puts(b, "</figcaption>");
                }
                rp_strbuf_puts(b, "</figure>\n");
            }
            rp_strbuf_puts(b, "</div></div>\n");
        }
    }
    free(done);
}
