/* lossscale.h — dynamic loss scaling for fp16 training, as torch.cuda.amp.GradScaler does it.
 *
 * fp16 holds magnitudes down to about 6e-8 only, and many gradients are smaller: they would
 * flush to zero. So the loss gradient is multiplied by a scale S before the backward pass and
 * every gradient is divided by S again in the optimizer step. S is a power of two, which makes
 * both multiplications exact: in fp32 a scaled run is bit-identical to an unscaled one.
 *
 * When a step's gradients hold an infinity or a NaN (the scaled values overflowed), the step
 * is skipped, weights and momentum untouched, and S halves. After `growth_interval` good steps
 * in a row S doubles, to find the largest scale that does not overflow. A scale that keeps
 * failing all the way down to LOSS_SCALE_MIN_LOG2 means the gradients are not finite at any
 * scale: the run has diverged and the trainer stops it. Pure logic, no backend calls. */
#ifndef SHORTCUT_LOSSSCALE_H
#define SHORTCUT_LOSSSCALE_H

#define LOSS_SCALE_MIN_LOG2 (-24)
#define LOSS_SCALE_MAX_LOG2 24
#define LOSS_SCALE_GROWTH_INTERVAL 2000   /* torch.cuda.amp.GradScaler's default */

typedef struct LossScaler {
    int active;             /* 0: no scaling (every step uses scale 1) */
    int log2;               /* S = 2^log2 */
    long good_steps;        /* finite steps since S last changed */
    long growth_interval;   /* good steps before S doubles */
    long skipped;           /* steps skipped since scaling started */
} LossScaler;

typedef enum LossScaleEvent {
    LOSS_SCALE_KEPT = 0,    /* finite, S unchanged */
    LOSS_SCALE_GREW,        /* finite, and S doubled for the next step */
    LOSS_SCALE_SHRANK,      /* not finite: skip the step, S halved */
    LOSS_SCALE_GAVE_UP      /* not finite at the smallest S: stop the run */
} LossScaleEvent;

/* Start scaling at `init` rounded to the nearest power of two (clamped to the range above). */
void loss_scaler_start(LossScaler *s, double init);
/* Inactive: scale 1, nothing skipped. */
void loss_scaler_stop(LossScaler *s);
/* The scale of the next step: 2^log2 when active, 1 otherwise. */
float loss_scaler_value(const LossScaler *s);
/* After a step's gradients were checked; moves S as described above. */
LossScaleEvent loss_scaler_update(LossScaler *s, int finite);

#endif
