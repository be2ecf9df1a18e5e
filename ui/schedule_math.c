/* schedule_math.c — schedule editor arithmetic (see schedule_math.h).
 *
 * Invariant kept by every edit: milestone and knot epochs stay strictly increasing (the config's
 * own rule), and whatever lies before `now` is left exactly as it was. */
#include "schedule_math.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int rescale_list(float *v, int n, int old_epochs, int new_epochs, double now) {
    int moved = 0;
    double prev = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (v[i] > now) {
            double m = (double)v[i] * new_epochs / old_epochs;
            if (m < now) m = now;
            if (m < prev + SCHED_MIN_GAP) m = prev + SCHED_MIN_GAP;
            if ((float)m != v[i]) moved++;
            v[i] = (float)m;
        }
        prev = v[i];
    }
    return moved;
}

int sched_rescale(ScheduleConfig *s, int old_epochs, int new_epochs, double now, RescaleMode mode) {
    if (mode != RESCALE_KEEP_FRACTION || old_epochs <= 0 || new_epochs <= 0 ||
        old_epochs == new_epochs)
        return 0;
    int moved = rescale_list(s->milestones, s->num_milestones, old_epochs, new_epochs, now);
    moved += rescale_list(s->knot_epoch, s->num_knots, old_epochs, new_epochs, now);
    return moved;
}

int sched_has_future_positions(const ScheduleConfig *s, double now) {
    if (s->kind == SCHEDULE_MULTISTEP)
        for (int i = 0; i < s->num_milestones; i++)
            if (s->milestones[i] > now) return 1;
    if (s->kind == SCHEDULE_PIECEWISE)
        for (int i = 0; i < s->num_knots; i++)
            if (s->knot_epoch[i] > now) return 1;
    return 0;
}

static int fail(char *msg, size_t len, const char *text) {
    if (msg && len) snprintf(msg, len, "%s", text);
    return -1;
}

int sched_knot_set(ScheduleConfig *s, int k, double epoch, double lr, double now, int epochs,
                   char *msg, size_t len) {
    if (k < 0 || k >= s->num_knots) return fail(msg, len, "no such knot");
    if (s->knot_epoch[k] < now)
        return fail(msg, len, "this knot is in the past (before the current position): locked");
    double lo = k > 0 ? s->knot_epoch[k - 1] + SCHED_MIN_GAP : 0;
    double hi = k + 1 < s->num_knots ? s->knot_epoch[k + 1] - SCHED_MIN_GAP : (double)epochs;
    if (lo < now) lo = now;
    if (hi < lo) return fail(msg, len, "no room to move this knot");
    if (!isfinite(epoch) || !isfinite(lr)) return fail(msg, len, "not a number");
    if (epoch < lo) epoch = lo;
    if (epoch > hi) epoch = hi;
    if (lr < 0) lr = 0;
    s->knot_epoch[k] = (float)epoch;
    s->knot_lr[k] = (float)lr;
    return 0;
}

int sched_knot_add(ScheduleConfig *s, double epoch, double lr, double now, int epochs, int *index,
                   char *msg, size_t len) {
    if (s->num_knots >= SCHEDULE_MAX_KNOTS) return fail(msg, len, "no more knots (32 at most)");
    if (!isfinite(epoch) || !isfinite(lr) || lr < 0) return fail(msg, len, "not a valid knot");
    if (epoch < now) return fail(msg, len, "a new knot cannot go in the past");
    if (epoch > epochs) epoch = epochs;
    int at = 0;
    while (at < s->num_knots && s->knot_epoch[at] < epoch) at++;
    if ((at > 0 && epoch - s->knot_epoch[at - 1] < SCHED_MIN_GAP) ||
        (at < s->num_knots && s->knot_epoch[at] - epoch < SCHED_MIN_GAP))
        return fail(msg, len, "too close to an existing knot");
    for (int i = s->num_knots; i > at; i--) {
        s->knot_epoch[i] = s->knot_epoch[i - 1];
        s->knot_lr[i] = s->knot_lr[i - 1];
    }
    s->knot_epoch[at] = (float)epoch;
    s->knot_lr[at] = (float)lr;
    s->num_knots++;
    if (index) *index = at;
    return 0;
}

int sched_knot_delete(ScheduleConfig *s, int k, double now, char *msg, size_t len) {
    if (k < 0 || k >= s->num_knots) return fail(msg, len, "no such knot");
    if (s->knot_epoch[k] < now) return fail(msg, len, "this knot is in the past: locked");
    if (s->num_knots <= 1) return fail(msg, len, "a piecewise schedule needs at least one knot");
    for (int i = k; i + 1 < s->num_knots; i++) {
        s->knot_epoch[i] = s->knot_epoch[i + 1];
        s->knot_lr[i] = s->knot_lr[i + 1];
    }
    s->num_knots--;
    return 0;
}

double sched_lr_at_epoch(const ScheduleConfig *s, double base_lr, long steps_per_epoch, int epochs,
                         double e) {
    if (steps_per_epoch < 1) steps_per_epoch = 1;
    long step = (long)floor(e * (double)steps_per_epoch + 1e-9);
    return schedule_lr(s, base_lr, step, steps_per_epoch, epochs);
}

void sched_to_piecewise(ScheduleConfig *s, double base_lr, long steps_per_epoch, int epochs,
                        double now, int knots) {
    ScheduleConfig old = *s;
    if (knots < 2) knots = 2;
    if (knots > SCHEDULE_MAX_KNOTS - 1) knots = SCHEDULE_MAX_KNOTS - 1;
    if (now < 0) now = 0;
    if (now > epochs) now = epochs;
    int n = 0;
    if (now > 0) {
        s->knot_epoch[n] = 0;
        s->knot_lr[n] = (float)sched_lr_at_epoch(&old, base_lr, steps_per_epoch, epochs, 0);
        n++;
    }
    for (int i = 0; i < knots; i++) {
        double e = now + (epochs - now) * (double)i / (knots - 1);
        if (n > 0 && e - s->knot_epoch[n - 1] < SCHED_MIN_GAP) continue;
        /* The knot's lr is the old schedule's at the knot as stored (a float epoch), so both
         * agree on the step grid; the last knot takes the lr of the last step. */
        s->knot_epoch[n] = (float)e;
        double at = i == knots - 1 ? e - 1.0 / (double)(steps_per_epoch > 0 ? steps_per_epoch : 1)
                                   : (double)s->knot_epoch[n];
        s->knot_lr[n] = (float)sched_lr_at_epoch(&old, base_lr, steps_per_epoch, epochs, at);
        n++;
    }
    s->num_knots = n;
    s->kind = SCHEDULE_PIECEWISE;
    s->warmup_epochs = 0;
    s->warmup_start = 0;
}

static void format_float(double v, char *buf, size_t len) {
    snprintf(buf, len, "%.6g", v);
}

void sched_format_milestones(const ScheduleConfig *s, char *buf, size_t len) {
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->num_milestones && used < len; i++) {
        char v[32];
        format_float(s->milestones[i], v, sizeof v);
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", v);
    }
    if (used < len) snprintf(buf + used, len - used, "]");
}

void sched_format_knots(const ScheduleConfig *s, char *buf, size_t len) {
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->num_knots && used < len; i++) {
        char e[32], l[32];
        format_float(s->knot_epoch[i], e, sizeof e);
        format_float(s->knot_lr[i], l, sizeof l);
        used += (size_t)snprintf(buf + used, len - used, "%s[%s, %s]", i ? ", " : "", e, l);
    }
    if (used < len) snprintf(buf + used, len - used, "]");
}
