/* The runpipe command line.
 *
 *   runpipe FILE | run FILE | check FILE | plan FILE | stages | describe NAME |
 *   schema --json | runs [DIR] | help
 *
 * Exit codes: 0 ok, 1 the run failed, 2 invalid pipeline or usage.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "config/diag.h"
#include "run/pipeline.h"
#include "host/registry.h"
#include "run/rundir.h"
#include "runpipe/runpipe.h"
#include "config/schema.h"
#include "cli/resume.h"
#include "cli/runs.h"

#define EXIT_RUN_FAILED 1
#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: runpipe [OPTIONS] FILE            run a pipeline (same as 'runpipe run FILE')\n"
    "       runpipe run FILE [OPTIONS]        run a pipeline\n"
    "       runpipe check FILE [OPTIONS]      validate everything, run nothing\n"
    "       runpipe plan FILE [OPTIONS]       print the resolved stages, wiring, matrix cells\n"
    "       runpipe --resume RUNDIR           continue a run (its pipeline and --set are stored)\n"
    "       runpipe stages [--json]           list every stage and component of every plugin\n"
    "       runpipe describe NAME             parameters and ports of a stage, or of a\n"
    "                                         component written KIND.NAME (loss.focal)\n"
    "       runpipe schema --json             one JSON Schema of pipeline files (editors)\n"
    "       runpipe runs [DIR] [--json]       the run folders under runs/ (or DIR): status,\n"
    "                                         cells done, duration, headline metrics\n"
    "       runpipe cache ls|gc [--max-size 10G] [--cache DIR]   the stage cache\n"
    "       runpipe compare RUNDIR... [--out F.html] [--md F.md]  runs or cells side by side\n"
    "       runpipe plugins                   every plugin file: name, version, what it\n"
    "                                         provides, load status and error\n"
    "       runpipe new-plugin NAME [DIR]     write a buildable plugin template\n"
    "       runpipe help                      this text\n"
    "\n"
    "options:\n"
    "  --set PATH=VALUE   override a value of the file (repeatable; VALUE is YAML),\n"
    "                     e.g. --set stages.fit.with.epochs=1 or --set vars.lr=0.01;\n"
    "                     a name the file does not have is an error; --set +vars.x=1 adds one\n"
    "  --out DIR          run folder (default runs/<name>/<YYYYmmdd-HHMMSS>); a new or\n"
    "                     empty folder (an existing run: --resume DIR, or --force-new)\n"
    "  --force-new        with --out DIR taken: use DIR-2, DIR-3 ...\n"
    "  --seed N           root seed (overrides the file's seed)\n"
    "  --threads N        threads for BLAS and parallel loops\n"
    "  --resume DIR       continue the run in DIR: finished matrix cells are skipped,\n"
    "                     failed or unfinished ones run again from their checkpoints;\n"
    "                     FILE and --set are the stored ones unless given (then they must\n"
    "                     match, or --force)\n"
    "  --force            --resume with a FILE or --set that differs from the stored one\n"
    "  --cache DIR        stage cache (default $RUNPIPE_CACHE, else runs/.cache)\n"
    "  --no-cache         run every stage (RUNPIPE_CACHE=off does the same)\n"
    "  --heartbeat N      without a terminal (CI, nohup), a progress line every N s\n"
    "                     (default 30, 0 = none)\n"
    "  --quiet            warnings and errors only      --verbose   debug output\n"
    "  --help             this text                     --version   print the version\n"
    "\n"
    "Plugins are loaded from RUNPIPE_PLUGIN_PATH (colon-separated), then\n"
    "<libdir>/runpipe/plugins; schemas from RUNPIPE_SCHEMA_PATH, then\n"
    "<prefix>/share/runpipe/schemas. Exit codes: 0 ok, 1 run failed, 2 invalid pipeline/usage.\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "runpipe: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'runpipe --help'.\n");
    return EXIT_USAGE;
}

static int use_color(void) {
    const char *nc = getenv("NO_COLOR");
    return isatty(STDERR_FILENO) && !(nc && *nc);
}

static void print_diag(const rp_diag *d) {
    char *txt = rp_diag_render(d, use_color());
    if (txt) fputs(txt, stderr);
    free(txt);
}

static int parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) return 0;
    *out = v;
    return 1;
}

/* ---- stages / describe / schema ------------------------------------------------- */

