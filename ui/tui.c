/* tui.c — the workbench's main loop: keys, mouse and snapshots in, commands out (see tui.h).
 *
 * The loop waits at most ~33 ms for a key, copies the latest snapshot, and redraws when
 * anything changed, so input is handled within one frame whatever the worker is doing. Global
 * keys (run control, views, help, quit) are handled here; the rest goes to the current view.
 * Dialog answers are acted on here too, so every command a view triggers leaves through
 * tui_post*. */
#include "tui_internal.h"

#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "form.h"
#include "paint.h"
#include "run_dir.h"
#include "schedule_math.h"
#include "status_line.h"

static char g_error[300];

const char *tui_error(void) { return g_error; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const VIEW_NAMES[VIEW_COUNT] = {"Dashboard", "Chart", "Schedule", "Model",
                                                   "LR finder"};

void tui_message(Tui *t, CellStyle style, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->message, sizeof t->message, fmt, ap);
    va_end(ap);
    for (char *p = t->message; *p; p++)
        if (*p == '\n') *p = ' ';
    t->message_style = style;
    t->message_time = t->now;
    t->dirty = 1;
}

int tui_post(Tui *t, CommandKind kind, const char *text) {
    if (session_finished(t->session)) {
        tui_message(t, CS_BAD, "the training worker has ended; nothing was sent (q quits)");
        return 0;
    }
    if (!session_post(t->session, kind, text)) {
        tui_message(t, CS_BAD, "the worker's command queue is full; nothing was sent, try again "
                               "in a moment");
        return 0;
    }
    return 1;
}

int tui_post_edit(Tui *t, const char *lines, const char *what) {
    /* The same checks the worker makes, here first, so a refused edit never leaves the UI. */
    Config next = t->snap->config;
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", lines);
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (config_set(&next, line) != ST_OK) {
            const char *m = status_message();
            tui_message(t, CS_BAD, "refused: %s", strncmp(m, "--set ", 6) ? m : m + 6);
            return 0;
        }
    }
    if (config_validate(&next) != ST_OK) {
        const char *m = status_message();
        tui_message(t, CS_BAD, "refused: %s", strncmp(m, "--set ", 6) ? m : m + 6);
        return 0;
    }
    if (next.train.epochs != t->snap->config.train.epochs &&
        next.train.epochs <= tui_epochs_done(t)) {
        tui_message(t, CS_BAD, "refused: train.epochs: %d epochs are already done",
                    tui_epochs_done(t));
        return 0;
    }
    if (!tui_post(t, CMD_SET, lines)) return 0;
    tui_message(t, CS_GOOD, "%s: sent; it applies at the next step (the log says which)", what);
    return 1;
}

int tui_epochs_done(const Tui *t) { return t->snap->epoch; }

double tui_now_epochs(const Tui *t) {
    long spe = t->snap->steps_per_epoch > 0 ? t->snap->steps_per_epoch : 1;
    return (double)t->snap->epoch + (double)t->snap->batch_in_epoch / (double)spe;
}

int tui_body_top(const Tui *t) { (void)t; return 2; }
int tui_body_rows(const Tui *t) { return t->rows - 3; }

void tui_open_dialog(Tui *t, DialogKind kind, DialogPurpose purpose, const char *title,
                     const char *text) {
    Dialog *d = &t->dialog;
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->purpose = purpose;
    snprintf(d->title, sizeof d->title, "%s", title);
    snprintf(d->text, sizeof d->text, "%s", text);
    if (kind == DLG_CONFIRM) {
        tui_dialog_choice(t, 'y', "y: yes");
        tui_dialog_choice(t, 'n', "n/Esc: no");
    }
    t->dirty = 1;
}

void tui_dialog_choice(Tui *t, int key, const char *label) {
    Dialog *d = &t->dialog;
    if (d->nchoices >= 4) return;
    d->choice_key[d->nchoices] = key;
    snprintf(d->choice_label[d->nchoices], sizeof d->choice_label[0], "%s", label);
    d->nchoices++;
}

