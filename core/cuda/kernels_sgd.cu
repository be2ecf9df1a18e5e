/* kernels_sgd.cu — the fused multi-tensor SGD update and the sum-of-squares reduction.
 *
 * SGD: every parameter tensor of the model is updated by ONE launch. The host passes a table of
 * (param, grad, momentum, length, first chunk) rows; the launch walks all tensors as a list of
 * CUDA_SGD_CHUNK-element chunks, and each block finds its chunk's row by binary search over
 * `chunk0`. The arithmetic is torch.optim.SGD's, rounded operation by operation exactly like
 * the reference (which runs in float without contraction), so CPU and GPU agree bit for bit.
 *
 * Sum of squares: a fixed grid (depends on n only) of per-block double partials and one final
 * block, so the result is deterministic. */
#include "cuda_kernels.h"

namespace {

__global__ void sgd_k(const CudaSgdTensor *tab, int count, size_t chunks, CudaSgdArgs a) {
    for (size_t c = blockIdx.x; c < chunks; c += gridDim.x) {
        int lo = 0, hi = count - 1;   /* the last row whose chunk0 <= c */
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (tab[mid].chunk0 <= c)
                lo = mid;
            else
                hi = mid - 1;
        }
        const CudaSgdTensor t = tab[lo];
        const size_t start = (c - t.chunk0) * (size_t)CUDA_SGD_CHUNK;
        const size_t end = start + CUDA_SGD_CHUNK < t.n ? start + CUDA_SGD_CHUNK : t.n;
        for (size_t i = start + threadIdx.x; i < end; i += blockDim.x) {
            float p = t.p[i];
            float g = t.g[i];
            if (a.unscale != 1.0f)
                g = __fmul_rn(g, a.unscale);   /* a power of two: exact */
            if (a.weight_decay != 0.0f)
                g = __fadd_rn(g, __fmul_rn(a.weight_decay, p));
            float d = g;
            if (t.m) {
                float buf;
                if (a.first_step)
                    buf = g;
                else
                    buf = __fadd_rn(__fmul_rn(a.momentum, t.m[i]),
                                    __fmul_rn(__fsub_rn(1.0f, a.dampening), g));
                t.m[i] = buf;
                d = a.nesterov ? __fadd_rn(g, __fmul_rn(a.momentum, buf)) : buf;
            }
            t.p[i] = __fsub_rn(p, __fmul_rn(a.lr, d));
        }
    }
}

const int kReduceThreads = 256;

__global__ void sumsq_partial_k(const float *x, size_t n, double *sums, int *flags) {
    __shared__ double s_sum[kReduceThreads];
    __shared__ int s_bad[kReduceThreads];
    double acc = 0.0;
    int bad = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = x[i];
        if (!isfinite(v))
            bad = 1;
        acc += (double)v * (double)v;
    }
    s_sum[threadIdx.x] = acc;
    s_bad[threadIdx.x] = bad;
    __syncthreads();
    for (int half = kReduceThreads / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) {
            s_sum[threadIdx.x] += s_sum[threadIdx.x + half];
            s_bad[threadIdx.x] |= s_bad[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        sums[blockIdx.x] = s_sum[0];
        flags[blockIdx.x] = s_bad[0];
    }
}

__global__ void sumsq_final_k(const double *sums, const int *flags, int parts, CudaSumResult *out) {
    __shared__ double s_sum[CUDA_REDUCE_BLOCKS];
    __shared__ int s_bad[CUDA_REDUCE_BLOCKS];
    int t = threadIdx.x;
    s_sum[t] = t < parts ? sums[t] : 0.0;
    s_bad[t] = t < parts ? flags[t] : 0;
    __syncthreads();
    for (int half = CUDA_REDUCE_BLOCKS / 2; half > 0; half /= 2) {
        if (t < half) {
            s_sum[t] += s_sum[t + half];
            s_bad[t] |= s_bad[t + half];
        }
        __syncthreads();
    }
    if (t == 0) {
        out->sum = s_sum[0];
        out->nonfinite = s_bad[0];
    }
}

/* *flag = 1 when x holds a NaN or an infinity (every writer stores the same 1: no race that
 * matters, and no float atomics) */
__global__ void flag_nonfinite_k(const float *x, size_t n, int *flag) {
    int bad = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        bad |= !isfinite(x[i]);
    if (__syncthreads_or(bad) && threadIdx.x == 0)
        *flag = 1;
}

}  // namespace

extern "C" {

cudaError_t cuk_flag_nonfinite(const float *x, size_t n, int *flag, cudaStream_t s) {
    if (n > 0) {
        size_t blocks = (n + (size_t)kReduceThreads * 4 - 1) / ((size_t)kReduceThreads * 4);
        if (blocks > CUDA_REDUCE_BLOCKS)
            blocks = CUDA_REDUCE_BLOCKS;
        flag_nonfinite_k<<<(unsigned)blocks, kReduceThreads, 0, s>>>(x, n, flag);
    }
    return cudaGetLastError();
}

cudaError_t cuk_sgd(const CudaSgdTensor *table, int count, size_t chunks, CudaSgdArgs a,
                    cudaStream_t s) {
    if (count > 0 && chunks > 0) {
        size_t grid = chunks < 65535 ? chunks : 65535;
        sgd_k<<<(unsigned)grid, 256, 0, s>>>(table, count, chunks, a);
    }
    return cudaGetLastError();
}

cudaError_t cuk_sum_squares(const float *x, size_t n, double *partial_sums, int *partial_flags,
                            CudaSumResult *out, cudaStream_t s) {
    size_t parts = (n + (size_t)kReduceThreads * 4 - 1) / ((size_t)kReduceThreads * 4);
    if (parts < 1)
        parts = 1;
    if (parts > CUDA_REDUCE_BLOCKS)
        parts = CUDA_REDUCE_BLOCKS;
    sumsq_partial_k<<<(unsigned)parts, kReduceThreads, 0, s>>>(x, n, partial_sums, partial_flags);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return e;
    sumsq_final_k<<<1, CUDA_REDUCE_BLOCKS, 0, s>>>(partial_sums, partial_flags, (int)parts, out);
    return cudaGetLastError();
}

}  // extern "C"
