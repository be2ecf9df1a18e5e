/* cuda_backend.c — the CUDA backend's op table, device probe, context and memory ops.
 *
 * Owns: backend_cuda_create() (any failure to reach a working GPU — no driver, a driver too
 * old, no device, cuDNN or cuBLAS failing to start — is reported as "no usable CUDA device"
 * with the reason, so `device: auto` falls back to the CPU), the stream, the cuDNN and cuBLAS
 * handles, the shared workspace and scratch buffers, device memory (out of memory is reported
 * with the size asked for and leaves the tensor as it was), host <-> device copies, the checked
 * call helpers behind CU_TRY / DNN_TRY / BLAS_TRY, and set_precision/describe. The ops live in
 * cuda_conv.c, cuda_bn.c, cuda_dense.c, cuda_eltwise.c and cuda_augment.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

/* ------------------------------------------------------------------------------------------
 * checked calls */

Status cuda_rt_fail(cudaError_t e, const char *call, const char *file, int line) {
    char msg[640];
    cudaGetLastError();   /* clear a non-sticky error so the next call starts clean */
    cuda_format_call_error(msg, sizeof msg, call, file, line, cudaGetErrorName(e),
                           cudaGetErrorString(e));
    return status_fail(e == cudaErrorMemoryAllocation ? ST_ERR_OOM : ST_ERR_DEVICE, "%s%s", msg,
                       e == cudaErrorMemoryAllocation
                           ? "; use a smaller batch size or a smaller model" : "");
}

Status cuda_dnn_fail(cudnnStatus_t s, const char *call, const char *file, int line) {
    char msg[640], name[32];
    snprintf(name, sizeof name, "cudnnStatus %d", (int)s);
    cuda_format_call_error(msg, sizeof msg, call, file, line, name, cudnnGetErrorString(s));
    return status_fail(s == CUDNN_STATUS_ALLOC_FAILED ? ST_ERR_OOM : ST_ERR_DEVICE, "%s", msg);
}

Status cuda_blas_fail(cublasStatus_t s, const char *call, const char *file, int line) {
    char msg[640];
    cuda_format_call_error(msg, sizeof msg, call, file, line, cublasGetStatusName(s),
                           cublasGetStatusString(s));
    return status_fail(s == CUBLAS_STATUS_ALLOC_FAILED ? ST_ERR_OOM : ST_ERR_DEVICE, "%s", msg);
}

void cuda_mem_info(size_t *free_bytes, size_t *total_bytes) {
    if (cudaMemGetInfo(free_bytes, total_bytes) != cudaSuccess) {
        cudaGetLastError();
        *free_bytes = *total_bytes = 0;
    }
}

Status cuda_need(const char *op, const char *what, const Tensor *t, DType dt) {
    if (!t)
        return status_fail(ST_ERR_ARG, "cuda %s: %s is NULL (the caller must pass it)", op, what);
    if (t->dtype != dt)
        return status_fail(ST_ERR_ARG, "cuda %s: %s is %s, expected %s", op, what,
                           dtype_name(t->dtype), dtype_name(dt));
    if (tensor_numel(t) > 0 && (!t->data || t->cap < tensor_bytes(t)))
        return status_fail(ST_ERR_ARG, "cuda %s: %s (%d, %d, %d, %d) is not allocated for its "
                           "shape (call tensor_alloc after reshaping)", op, what, t->n, t->c,
                           t->h, t->w);
    return ST_OK;
}

