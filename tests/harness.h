/* Shared helpers for the cmocka test binaries. */
#ifndef RP_TEST_HARNESS_H
#define RP_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runpipe/runpipe.h"

/* A component defined in a test binary, registered before main() (the
 * engine's and plugins' RP_COMPONENT sections are collected per .so, so a
 * test executable registers its own through rp_component_register). */
#define RP_TEST_COMPONENT(KIND, NAME, SUMMARY, IMPL)                                              \
    static const struct rp_component rp__tcomp_##IMPL = {KIND, NAME, SUMMARY, &IMPL};           \
    __attribute__((constructor)) static void rp__treg_##IMPL(void) {                            \
        rp_component_register(&rp__tcomp_##IMPL, NULL);                                         \
    }

/* Root of the source tree (tests run from it; RUNPIPE_SRC overrides). */
const char *rp_test_src(void);
/* Build directory (RUNPIPE_BUILD or "build"). */
const char *rp_test_build(void);
/* A fresh empty temporary directory (mkdtemp under TMPDIR), removed at exit. */
const char *rp_test_tmpdir(void);
/* Join into a static rotating buffer: rp_test_path(dir, "x.yaml"). */
const char *rp_test_path(const char *dir, const char *name);
/* Write text to a file (asserts on failure). */
void rp_test_write(const char *path, const char *text);
/* Absolute source root (realpath of rp_test_src()); static, never freed. */
const char *rp_test_abs_src(void);
/* Absolute path of <build>/bin/runpipe; static. */
const char *rp_test_runpipe_bin(void);
/* Absolute path of <build>/lib/runpipe/plugins; static. */
const char *rp_test_plugin_dir(void);
/* Write "runpipe: 1\n" HEAD "stages:\n" STAGES to DIR/FILE, with every "%S" in
 * HEAD and STAGES replaced by rp_test_abs_src(). HEAD holds the top-level
 * lines before `stages:` ("name: x\nseed: 3\n"; may be ""), so line numbers in
 * the file are exactly those of the text given. Returns the path (static
 * rotating buffer, as rp_test_path). All pointers borrowed. */
const char *rp_test_write_pipeline(const char *dir, const char *file, const char *head,
                                   const char *stages);
/* Run `<build>/bin/runpipe ARGS` through the shell (ARGS is shell text: quote
 * paths in it) with RUNPIPE_PLUGIN_PATH=rp_test_plugin_dir(), stdout and stderr
 * both to LOG_PATH (NULL: a scratch file in the test's temporary root). If OUT
 * is not NULL, the output (truncated to OUT_SIZE-1 bytes) is copied into it,
 * NUL-terminated. Returns the exit code, 128+signal if the binary was killed.
 * All pointers borrowed. */
int rp_test_runpipe(const char *args, const char *log_path, char *out, size_t out_size);
/* As rp_test_runpipe, with ENV (shell assignments such as
 * "RUNPIPE_PLUGIN_PATH='/x' RUNPIPE_SCHEMA_PATH='/y'"; NULL for none) applied
 * after the default RUNPIPE_PLUGIN_PATH, so it can override it. */
int rp_test_runpipe_env(const char *env, const char *args, const char *log_path, char *out,
                        size_t out_size);
/* Print the last LINES lines of a log file to stderr (for failure messages). */
void rp_test_show_log(const char *log_path, int lines);
/* Fill every tensor of m with tests/golden/formula_models.py's values
 * (formula_value / formula_fill: weights, biases, running statistics),
 * which the golden generators give the PyTorch side. */
void rp_test_formula_fill(rp_model *m);
/* Assert two safetensors files hold the same tensors, byte for byte (names
 * the first tensor that differs and how many of its values do). */
void rp_test_same_weights_files(const char *a, const char *b);
/* For tests that run the binary on Fashion-MNIST: 1 when build/bin/runpipe
 * and Debian's dataset-fashion-mnist are there, else says which is missing
 * on stderr and returns 0. */
int rp_test_have_runpipe_and_fmnist(void);
/* Assert |a-b| <= atol + rtol*|b| for n floats, naming the first mismatch. */
void rp_test_close(const float *a, const float *b, size_t n, double rtol, double atol,
                   const char *what);
/* Assert an rp_error-returning call succeeded, printing the message if not. */
#define RP_ASSERT_OK(call, err)                                                         \
    do {                                                                                \
        int rp__s = (call);                                                             \
        if (rp__s != RP_OK)                                                             \
            fail_msg("%s failed: %s:%d:%d: %s", #call, (err)->file, (err)->line,        \
                     (err)->col, (err)->msg);                                           \
    } while (0)

#endif
