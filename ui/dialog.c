/* dialog.c — drawing the modal dialog (confirmations, choices, the file-name prompt). What an
 * answer does is decided in tui.c (dialog_answer); here is only how it looks. */
#include <string.h>

#include "paint.h"
#include "tui_internal.h"

void dialog_draw(Tui *t) {
    const Dialog *d = &t->dialog;
    /* Lines of the text, wrapped at the box width. */
    int w = t->cols - 8 < 76 ? t->cols - 8 : 76;
    char lines[16][128];
    int n = 0;
    const char *p = d->text;
    while (*p && n < 14) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        while (len > w - 4 && n < 14) {
            int cut = w - 4;
            while (cut > 0 && p[cut] != ' ') cut--;
            if (cut == 0) cut = w - 4;
            snprintf(lines[n++], sizeof lines[0], "%.*s", cut, p);
            p += cut;
            len -= cut;
            while (*p == ' ' && len > 0) { p++; len--; }
        }
        if (n < 14) snprintf(lines[n++], sizeof lines[0], "%.*s", len, p);
        p += len;
        if (*p == '\n') p++;
    }
    int h = n + 4 + (d->kind == DLG_PROMPT ? 1 : 0);
    int row = (t->rows - h) / 2, col = (t->cols - w) / 2;
    paint_box(row, col, h, w, d->title);
    for (int i = 0; i < n; i++) paint_text(row + 1 + i, col + 2, w - 4, lines[i], CS_NORMAL);
    int r = row + 1 + n;
    if (d->kind == DLG_PROMPT) {
        paint_fill(r, col + 2, w - 4, CS_SELECTED);
        int cur = lineedit_cursor_cells(&d->edit);
        int vw = w - 4, skip = cur >= vw ? cur - vw + 1 : 0;
        const char *q = d->edit.buf;
        for (int i = 0; i < skip && *q; i++) q += utf8_len(q);
        paint_text(r, col + 2, vw, q, CS_SELECTED);
        t->cursor_row = r;
        t->cursor_col = col + 2 + cur - skip;
        paint_text(r + 2, col + 2, w - 4, "Enter: save   Esc: cancel", CS_DIM);
        return;
    }
    int c = col + 2;
    for (int i = 0; i < d->nchoices; i++)
        c += paint_textf(r + 1, c, col + w - 2 - c, i == 0 ? CS_TITLE : CS_NORMAL, "[%s]  ",
                         d->choice_label[i]);
}
