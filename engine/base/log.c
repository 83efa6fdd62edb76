/* Logging, progress bars, SIGINT (log.h).
 *
 * One mutex guards the terminal and log.txt, so lines from worker threads and
 * a progress bar being redrawn never interleave. A progress bar occupies the
 * last terminal line; a log line clears it, prints, and redraws it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "runpipe/io.h"
#include "runpipe/log.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static enum rp_log_level term_level = RP_LOG_INFO;
static int progress_mode = -1;
/* log.txt: a log, not an artifact, so it is appended to as the run goes
 * (a killed run keeps every line written so far). */
static struct {
    FILE *f;
} log_file;
static int log_file_open;
static char *pending; /* lines logged while no file is open */
static size_t pending_n, pending_cap;
#define PENDING_MAX (8u << 20)

struct rp_progress {
    char label[96];
    char unit[24];
    char suffix[160];
    uint64_t total, n;
    double start, last_draw;
    int drawn;
    uint64_t items;          /* rp_progress_items: e.g. images */
    char item_unit[16];
    uint64_t outer_before, outer_total; /* rp_progress_outer: the whole task */
    double last_beat;        /* last heartbeat line (non-TTY) */
};
static rp_progress *active_bar; /* the bar currently on the last line */
static double heartbeat_s = 30; /* non-TTY progress line every N s (0 = off) */
static size_t matrix_left;      /* cells still to run after this one */
static double matrix_cell_s = -1; /* mean seconds per cell so far, < 0 unknown */

void rp_log_set_heartbeat(double seconds) { heartbeat_s = seconds > 0 ? seconds : 0; }
void rp_log_set_matrix(size_t cells_left, double secs_per_cell) {
    pthread_mutex_lock(&log_mu);
    matrix_left = cells_left;
    matrix_cell_s = secs_per_cell;
    pthread_mutex_unlock(&log_mu);
}

double rp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rp_log_set_level(enum rp_log_level level) { term_level = level; }
enum rp_log_level rp_log_get_level(void) { return term_level; }
void rp_log_set_progress(int mode) { progress_mode = mode; }

int rp_log_progress_enabled(void) {
    if (progress_mode >= 0) return progress_mode;
    return term_level >= RP_LOG_INFO && isatty(STDOUT_FILENO);
}

static void pending_add(const char *s, size_t n) {
    if (pending_n + n > PENDING_MAX) return;
    if (pending_n + n + 1 > pending_cap) {
        size_t nc = pending_cap ? pending_cap : 4096;
        while (nc < pending_n + n + 1) nc *= 2;
        char *p = realloc(pending, nc);
        if (!p) return;
        pending = p;
        pending_cap = nc;
    }
    memcpy(pending + pending_n, s, n);
    pending_n += n;
}

void rp_log_discard_pending(void) {
    pthread_mutex_lock(&log_mu);
    free(pending);
    pending = NULL;
    pending_n = pending_cap = 0;
    pthread_mutex_unlock(&log_mu);
}

