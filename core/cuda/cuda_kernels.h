/* cuda_kernels.h — C entry points of the CUDA backend's own kernels (the *.cu files).
 *
 * Each launcher enqueues its kernel(s) on stream `s` and returns cudaGetLastError() (launch
 * errors only; faults inside a kernel surface at the next synchronization). Pointers are device
 * pointers, tensors dense NCHW fp32 unless said otherwise (kernels_nhwc.cu). Every formula here mirrors core/cpu/reference.c, the oracle the
 * parity tests compare against; where the reference rounds float by float (SGD, dropout), the
 * kernels use round-to-nearest intrinsics that nvcc cannot fuse into FMAs, so the results are
 * bit-identical, not just close. */
#ifndef SHORTCUT_CUDA_KERNELS_H
#define SHORTCUT_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Argument errors a kernel detects (a label outside [0, K)) are written here, in device memory;
 * the host fetches it at its next synchronization. The first error wins; code 0 means none. */
typedef struct CudaDeviceError {
    int code;   /* CUDA_DEVERR_* */
    int a, b, c;
} CudaDeviceError;
enum { CUDA_DEVERR_NONE = 0, CUDA_DEVERR_LABEL = 1 /* a = sample, b = label, c = classes */ };

/* ---- kernels_eltwise.cu ---- */
cudaError_t cuk_fill(float *p, size_t n, float v, cudaStream_t s);
/* p[i] *= v */
cudaError_t cuk_scale(float *p, size_t n, float v, cudaStream_t s);
cudaError_t cuk_relu_forward(const float *x, float *y, size_t n, cudaStream_t s);
cudaError_t cuk_relu_backward(const float *y, const float *dy, float *dx, size_t n,
                              cudaStream_t s);
cudaError_t cuk_add(const float *a, const float *b, float *y, size_t n, cudaStream_t s);
cudaError_t cuk_accumulate(float *y, const float *x, size_t n, cudaStream_t s);
/* keep[i] = rng_uniform(seed, RNG_STREAM_DROPOUT, per_channel ? i / plane : i) >= p */
cudaError_t cuk_dropout_forward(const float *x, float *y, uint8_t *mask, size_t n, size_t plane,
                                int per_channel, float p, float scale, uint64_t seed,
                                cudaStream_t s);
cudaError_t cuk_dropout_backward(const uint8_t *mask, const float *dy, float *dx, size_t n,
                                 float scale, cudaStream_t s);
/* x (n, cx, h, w) -> y (n, cy, ho, wo), ho = ceil(h / stride) */
cudaError_t cuk_pad_channels_forward(const float *x, float *y, int n, int cx, int h, int w,
                                     int cy, int ho, int wo, int stride, cudaStream_t s);
cudaError_t cuk_pad_channels_backward(const float *dy, float *dx, int n, int cx, int h, int w,
                                      int cy, int ho, int wo, int stride, cudaStream_t s);
/* fp32 (planes, c, hw) <-> bf16 (half = 0) or fp16 (half = 1) (planes, hw, cpad): the NCHW ->
 * NHWC transpose and the conversion in one pass, rounding to nearest even; channels c..cpad
 * are written as zeros (to) or skipped (from) */
cudaError_t cuk_to_lowp_nhwc(const float *x, void *y, int planes, int c, int cpad, int hw,
                             int half, cudaStream_t s);
cudaError_t cuk_from_lowp_nhwc(const void *x, float *y, int planes, int c, int cpad, int hw,
                               int half, cudaStream_t s);

/* ---- kernels_bn.cu ---- batchnorm over x (n, C, hw) and its fusions: mode CUK_BN_PLAIN
 * (y = bn(x)), CUK_BN_RELU (relu(bn(x))), CUK_BN_ADD_RELU (relu(bn(x) + r)). `part` holds
 * 2 * C * P doubles and `coef` 3 * C floats of scratch; P = cuk_bn_slices(). Statistics follow
 * PyTorch: biased variance to normalize, unbiased into the running variance. */
enum { CUK_BN_PLAIN = 0, CUK_BN_RELU = 1, CUK_BN_ADD_RELU = 2 };
/* How many slices of the batch each channel's sums are split into (a function of the shape
 * and the GPU only, so results do not depend on anything else). */
int cuk_bn_slices(int n, int C, int sm_count);
cudaError_t cuk_bn_forward_train(const float *x, const float *r, float *y, int n, int C, int hw,
                                 int P, int mode, const float *gamma, const float *beta,
                                 float *run_mean, float *run_var, float momentum, float eps,
                                 float *save_mean, float *save_invstd, double *part, float *coef,
                                 cudaStream_t s);
/* coef[c], coef[C + c] = the inference scale and shift of channel c */
cudaError_t cuk_bn_infer_coef(int C, const float *gamma, const float *beta,
                              const float *run_mean, const float *run_var, float eps,
                              float *coef, cudaStream_t s);
/* y = x * coef[c] + coef[C + c], then + r and relu by mode (r is read only in ADD_RELU) */
cudaError_t cuk_bn_apply(const float *x, const float *r, float *y, int n, int C, int hw,
                         int mode, const float *coef, cudaStream_t s);
