/* Figures a stage contributes to the run's report (rp_stage_figure): kept in
 * <stage folder>/figures.json, which `report` reads for every stage of the
 * pipeline. The list lives in the stage's folder, so the stage cache restores
 * it with the stage's other files. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "runpipe/runpipe.h"

static cJSON *load_list(const char *path) {
    char *text = NULL;
    size_t len = 0;
    rp_error e;
    rp_error_clear(&e);
    cJSON *root = NULL;
    if (rp_read_file(path, &text, &len, &e) == RP_OK) root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root || !cJSON_IsArray(cJSON_GetObjectItem(root, "figures"))) {
        cJSON_Delete(root);
        root = cJSON_CreateObject();
        if (root && !cJSON_AddArrayToObject(root, "figures")) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    return root;
}

int rp_stage_figure(rp_stage *st, const char *section, const char *title, const char *file,
                    const char *caption, rp_error *err) {
    if (!section || !*section || !file || !*file || file[0] == '/' || strstr(file, ".."))
        return rp_error_set(err, RP_ERR_INVALID,
                            "rp_stage_figure: needs a section and a file inside the stage folder "
                            "(got '%s')", file ? file : "(null)");
    const char *dir = NULL;
    int rc = rp_stage_dir(st, &dir, err);
    if (rc != RP_OK) return rc;
    char path[1200];
    snprintf(path, sizeof path, "%s/figures.json", dir);
    cJSON *root = load_list(path);
    if (!root) return rp_error_set(err, RP_ERR_NOMEM, "out of memory (figures.json)");
    cJSON *list = cJSON_GetObjectItem(root, "figures");
    /* the same file again (a re-run into the same folder) replaces its entry */
    int i = 0;
    for (cJSON *f = list->child; f; f = f->next, i++) {
        const cJSON *ff = cJSON_GetObjectItem(f, "file");
        if (cJSON_IsString(ff) && strcmp(ff->valuestring, file) == 0) {
            cJSON_DeleteItemFromArray(list, i);
            break;
        }
    }
    cJSON *f = cJSON_CreateObject();
    int ok = f && cJSON_AddStringToObject(f, "section", section) &&
             cJSON_AddStringToObject(f, "title", title ? title : "") &&
             cJSON_AddStringToObject(f, "file", file) &&
             cJSON_AddStringToObject(f, "caption", caption ? caption : "") &&
             cJSON_AddItemToArray(list, f);
    if (!ok) cJSON_Delete(f);
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return rp_error_set(err, RP_ERR_NOMEM, "out of memory (figures.json)");
    rc = rp_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}
