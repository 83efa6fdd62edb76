/* The "Final metrics" section in readable form: evaluate's "<set>.<metric>"
 * scalars as one table (rows = metric, columns = the evaluated sets side by
 * side), train's best epoch and early stopping as a sentence naming the
 * monitored metric, and the remaining scalars as name / value rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Metrics that are fractions of 1 and read best as percentages. */
static int is_fraction(const char *name) {
    static const char *const suf[] = {"accuracy", "error_rate", "precision", "recall", "_f1",
                                      "iou",      "dice",       "val_acc",   "train_acc"};
    if (strcmp(name, "AA") == 0 || ends_with(name, ".AA")) return 1;
    for (size_t i = 0; i < sizeof suf / sizeof *suf; i++)
        if (ends_with(name, suf[i])) return 1;
    return 0;
}

void rp_report_put_metric(rp_strbuf *b, const char *name, double v) {
    if (isnan(v)) rp_strbuf_puts(b, "\xE2\x80\x94");
    else if (strcmp(name, "DAA") == 0) rp_strbuf_printf(b, "%+.2f %%p", v);
    else if (is_fraction(name) && v >= 0 && v <= 1) rp_strbuf_printf(b, "%.2f %%", 100 * v);
    else rp_put_num(b, v);
}

const rp_node *rp_report_stage_node(const rp_node *pipeline, const char *id) {
    const rp_node *stages = rp_node_get(pipeline, "stages");
    for (size_t i = 0; id && i < rp_node_len(stages); i++) {
        const rp_node *s = rp_node_at(stages, i);
        const char *sid = rp_node_str(rp_node_get(s, "id"));
        if (sid && strcmp(sid, id) == 0) return s;
    }
    return NULL;
}

const char *rp_report_stage_input(const rp_node *pipeline, const char *id, const char *port) {
    const rp_node *s = rp_report_stage_node(pipeline, id);
    return rp_node_str(rp_node_get(rp_node_get(s, "in"), port));
}

static double scalar(const rp_metrics *m, const char *key) {
    for (size_t k = 0; k < m->n; k++)
        if (strcmp(m->names[k], key) == 0) return m->values[k];
    return NAN;
}

static int has(const rp_metrics *m, const char *key) {
    for (size_t k = 0; k < m->n; k++)
        if (strcmp(m->names[k], key) == 0) return 1;
    return 0;
}

/* Sets of an evaluate-like input: prefixes S with an "S.samples" scalar. */
static size_t find_sets(const rp_metrics *m, const char **sets, size_t max) {
    size_t n = 0;
    for (size_t k = 0; k < m->n && n < max; k++) {
        const char *nm = m->names[k];
        if (!ends_with(nm, ".samples")) continue;
        size_t l = strlen(nm) - 8;
        if (memchr(nm, '.', l)) continue;
        sets[n++] = nm;
    }
    return n;
}

static size_t set_len(const char *set_key) { return strlen(set_key) - 8; /* "S.samples" */ }

/* Which set a key belongs to ("clean.accuracy" → 0, "baseline.clean.accuracy"
 * → 0 with *baseline = 1), -1 for none; *metric = the rest. */
static int key_set(const char *key, const char **sets, size_t ns, const char **metric,
                   int *baseline) {
    *baseline = 0;
    const char *k = key;
    if (!strncmp(k, "baseline.", 9)) {
        k += 9;
        *baseline = 1;
    }
    for (size_t s = 0; s < ns; s++) {
        size_t l = set_len(sets[s]);
        if (!strncmp(k, sets[s], l) && k[l] == '.') {
            *metric = k + l + 1;
            return (int)s;
        }
    }
    return -1;
}

