/* The stage cache's keys (rp_plan_keys, pipeline.h).
 *
 * The key is the SHA-256 of the stage id (it keys the stage's random streams),
 * its `use`, the sha256 of the providing plugin and of librunpipe, the
 * resolved params (canonical: map keys sorted), the run seed and the keys of
 * its inputs, and the size and modification time of the files and folders
 * its `x-path: in` params name (input_paths). A stage's results are a pure
 * function of these (DESIGN §8), so a hit is exact. File contents are not
 * hashed: a loader's key has its files' size and time (loaders are not
 * cacheable, but a stage after one is keyed by the loader's key).
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "config/schema.h"
#include "run/pipeline.h"
#include "runpipe/artifact.h"
#include "runpipe/io.h"
#include "runpipe/log.h"
#include "runpipe/nn.h"
#include "runpipe/runpipe.h"
#include "runpipe/strbuf.h"

/* ---- keys ---------------------------------------------------------------------------- */

static void canon(rp_strbuf *b, const rp_node *n) {
    if (!n || n->kind == RP_NODE_NULL) {
        rp_strbuf_puts(b, "~");
    } else if (n->kind == RP_NODE_SCALAR) {
        rp_strbuf_printf(b, "%zu:", strlen(n->str ? n->str : ""));
        rp_strbuf_puts(b, n->str ? n->str : "");
    } else if (n->kind == RP_NODE_SEQ) {
        rp_strbuf_puts(b, "[");
        for (size_t i = 0; i < n->n; i++)
            canon(b, n->items[i]), rp_strbuf_puts(b, ",");
        rp_strbuf_puts(b, "]");
    } else {
        /* keys in sorted order: `{a: 1, b: 2}` and `{b: 2, a: 1}` are one key */
        size_t *ord = malloc((n->n ? n->n : 1) * sizeof *ord);
        if (!ord) {
            rp_strbuf_puts(b, "!oom");
            return;
        }
        for (size_t i = 0; i < n->n; i++)
            ord[i] = i;
        for (size_t i = 1; i < n->n; i++)
            for (size_t j = i; j > 0 && strcmp(n->keys[ord[j - 1]]->str, n->keys[ord[j]]->str) > 0;
                 j--) {
                size_t t = ord[j];
                ord[j] = ord[j - 1];
                ord[j - 1] = t;
            }
        rp_strbuf_puts(b, "{");
        for (size_t i = 0; i < n->n; i++) {
            canon(b, n->keys[ord[i]]);
            rp_strbuf_puts(b, "=");
            canon(b, n->items[ord[i]]);
            rp_strbuf_puts(b, ",");
        }
        rp_strbuf_puts(b, "}");
        free(ord);
    }
}

static const char *plugin_hash(const char *file) {
    for (size_t i = 0; file && i < rp_registry_plugin_count(); i++) {
        const rp_plugin_rec *r = rp_registry_plugin_at(i);
        if (r->path && !strcmp(r->path, file)) return r->hash;
    }
    return "";
}

/* The engine's own code computes every layer: a rebuilt library is another
 * result. Hashed once per process. */
static const char *engine_hash(void) {
    static char hex[65];
    static int done;
    if (!done) {
        done = 1;
        Dl_info info;
        if (dladdr((void *)&rp_plan_keys, &info) && info.dli_fname &&
            rp_sha256_file(info.dli_fname, hex, NULL) == RP_OK)
            return hex;
        snprintf(hex, sizeof hex, "%s", RUNPIPE_VERSION);
    }
    return hex;
}

/* What the key knows of the files a stage reads (its `x-path: in` params):
 * a file's size and modification time, a folder's modification time (it
 * changes when entries are added, removed or renamed). Contents are not
 * hashed (the Open Images box CSV is 2 GB): a file rewritten in place with
 * the same size within the same nanosecond would not be seen. */
static void input_paths(rp_strbuf *b, const rp_plan_stage *s) {
    const rp_schema *sch = NULL;
    if (rp_schema_get(s->use, &sch, NULL) != RP_OK) return;
    const rp_node *props = rp_node_get(rp_schema_root(sch), "properties");
    for (size_t k = 0; k < rp_node_len(props); k++) {
        const char *kind = rp_node_str(rp_node_get(props->items[k], "x-path"));
        if (!kind || strcmp(kind, "in")) continue;
        const char *v = rp_node_str(rp_node_get(s->params, props->keys[k]->str));
        if (!v || !*v) continue;
        struct stat sb;
        if (stat(v, &sb) != 0)
            rp_strbuf_printf(b, "path %s absent\n", props->keys[k]->str);
        else
            rp_strbuf_printf(b, "path %s %s %lld %lld.%09ld\n", props->keys[k]->str,
                             S_ISDIR(sb.st_mode) ? "dir" : "file",
                             S_ISDIR(sb.st_mode) ? 0LL : (long long)sb.st_size,
                             (long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec);
    }
}

void rp_plan_keys(rp_plan *p, uint64_t seed) {
    for (size_t i = 0; i < p->n; i++) {
        rp_plan_stage *s = &p->st[i];
        s->key[0] = 0;
        if (!s->entry || !s->params || !s->id) continue;
        rp_strbuf b = {0};
        rp_strbuf_printf(
            &b, "runpipe-stage-key 1\nid %s\nuse %s\nplugin %s\nengine %s\nseed %llu\n", s->id,
            s->use, plugin_hash(s->entry->file), engine_hash(), (unsigned long long)seed);
        rp_strbuf_puts(&b, "params ");
        canon(&b, s->params);
        rp_strbuf_puts(&b, "\n");
        input_paths(&b, s);
        int ok = 1;
        for (size_t k = 0; k < s->entry->def->n_inputs; k++) {
            rp_strbuf_printf(&b, "in %s", s->entry->def->inputs[k].name);
            for (size_t j = 0; j < s->inputs[k].n; j++) {
                const rp_plan_src *src = &s->inputs[k].src[j];
                if (!p->st[src->stage].key[0]) ok = 0;
                rp_strbuf_printf(&b, " %s.%zu", p->st[src->stage].key, src->port);
            }
            rp_strbuf_puts(&b, "\n");
        }
        if (ok && b.p && !b.oom) rp_sha256_hex(b.p, b.n, s->key);
        rp_strbuf_release(&b);
    }
}
