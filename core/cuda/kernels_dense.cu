/* kernels_dense.cu — the small kernels around the classifier head: the linear layer's bias
 * (broadcast before the GEMM, column sums after it) and softmax cross-entropy with label
 * smoothing.
 *
 * The loss runs one thread per sample in double precision, loop for loop the reference's
 * formula: the head has at most a few hundred samples by ~100 classes, so this costs
 * microseconds and keeps the loss, argmax tie rule (first maximum) and gradient equal to the
 * CPU's. */
#include "cuda_kernels.h"
#include "kernels_launch.cuh"

namespace {

using launch::blocks_for;
using launch::kThreads;

__global__ void bias_rows_k(float *y, const float *b, int n, int m) {
    const size_t total = (size_t)n * (size_t)m;
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x)
        y[o] = b[o % (size_t)m];
}

__global__ void col_sums_k(const float *dy, float *db, int n, int m) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < m; j += gridDim.x * blockDim.x) {
        double acc = 0.0;
        for (int r = 0; r < n; r++)
            acc += dy[(size_t)r * (size_t)m + (size_t)j];
        db[j] = (float)acc;
    }
}

__global__ void xent_k(const float *zs, const int32_t *labels, int n, int k, double s,
                       float *loss, int32_t *pred, float *prob, float *dzs, CudaDeviceError *err) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < n; r += gridDim.x * blockDim.x) {
        const float *z = zs + (size_t)r * (size_t)k;
        int label = labels[r];
        if (label < 0 || label >= k) {
            if (atomicCAS(&err->code, CUDA_DEVERR_NONE, CUDA_DEVERR_LABEL) == CUDA_DEVERR_NONE) {
                err->a = r;
                err->b = label;
                err->c = k;
            }
            loss[r] = __int_as_float(0x7fc00000);   /* NaN: never a plausible loss */
            pred[r] = 0;
            prob[r] = __int_as_float(0x7fc00000);
            if (dzs)
                for (int c = 0; c < k; c++)
                    dzs[(size_t)r * (size_t)k + (size_t)c] = 0.0f;
            continue;
        }
        int arg = 0;
        for (int c = 1; c < k; c++)
            if (z[c] > z[arg])
                arg = c;
        double mx = z[arg], sum = 0.0;
        for (int c = 0; c < k; c++)
            sum += exp((double)z[c] - mx);
        double lse = mx + log(sum);
        double sum_logp = 0.0;
        for (int c = 0; c < k; c++)
            sum_logp += (double)z[c] - lse;
        double nll = lse - (double)z[label];
        loss[r] = (float)((1.0 - s) * nll - s / k * sum_logp);
        pred[r] = arg;
        prob[r] = (float)exp((double)z[arg] - lse);
        if (dzs) {
            float *dz = dzs + (size_t)r * (size_t)k;
            for (int c = 0; c < k; c++) {
                double target = (1.0 - s) * (c == label) + s / k;
                dz[c] = (float)((exp((double)z[c] - lse) - target) / n);
            }
        }
    }
}

}  // namespace

extern "C" {

cudaError_t cuk_bias_rows(float *y, const float *b, int n, int m, cudaStream_t s) {
    size_t total = (size_t)n * (size_t)m;
    if (total)
        bias_rows_k<<<blocks_for(total), kThreads, 0, s>>>(y, b, n, m);
    return cudaGetLastError();
}

cudaError_t cuk_col_sums(const float *dy, float *db, int n, int m, cudaStream_t s) {
    if (m > 0)
        col_sums_k<<<blocks_for((size_t)m), kThreads, 0, s>>>(dy, db, n, m);
    return cudaGetLastError();
}

cudaError_t cuk_softmax_xent(const float *z, const int32_t *labels, int n, int k, float smoothing,
                             float *loss, int32_t *pred, float *prob, float *dz,
                             CudaDeviceError *err, cudaStream_t s) {
    if (n > 0)
        xent_k<<<(unsigned)((n + 127) / 128), 128, 0, s>>>(z, labels, n, k, (double)smoothing, loss,
                                                            pred, prob, dz, err);
    return cudaGetLastError();
}

}  // extern "C"
