/* cpu_loss.c — softmax cross-entropy with label smoothing: per-sample loss, prediction,
 * its probability, and the gradient of the batch-mean loss.
 *
 * Log-probabilities are computed as (z - max) - log(sum exp(z - max)) in double, so large
 * logits neither overflow nor lose the small probabilities the smoothing term needs. */
#include <math.h>

#include "cpu_internal.h"

Status cpu_softmax_xent(void *vctx, const Tensor *logits, const Tensor *labels, float smoothing,
                        Tensor *loss, Tensor *pred, Tensor *prob, Tensor *dlogits) {
    cpu_enter(vctx);
    int n = logits->n, k = logits->c * logits->h * logits->w;
    const float *z = logits->data;
    const int32_t *lab = labels->data;
    for (int i = 0; i < n; i++)
        if (lab[i] < 0 || lab[i] >= k)
            return status_fail(ST_ERR_ARG, "cpu backend: softmax_xent: label %d of sample %d "
                               "is outside [0, %d): check the dataset's class count",
                               (int)lab[i], i, k);
    double off = (double)smoothing / k, on = 1.0 - (double)smoothing;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * (size_t)k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (zi[j] > zi[best]) best = j;
        double mx = zi[best], se = 0.0, sum_logp = 0.0;
        for (int j = 0; j < k; j++) se += exp((double)zi[j] - mx);
        double lse = log(se);
        for (int j = 0; j < k; j++) sum_logp += (double)zi[j] - mx - lse;
        double logp_y = (double)zi[lab[i]] - mx - lse;
        if (loss) ((float *)loss->data)[i] = (float)(-(on * logp_y + off * sum_logp));
        if (pred) ((int32_t *)pred->data)[i] = best;
        if (prob) ((float *)prob->data)[i] = (float)(1.0 / se);
        if (dlogits) {
            float *d = (float *)dlogits->data + (size_t)i * (size_t)k;
            for (int j = 0; j < k; j++) {
                double p = exp((double)zi[j] - mx - lse);
                double target = off + (j == lab[i] ? on : 0.0);
                d[j] = (float)((p - target) / n);
            }
        }
    }
    if (loss) loss->layout = CPU_LAYOUT_NCHW;
    if (pred) pred->layout = CPU_LAYOUT_NCHW;
    if (prob) prob->layout = CPU_LAYOUT_NCHW;
    if (dlogits) dlogits->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}
