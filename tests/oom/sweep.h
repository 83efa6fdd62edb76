/* Allocation-failure injection shared by the tests/oom sweeps: the binary
 * links the engine's objects statically with
 * -Wl,--wrap=malloc,calloc,realloc,free,posix_memalign,strdup,strndup (and
 * exports them: the plugins of $(BUILD)/tests/runpipe/plugins are linked
 * with the same --wrap and bind to these wrappers), so every allocation the
 * engine and the plugins make can be made to fail. */
#ifndef RP_TEST_OOM_SWEEP_H
#define RP_TEST_OOM_SWEEP_H

#include <stddef.h>
#include <stdint.h>

/* An operation: returns its status, a digest of its result (on success)
 * and frees everything it made. msg receives the error message. */
typedef int (*oom_op_fn)(char *msg, size_t n, uint64_t *digest);

/* Runs op once to warm up, once without failures (must succeed, free all it
 * made, give the same digest), then with allocation N failing for N = 1, 2,
 * ... up to the last allocation the op makes: every run must return an error
 * with a message or succeed with the same digest, and free every block.
 * `stride` > 1 tries only N = 1, 1 + stride, ... (and the last one);
 * RP_OOM_FULL=1 in the environment forces every N. Fails the cmocka test
 * on a problem; prints one summary line. */
void oom_sweep(const char *what, oom_op_fn op, long stride);

/* Inside an op: oom_hold(1) stops counting allocations (none of them fails)
 * until oom_hold(0), e.g. around setup the sweep is not about. Blocks are
 * still tracked for leaks. */
void oom_hold(int on);

/* FNV-1a over n bytes, from h */
uint64_t oom_mix(uint64_t h, const void *p, size_t n);

#endif
