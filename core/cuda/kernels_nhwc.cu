/* kernels_nhwc.cu — kernels over activations stored channels-last in 16 bits.
 *
 * With 16-bit activations (cuda_internal.h, "Memory and layout") a convolution's output is
 * handed on as cuDNN wrote it, and batchnorm, relu, add, dropout, pooling and the option-A
 * shortcut read and write that layout directly: no conversion to fp32 NCHW and back around
 * every convolution. On an H100 those conversions were 40% of a resnet20 bf16 step
 * (docs/BENCHMARKS.md, session 5).
 *
 * Each kernel is a loop around a thread body in kernels_nhwc.cuh (which tests run on the CPU);
 * this file only launches. The batchnorm statistics are sums over rows with channels
 * innermost, so a block reads whole rows (coalesced) and each thread keeps the sums of its V
 * channels; the finishing kernels are kernels_bn.cu's, shared with the NCHW path. */
#include "cuda_kernels.h"
#include "kernels_launch.cuh"
#include "kernels_nhwc.cuh"

namespace {

using nhwc::kThreads;
static_assert(nhwc::kThreads == launch::kThreads, "one block size for all kernels");

unsigned blocks_for(size_t n) { return launch::blocks_for(n, 8192); }

/* ---- batchnorm ---- */

/* the sums kernels: register cap and grid both from kSumsBlocksPerSm (kernels_nhwc.cuh) */
#define SUMS_BOUNDS __launch_bounds__(kThreads, nhwc::kSumsBlocksPerSm)

template <int H16, int V>
__global__ void SUMS_BOUNDS stats_k(nhwc::BnShape s, const uint16_t *x, double *part,
                                    float *pivot_out) {
    __shared__ double sh[nhwc::kShared], sh2[2 * kThreads];
    nhwc::stats_phase1<H16, V>(s, blockIdx.x, blockIdx.y, threadIdx.x, x, sh, pivot_out);
    __syncthreads();
    nhwc::sums_phase2a<V>(s, blockIdx.x, blockIdx.y, threadIdx.x, sh, sh2, part);
    __syncthreads();
    nhwc::sums_phase2b<V>(s, blockIdx.x, blockIdx.y, threadIdx.x, sh2, part);
}

template <int H16, int MODE, int V>
__global__ void SUMS_BOUNDS grad_sums_k(nhwc::BnShape s, const uint16_t *x, const uint16_t *y,
                                        const uint16_t *dy, const uint16_t *dy2, nhwc::BnFwd f,
                                        double *part) {
    __shared__ double sh[nhwc::kShared], sh2[2 * kThreads];
    nhwc::grad_phase1<H16, MODE, V>(s, blockIdx.x, blockIdx.y, threadIdx.x, x, y, dy, dy2, f, sh);
    __syncthreads();
    nhwc::sums_phase2a<V>(s, blockIdx.x, blockIdx.y, threadIdx.x, sh, sh2, part);
    __syncthreads();
    nhwc::sums_phase2b<V>(s, blockIdx.x, blockIdx.y, threadIdx.x, sh2, part);
}

template <int H16, int MODE, int V>
__global__ void __launch_bounds__(kThreads) apply_k(size_t vecs, int C, const uint16_t *x,
                                                    const uint16_t *r, uint16_t *y,
                                                    const float *coef) {
    GRID_STRIDE(j, vecs) nhwc::apply_vec<H16, MODE, V>(j, C, x, r, y, coef);
}

template <int H16, int MODE, int V>
__global__ void __launch_bounds__(kThreads) grad_apply_k(size_t vecs, int C, const uint16_t *x,
                                                         const uint16_t *y, const uint16_t *dy,
                                                         const uint16_t *dy2, nhwc::BnFwd f,
                                                         const float *coef, uint16_t *dx,
                                                         uint16_t *dr) {
    GRID_STRIDE(j, vecs)
    nhwc::grad_apply_vec<H16, MODE, V>(j, C, x, y, dy, dy2, f, coef, dx, dr);
}

/* The <H16, MODE, V> instance of a launch, from run-time values. */
#define NHWC_DISPATCH(half, mode, vec, LAUNCH)                                                   \
    do {                                                                                         \
        if (half) {                                                                              \
            if (mode == CUK_BN_PLAIN) { if (vec == 8) LAUNCH(1, CUK_BN_PLAIN, 8);                \
                                        else LAUNCH(1, CUK_BN_PLAIN, 1); }                       \
            else if (mode == CUK_BN_RELU) { if (vec == 8) LAUNCH(1, CUK_BN_RELU, 8);             \
                                            else LAUNCH(1, CUK_BN_RELU, 1); }                    \
            else { if (vec == 8) LAUNCH(1, CUK_BN_ADD_RELU, 8);                                  \
                   else LAUNCH(1, CUK_BN_ADD_RELU, 1); }                                         \
        } else {                                                                                 \
            if (mode == CUK_BN_PLAIN) { if (vec == 8) LAUNCH(0, CUK_BN_PLAIN, 8);                \
                                        else LAUNCH(0, CUK_BN_PLAIN, 1); }                       \
            else if (mode == CUK_BN_RELU) { if (vec == 8) LAUNCH(0, CUK_BN_RELU, 8);             \
                                            else LAUNCH(0, CUK_BN_RELU, 1); }                    \
            else { if (vec == 8) LAUNCH(0, CUK_BN_ADD_RELU, 8);                                  \
                   else LAUNCH(0, CUK_BN_ADD_RELU, 1); }                                         \
        }                                                                                        \
    } while (0)

/* ---- elementwise ---- */

template <int H16, int V>
__global__ void relu_k(size_t vecs, const uint16_t *x, uint16_t *y) {
    GRID_STRIDE(j, vecs) nhwc::relu_vec<H16, V>(j, x, y);
}

template <int H16, int V>
__global__ void relu_bwd_k(size_t vecs, const uint16_t *y, const uint16_t *dy, uint16_t *dx) {
    GRID_STRIDE(j, vecs) nhwc::relu_bwd_vec<H16, V>(j, y, dy, dx);
}

template <int H16, int V>
__global__ void add_k(size_t vecs, const uint16_t *a, const uint16_t *b, uint16_t *y) {
    GRID_STRIDE(j, vecs) nhwc::add_vec<H16, V>(j, a, b, y);
}

template <int H16, int V> __global__ void scale_k(size_t vecs, uint16_t *p, float v) {
    GRID_STRIDE(j, vecs) nhwc::scale_vec<H16, V>(j, p, v);
}

template <int H16>
__global__ void __launch_bounds__(kThreads) unplane_k(const uint16_t *x, float *y, int c, int csrc,
                                                      int hw) {
    __shared__ float sh[nhwc::kPlaneShared];
    nhwc::unplane_phase1<H16>(blockIdx.x, threadIdx.x, x, c, csrc, hw, sh);
    __syncthreads();
    nhwc::unplane_phase2(blockIdx.x, threadIdx.x, y, c, hw, sh);
}

template <int H16, int V>
__global__ void dropout_fwd_k(nhwc::DropShape sh, size_t vecs, const uint16_t *x, uint16_t *y,
                              uint8_t *mask, int per_channel, float p, float scale,
                              uint64_t seed) {
    GRID_STRIDE(j, vecs) nhwc::dropout_fwd_vec<H16, V>(sh, j, x, y, mask, per_channel, p, scale,
                                                       seed);
}

template <int H16, int V>
__global__ void dropout_bwd_k(size_t vecs, const uint8_t *mask, const uint16_t *dy, uint16_t *dx,
                              float scale) {
    GRID_STRIDE(j, vecs) nhwc::dropout_bwd_vec<H16, V>(j, mask, dy, dx, scale);
}

template <int H16>
__global__ void __launch_bounds__(kThreads) plane_k(const float *x, uint16_t *y, int c, int cdst,
                                                    int hw) {
    __shared__ float sh[nhwc::kPlaneShared];
    nhwc::plane_phase1(blockIdx.x, threadIdx.x, x, c, hw, sh);
    __syncthreads();
    nhwc::plane_phase2<H16>(blockIdx.x, threadIdx.x, y, c, cdst, hw, sh);
}

template <int H16>
__global__ void pad_fwd_k(size_t n, const uint16_t *x, uint16_t *y, int cx, int h, int w, int cy,
                          int ho, int wo, int stride) {
    GRID_STRIDE(o, n) nhwc::pad_fwd_elem<H16>(o, x, y, cx, h, w, cy, ho, wo, stride);
}

template <int H16>
__global__ void pad_bwd_k(size_t n, const uint16_t *dy, uint16_t *dx, int cx, int h, int w,
                          int cy, int ho, int wo, int stride) {
    GRID_STRIDE(e, n) nhwc::pad_bwd_elem<H16>(e, dy, dx, cx, h, w, cy, ho, wo, stride);
}

template <int H16>
__global__ void pool_fwd_k(size_t n, nhwc::PoolShape s, const uint16_t *x, uint16_t *y,
                           int32_t *idx32, uint8_t *idx8, int is_max) {
    GRID_STRIDE(o, n) nhwc::pool_fwd_elem<H16>(o, s, x, y, idx32, idx8, is_max);
}

template <int H16>
__global__ void pool_bwd_k(size_t n, nhwc::PoolShape s, const uint16_t *x, const uint16_t *dy,
                           uint16_t *dx, int is_max) {
    GRID_STRIDE(e, n) nhwc::pool_bwd_elem<H16>(e, s, x, dy, dx, is_max);
}

const uint16_t *u16(const void *p) { return static_cast<const uint16_t *>(p); }
uint16_t *u16(void *p) { return static_cast<uint16_t *>(p); }


}  // namespace

