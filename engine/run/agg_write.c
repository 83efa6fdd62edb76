/* Writing the aggregate: aggregate.csv (tidy: one row per cell, then mean /
 * std / n rows per group and the `then` means), aggregate.md (cells, groups,
 * paper-shaped tables) and summary.html (summary.c). rundir.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/aggregate.h"
#include "run/rundir.h"
#include "runpipe/io.h"

static void csv_field(FILE *f, const char *s) {
    if (strpbrk(s, ",\"\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"') fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
}

static void fmt_num(char *b, size_t n, double v) {
    if (!isfinite(v))
        snprintf(b, n, "%s", isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
    else
        snprintf(b, n, "%.6g", v);
}

static void md_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

static void write_csv(FILE *f, const rp_agg *a) {
    fputs("kind,cell", f);
    for (size_t x = 0; x < a->naxes; x++) fputc(',', f), csv_field(f, a->axes[x]);
    fputs(",status", f);
    for (size_t j = 0; j < a->ncol; j++) fputc(',', f), csv_field(f, a->cols[j]);
    fputc('\n', f);
    char b[64];
    for (size_t i = 0; i < a->nc; i++) {
        fputs("cell,", f);
        csv_field(f, a->cfg->cells[i].label);
        for (size_t x = 0; x < a->naxes; x++) fputc(',', f), csv_field(f, rp_agg_label(a, i, x));
        fputc(',', f);
        csv_field(f, a->cells[i].status);
        for (size_t j = 0; j < a->ncol; j++) {
            double v;
            if (rp_agg_value(a, i, a->cols[j], &v)) fmt_num(b, sizeof b, v);
            else b[0] = 0;
            fprintf(f, ",%s", b);
        }
        fputc('\n', f);
    }
    if (!rp_node_len(rp_node_get(a->cfg->aggregate, "over"))) return;
    const char *kinds[3] = {"mean", "std", "n"};
    for (size_t g = 0; g < a->ng; g++) {
        for (int k = 0; k < 3; k++) {
            fprintf(f, "%s,", kinds[k]);
            for (size_t x = 0; x < a->naxes; x++)
                fputc(',', f), csv_field(f, a->over[x] ? "*" : rp_agg_label(a, a->rep[g], x));
            size_t ndone = 0;
            for (size_t i = 0; i < a->nc; i++)
                ndone += a->group[i] == g && !strcmp(a->cells[i].status, "done");
            fprintf(f, ",%zu done", ndone);
            for (size_t j = 0; j < a->ncol; j++) {
                double m, s;
                size_t n;
                rp_agg_stats(a, g, a->cols[j], &m, &s, &n);
                if (k == 2) snprintf(b, sizeof b, "%zu", n);
                else fmt_num(b, sizeof b, k == 0 ? m : s);
                fprintf(f, ",%s", b);
            }
            fputc('\n', f);
        }
    }
    /* tables' `then` rows: kind mean_of_means, the averaged axis labelled `as` */
    for (size_t t = 0; t < a->ntab; t++) {
        const rp_agg_table *T = &a->tabs[t];
        if (!T->then_axis) continue;
        int along_cols = T->cols && !strcmp(T->then_axis, T->cols);
        size_t outer = along_cols ? T->nr : T->ncl, W = T->ncl + 1;
        for (size_t o = 0; o < outer; o++) {
            size_t k = along_cols ? o * W + T->ncl : T->nr * W + o;
            fputs("mean_of_means,", f);
            for (size_t x = 0; x < a->naxes; x++) {
                fputc(',', f);
                if (!strcmp(a->axes[x], T->then_axis)) csv_field(f, T->then_as);
                else if (T->rows && !strcmp(a->axes[x], T->rows)) csv_field(f, along_cols ? T->rlab[o] : "*");
                else if (T->cols && !strcmp(a->axes[x], T->cols)) csv_field(f, along_cols ? "*" : T->clab[o]);
                else csv_field(f, "*");
            }
            fprintf(f, ",%zu means", T->n[k]);
            for (size_t j = 0; j < a->ncol; j++) {
                if (strcmp(a->cols[j], T->metric)) b[0] = 0;
                else fmt_num(b, sizeof b, T->mean[k] / (T->scale ? T->scale : 1));
                fprintf(f, ",%s", b);
            }
            fputc('\n', f);
        }
    }
}

