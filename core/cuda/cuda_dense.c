/* cuda_dense.c — the classifier head: linear layers on cuBLAS and softmax cross-entropy.
 *
 * cuBLAS is column-major and our matrices are row-major, so each product is written for the
 * transposes: a row-major (r x c) matrix is the column-major (c x r) one with leading dimension
 * c. With x (N x K), w (M x K), dy (N x M) row-major:
 *   y  = x w^T   ->  y^T  (M x N) = w x^T      : gemm(T, N, M, N, K, w, x)
 *   dx = dy w    ->  dx^T (K x N) = w^T dy^T   : gemm(N, N, K, N, M, w, dy)
 *   dw = dy^T x  ->  dw^T (K x M) = x^T dy     : gemm(N, T, K, M, N, x, dy)
 * The head is tiny (64..640 -> 10/100), so it always runs in fp32 (cuBLAS's default math, no
 * TF32) whatever the precision setting. The bias is broadcast into y before the GEMM, which
 * then accumulates (beta = 1). */
#include "cuda_internal.h"

static Status linear_args(const char *op, const Tensor *x, const Tensor *w, int *n, int *k,
                          int *m) {
    TRY(cuda_need(op, "x", x, DT_F32));
    TRY(cuda_need(op, "w", w, DT_F32));
    *n = x->n;
    *k = x->c * x->h * x->w;
    if (w->c != *k || w->h != 1 || w->w != 1)
        return status_fail(ST_ERR_ARG, "cuda %s: w is (%d, %d, %d, %d) for inputs of %d features "
                           "(a shape bug in the calling layer)", op, w->n, w->c, w->h, w->w, *k);
    *m = w->n;
    return ST_OK;
}

static Status vec_args(const char *op, const char *what, const Tensor *t, int n, int c) {
    TRY(cuda_need(op, what, t, DT_F32));
    if (t->n != n || t->c != c || t->h != 1 || t->w != 1)
        return status_fail(ST_ERR_ARG, "cuda %s: %s is (%d, %d, %d, %d), expected (%d, %d, 1, 1) "
                           "(a shape bug in the calling layer)", op, what, t->n, t->c, t->h, t->w,
                           n, c);
    return ST_OK;
}

Status cuda_linear_forward(void *vctx, const Tensor *x, const Tensor *w, const Tensor *b,
                           Tensor *y) {
    CudaCtx *ctx = vctx;
    const char *op = "linear_forward";
    int N = 0, K = 0, M = 0;
    TRY(linear_args(op, x, w, &N, &K, &M));
    if (b)
        TRY(vec_args(op, "b", b, 1, M));
    TRY(vec_args(op, "y", y, N, M));
    y->layout = 0;
    if (N == 0 || M == 0)
        return ST_OK;
    const float one = 1.0f, zero = 0.0f;
    const void *xp;   /* a 16-bit activation is read as fp32 */
    TRY(cuda_view(ctx, x, CUDA_LAYOUT_NCHW, CUDA_SCRATCH_V0, &xp));
    if (b)
        CU_TRY(cuk_bias_rows(y->data, b->data, N, M, ctx->stream));
    BLAS_TRY(cublasSgemm(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, M, N, K, &one, w->data, K, xp, K,
                         b ? &one : &zero, y->data, M));
    return ST_OK;
}

Status cuda_linear_backward(void *vctx, const Tensor *x, const Tensor *w, const Tensor *dy,
                            Tensor *dx, Tensor *dw, Tensor *db) {
    CudaCtx *ctx = vctx;
    const char *op = "linear_backward";
    int N = 0, K = 0, M = 0;
    TRY(linear_args(op, x, w, &N, &K, &M));
    TRY(vec_args(op, "dy", dy, N, M));
    if (dx)
        TRY(cuda_need_like(op, "dx", dx, x, DT_F32));
    TRY(vec_args(op, "dw", dw, M, K));
    if (db)
        TRY(vec_args(op, "db", db, 1, M));
    const float one = 1.0f, zero = 0.0f;
    if (dx && N > 0 && K > 0) {
        BLAS_TRY(cublasSgemm(ctx->blas, CUBLAS_OP_N, CUBLAS_OP_N, K, N, M, &one, w->data, K,
                             dy->data, M, &zero, dx->data, K));
        dx->layout = 0;
    }
    if (M > 0 && K > 0) {
        const void *xp;
        TRY(cuda_view(ctx, x, CUDA_LAYOUT_NCHW, CUDA_SCRATCH_V0, &xp));
        BLAS_TRY(cublasSgemm(ctx->blas, CUBLAS_OP_N, CUBLAS_OP_T, K, M, N, &one, xp, K, dy->data,
                             M, &zero, dw->data, K));
    }
    if (db)
        CU_TRY(cuk_col_sums(dy->data, db->data, N, M, ctx->stream));
    return ST_OK;
}

Status cuda_softmax_xent(void *vctx, const Tensor *logits, const Tensor *labels, float smoothing,
                         Tensor *loss, Tensor *pred, Tensor *prob, Tensor *dlogits) {
    CudaCtx *ctx = vctx;
    const char *op = "softmax_xent";
    TRY(cuda_need(op, "logits", logits, DT_F32));
    const int N = logits->n, K = logits->c;
    if (logits->h != 1 || logits->w != 1 || K < 1)
        return status_fail(ST_ERR_ARG, "cuda %s: logits are (%d, %d, %d, %d), expected (N, K, 1, "
                           "1) with K >= 1", op, logits->n, logits->c, logits->h, logits->w);
    if (!(smoothing >= 0.0f && smoothing <= 1.0f))
        return status_fail(ST_ERR_ARG, "cuda %s: label smoothing %g is outside [0, 1]", op,
                           (double)smoothing);
    TRY(cuda_need(op, "labels", labels, DT_I32));
    TRY(cuda_need(op, "pred", pred, DT_I32));
    TRY(cuda_need(op, "loss", loss, DT_F32));
    TRY(cuda_need(op, "prob", prob, DT_F32));
    if (tensor_numel(labels) != (size_t)N || tensor_numel(pred) != (size_t)N ||
        tensor_numel(loss) != (size_t)N || tensor_numel(prob) != (size_t)N)
        return status_fail(ST_ERR_ARG, "cuda %s: labels, loss, pred and prob need %d values each "
                           "(one per sample)", op, N);
    if (dlogits)
        TRY(cuda_need_like(op, "dlogits", dlogits, logits, DT_F32));
    /* A label outside [0, K) is found on the device; download() reports it (cuda_sync). */
    CU_TRY(cuk_softmax_xent(logits->data, labels->data, N, K, smoothing, loss->data, pred->data,
                            prob->data, dlogits ? dlogits->data : NULL, ctx->deverr_dev,
                            ctx->stream));
    loss->layout = pred->layout = prob->layout = CUDA_LAYOUT_NCHW;
    if (dlogits)
        dlogits->layout = CUDA_LAYOUT_NCHW;
    return ST_OK;
}
