/* cuda_internal.h — shared state and checked-call macros of the CUDA backend's C files.
 *
 * Not a public header: only the backend's own files include it, and they are the only files
 * of the project that see CUDA, cuDNN or cuBLAS declarations.
 *
 * Memory and layout: a tensor is dense NCHW in device memory (Tensor.layout CUDA_LAYOUT_NCHW),
 * f32, i32 or u8, exactly the bytes upload() received — or, for an f32 activation when 16-bit
 * activations are on, channels-last in bf16 or fp16 (CUDA_LAYOUT_NHWC_BF16/F16: N*H*W rows of C
 * 16-bit values in the first half of the f32 allocation). Low precision otherwise exists only
 * inside a convolution: operands are converted into channels-last scratch buffers, cuDNN
 * computes with fp32 accumulation, and the result is converted back. Master weights, their
 * gradients, the batchnorm statistics, the loss and the optimizer stay fp32 either way.
 *
 * 16-bit activations (ctx->act16, the default; in bf16/fp16 only): a convolution computing in
 * bf16/fp16 hands its output on as cuDNN wrote it (channels-last, 16 bits), and every op
 * writes its output in the layout of its main input, converting a second input that arrives
 * in another layout (cuda_view). So between two convolutions nothing is converted: batchnorm,
 * relu, add, dropout, pooling and the option-A shortcut read and write 16 bits
 * (kernels_nhwc.cu). The linear head reads an fp32 view; download() always returns dense NCHW
 * fp32. SHORTCUT_CUDA_ACT16=0 turns this off, for comparisons.
 *
 * Ordering: all work goes to one non-blocking stream, so ops run in call order and share one
 * cuDNN workspace and the scratch buffers without races. Errors inside kernels surface at the
 * next synchronization (download, sum_squares), which reports them with the call that noticed. */
#ifndef SHORTCUT_CUDA_INTERNAL_H
#define SHORTCUT_CUDA_INTERNAL_H

#include <stddef.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "backend.h"
#include "cuda_kernels.h"
#include "cuda_logic.h"

/* Scratch slots an op may hold at the same time: low-precision copies of conv operands, and
 * inputs converted to another layout (cuda_view; an op needs at most four). */
enum {
    CUDA_SCRATCH_X = 0, CUDA_SCRATCH_W, CUDA_SCRATCH_Y,
    CUDA_SCRATCH_V0, CUDA_SCRATCH_V1, CUDA_SCRATCH_V2, CUDA_SCRATCH_V3,
    CUDA_SCRATCH_SLOTS
};

/* Tensor.layout values of this backend (see "Memory and layout" above). A dropout mask (u8)
 * drawn on 16-bit activations is stored in their channels-last order: NHWC_U8. */
enum {
    CUDA_LAYOUT_NCHW = 0, CUDA_LAYOUT_NHWC_BF16 = 1, CUDA_LAYOUT_NHWC_F16 = 2,
    CUDA_LAYOUT_NHWC_U8 = 3
};

/* Largest workspace offered to cuDNN's algorithm search, whatever the free memory. */
#define CUDA_WORKSPACE_CAP ((size_t)2 << 30)