Status cuda_need_like(const char *op, const char *what, const Tensor *t, const Tensor *like,
                      DType dt) {
    TRY(cuda_need(op, what, t, dt));
    if (tensor_numel(t) != tensor_numel(like))
        return status_fail(ST_ERR_ARG, "cuda %s: %s is (%d, %d, %d, %d), expected (%d, %d, %d, "
                           "%d) (a shape bug in the calling layer)", op, what, t->n, t->c, t->h,
                           t->w, like->n, like->c, like->h, like->w);
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * scratch, workspace, synchronization */

/* The old buffer is released first so growing never needs both. */
Status cuda_grow(void **buf, size_t *cap, size_t bytes, const char *what) {
    if (*cap >= bytes && *buf)
        return ST_OK;
    if (*buf) {
        /* queued kernels may still read the old buffer (cudaFree waits too; this says so) */
        CU_TRY(cudaDeviceSynchronize());
        CU_TRY(cudaFree(*buf));
    }
    *buf = NULL;
    *cap = 0;
    size_t want = bytes < 256 ? 256 : bytes;
    cudaError_t e = cudaMalloc(buf, want);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        *buf = NULL;
        size_t fr, tot;
        cuda_mem_info(&fr, &tot);
        char msg[512];
        cuda_format_oom(msg, sizeof msg, what, NULL, want, fr, tot);
        return status_fail(ST_ERR_OOM, "%s", msg);
    }
    if (e != cudaSuccess) {
        *buf = NULL;
        return cuda_rt_fail(e, "cudaMalloc(buf, want)", __FILE__, __LINE__);
    }
    *cap = want;
    return ST_OK;
}

Status cuda_scratch(CudaCtx *ctx, int slot, size_t bytes, void **out) {
    TRY(cuda_grow(&ctx->scratch[slot], &ctx->scratch_cap[slot], bytes, "a low-precision scratch "
             "buffer"));
    *out = ctx->scratch[slot];
    return ST_OK;
}

Status cuda_workspace(CudaCtx *ctx, size_t bytes) {
    if (bytes == 0 || ctx->ws_cap >= bytes)
        return ST_OK;
    return cuda_grow(&ctx->ws, &ctx->ws_cap, bytes, "the cuDNN workspace");
}

Status cuda_sync(CudaCtx *ctx, const char *where) {
    /* the 16-byte error record rides along with the wait the caller needs anyway */
    cudaError_t e = cudaMemcpyAsync(ctx->deverr, ctx->deverr_dev, sizeof *ctx->deverr,
                                    cudaMemcpyDeviceToHost, ctx->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(ctx->stream);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return status_fail(ST_ERR_DEVICE, "cuda backend: a GPU operation failed (noticed at %s): "
                           "%s (%s); the GPU may be unusable until the run is restarted", where,
                           cudaGetErrorString(e), cudaGetErrorName(e));
    }
    const CudaDeviceError *de = ctx->deverr;
    if (de->code == CUDA_DEVERR_LABEL) {
        int sample = de->a, label = de->b, classes = de->c;
        CU_TRY(cudaMemsetAsync(ctx->deverr_dev, 0, sizeof *ctx->deverr_dev, ctx->stream));
        return status_fail(ST_ERR_ARG, "cuda softmax_xent: label %d of sample %d is outside [0, "
                           "%d) (does the dataset have more classes than the model?)", label,
                           sample, classes);
    }
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * layouts */

size_t cuda_stored_bytes(const Tensor *t) {
    return cuda_is16(t) ? tensor_numel(t) * 2 : tensor_bytes(t);
}

static const char *layout_name(int layout) {
    return layout == CUDA_LAYOUT_NHWC_BF16 ? "bf16 channels-last"
           : layout == CUDA_LAYOUT_NHWC_F16 ? "fp16 channels-last"
           : layout == CUDA_LAYOUT_NHWC_U8  ? "u8 channels-last"
                                            : "fp32 NCHW";
}

Status cuda_view(CudaCtx *ctx, const Tensor *t, int layout, int slot, const void **out) {
    if (t->layout == layout || tensor_numel(t) == 0) {
        *out = t->data;
        return ST_OK;
    }
    if (t->dtype != DT_F32 || (cuda_is16(t) && layout != CUDA_LAYOUT_NCHW))
        /* bf16 <-> fp16 would mean the precision changed between two ops of one step */
        return status_fail(ST_ERR_ARG, "cuda backend: a tensor (%d, %d, %d, %d) stored as %s is "
                           "needed as %s; set the precision before the first op", t->n, t->c,
                           t->h, t->w, layout_name(t->layout), layout_name(layout));
    void *buf;
    const int hw = t->h * t->w;
    if (layout == CUDA_LAYOUT_NCHW) {
        TRY(cuda_scratch(ctx, slot, tensor_bytes(t), &buf));
        CU_TRY(cuk_from_lowp_nhwc(t->data, buf, t->n, t->c, t->c, hw, cuda_half(t->layout),
                                  ctx->stream));
    } else {
        TRY(cuda_scratch(ctx, slot, tensor_numel(t) * 2, &buf));
        CU_TRY(cuk_to_lowp_nhwc(t->data, buf, t->n, t->c, t->c, hw, cuda_half(layout),
                                ctx->stream));
    }
    *out = buf;
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * memory ops */

/* t's buffer replaced by one of `want` bytes (t->data may hold an old one). */
static Status grow(Tensor *t, size_t want) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, want);
    if (e == cudaErrorMemoryAllocation && t->data) {
        /* Give the old buffer back and try again; if that fails too, take the old size back so
         * the tensor stays usable at its previous shape (the caller refuses the change). */
        cudaGetLastError();
        size_t old = t->cap;
        CU_TRY(cudaDeviceSynchronize());
        CU_TRY(cudaFree(t->data));
        t->data = NULL;
        t->cap = 0;
        e = cudaMalloc(&p, want);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            void *back = NULL;
            if (cudaMalloc(&back, old) == cudaSuccess) {
                t->data = back;
                t->cap = old;
            } else {
                cudaGetLastError();
            }
        }
    }
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        size_t fr, tot;
        cuda_mem_info(&fr, &tot);
        char msg[512];
        cuda_format_oom(msg, sizeof msg, "tensor", t, want, fr, tot);
        return status_fail(ST_ERR_OOM, "%s", msg);
    }
    if (e != cudaSuccess)
        return cuda_rt_fail(e, "cudaMalloc(&p, want)", __FILE__, __LINE__);
    if (t->data) {
        CU_TRY(cudaDeviceSynchronize());   /* queued kernels may still use the old buffer */
        CU_TRY(cudaFree(t->data));
    }
    t->data = p;
    t->cap = want;
    return ST_OK;
}

