/* tui_internal.h — state shared by the workbench's views (not for app/).
 *
 * One Tui object, owned by tui.c and touched only by the main thread. Views draw from
 * `snap` (the latest snapshot copy) and their own state; key and mouse handlers change state and
 * post commands through tui_post*, never draw. */
#ifndef SHORTCUT_UI_TUI_INTERNAL_H
#define SHORTCUT_UI_TUI_INTERNAL_H

#include <curses.h>

#include "arch_estimate.h"
#include "keymap.h"
#include "lineedit.h"
#include "log_pane.h"
#include "session.h"
#include "terminal.h"
#include "tui.h"

/* A button-1 press. ncurses reports a press and a release that arrive together as one click
 * (even with mouseinterval 0), so both mean "pressed here". */
#define MOUSE_DOWN (BUTTON1_PRESSED | BUTTON1_CLICKED)

#define TUI_MIN_ROWS 24
#define TUI_MIN_COLS 80

typedef enum View { VIEW_DASH = 0, VIEW_CHART, VIEW_SCHEDULE, VIEW_ARCH, VIEW_FINDER, VIEW_COUNT } View;

typedef enum DialogKind { DLG_NONE = 0, DLG_CONFIRM, DLG_CHOICE, DLG_PROMPT } DialogKind;

/* What a dialog's answer does (tui.c acts on it). */
typedef enum DialogPurpose {
    DP_QUIT = 0,
    DP_RESTART,
    DP_REBUILD,
    DP_APPLY_LR,
    DP_SAVE_CONFIG,
    DP_EPOCHS_DASH,        /* keep/scale milestones for an epochs edit from the dashboard */
    DP_EPOCHS_SCHEDULE,    /* the same inside the schedule editor (pending only) */
    DP_SCHEDULE_DISCARD,
} DialogPurpose;

typedef struct Dialog {
    DialogKind kind;
    DialogPurpose purpose;
    char title[64];
    char text[4600];       /* may hold several lines separated by \n */
    int nchoices;
    int choice_key[4];
    char choice_label[4][48];
    LineEdit edit;         /* DLG_PROMPT */
    char payload[2048];    /* what to send on yes (a CMD text, a value) */
    int value;
} Dialog;

/* The inline field editor (one at a time). */
typedef struct FieldEdit {
    int active;
    View view;
    char key[64];
    LineEdit edit;
} FieldEdit;

typedef enum CurveId {
    CURVE_LOSS = 0, CURVE_ACC, CURVE_TEST_ACC, CURVE_LR, CURVE_IPS, CURVE_TEST_LOSS, CURVE_COUNT
} CurveId;

typedef struct SchedState {
    Config pending;        /* train.* as being edited; follows the run while not dirty */
    int dirty;
    int field;             /* selected field row */
    int knot;              /* selected knot (piecewise) */
    int log_y;
    int drag_knot;         /* -1: no drag in progress */
    int plot_row, plot_col, plot_rows, plot_cols;   /* where the chart was drawn (mouse) */
    double x1, y0, y1;     /* the chart's ranges when drawn */
} SchedState;

typedef struct ArchState {
    Config pending;
    int dirty;
    int field;
    char problem[256];     /* why the pending config is not valid yet ("" when it is) */
    ArchEstimator *est;
    long long cur_macs;    /* MACs per image of the running model, once estimated */
    ModelConfig cur_macs_for;
} ArchState;

typedef struct FinderState {
    int field;
    double start_lr, end_lr;
    int steps;
} FinderState;

typedef struct Tui {
    Session *session;
    Snapshot *snap;
    uint64_t seq;
    int run_id;
    const Theme *theme;
    TuiOptions opt;
    int rows, cols;
    View view;
    int help_open, help_scroll;
    Dialog dialog;
    FieldEdit fedit;
    char message[400];
    CellStyle message_style;
    double message_time;
    LogPane log;
    uint64_t last_error_seq;
    int dash_field, dash_field_top;
    int dash_curve_row[CURVE_COUNT];   /* screen row of each curve (mouse); -1 hidden */
    int dash_field_row0;               /* screen row of the first visible field */
    int dash_log_row, dash_log_rows;
    int chart_curve, chart_zoom, chart_log;
    SchedState sched;
    ArchState arch;
    FinderState finder;
    int stopping;          /* CMD_STOP sent; waiting for the worker */
    int interrupts;        /* Ctrl-C / SIGINT presses while stopping */
    int tab_col[VIEW_COUNT + 1];   /* header tab start columns (mouse) */
    int quit_now;          /* leave the loop (the worker has ended) */
    int cursor_row, cursor_col;    /* where the text cursor goes after drawing; -1: hidden */
    double now;
    int dirty;
} Tui;

