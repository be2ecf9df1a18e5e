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

int log_wrap(const char *text, int width, int *starts, int *lens, int max) {
    const int n = (int)strlen(text);
    if (width < 1) width = 1;
    int rows = 0, at = 0;
    do {
        int len = n - at;
        if (len > width) {
            len = width;
            for (int k = width; k > 0; k--)   /* the last space that fits */
                if (text[at + k] == ' ') { len = k; break; }
        }
        if (rows < max) { starts[rows] = at; lens[rows] = len; }
        rows++;
        at += len;
        while (at < n && text[at] == ' ') at++;   /* the break's space starts no row */
    } while (at < n);
    return rows;
}

#define LOG_WRAP_MAX 16   /* rows one line may take (SESSION_LOG_LEN at a narrow pane) */

void log_pane_draw(const LogPane *p, int row, int col, int h, int w) {
    int r = h - 1;   /* the bottom row still free */
    for (int i = p->count - 1 - p->scroll; r >= 0; i--) {
        const LogLine *l = log_pane_line(p, i);
        if (!l) break;
        char head[48];
        format_duration(l->time_s, head, sizeof head);
        size_t hl = strlen(head);
        snprintf(head + hl, sizeof head - hl, " %6ld ", l->step);
        const int indent = (int)strlen(head);
        int starts[LOG_WRAP_MAX], lens[LOG_WRAP_MAX];
        int rows = 1;
        starts[0] = 0;
        lens[0] = (int)strlen(l->text);
        if (w - indent >= 8)   /* narrower, wrapping would spend rows on a few letters each */
            rows = log_wrap(l->text, w - indent, starts, lens, LOG_WRAP_MAX);
        if (rows > LOG_WRAP_MAX) rows = LOG_WRAP_MAX;   /* the rest is in the run's log.txt */
        const int top = r - rows + 1;
        for (int k = 0; k < rows; k++) {
            if (top + k < 0) continue;   /* a line taller than what is left shows its end */
            if (k == 0) paint_text(row + top, col, w, head, CS_DIM);
            char part[SESSION_LOG_LEN];
            snprintf(part, sizeof part, "%.*s", lens[k], l->text + starts[k]);
            paint_text(row + top + k, col + indent, w - indent, part,
                       l->is_error ? CS_BAD : CS_NORMAL);
        }
        r = top - 1;
    }
    if (p->scroll > 0 && h > 0)
        paint_textf(row, col + w - 22, 22, CS_WARN, " [%d newer below] ", p->scroll);
}
