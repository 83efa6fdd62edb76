/* Allocation-failure injection in the style of SQLite's malloc tests (see
 * sweep.h): the wrappers below count allocations, make the N-th one fail
 * and keep the set of live blocks; oom_sweep runs an operation once per N. */
#include <execinfo.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "oom/sweep.h"

/* ---- the wrappers ----------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
int __wrap_posix_memalign(void **p, size_t a, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long armed_count;  /* allocations seen while armed */
static long fail_at;      /* fail this one (1-based), 0 = never */
static int armed, injected, held;

/* live blocks: open addressing (pointer -> 1), tombstones on free */
#define SET_BITS 20
#define SET_N (1u << SET_BITS)
static void **set;
static long live;
#define TOMB ((void *)1)

static size_t slot_of(void *p) { return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> (64 - SET_BITS)); }

static void set_add(void *p) {
    if (!set) set = __real_calloc(SET_N, sizeof *set);
    for (size_t i = slot_of(p);; i = (i + 1) & (SET_N - 1))
        if (!set[i] || set[i] == TOMB) {
            set[i] = p;
            live++;
            return;
        }
}

static void set_del(void *p) {
    if (!set) return;
    for (size_t i = slot_of(p); set[i]; i = (i + 1) & (SET_N - 1))
        if (set[i] == p) {
            set[i] = TOMB;
            live--;
            return;
        }
    /* not ours (allocated inside a shared library): ignored */
}

/* 1 when this allocation must fail */
static int should_fail(void) {
    if (!armed || held) return 0;
    armed_count++;
    if (fail_at && armed_count == fail_at) {
        injected = 1;
        const char *t = getenv("RP_OOM_TRACE");
        if (t && atol(t) == fail_at) { /* where the failing allocation is made */
            void *bt[16];
            backtrace_symbols_fd(bt, backtrace(bt, 16), 2);
        }
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n) {
    pthread_mutex_lock(&lock);
    void *p = should_fail() ? NULL : __real_malloc(n);
    if (p) set_add(p);
    pthread_mutex_unlock(&lock);
    return p;
}

void *__wrap_calloc(size_t k, size_t n) {
    pthread_mutex_lock(&lock);
    void *p = should_fail() ? NULL : __real_calloc(k, n);
    if (p) set_add(p);
    pthread_mutex_unlock(&lock);
    return p;
}

void *__wrap_realloc(void *q, size_t n) {
    pthread_mutex_lock(&lock);
    void *p = should_fail() ? NULL : __real_realloc(q, n);
    if (p) {
        if (q) set_del(q);
        set_add(p);
    }
    pthread_mutex_unlock(&lock);
    return p;
}

void __wrap_free(void *p) {
    if (!p) return;
    pthread_mutex_lock(&lock);
    set_del(p);
    pthread_mutex_unlock(&lock);
    __real_free(p);
}

int __wrap_posix_memalign(void **out, size_t a, size_t n) {
    pthread_mutex_lock(&lock);
    int rc = should_fail() ? 12 /* ENOMEM */ : __real_posix_memalign(out, a, n);
    if (!rc) set_add(*out);
    pthread_mutex_unlock(&lock);
    return rc;
}

char *__wrap_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

char *__wrap_strndup(const char *s, size_t n) {
    size_t l = strnlen(s, n);
    char *p = __wrap_malloc(l + 1);
    if (p) {
        memcpy(p, s, l);
        p[l] = 0;
    }
    return p;
}

/* ---- the sweep -------------------------------------------------------------- */

void oom_hold(int on) {
    pthread_mutex_lock(&lock);
    held = on;
    pthread_mutex_unlock(&lock);
}

uint64_t oom_mix(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}

void oom_sweep(const char *what, oom_op_fn op, long stride) {
    char msg[2048];
    const char *full = getenv("RP_OOM_FULL");
    if (stride < 1 || (full && atoi(full))) stride = 1;
    int verbose = getenv("RP_OOM_VERBOSE") != NULL; /* which N runs (to find a crash) */
    /* a first run fills what the engine keeps for the process (schemas read
     * once, registry, plugins, per-thread scratch): not a leak */
    uint64_t want = 0, got = 0;
    if (op(msg, sizeof msg, &want)) fail_msg("%s: fails without an injected failure: %s", what, msg);
    /* once more without failures: it must succeed and free all it made */
    pthread_mutex_lock(&lock);
    long base = live;
    armed = 1, armed_count = 0, fail_at = 0, injected = 0, held = 0;
    pthread_mutex_unlock(&lock);
    msg[0] = 0;
    int rc = op(msg, sizeof msg, &got);
    armed = 0;
    if (rc) fail_msg("%s: fails without an injected failure: %s", what, msg);
    if (got != want) fail_msg("%s: two runs without failures differ", what);
    long total = armed_count;
    if (live != base) fail_msg("%s: %ld blocks leaked without a failure", what, live - base);
    long errors = 0, problems = 0, tolerated = 0, tried = 0;
    for (long n = 1;; n = n + stride <= total || n >= total ? n + stride : total) {
        pthread_mutex_lock(&lock);
        base = live;
        armed = 1, armed_count = 0, fail_at = n, injected = 0, held = 0;
        pthread_mutex_unlock(&lock);
        msg[0] = 0;
        got = 0;
        if (verbose) fprintf(stderr, "%s: allocation %ld failing\n", what, n);
        rc = op(msg, sizeof msg, &got);
        pthread_mutex_lock(&lock);
        armed = 0;
        int inj = injected;
        long leaked = live - base;
        pthread_mutex_unlock(&lock);
        if (!inj) break; /* past the last allocation */
        tried++;
        const char *bad = leaked                   ? "leaks"
                          : rc == 0 && got != want ? "succeeds with another result"
                          : rc != 0 && !msg[0]     ? "gives no message"
                                                   : NULL;
        if (bad) {
            if (++problems <= 40)
                printf("%s: allocation %ld of %ld failing: %s (%ld blocks; status %d: %.200s)\n", what, n,
                       total, bad, leaked, rc, msg);
            continue;
        }
        if (rc) errors++;
        else tolerated++;
    }
    if (problems) fail_msg("%s: %ld of %ld allocation failures mishandled", what, problems, tried);
    if (stride == 1)
        printf("%s: %ld allocations: each failing one gives an error (%ld) or the same result (%ld), no "
               "leak\n",
               what, total, errors, tolerated);
    else
        printf("%s: %ld allocations, every %ld-th tried (%ld; RP_OOM_FULL=1 for all): each gives an error "
               "(%ld) or the same result (%ld), no leak\n",
               what, total, stride, tried, errors, tolerated);
    if (stride == 1) assert_int_equal(errors + tolerated, total);
}