extern "C" {

int cuk_bn_nhwc_slices(int rows, int C, int sm_count) {
    return nhwc::bn_slices(rows, C, sm_count);
}

cudaError_t cuk_nhwc_bn_forward_train(const void *x, const void *r, void *y, int rows, int C,
                                      int P, int mode, int half, const float *gamma,
                                      const float *beta, float *run_mean, float *run_var,
                                      float momentum, float eps, float *save_mean,
                                      float *save_invstd, double *part, float *coef,
                                      cudaStream_t s) {
    const nhwc::BnShape sh = {rows, C, P};
    const dim3 grid((unsigned)nhwc::channel_blocks(C), (unsigned)P);
    float *pivot = coef + 2 * (size_t)C;
    const int vec = nhwc::vec_of(C);
    if (half) {
        if (vec == 8) stats_k<1, 8><<<grid, kThreads, 0, s>>>(sh, u16(x), part, pivot);
        else stats_k<1, 1><<<grid, kThreads, 0, s>>>(sh, u16(x), part, pivot);
    } else {
        if (vec == 8) stats_k<0, 8><<<grid, kThreads, 0, s>>>(sh, u16(x), part, pivot);
        else stats_k<0, 1><<<grid, kThreads, 0, s>>>(sh, u16(x), part, pivot);
    }
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return e;
    e = cuk_bn_stats_finish(part, C, P, (long long)rows, pivot, 1, gamma, beta, run_mean,
                            run_var, momentum, eps, save_mean, save_invstd, coef, s);
    if (e != cudaSuccess)
        return e;
    return cuk_nhwc_bn_apply(x, r, y, rows, C, mode, half, coef, s);
}

cudaError_t cuk_nhwc_bn_apply(const void *x, const void *r, void *y, int rows, int C, int mode,
                              int half, const float *coef, cudaStream_t s) {
    const size_t total = (size_t)rows * (size_t)C;
    if (!total)
        return cudaGetLastError();
    const int vec = nhwc::vec_of(C);
#define APPLY(H, M, V)                                                                           \
    apply_k<H, M, V><<<blocks_for(total / V), kThreads, 0, s>>>(total / V, C, u16(x), u16(r),   \
                                                                u16(y), coef)
    NHWC_DISPATCH(half, mode, vec, APPLY);
#undef APPLY
    return cudaGetLastError();
}

cudaError_t cuk_nhwc_bn_backward(const void *x, const void *y, const void *dy, const void *dy2,
                                 int rows, int C, int P, int mode, int half, const float *gamma,
                                 const float *beta, const float *save_mean,
                                 const float *save_invstd, void *dx, void *dr, float *dgamma,
                                 float *dbeta, double *part, float *coef, cudaStream_t s) {
    const nhwc::BnShape sh = {rows, C, P};
    const nhwc::BnFwd f = {gamma, beta, save_mean, save_invstd};
    const dim3 grid((unsigned)nhwc::channel_blocks(C), (unsigned)P);
    const size_t total = (size_t)rows * (size_t)C;
    const int vec = nhwc::vec_of(C);
#define SUMS(H, M, V)                                                                            \
    grad_sums_k<H, M, V><<<grid, kThreads, 0, s>>>(sh, u16(x), u16(y), u16(dy), u16(dy2), f,     \
                                                   part)
    NHWC_DISPATCH(half, mode, vec, SUMS);
#undef SUMS
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return e;
    e = cuk_bn_grad_finish(part, C, P, (long long)rows, gamma, save_invstd, dgamma, dbeta, coef,
                           s);
    if (e != cudaSuccess || !total)
        return e;
#define GRAD(H, M, V)                                                                            \
    grad_apply_k<H, M, V><<<blocks_for(total / V), kThreads, 0, s>>>(                           \
        total / V, C, u16(x), u16(y), u16(dy), u16(dy2), f, coef, u16(dx),                      \
        static_cast<uint16_t *>(dr))
    NHWC_DISPATCH(half, mode, vec, GRAD);
#undef GRAD
    return cudaGetLastError();
}

#define NHWC_ELTWISE(KERNEL, n, ...)                                                             \
    do {                                                                                         \
        const size_t vecs8 = (n) / 8;                                                            \
        if (!(n))                                                                                \
            break;                                                                               \
        if (nhwc::vec_for_count(n) == 8) {                                                       \
            if (half) KERNEL<1, 8><<<blocks_for(vecs8), kThreads, 0, s>>>(vecs8, __VA_ARGS__);   \
            else KERNEL<0, 8><<<blocks_for(vecs8), kThreads, 0, s>>>(vecs8, __VA_ARGS__);        \
        } else {                                                                                 \
            if (half) KERNEL<1, 1><<<blocks_for(n), kThreads, 0, s>>>((n), __VA_ARGS__);         \
            else KERNEL<0, 1><<<blocks_for(n), kThreads, 0, s>>>((n), __VA_ARGS__);              \
        }                                                                                        \
    } while (0)

cudaError_t cuk_nhwc_relu_forward(const void *x, void *y, size_t n, int half, cudaStream_t s) {
    NHWC_ELTWISE(relu_k, n, u16(x), u16(y));
    return cudaGetLastError();
}

cudaError_t cuk_nhwc_relu_backward(const void *y, const void *dy, void *dx, size_t n, int half,
                                   cudaStream_t s) {
    NHWC_ELTWISE(relu_bwd_k, n, u16(y), u16(dy), u16(dx));
    return cudaGetLastError();
}

cudaError_t cuk_nhwc_add(const void *a, const void *b, void *y, size_t n, int half,
                         cudaStream_t s) {
    NHWC_ELTWISE(add_k, n, u16(a), u16(b), u16(y));
    return cudaGetLastError();
}

cudaError_t cuk_nhwc_scale(void *p, size_t n, float v, int half, cudaStream_t s) {
    NHWC_ELTWISE(scale_k, n, u16(p), v);
    return cudaGetLastError();
}

cudaError_t cuk_nhwc_planes_from_lowp(const void *x, float *y, int planes, int c, int csrc,
                                      int hw, int half, cudaStream_t s) {
    if (planes <= 0 || c <= 0 || hw <= 0)
        return cudaGetLastError();
    if (half)
        unplane_k<1><<<planes, kThreads, 0, s>>>(u16(x), y, c, csrc, hw);
    else
        unplane_k<0><<<planes, kThreads, 0, s>>>(u16(x), y, c, csrc, hw);
    return cudaGetLastError();
}

cudaError_t cuk_nhwc_dropout_forward(const void *x, void *y, uint8_t *mask, int n, int C, int h,
                                     int w, int per_channel, float p, float scale, uint64_t seed,
                                     int half, cudaStream_t s) {
    const nhwc::DropShape d = {n * h * w, C, h * w};
    const size_t total = (size_t)d.rows * (size_t)C;
    if (!total)
        return cudaGetLastError();
#define DROPOUT_FWD(H, V)                                                                        \
    dropout_fwd_k<H, V><<<blocks_for(total / V), kThreads, 0, s>>>(d, total / V, u16(x), u16(y), \
                                                                   mask, per_channel, p, scale,  \
                                                                   seed)
    if (nhwc::vec_of(C) == 8) {
        if (half) DROPOUT_FWD(1, 8); else DROPOUT_FWD(0, 8);
    } else {
        if (half) DROPOUT_FWD(1, 1); else DROPOUT_FWD(0, 1);
    }
#undef DROPOUT_FWD
    return cudaGetLastError();
}

cudaError_t cuk_nhwc_dropout_backward(const uint8_t *mask, const void *dy, void *dx, int n, int C,
                                      int h, int w, float scale, int half, cudaStream_t s) {
    const size_t total = (size_t)n * (size_t)h * (size_t)w * (size_t)C;
    NHWC_ELTWISE(dropout_bwd_k, total, mask, u16(dy), u16(dx), scale);
    return cudaGetLastError();
}

#undef NHWC_ELTWISE

int cuk_nhwc_small_planes(int c, int hw) { return nhwc::small_plane(c, hw); }

cudaError_t cuk_nhwc_planes_to_lowp(const float *x, void *y, int planes, int c, int cdst, int hw,
                                    int half, cudaStream_t s) {
    if (planes <= 0 || cdst <= 0 || hw <= 0)
        return cudaGetLastError();
    if (half)
        plane_k<1><<<planes, kThreads, 0, s>>>(x, u16(y), c, cdst, hw);
    else
        plane_k<0><<<planes, kThreads, 0, s>>>(x, u16(y), c, cdst, hw);
    return cudaGetLastError();
}


cudaError_t cuk_nhwc_pad_channels_forward(const void *x, void *y, int n, int cx, int h, int w,
                                          int cy, int ho, int wo, int stride, int half,
                                          cudaStream_t s) {
    const size_t total = (size_t)n * cy * ho * wo;
    if (total && half)
        pad_fwd_k<1><<<blocks_for(total), kThreads, 0, s>>>(total, u16(x), u16(y), cx, h, w, cy,
                                                            ho, wo, stride);
    else if (total)
        pad_fwd_k<0><<<blocks_for(total), kThreads, 0, s>>>(total, u16(x), u16(y), cx, h, w, cy,
                                                            ho, wo, stride);
    return cudaGetLastError();
}

cudaError_t cuk_nhwc_pad_channels_backward(const void *dy, void *dx, int n, int cx, int h, int w,
                                           int cy, int ho, int wo, int stride, int half,
                                           cudaStream_t s) {
    const size_t total = (size_t)n * cx * h * w;
    if (total && half)
        pad_bwd_k<1><<<blocks_for(total), kThreads, 0, s>>>(total, u16(dy), u16(dx), cx, h, w,
                                                            cy, ho, wo, stride);
    else if (total)
        pad_bwd_k<0><<<blocks_for(total), kThreads, 0, s>>>(total, u16(dy), u16(dx), cx, h, w,
                                                            cy, ho, wo, stride);
    return cudaGetLastError();
}

cudaError_t cuk_nhwc_pool_forward(const void *x, void *y, void *idx, int idx_u8, int n, int C,
                                  int h, int w, int ho, int wo, int k, int stride, int pad,
                                  int is_max, int half, cudaStream_t s) {
    const nhwc::PoolShape ps = {C, h, w, ho, wo, k, stride, pad};
    const size_t total = (size_t)n * C * ho * wo;
    int32_t *i32 = (is_max && idx && !idx_u8) ? static_cast<int32_t *>(idx) : nullptr;
    uint8_t *i8 = (is_max && idx && idx_u8) ? static_cast<uint8_t *>(idx) : nullptr;
    if (total && half)
        pool_fwd_k<1><<<blocks_for(total), kThreads, 0, s>>>(total, ps, u16(x), u16(y), i32, i8,
                                                             is_max);
    else if (total)
        pool_fwd_k<0><<<blocks_for(total), kThreads, 0, s>>>(total, ps, u16(x), u16(y), i32, i8,
                                                             is_max);
    return cudaGetLastError();
}

cudaError_t cuk_nhwc_pool_backward(const void *x, const void *dy, void *dx, int n, int C, int h,
                                   int w, int ho, int wo, int k, int stride, int pad, int is_max,
                                   int half, cudaStream_t s) {
    const nhwc::PoolShape ps = {C, h, w, ho, wo, k, stride, pad};
    const size_t total = (size_t)n * C * h * w;
    if (total && half)
        pool_bwd_k<1><<<blocks_for(total), kThreads, 0, s>>>(total, ps, u16(x), u16(dy), u16(dx),
                                                             is_max);
    else if (total)
        pool_bwd_k<0><<<blocks_for(total), kThreads, 0, s>>>(total, ps, u16(x), u16(dy), u16(dx),
                                                             is_max);
    return cudaGetLastError();
}

}  // extern "C"
