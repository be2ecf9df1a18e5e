/* cuda_eltwise.c — host side of the CUDA backend's own kernels: relu, add, accumulate,
 * dropout, pooling, the option-A shortcut, the fused SGD update and the sum of squares.
 *
 * Each op checks its arguments on the host (cheaply: dtype, allocation, element counts), then
 * enqueues the kernel from kernels_*.cu on the backend's stream: the 16-bit channels-last one
 * (kernels_nhwc.cu) when the main input is stored so, its output then in that layout too, and
 * a second input brought to the main one's layout (cuda_view). The SGD table (one row per
 * parameter tensor) is uploaded only when it differs from the last one, which in training is
 * once: the pointers stay put from step to step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

Status cuda_relu_forward(void *vctx, const Tensor *x, Tensor *y) {
    CudaCtx *ctx = vctx;
    TRY(cuda_need("relu_forward", "x", x, DT_F32));
    TRY(cuda_need_like("relu_forward", "y", y, x, DT_F32));
    if (cuda_is16(x))
        CU_TRY(cuk_nhwc_relu_forward(x->data, y->data, tensor_numel(x), cuda_half(x->layout),
                                     ctx->stream));
    else
        CU_TRY(cuk_relu_forward(x->data, y->data, tensor_numel(x), ctx->stream));
    y->layout = x->layout;
    return ST_OK;
}

Status cuda_relu_backward(void *vctx, const Tensor *y, const Tensor *dy, Tensor *dx) {
    CudaCtx *ctx = vctx;
    TRY(cuda_need("relu_backward", "y", y, DT_F32));
    TRY(cuda_need_like("relu_backward", "dy", dy, y, DT_F32));
    TRY(cuda_need_like("relu_backward", "dx", dx, y, DT_F32));
    const void *dyp;
    TRY(cuda_view(ctx, dy, y->layout, CUDA_SCRATCH_V0, &dyp));
    if (cuda_is16(y))
        CU_TRY(cuk_nhwc_relu_backward(y->data, dyp, dx->data, tensor_numel(y),
                                      cuda_half(y->layout), ctx->stream));
    else
        CU_TRY(cuk_relu_backward(y->data, dyp, dx->data, tensor_numel(y), ctx->stream));
    dx->layout = y->layout;
    return ST_OK;
}

Status cuda_add(void *vctx, const Tensor *a, const Tensor *b, Tensor *y) {
    CudaCtx *ctx = vctx;
    TRY(cuda_need("add", "a", a, DT_F32));
    TRY(cuda_need_like("add", "b", b, a, DT_F32));
    TRY(cuda_need_like("add", "y", y, a, DT_F32));
    const void *bp;
    TRY(cuda_view(ctx, b, a->layout, CUDA_SCRATCH_V0, &bp));
    if (cuda_is16(a))
        CU_TRY(cuk_nhwc_add(a->data, bp, y->data, tensor_numel(a), cuda_half(a->layout),
                            ctx->stream));
    else
        CU_TRY(cuk_add(a->data, bp, y->data, tensor_numel(a), ctx->stream));
    y->layout = a->layout;
    return ST_OK;
}

Status cuda_accumulate(void *vctx, Tensor *y, const Tensor *x) {
    CudaCtx *ctx = vctx;
    TRY(cuda_need("accumulate", "x", x, DT_F32));
    TRY(cuda_need_like("accumulate", "y", y, x, DT_F32));
    const void *xp;
    TRY(cuda_view(ctx, x, y->layout, CUDA_SCRATCH_V0, &xp));
    if (cuda_is16(y))
        CU_TRY(cuk_nhwc_add(y->data, xp, y->data, tensor_numel(x), cuda_half(y->layout),
                            ctx->stream));
    else
        CU_TRY(cuk_accumulate(y->data, xp, tensor_numel(x), ctx->stream));
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * dropout: the same keep rule and scale as the reference, see backend.h */

static float dropout_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

