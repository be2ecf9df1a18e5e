/* grid.c — styled glyph rectangles and small UTF-8 helpers (see grid.h). */
#include "grid.h"

#include <stdlib.h>
#include <string.h>

int utf8_len(const char *s) {
    unsigned char c = (unsigned char)s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    for (int i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) return 1;
    return n;
}

int utf8_width(const char *s) {
    int w = 0;
    while (s && *s) {
        s += utf8_len(s);
        w++;
    }
    return w;
}

void utf8_clip(const char *s, int cells, char *buf, size_t len) {
    size_t used = 0;
    if (!len) return;
    for (int c = 0; s && *s && c < cells; c++) {
        int n = utf8_len(s);
        if (used + (size_t)n + 1 > len) break;
        memcpy(buf + used, s, (size_t)n);
        used += (size_t)n;
        s += n;
    }
    buf[used] = 0;
}

int grid_init(TextGrid *g, int rows, int cols) {
    g->rows = g->cols = 0;
    g->cells = NULL;
    if (rows <= 0 || cols <= 0) return 0;
    g->cells = calloc((size_t)rows * (size_t)cols, sizeof(TextCell));
    if (!g->cells) return -1;
    g->rows = rows;
    g->cols = cols;
    grid_clear(g);
    return 0;
}

void grid_free(TextGrid *g) {
    if (!g) return;
    free(g->cells);
    g->cells = NULL;
    g->rows = g->cols = 0;
}

void grid_clear(TextGrid *g) {
    for (int i = 0; i < g->rows * g->cols; i++) {
        g->cells[i].glyph[0] = ' ';
        g->cells[i].glyph[1] = 0;
        g->cells[i].style = CS_NORMAL;
    }
}

void grid_put(TextGrid *g, int r, int c, const char *glyph, CellStyle style) {
    if (r < 0 || c < 0 || r >= g->rows || c >= g->cols || !glyph || !*glyph) return;
    TextCell *cell = &g->cells[r * g->cols + c];
    int n = utf8_len(glyph);
    memcpy(cell->glyph, glyph, (size_t)n);
    cell->glyph[n] = 0;
    cell->style = (unsigned char)style;
}

int grid_text(TextGrid *g, int r, int c, const char *text, CellStyle style) {
    int written = 0;
    while (text && *text) {
        grid_put(g, r, c + written, text, style);
        text += utf8_len(text);
        written++;
    }
    return written;
}

const TextCell *grid_at(const TextGrid *g, int r, int c) {
    if (r < 0 || c < 0 || r >= g->rows || c >= g->cols) return NULL;
    return &g->cells[r * g->cols + c];
}

int grid_is_blank(const TextGrid *g, int r, int c) {
    const TextCell *cell = grid_at(g, r, c);
    return cell && cell->glyph[0] == ' ' && cell->glyph[1] == 0;
}

char *grid_row_string(const TextGrid *g, int r, char *buf, size_t len) {
    size_t used = 0;
    if (!len) return buf;
    for (int c = 0; c < g->cols && r >= 0 && r < g->rows; c++) {
        const char *gl = g->cells[r * g->cols + c].glyph;
        size_t n = strlen(gl);
        if (used + n + 1 > len) break;
        memcpy(buf + used, gl, n);
        used += n;
    }
    buf[used] = 0;
    return buf;
}
