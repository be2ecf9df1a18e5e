/* paint.c — styled output to the ncurses screen (see paint.h). */
#include "paint.h"

#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "terminal.h"

int paint_text(int row, int col, int maxw, const char *text, CellStyle style) {
    if (row < 0 || row >= LINES || col >= COLS || maxw <= 0 || !text) return 0;
    if (col + maxw > COLS) maxw = COLS - col;
    if (maxw <= 0) return 0;
    char buf[2048];
    utf8_clip(text, maxw, buf, sizeof buf);
    /* Control characters would move the cursor: show them as '?'. */
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 32) *p = '?';
    attrset(term_style(style));
    mvaddstr(row, col, buf);
    attrset(A_NORMAL);
    return utf8_width(buf);
}

int paint_textf(int row, int col, int maxw, CellStyle style, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return paint_text(row, col, maxw, buf, style);
}

void paint_fill(int row, int col, int w, CellStyle style) {
    if (row < 0 || row >= LINES) return;
    if (col < 0) { w += col; col = 0; }
    if (col + w > COLS) w = COLS - col;
    if (w <= 0) return;
    attrset(term_style(style));
    mvhline(row, col, ' ', w);
    attrset(A_NORMAL);
}

void paint_grid(const TextGrid *g, int row, int col) {
    for (int r = 0; r < g->rows; r++) {
        if (row + r < 0 || row + r >= LINES) continue;
        int cur = -1;
        for (int c = 0; c < g->cols && col + c < COLS; c++) {
            const TextCell *cell = &g->cells[r * g->cols + c];
            if (cell->style != cur) {
                cur = cell->style;
                attrset(term_style((CellStyle)cur));
            }
            mvaddstr(row + r, col + c, cell->glyph);
        }
    }
    attrset(A_NORMAL);
}

/* Lines are drawn with the theme's own glyphs rather than the terminal's alternate character
 * set: in a UTF-8 locale they are box-drawing characters that every capture shows as such. */
static const char *line_glyph(int which) {
    static const char *const uni[6] = {"\u2500", "\u2502", "\u250c", "\u2510", "\u2514", "\u2518"};
    static const char *const asc[6] = {"-", "|", "+", "+", "+", "+"};
    return term_theme()->unicode ? uni[which] : asc[which];
}

void paint_hline(int row, int col, int w, CellStyle style) {
    for (int c = 0; c < w; c++) paint_text(row, col + c, 1, line_glyph(0), style);
}

void paint_vline(int row, int col, int h, CellStyle style) {
    for (int r = 0; r < h; r++) paint_text(row + r, col, 1, line_glyph(1), style);
}

void paint_box(int row, int col, int h, int w, const char *title) {
    if (h < 2 || w < 2) return;
    for (int r = row + 1; r < row + h - 1; r++) paint_fill(r, col + 1, w - 2, CS_NORMAL);
    paint_hline(row, col + 1, w - 2, CS_NORMAL);
    paint_hline(row + h - 1, col + 1, w - 2, CS_NORMAL);
    paint_vline(row + 1, col, h - 2, CS_NORMAL);
    paint_vline(row + 1, col + w - 1, h - 2, CS_NORMAL);
    paint_text(row, col, 1, line_glyph(2), CS_NORMAL);
    paint_text(row, col + w - 1, 1, line_glyph(3), CS_NORMAL);
    paint_text(row + h - 1, col, 1, line_glyph(4), CS_NORMAL);
    paint_text(row + h - 1, col + w - 1, 1, line_glyph(5), CS_NORMAL);
    if (title && *title) paint_textf(row, col + 2, w - 4, CS_TITLE, " %s ", title);
}

void paint_rule(int row, int col, int w, const char *title) {
    if (w <= 0 || row < 0 || row >= LINES) return;
    paint_hline(row, col, w, CS_AXIS);
    if (title && *title) paint_textf(row, col + 1, w - 2, CS_TITLE, " %s ", title);
}