void tui_edit_field(Tui *t, View v, const char *key) {
    const Config *c = v == VIEW_SCHEDULE ? &t->sched.pending
                      : v == VIEW_ARCH   ? &t->arch.pending
                                         : &t->snap->config;
    int idx = config_field_find(key);
    if (idx < 0) return;
    if (!config_field_relevant(c, idx)) {
        tui_message(t, CS_WARN, "%s is not used by this %s; nothing to edit", key,
                    !strncmp(key, "model.", 6) ? "model family" : !strncmp(key, "train.schedule.", 15)
                                                                  ? "schedule type" : "config");
        return;
    }
    char value[LINEEDIT_MAX];
    form_value(c, key, value, sizeof value);
    if (config_field_type(idx) == CFT_BOOL) {
        /* One key press toggles a switch. */
        char next[16];
        if (form_cycle(key, value, 1, next, sizeof next) == 0) {
            int done = v == VIEW_SCHEDULE ? sched_commit(t, key, next)
                       : v == VIEW_ARCH   ? arch_commit(t, key, next)
                                          : dash_commit(t, key, next);
            (void)done;
        }
        return;
    }
    t->fedit.active = 1;
    t->fedit.view = v;
    snprintf(t->fedit.key, sizeof t->fedit.key, "%s", key);
    lineedit_set(&t->fedit.edit, value);
    const char *const *choices = config_field_choices(idx);
    tui_message(t, CS_NORMAL, "%s — Enter applies, Esc cancels%s", config_field_help(idx),
                choices ? "; Left/Right choose" : "");
}

/* ---- drawing ---- */

void draw_field_row(Tui *t, int row, int col, int w, int label_w, const char *label,
                    const char *key, const char *value, int selected, int relevant, View v) {
    int editing = t->fedit.active && t->fedit.view == v && !strcmp(t->fedit.key, key);
    CellStyle ls = !relevant ? CS_DIM : selected ? CS_SELECTED : CS_NORMAL;
    paint_fill(row, col, w, selected ? CS_SELECTED : CS_NORMAL);
    paint_text(row, col + 1, label_w - 1, label, ls);
    int vw = w - label_w - 1;
    if (editing) {
        paint_fill(row, col + label_w, vw, CS_SELECTED);
        const LineEdit *e = &t->fedit.edit;
        int cur = lineedit_cursor_cells(e);
        int skip = cur >= vw ? cur - vw + 1 : 0;
        const char *p = e->buf;
        for (int i = 0; i < skip && *p; i++) p += utf8_len(p);
        paint_text(row, col + label_w, vw, p, CS_SELECTED);
        t->cursor_row = row;
        t->cursor_col = col + label_w + cur - skip;
        return;
    }
    paint_text(row, col + label_w, vw, relevant ? value : "n/a", ls == CS_SELECTED ? CS_SELECTED
                                                               : relevant ? CS_DATA : CS_DIM);
}

static void draw_header(Tui *t) {
    paint_fill(0, 0, t->cols, CS_SELECTED);
    /* The program's name only when the tabs and the help hint still fit beside it. */
    const char *name = t->snap->config.name[0] ? t->snap->config.name : "run";
    int c = paint_textf(0, 0, t->cols, CS_SELECTED, t->cols >= 88 + (int)strlen(name) ?
                        " shortcut | %s | " : " %s | ", name);
    for (int v = 0; v < VIEW_COUNT; v++) {
        t->tab_col[v] = c;
        char label[32];
        snprintf(label, sizeof label, " %d %s ", v + 1, VIEW_NAMES[v]);
        c += paint_text(0, c, t->cols - c, label, v == (int)t->view ? CS_TITLE : CS_SELECTED);
    }
    t->tab_col[VIEW_COUNT] = c;
    const char *help = " ? help ";
    int hw = (int)strlen(help);
    if (c + hw < t->cols) paint_text(0, t->cols - hw, hw, help, CS_SELECTED);
}