int rp_log_open_file(const char *path, int append, rp_error *err) {
    pthread_mutex_lock(&log_mu);
    if (log_file_open) {
        fclose(log_file.f);
        log_file_open = 0;
    }
    int s = RP_OK;
    log_file.f = fopen(path, append ? "a" : "w");
    if (!log_file.f) {
        s = rp_error_set(err, RP_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    } else {
        log_file_open = 1;
        setvbuf(log_file.f, NULL, _IOLBF, 0);
        if (pending_n) fwrite(pending, 1, pending_n, log_file.f);
        fflush(log_file.f);
        free(pending);
        pending = NULL;
        pending_n = pending_cap = 0;
    }
    pthread_mutex_unlock(&log_mu);
    return s;
}

int rp_log_close_file(rp_error *err) {
    pthread_mutex_lock(&log_mu);
    int s = RP_OK;
    if (log_file_open) {
        if (fclose(log_file.f) != 0)
            s = rp_error_set(err, RP_ERR_IO, "cannot write the log: %s", strerror(errno));
        log_file_open = 0;
    }
    pthread_mutex_unlock(&log_mu);
    return s;
}

static int term_cols(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
    return 100;
}

static void fmt_dur(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    unsigned t = (unsigned)(s + 0.5) % 10000000u; /* s <= 1e7 checked above */
    unsigned h = t / 3600 % 10000, m = (t / 60) % 60, sec = t % 60;
    if (h)
        snprintf(buf, n, "%u:%02u:%02u", h, m, sec);
    else
        snprintf(buf, n, "%02u:%02u", (t / 60) % 100, sec);
}

/* The rate and ETAs of a bar: "812 img/s", "ETA 00:43", "stage 05:12",
 * "3 cells left ~12:00" (empty strings when unknown). Caller holds log_mu. */
static void bar_rates(const rp_progress *p, double now, char *rate_s, size_t rn, char *eta,
                      size_t en, char *outer, size_t on) {
    double el = now - p->start;
    double rate = el > 0 ? (double)p->n / el : 0;
    double irate = el > 0 ? (double)p->items / el : 0;
    double shown = p->items ? irate : rate;
    const char *u = p->items ? p->item_unit : p->unit;
    snprintf(rate_s, rn, shown >= 100 ? "%.0f %s/s" : "%.2f %s/s", shown, u);
    char d[32];
    eta[0] = outer[0] = 0;
    if (p->total && p->n < p->total) {
        fmt_dur(rate > 0 ? (double)(p->total - p->n) / rate : -1, d, sizeof d);
        snprintf(eta, en, "ETA %s", d);
    } else if (p->total) {
        fmt_dur(el, d, sizeof d);
        snprintf(eta, en, "in %s", d);
    }
    size_t o = 0;
    uint64_t done = p->outer_before + p->n;
    if (p->outer_total > done && rate > 0) {
        fmt_dur((double)(p->outer_total - done) / rate, d, sizeof d);
        o += (size_t)snprintf(outer, on, "stage %s", d);
    }
    if (matrix_left && o < on) {
        o += (size_t)snprintf(outer + o, on - o, "%s%zu cell%s left", o ? ", " : "", matrix_left,
                              matrix_left == 1 ? "" : "s");
        if (matrix_cell_s > 0 && o < on) {
            fmt_dur(matrix_cell_s * (double)matrix_left, d, sizeof d);
            snprintf(outer + o, on - o, " ~%s", d);
        }
    }
}

/* Caller holds log_mu. */
static void bar_draw(rp_progress *p, double now) {
    char line[640], rate_s[48], eta[48], outer[96];
    bar_rates(p, now, rate_s, sizeof rate_s, eta, sizeof eta, outer, sizeof outer);
    int cols = term_cols();
    int len;
    if (p->total) {
        int width = 24;
        char bar[40];
        uint64_t nn = p->n > p->total ? p->total : p->n;
        int fill = (int)((double)nn / (double)p->total * width);
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '-';
        bar[width] = 0;
        len = snprintf(line, sizeof line, "%s [%s] %llu/%llu %s %s%s%s%s%s%s", p->label, bar,
                       (unsigned long long)p->n, (unsigned long long)p->total, rate_s, eta,
                       outer[0] ? " (" : "", outer, outer[0] ? ")" : "",
                       p->suffix[0] ? " | " : "", p->suffix);
    } else {
        len = snprintf(line, sizeof line, "%s %llu %s%s%s", p->label, (unsigned long long)p->n,
                       rate_s, p->suffix[0] ? " | " : "", p->suffix);
    }
    if (len >= cols) line[cols - 1] = 0;
    fprintf(stdout, "\r\033[K%s", line);
    fflush(stdout);
    p->drawn = 1;
    p->last_draw = now;
}

static void bar_clear(void) {
    if (active_bar && active_bar->drawn) {
        fputs("\r\033[K", stdout);
        fflush(stdout);
    }
}

static void log_v(int to_term, enum rp_log_level level, const char *fmt, va_list ap) {
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t ml = strlen(msg);
    while (ml && msg[ml - 1] == '\n') msg[--ml] = 0;

    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    int li = level < 0 ? 0 : level > RP_LOG_DEBUG ? RP_LOG_DEBUG : (int)level;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char head[64];
    int hl = snprintf(head, sizeof head, "%02d:%02d:%02d.%03ld %-5s ", tm.tm_hour, tm.tm_min,
                      tm.tm_sec, ts.tv_nsec / 1000000, names[li]);

    pthread_mutex_lock(&log_mu);
    if (log_file_open) {
        fwrite(head, 1, (size_t)hl, log_file.f);
        fwrite(msg, 1, ml, log_file.f);
        fputc('\n', log_file.f);
        fflush(log_file.f);
    } else {
        pending_add(head, (size_t)hl);
        pending_add(msg, ml);
        pending_add("\n", 1);
    }
    if (to_term && (int)level <= (int)term_level) {
        bar_clear();
        if (level == RP_LOG_ERROR)
            fprintf(stderr, "error: %s\n", msg);
        else if (level == RP_LOG_WARN)
            fprintf(stderr, "warning: %s\n", msg);
        else {
            fprintf(stdout, "%s\n", msg);
            fflush(stdout);
        }
        if (active_bar && active_bar->drawn) bar_draw(active_bar, rp_now());
    }
    pthread_mutex_unlock(&log_mu);
}

void rp_log(enum rp_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_v(1, level, fmt, ap);
    va_end(ap);
}

void rp_log_file_only(enum rp_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_v(0, level, fmt, ap);
    va_end(ap);
}

/* ---- progress --------------------------------------------------------------- */

rp_progress *rp_progress_begin(const char *label, uint64_t total, const char *unit) {
    rp_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit && *unit ? unit : "it");
    p->total = total;
    p->start = rp_now();
    p->last_draw = -1;
    pthread_mutex_lock(&log_mu);
    if (rp_log_progress_enabled()) {
        bar_clear();
        active_bar = p;
        bar_draw(p, p->start);
    }
    pthread_mutex_unlock(&log_mu);
    return p;
}

