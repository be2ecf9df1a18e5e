/* cpu_sgd.c — the optimizer step (torch.optim.SGD exactly, see backend.h) and the gradient
 * health check (sum of squares, non-finite detection).
 *
 * Parameters are small next to activations (resnet20: 0.27 M values), so one parallel region
 * walks all of them; each element's update is independent. */
#include <math.h>

#include "cpu_internal.h"

static void sgd_one(float *p, const float *g, float *buf, long n, const SgdParams *h) {
    float lr = h->lr, wd = h->weight_decay, mom = h->momentum, damp = 1.0f - h->dampening;
    if (mom == 0.0f) {
#pragma omp simd
        for (long i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
        return;
    }
    for (long i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float b = h->first_step ? gi : mom * buf[i] + damp * gi;
        buf[i] = b;
        p[i] -= lr * (h->nesterov ? gi + mom * b : b);
    }
}

Status cpu_sgd_update(void *vctx, int count, Tensor *const *params, Tensor *const *grads,
                      Tensor *const *moms, const SgdParams *p) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    for (int i = 0; i < count; i++) {
        if (p->momentum != 0.0f && (!moms || !moms[i]))
            return status_fail(ST_ERR_ARG, "cpu backend: sgd_update: parameter %d has no momentum "
                               "buffer but momentum is %g", i, (double)p->momentum);
        if (cpu_layout(grads[i]) != cpu_layout(params[i]) ||
            (p->momentum != 0.0f && cpu_layout(moms[i]) != cpu_layout(params[i])))
            return status_fail(ST_ERR_ARG, "cpu backend: sgd_update: parameter %d, its gradient "
                               "and its momentum are stored in different layouts", i);
    }
    /* Split every tensor into fixed-size pieces so a few big weights still spread over threads. */
    const long piece = 16384;
    long total = 0;
    for (int i = 0; i < count; i++) total += ((long)tensor_numel(params[i]) + piece - 1) / piece;
#pragma omp parallel for schedule(dynamic, 4) if (total > 4)
    for (long t = 0; t < total; t++) {
        long left = t;
        int i = 0;
        for (;; i++) {
            long pieces = ((long)tensor_numel(params[i]) + piece - 1) / piece;
            if (left < pieces) break;
            left -= pieces;
        }
        long n = (long)tensor_numel(params[i]), off = left * piece;
        long len = n - off < piece ? n - off : piece;
        float *buf = p->momentum != 0.0f ? (float *)moms[i]->data + off : NULL;
        sgd_one((float *)params[i]->data + off, (const float *)grads[i]->data + off, buf, len, p);
    }
    if (p->momentum != 0.0f)
        for (int i = 0; i < count; i++) moms[i]->layout = params[i]->layout;
    return ST_OK;
}

Status cpu_sum_squares(void *vctx, const Tensor *t, double *out, int *nonfinite) {
    cpu_enter(vctx);
    const float *d = t->data;
    long n = (long)tensor_numel(t);
    double s = 0.0;
    int bad = 0;
#pragma omp parallel for reduction(+ : s) reduction(| : bad) schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        double v = d[i];
        s += v * v;
        bad |= !isfinite(d[i]);
    }
    *out = s;
    if (nonfinite) *nonfinite = bad;
    return ST_OK;
}