static void draw_status(Tui *t) {
    const Snapshot *s = t->snap;
    const char *word = status_state_word(s, t->stopping);
    CellStyle st = CS_WARN;
    if (!strcmp(word, "RUNNING")) st = CS_GOOD;
    else if (!strcmp(word, "ERROR") || !strcmp(word, "FAILED")) st = CS_BAD;
    else if (!strcmp(word, "FINISHED") || !strcmp(word, "STOPPED")) st = CS_TITLE;
    paint_fill(1, 0, t->cols, CS_NORMAL);
    int c = paint_textf(1, 0, t->cols, st, " %s ", word);
    char line[600];
    status_line_format(s, t->cols - c - 2, line, sizeof line);
    paint_text(1, c + 1, t->cols - c - 1, line, st == CS_BAD ? CS_BAD : CS_NORMAL);
}

static const char *hints(const Tui *t) {
    if (t->fedit.active) return "type a value | Enter apply | Esc cancel";
    switch (t->view) {
    case VIEW_DASH: return "Space pause | s step | Up/Down select | Enter edit | Tab views | ? help | q quit";
    case VIEW_CHART: return "Up/Down curve | z zoom | o log y | Tab views | ? help | q quit";
    case VIEW_SCHEDULE: return "Enter edit | P knots | [ ] select | H J K L move | a apply | u discard | ? help";
    case VIEW_ARCH: return "Enter edit | Left/Right choose | a apply (rebuild) | u discard | ? help";
    case VIEW_FINDER: return "r run | Esc cancel | a use the suggestion | Enter edit | ? help";
    case VIEW_COUNT: break;
    }
    return "";
}

static void draw_message(Tui *t) {
    int row = t->rows - 1;
    paint_fill(row, 0, t->cols, CS_NORMAL);
    /* A message stays 10 s, or while the field it is about is being edited. */
    int fresh = t->message[0] && (t->now - t->message_time < 10.0 || t->fedit.active);
    if (fresh) {
        paint_text(row, 1, t->cols - 2, t->message, t->message_style);
        return;
    }
    if (t->snap->state == RUN_ERROR) {
        paint_text(row, 1, t->cols - 2, "paused by an error: fix the cause (e.g. lower lr), then "
                   "Space resumes; R restarts", CS_WARN);
        return;
    }
    paint_text(row, 1, t->cols - 2, hints(t), CS_DIM);
}

static void draw_too_small(Tui *t) {
    erase();
    char a[160], b[160];
    snprintf(a, sizeof a, "The workbench needs at least %dx%d; this terminal is %dx%d.",
             TUI_MIN_COLS, TUI_MIN_ROWS, t->cols, t->rows);
    snprintf(b, sizeof b, "Enlarge it. Training goes on (%s); q quits, Space pauses.",
             status_state_word(t->snap, t->stopping));
    int r = t->rows / 2 - 1;
    if (r < 0) r = 0;
    paint_text(r, 0, t->cols, a, CS_WARN);
    paint_text(r + 1, 0, t->cols, b, CS_NORMAL);
}

static void draw(Tui *t) {
    t->cursor_row = -1;
    if (t->rows < TUI_MIN_ROWS || t->cols < TUI_MIN_COLS) {
        draw_too_small(t);
    } else {
        erase();
        draw_header(t);
        draw_status(t);
        switch (t->view) {
        case VIEW_DASH: dash_draw(t); break;
        case VIEW_CHART: chart_view_draw(t); break;
        case VIEW_SCHEDULE: sched_draw(t); break;
        case VIEW_ARCH: arch_draw(t); break;
        case VIEW_FINDER: finder_draw(t); break;
        case VIEW_COUNT: break;
        }
        draw_message(t);
        if (t->help_open) help_draw(t);
        if (t->dialog.kind != DLG_NONE) dialog_draw(t);
    }
    if (t->cursor_row >= 0) {
        curs_set(1);
        move(t->cursor_row, t->cursor_col);
    } else {
        curs_set(0);
    }
    refresh();
}

