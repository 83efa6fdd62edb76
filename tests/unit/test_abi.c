/* The plugin ABI: every public struct a plugin compiles in has the size
 * pinned for the current RP_ABI_VERSION. A struct that changes size without
 * a bump of RP_ABI_VERSION (plugin.h) fails here: bump the version, then
 * update this table. (Plugins built against another version are refused by
 * the loader with a "rebuild the plugin" message.) */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "runpipe/image.h"

static const struct {
    const char *name;
    size_t size, pinned;
} abi_sizes[] = {
    {"struct rp_arch_ops", sizeof(struct rp_arch_ops), 8},
    {"struct rp_batch_hook_ops", sizeof(struct rp_batch_hook_ops), 24},
    {"struct rp_component", sizeof(struct rp_component), 32},
    {"struct rp_dataset", sizeof(struct rp_dataset), 200},
    {"struct rp_dataset_ops", sizeof(struct rp_dataset_ops), 32},
    {"struct rp_layer", sizeof(struct rp_layer), 40},
    {"struct rp_layer_ops", sizeof(struct rp_layer_ops), 88},
    {"struct rp_loader_opts", sizeof(struct rp_loader_opts), 48},
    {"struct rp_loss_ops", sizeof(struct rp_loss_ops), 24},
    {"struct rp_metric_ops", sizeof(struct rp_metric_ops), 32},
    {"struct rp_optimizer_ops", sizeof(struct rp_optimizer_ops), 40},
    {"struct rp_plugin_desc", sizeof(struct rp_plugin_desc), 72},
    {"struct rp_schema_text", sizeof(struct rp_schema_text), 16},
    {"struct rp_port", sizeof(struct rp_port), 32},
    {"struct rp_scheduler_ops", sizeof(struct rp_scheduler_ops), 48},
    {"struct rp_stage_def", sizeof(struct rp_stage_def), 72},
    {"struct rp_transform_ops", sizeof(struct rp_transform_ops), 40},
    {"rp_afile", sizeof(rp_afile), 2136},
    {"rp_batch", sizeof(rp_batch), 128},
    {"rp_draw", sizeof(rp_draw), 8},
    {"rp_error", sizeof(rp_error), 1676},
    {"rp_files", sizeof(rp_files), 8},
    {"rp_hook_ctx", sizeof(rp_hook_ctx), 72},
    {"rp_layer_epilogue", sizeof(rp_layer_epilogue), 32},
    {"rp_load_report", sizeof(rp_load_report), 32},
    {"rp_loss", sizeof(rp_loss), 24},
    {"rp_mask", sizeof(rp_mask), 32},
    {"rp_metrics", sizeof(rp_metrics), 56},
    {"rp_node", sizeof(rp_node), 64},
    {"rp_param", sizeof(rp_param), 40},
    {"rp_rng", sizeof(rp_rng), 52},
    {"rp_run_ctx", sizeof(rp_run_ctx), 48},
    {"rp_sample", sizeof(rp_sample), 256},
    {"rp_st", sizeof(rp_st), 48},
    {"rp_st_entry", sizeof(rp_st_entry), 16},
    {"rp_strbuf", sizeof(rp_strbuf), 32},
    {"rp_table", sizeof(rp_table), 48},
    {"rp_tensor", sizeof(rp_tensor), 88},
};

static void test_abi_version_pins_struct_sizes(void **state) {
    (void)state;
    assert_int_equal(RP_ABI_VERSION, 5);
    for (size_t i = 0; i < sizeof abi_sizes / sizeof abi_sizes[0]; i++) {
        if (abi_sizes[i].size != abi_sizes[i].pinned)
            fail_msg("%s is %zu bytes, pinned at %zu for ABI %u: bump RP_ABI_VERSION in "
                     "runpipe/plugin.h and re-pin the table",
                     abi_sizes[i].name, abi_sizes[i].size, abi_sizes[i].pinned, RP_ABI_VERSION);
    }
}

/* RP_PLUGIN collects the sections of the .so that expands it: the fixture
 * plugin declares two stages and one component, and nothing of the engine's. */
static void test_plugin_descriptor_from_sections(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/plugins/fx_good.so", rp_test_build());
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(h);
    void *sym = dlsym(h, RP_PLUGIN_ENTRY_SYMBOL);
    assert_non_null(sym);
    rp_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const struct rp_plugin_desc *d = entry();
    assert_int_equal(d->abi_version, RP_ABI_VERSION);
    assert_int_equal(d->n_stages, 2);
    assert_int_equal(d->n_components, 1);
    /* The section's order is the compiler's; names are what count. */
    int src = strcmp(d->stages[0]->name, "fx.source") == 0 ? 0 : 1;
    assert_string_equal(d->stages[src]->name, "fx.source");
    assert_string_equal(d->stages[1 - src]->name, "fx.sink");
    assert_string_equal(d->components[0]->name, "fx_metric");
    dlclose(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_version_pins_struct_sizes),
        cmocka_unit_test(test_plugin_descriptor_from_sections),
    };
    return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
