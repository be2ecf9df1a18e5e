/* log_pane.h — the workbench's copy of the run log: it keeps more lines than a snapshot carries
 * (SESSION_LOG), picks up new ones by sequence number, and scrolls. */
#ifndef SHORTCUT_UI_LOG_PANE_H
#define SHORTCUT_UI_LOG_PANE_H

#include <stdint.h>

#include "session.h"

#define LOG_PANE_LINES 2000

typedef struct LogPane {
    LogLine lines[LOG_PANE_LINES];   /* ring */
    int start, count;
    uint64_t last_seq;
    int scroll;                      /* lines scrolled back from the newest */
} LogPane;

/* Append the snapshot's lines newer than the last seen; returns how many were new. *newest_error
 * (may be NULL) receives the newest new error line, or NULL. */
int log_pane_update(LogPane *p, const Snapshot *s, const LogLine **newest_error);
const LogLine *log_pane_line(const LogPane *p, int i);   /* 0 = oldest */
void log_pane_scroll(LogPane *p, int delta, int visible);
/* Where the rows of `text` start when it wraps at `width` columns: at the last space that fits
 * (the space itself dropped), or mid-word when a word is wider than the row. Writes up to
 * `max` byte offsets and lengths; returns the number of rows (at least 1). Bytes count as
 * columns: the log's text is ASCII (paint_text shows control bytes as '?'). */
int log_wrap(const char *text, int width, int *starts, int *lens, int max);
/* Draw the newest lines (minus scroll) into rows [row, row + h), a long line wrapping onto the
 * rows above, indented under its text; scrolling counts lines, not rows. */
void log_pane_draw(const LogPane *p, int row, int col, int h, int w);

#endif
