/* Scale-out on MPI through the real binary (runpipe/comm.h, engine/run/dist.c,
 * plugins/train/dp.c).
 *
 * Always: a plain run never loads the MPI support, and a run under a launcher
 * without it fails with a clear message. With Open MPI (`mpirun`) and
 * comm_mpi.so built, under `mpirun --allow-run-as-root --oversubscribe -n 2`:
 *  - data-parallel, no batch norm: 2 ranks x 64 vs 1 process x 128, weights
 *    within 1e-5 after 20 SGD steps;
 *  - data-parallel with batch norm (statistics per rank of 64 samples): the
 *    per-epoch train and validation losses within 3 % of one process; with
 *    sync_bn within 2 % (measured: 0.04 % at -O3, 0.9 % at -O1), and the
 *    weights closer to one process than with per-rank statistics;
 *  - matrix cells over 2 ranks: every cell's weights byte-identical to the
 *    one-process run, aggregate.md identical;
 *  - rank 1 killed with SIGKILL mid-run: the job ends (no hang, within the
 *    timeout) naming the dead rank, and --resume under mpirun ends with the
 *    weights of an uninterrupted 2-rank run, byte for byte.
 * Without Open MPI those tests are skipped with a message saying so.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "runpipe/comm.h"

/* Under `make asan`, leak checking is off in the ranks: Open MPI unloads its
 * components at MPI_Finalize, and what they allocated can neither be freed
 * by us nor attributed to a library to suppress. ASan's other checks stay
 * on; the one-process runs of the same pipelines keep leak checking. */
#define MPIRUN                                                                                     \
    "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\" "                              \
    "timeout 240 mpirun --allow-run-as-root --oversubscribe -n 2"

static int have_mpi;
static char skip_why[4600];

/* Fashion-MNIST, a small CNN, SGD with momentum; %s = extra layer after
 * each conv ("" or a batch norm). */
static const char *dp_stages =
    "  - id: fmnist\n"
    "    use: data.idx\n"
    "    with: {limit: %d}\n"
    "  - id: net\n"
    "    use: model.build\n"
    "    with:\n"
    "      input: [1, 28, 28]\n"
    "      layers:\n"
    "        - {conv2d: {out: 8, kernel: 3}}\n"
    "%s"
    "        - {relu: {}}\n"
    "        - {maxpool2d: {kernel: 2}}\n"
    "        - {conv2d: {out: 16, kernel: 3}}\n"
    "%s"
    "        - {relu: {}}\n"
    "        - {flatten: {}}\n"
    "        - {linear: {out: 10}}\n"
    "  - id: loss\n"
    "    use: loss\n"
    "  - id: fit\n"
    "    use: train\n"
    "    in: {model: net, loss: loss, train: fmnist.train, val: fmnist.test}\n"
    "    with: {epochs: %d, batch_size: 128, optimizer: {sgd: {lr: 0.02, momentum: 0.9}},\n"
    "           val_limit: 256}\n";

static const char *write_dp(const char *dir, const char *file, int limit, int bn, int epochs) {
    char buf[4096];
    const char *b = bn ? "        - {batchnorm2d: {}}\n" : "";
    snprintf(buf, sizeof buf, dp_stages, limit, b, b, epochs);
    return rp_test_write_pipeline(dir, file, "name: dp\nseed: 11\n", buf);
}

static void run_ok(const char *env, const char *args, const char *log) {
    int rc = rp_test_runpipe_env(env, args, log, NULL, 0);
    if (rc != 0) {
        rp_test_show_log(log, 30);
        fail_msg("runpipe %s%s%s: exit %d", env ? env : "", env ? " " : "", args, rc);
    }
}

static void load(const char *path, rp_st *st) {
    rp_error err;
    rp_error_clear(&err);
    rp_st_init(st);
    RP_ASSERT_OK(rp_st_load(path, st, &err), &err);
    assert_true(st->n > 0);
}

/* max |a - b| over every tensor (same names and sizes), or -1 for bytes
 * that differ when exact is asked. */
static double max_diff(const char *a, const char *b) {
    rp_st x, y;
    load(a, &x);
    load(b, &y);
    assert_int_equal(x.n, y.n);
    double m = 0;
    for (size_t i = 0; i < x.n; i++) {
        const rp_tensor *t = rp_st_get(&y, x.e[i].name);
        if (!t) fail_msg("%s: no tensor '%s'", b, x.e[i].name);
        assert_int_equal(t->numel, x.e[i].t->numel);
        for (size_t k = 0; k < t->numel; k++) {
            double d = fabs((double)t->data[k] - (double)x.e[i].t->data[k]);
            if (d > m || d != d) m = d != d ? 1e30 : d;
        }
    }
    rp_st_release(&x);
    rp_st_release(&y);
    return m;
}

