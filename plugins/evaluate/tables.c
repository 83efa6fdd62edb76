/* Tables of the evaluate stage as CSV and Markdown files (atomic writes). */
#include <math.h>
#include <string.h>

#include "evaluate.h"

void ev_fmt(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "%s", "");
    else if (v == floor(v) && fabs(v) < 1e15) snprintf(buf, n, "%.0f", v);
    else snprintf(buf, n, "%.4f", v);
}

static void csv_field(FILE *f, const char *s) {
    if (!s) s = "";
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void md_field(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '\n' || *s == '\r') fputc(' ', f);
        else fputc(*s, f);
    }
}

int ev_write_table_csv(const rp_table *t, const char *path, rp_error *err) {
    rp_afile af;
    int rc = rp_afile_open(&af, path, err);
    if (rc != RP_OK) return rc;
    fputs(t->row_names ? "name" : "", af.f);
    for (size_t j = 0; j < t->cols; j++) {
        if (t->row_names || j) fputc(',', af.f);
        csv_field(af.f, t->col_names[j]);
    }
    fputc('\n', af.f);
    char num[64];
    for (size_t i = 0; i < t->rows; i++) {
        if (t->row_names) csv_field(af.f, t->row_names[i]);
        for (size_t j = 0; j < t->cols; j++) {
            if (t->row_names || j) fputc(',', af.f);
            double v = t->values[i * t->cols + j];
            if (!isnan(v)) {
                snprintf(num, sizeof num, "%.10g", v);
                fputs(num, af.f);
            }
        }
        fputc('\n', af.f);
    }
    return rp_afile_commit(&af, err);
}

void ev_table_markdown(FILE *f, const rp_table *t) {
    fputs("|", f);
    if (t->row_names) fputs(" |", f);
    for (size_t j = 0; j < t->cols; j++) {
        fputc(' ', f);
        md_field(f, t->col_names[j]);
        fputs(" |", f);
    }
    fputs("\n|", f);
    if (t->row_names) fputs("---|", f);
    for (size_t j = 0; j < t->cols; j++) fputs("---:|", f);
    fputc('\n', f);
    char num[64];
    for (size_t i = 0; i < t->rows; i++) {
        fputs("|", f);
        if (t->row_names) {
            fputc(' ', f);
            md_field(f, t->row_names[i]);
            fputs(" |", f);
        }
        for (size_t j = 0; j < t->cols; j++) {
            ev_fmt(num, sizeof num, t->values[i * t->cols + j]);
            fprintf(f, " %s |", num);
        }
        fputc('\n', f);
    }
}

int ev_write_markdown(const rp_metrics *m, const char *title, const char *path, rp_error *err) {
    rp_afile af;
    int rc = rp_afile_open(&af, path, err);
    if (rc != RP_OK) return rc;
    fprintf(af.f, "# ");
    md_field(af.f, title);
    fprintf(af.f, "\n\n| metric | value |\n|---|---:|\n");
    for (size_t i = 0; i < m->n; i++) {
        fputs("| ", af.f);
        md_field(af.f, m->names[i]);
        fprintf(af.f, " | %.6g |\n", m->values[i]);
    }
    for (size_t i = 0; i < m->n_tables; i++) {
        fputs("\n## ", af.f);
        md_field(af.f, m->tables[i].name);
        fputs("\n\n", af.f);
        ev_table_markdown(af.f, &m->tables[i]);
    }
    return rp_afile_commit(&af, err);
}
