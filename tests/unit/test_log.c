/* Logging: log.txt gets every level (also lines logged before it was
 * opened), written atomically; progress bars draw label, bar, n/total, rate,
 * ETA and suffix only when enabled; the interrupt flag. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char *slurp(const char *path) {
    char *d = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(path, &d, NULL, &err), &err);
    return d;
}

static void test_log_file_levels_and_pending(void **state) {
    (void)state;
    rp_log_set_level(RP_LOG_ERROR); /* terminal quiet; the file still gets all */
    rp_log_discard_pending();
    rp_info("before the file %d", 1);
    const char *t = rp_test_tmpdir();
    const char *p = rp_test_path(t, "log.txt");
    rp_error err;
    RP_ASSERT_OK(rp_log_open_file(p, 0, &err), &err);
    /* streamed: the file exists, with the pending line, while it is open */
    char *early = slurp(p);
    assert_non_null(strstr(early, "INFO  before the file 1\n"));
    free(early);
    rp_debug("debug %s", "line");
    rp_warn("a warning");
    rp_log_file_only(RP_LOG_ERROR, "file only");
    RP_ASSERT_OK(rp_log_close_file(&err), &err);
    char *d = slurp(p);
    assert_non_null(strstr(d, "INFO  before the file 1\n"));
    assert_non_null(strstr(d, "DEBUG debug line\n"));
    assert_non_null(strstr(d, "WARN  a warning\n"));
    assert_non_null(strstr(d, "ERROR file only\n"));
    assert_true(strstr(d, "before the file") < strstr(d, "debug line"));
    free(d);
    /* append keeps the old content in front */
    RP_ASSERT_OK(rp_log_open_file(p, 1, &err), &err);
    rp_info("second session");
    RP_ASSERT_OK(rp_log_close_file(&err), &err);
    d = slurp(p);
    assert_non_null(strstr(d, "DEBUG debug line\n"));
    assert_true(strstr(d, "debug line") < strstr(d, "second session"));
    free(d);
    /* no temporary left */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", t);
    assert_int_not_equal(system(cmd), 0);
    rp_log_set_level(RP_LOG_INFO);
}

/* Capture what the progress bar writes to stdout. */
static char *capture_progress(int mode) {
    const char *t = rp_test_tmpdir();
    const char *p = rp_test_path(t, "out.txt");
    fflush(stdout);
    int saved = dup(1);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    dup2(fileno(f), 1);
    rp_log_set_progress(mode);
    rp_progress *b = rp_progress_begin("epoch 1", 4, "img");
    rp_progress_step(b, 3, "loss 0.5");
    usleep(120000); /* > 0.1 s: the next step redraws */
    rp_progress_step(b, 0, "loss 0.25");
    rp_progress_end(b);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    fclose(f);
    rp_log_set_progress(-1);
    return slurp(p);
}

static void test_progress_drawn_when_enabled(void **state) {
    (void)state;
    char *d = capture_progress(1);
    assert_non_null(strstr(d, "epoch 1 ["));
    assert_non_null(strstr(d, "3/4"));
    assert_non_null(strstr(d, "img/s"));
    assert_non_null(strstr(d, "ETA "));
    assert_non_null(strstr(d, "| loss 0.25"));
    assert_non_null(strstr(d, "[##################------]")); /* 3 of 4 */
    free(d);
    d = capture_progress(0);
    assert_string_equal(d, ""); /* not a TTY / disabled: silent */
    free(d);
}

/* Without a bar: one line per heartbeat with position, img/s (items, not
 * batches), the epoch's and the stage's ETA and the matrix cells left; the
 * bar shows the same rates and ETAs. */
static void test_heartbeat_and_outer_eta(void **state) {
    (void)state;
    const char *p = rp_test_path(rp_test_tmpdir(), "beat.txt");
    fflush(stdout);
    int saved = dup(1);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    dup2(fileno(f), 1);
    rp_log_set_progress(0);
    rp_log_set_heartbeat(0.05);
    rp_log_set_matrix(3, 120);
    rp_progress *b = rp_progress_begin("epoch 2/5", 10, "batch");
    rp_progress_outer(b, 10, 50);
    rp_progress_items(b, 128, "img");
    rp_progress_step(b, 1, "loss 0.5");  /* before the first heartbeat: silent */
    usleep(80000);
    rp_progress_items(b, 128, NULL);
    rp_progress_step(b, 1, "loss 0.25"); /* a heartbeat */
    rp_progress_items(b, 128, NULL);
    rp_progress_step(b, 1, "loss 0.2");  /* within 0.05 s of it: silent */
    rp_progress_end(b);
    rp_log_set_progress(1);
    b = rp_progress_begin("bar", 4, "batch");
    rp_progress_outer(b, 0, 8);
    rp_progress_items(b, 64, "img");
    usleep(20000);
    rp_progress_step(b, 2, NULL);
    rp_progress_end(b);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    fclose(f);
    rp_log_set_progress(-1);
    rp_log_set_heartbeat(30);
    rp_log_set_matrix(0, -1);
    char *d = slurp(p);
    const char *beat = strstr(d, "epoch 2/5: 2/10 batch (20%), ");
    assert_non_null(beat);
    assert_int_equal(strstr(beat + 1, "epoch 2/5:") == NULL, 1); /* exactly one line */
    assert_non_null(strstr(beat, " img/s, ETA "));
    assert_non_null(strstr(beat, ", stage "));
    assert_non_null(strstr(beat, ", 3 cells left ~06:00 | loss 0.25\n"));
    const char *eol = strchr(beat, '\n');
    const char *bs = strstr(beat, "batch/s");
    assert_true(!bs || bs > eol);
    /* the bar: 64 img in ~0.02 s, stage ETA in parentheses */
    assert_non_null(strstr(d, "bar [############------------] 2/4 "));
    assert_non_null(strstr(d, " img/s ETA "));
    assert_non_null(strstr(d, " (stage "));
    free(d);
}

static void test_interrupt_flag_and_clock(void **state) {
    (void)state;
    assert_false(rp_interrupted());
    rp_interrupt_set();
    assert_true(rp_interrupted());
    rp_interrupt_clear();
    assert_false(rp_interrupted());
    double a = rp_now();
    usleep(2000);
    assert_true(rp_now() - a >= 0.0015);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_file_levels_and_pending),
        cmocka_unit_test(test_progress_drawn_when_enabled),
        cmocka_unit_test(test_heartbeat_and_outer_eta),
        cmocka_unit_test(test_interrupt_flag_and_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