/* ---- actions ---- */

static void switch_view(Tui *t, View v) {
    if (t->fedit.active) t->fedit.active = 0;
    t->view = v;
    if (v == VIEW_SCHEDULE) sched_enter(t);
    if (v == VIEW_ARCH) arch_enter(t);
    t->dirty = 1;
}

static void ask_quit(Tui *t) {
    const Snapshot *s = t->snap;
    if (session_finished(t->session)) { t->quit_now = 1; return; }
    if (t->stopping) {
        t->interrupts++;
        if (t->interrupts >= 3) {
            t->quit_now = 1;   /* the checkpoint is written atomically: the last one stays whole */
            return;
        }
        tui_message(t, CS_WARN, "still stopping and saving; press %d more time%s to leave without "
                    "waiting (the last checkpoint stays whole)", 3 - t->interrupts,
                    t->interrupts == 2 ? "" : "s");
        return;
    }
    if (s->state == RUN_FINISHED || s->state == RUN_STOPPED) {
        tui_post(t, CMD_STOP, NULL);
        t->stopping = 1;
        return;
    }
    char text[1400];
    if (s->run_dir[0])
        snprintf(text, sizeof text, "Training stops after the current step and the run is saved "
                 "in %s.\nContinue it later with:\n  shortcut train --resume %s", s->run_dir,
                 s->run_dir);
    else
        snprintf(text, sizeof text, "Training stops after the current step.\nThis run has no run "
                 "directory: nothing is saved.");
    tui_open_dialog(t, DLG_CHOICE, DP_QUIT, "Quit the workbench?", text);
    tui_dialog_choice(t, 'y', "y: quit and save");
    tui_dialog_choice(t, 'n', "n/Esc: keep training");
}

static void ask_restart(Tui *t) {
    const Snapshot *s = t->snap;
    char dir[CONFIG_PATH_LEN] = "";
    if (s->run_dir[0]) run_dir_sibling(s->run_dir, dir, sizeof dir);
    char text[1500];
    snprintf(text, sizeof text, "Start over from fresh weights with the current config (edits "
             "included)%s%s.\nThe current run is saved first%s%s.", dir[0] ? " in " : "", dir,
             s->run_dir[0] ? " in " : " (it has no run directory)", s->run_dir);
    tui_open_dialog(t, DLG_CONFIRM, DP_RESTART, "Restart the run?", text);
    snprintf(t->dialog.payload, sizeof t->dialog.payload, "%s", dir);
}

static void ask_save_config(Tui *t) {
    const Snapshot *s = t->snap;
    char path[CONFIG_PATH_LEN + 32];
    if (s->run_dir[0]) snprintf(path, sizeof path, "%s/edited.yaml", s->run_dir);
    else snprintf(path, sizeof path, "%s-edited.yaml", s->config.name[0] ? s->config.name : "run");
    tui_open_dialog(t, DLG_PROMPT, DP_SAVE_CONFIG, "Save the current config as YAML",
                    "The run's config with every edit applied so far. File:");
    lineedit_set(&t->dialog.edit, path);
}

static void toggle_pause(Tui *t) {
    switch (t->snap->state) {
    case RUN_RUNNING: if (tui_post(t, CMD_PAUSE, NULL)) tui_message(t, CS_WARN, "pausing after this step"); break;
    case RUN_PAUSED:
    case RUN_ERROR: if (tui_post(t, CMD_RESUME, NULL)) tui_message(t, CS_GOOD, "resuming"); break;
    case RUN_FINISHED:
        tui_message(t, CS_WARN, "the run is finished; raise train.epochs to train further");
        break;
    case RUN_STARTING: tui_message(t, CS_WARN, "still starting (loading data, building the model)"); break;
    case RUN_STOPPED: tui_message(t, CS_WARN, "the worker has stopped; q quits"); break;
    }
}

