/* chart.c — axes, series, markers and points into a TextGrid (see chart.h).
 *
 * Each plot column summarizes the points whose x falls in it (their mean), interpolating across
 * columns that hold no point, so sparse series (per-epoch values) draw as lines and dense ones
 * (per-step values) do not alias. Marks draw only on blank cells: data stays readable. */
#include "chart.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sparkline.h"

void chart_area(int grid_rows, int grid_cols, ChartArea *a) {
    a->row = 0;
    a->col = CHART_YLABEL + 1;
    a->rows = grid_rows - 2;
    a->cols = grid_cols - a->col;
    if (a->rows < 1 || a->cols < 2) a->rows = a->cols = 0;
}

static double to_axis(double v, int log_axis) { return log_axis ? log10(v) : v; }
static double from_axis(double v, int log_axis) { return log_axis ? pow(10.0, v) : v; }

static int axis_ok(double lo, double hi, int log_axis) {
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo)) return 0;
    return !log_axis || lo > 0;
}

double chart_x_of_col(const ChartSpec *s, const ChartArea *a, int col) {
    if (a->cols <= 0 || !axis_ok(s->x0, s->x1, s->x_log)) return NAN;
    double lo = to_axis(s->x0, s->x_log), hi = to_axis(s->x1, s->x_log);
    return from_axis(lo + (hi - lo) * ((double)col + 0.5) / a->cols, s->x_log);
}

int chart_col_of_x(const ChartSpec *s, const ChartArea *a, double x) {
    if (a->cols <= 0 || !axis_ok(s->x0, s->x1, s->x_log) || !isfinite(x)) return -1;
    if (s->x_log && x <= 0) return -1;
    double lo = to_axis(s->x0, s->x_log), hi = to_axis(s->x1, s->x_log);
    double f = (to_axis(x, s->x_log) - lo) / (hi - lo);
    if (f < 0 || f > 1) return -1;
    int c = (int)floor(f * a->cols);
    return c >= a->cols ? a->cols - 1 : c;
}

double chart_y_of_row(const ChartSpec *s, const ChartArea *a, int row) {
    if (a->rows <= 0 || !axis_ok(s->y0, s->y1, s->y_log)) return NAN;
    double lo = to_axis(s->y0, s->y_log), hi = to_axis(s->y1, s->y_log);
    double f = ((double)(a->rows - 1 - row) + 0.5) / a->rows;
    return from_axis(lo + (hi - lo) * f, s->y_log);
}

int chart_row_of_y(const ChartSpec *s, const ChartArea *a, double y) {
    if (a->rows <= 0 || !axis_ok(s->y0, s->y1, s->y_log) || !isfinite(y)) return -1;
    if (s->y_log && y <= 0) return -1;
    double lo = to_axis(s->y0, s->y_log), hi = to_axis(s->y1, s->y_log);
    double f = (to_axis(y, s->y_log) - lo) / (hi - lo);
    if (f < 0 || f > 1) return -1;
    int r = (int)floor(f * a->rows);
    if (r >= a->rows) r = a->rows - 1;
    return a->rows - 1 - r;
}

void chart_auto_y(ChartSpec *s) {
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < s->nseries; k++) {
        const ChartSeries *se = &s->series[k];
        for (int i = 0; i < se->n; i++) {
            double x = se->x[i], y = se->y[i];
            if (!isfinite(y) || x < s->x0 || x > s->x1) continue;
            if (s->y_log && y <= 0) continue;
            if (y < lo) lo = y;
            if (y > hi) hi = y;
        }
    }
    for (int k = 0; k < s->nmarks; k++) {
        const ChartMark *m = &s->marks[k];
        if (!m->point || !isfinite(m->y) || (s->y_log && m->y <= 0)) continue;
        if (m->y < lo) lo = m->y;
        if (m->y > hi) hi = m->y;
    }
    if (!(hi >= lo)) {
        s->y0 = s->y_log ? 0.1 : 0;
        s->y1 = 1;
        return;
    }
    if (s->y_log) {
        if (hi <= lo) { lo /= 2; hi *= 2; }
        double span = log10(hi) - log10(lo);
        s->y0 = pow(10.0, log10(lo) - 0.05 * span);
        s->y1 = pow(10.0, log10(hi) + 0.05 * span);
        return;
    }
    if (hi <= lo) {
        double band = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= band;
        hi += band;
    }
    double pad = 0.05 * (hi - lo);
    /* Keep a zero baseline when the data starts at zero (accuracy, lr): it reads true. */
    s->y0 = lo >= 0 && lo - pad < 0 ? 0 : lo - pad;
    s->y1 = hi + pad;
}

