/* schedule.h — learning-rate schedules as pure functions of (schedule, step).
 *
 * The learning rate at a step depends only on the ScheduleConfig, the base lr, the step and the
 * run's geometry (steps per epoch, total epochs). Nothing is accumulated, so the workbench can
 * swap the schedule mid-run and only the future changes, and a resumed run gets the same lr as
 * an uninterrupted one. Times in a ScheduleConfig are in epochs (fractional allowed); the time
 * of step k is t = k / steps_per_epoch epochs, so every schedule moves per step, and at epoch
 * boundaries it equals PyTorch's per-epoch scheduler.
 *
 * Warmup composes with every kind by multiplication: while t < warmup_epochs,
 *   lr(k) = base_schedule(k) * (warmup_start + (1 - warmup_start) * t / warmup_epochs),
 * i.e. torch LinearLR(start_factor=warmup_start, total_iters=warmup_epochs*steps_per_epoch)
 * chained with the base schedule. Cosine starts its half period at the end of the warmup (it is
 * flat at the base lr during it), so with cosine the lr rises linearly from warmup_start * lr to
 * lr and then anneals to min_lr at the last epoch.
 *
 * Onecycle is torch OneCycleLR(max_lr=base_lr, total_steps=epochs*steps_per_epoch, pct_start,
 * div_factor, final_div_factor, anneal_strategy='cos', three_phase=False) for the learning rate;
 * the momentum cycling that OneCycleLR also does is not applied (momentum stays train.momentum).
 * Past the last step every schedule holds its final value. */
#ifndef SHORTCUT_SCHEDULE_H
#define SHORTCUT_SCHEDULE_H

#define SCHEDULE_MAX_MILESTONES 16
#define SCHEDULE_MAX_KNOTS 32

typedef enum ScheduleKind {
    SCHEDULE_CONSTANT = 0,
    SCHEDULE_MULTISTEP,   /* lr * gamma^(number of milestones passed) */
    SCHEDULE_COSINE,      /* lr -> min_lr along a half cosine over the run (after warmup) */
    SCHEDULE_ONECYCLE,    /* torch OneCycleLR (cos anneal): lr/div_factor -> lr at pct_start
                             -> lr/(div_factor*final_div_factor) at the end */
    SCHEDULE_PIECEWISE,   /* linear interpolation between (epoch, lr) knots; flat outside */
} ScheduleKind;

#define SCHEDULE_KIND_COUNT 5
/* "constant", "multistep", "cosine", "onecycle", "piecewise", indexed by ScheduleKind, then
 * NULL (the config's field table uses it as its list of names). */
extern const char *const SCHEDULE_KIND_NAMES[SCHEDULE_KIND_COUNT + 1];

typedef struct ScheduleConfig {
    ScheduleKind kind;
    int num_milestones;
    float milestones[SCHEDULE_MAX_MILESTONES];   /* epochs, increasing */
    float gamma;
    float warmup_epochs;     /* linear warmup from warmup_start * lr, composes with any kind */
    float warmup_start;      /* fraction of the lr to start the warmup at (default 0.0) */
    float min_lr;            /* cosine floor */
    float pct_start;         /* onecycle */
    float div_factor;        /* onecycle */
    float final_div_factor;  /* onecycle */
    int num_knots;
    float knot_epoch[SCHEDULE_MAX_KNOTS];        /* increasing */
    float knot_lr[SCHEDULE_MAX_KNOTS];           /* absolute learning rates (base_lr unused) */
} ScheduleConfig;

/* Defaults: constant, no milestones, gamma 0.1, no warmup (warmup_start 0), min_lr 0,
 * onecycle pct_start 0.3, div 25, final_div 1e4, no knots. */
void schedule_defaults(ScheduleConfig *s);

/* The learning rate for optimizer step `step` (0-based) of a run with `steps_per_epoch` steps
 * per epoch and `epochs` epochs, base learning rate `base_lr`. Out-of-range geometry is clamped
 * (step < 0 -> 0, steps_per_epoch < 1 -> 1, epochs < 1 -> 1) rather than failing. */
double schedule_lr(const ScheduleConfig *s, double base_lr, long step, long steps_per_epoch,
                   int epochs);

const char *schedule_kind_name(ScheduleKind k);
/* Returns -1 when `name` is not a schedule kind. */
int schedule_kind_parse(const char *name);

#endif
