/* cmd_train.c — `shortcut train`: a headless client of the training session.
 *
 * The worker thread trains; this thread prints progress from snapshots (a redrawn bar on a
 * terminal, one line per epoch otherwise) and turns Ctrl-C into a stop command, so the run
 * stops at the next step boundary, saves, and says how to resume. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "session.h"

static volatile sig_atomic_t g_interrupts;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupts++;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: shortcut train [CONFIG.yaml] [--set key=value]... [--out DIR] [--quiet]\n"
            "       shortcut train --resume DIR [--set key=value]...\n"
            "\n"
            "Train headless with a live progress line. Without CONFIG, the built-in quick demo.\n"
            "Writes DIR/{config.yaml,metrics.csv,model.safetensors,state.safetensors,log.txt}.\n"
            "Ctrl-C stops at the next step, saves, and prints how to resume.\n"
            "\n"
            "  --set key=value   override a config key (e.g. train.epochs=5, train.lr=0.05)\n"
            "  --out DIR         run directory (default runs/<config name>, numbered if taken)\n"
            "  --resume DIR      continue a stopped run exactly where it stopped\n"
            "  --quiet           print only the final summary\n");
}

static void format_duration(double s, char *buf, size_t n) {
    if (s < 0) { snprintf(buf, n, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

static void print_progress_bar(const Snapshot *s) {
    char eta[32], el[32];
    format_duration(s->eta_s, eta, sizeof eta);
    format_duration(s->elapsed_s, el, sizeof el);
    long spe = s->steps_per_epoch > 0 ? s->steps_per_epoch : 1;
    int width = 20, filled = (int)(width * s->batch_in_epoch / spe);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    int shown_epoch = s->epoch < s->epochs ? s->epoch + 1 : s->epochs;
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %ld/%ld loss %.4f acc %5.1f%% lr %.4g %.0f img/s "
                    "elapsed %s ETA %s",
            shown_epoch, s->epochs, bar, s->batch_in_epoch, spe, s->loss_smooth,
            100.0 * s->accuracy, s->lr, s->images_per_s, el, eta);
    fflush(stderr);
}

int cmd_train(int argc, char **argv) {
    SetList sets = {0};
    const char *config_path = NULL, *out_dir = NULL, *resume_dir = NULL;
    int quiet = 0;
    for (int i = 0; i < argc; i++) {
        int r = cli_take_set(argc, argv, &i, &sets);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) {
            if (++i >= argc) return cli_usage_error("train", "--out needs a directory");
            out_dir = argv[i];
        } else if (!strcmp(a, "--resume")) {
            if (++i >= argc) return cli_usage_error("train", "--resume needs a run directory");
            resume_dir = argv[i];
        } else if (a[0] == '-') {
            return cli_usage_error("train", "unknown option '%s'", a);
        } else if (!config_path) {
            config_path = a;
        } else {
            return cli_usage_error("train", "more than one config given ('%s' and '%s')",
                                   config_path, a);
        }
    }
    SessionOptions opt;
    char run_dir[CONFIG_PATH_LEN];
    int rc0 = cli_session_options("train", config_path, out_dir, resume_dir, &sets, &opt, run_dir);
    if (rc0) return rc0;
    opt.exit_when_done = 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    Session *session;
    Status st = session_start(&opt, &session);
    if (st != ST_OK) return cli_fail(st);

    int tty = isatty(STDERR_FILENO) && !quiet;
    uint64_t seq = 0, last_log = 0;
    int stop_sent = 0, bar_shown = 0;
    Snapshot *snap = malloc(sizeof *snap);
    if (!snap) { session_destroy(session); fprintf(stderr, "shortcut: out of memory\n"); return 1; }
    double last_draw = 0;
    for (;;) {
        seq = session_wait(session, seq, 200);
        if (g_interrupts && !stop_sent) {
            session_post(session, CMD_STOP, NULL);
            stop_sent = 1;
            if (bar_shown) fputc('\n', stderr);
            bar_shown = 0;
            fprintf(stderr, "shortcut: stopping after this step and saving (Ctrl-C again does "
                            "not lose the checkpoint; it is written atomically)...\n");
        }
        session_snapshot(session, snap);
        for (int i = 0; i < snap->log_len; i++) {
            const LogLine *l = &snap->log[i];
            if (l->seq <= last_log) continue;
            last_log = l->seq;
            if (quiet && !l->is_error) continue;
            if (bar_shown) { fputs("\r\033[K", stderr); bar_shown = 0; }
            fprintf(l->is_error ? stderr : stdout, "%s%s\n", l->is_error ? "shortcut: " : "",
                    l->text);
            fflush(stdout);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
        if (tty && snap->state == RUN_RUNNING && now - last_draw > 0.1) {
            print_progress_bar(snap);
            bar_shown = 1;
            last_draw = now;
        }
        if (session_finished(session)) break;
    }
    if (bar_shown) fputc('\n', stderr);
    session_snapshot(session, snap);
    session_destroy(session);
    int rc = 0;
    if (snap->state == RUN_ERROR || (snap->state == RUN_STOPPED && snap->last_status != ST_OK)) {
        rc = status_exit_code(snap->last_status ? snap->last_status : ST_ERR_IO);
    } else if (stop_sent) {
        printf("stopped at epoch %d/%d, step %ld. Resume with:\n  shortcut train --resume %s\n",
               snap->epoch, snap->epochs, snap->global_step, run_dir);
        rc = 130;
    } else {
        char el[32];
        format_duration(snap->elapsed_s, el, sizeof el);
        printf("done: %d epochs, %ld steps in %s; test accuracy %.2f%% (best %.2f%%); run in %s\n",
               snap->epoch, snap->global_step, el, 100.0 * snap->test_acc,
               100.0 * snap->best_test_acc, run_dir);
    }
    free(snap);
    return rc;
}
