/* terminal.c — ncurses lifecycle, theme and signals (see terminal.h).
 *
 * The crash path may run with the heap or ncurses' own state corrupted, so it calls nothing but
 * write(), tcsetattr(), signal() and raise(): the bytes that leave the alternate screen, show
 * the cursor, reset attributes and stop mouse reporting are prepared at start-up. */
#include "terminal.h"

#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <term.h>
#include <termios.h>
#include <unistd.h>

static Theme g_theme;
static int g_started;
static struct termios g_saved_modes;
static int g_have_modes;
static char g_restore[256];
static size_t g_restore_len;
static volatile sig_atomic_t g_signals[3];   /* SIGINT, SIGTERM, SIGHUP counts */
static int g_signals_taken[3];
static attr_t g_attrs[CS_COUNT];

static void on_request(int sig) {
    int i = sig == SIGINT ? 0 : sig == SIGTERM ? 1 : 2;
    g_signals[i]++;
}

static void on_crash(int sig) {
    if (g_restore_len) {
        ssize_t w = write(STDOUT_FILENO, g_restore, g_restore_len);
        (void)w;
    }
    if (g_have_modes) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_modes);
    static const char msg[] = "\nshortcut: crashed; the terminal was restored. The last "
                              "checkpoint in the run directory is intact.\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

int term_take_signal(void) {
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        if (g_signals[i] > g_signals_taken[i]) {
            g_signals_taken[i]++;
            return sigs[i];
        }
    }
    return 0;
}

/* Append a terminfo capability without its padding ("$<5>"), for the crash path. */
static void add_capability(const char *name) {
    char *cap = tigetstr((char *)name);
    if (!cap || cap == (char *)-1) return;
    for (const char *p = cap; *p && g_restore_len + 1 < sizeof g_restore; p++) {
        if (p[0] == '$' && p[1] == '<') {
            const char *end = strchr(p, '>');
            if (end) { p = end; continue; }
        }
        g_restore[g_restore_len++] = *p;
    }
}

static void add_bytes(const char *s) {
    size_t n = strlen(s);
    if (g_restore_len + n < sizeof g_restore) {
        memcpy(g_restore + g_restore_len, s, n);
        g_restore_len += n;
    }
}

void term_theme_from_env(const TermOptions *o, int has_colors, Theme *t) {
    const char *nc = getenv("NO_COLOR");
    t->color = has_colors && !(nc && *nc) && !(o && o->mono);
    const char *cs = nl_langinfo(CODESET);
    t->unicode = cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8")) && !(o && o->ascii);
    t->mouse = !(o && o->no_mouse);
}

enum { PAIR_DATA = 1, PAIR_DATA2, PAIR_PAST, PAIR_FUTURE, PAIR_MARKER, PAIR_NOW, PAIR_KNOT,
       PAIR_GOOD, PAIR_WARN, PAIR_BAD, PAIR_TITLE };