static int global_action(Tui *t, Action a) {
    switch (a) {
    case ACT_HELP: t->help_open = 1; t->help_scroll = 0; return 1;
    case ACT_QUIT: ask_quit(t); return 1;
    case ACT_PAUSE: toggle_pause(t); return 1;
    case ACT_STEP:
        if (t->snap->state == RUN_FINISHED) tui_message(t, CS_WARN, "the run is finished");
        else if (tui_post(t, CMD_STEP, NULL)) tui_message(t, CS_NORMAL, "one step, then paused");
        return 1;
    case ACT_SAVE:
        if (!t->snap->run_dir[0]) tui_message(t, CS_WARN, "this run has no run directory");
        else if (tui_post(t, CMD_SAVE, NULL)) tui_message(t, CS_NORMAL, "saving a checkpoint to %s", t->snap->run_dir);
        return 1;
    case ACT_EVAL:
        if (tui_post(t, CMD_EVAL, NULL))
            tui_message(t, CS_NORMAL, "evaluating on the test set (training waits for it)");
        return 1;
    case ACT_RESTART: ask_restart(t); return 1;
    case ACT_SAVE_CONFIG: ask_save_config(t); return 1;
    case ACT_VIEWER:
        if (!t->opt.viewer_toggle) {
            tui_message(t, CS_WARN, "this build has no image viewer (built without SDL2)");
        } else if (t->opt.viewer_toggle(t->opt.viewer_user, t->session) != ST_OK) {
            tui_message(t, CS_WARN, "%s", status_message());
        } else {
            int open = t->opt.viewer_poll && t->opt.viewer_poll(t->opt.viewer_user);
            tui_message(t, CS_NORMAL, open ? "image viewer opened (V again closes it; training "
                                             "goes on either way)"
                                           : "image viewer closed");
        }
        return 1;
    case ACT_VIEW_DASH: switch_view(t, VIEW_DASH); return 1;
    case ACT_VIEW_CHART: switch_view(t, VIEW_CHART); return 1;
    case ACT_VIEW_SCHEDULE: switch_view(t, VIEW_SCHEDULE); return 1;
    case ACT_VIEW_ARCH: switch_view(t, VIEW_ARCH); return 1;
    case ACT_VIEW_FINDER: switch_view(t, VIEW_FINDER); return 1;
    case ACT_NEXT_VIEW: switch_view(t, (View)((t->view + 1) % VIEW_COUNT)); return 1;
    case ACT_PREV_VIEW: switch_view(t, (View)((t->view + VIEW_COUNT - 1) % VIEW_COUNT)); return 1;
    case ACT_REDRAW: clearok(curscr, TRUE); t->dirty = 1; return 1;
    default: return 0;
    }
}