typedef struct row {
    char name[192];
    const char *kind, *plugin, *summary;
} row;

static int cmp_row(const void *a, const void *b) {
    const row *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    if (c) return strcmp(x->kind, "stage") == 0 ? -1 : strcmp(y->kind, "stage") == 0 ? 1 : c;
    return strcmp(x->name, y->name);
}

static int cmd_stages(int json) {
    size_t n = rp_registry_stage_count();
    for (int k = 0; k < RP_COMP_KIND_COUNT; k++) n += rp_component_count(k);
    row *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) return EXIT_RUN_FAILED;
    size_t r = 0;
    for (size_t i = 0; i < rp_registry_stage_count(); i++) {
        const rp_stage_entry *e = rp_registry_stage_at(i);
        snprintf(rows[r].name, sizeof rows[r].name, "%s", e->def->name);
        rows[r].kind = "stage";
        rows[r].plugin = e->plugin;
        rows[r++].summary = e->def->summary ? e->def->summary : "";
    }
    for (int k = 0; k < RP_COMP_KIND_COUNT; k++)
        for (size_t i = 0; i < rp_component_count(k); i++) {
            const struct rp_component *c = rp_component_at(k, i);
            snprintf(rows[r].name, sizeof rows[r].name, "%s.%s", rp_component_kind_name(k),
                     c->name);
            rows[r].kind = rp_component_kind_name(k);
            rows[r].plugin = rp_component_origin(k, c->name);
            rows[r++].summary = c->summary ? c->summary : "";
        }
    qsort(rows, r, sizeof *rows, cmp_row);
    if (json) {
        /* for scripts and editors: [{name, kind, plugin, summary}] */
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; i < r; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", rows[i].name);
            cJSON_AddStringToObject(o, "kind", rows[i].kind);
            cJSON_AddStringToObject(o, "plugin", rows[i].plugin ? rows[i].plugin : "");
            cJSON_AddStringToObject(o, "summary", rows[i].summary);
            cJSON_AddItemToArray(a, o);
        }
        char *t = cJSON_Print(a);
        if (t) printf("%s\n", t);
        free(t);
        cJSON_Delete(a);
        free(rows);
        return t ? 0 : EXIT_RUN_FAILED;
    }
    int w = 4;
    for (size_t i = 0; i < r; i++)
        if ((int)strlen(rows[i].name) > w) w = (int)strlen(rows[i].name);
    printf("%-*s  %-10s  %-10s  %s\n", w, "NAME", "KIND", "PLUGIN", "SUMMARY");
    for (size_t i = 0; i < r; i++)
        printf("%-*s  %-10s  %-10s  %s\n", w, rows[i].name, rows[i].kind,
               rows[i].plugin ? rows[i].plugin : "", rows[i].summary);
    free(rows);
    size_t nb = 0;
    for (size_t i = 0; i < rp_registry_plugin_count(); i++)
        if (!rp_registry_plugin_at(i)->ok) nb++;
    const char *const *probs;
    size_t np = rp_registry_builtin_problems(&probs);
    if (nb || np) {
        printf("\n%zu plugin%s failed to load:\n", nb, nb == 1 ? "" : "s");
        for (size_t i = 0; i < rp_registry_plugin_count(); i++) {
            const rp_plugin_rec *p = rp_registry_plugin_at(i);
            if (!p->ok) printf("  %s\n", p->err.msg);
        }
        for (size_t i = 0; i < np; i++) printf("  engine: %s\n", probs[i]);
    }
    if (!rp_registry_plugin_count())
        fprintf(stderr, "runpipe: no plugin found (searched RUNPIPE_PLUGIN_PATH and %s/runpipe/"
                        "plugins)\n", rp_engine_libdir());
    return 0;
}

static void print_ports(const char *title, const struct rp_port *p, size_t n) {
    printf("%s:\n", title);
    if (!n) printf("  (none)\n");
    for (size_t i = 0; i < n; i++)
        printf("  %-12s %-8s%s%s%s%s\n", p[i].name, p[i].type,
               (p[i].flags & RP_PORT_MULTI) ? "  list" : "",
               (p[i].flags & RP_PORT_OPTIONAL) ? "  optional" : "", p[i].doc ? "  " : "",
               p[i].doc ? p[i].doc : "");
}

