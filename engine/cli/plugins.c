/* What the plugin loader found, for people:
 *   runpipe plugins      one line per plugin file: path, name, version, ABI,
 *                        what it provides, load status and error
 * and for `check` / `plan` / `run`: failed loads at the top of the output,
 * and names defined by two plugins refused unless the pipeline opts in with
 * `plugins: {override: [NAME, ...]}`. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/schema.h"
#include "host/registry.h"
#include "runpipe/runpipe.h"

/* What one loaded plugin provides: "3 stages (a, b, c), 2 losses, ..." */
static void provides(const rp_plugin_rec *p, char *buf, size_t n) {
    size_t o = 0, ns = 0;
    buf[0] = 0;
    for (size_t i = 0; i < rp_registry_stage_count(); i++)
        if (!strcmp(rp_registry_stage_at(i)->file, p->path)) ns++;
    if (ns) {
        o += (size_t)snprintf(buf + o, n - o, "%zu stage%s (", ns, ns == 1 ? "" : "s");
        size_t k = 0;
        for (size_t i = 0; i < rp_registry_stage_count() && o < n; i++) {
            const rp_stage_entry *e = rp_registry_stage_at(i);
            if (strcmp(e->file, p->path)) continue;
            o += (size_t)snprintf(buf + o, n - o, "%s%s", k++ ? ", " : "", e->def->name);
        }
        if (o < n) o += (size_t)snprintf(buf + o, n - o, ")");
    }
    for (int kind = 0; kind < RP_COMP_KIND_COUNT && o < n; kind++) {
        size_t c = 0;
        for (size_t i = 0; i < rp_component_count(kind); i++) {
            const struct rp_component *cp = rp_component_at(kind, i);
            const char *org = rp_component_origin(kind, cp->name);
            if (org && p->name && !strcmp(org, p->name)) c++;
        }
        const char *kn = rp_component_kind_name(kind);
        if (c)
            o += (size_t)snprintf(buf + o, n - o, "%s%zu %s%s", o ? ", " : "", c, kn,
                                  c == 1 ? "" : kn[strlen(kn) - 1] == 's' ? "es" : "s");
    }
    if (!o) snprintf(buf, n, "nothing");
}

int rp_cli_plugins(int argc, char **argv) {
    (void)argv;
    if (argc > 2) {
        fprintf(stderr, "runpipe: 'plugins' takes no arguments\nTry 'runpipe --help'.\n");
        return 2;
    }
    rp_plugins_load_all();
    size_t n = rp_registry_plugin_count(), bad = 0;
    const char *const *dirs = rp_plugin_dirs();
    printf("plugin directories:");
    for (size_t i = 0; dirs[i]; i++) printf(" %s", dirs[i]);
    printf("%s\n\n", dirs[0] ? "" : " (none)");
    /* one line per file: status, name version, ABI, path: what it provides
       or why it failed */
    for (size_t i = 0; i < n; i++) {
        const rp_plugin_rec *p = rp_registry_plugin_at(i);
        char prov[1600], abi[16] = "?";
        if (p->ok) provides(p, prov, sizeof prov);
        if (p->abi) snprintf(abi, sizeof abi, "%u", p->abi);
        const char *why = p->err.msg; /* without the "plugin PATH: " the line starts with */
        size_t pl = strlen(p->path);
        if (!strncmp(why, "plugin ", 7) && !strncmp(why + 7, p->path, pl) &&
            !strncmp(why + 7 + pl, ": ", 2))
            why += 9 + pl;
        printf("%-6s  %-10s %-7s ABI %-3s %s: %s\n", p->ok ? "ok" : "FAILED",
               p->name ? p->name : "?", p->version ? p->version : "?", abi, p->path,
               p->ok ? prov : why);
        bad += !p->ok;
    }
    for (size_t i = 0; i < rp_registry_conflict_count(); i++) {
        const rp_conflict *c = rp_registry_conflict_at(i);
        printf("\nconflict: %s '%s' is defined by %s (used) and %s (skipped); a pipeline must "
               "opt in with `plugins: {override: [%s]}`\n",
               c->what, c->name, c->kept, c->dropped, c->name);
    }
    const char *const *probs;
    size_t np = rp_registry_builtin_problems(&probs);
    for (size_t i = 0; i < np; i++) printf("\nengine: %s\n", probs[i]);
    printf("\n%zu plugin file%s, %zu loaded, %zu failed\n", n, n == 1 ? "" : "s", n - bad, bad);
    rp_plugins_unload_all();
    return bad || np ? 1 : 0;
}

void rp_cli_report_broken(void) {
    for (size_t i = 0; i < rp_registry_plugin_count(); i++) {
        const rp_plugin_rec *p = rp_registry_plugin_at(i);
        if (!p->ok) fprintf(stderr, "runpipe: warning: %s\n", p->err.msg);
    }
}

int rp_cli_check_conflicts(const rp_node *doc, rp_diag *d) {
    const rp_node *ov = rp_node_path(doc, "plugins.override");
    int errors = 0;
    for (size_t i = 0; i < rp_registry_conflict_count(); i++) {
        const rp_conflict *c = rp_registry_conflict_at(i);
        int allowed = 0;
        for (size_t k = 0; k < rp_node_len(ov) && !allowed; k++) {
            const char *nm = rp_node_str(rp_node_at(ov, k));
            allowed = nm && !strcmp(nm, c->name);
        }
        if (allowed) continue;
        /* located at the first stage that uses the name, else the file */
        const rp_node *at = NULL, *stages = rp_node_get(doc, "stages");
        for (size_t k = 0; k < rp_node_len(stages) && !at && !strcmp(c->what, "stage"); k++) {
            const rp_node *u = rp_node_get(rp_node_at(stages, k), "use");
            if (rp_node_str(u) && !strcmp(rp_node_str(u), c->name)) at = u;
        }
        rp_diag_addf(d, at ? at : doc, NULL,
                     "%s '%s' is defined by two plugins: %s and %s; remove one from the plugin "
                     "path, or use the first with `plugins: {override: [%s]}`",
                     c->what, c->name, c->kept, c->dropped, c->name);
        errors++;
    }
    /* a name listed that is not defined twice is a typo or a leftover */
    for (size_t k = 0; k < rp_node_len(ov); k++) {
        const char *nm = rp_node_str(rp_node_at(ov, k));
        int found = 0;
        for (size_t i = 0; i < rp_registry_conflict_count() && !found; i++)
            found = nm && !strcmp(rp_registry_conflict_at(i)->name, nm);
        if (!found) {
            rp_diag_addf(d, rp_node_at(ov, k), NULL,
                         "plugins.override: '%s' is not defined by two plugins (nothing to "
                         "override)",
                         nm ? nm : "?");
            errors++;
        }
    }
    return errors;
}