int chart_ticks(double lo, double hi, int log_axis, int max_ticks, double *out) {
    int n = 0;
    if (max_ticks <= 0 || !axis_ok(lo, hi, log_axis)) return 0;
    if (log_axis) {
        int e0 = (int)ceil(log10(lo) - 1e-9), e1 = (int)floor(log10(hi) + 1e-9);
        int decades = e1 - e0 + 1, stride = 1;
        while (decades / stride > max_ticks) stride++;
        for (int e = e0; e <= e1 && n < max_ticks; e += stride) out[n++] = pow(10.0, e);
        if (n >= 2) return n;
        /* Less than two decades: 1, 2, 5 steps. */
        n = 0;
        for (int e = (int)floor(log10(lo)); e <= (int)ceil(log10(hi)) && n < max_ticks; e++) {
            static const double m[3] = {1, 2, 5};
            for (int k = 0; k < 3 && n < max_ticks; k++) {
                double v = m[k] * pow(10.0, e);
                if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out[n++] = v;
            }
        }
        return n;
    }
    double raw = (hi - lo) / (max_ticks > 1 ? max_ticks - 1 : 1);
    double mag = pow(10.0, floor(log10(raw)));
    double step = mag;
    static const double mult[4] = {1, 2, 5, 10};
    for (int k = 0; k < 4; k++) {
        step = mult[k] * mag;
        if ((hi - lo) / step <= max_ticks - 1 + 1e-9) break;
    }
    for (double v = ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step && n < max_ticks; v += step)
        out[n++] = fabs(v) < 1e-12 * step ? 0 : v;
    return n;
}

void chart_format_value(double v, int width, char *buf, size_t len) {
    if (!isfinite(v)) { snprintf(buf, len, "-"); return; }
    double a = fabs(v);
    if (a >= 1e4 && a < 1e7) snprintf(buf, len, "%.*fk", a >= 1e5 ? 0 : 1, v / 1e3);
    else if (a >= 1e7 && a < 1e10) snprintf(buf, len, "%.*fM", a >= 1e8 ? 0 : 1, v / 1e6);
    else {
        for (int prec = 4; prec >= 1; prec--) {
            snprintf(buf, len, "%.*g", prec, v);
            if ((int)strlen(buf) <= width) return;
        }
    }
}

/* Mean y of the points in each column, then linear interpolation across empty columns between
 * the first and the last point. */
static void column_values(const ChartSpec *s, const ChartArea *a, const ChartSeries *se,
                          float *col_y) {
    double sum[SPARK_MAX_WIDTH];
    int cnt[SPARK_MAX_WIDTH];
    int w = a->cols < SPARK_MAX_WIDTH ? a->cols : SPARK_MAX_WIDTH;
    for (int c = 0; c < w; c++) { sum[c] = 0; cnt[c] = 0; col_y[c] = NAN; }
    int first = -1, last = -1;
    for (int i = 0; i < se->n; i++) {
        if (!isfinite(se->y[i])) continue;
        int c = chart_col_of_x(s, a, se->x[i]);
        if (c < 0 || c >= w) continue;
        sum[c] += se->y[i];
        cnt[c]++;
        if (first < 0 || c < first) first = c;
        if (c > last) last = c;
    }
    for (int c = 0; c < w; c++)
        if (cnt[c]) col_y[c] = (float)(sum[c] / cnt[c]);
    int prev = -1;
    for (int c = first; c >= 0 && c <= last; c++) {
        if (!cnt[c]) continue;
        if (prev >= 0 && c - prev > 1) {
            for (int k = prev + 1; k < c; k++) {
                double f = (double)(k - prev) / (c - prev);
                col_y[k] = (float)(col_y[prev] + f * (col_y[c] - col_y[prev]));
            }
        }
        prev = c;
    }
}

static void draw_axes(const ChartSpec *s, const ChartArea *a, TextGrid *g) {
    const char *vline = s->ascii ? "|" : "\u2502";
    const char *hline = s->ascii ? "-" : "\u2500";
    const char *corner = s->ascii ? "+" : "\u2514";
    const char *ytick = s->ascii ? "+" : "\u2524";
    const char *xtick = s->ascii ? "+" : "\u252c";
    int axis_col = a->col - 1, axis_row = a->row + a->rows;
    for (int r = a->row; r < axis_row; r++) grid_put(g, r, axis_col, vline, CS_AXIS);
    grid_put(g, axis_row, axis_col, corner, CS_AXIS);
    for (int c = a->col; c < a->col + a->cols; c++) grid_put(g, axis_row, c, hline, CS_AXIS);

    double ticks[16];
    char label[32];
    int max_y = a->rows / 3 > 8 ? 8 : a->rows / 3 < 2 ? 2 : a->rows / 3;
    int n = chart_ticks(s->y0, s->y1, s->y_log, max_y, ticks);
    for (int i = 0; i < n; i++) {
        int r = chart_row_of_y(s, a, ticks[i]);
        if (r < 0) continue;
        chart_format_value(ticks[i], CHART_YLABEL - 1, label, sizeof label);
        int len = (int)strlen(label);
        grid_text(g, a->row + r, CHART_YLABEL - 1 - len, label, CS_AXIS);
        grid_put(g, a->row + r, axis_col, ytick, CS_AXIS);
    }
    int max_x = a->cols / 10 > 8 ? 8 : a->cols / 10;
    if (max_x < 2) max_x = 2;
    n = chart_ticks(s->x0, s->x1, s->x_log, max_x, ticks);
    int next_free = a->col;
    for (int i = 0; i < n; i++) {
        int c = chart_col_of_x(s, a, ticks[i]);
        if (c < 0) continue;
        grid_put(g, axis_row, a->col + c, xtick, CS_AXIS);
        chart_format_value(ticks[i], 7, label, sizeof label);
        int len = (int)strlen(label);
        int start = a->col + c - len / 2;
        if (start < next_free) start = next_free;
        if (start + len > a->col + a->cols) start = a->col + a->cols - len;
        if (start < next_free) continue;
        grid_text(g, axis_row + 1, start, label, CS_AXIS);
        next_free = start + len + 1;
    }
    if (s->x_unit) {
        int len = (int)strlen(s->x_unit);
        int start = a->col + a->cols - len;
        if (start >= next_free) grid_text(g, axis_row + 1, start, s->x_unit, CS_DIM);
    }
}

