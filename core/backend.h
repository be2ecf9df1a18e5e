/* backend.h — the one table of operations every backend implements.
 *
 * A Backend is {ops, ctx}. Model, trainer and tests call `b->ops->conv2d_forward(b->ctx, ...)`
 * and never test which backend they hold. Three implementations exist or will:
 *   "reference"  plain, obviously-correct loops (core/cpu/reference*.c): the oracle in tests;
 *   "cpu"        the fast CPU backend (core/cpu/): im2col/GEMM, OpenMP, oneDNN where it wins;
 *   "cuda"       cuDNN + cuBLAS (core/cuda/), compiled when the toolkit is present.
 *
 * Conventions for every op:
 *  - Tensors carry logical NCHW shapes; storage belongs to the backend that allocated it.
 *  - Outputs are overwritten, never accumulated into, unless the op says so. Output tensors must
 *    already be allocated with the right shape (tensor_alloc). Inputs and outputs of different
 *    roles must not alias unless the op says it allows it.
 *  - Gradient ops receive the saved forward tensors they need; shapes are checked by the caller
 *    (model code), not re-validated in the hot path.
 *  - Ops return ST_OK or a Status with status_message() set (device errors, out of memory).
 *  - Slots documented "may be NULL" are optional; everything else is mandatory.
 */
#ifndef SHORTCUT_BACKEND_H
#define SHORTCUT_BACKEND_H

#include <stdint.h>

#include "status.h"
#include "tensor.h"

/* augment.h and config.h define these; the op table only passes pointers to them. */
struct AugmentRecord;
struct AugmentConfig;

/* A 2-D convolution. `plan` is backend-private state (chosen algorithm, oneDNN/cuDNN
 * descriptors, workspace) that a backend may create on first use and must rebuild when the
 * input shape changes; the owner of the ConvDesc releases it with ops->plan_free. */
typedef struct ConvDesc {
    int c_in, c_out;
    int kh, kw;
    int stride;
    int pad;
    int has_bias;
    void *plan;
} ConvDesc;

static inline int conv_out_size(int in, int k, int stride, int pad) {
    return (in + 2 * pad - k) / stride + 1;
}

typedef enum PoolKind { POOL_MAX = 0, POOL_AVG } PoolKind;

/* A 2-D pooling window. Global average pooling is POOL_AVG with k = input H/W, stride 1, pad 0.
 * Average pooling divides by the full window (count_include_pad=True, PyTorch's default). */
typedef struct PoolDesc {
    PoolKind kind;
    int k;
    int stride;
    int pad;
    void *plan;
} PoolDesc;

/* torch.optim.SGD, exactly: with g = grad + weight_decay * p,
 *   buf = momentum * buf + (1 - dampening) * g      (buf = g on the first step: `first_step`)
 *   d   = nesterov ? g + momentum * buf : buf
 *   p  -= lr * d
 * momentum == 0 skips the buffer. With loss_scale_log2 = k != 0 the gradients came from a loss
 * scaled by 2^k (dynamic loss scaling for fp16), and grad is first multiplied by 2^-k, exactly
 * (a power of two); k == 0 leaves every bit as without scaling. */
typedef struct SgdParams {
    float lr;
    float momentum;
    float dampening;
    float weight_decay;
    int nesterov;
    int first_step;   /* 1 on the first update after the buffers were created */
    int loss_scale_log2;   /* gradients are scaled by 2^this; 0: not scaled */
} SgdParams;

