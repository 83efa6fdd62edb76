/* Plain-data artifacts: metrics (named scalars + tables) and files (artifact.h). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/artifact.h"
#include "base/util.h"

rp_metrics *rp_metrics_new(void) { return calloc(1, sizeof(rp_metrics)); }

static void table_release(rp_table *t) {
    free(t->name);
    for (size_t c = 0; t->col_names && c < t->cols; c++) free(t->col_names[c]);
    free(t->col_names);
    for (size_t r = 0; t->row_names && r < t->rows; r++) free(t->row_names[r]);
    free(t->row_names);
    free(t->values);
    memset(t, 0, sizeof *t);
}

void rp_metrics_free(rp_metrics *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) free(m->names[i]);
    free(m->names);
    free(m->values);
    for (size_t i = 0; i < m->n_tables; i++) table_release(&m->tables[i]);
    free(m->tables);
    for (size_t i = 0; i < m->n_files; i++) free(m->files[i]);
    free(m->files);
    free(m);
}

int rp_metrics_set(rp_metrics *m, const char *name, double v, rp_error *err) {
    if (!m || !name || !*name) return rp_error_set(err, RP_ERR_INVALID, "metric needs a name");
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->names[i], name) == 0) {
            m->values[i] = v;
            return RP_OK;
        }
    char **nn = realloc(m->names, (m->n + 1) * sizeof *nn);
    if (!nn) return rp_error_set(err, RP_ERR_NOMEM, "metric '%s': out of memory", name);
    m->names = nn;
    double *nv = realloc(m->values, (m->n + 1) * sizeof *nv);
    if (!nv) return rp_error_set(err, RP_ERR_NOMEM, "metric '%s': out of memory", name);
    m->values = nv;
    m->names[m->n] = rp_strdup(name);
    if (!m->names[m->n]) return rp_error_set(err, RP_ERR_NOMEM, "metric '%s': out of memory", name);
    m->values[m->n++] = v;
    return RP_OK;
}

int rp_metrics_get(const rp_metrics *m, const char *name, double *v) {
    if (!m || !name) return 0;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->names[i], name) == 0) {
            if (v) *v = m->values[i];
            return 1;
        }
    return 0;
}

rp_table *rp_metrics_add_table(rp_metrics *m, const char *name, size_t rows, size_t cols,
                               const char *const *col_names, const char *const *row_names,
                               rp_error *err) {
    if (!m || !name || !*name) {
        rp_error_set(err, RP_ERR_INVALID, "table needs a name");
        return NULL;
    }
    if (rp_metrics_table(m, name)) {
        rp_error_set(err, RP_ERR_INVALID, "table '%s' already exists", name);
        return NULL;
    }
    if (cols == 0 || !col_names) {
        rp_error_set(err, RP_ERR_INVALID, "table '%s' needs at least one named column", name);
        return NULL;
    }
    if (rows && cols > SIZE_MAX / sizeof(double) / rows) {
        rp_error_set(err, RP_ERR_INVALID, "table '%s': %zu x %zu is too large", name, rows, cols);
        return NULL;
    }
    rp_table *nt = realloc(m->tables, (m->n_tables + 1) * sizeof *nt);
    if (!nt) goto nomem;
    m->tables = nt;
    rp_table *t = &m->tables[m->n_tables];
    memset(t, 0, sizeof *t);
    t->name = rp_strdup(name);
    t->col_names = calloc(cols, sizeof(char *));
    t->values = calloc(rows * cols > 0 ? rows * cols : 1, sizeof(double));
    if (!t->name || !t->col_names || !t->values) goto fail;
    t->cols = cols;
    for (size_t c = 0; c < cols; c++)
        if (!(t->col_names[c] = rp_strdup(col_names[c] ? col_names[c] : ""))) goto fail;
    if (row_names) {
        t->row_names = calloc(rows ? rows : 1, sizeof(char *));
        if (!t->row_names) goto fail;
        t->rows = rows;
        for (size_t r = 0; r < rows; r++)
            if (!(t->row_names[r] = rp_strdup(row_names[r] ? row_names[r] : ""))) goto fail;
    }
    t->rows = rows;
    m->n_tables++;
    return t;
fail:
    table_release(t);
nomem:
    rp_error_set(err, RP_ERR_NOMEM, "table '%s': out of memory", name);
    return NULL;
}

const rp_table *rp_metrics_table(const rp_metrics *m, const char *name) {
    if (!m || !name) return NULL;
    for (size_t i = 0; i < m->n_tables; i++)
        if (strcmp(m->tables[i].name, name) == 0) return &m->tables[i];
    return NULL;
}

int rp_metrics_add_file(rp_metrics *m, const char *relpath, rp_error *err) {
    if (!m || !relpath || !*relpath) return rp_error_set(err, RP_ERR_INVALID, "empty file path");
    for (size_t i = 0; i < m->n_files; i++)
        if (strcmp(m->files[i], relpath) == 0) return RP_OK;
    char **nf = realloc(m->files, (m->n_files + 1) * sizeof *nf);
    if (!nf) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    m->files = nf;
    if (!(m->files[m->n_files] = rp_strdup(relpath)))
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    m->n_files++;
    return RP_OK;
}

int rp_table_append_row(rp_table *t, const char *row_name, const double *values, rp_error *err) {
    if (!t) return rp_error_set(err, RP_ERR_INVALID, "no table");
    double *nv = realloc(t->values, (t->rows + 1) * t->cols * sizeof *nv);
    if (!nv) return rp_error_set(err, RP_ERR_NOMEM, "table '%s': out of memory", t->name);
    t->values = nv;
    for (size_t c = 0; c < t->cols; c++) nv[t->rows * t->cols + c] = values ? values[c] : NAN;
    if (row_name || t->row_names) {
        char **nr = realloc(t->row_names, (t->rows + 1) * sizeof *nr);
        if (!nr) return rp_error_set(err, RP_ERR_NOMEM, "table '%s': out of memory", t->name);
        if (!t->row_names) /* earlier rows had no names */
            for (size_t r = 0; r < t->rows; r++) nr[r] = rp_strdup("");
        t->row_names = nr;
        t->row_names[t->rows] = rp_strdup(row_name ? row_name : "");
        if (!t->row_names[t->rows])
            return rp_error_set(err, RP_ERR_NOMEM, "table '%s': out of memory", t->name);
    }
    t->rows++;
    return RP_OK;
}

rp_files *rp_files_new(const char *dir) {
    if (!dir) return NULL;
    rp_files *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->dir = rp_strdup(dir);
    if (!f->dir) {
        free(f);
        return NULL;
    }
    return f;
}

void rp_files_free(rp_files *f) {
    if (!f) return;
    free(f->dir);
    free(f);
}