static void assert_same_bytes(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_read_file(a, &x, &nx, &err), &err);
    RP_ASSERT_OK(rp_read_file(b, &y, &ny, &err), &err);
    if (nx != ny || memcmp(x, y, nx)) fail_msg("%s and %s differ", a, b);
    free(x);
    free(y);
}

/* history.csv column `col` (0-based) of every epoch row into v; returns rows. */
static int history_col(const char *path, int col, double *v, int max) {
    char *text = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_read_file(path, &text, NULL, &err), &err);
    int n = 0;
    for (char *line = strchr(text, '\n'); line && line[1] && n < max; line = strchr(line + 1, '\n')) {
        const char *p = line + 1;
        for (int c = 0; c < col && p; c++) {
            p = strchr(p, ',');
            if (p) p++;
        }
        if (p) v[n++] = strtod(p, NULL);
    }
    free(text);
    return n;
}

#define NEED_MPI()                                                                                 \
    do {                                                                                           \
        if (!have_mpi) {                                                                           \
            fprintf(stderr, "SKIPPED: %s\n", skip_why);                                            \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* ---- without MPI ---------------------------------------------------------------------- */

static void test_plain_run_loads_no_mpi(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    const char *y = write_dp(dir, "tiny.yaml", 256, 0, 1);
    char args[1400];
    snprintf(args, sizeof args, "run '%s' --out '%s/o' --threads 1", y, dir);
    /* a missing MPI library is never looked for without a launcher */
    run_ok("RUNPIPE_COMM_MPI=/nonexistent/comm_mpi.so", args, rp_test_path(dir, "log"));
}

static void test_launcher_without_mpi_support(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    const char *y = write_dp(dir, "tiny.yaml", 256, 0, 1);
    char args[1400], out[4096];
    snprintf(args, sizeof args, "run '%s' --out '%s/o' --threads 1", y, dir);
    int rc = rp_test_runpipe_env("OMPI_COMM_WORLD_SIZE=2 RUNPIPE_COMM_MPI=/nonexistent/comm_mpi.so",
                                 args, rp_test_path(dir, "log"), out, sizeof out);
    assert_int_equal(rc, 1);
    if (!strstr(out, "started by an MPI launcher, but the MPI support "
                     "'/nonexistent/comm_mpi.so' cannot be loaded"))
        fail_msg("unexpected output:\n%s", out);
}

/* Launcher detection from the environment alone (nothing is loaded):
 * mpirun (OMPI_*), srun --mpi=pmix (PMIX_RANK), --mpi=pmi2 / hydra
 * (PMI_SIZE); a batch script (SLURM_PROCID and SLURM_NTASKS, no step) is a
 * plain run; srun tasks without PMI are an error, not K lone copies. */
static void clear_launch_env(void) {
    const char *v[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_PROCID",
                       "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS", "SLURM_JOB_ID"};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) unsetenv(v[i]);
}

static void test_launcher_detection(void **state) {
    (void)state;
    clear_launch_env();
    assert_false(rp_comm_launched());
    assert_false(rp_comm_srun_without_pmi());
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1); /* mpirun */
    assert_true(rp_comm_launched());
    clear_launch_env();
    setenv("PMIX_RANK", "0", 1); /* srun --mpi=pmix: rank 0 counts */
    setenv("SLURM_PROCID", "0", 1);
    setenv("SLURM_STEP_NUM_TASKS", "4", 1);
    assert_true(rp_comm_launched());
    assert_false(rp_comm_srun_without_pmi());
    clear_launch_env();
    setenv("PMI_SIZE", "4", 1); /* srun --mpi=pmi2, MPICH's hydra */
    assert_true(rp_comm_launched());
    setenv("PMI_SIZE", "x", 1); /* not a number: not a launcher */
    assert_false(rp_comm_launched());
    clear_launch_env();
    /* an sbatch script's own environment: one process, no step */
    setenv("SLURM_JOB_ID", "77", 1);
    setenv("SLURM_PROCID", "0", 1);
    setenv("SLURM_NTASKS", "4", 1);
    assert_false(rp_comm_launched());
    assert_false(rp_comm_srun_without_pmi());
    setenv("SLURM_STEP_NUM_TASKS", "1", 1); /* srun -n 1: a plain run */
    assert_false(rp_comm_srun_without_pmi());
    setenv("SLURM_STEP_NUM_TASKS", "4", 1); /* srun -n 4 --mpi=none */
    assert_true(rp_comm_srun_without_pmi());
    clear_launch_env();
}

