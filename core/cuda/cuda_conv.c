/* cuda_conv.c — 2-D convolution on cuDNN: forward, backward-data, backward-filter, bias.
 *
 * A ConvDesc's plan (CudaConvPlan) holds the cuDNN descriptors for the input shape it was last
 * used with and the algorithm chosen for each of the three directions. Algorithms are measured
 * with cuDNN's Find once per distinct shape and remembered in the backend-wide cache
 * (cuda_logic.c), so the dozen identical 3x3 convolutions of a ResNet stage cost one search, and
 * a plan whose batch size changes finds the earlier choice again. The choice honours
 * `deterministic` and the workspace that could be allocated; the workspace is one buffer shared
 * by every call (cuda_workspace).
 *
 * Precision: fp32 runs with CUDNN_FMA_MATH (no TF32, so results match the CPU to fp32
 * rounding). bf16/fp16 convert x, w and dy into scratch buffers, run on tensor cores with fp32
 * accumulation, and convert y, dx, dw back to fp32; the bias is added (and its gradient
 * summed) in fp32. The 16-bit copies are channels-last (NHWC, filters KRSC): each conversion
 * transposes on the way, because with NCHW 16-bit operands a resnet20 step ran no faster than
 * in fp32 on an H100, and channels-last ran 11% faster (docs/BENCHMARKS.md). A convolution
 * cuDNN has no low-precision algorithm for stays in fp32 (describe() counts them). With 16-bit
 * activations on (cuda_internal.h), an input already stored that way is used as it is, and y
 * and dx are handed on in 16 bits instead of being converted back. Uses cuDNN's legacy
 * convolution API, which cuDNN 9 still ships (marked deprecated for a later major version).
 * 1x1 convolutions may instead run as cuBLAS products (cuda_conv_gemm.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

typedef struct CudaConvPlan {
    /* what the descriptors were built for */
    int n, c, h, w, k, kh, kw, stride, pad;
    int prec, det;
    int cp;                           /* input channels as cuDNN sees them (padded in 16 bits) */
    int ho, wo;
    cudnnTensorDescriptor_t xd, yd;   /* in the compute precision */
    cudnnTensorDescriptor_t y32;      /* y / dy in fp32 (bias add, bias gradient) */
    cudnnTensorDescriptor_t bd;       /* bias (1, K, 1, 1) fp32 */
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    int have[3];                      /* choice[kind] is valid */
    CudaAlgoChoice choice[3];
    int force_fp32;                   /* cuDNN had no low-precision algorithm for this conv */
} CudaConvPlan;

static const float ONE = 1.0f, ZERO = 0.0f;

void cuda_plan_free(void *vctx, void *plan) {
    (void)vctx;
    CudaConvPlan *pl = plan;
    if (!pl)
        return;
    cudnnTensorDescriptor_t ts[] = {pl->xd, pl->yd, pl->y32, pl->bd};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        if (ts[i])
            cudnnDestroyTensorDescriptor(ts[i]);
    if (pl->wd)
        cudnnDestroyFilterDescriptor(pl->wd);
    if (pl->cd)
        cudnnDestroyConvolutionDescriptor(pl->cd);
    free(pl);
}

static cudnnDataType_t data_type(int prec) {
    return prec == CUDA_PREC_BF16 ? CUDNN_DATA_BFLOAT16
                                  : prec == CUDA_PREC_FP16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
}

static cudnnMathType_t default_math(int prec) {
    return prec == CUDA_PREC_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
}

/* In 16 bits, an input with a channel count that is not a multiple of 8 (the stem's 3) is
 * padded with zero channels: cuDNN's channels-last tensor-core kernels want multiples of 8, and
 * its generic kernels for 3 channels took 15% of a resnet20 step on an H100. */
static int lowp_channels(int prec, int c) {
    return prec == CUDA_PREC_FP32 || c % 8 == 0 ? c : (c + 7) / 8 * 8;
}

