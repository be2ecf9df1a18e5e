/* kernels_bn.cu — batch normalization over NCHW fp32, with its relu and residual-add fusions.
 *
 * Why not cuDNN's: on an H100, cuDNN's NCHW batchnorm kernels took 47% of a resnet20 bf16
 * training step at batch 512 (backward alone 35%), far from what memory allows
 * (docs/BENCHMARKS.md). These kernels move what the math needs: training forward reads x twice
 * (statistics, then normalize) and writes y once; backward reads its inputs twice and writes
 * dx (and dr) once.
 *
 * Statistics are sums per channel over (N, H, W). A grid of (C, P) blocks each sums one
 * channel over a fixed slice of the images; the slices' partial sums are then added in a fixed
 * order, so results are identical run to run. Each thread sums at most 32 vector loads in
 * float, then adds into double. The forward sums x - x[first element of the channel], which
 * keeps the variance exact for a nearly constant channel far from zero (the textbook
 * sum-of-squares form loses it in cancellation).
 *
 * The fused forms follow backend.h: relu(bn(x)) and relu(bn(x) + r); their backward masks the
 * incoming gradient by y > 0, adds dy2 first when given, and may write dx and dr over dy or
 * dy2: every thread reads all inputs of an element before it writes the element, so no pointer
 * here is __restrict__. */
#include "cuda_kernels.h"
#include "kernels_nhwc.cuh"

