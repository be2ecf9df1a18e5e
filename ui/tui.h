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
