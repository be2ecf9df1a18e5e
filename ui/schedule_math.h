/* schedule_math.h — the arithmetic of the schedule editor, apart from any drawing.
 *
 * Times are in epochs (fractional). `now` is the run's position (global step / steps per
 * epoch): the past (t < now) already happened, so nothing here moves a milestone or knot that
 * lies before `now`, and nothing moves one into the past. */
#ifndef SHORTCUT_UI_SCHEDULE_MATH_H
#define SHORTCUT_UI_SCHEDULE_MATH_H

#include <stddef.h>

#include "schedule.h"

typedef enum RescaleMode {
    RESCALE_KEEP_EPOCHS = 0,   /* milestones and knots stay at their epoch */
    RESCALE_KEEP_FRACTION,     /* future ones move to the same fraction of the new run length */
} RescaleMode;

/* Smallest gap kept between neighbouring milestones or knots, epochs. */
#define SCHED_MIN_GAP 0.01

/* The run length changes from old_epochs to new_epochs at `now`. KEEP_FRACTION moves every
 * milestone and knot later than `now` to m * new / old, but not before `now` (and keeps them
 * increasing, SCHED_MIN_GAP apart); earlier ones stay. Warmup stays in epochs. Returns how many
 * moved. */
int sched_rescale(ScheduleConfig *s, int old_epochs, int new_epochs, double now, RescaleMode mode);

/* 1 when the schedule has positions in epochs that a change of run length could move
 * (multistep milestones or piecewise knots later than now). */
int sched_has_future_positions(const ScheduleConfig *s, double now);

/* Knot edits for piecewise schedules. Each returns 0 on success, or -1 with a one-line reason in
 * msg (then *s is unchanged). A knot before `now` is locked; a knot moves only within the open
 * interval between its neighbours (less SCHED_MIN_GAP) and not before `now`; lr >= 0. */
int sched_knot_set(ScheduleConfig *s, int k, double epoch, double lr, double now, int epochs,
                   char *msg, size_t len);
/* Insert a knot (kept sorted); *index receives its position. */
int sched_knot_add(ScheduleConfig *s, double epoch, double lr, double now, int epochs, int *index,
                   char *msg, size_t len);
int sched_knot_delete(ScheduleConfig *s, int k, double now, char *msg, size_t len);

/* Replace the schedule with a piecewise one that follows it: a knot at 0 (when now > 0), one at
 * `now`, and the rest evenly spaced to the end, `knots` in all counting the one at now (2..30).
 * Warmup is folded into the knots. */
void sched_to_piecewise(ScheduleConfig *s, double base_lr, long steps_per_epoch, int epochs,
                        double now, int knots);

/* lr at fractional epoch e (the step e * steps_per_epoch, rounded down). */
double sched_lr_at_epoch(const ScheduleConfig *s, double base_lr, long steps_per_epoch, int epochs,
                         double e);

/* "[10, 20.5]" and "[[0, 0.1], [5, 0.01]]": what config_set() reads back. */
void sched_format_milestones(const ScheduleConfig *s, char *buf, size_t len);
void sched_format_knots(const ScheduleConfig *s, char *buf, size_t len);

#endif
