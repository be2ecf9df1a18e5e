/* test_ui_chart.c — the chart's data <-> cell mapping (the schedule editor's mouse uses it),
 * ticks, number formats, and a rendered chart read back from its grid. */
#include <math.h>
#include <string.h>

#include "chart.h"
#include "check.h"
#include "grid.h"

static void test_mapping_roundtrip(void) {
    ChartSpec s;
    memset(&s, 0, sizeof s);
    s.x0 = 0; s.x1 = 10; s.y0 = 0; s.y1 = 1;
    ChartArea a;
    chart_area(12, 49, &a);
    CHECK_INT(a.cols, 49 - CHART_YLABEL - 1);
    CHECK_INT(a.rows, 10);
    for (int c = 0; c < a.cols; c++) CHECK_INT(chart_col_of_x(&s, &a, chart_x_of_col(&s, &a, c)), c);
    for (int r = 0; r < a.rows; r++) CHECK_INT(chart_row_of_y(&s, &a, chart_y_of_row(&s, &a, r)), r);
    CHECK_INT(chart_row_of_y(&s, &a, 1.0), 0);       /* the top row */
    CHECK_INT(chart_row_of_y(&s, &a, 0.0), a.rows - 1);
    CHECK_INT(chart_col_of_x(&s, &a, 11), -1);
    s.x_log = 1; s.x0 = 1e-6; s.x1 = 10;
    CHECK_INT(chart_col_of_x(&s, &a, 0), -1);        /* not on a log axis */
    CHECK_NEAR(chart_x_of_col(&s, &a, 0), pow(10, -6 + 7.0 * 0.5 / a.cols), 0, 1e-9);
    for (int c = 0; c < a.cols; c++) CHECK_INT(chart_col_of_x(&s, &a, chart_x_of_col(&s, &a, c)), c);
}

static void test_ticks_and_format(void) {
    double t[16];
    int n = chart_ticks(0, 1, 0, 5, t);
    CHECK(n >= 3 && n <= 5);
    CHECK_NEAR(t[0], 0, 1e-12, 0);
    for (int i = 1; i < n; i++) CHECK(t[i] > t[i - 1]);
    n = chart_ticks(1e-7, 10, 1, 9, t);
    CHECK(n >= 4 && n <= 9);
    CHECK_NEAR(log10(t[0]), round(log10(t[0])), 1e-9, 0);   /* decades */
    n = chart_ticks(0.02, 0.08, 1, 5, t);                  /* less than a decade: 1-2-5 */
    CHECK(n >= 1);
    char buf[32];
    chart_format_value(0.05, 7, buf, sizeof buf);
    CHECK(strcmp(buf, "0.05") == 0);
    chart_format_value(123456, 7, buf, sizeof buf);
    CHECK(strcmp(buf, "123k") == 0);
    chart_format_value(1.5e-5, 7, buf, sizeof buf);
    CHECK((int)strlen(buf) <= 7);
}

static void test_render(void) {
    float x[3] = {0, 5, 10}, y[3] = {0, 1, 0};
    ChartSpec s;
    memset(&s, 0, sizeof s);
    s.ascii = 1;
    s.x0 = 0; s.x1 = 10; s.y0 = 0; s.y1 = 1;
    s.series[s.nseries++] = (ChartSeries){x, y, 3, CS_DATA, 0, 0};
    s.marks[s.nmarks++] = (ChartMark){2.5, 0, "lr", CS_MARKER, 0};
    s.marks[s.nmarks++] = (ChartMark){7.5, 0.5, NULL, CS_KNOT, 1};
    TextGrid g;
    CHECK_INT(grid_init(&g, 12, 49), 0);
    chart_render(&s, &g);
    ChartArea a;
    chart_area(12, 49, &a);
    char row[256];
    /* The peak at x = 5 reaches the top row, interpolated columns rise towards it. */
    int peak = chart_col_of_x(&s, &a, 5);
    CHECK(!grid_is_blank(&g, a.row, a.col + peak));
    CHECK(strcmp(grid_at(&g, a.row, a.col + peak)->glyph, "#") == 0 ||
          strcmp(grid_at(&g, a.row, a.col + peak)->glyph, "*") == 0);
    /* The marker's line and label. */
    int mc = chart_col_of_x(&s, &a, 2.5);
    CHECK(strstr(grid_row_string(&g, a.row, row, sizeof row), "lr") != NULL);
    CHECK_INT(grid_at(&g, a.row + a.rows - 1, a.col + mc)->style, CS_MARKER);
    /* The knot as a point. */
    int kc = chart_col_of_x(&s, &a, 7.5), kr = chart_row_of_y(&s, &a, 0.5);
    CHECK(strcmp(grid_at(&g, a.row + kr, a.col + kc)->glyph, "o") == 0);
    /* Axes: the x axis row and a y label "1". */
    CHECK(strstr(grid_row_string(&g, a.row + a.rows, row, sizeof row), "----") != NULL);
    int has_one = 0;
    for (int r = 0; r < a.rows; r++) has_one |= strstr(grid_row_string(&g, r, row, sizeof row), "1 +") != NULL;
    CHECK(has_one);
    grid_free(&g);
}

static void test_auto_y(void) {
    float x[3] = {0, 1, 2}, y[3] = {2, 4, NAN};
    ChartSpec s;
    memset(&s, 0, sizeof s);
    s.x0 = 0; s.x1 = 2;
    s.series[s.nseries++] = (ChartSeries){x, y, 3, CS_DATA, 0, 0};
    chart_auto_y(&s);
    CHECK(s.y0 < 2 && s.y0 > 1.5);
    CHECK(s.y1 > 4 && s.y1 < 4.5);
    float z[2] = {0, 0.5};
    s.series[0] = (ChartSeries){x, z, 2, CS_DATA, 0, 0};
    chart_auto_y(&s);
    CHECK_NEAR(s.y0, 0, 0, 0);   /* a series that starts at zero keeps its zero baseline */
}

static void test_utf8(void) {
    CHECK_INT(utf8_width("a\u2581b"), 3);
    char buf[16];
    utf8_clip("\u2581\u2582\u2583", 2, buf, sizeof buf);
    CHECK(strcmp(buf, "\u2581\u2582") == 0);
    utf8_clip("\u2581\u2582\u2583", 5, buf, 5);   /* only whole characters fit in 5 bytes */
    CHECK(strcmp(buf, "\u2581") == 0);
}

int main(void) {
    test_mapping_roundtrip();
    test_ticks_and_format();
    test_render();
    test_auto_y();
    test_utf8();
    return check_report("test_ui_chart");
}
