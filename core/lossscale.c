/* lossscale.c — the dynamic loss scale's rule (lossscale.h). */
#include "lossscale.h"

#include <math.h>

static int clamp_log2(long v) {
    return v < LOSS_SCALE_MIN_LOG2 ? LOSS_SCALE_MIN_LOG2
                                   : v > LOSS_SCALE_MAX_LOG2 ? LOSS_SCALE_MAX_LOG2 : (int)v;
}

void loss_scaler_start(LossScaler *s, double init) {
    s->active = 1;
    s->log2 = clamp_log2(init > 0 ? lround(log2(init)) : 0);
    s->good_steps = 0;
    s->growth_interval = LOSS_SCALE_GROWTH_INTERVAL;
    s->skipped = 0;
}

void loss_scaler_stop(LossScaler *s) {
    s->active = 0;
    s->log2 = 0;
    s->good_steps = 0;
    s->skipped = 0;
}

float loss_scaler_value(const LossScaler *s) {
    return s->active ? ldexpf(1.0f, s->log2) : 1.0f;
}

LossScaleEvent loss_scaler_update(LossScaler *s, int finite) {
    if (!s->active)
        return LOSS_SCALE_KEPT;
    if (!finite) {
        s->good_steps = 0;
        s->skipped++;
        if (s->log2 <= LOSS_SCALE_MIN_LOG2)
            return LOSS_SCALE_GAVE_UP;
        s->log2--;
        return LOSS_SCALE_SHRANK;
    }
    if (++s->good_steps >= s->growth_interval && s->log2 < LOSS_SCALE_MAX_LOG2) {
        s->log2++;
        s->good_steps = 0;
        return LOSS_SCALE_GREW;
    }
    return LOSS_SCALE_KEPT;
}
