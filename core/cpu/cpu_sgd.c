/* cpu_sgd.c — the optimizer step (torch.optim.SGD exactly, see backend.h), the gradient
 * health checks (sum of squares, non-finite detection) and the loss-scaling helpers.
 *
 * Parameters are small next to activations (resnet20: 0.27 M values), so one parallel region
 * walks all of them; each element's update is independent. */
#include <math.h>

#include "cpu_internal.h"

/* GRAD(i): the gradient, unscaled when the loss was scaled (by a power of two: exact). The
 * unscaled path keeps the expression it always had, so results without scaling do not move. */
#define GRAD(i) (us == 1.0f ? g[i] : g[i] * us)

static void sgd_one(float *p, const float *g, float *buf, long n, const SgdParams *h) {
    float lr = h->lr, wd = h->weight_decay, mom = h->momentum, damp = 1.0f - h->dampening;
    const float us = ldexpf(1.0f, -h->loss_scale_log2);
    if (mom == 0.0f) {
#pragma omp simd
        for (long i = 0; i < n; i++) p[i] -= lr * (GRAD(i) + wd * p[i]);
        return;
    }
    for (long i = 0; i < n; i++) {
        float gi = GRAD(i) + wd * p[i];
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

Status cpu_scale(void *vctx, Tensor *t, float s) {
    cpu_enter(vctx);
    float *d = t->data;
    long n = (long)tensor_numel(t);   /* any layout: the blocked one has no padding */
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) d[i] *= s;
    return ST_OK;
}

Status cpu_all_finite(void *vctx, int count, Tensor *const *ts, int *finite) {
    cpu_enter(vctx);
    if (count < 0 || !finite || (count > 0 && !ts))
        return status_fail(ST_ERR_ARG, "cpu backend: all_finite: invalid arguments (count %d)",
                           count);
    int bad = 0;
    for (int t = 0; t < count && !bad; t++) {
        const float *d = ts[t]->data;
        long n = (long)tensor_numel(ts[t]);
#pragma omp parallel for reduction(| : bad) schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) bad |= !isfinite(d[i]);
    }
    *finite = !bad;
    return ST_OK;
}