typedef struct CudaCtx {
    int device;
    cudaStream_t stream;
    cudnnHandle_t dnn;
    cublasHandle_t blas;

    char gpu_name[256];
    int cc_major, cc_minor;
    int sm_count;         /* multiprocessors: how batchnorm splits its sums */
    size_t total_mem;     /* bytes */
    int runtime_version, driver_version;
    size_t cudnn_version;

    int requested_precision;   /* config.h Precision value */
    CudaPrecision prec;        /* what convolutions compute in */
    char prec_note[160];       /* why prec differs from the request ("" when it does not) */
    int deterministic;
    int lp_fallbacks;          /* convolutions in fp32 for want of a bf16/fp16 algorithm */
    int act16;                 /* 16-bit activations in bf16/fp16 (SHORTCUT_CUDA_ACT16=0: off) */
    int gemm1x1;               /* SHORTCUT_CUDA_GEMM1X1=1: 1x1 convolutions on cuBLAS */
    int algo_log;              /* SHORTCUT_CUDA_ALGO_LOG=1: each algorithm search to stderr */
    int bn_recompute;          /* 16-bit batchnorm+relu backward recomputes the relu mask */
    size_t mem_limit, mem_used;   /* tensor bytes allowed (0: any) and held (set_memory_limit) */

    void *ws;                  /* cuDNN workspace, shared by every call */
    size_t ws_cap;             /* bytes */
    void *scratch[CUDA_SCRATCH_SLOTS];
    size_t scratch_cap[CUDA_SCRATCH_SLOTS];
    CudaAlgoCache algos;       /* convolution algorithms by shape */

    void *reduce;              /* sum_squares: partial sums, flags and the result */
    CudaSgdTensor *sgd_host;   /* the fused SGD table as last uploaded */
    void *sgd_dev;             /* the same rows in device memory */
    int sgd_cap, sgd_rows;     /* rows allocated on the host / rows in the uploaded table */
    size_t sgd_dev_cap;        /* bytes at sgd_dev */

    void *aug_host, *aug_dev;      /* augmentation tables: host staging, device copy */
    size_t aug_host_cap, aug_dev_cap;   /* bytes */

    CudaDeviceError *deverr_dev;   /* device memory kernels report argument errors to */
    CudaDeviceError *deverr;       /* pinned host copy, fetched at every synchronization */

    void *bn_buf;              /* batchnorm: partial sums, then per-channel coefficients */
    size_t bn_cap;             /* bytes */

    char description[640];
} CudaCtx;

/* ---- checked calls: the message names the call, the file and the line ---- */
Status cuda_rt_fail(cudaError_t e, const char *call, const char *file, int line);
Status cuda_dnn_fail(cudnnStatus_t s, const char *call, const char *file, int line);
Status cuda_blas_fail(cublasStatus_t s, const char *call, const char *file, int line);