static Status cuda_tensor_alloc(void *vctx, Tensor *t) {
    CudaCtx *ctx = vctx;
    if (!t)
        return status_fail(ST_ERR_ARG, "cuda tensor_alloc: tensor is NULL");
    if (t->n < 0 || t->c < 0 || t->h < 0 || t->w < 0)
        return status_fail(ST_ERR_ARG, "cuda tensor_alloc: negative shape (%d, %d, %d, %d)", t->n,
                           t->c, t->h, t->w);
    if (t->dtype != DT_F32 && t->dtype != DT_I32 && t->dtype != DT_U8)
        return status_fail(ST_ERR_ARG, "cuda tensor_alloc: unknown dtype %d", (int)t->dtype);
    size_t bytes = dtype_size(t->dtype);
    const int dims[4] = {t->n, t->c, t->h, t->w};
    for (int i = 0; i < 4; i++) {
        if (dims[i] > 0 && bytes > SIZE_MAX / (size_t)dims[i])
            return status_fail(ST_ERR_OOM, "cuda tensor_alloc: (%d, %d, %d, %d) is too large to "
                               "address", t->n, t->c, t->h, t->w);
        bytes *= (size_t)dims[i];
    }
    /* A kept buffer keeps its layout: a gradient buffer reshaped to the shape it already has
     * (model.c does so before adding into it) still holds values in that layout. */
    if (t->data && t->cap >= bytes)
        return ST_OK;
    t->layout = CUDA_LAYOUT_NCHW;
    size_t want = bytes < 256 ? 256 : bytes;
    const size_t held = t->data ? t->cap : 0;
    TRY(backend_check_limit("cuda", ctx->mem_limit, ctx->mem_used - held, want, t));
    Status st = grow(t, want);
    ctx->mem_used = ctx->mem_used - held + (t->data ? t->cap : 0);
    return st;
}

static void cuda_set_memory_limit(void *vctx, size_t bytes) {
    ((CudaCtx *)vctx)->mem_limit = bytes;
}

/* cudaFree waits for queued work on the device before it releases the memory. It can only fail
 * for a pointer we did not allocate or a dead context; neither leaves anything to recover, and
 * free functions return nothing. */
static void cuda_tensor_free(void *vctx, Tensor *t) {
    CudaCtx *ctx = vctx;
    if (!t)
        return;
    ctx->mem_used -= t->data ? t->cap : 0;
    if (t->data && cudaFree(t->data) != cudaSuccess)
        cudaGetLastError();
    t->data = NULL;
    t->cap = 0;
    t->layout = 0;
}

