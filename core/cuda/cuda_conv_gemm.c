/* cuda_conv_gemm.c — 1x1 convolutions (pad 0, no bias) in 16 bits as cuBLAS matrix products.
 *
 * Why: cuDNN's legacy API (cuda_conv.c) offers poor algorithms for the 1x1 projection shortcuts
 * in channels-last bf16. In a wrn_28_10 step on an H100 (docs/BENCHMARKS.md, session 7) the
 * 16 -> 160 shortcut's backward-filter ran `wgrad_alg0_engine_NHWC` for 662 us, and the
 * shortcuts' forwards ran the generic `implicit_convolve_sgemm` for 102-205 us, where the bytes
 * they move need 10-30 us. Together about 1 ms of a 19 ms step.
 *
 * Channels-last, a 1x1 convolution is a matrix product over pixels. rows = n * ho * wo; xs is x
 * at the strided positions (rows x C; x itself when the stride is 1), W the weights (K x C),
 * all row-major. cuBLAS is column-major, so each product is written for the transposes (as in
 * cuda_dense.c):
 *   y   = xs W^T  (rows x K)  ->  gemm(T, N, K, rows, C, W, xs)   into y, 16 bits
 *   dxs = dy W    (rows x C)  ->  gemm(N, N, C, rows, K, W, dy)   then spread into dx
 *   dW  = dy^T xs (K x C)     ->  gemm(N, T, C, K, rows, xs, dy)  into dW, fp32
 * The strided gather and the spreading back (zeros between) are the option-A shortcut's
 * kernels with as many channels out as in (kernels_nhwc.cuh, pad_fwd_elem / pad_bwd_elem). The
 * products accumulate in fp32 on tensor cores; cuBLAS gives the same bits on every run.
 *
 * Not yet run on a GPU: off unless SHORTCUT_CUDA_GEMM1X1=1 (ctx->gemm1x1). */
#include "cuda_internal.h"

int cuda_conv_gemm_applies(const CudaCtx *ctx, const ConvDesc *d) {
    return ctx->gemm1x1 && ctx->act16 && ctx->prec != CUDA_PREC_FP32 && d->kh == 1 &&
           d->kw == 1 && d->pad == 0 && !d->has_bias && d->c_in % 8 == 0 && d->c_out % 8 == 0;
}

static cudaDataType_t gemm_type(const CudaCtx *ctx) {
    return ctx->prec == CUDA_PREC_FP16 ? CUDA_R_16F : CUDA_R_16BF;
}

/* The weights (K, C, 1, 1) fp32 as a 16-bit K x C matrix in scratch. */
static Status weights16(CudaCtx *ctx, const Tensor *w, const void **out) {
    void *buf;
    TRY(cuda_scratch(ctx, CUDA_SCRATCH_W, (size_t)w->n * w->c * 2, &buf));
    CU_TRY(cuk_to_lowp_nhwc(w->data, buf, w->n, w->c, w->c, 1, ctx->prec == CUDA_PREC_FP16,
                            ctx->stream));
    *out = buf;
    return ST_OK;
}

/* x as 16 bits channels-last at the strided positions (ho x wo per image). */
static Status strided_input(CudaCtx *ctx, const ConvDesc *d, const Tensor *x, int ho, int wo,
                            const void **out) {
    const void *x16;
    TRY(cuda_conv_operand(ctx, ctx->prec, x, x->c, CUDA_SCRATCH_X, &x16));
    if (d->stride == 1) {
        *out = x16;
        return ST_OK;
    }
    void *buf;
    TRY(cuda_scratch(ctx, CUDA_SCRATCH_V2, (size_t)x->n * ho * wo * x->c * 2, &buf));
    CU_TRY(cuk_nhwc_pad_channels_forward(x16, buf, x->n, x->c, x->h, x->w, x->c, ho, wo,
                                         d->stride, ctx->prec == CUDA_PREC_FP16, ctx->stream));
    *out = buf;
    return ST_OK;
}

Status cuda_conv_gemm_forward(CudaCtx *ctx, const ConvDesc *d, const Tensor *x, const Tensor *w,
                              Tensor *y) {
    const int rows = y->n * y->h * y->w, K = d->c_out, C = d->c_in;
    const void *xs = NULL, *w16 = NULL;
    TRY(strided_input(ctx, d, x, y->h, y->w, &xs));
    TRY(weights16(ctx, w, &w16));
    const float one = 1.0f, zero = 0.0f;
    const cudaDataType_t t = gemm_type(ctx);
    BLAS_TRY(cublasGemmEx(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, K, rows, C, &one, w16, t, C, xs,
                          t, C, &zero, y->data, t, K, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    y->layout = cuda_lowp_layout(ctx->prec);
    return ST_OK;
}

Status cuda_conv_gemm_backward_data(CudaCtx *ctx, const ConvDesc *d, const Tensor *dy,
                                    const Tensor *w, Tensor *dx) {
    const int rows = dy->n * dy->h * dy->w, K = d->c_out, C = d->c_in;
    const int half = ctx->prec == CUDA_PREC_FP16;
    const void *dy16 = NULL, *w16 = NULL;
    TRY(cuda_conv_operand(ctx, ctx->prec, dy, dy->c, CUDA_SCRATCH_Y, &dy16));
    TRY(weights16(ctx, w, &w16));
    void *dxs = dx->data;   /* stride 1: the product is dx itself */
    if (d->stride != 1)
        TRY(cuda_scratch(ctx, CUDA_SCRATCH_V3, (size_t)rows * C * 2, &dxs));
    const float one = 1.0f, zero = 0.0f;
    const cudaDataType_t t = gemm_type(ctx);
    BLAS_TRY(cublasGemmEx(ctx->blas, CUBLAS_OP_N, CUBLAS_OP_N, C, rows, K, &one, w16, t, C, dy16,
                          t, K, &zero, dxs, t, C, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    if (d->stride != 1)
        CU_TRY(cuk_nhwc_pad_channels_backward(dxs, dx->data, dx->n, C, dx->h, dx->w, C, dy->h,
                                              dy->w, d->stride, half, ctx->stream));
    dx->layout = cuda_lowp_layout(ctx->prec);
    return ST_OK;
}

Status cuda_conv_gemm_backward_filter(CudaCtx *ctx, const ConvDesc *d, const Tensor *x,
                                      const Tensor *dy, Tensor *dw) {
    const int rows = dy->n * dy->h * dy->w, K = d->c_out, C = d->c_in;
    const void *xs = NULL, *dy16 = NULL;
    TRY(strided_input(ctx, d, x, dy->h, dy->w, &xs));
    TRY(cuda_conv_operand(ctx, ctx->prec, dy, dy->c, CUDA_SCRATCH_Y, &dy16));
    const float one = 1.0f, zero = 0.0f;
    const cudaDataType_t t = gemm_type(ctx);
    BLAS_TRY(cublasGemmEx(ctx->blas, CUBLAS_OP_N, CUBLAS_OP_T, C, K, rows, &one, xs, t, C, dy16,
                          t, K, &zero, dw->data, CUDA_R_32F, C, CUBLAS_COMPUTE_32F,
                          CUBLAS_GEMM_DEFAULT));
    dw->layout = CUDA_LAYOUT_NCHW;
    return ST_OK;
}