static void draw_series(const ChartSpec *s, const ChartArea *a, const ChartSeries *se,
                        TextGrid *g) {
    float col_y[SPARK_MAX_WIDTH];
    column_values(s, a, se, col_y);
    int levels = a->rows * 8;
    double lo = to_axis(s->y0, s->y_log), hi = to_axis(s->y1, s->y_log);
    int w = a->cols < SPARK_MAX_WIDTH ? a->cols : SPARK_MAX_WIDTH;
    for (int c = 0; c < w; c++) {
        double y = col_y[c];
        if (!isfinite(y) || (s->y_log && y <= 0)) continue;
        double f = (to_axis(y, s->y_log) - lo) / (hi - lo);
        int over = f > 1;
        if (se->dots && (f < 0 || f > 1)) continue;   /* noise outside the view is left out */
        if (f < 0) f = 0;
        if (f > 1) f = 1;
        int level = (int)floor(f * levels);
        if (level >= levels) level = levels - 1;
        int row_from_bottom = level / 8, eighths = level % 8 + 1;
        int r = a->row + a->rows - 1 - row_from_bottom;
        /* A value above the top is clipped: show it as an arrow so it is not read as the max. */
        const char *glyph = over ? (s->ascii ? "^" : "\u25b2")
                            : se->dots ? (s->ascii ? "." : "\u00b7") : spark_glyph(eighths, s->ascii);
        grid_put(g, r, a->col + c, glyph, se->style);
        if (se->fill)
            for (int k = r + 1; k < a->row + a->rows; k++)
                grid_put(g, k, a->col + c, spark_glyph(8, s->ascii), se->style);
    }
}

void chart_render(const ChartSpec *s, TextGrid *g) {
    grid_clear(g);
    ChartArea a;
    chart_area(g->rows, g->cols, &a);
    if (a.rows <= 0 || !axis_ok(s->x0, s->x1, s->x_log) || !axis_ok(s->y0, s->y1, s->y_log))
        return;
    draw_axes(s, &a, g);
    for (int k = 0; k < s->nseries; k++) draw_series(s, &a, &s->series[k], g);
    const char *vline = s->ascii ? ":" : "\u2502";
    for (int k = 0; k < s->nmarks; k++) {
        const ChartMark *m = &s->marks[k];
        int c = chart_col_of_x(s, &a, m->x);
        if (c < 0) continue;
        if (m->point) {
            int r = chart_row_of_y(s, &a, m->y);
            if (r >= 0) grid_put(g, a.row + r, a.col + c, s->ascii ? "o" : "\u25c6", m->style);
            continue;
        }
        for (int r = a.row; r < a.row + a.rows; r++)
            if (grid_is_blank(g, r, a.col + c)) grid_put(g, r, a.col + c, vline, m->style);
    }
    /* Labels after all the lines: each takes the highest row with room for it, right of its
     * line or else left of it, so neighbouring marks do not overwrite each other or the data. */
    for (int k = 0; k < s->nmarks; k++) {
        const ChartMark *m = &s->marks[k];
        int c = chart_col_of_x(s, &a, m->x);
        if (m->point || c < 0 || !m->label || !*m->label) continue;
        int len = utf8_width(m->label);
        for (int r = a.row, placed = 0; r < a.row + a.rows && !placed; r++) {
            for (int side = 0; side < 2 && !placed; side++) {
                int start = side == 0 ? a.col + c + 1 : a.col + c - len;
                if (start < a.col || start + len > a.col + a.cols) continue;
                int free_run = 1;
                for (int i = 0; i < len && free_run; i++) free_run = grid_is_blank(g, r, start + i);
                if (free_run) {
                    grid_text(g, r, start, m->label, m->style);
                    placed = 1;
                }
            }
        }
    }
}