namespace {

const int kBnThreads = 256;
const int kFlush = 32;   /* vector loads summed in float before the sum moves to double */

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

/* Sums a and b over the block; the results are valid in thread 0. */
__device__ void block_sum2(double &a, double &b) {
    __shared__ double sa[32], sb[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    a = warp_sum(a);
    b = warp_sum(b);
    if (lane == 0) {
        sa[warp] = a;
        sb[warp] = b;
    }
    __syncthreads();
    if (warp == 0) {
        a = lane < warps ? sa[lane] : 0.0;
        b = lane < warps ? sb[lane] : 0.0;
        a = warp_sum(a);
        b = warp_sum(b);
    }
}

/* Two sums per thread, kept in float for up to kFlush vector loads, then added into double;
 * store() sums them over the block into part[2 * (c * P + p) + {0, 1}]. */
struct Sums2 {
    double s = 0.0, q = 0.0;
    float fs = 0.0f, fq = 0.0f;
    int run = 0;

    __device__ void add(float a, float b) {
        fs += a;
        fq += b;
    }
    __device__ void end_load() {
        if (++run == kFlush) {
            s += fs;
            q += fq;
            fs = fq = 0.0f;
            run = 0;
        }
    }
    __device__ void store(double *part, int c, int p, int P) {
        s += fs;
        q += fq;
        block_sum2(s, q);
        if (threadIdx.x == 0) {
            part[2 * ((size_t)c * P + p)] = s;
            part[2 * ((size_t)c * P + p) + 1] = q;
        }
    }
};

template <int V>
__device__ __forceinline__ void load_v(const float *p, float (&v)[V]) {
    if constexpr (V == 4) {
        float4 t = *reinterpret_cast<const float4 *>(p);
        v[0] = t.x;
        v[1] = t.y;
        v[2] = t.z;
        v[3] = t.w;
    } else {
        v[0] = *p;
    }
}

template <int V>
__device__ __forceinline__ void store_v(float *p, const float (&v)[V]) {
    if constexpr (V == 4)
        *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
    else
        *p = v[0];
}

/* relu as relu_fwd_k has it: NaN passes */
__device__ __forceinline__ float relu(float v) { return (v > 0.0f || isnan(v)) ? v : 0.0f; }

/* The gradient reaching the batchnorm's output in each mode: dy (+ dy2), masked by y > 0 when
 * a relu follows. */
template <int MODE, int V>
__device__ __forceinline__ void grad_in(const float *dy, const float *dy2, const float *y,
                                        size_t at, float (&g)[V]) {
    load_v<V>(dy + at, g);
    if (MODE == CUK_BN_ADD_RELU && dy2) {
        float g2[V];
        load_v<V>(dy2 + at, g2);
        for (int k = 0; k < V; k++)
            g[k] += g2[k];
    }
    if (MODE != CUK_BN_PLAIN) {
        float yv[V];
        load_v<V>(y + at, yv);
        for (int k = 0; k < V; k++)
            g[k] = yv[k] > 0.0f ? g[k] : 0.0f;
    }
}

/* The slice of images block p of P sums over. */
__device__ __forceinline__ void slice(int n, int p, int P, int &n0, int &n1) {
    n0 = (int)((long long)n * p / P);
    n1 = (int)((long long)n * (p + 1) / P);
}

/* part[2 * (c * P + p) + {0, 1}] = sums of (x - pivot) and (x - pivot)^2 over block p's
 * slice of channel c = blockIdx.x, p = blockIdx.y */
template <int V>
__global__ void __launch_bounds__(kBnThreads) stats_k(const float *x, int n, int C, int hw,
                                                      double *part) {
    const int c = blockIdx.x, p = blockIdx.y, P = gridDim.y;
    int n0, n1;
    slice(n, p, P, n0, n1);
    const float pivot = x[(size_t)c * hw];
    const int hv = hw / V;
    const long long total = (long long)(n1 - n0) * hv;
    Sums2 sums;
    for (long long j = threadIdx.x; j < total; j += blockDim.x) {
        const int img = n0 + (int)(j / hv), at = (int)(j % hv) * V;
        float v[V];
        load_v<V>(x + ((size_t)img * C + c) * hw + at, v);
        for (int k = 0; k < V; k++) {
            float d = v[k] - pivot;
            sums.add(d, d * d);
        }
        sums.end_load();
    }
    sums.store(part, c, p, P);
}

/* One warp per channel: the calling thread's channel c and, on lane 0 of a warp whose channel
 * exists, that channel's two sums (nhwc::lane_sums, then the tree); true there only. c is the
 * same for a whole warp, so a warp leaves or stays whole before its shuffles. */
__device__ bool warp_channel_sums(const double *part, int C, int P, int &c, double &s,
                                  double &q) {
    c = (int)((blockIdx.x * blockDim.x + threadIdx.x) / nhwc::kLanes);
    const int lane = (int)(threadIdx.x % nhwc::kLanes);
    if (c >= C)
        return false;
    nhwc::lane_sums(part, c, P, lane, s, q);
    for (int o = nhwc::kLanes / 2; o > 0; o >>= 1) {
        s += __shfl_down_sync(0xffffffffu, s, o);
        q += __shfl_down_sync(0xffffffffu, q, o);
    }
    return lane == 0;
}

/* Per channel, one warp each: mean, invstd, running statistics and the normalization's scale
 * and shift (nhwc::stats_finish_channel); the forward sums were of x - pivot[c * pivot_stride]. */
__global__ void stats_finish_k(const double *part, int C, int P, long long m, const float *pivot,
                               size_t pivot_stride, const float *gamma, const float *beta,
                               float *run_mean, float *run_var, float momentum, float eps,
                               float *save_mean, float *save_invstd, float *coef) {
    int c;
    double s, q;
    if (warp_channel_sums(part, C, P, c, s, q))
        nhwc::stats_finish_channel(c, s, q, C, m, pivot, pivot_stride, gamma, beta, run_mean,
                                   run_var, momentum, eps, save_mean, save_invstd, coef);
}

/* Inference: the scale and shift from the running statistics. */
__global__ void infer_coef_k(int C, const float *gamma, const float *beta, const float *run_mean,
                             const float *run_var, float eps, float *coef) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    const float scale = gamma[c] * (float)(1.0 / sqrt((double)run_var[c] + (double)eps));
    coef[c] = scale;
    coef[C + c] = beta[c] - run_mean[c] * scale;
}

/* y = x * scale + shift, then (+ r) and relu by MODE; vectors never straddle planes (V divides
 * hw). */
template <int MODE, int V>
__global__ void __launch_bounds__(kBnThreads) apply_k(const float *x, const float *r, float *y,
                                                      const float *coef, int C, int hw,
                                                      size_t vecs) {
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < vecs;
         j += (size_t)gridDim.x * blockDim.x) {
        const size_t at = j * V;
        const int c = (int)((at / (size_t)hw) % (size_t)C);
        const float scale = coef[c], shift = coef[C + c];
        float v[V];
        load_v<V>(x + at, v);
        for (int k = 0; k < V; k++)
            v[k] = v[k] * scale + shift;
        if (MODE == CUK_BN_ADD_RELU) {
            float rv[V];
            load_v<V>(r + at, rv);
            for (int k = 0; k < V; k++)
                v[k] += rv[k];
        }
        if (MODE != CUK_BN_PLAIN)
            for (int k = 0; k < V; k++)
                v[k] = relu(v[k]);
        store_v<V>(y + at, v);
    }
}

