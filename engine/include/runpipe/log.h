/* runpipe — logging, progress bars, interruption.
 *
 * The engine owns the terminal and log.txt; plugins call these. Progress bars
 * are drawn only when stdout is a TTY and not --quiet; otherwise progress calls
 * are silent and stages log one line per epoch.
 */
#ifndef RUNPIPE_LOG_H
#define RUNPIPE_LOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rp_log_level { RP_LOG_ERROR = 0, RP_LOG_WARN, RP_LOG_INFO, RP_LOG_DEBUG };

/* Log a line (no trailing newline needed) to the terminal (by verbosity) and
 * to the run's log.txt (always, up to DEBUG). Thread-safe. */
void rp_log(enum rp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define rp_info(...) rp_log(RP_LOG_INFO, __VA_ARGS__)
#define rp_warn(...) rp_log(RP_LOG_WARN, __VA_ARGS__)
#define rp_debug(...) rp_log(RP_LOG_DEBUG, __VA_ARGS__)

/* Progress bar for `total` units of work (0 = unknown). `label` is copied.
 * Returns an opaque handle (owned; finish with rp_progress_end). */
typedef struct rp_progress rp_progress;
rp_progress *rp_progress_begin(const char *label, uint64_t total, const char *unit);
/* Advance by `n` units; `suffix` (may be NULL) is shown after the bar,
 * e.g. "loss 0.2034 acc 0.8464". Redraws at most ~10 times a second. */
void rp_progress_step(rp_progress *p, uint64_t n, const char *suffix);
void rp_progress_end(rp_progress *p);
/* Count `items` (e.g. the images of a batch) done with the last step: the
 * bar then shows their rate ("812 img/s") instead of units per second.
 * `unit` ("img") is copied; NULL keeps the previous one. */
void rp_progress_items(rp_progress *p, uint64_t items, const char *unit);
/* This bar is a part (an epoch) of a longer task (the stage): `before` units
 * of the task's `total` were done before the bar began; the bar adds the
 * task's ETA ("stage 05:12"). */
void rp_progress_outer(rp_progress *p, uint64_t before, uint64_t total);

/* Nonzero once SIGINT was received: long loops check it at step boundaries,
 * write what they have and return RP_ERR_INTERRUPTED. */
int rp_interrupted(void);

/* Wall clock in seconds (monotonic). */
double rp_now(void);

/* ---- engine side: the CLI and the run directory configure logging ---------- */

/* Terminal verbosity: lines at or below `level` are shown (default INFO;
 * --quiet = WARN, --verbose = DEBUG). */
void rp_log_set_level(enum rp_log_level level);
enum rp_log_level rp_log_get_level(void);
/* Progress bars: -1 auto (stdout is a TTY and level >= INFO), 0 off, 1 on. */
void rp_log_set_progress(int mode);
int rp_log_progress_enabled(void);
/* Without bars (stdout not a TTY: CI, nohup, cluster logs), a progress line
 * every `seconds` (0 = none; default 30, --heartbeat N). */
void rp_log_set_heartbeat(double seconds);
/* Matrix runs: cells still to run after the current one and the mean
 * seconds per finished cell (< 0 = none finished yet); bars and heartbeat
 * lines show them ("3 cells left ~12:00"). */
void rp_log_set_matrix(size_t cells_left, double secs_per_cell);
/* Send every line (DEBUG included) to `path` (log.txt), streamed: each line
 * is written when it is logged, so a killed run keeps its log. Lines logged
 * before the file was opened (since the last close) are written first. With
 * `append` (a resumed run) the old content is kept, else it is replaced. */
int rp_log_open_file(const char *path, int append, rp_error *err);
int rp_log_close_file(rp_error *err);
/* A line for log.txt only (the terminal gets its own rendering). */
void rp_log_file_only(enum rp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Drop lines buffered while no file was open. */
void rp_log_discard_pending(void);
/* SIGINT: the first sets the flag rp_interrupted() returns; the second kills
 * the process. rp_interrupt_set/clear exist for tests and for the engine. */
void rp_log_install_sigint(void);
void rp_interrupt_set(void);
void rp_interrupt_clear(void);

#ifdef __cplusplus
}
#endif
#endif