static Status cuda_upload(void *vctx, Tensor *t, const void *host) {
    CudaCtx *ctx = vctx;
    if (!t)
        return status_fail(ST_ERR_ARG, "cuda upload: tensor is NULL");
    TRY(cuda_need("upload", "t", t, t->dtype));
    size_t bytes = tensor_bytes(t);
    if (!bytes)
        return ST_OK;
    if (!host)
        return status_fail(ST_ERR_ARG, "cuda upload: host pointer is NULL");
    /* From pageable memory the call returns once the bytes are staged, so `host` may be
     * reused as soon as it returns. */
    CU_TRY(cudaMemcpyAsync(t->data, host, bytes, cudaMemcpyHostToDevice, ctx->stream));
    t->layout = 0;
    return ST_OK;
}

/* A channels-last u8 tensor (a dropout mask) put back in NCHW order on the host: masks are
 * only downloaded to be looked at, so no kernel is spent on it. */
static Status download_u8_nhwc(CudaCtx *ctx, const Tensor *t, void *host) {
    const size_t count = tensor_numel(t), hw = (size_t)t->h * (size_t)t->w, C = (size_t)t->c;
    uint8_t *rows = malloc(count);
    if (!rows)
        return status_fail(ST_ERR_OOM, "cuda download: no host memory for %zu bytes", count);
    cudaError_t e = cudaMemcpyAsync(rows, t->data, count, cudaMemcpyDeviceToHost, ctx->stream);
    Status st = e == cudaSuccess
                    ? cuda_sync(ctx, "download")
                    : cuda_rt_fail(e, "cudaMemcpyAsync(rows, ...)", __FILE__, __LINE__);
    if (st == ST_OK) {
        uint8_t *out = host;
        for (size_t r = 0; r < count / (C ? C : 1); r++)
            for (size_t c = 0; c < C; c++)
                out[((r / hw) * C + c) * hw + r % hw] = rows[r * C + c];
    }
    free(rows);
    return st;
}

static Status cuda_download(void *vctx, const Tensor *t, void *host) {
    CudaCtx *ctx = vctx;
    if (!t)
        return status_fail(ST_ERR_ARG, "cuda download: tensor is NULL");
    TRY(cuda_need("download", "t", t, t->dtype));
    size_t bytes = tensor_bytes(t);
    if (bytes && !host)
        return status_fail(ST_ERR_ARG, "cuda download: host pointer is NULL");
    if (bytes && t->layout == CUDA_LAYOUT_NHWC_U8)
        return download_u8_nhwc(ctx, t, host);
    if (bytes) {
        const void *src;
        TRY(cuda_view(ctx, t, CUDA_LAYOUT_NCHW, CUDA_SCRATCH_V0, &src));
        CU_TRY(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, ctx->stream));
    }
    return cuda_sync(ctx, "download");
}

static Status cuda_fill(void *vctx, Tensor *t, float v) {
    CudaCtx *ctx = vctx;
    TRY(cuda_need("fill", "t", t, DT_F32));
    CU_TRY(cuk_fill(t->data, tensor_numel(t), v, ctx->stream));
    t->layout = 0;
    return ST_OK;
}

