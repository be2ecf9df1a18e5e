/* panel_dashboard.c — the main view: sparklines of the run's curves with current and best
 * values and the edits marked under them, the live hyperparameters (editable), and the log.
 * Also owns the curves' data extraction, which the chart view shares. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "form.h"
#include "paint.h"
#include "schedule_math.h"
#include "sparkline.h"
#include "tui_internal.h"

#define RIGHT_W 34
#define LABEL_W 10
#define VALUE_W 20

static const char *const CURVE_NAMES[CURVE_COUNT] = {
    "loss", "train acc", "test acc", "lr", "img/s", "test loss",
};

const char *curve_name(CurveId id) { return (int)id >= 0 && id < CURVE_COUNT ? CURVE_NAMES[id] : "?"; }

void curve_extract(const Snapshot *s, CurveId id, CurveData *c) {
    memset(c, 0, offsetof(CurveData, x));
    c->name = curve_name(id);
    c->per_epoch = id == CURVE_TEST_ACC || id == CURVE_TEST_LOSS;
    c->unit = c->per_epoch ? "epoch" : "step";
    c->percent = id == CURVE_ACC || id == CURVE_TEST_ACC;
    c->zero_based = id != CURVE_LOSS && id != CURVE_TEST_LOSS;
    if (c->per_epoch) {
        const float *src = id == CURVE_TEST_ACC ? s->ep_test_acc : s->ep_test_loss;
        for (int i = 0; i < s->ep_len; i++) {
            c->x[i] = (float)(i + 1);
            c->y[i] = src[i] >= 0 ? src[i] : NAN;
        }
        c->n = s->ep_len;
        c->current = id == CURVE_TEST_ACC ? s->test_acc : s->test_loss;
        if (c->current < 0) c->current = NAN;
        c->best = NAN;
        for (int i = 0; i < c->n; i++) {
            if (!isfinite(c->y[i])) continue;
            if (!isfinite(c->best) || (id == CURVE_TEST_ACC ? c->y[i] > c->best : c->y[i] < c->best))
                c->best = c->y[i];
        }
        if (id == CURVE_TEST_ACC && s->best_test_acc >= 0) c->best = s->best_test_acc;
        c->has_best = isfinite(c->best);
        return;
    }
    const float *src = id == CURVE_LOSS ? s->hist_loss : id == CURVE_ACC ? s->hist_acc
                       : id == CURVE_LR ? s->hist_lr : s->hist_ips;
    long stride = s->hist_stride > 0 ? s->hist_stride : 1;
    for (int i = 0; i < s->hist_len; i++) {
        c->x[i] = (float)(s->hist_step0 + (long)i * stride);
        c->raw[i] = src[i];
    }
    c->n = s->hist_len;
    if (id == CURVE_LOSS || id == CURVE_ACC) {
        /* Per-batch values are noisy; the panel shows the trend (the chart adds the raw). */
        spark_smooth(c->raw, c->n, 0.95, c->y);
        c->has_raw = 1;
    } else {
        memcpy(c->y, c->raw, sizeof(float) * (size_t)c->n);
    }
    c->current = c->n ? c->y[c->n - 1] : NAN;
    if (id == CURVE_LOSS && c->n) c->current = s->loss_smooth;
    if (id == CURVE_LR) c->current = s->lr;
    if (id == CURVE_IPS && c->n) c->current = s->images_per_s;
    c->best = NAN;
    for (int i = 0; i < c->n && id != CURVE_LR; i++) {
        if (!isfinite(c->y[i])) continue;
        if (!isfinite(c->best) || (id == CURVE_LOSS ? c->y[i] < c->best : c->y[i] > c->best))
            c->best = c->y[i];
    }
    c->has_best = isfinite(c->best);
}