static void set_table(rp_strbuf *b, const rp_metrics *m, const char **sets, size_t ns) {
    /* rows: metric names in order of first appearance */
    const char **rows = calloc(m->n ? m->n : 1, sizeof *rows);
    int *rbase = calloc(m->n ? m->n : 1, sizeof *rbase);
    if (!rows || !rbase) {
        free(rows);
        free(rbase);
        b->oom = 1;
        return;
    }
    size_t nr = 0;
    for (size_t k = 0; k < m->n; k++) {
        const char *metric;
        int base;
        if (key_set(m->names[k], sets, ns, &metric, &base) < 0) continue;
        size_t r = 0;
        while (r < nr && !(rbase[r] == base && strcmp(rows[r], metric) == 0)) r++;
        if (r == nr) {
            rows[nr] = metric;
            rbase[nr++] = base;
        }
    }
    rp_strbuf_puts(b, "<table class=\"sets\"><thead><tr><th>metric</th>");
    for (size_t s = 0; s < ns; s++) {
        rp_strbuf_puts(b, "<th>");
        rp_strbuf_add(b, sets[s], set_len(sets[s]));
        rp_strbuf_puts(b, "</th>");
    }
    rp_strbuf_puts(b, "</tr></thead><tbody>\n");
    char key[400];
    for (size_t r = 0; r < nr; r++) {
        rp_strbuf_puts(b, "<tr><td>");
        if (rbase[r]) rp_strbuf_puts(b, "baseline ");
        for (const char *c = rows[r]; *c; c++) /* "macro_f1" → "macro f1" */
            rp_strbuf_add(b, *c == '_' ? " " : c, 1);
        rp_strbuf_puts(b, "</td>");
        for (size_t s = 0; s < ns; s++) {
            snprintf(key, sizeof key, "%s%.*s.%s", rbase[r] ? "baseline." : "",
                     (int)set_len(sets[s]), sets[s], rows[r]);
            rp_strbuf_puts(b, "<td>");
            if (has(m, key)) rp_report_put_metric(b, key, scalar(m, key));
            rp_strbuf_puts(b, "</td>");
        }
        rp_strbuf_puts(b, "</tr>\n");
    }
    rp_strbuf_puts(b, "</tbody></table>\n");
    free(rows);
    free(rbase);
}

static const char *const train_keys[] = {"best_epoch", "best_value", "epochs_run",
                                         "stopped_early", "seconds"};

static int is_train_key(const char *k) {
    for (size_t i = 0; i < sizeof train_keys / sizeof *train_keys; i++)
        if (strcmp(k, train_keys[i]) == 0) return 1;
    return 0;
}

/* train's summary: which epoch was best by which metric, whether it
 * stopped early, which epoch the values below come from. */