static Status cuda_copy(void *vctx, Tensor *dst, const Tensor *src) {
    CudaCtx *ctx = vctx;
    if (!src)
        return status_fail(ST_ERR_ARG, "cuda copy: src is NULL");
    TRY(cuda_need("copy", "src", src, src->dtype));
    TRY(cuda_need_like("copy", "dst", dst, src, src->dtype));
    if (tensor_bytes(src) && dst->data != src->data)
        CU_TRY(cudaMemcpyAsync(dst->data, src->data, cuda_stored_bytes(src),
                               cudaMemcpyDeviceToDevice, ctx->stream));
    dst->layout = src->layout;
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * precision, description, lifetime */

static Status cuda_set_precision(void *vctx, int precision, int deterministic) {
    CudaCtx *ctx = vctx;
    CudaPrecision p;
    char note[sizeof ctx->prec_note];
    TRY(cuda_precision_resolve(precision, ctx->cc_major, ctx->cc_minor, &p, note, sizeof note));
    ctx->requested_precision = precision;
    ctx->prec = p;
    snprintf(ctx->prec_note, sizeof ctx->prec_note, "%s", note);
    ctx->deterministic = deterministic != 0;
    return ST_OK;
}

static const char *cuda_describe(void *vctx) {
    CudaCtx *ctx = vctx;
    char mem[32];
    cuda_format_bytes(mem, sizeof mem, ctx->total_mem);
    snprintf(ctx->description, sizeof ctx->description,
             "cuda: %.200s, sm_%d%d, %s, CUDA runtime %d.%d driver %d.%d, cuDNN %zu.%zu.%zu, "
             "convolutions in %s%s%s%s",
             ctx->gpu_name, ctx->cc_major, ctx->cc_minor, mem, ctx->runtime_version / 1000,
             ctx->runtime_version % 1000 / 10, ctx->driver_version / 1000,
             ctx->driver_version % 1000 / 10, ctx->cudnn_version / 10000,
             ctx->cudnn_version % 10000 / 100, ctx->cudnn_version % 100,
             cuda_precision_name(ctx->prec), ctx->prec_note[0] ? " (" : "", ctx->prec_note,
             ctx->prec_note[0] ? ")" : "");
    size_t len = strlen(ctx->description);
    if (ctx->lp_fallbacks > 0 && len < sizeof ctx->description)
        snprintf(ctx->description + len, sizeof ctx->description - len, " (%d convolution%s in "
                 "fp32: no %s algorithm)", ctx->lp_fallbacks, ctx->lp_fallbacks == 1 ? "" : "s",
                 cuda_precision_name(ctx->prec));
    len = strlen(ctx->description);
    if (ctx->act16 && ctx->prec != CUDA_PREC_FP32 && len < sizeof ctx->description)
        snprintf(ctx->description + len, sizeof ctx->description - len, ", activations in %s "
                 "channels-last", cuda_precision_name(ctx->prec));
    else if (!ctx->act16 && ctx->prec != CUDA_PREC_FP32 && len < sizeof ctx->description)
        snprintf(ctx->description + len, sizeof ctx->description - len, ", activations in fp32 "
                 "(SHORTCUT_CUDA_ACT16=0)");
    len = strlen(ctx->description);
    if (ctx->gemm1x1 && ctx->act16 && ctx->prec != CUDA_PREC_FP32 &&
        len < sizeof ctx->description)
        snprintf(ctx->description + len, sizeof ctx->description - len, ", 1x1 convolutions on "
                 "cuBLAS");
    len = strlen(ctx->description);
    if (ctx->deterministic && len < sizeof ctx->description)
        snprintf(ctx->description + len, sizeof ctx->description - len, ", deterministic");
    return ctx->description;
}

/* Teardown tolerates a half-built context and a failing device: nothing here can be retried. */
static void cuda_destroy(void *vctx) {
    CudaCtx *ctx = vctx;
    if (!ctx)
        return;
    if (ctx->stream && cudaStreamSynchronize(ctx->stream) != cudaSuccess)
        cudaGetLastError();
    void *bufs[] = {ctx->ws, ctx->reduce, ctx->sgd_dev, ctx->aug_dev, ctx->bn_buf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i] && cudaFree(bufs[i]) != cudaSuccess)
            cudaGetLastError();
    for (int i = 0; i < CUDA_SCRATCH_SLOTS; i++)
        if (ctx->scratch[i] && cudaFree(ctx->scratch[i]) != cudaSuccess)
            cudaGetLastError();
    if (ctx->deverr_dev && cudaFree(ctx->deverr_dev) != cudaSuccess)
        cudaGetLastError();
    if (ctx->deverr && cudaFreeHost(ctx->deverr) != cudaSuccess)
        cudaGetLastError();
    if (ctx->blas)
        cublasDestroy(ctx->blas);
    if (ctx->dnn)
        cudnnDestroy(ctx->dnn);
    if (ctx->stream && cudaStreamDestroy(ctx->stream) != cudaSuccess)
        cudaGetLastError();
    cuda_algo_cache_clear(&ctx->algos);
    free(ctx->sgd_host);
    free(ctx->aug_host);
    free(ctx);
}

