/* cuda_kernels.h — C entry points of the CUDA backend's own kernels (the *.cu files).
 *
 * Each launcher enqueues its kernel(s) on stream `s` and returns cudaGetLastError() (launch
 * errors only; faults inside a kernel surface at the next synchronization). Pointers are device
 * pointers, tensors dense NCHW. Every formula here mirrors core/cpu/reference.c, the oracle the
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
/* fp32 <-> bf16 (half = 0) or fp16 (half = 1), round to nearest even */
cudaError_t cuk_to_lowp(const float *x, void *y, size_t n, int half, cudaStream_t s);
cudaError_t cuk_from_lowp(const void *x, float *y, size_t n, int half, cudaStream_t s);

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