/* part[2 * (c * P + p) + {0, 1}] = sums of g and g * (x - mean) over block p's slice */
template <int MODE, int V>
__global__ void __launch_bounds__(kBnThreads) grad_sums_k(const float *x, const float *y,
                                                          const float *dy, const float *dy2,
                                                          const float *mean, int n, int C,
                                                          int hw, double *part) {
    const int c = blockIdx.x, p = blockIdx.y, P = gridDim.y;
    int n0, n1;
    slice(n, p, P, n0, n1);
    const float mu = mean[c];
    const int hv = hw / V;
    const long long total = (long long)(n1 - n0) * hv;
    Sums2 sums;
    for (long long j = threadIdx.x; j < total; j += blockDim.x) {
        const int img = n0 + (int)(j / hv), off = (int)(j % hv) * V;
        const size_t at = ((size_t)img * C + c) * hw + off;
        float g[V], v[V];
        grad_in<MODE, V>(dy, dy2, y, at, g);
        load_v<V>(x + at, v);
        for (int k = 0; k < V; k++)
            sums.add(g[k], g[k] * (v[k] - mu));
        sums.end_load();
    }
    sums.store(part, c, p, P);
}

/* dgamma, dbeta and the backward's coefficients per channel, one warp each
 * (nhwc::grad_finish_channel) */
__global__ void grad_finish_k(const double *part, int C, int P, long long m, const float *gamma,
                              const float *invstd, float *dgamma, float *dbeta, float *coef) {
    int c;
    double s, q;
    if (warp_channel_sums(part, C, P, c, s, q))
        nhwc::grad_finish_channel(c, s, q, C, m, gamma, invstd, dgamma, dbeta, coef);
}

/* Blocks of kFinishThreads for the finishing kernels: a warp per channel. */
const int kFinishThreads = 256;
unsigned finish_blocks(int C) {
    const long long threads = (long long)C * nhwc::kLanes;
    return (unsigned)((threads + kFinishThreads - 1) / kFinishThreads);
}

template <int MODE, int V>
__global__ void __launch_bounds__(kBnThreads) grad_apply_k(const float *x, const float *y,
                                                           const float *dy, const float *dy2,
                                                           const float *mean, const float *coef,
                                                           float *dx, float *dr, int C, int hw,
                                                           size_t vecs) {
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < vecs;
         j += (size_t)gridDim.x * blockDim.x) {
        const size_t at = j * V;
        const int c = (int)((at / (size_t)hw) % (size_t)C);
        const float mu = mean[c], k1 = coef[c], k2 = coef[C + c], k3 = coef[2 * C + c];
        float g[V], v[V];
        grad_in<MODE, V>(dy, dy2, y, at, g);
        load_v<V>(x + at, v);
        if (dr)
            store_v<V>(dr + at, g);
        for (int k = 0; k < V; k++)
            v[k] = k1 * (g[k] - k2 - (v[k] - mu) * k3);
        store_v<V>(dx + at, v);
    }
}

unsigned apply_blocks(size_t vecs) {
    size_t b = (vecs + kBnThreads - 1) / kBnThreads;
    if (b == 0)
        b = 1;
    return b > 8192 ? 8192u : (unsigned)b;
}

dim3 sums_grid(int C, int P) { return dim3((unsigned)C, (unsigned)P); }

}  // namespace