static const BackendOps CUDA_OPS = {
    .name = "cuda",
    .tensor_alloc = cuda_tensor_alloc,
    .tensor_free = cuda_tensor_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .fill = cuda_fill,
    .copy = cuda_copy,
    .conv2d_forward = cuda_conv2d_forward,
    .conv2d_backward_data = cuda_conv2d_backward_data,
    .conv2d_backward_filter = cuda_conv2d_backward_filter,
    .plan_free = cuda_plan_free,
    .batchnorm_forward_train = cuda_batchnorm_forward_train,
    .batchnorm_forward_infer = cuda_batchnorm_forward_infer,
    .batchnorm_backward = cuda_batchnorm_backward,
    .batchnorm_relu_forward_train = cuda_batchnorm_relu_forward_train,
    .batchnorm_relu_forward_infer = cuda_batchnorm_relu_forward_infer,
    .batchnorm_relu_backward = cuda_batchnorm_relu_backward,
    .batchnorm_add_relu_forward_train = cuda_batchnorm_add_relu_forward_train,
    .batchnorm_add_relu_forward_infer = cuda_batchnorm_add_relu_forward_infer,
    .batchnorm_add_relu_backward = cuda_batchnorm_add_relu_backward,
    .relu_forward = cuda_relu_forward,
    .relu_backward = cuda_relu_backward,
    .add = cuda_add,
    .accumulate = cuda_accumulate,
    .dropout_forward = cuda_dropout_forward,
    .dropout_backward = cuda_dropout_backward,
    .pool2d_forward = cuda_pool2d_forward,
    .pool2d_backward = cuda_pool2d_backward,
    .pad_channels_forward = cuda_pad_channels_forward,
    .pad_channels_backward = cuda_pad_channels_backward,
    .linear_forward = cuda_linear_forward,
    .linear_backward = cuda_linear_backward,
    .softmax_xent = cuda_softmax_xent,
    .sgd_update = cuda_sgd_update,
    .sum_squares = cuda_sum_squares,
    .scale = cuda_scale,
    .all_finite = cuda_all_finite,
    .set_threads = NULL,   /* the GPU needs no host threads */
    .set_memory_limit = cuda_set_memory_limit,
    .describe = cuda_describe,
    .destroy = cuda_destroy,
    .set_precision = cuda_set_precision,
    .augment = cuda_augment,
};

/* Every failure while reaching the device means "no usable CUDA device" to the caller. */
static Status no_device(CudaCtx *ctx, const char *call, const char *why) {
    char reason[512];
    snprintf(reason, sizeof reason, "%s", why);
    cuda_destroy(ctx);
    return status_fail(ST_ERR_DEVICE, "device 'cuda': no usable CUDA device (%s: %s)"
                       BACKEND_CUDA_ADVICE, call, reason);
}

