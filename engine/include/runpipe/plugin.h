/* runpipe — plugin ABI, stages, component registry.
 *
 * A plugin is a shared object exporting one symbol, `rp_plugin_entry`, that
 * returns a static descriptor: the stages it provides (typed ports + a run
 * function) and its components (layers, losses, transforms, ...) registered by
 * kind and name. Each stage has schemas/<stage>.yaml; each component with
 * parameters has schemas/<kind>.<name>.yaml.
 *
 * Component references in pipeline files are written `NAME` or
 * `{NAME: {param: value}}`; a schema property marked `x-component: KIND`
 * (or `items: {x-component: KIND}` for a list) is validated against the named
 * component's schema and normalised to the one-key map form with defaults
 * filled, which stages read with rp_component_spec().
 */
#ifndef RUNPIPE_PLUGIN_H
#define RUNPIPE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "node.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every change to a public struct or macro that plugins compile in
 * (tests/unit/test_abi.c pins the struct sizes of each version). */
#define RP_ABI_VERSION 5u
#define RP_PLUGIN_ENTRY_SYMBOL "rp_plugin_entry"

/* ---- components ----------------------------------------------------------- */

enum rp_component_kind {
    RP_COMP_LAYER = 0,   /* impl: const struct rp_layer_ops *      (nn.h)   */
    RP_COMP_ARCH,        /* impl: const struct rp_arch_ops *       (nn.h)   */
    RP_COMP_LOSS,        /* impl: const struct rp_loss_ops *       (loss.h) */
    RP_COMP_OPTIMIZER,   /* impl: const struct rp_optimizer_ops *  (optim.h) */
    RP_COMP_SCHEDULER,   /* impl: const struct rp_scheduler_ops *  (optim.h) */
    RP_COMP_TRANSFORM,   /* impl: const struct rp_transform_ops *  (data.h) */
    RP_COMP_METRIC,      /* impl: const struct rp_metric_ops *     (loss.h) */
    RP_COMP_BATCH_HOOK,  /* impl: const struct rp_batch_hook_ops * (loss.h) */
    RP_COMP_KIND_COUNT
};

struct rp_component {
    int kind;             /* enum rp_component_kind */
    const char *name;     /* unique within its kind, e.g. "focal" */
    const char *summary;  /* one line for `runpipe stages` */
    const void *impl;     /* kind-specific ops table (static) */
};

/* Lookup in the process-wide registry (filled as plugins load; the engine's
 * built-ins — layers, archs, optimizers, schedulers — are always present).
 * Borrowed; NULL when absent. */
const struct rp_component *rp_component_find(int kind, const char *name);
size_t rp_component_count(int kind);
const struct rp_component *rp_component_at(int kind, size_t i);
const char *rp_component_kind_name(int kind); /* "layer", "loss", ... */
/* Like find, but fills err with "unknown loss 'focl' (did you mean 'focal'?)"
 * located at `where` (may be NULL). */
int rp_component_lookup(int kind, const char *name, const rp_node *where,
                        const struct rp_component **out, rp_error *err);

/* Register a component from the host program (an embedding application or a
 * test binary; plugins and the engine use RP_COMPONENT). `c` is borrowed and
 * must outlive the process's use of the registry. Fails on a duplicate name. */
int rp_component_register(const struct rp_component *c, rp_error *err);

/* ---- declaring components and stages ---------------------------------------
 *
 * One component or stage = one C file that declares itself; there is no table
 * to edit. RP_COMPONENT / RP_STAGE put a pointer to a static descriptor into a
 * linker section of the object's shared library ("rp_components",
 * "rp_stages"); the linker's __start_/__stop_ symbols delimit the section of
 * each .so. RP_PLUGIN(NAME, VERSION), written once per plugin, hands the
 * plugin's sections to the engine; the engine collects its own built-ins
 * (layers, archs, optimizers, schedulers) the same way when it loads.
 *
 *   static const struct rp_loss_ops focal_ops = {...};
 *   RP_COMPONENT(RP_COMP_LOSS, "focal", "focal loss -alpha (1 - p_t)^gamma log p_t", focal_ops)
 *
 *   static const struct rp_stage_def crop_stage = {"openimages.crop", ...};
 *   RP_STAGE(crop_stage)
 */
#define RP__SECTION_ENTRY(SEC) __attribute__((used, section(SEC)))
#define RP_COMPONENT(KIND, NAME, SUMMARY, IMPL)                                                   \
    static const struct rp_component rp__comp_##IMPL = {KIND, NAME, SUMMARY, &IMPL};            \
    RP__SECTION_ENTRY("rp_components")                                                          \
    static const struct rp_component *const rp__compp_##IMPL = &rp__comp_##IMPL;