static int print_schema(const char *name) {
    const rp_schema *s = NULL;
    rp_error e;
    rp_error_clear(&e);
    int st = rp_schema_get(name, &s, &e);
    if (st == RP_ERR_NOTFOUND) {
        printf("parameters: none\n");
        return 0;
    }
    if (st != RP_OK) {
        fprintf(stderr, "runpipe: schema %s: %s\n", name, e.msg);
        return EXIT_RUN_FAILED;
    }
    char *txt = rp_schema_describe(s);
    printf("parameters:\n%s", txt ? txt : "");
    if (txt && *txt && txt[strlen(txt) - 1] != '\n') printf("\n");
    free(txt);
    return 0;
}

static int cmd_describe(const char *name) {
    const rp_stage_entry *e = rp_registry_stage(name);
    if (e) {
        printf("%s — %s\nplugin: %s (%s)\n\n", e->def->name, e->def->summary ? e->def->summary : "",
               e->plugin, e->file);
        print_ports("inputs", e->def->inputs, e->def->n_inputs);
        print_ports("outputs", e->def->outputs, e->def->n_outputs);
        printf("\n");
        return print_schema(name);
    }
    const char *dot = strchr(name, '.');
    if (dot) {
        char kind[64];
        size_t kl = (size_t)(dot - name);
        if (kl < sizeof kind) {
            memcpy(kind, name, kl);
            kind[kl] = 0;
            int k = rp_component_kind_parse(kind);
            const struct rp_component *c = k >= 0 ? rp_component_find(k, dot + 1) : NULL;
            if (c) {
                printf("%s — %s\nkind: %s, provided by: %s\n\n", name, c->summary ? c->summary : "",
                       kind, rp_component_origin(k, c->name));
                return print_schema(name);
            }
        }
    }
    /* A short name that is exactly one component's (focal → loss.focal) or
       one stage's last part (idx → data.idx). */
    if (!dot) {
        char found[256] = "";
        int hits = 0;
        for (int k = 0; k < RP_COMP_KIND_COUNT; k++)
            if (rp_component_find(k, name)) {
                hits++;
                snprintf(found, sizeof found, "%s.%s", rp_component_kind_name(k), name);
            }
        for (size_t i = 0; i < rp_registry_stage_count(); i++) {
            const char *sn = rp_registry_stage_at(i)->def->name, *sd = strrchr(sn, '.');
            if (sd && !strcmp(sd + 1, name)) {
                hits++;
                snprintf(found, sizeof found, "%s", sn);
            }
        }
        if (hits == 1) return cmd_describe(found);
        if (hits > 1) {
            fprintf(stderr, "runpipe: '%s' is ambiguous:", name);
            for (int k = 0; k < RP_COMP_KIND_COUNT; k++)
                if (rp_component_find(k, name))
                    fprintf(stderr, " %s.%s", rp_component_kind_name(k), name);
            for (size_t i = 0; i < rp_registry_stage_count(); i++) {
                const char *sn = rp_registry_stage_at(i)->def->name, *sd = strrchr(sn, '.');
                if (sd && !strcmp(sd + 1, name)) fprintf(stderr, " %s", sn);
            }
            fprintf(stderr, "\n");
            return EXIT_USAGE;
        }
    }
    /* Unknown: suggest among every stage and KIND.NAME. */
    size_t n = rp_registry_stage_count();
    for (int k = 0; k < RP_COMP_KIND_COUNT; k++) n += rp_component_count(k);
    char **names = calloc(n ? n : 1, sizeof *names);
    size_t m = 0;
    for (size_t i = 0; names && i < rp_registry_stage_count(); i++)
        names[m++] = strdup(rp_registry_stage_at(i)->def->name);
    for (int k = 0; names && k < RP_COMP_KIND_COUNT; k++)
        for (size_t i = 0; i < rp_component_count(k); i++) {
            char b[256];
            snprintf(b, sizeof b, "%s.%s", rp_component_kind_name(k), rp_component_at(k, i)->name);
            names[m++] = strdup(b);
        }
    const char *s = names ? rp_suggest(name, (const char *const *)names, m) : NULL;
    if (s)
        fprintf(stderr, "runpipe: unknown stage or component '%s' (did you mean '%s'?)\n", name, s);
    else
        fprintf(stderr, "runpipe: unknown stage or component '%s' ('runpipe stages' lists them)\n",
                name);
    for (size_t i = 0; i < m; i++) free(names[i]);
    free(names);
    return EXIT_USAGE;
}

