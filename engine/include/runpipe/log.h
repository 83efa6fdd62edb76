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
