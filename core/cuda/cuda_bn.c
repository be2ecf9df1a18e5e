/* cuda_bn.c — batch normalization (per channel over N, H, W) and its two fusions, relu(bn(x))
 * and relu(bn(x) + r), on the backend's own kernels (kernels_bn.cu; why not cuDNN's is said
 * there).
 *
 * Semantics are PyTorch's: the batch is normalized with the biased variance, the running
 * variance is updated with the unbiased one, and the saved values are the mean and
 * 1/sqrt(var + eps) that backward consumes. The arithmetic is fp32 whatever the precision (the
 * statistics are where low precision hurts most); with 16-bit activations the values are read
 * and written in 16 bits, channels-last (kernels_nhwc.cu), and the outputs take x's layout.
 * This file checks arguments, brings the other inputs to x's layout, and sizes the scratch
 * (partial sums and per-channel coefficients); the kernels do the rest. */
#include "cuda_internal.h"

static Status bn_param(const char *op, const char *what, const Tensor *t, int c) {
    TRY(cuda_need(op, what, t, DT_F32));
    if (t->n != 1 || t->c != c || t->h != 1 || t->w != 1)
        return status_fail(ST_ERR_ARG, "cuda %s: %s is (%d, %d, %d, %d), expected (1, %d, 1, 1) "
                           "(a shape bug in the calling layer)", op, what, t->n, t->c, t->h, t->w,
                           c);
    return ST_OK;
}

static Status bn_eps(const char *op, float eps) {
    if (!(eps > 0.0f))
        return status_fail(ST_ERR_ARG, "cuda %s: eps %g must be positive", op, (double)eps);
    return ST_OK;
}

/* Scratch for one call: 2 * C * P partial sums (double), then 3 * C coefficients (float). */
static Status bn_scratch(CudaCtx *ctx, int c, int slices, double **part, float **coef) {
    size_t part_bytes = (size_t)2 * c * slices * sizeof(double);
    size_t bytes = part_bytes + (size_t)3 * c * sizeof(float);
    if (bytes > ctx->bn_cap)
        TRY(cuda_grow(&ctx->bn_buf, &ctx->bn_cap, bytes, "batchnorm scratch"));
    *part = ctx->bn_buf;
    *coef = (float *)((char *)ctx->bn_buf + part_bytes);
    return ST_OK;
}

static Status train(CudaCtx *ctx, const char *op, int mode, const Tensor *x, const Tensor *r,
                    const Tensor *gamma, const Tensor *beta, Tensor *running_mean,
                    Tensor *running_var, float momentum, float eps, Tensor *y, Tensor *save_mean,
                    Tensor *save_invstd) {
    TRY(cuda_need(op, "x", x, DT_F32));
    const int C = x->c;
    if (r)
        TRY(cuda_need_like(op, "r", r, x, DT_F32));
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
    TRY(bn_eps(op, eps));
    const int L = x->layout, rows = x->n * x->h * x->w;
    const void *rp = NULL;
    if (r)
        TRY(cuda_view(ctx, r, L, CUDA_SCRATCH_V0, &rp));
    int slices = cuda_is16(x) ? cuk_bn_nhwc_slices(rows, C, ctx->sm_count)
                              : cuk_bn_slices(x->n, C, ctx->sm_count);
    double *part;
    float *coef;
    TRY(bn_scratch(ctx, C, slices, &part, &coef));
    if (cuda_is16(x))
        CU_TRY(cuk_nhwc_bn_forward_train(x->data, rp, y->data, rows, C, slices, mode,
                                         cuda_half(L), gamma->data, beta->data,
                                         running_mean->data, running_var->data, momentum, eps,
                                         save_mean->data, save_invstd->data, part, coef,
                                         ctx->stream));
    else
        CU_TRY(cuk_bn_forward_train(x->data, rp, y->data, x->n, C, x->h * x->w, slices, mode,
                                    gamma->data, beta->data, running_mean->data,
                                    running_var->data, momentum, eps, save_mean->data,
                                    save_invstd->data, part, coef, ctx->stream));
    y->layout = L;
    return ST_OK;
}