extern "C" {

cudaError_t cuk_bn_stats_finish(const double *part, int C, int P, long long m,
                                const float *pivot, size_t pivot_stride, const float *gamma,
                                const float *beta, float *run_mean, float *run_var,
                                float momentum, float eps, float *save_mean, float *save_invstd,
                                float *coef, cudaStream_t s) {
    stats_finish_k<<<finish_blocks(C), kFinishThreads, 0, s>>>(
        part, C, P, m, pivot, pivot_stride, gamma, beta, run_mean, run_var, momentum, eps,
        save_mean, save_invstd, coef);
    return cudaGetLastError();
}

cudaError_t cuk_bn_grad_finish(const double *part, int C, int P, long long m, const float *gamma,
                               const float *save_invstd, float *dgamma, float *dbeta,
                               float *coef, cudaStream_t s) {
    grad_finish_k<<<finish_blocks(C), kFinishThreads, 0, s>>>(part, C, P, m, gamma, save_invstd,
                                                              dgamma, dbeta, coef);
    return cudaGetLastError();
}

int cuk_bn_slices(int n, int C, int sm_count) { return nhwc::slices_for(n, C, sm_count); }

cudaError_t cuk_bn_forward_train(const float *x, const float *r, float *y, int n, int C, int hw,
                                 int P, int mode, const float *gamma, const float *beta,
                                 float *run_mean, float *run_var, float momentum, float eps,
                                 float *save_mean, float *save_invstd, double *part, float *coef,
                                 cudaStream_t s) {
    const long long m = (long long)n * hw;
    if (hw % 4 == 0)
        stats_k<4><<<sums_grid(C, P), kBnThreads, 0, s>>>(x, n, C, hw, part);
    else
        stats_k<1><<<sums_grid(C, P), kBnThreads, 0, s>>>(x, n, C, hw, part);
    cudaError_t e = cuk_bn_stats_finish(part, C, P, m, x, (size_t)hw, gamma, beta, run_mean,
                                        run_var, momentum, eps, save_mean, save_invstd, coef, s);
    if (e != cudaSuccess)
        return e;
    return cuk_bn_apply(x, r, y, n, C, hw, mode, coef, s);
}

cudaError_t cuk_bn_infer_coef(int C, const float *gamma, const float *beta,
                              const float *run_mean, const float *run_var, float eps,
                              float *coef, cudaStream_t s) {
    infer_coef_k<<<(C + 127) / 128, 128, 0, s>>>(C, gamma, beta, run_mean, run_var, eps, coef);
    return cudaGetLastError();
}

cudaError_t cuk_bn_apply(const float *x, const float *r, float *y, int n, int C, int hw,
                         int mode, const float *coef, cudaStream_t s) {
    const size_t total = (size_t)n * C * hw;
    if (!total)
        return cudaGetLastError();
#define BN_APPLY(M, V)                                                                           \
    apply_k<M, V><<<apply_blocks(total / V), kBnThreads, 0, s>>>(x, r, y, coef, C, hw, total / V)
    if (hw % 4 == 0) {
        if (mode == CUK_BN_PLAIN) BN_APPLY(CUK_BN_PLAIN, 4);
        else if (mode == CUK_BN_RELU) BN_APPLY(CUK_BN_RELU, 4);
        else BN_APPLY(CUK_BN_ADD_RELU, 4);
    } else {
        if (mode == CUK_BN_PLAIN) BN_APPLY(CUK_BN_PLAIN, 1);
        else if (mode == CUK_BN_RELU) BN_APPLY(CUK_BN_RELU, 1);
        else BN_APPLY(CUK_BN_ADD_RELU, 1);
    }
#undef BN_APPLY
    return cudaGetLastError();
}

cudaError_t cuk_bn_backward(const float *x, const float *y, const float *dy, const float *dy2,
                            int n, int C, int hw, int P, int mode, const float *gamma,
                            const float *save_mean, const float *save_invstd, float *dx,
                            float *dr, float *dgamma, float *dbeta, double *part, float *coef,
                            cudaStream_t s) {
    const long long m = (long long)n * hw;
    const size_t total = (size_t)m * C;
#define BN_SUMS(M, V)                                                                            \
    grad_sums_k<M, V><<<sums_grid(C, P), kBnThreads, 0, s>>>(x, y, dy, dy2, save_mean, n, C,   \
                                                             hw, part)
#define BN_GRAD(M, V)                                                                            \
    grad_apply_k<M, V><<<apply_blocks(total / V), kBnThreads, 0, s>>>(                          \
        x, y, dy, dy2, save_mean, coef, dx, dr, C, hw, total / V)
#define BN_BOTH(V)                                                                               \
    do {                                                                                         \
        if (mode == CUK_BN_PLAIN) BN_SUMS(CUK_BN_PLAIN, V);                                      \
        else if (mode == CUK_BN_RELU) BN_SUMS(CUK_BN_RELU, V);                                   \
        else BN_SUMS(CUK_BN_ADD_RELU, V);                                                        \
        cuk_bn_grad_finish(part, C, P, m, gamma, save_invstd, dgamma, dbeta, coef, s);         \
        if (mode == CUK_BN_PLAIN) BN_GRAD(CUK_BN_PLAIN, V);                                      \
        else if (mode == CUK_BN_RELU) BN_GRAD(CUK_BN_RELU, V);                                   \
        else BN_GRAD(CUK_BN_ADD_RELU, V);                                                        \
    } while (0)
    if (hw % 4 == 0)
        BN_BOTH(4);
    else
        BN_BOTH(1);
#undef BN_BOTH
#undef BN_GRAD
#undef BN_SUMS
    return cudaGetLastError();
}

}  // extern "C"
