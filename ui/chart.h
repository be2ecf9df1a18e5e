/* chart.h — a chart with axes, series, markers and points, rendered into a TextGrid.
 *
 * Used by the big chart view, the schedule editor and the LR finder. Pure (no ncurses): the
 * mapping between data and cells is exposed so that mouse clicks and knot drags convert the same
 * way the drawing does. Layout: y tick labels in the first CHART_YLABEL columns, then the y
 * axis, then the plot; the last two rows are the x axis and its labels. A value is drawn in
 * eighths of a cell (lower blocks), optionally filled below. */
#ifndef SHORTCUT_UI_CHART_H
#define SHORTCUT_UI_CHART_H

#include "grid.h"

#define CHART_MAX_SERIES 4
#define CHART_MAX_MARKS 96
#define CHART_YLABEL 8

typedef struct ChartSeries {
    const float *x, *y;   /* n points, x increasing; a non-finite y is a gap */
    int n;
    CellStyle style;
    int fill;             /* fill the area below the line */
    int dots;             /* a dot per cell instead of eighths (a noisy series behind another) */
} ChartSeries;

typedef struct ChartMark {
    double x, y;
    const char *label;    /* shown at the top of a vertical mark; NULL: none */
    CellStyle style;
    int point;            /* 1: a point glyph at (x, y) (knots); 0: a vertical line at x */
} ChartMark;

typedef struct ChartSpec {
    double x0, x1, y0, y1;    /* visible ranges; y1 <= y0: chart_auto_y decides */
    int x_log, y_log;         /* log10 axes (ranges must be > 0) */
    const char *x_unit;       /* "epoch", "step", "lr": written at the right end of the x axis */
    ChartSeries series[CHART_MAX_SERIES];
    int nseries;
    ChartMark marks[CHART_MAX_MARKS];
    int nmarks;
    int ascii;
} ChartSpec;

/* The plot rectangle inside a grid of rows x cols. rows/cols <= 0 when the grid is too small. */
typedef struct ChartArea {
    int row, col, rows, cols;
} ChartArea;

void chart_area(int grid_rows, int grid_cols, ChartArea *a);

/* Data <-> cells. Columns and rows are relative to the plot area (0 = left / top). The x of a
 * column is its centre. *_of_* return -1 when the value falls outside. */
double chart_x_of_col(const ChartSpec *s, const ChartArea *a, int col);
int chart_col_of_x(const ChartSpec *s, const ChartArea *a, double x);
double chart_y_of_row(const ChartSpec *s, const ChartArea *a, int row);
int chart_row_of_y(const ChartSpec *s, const ChartArea *a, double y);

/* Set y0/y1 from the finite values of the series inside [x0, x1], with 5% headroom; a flat
 * series gets a band around its value; log axes keep positive values only. */
void chart_auto_y(ChartSpec *s);

/* Draw everything into g (cleared first). */
void chart_render(const ChartSpec *s, TextGrid *g);

/* Tick values for an axis: at most max_ticks "nice" values (1, 2, 5 x 10^k, or decades on a
 * log axis) inside [lo, hi]; returns how many. */
int chart_ticks(double lo, double hi, int log_axis, int max_ticks, double *out);

/* Compact number for axes and panels: at most `width` characters ("0.05", "1.2e-05", "3.4k"). */
void chart_format_value(double v, int width, char *buf, size_t len);

#endif