static void train_summary(rp_strbuf *b, const rp_report_input *in, const rp_node *pipeline) {
    const rp_metrics *m = in->m;
    const rp_node *st = rp_report_stage_node(pipeline, in->source);
    const rp_node *with = rp_node_get(st, "with");
    const char *monitor = rp_node_str(rp_node_get(with, "monitor"));
    int64_t epochs = 0;
    const rp_node *en = rp_node_get(with, "epochs");
    rp_error e;
    if (en && rp_node_as_int(en, &epochs, &e) != RP_OK) epochs = 0;
    int restore = 0;
    const rp_node *rb = rp_node_get(with, "restore_best");
    if (rb && rp_node_as_bool(rb, &restore, &e) != RP_OK) restore = 0;
    char mon[64];
    snprintf(mon, sizeof mon, "%s", monitor ? monitor : "the monitored metric");
    int has_val = has(m, "val_loss") || has(m, "val_acc") ||
                  rp_report_stage_input(pipeline, in->source, "val");
    if (monitor && !strncmp(monitor, "val_", 4) && !has_val)
        snprintf(mon, sizeof mon, "train_%s", monitor + 4); /* no validation set */
    double run = scalar(m, "epochs_run"), best = scalar(m, "best_epoch");
    rp_strbuf_puts(b, "<p class=\"summary\">");
    rp_strbuf_printf(b, "Trained %.0f", run);
    if (epochs > 0) rp_strbuf_printf(b, " of %lld", (long long)epochs);
    rp_strbuf_puts(b, run == 1 ? " epoch" : " epochs");
    if (scalar(m, "stopped_early") > 0) {
        const rp_node *es = rp_node_get(with, "early_stopping");
        const char *esm = rp_node_str(rp_node_get(es, "monitor"));
        int64_t patience = 0;
        const rp_node *pn = rp_node_get(es, "patience");
        if (pn && rp_node_as_int(pn, &patience, &e) != RP_OK) patience = 0;
        rp_strbuf_puts(b, "; <b>stopped early</b>: ");
        rp_put_html(b, esm ? esm : mon);
        if (patience > 0)
            rp_strbuf_printf(b, " did not improve for %lld epochs", (long long)patience);
        else
            rp_strbuf_puts(b, " stopped improving");
    } else if (epochs > 0 && run >= (double)epochs) {
        rp_strbuf_puts(b, " (no early stop)");
    }
    if (isfinite(scalar(m, "seconds")))
        rp_strbuf_printf(b, " in %.1f s", scalar(m, "seconds"));
    rp_strbuf_puts(b, ". ");
    if (best > 0) {
        rp_strbuf_printf(b, "Best epoch <b>%.0f</b> by ", best);
        rp_put_html(b, mon);
        rp_strbuf_puts(b, " (");
        rp_report_put_metric(b, mon, scalar(m, "best_value"));
        rp_strbuf_puts(b, "). ");
    }
    rp_strbuf_puts(b, restore || (best > 0 && best == run)
                          ? "The values below are those of the best epoch."
                          : "The values below are those of the last epoch.");
    rp_strbuf_puts(b, "</p>\n");
}

void rp_report_metric_tables(rp_strbuf *b, const rp_report_input *in, size_t n,
                             const rp_node *pipeline) {
    rp_strbuf_puts(b, "<div class=\"charts\">\n");
    for (size_t i = 0; i < n; i++) {
        const rp_metrics *m = in[i].m;
        const char *sets[64];
        size_t ns = find_sets(m, sets, 64);
        int train = has(m, "best_epoch") && has(m, "epochs_run");
        rp_strbuf_puts(b, "<div class=\"mblock\"><h3>");
        rp_put_html(b, in[i].source);
        rp_strbuf_puts(b, "</h3>\n");
        if (train) train_summary(b, &in[i], pipeline);
        if (ns) set_table(b, m, sets, ns);
        /* the other scalars */
        int open = 0;
        const char *val = train ? rp_report_stage_input(pipeline, in[i].source, "val") : NULL;
        for (size_t k = 0; k < m->n; k++) {
            const char *nm = m->names[k], *metric;
            int base;
            if (ns && key_set(nm, sets, ns, &metric, &base) >= 0) continue;
            if (train && is_train_key(nm)) continue;
            if (!open++)
                rp_strbuf_puts(b, "<table><thead><tr><th>metric</th><th>value</th></tr></thead>"
                                  "<tbody>\n");
            rp_strbuf_puts(b, "<tr><td>");
            rp_put_html(b, nm);
            if (val && !strncmp(nm, "val_", 4)) { /* which set validated */
                rp_strbuf_puts(b, " <span class=\"muted\">(");
                rp_put_html(b, val);
                rp_strbuf_puts(b, ")</span>");
            }
            rp_strbuf_puts(b, "</td><td>");
            rp_report_put_metric(b, nm, m->values[k]);
            rp_strbuf_puts(b, "</td></tr>\n");
        }
        if (open) rp_strbuf_puts(b, "</tbody></table>\n");
        if (m->n == 0) rp_strbuf_puts(b, "<p class=\"muted\">(no scalars)</p>\n");
        rp_strbuf_puts(b, "</div>\n");
    }
    rp_strbuf_puts(b, "</div>\n");
}
