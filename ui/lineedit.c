/* lineedit.c — one-line editing (see lineedit.h). */
#include "lineedit.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "grid.h"

void lineedit_set(LineEdit *e, const char *text) {
    snprintf(e->buf, sizeof e->buf, "%s", text ? text : "");
    e->cursor = (int)strlen(e->buf);
    e->select_all = 1;
}

static int prev_boundary(const char *s, int at) {
    if (at <= 0) return 0;
    at--;
    while (at > 0 && ((unsigned char)s[at] & 0xC0) == 0x80) at--;
    return at;
}

int lineedit_cursor_cells(const LineEdit *e) {
    int cells = 0;
    for (int i = 0; i < e->cursor && e->buf[i];) {
        i += utf8_len(e->buf + i);
        cells++;
    }
    return cells;
}

int lineedit_key(LineEdit *e, int key) {
    int len = (int)strlen(e->buf);
    int was_select = e->select_all;
    e->select_all = 0;
    switch (key) {
    case KEY_LEFT: e->cursor = prev_boundary(e->buf, e->cursor); return 1;
    case KEY_RIGHT:
        if (e->cursor < len) e->cursor += utf8_len(e->buf + e->cursor);
        return 1;
    case KEY_HOME: case 1: e->cursor = 0; return 1;             /* Ctrl-A */
    case KEY_END: case 5: e->cursor = len; return 1;             /* Ctrl-E */
    case KEY_BACKSPACE: case 127: case 8:
        if (was_select) { e->buf[0] = 0; e->cursor = 0; return 1; }
        if (e->cursor > 0) {
            int p = prev_boundary(e->buf, e->cursor);
            memmove(e->buf + p, e->buf + e->cursor, (size_t)(len - e->cursor + 1));
            e->cursor = p;
        }
        return 1;
    case KEY_DC: case 4:                                         /* Delete, Ctrl-D */
        if (e->cursor < len) {
            int n = utf8_len(e->buf + e->cursor);
            memmove(e->buf + e->cursor, e->buf + e->cursor + n, (size_t)(len - e->cursor - n + 1));
        }
        return 1;
    case 21: e->buf[0] = 0; e->cursor = 0; return 1;             /* Ctrl-U */
    default: break;
    }
    if (key >= 32 && key < 256 && key != 127) {
        if (was_select) { e->buf[0] = 0; e->cursor = 0; len = 0; }
        if (len + 1 >= LINEEDIT_MAX) return 1;
        memmove(e->buf + e->cursor + 1, e->buf + e->cursor, (size_t)(len - e->cursor + 1));
        e->buf[e->cursor++] = (char)key;
        return 1;
    }
    e->select_all = was_select;
    return 0;
}