/* The answer to a dialog: `key` is the choice key ('y', 'n', 'k', 's', '\n' for a prompt). */
static void dialog_answer(Tui *t, int key) {
    Dialog d = t->dialog;
    t->dialog.kind = DLG_NONE;
    t->dirty = 1;
    int yes = key == 'y';
    switch (d.purpose) {
    case DP_QUIT:
        if (yes && tui_post(t, CMD_STOP, NULL)) {
            t->stopping = 1;
            tui_message(t, CS_WARN, "stopping after this step%s...",
                        t->snap->run_dir[0] ? " and saving" : "");
        }
        break;
    case DP_RESTART:
        if (yes && tui_post(t, CMD_RESTART, d.payload))
            tui_message(t, CS_NORMAL, "restarting%s%s", d.payload[0] ? " in " : "", d.payload);
        break;
    case DP_REBUILD:
        if (yes && tui_post(t, CMD_REBUILD, d.payload))
            tui_message(t, CS_NORMAL, "rebuilding the model at the next step boundary");
        break;
    case DP_APPLY_LR:
        if (yes) tui_post_edit(t, d.payload, "lr from the finder");
        break;
    case DP_SAVE_CONFIG:
        if (key == '\n') {
            char path[LINEEDIT_MAX];
            snprintf(path, sizeof path, "%s", d.edit.buf);
            form_trim(path);
            if (!path[0]) { tui_message(t, CS_BAD, "no file name; nothing saved"); break; }
            if (config_save(&t->snap->config, path) == ST_OK)
                tui_message(t, CS_GOOD, "saved the config to %s (open it with: shortcut %s)", path, path);
            else
                tui_message(t, CS_BAD, "not saved: %s", status_message());
        }
        break;
    case DP_EPOCHS_DASH:
        if (key == 'k' || key == 's') {
            ScheduleConfig sc = t->snap->config.train.schedule;
            int old = t->snap->config.train.epochs;
            sched_rescale(&sc, old, d.value, tui_now_epochs(t),
                          key == 's' ? RESCALE_KEEP_FRACTION : RESCALE_KEEP_EPOCHS);
            char lines[1500], list[1200];
            int n = snprintf(lines, sizeof lines, "train.epochs=%d", d.value);
            if (key == 's' && sc.kind == SCHEDULE_MULTISTEP) {
                sched_format_milestones(&sc, list, sizeof list);
                snprintf(lines + n, sizeof lines - (size_t)n, "\ntrain.schedule.milestones=%s", list);
            } else if (key == 's' && sc.kind == SCHEDULE_PIECEWISE) {
                sched_format_knots(&sc, list, sizeof list);
                snprintf(lines + n, sizeof lines - (size_t)n, "\ntrain.schedule.knots=%s", list);
            }
            tui_post_edit(t, lines, key == 's' ? "epochs (milestones scaled)" : "epochs (milestones kept)");
        }
        break;
    case DP_EPOCHS_SCHEDULE:
        if (key == 'k' || key == 's') sched_epochs_answer(t, key == 's', d.value);
        break;
    case DP_SCHEDULE_DISCARD:
        break;
    }
}

int dialog_key(Tui *t, int ch, Action a) {
    Dialog *d = &t->dialog;
    if (d->kind == DLG_PROMPT) {
        if (a == ACT_ENTER) { dialog_answer(t, '\n'); return 1; }
        if (ch == 27) { d->kind = DLG_NONE; t->dirty = 1; return 1; }
        lineedit_key(&d->edit, ch);
        t->dirty = 1;
        return 1;
    }
    if (d->purpose == DP_QUIT && ch == 3) { dialog_answer(t, 'y'); return 1; }   /* Ctrl-C twice */
    for (int i = 0; i < d->nchoices; i++)
        if (ch == d->choice_key[i]) { dialog_answer(t, ch); return 1; }
    if (ch == 'Y' && d->nchoices && d->choice_key[0] == 'y') { dialog_answer(t, 'y'); return 1; }
    if (ch == 27 || ch == 'n' || ch == 'N' || ch == 'q') {
        d->kind = DLG_NONE;
        t->dirty = 1;
        return 1;
    }
    return 1;   /* a dialog is modal */
}