static int cmd_schema(void) {
    size_t n = rp_registry_stage_count();
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names) return EXIT_RUN_FAILED;
    for (size_t i = 0; i < n; i++) names[i] = rp_registry_stage_at(i)->def->name;
    char *out = NULL;
    rp_error e;
    rp_error_clear(&e);
    int st = rp_schema_export_json(names, n, &out, &e);
    free(names);
    if (st != RP_OK) {
        fprintf(stderr, "runpipe: schema: %s%s%s\n", e.file, e.file[0] ? ": " : "", e.msg);
        return EXIT_RUN_FAILED;
    }
    fputs(out, stdout);
    if (*out && out[strlen(out) - 1] != '\n') fputc('\n', stdout);
    free(out);
    return 0;
}

/* ---- run / check / plan ------------------------------------------------------------ */

struct cli {
    const char *cmd;
    const char *file;
    const char *name; /* describe */
    const char **sets;
    size_t n_sets;
    const char *out, *resume;
    int has_seed;
    uint64_t seed;
    int threads;
    int quiet, verbose, json;
    int force, force_new;
};

static int cmd_pipeline(const struct cli *c, int argc, char **argv) {
    rp_diag d;
    rp_diag_init(&d);
    struct rp_config_opts co = {.sets = c->sets, .n_sets = c->n_sets, .has_seed = c->has_seed, .seed = c->seed};
    rp_config *cfg = NULL;
    /* A file that parses but has errors (a variable, an override) still gets
       its stages checked, so every error of the file is reported at once. */
    int cfg_rc = rp_config_load_partial(c->file, &co, &cfg, &d);
    if (cfg_rc != RP_OK && !cfg) {
        print_diag(&d);
        rp_diag_release(&d);
        return EXIT_USAGE;
    }
    /* two plugins defining one name: only with the pipeline's consent */
    if (cfg->n_cells) rp_cli_check_conflicts(cfg->cells[0].doc, &d);
    /* ★ Check every cell before anything runs. */
    rp_plan **plans = calloc(cfg->n_cells ? cfg->n_cells : 1, sizeof *plans);
    if (!plans) {
        rp_config_free(cfg);
        rp_diag_release(&d);
        return EXIT_RUN_FAILED;
    }
    for (size_t i = 0; i < cfg->n_cells; i++) rp_plan_build(cfg->cells[i].doc, &plans[i], &d);
    int rc = 0;
    if (rp_diag_count(&d) > 0 || cfg_rc != RP_OK) {
        print_diag(&d);
        rc = EXIT_USAGE;
    } else if (strcmp(c->cmd, "check") == 0) {
        size_t ns = plans[0] ? plans[0]->n : 0;
        printf("%s: ok (%zu stage%s, %zu cell%s checked)\n", c->file, ns, ns == 1 ? "" : "s",
               cfg->n_cells, cfg->n_cells == 1 ? "" : "s");
    } else if (strcmp(c->cmd, "plan") == 0) {
        printf("pipeline '%s' (%s): %zu stage%s, %zu cell%s\n", cfg->name ? cfg->name : "",
               c->file, plans[0]->n, plans[0]->n == 1 ? "" : "s", cfg->n_cells,
               cfg->n_cells == 1 ? "" : "s");
        for (size_t i = 0; i < cfg->n_cells; i++) {
            const rp_cell *cell = &cfg->cells[i];
            if (cell->label && *cell->label)
                printf("\ncell %zu/%zu: %s  (seed %llu, dir %s)\n", i + 1, cfg->n_cells,
                       cell->label, (unsigned long long)cell->seed, cell->dirname);
            else
                printf("\nseed %llu\n", (unsigned long long)cell->seed);
            if (i >= 3 && cfg->n_cells > 4) {
                printf("  (same stages; %zu more cells)\n", cfg->n_cells - i - 1);
                for (size_t j = i + 1; j < cfg->n_cells; j++)
                    printf("cell %zu/%zu: %s\n", j + 1, cfg->n_cells, cfg->cells[j].label);
                break;
            }
            if (i == 0) rp_plans_share(cfg, plans);
            char *txt = rp_plan_describe(plans[i]);
            fputs(txt ? txt : "", stdout);
            free(txt);
        }
    } else {
        if (c->threads > 0) rp_set_threads(c->threads);
        rp_log_install_sigint();
        struct rp_run_opts ro = {c->out,      c->resume,   rp_get_threads(),
                                 argc,        argv,        NULL,
                                 0,           c->force_new, (const char *const *)c->sets,
                                 c->n_sets,   c->has_seed, c->seed};
        char *dir = NULL;
        rp_error e;
        rc = rp_run_all(cfg, plans, &ro, &dir, &e);
        if (rc != 0 && (e.status == RP_ERR_INTERRUPTED || rp_interrupted())) {
            /* Ctrl-C: not an error in the pipeline, so no location/caret;
               what was saved (the stage's message), then the exact command */
            if (e.msg[0]) fprintf(stderr, "runpipe: interrupted: %s\n", e.msg);
            if (dir)
                fprintf(stderr, "runpipe: continue with: runpipe --resume %s\n", dir);
            else if (!e.msg[0])
                fprintf(stderr, "runpipe: interrupted\n");
        } else if (rc != 0) {
            rp_diag one;
            rp_diag_init(&one);
            rp_diag_add(&one, &e);
            print_diag(&one);
            rp_diag_release(&one);
            if (dir)
                fprintf(stderr, "run folder: %s (continue with: runpipe --resume %s)\n", dir,
                        dir);
        }
        free(dir);
    }
    for (size_t i = 0; i < cfg->n_cells; i++) rp_plan_free(plans[i]);
    free(plans);
    rp_config_free(cfg);
    rp_diag_release(&d);
    return rc;
}

