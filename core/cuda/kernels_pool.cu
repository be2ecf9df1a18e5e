/* kernels_pool.cu — max and average pooling, forward and backward.
 *
 * Written here rather than taken from cuDNN so the semantics are exactly the reference's and
 * PyTorch's: in a max window the first maximum in row-major order wins and a NaN always wins;
 * padding never wins a max and counts as zero in the average, whose divisor is the full k*k
 * (count_include_pad=True). Backward is a gather (one thread per input element summing the
 * windows that cover it, in window order), so it needs no atomics and reproduces run to run. */
#include "cuda_kernels.h"
#include "kernels_launch.cuh"

namespace {

using launch::blocks_for;
using launch::kThreads;

/* In-plane position (ih * w + iw) of the maximum of window (i, j); every window holds at least
 * one in-bounds element because the caller checks 2 * pad <= k. As in the reference, a NaN
 * replaces whatever came before it, including an earlier NaN. */
__device__ int window_argmax(const float *plane, int h, int w, int k, int stride, int pad, int i,
                             int j) {
    int best = -1;
    float bv = 0.0f;
    for (int p = 0; p < k; p++) {
        int ih = i * stride - pad + p;
        if (ih < 0 || ih >= h)
            continue;
        for (int q = 0; q < k; q++) {
            int iw = j * stride - pad + q;
            if (iw < 0 || iw >= w)
                continue;
            float v = plane[ih * w + iw];
            if (best < 0 || v > bv || isnan(v)) {
                best = ih * w + iw;
                bv = v;
            }
        }
    }
    return best;
}

__global__ void pool_fwd_k(const float *x, float *y, int *idx32, unsigned char *idx8, long planes,
                           int h, int w, int ho, int wo, int k, int stride, int pad, int is_max) {
    const size_t total = (size_t)planes * (size_t)ho * (size_t)wo;
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x) {
        int j = (int)(o % (size_t)wo);
        int i = (int)((o / (size_t)wo) % (size_t)ho);
        size_t pl = o / ((size_t)wo * (size_t)ho);
        const float *plane = x + pl * (size_t)h * (size_t)w;
        if (!is_max) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++) {
                int ih = i * stride - pad + p;
                if (ih < 0 || ih >= h)
                    continue;
                for (int q = 0; q < k; q++) {
                    int iw = j * stride - pad + q;
                    if (iw >= 0 && iw < w)
                        acc += plane[ih * w + iw];
                }
            }
            y[o] = acc / (float)(k * k);
            continue;
        }
        int at = window_argmax(plane, h, w, k, stride, pad, i, j);
        y[o] = plane[at];
        if (idx32) {
            idx32[o] = at;
        } else if (idx8) {
            int p = at / w - (i * stride - pad);
            int q = at % w - (j * stride - pad);
            idx8[o] = (unsigned char)(p * k + q);
        }
    }
}

/* Output rows i whose window covers input row ih: i * s - pad <= ih <= i * s - pad + k - 1. */
__device__ void covering(int ih, int k, int stride, int pad, int ho, int *lo, int *hi) {
    int top = ih + pad - k + 1;   /* smallest i * s allowed */
    int a = top <= 0 ? 0 : (top + stride - 1) / stride;
    int b = (ih + pad) / stride;
    if (b > ho - 1)
        b = ho - 1;
    *lo = a;
    *hi = b;
}

__global__ void pool_bwd_k(const float *x, const float *dy, float *dx, long planes, int h, int w,
                           int ho, int wo, int k, int stride, int pad, int is_max) {
    const size_t total = (size_t)planes * (size_t)h * (size_t)w;
    const float share = 1.0f / (float)(k * k);
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (size_t)gridDim.x * blockDim.x) {
        int iw = (int)(e % (size_t)w);
        int ih = (int)((e / (size_t)w) % (size_t)h);
        size_t pl = e / ((size_t)w * (size_t)h);
        const float *plane = x + pl * (size_t)h * (size_t)w;
        const float *g = dy + pl * (size_t)ho * (size_t)wo;
        int i0, i1, j0, j1;
        covering(ih, k, stride, pad, ho, &i0, &i1);
        covering(iw, k, stride, pad, wo, &j0, &j1);
        float acc = 0.0f;
        for (int i = i0; i <= i1; i++)
            for (int j = j0; j <= j1; j++) {
                if (is_max) {
                    if (window_argmax(plane, h, w, k, stride, pad, i, j) == ih * w + iw)
                        acc += g[i * wo + j];
                } else {
                    acc += g[i * wo + j] * share;
                }
            }
        dx[e] = acc;
    }
}

}  // namespace

extern "C" {

cudaError_t cuk_pool_forward(const float *x, float *y, void *idx, int idx_u8, long planes, int h,
                             int w, int ho, int wo, int k, int stride, int pad, int is_max,
                             cudaStream_t s) {
    size_t total = (size_t)planes * (size_t)ho * (size_t)wo;
    int *i32 = (is_max && idx && !idx_u8) ? static_cast<int *>(idx) : nullptr;
    unsigned char *i8 = (is_max && idx && idx_u8) ? static_cast<unsigned char *>(idx) : nullptr;
    if (total)
        pool_fwd_k<<<blocks_for(total), kThreads, 0, s>>>(x, y, i32, i8, planes, h, w, ho, wo, k,
                                                          stride, pad, is_max);
    return cudaGetLastError();
}

cudaError_t cuk_pool_backward(const float *x, const float *dy, float *dx, long planes, int h,
                              int w, int ho, int wo, int k, int stride, int pad, int is_max,
                              cudaStream_t s) {
    size_t total = (size_t)planes * (size_t)h * (size_t)w;
    if (total)
        pool_bwd_k<<<blocks_for(total), kThreads, 0, s>>>(x, dy, dx, planes, h, w, ho, wo, k,
                                                          stride, pad, is_max);
    return cudaGetLastError();
}

}  // extern "C"