void curve_format(const CurveData *c, double v, char *buf, size_t len) {
    if (!isfinite(v)) snprintf(buf, len, "-");
    else if (c->percent) snprintf(buf, len, "%.1f%%", 100.0 * v);
    else if (!strcmp(c->name, "img/s")) snprintf(buf, len, "%.0f", v);
    else if (!strcmp(c->name, "lr")) snprintf(buf, len, "%.4g", v);
    else snprintf(buf, len, "%.4f", v);
}

/* Column of a step in a step-history sparkline of `width` columns. */
static int step_column(const Snapshot *s, long step, int width) {
    long stride = s->hist_stride > 0 ? s->hist_stride : 1;
    if (s->hist_len <= 0 || step < s->hist_step0) return -1;
    long i = (step - s->hist_step0) / stride;
    if (i >= s->hist_len) i = s->hist_len - 1;
    if (s->hist_len <= width) return (int)i;
    return (int)(i * width / s->hist_len);
}

static void draw_curve(Tui *t, CurveId id, int row, int rows, int col, int spark_w) {
    CurveData c;
    curve_extract(t->snap, id, &c);
    float cols[SPARK_MAX_WIDTH];
    int w = spark_w < SPARK_MAX_WIDTH ? spark_w : SPARK_MAX_WIDTH;
    spark_resample(c.y, c.n, w, c.per_epoch, cols);
    float lo = 0, hi = 1;
    if (!spark_range(cols, w, &lo, &hi)) { lo = 0; hi = 1; }
    if (c.zero_based && lo > 0) lo = 0;
    if (c.percent) { lo = 0; hi = hi > 0 ? hi : 1; }
    char bufs[3][SPARK_MAX_WIDTH * 3 + 1];
    char *out[3] = {bufs[0], bufs[1], bufs[2]};
    if (rows > 3) rows = 3;
    spark_render(cols, w, rows, lo, hi, !t->theme->unicode, out, sizeof bufs[0]);
    for (int r = 0; r < rows; r++) paint_text(row + r, col + LABEL_W, w, bufs[r], CS_DATA);
    paint_text(row + rows - 1, col, LABEL_W - 1, c.name, CS_NORMAL);
    char v[32], b[32];
    curve_format(&c, c.current, v, sizeof v);
    int vc = col + LABEL_W + w + 1;
    paint_textf(row + rows - 1, vc, 8, CS_TITLE, "%8s", v);
    if (c.has_best) {
        curve_format(&c, c.best, b, sizeof b);
        paint_textf(row + rows - 1, vc + 9, VALUE_W - 9, CS_DIM, "best %s", b);
    }
    if (c.n == 0) paint_text(row + rows - 1, col + LABEL_W, w, c.per_epoch ? "(after the first evaluation)" : "(waiting for the first step)", CS_DIM);
    for (int r = 0; r < rows; r++) t->dash_curve_row[id] = row;   /* first row of the curve */
}

static void draw_marks(Tui *t, int row, int col, int spark_w) {
    const Snapshot *s = t->snap;
    paint_text(row, col, LABEL_W - 1, "edits", CS_DIM);
    const char *glyph = t->theme->unicode ? "\u25b2" : "^";
    for (int i = 0; i < s->mark_len; i++) {
        int c = step_column(s, s->marks[i].step, spark_w);
        if (c >= 0 && c < spark_w) paint_text(row, col + LABEL_W + c, 1, glyph, CS_MARKER);
    }
    if (s->mark_len > 0) {
        const Marker *m = &s->marks[s->mark_len - 1];
        paint_textf(row, col + LABEL_W + spark_w + 1, VALUE_W, CS_MARKER, "%s@%ld", m->label, m->step);
    }
}

static int field_relevant(const Tui *t, const char *key) {
    int i = config_field_find(key);
    return i >= 0 && config_field_relevant(&t->snap->config, i);
}