static const char *const known_opts[] = {
    "--set",   "--out",     "--seed",  "--threads", "--resume", "--cache", "--no-cache",
    "--quiet", "--verbose", "--help",  "--version", "--json",   "--force", "--force-new"};

static int unknown_option(const char *opt) {
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(opt, "="), opt);
    const char *s = rp_suggest(name, known_opts, RP_COUNT(known_opts));
    if (s) {
        fprintf(stderr, "runpipe: unknown option '%s' (did you mean '%s'?)\nTry 'runpipe --help'.\n",
                name, s);
        return EXIT_USAGE;
    }
    return usage_error("unknown option '%s'", name);
}

static int dispatch(struct cli *cp, int argc, char **argv);

/* --resume RUNDIR: c's file and --set replaced by the resolved ones. */
static int run_resumed(const struct cli *cp, const rp_resume *rs, int argc, char **argv) {
    struct cli c = *cp;
    c.file = rs->file;
    c.sets = (const char **)rs->sets;
    c.n_sets = rs->n_sets;
    c.has_seed = rs->has_seed;
    c.seed = rs->seed;
    if (c.out) return usage_error("%s", "--out and --resume exclude each other (--resume DIR reuses DIR)");
    return dispatch(&c, argc, argv);
}

static int run_main(int argc, char **argv, const char **pos, const char **sets) {
    struct cli c;
    memset(&c, 0, sizeof c);
    c.sets = sets;
    size_t npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        char opt[64] = "";
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const char *eq = strchr(a, '=');
            size_t l = eq ? (size_t)(eq - a) : strlen(a);
            if (l >= sizeof opt) return unknown_option(a);
            memcpy(opt, a, l);
            opt[l] = 0;
            if (eq) val = eq + 1;
        } else if (strcmp(a, "-h") == 0) {
            snprintf(opt, sizeof opt, "--help");
        } else if (strcmp(a, "-q") == 0) {
            snprintf(opt, sizeof opt, "--quiet");
        } else if (strcmp(a, "-v") == 0) {
            snprintf(opt, sizeof opt, "--verbose");
        } else if (a[0] == '-' && a[1]) {
            return unknown_option(a);
        } else {
            pos[npos++] = a;
            continue;
        }
        int takes = !strcmp(opt, "--set") || !strcmp(opt, "--out") || !strcmp(opt, "--seed") ||
                    !strcmp(opt, "--threads") || !strcmp(opt, "--resume") ||
                    !strcmp(opt, "--heartbeat");
        if (takes && !val) {
            if (i + 1 >= argc) return usage_error("option '%s' needs a value", opt);
            val = argv[++i];
        } else if (!takes && val) {
            return usage_error("option '%s' takes no value", opt);
        }
        if (!strcmp(opt, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(opt, "--version")) {
            printf("runpipe %s\n", RUNPIPE_VERSION);
            return 0;
        } else if (!strcmp(opt, "--set")) {
            if (!strchr(val, '=') || val[0] == '=')
                return usage_error("--set expects PATH=VALUE, got '%s'", val);
            c.sets[c.n_sets++] = val;
        } else if (!strcmp(opt, "--out")) {
            c.out = val;
        } else if (!strcmp(opt, "--resume")) {
            c.resume = val;
        } else if (!strcmp(opt, "--seed")) {
            if (!parse_u64(val, &c.seed))
                return usage_error("--seed expects a non-negative integer, got '%s'", val);
            c.has_seed = 1;
        } else if (!strcmp(opt, "--threads")) {
            uint64_t t;
            if (!parse_u64(val, &t) || t < 1 || t > 1024)
                return usage_error("--threads expects an integer from 1 to 1024, got '%s'", val);
            c.threads = (int)t;
        } else if (!strcmp(opt, "--heartbeat")) {
            uint64_t t;
            if (!parse_u64(val, &t) || t > 86400)
                return usage_error("--heartbeat expects seconds from 0 (off) to 86400, got '%s'",
                                   val);
            rp_log_set_heartbeat((double)t);
        } else if (!strcmp(opt, "--quiet")) {
            c.quiet = 1;
        } else if (!strcmp(opt, "--verbose")) {
            c.verbose = 1;
        } else if (!strcmp(opt, "--json")) {
            c.json = 1;
        } else if (!strcmp(opt, "--force")) {
            c.force = 1;
        } else if (!strcmp(opt, "--force-new")) {
            c.force_new = 1;
        } else {
            return unknown_option(opt);
        }
    }
    if (c.quiet && c.verbose) return usage_error("%s", "--quiet and --verbose exclude each other");
    rp_log_set_level(c.quiet ? RP_LOG_WARN : c.verbose ? RP_LOG_DEBUG : RP_LOG_INFO);
    if (npos == 0 && c.resume) pos[npos++] = "run"; /* runpipe --resume RUNDIR */
    if (npos == 0) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    static const char *const cmds[] = {"run",    "check", "plan", "stages",
                                       "describe", "schema", "runs", "help"};
    size_t arg0 = 0;
    c.cmd = NULL;
    for (size_t i = 0; i < RP_COUNT(cmds); i++)
        if (!strcmp(pos[0], cmds[i])) c.cmd = cmds[i];
    if (c.cmd) {
        arg0 = 1;
    } else if (access(pos[0], F_OK) == 0 || strchr(pos[0], '.') || strchr(pos[0], '/')) {
        c.cmd = "run";
    } else {
        const char *s = rp_suggest(pos[0], cmds, RP_COUNT(cmds));
        if (s) {
            fprintf(stderr, "runpipe: unknown command '%s' (did you mean '%s'?)\n", pos[0], s);
            return EXIT_USAGE;
        }
        return usage_error("unknown command or file '%s'", pos[0]);
    }
    size_t nargs = npos - arg0;
    if (!strcmp(c.cmd, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(c.cmd, "runs")) {
        if (nargs > 1) return usage_error("%s", "'runs' takes at most one folder");
        return rp_cli_runs(nargs ? pos[arg0] : "runs", c.json, stdout);
    }
    rp_resume rs;
    memset(&rs, 0, sizeof rs);
    if (c.resume && !strcmp(c.cmd, "run")) {
        /* the stored pipeline and overrides, unless given (then they must match) */
        rp_error e;
        rp_error_clear(&e);
        if (nargs > 1) return usage_error("%s", "'run' takes one pipeline file");
        if (rp_resume_prepare(c.resume, nargs ? pos[arg0] : NULL, c.sets, c.n_sets, c.has_seed,
                              c.seed, c.force, &rs, &e) != RP_OK) {
            fprintf(stderr, "runpipe: %s\n", e.msg);
            return EXIT_USAGE;
        }
        if (rs.changed && rp_resume_store(c.resume, &rs, &e) != RP_OK)
            fprintf(stderr, "runpipe: warning: %s\n", e.msg);
        if (rs.replayed)
            fprintf(stderr, "runpipe: resuming %s with %s and %zu stored --set\n", c.resume,
                    rs.file, rs.n_sets);
        int rc = run_resumed(&c, &rs, argc, argv);
        rp_resume_release(&rs);
        return rc;
    }
    int needs_file = !strcmp(c.cmd, "run") || !strcmp(c.cmd, "check") || !strcmp(c.cmd, "plan");
    if (needs_file) {
        if (nargs != 1)
            return usage_error(nargs ? "'%s' takes one pipeline file" : "'%s' needs a pipeline file",
                               c.cmd);
        c.file = pos[arg0];
        if (access(c.file, R_OK) != 0) {
            fprintf(stderr, "runpipe: cannot read '%s': %s\n", c.file, strerror(errno));
            return EXIT_USAGE;
        }
    } else if (!strcmp(c.cmd, "describe")) {
        if (nargs != 1) return usage_error("%s", "'describe' needs one NAME (a stage or KIND.NAME)");
        c.name = pos[arg0];
    } else if (nargs != 0) {
        return usage_error("'%s' takes no arguments", c.cmd);
    }
    if (!strcmp(c.cmd, "schema") && !c.json)
        return usage_error("%s", "'schema' needs --json (the only export format)");
    if (c.force_new && !c.out) return usage_error("%s", "--force-new goes with --out DIR");
    return dispatch(&c, argc, argv);
}