static Status infer(CudaCtx *ctx, const char *op, int mode, const Tensor *x, const Tensor *r,
                    const Tensor *gamma, const Tensor *beta, const Tensor *running_mean,
                    const Tensor *running_var, float eps, Tensor *y) {
    TRY(cuda_need(op, "x", x, DT_F32));
    const int C = x->c;
    if (r)
        TRY(cuda_need_like(op, "r", r, x, DT_F32));
    TRY(bn_param(op, "gamma", gamma, C));
    TRY(bn_param(op, "beta", beta, C));
    TRY(bn_param(op, "running_mean", running_mean, C));
    TRY(bn_param(op, "running_var", running_var, C));
    TRY(cuda_need_like(op, "y", y, x, DT_F32));
    TRY(bn_eps(op, eps));
    if (tensor_numel(x) == 0)
        return ST_OK;
    double *part;
    float *coef;
    TRY(bn_scratch(ctx, C, 0, &part, &coef));
    CU_TRY(cuk_bn_infer_coef(C, gamma->data, beta->data, running_mean->data, running_var->data,
                             eps, coef, ctx->stream));
    const int L = x->layout;
    const void *rp = NULL;
    if (r)
        TRY(cuda_view(ctx, r, L, CUDA_SCRATCH_V0, &rp));
    if (cuda_is16(x))
        CU_TRY(cuk_nhwc_bn_apply(x->data, rp, y->data, x->n * x->h * x->w, C, mode,
                                 cuda_half(L), coef, ctx->stream));
    else
        CU_TRY(cuk_bn_apply(x->data, rp, y->data, x->n, C, x->h * x->w, mode, coef,
                            ctx->stream));
    y->layout = L;
    return ST_OK;
}

/* y is the forward output (read for the relu mask; NULL in PLAIN mode), dy2 an optional second
 * gradient (ADD_RELU), dr the gradient at the residual input (ADD_RELU). beta (RELU mode only,
 * else NULL) lets the 16-bit kernels recompute the forward's output from x instead of reading
 * y, one tensor read fewer in each of the two passes (backend.h allows it;
 * off unless SHORTCUT_CUDA_BN_RECOMPUTE=1: measured slower on an H100). */