#define PROBE_RT(call) do { cudaError_t e__ = (call); if (e__ != cudaSuccess) { \
    cudaGetLastError(); return no_device(ctx, #call, cudaGetErrorString(e__)); } } while (0)
#define PROBE_DNN(call) do { cudnnStatus_t s__ = (call); if (s__ != CUDNN_STATUS_SUCCESS) \
    return no_device(ctx, #call, cudnnGetErrorString(s__)); } while (0)
#define PROBE_BLAS(call) do { cublasStatus_t s__ = (call); if (s__ != CUBLAS_STATUS_SUCCESS) \
    return no_device(ctx, #call, cublasGetStatusString(s__)); } while (0)

Status backend_cuda_create(Backend *out) {
    if (!out)
        return status_fail(ST_ERR_ARG, "backend_cuda_create: out is NULL");
    out->ops = NULL;
    out->ctx = NULL;
    CudaCtx *ctx = NULL;
    int count = 0;
    PROBE_RT(cudaGetDeviceCount(&count));
    if (count < 1)
        return no_device(ctx, "cudaGetDeviceCount", "no GPU found");
    ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return status_fail(ST_ERR_OOM, "cuda backend: cannot allocate its context (%zu bytes)",
                           sizeof *ctx);
    ctx->device = 0;
    PROBE_RT(cudaSetDevice(ctx->device));
    struct cudaDeviceProp prop;
    PROBE_RT(cudaGetDeviceProperties(&prop, ctx->device));
    snprintf(ctx->gpu_name, sizeof ctx->gpu_name, "%s", prop.name);
    ctx->cc_major = prop.major;
    ctx->cc_minor = prop.minor;
    ctx->total_mem = prop.totalGlobalMem;
    ctx->sm_count = prop.multiProcessorCount;
    if (prop.major < 8) {
        char why[480];
        snprintf(why, sizeof why, "%.200s is sm_%d%d; this build has GPU code for sm_80 and newer "
                 "(add %d%d to CMAKE_CUDA_ARCHITECTURES and rebuild)", prop.name, prop.major,
                 prop.minor, prop.major, prop.minor);
        return no_device(ctx, "cudaGetDeviceProperties", why);
    }
    PROBE_RT(cudaRuntimeGetVersion(&ctx->runtime_version));
    PROBE_RT(cudaDriverGetVersion(&ctx->driver_version));
    ctx->cudnn_version = cudnnGetVersion();
    if (ctx->cudnn_version / 10000 != CUDNN_MAJOR) {
        char why[160];
        snprintf(why, sizeof why, "cuDNN %zu.%zu was loaded but the build used cuDNN %d headers",
                 ctx->cudnn_version / 10000, ctx->cudnn_version % 10000 / 100, CUDNN_MAJOR);
        return no_device(ctx, "cudnnGetVersion", why);
    }
    PROBE_RT(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    PROBE_DNN(cudnnCreate(&ctx->dnn));
    PROBE_DNN(cudnnSetStream(ctx->dnn, ctx->stream));
    PROBE_BLAS(cublasCreate(&ctx->blas));
    PROBE_BLAS(cublasSetStream(ctx->blas, ctx->stream));
    PROBE_RT(cudaMallocHost((void **)&ctx->deverr, sizeof *ctx->deverr));
    memset(ctx->deverr, 0, sizeof *ctx->deverr);
    PROBE_RT(cudaMalloc((void **)&ctx->deverr_dev, sizeof *ctx->deverr_dev));
    PROBE_RT(cudaMemset(ctx->deverr_dev, 0, sizeof *ctx->deverr_dev));
    size_t reduce_bytes = CUDA_REDUCE_BLOCKS * (sizeof(double) + sizeof(int)) +
                          sizeof(CudaSumResult) + 64;
    PROBE_RT(cudaMalloc(&ctx->reduce, reduce_bytes));
    ctx->prec = CUDA_PREC_FP32;   /* until set_precision: what the parity tests compare */
    /* On by default since session 7's H100 run (docs/GPU.md, "16-bit activations");
     * SHORTCUT_CUDA_ACT16=0 keeps activations fp32 NCHW, for comparisons. */
    const char *act16 = getenv("SHORTCUT_CUDA_ACT16");
    ctx->act16 = !(act16 && strcmp(act16, "0") == 0);
    /* Off: on session 8's H100 it passed parity but gained nothing measurable
     * (cuda_conv_gemm.c). */
    const char *gemm1x1 = getenv("SHORTCUT_CUDA_GEMM1X1");
    ctx->gemm1x1 = gemm1x1 && strcmp(gemm1x1, "1") == 0;
    /* Which algorithm each convolution got and what the others timed at: profilers change the
     * timings the search sees (docs/GPU.md), so this is how to see a real run's choices. */
    const char *algo_log = getenv("SHORTCUT_CUDA_ALGO_LOG");
    ctx->algo_log = algo_log && strcmp(algo_log, "1") == 0;
    /* SHORTCUT_CUDA_BN_RECOMPUTE=1: the 16-bit batchnorm+relu backward recomputes the forward's
     * output from x rather than reading y (cuda_bn.c). Off by default: on an H100 it saved the
     * read but cost more than it saved (wrn_28_10 8,034 img/s against 8,349-8,444 reading y;
     * docs/BENCHMARKS.md, session 9). */
    const char *bn_recompute = getenv("SHORTCUT_CUDA_BN_RECOMPUTE");
    ctx->bn_recompute = bn_recompute && strcmp(bn_recompute, "1") == 0;
    ctx->requested_precision = CUDA_REQ_FP32;
    out->ops = &CUDA_OPS;
    out->ctx = ctx;
    return ST_OK;
}