static void field_key(Tui *t, int ch, Action a) {
    FieldEdit *f = &t->fedit;
    if (ch == 27) { f->active = 0; tui_message(t, CS_NORMAL, "edit cancelled"); return; }
    if (a == ACT_ENTER) {
        char text[LINEEDIT_MAX];
        snprintf(text, sizeof text, "%s", f->edit.buf);
        int close = 0;
        switch (f->view) {
        case VIEW_DASH: close = dash_commit(t, f->key, text); break;
        case VIEW_SCHEDULE: close = sched_commit(t, f->key, text); break;
        case VIEW_ARCH: close = arch_commit(t, f->key, text); break;
        case VIEW_FINDER: close = finder_commit(t, f->key, text); break;
        default: close = 1; break;
        }
        if (close) f->active = 0;
        return;
    }
    int idx = config_field_find(f->key);
    if (idx >= 0 && config_field_choices(idx) && (ch == KEY_LEFT || ch == KEY_RIGHT || ch == KEY_UP ||
                                                  ch == KEY_DOWN)) {
        char next[LINEEDIT_MAX];
        int dir = ch == KEY_RIGHT || ch == KEY_DOWN ? 1 : -1;
        if (form_cycle(f->key, form_trim(f->edit.buf), dir, next, sizeof next) == 0)
            lineedit_set(&f->edit, next);
        return;
    }
    lineedit_key(&f->edit, ch);
}

static KeyContext view_context(View v) {
    switch (v) {
    case VIEW_DASH: return KC_DASH;
    case VIEW_CHART: return KC_CHART;
    case VIEW_SCHEDULE: return KC_SCHEDULE;
    case VIEW_ARCH: return KC_ARCH;
    case VIEW_FINDER: return KC_FINDER;
    case VIEW_COUNT: break;
    }
    return KC_GLOBAL;
}

static void handle_mouse(Tui *t) {
    MEVENT ev;
    if (getmouse(&ev) != OK) return;
    if (t->dialog.kind != DLG_NONE || t->help_open) return;
    if (t->rows < TUI_MIN_ROWS || t->cols < TUI_MIN_COLS) return;
    if (ev.y == 0 && (ev.bstate & MOUSE_DOWN)) {
        for (int v = 0; v < VIEW_COUNT; v++)
            if (ev.x >= t->tab_col[v] && ev.x < t->tab_col[v + 1]) switch_view(t, (View)v);
        return;
    }
    if (t->fedit.active && (ev.bstate & MOUSE_DOWN)) t->fedit.active = 0;
    switch (t->view) {
    case VIEW_DASH: dash_mouse(t, &ev); break;
    case VIEW_CHART: chart_view_mouse(t, &ev); break;
    case VIEW_SCHEDULE: sched_mouse(t, &ev); break;
    case VIEW_ARCH: arch_mouse(t, &ev); break;
    case VIEW_FINDER: finder_mouse(t, &ev); break;
    case VIEW_COUNT: break;
    }
    t->dirty = 1;
}

static void handle_key(Tui *t, int ch) {
    t->dirty = 1;
    if (ch == KEY_RESIZE) return;
    if (ch == KEY_MOUSE) { handle_mouse(t); return; }
    Action a = keymap_lookup(view_context(t->view), ch);
    if (t->dialog.kind != DLG_NONE) { dialog_key(t, ch, a); return; }
    if (ch == 3) { t->fedit.active = 0; t->help_open = 0; ask_quit(t); return; }
    if (t->help_open) { help_action(t, a == ACT_NONE && ch == 'q' ? ACT_BACK : a); return; }
    if (t->fedit.active) { field_key(t, ch, a); return; }
    if (t->rows < TUI_MIN_ROWS || t->cols < TUI_MIN_COLS) {
        if (a == ACT_QUIT || a == ACT_PAUSE) global_action(t, a);
        return;
    }
    /* A view may take a global key (Esc in the finder cancels a sweep) before the global
     * meaning applies; views return quietly for actions they do not use. */
    if (global_action(t, a)) return;
    switch (t->view) {
    case VIEW_DASH: dash_action(t, a); break;
    case VIEW_CHART: chart_view_action(t, a); break;
    case VIEW_SCHEDULE: sched_action(t, a); break;
    case VIEW_ARCH: arch_action(t, a); break;
    case VIEW_FINDER: finder_action(t, a); break;
    case VIEW_COUNT: break;
    }
}

