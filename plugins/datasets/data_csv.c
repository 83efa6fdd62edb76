/* data.csv — a CSV (RFC 4180, parsed with libcsv) listing images: a path
 * column and a label column (class name, or integer id), optionally a
 * domain column and a split column (keep only rows whose split equals
 * `split`). Paths are relative to `root` (default: the CSV's directory).
 * Classes are the explicit `classes` list, or the sorted distinct label
 * names over all rows (integer labels: ids 0..max), so every split of one
 * CSV shares class ids. Errors name the CSV file and the line where the
 * record starts (1-based, the header is line 1; blank lines and quoted
 * fields spanning lines are counted: the line an editor shows). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <csv.h>

#include "imglist.h"
#include "stages.h"

typedef struct table {
    char ***rows;   /* rows[r][c] owned */
    size_t *ncol;
    size_t *line;   /* line[r]: line of the file where row r starts (1-based) */
    size_t n, cap;
    char **cur;     /* row being built */
    size_t cur_n, cur_cap;
    int oom;
    size_t nul_line, nul_col; /* first field holding a NUL byte (its record's line), 0 = none */
    /* line tracking while parsing: the file is fed to libcsv one line at a
     * time; a record starts on the first line after the previous record's
     * end that holds more than white space (libcsv skips empty lines) */
    size_t feed_line; /* line being fed */
    size_t row_line;  /* where the record being read starts */
    int between;      /* no byte of the next record seen yet */
} table;

static void on_field(void *s, size_t len, void *data) {
    table *t = data;
    if (t->oom) return;
    if (t->cur_n == t->cur_cap) {
        size_t cap = t->cur_cap ? t->cur_cap * 2 : 8;
        char **c = realloc(t->cur, cap * sizeof *c);
        if (!c) {
            t->oom = 1;
            return;
        }
        t->cur = c;
        t->cur_cap = cap;
    }
    if (s && !t->nul_line && memchr(s, 0, len)) {
        t->nul_line = t->row_line;
        t->nul_col = t->cur_n + 1;
    }
    char *v = malloc(len + 1);
    if (!v) {
        t->oom = 1;
        return;
    }
    if (len) memcpy(v, s, len); /* (an empty field comes as NULL, 0) */
    v[len] = 0;
    t->cur[t->cur_n++] = v;
}

static void on_row(int c, void *data) {
    (void)c;
    table *t = data;
    if (t->oom) return;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        char ***r = realloc(t->rows, cap * sizeof *r);
        if (r) t->rows = r;
        size_t *nc = r ? realloc(t->ncol, cap * sizeof *nc) : NULL;
        if (nc) t->ncol = nc;
        size_t *ln = nc ? realloc(t->line, cap * sizeof *ln) : NULL;
        if (ln) t->line = ln;
        if (!r || !nc || !ln) {
            t->oom = 1;
            return;
        }
        t->cap = cap;
    }
    t->rows[t->n] = t->cur;
    t->ncol[t->n] = t->cur_n;
    t->line[t->n] = t->row_line;
    t->n++;
    t->between = 1;
    t->cur = NULL;
    t->cur_n = t->cur_cap = 0;
}

static void table_free(table *t) {
    for (size_t r = 0; r < t->n; r++) {
        for (size_t c = 0; c < t->ncol[r]; c++) free(t->rows[r][c]);
        free(t->rows[r]);
    }
    for (size_t c = 0; c < t->cur_n; c++) free(t->cur[c]);
    free(t->cur);
    free(t->rows);
    free(t->ncol);
    free(t->line);
}

/* Feeds buf[0..n) to the parser line by line, keeping t->feed_line and
 * t->row_line. Returns the bytes libcsv took (n unless malformed). */
static size_t feed(struct csv_parser *p, const char *buf, size_t n, table *t) {
    size_t done = 0;
    while (done < n) {
        const char *nl = memchr(buf + done, '\n', n - done);
        size_t k = nl ? (size_t)(nl - (buf + done)) + 1 : n - done;
        if (t->between) {
            t->row_line = t->feed_line;
            for (size_t i = 0; i < k; i++) {
                char c = buf[done + i];
                if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
                    t->between = 0;
                    break;
                }
            }
        }
        size_t got = csv_parse(p, buf + done, k, on_field, on_row, t);
        done += got;
        if (got != k) return done;
        if (nl) t->feed_line++;
    }
    return done;
}