/* The same through the program: what each environment does to a run. */
static void test_launcher_environments(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    const char *y = write_dp(dir, "tiny.yaml", 256, 0, 1);
    char args[1400], out[4096];
    snprintf(args, sizeof args, "run '%s' --out '%s/o' --threads 1", y, dir);
    /* inside a batch script, without srun: a plain run, MPI not looked for */
    int rc = rp_test_runpipe_env("SLURM_JOB_ID=77 SLURM_PROCID=0 SLURM_NTASKS=4 "
                                 "RUNPIPE_COMM_MPI=/nonexistent/comm_mpi.so",
                                 args, rp_test_path(dir, "batch.log"), out, sizeof out);
    if (rc != 0) fail_msg("batch-script environment: exit %d:\n%s", rc, out);
    /* srun --mpi=pmix: MPI support is loaded */
    snprintf(args, sizeof args, "run '%s' --out '%s/p' --threads 1", y, dir);
    rc = rp_test_runpipe_env("PMIX_RANK=1 SLURM_PROCID=1 SLURM_STEP_NUM_TASKS=2 "
                             "RUNPIPE_COMM_MPI=/nonexistent/comm_mpi.so",
                             args, rp_test_path(dir, "pmix.log"), out, sizeof out);
    assert_int_equal(rc, 1);
    if (!strstr(out, "started by an MPI launcher, but the MPI support "
                     "'/nonexistent/comm_mpi.so' cannot be loaded"))
        fail_msg("srun --mpi=pmix environment: unexpected output:\n%s", out);
    /* srun -n 2 without PMI: a clear error instead of two lone runs */
    snprintf(args, sizeof args, "run '%s' --out '%s/s' --threads 1", y, dir);
    rc = rp_test_runpipe_env("SLURM_PROCID=1 SLURM_STEP_NUM_TASKS=2 "
                             "RUNPIPE_COMM_MPI=/nonexistent/comm_mpi.so",
                             args, rp_test_path(dir, "srun.log"), out, sizeof out);
    assert_int_equal(rc, 1);
    if (!strstr(out, "started by srun as task 1 of 2, but without an MPI interface (no "
                     "PMIX_RANK or PMI_SIZE in the environment): run `srun --mpi=pmix ...`"))
        fail_msg("srun without PMI: unexpected output:\n%s", out);
    if (rp_path_exists(rp_test_path(dir, "s")))
        fail_msg("srun without PMI: a run folder was made");
}

/* ---- data-parallel -------------------------------------------------------------------- */

static void test_dp_matches_one_process(void **state) {
    (void)state;
    NEED_MPI();
    const char *dir = rp_test_tmpdir();
    /* 2560 samples / 128 = 20 steps */
    const char *y = write_dp(dir, "dp.yaml", 2560, 0, 1);
    char args[1400];
    snprintf(args, sizeof args, "run '%s' --out '%s/one' --threads 1", y, dir);
    run_ok(NULL, args, rp_test_path(dir, "one.log"));
    snprintf(args, sizeof args, "run '%s' --out '%s/two' --threads 1", y, dir);
    run_ok(MPIRUN, args, rp_test_path(dir, "two.log"));
    char a[900], b[900];
    snprintf(a, sizeof a, "%s/one/fit/last.safetensors", dir);
    snprintf(b, sizeof b, "%s/two/fit/last.safetensors", dir);
    double d = max_diff(a, b);
    if (!(d <= 1e-5)) fail_msg("2 ranks x 64 vs 1 x 128: max weight difference %g > 1e-5", d);
    /* rank 1 wrote nothing into the run folder besides its own .rank-1/ */
    struct stat sb;
    snprintf(a, sizeof a, "%s/two/.rank-1/fit/checkpoint.safetensors", dir);
    assert_int_not_equal(stat(a, &sb), 0); /* checkpoints: rank 0 only */
}