typedef struct BackendOps {
    const char *name;   /* "reference", "cpu", "cuda" */

    /* ---- memory ---- */
    /* Allocate (or grow) t->data for its current shape and dtype; contents undefined. Keeps the
     * buffer when cap already suffices, so re-allocating per step costs nothing. */
    Status (*tensor_alloc)(void *ctx, Tensor *t);
    /* Release t->data (NULL is fine) and zero data/cap. */
    void (*tensor_free)(void *ctx, Tensor *t);
    /* Copy dense NCHW host data of t's dtype into t / out of t. */
    Status (*upload)(void *ctx, Tensor *t, const void *host);
    Status (*download)(void *ctx, const Tensor *t, void *host);
    /* Set every element of an F32 tensor to v. */
    Status (*fill)(void *ctx, Tensor *t, float v);
    /* dst = src (same shape and dtype). */
    Status (*copy)(void *ctx, Tensor *dst, const Tensor *src);

    /* ---- convolution ---- x (N, Cin, H, W), w (Cout, Cin, KH, KW), b (1, Cout, 1, 1) or NULL,
     * y (N, Cout, Ho, Wo) */
    Status (*conv2d_forward)(void *ctx, ConvDesc *d, const Tensor *x, const Tensor *w,
                             const Tensor *b, Tensor *y);
    /* dx = conv_transpose(dy, w) */
    Status (*conv2d_backward_data)(void *ctx, ConvDesc *d, const Tensor *dy, const Tensor *w,
                                   Tensor *dx);
    /* dw = correlate(x, dy); db = sum of dy over N, H, W (db NULL when there is no bias) */
    Status (*conv2d_backward_filter)(void *ctx, ConvDesc *d, const Tensor *x, const Tensor *dy,
                                     Tensor *dw, Tensor *db);
    /* Release a ConvDesc/PoolDesc plan (NULL is fine). May be NULL when a backend keeps none. */
    void (*plan_free)(void *ctx, void *plan);

    /* ---- batch normalization (per channel over N, H, W), PyTorch semantics ----
     * train: normalize with the batch mean and biased variance; update
     *   running = (1 - momentum) * running + momentum * batch_stat, with the UNBIASED variance;
     * save_mean / save_invstd (1, C, 1, 1) keep mean and 1/sqrt(var + eps) for backward. */
    Status (*batchnorm_forward_train)(void *ctx, const Tensor *x, const Tensor *gamma,
                                      const Tensor *beta, Tensor *running_mean,
                                      Tensor *running_var, float momentum, float eps, Tensor *y,
                                      Tensor *save_mean, Tensor *save_invstd);
    Status (*batchnorm_forward_infer)(void *ctx, const Tensor *x, const Tensor *gamma,
                                      const Tensor *beta, const Tensor *running_mean,
                                      const Tensor *running_var, float eps, Tensor *y);
    Status (*batchnorm_backward)(void *ctx, const Tensor *x, const Tensor *dy,
                                 const Tensor *gamma, const Tensor *save_mean,
                                 const Tensor *save_invstd, Tensor *dx, Tensor *dgamma,
                                 Tensor *dbeta);

    /* ---- optional fusion: batchnorm then relu in one pass (NULL: the model runs the two
     * layers one by one) ----
     * forward: y = relu(batchnorm(x)), arguments as the batchnorm ops above. backward: y is that
     * output and dy the gradient at it; writes the batchnorm's dx, dgamma and dbeta, the relu's
     * mask (y > 0) applied on the way. x, gamma, beta and the saved statistics are those the
     * forward used, so a backend may recompute the mask from them instead of reading y. Results
     * equal batchnorm then relu (and relu_backward then batchnorm_backward) within the
     * batchnorm tolerance. */
    Status (*batchnorm_relu_forward_train)(void *ctx, const Tensor *x, const Tensor *gamma,
                                           const Tensor *beta, Tensor *running_mean,
                                           Tensor *running_var, float momentum, float eps,
                                           Tensor *y, Tensor *save_mean, Tensor *save_invstd);
    Status (*batchnorm_relu_forward_infer)(void *ctx, const Tensor *x, const Tensor *gamma,
                                           const Tensor *beta, const Tensor *running_mean,
                                           const Tensor *running_var, float eps, Tensor *y);
    Status (*batchnorm_relu_backward)(void *ctx, const Tensor *x, const Tensor *y,
                                      const Tensor *dy, const Tensor *gamma, const Tensor *beta,
                                      const Tensor *save_mean, const Tensor *save_invstd,
                                      Tensor *dx, Tensor *dgamma, Tensor *dbeta);

    /* ---- optional fusion: a post-activation residual block's tail, y = relu(batchnorm(x) + r)
     * (NULL: the model runs batchnorm, add and relu one by one) ----
     * forward: arguments as the batchnorm ops above plus r, the add's other input (same shape
     * as x). backward: y is that output, dy the gradient at it and dy2 NULL or a second
     * gradient at y that is added to dy first (the output's other consumer; it saves the model
     * an accumulate pass). Writes dr = (dy + dy2) where y > 0, else 0 (the gradient at r and at
     * the batchnorm's output), then the batchnorm's dx, dgamma and dbeta for it. dr and dx
     * may each alias dy or dy2 (the model's buffer plan relies on it), not each other. Results
     * equal the three ops (and an accumulate, relu_backward and batchnorm_backward) within the
     * batchnorm tolerance. */
    Status (*batchnorm_add_relu_forward_train)(void *ctx, const Tensor *x, const Tensor *r,
                                               const Tensor *gamma, const Tensor *beta,
                                               Tensor *running_mean, Tensor *running_var,
                                               float momentum, float eps, Tensor *y,
                                               Tensor *save_mean, Tensor *save_invstd);
    Status (*batchnorm_add_relu_forward_infer)(void *ctx, const Tensor *x, const Tensor *r,
                                               const Tensor *gamma, const Tensor *beta,
                                               const Tensor *running_mean,
                                               const Tensor *running_var, float eps, Tensor *y);
    Status (*batchnorm_add_relu_backward)(void *ctx, const Tensor *x, const Tensor *y,
                                          const Tensor *dy, const Tensor *dy2,
                                          const Tensor *gamma, const Tensor *save_mean,
                                          const Tensor *save_invstd, Tensor *dx, Tensor *dr,
                                          Tensor *dgamma, Tensor *dbeta);

    /* ---- elementwise ---- (y may alias x; dx may alias dy) */
    Status (*relu_forward)(void *ctx, const Tensor *x, Tensor *y);
    /* dx = dy where y > 0, else 0 (uses the forward OUTPUT, so relu can run in place). */
    Status (*relu_backward)(void *ctx, const Tensor *y, const Tensor *dy, Tensor *dx);
    /* y = a + b */
    Status (*add)(void *ctx, const Tensor *a, const Tensor *b, Tensor *y);
    /* y += x (gradient accumulation) */
    Status (*accumulate)(void *ctx, Tensor *y, const Tensor *x);

    /* ---- dropout (inverted: kept values scaled by 1/(1-p)) ----
     * per_channel = 0: one draw per element (nn.Dropout); 1: one per (n, c) plane (nn.Dropout2d).
     * The keep decision for element/plane i is rng_uniform(seed, RNG_STREAM_DROPOUT, i) >= p,
     * so every backend draws the same mask. mask (same shape as x, U8) records it. */
    Status (*dropout_forward)(void *ctx, float p, int per_channel, uint64_t seed, const Tensor *x,
                              Tensor *y, Tensor *mask);
    Status (*dropout_backward)(void *ctx, float p, const Tensor *mask, const Tensor *dy,
                               Tensor *dx);

    /* ---- pooling ---- idx (U8 or I32, same shape as y) may record max positions; backends
     * that do not need it may ignore it (it is allocated by the caller for max pooling). */
    Status (*pool2d_forward)(void *ctx, PoolDesc *d, const Tensor *x, Tensor *y, Tensor *idx);
    Status (*pool2d_backward)(void *ctx, PoolDesc *d, const Tensor *x, const Tensor *y,
                              const Tensor *idx, const Tensor *dy, Tensor *dx);

    /* ---- shortcut "option A" of He et al.: y = x subsampled by `stride` in H and W, with
     * zero channels appended (padded equally before and after, PyTorch's F.pad(x[:, :, ::2, ::2],
     * (0,0,0,0,pad,pad)) with pad = (Cout - Cin) / 2) ---- */
    Status (*pad_channels_forward)(void *ctx, int stride, const Tensor *x, Tensor *y);
    Status (*pad_channels_backward)(void *ctx, int stride, const Tensor *dy, Tensor *dx);

    /* ---- linear ---- x is read as (N, K) with K = c*h*w; w (M, K, 1, 1); b (1, M, 1, 1) or
     * NULL; y (N, M, 1, 1). */
    Status (*linear_forward)(void *ctx, const Tensor *x, const Tensor *w, const Tensor *b,
                             Tensor *y);
    /* dx (same shape as x) may be NULL when the input needs no gradient. */
    Status (*linear_backward)(void *ctx, const Tensor *x, const Tensor *w, const Tensor *dy,
                              Tensor *dx, Tensor *dw, Tensor *db);

    /* ---- loss ---- logits (N, K, 1, 1), labels (N, 1, 1, 1) I32.
     * Cross-entropy with label smoothing s (PyTorch's: target = (1-s)*onehot + s/K), mean over N.
     * Writes loss (N, 1, 1, 1) F32 per sample, pred (N,1,1,1) I32 argmax and prob (N,1,1,1) F32
     * softmax probability of the prediction; dlogits (N, K) = d(mean loss)/d(logits), may be NULL
     * (evaluation). */
    Status (*softmax_xent)(void *ctx, const Tensor *logits, const Tensor *labels, float smoothing,
                           Tensor *loss, Tensor *pred, Tensor *prob, Tensor *dlogits);

    /* ---- optimizer ---- one fused update of `count` parameters. moms may hold NULL entries
     * only when momentum == 0. */
    Status (*sgd_update)(void *ctx, int count, Tensor *const *params, Tensor *const *grads,
                         Tensor *const *moms, const SgdParams *p);

    /* Sum of squares of an F32 tensor and whether it holds a NaN/inf (for gradient checks and
     * the divergence guard). May be slow; not called per element in hot loops. */
    Status (*sum_squares)(void *ctx, const Tensor *t, double *out, int *nonfinite);

    /* ---- loss scaling (fp16) ---- t *= s for an F32 tensor (the loss gradient, by a power of
     * two, so exactly); *finite = 1 when none of the `count` F32 tensors holds a NaN or an
     * infinity, else 0 (the gradients of a scaled loss that overflowed: the step is skipped).
     * all_finite costs one device synchronization, whatever count is. */
    Status (*scale)(void *ctx, Tensor *t, float s);
    Status (*all_finite)(void *ctx, int count, Tensor *const *ts, int *finite);

    /* Threads the backend may use (CPU backends); may be NULL. */
    void (*set_threads)(void *ctx, int threads);
    /* The most bytes of tensors the backend may hold at once (train.memory_limit_mb; 0: no
     * limit but the device's). An allocation past it fails with ST_ERR_OOM, as one past the
     * device's memory does, so a user can keep a run inside a share of a GPU or of the host.
     * Scratch and library workspaces are not counted. May be NULL (no such limit). */
    void (*set_memory_limit)(void *ctx, size_t bytes);
    /* One line describing the device ("cpu: AMD EPYC, 2 threads, avx512"); */
    const char *(*describe)(void *ctx);
    void (*destroy)(void *ctx);

    /* Compute precision and determinism of the run (train.precision, train.deterministic).
     * `precision` is config.h's Precision value (0 auto, 1 fp32, 2 bf16, 3 fp16). A backend may
     * compute in something else than asked when the device lacks it; describe() then says what
     * it uses and why. Call it after creation, before the first op; until then a backend
     * computes in fp32. May be NULL (backends that only compute in fp32). */
    Status (*set_precision)(void *ctx, int precision, int deterministic);

    /* On-device augmentation of a dataset kept in backend memory. `dataset` is U8
     * (count, 3, 32, 32), uploaded once; for i < n, out[i] is exactly what augment_apply(a,
     * mean, std, &recs[i], image indices[i]) computes on the host. The host draws the records
     * (augment_draw), so the viewer shows what was trained on; the backend does the pixel work.
     * indices and recs are host arrays; out is F32 (n, 3, S, S), S = augment_out_side(a).
     * May be NULL (the loader then augments on the host and uploads the batch). */
    Status (*augment)(void *ctx, const Tensor *dataset, const int32_t *indices,
                      const struct AugmentRecord *recs, int n, const struct AugmentConfig *a,
                      const float mean[3], const float std[3], Tensor *out);
} BackendOps;