static int dispatch(struct cli *cp, int argc, char **argv) {
    struct cli c = *cp;
    if ((c.out || c.resume) && strcmp(c.cmd, "run") != 0)
        return usage_error("--out and --resume only apply to 'run' (not '%s')", c.cmd);
    if (c.out && c.resume)
        return usage_error("%s", "--out and --resume exclude each other (--resume DIR reuses DIR)");

    rp_plugins_load_all();
    int rc;
    if (!strcmp(c.cmd, "stages"))
        rc = cmd_stages(c.json);
    else if (!strcmp(c.cmd, "describe"))
        rc = cmd_describe(c.name);
    else if (!strcmp(c.cmd, "schema"))
        rc = cmd_schema();
    else {
        rp_cli_report_broken(); /* at the top: a missing stage below may be why */
        rc = cmd_pipeline(&c, argc, argv);
    }
    rp_plugins_unload_all();
    return rc;
}

/* libgomp reads OMP_WAIT_POLICY once, before main. With its default, idle
 * worker threads spin at every barrier; whenever anything else wants the
 * cores (OpenBLAS's own threads, the loader's workers, another process) that
 * spinning steals them: the quick-start took 2m25s spinning vs 1m21s passive
 * on 2 cores. So re-execute once with the passive policy unless the user
 * chose a policy. If exec fails we simply carry on. */
