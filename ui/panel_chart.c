/* panel_chart.c — one curve large, with axes, the edits as labelled vertical lines, and the raw
 * values behind the smoothed ones. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "chart.h"
#include "paint.h"
#include "tui_internal.h"

#define LIST_W 14
#define ZOOM_POINTS 200

void chart_view_draw(Tui *t) {
    int top = tui_body_top(t), body = tui_body_rows(t);
    paint_rule(top, 0, LIST_W, "Curve");
    for (int i = 0; i < CURVE_COUNT; i++)
        paint_textf(top + 1 + i, 0, LIST_W, i == t->chart_curve ? CS_SELECTED : CS_NORMAL, " %-*s",
                    LIST_W - 2, curve_name((CurveId)i));
    CurveData c;
    curve_extract(t->snap, (CurveId)t->chart_curve, &c);
    int cw = t->cols - LIST_W - 1, ch = body - 2;
    char title[160];
    snprintf(title, sizeof title, "%s%s by %s%s%s", c.name, c.has_raw ? " (smoothed; raw dim)" : "",
             c.unit, t->chart_zoom ? ", last 200 points" : "", t->chart_log ? ", log y" : "");
    paint_rule(top, LIST_W + 1, cw, title);

    ChartSpec spec;
    memset(&spec, 0, sizeof spec);
    spec.ascii = !t->theme->unicode;
    spec.x_unit = c.unit;
    spec.y_log = t->chart_log;
    int first = 0;
    if (t->chart_zoom && c.n > ZOOM_POINTS) first = c.n - ZOOM_POINTS;
    if (c.n > 0) {
        spec.x0 = c.x[first];
        spec.x1 = c.x[c.n - 1];
    }
    if (c.per_epoch) {
        spec.x0 = first > 0 ? c.x[first] : 0;
        spec.x1 = t->snap->epochs > spec.x1 ? t->snap->epochs : spec.x1;
    }
    if (!(spec.x1 > spec.x0)) spec.x1 = spec.x0 + 1;
    if (c.has_raw) {
        spec.series[spec.nseries++] = (ChartSeries){c.x + first, c.raw + first, c.n - first, CS_DATA2, 0, 1};
    }
    spec.series[spec.nseries++] = (ChartSeries){c.x + first, c.y + first, c.n - first, CS_DATA, !c.has_raw, 0};
    const Snapshot *s = t->snap;
    long spe = s->steps_per_epoch > 0 ? s->steps_per_epoch : 1;
    for (int i = 0; i < s->mark_len && spec.nmarks < CHART_MAX_MARKS; i++) {
        double x = c.per_epoch ? (double)s->marks[i].step / spe : (double)s->marks[i].step;
        spec.marks[spec.nmarks++] = (ChartMark){x, 0, s->marks[i].label, CS_MARKER, 0};
    }
    chart_auto_y(&spec);
    if (c.percent && !spec.y_log) { spec.y0 = 0; if (spec.y1 < 0.05) spec.y1 = 0.05; }
    TextGrid g;
    if (grid_init(&g, ch, cw) == 0) {
        chart_render(&spec, &g);
        paint_grid(&g, top + 1, LIST_W + 1);
        grid_free(&g);
    }
    char cur[32], best[32], lo[32], hi[32];
    curve_format(&c, c.current, cur, sizeof cur);
    curve_format(&c, c.best, best, sizeof best);
    float mn = NAN, mx = NAN;
    for (int i = first; i < c.n; i++) {
        if (!isfinite(c.y[i])) continue;
        if (!isfinite(mn) || c.y[i] < mn) mn = c.y[i];
        if (!isfinite(mx) || c.y[i] > mx) mx = c.y[i];
    }
    curve_format(&c, mn, lo, sizeof lo);
    curve_format(&c, mx, hi, sizeof hi);
    long per = c.per_epoch ? spe : (s->hist_stride > 0 ? s->hist_stride : 1);
    paint_textf(top + body - 1, LIST_W + 1, cw, CS_NORMAL, "now %s  best %s  range %s..%s  "
                "%d points, %ld step%s each  %d edit%s", cur, c.has_best ? best : "-", lo, hi,
                c.n - first, per, per == 1 ? "" : "s", s->mark_len, s->mark_len == 1 ? "" : "s");
}

void chart_view_action(Tui *t, Action a) {
    switch (a) {
    case ACT_UP: case ACT_LEFT: t->chart_curve = (t->chart_curve + CURVE_COUNT - 1) % CURVE_COUNT; break;
    case ACT_DOWN: case ACT_RIGHT: t->chart_curve = (t->chart_curve + 1) % CURVE_COUNT; break;
    case ACT_ZOOM: t->chart_zoom = !t->chart_zoom; break;
    case ACT_LOG_SCALE: t->chart_log = !t->chart_log; break;
    default: break;
    }
}

void chart_view_mouse(Tui *t, const MEVENT *ev) {
    if (!(ev->bstate & MOUSE_DOWN)) return;
    int i = ev->y - tui_body_top(t) - 1;
    if (ev->x < LIST_W && i >= 0 && i < CURVE_COUNT) t->chart_curve = i;
}
