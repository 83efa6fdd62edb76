/* The pipeline front end: YAML text -> config (vars, matrix, foreach) ->
 * plan of every cell -> check against the real schemas of the real plugins
 * (what `runpipe check` does, without running anything). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz.h"
#include "config/config.h"
#include "config/diag.h"
#include "host/registry.h"
#include "run/pipeline.h"

int fuzz_one(const uint8_t *data, size_t n, char *msg, size_t msz) {
    static int loaded;
    if (!loaded) {
        rp_plugins_load_all();
        loaded = 1;
    }
    char *text = malloc(n + 1);
    if (!text) return 1;
    memcpy(text, data, n);
    text[n] = 0;
    struct rp_config_opts o;
    memset(&o, 0, sizeof o);
    rp_diag d;
    rp_diag_init(&d);
    rp_config *cfg = NULL;
    if (rp_config_load_string(text, "fuzz.yaml", &o, &cfg, &d) == 0) {
        for (size_t i = 0; i < cfg->n_cells; i++) {
            rp_plan *p = NULL;
            rp_plan_build(cfg->cells[i].doc, &p, &d);
            rp_plan_free(p);
        }
        rp_config_free(cfg);
    }
    int nerr = (int)rp_diag_count(&d);
    char *r = rp_diag_render(&d, 0);
    if (r) {
        char *nl = strchr(r, '\n');
        snprintf(msg, msz, "%.*s", nl ? (int)(nl - r) : (int)strlen(r), r);
    }
    free(r);
    rp_diag_release(&d);
    free(text);
    return nerr;
}
