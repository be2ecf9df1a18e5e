/* schedule_editor.c — the learning-rate schedule over the whole run, editable while it runs.
 *
 * The chart shows what happened (the recorded lr, filled) up to now, and from now on what the
 * edited schedule will do (bright) over what the running one would have done (dim). Edits stay
 * pending in `sched.pending` until applied ('a'), then go to the worker as one CMD_SET; the
 * schedule is a pure function of the step, so only the future changes. Knots of a piecewise
 * schedule can be selected and moved with keys or dragged with the mouse; knots in the past are
 * locked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "form.h"
#include "paint.h"
#include "schedule_math.h"
#include "tui_internal.h"

#define RIGHT_W 36

static long spe_of(const Tui *t) { return t->snap->steps_per_epoch > 0 ? t->snap->steps_per_epoch : 1; }

/* Same schedule (train.lr, epochs and train.schedule.*) in both configs. */
static int same_schedule(const Config *a, const Config *b) {
    for (int i = 0; i < FORM_SCHEDULE_COUNT; i++) {
        char va[1024], vb[1024];
        form_value(a, FORM_SCHEDULE_FIELDS[i].key, va, sizeof va);
        form_value(b, FORM_SCHEDULE_FIELDS[i].key, vb, sizeof vb);
        if (strcmp(va, vb)) return 0;
    }
    return 1;
}

void sched_enter(Tui *t) {
    if (!t->sched.dirty) t->sched.pending = t->snap->config;
    const ScheduleConfig *s = &t->sched.pending.train.schedule;
    if (t->sched.knot >= s->num_knots) t->sched.knot = s->num_knots > 0 ? s->num_knots - 1 : 0;
}

void sched_sync(Tui *t) {
    if (!t->sched.dirty) {
        t->sched.pending = t->snap->config;
        return;
    }
    /* An applied edit has landed when the run's schedule equals the pending one. */
    if (same_schedule(&t->sched.pending, &t->snap->config)) {
        t->sched.dirty = 0;
        t->sched.pending = t->snap->config;
    }
}

static void set_pending(Tui *t, const Config *next) {
    t->sched.pending = *next;
    t->sched.dirty = !same_schedule(next, &t->snap->config);
}

static void build_spec(const Tui *t, ChartSpec *spec) {
    memset(spec, 0, sizeof *spec);
    spec->ascii = !t->theme->unicode;
    spec->x_unit = "epoch";
    spec->x0 = 0;
    spec->x1 = t->sched.pending.train.epochs;
    spec->y_log = t->sched.log_y;
}