/* g = dy (+ dy2 in ADD_RELU when dy2 is not NULL), masked by y > 0 unless PLAIN; writes dr = g
 * (when dr is not NULL), dgamma, dbeta and dx. dx and dr may alias dy or dy2. */
cudaError_t cuk_bn_backward(const float *x, const float *y, const float *dy, const float *dy2,
                            int n, int C, int hw, int P, int mode, const float *gamma,
                            const float *save_mean, const float *save_invstd, float *dx,
                            float *dr, float *dgamma, float *dbeta, double *part, float *coef,
                            cudaStream_t s);

/* The two finishing kernels (one thread per channel), shared by both layouts: statistics from
 * the sums of x - pivot[c * pivot_stride] over m values, and the backward's coefficients. */
cudaError_t cuk_bn_stats_finish(const double *part, int C, int P, long long m,
                                const float *pivot, size_t pivot_stride, const float *gamma,
                                const float *beta, float *run_mean, float *run_var,
                                float momentum, float eps, float *save_mean, float *save_invstd,
                                float *coef, cudaStream_t s);
cudaError_t cuk_bn_grad_finish(const double *part, int C, int P, long long m, const float *gamma,
                               const float *save_invstd, float *dgamma, float *dbeta,
                               float *coef, cudaStream_t s);

/* ---- kernels_nhwc.cu ---- the same ops on activations stored channels-last in 16 bits:
 * (n, h, w, C) as uint16_t, bf16 (half = 0) or IEEE half (half = 1); rows = n * h * w. Masks
 * (dropout) and max-pool indices stay in NCHW order, as the fp32 kernels write them. Batchnorm
 * takes P = cuk_bn_nhwc_slices() slices, `part` 2 * C * P doubles and `coef` 3 * C floats. */
int cuk_bn_nhwc_slices(int rows, int C, int sm_count);
cudaError_t cuk_nhwc_bn_forward_train(const void *x, const void *r, void *y, int rows, int C,
                                      int P, int mode, int half, const float *gamma,
                                      const float *beta, float *run_mean, float *run_var,
                                      float momentum, float eps, float *save_mean,
                                      float *save_invstd, double *part, float *coef,
                                      cudaStream_t s);
cudaError_t cuk_nhwc_bn_apply(const void *x, const void *r, void *y, int rows, int C, int mode,
                              int half, const float *coef, cudaStream_t s);
/* beta: in RELU mode, recompute the forward's output from x, gamma, beta and the saved
 * statistics instead of reading y (which may then be NULL); NULL: read y. */
cudaError_t cuk_nhwc_bn_backward(const void *x, const void *y, const void *dy, const void *dy2,
                                 int rows, int C, int P, int mode, int half, const float *gamma,
                                 const float *beta, const float *save_mean,
                                 const float *save_invstd, void *dx, void *dr, float *dgamma,
                                 float *dbeta, double *part, float *coef, cudaStream_t s);
cudaError_t cuk_nhwc_relu_forward(const void *x, void *y, size_t n, int half, cudaStream_t s);
cudaError_t cuk_nhwc_relu_backward(const void *y, const void *dy, void *dx, size_t n, int half,
                                   cudaStream_t s);
/* y = a + b (y may be a: accumulate) */
cudaError_t cuk_nhwc_add(const void *a, const void *b, void *y, size_t n, int half,
                         cudaStream_t s);
cudaError_t cuk_nhwc_scale(void *p, size_t n, float v, int half, cudaStream_t s);
/* Whether (c, hw) planes take the one-block-per-plane conversion below: small enough for
 * shared memory, with few pixels (convolution filters). */
int cuk_nhwc_small_planes(int c, int hw);
/* (planes, c, hw) fp32 -> (planes, hw, cdst) 16 bits, channels c..cdst zero; small planes only. */
cudaError_t cuk_nhwc_planes_to_lowp(const float *x, void *y, int planes, int c, int cdst, int hw,
                                    int half, cudaStream_t s);
/* The way back: (planes, hw, csrc) 16 bits -> (planes, c, hw) fp32, for small_planes(c, hw). */
cudaError_t cuk_nhwc_planes_from_lowp(const void *x, float *y, int planes, int c, int csrc,
                                      int hw, int half, cudaStream_t s);
cudaError_t cuk_nhwc_dropout_forward(const void *x, void *y, uint8_t *mask, int n, int C, int h,
                                     int w, int per_channel, float p, float scale, uint64_t seed,
                                     int half, cudaStream_t s);
cudaError_t cuk_nhwc_dropout_backward(const uint8_t *mask, const void *dy, void *dx, int n, int C,
                                      int h, int w, float scale, int half, cudaStream_t s);
cudaError_t cuk_nhwc_pad_channels_forward(const void *x, void *y, int n, int cx, int h, int w,
                                          int cy, int ho, int wo, int stride, int half,
                                          cudaStream_t s);