/* train_loss and val_loss of every epoch of two history.csv within rel. */
static void assert_close_curves(const char *a, const char *b, double rel) {
    for (int col = 1; col <= 3; col += 2) {
        double x[8], z[8];
        int n = history_col(a, col, x, 8), m = history_col(b, col, z, 8);
        assert_int_equal(n, 2);
        assert_int_equal(m, 2);
        for (int i = 0; i < n; i++)
            if (fabs(x[i] - z[i]) > rel * fabs(x[i]))
                fail_msg("%s: epoch %d %s: one process %.5f, 2 ranks %.5f (more than %g %% apart)",
                         b, i + 1, col == 1 ? "train_loss" : "val_loss", x[i], z[i], 100 * rel);
    }
}

static void test_dp_batchnorm_loss_curves(void **state) {
    (void)state;
    NEED_MPI();
    const char *dir = rp_test_tmpdir();
    const char *y = write_dp(dir, "bn.yaml", 1280, 1, 2); /* 2 epochs x 10 steps */
    char args[1400];
    snprintf(args, sizeof args, "run '%s' --out '%s/one' --threads 1", y, dir);
    run_ok(NULL, args, rp_test_path(dir, "one.log"));
    snprintf(args, sizeof args, "run '%s' --out '%s/two' --threads 1", y, dir);
    run_ok(MPIRUN, args, rp_test_path(dir, "two.log"));
    char a[900], b[900];
    snprintf(a, sizeof a, "%s/one/fit/history.csv", dir);
    snprintf(b, sizeof b, "%s/two/fit/history.csv", dir);
    assert_close_curves(a, b, 0.03);
    /* sync_bn: statistics over both ranks' 64 = the one-process batch */
    snprintf(args, sizeof args,
             "run '%s' --out '%s/sync' --threads 1 --set stages.fit.with.sync_bn=true", y, dir);
    run_ok(MPIRUN, args, rp_test_path(dir, "sync.log"));
    snprintf(b, sizeof b, "%s/sync/fit/history.csv", dir);
    assert_close_curves(a, b, 0.02);
    snprintf(a, sizeof a, "%s/one/fit/last.safetensors", dir);
    snprintf(b, sizeof b, "%s/two/fit/last.safetensors", dir);
    double d_rank = max_diff(a, b);
    snprintf(b, sizeof b, "%s/sync/fit/last.safetensors", dir);
    double d_sync = max_diff(a, b);
    if (!(d_sync < d_rank))
        fail_msg("sync_bn is not closer to one process than per-rank statistics: max weight "
                 "difference %g vs %g", d_sync, d_rank);
}

/* ---- cells ---------------------------------------------------------------------------- */

static const char *cell_stages =
    "  - id: fmnist\n"
    "    use: data.idx\n"
    "    with: {limit: 512}\n"
    "  - id: net\n"
    "    use: model.build\n"
    "    with:\n"
    "      input: [1, 28, 28]\n"
    "      layers:\n"
    "        - {conv2d: {out: 4, kernel: 3}}\n"
    "        - {batchnorm2d: {}}\n"
    "        - {relu: {}}\n"
    "        - {maxpool2d: {kernel: 2}}\n"
    "        - {flatten: {}}\n"
    "        - {linear: {out: 10}}\n"
    "  - id: loss\n"
    "    use: loss\n"
    "  - id: fit\n"
    "    use: train\n"
    "    in: {model: net, loss: loss, train: fmnist.train, val: fmnist.test}\n"
    "    with: {epochs: 2, batch_size: 64, optimizer: {adam: {lr: \"${matrix.lr}\"}}, val_limit: 64}\n";

