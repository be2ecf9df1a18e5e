/* status_line.h — the one-line summary of a run, and the number formats the panels share.
 *
 * Pure: builds text from a Snapshot, dropping the least important parts when the line is
 * narrow, so it is unit tested without a terminal. */
#ifndef SHORTCUT_UI_STATUS_LINE_H
#define SHORTCUT_UI_STATUS_LINE_H

#include <stddef.h>

#include "session.h"

/* "1:02:03", "04:05"; "--:--" for negative (unknown). */
void format_duration(double seconds, char *buf, size_t len);

/* "cpu fp32" from the session's device line ("cpu: AMD EPYC, 2 threads, ..., fp32"). */
void status_device_short(const char *device_line, char *buf, size_t len);

/* The state word shown first: "RUNNING", "PAUSED", "ERROR", "STOPPING"... `stopping` is 1 once
 * the user asked to quit and the worker has not ended yet. */
const char *status_state_word(const Snapshot *s, int stopping);

/* The status line after the state word, at most `width` display cells: device and precision,
 * epoch/step, images/s, ETA, elapsed, checkpoint age; parts that do not fit are left out, least
 * important first. For an error state the error text comes first. */
void status_line_format(const Snapshot *s, int width, char *buf, size_t len);

#endif