Status cuda_dropout_forward(void *vctx, float p, int per_channel, uint64_t seed, const Tensor *x,
                            Tensor *y, Tensor *mask) {
    CudaCtx *ctx = vctx;
    const char *op = "dropout_forward";
    if (!(p >= 0.0f && p <= 1.0f))
        return status_fail(ST_ERR_ARG, "cuda %s: p = %g is outside [0, 1]", op, (double)p);
    TRY(cuda_need(op, "x", x, DT_F32));
    TRY(cuda_need_like(op, "y", y, x, DT_F32));
    TRY(cuda_need_like(op, "mask", mask, x, DT_U8));
    /* the mask is stored in x's element order (cuda_internal.h) */
    if (cuda_is16(x))
        CU_TRY(cuk_nhwc_dropout_forward(x->data, y->data, mask->data, x->n, x->c, x->h, x->w,
                                        per_channel != 0, p, dropout_scale(p), seed,
                                        cuda_half(x->layout), ctx->stream));
    else
        CU_TRY(cuk_dropout_forward(x->data, y->data, mask->data, tensor_numel(x),
                                   (size_t)x->h * (size_t)x->w, per_channel != 0, p,
                                   dropout_scale(p), seed, ctx->stream));
    y->layout = x->layout;
    mask->layout = cuda_is16(x) ? CUDA_LAYOUT_NHWC_U8 : CUDA_LAYOUT_NCHW;
    return ST_OK;
}

