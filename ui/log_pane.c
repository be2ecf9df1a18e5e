/* log_pane.c — the log pane (see log_pane.h). */
#include "log_pane.h"

#include <stdio.h>
#include <string.h>

#include "paint.h"
#include "status_line.h"

int log_pane_update(LogPane *p, const Snapshot *s, const LogLine **newest_error) {
    int added = 0;
    if (newest_error) *newest_error = NULL;
    for (int i = 0; i < s->log_len; i++) {
        const LogLine *l = &s->log[i];
        if (l->seq <= p->last_seq) continue;
        p->last_seq = l->seq;
        int at;
        if (p->count < LOG_PANE_LINES) {
            at = (p->start + p->count) % LOG_PANE_LINES;
            p->count++;
        } else {
            at = p->start;
            p->start = (p->start + 1) % LOG_PANE_LINES;
        }
        p->lines[at] = *l;
        if (l->is_error && newest_error) *newest_error = &p->lines[at];
        added++;
        /* Keep a scrolled-back view on the same lines while new ones arrive. */
        if (p->scroll > 0) p->scroll++;
    }
    return added;
}

const LogLine *log_pane_line(const LogPane *p, int i) {
    if (i < 0 || i >= p->count) return NULL;
    return &p->lines[(p->start + i) % LOG_PANE_LINES];
}

void log_pane_scroll(LogPane *p, int delta, int visible) {
    p->scroll += delta;
    int max = p->count - visible;
    if (p->scroll > max) p->scroll = max;
    if (p->scroll < 0) p->scroll = 0;
}

void log_pane_draw(const LogPane *p, int row, int col, int h, int w) {
    int last = p->count - 1 - p->scroll;
    for (int r = h - 1, i = last; r >= 0; r--, i--) {
        const LogLine *l = log_pane_line(p, i);
        if (!l) break;
        char when[32];
        format_duration(l->time_s, when, sizeof when);
        int used = paint_textf(row + r, col, w, CS_DIM, "%s %6ld ", when, l->step);
        paint_text(row + r, col + used, w - used, l->text, l->is_error ? CS_BAD : CS_NORMAL);
    }
    if (p->scroll > 0 && h > 0)
        paint_textf(row, col + w - 22, 22, CS_WARN, " [%d newer below] ", p->scroll);
}