/* ---- tui.c: shared helpers ---- */
void tui_message(Tui *t, CellStyle style, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Post a command; says so in the message line when it cannot be posted. Returns 1 when sent. */
int tui_post(Tui *t, CommandKind kind, const char *text);
/* Validate "key=value" lines against the current config and post them as one CMD_SET. */
int tui_post_edit(Tui *t, const char *lines, const char *what);
void tui_open_dialog(Tui *t, DialogKind kind, DialogPurpose purpose, const char *title,
                     const char *text);
void tui_dialog_choice(Tui *t, int key, const char *label);
/* Open the inline editor on a field of a view. */
void tui_edit_field(Tui *t, View v, const char *key);
/* Epochs done for form_check (refuse shortening below). */
int tui_epochs_done(const Tui *t);
/* Fraction of an epoch done: global position in epochs. */
double tui_now_epochs(const Tui *t);
/* Body area between the header/status lines and the message line. */
int tui_body_top(const Tui *t);
int tui_body_rows(const Tui *t);

/* ---- curves (panel_dashboard.c) ---- */
typedef struct CurveData {
    const char *name;      /* "loss", "train acc", ... */
    const char *unit;      /* x axis: "step" or "epoch" */
    int n;
    float x[SESSION_HISTORY], y[SESSION_HISTORY];
    float raw[SESSION_HISTORY];   /* unsmoothed y when has_raw */
    int has_raw;
    int per_epoch;
    double current, best;
    int has_best;
    int percent;           /* show as % */
    int zero_based;        /* y axis from 0 */
} CurveData;
void curve_extract(const Snapshot *s, CurveId id, CurveData *out);
const char *curve_name(CurveId id);
void curve_format(const CurveData *c, double v, char *buf, size_t len);

/* ---- views: draw and handle (each in its own file) ---- */
void dash_draw(Tui *t);
void dash_action(Tui *t, Action a);
void dash_mouse(Tui *t, const MEVENT *ev);
int dash_commit(Tui *t, const char *key, const char *text);   /* 1: editor closes */

void chart_view_draw(Tui *t);
void chart_view_action(Tui *t, Action a);
void chart_view_mouse(Tui *t, const MEVENT *ev);

void sched_enter(Tui *t);
void sched_sync(Tui *t);     /* follow the run while nothing is pending */
void sched_draw(Tui *t);
void sched_action(Tui *t, Action a);
void sched_mouse(Tui *t, const MEVENT *ev);
int sched_commit(Tui *t, const char *key, const char *text);
void sched_epochs_answer(Tui *t, int scale, int new_epochs);
void sched_apply(Tui *t);

void arch_enter(Tui *t);
void arch_sync(Tui *t);
void arch_draw(Tui *t);
void arch_action(Tui *t, Action a);
void arch_mouse(Tui *t, const MEVENT *ev);
int arch_commit(Tui *t, const char *key, const char *text);

void finder_draw(Tui *t);
void finder_action(Tui *t, Action a);
void finder_mouse(Tui *t, const MEVENT *ev);
int finder_commit(Tui *t, const char *key, const char *text);

/* ---- help.c, dialog.c ---- */
void help_draw(Tui *t);
void help_action(Tui *t, Action a);
void dialog_draw(Tui *t);
/* Returns 1 when the key was used by the dialog. */
int dialog_key(Tui *t, int ch, Action a);

/* Draw a field row: label, value (or the inline editor), selection, relevance. */
void draw_field_row(Tui *t, int row, int col, int w, int label_w, const char *label,
                    const char *key, const char *value, int selected, int relevant, View v);

#endif