Status cuda_dropout_backward(void *vctx, float p, const Tensor *mask, const Tensor *dy,
                             Tensor *dx) {
    CudaCtx *ctx = vctx;
    const char *op = "dropout_backward";
    if (!(p >= 0.0f && p <= 1.0f))
        return status_fail(ST_ERR_ARG, "cuda %s: p = %g is outside [0, 1]", op, (double)p);
    TRY(cuda_need(op, "dy", dy, DT_F32));
    TRY(cuda_need_like(op, "mask", mask, dy, DT_U8));
    TRY(cuda_need_like(op, "dx", dx, dy, DT_F32));
    /* dy comes to the mask's element order: a gradient from the linear head arrives fp32 NCHW
     * for a mask drawn on 16-bit activations */
    const int L = mask->layout != CUDA_LAYOUT_NHWC_U8 ? CUDA_LAYOUT_NCHW
                  : cuda_is16(dy)                    ? dy->layout
                                                     : cuda_lowp_layout(ctx->prec);
    const void *dyp;
    TRY(cuda_view(ctx, dy, L, CUDA_SCRATCH_V0, &dyp));
    if (L != CUDA_LAYOUT_NCHW)
        CU_TRY(cuk_nhwc_dropout_backward(mask->data, dyp, dx->data, dy->n, dy->c, dy->h, dy->w,
                                         dropout_scale(p), cuda_half(L), ctx->stream));
    else
        CU_TRY(cuk_dropout_backward(mask->data, dyp, dx->data, tensor_numel(dy),
                                    dropout_scale(p), ctx->stream));
    dx->layout = L;
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * pooling */

static Status pool_args(const char *op, const PoolDesc *d, const Tensor *x, int *ho, int *wo) {
    if (!d)
        return status_fail(ST_ERR_ARG, "cuda %s: PoolDesc is NULL", op);
    if (d->kind != POOL_MAX && d->kind != POOL_AVG)
        return status_fail(ST_ERR_ARG, "cuda %s: unknown pool kind %d", op, (int)d->kind);
    if (d->k <= 0 || d->stride <= 0 || d->pad < 0 || 2 * d->pad > d->k)
        return status_fail(ST_ERR_ARG, "cuda %s: invalid pool (kernel %d, stride %d, pad %d); pad "
                           "must be at most half the kernel, as in PyTorch", op, d->k, d->stride,
                           d->pad);
    TRY(cuda_need(op, "x", x, DT_F32));
    if (x->h + 2 * d->pad < d->k || x->w + 2 * d->pad < d->k)
        return status_fail(ST_ERR_ARG, "cuda %s: input %dx%d (pad %d) is smaller than the %dx%d "
                           "window", op, x->h, x->w, d->pad, d->k, d->k);
    *ho = conv_out_size(x->h, d->k, d->stride, d->pad);
    *wo = conv_out_size(x->w, d->k, d->stride, d->pad);
    return ST_OK;
}

static Status pooled(const char *op, const char *what, const Tensor *t, const Tensor *x, int ho,
                     int wo, DType dt) {
    TRY(cuda_need(op, what, t, dt));
    if (t->n != x->n || t->c != x->c || t->h != ho || t->w != wo)
        return status_fail(ST_ERR_ARG, "cuda %s: %s is (%d, %d, %d, %d), expected (%d, %d, %d, %d) "
                           "(a shape bug in the calling layer)", op, what, t->n, t->c, t->h, t->w,
                           x->n, x->c, ho, wo);
    return ST_OK;
}

Status cuda_pool2d_forward(void *vctx, PoolDesc *d, const Tensor *x, Tensor *y, Tensor *idx) {
    CudaCtx *ctx = vctx;
    const char *op = "pool2d_forward";
    int ho = 0, wo = 0;
    TRY(pool_args(op, d, x, &ho, &wo));
    TRY(pooled(op, "y", y, x, ho, wo, DT_F32));
    int use_idx = d->kind == POOL_MAX && idx != NULL;
    if (use_idx) {
        if (idx->dtype != DT_I32 && idx->dtype != DT_U8)
            return status_fail(ST_ERR_ARG, "cuda %s: idx must be i32 or u8", op);
        TRY(pooled(op, "idx", idx, x, ho, wo, idx->dtype));
        if (idx->dtype == DT_U8 && d->k * d->k > 256)
            return status_fail(ST_ERR_ARG, "cuda %s: a %dx%d window does not fit a u8 idx; use "
                               "i32", op, d->k, d->k);
    }
    if (cuda_is16(x))
        CU_TRY(cuk_nhwc_pool_forward(x->data, y->data, use_idx ? idx->data : NULL,
                                     use_idx && idx->dtype == DT_U8, x->n, x->c, x->h, x->w, ho,
                                     wo, d->k, d->stride, d->pad, d->kind == POOL_MAX,
                                     cuda_half(x->layout), ctx->stream));
    else
        CU_TRY(cuk_pool_forward(x->data, y->data, use_idx ? idx->data : NULL,
                                use_idx && idx->dtype == DT_U8, (long)x->n * x->c, x->h, x->w,
                                ho, wo, d->k, d->stride, d->pad, d->kind == POOL_MAX,
                                ctx->stream));
    y->layout = x->layout;
    if (use_idx)
        idx->layout = 0;
    return ST_OK;
}

Status cuda_pool2d_backward(void *vctx, PoolDesc *d, const Tensor *x, const Tensor *y,
                            const Tensor *idx, const Tensor *dy, Tensor *dx) {
    CudaCtx *ctx = vctx;
    const char *op = "pool2d_backward";
    (void)idx;   /* backward recomputes the argmax from x, like the reference */
    int ho = 0, wo = 0;
    TRY(pool_args(op, d, x, &ho, &wo));
    if (y)
        TRY(pooled(op, "y", y, x, ho, wo, DT_F32));
    TRY(pooled(op, "dy", dy, x, ho, wo, DT_F32));
    TRY(cuda_need_like(op, "dx", dx, x, DT_F32));
    const void *dyp;
    TRY(cuda_view(ctx, dy, x->layout, CUDA_SCRATCH_V0, &dyp));
    if (cuda_is16(x))
        CU_TRY(cuk_nhwc_pool_backward(x->data, dyp, dx->data, x->n, x->c, x->h, x->w, ho, wo,
                                      d->k, d->stride, d->pad, d->kind == POOL_MAX,
                                      cuda_half(x->layout), ctx->stream));
    else
        CU_TRY(cuk_pool_backward(x->data, dyp, dx->data, (long)x->n * x->c, x->h, x->w, ho, wo,
                                 d->k, d->stride, d->pad, d->kind == POOL_MAX, ctx->stream));
    dx->layout = x->layout;
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * option-A shortcut */

static Status pad_args(const char *op, int stride, const Tensor *x, const Tensor *y) {
    if (stride <= 0)
        return status_fail(ST_ERR_ARG, "cuda %s: stride %d must be positive", op, stride);
    TRY(cuda_need(op, "x", x, DT_F32));
    TRY(cuda_need(op, "y", y, DT_F32));
    if (y->n != x->n || y->h != (x->h + stride - 1) / stride ||
        y->w != (x->w + stride - 1) / stride || y->c < x->c)
        return status_fail(ST_ERR_ARG, "cuda %s: (%d, %d, %d, %d) -> (%d, %d, %d, %d) is not a "
                           "stride-%d channel padding", op, x->n, x->c, x->h, x->w, y->n, y->c,
                           y->h, y->w, stride);
    return ST_OK;
}

Status cuda_pad_channels_forward(void *vctx, int stride, const Tensor *x, Tensor *y) {
    CudaCtx *ctx = vctx;
    TRY(pad_args("pad_channels_forward", stride, x, y));
    if (cuda_is16(x))
        CU_TRY(cuk_nhwc_pad_channels_forward(x->data, y->data, x->n, x->c, x->h, x->w, y->c,
                                             y->h, y->w, stride, cuda_half(x->layout),
                                             ctx->stream));
    else
        CU_TRY(cuk_pad_channels_forward(x->data, y->data, x->n, x->c, x->h, x->w, y->c, y->h,
                                        y->w, stride, ctx->stream));
    y->layout = x->layout;
    return ST_OK;
}

Status cuda_pad_channels_backward(void *vctx, int stride, const Tensor *dy, Tensor *dx) {
    CudaCtx *ctx = vctx;
    TRY(pad_args("pad_channels_backward", stride, dx, dy));
    if (cuda_is16(dy))
        CU_TRY(cuk_nhwc_pad_channels_backward(dy->data, dx->data, dx->n, dx->c, dx->h, dx->w,
                                              dy->c, dy->h, dy->w, stride, cuda_half(dy->layout),
                                              ctx->stream));
    else
        CU_TRY(cuk_pad_channels_backward(dy->data, dx->data, dx->n, dx->c, dx->h, dx->w, dy->c,
                                         dy->h, dy->w, stride, ctx->stream));
    dx->layout = dy->layout;
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * SGD: one launch for every parameter */

Status cuda_sgd_update(void *vctx, int count, Tensor *const *params, Tensor *const *grads,
                       Tensor *const *moms, const SgdParams *sp) {
    CudaCtx *ctx = vctx;
    const char *op = "sgd_update";
    if (count < 0 || !sp || (count > 0 && (!params || !grads)))
        return status_fail(ST_ERR_ARG, "cuda %s: invalid arguments (count %d)", op, count);
    const int use_mom = sp->momentum != 0.0f;
    if (use_mom && count > 0 && !moms)
        return status_fail(ST_ERR_ARG, "cuda %s: momentum %g needs momentum buffers", op,
                           (double)sp->momentum);
    if (sp->nesterov && (sp->momentum <= 0.0f || sp->dampening != 0.0f))
        return status_fail(ST_ERR_ARG, "cuda %s: nesterov needs momentum > 0 and zero dampening "
                           "(got momentum %g, dampening %g), as in torch.optim.SGD", op,
                           (double)sp->momentum, (double)sp->dampening);
    if (count == 0)
        return ST_OK;
    if (count > ctx->sgd_cap) {
        CudaSgdTensor *h = realloc(ctx->sgd_host, (size_t)count * sizeof *h);
        if (!h)
            return status_fail(ST_ERR_OOM, "cuda %s: out of host memory for %d rows", op, count);
        ctx->sgd_host = h;
        ctx->sgd_cap = count;
        ctx->sgd_rows = 0;   /* force an upload */
    }
    int changed = count != ctx->sgd_rows;
    size_t chunks = 0;
    for (int t = 0; t < count; t++) {
        char what[32];
        snprintf(what, sizeof what, "params[%d]", t);
        TRY(cuda_need(op, what, params[t], DT_F32));
        snprintf(what, sizeof what, "grads[%d]", t);
        TRY(cuda_need_like(op, what, grads[t], params[t], DT_F32));
        if (use_mom) {
            snprintf(what, sizeof what, "moms[%d]", t);
            TRY(cuda_need_like(op, what, moms[t], params[t], DT_F32));
        }
        CudaSgdTensor row;
        memset(&row, 0, sizeof row);
        row.p = params[t]->data;
        row.g = grads[t]->data;
        row.m = use_mom ? moms[t]->data : NULL;
        row.n = tensor_numel(params[t]);
        row.chunk0 = chunks;
        chunks += (row.n + CUDA_SGD_CHUNK - 1) / CUDA_SGD_CHUNK;
        if (changed || memcmp(&ctx->sgd_host[t], &row, sizeof row) != 0) {
            ctx->sgd_host[t] = row;
            changed = 1;
        }
    }
    if (changed) {
        size_t bytes = (size_t)count * sizeof(CudaSgdTensor);
        TRY(cuda_grow(&ctx->sgd_dev, &ctx->sgd_dev_cap, bytes, "the SGD table"));
        /* pageable source: staged before the call returns, so the host rows may change next */
        CU_TRY(cudaMemcpyAsync(ctx->sgd_dev, ctx->sgd_host, bytes, cudaMemcpyHostToDevice,
                               ctx->stream));
        ctx->sgd_rows = count;
    }
    CudaSgdArgs a = {sp->lr, sp->momentum, sp->dampening, sp->weight_decay, sp->nesterov != 0,
                     sp->first_step != 0, ldexpf(1.0f, -sp->loss_scale_log2)};
    CU_TRY(cuk_sgd(ctx->sgd_dev, count, chunks, a, ctx->stream));
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * loss scaling: scale the loss gradient, check every gradient at once */

Status cuda_scale(void *vctx, Tensor *t, float s) {
    CudaCtx *ctx = vctx;
    TRY(cuda_need("scale", "t", t, DT_F32));
    if (cuda_is16(t))
        CU_TRY(cuk_nhwc_scale(t->data, tensor_numel(t), s, cuda_half(t->layout), ctx->stream));
    else
        CU_TRY(cuk_scale(t->data, tensor_numel(t), s, ctx->stream));
    return ST_OK;
}

/* One flag in device memory (the first of sum_squares' partial flags, free between calls),
 * raised by any tensor's kernel; one copy back and one synchronization for all of them. */
Status cuda_all_finite(void *vctx, int count, Tensor *const *ts, int *finite) {
    CudaCtx *ctx = vctx;
    if (count < 0 || !finite || (count > 0 && !ts))
        return status_fail(ST_ERR_ARG, "cuda all_finite: invalid arguments (count %d)", count);
    int *flag = (int *)((char *)ctx->reduce + CUDA_REDUCE_BLOCKS * sizeof(double));
    CU_TRY(cudaMemsetAsync(flag, 0, sizeof *flag, ctx->stream));
    for (int t = 0; t < count; t++) {
        char what[32];
        snprintf(what, sizeof what, "ts[%d]", t);
        TRY(cuda_need("all_finite", what, ts[t], DT_F32));
        const void *v;
        TRY(cuda_view(ctx, ts[t], CUDA_LAYOUT_NCHW, CUDA_SCRATCH_V0, &v));
        CU_TRY(cuk_flag_nonfinite(v, tensor_numel(ts[t]), flag, ctx->stream));
    }
    int host = 0;
    CU_TRY(cudaMemcpyAsync(&host, flag, sizeof host, cudaMemcpyDeviceToHost, ctx->stream));
    TRY(cuda_sync(ctx, "all_finite"));
    *finite = !host;
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * sum of squares */

Status cuda_sum_squares(void *vctx, const Tensor *t, double *out, int *nonfinite) {
    CudaCtx *ctx = vctx;
    TRY(cuda_need("sum_squares", "t", t, DT_F32));
    if (!out || !nonfinite)
        return status_fail(ST_ERR_ARG, "cuda sum_squares: output pointers are NULL");
    char *base = ctx->reduce;
    double *sums = (double *)base;
    int *flags = (int *)(base + CUDA_REDUCE_BLOCKS * sizeof(double));
    CudaSumResult *res = (CudaSumResult *)(base + CUDA_REDUCE_BLOCKS * (sizeof(double) +
                                                                         sizeof(int)));
    const void *v;
    TRY(cuda_view(ctx, t, CUDA_LAYOUT_NCHW, CUDA_SCRATCH_V0, &v));
    CU_TRY(cuk_sum_squares(v, tensor_numel(t), sums, flags, res, ctx->stream));
    CudaSumResult host;
    CU_TRY(cudaMemcpyAsync(&host, res, sizeof host, cudaMemcpyDeviceToHost, ctx->stream));
    TRY(cuda_sync(ctx, "sum_squares"));
    *out = host.sum;
    *nonfinite = host.nonfinite;
    return ST_OK;
}