static void ensure_wait_policy(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
}

/* --cache DIR / --no-cache (any position) set the stage cache for runs and
 * `runpipe cache`; they are taken out of argv. */
static int take_cache_opts(int *argc, char **argv) {
    const char *env = getenv("RUNPIPE_CACHE"); /* a directory, or "off" */
    if (env) rp_cache_set_default(*env && strcmp(env, "off") ? env : NULL);
    int w = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-cache")) {
            rp_cache_set_default(NULL);
        } else if (!strcmp(a, "--cache") || !strncmp(a, "--cache=", 8)) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < *argc ? argv[++i] : NULL);
            if (!v || !*v) return usage_error("%s", "option '--cache' needs a value");
            rp_cache_set_default(v);
        } else {
            argv[w++] = argv[i];
        }
    }
    argv[w] = NULL;
    *argc = w;
    return 0;
}

static int parse_size(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1024.0, end++;
    else if (*end == 'M' || *end == 'm') mul = 1024.0 * 1024, end++;
    else if (*end == 'G' || *end == 'g') mul = 1024.0 * 1024 * 1024, end++;
    else if (*end == 'T' || *end == 't') mul = 1024.0 * 1024 * 1024 * 1024, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (end == s || *end || !(v >= 0)) return 0;
    *out = v * mul;
    return 1;
}