cudaError_t cuk_nhwc_pad_channels_backward(const void *dy, void *dx, int n, int cx, int h, int w,
                                           int cy, int ho, int wo, int stride, int half,
                                           cudaStream_t s);
cudaError_t cuk_nhwc_pool_forward(const void *x, void *y, void *idx, int idx_u8, int n, int C,
                                  int h, int w, int ho, int wo, int k, int stride, int pad,
                                  int is_max, int half, cudaStream_t s);
cudaError_t cuk_nhwc_pool_backward(const void *x, const void *dy, void *dx, int n, int C, int h,
                                   int w, int ho, int wo, int k, int stride, int pad, int is_max,
                                   int half, cudaStream_t s);

/* ---- kernels_pool.cu ---- planes = N * C; idx (may be NULL, max only) receives the argmax as
 * ih * w + iw (i32) or as the window offset p * k + q (u8). Backward recomputes the argmax
 * from x and gathers, so it is deterministic and ignores idx. */
cudaError_t cuk_pool_forward(const float *x, float *y, void *idx, int idx_u8, long planes, int h,
                             int w, int ho, int wo, int k, int stride, int pad, int is_max,
                             cudaStream_t s);
cudaError_t cuk_pool_backward(const float *x, const float *dy, float *dx, long planes, int h,
                              int w, int ho, int wo, int k, int stride, int pad, int is_max,
                              cudaStream_t s);

/* ---- kernels_dense.cu ---- */
/* y (n, m) = b broadcast over rows */
cudaError_t cuk_bias_rows(float *y, const float *b, int n, int m, cudaStream_t s);
/* db[j] = sum over rows of dy (n, m) */
cudaError_t cuk_col_sums(const float *dy, float *db, int n, int m, cudaStream_t s);
/* Softmax cross-entropy with label smoothing, one thread per sample, in double like the
 * reference. dz may be NULL. */
cudaError_t cuk_softmax_xent(const float *z, const int32_t *labels, int n, int k, float smoothing,
                             float *loss, int32_t *pred, float *prob, float *dz,
                             CudaDeviceError *err, cudaStream_t s);

/* ---- kernels_sgd.cu ---- */
/* One row of the fused update's table. m is NULL when momentum is 0. chunk0 is the number of
 * CUDA_SGD_CHUNK-element chunks of all earlier rows. */
typedef struct CudaSgdTensor {
    float *p;
    const float *g;
    float *m;
    size_t n;
    size_t chunk0;
} CudaSgdTensor;
#define CUDA_SGD_CHUNK 16384

typedef struct CudaSgdArgs {
    float lr, momentum, dampening, weight_decay;
    int nesterov, first_step;
    float unscale;   /* gradients are multiplied by this first (2^-k after loss scaling) */
} CudaSgdArgs;

/* Every parameter of the table (count rows in device memory, chunks in all) in one launch. */
cudaError_t cuk_sgd(const CudaSgdTensor *table, int count, size_t chunks, CudaSgdArgs a,
                    cudaStream_t s);

/* Sum of squares (double) and a non-finite flag into out (device memory). scratch must hold
 * CUDA_REDUCE_BLOCKS doubles and CUDA_REDUCE_BLOCKS ints. */
#define CUDA_REDUCE_BLOCKS 1024
typedef struct CudaSumResult {
    double sum;
    int nonfinite;
} CudaSumResult;
cudaError_t cuk_sum_squares(const float *x, size_t n, double *partial_sums, int *partial_flags,
                            CudaSumResult *out, cudaStream_t s);
/* *flag = 1 when x holds a NaN or an infinity; *flag is left alone otherwise */
cudaError_t cuk_flag_nonfinite(const float *x, size_t n, int *flag, cudaStream_t s);

/* ---- kernels_augment.cu ---- crop (zero or reflect padding) + flip + normalize, bilinear
 * resize when the side is not 32, cutout; the same float operations in the same order as
 * core/augment.c, so the images are bit-identical to augment_apply()'s. */
#define CUDA_AUG_MAX_HOLES 8
typedef struct CudaAugImage {
    int index;            /* image in the dataset */
    int crop_x, crop_y;   /* top-left of the 32x32 window in the padded image */
    int flipped;
    int holes;
    int hole_x0[CUDA_AUG_MAX_HOLES], hole_x1[CUDA_AUG_MAX_HOLES];   /* clipped [lo, hi) */
    int hole_y0[CUDA_AUG_MAX_HOLES], hole_y1[CUDA_AUG_MAX_HOLES];
} CudaAugImage;

typedef struct CudaAugTables {   /* device pointers, computed on the host */
    const CudaAugImage *images;   /* n */
    const float *lut;             /* (3, 256): (v / 255 - mean[c]) / std[c] */
    const int *i0, *i1;           /* (side) bilinear source indices (side != 32 only) */
    const float *w1;              /* (side) weight of i1 */
} CudaAugTables;

/* dataset U8 (count, 3, 32, 32) -> out F32 (n, 3, side, side) */
cudaError_t cuk_augment(const uint8_t *dataset, CudaAugTables t, int n, int pad, int reflect,
                        int side, float *out, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