static int read_csv(const char *path, table *t, rp_error *err) {
    memset(t, 0, sizeof *t);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return rp_error_set(err, RP_ERR_IO, "%s: is a directory, not a CSV file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return rp_error_set(err, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL | CSV_EMPTY_IS_NULL) != 0) {
        fclose(f);
        return rp_error_set(err, RP_ERR_NOMEM, "csv_init failed");
    }
    char buf[65536];
    size_t n;
    int st = RP_OK;
    t->feed_line = t->row_line = 1;
    t->between = 1;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (feed(&p, buf, n, t) != n) {
            st = rp_error_set(err, RP_ERR_FORMAT, "%s: line %zu: malformed CSV: %s", path,
                              t->feed_line, csv_strerror(csv_error(&p)));
            break;
        }
    }
    if (!st) csv_fini(&p, on_field, on_row, t);
    csv_free(&p);
    fclose(f);
    if (!st && t->oom) st = rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory", path);
    /* a NUL would silently cut a path or a label short */
    if (!st && t->nul_line)
        st = rp_error_set(err, RP_ERR_FORMAT, "%s: line %zu: field %zu contains a NUL byte", path,
                          t->nul_line, t->nul_col);
    if (st) table_free(t);
    return st;
}

static const char *cell(const table *t, size_t r, int c) {
    if (c < 0 || (size_t)c >= t->ncol[r]) return NULL;
    return t->rows[r][c];
}

static int find_col(const table *t, const char *path, const char *name, int required, int *col,
                    rp_error *err) {
    *col = -1;
    if (!name || !*name) return RP_OK;
    for (size_t c = 0; t->n && c < t->ncol[0]; c++)
        if (t->rows[0][c] && !strcmp(t->rows[0][c], name)) {
            *col = (int)c;
            return RP_OK;
        }
    if (!required && !name) return RP_OK;
    char list[512] = "";
    size_t u = 0;
    for (size_t c = 0; t->n && c < t->ncol[0] && u < sizeof list - 40; c++)
        u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", c ? ", " : "",
                              t->rows[0][c] ? t->rows[0][c] : "(empty)");
    return rp_error_set(err, RP_ERR_FORMAT, "%s: no column '%s' in the header (columns: %s)", path,
                        name, list);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Index of s in v[0..n), -1 if absent. */
static int index_of(char **v, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return i;
    return -1;
}

static int is_uint(const char *s) {
    if (!s || !*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Integer class ids are 0..CSV_MAX_ID: a larger one is a typo or garbage
 * (4294967295 must not wrap to -1), and would make that many classes. */
#define CSV_MAX_ID 99999

/* A label that can only be a mistake: negative or too large an integer id. */
static int bad_label(const char *where, const char *s, rp_error *err) {
    if (s[0] == '-' && is_uint(s + 1))
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s: label '%s' is negative (a label is a class name or an id 0..%d)",
                            where, s, CSV_MAX_ID);
    if (is_uint(s) && (strlen(s) > 9 || strtol(s, NULL, 10) > CSV_MAX_ID))
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s: label %s is out of range (integer class ids are 0..%d)", where, s,
                            CSV_MAX_ID);
    return RP_OK;
}

/* Does `rel` (a path from the CSV) stay inside `root`? Lexical: `..`
 * components that climb above the root leave it; an absolute path must
 * start with the root. */
static int inside_root(const char *rel, const char *root) {
    if (rel[0] == '/') {
        size_t rl = strlen(root);
        while (rl > 1 && root[rl - 1] == '/') rl--;
        if (root[0] != '/' || strncmp(rel, root, rl) || rel[rl] != '/') return 0;
        rel += rl + 1;
    }
    int depth = 0;
    const char *p = rel;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0) return 0;
        } else if (n && !(n == 1 && p[0] == '.')) {
            depth++;
        }
        p += n;
        if (*p == '/') p++;
    }
    return 1;
}