void sched_draw(Tui *t) {
    SchedState *st = &t->sched;
    const Snapshot *s = t->snap;
    const Config *p = &st->pending;
    const ScheduleConfig *sc = &p->train.schedule;
    int top = tui_body_top(t), body = tui_body_rows(t);
    int cw = t->cols - RIGHT_W - 1;
    long spe = spe_of(t);
    double now = tui_now_epochs(t);
    paint_rule(top, 0, cw, st->dirty ? "Learning rate: recorded | edited (pending) | running"
                                     : "Learning rate: recorded | scheduled");

    TextGrid g;
    if (grid_init(&g, body - 1, cw) != 0) return;
    ChartArea a;
    chart_area(g.rows, g.cols, &a);
    ChartSpec spec;
    build_spec(t, &spec);
    float px[SESSION_HISTORY], py[SESSION_HISTORY];
    float fx[1024], fy[1024], ox[1024], oy[1024];
    int np = 0;
    for (int i = 0; i < s->hist_len; i++) {
        px[np] = (float)((double)(s->hist_step0 + (long)i * (s->hist_stride > 0 ? s->hist_stride : 1)) / spe);
        py[np++] = s->hist_lr[i];
    }
    int nf = 0, no = 0;
    for (int c = 0; c < a.cols && c < 1024; c++) {
        double x = chart_x_of_col(&spec, &a, c);
        if (x < now && !(c + 1 < a.cols && chart_x_of_col(&spec, &a, c + 1) >= now)) continue;
        double e = x < now ? now : x;
        fx[nf] = (float)x;
        fy[nf++] = (float)sched_lr_at_epoch(sc, p->train.lr, spe, p->train.epochs, e);
        if (st->dirty) {
            ox[no] = (float)x;
            oy[no++] = (float)sched_lr_at_epoch(&s->config.train.schedule, s->config.train.lr, spe,
                                                s->config.train.epochs, e);
        }
    }
    spec.series[spec.nseries++] = (ChartSeries){px, py, np, CS_PAST, 1, 0};
    if (no) spec.series[spec.nseries++] = (ChartSeries){ox, oy, no, CS_DATA2, 0, 0};
    spec.series[spec.nseries++] = (ChartSeries){fx, fy, nf, CS_FUTURE, 0, 0};
    spec.marks[spec.nmarks++] = (ChartMark){now, 0, "now", CS_NOW, 0};
    char labels[SCHEDULE_MAX_MILESTONES][24];
    if (sc->kind == SCHEDULE_MULTISTEP)
        for (int i = 0; i < sc->num_milestones && spec.nmarks < CHART_MAX_MARKS; i++) {
            snprintf(labels[i], sizeof labels[i], "x%g", (double)sc->gamma);
            spec.marks[spec.nmarks++] = (ChartMark){sc->milestones[i], 0, labels[i], CS_MARKER, 0};
        }
    if (sc->warmup_epochs > 0 && spec.nmarks < CHART_MAX_MARKS)
        spec.marks[spec.nmarks++] = (ChartMark){sc->warmup_epochs, 0, "warmup", CS_DIM, 0};
    if (sc->kind == SCHEDULE_PIECEWISE)
        for (int i = 0; i < sc->num_knots && spec.nmarks < CHART_MAX_MARKS; i++)
            spec.marks[spec.nmarks++] = (ChartMark){sc->knot_epoch[i], sc->knot_lr[i], NULL,
                                                    i == st->knot ? CS_SELECTED : CS_KNOT, 1};
    chart_auto_y(&spec);
    if (!spec.y_log) spec.y0 = 0;
    chart_render(&spec, &g);
    paint_grid(&g, top + 1, 0);
    st->plot_row = top + 1 + a.row;
    st->plot_col = a.col;
    st->plot_rows = a.rows;
    st->plot_cols = a.cols;
    st->x1 = spec.x1;
    st->y0 = spec.y0;
    st->y1 = spec.y1;
    grid_free(&g);

    /* fields and state */
    int fc = cw + 1;
    paint_vline(top, cw, body, CS_AXIS);
    paint_rule(top, fc, RIGHT_W, st->dirty ? "Schedule (pending)" : "Schedule");
    int r = top + 1;
    for (int i = 0; i < FORM_SCHEDULE_COUNT && r < top + body - 5; i++, r++) {
        const FormField *f = &FORM_SCHEDULE_FIELDS[i];
        char value[1024];
        form_value(p, f->key, value, sizeof value);
        int idx = config_field_find(f->key);
        draw_field_row(t, r, fc, RIGHT_W, 15, f->label, f->key, value, i == st->field,
                       idx >= 0 && config_field_relevant(p, idx), VIEW_SCHEDULE);
    }
    r++;
    double lr_now = sched_lr_at_epoch(&s->config.train.schedule, s->config.train.lr, spe,
                                      s->config.train.epochs, now);
    paint_textf(r++, fc + 1, RIGHT_W - 1, CS_NOW, "now: epoch %.2f, lr %.4g", now, lr_now);
    if (sc->kind == SCHEDULE_PIECEWISE && sc->num_knots > 0) {
        int k = st->knot < sc->num_knots ? st->knot : sc->num_knots - 1;
        paint_textf(r++, fc + 1, RIGHT_W - 1, sc->knot_epoch[k] < now ? CS_DIM : CS_KNOT,
                    "knot %d/%d: epoch %.2f lr %.4g%s", k + 1, sc->num_knots,
                    (double)sc->knot_epoch[k], (double)sc->knot_lr[k],
                    sc->knot_epoch[k] < now ? " (past)" : "");
    } else {
        paint_text(r++, fc + 1, RIGHT_W - 1, "P: turn into draggable knots", CS_DIM);
    }
    if (r < top + body)
        paint_text(r, fc + 1, RIGHT_W - 1, st->dirty ? "a: apply to the run  u: discard"
                                                     : "no pending changes", st->dirty ? CS_WARN : CS_DIM);
}

