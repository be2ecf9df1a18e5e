/* kernels_eltwise.cu — elementwise kernels of the CUDA backend: fill, relu, add, accumulate,
 * dropout (the counter RNG of rng.h, so masks equal the CPU's bit for bit), the option-A
 * shortcut (pad_channels) and the NCHW fp32 <-> NHWC bf16/fp16 conversions around
 * low-precision convs.
 *
 * All loops are grid-stride over size_t indices, so any tensor size works with a bounded
 * grid. Formulas follow core/cpu/reference.c op for op. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_kernels.h"
#include "kernels_launch.cuh"
#include "rng.h"

namespace {

using launch::blocks_for;
using launch::kThreads;

__global__ void fill_k(float *p, size_t n, float v) {
    GRID_STRIDE(i, n) p[i] = v;
}

__global__ void scale_k(float *p, size_t n, float v) {
    GRID_STRIDE(i, n) p[i] = __fmul_rn(p[i], v);
}

/* NaN passes through, like torch.relu and the reference. */
__global__ void relu_fwd_k(const float *x, float *y, size_t n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = (v > 0.0f || isnan(v)) ? v : 0.0f;
    }
}

__global__ void relu_bwd_k(const float *y, const float *dy, float *dx, size_t n) {
    GRID_STRIDE(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

__global__ void add_k(const float *a, const float *b, float *y, size_t n) {
    GRID_STRIDE(i, n) y[i] = __fadd_rn(a[i], b[i]);
}

__global__ void accumulate_k(float *y, const float *x, size_t n) {
    GRID_STRIDE(i, n) y[i] = __fadd_rn(y[i], x[i]);
}

__global__ void dropout_fwd_k(const float *x, float *y, uint8_t *mask, size_t n, size_t plane,
                              int per_channel, float p, float scale, uint64_t seed) {
    GRID_STRIDE(i, n) {
        uint64_t counter = per_channel ? (uint64_t)(i / plane) : (uint64_t)i;
        uint8_t keep = rng_uniform(seed, RNG_STREAM_DROPOUT, counter) >= p;
        mask[i] = keep;
        y[i] = keep ? __fmul_rn(x[i], scale) : 0.0f;
    }
}

__global__ void dropout_bwd_k(const uint8_t *mask, const float *dy, float *dx, size_t n,
                              float scale) {
    GRID_STRIDE(i, n) dx[i] = mask[i] ? __fmul_rn(dy[i], scale) : 0.0f;
}

/* y[n, c, i, j] = x[n, c - before, i * s, j * s] inside the input's channels, else 0 */
__global__ void pad_fwd_k(const float *x, float *y, int cx, int h, int w, int cy, int ho, int wo,
                          int stride, size_t total) {
    const int before = (cy - cx) / 2;
    GRID_STRIDE(o, total) {
        int j = (int)(o % (size_t)wo);
        size_t r = o / (size_t)wo;
        int i = (int)(r % (size_t)ho);
        r /= (size_t)ho;
        int c = (int)(r % (size_t)cy);
        size_t nn = r / (size_t)cy;
        int src = c - before;
        y[o] = (src >= 0 && src < cx)
                   ? x[((nn * (size_t)cx + (size_t)src) * (size_t)h + (size_t)(i * stride)) *
                           (size_t)w + (size_t)(j * stride)]
                   : 0.0f;
    }
}

/* dx[n, c, ih, iw] = dy[n, c + before, ih / s, iw / s] where both are multiples of s, else 0 */
__global__ void pad_bwd_k(const float *dy, float *dx, int cx, int h, int w, int cy, int ho, int wo,
                          int stride, size_t total) {
    const int before = (cy - cx) / 2;
    GRID_STRIDE(o, total) {
        int iw = (int)(o % (size_t)w);
        size_t r = o / (size_t)w;
        int ih = (int)(r % (size_t)h);
        r /= (size_t)h;
        int c = (int)(r % (size_t)cx);
        size_t nn = r / (size_t)cx;
        float v = 0.0f;
        if (ih % stride == 0 && iw % stride == 0)
            v = dy[((nn * (size_t)cy + (size_t)(c + before)) * (size_t)ho + (size_t)(ih / stride)) *
                       (size_t)wo + (size_t)(iw / stride)];
        dx[o] = v;
    }
}

/* Conversions around low-precision convolutions, which cuDNN runs fastest channels-last:
 * x (planes, c, hw) fp32 <-> y (planes, hw, cpad) in 16 bits, one 32x32 (channel, position)
 * tile per block through shared memory, so reads and writes are both coalesced. Channels c to
 * cpad are zeros on the way in and dropped on the way out. Weights (K, C, kh, kw) take the
 * same path with planes = K, giving cuDNN's KRSC filter layout. */
const int kTile = 32, kTileRows = 8;

__device__ __forceinline__ void lowp_store(__nv_bfloat16 *p, float v) {
    *p = __float2bfloat16_rn(v);
}
__device__ __forceinline__ void lowp_store(__half *p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ float lowp_load(const __nv_bfloat16 *p) {
    return __bfloat162float(*p);
}
__device__ __forceinline__ float lowp_load(const __half *p) { return __half2float(*p); }

template <typename T>
__global__ void to_lowp_nhwc_k(const float *x, T *y, int planes, int c, int cdst, int hw) {
    __shared__ float tile[kTile][kTile + 1];
    const int s0 = blockIdx.x * kTile, c0 = blockIdx.y * kTile;
    for (int p = blockIdx.z; p < planes; p += gridDim.z) {
        const float *xp = x + (size_t)p * c * hw;
        T *yp = y + (size_t)p * cdst * hw;
        for (int i = threadIdx.y; i < kTile; i += kTileRows) {
            int ch = c0 + i, s = s0 + threadIdx.x;
            if (s < hw)
                tile[i][threadIdx.x] = ch < c ? xp[(size_t)ch * hw + s] : 0.0f;
        }
        __syncthreads();
        for (int i = threadIdx.y; i < kTile; i += kTileRows) {
            int s = s0 + i, ch = c0 + threadIdx.x;
            if (ch < cdst && s < hw)
                lowp_store(&yp[(size_t)s * cdst + ch], tile[threadIdx.x][i]);
        }
        __syncthreads();
    }
}

template <typename T>
__global__ void from_lowp_nhwc_k(const T *x, float *y, int planes, int c, int csrc, int hw) {
    __shared__ float tile[kTile][kTile + 1];
    const int s0 = blockIdx.x * kTile, c0 = blockIdx.y * kTile;
    for (int p = blockIdx.z; p < planes; p += gridDim.z) {
        const T *xp = x + (size_t)p * csrc * hw;
        float *yp = y + (size_t)p * c * hw;
        for (int i = threadIdx.y; i < kTile; i += kTileRows) {
            int s = s0 + i, ch = c0 + threadIdx.x;
            if (ch < c && s < hw)
                tile[threadIdx.x][i] = lowp_load(&xp[(size_t)s * csrc + ch]);
        }
        __syncthreads();
        for (int i = threadIdx.y; i < kTile; i += kTileRows) {
            int ch = c0 + i, s = s0 + threadIdx.x;
            if (ch < c && s < hw)
                yp[(size_t)ch * hw + s] = tile[i][threadIdx.x];
        }
        __syncthreads();
    }
}

dim3 tile_grid(int planes, int c, int hw) {
    return dim3((unsigned)((hw + kTile - 1) / kTile), (unsigned)((c + kTile - 1) / kTile),
                (unsigned)(planes < 65535 ? planes : 65535));
}

}  // namespace

extern "C" {

cudaError_t cuk_fill(float *p, size_t n, float v, cudaStream_t s) {
    if (n)
        fill_k<<<blocks_for(n), kThreads, 0, s>>>(p, n, v);
    return cudaGetLastError();
}

cudaError_t cuk_scale(float *p, size_t n, float v, cudaStream_t s) {
    if (n)
        scale_k<<<blocks_for(n), kThreads, 0, s>>>(p, n, v);
    return cudaGetLastError();
}

cudaError_t cuk_relu_forward(const float *x, float *y, size_t n, cudaStream_t s) {
    if (n)
        relu_fwd_k<<<blocks_for(n), kThreads, 0, s>>>(x, y, n);
    return cudaGetLastError();
}

cudaError_t cuk_relu_backward(const float *y, const float *dy, float *dx, size_t n,
                              cudaStream_t s) {
    if (n)
        relu_bwd_k<<<blocks_for(n), kThreads, 0, s>>>(y, dy, dx, n);
    return cudaGetLastError();
}

cudaError_t cuk_add(const float *a, const float *b, float *y, size_t n, cudaStream_t s) {
    if (n)
        add_k<<<blocks_for(n), kThreads, 0, s>>>(a, b, y, n);
    return cudaGetLastError();
}

cudaError_t cuk_accumulate(float *y, const float *x, size_t n, cudaStream_t s) {
    if (n)
        accumulate_k<<<blocks_for(n), kThreads, 0, s>>>(y, x, n);
    return cudaGetLastError();
}

cudaError_t cuk_dropout_forward(const float *x, float *y, uint8_t *mask, size_t n, size_t plane,
                                int per_channel, float p, float scale, uint64_t seed,
                                cudaStream_t s) {
    if (n)
        dropout_fwd_k<<<blocks_for(n), kThreads, 0, s>>>(x, y, mask, n, plane ? plane : 1,
                                                         per_channel, p, scale, seed);
    return cudaGetLastError();
}

cudaError_t cuk_dropout_backward(const uint8_t *mask, const float *dy, float *dx, size_t n,
                                 float scale, cudaStream_t s) {
    if (n)
        dropout_bwd_k<<<blocks_for(n), kThreads, 0, s>>>(mask, dy, dx, n, scale);
    return cudaGetLastError();
}

cudaError_t cuk_pad_channels_forward(const float *x, float *y, int n, int cx, int h, int w,
                                     int cy, int ho, int wo, int stride, cudaStream_t s) {
    size_t total = (size_t)n * (size_t)cy * (size_t)ho * (size_t)wo;
    if (total)
        pad_fwd_k<<<blocks_for(total), kThreads, 0, s>>>(x, y, cx, h, w, cy, ho, wo, stride,
                                                         total);
    return cudaGetLastError();
}

cudaError_t cuk_pad_channels_backward(const float *dy, float *dx, int n, int cx, int h, int w,
                                      int cy, int ho, int wo, int stride, cudaStream_t s) {
    size_t total = (size_t)n * (size_t)cx * (size_t)h * (size_t)w;
    if (total)
        pad_bwd_k<<<blocks_for(total), kThreads, 0, s>>>(dy, dx, cx, h, w, cy, ho, wo, stride,
                                                         total);
    return cudaGetLastError();
}

cudaError_t cuk_to_lowp_nhwc(const float *x, void *y, int planes, int c, int cdst, int hw,
                             int half, cudaStream_t s) {
    if (planes <= 0 || cdst <= 0 || hw <= 0)
        return cudaGetLastError();
    if (cuk_nhwc_small_planes(c, hw))   /* filters: a block per plane (kernels_nhwc.cuh) */
        return cuk_nhwc_planes_to_lowp(x, y, planes, c, cdst, hw, half, s);
    dim3 grid = tile_grid(planes, cdst, hw), block(kTile, kTileRows);
    if (half)
        to_lowp_nhwc_k<<<grid, block, 0, s>>>(x, static_cast<__half *>(y), planes, c, cdst, hw);
    else
        to_lowp_nhwc_k<<<grid, block, 0, s>>>(x, static_cast<__nv_bfloat16 *>(y), planes, c,
                                              cdst, hw);
    return cudaGetLastError();
}

cudaError_t cuk_from_lowp_nhwc(const void *x, float *y, int planes, int c, int csrc, int hw,
                               int half, cudaStream_t s) {
    if (planes <= 0 || c <= 0 || hw <= 0)
        return cudaGetLastError();
    if (cuk_nhwc_small_planes(c, hw))   /* weight gradients: a block per plane */
        return cuk_nhwc_planes_from_lowp(x, y, planes, c, csrc, hw, half, s);
    dim3 grid = tile_grid(planes, c, hw), block(kTile, kTileRows);
    if (half)
        from_lowp_nhwc_k<<<grid, block, 0, s>>>(static_cast<const __half *>(x), y, planes, c,
                                                csrc, hw);
    else
        from_lowp_nhwc_k<<<grid, block, 0, s>>>(static_cast<const __nv_bfloat16 *>(x), y, planes,
                                                c, csrc, hw);
    return cudaGetLastError();
}

}  // extern "C"