static void test_cells_byte_identical(void **state) {
    (void)state;
    NEED_MPI();
    const char *dir = rp_test_tmpdir();
    const char *y = rp_test_write_pipeline(
        dir, "cells.yaml",
        "name: cells\nseed: 3\nmatrix: {lr: [0.001, 0.002, 0.004], seed: [1, 2]}\n"
        "aggregate: {over: [seed], metrics: [fit.train_loss, fit.val_loss, fit.val_acc]}\n",
        cell_stages);
    char args[1400];
    snprintf(args, sizeof args, "run '%s' --out '%s/one' --threads 1", y, dir);
    run_ok(NULL, args, rp_test_path(dir, "one.log"));
    snprintf(args, sizeof args, "run '%s' --out '%s/two' --threads 1", y, dir);
    run_ok(MPIRUN, args, rp_test_path(dir, "two.log"));
    const char *cells[] = {"lr-0.001_seed-1", "lr-0.001_seed-2", "lr-0.002_seed-1",
                           "lr-0.002_seed-2", "lr-0.004_seed-1", "lr-0.004_seed-2"};
    for (size_t i = 0; i < 6; i++) {
        char a[900], b[900];
        snprintf(a, sizeof a, "%s/one/%s/fit/last.safetensors", dir, cells[i]);
        snprintf(b, sizeof b, "%s/two/%s/fit/last.safetensors", dir, cells[i]);
        assert_same_bytes(a, b);
        snprintf(a, sizeof a, "%s/one/%s/metrics.json", dir, cells[i]);
        assert_true(access(a, R_OK) == 0);
        snprintf(b, sizeof b, "%s/two/%s/status", dir, cells[i]);
        assert_same_bytes(rp_test_path(dir, "one/lr-0.001_seed-1/status"), b);
    }
    char a[900], b[900];
    snprintf(a, sizeof a, "%s/one/aggregate.md", dir);
    snprintf(b, sizeof b, "%s/two/aggregate.md", dir);
    assert_same_bytes(a, b);
    /* both ranks took cells: rank 1's log names some */
    char *text = NULL;
    rp_error err;
    rp_error_clear(&err);
    snprintf(b, sizeof b, "%s/two/log.rank-1.txt", dir);
    RP_ASSERT_OK(rp_read_file(b, &text, NULL, &err), &err);
    if (!strstr(text, "== cell ")) fail_msg("rank 1 ran no cell:\n%s", text);
    free(text);
}

/* One cell fails (449 samples: a last batch of 1 that batchnorm1d refuses):
 * it is marked failed, the other cells are done, the job exits 1. */
static void test_failing_cell_others_go_on(void **state) {
    (void)state;
    NEED_MPI();
    const char *dir = rp_test_tmpdir();
    const char *y = rp_test_write_pipeline(
        dir, "fail.yaml", "name: cellfail\nseed: 3\nmatrix: {n: [448, 449, 512]}\n",
        "  - id: fmnist\n"
        "    use: data.idx\n"
        "    with: {limit: \"${matrix.n}\"}\n"
        "  - id: net\n"
        "    use: model.build\n"
        "    with:\n"
        "      input: [1, 28, 28]\n"
        "      layers: [{conv2d: {out: 4, kernel: 3}}, {relu: {}}, {maxpool2d: {kernel: 2}},\n"
        "               {flatten: {}}, {batchnorm1d: {}}, {linear: {out: 10}}]\n"
        "  - id: loss\n"
        "    use: loss\n"
        "  - id: fit\n"
        "    use: train\n"
        "    in: {model: net, loss: loss, train: fmnist.train}\n"
        "    with: {epochs: 2, batch_size: 64, optimizer: {adam: {lr: 0.001}}}\n");
    char args[1400];
    snprintf(args, sizeof args, "run '%s' --out '%s/two' --threads 1", y, dir);
    int rc = rp_test_runpipe_env(MPIRUN, args, rp_test_path(dir, "two.log"), NULL, 0);
    if (rc != 1) {
        rp_test_show_log(rp_test_path(dir, "two.log"), 30);
        fail_msg("expected exit 1, got %d", rc);
    }
    char st[3][2048];
    const char *cells[3] = {"n-448", "n-449", "n-512"};
    for (int i = 0; i < 3; i++) {
        char *text = NULL;
        rp_error err;
        rp_error_clear(&err);
        char p[900];
        snprintf(p, sizeof p, "%s/two/%s/status", dir, cells[i]);
        RP_ASSERT_OK(rp_read_file(p, &text, NULL, &err), &err);
        snprintf(st[i], sizeof st[i], "%s", text);
        free(text);
    }
    assert_string_equal(st[0], "done\n");
    assert_string_equal(st[2], "done\n");
    if (!strstr(st[1], "failed: ") ||
        !strstr(st[1], "batch norm in training needs more than one value per channel"))
        fail_msg("cell n=449: status %s", st[1]);
    /* rank 0's manifest lists every cell's outcome, whoever ran it */
    char *m = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "two/manifest.json"), &m, NULL, &err), &err);
    const char *c449 = strstr(m, "\"n=449\"");
    assert_non_null(c449);
    assert_non_null(strstr(c449, "\"failed\""));
    free(m);
}

/* ---- foreach instances ------------------------------------------------------------------ */

