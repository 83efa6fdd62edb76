/* Fuzz targets: tests/fuzz/<target>/fuzz.c defines fuzz_one; common.c turns
 * it into libFuzzer's LLVMFuzzerTestOneInput (make fuzz, clang) and driver.c
 * into a regression test that feeds every committed input once (make test,
 * any compiler). */
#ifndef RP_FUZZ_H
#define RP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Feed one input to the reader(s) under test. Returns the reader's status
 * (0 = accepted) and, on an error, its message in msg (temporary paths as
 * written by fuzz_path; the driver replaces the directory by $T). Must not
 * crash, leak or hang on any input. */
int fuzz_one(const uint8_t *data, size_t n, char *msg, size_t msz);

/* Optional: write the target's seed inputs into dir (driver --gen DIR). */
int fuzz_gen_seeds(const char *dir);

/* A path in this process's scratch directory (created on first use; under
 * /dev/shm when present: inputs are written to files for path-based
 * readers). Static rotating buffer. */
const char *fuzz_path(const char *name);
/* The scratch directory itself. */
const char *fuzz_dir(void);
/* Write n bytes to path (aborts on an I/O error: the harness is broken). */
void fuzz_write(const char *path, const void *data, size_t n);

#endif
