/* manifest.csv: what the crop folder holds, and the resume check. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oi.h"

const char *const OI_MANIFEST_HEADER =
    "file,ImageID,n,LabelName,class,group,split,XMin,XMax,YMin,YMax,left,top,width,height,"
    "scale,paste_x,paste_y";

static int cmp_row(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_lines(oi_manifest *m, char *text, rp_error *err) {
    size_t cap = m->n + 64;
    for (char *p = text; *p; p++)
        cap += *p == '\n';
    char **r = realloc(m->rows, cap * sizeof *r);
    if (!r) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    m->rows = r;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (*line && strcmp(line, OI_MANIFEST_HEADER)) {
            if (!(m->rows[m->n] = strdup(line)))
                return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            m->n++;
        }
        line = nl ? nl + 1 : NULL;
    }
    return RP_OK;
}

int oi_manifest_load(const char *dir, const char *params_text, oi_manifest *m, rp_error *err) {
    memset(m, 0, sizeof *m);
    char p[4096];
    char *text;
    size_t len;
    rp_error e;
    snprintf(p, sizeof p, "%s/manifest.params", dir);
    if (rp_path_exists(p) && rp_read_file(p, &text, &len, &e) == RP_OK) {
        m->same_params = !strcmp(text, params_text);
        free(text);
    }
    const char *names[2] = {"manifest.csv", "manifest.csv.part"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (!rp_path_exists(p)) continue;
        int st = rp_read_file(p, &text, &len, err);
        if (!st) {
            st = add_lines(m, text, err);
            free(text);
        }
        if (st) {
            oi_manifest_release(m);
            return st;
        }
    }
    if (m->n) qsort(m->rows, m->n, sizeof *m->rows, cmp_row);
    return RP_OK;
}

int oi_manifest_has(const oi_manifest *m, const char *row) {
    return m->n && bsearch(&row, m->rows, m->n, sizeof *m->rows, cmp_row) != NULL;
}

void oi_manifest_release(oi_manifest *m) {
    for (size_t i = 0; i < m->n; i++)
        free(m->rows[i]);
    free(m->rows);
    memset(m, 0, sizeof *m);
}

int oi_manifest_file(const char *row, char *file, size_t size) {
    const char *comma = strchr(row, ',');
    size_t n = comma ? (size_t)(comma - row) : strlen(row);
    if (n + 1 > size || n < 4) return 1;
    memcpy(file, row, n);
    file[n] = 0;
    /* <split>/<group>/<16 hex>_<digits>.jpg */
    const char *s1 = strchr(file, '/');
    if (!s1) return 1;
    if (strncmp(file, "train/", 6) && strncmp(file, "val/", 4)) return 1;
    const char *g = s1 + 1, *s2 = strchr(g, '/');
    if (!s2 || s2 == g || *g == '.') return 1;
    for (const char *q = g; q < s2; q++)
        if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-' && *q != '.') return 1;
    const char *b = s2 + 1;
    uint64_t id;
    char hex[17];
    if (strlen(b) < 22) return 1;
    memcpy(hex, b, 16);
    hex[16] = 0;
    if (oi_parse_image_id(hex, &id) || b[16] != '_') return 1;
    const char *d = b + 17;
    if (!isdigit((unsigned char)*d)) return 1;
    while (isdigit((unsigned char)*d))
        d++;
    return strcmp(d, ".jpg") != 0;
}
