/* schedule.c — learning-rate schedules as pure functions of the step (see schedule.h).
 *
 * Every function here reads only its arguments: no statics that change, no accumulated state,
 * so any step can be asked for in any order and the answer never depends on history. Time is
 * measured in epochs as a double (t = step / steps_per_epoch) so fractional epochs in the config
 * (warmup 0.5, a milestone at 2.5) mean what they say. */
#include "schedule.h"

#include <math.h>
#include <string.h>

const char *const SCHEDULE_KIND_NAMES[SCHEDULE_KIND_COUNT + 1] = {
    "constant", "multistep", "cosine", "onecycle", "piecewise", NULL,
};

void schedule_defaults(ScheduleConfig *s) {
    memset(s, 0, sizeof *s);
    s->kind = SCHEDULE_CONSTANT;
    s->gamma = 0.1f;
    s->warmup_epochs = 0.0f;
    s->warmup_start = 0.0f;
    s->min_lr = 0.0f;
    s->pct_start = 0.3f;
    s->div_factor = 25.0f;
    s->final_div_factor = 1e4f;
}

/* Milestones are floats, so 0.1 epochs of 10 steps is 1.0000000149 steps; a relative tolerance
 * far above float rounding (6e-8) and far below one step keeps "the milestone's step" exact. */
static double multistep(const ScheduleConfig *s, double base_lr, long step, long spe) {
    double lr = base_lr;
    for (int i = 0; i < s->num_milestones && i < SCHEDULE_MAX_MILESTONES; i++) {
        double at = (double)s->milestones[i] * (double)spe;
        if ((double)step >= at - 1e-7 * fabs(at)) lr *= s->gamma;
    }
    return lr;
}

static double cos_anneal(double start, double end, double pct) {
    return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0);
}

/* Cosine over [warmup end, epochs]; flat at the base lr before it, min_lr after it. */
static double cosine(const ScheduleConfig *s, double base_lr, double t, int epochs) {
    double w = s->warmup_epochs > 0 ? s->warmup_epochs : 0.0;
    if (t >= (double)epochs) return s->min_lr;
    if (t <= w) return base_lr;
    double u = (t - w) / ((double)epochs - w);
    if (u > 1.0) u = 1.0;
    return cos_anneal(base_lr, s->min_lr, u);
}

/* torch.optim.lr_scheduler.OneCycleLR (1.13), anneal_strategy='cos', three_phase=False:
 * phase 1 ends at step pct_start*total - 1 (a float), phase 2 at total - 1. */
static double onecycle(const ScheduleConfig *s, double base_lr, long step, long total) {
    double initial = base_lr / s->div_factor;
    double floor_lr = initial / s->final_div_factor;
    double end1 = (double)s->pct_start * (double)total - 1.0;
    double end2 = (double)total - 1.0;
    double k = (double)(step < total - 1 ? step : total - 1);
    if (k <= end1) {
        /* Torch divides by end1 here; a first phase shorter than one step has no ramp. */
        if (end1 <= 0.0) return base_lr;
        return cos_anneal(initial, base_lr, k / end1);
    }
    if (end2 <= end1) return floor_lr;
    return cos_anneal(base_lr, floor_lr, (k - end1) / (end2 - end1));
}

static double piecewise(const ScheduleConfig *s, double base_lr, double t) {
    int n = s->num_knots < SCHEDULE_MAX_KNOTS ? s->num_knots : SCHEDULE_MAX_KNOTS;
    if (n <= 0) return base_lr;
    if (t <= s->knot_epoch[0]) return s->knot_lr[0];
    if (t >= s->knot_epoch[n - 1]) return s->knot_lr[n - 1];
    for (int i = 0; i + 1 < n; i++) {
        double e0 = s->knot_epoch[i], e1 = s->knot_epoch[i + 1];
        if (t < e1) {
            if (e1 <= e0) return s->knot_lr[i + 1];
            double f = (t - e0) / (e1 - e0);
            return s->knot_lr[i] + f * ((double)s->knot_lr[i + 1] - s->knot_lr[i]);
        }
    }
    return s->knot_lr[n - 1];
}

double schedule_lr(const ScheduleConfig *s, double base_lr, long step, long steps_per_epoch,
                   int epochs) {
    if (step < 0) step = 0;
    if (steps_per_epoch < 1) steps_per_epoch = 1;
    if (epochs < 1) epochs = 1;
    double t = (double)step / (double)steps_per_epoch;

    double lr;
    switch (s->kind) {
    case SCHEDULE_MULTISTEP: lr = multistep(s, base_lr, step, steps_per_epoch); break;
    case SCHEDULE_COSINE: lr = cosine(s, base_lr, t, epochs); break;
    case SCHEDULE_ONECYCLE: lr = onecycle(s, base_lr, step, (long)epochs * steps_per_epoch); break;
    case SCHEDULE_PIECEWISE: lr = piecewise(s, base_lr, t); break;
    case SCHEDULE_CONSTANT:
    default: lr = base_lr; break;
    }

    if (s->warmup_epochs > 0 && t < s->warmup_epochs) {
        double f = s->warmup_start + (1.0 - s->warmup_start) * (t / s->warmup_epochs);
        lr *= f;
    }
    return lr;
}

const char *schedule_kind_name(ScheduleKind k) {
    if ((int)k < 0 || (int)k >= SCHEDULE_KIND_COUNT) return "unknown";
    return SCHEDULE_KIND_NAMES[k];
}

int schedule_kind_parse(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < SCHEDULE_KIND_COUNT; i++)
        if (strcmp(name, SCHEDULE_KIND_NAMES[i]) == 0) return i;
    return -1;
}