static const char *fe_stages =
    "  - id: fmnist\n"
    "    use: data.idx\n"
    "    with: {limit: 4096}\n"
    "  - id: net\n"
    "    use: model.build\n"
    "    with:\n"
    "      input: [1, 28, 28]\n"
    "      layers:\n"
    "        - {conv2d: {out: 4, kernel: 3}}\n"
    "        - {relu: {}}\n"
    "        - {maxpool2d: {kernel: 2}}\n"
    "        - {flatten: {}}\n"
    "        - {linear: {out: 10}}\n"
    "  - id: loss\n"
    "    use: loss\n"
    "  - id: fit\n"
    "    use: train\n"
    "    foreach: {lr: [0.001, 0.002, 0.004, 0.008]}\n"
    "    in: {model: net, loss: loss, train: fmnist.train, val: fmnist.test}\n"
    "    with: {epochs: 2, batch_size: 64, optimizer: {adam: {lr: \"${each.lr}\"}}, val_limit: 64}\n"
    "  - id: all\n"
    "    use: inspect.metrics\n"
    "    in: {metrics: \"fit[*].metrics\"}\n";

/* One cell: ranks share the foreach instances, each trains alone into the
 * run folder, and the stage after them sees all four on every rank. The
 * ranks meet at a barrier before taking tickets, and each instance trains on
 * 4,096 images (about 0.1 s), so rank 1 takes a ticket before rank 0 has
 * taken all four even on a loaded machine. */
static void test_foreach_instances_over_ranks(void **state) {
    (void)state;
    NEED_MPI();
    const char *dir = rp_test_tmpdir();
    const char *y = rp_test_write_pipeline(dir, "fe.yaml", "name: fe\nseed: 4\n", fe_stages);
    char args[1400];
    snprintf(args, sizeof args, "run '%s' --out '%s/one' --threads 1", y, dir);
    run_ok(NULL, args, rp_test_path(dir, "one.log"));
    snprintf(args, sizeof args, "run '%s' --out '%s/two' --threads 1", y, dir);
    run_ok(MPIRUN, args, rp_test_path(dir, "two.log"));
    const char *inst[] = {"lr-0.001", "lr-0.002", "lr-0.004", "lr-0.008"};
    for (size_t i = 0; i < 4; i++) {
        char a[900], b[900];
        snprintf(a, sizeof a, "%s/one/fit/%s/last.safetensors", dir, inst[i]);
        snprintf(b, sizeof b, "%s/two/fit/%s/last.safetensors", dir, inst[i]);
        assert_same_bytes(a, b);
        snprintf(a, sizeof a, "%s/one/fit/%s/history.csv", dir, inst[i]);
        snprintf(b, sizeof b, "%s/two/fit/%s/history.csv", dir, inst[i]);
        double x[4], z[4];
        assert_int_equal(history_col(a, 3, x, 4), 2);
        assert_int_equal(history_col(b, 3, z, 4), 2);
        assert_true(x[1] == z[1]); /* val_loss */
    }
    /* rank 1 ran some: rank 0 says so; and the merged metrics are the same */
    char *text = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "two/log.txt"), &text, NULL, &err), &err);
    if (!strstr(text, "run by another rank")) fail_msg("rank 1 ran no instance:\n%s", text);
    free(text);
    char a[900], b[900];
    snprintf(a, sizeof a, "%s/one/metrics.json", dir);
    snprintf(b, sizeof b, "%s/two/metrics.json", dir);
    char *ma = NULL, *mb = NULL;
    RP_ASSERT_OK(rp_read_file(a, &ma, NULL, &err), &err);
    RP_ASSERT_OK(rp_read_file(b, &mb, NULL, &err), &err);
    /* "fit/lr-0.008.val_loss" as merged by the last stage */
    const char *key = "\"fit/lr-0.008.val_loss\"";
    const char *pa = strstr(ma, key), *pb = strstr(mb, key);
    if (!pa || !pb) fail_msg("no %s in the merged metrics:\n%s", key, mb);
    assert_true(strtod(strchr(pa, ':') + 1, NULL) == strtod(strchr(pb, ':') + 1, NULL));
    free(ma);
    free(mb);
}

/* ---- a rank killed -------------------------------------------------------------------- */