void rp_progress_items(rp_progress *p, uint64_t items, const char *unit) {
    if (!p) return;
    pthread_mutex_lock(&log_mu);
    p->items += items;
    if (unit) snprintf(p->item_unit, sizeof p->item_unit, "%s", unit);
    pthread_mutex_unlock(&log_mu);
}

void rp_progress_outer(rp_progress *p, uint64_t before, uint64_t total) {
    if (!p) return;
    pthread_mutex_lock(&log_mu);
    p->outer_before = before;
    p->outer_total = total;
    pthread_mutex_unlock(&log_mu);
}

void rp_progress_step(rp_progress *p, uint64_t n, const char *suffix) {
    if (!p) return;
    char beat[640];
    beat[0] = 0;
    pthread_mutex_lock(&log_mu);
    p->n += n;
    if (suffix) snprintf(p->suffix, sizeof p->suffix, "%s", suffix);
    double now = rp_now();
    if (active_bar == p) {
        if (now - p->last_draw >= 0.1 || (p->total && p->n >= p->total)) bar_draw(p, now);
    } else if (heartbeat_s > 0 && term_level >= RP_LOG_INFO && !rp_log_progress_enabled() &&
               now - (p->last_beat > 0 ? p->last_beat : p->start) >= heartbeat_s) {
        /* no bar (CI, nohup, cluster logs): one line every heartbeat_s */
        char rate_s[48], eta[48], outer[96], pos[64] = "";
        bar_rates(p, now, rate_s, sizeof rate_s, eta, sizeof eta, outer, sizeof outer);
        if (p->total)
            snprintf(pos, sizeof pos, "%llu/%llu %s (%.0f%%)", (unsigned long long)p->n,
                     (unsigned long long)p->total, p->unit, 100.0 * (double)p->n / (double)p->total);
        else
            snprintf(pos, sizeof pos, "%llu %s", (unsigned long long)p->n, p->unit);
        snprintf(beat, sizeof beat, "%s: %s, %s%s%s%s%s%s%s", p->label, pos, rate_s,
                 eta[0] ? ", " : "", eta, outer[0] ? ", " : "", outer, p->suffix[0] ? " | " : "",
                 p->suffix);
        p->last_beat = now;
    }
    pthread_mutex_unlock(&log_mu);
    if (beat[0]) rp_log(RP_LOG_INFO, "%s", beat);
}

void rp_progress_end(rp_progress *p) {
    if (!p) return;
    double el = rp_now() - p->start;
    pthread_mutex_lock(&log_mu);
    if (active_bar == p) {
        bar_draw(p, rp_now());
        fputc('\n', stdout);
        fflush(stdout);
        active_bar = NULL;
    }
    pthread_mutex_unlock(&log_mu);
    rp_log(RP_LOG_DEBUG, "%s: %llu %s in %.2f s%s%s", p->label, (unsigned long long)p->n, p->unit,
           el, p->suffix[0] ? " | " : "", p->suffix);
    free(p);
}

/* ---- SIGINT ------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

int rp_interrupted(void) { return interrupted != 0; }
void rp_interrupt_set(void) { interrupted = 1; }
void rp_interrupt_clear(void) { interrupted = 0; }

static void on_sigint(int sig) {
    (void)sig;
    if (interrupted) {
        static const char m2[] = "\nrunpipe: stopped\n";
        ssize_t r = write(STDERR_FILENO, m2, sizeof m2 - 1);
        (void)r;
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    interrupted = 1;
    static const char m[] =
        "\nrunpipe: interrupted: finishing the current step (Ctrl-C again to stop now)\n";
    ssize_t r = write(STDERR_FILENO, m, sizeof m - 1);
    (void)r;
}

void rp_log_install_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
}
