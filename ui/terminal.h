/* terminal.h — the terminal: ncurses start and stop, the theme, signals.
 *
 * term_start() saves the terminal modes first and installs handlers so that a crash signal
 * (SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL) restores the terminal with async-signal-safe calls
 * (write + tcsetattr) before the default action runs, and SIGINT, SIGTERM and SIGHUP become
 * requests the main loop reads with term_take_signal() (quit and save; never a torn screen).
 * Colours follow NO_COLOR (https://no-color.org: set and non-empty means none) and the
 * terminal's abilities; glyphs are Unicode in a UTF-8 locale, ASCII otherwise or on request. */
#ifndef SHORTCUT_UI_TERM_H
#define SHORTCUT_UI_TERM_H

#include <stddef.h>

#include <curses.h>

#include "grid.h"

typedef struct Theme {
    int color;     /* 1: colour pairs; 0: monochrome attributes */
    int unicode;   /* 1: block and line glyphs; 0: ASCII */
    int mouse;
} Theme;

typedef struct TermOptions {
    int ascii;     /* force ASCII glyphs */
    int mono;      /* force monochrome */
    int no_mouse;
} TermOptions;

/* Returns 0, or -1 with a one-line reason (no terminal, TERM unknown). */
int term_start(const TermOptions *o, char *err, size_t len);
/* Restore the terminal (idempotent; also registered with atexit). */
void term_stop(void);
const Theme *term_theme(void);
attr_t term_style(CellStyle s);
/* The oldest pending SIGINT/SIGTERM/SIGHUP, or 0; each signal is returned once. */
int term_take_signal(void);

/* Decide the theme without starting ncurses (for tests and --help): NO_COLOR and the locale. */
void term_theme_from_env(const TermOptions *o, int has_colors, Theme *t);

#endif
