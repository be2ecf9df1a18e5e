/* help.c — the help screen: generated from the key table, grouped by where keys apply, so it
 * cannot drift from what the keys do. */
#include <string.h>

#include "keymap.h"
#include "paint.h"
#include "tui_internal.h"

/* Rows of the help text: a context title or one action with its keys. */
static int help_rows(char rows[][160], CellStyle *styles, int max) {
    int n = 0;
    for (int c = 0; c < KC_COUNT && n < max; c++) {
        int any = 0;
        for (int a = 1; a < ACT_COUNT && n < max; a++) {
            char keys[96];
            keymap_keys_for((KeyContext)c, (Action)a, keys, sizeof keys);
            if (!keys[0]) continue;
            if (!any) {
                if (n && n < max) { rows[n][0] = 0; styles[n++] = CS_NORMAL; }
                snprintf(rows[n], 160, "%s", keycontext_name((KeyContext)c));
                styles[n++] = CS_TITLE;
                any = 1;
            }
            if (n < max) {
                snprintf(rows[n], 160, "  %-22s %s", keys, action_help((Action)a));
                styles[n++] = CS_NORMAL;
            }
        }
    }
    static const char *const notes[] = {
        "",
        "Mouse: click a tab, a field, a curve; in the schedule editor press on a knot,",
        "drag, release. Edits apply at the next step and are logged with their step.",
        "Invalid values are refused in place: nothing is sent to the training.",
    };
    for (size_t i = 0; i < sizeof notes / sizeof *notes && n < max; i++) {
        snprintf(rows[n], 160, "%s", notes[i]);
        styles[n++] = CS_DIM;
    }
    return n;
}

void help_draw(Tui *t) {
    char rows[160][160];
    CellStyle styles[160];
    int n = help_rows(rows, styles, 160);
    int h = t->rows - 2, w = t->cols - 4 < 90 ? t->cols - 4 : 90;
    int row = 1, col = (t->cols - w) / 2;
    paint_box(row, col, h, w, "Keys (Up/Down scroll, Esc or ? closes)");
    int visible = h - 2;
    if (t->help_scroll > n - visible) t->help_scroll = n - visible > 0 ? n - visible : 0;
    for (int i = 0; i < visible && t->help_scroll + i < n; i++)
        paint_text(row + 1 + i, col + 2, w - 4, rows[t->help_scroll + i], styles[t->help_scroll + i]);
}

void help_action(Tui *t, Action a) {
    switch (a) {
    case ACT_UP: if (t->help_scroll > 0) t->help_scroll--; break;
    case ACT_DOWN: t->help_scroll++; break;
    case ACT_PAGE_UP: t->help_scroll = t->help_scroll > 10 ? t->help_scroll - 10 : 0; break;
    case ACT_PAGE_DOWN: t->help_scroll += 10; break;
    case ACT_HOME: t->help_scroll = 0; break;
    case ACT_BACK: case ACT_HELP: case ACT_ENTER: case ACT_QUIT: t->help_open = 0; break;
    default: break;
    }
    t->dirty = 1;
}
