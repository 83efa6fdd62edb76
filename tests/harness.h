/* Shared helpers for the cmocka test binaries. */
#ifndef RP_TEST_HARNESS_H
#define RP_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runpipe/runpipe.h"

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