static void on_signal(Tui *t, int sig) {
    if (sig == SIGINT) {
        if (t->dialog.kind != DLG_NONE && t->dialog.purpose == DP_QUIT) dialog_answer(t, 'y');
        else ask_quit(t);
        return;
    }
    /* SIGTERM, SIGHUP: nobody may be there to answer; stop and save. */
    if (!t->stopping && !session_finished(t->session)) {
        tui_post(t, CMD_STOP, NULL);
        t->stopping = 1;
        tui_message(t, CS_WARN, "signal %d: stopping after this step and saving...", sig);
    } else if (session_finished(t->session)) {
        t->quit_now = 1;
    }
}

static void new_snapshot(Tui *t) {
    const LogLine *err = NULL;
    log_pane_update(&t->log, t->snap, &err);
    if (err && err->seq > t->last_error_seq) {
        t->last_error_seq = err->seq;
        tui_message(t, CS_BAD, "%s", err->text);
    }
    if (t->snap->run_id != t->run_id) {
        t->run_id = t->snap->run_id;
        t->sched.dirty = 0;
        t->arch.dirty = 0;
    }
    sched_sync(t);
    arch_sync(t);
}

TuiExit tui_run(Session *s, const TuiOptions *o, Snapshot *last) {
    g_error[0] = 0;
    /* Only the character type: ncursesw and the glyph choice need it, while numbers must keep
     * the C format (config.yaml, metrics.csv and the worker's parsing share this process). */
    setlocale(LC_CTYPE, "");
    Tui *t = calloc(1, sizeof *t);
    Snapshot *snap = calloc(1, sizeof *snap);
    if (!t || !snap) {
        free(t);
        free(snap);
        snprintf(g_error, sizeof g_error, "out of memory starting the workbench");
        return TUI_NO_TERMINAL;
    }
    t->session = s;
    t->snap = snap;
    t->opt = *o;
    TermOptions to = {o->ascii, o->mono, o->no_mouse};
    char err[256];
    if (term_start(&to, err, sizeof err) != 0) {
        snprintf(g_error, sizeof g_error, "%s", err);
        free(t);
        free(snap);
        return TUI_NO_TERMINAL;
    }
    t->theme = term_theme();
    timeout(33);
    t->now = now_s();
    session_snapshot(s, t->snap);
    t->seq = t->snap->seq;
    t->finder.start_lr = 1e-7;
    t->finder.end_lr = 10;
    t->finder.steps = 100;
    t->sched.drag_knot = -1;
    t->arch.est = arch_estimator_create();
    new_snapshot(t);
    t->dirty = 1;
    double last_tick = 0;
    while (!t->quit_now) {
        int ch = getch();
        t->now = now_s();
        if (ch != ERR) {
            /* Everything already typed, then the screen: a held key never lags behind. */
            timeout(0);
            for (int i = 0; ch != ERR && i < 64 && !t->quit_now; i++) {
                handle_key(t, ch);
                ch = getch();
            }
            timeout(33);
        }
        for (int sig; (sig = term_take_signal()) != 0;) on_signal(t, sig);
        getmaxyx(stdscr, t->rows, t->cols);
        session_snapshot(s, t->snap);
        if (t->snap->seq != t->seq) {
            t->seq = t->snap->seq;
            new_snapshot(t);
            t->dirty = 1;
        }
        if (t->now - last_tick >= 1.0) { last_tick = t->now; t->dirty = 1; }
        if (t->dirty) {
            draw(t);
            t->dirty = 0;
        }
        if (t->opt.viewer_poll) t->opt.viewer_poll(t->opt.viewer_user);
        if (t->stopping && session_finished(s)) break;
    }
    if (t->opt.viewer_close) t->opt.viewer_close(t->opt.viewer_user);
    term_stop();
    arch_estimator_destroy(t->arch.est);
    if (last) session_snapshot(s, last);
    free(t->snap);
    free(t);
    return TUI_QUIT;
}