#define RP_STAGE(DEF)                                                                             \
    RP__SECTION_ENTRY("rp_stages") static const struct rp_stage_def *const rp__stagep_##DEF = &DEF;

/* A schema compiled into the shared object that declares it (section
 * "rp_schemas"): plugins carry the schemas of their stages and components,
 * so a plugin is one .so. Usually generated at build time from
 * schemas/NAME.yaml (the Makefile's embed-schemas step):
 *   RP_SCHEMA(train, "train", "type: object\nproperties: ...")
 * A file NAME.yaml on RUNPIPE_SCHEMA_PATH overrides it (for development). */
struct rp_schema_text {
    const char *name;     /* "train", "loss.focal": the file name without .yaml */
    const char *text;     /* the YAML */
};
#define RP_SCHEMA(ID, NAME, TEXT)                                                                 \
    static const struct rp_schema_text rp__schema_##ID = {NAME, TEXT};                           \
    RP__SECTION_ENTRY("rp_schemas")                                                             \
    static const struct rp_schema_text *const rp__schemap_##ID = &rp__schema_##ID;

/* The section bounds of the shared object that expands this (hidden and weak:
 * each .so sees only its own sections, and an empty one is NULL..NULL). */
#define RP__SECTION_BOUNDS                                                                        \
    extern const struct rp_component *const __start_rp_components[]                              \
        __attribute__((weak, visibility("hidden")));                                              \
    extern const struct rp_component *const __stop_rp_components[]                                \
        __attribute__((weak, visibility("hidden")));                                              \
    extern const struct rp_stage_def *const __start_rp_stages[]                                   \
        __attribute__((weak, visibility("hidden")));                                              \
    extern const struct rp_stage_def *const __stop_rp_stages[]                                    \
        __attribute__((weak, visibility("hidden")));                                              \
    extern const struct rp_schema_text *const __start_rp_schemas[]                                \
        __attribute__((weak, visibility("hidden")));                                              \
    extern const struct rp_schema_text *const __stop_rp_schemas[]                                 \
        __attribute__((weak, visibility("hidden")));

/* Validate a component's params (borrowed; NULL = {}) against
 * schemas/<kind>.<name>.yaml and fill its defaults; *out transferred. A
 * component without a schema file accepts only an empty map. */
int rp_component_params(int kind, const char *name, const rp_node *params, rp_node **out,
                        rp_error *err);

/* Split a normalised component spec `{NAME: {params}}` (or a bare `NAME`)
 * into its name and params map (params may be NULL for a bare name that did
 * not pass through the validator). Borrowed pointers into `spec`. */
int rp_component_spec(const rp_node *spec, const char **name, const rp_node **params,
                      rp_error *err);

/* ---- stages ---------------------------------------------------------------- */

/* Artifact type names (DESIGN §6). */
#define RP_ART_DATASET "dataset"
#define RP_ART_MODEL "model"
#define RP_ART_LOSS "loss"
#define RP_ART_METRICS "metrics"
#define RP_ART_FILES "files"

enum rp_port_flags {
    RP_PORT_OPTIONAL = 1, /* input may be left unwired */
    RP_PORT_MULTI = 2,    /* input takes a list: `in: {data: [a.test, b.test]}` */
};

struct rp_port {
    const char *name;
    const char *type;  /* RP_ART_* */
    int flags;         /* enum rp_port_flags */
    const char *doc;
};

typedef struct rp_stage rp_stage; /* opaque run-time context of one stage */
typedef struct rp_check rp_check; /* opaque check-time context of one stage */
struct rp_model;                  /* runpipe/nn.h */

enum rp_stage_flags {
    /* The stage's outputs are a pure function of its resolved params, its
     * inputs and the run seed, and worth keeping: the engine may restore them
     * (and the stage's folder) from the content-addressed stage cache instead
     * of running it. Only stages whose outputs are models, metrics or files
     * can be cached. Data loaders that only read are not worth it. */
    RP_STAGE_CACHEABLE = 1,
};