static void write_md_table(FILE *f, const rp_agg_table *T) {
    fprintf(f, "\n## %s", T->metric);
    if (T->scale != 1) fprintf(f, " (× %g)", T->scale);
    /* a table without cols is one column: "by arch", not "arch × " */
    if (T->cols)
        fprintf(f, ": %s × %s\n\n| %s |", T->rows ? T->rows : "", T->cols, T->rows ? T->rows : "");
    else
        fprintf(f, " by %s\n\n| %s |", T->rows ? T->rows : "", T->rows ? T->rows : "");
    size_t W = T->ncl + 1;
    int then_cols = T->then_axis && T->cols && !strcmp(T->then_axis, T->cols);
    int then_rows = T->then_axis && !then_cols;
    for (size_t c = 0; c < T->ncl; c++) fputc(' ', f), md_escape(f, T->clab[c]), fputs(" |", f);
    if (then_cols) fprintf(f, " %s |", T->then_as);
    fputs("\n|---|", f);
    for (size_t c = 0; c < T->ncl + (size_t)then_cols; c++) fputs("---|", f);
    fputc('\n', f);
    char b[128];
    for (size_t r = 0; r < T->nr + (size_t)then_rows; r++) {
        fputs("| ", f);
        md_escape(f, r < T->nr ? T->rlab[r] : T->then_as);
        fputs(" |", f);
        for (size_t c = 0; c < T->ncl + (size_t)then_cols; c++) {
            size_t k = r * W + c;
            if (!isfinite(T->mean[k])) snprintf(b, sizeof b, "–");
            else rp_agg_format(b, sizeof b, T->format, T->mean[k], T->sd[k], T->n[k]);
            fprintf(f, " %s |", b);
        }
        fputc('\n', f);
    }
}

static void write_md(FILE *f, const rp_agg *a) {
    const rp_config *cfg = a->cfg;
    fprintf(f, "# %s: %zu cells\n\n| cell |", cfg->name ? cfg->name : "pipeline", a->nc);
    for (size_t j = 0; j < a->ncol; j++) fprintf(f, " %s |", a->cols[j]);
    fputs(" status |\n|---|", f);
    for (size_t j = 0; j <= a->ncol; j++) fputs("---|", f);
    fputc('\n', f);
    char b[64];
    for (size_t i = 0; i < a->nc; i++) {
        fputs("| ", f);
        md_escape(f, cfg->cells[i].label);
        fputs(" |", f);
        for (size_t j = 0; j < a->ncol; j++) {
            double v;
            if (rp_agg_value(a, i, a->cols[j], &v)) fmt_num(b, sizeof b, v);
            else snprintf(b, sizeof b, "–");
            fprintf(f, " %s |", b);
        }
        fprintf(f, " %s |\n", a->cells[i].status);
    }
    const rp_node *over = rp_node_get(cfg->aggregate, "over");
    if (!rp_node_len(over)) return;
    fputs("\n## mean ± std over", f);
    for (size_t k = 0; k < rp_node_len(over); k++)
        fprintf(f, "%s %s", k ? "," : "", rp_node_str(rp_node_at(over, k)));
    fputs(" (sample std, n-1; finished cells only)\n\n|", f);
    for (size_t x = 0; x < a->naxes; x++)
        if (!a->over[x]) fprintf(f, " %s |", a->axes[x]);
    fputs(" cells |", f);
    for (size_t j = 0; j < a->ncol; j++) fprintf(f, " %s |", a->cols[j]);
    fputs("\n|", f);
    for (size_t x = 0; x < a->naxes; x++)
        if (!a->over[x]) fputs("---|", f);
    for (size_t j = 0; j <= a->ncol; j++) fputs("---|", f);
    fputc('\n', f);
    for (size_t g = 0; g < a->ng; g++) {
        fputc('|', f);
        for (size_t x = 0; x < a->naxes; x++)
            if (!a->over[x]) fputc(' ', f), md_escape(f, rp_agg_label(a, a->rep[g], x)), fputs(" |", f);
        size_t ndone = 0;
        for (size_t i = 0; i < a->nc; i++) ndone += a->group[i] == g && !strcmp(a->cells[i].status, "done");
        fprintf(f, " %zu |", ndone);
        for (size_t j = 0; j < a->ncol; j++) {
            double m, s;
            size_t n;
            rp_agg_stats(a, g, a->cols[j], &m, &s, &n);
            char m1[64], s1[64];
            fmt_num(m1, sizeof m1, m);
            fmt_num(s1, sizeof s1, s);
            if (n == 0) fputs(" – |", f);
            else if (n == 1) fprintf(f, " %s |", m1);
            else fprintf(f, " %s ± %s |", m1, s1);
        }
        fputc('\n', f);
    }
    for (size_t t = 0; t < a->ntab; t++) write_md_table(f, &a->tabs[t]);
}

int rp_aggregate_write(const char *rundir, const rp_config *cfg, rp_error *err) {
    rp_agg a;
    int s = rp_agg_load(&a, rundir, cfg, err);
    char csvp[2100], mdp[2100];
    snprintf(csvp, sizeof csvp, "%s/aggregate.csv", rundir);
    snprintf(mdp, sizeof mdp, "%s/aggregate.md", rundir);
    rp_afile csv, md;
    if (s == RP_OK) s = rp_afile_open(&csv, csvp, err);
    if (s == RP_OK && (s = rp_afile_open(&md, mdp, err)) != RP_OK) rp_afile_abort(&csv);
    if (s == RP_OK) {
        write_csv(csv.f, &a);
        write_md(md.f, &a);
        s = rp_afile_commit(&csv, err);
        if (s == RP_OK) s = rp_afile_commit(&md, err);
        else rp_afile_abort(&md);
    }
    if (s == RP_OK) s = rp_summary_write(rundir, &a, err);
    rp_agg_release(&a);
    return s;
}