static void test_rank_killed_then_resume(void **state) {
    (void)state;
    NEED_MPI();
    const char *dir = rp_test_tmpdir();
    /* 16 epochs x 20 steps: long enough (about 2 s) that rank 1 is killed
     * mid-run, after the first checkpoint, even on an idle machine */
    const char *y = write_dp(dir, "kill.yaml", 2560, 0, 16);
    char args[1400];
    snprintf(args, sizeof args, "run '%s' --out '%s/full' --threads 1", y, dir);
    run_ok(MPIRUN, args, rp_test_path(dir, "full.log"));
    /* the same run, rank 1 killed once rank 0 wrote the first checkpoint */
    char script[6000];
    snprintf(script, sizeof script,
             "MARK=%s/part\n"
             "RP_TEST_MARK=$MARK RUNPIPE_CACHE=off RUNPIPE_PLUGIN_PATH='%s' " MPIRUN
             " '%s' run '%s' --out '%s/part' --threads 1 > '%s/part.log' 2>&1 &\n"
             "job=$!\n"
             "i=0; while [ ! -f '%s/part/fit/checkpoint.safetensors' ] && [ $i -lt 1200 ]; do "
             "sleep 0.05; i=$((i+1)); done\n"
             "for e in /proc/[0-9]*/environ; do\n"
             "  if tr '\\0' '\\n' 2>/dev/null < $e | grep -qx \"RP_TEST_MARK=$MARK\" &&\n"
             "     tr '\\0' '\\n' 2>/dev/null < $e | grep -qx OMPI_COMM_WORLD_RANK=1; then\n"
             "    p=${e#/proc/}; kill -9 ${p%%/environ}; fi\n"
             "done\n"
             "wait $job; echo $? > '%s/part.rc'\n",
             dir, rp_test_plugin_dir(), rp_test_runpipe_bin(), y, dir, dir, dir, dir);
    rp_test_write(rp_test_path(dir, "kill.sh"), script);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "sh '%s/kill.sh'", dir);
    double t0 = rp_now();
    assert_int_equal(system(cmd), 0);
    double secs = rp_now() - t0;
    char *text = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "part.rc"), &text, NULL, &err), &err);
    int rc = atoi(text);
    free(text);
    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "part.log"), &text, NULL, &err), &err);
    if (rc == 0 || rc == 124)
        fail_msg("killed job: exit %d after %.0f s (124 = hung until the timeout):\n%s", rc, secs,
                 text);
    if (!strstr(text, "exited on signal 9"))
        fail_msg("the job's output does not name the killed rank:\n%s", text);
    free(text);
    /* finished epochs are in rank 0's history; the run goes on from there */
    snprintf(args, sizeof args, "run '%s' --resume '%s/part' --threads 1", y, dir);
    run_ok(MPIRUN, args, rp_test_path(dir, "resume.log"));
    char a[900], b[900];
    snprintf(a, sizeof a, "%s/full/fit/last.safetensors", dir);
    snprintf(b, sizeof b, "%s/part/fit/last.safetensors", dir);
    assert_same_bytes(a, b);
    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "resume.log"), &text, NULL, &err), &err);
    if (!strstr(text, "resuming from")) fail_msg("the resumed run did not resume:\n%s", text);
    free(text);
}

int main(void) {
    if (!rp_test_have_runpipe_and_fmnist()) return 1;
    /* the tests decide where they run under a launcher */
    clear_launch_env();
    char so[4200];
    snprintf(so, sizeof so, "%s/lib/runpipe/comm_mpi.so", rp_test_build());
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        snprintf(skip_why, sizeof skip_why,
                 "Open MPI is not installed (no mpirun): `make deps` installs openmpi-bin and "
                 "libopenmpi-dev; the MPI tests are skipped");
    else if (!rp_path_exists(so))
        snprintf(skip_why, sizeof skip_why,
                 "%s is not built (make builds it where mpicc is installed); the MPI tests are "
                 "skipped",
                 so);
    else
        have_mpi = 1;
    if (!have_mpi) printf("%s\n", skip_why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_run_loads_no_mpi),
        cmocka_unit_test(test_launcher_without_mpi_support),
        cmocka_unit_test(test_launcher_detection),
        cmocka_unit_test(test_launcher_environments),
        cmocka_unit_test(test_dp_matches_one_process),
        cmocka_unit_test(test_dp_batchnorm_loss_curves),
        cmocka_unit_test(test_cells_byte_identical),
        cmocka_unit_test(test_failing_cell_others_go_on),
        cmocka_unit_test(test_foreach_instances_over_ranks),
        cmocka_unit_test(test_rank_killed_then_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
