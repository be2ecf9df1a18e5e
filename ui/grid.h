/* grid.h — a rectangle of styled glyphs that views draw into before it reaches the terminal.
 *
 * Charts render into a TextGrid (pure, unit-testable); paint.c copies a grid onto ncurses with
 * the theme's attributes. A cell holds one glyph of display width 1 (ASCII or a UTF-8 sequence of
 * up to 4 bytes) and a style. */
#ifndef SHORTCUT_UI_GRID_H
#define SHORTCUT_UI_GRID_H

#include <stddef.h>

/* What a cell shows, mapped to colours or monochrome attributes by the theme (term.h). */
typedef enum CellStyle {
    CS_NORMAL = 0,
    CS_DIM,        /* secondary text, irrelevant fields */
    CS_AXIS,
    CS_DATA,       /* the main series */
    CS_DATA2,      /* a second series (raw behind smoothed, test behind train) */
    CS_PAST,       /* what already happened (schedule editor) */
    CS_FUTURE,     /* what the edited schedule will do */
    CS_MARKER,     /* edits on the curves */
    CS_NOW,        /* the current position */
    CS_KNOT,
    CS_SELECTED,
    CS_GOOD,
    CS_WARN,
    CS_BAD,
    CS_TITLE,
    CS_COUNT
} CellStyle;

typedef struct TextCell {
    char glyph[5];
    unsigned char style;
} TextCell;

typedef struct TextGrid {
    int rows, cols;
    TextCell *cells;   /* rows * cols, row-major */
} TextGrid;

/* Allocate rows x cols blank cells; returns 0, -1 when out of memory (the grid is then empty). */
int grid_init(TextGrid *g, int rows, int cols);
void grid_free(TextGrid *g);
void grid_clear(TextGrid *g);
/* One glyph (first UTF-8 character of `glyph`) at (r, c); outside the grid does nothing. */
void grid_put(TextGrid *g, int r, int c, const char *glyph, CellStyle style);
/* A string from (r, c) to the right, one cell per character (UTF-8 aware), clipped; returns the
 * cells written. */
int grid_text(TextGrid *g, int r, int c, const char *text, CellStyle style);
/* 1 when the cell is a blank space. */
int grid_is_blank(const TextGrid *g, int r, int c);
const TextCell *grid_at(const TextGrid *g, int r, int c);
/* Row r as one UTF-8 string (for tests and text captures); returns buf. */
char *grid_row_string(const TextGrid *g, int r, char *buf, size_t len);

/* Bytes of the UTF-8 sequence starting at s (1 for ASCII and for invalid bytes). */
int utf8_len(const char *s);
/* Display cells of a UTF-8 string, counting every character as one cell. */
int utf8_width(const char *s);
/* Copy at most `cells` characters of s into buf (NUL-terminated, whole characters only). */
void utf8_clip(const char *s, int cells, char *buf, size_t len);

#endif
