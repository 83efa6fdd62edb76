/* A run folder's and a cell's status file (status.h). */
#include "run/status.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runpipe/io.h"
#include "runpipe/runpipe.h"

static char *status_path(const char *dir) {
    size_t n = strlen(dir) + sizeof "/status";
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/status", dir);
    return p;
}

int rp_status_write(const char *dir, const char *status, const char *msg, rp_error *err) {
    char *p = status_path(dir);
    if (!p) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    char buf[RP_ERR_MSG_MAX + 1000];
    /* while running, a second line names the process, so `runpipe runs` can
     * tell a run that is still going from one that was killed (kill -9 leaves
     * "running"); a finished status is the same bytes on every machine */
    char host[256] = "";
    int running = !strcmp(status, "running");
    if (running && gethostname(host, sizeof host - 1) != 0) host[0] = 0;
    int n = running ? snprintf(buf, sizeof buf, "%s%s%s\npid %ld host %s\n", status,
                               msg && *msg ? ": " : "", msg ? msg : "", (long)getpid(), host)
                    : snprintf(buf, sizeof buf, "%s%s%s\n", status, msg && *msg ? ": " : "",
                               msg ? msg : "");
    if (n < 0 || (size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
    int s = rp_write_atomic(p, buf, (size_t)n, err);
    free(p);
    return s;
}

int rp_status_read(const char *dir, char *buf, size_t n) {
    buf[0] = 0;
    char *p = status_path(dir);
    if (!p) return 0;
    char *data = NULL;
    int ok = rp_read_file(p, &data, NULL, NULL) == RP_OK;
    free(p);
    if (!ok) return 0;
    size_t l = strcspn(data, "\n");
    if (l >= n) l = n - 1;
    memcpy(buf, data, l);
    buf[l] = 0;
    free(data);
    return 1;
}

const char *rp_run_state(const char *dir, char *buf, size_t n) {
    char *p = status_path(dir), *t = NULL;
    snprintf(buf, n, "unknown");
    if (p && rp_read_file(p, &t, NULL, NULL) == RP_OK) {
        size_t w = strcspn(t, ":\n");
        snprintf(buf, n, "%.*s", (int)w, t);
        const char *second = strchr(t, '\n');
        long pid = 0;
        char host[256] = "", me[256] = "";
        if (!strcmp(buf, "running") && second &&
            sscanf(second + 1, "pid %ld host %255s", &pid, host) >= 1 && pid > 0) {
            if (gethostname(me, sizeof me - 1) != 0) me[0] = 0;
            /* only a process on this machine can be checked */
            if ((!host[0] || !strcmp(host, me)) && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
                snprintf(buf, n, "killed");
        }
    }
    free(t);
    free(p);
    return buf;
}