typedef struct Backend {
    const BackendOps *ops;
    void *ctx;
} Backend;

/* Create a backend by name: "auto" (cuda when a device works, else cpu), "cpu", "cuda",
 * "reference". `threads` <= 0 means all cores. On failure returns non-OK with a message (for
 * "cuda" when no device works; "auto" never fails for that reason, it falls back and sets
 * *fell_back = 1 when fell_back is not NULL). */
Status backend_create(const char *name, int threads, Backend *out, int *fell_back);
/* For backends' tensor_alloc: fail with ST_ERR_OOM and a message naming the tensor, what it
 * needs and the limit when `used` bytes plus `want` more would pass `limit` (0: no limit). */
Status backend_check_limit(const char *who, size_t limit, size_t used, size_t want,
                           const Tensor *t);
void backend_destroy(Backend *b);

/* Constructors of the individual backends (used by backend_create and by tests). */
Status backend_reference_create(Backend *out);
Status backend_cpu_create(int threads, Backend *out);
/* Returns ST_ERR_DEVICE with a message when CUDA is not compiled in or no device works:
 * "device 'cuda': <why>", and BACKEND_CUDA_ADVICE after it when the device is the problem.
 * "auto" logs <why> alone when it falls back (backend_create). */
Status backend_cuda_create(Backend *out);
#define BACKEND_CUDA_ADVICE "; use device: cpu, or device: auto to fall back to the CPU"

#endif