static Status plan_build(CudaConvPlan *pl, const ConvDesc *d, int n, int h, int w, int prec,
                         int det) {
    pl->n = n;
    pl->c = d->c_in;
    pl->h = h;
    pl->w = w;
    pl->k = d->c_out;
    pl->kh = d->kh;
    pl->kw = d->kw;
    pl->stride = d->stride;
    pl->pad = d->pad;
    pl->prec = prec;
    pl->det = det;
    pl->cp = lowp_channels(prec, d->c_in);
    pl->ho = conv_out_size(h, d->kh, d->stride, d->pad);
    pl->wo = conv_out_size(w, d->kw, d->stride, d->pad);
    memset(pl->have, 0, sizeof pl->have);
    if (!pl->xd) {
        DNN_TRY(cudnnCreateTensorDescriptor(&pl->xd));
        DNN_TRY(cudnnCreateTensorDescriptor(&pl->yd));
        DNN_TRY(cudnnCreateTensorDescriptor(&pl->y32));
        DNN_TRY(cudnnCreateTensorDescriptor(&pl->bd));
        DNN_TRY(cudnnCreateFilterDescriptor(&pl->wd));
        DNN_TRY(cudnnCreateConvolutionDescriptor(&pl->cd));
    }
    cudnnDataType_t dt = data_type(prec);
    cudnnTensorFormat_t fmt = prec == CUDA_PREC_FP32 ? CUDNN_TENSOR_NCHW : CUDNN_TENSOR_NHWC;
    DNN_TRY(cudnnSetTensor4dDescriptor(pl->xd, fmt, dt, n, pl->cp, h, w));
    DNN_TRY(cudnnSetTensor4dDescriptor(pl->yd, fmt, dt, n, d->c_out, pl->ho, pl->wo));
    DNN_TRY(cudnnSetTensor4dDescriptor(pl->y32, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, d->c_out,
                                       pl->ho, pl->wo));
    DNN_TRY(cudnnSetTensor4dDescriptor(pl->bd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, d->c_out,
                                       1, 1));
    DNN_TRY(cudnnSetFilter4dDescriptor(pl->wd, dt, fmt, d->c_out, pl->cp, d->kh, d->kw));
    DNN_TRY(cudnnSetConvolution2dDescriptor(pl->cd, d->pad, d->pad, d->stride, d->stride, 1, 1,
                                            CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    DNN_TRY(cudnnSetConvolutionMathType(pl->cd, default_math(prec)));
    int on, oc, oh, ow;
    DNN_TRY(cudnnGetConvolution2dForwardOutputDim(pl->cd, pl->xd, pl->wd, &on, &oc, &oh, &ow));
    if (on != n || oc != d->c_out || oh != pl->ho || ow != pl->wo)
        return status_fail(ST_ERR_DEVICE, "cuda conv2d: cuDNN computes a (%d, %d, %d, %d) output "
                           "where (%d, %d, %d, %d) was expected", on, oc, oh, ow, n, d->c_out,
                           pl->ho, pl->wo);
    return ST_OK;
}

/* The plan of d for an input (n, c_in, h, w), rebuilt when the shape or the precision moved. */
static Status plan_for(CudaCtx *ctx, ConvDesc *d, int n, int h, int w, CudaConvPlan **out) {
    int prec;
    CudaConvPlan *pl = d->plan;
    if (!pl) {
        pl = calloc(1, sizeof *pl);
        if (!pl)
            return status_fail(ST_ERR_OOM, "cuda conv2d: out of host memory for a plan");
        d->plan = pl;
        pl->n = -1;
    }
    prec = pl->force_fp32 ? CUDA_PREC_FP32 : (int)ctx->prec;
    if (pl->n != n || pl->h != h || pl->w != w || pl->c != d->c_in || pl->k != d->c_out ||
        pl->kh != d->kh || pl->kw != d->kw || pl->stride != d->stride || pl->pad != d->pad ||
        pl->prec != prec || pl->det != ctx->deterministic) {
        Status st = plan_build(pl, d, n, h, w, prec, ctx->deterministic);
        if (st != ST_OK) {
            pl->n = -1;   /* half-built: rebuild on the next call */
            return st;
        }
    }
    *out = pl;
    return ST_OK;
}

static const char *kind_name(int kind) {
    return kind == CUDA_CONV_FWD ? "forward"
                                 : kind == CUDA_CONV_BWD_DATA ? "backward-data" : "backward-filter";
}

/* How many algorithms cuDNN knows for `kind`, and the most workspace any supported one needs. */
static Status max_workspace(CudaCtx *ctx, CudaConvPlan *pl, int kind, int *count, size_t *want) {
    *want = 0;
    if (kind == CUDA_CONV_FWD) {
        DNN_TRY(cudnnGetConvolutionForwardAlgorithmMaxCount(ctx->dnn, count));
        for (int a = 0; a < *count; a++) {
            size_t sz = 0;
            if (cudnnGetConvolutionForwardWorkspaceSize(ctx->dnn, pl->xd, pl->wd, pl->cd, pl->yd,
                                                        (cudnnConvolutionFwdAlgo_t)a, &sz) ==
                    CUDNN_STATUS_SUCCESS && sz > *want)
                *want = sz;
        }
    } else if (kind == CUDA_CONV_BWD_DATA) {
        DNN_TRY(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(ctx->dnn, count));
        for (int a = 0; a < *count; a++) {
            size_t sz = 0;
            if (cudnnGetConvolutionBackwardDataWorkspaceSize(
                    ctx->dnn, pl->wd, pl->yd, pl->cd, pl->xd, (cudnnConvolutionBwdDataAlgo_t)a,
                    &sz) == CUDNN_STATUS_SUCCESS && sz > *want)
                *want = sz;
        }
    } else {
        DNN_TRY(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(ctx->dnn, count));
        for (int a = 0; a < *count; a++) {
            size_t sz = 0;
            if (cudnnGetConvolutionBackwardFilterWorkspaceSize(
                    ctx->dnn, pl->xd, pl->yd, pl->cd, pl->wd, (cudnnConvolutionBwdFilterAlgo_t)a,
                    &sz) == CUDNN_STATUS_SUCCESS && sz > *want)
                *want = sz;
        }
    }
    return ST_OK;
}

/* Grow the shared workspace towards `budget`, halving what is asked for while the device is
 * out of memory; the algorithm search then works with whatever could be had. */
static Status workspace_towards(CudaCtx *ctx, size_t budget) {
    const size_t mib = (size_t)1 << 20;
    while (budget > ctx->ws_cap) {
        Status st = cuda_workspace(ctx, budget);
        if (st == ST_OK)
            return ST_OK;
        if (st != ST_ERR_OOM)
            return st;
        budget = budget / 2 / mib * mib;
    }
    return ST_OK;
}

#define PERF_MAX 16

/* Algorithms are judged on the math they ran with: an fp32 request never takes a TF32 result. */
static int math_allowed(int prec, cudnnMathType_t m) {
    return prec != CUDA_PREC_FP32 || m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH;
}

/* One candidate of any of cuDNN's three perf structs (they share these fields). */
#define PERF_ROW(r, prec)                                                                        \
    ((CudaAlgoPerf){(int)(r).algo,                                                               \
                    (r).status == CUDNN_STATUS_SUCCESS && math_allowed(prec, (r).mathType),      \
                    (r).time, (r).memory, (r).determinism == CUDNN_DETERMINISTIC,                \
                    (int)(r).mathType})

/* One cudnnFind*Ex over every algorithm of `kind`; results in perf[0 .. *got). */
static Status find_round(CudaCtx *ctx, CudaConvPlan *pl, int kind, const void *x, const void *w,
                         const void *dy, void *out, int count, CudaAlgoPerf *perf, int *got) {
    if (kind == CUDA_CONV_FWD) {
        cudnnConvolutionFwdAlgoPerf_t r[PERF_MAX];
        DNN_TRY(cudnnFindConvolutionForwardAlgorithmEx(ctx->dnn, pl->xd, x, pl->wd, w, pl->cd,
                                                       pl->yd, out, count, got, r, ctx->ws,
                                                       ctx->ws_cap));
        for (int i = 0; i < *got; i++)
            perf[i] = PERF_ROW(r[i], pl->prec);
    } else if (kind == CUDA_CONV_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t r[PERF_MAX];
        DNN_TRY(cudnnFindConvolutionBackwardDataAlgorithmEx(ctx->dnn, pl->wd, w, pl->yd, dy,
                                                            pl->cd, pl->xd, out, count, got, r,
                                                            ctx->ws, ctx->ws_cap));
        for (int i = 0; i < *got; i++)
            perf[i] = PERF_ROW(r[i], pl->prec);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t r[PERF_MAX];
        DNN_TRY(cudnnFindConvolutionBackwardFilterAlgorithmEx(ctx->dnn, pl->xd, x, pl->yd, dy,
                                                              pl->cd, pl->wd, out, count, got,
                                                              r, ctx->ws, ctx->ws_cap));
        for (int i = 0; i < *got; i++)
            perf[i] = PERF_ROW(r[i], pl->prec);
    }
    return ST_OK;
}

/* One line per search (SHORTCUT_CUDA_ALGO_LOG=1): the shape, the pick, and the candidates in
 * cuDNN's order (fastest first), "-" for one that failed or ran with a math not allowed. */
static void log_search(const CudaConvPlan *pl, int kind, const CudaAlgoPerf *perf, int got,
                       int best) {
    char line[512];
    int at = snprintf(line, sizeof line, "cuda conv %s (%d, %d, %d, %d) -> %d %dx%d s%d p%d %s:"
                      " algo %d %.3f ms;", kind_name(kind), pl->n, pl->c, pl->h, pl->w, pl->k,
                      pl->kh, pl->kw, pl->stride, pl->pad,
                      cuda_precision_name((CudaPrecision)pl->prec), perf[best].algo,
                      (double)perf[best].time_ms);
    for (int i = 0; i < got && at > 0 && (size_t)at < sizeof line; i++)
        at += perf[i].ok ? snprintf(line + at, sizeof line - (size_t)at, " %d:%.3f",
                                    perf[i].algo, (double)perf[i].time_ms)
                         : snprintf(line + at, sizeof line - (size_t)at, " %d:-", perf[i].algo);
    fprintf(stderr, "%s\n", line);
}

/* Measure every algorithm for `kind` on the real operands (outputs are overwritten, which the
 * op does anyway) and keep the best; or take the cached choice for this shape. */
static Status choose(CudaCtx *ctx, CudaConvPlan *pl, int kind, const void *x, const void *w,
                     const void *dy, void *out) {
    if (pl->have[kind])
        return cuda_workspace(ctx, pl->choice[kind].memory);
    CudaConvKey key = cuda_conv_key(kind, pl->n, pl->c, pl->h, pl->w, pl->k, pl->kh, pl->kw,
                                    pl->stride, pl->pad, pl->prec, pl->det);
    const CudaAlgoChoice *hit = cuda_algo_cache_find(&ctx->algos, &key);
    if (hit) {
        pl->choice[kind] = *hit;
        pl->have[kind] = 1;
        return cuda_workspace(ctx, hit->memory);
    }
    int count = 0;
    size_t want = 0, fr, tot;
    DNN_TRY(cudnnSetConvolutionMathType(pl->cd, default_math(pl->prec)));
    TRY(max_workspace(ctx, pl, kind, &count, &want));
    cuda_mem_info(&fr, &tot);
    TRY(workspace_towards(ctx, cuda_workspace_budget(want, fr + ctx->ws_cap, CUDA_WORKSPACE_CAP)));
    if (count > PERF_MAX)
        count = PERF_MAX;
    /* Two rounds, the first one's timings thrown away: a first round can include one-time
     * costs (CUDA loads a kernel's module at its first launch; clocks ramp up). With one round
     * an H100 ran some of resnet20's 3x3 forwards on cuDNN's generic direct kernel, and the
     * same build trained at 49,700 or 59,000 images/s from run to run (docs/BENCHMARKS.md). */
    CudaAlgoPerf perf[PERF_MAX];
    int got = 0;
    for (int round = 0; round < 2; round++) {
        DNN_TRY(cudnnSetConvolutionMathType(pl->cd, default_math(pl->prec)));
        TRY(find_round(ctx, pl, kind, x, w, dy, out, count, perf, &got));
    }
    int best = cuda_algo_pick(perf, got, ctx->ws_cap, pl->det);
    if (best < 0) {
        char ws[32];
        cuda_format_bytes(ws, sizeof ws, ctx->ws_cap);
        return status_fail(ST_ERR_DEVICE, "cuda conv2d %s: cuDNN has no usable algorithm for "
                           "input (%d, %d, %d, %d), %d filters %dx%d stride %d pad %d in %s%s "
                           "with %s of workspace (%d tried)", kind_name(kind), pl->n, pl->c,
                           pl->h, pl->w, pl->k, pl->kh, pl->kw, pl->stride, pl->pad,
                           cuda_precision_name((CudaPrecision)pl->prec),
                           pl->det ? ", deterministic" : "", ws, got);
    }
    if (ctx->algo_log)
        log_search(pl, kind, perf, got, best);
    CudaAlgoChoice c = {perf[best].algo, perf[best].math, perf[best].memory};
    TRY(cuda_algo_cache_put(&ctx->algos, &key, &c));
    pl->choice[kind] = c;
    pl->have[kind] = 1;
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * argument checks (cheap, host side; the reference checks everything) */

static Status conv_args(const char *op, const ConvDesc *d, const Tensor *x, const Tensor *w) {
    if (!d)
        return status_fail(ST_ERR_ARG, "cuda %s: ConvDesc is NULL", op);
    if (d->c_in <= 0 || d->c_out <= 0 || d->kh <= 0 || d->kw <= 0 || d->stride <= 0 || d->pad < 0)
        return status_fail(ST_ERR_ARG, "cuda %s: invalid conv (c_in %d, c_out %d, kernel %dx%d, "
                           "stride %d, pad %d)", op, d->c_in, d->c_out, d->kh, d->kw, d->stride,
                           d->pad);
    TRY(cuda_need(op, "x", x, DT_F32));
    TRY(cuda_need(op, "w", w, DT_F32));
    if (x->c != d->c_in || w->n != d->c_out || w->c != d->c_in || w->h != d->kh || w->w != d->kw)
        return status_fail(ST_ERR_ARG, "cuda %s: input has %d channels and w is (%d, %d, %d, %d) "
                           "for a conv of %d -> %d channels, %dx%d", op, x->c, w->n, w->c, w->h,
                           w->w, d->c_in, d->c_out, d->kh, d->kw);
    if (x->h + 2 * d->pad < d->kh || x->w + 2 * d->pad < d->kw)
        return status_fail(ST_ERR_ARG, "cuda %s: input %dx%d (pad %d) is smaller than the %dx%d "
                           "kernel", op, x->h, x->w, d->pad, d->kh, d->kw);
    return ST_OK;
}

static Status out_args(const char *op, const char *what, const Tensor *y, int n, int c, int h,
                       int w) {
    TRY(cuda_need(op, what, y, DT_F32));
    if (y->n != n || y->c != c || y->h != h || y->w != w)
        return status_fail(ST_ERR_ARG, "cuda %s: %s is (%d, %d, %d, %d), expected (%d, %d, %d, "
                           "%d) (a shape bug in the calling layer)", op, what, y->n, y->c, y->h,
                           y->w, n, c, h, w);
    return ST_OK;
}

int cuda_lowp_layout(int prec) {
    return prec == CUDA_PREC_FP16 ? CUDA_LAYOUT_NHWC_F16 : CUDA_LAYOUT_NHWC_BF16;
}

Status cuda_conv_operand(CudaCtx *ctx, int prec, const Tensor *src, int cpad, int slot,
                         const void **out) {
    if (prec == CUDA_PREC_FP32)
        return cuda_view(ctx, src, CUDA_LAYOUT_NCHW, slot, out);
    if (src->layout == cuda_lowp_layout(prec) && cpad == src->c) {
        *out = src->data;
        return ST_OK;
    }
    const void *f32 = src->data;
    if (cuda_is16(src))
        TRY(cuda_view(ctx, src, CUDA_LAYOUT_NCHW, CUDA_SCRATCH_V0, &f32));
    void *buf;
    int hw = src->h * src->w;
    TRY(cuda_scratch(ctx, slot, (size_t)src->n * cpad * hw * 2, &buf));
    CU_TRY(cuk_to_lowp_nhwc(f32, buf, src->n, src->c, cpad, hw, prec == CUDA_PREC_FP16,
                            ctx->stream));
    *out = buf;
    return ST_OK;
}

/* Whether a result in 16 bits (prec, the plan's) is handed on as it is (a 16-bit activation)
 * instead of being converted to fp32: with 16-bit activations on, for an activation (not a weight gradient, no
 * bias to add in fp32) whose channels need no padding and suit cuDNN's channels-last kernels. */
static int hand_on(const CudaCtx *ctx, int prec, const Tensor *dst, int cpad, int activation) {
    return ctx->act16 && prec != CUDA_PREC_FP32 && activation && cpad == dst->c &&
           dst->c % 8 == 0;
}

/* Where a result in the compute precision goes: dst itself for fp32 or when handed on, else
 * scratch (with cpad channels). */
static Status result(CudaCtx *ctx, int prec, Tensor *dst, int cpad, int activation, int slot,
                     void **out) {
    if (prec == CUDA_PREC_FP32 || hand_on(ctx, prec, dst, cpad, activation)) {
        *out = dst->data;
        return ST_OK;
    }
    return cuda_scratch(ctx, slot, (size_t)dst->n * cpad * dst->h * dst->w * 2, out);
}

/* Set dst's layout for a result written by result(): converted to fp32 from scratch unless it
 * went to dst directly. */
static Status finish(CudaCtx *ctx, int prec, const void *res, int cpad, int activation,
                     Tensor *dst) {
    if (prec == CUDA_PREC_FP32) {
        dst->layout = CUDA_LAYOUT_NCHW;
    } else if (hand_on(ctx, prec, dst, cpad, activation)) {
        dst->layout = cuda_lowp_layout(prec);
    } else {
        CU_TRY(cuk_from_lowp_nhwc(res, dst->data, dst->n, dst->c, cpad, dst->h * dst->w,
                                  prec == CUDA_PREC_FP16, ctx->stream));
        dst->layout = CUDA_LAYOUT_NCHW;
    }
    return ST_OK;
}

/* Plan, operands in the compute precision, result buffer and algorithm for one direction:
 * FWD reads x and w into y, BWD_DATA dy and w into dx, BWD_FILTER x and dy into dw (unused
 * inputs are NULL). When cuDNN offers no low-precision algorithm for a shape (an input with 3
 * channels can be one), this ConvDesc computes in fp32 from then on and describe() counts it. */
static Status prepare(CudaCtx *ctx, ConvDesc *d, int kind, const Tensor *shape, const Tensor *x,
                      const Tensor *w, const Tensor *dy, Tensor *out, int activation,
                      CudaConvPlan **plan, const void **xp, const void **wp, const void **dyp,
                      void **outp) {
    const int out_slot = kind == CUDA_CONV_FWD ? CUDA_SCRATCH_Y
                         : kind == CUDA_CONV_BWD_DATA ? CUDA_SCRATCH_X : CUDA_SCRATCH_W;
    for (;;) {
        CudaConvPlan *pl = NULL;
        TRY(plan_for(ctx, d, shape->n, shape->h, shape->w, &pl));
        *xp = *wp = *dyp = NULL;
        /* x, w and dx/dw have the input channels (padded), y and dy the output channels */
        if (x)
            TRY(cuda_conv_operand(ctx, pl->prec, x, pl->cp, CUDA_SCRATCH_X, xp));
        if (w)
            TRY(cuda_conv_operand(ctx, pl->prec, w, pl->cp, CUDA_SCRATCH_W, wp));
        if (dy)
            TRY(cuda_conv_operand(ctx, pl->prec, dy, dy->c, CUDA_SCRATCH_Y, dyp));
        TRY(result(ctx, pl->prec, out, kind == CUDA_CONV_FWD ? out->c : pl->cp, activation,
                   out_slot, outp));
        Status st = choose(ctx, pl, kind, *xp, *wp, *dyp, *outp);
        if (st == ST_OK) {
            *plan = pl;
            return ST_OK;
        }
        if (st == ST_ERR_OOM || pl->prec == CUDA_PREC_FP32)
            return st;
        pl->force_fp32 = 1;   /* the next round builds an fp32 plan, which ends the loop */
        ctx->lp_fallbacks++;
    }
}

/* ------------------------------------------------------------------------------------------
 * the three directions */

Status cuda_conv2d_forward(void *vctx, ConvDesc *d, const Tensor *x, const Tensor *w,
                           const Tensor *b, Tensor *y) {
    CudaCtx *ctx = vctx;
    const char *op = "conv2d_forward";
    TRY(conv_args(op, d, x, w));
    if ((b != NULL) != (d->has_bias != 0))
        return status_fail(ST_ERR_ARG, "cuda %s: bias %s but ConvDesc.has_bias is %d", op,
                           b ? "given" : "missing", d->has_bias);
    if (b)
        TRY(out_args(op, "b", b, 1, d->c_out, 1, 1));
    TRY(out_args(op, "y", y, x->n, d->c_out, conv_out_size(x->h, d->kh, d->stride, d->pad),
                 conv_out_size(x->w, d->kw, d->stride, d->pad)));
    if (tensor_numel(y) == 0)
        return ST_OK;
    if (cuda_conv_gemm_applies(ctx, d))
        return cuda_conv_gemm_forward(ctx, d, x, w, y);
    CudaConvPlan *pl = NULL;
    const void *xp, *wp, *unused;
    void *yp;
    TRY(prepare(ctx, d, CUDA_CONV_FWD, x, x, w, NULL, y, b == NULL, &pl, &xp, &wp, &unused,
                &yp));
    const CudaAlgoChoice *c = &pl->choice[CUDA_CONV_FWD];
    DNN_TRY(cudnnSetConvolutionMathType(pl->cd, (cudnnMathType_t)c->math));
    DNN_TRY(cudnnConvolutionForward(ctx->dnn, &ONE, pl->xd, xp, pl->wd, wp, pl->cd,
                                    (cudnnConvolutionFwdAlgo_t)c->algo, ctx->ws, c->memory, &ZERO,
                                    pl->yd, yp));
    TRY(finish(ctx, pl->prec, yp, y->c, b == NULL, y));
    if (b)
        DNN_TRY(cudnnAddTensor(ctx->dnn, &ONE, pl->bd, b->data, &ONE, pl->y32, y->data));
    return ST_OK;
}

Status cuda_conv2d_backward_data(void *vctx, ConvDesc *d, const Tensor *dy, const Tensor *w,
                                 Tensor *dx) {
    CudaCtx *ctx = vctx;
    const char *op = "conv2d_backward_data";
    if (!dx)
        return status_fail(ST_ERR_ARG, "cuda %s: dx is NULL", op);
    TRY(conv_args(op, d, dx, w));
    TRY(out_args(op, "dy", dy, dx->n, d->c_out, conv_out_size(dx->h, d->kh, d->stride, d->pad),
                 conv_out_size(dx->w, d->kw, d->stride, d->pad)));
    if (tensor_numel(dx) == 0)
        return ST_OK;
    if (cuda_conv_gemm_applies(ctx, d))
        return cuda_conv_gemm_backward_data(ctx, d, dy, w, dx);
    CudaConvPlan *pl = NULL;
    const void *dyp, *wp, *unused;
    void *dxp;
    TRY(prepare(ctx, d, CUDA_CONV_BWD_DATA, dx, NULL, w, dy, dx, 1, &pl, &unused, &wp, &dyp,
                &dxp));
    const CudaAlgoChoice *c = &pl->choice[CUDA_CONV_BWD_DATA];
    DNN_TRY(cudnnSetConvolutionMathType(pl->cd, (cudnnMathType_t)c->math));
    DNN_TRY(cudnnConvolutionBackwardData(ctx->dnn, &ONE, pl->wd, wp, pl->yd, dyp, pl->cd,
                                         (cudnnConvolutionBwdDataAlgo_t)c->algo, ctx->ws,
                                         c->memory, &ZERO, pl->xd, dxp));
    return finish(ctx, pl->prec, dxp, pl->cp, 1, dx);
}

Status cuda_conv2d_backward_filter(void *vctx, ConvDesc *d, const Tensor *x, const Tensor *dy,
                                   Tensor *dw, Tensor *db) {
    CudaCtx *ctx = vctx;
    const char *op = "conv2d_backward_filter";
    TRY(conv_args(op, d, x, dw));
    if ((db != NULL) != (d->has_bias != 0))
        return status_fail(ST_ERR_ARG, "cuda %s: db %s but ConvDesc.has_bias is %d", op,
                           db ? "given" : "missing", d->has_bias);
    if (db)
        TRY(out_args(op, "db", db, 1, d->c_out, 1, 1));
    TRY(out_args(op, "dy", dy, x->n, d->c_out, conv_out_size(x->h, d->kh, d->stride, d->pad),
                 conv_out_size(x->w, d->kw, d->stride, d->pad)));
    if (tensor_numel(dy) == 0) {
        /* an empty batch contributes nothing: the gradients are zero, as the sums are */
        CU_TRY(cuk_fill(dw->data, tensor_numel(dw), 0.0f, ctx->stream));
        if (db)
            CU_TRY(cuk_fill(db->data, tensor_numel(db), 0.0f, ctx->stream));
        return ST_OK;
    }
    if (cuda_conv_gemm_applies(ctx, d))
        return cuda_conv_gemm_backward_filter(ctx, d, x, dy, dw);
    CudaConvPlan *pl = NULL;
    const void *xp, *dyp, *unused;
    void *dwp;
    TRY(prepare(ctx, d, CUDA_CONV_BWD_FILTER, x, x, NULL, dy, dw, 0, &pl, &xp, &unused, &dyp,
                &dwp));
    const CudaAlgoChoice *c = &pl->choice[CUDA_CONV_BWD_FILTER];
    DNN_TRY(cudnnSetConvolutionMathType(pl->cd, (cudnnMathType_t)c->math));
    DNN_TRY(cudnnConvolutionBackwardFilter(ctx->dnn, &ONE, pl->xd, xp, pl->yd, dyp, pl->cd,
                                           (cudnnConvolutionBwdFilterAlgo_t)c->algo, ctx->ws,
                                           c->memory, &ZERO, pl->wd, dwp));
    TRY(finish(ctx, pl->prec, dwp, pl->cp, 0, dw));
    if (db) {
        const void *dy32;
        TRY(cuda_view(ctx, dy, CUDA_LAYOUT_NCHW, CUDA_SCRATCH_V1, &dy32));
        DNN_TRY(cudnnConvolutionBackwardBias(ctx->dnn, &ONE, pl->y32, dy32, &ZERO, pl->bd,
                                             db->data));
    }
    return ST_OK;
}
