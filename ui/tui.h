/* tui.h — the workbench: an ncurses screen that observes and steers a training Session.
 *
 * The caller (app/cmd_tui.c) starts the Session; tui_run() owns the terminal until the user
 * quits, never waiting on training: it polls the snapshot and the keyboard about 30 times a
 * second and only posts commands. Quitting while the worker runs sends CMD_STOP (the session
 * saves) and waits for the worker with the screen still live. */
#ifndef SHORTCUT_UI_TUI_H
#define SHORTCUT_UI_TUI_H

#include "session.h"

typedef struct TuiOptions {
    int ascii;              /* ASCII glyphs even in a UTF-8 locale */
    int mono;               /* no colours (NO_COLOR is honoured as well) */
    int no_mouse;
    const char *config_path;   /* where the config came from ("" / NULL: built-in) */
    /* The image viewer window (viewers/), wired in by app/: ui/ must not depend on viewers/.
     * All NULL when the build has no viewer. toggle opens or closes it (a failure, e.g. no
     * display, returns non-OK with status_message() set and the workbench goes on); poll runs
     * every loop iteration (~30 Hz, never blocks) and returns 1 while the window is open;
     * close runs before tui_run returns. */
    Status (*viewer_toggle)(void *user, Session *s);
    int (*viewer_poll)(void *user);
    void (*viewer_close)(void *user);
    void *viewer_user;
} TuiOptions;

typedef enum TuiExit {
    TUI_QUIT = 0,           /* the user quit; the worker has stopped and saved */
    TUI_NO_TERMINAL,        /* the terminal could not be started; message in tui_error() */
} TuiExit;

/* Run until the user quits. On return the terminal is restored and the worker has ended
 * (session_finished). `last` (may be NULL) receives the final snapshot. */
TuiExit tui_run(Session *s, const TuiOptions *o, Snapshot *last);
const char *tui_error(void);

#endif