int sched_commit(Tui *t, const char *key, const char *text) {
    SchedState *st = &t->sched;
    Config next;
    char msg[400];
    FormVerdict v = form_check(&st->pending, key, text, tui_epochs_done(t), &next, msg, sizeof msg);
    if (v == FORM_REFUSED) {
        tui_message(t, CS_BAD, "refused: %s", msg);
        return 0;
    }
    if (v == FORM_UNCHANGED) return 1;
    if (!strcmp(key, "train.schedule.type") && next.train.schedule.kind == SCHEDULE_PIECEWISE &&
        next.train.schedule.num_knots == 0) {
        /* Start the knots on the curve the run is following, so nothing jumps. */
        ScheduleConfig conv = st->pending.train.schedule;
        sched_to_piecewise(&conv, st->pending.train.lr, spe_of(t), st->pending.train.epochs,
                           tui_now_epochs(t), 6);
        next.train.schedule = conv;
        set_pending(t, &next);
        tui_message(t, CS_NORMAL, "piecewise: knots placed on the current curve; [ ] select, "
                    "H/L and K/J move, a applies");
        return 1;
    }
    if (!strcmp(key, "train.epochs") &&
        sched_has_future_positions(&st->pending.train.schedule, tui_now_epochs(t))) {
        char q[300];
        snprintf(q, sizeof q, "The run goes from %d to %d epochs. Milestones and knots ahead: "
                 "keep their epoch, or keep their fraction of the run?", st->pending.train.epochs,
                 next.train.epochs);
        tui_open_dialog(t, DLG_CHOICE, DP_EPOCHS_SCHEDULE, "Change the run length", q);
        tui_dialog_choice(t, 'k', "k: keep epochs");
        tui_dialog_choice(t, 's', "s: scale with the run");
        tui_dialog_choice(t, 27, "Esc: cancel");
        t->dialog.value = next.train.epochs;
        return 1;
    }
    set_pending(t, &next);
    if (v == FORM_INCOMPLETE) tui_message(t, CS_WARN, "pending, not valid yet: %s", msg);
    else tui_message(t, CS_NORMAL, "pending: a applies it to the run, u discards");
    return 1;
}

void sched_epochs_answer(Tui *t, int scale, int new_epochs) {
    Config next = t->sched.pending;
    int moved = sched_rescale(&next.train.schedule, next.train.epochs, new_epochs, tui_now_epochs(t),
                              scale ? RESCALE_KEEP_FRACTION : RESCALE_KEEP_EPOCHS);
    next.train.epochs = new_epochs;
    set_pending(t, &next);
    tui_message(t, CS_NORMAL, "pending: %d epochs, %d milestone%s/knot%s moved; a applies", new_epochs,
                moved, moved == 1 ? "" : "s", moved == 1 ? "" : "s");
}

void sched_apply(Tui *t) {
    SchedState *st = &t->sched;
    if (!st->dirty) { tui_message(t, CS_NORMAL, "no pending schedule changes"); return; }
    char lines[2048];
    size_t used = 0;
    lines[0] = 0;
    for (int i = 0; i < FORM_SCHEDULE_COUNT; i++) {
        char va[1024], vb[1024];
        form_value(&t->snap->config, FORM_SCHEDULE_FIELDS[i].key, va, sizeof va);
        form_value(&st->pending, FORM_SCHEDULE_FIELDS[i].key, vb, sizeof vb);
        if (!strcmp(va, vb)) continue;
        int w = snprintf(lines + used, sizeof lines - used, "%s%s=%s", used ? "\n" : "",
                         FORM_SCHEDULE_FIELDS[i].key, vb);
        if (w < 0 || (size_t)w >= sizeof lines - used) {
            tui_message(t, CS_BAD, "the schedule is too long to send");
            return;
        }
        used += (size_t)w;
    }
    if (!used) { st->dirty = 0; return; }
    tui_post_edit(t, lines, "schedule");
}