struct rp_stage_def {
    const char *name;     /* "data.idx", "train", ... */
    const char *summary;
    const struct rp_port *inputs;
    size_t n_inputs;
    const struct rp_port *outputs;
    size_t n_outputs;
    /* Run the stage. Reads inputs and params from `st`, hands outputs to it.
     * On failure returns a status and fills err (the engine adds the stage). */
    int (*run)(rp_stage *st, rp_error *err);
    /* enum rp_stage_flags (0 = none). The last member: a designated
     * initializer may leave it out; a positional one ends with `, 0` (or
     * `, RP_STAGE_CACHEABLE`). Added in ABI 3. */
    int flags;
    /* Optional (NULL = none; a positional initializer ends with `, NULL`).
     * Called by `runpipe check` (and before every run) in stage order, with
     * the validated params and what the inputs' producers declared, without
     * loading any data: declare what is cheap to know about the outputs
     * (rp_check_declare: classes, channels, height, width from file headers,
     * folder names, params) and fail on what cannot work. The engine compares
     * a model input's facts with its dataset inputs' and names both stages.
     * Added in ABI 4. */
    int (*check)(rp_check *ck, rp_error *err);
};

struct rp_plugin_desc {
    uint32_t abi_version;  /* RP_ABI_VERSION */
    uint32_t struct_size;  /* sizeof(struct rp_plugin_desc) */
    const char *name;      /* "datasets" */
    const char *version;   /* "1.0.0" */
    const struct rp_stage_def *const *stages; /* borrowed, static: the plugin's RP_STAGEs */
    size_t n_stages;
    const struct rp_component *const *components; /* its RP_COMPONENTs */
    size_t n_components;
    /* Added in ABI 4: its RP_SCHEMAs (the schemas of its stages and
     * components), registered before its stages are checked. */
    const struct rp_schema_text *const *schemas;
    size_t n_schemas;
};

typedef const struct rp_plugin_desc *(*rp_plugin_entry_fn)(void);

#define RP_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#ifdef __cplusplus
#define RP__EXTERN_C extern "C"
#else
#define RP__EXTERN_C
#endif

/* The entry point of a plugin: once per plugin .so (usually plugin.c). It
 * exports rp_plugin_entry with default visibility and C linkage, so plugins
 * built with -fvisibility=hidden or as C++ load too. */
#define RP_PLUGIN(NAME, VERSION)                                                                  \
    RP__SECTION_BOUNDS                                                                            \
    RP__EXTERN_C __attribute__((visibility("default"))) const struct rp_plugin_desc *             \
    rp_plugin_entry(void);                                                                        \
    RP__EXTERN_C __attribute__((visibility("default"))) const struct rp_plugin_desc *             \
    rp_plugin_entry(void) {                                                                       \
        static struct rp_plugin_desc d;                                                           \
        d.abi_version = RP_ABI_VERSION;                                                           \
        d.struct_size = (uint32_t)sizeof d;                                                       \
        d.name = NAME;                                                                            \
        d.version = VERSION;                                                                      \
        d.stages = __start_rp_stages;                                                             \
        d.n_stages = __start_rp_stages ? (size_t)(__stop_rp_stages - __start_rp_stages) : 0;      \
        d.components = __start_rp_components;                                                     \
        d.n_components =                                                                          \
            __start_rp_components ? (size_t)(__stop_rp_components - __start_rp_components) : 0;  \
        d.schemas = __start_rp_schemas;                                                           \
        d.n_schemas = __start_rp_schemas ? (size_t)(__stop_rp_schemas - __start_rp_schemas) : 0;  \
        return &d;                                                                                \
    }

/* ---- the stage context (valid only during run) ------------------------------ */

const char *rp_stage_id(const rp_stage *st);       /* "fit" */
const char *rp_stage_use(const rp_stage *st);      /* "train" */
/* Validated `with:` map, every default filled; nodes keep their locations. */
const rp_node *rp_stage_params(const rp_stage *st);
/* The stage's node in the pipeline file (for errors about the stage itself). */
const rp_node *rp_stage_node(const rp_stage *st);
uint64_t rp_stage_seed(const rp_stage *st);        /* the run's root seed */
int rp_stage_threads(const rp_stage *st);
/* The run directory and this stage's own folder inside it (<rundir>/<id>/,
 * created on first call). Borrowed strings. A resumed run (--resume) reuses
 * the same directories, so a stage finds its checkpoints there. */
const char *rp_stage_rundir(const rp_stage *st);
int rp_stage_dir(rp_stage *st, const char **dir, rp_error *err);
int rp_stage_resuming(const rp_stage *st);         /* nonzero under --resume */
/* The folder of stage `id` of this run into buf (size n): <rundir>/<id>, or
 * <run>/shared/.../<id> for a stage the cells of a matrix share. 0 when the
 * pipeline has no stage `id` (buf untouched). It may not exist (yet). */
int rp_stage_dir_of(const rp_stage *st, const char *id, char *buf, size_t n);