static void init_styles(void) {
    for (int i = 0; i < CS_COUNT; i++) g_attrs[i] = A_NORMAL;
    if (g_theme.color) {
        use_default_colors();
        init_pair(PAIR_DATA, COLOR_CYAN, -1);
        init_pair(PAIR_DATA2, COLOR_BLUE, -1);
        init_pair(PAIR_PAST, COLOR_BLUE, -1);
        init_pair(PAIR_FUTURE, COLOR_YELLOW, -1);
        init_pair(PAIR_MARKER, COLOR_MAGENTA, -1);
        init_pair(PAIR_NOW, COLOR_GREEN, -1);
        init_pair(PAIR_KNOT, COLOR_YELLOW, -1);
        init_pair(PAIR_GOOD, COLOR_GREEN, -1);
        init_pair(PAIR_WARN, COLOR_YELLOW, -1);
        init_pair(PAIR_BAD, COLOR_RED, -1);
        init_pair(PAIR_TITLE, COLOR_CYAN, -1);
        g_attrs[CS_DIM] = A_DIM;
        g_attrs[CS_AXIS] = A_DIM;
        g_attrs[CS_DATA] = COLOR_PAIR(PAIR_DATA);
        g_attrs[CS_DATA2] = COLOR_PAIR(PAIR_DATA2);
        g_attrs[CS_PAST] = COLOR_PAIR(PAIR_PAST);
        g_attrs[CS_FUTURE] = COLOR_PAIR(PAIR_FUTURE) | A_BOLD;
        g_attrs[CS_MARKER] = COLOR_PAIR(PAIR_MARKER);
        g_attrs[CS_NOW] = COLOR_PAIR(PAIR_NOW) | A_BOLD;
        g_attrs[CS_KNOT] = COLOR_PAIR(PAIR_KNOT) | A_BOLD;
        g_attrs[CS_SELECTED] = A_REVERSE;
        g_attrs[CS_GOOD] = COLOR_PAIR(PAIR_GOOD) | A_BOLD;
        g_attrs[CS_WARN] = COLOR_PAIR(PAIR_WARN) | A_BOLD;
        g_attrs[CS_BAD] = COLOR_PAIR(PAIR_BAD) | A_BOLD;
        g_attrs[CS_TITLE] = COLOR_PAIR(PAIR_TITLE) | A_BOLD;
    } else {
        /* Monochrome: meaning from weight and inversion only. */
        g_attrs[CS_DIM] = A_DIM;
        g_attrs[CS_AXIS] = A_DIM;
        g_attrs[CS_DATA2] = A_DIM;
        g_attrs[CS_PAST] = A_DIM;
        g_attrs[CS_FUTURE] = A_BOLD;
        g_attrs[CS_MARKER] = A_BOLD;
        g_attrs[CS_NOW] = A_BOLD | A_UNDERLINE;
        g_attrs[CS_KNOT] = A_BOLD;
        g_attrs[CS_SELECTED] = A_REVERSE;
        g_attrs[CS_GOOD] = A_BOLD;
        g_attrs[CS_WARN] = A_BOLD;
        g_attrs[CS_BAD] = A_BOLD | A_REVERSE;
        g_attrs[CS_TITLE] = A_BOLD;
    }
}

attr_t term_style(CellStyle s) { return (int)s >= 0 && s < CS_COUNT ? g_attrs[s] : A_NORMAL; }

const Theme *term_theme(void) { return &g_theme; }

int term_start(const TermOptions *o, char *err, size_t len) {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        snprintf(err, len, "the workbench needs a terminal (stdin and stdout are not both one)");
        return -1;
    }
    const char *term = getenv("TERM");
    if (!term || !*term || !strcmp(term, "dumb")) {
        snprintf(err, len, "TERM is %s: the workbench needs a terminal that can draw",
                 term && *term ? "dumb" : "not set");
        return -1;
    }
    if (tcgetattr(STDIN_FILENO, &g_saved_modes) == 0) g_have_modes = 1;

    /* Handlers go in before initscr(): ncurses leaves handlers that are already set alone. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_request;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND;
    static const int crash[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof crash / sizeof *crash; i++) sigaction(crash[i], &sa, NULL);

    if (!newterm(NULL, stdout, stdin)) {
        snprintf(err, len, "cannot start ncurses for TERM=%s (is its terminfo installed?)", term);
        return -1;
    }
    g_started = 1;
    atexit(term_stop);
    raw();          /* Ctrl-C arrives as a key: the quit dialog, not a torn-down screen */
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(100);   /* Esc alone after 0.1 s; sequences split by a busy pty still parse */
    curs_set(0);
    term_theme_from_env(o, has_colors(), &g_theme);
    if (g_theme.color && start_color() != OK) g_theme.color = 0;
    init_styles();
    if (g_theme.mouse) {
        mousemask(BUTTON1_PRESSED | BUTTON1_RELEASED | BUTTON1_CLICKED | BUTTON4_PRESSED |
                  BUTTON5_PRESSED, NULL);
        mouseinterval(0);   /* press and release separately: a knot drag is press ... release */
    }
    add_capability("rmcup");
    add_capability("cnorm");
    add_capability("sgr0");
    add_capability("rmkx");
    if (g_theme.mouse) add_bytes("\033[?1000l\033[?1002l\033[?1006l");
    return 0;
}

void term_stop(void) {
    if (!g_started) return;
    g_started = 0;
    if (g_theme.mouse) mousemask(0, NULL);
    curs_set(1);
    endwin();
    /* The terminal modes as they were before ncurses, whatever it left. */
    if (g_have_modes) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_modes);
    g_restore_len = 0;
}
