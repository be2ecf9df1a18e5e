/* cpu_linear.c — the fully connected layer: y = x W^T + b and its gradients.
 *
 * The GEMMs go through cpu_sgemm (oneDNN's, or OpenBLAS in builds without oneDNN). x is read as
 * (N, K) in NCHW order; a blocked x is converted first. */
#include "cpu_internal.h"

Status cpu_linear_forward(void *vctx, const Tensor *x, const Tensor *w, const Tensor *b,
                          Tensor *y) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    long n = x->n, k = (long)x->c * x->h * x->w, m = w->n;
    const float *xd;
    TRY(cpu_data_as(ctx, x, CPU_LAYOUT_NCHW, CPU_SCRATCH_A, (const void **)&xd));
    float *yd = y->data;
    TRY(cpu_sgemm(ctx, 'N', 'T', n, m, k, 1.0f, xd, k, w->data, k, 0.0f, yd, m));
    if (b) {
        const float *bd = b->data;
        for (long i = 0; i < n; i++)
            for (long j = 0; j < m; j++) yd[i * m + j] += bd[j];
    }
    y->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}

Status cpu_linear_backward(void *vctx, const Tensor *x, const Tensor *w, const Tensor *dy,
                           Tensor *dx, Tensor *dw, Tensor *db) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    long n = x->n, k = (long)x->c * x->h * x->w, m = w->n;
    const float *xd, *g = dy->data;
    TRY(cpu_data_as(ctx, x, CPU_LAYOUT_NCHW, CPU_SCRATCH_A, (const void **)&xd));
    TRY(cpu_sgemm(ctx, 'T', 'N', m, k, n, 1.0f, g, m, xd, k, 0.0f, dw->data, k));
    dw->layout = CPU_LAYOUT_NCHW;
    if (dx) {
        TRY(cpu_sgemm(ctx, 'N', 'N', n, k, m, 1.0f, g, m, w->data, k, 0.0f, dx->data, k));
        dx->layout = CPU_LAYOUT_NCHW;
    }
    if (db) {
        float *bd = db->data;
        for (long j = 0; j < m; j++) bd[j] = 0.0f;
        for (long i = 0; i < n; i++)
            for (long j = 0; j < m; j++) bd[j] += g[i * m + j];
        db->layout = CPU_LAYOUT_NCHW;
    }
    return ST_OK;
}
