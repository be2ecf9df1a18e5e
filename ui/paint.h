/* paint.h — drawing text, grids and boxes on the ncurses screen with the theme's styles.
 * Only the main thread calls these. Every function clips at the screen edges. */
#ifndef SHORTCUT_UI_PAINT_H
#define SHORTCUT_UI_PAINT_H

#include "grid.h"

/* Text from (row, col), at most maxw cells (UTF-8 aware); returns the cells written. */
int paint_text(int row, int col, int maxw, const char *text, CellStyle style);
/* printf into paint_text. */
int paint_textf(int row, int col, int maxw, CellStyle style, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* w blank cells in a style. */
void paint_fill(int row, int col, int w, CellStyle style);
void paint_grid(const TextGrid *g, int row, int col);
/* Horizontal and vertical lines (box-drawing glyphs, or - and | in ASCII). */
void paint_hline(int row, int col, int w, CellStyle style);
void paint_vline(int row, int col, int h, CellStyle style);
/* A frame with a title in its top edge. */
void paint_box(int row, int col, int h, int w, const char *title);
/* Horizontal rule with an optional title: "── title ──────". */
void paint_rule(int row, int col, int w, const char *title);

#endif
