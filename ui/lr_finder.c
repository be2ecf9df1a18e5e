/* lr_finder.c — the learning-rate finder view: start a sweep on a copy of the weights
 * (CMD_LR_FIND), watch loss against lr come in, and use the suggestion.
 *
 * The sweep runs on the worker between steps; the run waits and continues afterwards exactly as
 * if nothing happened (trainer_lr_find). Its three settings are local to this view. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "paint.h"
#include "tui_internal.h"

#define RIGHT_W 36

static const char *const FIELD_KEYS[3] = {"finder.start", "finder.end", "finder.steps"};
static const char *const FIELD_LABELS[3] = {"start lr", "end lr", "steps"};

static void field_value(const Tui *t, int i, char *buf, size_t len) {
    if (i == 0) snprintf(buf, len, "%g", t->finder.start_lr);
    else if (i == 1) snprintf(buf, len, "%g", t->finder.end_lr);
    else snprintf(buf, len, "%d", t->finder.steps);
}

void finder_draw(Tui *t) {
    const Snapshot *s = t->snap;
    int top = tui_body_top(t), body = tui_body_rows(t);
    int cw = t->cols - RIGHT_W - 1;
    paint_rule(top, 0, cw, "Loss (smoothed; raw dim) against learning rate");
    TextGrid g;
    if (grid_init(&g, body - 1, cw) == 0) {
        ChartSpec spec;
        memset(&spec, 0, sizeof spec);
        spec.ascii = !t->theme->unicode;
        spec.x_log = 1;
        spec.x_unit = "lr";
        int n = s->lrf_len;
        spec.x0 = n > 0 ? s->lrf_lr[0] : t->finder.start_lr;
        /* While sweeping, the axis already spans the whole range so the curve grows into it. */
        spec.x1 = s->lrf_state != LRF_RUNNING && n > 1 ? s->lrf_lr[n - 1] : t->finder.end_lr;
        if (!(spec.x1 > spec.x0)) spec.x1 = spec.x0 * 10;
        spec.series[spec.nseries++] = (ChartSeries){s->lrf_lr, s->lrf_loss, n, CS_DATA2, 0, 1};
        spec.series[spec.nseries++] = (ChartSeries){s->lrf_lr, s->lrf_smooth, n, CS_DATA, 0, 0};
        char sug[40], cur[40];
        if (s->lrf_suggested > 0) {
            snprintf(sug, sizeof sug, "suggested %.3g", s->lrf_suggested);
            spec.marks[spec.nmarks++] = (ChartMark){s->lrf_suggested, 0, sug, CS_GOOD, 0};
            spec.marks[spec.nmarks++] = (ChartMark){s->lrf_min_loss_lr, 0, "min", CS_DIM, 0};
        }
        snprintf(cur, sizeof cur, "lr now %.3g", s->config.train.lr);
        spec.marks[spec.nmarks++] = (ChartMark){s->config.train.lr, 0, cur, CS_NOW, 0};
        /* The loss blows up at the end of a sweep: scale to where it was still informative. */
        float lo = INFINITY, start = NAN;
        for (int i = 0; i < n; i++) {
            if (!isfinite(s->lrf_smooth[i])) continue;
            if (s->lrf_smooth[i] < lo) lo = s->lrf_smooth[i];
            if (!isfinite(start) && i >= n / 10) start = s->lrf_smooth[i];
        }
        if (isfinite(lo) && isfinite(start)) {
            /* Batch noise is about as large as the whole fall on a well-trained model: leave
             * room above the starting level and at least 5% of the loss. */
            double span = start - lo > 0.05 * fabs(lo) ? start - lo : 0.05 * fabs(lo) + 1e-3;
            spec.y0 = lo - 0.15 * span;
            spec.y1 = start + 1.2 * span;
        } else {
            chart_auto_y(&spec);
        }
        chart_render(&spec, &g);
        paint_grid(&g, top + 1, 0);
        grid_free(&g);
    }
    int fc = cw + 1;
    paint_vline(top, cw, body, CS_AXIS);
    paint_rule(top, fc, RIGHT_W, "LR finder");
    int r = top + 1;
    for (int i = 0; i < 3; i++, r++) {
        char v[64];
        field_value(t, i, v, sizeof v);
        draw_field_row(t, r, fc, RIGHT_W, 12, FIELD_LABELS[i], FIELD_KEYS[i], v, i == t->finder.field,
                       1, VIEW_FINDER);
    }
    r++;
    switch (s->lrf_state) {
    case LRF_NONE:
        paint_text(r++, fc + 1, RIGHT_W - 1, "r: sweep on a copy of the weights", CS_NORMAL);
        paint_text(r++, fc + 1, RIGHT_W - 1, "(the run waits, then goes on", CS_DIM);
        paint_text(r++, fc + 1, RIGHT_W - 1, "exactly as before)", CS_DIM);
        break;
    case LRF_RUNNING:
        paint_textf(r++, fc + 1, RIGHT_W - 1, CS_WARN, "sweeping: %d/%d steps", s->lrf_len, s->lrf_steps);
        paint_text(r++, fc + 1, RIGHT_W - 1, "Esc cancels", CS_DIM);
        break;
    case LRF_DONE:
    case LRF_CANCELLED:
        paint_textf(r++, fc + 1, RIGHT_W - 1, CS_NORMAL, "%s after %d steps",
                    s->lrf_state == LRF_DONE ? "done" : "cancelled", s->lrf_len);
        if (s->lrf_suggested > 0) {
            paint_textf(r++, fc + 1, RIGHT_W - 1, CS_GOOD, "suggested lr   %.3g", s->lrf_suggested);
            paint_textf(r++, fc + 1, RIGHT_W - 1, CS_DIM, "lowest loss at %.3g", s->lrf_min_loss_lr);
            paint_textf(r++, fc + 1, RIGHT_W - 1, CS_DIM, "steepest fall  %.3g", s->lrf_steepest);
            paint_text(r++, fc + 1, RIGHT_W - 1, "a: set train.lr to the suggestion", CS_NORMAL);
        } else {
            paint_text(r++, fc + 1, RIGHT_W - 1, "no suggestion: widen the range", CS_WARN);
        }
        break;
    case LRF_FAILED:
        paint_text(r++, fc + 1, RIGHT_W - 1, "failed: see the log", CS_BAD);
        break;
    }
    r++;
    if (r < top + body)
        paint_textf(r++, fc + 1, RIGHT_W - 1, CS_DIM, "current train.lr %.4g", s->config.train.lr);
    if (r < top + body)
        paint_text(r++, fc + 1, RIGHT_W - 1, "suggestion: lowest loss / 10", CS_DIM);
}