int csv_load(const rp_node *p, int threads, rp_dataset **out, uint64_t *skipped_out, rp_error *err) {
    *out = NULL;
    *skipped_out = 0;
    const char *file = rp_param_str(p, "file");
    const char *root = rp_param_str(p, "root");
    const char *split = rp_param_has(p, "split") ? rp_param_str(p, "split") : NULL;
    char csvdir[4096];
    snprintf(csvdir, sizeof csvdir, "%s", file);
    char *slash = strrchr(csvdir, '/');
    if (slash) *slash = 0;
    else snprintf(csvdir, sizeof csvdir, ".");
    if (!root || !*root) root = csvdir;
    table t;
    int st = read_csv(file, &t, err);
    if (st) return st;
    if (t.n < 1) {
        table_free(&t);
        return rp_error_set(err, RP_ERR_FORMAT, "%s: empty CSV (expected a header row)", file);
    }
    int cp, cl, cd = -1, cs = -1;
    st = find_col(&t, file, rp_param_str(p, "path_column"), 1, &cp, err);
    if (!st) st = find_col(&t, file, rp_param_str(p, "label_column"), 1, &cl, err);
    if (!st) st = find_col(&t, file, rp_param_str(p, "domain_column"), 1, &cd, err);
    if (!st) st = find_col(&t, file, rp_param_str(p, "split_column"), 1, &cs, err);
    if (!st && split && cs < 0)
        st = rp_error_at(err, rp_node_get(p, "split"), RP_ERR_INVALID,
                         "'split' needs 'split_column' (the CSV column holding it)");
    if (st) {
        table_free(&t);
        return st;
    }
    /* classes */
    const char *given[4096];
    int ng = ds_param_strs(p, "classes", given, 4096);
    char **cls = calloc((size_t)(t.n + (size_t)ng + 1), sizeof *cls);
    char **dom = calloc(t.n + 1, sizeof *dom);
    int ncls = 0, ndom = 0, numeric = 0;
    if (!cls || !dom) {
        table_free(&t);
        free(cls);
        free(dom);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    if (ng > 0) {
        for (int i = 0; i < ng; i++) cls[ncls++] = (char *)given[i];
    } else {
        numeric = 1;
        for (size_t r = 1; r < t.n; r++) {
            const char *s = cell(&t, r, cl);
            if (s && !is_uint(s)) numeric = 0;
        }
        int maxid = -1;
        for (size_t r = 1; r < t.n && !st; r++) {
            const char *s = cell(&t, r, cl);
            if (!s) continue;
            char where[160];
            snprintf(where, sizeof where, "%.120s: line %zu", file, t.line[r]);
            if ((st = bad_label(where, s, err))) break;
            /* all rows, whatever `split` keeps: every split of one CSV gets
             * the same class ids */
            if (numeric) {
                long v = strtol(s, NULL, 10);
                if (v > maxid) maxid = (int)v;
            } else if (index_of(cls, ncls, s) < 0) {
                cls[ncls++] = (char *)s;
            }
        }
        if (!numeric) qsort(cls, (size_t)ncls, sizeof *cls, cmp_str);
        else ncls = maxid + 1;
    }
    int outside_ok = rp_param_bool(p, "allow_outside_root");
    imglist l = {0};
    for (size_t r = 1; r < t.n && !st; r++) {
        char where[160];
        snprintf(where, sizeof where, "%.120s: line %zu", file, t.line[r]);
        if (t.ncol[r] == 1 && !t.rows[r][0]) continue; /* blank line */
        if (split && (!cell(&t, r, cs) || strcmp(cell(&t, r, cs), split))) continue;
        const char *path = cell(&t, r, cp), *lab = cell(&t, r, cl);
        if (!path || !lab || !*path) {
            st = rp_error_set(err, RP_ERR_FORMAT, "%s: missing %s (the record has %zu fields)", where,
                              !path || !*path ? "image path" : "label", t.ncol[r]);
            break;
        }
        if (!outside_ok && !inside_root(path, root)) {
            st = rp_error_set(err, RP_ERR_INVALID,
                              "%s: image path '%s' leaves the data root '%s' (set "
                              "'allow_outside_root: true' to allow it)",
                              where, path, root);
            break;
        }
        /* (an explicit class list may name a class "-1") */
        if ((ng == 0 || index_of(cls, ncls, lab) < 0) && (st = bad_label(where, lab, err))) break;
        int y;
        if (numeric && ng == 0) {
            y = (int)strtol(lab, NULL, 10);
        } else {
            y = index_of(cls, ncls, lab);
            if (y < 0 && is_uint(lab) && strtol(lab, NULL, 10) < ncls) y = (int)strtol(lab, NULL, 10);
            if (y < 0) {
                char list[400] = "";
                size_t u = 0;
                for (int i = 0; i < ncls && u < sizeof list - 40; i++)
                    u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "", cls[i]);
                st = rp_error_set(err, RP_ERR_FORMAT, "%s: unknown label '%s' (classes: %s)", where,
                                  lab, list);
                break;
            }
        }
        int d = -1;
        if (cd >= 0) {
            const char *ds = cell(&t, r, cd);
            if (!ds) {
                st = rp_error_set(err, RP_ERR_FORMAT, "%s: missing domain", where);
                break;
            }
            d = index_of(dom, ndom, ds);
            if (d < 0) dom[d = ndom++] = (char *)ds;
        }
        char full[4096];
        ds_join(root, path, full, sizeof full);
        st = imglist_add(&l, full, y, d, where, err);
    }
    /* domains: sorted names, ids remapped */
    if (!st && ndom > 0) {
        char **sorted = malloc((size_t)ndom * sizeof *sorted);
        int *map = malloc((size_t)ndom * sizeof *map);
        if (!sorted || !map) st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        if (!st) {
            memcpy(sorted, dom, (size_t)ndom * sizeof *sorted);
            qsort(sorted, (size_t)ndom, sizeof *sorted, cmp_str);
            for (int i = 0; i < ndom; i++) map[i] = index_of(sorted, ndom, dom[i]);
            for (size_t i = 0; i < l.n; i++) l.e[i].domain = map[l.e[i].domain];
            memcpy(dom, sorted, (size_t)ndom * sizeof *sorted);
        }
        free(sorted);
        free(map);
    }
    if (!st && l.n == 0)
        st = rp_error_set(err, RP_ERR_INVALID, "%s: no rows%s%s", file, split ? " with split " : "",
                          split ? split : "");
    rp_dataset *ds = NULL;
    uint64_t skipped = 0;
    if (!st) {
        imglist_opts o;
        imglist_opts_from(p, threads, &o);
        char name[128];
        const char *base = strrchr(file, '/');
        snprintf(name, sizeof name, "%.100s%s%.20s", base ? base + 1 : file, split ? "/" : "",
                 split ? split : "");
        char **names = NULL;
        if (!numeric || ng) names = cls;
        st = imglist_dataset(&l, &o, name, ncls, (const char *const *)names, &ds, &skipped, err);
        if (!st && ndom) st = rp_dataset_set_domains(ds, ndom, (const char *const *)dom, err);
    } else {
        imglist_release(&l);
    }
    free(cls);
    free(dom);
    table_free(&t);
    if (st) {
        rp_dataset_free(ds);
        return st;
    }
    *out = ds;
    *skipped_out = skipped;
    return RP_OK;
}