static int need_piecewise(Tui *t) {
    if (t->sched.pending.train.schedule.kind == SCHEDULE_PIECEWISE) return 1;
    tui_message(t, CS_WARN, "knots belong to piecewise schedules: P turns this one into knots");
    return 0;
}

static void move_knot(Tui *t, double de, double dy) {
    SchedState *st = &t->sched;
    if (!need_piecewise(t)) return;
    Config next = st->pending;
    ScheduleConfig *sc = &next.train.schedule;
    int k = st->knot;
    if (k < 0 || k >= sc->num_knots) return;
    double lr = sc->knot_lr[k];
    if (dy != 0) {
        if (st->log_y) lr = (lr > 0 ? lr : 1e-6) * pow(st->y1 / (st->y0 > 0 ? st->y0 : 1e-9), dy / (st->plot_rows > 0 ? st->plot_rows : 10));
        else lr += dy * (st->y1 - st->y0) / (st->plot_rows > 0 ? st->plot_rows : 10);
    }
    double e = sc->knot_epoch[k] + de * (st->x1 > 0 ? st->x1 : 1) / (st->plot_cols > 0 ? st->plot_cols : 40);
    char msg[200];
    if (sched_knot_set(sc, k, e, lr, tui_now_epochs(t), next.train.epochs, msg, sizeof msg) != 0) {
        tui_message(t, CS_WARN, "%s", msg);
        return;
    }
    set_pending(t, &next);
}

void sched_action(Tui *t, Action a) {
    SchedState *st = &t->sched;
    ScheduleConfig *sc = &st->pending.train.schedule;
    char msg[200];
    switch (a) {
    case ACT_UP: if (st->field > 0) st->field--; break;
    case ACT_DOWN: if (st->field + 1 < FORM_SCHEDULE_COUNT) st->field++; break;
    case ACT_HOME: st->field = 0; break;
    case ACT_END: st->field = FORM_SCHEDULE_COUNT - 1; break;
    case ACT_ENTER: tui_edit_field(t, VIEW_SCHEDULE, FORM_SCHEDULE_FIELDS[st->field].key); break;
    case ACT_LEFT: case ACT_RIGHT: {
        const char *key = FORM_SCHEDULE_FIELDS[st->field].key;
        char cur[128], next[128];
        form_value(&st->pending, key, cur, sizeof cur);
        if (form_cycle(key, cur, a == ACT_RIGHT ? 1 : -1, next, sizeof next) == 0) sched_commit(t, key, next);
        break;
    }
    case ACT_APPLY: sched_apply(t); break;
    case ACT_DISCARD:
        st->dirty = 0;
        st->pending = t->snap->config;
        tui_message(t, CS_NORMAL, "schedule edits discarded");
        break;
    case ACT_LOG_SCALE: st->log_y = !st->log_y; break;
    case ACT_TO_PIECEWISE: {
        Config next = st->pending;
        sched_to_piecewise(&next.train.schedule, next.train.lr, spe_of(t), next.train.epochs,
                           tui_now_epochs(t), 6);
        set_pending(t, &next);
        st->knot = next.train.schedule.num_knots - 1;
        tui_message(t, CS_NORMAL, "now piecewise: [ ] select a knot, H/L earlier/later, K/J "
                    "higher/lower (or drag with the mouse), a applies");
        break;
    }
    case ACT_KNOT_PREV: if (need_piecewise(t) && st->knot > 0) st->knot--; break;
    case ACT_KNOT_NEXT: if (need_piecewise(t) && st->knot + 1 < sc->num_knots) st->knot++; break;
    case ACT_KNOT_EARLIER: move_knot(t, -1, 0); break;
    case ACT_KNOT_LATER: move_knot(t, 1, 0); break;
    case ACT_KNOT_HIGHER: move_knot(t, 0, 1); break;
    case ACT_KNOT_LOWER: move_knot(t, 0, -1); break;
    case ACT_KNOT_ADD: {
        if (!need_piecewise(t)) break;
        Config next = st->pending;
        ScheduleConfig *n = &next.train.schedule;
        double now = tui_now_epochs(t);
        int k = st->knot < n->num_knots ? st->knot : n->num_knots - 1;
        double e0 = k >= 0 ? n->knot_epoch[k] : now;
        if (e0 < now) e0 = now;
        double e1 = k + 1 < n->num_knots ? n->knot_epoch[k + 1] : next.train.epochs;
        double e = (e0 + e1) / 2;
        double lr = sched_lr_at_epoch(n, next.train.lr, spe_of(t), next.train.epochs, e);
        int at;
        if (sched_knot_add(n, e, lr, now, next.train.epochs, &at, msg, sizeof msg) != 0) {
            tui_message(t, CS_WARN, "%s", msg);
            break;
        }
        set_pending(t, &next);
        st->knot = at;
        break;
    }
    case ACT_KNOT_DELETE: {
        if (!need_piecewise(t)) break;
        Config next = st->pending;
        if (sched_knot_delete(&next.train.schedule, st->knot, tui_now_epochs(t), msg, sizeof msg) != 0) {
            tui_message(t, CS_WARN, "%s", msg);
            break;
        }
        set_pending(t, &next);
        if (st->knot >= next.train.schedule.num_knots) st->knot = next.train.schedule.num_knots - 1;
        break;
    }
    default: break;
    }
}

