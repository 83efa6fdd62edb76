/* Regression driver (make test): every file of tests/fuzz/<target>/corpus
 * (seeds and what fuzzing kept) and tests/fuzz/<target>/crashes (inputs that
 * once crashed, each with NAME.expect holding the pinned first line of its
 * error message, $T for the scratch directory) is fed once to fuzz_one.
 * The corpus is one cmocka test (its inputs only must not crash: hundreds of
 * them would otherwise swamp the suite's count); every former crash is a test
 * of its own with its pinned message. A crash fails the binary. `--gen DIR`
 * writes the target's generated seeds. Built with the normal compiler: no clang needed. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "harness.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name the target folder"
#endif

__attribute__((weak)) int fuzz_gen_seeds(const char *dir) {
    (void)dir;
    return 0;
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* *state = "corpus/NAME" or "crashes/NAME" */
static void test_input(void **state) {
    const char *rel = *state;
    char path[2048];
    snprintf(path, sizeof path, "%s/tests/fuzz/%s/%s", rp_test_src(), FUZZ_TARGET, rel);
    char *data = NULL;
    size_t n = 0;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(path, &data, &n, &err), &err);
    char msg[2048];
    msg[0] = 0;
    int st = fuzz_one((const uint8_t *)data, n, msg, sizeof msg);
    free(data);
    if (getenv("RP_FUZZ_VERBOSE")) printf("%s: %s\n", rel, st ? msg : "accepted");
    if (strncmp(rel, "crashes/", 8)) return;
    /* a former crash: its message is pinned */
    char ep[2100], *want = NULL;
    snprintf(ep, sizeof ep, "%s.expect", path);
    RP_ASSERT_OK(rp_read_file(ep, &want, NULL, &err), &err);
    char *nl = strchr(want, '\n');
    if (nl) *nl = 0;
    /* the scratch directory as $T */
    char got[2300];
    const char *d = fuzz_dir();
    size_t dl = strlen(d), o = 0;
    for (const char *p = msg; *p && o < sizeof got - 3;) {
        if (!strncmp(p, d, dl)) {
            got[o++] = '$', got[o++] = 'T';
            p += dl;
        } else {
            got[o++] = *p++;
        }
    }
    got[o] = 0;
    if (!strcmp(want, "(accepted)")) {
        if (st) fail_msg("%s: expected to be accepted, got: %s", rel, got);
    } else if (!st || strcmp(got, want)) {
        fail_msg("%s:\n  expected: %s\n  got:      %s", rel, want, st ? got : "(accepted)");
    }
    free(want);
}

static char **corpus_names;
static size_t corpus_n;

/* every corpus input once, in name order */
static void test_corpus(void **state) {
    (void)state;
    for (size_t i = 0; i < corpus_n; i++) {
        void *one = corpus_names[i];
        test_input(&one);
    }
}

static size_t list(const char *sub, char **names, size_t max, size_t k) {
    char dir[1600];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", rp_test_src(), FUZZ_TARGET, sub);
    DIR *dp = opendir(dir);
    if (!dp) return k;
    struct dirent *e;
    while ((e = readdir(dp)) && k < max) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || (l > 7 && !strcmp(e->d_name + l - 7, ".expect"))) continue;
        char *s = malloc(strlen(sub) + l + 2);
        sprintf(s, "%s/%s", sub, e->d_name);
        names[k++] = s;
    }
    closedir(dp);
    return k;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--gen")) return fuzz_gen_seeds(argv[2]) ? 1 : 0;
    rp_log_set_level(RP_LOG_ERROR);
    static char *names[4096];
    size_t n = list("corpus", names, 4096, 0);
    qsort(names, n, sizeof *names, cmp);
    corpus_names = names, corpus_n = n;
    size_t nc = list("crashes", names, 4096, n);
    qsort(names + n, nc - n, sizeof *names, cmp);
    if (n == 0) {
        fprintf(stderr, "no inputs in tests/fuzz/%s/corpus\n", FUZZ_TARGET);
        return 1;
    }
    char corpus_title[64];
    snprintf(corpus_title, sizeof corpus_title, "corpus (%zu inputs)", n);
    size_t nt = 1 + (nc - n);
    struct CMUnitTest *tests = calloc(nt, sizeof *tests);
    tests[0].name = corpus_title;
    tests[0].test_func = test_corpus;
    for (size_t i = n; i < nc; i++) {
        tests[1 + i - n].name = names[i];
        tests[1 + i - n].test_func = test_input;
        tests[1 + i - n].initial_state = names[i];
    }
    int rc = _cmocka_run_group_tests("fuzz_" FUZZ_TARGET, tests, nt, NULL, NULL);
    for (size_t i = 0; i < nc; i++)
        free(names[i]);
    free(tests);
    return rc;
}
