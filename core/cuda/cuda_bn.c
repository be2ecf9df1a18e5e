/* cuda_bn.c — batch normalization on cuDNN (spatial mode: per channel over N, H, W).
 *
 * cuDNN's semantics are PyTorch's (PyTorch's own cuDNN path passes its buffers straight
 * through): the batch is normalized with the biased variance, the running variance is updated
 * with the unbiased one using exponentialAverageFactor = momentum, and the saved values are the
 * mean and 1/sqrt(var + eps) that backward consumes. Everything is fp32 whatever the precision:
 * the statistics are where low precision hurts most. The tensor descriptors are the context's
 * reusable ones, set per call (a host-side assignment, no device work). */
#include "cuda_internal.h"

static const float ONE = 1.0f, ZERO = 0.0f;

/* The epsilon handed to backward; cuDNN only uses it when no saved statistics are passed, and
 * we always pass them. */
#define BN_BACKWARD_EPS 1e-5

static Status bn_param(const char *op, const char *what, const Tensor *t, int c) {
    TRY(cuda_need(op, what, t, DT_F32));
    if (t->n != 1 || t->c != c || t->h != 1 || t->w != 1)
        return status_fail(ST_ERR_ARG, "cuda %s: %s is (%d, %d, %d, %d), expected (1, %d, 1, 1) "
                           "(a shape bug in the calling layer)", op, what, t->n, t->c, t->h, t->w,
                           c);
    return ST_OK;
}

static Status set_descs(CudaCtx *ctx, const Tensor *x) {
    DNN_TRY(cudnnSetTensor4dDescriptor(ctx->td[0], CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, x->n, x->c,
                                       x->h, x->w));
    DNN_TRY(cudnnSetTensor4dDescriptor(ctx->td[1], CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, x->c, 1,
                                       1));
    return ST_OK;
}

Status cuda_batchnorm_forward_train(void *vctx, const Tensor *x, const Tensor *gamma,
                                    const Tensor *beta, Tensor *running_mean,
                                    Tensor *running_var, float momentum, float eps, Tensor *y,
                                    Tensor *save_mean, Tensor *save_invstd) {
    CudaCtx *ctx = vctx;
    const char *op = "batchnorm_forward_train";
    TRY(cuda_need(op, "x", x, DT_F32));
    const int C = x->c;
    TRY(bn_param(op, "gamma", gamma, C));
    TRY(bn_param(op, "beta", beta, C));
    TRY(bn_param(op, "running_mean", running_mean, C));
    TRY(bn_param(op, "running_var", running_var, C));
    TRY(bn_param(op, "save_mean", save_mean, C));
    TRY(bn_param(op, "save_invstd", save_invstd, C));
    TRY(cuda_need_like(op, "y", y, x, DT_F32));
    if ((long long)x->n * x->h * x->w < 2)
        return status_fail(ST_ERR_ARG, "cuda %s: batch statistics need more than 1 value per "
                           "channel (input is %d x %d x %d x %d); use a batch larger than 1", op,
                           x->n, x->c, x->h, x->w);
    if (!(eps > 0.0f))
        return status_fail(ST_ERR_ARG, "cuda %s: eps %g must be positive", op, (double)eps);
    TRY(set_descs(ctx, x));
    DNN_TRY(cudnnBatchNormalizationForwardTraining(
        ctx->dnn, CUDNN_BATCHNORM_SPATIAL, &ONE, &ZERO, ctx->td[0], x->data, ctx->td[0], y->data,
        ctx->td[1], gamma->data, beta->data, (double)momentum, running_mean->data,
        running_var->data, (double)eps, save_mean->data, save_invstd->data));
    y->layout = 0;
    return ST_OK;
}

Status cuda_batchnorm_forward_infer(void *vctx, const Tensor *x, const Tensor *gamma,
                                    const Tensor *beta, const Tensor *running_mean,
                                    const Tensor *running_var, float eps, Tensor *y) {
    CudaCtx *ctx = vctx;
    const char *op = "batchnorm_forward_infer";
    TRY(cuda_need(op, "x", x, DT_F32));
    const int C = x->c;
    TRY(bn_param(op, "gamma", gamma, C));
    TRY(bn_param(op, "beta", beta, C));
    TRY(bn_param(op, "running_mean", running_mean, C));
    TRY(bn_param(op, "running_var", running_var, C));
    TRY(cuda_need_like(op, "y", y, x, DT_F32));
    if (!(eps > 0.0f))
        return status_fail(ST_ERR_ARG, "cuda %s: eps %g must be positive", op, (double)eps);
    if (tensor_numel(x) == 0)
        return ST_OK;
    TRY(set_descs(ctx, x));
    DNN_TRY(cudnnBatchNormalizationForwardInference(
        ctx->dnn, CUDNN_BATCHNORM_SPATIAL, &ONE, &ZERO, ctx->td[0], x->data, ctx->td[0], y->data,
        ctx->td[1], gamma->data, beta->data, running_mean->data, running_var->data,
        (double)eps));
    y->layout = 0;
    return ST_OK;
}

Status cuda_batchnorm_backward(void *vctx, const Tensor *x, const Tensor *dy, const Tensor *gamma,
                               const Tensor *save_mean, const Tensor *save_invstd, Tensor *dx,
                               Tensor *dgamma, Tensor *dbeta) {
    CudaCtx *ctx = vctx;
    const char *op = "batchnorm_backward";
    TRY(cuda_need(op, "x", x, DT_F32));
    const int C = x->c;
    TRY(cuda_need_like(op, "dy", dy, x, DT_F32));
    TRY(bn_param(op, "gamma", gamma, C));
    TRY(bn_param(op, "save_mean", save_mean, C));
    TRY(bn_param(op, "save_invstd", save_invstd, C));
    TRY(cuda_need_like(op, "dx", dx, x, DT_F32));
    TRY(bn_param(op, "dgamma", dgamma, C));
    TRY(bn_param(op, "dbeta", dbeta, C));
    TRY(set_descs(ctx, x));
    DNN_TRY(cudnnBatchNormalizationBackward(
        ctx->dnn, CUDNN_BATCHNORM_SPATIAL, &ONE, &ZERO, &ONE, &ZERO, ctx->td[0], x->data,
        ctx->td[0], dy->data, ctx->td[0], dx->data, ctx->td[1], gamma->data, dgamma->data,
        dbeta->data, BN_BACKWARD_EPS, save_mean->data, save_invstd->data));
    dx->layout = 0;
    return ST_OK;
}