static void human(char *b, size_t n, double bytes) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int k = 0;
    while (bytes >= 1024 && k < 4) bytes /= 1024, k++;
    snprintf(b, n, k ? "%.1f %s" : "%.0f %s", bytes, u[k]);
}

/* runpipe cache ls | gc --max-size SIZE */
static int cmd_cache(int argc, char **argv) {
    const char *dir = rp_cache_default();
    if (!dir) return usage_error("%s", "'cache' needs a cache (not --no-cache)");
    const char *sub = argc > 2 ? argv[2] : NULL;
    rp_error e;
    rp_error_clear(&e);
    if (sub && !strcmp(sub, "ls") && argc == 3) {
        rp_cache_entry *v = NULL;
        size_t n = 0;
        double total = 0;
        if (rp_cache_list(dir, &v, &n, &total, &e) != RP_OK) {
            fprintf(stderr, "runpipe: %s\n", e.msg);
            return EXIT_RUN_FAILED;
        }
        char hb[32];
        human(hb, sizeof hb, total);
        printf("%s: %zu entr%s, %s\n", dir, n, n == 1 ? "y" : "ies", hb);
        for (size_t i = 0; i < n; i++) {
            char when[32];
            time_t t = (time_t)v[i].last_used;
            struct tm tm;
            localtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
            human(hb, sizeof hb, v[i].size);
            printf("  %.12s  %-24s %-12s %10s  used %s\n", v[i].key, v[i].stage, v[i].use, hb, when);
        }
        free(v);
        return 0;
    }
    if (sub && !strcmp(sub, "gc")) {
        double max = -1;
        for (int i = 3; i < argc; i++) {
            const char *a = argv[i], *v = NULL;
            if (!strncmp(a, "--max-size=", 11)) v = a + 11;
            else if (!strcmp(a, "--max-size") && i + 1 < argc) v = argv[++i];
            else return usage_error("'cache gc': unknown argument '%s'", a);
            if (!parse_size(v, &max))
                return usage_error("--max-size expects a size like 10G, 500M or 0, got '%s'", v);
        }
        if (max < 0) return usage_error("%s", "'cache gc' needs --max-size SIZE (e.g. 10G)");
        size_t removed = 0;
        double freed = 0;
        if (rp_cache_gc(dir, max, &removed, &freed, &e) != RP_OK) {
            fprintf(stderr, "runpipe: %s\n", e.msg);
            return EXIT_RUN_FAILED;
        }
        char hb[32];
        human(hb, sizeof hb, freed);
        printf("%s: removed %zu entr%s, freed %s\n", dir, removed, removed == 1 ? "y" : "ies", hb);
        return 0;
    }
    return usage_error("%s", "usage: runpipe cache ls | runpipe cache gc --max-size SIZE");
}

/* Commands with their own argument syntax: `cache` here, the others in
 * engine/cli/ (one file each). */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} own_cmds[] = {
    {"cache", cmd_cache},
    {"compare", rp_cli_compare},
    {"plugins", rp_cli_plugins},
    {"new-plugin", rp_cli_new_plugin},
};

int main(int argc, char **argv) {
    ensure_wait_policy(argv);
    if (take_cache_opts(&argc, argv) != 0) return EXIT_USAGE;
    for (size_t i = 0; argc > 1 && i < RP_COUNT(own_cmds); i++)
        if (!strcmp(argv[1], own_cmds[i].name)) return own_cmds[i].run(argc, argv);
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int rc = pos && sets ? run_main(argc, argv, pos, sets) : EXIT_RUN_FAILED;
    free(pos);
    free(sets);
    return rc;
}