void sched_mouse(Tui *t, const MEVENT *ev) {
    SchedState *st = &t->sched;
    ChartSpec spec;
    build_spec(t, &spec);
    spec.y0 = st->y0;
    spec.y1 = st->y1;
    ChartArea a = {0, 0, st->plot_rows, st->plot_cols};
    int col = ev->x - st->plot_col, row = ev->y - st->plot_row;
    int in_plot = col >= 0 && col < st->plot_cols && row >= 0 && row < st->plot_rows;
    const ScheduleConfig *sc = &st->pending.train.schedule;
    if ((ev->bstate & MOUSE_DOWN) && in_plot && sc->kind == SCHEDULE_PIECEWISE) {
        int best = -1, bestd = 4;
        for (int k = 0; k < sc->num_knots; k++) {
            int kc = chart_col_of_x(&spec, &a, sc->knot_epoch[k]);
            int kr = chart_row_of_y(&spec, &a, sc->knot_lr[k]);
            if (kc < 0 || kr < 0) continue;
            int d = abs(kc - col) + abs(kr - row);
            if (d < bestd) { bestd = d; best = k; }
        }
        if (best >= 0) { st->knot = best; st->drag_knot = best; }
        return;
    }
    if ((ev->bstate & BUTTON1_RELEASED) && st->drag_knot >= 0) {
        int k = st->drag_knot;
        st->drag_knot = -1;
        if (col < 0) col = 0;
        if (col >= st->plot_cols) col = st->plot_cols - 1;
        if (row < 0) row = 0;
        if (row >= st->plot_rows) row = st->plot_rows - 1;
        Config next = st->pending;
        char msg[200];
        if (sched_knot_set(&next.train.schedule, k, chart_x_of_col(&spec, &a, col),
                           chart_y_of_row(&spec, &a, row), tui_now_epochs(t), next.train.epochs,
                           msg, sizeof msg) != 0)
            tui_message(t, CS_WARN, "%s", msg);
        else
            set_pending(t, &next);
        return;
    }
    if ((ev->bstate & MOUSE_DOWN) && ev->x > t->cols - RIGHT_W - 1) {
        int i = ev->y - tui_body_top(t) - 1;
        if (i >= 0 && i < FORM_SCHEDULE_COUNT) {
            if (i == st->field) sched_action(t, ACT_ENTER);
            else st->field = i;
        }
    }
}
