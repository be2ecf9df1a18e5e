/* arch_estimate.h — parameters, MACs and carried tensors of an edited architecture, computed
 * on a helper thread so the screen never waits.
 *
 * Building a model to count it takes seconds for WRN-28-10 (its 36M weights are initialized),
 * far over a keystroke's budget. The estimator builds the requested architecture on its own
 * reference backend on a thread, compares parameter names and shapes with the architecture now
 * training (built the same way, once), and publishes the result; a newer request replaces an
 * older one that has not started. Every number comes from the real model_build(), so the
 * editor can never disagree with what a rebuild does. */
#ifndef SHORTCUT_UI_ARCH_ESTIMATE_H
#define SHORTCUT_UI_ARCH_ESTIMATE_H

#include "config.h"

typedef struct ArchEstimate {
    int ready;              /* 1: the numbers below are for `config` */
    int ok;                 /* 0: model_build refused it; message says why */
    long long params, macs; /* trainable elements; MACs per image */
    int tensors;            /* parameter tensors (BN buffers included) */
    int carried;            /* of those, matching the current model by name and shape */
    char message[256];
    ModelConfig config;     /* what was estimated */
} ArchEstimate;

typedef struct ArchEstimator ArchEstimator;

ArchEstimator *arch_estimator_create(void);
void arch_estimator_destroy(ArchEstimator *e);
/* Ask for `mc` (with `current` as the model to compare with); returns at once. */
void arch_estimator_request(ArchEstimator *e, const ModelConfig *mc, const ModelConfig *current,
                            int num_classes, int in_side);
/* The latest result (ready = 0 while the newest request is still being computed). */
void arch_estimator_result(ArchEstimator *e, ArchEstimate *out);

#endif