static Status backward(CudaCtx *ctx, const char *op, int mode, const Tensor *x, const Tensor *y,
                       const Tensor *dy, const Tensor *dy2, const Tensor *gamma,
                       const Tensor *beta, const Tensor *save_mean, const Tensor *save_invstd,
                       Tensor *dx, Tensor *dr, Tensor *dgamma, Tensor *dbeta) {
    TRY(cuda_need(op, "x", x, DT_F32));
    const int C = x->c;
    if (y)
        TRY(cuda_need_like(op, "y", y, x, DT_F32));
    TRY(cuda_need_like(op, "dy", dy, x, DT_F32));
    if (dy2)
        TRY(cuda_need_like(op, "dy2", dy2, x, DT_F32));
    TRY(bn_param(op, "gamma", gamma, C));
    if (beta)
        TRY(bn_param(op, "beta", beta, C));
    TRY(bn_param(op, "save_mean", save_mean, C));
    TRY(bn_param(op, "save_invstd", save_invstd, C));
    TRY(cuda_need_like(op, "dx", dx, x, DT_F32));
    if (dr)
        TRY(cuda_need_like(op, "dr", dr, x, DT_F32));
    if (dr && dr->data == dx->data)
        return status_fail(ST_ERR_ARG, "cuda %s: dx and dr are the same buffer (each may alias "
                           "dy or dy2, not each other)", op);
    TRY(bn_param(op, "dgamma", dgamma, C));
    TRY(bn_param(op, "dbeta", dbeta, C));
    /* Every input in x's layout (converted copies where one arrives otherwise); dx and dr are
     * written in it. */
    const int L = x->layout, rows = x->n * x->h * x->w;
    const int recompute = beta && mode == CUK_BN_RELU && cuda_is16(x) && ctx->bn_recompute;
    const void *yp = NULL, *dyp = NULL, *dy2p = NULL;
    if (y && !recompute)
        TRY(cuda_view(ctx, y, L, CUDA_SCRATCH_V0, &yp));
    TRY(cuda_view(ctx, dy, L, CUDA_SCRATCH_V1, &dyp));
    if (dy2)
        TRY(cuda_view(ctx, dy2, L, CUDA_SCRATCH_V2, &dy2p));
    int slices = cuda_is16(x) ? cuk_bn_nhwc_slices(rows, C, ctx->sm_count)
                              : cuk_bn_slices(x->n, C, ctx->sm_count);
    double *part;
    float *coef;
    TRY(bn_scratch(ctx, C, slices, &part, &coef));
    if (cuda_is16(x))
        CU_TRY(cuk_nhwc_bn_backward(x->data, yp, dyp, dy2p, rows, C, slices, mode, cuda_half(L),
                                    gamma->data, recompute ? beta->data : NULL, save_mean->data,
                                    save_invstd->data, dx->data, dr ? dr->data : NULL,
                                    dgamma->data, dbeta->data, part, coef, ctx->stream));
    else
        CU_TRY(cuk_bn_backward(x->data, yp, dyp, dy2p, x->n, C, x->h * x->w, slices, mode,
                               gamma->data, save_mean->data, save_invstd->data, dx->data,
                               dr ? dr->data : NULL, dgamma->data, dbeta->data, part, coef,
                               ctx->stream));
    dx->layout = L;
    if (dr)
        dr->layout = L;
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * the op table's entries */

Status cuda_batchnorm_forward_train(void *ctx, const Tensor *x, const Tensor *gamma,
                                    const Tensor *beta, Tensor *running_mean,
                                    Tensor *running_var, float momentum, float eps, Tensor *y,
                                    Tensor *save_mean, Tensor *save_invstd) {
    return train(ctx, "batchnorm_forward_train", CUK_BN_PLAIN, x, NULL, gamma, beta,
                 running_mean, running_var, momentum, eps, y, save_mean, save_invstd);
}

Status cuda_batchnorm_forward_infer(void *ctx, const Tensor *x, const Tensor *gamma,
                                    const Tensor *beta, const Tensor *running_mean,
                                    const Tensor *running_var, float eps, Tensor *y) {
    return infer(ctx, "batchnorm_forward_infer", CUK_BN_PLAIN, x, NULL, gamma, beta,
                 running_mean, running_var, eps, y);
}

Status cuda_batchnorm_backward(void *ctx, const Tensor *x, const Tensor *dy, const Tensor *gamma,
                               const Tensor *save_mean, const Tensor *save_invstd, Tensor *dx,
                               Tensor *dgamma, Tensor *dbeta) {
    return backward(ctx, "batchnorm_backward", CUK_BN_PLAIN, x, NULL, dy, NULL, gamma, NULL,
                    save_mean, save_invstd, dx, NULL, dgamma, dbeta);
}

Status cuda_batchnorm_relu_forward_train(void *ctx, const Tensor *x, const Tensor *gamma,
                                         const Tensor *beta, Tensor *running_mean,
                                         Tensor *running_var, float momentum, float eps,
                                         Tensor *y, Tensor *save_mean, Tensor *save_invstd) {
    return train(ctx, "batchnorm_relu_forward_train", CUK_BN_RELU, x, NULL, gamma, beta,
                 running_mean, running_var, momentum, eps, y, save_mean, save_invstd);
}

Status cuda_batchnorm_relu_forward_infer(void *ctx, const Tensor *x, const Tensor *gamma,
                                         const Tensor *beta, const Tensor *running_mean,
                                         const Tensor *running_var, float eps, Tensor *y) {
    return infer(ctx, "batchnorm_relu_forward_infer", CUK_BN_RELU, x, NULL, gamma, beta,
                 running_mean, running_var, eps, y);
}

/* The mask: recomputed from x and beta on the 16-bit path, read from y otherwise. */
Status cuda_batchnorm_relu_backward(void *ctx, const Tensor *x, const Tensor *y,
                                    const Tensor *dy, const Tensor *gamma, const Tensor *beta,
                                    const Tensor *save_mean, const Tensor *save_invstd,
                                    Tensor *dx, Tensor *dgamma, Tensor *dbeta) {
    return backward(ctx, "batchnorm_relu_backward", CUK_BN_RELU, x, y, dy, NULL, gamma, beta,
                    save_mean, save_invstd, dx, NULL, dgamma, dbeta);
}

Status cuda_batchnorm_add_relu_forward_train(void *ctx, const Tensor *x, const Tensor *r,
                                             const Tensor *gamma, const Tensor *beta,
                                             Tensor *running_mean, Tensor *running_var,
                                             float momentum, float eps, Tensor *y,
                                             Tensor *save_mean, Tensor *save_invstd) {
    if (!r)
        return status_fail(ST_ERR_ARG, "cuda batchnorm_add_relu_forward_train: r is NULL");
    return train(ctx, "batchnorm_add_relu_forward_train", CUK_BN_ADD_RELU, x, r, gamma, beta,
                 running_mean, running_var, momentum, eps, y, save_mean, save_invstd);
}

Status cuda_batchnorm_add_relu_forward_infer(void *ctx, const Tensor *x, const Tensor *r,
                                             const Tensor *gamma, const Tensor *beta,
                                             const Tensor *running_mean,
                                             const Tensor *running_var, float eps, Tensor *y) {
    if (!r)
        return status_fail(ST_ERR_ARG, "cuda batchnorm_add_relu_forward_infer: r is NULL");
    return infer(ctx, "batchnorm_add_relu_forward_infer", CUK_BN_ADD_RELU, x, r, gamma, beta,
                 running_mean, running_var, eps, y);
}

Status cuda_batchnorm_add_relu_backward(void *ctx, const Tensor *x, const Tensor *y,
                                        const Tensor *dy, const Tensor *dy2, const Tensor *gamma,
                                        const Tensor *save_mean, const Tensor *save_invstd,
                                        Tensor *dx, Tensor *dr, Tensor *dgamma, Tensor *dbeta) {
    if (!dr)
        return status_fail(ST_ERR_ARG, "cuda batchnorm_add_relu_backward: dr is NULL");
    return backward(ctx, "batchnorm_add_relu_backward", CUK_BN_ADD_RELU, x, y, dy, dy2, gamma,
                    NULL, save_mean, save_invstd, dx, dr, dgamma, dbeta);
}