void dash_draw(Tui *t) {
    int top = tui_body_top(t), body = tui_body_rows(t);
    int top_h = (int)(body * 0.6);
    if (top_h < 15) top_h = 15;
    if (top_h > body - 6) top_h = body - 6;
    int left_w = t->cols - RIGHT_W - 1;
    int spark_w = left_w - LABEL_W - VALUE_W - 1;
    if (spark_w > SPARK_MAX_WIDTH) spark_w = SPARK_MAX_WIDTH;
    for (int i = 0; i < CURVE_COUNT; i++) t->dash_curve_row[i] = -1;

    paint_rule(top, 0, left_w, "Curves (click: chart)");
    static const CurveId shown[] = {CURVE_LOSS, CURVE_ACC, CURVE_TEST_ACC, CURVE_LR, CURVE_IPS};
    int nshown = 5;
    /* Taller sparklines when there is room (16 or 24 levels instead of 8), a blank row between
     * curves once they are 3 rows tall. */
    int per = (top_h - 2) / nshown;
    int rows_each = per >= 4 ? 3 : per >= 2 ? 2 : 1;
    int gap = per > rows_each ? 1 : 0;
    int r = top + 1;
    for (int i = 0; i < nshown; i++) {
        draw_curve(t, shown[i], r, rows_each, 0, spark_w);
        r += rows_each + gap;
    }
    if (r < top + top_h) draw_marks(t, r, 0, spark_w);

    /* hyperparameters */
    int fc = left_w + 1;
    paint_vline(top, left_w, top_h, CS_AXIS);
    paint_rule(top, fc, RIGHT_W, "Hyperparameters (live)");
    int visible = top_h - 1;
    if (t->dash_field < t->dash_field_top) t->dash_field_top = t->dash_field;
    if (t->dash_field >= t->dash_field_top + visible) t->dash_field_top = t->dash_field - visible + 1;
    t->dash_field_row0 = top + 1;
    for (int i = 0; i < visible && t->dash_field_top + i < FORM_HYPER_COUNT; i++) {
        const FormField *f = &FORM_HYPER_FIELDS[t->dash_field_top + i];
        char value[256];
        form_value(&t->snap->config, f->key, value, sizeof value);
        /* The schedule has its own editor: say where. */
        if (f->apply == APPLY_SCHEDULE && strlen(value) < 40) strcat(value, "  [Enter]");
        draw_field_row(t, top + 1 + i, fc, RIGHT_W, 14, f->label, f->key, value,
                       t->dash_field_top + i == t->dash_field, field_relevant(t, f->key), VIEW_DASH);
    }

    /* log */
    int lr = top + top_h;
    paint_rule(lr, 0, t->cols, "Log (PgUp/PgDn)");
    t->dash_log_row = lr + 1;
    t->dash_log_rows = top + body - lr - 1;
    log_pane_draw(&t->log, lr + 1, 1, t->dash_log_rows, t->cols - 2);
}

/* Left/Right on a switch or a list of values: the next value, sent at once. */
static void cycle_field(Tui *t, int dir) {
    const FormField *f = &FORM_HYPER_FIELDS[t->dash_field];
    int idx = config_field_find(f->key);
    if (idx < 0 || f->apply == APPLY_SCHEDULE) return;
    if (config_field_type(idx) != CFT_BOOL && !config_field_choices(idx)) return;
    if (!config_field_relevant(&t->snap->config, idx)) return;
    char cur[128], next[128];
    form_value(&t->snap->config, f->key, cur, sizeof cur);
    if (form_cycle(f->key, cur, dir, next, sizeof next) == 0) dash_commit(t, f->key, next);
}