#define CU_TRY(call) do { cudaError_t e__ = (call); \
    if (e__ != cudaSuccess) return cuda_rt_fail(e__, #call, __FILE__, __LINE__); } while (0)
#define DNN_TRY(call) do { cudnnStatus_t s__ = (call); \
    if (s__ != CUDNN_STATUS_SUCCESS) return cuda_dnn_fail(s__, #call, __FILE__, __LINE__); } \
    while (0)
#define BLAS_TRY(call) do { cublasStatus_t s__ = (call); \
    if (s__ != CUBLAS_STATUS_SUCCESS) return cuda_blas_fail(s__, #call, __FILE__, __LINE__); } \
    while (0)

/* ---- cuda_backend.c ---- */
/* A device buffer of at least `bytes` in `slot`, kept and grown across calls. */
Status cuda_scratch(CudaCtx *ctx, int slot, size_t bytes, void **out);
/* The cuDNN workspace grown to at least `bytes` (its contents are never kept). */
Status cuda_workspace(CudaCtx *ctx, size_t bytes);
/* A device buffer grown to at least `bytes` (old contents dropped); `what` words the
 * out-of-memory message. */
Status cuda_grow(void **buf, size_t *cap, size_t bytes, const char *what);
/* Wait for the stream; report a failed kernel or a device-side argument error. */
Status cuda_sync(CudaCtx *ctx, const char *where);
/* cudaMemGetInfo, 0/0 when it fails (only used to word messages and budgets). */
void cuda_mem_info(size_t *free_bytes, size_t *total_bytes);
static inline int cuda_is16(const Tensor *t) {
    return t->layout == CUDA_LAYOUT_NHWC_BF16 || t->layout == CUDA_LAYOUT_NHWC_F16;
}
/* half argument of the kernels for a 16-bit layout: 0 bf16, 1 fp16 */
static inline int cuda_half(int layout) { return layout == CUDA_LAYOUT_NHWC_F16; }
/* Bytes t's elements take in its layout. */
size_t cuda_stored_bytes(const Tensor *t);
/* t's f32 elements in `layout`: t's own memory when it is stored so, else a copy converted
 * into scratch slot `slot` (valid until the slot's next use). */
Status cuda_view(CudaCtx *ctx, const Tensor *t, int layout, int slot, const void **out);

/* Check that t is allocated with dtype dt and at least its shape's bytes. */
Status cuda_need(const char *op, const char *what, const Tensor *t, DType dt);
/* Check that t has the same element count as like, and dtype dt. */
Status cuda_need_like(const char *op, const char *what, const Tensor *t, const Tensor *like,
                      DType dt);

/* ---- cuda_conv.c ---- */
Status cuda_conv2d_forward(void *ctx, ConvDesc *d, const Tensor *x, const Tensor *w,
                           const Tensor *b, Tensor *y);
Status cuda_conv2d_backward_data(void *ctx, ConvDesc *d, const Tensor *dy, const Tensor *w,
                                 Tensor *dx);
Status cuda_conv2d_backward_filter(void *ctx, ConvDesc *d, const Tensor *x, const Tensor *dy,
                                   Tensor *dw, Tensor *db);
void cuda_plan_free(void *ctx, void *plan);
/* The 16-bit layout of compute precision prec. */
int cuda_lowp_layout(int prec);
/* src as compute precision prec wants it: fp32 NCHW, or 16-bit channels-last with cpad
 * channels. A 16-bit activation of the right kind is used as it is; anything else is converted
 * into scratch slot `slot` (through an fp32 view when it must change kind or gain channels). */
Status cuda_conv_operand(CudaCtx *ctx, int prec, const Tensor *src, int cpad, int slot,
                         const void **out);

/* ---- cuda_conv_gemm.c: 1x1 convolutions as cuBLAS products (arguments checked by the
 * cuda_conv.c callers; tensors not empty) ---- */
int cuda_conv_gemm_applies(const CudaCtx *ctx, const ConvDesc *d);
Status cuda_conv_gemm_forward(CudaCtx *ctx, const ConvDesc *d, const Tensor *x, const Tensor *w,
                              Tensor *y);
Status cuda_conv_gemm_backward_data(CudaCtx *ctx, const ConvDesc *d, const Tensor *dy,
                                    const Tensor *w, Tensor *dx);
Status cuda_conv_gemm_backward_filter(CudaCtx *ctx, const ConvDesc *d, const Tensor *x,
                                      const Tensor *dy, Tensor *dw);

/* ---- cuda_bn.c: batchnorm and its relu / residual-add fusions (kernels_bn.cu) ---- */
Status cuda_batchnorm_forward_train(void *ctx, const Tensor *x, const Tensor *gamma,
                                    const Tensor *beta, Tensor *running_mean,
                                    Tensor *running_var, float momentum, float eps, Tensor *y,
                                    Tensor *save_mean, Tensor *save_invstd);
Status cuda_batchnorm_forward_infer(void *ctx, const Tensor *x, const Tensor *gamma,
                                    const Tensor *beta, const Tensor *running_mean,
                                    const Tensor *running_var, float eps, Tensor *y);
Status cuda_batchnorm_backward(void *ctx, const Tensor *x, const Tensor *dy, const Tensor *gamma,
                               const Tensor *save_mean, const Tensor *save_invstd, Tensor *dx,
                               Tensor *dgamma, Tensor *dbeta);
Status cuda_batchnorm_relu_forward_train(void *ctx, const Tensor *x, const Tensor *gamma,
                                         const Tensor *beta, Tensor *running_mean,
                                         Tensor *running_var, float momentum, float eps,
                                         Tensor *y, Tensor *save_mean, Tensor *save_invstd);
Status cuda_batchnorm_relu_forward_infer(void *ctx, const Tensor *x, const Tensor *gamma,
                                         const Tensor *beta, const Tensor *running_mean,
                                         const Tensor *running_var, float eps, Tensor *y);
Status cuda_batchnorm_relu_backward(void *ctx, const Tensor *x, const Tensor *y,
                                    const Tensor *dy, const Tensor *gamma, const Tensor *beta,
                                    const Tensor *save_mean, const Tensor *save_invstd,
                                    Tensor *dx, Tensor *dgamma, Tensor *dbeta);
Status cuda_batchnorm_add_relu_forward_train(void *ctx, const Tensor *x, const Tensor *r,
                                             const Tensor *gamma, const Tensor *beta,
                                             Tensor *running_mean, Tensor *running_var,
                                             float momentum, float eps, Tensor *y,
                                             Tensor *save_mean, Tensor *save_invstd);
Status cuda_batchnorm_add_relu_forward_infer(void *ctx, const Tensor *x, const Tensor *r,
                                             const Tensor *gamma, const Tensor *beta,
                                             const Tensor *running_mean,
                                             const Tensor *running_var, float eps, Tensor *y);
Status cuda_batchnorm_add_relu_backward(void *ctx, const Tensor *x, const Tensor *y,
                                        const Tensor *dy, const Tensor *dy2, const Tensor *gamma,
                                        const Tensor *save_mean, const Tensor *save_invstd,
                                        Tensor *dx, Tensor *dr, Tensor *dgamma, Tensor *dbeta);

/* ---- cuda_dense.c: linear (cuBLAS), loss ---- */
Status cuda_linear_forward(void *ctx, const Tensor *x, const Tensor *w, const Tensor *b,
                           Tensor *y);
Status cuda_linear_backward(void *ctx, const Tensor *x, const Tensor *w, const Tensor *dy,
                            Tensor *dx, Tensor *dw, Tensor *db);
Status cuda_softmax_xent(void *ctx, const Tensor *logits, const Tensor *labels, float smoothing,
                         Tensor *loss, Tensor *pred, Tensor *prob, Tensor *dlogits);

/* ---- cuda_eltwise.c: relu, add, dropout, pooling, pad_channels, SGD, sum of squares, loss
 * scaling ---- */
Status cuda_relu_forward(void *ctx, const Tensor *x, Tensor *y);
Status cuda_relu_backward(void *ctx, const Tensor *y, const Tensor *dy, Tensor *dx);
Status cuda_add(void *ctx, const Tensor *a, const Tensor *b, Tensor *y);
Status cuda_accumulate(void *ctx, Tensor *y, const Tensor *x);
Status cuda_dropout_forward(void *ctx, float p, int per_channel, uint64_t seed, const Tensor *x,
                            Tensor *y, Tensor *mask);
Status cuda_dropout_backward(void *ctx, float p, const Tensor *mask, const Tensor *dy,
                             Tensor *dx);
Status cuda_pool2d_forward(void *ctx, PoolDesc *d, const Tensor *x, Tensor *y, Tensor *idx);
Status cuda_pool2d_backward(void *ctx, PoolDesc *d, const Tensor *x, const Tensor *y,
                            const Tensor *idx, const Tensor *dy, Tensor *dx);
Status cuda_pad_channels_forward(void *ctx, int stride, const Tensor *x, Tensor *y);
Status cuda_pad_channels_backward(void *ctx, int stride, const Tensor *dy, Tensor *dx);
Status cuda_sgd_update(void *ctx, int count, Tensor *const *params, Tensor *const *grads,
                       Tensor *const *moms, const SgdParams *p);
Status cuda_sum_squares(void *ctx, const Tensor *t, double *out, int *nonfinite);
Status cuda_scale(void *ctx, Tensor *t, float s);
Status cuda_all_finite(void *ctx, int count, Tensor *const *ts, int *finite);

/* ---- cuda_augment.c ---- */
Status cuda_augment(void *ctx, const Tensor *dataset, const int32_t *indices,
                    const struct AugmentRecord *recs, int n, const struct AugmentConfig *a,
                    const float mean[3], const float std[3], Tensor *out);

#endif