int finder_commit(Tui *t, const char *key, const char *text) {
    char *end;
    double v = strtod(text, &end);
    while (*end == ' ') end++;
    int i = !strcmp(key, FIELD_KEYS[0]) ? 0 : !strcmp(key, FIELD_KEYS[1]) ? 1 : 2;
    if (end == text || *end || !isfinite(v)) {
        tui_message(t, CS_BAD, "refused: %s: '%s' is not a number", FIELD_LABELS[i], text);
        return 0;
    }
    if (i == 2) {
        if (v != floor(v) || v < 5 || v > SESSION_LRF_MAX) {
            tui_message(t, CS_BAD, "refused: steps: a whole number from 5 to %d", SESSION_LRF_MAX);
            return 0;
        }
        t->finder.steps = (int)v;
        return 1;
    }
    if (!(v > 0)) {
        tui_message(t, CS_BAD, "refused: %s must be > 0", FIELD_LABELS[i]);
        return 0;
    }
    double start = i == 0 ? v : t->finder.start_lr, end_lr = i == 1 ? v : t->finder.end_lr;
    if (!(end_lr > start)) {
        tui_message(t, CS_BAD, "refused: the end lr must be above the start lr (%g .. %g)", start, end_lr);
        return 0;
    }
    t->finder.start_lr = start;
    t->finder.end_lr = end_lr;
    return 1;
}

void finder_action(Tui *t, Action a) {
    const Snapshot *s = t->snap;
    switch (a) {
    case ACT_UP: if (t->finder.field > 0) t->finder.field--; break;
    case ACT_DOWN: if (t->finder.field < 2) t->finder.field++; break;
    case ACT_ENTER: {
        char v[64];
        field_value(t, t->finder.field, v, sizeof v);
        t->fedit.active = 1;
        t->fedit.view = VIEW_FINDER;
        snprintf(t->fedit.key, sizeof t->fedit.key, "%s", FIELD_KEYS[t->finder.field]);
        lineedit_set(&t->fedit.edit, v);
        break;
    }
    case ACT_FIND_RUN: {
        if (s->lrf_state == LRF_RUNNING) { tui_message(t, CS_WARN, "a sweep is already running"); break; }
        char text[160];
        snprintf(text, sizeof text, "start=%g end=%g steps=%d", t->finder.start_lr, t->finder.end_lr,
                 t->finder.steps);
        if (tui_post(t, CMD_LR_FIND, text))
            tui_message(t, CS_NORMAL, "lr finder: %d steps from %g to %g on a copy of the weights",
                        t->finder.steps, t->finder.start_lr, t->finder.end_lr);
        break;
    }
    case ACT_BACK:
        if (s->lrf_state == LRF_RUNNING && tui_post(t, CMD_CANCEL, NULL))
            tui_message(t, CS_WARN, "cancelling the sweep");
        break;
    case ACT_FIND_APPLY: {
        if (s->lrf_state == LRF_RUNNING || !(s->lrf_suggested > 0)) {
            tui_message(t, CS_WARN, "no suggestion yet: r runs the finder");
            break;
        }
        char text[400];
        snprintf(text, sizeof text, "Set train.lr from %.4g to %.3g? It applies from the next step "
                 "(train.lr is the base of the schedule: cosine starts from it, onecycle peaks at it).",
                 s->config.train.lr, s->lrf_suggested);
        tui_open_dialog(t, DLG_CONFIRM, DP_APPLY_LR, "Use the suggested learning rate?", text);
        snprintf(t->dialog.payload, sizeof t->dialog.payload, "train.lr=%.3g", s->lrf_suggested);
        break;
    }
    default: break;
    }
}

void finder_mouse(Tui *t, const MEVENT *ev) {
    if (!(ev->bstate & MOUSE_DOWN)) return;
    int i = ev->y - tui_body_top(t) - 1;
    if (ev->x > t->cols - RIGHT_W - 1 && i >= 0 && i < 3) {
        if (i == t->finder.field) finder_action(t, ACT_ENTER);
        else t->finder.field = i;
    }
}
