/* cmd_tui.c — `shortcut [CONFIG.yaml]`: the workbench, an interactive client of the session.
 *
 * Starts the session (paused or running), hands the terminal to the ncurses workbench (ui/),
 * and once the user quits prints where the run is and how to continue it. Ctrl-C inside the
 * workbench asks before quitting; SIGTERM/SIGHUP stop and save (ui/terminal.c turns them into
 * requests). Without a usable terminal it refuses and points to `shortcut train`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "session.h"
#include "tui.h"
#ifdef SHORTCUT_WITH_VIEWER
#include "viewer.h"

/* The viewer window, driven by the workbench's loop through TuiOptions hooks (ui/ does not
 * know viewers/; app/ wires the two). */
static Status hook_viewer_toggle(void *user, Session *s) { return viewer_toggle((Viewer **)user, s); }
static int hook_viewer_poll(void *user) { return viewer_poll_slot((Viewer **)user); }
static void hook_viewer_close(void *user) {
    Viewer **slot = user;
    viewer_close(*slot);
    *slot = NULL;
}
#endif

static void usage(FILE *f) {
    fprintf(f,
            "usage: shortcut [CONFIG.yaml] [--set key=value]... [--out DIR] [--paused]\n"
            "       shortcut --resume DIR [--set key=value]...\n"
            "       shortcut tui ...   (the same)\n"
            "\n"
            "Open the workbench: train with live curves, edit hyperparameters, the lr schedule and\n"
            "the architecture while the run goes on. Without CONFIG, the built-in quick demo.\n"
            "Writes DIR/{config.yaml,metrics.csv,model.safetensors,state.safetensors,log.txt}\n"
            "like `shortcut train`. Press ? inside for the keys; q quits (and saves).\n"
            "\n"
            "  --set key=value   override a config key (e.g. train.epochs=5)\n"
            "  --out DIR         run directory (default runs/<config name>, numbered if taken)\n"
            "  --resume DIR      continue a run written by shortcut or shortcut train\n"
            "  --paused          start paused (Space starts training)\n"
            "  --ascii           ASCII glyphs only;  --mono  no colours (NO_COLOR works too)\n"
            "  --no-mouse        leave the mouse to the terminal (text selection)\n"
            "\n"
            "Needs a terminal of at least 80x24; without one use `shortcut train`.\n");
}

int cmd_tui(int argc, char **argv) {
    SetList sets = {0};
    const char *config_path = NULL, *out_dir = NULL, *resume_dir = NULL;
    TuiOptions to = {0};
    int paused = 0;
    for (int i = 0; i < argc; i++) {
        int r = cli_take_set(argc, argv, &i, &sets);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--paused")) paused = 1;
        else if (!strcmp(a, "--ascii")) to.ascii = 1;
        else if (!strcmp(a, "--mono")) to.mono = 1;
        else if (!strcmp(a, "--no-mouse")) to.no_mouse = 1;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) {
            if (++i >= argc) return cli_usage_error("tui", "--out needs a directory");
            out_dir = argv[i];
        } else if (!strcmp(a, "--resume")) {
            if (++i >= argc) return cli_usage_error("tui", "--resume needs a run directory");
            resume_dir = argv[i];
        } else if (a[0] == '-') {
            return cli_usage_error("tui", "unknown option '%s'", a);
        } else if (!config_path) {
            config_path = a;
        } else {
            return cli_usage_error("tui", "more than one config given ('%s' and '%s')", config_path, a);
        }
    }
    /* Refuse before starting any training: the screen is the whole point of this command. */
    const char *term = getenv("TERM");
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO) || !term || !*term || !strcmp(term, "dumb")) {
        fprintf(stderr, "shortcut: the workbench needs an interactive terminal (%s); for headless "
                        "training use:\n  shortcut train%s%s\n",
                !isatty(STDOUT_FILENO) ? "stdout is not a terminal"
                : !isatty(STDIN_FILENO) ? "stdin is not a terminal"
                                        : "TERM is dumb or unset",
                config_path ? " " : "", config_path ? config_path : "");
        return 2;
    }

    SessionOptions opt;
    char run_dir[CONFIG_PATH_LEN];
    int rc0 = cli_session_options("tui", config_path, out_dir, resume_dir, &sets, &opt, run_dir);
    if (rc0) return rc0;
    opt.start_paused = paused;
    opt.exit_when_done = 0;   /* a finished run stays open: extend it, evaluate, save */
    to.config_path = config_path;
#ifdef SHORTCUT_WITH_VIEWER
    Viewer *viewer = NULL;
    to.viewer_toggle = hook_viewer_toggle;
    to.viewer_poll = hook_viewer_poll;
    to.viewer_close = hook_viewer_close;
    to.viewer_user = &viewer;
#endif

    Session *session;
    Status st = session_start(&opt, &session);
    if (st != ST_OK) return cli_fail(st);
    Snapshot *last = malloc(sizeof *last);
    if (!last) {
        session_destroy(session);
        fprintf(stderr, "shortcut: out of memory\n");
        return 1;
    }
    TuiExit e = tui_run(session, &to, last);
    session_destroy(session);   /* the worker has ended already unless the terminal failed */
    int rc = 0;
    if (e == TUI_NO_TERMINAL) {
        fprintf(stderr, "shortcut: %s; for headless training use: shortcut train\n", tui_error());
        rc = 2;
    } else if (last->state == RUN_ERROR || (last->state == RUN_STOPPED && last->last_status != ST_OK)) {
        fprintf(stderr, "shortcut: %s\n", last->last_error[0] ? last->last_error : "the run failed");
        rc = status_exit_code(last->last_status ? last->last_status : ST_ERR_IO);
    }
    if (e == TUI_QUIT && last->run_dir[0] && last->global_step > 0) {
        printf("run %s: epoch %d/%d, step %ld", last->run_dir, last->epoch, last->epochs,
               last->global_step);
        if (last->best_test_acc >= 0) printf(", best test accuracy %.2f%%", 100.0 * last->best_test_acc);
        printf("\n");
        if (last->epoch < last->epochs)
            printf("continue with:  shortcut --resume %s   (or headless: shortcut train --resume %s)\n",
                   last->run_dir, last->run_dir);
    }
    free(last);
    return rc;
}