int ds_run_csv(rp_stage *stg, rp_error *err) {
    rp_dataset *ds;
    uint64_t skipped;
    int st = csv_load(rp_stage_params(stg), rp_stage_threads(stg), &ds, &skipped, err);
    if (st) return st;
    rp_stage_note(stg, "images", (double)ds->size);
    rp_stage_note(stg, "skipped", (double)skipped);
    if (skipped) rp_warn("%s: skipped %llu unreadable files (on_error: skip)", ds->name, (unsigned long long)skipped);
    return rp_stage_output(stg, "data", ds, err);
}

/* Check time: classes are the listed ones, else the label column's set
 * (distinct names, or 0..max for numbers, over all rows, as the run counts
 * them); a missing file or column is reported now. */
static int ds_check_csv(rp_check *ck, rp_error *err) {
    const rp_node *p = rp_check_params(ck);
    const rp_node *at = rp_node_get(p, "file");
    const char *given[4096];
    int ng = ds_param_strs(p, "classes", given, 4096);
    const char *file = rp_param_str(p, "file");
    if (ng > 0) {
        rp_check_declare(ck, "data", RP_FACT_CLASSES, ng, rp_node_get(p, "classes"));
    } else if (access(file, F_OK) == 0) { /* else an earlier stage writes it */
        table t;
        int st = read_csv(file, &t, err);
        if (st) return ds_relocate(err, at, st);
        int cl = -1;
        if (t.n >= 1) st = find_col(&t, file, rp_param_str(p, "label_column"), 1, &cl, err);
        if (st) {
            table_free(&t);
            return ds_relocate(err, at, st);
        }
        char **cls = calloc(t.n + 1, sizeof *cls);
        int ncls = 0, numeric = 1, maxid = -1;
        for (size_t r = 1; cls && r < t.n; r++) {
            const char *c = cell(&t, r, cl);
            if (c && !is_uint(c)) numeric = 0;
        }
        for (size_t r = 1; cls && cl >= 0 && r < t.n; r++) {
            const char *c = cell(&t, r, cl);
            if (!c) continue;
            if (numeric) {
                long v = strtol(c, NULL, 10);
                if (v > maxid) maxid = (int)v;
            } else if (index_of(cls, ncls, c) < 0) {
                cls[ncls++] = (char *)c;
            }
        }
        if (numeric) ncls = maxid + 1;
        if (cls && ncls > 0) rp_check_declare(ck, "data", RP_FACT_CLASSES, ncls, at);
        free(cls);
        table_free(&t);
    }
    rp_check_declare(ck, "data", RP_FACT_CHANNELS, rp_param_int(p, "channels"), at);
    int64_t size = rp_param_int(p, "size");
    if (!strcmp(rp_param_str(p, "resize"), "exact") && size > 0) {
        rp_check_declare(ck, "data", RP_FACT_HEIGHT, size, rp_node_get(p, "size"));
        rp_check_declare(ck, "data", RP_FACT_WIDTH, size, rp_node_get(p, "size"));
    }
    return RP_OK;
}

/* ---- stage declaration ---- */
static const struct rp_port data_out_ports[] = {
    {"data", RP_ART_DATASET, 0, "the dataset"},
};
static const struct rp_stage_def csv_stage = {
    "data.csv", "a CSV of image paths + labels (+ domain, split)",
    NULL, 0, data_out_ports, RP_COUNT(data_out_ports), ds_run_csv, 0, ds_check_csv};
RP_STAGE(csv_stage)