void dash_action(Tui *t, Action a) {
    switch (a) {
    case ACT_UP: if (t->dash_field > 0) t->dash_field--; break;
    case ACT_DOWN: if (t->dash_field + 1 < FORM_HYPER_COUNT) t->dash_field++; break;
    case ACT_HOME: t->dash_field = 0; break;
    case ACT_END: t->dash_field = FORM_HYPER_COUNT - 1; break;
    case ACT_LEFT: cycle_field(t, -1); break;
    case ACT_RIGHT: cycle_field(t, 1); break;
    case ACT_PAGE_UP: log_pane_scroll(&t->log, t->dash_log_rows > 2 ? t->dash_log_rows - 1 : 1, t->dash_log_rows); break;
    case ACT_PAGE_DOWN: log_pane_scroll(&t->log, -(t->dash_log_rows > 2 ? t->dash_log_rows - 1 : 1), t->dash_log_rows); break;
    case ACT_ENTER: {
        const FormField *f = &FORM_HYPER_FIELDS[t->dash_field];
        if (f->apply == APPLY_SCHEDULE) {
            t->view = VIEW_SCHEDULE;
            sched_enter(t);
        } else {
            tui_edit_field(t, VIEW_DASH, f->key);
        }
        break;
    }
    default: break;
    }
}

void dash_mouse(Tui *t, const MEVENT *ev) {
    if (ev->bstate & BUTTON4_PRESSED) { log_pane_scroll(&t->log, 3, t->dash_log_rows); return; }
    if (ev->bstate & BUTTON5_PRESSED) { log_pane_scroll(&t->log, -3, t->dash_log_rows); return; }
    if (!(ev->bstate & MOUSE_DOWN)) return;
    int left_w = t->cols - RIGHT_W - 1;
    if (ev->x > left_w) {
        int i = t->dash_field_top + ev->y - t->dash_field_row0;
        if (ev->y >= t->dash_field_row0 && i >= 0 && i < FORM_HYPER_COUNT) {
            if (i == t->dash_field) dash_action(t, ACT_ENTER);
            else t->dash_field = i;
        }
        return;
    }
    for (int c = 0; c < CURVE_COUNT; c++) {
        int r = t->dash_curve_row[c];
        if (r >= 0 && ev->y >= r && ev->y < r + 3) {
            t->chart_curve = c;
            t->view = VIEW_CHART;
            return;
        }
    }
}

int dash_commit(Tui *t, const char *key, const char *text) {
    Config next;
    char msg[400];
    FormVerdict v = form_check(&t->snap->config, key, text, tui_epochs_done(t), &next, msg, sizeof msg);
    if (v == FORM_REFUSED || v == FORM_INCOMPLETE) {
        tui_message(t, CS_BAD, "refused: %s", msg);
        return 0;   /* the editor stays open on the wrong value */
    }
    if (v == FORM_UNCHANGED) {
        tui_message(t, CS_NORMAL, "%s unchanged", key);
        return 1;
    }
    char value[512], line[640];
    form_value(&next, key, value, sizeof value);
    snprintf(line, sizeof line, "%s=%s", key, value);
    const FormField *f = NULL;
    for (int i = 0; i < FORM_HYPER_COUNT; i++)
        if (!strcmp(FORM_HYPER_FIELDS[i].key, key)) f = &FORM_HYPER_FIELDS[i];
    if (f && f->apply == APPLY_REBUILD) {
        if (tui_post(t, CMD_REBUILD, line))
            tui_message(t, CS_GOOD, "%s: the model is rebuilt at the next step, every weight "
                        "carried over", line);
        return 1;
    }
    if (!strcmp(key, "train.epochs") &&
        sched_has_future_positions(&t->snap->config.train.schedule, tui_now_epochs(t))) {
        char text2[400];
        snprintf(text2, sizeof text2, "The run goes from %d to %d epochs. The schedule has "
                 "milestones or knots ahead: should they keep their epoch, or keep their fraction "
                 "of the run (scaled by %d/%d)?", t->snap->config.train.epochs, next.train.epochs,
                 next.train.epochs, t->snap->config.train.epochs);
        tui_open_dialog(t, DLG_CHOICE, DP_EPOCHS_DASH, "Change the run length", text2);
        tui_dialog_choice(t, 'k', "k: keep epochs");
        tui_dialog_choice(t, 's', "s: scale with the run");
        tui_dialog_choice(t, 27, "Esc: cancel");
        t->dialog.value = next.train.epochs;
        return 1;
    }
    tui_post_edit(t, line, line);
    return 1;
}