/* Inputs are borrowed (owned by the run's store). Single ports: returns the
 * artifact or NULL when an optional port is unwired. Multi ports: count + at;
 * rp_stage_input_source gives "cifar.test" for labels in reports. */
void *rp_stage_input(const rp_stage *st, const char *port);
size_t rp_stage_input_count(const rp_stage *st, const char *port);
void *rp_stage_input_at(const rp_stage *st, const char *port, size_t i);
const char *rp_stage_input_source(const rp_stage *st, const char *port, size_t i);

/* Hand an output to the run's store (transferred, also on failure: the store
 * then destroys it). `port` must be one of the stage's declared outputs. */
int rp_stage_output(rp_stage *st, const char *port, void *artifact, rp_error *err);

/* Run another registered stage `use` (e.g. "data.folder") as part of this
 * one, so a stage can hand over exactly what that stage would produce. Only
 * stages without required inputs. `params` (borrowed; NULL = {}) is
 * validated against schemas/<use>.yaml with its defaults filled (invalid
 * params are an internal error of the caller). The called stage sees this
 * stage's id, seed, threads and folder; its notes are dropped. On success
 * *out is its output `port` (transferred: hand it on with rp_stage_output or
 * destroy it); its other outputs are destroyed. Errors are prefixed "use: ". */
int rp_stage_call(rp_stage *st, const char *use, const rp_node *params, const char *port,
                  void **out, rp_error *err);

/* Record a scalar / text fact in manifest.json under this stage
 * (e.g. "images_loaded": 60000). */
void rp_stage_note(rp_stage *st, const char *key, double value);

/* Contribute a figure to the run's report: `file` (a PNG or SVG the stage
 * wrote, relative to its folder, e.g. "gradcam.png") is listed in
 * <stage folder>/figures.json and `report` shows it, inlined, under the
 * heading `section` ("Grad-CAM"); figures with the same section and `title`
 * ("clean") form one grid, each with its `caption` (title and caption may be
 * NULL). Listing the same file again replaces its entry. All strings
 * borrowed. */
int rp_stage_figure(rp_stage *st, const char *section, const char *title, const char *file,
                    const char *caption, rp_error *err);

/* ---- the check context (valid only during a stage's check) ------------------ */

/* Fact keys a stage may declare about an output. */
#define RP_FACT_CLASSES "classes"   /* number of classes (labels 0..n-1) */
#define RP_FACT_CHANNELS "channels" /* image channels */
#define RP_FACT_HEIGHT "height"     /* image height in pixels */
#define RP_FACT_WIDTH "width"

const char *rp_check_id(const rp_check *ck);
/* The validated `with:` map, defaults filled (as rp_stage_params). */
const rp_node *rp_check_params(const rp_check *ck);
const rp_node *rp_check_node(const rp_check *ck);
/* A fact of input `port` (its i-th source for a list port): 1 and *value
 * (and *at, the YAML node it came from, borrowed; may be NULL) when the
 * producer declared it, else 0. */
int rp_check_input_fact(const rp_check *ck, const char *port, size_t i, const char *key,
                        int64_t *value, const rp_node **at);
/* Number of sources wired to input `port` (0 when unwired). */
size_t rp_check_input_count(const rp_check *ck, const char *port);
/* The i-th source of input `port` as rp_stage_input_source names it
 * ("cifar.test"; borrowed), NULL when there is none. */
const char *rp_check_input_source(const rp_check *ck, const char *port, size_t i);
/* Declare a fact of output `port`; `at` (borrowed, may be NULL = this
 * stage's node) is where it comes from, for messages. */
void rp_check_declare(rp_check *ck, const char *port, const char *key, int64_t value,
                      const rp_node *at);
/* Every fact of input `in` (first source) declared again for output `out`
 * (stages that keep the images and classes: split, filter, concat), and its
 * check-time model, if any. */
void rp_check_forward(rp_check *ck, const char *in, const char *out);
/* The graph of model output `port` (m transferred; its values need not be
 * initialised: checks read only its nodes, parameter names and shapes). The
 * engine passes it on through stages that take one model and give models
 * (train, ...), like the facts, and frees it after the check. Ignored (m
 * freed) when `port` is not a model output. */
void rp_check_declare_model(rp_check *ck, const char *port, struct rp_model *m);
/* The check-time model of input `port` (its i-th source), borrowed and valid
 * during this check; NULL when its producer declared none. */
const struct rp_model *rp_check_input_model(const rp_check *ck, const char *port, size_t i);

#ifdef __cplusplus
}
#endif
#endif
